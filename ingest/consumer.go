package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/schema"
)

// Applied is an event after it was stored: what a router hands to journeys.
type Applied struct {
	Event      Event
	CustomerID string
	EventID    int64
	Duplicate  bool
	// MergedFrom is the anonymous customer this event merged into CustomerID.
	MergedFrom string
}

// Router takes applied events to the journeys they concern. It must be
// idempotent: after a crash an event may be routed again.
type Router interface {
	Route(ctx context.Context, a Applied) error
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
	d        ConsumerDeps
	dlq      *Producer
	consumed *prometheus.CounterVec
	lag      *prometheus.GaugeVec
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
	}
	if d.Metrics != nil {
		d.Metrics.MustRegister(c.consumed, c.lag)
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

// ConsumeClaim applies one partition's messages in order.
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
			if err := c.handle(sess.Context(), msg); err != nil {
				// Only a cancelled context gets here: leave the offset unmarked.
				return nil
			}
			sess.MarkMessage(msg, "")
			c.lag.WithLabelValues(part).Set(float64(claim.HighWaterMarkOffset() - msg.Offset - 1))
		}
	}
}

// poison is an error no retry can fix: the message goes to the DLQ.
type poison struct{ reason string }

func (p poison) Error() string { return p.reason }

// handle applies one message, retrying transient failures until ctx ends.
func (c *Consumer) handle(ctx context.Context, msg *sarama.ConsumerMessage) error {
	backoff := 100 * time.Millisecond
	for {
		err := c.apply(ctx, msg)
		var p poison
		switch {
		case err == nil:
			return nil
		case errors.As(err, &p):
			return c.deadLetter(ctx, msg, p.reason)
		case schema.IsDataError(err):
			return c.deadLetter(ctx, msg, "the database refused the event's data: "+err.Error())
		}
		c.d.Log.Warn("apply event failed; retrying", "error", err, "partition", msg.Partition, "offset", msg.Offset)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (c *Consumer) apply(ctx context.Context, msg *sarama.ConsumerMessage) error {
	var ev Event
	if len(msg.Value) > MaxEventBytes {
		return poison{fmt.Sprintf("event is %d bytes; the limit is %d", len(msg.Value), MaxEventBytes)}
	}
	if err := json.Unmarshal(msg.Value, &ev); err != nil {
		return poison{"value is not a JSON event: " + err.Error()}
	}
	if ev.WorkspaceID == "" && ev.WriteKey != "" {
		key, err := c.d.Store.LookupAPIKey(ctx, ev.WriteKey)
		switch {
		case errors.Is(err, schema.ErrNotFound):
			return poison{"unknown or revoked writeKey"}
		case err != nil:
			return err
		case key.Kind != schema.KeyWrite:
			return poison{"writeKey is a secret key; producers use a write key"}
		}
		ev.WorkspaceID = key.WorkspaceID
	}
	if ev.WorkspaceID == "" {
		return poison{"event has neither workspaceId nor writeKey"}
	}
	if _, err := c.d.Store.GetWorkspace(ctx, ev.WorkspaceID); errors.Is(err, schema.ErrNotFound) {
		return poison{"unknown workspaceId " + ev.WorkspaceID}
	} else if err != nil {
		return err
	}
	if ev.MessageID == "" {
		return poison{"messageId is required on events produced to Kafka (it is the dedupe key)"}
	}
	if ferr := ev.Validate(); ferr != nil {
		return poison{ferr.Field + ": " + ferr.Message}
	}
	ev.Normalize(msg.Timestamp, func() string { return "" })
	var traits map[string]any
	if len(ev.Traits) > 0 {
		if err := json.Unmarshal(ev.Traits, &traits); err != nil {
			return poison{"traits: " + err.Error()}
		}
	}
	res, err := c.d.Store.ApplyEvent(ctx, schema.EventInput{
		WorkspaceID: ev.WorkspaceID, MessageID: ev.MessageID, Type: ev.Type, Name: ev.DisplayName(),
		UserID: ev.UserID, AnonymousID: ev.AnonymousID, PreviousID: ev.PreviousID,
		Properties: nullToEmpty(ev.Properties), Traits: traits, Context: nullToEmpty(ev.Context),
		OccurredAt: *ev.Timestamp,
	})
	if err != nil {
		return err
	}
	outcome := "applied"
	if res.Duplicate {
		outcome = "duplicate"
	}
	if c.d.Router != nil {
		if err := c.d.Router.Route(ctx, Applied{Event: ev, CustomerID: res.CustomerID, EventID: res.EventID, Duplicate: res.Duplicate, MergedFrom: res.MergedFrom}); err != nil {
			return err
		}
	}
	c.consumed.WithLabelValues(outcome).Inc()
	return nil
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
