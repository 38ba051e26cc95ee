package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/workflows"
)

// Events that reach a run while it records its end (its walk is over) are
// not the run's. From the first that is the journey's trigger on, they go —
// once per event id, in order — to one ReenterWorkflow child, which enters
// the customer with them once the run has closed: in its input, and as
// signals when they come after it started. Events before that trigger go
// nowhere. Runs of interpreter version 7 take them as before (no child). A
// segment-triggered journey's trigger is its segment's entered event.
func TestEventsAfterTheWalkAreHandedOnAsEntries(t *testing.T) {
	visit := workflows.Trigger{Type: "event", Event: "Visit"}
	segment := workflows.Trigger{Type: "segment", SegmentID: "seg_1"}
	entered := func(id, seg string) workflows.Event {
		return workflows.Event{ID: id, Name: "Segment Entered", Properties: map[string]any{"segment_id": seg}}
	}
	for _, tc := range []struct {
		name        string
		trigger     workflows.Trigger
		interpreter int
		late        []workflows.Event
		handedOn    []string
	}{
		{"event trigger", visit, workflows.InterpreterVersion,
			[]workflows.Event{{ID: "o0", Name: "Other"}, {ID: "v2", Name: "Visit"}, {ID: "o1", Name: "Other"}, {ID: "g1", Name: "Bought"},
				{ID: "v2", Name: "Visit"}, {ID: "v3", Name: "Visit"}},
			[]string{"v2", "o1", "g1", "v3", "v4"}},
		{"segment trigger", segment, workflows.InterpreterVersion,
			[]workflows.Event{entered("s1", "seg_2"), entered("s2", "seg_1"), {ID: "v2", Name: "Visit"}},
			[]string{"s2", "v2", "v4"}},
		{"version 7", visit, 7,
			[]workflows.Event{{ID: "v2", Name: "Visit"}, {ID: "g1", Name: "Bought"}},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a *activities.Activities
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(workflows.JourneyWorkflow)
			env.RegisterWorkflow(workflows.ReenterWorkflow)
			env.RegisterActivity(a)
			j := workflows.Journey{Name: "Welcome", Trigger: tc.trigger, Entry: workflows.Entry{Policy: "every_time"}, Start: "done",
				Goal: &workflows.Goal{Event: "Bought"}, Nodes: []workflows.Node{{ID: "done", Type: "exit"}}}
			env.RegisterActivityWithOptions(func(_ context.Context, in workflows.ReenterInput) error {
				// As the real one: back once the run has closed.
				for !env.IsWorkflowCompleted() {
					time.Sleep(time.Millisecond)
				}
				return nil
			}, activity.RegisterOptions{Name: workflows.ReenterWaitActivity})
			// One more comes as the child starts, before the run has closed.
			env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) {
				env.SignalWorkflow(workflows.SignalEvent, workflows.Event{ID: "v4", Name: "Visit"})
			})
			var handedOn []string
			env.RegisterActivityWithOptions(func(_ context.Context, in workflows.ReenterInput) (string, error) {
				require.Equal(t, []string{"ws", "j", "c", workflows.WorkflowID("j", "c", "")},
					[]string{in.WorkspaceID, in.JourneyID, in.CustomerID, in.WorkflowID})
				require.NotEmpty(t, in.RunID)
				for _, ev := range in.Events {
					handedOn = append(handedOn, ev.ID)
				}
				return "started", nil
			}, activity.RegisterOptions{Name: workflows.ReenterActivity})
			var finish *activities.FinishRunInput
			env.OnActivity(a.RecordProgress, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.ProgressInput) error {
					if in.Finish != nil && finish == nil {
						finish = in.Finish
						for _, ev := range tc.late {
							env.SignalWorkflow(workflows.SignalEvent, ev)
						}
					}
					return nil
				})
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.WorkflowID("j", "c", "")})
			env.ExecuteWorkflow(workflows.JourneyWorkflow, workflows.JourneyInput{WorkspaceID: "ws", JourneyID: "j", CustomerID: "c",
				Journey: j, Trigger: &workflows.Event{ID: "v1", Name: "Visit", Time: time.Now()}, Interpreter: tc.interpreter})
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			require.NotNil(t, finish)
			require.Equal(t, "completed", finish.Status)
			require.Equal(t, tc.handedOn, handedOn)
		})
	}
}
