package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBenchSegmentsFlags(t *testing.T) {
	o, err := parseBenchSegmentsFlags(nil, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, benchSegmentsOptions{Customers: 1_000_000, EventsPer: 10, Members: 100_000, Repeat: 5,
		Credentials: ".herald/dev-credentials.json", TemporalAddress: "127.0.0.1:7233", TemporalNamespace: "default",
		MetricsAddr: "127.0.0.1:9464", Timeout: 30 * time.Minute, BareClosed: true,
		Parts: map[string]bool{"previews": true, "enrollment": true, "bare": true}}, o)

	o, err = parseBenchSegmentsFlags([]string{"--customers", "20000", "--members", "2000", "--events-per-customer", "0"},
		env(map[string]string{"HERALD_DATABASE_URL": "postgres://127.0.0.1:5/h"}), io.Discard)
	require.NoError(t, err)
	require.Equal(t, 20000, o.Customers)
	require.Equal(t, 2000, o.Members)
	require.Equal(t, 0, o.EventsPer)
	require.Equal(t, "postgres://127.0.0.1:5/h", o.DatabaseURL)

	_, err = parseBenchSegmentsFlags([]string{"--customers", "10", "--members", "11"}, env(nil), io.Discard)
	require.ErrorContains(t, err, "--members")
	_, err = parseBenchSegmentsFlags([]string{"--repeat", "0"}, env(nil), io.Discard)
	require.ErrorContains(t, err, "--repeat")
	o, err = parseBenchSegmentsFlags([]string{"--parts", "bare", "--bare-closed=false"}, env(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"bare": true}, o.Parts)
	require.False(t, o.BareClosed)
	_, err = parseBenchSegmentsFlags([]string{"--parts", "bare,seed"}, env(nil), io.Discard)
	require.ErrorContains(t, err, `unknown part "seed"`)

	var out, errOut bytes.Buffer
	require.Equal(t, 2, run([]string{"bench", "segments", "--customers", "0"}, env(nil), &out, &errOut))
	require.Contains(t, errOut.String(), "--customers")
	out.Reset()
	require.Equal(t, 0, run([]string{"bench", "help"}, env(nil), &out, io.Discard))
	require.Contains(t, out.String(), "segments  preview counts")
}

func TestBenchSegmentsRefusesNonLoopbackTargets(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "postgres://herald@127.0.0.1:39999/herald?sslmode=disable",
		"127.0.0.1:7233", "localhost:7233", "http://[::1]:80", "127.0.0.2:1"} {
		require.NoError(t, checkLoopback("x", ok), ok)
	}
	for _, bad := range []string{"http://10.0.0.5:8080", "postgres://db.example.com/herald", "temporal:7233", "0.0.0.0:7233", ""} {
		require.Error(t, checkLoopback("x", bad), bad)
	}
}

func TestBenchSegmentsPlanSummaryNamesTheScans(t *testing.T) {
	plan := `[{"Plan": {"Node Type": "Aggregate", "Plans": [
		{"Node Type": "Hash Join", "Plans": [
			{"Node Type": "Seq Scan", "Relation Name": "customers"},
			{"Node Type": "Hash", "Plans": [{"Node Type": "Index Only Scan", "Index Name": "events_name_idx", "Relation Name": "events"}]}]},
		{"Node Type": "Bitmap Heap Scan", "Relation Name": "customers", "Plans": [
			{"Node Type": "Bitmap Index Scan", "Index Name": "customers_attributes_idx"}]}]}}]`
	top, scans, err := planSummary([]byte(plan))
	require.NoError(t, err)
	require.Equal(t, "Aggregate", top)
	require.Equal(t, []string{"Seq Scan customers", "Index Only Scan events_name_idx", "Bitmap Index Scan customers_attributes_idx"}, scans)
	require.False(t, previewResult{scans: scans}.indexBacked(), "a whole table is read")
	require.True(t, previewResult{scans: scans[1:]}.indexBacked())
	require.False(t, previewResult{}.indexBacked())

	_, _, err = planSummary([]byte(`[]`))
	require.Error(t, err)
}

func TestBenchSegmentsResultPrintsRatioAndGoals(t *testing.T) {
	r := &segmentsResult{opts: benchSegmentsOptions{Customers: 1000, EventsPer: 10, Members: 100, Repeat: 3}, tag: "t", workspace: "ws_x",
		previews: []previewResult{{name: "plan = pro", count: 100, top: "Aggregate", scans: []string{"Bitmap Index Scan customers_attributes_idx"},
			times: []time.Duration{3 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}}},
		enroll: enrollResult{enrolled: 100, elapsed: 2 * time.Second, pages: activityTotals{n: 1, running: 1900 * time.Millisecond}},
		bare:   bareStartResult{n: 100, elapsed: 1600 * time.Millisecond, calls: []time.Duration{time.Millisecond}},
	}
	var out bytes.Buffer
	r.print(&out)
	s := out.String()
	require.Contains(t, s, "2.0 ms  3.0 ms  yes")
	require.Contains(t, s, "enrollment rate Herald/bare: 0.80 (goal ≥ 0.8: met)")
	require.Contains(t, s, "EnrollPage ×1")
	require.True(t, strings.Contains(s, "50") && strings.Contains(s, "62"), s)

	// One side only (--parts bare): its rows, no ratio, no preview table.
	r.previews, r.enroll = nil, enrollResult{}
	out.Reset()
	r.print(&out)
	s = out.String()
	require.Contains(t, s, "bare: SignalWithStart calls answered")
	require.NotContains(t, s, "Herald enrollment")
	require.NotContains(t, s, "Herald/bare")
	require.NotContains(t, s, "segment preview")
}

func TestBenchSegmentsParseMetricReadsAnUnlabelledSample(t *testing.T) {
	v, err := parseMetric(strings.NewReader("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total_x 9\nprocess_cpu_seconds_total 12.5\n"),
		"process_cpu_seconds_total")
	require.NoError(t, err)
	require.Equal(t, 12.5, v)
	_, err = parseMetric(strings.NewReader("go_goroutines 3\n"), "process_cpu_seconds_total")
	require.Error(t, err)
}
