package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// SegmentError is a segment Herald refuses to save or evaluate: a missing
// name, an unknown kind, or a condition that cannot be compiled (bad shape,
// operator or value, unknown segment, cycle between segments). Path names
// the offending field, e.g. "condition.all[1].op".
type SegmentError struct {
	Path    string
	Message string
}

// Error reads "path: message".
func (e *SegmentError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

func conditionErr(path, format string, args ...any) error {
	return &SegmentError{Path: path, Message: fmt.Sprintf(format, args...)}
}

// maxConditionNesting bounds how deep one condition nests (the top level is 1).
const maxConditionNesting = 10

// condScope says which leaves a condition may hold: a segment holds attr,
// event and segment leaves; an event's where holds prop leaves.
type condScope int

const (
	scopeSegment condScope = iota
	scopeEventWhere
)

// condNode is a parsed segment condition (DESIGN §6).
type condNode struct {
	path  string
	kind  string // all, any, not, attr, prop, event, segment
	subs  []*condNode
	name  string // attribute or property path, event name, segment id
	op    string
	value any // json.Number, string, bool or []any of those

	// event conditions
	countMin, countMax int64 // countMax < 0: no upper bound
	within             time.Duration
	where              *condNode
}

var condShapes = []string{"all", "any", "not", "attr", "prop", "event", "segment"}

var condOperators = []string{"eq", "ne", "gt", "gte", "lt", "lte", "contains", "not_contains", "starts_with",
	"in", "not_in", "exists", "not_exists", "before", "after", "within_last"}

func joinCondPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// parseSegmentCondition reads a segment's condition; path prefixes the
// locations named in errors.
func parseSegmentCondition(raw json.RawMessage, path string) (*condNode, error) {
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return nil, conditionErr(path, "condition must not contain NUL characters (\\u0000)")
	}
	return parseCond(raw, scopeSegment, path, 1)
}

func parseCond(raw json.RawMessage, scope condScope, path string, depth int) (*condNode, error) {
	if depth > maxConditionNesting {
		return nil, conditionErr(path, "conditions nest deeper than %d levels", maxConditionNesting)
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
		return nil, conditionErr(path, "condition is required")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, conditionErr(path, "condition must be a JSON object")
	}
	var shapes []string
	for _, k := range condShapes {
		if _, ok := obj[k]; ok {
			shapes = append(shapes, k)
		}
	}
	if len(shapes) != 1 {
		return nil, conditionErr(path, "condition needs exactly one of %s", strings.Join(condShapes, ", "))
	}
	n := &condNode{path: path, kind: shapes[0]}
	allowed := map[string][]string{"attr": {"op", "value"}, "prop": {"op", "value"},
		"event": {"op", "count", "within", "where"}, "segment": {"op"}}[n.kind]
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k != n.kind && !slices.Contains(allowed, k) {
			return nil, conditionErr(joinCondPath(path, k), "unknown field %q in a %s condition", k, n.kind)
		}
	}

	switch n.kind {
	case "all", "any":
		var subs []json.RawMessage
		if err := json.Unmarshal(obj[n.kind], &subs); err != nil {
			return nil, conditionErr(joinCondPath(path, n.kind), "must be an array of conditions")
		}
		if len(subs) == 0 {
			return nil, conditionErr(joinCondPath(path, n.kind), "needs at least one condition")
		}
		for i, s := range subs {
			sub, err := parseCond(s, scope, fmt.Sprintf("%s[%d]", joinCondPath(path, n.kind), i), depth+1)
			if err != nil {
				return nil, err
			}
			n.subs = append(n.subs, sub)
		}
		return n, nil
	case "not":
		sub, err := parseCond(obj["not"], scope, joinCondPath(path, "not"), depth+1)
		if err != nil {
			return nil, err
		}
		n.subs = []*condNode{sub}
		return n, nil
	}

	keyPath := joinCondPath(path, n.kind)
	if err := json.Unmarshal(obj[n.kind], &n.name); err != nil {
		return nil, conditionErr(keyPath, "must be a string")
	}
	if strings.TrimSpace(n.name) == "" {
		return nil, conditionErr(keyPath, "must not be empty")
	}
	switch {
	case scope == scopeSegment && n.kind == "prop":
		return nil, conditionErr(keyPath, "prop conditions are only allowed inside an event condition's where")
	case scope == scopeEventWhere && n.kind != "prop":
		return nil, conditionErr(keyPath, "an event's where tests event properties (prop) only")
	}
	if (n.kind == "attr" || n.kind == "prop") && !validCondPath(n.name) {
		return nil, conditionErr(keyPath, "%q is not a valid path; use names separated by single dots, e.g. \"address.city\"", n.name)
	}
	opPath := joinCondPath(path, "op")
	if rawOp, ok := obj["op"]; ok {
		if err := json.Unmarshal(rawOp, &n.op); err != nil {
			return nil, conditionErr(opPath, "must be a string")
		}
	}
	switch n.kind {
	case "segment":
		switch n.op {
		case "":
			n.op = "member"
		case "member", "not_member":
		default:
			return nil, conditionErr(opPath, "unknown operator %q for a segment condition; expected member or not_member", n.op)
		}
		return n, nil
	case "event":
		return n, parseEventCond(n, obj, path, depth)
	}
	if n.op == "" {
		return nil, conditionErr(opPath, "op is required; one of %s", strings.Join(condOperators, ", "))
	}
	if !slices.Contains(condOperators, n.op) {
		return nil, conditionErr(opPath, "unknown operator %q; expected one of %s", n.op, strings.Join(condOperators, ", "))
	}
	return n, parseCondValue(n, obj["value"], joinCondPath(path, "value"))
}

// validCondPath accepts names separated by single dots, without blanks
// around them.
func validCondPath(p string) bool {
	if p != strings.TrimSpace(p) {
		return false
	}
	return !slices.Contains(strings.Split(p, "."), "")
}

func isCondScalar(v any) bool {
	switch v.(type) {
	case json.Number, string, bool:
		return true
	}
	return false
}

// parseCondValue checks that the value suits the operator.
func parseCondValue(n *condNode, raw json.RawMessage, path string) error {
	if n.op == "exists" || n.op == "not_exists" {
		if raw != nil {
			return conditionErr(path, "%s takes no value", n.op)
		}
		return nil
	}
	if raw == nil {
		return conditionErr(path, "%s needs a value", n.op)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n.value); err != nil {
		return conditionErr(path, "is not valid JSON")
	}
	switch v := n.value.(type) {
	case nil:
		return conditionErr(path, "must not be null; use exists or not_exists to test for absence")
	case json.Number:
		if f, err := v.Float64(); err != nil || math.IsInf(f, 0) {
			return conditionErr(path, "number %s is out of range", v)
		}
	}
	switch n.op {
	case "eq", "ne", "contains", "not_contains":
		if !isCondScalar(n.value) {
			return conditionErr(path, "%s needs a string, number or boolean", n.op)
		}
	case "gt", "gte", "lt", "lte":
		switch n.value.(type) {
		case json.Number, string:
		default:
			return conditionErr(path, "%s needs a number or a string", n.op)
		}
	case "starts_with":
		if _, ok := n.value.(string); !ok {
			return conditionErr(path, "starts_with needs a string")
		}
	case "in", "not_in":
		list, ok := n.value.([]any)
		if !ok {
			return conditionErr(path, "%s needs an array of strings, numbers or booleans", n.op)
		}
		if len(list) == 0 {
			return conditionErr(path, "%s needs a non-empty array", n.op)
		}
		for i, v := range list {
			if !isCondScalar(v) {
				return conditionErr(fmt.Sprintf("%s[%d]", path, i), "must be a string, number or boolean")
			}
		}
	case "before", "after":
		s, ok := n.value.(string)
		if !ok {
			return conditionErr(path, "%s needs an RFC 3339 time (\"2024-05-01T09:00:00Z\") or a duration back from now (\"7d\")", n.op)
		}
		if _, ok := parseCondTime(s); ok {
			return nil
		}
		if _, err := parseCondDuration(s); err != nil {
			return conditionErr(path, "%s needs an RFC 3339 time (\"2024-05-01T09:00:00Z\") or a duration back from now (\"7d\"), got %q", n.op, s)
		}
	case "within_last":
		s, ok := n.value.(string)
		if !ok {
			return conditionErr(path, "within_last needs a duration such as \"7d\"")
		}
		if _, err := parseCondDuration(s); err != nil {
			return conditionErr(path, "%s", err.Error())
		}
	}
	return nil
}

func parseEventCond(n *condNode, obj map[string]json.RawMessage, path string, depth int) error {
	switch n.op {
	case "":
		n.op = "performed"
	case "performed", "not_performed":
	default:
		return conditionErr(joinCondPath(path, "op"), "unknown operator %q for an event condition; expected performed or not_performed", n.op)
	}
	n.countMin, n.countMax = 1, -1
	if raw, ok := obj["count"]; ok {
		countPath := joinCondPath(path, "count")
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return conditionErr(countPath, "must be an object such as {\"gte\": 2}")
		}
		if len(m) == 0 {
			return conditionErr(countPath, "needs at least one of gte, gt, lte, lt, eq")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		n.countMin = 0
		for _, k := range keys {
			kp := joinCondPath(countPath, k)
			var num json.Number
			dec := json.NewDecoder(bytes.NewReader(m[k]))
			dec.UseNumber()
			if err := dec.Decode(&num); err != nil {
				return conditionErr(kp, "must be a non-negative integer")
			}
			v, err := num.Int64()
			if err != nil || v < 0 || v > math.MaxInt32 {
				return conditionErr(kp, "must be a non-negative integer")
			}
			switch k {
			case "eq":
				n.narrowCount(v, v)
			case "gte":
				n.narrowCount(v, -1)
			case "gt":
				n.narrowCount(v+1, -1)
			case "lte":
				n.narrowCount(0, v)
			case "lt":
				if v == 0 {
					n.narrowCount(1, 0) // no count is below zero
					continue
				}
				n.narrowCount(0, v-1)
			default:
				return conditionErr(kp, "unknown count operator %q; expected gte, gt, lte, lt or eq", k)
			}
		}
	}
	if raw, ok := obj["within"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return conditionErr(joinCondPath(path, "within"), "must be a duration string such as \"30d\"")
		}
		d, err := parseCondDuration(s)
		if err != nil {
			return conditionErr(joinCondPath(path, "within"), "%s", err.Error())
		}
		n.within = d
	}
	if raw, ok := obj["where"]; ok {
		w, err := parseCond(raw, scopeEventWhere, joinCondPath(path, "where"), depth+1)
		if err != nil {
			return err
		}
		n.where = w
	}
	return nil
}

// narrowCount intersects the event count range with [lo, hi] (hi < 0: no
// upper bound).
func (n *condNode) narrowCount(lo, hi int64) {
	n.countMin = max(n.countMin, lo)
	if hi >= 0 && (n.countMax < 0 || hi < n.countMax) {
		n.countMax = hi
	}
}

// parseCondTime reads a condition's time value: RFC 3339, or a date
// (YYYY-MM-DD) meaning midnight UTC.
func parseCondTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

const condDurationHint = `expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`

// parseCondDuration reads a positive duration as journeys write them: Go's
// units plus d (24h) and w (7d), summed: "1d12h".
func parseCondDuration(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("invalid duration %q: %s%s", s, why, condDurationHint)
	}
	if s == "" {
		return bad("empty; ")
	}
	var total time.Duration
	for rest := s; rest != ""; {
		numEnd := strings.IndexFunc(rest, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
		if numEnd <= 0 {
			return bad("")
		}
		unitEnd := strings.IndexFunc(rest[numEnd:], func(r rune) bool { return r == '.' || (r >= '0' && r <= '9') })
		if unitEnd < 0 {
			unitEnd = len(rest) - numEnd
		}
		num, unit := rest[:numEnd], rest[numEnd:numEnd+unitEnd]
		rest = rest[numEnd+unitEnd:]
		if unit == "" {
			return bad("")
		}
		scale := time.Duration(1)
		switch unit {
		case "d":
			unit, scale = "h", 24
		case "w":
			unit, scale = "h", 24*7
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
		default:
			return bad(fmt.Sprintf("unknown unit %q; ", unit))
		}
		part, err := time.ParseDuration(num + unit)
		if err != nil || part > math.MaxInt64/scale {
			return bad("")
		}
		part *= scale
		if total > math.MaxInt64-part {
			return bad("too long; ")
		}
		total += part
	}
	if total <= 0 {
		return bad("must be greater than zero; ")
	}
	return total, nil
}
