package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ReenterActivity is implemented by the ingest package (it enters the
// customer the way the event path does).
const ReenterActivity = "Reenter"

// ReenterInput is a trigger event that reached a run after its walk had
// ended (interpreter version 8): the router saw the run in progress and
// handed the event to it, but the run was closing and took no more steps.
type ReenterInput struct {
	WorkspaceID string `json:"workspace_id"`
	JourneyID   string `json:"journey_id"`
	CustomerID  string `json:"customer_id"`
	// WorkflowID and RunID are the run that took the event: the entry waits
	// for it to close (a customer's run of a journey is one at a time).
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Event      Event  `json:"event"`
}

// ReenterWorkflowID is the id of the workflow that enters a late trigger:
// reenter/<run's workflow id>/<event id>, or reenter/sha256:<hex> of that
// when it would pass MaxIDBytes.
func ReenterWorkflowID(runWorkflowID, eventID string) string {
	id := "reenter/" + runWorkflowID + "/" + eventID
	if len(id) <= MaxIDBytes {
		return id
	}
	sum := sha256.Sum256([]byte(runWorkflowID + "/" + eventID))
	return "reenter/sha256:" + hex.EncodeToString(sum[:])
}

// ReenterWorkflow enters the customer into the journey with an event that
// reached their run as it was closing, once that run has closed, under the
// journey's entry policy and trigger filter as for any event. It is a child
// the closing run starts and abandons.
func ReenterWorkflow(ctx workflow.Context, in ReenterInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	return workflow.ExecuteActivity(ctx, ReenterActivity, in).Get(ctx, nil)
}

// enters says whether ev could be an entry into the run's journey: its
// trigger event (a segment trigger's entered event). The router decides
// the rest (filter, entry policy, the journey still live).
func (r *run) enters(ev Event) bool {
	t := r.in.Journey.Trigger
	switch t.Type {
	case "event":
		return ev.Name == t.Event
	case "segment":
		id, _ := ev.Properties["segment_id"].(string)
		return ev.Name == segmentEntered && id == t.SegmentID
	}
	return false // api and schedule entries are not made by events
}

// segmentEntered is the event a segment entry routes as (schema.EventSegmentEntered).
const segmentEntered = "Segment Entered"

// reenterLate hands every late trigger to a ReenterWorkflow child and waits
// for each to start; events that come meanwhile join the list. Before each
// look it lets the listener run: a signal delivered in the same workflow
// task as the step that brought the run here is handed to the listener's
// waiting receive, where the run's own ReceiveAsync cannot see it, and the
// server would close the run without it (it refuses to close a run only
// for a signal the task has not seen). Then it drains the channel itself.
func (r *run) reenterLate(ctx workflow.Context, events workflow.ReceiveChannel) {
	info := workflow.GetInfo(ctx)
	for done := 0; ; done++ {
		for done == len(r.late) {
			settle(ctx)
			var ev Event
			if !events.ReceiveAsync(&ev) {
				if done == len(r.late) {
					return
				}
				break
			}
			r.onEvent(ctx, ev)
		}
		ev := r.late[done]
		in := ReenterInput{WorkspaceID: r.in.WorkspaceID, JourneyID: r.in.JourneyID, CustomerID: r.in.CustomerID,
			WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Event: ev}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:        ReenterWorkflowID(in.WorkflowID, ev.ID),
			ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		})
		err := workflow.ExecuteChildWorkflow(cctx, ReenterWorkflow, in).GetChildWorkflowExecution().Get(ctx, nil)
		if err != nil {
			// An id in use: the same event was handed on before (its
			// entry is being made).
			workflow.GetLogger(ctx).Warn("hand a late trigger on", "event_id", ev.ID, "error", err)
		}
	}
}

// settle lets every other coroutine of the run go until it blocks: the
// caller waits on one started after them, which the dispatcher runs after
// them.
func settle(ctx workflow.Context) {
	ran := false
	workflow.Go(ctx, func(workflow.Context) { ran = true })
	_ = workflow.Await(ctx, func() bool { return ran })
}
