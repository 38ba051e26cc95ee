package workflows

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/heraldhq/herald/activities"
)

func TestSplitIsWeightedAndSticky(t *testing.T) {
	n := Node{ID: "ab", Type: "split", Variants: []Variant{{Name: "a", Weight: 20, Next: "x"}, {Name: "b", Weight: 30, Next: "y"}, {Name: "c", Weight: 50, Next: "z"}}}
	const customers = 20000
	counts := map[string]int{}
	for i := 0; i < customers; i++ {
		cust := fmt.Sprintf("cus_%d", i)
		v := pickVariant("jny_1", cust, n)
		require.Equal(t, v, pickVariant("jny_1", cust, n), "the same customer always gets the same arm")
		counts[v.Name]++
	}
	// Each share within 5 standard deviations of its weight.
	for _, v := range n.Variants {
		p := float64(v.Weight) / 100
		sd := math.Sqrt(customers * p * (1 - p))
		require.InDelta(t, customers*p, float64(counts[v.Name]), 5*sd, "variant %s: %d of %d", v.Name, counts[v.Name], customers)
	}
	// Another journey assigns independently.
	same := 0
	for i := 0; i < 1000; i++ {
		cust := fmt.Sprintf("cus_%d", i)
		if pickVariant("jny_1", cust, n).Name == pickVariant("jny_2", cust, n).Name {
			same++
		}
	}
	require.Less(t, same, 600, "assignments of two journeys should not be the same hash")
}

// A run that comes round to a split keeps the arm it took, also when its
// customer was merged into another meanwhile, whose id picks the other arm
// (interpreter 9; runs of version 8 picked again from the new id).
func TestSplitArmStaysWithARunWhoseCustomerIsMerged(t *testing.T) {
	ab := Node{ID: "ab", Type: "split", Variants: []Variant{{Name: "a", Weight: 50, Next: "send_a"}, {Name: "b", Weight: 50, Next: "send_b"}}}
	first := pickVariant("j", "c", ab).Name
	survivor := ""
	for i := 0; survivor == ""; i++ {
		if id := fmt.Sprintf("k%d", i); pickVariant("j", id, ab).Name != first {
			survivor = id
		}
	}
	j := Journey{Name: "AB", Trigger: Trigger{Type: "event", Event: "Go"}, Entry: Entry{Policy: "once"}, Start: "ab",
		Nodes: []Node{ab,
			{ID: "send_a", Type: "send", Channel: "email", TemplateID: "tpl_a", Next: "hold"},
			{ID: "send_b", Type: "send", Channel: "email", TemplateID: "tpl_b", Next: "hold"},
			{ID: "hold", Type: "delay", Duration: "1h", Next: "again"},
			{ID: "again", Type: "jump", To: "ab"}}}
	require.Empty(t, ValidateJourney(j, nil))
	for _, tc := range []struct {
		interpreter int
		want        []string
	}{
		{InterpreterVersion, []string{"tpl_" + first, "tpl_" + first, "tpl_" + first}},
		{8, []string{"tpl_" + first, "tpl_" + pickVariant("j", survivor, ab).Name, "tpl_" + pickVariant("j", survivor, ab).Name}},
	} {
		t.Run(fmt.Sprint("interpreter ", tc.interpreter), func(t *testing.T) {
			var a *activities.Activities
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(JourneyWorkflow)
			env.RegisterActivity(a)
			var sends []string
			env.OnActivity(a.LoadCustomer, mock.Anything, mock.Anything).Return(activities.LoadCustomerResult{
				Customer: activities.CustomerProfile{ID: "c", Email: "c@example.com"}}, nil)
			env.OnActivity(a.Send, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.SendInput) (activities.SendResult, error) {
					sends = append(sends, in.TemplateID)
					return activities.SendResult{Status: "sent"}, nil
				})
			env.OnActivity(a.RecordProgress, mock.Anything, mock.Anything).Return(nil)
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalMerge, survivor) }, 30*time.Minute)
			env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalExit, "enough") }, 150*time.Minute)
			env.ExecuteWorkflow(JourneyWorkflow, JourneyInput{WorkspaceID: "ws", WorkspaceTimezone: "UTC", JourneyID: "j", CustomerID: "c",
				Journey: j, Trigger: &Event{ID: "t", Name: "Go"}, Interpreter: tc.interpreter})
			require.True(t, env.IsWorkflowCompleted())
			require.Equal(t, tc.want, sends)
		})
	}
}
