package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// openAPIURL is where the test's compiler keeps the served openapi.json.
const openAPIURL = "https://herald.invalid/openapi.json"

// answerSchemas compiles the response schemas openapi.json documents, as
// JSON Schema 2020-12 (OpenAPI 3.1), their #/components refs resolved in
// the whole document.
type answerSchemas struct {
	f     *fixture
	c     *jsonschema.Compiler
	paths map[string]map[string]any
	byLoc map[string]*jsonschema.Schema
}

func (f *fixture) answerSchemas(t *testing.T) *answerSchemas {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/openapi.json")
	require.NoError(t, err)
	defer resp.Body.Close()
	doc, err := jsonschema.UnmarshalJSON(resp.Body)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	require.NoError(t, c.AddResource(openAPIURL, doc))
	paths, _ := doc.(map[string]any)["paths"].(map[string]any)
	s := &answerSchemas{f: f, c: c, paths: map[string]map[string]any{}, byLoc: map[string]*jsonschema.Schema{}}
	for p, ops := range paths {
		s.paths[p], _ = ops.(map[string]any)
	}
	return s
}

// pointerToken escapes a JSON pointer token (RFC 6901).
func pointerToken(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// schema is the compiled JSON schema of the documented answer to method
// on the documented path with status; the test fails when there is none.
func (s *answerSchemas) schema(t *testing.T, method, path string, status int) *jsonschema.Schema {
	t.Helper()
	method = strings.ToLower(method)
	op, _ := s.paths[path][method].(map[string]any)
	require.NotNil(t, op, "openapi.json documents no %s %s", method, path)
	resp, _ := op["responses"].(map[string]any)[fmt.Sprint(status)].(map[string]any)
	require.NotNil(t, resp, "openapi.json documents no %d answer to %s %s", status, method, path)
	content, _ := resp["content"].(map[string]any)["application/json"].(map[string]any)
	require.NotNil(t, content["schema"], "the %d answer to %s %s has no JSON schema", status, method, path)
	loc := openAPIURL + "#/paths/" + pointerToken(path) + "/" + method + "/responses/" + fmt.Sprint(status) +
		"/content/" + pointerToken("application/json") + "/schema"
	if sch := s.byLoc[loc]; sch != nil {
		return sch
	}
	sch, err := s.c.Compile(loc)
	require.NoError(t, err, "compile the %d answer to %s %s", status, method, path)
	s.byLoc[loc] = sch
	return sch
}

// validate fails the test unless answer is what openapi.json documents
// for status to method on the documented path.
func (s *answerSchemas) validate(t *testing.T, method, path string, status int, answer map[string]any) {
	t.Helper()
	err := s.schema(t, method, path, status).Validate(answer)
	require.NoError(t, err, "the %d answer to %s %s is not as openapi.json documents it: %v", status, method, path, answer)
}

// call makes the request as the fixture's secret key, requires status and
// validates the answer against the documented path's schema for it.
func (s *answerSchemas) call(t *testing.T, method, path, documented string, body any, status int) map[string]any {
	t.Helper()
	got, out := s.f.api(t, method, path, body)
	require.Equal(t, status, got, "%s %s: %v", method, path, out)
	s.validate(t, method, documented, status, out)
	return out
}

// TestOpenAPIJourneyAnswers drives a journey through the API — created,
// listed, published, triggered, its runs listed and read while running and
// after the stop, its stats and versions read, paused, resumed, stopped and
// archived, its results series and audit log read — and checks each real
// answer against the response schema openapi.json documents for it.
func TestOpenAPIJourneyAnswers(t *testing.T) {
	f := newJourneyFixture(t)
	doc := f.answerSchemas(t)
	call := func(method, path, documented string, body any, status int) map[string]any {
		t.Helper()
		return doc.call(t, method, path, documented, body, status)
	}

	j := call("POST", "/api/journeys", "/api/journeys", map[string]any{
		"name": "Documented", "trigger": map[string]any{"type": "api"}, "entry": map[string]any{"policy": "once"}, "start": "wait",
		"nodes": []any{
			map[string]any{"id": "wait", "type": "delay", "duration": "1h", "next": "done"},
			map[string]any{"id": "done", "type": "exit"},
		}}, 201)
	id := j["id"].(string)
	call("GET", "/api/journeys/"+id, "/api/journeys/{id}", nil, 200)
	call("GET", "/api/journeys", "/api/journeys", nil, 200)
	page := call("GET", "/api/journeys?limit=1", "/api/journeys", nil, 200)
	require.NotEmpty(t, page["next_cursor"], "a full page has a cursor: %v", page)

	pub := call("POST", "/api/journeys/"+id+"/publish", "/api/journeys/{id}/publish", nil, 200)
	require.EqualValues(t, 1, pub["version"])
	call("GET", "/api/journeys/"+id+"/versions", "/api/journeys/{id}/versions", nil, 200)

	trigger := "/api/journeys/{id}/trigger"
	entered := call("POST", "/api/journeys/"+id+"/trigger", trigger, map[string]any{"customer": map[string]any{"user_id": "documented"}}, 200)
	require.Equal(t, true, entered["entered"], "%v", entered)
	wfID := entered["workflow_id"].(string)
	again := call("POST", "/api/journeys/"+id+"/trigger", trigger, map[string]any{"customer": map[string]any{"user_id": "documented"},
		"properties": map[string]any{"plan": "pro"}}, 200)
	require.Equal(t, false, again["entered"], "%v", again)

	// The run, once the projection has it and it waits at the delay.
	require.Eventually(t, func() bool {
		_, runs := f.api(t, "GET", "/api/journeys/"+id+"/runs", nil)
		items, _ := runs["items"].([]any)
		_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
		st, _ := run["state"].(map[string]any)
		return len(items) == 1 && st != nil && st["node"] == "wait"
	}, 20*time.Second, 100*time.Millisecond)
	call("GET", "/api/journeys/"+id+"/runs", "/api/journeys/{id}/runs", nil, 200)
	call("GET", "/api/journeys/"+id+"/runs?status=running&node=wait", "/api/journeys/{id}/runs", nil, 200)
	run := call("GET", "/api/runs/"+wfID, "/api/runs/{workflow_id}", nil, 200)
	require.NotNil(t, run["state"], "%v", run)
	call("GET", "/api/journeys/"+id+"/stats", "/api/journeys/{id}/stats", nil, 200)

	lc := call("POST", "/api/journeys/"+id+"/pause", "/api/journeys/{id}/pause", nil, 200)
	require.Equal(t, "paused", lc["status"])
	lc = call("POST", "/api/journeys/"+id+"/resume", "/api/journeys/{id}/resume", nil, 200)
	require.Equal(t, "active", lc["status"])
	lc = call("POST", "/api/journeys/"+id+"/stop", "/api/journeys/{id}/stop", nil, 200)
	require.Equal(t, "stopped", lc["status"])
	require.EqualValues(t, 1, lc["runs_affected"])

	// The cancelled run: ended, without a live state.
	require.Eventually(t, func() bool {
		_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
		return run["status"] == "canceled"
	}, 30*time.Second, 200*time.Millisecond)
	run = call("GET", "/api/runs/"+wfID, "/api/runs/{workflow_id}", nil, 200)
	require.NotNil(t, run["ended_at"], "%v", run)
	call("GET", "/api/journeys/"+id+"/runs?status=canceled", "/api/journeys/{id}/runs", nil, 200)
	call("GET", "/api/journeys/"+id+"/stats", "/api/journeys/{id}/stats", nil, 200)

	lc = call("POST", "/api/journeys/"+id+"/archive", "/api/journeys/{id}/archive", nil, 200)
	require.Equal(t, "archived", lc["status"])
	call("GET", "/api/journeys/"+id+"/versions", "/api/journeys/{id}/versions", nil, 200)
	call("GET", "/api/journeys/"+id+"/series", "/api/journeys/{id}/series", nil, 200)
	call("GET", "/api/journeys/"+id+"/series?interval=hour&points=3", "/api/journeys/{id}/series", nil, 200)
	audit := call("GET", "/api/journeys/"+id+"/audit?order=newest&limit=2", "/api/journeys/{id}/audit", nil, 200)
	require.NotEmpty(t, audit["next_cursor"], "%v", audit)
	call("GET", "/api/journeys/"+id+"/audit", "/api/journeys/{id}/audit", nil, 200)
	call("GET", "/api/customers/"+entered["customer_id"].(string)+"/audit", "/api/customers/{id}/audit", nil, 200)
}

// TestOpenAPIAnswerSchemasRequireTheirFields: the documented schemas are
// not open to anything — an answer without a field documented as always
// present fails the check.
func TestOpenAPIAnswerSchemasRequireTheirFields(t *testing.T) {
	f := newFixture(t)
	doc := f.answerSchemas(t)
	sch := doc.schema(t, "POST", "/api/journeys/{id}/stop", 200)
	answer := map[string]any{"id": "jny_1", "status": "stopped", "runs_affected": 0.0, "batch_job_id": ""}
	require.NoError(t, sch.Validate(answer))
	delete(answer, "batch_job_id")
	require.Error(t, sch.Validate(answer), "a stop's answer has its batch job id")
	sch = doc.schema(t, "GET", "/api/journeys/{id}/runs", 200)
	require.Error(t, sch.Validate(map[string]any{"items": []any{map[string]any{"workflow_id": "w"}}}), "a run has its fields")
	require.Error(t, sch.Validate(map[string]any{}), "a page has its items")
}

// TestOpenAPIWorkspaceAnswers drives a customer's events, the templates
// (created, listed, read, updated, previewed saved and unsaved, test sends
// on each channel), the deliveries, the channel settings (read, saved with
// and without a secret, a test through a local webhook receiver and through
// the outbox) and the team (listed, a new and an existing account invited,
// a role changed) through the API on Postgres, and checks each answer
// against the schema openapi.json documents for it.
func TestOpenAPIWorkspaceAnswers(t *testing.T) {
	f := newFixture(t)
	withEncryptionKey(t, f, "test-encryption-key")
	doc := f.answerSchemas(t)
	ctx := context.Background()

	evs := []schema.EventInput{{WorkspaceID: f.ws.ID, MessageID: "doc-identify", Type: "identify", UserID: "grace",
		Traits: map[string]any{"first_name": "Grace", "email": "grace@example.com"}, OccurredAt: time.Now().Add(-time.Hour)}}
	for i := range 3 {
		evs = append(evs, schema.EventInput{WorkspaceID: f.ws.ID, MessageID: fmt.Sprintf("doc-%d", i), Type: "track", Name: "Viewed",
			UserID: "grace", Properties: json.RawMessage(`{"page":1}`), OccurredAt: time.Now().Add(-time.Duration(i) * time.Minute)})
	}
	_, err := f.store.ApplyEvents(ctx, evs)
	require.NoError(t, err)
	events := "/api/customers/{id}/events"
	page := doc.call(t, "GET", "/api/customers/grace/events?limit=2", events, nil, 200)
	require.Len(t, page["items"], 2)
	require.NotEmpty(t, page["next_cursor"], "%v", page)
	page = doc.call(t, "GET", "/api/customers/grace/events?cursor="+url.QueryEscape(page["next_cursor"].(string)), events, nil, 200)
	require.Len(t, page["items"], 2)

	email := doc.call(t, "POST", "/api/templates", "/api/templates", map[string]any{"name": "Hi", "channel": "email",
		"subject": "Hi {{ customer.first_name }}", "html": "<p>Hi</p>"}, 201)
	sms := doc.call(t, "POST", "/api/templates", "/api/templates", map[string]any{"name": "Nudge", "channel": "sms", "body": "Still there?"}, 201)
	hook := doc.call(t, "POST", "/api/templates", "/api/templates", map[string]any{"name": "Hook", "channel": "webhook",
		"url": "https://hooks.example/{{ customer.id }}", "body": `{"plan":"{{ customer.plan }}"}`, "headers": map[string]any{"X-Herald": "1"}}, 201)
	doc.call(t, "GET", "/api/templates", "/api/templates", nil, 200)
	page = doc.call(t, "GET", "/api/templates?limit=1", "/api/templates", nil, 200)
	require.NotEmpty(t, page["next_cursor"], "%v", page)
	doc.call(t, "GET", "/api/templates/"+email["id"].(string), "/api/templates/{id}", nil, 200)
	doc.call(t, "PUT", "/api/templates/"+email["id"].(string), "/api/templates/{id}", map[string]any{"name": "Hi 2",
		"subject": "Hi {{ customer.first_name }}", "html": "<p>Hi {{ event.properties.page }}</p>", "reply_to": "help@acme.io"}, 200)

	preview := "/api/templates/{id}/preview"
	out := doc.call(t, "POST", "/api/templates/"+email["id"].(string)+"/preview", preview, map[string]any{"customer_id": "grace",
		"event": map[string]any{"name": "Viewed", "properties": map[string]any{"page": 2}}}, 200)
	require.Equal(t, "Hi Grace", out["rendered"].(map[string]any)["subject"], "%v", out)
	doc.call(t, "POST", "/api/templates/"+hook["id"].(string)+"/preview", preview, map[string]any{}, 200)
	out = doc.call(t, "POST", "/api/templates/preview", "/api/templates/preview", map[string]any{"customer_id": "grace",
		"template": map[string]any{"channel": "sms", "body": "Hey {{ customer.first_name }}"}}, 200)
	require.Equal(t, "Hey Grace", out["rendered"].(map[string]any)["body"], "%v", out)

	test := "/api/templates/{id}/test"
	doc.call(t, "POST", "/api/templates/"+email["id"].(string)+"/test", test, map[string]any{"to": "qa@example.com", "customer_id": "grace",
		"event": map[string]any{"name": "Viewed", "properties": map[string]any{"page": 3}}}, 200)
	doc.call(t, "POST", "/api/templates/"+sms["id"].(string)+"/test", test, map[string]any{"to": "+15555550100"}, 200)
	out = doc.call(t, "POST", "/api/templates/"+hook["id"].(string)+"/test", test, map[string]any{}, 200)
	require.Equal(t, "https://hooks.example/cus_sample", out["recipient"], "%v", out)

	doc.call(t, "GET", "/api/deliveries", "/api/deliveries", nil, 200)
	page = doc.call(t, "GET", "/api/deliveries?limit=1&status=sent", "/api/deliveries", nil, 200)
	require.NotEmpty(t, page["next_cursor"], "%v", page)
	page = doc.call(t, "GET", "/api/deliveries?customer_id=grace", "/api/deliveries", nil, 200)
	require.Len(t, page["items"], 1)

	got := make(chan string, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- string(b):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()
	u, err := url.Parse(recv.URL)
	require.NoError(t, err)
	doc.call(t, "GET", "/api/channels", "/api/channels", nil, 200)
	// Saved without allow_hosts: no exemptions, shown as an empty list.
	out = doc.call(t, "PUT", "/api/channels", "/api/channels", map[string]any{"webhook": map[string]any{}}, 200)
	require.Equal(t, []any{}, out["webhook"].(map[string]any)["allow_hosts"], "%v", out)
	doc.call(t, "GET", "/api/channels", "/api/channels", nil, 200)
	out = doc.call(t, "PUT", "/api/channels", "/api/channels", map[string]any{
		"sms": map[string]any{"provider": "twilio", "account_sid": "AC0123456789abcdef", "auth_token": "twiliotoken0123456789",
			"from": "+15555550100", "frequency_cap": map[string]any{"max": 3, "period": "7d"}},
		"webhook": map[string]any{"allow_hosts": []string{u.Hostname()}}}, 200)
	require.NotContains(t, out["sms"].(map[string]any)["auth_token"], "twiliotoken", "%v", out)
	doc.call(t, "GET", "/api/channels", "/api/channels", nil, 200)
	out = doc.call(t, "POST", "/api/channels/test", "/api/channels/test", map[string]any{"channel": "webhook", "to": recv.URL + "/hook"}, 200)
	require.EqualValues(t, http.StatusAccepted, out["status_code"], "%v", out)
	select {
	case body := <-got:
		require.Contains(t, body, `"type":"herald.test"`)
	case <-time.After(5 * time.Second):
		t.Fatal("the receiver got no test")
	}
	out = doc.call(t, "POST", "/api/channels/test", "/api/channels/test", map[string]any{"channel": "email", "to": "ops@acme.io"}, 200)
	require.Equal(t, "outbox", out["provider"], "%v", out)

	doc.call(t, "GET", "/api/members", "/api/members", nil, 200)
	ann := doc.call(t, "POST", "/api/members", "/api/members", map[string]any{"email": "ann@demo.test", "role": "viewer"}, 201)
	require.NotEmpty(t, ann["password"], "%v", ann)
	other, err := f.store.CreateWorkspace(ctx, "Other")
	require.NoError(t, err)
	_, err = f.store.AddMember(ctx, other.ID, "bo@other.test", "bo-password", schema.RoleOwner)
	require.NoError(t, err)
	bo := doc.call(t, "POST", "/api/members", "/api/members", map[string]any{"email": "bo@other.test", "role": "editor"}, 201)
	require.Equal(t, true, bo["existing_account"], "%v", bo)
	doc.call(t, "PUT", "/api/members/"+ann["user_id"].(string), "/api/members/{user_id}", map[string]any{"role": "editor"}, 200)
	doc.call(t, "GET", "/api/members", "/api/members", nil, 200)
}

// TestOpenAPIEnrollmentAnswers: an include_existing enrollment held to one
// member a second is listed while it runs, cancelled, and listed once it
// ended; each answer is checked against the schema openapi.json documents.
func TestOpenAPIEnrollmentAnswers(t *testing.T) {
	f := newJourneyFixture(t)
	doc := f.answerSchemas(t)
	id, pub := f.publishJourney(t, exitOnly("Slow", map[string]any{"type": "segment", "segment_id": f.seedPros(t, 20),
		"include_existing": true, "enroll_per_second": 1}))
	enrollmentID := pub["enrollment_id"].(string)

	list := "/api/journeys/{id}/enrollments"
	require.Eventually(t, func() bool {
		page := doc.call(t, "GET", "/api/journeys/"+id+"/enrollments", list, nil, 200)
		items, _ := page["items"].([]any)
		return len(items) == 1 && items[0].(map[string]any)["status"] == "running"
	}, 20*time.Second, 100*time.Millisecond, "the enrollment is listed while it runs")

	out := doc.call(t, "POST", "/api/journeys/"+id+"/enrollments/"+url.PathEscape(enrollmentID)+"/cancel",
		"/api/journeys/{id}/enrollments/{enrollment_id}/cancel", nil, 202)
	require.Equal(t, enrollmentID, out["id"])
	require.Eventually(t, func() bool {
		page := doc.call(t, "GET", "/api/journeys/"+id+"/enrollments", list, nil, 200)
		e := page["items"].([]any)[0].(map[string]any)
		return e["status"] == "cancelled" && e["finished_at"] != nil
	}, 20*time.Second, 100*time.Millisecond)
	page := doc.call(t, "GET", "/api/journeys/"+id+"/enrollments?limit=1", list, nil, 200)
	require.Equal(t, enrollmentID, page["next_cursor"], "%v", page)
}
