package workflows_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/workflows"
)

// fixture is one journey scenario: a graph, a customer, timed events and
// signals, and what must happen (workflows/testdata/journeys/*.json).
type fixture struct {
	Journey  workflows.Journey `json:"journey"`
	Customer struct {
		Timezone   string         `json:"timezone"`
		Email      string         `json:"email"`
		Phone      string         `json:"phone"`
		Attributes map[string]any `json:"attributes"`
	} `json:"customer"`
	Start   time.Time        `json:"start"`
	Trigger *workflows.Event `json:"trigger"`
	// Workspace holds the workspace's defaults the run is given.
	Workspace struct {
		Timezone   string                `json:"timezone"`
		QuietHours *workflows.QuietHours `json:"quiet_hours"`
	} `json:"workspace"`
	// FrequencyCap makes the fake send behave as the channel's cap does:
	// beyond Max sends within Period, it answers "deferred" until a slot opens.
	FrequencyCap *struct {
		Max    int    `json:"max"`
		Period string `json:"period"`
	} `json:"frequency_cap"`
	Events []struct {
		After      string         `json:"after"`
		ID         string         `json:"id"`
		Name       string         `json:"name"`
		Properties map[string]any `json:"properties"`
	} `json:"events"`
	Signals []struct {
		After string `json:"after"`
		Name  string `json:"name"`
	} `json:"signals"`
	Expect struct {
		Path      []string          `json:"path"`
		Sends     []expectedSend    `json:"sends"`
		Outcome   string            `json:"outcome"`
		Converted bool              `json:"converted"`
		Variants  map[string]string `json:"variants"`
		Updated   map[string]any    `json:"updated"`
	} `json:"expect"`
}

type expectedSend struct {
	Node string `json:"node"`
	// At is the send time relative to the start ("0s", "2d").
	At string `json:"at"`
}

type recorder struct {
	path      []string
	sends     []expectedSend
	outcome   string
	converted bool
	attrs     map[string]any
	messages  map[string]bool
	variants  map[string]string
	sentAt    []time.Time
	starts    int  // run starts reported (version 4)
	finished  bool // the run's end reported (version 4)
}

func loadFixture(t *testing.T, path string) fixture {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var f fixture
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&f), path)
	return f
}

func TestJourneyFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/journeys/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		// Interpreter 0 is a run started before versions came with the
		// input (workflow.GetVersion gives it version 3).
		for _, interp := range []int{0, workflows.InterpreterVersion} {
			name := strings.TrimSuffix(filepath.Base(file), ".json") + "/v" + strconv.Itoa(interp)
			t.Run(name, func(t *testing.T) { checkFixture(t, file, interp) })
		}
	}
}

func checkFixture(t *testing.T, file string, interp int) {
	f := loadFixture(t, file)
	require.Empty(t, workflows.ValidateJourney(f.Journey, nil), "fixture journeys must be valid")
	rec := runFixture(t, f, interp)
	if f.Expect.Path != nil {
		require.Equal(t, f.Expect.Path, rec.path, "path")
	}
	want := f.Expect.Sends
	for i := range want {
		// Runs released after a pause wait a per-run jitter of up to 10 s.
		if want[i].At == "JITTER" && i < len(rec.sends) {
			d, err := time.ParseDuration(rec.sends[i].At)
			require.NoError(t, err)
			require.True(t, d >= 5*time.Hour && d < 5*time.Hour+10*time.Second, "released send at %s", d)
			want[i].At = rec.sends[i].At
		}
	}
	if want == nil {
		want = []expectedSend{}
	}
	if rec.sends == nil {
		rec.sends = []expectedSend{}
	}
	require.Equal(t, want, rec.sends, "sends")
	require.Equal(t, f.Expect.Outcome, rec.outcome, "outcome")
	require.Equal(t, f.Expect.Converted, rec.converted, "converted")
	for node, v := range f.Expect.Variants {
		require.Equal(t, v, rec.variants[node], "variant at %s", node)
	}
	for k, v := range f.Expect.Updated {
		require.Equal(t, v, rec.attrs[k], "attribute %s", k)
	}
	if interp >= 4 {
		// Everything a run reports arrives, in the order it happened.
		require.Equal(t, 1, rec.starts, "run starts reported")
		require.Equal(t, rec.outcome != "", rec.finished, "end reported")
	}
}

// step records a node visit as the projection would: an annotation (a
// detail for the visit just recorded) does not add to the path.
func (rec *recorder) step(in activities.RecordStepInput) {
	if in.Node != "" && (len(rec.path) == 0 || in.PreviousNode != "") {
		rec.path = append(rec.path, in.Node)
	}
	if v, ok := strings.CutPrefix(in.Detail, "variant:"); ok {
		rec.variants[in.Node] = v
	}
}

// progress records a version 4 run's report.
func (rec *recorder) progress(t *testing.T, p *activities.ProgressInput) {
	if p == nil {
		return
	}
	require.False(t, rec.finished, "report after the run's end")
	if p.Start != nil && p.ConvertedAt == nil {
		require.Empty(t, rec.path, "start reported after a step")
		rec.starts++
	}
	for _, st := range p.Steps {
		rec.step(st)
	}
	if p.ConvertedAt != nil {
		rec.converted = true
	}
	if p.Finish != nil {
		rec.outcome = p.Finish.Status
		rec.finished = true
	}
}

func runFixture(t *testing.T, f fixture, interp int) *recorder {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	start := f.Start
	if start.IsZero() {
		start = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC) // a Monday
	}
	env.SetStartTime(start)
	rec := &recorder{attrs: map[string]any{}, messages: map[string]bool{}, variants: map[string]string{}}
	for k, v := range f.Customer.Attributes {
		rec.attrs[k] = v
	}
	var a *activities.Activities
	customer := func() activities.CustomerProfile {
		attrs := map[string]any{}
		for k, v := range rec.attrs {
			attrs[k] = v
		}
		return activities.CustomerProfile{ID: "cus_1", Attributes: attrs, CreatedAt: start, Timezone: f.Customer.Timezone,
			Email: f.Customer.Email, Phone: f.Customer.Phone}
	}
	env.RegisterActivity(a)
	env.OnActivity(a.RecordRunStart, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(a.LoadCustomer, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ activities.LoadCustomerInput) (activities.LoadCustomerResult, error) {
			return activities.LoadCustomerResult{Customer: customer()}, nil
		})
	env.OnActivity(a.RecordStep, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RecordStepInput) error {
			rec.step(in)
			return nil
		})
	env.OnActivity(a.RecordProgress, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.ProgressInput) error {
			rec.progress(t, &in)
			return nil
		})
	env.OnActivity(a.Send, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.SendInput) (activities.SendResult, error) {
			rec.progress(t, in.Progress)
			require.False(t, rec.messages[in.MessageID], "message id %s sent twice", in.MessageID)
			if c := f.FrequencyCap; c != nil {
				period, err := time.ParseDuration(c.Period)
				require.NoError(t, err)
				now, recent := env.Now(), []time.Time{}
				for _, at := range rec.sentAt {
					if at.After(now.Add(-period)) {
						recent = append(recent, at)
					}
				}
				if len(recent) >= c.Max {
					until := recent[len(recent)-c.Max].Add(period)
					return activities.SendResult{DeliveryID: in.MessageID, Status: "deferred", DeferUntil: &until}, nil
				}
				rec.sentAt = append(rec.sentAt, now)
			}
			rec.messages[in.MessageID] = true
			rec.sends = append(rec.sends, expectedSend{Node: in.NodeID, At: env.Now().Sub(start).String()})
			return activities.SendResult{DeliveryID: in.MessageID, Status: "sent"}, nil
		})
	env.OnActivity(a.UpdateCustomer, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.UpdateCustomerInput) error {
			for k, v := range in.Set {
				rec.attrs[k] = v
			}
			for _, k := range in.Unset {
				delete(rec.attrs, k)
			}
			return nil
		})
	env.OnActivity(a.RecordConversion, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ activities.RecordConversionInput) error {
			rec.converted = true
			return nil
		})
	env.OnActivity(a.FinishRun, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FinishRunInput) error {
			rec.outcome = in.Status
			return nil
		})
	for i, ev := range f.Events {
		d, err := workflows.ParseDuration(ev.After)
		if ev.After == "0s" {
			d, err = time.Millisecond, nil
		}
		require.NoError(t, err)
		id := ev.ID
		if id == "" {
			id = "ev" + string(rune('a'+i))
		}
		e := workflows.Event{ID: id, Name: ev.Name, Properties: ev.Properties}
		env.RegisterDelayedCallback(func() {
			e.Time = env.Now()
			env.SignalWorkflow(workflows.SignalEvent, e)
		}, d)
	}
	for _, sg := range f.Signals {
		d, err := workflows.ParseDuration(sg.After)
		require.NoError(t, err)
		name := sg.Name
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(name, nil) }, d)
	}
	trigger := f.Trigger
	if trigger == nil {
		trigger = &workflows.Event{ID: "trigger", Name: "Signed Up"}
	}
	trigger.Time = start
	env.RegisterWorkflow(workflows.JourneyWorkflow)
	env.ExecuteWorkflow(workflows.JourneyWorkflow, workflows.JourneyInput{
		WorkspaceID: "ws_1", JourneyID: "jny_1", Version: 1, CustomerID: "cus_1", Journey: f.Journey, Trigger: trigger,
		WorkspaceTimezone: f.Workspace.Timezone, WorkspaceQuietHours: f.Workspace.QuietHours, Interpreter: interp,
	})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	return rec
}
