package api_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
	"github.com/heraldhq/herald/workflows/temporalserver"
)

// laggyVisibility is a Temporal client whose visibility shows a closed
// execution only lag after it closed, as Elasticsearch visibility does
// (its refresh interval, 1 s by default).
type laggyVisibility struct {
	client.Client
	lag time.Duration
}

func (l laggyVisibility) ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	resp, err := l.Client.ListWorkflow(ctx, req)
	if err != nil {
		return resp, err
	}
	kept := resp.Executions[:0]
	for _, e := range resp.Executions {
		if ct := e.GetCloseTime(); ct != nil && time.Since(ct.AsTime()) < l.lag {
			continue // not visible as closed yet
		}
		kept = append(kept, e)
	}
	resp.Executions = kept
	return resp, nil
}

// A customer who entered a journey before has a closed execution under the
// same workflow id as the run the erasure cancels (journeys re-enter with
// WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE). The erasure deletes both: the
// run it cancelled as the execution it is, whether or not visibility shows
// it closed yet (here it lags 1.5 s, as Elasticsearch visibility does), and
// the earlier one found by its search attributes.
func TestEraseDeletesTheCancelledRunBehindAnEarlierExecutionOfItsID(t *testing.T) {
	eraseWithLaggyVisibility(t, true)
}

// The same with the earlier run under another workflow id.
func TestEraseDeletesTheCancelledRunAndAnEarlierRun(t *testing.T) { eraseWithLaggyVisibility(t, false) }

func eraseWithLaggyVisibility(t *testing.T, withEarlier bool) {
	ctx := context.Background()
	f := newJourneyFixtureWith(t, temporalserver.Options{}, func(c client.Client) client.Client {
		return laggyVisibility{Client: c, lag: 1500 * time.Millisecond}
	})
	tc := f.temporal
	jid := f.publishWelcome(t)
	applied, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: f.ws.ID, MessageID: "m1", Type: "identify", Name: "Identify",
		UserID: "u1", Traits: map[string]any{"email": "ada@example.com"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	cid := applied.CustomerID
	wfID := workflows.WorkflowID(jid, cid, "")

	// An earlier, closed execution of the same workflow id (an earlier entry).
	earlierID := wfID
	if !withEarlier {
		earlierID = "journey/jny_other/customer/" + cid
	}
	earlier, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: earlierID, TaskQueue: "nobody-polls",
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SAWorkspaceID.ValueSet(f.ws.ID), workflows.SACustomerID.ValueSet(cid))},
		"OldJourney", "ada@example.com")
	require.NoError(t, err)
	require.NoError(t, tc.TerminateWorkflow(ctx, earlierID, earlier.GetRunID(), "ended"))
	time.Sleep(2 * time.Second) // visible as closed by now, even with the lag

	status, entered := f.api(t, "POST", "/api/journeys/"+jid+"/trigger", map[string]any{"customer": map[string]any{"user_id": "u1"}})
	require.Equal(t, 200, status, "%v", entered)
	require.Equal(t, wfID, entered["workflow_id"])
	var current string
	require.Eventually(t, func() bool {
		d, err := tc.DescribeWorkflowExecution(ctx, wfID, "")
		if err != nil || d.WorkflowExecutionInfo.GetExecution().GetRunId() == earlier.GetRunID() {
			return false
		}
		current = d.WorkflowExecutionInfo.GetExecution().GetRunId()
		return true
	}, 20*time.Second, 100*time.Millisecond)

	status, erased := f.api(t, "DELETE", "/api/customers/u1", nil)
	require.Equal(t, 200, status, "%v", erased)
	require.EqualValues(t, 1, erased["runs_canceled"])
	require.EqualValues(t, 2, erased["histories_deleted"], "the earlier execution and the one just cancelled")
	require.Eventually(t, func() bool {
		_, err := tc.DescribeWorkflowExecution(ctx, wfID, current)
		var nf *serviceerror.NotFound
		return errors.As(err, &nf)
	}, 10*time.Second, 100*time.Millisecond, "the cancelled run's history (the erased customer's events) is deleted")
}
