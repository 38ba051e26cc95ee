package schema_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// randomIdentityStream is a stream of events over a few users and anonymous
// ids — anonymous browsing, identify with and without anonymous ids, alias
// of an anonymous id or of an earlier user id (to a user seen before or a
// new one), traits, redelivered message ids — the shapes that create,
// rename and merge customers.
func randomIdentityStream(seed uint64, n int) []schema.EventInput {
	r := rand.New(rand.NewPCG(seed, 1))
	user := func() string { return fmt.Sprintf("u%d", r.IntN(6)) }
	// renamed draws the new user id of a user-id alias: mostly ids the
	// other events never use (the user changes id), sometimes a user seen
	// before (two known users are the same person).
	renamed := func() string {
		if r.IntN(4) == 0 {
			return user()
		}
		return fmt.Sprintf("n%d", r.IntN(12))
	}
	anon := func() string { return fmt.Sprintf("a%d", r.IntN(10)) }
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []schema.EventInput
	for i := 0; i < n; i++ {
		ev := schema.EventInput{MessageID: fmt.Sprintf("m%d", i), OccurredAt: base.Add(time.Duration(i) * time.Second),
			Properties: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		switch k := r.IntN(20); {
		case k < 6:
			ev.Type, ev.AnonymousID = "track", anon()
		case k < 10:
			ev.Type, ev.UserID = "track", user()
			if r.IntN(8) == 0 { // a user id first seen in an alias, perhaps
				ev.UserID = renamed()
			}
		case k < 16:
			ev.Type, ev.UserID = "identify", user()
			if r.IntN(2) == 0 {
				ev.AnonymousID = anon()
			}
			ev.Traits = map[string]any{"plan": fmt.Sprintf("p%d", r.IntN(3)), fmt.Sprintf("k%d", r.IntN(4)): i}
			if r.IntN(3) == 0 {
				ev.Traits["email"] = fmt.Sprintf("e%d@example.com", i)
			}
			shared := []string{"s1@example.com", "S1@Example.com", "s2@example.com"}
			switch r.IntN(6) {
			case 0: // a visitor gives an address before logging in
				ev.UserID, ev.AnonymousID, ev.Traits["email"] = "", anon(), shared[r.IntN(3)]
			case 1: // a user id seen for the first time, with an address
				ev.UserID, ev.AnonymousID, ev.Traits["email"] = fmt.Sprintf("f%d", i), "", shared[r.IntN(3)]
			case 2: // the same from a browser, with its visitor's anonymous id
				ev.UserID, ev.AnonymousID, ev.Traits["email"] = fmt.Sprintf("f%d", i), anon(), shared[r.IntN(3)]
			}
		case k < 18:
			ev.Type, ev.UserID, ev.PreviousID = "alias", user(), anon()
		case k < 19:
			// The previous id is a user id (possibly never seen, then it
			// reads as an anonymous id), or an earlier alias's new id.
			prev := user()
			if r.IntN(3) == 0 {
				prev = renamed()
			}
			ev.Type, ev.UserID, ev.PreviousID = "alias", renamed(), prev
		default:
			if i > 0 { // a redelivered message
				ev = evs[r.IntN(len(evs))]
			} else {
				ev.Type, ev.AnonymousID = "track", anon()
			}
		}
		if ev.Name == "" {
			ev.Name = ev.Type
		}
		evs = append(evs, ev)
	}
	return evs
}

// profile is one customer as identities, independent of generated ids.
type profile struct {
	ExternalID string         `json:"external_id"`
	Previous   []string       `json:"previous_user_ids"`
	Email      string         `json:"email"`
	Attributes map[string]any `json:"attributes"`
	Anonymous  []string       `json:"anonymous_ids"`
	Messages   []string       `json:"messages"`
}

// picture renders profiles canonically, sorted, for comparison.
func picture(ps []profile) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		sort.Strings(p.Anonymous)
		sort.Strings(p.Previous)
		// Events keep the order they arrived in (message ids are m<seq>).
		slices.SortFunc(p.Messages, func(a, b string) int { return cmp.Compare(len(a), len(b))*2 + cmp.Compare(a, b) })
		b, _ := json.Marshal(p)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// storedPicture reads the workspace's customers.
func storedPicture(t *testing.T, url, ws string) []string {
	t.Helper()
	ctx := context.Background()
	db, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer db.Close(ctx)
	rows, err := db.Query(ctx, `
		SELECT coalesce(c.external_id, ''), coalesce(c.email, ''), c.attributes,
			coalesce((SELECT array_agg(user_id) FROM customer_user_aliases u WHERE u.customer_id = c.id), '{}'),
			coalesce((SELECT array_agg(anonymous_id) FROM customer_anonymous_ids a WHERE a.customer_id = c.id), '{}'),
			coalesce((SELECT array_agg(message_id ORDER BY id) FROM events e WHERE e.customer_id = c.id), '{}')
		FROM customers c WHERE c.workspace_id = $1`, ws)
	require.NoError(t, err)
	var ps []profile
	for rows.Next() {
		var p profile
		require.NoError(t, rows.Scan(&p.ExternalID, &p.Email, &p.Attributes, &p.Previous, &p.Anonymous, &p.Messages))
		ps = append(ps, p)
	}
	require.NoError(t, rows.Err())
	return picture(ps)
}

// identityModel is DESIGN §4's identity rules written plainly in Go: the
// independent answer the store is checked against.
type identityModel struct {
	customers []*profile
	// byUser maps current and previous user ids to their profile.
	byUser map[string]*profile
	byAnon map[string]*profile
	// aliasLeft are the anonymous ids an alias's previousId attached.
	aliasLeft map[string]bool
	seen      map[string]bool
	// counts of what the stream exercised: user-id aliases that renamed a
	// customer or merged two known ones, events under a previous user id.
	renames, userMerges, previousIDEvents, emailAdoptions, aliasLeftIDs int
}

// merge moves everything of from into into; into's attributes win.
func (m *identityModel) merge(from, into *profile) {
	into.Messages = append(from.Messages, into.Messages...)
	for _, a := range from.Anonymous {
		m.byAnon[a] = into
	}
	into.Anonymous = append(into.Anonymous, from.Anonymous...)
	for u, p := range m.byUser {
		if p == from {
			m.byUser[u] = into
		}
	}
	if from.ExternalID != "" {
		into.Previous = append(into.Previous, from.ExternalID)
	}
	into.Previous = append(into.Previous, from.Previous...)
	for k, v := range from.Attributes {
		if _, ok := into.Attributes[k]; !ok {
			into.Attributes[k] = v
		}
	}
	if into.Email == "" {
		into.Email = from.Email
	}
	m.customers = slices.DeleteFunc(m.customers, func(p *profile) bool { return p == from })
}

// adoptByEmail gives the new user id of an identify whose traits give an
// email the oldest profile of that address that has no user id, and
// returns it (nil when there is none).
func (m *identityModel) adoptByEmail(ev schema.EventInput, userID string) *profile {
	email, _ := ev.Traits["email"].(string)
	if ev.Type != "identify" || userID == "" || strings.TrimSpace(email) == "" {
		return nil
	}
	for _, p := range m.customers {
		if p.ExternalID == "" && strings.EqualFold(p.Email, strings.TrimSpace(email)) {
			p.ExternalID, m.byUser[userID] = userID, p
			m.emailAdoptions++
			return p
		}
	}
	return nil
}

func (m *identityModel) apply(ev schema.EventInput) {
	if m.seen[ev.MessageID] {
		return
	}
	m.seen[ev.MessageID] = true
	anonID := ev.AnonymousID
	if ev.Type == "alias" {
		anonID = ev.PreviousID
	}
	newProfile := func(user string) *profile {
		p := &profile{ExternalID: user, Previous: []string{}, Attributes: map[string]any{}, Anonymous: []string{}, Messages: []string{}}
		m.customers = append(m.customers, p)
		if user != "" {
			m.byUser[user] = p
		}
		return p
	}
	attach := func(p *profile) {
		if anonID != "" && m.byAnon[anonID] == nil {
			m.byAnon[anonID] = p
			p.Anonymous = append(p.Anonymous, anonID)
		}
	}
	known, owner := m.byUser[ev.UserID], m.byAnon[anonID]
	if left := m.byAnon[ev.UserID]; known == nil && ev.UserID != "" && left != nil && left.ExternalID != "" && m.aliasLeft[ev.UserID] {
		// An id an alias whose previousId was no user id yet left as an
		// anonymous id of its customer names that customer (a device's
		// anonymous id does not).
		known = left
		m.aliasLeftIDs++
	}
	prev := m.byUser[ev.PreviousID]
	if known != nil && known.ExternalID != ev.UserID {
		m.previousIDEvents++
	}
	var c *profile
	switch {
	case ev.Type == "alias" && ev.UserID != "" && prev != nil:
		// previousId is a user id known before: the two ids are one person.
		switch {
		case known == prev && prev.ExternalID != ev.UserID && prev.ExternalID != "":
			// Back to an earlier id: it is current again.
			prev.Previous = append(slices.DeleteFunc(prev.Previous, func(u string) bool { return u == ev.UserID }), prev.ExternalID)
			prev.ExternalID, m.byUser[ev.UserID] = ev.UserID, prev
			m.renames++
		case known == prev:
		case known == nil: // the old profile takes the new user id
			prev.Previous = append(prev.Previous, prev.ExternalID)
			prev.ExternalID, m.byUser[ev.UserID] = ev.UserID, prev
			m.renames++
		default:
			m.merge(prev, known)
			m.userMerges++
		}
		if c = m.byUser[ev.UserID]; c == nil {
			c = known // named by an id an alias left
		}
	case ev.UserID == "" && owner != nil:
		c = owner
	case ev.UserID == "":
		c = newProfile("")
		attach(c)
	case known == nil && m.adoptByEmail(ev, ev.UserID) != nil:
		// A new user id takes the oldest profile of its address that has
		// none, before its anonymous profile could become it.
		c = m.byUser[ev.UserID]
		if owner != nil && owner != c && owner.ExternalID == "" {
			m.merge(owner, c)
		} else if owner == nil {
			attach(c)
		}
	case known == nil && owner != nil && owner.ExternalID == "":
		owner.ExternalID, m.byUser[ev.UserID] = ev.UserID, owner
		c = owner
	default:
		if known == nil {
			known = newProfile(ev.UserID)
		}
		c = known
		switch {
		case anonID == "" || owner == known:
		case owner == nil:
			attach(c)
			if ev.Type == "alias" {
				m.aliasLeft[anonID] = true
			}
		case owner.ExternalID == "": // merge the anonymous profile into the known one
			m.merge(owner, c)
		}
	}
	c.Messages = append(c.Messages, ev.MessageID)
	if ev.Type == "identify" {
		for k, v := range ev.Traits {
			if s, ok := v.(string); ok && k == "email" {
				c.Email = s
				continue
			}
			b, _ := json.Marshal(v)
			var norm any
			_ = json.Unmarshal(b, &norm)
			c.Attributes[k] = norm
		}
	}
}

// applyInBatches applies evs to a fresh workspace of a fresh database in
// batches of batch events and returns the customers it leaves (picture)
// and each event's result.
func applyInBatches(t *testing.T, evs []schema.EventInput, batch int) ([]string, []schema.AppliedEvent) {
	t.Helper()
	ctx := context.Background()
	url := schematest.URL(t)
	st, err := schema.Open(ctx, url)
	require.NoError(t, err)
	defer st.Close()
	ws, err := st.CreateWorkspace(ctx, "Batch")
	require.NoError(t, err)
	in := make([]schema.EventInput, len(evs))
	for i, ev := range evs {
		ev.WorkspaceID = ws.ID
		in[i] = ev
	}
	var res []schema.AppliedEvent
	for len(in) > 0 {
		n := min(batch, len(in))
		out, err := st.ApplyEvents(ctx, in[:n])
		require.NoError(t, err)
		require.Len(t, out, n)
		res = append(res, out...)
		in = in[n:]
	}
	return storedPicture(t, url, ws.ID), res
}

// TestApplyEventsMatchesTheIdentityModel: applied one at a time or in
// batches of any size, a stream of identity events leaves the customers
// the identity model computes, and every batch size reports the same
// duplicate and merge per event.
func TestApplyEventsMatchesTheIdentityModel(t *testing.T) {
	var renames, userMerges, previousIDEvents, emailAdoptions, aliasLeftIDs int
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			evs := randomIdentityStream(seed, 300)
			run := func(batch int) ([]string, []schema.AppliedEvent) { return applyInBatches(t, evs, batch) }
			model := &identityModel{byUser: map[string]*profile{}, byAnon: map[string]*profile{}, aliasLeft: map[string]bool{}, seen: map[string]bool{}}
			for _, ev := range evs {
				model.apply(ev)
			}
			renames, userMerges, previousIDEvents = renames+model.renames, userMerges+model.userMerges, previousIDEvents+model.previousIDEvents
			emailAdoptions, aliasLeftIDs = emailAdoptions+model.emailAdoptions, aliasLeftIDs+model.aliasLeftIDs
			t.Logf("seed %d: %d customers, %d renames, %d merges of known users, %d events under a previous user id, %d user ids given to profiles known by email, %d events under an id an alias left",
				seed, len(model.customers), model.renames, model.userMerges, model.previousIDEvents, model.emailAdoptions, model.aliasLeftIDs)
			var ps []profile
			for _, p := range model.customers {
				ps = append(ps, *p)
			}
			want := picture(ps)
			got1, wantRes := run(1)
			require.Equal(t, want, got1, "one at a time")
			for _, batch := range []int{7, 64, 300} {
				got, gotRes := run(batch)
				require.Equal(t, want, got, "batch size %d", batch)
				for i := range wantRes {
					require.Equal(t, wantRes[i].Duplicate, gotRes[i].Duplicate, "event %d duplicate, batch %d", i, batch)
					require.Empty(t, gotRes[i].Conflict, "event %d, delivered again after merges, batch %d", i, batch)
					require.Equal(t, wantRes[i].MergedFrom != "", gotRes[i].MergedFrom != "", "event %d merge, batch %d", i, batch)
					require.NotEmpty(t, gotRes[i].CustomerID, "event %d customer", i)
				}
			}
		})
	}
	require.Positive(t, renames, "the streams rename customers")
	require.Positive(t, userMerges, "the streams merge known users")
	require.Positive(t, previousIDEvents, "the streams use previous user ids")
	require.Positive(t, emailAdoptions, "the streams give new user ids to profiles known by email")
	require.Positive(t, aliasLeftIDs, "the streams use ids an alias left as anonymous ids as user ids")
}

// TestEventsBelongToTheirCustomersWorkspace: an event row can only point at
// a customer of its own workspace (the events → customers check on both
// columns), and erasing the customer takes its events with it.
// Events are written with COPY: properties and context must land as JSON
// objects (not strings holding JSON), an absent one as {}, and a message id
// stored before still counts as a duplicate, beside new ones.
func TestApplyEventsStoresJSONObjects(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	at := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	evs := []schema.EventInput{
		{WorkspaceID: ws.ID, MessageID: "m1", Type: "track", Name: "Order Completed", UserID: "u1", OccurredAt: at,
			Properties: json.RawMessage(`{"total": 12.5, "items": [{"sku": "a"}], "note": "caf\u00e9"}`),
			Context:    json.RawMessage(`{"ip": "203.0.113.9"}`)},
		{WorkspaceID: ws.ID, MessageID: "m2", Type: "track", Name: "Viewed", UserID: "u1", OccurredAt: at},
	}
	res, err := st.ApplyEvents(ctx, evs)
	require.NoError(t, err)
	require.False(t, res[0].Duplicate || res[1].Duplicate)
	rows, err := st.Pool().Query(ctx, `SELECT message_id, jsonb_typeof(properties), jsonb_typeof(context), properties, context, occurred_at
		FROM events WHERE workspace_id = $1 ORDER BY message_id`, ws.ID)
	require.NoError(t, err)
	type stored struct {
		msg, propsType, ctxType string
		props, evCtx            map[string]any
		at                      time.Time
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stored, error) {
		var s stored
		err := r.Scan(&s.msg, &s.propsType, &s.ctxType, &s.props, &s.evCtx, &s.at)
		return s, err
	})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, []string{"object", "object"}, []string{got[0].propsType, got[0].ctxType})
	require.Equal(t, map[string]any{"total": 12.5, "items": []any{map[string]any{"sku": "a"}}, "note": "café"}, got[0].props)
	require.Equal(t, map[string]any{"ip": "203.0.113.9"}, got[0].evCtx)
	require.True(t, at.Equal(got[0].at), "occurred_at %v", got[0].at)
	require.Equal(t, []string{"object", "object"}, []string{got[1].propsType, got[1].ctxType})
	require.Empty(t, got[1].props)
	require.Empty(t, got[1].evCtx)

	// A batch mixing a stored message id with a new one: the first attempt
	// (no lookup) fails at the primary key and the batch is applied again.
	third := schema.EventInput{WorkspaceID: ws.ID, MessageID: "m3", Type: "track", Name: "Viewed", UserID: "u2", OccurredAt: at}
	again, err := st.ApplyEvents(ctx, []schema.EventInput{evs[0], third})
	require.NoError(t, err)
	require.True(t, again[0].Duplicate)
	require.Equal(t, res[0].CustomerID, again[0].CustomerID)
	require.False(t, again[1].Duplicate)
	var n int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE workspace_id = $1`, ws.ID).Scan(&n))
	require.Equal(t, 3, n)
	u2, err := st.FindCustomer(ctx, ws.ID, "u2")
	require.NoError(t, err)
	require.Equal(t, u2.ID, again[1].CustomerID, "the new event's customer was created once")
}

func TestEventsBelongToTheirCustomersWorkspace(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	a, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	b, err := st.CreateWorkspace(ctx, "B")
	require.NoError(t, err)
	applied, err := st.ApplyEvents(ctx, []schema.EventInput{{WorkspaceID: a.ID, MessageID: "m1", Type: "track", Name: "Signed Up",
		UserID: "u1", OccurredAt: time.Now()}})
	require.NoError(t, err)
	cust := applied[0].CustomerID

	err = insertRawEvent(ctx, st.Pool(), b.ID, "m2", cust)
	require.Error(t, err, "an event of workspace B cannot name a customer of workspace A")
	require.Contains(t, err.Error(), "events_customer_fkey")

	// One statement over both workspaces: each event is checked against its
	// own workspace, and the refusal names the missing key.
	appliedB, err := st.ApplyEvents(ctx, []schema.EventInput{{WorkspaceID: b.ID, MessageID: "m1", Type: "track", Name: "Signed Up",
		UserID: "u1", OccurredAt: time.Now()}})
	require.NoError(t, err)
	custB := appliedB[0].CustomerID
	multi := `INSERT INTO events (workspace_id, message_id, customer_id, type, name, occurred_at)
		SELECT ws, msg, cust, 'track', 'Raw', now() FROM unnest($1::text[], $2::text[], $3::text[]) AS r(ws, msg, cust)`
	_, err = st.Pool().Exec(ctx, multi, []string{a.ID, b.ID, a.ID}, []string{"m3", "m3", "m4"}, []string{cust, custB, cust})
	require.NoError(t, err, "each customer in its own workspace")
	_, err = st.Pool().Exec(ctx, multi, []string{a.ID, b.ID, b.ID}, []string{"m5", "m5", "m6"}, []string{cust, custB, cust})
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "23503", pgErr.Code)
	require.Equal(t, fmt.Sprintf("Key (workspace_id, customer_id)=(%s, %s) is not present in table \"customers\".", b.ID, cust), pgErr.Detail)

	_, err = st.Pool().Exec(ctx, `DELETE FROM customers WHERE id = $1`, cust)
	require.NoError(t, err)
	var left int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE customer_id = $1`, cust).Scan(&left))
	require.Zero(t, left, "the customer's events go with it")
}

// TestEventCustomerCheckRacesDelete: the events → customers check holds
// under concurrency as a foreign key would. A delete of a customer whose
// event is being inserted waits for the insert and then takes the event
// with it; an insert racing a delete that commits first fails; an update
// may not move events to a customer that does not exist.
func TestEventCustomerCheckRacesDelete(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	newCustomer := func(user string) string {
		applied, err := st.ApplyEvents(ctx, []schema.EventInput{{WorkspaceID: ws.ID, MessageID: "first-" + user, Type: "track",
			Name: "Signed Up", UserID: user, OccurredAt: time.Now()}})
		require.NoError(t, err)
		return applied[0].CustomerID
	}
	insert := func(q execer, msg, cust string) error { return insertRawEvent(ctx, q, ws.ID, msg, cust) }
	waitBlocked := func() { waitForLockWait(t, st) }
	countEvents := func(cust string) int {
		var n int
		require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE customer_id = $1`, cust).Scan(&n))
		return n
	}

	// Insert first, delete second: the delete waits, then removes the event.
	c1 := newCustomer("u1")
	tx, err := st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }() // when a check failed before the commit
	require.NoError(t, insert(tx, "raced-1", c1))
	deleted := make(chan error, 1)
	go func() {
		_, err := st.Pool().Exec(ctx, `DELETE FROM customers WHERE id = $1`, c1)
		deleted <- err
	}()
	waitBlocked()
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-deleted)
	require.Zero(t, countEvents(c1), "the delete took the event inserted before it committed")

	// Delete first, insert second: the insert waits, then fails.
	c2 := newCustomer("u2")
	tx2, err := st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx2.Rollback(ctx) }()
	_, err = tx2.Exec(ctx, `DELETE FROM customers WHERE id = $1`, c2)
	require.NoError(t, err)
	inserted := make(chan error, 1)
	go func() { inserted <- insert(st.Pool(), "raced-2", c2) }()
	waitBlocked()
	require.NoError(t, tx2.Commit(ctx))
	err = <-inserted
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "23503", pgErr.Code, "foreign_key_violation")
	require.Zero(t, countEvents(c2))

	// Moving events (as a merge does) to a customer that does not exist fails.
	c3 := newCustomer("u3")
	_, err = st.Pool().Exec(ctx, `UPDATE events SET customer_id = 'cus_missing' WHERE customer_id = $1`, c3)
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "23503", pgErr.Code)
	require.Equal(t, 1, countEvents(c3))

	// Deleting the workspace takes customers and events with it.
	_, err = st.Pool().Exec(ctx, `DELETE FROM workspaces WHERE id = $1`, ws.ID)
	require.NoError(t, err)
	require.Zero(t, countEvents(c3))
}

// execer is a pool or a transaction.
type execer interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}

// insertRawEvent writes an event row directly, as no Herald code path
// would: the database's own checks are what is under test.
func insertRawEvent(ctx context.Context, q execer, ws, msg, cust string) error {
	_, err := q.Exec(ctx, `INSERT INTO events (workspace_id, message_id, customer_id, type, name, occurred_at)
		VALUES ($1, $2, $3, 'track', 'Raw', now())`, ws, msg, cust)
	return err
}

// waitForLockWait waits until a backend of the store's database waits for a
// lock (another transaction's statement is parked behind the test's).
func waitForLockWait(t *testing.T, st *schema.Store) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
		return n > 0
	}, 10*time.Second, 10*time.Millisecond)
}

// TestMergeWaitsForEventsOfTheMergedCustomer: an ingest transaction of
// another partition that resolved the anonymous customer through a second
// anonymous id (an identity the merging batch does not lock) and is still
// inserting its event when identify merges that customer: the merge waits
// for it and moves the event too — it is neither lost with the merged
// customer nor left pointing at it.
func TestMergeWaitsForEventsOfTheMergedCustomer(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	at := time.Now()
	anon, err := st.ApplyEvents(ctx, []schema.EventInput{{WorkspaceID: ws.ID, MessageID: "m-anon", Type: "page", AnonymousID: "x1", OccurredAt: at}})
	require.NoError(t, err)
	known, err := st.ApplyEvents(ctx, []schema.EventInput{{WorkspaceID: ws.ID, MessageID: "m-known", Type: "track", Name: "Signed Up", UserID: "u9", OccurredAt: at}})
	require.NoError(t, err)
	from, into := anon[0].CustomerID, known[0].CustomerID
	require.NotEqual(t, from, into)
	_, err = st.Pool().Exec(ctx, `INSERT INTO customer_anonymous_ids (workspace_id, anonymous_id, customer_id) VALUES ($1, 'y1', $2)`, ws.ID, from)
	require.NoError(t, err)

	// The other partition's transaction: its event of y1, not committed yet.
	tx, err := st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	require.NoError(t, insertRawEvent(ctx, tx, ws.ID, "m-late", from))

	merged := make(chan error, 1)
	go func() {
		out, err := st.ApplyEvents(ctx, []schema.EventInput{{WorkspaceID: ws.ID, MessageID: "m-identify", Type: "identify",
			UserID: "u9", AnonymousID: "x1", OccurredAt: at}})
		if err == nil && out[0].MergedFrom != from {
			err = fmt.Errorf("identify merged %q, want %q", out[0].MergedFrom, from)
		}
		merged <- err
	}()
	waitForLockWait(t, st)
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-merged)

	var owner string
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT customer_id FROM events WHERE workspace_id = $1 AND message_id = 'm-late'`, ws.ID).Scan(&owner))
	require.Equal(t, into, owner, "the event committed during the merge moved with the rest")
	var left int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE customer_id = $1`, from).Scan(&left))
	require.Zero(t, left)
}

// An event that reuses another's message id is a duplicate that names the
// conflict — a different type, name or properties than the event stored
// under the id (or the first of its batch) — and creates no customer; the
// same event delivered again, its properties written otherwise, is a plain
// duplicate.
func TestReusedMessageIDsAreConflictsNotRedeliveries(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "W")
	require.NoError(t, err)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(msg, user, name, props string) schema.EventInput {
		return schema.EventInput{WorkspaceID: ws.ID, MessageID: msg, Type: "track", Name: name, UserID: user,
			Properties: json.RawMessage(props), OccurredAt: at}
	}
	out, err := st.ApplyEvents(ctx, []schema.EventInput{
		ev("m1", "ua", "Signup", `{"plan":"pro","seats":2}`),
		ev("m1", "ub", "Purchase", `{"amount":999}`),
		ev("m1", "ua", "Signup", `{"seats": 2, "plan": "pro"}`),
	})
	require.NoError(t, err)
	require.False(t, out[0].Duplicate)
	require.True(t, out[1].Duplicate)
	require.Contains(t, out[1].Conflict, `messageId "m1" is taken by another event (track "Signup")`)
	require.Equal(t, schema.AppliedEvent{CustomerID: out[0].CustomerID, Duplicate: true}, out[2], "the same event again")
	_, err = st.FindCustomer(ctx, ws.ID, "ub")
	require.ErrorIs(t, err, schema.ErrNotFound, "the conflicting event made no customer")

	// In a later batch (looked up in the store).
	out, err = st.ApplyEvents(ctx, []schema.EventInput{
		ev("m1", "ua", "Signup", `{"seats":2,"plan":"pro"}`),
		ev("m1", "ua", "Signup", `{"seats":3,"plan":"pro"}`),
		ev("m2", "ub", "Purchase", `{}`),
	})
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, false}, []bool{out[0].Duplicate, out[1].Duplicate, out[2].Duplicate})
	require.Empty(t, out[0].Conflict)
	require.Contains(t, out[1].Conflict, `(track "Signup")`)
	require.Empty(t, out[2].Conflict)
	events, err := st.ListCustomerEvents(ctx, ws.ID, out[0].CustomerID, 10)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.JSONEq(t, `{"plan":"pro","seats":2}`, string(events[0].Properties), "the stored event stands")
}

// A profile known by its address that another partition gives a user id
// while an identify of a new user id waits for it is not taken from it:
// the other user id keeps leading to it, the new one starts its own.
func TestEmailAdoptionDoesNotTakeAProfileIdentifiedMeanwhile(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	at := time.Now()
	out, err := st.ApplyEvents(ctx, []schema.EventInput{{WorkspaceID: ws.ID, MessageID: "m-visitor", Type: "identify",
		AnonymousID: "x1", Traits: map[string]any{"email": "ada@example.com"}, OccurredAt: at}})
	require.NoError(t, err)
	visitor := out[0].CustomerID

	// Another partition, mid-transaction: identify {userId: u-login, anonymousId: x1}.
	tx, err := st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `UPDATE customers SET external_id = 'u-login', updated_at = now() WHERE workspace_id = $1 AND id = $2`, ws.ID, visitor)
	require.NoError(t, err)
	done := make(chan error, 1)
	var signup []schema.AppliedEvent
	go func() {
		var err error
		signup, err = st.ApplyEvents(ctx, []schema.EventInput{{WorkspaceID: ws.ID, MessageID: "m-signup", Type: "identify",
			UserID: "u-signup", Traits: map[string]any{"email": "ada@example.com"}, OccurredAt: at}})
		done <- err
	}()
	waitForLockWait(t, st) // the adoption waits for the row
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-done)

	c, err := st.LookupCustomer(ctx, ws.ID, "u-login")
	require.NoError(t, err, "u-login still leads to the visitor's profile")
	require.Equal(t, visitor, c.ID)
	require.NotEqual(t, visitor, signup[0].CustomerID, "u-signup starts its own profile")
}

// In one batch, a new user id takes the first of the visitors who gave its
// address, as one event at a time does (profiles made in a batch are older
// in the order they were made).
func TestEmailAdoptionInABatchTakesTheFirstVisitor(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	at := time.Now()
	for i := range 8 {
		ws, err := st.CreateWorkspace(ctx, fmt.Sprint("W", i))
		require.NoError(t, err)
		ev := func(msg, user, anon string) schema.EventInput {
			return schema.EventInput{WorkspaceID: ws.ID, MessageID: msg, Type: "identify", UserID: user, AnonymousID: anon,
				Traits: map[string]any{"email": "ada@example.com"}, OccurredAt: at}
		}
		out, err := st.ApplyEvents(ctx, []schema.EventInput{ev("m1", "", "a1"), ev("m2", "", "a2"), ev("m3", "u1", "")})
		require.NoError(t, err)
		require.Equal(t, out[0].CustomerID, out[2].CustomerID, "attempt %d: u1 takes the first visitor's profile", i)
	}
}

// An event whose messageId is taken by another customer's event — same
// type, name and properties — is a conflict that says so, in its batch and
// in a later one, and creates no customer. An event delivered again after
// its customer was merged into another (identify of a visitor, alias of a
// known user), in the batch of the merge or a later one, is still a plain
// duplicate of the survivor.
func TestMessageIDOfAnotherCustomerIsAConflict(t *testing.T) {
	ctx := context.Background()
	st, ws := storeWithWorkspace(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	track := func(msg, user, anon string) schema.EventInput {
		return schema.EventInput{WorkspaceID: ws.ID, MessageID: msg, Type: "track", Name: "Trial Ending", UserID: user,
			AnonymousID: anon, OccurredAt: at}
	}
	other := `messageId "m1" was already used for another customer's event (track "Trial Ending")`
	out, err := st.ApplyEvents(ctx, []schema.EventInput{track("m1", "ua", ""), track("m1", "ub", ""), track("m1", "", "visitor")})
	require.NoError(t, err)
	require.Empty(t, out[0].Conflict)
	require.True(t, out[1].Duplicate)
	require.Contains(t, out[1].Conflict, other)
	require.Contains(t, out[2].Conflict, other)
	out, err = st.ApplyEvents(ctx, []schema.EventInput{track("m1", "ub", ""), track("m1", "ua", "")})
	require.NoError(t, err)
	require.Contains(t, out[0].Conflict, other, "against the stored event")
	ua := out[1].CustomerID
	require.Equal(t, schema.AppliedEvent{CustomerID: ua, Duplicate: true}, out[1], "the same event again")
	for _, id := range []string{"ub", "visitor"} {
		_, err = st.FindCustomer(ctx, ws.ID, id)
		require.ErrorIs(t, err, schema.ErrNotFound, "the conflicting event made no customer")
	}

	identify := schema.EventInput{WorkspaceID: ws.ID, MessageID: "login", Type: "identify", UserID: "ua", AnonymousID: "a1", OccurredAt: at}
	alias := schema.EventInput{WorkspaceID: ws.ID, MessageID: "alias", Type: "alias", UserID: "ua", PreviousID: "uc", OccurredAt: at}
	out, err = st.ApplyEvents(ctx, []schema.EventInput{track("m2", "", "a1"), track("m3", "uc", ""), track("m4", "", "a2")})
	require.NoError(t, err)
	identify2 := identify
	identify2.MessageID, identify2.AnonymousID = "login-2", "a2"
	out, err = st.ApplyEvents(ctx, []schema.EventInput{identify, alias, track("m2", "", "a1"), track("m3", "uc", ""),
		identify2, track("m4", "", "a2")})
	require.NoError(t, err)
	require.Equal(t, ua, out[0].CustomerID)
	for _, i := range []int{2, 3, 5} {
		require.Equal(t, schema.AppliedEvent{CustomerID: ua, Duplicate: true}, out[i], "event %d, redelivered after its customer's merge", i)
	}
	// Delivered again in the batch that merged it.
	identify3 := identify
	identify3.MessageID, identify3.AnonymousID = "login-3", "a3"
	out, err = st.ApplyEvents(ctx, []schema.EventInput{track("m5", "", "a3"), identify3, track("m5", "", "a3")})
	require.NoError(t, err)
	require.Equal(t, ua, out[1].CustomerID)
	require.NotEmpty(t, out[1].MergedFrom)
	require.Equal(t, schema.AppliedEvent{CustomerID: ua, Duplicate: true}, out[2], "delivered again in the batch of its merge: the survivor's")
	out, err = st.ApplyEvents(ctx, []schema.EventInput{track("m2", "", "a1"), track("m3", "uc", ""), track("m4", "", "a2"), identify, alias})
	require.NoError(t, err)
	for i := range out {
		require.True(t, out[i].Duplicate)
		require.Empty(t, out[i].Conflict, "event %d, redelivered in a later batch", i)
		require.Equal(t, ua, out[i].CustomerID)
	}
}

// storeWithWorkspace is a store of the package's test database with a new
// workspace in it.
func storeWithWorkspace(t *testing.T) (*schema.Store, schema.Workspace) {
	t.Helper()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(context.Background(), "W")
	require.NoError(t, err)
	return st, ws
}

// TestEventCustomerCheckProbesTheCustomers: the check on event rows finds
// each customer of a statement through the primary key, whatever plan
// Postgres picks — not by reading the workspace's customers (a custom plan
// of `id = ANY (ids)`, given the array, did: a sequential scan per
// statement that grew with the workspace).
func TestEventCustomerCheckProbesTheCustomers(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	_, err = st.Pool().Exec(ctx, `INSERT INTO customers (id, workspace_id, external_id)
		SELECT 'cus_probe' || g, $1, 'user-' || g FROM generate_series(1, 4000) g`, ws.ID)
	require.NoError(t, err)
	_, err = st.Pool().Exec(ctx, `ANALYZE customers`)
	require.NoError(t, err)

	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			tx, err := st.Pool().Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			_, err = tx.Exec(ctx, `SET LOCAL plan_cache_mode = `+mode)
			require.NoError(t, err)
			// Counts of this backend (Postgres 15 adds those of its earlier
			// transactions not yet flushed): compared before and after.
			scans := func() (seq, idx int64) {
				require.NoError(t, tx.QueryRow(ctx, `SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'customers'`).
					Scan(&seq, &idx))
				return seq, idx
			}
			seq0, idx0 := scans()
			// 800 events of 400 customers in one statement.
			_, err = tx.Exec(ctx, `INSERT INTO events (workspace_id, message_id, customer_id, type, name, occurred_at)
				SELECT $1, $2 || g, 'cus_probe' || (g % 400 + 1), 'track', 'Raw', now() FROM generate_series(1, 800) g`, ws.ID, mode)
			require.NoError(t, err)
			seq1, idx1 := scans()
			require.Equal(t, seq0, seq1, "the check read the workspace's customers instead of probing them")
			require.Greater(t, idx1, idx0, "the check probed the customers")
			var locked int
			require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM customers c WHERE workspace_id = $1
				AND c.xmax = (SELECT backend_xid FROM pg_stat_activity WHERE pid = pg_backend_pid())`, ws.ID).Scan(&locked))
			require.Equal(t, 400, locked, "each customer of the statement is KEY SHARE locked by it")
			require.NoError(t, tx.Commit(ctx))
		})
	}
}
