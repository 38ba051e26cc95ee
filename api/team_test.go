package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTeamMembers: an owner invites (the password is shown once), the new
// member's role is enforced at once and can change; the last owner cannot
// be demoted or removed; removal ends the member's sessions.
func TestTeamMembers(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	status, list, _ := f.do(t, call{"GET", "/api/members", "", sk})
	require.Equal(t, 200, status, "%v", list)
	require.Len(t, list["items"], 2)

	for _, bad := range []struct{ body, field string }{
		{`{"email":"nope","role":"viewer"}`, "email"},
		{`{"email":"ann@demo.test","role":"admin"}`, "role"},
	} {
		status, out, _ := f.do(t, call{"POST", "/api/members", bad.body, sk})
		require.Equal(t, 400, status, "%v", out)
		require.Equal(t, bad.field, out["field"], "%v", out)
	}
	status, inv, _ := f.do(t, call{"POST", "/api/members", `{"email":"ann@demo.test","role":"viewer"}`, sk})
	require.Equal(t, 201, status, "%v", inv)
	password, _ := inv["password"].(string)
	require.Len(t, password, 20)
	annID := inv["user_id"].(string)
	status, again, _ := f.do(t, call{"POST", "/api/members", `{"email":"ANN@demo.test","role":"editor"}`, sk})
	require.Equal(t, 409, status, "%v", again)
	status, list, _ = f.do(t, call{"GET", "/api/members", "", sk})
	require.Equal(t, 200, status)
	require.Len(t, list["items"], 3)
	raw, _ := json.Marshal(list)
	require.NotContains(t, string(raw), password, "the password is shown once, never listed")

	ann := f.login(t, "ann@demo.test", password)
	tpl := `{"name":"T","channel":"sms","body":"hi"}`
	status, out, _ := f.do(t, call{"POST", "/api/templates", tpl, ann})
	require.Equal(t, 403, status, "a viewer cannot edit: %v", out)
	status, out, _ = f.do(t, call{"POST", "/api/members", `{"email":"bo@demo.test","role":"viewer"}`, ann})
	require.Equal(t, 403, status, "only owners invite: %v", out)

	status, out, _ = f.do(t, call{"PUT", "/api/members/" + annID, `{"role":"editor"}`, sk})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, "editor", out["role"])
	status, out, _ = f.do(t, call{"POST", "/api/templates", tpl, ann})
	require.Equal(t, 201, status, "the new role applies to the open session: %v", out)

	// The only owner stays an owner.
	var ownerID string
	for _, it := range list["items"].([]any) {
		if m := it.(map[string]any); m["role"] == "owner" {
			ownerID = m["user_id"].(string)
		}
	}
	status, out, _ = f.do(t, call{"PUT", "/api/members/" + ownerID, `{"role":"viewer"}`, sk})
	require.Equal(t, 409, status, "%v", out)
	require.Contains(t, out["error"], "needs an owner")
	status, out, _ = f.do(t, call{"DELETE", "/api/members/" + ownerID, "", sk})
	require.Equal(t, 409, status, "%v", out)
	status, _, _ = f.do(t, call{"DELETE", "/api/members/usr_nobody", "", sk})
	require.Equal(t, 404, status)

	status, _, _ = f.do(t, call{"DELETE", "/api/members/" + annID, "", sk})
	require.Equal(t, 204, status)
	status, _, _ = f.do(t, call{"GET", "/api/me", "", ann})
	require.Equal(t, 401, status, "a removed member's session ends")
	audit, err := f.store.ListAudit(context.Background(), f.ws.ID, "member", annID)
	require.NoError(t, err)
	require.Len(t, audit, 3) // invite, change_role, remove
}

// TestChannelTestSend: the test goes through the workspace's provider (a
// webhook to a local receiver here, the outbox for email) and a refusal is
// a clear 422.
func TestChannelTestSend(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	got := make(chan string, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
		w.WriteHeader(202)
	}))
	defer recv.Close()
	u, _ := url.Parse(recv.URL)

	status, out, _ := f.do(t, call{"POST", "/api/channels/test", `{"channel":"webhook","to":"` + recv.URL + `/hook"}`, sk})
	require.Equal(t, 422, status, "127.0.0.1 is not allowed until the allow-list says so: %v", out)
	require.Contains(t, out["error"], "refused the test")

	status, out, _ = f.do(t, call{"PUT", "/api/channels", `{"webhook":{"allow_hosts":["` + u.Hostname() + `"]}}`, sk})
	require.Equal(t, 200, status, "%v", out)
	status, out, _ = f.do(t, call{"POST", "/api/channels/test", `{"channel":"webhook","to":"` + recv.URL + `/hook"}`, sk})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, "sent", out["status"])
	require.EqualValues(t, 202, out["status_code"])
	select {
	case body := <-got:
		require.True(t, strings.Contains(body, `"type":"herald.test"`), body)
	case <-time.After(5 * time.Second):
		t.Fatal("the receiver got no test")
	}

	status, out, _ = f.do(t, call{"POST", "/api/channels/test", `{"channel":"email","to":"ops@acme.io"}`, sk})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, "outbox", out["provider"])

	status, out, _ = f.do(t, call{"POST", "/api/channels/test", `{"channel":"fax","to":"1"}`, sk})
	require.Equal(t, 400, status, "%v", out)
	require.Equal(t, "channel", out["field"])
	status, out, _ = f.do(t, call{"POST", "/api/channels/test", `{"channel":"sms","to":" "}`, sk})
	require.Equal(t, 400, status, "%v", out)
	require.Equal(t, "to", out["field"])
}
