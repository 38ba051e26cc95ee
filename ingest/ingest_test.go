package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/ingest/kafkaserver"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

func TestMain(m *testing.M) { os.Exit(schematest.Run(m)) }

const (
	topic = "herald.events"
	dlq   = "herald.events.dlq"
)

type env struct {
	client   sarama.Client
	brokers  []string
	store    *schema.Store
	producer *ingest.Producer
	ws       schema.Workspace
	writeKey string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b, err := kafkaserver.Start(kafkaserver.Options{Topics: []string{topic, dlq}, Partitions: 3})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	c, err := ingest.NewClient(b.Addrs())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, ingest.EnsureTopics(c, 3, topic, dlq, "extra.topic"))
	topics, err := c.Topics()
	require.NoError(t, err)
	require.Contains(t, topics, "extra.topic")
	require.NoError(t, ingest.Ping(c, topic))
	warnings, err := ingest.TopicWarnings(c, 12, topic, "nope")
	require.NoError(t, err)
	require.Contains(t, warnings, "topic herald.events has 3 partitions, not the 12 configured")
	warnings, err = ingest.TopicWarnings(c, 3, "extra.topic")
	require.NoError(t, err)
	require.Empty(t, warnings, "created by EnsureTopics as configured")
	p, err := ingest.NewProducer(b.Addrs(), topic)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(context.Background(), "A")
	require.NoError(t, err)
	wk, err := st.CreateAPIKey(context.Background(), ws.ID, schema.KeyWrite, "", "test")
	require.NoError(t, err)
	return &env{client: c, brokers: b.Addrs(), store: st, producer: p, ws: ws, writeKey: wk.Key}
}

func (e *env) run(t *testing.T) context.CancelFunc {
	t.Helper()
	cancel, _ := e.runMetered(t)
	return cancel
}

// runMetered is run, also returning the consumer's metrics.
func (e *env) runMetered(t *testing.T) (context.CancelFunc, *prometheus.Registry) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reg := prometheus.NewRegistry()
	cons := ingest.NewConsumer(ingest.ConsumerDeps{Brokers: e.brokers, Store: e.store, Metrics: reg,
		Topic: topic, DLQTopic: dlq, Group: "herald-ingest"})
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return cancel, reg
}

func (e *env) produce(t *testing.T, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, e.producer.Produce(context.Background(), ingest.Message{Key: key, Value: b}))
}

func TestConsumerAppliesEventsOnceAndDeadLettersPoison(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ws := e.ws.ID
	ev := func(id, typ, name, user string, extra map[string]any) map[string]any {
		m := map[string]any{"type": typ, "messageId": id, "userId": user, "workspaceId": ws}
		if name != "" {
			m["event"] = name
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	e.produce(t, ws+":u1", ev("m1", "track", "Signed Up", "u1", map[string]any{"properties": map[string]any{"plan": "pro"}}))
	e.produce(t, ws+":u1", ev("m2", "identify", "", "u1", map[string]any{"traits": map[string]any{"email": "u1@a.io", "visits": 3}}))
	e.produce(t, ws+":u1", ev("m1", "track", "Signed Up", "u1", nil)) // redelivered duplicate
	// Producers that only know the write key.
	e.produce(t, "k:u2", map[string]any{"type": "track", "messageId": "m3", "userId": "u2", "event": "Bought", "writeKey": e.writeKey})
	// Poison: not JSON, no workspace, unknown write key, missing id, NUL in a property.
	poison := [][]byte{
		[]byte("not json"),
		mustJSON(map[string]any{"type": "track", "messageId": "p1", "userId": "x", "event": "E"}),
		mustJSON(map[string]any{"type": "track", "messageId": "p2", "userId": "x", "event": "E", "writeKey": "hw_nope"}),
		mustJSON(map[string]any{"type": "track", "userId": "x", "event": "E", "workspaceId": ws}),
		mustJSON(map[string]any{"type": "track", "messageId": "p4", "userId": "x", "event": "E", "workspaceId": ws, "properties": map[string]any{"s": "a\u0000b"}}),
	}
	for _, p := range poison {
		require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: "bad", Value: p}))
	}
	e.produce(t, ws+":u1", ev("m4", "track", "Activated", "u1", nil))
	e.run(t)

	evs := e.storedEvents(t, "u1", 3)
	c, err := e.store.FindCustomer(ctx, ws, "u1")
	require.NoError(t, err)
	require.Equal(t, "u1@a.io", *c.Email)
	require.JSONEq(t, `{"visits":3}`, string(c.Attributes))
	require.Equal(t, []string{"m1", "m2", "m4"}, []string{evs[0].MessageID, evs[1].MessageID, evs[2].MessageID}, "applied once, in order")
	e.storedEvents(t, "u2", 1) // another partition: it may come later

	letters := readAll(t, e.client, dlq, len(poison))
	require.Len(t, letters, len(poison))
	reasons := map[string]bool{}
	for _, l := range letters {
		reasons[l.Reason] = true
		require.NotEmpty(t, l.Payload)
	}
	require.Contains(t, reasons, "event has neither workspaceId nor writeKey")
	require.Contains(t, reasons, "unknown or revoked writeKey")
}

func TestProducerWritesKeyedMessages(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 20; i++ {
		e.produce(t, "ws:same-customer", map[string]any{"i": i})
	}
	// Every message of one key is on one partition, in order.
	parts, err := e.client.Partitions(topic)
	require.NoError(t, err)
	seen := 0
	for _, p := range parts {
		newest, err := e.client.GetOffset(topic, p, sarama.OffsetNewest)
		require.NoError(t, err)
		if newest > 0 {
			require.EqualValues(t, 20, newest)
			seen++
		}
	}
	require.Equal(t, 1, seen)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// recordingRouter remembers what it was asked to route and fails its first
// call, as Temporal being briefly unavailable would.
type recordingRouter struct {
	mu      sync.Mutex
	calls   int
	batches []int
	seq     map[string][]int // customer → the "seq" property of their events, as routed
	// retried counts the batches routed with their events marked Retried
	// (mixed counts batches with some marked and some not).
	retried, mixed int
	// firstErr is the first call's error.
	firstErr error
}

func (r *recordingRouter) Route(_ context.Context, batch []ingest.Applied) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls == 1 {
		return r.firstErr
	}
	r.batches = append(r.batches, len(batch))
	marked := 0
	for _, a := range batch {
		if a.Retried {
			marked++
		}
	}
	switch marked {
	case 0:
	case len(batch):
		r.retried++
	default:
		r.mixed++
	}
	for _, a := range batch {
		var p struct{ Seq int }
		_ = json.Unmarshal(a.Event.Properties, &p)
		r.seq[a.CustomerID] = append(r.seq[a.CustomerID], p.Seq)
	}
	return nil
}

// TestConsumerBatchesKeepOrderAndRetryRouting: a backlog is applied in
// batches; each customer's events are stored and routed in order, poison
// inside a batch goes to the DLQ alone, and a failed routing attempt is
// retried before the offsets move — also when the router's error is one
// that applying an event would dead-letter (the events are stored; the
// batch is not given up, which would end the whole session and bring it
// back at once, again and again).
func TestConsumerBatchesKeepOrderAndRetryRouting(t *testing.T) {
	for name, err := range map[string]error{"unavailable": errors.New("temporal unavailable"),
		"data error": &pgconn.PgError{Code: "22P02", Message: "invalid input syntax"}} {
		t.Run(name, func(t *testing.T) { testBatchesKeepOrderAndRetryRouting(t, err) })
	}
}

func testBatchesKeepOrderAndRetryRouting(t *testing.T, firstErr error) {
	e := newEnv(t)
	ctx := context.Background()
	ws := e.ws.ID
	const customers, perCustomer = 40, 25
	var msgs []ingest.Message
	for i := 0; i < perCustomer; i++ {
		for c := 0; c < customers; c++ {
			user := fmt.Sprintf("u%d", c)
			msgs = append(msgs, ingest.Message{Key: ws + ":" + user, Value: mustJSON(map[string]any{
				"type": "track", "event": "Step", "messageId": fmt.Sprintf("%s-%d", user, i), "userId": user,
				"workspaceId": ws, "properties": map[string]any{"seq": i}})})
		}
		if i%10 == 5 {
			msgs = append(msgs, ingest.Message{Key: "bad", Value: []byte(`{"type":"track"`)})
		}
	}
	require.NoError(t, e.producer.Produce(ctx, msgs...))
	router := &recordingRouter{seq: map[string][]int{}, firstErr: firstErr}
	reg := prometheus.NewRegistry()
	runCtx, cancel := context.WithCancel(ctx)
	cons := ingest.NewConsumer(ingest.ConsumerDeps{Brokers: e.brokers, Store: e.store, Router: router, Metrics: reg,
		Topic: topic, DLQTopic: dlq, Group: "herald-ingest"})
	done := make(chan error, 1)
	go func() { done <- cons.Run(runCtx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	total := customers * perCustomer
	require.Eventually(t, func() bool {
		var n int
		_ = e.store.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE workspace_id = $1`, ws).Scan(&n)
		router.mu.Lock()
		defer router.mu.Unlock()
		routed := 0
		for _, s := range router.seq {
			routed += len(s)
		}
		return n == total && routed == total
	}, 30*time.Second, 50*time.Millisecond)

	// Stored once each, in order per customer.
	rows, err := e.store.Pool().Query(ctx, `
		SELECT c.external_id, array_agg((e.properties->>'seq')::int ORDER BY e.id) FROM events e
		JOIN customers c ON c.id = e.customer_id WHERE e.workspace_id = $1 GROUP BY c.external_id`, ws)
	require.NoError(t, err)
	want := make([]int32, perCustomer)
	for i := range want {
		want[i] = int32(i)
	}
	n := 0
	for rows.Next() {
		var user string
		var seqs []int32
		require.NoError(t, rows.Scan(&user, &seqs))
		require.Equal(t, want, seqs, "events of %s in order", user)
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, customers, n)

	router.mu.Lock()
	for id, seqs := range router.seq {
		require.Len(t, seqs, perCustomer, "customer %s routed once per event", id)
		require.True(t, sort.IntsAreSorted(seqs), "customer %s routed in order: %v", id, seqs)
	}
	require.Greater(t, slices.Max(router.batches), 1, "a backlog is routed in batches")
	require.Equal(t, 1, router.retried, "the batch whose routing failed comes again marked Retried, the others not")
	require.Zero(t, router.mixed)
	router.mu.Unlock()
	require.Len(t, readAll(t, e.client, dlq, 2), 2, "the poison, alone")
}

// A write key is taken as it stood when the record was appended: rotating
// keys (a new key for the producers, then the old one revoked) while
// ingest lags does not dead-letter the records appended with the old key
// before its revocation; records appended after it are refused.
func TestRecordsAppendedBeforeTheirWriteKeyWasRevokedAreApplied(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ws := e.ws.ID
	k, track := e.keyToRotate(t)
	require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: ws + ":u1", Value: track("before-revocation")}))
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, e.store.RevokeAPIKey(ctx, ws, k.ID))
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: ws + ":u1", Value: track("after-revocation")}))
	require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: ws + ":u1", Value: track("after-revocation-2")}))
	e.run(t)

	letters := readAll(t, e.client, dlq, 2)
	require.Len(t, letters, 2)
	for _, l := range letters {
		require.Equal(t, "unknown or revoked writeKey", l.Reason)
		require.Contains(t, l.Payload, "after-revocation")
	}
	evs := e.storedEvents(t, "u1", 1)
	require.Len(t, evs, 1)
	require.Equal(t, "before-revocation", evs[0].MessageID)
}

// TestRevokedKeyIsJudgedByEachRecordsTimeWithinABatch: on a topic that
// keeps the producers' record times (CreateTime — the embedded broker's,
// and any topic not created by Herald) a batch's times need not rise: two
// producers, or an outbox relay stamping records with the time their rows
// were written. Each record of a revoked key is judged by its own time,
// whatever came before it in the batch: a record stamped after the
// revocation does not refuse one stamped before it that follows.
func TestRevokedKeyIsJudgedByEachRecordsTimeWithinABatch(t *testing.T) {
	e := newEnv(t)
	ws := e.ws.ID
	k, track := e.keyToRotate(t)
	require.NoError(t, e.store.RevokeAPIKey(context.Background(), ws, k.ID))
	revoked := time.Now()

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = ingest.NewKafkaPartitioner
	p, err := sarama.NewSyncProducer(e.brokers, cfg)
	require.NoError(t, err)
	defer p.Close()
	rec := func(id string, at time.Time) *sarama.ProducerMessage {
		return &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(ws + ":u1"), Value: sarama.ByteEncoder(track(id)), Timestamp: at}
	}
	require.NoError(t, p.SendMessages([]*sarama.ProducerMessage{
		rec("stamped-after-1", revoked.Add(time.Hour)),
		rec("stamped-before-1", revoked.Add(-time.Hour)),
		rec("stamped-before-2", revoked.Add(-time.Minute)),
		rec("stamped-after-2", revoked.Add(time.Minute)),
	}))
	e.run(t)

	letters := readAll(t, e.client, dlq, 2)
	require.Len(t, letters, 2)
	for _, l := range letters {
		require.Equal(t, "unknown or revoked writeKey", l.Reason)
		require.Contains(t, l.Payload, "stamped-after", "dead-lettered: %s", l.Payload)
	}
	evs := e.storedEvents(t, "u1", 2)
	require.Equal(t, []string{"stamped-before-1", "stamped-before-2"}, []string{evs[0].MessageID, evs[1].MessageID})
}

// keyToRotate is a new write key of the env's workspace and a track
// event of user u1 with message id id sent with it.
func (e *env) keyToRotate(t *testing.T) (schema.NewKey, func(id string) []byte) {
	t.Helper()
	k, err := e.store.CreateAPIKey(context.Background(), e.ws.ID, schema.KeyWrite, "rotated", "test")
	require.NoError(t, err)
	return k, func(id string) []byte {
		return mustJSON(map[string]any{"type": "track", "messageId": id, "userId": "u1", "event": "E", "writeKey": k.Key})
	}
}
