package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// NewClient connects to the Kafka brokers with the settings Herald relies
// on: acks from all in-sync replicas, partitioning by key as Kafka's own
// clients do (KafkaPartitioner).
func NewClient(brokers []string, sec ...KafkaSecurity) (sarama.Client, error) {
	return newClient(brokers, false, sec...)
}

// newClient is NewClient; an ordered client is a producer's: idempotent,
// with one produce request in flight per broker, so a request retried
// after a failure cannot land behind a later one — a customer's events stay
// in the order they were produced (and a retry is not written twice).
func newClient(brokers []string, ordered bool, sec ...KafkaSecurity) (sarama.Client, error) {
	cfg := sarama.NewConfig()
	for _, s := range sec {
		if err := s.apply(cfg); err != nil {
			return nil, err
		}
	}
	cfg.ClientID = "herald"
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 5
	// Gather what arrives within a millisecond into one produce request
	// (sent at once past 1000 messages): under load the HTTP handlers'
	// events go out in a few large record batches instead of many small
	// ones — less CPU here, in the broker and in consumers.
	cfg.Producer.Flush.Frequency = time.Millisecond
	cfg.Producer.Flush.Messages = 1000
	cfg.Producer.Partitioner = NewKafkaPartitioner
	if ordered {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	// Records of a transaction that was aborted never happened: producers
	// with transactions (Kafka Streams, Flink, outbox relays) abort, and
	// Herald must not apply what they took back, nor what they have not
	// committed yet.
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	// Topics are created by the api and ingest roles (EnsureTopics, with Herald's
	// settings), never by a metadata request with the broker's defaults.
	cfg.Metadata.AllowAutoTopicCreation = false
	// An address that drops packets fails a try in 10 s, not 30.
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 10
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	// The group's leader looks for partitions added to the topic at each
	// refresh: within a minute, not sarama's ten.
	cfg.Metadata.RefreshFrequency = time.Minute
	c, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		hint := ""
		if (cfg.Net.TLS.Enable || cfg.Net.SASL.Enable) && errors.Is(err, io.EOF) {
			hint = " (the brokers closed the connection: check the SASL mechanism and credentials, and that the listener speaks TLS if and only if HERALD_KAFKA_TLS is set)"
		}
		return nil, fmt.Errorf("connect to kafka %v: %w%s", brokers, err, hint)
	}
	return c, nil
}

// Ping checks that the brokers answer and know topic.
func Ping(c sarama.Client, topic string) error {
	if err := c.RefreshMetadata(topic); err != nil {
		return fmt.Errorf("kafka metadata for %s: %w", topic, err)
	}
	return nil
}

// Pinger is the readiness probe of the brokers. sarama's metadata request
// cannot be cancelled and, against brokers that stopped answering, retries
// for a minute or more: Ping waits for it only as long as its context
// allows, and probes that come while one is in flight wait for that one
// rather than start another, so probes do not pile up on the client.
type Pinger struct {
	c     sarama.Client
	topic string

	mu     sync.Mutex
	flight *pingFlight // the ping in flight; nil when none
}

// pingFlight is one metadata request; err is set before done is closed.
type pingFlight struct {
	done chan struct{}
	err  error
}

// NewPinger makes the probe of c's brokers and topic.
func NewPinger(c sarama.Client, topic string) *Pinger {
	return &Pinger{c: c, topic: topic}
}

// Ping checks that the brokers answer and know the topic, giving up when
// ctx ends (the request in flight then goes on for the next probe).
func (p *Pinger) Ping(ctx context.Context) error {
	f := p.start()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return fmt.Errorf("kafka metadata for %s: no answer yet: %w", p.topic, ctx.Err())
	}
}

// start returns the ping in flight, starting one if there is none.
func (p *Pinger) start() *pingFlight {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.flight != nil {
		return p.flight
	}
	f := &pingFlight{done: make(chan struct{})}
	p.flight = f
	go func() {
		f.err = Ping(p.c, p.topic)
		p.mu.Lock()
		p.flight = nil
		p.mu.Unlock()
		close(f.done)
	}()
	return f
}

// TopicWarnings says what of the existing topics differs from what
// EnsureTopics would have created: another partition count than
// partitions (per-customer order holds, but scaling ingest is bounded by
// it, and a count changed later moves keys), or CreateTime record
// timestamps (clock-skew correction then trusts the producers' clocks).
func TopicWarnings(c sarama.Client, partitions int32, topics ...string) ([]string, error) {
	_, existing, err := listTopics(c)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range topics {
		d, ok := existing[t]
		if !ok {
			continue
		}
		if d.NumPartitions != partitions {
			out = append(out, fmt.Sprintf("topic %s has %d partitions, not the %d configured", t, d.NumPartitions, partitions))
		}
		if v := d.ConfigEntries["message.timestamp.type"]; v != nil && *v != "LogAppendTime" {
			out = append(out, fmt.Sprintf("topic %s keeps the producers' record times (message.timestamp.type=%s): clock-skew correction of events produced straight to it trusts their clocks", t, *v))
		}
	}
	return out, nil
}

// DeadLetterTopicWarnings says when the existing dead-letter topic takes
// smaller records (its max.message.bytes, when set on the topic) than a
// dead letter may be: the letters of large poison records are then cut
// further to fit, keeping less of the original. A broker-wide
// message.max.bytes is not read here; letters are cut to it all the same
// when the broker refuses them.
func DeadLetterTopicWarnings(c sarama.Client, topic string) ([]string, error) {
	_, existing, err := listTopics(c)
	if err != nil {
		return nil, err
	}
	d, ok := existing[topic]
	if !ok {
		return nil, nil
	}
	v := d.ConfigEntries["max.message.bytes"]
	if v == nil {
		return nil, nil
	}
	if n, err := strconv.Atoi(*v); err == nil && n < maxDeadLetterBytes {
		return []string{fmt.Sprintf("dead-letter topic %s takes records of at most %d bytes (max.message.bytes), less than the %d a dead letter may take: letters of large poison records are cut to fit (truncated), keeping less of the original value",
			topic, n, maxDeadLetterBytes)}, nil
	}
	return nil, nil
}

// listTopics describes the cluster's topics, with the settings that differ
// from the defaults, and returns the admin it asked.
func listTopics(c sarama.Client) (sarama.ClusterAdmin, map[string]sarama.TopicDetail, error) {
	admin, err := sarama.NewClusterAdminFromClient(c)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka admin: %w", err)
	}
	// Closing the admin would close the shared client; it holds nothing else.
	existing, err := admin.ListTopics()
	if err != nil {
		return nil, nil, fmt.Errorf("list kafka topics: %w", err)
	}
	return admin, existing, nil
}

// EnsureTopics creates the topics that do not exist yet. They are created
// with message.timestamp.type=LogAppendTime: a record's timestamp is when
// the broker received it, whatever the producer's clock says, so the
// consumer's clock-skew correction of an event produced straight to Kafka
// (timestamp + receipt − sentAt) and the lag gauges use the broker's
// clock. (The embedded dev broker keeps the producer's time.)
func EnsureTopics(c sarama.Client, partitions int32, topics ...string) error {
	admin, existing, err := listTopics(c)
	if err != nil {
		return err
	}
	var created []string
	for _, t := range topics {
		if _, ok := existing[t]; ok {
			continue
		}
		logAppendTime := "LogAppendTime"
		err := admin.CreateTopic(t, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: -1,
			ConfigEntries: map[string]*string{"message.timestamp.type": &logAppendTime}}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("create kafka topic %s: %w", t, err)
		}
		created = append(created, t)
	}
	if len(created) == 0 {
		return nil
	}
	if err := c.RefreshMetadata(created...); err != nil {
		return fmt.Errorf("refresh kafka metadata: %w", err)
	}
	return nil
}

// Producer writes events to the events topic and returns only once the
// broker acknowledged them.
type Producer struct {
	c     sarama.Client
	p     sarama.SyncProducer
	topic string
}

// NewProducer makes a synchronous producer with its own connections: a
// connection shared with a consumer would queue produce requests behind
// the consumer's long-polling fetches.
func NewProducer(brokers []string, topic string, sec ...KafkaSecurity) (*Producer, error) {
	return newProducer(brokers, topic, true, sec...)
}

// NewDeadLetterProducer makes the producer of a dead-letter topic (the
// consumer's, and the API's for the events of a batch it refuses). It has
// none of NewProducer's ordering: dead letters have no order to keep, and
// an idempotent producer needs the IdempotentWrite permission on brokers
// before Kafka 3.0. It keeps the flush settings of the others: a batch's
// letters come in one call, and the millisecond they wait gathers them
// into one record batch per partition (sending the first at once measured
// no faster).
func NewDeadLetterProducer(brokers []string, topic string, sec ...KafkaSecurity) (*Producer, error) {
	return newProducer(brokers, topic, false, sec...)
}

func newProducer(brokers []string, topic string, ordered bool, sec ...KafkaSecurity) (*Producer, error) {
	c, err := newClient(brokers, ordered, sec...)
	if err != nil {
		return nil, err
	}
	p, err := sarama.NewSyncProducerFromClient(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &Producer{c: c, p: p, topic: topic}, nil
}

// Message is one record to produce.
type Message struct {
	Key     string
	Value   []byte
	Headers []sarama.RecordHeader
}

// Produce writes the messages; all of them are durable when it returns nil.
func (p *Producer) Produce(ctx context.Context, msgs ...Message) error {
	_, err := p.send(ctx, msgs)
	if err != nil {
		// sarama says only how many failed: name the first one's cause.
		var failed sarama.ProducerErrors
		if errors.As(err, &failed) && len(failed) > 0 {
			return fmt.Errorf("produce to %s: %d of %d messages failed: %w", p.topic, len(failed), len(msgs), failed[0].Err)
		}
		return fmt.Errorf("produce to %s: %w", p.topic, err)
	}
	return nil
}

// produceEach writes the messages in one call and says what became of
// each: nil when all of them are durable, else one error per message (nil
// for those written), so that a caller can retry only the failed ones.
func (p *Producer) produceEach(ctx context.Context, msgs []Message) []error {
	batch, err := p.send(ctx, msgs)
	if err == nil {
		return nil
	}
	errs := make([]error, len(msgs))
	var failed sarama.ProducerErrors
	if !errors.As(err, &failed) {
		for i := range errs {
			errs[i] = fmt.Errorf("produce to %s: %w", p.topic, err)
		}
		return errs
	}
	index := make(map[*sarama.ProducerMessage]int, len(batch))
	for i, m := range batch {
		index[m] = i
	}
	for _, f := range failed {
		if i, ok := index[f.Msg]; ok {
			errs[i] = fmt.Errorf("produce to %s: %w", p.topic, f.Err)
		}
	}
	return errs
}

// send writes the messages with one SendMessages call.
func (p *Producer) send(ctx context.Context, msgs []Message) ([]*sarama.ProducerMessage, error) {
	// One allocation for the messages, not one each.
	records := make([]sarama.ProducerMessage, len(msgs))
	batch := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		records[i] = sarama.ProducerMessage{Topic: p.topic, Key: sarama.StringEncoder(m.Key), Value: sarama.ByteEncoder(m.Value), Headers: m.Headers}
		batch[i] = &records[i]
	}
	if err := ctx.Err(); err != nil {
		return batch, err
	}
	return batch, p.p.SendMessages(batch)
}

// Close flushes and stops the producer.
func (p *Producer) Close() error {
	err := p.p.Close()
	if cerr := p.c.Close(); err == nil {
		err = cerr
	}
	return err
}
