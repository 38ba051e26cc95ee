package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Customer is the profile a condition's attr tests (DESIGN §4, §6): the
// built-in fields plus free-form custom attributes.
type Customer struct {
	ID         string
	ExternalID string
	Email      string
	Phone      string
	Timezone   string
	CreatedAt  time.Time
	Attributes map[string]any
}

// EvalContext is everything a branch or filter condition may look at. It is
// data the workflow already holds, so evaluation stays deterministic.
type EvalContext struct {
	Customer Customer
	// Props are the event properties that prop conditions test (the trigger
	// or last event in a branch, the incoming event in a filter).
	Props map[string]any
	// Now is the workflow's clock (workflow.Now), used by relative times and
	// within_last.
	Now time.Time
	// Segments answers membership, keyed by segment id; a segment that is
	// absent counts as "not a member". SegmentRefs lists the ids to ask for.
	Segments map[string]bool
}

// ConditionScope says where a condition is used, which decides the shapes it
// may contain (DESIGN §6).
type ConditionScope int

const (
	// ScopeFilter is a trigger, exit_on or wait_for_event where: event
	// properties (prop) combined with all/any/not.
	ScopeFilter ConditionScope = iota + 1
	// ScopeBranch is a branch node's when: customer attributes (attr), the
	// trigger/last event's properties (prop) and segment membership.
	ScopeBranch
	// ScopeSegment is a segment definition: attr, event and segment; prop
	// only inside an event condition's where.
	ScopeSegment
)

// String names the scope for error messages.
func (s ConditionScope) String() string {
	switch s {
	case ScopeFilter:
		return "filter"
	case ScopeBranch:
		return "branch"
	case ScopeSegment:
		return "segment"
	case scopeEval:
		return "evaluation"
	}
	return fmt.Sprintf("scope(%d)", int(s))
}

// scopeEval is what EvalCondition accepts while parsing: every shape, so
// that event conditions get their own, clearer error.
const scopeEval ConditionScope = -1

// maxConditionDepth bounds nesting; the top-level condition is depth 1.
const maxConditionDepth = 10

// ConditionError is a malformed condition. Path names the offending key
// inside the condition, prefixed with the path the caller gave, e.g.
// "where.all[1].op".
type ConditionError struct {
	Path    string
	Message string
}

// Error reads "path: message", or just the message at the top level.
func (e *ConditionError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// condition is a parsed, checked condition.
type condition struct {
	path  string // where it sits, for errors
	kind  string // all, any, not, attr, prop, event, segment
	subs  []*condition
	name  string // attr/prop path, event name, segment id
	op    string
	value any // decoded with UseNumber: json.Number, string, bool, []any

	// before/after: an absolute time, or a duration back from now.
	at       time.Time
	ago      time.Duration
	relative bool
	// within_last
	within time.Duration

	// event
	count map[string]int64
	where *condition
}

// conditionShapes are the keys of which a condition has exactly one.
func conditionShapes() []string {
	return []string{"all", "any", "not", "attr", "prop", "event", "segment"}
}

// conditionOperators lists the attr/prop operators, in DESIGN §6 order.
func conditionOperators() []string {
	return []string{"eq", "ne", "gt", "gte", "lt", "lte", "contains", "not_contains", "starts_with",
		"in", "not_in", "exists", "not_exists", "before", "after", "within_last"}
}

// builtinAttribute reports whether name is one of the customer's built-in
// fields, which win over custom attributes of the same name.
func builtinAttribute(name string) bool {
	switch name {
	case "id", "external_id", "email", "phone", "timezone", "created_at":
		return true
	}
	return false
}

// ValidateCondition checks a condition's shape, operators and values for use
// in scope. path prefixes the location named in the error (for example
// "trigger.where"); the error is a *ConditionError.
func ValidateCondition(raw json.RawMessage, scope ConditionScope, path string) error {
	switch scope {
	case ScopeFilter, ScopeBranch, ScopeSegment:
	default:
		return &ConditionError{Path: path, Message: fmt.Sprintf("unknown condition scope %d", int(scope))}
	}
	if isAbsent(raw) {
		return &ConditionError{Path: path, Message: "condition is required"}
	}
	_, err := parseCondition(raw, scope, path, 1)
	if err != nil {
		return err
	}
	return nil
}

// EvalCondition evaluates a branch or filter condition against data the
// workflow holds. An absent (empty or null) condition matches everything, so
// an optional where needs no special case. The error is only for a malformed
// condition — which validation rejects before publishing — and for event
// conditions, which need history and are evaluated by segments only.
//
// Semantics, chosen so a condition never fails at run time:
//   - Values compare by JSON type: numbers numerically (whatever Go numeric
//     type or json.Number holds them), strings byte-wise and case-sensitively,
//     booleans by equality. A numeric string is a string: "100" ≠ 100.
//     A time.Time attribute (created_at) compares as a time with an
//     RFC 3339 string value.
//   - A type mismatch makes eq, gt, gte, lt, lte, contains, starts_with, in,
//     before, after and within_last false.
//   - A missing attribute or property, or one holding null, makes every
//     operator false except not_exists, ne, not_contains and not_in, which
//     are true. More generally ne, not_contains, not_in and not_exists are
//     exactly the negations of eq, contains, in and exists, so a mismatched
//     type makes them true.
//   - contains: substring of a string, or an element of an array. in: the
//     value is in the list; for an array attribute, any element is.
//   - before/after/within_last: the attribute is a time.Time or an RFC 3339
//     (or YYYY-MM-DD) string; a relative value "7d" means Now − 7 days.
//     within_last d holds when Now − d ≤ t ≤ Now.
//   - Built-in string fields that are empty, and a zero created_at, are
//     missing.
func EvalCondition(raw json.RawMessage, ec EvalContext) (bool, error) {
	if isAbsent(raw) {
		return true, nil
	}
	c, err := parseCondition(raw, scopeEval, "", 1)
	if err != nil {
		return false, err
	}
	if ev := findEvent(c); ev != nil {
		return false, &ConditionError{Path: joinPath(ev.path, "event"), Message: "event conditions are evaluated by segments only"}
	}
	return c.eval(ec), nil
}

// SegmentRefs returns the segment ids a condition references, sorted and
// unique, so the workflow can ask for exactly those memberships before it
// evaluates a branch. It reads malformed conditions as far as it can.
func SegmentRefs(raw json.RawMessage) []string {
	if isAbsent(raw) {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if id, ok := m["segment"].(string); ok && id != "" {
			out = append(out, id)
		}
		for _, k := range []string{"all", "any"} {
			if subs, ok := m[k].([]any); ok {
				for _, s := range subs {
					walk(s)
				}
			}
		}
		walk(m["not"])
	}
	walk(v)
	slices.Sort(out)
	return slices.Compact(out)
}

func isAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func condErr(path, format string, args ...any) error {
	return &ConditionError{Path: path, Message: fmt.Sprintf(format, args...)}
}

// allowedIn reports whether a leaf kind may appear in scope, and if not, why.
func allowedIn(kind string, scope ConditionScope) (bool, string) {
	switch scope {
	case scopeEval:
		return true, ""
	case ScopeFilter:
		if kind == "prop" {
			return true, ""
		}
		if kind == "event" {
			return false, "event conditions are only allowed in segments"
		}
		return false, fmt.Sprintf("%s conditions are not allowed in a filter; filters test event properties (prop)", kind)
	case ScopeBranch:
		if kind == "event" {
			return false, "event conditions are only allowed in segments; use a segment condition in a branch"
		}
		return true, ""
	case ScopeSegment:
		if kind == "prop" {
			return false, "prop conditions are only allowed inside an event condition's where"
		}
		return true, ""
	}
	return false, "unknown scope"
}

func parseCondition(raw json.RawMessage, scope ConditionScope, path string, depth int) (*condition, error) {
	if depth > maxConditionDepth {
		return nil, condErr(path, "conditions nest deeper than %d levels", maxConditionDepth)
	}
	if isAbsent(raw) {
		return nil, condErr(path, "condition is required")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, condErr(path, "condition must be a JSON object")
	}
	var shapes []string
	for _, k := range conditionShapes() {
		if _, ok := obj[k]; ok {
			shapes = append(shapes, k)
		}
	}
	switch len(shapes) {
	case 0:
		return nil, condErr(path, "condition needs exactly one of %s", strings.Join(conditionShapes(), ", "))
	case 1:
	default:
		return nil, condErr(path, "condition has %s; use exactly one of %s", strings.Join(shapes, " and "), strings.Join(conditionShapes(), ", "))
	}
	c := &condition{path: path, kind: shapes[0]}

	var extra []string
	switch c.kind {
	case "attr", "prop":
		extra = []string{"op", "value"}
	case "event":
		extra = []string{"op", "count", "within", "where"}
	case "segment":
		extra = []string{"op"}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k != c.kind && !slices.Contains(extra, k) {
			if len(extra) == 0 {
				return nil, condErr(joinPath(path, k), "unknown field %q beside %s", k, c.kind)
			}
			return nil, condErr(joinPath(path, k), "unknown field %q; %s conditions take only %s, %s", k, c.kind, c.kind, strings.Join(extra, ", "))
		}
	}

	switch c.kind {
	case "all", "any":
		var subs []json.RawMessage
		if err := json.Unmarshal(obj[c.kind], &subs); err != nil {
			return nil, condErr(joinPath(path, c.kind), "must be an array of conditions")
		}
		if len(subs) == 0 {
			return nil, condErr(joinPath(path, c.kind), "needs at least one condition")
		}
		for i, s := range subs {
			sub, err := parseCondition(s, scope, fmt.Sprintf("%s[%d]", joinPath(path, c.kind), i), depth+1)
			if err != nil {
				return nil, err
			}
			c.subs = append(c.subs, sub)
		}
		return c, nil
	case "not":
		sub, err := parseCondition(obj["not"], scope, joinPath(path, "not"), depth+1)
		if err != nil {
			return nil, err
		}
		c.subs = []*condition{sub}
		return c, nil
	}

	keyPath := joinPath(path, c.kind)
	if err := json.Unmarshal(obj[c.kind], &c.name); err != nil {
		return nil, condErr(keyPath, "must be a string")
	}
	if strings.TrimSpace(c.name) == "" {
		return nil, condErr(keyPath, "must not be empty")
	}
	if ok, why := allowedIn(c.kind, scope); !ok {
		return nil, condErr(keyPath, "%s", why)
	}
	if (c.kind == "attr" || c.kind == "prop") && !validPath(c.name) {
		return nil, condErr(keyPath, "%q is not a valid path; use names separated by single dots, e.g. \"address.city\"", c.name)
	}

	opPath := joinPath(path, "op")
	if rawOp, ok := obj["op"]; ok {
		if err := json.Unmarshal(rawOp, &c.op); err != nil {
			return nil, condErr(opPath, "must be a string")
		}
	}
	switch c.kind {
	case "segment":
		switch c.op {
		case "":
			c.op = "member"
		case "member", "not_member":
		default:
			return nil, condErr(opPath, "unknown operator %q for a segment condition; expected member or not_member", c.op)
		}
		return c, nil
	case "event":
		return parseEvent(c, obj, path, depth)
	}

	if c.op == "" {
		return nil, condErr(opPath, "op is required; one of %s", strings.Join(conditionOperators(), ", "))
	}
	if !slices.Contains(conditionOperators(), c.op) {
		return nil, condErr(opPath, "unknown operator %q; expected one of %s", c.op, strings.Join(conditionOperators(), ", "))
	}
	return c, parseValue(c, obj["value"], joinPath(path, "value"))
}

// parseValue checks that the value fits the operator and pre-parses times
// and durations.
func parseValue(c *condition, raw json.RawMessage, path string) error {
	if c.op == "exists" || c.op == "not_exists" {
		if raw != nil {
			return condErr(path, "%s takes no value", c.op)
		}
		return nil
	}
	if raw == nil {
		return condErr(path, "%s needs a value", c.op)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c.value); err != nil {
		return condErr(path, "is not valid JSON")
	}
	if c.value == nil {
		return condErr(path, "must not be null; use exists or not_exists to test for absence")
	}
	switch c.op {
	case "eq", "ne", "contains", "not_contains":
		if !isScalar(c.value) {
			return condErr(path, "%s needs a string, number or boolean", c.op)
		}
	case "gt", "gte", "lt", "lte":
		switch c.value.(type) {
		case json.Number, string:
		default:
			return condErr(path, "%s needs a number or a string", c.op)
		}
	case "starts_with":
		if _, ok := c.value.(string); !ok {
			return condErr(path, "starts_with needs a string")
		}
	case "in", "not_in":
		list, ok := c.value.([]any)
		if !ok {
			return condErr(path, "%s needs an array of strings, numbers or booleans", c.op)
		}
		if len(list) == 0 {
			return condErr(path, "%s needs a non-empty array", c.op)
		}
		for i, v := range list {
			if !isScalar(v) {
				return condErr(fmt.Sprintf("%s[%d]", path, i), "must be a string, number or boolean")
			}
		}
	case "before", "after":
		s, ok := c.value.(string)
		if !ok {
			return condErr(path, "%s needs an RFC 3339 time (\"2024-05-01T09:00:00Z\") or a duration back from now (\"7d\")", c.op)
		}
		if t, ok := parseTime(s); ok {
			c.at = t
			return nil
		}
		d, err := ParseDuration(s)
		if err != nil {
			return condErr(path, "%s needs an RFC 3339 time (\"2024-05-01T09:00:00Z\") or a duration back from now (\"7d\"), got %q", c.op, s)
		}
		c.ago, c.relative = d, true
	case "within_last":
		s, ok := c.value.(string)
		if !ok {
			return condErr(path, "within_last needs a duration such as \"7d\"")
		}
		d, err := ParseDuration(s)
		if err != nil {
			return condErr(path, "%s", err.Error())
		}
		c.within = d
	}
	return nil
}

func parseEvent(c *condition, obj map[string]json.RawMessage, path string, depth int) (*condition, error) {
	switch c.op {
	case "":
		c.op = "performed"
	case "performed", "not_performed":
	default:
		return nil, condErr(joinPath(path, "op"), "unknown operator %q for an event condition; expected performed or not_performed", c.op)
	}
	if raw, ok := obj["count"]; ok {
		countPath := joinPath(path, "count")
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return nil, condErr(countPath, "must be an object such as {\"gte\": 2}")
		}
		if len(m) == 0 {
			return nil, condErr(countPath, "needs at least one of gte, gt, lte, lt, eq")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		c.count = map[string]int64{}
		for _, k := range keys {
			kp := joinPath(countPath, k)
			switch k {
			case "gte", "gt", "lte", "lt", "eq":
			default:
				return nil, condErr(kp, "unknown count operator %q; expected gte, gt, lte, lt or eq", k)
			}
			dec := json.NewDecoder(bytes.NewReader(m[k]))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, condErr(kp, "must be a non-negative integer")
			}
			n, ok := v.(json.Number)
			if !ok {
				return nil, condErr(kp, "must be a non-negative integer")
			}
			i, err := n.Int64()
			if err != nil || i < 0 {
				return nil, condErr(kp, "must be a non-negative integer")
			}
			c.count[k] = i
		}
	}
	if raw, ok := obj["within"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, condErr(joinPath(path, "within"), "must be a duration string such as \"30d\"")
		}
		d, err := ParseDuration(s)
		if err != nil {
			return nil, condErr(joinPath(path, "within"), "%s", err.Error())
		}
		c.within = d
	}
	if raw, ok := obj["where"]; ok {
		w, err := parseCondition(raw, ScopeFilter, joinPath(path, "where"), depth+1)
		if err != nil {
			return nil, err
		}
		c.where = w
	}
	return c, nil
}

// validPath accepts names separated by single dots, without surrounding
// blanks: "plan", "address.city".
func validPath(p string) bool {
	if p != strings.TrimSpace(p) {
		return false
	}
	for _, part := range strings.Split(p, ".") {
		if part == "" {
			return false
		}
	}
	return true
}

func isScalar(v any) bool {
	switch v.(type) {
	case json.Number, string, bool:
		return true
	}
	return false
}

func findEvent(c *condition) *condition {
	if c.kind == "event" {
		return c
	}
	for _, s := range c.subs {
		if ev := findEvent(s); ev != nil {
			return ev
		}
	}
	return nil
}

func (c *condition) eval(ec EvalContext) bool {
	switch c.kind {
	case "all":
		for _, s := range c.subs {
			if !s.eval(ec) {
				return false
			}
		}
		return true
	case "any":
		for _, s := range c.subs {
			if s.eval(ec) {
				return true
			}
		}
		return false
	case "not":
		return !c.subs[0].eval(ec)
	case "segment":
		member := ec.Segments[c.name]
		if c.op == "not_member" {
			return !member
		}
		return member
	case "attr":
		v, ok := ec.Customer.attribute(c.name)
		return c.test(v, ok, ec.Now)
	case "prop":
		v, ok := lookupPath(ec.Props, c.name)
		return c.test(v, ok, ec.Now)
	}
	return false
}

// test applies the operator to an attribute or property value; present is
// false when it is missing or null.
func (c *condition) test(v any, present bool, now time.Time) bool {
	present = present && v != nil
	switch c.op {
	case "exists":
		return present
	case "not_exists":
		return !present
	case "ne":
		return !present || !valuesEqual(v, c.value)
	case "not_contains":
		return !present || !valueContains(v, c.value)
	case "not_in":
		return !present || !valueIn(v, c.value.([]any))
	}
	if !present {
		return false
	}
	switch c.op {
	case "eq":
		return valuesEqual(v, c.value)
	case "gt", "gte", "lt", "lte":
		cmp, ok := compareValues(v, c.value)
		if !ok {
			return false
		}
		switch c.op {
		case "gt":
			return cmp > 0
		case "gte":
			return cmp >= 0
		case "lt":
			return cmp < 0
		}
		return cmp <= 0
	case "contains":
		return valueContains(v, c.value)
	case "starts_with":
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, c.value.(string))
	case "in":
		return valueIn(v, c.value.([]any))
	case "before", "after":
		t, ok := asTime(v)
		if !ok {
			return false
		}
		ref := c.at
		if c.relative {
			ref = now.Add(-c.ago)
		}
		if c.op == "before" {
			return t.Before(ref)
		}
		return t.After(ref)
	case "within_last":
		t, ok := asTime(v)
		return ok && !t.Before(now.Add(-c.within)) && !t.After(now)
	}
	return false
}

// attribute resolves an attr name: a built-in field first, then a custom
// attribute (literal name, then dotted path into nested maps).
func (cu Customer) attribute(name string) (any, bool) {
	str := func(s string) (any, bool) { return s, s != "" }
	switch name {
	case "id":
		return str(cu.ID)
	case "external_id":
		return str(cu.ExternalID)
	case "email":
		return str(cu.Email)
	case "phone":
		return str(cu.Phone)
	case "timezone":
		return str(cu.Timezone)
	case "created_at":
		return cu.CreatedAt, !cu.CreatedAt.IsZero()
	}
	return lookupPath(cu.Attributes, name)
}

// lookupPath finds a key in m: a key literally equal to path wins, else path
// is split on dots and followed through nested maps.
func lookupPath(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	if !strings.Contains(path, ".") {
		return nil, false
	}
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		next, ok := childValue(cur, part)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

func childValue(v any, key string) (any, bool) {
	switch m := v.(type) {
	case map[string]any:
		c, ok := m[key]
		return c, ok
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	c := rv.MapIndex(reflect.ValueOf(key).Convert(rv.Type().Key()))
	if !c.IsValid() {
		return nil, false
	}
	return c.Interface(), true
}

// jsonNumber is a JSON number kept exact when it is an integer.
type jsonNumber struct {
	isInt bool
	i     int64
	f     float64
}

func toNumber(v any) (jsonNumber, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return jsonNumber{isInt: true, i: i}, true
		}
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) {
			return jsonNumber{}, false
		}
		return jsonNumber{f: f}, true
	case int:
		return jsonNumber{isInt: true, i: int64(n)}, true
	case int8:
		return jsonNumber{isInt: true, i: int64(n)}, true
	case int16:
		return jsonNumber{isInt: true, i: int64(n)}, true
	case int32:
		return jsonNumber{isInt: true, i: int64(n)}, true
	case int64:
		return jsonNumber{isInt: true, i: n}, true
	case uint:
		return fromUint(uint64(n)), true
	case uint8:
		return fromUint(uint64(n)), true
	case uint16:
		return fromUint(uint64(n)), true
	case uint32:
		return fromUint(uint64(n)), true
	case uint64:
		return fromUint(n), true
	case float32:
		if math.IsNaN(float64(n)) {
			return jsonNumber{}, false
		}
		return jsonNumber{f: float64(n)}, true
	case float64:
		if math.IsNaN(n) {
			return jsonNumber{}, false
		}
		return jsonNumber{f: n}, true
	}
	return jsonNumber{}, false
}

func fromUint(u uint64) jsonNumber {
	if u <= math.MaxInt64 {
		return jsonNumber{isInt: true, i: int64(u)}
	}
	return jsonNumber{f: float64(u)}
}

func compareNumbers(a, b jsonNumber) int {
	if a.isInt && b.isInt {
		switch {
		case a.i < b.i:
			return -1
		case a.i > b.i:
			return 1
		}
		return 0
	}
	af, bf := a.f, b.f
	if a.isInt {
		af = float64(a.i)
	}
	if b.isInt {
		bf = float64(b.i)
	}
	switch {
	case af < bf:
		return -1
	case af > bf:
		return 1
	}
	return 0
}

// valuesEqual compares an attribute value with a scalar condition value by
// JSON type; different types are never equal.
func valuesEqual(v, want any) bool {
	if cmp, ok := compareValues(v, want); ok {
		return cmp == 0
	}
	if b, ok := v.(bool); ok {
		w, ok := want.(bool)
		return ok && b == w
	}
	return false
}

// compareValues orders an attribute value against a condition value when
// both are numbers, both strings, or a time.Time and an RFC 3339 string.
func compareValues(v, want any) (int, bool) {
	if a, ok := toNumber(v); ok {
		b, ok := toNumber(want)
		if !ok {
			return 0, false
		}
		return compareNumbers(a, b), true
	}
	switch a := v.(type) {
	case string:
		b, ok := want.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(a, b), true
	case time.Time:
		s, ok := want.(string)
		if !ok {
			return 0, false
		}
		b, ok := parseTime(s)
		if !ok {
			return 0, false
		}
		return a.Compare(b), true
	}
	return 0, false
}

// asList turns an array value of any Go slice type into []any.
func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	if v == nil {
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func valueContains(v, want any) bool {
	if s, ok := v.(string); ok {
		w, ok := want.(string)
		return ok && strings.Contains(s, w)
	}
	if l, ok := asList(v); ok {
		for _, e := range l {
			if valuesEqual(e, want) {
				return true
			}
		}
	}
	return false
}

func valueIn(v any, list []any) bool {
	if l, ok := asList(v); ok {
		for _, e := range l {
			if valueIn(e, list) {
				return true
			}
		}
		return false
	}
	for _, w := range list {
		if valuesEqual(v, w) {
			return true
		}
	}
	return false
}

// parseTime reads an RFC 3339 time, or a date (YYYY-MM-DD) as midnight UTC.
func parseTime(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func asTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, true
	case *time.Time:
		if t == nil {
			return time.Time{}, false
		}
		return *t, true
	case string:
		return parseTime(t)
	}
	return time.Time{}, false
}
