package api_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows/temporalserver"
)

// onCancel is a Temporal client that runs a function before each
// CancelWorkflow: what happens elsewhere while an erasure cancels the
// customer's runs and waits (up to 10 s) for them to close.
type onCancel struct {
	client.Client
	before func()
}

func (o onCancel) CancelWorkflow(ctx context.Context, workflowID, runID string) error {
	o.before()
	return o.Client.CancelWorkflow(ctx, workflowID, runID)
}

// A visitor identifies (their anonymous profile merges into their known
// one) while the erasure of that anonymous profile cancels its runs: the
// erasure goes on with the profile the id leads to now, as DELETE of a
// merged-away id does — it neither answers 404 nor leaves the visitor's
// events behind under the survivor.
func TestEraseOfAProfileMergedAwayWhileItsRunsAreCancelled(t *testing.T) {
	ctx := context.Background()
	var f *journeyFixture
	var ws string
	merged := false
	f = newJourneyFixtureWith(t, temporalserver.Options{}, func(c client.Client) client.Client {
		return onCancel{Client: c, before: func() {
			if merged {
				return
			}
			merged = true
			_, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws, MessageID: "identify-1", Type: "identify", Name: "Identify",
				UserID: "u1", AnonymousID: "a1", OccurredAt: time.Now()})
			require.NoError(t, err)
		}}
	})
	ws = f.ws.ID
	known, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws, MessageID: "k-1", Type: "identify", Name: "Identify",
		UserID: "u1", Traits: map[string]any{"email": "ada@example.com"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	visitor, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws, MessageID: "v-1", Type: "page", Name: "Pricing",
		AnonymousID: "a1", OccurredAt: time.Now()})
	require.NoError(t, err)
	j, err := f.store.CreateJourney(ctx, ws, "J", []byte(`{}`))
	require.NoError(t, err)
	_, err = f.store.RecordRunStart(ctx, ws, schema.Run{WorkflowID: "journey/" + j.ID + "/customer/" + visitor.CustomerID, RunID: "r1",
		JourneyID: j.ID, Version: 1, CustomerID: visitor.CustomerID, StartedAt: time.Now()})
	require.NoError(t, err)

	status, body := f.api(t, "DELETE", "/api/customers/"+visitor.CustomerID, nil)
	require.True(t, merged, "the visitor identified during the erasure")
	require.Equal(t, 200, status, "%v", body)
	var left int
	require.NoError(t, f.store.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE workspace_id = $1 AND message_id IN ('v-1', 'identify-1')`, ws).Scan(&left))
	require.Zero(t, left, "the visitor's events were erased (survivor %s)", known.CustomerID)
}

// A run a trigger starts while the erasure waits for the customer's runs
// to close (the customer is still there) is ended too, not left running
// for an erased customer with the trigger's data in its history.
func TestEraseEndsARunStartedWhileItWaited(t *testing.T) {
	ctx := context.Background()
	var f *journeyFixture
	var late string
	started := false
	f = newJourneyFixtureWith(t, temporalserver.Options{}, func(c client.Client) client.Client {
		return onCancel{Client: c, before: func() {
			if started {
				return
			}
			started = true
			_, wfIDs := f.longRuns(t, "u1")
			late = wfIDs[0]
		}}
	})
	_, first := f.longRuns(t, "u1")
	cust, err := f.store.FindCustomer(ctx, f.ws.ID, "u1")
	require.NoError(t, err)

	status, body := f.api(t, "DELETE", "/api/customers/"+cust.ID, nil)
	require.Equal(t, 200, status, "%v", body)
	require.True(t, started, "a run was started during the erasure")
	require.EqualValues(t, 2, body["runs_canceled"], "%v", body)
	for _, wf := range []string{first[0], late} {
		d, err := f.temporal.DescribeWorkflowExecution(ctx, wf, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue // cancelled and deleted already
		}
		require.NoError(t, err)
		require.NotEqual(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, d.GetWorkflowExecutionInfo().GetStatus(), "%s still runs", wf)
	}
}
