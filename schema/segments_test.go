package schema_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
	"github.com/heraldhq/herald/workflows"
)

// segNow is the fixed "now" every segment test evaluates at.
var segNow = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func sp(s string) *string { return &s }

// seedCustomer is a row of customers; nil built-ins are NULL.
type seedCustomer struct {
	id                                 string
	externalID, email, phone, timezone *string
	createdAt                          time.Time
	attributes                         string
}

type seedEvent struct {
	customer, name string
	at             time.Time
	properties     string
}

func zone(name string, hours int) *time.Location { return time.FixedZone(name, hours*3600) }

// segmentCustomers is the dataset of the compiler tests: NULLs and empty
// built-ins, missing and null attributes, numbers stored as strings and as
// numbers, nested objects and arrays, a literal dotted key, times in
// several zones and invalid times.
var segmentCustomers = []seedCustomer{
	{id: "cus_seg01", externalID: sp("u1"), email: sp("ada@example.com"), phone: sp("+15550001"), timezone: sp("Europe/Paris"),
		createdAt:  time.Date(2025, 1, 10, 9, 0, 0, 0, zone("CET", 1)),
		attributes: `{"plan":"pro","age":30,"score":"100","vip":true,"tags":["a","b"],"address":{"city":"Paris","zip":"75001"},"signup":"2025-06-10T08:00:00Z","name":"Ada"}`},
	{id: "cus_seg02", externalID: sp("u2"), email: sp("Bob@Example.com"),
		createdAt:  time.Date(2025, 6, 14, 20, 0, 0, 0, zone("EST", -5)),
		attributes: `{"plan":"free","age":25.5,"score":100,"vip":false,"tags":["b"],"address":{"city":"Berlin"},"signup":"2025-06-14T23:30:00-02:00","name":"bob"}`},
	{id: "cus_seg03", externalID: sp("u3"),
		createdAt:  time.Date(2024, 12, 31, 23, 30, 0, 0, zone("AZOT", -1)),
		attributes: `{"plan":null,"age":"30","tags":[],"address":"Paris","signup":"2025-01-01","name":"Émile"}`},
	{id: "cus_seg04", createdAt: time.Date(2025, 6, 15, 11, 0, 0, 0, time.UTC), attributes: `{}`},
	{id: "cus_seg05", externalID: sp("u5"), email: sp("ada@example.org"),
		createdAt:  time.Date(2025, 3, 1, 0, 0, 0, 0, zone("JST", 9)),
		attributes: `{"plan":"Pro","age":30.0,"score":99.5,"tags":[["a"]],"address":{"city":null},"address.city":"Lyon","signup":"not a time"}`},
	{id: "cus_seg06", externalID: sp("u6"), email: sp(""), phone: sp(""), timezone: sp("UTC"),
		createdAt:  time.Date(2025, 6, 8, 12, 0, 0, 0, time.UTC),
		attributes: `{"plan":"pro","age":-1,"tags":"a,b","address":{"city":"Paris","geo":{"lat":48.8}},"signup":"2025-06-15T12:00:00Z","name":"Zed"}`},
	{id: "cus_seg07", externalID: sp("u7"),
		createdAt:  time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC),
		attributes: `{"plan":"team","age":1e2,"score":"abc","tags":[1,2,3],"address":{"city":["Paris"]},"signup":"2025-06-15T13:00:00+02:00"}`},
	{id: "cus_seg08", externalID: sp("u8"),
		createdAt:  time.Date(2023, 2, 28, 23, 59, 59, 0, zone("PST", -8)),
		attributes: `{"plan":"pro ","age":true,"nested":{"a":{"b":{"c":"deep"}}},"signup":"2024-02-29T00:00:00Z","list":[1,"1",true]}`},
	// Its external id is another customer's internal id.
	{id: "cus_seg09", externalID: sp("cus_seg01"), timezone: sp("America/New_York"),
		createdAt:  time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		attributes: `{"plan":"PRO","age":18,"signup":"2025-06-08T12:00:00Z"}`},
	{id: "cus_seg10", externalID: sp("u10"), email: sp("ada.lovelace@example.com"),
		createdAt:  time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		attributes: `{"plan":"enterprise","age":65,"tags":["vip","a"],"score":1000,"name":"ada lovelace"}`},
	{id: "cus_seg11", externalID: sp("u11"),
		createdAt:  time.Date(2025, 6, 15, 11, 59, 59, 500000000, time.UTC),
		attributes: `{"plan":"pro","age":42,"signup":"2025-06-15T11:59:59.5Z","big":12345678901234567890,"signup2":"2025-02-30T00:00:00Z"}`},
	{id: "cus_seg12", externalID: sp("u12"),
		createdAt:  time.Date(2025, 5, 5, 5, 5, 5, 0, time.UTC),
		attributes: `{"weird key":"x","a.b":null,"a":{"b":"nested"},"c":{"d":"nested"}}`},
}

func ago(d time.Duration) time.Time { return segNow.Add(-d) }

const day = 24 * time.Hour

var segmentEvents = []seedEvent{
	{"cus_seg01", "Purchased", ago(1 * day), `{"total":120,"currency":"EUR","items":["x","y"]}`},
	{"cus_seg01", "Purchased", ago(5 * day), `{"total":80,"currency":"USD"}`},
	{"cus_seg01", "Purchased", ago(40 * day), `{"total":200}`},
	{"cus_seg01", "Signed Up", ago(200 * day), `{}`},
	{"cus_seg02", "Purchased", ago(2 * day), `{"total":"120","currency":"EUR"}`},
	{"cus_seg03", "Purchased", ago(29 * day), `{"total":10}`},
	{"cus_seg03", "Purchased", ago(31 * day), `{"total":10}`},
	{"cus_seg03", "Signed Up", ago(100 * day), `{"plan":"free"}`},
	{"cus_seg04", "Signed Up", ago(time.Hour), `{"source":{"medium":"ads"}}`},
	{"cus_seg06", "Purchased", ago(1 * day), `{"total":50}`},
	{"cus_seg06", "Purchased", ago(3 * day), `{"total":50}`},
	{"cus_seg06", "Purchased", ago(5 * day), `{"total":50}`},
	{"cus_seg06", "Purchased", ago(7 * day), `{"total":50}`},
	{"cus_seg06", "Purchased", ago(9 * day), `{"total":50}`},
	{"cus_seg07", "Viewed", ago(1 * day), `{}`},
	{"cus_seg07", "Viewed", ago(2 * day), `{}`},
	{"cus_seg07", "Purchased", segNow.Add(time.Hour), `{"total":500}`},
	{"cus_seg09", "Purchased", ago(30 * day), `{"total":60}`},
	{"cus_seg10", "Purchased", ago(3 * day), `{"total":300,"coupon":{"code":"X"}}`},
	{"cus_seg10", "Purchased", ago(4 * day), `{"total":300,"coupon":{"code":"Y"},"coupon.code":"Z"}`},
	{"cus_seg11", "Purchased", ago(100 * day), `{}`},
}

// segmentFixture is the seeded dataset in a workspace, a second workspace
// holding look-alike data, and the Go model of both.
type segmentFixture struct {
	st        *schema.Store
	ws, other string
	customers []workflows.Customer
}

func decodeJSON(t testing.TB, raw string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m))
	return m
}

func insertSegmentData(t testing.TB, st *schema.Store, ws string, customers []seedCustomer, events []seedEvent) {
	t.Helper()
	ctx := context.Background()
	for _, c := range customers {
		_, err := st.Pool().Exec(ctx, `INSERT INTO customers (id, workspace_id, external_id, email, phone, timezone, attributes, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`, c.id, ws, c.externalID, c.email, c.phone, c.timezone, c.attributes, c.createdAt)
		require.NoError(t, err, c.id)
	}
	for i, e := range events {
		_, err := st.Pool().Exec(ctx, `INSERT INTO events (workspace_id, message_id, customer_id, type, name, properties, occurred_at)
			VALUES ($1, $2, $3, 'track', $4, $5::jsonb, $6)`, ws, fmt.Sprintf("%s-m%d", ws, i), e.customer, e.name, e.properties, e.at)
		require.NoError(t, err)
	}
}

func newSegmentFixture(t *testing.T) *segmentFixture {
	t.Helper()
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Segments")
	require.NoError(t, err)
	other, err := st.CreateWorkspace(ctx, "Other")
	require.NoError(t, err)
	insertSegmentData(t, st, ws.ID, segmentCustomers, segmentEvents)
	insertSegmentData(t, st, other.ID,
		[]seedCustomer{{id: "cus_seg21", externalID: sp("u1"), email: sp("ada@example.com"), createdAt: segNow.Add(-time.Hour),
			attributes: `{"plan":"pro","age":30,"tags":["a"]}`}},
		[]seedEvent{{"cus_seg21", "Purchased", ago(1 * day), `{"total":120}`}, {"cus_seg21", "Purchased", ago(2 * day), `{"total":120}`}})

	f := &segmentFixture{st: st, ws: ws.ID, other: other.ID}
	for _, c := range segmentCustomers {
		deref := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		f.customers = append(f.customers, workflows.Customer{ID: c.id, ExternalID: deref(c.externalID), Email: deref(c.email),
			Phone: deref(c.phone), Timezone: deref(c.timezone), CreatedAt: c.createdAt, Attributes: decodeJSON(t, c.attributes)})
	}
	return f
}

// goEvaluator computes segment membership in Go, independently of the SQL:
// attributes with workflows.EvalCondition, event conditions by counting the
// seeded events (their where with EvalCondition), segments by recursion.
type goEvaluator struct {
	t        *testing.T
	segments map[string]schema.Segment
	manual   map[string][]string
}

func (g *goEvaluator) matches(raw json.RawMessage, c workflows.Customer) bool {
	t := g.t
	var obj map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &obj))
	var subs []json.RawMessage
	switch {
	case obj["all"] != nil:
		require.NoError(t, json.Unmarshal(obj["all"], &subs))
		for _, s := range subs {
			if !g.matches(s, c) {
				return false
			}
		}
		return true
	case obj["any"] != nil:
		require.NoError(t, json.Unmarshal(obj["any"], &subs))
		for _, s := range subs {
			if g.matches(s, c) {
				return true
			}
		}
		return false
	case obj["not"] != nil:
		return !g.matches(obj["not"], c)
	case obj["attr"] != nil:
		ok, err := workflows.EvalCondition(raw, workflows.EvalContext{Customer: c, Now: segNow})
		require.NoError(t, err)
		return ok
	case obj["event"] != nil:
		return g.event(obj, c)
	case obj["segment"] != nil:
		var id, op string
		require.NoError(t, json.Unmarshal(obj["segment"], &id))
		if obj["op"] != nil {
			require.NoError(t, json.Unmarshal(obj["op"], &op))
		}
		seg := g.segments[id]
		member := slices.Contains(g.manual[id], c.ID)
		if seg.Kind == schema.SegmentDynamic {
			member = g.matches(seg.Condition, c)
		}
		return member != (op == "not_member")
	}
	t.Fatalf("unexpected condition %s", raw)
	return false
}

func (g *goEvaluator) event(obj map[string]json.RawMessage, c workflows.Customer) bool {
	t := g.t
	var name, op, within string
	require.NoError(t, json.Unmarshal(obj["event"], &name))
	if obj["op"] != nil {
		require.NoError(t, json.Unmarshal(obj["op"], &op))
	}
	if obj["within"] != nil {
		require.NoError(t, json.Unmarshal(obj["within"], &within))
	}
	from := time.Time{}
	if within != "" {
		d, err := workflows.ParseDuration(within)
		require.NoError(t, err)
		from = segNow.Add(-d)
	}
	n := int64(0)
	for _, e := range segmentEvents {
		if e.customer != c.ID || e.name != name || e.at.Before(from) {
			continue
		}
		if obj["where"] != nil {
			ok, err := workflows.EvalCondition(obj["where"], workflows.EvalContext{Props: decodeJSON(t, e.properties), Now: segNow})
			require.NoError(t, err)
			if !ok {
				continue
			}
		}
		n++
	}
	performed := n >= 1
	if obj["count"] != nil {
		var count map[string]int64
		require.NoError(t, json.Unmarshal(obj["count"], &count))
		performed = true
		for k, v := range count {
			switch k {
			case "eq":
				performed = performed && n == v
			case "gte":
				performed = performed && n >= v
			case "gt":
				performed = performed && n > v
			case "lte":
				performed = performed && n <= v
			case "lt":
				performed = performed && n < v
			}
		}
	}
	return performed != (op == "not_performed")
}

func (f *segmentFixture) matching(t *testing.T, cond json.RawMessage) []string {
	t.Helper()
	p, err := f.st.PreviewSegment(context.Background(), f.ws, cond, segNow, 100)
	require.NoError(t, err, "%s", cond)
	ids := []string{}
	for _, c := range p.Sample {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	require.EqualValues(t, len(ids), p.Count, "count and sample agree for %s", cond)
	return ids
}

func TestSegmentCompilerMatchesEvalCondition(t *testing.T) {
	ctx := context.Background()
	f := newSegmentFixture(t)

	// Segments the conditions reference.
	manual, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "VIP list", Kind: schema.SegmentManual})
	require.NoError(t, err)
	_, err = f.st.AddManualMembers(ctx, f.ws, manual.ID, []string{"cus_seg04", "u10", "cus_seg09"})
	require.NoError(t, err)
	_, err = f.st.RemoveManualMembers(ctx, f.ws, manual.ID, []string{"cus_seg10"})
	require.NoError(t, err)
	pro, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "Pro", Kind: schema.SegmentDynamic,
		Condition: json.RawMessage(`{"attr":"plan","op":"eq","value":"pro"}`)})
	require.NoError(t, err)
	proOrSenior, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "Pro or senior", Kind: schema.SegmentDynamic,
		Condition: json.RawMessage(`{"any":[{"segment":"` + pro.ID + `"},{"attr":"age","op":"gte","value":60}]}`)})
	require.NoError(t, err)
	g := &goEvaluator{t: t,
		segments: map[string]schema.Segment{manual.ID: manual, pro.ID: pro, proOrSenior.ID: proOrSenior},
		manual:   map[string][]string{manual.ID: {"cus_seg04", "cus_seg09"}}}
	ids := strings.NewReplacer("$MANUAL", manual.ID, "$PRO_OR_SENIOR", proOrSenior.ID, "$PRO", pro.ID)

	tests := []struct {
		cond string
		want []string // spelled out for some cases, to check the Go side too
	}{
		// Custom attributes: typed equality, missing and null values.
		{cond: `{"attr":"plan","op":"eq","value":"pro"}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg11"}},
		{cond: `{"attr":"plan","op":"ne","value":"pro"}`},
		{cond: `{"attr":"age","op":"eq","value":30}`, want: []string{"cus_seg01", "cus_seg05"}},
		{cond: `{"attr":"age","op":"eq","value":"30"}`, want: []string{"cus_seg03"}},
		{cond: `{"attr":"age","op":"eq","value":100}`, want: []string{"cus_seg07"}},
		{cond: `{"attr":"age","op":"ne","value":30}`},
		{cond: `{"attr":"age","op":"gt","value":25}`, want: []string{"cus_seg01", "cus_seg02", "cus_seg05", "cus_seg07", "cus_seg10", "cus_seg11"}},
		{cond: `{"attr":"age","op":"gte","value":30}`},
		{cond: `{"attr":"age","op":"lt","value":30}`},
		{cond: `{"attr":"age","op":"lte","value":25.5}`},
		{cond: `{"attr":"age","op":"gt","value":"2"}`, want: []string{"cus_seg03"}},
		{cond: `{"attr":"score","op":"lt","value":"abd"}`, want: []string{"cus_seg01", "cus_seg07"}},
		{cond: `{"attr":"score","op":"gte","value":100}`, want: []string{"cus_seg02", "cus_seg10"}},
		{cond: `{"attr":"score","op":"eq","value":99.5}`, want: []string{"cus_seg05"}},
		{cond: `{"attr":"name","op":"gt","value":"Z"}`, want: []string{"cus_seg02", "cus_seg03", "cus_seg06", "cus_seg10"}},
		{cond: `{"attr":"name","op":"lt","value":"b"}`},
		{cond: `{"attr":"vip","op":"eq","value":true}`, want: []string{"cus_seg01"}},
		{cond: `{"attr":"vip","op":"eq","value":false}`},
		{cond: `{"attr":"vip","op":"ne","value":true}`},
		{cond: `{"attr":"big","op":"gt","value":1000}`, want: []string{"cus_seg11"}},
		{cond: `{"attr":"plan","op":"exists"}`},
		{cond: `{"attr":"plan","op":"not_exists"}`, want: []string{"cus_seg03", "cus_seg04", "cus_seg12"}},
		{cond: `{"attr":"plan","op":"starts_with","value":"pr"}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg08", "cus_seg11"}},
		{cond: `{"attr":"name","op":"contains","value":"ad"}`, want: []string{"cus_seg10"}},
		{cond: `{"attr":"name","op":"not_contains","value":"ad"}`},
		// Arrays and strings under contains and in.
		{cond: `{"attr":"tags","op":"contains","value":"a"}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg10"}},
		{cond: `{"attr":"tags","op":"contains","value":2}`, want: []string{"cus_seg07"}},
		{cond: `{"attr":"tags","op":"not_contains","value":"a"}`},
		{cond: `{"attr":"list","op":"contains","value":"1"}`, want: []string{"cus_seg08"}},
		{cond: `{"attr":"list","op":"contains","value":true}`, want: []string{"cus_seg08"}},
		{cond: `{"attr":"tags","op":"in","value":["a"]}`, want: []string{"cus_seg01", "cus_seg05", "cus_seg10"}},
		{cond: `{"attr":"tags","op":"in","value":["vip",3]}`, want: []string{"cus_seg07", "cus_seg10"}},
		{cond: `{"attr":"plan","op":"in","value":["pro","team",1]}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg07", "cus_seg11"}},
		{cond: `{"attr":"plan","op":"not_in","value":["pro"]}`},
		{cond: `{"attr":"age","op":"in","value":[30,"18",true]}`, want: []string{"cus_seg01", "cus_seg05", "cus_seg08"}},
		// Dotted paths: nested objects, a literal dotted key, null on the way.
		{cond: `{"attr":"address.city","op":"eq","value":"Paris"}`, want: []string{"cus_seg01", "cus_seg06"}},
		{cond: `{"attr":"address.city","op":"eq","value":"Lyon"}`, want: []string{"cus_seg05"}},
		{cond: `{"attr":"address.city","op":"in","value":["Paris"]}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg07"}},
		{cond: `{"attr":"address.city","op":"exists"}`, want: []string{"cus_seg01", "cus_seg02", "cus_seg05", "cus_seg06", "cus_seg07"}},
		{cond: `{"attr":"address.city","op":"not_exists"}`},
		{cond: `{"attr":"address.geo.lat","op":"gt","value":40}`, want: []string{"cus_seg06"}},
		{cond: `{"attr":"nested.a.b.c","op":"starts_with","value":"de"}`, want: []string{"cus_seg08"}},
		{cond: `{"attr":"a.b","op":"exists"}`, want: []string{}},
		{cond: `{"attr":"a.b","op":"eq","value":"nested"}`, want: []string{}},
		{cond: `{"attr":"c.d","op":"eq","value":"nested"}`, want: []string{"cus_seg12"}},
		{cond: `{"attr":"weird key","op":"eq","value":"x"}`, want: []string{"cus_seg12"}},
		{cond: `{"attr":"tags.0","op":"exists"}`, want: []string{}},
		// Times in attributes: zones, dates, relative values, invalid times.
		{cond: `{"attr":"signup","op":"before","value":"2025-06-10"}`, want: []string{"cus_seg03", "cus_seg08", "cus_seg09"}},
		{cond: `{"attr":"signup","op":"after","value":"2025-06-14T00:00:00+02:00"}`, want: []string{"cus_seg02", "cus_seg06", "cus_seg07", "cus_seg11"}},
		{cond: `{"attr":"signup","op":"within_last","value":"7d"}`, want: []string{"cus_seg01", "cus_seg02", "cus_seg06", "cus_seg07", "cus_seg09", "cus_seg11"}},
		{cond: `{"attr":"signup","op":"before","value":"3d"}`, want: []string{"cus_seg01", "cus_seg03", "cus_seg08", "cus_seg09"}},
		{cond: `{"attr":"signup","op":"after","value":"1h"}`, want: []string{"cus_seg06", "cus_seg11"}},
		{cond: `{"attr":"signup2","op":"before","value":"2030-01-01"}`, want: []string{}},
		{cond: `{"attr":"signup","op":"eq","value":"2025-06-15T12:00:00Z"}`, want: []string{"cus_seg06"}},
		// Built-in fields: NULL and empty are missing; case-sensitive strings.
		{cond: `{"attr":"email","op":"eq","value":"ada@example.com"}`, want: []string{"cus_seg01"}},
		{cond: `{"attr":"email","op":"eq","value":"ADA@example.com"}`, want: []string{}},
		{cond: `{"attr":"email","op":"exists"}`, want: []string{"cus_seg01", "cus_seg02", "cus_seg05", "cus_seg10"}},
		{cond: `{"attr":"email","op":"not_exists"}`},
		{cond: `{"attr":"email","op":"contains","value":"example.com"}`, want: []string{"cus_seg01", "cus_seg10"}},
		{cond: `{"attr":"email","op":"starts_with","value":"ada"}`, want: []string{"cus_seg01", "cus_seg05", "cus_seg10"}},
		{cond: `{"attr":"email","op":"in","value":["Bob@Example.com","x",3]}`, want: []string{"cus_seg02"}},
		{cond: `{"attr":"email","op":"not_in","value":["Bob@Example.com"]}`},
		{cond: `{"attr":"phone","op":"exists"}`, want: []string{"cus_seg01"}},
		{cond: `{"attr":"phone","op":"eq","value":15550001}`, want: []string{}},
		{cond: `{"attr":"phone","op":"ne","value":15550001}`},
		{cond: `{"attr":"external_id","op":"eq","value":"u2"}`, want: []string{"cus_seg02"}},
		{cond: `{"attr":"external_id","op":"in","value":["u1","u3","zzz"]}`, want: []string{"cus_seg01", "cus_seg03"}},
		{cond: `{"attr":"external_id","op":"not_exists"}`, want: []string{"cus_seg04"}},
		{cond: `{"attr":"id","op":"eq","value":"cus_seg07"}`, want: []string{"cus_seg07"}},
		{cond: `{"attr":"id","op":"gt","value":"cus_seg10"}`, want: []string{"cus_seg11", "cus_seg12"}},
		{cond: `{"attr":"timezone","op":"eq","value":"UTC"}`, want: []string{"cus_seg06"}},
		{cond: `{"attr":"timezone","op":"gt","value":"America"}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg09"}},
		// created_at compares as a time, in any zone.
		{cond: `{"attr":"created_at","op":"before","value":"2025-01-01"}`, want: []string{"cus_seg08", "cus_seg09"}},
		{cond: `{"attr":"created_at","op":"after","value":"30d"}`, want: []string{"cus_seg02", "cus_seg04", "cus_seg06", "cus_seg10", "cus_seg11"}},
		{cond: `{"attr":"created_at","op":"within_last","value":"7d"}`, want: []string{"cus_seg02", "cus_seg04", "cus_seg06", "cus_seg11"}},
		{cond: `{"attr":"created_at","op":"eq","value":"2025-06-15T01:00:00Z"}`, want: []string{"cus_seg02"}},
		{cond: `{"attr":"created_at","op":"eq","value":"2025-06-14T20:00:00-05:00"}`, want: []string{"cus_seg02"}},
		{cond: `{"attr":"created_at","op":"gt","value":"2025-06-01"}`, want: []string{"cus_seg02", "cus_seg04", "cus_seg06", "cus_seg11"}},
		{cond: `{"attr":"created_at","op":"gte","value":"2025-06-01"}`},
		{cond: `{"attr":"created_at","op":"lt","value":"2025-01-01T00:30:00Z"}`},
		{cond: `{"attr":"created_at","op":"lte","value":"2025-01-01T00:30:00Z"}`},
		{cond: `{"attr":"created_at","op":"eq","value":5}`, want: []string{}},
		{cond: `{"attr":"created_at","op":"ne","value":5}`},
		{cond: `{"attr":"created_at","op":"in","value":["2025-06-01","nope",3]}`, want: []string{"cus_seg10"}},
		{cond: `{"attr":"created_at","op":"not_in","value":["2025-06-01"]}`},
		{cond: `{"attr":"created_at","op":"contains","value":"2025"}`, want: []string{}},
		{cond: `{"attr":"created_at","op":"not_contains","value":"2025"}`},
		{cond: `{"attr":"created_at","op":"starts_with","value":"2025"}`, want: []string{}},
		{cond: `{"attr":"created_at","op":"exists"}`},
		{cond: `{"attr":"created_at","op":"not_exists"}`, want: []string{}},
		// Events: counts, windows (no upper bound), property filters.
		{cond: `{"event":"Purchased"}`, want: []string{"cus_seg01", "cus_seg02", "cus_seg03", "cus_seg06", "cus_seg07", "cus_seg09", "cus_seg10", "cus_seg11"}},
		{cond: `{"event":"Purchased","op":"not_performed"}`, want: []string{"cus_seg04", "cus_seg05", "cus_seg08", "cus_seg12"}},
		{cond: `{"event":"Purchased","within":"7d"}`, want: []string{"cus_seg01", "cus_seg02", "cus_seg06", "cus_seg07", "cus_seg10"}},
		{cond: `{"event":"Purchased","count":{"gte":2},"within":"30d"}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg10"}},
		{cond: `{"event":"Purchased","op":"performed","count":{"gte":2}}`, want: []string{"cus_seg01", "cus_seg03", "cus_seg06", "cus_seg10"}},
		{cond: `{"event":"Purchased","count":{"eq":1},"within":"30d"}`, want: []string{"cus_seg02", "cus_seg03", "cus_seg07", "cus_seg09"}},
		{cond: `{"event":"Purchased","count":{"lte":1},"within":"30d"}`},
		{cond: `{"event":"Purchased","count":{"lt":2}}`},
		{cond: `{"event":"Purchased","count":{"gt":4}}`, want: []string{"cus_seg06"}},
		{cond: `{"event":"Purchased","count":{"lt":0}}`, want: []string{}},
		{cond: `{"event":"Purchased","count":{"gte":0}}`},
		{cond: `{"event":"Purchased","count":{"gte":2,"lte":3}}`, want: []string{"cus_seg01", "cus_seg03", "cus_seg10"}},
		{cond: `{"event":"Purchased","op":"not_performed","count":{"gte":2},"within":"30d"}`},
		{cond: `{"event":"Purchased","op":"not_performed","count":{"lte":1}}`},
		{cond: `{"event":"Purchased","where":{"prop":"total","op":"gt","value":100}}`, want: []string{"cus_seg01", "cus_seg07", "cus_seg10"}},
		{cond: `{"event":"Purchased","within":"7d","where":{"prop":"currency","op":"eq","value":"EUR"}}`, want: []string{"cus_seg01", "cus_seg02"}},
		{cond: `{"event":"Purchased","where":{"prop":"items","op":"contains","value":"x"}}`, want: []string{"cus_seg01"}},
		{cond: `{"event":"Purchased","where":{"prop":"coupon.code","op":"eq","value":"X"}}`, want: []string{"cus_seg10"}},
		{cond: `{"event":"Purchased","count":{"eq":2},"where":{"prop":"coupon.code","op":"in","value":["X","Z"]}}`, want: []string{"cus_seg10"}},
		{cond: `{"event":"Purchased","where":{"all":[{"prop":"total","op":"gte","value":300},{"not":{"prop":"coupon.code","op":"eq","value":"Y"}}]}}`,
			want: []string{"cus_seg07", "cus_seg10"}},
		{cond: `{"event":"Purchased","where":{"prop":"total","op":"not_exists"}}`, want: []string{"cus_seg11"}},
		{cond: `{"event":"Signed Up","where":{"prop":"source.medium","op":"eq","value":"ads"}}`, want: []string{"cus_seg04"}},
		{cond: `{"event":"Viewed","count":{"eq":2}}`, want: []string{"cus_seg07"}},
		// Combinations: event counts at the top level and nested.
		{cond: `{"all":[{"attr":"plan","op":"eq","value":"pro"},{"event":"Purchased","within":"7d"}]}`, want: []string{"cus_seg01", "cus_seg06"}},
		{cond: `{"all":[{"attr":"plan","op":"eq","value":"pro"},{"event":"Purchased","count":{"gte":2},"within":"30d"}]}`, want: []string{"cus_seg01", "cus_seg06"}},
		{cond: `{"any":[{"attr":"age","op":"gte","value":60},{"event":"Purchased","count":{"gte":5}}]}`, want: []string{"cus_seg06", "cus_seg07", "cus_seg10"}},
		{cond: `{"not":{"any":[{"attr":"age","op":"gte","value":60},{"event":"Purchased","count":{"gte":5}}]}}`},
		{cond: `{"all":[{"not":{"event":"Purchased"}},{"attr":"email","op":"exists"}]}`, want: []string{"cus_seg05"}},
		{cond: `{"any":[{"event":"Purchased","count":{"gte":2},"within":"30d"},{"attr":"plan","op":"eq","value":"team"}]}`,
			want: []string{"cus_seg01", "cus_seg06", "cus_seg07", "cus_seg10"}},
		{cond: `{"not":{"event":"Purchased","count":{"gte":2}}}`},
		{cond: `{"all":[{"any":[{"attr":"plan","op":"in","value":["pro","team"]},{"attr":"tags","op":"contains","value":"vip"}]},{"not":{"attr":"email","op":"exists"}},{"event":"Purchased","op":"not_performed","within":"2d"}]}`},
		// Segment references: manual, dynamic, dynamic referencing dynamic.
		{cond: `{"segment":"$MANUAL"}`, want: []string{"cus_seg04", "cus_seg09"}},
		{cond: `{"segment":"$MANUAL","op":"not_member"}`},
		{cond: `{"segment":"$PRO"}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg11"}},
		{cond: `{"segment":"$PRO_OR_SENIOR"}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg07", "cus_seg10", "cus_seg11"}},
		{cond: `{"segment":"$PRO_OR_SENIOR","op":"not_member"}`},
		{cond: `{"all":[{"segment":"$PRO_OR_SENIOR"},{"event":"Purchased","count":{"gte":2}}]}`, want: []string{"cus_seg01", "cus_seg06", "cus_seg10"}},
		{cond: `{"any":[{"segment":"$MANUAL"},{"segment":"$PRO"}]}`},
		{cond: `{"not":{"all":[{"segment":"$PRO_OR_SENIOR"},{"not":{"segment":"$MANUAL"}}]}}`},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		cond := json.RawMessage(ids.Replace(tc.cond))
		t.Run(tc.cond, func(t *testing.T) {
			require.NoError(t, workflows.ValidateCondition(cond, workflows.ScopeSegment, "condition"), "the journey engine accepts it too")
			g.t = t
			want := []string{}
			for _, c := range f.customers {
				if g.matches(cond, c) {
					want = append(want, c.ID)
				}
			}
			if tc.want != nil {
				require.Equal(t, tc.want, want, "the Go evaluation")
			}
			require.Equal(t, want, f.matching(t, cond), "the SQL")
			seen[strings.Join(want, ",")] = true
		})
	}
	require.Greater(t, len(seen), 50, "the cases select many different sets")
}

func TestSegmentConditionErrorsNameThePath(t *testing.T) {
	ctx := context.Background()
	f := newSegmentFixture(t)
	manual, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "M", Kind: schema.SegmentManual})
	require.NoError(t, err)
	theirs, err := f.st.CreateSegment(ctx, f.other, schema.Segment{Name: "Theirs", Kind: schema.SegmentManual})
	require.NoError(t, err)

	deep := `{"attr":"plan","op":"exists"}`
	for range 10 {
		deep = `{"not":` + deep + `}`
	}
	tests := []struct {
		cond, path, msg string
		engineToo       bool // workflows.ValidateCondition rejects it at the same path
	}{
		{`{"attr":"plan","op":"foo","value":1}`, "condition.op", `unknown operator "foo"`, true},
		{`{"all":[{"attr":"plan","op":"eq","value":"x"},{"attr":"plan","op":"foo","value":1}]}`, "condition.all[1].op", `unknown operator "foo"`, true},
		{`{"attr":"plan","op":"eq"}`, "condition.value", "needs a value", true},
		{`{"attr":"plan","op":"eq","value":null}`, "condition.value", "must not be null", true},
		{`{"attr":"plan","op":"eq","value":{"a":1}}`, "condition.value", "string, number or boolean", true},
		{`{"attr":"age","op":"gt","value":true}`, "condition.value", "number or a string", true},
		{`{"attr":"plan","op":"starts_with","value":1}`, "condition.value", "needs a string", true},
		{`{"attr":"plan","op":"in","value":"pro"}`, "condition.value", "array", true},
		{`{"attr":"plan","op":"in","value":[]}`, "condition.value", "non-empty", true},
		{`{"attr":"plan","op":"in","value":["a",{"x":1}]}`, "condition.value[1]", "string, number or boolean", true},
		{`{"attr":"plan","op":"exists","value":1}`, "condition.value", "takes no value", true},
		{`{"attr":"signup","op":"before","value":"yesterday"}`, "condition.value", "RFC 3339", true},
		{`{"attr":"signup","op":"before","value":5}`, "condition.value", "RFC 3339", true},
		{`{"attr":"signup","op":"within_last","value":"7x"}`, "condition.value", `unknown unit "x"`, true},
		{`{"attr":"signup","op":"within_last","value":"-7d"}`, "condition.value", "invalid duration", true},
		{`{"attr":"a..b","op":"exists"}`, "condition.attr", "not a valid path", true},
		{`{"attr":"","op":"exists"}`, "condition.attr", "must not be empty", true},
		{`{"attr":3,"op":"exists"}`, "condition.attr", "must be a string", true},
		{`{"attr":"plan","op":"eq","value":"x","extra":1}`, "condition.extra", `unknown field "extra"`, true},
		{`{"attr":"plan","op":"eq","value":1,"event":"x"}`, "condition", "exactly one of", true},
		{`{}`, "condition", "exactly one of", true},
		{`[]`, "condition", "JSON object", true},
		{`null`, "condition", "required", true},
		{`{"all":[]}`, "condition.all", "at least one", true},
		{`{"any":{}}`, "condition.any", "array of conditions", true},
		{deep, "condition" + strings.Repeat(".not", 10), "deeper than 10", true},
		{`{"prop":"total","op":"gt","value":1}`, "condition.prop", "inside an event", true},
		{`{"event":"Purchased","where":{"attr":"plan","op":"eq","value":"x"}}`, "condition.where.attr", "", true},
		{`{"event":"Purchased","where":{"event":"Other"}}`, "condition.where.event", "", true},
		{`{"event":"Purchased","op":"did"}`, "condition.op", `unknown operator "did"`, true},
		{`{"event":"Purchased","count":{"gte":-1}}`, "condition.count.gte", "non-negative integer", true},
		{`{"event":"Purchased","count":{"gte":1.5}}`, "condition.count.gte", "non-negative integer", true},
		{`{"event":"Purchased","count":{"most":1}}`, "condition.count.most", `unknown count operator "most"`, true},
		{`{"event":"Purchased","count":{}}`, "condition.count", "at least one", true},
		{`{"event":"Purchased","count":2}`, "condition.count", "object", true},
		{`{"event":"Purchased","within":"soon"}`, "condition.within", "invalid duration", true},
		{`{"event":"Purchased","within":30}`, "condition.within", "duration string", true},
		{`{"event":"Purchased","where":{"prop":"total","op":"gt","value":[1]}}`, "condition.where.value", "number or a string", true},
		{`{"segment":"` + manual.ID + `","op":"in"}`, "condition.op", `unknown operator "in"`, true},
		{`{"attr":"plan","op":"eq","value":"a\u0000b"}`, "condition", "NUL", false},
		{`{"segment":"seg_nope"}`, "condition.segment", `unknown segment "seg_nope"`, false},
		{`{"not":{"any":[{"attr":"plan","op":"exists"},{"segment":"seg_nope"}]}}`, "condition.not.any[1].segment", "unknown segment", false},
		{`{"segment":"` + theirs.ID + `"}`, "condition.segment", "unknown segment", false},
	}
	for _, tc := range tests {
		t.Run(tc.cond, func(t *testing.T) {
			_, err := f.st.PreviewSegment(ctx, f.ws, json.RawMessage(tc.cond), segNow, 10)
			var se *schema.SegmentError
			require.True(t, errors.As(err, &se), "%v", err)
			require.Equal(t, tc.path, se.Path, se.Error())
			require.Contains(t, se.Error(), tc.msg)
			require.True(t, strings.HasPrefix(se.Error(), tc.path+": "), se.Error())

			verr := workflows.ValidateCondition(json.RawMessage(tc.cond), workflows.ScopeSegment, "condition")
			if tc.engineToo {
				var ce *workflows.ConditionError
				require.True(t, errors.As(verr, &ce), "the journey engine rejects it too: %v", verr)
				require.Equal(t, tc.path, ce.Path, "the journey engine names the same path")
			} else {
				require.NoError(t, verr)
			}
		})
	}
}

func TestSegmentCyclesAndReferences(t *testing.T) {
	ctx := context.Background()
	f := newSegmentFixture(t)
	a, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "A", Kind: schema.SegmentDynamic,
		Condition: json.RawMessage(`{"attr":"plan","op":"eq","value":"pro"}`)})
	require.NoError(t, err)
	b, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "B", Kind: schema.SegmentDynamic,
		Condition: json.RawMessage(`{"all":[{"segment":"` + a.ID + `"}]}`)})
	require.NoError(t, err)
	c, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "C", Kind: schema.SegmentDynamic,
		Condition: json.RawMessage(`{"not":{"segment":"` + b.ID + `"}}`)})
	require.NoError(t, err)

	// A → C → B → A.
	_, err = f.st.UpdateSegment(ctx, f.ws, schema.Segment{ID: a.ID, Name: "A", Condition: json.RawMessage(`{"any":[{"attr":"age","op":"gt","value":1},{"segment":"` + c.ID + `"}]}`)})
	var se *schema.SegmentError
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, "condition.any[1].segment", se.Path)
	require.Contains(t, se.Error(), "cycle")
	require.Contains(t, se.Error(), a.ID+" → "+c.ID+" → "+b.ID+" → "+a.ID)

	// A → A.
	_, err = f.st.UpdateSegment(ctx, f.ws, schema.Segment{ID: a.ID, Name: "A", Condition: json.RawMessage(`{"segment":"` + a.ID + `"}`)})
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, "condition.segment", se.Path)
	require.Contains(t, se.Error(), "cycle")

	// Nothing changed; the chain still evaluates.
	got, err := f.st.GetSegment(ctx, f.ws, a.ID)
	require.NoError(t, err)
	require.JSONEq(t, `{"attr":"plan","op":"eq","value":"pro"}`, string(got.Condition))
	members := f.matching(t, json.RawMessage(`{"segment":"`+c.ID+`"}`))
	require.Len(t, members, len(segmentCustomers)-3)

	// A segment others reference cannot be deleted; a kind cannot change.
	err = f.st.DeleteSegment(ctx, f.ws, a.ID)
	require.ErrorIs(t, err, schema.ErrSegmentInUse)
	require.Contains(t, err.Error(), b.ID)
	_, err = f.st.UpdateSegment(ctx, f.ws, schema.Segment{ID: a.ID, Name: "A", Kind: schema.SegmentManual})
	require.True(t, errors.As(err, &se), "%v", err)
	require.Equal(t, "kind", se.Path)
	require.NoError(t, f.st.DeleteSegment(ctx, f.ws, c.ID))
	require.NoError(t, f.st.DeleteSegment(ctx, f.ws, b.ID))
	require.NoError(t, f.st.DeleteSegment(ctx, f.ws, a.ID))
	require.ErrorIs(t, f.st.DeleteSegment(ctx, f.ws, a.ID), schema.ErrNotFound)
}

func TestSegmentStoreCRUDMembersAndMembership(t *testing.T) {
	ctx := context.Background()
	f := newSegmentFixture(t)

	// Create, validate, list, update.
	_, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: " ", Kind: schema.SegmentDynamic, Condition: json.RawMessage(`{"attr":"plan","op":"exists"}`)})
	var se *schema.SegmentError
	require.True(t, errors.As(err, &se))
	require.Equal(t, "name", se.Path)
	_, err = f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "X", Kind: "static"})
	require.True(t, errors.As(err, &se))
	require.Equal(t, "kind", se.Path)
	_, err = f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "X", Kind: schema.SegmentManual, Condition: json.RawMessage(`{"attr":"plan","op":"exists"}`)})
	require.True(t, errors.As(err, &se))
	require.Equal(t, "condition", se.Path)
	_, err = f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "X", Kind: schema.SegmentDynamic})
	require.True(t, errors.As(err, &se))
	require.Equal(t, "condition", se.Path)

	pro, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: " Pro ", Kind: schema.SegmentDynamic, CreatedBy: "user:1",
		Condition: json.RawMessage("{\n  \"attr\": \"plan\", \"op\": \"eq\", \"value\": \"pro\"\n}")})
	require.NoError(t, err)
	require.Equal(t, "Pro", pro.Name)
	require.Equal(t, "user:1", pro.CreatedBy)
	require.JSONEq(t, `{"attr":"plan","op":"eq","value":"pro"}`, string(pro.Condition))
	manual, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "Beta testers", Kind: schema.SegmentManual})
	require.NoError(t, err)
	require.Nil(t, manual.Condition)
	list, err := f.st.ListSegments(ctx, f.ws, 1, "")
	require.NoError(t, err)
	require.Len(t, list, 1)
	rest, err := f.st.ListSegments(ctx, f.ws, 10, list[0].ID)
	require.NoError(t, err)
	require.Len(t, rest, 1)
	require.ElementsMatch(t, []string{pro.ID, manual.ID}, []string{list[0].ID, rest[0].ID})
	others, err := f.st.ListSegments(ctx, f.other, 10, "")
	require.NoError(t, err)
	require.Empty(t, others)

	updated, err := f.st.UpdateSegment(ctx, f.ws, schema.Segment{ID: pro.ID, Name: "Pro and team",
		Condition: json.RawMessage(`{"attr":"plan","op":"in","value":["pro","team"]}`)})
	require.NoError(t, err)
	require.Equal(t, schema.SegmentDynamic, updated.Kind)
	require.True(t, updated.UpdatedAt.After(pro.UpdatedAt) || updated.UpdatedAt.Equal(pro.UpdatedAt))
	_, err = f.st.UpdateSegment(ctx, f.other, schema.Segment{ID: pro.ID, Name: "Stolen", Condition: updated.Condition})
	require.ErrorIs(t, err, schema.ErrNotFound)
	_, err = f.st.GetSegment(ctx, f.other, pro.ID)
	require.ErrorIs(t, err, schema.ErrNotFound)

	// Dynamic members page by id; IsMember agrees.
	var paged []string
	after := ""
	for {
		page, err := f.st.SegmentMembers(ctx, f.ws, pro.ID, segNow, after, 2)
		require.NoError(t, err)
		for _, c := range page {
			paged = append(paged, c.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	require.Equal(t, []string{"cus_seg01", "cus_seg06", "cus_seg07", "cus_seg11"}, paged)
	for _, c := range segmentCustomers {
		member, err := f.st.IsMember(ctx, f.ws, pro.ID, c.id, segNow)
		require.NoError(t, err)
		require.Equal(t, slices.Contains(paged, c.id), member, c.id)
	}
	member, err := f.st.IsMember(ctx, f.ws, pro.ID, "cus_seg21", segNow)
	require.NoError(t, err)
	require.False(t, member, "a customer of another workspace")
	_, err = f.st.IsMember(ctx, f.other, pro.ID, "cus_seg21", segNow)
	require.ErrorIs(t, err, schema.ErrNotFound)

	// Manual members: internal or external ids, idempotent, unknown ids listed.
	res, err := f.st.AddManualMembers(ctx, f.ws, manual.ID, []string{"cus_seg02", "u3", "cus_seg01", "nobody", "cus_seg21", "u2"})
	require.NoError(t, err)
	require.Equal(t, schema.ManualMembersResult{Changed: 3, Unchanged: 0, Unknown: []string{"nobody", "cus_seg21"}}, res)
	res, err = f.st.AddManualMembers(ctx, f.ws, manual.ID, []string{"u2", "cus_seg03"})
	require.NoError(t, err)
	require.Equal(t, schema.ManualMembersResult{Changed: 0, Unchanged: 2, Unknown: []string{}}, res)
	members, err := f.st.SegmentMembers(ctx, f.ws, manual.ID, segNow, "", 100)
	require.NoError(t, err)
	require.Equal(t, []string{"cus_seg01", "cus_seg02", "cus_seg03"}, customerIDs(members),
		"cus_seg01 is named by its internal id, not cus_seg09's external id")

	res, err = f.st.RemoveManualMembers(ctx, f.ws, manual.ID, []string{"u2", "cus_seg05"})
	require.NoError(t, err)
	require.Equal(t, schema.ManualMembersResult{Changed: 1, Unchanged: 1, Unknown: []string{}}, res)
	member, err = f.st.IsMember(ctx, f.ws, manual.ID, "cus_seg02", segNow)
	require.NoError(t, err)
	require.False(t, member)
	var left *time.Time
	require.NoError(t, f.st.Pool().QueryRow(ctx, `SELECT left_at FROM segment_members WHERE segment_id = $1 AND customer_id = 'cus_seg02'`, manual.ID).Scan(&left))
	require.NotNil(t, left, "leaving is recorded")
	res, err = f.st.AddManualMembers(ctx, f.ws, manual.ID, []string{"u2"})
	require.NoError(t, err)
	require.Equal(t, 1, res.Changed, "entering again")
	member, err = f.st.IsMember(ctx, f.ws, manual.ID, "cus_seg02", segNow)
	require.NoError(t, err)
	require.True(t, member)

	_, err = f.st.AddManualMembers(ctx, f.ws, pro.ID, []string{"u1"})
	require.ErrorIs(t, err, schema.ErrInvalidState)
	_, err = f.st.AddManualMembers(ctx, f.other, manual.ID, []string{"cus_seg21"})
	require.ErrorIs(t, err, schema.ErrNotFound)

	// Deleting a manual segment removes its rows; erasing a customer removes theirs.
	_, err = f.st.EraseCustomer(ctx, f.ws, "cus_seg03")
	require.NoError(t, err)
	members, err = f.st.SegmentMembers(ctx, f.ws, manual.ID, segNow, "", 100)
	require.NoError(t, err)
	require.Equal(t, []string{"cus_seg01", "cus_seg02"}, customerIDs(members))
	require.NoError(t, f.st.DeleteSegment(ctx, f.ws, manual.ID))
	var rows int
	require.NoError(t, f.st.Pool().QueryRow(ctx, `SELECT count(*) FROM segment_members WHERE segment_id = $1`, manual.ID).Scan(&rows))
	require.Zero(t, rows)
}

func customerIDs(cs []schema.Customer) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// seedSegmentBulk adds n customers (every tenth on the pro plan) and
// events per customer spread over the 90 days before segNow to a workspace
// (schema.Store.SeedBench: set-based inserts), then analyzes.
func seedSegmentBulk(t testing.TB, st *schema.Store, ws string, n, eventsPer int) {
	t.Helper()
	require.NoError(t, st.SeedBench(context.Background(), ws,
		schema.BenchSeed{IDPrefix: "cus_b", Customers: n, EventsPerCustomer: eventsPer, Now: segNow}, nil))
}

// indexesIn lists the index names a JSON EXPLAIN plan scans.
func indexesIn(plan any) []string {
	var out []string
	switch v := plan.(type) {
	case map[string]any:
		if name, ok := v["Index Name"].(string); ok {
			out = append(out, name)
		}
		for _, c := range v {
			out = append(out, indexesIn(c)...)
		}
	case []any:
		for _, c := range v {
			out = append(out, indexesIn(c)...)
		}
	}
	return out
}

func TestSegmentQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Explain")
	require.NoError(t, err)
	seedSegmentBulk(t, st, ws.ID, 5000, 4)

	conn, err := st.Pool().Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	// Seq scans made prohibitive: the plan shows which index can serve.
	_, err = conn.Exec(ctx, `SET enable_seqscan = off`)
	require.NoError(t, err)

	tests := []struct {
		name, cond string
		index      []string // one of these must be scanned
	}{
		{"custom attribute eq", `{"attr":"plan","op":"eq","value":"pro"}`, []string{"customers_attributes_idx"}},
		{"nested attribute eq", `{"attr":"address.city","op":"eq","value":"city-7"}`, []string{"customers_attributes_idx"}},
		{"custom attribute in", `{"attr":"country","op":"in","value":["FR","JP"]}`, []string{"customers_attributes_idx"}},
		{"email eq", `{"attr":"email","op":"eq","value":"user7@example.com"}`, []string{"customers_email_idx"}},
		{"event performed within", `{"event":"Purchased","within":"7d"}`, []string{"events_name_idx", "events_customer_name_idx"}},
		{"event count within", `{"event":"Purchased","count":{"gte":2},"within":"30d"}`, []string{"events_name_idx", "events_customer_name_idx"}},
		{"event count under any", `{"any":[{"attr":"plan","op":"eq","value":"pro"},{"event":"Purchased","count":{"gte":2},"within":"30d"}]}`,
			[]string{"events_name_idx", "events_customer_name_idx"}},
		{"attribute and event", `{"all":[{"attr":"plan","op":"eq","value":"pro"},{"event":"Purchased","within":"7d"}]}`,
			[]string{"events_name_idx", "events_customer_name_idx"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := st.CompileSegment(ctx, ws.ID, json.RawMessage(tc.cond), segNow)
			require.NoError(t, err)
			var out []byte
			err = conn.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+q.CountQuery(), q.Args...).Scan(&out)
			require.NoError(t, err)
			var plan any
			require.NoError(t, json.Unmarshal(out, &plan))
			used := indexesIn(plan)
			t.Logf("%s scans %v", tc.cond, used)
			require.True(t, slices.ContainsFunc(used, func(n string) bool { return slices.Contains(tc.index, n) }),
				"%s uses %v; plan: %s", tc.cond, used, indentJSON(out))
		})
	}
}

func indentJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", " ") != nil {
		return string(b)
	}
	return buf.String()
}

// A condition that is one event condition every match must satisfy is
// counted from the events alone; the count is the same as counting the
// customers it selects.
func TestSegmentCountFromEventsAlone(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Event counts")
	require.NoError(t, err)
	seedSegmentBulk(t, st, ws.ID, 3000, 6)
	other, err := st.CreateWorkspace(ctx, "Other")
	require.NoError(t, err)
	// Must not be counted.
	require.NoError(t, st.SeedBench(ctx, other.ID, schema.BenchSeed{IDPrefix: "cus_o", Customers: 500, EventsPerCustomer: 6, Now: segNow}, nil))

	tests := []struct {
		cond        string
		eventsAlone bool
	}{
		{`{"event":"Purchased","count":{"gte":2},"within":"30d"}`, true},
		{`{"event":"Purchased","within":"7d"}`, true},
		{`{"all":[{"event":"Purchased","count":{"gte":2,"lte":3}}]}`, true},
		{`{"any":[{"event":"Viewed","count":{"gte":3},"within":"90d"}]}`, false}, // under any: the joined form
		{`{"event":"Purchased","where":{"prop":"total","op":"gt","value":100}}`, true},
		{`{"event":"Purchased","op":"not_performed","within":"30d"}`, false},
		{`{"event":"Purchased","count":{"lt":2}}`, false},
		{`{"all":[{"attr":"plan","op":"eq","value":"pro"},{"event":"Purchased","within":"7d"}]}`, false},
		{`{"any":[{"attr":"plan","op":"eq","value":"pro"},{"event":"Purchased","within":"7d"}]}`, false},
		{`{"not":{"event":"Purchased","within":"7d"}}`, false},
		// Only customers older than the newest 2000 match: the sample
		// falls back to the query over every customer.
		{`{"all":[{"attr":"created_at","op":"lt","value":"` + segNow.Add(-990*time.Hour).Format(time.RFC3339) + `"},{"event":"Purchased","within":"90d"}]}`, false},
	}
	for _, tc := range tests {
		q, err := st.CompileSegment(ctx, ws.ID, json.RawMessage(tc.cond), segNow)
		require.NoError(t, err, tc.cond)
		require.Equal(t, tc.eventsAlone, q.Count != "", "%s counted from events alone", tc.cond)
		var got, want int64
		require.NoError(t, st.Pool().QueryRow(ctx, q.CountQuery(), q.Args...).Scan(&got), tc.cond)
		require.NoError(t, st.Pool().QueryRow(ctx, q.Query("count(*)", ""), q.Args...).Scan(&want), tc.cond)
		require.Equal(t, want, got, tc.cond)
		require.NotZero(t, want, "%s: the fixture should match someone", tc.cond)

		// The preview's sample is the newest matches, found either way.
		rows, err := st.Pool().Query(ctx, q.Query("c.id", " ORDER BY c.created_at DESC, c.id DESC LIMIT 5"), q.Args...)
		require.NoError(t, err)
		newest, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		p, err := st.PreviewSegment(ctx, ws.ID, json.RawMessage(tc.cond), segNow, 5)
		require.NoError(t, err, tc.cond)
		require.Equal(t, want, p.Count, tc.cond)
		sample := []string{}
		for _, c := range p.Sample {
			sample = append(sample, c.ID)
		}
		require.Equal(t, newest, sample, "sample of %s", tc.cond)
	}
}

// A segment change is untried for exactly one routing, however many try it
// at once; a change tried before (routing stopped part-way) says so.
func TestTrySegmentChangesOnce(t *testing.T) {
	ctx := context.Background()
	f := newSegmentFixture(t)
	beta, err := f.st.CreateSegment(ctx, f.ws, schema.Segment{Name: "Beta", Kind: schema.SegmentManual})
	require.NoError(t, err)
	refs := []string{f.customers[0].ID, f.customers[1].ID, f.customers[2].ID}
	_, err = f.st.AddManualMembers(ctx, f.ws, beta.ID, refs)
	require.NoError(t, err)
	changes, err := f.st.PendingSegmentChanges(ctx, 10)
	require.NoError(t, err)
	require.Len(t, changes, 3)
	ids := make([]int64, len(changes))
	for i, c := range changes {
		ids[i] = c.ID
	}

	first, err := f.st.TrySegmentChanges(ctx, ids[:1])
	require.NoError(t, err)
	require.Equal(t, map[int64]bool{ids[0]: true}, first)

	// Two routers at once: each remaining change is untried for one of them.
	results := make([]map[int64]bool, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.st.TrySegmentChanges(ctx, ids)
			assert.NoError(t, err)
			results[i] = r
		}()
	}
	wg.Wait()
	for _, id := range ids {
		n := 0
		for _, r := range results {
			if r[id] {
				n++
			}
		}
		if id == ids[0] {
			require.Zero(t, n, "tried before")
		} else {
			require.Equal(t, 1, n, "change %d untried for one router", id)
		}
	}
	again, err := f.st.TrySegmentChanges(ctx, ids)
	require.NoError(t, err)
	require.Empty(t, again)
}
