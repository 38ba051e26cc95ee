package workflows

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var condNow = time.Date(2024, 6, 10, 12, 0, 0, 0, time.UTC)

func condContext() EvalContext {
	return EvalContext{
		Customer: Customer{
			ID:         "cus_1",
			ExternalID: "user_1",
			Email:      "ann@example.com",
			Timezone:   "Europe/Paris",
			CreatedAt:  time.Date(2024, 6, 5, 8, 0, 0, 0, time.UTC),
			// Phone is empty: missing.
			Attributes: map[string]any{
				"plan":       "pro",
				"age":        float64(42),
				"score":      json.Number("7.5"),
				"logins":     3,
				"big":        int64(9007199254740993),
				"vip":        true,
				"numstr":     "100",
				"tags":       []any{"beta", "vip"},
				"codes":      []any{float64(1), float64(2)},
				"typed":      []string{"x", "y"},
				"address":    map[string]any{"city": "Paris", "geo": map[string]any{"lat": 48.85}},
				"labels":     map[string]string{"tier": "gold"},
				"a.b":        "literal",
				"a":          map[string]any{"b": "nested", "c": "only nested"},
				"nothing":    nil,
				"email":      "custom@example.com", // shadowed by the built-in
				"trial_ends": "2024-06-12T00:00:00Z",
				"last_seen":  "2024-06-09T12:00:00+02:00",
				"birthday":   "1990-05-17",
				"signed_at":  time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC),
				"bad_time":   "yesterday",
			},
		},
		Props: map[string]any{
			"total":    float64(100),
			"currency": "EUR",
			"cart":     map[string]any{"size": float64(3), "skus": []any{"sku_1", "sku_2"}},
			"coupon":   nil,
		},
		Now:      condNow,
		Segments: map[string]bool{"seg_in": true, "seg_out": false},
	}
}

func TestEvalConditionOperators(t *testing.T) {
	for _, tc := range []struct {
		cond string
		want bool
	}{
		// eq / ne: strings, numbers of every Go type, booleans, built-ins.
		{`{"attr":"plan","op":"eq","value":"pro"}`, true},
		{`{"attr":"plan","op":"eq","value":"Pro"}`, false},
		{`{"attr":"plan","op":"ne","value":"free"}`, true},
		{`{"attr":"plan","op":"ne","value":"pro"}`, false},
		{`{"attr":"age","op":"eq","value":42}`, true},
		{`{"attr":"age","op":"eq","value":42.0}`, true},
		{`{"attr":"age","op":"eq","value":"42"}`, false},
		{`{"attr":"age","op":"ne","value":"42"}`, true},
		{`{"attr":"score","op":"eq","value":7.5}`, true},
		{`{"attr":"logins","op":"eq","value":3}`, true},
		{`{"attr":"big","op":"eq","value":9007199254740993}`, true},
		{`{"attr":"big","op":"eq","value":9007199254740992}`, false},
		{`{"attr":"numstr","op":"eq","value":100}`, false},
		{`{"attr":"numstr","op":"eq","value":"100"}`, true},
		{`{"attr":"vip","op":"eq","value":true}`, true},
		{`{"attr":"vip","op":"eq","value":false}`, false},
		{`{"attr":"vip","op":"eq","value":"true"}`, false},
		{`{"attr":"vip","op":"ne","value":false}`, true},
		{`{"attr":"tags","op":"eq","value":"beta"}`, false},
		{`{"attr":"id","op":"eq","value":"cus_1"}`, true},
		{`{"attr":"external_id","op":"eq","value":"user_1"}`, true},
		{`{"attr":"email","op":"eq","value":"ann@example.com"}`, true},
		{`{"attr":"timezone","op":"eq","value":"Europe/Paris"}`, true},
		{`{"attr":"created_at","op":"eq","value":"2024-06-05T10:00:00+02:00"}`, true},
		{`{"attr":"created_at","op":"eq","value":"2024-06-05"}`, false},

		// gt gte lt lte: numbers numerically, strings byte-wise, mismatches false.
		{`{"attr":"age","op":"gt","value":41}`, true},
		{`{"attr":"age","op":"gt","value":42}`, false},
		{`{"attr":"age","op":"gte","value":42}`, true},
		{`{"attr":"age","op":"lt","value":42.5}`, true},
		{`{"attr":"age","op":"lte","value":41.9}`, false},
		{`{"attr":"score","op":"gt","value":7}`, true},
		{`{"attr":"logins","op":"lte","value":3}`, true},
		{`{"attr":"age","op":"gt","value":"1"}`, false},
		{`{"attr":"numstr","op":"gt","value":99}`, false},
		{`{"attr":"numstr","op":"lt","value":"99"}`, true}, // "100" < "99" as strings
		{`{"attr":"plan","op":"gt","value":"free"}`, true},
		{`{"attr":"plan","op":"lt","value":"free"}`, false},
		{`{"attr":"vip","op":"gt","value":0}`, false},
		{`{"attr":"tags","op":"gt","value":"a"}`, false},
		{`{"attr":"created_at","op":"gt","value":"2024-06-01T00:00:00Z"}`, true},
		{`{"attr":"created_at","op":"lt","value":"2024-06-01T00:00:00Z"}`, false},
		{`{"attr":"created_at","op":"gt","value":"soon"}`, false},

		// contains / not_contains: substrings and array elements.
		{`{"attr":"email","op":"contains","value":"@example."}`, true},
		{`{"attr":"email","op":"contains","value":"@EXAMPLE."}`, false},
		{`{"attr":"email","op":"not_contains","value":"@gmail."}`, true},
		{`{"attr":"email","op":"not_contains","value":"ann"}`, false},
		{`{"attr":"tags","op":"contains","value":"vip"}`, true},
		{`{"attr":"tags","op":"contains","value":"vi"}`, false},
		{`{"attr":"tags","op":"not_contains","value":"alpha"}`, true},
		{`{"attr":"tags","op":"not_contains","value":"beta"}`, false},
		{`{"attr":"codes","op":"contains","value":2}`, true},
		{`{"attr":"codes","op":"contains","value":"2"}`, false},
		{`{"attr":"typed","op":"contains","value":"y"}`, true},
		{`{"attr":"age","op":"contains","value":4}`, false},
		{`{"attr":"age","op":"not_contains","value":4}`, true},
		{`{"attr":"plan","op":"contains","value":1}`, false},

		// starts_with
		{`{"attr":"email","op":"starts_with","value":"ann@"}`, true},
		{`{"attr":"email","op":"starts_with","value":"bob@"}`, false},
		{`{"attr":"age","op":"starts_with","value":"4"}`, false},
		{`{"attr":"tags","op":"starts_with","value":"beta"}`, false},

		// in / not_in, including array attributes (any element).
		{`{"attr":"plan","op":"in","value":["free","pro"]}`, true},
		{`{"attr":"plan","op":"in","value":["free","team"]}`, false},
		{`{"attr":"plan","op":"not_in","value":["free","team"]}`, true},
		{`{"attr":"plan","op":"not_in","value":["pro"]}`, false},
		{`{"attr":"age","op":"in","value":[41,42]}`, true},
		{`{"attr":"age","op":"in","value":["42"]}`, false},
		{`{"attr":"vip","op":"in","value":[true]}`, true},
		{`{"attr":"tags","op":"in","value":["vip","staff"]}`, true},
		{`{"attr":"tags","op":"in","value":["staff"]}`, false},
		{`{"attr":"tags","op":"not_in","value":["staff"]}`, true},
		{`{"attr":"typed","op":"in","value":["x"]}`, true},
		{`{"attr":"address","op":"in","value":["Paris"]}`, false},

		// exists / not_exists: present and not null; empty built-ins are missing.
		{`{"attr":"plan","op":"exists"}`, true},
		{`{"attr":"plan","op":"not_exists"}`, false},
		{`{"attr":"nothing","op":"exists"}`, false},
		{`{"attr":"nothing","op":"not_exists"}`, true},
		{`{"attr":"phone","op":"exists"}`, false},
		{`{"attr":"phone","op":"not_exists"}`, true},
		{`{"attr":"email","op":"exists"}`, true},
		{`{"attr":"created_at","op":"exists"}`, true},
		{`{"attr":"vip","op":"exists"}`, true},

		// before / after: absolute and relative; time.Time, RFC 3339 and date values.
		{`{"attr":"trial_ends","op":"after","value":"2024-06-11T00:00:00Z"}`, true},
		{`{"attr":"trial_ends","op":"before","value":"2024-06-11T00:00:00Z"}`, false},
		{`{"attr":"trial_ends","op":"before","value":"2024-06-12T00:00:00.001Z"}`, true},
		{`{"attr":"trial_ends","op":"after","value":"2024-06-12T00:00:00Z"}`, false},
		{`{"attr":"last_seen","op":"after","value":"2024-06-09T11:00:00Z"}`, false}, // 10:00Z
		{`{"attr":"last_seen","op":"after","value":"2024-06-09T09:59:59Z"}`, true},
		{`{"attr":"created_at","op":"after","value":"7d"}`, true},
		{`{"attr":"created_at","op":"before","value":"7d"}`, false},
		{`{"attr":"created_at","op":"before","value":"2d"}`, true},
		{`{"attr":"signed_at","op":"before","value":"1w"}`, true},
		{`{"attr":"birthday","op":"before","value":"2000-01-01"}`, true},
		{`{"attr":"birthday","op":"after","value":"1990-05-16T23:59:59Z"}`, true},
		{`{"attr":"bad_time","op":"before","value":"1d"}`, false},
		{`{"attr":"age","op":"after","value":"1d"}`, false},

		// within_last: now−d ≤ t ≤ now
		{`{"attr":"created_at","op":"within_last","value":"7d"}`, true},
		{`{"attr":"created_at","op":"within_last","value":"5d"}`, false},
		{`{"attr":"created_at","op":"within_last","value":"5d4h"}`, true},
		{`{"attr":"trial_ends","op":"within_last","value":"30d"}`, false}, // in the future
		{`{"attr":"last_seen","op":"within_last","value":"2d"}`, true},
		{`{"attr":"last_seen","op":"within_last","value":"1d"}`, false}, // 26h ago
		{`{"attr":"bad_time","op":"within_last","value":"30d"}`, false},
		{`{"attr":"plan","op":"within_last","value":"30d"}`, false},

		// paths: literal dotted names win, else nested maps.
		{`{"attr":"address.city","op":"eq","value":"Paris"}`, true},
		{`{"attr":"address.geo.lat","op":"gt","value":48}`, true},
		{`{"attr":"address.zip","op":"exists"}`, false},
		{`{"attr":"address.city.name","op":"exists"}`, false},
		{`{"attr":"labels.tier","op":"eq","value":"gold"}`, true},
		{`{"attr":"a.b","op":"eq","value":"literal"}`, true},
		{`{"attr":"a.c","op":"eq","value":"only nested"}`, true},
		{`{"attr":"address","op":"exists"}`, true},

		// prop
		{`{"prop":"total","op":"gte","value":100}`, true},
		{`{"prop":"total","op":"gt","value":100}`, false},
		{`{"prop":"currency","op":"in","value":["EUR","USD"]}`, true},
		{`{"prop":"cart.size","op":"eq","value":3}`, true},
		{`{"prop":"cart.skus","op":"contains","value":"sku_2"}`, true},
		{`{"prop":"coupon","op":"exists"}`, false},
		{`{"prop":"coupon","op":"not_exists"}`, true},
		{`{"prop":"plan","op":"exists"}`, false}, // attributes are not properties

		// segments
		{`{"segment":"seg_in"}`, true},
		{`{"segment":"seg_in","op":"member"}`, true},
		{`{"segment":"seg_in","op":"not_member"}`, false},
		{`{"segment":"seg_out"}`, false},
		{`{"segment":"seg_unknown"}`, false},
		{`{"segment":"seg_unknown","op":"not_member"}`, true},

		// combinators
		{`{"all":[{"attr":"plan","op":"eq","value":"pro"},{"prop":"total","op":"gt","value":50}]}`, true},
		{`{"all":[{"attr":"plan","op":"eq","value":"pro"},{"prop":"total","op":"gt","value":500}]}`, false},
		{`{"any":[{"attr":"plan","op":"eq","value":"free"},{"segment":"seg_in"}]}`, true},
		{`{"any":[{"attr":"plan","op":"eq","value":"free"},{"segment":"seg_out"}]}`, false},
		{`{"not":{"attr":"plan","op":"eq","value":"free"}}`, true},
		{`{"not":{"not":{"attr":"plan","op":"eq","value":"free"}}}`, false},
		{`{"not":{"attr":"missing","op":"eq","value":1}}`, true},
	} {
		t.Run(tc.cond, func(t *testing.T) {
			got, err := EvalCondition(json.RawMessage(tc.cond), condContext())
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// A missing attribute or property — or one holding null — fails every
// operator except the four negative ones.
func TestEvalConditionMissing(t *testing.T) {
	values := map[string]string{
		"eq": `"x"`, "ne": `"x"`, "gt": `1`, "gte": `1`, "lt": `1`, "lte": `1`,
		"contains": `"x"`, "not_contains": `"x"`, "starts_with": `"x"`,
		"in": `["x"]`, "not_in": `["x"]`, "before": `"1d"`, "after": `"2020-01-01T00:00:00Z"`,
		"within_last": `"1d"`,
	}
	trueWhenMissing := map[string]bool{"not_exists": true, "ne": true, "not_contains": true, "not_in": true}
	for _, op := range conditionOperators() {
		for _, target := range []string{
			`"attr":"no_such_attr"`, `"attr":"nothing"`, `"attr":"phone"`, `"attr":"address.zip"`,
			`"prop":"no_such_prop"`, `"prop":"coupon"`, `"prop":"cart.missing"`,
		} {
			cond := fmt.Sprintf(`{%s,"op":%q}`, target, op)
			if v, ok := values[op]; ok {
				cond = fmt.Sprintf(`{%s,"op":%q,"value":%s}`, target, op, v)
			}
			t.Run(cond, func(t *testing.T) {
				got, err := EvalCondition(json.RawMessage(cond), condContext())
				require.NoError(t, err)
				require.Equal(t, trueWhenMissing[op], got)
			})
		}
	}
	require.Len(t, values, len(conditionOperators())-2, "every operator with a value is covered")
}

func TestEvalConditionEmptyContext(t *testing.T) {
	got, err := EvalCondition(json.RawMessage(`{"all":[{"attr":"plan","op":"not_exists"},{"prop":"x","op":"ne","value":1},{"segment":"s","op":"not_member"}]}`), EvalContext{})
	require.NoError(t, err)
	require.True(t, got)
}

func TestEvalConditionAbsentMatches(t *testing.T) {
	for _, raw := range []string{"", "null", "  null "} {
		got, err := EvalCondition(json.RawMessage(raw), condContext())
		require.NoError(t, err)
		require.True(t, got, "%q", raw)
	}
}

func TestEvalConditionErrors(t *testing.T) {
	for _, tc := range []struct{ cond, err string }{
		{`{"event":"Purchased","op":"performed"}`, "event: event conditions are evaluated by segments only"},
		// Even when an earlier sibling would short-circuit.
		{`{"all":[{"attr":"plan","op":"eq","value":"free"},{"event":"Purchased"}]}`, "all[1].event: event conditions are evaluated by segments only"},
		{`{"attr":"plan","op":"equals","value":"pro"}`, `op: unknown operator "equals"`},
		{`{"attr":"plan","op":"in","value":"pro"}`, "value: in needs an array"},
		{`{"any":[]}`, "any: needs at least one condition"},
		{`[1,2]`, "condition must be a JSON object"},
		{`{"attr":"plan"`, "condition must be a JSON object"},
	} {
		t.Run(tc.cond, func(t *testing.T) {
			_, err := EvalCondition(json.RawMessage(tc.cond), condContext())
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestValidateConditionPaths(t *testing.T) {
	deep := `{"attr":"plan","op":"exists"}`
	for range 9 {
		deep = `{"not":` + deep + `}`
	}
	tooDeep := `{"not":` + deep + `}`
	for _, tc := range []struct {
		name  string
		cond  string
		scope ConditionScope
		path  string
		err   string // exact; "" when valid
	}{
		{name: "valid filter", cond: `{"all":[{"prop":"plan","op":"eq","value":"pro"}]}`, scope: ScopeFilter, path: "where"},
		{name: "unknown operator", cond: `{"all":[{"prop":"plan","op":"eq","value":"pro"},{"prop":"plan","op":"equals","value":"pro"}]}`, scope: ScopeFilter, path: "where",
			err: `where.all[1].op: unknown operator "equals"; expected one of eq, ne, gt, gte, lt, lte, contains, not_contains, starts_with, in, not_in, exists, not_exists, before, after, within_last`},
		{name: "no path prefix", cond: `{"attr":"plan","op":"equals","value":1}`, scope: ScopeBranch,
			err: `op: unknown operator "equals"; expected one of eq, ne, gt, gte, lt, lte, contains, not_contains, starts_with, in, not_in, exists, not_exists, before, after, within_last`},
		{name: "missing op", cond: `{"attr":"plan","value":1}`, scope: ScopeBranch, path: "when", err: `when.op: op is required; one of eq, ne, gt, gte, lt, lte, contains, not_contains, starts_with, in, not_in, exists, not_exists, before, after, within_last`},
		{name: "op not a string", cond: `{"attr":"plan","op":1,"value":1}`, scope: ScopeBranch, path: "when", err: `when.op: must be a string`},
		{name: "no shape", cond: `{"op":"eq","value":1}`, scope: ScopeBranch, path: "when", err: `when: condition needs exactly one of all, any, not, attr, prop, event, segment`},
		{name: "empty object", cond: `{}`, scope: ScopeBranch, path: "when", err: `when: condition needs exactly one of all, any, not, attr, prop, event, segment`},
		{name: "two shapes", cond: `{"attr":"plan","prop":"plan","op":"exists"}`, scope: ScopeBranch, path: "when", err: `when: condition has attr and prop; use exactly one of all, any, not, attr, prop, event, segment`},
		{name: "unknown field", cond: `{"attr":"plan","op":"eq","vale":1}`, scope: ScopeBranch, path: "when", err: `when.vale: unknown field "vale"; attr conditions take only attr, op, value`},
		{name: "field of another shape", cond: `{"all":[{"attr":"plan","op":"exists"}],"op":"eq"}`, scope: ScopeBranch, path: "when", err: `when.op: unknown field "op" beside all`},
		{name: "not an object", cond: `"plan"`, scope: ScopeBranch, path: "when", err: `when: condition must be a JSON object`},
		{name: "absent", cond: ``, scope: ScopeBranch, path: "when", err: `when: condition is required`},
		{name: "null", cond: `null`, scope: ScopeBranch, path: "when", err: `when: condition is required`},
		{name: "null inside all", cond: `{"all":[null]}`, scope: ScopeBranch, path: "when", err: `when.all[0]: condition is required`},
		{name: "empty all", cond: `{"all":[]}`, scope: ScopeBranch, path: "when", err: `when.all: needs at least one condition`},
		{name: "any not array", cond: `{"any":{"attr":"plan","op":"exists"}}`, scope: ScopeBranch, path: "when", err: `when.any: must be an array of conditions`},
		{name: "not inside", cond: `{"not":{"attr":"plan","op":"bogus"}}`, scope: ScopeBranch, path: "when", err: `when.not.op: unknown operator "bogus"; expected one of eq, ne, gt, gte, lt, lte, contains, not_contains, starts_with, in, not_in, exists, not_exists, before, after, within_last`},
		{name: "empty attr", cond: `{"attr":"","op":"exists"}`, scope: ScopeBranch, path: "when", err: `when.attr: must not be empty`},
		{name: "attr not string", cond: `{"attr":3,"op":"exists"}`, scope: ScopeBranch, path: "when", err: `when.attr: must be a string`},
		{name: "bad attr path", cond: `{"attr":"address..city","op":"exists"}`, scope: ScopeBranch, path: "when", err: `when.attr: "address..city" is not a valid path; use names separated by single dots, e.g. "address.city"`},
		{name: "depth 10 ok", cond: deep, scope: ScopeBranch, path: "when"},
		{name: "depth 11", cond: tooDeep, scope: ScopeBranch, path: "when", err: `when.not.not.not.not.not.not.not.not.not.not: conditions nest deeper than 10 levels`},

		// values
		{name: "exists with value", cond: `{"attr":"plan","op":"exists","value":true}`, scope: ScopeBranch, path: "c", err: `c.value: exists takes no value`},
		{name: "not_exists with value", cond: `{"attr":"plan","op":"not_exists","value":null}`, scope: ScopeBranch, path: "c", err: `c.value: not_exists takes no value`},
		{name: "eq without value", cond: `{"attr":"plan","op":"eq"}`, scope: ScopeBranch, path: "c", err: `c.value: eq needs a value`},
		{name: "eq null", cond: `{"attr":"plan","op":"eq","value":null}`, scope: ScopeBranch, path: "c", err: `c.value: must not be null; use exists or not_exists to test for absence`},
		{name: "eq array", cond: `{"attr":"plan","op":"eq","value":["pro"]}`, scope: ScopeBranch, path: "c", err: `c.value: eq needs a string, number or boolean`},
		{name: "eq object", cond: `{"attr":"plan","op":"ne","value":{"a":1}}`, scope: ScopeBranch, path: "c", err: `c.value: ne needs a string, number or boolean`},
		{name: "gt bool", cond: `{"attr":"age","op":"gt","value":true}`, scope: ScopeBranch, path: "c", err: `c.value: gt needs a number or a string`},
		{name: "contains array", cond: `{"attr":"tags","op":"contains","value":["a"]}`, scope: ScopeBranch, path: "c", err: `c.value: contains needs a string, number or boolean`},
		{name: "starts_with number", cond: `{"attr":"plan","op":"starts_with","value":1}`, scope: ScopeBranch, path: "c", err: `c.value: starts_with needs a string`},
		{name: "in scalar", cond: `{"attr":"plan","op":"in","value":"pro"}`, scope: ScopeBranch, path: "c", err: `c.value: in needs an array of strings, numbers or booleans`},
		{name: "not_in empty", cond: `{"attr":"plan","op":"not_in","value":[]}`, scope: ScopeBranch, path: "c", err: `c.value: not_in needs a non-empty array`},
		{name: "in nested array", cond: `{"attr":"plan","op":"in","value":["a",["b"]]}`, scope: ScopeBranch, path: "c", err: `c.value[1]: must be a string, number or boolean`},
		{name: "in null element", cond: `{"attr":"plan","op":"in","value":["a",null]}`, scope: ScopeBranch, path: "c", err: `c.value[1]: must be a string, number or boolean`},
		{name: "within_last bad", cond: `{"attr":"seen","op":"within_last","value":"7 days"}`, scope: ScopeBranch, path: "c", err: `c.value: invalid duration "7 days": unknown unit " days"; expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`},
		{name: "within_last number", cond: `{"attr":"seen","op":"within_last","value":7}`, scope: ScopeBranch, path: "c", err: `c.value: within_last needs a duration such as "7d"`},
		{name: "within_last time", cond: `{"attr":"seen","op":"within_last","value":"2024-01-01T00:00:00Z"}`, scope: ScopeBranch, path: "c", err: `c.value: invalid duration "2024-01-01T00:00:00Z": unknown unit "-"; expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`},
		{name: "before rfc3339", cond: `{"attr":"seen","op":"before","value":"2024-01-01T00:00:00+01:00"}`, scope: ScopeBranch, path: "c"},
		{name: "before duration", cond: `{"attr":"seen","op":"before","value":"1d12h"}`, scope: ScopeBranch, path: "c"},
		{name: "after date", cond: `{"attr":"seen","op":"after","value":"2024-01-01"}`, scope: ScopeBranch, path: "c"},
		{name: "after bad", cond: `{"attr":"seen","op":"after","value":"last week"}`, scope: ScopeBranch, path: "c", err: `c.value: after needs an RFC 3339 time ("2024-05-01T09:00:00Z") or a duration back from now ("7d"), got "last week"`},
		{name: "after negative", cond: `{"attr":"seen","op":"after","value":"-7d"}`, scope: ScopeBranch, path: "c", err: `c.value: after needs an RFC 3339 time ("2024-05-01T09:00:00Z") or a duration back from now ("7d"), got "-7d"`},
		{name: "before number", cond: `{"attr":"seen","op":"before","value":1700000000}`, scope: ScopeBranch, path: "c", err: `c.value: before needs an RFC 3339 time ("2024-05-01T09:00:00Z") or a duration back from now ("7d")`},

		// segments
		{name: "segment default op", cond: `{"segment":"seg_1"}`, scope: ScopeBranch, path: "c"},
		{name: "segment not_member", cond: `{"segment":"seg_1","op":"not_member"}`, scope: ScopeSegment, path: "c"},
		{name: "segment bad op", cond: `{"segment":"seg_1","op":"eq"}`, scope: ScopeBranch, path: "c", err: `c.op: unknown operator "eq" for a segment condition; expected member or not_member`},
		{name: "segment empty", cond: `{"segment":""}`, scope: ScopeBranch, path: "c", err: `c.segment: must not be empty`},
		{name: "segment value", cond: `{"segment":"seg_1","value":1}`, scope: ScopeBranch, path: "c", err: `c.value: unknown field "value"; segment conditions take only segment, op`},

		// events
		{name: "event full", cond: `{"event":"Purchased","op":"performed","count":{"gte":2,"lt":5},"within":"30d","where":{"all":[{"prop":"total","op":"gt","value":100}]}}`, scope: ScopeSegment, path: "c"},
		{name: "event default op", cond: `{"event":"Purchased"}`, scope: ScopeSegment, path: "c"},
		{name: "event not_performed", cond: `{"event":"Purchased","op":"not_performed","within":"7d"}`, scope: ScopeSegment, path: "c"},
		{name: "event bad op", cond: `{"event":"Purchased","op":"did"}`, scope: ScopeSegment, path: "c", err: `c.op: unknown operator "did" for an event condition; expected performed or not_performed`},
		{name: "event count key", cond: `{"event":"Purchased","count":{"min":2}}`, scope: ScopeSegment, path: "c", err: `c.count.min: unknown count operator "min"; expected gte, gt, lte, lt or eq`},
		{name: "event count float", cond: `{"event":"Purchased","count":{"gte":1.5}}`, scope: ScopeSegment, path: "c", err: `c.count.gte: must be a non-negative integer`},
		{name: "event count negative", cond: `{"event":"Purchased","count":{"eq":-1}}`, scope: ScopeSegment, path: "c", err: `c.count.eq: must be a non-negative integer`},
		{name: "event count string", cond: `{"event":"Purchased","count":{"eq":"2"}}`, scope: ScopeSegment, path: "c", err: `c.count.eq: must be a non-negative integer`},
		{name: "event count empty", cond: `{"event":"Purchased","count":{}}`, scope: ScopeSegment, path: "c", err: `c.count: needs at least one of gte, gt, lte, lt, eq`},
		{name: "event count number", cond: `{"event":"Purchased","count":2}`, scope: ScopeSegment, path: "c", err: `c.count: must be an object such as {"gte": 2}`},
		{name: "event within bad", cond: `{"event":"Purchased","within":"a month"}`, scope: ScopeSegment, path: "c", err: `c.within: invalid duration "a month": expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`},
		{name: "event where attr", cond: `{"event":"Purchased","where":{"attr":"plan","op":"exists"}}`, scope: ScopeSegment, path: "c", err: `c.where.attr: attr conditions are not allowed in a filter; filters test event properties (prop)`},
		{name: "event where bad op", cond: `{"event":"Purchased","where":{"any":[{"prop":"total","op":"greater","value":1}]}}`, scope: ScopeSegment, path: "c", err: `c.where.any[0].op: unknown operator "greater"; expected one of eq, ne, gt, gte, lt, lte, contains, not_contains, starts_with, in, not_in, exists, not_exists, before, after, within_last`},
		{name: "event unknown field", cond: `{"event":"Purchased","value":1}`, scope: ScopeSegment, path: "c", err: `c.value: unknown field "value"; event conditions take only event, op, count, within, where`},

		{name: "unknown scope", cond: `{"segment":"s"}`, scope: ConditionScope(42), path: "c", err: `c: unknown condition scope 42`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateCondition(json.RawMessage(tc.cond), tc.scope, tc.path)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.err)
			var ce *ConditionError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.err, ce.Path+": "+ce.Message)
		})
	}
}

func TestValidateConditionScopes(t *testing.T) {
	attr := `{"attr":"plan","op":"eq","value":"pro"}`
	prop := `{"prop":"total","op":"gt","value":1}`
	seg := `{"segment":"seg_1"}`
	event := `{"event":"Purchased","where":` + prop + `}`
	allowed := map[ConditionScope]map[string]string{
		ScopeFilter: {
			"attr":    "attr conditions are not allowed in a filter; filters test event properties (prop)",
			"segment": "segment conditions are not allowed in a filter; filters test event properties (prop)",
			"event":   "event conditions are only allowed in segments",
		},
		ScopeBranch: {
			"event": "event conditions are only allowed in segments; use a segment condition in a branch",
		},
		ScopeSegment: {
			"prop": "prop conditions are only allowed inside an event condition's where",
		},
	}
	for scope, refused := range allowed {
		for kind, cond := range map[string]string{"attr": attr, "prop": prop, "segment": seg, "event": event} {
			// Nested, so the path shows where the offending leaf is.
			wrapped := `{"any":[` + seg + `,{"not":` + cond + `}]}`
			if scope == ScopeFilter {
				wrapped = `{"any":[` + prop + `,{"not":` + cond + `}]}`
			}
			t.Run(scope.String()+"/"+kind, func(t *testing.T) {
				err := ValidateCondition(json.RawMessage(wrapped), scope, "x")
				if msg, ok := refused[kind]; ok {
					require.EqualError(t, err, "x.any[1].not."+kind+": "+msg)
					return
				}
				require.NoError(t, err)
			})
		}
	}
}

func TestSegmentRefs(t *testing.T) {
	for _, tc := range []struct {
		cond string
		want []string
	}{
		{``, nil},
		{`null`, nil},
		{`{"attr":"plan","op":"exists"}`, nil},
		{`{"segment":"seg_1"}`, []string{"seg_1"}},
		{`{"segment":"seg_1","op":"not_member"}`, []string{"seg_1"}},
		{`{"any":[{"segment":"seg_b"},{"all":[{"segment":"seg_a"},{"not":{"segment":"seg_b"}}]},{"attr":"x","op":"exists"}]}`, []string{"seg_a", "seg_b"}},
		{`{"all":[{"segment":"seg_1"},{"segment":""},{"segment":5}]}`, []string{"seg_1"}},
		{`{"all":[{"segment":"seg_1"}`, nil}, // not JSON
	} {
		t.Run(tc.cond, func(t *testing.T) {
			require.Equal(t, tc.want, SegmentRefs(json.RawMessage(tc.cond)))
		})
	}
}

// The refs SegmentRefs returns are exactly what a branch evaluation needs.
func TestSegmentRefsFeedEvaluation(t *testing.T) {
	cond := json.RawMessage(`{"any":[{"segment":"vip"},{"all":[{"segment":"trial"},{"segment":"churn_risk","op":"not_member"}]}]}`)
	members := map[string]bool{"trial": true}
	ec := EvalContext{Segments: map[string]bool{}}
	for _, id := range SegmentRefs(cond) {
		ec.Segments[id] = members[id]
	}
	require.Equal(t, []string{"churn_risk", "trial", "vip"}, SegmentRefs(cond))
	got, err := EvalCondition(cond, ec)
	require.NoError(t, err)
	require.True(t, got)
}

func TestConditionScopeString(t *testing.T) {
	require.Equal(t, "filter", ScopeFilter.String())
	require.Equal(t, "branch", ScopeBranch.String())
	require.Equal(t, "segment", ScopeSegment.String())
	require.True(t, strings.HasPrefix(ConditionScope(9).String(), "scope("))
}

// Attributes built in Go code (not decoded from JSON) compare the same way.
func TestEvalConditionGoValueTypes(t *testing.T) {
	seen := time.Date(2024, 6, 9, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		value any
		cond  string
		want  bool
	}{
		{"int", int(7), `{"attr":"v","op":"eq","value":7}`, true},
		{"int8", int8(7), `{"attr":"v","op":"eq","value":7}`, true},
		{"int16", int16(7), `{"attr":"v","op":"gt","value":6.5}`, true},
		{"int32", int32(7), `{"attr":"v","op":"lt","value":7}`, false},
		{"int64", int64(-7), `{"attr":"v","op":"lt","value":0}`, true},
		{"uint", uint(7), `{"attr":"v","op":"eq","value":7}`, true},
		{"uint8", uint8(7), `{"attr":"v","op":"in","value":[1,7]}`, true},
		{"uint16", uint16(7), `{"attr":"v","op":"gte","value":7}`, true},
		{"uint32", uint32(7), `{"attr":"v","op":"lte","value":7.0}`, true},
		{"uint64", uint64(7), `{"attr":"v","op":"eq","value":7}`, true},
		{"huge uint64", uint64(18446744073709551615), `{"attr":"v","op":"gt","value":9223372036854775807}`, true},
		{"float32", float32(0.5), `{"attr":"v","op":"eq","value":0.5}`, true},
		{"json.Number float", json.Number("1e3"), `{"attr":"v","op":"eq","value":1000}`, true},
		{"NaN", math.NaN(), `{"attr":"v","op":"eq","value":0}`, false},
		{"NaN ne", math.NaN(), `{"attr":"v","op":"ne","value":0}`, true},
		{"float32 NaN", float32(math.NaN()), `{"attr":"v","op":"gt","value":0}`, false},
		{"bad json.Number", json.Number("x"), `{"attr":"v","op":"eq","value":0}`, false},
		{"time pointer", &seen, `{"attr":"v","op":"within_last","value":"2d"}`, true},
		{"nil time pointer", (*time.Time)(nil), `{"attr":"v","op":"within_last","value":"2d"}`, false},
		{"time and number", seen, `{"attr":"v","op":"gt","value":0}`, false},
		{"int slice", []int{1, 2}, `{"attr":"v","op":"contains","value":2}`, true},
		{"array", [2]string{"a", "b"}, `{"attr":"v","op":"in","value":["b"]}`, true},
		{"nested int map", map[string]map[string]int{"x": {"y": 1}}, `{"attr":"v.x.y","op":"eq","value":1}`, true},
		{"int-keyed map", map[int]string{1: "a"}, `{"attr":"v.1","op":"exists"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ec := EvalContext{Now: condNow, Customer: Customer{Attributes: map[string]any{"v": tc.value}}}
			got, err := EvalCondition(json.RawMessage(tc.cond), ec)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
