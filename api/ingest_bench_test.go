package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// collectingProducer keeps the last request's messages: the benchmark
// measures the handler, not the broker.
type collectingProducer struct {
	mu   sync.Mutex
	msgs []ingest.Message
}

func (p *collectingProducer) Produce(_ context.Context, msgs ...ingest.Message) error {
	p.mu.Lock()
	p.msgs = msgs
	p.mu.Unlock()
	return nil
}

// batchBody is a /v1/batch body of n track events shaped like those of
// `herald bench ingest`; withDefaults adds a batch sentAt and context, as
// Segment's SDKs send them.
func batchBody(b *testing.B, n int, withDefaults bool) []byte {
	b.Helper()
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = map[string]any{"type": "track", "event": "Bench Ingest", "messageId": fmt.Sprintf("bench-%d", i),
			"userId": fmt.Sprintf("bench-user-%d", i%50), "properties": map[string]any{"seq": i, "batch": 7}}
	}
	req := map[string]any{"batch": evs}
	if withDefaults {
		req["sentAt"] = "2026-01-01T00:00:10Z"
		req["context"] = map[string]any{"library": map[string]any{"name": "analytics-go", "version": "3.0.0"}}
	}
	body, err := json.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkIngestBatch measures the gin handler of POST /v1/batch (auth,
// decode, validate, normalise, encode) on a 100-event body.
func BenchmarkIngestBatch(b *testing.B) {
	st := schematest.Store(b)
	ws, err := st.CreateWorkspace(context.Background(), "W")
	if err != nil {
		b.Fatal(err)
	}
	wk, err := st.CreateAPIKey(context.Background(), ws.ID, schema.KeyWrite, "", "t")
	if err != nil {
		b.Fatal(err)
	}
	p := &collectingProducer{}
	srv := api.New(api.Deps{Store: st, Producer: p})
	for _, tc := range []struct {
		name         string
		withDefaults bool
	}{{"plain", false}, {"batch_defaults", true}} {
		b.Run(tc.name, func(b *testing.B) {
			body := batchBody(b, 100, tc.withDefaults)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/v1/batch", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+wk.Key)
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			if len(p.msgs) != 100 {
				b.Fatalf("%d messages produced", len(p.msgs))
			}
		})
	}
}
