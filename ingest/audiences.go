package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// Audiences are the activities that enter segments into journeys and keep
// segment membership current over time. They start runs through the
// router, so an enrollment obeys the same entry policies as events.
type Audiences struct {
	store  *schema.Store
	router *JourneyRouter
	// CapWait is how long an enrollment waits for a journey at
	// max_concurrent before trying a member again.
	CapWait time.Duration
}

// NewAudiences builds the activities.
func NewAudiences(store *schema.Store, router *JourneyRouter) *Audiences {
	return &Audiences{store: store, router: router, CapWait: time.Second}
}

// Register adds the activities to a worker under the names workflows use.
func (a *Audiences) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.StartEnrollment, activity.RegisterOptions{Name: workflows.StartEnrollmentActivity})
	r.RegisterActivityWithOptions(a.EnrollPage, activity.RegisterOptions{Name: workflows.EnrollPageActivity})
	r.RegisterActivityWithOptions(a.FinishEnrollment, activity.RegisterOptions{Name: workflows.FinishEnrollmentActivity})
	r.RegisterActivityWithOptions(a.RefreshSegments, activity.RegisterOptions{Name: workflows.RefreshSegmentsActivity})
	r.RegisterActivityWithOptions(a.ReenterWait, activity.RegisterOptions{Name: workflows.ReenterWaitActivity})
	r.RegisterActivityWithOptions(a.Reenter, activity.RegisterOptions{Name: workflows.ReenterActivity})
	r.RegisterActivityWithOptions(a.RouteSegmentChanges, activity.RegisterOptions{Name: workflows.RouteSegmentChangesActivity})
}

// RouteSegmentChanges routes every segment change journeys have not been
// told about yet (an import's additions to a manual segment).
func (a *Audiences) RouteSegmentChanges(ctx context.Context) error {
	return a.router.RoutePendingSegmentChanges(ctx)
}

// StartEnrollment records the enrollment with the segment's size now.
func (a *Audiences) StartEnrollment(ctx context.Context, in workflows.EnrollInput) error {
	cond, _ := json.Marshal(map[string]string{"segment": in.SegmentID})
	count, err := a.store.PreviewSegment(ctx, in.WorkspaceID, cond, time.Now(), 0)
	var se *schema.SegmentError
	if errors.As(err, &se) {
		return fmt.Errorf("segment %s: %w", in.SegmentID, err)
	}
	if err != nil {
		return err
	}
	_, err = a.store.StartEnrollment(ctx, schema.Enrollment{ID: activity.GetInfo(ctx).WorkflowExecution.ID, WorkspaceID: in.WorkspaceID,
		JourneyID: in.JourneyID, SegmentID: in.SegmentID, Reason: in.Reason, Total: count.Count})
	return err
}

// FinishEnrollment records the end of an enrollment.
func (a *Audiences) FinishEnrollment(ctx context.Context, in workflows.FinishEnrollmentInput) error {
	return a.store.FinishEnrollment(ctx, in.EnrollmentID, in.Status, in.Error)
}

// enrollLanes is how many members of a page enter at once.
const enrollLanes = 16

// EnrollPage enters the next page of members after the enrollment's
// cursor and moves the cursor past them. Runs are known by their trigger
// event ids (<enrollment id>/<customer id>): a retried page skips the
// members an earlier attempt entered, and the page's counts come from the
// runs, so they add up whatever attempts ran.
func (a *Audiences) EnrollPage(ctx context.Context, in workflows.EnrollPageInput) (workflows.EnrollPageResult, error) {
	var res workflows.EnrollPageResult
	e, err := a.store.GetEnrollment(ctx, in.EnrollmentID)
	if err != nil {
		return res, err
	}
	if e.Status != schema.EnrollmentRunning {
		res.Done = true
		return res, nil
	}
	lj, err := a.store.GetLiveJourney(ctx, e.WorkspaceID, e.JourneyID)
	if err != nil {
		return res, err
	}
	switch lj.Status {
	case schema.JourneyPaused:
		res.Paused = true
		return res, nil
	case schema.JourneyActive:
	default:
		res.Done = true
		return res, a.store.FinishEnrollment(ctx, e.ID, schema.EnrollmentCancelled, "the journey is "+lj.Status)
	}
	journey := liveJourney{LiveJourney: lj}
	if err := json.Unmarshal(lj.Definition, &journey.def); err != nil {
		return res, fmt.Errorf("decode journey %s v%d: %w", lj.ID, lj.Version, err)
	}
	ws, err := a.store.GetWorkspace(ctx, e.WorkspaceID)
	if err != nil {
		return res, err
	}
	now := time.Now().UTC()
	// One member more than the page tells whether another page follows,
	// so the last page ends the enrollment without an empty one after it.
	members, err := a.store.SegmentMembers(ctx, e.WorkspaceID, e.SegmentID, now, e.Cursor, in.Limit+1)
	if err != nil {
		return res, err
	}
	more := len(members) > in.Limit
	if more {
		members = members[:in.Limit]
	}
	if len(members) == 0 {
		res.Done = true
		return res, nil
	}
	ids, eventIDs := make([]string, len(members)), make([]string, len(members))
	for i, m := range members {
		ids[i], eventIDs[i] = m.ID, e.ID+"/"+m.ID
	}
	done, err := a.store.RunsStartedBy(ctx, e.WorkspaceID, e.JourneyID, eventIDs)
	if err != nil {
		return res, err
	}
	// Under "once", members who ever entered are skipped here, not one by
	// one (a weekly schedule mostly meets people it has seen).
	var entered map[string]bool
	if p := journey.def.Entry.Policy; (p == "once" || p == "") && journey.def.Entry.Key == "" {
		if entered, err = a.store.CustomersWithRuns(ctx, e.WorkspaceID, e.JourneyID, ids); err != nil {
			return res, err
		}
	}
	name, props := "Scheduled", map[string]any{"segment_id": e.SegmentID, "enrollment_id": e.ID}
	if e.Reason == workflows.EnrollIncludeExisting {
		name, props = schema.EventSegmentEntered, map[string]any{"segment_id": e.SegmentID, "enrollment_id": e.ID, "existing": true}
	}
	var limiter *rate.Limiter
	if in.PerSecond > 0 {
		limiter = rate.NewLimiter(rate.Limit(in.PerSecond), max(1, in.PerSecond/10))
	}
	var handled atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(enrollLanes)
	for i, m := range members {
		if done[eventIDs[i]] || entered[m.ID] {
			continue
		}
		g.Go(func() error {
			if limiter != nil {
				if err := limiter.Wait(gctx); err != nil {
					return err
				}
			}
			ev := workflows.Event{ID: eventIDs[i], Name: name, Time: now, Properties: props}
			if err := a.enterWhenRoom(gctx, ws, journey, m.ID, ev); err != nil {
				return err
			}
			activity.RecordHeartbeat(ctx, handled.Add(1))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return workflows.EnrollPageResult{}, err
	}
	// Count from the runs themselves: exact even when an earlier attempt
	// of this page (a worker thought lost) entered some of them.
	started, err := a.store.RunsStartedBy(ctx, e.WorkspaceID, e.JourneyID, eventIDs)
	if err != nil {
		return workflows.EnrollPageResult{}, err
	}
	res.Enrolled, res.Skipped = len(started), len(members)-len(started)
	if err := a.store.AdvanceEnrollment(ctx, e.ID, e.Cursor, members[len(members)-1].ID, res.Enrolled, res.Skipped); err != nil {
		return workflows.EnrollPageResult{}, err
	}
	res.Done = !more
	return res, nil
}

// enterWhenRoom enters a member, waiting while the journey is at its
// max_concurrent (an enrollment delays members rather than drop them).
func (a *Audiences) enterWhenRoom(ctx context.Context, ws schema.Workspace, lj liveJourney, customerID string, ev workflows.Event) error {
	for {
		_, outcome, err := a.router.enter(ctx, ws, lj, customerID, ev, nil)
		if err == nil && outcome != EntryStarted && outcome != EntryCapped {
			activity.GetLogger(ctx).Debug("member not entered", "customer_id", customerID, "outcome", outcome)
		}
		if err != nil || outcome != EntryCapped {
			return err
		}
		activity.RecordHeartbeat(ctx, "waiting for room under max_concurrent")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.CapWait):
		}
	}
}

// RefreshSegments re-evaluates every dynamic segment for everyone (time
// passing moves people out of "in the last 7 days") and tells journeys
// about the entries and exits, then routes any change still waiting (a
// manual change or an ingest batch that stopped before routing).
func (a *Audiences) RefreshSegments(ctx context.Context) error {
	refs, err := a.store.DynamicSegmentsToRefresh(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, ref := range refs {
		changes, err := a.store.RefreshSegment(ctx, ref.WorkspaceID, ref.SegmentID, now)
		if errors.Is(err, schema.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if err := a.router.RouteSegmentChanges(ctx, changes); err != nil {
			return err
		}
		activity.RecordHeartbeat(ctx, ref.SegmentID)
	}
	return a.router.RoutePendingSegmentChanges(ctx)
}

// RoutePendingSegmentChanges routes every recorded segment change journeys
// have not been told about yet, oldest first.
func (r *JourneyRouter) RoutePendingSegmentChanges(ctx context.Context) error {
	for {
		changes, err := r.store.PendingSegmentChanges(ctx, 1000)
		if err != nil || len(changes) == 0 {
			return err
		}
		if err := r.RouteSegmentChanges(ctx, changes); err != nil {
			return err
		}
	}
}
