package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// ReenterWait waits for the run that took a late trigger (interpreter
// version 8) to close.
func (a *Audiences) ReenterWait(ctx context.Context, in workflows.ReenterInput) error {
	// The run's result is not ours to judge; only that it has closed.
	if err := a.router.temporal.GetWorkflow(ctx, in.WorkflowID, in.RunID).Get(ctx, nil); ctx.Err() != nil {
		return fmt.Errorf("wait for run %s to close: %w (%v)", in.WorkflowID, ctx.Err(), err)
	}
	return nil
}

// Reenter enters the customer with the late trigger once its run has
// closed, as the event path would have had the run been closed — the
// journey's live version if it is still active, its trigger filter and entry
// policy — and hands the run it entered (started, or one going) the events
// that came after, in order. A trigger that already started a run (this
// activity retried, or the router started one itself after seeing the run's
// end) starts no other; a run drops event ids it has seen.
func (a *Audiences) Reenter(ctx context.Context, in workflows.ReenterInput) (string, error) {
	return a.router.reenter(ctx, in)
}

func (r *JourneyRouter) reenter(ctx context.Context, in workflows.ReenterInput) (string, error) {
	if len(in.Events) == 0 {
		return "no events", nil
	}
	lj, err := r.store.GetLiveJourney(ctx, in.WorkspaceID, in.JourneyID)
	if errors.Is(err, schema.ErrNotFound) {
		return "journey not live", nil
	}
	if err != nil {
		return "", err
	}
	if lj.Status != schema.JourneyActive {
		return "journey " + lj.Status, nil
	}
	l := liveJourney{LiveJourney: lj}
	if err := json.Unmarshal(lj.Definition, &l.def); err != nil {
		return "", fmt.Errorf("decode journey %s v%d: %w", lj.ID, lj.Version, err)
	}
	ws, err := r.store.GetWorkspace(ctx, in.WorkspaceID)
	if err != nil {
		return "", err
	}
	// The customer may have been merged or erased while the run closed.
	switch in.CustomerID, err = r.store.CurrentCustomerID(ctx, in.WorkspaceID, in.CustomerID); {
	case err != nil:
		return "", err
	case in.CustomerID == "":
		return "customer no longer exists", nil
	}
	wfID, outcome := "", "not the journey's trigger"
	for _, ev := range in.Events {
		activity.RecordHeartbeat(ctx, ev.ID)
		if l.def.Trigger.Takes(ev) {
			// As a redelivered event: a run started with it already counts.
			id, o, err := r.enter(ctx, ws, l, in.CustomerID, ev, func(string) bool { return false })
			if err != nil {
				return "", err
			}
			if wfID == "" {
				outcome = o
			}
			if id != "" {
				wfID = id
			}
			continue
		}
		if wfID == "" {
			continue // no run of this journey takes it
		}
		err := r.signal(ctx, wfID, "", workflows.SignalEvent, ev)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return "", fmt.Errorf("signal run %s: %w", wfID, err)
		}
	}
	r.log.Info("late trigger entered", "journey_id", in.JourneyID, "customer_id", in.CustomerID, "event_id", in.Events[0].ID,
		"events", len(in.Events), "outcome", outcome)
	return outcome, nil
}
