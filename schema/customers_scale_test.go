package schema_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// Deleting one customer — what a merge (mergeCustomers: an identify that
// merges an anonymous profile, an alias joining two user ids) and an erasure
// (EraseCustomer) end with — must read that customer's rows only. The foreign
// keys onto customers(id) cascade with Postgres's own statement
// `DELETE FROM ONLY <t> WHERE $1 = customer_id`, which no index whose first
// column is workspace_id serves: segment_members, segment_changes and
// customer_user_aliases were read whole (of every workspace) for each merge.
// auto_explain shows those nested statements' plans, buffers included.
func TestDeletingACustomerReadsOnlyItsOwnRows(t *testing.T) {
	ctx := context.Background()
	url := schematest.URL(t)
	st, err := schema.Open(ctx, url)
	require.NoError(t, err)
	defer st.Close()
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	for _, q := range []string{
		// 50,000 customers, half known by email only; 3 segments of everyone;
		// 10,000 previous user ids.
		`INSERT INTO customers (id, workspace_id, external_id, email, created_at)
		 SELECT 'cus_seed' || g, $1, CASE WHEN g % 2 = 0 THEN 'user-' || g END, 'seed' || g || '@example.com',
			now() - interval '1 day' + g * interval '1 ms'
		 FROM generate_series(1, 50000) AS g`,
		`INSERT INTO segments (id, workspace_id, name, kind) SELECT 'seg_' || s, $1, 'S' || s, 'manual' FROM generate_series(1, 3) AS s`,
		`INSERT INTO segment_members (workspace_id, segment_id, customer_id)
		 SELECT $1, 'seg_' || s, 'cus_seed' || g FROM generate_series(1, 3) AS s, generate_series(1, 50000) AS g`,
		`INSERT INTO segment_changes (workspace_id, segment_id, customer_id, change, routed_at)
		 SELECT $1, 'seg_' || s, 'cus_seed' || g, 'entered', now() FROM generate_series(1, 3) AS s, generate_series(1, 50000) AS g`,
		`INSERT INTO customer_user_aliases (workspace_id, user_id, customer_id)
		 SELECT $1, 'old-' || g, 'cus_seed' || g FROM generate_series(1, 10000) AS g`,
	} {
		_, err := st.Pool().Exec(ctx, q, ws.ID)
		require.NoError(t, err)
	}
	_, err = st.Pool().Exec(ctx, `VACUUM ANALYZE`)
	require.NoError(t, err)

	// A connection that reports the plan of every statement, nested ones
	// (the foreign keys' cascades) too, as notices.
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	var mu sync.Mutex
	var plans []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if _, plan, ok := strings.Cut(n.Message, "plan:\n"); ok {
			mu.Lock()
			plans = append(plans, plan)
			mu.Unlock()
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `LOAD 'auto_explain'`); err != nil {
		t.Skipf("auto_explain is not installed: %v", err)
	}
	for _, set := range []string{"log_min_duration = 0", "log_analyze = on", "log_buffers = on", "log_timing = off",
		"log_nested_statements = on", "log_format = json", "log_level = notice"} {
		_, err := conn.Exec(ctx, `SET auto_explain.`+set)
		require.NoError(t, err)
	}

	// An email-only profile in 3 segments (as a merged anonymous visitor or
	// an erased customer is), and a known one with a previous user id.
	for _, id := range []string{"cus_seed40001", "cus_seed4000"} {
		mu.Lock()
		plans = nil
		mu.Unlock()
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		// The statement mergeCustomers and EraseCustomer end with.
		tag, err := tx.Exec(ctx, `DELETE FROM customers WHERE workspace_id = $1 AND id = $2`, ws.ID, id)
		require.NoError(t, err)
		require.EqualValues(t, 1, tag.RowsAffected())
		require.NoError(t, tx.Rollback(ctx))

		mu.Lock()
		got := append([]string(nil), plans...)
		mu.Unlock()
		cascades, slow := 0, []string{}
		for _, p := range got {
			var e struct {
				Query string         `json:"Query Text"`
				Plan  map[string]any `json:"Plan"`
			}
			require.NoError(t, json.Unmarshal([]byte(p), &e), p)
			if !strings.HasPrefix(e.Query, "DELETE FROM ONLY") {
				continue
			}
			cascades++
			blocks := num(e.Plan["Shared Hit Blocks"]) + num(e.Plan["Shared Read Blocks"])
			if blocks > 40 {
				slow = append(slow, fmt.Sprintf("%s: %.0f blocks, %d rows read (%s)", e.Query, blocks, rowsReadOf(e.Plan), scansOf(e.Plan)))
			}
		}
		require.Positive(t, cascades, "no cascade plan reported")
		require.Empty(t, slow, "deleting %s read whole tables of every workspace", id)
	}
}

// rowsReadOf sums the rows the scans of a JSON plan node read: those
// returned and those a filter removed.
func rowsReadOf(n map[string]any) int {
	read := 0
	if typ, _ := n["Node Type"].(string); strings.Contains(typ, "Scan") {
		read += int((num(n["Actual Rows"]) + num(n["Rows Removed by Filter"])) * num(n["Actual Loops"]))
	}
	children, _ := n["Plans"].([]any)
	for _, c := range children {
		if m, ok := c.(map[string]any); ok {
			read += rowsReadOf(m)
		}
	}
	return read
}

// scansOf names the scans of a JSON plan node and below.
func scansOf(n map[string]any) string {
	var out []string
	if typ, _ := n["Node Type"].(string); strings.Contains(typ, "Scan") {
		s := typ
		if idx, ok := n["Index Name"].(string); ok {
			s += " using " + idx
		}
		out = append(out, s)
	}
	children, _ := n["Plans"].([]any)
	for _, c := range children {
		if m, ok := c.(map[string]any); ok {
			out = append(out, scansOf(m))
		}
	}
	return strings.Join(out, ", ")
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}
