package ingest

import (
	"context"
	"fmt"
	"testing"

	"github.com/IBM/sarama"

	"github.com/heraldhq/herald/ingest/kafkaserver"
)

// BenchmarkDeadLetterBatch measures a batch of MaxBatch poison records
// ("not json N", as a producer shipping bad events writes them) through
// handleBatch: each dead-lettered to the embedded broker (kfake) and
// acknowledged before the batch could be marked. ns/op is per batch;
// letters/s the rate one partition parks poison at.
func BenchmarkDeadLetterBatch(b *testing.B) {
	br, err := kafkaserver.Start(kafkaserver.Options{Topics: []string{"herald.events", "herald.events.dlq"}, Partitions: 3})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	dlq, err := NewDeadLetterProducer(br.Addrs(), "herald.events.dlq")
	if err != nil {
		b.Fatal(err)
	}
	defer dlq.Close()
	c := NewConsumer(ConsumerDeps{Topic: "herald.events", DLQTopic: "herald.events.dlq"})
	c.dlq = dlq
	msgs := make([]*sarama.ConsumerMessage, MaxBatch)
	for i := range msgs {
		msgs[i] = &sarama.ConsumerMessage{Topic: "herald.events", Key: []byte("ws_bench:u1"), Value: fmt.Appendf(nil, "not json %d", i), Offset: int64(i)}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		t, err := c.handleBatch(ctx, msgs)
		if err != nil {
			b.Fatal(err)
		}
		if t.deadLettered != len(msgs) {
			b.Fatalf("%d of %d dead-lettered", t.deadLettered, len(msgs))
		}
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "letters/s")
}
