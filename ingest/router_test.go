package ingest_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/common/dynamicconfig"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
	"github.com/heraldhq/herald/workflows"
	"github.com/heraldhq/herald/workflows/temporalserver"
)

type routerEnv struct {
	store    *schema.Store
	router   *ingest.JourneyRouter
	temporal client.Client
	worker   worker.Worker
	// audienceWorker runs enrollments and the segment refresh.
	audienceWorker worker.Worker
	ws             string
	tpl            string
}

// newRouterEnv starts Temporal (with dc over its dynamic configuration),
// Postgres, a router and a worker.
func newRouterEnv(t *testing.T, dc ...dynamicconfig.StaticClient) *routerEnv {
	t.Helper()
	ctx := context.Background()
	opts := temporalserver.Options{SearchAttributes: workflows.SearchAttributeTypes()}
	if len(dc) > 0 {
		opts.DynamicConfig = dc[0]
	}
	ts, err := temporalserver.Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ts.Stop() })
	tc, err := client.Dial(client.Options{HostPort: ts.HostPort(), Namespace: ts.Namespace()})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	st := schematest.Store(t)
	e := &routerEnv{store: st, router: ingest.NewJourneyRouter(st, tc, nil, nil), temporal: tc}
	e.worker = e.startWorker(t)
	ws, err := st.CreateWorkspace(ctx, "R")
	require.NoError(t, err)
	tpl, err := st.CreateTemplate(ctx, ws.ID, schema.Template{Name: "t", Channel: "sms", TemplateContent: schema.TemplateContent{Body: "hi"}})
	require.NoError(t, err)
	e.ws, e.tpl = ws.ID, tpl.ID
	return e
}

// startWorker runs Herald's workflows and activities, enrollment and
// segment refresh included.
func (e *routerEnv) startWorker(t *testing.T) worker.Worker {
	t.Helper()
	w := worker.New(e.temporal, workflows.TaskQueue, worker.Options{})
	workflows.Register(w)
	activities.Register(w, activities.New(activities.Deps{Store: e.store}))
	audiences := ingest.NewAudiences(e.store, e.router)
	audiences.CapWait = 100 * time.Millisecond
	audiences.Register(w)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	aw := worker.New(e.temporal, workflows.AudienceTaskQueue, worker.Options{})
	workflows.RegisterAudiences(aw)
	audiences.Register(aw)
	require.NoError(t, aw.Start())
	t.Cleanup(aw.Stop)
	e.audienceWorker = aw
	return w
}

// publish creates and publishes a journey: send, wait hold, exit.
func (e *routerEnv) publish(t *testing.T, event string, entry workflows.Entry, hold string) string {
	t.Helper()
	def := workflows.Journey{Name: event, Trigger: workflows.Trigger{Type: "event", Event: event}, Entry: entry, Start: "send",
		Nodes: []workflows.Node{
			{ID: "send", Type: "send", Channel: "sms", TemplateID: e.tpl, Next: "hold"},
			{ID: "hold", Type: "delay", Duration: hold, Next: "done"},
			{ID: "done", Type: "exit"},
		}}
	return e.publishDef(t, def)
}

// send applies and routes one event for user.
func (e *routerEnv) send(t *testing.T, user, event, msgID string, props map[string]any) {
	t.Helper()
	ctx := context.Background()
	raw, _ := json.Marshal(props)
	ts := time.Now().UTC()
	applied, err := e.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: e.ws, MessageID: msgID, Type: "track", Name: event,
		UserID: user, Properties: raw, OccurredAt: ts})
	require.NoError(t, err)
	if _, err := e.store.GetCustomer(ctx, e.ws, applied.CustomerID); err == nil {
		// give the customer a phone so sends go out
		_ = e.store.UpdateCustomerAttributes(ctx, e.ws, applied.CustomerID, map[string]any{"phone": "+15555550100"}, nil)
	}
	require.NoError(t, e.router.Route(ctx, []ingest.Applied{{CustomerID: applied.CustomerID, Duplicate: applied.Duplicate,
		Event: ingest.Event{Type: "track", Event: event, MessageID: msgID, UserID: user, WorkspaceID: e.ws, Properties: raw, Timestamp: &ts}}}))
}

// apply stores an event (identify and alias merge as ingest does) and
// routes it with what the store did.
func (e *routerEnv) apply(t *testing.T, in schema.EventInput) schema.AppliedEvent {
	t.Helper()
	ctx := context.Background()
	in.WorkspaceID, in.OccurredAt = e.ws, time.Now().UTC()
	res, err := e.store.ApplyEvent(ctx, in)
	require.NoError(t, err)
	ts := in.OccurredAt
	require.NoError(t, e.router.Route(ctx, []ingest.Applied{{CustomerID: res.CustomerID, MergedFrom: res.MergedFrom,
		Event: ingest.Event{Type: in.Type, Event: in.Name, MessageID: in.MessageID, UserID: in.UserID, AnonymousID: in.AnonymousID,
			WorkspaceID: e.ws, Timestamp: &ts}}}))
	return res
}

func (e *routerEnv) runs(t *testing.T, journeyID string) []schema.Run {
	t.Helper()
	runs, err := e.store.ListRuns(context.Background(), e.ws, journeyID, "", "", 1000, nil)
	require.NoError(t, err)
	return runs
}

// onlyRun is the journey's one run.
func (e *routerEnv) onlyRun(t *testing.T, journeyID string) schema.Run {
	t.Helper()
	runs := e.runs(t, journeyID)
	require.Len(t, runs, 1)
	return runs[0]
}

func (e *routerEnv) waitDone(t *testing.T, journeyID string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		done := 0
		for _, r := range e.runs(t, journeyID) {
			if r.Status == schema.RunCompleted {
				done++
			}
		}
		return done == n
	}, 30*time.Second, 50*time.Millisecond)
}

func TestEntryPolicies(t *testing.T) {
	e := newRouterEnv(t)

	once := e.publish(t, "Once", workflows.Entry{Policy: "once"}, "1s")
	e.send(t, "u1", "Once", "o1", nil)
	e.send(t, "u1", "Once", "o1", nil) // redelivered: nothing new
	e.send(t, "u1", "Once", "o2", nil) // while running: signalled, not a second run
	e.waitDone(t, once, 1)
	e.send(t, "u1", "Once", "o3", nil) // after completion: once means once
	require.Len(t, e.runs(t, once), 1)

	every := e.publish(t, "Every", workflows.Entry{Policy: "every_time"}, "1s")
	e.send(t, "u1", "Every", "e1", nil)
	e.send(t, "u1", "Every", "e2", nil) // one running per customer
	e.waitDone(t, every, 1)
	e.send(t, "u1", "Every", "e3", nil)
	e.waitDone(t, every, 2)
	// A producer's retry, or a batch delivered again after a rebalance,
	// once its run has ended: no second run for the same event.
	e.send(t, "u1", "Every", "e3", nil)
	e.send(t, "u1", "Every", "e1", nil)
	require.Len(t, e.runs(t, every), 2, "redelivered events start nothing")
	// Also before the run projection has the run (the router's record
	// lost with a crash): the run's own start in Temporal tells.
	_, err := e.store.Pool().Exec(context.Background(), `DELETE FROM runs WHERE journey_id = $1 AND trigger_event_id = 'e3'`, every)
	require.NoError(t, err)
	e.send(t, "u1", "Every", "e3", nil)
	require.Len(t, e.runs(t, every), 1, "e3 started nothing new")
	e.send(t, "u1", "Every", "e4", nil)
	e.waitDone(t, every, 2)

	per := e.publish(t, "Per", workflows.Entry{Policy: "once_per", Period: "1h"}, "1s")
	e.send(t, "u1", "Per", "p1", nil)
	e.waitDone(t, per, 1)
	e.send(t, "u1", "Per", "p2", nil)
	require.Len(t, e.runs(t, per), 1, "within the period")

	keyed := e.publish(t, "Order", workflows.Entry{Policy: "every_time", Key: "properties.order_id"}, "2s")
	e.send(t, "u1", "Order", "k1", map[string]any{"order_id": "A"})
	e.send(t, "u1", "Order", "k2", map[string]any{"order_id": "B"})
	e.send(t, "u1", "Order", "k3", map[string]any{"order_id": "A"}) // same order: the running run takes it
	e.send(t, "u1", "Order", "k4", map[string]any{})                // no key: not entered
	e.waitDone(t, keyed, 2)
	ids := map[string]bool{}
	for _, r := range e.runs(t, keyed) {
		ids[r.WorkflowID] = true
		require.Contains(t, []string{"A", "B"}, r.EntryKey)
	}
	require.Len(t, ids, 2)
	for id := range ids {
		require.Regexp(t, `^journey/`+keyed+`/customer/cus_[a-z0-9]+/key/[AB]$`, id)
	}
	// An event without the key, or with an empty one, is told apart from
	// one the entry policy kept out.
	lj, err := e.store.GetLiveJourney(context.Background(), e.ws, keyed)
	require.NoError(t, err)
	u1, err := e.store.EnsureCustomer(context.Background(), e.ws, "u1")
	require.NoError(t, err)
	for _, props := range []map[string]any{nil, {"order_id": ""}} {
		wfID, outcome, err := e.router.Enter(context.Background(), e.ws, lj, u1.ID, workflows.Event{ID: "k5", Name: "Order", Properties: props, Time: time.Now()})
		require.NoError(t, err)
		require.Equal(t, ingest.EntryNoKey, outcome, "%v", props)
		require.Empty(t, wfID)
	}

	capped := e.publish(t, "Capped", workflows.Entry{Policy: "once", MaxConcurrent: 2}, "3s")
	for i := 0; i < 4; i++ {
		e.send(t, fmt.Sprintf("c%d", i), "Capped", fmt.Sprintf("cap%d", i), nil)
	}
	require.Len(t, e.runs(t, capped), 2, "max_concurrent holds at 2 running runs")

	// Deliveries: one per run visit, never more.
	list, err := e.store.ListDeliveries(context.Background(), e.ws, schema.DeliveryFilter{JourneyID: once, Limit: 100})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, err = e.store.ListDeliveries(context.Background(), e.ws, schema.DeliveryFilter{JourneyID: every, Limit: 100})
	require.NoError(t, err)
	require.Len(t, list, 3, "e1, e3 and e4: one message each")
}

// Concurrent duplicates (the same customer's event routed by two consumers
// at once) cannot both enter.
func TestConcurrentEntriesStartOneRun(t *testing.T) {
	e := newRouterEnv(t)
	j := e.publish(t, "Race", workflows.Entry{Policy: "every_time"}, "2s")
	e.send(t, "racer", "Warmup", "w0", nil) // creates the customer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.send(t, "racer", "Race", fmt.Sprintf("r%d", i), nil)
		}()
	}
	wg.Wait()
	e.waitDone(t, j, 1)
	runs := e.runs(t, j)
	require.Len(t, runs, 1)
	list, err := e.store.ListDeliveries(context.Background(), e.ws, schema.DeliveryFilter{JourneyID: j, Limit: 100})
	require.NoError(t, err)
	require.Len(t, list, 1)
}

// When both profiles of a merge are in the same journey, the survivor keeps
// its run and the merged profile's run ends (exited), so the customer does
// not get the journey's messages twice; runs of other journeys follow.
func TestMergeEndsTheMergedProfilesDoubleRun(t *testing.T) {
	e := newRouterEnv(t)
	j := e.publish(t, "Viewed", workflows.Entry{Policy: "once"}, "1h")
	other := e.publish(t, "Browsed", workflows.Entry{Policy: "once"}, "1h")
	route := func(in schema.EventInput) schema.AppliedEvent { t.Helper(); return e.apply(t, in) }
	known := route(schema.EventInput{MessageID: "m0", Type: "track", Name: "Viewed", UserID: "u1"})
	anon := route(schema.EventInput{MessageID: "m1", Type: "track", Name: "Viewed", AnonymousID: "anon-1"})
	route(schema.EventInput{MessageID: "m2", Type: "track", Name: "Browsed", AnonymousID: "anon-1"})
	require.Len(t, e.runs(t, j), 2)
	route(schema.EventInput{MessageID: "m3", Type: "identify", Name: "Identify", UserID: "u1", AnonymousID: "anon-1"})

	keep := workflows.WorkflowID(j, known.CustomerID, "")
	double := workflows.WorkflowID(j, anon.CustomerID, "")
	require.Eventually(t, func() bool {
		st := map[string]string{}
		for _, r := range e.runs(t, j) {
			st[r.WorkflowID] = r.Status
		}
		return st[keep] == schema.RunRunning && st[double] == schema.RunExited
	}, 20*time.Second, 50*time.Millisecond, "the survivor's run stays, the merged profile's ends")
	for _, r := range e.runs(t, j) {
		if r.WorkflowID == double {
			require.Equal(t, "merged into customer "+known.CustomerID+", who is already in this journey", r.EndReason, "the run says why it ended")
		}
	}
	runs := e.runs(t, other)
	require.Len(t, runs, 1)
	require.Equal(t, schema.RunRunning, runs[0].Status, "a run of a journey only one profile was in follows the merge")
	require.Equal(t, known.CustomerID, runs[0].CustomerID)
}

// A run of an anonymous visitor follows the visitor when they log in to an
// existing account: the profile merges, the run is re-pointed and keeps
// reacting to the known customer's events.
func TestRunsFollowAnIdentityMerge(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	def := workflows.Journey{Name: "Browse", Trigger: workflows.Trigger{Type: "event", Event: "Viewed"}, Entry: workflows.Entry{Policy: "once"},
		Start: "wait", Nodes: []workflows.Node{
			{ID: "wait", Type: "wait_for_event", Event: "Activated", Timeout: "1h", OnEvent: "thanks", OnTimeout: "done"},
			{ID: "thanks", Type: "send", Channel: "sms", TemplateID: e.tpl, Next: "done"},
			{ID: "done", Type: "exit"},
		}}
	require.Empty(t, workflows.ValidateJourney(def, map[string]string{e.tpl: "sms"}))
	raw, _ := json.Marshal(def)
	j, err := e.store.CreateJourney(ctx, e.ws, def.Name, raw)
	require.NoError(t, err)
	_, err = e.store.PublishJourney(ctx, e.ws, j.ID, "test")
	require.NoError(t, err)

	route := func(in schema.EventInput) { t.Helper(); e.apply(t, in) }
	// The account exists, with a phone.
	route(schema.EventInput{MessageID: "m0", Type: "identify", Name: "Identify", UserID: "u1", Traits: map[string]any{"phone": "+15555550123"}})
	known, err := e.store.FindCustomer(ctx, e.ws, "u1")
	require.NoError(t, err)
	// An anonymous visitor enters the journey.
	route(schema.EventInput{MessageID: "m1", Type: "track", Name: "Viewed", AnonymousID: "anon-1"})
	runs := e.runs(t, j.ID)
	require.Len(t, runs, 1)
	require.NotEqual(t, known.ID, runs[0].CustomerID)
	// They log in: identify with both ids merges the anonymous profile.
	route(schema.EventInput{MessageID: "m2", Type: "identify", Name: "Identify", UserID: "u1", AnonymousID: "anon-1"})
	runs = e.runs(t, j.ID)
	require.Equal(t, known.ID, runs[0].CustomerID, "the run follows the merge")
	// So does its HeraldCustomerID search attribute.
	require.Eventually(t, func() bool {
		desc, err := e.temporal.DescribeWorkflowExecution(ctx, runs[0].WorkflowID, "")
		if err != nil {
			return false
		}
		var id string
		p := desc.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields()[workflows.SACustomerID.GetName()]
		return p != nil && converter.GetDefaultDataConverter().FromPayload(p, &id) == nil && id == known.ID
	}, 20*time.Second, 50*time.Millisecond, "HeraldCustomerID names the survivor")
	audit, err := e.store.ListAudit(ctx, e.ws, "customer", known.ID)
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Equal(t, "merge", audit[0].Action)
	// The known customer's event reaches the run, which sends to the known profile.
	route(schema.EventInput{MessageID: "m3", Type: "track", Name: "Activated", UserID: "u1"})
	e.waitDone(t, j.ID, 1)
	list, err := e.store.ListDeliveries(ctx, e.ws, schema.DeliveryFilter{JourneyID: j.ID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, known.ID, list[0].CustomerID)
	require.Equal(t, "+15555550123", list[0].Recipient)
	require.Equal(t, "sent", list[0].Status)
}

// A crash between starting a run and writing its row left Temporal running
// it with no row in runs: when the trigger is delivered again, the router
// finds the run by its trigger, records it, and the customer's later events
// — in the same batch and after — reach it as signals, once.
func TestRedeliveredTriggerRecordsARunStartedBeforeACrash(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	j := e.publish(t, "Begin", workflows.Entry{Policy: "once"}, "1h")
	e.send(t, "crash", "Begin", "begin-1", nil)
	run := e.onlyRun(t, j)
	wfID, runID := run.WorkflowID, run.RunID
	// The run reports its progress before it waits at "hold", then nothing
	// for an hour: once it has, its row stays gone.
	require.Eventually(t, func() bool {
		runs := e.runs(t, j)
		return len(runs) == 1 && runs[0].CurrentNode == "hold"
	}, 10*time.Second, 20*time.Millisecond)
	_, err := e.store.Pool().Exec(ctx, `DELETE FROM runs WHERE workflow_id = $1`, wfID)
	require.NoError(t, err)

	// The redelivered batch: the trigger (stored before: Duplicate) and a
	// new event of the same customer.
	cust, err := e.store.FindCustomer(ctx, e.ws, "crash")
	require.NoError(t, err)
	at := time.Now().UTC()
	tick := func(id string) ingest.Applied {
		return ingest.Applied{CustomerID: cust.ID, Event: ingest.Event{Type: "track", Event: "Tick", MessageID: id, UserID: "crash",
			WorkspaceID: e.ws, Timestamp: &at}}
	}
	begin := ingest.Applied{CustomerID: cust.ID, Duplicate: true, Event: ingest.Event{Type: "track", Event: "Begin",
		MessageID: "begin-1", UserID: "crash", WorkspaceID: e.ws, Timestamp: &at}}
	require.NoError(t, e.router.Route(ctx, []ingest.Applied{begin, tick("tick-1")}))
	require.NoError(t, e.router.Route(ctx, []ingest.Applied{tick("tick-2")}))

	runs := e.runs(t, j)
	require.Len(t, runs, 1, "the run is recorded again, not started twice")
	require.Equal(t, []any{wfID, runID, 1, "Begin"}, []any{runs[0].WorkflowID, runs[0].RunID, runs[0].Version, runs[0].TriggerEvent},
		"under the run's first run id, with its version")
	require.Eventually(t, func() bool {
		v, err := e.temporal.QueryWorkflow(ctx, wfID, "", workflows.QueryState)
		if err != nil {
			return false
		}
		var st workflows.RunState
		return v.Get(&st) == nil && st.EventsReceived == 3
	}, 10*time.Second, 50*time.Millisecond, "Begin, then both ticks as signals")
}

// A batch whose routing failed part-way is routed again: a run an event of
// it started may have ended in between, and the event must not start a
// second one.
func TestRetriedRoutingStartsNoSecondRun(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	j := e.publish(t, "Signup", workflows.Entry{Policy: "every_time"}, "1ms")
	e.send(t, "retry", "Signup", "signup-1", nil)
	e.waitDone(t, j, 1)

	cust, err := e.store.FindCustomer(ctx, e.ws, "retry")
	require.NoError(t, err)
	at := time.Now().UTC()
	signup := func(id string, retried bool) ingest.Applied {
		return ingest.Applied{CustomerID: cust.ID, Retried: retried, Event: ingest.Event{Type: "track", Event: "Signup", MessageID: id,
			UserID: "retry", WorkspaceID: e.ws, Timestamp: &at}}
	}
	require.NoError(t, e.router.Route(ctx, []ingest.Applied{signup("signup-1", true)}))
	require.Len(t, e.runs(t, j), 1, "the retried trigger started its run already")
	require.NoError(t, e.router.Route(ctx, []ingest.Applied{signup("signup-2", true)}))
	e.waitDone(t, j, 2)
	require.Len(t, e.runs(t, j), 2, "a retried event that started nothing before starts its run")
}

// An entry that finds the customer's run already going in Temporal but not
// in the run projection (a concurrent entry, a row not written yet) hands
// the run the event, and the run's row is written from the run's own start
// (its trigger, version and start time), not from this event.
func TestEntryIntoARunAlreadyGoingRecordsTheRunsOwnStart(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	j := e.publish(t, "Join", workflows.Entry{Policy: "every_time"}, "1h")
	e.send(t, "racer", "Join", "join-1", nil)
	var want schema.Run
	require.Eventually(t, func() bool {
		runs := e.runs(t, j)
		want = runs[0]
		return len(runs) == 1 && want.CurrentNode == "hold"
	}, 10*time.Second, 20*time.Millisecond, "the run has reported its start and steps")
	_, err := e.store.Pool().Exec(ctx, `DELETE FROM runs WHERE journey_id = $1`, j)
	require.NoError(t, err)

	e.send(t, "racer", "Join", "join-2", nil)
	runs := e.runs(t, j)
	require.Len(t, runs, 1)
	got := runs[0]
	require.Equal(t, []string{want.WorkflowID, want.RunID, "Join"}, []string{got.WorkflowID, got.RunID, got.TriggerEvent})
	require.WithinDuration(t, want.StartedAt, got.StartedAt, time.Second)
	startedBy, err := e.store.RunsStartedBy(ctx, e.ws, j, []string{"join-1", "join-2"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"join-1": true}, startedBy, "the row is the run's own, started by join-1")
	require.Eventually(t, func() bool {
		v, err := e.temporal.QueryWorkflow(ctx, want.WorkflowID, "", workflows.QueryState)
		require.NoError(t, err)
		var st workflows.RunState
		require.NoError(t, v.Get(&st))
		return st.EventsReceived == 2
	}, 10*time.Second, 20*time.Millisecond, "the run took join-2")
}

// A trigger that meets the customer's run after the run recorded its end
// but before it closed is not left to it (the run takes no more events):
// the entry waits for the close and starts a new run — also when the run
// has continued as new, its row being under its first run id.
func TestTriggerForAContinuedRunThatHasEndedStartsANewRun(t *testing.T) {
	e := newRouterEnv(t, dynamicconfig.StaticClient{dynamicconfig.HistoryCountSuggestContinueAsNew.Key(): 16})
	ctx := context.Background()
	j := e.publish(t, "Visit", workflows.Entry{Policy: "every_time"}, "1h")
	e.send(t, "regular", "Visit", "visit-0", nil)
	run := e.onlyRun(t, j)
	wfID, first := run.WorkflowID, run.RunID
	for i := 1; ; i++ {
		d, err := e.temporal.DescribeWorkflowExecution(ctx, wfID, "")
		require.NoError(t, err)
		if d.WorkflowExecutionInfo.Execution.RunId != first {
			break
		}
		require.Less(t, i, 200, "the run continued as new")
		e.send(t, "regular", "Visit", fmt.Sprintf("visit-%d", i), nil) // to the running run
		time.Sleep(20 * time.Millisecond)
	}
	// The run recorded its end; it closes a moment later.
	_, err := e.store.Pool().Exec(ctx, `UPDATE runs SET status = 'completed', ended_at = now() WHERE workflow_id = $1`, wfID)
	require.NoError(t, err)
	go func() {
		time.Sleep(time.Second)
		_ = e.temporal.CancelWorkflow(ctx, wfID, "")
	}()
	e.send(t, "regular", "Visit", "visit-late", nil)
	require.Len(t, e.runs(t, j), 2, "the late trigger started a new run")
	started, err := e.store.RunsStartedBy(ctx, e.ws, j, []string{"visit-late"})
	require.NoError(t, err)
	require.True(t, started["visit-late"])
}

// An entry key longer than Temporal takes in an id (limit.maxIDLength,
// 1,000 bytes by default) enters the customer under the key's hash, one run
// per key as with any key; the run keeps the key itself.
func TestLongEntryKeysEnterUnderTheirHash(t *testing.T) {
	e := newRouterEnv(t)
	j := e.publish(t, "Long", workflows.Entry{Policy: "every_time", Key: "properties.k"}, "1h")
	long := strings.Repeat("x", 5000)
	e.send(t, "u1", "Long", "l1", map[string]any{"k": long})
	e.send(t, "u1", "Long", "l2", map[string]any{"k": long}) // the same key: its running run takes it
	e.send(t, "u1", "Long", "l3", map[string]any{"k": long + "y"})
	runs := e.runs(t, j)
	require.Len(t, runs, 2)
	for _, r := range runs {
		require.Regexp(t, `^journey/`+j+`/customer/cus_[a-z0-9]+/key/sha256:[0-9a-f]{64}$`, r.WorkflowID)
		require.Contains(t, []string{long, long + "y"}, r.EntryKey)
	}
	require.NotEqual(t, runs[0].WorkflowID, runs[1].WorkflowID)
}

// A trigger read as going to the customer's running run, when that run has
// closed since (Temporal no longer has it, the projection not yet told),
// starts a new run rather than being lost.
func TestTriggerForARunThatHasClosedStartsANewRun(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	j := e.publish(t, "Visit", workflows.Entry{Policy: "every_time"}, "1h")
	cust, err := e.store.EnsureCustomer(ctx, e.ws, "late")
	require.NoError(t, err)
	wfID := workflows.WorkflowID(j, cust.ID, "")
	require.NoError(t, recorded(e.store.RecordRunStart(ctx, e.ws, schema.Run{WorkflowID: wfID, RunID: "closed-run", JourneyID: j, Version: 1,
		CustomerID: cust.ID, TriggerEvent: "Visit", TriggerEventID: "visit-0", StartedAt: time.Now().UTC().Add(-time.Minute)})))
	e.send(t, "late", "Visit", "visit-1", nil)
	d, err := e.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err, "a run of the id was started")
	require.Equal(t, "Running", d.GetWorkflowExecutionInfo().GetStatus().String())
	seen, err := e.store.RunsStartedBy(ctx, e.ws, j, []string{"visit-1"})
	require.NoError(t, err)
	require.True(t, seen["visit-1"], "the new run is visit-1's")
}

// A run that has had as many signals as Temporal allows refuses more for
// good: the router logs and counts the refusal and goes on, and the batch
// — other customers' events with it — is routed, not retried forever.
func TestSignalsPastTemporalsLimitDoNotStopRouting(t *testing.T) {
	e := newRouterEnv(t, dynamicconfig.StaticClient{dynamicconfig.MaximumSignalsPerExecution.Key(): 3})
	ctx := context.Background()
	j := e.publish(t, "Begin", workflows.Entry{Policy: "once"}, "1h")
	e.send(t, "busy", "Begin", "begin-busy", nil)
	e.send(t, "calm", "Begin", "begin-calm", nil)
	busy, err := e.store.FindCustomer(ctx, e.ws, "busy")
	require.NoError(t, err)
	calm, err := e.store.FindCustomer(ctx, e.ws, "calm")
	require.NoError(t, err)
	at := time.Now().UTC()
	tick := func(c schema.Customer, id string) ingest.Applied {
		return ingest.Applied{CustomerID: c.ID, Event: ingest.Event{Type: "track", Event: "Tick", MessageID: id, UserID: *c.ExternalID,
			WorkspaceID: e.ws, Timestamp: &at}}
	}
	var batch []ingest.Applied
	for i := range 5 {
		batch = append(batch, tick(busy, fmt.Sprintf("busy-%d", i)))
	}
	batch = append(batch, tick(calm, "calm-0"))
	require.NoError(t, e.router.Route(ctx, batch), "the refused signals do not fail the batch")

	received := func(c schema.Customer) int {
		v, err := e.temporal.QueryWorkflow(ctx, workflows.WorkflowID(j, c.ID, ""), "", workflows.QueryState)
		require.NoError(t, err)
		var st workflows.RunState
		require.NoError(t, v.Get(&st))
		return st.EventsReceived
	}
	require.Eventually(t, func() bool { return received(busy) == 4 && received(calm) == 2 }, 10*time.Second, 50*time.Millisecond,
		"the busy run took Begin and the 3 signals Temporal allows; the calm run its tick")
}

// A customer's events reach a waiting run as signals, and Temporal refuses
// a run's signals past a limit: a run in a long delay hands on to a new run
// when the server suggests it, so its exit_on still ends it after many
// events (here a limit of 10 signals and a suggestion at 16 history events).
func TestLongWaitsHandOnBeforeTemporalsSignalLimit(t *testing.T) {
	e := newRouterEnv(t, dynamicconfig.StaticClient{
		dynamicconfig.MaximumSignalsPerExecution.Key():       10,
		dynamicconfig.HistoryCountSuggestContinueAsNew.Key(): 16,
	})
	ctx := context.Background()
	def := workflows.Journey{Name: "Trial", Trigger: workflows.Trigger{Type: "event", Event: "Trial Started"}, Entry: workflows.Entry{Policy: "once"},
		ExitOn: []workflows.ExitOn{{Event: "Trial Cancelled"}}, Start: "hold",
		Nodes: []workflows.Node{{ID: "hold", Type: "delay", Duration: "14d", Next: "done"}, {ID: "done", Type: "exit"}}}
	jr := e.publishDef(t, def)

	e.send(t, "trialist", "Trial Started", "start", nil)
	cust, err := e.store.FindCustomer(ctx, e.ws, "trialist")
	require.NoError(t, err)
	wfID := workflows.WorkflowID(jr, cust.ID, "")
	state := func() workflows.RunState {
		v, err := e.temporal.QueryWorkflow(ctx, wfID, "", workflows.QueryState)
		require.NoError(t, err)
		var st workflows.RunState
		require.NoError(t, v.Get(&st))
		return st
	}
	for i := range 30 {
		e.send(t, "trialist", "Page Viewed", fmt.Sprintf("view-%d", i), nil)
		require.Eventually(t, func() bool { return state().EventsReceived == i+2 }, 10*time.Second, 20*time.Millisecond,
			"event %d taken", i)
	}
	st := state()
	require.Equal(t, "hold", st.Node)
	require.NotNil(t, st.Waiting)
	require.Equal(t, "timer", st.Waiting.Kind)
	// What the run's next step reads, across the hand-on: its trigger and
	// the last event it took.
	require.Equal(t, "Trial Started", st.Variables["event"].(map[string]any)["name"], "%v", st.Variables)
	require.Equal(t, "Page Viewed", st.Variables["last_event"].(map[string]any)["name"], "%v", st.Variables)
	desc, err := e.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	require.NoError(t, err)
	first := e.runs(t, jr)[0].RunID
	require.NotEqual(t, first, desc.WorkflowExecutionInfo.Execution.RunId, "the run continued as new while it waited")

	e.send(t, "trialist", "Trial Cancelled", "cancel", nil)
	require.Eventually(t, func() bool {
		runs := e.runs(t, jr)
		return len(runs) == 1 && runs[0].Status == schema.RunExited
	}, 10*time.Second, 20*time.Millisecond, "exit_on ended the run after 30 events")
	hold := 0
	for _, s := range st.Path {
		if s.Node == "hold" {
			hold++
		}
	}
	require.Equal(t, 1, hold, "the delay was entered once")

	// The first run's history, cut short in the delay, replays as it ran.
	hist := history(t, e.temporal, wfID, first)
	require.Equal(t, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, hist.Events[len(hist.Events)-1].EventType)
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflow(workflows.JourneyWorkflow)
	require.NoError(t, replayer.ReplayWorkflowHistory(nil, hist))

	if *recordHistories {
		// The first run (handed on in its delay) and the last (resumed in
		// the delay, ended by exit_on), for workflows' replay test.
		require.NoError(t, e.temporal.GetWorkflow(ctx, wfID, "").Get(ctx, nil))
		desc, err := e.temporal.DescribeWorkflowExecution(ctx, wfID, "")
		require.NoError(t, err)
		last := history(t, e.temporal, wfID, desc.WorkflowExecutionInfo.Execution.RunId)
		require.Equal(t, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, last.Events[len(last.Events)-1].EventType)
		writeHistory(t, hist, "../workflows/testdata/histories/long_wait_handed_on.json")
		writeHistory(t, last, "../workflows/testdata/histories/long_wait_resumed_exit_on.json")
	}
}

// recordHistories writes histories of this package's runs for the replay
// test (workflows/testdata/histories):
// go test ./ingest -run LongWaitsHandOn -record-histories
var recordHistories = flag.Bool("record-histories", false, "write workflow histories for the replay test")

// history reads one run's whole history.
func history(t *testing.T, c client.Client, workflowID, runID string) *historypb.History {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	return hist
}

func writeHistory(t *testing.T, hist *historypb.History, path string) {
	t.Helper()
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// After a crash, a batch comes again whole: an old event must not reach a
// run that a later event of the customer started (its exit_on would end
// the new run).
func TestRedeliveredEventsDoNotReachRunsStartedAfterThem(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	def := workflows.Journey{Name: "Cart", Trigger: workflows.Trigger{Type: "event", Event: "Cart"}, Entry: workflows.Entry{Policy: "every_time"},
		ExitOn: []workflows.ExitOn{{Event: "Order"}}, Start: "hold",
		Nodes: []workflows.Node{{ID: "hold", Type: "delay", Duration: "1h", Next: "done"}, {ID: "done", Type: "exit"}}}
	jr := e.publishDef(t, def)

	e.send(t, "shopper", "Cart", "cart-1", nil)   // starts A
	e.send(t, "shopper", "Order", "order-1", nil) // ends A
	require.Eventually(t, func() bool {
		runs := e.runs(t, jr)
		return len(runs) == 1 && runs[0].Status != schema.RunRunning
	}, 10*time.Second, 20*time.Millisecond)
	e.send(t, "shopper", "Cart", "cart-2", nil) // starts B
	runs := e.runs(t, jr)
	require.Len(t, runs, 2)

	// The three again, as a redelivered batch.
	cust, err := e.store.FindCustomer(ctx, e.ws, "shopper")
	require.NoError(t, err)
	at := time.Now().UTC()
	again := func(name, id string) ingest.Applied {
		return ingest.Applied{CustomerID: cust.ID, Duplicate: true, Event: ingest.Event{Type: "track", Event: name, MessageID: id,
			UserID: "shopper", WorkspaceID: e.ws, Timestamp: &at}}
	}
	require.NoError(t, e.router.Route(ctx, []ingest.Applied{again("Cart", "cart-1"), again("Order", "order-1"), again("Cart", "cart-2")}))
	// What reached B is in its history once Route returns.
	signals := 0
	for _, ev := range history(t, e.temporal, workflows.WorkflowID(jr, cust.ID, ""), "").Events {
		if ev.GetWorkflowExecutionSignaledEventAttributes() != nil {
			signals++
		}
	}
	require.Zero(t, signals, "none of the three reached B, started by the last of them")
	require.Len(t, e.runs(t, jr), 2)
}

// An event whose properties no decoder takes (nested past encoding/json's
// 10,000 levels; a topic producer can write it) reaches no journey rather
// than fail its batch's routing on every retry.
func TestPropertiesPastTheDecoderAreNotRouted(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	j := e.publish(t, "Deep", workflows.Entry{Policy: "once"}, "1h")
	res, err := e.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: e.ws, MessageID: "deep-1", Type: "track", Name: "Deep",
		UserID: "u-deep", OccurredAt: time.Now().UTC()})
	require.NoError(t, err)
	deep := strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001)
	ts := time.Now().UTC()
	err = e.router.Route(ctx, []ingest.Applied{{CustomerID: res.CustomerID, Event: ingest.Event{Type: "track", Event: "Deep",
		MessageID: "deep-1", UserID: "u-deep", WorkspaceID: e.ws, Properties: json.RawMessage(deep), Timestamp: &ts}}})
	require.NoError(t, err)
	require.Empty(t, e.runs(t, j))
}

// recorded is the error of RecordRunStart (the customer it answers is the
// one given, in these tests).
func recorded(_ string, err error) error { return err }
