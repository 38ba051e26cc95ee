package workflows

import (
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Enrollment activities, implemented by the ingest package (they start runs
// the way the event path does).
const (
	StartEnrollmentActivity  = "StartEnrollment"
	EnrollPageActivity       = "EnrollPage"
	FinishEnrollmentActivity = "FinishEnrollment"
)

// Enrollment defaults: members per page activity, pages before continue-as-new,
// and how long to wait before looking again at a paused journey.
const (
	EnrollPageSize      = 500
	EnrollPagesPerRun   = 40
	EnrollPausedRecheck = 30 * time.Second
)

// Enrollment reasons.
const (
	EnrollIncludeExisting = "include_existing"
	EnrollSchedule        = "schedule"
)

// EnrollmentWorkflowID is the id of the enrollment a publish starts
// (enroll/<journey_id>/v<version>); a schedule's firings get the schedule's
// action id with the firing time appended by Temporal.
func EnrollmentWorkflowID(journeyID string, version int) string {
	return "enroll/" + journeyID + "/v" + strconv.Itoa(version)
}

// ScheduleID is the Temporal Schedule of a journey with a schedule trigger.
func ScheduleID(journeyID string) string { return "journey-schedule/" + journeyID }

// EnrollInput starts an enrollment of a segment's members into a journey.
type EnrollInput struct {
	WorkspaceID string `json:"workspace_id"`
	JourneyID   string `json:"journey_id"`
	SegmentID   string `json:"segment_id"`
	Reason      string `json:"reason"`
	// PerSecond caps how many members enter per second (0: as fast as the
	// servers take them).
	PerSecond int `json:"per_second,omitempty"`
	// PageSize and PagesPerRun default to EnrollPageSize and EnrollPagesPerRun.
	PageSize    int `json:"page_size,omitempty"`
	PagesPerRun int `json:"pages_per_run,omitempty"`
	// HeartbeatTimeout is how soon a page of a lost worker is retried
	// elsewhere (default 10s); a cancel reaches a page within about as long.
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
	// Started is set when continuing as new: the enrollment is recorded.
	Started bool `json:"started,omitempty"`
}

// EnrollPageInput is one page of an enrollment. The page starts at the
// enrollment's stored cursor, so a retried page resumes where the last
// one recorded.
type EnrollPageInput struct {
	EnrollmentID string `json:"enrollment_id"`
	Limit        int    `json:"limit"`
	PerSecond    int    `json:"per_second,omitempty"`
}

// EnrollPageResult says what a page did.
type EnrollPageResult struct {
	Enrolled int  `json:"enrolled"`
	Skipped  int  `json:"skipped"`
	Done     bool `json:"done"`
	// Paused: the journey is paused; nobody entered, look again later.
	Paused bool `json:"paused"`
}

// FinishEnrollmentInput ends an enrollment.
type FinishEnrollmentInput struct {
	EnrollmentID string `json:"enrollment_id"`
	Status       string `json:"status"`
	Error        string `json:"error,omitempty"`
}

// EnrollmentWorkflow walks a segment in keyset pages and enters each member
// into the journey under its entry policy (the same path as events), at
// most PerSecond a second. Progress lives in Postgres (enrolled / skipped /
// total); the workflow continues as new between pages, waits while the
// journey is paused, and records its end — completed, cancelled (the
// workflow was cancelled) or failed.
func EnrollmentWorkflow(ctx workflow.Context, in EnrollInput) error {
	if in.PageSize <= 0 {
		in.PageSize = EnrollPageSize
	}
	if in.PagesPerRun <= 0 {
		in.PagesPerRun = EnrollPagesPerRun
	}
	if in.HeartbeatTimeout <= 0 {
		in.HeartbeatTimeout = 10 * time.Second
	}
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    in.HeartbeatTimeout,
		// A cancelled enrollment is recorded once its page has stopped.
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	finish := func(status, msg string) error {
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		dctx = workflow.WithActivityOptions(dctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 10}})
		return workflow.ExecuteActivity(dctx, FinishEnrollmentActivity, FinishEnrollmentInput{EnrollmentID: id, Status: status, Error: msg}).Get(dctx, nil)
	}
	if !in.Started {
		if err := workflow.ExecuteActivity(actx, StartEnrollmentActivity, in).Get(ctx, nil); err != nil {
			if temporal.IsCanceledError(err) {
				return finish("cancelled", "")
			}
			_ = finish("failed", err.Error())
			return err
		}
		in.Started = true
	}
	info := workflow.GetInfo(ctx)
	for pages := 0; ; pages++ {
		if pages == in.PagesPerRun || (pages > 0 && info.GetContinueAsNewSuggested()) {
			return workflow.NewContinueAsNewError(ctx, EnrollmentWorkflow, in)
		}
		var res EnrollPageResult
		err := workflow.ExecuteActivity(actx, EnrollPageActivity, EnrollPageInput{EnrollmentID: id, Limit: in.PageSize, PerSecond: in.PerSecond}).Get(ctx, &res)
		if err == nil && res.Paused {
			err = workflow.Sleep(ctx, EnrollPausedRecheck)
		}
		switch {
		case temporal.IsCanceledError(err) || ctx.Err() != nil:
			if ferr := finish("cancelled", ""); ferr != nil {
				return ferr
			}
			return ctx.Err()
		case err != nil:
			_ = finish("failed", err.Error())
			return err
		case res.Done:
			return finish("completed", "")
		}
	}
}

// RefreshSegmentsActivity re-evaluates every dynamic segment and routes
// the entries and exits it finds (implemented by the ingest package).
const RefreshSegmentsActivity = "RefreshSegments"

// SegmentRefreshScheduleID is the Temporal Schedule that runs
// SegmentRefreshWorkflow: conditions relative to now (within_last, event
// windows) change membership as time passes, with no event to notice it.
const SegmentRefreshScheduleID = "herald-segment-refresh"

// SegmentRefreshWorkflow runs one refresh of segment memberships.
func SegmentRefreshWorkflow(ctx workflow.Context) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5},
	})
	return workflow.ExecuteActivity(actx, RefreshSegmentsActivity).Get(ctx, nil)
}
