package schema_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

func TestTrackDeliveryStatusOrder(t *testing.T) {
	for _, c := range []struct {
		from, to string
		moves    bool
	}{
		{"pending", "sent", true},
		{"sent", "delivered", true},
		{"delivered", "opened", true},
		{"opened", "clicked", true},
		{"clicked", "opened", false},
		{"clicked", "delivered", false},
		{"opened", "opened", false},
		{"clicked", "bounced", true},
		{"bounced", "delivered", false},
		{"bounced", "complained", true},
		{"complained", "bounced", false},
		{"sent", "failed", true},
		{"failed", "delivered", false},
		{"clicked", "unsubscribed", true},
		{"sent", "delayed", false},
		{"sent", "resubscribed", false},
		{"something-new", "delivered", true},
	} {
		require.Equal(t, c.moves, schema.DeliveryStatusMoves(c.from, c.to), "%s -> %s", c.from, c.to)
	}
}

func TestTrackedFactsApplyOnceInOrder(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Track")
	require.NoError(t, err)
	other, err := st.CreateWorkspace(ctx, "Other")
	require.NoError(t, err)
	cust, err := st.EnsureCustomer(ctx, ws.ID, "u1")
	require.NoError(t, err)
	_, _, err = st.ClaimDelivery(ctx, ws.ID, schema.Delivery{ID: "msg_t1", CustomerID: cust.ID, Channel: "sms",
		Provider: "twilio", TemplateID: "tpl_1", Recipient: "+15555550100"})
	require.NoError(t, err)
	require.NoError(t, st.SetDeliveryStatus(ctx, ws.ID, "msg_t1", schema.DeliverySent, "SM1", ""))

	record := func(f schema.TrackedFact) schema.Tracked {
		t.Helper()
		f.DeliveryID = "msg_t1"
		tr, err := st.RecordTrackedFact(ctx, ws.ID, f, nil)
		require.NoError(t, err)
		return tr
	}
	history := func() []string {
		t.Helper()
		d, err := st.GetDelivery(ctx, ws.ID, "msg_t1")
		require.NoError(t, err)
		var out []string
		for _, e := range d.History {
			out = append(out, e.Status)
		}
		return out
	}

	tr := record(schema.TrackedFact{Status: schema.DeliveryClicked, Key: "clicked:a", Detail: "https://a.example/"})
	require.True(t, tr.New)
	require.Equal(t, 0, tr.Seq)
	require.Equal(t, "clicked", tr.Delivery.Status)

	// An open after the click is recorded but does not move the status back.
	tr = record(schema.TrackedFact{Status: schema.DeliveryOpened})
	require.True(t, tr.New)
	require.Equal(t, "clicked", tr.Delivery.Status)

	// Repeats of a key change nothing; another key of the same status
	// counts with the next ordinal.
	require.False(t, record(schema.TrackedFact{Status: schema.DeliveryOpened}).New)
	require.False(t, record(schema.TrackedFact{Status: schema.DeliveryClicked, Key: "clicked:a"}).New)
	tr = record(schema.TrackedFact{Status: schema.DeliveryClicked, Key: "clicked:b"})
	require.True(t, tr.New)
	require.Equal(t, 1, tr.Seq)
	require.Equal(t, []string{"pending", "sent", "clicked", "opened", "clicked"}, history())

	// A failing follow-up undoes the record, so a retry applies it.
	boom := errors.New("broker down")
	_, err = st.RecordTrackedFact(ctx, ws.ID, schema.TrackedFact{DeliveryID: "msg_t1", Status: schema.DeliveryFailed, Detail: "twilio: failed"},
		func(schema.Tracked) error { return boom })
	require.ErrorIs(t, err, boom)
	require.Equal(t, []string{"pending", "sent", "clicked", "opened", "clicked"}, history())
	calls := 0
	tr, err = st.RecordTrackedFact(ctx, ws.ID, schema.TrackedFact{DeliveryID: "msg_t1", Status: schema.DeliveryFailed, Detail: "twilio: failed"},
		func(tr schema.Tracked) error { calls++; return nil })
	require.NoError(t, err)
	require.Equal(t, 1, calls)
	require.Equal(t, "failed", tr.Delivery.Status)
	d, err := st.GetDelivery(ctx, ws.ID, "msg_t1")
	require.NoError(t, err)
	require.Equal(t, "failed", d.Status)
	require.Equal(t, "twilio: failed", d.Error)

	// Unsubscribe, resubscribe, unsubscribe: the second is a new fact.
	require.True(t, record(schema.TrackedFact{Status: schema.DeliveryUnsubscribed}).New)
	require.False(t, record(schema.TrackedFact{Status: schema.DeliveryUnsubscribed}).New)
	require.NoError(t, st.RecordResubscribe(ctx, ws.ID, "msg_t1", "page"))
	tr = record(schema.TrackedFact{Status: schema.DeliveryUnsubscribed})
	require.True(t, tr.New)
	require.Equal(t, 1, tr.Seq)

	// Everything is scoped by workspace.
	_, err = st.RecordTrackedFact(ctx, other.ID, schema.TrackedFact{DeliveryID: "msg_t1", Status: schema.DeliveryOpened}, nil)
	require.ErrorIs(t, err, schema.ErrNotFound)
	require.ErrorIs(t, st.RecordResubscribe(ctx, other.ID, "msg_t1", ""), schema.ErrNotFound)
	_, err = st.DeliveryByProviderID(ctx, other.ID, "SM1")
	require.ErrorIs(t, err, schema.ErrNotFound)
	found, err := st.DeliveryByProviderID(ctx, ws.ID, "SM1")
	require.NoError(t, err)
	require.Equal(t, "msg_t1", found.ID)
	_, err = st.DeliveryByProviderID(ctx, ws.ID, "")
	require.ErrorIs(t, err, schema.ErrNotFound)
}
