package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/heraldhq/herald/activities"
)

// QueryImportProgress is the query an import workflow answers with its
// activities.ImportProgress.
const QueryImportProgress = "progress"

// Defaults of an import run: rows per batch activity, and batches before
// the workflow continues as new (about 6 history events per batch).
const (
	ImportBatchRows     = 500
	ImportBatchesPerRun = 20
	// ImportBatchAttempts bounds the tries of a batch that keeps failing
	// with an error retrying might fix.
	ImportBatchAttempts = 12
)

// ImportWorkflowID is the workflow id of an import (import/<import_id>).
// Every run of the import — a rerun after it ended — is a new execution of
// this id; the import's run number tells them apart in Postgres.
func ImportWorkflowID(importID string) string { return "import/" + importID }

// ImportInput starts, or continues as new, one run of a CSV import of
// customers. It never carries the file: the rows stay in Postgres and each
// batch activity reads its own.
type ImportInput struct {
	WorkspaceID string `json:"workspace_id"`
	ImportID    string `json:"import_id"`
	// Run is the import's run number this execution works for.
	Run int `json:"run"`
	// BatchSize (rows per activity) and BatchesPerRun (activities before
	// continue-as-new) default to ImportBatchRows and ImportBatchesPerRun.
	BatchSize     int `json:"batch_size,omitempty"`
	BatchesPerRun int `json:"batches_per_run,omitempty"`
	// Progress carries the counters across continue-as-new; nil at the start.
	Progress *activities.ImportProgress `json:"progress,omitempty"`
}

// RouteSegmentChangesActivity routes the segment changes journeys have
// not been told about yet (implemented by the ingest package, with its
// router). An import into a manual segment runs it after each batch, as
// POST /api/segments/{id}/members routes at once: the members' Segment
// Entered changes reach the journeys live when they joined, not those
// live at the next segment refresh.
const RouteSegmentChangesActivity = "RouteSegmentChanges"

// importRoutesSegmentChanges is the workflow.GetVersion change id of
// routing an import's segment changes after each batch.
const importRoutesSegmentChanges = "import-routes-segment-changes"

// routeImportSegmentChanges routes the batch's segment changes. A failure
// only leaves them to the periodic segment refresh: the import goes on.
func routeImportSegmentChanges(ctx workflow.Context, in ImportInput) {
	rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
	})
	if err := workflow.ExecuteActivity(rctx, RouteSegmentChangesActivity).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("route the import's segment changes; the segment refresh will", "import_id", in.ImportID, "error", err)
	}
}

func importBatchCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		// A batch heartbeats after every chunk it writes; a lost worker is
		// noticed within this, and the retry resumes after the last chunk.
		HeartbeatTimeout: 15 * time.Second,
		// Rows Postgres refuses fail the batch for good (non-retryable).
		// Anything else is retried for about 6 minutes of backoff (1 s
		// doubling to 1 min, ImportBatchAttempts attempts): a database
		// restart or failover passes, a fault that stays ends the run
		// failed instead of leaving it running for ever. Retry policies
		// are not compared on replay: changing them is safe.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute, MaximumAttempts: ImportBatchAttempts},
	})
}

// ImportCustomersWorkflow runs one import: it walks the file in batches of
// rows, each an ImportBatch activity that writes customers, row errors and
// progress in Postgres (then, for an import into a manual segment, a
// RouteSegmentChanges activity that tells journeys of the entries), continues as new every BatchesPerRun batches (or
// when the server suggests it), and records the end — completed, failed,
// or cancelled when the workflow is cancelled. Query `progress` answers the
// counters so far.
func ImportCustomersWorkflow(ctx workflow.Context, in ImportInput) (activities.ImportProgress, error) {
	if in.BatchSize <= 0 {
		in.BatchSize = ImportBatchRows
	}
	if in.BatchesPerRun <= 0 {
		in.BatchesPerRun = ImportBatchesPerRun
	}
	progress := activities.ImportProgress{Status: "running"}
	if in.Progress != nil {
		progress = *in.Progress
	}
	if err := workflow.SetQueryHandler(ctx, QueryImportProgress, func() (activities.ImportProgress, error) {
		return progress, nil
	}); err != nil {
		return progress, err
	}
	log := workflow.GetLogger(ctx)
	info := workflow.GetInfo(ctx)
	bctx := importBatchCtx(ctx)
	// Histories from before the routing after each batch replay without it.
	routes := workflow.GetVersion(ctx, importRoutesSegmentChanges, workflow.DefaultVersion, 1) >= 1
	// Before the first batch the total is not known yet.
	started := in.Progress != nil
	for batches := 0; !started || progress.Processed < progress.Total; batches++ {
		if batches == in.BatchesPerRun || (batches > 0 && info.GetContinueAsNewSuggested()) {
			next := in
			p := progress
			next.Progress = &p
			return progress, workflow.NewContinueAsNewError(ctx, ImportCustomersWorkflow, next)
		}
		var res activities.ImportBatchResult
		err := workflow.ExecuteActivity(bctx, a.ImportBatch, activities.ImportBatchInput{WorkspaceID: in.WorkspaceID,
			ImportID: in.ImportID, Run: in.Run, Offset: progress.Processed, Limit: in.BatchSize}).Get(ctx, &res)
		var appErr *temporal.ApplicationError
		switch {
		case temporal.IsCanceledError(err) || ctx.Err() != nil:
			progress, _ = finishImport(ctx, in, activities.ImportCancelled, "", progress)
			return progress, ctx.Err()
		case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeImportNotCurrent:
			// Cancelled through the API or replaced by a newer run: nothing left to record.
			log.Info("import run is no longer current", "import_id", in.ImportID, "run", in.Run)
			return progress, nil
		case err != nil:
			msg := err.Error()
			if appErr != nil {
				msg = appErr.Message()
			}
			progress, _ = finishImport(ctx, in, activities.ImportFailed, msg, progress)
			return progress, err
		}
		if started && res.Progress.Processed <= progress.Processed {
			err := fmt.Errorf("batch at row offset %d made no progress", progress.Processed)
			progress, _ = finishImport(ctx, in, activities.ImportFailed, err.Error(), progress)
			return progress, temporal.NewNonRetryableApplicationError(err.Error(), "ImportStuck", nil)
		}
		started = true
		progress = res.Progress
		if routes && res.SegmentChanges {
			routeImportSegmentChanges(ctx, in)
		}
	}
	// The query handler reads progress: once the run ended, it says so.
	var err error
	progress, err = finishImport(ctx, in, activities.ImportCompleted, "", progress)
	return progress, err
}

// finishImport records the run's end, even when the workflow is being
// cancelled, and returns the final counters.
func finishImport(ctx workflow.Context, in ImportInput, status, message string, progress activities.ImportProgress) (activities.ImportProgress, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var res activities.FinishImportResult
	err := workflow.ExecuteActivity(activityCtx(dctx), a.FinishImport, activities.FinishImportInput{WorkspaceID: in.WorkspaceID,
		ImportID: in.ImportID, Run: in.Run, Status: status, Error: message}).Get(dctx, &res)
	if err != nil {
		workflow.GetLogger(ctx).Warn("record import end failed", "import_id", in.ImportID, "error", err)
		progress.Status = status
		return progress, err
	}
	return res.Progress, nil
}
