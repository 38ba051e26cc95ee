package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/workflows"
)

// A cycle must hold a wait, but a wait can have nothing to wait for: a
// `delay until` whose time is missing or past, a time window already
// open. A run that comes round to a node again without having waited
// since its last visit ends (exited, the reason naming the node) instead of
// looping — and sending — without end: after the delay's one wait below, the
// reminder is the first node to come round without another, so it is sent
// once. `delay until` reads a date and a literal dotted key as conditions do.
func TestRunThatComesRoundWithoutWaitingEnds(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	loop := func(wait workflows.Node) workflows.Journey {
		wait.ID, wait.Next = "hold", "remind"
		return workflows.Journey{Name: "Renewal", Trigger: workflows.Trigger{Type: "event", Event: "Subscribed"}, Entry: workflows.Entry{Policy: "once"},
			Start: "hold", Nodes: []workflows.Node{wait,
				{ID: "remind", Type: "send", Channel: "email", TemplateID: "tpl_1", Next: "again"},
				{ID: "again", Type: "jump", To: "hold"}}}
	}
	for _, tc := range []struct {
		name  string
		wait  workflows.Node
		attrs map[string]any
		sends []time.Time
		// node is the first one to come round without a wait since its
		// last visit.
		node string
	}{
		{"delay until a missing attribute", workflows.Node{Type: "delay", Until: "renews_at"}, map[string]any{}, []time.Time{start}, "hold"},
		{"delay until a date: waits once, then the date is past", workflows.Node{Type: "delay", Until: "renews_at"},
			map[string]any{"renews_at": "2026-03-10"}, []time.Time{time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)}, "remind"},
		{"delay until a literal dotted key", workflows.Node{Type: "delay", Until: "plan.renews_at"},
			map[string]any{"plan.renews_at": "2026-03-03T12:00:00Z"}, []time.Time{time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)}, "remind"},
		{"a time window that is open", workflows.Node{Type: "time_window", Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, From: "00:00", To: "23:59"},
			map[string]any{}, []time.Time{start}, "hold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := loop(tc.wait)
			require.Empty(t, workflows.ValidateJourney(j, nil), "the cycle holds a wait")
			var a *activities.Activities
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.SetStartTime(start)
			env.RegisterWorkflow(workflows.JourneyWorkflow)
			env.RegisterActivity(a)
			var sends []time.Time
			var finish *activities.FinishRunInput
			env.OnActivity(a.LoadCustomer, mock.Anything, mock.Anything).Return(activities.LoadCustomerResult{
				Customer: activities.CustomerProfile{ID: "c", Email: "c@example.com", Attributes: tc.attrs}}, nil)
			env.OnActivity(a.Send, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.SendInput) (activities.SendResult, error) {
					sends = append(sends, env.Now().UTC())
					return activities.SendResult{Status: "sent"}, nil
				})
			env.OnActivity(a.RecordProgress, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.ProgressInput) error {
					if in.Finish != nil {
						finish = in.Finish
					}
					return nil
				})
			env.ExecuteWorkflow(workflows.JourneyWorkflow, workflows.JourneyInput{WorkspaceID: "ws", WorkspaceTimezone: "UTC", JourneyID: "j", CustomerID: "c",
				Journey: j, Trigger: &workflows.Event{ID: "t", Name: "Subscribed"}, Interpreter: workflows.InterpreterVersion})
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			require.Equal(t, tc.sends, sends)
			require.NotNil(t, finish)
			require.Equal(t, "exited", finish.Status)
			require.Contains(t, finish.Reason, "node "+tc.node+" came round again without a wait")
		})
	}
}
