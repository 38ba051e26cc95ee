package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// BenchTaskQueue is the task queue of the bare baseline of `herald bench
// journeys`. The bench process runs its own worker on it, so Herald's worker
// never sees these workflows.
const BenchTaskQueue = "herald-bench"

// BenchStepActivity is the name of the bare baseline's only activity. The
// bench registers a no-op under this name: the baseline measures Temporal
// alone, with none of Herald's Postgres work.
const BenchStepActivity = "BenchStep"

// BenchBareInput starts one bare baseline workflow.
type BenchBareInput struct {
	// Delay is the timer between the two steps (the journey's delay node).
	Delay time.Duration `json:"delay"`
}

// BenchStepInput names the step of a bare baseline workflow that runs.
type BenchStepInput struct {
	WorkflowID string `json:"workflow_id"`
	Step       string `json:"step"`
}

// BenchBareWorkflow has the shape of the bench journey (send → delay →
// send → exit) and nothing of Herald: an activity, a durable timer, an
// activity, with the activity options JourneyWorkflow uses for sends. The
// bench runs it beside the journey to show what Herald's ingest, routing,
// interpreter and projection cost over a minimal Temporal workflow.
func BenchBareWorkflow(ctx workflow.Context, in BenchBareInput) error {
	ctx = activityCtx(ctx)
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	if err := workflow.ExecuteActivity(ctx, BenchStepActivity, BenchStepInput{WorkflowID: id, Step: "one"}).Get(ctx, nil); err != nil {
		return err
	}
	if err := workflow.Sleep(ctx, in.Delay); err != nil {
		return err
	}
	return workflow.ExecuteActivity(ctx, BenchStepActivity, BenchStepInput{WorkflowID: id, Step: "two"}).Get(ctx, nil)
}
