package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/heraldhq/herald/activities"
)

// Signal and query names of JourneyWorkflow (DESIGN §8).
const (
	SignalEvent  = "event"
	SignalPause  = "pause"
	SignalResume = "resume"
	SignalExit   = "exit"
	// SignalMerge carries the customer id a run's anonymous customer was
	// merged into (identify with both ids, or alias).
	SignalMerge = "merge"
	QueryState  = "state"
)

// Event is a customer event as a run sees it.
type Event struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
	Time       time.Time      `json:"time"`
}

// JourneyInput starts one customer's run of one journey version.
type JourneyInput struct {
	WorkspaceID       string `json:"workspace_id"`
	WorkspaceTimezone string `json:"workspace_timezone,omitempty"`
	// WorkspaceQuietHours are the workspace's default quiet hours, for a
	// journey without its own.
	WorkspaceQuietHours *QuietHours `json:"workspace_quiet_hours,omitempty"`
	JourneyID           string      `json:"journey_id"`
	Version             int         `json:"version"`
	CustomerID          string      `json:"customer_id"`
	EntryKey            string      `json:"entry_key,omitempty"`
	Journey             Journey     `json:"journey"`
	// Trigger is the event that made the customer enter (nil for API entry
	// without an event).
	Trigger *Event `json:"trigger,omitempty"`
	// Paused starts the run paused (the journey was paused at entry).
	Paused bool `json:"paused,omitempty"`
	// Resume carries the state across continue-as-new.
	Resume *ResumeState `json:"resume,omitempty"`
	// Interpreter is the interpreter version the run follows (4 and up;
	// InterpreterVersion for new runs). Runs started before it existed
	// have none and take theirs from workflow.GetVersion.
	Interpreter int `json:"interpreter,omitempty"`
}

// InterpreterVersion is the interpreter version new runs start with.
//
// Version 4 is chosen by the run's input instead of workflow.GetVersion
// (no version marker and no TemporalChangeVersion search-attribute update
// per run), and reports its projection in batches: the run's start and the
// node visits since the last report go with the next send (in the Send
// activity's input) or, before the run waits (a timer, an event, a pause)
// or ends, in one local activity. A run through send → delay → send → exit
// writes two markers where version 3 wrote seven.
//
// Version 5 keeps the HeraldCustomerID search attribute true when the
// customer is merged into another (the run upserts the survivor's id), and
// a cancelled run (erased customer, stopped journey) closes as Canceled in
// Temporal instead of Completed.
//
// Version 6 continues as new while it waits (a delay, a time window, an
// event, a send held by a pause, quiet hours or a cap) when the server
// suggests it, and the next run goes on waiting until the same time: a
// customer's events reach a waiting run as signals, and Temporal refuses
// signals past history.maximumSignalsPerExecution (10,000) per run, so a
// long wait could otherwise stop taking exit_on and goal events. Before
// continuing it lets conversions being recorded finish.
//
// Version 7 ends a run that comes round to a node again without having
// waited since its last visit there (a cycle's delay had no time to wait
// for, or its time window was open), instead of looping without end; and
// `delay until` reads the attribute's time as conditions do (a date, a
// built-in field, a literal dotted key).
//
// Version 8 hands on a trigger event that reaches the run after its walk
// has ended (the router saw the run in progress as it was closing): a
// ReenterWorkflow child enters the customer with it once the run has
// closed, under the entry policy as for any event, where older versions
// took it as one more event and closed. Events after the walk's end no
// longer convert or exit the ended run.
//
// Version 9 keeps a run's split arm when the run comes round to the split
// again: the arm is picked from the customer id, which a merge changes; and
// the ReenterWorkflow child that hands on a late trigger carries the run's
// HeraldWorkspaceID, HeraldCustomerID and HeraldJourneyID, so an erasure
// finds it.
const InterpreterVersion = 9

// ResumeState is what a run keeps when it continues as new.
type ResumeState struct {
	Node      string            `json:"node"`
	Visits    map[string]int    `json:"visits"`
	Path      []PathStep        `json:"path"`
	Paused    bool              `json:"paused"`
	LastEvent *Event            `json:"last_event,omitempty"`
	Converted bool              `json:"converted"`
	StartedAt time.Time         `json:"started_at"`
	Seen      []string          `json:"seen,omitempty"`
	Variants  map[string]string `json:"variants,omitempty"`
	Entered   bool              `json:"entered"`
	Received  int               `json:"received,omitempty"`
	// Waiting is set when the run continued as new in the middle of a
	// wait at Node: the next run does not enter Node again, it waits on.
	Waiting *ResumeWait `json:"waiting,omitempty"`
	// Trigger is the event the run started with: templates (`event.*`),
	// branches and update_customer read it after continue-as-new too. The
	// next run's input has no trigger (it was not started by one).
	Trigger *Event `json:"trigger,omitempty"`
}

// ResumeWait is a wait a run continued as new in the middle of.
type ResumeWait struct {
	// Kind is RunState.Waiting's kind: timer, window, event, quiet_hours,
	// deferred or paused.
	Kind string `json:"kind"`
	// Until is when the wait ends (none for a pause).
	Until *time.Time `json:"until,omitempty"`
}

// waitCut is returned up to walk by a wait the server's continue-as-new
// suggestion cut short (interpreter version 6).
type waitCut struct{ wait ResumeWait }

func (w *waitCut) Error() string { return "continue as new while waiting (" + w.wait.Kind + ")" }

// RunState is what the `state` query returns.
type RunState struct {
	Node      string            `json:"node"`
	Status    string            `json:"status"`
	Paused    bool              `json:"paused"`
	Path      []PathStep        `json:"path"`
	Waiting   *Waiting          `json:"waiting,omitempty"`
	Variables map[string]any    `json:"variables,omitempty"`
	Variants  map[string]string `json:"variants,omitempty"`
	Converted bool              `json:"converted"`
	// EventsReceived counts the distinct events the run took in (its
	// trigger included); a redelivered event is not counted again.
	EventsReceived int `json:"events_received"`
}

// PathStep is one node visited.
type PathStep struct {
	Node    string     `json:"node"`
	Visit   int        `json:"visit"`
	Entered time.Time  `json:"entered"`
	Left    *time.Time `json:"left,omitempty"`
	Detail  string     `json:"detail,omitempty"`
}

// Waiting describes what the run waits for right now.
type Waiting struct {
	Kind  string     `json:"kind"` // timer, event, window, quiet_hours, paused, deferred (frequency cap or send rate)
	Event string     `json:"event,omitempty"`
	Until *time.Time `json:"until,omitempty"`
}

// Run outcomes recorded in the projection.
const (
	outcomeCompleted = "completed"
	outcomeExited    = "exited"
	outcomeCanceled  = "canceled"
	outcomeFailed    = "failed"
)

// maxPath bounds the path kept in state (older steps live in Postgres).
const maxPath = 200

// run is the interpreter's state for one execution. The projection and
// message ids use the chain's first run id (info.FirstRunID): one entry is
// one row, however often it continued as new.
type run struct {
	in        JourneyInput
	nodes     map[string]Node
	st        RunState
	visits    map[string]int
	lastEvent *Event
	inbox     []Event
	waiting   bool
	seen      []string
	seenSet   map[string]bool
	exitWhy   string
	// waits counts the waits the run has made (timers, awaited events).
	waits     int
	startedAt time.Time
	customer  *activities.CustomerProfile
	cancel    workflow.CancelFunc
	// version of the interpreter this run started with (workflow.GetVersion).
	version workflow.Version
	// searchNode is the HeraldNode search attribute's current value.
	searchNode string
	// startReport and steps are what a version 4 run has not reported yet.
	startReport *activities.RecordRunStartInput
	steps       []activities.RecordStepInput
	// converting counts conversion records still being written.
	converting int
	// resumeWait is the wait the previous run was cut short in.
	resumeWait *ResumeWait
	// trigger is the event the run started with (carried across
	// continue-as-new).
	trigger *Event
	// walked is set when the walk has ended (version 8): events from then
	// on are not the run's; late holds the first that is the journey's
	// trigger and every one after it, to be entered with once the run has
	// closed.
	walked bool
	late   []Event
}

// projectionVersion 2 records the run's end with a local activity (no
// extra workflow task). Version 1 changed two things, kept apart from older histories by
// workflow.GetVersion: a run records its own start in the projection before
// any step (so a fast run cannot finish before its row exists), and
// HeraldNode is upserted only at nodes where a run can stay (send, delay,
// wait_for_event, time_window) and only when it changes — transient nodes
// are passed within one workflow task.
//
// Version 3 shows a send node in HeraldNode only when the run actually
// waits there (paused, quiet hours, a frequency cap or send rate): a send
// that goes out at once costs no search-attribute update (each one is a
// visibility write on the server).
const projectionVersion = "herald-projection-v1"

// lingering says whether a run can stay at a node of this type for a while.
func lingering(nodeType string, v workflow.Version) bool {
	switch nodeType {
	case "delay", "wait_for_event", "time_window":
		return true
	case "send":
		return v < 3
	}
	return false
}

// showNode makes HeraldNode name the current node (version 3: before a
// send waits).
func (r *run) showNode(ctx workflow.Context) error {
	node, _ := r.current()
	if r.version < 3 || node == "" || r.searchNode == node {
		return nil
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, SANode.ValueSet(node)); err != nil {
		return err
	}
	r.searchNode = node
	return nil
}

var a *activities.Activities

func activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: 5 * time.Minute},
	})
}

func localCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumInterval: 30 * time.Second},
	})
}

// JourneyWorkflow interprets a published journey version for one customer:
// it walks the graph from the start node (or where a continued run left
// off), reacting to the customer's events delivered as `event` signals.
func JourneyWorkflow(ctx workflow.Context, in JourneyInput) error {
	if in.Interpreter > InterpreterVersion {
		// A run of a newer release (a rollback, a rolling deploy): the
		// workflow task fails and is retried until a worker that knows
		// the version takes it, rather than run it as an older one.
		panic(fmt.Sprintf("journey run needs interpreter version %d; this worker has %d", in.Interpreter, InterpreterVersion))
	}
	r := &run{in: in, nodes: map[string]Node{}, visits: map[string]int{}, seenSet: map[string]bool{}, trigger: in.Trigger}
	for _, n := range in.Journey.Nodes {
		r.nodes[n.ID] = n
	}
	info := workflow.GetInfo(ctx)
	cur := in.Journey.Start
	r.startedAt = workflow.Now(ctx)
	r.st = RunState{Status: "running", Paused: in.Paused, Variants: map[string]string{}}
	if rs := in.Resume; rs != nil {
		r.st.Node = rs.Node
		cur, r.visits, r.st.Path, r.st.Paused, r.lastEvent, r.st.Converted, r.startedAt = rs.Node, rs.Visits, rs.Path, rs.Paused, rs.LastEvent, rs.Converted, rs.StartedAt
		if rs.Variants != nil {
			r.st.Variants = rs.Variants
		}
		for _, id := range rs.Seen {
			r.remember(id)
		}
		r.st.EventsReceived = rs.Received
		r.trigger = rs.Trigger
		if r.resumeWait = rs.Waiting; r.resumeWait != nil {
			r.searchNode = rs.Node // HeraldNode came over with the run
		}
	} else if in.Trigger != nil {
		r.lastEvent = in.Trigger
		r.remember(in.Trigger.ID)
		r.st.EventsReceived = 1
	}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (RunState, error) { return r.state(), nil }); err != nil {
		return err
	}

	mainCtx, cancel := workflow.WithCancel(ctx)
	r.cancel = cancel
	r.listen(ctx)

	if in.Interpreter >= 4 {
		r.version = workflow.Version(min(in.Interpreter, InterpreterVersion))
	} else {
		r.version = workflow.GetVersion(ctx, projectionVersion, workflow.DefaultVersion, 3)
	}
	if r.version >= 1 && in.Resume == nil {
		r.searchNode = in.Journey.Start // set when the run was started
		trigger, triggerID := "", ""
		if in.Trigger != nil {
			trigger, triggerID = in.Trigger.Name, in.Trigger.ID
		}
		start := activities.RecordRunStartInput{
			WorkspaceID: in.WorkspaceID, WorkflowID: info.WorkflowExecution.ID, RunID: info.FirstRunID, JourneyID: in.JourneyID,
			Version: in.Version, CustomerID: in.CustomerID, EntryKey: in.EntryKey, TriggerEvent: trigger, TriggerEventID: triggerID, StartedAt: r.startedAt,
		}
		if r.version >= 4 {
			r.startReport = &start
		} else if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.RecordRunStart, start).Get(ctx, nil); err != nil {
			return err
		}
	}

	err := r.walk(mainCtx, cur)
	var can *workflow.ContinueAsNewError
	if errors.As(err, &can) {
		return err
	}
	r.walked = r.version >= 8
	outcome := outcomeCompleted
	switch {
	case r.exitWhy != "":
		outcome = outcomeExited
	case temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled):
		outcome = outcomeCanceled
	case err != nil:
		outcome = outcomeFailed
	}
	r.st.Status = outcome
	r.st.Waiting = nil
	// Record the end even when the run was cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	last, visit := r.current()
	if r.version >= 2 {
		// A conversion being recorded finishes before the run does.
		_ = workflow.Await(dctx, func() bool { return r.converting == 0 })
	}
	finish := activities.FinishRunInput{
		WorkflowID: info.WorkflowExecution.ID, RunID: info.FirstRunID, Status: outcome, At: workflow.Now(dctx),
		WorkspaceID: in.WorkspaceID, JourneyID: in.JourneyID, LastNode: last, LastVisit: visit,
	}
	switch outcome {
	case outcomeExited:
		finish.Reason = r.exitWhy
	case outcomeFailed:
		finish.Reason = failureReason(err)
	}
	var ferr error
	switch {
	case r.version >= 4:
		p := r.report(ctx)
		if p == nil {
			p = &activities.ProgressInput{WorkspaceID: in.WorkspaceID, WorkflowID: finish.WorkflowID, RunID: finish.RunID}
		}
		p.Finish = &finish
		ferr = workflow.ExecuteLocalActivity(localCtx(dctx), a.RecordProgress, *p).Get(dctx, nil)
	case r.version >= 2:
		// A local activity: recorded in the run's last workflow task, no extra round trip.
		ferr = workflow.ExecuteLocalActivity(localCtx(dctx), a.FinishRun, finish).Get(dctx, nil)
	default:
		ferr = workflow.ExecuteActivity(activityCtx(dctx), a.FinishRun, finish).Get(dctx, nil)
	}
	if ferr != nil {
		workflow.GetLogger(ctx).Warn("record run end failed", "error", ferr)
	}
	if r.walked && outcome != outcomeCanceled {
		r.reenterLate(dctx, workflow.GetSignalChannel(ctx, SignalEvent))
	}
	if outcome == outcomeCanceled && r.version >= 5 {
		return temporal.NewCanceledError("run cancelled")
	}
	if outcome == outcomeExited || outcome == outcomeCanceled {
		return nil
	}
	return err
}

func (r *run) remember(id string) {
	if id == "" || r.seenSet[id] {
		return
	}
	r.seenSet[id] = true
	r.seen = append(r.seen, id)
	if len(r.seen) > 500 {
		delete(r.seenSet, r.seen[0])
		r.seen = r.seen[1:]
	}
}

func (r *run) current() (string, int) {
	if len(r.st.Path) == 0 {
		return "", 0
	}
	p := r.st.Path[len(r.st.Path)-1]
	return p.Node, p.Visit
}

// listen handles signals for the whole run: events (deduplicated by id),
// exit_on, goals, pause, resume and exit.
func (r *run) listen(ctx workflow.Context) {
	events := workflow.GetSignalChannel(ctx, SignalEvent)
	pause := workflow.GetSignalChannel(ctx, SignalPause)
	resume := workflow.GetSignalChannel(ctx, SignalResume)
	exit := workflow.GetSignalChannel(ctx, SignalExit)
	merge := workflow.GetSignalChannel(ctx, SignalMerge)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(events, func(c workflow.ReceiveChannel, _ bool) {
				var ev Event
				c.Receive(ctx, &ev)
				r.onEvent(ctx, ev)
			})
			sel.AddReceive(pause, func(c workflow.ReceiveChannel, _ bool) {
				c.Receive(ctx, nil)
				r.st.Paused = true
			})
			sel.AddReceive(resume, func(c workflow.ReceiveChannel, _ bool) {
				c.Receive(ctx, nil)
				r.st.Paused = false
			})
			sel.AddReceive(merge, func(c workflow.ReceiveChannel, _ bool) {
				var id string
				c.Receive(ctx, &id)
				if id != "" && id != r.in.CustomerID {
					r.in.CustomerID = id
					r.customer = nil
					if r.version >= 5 {
						if err := workflow.UpsertTypedSearchAttributes(ctx, SACustomerID.ValueSet(id)); err != nil {
							workflow.GetLogger(ctx).Warn("update HeraldCustomerID after a merge", "error", err)
						}
					}
				}
			})
			sel.AddReceive(exit, func(c workflow.ReceiveChannel, _ bool) {
				var reason string
				c.Receive(ctx, &reason)
				if reason == "" {
					reason = "exit signal"
				}
				r.exitWhy = reason
				r.cancel()
			})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return
			}
		}
	})
}

func (r *run) onEvent(ctx workflow.Context, ev Event) {
	if ev.ID != "" && r.seenSet[ev.ID] {
		return
	}
	r.remember(ev.ID)
	r.st.EventsReceived++
	if r.walked {
		// From a trigger on, the customer's events go to the run it will
		// enter, in order.
		if len(r.late) > 0 || r.in.Journey.Trigger.Takes(ev) {
			r.late = append(r.late, ev)
		}
		return
	}
	for _, x := range r.in.Journey.ExitOn {
		if x.Event == ev.Name && matches(x.Where, ev) {
			r.exitWhy = "exit_on " + ev.Name
			r.cancel()
			return
		}
	}
	if g := r.in.Journey.Goal; g != nil && !r.st.Converted && g.Event == ev.Name {
		within := time.Duration(0)
		if g.Within != "" {
			within, _ = ParseDuration(g.Within)
		}
		if within == 0 || !ev.Time.After(r.startedAt.Add(within)) {
			r.st.Converted = true
			info := workflow.GetInfo(ctx)
			r.converting++
			workflow.Go(ctx, func(ctx workflow.Context) {
				defer func() { r.converting-- }()
				var err error
				if r.version >= 4 {
					// The start goes too while unreported: the router
					// may not have recorded the run yet.
					at := ev.Time
					err = workflow.ExecuteActivity(activityCtx(ctx), a.RecordProgress, activities.ProgressInput{
						WorkspaceID: r.in.WorkspaceID, WorkflowID: info.WorkflowExecution.ID, RunID: info.FirstRunID,
						Start: r.startReport, ConvertedAt: &at}).Get(ctx, nil)
				} else {
					err = workflow.ExecuteActivity(activityCtx(ctx), a.RecordConversion, activities.RecordConversionInput{
						WorkflowID: info.WorkflowExecution.ID, RunID: info.FirstRunID, At: ev.Time}).Get(ctx, nil)
				}
				if err != nil {
					workflow.GetLogger(ctx).Warn("record conversion failed", "error", err)
				}
			})
		}
	}
	r.lastEvent = &ev
	if r.waiting {
		r.inbox = append(r.inbox, ev)
	}
}

func matches(where json.RawMessage, ev Event) bool {
	if len(where) == 0 || string(where) == "null" {
		return true
	}
	ok, err := EvalCondition(where, EvalContext{Props: ev.Properties, Now: ev.Time})
	return err == nil && ok
}

// walk runs nodes from cur until the journey ends.
func (r *run) walk(ctx workflow.Context, cur string) error {
	info := workflow.GetInfo(ctx)
	suggested := r.suggested(ctx)
	// waitsAt holds, per node visited, how many waits the run had made when
	// it last entered the node.
	waitsAt := map[string]int{}
	for cur != "" {
		if (r.version < 6 && info.GetContinueAsNewSuggested() || suggested()) && !r.st.Paused {
			return r.continueAsNew(ctx, cur, r.resumeWait)
		}
		n, ok := r.nodes[cur]
		if !ok {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("node %q does not exist in version %d", cur, r.in.Version), "BadGraph", nil)
		}
		var next string
		var err error
		if w := r.resumeWait; w != nil {
			r.resumeWait = nil
			next, err = r.waitOn(ctx, n, *w)
		} else {
			if w, seen := waitsAt[n.ID]; r.version >= 7 && seen && w == r.waits {
				r.exitWhy = fmt.Sprintf("node %s came round again without a wait since its last visit (a delay with nothing to wait for, or a time window already open); the run ends instead of looping", n.ID)
				workflow.GetLogger(ctx).Warn("journey run looped without waiting; ended", "node_id", n.ID)
				return nil
			}
			waitsAt[n.ID] = r.waits
			if err := r.enter(ctx, n, ""); err != nil {
				return err
			}
			next, err = r.step(ctx, n)
		}
		if cut := (*waitCut)(nil); errors.As(err, &cut) {
			return r.continueAsNew(ctx, cur, &cut.wait)
		}
		if err != nil {
			return err
		}
		cur = next
	}
	return nil
}

// waitOn goes on with a wait at n that the previous run was cut short in.
func (r *run) waitOn(ctx workflow.Context, n Node, w ResumeWait) (string, error) {
	switch {
	case n.Type == "wait_for_event" && w.Until != nil:
		return r.waitForEventUntil(ctx, n, func() time.Time { return *w.Until })
	case n.Type == "send":
		// A send's holds (pause, quiet hours, cap or rate) come round again.
		if w.Until != nil {
			if err := r.sleepUntil(ctx, *w.Until, w.Kind); err != nil {
				return "", err
			}
		}
		if w.Kind == "paused" && !r.st.Paused {
			// Released as the run handed on.
			if err := releaseJitter(ctx); err != nil {
				return "", err
			}
		}
		return n.Next, r.send(ctx, n)
	case w.Until != nil:
		return n.Next, r.sleepUntil(ctx, *w.Until, w.Kind)
	}
	return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("node %s cannot resume a %q wait", n.ID, w.Kind), "BadGraph", nil)
}

// continueAsNew hands the run on at node cur (in the middle of wait, if set).
func (r *run) continueAsNew(ctx workflow.Context, cur string, wait *ResumeWait) error {
	// Take the signals that already arrived so none is lost.
	ch := workflow.GetSignalChannel(ctx, SignalEvent)
	for {
		var ev Event
		if !ch.ReceiveAsync(&ev) {
			break
		}
		r.onEvent(ctx, ev)
	}
	if err := r.flush(ctx); err != nil {
		return err
	}
	if r.version >= 6 {
		// Signals that came while the flush was written, and conversions
		// being recorded, are taken before the state is handed on; an
		// exit_on among them ends the run here.
		if err := r.readyToHandOn(ctx); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	in := r.in
	in.Trigger = nil
	in.Interpreter = max(in.Interpreter, InterpreterVersion)
	in.Resume = &ResumeState{Node: cur, Visits: r.visits, Path: r.st.Path, Paused: r.st.Paused, LastEvent: r.lastEvent,
		Converted: r.st.Converted, StartedAt: r.startedAt, Seen: r.seen, Variants: r.st.Variants, Entered: true,
		Received: r.st.EventsReceived, Waiting: wait, Trigger: r.trigger}
	return workflow.NewContinueAsNewError(ctx, JourneyWorkflow, in)
}

// enter records a node visit: search attribute, path, projection.
func (r *run) enter(ctx workflow.Context, n Node, detail string) error {
	info := workflow.GetInfo(ctx)
	now := workflow.Now(ctx)
	prevNode, prevVisit := r.current()
	if len(r.st.Path) > 0 {
		r.st.Path[len(r.st.Path)-1].Left = &now
	}
	r.visits[n.ID]++
	r.st.Node = n.ID
	r.st.Path = append(r.st.Path, PathStep{Node: n.ID, Visit: r.visits[n.ID], Entered: now, Detail: detail})
	if len(r.st.Path) > maxPath {
		r.st.Path = r.st.Path[len(r.st.Path)-maxPath:]
	}
	if r.version == workflow.DefaultVersion || (lingering(n.Type, r.version) && r.searchNode != n.ID) {
		if err := workflow.UpsertTypedSearchAttributes(ctx, SANode.ValueSet(n.ID)); err != nil {
			return err
		}
		r.searchNode = n.ID
	}
	step := activities.RecordStepInput{
		WorkspaceID: r.in.WorkspaceID, JourneyID: r.in.JourneyID, WorkflowID: info.WorkflowExecution.ID,
		RunID: info.FirstRunID, Node: n.ID, Visit: r.visits[n.ID], Detail: detail, EnteredAt: now,
		PreviousNode: prevNode, PreviousVisit: prevVisit,
	}
	if r.version >= 4 {
		r.steps = append(r.steps, step)
		return nil
	}
	return workflow.ExecuteLocalActivity(localCtx(ctx), a.RecordStep, step).Get(ctx, nil)
}

// report takes what a version 4 run has not reported yet (nil: nothing).
func (r *run) report(ctx workflow.Context) *activities.ProgressInput {
	if r.startReport == nil && len(r.steps) == 0 {
		return nil
	}
	info := workflow.GetInfo(ctx)
	p := &activities.ProgressInput{WorkspaceID: r.in.WorkspaceID, WorkflowID: info.WorkflowExecution.ID,
		RunID: info.FirstRunID, Start: r.startReport, Steps: r.steps}
	r.startReport, r.steps = nil, nil
	return p
}

// unreport puts back a report that may not have been written, ahead of
// anything added since (writing it again changes nothing).
func (r *run) unreport(p *activities.ProgressInput) {
	if p == nil {
		return
	}
	if p.Start != nil {
		r.startReport = p.Start
	}
	r.steps = append(p.Steps, r.steps...)
}

// flush reports what a version 4 run has not reported yet, before it
// waits: the projection shows where it waits.
func (r *run) flush(ctx workflow.Context) error {
	p := r.report(ctx)
	if p == nil {
		return nil
	}
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.RecordProgress, *p).Get(ctx, nil); err != nil {
		r.unreport(p)
		return err
	}
	return nil
}

// detail annotates the current step (e.g. the split variant).
func (r *run) annotate(ctx workflow.Context, detail string) error {
	info := workflow.GetInfo(ctx)
	p := &r.st.Path[len(r.st.Path)-1]
	p.Detail = detail
	step := activities.RecordStepInput{
		WorkspaceID: r.in.WorkspaceID, JourneyID: r.in.JourneyID, WorkflowID: info.WorkflowExecution.ID,
		RunID: info.FirstRunID, Node: p.Node, Visit: p.Visit, Detail: detail, EnteredAt: p.Entered,
	}
	if r.version >= 4 {
		if k := len(r.steps) - 1; k >= 0 && r.steps[k].Node == p.Node && r.steps[k].Visit == p.Visit {
			r.steps[k].Detail = detail
		} else {
			r.steps = append(r.steps, step)
		}
		return nil
	}
	return workflow.ExecuteLocalActivity(localCtx(ctx), a.RecordStep, step).Get(ctx, nil)
}

// step executes one node and returns the next node id ("" ends the run).
func (r *run) step(ctx workflow.Context, n Node) (string, error) {
	switch n.Type {
	case "exit":
		return "", nil
	case "jump":
		return n.To, nil
	case "send":
		return n.Next, r.send(ctx, n)
	case "delay":
		until, err := r.delayUntil(ctx, n)
		if err != nil {
			return "", err
		}
		return n.Next, r.sleepUntil(ctx, until, "timer")
	case "wait_for_event":
		return r.waitForEvent(ctx, n)
	case "branch":
		return r.branch(ctx, n)
	case "split":
		v := pickVariant(r.in.JourneyID, r.in.CustomerID, n)
		if prev, ok := r.st.Variants[n.ID]; ok && r.version >= 9 {
			// Coming round again, the run keeps its arm, also when its
			// customer was merged into another meanwhile (whose id picks).
			if i := slices.IndexFunc(n.Variants, func(x Variant) bool { return x.Name == prev }); i >= 0 {
				v = n.Variants[i]
			}
		}
		r.st.Variants[n.ID] = v.Name
		if err := r.annotate(ctx, "variant:"+v.Name); err != nil {
			return "", err
		}
		return v.Next, nil
	case "time_window":
		cust, err := r.loadCustomer(ctx, false)
		if err != nil {
			return "", err
		}
		loc := location(n.Timezone, cust.Timezone, r.in.WorkspaceTimezone)
		t, err := NextWindowTime(workflow.Now(ctx), n.Days, n.From, n.To, loc)
		if err != nil {
			return "", temporal.NewNonRetryableApplicationError(err.Error(), "BadGraph", nil)
		}
		return n.Next, r.sleepUntil(ctx, t, "window")
	case "update_customer":
		err := workflow.ExecuteActivity(activityCtx(ctx), a.UpdateCustomer, activities.UpdateCustomerInput{
			WorkspaceID: r.in.WorkspaceID, CustomerID: r.in.CustomerID, Set: n.Set, Unset: n.Unset,
			Event: r.renderEvent(), JourneyID: r.in.JourneyID, JourneyName: r.in.Journey.Name,
		}).Get(ctx, nil)
		r.customer = nil
		return n.Next, err
	}
	return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("node %s has unknown type %q", n.ID, n.Type), "BadGraph", nil)
}

// failureReason is what a failed run's end_reason says: the message of
// the error that ended it (a profile too large to load, a node the graph
// cannot run), without the activity's wrapping.
func failureReason(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func (r *run) loadCustomer(ctx workflow.Context, fresh bool) (activities.CustomerProfile, error) {
	if r.customer != nil && !fresh {
		return *r.customer, nil
	}
	var res activities.LoadCustomerResult
	err := workflow.ExecuteActivity(activityCtx(ctx), a.LoadCustomer, activities.LoadCustomerInput{
		WorkspaceID: r.in.WorkspaceID, CustomerID: r.in.CustomerID}).Get(ctx, &res)
	if err != nil {
		return activities.CustomerProfile{}, err
	}
	r.customer = &res.Customer
	return res.Customer, nil
}

func (r *run) sleepUntil(ctx workflow.Context, t time.Time, kind string) error {
	d := t.Sub(workflow.Now(ctx))
	if d <= 0 {
		return nil
	}
	r.waits++
	if err := r.showNode(ctx); err != nil {
		return err
	}
	if err := r.flush(ctx); err != nil {
		return err
	}
	r.st.Waiting = &Waiting{Kind: kind, Until: &t}
	defer func() { r.st.Waiting = nil }()
	if r.version < 6 {
		return workflow.Sleep(ctx, d)
	}
	cut, err := workflow.AwaitWithTimeout(ctx, d, r.suggested(ctx))
	if err == nil && cut {
		if err = r.readyToHandOn(ctx); err == nil {
			err = &waitCut{ResumeWait{Kind: kind, Until: &t}}
		}
	}
	return err
}

// readyToHandOn prepares a version 6 run to continue as new. It yields
// once, so that a signal handed to the listening goroutine in this
// workflow task is taken first (a signal given to a goroutine blocked in
// Select is no longer in its channel — ReceiveChannel.Len does not count
// it — until that goroutine runs), then lets conversions being recorded
// finish. A wait calls it while it still waits, so the events that arrive
// meanwhile are still its own.
func (r *run) readyToHandOn(ctx workflow.Context) error {
	yielded := false
	if err := workflow.Await(ctx, func() bool {
		done := yielded
		yielded = true
		return done
	}); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return r.converting == 0 })
}

// suggested says when a version 6 run hands on: the server suggests
// continuing as new and the signals that arrived with the suggestion have
// all been taken (an exit_on, the awaited event or a resume among them acts
// first; none is left behind). Always false before version 6.
func (r *run) suggested(ctx workflow.Context) func() bool {
	info := workflow.GetInfo(ctx)
	var chans []workflow.ReceiveChannel
	for _, name := range []string{SignalEvent, SignalPause, SignalResume, SignalExit, SignalMerge} {
		chans = append(chans, workflow.GetSignalChannel(ctx, name))
	}
	return func() bool {
		if r.version < 6 || !info.GetContinueAsNewSuggested() {
			return false
		}
		for _, ch := range chans {
			if ch.Len() > 0 {
				return false
			}
		}
		return true
	}
}

func (r *run) delayUntil(ctx workflow.Context, n Node) (time.Time, error) {
	now := workflow.Now(ctx)
	switch {
	case n.Duration != "":
		d, err := ParseDuration(n.Duration)
		if err != nil {
			return now, temporal.NewNonRetryableApplicationError(err.Error(), "BadGraph", nil)
		}
		return now.Add(d), nil
	case n.At != "":
		cust, err := r.loadCustomer(ctx, false)
		if err != nil {
			return now, err
		}
		t, err := NextClockTime(now, n.At, location(cust.Timezone, r.in.WorkspaceTimezone))
		if err != nil {
			return now, temporal.NewNonRetryableApplicationError(err.Error(), "BadGraph", nil)
		}
		return t, nil
	case n.Until != "":
		cust, err := r.loadCustomer(ctx, true)
		if err != nil {
			return now, err
		}
		var t time.Time
		var ok bool
		if r.version >= 7 {
			t, ok = untilTime(cust, n.Until)
		} else {
			t, ok = attributeTime(cust, n.Until)
		}
		if !ok {
			// No usable time on the profile: do not hold the customer forever.
			workflow.GetLogger(ctx).Info("delay until: attribute missing or not a time; continuing", "node_id", n.ID, "attr", n.Until)
			return now, nil
		}
		if n.Offset != "" {
			off, err := ParseOffset(n.Offset)
			if err != nil {
				return now, temporal.NewNonRetryableApplicationError(err.Error(), "BadGraph", nil)
			}
			t = t.Add(off)
		}
		return t, nil
	}
	return now, nil
}

// untilTime reads the time a `delay until` waits for as conditions read
// an attribute (a built-in field first, a literal key before a dotted path;
// an RFC 3339 time or a date), and also Unix seconds.
func untilTime(c activities.CustomerProfile, path string) (time.Time, bool) {
	v, ok := evalCustomer(c).attribute(strings.TrimPrefix(path, "attributes."))
	if !ok {
		return time.Time{}, false
	}
	if x, isNum := v.(float64); isNum {
		return time.Unix(int64(x), 0).UTC(), true
	}
	return asTime(v)
}

// attributeTime reads a time from a customer attribute (RFC 3339 string or
// Unix seconds): interpreters before 7.
func attributeTime(c activities.CustomerProfile, path string) (time.Time, bool) {
	if path == "created_at" {
		return c.CreatedAt, true
	}
	var v any = c.Attributes
	for _, part := range strings.Split(strings.TrimPrefix(path, "attributes."), ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return time.Time{}, false
		}
		v = m[part]
	}
	switch x := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339, x)
		return t, err == nil
	case float64:
		return time.Unix(int64(x), 0).UTC(), true
	}
	return time.Time{}, false
}

func (r *run) waitForEvent(ctx workflow.Context, n Node) (string, error) {
	timeout, err := ParseDuration(n.Timeout)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), "BadGraph", nil)
	}
	return r.waitForEventUntil(ctx, n, func() time.Time { return workflow.Now(ctx).Add(timeout) })
}

// waitForEventUntil waits for n's event until the time deadline gives
// once the run's progress is reported (the timeout counts from then).
func (r *run) waitForEventUntil(ctx workflow.Context, n Node, deadline func() time.Time) (string, error) {
	if err := r.flush(ctx); err != nil {
		return "", err
	}
	until := deadline()
	r.waits++
	r.inbox = nil
	r.waiting = true
	r.st.Waiting = &Waiting{Kind: "event", Event: n.Event, Until: &until}
	defer func() { r.waiting, r.inbox, r.st.Waiting = false, nil, nil }()
	var got *Event
	arrived := func() bool {
		for i := range r.inbox {
			if r.inbox[i].Name == n.Event && matches(n.Where, r.inbox[i]) {
				got = &r.inbox[i]
				return true
			}
		}
		r.inbox = r.inbox[:0]
		return false
	}
	suggested := r.suggested(ctx)
	ok, err := workflow.AwaitWithTimeout(ctx, until.Sub(workflow.Now(ctx)), func() bool { return arrived() || suggested() })
	if err != nil {
		return "", err
	}
	if ok && got == nil {
		if err := r.readyToHandOn(ctx); err != nil {
			return "", err
		}
		if ok = arrived(); !ok {
			return "", &waitCut{ResumeWait{Kind: "event", Until: &until}}
		}
	}
	if ok {
		r.lastEvent = got
		return n.OnEvent, nil
	}
	return n.OnTimeout, nil
}

func (r *run) branch(ctx workflow.Context, n Node) (string, error) {
	cust, err := r.loadCustomer(ctx, true)
	if err != nil {
		return "", err
	}
	ec := EvalContext{Customer: evalCustomer(cust), Props: r.branchProps(), Now: workflow.Now(ctx)}
	var refs []string
	for _, b := range n.Branches {
		for _, id := range SegmentRefs(b.When) {
			if !slices.Contains(refs, id) {
				refs = append(refs, id)
			}
		}
	}
	if len(refs) > 0 {
		// Membership is answered from the segments in Postgres, at this moment.
		var res activities.SegmentMembershipResult
		err := workflow.ExecuteActivity(activityCtx(ctx), a.SegmentMembership, activities.SegmentMembershipInput{
			WorkspaceID: r.in.WorkspaceID, CustomerID: r.in.CustomerID, SegmentIDs: refs}).Get(ctx, &res)
		if err != nil {
			return "", err
		}
		ec.Segments = res.Members
	}
	for i, b := range n.Branches {
		ok, err := EvalCondition(b.When, ec)
		if err != nil {
			return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("node %s branch %d: %v", n.ID, i, err), "BadGraph", nil)
		}
		if ok {
			return b.Next, r.annotate(ctx, "branch:"+strconv.Itoa(i))
		}
	}
	return n.Else, r.annotate(ctx, "branch:else")
}

// state is the answer to the state query: the run's state with the
// variables its next step reads — the trigger as templates see it
// (`event`), and the last event the run took (`last_event`).
func (r *run) state() RunState {
	st := r.st
	vars := map[string]any{}
	for name, e := range map[string]*Event{"event": r.trigger, "last_event": r.lastEvent} {
		if e != nil {
			vars[name] = map[string]any{"id": e.ID, "name": e.Name, "properties": e.Properties, "time": e.Time}
		}
	}
	if len(vars) > 0 {
		st.Variables = vars
	}
	return st
}

// branchProps are the properties `prop` conditions see in a branch: the
// trigger event's, with the last event's under "last_event".
func (r *run) branchProps() map[string]any {
	props := map[string]any{}
	if r.trigger != nil {
		for k, v := range r.trigger.Properties {
			props[k] = v
		}
	}
	if r.lastEvent != nil {
		props["last_event"] = map[string]any{"name": r.lastEvent.Name, "properties": r.lastEvent.Properties}
	}
	return props
}

func evalCustomer(c activities.CustomerProfile) Customer {
	return Customer{ID: c.ID, ExternalID: c.ExternalID, Email: c.Email, Phone: c.Phone,
		Timezone: c.Timezone, CreatedAt: c.CreatedAt, Attributes: c.Attributes}
}

func (r *run) renderEvent() *activities.RenderEvent {
	if r.trigger == nil {
		return nil
	}
	return &activities.RenderEvent{Name: r.trigger.Name, Properties: r.trigger.Properties}
}

// send holds while paused or in quiet hours, then sends once per visit.
func (r *run) send(ctx workflow.Context, n Node) error {
	for {
		res, err := r.sendOnce(ctx, n)
		if err != nil || res.Status != "deferred" || res.DeferUntil == nil {
			return err
		}
		// A frequency cap or a send rate holds the message: wait for its
		// slot, then go through pause and quiet hours again and send.
		if err := r.sleepUntil(ctx, *res.DeferUntil, "deferred"); err != nil {
			return err
		}
	}
}

func (r *run) sendOnce(ctx workflow.Context, n Node) (activities.SendResult, error) {
	var res activities.SendResult
	if r.st.Paused {
		if err := r.showNode(ctx); err != nil {
			return res, err
		}
		if err := r.flush(ctx); err != nil {
			return res, err
		}
		r.st.Waiting = &Waiting{Kind: "paused"}
		suggested := r.suggested(ctx)
		if err := workflow.Await(ctx, func() bool { return !r.st.Paused || suggested() }); err != nil {
			return res, err
		}
		if r.st.Paused {
			if err := r.readyToHandOn(ctx); err != nil {
				return res, err
			}
		}
		r.st.Waiting = nil
		if r.st.Paused {
			return res, &waitCut{ResumeWait{Kind: "paused"}}
		}
		if err := releaseJitter(ctx); err != nil {
			return res, err
		}
	}
	qh := r.in.Journey.Settings.QuietHours
	if qh == nil {
		qh = r.in.WorkspaceQuietHours
	}
	if qh != nil {
		cust, err := r.loadCustomer(ctx, false)
		if err != nil {
			return res, err
		}
		t, err := QuietHoursEnd(workflow.Now(ctx), qh.Start, qh.End, location(cust.Timezone, r.in.WorkspaceTimezone))
		if err != nil {
			return res, temporal.NewNonRetryableApplicationError(err.Error(), "BadGraph", nil)
		}
		if err := r.sleepUntil(ctx, t, "quiet_hours"); err != nil {
			return res, err
		}
	}
	info := workflow.GetInfo(ctx)
	in := activities.SendInput{
		WorkspaceID: r.in.WorkspaceID, JourneyID: r.in.JourneyID, JourneyName: r.in.Journey.Name,
		WorkflowID: info.WorkflowExecution.ID, NodeID: n.ID, CustomerID: r.in.CustomerID,
		MessageID: MessageID(info.WorkflowExecution.ID, info.FirstRunID, n.ID, r.visits[n.ID]),
		Channel:   n.Channel, TemplateID: n.TemplateID, Event: r.renderEvent(),
		RatePerMinute: r.in.Journey.Settings.SendRatePerMinute,
		Progress:      r.report(ctx),
	}
	err := workflow.ExecuteActivity(activityCtx(ctx), a.Send, in).Get(ctx, &res)
	if err != nil {
		r.unreport(in.Progress)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == "SendFailed" {
		// Recorded as a failed delivery; the journey goes on.
		workflow.GetLogger(ctx).Warn("send failed permanently", "node_id", n.ID, "error", appErr.Error())
		return res, nil
	}
	return res, err
}

// MessageID is the deterministic id of a send (DESIGN §9). Runs pass the
// first run id of their continue-as-new chain, so ids stay stable and
// unique across continue-as-new (visit counts carry over).
func MessageID(workflowID, runID, nodeID string, visit int) string {
	sum := sha256.Sum256([]byte(workflowID + "\n" + runID + "\n" + nodeID + "\n" + strconv.Itoa(visit)))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// releaseJitter waits a run's own part of ten seconds after a pause is
// released: released runs do not all send in the same second.
func releaseJitter(ctx workflow.Context) error {
	return workflow.Sleep(ctx, jitter(workflow.GetInfo(ctx).WorkflowExecution.ID, 10*time.Second))
}

func jitter(key string, max time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(max))
}

// pickVariant chooses a split arm: weighted, and sticky per journey and
// customer (the same customer always gets the same arm).
func pickVariant(journeyID, customerID string, n Node) Variant {
	h := fnv.New64a()
	_, _ = h.Write([]byte(journeyID + "/" + n.ID + "/" + customerID))
	total := 0
	for _, v := range n.Variants {
		total += v.Weight
	}
	if total <= 0 {
		return n.Variants[0]
	}
	pick := int(h.Sum64() % uint64(total))
	for _, v := range n.Variants {
		if pick < v.Weight {
			return v
		}
		pick -= v.Weight
	}
	return n.Variants[len(n.Variants)-1]
}
