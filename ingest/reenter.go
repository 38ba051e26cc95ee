package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// Reenter enters a customer with a trigger event their run took after its
// walk had ended (interpreter version 8): it waits for that run to close,
// then enters as the event path would have had the run been closed — the
// journey's live version if it is still active, its trigger filter and entry
// policy. An event that already started a run (this activity retried, or the
// router started one itself after seeing the run's end) starts no other.
func (a *Audiences) Reenter(ctx context.Context, in workflows.ReenterInput) (string, error) {
	return a.router.reenter(ctx, in)
}

func (r *JourneyRouter) reenter(ctx context.Context, in workflows.ReenterInput) (string, error) {
	// The run's result is not ours to judge; only that it has closed.
	if err := r.temporal.GetWorkflow(ctx, in.WorkflowID, in.RunID).Get(ctx, nil); ctx.Err() != nil {
		return "", fmt.Errorf("wait for run %s to close: %w (%v)", in.WorkflowID, ctx.Err(), err)
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
	switch t := l.def.Trigger; {
	case t.Type == "event" && t.Event == in.Event.Name, t.Type == "segment" && in.Event.Name == schema.EventSegmentEntered:
	default:
		return "not the journey's trigger", nil
	}
	ws, err := r.store.GetWorkspace(ctx, in.WorkspaceID)
	if err != nil {
		return "", err
	}
	activity.RecordHeartbeat(ctx)
	// As a redelivered event: a run started with it already counts.
	_, outcome, err := r.enter(ctx, ws, l, in.CustomerID, in.Event, func(string) bool { return false })
	if err == nil {
		r.log.Info("late trigger entered", "journey_id", in.JourneyID, "customer_id", in.CustomerID, "event_id", in.Event.ID, "outcome", outcome)
	}
	return outcome, err
}
