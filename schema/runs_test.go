package schema_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// A run's batched report (interpreter v4) writes its start, its steps in
// order (each leaving the one before), a conversion and its end in one
// transaction; written again — a retried activity, a replay — it changes
// nothing.
func TestRecordRunProgress(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Progress")
	require.NoError(t, err)
	j, err := st.CreateJourney(ctx, ws.ID, "J", json.RawMessage(`{}`))
	require.NoError(t, err)
	cust, err := st.ApplyEvents(ctx, []schema.EventInput{{WorkspaceID: ws.ID, MessageID: "m1", UserID: "u1", Type: "track",
		Name: "Signed Up", OccurredAt: time.Now()}})
	require.NoError(t, err)

	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	step := func(node string, at time.Duration, prev string) schema.RunStep {
		s := schema.RunStep{WorkspaceID: ws.ID, JourneyID: j.ID, WorkflowID: "wf", RunID: "r1", Node: node, Visit: 1, EnteredAt: t0.Add(at)}
		if prev != "" {
			s.PreviousNode, s.PreviousVisit = prev, 1
		}
		return s
	}
	converted := t0.Add(30 * time.Second)
	reports := []schema.RunProgress{
		// With the first send: the start and two steps, the second annotated.
		{WorkflowID: "wf", RunID: "r1", WorkspaceID: ws.ID,
			Start: &schema.Run{WorkflowID: "wf", RunID: "r1", JourneyID: j.ID, Version: 1, CustomerID: cust[0].CustomerID, StartedAt: t0},
			Steps: []schema.RunStep{step("one", 0, ""), func() schema.RunStep { s := step("split", time.Second, "one"); s.Detail = "variant:A"; return s }()}},
		// A conversion repeats the start (the router may not have recorded it).
		{WorkflowID: "wf", RunID: "r1", WorkspaceID: ws.ID, ConvertedAt: &converted,
			Start: &schema.Run{WorkflowID: "wf", RunID: "r1", JourneyID: j.ID, Version: 1, CustomerID: cust[0].CustomerID, StartedAt: t0}},
		// Before a wait.
		{WorkflowID: "wf", RunID: "r1", WorkspaceID: ws.ID, Steps: []schema.RunStep{step("wait", 2*time.Second, "split")}},
		// The end, with the last step.
		{WorkflowID: "wf", RunID: "r1", WorkspaceID: ws.ID, Steps: []schema.RunStep{step("done", time.Minute, "wait")},
			Finish: &schema.RunFinish{Status: schema.RunCompleted, At: t0.Add(time.Minute), LastNode: "done", LastVisit: 1}},
	}
	check := func() {
		run, err := st.GetRun(ctx, ws.ID, "wf")
		require.NoError(t, err)
		require.Equal(t, schema.RunCompleted, run.Status)
		require.Equal(t, "done", run.CurrentNode)
		require.NotNil(t, run.ConvertedAt)
		require.True(t, converted.Equal(*run.ConvertedAt))
		require.True(t, t0.Add(time.Minute).Equal(*run.EndedAt))
		path, err := st.RunPath(ctx, ws.ID, "wf", "r1")
		require.NoError(t, err)
		require.Len(t, path, 4)
		for i, want := range []struct {
			node, detail string
			left         time.Duration
		}{{"one", "", time.Second}, {"split", "variant:A", 2 * time.Second}, {"wait", "", time.Minute}, {"done", "", time.Minute}} {
			require.Equal(t, want.node, path[i].Node)
			require.Equal(t, want.detail, path[i].Detail)
			require.NotNil(t, path[i].LeftAt, "%s left", want.node)
			require.True(t, t0.Add(want.left).Equal(*path[i].LeftAt), "%s left at %s", want.node, path[i].LeftAt)
		}
	}
	for _, p := range reports {
		require.NoError(t, st.RecordRunProgress(ctx, p))
	}
	check()
	for _, p := range reports {
		require.NoError(t, st.RecordRunProgress(ctx, p))
	}
	check()
}
