package workflows_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/workflows"
)

// A run whose customer's profile cannot be loaded (LoadCustomer refuses a
// profile too large for the run's history, without retrying) ends failed,
// and its end says why (from a review: the attempts failed on forever at
// Temporal's payload limit and the run stayed "running").
func TestAFailedRunSaysWhatEndedIt(t *testing.T) {
	var journey workflows.Journey
	require.NoError(t, json.Unmarshal([]byte(`{"name": "Big", "trigger": {"type": "event", "event": "Big"},
		"entry": {"policy": "every_time"}, "start": "check", "nodes": [
		{"id": "check", "type": "branch", "branches": [{"when": {"attr": "plan", "op": "eq", "value": "pro"}, "next": "done"}], "else": "done"},
		{"id": "done", "type": "exit"}]}`), &journey))
	require.Empty(t, workflows.ValidateJourney(journey, nil))

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	start := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	var a *activities.Activities
	env.RegisterActivity(a)
	const why = "customer cus_1's attributes are 2929 KB, more than the 1024 KB a journey run can carry: remove some of them"
	loads := 0
	env.OnActivity(a.LoadCustomer, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.LoadCustomerInput) (activities.LoadCustomerResult, error) {
			loads++
			return activities.LoadCustomerResult{}, temporal.NewNonRetryableApplicationError(why, "ProfileTooLarge", nil)
		})
	var finish *activities.FinishRunInput
	env.OnActivity(a.RecordProgress, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ProgressInput) error {
			if in.Finish != nil {
				finish = in.Finish
			}
			return nil
		})
	env.OnActivity(a.RecordStep, mock.Anything, mock.Anything).Return(nil)
	env.RegisterWorkflow(workflows.JourneyWorkflow)
	env.ExecuteWorkflow(workflows.JourneyWorkflow, workflows.JourneyInput{
		WorkspaceID: "ws_1", JourneyID: "jny_1", Version: 1, CustomerID: "cus_1", Journey: journey,
		Trigger: &workflows.Event{ID: "trigger", Name: "Big", Time: start}, Interpreter: workflows.InterpreterVersion,
	})
	require.True(t, env.IsWorkflowCompleted())
	require.Error(t, env.GetWorkflowError())
	require.Equal(t, 1, loads, "not retried")
	require.NotNil(t, finish, "the run's end is recorded")
	require.Equal(t, "failed", finish.Status)
	require.Equal(t, why, finish.Reason)
}
