package api

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

const (
	// maxImportBody bounds an upload request: the file plus room for the
	// multipart envelope.
	maxImportBody = activities.MaxImportFileSize + 64<<10
	// importErrorsShown is how many row errors GET /api/imports/{id} shows.
	importErrorsShown = 100
	// cancelWait bounds how long a cancel waits for the workflow to close.
	cancelWait = 10 * time.Second
)

// errImportTooLarge is an upload whose file passed MaxImportFileSize.
var errImportTooLarge = fmt.Errorf("the file is larger than %d MiB", activities.MaxImportFileSize>>20)

// importRoutes registers the CSV import routes (docs/import.md): the upload
// on a group of its own with the upload's body limit, the rest on /api.
func (s *Server) importRoutes(e *gin.Engine, a *gin.RouterGroup) {
	editor := s.require(schema.RoleEditor)
	up := e.Group("/api", bodyLimit(maxImportBody, http.StatusRequestEntityTooLarge, "file", errImportTooLarge.Error()), s.authenticate)
	up.POST("/imports", editor, s.uploadImport)
	a.GET("/imports", s.listImports)
	a.GET("/imports/:id", s.getImport)
	a.GET("/imports/:id/errors", s.listImportErrors)
	a.GET("/imports/:id/failed_rows", s.failedImportRows)
	a.POST("/imports/:id/start", editor, s.startImport)
	a.POST("/imports/:id/cancel", editor, s.cancelImport)
}

// importBody is an import as the API returns it.
type importBody struct {
	schema.Import
	// Percent is processed_rows of total_rows, 0–100.
	Percent    float64 `json:"percent"`
	WorkflowID string  `json:"workflow_id"`
}

func toImportBody(i schema.Import) importBody {
	b := importBody{Import: i, WorkflowID: workflows.ImportWorkflowID(i.ID)}
	switch {
	case i.TotalRows > 0:
		b.Percent = math.Floor(float64(i.ProcessedRows)*1000/float64(i.TotalRows)) / 10
	case i.Status == schema.ImportCompleted:
		b.Percent = 100
	}
	return b
}

// importUploaded answers an upload: the import (with the field separator
// the file was read with, so that a misread file shows at once), the first
// rows and a suggested mapping to start it with.
type importUploaded struct {
	importBody
	Preview          [][]string               `json:"preview"`
	SuggestedMapping activities.ImportMapping `json:"suggested_mapping"`
}

// importDetail is GET /api/imports/{id}: the import with its first row
// errors, and its first rows and suggested mapping so that it can be started
// again (or for the first time) with another mapping.
type importDetail struct {
	importBody
	Errors           []schema.ImportRowError  `json:"errors"`
	Preview          [][]string               `json:"preview"`
	SuggestedMapping activities.ImportMapping `json:"suggested_mapping"`
}

// uploadImport stores a CSV file of customers — a multipart form's `file`
// field, or the request body itself — and answers its preview. A file that
// cannot be read as CSV with a header is refused whole.
func (s *Server) uploadImport(c *gin.Context) {
	p := current(c)
	body, name, ok := importFile(c)
	if !ok {
		return
	}
	f, err := activities.OpenCSV(&cappedReader{r: body, left: activities.MaxImportFileSize})
	if err != nil {
		s.importFileError(c, err)
		return
	}
	imp, err := s.deps.Store.CreateImport(c, p.workspaceID, schema.NewImport{CreatedBy: p.actor, FileName: name, Headers: f.Headers(),
		Separator: f.Separator()}, f)
	if err != nil {
		s.importFileError(c, err)
		return
	}
	s.audit(c, "upload", "import", imp.ID, map[string]any{"file_name": imp.FileName, "rows": imp.TotalRows, "bytes": imp.FileSize})
	pv := f.Preview()
	c.JSON(http.StatusCreated, importUploaded{importBody: toImportBody(imp), Preview: pv.Rows, SuggestedMapping: pv.SuggestedMapping})
}

// importFile finds the uploaded file: the `file` part of a multipart form,
// or else the body (its name from ?file_name=).
func importFile(c *gin.Context) (io.Reader, string, bool) {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "multipart/form-data" {
		name := c.Query("file_name")
		if name == "" {
			name = "upload.csv"
		}
		return c.Request.Body, name, true
	}
	mr, err := c.Request.MultipartReader()
	if err != nil {
		fail(c, http.StatusBadRequest, "multipart body: "+err.Error())
		return nil, "", false
	}
	for {
		part, err := mr.NextPart()
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			failField(c, http.StatusBadRequest, "file", "the form has no field named file; send the CSV as the file field")
			return nil, "", false
		case errors.As(err, &tooBig):
			failField(c, http.StatusRequestEntityTooLarge, "file", errImportTooLarge.Error())
			return nil, "", false
		case err != nil:
			fail(c, http.StatusBadRequest, "multipart body: "+err.Error())
			return nil, "", false
		}
		if part.FormName() == "file" {
			name := part.FileName()
			if name == "" {
				name = "upload.csv"
			}
			return part, name, true
		}
	}
}

// cappedReader reads at most left bytes and fails with errImportTooLarge
// beyond them.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (r *cappedReader) Read(p []byte) (int, error) {
	if r.left < 0 {
		return 0, errImportTooLarge
	}
	if int64(len(p)) > r.left+1 {
		p = p[:r.left+1]
	}
	n, err := r.r.Read(p)
	r.left -= int64(n)
	if r.left < 0 {
		return n, errImportTooLarge
	}
	return n, err
}

// importFileError answers a refused upload: 400 for a file that is not a
// CSV of customers, 413 for one too large.
func (s *Server) importFileError(c *gin.Context, err error) {
	var csvErr *activities.CSVError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, errImportTooLarge), errors.As(err, &tooBig):
		failField(c, http.StatusRequestEntityTooLarge, "file", errImportTooLarge.Error())
	case errors.As(err, &csvErr):
		failField(c, http.StatusBadRequest, "file", csvErr.Error())
	default:
		s.internal(c, "store upload", err)
	}
}

func (s *Server) listImports(c *gin.Context) {
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	after, ok := customerCursor(c) // the same (created_at, id) keyset
	if !ok {
		return
	}
	var cursor *schema.ImportCursor
	if after != nil {
		cursor = &schema.ImportCursor{CreatedAt: after.CreatedAt, ID: after.ID}
	}
	list, err := s.deps.Store.ListImports(c, current(c).workspaceID, limit, cursor)
	if err != nil {
		s.internal(c, "list imports", err)
		return
	}
	out := make([]importBody, len(list))
	for i, imp := range list {
		out[i] = toImportBody(imp)
	}
	writePage(c, out, limit, func(b importBody) string {
		return base64.RawURLEncoding.EncodeToString([]byte(b.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + b.ID))
	})
}

func (s *Server) getImport(c *gin.Context) {
	ws := current(c).workspaceID
	imp, err := s.deps.Store.GetImport(c, ws, c.Param("id"))
	if s.storeError(c, "load import", err) {
		return
	}
	errs, err := s.deps.Store.ListImportErrors(c, ws, imp.ID, 0, importErrorsShown)
	if err != nil {
		s.internal(c, "list import errors", err)
		return
	}
	if errs == nil {
		errs = []schema.ImportRowError{}
	}
	rows, err := s.deps.Store.ImportRows(c, ws, imp.ID, 0, activities.ImportPreviewRows)
	if err != nil {
		s.internal(c, "load import rows", err)
		return
	}
	preview := make([][]string, len(rows))
	for i, r := range rows {
		preview[i] = r.Fields
	}
	// The suggestion the upload answered: typed over every row of the file
	// (a file uploaded before the types were stored, over its first rows).
	var suggested activities.ImportMapping
	if imp.ColumnTypes != nil {
		suggested = activities.SuggestTypedMapping(imp.Headers, imp.ColumnTypes)
	} else {
		suggested = activities.SuggestMapping(imp.Headers, preview)
	}
	c.JSON(http.StatusOK, importDetail{importBody: toImportBody(imp), Errors: errs, Preview: preview, SuggestedMapping: suggested})
}

// listImportErrors pages through the row errors; ?cursor= is the last row seen.
func (s *Server) listImportErrors(c *gin.Context) {
	ws := current(c).workspaceID
	imp, err := s.deps.Store.GetImport(c, ws, c.Param("id"))
	if s.storeError(c, "load import", err) {
		return
	}
	limit, ok := pageLimit(c)
	if !ok {
		return
	}
	after := 0
	if q := c.Query("cursor"); q != "" {
		if after, err = strconv.Atoi(q); err != nil || after < 0 {
			failField(c, http.StatusBadRequest, "cursor", "cursor is not one this API returned")
			return
		}
	}
	errs, err := s.deps.Store.ListImportErrors(c, ws, imp.ID, after, limit)
	if err != nil {
		s.internal(c, "list import errors", err)
		return
	}
	writePage(c, errs, limit, func(e schema.ImportRowError) string { return strconv.Itoa(e.Row) })
}

// failedImportRows answers the current run's failed rows as a CSV file (UTF-8
// with a byte order mark) to correct and upload again: where each row was
// and why it failed (activities.FailedRowsColumns), then the row's fields
// as the file had them.
func (s *Server) failedImportRows(c *gin.Context) {
	ws := current(c).workspaceID
	imp, err := s.deps.Store.GetImport(c, ws, c.Param("id"))
	if s.storeError(c, "load import", err) {
		return
	}
	started := false
	var w *csv.Writer
	begin := func() error {
		started = true
		name := strings.TrimSuffix(imp.FileName, filepath.Ext(imp.FileName)) + "-failed-rows.csv"
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		c.Status(http.StatusOK)
		// A byte order mark, so that Excel reads the file as UTF-8 (an
		// upload drops it again).
		if _, err := c.Writer.WriteString("\uFEFF"); err != nil {
			return err
		}
		w = csv.NewWriter(c.Writer)
		return w.Write(activities.FailedRowsHeader(imp.Headers))
	}
	err = s.deps.Store.EachFailedImportRow(c, ws, imp.ID, func(r schema.FailedImportRow) error {
		if !started {
			if err := begin(); err != nil {
				return err
			}
		}
		w.Write(append([]string{strconv.Itoa(r.Row), r.Column, r.Message}, r.Fields...)) //nolint:errcheck // w.Error below
		return w.Error()
	})
	if err == nil && !started {
		err = begin()
	}
	if err == nil {
		w.Flush()
		err = w.Error()
	}
	switch {
	case err == nil:
	case !started:
		s.internal(c, "list failed import rows", err)
	default:
		// The file is partly sent: break the connection rather than let a
		// truncated file look whole.
		s.deps.Log.ErrorContext(c, "send failed import rows", "error", err, "import_id", imp.ID)
		panic(http.ErrAbortHandler)
	}
}

type startImportRequest struct {
	Mapping   *activities.ImportMapping `json:"mapping"`
	SegmentID *string                   `json:"segment_id"`
	// Mode is which rows the run writes (schema.ImportModes; default upsert).
	Mode string `json:"mode"`
}

// startImport checks the mapping against the file's columns and starts a
// run of the import workflow. Starting an import that has ended runs it
// again over the same file: customers are upserted, so nothing is
// duplicated.
func (s *Server) startImport(c *gin.Context) {
	var req startImportRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Mapping == nil {
		failField(c, http.StatusBadRequest, "mapping", "mapping is required: which column holds user_id, email, phone, timezone and attributes")
		return
	}
	if req.Mode != "" && !slices.Contains(schema.ImportModes, req.Mode) {
		failField(c, http.StatusBadRequest, "mode", fmt.Sprintf("mode %q is not one of %s: upsert creates new customers and updates existing ones, create_only skips rows of existing customers, update_only skips rows of customers who do not exist",
			req.Mode, strings.Join(schema.ImportModes, ", ")))
		return
	}
	p := current(c)
	if req.SegmentID != nil && *req.SegmentID != "" {
		seg, err := s.deps.Store.GetSegment(c, p.workspaceID, *req.SegmentID)
		if errors.Is(err, schema.ErrNotFound) {
			failField(c, http.StatusBadRequest, "segment_id", fmt.Sprintf("segment %s does not exist in this workspace", *req.SegmentID))
			return
		}
		if err != nil {
			s.internal(c, "load segment", err)
			return
		}
		if seg.Kind != schema.SegmentManual {
			failField(c, http.StatusBadRequest, "segment_id", fmt.Sprintf("segment %s is %s: its members follow its condition; import into a manual segment", seg.ID, seg.Kind))
			return
		}
	}
	imp, err := s.deps.Store.GetImport(c, p.workspaceID, c.Param("id"))
	if s.storeError(c, "load import", err) {
		return
	}
	var mapErr *activities.MappingError
	if err := req.Mapping.Validate(imp.Headers); errors.As(err, &mapErr) {
		failField(c, http.StatusBadRequest, mapErr.Field, mapErr.Error())
		return
	}
	if s.deps.Temporal == nil {
		fail(c, http.StatusServiceUnavailable, "imports need the workflow engine, which this server is not connected to")
		return
	}
	wfID := workflows.ImportWorkflowID(imp.ID)
	replace := 0
	if imp.Status == schema.ImportRunning {
		exec, err := s.importExecution(c, wfID)
		if err != nil {
			s.internal(c, "describe import workflow", err)
			return
		}
		switch {
		case exec.open:
			fail(c, http.StatusConflict, "the import is running; cancel it or wait for it to end")
			return
		case exec.run != imp.Run && imp.StartedAt != nil && time.Since(*imp.StartedAt) < importStartGrace:
			// No execution of the run yet: another start is between
			// recording the run and starting its workflow.
			fail(c, http.StatusConflict, "the import is being started; wait for it to run or cancel it")
			return
		}
		// Its workflow ended without recording the end, or its start never
		// reached Temporal: the run can never end by itself.
		replace = imp.Run
	}
	mapping, err := json.Marshal(req.Mapping)
	if err != nil {
		s.internal(c, "encode mapping", err)
		return
	}
	seen := imp.Run // another start since answers 409: starts at once start one run
	imp, err = s.deps.Store.StartImportRun(c, p.workspaceID, imp.ID, schema.StartImport{Mapping: mapping, SegmentID: req.SegmentID,
		Mode: req.Mode, ReplaceRun: replace, SeenRun: &seen})
	if s.storeError(c, "start import", err) {
		return
	}
	_, err = s.deps.Temporal.ExecuteWorkflow(c, client.StartWorkflowOptions{
		ID: wfID, TaskQueue: workflows.TaskQueue,
		// A rerun is a new execution of the same id. The database already
		// refused to start over a running import, so an execution still
		// open here is an old run on its way out.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
	}, workflows.ImportCustomersWorkflow, workflows.ImportInput{WorkspaceID: p.workspaceID, ImportID: imp.ID, Run: imp.Run})
	if err != nil {
		if _, ferr := s.deps.Store.FinishImportRun(c, p.workspaceID, imp.ID, imp.Run, schema.ImportFailed, "start workflow: "+err.Error()); ferr != nil {
			s.deps.Log.ErrorContext(c, "record failed import start", "error", ferr, "import_id", imp.ID)
		}
		s.internal(c, "start import workflow", err)
		return
	}
	s.audit(c, "start", "import", imp.ID, map[string]any{"run": imp.Run, "rows": imp.TotalRows, "mode": imp.Mode})
	c.JSON(http.StatusAccepted, toImportBody(imp))
}

// importStartGrace is how long after recording a run its start may still
// be on its way to Temporal. A run without an execution for longer was
// never started (the process recording it died, say): a start replaces it.
const importStartGrace = time.Minute

// importExecution is the latest execution of an import's workflow.
type importExecution struct {
	open bool
	// run is the import run the execution works for, 0 when there is no
	// execution (or it is none Herald started).
	run int
}

// importExecution reads the latest execution of the import workflow wfID:
// whether it is running, and which run of the import it is for (its input,
// which a continued-as-new execution carries on).
func (s *Server) importExecution(ctx context.Context, wfID string) (importExecution, error) {
	var out importExecution
	var nf *serviceerror.NotFound
	d, err := s.deps.Temporal.DescribeWorkflowExecution(ctx, wfID, "")
	if errors.As(err, &nf) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	info := d.GetWorkflowExecutionInfo()
	out.open = info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	iter := s.deps.Temporal.GetWorkflowHistory(ctx, wfID, info.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !iter.HasNext() {
		return out, nil
	}
	first, err := iter.Next()
	if errors.As(err, &nf) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("read the start of %s: %w", wfID, err)
	}
	var in workflows.ImportInput
	if attrs := first.GetWorkflowExecutionStartedEventAttributes(); attrs != nil &&
		converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &in) == nil {
		out.run = in.Run
	}
	return out, nil
}

// cancelImport cancels a running import: the workflow stops after the rows
// it is writing and records the import cancelled. Customers already
// imported stay. It answers the import once the workflow closed (or after
// cancelWait, the import then marked cancelled here).
func (s *Server) cancelImport(c *gin.Context) {
	p := current(c)
	imp, err := s.deps.Store.GetImport(c, p.workspaceID, c.Param("id"))
	if s.storeError(c, "load import", err) {
		return
	}
	if imp.Status != schema.ImportRunning {
		fail(c, http.StatusConflict, "the import is not running (it is "+imp.Status+")")
		return
	}
	if s.deps.Temporal != nil {
		wfID := workflows.ImportWorkflowID(imp.ID)
		err := s.deps.Temporal.CancelWorkflow(c, wfID, "")
		var nf *serviceerror.NotFound
		switch {
		case err == nil:
			ctx, cancel := context.WithTimeout(c, cancelWait)
			// The result of a cancelled run is its cancellation error: only the wait matters.
			_ = s.deps.Temporal.GetWorkflow(ctx, wfID, "").Get(ctx, nil)
			cancel()
		case errors.As(err, &nf):
		default:
			s.internal(c, "cancel import workflow", err)
			return
		}
	}
	// A no-op when the workflow recorded its end itself.
	imp, err = s.deps.Store.FinishImportRun(c, p.workspaceID, imp.ID, imp.Run, schema.ImportCancelled, "")
	if err != nil && !errors.Is(err, schema.ErrImportNotCurrent) {
		s.storeError(c, "cancel import", err)
		return
	}
	s.audit(c, "cancel", "import", imp.ID, map[string]any{"run": imp.Run, "processed_rows": imp.ProcessedRows})
	c.JSON(http.StatusOK, toImportBody(imp))
}
