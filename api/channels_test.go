package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/schema"
)

// withEncryptionKey serves the fixture's store with an encryption key set.
func withEncryptionKey(t *testing.T, f *fixture, key string) {
	t.Helper()
	s := api.New(api.Deps{Store: f.store, Config: api.Config{EncryptionKey: key}})
	f.srv.Close()
	f.srv = httptest.NewServer(s)
	t.Cleanup(f.srv.Close)
}

func TestChannelSettingsAreValidatedSealedAndMasked(t *testing.T) {
	f := newFixture(t)
	withEncryptionKey(t, f, "test-encryption-key")
	owner := bearer(f.secretKey)

	// Defaults: the outbox for email and SMS, no webhook exemptions.
	status, got, _ := f.do(t, call{"GET", "/api/channels", "", owner})
	require.Equal(t, 200, status, "%v", got)
	require.Equal(t, "outbox", got["email"].(map[string]any)["provider"])
	require.Equal(t, "outbox", got["sms"].(map[string]any)["provider"])

	body := `{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIAEXAMPLE","secret_access_key":"ses-secret-0123456789",
		"configuration_set":"herald","from":"Acme <hi@acme.io>"},
		"sms":{"provider":"twilio","account_sid":"AC0123456789abcdef","auth_token":"twiliotoken0123456789","from":"+15555550100"},
		"webhook":{"allow_hosts":["Hooks.Internal.Example"]}}`
	status, got, _ = f.do(t, call{"PUT", "/api/channels", body, owner})
	require.Equal(t, 200, status, "%v", got)
	email := got["email"].(map[string]any)
	require.Equal(t, "ses", email["provider"])
	require.NotContains(t, email["secret_access_key"], "ses-secret", "secrets are never shown in full")
	require.True(t, strings.HasSuffix(email["secret_access_key"].(string), "6789"), "%v", email["secret_access_key"])
	require.Equal(t, []any{"hooks.internal.example"}, got["webhook"].(map[string]any)["allow_hosts"])

	// At rest the secrets are sealed.
	var raw string
	require.NoError(t, f.store.Pool().QueryRow(context.Background(),
		`SELECT string_agg(settings::text, ' ') FROM channel_settings WHERE workspace_id = $1`, f.ws.ID).Scan(&raw))
	require.NotContains(t, raw, "ses-secret-0123456789")
	require.NotContains(t, raw, "twiliotoken0123456789")
	require.Contains(t, raw, "AKIAEXAMPLE")

	// Writing back what GET showed (masked secret) keeps the secret; other
	// fields change.
	email["from"] = "Acme <news@acme.io>"
	status, got2, _ := f.do(t, call{"PUT", "/api/channels", mustMarshal(t, map[string]any{"email": email}), owner})
	require.Equal(t, 200, status, "%v", got2)
	require.Equal(t, email["secret_access_key"], got2["email"].(map[string]any)["secret_access_key"])
	require.Equal(t, "Acme <news@acme.io>", got2["email"].(map[string]any)["from"])
	require.Equal(t, "twilio", got2["sms"].(map[string]any)["provider"], "channels not named stay as they are")

	// Bad settings are refused at save time, naming the field.
	for _, tc := range []struct{ body, field string }{
		{`{}`, "body"},
		{`{"fax":{}}`, "fax"},
		{`{"email":{"provider":"ses","frequency_cap":{"max":3,"perod":"7d"}}}`, "email.frequency_cap.perod"},
		{`{"email":{"provider":"smtp","port":"587"}}`, "email.port"},
		{`{"email":{"provider":"outbox"}}}`, "body"},
		{`{"email":{"provider":"mailgun"}}`, "email.provider"},
		{`{"email":{"provider":"ses","region":"Europe","from":"a@b.io"}}`, "email.region"},
		{`{"email":{"provider":"ses","region":"eu-west-1","from":"not an address"}}`, "email.from"},
		{`{"email":{"provider":"ses","region":"eu-west-1","access_key_id":"AKIA2","from":"a@b.io"}}`, "email.secret_access_key"},
		{`{"email":{"provider":"ses","region":"eu-west-1","from":"a@b.io","host":"smtp.x.io"}}`, "email"},
		{`{"email":{"provider":"smtp","host":"smtp.x.io","port":70000,"from":"a@b.io"}}`, "email.port"},
		{`{"email":{"provider":"smtp","host":"smtp.x.io","port":587,"tls":"ssl3","from":"a@b.io"}}`, "email.tls"},
		{`{"email":{"provider":"smtp","host":"smtp x","port":587,"from":"a@b.io"}}`, "email.host"},
		{`{"email":{"provider":"outbox","from":"a@b.io"}}`, "email"},
		{`{"sms":{"provider":"twilio","account_sid":"XX123","auth_token":"t","from":"+15555550100"}}`, "sms.account_sid"},
		{`{"sms":{"provider":"twilio","account_sid":"AC0123456789abcdef","auth_token":"t","from":"555-0100"}}`, "sms.from"},
		{`{"sms":{"provider":"twilio","account_sid":"AC0123456789abcdef","auth_token":"t"}}`, "sms.from"},
		{`{"webhook":{"allow_hosts":["https://x.io/path"]}}`, "webhook.allow_hosts[0]"},
		{`{"email":{"provider":"outbox","frequency_cap":{"max":0,"period":"24h"}}}`, "email.frequency_cap.max"},
		{`{"sms":{"provider":"outbox","frequency_cap":{"max":3,"period":"soon"}}}`, "sms.frequency_cap.period"},
		{`{"email":{"provider":"outbox","rate_per_second":-1}}`, "email.rate_per_second"},
	} {
		status, out, _ := f.do(t, call{"PUT", "/api/channels", tc.body, owner})
		require.Equal(t, 400, status, "%s: %v", tc.body, out)
		require.Equal(t, tc.field, out["field"], "%s: %v", tc.body, out)
	}

	// SMTP with a password, then a switch back to the outbox.
	status, got, _ = f.do(t, call{"PUT", "/api/channels", `{"email":{"provider":"smtp","host":"127.0.0.1","port":2525,
		"username":"u","password":"smtp-password-1","from":"a@b.io"}}`, owner})
	require.Equal(t, 200, status, "%v", got)
	require.Equal(t, "starttls", got["email"].(map[string]any)["tls"], "STARTTLS by default")
	status, got, _ = f.do(t, call{"PUT", "/api/channels", `{"email":{"provider":"outbox","frequency_cap":{"max":3,"period":"7d"}}}`, owner})
	require.Equal(t, 200, status, "%v", got)
	require.Equal(t, map[string]any{"max": float64(3), "period": "7d"}, got["email"].(map[string]any)["frequency_cap"])

	// Only owners change channels; a viewer cannot read them either.
	cookie := f.login(t, "viewer@demo.test", "viewer-password")
	status, _, _ = f.do(t, call{"GET", "/api/channels", "", cookie})
	require.Equal(t, 403, status)
	status, _, _ = f.do(t, call{"PUT", "/api/channels", `{"email":{"provider":"outbox"}}`, cookie})
	require.Equal(t, 403, status)
}

func TestChannelSecretsNeedAnEncryptionKey(t *testing.T) {
	f := newFixture(t)
	status, out, _ := f.do(t, call{"PUT", "/api/channels", `{"sms":{"provider":"twilio","account_sid":"AC0123456789abcdef",
		"auth_token":"tok","from":"+15555550100"}}`, bearer(f.secretKey)})
	require.Equal(t, 409, status, "%v", out)
	require.Contains(t, out["error"], "HERALD_ENCRYPTION_KEY")
	status, _, _ = f.do(t, call{"PUT", "/api/channels", `{"webhook":{"allow_hosts":["hooks.example"]}}`, bearer(f.secretKey)})
	require.Equal(t, 200, status, "settings without secrets need no key")
}

func TestSuppressionListByHand(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	status, out, _ := f.do(t, call{"POST", "/api/suppressions", `{"channel":"email","address":" Ada@Example.com "}`, sk})
	require.Equal(t, 201, status, "%v", out)
	require.Equal(t, "ada@example.com", out["address"])
	require.Equal(t, "manual", out["reason"])
	status, out, _ = f.do(t, call{"POST", "/api/suppressions", `{"channel":"fax","address":"x"}`, sk})
	require.Equal(t, 400, status, "%v", out)
	status, out, _ = f.do(t, call{"GET", "/api/suppressions", "", sk})
	require.Equal(t, 200, status)
	require.Len(t, out["items"], 1)
	status, _, _ = f.do(t, call{"DELETE", "/api/suppressions/email/ADA@example.com", "", sk})
	require.Equal(t, 204, status)
	status, _, _ = f.do(t, call{"DELETE", "/api/suppressions/email/ada@example.com", "", sk})
	require.Equal(t, 404, status)

	// A phone number written as people write it is suppressed as customers'
	// phones are kept, so the send path, which asks with the customer's
	// phone, finds it.
	status, out, _ = f.do(t, call{"POST", "/api/suppressions", `{"channel":"sms","address":"+1 (555) 010-0100"}`, sk})
	require.Equal(t, 201, status, "%v", out)
	require.Equal(t, "+15550100100", out["address"])
	_, err := f.store.Suppressed(context.Background(), f.ws.ID, schema.ChannelSMS, "+15550100100")
	require.NoError(t, err)
	status, _, _ = f.do(t, call{"DELETE", "/api/suppressions/sms/" + url.PathEscape("+1 555 010 0100"), "", sk})
	require.Equal(t, 204, status)
	_, err = f.store.Suppressed(context.Background(), f.ws.ID, schema.ChannelSMS, "+15550100100")
	require.ErrorIs(t, err, schema.ErrNotFound)
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestWorkspaceSettings(t *testing.T) {
	f := newFixture(t)
	owner := bearer(f.secretKey)
	status, w, _ := f.do(t, call{"GET", "/api/workspace", "", owner})
	require.Equal(t, 200, status)
	require.Equal(t, "UTC", w["timezone"])
	require.Nil(t, w["quiet_hours"])
	status, w, _ = f.do(t, call{"PUT", "/api/workspace", `{"timezone":"Europe/Paris","quiet_hours":{"start":"21:00","end":"08:30"}}`, owner})
	require.Equal(t, 200, status, "%v", w)
	require.Equal(t, "Europe/Paris", w["timezone"])
	require.Equal(t, map[string]any{"start": "21:00", "end": "08:30"}, w["quiet_hours"])
	status, w, _ = f.do(t, call{"PUT", "/api/workspace", `{"name":"Acme"}`, owner})
	require.Equal(t, 200, status)
	require.Equal(t, "Acme", w["name"])
	require.NotNil(t, w["quiet_hours"], "fields not named stay")
	status, w, _ = f.do(t, call{"PUT", "/api/workspace", `{"quiet_hours":null}`, owner})
	require.Equal(t, 200, status)
	require.Nil(t, w["quiet_hours"])
	for _, tc := range []struct{ body, field string }{
		{`{"timezone":"Mars/Olympus"}`, "timezone"},
		{`{"quiet_hours":{"start":"9pm","end":"08:00"}}`, "quiet_hours.start"},
		{`{"quiet_hours":{"start":"22:00","end":"22:00"}}`, "quiet_hours.end"},
		{`{"name":""}`, "name"},
	} {
		status, out, _ := f.do(t, call{"PUT", "/api/workspace", tc.body, owner})
		require.Equal(t, 400, status, "%s: %v", tc.body, out)
		require.Equal(t, tc.field, out["field"], tc.body)
	}
	cookie := f.login(t, "viewer@demo.test", "viewer-password")
	status, _, _ = f.do(t, call{"PUT", "/api/workspace", `{"name":"X"}`, cookie})
	require.Equal(t, 403, status)
	status, _, _ = f.do(t, call{"GET", "/api/workspace", "", cookie})
	require.Equal(t, 200, status)
}

// TestSessionShowsWorkspaceQuietHours: the login answer and /api/me carry
// the workspace as GET /api/workspace shows it, quiet hours included (and
// null once they are cleared).
func TestSessionShowsWorkspaceQuietHours(t *testing.T) {
	f := newFixture(t)
	status, out, _ := f.do(t, call{"PUT", "/api/workspace", `{"quiet_hours":{"start":"21:00","end":"07:30"}}`, bearer(f.secretKey)})
	require.Equal(t, 200, status, "%v", out)
	want := map[string]any{"start": "21:00", "end": "07:30"}
	status, out, hdr := f.do(t, call{"POST", "/api/login", `{"email":"` + f.email + `","password":"` + f.password + `"}`, nil})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, want, out["workspace"].(map[string]any)["quiet_hours"], "login answer: %v", out["workspace"])
	cookie := map[string]string{"Cookie": strings.Split(hdr.Get("Set-Cookie"), ";")[0]}
	status, out, _ = f.do(t, call{"GET", "/api/me", "", cookie})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, want, out["workspace"].(map[string]any)["quiet_hours"], "/api/me: %v", out["workspace"])

	status, out, _ = f.do(t, call{"PUT", "/api/workspace", `{"quiet_hours":null}`, bearer(f.secretKey)})
	require.Equal(t, 200, status, "%v", out)
	status, out, _ = f.do(t, call{"GET", "/api/me", "", cookie})
	require.Equal(t, 200, status, "%v", out)
	require.Nil(t, out["workspace"].(map[string]any)["quiet_hours"], "/api/me: %v", out["workspace"])
}
