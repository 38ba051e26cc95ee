package api_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/activities/delivery"
	"github.com/heraldhq/herald/schema"
)

// erase erases the fixture's customer through the API.
func (tf *trackFixture) erase(t *testing.T) {
	t.Helper()
	status, body, _ := tf.do(t, call{"DELETE", "/api/customers/" + tf.customer.ID, "", bearer(tf.secretKey)})
	require.Equal(t, 200, status, body)
}

// unsubscribeToken is the unsubscribe link's token as sends make it: with
// the digest of the recipient.
func (tf *trackFixture) unsubscribeToken(t *testing.T, id, recipient string) string {
	t.Helper()
	tok, err := tf.signer.Token(delivery.LinkClaims{Purpose: delivery.LinkUnsubscribe, WorkspaceID: tf.ws.ID, MessageID: id,
		Recipient: schema.AddressDigest(tf.ws.ID, "email", recipient)})
	require.NoError(t, err)
	return tok
}

// The unsubscribe link of a message sent before the customer was erased
// still stops mail to the address: the link's digest of the address goes
// on the suppression list (the list does not get the address back), and a
// new profile with that address is not written to. A link made before
// links carried the digest says it no longer works.
func TestUnsubscribeAfterErasureSuppressesTheAddress(t *testing.T) {
	tf := newTrackFixture(t)
	ctx := context.Background()
	tf.sent(t, "msg_unsub_erased", "email", "Ada@Example.com", "ses-u1", tf.customer)
	tf.sent(t, "msg_old_link", "email", "Ada@Example.com", "ses-u2", tf.customer)
	link := "/t/u/" + tf.unsubscribeToken(t, "msg_unsub_erased", "Ada@Example.com")
	oldLink := "/t/u/" + tf.token(t, delivery.LinkUnsubscribe, "msg_old_link", "")
	tf.erase(t)

	status, _, body := tf.request(t, nil, "GET", link, "", "")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, "Stop sending messages to This address?")
	require.NotContains(t, strings.ToLower(body), "ada@")
	status, _, body = tf.request(t, nil, "POST", link, form, "List-Unsubscribe=One-Click")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, "You are unsubscribed")
	require.NotContains(t, strings.ToLower(body), "ada@")

	sup, err := tf.store.Suppressed(ctx, tf.ws.ID, "email", "ADA@example.com")
	require.NoError(t, err, "the erased recipient's unsubscribe stops mail to the address")
	require.Equal(t, schema.SuppressUnsubscribe, sup.Reason)
	require.Equal(t, schema.AddressDigest(tf.ws.ID, "email", "ada@example.com"), sup.Address, "the list holds the digest, not the address")
	_, err = tf.store.Suppressed(ctx, tf.ws.ID, "email", "bob@example.com")
	require.ErrorIs(t, err, schema.ErrNotFound)
	hist, st := tf.history(t, "msg_unsub_erased")
	require.Equal(t, []string{"pending", "sent", "unsubscribed"}, hist)
	require.Equal(t, "unsubscribed", st)

	status, _, body = tf.request(t, nil, "POST", oldLink, form, "List-Unsubscribe=One-Click")
	require.Equal(t, 404, status, body)
	require.Contains(t, body, "This link no longer works")
}

// A spam complaint or a hard bounce SES reports after the erasure, about
// a message sent before it, suppresses the address it names, as a digest.
func TestSESReportAfterErasureSuppressesTheAddress(t *testing.T) {
	for _, event := range []string{"Complaint", "Bounce"} {
		t.Run(event, func(t *testing.T) {
			tf := newTrackFixture(t)
			ctx := context.Background()
			tf.sent(t, "msg_erased", "email", "ada@example.com", "ses-c1", tf.customer)
			tf.erase(t)
			status, out := tf.postSNS(t, tf.sesNotification(t, "sns-c1", event, "msg_erased", "ses-c1"))
			require.Equal(t, 200, status, out)
			sup, err := tf.store.Suppressed(ctx, tf.ws.ID, "email", "ada@example.com")
			require.NoError(t, err, "a report after the erasure suppresses the address")
			require.True(t, schema.IsAddressDigest(sup.Address), sup.Address)
			list, err := tf.store.ListSuppressions(ctx, tf.ws.ID, 10, nil)
			require.NoError(t, err)
			for _, s := range list {
				require.NotContains(t, s.Address, "@", "the list does not get the erased address back (a digest: hex)")
			}
		})
	}
}

// A click (or an open) on a message sent before the erasure counts, but
// its detail — the clicked link, which can be personalised — is not kept.
func TestClickAfterErasureKeepsNoLink(t *testing.T) {
	tf := newTrackFixture(t)
	tf.sent(t, "msg_click_erased", "email", "ada@example.com", "ses-k1", tf.customer)
	target := "https://acme.example/account?email=" + url.QueryEscape("ada@example.com")
	tok := tf.token(t, delivery.LinkClick, "msg_click_erased", target)
	tf.erase(t)

	status, hdr, _ := tf.request(t, tf.noFollow, "GET", "/t/c/"+tok, "", "")
	require.Equal(t, 302, status)
	require.Equal(t, target, hdr.Get("Location"), "the link still leads where it did")
	d, err := tf.store.GetDelivery(context.Background(), tf.ws.ID, "msg_click_erased")
	require.NoError(t, err)
	require.Equal(t, "clicked", d.Status)
	require.NotNil(t, d.ErasedAt)
	for _, e := range d.History {
		require.NotContains(t, e.Detail, "acme.example", "history of an erased customer's delivery")
	}
}

// What was recorded about an erased customer's address by hand (a
// suppression added and lifted) stays in the audit log as the address's
// digest, as the suppression itself does; other addresses' entries stay as
// they are.
func TestErasureKeepsAddressAuditEntriesAsDigests(t *testing.T) {
	tf := newTrackFixture(t)
	ctx := context.Background()
	tf.sent(t, "msg_1", "email", "ada@example.com", "ses-1", tf.customer)
	sk := bearer(tf.secretKey)
	for _, addr := range []string{"Ada@Example.com", "bob@example.com"} {
		status, body, _ := tf.do(t, call{"POST", "/api/suppressions", `{"channel":"email","address":"` + addr + `"}`, sk})
		require.Equal(t, 201, status, body)
	}
	status, body, _ := tf.do(t, call{"DELETE", "/api/suppressions/email/ada@example.com", "", sk})
	require.Equal(t, 204, status, body)
	tf.erase(t)

	digest := "email:" + schema.AddressDigest(tf.ws.ID, "email", "ada@example.com")
	entries, err := tf.store.ListAudit(ctx, tf.ws.ID, "address", digest)
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	require.Equal(t, []string{"suppress", "resubscribe"}, actions)
	entries, err = tf.store.ListAudit(ctx, tf.ws.ID, "address", "email:ada@example.com")
	require.NoError(t, err)
	require.Empty(t, entries, "the address is no longer in the audit log")
	entries, err = tf.store.ListAudit(ctx, tf.ws.ID, "address", "email:bob@example.com")
	require.NoError(t, err)
	require.Len(t, entries, 1, "another address's entry stays")
}
