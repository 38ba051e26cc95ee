package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// An event applied, erased with its customer and then delivered again
// (its Kafka offset was not committed yet) is a duplicate: applied once.
func TestEventDeliveredAgainAfterTheErasureIsADuplicate(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	ev := identify("u1", "a1", map[string]any{"email": "ada@example.com", "name": "Ada"})
	ev.MessageID = "id-1"
	first := e.apply(t, ev)
	_, err := e.st.EraseCustomer(ctx, e.ws, first.CustomerID)
	require.NoError(t, err)

	again := e.apply(t, ev)
	require.True(t, again.Duplicate, "the event was applied once already")
	require.Empty(t, e.customers(t), "the erased person is not brought back with the event's traits")
}

// In a batch with other events — new ones, one stored before, the erased
// one twice — the erased events are duplicates of no one, the others are
// applied as ever; the erasure kept the message ids as digests only.
func TestErasedEventsInABatchWithOthers(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	gone := track("u1", "", "Viewed")
	gone.MessageID = "gone-1"
	first := e.apply(t, gone)
	kept := track("u2", "", "Viewed")
	kept.MessageID = "kept-1"
	e.apply(t, kept)
	_, err := e.st.EraseCustomer(ctx, e.ws, first.CustomerID)
	require.NoError(t, err)
	var digests int
	var plain bool
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT count(*), bool_or(position('gone-1' in encode(message_digest, 'escape')) > 0)
		FROM erased_messages WHERE workspace_id = $1`, e.ws).Scan(&digests, &plain))
	require.Equal(t, 1, digests)
	require.False(t, plain, "the message id is kept as a digest")

	fresh := track("u1", "", "Signed Up")
	fresh.MessageID = "fresh-1"
	batch := []schema.EventInput{gone, fresh, kept, gone}
	for i := range batch {
		batch[i].WorkspaceID = e.ws
		batch[i].OccurredAt = time.Now()
	}
	for _, round := range []string{"first delivery of the batch", "the batch again"} {
		out, err := e.st.ApplyEvents(ctx, batch)
		require.NoError(t, err, round)
		require.True(t, out[0].Duplicate && out[0].Erased, round)
		require.Empty(t, out[0].CustomerID, round)
		require.True(t, out[3].Duplicate && out[3].Erased, round)
		require.False(t, out[2].Erased, round)
		require.True(t, out[2].Duplicate, "%s: stored before, not erased", round)
		require.False(t, out[1].Erased, round)
		require.Equal(t, round == "the batch again", out[1].Duplicate, round)
	}
	u1 := e.find(t, "u1")
	require.Equal(t, []string{"Signed Up"}, e.eventNames(t, u1.ID), "u1 is a new profile with its new event only")
}

// Another event that reuses the message id of an erased one is a conflict,
// as it was while the erased one was stored — not dropped as a duplicate of
// no one; the erased event itself, delivered again, is still a duplicate.
// (From a review.)
func TestErasedMessageIDReusedByAnotherEventIsAConflict(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	gone := track("u1", "", "Viewed")
	gone.MessageID = "order-42"
	gone.Properties = []byte(`{"b":2,"a":[1,"x"]}`)
	first := e.apply(t, gone)
	reuse := track("u2", "", "Order Completed")
	reuse.MessageID = "order-42"
	before := e.apply(t, reuse)
	require.NotEmpty(t, before.Conflict, "before the erasure: a conflict")

	_, err := e.st.EraseCustomer(ctx, e.ws, first.CustomerID)
	require.NoError(t, err)
	after := e.apply(t, reuse)
	require.Contains(t, after.Conflict, `messageId "order-42" was used by an event erased with its customer`)
	require.False(t, after.Erased)
	again := gone
	again.Properties = []byte(`{"a": [1, "x"], "b": 2}`) // the same properties, written otherwise
	out := e.apply(t, again)
	require.True(t, out.Duplicate && out.Erased, "%+v", out)
	require.Empty(t, out.Conflict)
	props := gone
	props.Properties = []byte(`{"a":[1,"x"],"b":3}`)
	require.NotEmpty(t, e.apply(t, props).Conflict, "other properties")

	// Twice in one batch: each copy goes the way of the first.
	batch := []schema.EventInput{reuse, reuse, again, again}
	for i := range batch {
		batch[i].WorkspaceID = e.ws
		batch[i].OccurredAt = time.Now()
	}
	res, err := e.st.ApplyEvents(ctx, batch)
	require.NoError(t, err)
	require.NotEmpty(t, res[0].Conflict)
	require.NotEmpty(t, res[1].Conflict)
	require.True(t, res[2].Erased && res[3].Erased)
	require.Empty(t, e.customers(t), "nobody made")
}

// Another person's event with the same type, name and properties under an
// erased message id (an SDK's weak ids) is a conflict, as before the
// erasure. (From a review.)
func TestErasedMessageIDReusedByAnotherPersonIsAConflict(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	gone := track("u1", "", "App Opened")
	gone.MessageID = "1764430000"
	first := e.apply(t, gone)
	other := track("u2", "", "App Opened")
	other.MessageID = "1764430000"
	require.NotEmpty(t, e.apply(t, other).Conflict, "before the erasure: a conflict (another customer's event)")

	_, err := e.st.EraseCustomer(ctx, e.ws, first.CustomerID)
	require.NoError(t, err)
	require.NotEmpty(t, e.apply(t, other).Conflict, "after the erasure too")
	again := e.apply(t, gone)
	require.True(t, again.Erased, "u1's own event delivered again: %+v", again)
}

// Erased ids older than 30 days count no more and go with the next
// erasure, in any workspace. (From a review.)
func TestErasedMessageIDsAreForgottenAfter30Days(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	other := newIdentityEnvOn(t, e.st, "Other")
	gone := track("u1", "", "Viewed")
	gone.MessageID = "old-1"
	first := e.apply(t, gone)
	_, err := e.st.EraseCustomer(ctx, e.ws, first.CustomerID)
	require.NoError(t, err)
	for _, table := range []string{"erased_messages", "erased_identities"} {
		_, err = e.st.Pool().Exec(ctx, `UPDATE `+table+` SET erased_at = now() - interval '31 days' WHERE workspace_id = $1`, e.ws)
		require.NoError(t, err)
	}
	back := e.apply(t, gone)
	require.False(t, back.Duplicate, "a record older than the 30 days is a new event: %+v", back)

	o := other.apply(t, track("x", "", "Viewed"))
	_, err = e.st.EraseCustomer(ctx, other.ws, o.CustomerID)
	require.NoError(t, err)
	var left int
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM erased_messages WHERE workspace_id = $1)
		+ (SELECT count(*) FROM erased_identities WHERE workspace_id = $1)`, e.ws).Scan(&left))
	require.Zero(t, left, "digests older than 30 days are deleted by the next erasure")
}

// The ingest role's hourly sweep deletes the digests past the 30 days in
// every workspace, without an erasure, and keeps the newer ones.
func TestForgetErasedIDsDeletesOnlyOldDigests(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	other := newIdentityEnvOn(t, e.st, "Other")
	for _, env := range []*identityEnv{e, other} {
		for _, user := range []string{"old", "new"} {
			ev := track(user, "", "Viewed")
			ev.MessageID = user + "-1"
			r := env.apply(t, ev)
			_, err := e.st.EraseCustomer(ctx, env.ws, r.CustomerID)
			require.NoError(t, err)
		}
	}
	_, err := e.st.Pool().Exec(ctx, `UPDATE erased_messages SET erased_at = now() - interval '31 days'
		WHERE message_digest = sha256(convert_to('old-1', 'UTF8'))`)
	require.NoError(t, err)
	_, err = e.st.Pool().Exec(ctx, `UPDATE erased_identities SET erased_at = now() - interval '31 days'
		WHERE identity_digest = sha256(convert_to('old', 'UTF8'))`)
	require.NoError(t, err)
	count := func() (n int) {
		require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM erased_messages WHERE workspace_id IN ($1, $2))
			+ (SELECT count(*) FROM erased_identities WHERE workspace_id IN ($1, $2))`, e.ws, other.ws).Scan(&n))
		return n
	}
	require.Equal(t, 8, count())

	n, err := e.st.ForgetErasedIDs(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 4, n, "old's message id and user id, in both workspaces")
	require.Equal(t, 4, count(), "new's stay")
	n, err = e.st.ForgetErasedIDs(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}

// Events accepted before an erasure of their person — by user id,
// anonymous id or an alias's previous id — but applied only after it
// (ingest lag) are not applied: they were that person's data when the
// erasure came. Events of the same ids accepted after the erasure start a
// new profile, as ever; events without an acceptance time are not judged
// so; other people's events are applied.
func TestEventsAcceptedBeforeTheErasureAreNotApplied(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	first := e.apply(t, identify("u1", "a1", map[string]any{"email": "ada@example.com"}))
	e.apply(t, alias("a1", "u1"))
	_, err := e.st.EraseCustomer(ctx, e.ws, first.CustomerID)
	require.NoError(t, err)
	var erasedAt time.Time
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT max(erased_at) FROM erased_identities WHERE workspace_id = $1`, e.ws).Scan(&erasedAt))
	before, after := erasedAt.Add(-time.Millisecond), erasedAt.Add(time.Millisecond)

	at := func(ev schema.EventInput, id string, accepted time.Time) schema.EventInput {
		ev = e.complete(ev)
		ev.MessageID, ev.AcceptedAt = id, accepted
		return ev
	}
	batch := []schema.EventInput{
		at(track("u1", "", "Viewed"), "by-user", before),
		at(identify("", "a1", map[string]any{"name": "Ada"}), "by-anonymous-id", before),
		at(alias("a1", "u9"), "by-previous-id", before),
		at(track("u2", "", "Viewed"), "another-person", before),
		at(track("u1", "", "Signed Up"), "after", after),
		at(track("u1", "", "Viewed"), "by-user", before), // the first one's record again
		at(track("u1", "", "Clicked"), "not-judged", time.Time{}),
	}
	for _, round := range []string{"first delivery", "the batch again"} {
		out, err := e.st.ApplyEvents(ctx, batch)
		require.NoError(t, err, round)
		for _, i := range []int{0, 1, 2, 5} {
			require.True(t, out[i].Erased, "%s: %s was accepted before the erasure", round, batch[i].MessageID)
			require.False(t, out[i].Duplicate, "%s: %s was never applied", round, batch[i].MessageID)
			require.Empty(t, out[i].CustomerID, round)
		}
		for _, i := range []int{3, 4, 6} {
			require.False(t, out[i].Erased, "%s: %s", round, batch[i].MessageID)
			require.NotEmpty(t, out[i].CustomerID, round)
			require.Equal(t, round == "the batch again", out[i].Duplicate, round)
		}
	}
	u1 := e.find(t, "u1")
	require.NotEqual(t, first.CustomerID, u1.ID)
	require.ElementsMatch(t, []string{"Signed Up", "Clicked"}, e.eventNames(t, u1.ID), "u1 is a new profile with its events from after the erasure")
	require.Nil(t, u1.Email, "no trait of before the erasure")
	_, err = e.st.FindCustomer(ctx, e.ws, "a1")
	require.Error(t, err, "the erased anonymous id leads nowhere")
	_, err = e.st.FindCustomer(ctx, e.ws, "u9")
	require.Error(t, err, "the alias accepted before the erasure made no profile")
	var stored int
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE workspace_id = $1
		AND message_id IN ('by-user', 'by-anonymous-id', 'by-previous-id')`, e.ws).Scan(&stored))
	require.Zero(t, stored)
}
