package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// `herald bench segments` measures audiences on a running Herald (issue
// #6). It seeds a new workspace with N customers and their events, times
// PreviewSegment's count for three typical conditions, then publishes a
// segment-triggered journey with include_existing over K of those
// customers and measures the enrollment's members/s; beside it, in the same
// run on the same Temporal server, a bare loop of K SignalWithStart calls of
// a workflow that does nothing, with the same 16 calls in flight as the
// enrollment's lanes. The workspace stays (named with the run's tag).

// benchPreviewGoal is what a preview count should take (issue #6).
const benchPreviewGoal = time.Second

// benchPreviewSample is the sample the previews are timed with besides the
// count alone: the API's default sample size.
const benchPreviewSample = 10

// benchSegmentsTaskQueue is the bare baseline's task queue; the bench runs
// its own worker on it.
const benchSegmentsTaskQueue = "herald-bench-segments"

// benchSignalledWorkflowName names benchSignalledWorkflow in Temporal.
const benchSignalledWorkflowName = "BenchSignalled"

// benchEnrollLanes is how many members an enrollment page enters at once
// (ingest's enrollLanes): the bare loop keeps as many calls in flight.
const benchEnrollLanes = 16

// benchSegmentConditions are the previewed conditions: an attribute, an
// event count in a window, and both together.
var benchSegmentConditions = []struct{ name, cond string }{
	{"plan = pro", `{"attr":"plan","op":"eq","value":"pro"}`},
	{"Purchased ≥ 2× in 30d", `{"event":"Purchased","count":{"gte":2},"within":"30d"}`},
	{"pro and Purchased in 7d", `{"all":[{"attr":"plan","op":"eq","value":"pro"},{"event":"Purchased","within":"7d"}]}`},
}

// benchCohortCondition is the enrolled segment: exactly --members of the
// seeded customers, spread over them (schema.BenchSeed.Cohort).
const benchCohortCondition = `{"attr":"cohort","op":"eq","value":"enroll"}`

// benchSignalledWorkflow is the bare baseline: it takes the event it was
// signal-started with and ends. Nothing of Herald, no activity.
func benchSignalledWorkflow(ctx workflow.Context) error {
	var ev workflows.Event
	workflow.GetSignalChannel(ctx, workflows.SignalEvent).ReceiveAsync(&ev)
	return nil
}

// benchSegmentsOptions are the flags of `herald bench segments`.
type benchSegmentsOptions struct {
	Customers         int
	EventsPer         int
	Members           int
	Repeat            int
	Credentials       string
	DatabaseURL       string
	TemporalAddress   string
	TemporalNamespace string
	MetricsAddr       string
	Timeout           time.Duration
	// BareClosed waits for the bare workflows to close too (informational:
	// the ratio compares the rates of entering, not of closing).
	BareClosed bool
	// Parts are the parts to run: previews, enrollment, bare.
	Parts map[string]bool
	// Workspace, when set, is a workspace an earlier run seeded: no
	// seeding, and the sizes are read from it.
	Workspace string
}

func parseBenchSegmentsFlags(args []string, getenv func(string) string, stderr io.Writer) (benchSegmentsOptions, error) {
	var o benchSegmentsOptions
	fs := flag.NewFlagSet("herald bench segments", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Customers, "customers", 1_000_000, "customers to seed into the bench's new workspace")
	fs.IntVar(&o.EventsPer, "events-per-customer", 10, "events to seed per customer (names spread over the last 90 days)")
	fs.IntVar(&o.Members, "members", 100_000, "members of the enrolled segment (a slice of the seeded customers)")
	fs.IntVar(&o.Repeat, "repeat", 5, "timed preview counts per condition, after one warm-up")
	fs.StringVar(&o.Credentials, "credentials", defaultCredentials(getenv),
		"dev-credentials.json written by herald dev (api_url, secret_key, database_url) [$HERALD_DATA_DIR/dev-credentials.json]")
	fs.StringVar(&o.DatabaseURL, "database-url", getenv(envPrefix+"DATABASE_URL"), "Herald's Postgres; default: database_url of the credentials [$HERALD_DATABASE_URL]")
	fs.StringVar(&o.TemporalAddress, "temporal-address", orEnv(getenv, "TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		"Temporal frontend host:port Herald uses [$HERALD_TEMPORAL_ADDRESS]")
	fs.StringVar(&o.TemporalNamespace, "temporal-namespace", orEnv(getenv, "TEMPORAL_NAMESPACE", "default"),
		"Temporal namespace Herald uses [$HERALD_TEMPORAL_NAMESPACE]")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", orEnv(getenv, "METRICS_ADDR", "127.0.0.1:9464"),
		"Herald's /metrics address, to read the CPU the herald process used in each part; empty skips it [$HERALD_METRICS_ADDR]")
	fs.StringVar(&o.Workspace, "workspace", "", "reuse this workspace seeded by an earlier run (its id, printed by that run) instead of seeding a new one; --customers, --events-per-customer and --members are read from it")
	fs.BoolVar(&o.BareClosed, "bare-closed", true, "after the bare loop, wait until every bare workflow closed (false: stop once every call is answered; saves the drain, ~1 h per 100k workflows on the embedded server)")
	parts := fs.String("parts", "previews,enrollment,bare", "the parts to run, comma-separated: previews, enrollment, bare (e.g. bare alone against the server of an earlier run whose bare loop was cut short; with --workspace, nothing is seeded)")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "how long each part (seeding, enrollment, bare loop) may take")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Parts = map[string]bool{}
	for _, p := range strings.Split(*parts, ",") {
		switch p = strings.TrimSpace(p); p {
		case "previews", "enrollment", "bare":
			o.Parts[p] = true
		default:
			return o, fmt.Errorf("--parts: unknown part %q (previews, enrollment, bare)", p)
		}
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.Customers < 1 || o.Customers > 10_000_000:
		return o, errors.New("--customers must be from 1 to 10000000")
	case o.EventsPer < 0 || o.EventsPer > 100:
		return o, errors.New("--events-per-customer must be from 0 to 100")
	case o.Members < 1 || o.Members > o.Customers:
		return o, errors.New("--members must be from 1 to --customers")
	case o.Repeat < 1 || o.Repeat > 100:
		return o, errors.New("--repeat must be from 1 to 100")
	case o.Timeout <= 0:
		return o, errors.New("--timeout must be positive")
	}
	return o, nil
}

// checkLoopback refuses an address (a URL or host:port) that is not this
// machine's loopback: the bench writes millions of rows and starts
// thousands of workflows, never against a shared server.
func checkLoopback(what, addr string) error {
	host := addr
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		host = u.Hostname()
	} else if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("%s %q is not on 127.0.0.1: herald bench segments only runs against a local Herald (herald dev)", what, addr)
}

// previewResult is one previewed condition.
type previewResult struct {
	name, cond string
	count      int64
	times      []time.Duration // the timed runs, warm
	sampled    []time.Duration // the same with a sample of benchPreviewSample (the API's default)
	top        string          // EXPLAIN's top node
	scans      []string        // its scan nodes: "Index Only Scan events_name_idx", "Seq Scan customers"
}

// indexBacked: some index serves the query and no table is read whole.
func (p previewResult) indexBacked() bool {
	indexed := false
	for _, s := range p.scans {
		if strings.HasPrefix(s, "Seq Scan") {
			return false
		}
		indexed = indexed || strings.Contains(s, "Index")
	}
	return indexed
}

// enrollResult is what the enrollment measured.
type enrollResult struct {
	segmentCreate time.Duration // POST /api/segments, which records the members silently
	publishToRun  time.Duration // publish answered → the enrollment recorded its start
	enrolled      int64
	skipped       int64
	elapsed       time.Duration // started_at → finished_at
	lastEntered   time.Duration // started_at → the newest run's start recorded (0: not read)
	allClosed     time.Duration // started_at → every run closed in Temporal (0: not seen)
	cpu           float64       // CPU seconds of the herald process, publish → every run closed (-1: not read)
	pages         activityTotals
	starts        activityTotals
	history       historySummary // one run
}

// bareStartResult is what the bare SignalWithStart loop measured.
type bareStartResult struct {
	n         int
	elapsed   time.Duration // first call → last call answered
	allClosed time.Duration // first call → every workflow closed (0: not seen)
	calls     []time.Duration
	cpu       float64 // CPU seconds of the herald process, first call → every workflow closed (-1: not read)
	history   historySummary
}

// segmentsResult is everything `herald bench segments` measured.
type segmentsResult struct {
	opts      benchSegmentsOptions
	machine   machineInfo
	tag       string
	workspace string
	seeded    time.Duration
	reused    bool // the workspace of an earlier run
	previews  []previewResult
	enroll    enrollResult
	bare      bareStartResult
}

func benchSegments(ctx context.Context, o benchSegmentsOptions, logw io.Writer) (*segmentsResult, error) {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	creds, err := readBenchCredentials(o.Credentials)
	if err != nil {
		return nil, err
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = creds.DatabaseURL
	}
	if o.DatabaseURL == "" {
		return nil, errors.New("the credentials name no database_url (restart herald dev to rewrite them) and --database-url is not set")
	}
	for _, a := range [][2]string{{"api_url", creds.APIURL}, {"database url", o.DatabaseURL}, {"temporal address", o.TemporalAddress}} {
		if err := checkLoopback(a[0], a[1]); err != nil {
			return nil, err
		}
	}
	st, err := schema.Open(ctx, o.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	base := strings.TrimRight(creds.APIURL, "/")
	probe := &heraldAPI{base: base, http: &http.Client{Timeout: 10 * time.Second}}
	if err := probe.ready(ctx); err != nil {
		return nil, err
	}
	tc, err := dialBenchTemporal(ctx, o.TemporalAddress, o.TemporalNamespace, logw)
	if err != nil {
		return nil, err
	}
	defer tc.Close()

	res := &segmentsResult{opts: o, machine: readMachineInfo(), tag: benchTag()}
	var ws schema.Workspace
	if o.Workspace != "" {
		if ws, err = st.GetWorkspace(ctx, o.Workspace); err != nil {
			return nil, fmt.Errorf("workspace %s: %w", o.Workspace, err)
		}
		if err := seededSizes(ctx, st, &o); err != nil {
			return nil, err
		}
		res.opts, res.reused = o, true
	} else if ws, err = st.CreateWorkspace(ctx, "Bench segments "+res.tag); err != nil {
		return nil, err
	}
	res.workspace = ws.ID
	key, err := st.CreateAPIKey(ctx, ws.ID, schema.KeySecret, "bench segments "+res.tag, "herald bench")
	if err != nil {
		return nil, err
	}
	// Creating the segment records its members: allow it minutes.
	h := &heraldAPI{base: base, secret: key.Key, http: &http.Client{Timeout: 10 * time.Minute}}
	log.Info("herald bench segments", "customers", o.Customers, "events_per_customer", o.EventsPer, "members", o.Members,
		"workspace_id", ws.ID, "tag", res.tag)

	// 1. Seed (not measured beyond its own time).
	if !res.reused {
		sctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		t0 := time.Now()
		lastLog := t0
		err = st.SeedBench(sctx, ws.ID, schema.BenchSeed{IDPrefix: "cus_b" + strings.ReplaceAll(res.tag, "-", "") + "_",
			Customers: o.Customers, EventsPerCustomer: o.EventsPer, Cohort: o.Members, Now: time.Now().UTC()},
			func(done int) {
				if time.Since(lastLog) > 10*time.Second || done == o.Customers {
					log.Info("seeding", "customers", done, "of", o.Customers, "took", time.Since(t0).Round(time.Second))
					lastLog = time.Now()
				}
			})
		if err != nil {
			return nil, err
		}
		res.seeded = time.Since(t0)
		log.Info("seeded and analyzed", "took", res.seeded.Round(time.Millisecond))
	}

	// 2. Preview counts.
	conditions := benchSegmentConditions
	if !o.Parts["previews"] {
		conditions = nil
	}
	for _, c := range conditions {
		p, err := benchPreview(ctx, st, ws.ID, c.name, c.cond, o.Repeat)
		if err != nil {
			return nil, fmt.Errorf("preview %s: %w", c.cond, err)
		}
		log.Info("previewed", "condition", c.name, "count", p.count, "median", percentile(p.times, 50).Round(time.Microsecond))
		res.previews = append(res.previews, p)
	}

	// 3. Enrollment, then the bare loop on the same server.
	herald := &processCPU{addr: o.MetricsAddr, http: &http.Client{Timeout: 5 * time.Second}}
	if _, err := herald.read(ctx); err != nil {
		log.Warn("cannot read the herald process's CPU from its metrics; not reported", "metrics_addr", o.MetricsAddr, "error", err)
	}
	if o.Parts["enrollment"] {
		if err := benchEnrollment(ctx, o, h, st, tc, herald, res, log); err != nil {
			return nil, fmt.Errorf("enrollment: %w", err)
		}
	}
	if o.Parts["bare"] {
		if err := benchBareSignalWithStart(ctx, o, tc, herald, res, log); err != nil {
			return nil, fmt.Errorf("bare SignalWithStart loop: %w", err)
		}
	}
	return res, nil
}

// seededSizes reads the sizes of a workspace an earlier run seeded into o.
func seededSizes(ctx context.Context, st *schema.Store, o *benchSegmentsOptions) error {
	var customers, events, members int
	err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM customers WHERE workspace_id = $1),
		(SELECT count(*) FROM events WHERE workspace_id = $1),
		(SELECT count(*) FROM customers WHERE workspace_id = $1 AND attributes @> '{"cohort":"enroll"}')`, o.Workspace).Scan(&customers, &events, &members)
	if err != nil {
		return fmt.Errorf("read the seeded workspace: %w", err)
	}
	if customers == 0 || members == 0 {
		return fmt.Errorf("workspace %s was not seeded by herald bench segments (%d customers, %d in the cohort)", o.Workspace, customers, members)
	}
	o.Customers, o.EventsPer, o.Members = customers, events/customers, members
	return nil
}

// benchPreview times PreviewSegment's count (no sample) repeat times after
// one warm-up, and reads the plan of its count query.
func benchPreview(ctx context.Context, st *schema.Store, workspaceID, name, cond string, repeat int) (previewResult, error) {
	p := previewResult{name: name, cond: cond}
	for _, sample := range []int{0, benchPreviewSample} {
		for i := 0; i <= repeat; i++ {
			t0 := time.Now()
			pv, err := st.PreviewSegment(ctx, workspaceID, json.RawMessage(cond), time.Now(), sample)
			if err != nil {
				return p, err
			}
			switch {
			case i == 0:
			case sample == 0:
				p.times = append(p.times, time.Since(t0))
			default:
				p.sampled = append(p.sampled, time.Since(t0))
			}
			p.count = pv.Count
		}
	}
	q, err := st.CompileSegment(ctx, workspaceID, json.RawMessage(cond), time.Now())
	if err != nil {
		return p, err
	}
	// Planned as PreviewSegment plans it: an unnamed statement with the values.
	var plan []byte
	args := append([]any{pgx.QueryExecModeExec}, q.Args...)
	if err := st.Pool().QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+q.CountQuery(), args...).Scan(&plan); err != nil {
		return p, fmt.Errorf("explain: %w", err)
	}
	p.top, p.scans, err = planSummary(plan)
	return p, err
}

// planSummary reads EXPLAIN (FORMAT JSON): the top node's type and every
// scan that reads an index or a whole table, in plan order.
func planSummary(raw []byte) (string, []string, error) {
	var plans []struct {
		Plan map[string]any `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) == 0 || plans[0].Plan == nil {
		return "", nil, fmt.Errorf("read plan: %v", err)
	}
	var scans []string
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		typ, _ := n["Node Type"].(string)
		if idx, ok := n["Index Name"].(string); ok {
			scans = append(scans, typ+" "+idx)
		} else if typ == "Seq Scan" {
			rel, _ := n["Relation Name"].(string)
			scans = append(scans, typ+" "+rel)
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			if m, ok := c.(map[string]any); ok {
				walk(m)
			}
		}
	}
	walk(plans[0].Plan)
	top, _ := plans[0].Plan["Node Type"].(string)
	return top, scans, nil
}

// benchEnrollment publishes a journey triggered by the cohort segment with
// include_existing (entry once, a single exit node) through the API and
// follows the enrollment it starts.
func benchEnrollment(ctx context.Context, o benchSegmentsOptions, h *heraldAPI, st *schema.Store, tc client.Client, herald *processCPU, res *segmentsResult, log *slog.Logger) error {
	var seg, j struct {
		ID string `json:"id"`
	}
	t0 := time.Now()
	if err := h.call(ctx, "POST", "/api/segments", h.secret, map[string]any{
		"name": "Bench cohort " + res.tag, "condition": json.RawMessage(benchCohortCondition)}, &seg); err != nil {
		return err
	}
	res.enroll.segmentCreate = time.Since(t0)
	log.Info("segment created", "segment_id", seg.ID, "took", res.enroll.segmentCreate.Round(time.Millisecond))
	def := map[string]any{
		"name":    "Bench segments " + res.tag,
		"trigger": map[string]any{"type": "segment", "segment_id": seg.ID, "include_existing": true},
		"entry":   map[string]any{"policy": "once"},
		"start":   "done",
		"nodes":   []map[string]any{{"id": "done", "type": "exit"}},
	}
	if err := h.call(ctx, "POST", "/api/journeys", h.secret, def, &j); err != nil {
		return err
	}
	jpath := "/api/journeys/" + url.PathEscape(j.ID)
	var pub struct {
		EnrollmentID string `json:"enrollment_id"`
	}
	cpu := herald.cpuMeter(ctx)
	if err := h.call(ctx, "POST", jpath+"/publish", h.secret, nil, &pub); err != nil {
		return err
	}
	published := time.Now()
	// Stopped at the end whatever happens (stopping also cancels an
	// enrollment still running).
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := h.call(sctx, "POST", jpath+"/stop", h.secret, nil, nil); err != nil {
			log.Warn("stop the bench journey", "journey_id", j.ID, "error", err)
		}
	}()
	if pub.EnrollmentID == "" {
		return fmt.Errorf("publishing journey %s started no enrollment", j.ID)
	}
	log.Info("journey published; enrolling", "journey_id", j.ID, "enrollment_id", pub.EnrollmentID, "members", o.Members)

	deadline := published.Add(o.Timeout)
	lastLog := time.Now()
	var e schema.Enrollment
	for {
		var err error
		e, err = st.GetEnrollment(ctx, pub.EnrollmentID)
		if err != nil && !errors.Is(err, schema.ErrNotFound) {
			return err
		}
		if err == nil && e.Status != schema.EnrollmentRunning {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("enrollment %s did not finish within --timeout %s (enrolled %d of %d)", pub.EnrollmentID, o.Timeout, e.Enrolled, e.Total)
		}
		if time.Since(lastLog) > 10*time.Second {
			log.Info("enrolling", "enrolled", e.Enrolled, "skipped", e.Skipped, "total", e.Total)
			lastLog = time.Now()
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	if e.Status != schema.EnrollmentCompleted || e.FinishedAt == nil {
		return fmt.Errorf("enrollment %s ended %s: %s", e.ID, e.Status, e.Error)
	}
	if e.Enrolled+e.Skipped != int64(o.Members) {
		return fmt.Errorf("enrollment %s handled %d members (%d enrolled, %d skipped) of a segment of %d", e.ID, e.Enrolled+e.Skipped, e.Enrolled, e.Skipped, o.Members)
	}
	res.enroll.enrolled, res.enroll.skipped = e.Enrolled, e.Skipped
	res.enroll.elapsed = e.FinishedAt.Sub(e.StartedAt)
	res.enroll.publishToRun = e.StartedAt.Sub(published)
	log.Info("enrollment finished", "enrolled", e.Enrolled, "skipped", e.Skipped, "took", res.enroll.elapsed.Round(time.Millisecond))

	// Until Temporal shows every run closed.
	q := fmt.Sprintf("%s = '%s' AND ExecutionStatus != 'Running'", workflows.SAJourneyID.GetName(), j.ID)
	if at, err := waitClosed(ctx, tc, o.TemporalNamespace, q, e.Enrolled, time.Now().Add(o.Timeout), log); err != nil {
		log.Warn("cannot tell when the runs closed", "error", err)
	} else {
		res.enroll.allClosed = at.Sub(e.StartedAt)
		log.Info("all runs closed", "took", res.enroll.allClosed.Round(time.Millisecond))
	}

	res.enroll.cpu = cpu()
	if err := checkEnrolledOnce(ctx, st, tc, o.TemporalNamespace, res.workspace, j.ID, e.Enrolled); err != nil {
		return err
	}
	log.Info("every member entered once", "runs", e.Enrolled)

	// Where the enrollment's time went, and one run's history.
	var err error
	if res.enroll.pages, res.enroll.starts, err = enrollmentActivities(ctx, tc, pub.EnrollmentID); err != nil {
		log.Warn("cannot read the enrollment's history", "error", err)
	}
	var runs struct {
		Items []benchRun `json:"items"`
	}
	if err := h.call(ctx, "GET", jpath+"/runs?limit=1", h.secret, nil, &runs); err == nil && len(runs.Items) > 0 {
		res.enroll.lastEntered = runs.Items[0].StartedAt.Sub(e.StartedAt)
		res.enroll.history, _ = summarizeHistory(ctx, tc, runs.Items[0].WorkflowID, runs.Items[0].RunID, "", time.Time{})
	}
	return nil
}

// checkEnrolledOnce verifies the enrollment's effect: Herald recorded one
// run per member, each member once, and Temporal holds exactly as many
// workflows of the journey.
func checkEnrolledOnce(ctx context.Context, st *schema.Store, tc client.Client, namespace, workspaceID, journeyID string, enrolled int64) error {
	var runs, customers int64
	if err := st.Pool().QueryRow(ctx, `SELECT count(*), count(DISTINCT customer_id) FROM runs WHERE workspace_id = $1 AND journey_id = $2`,
		workspaceID, journeyID).Scan(&runs, &customers); err != nil {
		return fmt.Errorf("count the journey's runs: %w", err)
	}
	q := fmt.Sprintf("%s = '%s'", workflows.SAJourneyID.GetName(), journeyID)
	r, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: q})
	if err != nil {
		return fmt.Errorf("count the journey's workflows: %w", err)
	}
	if runs != enrolled || customers != enrolled || r.GetCount() != enrolled {
		return fmt.Errorf("enrolled %d members, but Postgres holds %d runs of %d customers and Temporal %d workflows of the journey", enrolled, runs, customers, r.GetCount())
	}
	return nil
}

// activityTotals sums one activity type over an enrollment's runs.
type activityTotals struct {
	n       int
	running time.Duration // started → completed, summed
	waiting time.Duration // scheduled → started, summed
}

// enrollmentActivities reads the enrollment's history back through its
// continue-as-new chain and sums its EnrollPage and StartEnrollment activities.
func enrollmentActivities(ctx context.Context, tc client.Client, id string) (pages, starts activityTotals, err error) {
	runID := ""
	for hops := 0; hops < 1000; hops++ {
		scheduled := map[int64]string{}
		scheduledAt := map[int64]time.Time{}
		startedAt := map[int64]time.Time{}
		prev := ""
		it := tc.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				return pages, starts, fmt.Errorf("history of %s: %w", id, err)
			}
			at := e.GetEventTime().AsTime()
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				prev = e.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				scheduled[e.GetEventId()] = e.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
				scheduledAt[e.GetEventId()] = at
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				sid := e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()
				startedAt[sid] = at
				t := activityTotalsFor(scheduled[sid], &pages, &starts)
				if t != nil {
					t.waiting += at.Sub(scheduledAt[sid])
				}
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				sid := e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
				if t := activityTotalsFor(scheduled[sid], &pages, &starts); t != nil {
					t.n++
					t.running += at.Sub(startedAt[sid])
				}
			}
		}
		if prev == "" {
			return pages, starts, nil
		}
		runID = prev
	}
	return pages, starts, errors.New("the enrollment continued as new too often to read back")
}

func activityTotalsFor(name string, pages, starts *activityTotals) *activityTotals {
	switch name {
	case workflows.EnrollPageActivity:
		return pages
	case workflows.StartEnrollmentActivity:
		return starts
	}
	return nil
}

// waitClosed polls Temporal's visibility until query counts want
// workflows, and returns when it saw them.
func waitClosed(ctx context.Context, tc client.Client, namespace, query string, want int64, deadline time.Time, log *slog.Logger) (time.Time, error) {
	lastLog := time.Now()
	for {
		r, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			return time.Time{}, fmt.Errorf("count workflows (%s): %w", query, err)
		}
		if r.GetCount() >= want {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d of %d workflows closed before the deadline", r.GetCount(), want)
		}
		if time.Since(lastLog) > 10*time.Second {
			log.Info("waiting for workflows to close", "closed", r.GetCount(), "of", want)
			lastLog = time.Now()
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}

// benchBareSignalWithStart runs K SignalWithStart calls of the do-nothing
// workflow, benchEnrollLanes in flight, on the bench's own worker.
func benchBareSignalWithStart(ctx context.Context, o benchSegmentsOptions, tc client.Client, herald *processCPU, res *segmentsResult, log *slog.Logger) error {
	w := worker.New(tc, benchSegmentsTaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(benchSignalledWorkflow, workflow.RegisterOptions{Name: benchSignalledWorkflowName})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start the bench worker on task queue %s: %w", benchSegmentsTaskQueue, err)
	}
	defer w.Stop()
	n := o.Members
	prefix := "bench-segments/" + res.tag + "/"
	res.bare.n = n
	res.bare.calls = make([]time.Duration, n)
	log.Info("bare SignalWithStart loop", "workflows", n, "in_flight", benchEnrollLanes, "task_queue", benchSegmentsTaskQueue)
	props := map[string]any{"segment_id": "bench", "existing": true}
	cpu := herald.cpuMeter(ctx)
	first := time.Now()
	err := forEach(ctx, n, benchEnrollLanes, func(ctx context.Context, i int) error {
		id := fmt.Sprintf("%s%d", prefix, i)
		t0 := time.Now()
		_, err := tc.SignalWithStartWorkflow(ctx, id, workflows.SignalEvent,
			workflows.Event{ID: id, Name: schema.EventSegmentEntered, Time: t0.UTC(), Properties: props},
			client.StartWorkflowOptions{ID: id, TaskQueue: benchSegmentsTaskQueue}, benchSignalledWorkflowName)
		res.bare.calls[i] = time.Since(t0)
		if err != nil {
			return fmt.Errorf("signal-start %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.bare.elapsed = time.Since(first)
	log.Info("bare calls done", "took", res.bare.elapsed.Round(time.Millisecond))
	q := fmt.Sprintf("TaskQueue = '%s' AND StartTime >= '%s' AND ExecutionStatus != 'Running'",
		benchSegmentsTaskQueue, first.Add(-time.Second).UTC().Format(time.RFC3339Nano))
	if !o.BareClosed {
		log.Info("not waiting for the bare workflows to close (--bare-closed=false)")
	} else if at, err := waitClosed(ctx, tc, o.TemporalNamespace, q, int64(n), first.Add(o.Timeout), log); err != nil {
		log.Warn("cannot tell when the bare workflows closed", "error", err)
	} else {
		res.bare.allClosed = at.Sub(first)
		log.Info("all bare workflows closed", "took", res.bare.allClosed.Round(time.Millisecond))
	}
	res.bare.cpu = cpu()
	res.bare.history, _ = summarizeHistory(ctx, tc, prefix+"0", "", "", time.Time{})
	return nil
}

// processCPU reads process_cpu_seconds_total from Herald's /metrics: with
// herald dev that process also runs the embedded Temporal server and
// broker (Postgres runs as its own processes).
type processCPU struct {
	addr string
	http *http.Client
}

func (p *processCPU) read(ctx context.Context) (float64, error) {
	return scrapeMetrics(ctx, p.http, p.addr, func(r io.Reader) (float64, error) { return parseMetric(r, "process_cpu_seconds_total") })
}

// cpuMeter starts a measure: the function it returns gives the CPU seconds
// used since, or -1 when the metrics cannot be read.
func (p *processCPU) cpuMeter(ctx context.Context) func() float64 {
	before, err := p.read(ctx)
	return func() float64 {
		after, err2 := p.read(ctx)
		if err != nil || err2 != nil {
			return -1
		}
		return after - before
	}
}

// parseMetric reads an unlabelled sample of the Prometheus text format.
func parseMetric(r io.Reader, name string) (float64, error) {
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in the metrics", name)
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (r *segmentsResult) print(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "\nherald bench segments: %d customers, %d events (%d each), workspace %s (tag %s)\n",
		o.Customers, o.Customers*o.EventsPer, o.EventsPer, r.workspace, r.tag)
	fmt.Fprintf(w, "machine: %s (bench, Herald, Postgres and Temporal on the same machine)\n", r.machine)
	if r.reused {
		fmt.Fprintf(w, "seeding: none (the workspace of an earlier run)\n\n")
	} else {
		fmt.Fprintf(w, "seeding: %s (INSERT … SELECT generate_series, then VACUUM ANALYZE; not part of any figure)\n\n", fmtSec(r.seeded))
	}

	r.printPreviews(w)
	r.printEnrollment(w)
	fmt.Fprintln(w)
}

func (r *segmentsResult) printPreviews(w io.Writer) {
	if len(r.previews) == 0 {
		return
	}
	fmt.Fprintf(w, "segment preview, count only (PreviewSegment, sample 0): 1 warm-up + %d timed runs each\n", r.opts.Repeat)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "condition\tmembers\tmin\tmedian\tunder 1 s\twith a sample of %d: median\tplan: top node; scans\tindex-backed\n", benchPreviewSample)
	for _, p := range r.previews {
		med := percentile(p.times, 50)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s; %s\t%s\n", p.name, p.count, fmtMS(slices.Min(p.times)), fmtMS(med),
			yesNo(med < benchPreviewGoal), fmtMS(percentile(p.sampled, 50)), p.top, strings.Join(p.scans, ", "), yesNo(p.indexBacked()))
	}
	_ = tw.Flush()
}

func (r *segmentsResult) printEnrollment(w io.Writer) {
	o, e, b := r.opts, r.enroll, r.bare
	if e.enrolled == 0 && b.n == 0 {
		return
	}
	herald, bare := rate(e.enrolled, e.elapsed), rate(int64(b.n), b.elapsed)
	fmt.Fprintf(w, "\nenrollment of a %d-member segment (include_existing, entry once, one exit node) vs a bare SignalWithStart loop, %d in flight each\n",
		o.Members, benchEnrollLanes)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tmembers\ttime\tper second\t")
	if e.enrolled > 0 {
		fmt.Fprintf(tw, "Herald enrollment: started_at → finished_at\t%d\t%s\t%.0f\t\n", e.enrolled, fmtSec(e.elapsed), herald)
	}
	if e.lastEntered > 0 {
		fmt.Fprintf(tw, "  … → last member entered (newest run recorded)\t%d\t%s\t%.0f\t\n", e.enrolled, fmtSec(e.lastEntered), rate(e.enrolled, e.lastEntered))
	}
	if e.allClosed > 0 {
		fmt.Fprintf(tw, "  … → every run closed\t%d\t%s\t%.0f\t\n", e.enrolled, fmtSec(e.allClosed), rate(e.enrolled, e.allClosed))
	}
	if b.n > 0 {
		fmt.Fprintf(tw, "bare: SignalWithStart calls answered\t%d\t%s\t%.0f\t\n", b.n, fmtSec(b.elapsed), bare)
	}
	if b.allClosed > 0 {
		fmt.Fprintf(tw, "  … → every workflow closed\t%d\t%s\t%.0f\t\n", b.n, fmtSec(b.allClosed), rate(int64(b.n), b.allClosed))
	}
	_ = tw.Flush()
	if e.enrolled > 0 && b.n > 0 { // both sides: the ratios
		x := ratio(herald, bare)
		fmt.Fprintf(w, "\nenrollment rate Herald/bare: %s (goal ≥ %.1f: %s)\n", fmtRatio(x), benchThroughputGoal, goalWord(x, benchThroughputGoal))
		if e.lastEntered > 0 {
			y := ratio(rate(e.enrolled, e.lastEntered), bare)
			fmt.Fprintf(w, "entry rate (to the last member entered) Herald/bare: %s (goal ≥ %.1f: %s)\n", fmtRatio(y), benchThroughputGoal, goalWord(y, benchThroughputGoal))
		}
		if e.allClosed > 0 && b.allClosed > 0 {
			fmt.Fprintf(w, "until every run closed, Herald/bare: %s\n", fmtRatio(ratio(rate(e.enrolled, e.allClosed), rate(int64(b.n), b.allClosed))))
		}
	}

	if e.enrolled == 0 {
		return
	}
	fmt.Fprintln(w, "\nwhere the enrollment's time goes")
	fmt.Fprintf(w, "  creating the segment (members recorded silently)  %s\n", fmtSec(e.segmentCreate))
	fmt.Fprintf(w, "  publish answered → enrollment started             %s\n", fmtMS(e.publishToRun))
	if e.cpu >= 0 && b.cpu >= 0 && e.allClosed > 0 && b.allClosed > 0 {
		fmt.Fprintf(w, "  herald process CPU (Herald + embedded Temporal and broker), until every run closed: enrollment %.0f s (%.2f cores), bare %.0f s (%.2f cores)\n",
			e.cpu, e.cpu/e.allClosed.Seconds(), b.cpu, b.cpu/b.allClosed.Seconds())
	}
	if e.pages.n > 0 {
		fmt.Fprintf(w, "  StartEnrollment (counts the segment)              %s\n", fmtMS(e.starts.running))
		fmt.Fprintf(w, "  EnrollPage ×%d: running %s in all (mean %s), waiting for a worker %s in all\n", e.pages.n,
			fmtSec(e.pages.running), fmtMS(e.pages.running/time.Duration(e.pages.n)), fmtSec(e.pages.waiting))
		fmt.Fprintf(w, "  per member in a lane: Herald %s (lanes × page time / members), bare call p50 %s p99 %s\n",
			fmtMS(time.Duration(benchEnrollLanes)*e.pages.running/time.Duration(max(e.enrolled+e.skipped, 1))),
			fmtMS(percentile(b.calls, 50)), fmtMS(percentile(b.calls, 99)))
	}
	if e.history.events > 0 && b.history.events > 0 {
		fmt.Fprintf(w, "\nhistory of one run, events by type:\n  Herald (%d): %s\n  bare (%d):   %s\n",
			e.history.events, fmtTypes(e.history.types), b.history.events, fmtTypes(b.history.types))
	}
}
