package ingest

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/heraldhq/herald/schema/schematest"
)

// benchMessages are n track messages as the API produces them (the shape
// of `herald bench ingest`), with message ids unique to round.
func benchMessages(ws string, round, n int) []*sarama.ConsumerMessage {
	now := time.Now().UTC()
	msgs := make([]*sarama.ConsumerMessage, n)
	for i := range msgs {
		user := fmt.Sprintf("bench-user-%d", i%50)
		v := fmt.Sprintf(`{"type":"track","messageId":"bench-%d-%d","userId":%q,"event":"Bench Ingest","properties":{"batch":%d,"seq":%d},`+
			`"timestamp":%q,"receivedAt":%q,"workspaceId":%q}`, round, i, user, round, i, now.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), ws)
		msgs[i] = &sarama.ConsumerMessage{Topic: "herald.events", Key: []byte(ws + ":" + user), Value: []byte(v), Offset: int64(i), Timestamp: now}
	}
	return msgs
}

// BenchmarkDecode measures decoding and validating a batch of 100
// messages (the workspace already checked).
func BenchmarkDecode(b *testing.B) {
	c := NewConsumer(ConsumerDeps{})
	msgs := benchMessages("ws_bench", 0, 100)
	seen := map[string]keyCheck{keyCacheKey("ws_bench", ""): {workspaceID: "ws_bench"}}
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := c.decode(context.Background(), m, seen); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkHandleBatch measures a batch of 100 new events of 50 known
// customers through decode, ApplyEvents and routing (no journey takes
// them, no run waits for them) on a private Postgres. cpu-ns/op is the
// CPU time of this process (the consumer's side, not Postgres's).
func BenchmarkHandleBatch(b *testing.B) {
	ctx := context.Background()
	st := schematest.Store(b)
	ws, err := st.CreateWorkspace(ctx, "A")
	if err != nil {
		b.Fatal(err)
	}
	c := NewConsumer(ConsumerDeps{Store: st, Router: NewJourneyRouter(st, nil, nil, nil)})
	if _, err := c.handleBatch(ctx, benchMessages(ws.ID, 0, 100)); err != nil {
		b.Fatal(err)
	}
	batches := make([][]*sarama.ConsumerMessage, b.N)
	for i := range batches {
		batches[i] = benchMessages(ws.ID, i+1, 100)
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.handleBatch(ctx, batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
