package schema_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// upgradedFrom is a database migrated to version, holding what seed
// inserts there, then migrated to the newest version: the data of an
// upgrade, as a migration finds it.
func upgradedFrom(t *testing.T, version int64, seed string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	url := schematest.Empty(t)
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS("migrations"))
	require.NoError(t, err)
	_, err = p.UpTo(ctx, version)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, seed)
	require.NoError(t, err)
	_, err = schema.Migrate(ctx, url, nil)
	require.NoError(t, err)
	return db
}

// Migration 18 records the merges made before it, from the audit log, each
// to the end of its chain, and gives the survivor the merged profiles'
// audit entries.
func TestMergesBeforeTheUpgradeAreRecorded(t *testing.T) {
	ctx := context.Background()
	// A merged into K, then K into L; B into Z, since erased.
	db := upgradedFrom(t, 17, `
		INSERT INTO workspaces (id, name) VALUES ('ws_1', 'W');
		INSERT INTO customers (id, workspace_id) VALUES ('cus_L', 'ws_1');
		INSERT INTO audit_log (workspace_id, actor, action, subject_type, subject_id, detail, created_at) VALUES
			('ws_1', 'ingest', 'change_user_id', 'customer', 'cus_A', '{"user_id":"a2","previous_user_id":"a1"}', now() - interval '3 hours'),
			('ws_1', 'ingest', 'merge', 'customer', 'cus_K', '{"merged_from":"cus_A"}', now() - interval '2 hours'),
			('ws_1', 'ingest', 'merge', 'customer', 'cus_L', '{"merged_from":"cus_K"}', now() - interval '1 hour'),
			('ws_1', 'ingest', 'merge', 'customer', 'cus_Z', '{"erased":true}', now() - interval '1 hour');`)
	rows, err := db.QueryContext(ctx, `SELECT from_id, into_id FROM customer_merges WHERE workspace_id = 'ws_1' ORDER BY from_id`)
	require.NoError(t, err)
	got := map[string]string{}
	for rows.Next() {
		var from, into string
		require.NoError(t, rows.Scan(&from, &into))
		got[from] = into
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]string{"cus_A": "cus_L", "cus_K": "cus_L"}, got)
	var subjects []string
	rows, err = db.QueryContext(ctx, `SELECT subject_id FROM audit_log WHERE workspace_id = 'ws_1' ORDER BY created_at`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		subjects = append(subjects, s)
	}
	require.Equal(t, []string{"cus_L", "cus_L", "cus_L", "cus_Z"}, subjects)
}
