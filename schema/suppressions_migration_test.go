package schema_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// Migration 19 writes SMS suppressions added before it as phone numbers are
// kept, so they match customers' phones; two that become one keep the
// oldest; email suppressions and text that is no number stay as they are.
func TestSMSSuppressionsBeforeTheUpgradeAreNormalised(t *testing.T) {
	ctx := context.Background()
	db := upgradedFrom(t, 18, `
		INSERT INTO workspaces (id, name) VALUES ('ws_1', 'W'), ('ws_2', 'V');
		INSERT INTO suppressions (workspace_id, channel, address, reason, created_at) VALUES
			('ws_1', 'sms', '+1 (555) 010-0100', 'manual', now() - interval '2 hours'),
			('ws_1', 'sms', '+15550100100', 'unsubscribe', now() - interval '1 hour'),
			('ws_1', 'sms', '020 7946.0958', 'manual', now()),
			('ws_1', 'sms', 'call me', 'manual', now()),
			('ws_1', 'sms', '12-34', 'manual', now()),
			('ws_1', 'email', '+1 (555) 010-0199', 'manual', now()),
			('ws_2', 'sms', '+1 555 010 0100', 'manual', now());`)
	rows, err := db.QueryContext(ctx, `SELECT workspace_id, channel, address, reason FROM suppressions ORDER BY 1, 2, 3`)
	require.NoError(t, err)
	defer rows.Close()
	var got [][4]string
	for rows.Next() {
		var r [4]string
		require.NoError(t, rows.Scan(&r[0], &r[1], &r[2], &r[3]))
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, [][4]string{
		{"ws_1", "email", "+1 (555) 010-0199", "manual"},
		{"ws_1", "sms", "+15550100100", "manual"}, // the older of the two
		{"ws_1", "sms", "02079460958", "manual"},
		{"ws_1", "sms", "12-34", "manual"}, // too few digits for a number
		{"ws_1", "sms", "call me", "manual"},
		{"ws_2", "sms", "+15550100100", "manual"},
	}, got)
	for _, a := range []string{"+1 (555) 010-0100", "020 7946.0958", "call me", "12-34"} {
		require.Equal(t, schema.NormalizePhone(a), schema.NormalizeAddress(schema.ChannelSMS, a), a)
	}
}
