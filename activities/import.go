package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/heraldhq/herald/schema"
)

// importChunkRows is how many rows are written per transaction. A batch
// heartbeats after each chunk with the rows done, so a retried batch
// resumes at the first chunk not yet written.
const importChunkRows = 100

// Error types of the import activities that retrying cannot fix.
const (
	ErrTypeImportNotCurrent = "ImportNotCurrent"
	ErrTypeImportNotFound   = "ImportNotFound"
	ErrTypeImportBroken     = "ImportBroken"
	// ErrTypeImportSegmentDeleted: the manual segment the run adds its
	// customers to was deleted while it ran.
	ErrTypeImportSegmentDeleted = "ImportSegmentDeleted"
)

// Import run outcomes the workflow records (the statuses of schema).
const (
	ImportCompleted = schema.ImportCompleted
	ImportFailed    = schema.ImportFailed
	ImportCancelled = schema.ImportCancelled
)

// ImportProgress is the counters of an import run.
type ImportProgress struct {
	Status    string `json:"status"`
	Total     int    `json:"total"`
	Processed int    `json:"processed"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Failed    int    `json:"failed"`
}

func progressOf(imp schema.Import) ImportProgress {
	return ImportProgress{Status: imp.Status, Total: imp.TotalRows, Processed: imp.ProcessedRows, Created: imp.CreatedRows,
		Updated: imp.UpdatedRows, Failed: imp.FailedRows}
}

// ImportBatchInput asks for the rows after the first Offset ones, at most
// Limit of them, of one run of an import.
type ImportBatchInput struct {
	WorkspaceID string `json:"workspace_id"`
	ImportID    string `json:"import_id"`
	Run         int    `json:"run"`
	Offset      int    `json:"offset"`
	Limit       int    `json:"limit"`
}

// ImportBatchResult is the run's progress after the batch; Processed is
// where the next batch starts.
type ImportBatchResult struct {
	Progress ImportProgress `json:"progress"`
	// SegmentChanges: the batch added customers to the import's manual
	// segment, whose changes journeys are to hear of.
	SegmentChanges bool `json:"segment_changes,omitempty"`
}

// ImportBatch imports a batch of rows of an uploaded file: each row is
// checked and typed by the run's mapping, valid rows are upserted as
// customers, the others recorded as row errors, chunk by chunk with the
// progress in the same transaction. Running it again for rows already
// written changes nothing.
func (a *Activities) ImportBatch(ctx context.Context, in ImportBatchInput) (ImportBatchResult, error) {
	imp, err := a.store.GetImport(ctx, in.WorkspaceID, in.ImportID)
	if errors.Is(err, schema.ErrNotFound) {
		return ImportBatchResult{}, temporal.NewNonRetryableApplicationError("import "+in.ImportID+" does not exist", ErrTypeImportNotFound, err)
	}
	if err != nil {
		return ImportBatchResult{}, err
	}
	if imp.Run != in.Run || imp.Status != schema.ImportRunning {
		return ImportBatchResult{Progress: progressOf(imp)}, notCurrent(in.ImportID, in.Run, schema.ErrImportNotCurrent)
	}
	var mapping ImportMapping
	if err := json.Unmarshal(imp.Mapping, &mapping); err != nil {
		return ImportBatchResult{}, temporal.NewNonRetryableApplicationError("decode the import's mapping: "+err.Error(), ErrTypeImportBroken, err)
	}
	m, err := mapping.compile(imp.Headers)
	if err != nil {
		return ImportBatchResult{}, temporal.NewNonRetryableApplicationError("the import's mapping: "+err.Error(), ErrTypeImportBroken, err)
	}
	start := max(in.Offset, imp.ProcessedRows)
	if activity.HasHeartbeatDetails(ctx) {
		var done int
		if activity.GetHeartbeatDetails(ctx, &done) == nil {
			start = max(start, done)
		}
	}
	end := min(in.Offset+in.Limit, imp.TotalRows)
	progress := progressOf(imp)
	segmentID := imp.SegmentID
	for off := start; off < end; off += importChunkRows {
		n := min(importChunkRows, end-off)
		rows, err := a.store.ImportRows(ctx, in.WorkspaceID, in.ImportID, off, n)
		if err != nil {
			return ImportBatchResult{}, err
		}
		if len(rows) != n {
			return ImportBatchResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("import %s: %d rows stored after row offset %d, want %d", in.ImportID, len(rows), off, n), ErrTypeImportBroken, nil)
		}
		chunk := schema.ImportChunk{Run: in.Run, Offset: off, Rows: n, Key: m.key}
		for _, r := range rows {
			c, rowErr := m.customer(r.Fields)
			if rowErr != nil {
				rowErr.Row = r.Number
				chunk.Errors = append(chunk.Errors, *rowErr)
				continue
			}
			c.Row = r.Number
			chunk.Customers = append(chunk.Customers, c)
		}
		imp, _, err = a.store.ApplyImportChunk(ctx, in.WorkspaceID, in.ImportID, chunk)
		if errors.Is(err, schema.ErrImportNotCurrent) {
			return ImportBatchResult{Progress: progress}, notCurrent(in.ImportID, in.Run, err)
		}
		if err != nil {
			return ImportBatchResult{}, chunkError(segmentID, off, n, err)
		}
		progress = progressOf(imp)
		activity.RecordHeartbeat(ctx, off+n)
		if ctx.Err() != nil {
			return ImportBatchResult{Progress: progress}, ctx.Err()
		}
	}
	return ImportBatchResult{Progress: progress, SegmentChanges: segmentID != nil}, nil
}

// chunkError is what a chunk of rows (off rows of the file before it, n
// in it) that could not be written fails its batch with: for good when
// Postgres refused the data or the run's segment is gone — the run then
// ends failed with this message instead of retrying —, else an error the
// activity's retries may get past (a lost connection, a failover).
func chunkError(segmentID *string, off, n int, err error) error {
	// Rows as the file numbers them: the header is row 1.
	first, last := off+2, off+n+1
	switch {
	case errors.Is(err, schema.ErrImportSegmentDeleted):
		seg := ""
		if segmentID != nil {
			seg = *segmentID + " "
		}
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the segment %swas deleted while the import ran: the rows before row %d were imported (and joined it), "+
				"the others were not; start the import again without segment_id, or with another manual segment", seg, first),
			ErrTypeImportSegmentDeleted, err)
	case schema.IsRefusedWrite(err):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the database refused rows %d to %d, and retrying cannot help (%v): the rows before row %d were imported, "+
				"the others were not; correct the file and start the import again", first, last, err, first),
			ErrTypeImportBroken, err)
	}
	return fmt.Errorf("import rows %d to %d: %w", first, last, err)
}

func notCurrent(importID string, run int, err error) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("run %d of import %s is no longer running (cancelled, finished or started again)", run, importID),
		ErrTypeImportNotCurrent, err)
}

// FinishImportInput reports how an import run ended: completed, failed
// (with the reason) or cancelled.
type FinishImportInput struct {
	WorkspaceID string `json:"workspace_id"`
	ImportID    string `json:"import_id"`
	Run         int    `json:"run"`
	Status      string `json:"status"`
	Error       string `json:"error,omitempty"`
}

// FinishImportResult is the import as it ended. Current is false when the
// run had already been ended by someone else (a cancel through the API, a
// newer run): nothing was changed.
type FinishImportResult struct {
	Progress ImportProgress `json:"progress"`
	Current  bool           `json:"current"`
}

// FinishImport records the end of an import run, once.
func (a *Activities) FinishImport(ctx context.Context, in FinishImportInput) (FinishImportResult, error) {
	imp, err := a.store.FinishImportRun(ctx, in.WorkspaceID, in.ImportID, in.Run, in.Status, in.Error)
	switch {
	case errors.Is(err, schema.ErrImportNotCurrent):
		return FinishImportResult{Progress: progressOf(imp)}, nil
	case errors.Is(err, schema.ErrNotFound):
		return FinishImportResult{}, temporal.NewNonRetryableApplicationError("import "+in.ImportID+" does not exist", ErrTypeImportNotFound, err)
	case err != nil:
		return FinishImportResult{}, err
	}
	activity.GetLogger(ctx).Info("import finished", "workspace_id", in.WorkspaceID, "import_id", in.ImportID, "run", in.Run,
		"status", in.Status, "rows", imp.ProcessedRows, "created", imp.CreatedRows, "updated", imp.UpdatedRows, "failed", imp.FailedRows)
	return FinishImportResult{Progress: progressOf(imp), Current: true}, nil
}
