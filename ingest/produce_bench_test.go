package ingest_test

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/ingest"
)

// BenchmarkProduce measures one synchronous, acknowledged produce of a
// small event to the embedded broker (the cost /v1/track pays).
func BenchmarkProduce(b *testing.B) {
	t := &testing.T{}
	_ = t
	e := newEnv(&testing.T{})
	msg := ingest.Message{Key: "ws:u1", Value: []byte(`{"type":"track","userId":"u1","event":"E"}`)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.producer.Produce(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	}
}
