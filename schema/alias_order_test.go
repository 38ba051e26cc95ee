package schema_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// (From a review.) The API keys an alias by its userId, so in a chain
// u1 → u2 → u3 sent in order (each answered 200 before the next is sent)
// the two aliases sit on different partitions, and the consumer may apply
// alias(u2 → u3) before alias(u1 → u2). Whatever order the partitions hand
// them in, the chain is one person.
func TestAliasChainAppliedAcrossPartitionsOutOfOrder(t *testing.T) {
	e := newIdentityEnv(t)
	e.apply(t, track("u1", "", "As u1"))
	e.apply(t, alias("u2", "u3")) // partition of "u3" first
	e.apply(t, alias("u1", "u2")) // then partition of "u2"
	require.Len(t, e.customers(t), 1, "u1 → u2 → u3 is one person")
	c := e.find(t, "u3")
	for _, u := range []string{"u1", "u2"} {
		require.Equal(t, c.ID, e.find(t, u).ID, u)
	}
}

// A chain of three aliases after the first id's event, applied in every
// order (each alias alone, and all in one batch), is one person with all
// the events; a later event under any id of the chain is theirs too.
func TestAliasChainInEveryOrder(t *testing.T) {
	links := []schema.EventInput{alias("u1", "u2"), alias("u2", "u3"), alias("u3", "u4")}
	for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		for _, together := range []bool{false, true} {
			t.Run(fmt.Sprint(order, together), func(t *testing.T) {
				e := newIdentityEnv(t)
				e.apply(t, track("u1", "", "As u1"))
				var batch []schema.EventInput
				for _, i := range order {
					batch = append(batch, links[i])
				}
				if together {
					for i := range batch {
						batch[i] = e.complete(batch[i])
					}
					_, err := e.st.ApplyEvents(t.Context(), batch)
					require.NoError(t, err)
				} else {
					for _, ev := range batch {
						e.apply(t, ev)
					}
				}
				require.Len(t, e.customers(t), 1, "one person")
				for _, u := range []string{"u1", "u2", "u3", "u4"} {
					r := e.apply(t, track(u, "", "Later as "+u))
					require.Empty(t, r.MergedFrom, u)
				}
				ids := e.customers(t)
				require.Len(t, ids, 1, "later events under every id of the chain reach the same person")
				evs, err := e.st.ListCustomerEvents(t.Context(), e.ws, ids[0], 100)
				require.NoError(t, err)
				require.Len(t, evs, 8, "the first event, three aliases, four later ones")
			})
		}
	}
}

// (From a review of the first version of the rule, which took any
// anonymous id of a known customer.) One batch and event by event give the
// same customers when an earlier event of the batch attaches the id that a
// later one uses as its user id: a device's anonymous id names no one as a
// user id, an id an alias left names the alias's customer.
func TestFromAReviewIDAttachedInTheBatchThenUsedAsUserID(t *testing.T) {
	cases := map[string]struct {
		before []schema.EventInput
		batch  []schema.EventInput
		want   int // customers
	}{
		"identify attaches a new anonymous id": {
			batch: []schema.EventInput{identify("u1", "x1", nil), track("x1", "", "As x1")},
			want:  2,
		},
		"identify makes the anonymous profile known": {
			before: []schema.EventInput{track("", "x1", "Visit")},
			batch:  []schema.EventInput{identify("u1", "x1", nil), track("x1", "", "As x1")},
			want:   2,
		},
		"an alias leaves its previousId": {
			batch: []schema.EventInput{alias("x1", "u1"), track("x1", "", "As x1")},
			want:  1,
		},
		"an alias leaves its previousId, then an identify": {
			batch: []schema.EventInput{alias("x1", "u1"), identify("x1", "", map[string]any{"plan": "pro"}), track("x1", "", "As x1")},
			want:  1,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			one, each := newIdentityEnv(t), newIdentityEnv(t)
			for _, ev := range c.before {
				one.apply(t, ev)
				each.apply(t, ev)
			}
			var byEach []string
			for _, ev := range c.batch {
				byEach = append(byEach, each.apply(t, ev).CustomerID)
			}
			var batch []schema.EventInput
			for _, ev := range c.batch {
				batch = append(batch, one.complete(ev))
			}
			out, err := one.st.ApplyEvents(t.Context(), batch)
			require.NoError(t, err)
			require.Len(t, each.customers(t), c.want, "event by event")
			require.Len(t, one.customers(t), c.want, "in one batch")
			for i := range out {
				require.Equal(t, byEach[0] == byEach[i], out[0].CustomerID == out[i].CustomerID, "event %d", i)
			}
		})
	}
}

// (Review of 73a58bf.) After alias(u2 → u3) applied before u2 was a user
// id, u2 names u3's customer for events and API-triggered entries
// (EnsureCustomer): the customers API lookup by that user id finds the
// same person.
func TestFromAReviewIDAnAliasLeftIsFoundByLookup(t *testing.T) {
	e := newIdentityEnv(t)
	e.apply(t, alias("u2", "u3"))
	ensured, err := e.st.EnsureCustomer(t.Context(), e.ws, "u2")
	require.NoError(t, err)
	require.Equal(t, e.find(t, "u3").ID, ensured.ID, "an API-triggered entry for u2 reaches u3's customer")
	require.Equal(t, ensured.ID, e.apply(t, track("u2", "", "As u2")).CustomerID, "so does an event")
	got, err := e.st.LookupCustomer(t.Context(), e.ws, "u2")
	require.NoError(t, err, "/api/customers/u2 answers the customer u2's events and entries reach")
	require.Equal(t, ensured.ID, got.ID)
}

// (Review of 73a58bf.) The rule is for ids "an alias whose previousId was
// not a user id yet leaves" (README, customerOfUser). A device's anonymous
// id that identifies attached — here a shared device both u1 and u2 used —
// is no user id of anyone: an event with it as its userId is not u1's.
func TestFromAReviewDeviceAnonymousIDIsNoUserID(t *testing.T) {
	e := newIdentityEnv(t)
	c1 := e.apply(t, identify("u1", "dev-1", nil)).CustomerID
	c2 := e.apply(t, identify("u2", "dev-1", nil)).CustomerID
	require.NotEqual(t, c1, c2, "a shared device: both keep their profiles")
	got := e.apply(t, track("dev-1", "", "Viewed")).CustomerID
	require.NotEqual(t, c1, got, "an event under userId dev-1 is not u1's (nor any alias's doing)")
}

// (Review of 73a58bf.) The identity model test's streams keep anonymous
// ids (a*) apart from user ids (u*, n*, f*). Here some anonymous ids are
// also user ids (a device id reused as a user id, a previousId sent as an
// anonymous id): one event at a time and in batches still give the model's
// customers.
func TestFromAReviewModelWithAnonymousIDsThatAreUserIDs(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			evs := randomIdentityStream(seed, 300)
			for i := range evs {
				switch evs[i].AnonymousID {
				case "a0":
					evs[i].AnonymousID = "u0"
				case "a1":
					evs[i].AnonymousID = "n1"
				}
			}
			run := func(batch int) []string { got, _ := applyInBatches(t, evs, batch); return got }
			model := &identityModel{byUser: map[string]*profile{}, byAnon: map[string]*profile{}, aliasLeft: map[string]bool{}, seen: map[string]bool{}}
			for _, ev := range evs {
				model.apply(ev)
			}
			var ps []profile
			for _, p := range model.customers {
				ps = append(ps, *p)
			}
			want := picture(ps)
			require.Equal(t, want, run(1), "one at a time")
			require.Equal(t, want, run(300), "one batch")
		})
	}
}

// A CSV import by user id reaches the customers an event with the same
// user id reaches: a row whose user id an alias left as an anonymous id
// (alias u2 → u3 before u2 was anyone's user id) writes u3's customer in
// every mode, and makes no customer of its own; a device's anonymous id
// that an identify attached is no user id, so a row with it is a new
// customer, as its event would be.
func TestImportRowWithAnIDAnAliasLeftWritesItsCustomer(t *testing.T) {
	e := newIdentityEnv(t)
	e.apply(t, alias("u2", "u3"))
	device := e.apply(t, identify("d1", "dev-1", nil)).CustomerID
	u3 := e.find(t, "u3").ID
	row := func(plan string) schema.ImportedCustomer {
		return schema.ImportedCustomer{Row: 2, ExternalID: "u2", Attributes: map[string]any{"plan": plan}}
	}
	id := uploadImport(t, e.st, e.ws, []string{"user_id", "plan"}, []string{"u2", "x"})
	counts := func(imp schema.Import) [3]int { return [3]int{imp.CreatedRows, imp.UpdatedRows, imp.SkippedRows} }
	mapping := []byte(`{"user_id":"user_id"}`)

	imp := runImport(t, e.st, e.ws, id, schema.StartImport{Mapping: mapping, Mode: schema.ImportUpdateOnly}, schema.ImportKeyUserID, row("pro"))
	require.Equal(t, [3]int{0, 1, 0}, counts(imp), "update_only finds u2's customer")
	require.JSONEq(t, `{"plan":"pro"}`, string(e.find(t, "u3").Attributes))
	imp = runImport(t, e.st, e.ws, id, schema.StartImport{Mapping: mapping, Mode: schema.ImportCreateOnly}, schema.ImportKeyUserID, row("free"))
	require.Equal(t, [3]int{0, 0, 1}, counts(imp), "create_only leaves u2's customer as it is")
	imp = runImport(t, e.st, e.ws, id, schema.StartImport{Mapping: mapping, Mode: schema.ImportUpsert}, schema.ImportKeyUserID, row("team"))
	require.Equal(t, [3]int{0, 1, 0}, counts(imp), "upsert updates u2's customer")
	require.JSONEq(t, `{"plan":"team"}`, string(e.find(t, "u3").Attributes))
	require.Len(t, e.customers(t), 2, "u3's customer and the device's: the rows made no customer of their own")
	require.Equal(t, u3, e.apply(t, track("u2", "", "As u2")).CustomerID, "an event under u2 reaches the customer the rows wrote")

	imp = runImport(t, e.st, e.ws, id, schema.StartImport{Mapping: mapping, Mode: schema.ImportUpsert}, schema.ImportKeyUserID,
		schema.ImportedCustomer{Row: 2, ExternalID: "dev-1", Attributes: map[string]any{"plan": "device"}})
	require.Equal(t, [3]int{1, 0, 0}, counts(imp), "a device's anonymous id is no user id")
	created := e.find(t, "dev-1")
	require.NotEqual(t, device, created.ID)
	require.JSONEq(t, `{"plan":"device"}`, string(created.Attributes))
	d, err := e.st.GetCustomer(t.Context(), e.ws, device)
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(d.Attributes), "the device's customer is not written")
}

// (From a review.) A row whose user id an alias left writes that alias's
// customer (above): the row is theirs, so their export lists it and their
// erasure blanks it — a later run of the file must not bring back, as a
// new customer u2, what was erased.
func TestImportRowWithAnIDAnAliasLeftIsErasedWithItsCustomer(t *testing.T) {
	ctx := t.Context()
	e := newIdentityEnv(t)
	e.apply(t, alias("u2", "u3"))
	u3 := e.find(t, "u3").ID
	id := uploadImport(t, e.st, e.ws, []string{"user_id", "plan"}, []string{"u2", "pro"})
	start := schema.StartImport{Mapping: []byte(`{"user_id":"user_id"}`), Mode: schema.ImportUpsert}
	row := schema.ImportedCustomer{Row: 2, ExternalID: "u2", Attributes: map[string]any{"plan": "pro"}}
	runImport(t, e.st, e.ws, id, start, schema.ImportKeyUserID, row)
	require.JSONEq(t, `{"plan":"pro"}`, string(e.find(t, "u3").Attributes), "the row wrote u3's customer")

	exp, err := e.st.ExportCustomer(ctx, e.ws, u3)
	require.NoError(t, err)
	require.Len(t, exp.ImportRows, 1, "the export lists the row that wrote the customer")

	out, err := e.st.EraseCustomer(ctx, e.ws, u3)
	require.NoError(t, err)
	require.EqualValues(t, 1, out.ImportRowsBlanked, "the row that wrote the customer is blanked")
	rows, err := e.st.ImportRows(ctx, e.ws, id, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"", ""}, rows[0].Fields, "a later run of the file reads nothing of the erased person")
	require.Empty(t, e.customers(t))
}

// (From a review of 95c4038.) A row whose user id an alias left is that
// alias's customer's (it writes them, and their erasure blanks it), so, as
// for a row with another customer's current or previous user id, it is not
// a second customer's because it holds their phone number: the second's
// export must not list it, nor their erasure blank it.
func TestImportRowWithAnIDAnAliasLeftIsNotAnotherCustomersByPhone(t *testing.T) {
	ctx := t.Context()
	e := newIdentityEnv(t)
	e.apply(t, alias("u2", "u3"))
	pat := e.apply(t, identifyStored(t, "fam1", map[string]any{"email": "parent@example.com", "phone": "+15550100199"}))
	imp, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", FileName: "family.csv", Headers: []string{"User ID", "Phone", "Name"}},
		&memoryRowSource{rows: [][]string{
			{"fam1", "+1 555 010 0199", "Pat Parent"},
			{"u2", "+1 555 010 0199", "Kim Kid"},
		}})
	require.NoError(t, err)

	exp, err := e.st.ExportCustomer(ctx, e.ws, pat.CustomerID)
	require.NoError(t, err)
	var rows []int
	for _, r := range exp.ImportRows {
		rows = append(rows, r.Row)
	}
	require.Equal(t, []int{2}, rows, "Pat's export lists Pat's row, not Kim's (user id u2, u3's customer's)")

	_, err = e.st.EraseCustomer(ctx, e.ws, pat.CustomerID)
	require.NoError(t, err)
	stored, err := e.st.ImportRows(ctx, e.ws, imp.ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"u2", "+1 555 010 0199", "Kim Kid"}, stored[1].Fields, "erasing Pat leaves u3's customer's row as uploaded")
}
