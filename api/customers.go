package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// Limits of the customer profile (the export has none).
const (
	profileEvents     = 100
	profileRuns       = 100
	profileDeliveries = 100
	profileAudit      = 100
	// maxExports is how many customer exports are streamed at once; more
	// wait for a slot. An export holds a database connection and its
	// snapshot for as long as its client takes to read it, and the pool
	// (schema.DefaultMaxConns) serves ingest and the workers too.
	maxExports = 4
	// eraseWait bounds how long an erasure waits for the cancelled runs to
	// close, so a send already in flight lands before the deliveries are blanked.
	eraseWait = 10 * time.Second
)

// customerProfile is GET /api/customers/{id}: the profile with its latest
// events, runs and deliveries.
type customerProfile struct {
	schema.Customer
	// Events are the newest by when they happened (profileEvents of them);
	// EventsTotal counts all, EventsNextCursor continues at
	// /api/customers/{id}/events.
	Events           []schema.StoredEvent `json:"events"`
	EventsTotal      int64                `json:"events_total"`
	EventsNextCursor string               `json:"events_next_cursor"`
	// Runs and Deliveries are the newest (profileRuns, profileDeliveries of
	// them); RunsMore and DeliveriesMore say there are older ones not shown.
	Runs           []schema.CustomerRun `json:"runs"`
	RunsMore       bool                 `json:"runs_more"`
	Deliveries     []schema.Delivery    `json:"deliveries"`
	DeliveriesMore bool                 `json:"deliveries_more"`
	// Segments are the segments the customer is a member of now.
	Segments []schema.ExportedMembership `json:"segments"`
	// Audit is what was recorded about the customer: merges, exports,
	// update_customer values that did not render (the newest profileAudit
	// entries, newest first). AuditTotal counts all; AuditNextCursor
	// continues at /api/customers/{id}/audit?order=newest.
	Audit           []schema.AuditEntry `json:"audit"`
	AuditTotal      int64               `json:"audit_total"`
	AuditNextCursor string              `json:"audit_next_cursor"`
}

// customerErased is the answer to DELETE /api/customers/{id}.
type customerErased struct {
	schema.CustomerErasure
	Erased       bool `json:"erased"`
	RunsCanceled int  `json:"runs_canceled"`
	// HistoriesDeleted counts the closed workflow executions of the
	// customer's runs deleted from Temporal.
	HistoriesDeleted int `json:"histories_deleted"`
}

// listCustomers searches the workspace's customers: ?q= matches the start of
// a user id or email, or a whole id or phone; ?attr.<name>=<value> filters on
// attribute equality.
func (s *Server) listCustomers(c *gin.Context) {
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	after, ok := customerCursor(c)
	if !ok {
		return
	}
	f := schema.CustomerSearch{Query: strings.TrimSpace(c.Query("q")), Limit: limit, After: after}
	params := c.Request.URL.Query()
	for _, key := range slices.Sorted(maps.Keys(params)) {
		if key == "q" || key == "limit" || key == "cursor" {
			continue
		}
		name, isAttr := attributeFilter(key)
		if !isAttr {
			failField(c, http.StatusBadRequest, key, "unknown query parameter "+strconv.Quote(key)+
				": customers are searched by q, attr.<name> (or attr[<name>]), limit and cursor")
			return
		}
		if name == "" {
			failField(c, http.StatusBadRequest, key, "attribute filters are written attr.<name>=<value> or attr[<name>]=<value>")
			return
		}
		if f.Attributes == nil {
			f.Attributes = map[string][]string{}
		}
		f.Attributes[name] = append(f.Attributes[name], params[key]...)
	}
	list, err := s.deps.Store.SearchCustomers(c, current(c).workspaceID, f)
	if err != nil {
		s.internal(c, "search customers", err)
		return
	}
	writePage(c, list, limit, func(x schema.Customer) string { return encodeCustomerCursor(x) })
}

// attributeFilter reads a query key that filters customers by an
// attribute: attr.<name>, or attr[<name>] as OpenAPI's deepObject style
// writes it, where attr[a][b] is attr.a.b (a nested attribute). isAttr is
// false for any other key; name is "" for a filter that names nothing.
func attributeFilter(key string) (name string, isAttr bool) {
	if name, ok := strings.CutPrefix(key, "attr."); ok {
		return name, true
	}
	if key == "attr" {
		return "", true
	}
	rest, ok := strings.CutPrefix(key, "attr[")
	if !ok {
		return "", false
	}
	inner, ok := strings.CutSuffix(rest, "]")
	if !ok {
		return "", true
	}
	parts := strings.Split(inner, "][")
	for _, part := range parts {
		if part == "" || strings.ContainsAny(part, "[]") {
			return "", true
		}
	}
	return strings.Join(parts, "."), true
}

func encodeCustomerCursor(x schema.Customer) string { return encodeTimeCursor(x.CreatedAt, x.ID) }

func encodeEventCursor(e schema.StoredEvent) string {
	return encodeTimeCursor(e.OccurredAt, strconv.FormatInt(e.ID, 10))
}

// encodeTimeCursor writes a keyset position of a list ordered by time, then id.
func encodeTimeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "|" + id))
}

// timeIDCursor reads ?cursor= as written by encodeTimeCursor; given is false
// when there is none. A bad one is answered 400.
func timeIDCursor(c *gin.Context) (t time.Time, id string, given, ok bool) {
	q := c.Query("cursor")
	if q == "" {
		return time.Time{}, "", false, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(q)
	ts, id, found := strings.Cut(string(raw), "|")
	if err == nil && found && id != "" {
		if t, err = time.Parse(time.RFC3339Nano, ts); err == nil {
			return t, id, true, true
		}
	}
	failField(c, http.StatusBadRequest, "cursor", "cursor is not one this API returned")
	return time.Time{}, "", true, false
}

// customerCursor reads ?cursor= as written by encodeCustomerCursor.
func customerCursor(c *gin.Context) (*schema.CustomerCursor, bool) {
	t, id, given, ok := timeIDCursor(c)
	if !given || !ok {
		return nil, ok
	}
	return &schema.CustomerCursor{CreatedAt: t, ID: id}, true
}

// customerEvents pages through a customer's events, newest first by when
// they happened.
func (s *Server) customerEvents(c *gin.Context) {
	ws := current(c).workspaceID
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	t, id, given, ok := timeIDCursor(c)
	if !ok {
		return
	}
	var after *schema.EventCursor
	if given {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			failField(c, http.StatusBadRequest, "cursor", "cursor is not one this API returned")
			return
		}
		after = &schema.EventCursor{OccurredAt: t, ID: n}
	}
	cust, err := s.deps.Store.LookupCustomer(c, ws, c.Param("id"))
	if s.storeError(c, "load customer", err) {
		return
	}
	evs, err := s.deps.Store.CustomerEventsPage(c, ws, cust.ID, limit, after)
	if err != nil {
		s.internal(c, "load customer events", err)
		return
	}
	writePage(c, evs, limit, encodeEventCursor)
}

// getCustomer answers a profile by internal or external id.
func (s *Server) getCustomer(c *gin.Context) {
	ws := current(c).workspaceID
	cust, err := s.deps.Store.LookupCustomer(c, ws, c.Param("id"))
	if s.storeError(c, "load customer", err) {
		return
	}
	body := customerProfile{Customer: cust}
	if body.Events, err = s.deps.Store.LatestCustomerEvents(c, ws, cust.ID, profileEvents); err != nil {
		s.internal(c, "load customer events", err)
		return
	}
	if len(body.Events) == profileEvents {
		body.EventsNextCursor = encodeEventCursor(body.Events[len(body.Events)-1])
	}
	if body.EventsTotal, err = s.deps.Store.CountCustomerEvents(c, ws, cust.ID); err != nil {
		s.internal(c, "count customer events", err)
		return
	}
	// One more than shown tells whether there are more.
	if body.Runs, err = s.deps.Store.CustomerRuns(c, ws, cust.ID, profileRuns+1); err != nil {
		s.internal(c, "load customer runs", err)
		return
	}
	if len(body.Runs) > profileRuns {
		body.Runs, body.RunsMore = body.Runs[:profileRuns], true
	}
	if body.Deliveries, err = s.deps.Store.CustomerDeliveries(c, ws, cust.ID, profileDeliveries+1); err != nil {
		s.internal(c, "load customer deliveries", err)
		return
	}
	if len(body.Deliveries) > profileDeliveries {
		body.Deliveries, body.DeliveriesMore = body.Deliveries[:profileDeliveries], true
	}
	if body.Segments, err = s.deps.Store.CustomerSegments(c, ws, cust.ID); err != nil {
		s.internal(c, "load customer segments", err)
		return
	}
	if body.Audit, err = s.deps.Store.ListAuditNewest(c, ws, "customer", cust.ID, profileAudit, 0); err != nil {
		s.internal(c, "load customer audit", err)
		return
	}
	if body.AuditTotal, err = s.deps.Store.CountAudit(c, ws, "customer", cust.ID); err != nil {
		s.internal(c, "count customer audit", err)
		return
	}
	if len(body.Audit) == profileAudit && body.AuditTotal > profileAudit {
		body.AuditNextCursor = strconv.FormatInt(body.Audit[len(body.Audit)-1].ID, 10)
	}
	if body.Audit == nil {
		body.Audit = []schema.AuditEntry{}
	}
	if body.Events == nil {
		body.Events = []schema.StoredEvent{}
	}
	if body.Runs == nil {
		body.Runs = []schema.CustomerRun{}
	}
	if body.Deliveries == nil {
		body.Deliveries = []schema.Delivery{}
	}
	c.JSON(http.StatusOK, body)
}

// exportCustomer answers everything held about a customer as one JSON
// document (GDPR access request), streamed as the store reads it: a
// customer with a long history costs no more memory than a short one.
// Exports are audited, with what was written, once it was (a failure half
// way is audited too, as incomplete: part of the data left). An error
// before any of the document reached the client answers 500; once it has
// begun, an error can only cut the connection, so that the client
// sees a broken download rather than a short document; it is logged. At
// most maxExports are streamed at once; more wait for a slot.
func (s *Server) exportCustomer(c *gin.Context) {
	ws := current(c).workspaceID
	if !s.exportSlot(c) {
		return
	}
	defer func() { <-s.exports }()
	if s.exportHooks.hold != nil {
		s.exportHooks.hold()
	}
	var id string
	n, err := s.deps.Store.WriteCustomerExport(c, ws, c.Param("id"), func(cust schema.Customer) (io.Writer, error) {
		id = cust.ID
		c.Header("Content-Disposition", `attachment; filename="customer-`+cust.ID+`.json"`)
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(http.StatusOK)
		return c.Writer, nil
	})
	if id == "" {
		s.storeError(c, "export customer", err)
		return
	}
	detail := map[string]any{"events": n.Events, "runs": n.Runs, "deliveries": n.Deliveries}
	if err != nil {
		detail["incomplete"] = true
	}
	p := current(c)
	// Recorded also when the client went away half way.
	if aerr := s.deps.Store.Audit(context.WithoutCancel(c), p.workspaceID, p.actor, "export", "customer", id, detail); aerr != nil {
		s.deps.Log.ErrorContext(c, "audit", "error", aerr)
	}
	if err != nil && !c.Writer.Written() && c.Request.Context().Err() == nil {
		// Nothing of the document reached the client yet: a plain 500.
		c.Writer.Header().Del("Content-Disposition")
		s.internal(c, "export customer", err)
		return
	}
	if err != nil {
		log := s.deps.Log.ErrorContext
		if c.Request.Context().Err() != nil {
			log = s.deps.Log.WarnContext // the client went away
		}
		log(c, "export customer cut short", "error", err, "customer_id", id, "workspace_id", ws,
			"request_id", c.GetString(ctxRequestID))
		panic(http.ErrAbortHandler) // net/http closes the connection without ending the document
	}
}

// statusClientClosed is recorded for a request whose client went away
// before it was answered (nginx's 499); nothing is written to it.
const statusClientClosed = 499

// exportSlot takes an export slot, waiting for one while maxExports
// exports stream. A client that goes away while it waits is answered
// nothing (no export, no audit) and false is returned.
func (s *Server) exportSlot(c *gin.Context) bool {
	select {
	case s.exports <- struct{}{}:
		return true
	default:
	}
	if s.exportHooks.wait != nil {
		s.exportHooks.wait()
	}
	select {
	case s.exports <- struct{}{}:
		if c.Err() == nil {
			return true
		}
		<-s.exports // a slot freed as the client left
	case <-c.Done():
	}
	s.deps.Log.InfoContext(c, "client went away waiting for an export slot", "customer_id", c.Param("id"),
		"request_id", c.GetString(ctxRequestID))
	c.Status(statusClientClosed)
	c.Abort()
	return false
}

// customerAudit lists what was recorded about a customer, oldest first
// (?order=newest: newest first, as the profile shows it) — also once the
// customer was erased, when only the tombstone and the blanked entries
// before it are left (the internal id then names them).
func (s *Server) customerAudit(c *gin.Context) {
	ws := current(c).workspaceID
	limit, after, ok := numberPage(c, "an audit entry id")
	if !ok {
		return
	}
	newest, ok := auditOrder(c)
	if !ok {
		return
	}
	id := c.Param("id")
	cust, err := s.deps.Store.LookupCustomer(c, ws, id)
	switch {
	case err == nil:
		id = cust.ID
	case !errors.Is(err, schema.ErrNotFound):
		s.internal(c, "load customer", err)
		return
	}
	entries, err := s.listAudit(c, ws, "customer", id, limit, after, newest)
	if err != nil {
		s.internal(c, "list audit", err)
		return
	}
	if cust.ID == "" && len(entries) == 0 && after == 0 {
		fail(c, http.StatusNotFound, "not found in this workspace")
		return
	}
	writePage(c, entries, limit, func(e schema.AuditEntry) string { return strconv.FormatInt(e.ID, 10) })
}

// eraseCustomer is the GDPR erasure: it cancels the customer's running runs,
// then deletes their events, anonymous ids and profile and blanks the
// personal content of their deliveries. The audit log keeps a tombstone
// with the counts and no personal data. A profile merged into another
// while its runs were being cancelled (the person identified meanwhile) is
// erased as the profile it merged into, as a DELETE of its id after the
// merge would be.
func (s *Server) eraseCustomer(c *gin.Context) {
	ws := current(c).workspaceID
	id := c.Param("id")
	canceled, deleted := 0, 0
	handled := map[string]bool{}
	for attempt := 1; ; attempt++ {
		cust, err := s.deps.Store.LookupCustomer(c, ws, id)
		if s.storeError(c, "load customer", err) {
			return
		}
		n, d, err := s.endRunsOf(c, ws, cust.ID, handled, true)
		if err != nil {
			s.internal(c, "end the customer's runs", err)
			return
		}
		canceled, deleted = canceled+n, deleted+d
		erased, err := s.deps.Store.EraseCustomer(c, ws, cust.ID)
		if errors.Is(err, schema.ErrNotFound) && attempt < maxEraseAttempts {
			// Merged away since it was looked up: its id leads to the
			// profile it merged into now (or nowhere, when that was erased).
			id = cust.ID
			continue
		}
		if s.storeError(c, "erase customer", err) {
			return
		}
		// A run an event or a trigger started while the runs above were
		// ending (the customer was still there) is ended too.
		if n, d, err := s.endRunsOf(c, ws, cust.ID, handled, false); err != nil {
			s.deps.Log.ErrorContext(c, "end runs started during the erasure", "error", err, "customer_id", cust.ID)
		} else {
			canceled, deleted = canceled+n, deleted+d
		}
		s.audit(c, "erase", "customer", cust.ID, map[string]any{
			"events_deleted": erased.Events, "anonymous_ids_deleted": erased.AnonymousIDs,
			"deliveries_blanked": erased.DeliveriesBlanked, "import_rows_blanked": erased.ImportRowsBlanked, "runs_canceled": canceled,
			"histories_deleted": deleted})
		c.JSON(http.StatusOK, customerErased{Erased: true, CustomerErasure: erased, RunsCanceled: canceled, HistoriesDeleted: deleted})
		return
	}
}

// maxEraseAttempts bounds how often an erasure follows its customer into
// the profile it was merged into meanwhile.
const maxEraseAttempts = 5

// endRunsOf cancels the customer's running runs (but those in handled,
// which it adds them to), waits for them to close and deletes their
// histories from Temporal — with sweep, also every closed execution of the
// customer and of the profiles merged into it: how many it cancelled and
// deleted.
func (s *Server) endRunsOf(c *gin.Context, ws, customerID string, handled map[string]bool, sweep bool) (canceled, deleted int, err error) {
	if s.deps.Temporal == nil {
		return 0, 0, nil
	}
	runs, err := s.deps.Store.RunningRunsOfCustomer(c, ws, customerID)
	if err != nil {
		return 0, 0, fmt.Errorf("list customer runs: %w", err)
	}
	var workflowIDs []string
	for _, r := range runs {
		if !handled[r.WorkflowID] {
			handled[r.WorkflowID] = true
			workflowIDs = append(workflowIDs, r.WorkflowID)
		}
	}
	if len(workflowIDs) == 0 && !sweep {
		return 0, 0, nil
	}
	for _, id := range workflowIDs {
		err := s.deps.Temporal.CancelWorkflow(c, id, "")
		var nf *serviceerror.NotFound
		switch {
		case err == nil:
			canceled++
		case errors.As(err, &nf):
			// Already closed; the projection catches up on its own.
		default:
			return 0, 0, fmt.Errorf("cancel run %s: %w", id, err)
		}
	}
	s.awaitClosed(c, workflowIDs)
	// Before the rows go: a failure answers 500 and the erasure can be
	// asked again (after it, the customer is gone and a retry finds
	// nothing to delete from).
	if deleted, err = s.deleteHistories(c, ws, customerID, workflowIDs, sweep); err != nil {
		return 0, 0, fmt.Errorf("delete run histories: %w", err)
	}
	return canceled, deleted, nil
}

// deleteHistories deletes from Temporal the closed workflow executions of
// the customer's runs (and, with sweep, of the profiles merged into the
// customer): their histories hold the events that started them and those
// they waited for.
// The runs just cancelled are deleted as the executions they are now
// (visibility may not show them closed yet, and an earlier execution of
// the same workflow id, an earlier entry, is not them); the others are
// found by their search attributes (HeraldCustomerID: the customer's id or
// a merged profile's, which a merge updates since interpreter 5; a late
// trigger's re-entry workflow carries it since interpreter 9). A run still
// going (it did not close within the wait) is left, with its history. The
// server deletes a closed execution once its close is acknowledged.
func (s *Server) deleteHistories(ctx context.Context, ws, customerID string, cancelled []string, sweep bool) (int, error) {
	var execs []*commonpb.WorkflowExecution
	for _, id := range cancelled {
		d, err := s.deps.Temporal.DescribeWorkflowExecution(ctx, id, "")
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			continue
		case err != nil:
			return 0, fmt.Errorf("describe run %s: %w", id, err)
		case d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			s.deps.Log.WarnContext(ctx, "run still going after the erasure's wait; its history stays", "workflow_id", id)
			continue
		}
		execs = append(execs, d.GetWorkflowExecutionInfo().GetExecution())
	}
	var closed []*commonpb.WorkflowExecution
	if sweep {
		ids, err := s.deps.Store.MergedAwayIDs(ctx, ws, customerID)
		if err != nil {
			return 0, err
		}
		quoted := []string{quoteVisibility(customerID)}
		for _, id := range ids {
			quoted = append(quoted, quoteVisibility(id))
		}
		if closed, err = s.listExecutions(ctx, fmt.Sprintf("%s = %s AND %s IN (%s) AND ExecutionStatus != 'Running'",
			workflows.SAWorkspaceID.GetName(), quoteVisibility(ws), workflows.SACustomerID.GetName(), strings.Join(quoted, ", "))); err != nil {
			return 0, err
		}
	}
	deleted := map[string]bool{}
	for _, e := range append(execs, closed...) {
		key := e.GetWorkflowId() + "\x00" + e.GetRunId()
		if deleted[key] {
			continue
		}
		_, err := s.deps.Temporal.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: s.deps.Config.TemporalNamespace, WorkflowExecution: e})
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return 0, fmt.Errorf("delete run %s: %w", e.GetWorkflowId(), err)
		}
		deleted[key] = true
	}
	return len(deleted), nil
}

// listExecutions lists the executions a visibility query finds.
func (s *Server) listExecutions(ctx context.Context, query string) ([]*commonpb.WorkflowExecution, error) {
	var out []*commonpb.WorkflowExecution
	var token []byte
	for {
		resp, err := s.deps.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: s.deps.Config.TemporalNamespace, Query: query, PageSize: 1000, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list workflows: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			out = append(out, e.GetExecution())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

// awaitClosed waits, up to eraseWait, for the workflows to close.
func (s *Server) awaitClosed(c *gin.Context, workflowIDs []string) {
	if len(workflowIDs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(c, eraseWait)
	defer cancel()
	for _, id := range workflowIDs {
		// A cancelled run's result is its cancellation error: only the wait matters.
		_ = s.deps.Temporal.GetWorkflow(ctx, id, "").Get(ctx, nil)
		if ctx.Err() != nil {
			s.deps.Log.WarnContext(c, "cancelled runs did not close in time; erasing anyway",
				"workflow_id", id, "request_id", c.GetString(ctxRequestID))
			return
		}
	}
}
