package schema_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/pgserver"
)

// BenchmarkApplyEventsPostgres applies the events of `herald bench ingest`
// (100,000 track events over 10,000 customers) the way the consumer does —
// 12 partitions at once, keyed per customer, batches of 230 — on a private
// Postgres with durability on (as herald dev runs it), and reports the CPU
// the Postgres processes used per event, beside a plain multi-row INSERT of
// the same events into a table with only a primary key. One op is one round
// of 100,000 events; run it with -benchtime 2x (the first round also
// creates the customers).
func BenchmarkApplyEventsPostgres(b *testing.B) {
	ctx := context.Background()
	srv, err := pgserver.Start(ctx, pgserver.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	if err := srv.CreateDatabase(ctx, "bench", ""); err != nil {
		b.Fatal(err)
	}
	if _, err := schema.Migrate(ctx, srv.URL("bench"), nil); err != nil {
		b.Fatal(err)
	}
	st, err := schema.Open(ctx, srv.URL("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := schema.ServerCPU(ctx, st.Pool()); err != nil {
		b.Skip("no per-process CPU times here: ", err)
	}
	ws, err := st.CreateWorkspace(ctx, "Bench")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `CREATE TABLE bench_raw (id bigserial PRIMARY KEY, message_id text NOT NULL, user_id text NOT NULL, body jsonb NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	const events, customers, partitions, batch = 100_000, 10_000, 12, 230
	var herald, raw, wall time.Duration
	for round := range b.N {
		b.StopTimer() // building the events is not Postgres's work
		parts := make([][]schema.EventInput, partitions)
		now := time.Now().UTC()
		for i := range events {
			user := fmt.Sprintf("bench-%d", i%customers)
			h := fnv.New32a()
			h.Write([]byte(user))
			p := h.Sum32() % partitions
			parts[p] = append(parts[p], schema.EventInput{WorkspaceID: ws.ID, MessageID: fmt.Sprintf("r%d-%d", round, i), Type: "track",
				Name: "Bench Ingest", UserID: user, Properties: json.RawMessage(fmt.Sprintf(`{"seq":%d,"batch":%d}`, i, i/100)),
				Context: json.RawMessage(`{"library":{"name":"analytics-go","version":"3.0.0"}}`), OccurredAt: now})
		}
		b.StartTimer()
		for _, path := range []string{"herald", "raw"} {
			cpu0, _ := schema.ServerCPU(ctx, st.Pool())
			t0 := time.Now()
			var wg sync.WaitGroup
			for _, evs := range parts {
				wg.Go(func() {
					for len(evs) > 0 {
						n := min(batch, len(evs))
						if err := applyBenchBatch(ctx, st, path, evs[:n]); err != nil {
							b.Error(err)
							return
						}
						evs = evs[n:]
					}
				})
			}
			wg.Wait()
			cpu1, _ := schema.ServerCPU(ctx, st.Pool())
			if path == "herald" {
				herald += cpu1 - cpu0
				wall += time.Since(t0)
			} else {
				raw += cpu1 - cpu0
			}
		}
	}
	n := float64(b.N * events)
	b.ReportMetric(float64(herald.Microseconds())/n, "pg-µs/event")
	b.ReportMetric(float64(raw.Microseconds())/n, "raw-pg-µs/event")
	b.ReportMetric(n/wall.Seconds(), "events/s")
}

func applyBenchBatch(ctx context.Context, st *schema.Store, path string, evs []schema.EventInput) error {
	if path == "herald" {
		_, err := st.ApplyEvents(ctx, evs)
		return err
	}
	ids, users, bodies := make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs))
	for i, e := range evs {
		ids[i], users[i], bodies[i] = e.MessageID, e.UserID, string(e.Properties)
	}
	_, err := st.Pool().Exec(ctx, `INSERT INTO bench_raw (message_id, user_id, body) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])`,
		ids, users, bodies)
	return err
}
