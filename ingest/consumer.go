package ingest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/schema"
)

// Applied is an event after it was stored: what a router hands to journeys.
type Applied struct {
	Event      Event
	CustomerID string
	Duplicate  bool
	// MergedFrom is the anonymous customer this event merged into CustomerID.
	MergedFrom string
	// Retried: an earlier attempt to route the event failed part-way, so
	// the runs it started may stand (and may have ended since); entries are
	// decided as for a redelivered event.
	Retried bool
}

// Router takes applied events to the journeys they concern, keeping the
// order of each customer's events. It must be idempotent: after a crash or
// a failed attempt a batch may be routed again.
type Router interface {
	Route(ctx context.Context, batch []Applied) error
}

// ConsumerDeps are what the consumer is built from.
type ConsumerDeps struct {
	Brokers  []string
	Store    *schema.Store
	Router   Router // nil: events are stored only
	Log      *slog.Logger
	Metrics  prometheus.Registerer
	Topic    string
	DLQTopic string
	Group    string
	// Security of the broker connections (TLS, SASL).
	Security KafkaSecurity
	// LagInterval is how often each claimed partition's lag gauges are
	// measured against its high-water mark (default 5s).
	LagInterval time.Duration
	// Linger is how long a partition's batch waits for more messages
	// when events are streaming in (0: apply what has arrived at once).
	// Larger batches cost Postgres less per event; each waits at most
	// Linger longer.
	Linger time.Duration
	// Appliers is how many transactions apply events at once (0:
	// DefaultAppliers; negative: each partition's batch in a transaction
	// of its own, as many at once as partitions). The batches partitions
	// hand in while they all run wait (at most CombineWait) and go into
	// the next one together, up to CombinedMax events: fewer, larger
	// transactions cost Postgres less per event.
	Appliers int
	// ShutdownTimeout is how long Run may take to stop once its context
	// ends (default 20s, as HERALD_SHUTDOWN_TIMEOUT): past it, leaving the
	// group and closing the connections are abandoned. A batch being
	// applied gets at most half of it (and at most BatchGrace).
	ShutdownTimeout time.Duration
}

// Consumer is the ingest role: a Kafka consumer group member that applies
// events in partition order, sends poison messages to the dead-letter topic
// and commits an offset only after its event's effects are durable.
type Consumer struct {
	d          ConsumerDeps
	dlq        *Producer
	client     sarama.Client
	consumed   *prometheus.CounterVec
	lag        *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	batchSize  prometheus.Histogram
	txSize     prometheus.Histogram
	misKeyed   prometheus.Counter
	rate       prometheus.Gauge
	assigned   prometheus.Gauge
	total      atomic.Int64
	// unfinished holds, per partition, the offsets of events stored by an
	// attempt at a batch that was then abandoned: delivered again, they
	// are found stored, yet no finished batch counted them applied.
	unfinishedMu sync.Mutex
	unfinished   map[int32]map[int64]bool
	comb         *combiner
}

// NewConsumer builds a consumer; Run starts it.
func NewConsumer(d ConsumerDeps) *Consumer {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.LagInterval <= 0 {
		d.LagInterval = 5 * time.Second
	}
	if d.ShutdownTimeout <= 0 {
		d.ShutdownTimeout = 20 * time.Second
	}
	if d.Appliers == 0 {
		d.Appliers = DefaultAppliers
	}
	c := &Consumer{
		d:          d,
		unfinished: map[int32]map[int64]bool{},
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_ingest_events_total", Help: "Events consumed, by outcome (applied, duplicate, dead_lettered, erased).",
		}, []string{"outcome"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_ingest_lag_messages", Help: "Messages behind the partition's high-water mark.",
		}, []string{"partition"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_ingest_lag_seconds", Help: "Age (from its record timestamp) of the partition's oldest message the consumer holds and has not applied yet; 0 when caught up.",
		}, []string{"partition"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_ingest_batch_size", Help: "Messages of a partition applied together (one offset commit).",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500},
		}),
		txSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_ingest_transaction_events", Help: "Events applied in one committed transaction (the batches of one or more partitions).",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 1000, 2000},
		}),
		misKeyed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_ingest_misrouted_events_total",
			Help: "Events applied whose record key is not <workspaceId>:<userId or anonymousId>: their order against the customer's events on another partition is not guaranteed.",
		}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_ingest_assigned_partitions", Help: "Partitions of the events topic this process consumes now (0: up, but consuming nothing).",
		}),
		rate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_ingest_events_per_second", Help: "Events consumed per second over the last 10 seconds (all outcomes).",
		}),
	}
	if d.Appliers > 0 && d.Store != nil {
		st := d.Store
		c.comb = &combiner{apply: st.ApplyEvents, appliers: d.Appliers, maxEvents: CombinedMax, size: c.txSize,
			applyTogether: func(ctx context.Context, in []schema.EventInput) ([]schema.AppliedEvent, error) {
				return st.ApplyEventsWaiting(ctx, in, CombinedLockWait)
			}}
	}
	if d.Metrics != nil {
		d.Metrics.MustRegister(c.consumed, c.lag, c.lagSeconds, c.batchSize, c.txSize, c.misKeyed, c.rate, c.assigned)
	}
	return c
}

// Run consumes until ctx ends. It then stops within the shutdown
// timeout: a broker that does not answer cannot hold it (what it could not
// commit is delivered again, and applying it again is safe).
func (c *Consumer) Run(ctx context.Context) error {
	dlq, err := NewDeadLetterProducer(c.d.Brokers, c.d.DLQTopic, c.d.Security)
	if err != nil {
		return fmt.Errorf("dead-letter producer: %w", err)
	}
	c.dlq = dlq
	client, err := NewClient(c.d.Brokers, c.d.Security)
	if err != nil {
		dlq.Close()
		return err
	}
	c.client = client
	group, err := sarama.NewConsumerGroupFromClient(c.d.Group, client)
	if err != nil {
		client.Close()
		dlq.Close()
		return fmt.Errorf("join consumer group %s: %w", c.d.Group, err)
	}
	go func() {
		for err := range group.Errors() {
			c.d.Log.Warn("consumer group error", "error", err)
		}
	}()
	go c.measureRate(ctx)
	c.d.Log.Info("ingest consumer started", "topic", c.d.Topic, "group", c.d.Group)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.consume(ctx, group)
		// Leaving the group commits the offsets marked last.
		_ = group.Close()
		_ = client.Close()
		_ = dlq.Close()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	t := time.NewTimer(c.d.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.assigned.Set(0)
		c.d.Log.Warn("the consumer did not stop within the shutdown timeout; leaving it behind (events whose offsets were not committed are delivered again)",
			"timeout", c.d.ShutdownTimeout)
	}
	return nil
}

// consume takes part in the group until ctx ends or the group is closed.
func (c *Consumer) consume(ctx context.Context, group sarama.ConsumerGroup) {
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{c.d.Topic}, c); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return
			}
			c.d.Log.Warn("consume", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// Setup implements sarama.ConsumerGroupHandler: it shows the partitions
// the session was given.
func (c *Consumer) Setup(sess sarama.ConsumerGroupSession) error {
	c.assigned.Set(float64(len(sess.Claims()[c.d.Topic])))
	return nil
}

// Cleanup implements sarama.ConsumerGroupHandler: the session's
// partitions are no longer this process's.
func (c *Consumer) Cleanup(sarama.ConsumerGroupSession) error {
	c.assigned.Set(0)
	return nil
}

// DefaultAppliers is ConsumerDeps.Appliers when it is not set: enough
// transactions at once to keep a few cores of Postgres and the consumer
// busy, few enough that the batches waiting for them go in together.
const DefaultAppliers = 4

// MaxBatch is the most messages of one partition applied together.
const MaxBatch = 500

// ConsumeClaim applies one partition's messages in order, in batches of
// what has arrived (up to MaxBatch), and marks a batch's offsets only after
// all of its effects are durable.
func (c *Consumer) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	part := fmt.Sprint(claim.Partition())
	c.forgetStored(claim.Partition(), claim.InitialOffset()) // committed: done by whoever owned it
	pl := &partitionLag{next: claim.InitialOffset()}
	stop := make(chan struct{})
	go c.watchLag(sess.Context(), claim.Topic(), claim.Partition(), pl, stop)
	defer func() {
		// Another member may own the partition next: its gauges are theirs.
		close(stop)
		pl.mu.Lock()
		pl.done = true
		c.lag.DeleteLabelValues(part)
		c.lagSeconds.DeleteLabelValues(part)
		pl.mu.Unlock()
	}()
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch := c.collect(sess.Context(), claim.Messages(), msg)
			pl.hold(batch[0].Timestamp)
			// The batch in hand may finish when the session ends (a
			// rebalance, a stop): delivered again, its events would be
			// stored once but routed twice for nothing.
			bctx, cancel := afterGrace(sess.Context(), c.batchGrace())
			t, err := c.handleBatch(bctx, batch)
			cancel()
			if err != nil {
				// Only a cancelled context gets here (retry gives up on
				// nothing else but poison, which handleBatch dead-letters):
				// leave the offsets unmarked, and the batch uncounted.
				c.rememberStored(claim.Partition(), t.stored)
				return nil
			}
			last := batch[len(batch)-1]
			sess.MarkMessage(last, "")
			c.count(t)
			c.forgetStored(claim.Partition(), last.Offset+1)
			pl.applied(last.Offset + 1)
			c.total.Add(int64(len(batch)))
			c.batchSize.Observe(float64(len(batch)))
			behind := max(0, claim.HighWaterMarkOffset()-last.Offset-1)
			c.lag.WithLabelValues(part).Set(float64(behind))
			if behind == 0 {
				c.lagSeconds.WithLabelValues(part).Set(0)
			}
		}
	}
}

// collect gathers a batch that starts with first: what has arrived (up
// to MaxBatch) and, when more than the first message had arrived (events
// are streaming in), what arrives within Linger after that, so that a
// busy partition is applied in fewer, larger transactions. A lone message
// is applied at once.
func (c *Consumer) collect(ctx context.Context, msgs <-chan *sarama.ConsumerMessage, first *sarama.ConsumerMessage) []*sarama.ConsumerMessage {
	batch := []*sarama.ConsumerMessage{first}
	var linger <-chan time.Time
	for len(batch) < MaxBatch {
		select {
		case m, ok := <-msgs:
			if !ok {
				return batch
			}
			batch = append(batch, m)
			continue
		default:
		}
		if linger == nil {
			if len(batch) == 1 || c.d.Linger <= 0 {
				return batch
			}
			t := time.NewTimer(c.d.Linger)
			defer t.Stop()
			linger = t.C
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				return batch
			}
			batch = append(batch, m)
		case <-linger:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}

// BatchGrace is how long a batch being applied may go on after its
// session ended, before it is abandoned (its messages then come again).
// A shorter shutdown timeout shortens it (batchGrace).
const BatchGrace = 10 * time.Second

// batchGrace is BatchGrace within the shutdown budget: at most half of
// the shutdown timeout, so that the offsets of a batch that finishes can
// still be committed before Run gives up on stopping cleanly.
func (c *Consumer) batchGrace() time.Duration {
	return min(BatchGrace, c.d.ShutdownTimeout/2)
}

// afterGrace is a context that ends grace after parent does (or when its
// cancel is called).
func afterGrace(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	})
	return ctx, func() {
		stop()
		cancel()
	}
}

// partitionLag is where a claimed partition's consumer stands, for its
// lag gauges.
type partitionLag struct {
	mu sync.Mutex
	// next is the offset of the first message not applied yet (negative:
	// the partition's oldest, not known yet).
	next int64
	// oldest is the record time of the oldest message held and not
	// applied yet; zero when none is held.
	oldest time.Time
	// done: the claim ended and its gauges were removed.
	done bool
	// idleAt is the range [next, hwm) of the last measure that found
	// nothing held; checked is the last range read for markers, and
	// markersOnly what it held.
	idleAt, checked [2]int64
	markersOnly     bool
}

// settled says whether offsets [next, hwm), behind with nothing held,
// hold nothing to apply. Only a range seen so twice in a row is read (with
// check, once): while events stream in, the range moves on each time.
func (p *partitionLag) settled(next, hwm int64, idle bool, check func() bool) bool {
	at := [2]int64{next, hwm}
	p.mu.Lock()
	again := idle && p.idleAt == at
	if idle {
		p.idleAt = at
	} else {
		p.idleAt = [2]int64{}
	}
	known, answer := p.checked == at, p.markersOnly
	p.mu.Unlock()
	switch {
	case !again || hwm <= next:
		return false
	case known:
		return answer
	}
	answer = check()
	p.mu.Lock()
	p.checked, p.markersOnly = at, answer
	p.mu.Unlock()
	return answer
}

func (p *partitionLag) hold(t time.Time) {
	p.mu.Lock()
	p.oldest = t
	p.mu.Unlock()
}

func (p *partitionLag) applied(next int64) {
	p.mu.Lock()
	p.next, p.oldest = next, time.Time{}
	p.mu.Unlock()
}

// watchLag measures a claimed partition's lag every LagInterval against
// the broker's high-water mark, so that a partition whose batch cannot
// get through (or a consumer that stopped) shows its backlog and its age
// growing rather than the values of its last good batch.
func (c *Consumer) watchLag(ctx context.Context, topic string, partition int32, pl *partitionLag, stop <-chan struct{}) {
	part := fmt.Sprint(partition)
	t := time.NewTicker(c.d.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
		hwm, err := c.client.GetOffset(topic, partition, sarama.OffsetNewest)
		if err != nil {
			continue
		}
		pl.mu.Lock()
		next := pl.next
		pl.mu.Unlock()
		if next < 0 {
			if next, err = c.client.GetOffset(topic, partition, sarama.OffsetOldest); err != nil {
				continue
			}
		}
		pl.mu.Lock()
		if pl.next < 0 {
			// Nothing applied yet: the partition's log start is where it
			// stands, so that a range of only markers can be settled.
			pl.next = next
		}
		idle := pl.oldest.IsZero() && pl.next == next
		pl.mu.Unlock()
		// Nothing held, yet behind: what is left may be only transaction
		// markers and aborted records, which no consumer is given.
		settled := pl.settled(next, hwm, idle, func() bool {
			return c.onlyMarkers(topic, partition, next, hwm)
		})
		pl.mu.Lock()
		if !pl.done {
			next = max(next, pl.next) // a batch may have been applied meanwhile
			behind := max(0, hwm-next)
			if settled && next == pl.next && pl.oldest.IsZero() {
				behind = 0
			}
			c.lag.WithLabelValues(part).Set(float64(behind))
			switch {
			case behind == 0:
				c.lagSeconds.WithLabelValues(part).Set(0)
			case !pl.oldest.IsZero():
				c.lagSeconds.WithLabelValues(part).Set(max(0, time.Since(pl.oldest).Seconds()))
			}
		}
		pl.mu.Unlock()
	}
}

// onlyMarkers reads offsets [next, hwm) of a partition and says whether
// they are only what a read-committed consumer is never given: control
// records (a transaction's commit or abort marker) and records of aborted
// transactions. Any doubt (an error, an old record format, a range longer
// than one small read) is a no.
func (c *Consumer) onlyMarkers(topic string, partition int32, next, hwm int64) bool {
	leader, err := c.client.Leader(topic, partition)
	if err != nil {
		return false
	}
	// Markers are ~70 bytes each: a range of them fits in a small read.
	req := &sarama.FetchRequest{Version: 4, MaxBytes: 64 << 10, Isolation: sarama.ReadCommitted}
	req.AddBlock(topic, partition, next, 64<<10, -1)
	resp, err := leader.Fetch(req)
	if err != nil {
		return false
	}
	block := resp.GetBlock(topic, partition)
	if block == nil || block.Err != sarama.ErrNoError {
		return false
	}
	// Aborted transactions by where they begin; each ends at its
	// producer's next marker.
	pending := slices.SortedFunc(slices.Values(block.AbortedTransactions), func(a, b *sarama.AbortedTransaction) int {
		return cmp.Compare(a.FirstOffset, b.FirstOffset)
	})
	aborting := map[int64]bool{}
	seen := next
	for _, r := range block.RecordsSet {
		b := r.RecordBatch
		if b == nil {
			return false // the old message format has no transactions
		}
		if b.FirstOffset >= hwm {
			break // past the range (written since hwm was read)
		}
		last := b.FirstOffset + int64(b.LastOffsetDelta)
		for len(pending) > 0 && pending[0].FirstOffset <= last {
			aborting[pending[0].ProducerID] = true
			pending = pending[1:]
		}
		switch {
		case b.Control:
			delete(aborting, b.ProducerID) // its transaction ends here
		case b.IsTransactional && aborting[b.ProducerID]:
		case last >= next:
			return false // a record to apply
		}
		seen = max(seen, last+1)
	}
	return seen >= hwm
}

// measureRate keeps herald_ingest_events_per_second: the events of the
// last ten seconds, sampled each second.
func (c *Consumer) measureRate(ctx context.Context) {
	const window = 10
	var samples [window + 1]int64
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		samples[i%len(samples)] = c.total.Load()
		span := min(i, window)
		c.rate.Set(float64(samples[i%len(samples)]-samples[(i-span)%len(samples)]) / float64(span))
	}
}

// poison is an error no retry can fix: the message goes to the DLQ.
type poison struct{ reason string }

func (p poison) Error() string { return p.reason }

// retry runs fn until it succeeds, fails with poison or ctx ends; other
// errors are transient (database or Temporal unavailable) and retried
// with backoff, so a message is never skipped for them.
func (c *Consumer) retry(ctx context.Context, what string, fn func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := fn()
		var p poison
		if err == nil || errors.As(err, &p) || schema.IsDataError(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err() // stopping (a rebalance, a shutdown): nothing to retry
		}
		c.d.Log.Warn(what+" failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// pending is a decoded message on its way through a batch.
type pending struct {
	msg *sarama.ConsumerMessage
	ev  Event
	in  schema.EventInput
}

// tally is what a batch's events came to. It is added to the metrics
// only when the batch is marked (its offsets will be committed): a batch
// abandoned part-way comes again, and would be counted twice.
type tally struct {
	applied, duplicate, deadLettered, erased, misrouted int
	// stored are the offsets of the events this attempt counts applied.
	stored []int64
}

// count adds a marked batch's tally to the metrics.
func (c *Consumer) count(t *tally) {
	add := func(outcome string, n int) {
		if n > 0 {
			c.consumed.WithLabelValues(outcome).Add(float64(n))
		}
	}
	add("applied", t.applied)
	add("duplicate", t.duplicate)
	add("dead_lettered", t.deadLettered)
	add("erased", t.erased)
	if t.misrouted > 0 {
		c.misKeyed.Add(float64(t.misrouted))
	}
}

// rememberStored keeps the offsets of events an abandoned attempt stored.
func (c *Consumer) rememberStored(partition int32, offsets []int64) {
	if len(offsets) == 0 {
		return
	}
	c.unfinishedMu.Lock()
	defer c.unfinishedMu.Unlock()
	m := c.unfinished[partition]
	if m == nil {
		m = map[int64]bool{}
		c.unfinished[partition] = m
	}
	for _, o := range offsets {
		m[o] = true
	}
}

// storedEarlier says whether an abandoned attempt in this process stored
// the event at offset (and no finished batch counted it since).
func (c *Consumer) storedEarlier(partition int32, offset int64) bool {
	c.unfinishedMu.Lock()
	defer c.unfinishedMu.Unlock()
	return c.unfinished[partition][offset]
}

// forgetStored drops the remembered offsets below next: they are counted,
// or committed by another member.
func (c *Consumer) forgetStored(partition int32, next int64) {
	c.unfinishedMu.Lock()
	defer c.unfinishedMu.Unlock()
	m := c.unfinished[partition]
	for o := range m {
		if o < next {
			delete(m, o)
		}
	}
	if len(m) == 0 {
		delete(c.unfinished, partition)
	}
}

// handleBatch applies a batch: decodes each message (poison to the DLQ),
// stores the events and customers in one transaction, then routes them.
// The tally says what the attempt did, also when it fails.
func (c *Consumer) handleBatch(ctx context.Context, msgs []*sarama.ConsumerMessage) (*tally, error) {
	t := &tally{}
	return t, c.applyBatch(ctx, msgs, t)
}

func (c *Consumer) applyBatch(ctx context.Context, msgs []*sarama.ConsumerMessage, t *tally) error {
	keys := map[string]keyCheck{}
	ps := make([]pending, 0, len(msgs))
	var letters []letter
	for _, msg := range msgs {
		var p pending
		err := c.retry(ctx, "decode event", func() (err error) {
			p, err = c.decode(ctx, msg, keys)
			return err
		})
		var pe poison
		switch {
		case errors.As(err, &pe):
			letters = append(letters, newLetter(msg, pe.reason))
		case schema.IsDataError(err):
			// Text of the event the database refused to look up: no retry
			// would fix it.
			letters = append(letters, newLetter(msg, "the database refused the event's data: "+err.Error()))
		case err != nil:
			return err
		default:
			ps = append(ps, p)
		}
	}
	// Written together, and durable before the batch can be marked.
	if err := c.deadLetters(ctx, letters, t); err != nil {
		return err
	}
	if len(ps) == 0 {
		return nil
	}
	t.misrouted = c.checkKeys(ps)
	applied, err := c.store(ctx, ps, t)
	if err != nil {
		return err
	}
	if c.d.Router != nil && len(applied) > 0 {
		attempts := 0
		err := c.retry(ctx, "route events", func() error {
			if attempts++; attempts == 2 {
				for i := range applied {
					applied[i].Retried = true
				}
			}
			err := c.d.Router.Route(ctx, applied)
			if errors.As(err, new(poison)) || schema.IsDataError(err) {
				// Retried like any failure, with backoff: the events are
				// stored and have no dead letter to go to, and a batch given
				// up here would end the session of every partition and come
				// straight back.
				return fmt.Errorf("route events: %s", err.Error())
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// checkKeys counts (and logs, once per attempt at a batch) events whose record key is
// not the customer's: they are applied, but a producer that keys them
// otherwise cannot count on their order against the customer's events
// that Herald's API or a correct producer put on another partition.
//
// It also counts events keyed right but on another partition than Kafka's
// default partitioner (murmur2) puts their key — a producer using another
// hash (librdkafka's and kcat's default crc32, sarama's FNV-1a): the same
// customer's events from Herald's API land elsewhere.
func (c *Consumer) checkKeys(ps []pending) int {
	n, example := 0, ""
	wrongPart, partExample := 0, ""
	var partitions int32 // 0: unknown (no client, as in BenchmarkHandleBatch), not checked
	if c.client != nil {
		if ids, err := c.client.Partitions(ps[0].msg.Topic); err == nil {
			partitions = int32(len(ids))
		}
	}
	for _, p := range ps {
		want := p.ev.Key()
		switch {
		case string(p.msg.Key) != want:
			if n == 0 {
				example = fmt.Sprintf("key %q for an event of %q", p.msg.Key, want)
			}
			n++
		case partitions > 0 && KeyPartition(p.msg.Key, partitions) != p.msg.Partition:
			if wrongPart == 0 {
				partExample = fmt.Sprintf("key %q on partition %d, murmur2 puts it on %d", p.msg.Key, p.msg.Partition, KeyPartition(p.msg.Key, partitions))
			}
			wrongPart++
		}
	}
	if n > 0 {
		c.d.Log.Warn("events keyed otherwise than <workspaceId>:<userId or anonymousId>; applied, but their order per customer is not guaranteed",
			"events", n, "example", example, "partition", ps[0].msg.Partition)
	}
	if wrongPart > 0 {
		c.d.Log.Warn("events partitioned otherwise than Kafka's default partitioner (murmur2; kcat: -X partitioner=murmur2_random); applied, but their order against the customer's other events is not guaranteed",
			"events", wrongPart, "example", partExample)
	}
	return n + wrongPart
}

// store writes the batch's events. When the database refuses one event's
// data the batch is applied one event at a time and the refused ones go to
// the DLQ; so does an event that reuses another's message id (it is not
// applied, and not routed as that event).
func (c *Consumer) store(ctx context.Context, ps []pending, t *tally) ([]Applied, error) {
	in := make([]schema.EventInput, len(ps))
	for i, p := range ps {
		in[i] = p.in
	}
	var res []schema.AppliedEvent
	err := c.retry(ctx, "apply events", func() (err error) {
		res, err = c.applyEvents(ctx, in, true)
		return err
	})
	var letters []letter
	if err == nil {
		out := make([]Applied, 0, len(ps))
		for i, r := range res {
			if r.Conflict != "" {
				letters = append(letters, newLetter(ps[i].msg, r.Conflict))
				continue
			}
			t.add(c, ps[i].msg, r)
			if !r.Erased { // an erased event has no one to route to
				out = append(out, appliedOf(ps[i].ev, r))
			}
		}
		return out, c.deadLetters(ctx, letters, t)
	}
	if !schema.IsDataError(err) {
		return nil, err
	}
	var out []Applied
	for _, p := range ps {
		var r []schema.AppliedEvent
		err := c.retry(ctx, "apply event", func() (err error) {
			r, err = c.applyEvents(ctx, []schema.EventInput{p.in}, false)
			return err
		})
		switch {
		case schema.IsDataError(err):
			letters = append(letters, newLetter(p.msg, "the database refused the event's data: "+err.Error()))
		case err != nil:
			return nil, err
		case r[0].Conflict != "":
			letters = append(letters, newLetter(p.msg, r[0].Conflict))
		case r[0].Erased:
			t.add(c, p.msg, r[0])
		default:
			t.add(c, p.msg, r[0])
			out = append(out, appliedOf(p.ev, r[0]))
		}
	}
	return out, c.deadLetters(ctx, letters, t)
}

// applyEvents applies in: together with the batches of other partitions
// when combine is set and Appliers allows it, in a transaction of its own
// otherwise.
func (c *Consumer) applyEvents(ctx context.Context, in []schema.EventInput, combine bool) ([]schema.AppliedEvent, error) {
	if combine && c.comb != nil {
		return c.comb.ApplyEvents(ctx, in)
	}
	out, err := c.d.Store.ApplyEvents(ctx, in)
	if err == nil {
		c.txSize.Observe(float64(len(in)))
	}
	return out, err
}

// add counts a stored event: applied when this attempt stored it, or an
// abandoned attempt in this process did; duplicate otherwise (delivered
// again after an earlier attempt was counted — or one in another process,
// which cannot be told apart).
func (t *tally) add(c *Consumer, msg *sarama.ConsumerMessage, r schema.AppliedEvent) {
	if r.Erased && !r.Duplicate {
		t.erased++ // accepted before an erasure of its person: not applied
		return
	}
	if r.Duplicate && !c.storedEarlier(msg.Partition, msg.Offset) {
		t.duplicate++
		return
	}
	t.applied++
	t.stored = append(t.stored, msg.Offset)
}

func appliedOf(ev Event, r schema.AppliedEvent) Applied {
	return Applied{Event: ev, CustomerID: r.CustomerID, Duplicate: r.Duplicate, MergedFrom: r.MergedFrom}
}

// keyCheck is a write key or workspace id looked up once per batch.
type keyCheck struct {
	workspaceID string
	refused     string
	// revokedAt is when the write key was revoked (nil: it is live):
	// records appended from then on are refused (keyCheck.at).
	revokedAt *time.Time
}

// at is the check of a record appended at appended.
func (k keyCheck) at(appended time.Time) keyCheck {
	if k.revokedAt != nil && !k.revokedAt.After(appended) {
		return keyCheck{workspaceID: k.workspaceID, refused: "unknown or revoked writeKey"}
	}
	return k
}

// decode parses and validates one message into the event to store;
// problems no retry can fix are poison.
func (c *Consumer) decode(ctx context.Context, msg *sarama.ConsumerMessage, seen map[string]keyCheck) (pending, error) {
	if len(msg.Value) > MaxMessageBytes {
		return pending{}, poison{fmt.Sprintf("event is %d bytes; the limit is %d (%d for the event and %d for the fields Herald adds)",
			len(msg.Value), MaxMessageBytes, MaxEventBytes, MaxMessageBytes-MaxEventBytes)}
	}
	if len(msg.Value) == 0 {
		return pending{}, poison{"value is empty (a tombstone, or a record without a value): there is no event to apply"}
	}
	if ferr := CheckText(msg.Value); ferr != nil {
		return pending{}, poison{ferr.Field + ": " + ferr.Message}
	}
	ev, err := UnmarshalEvent(msg.Value)
	if err != nil {
		var timeErr *time.ParseError
		if errors.As(err, &timeErr) {
			reason := "times must be RFC 3339 with an upper-case T and Z (2024-05-01T10:00:00Z or an offset such as +02:00): " + err.Error()
			if field := UnparsedTime(msg.Value, EventTimeFields...); field != "" {
				reason = field + ": " + reason
			}
			return pending{}, poison{reason}
		}
		if field, ok := NonStringTime(msg.Value, err, EventTimeFields...); ok {
			return pending{}, poison{field + ": times must be RFC 3339 strings (2024-05-01T10:00:00Z): " + err.Error()}
		}
		return pending{}, poison{"value is not a JSON event: " + err.Error()}
	}
	if ev.Type == "" && batchEnvelope(msg.Value) {
		// Its writeKey may name a workspace, and it has no messageId: say
		// what it is rather than what it lacks as an event.
		return pending{}, poison{"a Segment batch envelope: produce one event per record (the /v1/batch wire format is for HTTP)"}
	}
	if ev.WorkspaceID == "" && ev.WriteKey == "" {
		return pending{}, poison{"event has neither workspaceId nor writeKey"}
	}
	// Looked up before the event is validated: text Postgres cannot take
	// would fail the lookup (a data error no retry fixes), not the event.
	for _, f := range [...]struct{ name, v string }{{"workspaceId", ev.WorkspaceID}, {"writeKey", ev.WriteKey}} {
		if ferr := nulIn(f.name, f.v); ferr != nil {
			return pending{}, poison{ferr.Field + ": " + ferr.Message}
		}
	}
	check, err := c.checkKey(ctx, ev, msg.Timestamp, seen)
	if err != nil {
		return pending{}, err
	}
	if check.refused != "" {
		return pending{}, poison{check.refused}
	}
	ev.WorkspaceID = check.workspaceID
	if ev.MessageID == "" {
		return pending{}, poison{"messageId is required on events produced to Kafka (it is the dedupe key)"}
	}
	if ferr := ev.Validate(); ferr != nil {
		return pending{}, poison{ferr.Field + ": " + ferr.Message}
	}
	ev.Normalize(msg.Timestamp, func() string { return "" })
	if ferr := ev.CheckTimes(); ferr != nil {
		return pending{}, poison{ferr.Field + ": " + ferr.Message}
	}
	var traits map[string]any
	if len(ev.Traits) > 0 && ev.Type == "identify" {
		// Numbers as written: an id of 20 digits stays exact.
		dec := json.NewDecoder(bytes.NewReader(ev.Traits))
		dec.UseNumber()
		if err := dec.Decode(&traits); err != nil {
			return pending{}, poison{"traits: " + err.Error()}
		}
	}
	props, err := ev.StoredProperties()
	if err != nil {
		return pending{}, poison{err.Error()}
	}
	return pending{msg: msg, ev: ev, in: schema.EventInput{
		WorkspaceID: ev.WorkspaceID, MessageID: ev.MessageID, Type: ev.Type, Name: ev.DisplayName(),
		UserID: ev.UserID, AnonymousID: ev.AnonymousID, PreviousID: ev.PreviousID,
		Properties: props, Traits: traits, Context: nullToEmpty(ev.Context),
		OccurredAt: *ev.Timestamp, AcceptedAt: acceptedAt(msg, ev),
	}}, nil
}

// acceptedAt is when the event entered Herald's stream: its record's
// append time (the broker's LogAppendTime on the topics Herald creates),
// or its receivedAt when the record has no time.
func acceptedAt(msg *sarama.ConsumerMessage, ev Event) time.Time {
	if msg.Timestamp.Unix() > 0 { // a record without a time reads as -1 ms or zero
		return msg.Timestamp
	}
	if ev.ReceivedAt != nil {
		return *ev.ReceivedAt
	}
	return time.Time{}
}

// keyCacheKey is checkKey's cache key for an event's workspace id and write
// key.
func keyCacheKey(workspaceID, writeKey string) string {
	return workspaceID + "/" + writeKey
}

// checkKey finds the event's workspace from its write key (or checks the
// workspace id the API stamped on it), looked up once per key per batch.
//
// A key is taken as it stood when the record was appended (its timestamp:
// the broker's LogAppendTime on the topics Herald creates): records of a
// key revoked since — producers moved to a new key while ingest lagged —
// are applied; records appended after the revocation are not. Each record
// is judged by its own time, in any order (on a CreateTime topic a batch's
// times need not rise).
func (c *Consumer) checkKey(ctx context.Context, ev Event, appended time.Time, seen map[string]keyCheck) (keyCheck, error) {
	if appended.IsZero() {
		appended = time.Now()
	}
	cacheKey := keyCacheKey(ev.WorkspaceID, ev.WriteKey)
	check, ok := seen[cacheKey]
	if !ok {
		var err error
		if check, err = c.lookUpKey(ctx, ev); err != nil {
			return check, err
		}
		seen[cacheKey] = check
	}
	return check.at(appended), nil
}

// lookUpKey is checkKey's lookup of the event's write key and workspace,
// for records of any time.
func (c *Consumer) lookUpKey(ctx context.Context, ev Event) (keyCheck, error) {
	check := keyCheck{workspaceID: ev.WorkspaceID}
	if ev.WriteKey != "" {
		// Alone it names the workspace; beside a workspaceId it must be one
		// of that workspace's write keys.
		key, err := c.d.Store.LookupKeyRevokedOrNot(ctx, ev.WriteKey)
		check.revokedAt = key.RevokedAt
		switch {
		case errors.Is(err, schema.ErrNotFound):
			check.refused = "unknown or revoked writeKey"
		case err != nil:
			return check, err
		case key.Kind != schema.KeyWrite:
			check.refused = "writeKey is a secret key; producers use a write key"
		case ev.WorkspaceID != "" && key.WorkspaceID != ev.WorkspaceID:
			check.refused = "writeKey belongs to another workspace than workspaceId " + ev.WorkspaceID
		default:
			check.workspaceID = key.WorkspaceID
		}
	}
	if check.refused == "" {
		if _, err := c.d.Store.GetWorkspace(ctx, check.workspaceID); errors.Is(err, schema.ErrNotFound) {
			check.refused = "unknown workspaceId " + check.workspaceID
		} else if err != nil {
			return check, err
		}
	}
	return check, nil
}

// batchEnvelope says whether the JSON object b has a top-level "batch"
// member: the body of Segment's /v1/batch, not one event.
func batchEnvelope(b []byte) bool {
	var env struct {
		Batch json.RawMessage `json:"batch"`
	}
	return json.Unmarshal(b, &env) == nil && env.Batch != nil
}

func nullToEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// DeadLetter is the value written to the dead-letter topic. The record
// keeps the original's key and headers.
type DeadLetter struct {
	Reason    string `json:"reason"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Key       string `json:"key"`
	// RecordTimestamp is the original record's timestamp (absent when it
	// had none): the event's receipt time, which corrects a sentAt's clock
	// skew and is the time of an event without one. A letter sent again
	// is a new record with a new time; set the event's receivedAt to this
	// to keep the event's time as it would have been.
	RecordTimestamp time.Time `json:"record_timestamp,omitzero"`
	LetterPayload
}

// LetterPayload is the original value a dead letter carries, whatever its
// source.
type LetterPayload struct {
	// Payload is the original value as text; PayloadBase64 its exact bytes
	// when they are not UTF-8 (Payload then has U+FFFD in their place).
	Payload       string `json:"payload"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
	// PayloadBytes is the original value's size; Truncated says Payload
	// (and PayloadBase64) hold only its first part, so that the dead
	// letter fits in a Kafka record, or in the dead-letter topic's
	// max.message.bytes (the whole is still on the source topic at
	// Partition/Offset until its retention ends).
	PayloadBytes int  `json:"payload_bytes"`
	Truncated    bool `json:"truncated,omitempty"`
	// PayloadNull says the original value was null (a tombstone), not
	// empty: both have an empty Payload.
	PayloadNull bool      `json:"payload_null,omitempty"`
	FailedAt    time.Time `json:"failed_at"`
	// Event is the original value as JSON, when it is valid JSON of at
	// most MaxMessageBytes.
	Event json.RawMessage `json:"event,omitempty"`
}

// RejectedEvent is the dead letter of an event the HTTP API refused inside
// a batch whose other events it accepted: it never reached the events
// topic, so the letter names the request instead of a topic and offset.
type RejectedEvent struct {
	Reason string `json:"reason"`
	// Field is the refused field, as the API's answer names it
	// ("batch[2].userId").
	Field string `json:"field"`
	// Source is "api": the event came over HTTP, not from a topic.
	Source string `json:"source"`
	// Path is the request's path (/v1/batch, /v1/b …), Index the event's
	// place in its batch.
	Path        string `json:"path"`
	Index       int    `json:"index"`
	WorkspaceID string `json:"workspace_id"`
	RequestID   string `json:"request_id,omitempty"`
	// Key is the key the event would have had on the events topic
	// (workspace and customer id, as far as the event names one); the
	// letter record has it too.
	Key string `json:"key"`
	LetterPayload
}

// NewRejectedLetter is the dead-letter record of an event the API refused,
// raw as it was sent, at now, keeping at most keep bytes of it (cut and
// marked truncated beyond, as the consumer cuts a letter the topic refuses
// as too large).
func NewRejectedLetter(l RejectedEvent, raw []byte, keep int, now time.Time) (Message, error) {
	l.Source = "api"
	l.FailedAt = now.UTC()
	b, _, err := encodeLetter(&l, &l.LetterPayload, raw, keep)
	if err != nil {
		return Message{}, fmt.Errorf("encode dead letter: %w", err)
	}
	return Message{Key: l.Key, Value: b}, nil
}

// IsTooLarge says whether err is a topic refusing a record (or its record
// batch) as larger than it takes.
func IsTooLarge(err error) bool { return errors.Is(err, sarama.ErrMessageSizeTooLarge) }

// maxDeadLetterBytes bounds a dead letter's encoded size: under sarama's
// and Kafka's default record limit (1,000,000 and 1,048,588 bytes), so a
// poison record of any size can be parked. A dead-letter topic that takes
// less (its max.message.bytes) has letters cut further (deadLetters).
const maxDeadLetterBytes = 900_000

// newDeadLetter encodes the dead letter of msg, keeping at most keep bytes
// of its value (and fewer if need be to stay within maxDeadLetterBytes). It
// returns how many it kept.
func newDeadLetter(msg *sarama.ConsumerMessage, reason string, now time.Time, keep int) ([]byte, int, error) {
	dl := DeadLetter{Reason: reason, Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset,
		Key: strings.ToValidUTF8(string(msg.Key[:min(len(msg.Key), maxDeadLetterExtras)]), "\uFFFD")}
	if !msg.Timestamp.IsZero() {
		dl.RecordTimestamp = msg.Timestamp.UTC()
	}
	dl.FailedAt = now.UTC()
	return encodeLetter(&dl, &dl.LetterPayload, msg.Value, keep)
}

// encodeLetter encodes the dead letter letter, whose payload p is, with the
// original value, keeping at most keep bytes of it (and fewer if need be to
// stay within maxDeadLetterBytes). It returns how many it kept.
func encodeLetter(letter any, p *LetterPayload, value []byte, keep int) ([]byte, int, error) {
	p.PayloadBytes, p.PayloadNull = len(value), value == nil
	// JSON is UTF-8 text (json.Valid does not check that): a record with
	// other bytes in it keeps them in payload_base64 only.
	if len(value) <= MaxMessageBytes && utf8.Valid(value) && json.Valid(value) {
		p.Event = value
	}
	for keep = min(keep, len(value)); ; keep /= 2 {
		part := value[:keep]
		p.Truncated = keep < len(value)
		if p.Truncated {
			p.Event = nil
			if utf8.Valid(value) {
				// End on a whole character: a cut one is not the sender's.
				for len(part) > 0 && !utf8.Valid(part) {
					part = part[:len(part)-1]
				}
			}
		}
		p.Payload, p.PayloadBase64 = string(part), ""
		if !utf8.Valid(part) {
			p.Payload = strings.ToValidUTF8(string(part), "\uFFFD")
			p.PayloadBase64 = base64.StdEncoding.EncodeToString(part)
		}
		b, err := json.Marshal(letter)
		if err != nil || len(b) <= maxDeadLetterBytes || keep == 0 {
			return b, keep, err
		}
	}
}

// maxDeadLetterExtras bounds the original key and headers a dead letter
// record carries, beside its value (maxDeadLetterBytes).
const maxDeadLetterExtras = 64 << 10

// deadLetterKeyAndHeaders are the original record's key and headers for
// its dead letter, unless they are too large to fit beside it (the
// envelope names the key in any case, truncated if need be).
func deadLetterKeyAndHeaders(msg *sarama.ConsumerMessage) (string, []sarama.RecordHeader) {
	size := len(msg.Key)
	headers := make([]sarama.RecordHeader, 0, len(msg.Headers))
	for _, h := range msg.Headers {
		if h != nil {
			headers = append(headers, *h)
			// Each header also takes its lengths on the wire (varints,
			// counted high): tens of thousands of empty headers are large.
			size += len(h.Key) + len(h.Value) + 16
		}
	}
	if size > maxDeadLetterExtras {
		return "", nil
	}
	return string(msg.Key), headers
}

// recreateDLQ creates the dead-letter topic again, with as many partitions
// as the events topic.
func (c *Consumer) recreateDLQ() {
	parts, err := c.client.Partitions(c.d.Topic)
	if err == nil {
		err = EnsureTopics(c.client, int32(len(parts)), c.d.DLQTopic)
	}
	if err != nil {
		c.d.Log.Error("the dead-letter topic is missing and could not be created", "topic", c.d.DLQTopic, "error", err)
		return
	}
	c.d.Log.Warn("the dead-letter topic was missing; created it again", "topic", c.d.DLQTopic)
}

// letter is a dead letter on its way to the dead-letter topic.
type letter struct {
	msg    *sarama.ConsumerMessage
	reason string
	at     time.Time
	// keep is the most bytes of the original value the letter may hold:
	// halved each time the topic refuses the letter as too large.
	keep int
	// alone: refused as too large in a call with other letters (their
	// record batch may have been too large, not this letter), it is sent
	// by itself.
	alone bool
	// bare: refused as too large with none of the value kept, the record
	// goes without the original key and headers (the envelope still names
	// the key).
	bare bool
}

func newLetter(msg *sarama.ConsumerMessage, reason string) letter {
	return letter{msg: msg, reason: reason, at: time.Now(), keep: len(msg.Value)}
}

// record encodes the letter as the record to produce.
func (l *letter) record() (Message, error) {
	b, kept, err := newDeadLetter(l.msg, l.reason, l.at, l.keep)
	if err != nil {
		return Message{}, err
	}
	l.keep = kept
	if l.bare {
		return Message{Value: b}, nil
	}
	key, headers := deadLetterKeyAndHeaders(l.msg)
	return Message{Key: key, Value: b, Headers: headers}, nil
}

// shrink makes a letter the topic refused as too large smaller for its
// next try: refused beside others, it goes alone; refused alone, it keeps
// half as much. False when nothing is left to take off.
func (l *letter) shrink(alone bool) bool {
	switch {
	case !alone:
		l.alone = true
	case l.keep > 0:
		l.keep /= 2
	case !l.bare:
		l.bare = true
	default:
		return false
	}
	return true
}

// deadLetters writes the letters to the dead-letter topic, those not
// refused as too large together in one produce call, and counts them in t.
// It returns once all of them are durable (or ctx ends): transient failures
// are retried with backoff; a letter larger than the topic takes (its
// max.message.bytes, or its record batch's) is sent alone, then cut by
// half until it fits, marked truncated.
func (c *Consumer) deadLetters(ctx context.Context, letters []letter, t *tally) error {
	backoff := 100 * time.Millisecond
	for len(letters) > 0 {
		var (
			together []int
			failed   []letter
			last     error // of a failure other than a letter too large
		)
		send := func(idx []int) error {
			msgs := make([]Message, len(idx))
			for i, j := range idx {
				m, err := letters[j].record()
				if err != nil {
					return fmt.Errorf("encode dead letter: %w", err)
				}
				msgs[i] = m
			}
			errs := c.dlq.produceEach(ctx, msgs)
			for i, j := range idx {
				l := letters[j]
				var err error
				if errs != nil {
					err = errs[i]
				}
				switch {
				case err == nil:
					c.d.Log.Warn("event dead-lettered", "reason", l.reason, "partition", l.msg.Partition, "offset", l.msg.Offset)
					t.deadLettered++
					continue
				case IsTooLarge(err) && l.shrink(len(idx) == 1):
					c.d.Log.Warn("dead letter too large for the dead-letter topic; sending it cut shorter or by itself",
						"bytes", len(msgs[i].Value), "partition", l.msg.Partition, "offset", l.msg.Offset, "kept", l.keep, "alone", l.alone)
				default:
					last = err
				}
				failed = append(failed, l)
			}
			return nil
		}
		for j, l := range letters {
			if !l.alone {
				together = append(together, j)
				continue
			}
			if err := send([]int{j}); err != nil {
				return err
			}
		}
		if len(together) > 0 {
			if err := send(together); err != nil {
				return err
			}
		}
		letters = failed
		if last == nil {
			continue // done, or letters made smaller: try them at once
		}
		c.d.Log.Warn("write to dead-letter topic failed; retrying", "error", last, "letters", len(letters))
		if errors.Is(last, sarama.ErrUnknownTopicOrPartition) {
			// Deleted while Herald runs: create it again as at start.
			c.recreateDLQ()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
	return nil
}
