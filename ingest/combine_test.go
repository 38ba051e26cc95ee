package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest/kafkaserver"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// fakeApplies records the batches a combiner hands to its apply function
// and answers each event with its message id as the customer; a call
// blocks while its first message id is held.
type fakeApplies struct {
	mu      sync.Mutex
	calls   [][]string
	held    map[string]chan struct{}
	running int
	most    int
	fail    func(ids []string) error
}

func (f *fakeApplies) apply(ctx context.Context, in []schema.EventInput) ([]schema.AppliedEvent, error) {
	ids := make([]string, len(in))
	for i, ev := range in {
		ids[i] = ev.MessageID
	}
	f.mu.Lock()
	f.calls = append(f.calls, ids)
	if ctx.Err() != nil {
		f.mu.Unlock()
		return nil, ctx.Err() // as a query on a cancelled context
	}
	f.running++
	f.most = max(f.most, f.running)
	hold := f.held[ids[0]]
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail != nil {
		if err := f.fail(ids); err != nil {
			return nil, err
		}
	}
	out := make([]schema.AppliedEvent, len(in))
	for i, id := range ids {
		out[i].CustomerID = "of " + id
	}
	return out, nil
}

func (f *fakeApplies) recorded() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.calls...)
}

func batchOf(ids ...string) []schema.EventInput {
	in := make([]schema.EventInput, len(ids))
	for i, id := range ids {
		in[i] = schema.EventInput{MessageID: id}
	}
	return in
}

type result struct {
	out []schema.AppliedEvent
	err error
}

// submit hands in to c from a goroutine of its own, as a partition does.
func submit(ctx context.Context, c *combiner, in []schema.EventInput) <-chan result {
	ch := make(chan result, 1)
	go func() {
		out, err := c.ApplyEvents(ctx, in)
		ch <- result{out, err}
	}()
	return ch
}

// waitFor waits until n batches wait for a transaction.
func waitFor(t *testing.T, c *combiner, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.waiting) == n
	}, 5*time.Second, time.Millisecond)
}

func outIDs(out []schema.AppliedEvent) []string {
	ids := make([]string, len(out))
	for i, r := range out {
		ids[i] = r.CustomerID
	}
	return ids
}

// While a transaction runs, the batches handed in wait, and the next
// transaction takes them together — as many whole batches as fit in
// maxEvents — and gives each partition back its own results, in order.
func TestCombinerAppliesWaitingBatchesTogether(t *testing.T) {
	hold := make(chan struct{})
	f := &fakeApplies{held: map[string]chan struct{}{"a1": hold}}
	c := &combiner{apply: f.apply, appliers: 1, maxEvents: 4, maxWait: time.Hour}
	ctx := context.Background()
	a := submit(ctx, c, batchOf("a1"))
	require.Eventually(t, func() bool { return len(f.recorded()) == 1 }, 5*time.Second, time.Millisecond)
	b := submit(ctx, c, batchOf("b1", "b2"))
	waitFor(t, c, 1)
	d := submit(ctx, c, batchOf("d1", "d2"))
	waitFor(t, c, 2)
	e := submit(ctx, c, batchOf("e1"))
	waitFor(t, c, 3)
	close(hold)

	for ch, want := range map[<-chan result][]string{
		a: {"of a1"}, b: {"of b1", "of b2"}, d: {"of d1", "of d2"}, e: {"of e1"},
	} {
		r := <-ch
		require.NoError(t, r.err)
		require.Equal(t, want, outIDs(r.out))
	}
	require.Equal(t, [][]string{{"a1"}, {"b1", "b2", "d1", "d2"}, {"e1"}}, f.recorded(),
		"b and d waited together and fit in 4 events; e waited for the next transaction")
}

// A batch that waited maxWait while every applier ran (on customers
// another transaction holds, say) is applied on its own at once: it never
// waits for them longer than that.
func TestCombinerAppliesABatchThatWaitedTooLongOnItsOwn(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	f := &fakeApplies{held: map[string]chan struct{}{"stuck": hold}}
	c := &combiner{apply: f.apply, appliers: 1, maxEvents: 10, maxWait: 50 * time.Millisecond}
	stuck := submit(context.Background(), c, batchOf("stuck"))
	require.Eventually(t, func() bool { return len(f.recorded()) == 1 }, 5*time.Second, time.Millisecond)
	r := <-submit(context.Background(), c, batchOf("free"))
	require.NoError(t, r.err)
	require.Equal(t, []string{"of free"}, outIDs(r.out))
	require.Equal(t, [][]string{{"stuck"}, {"free"}}, f.recorded())
	c.mu.Lock()
	require.Empty(t, c.waiting, "no longer waiting: no applier applies it again")
	c.mu.Unlock()
	select {
	case <-stuck:
		t.Fatal("the stuck batch returned")
	default:
	}
}

// A batch larger than maxEvents still goes, alone.
func TestCombinerNeverSplitsABatch(t *testing.T) {
	f := &fakeApplies{}
	c := &combiner{apply: f.apply, appliers: 1, maxEvents: 2, maxWait: time.Hour}
	out, err := c.ApplyEvents(context.Background(), batchOf("x1", "x2", "x3"))
	require.NoError(t, err)
	require.Equal(t, []string{"of x1", "of x2", "of x3"}, outIDs(out))
	require.Equal(t, [][]string{{"x1", "x2", "x3"}}, f.recorded())
}

// No more than appliers transactions run at once, however many partitions
// hand batches in.
func TestCombinerRunsAtMostAppliersAtOnce(t *testing.T) {
	holds := map[string]chan struct{}{}
	for i := range 8 {
		holds[fmt.Sprint("p", i)] = make(chan struct{})
	}
	f := &fakeApplies{held: holds}
	c := &combiner{apply: f.apply, appliers: 2, maxEvents: 1, maxWait: time.Hour}
	var results []<-chan result
	for i := range 8 {
		results = append(results, submit(context.Background(), c, batchOf(fmt.Sprint("p", i))))
	}
	require.Eventually(t, func() bool { return len(f.recorded()) == 2 }, 5*time.Second, time.Millisecond)
	waitFor(t, c, 6)
	for _, h := range holds {
		close(h)
	}
	for _, ch := range results {
		require.NoError(t, (<-ch).err)
	}
	require.Len(t, f.recorded(), 8)
	require.Equal(t, 2, f.most)
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Zero(t, c.running, "the appliers stop when nothing waits")
}

// When a transaction of several batches fails — the database refuses an
// event's data, the server's lock table is full, the connection was lost —
// each batch is applied on its own: only the batch that fails alone gets
// the error (a refused event's partition then applies it event by event;
// after other failures each partition retries as after its own).
func TestCombinerFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"refused data", &pgconn.PgError{Code: "22P05"}},
		{"lock table full", &pgconn.PgError{Code: "53200"}},
		{"lost connection", errors.New("conn closed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hold := make(chan struct{})
			f := &fakeApplies{held: map[string]chan struct{}{"h": hold}, fail: func(ids []string) error {
				for _, id := range ids {
					if id == "bad" {
						return tc.err
					}
				}
				return nil
			}}
			size := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "size"})
			c := &combiner{apply: f.apply, appliers: 1, maxEvents: 10, size: size, maxWait: time.Hour}
			ctx := context.Background()
			h := submit(ctx, c, batchOf("h"))
			require.Eventually(t, func() bool { return len(f.recorded()) == 1 }, 5*time.Second, time.Millisecond)
			results := map[string]<-chan result{}
			for i, id := range []string{"g1", "bad", "g2"} {
				results[id] = submit(ctx, c, batchOf(id))
				waitFor(t, c, i+1)
			}
			close(hold)
			require.NoError(t, (<-h).err)
			for id, ch := range results {
				r := <-ch
				if id == "bad" {
					require.ErrorIs(t, r.err, tc.err, id)
				} else {
					require.NoError(t, r.err, id)
					require.Equal(t, []string{"of " + id}, outIDs(r.out))
				}
			}
			calls := f.recorded()
			require.Equal(t, [][]string{{"h"}, {"g1", "bad", "g2"}}, calls[:2])
			require.ElementsMatch(t, [][]string{{"g1"}, {"bad"}, {"g2"}}, calls[2:], "then each by its partition")
			reg := prometheus.NewRegistry()
			require.NoError(t, reg.Register(size))
			require.Equal(t, uint64(3), histogramCount(t, reg, "size"), "h, g1 and g2 committed; the failed attempts are not transactions")
		})
	}
}

// A transaction of several batches goes on while any of their partitions
// still wants it (a partition whose session ended still learns what was
// stored), and is cancelled once none does.
func TestCombinedTransactionEndsWhenEveryPartitionGaveUp(t *testing.T) {
	hold, inner := make(chan struct{}), make(chan struct{})
	f := &fakeApplies{held: map[string]chan struct{}{"h": hold, "x": inner}}
	c := &combiner{apply: f.apply, appliers: 1, maxEvents: 10, maxWait: time.Hour}
	h := submit(context.Background(), c, batchOf("h"))
	require.Eventually(t, func() bool { return len(f.recorded()) == 1 }, 5*time.Second, time.Millisecond)
	ctxX, cancelX := context.WithCancel(context.Background())
	ctxY, cancelY := context.WithCancel(context.Background())
	x := submit(ctxX, c, batchOf("x"))
	waitFor(t, c, 1)
	y := submit(ctxY, c, batchOf("y"))
	waitFor(t, c, 2)
	close(hold)
	require.NoError(t, (<-h).err)
	require.Eventually(t, func() bool { return len(f.recorded()) == 2 }, 5*time.Second, time.Millisecond)

	cancelX()
	select {
	case r := <-x:
		t.Fatalf("x returned before its transaction ended: %v", r.err)
	case <-time.After(50 * time.Millisecond):
	}
	cancelY()
	for _, ch := range []<-chan result{x, y} {
		require.ErrorIs(t, (<-ch).err, context.Canceled)
	}
	calls := f.recorded()
	require.Equal(t, [][]string{{"h"}, {"x", "y"}}, calls[:2])
	require.ElementsMatch(t, [][]string{{"x"}, {"y"}}, calls[2:], "then each alone, at once cancelled")
}

// On the real database: batches of several partitions applied in one
// transaction store every event once, and a batch with an event Postgres
// refuses fails alone.
func TestCombinerOnPostgres(t *testing.T) {
	st := schematest.Store(t)
	ctx := context.Background()
	ws, err := st.CreateWorkspace(ctx, "combined")
	require.NoError(t, err)
	ev := func(id, user string, props string) schema.EventInput {
		return schema.EventInput{WorkspaceID: ws.ID, MessageID: id, Type: "track", Name: "Played", UserID: user,
			Properties: json.RawMessage(props), OccurredAt: time.Now().UTC().Truncate(time.Microsecond)}
	}
	hold := make(chan struct{})
	first := true
	var mu sync.Mutex
	c := &combiner{appliers: 1, maxEvents: 100, maxWait: time.Hour, apply: func(ctx context.Context, in []schema.EventInput) ([]schema.AppliedEvent, error) {
		mu.Lock()
		wait := first
		first = false
		mu.Unlock()
		if wait {
			<-hold
		}
		return st.ApplyEvents(ctx, in)
	}}
	h := submit(ctx, c, []schema.EventInput{ev("m0", "u0", `{}`)})
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return !first }, 5*time.Second, time.Millisecond)
	p1 := submit(ctx, c, []schema.EventInput{ev("m1", "u1", `{}`), ev("m2", "u2", `{}`)})
	waitFor(t, c, 1)
	bad := submit(ctx, c, []schema.EventInput{ev("m3", "u3", `{}`), ev("m4", "u4", `{"s":"a\u0000b"}`)})
	waitFor(t, c, 2)
	p3 := submit(ctx, c, []schema.EventInput{ev("m5", "u1", `{}`), ev("m1", "u1", `{}`)})
	waitFor(t, c, 3)
	close(hold)

	require.NoError(t, (<-h).err)
	r1 := <-p1
	require.NoError(t, r1.err)
	rb := <-bad
	require.True(t, schema.IsDataError(rb.err), "the refused event's batch fails alone: %v", rb.err)
	r3 := <-p3
	require.NoError(t, r3.err)
	require.Equal(t, r1.out[0].CustomerID, r3.out[0].CustomerID, "u1's events of two partitions name one customer")
	require.False(t, r3.out[0].Duplicate)
	// After the combined transaction failed, the two batches go on their
	// own at once: whichever takes u1's lock first stores m1.
	require.NotEqual(t, r1.out[0].Duplicate, r3.out[1].Duplicate, "m1 again, from another partition: stored once")

	stored := messageIDs(t, st, `SELECT message_id FROM events WHERE workspace_id = $1 ORDER BY message_id`, ws.ID)
	require.Equal(t, []string{"m0", "m1", "m2", "m5"}, stored, "nothing of the refused batch, the others once")
}

// A consumer over Kafka with one applier: while the first partition's
// batch waits for a customer another transaction holds, the batches of
// the other partitions queue, then go in together; every event is stored
// once, each customer's in its order, and every offset is committed.
func TestConsumerCombinesPartitionsBatches(t *testing.T) {
	b, err := kafkaserver.Start(kafkaserver.Options{Topics: []string{"ev", "ev.dlq"}, Partitions: 3})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	st := schematest.Store(t)
	ctx := context.Background()
	ws, err := st.CreateWorkspace(ctx, "combined")
	require.NoError(t, err)
	// One user per partition.
	users := map[int32]string{}
	for i := 0; len(users) < 3; i++ {
		u := fmt.Sprint("u", i)
		if p := KeyPartition([]byte(ws.ID+":"+u), 3); users[p] == "" {
			users[p] = u
		}
	}
	// Another transaction holds the lock ingest takes on users[0]'s id.
	holder, err := st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer holder.Rollback(ctx) //nolint:errcheck
	_, err = holder.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, ws.ID+"/"+users[0])
	require.NoError(t, err)

	prod, err := NewProducer(b.Addrs(), "ev")
	require.NoError(t, err)
	t.Cleanup(func() { prod.Close() })
	produce := func(p int32, n int) {
		var msgs []Message
		for i := range n {
			u := users[p]
			msgs = append(msgs, Message{Key: ws.ID + ":" + u, Value: jsonOf(t, map[string]any{"type": "track",
				"messageId": fmt.Sprintf("%s-%d", u, i), "userId": u, "event": "Played", "workspaceId": ws.ID})})
		}
		require.NoError(t, prod.Produce(ctx, msgs...))
	}
	reg := prometheus.NewRegistry()
	c := NewConsumer(ConsumerDeps{Brokers: b.Addrs(), Store: st, Metrics: reg, Topic: "ev", DLQTopic: "ev.dlq",
		Group: "combined", Appliers: 1})
	c.comb.maxWait = time.Hour // the batches wait for the one applier, however slow the machine
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})

	produce(0, 5)
	require.Eventually(t, func() bool {
		var waiting int
		require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`).Scan(&waiting))
		return waiting == 1
	}, 20*time.Second, 10*time.Millisecond, "the first batch's transaction waits for the lock")
	produce(1, 7)
	produce(2, 9)
	waitFor(t, c.comb, 2)
	require.NoError(t, holder.Rollback(ctx))

	require.Eventually(t, func() bool { return histogramCount(t, reg, "herald_ingest_batch_size") == 3 },
		20*time.Second, 10*time.Millisecond)
	require.Equal(t, uint64(2), histogramCount(t, reg, "herald_ingest_transaction_events"),
		"the two batches that waited went in one transaction")
	for p, n := range map[int32]int{0: 5, 1: 7, 2: 9} {
		ids := messageIDs(t, st, `SELECT e.message_id FROM events e JOIN customers c ON c.id = e.customer_id
			WHERE e.workspace_id = $1 AND c.external_id = $2 ORDER BY e.id`, ws.ID, users[p])
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("%s-%d", users[p], i)
		}
		require.Equal(t, want, ids, "partition %d: once each, in order", p)
	}
	// Committed: a new member of the group starts after them.
	stop()
	require.NoError(t, <-done)
	done <- nil
	admin, err := NewClient(b.Addrs())
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	om, err := sarama.NewOffsetManagerFromClient("combined", admin)
	require.NoError(t, err)
	t.Cleanup(func() { om.Close() })
	for p, n := range map[int32]int64{0: 5, 1: 7, 2: 9} {
		pom, err := om.ManagePartition("ev", p)
		require.NoError(t, err)
		next, _ := pom.NextOffset()
		require.Equal(t, n, next, "partition %d", p)
		pom.AsyncClose()
	}
}

// histogramCount is how many observations the registry's histogram name has.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// messageIDs runs query, which selects message ids.
func messageIDs(t *testing.T, st *schema.Store, query string, args ...any) []string {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), query, args...)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return ids
}

// (From a review.) herald_ingest_transaction_events is documented as "events per
// transaction" ("Events applied in one transaction"): a transaction that
// rolled back applied nothing, yet every attempt is observed — the
// combined one that failed and then each batch's own — so while the
// database is down the histogram climbs as if transactions were committed.
func TestTransactionEventsCountsOnlyCommittedTransactions(t *testing.T) {
	hold := make(chan struct{})
	defer func() {
		select {
		case <-hold:
		default:
			close(hold)
		}
	}()
	down := errors.New("conn closed")
	f := &fakeApplies{held: map[string]chan struct{}{"h": hold}, fail: func(ids []string) error {
		if ids[0] == "h" {
			return nil
		}
		return down // the database went away after h's transaction
	}}
	size := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "herald_ingest_transaction_events"})
	c := &combiner{apply: f.apply, appliers: 1, maxEvents: 10, size: size, maxWait: time.Hour}
	ctx := context.Background()
	h := submit(ctx, c, batchOf("h"))
	require.Eventually(t, func() bool { return len(f.recorded()) == 1 }, 5*time.Second, time.Millisecond)
	x := submit(ctx, c, batchOf("x1", "x2"))
	waitFor(t, c, 1)
	y := submit(ctx, c, batchOf("y1"))
	waitFor(t, c, 2)
	close(hold)
	require.NoError(t, (<-h).err)
	require.ErrorIs(t, (<-x).err, down)
	require.ErrorIs(t, (<-y).err, down)

	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(size))
	require.Equal(t, uint64(1), histogramCount(t, reg, "herald_ingest_transaction_events"),
		"one transaction (h's) applied events; the failed combined attempt and the failed retries of x and y applied none")
}

// (From a review.) Before HERALD_INGEST_APPLIERS, a customer whose lock another transaction
// holds (a long merge, an erasure, an import chunk, a stuck session)
// stalled only the partitions whose batch touched that customer. With the
// default 4 appliers, four such batches take every applier, and a
// partition whose customers nobody holds is not applied at all until they
// are released: one slow customer per partition on four partitions stops
// ingest for the whole process.
func TestLockedCustomersDoNotStallOtherPartitions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		appliers int
	}{
		{"own transactions (HERALD_INGEST_APPLIERS=0)", -1},
		{"default appliers", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newPartitionedEnv(t, 6)
			st, ws, users, ctx := e.st, e.ws, e.users, context.Background()
			produce := func(p int32, id string) { e.produce(t, p, id) }
			e.run(t, tc.appliers, 0)
			// The consumer is in the group and applying.
			produce(4, "warm")
			require.Eventually(t, func() bool {
				return len(messageIDs(t, st, `SELECT message_id FROM events WHERE workspace_id = $1`, ws)) == 1
			}, 30*time.Second, 20*time.Millisecond)

			// Another transaction holds the customers of partitions 0-3.
			holder, err := st.Pool().Begin(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { _ = holder.Rollback(ctx) }) // runs before stop: the batches can end
			var keys []string
			for p := range int32(4) {
				keys = append(keys, ws+"/"+users[p])
			}
			_, err = holder.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k`, keys)
			require.NoError(t, err)
			for p := range int32(4) {
				produce(p, fmt.Sprint("held-", p))
			}
			time.Sleep(500 * time.Millisecond) // their transactions wait for the locks
			produce(4, "free")
			require.Eventually(t, func() bool {
				return len(messageIDs(t, st, `SELECT message_id FROM events WHERE workspace_id = $1 AND message_id = 'free'`, ws)) == 1
			}, 5*time.Second, 20*time.Millisecond, "partition 4's event, whose customer nobody holds, is applied")
		})
	}
}

// A transaction of several partitions' batches waits at most
// CombinedLockWait for a customer another transaction holds: then each
// partition applies its batch on its own, and only the held customer's
// partition waits on.
func TestCombinedTransactionGivesUpOnAHeldCustomer(t *testing.T) {
	e := newPartitionedEnv(t, 3)
	st, ws, users, ctx := e.st, e.ws, e.users, context.Background()
	produce := func(p int32, id string) { e.produce(t, p, id) }
	stored := func(id string) bool {
		return len(messageIDs(t, st, `SELECT message_id FROM events WHERE workspace_id = $1 AND message_id = $2`, ws, id)) == 1
	}
	hold := func(p int32) pgx.Tx {
		tx, err := st.Pool().Begin(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _ = tx.Rollback(ctx) })
		_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, ws+"/"+users[p])
		require.NoError(t, err)
		return tx
	}
	c := e.run(t, 1, time.Hour) // waiting batches go in together, however long the applier takes
	// The one applier is busy with partition 2's batch, whose customer
	// is held; partitions 0 and 1 queue behind it.
	busy := hold(2)
	produce(2, "busy")
	require.Eventually(t, func() bool {
		var waiting int
		require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`).Scan(&waiting))
		return waiting == 1
	}, 20*time.Second, 10*time.Millisecond)
	held := hold(0)
	produce(0, "held")
	produce(1, "free")
	waitFor(t, c.comb, 2)
	require.NoError(t, busy.Rollback(ctx))
	require.Eventually(t, func() bool { return stored("busy") && stored("free") }, 20*time.Second, 20*time.Millisecond,
		"partition 1's event, combined with one on a held customer, is applied on its own")
	require.False(t, stored("held"))
	require.NoError(t, held.Rollback(ctx))
	require.Eventually(t, func() bool { return stored("held") }, 20*time.Second, 20*time.Millisecond)
}

// partitionedEnv is a broker with a topic "ev" of some partitions, a
// store with a workspace, and a user per partition whose events its key
// puts there.
type partitionedEnv struct {
	st    *schema.Store
	ws    string
	addrs []string
	users map[int32]string
	prod  *Producer
}

func newPartitionedEnv(t *testing.T, partitions int32) *partitionedEnv {
	t.Helper()
	b, err := kafkaserver.Start(kafkaserver.Options{Topics: []string{"ev", "ev.dlq"}, Partitions: partitions})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(context.Background(), "partitioned")
	require.NoError(t, err)
	users := map[int32]string{}
	for i := 0; int32(len(users)) < partitions; i++ {
		u := fmt.Sprint("u", i)
		if p := KeyPartition([]byte(ws.ID+":"+u), partitions); users[p] == "" {
			users[p] = u
		}
	}
	prod, err := NewProducer(b.Addrs(), "ev")
	require.NoError(t, err)
	t.Cleanup(func() { prod.Close() })
	return &partitionedEnv{st: st, ws: ws.ID, addrs: b.Addrs(), users: users, prod: prod}
}

// produce sends a track event of partition p's user with message id id.
func (e *partitionedEnv) produce(t *testing.T, p int32, id string) {
	t.Helper()
	u := e.users[p]
	require.NoError(t, e.prod.Produce(context.Background(), Message{Key: e.ws + ":" + u, Value: jsonOf(t, map[string]any{
		"type": "track", "messageId": id, "userId": u, "event": "Played", "workspaceId": e.ws})}))
}

// run starts a consumer with appliers (ConsumerDeps.Appliers) and, when
// maxWait is set, that CombineWait; it stops when the test ends.
func (e *partitionedEnv) run(t *testing.T, appliers int, maxWait time.Duration) *Consumer {
	t.Helper()
	c := NewConsumer(ConsumerDeps{Brokers: e.addrs, Store: e.st, Metrics: prometheus.NewRegistry(), Topic: "ev",
		DLQTopic: "ev.dlq", Group: "partitioned", Appliers: appliers, ShutdownTimeout: 4 * time.Second})
	if maxWait > 0 {
		c.comb.maxWait = maxWait
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return c
}
