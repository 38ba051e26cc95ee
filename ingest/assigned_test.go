package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

// herald_ingest_assigned_partitions shows the partitions a process
// consumes now: all of them for a lone member, none once it stopped.
func TestAssignedPartitionsGauge(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	assigned := func() float64 { return assignedPartitions(t, reg) }
	ctx, cancel := context.WithCancel(context.Background())
	cons := ingest.NewConsumer(ingest.ConsumerDeps{Brokers: e.brokers, Store: e.store, Metrics: reg,
		Topic: topic, DLQTopic: dlq, Group: "herald-ingest"})
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	require.Eventually(t, func() bool { return assigned() == 3 }, 20*time.Second, 50*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, 0.0, assigned())
}

// assignedPartitions reads herald_ingest_assigned_partitions (-1 when absent).
func assignedPartitions(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() == "herald_ingest_assigned_partitions" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
