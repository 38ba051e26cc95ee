package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

// An event stored, then erased with its customer (GDPR erasure), is not
// applied again when its record is delivered again (its batch was
// abandoned before its offset was committed: a rebalance, a crash, a
// stop): it was applied once already, and applying it again would bring
// the erased person back with the personal data of the event.
func TestEventErasedBeforeItsRedeliveryIsNotAppliedAgain(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ws := e.ws.ID
	e.produce(t, ws+":u1", map[string]any{"type": "identify", "messageId": "id-1", "userId": "u1", "anonymousId": "a1",
		"traits": map[string]any{"email": "ada@example.com", "name": "Ada"}, "workspaceId": ws})

	// The first member stores the event; its routing hangs (Temporal slow).
	hung := gatedRouter{open: make(chan struct{})}
	defer close(hung.open)
	_, cancel1, done1 := startMember(e, hung)
	stored := e.storedEvents(t, "u1", 1)
	require.Equal(t, "id-1", stored[0].MessageID)
	cust, err := e.store.FindCustomer(ctx, ws, "u1")
	require.NoError(t, err)

	// The customer is erased meanwhile.
	_, err = e.store.EraseCustomer(ctx, ws, cust.ID)
	require.NoError(t, err)

	// The first member stops before its batch was routed (a deploy, a
	// rebalance): the offset was never committed, and the next member
	// gets the record again.
	cancel1()
	require.NoError(t, <-done1)
	_, cancel2, done2 := startMember(e, nil)
	defer func() { cancel2(); <-done2 }()

	// Let the second member catch up: a later event on the same key
	// (same partition), of an identity nobody else has.
	e.produce(t, ws+":u1", map[string]any{"type": "track", "messageId": "later-1", "userId": "zz", "event": "E", "workspaceId": ws})
	e.storedEvents(t, "zz", 1)

	var customers, withEmail int
	require.NoError(t, e.store.Pool().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE email IS NOT NULL)
		FROM customers WHERE workspace_id = $1 AND (external_id = 'u1' OR lower(email) = 'ada@example.com')`, ws).Scan(&customers, &withEmail))
	require.Zero(t, customers, "the erased person is not brought back by the redelivery of an event already applied (and erased)")
	require.Zero(t, withEmail)
	_, err = e.store.FindCustomer(ctx, ws, "a1")
	require.Error(t, err, "the erased anonymous id leads nowhere")
}

// An event accepted (on the topic) before its person's erasure but consumed
// only after it — ingest lagged, or was stopped — is not applied: it was
// the erased person's data. It is counted as outcome "erased". The
// person's next event, accepted after the erasure, starts a new profile.
func TestEventAcceptedBeforeTheErasureIsNotAppliedAfterIt(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ws := e.ws.ID
	_, cancel1, done1 := startMember(e, nil)
	e.produce(t, ws+":u1", map[string]any{"type": "identify", "messageId": "id-1", "userId": "u1",
		"traits": map[string]any{"email": "ada@example.com"}, "workspaceId": ws})
	e.storedEvents(t, "u1", 1)
	cancel1()
	require.NoError(t, <-done1)

	// Ingest is down; the person's next event waits on the topic, and the
	// person is erased meanwhile.
	e.produce(t, ws+":u1", map[string]any{"type": "track", "messageId": "before-1", "userId": "u1", "event": "Viewed",
		"properties": map[string]any{"page": "/private"}, "workspaceId": ws})
	cust, err := e.store.FindCustomer(ctx, ws, "u1")
	require.NoError(t, err)
	_, err = e.store.EraseCustomer(ctx, ws, cust.ID)
	require.NoError(t, err)
	e.produce(t, ws+":u1", map[string]any{"type": "track", "messageId": "after-1", "userId": "u1", "event": "Signed Up", "workspaceId": ws})

	reg, cancel2, done2 := startMember(e, nil)
	defer func() { cancel2(); <-done2 }()
	stored := e.storedEvents(t, "u1", 1)
	require.Equal(t, "after-1", stored[0].MessageID, "the new profile holds only the event accepted after the erasure")
	require.Eventually(t, func() bool { return outcome(t, reg, "erased")+outcome(t, reg, "applied") == 2 },
		30*time.Second, 50*time.Millisecond)
	require.Equal(t, 1.0, outcome(t, reg, "erased"))
	require.Equal(t, 1.0, outcome(t, reg, "applied"))
	var n int
	require.NoError(t, e.store.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE workspace_id = $1 AND message_id = 'before-1'`, ws).Scan(&n))
	require.Zero(t, n)
}

// startMember starts a consumer group member with router r (nil: none) and
// metrics of its own; cancel stops it, done says how it ended.
func startMember(e *env, r ingest.Router) (reg *prometheus.Registry, cancel context.CancelFunc, done chan error) {
	reg = prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	c := ingest.NewConsumer(ingest.ConsumerDeps{Brokers: e.brokers, Store: e.store, Router: r, Metrics: reg,
		Topic: topic, DLQTopic: dlq, Group: "herald-ingest", ShutdownTimeout: 2 * time.Second})
	done = make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return reg, cancel, done
}
