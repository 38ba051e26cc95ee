package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/workflows"
)

// fakeImport stands in for the import activities in the workflow-logic
// tests (the API tests run the real ones on Postgres): a file of total
// rows, the batches asked for, and how the run was finished.
type fakeImport struct {
	mu       sync.Mutex
	total    int
	offsets  []int
	finished []activities.FinishImportInput
	// segment: the import adds its customers to a manual segment; routes
	// counts the routings of its changes, which fail with routeErr.
	segment  bool
	routes   int
	routeErr error
}

func (f *fakeImport) route(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes++
	return f.routeErr
}

func (f *fakeImport) batch(_ context.Context, in activities.ImportBatchInput) (activities.ImportBatchResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.offsets = append(f.offsets, in.Offset)
	done := min(in.Offset+in.Limit, f.total)
	return activities.ImportBatchResult{Progress: activities.ImportProgress{Status: "running", Total: f.total, Processed: done,
		Created: done}, SegmentChanges: f.segment}, nil
}

func (f *fakeImport) finish(_ context.Context, in activities.FinishImportInput) (activities.FinishImportResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = append(f.finished, in)
	return activities.FinishImportResult{Current: true, Progress: activities.ImportProgress{Status: in.Status, Total: f.total,
		Processed: f.offsets[len(f.offsets)-1], Created: f.total}}, nil
}

func newImportEnv(f *fakeImport, batchDelay time.Duration) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Activities
	env.RegisterWorkflow(workflows.ImportCustomersWorkflow)
	env.RegisterActivity(a)
	env.RegisterActivityWithOptions(f.route, activity.RegisterOptions{Name: workflows.RouteSegmentChangesActivity})
	env.OnActivity(a.ImportBatch, mock.Anything, mock.Anything).After(batchDelay).Return(f.batch)
	env.OnActivity(a.FinishImport, mock.Anything, mock.Anything).Return(f.finish)
	return env
}

// A file is walked in batches; every BatchesPerRun batches the workflow
// continues as new with its counters, and the last run records the end.
func TestImportWorkflowBatchesAndContinuesAsNew(t *testing.T) {
	f := &fakeImport{total: 1234}
	in := workflows.ImportInput{WorkspaceID: "ws", ImportID: "imp_1", Run: 3, BatchSize: 100, BatchesPerRun: 5}
	var runs int
	var result activities.ImportProgress
	for {
		runs++
		require.LessOrEqual(t, runs, 10)
		env := newImportEnv(f, 0)
		env.ExecuteWorkflow(workflows.ImportCustomersWorkflow, in)
		require.True(t, env.IsWorkflowCompleted())
		var can *workflow.ContinueAsNewError
		if err := env.GetWorkflowError(); errors.As(err, &can) {
			var next workflows.ImportInput
			require.NoError(t, converterFor().FromPayloads(can.Input, &next))
			require.NotNil(t, next.Progress)
			require.Equal(t, min(runs*500, 1234), next.Progress.Processed, "counters carried across continue-as-new")
			require.Equal(t, in.Run, next.Run)
			require.Empty(t, f.finished, "no end recorded before the last run")
			in = next
			continue
		}
		require.NoError(t, env.GetWorkflowError())
		require.NoError(t, env.GetWorkflowResult(&result))
		break
	}
	require.Equal(t, 3, runs, "500 rows per run")
	want := []int{}
	for off := 0; off < 1234; off += 100 {
		want = append(want, off)
	}
	require.Equal(t, want, f.offsets, "each batch starts where the last ended; none repeated")
	require.Equal(t, []activities.FinishImportInput{{WorkspaceID: "ws", ImportID: "imp_1", Run: 3, Status: activities.ImportCompleted}}, f.finished)
	require.Equal(t, activities.ImportCompleted, result.Status)
	require.Equal(t, 1234, result.Total)
}

// The server's suggestion to continue as new is taken after the batch in
// flight, never before the first one.
func TestImportWorkflowContinuesAsNewWhenSuggested(t *testing.T) {
	f := &fakeImport{total: 1000}
	env := newImportEnv(f, 0)
	env.SetContinueAsNewSuggested(true)
	env.ExecuteWorkflow(workflows.ImportCustomersWorkflow, workflows.ImportInput{WorkspaceID: "ws", ImportID: "imp_1", Run: 1, BatchSize: 100})
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "%v", env.GetWorkflowError())
	require.Equal(t, []int{0}, f.offsets)
}

// An empty run (no rows) completes after one batch tells the total.
func TestImportWorkflowEmptyFile(t *testing.T) {
	f := &fakeImport{total: 0}
	env := newImportEnv(f, 0)
	env.ExecuteWorkflow(workflows.ImportCustomersWorkflow, workflows.ImportInput{WorkspaceID: "ws", ImportID: "imp_1", Run: 1})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []int{0}, f.offsets)
	require.Len(t, f.finished, 1)
	require.Equal(t, activities.ImportCompleted, f.finished[0].Status)
	// Asked after the end, the query says how it ended.
	v, err := env.QueryWorkflow(workflows.QueryImportProgress)
	require.NoError(t, err)
	var p activities.ImportProgress
	require.NoError(t, v.Get(&p))
	require.Equal(t, activities.ImportCompleted, p.Status)
}

// Query `progress` answers the counters while batches run; cancelling the
// workflow records the import cancelled and ends the execution cancelled.
func TestImportWorkflowProgressQueryAndCancel(t *testing.T) {
	f := &fakeImport{total: 10_000}
	env := newImportEnv(f, time.Minute)
	var seen []activities.ImportProgress
	for _, at := range []time.Duration{30 * time.Second, 150 * time.Second, 270 * time.Second} {
		env.RegisterDelayedCallback(func() {
			v, err := env.QueryWorkflow(workflows.QueryImportProgress)
			require.NoError(t, err)
			var p activities.ImportProgress
			require.NoError(t, v.Get(&p))
			seen = append(seen, p)
		}, at)
	}
	env.RegisterDelayedCallback(env.CancelWorkflow, 290*time.Second)
	env.ExecuteWorkflow(workflows.ImportCustomersWorkflow, workflows.ImportInput{WorkspaceID: "ws", ImportID: "imp_1", Run: 2, BatchSize: 500})
	require.True(t, env.IsWorkflowCompleted())
	require.True(t, temporal.IsCanceledError(env.GetWorkflowError()), "%v", env.GetWorkflowError())
	require.Len(t, seen, 3)
	require.Equal(t, []int{0, 1000, 2000}, []int{seen[0].Processed, seen[1].Processed, seen[2].Processed}, "a batch a minute")
	require.Equal(t, 10_000, seen[2].Total)
	require.Equal(t, []int{0, 500, 1000, 1500}, f.offsets, "the fifth batch was cancelled in flight; none started after")
	require.Equal(t, []activities.FinishImportInput{{WorkspaceID: "ws", ImportID: "imp_1", Run: 2, Status: activities.ImportCancelled}}, f.finished)
}

// A batch failing for good fails the import with the reason; a batch told
// its run is no longer current ends the workflow without recording anything.
func TestImportWorkflowBatchFailures(t *testing.T) {
	for _, tc := range []struct {
		name, errType string
		wantFinish    []activities.FinishImportInput
		wantErr       bool
	}{
		{"broken import", activities.ErrTypeImportBroken,
			[]activities.FinishImportInput{{WorkspaceID: "ws", ImportID: "imp_1", Run: 1, Status: activities.ImportFailed, Error: "the mapping is broken"}}, true},
		{"run replaced", activities.ErrTypeImportNotCurrent, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			var a *activities.Activities
			env.RegisterWorkflow(workflows.ImportCustomersWorkflow)
			env.RegisterActivity(a)
			env.OnActivity(a.ImportBatch, mock.Anything, mock.Anything).Return(activities.ImportBatchResult{},
				temporal.NewNonRetryableApplicationError("the mapping is broken", tc.errType, nil)).Once()
			var finished []activities.FinishImportInput
			env.OnActivity(a.FinishImport, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.FinishImportInput) (activities.FinishImportResult, error) {
					finished = append(finished, in)
					return activities.FinishImportResult{Current: true, Progress: activities.ImportProgress{Status: in.Status}}, nil
				}).Maybe()
			env.ExecuteWorkflow(workflows.ImportCustomersWorkflow, workflows.ImportInput{WorkspaceID: "ws", ImportID: "imp_1", Run: 1})
			require.True(t, env.IsWorkflowCompleted())
			require.Equal(t, tc.wantErr, env.GetWorkflowError() != nil, "%v", env.GetWorkflowError())
			require.Equal(t, tc.wantFinish, finished)
		})
	}
}

// A batch that keeps failing with an error retrying might fix (the
// database out of reach) is tried ImportBatchAttempts times, then the
// import ends failed with the last error, not running for ever. (The test
// environment stops an unbounded policy after 10 attempts: the bound is
// another number, so the test tells the two apart.)
func TestImportWorkflowBatchRetriesAreBounded(t *testing.T) {
	require.NotEqual(t, 10, workflows.ImportBatchAttempts)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var a *activities.Activities
	env.RegisterWorkflow(workflows.ImportCustomersWorkflow)
	env.RegisterActivity(a)
	var mu sync.Mutex
	attempts := 0
	env.OnActivity(a.ImportBatch, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ImportBatchInput) (activities.ImportBatchResult, error) {
			mu.Lock()
			defer mu.Unlock()
			attempts++
			return activities.ImportBatchResult{}, errors.New("connect to the database: connection refused")
		})
	var finished []activities.FinishImportInput
	env.OnActivity(a.FinishImport, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FinishImportInput) (activities.FinishImportResult, error) {
			finished = append(finished, in)
			return activities.FinishImportResult{Current: true, Progress: activities.ImportProgress{Status: in.Status}}, nil
		})
	env.ExecuteWorkflow(workflows.ImportCustomersWorkflow, workflows.ImportInput{WorkspaceID: "ws", ImportID: "imp_1", Run: 1})
	require.True(t, env.IsWorkflowCompleted())
	require.Error(t, env.GetWorkflowError())
	require.Equal(t, workflows.ImportBatchAttempts, attempts)
	require.Equal(t, []activities.FinishImportInput{{WorkspaceID: "ws", ImportID: "imp_1", Run: 1, Status: activities.ImportFailed,
		Error: "connect to the database: connection refused"}}, finished)
}

// An import into a manual segment routes the segment changes after each
// batch (as adding members through the API does), so journeys hear of the
// entries while they happen; a routing that fails is left to the segment
// refresh and does not fail the import.
func TestImportWorkflowRoutesSegmentChangesAfterEachBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		segment bool
		fail    error
		routes  int
	}{
		{"no segment", false, nil, 0},
		{"segment", true, nil, 3},
		{"routing fails", true, errors.New("temporal unavailable"), 3 * 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeImport{total: 250, segment: tc.segment, routeErr: tc.fail}
			env := newImportEnv(f, 0)
			env.ExecuteWorkflow(workflows.ImportCustomersWorkflow, workflows.ImportInput{WorkspaceID: "ws", ImportID: "imp_1", Run: 1, BatchSize: 100})
			require.NoError(t, env.GetWorkflowError())
			require.Equal(t, []int{0, 100, 200}, f.offsets)
			require.Equal(t, tc.routes, f.routes, "once after each batch (3 tries each when it fails)")
			require.Len(t, f.finished, 1)
			require.Equal(t, activities.ImportCompleted, f.finished[0].Status)
		})
	}
}
