package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/workflows"
)

// A long-looping run continues as new when the server suggests it, and
// the new run carries on where the old one stopped: node, visit counts
// (so message ids stay unique), pause state and the events it saw.
func TestContinueAsNewKeepsPendingState(t *testing.T) {
	journey := workflows.Journey{
		Name: "Loop", Trigger: workflows.Trigger{Type: "event", Event: "Signed Up"}, Entry: workflows.Entry{Policy: "once"},
		Start: "wait",
		Nodes: []workflows.Node{
			{ID: "wait", Type: "wait_for_event", Event: "Ping", Timeout: "1h", OnEvent: "reply", OnTimeout: "done"},
			{ID: "reply", Type: "send", Channel: "email", TemplateID: "tpl_1", Next: "again"},
			{ID: "again", Type: "jump", To: "wait"},
			{ID: "done", Type: "exit"},
		},
	}
	require.Empty(t, workflows.ValidateJourney(journey, nil))
	var a *activities.Activities
	sent := map[string]bool{}
	newEnv := func() *testsuite.TestWorkflowEnvironment {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(workflows.JourneyWorkflow)
		env.RegisterActivity(a)
		env.OnActivity(a.RecordRunStart, mock.Anything, mock.Anything).Return(nil)
		env.OnActivity(a.RecordStep, mock.Anything, mock.Anything).Return(nil)
		env.OnActivity(a.FinishRun, mock.Anything, mock.Anything).Return(nil)
		env.OnActivity(a.RecordProgress, mock.Anything, mock.Anything).Return(nil)
		env.OnActivity(a.Send, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.SendInput) (activities.SendResult, error) {
				require.False(t, sent[in.MessageID], "message id reused across continue-as-new")
				sent[in.MessageID] = true
				return activities.SendResult{Status: "sent"}, nil
			})
		return env
	}

	env := newEnv()
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalEvent, workflows.Event{ID: "p1", Name: "Ping"}) }, time.Minute)
	env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 2*time.Minute)
	// The suggestion is taken at the next node: after this Ping ends the wait.
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalEvent, workflows.Event{ID: "p3", Name: "Ping"}) }, 3*time.Minute)
	env.ExecuteWorkflow(workflows.JourneyWorkflow, workflows.JourneyInput{WorkspaceID: "ws", JourneyID: "j", CustomerID: "c",
		Journey: journey, Trigger: &workflows.Event{ID: "t", Name: "Signed Up"}})
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "want continue-as-new, got %v", env.GetWorkflowError())
	var next workflows.JourneyInput
	require.NoError(t, converterFor().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Resume)
	require.Equal(t, "reply", next.Resume.Node)
	require.Equal(t, 1, next.Resume.Visits["reply"])
	require.Equal(t, 2, next.Resume.Visits["wait"])
	require.Contains(t, next.Resume.Seen, "p1")
	require.Contains(t, next.Resume.Seen, "p3")
	require.Len(t, sent, 1)
	require.Equal(t, workflows.InterpreterVersion, next.Interpreter, "a continued run takes the newest interpreter")

	// The next run sends the pending reply; a replayed Ping is ignored, a
	// new one loops once more, then the wait times out.
	env2 := newEnv()
	env2.RegisterDelayedCallback(func() { env2.SignalWorkflow(workflows.SignalEvent, workflows.Event{ID: "p1", Name: "Ping"}) }, time.Minute)
	env2.RegisterDelayedCallback(func() { env2.SignalWorkflow(workflows.SignalEvent, workflows.Event{ID: "p2", Name: "Ping"}) }, 2*time.Minute)
	env2.ExecuteWorkflow(workflows.JourneyWorkflow, next)
	require.True(t, env2.IsWorkflowCompleted())
	require.NoError(t, env2.GetWorkflowError())
	require.Len(t, sent, 3, "the pending reply and one more, the duplicate Ping ignored")
}

func converterFor() interface {
	FromPayloads(*commonpb.Payloads, ...any) error
} {
	return converter.GetDefaultDataConverter()
}
