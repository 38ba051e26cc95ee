package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema/schematest"
)

// outcome reads herald_ingest_events_total{outcome=o} (0 when absent).
func outcome(t *testing.T, reg *prometheus.Registry, o string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != "herald_ingest_events_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == o {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// A stop while the broker does not answer ends Run within the shutdown
// timeout (HERALD_SHUTDOWN_TIMEOUT): leaving the group and closing the
// connections are abandoned, and what was not committed comes again.
func TestStopWithAHungBrokerEndsWithinTheShutdownTimeout(t *testing.T) {
	c, hang := hungCluster(t)
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(context.Background(), "A")
	require.NoError(t, err)
	p, err := ingest.NewProducer(c.ListenAddrs(), topic)
	require.NoError(t, err)
	defer func() { go p.Close() }() // would wait for the hung broker
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	const timeout = 2 * time.Second
	cons := ingest.NewConsumer(ingest.ConsumerDeps{Brokers: c.ListenAddrs(), Store: st, Metrics: reg,
		Topic: topic, DLQTopic: dlq, Group: "herald-ingest", LagInterval: 100 * time.Millisecond, ShutdownTimeout: timeout})
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	require.NoError(t, p.Produce(context.Background(), ingest.Message{Key: ws.ID + ":u1",
		Value: mustJSON(map[string]any{"type": "track", "messageId": "m1", "userId": "u1", "event": "E", "workspaceId": ws.ID})}))
	require.Eventually(t, func() bool { return outcome(t, reg, "applied") == 1 }, 20*time.Second, 50*time.Millisecond)
	hang()
	time.Sleep(time.Second)
	cancel() // SIGTERM
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(timeout + 8*time.Second): // a margin for a loaded machine
		t.Fatalf("Run had not returned %s after the stop (shutdown timeout %s)", timeout+8*time.Second, timeout)
	}
}
