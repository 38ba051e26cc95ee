package schema_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema/schematest"
)

// BenchmarkSegmentPreview measures PreviewSegment's count (no sample) over
// 100k customers with 1M events for typical shapes:
//
//	go test ./schema -run '^$' -bench SegmentPreview -benchtime 10x
func BenchmarkSegmentPreview(b *testing.B) {
	ctx := context.Background()
	st := schematest.Store(b)
	ws, err := st.CreateWorkspace(ctx, "Bench")
	require.NoError(b, err)
	const customers, eventsPer = 100_000, 10
	start := time.Now()
	seedSegmentBulk(b, st, ws.ID, customers, eventsPer)
	b.Logf("seeded %d customers and %d events in %s", customers, customers*eventsPer, time.Since(start).Round(time.Millisecond))

	shapes := []struct{ name, cond string }{
		{"attr_eq", `{"attr":"plan","op":"eq","value":"pro"}`},
		{"purchased_2x_in_30d", `{"event":"Purchased","count":{"gte":2},"within":"30d"}`},
		{"pro_and_purchased_in_7d", `{"all":[{"attr":"plan","op":"eq","value":"pro"},{"event":"Purchased","within":"7d"}]}`},
		{"pro_or_purchased_2x_in_30d", `{"any":[{"attr":"plan","op":"eq","value":"pro"},{"event":"Purchased","count":{"gte":2},"within":"30d"}]}`},
		{"not_purchased_in_7d_and_city", `{"all":[{"attr":"address.city","op":"in","value":["city-1","city-2"]},{"event":"Purchased","op":"not_performed","within":"7d"}]}`},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			var members int64
			for b.Loop() {
				p, err := st.PreviewSegment(ctx, ws.ID, json.RawMessage(sh.cond), segNow, 0)
				if err != nil {
					b.Fatal(err)
				}
				members = p.Count
			}
			b.ReportMetric(float64(members), "members")
		})
	}
}
