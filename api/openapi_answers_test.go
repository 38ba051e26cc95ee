package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// openAPIURL is where the test's compiler keeps the served openapi.json.
const openAPIURL = "https://herald.invalid/openapi.json"

// answerSchemas compiles the response schemas openapi.json documents, as
// JSON Schema 2020-12 (OpenAPI 3.1), their #/components refs resolved in
// the whole document.
type answerSchemas struct {
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
	s := &answerSchemas{c: c, paths: map[string]map[string]any{}, byLoc: map[string]*jsonschema.Schema{}}
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

// TestOpenAPIJourneyAnswers drives a journey through the API — created,
// listed, published, triggered, its runs listed and read while running and
// after the stop, its stats and versions read, paused, resumed, stopped and
// archived, its results series and audit log read — and checks each real
// answer against the response schema openapi.json documents for it.
func TestOpenAPIJourneyAnswers(t *testing.T) {
	f := newJourneyFixture(t)
	doc := f.answerSchemas(t)
	// call makes the request, requires status and validates the answer
	// against the documented path's schema for it.
	call := func(method, path, documented string, body any, status int) map[string]any {
		t.Helper()
		got, out := f.api(t, method, path, body)
		require.Equal(t, status, got, "%s %s: %v", method, path, out)
		doc.validate(t, method, documented, status, out)
		return out
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
