package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

// gatedRouter holds every Route until open is closed or its context ends
// (Temporal hung, then back).
type gatedRouter struct{ open chan struct{} }

func (r gatedRouter) Route(ctx context.Context, _ []ingest.Applied) error {
	select {
	case <-r.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A batch abandoned part-way (a rebalance while Temporal hangs) and
// delivered again is counted once: its poison record is dead-lettered
// once in herald_ingest_events_total (though parked again), its misrouted
// event counted once, and its new event counted applied — not duplicate,
// though the abandoned attempt stored it — by the process that did both.
func TestRedeliveredBatchIsCountedOnce(t *testing.T) {
	e := newEnv(t)
	ws := e.ws.ID
	key := ws + ":other" // the event's own key is ws:u1: misrouted
	require.NoError(t, e.producer.Produce(context.Background(), ingest.Message{Key: key, Value: []byte("not json")}))
	e.produce(t, key, map[string]any{"type": "track", "messageId": "new-1", "userId": "u1", "event": "E", "workspaceId": ws})

	temporal := gatedRouter{open: make(chan struct{})}
	reg1, cancel1, done1 := startMember(e, temporal)
	defer func() { cancel1(); <-done1 }()
	e.storedEvents(t, "u1", 1) // stored; routing hangs
	readAll(t, e.client, dlq, 1)

	// A second member takes part of the partitions (the batch of the first
	// is abandoned), then stops: the first gets them all back.
	reg2, cancel2, done2 := startMember(e, gatedRouter{open: make(chan struct{})})
	require.Eventually(t, func() bool { return assignedPartitions(t, reg2) > 0 }, 60*time.Second, 50*time.Millisecond,
		"the second member joined")
	cancel2()
	require.NoError(t, <-done2)
	close(temporal.open)
	require.Eventually(t, func() bool {
		return outcome(t, reg1, "duplicate")+outcome(t, reg1, "applied") == 1
	}, 60*time.Second, 50*time.Millisecond)

	letters := readAll(t, e.client, dlq, 3)
	require.GreaterOrEqual(t, len(letters), 2, "the poison record was parked by each attempt")
	for _, name := range []string{"applied", "duplicate", "dead_lettered"} {
		require.Zero(t, outcome(t, reg2, name), "the second member finished no batch: %s", name)
	}
	require.Zero(t, counter(t, reg2, "herald_ingest_misrouted_events_total"))
	require.Equal(t, 1.0, outcome(t, reg1, "dead_lettered"), "one poison record")
	require.Equal(t, 1.0, counter(t, reg1, "herald_ingest_misrouted_events_total"), "one misrouted event")
	require.Equal(t, 1.0, outcome(t, reg1, "applied"), "one new event")
	require.Zero(t, outcome(t, reg1, "duplicate"))
}
