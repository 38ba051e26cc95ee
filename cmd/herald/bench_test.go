package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/heraldhq/herald/workflows"
)

func TestBenchCommandLine(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"bench"}, env(nil), &out, &errOut))
	require.Contains(t, errOut.String(), "herald bench journeys")

	errOut.Reset()
	require.Equal(t, 2, run([]string{"bench", "nope"}, env(nil), &out, &errOut))
	require.Contains(t, errOut.String(), `unknown benchmark "nope"`)

	errOut.Reset()
	require.Equal(t, 2, run([]string{"bench", "journeys", "--customers", "0"}, env(nil), &out, &errOut))
	require.Contains(t, errOut.String(), "--customers")

	// Without a running Herald: a clear error, exit 1.
	errOut.Reset()
	missing := filepath.Join(t.TempDir(), "dev-credentials.json")
	require.Equal(t, 1, run([]string{"bench", "journeys", "--credentials", missing}, env(nil), &out, &errOut))
	require.Contains(t, errOut.String(), "start `herald dev` first")

	creds := filepath.Join(t.TempDir(), "dev-credentials.json")
	require.NoError(t, os.WriteFile(creds, []byte(`{"api_url":"http://127.0.0.1:1","write_key":"hw_x","secret_key":"hs_x"}`), 0o600))
	errOut.Reset()
	require.Equal(t, 1, run([]string{"bench", "journeys", "--credentials", creds}, env(nil), &out, &errOut))
	require.Contains(t, errOut.String(), "no Herald answers at http://127.0.0.1:1")

	out.Reset()
	require.Equal(t, 0, run(nil, env(nil), &out, io.Discard))
	require.Contains(t, out.String(), "  bench")
}

func TestBenchFlagDefaultsFollowHeraldEnvironment(t *testing.T) {
	o, err := parseBenchFlags(nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, benchOptions{Customers: 200, Concurrency: 16, Credentials: ".herald/dev-credentials.json",
		TemporalAddress: "127.0.0.1:7233", TemporalNamespace: "default", MetricsAddr: "127.0.0.1:9464", Timeout: 5 * time.Minute}, o)

	o, err = parseBenchFlags([]string{"--customers", "1000", "--timeout", "1m"}, env(map[string]string{
		"HERALD_DATA_DIR": "/tmp/d", "HERALD_TEMPORAL_ADDRESS": "t:1", "HERALD_METRICS_ADDR": "m:2",
	}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 1000, o.Customers)
	require.Equal(t, time.Minute, o.Timeout)
	require.Equal(t, "/tmp/d/dev-credentials.json", o.Credentials)
	require.Equal(t, "t:1", o.TemporalAddress)
	require.Equal(t, "m:2", o.MetricsAddr)

	_, err = parseBenchFlags([]string{"extra"}, env(nil), io.Discard)
	require.ErrorContains(t, err, "unexpected argument")
}

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, 50*time.Millisecond, percentile(ds, 50))
	require.Equal(t, 99*time.Millisecond, percentile(ds, 99))
	require.Equal(t, 100*time.Millisecond, percentile(ds, 100))
	require.Equal(t, 100*time.Millisecond, ds[0], "the input is not reordered")
	require.Equal(t, time.Duration(0), percentile(nil, 50))
	require.Equal(t, 7*time.Millisecond, percentile([]time.Duration{7 * time.Millisecond}, 99))
}

// The bench's wait for ingest scrapes /metrics, which costs the process it
// measures CPU: it waits half the time the rate says is left, never less
// than minPoll (how late it may see the end) nor more than maxPoll.
func TestNextPollHalvesTheTimeLeft(t *testing.T) {
	for _, c := range []struct {
		left, rate float64
		want       time.Duration
	}{
		{left: 6000, rate: 20000, want: 150 * time.Millisecond}, // 0.3 s left
		{left: 40000, rate: 20000, want: maxPoll},               // 2 s left: never above maxPoll
		{left: 1000, rate: 20000, want: minPoll},                // 50 ms left: never below minPoll
		{left: 1e300, rate: 1e-300, want: maxPoll},              // beyond a Duration: no overflow
		{left: 5000, rate: 0, want: minPoll},                    // no rate yet, or a stall
		{left: 5000, rate: -3, want: minPoll},                   // a counter that went back (a restart)
		{left: 0, rate: 20000, want: minPoll},                   // nothing left
	} {
		require.Equal(t, c.want, nextPoll(c.left, c.rate), "left %v at %v/s", c.left, c.rate)
	}
}

func TestParseIngestCounterSumsOutcomes(t *testing.T) {
	n, err := parseIngestCounter(strings.NewReader(`# HELP herald_ingest_events_total Events consumed.
# TYPE herald_ingest_events_total counter
herald_ingest_events_total{outcome="applied"} 1200
herald_ingest_events_total{outcome="duplicate"} 3
herald_ingest_events_total_other 99
herald_ingest_lag_messages{partition="0"} 5
`))
	require.NoError(t, err)
	require.Equal(t, 1203.0, n)
	n, err = parseIngestCounter(strings.NewReader("go_goroutines 12\n"))
	require.NoError(t, err)
	require.Equal(t, 0.0, n, "no event consumed yet")
}

func TestIngestRunsPrintTheirMedians(t *testing.T) {
	opts := benchIngestOptions{Events: 1000, Customers: 100, BatchSize: 100, Concurrency: 8, Runs: 3}
	result := func(applied time.Duration, heraldCPU, pgCPU float64) *ingestResult {
		return &ingestResult{opts: opts, machine: machineInfo{CPUs: 2}, posted: applied, applied: applied, lag: []time.Duration{time.Millisecond},
			raw: 100 * time.Millisecond, rawRows: 1000, // 10,000/s
			heraldCPU: pathCPU{herald: heraldCPU, postgres: pgCPU, bench: 0.001}, rawCPU: pathCPU{herald: 0, postgres: 0.01, bench: 0.01}}
	}
	// 1000 events in 0.5 s, 0.25 s, 0.2 s: 2,000/s, 4,000/s, 5,000/s.
	rs := ingestRuns{result(500*time.Millisecond, 0.030, 0.060), result(250*time.Millisecond, 0.040, -1), result(200*time.Millisecond, 0.035, 0.070)}
	var out bytes.Buffer
	rs.print(&out)
	require.Equal(t, 3, strings.Count(out.String(), "throughput Herald/raw: "), "each run is printed")
	require.Contains(t, out.String(), "over 3 runs: throughput Herald/raw 0.20–0.50, median 0.40 (goal ≥ 0.5: not met)")
	require.NotContains(t, out.String(), "warm-up")
	require.Contains(t, out.String(), "median CPU per event, Herald path: herald process 35.0 µs, Postgres 65.0 µs",
		"a run without the Postgres figure is left out of its median")
	// First run: 0.091 CPU seconds in 0.5 s; raw: 0.02 in 0.1 s.
	require.Contains(t, out.String(), "cores busy (herald, Postgres and this process): Herald path 0.18, raw path 0.20 of 2")
	require.Contains(t, out.String(), "Herald path n/a, raw path 0.20 of 2", "a path without every figure has none")

	// A warm-up run (1,000/s, 10 times the CPU) is printed and left out.
	warm := result(time.Second, 0.300, 0.600)
	warm.warmup = true
	out.Reset()
	append(ingestRuns{warm}, rs...).print(&out)
	require.Equal(t, 4, strings.Count(out.String(), "throughput Herald/raw: "), "the warm-up run is printed too")
	require.Equal(t, 1, strings.Count(out.String(), "warm-up run: left out of the medians"))
	require.Contains(t, out.String(), "throughput Herald/raw: 0.10")
	require.Contains(t, out.String(), "over 3 runs after 1 warm-up run: throughput Herald/raw 0.20–0.50, median 0.40 (goal ≥ 0.5: not met)")
	require.Contains(t, out.String(), "median CPU per event, Herald path: herald process 35.0 µs, Postgres 65.0 µs")
	out.Reset()
	ingestRuns{warm, rs[0]}.print(&out)
	require.NotContains(t, out.String(), "runs: throughput", "one measured run prints no summary")

	out.Reset()
	rs[:1].print(&out)
	require.NotContains(t, out.String(), "runs: throughput", "one run prints no summary")
	require.True(t, math.IsNaN(median(nil)))
	require.Equal(t, 2.5, median([]float64{4, 1, math.NaN(), 2, 3}))

	var errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"bench", "ingest", "--runs", "0"}, env(nil), io.Discard, &errOut))
	require.Contains(t, errOut.String(), "--runs must be from 1 to 100")
	for _, v := range []string{"-1", "11"} {
		errOut.Reset()
		require.Equal(t, 2, run([]string{"bench", "ingest", "--warmup", v}, env(nil), io.Discard, &errOut))
		require.Contains(t, errOut.String(), "--warmup must be from 0 to 10")
	}
}

func TestSampleIndexesSpreadOverTheRuns(t *testing.T) {
	require.Equal(t, []int{0, 200, 400, 600, 800}, sampleIndexes(1000, 5))
	require.Equal(t, []int{0, 1}, sampleIndexes(2, 5))
}

// TestListAllPagesThroughTies: many items share a time; the API's "older
// than" cursor alone would lose the ones after a page boundary.
func TestListAllPagesThroughTies(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var items []benchRun
	for i := 0; i < 450; i++ {
		// Newest first, in runs of three sharing a microsecond.
		items = append(items, benchRun{WorkflowID: "wf" + strconv.Itoa(i), StartedAt: base.Add(-time.Duration(i/3) * time.Microsecond)})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "Bearer hs_x", r.Header.Get("Authorization"))
		require.Equal(t, "completed", r.URL.Query().Get("status"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		var page []benchRun
		for _, it := range items {
			if c := r.URL.Query().Get("cursor"); c != "" {
				before, err := time.Parse(time.RFC3339Nano, c)
				require.NoError(t, err)
				if !it.StartedAt.Before(before) {
					continue
				}
			}
			if len(page) < limit {
				page = append(page, it)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": page})
	}))
	defer srv.Close()
	h := &heraldAPI{base: srv.URL, secret: "hs_x", http: srv.Client()}
	got, err := listAll[benchRun](context.Background(), h, "/api/journeys/j/runs?status=completed",
		func(r benchRun) string { return r.WorkflowID }, func(r benchRun) time.Time { return r.StartedAt })
	require.NoError(t, err)
	require.Len(t, got, len(items))
}

func TestBenchBareWorkflowHasTheJourneyShape(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	e := s.NewTestWorkflowEnvironment()
	// The first workflow task can take over the default 1 s on a loaded
	// machine (a CI run failed on "didn't yield for over 1s").
	e.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	var mu sync.Mutex
	var steps []string
	e.RegisterActivityWithOptions(func(ctx context.Context, in workflows.BenchStepInput) error {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, fmt.Sprintf("%s@%s", in.Step, activity.GetInfo(ctx).WorkflowExecution.ID))
		return nil
	}, activity.RegisterOptions{Name: workflows.BenchStepActivity})
	e.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "bench/x/bare/0"})
	start := e.Now()
	e.ExecuteWorkflow(workflows.BenchBareWorkflow, workflows.BenchBareInput{Delay: time.Second})
	require.True(t, e.IsWorkflowCompleted())
	require.NoError(t, e.GetWorkflowError())
	require.Equal(t, []string{"one@bench/x/bare/0", "two@bench/x/bare/0"}, steps)
	require.GreaterOrEqual(t, e.Now().Sub(start), time.Second, "the timer sits between the steps")
}

// TestCallSendsPrebuiltBodiesAsTheyAre: a json.RawMessage body (built before
// a bench's clock starts) goes out byte for byte, not encoded again; other
// values are encoded.
func TestCallSendsPrebuiltBodiesAsTheyAre(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, string(b))
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	h := &heraldAPI{base: srv.URL, http: srv.Client()}
	raw := "{ \"batch\": [\n  {\"type\": \"track\"} ] }"
	require.NoError(t, h.call(context.Background(), "POST", "/v1/batch", "k", json.RawMessage(raw), nil))
	require.NoError(t, h.call(context.Background(), "POST", "/v1/batch", "k", map[string]int{"a": 1}, nil))
	require.Equal(t, []string{raw, `{"a":1}`}, got)
}

func TestRatiosAreCutNotRounded(t *testing.T) {
	for x, want := range map[float64]string{0.4982: "0.49", 0.5: "0.50", 0.51: "0.51", 0.29: "0.29", 1.0 / 3: "0.33", 2.0 / 3: "0.66", 0: "0.00"} {
		require.Equal(t, want, fmtRatio(x), "%v", x)
		require.Equal(t, x >= 0.5, goalWord(x, 0.5) == "met", "%v", x)
	}
	require.Equal(t, "–", fmtRatio(math.NaN()))
}
