package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// applyOnly stores an event as ingest does and returns what routing it
// would take, without routing it (a batch applied, not yet routed).
func (e *routerEnv) applyOnly(t *testing.T, in schema.EventInput) (schema.AppliedEvent, ingest.Applied) {
	t.Helper()
	in.WorkspaceID, in.OccurredAt = e.ws, time.Now().UTC()
	res, err := e.store.ApplyEvent(context.Background(), in)
	require.NoError(t, err)
	ts := in.OccurredAt
	return res, ingest.Applied{CustomerID: res.CustomerID, MergedFrom: res.MergedFrom, Duplicate: res.Duplicate,
		Event: ingest.Event{Type: in.Type, Event: in.Name, MessageID: in.MessageID, UserID: in.UserID, AnonymousID: in.AnonymousID,
			WorkspaceID: e.ws, Properties: in.Properties, Timestamp: &ts}}
}

func (e *routerEnv) deliveries(t *testing.T, journeyID string) []schema.Delivery {
	t.Helper()
	list, err := e.store.ListDeliveries(context.Background(), e.ws, schema.DeliveryFilter{JourneyID: journeyID, Limit: 10})
	require.NoError(t, err)
	return list
}

// Apply and routing are two steps, and a batch of another partition can
// merge or erase a customer between them: routing follows the merge to the
// profile that survived (customer_merges), and starts nothing for a
// customer that is gone.
func TestRoutingFollowsMergesAndErasures(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	phone := map[string]any{"phone": "+15555550123"}

	t.Run("an event applied before a merge and routed after it enters the survivor", func(t *testing.T) {
		j := e.publish(t, "Signed Up", workflows.Entry{Policy: "once"}, "1h")
		known := e.apply(t, schema.EventInput{MessageID: "a0", Type: "identify", Name: "Identify", UserID: "ua", Traits: phone})
		_, track := e.applyOnly(t, schema.EventInput{MessageID: "a1", Type: "track", Name: "Signed Up", AnonymousID: "anon-a"})
		// Another partition's identify merges the anonymous profile.
		merge := e.apply(t, schema.EventInput{MessageID: "a2", Type: "identify", Name: "Identify", UserID: "ua", AnonymousID: "anon-a"})
		require.Equal(t, track.CustomerID, merge.MergedFrom)
		require.NoError(t, e.router.Route(ctx, []ingest.Applied{track}))
		run := e.onlyRun(t, j)
		require.Equal(t, known.CustomerID, run.CustomerID)
		require.Equal(t, workflows.WorkflowID(j, known.CustomerID, ""), run.WorkflowID)
		require.Eventually(t, func() bool {
			d := e.deliveries(t, j)
			return len(d) == 1 && d[0].Status == schema.DeliverySent && d[0].CustomerID == known.CustomerID
		}, 30*time.Second, 50*time.Millisecond, "the survivor gets the message")
	})

	t.Run("a merge delivered again tells the merged run", func(t *testing.T) {
		def := workflows.Journey{Name: "Browse", Trigger: workflows.Trigger{Type: "event", Event: "Viewed"}, Entry: workflows.Entry{Policy: "once"},
			Start: "wait", Nodes: []workflows.Node{
				{ID: "wait", Type: "wait_for_event", Event: "Activated", Timeout: "1h", OnEvent: "thanks", OnTimeout: "done"},
				{ID: "thanks", Type: "send", Channel: "sms", TemplateID: e.tpl, Next: "done"},
				{ID: "done", Type: "exit"},
			}}
		j := e.publishDef(t, def)
		known := e.apply(t, schema.EventInput{MessageID: "b0", Type: "identify", Name: "Identify", UserID: "ub", Traits: phone})
		anon := e.apply(t, schema.EventInput{MessageID: "b1", Type: "track", Name: "Viewed", AnonymousID: "anon-b"})
		in := schema.EventInput{MessageID: "b2", Type: "identify", Name: "Identify", UserID: "ub", AnonymousID: "anon-b"}
		first, _ := e.applyOnly(t, in) // committed; the process stops before routing it
		require.Equal(t, anon.CustomerID, first.MergedFrom)
		again, redelivered := e.applyOnly(t, in)
		require.True(t, again.Duplicate)
		require.Equal(t, anon.CustomerID, again.MergedFrom, "a merge delivered again is still a merge")
		require.NoError(t, e.router.Route(ctx, []ingest.Applied{redelivered}))
		e.apply(t, schema.EventInput{MessageID: "b3", Type: "track", Name: "Activated", UserID: "ub"})
		e.waitDone(t, j, 1)
		d := e.deliveries(t, j)
		require.Len(t, d, 1)
		require.Equal(t, known.CustomerID, d[0].CustomerID)
		require.Equal(t, schema.DeliverySent, d[0].Status, d[0].Error)
		run := e.onlyRun(t, j)
		desc, err := e.temporal.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
		require.NoError(t, err)
		var cust string
		p := desc.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields()[workflows.SACustomerID.GetName()]
		require.NotNil(t, p)
		require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &cust))
		require.Equal(t, known.CustomerID, cust, "the run heard of the merge")
	})

	t.Run("every_time: the survivor's trigger goes to the merged run, not to a second one", func(t *testing.T) {
		j := e.publish(t, "Browsed", workflows.Entry{Policy: "every_time"}, "1h")
		known := e.apply(t, schema.EventInput{MessageID: "c0", Type: "identify", Name: "Identify", UserID: "uc", Traits: phone})
		anon := e.apply(t, schema.EventInput{MessageID: "c1", Type: "track", Name: "Browsed", AnonymousID: "anon-c"})
		e.apply(t, schema.EventInput{MessageID: "c2", Type: "identify", Name: "Identify", UserID: "uc", AnonymousID: "anon-c"})
		e.apply(t, schema.EventInput{MessageID: "c3", Type: "track", Name: "Browsed", UserID: "uc"})
		run := e.onlyRun(t, j)
		require.Equal(t, schema.RunRunning, run.Status)
		require.Equal(t, known.CustomerID, run.CustomerID)
		require.Equal(t, workflows.WorkflowID(j, anon.CustomerID, ""), run.WorkflowID)
	})

	t.Run("an event of a customer erased before it was routed starts nothing", func(t *testing.T) {
		j := e.publish(t, "Ordered", workflows.Entry{Policy: "once"}, "1h")
		res, ev := e.applyOnly(t, schema.EventInput{MessageID: "d1", Type: "track", Name: "Ordered", UserID: "ud",
			Properties: []byte(`{"address":"1 Secret Lane"}`)})
		_, err := e.store.EraseCustomer(ctx, e.ws, res.CustomerID)
		require.NoError(t, err)
		require.NoError(t, e.router.Route(ctx, []ingest.Applied{ev}))
		require.Empty(t, e.runs(t, j), "no run for an erased customer")
	})
}
