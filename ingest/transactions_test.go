package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/ingest"
)

// transactional is a producer with transactions, as Kafka Streams, Flink
// or an outbox relay writes: murmur2 of the key, as Herald's producer.
func transactional(t *testing.T, brokers []string, id string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(id),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func inTransaction(t *testing.T, cl *kgo.Client, commit bool, key string, events ...map[string]any) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, cl.BeginTransaction())
	for _, ev := range events {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: mustJSON(ev)}).FirstErr())
	}
	end := kgo.TryAbort
	if commit {
		end = kgo.TryCommit
	}
	require.NoError(t, cl.EndTransaction(ctx, end))
}

// What a transactional producer aborted is not applied; what it committed
// is, once.
func TestAbortedTransactionsAreNotApplied(t *testing.T) {
	e := newEnv(t)
	ws := e.ws.ID
	cl := transactional(t, e.brokers, "herald-test-abort")
	key := ws + ":u-txn"
	ev := func(id, name string) map[string]any {
		return map[string]any{"type": "track", "messageId": id, "userId": "u-txn", "event": name, "workspaceId": ws}
	}
	inTransaction(t, cl, false, key, ev("aborted-1", "Order Paid"), ev("aborted-2", "Order Refunded"))
	inTransaction(t, cl, true, key, ev("committed", "Order Paid"))
	e.run(t)
	evs := e.storedEvents(t, "u-txn", 1)
	require.Equal(t, "committed", evs[0].MessageID)
	e.produce(t, key, ev("after", "After")) // applied after the committed one: nothing else is coming
	evs = e.storedEvents(t, "u-txn", 2)
	require.Equal(t, []string{"committed", "after"}, []string{evs[0].MessageID, evs[1].MessageID})
}

// A transaction's commit marker takes an offset no consumer is given: a
// partition whose last record is one is caught up, not one behind.
func TestLagIsZeroAfterATransactionsMarker(t *testing.T) {
	e := newEnv(t)
	ws := e.ws.ID
	cl := transactional(t, e.brokers, "herald-test-lag")
	inTransaction(t, cl, true, ws+":u-lag", map[string]any{"type": "track", "messageId": "lag-1", "userId": "u-lag", "event": "E", "workspaceId": ws})
	inTransaction(t, cl, false, ws+":u-lag", map[string]any{"type": "track", "messageId": "lag-2", "userId": "u-lag", "event": "E", "workspaceId": ws})
	reg := measuringConsumer(t, e)
	e.storedEvents(t, "u-lag", 1)
	gauges := func(name string) map[string]float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		out := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
		return out
	}
	require.Eventually(t, func() bool {
		lag := gauges("herald_ingest_lag_messages")
		if len(lag) != 3 {
			return false // every partition claimed and measured
		}
		for _, v := range lag {
			if v != 0 {
				return false
			}
		}
		for _, v := range gauges("herald_ingest_lag_seconds") {
			if v != 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "lag: %v", gauges("herald_ingest_lag_messages"))
}

// A fresh partition (no committed offset) that holds only an aborted
// transaction and its marker has nothing to apply: its lag reads 0, as it
// does when the group has a committed offset.
func TestLagIsZeroOnAFreshPartitionOfOnlyAnAbortedTransaction(t *testing.T) {
	e := newEnv(t)
	ws := e.ws.ID
	cl := transactional(t, e.brokers, "herald-fresh-abort")
	key := ws + ":u-abort"
	inTransaction(t, cl, false, key, map[string]any{"type": "track", "messageId": "a1", "userId": "u-abort", "event": "E", "workspaceId": ws})
	part := ingest.KeyPartition([]byte(key), 3)
	reg := measuringConsumer(t, e)
	require.Eventually(t, func() bool { return gauge(t, reg, "herald_ingest_lag_messages", part) >= 0 }, 20*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return gauge(t, reg, "herald_ingest_lag_messages", part) == 0 }, 10*time.Second, 100*time.Millisecond,
		"partition %d: only an aborted record and its marker", part)
}

// measuringConsumer runs a consumer that measures lag every 100 ms until
// the test ends, and returns its metrics.
func measuringConsumer(t *testing.T, e *env) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	cons := ingest.NewConsumer(ingest.ConsumerDeps{Brokers: e.brokers, Store: e.store, Metrics: reg,
		Topic: topic, DLQTopic: dlq, Group: "herald-ingest", LagInterval: 100 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return reg
}
