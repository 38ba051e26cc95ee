package workflows_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"

	"github.com/heraldhq/herald/workflows"
)

// TestReplayHistories replays histories recorded from real runs on a real
// Temporal server against today's interpreter: a change that would break
// running journeys fails here. Behaviour changes need workflow.GetVersion.
// Recorded by `go test ./api -run 'Lifecycle|PauseHolds|LoopsWithoutWaiting' -record-histories`
// and `go test ./ingest -run LongWaitsHandOn -record-histories`; a file
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
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
