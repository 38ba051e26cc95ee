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

// Migration 20 writes phones and SMS suppressions kept as written because
// a bracket came before their "+" as phone numbers are kept now, so they
// match again; the oldest of two suppressions that become one stays.
func TestPhonesAfterABracketAreNormalised(t *testing.T) {
	ctx := context.Background()
	db := upgradedFrom(t, 19, `
		INSERT INTO workspaces (id, name) VALUES ('ws_1', 'W');
		INSERT INTO customers (id, workspace_id, phone) VALUES
			('cus_1', 'ws_1', '(+33) 6 12 34 56 78'), ('cus_2', 'ws_1', '+4402079460958'), ('cus_3', 'ws_1', '(call) me');
		INSERT INTO suppressions (workspace_id, channel, address, reason, created_at) VALUES
			('ws_1', 'sms', '(+33) 6 12 34 56 78', 'manual', now() - interval '2 hours'),
			('ws_1', 'sms', '+33612345678', 'unsubscribe', now() - interval '1 hour'),
			('ws_1', 'sms', '( +1 555 010 0100', 'manual', now()),
			('ws_1', 'email', '(+33) 6 12 34 56 78', 'manual', now());`)
	var phones []string
	rows, err := db.QueryContext(ctx, `SELECT phone FROM customers ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var p string
		require.NoError(t, rows.Scan(&p))
		phones = append(phones, p)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"+33612345678", "+4402079460958", "(call) me"}, phones)
	var got [][3]string
	rows, err = db.QueryContext(ctx, `SELECT channel, address, reason FROM suppressions ORDER BY 1, 2`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var r [3]string
		require.NoError(t, rows.Scan(&r[0], &r[1], &r[2]))
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, [][3]string{
		{"email", "(+33) 6 12 34 56 78", "manual"},
		{"sms", "+15550100100", "manual"},
		{"sms", "+33612345678", "manual"}, // the older of the two
	}, got)
	for _, p := range []string{"(+33) 6 12 34 56 78", "( +1 555 010 0100", "+4402079460958", "(call) me"} {
		require.Equal(t, schema.NormalizePhone(p), schema.NormalizeAddress(schema.ChannelSMS, p), p)
	}
	require.Equal(t, "+33612345678", schema.NormalizePhone("(+33) 6 12 34 56 78"))
	require.Equal(t, "+15550100100", schema.NormalizePhone("( +1 555 010 0100"))
}
