package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Lists ordered by a time — a journey's runs, deliveries, suppressions —
// page by (time, key): items that share a time across a page boundary are
// neither skipped nor served twice. A cursor of the form these lists gave
// before (a bare time) still reads the items strictly older than it.
func TestTimeOrderedListsPageThroughTies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sk := bearer(f.secretKey)
	body, _ := json.Marshal(exitOnly("Ties", map[string]any{"type": "api"}))
	status, j, _ := f.do(t, call{"POST", "/api/journeys", string(body), sk})
	require.Equal(t, 201, status, "%v", j)
	jid := j["id"].(string)

	tie := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	older := tie.Add(-time.Hour)
	db := f.store.Pool()
	for i := range 6 {
		at := tie
		if i == 5 {
			at = older
		}
		_, err := db.Exec(ctx, `INSERT INTO runs (workspace_id, workflow_id, run_id, journey_id, version, customer_id, started_at)
			VALUES ($1, $2, $3, $4, 1, 'cus_x', $5)`, f.ws.ID, fmt.Sprintf("wf-%d", i), fmt.Sprintf("run-%d", i), jid, at)
		require.NoError(t, err)
		_, err = db.Exec(ctx, `INSERT INTO deliveries (id, workspace_id, customer_id, channel, provider, template_id, status, created_at)
			VALUES ($1, $2, 'cus_x', 'sms', 'outbox', 'tpl_x', 'sent', $3)`, fmt.Sprintf("dlv_%d", i), f.ws.ID, at)
		require.NoError(t, err)
		_, err = db.Exec(ctx, `INSERT INTO suppressions (workspace_id, channel, address, reason, created_at)
			VALUES ($1, 'sms', $2, 'manual', $3)`, f.ws.ID, fmt.Sprintf("+1555000000%d", i), at)
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		path, field string
		want        []string
	}{
		{"/api/journeys/" + jid + "/runs", "run_id", []string{"run-4", "run-3", "run-2", "run-1", "run-0", "run-5"}},
		{"/api/deliveries", "id", []string{"dlv_4", "dlv_3", "dlv_2", "dlv_1", "dlv_0", "dlv_5"}},
		{"/api/suppressions", "address", []string{"+15550000004", "+15550000003", "+15550000002", "+15550000001", "+15550000000", "+15550000005"}},
	} {
		var got []string
		cursor := ""
		for range 10 {
			status, page, _ := f.do(t, call{"GET", tc.path + "?limit=2&cursor=" + url.QueryEscape(cursor), "", sk})
			require.Equal(t, 200, status, "%s: %v", tc.path, page)
			for _, it := range page["items"].([]any) {
				got = append(got, it.(map[string]any)[tc.field].(string))
			}
			if cursor, _ = page["next_cursor"].(string); cursor == "" {
				break
			}
		}
		require.Equal(t, tc.want, got, tc.path)

		status, page, _ := f.do(t, call{"GET", tc.path + "?cursor=" + url.QueryEscape(tie.Format(time.RFC3339Nano)), "", sk})
		require.Equal(t, 200, status, "%s: %v", tc.path, page)
		require.Len(t, page["items"], 1, "%s: the earlier cursor form", tc.path)
		require.Equal(t, tc.want[5], page["items"].([]any)[0].(map[string]any)[tc.field], tc.path)

		status, page, _ = f.do(t, call{"GET", tc.path + "?cursor=bm9wZQ", "", sk})
		require.Equal(t, 400, status, "%s: %v", tc.path, page)
	}
}

// Lists ordered by id take only an id of their kind as a cursor.
func TestIDOrderedListsRefuseOtherCursors(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	for _, path := range []string{"/api/journeys", "/api/segments", "/api/templates"} {
		for _, cursor := range []string{"garbage", "zzzz", "-5", "jny_", "seg_abc", "tpl_ABCDEFGHIJKLMNOP"} {
			status, out, _ := f.do(t, call{"GET", path + "?cursor=" + url.QueryEscape(cursor), "", sk})
			require.Equal(t, 400, status, "%s?cursor=%s: %v", path, cursor, out)
			require.Equal(t, "cursor", out["field"])
		}
	}
	for path, cursor := range map[string]string{"/api/journeys": "jny_abcdefghijklmnop", "/api/segments": "seg_234567abcdefghij",
		"/api/templates": "tpl_zzzzzzzzzzzzzzzz"} {
		status, out, _ := f.do(t, call{"GET", path + "?cursor=" + cursor, "", sk})
		require.Equal(t, 200, status, "%s: %v", path, out)
	}
}
