package workflows_test

import (
	"context"
	"errors"
	"fmt"
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
	next := continuedAs(t, env)
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

// continuedAs is the input of the run env's run continued as.
func continuedAs(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.JourneyInput {
	t.Helper()
	require.True(t, env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "want continue-as-new, got %v", env.GetWorkflowError())
	var next workflows.JourneyInput
	require.NoError(t, converterFor().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Resume)
	return next
}

func converterFor() interface {
	FromPayloads(*commonpb.Payloads, ...any) error
} {
	return converter.GetDefaultDataConverter()
}

// A version 6 run continues as new in the middle of a long wait when the
// server suggests it (a customer's events keep arriving as signals, and
// Temporal caps signals per run), and the next run waits on until the same
// time without entering the node again.
func TestContinueAsNewWhileWaiting(t *testing.T) {
	var a *activities.Activities
	type sendAt struct {
		node string
		at   time.Time
	}
	var sends []sendAt
	var steps []string
	var rendered []*activities.RenderEvent
	newEnv := func(start time.Time) *testsuite.TestWorkflowEnvironment {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetStartTime(start)
		env.RegisterWorkflow(workflows.JourneyWorkflow)
		env.RegisterActivity(a)
		env.OnActivity(a.RecordProgress, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.ProgressInput) error {
				for _, s := range in.Steps {
					steps = append(steps, fmt.Sprintf("%s#%d", s.Node, s.Visit))
				}
				return nil
			})
		env.OnActivity(a.Send, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.SendInput) (activities.SendResult, error) {
				sends = append(sends, sendAt{in.NodeID, env.Now().UTC()})
				rendered = append(rendered, in.Event)
				if in.Progress != nil {
					for _, s := range in.Progress.Steps {
						steps = append(steps, fmt.Sprintf("%s#%d", s.Node, s.Visit))
					}
				}
				return activities.SendResult{Status: "sent"}, nil
			})
		return env
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

	t.Run("delay", func(t *testing.T) {
		sends, steps, rendered = nil, nil, nil
		journey := workflows.Journey{Name: "Hold", Trigger: workflows.Trigger{Type: "event", Event: "Go"}, Entry: workflows.Entry{Policy: "once"},
			ExitOn: []workflows.ExitOn{{Event: "Stop"}}, Start: "hold",
			Nodes: []workflows.Node{
				{ID: "hold", Type: "delay", Duration: "2h", Next: "hello"},
				{ID: "hello", Type: "send", Channel: "email", TemplateID: "tpl_1", Next: "done"},
				{ID: "done", Type: "exit"},
			}}
		require.Empty(t, workflows.ValidateJourney(journey, nil))
		env := newEnv(start)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalEvent, workflows.Event{ID: "e1", Name: "Tick"}) }, 10*time.Minute)
		env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 30*time.Minute)
		env.ExecuteWorkflow(workflows.JourneyWorkflow, workflows.JourneyInput{WorkspaceID: "ws", JourneyID: "j", CustomerID: "c",
			Journey: journey, Trigger: &workflows.Event{ID: "t", Name: "Go", Properties: map[string]any{"plan": "pro"}}, Interpreter: workflows.InterpreterVersion})
		next := continuedAs(t, env)
		require.Equal(t, "hold", next.Resume.Node)
		require.Equal(t, &workflows.ResumeWait{Kind: "timer", Until: ptr(start.Add(2 * time.Hour))}, next.Resume.Waiting)
		require.Equal(t, 2, next.Resume.Received, "the trigger and the tick")
		require.Empty(t, sends)

		env2 := newEnv(start.Add(30 * time.Minute))
		env2.RegisterDelayedCallback(func() { env2.SignalWorkflow(workflows.SignalEvent, workflows.Event{ID: "e2", Name: "Tick"}) }, 0)
		env2.RegisterDelayedCallback(func() {
			v, err := env2.QueryWorkflow(workflows.QueryState)
			require.NoError(t, err)
			var st workflows.RunState
			require.NoError(t, v.Get(&st))
			require.Equal(t, 3, st.EventsReceived)
			require.Equal(t, "hold", st.Node)
		}, time.Minute)
		env2.ExecuteWorkflow(workflows.JourneyWorkflow, next)
		require.True(t, env2.IsWorkflowCompleted())
		require.NoError(t, env2.GetWorkflowError())
		require.Equal(t, []sendAt{{"hello", start.Add(2 * time.Hour)}}, sends, "sent when the first run's delay ends")
		require.Equal(t, []*activities.RenderEvent{{Name: "Go", Properties: map[string]any{"plan": "pro"}}}, rendered,
			"templates still see the trigger (event.*) after the hand-on")
		require.Equal(t, []string{"hold#1", "hello#1", "done#1"}, steps, "the delay is not entered again")
	})

	t.Run("wait_for_event", func(t *testing.T) {
		sends, steps = nil, nil
		journey := workflows.Journey{Name: "Activate", Trigger: workflows.Trigger{Type: "event", Event: "Go"}, Entry: workflows.Entry{Policy: "once"},
			Start: "wait",
			Nodes: []workflows.Node{
				{ID: "wait", Type: "wait_for_event", Event: "Activated", Timeout: "3h", OnEvent: "thanks", OnTimeout: "nudge"},
				{ID: "thanks", Type: "send", Channel: "email", TemplateID: "tpl_1", Next: "done"},
				{ID: "nudge", Type: "send", Channel: "email", TemplateID: "tpl_2", Next: "done"},
				{ID: "done", Type: "exit"},
			}}
		require.Empty(t, workflows.ValidateJourney(journey, nil))
		in := workflows.JourneyInput{WorkspaceID: "ws", JourneyID: "j", CustomerID: "c",
			Journey: journey, Trigger: &workflows.Event{ID: "t", Name: "Go"}, Interpreter: workflows.InterpreterVersion}
		env := newEnv(start)
		env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, time.Hour)
		env.ExecuteWorkflow(workflows.JourneyWorkflow, in)
		next := continuedAs(t, env)
		require.Equal(t, "wait", next.Resume.Node)
		require.Equal(t, &workflows.ResumeWait{Kind: "event", Until: ptr(start.Add(3 * time.Hour))}, next.Resume.Waiting)

		// The event comes to the next run: the wait takes it.
		env2 := newEnv(start.Add(time.Hour))
		env2.RegisterDelayedCallback(func() { env2.SignalWorkflow(workflows.SignalEvent, workflows.Event{ID: "a1", Name: "Activated"}) }, time.Hour)
		env2.ExecuteWorkflow(workflows.JourneyWorkflow, next)
		require.NoError(t, env2.GetWorkflowError())
		require.Equal(t, []sendAt{{"thanks", start.Add(2 * time.Hour)}}, sends)

		// No event: the next run times out when the first run would have.
		sends = nil
		env3 := newEnv(start.Add(time.Hour))
		env3.ExecuteWorkflow(workflows.JourneyWorkflow, next)
		require.NoError(t, env3.GetWorkflowError())
		require.Equal(t, []sendAt{{"nudge", start.Add(3 * time.Hour)}}, sends)

	})

	t.Run("paused send", func(t *testing.T) {
		sends, steps = nil, nil
		journey := workflows.Journey{Name: "Hello", Trigger: workflows.Trigger{Type: "event", Event: "Go"}, Entry: workflows.Entry{Policy: "once"},
			Start: "hello",
			Nodes: []workflows.Node{
				{ID: "hello", Type: "send", Channel: "email", TemplateID: "tpl_1", Next: "done"},
				{ID: "done", Type: "exit"},
			}}
		env := newEnv(start)
		env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, time.Hour)
		env.ExecuteWorkflow(workflows.JourneyWorkflow, workflows.JourneyInput{WorkspaceID: "ws", JourneyID: "j", CustomerID: "c",
			Journey: journey, Trigger: &workflows.Event{ID: "t", Name: "Go"}, Interpreter: workflows.InterpreterVersion, Paused: true})
		next := continuedAs(t, env)
		require.Equal(t, "hello", next.Resume.Node)
		require.True(t, next.Resume.Paused)
		require.Equal(t, &workflows.ResumeWait{Kind: "paused"}, next.Resume.Waiting)

		env2 := newEnv(start.Add(time.Hour))
		env2.RegisterDelayedCallback(func() { env2.SignalWorkflow(workflows.SignalResume, nil) }, time.Hour)
		env2.ExecuteWorkflow(workflows.JourneyWorkflow, next)
		require.NoError(t, env2.GetWorkflowError())
		require.Len(t, sends, 1, "sent once, after the resume")
		require.Equal(t, []string{"hello#1", "done#1"}, steps)
	})
}

func ptr[T any](v T) *T { return &v }

// A worker refuses a run of a newer interpreter (a rollback, a rolling
// deploy) instead of running it as an older version: its task fails and is
// retried until a worker that knows the version takes it.
func TestNewerInterpreterIsRefused(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(workflows.JourneyWorkflow)
	journey := workflows.Journey{Name: "Hold", Trigger: workflows.Trigger{Type: "event", Event: "Go"}, Entry: workflows.Entry{Policy: "once"},
		Start: "done", Nodes: []workflows.Node{{ID: "done", Type: "exit"}}}
	env.ExecuteWorkflow(workflows.JourneyWorkflow, workflows.JourneyInput{WorkspaceID: "ws", JourneyID: "j", CustomerID: "c",
		Journey: journey, Interpreter: workflows.InterpreterVersion + 1})
	require.ErrorContains(t, env.GetWorkflowError(), fmt.Sprintf("needs interpreter version %d", workflows.InterpreterVersion+1))
}
