package schema_test

import (
	"context"
	"encoding/json"
	"io"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// BenchmarkExportCustomer measures the GDPR export of a customer with
// 200,000 events (~95 MB of JSON): stream is WriteCustomerExport as the API
// serves it, whole ExportCustomer and one json.Marshal of its result (the
// API's way before it streamed; ExportCustomer collected the export then,
// and reads the streamed document back now). peak-heap-MB is the most the
// heap held (objects live or not yet collected, sampled every millisecond)
// above what it held before the benchmark:
//
//	go test ./schema -run '^$' -bench ExportCustomer -benchtime 3x
func BenchmarkExportCustomer(b *testing.B) {
	ctx := context.Background()
	e := newIdentityEnv(b)
	st, ws := e.st, e.ws
	ada, err := e.tryApply(identify("ada", "", map[string]any{"email": "ada@example.com"}))
	require.NoError(b, err)
	const events = 200_000
	_, err = st.Pool().Exec(ctx, `
		INSERT INTO events (workspace_id, message_id, customer_id, type, name, properties, context, occurred_at)
		SELECT $1, 'big-' || i, $2, 'track', 'Viewed Page',
			jsonb_build_object('url', 'https://example.com/pages/' || i, 'title', repeat('t', 120), 'referrer', 'https://search.example/?q=' || i),
			'{"ip":"192.0.2.1","userAgent":"Mozilla/5.0 (X11; Linux x86_64)"}', now() - i * interval '1 second'
		FROM generate_series(1, $3::int) AS i`, ws, ada.CustomerID, events)
	require.NoError(b, err)
	_, err = st.Pool().Exec(ctx, `VACUUM ANALYZE events`)
	require.NoError(b, err)

	b.Run("stream", func(b *testing.B) {
		var out countingWriter
		peak := heapPeak(b)
		for b.Loop() {
			n, err := st.WriteCustomerExport(ctx, ws, ada.CustomerID, func(schema.Customer) (io.Writer, error) { return &out, nil })
			if err != nil || n.Events != events+1 {
				b.Fatal(n, err)
			}
		}
		peak()
		b.ReportMetric(float64(out.n)/float64(b.N)/1e6, "doc-MB")
	})
	b.Run("whole", func(b *testing.B) {
		var size int
		peak := heapPeak(b)
		for b.Loop() {
			exp, err := st.ExportCustomer(ctx, ws, ada.CustomerID)
			if err != nil {
				b.Fatal(err)
			}
			doc, err := json.Marshal(exp)
			if err != nil {
				b.Fatal(err)
			}
			size = len(doc)
		}
		peak()
		b.ReportMetric(float64(size)/1e6, "doc-MB")
	})
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// heapPeak reports allocations and starts sampling the heap; the function
// it returns stops and reports the peak above the start as peak-heap-MB.
func heapPeak(b *testing.B) func() {
	b.ReportAllocs()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	start := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if v := read(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		b.ReportMetric(float64(int64(peak.Load())-int64(start))/1e6, "peak-heap-MB")
	}
}
