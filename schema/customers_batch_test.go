package schema_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// randomIdentityStream is a stream of events over a few users and anonymous
// ids — anonymous browsing, identify with and without anonymous ids, alias,
// traits, redelivered message ids — the shapes that create and merge
// customers.
func randomIdentityStream(seed uint64, n int) []schema.EventInput {
	r := rand.New(rand.NewPCG(seed, 1))
	user := func() string { return fmt.Sprintf("u%d", r.IntN(6)) }
	anon := func() string { return fmt.Sprintf("a%d", r.IntN(10)) }
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []schema.EventInput
	for i := 0; i < n; i++ {
		ev := schema.EventInput{MessageID: fmt.Sprintf("m%d", i), OccurredAt: base.Add(time.Duration(i) * time.Second),
			Properties: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		switch k := r.IntN(10); {
		case k < 3:
			ev.Type, ev.AnonymousID = "track", anon()
		case k < 5:
			ev.Type, ev.UserID = "track", user()
		case k < 8:
			ev.Type, ev.UserID = "identify", user()
			if r.IntN(2) == 0 {
				ev.AnonymousID = anon()
			}
			ev.Traits = map[string]any{"plan": fmt.Sprintf("p%d", r.IntN(3)), fmt.Sprintf("k%d", r.IntN(4)): i}
			if r.IntN(3) == 0 {
				ev.Traits["email"] = fmt.Sprintf("e%d@example.com", i)
			}
		case k < 9:
			ev.Type, ev.UserID, ev.PreviousID = "alias", user(), anon()
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
			coalesce((SELECT array_agg(anonymous_id) FROM customer_anonymous_ids a WHERE a.customer_id = c.id), '{}'),
			coalesce((SELECT array_agg(message_id ORDER BY id) FROM events e WHERE e.customer_id = c.id), '{}')
		FROM customers c WHERE c.workspace_id = $1`, ws)
	require.NoError(t, err)
	var ps []profile
	for rows.Next() {
		var p profile
		require.NoError(t, rows.Scan(&p.ExternalID, &p.Email, &p.Attributes, &p.Anonymous, &p.Messages))
		ps = append(ps, p)
	}
	require.NoError(t, rows.Err())
	return picture(ps)
}

// identityModel is DESIGN §4's identity rules written plainly in Go: the
// independent answer the store is checked against.
type identityModel struct {
	customers []*profile
	byUser    map[string]*profile
	byAnon    map[string]*profile
	seen      map[string]bool
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
		p := &profile{ExternalID: user, Attributes: map[string]any{}, Anonymous: []string{}, Messages: []string{}}
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
	var c *profile
	switch {
	case ev.UserID == "" && owner != nil:
		c = owner
	case ev.UserID == "":
		c = newProfile("")
		attach(c)
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
		case owner.ExternalID == "": // merge the anonymous profile into the known one
			c.Messages = append(owner.Messages, c.Messages...)
			for _, a := range owner.Anonymous {
				m.byAnon[a] = c
			}
			c.Anonymous = append(c.Anonymous, owner.Anonymous...)
			for k, v := range owner.Attributes {
				if _, ok := c.Attributes[k]; !ok {
					c.Attributes[k] = v
				}
			}
			if c.Email == "" {
				c.Email = owner.Email
			}
			m.customers = slices.DeleteFunc(m.customers, func(p *profile) bool { return p == owner })
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

// TestApplyEventsMatchesTheIdentityModel: applied one at a time or in
// batches of any size, a stream of identity events leaves the customers
// the identity model computes, and every batch size reports the same
// duplicate and merge per event.
func TestApplyEventsMatchesTheIdentityModel(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			evs := randomIdentityStream(seed, 300)
			run := func(batch int) ([]string, []schema.AppliedEvent) {
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
			model := &identityModel{byUser: map[string]*profile{}, byAnon: map[string]*profile{}, seen: map[string]bool{}}
			for _, ev := range evs {
				model.apply(ev)
			}
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
					require.Equal(t, wantRes[i].MergedFrom != "", gotRes[i].MergedFrom != "", "event %d merge, batch %d", i, batch)
					require.NotZero(t, gotRes[i].EventID, "event %d id", i)
					require.NotEmpty(t, gotRes[i].CustomerID, "event %d customer", i)
				}
			}
		})
	}
}
