package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// A send that was with its provider while the customer was erased (the
// erasure waits for the run to close, and the run does not wait for its
// activity) writes its answer after the erasure: the status moves, but
// neither the error nor the history keeps the detail, which can quote the
// address or the webhook's URL. So does a retry's note.
func TestSendAnsweredAfterErasureKeepsNoDetail(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	ada := e.apply(t, identify("ada", "", map[string]any{"email": "ada@example.com"}))
	url := "https://hooks.example/users/ada@example.com"
	for _, id := range []string{"msg_hook_ok", "msg_hook_fail", "msg_hook_retry"} {
		_, _, err := e.st.ClaimDelivery(ctx, e.ws, schema.Delivery{ID: id, CustomerID: ada.CustomerID, Channel: "webhook",
			Provider: "webhook", TemplateID: "tpl_1", Recipient: url, Content: []byte(`{"body":"{\"email\":\"ada@example.com\"}"}`)})
		require.NoError(t, err)
		marked, _, err := e.st.MarkSending(ctx, e.ws, id, false)
		require.NoError(t, err)
		require.True(t, marked)
	}
	_, err := e.st.EraseCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)

	// What activities/send.go writes once the provider answered.
	require.NoError(t, e.st.SetDeliveryStatus(ctx, e.ws, "msg_hook_ok", schema.DeliverySent, "", "HTTP 200 from "+url))
	require.NoError(t, e.st.SetDeliveryStatus(ctx, e.ws, "msg_hook_fail", schema.DeliveryFailed, "", `Post "`+url+`": connection refused`))
	require.NoError(t, e.st.UnmarkSending(ctx, e.ws, "msg_hook_retry", `Post "`+url+`": timeout`))
	for id, status := range map[string]string{"msg_hook_ok": "sent", "msg_hook_fail": "failed", "msg_hook_retry": "pending"} {
		d, err := e.st.GetDelivery(ctx, e.ws, id)
		require.NoError(t, err)
		require.Equal(t, status, d.Status, id)
		require.NotNil(t, d.ErasedAt, id)
		require.Empty(t, d.Error, id)
		require.Empty(t, d.Recipient, id)
		for _, h := range d.History {
			require.NotContains(t, h.Detail, "ada@example.com", id)
		}
	}

	// A customer who was not erased keeps the details.
	bob := e.apply(t, identify("bob", "", map[string]any{"email": "bob@example.com"}))
	_, _, err = e.st.ClaimDelivery(ctx, e.ws, schema.Delivery{ID: "msg_bob", CustomerID: bob.CustomerID, Channel: "webhook",
		Provider: "webhook", TemplateID: "tpl_1", Recipient: "https://hooks.example/bob"})
	require.NoError(t, err)
	require.NoError(t, e.st.SetDeliveryStatus(ctx, e.ws, "msg_bob", schema.DeliveryFailed, "", "HTTP 500 from https://hooks.example/bob"))
	d, err := e.st.GetDelivery(ctx, e.ws, "msg_bob")
	require.NoError(t, err)
	require.Nil(t, d.ErasedAt)
	require.Equal(t, "HTTP 500 from https://hooks.example/bob", d.Error)
	require.Equal(t, "HTTP 500 from https://hooks.example/bob", d.History[len(d.History)-1].Detail)
}

// Migration 21 marks the deliveries erased before it: blanked, of a
// customer who is gone and was not merged into another.
func TestDeliveriesErasedBeforeAreMarked(t *testing.T) {
	ctx := context.Background()
	db := upgradedFrom(t, 20, `
		INSERT INTO workspaces (id, name) VALUES ('ws_1', 'W');
		INSERT INTO customers (id, workspace_id) VALUES ('cus_live', 'ws_1'), ('cus_into', 'ws_1');
		INSERT INTO customer_merges (workspace_id, from_id, into_id) VALUES ('ws_1', 'cus_merged', 'cus_into');
		INSERT INTO deliveries (id, workspace_id, customer_id, channel, provider, template_id, recipient, content, status) VALUES
			('d_erased', 'ws_1', 'cus_gone', 'email', 'ses', 't', '', '{}', 'sent'),
			('d_live_blank', 'ws_1', 'cus_live', 'email', 'ses', 't', '', '{}', 'failed'),
			('d_merged', 'ws_1', 'cus_merged', 'email', 'ses', 't', '', '{}', 'failed'),
			('d_gone_kept', 'ws_1', 'cus_gone2', 'email', 'ses', 't', 'x@example.com', '{}', 'sent');`)
	rows, err := db.QueryContext(ctx, `SELECT id FROM deliveries WHERE erased_at IS NOT NULL ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var erased []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		erased = append(erased, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"d_erased"}, erased)
}

// A delivery claimed with the id of a profile merged away — a run or a
// send that had not heard of the merge, or one whose claim waited for the
// merge's lock — is written under the survivor, with or without personal
// data: it shows on the survivor's profile and goes with its export and
// erasure, and a message to a merged person is not failed as "erased".
// Only a customer erased for good refuses a delivery that carries data.
func TestDeliveryClaimedForAMergedProfileGoesToTheSurvivor(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	anon := e.apply(t, track("", "anon-1", "Signed Up"))
	known := e.apply(t, identify("ada", "", map[string]any{"email": "ada@example.com"}))
	merged := e.apply(t, identify("ada", "anon-1", nil))
	require.Equal(t, known.CustomerID, merged.CustomerID)
	require.Equal(t, anon.CustomerID, merged.MergedFrom)

	claim := func(id string, d schema.Delivery) (schema.Delivery, error) {
		d.ID, d.Channel, d.Provider, d.TemplateID = id, "email", "ses", "tpl_1"
		got, _, err := e.st.ClaimDelivery(ctx, e.ws, d)
		return got, err
	}
	failed, err := claim("msg_failed", schema.Delivery{CustomerID: anon.CustomerID}) // no recipient, no content
	require.NoError(t, err)
	require.Equal(t, known.CustomerID, failed.CustomerID)
	sent, err := claim("msg_sent", schema.Delivery{CustomerID: anon.CustomerID, Recipient: "ada@example.com"})
	require.NoError(t, err, "a merged profile is not an erased one")
	require.Equal(t, known.CustomerID, sent.CustomerID)
	capped, _, _, err := e.st.ClaimDeliveryCapped(ctx, e.ws, schema.Delivery{ID: "msg_capped", CustomerID: anon.CustomerID,
		Channel: "email", Provider: "ses", TemplateID: "tpl_1", Recipient: "ada@example.com"}, schema.FrequencyCap{Max: 10, Period: time.Hour})
	require.NoError(t, err)
	require.Equal(t, known.CustomerID, capped.CustomerID)

	// A claim that waits for a merge in progress (the merge holds the
	// profile it removes) lands under the survivor once the merge commits.
	other := e.apply(t, track("", "anon-2", "Signed Up"))
	var waited schema.Delivery
	mergeWhile(t, e, other.CustomerID, known.CustomerID, func() (err error) {
		waited, err = claim("msg_waited", schema.Delivery{CustomerID: other.CustomerID})
		return err
	})
	require.Equal(t, known.CustomerID, waited.CustomerID)

	// Marking a message sending that waits for a merge in progress finds
	// the delivery moved to the survivor: not "erased".
	third := e.apply(t, track("", "anon-3", "Signed Up"))
	_, err = claim("msg_moved", schema.Delivery{CustomerID: third.CustomerID, Recipient: "ada@example.com"})
	require.NoError(t, err)
	var marked bool
	mergeWhile(t, e, third.CustomerID, known.CustomerID, func() (err error) {
		marked, _, err = e.st.MarkSending(ctx, e.ws, "msg_moved", false)
		return err
	})
	require.True(t, marked)

	// Erased: a delivery with data is refused, one without is recorded.
	_, err = e.st.EraseCustomer(ctx, e.ws, known.CustomerID)
	require.NoError(t, err)
	_, err = claim("msg_after", schema.Delivery{CustomerID: known.CustomerID, Recipient: "ada@example.com"})
	require.ErrorIs(t, err, schema.ErrNoCustomer)
	_, err = claim("msg_after_merged", schema.Delivery{CustomerID: anon.CustomerID, Recipient: "ada@example.com"})
	require.ErrorIs(t, err, schema.ErrNoCustomer, "an erased survivor's old ids lead nowhere")
	bare, err := claim("msg_after_bare", schema.Delivery{CustomerID: known.CustomerID})
	require.NoError(t, err)
	require.Equal(t, known.CustomerID, bare.CustomerID)
}

// mergeWhile runs op while a merge of customer from into customer into
// holds from (FOR UPDATE, as mergeCustomers does), waits until op waits
// for that lock, then does what the merge does with from — its row in
// customer_merges, its deliveries moved, its row deleted — and commits;
// op must then succeed.
func mergeWhile(t *testing.T, e *identityEnv, from, into string, op func() error) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SELECT 1 FROM customers WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, e.ws, from)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- op() }()
	waitForLockWait(t, e.st)
	for _, q := range []string{
		`INSERT INTO customer_merges (workspace_id, from_id, into_id) VALUES ($1, $2, $3)`,
		`UPDATE deliveries SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
		`DELETE FROM customers WHERE workspace_id = $1 AND id = $2 AND $3 <> ''`,
	} {
		_, err = tx.Exec(ctx, q, e.ws, from, into)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-done, "a merged customer is not an erased one")
}
