package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/heraldhq/herald/workflows"
)

// TestReplayHistories replays histories recorded from real runs on a real
// Temporal server against today's interpreter: a change that would break
// running journeys fails here. Behaviour changes need workflow.GetVersion.
// Recorded by `go test ./api -run 'Lifecycle|PauseHolds|LoopsWithoutWaiting' -record-histories`
// and `go test ./ingest -run 'LongWaitsHandOn|TriggerForARunThatIsClosing' -record-histories`
// (import_into_segment.json: an import into a manual segment, recorded on a
// real server before its batches routed segment changes); a file
// named _vN was recorded by interpreter N and is kept when a newer one
// rewrites its name without the suffix.
func TestReplayHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.JourneyWorkflow)
			r.RegisterWorkflow(workflows.ReenterWorkflow)
			r.RegisterWorkflow(workflows.ImportCustomersWorkflow)
			file, err := os.Open(f)
			require.NoError(t, err)
			defer file.Close()
			hist, err := client.HistoryFromJSON(file, client.HistoryJSONOptions{})
			require.NoError(t, err)
			// The run's workflow id, which a history does not hold, from its
			// input (a child's id names it).
			started := hist.Events[0].GetWorkflowExecutionStartedEventAttributes()
			exec := workflow.Execution{RunID: started.GetOriginalExecutionRunId()}
			if started.GetWorkflowType().GetName() == "ImportCustomersWorkflow" {
				var in workflows.ImportInput
				require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(started.GetInput(), &in))
				exec.ID = workflows.ImportWorkflowID(in.ImportID)
			} else {
				var in workflows.JourneyInput
				require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(started.GetInput(), &in))
				exec.ID = workflows.WorkflowID(in.JourneyID, in.CustomerID, in.EntryKey)
			}
			require.NoError(t, r.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{OriginalExecution: exec}))
		})
	}
}
