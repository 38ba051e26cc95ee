package api_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
	"github.com/heraldhq/herald/workflows/temporalserver"
)

// journeyFixture is the API on a real Postgres and a real embedded Temporal
// server with a worker running Herald's workflows and activities.
type journeyFixture struct {
	*fixture
	temporal client.Client
}

func newJourneyFixture(t *testing.T) *journeyFixture {
	t.Helper()
	return newJourneyFixtureOn(t, temporalserver.Options{})
}

// newJourneyFixtureOn is newJourneyFixture on a Temporal server started
// with opts (its search attributes are Herald's).
func newJourneyFixtureOn(t *testing.T, opts temporalserver.Options) *journeyFixture {
	t.Helper()
	return newJourneyFixtureWith(t, opts, nil)
}

// newJourneyFixtureWith is newJourneyFixtureOn with the API's Temporal
// client wrapped by wrap (nil: as it is).
func newJourneyFixtureWith(t *testing.T, opts temporalserver.Options, wrap func(client.Client) client.Client) *journeyFixture {
	t.Helper()
	ctx := context.Background()
	opts.SearchAttributes = workflows.SearchAttributeTypes()
	ts, err := temporalserver.Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ts.Stop() })
	tc, err := client.Dial(client.Options{HostPort: ts.HostPort(), Namespace: ts.Namespace()})
	require.NoError(t, err)
	t.Cleanup(tc.Close)

	f := newFixture(t)
	w := worker.New(tc, workflows.TaskQueue, worker.Options{})
	workflows.Register(w)
	activities.Register(w, activities.New(activities.Deps{Store: f.store, PublicURL: "http://herald.test"}))
	router := ingest.NewJourneyRouter(f.store, tc, nil, nil)
	ingest.NewAudiences(f.store, router).Register(w)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	aw := worker.New(tc, workflows.AudienceTaskQueue, worker.Options{})
	workflows.RegisterAudiences(aw)
	ingest.NewAudiences(f.store, router).Register(aw)
	require.NoError(t, aw.Start())
	t.Cleanup(aw.Stop)

	var apiClient client.Client = tc
	if wrap != nil {
		apiClient = wrap(tc)
	}
	s := api.New(api.Deps{Store: f.store, Temporal: apiClient, Router: router,
		Config: api.Config{TemporalUIURL: "http://127.0.0.1:8233", TemporalNamespace: ts.Namespace()}})
	f.srv.Close()
	f.srv = httptest.NewServer(s)
	t.Cleanup(f.srv.Close)
	return &journeyFixture{fixture: f, temporal: tc}
}

// publishWelcome creates the welcome journey (welcomeJourney) with its two
// templates and publishes it; it returns the journey's id.
func (f *journeyFixture) publishWelcome(t *testing.T) string {
	t.Helper()
	status, email := f.api(t, "POST", "/api/templates", map[string]any{"name": "Welcome email", "channel": "email",
		"subject": "Welcome, {{ customer.first_name }}!", "html": "<p>Hi {{ customer.first_name }}</p>"})
	require.Equal(t, 201, status, "%v", email)
	status, sms := f.api(t, "POST", "/api/templates", map[string]any{"name": "Nudge", "channel": "sms", "body": "Still there?"})
	require.Equal(t, 201, status, "%v", sms)
	status, j := f.api(t, "POST", "/api/journeys", welcomeJourney(email["id"].(string), sms["id"].(string)))
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, _ = f.api(t, "POST", "/api/journeys/"+id+"/publish", nil)
	require.Equal(t, 200, status)
	return id
}

// api makes a request as the workspace's secret key, body (a string or a
// value to encode) as JSON, and decodes the JSON answer.
func (f *fixture) api(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var s string
	switch b := body.(type) {
	case nil:
	case string:
		s = b
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		s = string(raw)
	}
	status, out, _ := f.do(t, call{method, path, s, bearer(f.secretKey)})
	return status, out
}

// recordHistories rewrites the workflow histories the replay test replays
// (workflows/testdata/histories): go test ./api -run Lifecycle -record-histories
var recordHistories = flag.Bool("record-histories", false, "write workflow histories for the replay test")

func saveHistory(t *testing.T, tc client.Client, workflowID, path string) {
	t.Helper()
	iter := tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func welcomeJourney(emailTpl, smsTpl string) map[string]any {
	return map[string]any{
		"name":    "Welcome",
		"trigger": map[string]any{"type": "api"},
		"entry":   map[string]any{"policy": "once"},
		"goal":    map[string]any{"event": "Activated", "within": "7d"},
		"start":   "welcome",
		"nodes": []any{
			map[string]any{"id": "welcome", "type": "send", "channel": "email", "template_id": emailTpl, "next": "wait"},
			map[string]any{"id": "wait", "type": "wait_for_event", "event": "Activated", "timeout": "1h", "on_event": "done", "on_timeout": "sms"},
			map[string]any{"id": "sms", "type": "send", "channel": "sms", "template_id": smsTpl, "next": "done"},
			map[string]any{"id": "done", "type": "exit"},
		},
	}
}

func TestJourneyLifecycleThroughTheAPI(t *testing.T) {
	f := newJourneyFixture(t)
	ctx := context.Background()

	status, email := f.api(t, "POST", "/api/templates", map[string]any{"name": "Welcome email", "channel": "email",
		"subject": "Welcome, {{ customer.first_name }}!", "html": "<p>Hi {{ customer.first_name }}, plan {{ event.properties.plan }}</p>"})
	require.Equal(t, 201, status, "%v", email)
	status, sms := f.api(t, "POST", "/api/templates", map[string]any{"name": "Nudge", "channel": "sms", "body": "Still there?"})
	require.Equal(t, 201, status, "%v", sms)

	// Invalid graphs are refused with every error, naming the node.
	bad := welcomeJourney(email["id"].(string), "tpl_missing")
	bad["nodes"] = append(bad["nodes"].([]any), map[string]any{"id": "orphan", "type": "exit"})
	status, body := f.api(t, "POST", "/api/journeys", bad)
	require.Equal(t, 422, status, "%v", body)
	errs := fmt.Sprint(body["errors"])
	require.Contains(t, errs, "sms")
	require.Contains(t, errs, "orphan")
	list, err := f.store.ListJourneys(ctx, f.ws.ID, 10, "")
	require.NoError(t, err)
	require.Empty(t, list, "nothing half-written")

	status, j := f.api(t, "POST", "/api/journeys", welcomeJourney(email["id"].(string), sms["id"].(string)))
	require.Equal(t, 201, status, "%v", j)
	require.Equal(t, "draft", j["status"])
	id := j["id"].(string)

	status, body = f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "u1"}})
	require.Equal(t, 409, status, "a draft takes no entrants: %v", body)

	status, pub := f.api(t, "POST", "/api/journeys/"+id+"/publish", nil)
	require.Equal(t, 200, status, "%v", pub)
	require.EqualValues(t, 1, pub["version"])

	// The customer exists with attributes the template uses.
	_, err = f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: f.ws.ID, MessageID: "m1", Type: "identify", Name: "Identify",
		UserID: "u1", Traits: map[string]any{"first_name": "Ada", "email": "ada@example.com", "phone": "+15555550100"}, OccurredAt: time.Now()})
	require.NoError(t, err)

	status, entered := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "u1"},
		"properties": map[string]any{"plan": "pro"}})
	require.Equal(t, 200, status, "%v", entered)
	require.Equal(t, true, entered["entered"])
	wfID := entered["workflow_id"].(string)
	require.Equal(t, workflows.WorkflowID(id, entered["customer_id"].(string), ""), wfID)

	// The welcome email is rendered and recorded in the outbox.
	var delivery map[string]any
	require.Eventually(t, func() bool {
		_, out := f.api(t, "GET", "/api/deliveries?journey_id="+id, nil)
		items, _ := out["items"].([]any)
		if len(items) == 1 {
			delivery = items[0].(map[string]any)
			return delivery["status"] == "sent"
		}
		return false
	}, 20*time.Second, 100*time.Millisecond)
	content := delivery["content"].(map[string]any)
	require.Equal(t, "Welcome, Ada!", content["subject"])
	require.Contains(t, content["html"], "plan pro")
	require.Equal(t, "ada@example.com", delivery["recipient"])
	require.Len(t, delivery["history"], 2)
	for _, who := range []string{"u1", entered["customer_id"].(string)} {
		_, byCustomer := f.api(t, "GET", "/api/deliveries?customer_id="+who, nil)
		require.Len(t, byCustomer["items"], 1, "deliveries by the customer's user id or id (%s)", who)
	}
	_, byCustomer := f.api(t, "GET", "/api/deliveries?customer_id=nobody", nil)
	require.Empty(t, byCustomer["items"])
	status, bad = f.api(t, "GET", "/api/journeys/"+id+"/runs?status=bogus", nil)
	require.Equal(t, 400, status, "%v", bad)
	require.Equal(t, "status", bad["field"])

	// The run waits for Activated; its state comes from the workflow query.
	require.Eventually(t, func() bool {
		_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
		st, _ := run["state"].(map[string]any)
		return st != nil && st["node"] == "wait"
	}, 20*time.Second, 100*time.Millisecond)
	_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
	require.Contains(t, run["temporal_ui_url"], "/namespaces/")
	require.Contains(t, run["temporal_ui_url"], "journey%2F"+id)

	// Entry policy once: a second trigger does not start a second run.
	status, again := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "u1"}})
	require.Equal(t, 200, status)
	require.Equal(t, wfID, again["workflow_id"], "the running run takes the event")
	require.Equal(t, false, again["entered"], "an event for the run in progress, not an entry: %v", again)
	require.Contains(t, again["reason"], "in progress")
	other, err := f.store.EnsureCustomer(ctx, f.ws.ID, "someone-else")
	require.NoError(t, err)
	status, both := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "u1", "id": other.ID}})
	require.Equal(t, 400, status, "user_id and id of two customers: %v", both)
	require.Equal(t, "customer", both["field"])
	status, both = f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "u1", "id": entered["customer_id"]}})
	require.Equal(t, 200, status, "the same customer both ways: %v", both)

	// Activated ends the wait and counts a conversion.
	cust, err := f.store.FindCustomer(ctx, f.ws.ID, "u1")
	require.NoError(t, err)
	router := ingest.NewJourneyRouter(f.store, f.temporal, nil, nil)
	ts := time.Now().UTC()
	require.NoError(t, router.Route(ctx, []ingest.Applied{{CustomerID: cust.ID, Event: ingest.Event{
		Type: "track", Event: "Activated", MessageID: "act-1", UserID: "u1", WorkspaceID: f.ws.ID, Timestamp: &ts}}}))
	require.Eventually(t, func() bool {
		_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
		return run["status"] == "completed"
	}, 20*time.Second, 100*time.Millisecond)
	_, run = f.api(t, "GET", "/api/runs/"+wfID, nil)
	var path []string
	for _, p := range run["path"].([]any) {
		path = append(path, p.(map[string]any)["node"].(string))
	}
	require.Equal(t, []string{"welcome", "wait", "done"}, path)

	if *recordHistories {
		saveHistory(t, f.temporal, wfID, "../workflows/testdata/histories/welcome_activated.json")
	}

	status, stats := f.api(t, "GET", "/api/journeys/"+id+"/stats", nil)
	require.Equal(t, 200, status)
	require.EqualValues(t, 1, stats["conversions"])
	nodes := stats["nodes"].(map[string]any)
	require.EqualValues(t, 1, nodes["welcome"].(map[string]any)["passed"])
	require.EqualValues(t, 1, nodes["wait"].(map[string]any)["passed"])
	require.Nil(t, nodes["sms"])
	require.EqualValues(t, 1, stats["sends"].(map[string]any)["welcome"].(map[string]any)["sent"])
	require.EqualValues(t, 1, stats["funnel"].(map[string]any)["welcome"].(map[string]any)["sent"])
	require.EqualValues(t, 1, stats["template_funnel"].(map[string]any)[email["id"].(string)].(map[string]any)["sent"])
	require.EqualValues(t, 1, stats["funnel_total"].(map[string]any)["sent"])

	// Once means once: after completion the customer does not enter again.
	status, third := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "u1"}})
	require.Equal(t, 200, status)
	require.Equal(t, false, third["entered"])

	// Lifecycle and its audit trail.
	status, out := f.api(t, "POST", "/api/journeys/"+id+"/resume", nil)
	require.Equal(t, 200, status, "resuming an active journey tells its running runs again: %v", out)
	require.EqualValues(t, 0, out["runs_affected"], "none is running")
	for _, step := range []struct{ action, status string }{{"pause", "paused"}, {"resume", "active"}, {"stop", "stopped"}, {"archive", "archived"}} {
		status, out := f.api(t, "POST", "/api/journeys/"+id+"/"+step.action, nil)
		require.Equal(t, 200, status, "%s: %v", step.action, out)
		require.Equal(t, step.status, out["status"])
	}
	status, _ = f.api(t, "PUT", "/api/journeys/"+id, welcomeJourney(email["id"].(string), sms["id"].(string)))
	require.Equal(t, 409, status, "an archived journey is frozen")
	_, audit := f.api(t, "GET", "/api/journeys/"+id+"/audit", nil)
	var actions []string
	for _, e := range audit["items"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	require.Equal(t, []string{"create", "publish", "resume", "pause", "resume", "stop", "archive"}, actions)
	pagedActions := func(query string) []string {
		var actions []string
		for cursor := ""; ; {
			status, page := f.api(t, "GET", "/api/journeys/"+id+"/audit?limit=4&"+query+"&cursor="+cursor, nil)
			require.Equal(t, 200, status, "%v", page)
			for _, e := range page["items"].([]any) {
				actions = append(actions, e.(map[string]any)["action"].(string))
			}
			if cursor, _ = page["next_cursor"].(string); cursor == "" {
				return actions
			}
		}
	}
	require.Equal(t, actions, pagedActions(""), "pages of 4 and 3")
	require.Equal(t, []string{"archive", "stop", "resume", "pause", "resume", "publish", "create"}, pagedActions("order=newest"),
		"newest first, pages of 4 and 3")
	status, bad = f.api(t, "GET", "/api/journeys/"+id+"/audit?order=sideways", nil)
	require.Equal(t, 400, status, "%v", bad)
	require.Equal(t, "order", bad["field"], "%v", bad)
	require.IsType(t, "", audit["items"].([]any)[0].(map[string]any)["id"], "ids are strings")
	status, bad = f.api(t, "GET", "/api/journeys/"+id+"/audit?cursor=first", nil)
	require.Equal(t, 400, status, "%v", bad)
	_, versions := f.api(t, "GET", "/api/journeys/"+id+"/versions", nil)
	require.Len(t, versions["items"], 1)
	_, versions = f.api(t, "GET", "/api/journeys/"+id+"/versions?limit=1", nil)
	require.Len(t, versions["items"], 1)
	require.Equal(t, "1", versions["next_cursor"], "a full page names the version to go on from")
	_, versions = f.api(t, "GET", "/api/journeys/"+id+"/versions?limit=1&cursor=1", nil)
	require.Empty(t, versions["items"])
	for _, q := range []string{"limit=0", "cursor=v1"} {
		status, out := f.api(t, "GET", "/api/journeys/"+id+"/versions?"+q, nil)
		require.Equal(t, 400, status, "%s: %v", q, out)
	}
}

func TestJourneyAndTemplateBadInput(t *testing.T) {
	f := newJourneyFixture(t)
	status, email := f.api(t, "POST", "/api/templates", map[string]any{"name": "E", "channel": "email", "subject": "Hi", "html": "<p>x</p>"})
	require.Equal(t, 201, status)
	tpl := email["id"].(string)
	journey := func(mut func(map[string]any)) map[string]any {
		j := map[string]any{"name": "J", "trigger": map[string]any{"type": "event", "event": "E"}, "entry": map[string]any{"policy": "once"},
			"start": "a", "nodes": []any{
				map[string]any{"id": "a", "type": "send", "channel": "email", "template_id": tpl, "next": "b"},
				map[string]any{"id": "b", "type": "delay", "duration": "1h", "next": "c"},
				map[string]any{"id": "c", "type": "exit"}}}
		if mut != nil {
			mut(j)
		}
		return j
	}
	node := func(j map[string]any, i int) map[string]any { return j["nodes"].([]any)[i].(map[string]any) }
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		want   string
	}{
		{"bad template channel", "POST", "/api/templates", map[string]any{"name": "x", "channel": "fax"}, 400, "channel must be"},
		{"email without subject", "POST", "/api/templates", map[string]any{"name": "x", "channel": "email", "html": "x"}, 400, "subject is required"},
		{"bad liquid", "POST", "/api/templates", map[string]any{"name": "x", "channel": "sms", "body": "{% if %}"}, 400, "body"},
		{"unknown template field", "POST", "/api/templates", map[string]any{"name": "x", "channel": "sms", "body": "x", "color": "red"}, 400, "unknown field"},
		{"missing template", "GET", "/api/templates/tpl_nope", nil, 404, "not found"},
		{"unknown journey", "GET", "/api/journeys/jny_nope", nil, 404, "not found"},
		{"unknown journey publish", "POST", "/api/journeys/jny_nope/publish", nil, 404, "not found"},
		{"journey bad json", "POST", "/api/journeys", `{"name":`, 400, "not valid JSON"},
		{"journey unknown field", "POST", "/api/journeys", `{"name":"x","colour":1}`, 400, "unknown field"},
		{"bad duration", "POST", "/api/journeys", journey(func(j map[string]any) { node(j, 1)["duration"] = "soon" }), 422, "b"},
		{"unknown template in send", "POST", "/api/journeys", journey(func(j map[string]any) { node(j, 0)["template_id"] = "tpl_x" }), 422, "tpl_x"},
		{"channel mismatch", "POST", "/api/journeys", journey(func(j map[string]any) { node(j, 0)["channel"] = "sms" }), 422, "a"},
		{"next missing", "POST", "/api/journeys", journey(func(j map[string]any) { node(j, 1)["next"] = "zzz" }), 422, "zzz"},
		{"cycle without wait", "POST", "/api/journeys", journey(func(j map[string]any) {
			j["nodes"] = []any{
				map[string]any{"id": "a", "type": "send", "channel": "email", "template_id": tpl, "next": "b"},
				map[string]any{"id": "b", "type": "jump", "to": "a"}}
		}), 422, "loops back without a delay"},
		{"segment trigger on an unknown segment", "POST", "/api/journeys", journey(func(j map[string]any) {
			j["trigger"] = map[string]any{"type": "segment", "segment_id": "seg_1"}
		}), 422, "trigger.segment_id: segment seg_1 does not exist"},
		{"schedule trigger on an unknown segment", "POST", "/api/journeys", journey(func(j map[string]any) {
			j["trigger"] = map[string]any{"type": "schedule", "cron": "0 9 * * *", "segment_id": "seg_2"}
		}), 422, "trigger.segment_id: segment seg_2 does not exist"},
		{"schedule trigger with a bad cron", "POST", "/api/journeys", journey(func(j map[string]any) {
			j["trigger"] = map[string]any{"type": "schedule", "cron": "every day", "segment_id": "seg_2"}
		}), 422, "trigger.cron"},
		{"branch on an unknown segment", "POST", "/api/journeys", journey(func(j map[string]any) {
			j["nodes"] = []any{
				map[string]any{"id": "a", "type": "branch", "branches": []any{map[string]any{"when": map[string]any{"segment": "seg_nope"}, "next": "b"}}, "else": "b"},
				map[string]any{"id": "b", "type": "exit"}}
			j["start"] = "a"
		}), 422, "segment seg_nope does not exist"},
		{"unknown field of a node", "POST", "/api/journeys", journey(func(j map[string]any) { node(j, 1)["tempalte_id"] = "x" }), 400, `node "b": unknown field "tempalte_id"`},
		{"unknown field inside a node's branch", "POST", "/api/journeys", journey(func(j map[string]any) {
			j["nodes"] = []any{
				map[string]any{"id": "a", "type": "branch", "branches": []any{
					map[string]any{"when": map[string]any{"segment": "seg_nope"}, "next": "b"},
					map[string]any{"when": map[string]any{"segment": "seg_nope"}, "nxt": "b"}}, "else": "b"},
				map[string]any{"id": "b", "type": "exit"}}
			j["start"] = "a"
		}), 400, `node "a": unknown field "branches[1].nxt"`},
		{"wrong type in a node", "POST", "/api/journeys", journey(func(j map[string]any) { node(j, 1)["duration"] = 5 }), 400, `node "b": field "duration" must be a string`},
		{"bad limit", "GET", "/api/journeys?limit=5000", nil, 400, "limit"},
		{"run of another workspace", "GET", "/api/runs/journey/x/customer/y", nil, 404, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.api(t, tc.method, tc.path, tc.body)
			require.Equal(t, tc.status, status, "%v", body)
			require.Contains(t, strings.ToLower(fmt.Sprint(body)), strings.ToLower(tc.want))
		})
	}
	list, err := f.store.ListJourneys(context.Background(), f.ws.ID, 10, "")
	require.NoError(t, err)
	require.Empty(t, list, "no bad journey was stored")
}

// TestJourneyDefinitionAsDocumented: openapi.json's JourneyDefinition
// lists as required what the server refuses a definition without, and
// entry.policy's values are the ones it takes.
func TestJourneyDefinitionAsDocumented(t *testing.T) {
	f := newFixture(t)
	type object struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Required   []string `json:"required"`
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"properties"`
	}
	var doc struct {
		Components struct {
			Schemas map[string]object `json:"schemas"`
		} `json:"components"`
	}
	f.openAPI(t, &doc)
	def := doc.Components.Schemas["JourneyDefinition"]
	require.ElementsMatch(t, []string{"name", "trigger", "entry", "start", "nodes"}, def.Required)
	require.Equal(t, []string{"policy"}, def.Properties["entry"].Required)
	policies := def.Properties["entry"].Properties["policy"].Enum
	require.Equal(t, []string{"once", "every_time", "once_per"}, policies)

	journey := func() map[string]any {
		return map[string]any{"name": "J", "trigger": map[string]any{"type": "api"}, "entry": map[string]any{"policy": "once"},
			"start": "d", "nodes": []any{map[string]any{"id": "d", "type": "exit"}}}
	}
	post := func(body map[string]any) (int, map[string]any) {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		status, out, _ := f.do(t, call{"POST", "/api/journeys", string(b), bearer(f.secretKey)})
		return status, out
	}
	for _, field := range def.Required {
		j := journey()
		delete(j, field)
		status, out := post(j)
		require.Contains(t, []int{400, 422}, status, "without %s: %v", field, out)
		require.Contains(t, fmt.Sprint(out), field, "without %s", field)
	}
	j := journey()
	j["entry"] = map[string]any{}
	status, out := post(j)
	require.Equal(t, 422, status, "%v", out)
	require.Contains(t, fmt.Sprint(out), "entry.policy")
	for _, policy := range policies {
		j := journey()
		j["entry"] = map[string]any{"policy": policy, "period": map[bool]string{true: "30d"}[policy == "once_per"]}
		status, out := post(j)
		require.Equal(t, 201, status, "%s: %v", policy, out)
	}
}
