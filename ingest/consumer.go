package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

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
}

// Consumer is the ingest role: a Kafka consumer group member that applies
// events in partition order, sends poison messages to the dead-letter topic
// and commits an offset only after its event's effects are durable.
type Consumer struct {
	d          ConsumerDeps
	dlq        *Producer
	consumed   *prometheus.CounterVec
	lag        *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	batchSize  prometheus.Histogram
	rate       prometheus.Gauge
	total      atomic.Int64
}

// NewConsumer builds a consumer; Run starts it.
func NewConsumer(d ConsumerDeps) *Consumer {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	c := &Consumer{
		d: d,
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_ingest_events_total", Help: "Events consumed, by outcome (applied, duplicate, dead_lettered).",
		}, []string{"outcome"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_ingest_lag_messages", Help: "Messages behind the partition's high-water mark.",
		}, []string{"partition"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_ingest_lag_seconds", Help: "Age of the partition's last applied message when its batch was done (produce time to effects durable).",
		}, []string{"partition"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "herald_ingest_batch_size", Help: "Messages applied together (one transaction, one offset commit).",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500},
		}),
		rate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_ingest_events_per_second", Help: "Events consumed per second over the last 10 seconds (all outcomes).",
		}),
	}
	if d.Metrics != nil {
		d.Metrics.MustRegister(c.consumed, c.lag, c.lagSeconds, c.batchSize, c.rate)
	}
	return c
}

// Run consumes until ctx ends.
func (c *Consumer) Run(ctx context.Context) error {
	dlq, err := NewProducer(c.d.Brokers, c.d.DLQTopic)
	if err != nil {
		return fmt.Errorf("dead-letter producer: %w", err)
	}
	c.dlq = dlq
	defer dlq.Close()
	client, err := NewClient(c.d.Brokers)
	if err != nil {
		return err
	}
	defer client.Close()
	group, err := sarama.NewConsumerGroupFromClient(c.d.Group, client)
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", c.d.Group, err)
	}
	defer group.Close()
	go func() {
		for err := range group.Errors() {
			c.d.Log.Warn("consumer group error", "error", err)
		}
	}()
	go c.measureRate(ctx)
	c.d.Log.Info("ingest consumer started", "topic", c.d.Topic, "group", c.d.Group)
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{c.d.Topic}, c); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				return nil
			}
			c.d.Log.Warn("consume", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// Setup implements sarama.ConsumerGroupHandler.
func (c *Consumer) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup implements sarama.ConsumerGroupHandler.
func (c *Consumer) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// MaxBatch is the most messages of one partition applied together.
const MaxBatch = 500

// ConsumeClaim applies one partition's messages in order, in batches of
// what has arrived (up to MaxBatch), and marks a batch's offsets only after
// all of its effects are durable.
func (c *Consumer) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	part := fmt.Sprint(claim.Partition())
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch := []*sarama.ConsumerMessage{msg}
		drain:
			for len(batch) < MaxBatch {
				select {
				case m, ok := <-claim.Messages():
					if !ok {
						break drain
					}
					batch = append(batch, m)
				default:
					break drain
				}
			}
			if err := c.handleBatch(sess.Context(), batch); err != nil {
				// Only a cancelled context gets here: leave the offsets unmarked.
				return nil
			}
			last := batch[len(batch)-1]
			sess.MarkMessage(last, "")
			c.batchSize.Observe(float64(len(batch)))
			c.lag.WithLabelValues(part).Set(float64(claim.HighWaterMarkOffset() - last.Offset - 1))
			c.lagSeconds.WithLabelValues(part).Set(max(0, time.Since(last.Timestamp).Seconds()))
		}
	}
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

// handleBatch applies a batch: decodes each message (poison to the DLQ),
// stores the events and customers in one transaction, then routes them.
func (c *Consumer) handleBatch(ctx context.Context, msgs []*sarama.ConsumerMessage) error {
	keys := map[string]keyCheck{}
	var ps []pending
	for _, msg := range msgs {
		var p pending
		err := c.retry(ctx, "decode event", func() (err error) {
			p, err = c.decode(ctx, msg, keys)
			return err
		})
		var pe poison
		switch {
		case errors.As(err, &pe):
			if err := c.deadLetter(ctx, msg, pe.reason); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return nil
	}
	applied, err := c.store(ctx, ps)
	if err != nil {
		return err
	}
	if c.d.Router != nil && len(applied) > 0 {
		if err := c.retry(ctx, "route events", func() error { return c.d.Router.Route(ctx, applied) }); err != nil {
			return err
		}
	}
	c.total.Add(int64(len(msgs)))
	duplicates := 0
	for _, a := range applied {
		if a.Duplicate {
			duplicates++
		}
	}
	if duplicates > 0 {
		c.consumed.WithLabelValues("duplicate").Add(float64(duplicates))
	}
	if n := len(applied) - duplicates; n > 0 {
		c.consumed.WithLabelValues("applied").Add(float64(n))
	}
	return nil
}

// store writes the batch's events. When the database refuses one event's
// data the batch is applied one event at a time and the refused ones go to
// the DLQ.
func (c *Consumer) store(ctx context.Context, ps []pending) ([]Applied, error) {
	in := make([]schema.EventInput, len(ps))
	for i, p := range ps {
		in[i] = p.in
	}
	var res []schema.AppliedEvent
	err := c.retry(ctx, "apply events", func() (err error) {
		res, err = c.d.Store.ApplyEvents(ctx, in)
		return err
	})
	if err == nil {
		out := make([]Applied, len(ps))
		for i, r := range res {
			out[i] = appliedOf(ps[i].ev, r)
		}
		return out, nil
	}
	if !schema.IsDataError(err) {
		return nil, err
	}
	var out []Applied
	for _, p := range ps {
		var r []schema.AppliedEvent
		err := c.retry(ctx, "apply event", func() (err error) {
			r, err = c.d.Store.ApplyEvents(ctx, []schema.EventInput{p.in})
			return err
		})
		switch {
		case schema.IsDataError(err):
			if err := c.deadLetter(ctx, p.msg, "the database refused the event's data: "+err.Error()); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			out = append(out, appliedOf(p.ev, r[0]))
		}
	}
	return out, nil
}

func appliedOf(ev Event, r schema.AppliedEvent) Applied {
	return Applied{Event: ev, CustomerID: r.CustomerID, Duplicate: r.Duplicate, MergedFrom: r.MergedFrom}
}

// keyCheck is a write key or workspace id looked up once per batch.
type keyCheck struct {
	workspaceID string
	refused     string
}

// decode parses and validates one message into the event to store;
// problems no retry can fix are poison.
func (c *Consumer) decode(ctx context.Context, msg *sarama.ConsumerMessage, seen map[string]keyCheck) (pending, error) {
	if len(msg.Value) > MaxMessageBytes {
		return pending{}, poison{fmt.Sprintf("event is %d bytes; the limit is %d (%d for the event and %d for the fields Herald adds)",
			len(msg.Value), MaxMessageBytes, MaxEventBytes, MaxMessageBytes-MaxEventBytes)}
	}
	ev, err := UnmarshalEvent(msg.Value)
	if err != nil {
		return pending{}, poison{"value is not a JSON event: " + err.Error()}
	}
	if ev.WorkspaceID == "" && ev.WriteKey == "" {
		return pending{}, poison{"event has neither workspaceId nor writeKey"}
	}
	check, err := c.checkKey(ctx, ev, seen)
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
		OccurredAt: *ev.Timestamp,
	}}, nil
}

// checkKey finds the event's workspace from its write key (or checks the
// workspace id the API stamped on it), once per key per batch.
func (c *Consumer) checkKey(ctx context.Context, ev Event, seen map[string]keyCheck) (keyCheck, error) {
	cacheKey := "w/" + ev.WorkspaceID
	if ev.WorkspaceID == "" {
		cacheKey = "k/" + ev.WriteKey
	}
	if k, ok := seen[cacheKey]; ok {
		return k, nil
	}
	check := keyCheck{workspaceID: ev.WorkspaceID}
	if ev.WorkspaceID == "" {
		key, err := c.d.Store.LookupAPIKey(ctx, ev.WriteKey)
		switch {
		case errors.Is(err, schema.ErrNotFound):
			check.refused = "unknown or revoked writeKey"
		case err != nil:
			return check, err
		case key.Kind != schema.KeyWrite:
			check.refused = "writeKey is a secret key; producers use a write key"
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
	seen[cacheKey] = check
	return check, nil
}

func nullToEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// DeadLetter is the value written to the dead-letter topic.
type DeadLetter struct {
	Reason    string          `json:"reason"`
	Topic     string          `json:"topic"`
	Partition int32           `json:"partition"`
	Offset    int64           `json:"offset"`
	Key       string          `json:"key"`
	Payload   string          `json:"payload"`
	FailedAt  time.Time       `json:"failed_at"`
	Event     json.RawMessage `json:"event,omitempty"`
}

func (c *Consumer) deadLetter(ctx context.Context, msg *sarama.ConsumerMessage, reason string) error {
	dl := DeadLetter{Reason: reason, Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset,
		Key: string(msg.Key), Payload: string(msg.Value), FailedAt: time.Now().UTC()}
	if json.Valid(msg.Value) {
		dl.Event = msg.Value
	}
	b, err := json.Marshal(dl)
	if err != nil {
		return err
	}
	backoff := 100 * time.Millisecond
	for {
		err := c.dlq.Produce(ctx, Message{Key: string(msg.Key), Value: b})
		if err == nil {
			c.d.Log.Warn("event dead-lettered", "reason", reason, "partition", msg.Partition, "offset", msg.Offset)
			c.consumed.WithLabelValues("dead_lettered").Inc()
			return nil
		}
		c.d.Log.Warn("write to dead-letter topic failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
