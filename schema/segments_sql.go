package schema

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of a condition once the segments it references are inlined.
const (
	maxSegmentNesting = 10
	maxSegmentLeaves  = 500
)

// CompiledSegment is a segment condition compiled to SQL.
//
// Where is a boolean expression over the customers row `c` (and the joins
// of From) that is never NULL, so NOT of it is exact. Args are its
// parameters; $1 is the workspace id. Every value of the condition is a
// parameter, attribute and property names included, so the SQL text
// depends only on the condition's shape.
//
// Semantics follow workflows.EvalCondition (DESIGN §6): values compare by
// JSON type (a numeric string is a string), strings byte-wise, a missing or
// null value fails every operator but ne, not_contains, not_in and
// not_exists, which are the exact negations of eq, contains, in and exists.
// Built-in fields (id, external_id, email, phone, timezone, created_at) win
// over custom attributes; an empty built-in is missing; created_at compares
// as a time. Times in attributes are RFC 3339 strings or dates, read by
// herald_json_time. Known differences, all at the edges: times compare to
// the microsecond (Go: nanosecond), numbers as exact decimals (Go: float64
// beyond 64-bit integers), and `in` over arrays nested three or more deep
// does not look past the second level.
//
// An event condition counts the customer's events of that name whose
// occurred_at is at or after now − within (no upper bound: an event stamped
// slightly in the future counts as recent) and whose properties match where.
// Without count it means "at least once"; with count every bound must hold;
// not_performed is the negation.
type CompiledSegment struct {
	// From is joined to `customers c`: per-customer event counts and
	// memberships that conditions below any, not or not_performed test.
	From  string
	Where string
	Args  []any
	// Count, when set, counts the matches without reading customers: the
	// whole condition is one event condition a customer must satisfy, so
	// the matches are the groups of its events (every event belongs to a
	// customer of its workspace).
	Count string
}

// Query selects cols of the workspace's matching customers; tail follows
// the WHERE clause (more conditions, ORDER BY, LIMIT).
func (q CompiledSegment) Query(cols, tail string) string {
	return "SELECT " + cols + " FROM customers c" + q.From + " WHERE c.workspace_id = $1 AND " + q.Where + tail
}

// CountQuery counts the workspace's customers that match.
func (q CompiledSegment) CountQuery() string {
	if q.Count != "" {
		return q.Count
	}
	return q.Query("count(*)", "")
}

// CompileSegment compiles a condition for the workspace as of now, inlining
// the dynamic segments it references. A bad condition is a *SegmentError.
func (s *Store) CompileSegment(ctx context.Context, workspaceID string, condition json.RawMessage, now time.Time) (CompiledSegment, error) {
	return compileSegment(ctx, s.pool, workspaceID, condition, now, "")
}

// compileSegment compiles condition; self is the id of the segment being
// saved, so a reference back to it is a cycle.
func compileSegment(ctx context.Context, q queryer, ws string, condition json.RawMessage, now time.Time, self string) (CompiledSegment, error) {
	return compileSegmentAs(ctx, q, ws, condition, now, self, false)
}

// compileSegmentProbe compiles condition so that testing one customer costs
// index lookups of that customer only (correlated subqueries, no joins):
// right for a few customers, wrong for a whole workspace.
func compileSegmentProbe(ctx context.Context, q queryer, ws string, condition json.RawMessage, now time.Time) (CompiledSegment, error) {
	return compileSegmentAs(ctx, q, ws, condition, now, "", true)
}

func compileSegmentAs(ctx context.Context, q queryer, ws string, condition json.RawMessage, now time.Time, self string, probe bool) (CompiledSegment, error) {
	root, err := parseSegmentCondition(condition, "condition")
	if err != nil {
		return CompiledSegment{}, err
	}
	sc := &segmentCompiler{ctx: ctx, q: q, now: now, args: []any{ws}, loaded: map[string]Segment{}, probe: probe}
	if self != "" {
		sc.stack = []string{self}
	}
	where, err := sc.node(root, true)
	if err != nil {
		return CompiledSegment{}, err
	}
	out := CompiledSegment{From: strings.Join(sc.joins, ""), Where: where, Args: sc.args}
	// The condition is that one event condition when its expression is the
	// whole WHERE (an all of one, or a segment inlined, only add
	// parentheses).
	if e := sc.topEvents; len(e) == 1 && len(sc.joins) == 0 && strings.Trim(where, "()") == strings.Trim(e[0].expr, "()") {
		out.Count = e[0].count
	}
	return out, nil
}

type segmentCompiler struct {
	ctx    context.Context
	q      queryer
	now    time.Time
	args   []any
	stack  []string // segments being inlined, outermost first
	joins  []string // LEFT JOINs to customers c
	loaded map[string]Segment
	leaves int
	// topEvents are the event conditions every match must satisfy, with a
	// query counting their customers from the events alone.
	topEvents []topEvent
	// probe compiles per-customer lookups (compileSegmentProbe).
	probe bool
}

type topEvent struct{ expr, count string }

// arg binds v and returns its placeholder with a cast to typ.
func (sc *segmentCompiler) arg(v any, typ string) string {
	sc.args = append(sc.args, v)
	return "$" + strconv.Itoa(len(sc.args)) + "::" + typ
}

// jsonArg binds v as a jsonb value (sent as text, which pgx passes as is).
func (sc *segmentCompiler) jsonArg(v any) string {
	b, _ := json.Marshal(v) // values come from decoded JSON
	return sc.arg(string(b), "jsonb")
}

// join left-joins a subquery with at most one row per customer_id to
// `customers c` and returns its alias.
func (sc *segmentCompiler) join(sub string) string {
	alias := "j" + strconv.Itoa(len(sc.joins)+1)
	sc.joins = append(sc.joins, " LEFT JOIN ("+sub+") "+alias+" ON "+alias+".customer_id = c.id")
	return alias
}

func (sc *segmentCompiler) leaf(n *condNode) error {
	sc.leaves++
	if sc.leaves > maxSegmentLeaves {
		return conditionErr(n.path, "condition is too large: more than %d conditions once referenced segments are included", maxSegmentLeaves)
	}
	return nil
}

// node compiles n to a parenthesised boolean. top is true while n is
// reached from the root through all only: there a customer must satisfy
// it, which lets event counts use a grouped semi-join.
func (sc *segmentCompiler) node(n *condNode, top bool) (string, error) {
	switch n.kind {
	case "all", "any":
		parts := make([]string, 0, len(n.subs))
		for _, sub := range n.subs {
			p, err := sc.node(sub, top && n.kind == "all")
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		sep := " AND "
		if n.kind == "any" {
			sep = " OR "
		}
		return "(" + strings.Join(parts, sep) + ")", nil
	case "not":
		p, err := sc.node(n.subs[0], false)
		if err != nil {
			return "", err
		}
		return "(NOT " + p + ")", nil
	case "attr":
		if err := sc.leaf(n); err != nil {
			return "", err
		}
		return sc.attr(n), nil
	case "prop":
		if err := sc.leaf(n); err != nil {
			return "", err
		}
		return sc.test(n, sc.jsonPath("e.properties", n.name), ""), nil
	case "event":
		if err := sc.leaf(n); err != nil {
			return "", err
		}
		return sc.event(n, top)
	case "segment":
		return sc.segment(n, top)
	}
	return "", conditionErr(n.path, "unknown condition %q", n.kind)
}

// builtinColumns maps the customer fields stored in their own text columns
// to those columns (the only names that reach the SQL text).
var builtinColumns = map[string]string{"id": "c.id", "external_id": "c.external_id", "email": "c.email",
	"phone": "c.phone", "timezone": "c.timezone"}

func (sc *segmentCompiler) attr(n *condNode) string {
	if n.name == "created_at" {
		return sc.timeColumn(n, "c.created_at")
	}
	if col, ok := builtinColumns[n.name]; ok {
		return sc.test(n, "to_jsonb(nullif("+col+", ''))", sc.builtinPrefilter(n, col))
	}
	return sc.test(n, sc.jsonPath("c.attributes", n.name), sc.attributePrefilter(n))
}

// jsonPath is the jsonb value at an attribute or property path of base: a
// key literally equal to the path wins, else the dotted path is followed
// through nested objects (never into arrays). Missing is SQL NULL, a null
// value is JSON null.
func (sc *segmentCompiler) jsonPath(base, name string) string {
	key := sc.arg(name, "text")
	if !strings.Contains(name, ".") {
		return "(" + base + " -> " + key + ")"
	}
	var p strings.Builder
	p.WriteString("strict $")
	for _, part := range strings.Split(name, ".") {
		q, _ := json.Marshal(part) // a JSON string is a valid jsonpath string
		p.WriteString(".")
		p.Write(q)
	}
	return "coalesce(" + base + " -> " + key + ", jsonb_path_query_first(" + base + ", " +
		sc.arg(p.String(), "jsonpath") + ", '{}'::jsonb, true))"
}

// negated maps each negative operator to the positive one it negates.
var negated = map[string]string{"ne": "eq", "not_contains": "contains", "not_in": "in", "not_exists": "exists"}

var sqlComparisons = map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

// test applies n's operator to the jsonb value v. pre, when set, is an
// index-friendly condition implied by the positive test.
func (sc *segmentCompiler) test(n *condNode, v, pre string) string {
	op, negate := n.op, false
	if pos, ok := negated[op]; ok {
		op, negate = pos, true
	}
	expr := sc.positive(n, op, v)
	if pre != "" {
		expr = "(" + pre + " AND " + expr + ")"
	}
	if negate {
		return "(NOT " + expr + ")"
	}
	return expr
}

func (sc *segmentCompiler) positive(n *condNode, op, v string) string {
	str, isString := n.value.(string)
	switch op {
	case "exists":
		return "coalesce(jsonb_typeof(" + v + ") <> 'null', false)"
	case "eq":
		return "coalesce(" + v + " = " + sc.jsonArg(n.value) + ", false)"
	case "gt", "gte", "lt", "lte":
		if isString {
			return "coalesce(jsonb_typeof(" + v + ") = 'string' AND (" + v + ` #>> '{}') COLLATE "C" ` +
				sqlComparisons[op] + " " + sc.arg(str, "text") + ", false)"
		}
		return "coalesce(jsonb_typeof(" + v + ") = 'number' AND " + v + " " + sqlComparisons[op] + " " + sc.jsonArg(n.value) + ", false)"
	case "contains":
		element := sc.jsonArg([]any{n.value})
		if isString {
			return "coalesce(CASE jsonb_typeof(" + v + ") WHEN 'string' THEN strpos(" + v + " #>> '{}', " + sc.arg(str, "text") +
				") > 0 WHEN 'array' THEN " + v + " @> " + element + " ELSE false END, false)"
		}
		return "coalesce(jsonb_typeof(" + v + ") = 'array' AND " + v + " @> " + element + ", false)"
	case "starts_with":
		return "coalesce(jsonb_typeof(" + v + ") = 'string' AND starts_with(" + v + " #>> '{}', " + sc.arg(str, "text") + "), false)"
	case "in":
		// An array matches when any element, at any depth, is in the list.
		list := sc.jsonArg(n.value)
		return "coalesce(CASE WHEN jsonb_typeof(" + v + ") = 'array' THEN EXISTS (" +
			"WITH RECURSIVE r(x) AS (SELECT " + v + " UNION ALL SELECT y.value FROM r CROSS JOIN LATERAL " +
			"jsonb_array_elements(CASE WHEN jsonb_typeof(r.x) = 'array' THEN r.x ELSE '[]'::jsonb END) y) " +
			"SELECT 1 FROM r WHERE jsonb_typeof(r.x) <> 'array' AND " + list + " @> jsonb_build_array(r.x)) " +
			"ELSE " + list + " @> jsonb_build_array(" + v + ") END, false)"
	case "before", "after":
		cmp := "<"
		if op == "after" {
			cmp = ">"
		}
		return "coalesce(herald_json_time(" + v + ") " + cmp + " " + sc.arg(sc.timeRef(str), "timestamptz") + ", false)"
	case "within_last":
		d, _ := parseCondDuration(str)
		return "coalesce(herald_json_time(" + v + ") BETWEEN " + sc.arg(sc.now.Add(-d), "timestamptz") +
			" AND " + sc.arg(sc.now, "timestamptz") + ", false)"
	}
	return "false"
}

// timeRef is a before/after value: an absolute time, or now minus a duration.
func (sc *segmentCompiler) timeRef(s string) time.Time {
	if t, ok := parseCondTime(s); ok {
		return t
	}
	d, _ := parseCondDuration(s)
	return sc.now.Add(-d)
}

// timeColumn tests a timestamptz column that is never missing (created_at):
// it compares as a time with RFC 3339 or date strings, and is neither a
// string nor a list for contains, starts_with and in.
func (sc *segmentCompiler) timeColumn(n *condNode, col string) string {
	op, negate := n.op, false
	if pos, ok := negated[op]; ok {
		op, negate = pos, true
	}
	expr := "false"
	str, _ := n.value.(string)
	switch op {
	case "exists":
		expr = "true"
	case "eq", "gt", "gte", "lt", "lte":
		if t, ok := parseCondTime(str); ok {
			sqlOp := sqlComparisons[op]
			if op == "eq" {
				sqlOp = "="
			}
			expr = "(" + col + " " + sqlOp + " " + sc.arg(t, "timestamptz") + ")"
		}
	case "in":
		var times []time.Time
		for _, v := range n.value.([]any) {
			if s, ok := v.(string); ok {
				if t, ok := parseCondTime(s); ok {
					times = append(times, t)
				}
			}
		}
		if len(times) > 0 {
			expr = "(" + col + " = ANY(" + sc.arg(times, "timestamptz[]") + "))"
		}
	case "before":
		expr = "(" + col + " < " + sc.arg(sc.timeRef(str), "timestamptz") + ")"
	case "after":
		expr = "(" + col + " > " + sc.arg(sc.timeRef(str), "timestamptz") + ")"
	case "within_last":
		d, _ := parseCondDuration(str)
		expr = "(" + col + " BETWEEN " + sc.arg(sc.now.Add(-d), "timestamptz") + " AND " + sc.arg(sc.now, "timestamptz") + ")"
	}
	if negate {
		return "(NOT " + expr + ")"
	}
	return expr
}

// builtinPrefilter lets eq and in on a built-in text field use its index.
func (sc *segmentCompiler) builtinPrefilter(n *condNode, col string) string {
	var values []string
	switch n.op {
	case "eq":
		if s, ok := n.value.(string); ok {
			values = []string{s}
		}
	case "in":
		for _, v := range n.value.([]any) {
			if s, ok := v.(string); ok {
				values = append(values, s)
			}
		}
	default:
		return ""
	}
	if len(values) == 0 {
		return "false" // a text field equals no number or boolean
	}
	switch col {
	case "c.email":
		// customers_email_idx is on lower(email).
		alts := make([]string, len(values))
		for i, v := range values {
			alts[i] = "lower(" + sc.arg(v, "text") + ")"
		}
		return "(lower(c.email) IN (" + strings.Join(alts, ", ") + "))"
	case "c.timezone":
		return ""
	}
	return "(" + col + " = ANY(" + sc.arg(values, "text[]") + "))"
}

// attributePrefilter lets eq and in on a custom attribute use the GIN index
// on customers.attributes: containment of documents the attribute must
// contain when it matches.
func (sc *segmentCompiler) attributePrefilter(n *condNode) string {
	var leaves []any
	switch n.op {
	case "eq":
		leaves = []any{n.value}
	case "in":
		for _, v := range n.value.([]any) {
			leaves = append(leaves, v, []any{v}, []any{[]any{v}})
		}
	default:
		return ""
	}
	parts := strings.Split(n.name, ".")
	var alts []string
	for _, leaf := range leaves {
		alts = append(alts, "c.attributes @> "+sc.jsonArg(map[string]any{n.name: leaf}))
		if len(parts) > 1 {
			doc := leaf
			for i := len(parts) - 1; i >= 0; i-- {
				doc = map[string]any{parts[i]: doc}
			}
			alts = append(alts, "c.attributes @> "+sc.jsonArg(doc))
		}
	}
	return "(" + strings.Join(alts, " OR ") + ")"
}

// event compiles an event condition (see CompiledSegment).
func (sc *segmentCompiler) event(n *condNode, top bool) (string, error) {
	negate := n.op == "not_performed"
	lo, hi := n.countMin, n.countMax
	switch {
	case hi >= 0 && lo > hi:
		return strconv.FormatBool(negate), nil // no count is in an empty range
	case lo == 0 && hi < 0:
		return strconv.FormatBool(!negate), nil // every count is at least zero
	}
	filter := "e.workspace_id = $1 AND e.name = " + sc.arg(n.name, "text")
	if n.within > 0 {
		filter += " AND e.occurred_at >= " + sc.arg(sc.now.Add(-n.within), "timestamptz")
	}
	if n.where != nil {
		w, err := sc.node(n.where, false)
		if err != nil {
			return "", err
		}
		filter += " AND " + w
	}
	var expr string
	switch {
	case sc.probe && !(lo == 1 && hi < 0):
		count := "(SELECT count(*) FROM events e WHERE e.customer_id = c.id AND " + filter + ")"
		if hi >= 0 {
			expr = "(" + count + " BETWEEN " + sc.arg(lo, "bigint") + " AND " + sc.arg(hi, "bigint") + ")"
		} else {
			expr = "(" + count + " >= " + sc.arg(lo, "bigint") + ")"
		}
	case (top || sc.probe) && lo == 1 && hi < 0:
		// A semi-join, or an anti-join when negated.
		expr = "(EXISTS (SELECT 1 FROM events e WHERE e.customer_id = c.id AND " + filter + "))"
		if !negate {
			sc.topEvents = append(sc.topEvents, topEvent{expr, "SELECT count(*) FROM (SELECT e.customer_id FROM events e WHERE " + filter + " GROUP BY e.customer_id) m"})
		}
	case top && !negate && lo >= 1:
		// A semi-join on the customers whose count is in range.
		having := "count(*) >= " + sc.arg(lo, "bigint")
		if hi >= 0 {
			having += " AND count(*) <= " + sc.arg(hi, "bigint")
		}
		groups := "SELECT e.customer_id FROM events e WHERE " + filter + " GROUP BY e.customer_id HAVING " + having
		expr = "(c.id IN (" + groups + "))"
		sc.topEvents = append(sc.topEvents, topEvent{expr, "SELECT count(*) FROM (" + groups + ") m"})
	default:
		// Under any or not every customer needs a count: one grouped pass
		// over the events, hash-joined, rather than a probe per customer.
		count := "coalesce(" + sc.join("SELECT e.customer_id, count(*) AS n FROM events e WHERE "+filter+" GROUP BY e.customer_id") + ".n, 0)"
		if hi >= 0 {
			expr = "(" + count + " BETWEEN " + sc.arg(lo, "bigint") + " AND " + sc.arg(hi, "bigint") + ")"
		} else {
			expr = "(" + count + " >= " + sc.arg(lo, "bigint") + ")"
		}
	}
	if negate {
		return "(NOT " + expr + ")", nil
	}
	return expr, nil
}

// segment compiles a membership test: a manual segment's member table, or
// the referenced dynamic segment's condition inlined.
func (sc *segmentCompiler) segment(n *condNode, top bool) (string, error) {
	path := joinCondPath(n.path, "segment")
	if slices.Contains(sc.stack, n.name) {
		cycle := append(sc.stack[slices.Index(sc.stack, n.name):len(sc.stack):len(sc.stack)], n.name)
		return "", conditionErr(path, "segments reference each other in a cycle: %s", strings.Join(cycle, " → "))
	}
	seg, err := sc.load(n.name)
	if errors.Is(err, ErrNotFound) {
		return "", conditionErr(path, "unknown segment %q", n.name)
	}
	if err != nil {
		return "", err
	}
	negate := n.op == "not_member"
	var expr string
	if seg.Kind == SegmentManual {
		if err := sc.leaf(n); err != nil {
			return "", err
		}
		members := "m.workspace_id = $1 AND m.segment_id = " + sc.arg(seg.ID, "text") + " AND m.left_at IS NULL"
		if (top && !negate) || sc.probe {
			expr = "(EXISTS (SELECT 1 FROM segment_members m WHERE m.customer_id = c.id AND " + members + "))"
		} else {
			expr = "(" + sc.join("SELECT m.customer_id FROM segment_members m WHERE "+members) + ".customer_id IS NOT NULL)"
		}
	} else {
		if len(sc.stack) >= maxSegmentNesting {
			return "", conditionErr(path, "segments reference each other more than %d deep", maxSegmentNesting)
		}
		inner, err := parseSegmentCondition(seg.Condition, "condition")
		if err == nil {
			sc.stack = append(sc.stack, seg.ID)
			expr, err = sc.node(inner, top && !negate)
			sc.stack = sc.stack[:len(sc.stack)-1]
		}
		var ce *SegmentError
		if errors.As(err, &ce) {
			return "", conditionErr(path, "in segment %s (%q): %s", seg.ID, seg.Name, ce.Error())
		}
		if err != nil {
			return "", err
		}
	}
	if negate {
		return "(NOT " + expr + ")", nil
	}
	return expr, nil
}

func (sc *segmentCompiler) load(id string) (Segment, error) {
	if seg, ok := sc.loaded[id]; ok {
		return seg, nil
	}
	seg, err := getSegment(sc.ctx, sc.q, sc.args[0].(string), id)
	if err != nil {
		return Segment{}, err
	}
	sc.loaded[id] = seg
	return seg, nil
}
