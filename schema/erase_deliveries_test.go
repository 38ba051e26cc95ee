package schema_test

import (
	"context"
	"testing"

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
