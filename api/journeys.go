package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	batchpb "go.temporal.io/api/batch/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// journeyBody is a journey as the API returns it.
type journeyBody struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Status      string            `json:"status"`
	LiveVersion *int              `json:"live_version"`
	Definition  workflows.Journey `json:"definition"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func toJourneyBody(j schema.Journey) journeyBody {
	b := journeyBody{ID: j.ID, Name: j.Name, Status: j.Status, LiveVersion: j.LiveVersion, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
	_ = json.Unmarshal(j.Definition, &b.Definition)
	return b
}

// invalidJourney answers 422 with every validation error.
func invalidJourney(c *gin.Context, errs workflows.ValidationErrors) {
	c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{
		"error":  "journey is invalid: " + errs.Error(),
		"errors": errs,
	})
}

// readJourney decodes and validates a journey definition from the body.
func (s *Server) readJourney(c *gin.Context) (workflows.Journey, json.RawMessage, bool) {
	var def workflows.Journey
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		c.Request.Body = io.NopCloser(errReader{err}) // bindJSON answers it
	} else {
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		if id, field, msg := firstBadNode(body); msg != "" {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": fmt.Sprintf("node %q: %s", id, msg), "node": id, "field": field})
			return def, nil, false
		}
	}
	if !bindJSON(c, &def) {
		return def, nil, false
	}
	if !s.journeyValid(c, def) {
		return def, nil, false
	}
	raw, err := json.Marshal(def)
	if err != nil {
		s.internal(c, "encode journey", err)
		return def, nil, false
	}
	return def, raw, true
}

// journeyValid validates a definition against the workspace's templates
// and segments; it answers 422 (or 500) itself and reports whether the
// definition is valid.
func (s *Server) journeyValid(c *gin.Context, def workflows.Journey) bool {
	ws := current(c).workspaceID
	templates, err := s.deps.Store.TemplateChannels(c, ws)
	if err != nil {
		s.internal(c, "load templates", err)
		return false
	}
	segments := map[string]bool{}
	if id := def.Trigger.SegmentID; id != "" && (def.Trigger.Type == "segment" || def.Trigger.Type == "schedule") {
		_, err := s.deps.Store.GetSegment(c, ws, id)
		if err != nil && !errors.Is(err, schema.ErrNotFound) {
			s.internal(c, "load segment", err)
			return false
		}
		segments[id] = err == nil
	}
	for _, n := range def.Nodes {
		for _, b := range n.Branches {
			for _, id := range workflows.SegmentRefs(b.When) {
				_, err := s.deps.Store.GetSegment(c, ws, id)
				if err != nil && !errors.Is(err, schema.ErrNotFound) {
					s.internal(c, "load segment", err)
					return false
				}
				segments[id] = err == nil
			}
		}
	}
	if errs := validateForHerald(def, templates, segments); len(errs) > 0 {
		invalidJourney(c, errs)
		return false
	}
	return true
}

// validateForHerald is the journey validation plus what this version of
// Herald cannot run yet, and the segments branches name (segments: which
// exist in the workspace).
func validateForHerald(def workflows.Journey, templates map[string]string, segments map[string]bool) workflows.ValidationErrors {
	errs := workflows.ValidateJourney(def, templates)
	if id := def.Trigger.SegmentID; id != "" && (def.Trigger.Type == "segment" || def.Trigger.Type == "schedule") && !segments[id] {
		errs = append(errs, workflows.ValidationError{Field: "trigger.segment_id",
			Message: fmt.Sprintf("segment %s does not exist in this workspace", id)})
	}
	for _, n := range def.Nodes {
		for i, b := range n.Branches {
			for _, id := range workflows.SegmentRefs(b.When) {
				if !segments[id] {
					errs = append(errs, workflows.ValidationError{Node: n.ID, Field: fmt.Sprintf("branches[%d].when", i),
						Message: fmt.Sprintf("segment %s does not exist in this workspace", id)})
				}
			}
		}
	}
	return errs
}

func (s *Server) createJourney(c *gin.Context) {
	def, raw, ok := s.readJourney(c)
	if !ok {
		return
	}
	p := current(c)
	j, err := s.deps.Store.CreateJourney(c, p.workspaceID, def.Name, raw)
	if err != nil {
		s.internal(c, "create journey", err)
		return
	}
	s.audit(c, "create", "journey", j.ID, map[string]any{"name": j.Name})
	c.JSON(http.StatusCreated, toJourneyBody(j))
}

func (s *Server) updateJourney(c *gin.Context) {
	def, raw, ok := s.readJourney(c)
	if !ok {
		return
	}
	j, err := s.deps.Store.UpdateJourneyDraft(c, current(c).workspaceID, c.Param("id"), def.Name, raw)
	if s.storeError(c, "update journey", err) {
		return
	}
	s.audit(c, "update", "journey", j.ID, map[string]any{"name": j.Name})
	c.JSON(http.StatusOK, toJourneyBody(j))
}

func (s *Server) getJourney(c *gin.Context) {
	j, err := s.deps.Store.GetJourney(c, current(c).workspaceID, c.Param("id"))
	if s.storeError(c, "load journey", err) {
		return
	}
	c.JSON(http.StatusOK, toJourneyBody(j))
}

func (s *Server) listJourneys(c *gin.Context) {
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	cursor, ok := idCursor(c, "jny")
	if !ok {
		return
	}
	list, err := s.deps.Store.ListJourneys(c, current(c).workspaceID, limit, cursor)
	if err != nil {
		s.internal(c, "list journeys", err)
		return
	}
	out := make([]journeyBody, len(list))
	for i, j := range list {
		out[i] = toJourneyBody(j)
	}
	writePage(c, out, limit, func(j journeyBody) string { return j.ID })
}

func (s *Server) publishJourney(c *gin.Context) {
	p := current(c)
	j, err := s.deps.Store.GetJourney(c, p.workspaceID, c.Param("id"))
	if s.storeError(c, "load journey", err) {
		return
	}
	var def workflows.Journey
	if err := json.Unmarshal(j.Definition, &def); err != nil {
		s.internal(c, "decode journey", err)
		return
	}
	if !s.journeyValid(c, def) {
		return
	}
	before, err := s.liveTrigger(c, p.workspaceID, j.ID)
	if err != nil {
		s.internal(c, "load live journey", err)
		return
	}
	v, err := s.deps.Store.PublishJourney(c, p.workspaceID, j.ID, p.actor)
	if s.storeError(c, "publish journey", err) {
		return
	}
	detail := map[string]any{"version": v.Version}
	body := gin.H{"version": v.Version, "published_at": v.PublishedAt}
	live, err := s.deps.Store.GetJourney(c, p.workspaceID, j.ID)
	if err == nil {
		err = s.syncSchedule(c, p.workspaceID, j.ID, live.Status)
	}
	if err != nil {
		s.internal(c, "schedule journey", err)
		return
	}
	enrollment, err := s.startEnrollment(c, p.workspaceID, j.ID, v.Version, before, def.Trigger)
	if err != nil {
		s.internal(c, "enroll segment", err)
		return
	}
	if enrollment != "" {
		detail["enrollment_id"], body["enrollment_id"] = enrollment, enrollment
	}
	if def.Trigger.Type == "schedule" {
		body["schedule_id"] = workflows.ScheduleID(j.ID)
	}
	s.audit(c, "publish", "journey", j.ID, detail)
	c.JSON(http.StatusOK, body)
}

// lifecycle moves the journey between statuses and tells its running runs.
func (s *Server) lifecycle(action string, from []string, to, signal string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := current(c)
		// One change at a time: a pause's signals landing after a resume's
		// would leave runs held in an active journey.
		unlock, err := s.deps.Store.LockJourneyLifecycle(c, p.workspaceID, c.Param("id"))
		if s.storeError(c, action+" journey", err) {
			return
		}
		defer unlock()
		j, err := s.deps.Store.SetJourneyStatus(c, p.workspaceID, c.Param("id"), from, to)
		if s.storeError(c, action+" journey", err) {
			return
		}
		detail := map[string]any{"status": to}
		if err := s.syncSchedule(c, p.workspaceID, j.ID, j.Status); err != nil {
			s.internal(c, action+" schedule", err)
			return
		}
		if action == "stop" {
			if err := s.cancelEnrollments(c, p.workspaceID, j.ID); err != nil {
				s.internal(c, "cancel enrollments", err)
				return
			}
			job, n, err := s.cancelRuns(c, p.workspaceID, j.ID, p.actor)
			if err != nil {
				s.internal(c, "stop runs", err)
				return
			}
			detail["batch_job_id"], detail["runs"] = job, n
			s.audit(c, action, "journey", j.ID, detail)
			c.JSON(http.StatusOK, gin.H{"id": j.ID, "status": j.Status, "runs_affected": n, "batch_job_id": job})
			return
		}
		affected := 0
		if signal != "" {
			// Told to the end whether or not the client waits for the answer.
			told, failed, err := s.signalRuns(context.WithoutCancel(c), p.workspaceID, j.ID, signal)
			if err != nil {
				s.internal(c, "list runs", err)
				return
			}
			affected = told
			if failed > 0 {
				// The journey's status is set; asking again tells every
				// running run again (pause and resume may be repeated).
				detail["runs"], detail["runs_failed"] = told, failed
				s.audit(c, action, "journey", j.ID, detail)
				fail(c, http.StatusServiceUnavailable, fmt.Sprintf(
					"the journey is %s, but %d of its %d running runs could not be told to %s (Temporal did not answer): ask again to finish",
					j.Status, failed, told+failed, action))
				return
			}
		}
		detail["runs"] = affected
		s.audit(c, action, "journey", j.ID, detail)
		c.JSON(http.StatusOK, gin.H{"id": j.ID, "status": j.Status, "runs_affected": affected})
	}
}

// signalConcurrency is how many runs pause and resume signal at once.
const signalConcurrency = 8

// signalRuns sends signal to every running run of the journey, a few at
// once, and goes on past a run that cannot be told (logged): it returns
// how many were told (or had closed meanwhile) and how many were not.
func (s *Server) signalRuns(ctx context.Context, workspaceID, journeyID, signal string) (told, failed int, err error) {
	runs, err := s.deps.Store.ListRuns(ctx, workspaceID, journeyID, schema.RunRunning, "", 100000, nil)
	if err != nil {
		return 0, 0, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	for range min(signalConcurrency, len(runs)) {
		wg.Go(func() {
			for wfID := range next {
				err := s.deps.Temporal.SignalWorkflow(ctx, wfID, "", signal, nil)
				var nf *serviceerror.NotFound
				mu.Lock()
				if err != nil && !errors.As(err, &nf) {
					failed++
					if failed <= 3 {
						s.deps.Log.ErrorContext(ctx, signal+" run", "workflow_id", wfID, "error", err)
					}
				} else {
					told++
				}
				mu.Unlock()
			}
		})
	}
	for _, r := range runs {
		next <- r.WorkflowID
	}
	close(next)
	wg.Wait()
	return told, failed, nil
}

// visibilityLag is how long a new run may take to be found by a
// visibility query; runs younger than that are cancelled one by one.
const visibilityLag = time.Minute

// cancelRuns cancels every running run of a stopped journey: a Temporal
// batch operation over the runs whose search attributes name the journey
// (visible in the Temporal UI under Batch Operations), plus the runs the
// projection shows started too recently for visibility to list them; when
// the server refuses the batch, every run the projection shows running,
// one by one. It returns the batch job id ("" without a batch) and the
// number of runs running at the stop.
func (s *Server) cancelRuns(ctx context.Context, workspaceID, journeyID, actor string) (string, int, error) {
	n, err := s.deps.Store.RunningJourneyRuns(ctx, workspaceID, journeyID)
	if err != nil {
		return "", 0, err
	}
	job := "stop/" + journeyID + "/" + uuid.NewString()
	_, err = s.deps.Temporal.WorkflowService().StartBatchOperation(ctx, &workflowservice.StartBatchOperationRequest{
		Namespace: s.deps.Config.TemporalNamespace,
		JobId:     job,
		VisibilityQuery: fmt.Sprintf("%s = %s AND %s = %s AND ExecutionStatus = 'Running'",
			workflows.SAWorkspaceID.GetName(), quoteVisibility(workspaceID), workflows.SAJourneyID.GetName(), quoteVisibility(journeyID)),
		Reason:    "journey " + journeyID + " stopped by " + actor,
		Operation: &workflowservice.StartBatchOperationRequest_CancellationOperation{CancellationOperation: &batchpb.BatchOperationCancellation{Identity: "herald-api"}},
	})
	recent := visibilityLag
	if err != nil {
		// The server refused the batch (e.g. its limit of concurrent batch
		// operations per namespace): the journey is stopped already, so
		// its runs are cancelled here, one by one.
		s.deps.Log.WarnContext(ctx, "batch cancel refused; cancelling the runs one by one", "journey_id", journeyID, "error", err)
		job, recent = "", 0
	}
	var before *schema.TimeKey
	for {
		runs, err := s.deps.Store.ListRuns(ctx, workspaceID, journeyID, schema.RunRunning, "", 1000, before)
		if err != nil {
			return "", 0, err
		}
		for _, r := range runs {
			if recent > 0 && time.Since(r.StartedAt) > recent {
				return job, n, nil // newest first: the rest are the batch's
			}
			err := s.deps.Temporal.CancelWorkflow(ctx, r.WorkflowID, "")
			var nf *serviceerror.NotFound
			if err != nil && !errors.As(err, &nf) {
				return "", 0, fmt.Errorf("cancel run %s: %w", r.WorkflowID, err)
			}
		}
		if len(runs) < 1000 {
			return job, n, nil
		}
		last := runs[len(runs)-1]
		before = &schema.TimeKey{At: last.StartedAt, Key: last.RunID}
	}
}

// quoteVisibility quotes a value for a Temporal visibility query.
func quoteVisibility(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func (s *Server) listVersions(c *gin.Context) {
	p := current(c)
	if !s.journeyExists(c) {
		return
	}
	limit, before, ok := numberPage(c, "a version number")
	if !ok {
		return
	}
	vs, err := s.deps.Store.ListJourneyVersions(c, p.workspaceID, c.Param("id"), limit, int(before))
	if err != nil {
		s.internal(c, "list versions", err)
		return
	}
	writePage(c, vs, limit, func(v schema.JourneyVersion) string { return strconv.Itoa(v.Version) })
}

// numberPage reads ?limit= and a ?cursor= that is a positive number (what
// the list's items are ordered by); 0 when there is none.
func numberPage(c *gin.Context, what string) (int, int64, bool) {
	limit, ok := pageLimit(c)
	if !ok {
		return 0, 0, false
	}
	q := c.Query("cursor")
	if q == "" {
		return limit, 0, true
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil || n < 1 {
		failField(c, http.StatusBadRequest, "cursor", "cursor must be "+what+" (the next_cursor of the previous page)")
		return 0, 0, false
	}
	return limit, n, true
}

func (s *Server) journeyAudit(c *gin.Context) {
	p := current(c)
	if !s.journeyExists(c) {
		return
	}
	limit, after, ok := numberPage(c, "an audit entry id")
	if !ok {
		return
	}
	newest, ok := auditOrder(c)
	if !ok {
		return
	}
	entries, err := s.listAudit(c, p.workspaceID, "journey", c.Param("id"), limit, after, newest)
	if err != nil {
		s.internal(c, "list audit", err)
		return
	}
	writePage(c, entries, limit, func(e schema.AuditEntry) string { return strconv.FormatInt(e.ID, 10) })
}

// auditOrder reads ?order= of an audit list: oldest first (the default) or
// newest first, whose cursor continues before an entry.
func auditOrder(c *gin.Context) (newest, ok bool) {
	switch c.Query("order") {
	case "", "oldest":
		return false, true
	case "newest":
		return true, true
	}
	failField(c, http.StatusBadRequest, "order", "order is oldest (the default) or newest")
	return false, false
}

// listAudit reads one page of a subject's audit entries in the order asked.
func (s *Server) listAudit(c *gin.Context, ws, subjectType, subjectID string, limit int, cursor int64, newest bool) ([]schema.AuditEntry, error) {
	if newest {
		return s.deps.Store.ListAuditNewest(c, ws, subjectType, subjectID, limit, cursor)
	}
	return s.deps.Store.ListAuditPage(c, ws, subjectType, subjectID, limit, cursor)
}

type triggerRequest struct {
	Customer struct {
		UserID string `json:"user_id"`
		ID     string `json:"id"`
	} `json:"customer"`
	Properties map[string]any `json:"properties"`
}

// triggerJourney enters one customer into an API-triggered journey.
func (s *Server) triggerJourney(c *gin.Context) {
	var req triggerRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Customer.UserID == "" && req.Customer.ID == "" {
		failField(c, http.StatusBadRequest, "customer", "customer needs user_id or id")
		return
	}
	if req.Customer.UserID != "" && strings.TrimSpace(req.Customer.UserID) == "" {
		failField(c, http.StatusBadRequest, "customer.user_id", "customer.user_id is only white space")
		return
	}
	p := current(c)
	lj, err := s.deps.Store.GetLiveJourney(c, p.workspaceID, c.Param("id"))
	if errors.Is(err, schema.ErrNotFound) {
		if _, gerr := s.deps.Store.GetJourney(c, p.workspaceID, c.Param("id")); gerr != nil {
			s.storeError(c, "load journey", gerr)
			return
		}
		fail(c, http.StatusConflict, "the journey has no published version")
		return
	}
	if err != nil {
		s.internal(c, "load journey", err)
		return
	}
	var def workflows.Journey
	_ = json.Unmarshal(lj.Definition, &def)
	if def.Trigger.Type != "api" {
		fail(c, http.StatusConflict, fmt.Sprintf("the journey's trigger is %q; only api-triggered journeys take /trigger", def.Trigger.Type))
		return
	}
	if lj.Status != schema.JourneyActive {
		fail(c, http.StatusConflict, "the journey is "+lj.Status+"; it takes no new entrants")
		return
	}
	if def.Entry.Key != "" && ingest.EntryKey(def, req.Properties) == "" {
		// Refused before the customer is looked up or created: a keyed
		// journey has no run for a trigger without its key.
		failNoEntryKey(c, def.Entry.Key)
		return
	}
	var cust schema.Customer
	if req.Customer.ID != "" {
		cust, err = s.deps.Store.GetCustomer(c, p.workspaceID, req.Customer.ID)
	} else {
		cust, err = s.deps.Store.EnsureCustomer(c, p.workspaceID, req.Customer.UserID)
	}
	if s.storeError(c, "load customer", err) {
		return
	}
	if req.Customer.ID != "" && req.Customer.UserID != "" && (cust.ExternalID == nil || *cust.ExternalID != req.Customer.UserID) {
		failField(c, http.StatusBadRequest, "customer", "customer.id and customer.user_id name different customers; send one of them")
		return
	}
	ev := workflows.Event{ID: "api_" + uuid.NewString(), Name: "API Triggered", Properties: req.Properties, Time: time.Now().UTC()}
	wfID, outcome, err := s.deps.Router.Enter(c, p.workspaceID, lj, cust.ID, ev)
	if err != nil {
		s.internal(c, "enter journey", err)
		return
	}
	switch outcome {
	case ingest.EntryStarted:
		c.JSON(http.StatusOK, gin.H{"entered": true, "customer_id": cust.ID, "workflow_id": wfID})
	case ingest.EntryAlreadyRunning:
		c.JSON(http.StatusOK, gin.H{"entered": false, "customer_id": cust.ID, "workflow_id": wfID,
			"reason": "the customer's run of this journey is in progress; it got the trigger as an event"})
	case ingest.EntryCapped:
		c.JSON(http.StatusOK, gin.H{"entered": false, "customer_id": cust.ID,
			"reason": "the journey has max_concurrent runs in progress; the customer was not entered"})
	case ingest.EntryNoKey:
		failNoEntryKey(c, def.Entry.Key)
	default:
		c.JSON(http.StatusOK, gin.H{"entered": false, "customer_id": cust.ID, "reason": "the entry policy did not let the customer in again"})
	}
}

// failNoEntryKey answers 400 to a trigger of a journey keyed by key
// (entry.key, e.g. properties.order_id) whose properties lack it.
func failNoEntryKey(c *gin.Context, key string) {
	failField(c, http.StatusBadRequest, key, "the journey is keyed by "+key+"; the trigger's properties have none (or an empty one)")
}

func (s *Server) journeyStats(c *gin.Context) {
	p := current(c)
	if !s.journeyExists(c) {
		return
	}
	st, err := s.deps.Store.GetJourneyStats(c, p.workspaceID, c.Param("id"))
	if err != nil {
		s.internal(c, "journey stats", err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (s *Server) listRuns(c *gin.Context) {
	p := current(c)
	if !s.journeyExists(c) {
		return
	}
	limit, before, ok := timePage(c)
	if !ok {
		return
	}
	switch st := c.Query("status"); st {
	case "", schema.RunRunning, schema.RunCompleted, schema.RunExited, schema.RunFailed, schema.RunCanceled:
	default:
		failField(c, http.StatusBadRequest, "status", fmt.Sprintf("status %q is not one of running, completed, exited, failed, canceled", st))
		return
	}
	runs, err := s.deps.Store.ListRuns(c, p.workspaceID, c.Param("id"), c.Query("status"), c.Query("node"), limit, before)
	if err != nil {
		s.internal(c, "list runs", err)
		return
	}
	writePage(c, runs, limit, func(r schema.Run) string { return encodeTimeCursor(r.StartedAt, r.RunID) })
}

type runBody struct {
	schema.Run
	Path          []schema.StepRow    `json:"path"`
	State         *workflows.RunState `json:"state,omitempty"`
	StateError    string              `json:"state_error,omitempty"`
	TemporalUIURL string              `json:"temporal_ui_url"`
}

// getRun answers one run: the projection, its path, and the live state
// from the workflow's `state` query when it is running.
func (s *Server) getRun(c *gin.Context) {
	p := current(c)
	wfID := strings.TrimPrefix(c.Param("workflow_id"), "/")
	run, err := s.deps.Store.GetRun(c, p.workspaceID, wfID)
	if s.storeError(c, "load run", err) {
		return
	}
	path, err := s.deps.Store.RunPath(c, p.workspaceID, run.WorkflowID, run.RunID)
	if err != nil {
		s.internal(c, "load run path", err)
		return
	}
	if path == nil {
		path = []schema.StepRow{}
	}
	body := runBody{Run: run, Path: path, TemporalUIURL: s.temporalRunURL(run.WorkflowID, s.latestRunID(c, run))}
	if run.Status == schema.RunRunning && s.deps.Temporal != nil {
		// The current run: the entry may have continued as new.
		v, err := s.deps.Temporal.QueryWorkflow(c, run.WorkflowID, "", workflows.QueryState)
		if err == nil {
			var st workflows.RunState
			if err = v.Get(&st); err == nil {
				body.State = &st
			}
		}
		if err != nil {
			body.StateError = err.Error()
		}
	}
	c.JSON(http.StatusOK, body)
}

// latestRunID is the id of the last run of run's continue-as-new chain (a
// run that waits long hands on to new runs), where the Temporal UI shows
// what it does now; the first run's id when Temporal cannot tell.
func (s *Server) latestRunID(ctx context.Context, run schema.Run) string {
	if s.deps.Temporal == nil {
		return run.RunID
	}
	d, err := s.deps.Temporal.DescribeWorkflowExecution(ctx, run.WorkflowID, "")
	if err != nil {
		return run.RunID
	}
	// The id's latest execution may be a later entry's run.
	if info := d.GetWorkflowExecutionInfo(); info.GetFirstRunId() == run.RunID && info.GetExecution().GetRunId() != "" {
		return info.GetExecution().GetRunId()
	}
	return run.RunID
}

func (s *Server) temporalRunURL(workflowID, runID string) string {
	if s.deps.Config.TemporalUIURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", strings.TrimRight(s.deps.Config.TemporalUIURL, "/"),
		s.deps.Config.TemporalNamespace, urlPathEscape(workflowID), runID)
}

func urlPathEscape(s string) string {
	var b bytes.Buffer
	for _, r := range []byte(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r == '~':
			b.WriteByte(r)
		default:
			fmt.Fprintf(&b, "%%%02X", r)
		}
	}
	return b.String()
}

func (s *Server) listDeliveries(c *gin.Context) {
	limit, before, ok := timePage(c)
	if !ok {
		return
	}
	if st := c.Query("status"); st != "" && !slices.Contains(schema.DeliveryStatuses(), st) {
		failField(c, http.StatusBadRequest, "status", fmt.Sprintf("status %q is not one of %s", st, strings.Join(schema.DeliveryStatuses(), ", ")))
		return
	}
	ws, customerID := current(c).workspaceID, c.Query("customer_id")
	if customerID != "" {
		// The internal id or the user id, as /api/customers/{id} takes.
		cust, err := s.deps.Store.LookupCustomer(c, ws, customerID)
		if err != nil && !errors.Is(err, schema.ErrNotFound) {
			s.internal(c, "look up customer", err)
			return
		}
		if err == nil {
			customerID = cust.ID
		}
	}
	list, err := s.deps.Store.ListDeliveries(c, ws, schema.DeliveryFilter{
		CustomerID: customerID, JourneyID: c.Query("journey_id"), Status: c.Query("status"), Limit: limit, Before: before})
	if err != nil {
		s.internal(c, "list deliveries", err)
		return
	}
	writePage(c, list, limit, func(d schema.Delivery) string { return encodeTimeCursor(d.CreatedAt, d.ID) })
}

// journeyExists answers 404 (and false) unless the :id journey is in the
// caller's workspace.
func (s *Server) journeyExists(c *gin.Context) bool {
	_, err := s.deps.Store.GetJourney(c, current(c).workspaceID, c.Param("id"))
	return !s.storeError(c, "load journey", err)
}

// writeList answers an unpaged list ([] rather than null when empty).
func writeList[T any](c *gin.Context, items []T) {
	if items == nil {
		items = []T{}
	}
	c.JSON(http.StatusOK, listResponse[T]{Items: items})
}

// writePage answers a list; a full page carries the cursor of its last item.
func writePage[T any](c *gin.Context, items []T, limit int, cursor func(T) string) {
	if items == nil {
		items = []T{}
	}
	next := ""
	if len(items) == limit {
		next = cursor(items[len(items)-1])
	}
	c.JSON(http.StatusOK, listResponse[T]{Items: items, NextCursor: next})
}

// pageLimit reads ?limit= (default 50, 1–200).
func pageLimit(c *gin.Context) (int, bool) {
	q := c.Query("limit")
	if q == "" {
		return 50, true
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > 200 {
		failField(c, http.StatusBadRequest, "limit", "limit must be a number from 1 to 200")
		return 0, false
	}
	return n, true
}

// idCursor reads a ?cursor= that is the id (schema.NewID(prefix)) of the
// last item of the previous page, in a list ordered by id.
func idCursor(c *gin.Context, prefix string) (string, bool) {
	q := c.Query("cursor")
	if q == "" || schema.IsID(prefix, q) {
		return q, true
	}
	failField(c, http.StatusBadRequest, "cursor", "cursor is not one this API returned")
	return "", false
}

// timePage reads ?limit= and a ?cursor= of a list ordered newest first, then
// by a key: one encodeTimeCursor wrote, or a bare RFC 3339 time (what these
// lists answered before they had a key; the items strictly older).
func timePage(c *gin.Context) (int, *schema.TimeKey, bool) {
	limit, ok := pageLimit(c)
	if !ok {
		return 0, nil, false
	}
	if t, err := time.Parse(time.RFC3339Nano, c.Query("cursor")); err == nil {
		return limit, &schema.TimeKey{At: t}, true
	}
	t, key, given, ok := timeIDCursor(c)
	if !given || !ok {
		return limit, nil, ok
	}
	return limit, &schema.TimeKey{At: t, Key: key}, true
}

// storeError maps store errors to statuses; it reports whether it answered.
func (s *Server) storeError(c *gin.Context, action string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, schema.ErrNotFound):
		fail(c, http.StatusNotFound, "not found in this workspace")
	case errors.Is(err, schema.ErrInvalidState):
		fail(c, http.StatusConflict, err.Error())
	default:
		s.internal(c, action, err)
	}
	return true
}

func (s *Server) audit(c *gin.Context, action, subjectType, subjectID string, detail any) {
	p := current(c)
	if err := s.deps.Store.Audit(c, p.workspaceID, p.actor, action, subjectType, subjectID, detail); err != nil {
		s.deps.Log.ErrorContext(c, "audit", "error", err)
	}
}

// errReader gives err to whoever reads it.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// firstBadNode decodes a journey's nodes one by one, strictly, so that an
// unknown field or a wrong type is answered with the node it is in. It
// returns "" as msg when every node decodes (or the body is not a journey
// with nodes at all: decoding the whole reports that).
func firstBadNode(body []byte) (id, field, msg string) {
	var j struct {
		Nodes []json.RawMessage `json:"nodes"`
	}
	if json.Unmarshal(body, &j) != nil {
		return "", "", ""
	}
	for i, raw := range j.Nodes {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var n workflows.Node
		err := dec.Decode(&n)
		if err == nil {
			continue
		}
		var named struct {
			ID any `json:"id"`
		}
		_ = json.Unmarshal(raw, &named)
		id, _ = named.ID.(string)
		if id == "" {
			id = fmt.Sprintf("nodes[%d]", i)
		}
		var typeErr *json.UnmarshalTypeError
		if field, msg := fieldError(err); msg != "" {
			if strings.HasPrefix(err.Error(), "json: unknown field ") {
				// A key inside one of the node's objects is named by its
				// path in the node ("send.templat"), as bindJSON does.
				if path := unknownFieldPath(raw, reflect.TypeOf(&n), field); path != "" {
					field, msg = path, fmt.Sprintf("unknown field %q", path)
				}
			}
			return id, field, msg
		}
		if errors.As(err, &typeErr) {
			return id, "", "a node must be a JSON object, not " + typeErr.Value
		}
		return id, "", err.Error()
	}
	return "", "", ""
}
