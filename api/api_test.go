package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

func TestMain(m *testing.M) { os.Exit(schematest.Run(m)) }

type fixture struct {
	srv       *httptest.Server
	store     *schema.Store
	ws        schema.Workspace
	secretKey string
	writeKey  string
	email     string
	password  string
}

func newFixture(t *testing.T, checks ...api.Check) *fixture {
	t.Helper()
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	_, err = st.AddMember(ctx, ws.ID, "owner@demo.test", "owner-password", schema.RoleOwner)
	require.NoError(t, err)
	_, err = st.AddMember(ctx, ws.ID, "viewer@demo.test", "viewer-password", schema.RoleViewer)
	require.NoError(t, err)
	sk, err := st.CreateAPIKey(ctx, ws.ID, schema.KeySecret, "test secret", "test")
	require.NoError(t, err)
	wk, err := st.CreateAPIKey(ctx, ws.ID, schema.KeyWrite, "test write", "test")
	require.NoError(t, err)
	web := fstest.MapFS{
		"index.html":    {Data: []byte("<!doctype html><title>Herald</title>")},
		"assets/app.js": {Data: []byte("console.log('herald')")},
	}
	s := api.New(api.Deps{Store: st, Frontend: web, Checks: checks,
		Config: api.Config{TemporalUIURL: "http://127.0.0.1:8233"}})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st, ws: ws, secretKey: sk.Key, writeKey: wk.Key,
		email: "owner@demo.test", password: "owner-password"}
}

type call struct {
	method, path, body string
	header             map[string]string
}

func (f *fixture) do(t *testing.T, c call) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(c.method, f.srv.URL+c.path, strings.NewReader(c.body))
	require.NoError(t, err)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	if resp.StatusCode != http.StatusNoContent && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	}
	return resp.StatusCode, body, resp.Header
}

func bearer(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }

func TestBadInputGetsClearJSONErrors(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	big := `{"kind":"write","name":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name   string
		call   call
		status int
		want   string // substring of the error
	}{
		{"NUL in a search", call{"GET", "/api/customers?q=%00", "", sk}, 400, "NUL character"},
		{"bytes that are not UTF-8 in an id", call{"GET", "/api/customers/%ff/export", "", sk}, 400, "not UTF-8"},
		{"NUL in a file name", call{"POST", "/api/imports?file_name=a%00b", "id\nu1\n", sk}, 400, "NUL character"},
		{"NUL in a segment name", call{"POST", "/api/segments", `{"name":"x\u0000","kind":"manual"}`, sk}, 400, "cannot be stored"},
		{"no auth", call{"GET", "/api/keys", "", nil}, 401, "not logged in"},
		{"unknown key", call{"GET", "/api/keys", "", bearer("hs_nope")}, 401, "unknown or revoked"},
		{"write key on management api", call{"GET", "/api/keys", "", bearer(f.writeKey)}, 403, "write key"},
		{"basic auth on management api", call{"GET", "/api/keys", "", map[string]string{"Authorization": "Basic eDo="}}, 401, "Bearer"},
		{"bad session cookie", call{"GET", "/api/me", "", map[string]string{"Cookie": "herald_session=forged"}}, 401, "session expired"},
		{"bad json", call{"POST", "/api/keys", `{"kind":`, sk}, 400, "not valid JSON"},
		{"empty body", call{"POST", "/api/keys", "", sk}, 400, "empty"},
		{"wrong type", call{"POST", "/api/keys", `{"kind":3}`, sk}, 400, `"kind" must be a string`},
		{"unknown field", call{"POST", "/api/keys", `{"kind":"write","color":"red"}`, sk}, 400, `unknown field "color"`},
		{"trailing data", call{"POST", "/api/keys", `{"kind":"write"}{}`, sk}, 400, "after the JSON"},
		{"stray closing brace", call{"POST", "/api/keys", `{"kind":"write"}}`, sk}, 400, "after the JSON"},
		{"stray closing bracket", call{"POST", "/api/keys", "{\"kind\":\"write\"} ]", sk}, 400, "after the JSON"},
		{"unknown key with escapes, named as sent", call{"POST", "/api/keys", `{"kind":"write","col\u00a0or":1}`, sk}, 400, `unknown field "col\u00a0or"`},
		{"bad kind", call{"POST", "/api/keys", `{"kind":"admin"}`, sk}, 400, `kind must be`},
		{"oversize body", call{"POST", "/api/keys", big, sk}, 413, "larger than"},
		{"multipart body", call{"POST", "/api/keys", `kind=write`, map[string]string{"Authorization": "Bearer " + f.secretKey, "Content-Type": "multipart/form-data; boundary=x"}}, 415, "must be JSON"},
		{"form body that is not JSON", call{"POST", "/api/keys", `kind=write`, map[string]string{"Authorization": "Bearer " + f.secretKey, "Content-Type": "application/x-www-form-urlencoded"}}, 400, "not valid JSON"},
		{"revoke unknown key", call{"DELETE", "/api/keys/key_missing", "", sk}, 404, "no API key"},
		{"login bad json", call{"POST", "/api/login", `nope`, nil}, 400, "not valid JSON"},
		{"login missing email", call{"POST", "/api/login", `{"password":"x"}`, nil}, 400, "email is required"},
		{"login wrong password", call{"POST", "/api/login", `{"email":"owner@demo.test","password":"wrong"}`, nil}, 401, "invalid email or password"},
		{"unknown api route", call{"GET", "/api/nope", "", sk}, 404, "no route"},
		{"wrong method", call{"PUT", "/api/keys", `{}`, sk}, 405, "method not allowed"},
		{"unknown ingest route", call{"POST", "/v1/nope", `{}`, nil}, 404, "no route"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.call.header != nil && tc.call.header["Content-Type"] != "" {
				// set after the default JSON content type
				h := tc.call.header
				tc.call.header = nil
				req, _ := http.NewRequest(tc.call.method, f.srv.URL+tc.call.path, strings.NewReader(tc.call.body))
				for k, v := range h {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				var body map[string]any
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
				require.Equal(t, tc.status, resp.StatusCode)
				require.Contains(t, body["error"], tc.want)
				return
			}
			status, body, hdr := f.do(t, tc.call)
			require.Equal(t, tc.status, status, "body: %v", body)
			require.Contains(t, hdr.Get("Content-Type"), "application/json")
			require.Contains(t, body["error"], tc.want)
		})
	}

	// Sent chunked (no Content-Length), a body is measured as it is read:
	// past the limit by whitespace after its value, it is too large (413),
	// not "data after the JSON value".
	req, err := http.NewRequest("POST", f.srv.URL+"/api/keys",
		io.MultiReader(strings.NewReader(`{"kind":"write"}`+strings.Repeat(" ", 2<<20))))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.secretKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)

	// Nothing was created by the bad requests.
	keys, err := f.store.ListAPIKeys(context.Background(), f.ws.ID)
	require.NoError(t, err)
	require.Len(t, keys, 2)
}

func TestKeysWithSecretKey(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)

	status, created, _ := f.do(t, call{"POST", "/api/keys", `{"kind":"write","name":"web site"}`, sk})
	require.Equal(t, 201, status)
	key := created["key"].(string)
	require.True(t, strings.HasPrefix(key, "hw_"))
	require.Equal(t, "web site", created["name"])

	status, list, _ := f.do(t, call{"GET", "/api/keys", "", sk})
	require.Equal(t, 200, status)
	items := list["items"].([]any)
	require.Len(t, items, 3)
	for _, it := range items {
		_, hasKey := it.(map[string]any)["key"]
		require.False(t, hasKey, "a listed key never carries the secret")
	}

	// Pages of keys, newest first, and the same keys as the whole list.
	var paged []any
	cursor, pages := "", 0
	for range 3 {
		status, page, _ := f.do(t, call{"GET", "/api/keys?limit=2&cursor=" + cursor, "", sk})
		require.Equal(t, 200, status, "%v", page)
		paged = append(paged, page["items"].([]any)...)
		pages++
		if cursor, _ = page["next_cursor"].(string); cursor == "" {
			break
		}
	}
	require.Equal(t, items, paged)
	require.Equal(t, 2, pages, "2 keys, then 1")
	for _, q := range []string{"limit=0", "limit=x", "cursor=key_nope"} {
		status, out, _ := f.do(t, call{"GET", "/api/keys?" + q, "", sk})
		require.Equal(t, 400, status, "%s: %v", q, out)
	}

	// The new write key authenticates as a write key (refused on /api).
	status, _, _ = f.do(t, call{"GET", "/api/me", "", bearer(key)})
	require.Equal(t, 403, status)

	status, _, _ = f.do(t, call{"DELETE", "/api/keys/" + created["id"].(string), "", sk})
	require.Equal(t, 204, status)
	status, _, _ = f.do(t, call{"GET", "/api/me", "", bearer(key)})
	require.Equal(t, 401, status)

	audit, err := f.store.ListAudit(context.Background(), f.ws.ID, "api_key", created["id"].(string))
	require.NoError(t, err)
	require.Len(t, audit, 2)
	require.Equal(t, "create", audit[0].Action)
	require.Equal(t, "revoke", audit[1].Action)
}

func TestSessionLoginCSRFAndRoles(t *testing.T) {
	f := newFixture(t)
	login := func(email, password string) (string, string) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/login", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		var me map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&me))
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "herald_session" {
				cookie = c
			}
		}
		require.NotNil(t, cookie)
		require.True(t, cookie.HttpOnly)
		require.Equal(t, http.SameSiteLaxMode, cookie.SameSite)
		require.Equal(t, "Demo", me["workspace"].(map[string]any)["name"])
		require.Equal(t, "http://127.0.0.1:8233", me["temporal_ui_url"])
		return "herald_session=" + cookie.Value, me["csrf_token"].(string)
	}
	cookie, csrf := login(f.email, f.password)

	status, me, _ := f.do(t, call{"GET", "/api/me", "", map[string]string{"Cookie": cookie}})
	require.Equal(t, 200, status)
	require.Equal(t, "owner", me["role"])

	// Unsafe methods need the CSRF header.
	status, body, _ := f.do(t, call{"POST", "/api/keys", `{"kind":"write"}`, map[string]string{"Cookie": cookie}})
	require.Equal(t, 403, status)
	require.Contains(t, body["error"], "X-CSRF-Token")
	status, _, _ = f.do(t, call{"POST", "/api/keys", `{"kind":"write"}`, map[string]string{"Cookie": cookie, "X-CSRF-Token": "wrong"}})
	require.Equal(t, 403, status)
	status, _, _ = f.do(t, call{"POST", "/api/keys", `{"kind":"write"}`, map[string]string{"Cookie": cookie, "X-CSRF-Token": csrf}})
	require.Equal(t, 201, status)

	// A viewer can neither list nor create keys.
	vcookie, vcsrf := login("viewer@demo.test", "viewer-password")
	status, _, _ = f.do(t, call{"GET", "/api/keys", "", map[string]string{"Cookie": vcookie}})
	require.Equal(t, 403, status)
	status, body, _ = f.do(t, call{"POST", "/api/keys", `{"kind":"secret"}`, map[string]string{"Cookie": vcookie, "X-CSRF-Token": vcsrf}})
	require.Equal(t, 403, status)
	require.Contains(t, body["error"], "owner")

	// Logout ends the session.
	status, _, _ = f.do(t, call{"POST", "/api/logout", "", map[string]string{"Cookie": cookie}})
	require.Equal(t, 204, status)
	status, _, _ = f.do(t, call{"GET", "/api/me", "", map[string]string{"Cookie": cookie}})
	require.Equal(t, 401, status)
}

func TestHealthAndReadiness(t *testing.T) {
	broken := errors.New("dial tcp: connection refused")
	f := newFixture(t,
		api.Check{Name: "postgres", Fn: func(ctx context.Context) error { return nil }},
		api.Check{Name: "kafka", Fn: func(ctx context.Context) error { return broken }},
	)
	status, body, _ := f.do(t, call{"GET", "/healthz", "", nil})
	require.Equal(t, 200, status)
	require.Equal(t, "ok", body["status"])
	status, body, _ = f.do(t, call{"GET", "/readyz", "", nil})
	require.Equal(t, 503, status)
	require.Equal(t, "ok", body["checks"].(map[string]any)["postgres"])
	require.Equal(t, broken.Error(), body["checks"].(map[string]any)["kafka"])

	f2 := newFixture(t, api.Check{Name: "postgres", Fn: f.store.Ping})
	status, _, _ = f2.do(t, call{"GET", "/readyz", "", nil})
	require.Equal(t, 200, status)
}

func TestWebAppIsServedWithSPAFallback(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/", "/journeys", "/settings/keys", "/index.html"} {
		resp, err := http.Get(f.srv.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, p)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html", p)
	}
	resp, err := http.Get(f.srv.URL + "/assets/app.js")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Cache-Control"), "immutable")
	resp, err = http.Get(f.srv.URL + "/assets/missing.js")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 404, resp.StatusCode)
}

// openAPI decodes the served openapi.json into doc.
func (f *fixture) openAPI(t *testing.T, doc any) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(doc))
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	f.openAPI(t, &doc)
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	registered := api.New(api.Deps{}).Routes()
	sort.Strings(documented)
	sort.Strings(registered)
	require.Equal(t, registered, documented, "openapi.json and the router disagree")
}
