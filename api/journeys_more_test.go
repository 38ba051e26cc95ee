package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/dynamicconfig"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows/temporalserver"
)

func TestTemplatePreviewAndTestSend(t *testing.T) {
	f := newJourneyFixture(t)
	ctx := context.Background()
	status, tpl := f.api(t, "POST", "/api/templates", map[string]any{"name": "Hi", "channel": "email",
		"subject": "Hi {{ customer.first_name }}", "html": "<p>{{ customer.plan | default: 'free' }} {{ unsubscribe_url }}</p>"})
	require.Equal(t, 201, status, "%v", tpl)
	id := tpl["id"].(string)

	status, out := f.api(t, "POST", "/api/templates/"+id+"/preview", map[string]any{})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, "Hi Sam", out["rendered"].(map[string]any)["subject"], "a sample customer without customer_id")

	_, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: f.ws.ID, MessageID: "i1", Type: "identify", Name: "Identify",
		UserID: "grace", Traits: map[string]any{"first_name": "Grace", "email": "grace@example.com"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	status, out = f.api(t, "POST", "/api/templates/"+id+"/preview", map[string]any{"customer_id": "grace"})
	require.Equal(t, 200, status, "%v", out)
	rendered := out["rendered"].(map[string]any)
	require.Equal(t, "Hi Grace", rendered["subject"])
	require.Contains(t, rendered["html"], "free")
	require.Contains(t, rendered["html"], "/t/u/")

	// A missing variable is an error, not a blank.
	status, tpl2 := f.api(t, "POST", "/api/templates", map[string]any{"name": "Bad", "channel": "sms", "body": "{{ customer.nickname }}"})
	require.Equal(t, 201, status)
	status, out = f.api(t, "POST", "/api/templates/"+tpl2["id"].(string)+"/preview", map[string]any{"customer_id": "grace"})
	require.Equal(t, 422, status)
	require.Contains(t, out["error"], "customer.nickname")
	status, out = f.api(t, "POST", "/api/templates/"+id+"/preview", map[string]any{"customer_id": "nobody"})
	require.Equal(t, 404, status, "%v", out)

	// Unsaved content renders the same way, errors included.
	status, out = f.api(t, "POST", "/api/templates/preview", map[string]any{"customer_id": "grace",
		"template": map[string]any{"channel": "email", "subject": "Draft for {{ customer.first_name }}", "html": "<b>x</b>"}})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, "Draft for Grace", out["rendered"].(map[string]any)["subject"])
	status, out = f.api(t, "POST", "/api/templates/preview", map[string]any{"template": map[string]any{"channel": "sms", "body": "{{ customer.nickname }}"}})
	require.Equal(t, 422, status, "%v", out)
	require.Contains(t, out["error"], "customer.nickname")
	status, out = f.api(t, "POST", "/api/templates/preview", map[string]any{"template": map[string]any{"channel": "fax"}})
	require.Equal(t, 400, status, "%v", out)
	require.Equal(t, "template.channel", out["field"])

	status, out = f.api(t, "POST", "/api/templates/"+id+"/test", map[string]any{"customer_id": "grace"})
	require.Equal(t, 400, status, "to is required: %v", out)
	status, out = f.api(t, "POST", "/api/templates/"+id+"/test", map[string]any{"to": "notanemail", "customer_id": "grace"})
	require.Equal(t, 400, status, "%v", out)
	require.Equal(t, "to", out["field"])
	require.Contains(t, out["error"], "is not an email address")
	status, out = f.api(t, "POST", "/api/templates/"+id+"/test", map[string]any{"to": "qa@example.com", "customer_id": "grace"})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, "qa@example.com", out["recipient"])
	require.Equal(t, "sent", out["status"])
	require.Equal(t, "Hi Grace", out["content"].(map[string]any)["subject"])

	// Update keeps the channel; delete hides it from lists.
	status, _ = f.api(t, "PUT", "/api/templates/"+id, map[string]any{"name": "Hi 2", "channel": "sms", "body": "x"})
	require.Equal(t, 400, status)
	status, upd := f.api(t, "PUT", "/api/templates/"+id, map[string]any{"name": "Hi 2", "subject": "Yo", "html": "<p/>"})
	require.Equal(t, 200, status, "%v", upd)
	require.Equal(t, "email", upd["channel"])
	status, _ = f.api(t, "DELETE", "/api/templates/"+id, nil)
	require.Equal(t, 204, status)
	status, _ = f.api(t, "GET", "/api/templates/"+id, nil)
	require.Equal(t, 404, status)
}

// TestTemplateTestSendForTheSampleCustomer: without customer_id (the web
// app's default) a test send renders for the sample customer, who has no
// row, and is recorded and listed all the same (DESIGN §7).
func TestTemplateTestSendForTheSampleCustomer(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	status, tpl, _ := f.do(t, call{"POST", "/api/templates", `{"name":"Hi","channel":"email","subject":"Hi {{ customer.first_name }}","html":"<p>x</p>"}`, sk})
	require.Equal(t, 201, status, "%v", tpl)
	id := tpl["id"].(string)
	status, out, _ := f.do(t, call{"POST", "/api/templates/" + id + "/test", `{"to":"qa@example.com"}`, sk})
	require.Equal(t, 200, status, "test send for the sample customer: %v", out)
	require.Equal(t, "qa@example.com", out["recipient"])
	require.Equal(t, "sent", out["status"])
	require.Equal(t, "Hi Sam", out["content"].(map[string]any)["subject"])
	require.Equal(t, schema.SampleCustomerID, out["customer_id"])
	status, list, _ := f.do(t, call{"GET", "/api/deliveries?customer_id=" + schema.SampleCustomerID, "", sk})
	require.Equal(t, 200, status, "%v", list)
	require.Len(t, list["items"], 1)
	require.Equal(t, out["id"], list["items"].([]any)[0].(map[string]any)["id"])
}

// TestDeliveriesStatusFilterIsChecked: ?status= takes the statuses a
// delivery can hold, those openapi.json lists; any other value is refused
// naming status, not answered with an empty list.
func TestDeliveriesStatusFilterIsChecked(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	status, tpl, _ := f.do(t, call{"POST", "/api/templates", `{"name":"Hi","channel":"sms","body":"Hi"}`, sk})
	require.Equal(t, 201, status, "%v", tpl)
	status, sent, _ := f.do(t, call{"POST", "/api/templates/" + tpl["id"].(string) + "/test", `{"to":"+15555550100"}`, sk})
	require.Equal(t, 200, status, "%v", sent)

	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `json:"name"`
				Schema struct {
					Enum []string `json:"enum"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	f.openAPI(t, &doc)
	var documented []string
	for _, p := range doc.Paths["/api/deliveries"]["get"].Parameters {
		if p.Name == "status" {
			documented = p.Schema.Enum
		}
	}
	require.Equal(t, schema.DeliveryStatuses(), documented, "openapi.json lists the statuses")
	for _, st := range documented {
		status, out, _ := f.do(t, call{"GET", "/api/deliveries?status=" + st, "", sk})
		require.Equal(t, 200, status, "%s: %v", st, out)
		if st == schema.DeliverySent {
			require.Len(t, out["items"], 1)
			require.Equal(t, sent["id"], out["items"].([]any)[0].(map[string]any)["id"])
		} else {
			require.Empty(t, out["items"], st)
		}
	}
	for _, bad := range []string{"nope", "SENT", "delayed"} {
		status, out, _ := f.do(t, call{"GET", "/api/deliveries?status=" + bad, "", sk})
		require.Equal(t, 400, status, "%s: %v", bad, out)
		require.Equal(t, "status", out["field"])
		require.Contains(t, out["error"], `"`+bad+`"`)
	}
}

// TestTemplateTestSendForACustomerErasedMeanwhile: the chosen customer is
// erased between the render and the record of a test send. Nothing is
// written for them, and the answer names the customer (404), not a 500.
func TestTemplateTestSendForACustomerErasedMeanwhile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sk := bearer(f.secretKey)
	status, tpl, _ := f.do(t, call{"POST", "/api/templates", `{"name":"Hi","channel":"email","subject":"Hi {{ customer.first_name }}","html":"<p>x</p>"}`, sk})
	require.Equal(t, 201, status, "%v", tpl)
	_, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: f.ws.ID, MessageID: "i1", Type: "identify", Name: "Identify",
		UserID: "grace", Traits: map[string]any{"first_name": "Grace"}, OccurredAt: time.Now()})
	require.NoError(t, err)

	// The erasure's delete is written but not committed: the test send
	// still sees Grace, renders for her, and waits at the record.
	tx, err := f.store.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `DELETE FROM customers WHERE workspace_id = $1 AND external_id = 'grace'`, f.ws.ID)
	require.NoError(t, err)
	type answer struct {
		status int
		body   map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		status, out, _ := f.do(t, call{"POST", "/api/templates/" + tpl["id"].(string) + "/test", `{"to":"qa@example.com","customer_id":"grace"}`, sk})
		done <- answer{status, out}
	}()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, f.store.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
		return n > 0
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, tx.Commit(ctx))

	got := <-done
	require.Equal(t, 404, got.status, "%v", got.body)
	require.Equal(t, "customer_id", got.body["field"])
	require.Contains(t, got.body["error"], "grace")
	var n int
	require.NoError(t, f.store.Pool().QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE workspace_id = $1`, f.ws.ID).Scan(&n))
	require.Zero(t, n, "nothing is recorded for an erased customer")
}

// TestTriggerWithoutTheEntryKeyIsRefused: a keyed journey (entry.key)
// triggered without the key, or with an empty one, has no run to enter.
// The answer names the missing property, and no customer is created.
func TestTriggerWithoutTheEntryKeyIsRefused(t *testing.T) {
	f := newJourneyFixture(t)
	status, j := f.api(t, "POST", "/api/journeys", map[string]any{"name": "Orders", "trigger": map[string]any{"type": "api"},
		"entry": map[string]any{"policy": "every_time", "key": "properties.order_id"}, "start": "d",
		"nodes": []any{map[string]any{"id": "d", "type": "exit"}}})
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, out := f.api(t, "POST", "/api/journeys/"+id+"/publish", nil)
	require.Equal(t, 200, status, "%v", out)
	for _, props := range []map[string]any{nil, {"total": 5}, {"order_id": ""}, {"order_id": nil}} {
		status, out = f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "new-user"},
			"properties": props})
		require.Equal(t, 400, status, "%v: %v", props, out)
		require.Equal(t, "properties.order_id", out["field"])
		require.Contains(t, out["error"], "keyed by properties.order_id")
	}
	status, out = f.api(t, "GET", "/api/customers/new-user", nil)
	require.Equal(t, 404, status, "a refused trigger creates no customer: %v", out)

	status, out = f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "new-user"},
		"properties": map[string]any{"order_id": 42}})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, true, out["entered"], "%v", out)
	require.Contains(t, out["workflow_id"], "/key/42")
}

func TestPauseHoldsRunsAtTheirNextSend(t *testing.T) {
	f := newJourneyFixture(t)
	status, sms := f.api(t, "POST", "/api/templates", map[string]any{"name": "S", "channel": "sms", "body": "hello"})
	require.Equal(t, 201, status)
	status, j := f.api(t, "POST", "/api/journeys", map[string]any{
		"name": "Held", "trigger": map[string]any{"type": "api"}, "entry": map[string]any{"policy": "once"}, "start": "wait",
		"nodes": []any{
			map[string]any{"id": "wait", "type": "delay", "duration": "1s", "next": "hello"},
			map[string]any{"id": "hello", "type": "send", "channel": "sms", "template_id": sms["id"], "next": "done"},
			map[string]any{"id": "done", "type": "exit"},
		}})
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	wfID := f.publishAndEnterWithPhone(t, id, "held", "+15555550199")
	status, out := f.api(t, "POST", "/api/journeys/"+id+"/pause", nil)
	require.Equal(t, 200, status, "%v", out)
	require.EqualValues(t, 1, out["runs_affected"])

	// A wrong type is named as JSON, not as a Go type; an id of white space
	// names no one.
	for body, want := range map[string]string{`{"customer":{"user_id":"u"},"properties":5}`: `"properties" must be a JSON object`,
		`{"customer":"u"}`: `"customer" must be a JSON object`, `{"customer":{"user_id":" \t"}}`: "customer.user_id is only white space"} {
		var raw map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &raw))
		status, out := f.api(t, "POST", "/api/journeys/"+id+"/trigger", raw)
		require.Equal(t, 400, status, "%v", out)
		require.Contains(t, out["error"], want)
	}

	// Paused: no new entrants, and the run waits at its send.
	status, _ = f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "other"}})
	require.Equal(t, 409, status)
	require.Eventually(t, func() bool {
		_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
		st, _ := run["state"].(map[string]any)
		w, _ := st["waiting"].(map[string]any)
		return st != nil && st["node"] == "hello" && w != nil && w["kind"] == "paused"
	}, 20*time.Second, 100*time.Millisecond)
	time.Sleep(time.Second)
	_, list := f.api(t, "GET", "/api/deliveries?journey_id="+id, nil)
	require.Empty(t, list["items"], "nothing is sent while paused")
	status, out = f.api(t, "POST", "/api/journeys/"+id+"/pause", nil)
	require.Equal(t, 200, status, "pausing again tells the runs again: %v", out)
	require.EqualValues(t, 1, out["runs_affected"])

	// A resume cut short once it had set the journey active (the process
	// killed, Temporal not answering) left the run held: asking again
	// releases it.
	_, err := f.store.SetJourneyStatus(context.Background(), f.ws.ID, id, []string{schema.JourneyPaused}, schema.JourneyActive)
	require.NoError(t, err)
	status, out = f.api(t, "POST", "/api/journeys/"+id+"/resume", nil)
	require.Equal(t, 200, status, "%v", out)
	require.EqualValues(t, 1, out["runs_affected"])
	require.Eventually(t, func() bool {
		_, list := f.api(t, "GET", "/api/deliveries?journey_id="+id, nil)
		items, _ := list["items"].([]any)
		return len(items) == 1
	}, 30*time.Second, 200*time.Millisecond, "released after resume (with up to 10 s of jitter)")
	if *recordHistories {
		require.Eventually(t, func() bool {
			_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
			return run["status"] == "completed"
		}, 20*time.Second, 100*time.Millisecond)
		saveHistory(t, f.temporal, wfID, "../workflows/testdata/histories/paused_send.json")
	}
}

// longRuns publishes a journey that waits an hour and enters the users;
// it returns the journey id and their runs' workflow ids.
func (f *journeyFixture) longRuns(t *testing.T, users ...string) (string, []string) {
	t.Helper()
	status, j := f.api(t, "POST", "/api/journeys", map[string]any{
		"name": "Long", "trigger": map[string]any{"type": "api"}, "entry": map[string]any{"policy": "once"}, "start": "wait",
		"nodes": []any{
			map[string]any{"id": "wait", "type": "delay", "duration": "1h", "next": "done"},
			map[string]any{"id": "done", "type": "exit"},
		}})
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, _ = f.api(t, "POST", "/api/journeys/"+id+"/publish", nil)
	require.Equal(t, 200, status)
	var wfIDs []string
	for _, u := range users {
		status, entered := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": u}})
		require.Equal(t, 200, status, "%v", entered)
		wfIDs = append(wfIDs, entered["workflow_id"].(string))
	}
	return id, wfIDs
}

// TestStopCancelsRunsWithABatchOperation: stopping a journey cancels its
// running runs through one Temporal batch operation selected by search
// attribute — runs the projection shows as older than the visibility lag
// are left to it alone — and records the job in the audit log.
func TestStopCancelsRunsWithABatchOperation(t *testing.T) {
	f := newJourneyFixture(t)
	ctx := context.Background()
	id, wfIDs := f.longRuns(t, "s1", "s2", "s3")
	// Visibility must list them before the batch can select them.
	require.Eventually(t, func() bool {
		resp, err := f.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: "HeraldJourneyID = '" + id + "' AND ExecutionStatus = 'Running'"})
		return err == nil && resp.Count == 3
	}, 20*time.Second, 100*time.Millisecond)
	_, err := f.store.Pool().Exec(ctx, `UPDATE runs SET started_at = now() - interval '10 minutes' WHERE journey_id = $1`, id)
	require.NoError(t, err)

	status, out := f.api(t, "POST", "/api/journeys/"+id+"/stop", nil)
	require.Equal(t, 200, status, "%v", out)
	require.EqualValues(t, 3, out["runs_affected"])
	job, _ := out["batch_job_id"].(string)
	require.NotEmpty(t, job)
	for _, wf := range wfIDs {
		require.Eventually(t, func() bool {
			d, err := f.temporal.DescribeWorkflowExecution(ctx, wf, "")
			return err == nil && d.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
		}, 30*time.Second, 200*time.Millisecond, "run %s cancelled by the batch (it records that and closes)", wf)
	}
	require.Eventually(t, func() bool {
		_, runs := f.api(t, "GET", "/api/journeys/"+id+"/runs?status=canceled", nil)
		items, _ := runs["items"].([]any)
		return len(items) == 3
	}, 20*time.Second, 100*time.Millisecond, "the projection records the cancellations")
	_, stats := f.api(t, "GET", "/api/journeys/"+id+"/stats", nil)
	wait := stats["nodes"].(map[string]any)["wait"].(map[string]any)
	require.EqualValues(t, 3, wait["entered"], "%v", stats)
	require.EqualValues(t, 0, wait["waiting"], "%v", stats)
	require.EqualValues(t, 0, wait["passed"], "stopped during the delay: left it without passing it; %v", stats)
	desc, err := f.temporal.WorkflowService().DescribeBatchOperation(ctx, &workflowservice.DescribeBatchOperationRequest{
		Namespace: "default", JobId: job})
	require.NoError(t, err)
	require.Contains(t, desc.Reason, id)
	_, audit := f.api(t, "GET", "/api/journeys/"+id+"/audit", nil)
	items := audit["items"].([]any)
	last := items[len(items)-1].(map[string]any)
	require.Equal(t, "stop", last["action"])
	require.Equal(t, job, last["detail"].(map[string]any)["batch_job_id"])
}

// TestStopCancelsRunsOneByOneWhenTheBatchIsRefused: a server that refuses
// the batch operation (its limit of concurrent batches per namespace
// reached) still gets every run cancelled, and stopping a stopped journey
// again answers 200 and cancels whatever still runs.
func TestStopCancelsRunsOneByOneWhenTheBatchIsRefused(t *testing.T) {
	f := newJourneyFixtureOn(t, temporalserver.Options{DynamicConfig: dynamicconfig.StaticClient{
		dynamicconfig.FrontendMaxConcurrentBatchOperationPerNamespace.Key(): 0}})
	ctx := context.Background()
	id, wfIDs := f.longRuns(t, "s1", "s2", "s3")
	// Older than the visibility lag: with a batch they would be left to it.
	_, err := f.store.Pool().Exec(ctx, `UPDATE runs SET started_at = now() - interval '10 minutes' WHERE journey_id = $1`, id)
	require.NoError(t, err)

	status, out := f.api(t, "POST", "/api/journeys/"+id+"/stop", nil)
	require.Equal(t, 200, status, "%v", out)
	require.EqualValues(t, 3, out["runs_affected"])
	require.Empty(t, out["batch_job_id"], "no batch")
	for _, wf := range wfIDs {
		require.Eventually(t, func() bool {
			d, err := f.temporal.DescribeWorkflowExecution(ctx, wf, "")
			return err == nil && d.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
		}, 30*time.Second, 200*time.Millisecond, "run %s cancelled", wf)
	}
	require.Eventually(t, func() bool {
		_, runs := f.api(t, "GET", "/api/journeys/"+id+"/runs?status=running", nil)
		items, _ := runs["items"].([]any)
		return len(items) == 0
	}, 20*time.Second, 100*time.Millisecond, "the projection records the cancellations")

	status, out = f.api(t, "POST", "/api/journeys/"+id+"/stop", nil)
	require.Equal(t, 200, status, "stopping again is allowed: %v", out)
	require.EqualValues(t, 0, out["runs_affected"])
	require.Equal(t, "stopped", out["status"])
}

// TestRunLinksToItsLatestRunInTheTemporalUI: a run that continued as new
// while it waits (events kept coming) links to the latest run of its chain
// in the Temporal UI; the projection keeps the first run's id.
func TestRunLinksToItsLatestRunInTheTemporalUI(t *testing.T) {
	f := newJourneyFixtureOn(t, temporalserver.Options{DynamicConfig: dynamicconfig.StaticClient{
		dynamicconfig.HistoryCountSuggestContinueAsNew.Key(): 16}})
	ctx := context.Background()
	id, wfIDs := f.longRuns(t, "waiter")
	wf := wfIDs[0]
	_, run := f.api(t, "GET", "/api/runs/"+wf, nil)
	first, _ := run["run_id"].(string)
	require.NotEmpty(t, first, "%v", run)
	require.True(t, strings.HasSuffix(run["temporal_ui_url"].(string), "/"+first+"/history"), "%v", run["temporal_ui_url"])

	// The customer's triggers go to the waiting run as events.
	latest := first
	require.Eventually(t, func() bool {
		status, _ := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "waiter"}})
		require.Equal(t, 200, status)
		d, err := f.temporal.DescribeWorkflowExecution(ctx, wf, "")
		require.NoError(t, err)
		latest = d.WorkflowExecutionInfo.Execution.RunId
		return latest != first
	}, 30*time.Second, 50*time.Millisecond, "the run continued as new")
	_, run = f.api(t, "GET", "/api/runs/"+wf, nil)
	require.Equal(t, first, run["run_id"])
	require.True(t, strings.HasSuffix(run["temporal_ui_url"].(string), "/"+latest+"/history"), "%v", run["temporal_ui_url"])
}

// TestBranchOnSegmentMembership: a branch on a manual segment sends a
// member down one path and everyone else down the other, answered from the
// segment's members at the moment of the branch.
func TestBranchOnSegmentMembership(t *testing.T) {
	f := newJourneyFixture(t)
	ctx := context.Background()
	status, sms := f.api(t, "POST", "/api/templates", map[string]any{"name": "S", "channel": "sms", "body": "hi"})
	require.Equal(t, 201, status)
	status, seg := f.api(t, "POST", "/api/segments", map[string]any{"name": "VIP", "kind": "manual"})
	require.Equal(t, 201, status, "%v", seg)
	for _, u := range []string{"vip", "regular"} {
		c, err := f.store.EnsureCustomer(ctx, f.ws.ID, u)
		require.NoError(t, err)
		require.NoError(t, f.store.UpdateCustomerAttributes(ctx, f.ws.ID, c.ID, map[string]any{"phone": "+15555550111"}, nil))
	}
	status, out := f.api(t, "POST", "/api/segments/"+seg["id"].(string)+"/members", map[string]any{"customer_ids": []string{"vip"}})
	require.Equal(t, 200, status, "%v", out)
	status, j := f.api(t, "POST", "/api/journeys", map[string]any{
		"name": "Tiered", "trigger": map[string]any{"type": "api"}, "entry": map[string]any{"policy": "once"}, "start": "tier",
		"nodes": []any{
			map[string]any{"id": "tier", "type": "branch", "branches": []any{
				map[string]any{"when": map[string]any{"segment": seg["id"]}, "next": "vip_msg"}}, "else": "std_msg"},
			map[string]any{"id": "vip_msg", "type": "send", "channel": "sms", "template_id": sms["id"], "next": "done"},
			map[string]any{"id": "std_msg", "type": "send", "channel": "sms", "template_id": sms["id"], "next": "done"},
			map[string]any{"id": "done", "type": "exit"},
		}})
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, _ = f.api(t, "POST", "/api/journeys/"+id+"/publish", nil)
	require.Equal(t, 200, status)
	for _, u := range []string{"vip", "regular"} {
		status, out := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": u}})
		require.Equal(t, 200, status, "%v", out)
	}
	nodes := map[string]string{}
	require.Eventually(t, func() bool {
		_, list := f.api(t, "GET", "/api/deliveries?journey_id="+id, nil)
		items, _ := list["items"].([]any)
		for _, it := range items {
			d := it.(map[string]any)
			c, err := f.store.GetCustomer(ctx, f.ws.ID, d["customer_id"].(string))
			require.NoError(t, err)
			nodes[*c.ExternalID] = d["node_id"].(string)
		}
		return len(items) == 2
	}, 20*time.Second, 100*time.Millisecond)
	require.Equal(t, map[string]string{"vip": "vip_msg", "regular": "std_msg"}, nodes)
}

// TestRunThatLoopsWithoutWaitingEnds: a cycle's delay until an attribute
// the customer lacks waits nothing; the run comes round to the delay again
// without having waited and ends there, exited with the reason, after one
// send — on the real server, as the runs API shows it.
func TestRunThatLoopsWithoutWaitingEnds(t *testing.T) {
	f := newJourneyFixture(t)
	ctx := context.Background()
	status, sms := f.api(t, "POST", "/api/templates", map[string]any{"name": "S", "channel": "sms", "body": "renew"})
	require.Equal(t, 201, status)
	status, j := f.api(t, "POST", "/api/journeys", map[string]any{
		"name": "Renewal", "trigger": map[string]any{"type": "api"}, "entry": map[string]any{"policy": "once"}, "start": "hold",
		"nodes": []any{
			map[string]any{"id": "hold", "type": "delay", "until": "renews_at", "next": "remind"},
			map[string]any{"id": "remind", "type": "send", "channel": "sms", "template_id": sms["id"], "next": "again"},
			map[string]any{"id": "again", "type": "jump", "to": "hold"},
		}})
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	wfID := f.publishAndEnterWithPhone(t, id, "lapsed", "+15555550123")
	require.NoError(t, f.temporal.GetWorkflow(ctx, wfID, "").Get(ctx, nil))
	_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
	require.Equal(t, "exited", run["status"], "%v", run)
	require.Contains(t, run["end_reason"], "node hold came round again without a wait")
	_, list := f.api(t, "GET", "/api/deliveries?journey_id="+id, nil)
	require.Len(t, list["items"], 1, "one reminder, not one per turn")
	if *recordHistories {
		saveHistory(t, f.temporal, wfID, "../workflows/testdata/histories/loop_without_wait.json")
	}
}

// publishAndEnterWithPhone publishes journey id and enters user (created
// with a phone number for SMS sends) through the trigger API; it returns
// the run's workflow id.
func (f *journeyFixture) publishAndEnterWithPhone(t *testing.T, id, user, phone string) string {
	t.Helper()
	ctx := context.Background()
	status, _ := f.api(t, "POST", "/api/journeys/"+id+"/publish", nil)
	require.Equal(t, 200, status)
	_, err := f.store.EnsureCustomer(ctx, f.ws.ID, user)
	require.NoError(t, err)
	c, err := f.store.FindCustomer(ctx, f.ws.ID, user)
	require.NoError(t, err)
	require.NoError(t, f.store.UpdateCustomerAttributes(ctx, f.ws.ID, c.ID, map[string]any{"phone": phone}, nil))
	status, entered := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": user}})
	require.Equal(t, 200, status, "%v", entered)
	return entered["workflow_id"].(string)
}
