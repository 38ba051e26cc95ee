package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// The resubscribe button lifts only an unsubscribe: suppressions for other
// reasons (a hard bounce, a complaint) stay. The address may be on the
// list twice — unsubscribed by the recipient (the address) and a spam
// complaint SES reported after the erasure of another profile with that
// address (its digest): the complaint is what the page answers, and it
// stays.
func TestResubscribeDoesNotLiftADigestComplaint(t *testing.T) {
	tf := newTrackFixture(t)
	ctx := context.Background()
	tf.sent(t, "msg_live", "email", "ada@example.com", "ses-l1", tf.customer)
	link := "/t/u/" + tf.unsubscribeToken(t, "msg_live", "ada@example.com")
	require.NoError(t, tf.store.Suppress(ctx, tf.ws.ID, schema.Suppression{Channel: "email",
		Address: schema.AddressDigest(tf.ws.ID, "email", "ada@example.com"), Reason: schema.SuppressComplaint}))
	status, _, body := tf.request(t, nil, "POST", link, form, "List-Unsubscribe=One-Click")
	require.Equal(t, 200, status, body)

	status, _, body = tf.request(t, nil, "POST", link+"/resubscribe", form, "")
	require.Equal(t, 409, status, body)
	sup, err := tf.store.Suppressed(ctx, tf.ws.ID, "email", "ada@example.com")
	require.NoError(t, err, "the complaint still stops mail to the address")
	require.Equal(t, schema.SuppressComplaint, sup.Reason)
}

// The erasure keeps the suppressions of the customer's addresses as their
// digests: the list no longer holds the address, it still stops mail to
// it, and the link of a message sent before (which stands for the address
// by its digest) sees the unsubscribe made before the erasure and can lift
// it.
func TestErasedLinkSeesAndLiftsTheUnsubscribeMadeBefore(t *testing.T) {
	tf := newTrackFixture(t)
	ctx := context.Background()
	tf.sent(t, "msg_a", "email", "ada@example.com", "ses-a1", tf.customer)
	require.NoError(t, tf.store.UpdateCustomerAttributes(ctx, tf.ws.ID, tf.customer.ID, map[string]any{"email": "ada@example.com"}, nil))
	linkA := "/t/u/" + tf.unsubscribeToken(t, "msg_a", "ada@example.com")
	status, _, body := tf.request(t, nil, "POST", linkA, form, "List-Unsubscribe=One-Click")
	require.Equal(t, 200, status, body)
	tf.erase(t)

	list, err := tf.store.ListSuppressions(ctx, tf.ws.ID, 10, nil)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, schema.AddressDigest(tf.ws.ID, "email", "ada@example.com"), list[0].Address, "kept as the digest")
	_, err = tf.store.Suppressed(ctx, tf.ws.ID, "email", "ada@example.com")
	require.NoError(t, err, "still suppressed")

	status, _, body = tf.request(t, nil, "GET", linkA, "", "")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, "You are unsubscribed")
	require.NotContains(t, strings.ToLower(body), "ada@")
	status, _, body = tf.request(t, nil, "POST", linkA+"/resubscribe", form, "")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, "You are subscribed")
	_, err = tf.store.Suppressed(ctx, tf.ws.ID, "email", "ada@example.com")
	require.ErrorIs(t, err, schema.ErrNotFound, "the page said the address will get messages again")
}
