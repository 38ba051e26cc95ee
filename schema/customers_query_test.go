package schema_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// identityEnv applies events to one workspace with unique message ids.
type identityEnv struct {
	st  *schema.Store
	ws  string
	seq atomic.Int64
}

func newIdentityEnv(t testing.TB) *identityEnv {
	t.Helper()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(context.Background(), "Identity")
	require.NoError(t, err)
	return &identityEnv{st: st, ws: ws.ID}
}

func (e *identityEnv) apply(t *testing.T, ev schema.EventInput) schema.AppliedEvent {
	t.Helper()
	res, err := e.tryApply(ev)
	require.NoError(t, err)
	return res
}

func (e *identityEnv) tryApply(ev schema.EventInput) (schema.AppliedEvent, error) {
	return e.st.ApplyEvent(context.Background(), e.complete(ev))
}

// complete gives ev the env's workspace and, where unset, a message id, a
// name and a time.
func (e *identityEnv) complete(ev schema.EventInput) schema.EventInput {
	ev.WorkspaceID = e.ws
	if ev.MessageID == "" {
		ev.MessageID = fmt.Sprintf("m%d", e.seq.Add(1))
	}
	if ev.Name == "" {
		ev.Name = ev.Type
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = time.Now()
	}
	return ev
}

func track(user, anon, name string) schema.EventInput {
	return schema.EventInput{Type: "track", Name: name, UserID: user, AnonymousID: anon}
}

func identify(user, anon string, traits map[string]any) schema.EventInput {
	return schema.EventInput{Type: "identify", Name: "Identify", UserID: user, AnonymousID: anon, Traits: traits}
}

func alias(previous, user string) schema.EventInput {
	return schema.EventInput{Type: "alias", Name: "Alias", UserID: user, PreviousID: previous}
}

// customers returns every customer id of the workspace.
func (e *identityEnv) customers(t *testing.T) []string {
	t.Helper()
	rows, err := e.st.Pool().Query(context.Background(), `SELECT id FROM customers WHERE workspace_id = $1 ORDER BY id`, e.ws)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

func (e *identityEnv) find(t *testing.T, id string) schema.Customer {
	t.Helper()
	c, err := e.st.FindCustomer(context.Background(), e.ws, id)
	require.NoError(t, err, "find %s", id)
	return c
}

func (e *identityEnv) eventNames(t *testing.T, customerID string) []string {
	t.Helper()
	evs, err := e.st.ListCustomerEvents(context.Background(), e.ws, customerID, 10000)
	require.NoError(t, err)
	names := []string{}
	for _, ev := range evs {
		names = append(names, ev.Name)
	}
	return names
}

func TestAnonymousEventsThenIdentifyMakeOneCustomer(t *testing.T) {
	t.Run("anonymous profile becomes the known one", func(t *testing.T) {
		e := newIdentityEnv(t)
		anon := e.apply(t, track("", "a1", "Viewed Pricing"))
		e.apply(t, schema.EventInput{Type: "page", Name: "Page Viewed", AnonymousID: "a1"})
		id := e.apply(t, identify("u1", "a1", map[string]any{"email": "ada@example.com"}))
		e.apply(t, track("u1", "", "Signed Up"))

		require.Equal(t, anon.CustomerID, id.CustomerID, "the anonymous profile is identified in place")
		require.Equal(t, []string{anon.CustomerID}, e.customers(t))
		c := e.find(t, "u1")
		require.Equal(t, "u1", *c.ExternalID)
		require.Equal(t, []string{"a1"}, c.AnonymousIDs)
		require.Equal(t, "ada@example.com", *c.Email)
		require.Equal(t, []string{"Viewed Pricing", "Page Viewed", "Identify", "Signed Up"}, e.eventNames(t, c.ID))
		require.Equal(t, c.ID, e.find(t, "a1").ID)
	})
	t.Run("anonymous profile merges into an existing known one", func(t *testing.T) {
		e := newIdentityEnv(t)
		known := e.apply(t, track("u1", "", "Logged In"))
		anon := e.apply(t, track("", "a1", "Viewed Pricing"))
		require.NotEqual(t, known.CustomerID, anon.CustomerID)
		id := e.apply(t, identify("u1", "a1", nil))
		e.apply(t, track("", "a1", "Viewed Docs")) // later anonymous events follow

		require.Equal(t, known.CustomerID, id.CustomerID)
		require.Equal(t, []string{known.CustomerID}, e.customers(t), "the anonymous profile is gone")
		_, err := e.st.GetCustomer(context.Background(), e.ws, anon.CustomerID)
		require.ErrorIs(t, err, schema.ErrNotFound)
		require.Equal(t, []string{"Logged In", "Viewed Pricing", "Identify", "Viewed Docs"}, e.eventNames(t, known.CustomerID))
		require.Equal(t, []string{"a1"}, e.find(t, "u1").AnonymousIDs)
	})
	t.Run("an anonymous id of another known customer is not stolen", func(t *testing.T) {
		e := newIdentityEnv(t)
		first := e.apply(t, identify("u1", "shared-device", nil))
		second := e.apply(t, identify("u2", "shared-device", nil))
		require.NotEqual(t, first.CustomerID, second.CustomerID)
		require.Equal(t, first.CustomerID, e.find(t, "shared-device").ID)
		require.Len(t, e.customers(t), 2)
	})
}

func TestAliasMergesAndChains(t *testing.T) {
	t.Run("alias merges the anonymous profile into the known one", func(t *testing.T) {
		e := newIdentityEnv(t)
		e.apply(t, track("", "a1", "Viewed"))
		known := e.apply(t, track("u1", "", "Bought"))
		res := e.apply(t, alias("a1", "u1"))
		require.Equal(t, known.CustomerID, res.CustomerID)
		require.Equal(t, []string{known.CustomerID}, e.customers(t))
		require.Equal(t, []string{"Viewed", "Bought", "Alias"}, e.eventNames(t, known.CustomerID))
		require.Equal(t, []string{"a1"}, e.find(t, "u1").AnonymousIDs)
	})
	t.Run("alias chain a1 and a2 into u1, then identify", func(t *testing.T) {
		e := newIdentityEnv(t)
		e.apply(t, track("", "a1", "Visit 1"))
		first := e.apply(t, alias("a1", "u1"))
		e.apply(t, track("", "a2", "Visit 2"))
		e.apply(t, alias("a2", "u1"))
		e.apply(t, track("", "a3", "Visit 3"))                                // a3 never seen with u1 before...
		e.apply(t, alias("a3", "u1"))                                         // ...aliased with nothing known yet on its side
		e.apply(t, alias("a4", "u1"))                                         // an alias for an id never seen
		last := e.apply(t, identify("u1", "", map[string]any{"plan": "pro"})) // and finally identify
		e.apply(t, track("", "a4", "Visit 4"))                                // the aliased id resolves to u1

		require.Equal(t, first.CustomerID, last.CustomerID)
		require.Equal(t, []string{first.CustomerID}, e.customers(t))
		c := e.find(t, "u1")
		require.Equal(t, []string{"a1", "a2", "a3", "a4"}, c.AnonymousIDs)
		for _, a := range []string{"a1", "a2", "a3", "a4"} {
			require.Equal(t, c.ID, e.find(t, a).ID, a)
		}
		require.Equal(t, []string{"Visit 1", "Alias", "Visit 2", "Alias", "Visit 3", "Alias", "Alias", "Identify", "Visit 4"},
			e.eventNames(t, c.ID))
	})
	t.Run("replayed events change nothing", func(t *testing.T) {
		e := newIdentityEnv(t)
		evs := []schema.EventInput{track("", "a1", "Viewed"), alias("a1", "u1"), identify("u1", "a1", map[string]any{"n": 1})}
		for i := range evs {
			evs[i].MessageID = fmt.Sprintf("fixed-%d", i)
		}
		for range 2 {
			for _, ev := range evs {
				e.apply(t, ev)
			}
		}
		require.Len(t, e.customers(t), 1)
		require.Len(t, e.eventNames(t, e.find(t, "u1").ID), 3)
	})
}

// Two partitions' worth of traffic for one person at once: one consumer
// applies the events keyed by the user id, another those keyed by the
// anonymous ids (the same person on several devices), several goroutines
// each, as a rebalance or a second ingest process would.
func TestConcurrentIdentifyOfOneUserStaysOneCustomer(t *testing.T) {
	e := newIdentityEnv(t)
	const goroutines = 8 // per partition
	const perGoroutine = 15
	var wg sync.WaitGroup
	var applied atomic.Int64
	errs := make(chan error, 2*goroutines*perGoroutine)
	for g := range goroutines {
		anon := fmt.Sprintf("device-%d", g)
		wg.Add(2)
		go func() { // partition of "ws:u1"
			defer wg.Done()
			for i := range perGoroutine {
				var ev schema.EventInput
				switch i % 3 {
				case 0:
					ev = identify("u1", anon, map[string]any{"last_device": anon, "email": "ada@example.com"})
				case 1:
					ev = track("u1", "", "Clicked")
				default:
					ev = alias(anon, "u1")
				}
				if _, err := e.tryApply(ev); err != nil {
					errs <- err
					continue
				}
				applied.Add(1)
			}
		}()
		go func() { // partition of "ws:device-g"
			defer wg.Done()
			for range perGoroutine {
				if _, err := e.tryApply(track("", anon, "Viewed")); err != nil {
					errs <- err
					continue
				}
				applied.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	ids := e.customers(t)
	require.Len(t, ids, 1, "one person, one customer")
	c := e.find(t, "u1")
	require.Equal(t, ids[0], c.ID)
	want := []string{}
	for g := range goroutines {
		want = append(want, fmt.Sprintf("device-%d", g))
	}
	got := append([]string(nil), c.AnonymousIDs...)
	sort.Strings(got)
	sort.Strings(want)
	require.Equal(t, want, got)
	require.EqualValues(t, 2*goroutines*perGoroutine, applied.Load())
	require.Len(t, e.eventNames(t, c.ID), 2*goroutines*perGoroutine, "every event on the one customer")
	require.Equal(t, "ada@example.com", *c.Email)
}

func TestMergeKeepsTheKnownProfilesAttributes(t *testing.T) {
	e := newIdentityEnv(t)
	e.apply(t, identify("u1", "", map[string]any{"plan": "pro", "first_name": "Ada", "email": "ada@known.example", "seats": 5}))
	e.apply(t, identify("", "a1", map[string]any{"plan": "free", "color": "blue", "email": "anon@example.com",
		"phone": "+15555550100", "timezone": "Europe/Paris", "seats": 1}))
	e.apply(t, identify("u1", "a1", nil))

	require.Len(t, e.customers(t), 1)
	c := e.find(t, "u1")
	require.Equal(t, "ada@known.example", *c.Email, "the known profile's email wins")
	require.Equal(t, "+15555550100", *c.Phone, "what only the anonymous profile had is kept")
	require.Equal(t, "Europe/Paris", *c.Timezone)
	require.JSONEq(t, `{"plan":"pro","first_name":"Ada","seats":5,"color":"blue"}`, string(c.Attributes))

	// Traits sent with the merging identify still apply on top.
	e.apply(t, identify("u1", "a1", map[string]any{"plan": "team"}))
	require.JSONEq(t, `{"plan":"team","first_name":"Ada","seats":5,"color":"blue"}`, string(e.find(t, "u1").Attributes))
}

func TestSearchCustomers(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	other := newIdentityEnvOn(t, e.st, "Other")
	ada := e.apply(t, identify("u-ada", "anon-ada", map[string]any{"email": "Ada@Example.com", "phone": "+1 (555) 555-0100", "plan": "pro", "seats": 3, "beta": true,
		"address": map[string]any{"country": "FR", "floor": 2}}))
	bob := e.apply(t, identify("u-bob", "", map[string]any{"email": "bob@example.com", "plan": "free", "seats": "3", "address.country": "FR"}))
	cyd := e.apply(t, track("", "anon-cyd", "Viewed"))
	// The same identities in another workspace never show.
	other.apply(t, identify("u-ada", "anon-ada", map[string]any{"email": "ada@example.com", "plan": "pro"}))

	search := func(f schema.CustomerSearch) []string {
		t.Helper()
		if f.Limit == 0 {
			f.Limit = 50
		}
		list, err := e.st.SearchCustomers(ctx, e.ws, f)
		require.NoError(t, err)
		ids := []string{}
		for _, c := range list {
			ids = append(ids, c.ID)
		}
		return ids
	}
	require.Equal(t, []string{cyd.CustomerID, bob.CustomerID, ada.CustomerID}, search(schema.CustomerSearch{}), "newest first")
	for q, want := range map[string][]string{
		ada.CustomerID:    {ada.CustomerID},
		"u-bob":           {bob.CustomerID},
		"anon-ada":        {ada.CustomerID},
		"anon-cyd":        {cyd.CustomerID},
		"ADA@example.COM": {ada.CustomerID},
		"+15555550100":    {ada.CustomerID},
		"+1 555 555 0100": {ada.CustomerID},
		"5555550100":      {},
		"nobody":          {},
		// User ids and emails by prefix, emails in any case.
		"u-":       {bob.CustomerID, ada.CustomerID},
		"ADA@":     {ada.CustomerID},
		"bob@exam": {bob.CustomerID},
		"u_":       {},
		"u%":       {},
		"anon-":    {},
		"example":  {},
	} {
		require.Equal(t, want, search(schema.CustomerSearch{Query: q}), "q=%s", q)
	}
	stored, err := e.st.GetCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)
	require.Equal(t, "+15555550100", *stored.Phone, "phone numbers are kept as digits")
	attrs := func(kv ...string) map[string][]string {
		m := map[string][]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = append(m[kv[i]], kv[i+1])
		}
		return m
	}
	require.Equal(t, []string{ada.CustomerID}, search(schema.CustomerSearch{Attributes: attrs("plan", "pro")}))
	require.Equal(t, []string{bob.CustomerID, ada.CustomerID}, search(schema.CustomerSearch{Attributes: attrs("plan", "pro", "plan", "free")}))
	require.Equal(t, []string{bob.CustomerID, ada.CustomerID}, search(schema.CustomerSearch{Attributes: attrs("seats", "3")}), "3 matches the number and the string")
	require.Equal(t, []string{ada.CustomerID}, search(schema.CustomerSearch{Attributes: attrs("beta", "true")}))
	require.Equal(t, []string{ada.CustomerID}, search(schema.CustomerSearch{Attributes: attrs("plan", "pro", "seats", "3")}))
	require.Empty(t, search(schema.CustomerSearch{Attributes: attrs("plan", "pro", "seats", "4")}))
	require.Empty(t, search(schema.CustomerSearch{Attributes: attrs(`pl"an`, `p"ro`)}), "odd names and values are data, not SQL")
	require.Equal(t, []string{bob.CustomerID}, search(schema.CustomerSearch{Query: "u-bob", Attributes: attrs("seats", "3")}))
	// A dotted name reaches a nested attribute (and a key with that name).
	require.Equal(t, []string{bob.CustomerID, ada.CustomerID}, search(schema.CustomerSearch{Attributes: attrs("address.country", "FR")}))
	require.Equal(t, []string{ada.CustomerID}, search(schema.CustomerSearch{Attributes: attrs("address.floor", "2")}))
	require.Empty(t, search(schema.CustomerSearch{Attributes: attrs("address.", "FR")}))

	// Keyset pages: customers made in one transaction share created_at.
	_, err = e.st.Pool().Exec(ctx, `INSERT INTO customers (id, workspace_id) SELECT 'cus_bulk' || lpad(g::text, 3, '0'), $1 FROM generate_series(1, 7) g`, e.ws)
	require.NoError(t, err)
	all := search(schema.CustomerSearch{Limit: 200})
	require.Len(t, all, 10)
	var paged []string
	var after *schema.CustomerCursor
	for {
		list, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Limit: 3, After: after})
		require.NoError(t, err)
		for _, c := range list {
			paged = append(paged, c.ID)
		}
		if len(list) < 3 {
			break
		}
		last := list[len(list)-1]
		after = &schema.CustomerCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	require.Equal(t, all, paged, "pages cover the list once, in order")
}

// The attribute filter is answered from the GIN index on attributes.
func TestSearchByAttributeUsesTheGINIndex(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	_, err := e.st.Pool().Exec(ctx, `
		INSERT INTO customers (id, workspace_id, attributes)
		SELECT 'cus_' || g, $1, jsonb_build_object('plan', CASE WHEN g % 1000 = 0 THEN 'pro' ELSE 'free' END)
		FROM generate_series(1, 5000) g`, e.ws)
	require.NoError(t, err)
	_, err = e.st.Pool().Exec(ctx, `ANALYZE customers`)
	require.NoError(t, err)
	scans := func() int64 {
		var n int64
		_, err := e.st.Pool().Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
		require.NoError(t, err)
		require.NoError(t, e.st.Pool().QueryRow(ctx,
			`SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'customers_attributes_idx'`).Scan(&n))
		return n
	}
	before := scans()
	// More than five times: a cached generic plan would not know the value is rare.
	for range 8 {
		list, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Attributes: map[string][]string{"plan": {"pro"}}, Limit: 50})
		require.NoError(t, err)
		require.Len(t, list, 5)
	}
	require.Eventually(t, func() bool { return scans() > before }, 15*time.Second, 100*time.Millisecond,
		"the search did not scan customers_attributes_idx")
}

func newIdentityEnvOn(t *testing.T, st *schema.Store, name string) *identityEnv {
	t.Helper()
	ws, err := st.CreateWorkspace(context.Background(), name)
	require.NoError(t, err)
	return &identityEnv{st: st, ws: ws.ID}
}

func TestEraseCustomer(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	other := newIdentityEnvOn(t, e.st, "Other")
	e.apply(t, track("", "a1", "Viewed"))
	res := e.apply(t, identify("u1", "a1", map[string]any{"email": "ada@example.com", "plan": "pro"}))
	e.apply(t, alias("a2", "u1"))
	keep := e.apply(t, identify("u2", "", map[string]any{"email": "bob@example.com"}))
	theirs := other.apply(t, identify("u1", "a1", map[string]any{"email": "ada@example.com"}))
	cid := res.CustomerID

	d, _, err := e.st.ClaimDelivery(ctx, e.ws, schema.Delivery{ID: "msg_1", CustomerID: cid, Channel: "email", Provider: "ses",
		TemplateID: "tpl_1", Recipient: "ada@example.com", Content: json.RawMessage(`{"subject":"Hi Ada","html":"<p>Hi Ada</p>"}`)})
	require.NoError(t, err)
	require.NoError(t, e.st.SetDeliveryStatus(ctx, e.ws, d.ID, schema.DeliveryFailed, "", "Email address is not verified: ada@example.com"))
	_, _, err = e.st.ClaimDelivery(ctx, e.ws, schema.Delivery{ID: "msg_2", CustomerID: keep.CustomerID, Channel: "email", Provider: "ses",
		TemplateID: "tpl_1", Recipient: "bob@example.com", Content: json.RawMessage(`{"subject":"Hi Bob"}`)})
	require.NoError(t, err)
	// A run keyed by the customer's email (an entry key can be anything the event carried).
	j, err := e.st.CreateJourney(ctx, e.ws, "J", json.RawMessage(`{}`))
	require.NoError(t, err)
	require.NoError(t, recorded(e.st.RecordRunStart(ctx, e.ws, schema.Run{WorkflowID: "wf-keyed", RunID: "r1", JourneyID: j.ID, Version: 1,
		CustomerID: cid, EntryKey: "ada@example.com", StartedAt: time.Now()})))

	// Only an internal id of this workspace erases.
	_, err = e.st.EraseCustomer(ctx, e.ws, "u1")
	require.ErrorIs(t, err, schema.ErrNotFound)
	_, err = e.st.EraseCustomer(ctx, other.ws, cid)
	require.ErrorIs(t, err, schema.ErrNotFound)

	out, err := e.st.EraseCustomer(ctx, e.ws, cid)
	require.NoError(t, err)
	require.Equal(t, schema.CustomerErasure{CustomerID: cid, Events: 3, AnonymousIDs: 2, DeliveriesBlanked: 1}, out)

	_, err = e.st.GetCustomer(ctx, e.ws, cid)
	require.ErrorIs(t, err, schema.ErrNotFound)
	for _, id := range []string{"u1", "a1", "a2"} {
		_, err = e.st.FindCustomer(ctx, e.ws, id)
		require.ErrorIs(t, err, schema.ErrNotFound, id)
	}
	var events int
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE customer_id = $1`, cid).Scan(&events))
	require.Zero(t, events)
	var key string
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT entry_key FROM runs WHERE workflow_id = 'wf-keyed'`).Scan(&key))
	require.Empty(t, key, "a run's entry key is blanked")
	blank, err := e.st.GetDelivery(ctx, e.ws, "msg_1")
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(blank.Content))
	require.Empty(t, blank.Recipient)
	require.Empty(t, blank.Error)
	require.Equal(t, schema.DeliveryFailed, blank.Status, "statuses stay for the journey statistics")
	require.Len(t, blank.History, 2)
	for _, h := range blank.History {
		require.Empty(t, h.Detail)
	}
	kept, err := e.st.GetDelivery(ctx, e.ws, "msg_2")
	require.NoError(t, err)
	require.Equal(t, "bob@example.com", kept.Recipient, "other customers are untouched")
	require.Equal(t, keep.CustomerID, e.find(t, "u2").ID)
	require.Equal(t, theirs.CustomerID, other.find(t, "u1").ID, "the other workspace's u1 is untouched")

	_, err = e.st.EraseCustomer(ctx, e.ws, cid)
	require.ErrorIs(t, err, schema.ErrNotFound, "erasing twice")

	// The person coming back is a new customer with none of the old data.
	again := e.apply(t, track("u1", "", "Returned"))
	require.NotEqual(t, cid, again.CustomerID)
	require.Equal(t, []string{"Returned"}, e.eventNames(t, again.CustomerID))
}

// An erasure racing the ingest of the same customer's events leaves every
// event either erased or on a fresh profile — never on a deleted customer,
// and the ingest never fails on it.
func TestEraseWhileEventsArrive(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	first := e.apply(t, identify("u1", "a1", map[string]any{"email": "ada@example.com"}))
	var applied atomic.Int64
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := e.tryApply(track("u1", "a1", "Clicked")); err != nil {
				done <- err
				return
			}
			applied.Add(1)
		}
	}()
	require.Eventually(t, func() bool { return applied.Load() >= 5 }, 10*time.Second, time.Millisecond)
	_, err := e.st.EraseCustomer(ctx, e.ws, first.CustomerID)
	require.NoError(t, err)
	after := applied.Load()
	require.Eventually(t, func() bool { return applied.Load() >= after+5 }, 10*time.Second, time.Millisecond)
	close(stop)
	require.NoError(t, <-done, "the identity locks serialise erasure and ingest")

	var orphans int
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE customer_id = $1`, first.CustomerID).Scan(&orphans))
	require.Zero(t, orphans)
	ids := e.customers(t)
	require.Len(t, ids, 1, "events after the erasure start one new profile")
	require.NotEqual(t, first.CustomerID, ids[0])
	require.Equal(t, ids[0], e.find(t, "a1").ID)
}

// Traits describe the profile only on identify: a group call's traits are
// the group's (its name, its size), not the person's.
func TestOnlyIdentifyTraitsChangeTheProfile(t *testing.T) {
	e := newIdentityEnv(t)
	e.apply(t, identify("u1", "", map[string]any{"name": "Ada Lovelace", "email": "ada@example.com"}))
	e.apply(t, schema.EventInput{Type: "group", Name: "Group", UserID: "u1", Traits: map[string]any{"name": "Acme Inc", "employees": 50, "email": "billing@acme.example"}})
	c := e.find(t, "u1")
	require.JSONEq(t, `{"name":"Ada Lovelace"}`, string(c.Attributes))
	require.Equal(t, "ada@example.com", *c.Email)
}

// TestBuiltinTraitsOfAnyJSONType: a phone number sent as a JSON number goes
// to the phone field; null (or an empty string) clears a built-in field,
// null removes a custom one; a value that cannot be an address or a zone
// stays an attribute.
func TestBuiltinTraitsOfAnyJSONType(t *testing.T) {
	e := newIdentityEnv(t)
	e.apply(t, identify("u1", "", map[string]any{"email": "ada@example.com", "phone": json.Number("15550100100"), "timezone": "Europe/Paris"}))
	c := e.find(t, "u1")
	require.Equal(t, "ada@example.com", *c.Email)
	require.Equal(t, "15550100100", *c.Phone)
	require.Equal(t, "Europe/Paris", *c.Timezone)
	require.JSONEq(t, `{}`, string(c.Attributes), "built-in traits are not attributes")

	e.apply(t, identify("u1", "", map[string]any{"email": nil, "phone": " ", "timezone": json.Number("2")}))
	c = e.find(t, "u1")
	require.Nil(t, c.Email, "email: null forgets the address")
	require.Nil(t, c.Phone, "an empty phone forgets the number")
	require.Equal(t, "Europe/Paris", *c.Timezone)
	require.JSONEq(t, `{"timezone":2}`, string(c.Attributes), "a number cannot be a zone: kept as an attribute")

	// A custom trait sent as null is removed (as Braze and Customer.io do),
	// not kept as a null.
	e.apply(t, identify("u1", "", map[string]any{"plan": "pro", "seats": 3}))
	e.apply(t, identify("u1", "", map[string]any{"plan": nil, "never_set": nil, "seats": 4}))
	c = e.find(t, "u1")
	require.JSONEq(t, `{"timezone":2,"seats":4}`, string(c.Attributes))

	require.NoError(t, e.st.UpdateCustomerAttributes(context.Background(), e.ws, c.ID, map[string]any{"phone": float64(33612345678)}, nil))
	require.Equal(t, "33612345678", *e.find(t, "u1").Phone)
}

// auditDetails returns the detail of the workspace's audit entries of one
// action, oldest first.
func (e *identityEnv) auditDetails(t *testing.T, action string) []string {
	t.Helper()
	rows, err := e.st.Pool().Query(context.Background(),
		`SELECT detail::text FROM audit_log WHERE workspace_id = $1 AND action = $2 ORDER BY id`, e.ws, action)
	require.NoError(t, err)
	out := []string{}
	for rows.Next() {
		var d string
		require.NoError(t, rows.Scan(&d))
		out = append(out, d)
	}
	require.NoError(t, rows.Err())
	return out
}

// Segment's alias whose previousId is an earlier userId (issue 4): both
// user ids are one person from then on.
func TestAliasOfAPreviousUserID(t *testing.T) {
	ctx := context.Background()
	t.Run("alias of two known users merges the old one into the new one", func(t *testing.T) {
		e := newIdentityEnv(t)
		old := e.apply(t, identify("u1", "a1", map[string]any{"plan": "free", "color": "blue", "email": "ada@old.example"}))
		e.apply(t, track("u1", "", "Old Id Event"))
		_, _, err := e.st.ClaimDelivery(ctx, e.ws, schema.Delivery{ID: "msg_old", CustomerID: old.CustomerID, Channel: "email",
			Provider: "ses", TemplateID: "tpl_1", Recipient: "ada@old.example"})
		require.NoError(t, err)
		require.NoError(t, recorded(e.st.RecordRunStart(ctx, e.ws, schema.Run{WorkflowID: "wf_old", RunID: "r1", JourneyID: e.journey(t),
			Version: 1, CustomerID: old.CustomerID})))
		known := e.apply(t, identify("u2", "", map[string]any{"plan": "pro"}))
		require.NotEqual(t, old.CustomerID, known.CustomerID)

		res := e.apply(t, alias("u1", "u2"))
		require.Equal(t, known.CustomerID, res.CustomerID)
		require.Equal(t, old.CustomerID, res.MergedFrom, "routing tells the old customer's runs")
		require.Equal(t, []string{known.CustomerID}, e.customers(t))
		c := e.find(t, "u2")
		require.Equal(t, "u2", *c.ExternalID)
		require.Equal(t, []string{"u1"}, c.PreviousUserIDs)
		require.Equal(t, []string{"a1"}, c.AnonymousIDs)
		require.Equal(t, "ada@old.example", *c.Email, "what only the old profile had is kept")
		require.JSONEq(t, `{"plan":"pro","color":"blue"}`, string(c.Attributes), "the surviving profile's attributes win")
		require.Equal(t, []string{"Identify", "Old Id Event", "Identify", "Alias"}, e.eventNames(t, c.ID))
		d, err := e.st.GetDelivery(ctx, e.ws, "msg_old")
		require.NoError(t, err)
		require.Equal(t, c.ID, d.CustomerID)
		runs, err := e.st.RunningRunsOfCustomer(ctx, e.ws, c.ID)
		require.NoError(t, err)
		require.Len(t, runs, 1)
		require.Equal(t, []string{fmt.Sprintf(`{"merged_from": %q, "merged_user_id": "u1"}`, old.CustomerID)}, e.auditDetails(t, "merge"))

		// The old user id keeps resolving to the survivor, everywhere.
		require.Equal(t, c.ID, e.apply(t, track("u1", "", "Late Event")).CustomerID)
		require.Equal(t, c.ID, e.apply(t, identify("u1", "a9", map[string]any{"seen": true})).CustomerID)
		require.Equal(t, c.ID, e.find(t, "u1").ID)
		looked, err := e.st.LookupCustomer(ctx, e.ws, "u1")
		require.NoError(t, err)
		require.Equal(t, c.ID, looked.ID)
		found, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: "u1", Limit: 10})
		require.NoError(t, err)
		require.Len(t, found, 1)
		require.Equal(t, c.ID, found[0].ID)
		ensured, err := e.st.EnsureCustomer(ctx, e.ws, "u1")
		require.NoError(t, err)
		require.Equal(t, c.ID, ensured.ID)
		exported, err := e.st.ExportCustomer(ctx, e.ws, "u1")
		require.NoError(t, err)
		require.Equal(t, c.ID, exported.Customer.ID)
		require.Len(t, exported.Events, 6)
		c = e.find(t, "u1")
		require.Equal(t, []string{"a1", "a9"}, c.AnonymousIDs)
		require.JSONEq(t, `{"plan":"pro","color":"blue","seen":true}`, string(c.Attributes))
		require.Equal(t, []string{known.CustomerID}, e.customers(t), "no customer was made for the old id")

		// Erasure takes the previous user ids with it.
		_, err = e.st.EraseCustomer(ctx, e.ws, c.ID)
		require.NoError(t, err)
		for _, id := range []string{"u1", "u2", "a1", "a9"} {
			_, err = e.st.FindCustomer(ctx, e.ws, id)
			require.ErrorIs(t, err, schema.ErrNotFound, id)
		}
	})
	t.Run("alias to a user id not seen yet gives the customer the new id", func(t *testing.T) {
		e := newIdentityEnv(t)
		first := e.apply(t, identify("u1", "a1", map[string]any{"plan": "pro"}))
		res := e.apply(t, alias("u1", "u2"))
		require.Equal(t, first.CustomerID, res.CustomerID)
		require.Empty(t, res.MergedFrom, "nothing merged")
		c := e.find(t, "u2")
		require.Equal(t, first.CustomerID, c.ID)
		require.Equal(t, "u2", *c.ExternalID)
		require.Equal(t, []string{"u1"}, c.PreviousUserIDs)
		require.Equal(t, []string{"a1"}, c.AnonymousIDs)
		require.Equal(t, first.CustomerID, e.apply(t, track("u1", "", "Old Id")).CustomerID)
		require.Equal(t, first.CustomerID, e.apply(t, track("u2", "", "New Id")).CustomerID)
		require.Equal(t, first.CustomerID, e.apply(t, track("", "a1", "Anonymous")).CustomerID)
		require.Equal(t, []string{first.CustomerID}, e.customers(t))
		require.Equal(t, []string{`{"user_id": "u2", "previous_user_id": "u1"}`}, e.auditDetails(t, "change_user_id"))

		// Aliasing again changes nothing.
		require.Equal(t, first.CustomerID, e.apply(t, alias("u1", "u2")).CustomerID)
		require.Equal(t, first.CustomerID, e.apply(t, alias("u2", "u2")).CustomerID)
		c = e.find(t, "u2")
		require.Equal(t, "u2", *c.ExternalID)
		require.Equal(t, []string{"u1"}, c.PreviousUserIDs)
		// The other way round, the user goes back to the earlier id: u1 is
		// current again and u2 a previous id (templates, webhooks and
		// tracked events name the customer by the current one).
		require.Equal(t, first.CustomerID, e.apply(t, alias("u2", "u1")).CustomerID)
		c = e.find(t, "u2")
		require.Equal(t, "u1", *c.ExternalID)
		require.Equal(t, []string{"u2"}, c.PreviousUserIDs)
		require.Equal(t, []string{"a1"}, c.AnonymousIDs, "no user id became an anonymous id")
		require.Equal(t, []string{`{"user_id": "u2", "previous_user_id": "u1"}`, `{"user_id": "u1", "previous_user_id": "u2"}`},
			e.auditDetails(t, "change_user_id"))
		// In one batch too: back to u2, then an event as u1 lands on the
		// same customer.
		evs := []schema.EventInput{alias("u1", "u2"), track("u1", "", "Still one person")}
		for i := range evs {
			evs[i].WorkspaceID, evs[i].MessageID, evs[i].OccurredAt = e.ws, fmt.Sprintf("back%d", i), time.Now()
		}
		out, err := e.st.ApplyEvents(ctx, evs)
		require.NoError(t, err)
		require.Equal(t, []string{first.CustomerID, first.CustomerID}, []string{out[0].CustomerID, out[1].CustomerID})
		c = e.find(t, "u1")
		require.Equal(t, "u2", *c.ExternalID)
		require.Equal(t, []string{"u1"}, c.PreviousUserIDs)

		// An alias from a previous id to a new one renames the customer too.
		require.Equal(t, first.CustomerID, e.apply(t, alias("u1", "u3")).CustomerID)
		c = e.find(t, "u3")
		require.Equal(t, "u3", *c.ExternalID)
		require.Equal(t, []string{"u1", "u2"}, c.PreviousUserIDs)
		require.Equal(t, []string{first.CustomerID}, e.customers(t))
	})
	t.Run("alias chain u1 to u2 to u3", func(t *testing.T) {
		for _, seen := range []bool{false, true} {
			t.Run(fmt.Sprintf("u2 and u3 known before: %v", seen), func(t *testing.T) {
				e := newIdentityEnv(t)
				e.apply(t, track("u1", "", "As u1"))
				if seen {
					e.apply(t, track("u2", "", "As u2"))
					e.apply(t, track("u3", "", "As u3"))
				}
				e.apply(t, alias("u1", "u2"))
				res := e.apply(t, alias("u2", "u3"))
				require.Equal(t, seen, res.MergedFrom != "")
				require.Len(t, e.customers(t), 1)
				c := e.find(t, "u3")
				require.Equal(t, "u3", *c.ExternalID)
				require.Equal(t, []string{"u1", "u2"}, c.PreviousUserIDs)
				for _, u := range []string{"u1", "u2", "u3"} {
					require.Equal(t, c.ID, e.find(t, u).ID, u)
					require.Equal(t, c.ID, e.apply(t, track(u, "", "Later as "+u)).CustomerID, u)
				}
				// An alias from the oldest id to the newest changes nothing.
				require.Equal(t, c.ID, e.apply(t, alias("u1", "u3")).CustomerID)
				require.Len(t, e.customers(t), 1)
				require.Len(t, e.eventNames(t, c.ID), map[bool]int{false: 7, true: 9}[seen])
			})
		}
	})
	t.Run("in one batch, in order", func(t *testing.T) {
		e := newIdentityEnv(t)
		evs := []schema.EventInput{track("u1", "", "As u1"), alias("u1", "u2"), track("u1", "", "Old"), track("u2", "", "New"),
			track("u3", "", "Other"), alias("u3", "u2"), track("u3", "", "Merged")}
		for i := range evs {
			evs[i].WorkspaceID, evs[i].MessageID, evs[i].OccurredAt = e.ws, fmt.Sprintf("b%d", i), time.Now()
		}
		out, err := e.st.ApplyEvents(ctx, evs)
		require.NoError(t, err)
		for i := range out {
			if i != 4 { // u3's own customer, until the alias merges it
				require.Equal(t, out[0].CustomerID, out[i].CustomerID, "event %d", i)
			}
		}
		require.Equal(t, out[4].CustomerID, out[5].MergedFrom)
		require.Len(t, e.customers(t), 1)
		c := e.find(t, "u2")
		require.Equal(t, []string{"u1", "u3"}, c.PreviousUserIDs)
		require.Len(t, e.eventNames(t, c.ID), len(evs))
	})
	t.Run("a previousId never seen as a user id is an anonymous id", func(t *testing.T) {
		e := newIdentityEnv(t)
		res := e.apply(t, alias("legacy-42", "u1"))
		c := e.find(t, "u1")
		require.Equal(t, []string{"legacy-42"}, c.AnonymousIDs)
		require.Empty(t, c.PreviousUserIDs)
		// ...and a later event with it as its userId is the same person
		// (the alias made them one; out of order, a chain's aliases meet
		// so: TestAliasChainInEveryOrder).
		require.Equal(t, res.CustomerID, e.apply(t, track("legacy-42", "", "Same")).CustomerID)
		require.Len(t, e.customers(t), 1)
	})
	t.Run("a previousId that is a user id and an anonymous id is the user id", func(t *testing.T) {
		e := newIdentityEnv(t)
		asUser := e.apply(t, track("x", "", "As user x"))
		asAnon := e.apply(t, track("", "x", "As anonymous x"))
		e.apply(t, track("u1", "", "As u1"))
		res := e.apply(t, alias("x", "u1"))
		require.Equal(t, asUser.CustomerID, res.MergedFrom)
		require.Equal(t, asAnon.CustomerID, e.apply(t, track("", "x", "Anonymous again")).CustomerID, "the anonymous profile stays")
		require.Len(t, e.customers(t), 2)
	})
	t.Run("another workspace's user ids are not aliased", func(t *testing.T) {
		e := newIdentityEnv(t)
		other := newIdentityEnvOn(t, e.st, "Other")
		theirs := other.apply(t, track("u1", "", "Theirs"))
		e.apply(t, track("u1", "", "Ours"))
		e.apply(t, alias("u1", "u2"))
		require.Equal(t, theirs.CustomerID, other.find(t, "u1").ID)
		require.Equal(t, "u1", *other.find(t, "u1").ExternalID)
		require.Equal(t, theirs.CustomerID, other.apply(t, track("u1", "", "Theirs again")).CustomerID)
	})
	t.Run("an import by a previous user id updates the customer it resolves to", func(t *testing.T) {
		e := newIdentityEnv(t)
		e.apply(t, track("u1", "", "As u1"))
		e.apply(t, alias("u1", "u2"))
		imp, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", Headers: []string{"id", "plan"}},
			&memoryRowSource{rows: [][]string{{"u1", "pro"}}})
		require.NoError(t, err)
		_, err = e.st.StartImportRun(ctx, e.ws, imp.ID, schema.StartImport{Mapping: []byte(`{"user_id":"id"}`)})
		require.NoError(t, err)
		imp, _, err = e.st.ApplyImportChunk(ctx, e.ws, imp.ID, schema.ImportChunk{Run: 1, Rows: 1, Key: schema.ImportKeyUserID,
			Customers: []schema.ImportedCustomer{{ExternalID: "u1", Email: "ada@example.com", Attributes: map[string]any{"plan": "pro"}}}})
		require.NoError(t, err)
		require.Equal(t, [2]int{0, 1}, [2]int{imp.CreatedRows, imp.UpdatedRows})
		require.Len(t, e.customers(t), 1)
		c := e.find(t, "u2")
		require.Equal(t, "ada@example.com", *c.Email)
		require.JSONEq(t, `{"plan":"pro"}`, string(c.Attributes))
	})
}

// journey makes a journey runs can belong to.
func (e *identityEnv) journey(t *testing.T) string {
	t.Helper()
	j, err := e.st.CreateJourney(context.Background(), e.ws, "J", json.RawMessage(`{}`))
	require.NoError(t, err)
	return j.ID
}

// A merge moves the merged customer's manual segment memberships to the
// survivor (issue 6): once each, a current membership of either making the
// survivor a current member.
func TestMergeMovesSegmentMemberships(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"identify", "alias of a user id"} {
		t.Run(how, func(t *testing.T) {
			e := newIdentityEnv(t)
			seg := func(name string) string {
				s, err := e.st.CreateSegment(ctx, e.ws, schema.Segment{Name: name, Kind: schema.SegmentManual})
				require.NoError(t, err)
				return s.ID
			}
			onlyMerged, both, survivorLeft, bothLeft, onlySurvivor := seg("Only merged"), seg("Both"), seg("Survivor left"), seg("Both left"), seg("Only survivor")
			var merged schema.AppliedEvent
			if how == "identify" {
				merged = e.apply(t, track("", "a1", "Anonymous"))
			} else {
				merged = e.apply(t, track("old", "", "Old id"))
			}
			survivor := e.apply(t, track("u1", "", "Known"))
			add := func(segment string, ids ...string) {
				_, err := e.st.AddManualMembers(ctx, e.ws, segment, ids)
				require.NoError(t, err)
			}
			remove := func(segment string, ids ...string) {
				_, err := e.st.RemoveManualMembers(ctx, e.ws, segment, ids)
				require.NoError(t, err)
			}
			add(onlyMerged, merged.CustomerID)
			add(both, merged.CustomerID, survivor.CustomerID)
			add(survivorLeft, merged.CustomerID, survivor.CustomerID)
			remove(survivorLeft, survivor.CustomerID)
			add(bothLeft, merged.CustomerID, survivor.CustomerID)
			remove(bothLeft, merged.CustomerID, survivor.CustomerID)
			add(onlySurvivor, survivor.CustomerID)

			var res schema.AppliedEvent
			if how == "identify" {
				res = e.apply(t, identify("u1", "a1", nil))
			} else {
				res = e.apply(t, alias("old", "u1"))
			}
			require.Equal(t, merged.CustomerID, res.MergedFrom)

			now := time.Now()
			for segment, want := range map[string]bool{onlyMerged: true, both: true, survivorLeft: true, bothLeft: false, onlySurvivor: true} {
				in, err := e.st.IsMember(ctx, e.ws, segment, survivor.CustomerID, now)
				require.NoError(t, err)
				require.Equal(t, want, in, "segment %s", segment)
				members, err := e.st.SegmentMembers(ctx, e.ws, segment, now, "", 10)
				require.NoError(t, err)
				require.Len(t, members, map[bool]int{true: 1, false: 0}[want], "segment %s", segment)
			}
			var rows, left, stale int
			require.NoError(t, e.st.Pool().QueryRow(ctx, `
				SELECT count(*), count(*) FILTER (WHERE left_at IS NOT NULL), count(*) FILTER (WHERE customer_id <> $2)
				FROM segment_members WHERE workspace_id = $1`, e.ws, survivor.CustomerID).Scan(&rows, &left, &stale))
			require.Equal(t, [3]int{5, 1, 0}, [3]int{rows, left, stale}, "one row per segment, none left on the merged customer")
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+1 (555) 010-0100":   "+15550100100",
		" 06.12.34.56.78 ":    "0612345678",
		"+15550100":           "+15550100",
		"1234":                "1234",            // too short to be a number
		"+1 555 CALL NOW":     "+1 555 CALL NOW", // not a number: as it is
		"1+2345678":           "1+2345678",
		"":                    "",
		"+44 (0)20 7946 0958": "+4402079460958", // as stored before: kept
		"(+33) 6 12 34 56 78": "+33612345678",
		"( +33 6 12 34 56 78": "+33612345678",
		"+39 06 1234 5678":    "+390612345678",
		"1 (+555) 0100":       "1 (+555) 0100",
	} {
		require.Equal(t, want, schema.NormalizePhone(in), "%q", in)
	}
}

// Stored import files are personal data too: an export lists the rows that
// name the customer — by email in any column, by user id or phone only in
// the columns the import's mapping reads them from — and an erasure blanks
// them (and their row errors' messages), keeping the file's numbering.
func TestEraseAndExportCoverStoredImportRows(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	other := newIdentityEnvOn(t, e.st, "Other")
	ada := e.apply(t, identify("3", "", map[string]any{"email": "Ada@Example.com", "phone": "+15555550100"}))
	e.apply(t, identify("u2", "", map[string]any{"email": "bob@example.com"}))

	upload := func(env *identityEnv, headers []string, mapping string, rows ...[]string) string {
		t.Helper()
		imp, err := env.st.CreateImport(ctx, env.ws, schema.NewImport{CreatedBy: "test", FileName: "people.csv", Headers: headers},
			&memoryRowSource{rows: rows})
		require.NoError(t, err)
		if mapping != "" {
			_, err = env.st.StartImportRun(ctx, env.ws, imp.ID, schema.StartImport{Mapping: []byte(mapping)})
			require.NoError(t, err)
		}
		return imp.ID
	}
	byID := upload(e, []string{"id", "mobile", "seats"}, `{"user_id":"id","phone":"mobile"}`,
		[]string{"3", "", "7"},                // Ada by user id
		[]string{"u2", "", "3"},               // Bob, with a count of 3: not Ada
		[]string{"u9", " +15555550100 ", "1"}, // Ada's phone in the phone column
		[]string{"u3", "", "2"},
		[]string{"u8", "+1 (555) 555-0100", "4"}) // Ada's phone, written otherwise
	byEmail := upload(e, []string{"contact", "plan"}, "", // never started: email still found
		[]string{"ADA@example.com ", "pro"},
		[]string{"bob@example.com", "3"},
		[]string{"Ada Lovelace <ada@Example.com>", "team"}, // her address as a word of a cell
		[]string{"bada@example.com", "free"})               // not hers
	unstarted := upload(e, []string{"User ID", "Mobile"}, "", // no mapping yet: the columns a suggestion would read
		[]string{"3", ""},
		[]string{"30", ""},
		[]string{"u7", "+1 555 555 0100"})
	theirs := upload(other, []string{"id", "email"}, `{"user_id":"id"}`, []string{"3", "ada@example.com"})
	_, _, err := e.st.ApplyImportChunk(ctx, e.ws, byID, schema.ImportChunk{Run: 1, Rows: 4, Key: schema.ImportKeyUserID,
		Errors: []schema.ImportRowError{{Row: 4, Column: "mobile", Message: `"+15555550100" is not allowed`}, {Row: 5, Column: "seats", Message: "bad"}}})
	require.NoError(t, err)

	exp, err := e.st.ExportCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)
	require.Equal(t, []schema.ExportedImportRow{
		{ImportID: byID, FileName: "people.csv", Row: 2, Fields: map[string]string{"id": "3", "mobile": "", "seats": "7"}},
		{ImportID: byID, FileName: "people.csv", Row: 4, Fields: map[string]string{"id": "u9", "mobile": " +15555550100 ", "seats": "1"}},
		{ImportID: byID, FileName: "people.csv", Row: 6, Fields: map[string]string{"id": "u8", "mobile": "+1 (555) 555-0100", "seats": "4"}},
		{ImportID: byEmail, FileName: "people.csv", Row: 2, Fields: map[string]string{"contact": "ADA@example.com ", "plan": "pro"}},
		{ImportID: byEmail, FileName: "people.csv", Row: 4, Fields: map[string]string{"contact": "Ada Lovelace <ada@Example.com>", "plan": "team"}},
		{ImportID: unstarted, FileName: "people.csv", Row: 2, Fields: map[string]string{"User ID": "3", "Mobile": ""}},
		{ImportID: unstarted, FileName: "people.csv", Row: 4, Fields: map[string]string{"User ID": "u7", "Mobile": "+1 555 555 0100"}},
	}, exp.ImportRows)

	out, err := e.st.EraseCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)
	require.EqualValues(t, 7, out.ImportRowsBlanked)
	rows, err := e.st.ImportRows(ctx, e.ws, byID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []schema.ImportRow{{Number: 2, Fields: []string{"", "", ""}}, {Number: 3, Fields: []string{"u2", "", "3"}},
		{Number: 4, Fields: []string{"", "", ""}}, {Number: 5, Fields: []string{"u3", "", "2"}}, {Number: 6, Fields: []string{"", "", ""}}}, rows)
	rows, err = e.st.ImportRows(ctx, e.ws, byEmail, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []schema.ImportRow{{Number: 2, Fields: []string{"", ""}}, {Number: 3, Fields: []string{"bob@example.com", "3"}},
		{Number: 4, Fields: []string{"", ""}}, {Number: 5, Fields: []string{"bada@example.com", "free"}}}, rows)
	rows, err = e.st.ImportRows(ctx, e.ws, unstarted, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []schema.ImportRow{{Number: 2, Fields: []string{"", ""}}, {Number: 3, Fields: []string{"30", ""}}, {Number: 4, Fields: []string{"", ""}}}, rows)
	errs, err := e.st.ListImportErrors(ctx, e.ws, byID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []schema.ImportRowError{{Row: 4, Column: "mobile", Message: "the row was erased with its customer"}, {Row: 5, Column: "seats", Message: "bad"}}, errs)
	rows, err = other.st.ImportRows(ctx, other.ws, theirs, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"3", "ada@example.com"}, rows[0].Fields, "another workspace's file is untouched")

	bob, err := e.st.ExportCustomer(ctx, e.ws, "u2")
	require.NoError(t, err)
	require.Len(t, bob.ImportRows, 2, "Bob's rows: his id in the id column, his email")
}

// A chunk read before an erasure blanked one of its rows is refused when it
// is written after it: the erased customer is not brought back, and the
// chunk applies once read again.
func TestImportChunkReadBeforeAnErasureIsRefused(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	ada := e.apply(t, identify("ada", "", map[string]any{"email": "ada@example.com"}))
	imp, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", FileName: "p.csv", Headers: []string{"id", "email"}},
		&memoryRowSource{rows: [][]string{{"ada", "ada@example.com"}, {"bob", "bob@example.com"}, {"", ""}}})
	require.NoError(t, err)
	_, err = e.st.StartImportRun(ctx, e.ws, imp.ID, schema.StartImport{Mapping: []byte(`{"user_id":"id","email":"email"}`)})
	require.NoError(t, err)
	// What the batch read, before the erasure.
	chunk := schema.ImportChunk{Run: 1, Rows: 3, Key: schema.ImportKeyUserID,
		Customers: []schema.ImportedCustomer{{ExternalID: "ada", Email: "ada@example.com"}, {ExternalID: "bob", Email: "bob@example.com"}},
		Errors:    []schema.ImportRowError{{Row: 4, Column: "id", Message: "user_id is empty"}}}
	_, err = e.st.EraseCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)
	_, applied, err := e.st.ApplyImportChunk(ctx, e.ws, imp.ID, chunk)
	require.ErrorIs(t, err, schema.ErrImportRowsErased)
	require.False(t, applied)
	_, err = e.st.FindCustomer(ctx, e.ws, "ada")
	require.ErrorIs(t, err, schema.ErrNotFound, "the erased customer is not brought back")
	_, err = e.st.FindCustomer(ctx, e.ws, "bob")
	require.ErrorIs(t, err, schema.ErrNotFound, "nothing of the chunk was written")

	// Read again: the erased row is a row error now, the rest applies.
	chunk.Customers = chunk.Customers[1:]
	chunk.Errors = append([]schema.ImportRowError{{Row: 2, Column: "id", Message: "user_id is empty"}}, chunk.Errors...)
	_, applied, err = e.st.ApplyImportChunk(ctx, e.ws, imp.ID, chunk)
	require.NoError(t, err)
	require.True(t, applied)
	_, err = e.st.FindCustomer(ctx, e.ws, "bob")
	require.NoError(t, err)
	_, err = e.st.FindCustomer(ctx, e.ws, "ada")
	require.ErrorIs(t, err, schema.ErrNotFound)
}

// A merged-away id leads to the profile that survived, along a chain of
// merges, and nowhere once that one is erased; what was recorded about a
// merged profile goes with it, and its erasure.
func TestMergedIDsLeadToTheSurvivorUntilItIsErased(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	c1 := e.apply(t, identify("ada@old.example", "", map[string]any{"plan": "pro"}))
	e.apply(t, alias("ada@old.example", "ada@new.example")) // c1 renamed: recorded under c1
	c2 := e.apply(t, identify("ada-account-2", "", nil))
	m := e.apply(t, alias("ada@new.example", "ada-account-2")) // c1 merged into c2
	require.Equal(t, c1.CustomerID, m.MergedFrom)
	c3 := e.apply(t, identify("ada-account-3", "", nil))
	e.apply(t, alias("ada-account-2", "ada-account-3")) // c2 merged into c3
	for _, id := range []string{c1.CustomerID, c2.CustomerID, c3.CustomerID} {
		cur, err := e.st.CurrentCustomer(ctx, e.ws, id)
		require.NoError(t, err)
		require.Equal(t, c3.CustomerID, cur.ID, "%s leads to the survivor", id)
		looked, err := e.st.LookupCustomer(ctx, e.ws, id)
		require.NoError(t, err)
		require.Equal(t, c3.CustomerID, looked.ID, "the customers API finds the survivor by %s", id)
		found, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: id, Limit: 10})
		require.NoError(t, err)
		require.Len(t, found, 1, id)
		require.Equal(t, c3.CustomerID, found[0].ID, id)
	}
	_, err := e.st.GetCustomer(ctx, e.ws, c1.CustomerID)
	require.ErrorIs(t, err, schema.ErrNotFound)
	_, err = e.st.EraseCustomer(ctx, e.ws, c1.CustomerID)
	require.ErrorIs(t, err, schema.ErrNotFound, "erasure takes the survivor's own id, as it refuses a user id")

	// Any event with both ids merges (analytics.js sends both after a
	// login), and is a merge again when delivered again.
	anon := e.apply(t, track("", "anon-9", "Viewed"))
	login := track("ada-account-3", "anon-9", "Logged In")
	login.MessageID = "login-1"
	first := e.apply(t, login)
	require.Equal(t, anon.CustomerID, first.MergedFrom)
	again := e.apply(t, login)
	require.True(t, again.Duplicate)
	require.Equal(t, anon.CustomerID, again.MergedFrom, "a merge delivered again is a merge")

	audit, err := e.st.ListAudit(ctx, e.ws, "customer", c3.CustomerID)
	require.NoError(t, err)
	actions := []string{}
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	require.ElementsMatch(t, []string{"change_user_id", "merge", "merge", "merge"}, actions, "the merged profiles' records are the survivor's")

	_, err = e.st.EraseCustomer(ctx, e.ws, c3.CustomerID)
	require.NoError(t, err)
	for _, id := range []string{c1.CustomerID, c2.CustomerID, c3.CustomerID, anon.CustomerID} {
		_, err := e.st.CurrentCustomer(ctx, e.ws, id)
		require.ErrorIs(t, err, schema.ErrNotFound, "%s leads nowhere after the erasure", id)
		_, err = e.st.LookupCustomer(ctx, e.ws, id)
		require.ErrorIs(t, err, schema.ErrNotFound, id)
		found, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: id, Limit: 10})
		require.NoError(t, err)
		require.Empty(t, found, id)
	}
	var left int
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE workspace_id = $1 AND detail::text LIKE '%ada%'`, e.ws).Scan(&left))
	require.Zero(t, left, "no user id of the erased person is left in the audit log")
	require.NoError(t, e.st.Pool().QueryRow(ctx, `SELECT count(*) FROM customer_merges WHERE workspace_id = $1`, e.ws).Scan(&left))
	require.Zero(t, left)
}

// A send that is writing its delivery when the customer is erased is
// blanked by the erasure (which waits for it); one that comes after the
// erasure writes nothing personal.
func TestErasureWaitsForADeliveryBeingClaimed(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	c := e.apply(t, identify("grace", "", map[string]any{"email": "grace@example.com"}))
	// A claim in flight, as ClaimDelivery makes it: the customer held, the row written.
	tx, err := e.st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, `SELECT 1 FROM customers WHERE workspace_id = $1 AND id = $2 FOR KEY SHARE`, e.ws, c.CustomerID)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO deliveries (id, workspace_id, customer_id, workflow_id, node_id, channel, provider, template_id, recipient, content, status)
		VALUES ('msg_inflight', $1, $2, 'wf', 'n', 'email', 'outbox', 'tpl', 'grace@example.com', '{"subject":"Hi Grace"}', 'pending')`, e.ws, c.CustomerID)
	require.NoError(t, err)
	erased := make(chan error, 1)
	go func() {
		_, err := e.st.EraseCustomer(ctx, e.ws, c.CustomerID)
		erased <- err
	}()
	require.Eventually(t, func() bool {
		var waiting int
		err := e.st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiting)
		return err == nil && waiting > 0
	}, 10*time.Second, 10*time.Millisecond, "the erasure waits for the claim")
	require.NoError(t, tx.Commit(ctx))
	select {
	case err := <-erased:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("erasure did not finish")
	}
	d, err := e.st.GetDelivery(ctx, e.ws, "msg_inflight")
	require.NoError(t, err)
	require.Empty(t, d.Recipient)
	require.JSONEq(t, `{}`, string(d.Content))
	_, _, err = e.st.MarkSending(ctx, e.ws, "msg_inflight", false)
	require.ErrorIs(t, err, schema.ErrNoCustomer, "nothing goes out after the erasure")

	_, _, err = e.st.ClaimDelivery(ctx, e.ws, schema.Delivery{ID: "msg_late", CustomerID: c.CustomerID, Channel: "email", Provider: "outbox",
		TemplateID: "tpl", Recipient: "grace@example.com", Content: json.RawMessage(`{"subject":"Hi Grace"}`)})
	require.ErrorIs(t, err, schema.ErrNoCustomer)
	d, created, err := e.st.ClaimDelivery(ctx, e.ws, schema.Delivery{ID: "msg_late", CustomerID: c.CustomerID, Channel: "email", Provider: "outbox", TemplateID: "tpl"})
	require.NoError(t, err, "a record without personal data is kept")
	require.True(t, created)
	require.Empty(t, d.Recipient)
}

// An email, phone or time zone too long to be one stays an attribute
// (Postgres could not index it: every retry of the event would fail).
func TestOverLongAddressTraitsStayAttributes(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	long := strings.Repeat("a", 3000) + "@example.com"
	phone := strings.Repeat("1", schema.MaxPhoneLength+1)
	c := e.apply(t, identify("longtraits", "", map[string]any{"email": long, "phone": phone, "timezone": strings.Repeat("Z", 65)}))
	got, err := e.st.GetCustomer(ctx, e.ws, c.CustomerID)
	require.NoError(t, err)
	require.Nil(t, got.Email)
	require.Nil(t, got.Phone)
	require.Nil(t, got.Timezone)
	var attrs map[string]any
	require.NoError(t, json.Unmarshal(got.Attributes, &attrs))
	require.Equal(t, long, attrs["email"])
	require.Equal(t, phone, attrs["phone"])
	// At the limits they are the customer's own fields.
	edge := strings.Repeat("é", schema.MaxEmailLength-12) + "@example.com"
	e.apply(t, identify("longtraits", "", map[string]any{"email": edge}))
	got, err = e.st.GetCustomer(ctx, e.ws, c.CustomerID)
	require.NoError(t, err)
	require.NotNil(t, got.Email)
	require.Equal(t, edge, *got.Email)

	require.True(t, schema.IsDataError(&pgconn.PgError{Code: "54000"}), "a value too long to index is the data's fault")
	require.True(t, schema.IsDataError(&pgconn.PgError{Code: "22P05"}))
	require.False(t, schema.IsDataError(&pgconn.PgError{Code: "23505"}), "a unique violation may pass on retry")
}

// A user id seen for the first time with an email address takes the oldest
// profile of that address that has no user id — a CSV import by email, a
// visitor who gave the address — rather than start a second profile of the
// same person (every journey email would go out twice). A known user id
// keeps its own profile.
func TestIdentifyGivesANewUserIDTheProfileKnownByEmail(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	imp, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", FileName: "people.csv", Headers: []string{"email"}},
		&memoryRowSource{rows: [][]string{{"ada@example.com"}}})
	require.NoError(t, err)
	_, err = e.st.StartImportRun(ctx, e.ws, imp.ID, schema.StartImport{Mapping: []byte(`{"email":"email"}`)})
	require.NoError(t, err)
	_, _, err = e.st.ApplyImportChunk(ctx, e.ws, imp.ID, schema.ImportChunk{Run: 1, Rows: 1, Key: schema.ImportKeyEmail,
		Customers: []schema.ImportedCustomer{{Row: 2, Email: "ada@example.com"}}})
	require.NoError(t, err)
	imported := e.customers(t)
	require.Len(t, imported, 1)

	res := e.apply(t, identify("u1", "", map[string]any{"email": " Ada@Example.com "}))
	require.Equal(t, imported[0], res.CustomerID)
	require.Equal(t, imported, e.customers(t), "one profile")
	require.Equal(t, "u1", *e.find(t, "u1").ExternalID)

	// A visitor's address, then a login with another device: in one batch,
	// with an event after it.
	visitor := e.apply(t, identify("", "a9", map[string]any{"email": "grace@example.com"}))
	evs := []schema.EventInput{identify("u2", "", map[string]any{"email": "grace@example.com"}), track("u2", "", "After")}
	for i := range evs {
		evs[i].WorkspaceID, evs[i].MessageID, evs[i].OccurredAt = e.ws, fmt.Sprintf("g%d", i), time.Now()
	}
	out, err := e.st.ApplyEvents(ctx, evs)
	require.NoError(t, err)
	require.Equal(t, []string{visitor.CustomerID, visitor.CustomerID}, []string{out[0].CustomerID, out[1].CustomerID})
	c := e.find(t, "u2")
	require.Equal(t, []string{"a9"}, c.AnonymousIDs)

	// A known user id giving another profile's address keeps its own.
	other := e.apply(t, identify("", "a8", map[string]any{"email": "linus@example.com"}))
	known := e.apply(t, identify("u1", "", map[string]any{"email": "linus@example.com"}))
	require.Equal(t, imported[0], known.CustomerID)
	require.NotEqual(t, other.CustomerID, known.CustomerID)
	require.Len(t, e.customers(t), 3)
}

// recorded is the error of RecordRunStart (the customer it answers is the
// one given, in these tests).
func recorded(_ string, err error) error { return err }

// A run's row written after its customer was merged away (the router
// checked the customer, started the run in Temporal, and an identify of
// another partition merged the customer meanwhile) is the survivor's, so
// the survivor's events reach the run, its next trigger finds it and its
// erasure cancels it — also when the merge commits while the row is being
// written.
func TestRunRecordedAroundAMergeIsTheSurvivors(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	j := e.journey(t)
	running := func(t *testing.T, survivor, wfID string) {
		t.Helper()
		got, _, err := e.st.RunningWorkflowsOfCustomers(ctx, e.ws, []string{survivor})
		require.NoError(t, err)
		require.Contains(t, got[survivor], wfID, "the run of the merged profile is the survivor's")
		h, err := e.st.JourneyEntries(ctx, e.ws, j, survivor, "")
		require.NoError(t, err)
		require.Equal(t, 1, h.Running, "the survivor's next trigger finds the run")
	}

	t.Run("merged before", func(t *testing.T) {
		anon := e.apply(t, track("", "a1", "Viewed Pricing"))
		known := e.apply(t, track("u1", "", "Logged In"))
		require.Equal(t, anon.CustomerID, e.apply(t, identify("u1", "a1", nil)).MergedFrom)
		wfID := "journey/" + j + "/customer/" + anon.CustomerID
		under, err := e.st.RecordRunStart(ctx, e.ws, schema.Run{WorkflowID: wfID, RunID: "r1", JourneyID: j, Version: 1,
			CustomerID: anon.CustomerID, StartedAt: time.Now()})
		require.NoError(t, err)
		require.Equal(t, known.CustomerID, under)
		running(t, known.CustomerID, wfID)
	})

	t.Run("merged while written", func(t *testing.T) {
		anon := e.apply(t, track("", "a2", "Viewed Pricing"))
		known := e.apply(t, track("u2", "", "Logged In"))
		// A merge as the store makes one: the merged customer locked first,
		// its runs moved, the customer deleted, the merge recorded.
		tx, err := e.st.Pool().Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, `SELECT 1 FROM customers WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, e.ws, anon.CustomerID)
		require.NoError(t, err)
		wfID := "journey/" + j + "/customer/" + anon.CustomerID
		type result struct {
			under string
			err   error
		}
		done := make(chan result, 1)
		go func() {
			under, err := e.st.RecordRunStart(ctx, e.ws, schema.Run{WorkflowID: wfID, RunID: "r2", JourneyID: j, Version: 1,
				CustomerID: anon.CustomerID, StartedAt: time.Now()})
			done <- result{under, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("the row was written while the merge held the customer: %+v", r)
		case <-time.After(300 * time.Millisecond):
		}
		for _, q := range []string{
			`UPDATE runs SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
			`DELETE FROM customers WHERE workspace_id = $1 AND id = $2 AND id <> $3`,
			`INSERT INTO customer_merges (workspace_id, from_id, into_id) VALUES ($1, $2, $3)`,
		} {
			_, err = tx.Exec(ctx, q, e.ws, anon.CustomerID, known.CustomerID)
			require.NoError(t, err)
		}
		require.NoError(t, tx.Commit(ctx))
		r := <-done
		require.NoError(t, r.err)
		require.Equal(t, known.CustomerID, r.under)
		running(t, known.CustomerID, wfID)
	})

	t.Run("erased", func(t *testing.T) {
		gone := e.apply(t, track("u3", "", "Logged In"))
		_, err := e.st.EraseCustomer(ctx, e.ws, gone.CustomerID)
		require.NoError(t, err)
		under, err := e.st.RecordRunStart(ctx, e.ws, schema.Run{WorkflowID: "journey/" + j + "/customer/" + gone.CustomerID,
			RunID: "r3", JourneyID: j, Version: 1, CustomerID: gone.CustomerID, StartedAt: time.Now()})
		require.NoError(t, err, "a run of a customer erased meanwhile is still recorded (its end comes)")
		require.Equal(t, gone.CustomerID, under)
	})
}

// A trait named like a built-in field whose value the column does not take
// (a number for the time zone or the email) is kept as an attribute; once
// the trait comes as a value the column takes, or is cleared, that
// attribute is out of date and goes, so the profile, the export and
// attribute conditions do not show two values for one field.
func TestBuiltinTraitReplacesItsStaleAttribute(t *testing.T) {
	e := newIdentityEnv(t)
	e.apply(t, identify("u1", "", map[string]any{"timezone": 2, "email": 42, "plan": "pro"}))
	require.JSONEq(t, `{"timezone": 2, "email": 42, "plan": "pro"}`, string(e.find(t, "u1").Attributes))
	e.apply(t, identify("u1", "", map[string]any{"timezone": "Europe/Paris", "email": nil}))
	c := e.find(t, "u1")
	require.Equal(t, "Europe/Paris", *c.Timezone)
	require.Nil(t, c.Email)
	require.JSONEq(t, `{"plan": "pro"}`, string(c.Attributes))
	e.apply(t, identify("u1", "", map[string]any{"email": 43}))
	e.apply(t, identify("u1", "", map[string]any{"email": " "}))
	require.JSONEq(t, `{"plan": "pro"}`, string(e.find(t, "u1").Attributes), "an empty email clears the attribute too")
}

// A search whose query matches many customers (a prefix such as "user-")
// reads about as many customers as its page shows, not every match; it
// finds what a search matching few does, page after page.
// (From a review: "s" over 200,000 customers read and sorted all of them.)
func TestSearchMatchingManyCustomersReadsAboutAPage(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	_, err := e.st.Pool().Exec(ctx, `
		INSERT INTO customers (id, workspace_id, external_id, email, phone, attributes, created_at)
		SELECT 'cus_seed' || g, $1, 'user-' || g, 'seed' || g || '@example.com', '+1555' || lpad(g::text, 7, '0'),
			'{}', now() - interval '1 day' + g * interval '1 ms'
		FROM generate_series(1, 20000) AS g`, e.ws)
	require.NoError(t, err)
	_, err = e.st.Pool().Exec(ctx, `ANALYZE customers`)
	require.NoError(t, err)
	read := func(f schema.CustomerSearch) int {
		t.Helper()
		return searchRowsRead(t, e.st, e.ws, f)
	}
	for _, q := range []string{"user-", "USER-", "seed1", "s"} {
		n := read(schema.CustomerSearch{Query: q, Limit: 51})
		require.LessOrEqual(t, n, 1100, "%q read %d customers for a page of 51", q, n)
	}

	// The same customers, newest first, page after page, either way.
	ids := func(cs []schema.Customer) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.ID
		}
		return out
	}
	page, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: "user-1999", Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"cus_seed19999", "cus_seed19998", "cus_seed19997"}, ids(page), "few matches")
	page, err = e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: "user-1", Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"cus_seed19999", "cus_seed19998", "cus_seed19997"}, ids(page), "many matches")
	next, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: "user-1", Limit: 3,
		After: &schema.CustomerCursor{CreatedAt: page[2].CreatedAt, ID: page[2].ID}})
	require.NoError(t, err)
	require.Equal(t, []string{"cus_seed19996", "cus_seed19995", "cus_seed19994"}, ids(next))
	// Ids found through other tables match in a broad search too.
	anon := e.apply(t, track("", "anon-user-9", "Viewed"))
	merged := e.apply(t, track("user-12", "anon-user-9", "Viewed"))
	require.Equal(t, "cus_seed12", merged.CustomerID)
	for _, q := range []string{"anon-user-9", anon.CustomerID} {
		found, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: q, Limit: 51})
		require.NoError(t, err)
		require.Equal(t, []string{"cus_seed12"}, ids(found), q)
	}
	found, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: "user-12", Limit: 2000})
	require.NoError(t, err)
	require.Equal(t, 1111, len(found), "user-12, user-120…129, user-1200…1299, user-12000…12999")
	found, err = e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: "user-", Limit: 2000,
		Attributes: map[string][]string{"plan": {"pro"}}})
	require.NoError(t, err)
	require.Empty(t, found)
}

// searchRowsRead is how many rows of customers the statements
// SearchCustomers runs for f read (under EXPLAIN ANALYZE), in turn until
// one fills the page.
func searchRowsRead(t *testing.T, st *schema.Store, ws string, f schema.CustomerSearch) int {
	t.Helper()
	ctx := context.Background()
	plan, err := st.CustomerSearch(ctx, ws, f)
	require.NoError(t, err)
	total := 0
	for _, stmt := range plan {
		values := make([]string, len(stmt.Args))
		for i, a := range stmt.Args {
			values[i] = fmt.Sprint(a)
		}
		total += customerRowsRead(t, st, "force_custom_plan", stmt.SQL, values...)
		rows, err := st.Pool().Query(ctx, stmt.SQL, stmt.Args...)
		require.NoError(t, err)
		n := 0
		for rows.Next() {
			n++
		}
		require.NoError(t, rows.Err())
		if n >= f.Limit {
			break
		}
	}
	return total
}

// A search whose many matches are all older than many other customers
// (user ids of an earlier scheme) reads about its matches, not the
// workspace: the walk of the newest customers is bounded. (From a review.)
func TestSearchMatchingOldCustomersReadsAboutItsMatches(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	_, err := e.st.Pool().Exec(ctx, `
		INSERT INTO customers (id, workspace_id, external_id, attributes, created_at)
		SELECT 'cus_legacy' || g, $1, 'legacy-' || g, '{}', now() - interval '2 days' + g * interval '1 ms'
		FROM generate_series(1, 1500) AS g`, e.ws)
	require.NoError(t, err)
	_, err = e.st.Pool().Exec(ctx, `
		INSERT INTO customers (id, workspace_id, external_id, attributes, created_at)
		SELECT 'cus_new' || g, $1, 'u' || g, '{}', now() - interval '1 day' + g * interval '1 ms'
		FROM generate_series(1, 60000) AS g`, e.ws)
	require.NoError(t, err)
	_, err = e.st.Pool().Exec(ctx, `ANALYZE customers`)
	require.NoError(t, err)
	n := searchRowsRead(t, e.st, e.ws, schema.CustomerSearch{Query: "legacy-", Limit: 51})
	// The walk (1,020 customers for a page of 51), then the matches
	// gathered (each found twice: index and row) — not the 60,000 newer ones.
	require.LessOrEqual(t, n, 5000, "a page of 51 of 1,500 matches read %d customers", n)
	found, err := e.st.SearchCustomers(ctx, e.ws, schema.CustomerSearch{Query: "legacy-", Limit: 2})
	require.NoError(t, err)
	require.Len(t, found, 2)
	require.Equal(t, "cus_legacy1500", found[0].ID)
	require.Equal(t, "cus_legacy1499", found[1].ID)
}

// The browser's signup (from a review): analytics.js sends the visitor's
// anonymous id with every call, identify included, and the visitor viewed
// a page first. The new user id still takes the profile an import made for
// its address, and the visitor's profile merges into it (its events follow,
// the merge is reported for its runs), instead of the visitor's profile
// becoming the user and the imported one staying a second profile of the
// same address.
func TestIdentifyWithAVisitorsAnonymousIDTakesTheImportedProfile(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	imp, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", FileName: "leads.csv", Headers: []string{"email", "plan"}},
		&memoryRowSource{rows: [][]string{{"imported@example.com", "gold"}}})
	require.NoError(t, err)
	_, err = e.st.StartImportRun(ctx, e.ws, imp.ID, schema.StartImport{Mapping: []byte(`{"email":"email"}`)})
	require.NoError(t, err)
	_, _, err = e.st.ApplyImportChunk(ctx, e.ws, imp.ID, schema.ImportChunk{Run: 1, Rows: 1, Key: schema.ImportKeyEmail,
		Customers: []schema.ImportedCustomer{{Row: 2, Email: "imported@example.com", Attributes: map[string]any{"plan": "gold"}}}})
	require.NoError(t, err)
	imported := e.customers(t)
	require.Len(t, imported, 1)

	page := e.apply(t, schema.EventInput{Type: "page", Name: "Page Viewed", AnonymousID: "browser-1", MessageID: "p1"})
	require.NotEqual(t, imported[0], page.CustomerID)

	res := e.apply(t, schema.EventInput{Type: "identify", Name: "Identify", UserID: "imp-user-1", AnonymousID: "browser-1", MessageID: "i1",
		Traits: map[string]any{"email": "imported@example.com"}})
	require.Equal(t, imported[0], res.CustomerID, "the new user id takes the imported profile of its address")
	require.Equal(t, page.CustomerID, res.MergedFrom, "the visitor's profile merged into it")
	require.Equal(t, imported, e.customers(t), "one profile of the address")
	c := e.find(t, "imp-user-1")
	require.Equal(t, []string{"browser-1"}, c.AnonymousIDs)
	require.JSONEq(t, `{"plan":"gold"}`, string(c.Attributes))
	evs, err := e.st.LatestCustomerEvents(ctx, e.ws, imported[0], 10)
	require.NoError(t, err)
	require.Len(t, evs, 2, "the page view moved with the visitor's profile")

	// The same in one batch of a browser's calls, the address known from a
	// visitor on another device.
	other := e.apply(t, identify("", "device-z", map[string]any{"email": "second@example.com"}))
	require.Len(t, e.customers(t), 2)
	batch := []schema.EventInput{
		{Type: "page", Name: "Page Viewed", AnonymousID: "browser-2"},
		{Type: "identify", Name: "Identify", UserID: "imp-user-2", AnonymousID: "browser-2", Traits: map[string]any{"email": "Second@example.com"}},
		{Type: "track", Name: "Signed Up", UserID: "imp-user-2", AnonymousID: "browser-2"},
	}
	for i := range batch {
		batch[i].WorkspaceID, batch[i].MessageID, batch[i].OccurredAt = e.ws, fmt.Sprintf("b%d", i), time.Now()
	}
	out, err := e.st.ApplyEvents(ctx, batch)
	require.NoError(t, err)
	require.Len(t, e.customers(t), 2, "one profile per address")
	adopted := e.find(t, "imp-user-2")
	require.Equal(t, other.CustomerID, adopted.ID)
	require.Equal(t, []string{adopted.ID, adopted.ID}, []string{out[1].CustomerID, out[2].CustomerID})
	require.ElementsMatch(t, []string{"device-z", "browser-2"}, adopted.AnonymousIDs)
	require.NotEmpty(t, out[1].MergedFrom, "the page view made the visitor's profile, which merged")
	require.NotEqual(t, adopted.ID, out[1].MergedFrom)
	require.Equal(t, []string{"Identify", "Page Viewed", "Identify", "Signed Up"}, e.eventNames(t, adopted.ID), "the visitor's events and the batch's, on one profile")
}

// A customer's events page newest first by occurrence, then by id, across
// all their event names (the query merges each name's newest from the
// index, or reads them all for a customer of many names): the pages, at any
// size, are one sort of all the customer's events — ties in time across
// names included — and hold no one else's.
func TestCustomerEventsPagesAreOneSortAcrossNames(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var batch []schema.EventInput
	for i := range 400 {
		// Five events a second: ties in time across names and within one;
		// backfills older than all; another customer's events in between.
		at := base.Add(time.Duration(i/5) * time.Second)
		if i%9 == 4 {
			at = base.Add(-time.Duration(i) * time.Minute)
		}
		if i < 90 {
			batch = append(batch, e.complete(schema.EventInput{Type: "track", Name: fmt.Sprintf("Name %d", i%4), UserID: "a", OccurredAt: at}))
		}
		if i%10 == 0 {
			batch = append(batch, e.complete(schema.EventInput{Type: "track", Name: "Name 1", UserID: "b", OccurredAt: at}))
		}
		// c has more names than a page is read name by name for.
		batch = append(batch, e.complete(schema.EventInput{Type: "track", Name: fmt.Sprintf("Name %d", i%130), UserID: "c", OccurredAt: at}))
	}
	_, err := e.st.ApplyEvents(ctx, batch)
	require.NoError(t, err)

	for user, events := range map[string]int{"a": 90, "c": 400} {
		id := e.find(t, user).ID
		// The order to match, by one sort of all the customer's events.
		rows, err := e.st.Pool().Query(ctx, `SELECT message_id FROM events WHERE workspace_id = $1 AND customer_id = $2
			ORDER BY occurred_at DESC, id DESC`, e.ws, id)
		require.NoError(t, err)
		want, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Len(t, want, events)

		for _, limit := range []int{1, 7, 90, 500} {
			var got []string
			var after *schema.EventCursor
			for {
				page, err := e.st.CustomerEventsPage(ctx, e.ws, id, limit, after)
				require.NoError(t, err)
				for _, ev := range page {
					got = append(got, ev.MessageID)
				}
				if len(page) < limit {
					break
				}
				last := page[len(page)-1]
				after = &schema.EventCursor{OccurredAt: last.OccurredAt, ID: last.ID}
			}
			require.Equal(t, want, got, "%s: pages of %d", user, limit)
		}
	}
	page, err := e.st.CustomerEventsPage(ctx, e.ws, "cus_nobody", 10, nil)
	require.NoError(t, err)
	require.Empty(t, page)
}

// (From the list of what was left.) A track, an alias or an identify
// without traits that names a new user id and the anonymous id of a visitor
// who gave an address takes the oldest profile of that address, as an
// identify giving the address does: a sign-up tracked before its identify
// no longer leaves a second profile of the person.
func TestNamingAVisitorWhoGaveAnAddressTakesTheOldestProfileOfIt(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	older := e.apply(t, identify("", "device-old", map[string]any{"email": "Ada@example.com"}))
	page := e.apply(t, schema.EventInput{Type: "page", Name: "Pricing", AnonymousID: "browser-1"})
	require.NotEqual(t, older.CustomerID, page.CustomerID)
	e.apply(t, identify("", "browser-1", map[string]any{"email": "ada@example.com"}))
	require.Len(t, e.customers(t), 2, "two profiles of the address, neither with a user id")

	signup := e.apply(t, track("u-ada", "browser-1", "Signed Up"))
	require.Equal(t, older.CustomerID, signup.CustomerID, "the oldest profile of the visitor's address")
	require.Equal(t, page.CustomerID, signup.MergedFrom, "the visitor's profile merged into it")
	require.Equal(t, []string{older.CustomerID}, e.customers(t))
	c := e.find(t, "u-ada")
	require.Equal(t, older.CustomerID, c.ID)
	require.ElementsMatch(t, []string{"device-old", "browser-1"}, c.AnonymousIDs)
	require.Contains(t, e.eventNames(t, c.ID), "Pricing", "the page view moved with the visitor's profile")

	// The address's older profile has a user id of its own: not taken; the
	// visitor's profile takes the new user id, as before.
	grace := e.apply(t, identify("u-grace", "", map[string]any{"email": "grace@example.com"}))
	e.apply(t, identify("", "browser-2", map[string]any{"email": "grace@example.com"}))
	other := e.apply(t, track("u-grace-2", "browser-2", "Signed Up"))
	require.NotEqual(t, grace.CustomerID, other.CustomerID)
	require.Empty(t, other.MergedFrom)
	require.Equal(t, []string{"browser-2"}, e.find(t, "u-grace-2").AnonymousIDs)

	// An alias, and an identify without traits, do the same.
	linus := e.apply(t, identify("", "device-l", map[string]any{"email": "linus@example.com"}))
	e.apply(t, identify("", "browser-3", map[string]any{"email": "linus@example.com"}))
	require.Equal(t, linus.CustomerID, e.apply(t, alias("browser-3", "u-linus")).CustomerID)
	ken := e.apply(t, identify("", "device-k", map[string]any{"email": "ken@example.com"}))
	e.apply(t, identify("", "browser-4", map[string]any{"email": "ken@example.com"}))
	require.Equal(t, ken.CustomerID, e.apply(t, identify("u-ken", "browser-4", nil)).CustomerID)

	// In one batch: three visitors give the address, the last signs up.
	// The profiles are made in the batch's order (not all at once, which
	// would leave the oldest to chance), so the first visitor's is the
	// oldest.
	before := len(e.customers(t))
	batch := []schema.EventInput{
		identify("", "device-m", map[string]any{"email": "margaret@example.com"}),
		identify("", "device-n", map[string]any{"email": "margaret@example.com"}),
		{Type: "page", Name: "Home", AnonymousID: "browser-5"},
		identify("", "browser-5", map[string]any{"email": "margaret@example.com"}),
		track("u-margaret", "browser-5", "Signed Up"),
	}
	for i := range batch {
		batch[i] = e.complete(batch[i])
	}
	out, err := e.st.ApplyEvents(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, out[0].CustomerID, out[4].CustomerID, "the first visitor's profile is the oldest of the address")
	require.Equal(t, out[2].CustomerID, out[4].MergedFrom)
	require.Len(t, e.customers(t), before+2)

	// An identify whose traits name an address, given or not, takes no
	// profile by the visitor's: the visitor's profile takes the user id
	// (and the identify's traits then clear its address).
	e.apply(t, identify("", "device-r", map[string]any{"email": "rosalind@example.com"}))
	rosalind := e.apply(t, identify("", "browser-7", map[string]any{"email": "rosalind@example.com"}))
	cleared := e.apply(t, identify("u-rosalind", "browser-7", map[string]any{"email": nil}))
	require.Equal(t, rosalind.CustomerID, cleared.CustomerID)
	require.Empty(t, cleared.MergedFrom)

	// While another transaction holds the address (an identify, import or
	// erasure of it at that moment), nothing waits and nothing is applied:
	// the error is a transient one (ingest applies the batch again), and
	// once the address is free the event takes the oldest profile.
	joan := e.apply(t, identify("", "device-j", map[string]any{"email": "joan@example.com"}))
	visitor := e.apply(t, identify("", "browser-6", map[string]any{"email": "joan@example.com"}))
	tx, err := e.st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, e.ws+"/email:joan@example.com")
	require.NoError(t, err)
	late := e.complete(track("u-joan", "browser-6", "Signed Up"))
	_, err = e.st.ApplyEvent(ctx, late)
	require.ErrorIs(t, err, schema.ErrAddressBusy)
	require.False(t, schema.IsDataError(err), "not the event's fault: applied again, not dead-lettered")
	still := e.find(t, "browser-6")
	require.Equal(t, visitor.CustomerID, still.ID)
	require.Nil(t, still.ExternalID, "nothing applied")
	require.NoError(t, tx.Rollback(ctx))
	held, err := e.st.ApplyEvent(ctx, late)
	require.NoError(t, err)
	require.Equal(t, joan.CustomerID, held.CustomerID)
	require.Equal(t, visitor.CustomerID, held.MergedFrom)
}

// (From a review.) An anonymous profile that another transaction gives a
// user id while an identify of another user id with one of its anonymous
// ids waits for it (an adoption by a visitor's address locks neither) is
// not renamed over: the identify finds it known once it may write, and
// its user id gets a profile of its own.
func TestAProfileGivenAUserIDMeanwhileIsNotRenamedOver(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	p1 := e.apply(t, identify("", "device-old", map[string]any{"email": "ada@example.com"})).CustomerID

	tx, err := e.st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `UPDATE customers SET external_id = 'u-ada' WHERE workspace_id = $1 AND id = $2`, e.ws, p1)
	require.NoError(t, err)

	type result struct {
		res schema.AppliedEvent
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := e.tryApply(identify("u-zed", "device-old", nil))
		done <- result{res, err}
	}()
	// Until the identify waits for the profile's row.
	require.Eventually(t, func() bool {
		var n int
		err := e.st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&n)
		return err == nil && n > 0
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, tx.Commit(ctx))

	r := <-done
	require.NoError(t, r.err)
	require.NotEqual(t, p1, r.res.CustomerID, "u-zed's own profile")
	require.Empty(t, r.res.MergedFrom)
	require.Equal(t, p1, e.find(t, "u-ada").ID, "u-ada keeps the profile it was given")
	require.Equal(t, r.res.CustomerID, e.find(t, "u-zed").ID)
}
