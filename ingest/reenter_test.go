package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// A trigger that reaches the customer's run after its walk has ended, while
// the run records its end (the router still reads it as in progress and
// hands it the event), is not lost with the closing run: once the run has
// closed, the customer enters again with it under the entry policy, as if
// the event had come a moment later. Here the run's end is held back by a
// lock on its row, which keeps it "running" for the router.
func TestTriggerForARunThatIsClosingEntersOnceItHasClosed(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	j := e.publishDef(t, workflows.Journey{Name: "Visit", Trigger: workflows.Trigger{Type: "event", Event: "Visit"},
		Entry: workflows.Entry{Policy: "every_time"}, ExitOn: []workflows.ExitOn{{Event: "Stop"}}, Start: "send",
		Nodes: []workflows.Node{
			{ID: "send", Type: "send", Channel: "sms", TemplateID: e.tpl, Next: "hold"},
			{ID: "hold", Type: "delay", Duration: "2s", Next: "done"},
			{ID: "done", Type: "exit"},
		}})
	e.send(t, "closing", "Visit", "visit-1", nil)
	var first schema.Run
	require.Eventually(t, func() bool {
		runs := e.runs(t, j)
		if len(runs) != 1 {
			return false
		}
		first = runs[0]
		return first.CurrentNode == "hold"
	}, 10*time.Second, 20*time.Millisecond, "the run waits at hold, its steps reported")

	tx, err := e.store.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT 1 FROM runs WHERE workflow_id = $1 FOR UPDATE`, first.WorkflowID)
	require.NoError(t, err)
	var holder int
	require.NoError(t, tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&holder))
	require.Eventually(t, func() bool {
		var blocked int
		require.NoError(t, e.store.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`,
			holder).Scan(&blocked))
		return blocked > 0
	}, 15*time.Second, 20*time.Millisecond, "the run's walk has ended and its end waits for the row")

	e.send(t, "closing", "Visit", "visit-2", nil)
	e.send(t, "closing", "Stop", "stop-1", nil) // for the run visit-2 enters
	started, err := e.store.RunsStartedBy(ctx, e.ws, j, []string{"visit-2"})
	require.NoError(t, err)
	require.False(t, started["visit-2"], "the router handed visit-2 to the closing run")
	require.NoError(t, tx.Commit(ctx))

	require.NoError(t, e.temporal.GetWorkflow(ctx, first.WorkflowID, first.RunID).Get(ctx, nil))
	require.Eventually(t, func() bool {
		started, err := e.store.RunsStartedBy(ctx, e.ws, j, []string{"visit-2"})
		require.NoError(t, err)
		return started["visit-2"]
	}, 20*time.Second, 50*time.Millisecond, "visit-2 entered the customer again")
	require.Eventually(t, func() bool {
		runs := e.runs(t, j)
		return len(runs) == 2 && runs[0].Status == schema.RunExited
	}, 20*time.Second, 50*time.Millisecond, "the new run took stop-1, which came after visit-2, and left on it")
	runs := e.runs(t, j)
	require.Equal(t, "exit_on Stop", runs[0].EndReason)
	require.Equal(t, schema.RunCompleted, runs[1].Status, "the first run completed: %+v", runs[1])
	require.Equal(t, first.RunID, runs[1].RunID)
	require.NotEqual(t, first.RunID, runs[0].RunID, "the new run is visit-2's (above)")

	require.NoError(t, e.temporal.GetWorkflow(ctx, workflows.ReenterWorkflowID(first.WorkflowID, "visit-2"), "").Get(ctx, nil),
		"the closing run handed visit-2 on, and the entry completed")

	// The closing run's history — its end refused once for the signal it
	// had not seen, then the child — replays as it ran.
	hist := history(t, e.temporal, first.WorkflowID, first.RunID)
	children := 0
	for _, ev := range hist.Events {
		if ev.EventType == enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED {
			children++
		}
	}
	require.Equal(t, 1, children)
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflow(workflows.JourneyWorkflow)
	replayer.RegisterWorkflow(workflows.ReenterWorkflow)
	require.NoError(t, replayer.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: first.WorkflowID, RunID: first.RunID}}), "the child's id names the run's")
	if *recordHistories {
		writeHistory(t, hist, "../workflows/testdata/histories/late_trigger_handed_on.json")
	}

	// Delivered again (a producer's retry): it started its run already.
	e.send(t, "closing", "Visit", "visit-2", nil)
	require.Len(t, e.runs(t, j), 2)
}
