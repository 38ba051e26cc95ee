package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// BenchmarkCustomerEventsPage measures a page of 100 of a customer's events
// (the profile's first page, and one from the middle of the history) for a
// customer of 200,000 events over 12 names and one of 20,000 events of as
// many names, among 1,000 other customers of 50 events each; generic runs
// the same on connections that always use Postgres's generic plan (what a
// prepared statement may switch to after five executions). one-sort is the
// query before (every event of the customer read and sorted), kept here as
// the baseline; count is the profile's events_total:
//
//	go test ./schema -run '^$' -bench CustomerEventsPage -benchtime 20x
func BenchmarkCustomerEventsPage(b *testing.B) {
	ctx := context.Background()
	url := schematest.URL(b)
	st, err := schema.Open(ctx, url)
	require.NoError(b, err)
	defer st.Close()
	generic, err := schema.Open(ctx, url+"&plan_cache_mode=force_generic_plan")
	require.NoError(b, err)
	defer generic.Close()
	w, err := st.CreateWorkspace(ctx, "Timelines")
	require.NoError(b, err)
	ws := w.ID
	const events, named = 200_000, 20_000
	_, err = st.Pool().Exec(ctx, `
		INSERT INTO customers (id, workspace_id, external_id) SELECT 'cus_other_' || i, $1, 'other-' || i FROM generate_series(1, 1000) AS i;
		`, ws)
	require.NoError(b, err)
	_, err = st.Pool().Exec(ctx, `INSERT INTO customers (id, workspace_id, external_id) VALUES ('cus_big', $1, 'big'), ('cus_named', $1, 'named')`, ws)
	require.NoError(b, err)
	_, err = st.Pool().Exec(ctx, `
		INSERT INTO events (workspace_id, message_id, customer_id, type, name, properties, occurred_at)
		SELECT $1, 'big-' || i, 'cus_big', 'track', 'Event ' || (i % 12), jsonb_build_object('i', i), now() - i * interval '1 second'
		FROM generate_series(1, $2::int) AS i
		UNION ALL
		SELECT $1, 'named-' || i, 'cus_named', 'track', 'Viewed /pages/' || i, '{}', now() - i * interval '1 second'
		FROM generate_series(1, $3::int) AS i
		UNION ALL
		SELECT $1, 'other-' || i, 'cus_other_' || (i % 1000 + 1), 'track', 'Event ' || (i % 12), '{}', now() - i * interval '1 second'
		FROM generate_series(1, 50000) AS i`, ws, events, named)
	require.NoError(b, err)
	_, err = st.Pool().Exec(ctx, `VACUUM ANALYZE events`)
	require.NoError(b, err)
	middle := &schema.EventCursor{OccurredAt: time.Now().Add(-events / 2 * time.Second), ID: 1 << 62}

	page := func(st *schema.Store, customer string, after *schema.EventCursor) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				evs, err := st.CustomerEventsPage(ctx, ws, customer, 100, after)
				if err != nil || len(evs) != 100 {
					b.Fatal(len(evs), err)
				}
			}
		}
	}
	b.Run("first-page", page(st, "cus_big", nil))
	b.Run("middle-page", page(st, "cus_big", middle))
	b.Run("generic/first-page", page(generic, "cus_big", nil))
	b.Run("generic/middle-page", page(generic, "cus_big", middle))
	b.Run("many-names/first-page", page(st, "cus_named", nil))
	b.Run("generic/many-names/first-page", page(generic, "cus_named", nil))
	b.Run("one-sort", func(b *testing.B) {
		for b.Loop() {
			rows, err := st.Pool().Query(ctx, `SELECT id, message_id, type, name, properties, occurred_at, received_at FROM events
				WHERE workspace_id = $1 AND customer_id = $2 ORDER BY occurred_at DESC, id DESC LIMIT 100`, ws, "cus_big")
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			if rows.Close(); rows.Err() != nil || n != 100 {
				b.Fatal(n, rows.Err())
			}
		}
	})
	b.Run("count", func(b *testing.B) {
		for b.Loop() {
			n, err := st.CountCustomerEvents(ctx, ws, "cus_big")
			if err != nil || n != events {
				b.Fatal(n, err)
			}
		}
	})
}
