package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// liveTrigger is the trigger of a journey's live version (nil when it was
// never published).
func (s *Server) liveTrigger(ctx context.Context, workspaceID, journeyID string) (*workflows.Trigger, error) {
	lj, err := s.deps.Store.GetLiveJourney(ctx, workspaceID, journeyID)
	if errors.Is(err, schema.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var def workflows.Journey
	if err := json.Unmarshal(lj.Definition, &def); err != nil {
		return nil, fmt.Errorf("decode journey %s v%d: %w", lj.ID, lj.Version, err)
	}
	return &def.Trigger, nil
}

// syncSchedule makes the journey's Temporal Schedule follow its live
// trigger and status (see workflows.SyncJourneySchedule).
func (s *Server) syncSchedule(ctx context.Context, workspaceID, journeyID, status string) error {
	t, err := s.liveTrigger(ctx, workspaceID, journeyID)
	if err != nil || t == nil {
		return err
	}
	ws, err := s.deps.Store.GetWorkspace(ctx, workspaceID)
	if err != nil {
		return err
	}
	return workflows.SyncJourneySchedule(ctx, s.deps.Temporal, workspaceID, ws.Timezone, journeyID, *t, status)
}

// startEnrollment starts the enrollment of a segment trigger's current
// members when a publish turns include_existing on (or changes the
// segment): the first publish with it, not every later one. It returns the
// enrollment id, or "" when none was started.
func (s *Server) startEnrollment(ctx context.Context, workspaceID, journeyID string, version int, before *workflows.Trigger, t workflows.Trigger) (string, error) {
	if t.Type != "segment" || !t.IncludeExisting {
		return "", nil
	}
	if before != nil && before.Type == "segment" && before.IncludeExisting && before.SegmentID == t.SegmentID {
		return "", nil
	}
	id := workflows.EnrollmentWorkflowID(journeyID, version)
	_, err := s.deps.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: workflows.AudienceTaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflows.EnrollmentWorkflow, workflows.EnrollInput{WorkspaceID: workspaceID, JourneyID: journeyID, SegmentID: t.SegmentID,
		Reason: workflows.EnrollIncludeExisting, PerSecond: t.EnrollPerSecond})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &already) {
		return "", fmt.Errorf("start enrollment %s: %w", id, err)
	}
	return id, nil
}

// enrollmentBody is an enrollment with its rate and ETA.
type enrollmentBody struct {
	schema.Enrollment
	// PerSecond is the average entry rate so far; ETASeconds how long the
	// rest would take at it (null while unknown or when finished).
	PerSecond  float64  `json:"per_second"`
	ETASeconds *float64 `json:"eta_seconds"`
}

func toEnrollmentBody(e schema.Enrollment, now time.Time) enrollmentBody {
	b := enrollmentBody{Enrollment: e}
	end := now
	if e.FinishedAt != nil {
		end = *e.FinishedAt
	}
	handled := e.Enrolled + e.Skipped
	if secs := end.Sub(e.StartedAt).Seconds(); secs > 0 {
		b.PerSecond = float64(handled) / secs
	}
	if e.Status == schema.EnrollmentRunning && b.PerSecond > 0 && e.Total >= handled {
		eta := float64(e.Total-handled) / b.PerSecond
		b.ETASeconds = &eta
	}
	return b
}

func (s *Server) listEnrollments(c *gin.Context) {
	p := current(c)
	if !s.journeyExists(c) {
		return
	}
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	list, err := s.deps.Store.ListEnrollmentsPage(c, p.workspaceID, c.Param("id"), limit, c.Query("cursor"))
	if errors.Is(err, schema.ErrNotFound) {
		failField(c, http.StatusBadRequest, "cursor", "cursor is not an enrollment of this journey; use the next_cursor of the previous page")
		return
	}
	if err != nil {
		s.internal(c, "list enrollments", err)
		return
	}
	now := time.Now()
	out := make([]enrollmentBody, len(list))
	for i, e := range list {
		out[i] = toEnrollmentBody(e, now)
	}
	// "items" as every list; "enrollments" is its earlier name, kept for
	// clients written against it.
	body := gin.H{"items": out, "enrollments": out}
	if len(list) == limit {
		body["next_cursor"] = list[len(list)-1].ID
	}
	c.JSON(http.StatusOK, body)
}

// cancelEnrollment cancels a running enrollment: members already entered
// stay in the journey, the rest are not entered.
func (s *Server) cancelEnrollment(c *gin.Context) {
	p := current(c)
	e, err := s.deps.Store.GetEnrollment(c, c.Param("enrollment_id"))
	if err == nil && (e.WorkspaceID != p.workspaceID || e.JourneyID != c.Param("id")) {
		err = schema.ErrNotFound
	}
	if s.storeError(c, "load enrollment", err) {
		return
	}
	if e.Status != schema.EnrollmentRunning {
		c.JSON(http.StatusConflict, gin.H{"error": fmt.Sprintf("enrollment %s is %s, not running", e.ID, e.Status)})
		return
	}
	if err := s.cancelEnrollmentRun(c, e.ID); err != nil {
		s.internal(c, "cancel enrollment", err)
		return
	}
	s.audit(c, "cancel_enrollment", "journey", e.JourneyID, map[string]any{"enrollment_id": e.ID})
	c.JSON(http.StatusAccepted, gin.H{"id": e.ID, "status": "cancelling"})
}

func (s *Server) cancelEnrollmentRun(ctx context.Context, id string) error {
	err := s.deps.Temporal.CancelWorkflow(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		// The workflow is gone (it ended): record the end it missed.
		return s.deps.Store.FinishEnrollment(ctx, id, schema.EnrollmentCancelled, "")
	}
	return err
}

// cancelEnrollments cancels the journey's running enrollments (at stop).
func (s *Server) cancelEnrollments(ctx context.Context, workspaceID, journeyID string) error {
	list, err := s.deps.Store.ListEnrollments(ctx, workspaceID, journeyID, 1000)
	if err != nil {
		return err
	}
	for _, e := range list {
		if e.Status == schema.EnrollmentRunning {
			if err := s.cancelEnrollmentRun(ctx, e.ID); err != nil {
				return err
			}
		}
	}
	return nil
}
