package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// JourneyRouter hands applied events to journeys: it starts runs of the
// event-triggered journeys whose trigger matches (SignalWithStart, under the
// journey's entry policy) and signals the customer's running runs. Both are
// idempotent, so a redelivered event changes nothing: starts are keyed by
// workflow id and the entry log, and runs drop events whose id they saw.
type JourneyRouter struct {
	store    *schema.Store
	temporal client.Client
	log      *slog.Logger
	started  *prometheus.CounterVec
	signals  prometheus.Counter
	refused  prometheus.Counter
}

// NewJourneyRouter builds a router.
func NewJourneyRouter(store *schema.Store, tc client.Client, log *slog.Logger, reg prometheus.Registerer) *JourneyRouter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &JourneyRouter{store: store, temporal: tc, log: log,
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_journey_entries_total",
			Help: "Journey entry decisions, by outcome (started, already_running, policy_skipped, capped, no_key, redelivered, no_customer)."}, []string{"outcome"}),
		signals: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_run_signals_total", Help: "Events signalled to running runs."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_run_signals_refused_total",
			Help: "Signals Temporal refused for good (a run at history.maximumSignalsPerExecution); the run went on without them."}),
	}
	if reg != nil {
		reg.MustRegister(r.started, r.signals, r.refused)
	}
	return r
}

// signal sends a signal to a run. A signal Temporal refuses for good —
// InvalidArgument: the run has had as many signals as the server allows
// (history.maximumSignalsPerExecution, 10,000 by default), or the signal
// is too large — is logged, counted and dropped: retrying could not help,
// and the partition must not stop on it. The event stays stored.
func (r *JourneyRouter) signal(ctx context.Context, wfID, runID, name string, arg any) error {
	err := r.temporal.SignalWorkflow(ctx, wfID, runID, name, arg)
	var bad *serviceerror.InvalidArgument
	if errors.As(err, &bad) {
		r.log.Warn("Temporal refused a signal to a run; the run goes on without it", "workflow_id", wfID, "signal", name, "error", err)
		r.refused.Inc()
		return nil
	}
	if err == nil && name == workflows.SignalEvent {
		r.signals.Inc()
	}
	return err
}

// routeLanes is how many customers' events are routed at once.
const routeLanes = 16

// liveJourney is a live journey with its definition decoded.
type liveJourney struct {
	schema.LiveJourney
	def workflows.Journey
}

// batchView is what routing one batch reads once: the live journeys of
// each (workspace, event name), each workspace (time zone, quiet hours)
// and each customer's running runs (workflow ids).
type batchView struct {
	live       map[eventKey][]liveJourney
	workspaces map[string]schema.Workspace
	running    map[customerKey][]string
	// order, per workspace, places the batch's redelivered and retried
	// events against the triggers of their customers' running runs.
	order map[string]schema.EventOrder
}

// notAfter says whether the event is the trigger of the running run wfID
// or came before it in the customer's events (false when either is not
// known): a redelivered or retried event is not for a run that it or a
// later event started.
func (v batchView) notAfter(ws, messageID, wfID string) bool {
	o, ok := v.order[ws]
	if !ok {
		return false
	}
	ev, evOK := o.Events[messageID]
	trigger, trOK := o.Triggers[wfID]
	return evOK && trOK && ev <= trigger
}

// eventKey names an event name of a workspace.
type eventKey struct{ workspaceID, name string }

// customerKey names a customer of a workspace: one routing lane.
type customerKey struct{ workspaceID, customerID string }

// Route implements Router: segment memberships the batch may change are
// re-evaluated first (their entries and exits become the customers' next
// events), then each customer's events go to journeys in order, customers
// in parallel.
func (r *JourneyRouter) Route(ctx context.Context, batch []Applied) error {
	changes, err := r.updateMemberships(ctx, batch)
	if err != nil {
		return err
	}
	return r.routeWithChanges(ctx, batch, changes)
}

// RouteSegmentChanges tells journeys about recorded segment entries and
// exits (from the periodic refresh or manual membership changes).
func (r *JourneyRouter) RouteSegmentChanges(ctx context.Context, changes []schema.SegmentChange) error {
	return r.routeWithChanges(ctx, nil, changes)
}

func (r *JourneyRouter) routeWithChanges(ctx context.Context, batch []Applied, changes []schema.SegmentChange) error {
	ids := make([]int64, len(changes))
	for i, c := range changes {
		ids[i] = c.ID
	}
	untried, err := r.store.TrySegmentChanges(ctx, ids)
	if err != nil {
		return err
	}
	for _, c := range changes {
		batch = append(batch, segmentChangeEvent(c, !untried[c.ID]))
	}
	if err := r.route(ctx, batch); err != nil {
		return err
	}
	return r.store.MarkSegmentChangesRouted(ctx, ids)
}

// updateMemberships re-evaluates the segments the batch's new events and
// traits can change, per workspace, and returns the membership changes of
// its customers that journeys have not been told about.
func (r *JourneyRouter) updateMemberships(ctx context.Context, batch []Applied) ([]schema.SegmentChange, error) {
	touches := map[string]map[string]*schema.CustomerTouch{}
	var order []string
	for _, a := range batch {
		ws := a.Event.WorkspaceID
		if touches[ws] == nil {
			touches[ws] = map[string]*schema.CustomerTouch{}
			order = append(order, ws)
		}
		t := touches[ws][a.CustomerID]
		if t == nil {
			t = &schema.CustomerTouch{CustomerID: a.CustomerID}
			touches[ws][a.CustomerID] = t
		}
		// A duplicate is evaluated too: stored by a delivery that died
		// before this step (a crash, a rebalance past the grace), it was
		// never evaluated; evaluating again records no change twice.
		switch a.Event.Type {
		case "identify", "group", "alias":
			t.Traits = true
		default:
			if name := a.Event.DisplayName(); !slices.Contains(t.Events, name) {
				t.Events = append(t.Events, name)
			}
		}
		if a.MergedFrom != "" {
			t.Traits = true
		}
	}
	var out []schema.SegmentChange
	for _, ws := range order {
		list := make([]schema.CustomerTouch, 0, len(touches[ws]))
		for _, t := range touches[ws] {
			list = append(list, *t)
		}
		slices.SortFunc(list, func(a, b schema.CustomerTouch) int { return strings.Compare(a.CustomerID, b.CustomerID) })
		changes, err := r.store.UpdateMemberships(ctx, ws, list, time.Now())
		if err != nil {
			return nil, fmt.Errorf("update segment memberships: %w", err)
		}
		out = append(out, changes...)
	}
	return out, nil
}

// segmentChangeEvent is the customer event a membership change routes as.
// A change stays pending until it is routed whole, so a change tried before
// (an attempt that failed part-way may have entered some of its journeys
// already) is routed as Retried.
func segmentChangeEvent(c schema.SegmentChange, tried bool) Applied {
	props, _ := json.Marshal(map[string]string{"segment_id": c.SegmentID, "segment_name": c.SegmentName})
	at := c.At
	return Applied{CustomerID: c.CustomerID, Retried: tried, Event: Event{Type: "track", MessageID: c.MessageID(), Event: c.EventName(),
		Properties: props, Timestamp: &at, WorkspaceID: c.WorkspaceID}}
}

// route hands each customer's events to journeys in order, customers in parallel.
func (r *JourneyRouter) route(ctx context.Context, batch []Applied) error {
	view := batchView{live: map[eventKey][]liveJourney{}, workspaces: map[string]schema.Workspace{}, running: map[customerKey][]string{}}
	customers := map[string][]string{} // workspace → customers in the batch
	seen := map[customerKey]bool{}
	for _, a := range batch {
		ws := a.Event.WorkspaceID
		ek := eventKey{ws, a.Event.DisplayName()}
		if _, ok := view.live[ek]; !ok {
			live, err := r.liveJourneys(ctx, ws, ek.name)
			if err != nil {
				return err
			}
			view.live[ek] = live
		}
		if _, ok := view.workspaces[ws]; !ok {
			w, err := r.store.GetWorkspace(ctx, ws)
			if err != nil {
				return err
			}
			view.workspaces[ws] = w
		}
		if lane := (customerKey{ws, a.CustomerID}); !seen[lane] {
			seen[lane] = true
			customers[ws] = append(customers[ws], a.CustomerID)
		}
	}
	merged := map[customerKey]string{}
	for ws, ids := range customers {
		running, into, err := r.store.RunningWorkflowsOfCustomers(ctx, ws, ids)
		if err != nil {
			return err
		}
		for id, wfs := range running {
			view.running[customerKey{ws, id}] = wfs
		}
		for from, to := range into {
			merged[customerKey{ws, from}] = to
		}
	}
	if len(merged) > 0 {
		// An event applied to a profile that a merge (of another partition,
		// between this batch's apply and its routing) has since moved into
		// another customer is that customer's now, as its runs are.
		batch = slices.Clone(batch)
		for i, a := range batch {
			if to, ok := merged[customerKey{a.Event.WorkspaceID, a.CustomerID}]; ok {
				batch[i].CustomerID = to
			}
		}
	}
	var order []customerKey
	clear(seen)
	// triggers are the lanes with an event some live journey takes.
	triggers := map[customerKey]bool{}
	for _, a := range batch {
		lane := customerKey{a.Event.WorkspaceID, a.CustomerID}
		if !seen[lane] {
			seen[lane] = true
			order = append(order, lane)
		}
		if len(view.live[eventKey{a.Event.WorkspaceID, a.Event.DisplayName()}]) > 0 {
			triggers[lane] = true
		}
	}
	if err := r.readEventOrder(ctx, batch, &view); err != nil {
		return err
	}
	// A lane no journey takes events of and no run waits on starts
	// nothing: routeOne would do nothing for its events, so they are not
	// gathered (in most batches, most customers).
	lanes := map[customerKey][]Applied{}
	for _, a := range batch {
		lane := customerKey{a.Event.WorkspaceID, a.CustomerID}
		if triggers[lane] || len(view.running[lane]) > 0 {
			lanes[lane] = append(lanes[lane], a)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(routeLanes)
	for _, lane := range order {
		if _, ok := lanes[lane]; !ok {
			continue
		}
		g.Go(func() error {
			// The lane's own view of its customer's running runs: what the
			// batch read, plus the runs its events start.
			running := slices.Clone(view.running[lane])
			for _, a := range lanes[lane] {
				var err error
				if running, err = r.routeOne(gctx, view, running, a); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// readEventOrder reads, when the batch has events that may have been
// routed before (redelivered, or retried after a failed attempt), where
// they stand against the triggers of their customers' running runs: a run
// started by a later event of the customer — after the event was first
// routed — must not get it now (its exit_on or goal would act on an event
// older than the run).
func (r *JourneyRouter) readEventOrder(ctx context.Context, batch []Applied, view *batchView) error {
	msgs, wfs := map[string][]string{}, map[string][]string{}
	for _, a := range batch {
		ws := a.Event.WorkspaceID
		running := view.running[customerKey{ws, a.CustomerID}]
		if !(a.Duplicate || a.Retried) || len(running) == 0 {
			continue
		}
		msgs[ws] = append(msgs[ws], a.Event.MessageID)
		for _, wf := range running {
			if !slices.Contains(wfs[ws], wf) {
				wfs[ws] = append(wfs[ws], wf)
			}
		}
	}
	for ws := range msgs {
		o, err := r.store.EventOrderOf(ctx, ws, msgs[ws], wfs[ws])
		if err != nil {
			return err
		}
		if view.order == nil {
			view.order = map[string]schema.EventOrder{}
		}
		view.order[ws] = o
	}
	return nil
}

// doubleRuns picks, among a customer's running runs (oldest first) just
// after a merge, those that duplicate another run of the same journey and
// entry key: the survivor's own run stays (else the oldest), the others
// are to end.
func doubleRuns(running []string, survivor string) map[string]bool {
	type slot struct{ journey, key string }
	keep := map[slot]string{}
	var all []string
	for _, wfID := range running {
		j, cust, key, ok := workflows.ParseWorkflowID(wfID)
		if !ok {
			continue
		}
		all = append(all, wfID)
		s := slot{j, key}
		if kept, ok := keep[s]; !ok {
			keep[s] = wfID
		} else if _, keptCust, _, _ := workflows.ParseWorkflowID(kept); keptCust != survivor && cust == survivor {
			keep[s] = wfID
		}
	}
	out := map[string]bool{}
	for _, wfID := range all {
		j, _, key, _ := workflows.ParseWorkflowID(wfID)
		if keep[slot{j, key}] != wfID {
			out[wfID] = true
		}
	}
	return out
}

func (r *JourneyRouter) liveJourneys(ctx context.Context, ws, event string) ([]liveJourney, error) {
	live, err := r.store.LiveJourneysForEvent(ctx, ws, event)
	if err != nil {
		return nil, err
	}
	out := make([]liveJourney, len(live))
	for i, lj := range live {
		out[i].LiveJourney = lj
		if err := json.Unmarshal(lj.Definition, &out[i].def); err != nil {
			return nil, fmt.Errorf("decode journey %s v%d: %w", lj.ID, lj.Version, err)
		}
	}
	return out, nil
}

// routeOne enters the customer into the journeys the event triggers and
// signals the customer's other running runs; it returns those runs with
// any it started.
func (r *JourneyRouter) routeOne(ctx context.Context, view batchView, running []string, a Applied) ([]string, error) {
	live := view.live[eventKey{a.Event.WorkspaceID, a.Event.DisplayName()}]
	if len(live) == 0 && len(running) == 0 {
		return running, nil // no journey takes this event and no run waits for it
	}
	ev := workflows.Event{ID: a.Event.MessageID, Name: a.Event.DisplayName(), Time: a.Event.Timestamp.UTC()}
	if len(a.Event.Properties) > 0 {
		if err := json.Unmarshal(a.Event.Properties, &ev.Properties); err != nil {
			// Stored, but past what the decoder takes (nested deeper than
			// 10,000 levels, from a producer of the topic): no retry reads
			// it, so it reaches no journey rather than hold the partition.
			r.log.Warn("event properties cannot be decoded; event not routed", "workspace_id", a.Event.WorkspaceID,
				"message_id", a.Event.MessageID, "error", err)
			return running, nil
		}
	}
	if a.Event.Type == "identify" && len(a.Event.Traits) > 0 {
		_ = json.Unmarshal(a.Event.Traits, &ev.Properties)
	}
	ws := a.Event.WorkspaceID
	touched := map[string]bool{}
	for _, lj := range live {
		var notAfter func(string) bool
		if a.Duplicate || a.Retried {
			notAfter = func(wfID string) bool { return view.notAfter(ws, a.Event.MessageID, wfID) }
		}
		wfID, _, err := r.enter(ctx, view.workspaces[ws], lj, a.CustomerID, ev, notAfter)
		if err != nil {
			return running, err
		}
		if wfID != "" {
			touched[wfID] = true
		}
	}
	var doubles map[string]bool
	if a.MergedFrom != "" {
		doubles = doubleRuns(running, a.CustomerID)
	}
	for _, wfID := range running {
		if a.MergedFrom != "" {
			// Runs of the merged anonymous profile now belong to this customer.
			if err := r.tellMerge(ctx, wfID, a.CustomerID, doubles[wfID]); err != nil {
				return running, err
			}
			if doubles[wfID] {
				continue
			}
		}
		if touched[wfID] || ((a.Duplicate || a.Retried) && view.notAfter(ws, a.Event.MessageID, wfID)) {
			continue
		}
		// The current run of the id: the entry may have continued as new.
		err := r.signal(ctx, wfID, "", workflows.SignalEvent, ev)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue // the run ended after the projection was read
		}
		if err != nil {
			return running, fmt.Errorf("signal run %s: %w", wfID, err)
		}
	}
	for wfID := range touched {
		if !slices.Contains(running, wfID) {
			running = append(running, wfID)
		}
	}
	return running, nil
}

// ErrNotEntered explains why a customer did not enter a journey.
var ErrNotEntered = errors.New("not entered")

// Enter starts (or signals) the customer's run of a live journey for event
// ev, under the journey's trigger filter and entry policy. It returns the
// workflow id the event went to, or "" when the customer did not enter.
// It returns the workflow id the event went to ("" when the customer did
// not enter) and the outcome: EntryStarted (a new run), EntryAlreadyRunning
// (the customer's run in progress got the event), EntryPolicySkipped,
// EntryNoKey or EntryCapped.
func (r *JourneyRouter) Enter(ctx context.Context, workspaceID string, lj schema.LiveJourney, customerID string, ev workflows.Event) (string, string, error) {
	l := liveJourney{LiveJourney: lj}
	if err := json.Unmarshal(lj.Definition, &l.def); err != nil {
		return "", "", fmt.Errorf("decode journey %s v%d: %w", lj.ID, lj.Version, err)
	}
	ws, err := r.store.GetWorkspace(ctx, workspaceID)
	if err != nil {
		return "", "", err
	}
	return r.enter(ctx, ws, l, customerID, ev, nil)
}

// Entry outcomes (the outcome label of herald_journey_entries_total, plus
// "filtered" for an event the trigger's filter turned away).
const (
	EntryStarted        = "started"
	EntryAlreadyRunning = "already_running"
	EntryPolicySkipped  = "policy_skipped"
	EntryCapped         = "capped"
	EntryFiltered       = "filtered"
	// EntryRedelivered is an event delivered again that already started
	// its run of the journey: it starts no other.
	EntryRedelivered = "redelivered"
	// EntryNoCustomer is an event of a customer erased (or merged away
	// and erased) after the event was applied: it starts no run.
	EntryNoCustomer = "no_customer"
	// EntryNoKey is an event without the journey's entry key (entry.key):
	// a keyed journey has no run to put it in.
	EntryNoKey = "no_key"
)

// EntryKey is the value of the journey's entry key (entry.key, e.g.
// properties.order_id) in an event's properties: "" when the journey is
// not keyed, or when the event has no such property or an empty one.
func EntryKey(def workflows.Journey, props map[string]any) string {
	if def.Entry.Key == "" {
		return ""
	}
	return propertyString(props, strings.TrimPrefix(def.Entry.Key, "properties."))
}

// enter decides and carries out one entry; it returns the workflow id the
// event went to ("" when the customer did not enter) and the outcome.
// notAfter is nil for an event routed the first time; for one that may have
// been routed before (stored before — a producer's retry, a batch delivered
// again after a crash or a rebalance — or retried after a failed attempt)
// it says whether the event is the trigger of the customer's running run
// wfID or came before it. Such an event starts a run only if no run was
// started with it yet.
func (r *JourneyRouter) enter(ctx context.Context, ws schema.Workspace, lj liveJourney, customerID string, ev workflows.Event, notAfter func(wfID string) bool) (string, string, error) {
	wfID, outcome, err := r.decideEntry(ctx, ws, lj, customerID, ev, notAfter)
	if err == nil && outcome != EntryFiltered {
		r.started.WithLabelValues(outcome).Inc()
	}
	return wfID, outcome, err
}

func (r *JourneyRouter) decideEntry(ctx context.Context, ws schema.Workspace, lj liveJourney, customerID string, ev workflows.Event, notAfter func(wfID string) bool) (string, string, error) {
	def, workspaceID := lj.def, ws.ID
	if def.Trigger.Type == "segment" && (ev.Name != schema.EventSegmentEntered || ev.Properties["segment_id"] != def.Trigger.SegmentID) {
		return "", EntryFiltered, nil
	}
	if def.Trigger.Type == "event" && len(def.Trigger.Where) > 0 {
		ok, err := workflows.EvalCondition(def.Trigger.Where, workflows.EvalContext{Props: ev.Properties, Now: ev.Time})
		if err != nil || !ok {
			return "", EntryFiltered, nil
		}
	}
	key := EntryKey(def, ev.Properties)
	if def.Entry.Key != "" && key == "" {
		r.log.Info("event lacks the journey's entry key; not entered", "journey_id", lj.ID, "customer_id", customerID,
			"event", ev.Name, "key", def.Entry.Key)
		return "", EntryNoKey, nil
	}
	wfID := workflows.WorkflowID(lj.ID, customerID, key)
	h, err := r.store.JourneyEntries(ctx, workspaceID, lj.ID, customerID, key)
	if err != nil {
		return "", "", err
	}
	if h.Running > 0 && h.RunningWorkflowID != "" {
		// The run in progress may have another id: a merged profile's run
		// is the survivor's now, under the id it started with.
		wfID = h.RunningWorkflowID
	}
	if h.Running > 0 && notAfter != nil && notAfter(wfID) {
		// This event or a later one started the run in progress: it was
		// handled when it came first (it started this run or one since
		// ended, or went to one as a signal).
		return wfID, EntryRedelivered, nil
	}
	if h.Running > 0 {
		// The run in progress gets the event as a signal.
		err := r.signal(ctx, wfID, "", workflows.SignalEvent, ev)
		var nf *serviceerror.NotFound
		switch {
		case err == nil:
			return wfID, EntryAlreadyRunning, nil
		case !errors.As(err, &nf):
			return "", "", fmt.Errorf("signal run %s: %w", wfID, err)
		}
		// The run ended after the projection was read (its end not yet
		// recorded there): the event is an entry like any other, and a
		// new run takes the customer's own id.
		wfID = workflows.WorkflowID(lj.ID, customerID, key)
	}
	if notAfter != nil {
		started, unrecorded, err := r.startedBy(ctx, workspaceID, lj.ID, wfID, ev.ID)
		if err != nil {
			return "", "", err
		}
		if unrecorded != nil {
			// The run started just before a crash, before its row was
			// written (h.Running was 0): record it now, or no later event
			// of the customer would reach it.
			if err := r.recordStarted(ctx, workspaceID, customerID, key, wfID, unrecorded); err != nil {
				return "", "", err
			}
		}
		if started {
			// It is the customer's running run for the rest of this batch
			// either way (signals to a run that has ended are dropped).
			return wfID, EntryRedelivered, nil
		}
	}
	switch def.Entry.Policy {
	case "once", "":
		if h.Runs > 0 {
			return "", EntryPolicySkipped, nil
		}
	case "once_per":
		period, _ := workflows.ParseDuration(def.Entry.Period)
		if h.LastStarted != nil && ev.Time.Before(h.LastStarted.Add(period)) {
			return "", EntryPolicySkipped, nil
		}
	}
	if def.Entry.MaxConcurrent > 0 {
		// Count and start under the journey's entry lock: concurrent
		// entries take turns, so the cap holds.
		outcome := ""
		err := r.store.WithJourneyEntryLock(ctx, workspaceID, lj.ID, func(running int) error {
			if running >= def.Entry.MaxConcurrent {
				r.log.Info("journey at max_concurrent; not entered", "journey_id", lj.ID, "customer_id", customerID)
				outcome = EntryCapped
				return nil
			}
			var err error
			_, outcome, err = r.start(ctx, ws, lj, customerID, key, wfID, ev)
			return err
		})
		if err != nil || (outcome != EntryStarted && outcome != EntryAlreadyRunning) {
			return "", outcome, err
		}
		return wfID, outcome, nil
	}
	return r.start(ctx, ws, lj, customerID, key, wfID, ev)
}

// startedBy says whether a run of the journey was started with event
// eventID: the run projection's trigger event id, which the router records
// as soon as a run starts, or — for the short time before the router or the
// run has recorded it — the input of the id's latest run in Temporal, whose
// start it then returns as unrecorded.
func (r *JourneyRouter) startedBy(ctx context.Context, workspaceID, journeyID, wfID, eventID string) (started bool, unrecorded *unrecordedRun, err error) {
	seen, err := r.store.RunsStartedBy(ctx, workspaceID, journeyID, []string{eventID})
	if err != nil || seen[eventID] {
		return seen[eventID], nil, err
	}
	run, err := r.runStart(ctx, wfID)
	if err != nil || run == nil || run.trigger.ID != eventID {
		return false, nil, err
	}
	return true, run, nil
}

// unrecordedRun is the start of a run, as Temporal has it, that the run
// projection may not have yet.
type unrecordedRun struct {
	firstRunID string // the run's rows are under its first run id (a run that continued as new keeps it)
	journeyID  string
	version    int
	startedAt  time.Time
	trigger    workflows.Event
}

// runStart reads the start of the run of id wfID Temporal has now: nil
// when there is none, when it is not a journey run Herald started, or when
// it has continued as new (its start was reported long since, and the
// input of its current run no longer carries the trigger).
func (r *JourneyRouter) runStart(ctx context.Context, wfID string) (*unrecordedRun, error) {
	iter := r.temporal.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !iter.HasNext() {
		return nil, nil
	}
	first, err := iter.Next()
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the start of run %s: %w", wfID, err)
	}
	var in workflows.JourneyInput
	attrs := first.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil || converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &in) != nil || in.Trigger == nil {
		return nil, nil
	}
	return &unrecordedRun{firstRunID: attrs.GetFirstExecutionRunId(), journeyID: in.JourneyID, version: in.Version,
		startedAt: first.GetEventTime().AsTime().UTC(), trigger: *in.Trigger}, nil
}

// recordStarted writes the run projection's row of a run, from its own
// start, as start does after starting it (idempotent), when Temporal still
// runs it.
func (r *JourneyRouter) recordStarted(ctx context.Context, workspaceID, customerID, key, wfID string, run *unrecordedRun) error {
	d, err := r.temporal.DescribeWorkflowExecution(ctx, wfID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe run %s: %w", wfID, err)
	}
	if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return nil // it ended: it recorded its end, and takes no more events
	}
	return r.recordRun(ctx, workspaceID, customerID, key, wfID, run)
}

// recordRun writes the row of a run known to be going, from its own start.
func (r *JourneyRouter) recordRun(ctx context.Context, workspaceID, customerID, key, wfID string, run *unrecordedRun) error {
	return r.recordRunStart(ctx, workspaceID, schema.Run{WorkflowID: wfID, RunID: run.firstRunID,
		JourneyID: run.journeyID, Version: run.version, CustomerID: customerID, EntryKey: key, TriggerEvent: run.trigger.Name,
		TriggerEventID: run.trigger.ID, StartedAt: run.startedAt})
}

// recordRunStart writes the row of a run this router started or found
// going, then reads the customer's running runs and ends the doubles among
// them. The customer may have been merged away since the run started (an
// identify of another partition): the row is then the survivor's, and the
// merge's routing may have read the survivor's runs before the row was
// there, so the run is told here (twice is harmless). And the survivor's
// own router may be starting the survivor's run of the same journey at the
// same moment, having decided the entry before this row existed: both
// write, then read, so at least one of them sees both runs, and doubleRuns
// picks the same one to keep on either side (the survivor's own run).
func (r *JourneyRouter) recordRunStart(ctx context.Context, workspaceID string, run schema.Run) error {
	under, err := r.store.RecordRunStart(ctx, workspaceID, run)
	if err != nil {
		return err
	}
	running, _, err := r.store.RunningWorkflowsOfCustomers(ctx, workspaceID, []string{under})
	if err != nil {
		return err
	}
	doubles := doubleRuns(running[under], under)
	if under != run.CustomerID {
		r.log.Info("customer merged while its run started; the run follows", "workflow_id", run.WorkflowID,
			"customer_id", run.CustomerID, "merged_into", under)
		if err := r.tellMerge(ctx, run.WorkflowID, under, doubles[run.WorkflowID]); err != nil {
			return err
		}
	}
	for wfID := range doubles {
		if wfID == run.WorkflowID {
			continue
		}
		if err := r.tellMerge(ctx, wfID, under, true); err != nil {
			return err
		}
	}
	return nil
}

// tellMerge tells a run that its customer is now survivor and, when double,
// ends it: a customer is in a journey once at a time (per entry key), so
// the merged profile's run of a journey the survivor is in already ends
// rather than send the same messages again.
func (r *JourneyRouter) tellMerge(ctx context.Context, wfID, survivor string, double bool) error {
	err := r.signal(ctx, wfID, "", workflows.SignalMerge, survivor)
	var nf *serviceerror.NotFound
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("tell run %s of the merge: %w", wfID, err)
	}
	if !double {
		return nil
	}
	err = r.signal(ctx, wfID, "", workflows.SignalExit, schema.MergedDoubleReason(survivor))
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("end run %s after the merge: %w", wfID, err)
	}
	return nil
}

// start starts the customer's run (or hands the event to the run of the id
// already in progress) and records it in the run projection.
func (r *JourneyRouter) start(ctx context.Context, ws schema.Workspace, lj liveJourney, customerID, key, wfID string, ev workflows.Event) (string, string, error) {
	def, workspaceID := lj.def, ws.ID
	switch cur, err := r.store.CurrentCustomerID(ctx, workspaceID, customerID); {
	case err != nil:
		return "", "", err
	case cur == "":
		r.log.Info("customer no longer exists; not entered", "journey_id", lj.ID, "customer_id", customerID)
		return "", EntryNoCustomer, nil
	case cur != customerID:
		// Merged since the batch read its merges: routed again, the event
		// follows the merge.
		return "", "", fmt.Errorf("customer %s was merged into %s while its event was routed; routing again", customerID, cur)
	}
	trigger := ev
	var quiet *workflows.QuietHours
	if q := ws.QuietHours; q != nil {
		quiet = &workflows.QuietHours{Start: q.Start, End: q.End}
	}
	in := workflows.JourneyInput{WorkspaceID: workspaceID, WorkspaceTimezone: ws.Timezone, WorkspaceQuietHours: quiet, JourneyID: lj.ID, Version: lj.Version,
		CustomerID: customerID, EntryKey: key, Journey: def, Trigger: &trigger, Paused: lj.Status == schema.JourneyPaused,
		Interpreter: workflows.InterpreterVersion}
	opts := client.StartWorkflowOptions{
		ID:                                       wfID,
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAWorkspaceID.ValueSet(workspaceID),
			workflows.SAJourneyID.ValueSet(lj.ID),
			workflows.SAJourneyVersion.ValueSet(fmt.Sprint(lj.Version)),
			workflows.SACustomerID.ValueSet(customerID),
			workflows.SANode.ValueSet(def.Start),
		),
	}
	// Start the run with the trigger in its input (no signal needed). When
	// a run of the id is already in progress (a concurrent entry), it takes
	// the event as a signal instead; if that run was just closing, wait for
	// it to close and start again.
	var runID string
	for attempt := 0; ; attempt++ {
		run, err := r.temporal.ExecuteWorkflow(ctx, opts, workflows.JourneyWorkflow, in)
		if err == nil {
			runID = run.GetRunID()
			break
		}
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &already) {
			return "", "", fmt.Errorf("start run %s: %w", wfID, err)
		}
		err = r.signal(ctx, wfID, already.RunId, workflows.SignalEvent, ev)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return "", "", fmt.Errorf("signal run %s: %w", wfID, err)
		}
		if err == nil {
			// A run records its end just before it closes: a signal to such
			// a run is lost, so only a run still going counts. Its row is
			// under the first run id of its continue-as-new chain.
			first := already.RunId
			if d, err := r.temporal.DescribeWorkflowExecution(ctx, wfID, already.RunId); err == nil && d.GetWorkflowExecutionInfo().GetFirstRunId() != "" {
				first = d.GetWorkflowExecutionInfo().GetFirstRunId()
			}
			ended, err := r.store.RunEnded(ctx, workspaceID, wfID, first)
			if err != nil {
				return "", "", err
			}
			if !ended {
				// A concurrent entry's run (or one whose row is not written
				// yet) took the event. Its row is written from its own
				// start, not this event's (the run also reports it); the
				// signal it took says it is going.
				run, err := r.runStart(ctx, wfID)
				if err == nil && run != nil {
					err = r.recordRun(ctx, workspaceID, customerID, key, wfID, run)
				}
				if err != nil {
					return "", "", err
				}
				return wfID, EntryAlreadyRunning, nil
			}
		}
		if attempt == 5 {
			return "", "", fmt.Errorf("start run %s: the previous run %s has not closed", wfID, already.RunId)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = r.temporal.GetWorkflow(wctx, wfID, already.RunId).Get(wctx, nil)
		cancel()
	}
	if err := r.recordRunStart(ctx, workspaceID, schema.Run{WorkflowID: wfID, RunID: runID, JourneyID: lj.ID,
		Version: lj.Version, CustomerID: customerID, EntryKey: key, TriggerEvent: ev.Name, TriggerEventID: ev.ID, StartedAt: time.Now().UTC()}); err != nil {
		return "", "", err
	}
	return wfID, EntryStarted, nil
}

func propertyString(props map[string]any, path string) string {
	var v any = props
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[part]
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
