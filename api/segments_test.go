package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// segmentAPI calls the API as hdr; the body is sent as is.
func segmentAPI(t *testing.T, f *fixture, hdr map[string]string, method, path, body string) (int, map[string]any) {
	t.Helper()
	status, out, _ := f.do(t, call{method, path, body, hdr})
	return status, out
}

func seedSegmentCustomers(t *testing.T, f *fixture) (ada, bob, cyd string) {
	t.Helper()
	ids := seedCustomers(t, f.store, f.ws.ID,
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-ada", Traits: map[string]any{"email": "ada@example.com", "plan": "pro", "age": 30}},
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-bob", Traits: map[string]any{"plan": "free", "age": 41}},
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-cyd", Traits: map[string]any{"plan": "pro", "age": "52"}},
		schema.EventInput{Type: "track", Name: "Purchased", UserID: "u-ada", Properties: json.RawMessage(`{"total":120}`)},
		schema.EventInput{Type: "track", Name: "Purchased", UserID: "u-ada", Properties: json.RawMessage(`{"total":30}`)},
		schema.EventInput{Type: "track", Name: "Purchased", UserID: "u-bob", Properties: json.RawMessage(`{"total":500}`)},
	)
	return ids["u-ada"], ids["u-bob"], ids["u-cyd"]
}

// sampleIDs lists the ids of a preview's sample.
func sampleIDs(t *testing.T, body map[string]any) []string {
	t.Helper()
	return itemIDs(t, map[string]any{"items": body["sample"]})
}

func TestSegmentsCRUDPreviewAndMembers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada, bob, cyd := seedSegmentCustomers(t, f)
	// Calls with the secret key; bodies are JSON-encoded unless strings.
	api := (&journeyFixture{fixture: f}).api

	// A dynamic segment.
	status, body := api(t, "POST", "/api/segments", map[string]any{"name": "Pro", "condition": map[string]any{"attr": "plan", "op": "eq", "value": "pro"}})
	require.Equal(t, 201, status, "%v", body)
	pro := body["id"].(string)
	require.Equal(t, "dynamic", body["kind"])
	require.Equal(t, "Pro", body["name"])
	require.True(t, strings.HasPrefix(body["created_by"].(string), "key:"), "%v", body)
	status, body = api(t, "GET", "/api/segments/"+pro, nil)
	require.Equal(t, 200, status)
	require.Equal(t, map[string]any{"attr": "plan", "op": "eq", "value": "pro"}, body["condition"])

	// Preview: count and a sample, newest first.
	status, body = api(t, "POST", "/api/segments/preview", map[string]any{"condition": map[string]any{"segment": pro}})
	require.Equal(t, 200, status, "%v", body)
	require.EqualValues(t, 2, body["count"])
	require.Equal(t, []string{cyd, ada}, sampleIDs(t, body))
	status, body = api(t, "POST", "/api/segments/preview", `{"condition":{"segment":"`+pro+`"},"sample_size":1}`)
	require.Equal(t, 200, status, "%v", body)
	require.EqualValues(t, 2, body["count"])
	require.Equal(t, []string{cyd}, sampleIDs(t, body))
	status, body = api(t, "POST", "/api/segments/preview", `{"condition":{"event":"Purchased","count":{"gte":2}}}`)
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, []string{ada}, sampleIDs(t, body))
	status, body = api(t, "POST", "/api/segments/preview", `{"condition":{"event":"Purchased","where":{"prop":"total","op":"gt","value":100}},"sample_size":0}`)
	require.Equal(t, 200, status, "%v", body)
	require.EqualValues(t, 2, body["count"])
	require.Equal(t, []string{}, sampleIDs(t, body))

	// Update; members page by id.
	status, body = api(t, "PUT", "/api/segments/"+pro, map[string]any{"name": "Pro or older",
		"condition": map[string]any{"any": []any{map[string]any{"attr": "plan", "op": "eq", "value": "pro"}, map[string]any{"attr": "age", "op": "gt", "value": 40}}}})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, "Pro or older", body["name"])
	require.Equal(t, "dynamic", body["kind"])
	want := []string{ada, bob, cyd}
	slices.Sort(want)
	var paged []string
	cursor := ""
	for range 5 {
		status, body = api(t, "GET", "/api/segments/"+pro+"/members?limit=2&cursor="+cursor, nil)
		require.Equal(t, 200, status, "%v", body)
		paged = append(paged, itemIDs(t, body)...)
		cursor, _ = body["next_cursor"].(string)
		if cursor == "" {
			break
		}
	}
	require.Equal(t, want, paged)

	// A manual segment: ids or user ids, idempotent, unknown ids reported.
	status, body = api(t, "POST", "/api/segments", `{"name":"Beta testers","kind":"manual"}`)
	require.Equal(t, 201, status, "%v", body)
	beta := body["id"].(string)
	require.Equal(t, "manual", body["kind"])
	require.Nil(t, body["condition"])
	status, body = api(t, "POST", "/api/segments/"+beta+"/members", map[string]any{"customer_ids": []string{ada, "u-bob", "nope"}})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, map[string]any{"added": float64(2), "already_members": float64(0), "unknown_ids": []any{"nope"}}, body)
	status, body = api(t, "POST", "/api/segments/"+beta+"/members", map[string]any{"customer_ids": []string{"u-ada", bob}})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, map[string]any{"added": float64(0), "already_members": float64(2), "unknown_ids": []any{}}, body)
	status, body = api(t, "GET", "/api/segments/"+beta+"/members", nil)
	require.Equal(t, 200, status)
	want = []string{ada, bob}
	slices.Sort(want)
	require.Equal(t, want, itemIDs(t, body))
	status, body = api(t, "DELETE", "/api/segments/"+beta+"/members", map[string]any{"customer_ids": []string{"u-bob", cyd}})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, map[string]any{"removed": float64(1), "not_members": float64(1), "unknown_ids": []any{}}, body)
	status, body = api(t, "GET", "/api/segments/"+beta+"/members", nil)
	require.Equal(t, 200, status)
	require.Equal(t, []string{ada}, itemIDs(t, body))
	status, body = api(t, "POST", "/api/segments/"+pro+"/members", map[string]any{"customer_ids": []string{ada}})
	require.Equal(t, 409, status, "a dynamic segment takes no members: %v", body)
	require.Contains(t, body["error"], "dynamic")

	// A segment of segments; a referenced segment cannot be deleted.
	status, body = api(t, "POST", "/api/segments", map[string]any{"name": "Beta pros",
		"condition": map[string]any{"all": []any{map[string]any{"segment": beta}, map[string]any{"segment": pro}}}})
	require.Equal(t, 201, status, "%v", body)
	both := body["id"].(string)
	status, body = api(t, "POST", "/api/segments/preview", map[string]any{"condition": map[string]any{"segment": both}})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, []string{ada}, sampleIDs(t, body))
	status, body = api(t, "GET", "/api/segments?limit=2", nil)
	require.Equal(t, 200, status)
	listed := itemIDs(t, body)
	status, body = api(t, "GET", "/api/segments?limit=2&cursor="+body["next_cursor"].(string), nil)
	require.Equal(t, 200, status)
	listed = append(listed, itemIDs(t, body)...)
	require.ElementsMatch(t, []string{pro, beta, both}, listed)

	status, body = api(t, "DELETE", "/api/segments/"+beta, nil)
	require.Equal(t, 409, status, "%v", body)
	require.Contains(t, body["error"], both)
	status, _ = api(t, "DELETE", "/api/segments/"+both, nil)
	require.Equal(t, 204, status)
	status, _ = api(t, "DELETE", "/api/segments/"+beta, nil)
	require.Equal(t, 204, status)
	status, _ = api(t, "GET", "/api/segments/"+beta, nil)
	require.Equal(t, 404, status)

	audit, err := f.store.ListAudit(ctx, f.ws.ID, "segment", beta)
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	require.Equal(t, []string{"create", "add_members", "add_members", "remove_members", "delete"}, actions)
}

func TestSegmentsBadInputWorkspacesAndRoles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	seedSegmentCustomers(t, f)
	// Calls with the secret key; bodies are JSON-encoded unless strings.
	api := (&journeyFixture{fixture: f}).api
	status, body := api(t, "POST", "/api/segments", `{"name":"Pro","condition":{"attr":"plan","op":"eq","value":"pro"}}`)
	require.Equal(t, 201, status, "%v", body)
	pro := body["id"].(string)
	status, body = api(t, "POST", "/api/segments", `{"name":"Pro buyers","condition":{"all":[{"segment":"`+pro+`"},{"event":"Purchased"}]}}`)
	require.Equal(t, 201, status, "%v", body)
	buyers := body["id"].(string)
	status, body = api(t, "POST", "/api/segments", `{"name":"List","kind":"manual"}`)
	require.Equal(t, 201, status, "%v", body)
	list := body["id"].(string)

	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("u-%d", i)
	}
	tests := []struct {
		name         string
		method, path string
		body         any
		status       int
		field, msg   string
	}{
		{"unknown operator", "POST", "/api/segments", `{"name":"X","condition":{"all":[{"attr":"plan","op":"eq","value":"pro"},{"attr":"plan","op":"foo","value":1}]}}`,
			400, "condition.all[1].op", `condition.all[1].op: unknown operator "foo"`},
		{"wrong value type", "POST", "/api/segments", `{"name":"X","condition":{"attr":"age","op":"gt","value":true}}`, 400, "condition.value", "number or a string"},
		{"bad duration", "POST", "/api/segments", `{"name":"X","condition":{"event":"Purchased","within":"a month"}}`, 400, "condition.within", "invalid duration"},
		{"prop outside an event", "POST", "/api/segments", `{"name":"X","condition":{"prop":"total","op":"gt","value":1}}`, 400, "condition.prop", "where"},
		{"unknown segment", "POST", "/api/segments", `{"name":"X","condition":{"not":{"segment":"seg_nope"}}}`, 400, "condition.not.segment", `unknown segment "seg_nope"`},
		{"cycle", "PUT", "/api/segments/" + pro, `{"name":"Pro","condition":{"any":[{"attr":"plan","op":"eq","value":"pro"},{"segment":"` + buyers + `"}]}}`,
			400, "condition.any[1].segment", "cycle"},
		{"no condition", "POST", "/api/segments", `{"name":"X"}`, 400, "condition", "condition is required"},
		{"no name", "POST", "/api/segments", `{"condition":{"attr":"plan","op":"exists"}}`, 400, "name", "name is required"},
		{"bad kind", "POST", "/api/segments", `{"name":"X","kind":"static"}`, 400, "kind", "dynamic"},
		{"manual with condition", "POST", "/api/segments", `{"name":"X","kind":"manual","condition":{"attr":"plan","op":"exists"}}`, 400, "condition", "manual"},
		{"kind change", "PUT", "/api/segments/" + list, `{"name":"X","kind":"dynamic","condition":{"attr":"plan","op":"exists"}}`, 400, "kind", "cannot change"},
		{"unknown field", "POST", "/api/segments", `{"name":"X","rules":[]}`, 400, "rules", "unknown field"},
		{"preview without condition", "POST", "/api/segments/preview", `{}`, 400, "condition", "condition is required"},
		{"preview bad condition", "POST", "/api/segments/preview", `{"condition":{"attr":"plan","op":"in","value":"pro"}}`, 400, "condition.value", "array"},
		{"preview sample too big", "POST", "/api/segments/preview", `{"condition":{"attr":"plan","op":"exists"},"sample_size":101}`, 400, "sample_size", "0 to 100"},
		{"no member ids", "POST", "/api/segments/" + list + "/members", `{"customer_ids":[]}`, 400, "customer_ids", "at least one"},
		{"empty member id", "POST", "/api/segments/" + list + "/members", `{"customer_ids":[" "]}`, 400, "customer_ids", "empty"},
		{"too many member ids", "POST", "/api/segments/" + list + "/members", map[string]any{"customer_ids": many}, 400, "customer_ids", "1000"},
		{"members of a dynamic segment", "DELETE", "/api/segments/" + pro + "/members", `{"customer_ids":["u-ada"]}`, 409, "", "dynamic"},
		{"unknown segment id", "GET", "/api/segments/seg_nope", nil, 404, "", "not found"},
		{"unknown segment members", "GET", "/api/segments/seg_nope/members", nil, 404, "", "not found"},
		{"bad limit", "GET", "/api/segments?limit=0", nil, 400, "limit", "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := api(t, tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, status, "%v", body)
			require.Contains(t, body["error"], tc.msg)
			if tc.field != "" {
				require.Equal(t, tc.field, body["field"], "%v", body)
			}
		})
	}
	status, body = api(t, "GET", "/api/segments/"+pro, nil)
	require.Equal(t, 200, status)
	require.Equal(t, "Pro", body["name"], "rejected updates change nothing")
	require.Equal(t, map[string]any{"attr": "plan", "op": "eq", "value": "pro"}, body["condition"])

	// Another workspace sees none of it.
	ws2, err := f.store.CreateWorkspace(ctx, "Other")
	require.NoError(t, err)
	key2, err := f.store.CreateAPIKey(ctx, ws2.ID, schema.KeySecret, "", "test")
	require.NoError(t, err)
	theirs := bearer(key2.Key)
	for _, c := range []struct {
		method, path, body string
	}{
		{"GET", "/api/segments/" + pro, ""},
		{"PUT", "/api/segments/" + pro, `{"name":"Mine","condition":{"attr":"plan","op":"exists"}}`},
		{"DELETE", "/api/segments/" + pro, ""},
		{"GET", "/api/segments/" + pro + "/members", ""},
		{"POST", "/api/segments/" + list + "/members", `{"customer_ids":["u-ada"]}`},
		{"DELETE", "/api/segments/" + list + "/members", `{"customer_ids":["u-ada"]}`},
	} {
		status, body := segmentAPI(t, f, theirs, c.method, c.path, c.body)
		require.Equal(t, 404, status, "%s %s: %v", c.method, c.path, body)
	}
	status, body = segmentAPI(t, f, theirs, "GET", "/api/segments", "")
	require.Equal(t, 200, status)
	require.Empty(t, itemIDs(t, body))
	status, body = segmentAPI(t, f, theirs, "POST", "/api/segments/preview", `{"condition":{"segment":"`+pro+`"}}`)
	require.Equal(t, 400, status, "%v", body)
	require.Equal(t, "condition.segment", body["field"])
	status, body = segmentAPI(t, f, theirs, "POST", "/api/segments/preview", `{"condition":{"attr":"plan","op":"exists"}}`)
	require.Equal(t, 200, status, "%v", body)
	require.EqualValues(t, 0, body["count"], "customers of another workspace do not count")

	// A viewer reads and previews but cannot write.
	viewer := f.login(t, "viewer@demo.test", "viewer-password")
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/segments", "", 200},
		{"GET", "/api/segments/" + pro, "", 200},
		{"GET", "/api/segments/" + pro + "/members", "", 200},
		{"POST", "/api/segments/preview", `{"condition":{"segment":"` + pro + `"}}`, 200},
		{"POST", "/api/segments", `{"name":"V","condition":{"attr":"plan","op":"exists"}}`, 403},
		{"PUT", "/api/segments/" + pro, `{"name":"V","condition":{"attr":"plan","op":"exists"}}`, 403},
		{"DELETE", "/api/segments/" + buyers, "", 403},
		{"POST", "/api/segments/" + list + "/members", `{"customer_ids":["u-ada"]}`, 403},
		{"DELETE", "/api/segments/" + list + "/members", `{"customer_ids":["u-ada"]}`, 403},
	} {
		status, body := segmentAPI(t, f, viewer, c.method, c.path, c.body)
		require.Equal(t, c.status, status, "%s %s: %v", c.method, c.path, body)
	}
	segs, err := f.store.ListSegments(ctx, f.ws.ID, 10, "")
	require.NoError(t, err)
	require.Len(t, segs, 3, "nothing was created by the viewer")
}
