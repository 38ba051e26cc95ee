package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// upsertSchedule creates a Temporal Schedule or, when it exists, replaces
// its spec, action and paused state.
func upsertSchedule(ctx context.Context, c client.Client, opts client.ScheduleOptions) error {
	_, err := c.ScheduleClient().Create(ctx, opts)
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", opts.ID, err)
	}
	err = c.ScheduleClient().GetHandle(ctx, opts.ID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			spec := opts.Spec
			s.Spec = &spec
			s.Action = opts.Action
			if s.State == nil {
				s.State = &client.ScheduleState{}
			}
			s.State.Paused = opts.Paused
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = opts.Overlap
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", opts.ID, err)
	}
	return nil
}

// EnsureSegmentRefreshSchedule creates (or updates) the schedule that
// refreshes segment memberships every interval.
func EnsureSegmentRefreshSchedule(ctx context.Context, c client.Client, every time.Duration) error {
	return upsertSchedule(ctx, c, client.ScheduleOptions{
		ID:      SegmentRefreshScheduleID,
		Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "Herald: re-evaluates segment membership as time passes",
		Action: &client.ScheduleWorkflowAction{ID: SegmentRefreshScheduleID, Workflow: SegmentRefreshWorkflow,
			TaskQueue: AudienceTaskQueue, WorkflowExecutionTimeout: time.Hour},
	})
}

// SyncJourneySchedule makes a journey's Temporal Schedule match its live
// version and status: a schedule trigger gets a schedule firing an
// enrollment of its segment at each cron time (in the trigger's time zone,
// else the workspace's), paused while the journey is paused; any other
// trigger, or a stopped or archived journey, has none.
func SyncJourneySchedule(ctx context.Context, c client.Client, workspaceID, workspaceTimezone, journeyID string, t Trigger, status string) error {
	id := ScheduleID(journeyID)
	if t.Type != "schedule" || (status != "active" && status != "paused") {
		err := c.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("delete schedule %s: %w", id, err)
		}
		return nil
	}
	tz := t.Timezone
	if tz == "" {
		tz = workspaceTimezone
	}
	return upsertSchedule(ctx, c, client.ScheduleOptions{
		ID:      id,
		Spec:    client.ScheduleSpec{CronExpressions: []string{t.Cron}, TimeZoneName: tz},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Paused:  status == "paused",
		Note:    "Herald journey " + journeyID + ": enrolls segment " + t.SegmentID,
		Action: &client.ScheduleWorkflowAction{ID: "enroll/" + journeyID + "/scheduled", Workflow: EnrollmentWorkflow, TaskQueue: AudienceTaskQueue,
			Args: []any{EnrollInput{WorkspaceID: workspaceID, JourneyID: journeyID, SegmentID: t.SegmentID, Reason: EnrollSchedule, PerSecond: t.EnrollPerSecond}}},
	})
}
