package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/workflows"
)

// `herald bench journeys` measures a running Herald (usually `herald dev` in
// another terminal): N customers go through a journey send → delay 1s →
// send → exit, driven by Segment events over HTTP, and the same number of
// bare Temporal workflows of the same shape run on the same server, so the
// table shows what Herald adds over Temporal itself. Benchmarks report;
// they never fail on a threshold.

// benchDelay is the delay node of the bench journey and the timer of the
// bare workflow.
const benchDelay = time.Second

// benchHistorySamples is how many runs of each path have their Temporal
// history fetched (event counts and the phase breakdown).
const benchHistorySamples = 5

// benchThroughputGoal is the throughput ratio Herald aims for (DESIGN: the
// interpreter should cost little over a bare workflow). Reported, not enforced.
const benchThroughputGoal = 0.8

// benchOptions are the flags of `herald bench journeys`.
type benchOptions struct {
	Customers         int
	Concurrency       int
	Credentials       string
	TemporalAddress   string
	TemporalNamespace string
	MetricsAddr       string
	Timeout           time.Duration
}

// runBench is `herald bench <benchmark> [flags]`. Unlike the roles it takes
// no Config: it only talks to a Herald that is already running.
func runBench(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		w, code := stdout, 0
		if len(args) == 0 {
			w, code = stderr, 2
		}
		benchUsage(w)
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Each benchmark parses its flags (usage errors exit 2), then runs.
	var exec func() (interface{ print(io.Writer) }, error)
	var err error
	switch args[0] {
	case "journeys":
		var o benchOptions
		o, err = parseBenchFlags(args[1:], getenv, stderr)
		exec = func() (interface{ print(io.Writer) }, error) { return benchJourneys(ctx, o, stderr) }
	case "ingest":
		var o benchIngestOptions
		o, err = parseBenchIngestFlags(args[1:], getenv, stderr)
		exec = func() (interface{ print(io.Writer) }, error) { return benchIngestRuns(ctx, o, stderr) }
	case "send":
		var o benchSendOptions
		o, err = parseBenchSendFlags(args[1:], getenv, stderr)
		exec = func() (interface{ print(io.Writer) }, error) { return benchSend(ctx, o, stderr) }
	case "segments":
		var o benchSegmentsOptions
		o, err = parseBenchSegmentsFlags(args[1:], getenv, stderr)
		exec = func() (interface{ print(io.Writer) }, error) { return benchSegments(ctx, o, stderr) }
	default:
		fmt.Fprintf(stderr, "herald bench: unknown benchmark %q\n\n", args[0])
		benchUsage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "herald bench %s: %v\n", args[0], err)
		return 2
	}
	res, err := exec()
	if err != nil {
		fmt.Fprintf(stderr, "herald bench %s: %v\n", args[0], err)
		return 1
	}
	res.print(stdout)
	return 0
}

func benchUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: herald bench journeys|ingest|send|segments [flags]   (herald bench <benchmark> -h lists the flags)")
	fmt.Fprintln(w, "\nBenchmarks (against a running Herald, e.g. `herald dev` in another terminal):")
	fmt.Fprintln(w, "  journeys  journey throughput and latency, beside a bare Temporal workflow of the same shape")
	fmt.Fprintln(w, "  ingest    events/s through /v1/batch → Kafka → ingest, beside plain sarama consume + Postgres insert")
	fmt.Fprintln(w, "  send      webhook sends/s out of journeys beside the raw HTTP calls; release accuracy of deferred sends")
	fmt.Fprintln(w, "  segments  preview counts over seeded customers and events; enrollment rate beside a bare SignalWithStart loop")
}

// parseBenchFlags reads the flags of `herald bench journeys`; defaults come
// from the same HERALD_* variables `herald dev` reads.
func parseBenchFlags(args []string, getenv func(string) string, stderr io.Writer) (benchOptions, error) {
	var o benchOptions
	fs := flag.NewFlagSet("herald bench journeys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Customers, "customers", 200, "customers to send through the journey (and bare workflows to run)")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "requests (events, workflow starts) in flight at once")
	fs.StringVar(&o.Credentials, "credentials", defaultCredentials(getenv),
		"dev-credentials.json written by herald dev (api_url, write_key, secret_key) [$HERALD_DATA_DIR/dev-credentials.json]")
	fs.StringVar(&o.TemporalAddress, "temporal-address", orEnv(getenv, "TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		"Temporal frontend host:port Herald uses [$HERALD_TEMPORAL_ADDRESS]")
	fs.StringVar(&o.TemporalNamespace, "temporal-namespace", orEnv(getenv, "TEMPORAL_NAMESPACE", "default"),
		"Temporal namespace Herald uses [$HERALD_TEMPORAL_NAMESPACE]")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", orEnv(getenv, "METRICS_ADDR", "127.0.0.1:9464"),
		"Herald's /metrics address, to see when ingest has applied the events; empty skips it [$HERALD_METRICS_ADDR]")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long each path may take to complete all its runs")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.Customers < 1 || o.Customers > 9_999_999:
		return o, fmt.Errorf("--customers must be from 1 to 9999999")
	case o.Concurrency < 1:
		return o, fmt.Errorf("--concurrency must be at least 1")
	case o.Timeout <= 0:
		return o, fmt.Errorf("--timeout must be positive")
	}
	return o, nil
}

// benchResult is everything `herald bench journeys` measured.
type benchResult struct {
	opts    benchOptions
	machine machineInfo
	herald  pathResult
	bare    pathResult
	// Herald only.
	postAck        []time.Duration // POST /v1/track until 200
	toRunRecorded  []time.Duration // POST start until the run is in the projection (runs.started_at)
	identifyIngest time.Duration   // identifies: first POST until ingest applied all of them (0: not measured)
	trackIngest    time.Duration   // tracks: first POST until ingest applied and routed all of them (0: not measured)
	failedSends    int
}

// pathResult is what one path (Herald or bare Temporal) measured.
type pathResult struct {
	n          int
	firstStart time.Time
	lastClose  time.Time
	latencies  []time.Duration // trigger → first step (first send / first activity)
	histories  []historySummary
}

func (p pathResult) wall() time.Duration { return p.lastClose.Sub(p.firstStart) }

func (p pathResult) throughput() float64 {
	if p.wall() <= 0 {
		return 0
	}
	return float64(p.n) / p.wall().Seconds()
}

// benchJourneys runs both paths and returns the measurements.
// Progress goes to logw as log lines; the Temporal SDK logs only warnings.
func benchJourneys(ctx context.Context, o benchOptions, logw io.Writer) (*benchResult, error) {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	creds, err := readBenchCredentials(o.Credentials)
	if err != nil {
		return nil, err
	}
	h := &heraldAPI{base: strings.TrimRight(creds.APIURL, "/"), secret: creds.SecretKey, write: creds.WriteKey,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 4 * o.Concurrency, MaxIdleConnsPerHost: 4 * o.Concurrency, IdleConnTimeout: 90 * time.Second}}}
	if err := h.ready(ctx); err != nil {
		return nil, err
	}
	tc, err := dialBenchTemporal(ctx, o.TemporalAddress, o.TemporalNamespace, logw)
	if err != nil {
		return nil, err
	}
	defer tc.Close()

	res := &benchResult{opts: o, machine: readMachineInfo()}
	tag := benchTag()
	log.Info("herald bench journeys", "customers", o.Customers, "concurrency", o.Concurrency, "api", h.base,
		"temporal", o.TemporalAddress, "tag", tag)

	// The bare worker starts now so its pollers are waiting by its turn.
	rec := &bareRecorder{prefix: "bench/" + tag + "/", first: map[string]time.Time{}, done: map[string]bool{}}
	w := worker.New(tc, workflows.BenchTaskQueue, worker.Options{})
	w.RegisterWorkflow(workflows.BenchBareWorkflow)
	w.RegisterActivityWithOptions(rec.step, activity.RegisterOptions{Name: workflows.BenchStepActivity})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start the bench worker on task queue %s: %w", workflows.BenchTaskQueue, err)
	}
	defer w.Stop()

	if err := benchHerald(ctx, o, h, tc, tag, res, log); err != nil {
		return nil, fmt.Errorf("herald path: %w", err)
	}
	if err := benchBare(ctx, o, tc, rec, res, log); err != nil {
		return nil, fmt.Errorf("bare temporal path: %w", err)
	}
	return res, nil
}

// benchCustomer is one customer of the Herald path.
type benchCustomer struct {
	userID   string
	phone    string
	postedAt time.Time
}

// benchHerald drives the journey through Herald's public APIs.
func benchHerald(ctx context.Context, o benchOptions, h *heraldAPI, tc client.Client, tag string, res *benchResult, log *slog.Logger) error {
	var tpl, journey struct {
		ID string `json:"id"`
	}
	if err := h.call(ctx, "POST", "/api/templates", h.secret, map[string]any{
		"name": "Bench " + tag, "channel": "sms", "body": "bench {{ customer.external_id }}",
	}, &tpl); err != nil {
		return err
	}
	event := "Bench " + tag
	def := map[string]any{
		"name":    "Bench " + tag,
		"trigger": map[string]any{"type": "event", "event": event},
		"entry":   map[string]any{"policy": "once"},
		"start":   "one",
		"nodes": []map[string]any{
			{"id": "one", "type": "send", "channel": "sms", "template_id": tpl.ID, "next": "wait"},
			{"id": "wait", "type": "delay", "duration": benchDelay.String(), "next": "two"},
			{"id": "two", "type": "send", "channel": "sms", "template_id": tpl.ID, "next": "done"},
			{"id": "done", "type": "exit"},
		},
	}
	if err := h.call(ctx, "POST", "/api/journeys", h.secret, def, &journey); err != nil {
		return err
	}
	jpath := "/api/journeys/" + url.PathEscape(journey.ID)
	if err := h.call(ctx, "POST", jpath+"/publish", h.secret, nil, nil); err != nil {
		return err
	}
	// Stopped at the end whatever happens: it takes no entrants after the bench.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := h.call(sctx, "POST", jpath+"/stop", h.secret, nil, nil); err != nil {
			log.Warn("stop the bench journey", "journey_id", journey.ID, "error", err)
		}
	}()
	log.Info("journey published", "journey_id", journey.ID, "event", event)

	customers := make([]benchCustomer, o.Customers)
	byPhone := make(map[string]int, o.Customers)
	for i := range customers {
		customers[i] = benchCustomer{userID: fmt.Sprintf("bench-%s-%d", tag, i), phone: fmt.Sprintf("+1555%07d", i)}
		byPhone[customers[i].phone] = i
	}
	metrics := &ingestCounter{addr: o.MetricsAddr, http: &http.Client{Timeout: 10 * time.Second}}
	base, merr := metrics.read(ctx)
	if merr != nil {
		log.Warn("cannot read Herald's ingest metrics; not waiting for identifies to be applied before the events (latency may include their backlog)",
			"metrics_addr", o.MetricsAddr, "error", merr)
	}

	// 1. Customers, with a phone to send to.
	start := time.Now()
	err := forEach(ctx, o.Customers, o.Concurrency, func(ctx context.Context, i int) error {
		return h.call(ctx, "POST", "/v1/identify", h.write, map[string]any{
			"userId": customers[i].userID, "messageId": fmt.Sprintf("bench-%s-identify-%d", tag, i),
			"traits": map[string]any{"phone": customers[i].phone, "bench": tag},
		}, nil)
	})
	if err != nil {
		return fmt.Errorf("identify customers: %w", err)
	}
	if merr == nil {
		at, err := metrics.waitFor(ctx, base+float64(o.Customers), start.Add(o.Timeout))
		if err != nil {
			return fmt.Errorf("wait for ingest to apply %d identify events: %w", o.Customers, err)
		}
		res.identifyIngest = at.Sub(start)
		base += float64(o.Customers)
		log.Info("customers identified and applied", "customers", o.Customers, "took", res.identifyIngest.Round(time.Millisecond))
	}

	// 2. One trigger event per customer; each POST's start is its trigger time.
	res.postAck = make([]time.Duration, o.Customers)
	err = forEach(ctx, o.Customers, o.Concurrency, func(ctx context.Context, i int) error {
		t0 := time.Now()
		customers[i].postedAt = t0
		err := h.call(ctx, "POST", "/v1/track", h.write, map[string]any{
			"userId": customers[i].userID, "event": event, "messageId": fmt.Sprintf("bench-%s-track-%d", tag, i),
			"properties": map[string]any{"i": i},
		}, nil)
		res.postAck[i] = time.Since(t0)
		return err
	})
	if err != nil {
		return fmt.Errorf("send events: %w", err)
	}
	first := customers[0].postedAt
	for _, c := range customers {
		if c.postedAt.Before(first) {
			first = c.postedAt
		}
	}
	log.Info("events sent; waiting for the runs to complete", "events", o.Customers, "took", time.Since(first).Round(time.Millisecond))

	// 3. Until every run completed (journey stats: runs by status).
	deadline := first.Add(o.Timeout)
	lastLog := time.Now()
	for {
		var st struct {
			Runs map[string]int `json:"runs"`
		}
		if err := h.call(ctx, "GET", jpath+"/stats", h.secret, nil, &st); err != nil {
			return err
		}
		if merr == nil && res.trackIngest == 0 {
			if n, err := metrics.read(ctx); err == nil && n >= base+float64(o.Customers) {
				res.trackIngest = time.Since(first)
			}
		}
		if n := st.Runs["failed"] + st.Runs["canceled"] + st.Runs["exited"]; n > 0 {
			return fmt.Errorf("%d runs of journey %s did not complete (runs by status: %v)", n, journey.ID, st.Runs)
		}
		if st.Runs["completed"] >= o.Customers {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not all runs completed within --timeout %s: runs by status %v of %d", o.Timeout, st.Runs, o.Customers)
		}
		if time.Since(lastLog) > 5*time.Second {
			log.Info("waiting for runs", "completed", st.Runs["completed"], "running", st.Runs["running"], "customers", o.Customers)
			lastLog = time.Now()
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	log.Info("all runs completed", "took", time.Since(first).Round(time.Millisecond))

	// 4. Measurements: the projection, the deliveries, Temporal.
	runs, err := listAll[benchRun](ctx, h, jpath+"/runs?status=completed", func(r benchRun) string { return r.WorkflowID },
		func(r benchRun) time.Time { return r.StartedAt })
	if err != nil {
		return err
	}
	deliveries, err := listAll[benchDelivery](ctx, h, "/api/deliveries?journey_id="+url.QueryEscape(journey.ID),
		func(d benchDelivery) string { return d.ID }, func(d benchDelivery) time.Time { return d.CreatedAt })
	if err != nil {
		return err
	}
	byWorkflow := map[string]int{}
	res.herald.latencies = make([]time.Duration, 0, o.Customers)
	for _, d := range deliveries {
		i, ok := byPhone[d.Recipient]
		if !ok {
			continue
		}
		if d.Status == "failed" {
			res.failedSends++
		}
		if d.NodeID == "one" {
			byWorkflow[d.WorkflowID] = i
			res.herald.latencies = append(res.herald.latencies, d.CreatedAt.Sub(customers[i].postedAt))
		}
	}
	if len(res.herald.latencies) != o.Customers {
		return fmt.Errorf("found %d first sends for %d customers", len(res.herald.latencies), o.Customers)
	}
	type ref struct{ id, runID string }
	refs := make([]ref, 0, len(runs))
	for _, r := range runs {
		i, ok := byWorkflow[r.WorkflowID]
		if !ok {
			continue
		}
		refs = append(refs, ref{r.WorkflowID, r.RunID})
		res.toRunRecorded = append(res.toRunRecorded, r.StartedAt.Sub(customers[i].postedAt))
	}
	if len(refs) != o.Customers {
		return fmt.Errorf("found %d completed runs with a first send for %d customers", len(refs), o.Customers)
	}
	closes, err := closeTimes(ctx, tc, o.Concurrency, len(refs), func(k int) (string, string) { return refs[k].id, refs[k].runID })
	if err != nil {
		return err
	}
	res.herald.n, res.herald.firstStart, res.herald.lastClose = o.Customers, first, slices.MaxFunc(closes, time.Time.Compare)
	for _, k := range sampleIndexes(len(refs), benchHistorySamples) {
		hs, err := summarizeHistory(ctx, tc, refs[k].id, refs[k].runID, "Send", customers[byWorkflow[refs[k].id]].postedAt)
		if err != nil {
			return err
		}
		res.herald.histories = append(res.herald.histories, hs)
	}
	return nil
}

// bareRecorder is the bare workflow's activity: it notes when each run's
// first step ran and counts finished runs, and does nothing else.
type bareRecorder struct {
	prefix string
	mu     sync.Mutex
	first  map[string]time.Time
	done   map[string]bool
}

func (r *bareRecorder) step(_ context.Context, in workflows.BenchStepInput) error {
	now := time.Now()
	if !strings.HasPrefix(in.WorkflowID, r.prefix) {
		return nil // a leftover of an interrupted earlier bench
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch in.Step {
	case "one":
		if _, ok := r.first[in.WorkflowID]; !ok {
			r.first[in.WorkflowID] = now
		}
	case "two":
		r.done[in.WorkflowID] = true
	}
	return nil
}

func (r *bareRecorder) counts() (first, done int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.first), len(r.done)
}

// benchBare runs N bare workflows on the bench's own worker.
func benchBare(ctx context.Context, o benchOptions, tc client.Client, rec *bareRecorder, res *benchResult, log *slog.Logger) error {
	ids := make([]string, o.Customers)
	started := make([]time.Time, o.Customers)
	for i := range ids {
		ids[i] = fmt.Sprintf("%sbare/%d", rec.prefix, i)
	}
	log.Info("starting bare workflows", "workflows", o.Customers, "task_queue", workflows.BenchTaskQueue)
	err := forEach(ctx, o.Customers, o.Concurrency, func(ctx context.Context, i int) error {
		started[i] = time.Now()
		_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: ids[i], TaskQueue: workflows.BenchTaskQueue, WorkflowExecutionTimeout: o.Timeout + time.Minute,
		}, workflows.BenchBareWorkflow, workflows.BenchBareInput{Delay: benchDelay})
		if err != nil {
			return fmt.Errorf("start %s: %w", ids[i], err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	first := slices.MinFunc(started, time.Time.Compare)
	deadline := first.Add(o.Timeout)
	for {
		_, done := rec.counts()
		if done >= o.Customers {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not all bare workflows completed within --timeout %s: %d of %d", o.Timeout, done, o.Customers)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	log.Info("all bare workflows ran their steps", "took", time.Since(first).Round(time.Millisecond))
	closes, err := closeTimes(ctx, tc, o.Concurrency, len(ids), func(k int) (string, string) { return ids[k], "" })
	if err != nil {
		return err
	}
	res.bare.n, res.bare.firstStart, res.bare.lastClose = o.Customers, first, slices.MaxFunc(closes, time.Time.Compare)
	rec.mu.Lock()
	for i, id := range ids {
		res.bare.latencies = append(res.bare.latencies, rec.first[id].Sub(started[i]))
	}
	rec.mu.Unlock()
	for _, k := range sampleIndexes(len(ids), benchHistorySamples) {
		hs, err := summarizeHistory(ctx, tc, ids[k], "", workflows.BenchStepActivity, started[k])
		if err != nil {
			return err
		}
		res.bare.histories = append(res.bare.histories, hs)
	}
	return nil
}

// closeTimes asks Temporal when each workflow closed, waiting briefly for
// the ones whose last task is still in flight.
func closeTimes(ctx context.Context, tc client.Client, concurrency, n int, ref func(int) (string, string)) ([]time.Time, error) {
	out := make([]time.Time, n)
	err := forEach(ctx, n, concurrency, func(ctx context.Context, k int) error {
		id, runID := ref(k)
		for try := 0; ; try++ {
			d, err := tc.DescribeWorkflowExecution(ctx, id, runID)
			if err != nil {
				return fmt.Errorf("describe workflow %s: %w", id, err)
			}
			info := d.GetWorkflowExecutionInfo()
			switch info.GetStatus() {
			case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
				out[k] = info.GetCloseTime().AsTime()
				return nil
			case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
				if try >= 100 {
					return fmt.Errorf("workflow %s still running", id)
				}
				if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
					return err
				}
			default:
				return fmt.Errorf("workflow %s ended %s", id, info.GetStatus())
			}
		}
	})
	return out, err
}

// historySummary is what one run's Temporal history says.
type historySummary struct {
	events int
	types  map[string]int
	// Phases, each zero when not seen.
	triggerToStart time.Duration // trigger (POST / start call) → WorkflowExecutionStarted
	startToStep    time.Duration // WorkflowExecutionStarted → first step activity started
	stepRun        time.Duration // step activity started → completed (mean of the run's steps)
	timerLate      time.Duration // timer fired − (started + its duration)
	lastStepToEnd  time.Duration // last step activity completed → workflow closed
	// workflowTaskWait is the mean wait of a workflow task in its task queue
	// (scheduled → picked up by the worker). Activities need no such row:
	// the SDK dispatches them eagerly to the worker that scheduled them.
	workflowTaskWait time.Duration
}

// summarizeHistory reads a run's history; stepActivity names the activity
// type of the steps (Herald's Send, the bare BenchStep).
func summarizeHistory(ctx context.Context, tc client.Client, workflowID, runID, stepActivity string, trigger time.Time) (historySummary, error) {
	hs := historySummary{types: map[string]int{}}
	var started, firstStep, lastStep, timerStart time.Time
	var timerFor time.Duration
	var stepTotal time.Duration
	var steps int
	scheduled := map[int64]string{}
	scheduledAt := map[int64]time.Time{}
	stepStarted := map[int64]time.Time{}
	var wftWait time.Duration
	var wfts int
	it := tc.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return hs, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		hs.events++
		hs.types[e.GetEventType().String()]++
		at := e.GetEventTime().AsTime()
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			started = at
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			scheduledAt[e.GetEventId()] = at
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			if s, ok := scheduledAt[e.GetWorkflowTaskStartedEventAttributes().GetScheduledEventId()]; ok {
				wftWait += at.Sub(s)
				wfts++
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[e.GetEventId()] = e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			sid := e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()
			if scheduled[sid] == stepActivity {
				stepStarted[sid] = at
				if firstStep.IsZero() {
					firstStep = at
				}
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			sid := e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
			if s, ok := stepStarted[sid]; ok {
				stepTotal += at.Sub(s)
				steps++
				lastStep = at
			}
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			timerStart, timerFor = at, e.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration()
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			hs.timerLate = at.Sub(timerStart) - timerFor
		}
		if isClose(e) {
			if !lastStep.IsZero() {
				hs.lastStepToEnd = at.Sub(lastStep)
			}
		}
	}
	if !started.IsZero() {
		hs.triggerToStart = started.Sub(trigger)
		if !firstStep.IsZero() {
			hs.startToStep = firstStep.Sub(started)
		}
	}
	if steps > 0 {
		hs.stepRun = stepTotal / time.Duration(steps)
	}
	if wfts > 0 {
		hs.workflowTaskWait = wftWait / time.Duration(wfts)
	}
	return hs, nil
}

func isClose(e *historypb.HistoryEvent) bool {
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
		return true
	}
	return false
}

// sampleIndexes picks up to k indexes spread evenly over [0, n).
func sampleIndexes(n, k int) []int {
	if n <= k {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, k)
	for j := range out {
		out[j] = j * n / k
	}
	return out
}

// heraldAPI talks to a running Herald over HTTP.
type heraldAPI struct {
	base   string
	secret string
	write  string
	http   *http.Client
}

// ready checks that the API answers and is ready, with a clear error when
// nothing runs there.
func (h *heraldAPI) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, "GET", h.base+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("api_url %q: %w", h.base, err)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return fmt.Errorf("no Herald answers at %s (is `herald dev` running?): %w", h.base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("herald at %s is not ready: %s %s", h.base, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// call sends a JSON request with key as Bearer (in encoded, or as it is when
// it is a json.RawMessage) and decodes a 2xx answer into out.
func (h *heraldAPI) call(ctx context.Context, method, path, key string, in, out any) error {
	var body io.Reader
	if raw, ok := in.(json.RawMessage); ok {
		// A body built before the clock started goes as it is: encoding it
		// again would compact and check every byte inside the measurement
		// (half of the client's CPU in herald bench ingest).
		body = bytes.NewReader(raw)
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := h.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// benchRun is a run as GET /api/journeys/{id}/runs lists it.
type benchRun struct {
	WorkflowID string     `json:"workflow_id"`
	RunID      string     `json:"run_id"`
	CustomerID string     `json:"customer_id"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
}

// benchDelivery is a message as GET /api/deliveries lists it.
type benchDelivery struct {
	ID         string    `json:"id"`
	WorkflowID string    `json:"workflow_id"`
	NodeID     string    `json:"node_id"`
	Recipient  string    `json:"recipient"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
}

// listAll pages through a list ordered newest first by a time. The API's
// cursor is "older than this time", which would skip items sharing the
// time of a page's last one; so each page starts a microsecond later and
// items are deduplicated by key.
func listAll[T any](ctx context.Context, h *heraldAPI, path string, key func(T) string, at func(T) time.Time) ([]T, error) {
	const limit = 200
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	seen := map[string]bool{}
	var out []T
	cursor := ""
	for {
		q := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Items []T `json:"items"`
		}
		if err := h.call(ctx, "GET", q, h.secret, nil, &page); err != nil {
			return nil, err
		}
		added := 0
		for _, it := range page.Items {
			if k := key(it); !seen[k] {
				seen[k] = true
				out = append(out, it)
				added++
			}
		}
		if len(page.Items) < limit {
			return out, nil
		}
		last := at(page.Items[len(page.Items)-1])
		next := last.Add(time.Microsecond)
		if added == 0 {
			next = last // a whole page within one microsecond: step past it
		}
		cursor = next.Format(time.RFC3339Nano)
	}
}

// ingestCounter reads herald_ingest_events_total from Herald's /metrics: the
// events the ingest role has applied (and routed to journeys), dead-lettered
// or found duplicate.
type ingestCounter struct {
	addr string
	http *http.Client
}

func (c *ingestCounter) read(ctx context.Context) (float64, error) {
	return scrapeMetrics(ctx, c.http, c.addr, parseIngestCounter)
}

// scrapeMetrics GETs Herald's /metrics at addr (host:port or a URL) and
// reads a value from it with parse.
func scrapeMetrics(ctx context.Context, hc *http.Client, addr string, parse func(io.Reader) (float64, error)) (float64, error) {
	if addr == "" {
		return 0, errors.New("no --metrics-addr")
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(addr, "/")+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	return parse(resp.Body)
}

// parseIngestCounter sums herald_ingest_events_total over its labels.
func parseIngestCounter(r io.Reader) (float64, error) {
	const name = "herald_ingest_events_total"
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	total, found := 0.0, false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %w", line, err)
		}
		total += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		// The counter appears with its first event; before that it is zero.
		return 0, nil
	}
	return total, nil
}

// waitFor polls the counter until it reaches want and returns when it saw it.
// Each scrape of /metrics costs the herald process 3-4 ms of CPU (its
// process and Go collectors, the text encoding): polled every 50 ms through a
// run's tail of a few seconds that was ~2 % of the CPU of the path it
// measures. So it polls again after half the time the rate since its first
// read says is left (nextPoll, at most maxPoll): a dozen scrapes, the last
// ones still 50 ms apart.
func (c *ingestCounter) waitFor(ctx context.Context, want float64, deadline time.Time) (time.Time, error) {
	var firstN float64
	var firstAt time.Time
	for {
		n, err := c.read(ctx)
		if err != nil {
			return time.Time{}, err
		}
		at := time.Now()
		if n >= want {
			return at, nil
		}
		if at.After(deadline) {
			return time.Time{}, fmt.Errorf("ingest applied %.0f of %.0f events before the deadline", n, want)
		}
		var rate float64 // events/s since the first read; 0 on the first
		if firstAt.IsZero() {
			firstN, firstAt = n, at
		} else if at.After(firstAt) {
			rate = (n - firstN) / at.Sub(firstAt).Seconds()
		}
		if err := sleepCtx(ctx, min(nextPoll(want-n, rate), max(time.Until(deadline), minPoll))); err != nil {
			return time.Time{}, err
		}
	}
}

// Bounds of waitFor's pause between reads: the shortest is how late it can
// see the end (as before it adapted), the longest how late it may see it
// when the rate picks up (after a stall, or the tail running faster than
// the wait's average).
const (
	minPoll = 50 * time.Millisecond
	maxPoll = 250 * time.Millisecond
)

// nextPoll is how long to wait before reading the counter again, with left
// events to go at rate events/s: half the time that would take, within
// [minPoll, maxPoll]; minPoll with no rate yet (or none: a stall).
func nextPoll(left, rate float64) time.Duration {
	if rate <= 0 || left <= 0 {
		return minPoll
	}
	secs := min(left/rate/2, maxPoll.Seconds()) // in float: a long wait would overflow a Duration
	return max(time.Duration(secs*float64(time.Second)), minPoll)
}

// defaultCredentials is where herald dev writes its credentials:
// $HERALD_DATA_DIR/dev-credentials.json, else .herald/dev-credentials.json.
func defaultCredentials(getenv func(string) string) string {
	dataDir := getenv(envPrefix + "DATA_DIR")
	if dataDir == "" {
		dataDir = ".herald"
	}
	return filepath.Join(dataDir, "dev-credentials.json")
}

// readBenchCredentials reads dev-credentials.json, explaining what to do
// when it is missing.
// dialBenchTemporal connects a bench to the Temporal server Herald uses;
// the SDK logs only warnings, to logw.
func dialBenchTemporal(ctx context.Context, address, namespace string, logw io.Writer) (client.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tc, err := client.DialContext(dctx, client.Options{
		HostPort:  address,
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s: %w (is `herald dev` running? set --temporal-address to the address it printed)", address, err)
	}
	return tc, nil
}

func readBenchCredentials(path string) (devCredentialsFile, error) {
	var c devCredentialsFile
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, fmt.Errorf("no credentials at %s: start `herald dev` first, or pass --credentials <data-dir>/dev-credentials.json", path)
	}
	if err != nil {
		return c, fmt.Errorf("read credentials: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("read credentials %s: %w", path, err)
	}
	var missing []string
	for name, v := range map[string]string{"api_url": c.APIURL, "write_key": c.WriteKey, "secret_key": c.SecretKey} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return c, fmt.Errorf("credentials %s lack %s", path, strings.Join(missing, ", "))
	}
	return c, nil
}

// devCredentialsFile is the part of dev-credentials.json (DESIGN §2) the
// bench needs. (The dev build's devCredentials is not in production builds.)
type devCredentialsFile struct {
	WriteKey     string `json:"write_key"`
	SecretKey    string `json:"secret_key"`
	APIURL       string `json:"api_url"`
	DatabaseURL  string `json:"database_url"`
	KafkaBrokers string `json:"kafka_brokers"`
	WorkspaceID  string `json:"workspace_id"`
}

// machineInfo describes where the bench ran.
type machineInfo struct {
	CPUs     int
	OS, Arch string
	CPUModel string
	MemoryGB float64
	// Load is the load average when the bench started (other work on the
	// machine skews the numbers).
	Load string
}

func readMachineInfo() machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					m.MemoryGB = kb / (1 << 20)
				}
			}
		}
	}
	return m
}

func (m machineInfo) String() string {
	s := fmt.Sprintf("%s, %d CPUs, %s/%s", m.CPUModel, m.CPUs, m.OS, m.Arch)
	if m.MemoryGB > 0 {
		s += fmt.Sprintf(", %.0f GiB", m.MemoryGB)
	}
	if m.Load != "" {
		s += "; load average at start " + m.Load
	}
	return s
}

// print writes the results table.
func (r *benchResult) print(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "\nherald bench journeys: %d customers, concurrency %d; journey send → delay %s → send → exit\n",
		o.Customers, o.Concurrency, benchDelay)
	fmt.Fprintf(w, "machine: %s (bench, Herald and Temporal on the same machine)\n\n", r.machine)

	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tHerald\tbare Temporal\tratio\t")
	h, b := r.herald, r.bare
	tput := ratio(h.throughput(), b.throughput())
	fmt.Fprintf(tw, "completions/s\t%.1f\t%.1f\t%s\t\n", h.throughput(), b.throughput(), fmtRatio(tput))
	hp50, bp50 := percentile(h.latencies, 50), percentile(b.latencies, 50)
	hp99, bp99 := percentile(h.latencies, 99), percentile(b.latencies, 99)
	fmt.Fprintf(tw, "trigger → first send p50\t%s\t%s\t%s\t\n", fmtMS(hp50), fmtMS(bp50), fmtRatio(ratio(hp50.Seconds(), bp50.Seconds())))
	fmt.Fprintf(tw, "trigger → first send p99\t%s\t%s\t%s\t\n", fmtMS(hp99), fmtMS(bp99), fmtRatio(ratio(hp99.Seconds(), bp99.Seconds())))
	he, be := meanEvents(h.histories), meanEvents(b.histories)
	fmt.Fprintf(tw, "history events per run\t%.1f\t%.1f\t%s\t\n", he, be, fmtRatio(ratio(he, be)))
	fmt.Fprintf(tw, "first trigger → last completion\t%s\t%s\t%s\t\n", fmtSec(h.wall()), fmtSec(b.wall()),
		fmtRatio(ratio(h.wall().Seconds(), b.wall().Seconds())))
	_ = tw.Flush()
	fmt.Fprintf(w, "\nthroughput Herald/bare: %s (goal ≥ %.1f: %s)\n", fmtRatio(tput), benchThroughputGoal, goalWord(tput, benchThroughputGoal))
	fmt.Fprintln(w, "(trigger: Herald = POST /v1/track starts, bare = StartWorkflowExecution call starts;")
	fmt.Fprintln(w, " first send: Herald = the node-one delivery's created_at, bare = the first activity starts;")
	fmt.Fprintln(w, " completion: the workflow's close time in Temporal; history: mean over sampled runs)")

	fmt.Fprintln(w, "\nwhere the time goes")
	tw = tabwriter.NewWriter(w, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase (mean of sampled runs)\tHerald\tbare Temporal\t")
	for _, ph := range []struct {
		name string
		f    func(historySummary) time.Duration
	}{
		{"trigger → workflow started", func(s historySummary) time.Duration { return s.triggerToStart }},
		{"workflow started → first send runs", func(s historySummary) time.Duration { return s.startToStep }},
		{"send activity run time", func(s historySummary) time.Duration { return s.stepRun }},
		{"timer fired late by", func(s historySummary) time.Duration { return s.timerLate }},
		{"last send done → workflow closed", func(s historySummary) time.Duration { return s.lastStepToEnd }},
		{"workflow task queue wait (each)", func(s historySummary) time.Duration { return s.workflowTaskWait }},
	} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", ph.name, fmtMS(meanPhase(h.histories, ph.f)), fmtMS(meanPhase(b.histories, ph.f)))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nHerald ingest (all %d customers):\n", o.Customers)
	fmt.Fprintf(w, "  POST /v1/track acknowledged       p50 %s  p99 %s\n", fmtMS(percentile(r.postAck, 50)), fmtMS(percentile(r.postAck, 99)))
	fmt.Fprintf(w, "  POST → run recorded (started_at)  p50 %s  p99 %s\n", fmtMS(percentile(r.toRunRecorded, 50)), fmtMS(percentile(r.toRunRecorded, 99)))
	if r.identifyIngest > 0 {
		fmt.Fprintf(w, "  identify events applied           %d in %s (%.0f/s)\n", o.Customers, fmtSec(r.identifyIngest),
			float64(o.Customers)/r.identifyIngest.Seconds())
	}
	if r.trackIngest > 0 {
		fmt.Fprintf(w, "  track events applied and routed   %d within %s of the first POST (%.0f/s; polled every 250 ms)\n",
			o.Customers, fmtSec(r.trackIngest), float64(o.Customers)/r.trackIngest.Seconds())
	}
	if r.failedSends > 0 {
		fmt.Fprintf(w, "  failed deliveries                 %d (see GET /api/deliveries?status=failed)\n", r.failedSends)
	}
	if len(h.histories) > 0 && len(b.histories) > 0 {
		fmt.Fprintf(w, "\nhistory of one run, events by type:\n  Herald: %s\n  bare:   %s\n",
			fmtTypes(h.histories[0].types), fmtTypes(b.histories[0].types))
	}
	fmt.Fprintln(w)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// fmtRatio prints a ratio with two decimals, cut rather than rounded: one
// just under a goal (0.498 of 0.5) reads 0.49, never 0.50 beside "not met".
func fmtRatio(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.2f", math.Floor(x*100+1e-9)/100)
}

// goalWord says whether the ratio x reached goal.
func goalWord(x, goal float64) string {
	if !math.IsNaN(x) && x >= goal {
		return "met"
	}
	return "not met"
}

func fmtMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 && ms > -10 {
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

func fmtSec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func fmtTypes(m map[string]int) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return strings.Join(parts, ", ")
}

// percentile is the nearest-rank p-th percentile (0 for no values).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func meanEvents(hs []historySummary) float64 {
	if len(hs) == 0 {
		return 0
	}
	total := 0
	for _, h := range hs {
		total += h.events
	}
	return float64(total) / float64(len(hs))
}

func meanPhase(hs []historySummary, f func(historySummary) time.Duration) time.Duration {
	if len(hs) == 0 {
		return 0
	}
	var total time.Duration
	for _, h := range hs {
		total += f(h)
	}
	return total / time.Duration(len(hs))
}

// forEach calls fn for 0..n-1 with at most concurrency calls in flight; the
// first error cancels the rest and is returned.
func forEach(ctx context.Context, n, concurrency int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// benchTag makes the names of one bench run unique (event, journey, users).
func benchTag() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

// runBenchFromConfig is bench's entry in commands(). run() hands `herald
// bench` its arguments (runBench) before the roles' Config is parsed, so
// this is reached only if that hand-off is missing.
func runBenchFromConfig(context.Context, Config, *slog.Logger) error {
	return errors.New("herald bench parses its own arguments: run() must hand them to runBench")
}
