package main

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// temporalMetrics exposes the Temporal SDK's metrics through Prometheus.
// A metric's label names are fixed the first time it is seen; later tag
// sets are mapped onto them (missing labels empty, extra ones dropped), so
// the registry never sees one name with two label sets.
type temporalMetrics struct {
	reg  prometheus.Registerer
	tags map[string]string
	m    *metricSet
}

type metricSet struct {
	mu         sync.Mutex
	counters   map[string]*prometheus.CounterVec
	gauges     map[string]*prometheus.GaugeVec
	histograms map[string]*prometheus.HistogramVec
	labels     map[string][]string
}

func newTemporalMetrics(reg prometheus.Registerer) client.MetricsHandler {
	return &temporalMetrics{reg: reg, tags: map[string]string{}, m: &metricSet{
		counters: map[string]*prometheus.CounterVec{}, gauges: map[string]*prometheus.GaugeVec{},
		histograms: map[string]*prometheus.HistogramVec{}, labels: map[string][]string{},
	}}
}

func (t *temporalMetrics) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(t.tags)+len(tags))
	for k, v := range t.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &temporalMetrics{reg: t.reg, tags: merged, m: t.m}
}

func promName(name string) string {
	return "temporal_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.TrimPrefix(name, "temporal_"))
}

// labelsFor returns the metric's fixed label names (fixing them now if new)
// and the values of t's tags for them. The caller holds the lock.
func (t *temporalMetrics) labelsFor(name string) ([]string, []string) {
	names, ok := t.m.labels[name]
	if !ok {
		for k := range t.tags {
			names = append(names, k)
		}
		sort.Strings(names)
		t.m.labels[name] = names
	}
	values := make([]string, len(names))
	for i, n := range names {
		values[i] = t.tags[n]
	}
	return names, values
}

func (t *temporalMetrics) Counter(name string) client.MetricsCounter {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	names, values := t.labelsFor(name)
	vec, ok := t.m.counters[name]
	if !ok {
		vec = prometheus.NewCounterVec(prometheus.CounterOpts{Name: promName(name), Help: "Temporal SDK " + name}, names)
		if t.reg.Register(vec) != nil {
			return nopMetric{}
		}
		t.m.counters[name] = vec
	}
	c := vec.WithLabelValues(values...)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

func (t *temporalMetrics) Gauge(name string) client.MetricsGauge {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	names, values := t.labelsFor(name)
	vec, ok := t.m.gauges[name]
	if !ok {
		vec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: promName(name), Help: "Temporal SDK " + name}, names)
		if t.reg.Register(vec) != nil {
			return nopMetric{}
		}
		t.m.gauges[name] = vec
	}
	g := vec.WithLabelValues(values...)
	return gaugeFunc(g.Set)
}

func (t *temporalMetrics) Timer(name string) client.MetricsTimer {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	names, values := t.labelsFor(name)
	vec, ok := t.m.histograms[name]
	if !ok {
		vec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: promName(name) + "_seconds", Help: "Temporal SDK " + name,
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14)}, names)
		if t.reg.Register(vec) != nil {
			return nopMetric{}
		}
		t.m.histograms[name] = vec
	}
	h := vec.WithLabelValues(values...)
	return timerFunc(func(d time.Duration) { h.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

type nopMetric struct{}

func (nopMetric) Inc(int64)            {}
func (nopMetric) Update(float64)       {}
func (nopMetric) Record(time.Duration) {}

// waitReady polls url until it answers 200 or ctx ends.
func waitReady(ctx context.Context, url string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
