package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Reentry activities, implemented by the ingest package (they enter the
// customer the way the event path does).
const (
	ReenterWaitActivity = "ReenterWait"
	ReenterActivity     = "Reenter"
)

// ReenterInput is what reached a run after its walk had ended (interpreter
// version 8): the router saw the run in progress and handed it a trigger of
// its journey, and then the customer's next events, but the run was closing
// and took no more steps.
type ReenterInput struct {
	WorkspaceID string `json:"workspace_id"`
	JourneyID   string `json:"journey_id"`
	CustomerID  string `json:"customer_id"`
	// WorkflowID and RunID are the run that took the events: the entry waits
	// for it to close (a customer's run of a journey is one at a time).
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// Events are the trigger and the events after it, in the order the run
	// took them; more come as signals while the run closes.
	Events []Event `json:"events"`
}

// ReenterWorkflowID is the id of the workflow that enters a late trigger:
// reenter/<run's workflow id>/<trigger's event id>, or reenter/sha256:<hex>
// of that when it would pass MaxIDBytes.
func ReenterWorkflowID(runWorkflowID, eventID string) string {
	id := "reenter/" + runWorkflowID + "/" + eventID
	if len(id) <= MaxIDBytes {
		return id
	}
	sum := sha256.Sum256([]byte(runWorkflowID + "/" + eventID))
	return "reenter/sha256:" + hex.EncodeToString(sum[:])
}

// ReenterWorkflow enters the customer into the journey with a trigger that
// reached their run as it was closing, once that run has closed — under the
// journey's entry policy and trigger filter, as for any event — and hands
// the run it enters the events that came after the trigger, in order. It is
// a child the closing run starts and abandons; the run signals it the
// events that come after it started.
func ReenterWorkflow(ctx workflow.Context, in ReenterInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		// About a quarter of an hour: a lasting refusal (the customer
		// erased meanwhile) ends it.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute, MaximumAttempts: 20},
	})
	if err := workflow.ExecuteActivity(ctx, ReenterWaitActivity, in).Get(ctx, nil); err != nil {
		return err
	}
	// The run has closed: every event it handed on is here.
	events := workflow.GetSignalChannel(ctx, SignalEvent)
	for {
		var ev Event
		if !events.ReceiveAsync(&ev) {
			break
		}
		in.Events = append(in.Events, ev)
	}
	return workflow.ExecuteActivity(ctx, ReenterActivity, in).Get(ctx, nil)
}

// reenterLate hands the late events — from the first late trigger on — to
// one ReenterWorkflow child, and those that come meanwhile to it as signals,
// in order. Before each look it lets the listener run: a signal delivered in
// the same workflow task as the step that brought the run here is handed to
// the listener's waiting receive, where the run's own ReceiveAsync cannot
// see it, and the server would close the run without it (it refuses to close
// a run only for a signal the task has not seen). Then it drains the channel
// itself.
func (r *run) reenterLate(ctx workflow.Context, events workflow.ReceiveChannel) {
	info := workflow.GetInfo(ctx)
	var child workflow.ChildWorkflowFuture
	sent := 0 // r.late[:sent] are the child's
	for {
		settle(ctx)
		for {
			var ev Event
			if !events.ReceiveAsync(&ev) {
				break
			}
			r.onEvent(ctx, ev)
		}
		if sent == len(r.late) {
			return
		}
		if child == nil {
			in := ReenterInput{WorkspaceID: r.in.WorkspaceID, JourneyID: r.in.JourneyID, CustomerID: r.in.CustomerID,
				WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Events: slices.Clone(r.late)}
			sent = len(in.Events)
			opts := workflow.ChildWorkflowOptions{
				WorkflowID:        ReenterWorkflowID(in.WorkflowID, r.late[0].ID),
				ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
			}
			if r.version >= 9 {
				// Its input holds the customer's events: an erasure finds it
				// by the customer, as it finds the runs.
				opts.TypedSearchAttributes = temporal.NewSearchAttributes(SAWorkspaceID.ValueSet(r.in.WorkspaceID),
					SACustomerID.ValueSet(r.in.CustomerID), SAJourneyID.ValueSet(r.in.JourneyID))
			}
			cctx := workflow.WithChildOptions(ctx, opts)
			child = workflow.ExecuteChildWorkflow(cctx, ReenterWorkflow, in)
			if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
				// An id in use: the same trigger was handed on before.
				workflow.GetLogger(ctx).Warn("hand a late trigger on", "event_id", r.late[0].ID, "error", err)
				return
			}
			continue
		}
		for sent < len(r.late) {
			ev := r.late[sent]
			sent++
			if err := child.SignalChildWorkflow(ctx, SignalEvent, ev).Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Warn("hand a late event on", "event_id", ev.ID, "error", err)
			}
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
