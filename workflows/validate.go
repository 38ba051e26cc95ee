package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/activities"
)

// ValidationError is one problem in a journey definition, named precisely
// enough for the canvas to highlight it: the node (empty for journey-level
// fields) and the field inside it, e.g. node "wait", field "timeout", or
// field "trigger.where.all[1].op".
type ValidationError struct {
	Node    string `json:"node,omitempty"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error reads `node "id": field: message`, or `field: message` for
// journey-level fields.
func (e ValidationError) Error() string {
	if e.Node != "" {
		return fmt.Sprintf("node %q: %s: %s", e.Node, e.Field, e.Message)
	}
	return e.Field + ": " + e.Message
}

// ValidationErrors is every problem found in a journey, in a stable order:
// journey-level fields first, then nodes in definition order, each sorted by
// field.
type ValidationErrors []ValidationError

// Error joins every error with "; ".
func (e ValidationErrors) Error() string {
	msgs := make([]string, len(e))
	for i, v := range e {
		msgs[i] = v.Error()
	}
	return strings.Join(msgs, "; ")
}

// Err returns the errors as an error, or nil when there are none. Use it
// rather than assigning a ValidationErrors to an error variable, which would
// be non-nil even for an empty list.
func (e ValidationErrors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// nodeTypes lists the node types of DESIGN §5.
func nodeTypes() []string {
	return []string{"send", "delay", "wait_for_event", "branch", "split", "time_window", "update_customer", "jump", "exit"}
}

// waitNodeType reports whether a node type waits durably, which is what
// makes a cycle through it safe.
func waitNodeType(t string) bool {
	return t == "delay" || t == "wait_for_event" || t == "time_window"
}

// ValidateJourney checks a journey definition as DESIGN §5 requires at save
// and publish, and returns every problem found (nil when it is valid).
// templates maps template id to channel; a nil map skips the template
// checks (existence and channel), for callers that cannot look them up.
//
// Time zone names are checked with time.LoadLocation, so the process must
// have zone data: the herald binary should import time/tzdata so the answer
// does not depend on the host. "Local" is refused. This is validation only;
// workflow code paths do not load zones through here.
func ValidateJourney(j Journey, templates map[string]string) ValidationErrors {
	v := &journeyValidator{templates: templates}
	v.journey(j)
	v.nodes(j)
	if len(v.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(v.errs, func(a, b indexedError) int {
		if a.node != b.node {
			return a.node - b.node
		}
		return naturalCompare(a.err.Field, b.err.Field)
	})
	out := make(ValidationErrors, len(v.errs))
	for i, e := range v.errs {
		out[i] = e.err
	}
	return out
}

type indexedError struct {
	node int // index in Journey.Nodes; -1 for journey-level fields
	err  ValidationError
}

type journeyValidator struct {
	templates map[string]string
	errs      []indexedError
	nodeIDs   []string // Node per index; "" when the node has no id
}

// add records a journey-level error.
func (v *journeyValidator) add(field, format string, args ...any) {
	v.errs = append(v.errs, indexedError{node: -1, err: ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}})
}

// addNode records an error on node i. A node without an id is named by its
// position in the field instead.
func (v *journeyValidator) addNode(i int, field, format string, args ...any) {
	e := ValidationError{Node: v.nodeIDs[i], Field: field, Message: fmt.Sprintf(format, args...)}
	if e.Node == "" {
		e.Field = fmt.Sprintf("nodes[%d].%s", i, field)
	}
	v.errs = append(v.errs, indexedError{node: i, err: e})
}

// condition validates an optional condition; node is -1 for journey level.
func (v *journeyValidator) condition(node int, raw json.RawMessage, scope ConditionScope, path string) {
	err := ValidateCondition(raw, scope, path)
	if err == nil {
		return
	}
	field, msg := path, err.Error()
	var ce *ConditionError
	if errors.As(err, &ce) {
		field, msg = ce.Path, ce.Message
	}
	if node < 0 {
		v.add(field, "%s", msg)
	} else {
		v.addNode(node, field, "%s", msg)
	}
}

func (v *journeyValidator) journey(j Journey) {
	if strings.TrimSpace(j.Name) == "" {
		v.add("name", "is required")
	}

	t := j.Trigger
	switch t.Type {
	case "":
		v.add("trigger.type", "is required; one of event, segment, api, schedule")
	case "event":
		if strings.TrimSpace(t.Event) == "" {
			v.add("trigger.event", "is required for an event trigger")
		}
		if !isAbsent(t.Where) {
			v.condition(-1, t.Where, ScopeFilter, "trigger.where")
		}
	case "segment":
		if strings.TrimSpace(t.SegmentID) == "" {
			v.add("trigger.segment_id", "is required for a segment trigger")
		}
	case "api":
	case "schedule":
		if strings.TrimSpace(t.Cron) == "" {
			v.add("trigger.cron", "is required for a schedule trigger, e.g. \"0 9 * * mon\"")
		} else if err := checkCron(t.Cron); err != nil {
			v.add("trigger.cron", "%s", err.Error())
		}
		if strings.TrimSpace(t.SegmentID) == "" {
			v.add("trigger.segment_id", "is required for a schedule trigger: it names who is enrolled")
		}
	default:
		v.add("trigger.type", "unknown trigger type %q; expected event, segment, api or schedule", t.Type)
	}
	if t.Timezone != "" {
		if err := checkTimezone(t.Timezone); err != nil {
			v.add("trigger.timezone", "%s", err.Error())
		}
	}
	if t.EnrollPerSecond < 0 {
		v.add("trigger.enroll_per_second", "must not be negative (0 means no limit)")
	}

	e := j.Entry
	switch e.Policy {
	case "":
		v.add("entry.policy", "is required; one of once, every_time, once_per")
	case "once", "every_time":
	case "once_per":
		if e.Period == "" {
			v.add("entry.period", "is required for once_per, e.g. \"30d\"")
		} else if _, err := ParseDuration(e.Period); err != nil {
			v.add("entry.period", "%s", err.Error())
		}
	default:
		v.add("entry.policy", "unknown entry policy %q; expected once, every_time or once_per", e.Policy)
	}
	if e.Key != "" {
		rest, ok := strings.CutPrefix(e.Key, "properties.")
		if !ok || !validPath(rest) {
			v.add("entry.key", "must be an event property path such as \"properties.order_id\", got %q", e.Key)
		}
	}
	if e.MaxConcurrent < 0 {
		v.add("entry.max_concurrent", "must be 0 (no limit) or more, got %d", e.MaxConcurrent)
	}

	for i, x := range j.ExitOn {
		if strings.TrimSpace(x.Event) == "" {
			v.add(fmt.Sprintf("exit_on[%d].event", i), "is required")
		}
		if !isAbsent(x.Where) {
			v.condition(-1, x.Where, ScopeFilter, fmt.Sprintf("exit_on[%d].where", i))
		}
	}

	if g := j.Goal; g != nil {
		if strings.TrimSpace(g.Event) == "" {
			v.add("goal.event", "is required")
		}
		if g.Within != "" {
			if _, err := ParseDuration(g.Within); err != nil {
				v.add("goal.within", "%s", err.Error())
			}
		}
	}

	if q := j.Settings.QuietHours; q != nil {
		okStart, okEnd := validClock(q.Start), validClock(q.End)
		if !okStart {
			v.add("settings.quiet_hours.start", "%s", clockMessage(q.Start))
		}
		if !okEnd {
			v.add("settings.quiet_hours.end", "%s", clockMessage(q.End))
		}
		if okStart && okEnd && q.Start == q.End {
			v.add("settings.quiet_hours.end", "equals start; quiet hours need a window")
		}
	}
	if j.Settings.SendRatePerMinute < 0 {
		v.add("settings.send_rate_per_minute", "must be 0 (no limit) or more, got %d", j.Settings.SendRatePerMinute)
	}
}

// nodeEdge is one way out of a node: the field that holds it and the target id.
type nodeEdge struct {
	field string
	to    string
}

// nodeEdges lists the ways out of a node that its type uses, all required.
func nodeEdges(n Node) []nodeEdge {
	switch n.Type {
	case "send", "delay", "time_window", "update_customer":
		return []nodeEdge{{"next", n.Next}}
	case "wait_for_event":
		return []nodeEdge{{"on_event", n.OnEvent}, {"on_timeout", n.OnTimeout}}
	case "branch":
		var out []nodeEdge
		for i, b := range n.Branches {
			out = append(out, nodeEdge{fmt.Sprintf("branches[%d].next", i), b.Next})
		}
		return append(out, nodeEdge{"else", n.Else})
	case "split":
		var out []nodeEdge
		for i, s := range n.Variants {
			out = append(out, nodeEdge{fmt.Sprintf("variants[%d].next", i), s.Next})
		}
		return out
	case "jump":
		return []nodeEdge{{"to", n.To}}
	}
	return nil
}

func (v *journeyValidator) nodes(j Journey) {
	v.nodeIDs = make([]string, len(j.Nodes))
	index := map[string]int{}
	for i, n := range j.Nodes {
		v.nodeIDs[i] = n.ID
		if strings.TrimSpace(n.ID) == "" {
			v.nodeIDs[i] = ""
			v.addNode(i, "id", "is required")
			continue
		}
		if first, dup := index[n.ID]; dup {
			v.addNode(i, "id", "duplicate node id; nodes[%d] has it too", first)
			continue
		}
		index[n.ID] = i
	}

	if len(j.Nodes) == 0 {
		v.add("nodes", "a journey needs at least one node")
	}
	startOK := false
	switch {
	case j.Start == "":
		v.add("start", "is required")
	default:
		if _, ok := index[j.Start]; ok {
			startOK = true
		} else {
			v.add("start", "names node %q, which does not exist", j.Start)
		}
	}

	// Edges between existing nodes, by node index, for the graph checks.
	adj := make([][]int, len(j.Nodes))
	adjField := make([][]string, len(j.Nodes))
	for i, n := range j.Nodes {
		v.node(i, n)
		for _, e := range nodeEdges(n) {
			if e.to == "" {
				v.addNode(i, e.field, "is required: where the run goes after this node")
				continue
			}
			t, ok := index[e.to]
			if !ok {
				v.addNode(i, e.field, "names node %q, which does not exist", e.to)
				continue
			}
			adj[i] = append(adj[i], t)
			adjField[i] = append(adjField[i], e.field)
		}
	}

	// Only first occurrences of an id take part in the graph: a duplicate
	// or id-less node cannot be reached by name and is already reported.
	canonical := func(i int) bool {
		id := j.Nodes[i].ID
		return strings.TrimSpace(id) != "" && index[id] == i
	}

	if startOK {
		seen := make([]bool, len(j.Nodes))
		queue := []int{index[j.Start]}
		seen[queue[0]] = true
		for len(queue) > 0 {
			i := queue[0]
			queue = queue[1:]
			for _, t := range adj[i] {
				if !seen[t] {
					seen[t] = true
					queue = append(queue, t)
				}
			}
		}
		for i := range j.Nodes {
			if !seen[i] && canonical(i) {
				v.addNode(i, "id", "is not reachable from start %q", j.Start)
			}
		}
	}

	v.cycles(j, adj, adjField, canonical)
}

// cycles reports each group of nodes that loop into one another without
// passing a delay, wait_for_event or time_window node — a run would spin
// without ever waiting. One error per group, on its first node.
func (v *journeyValidator) cycles(j Journey, adj [][]int, adjField [][]string, canonical func(int) bool) {
	n := len(j.Nodes)
	waitless := func(i int) bool { return canonical(i) && !waitNodeType(j.Nodes[i].Type) }
	// reach[i] holds the waitless nodes reachable from waitless node i in
	// one or more steps, along waitless nodes only.
	reach := make([][]bool, n)
	for i := range n {
		if !waitless(i) {
			continue
		}
		reach[i] = make([]bool, n)
		queue := []int{i}
		for len(queue) > 0 {
			k := queue[0]
			queue = queue[1:]
			for _, t := range adj[k] {
				if waitless(t) && !reach[i][t] {
					reach[i][t] = true
					queue = append(queue, t)
				}
			}
		}
	}
	reported := make([]bool, n)
	for i := range n {
		if reach[i] == nil || !reach[i][i] || reported[i] {
			continue
		}
		for k := range n {
			if reach[i][k] && reach[k] != nil && reach[k][i] {
				reported[k] = true
			}
		}
		path, field := shortestCycle(i, adj, adjField, waitless)
		names := make([]string, len(path))
		for p, k := range path {
			names[p] = j.Nodes[k].ID
		}
		v.addNode(i, field, "loops back without a delay, wait_for_event or time_window: %s", strings.Join(names, " → "))
	}
}

// shortestCycle finds the shortest loop from start back to itself through
// waitless nodes, and the field of start that begins it.
func shortestCycle(start int, adj [][]int, adjField [][]string, waitless func(int) bool) ([]int, string) {
	parent := map[int]int{}
	queue := []int{}
	for _, t := range adj[start] {
		if !waitless(t) {
			continue
		}
		if t == start {
			return []int{start, start}, fieldTo(start, t, adj, adjField)
		}
		if _, ok := parent[t]; !ok {
			parent[t] = start
			queue = append(queue, t)
		}
	}
	for len(queue) > 0 {
		k := queue[0]
		queue = queue[1:]
		for _, t := range adj[k] {
			if !waitless(t) {
				continue
			}
			if t == start {
				path := []int{start}
				for x := k; x != start; x = parent[x] {
					path = append(path, x)
				}
				path = append(path, start)
				// path is start, k, ..., first, start reversed in the middle.
				slices.Reverse(path[1 : len(path)-1])
				return path, fieldTo(start, path[1], adj, adjField)
			}
			if _, ok := parent[t]; !ok {
				parent[t] = k
				queue = append(queue, t)
			}
		}
	}
	return []int{start}, "next"
}

func fieldTo(from, to int, adj [][]int, adjField [][]string) string {
	for k, t := range adj[from] {
		if t == to {
			return adjField[from][k]
		}
	}
	return "next"
}

// node checks one node's own fields; references are checked by nodes.
func (v *journeyValidator) node(i int, n Node) {
	if n.Type == "" {
		v.addNode(i, "type", "is required; one of %s", strings.Join(nodeTypes(), ", "))
		return
	}
	if !slices.Contains(nodeTypes(), n.Type) {
		v.addNode(i, "type", "unknown node type %q; expected one of %s", n.Type, strings.Join(nodeTypes(), ", "))
		return
	}
	if n.Next != "" {
		switch n.Type {
		case "exit":
			v.addNode(i, "next", "an exit node ends the run and takes no next")
		case "wait_for_event":
			v.addNode(i, "next", "is not used by wait_for_event; set on_event and on_timeout")
		case "branch":
			v.addNode(i, "next", "is not used by branch; set each branch's next and else")
		case "split":
			v.addNode(i, "next", "is not used by split; set each variant's next")
		case "jump":
			v.addNode(i, "next", "is not used by jump; set to")
		}
	}

	switch n.Type {
	case "send":
		v.send(i, n)
	case "delay":
		v.delay(i, n)
	case "wait_for_event":
		if strings.TrimSpace(n.Event) == "" {
			v.addNode(i, "event", "is required")
		}
		if !isAbsent(n.Where) {
			v.condition(i, n.Where, ScopeFilter, "where")
		}
		if n.Timeout == "" {
			v.addNode(i, "timeout", "is required, e.g. \"48h\"")
		} else if _, err := ParseDuration(n.Timeout); err != nil {
			v.addNode(i, "timeout", "%s", err.Error())
		}
	case "branch":
		if len(n.Branches) == 0 {
			v.addNode(i, "branches", "needs at least one branch")
		}
		for k, b := range n.Branches {
			v.condition(i, b.When, ScopeBranch, fmt.Sprintf("branches[%d].when", k))
		}
	case "split":
		v.split(i, n)
	case "time_window":
		v.timeWindow(i, n)
	case "update_customer":
		v.updateCustomer(i, n)
	}
}

func (v *journeyValidator) send(i int, n Node) {
	channelOK := false
	switch n.Channel {
	case "email", "sms", "webhook":
		channelOK = true
	case "":
		v.addNode(i, "channel", "is required; one of email, sms, webhook")
	default:
		v.addNode(i, "channel", "unknown channel %q; expected email, sms or webhook", n.Channel)
	}
	if n.TemplateID == "" {
		v.addNode(i, "template_id", "is required")
		return
	}
	if v.templates == nil {
		return
	}
	ch, ok := v.templates[n.TemplateID]
	switch {
	case !ok:
		v.addNode(i, "template_id", "template %q does not exist", n.TemplateID)
	case channelOK && ch != n.Channel:
		v.addNode(i, "template_id", "template %q is for %s, but this node sends %s", n.TemplateID, ch, n.Channel)
	}
}

func (v *journeyValidator) delay(i int, n Node) {
	var set []string
	for _, f := range []struct{ name, val string }{{"duration", n.Duration}, {"until", n.Until}, {"at", n.At}} {
		if f.val != "" {
			set = append(set, f.name)
		}
	}
	switch len(set) {
	case 0:
		v.addNode(i, "duration", "a delay needs one of duration, until or at")
	case 1:
	default:
		for _, f := range set[1:] {
			v.addNode(i, f, "a delay takes only one of duration, until or at; %s is also set", set[0])
		}
	}
	if n.Duration != "" {
		if _, err := ParseDuration(n.Duration); err != nil {
			v.addNode(i, "duration", "%s", err.Error())
		}
	}
	if n.Until != "" {
		switch {
		case !validPath(n.Until):
			v.addNode(i, "until", "%q is not an attribute path; use names separated by single dots, e.g. \"trial_ends_at\"", n.Until)
		case builtinAttribute(n.Until) && n.Until != "created_at":
			v.addNode(i, "until", "built-in field %q does not hold a time", n.Until)
		}
	}
	if n.Offset != "" {
		if n.Until == "" {
			v.addNode(i, "offset", "applies only to until")
		}
		if _, err := ParseOffset(n.Offset); err != nil {
			v.addNode(i, "offset", "%s", err.Error())
		}
	}
	if n.At != "" && !validClock(n.At) {
		v.addNode(i, "at", "%s", clockMessage(n.At))
	}
}

func (v *journeyValidator) split(i int, n Node) {
	if len(n.Variants) < 2 {
		v.addNode(i, "variants", "a split needs at least 2 variants, got %d", len(n.Variants))
	}
	names := map[string]int{}
	sum := 0
	for k, s := range n.Variants {
		switch first, dup := names[s.Name]; {
		case strings.TrimSpace(s.Name) == "":
			v.addNode(i, fmt.Sprintf("variants[%d].name", k), "is required")
		case dup:
			v.addNode(i, fmt.Sprintf("variants[%d].name", k), "duplicate variant name %q; variants[%d] has it too", s.Name, first)
		default:
			names[s.Name] = k
		}
		if s.Weight <= 0 {
			v.addNode(i, fmt.Sprintf("variants[%d].weight", k), "must be greater than 0, got %d", s.Weight)
		}
		sum += s.Weight
	}
	if len(n.Variants) > 0 && sum != 100 {
		v.addNode(i, "variants", "weights add up to %d; they must add up to 100", sum)
	}
}

func (v *journeyValidator) timeWindow(i int, n Node) {
	if len(n.Days) == 0 {
		v.addNode(i, "days", "needs at least one day of mon, tue, wed, thu, fri, sat, sun")
	}
	seen := map[string]bool{}
	for k, d := range n.Days {
		switch d {
		case "mon", "tue", "wed", "thu", "fri", "sat", "sun":
			if seen[d] {
				v.addNode(i, fmt.Sprintf("days[%d]", k), "%q is listed twice", d)
			}
			seen[d] = true
		default:
			v.addNode(i, fmt.Sprintf("days[%d]", k), "unknown day %q; expected mon, tue, wed, thu, fri, sat or sun", d)
		}
	}
	okFrom, okTo := validClock(n.From), validClock(n.To)
	if !okFrom {
		v.addNode(i, "from", "%s", clockMessage(n.From))
	}
	if !okTo {
		v.addNode(i, "to", "%s", clockMessage(n.To))
	}
	if okFrom && okTo && n.From == n.To {
		v.addNode(i, "to", "equals from; the window would be empty")
	}
	if n.Timezone != "" {
		if err := checkTimezone(n.Timezone); err != nil {
			v.addNode(i, "timezone", "%s", err.Error())
		}
	}
}

// fixedAttribute reports the built-in fields a journey may not write: the
// ids that identify the customer, and the creation time Herald records.
func fixedAttribute(name string) bool {
	return name == "id" || name == "external_id" || name == "created_at"
}

// liquidChecker parses the Liquid of update_customer values at save, as
// templates are checked when they are saved.
var liquidChecker = sync.OnceValue(activities.NewRenderer)

func (v *journeyValidator) updateCustomer(i int, n Node) {
	if len(n.Set) == 0 && len(n.Unset) == 0 {
		v.addNode(i, "set", "update_customer needs set or unset")
	}
	for _, k := range slices.Sorted(maps.Keys(n.Set)) {
		switch {
		case strings.TrimSpace(k) == "":
			v.addNode(i, "set", "has an empty attribute name")
		case fixedAttribute(k):
			v.addNode(i, "set."+k, "built-in %s cannot be changed", k)
		}
		if tpl, ok := n.Set[k].(string); ok && strings.Contains(tpl, "{") {
			if err := liquidChecker().Check(tpl); err != nil {
				v.addNode(i, "set."+k, "is not valid Liquid: %v", err)
			}
		}
	}
	for k, name := range n.Unset {
		field := fmt.Sprintf("unset[%d]", k)
		_, inSet := n.Set[name]
		switch {
		case strings.TrimSpace(name) == "":
			v.addNode(i, field, "is an empty attribute name")
		case fixedAttribute(name):
			v.addNode(i, field, "built-in %s cannot be changed", name)
		case inSet:
			v.addNode(i, field, "%q is also in set", name)
		}
	}
}

// validClock accepts a 24-hour "HH:MM".
func validClock(s string) bool {
	if len(s) != 5 || s[2] != ':' {
		return false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	return err1 == nil && err2 == nil && s[0] != '+' && s[3] != '+' && h >= 0 && h <= 23 && m >= 0 && m <= 59
}

func clockMessage(s string) string {
	if s == "" {
		return "is required, as HH:MM (24-hour), e.g. \"09:00\""
	}
	return fmt.Sprintf("%q is not a time of day; expected HH:MM (24-hour), e.g. \"09:00\"", s)
}

// checkTimezone accepts IANA zone names ("Europe/Paris", "UTC").
func checkTimezone(name string) error {
	if name == "Local" {
		return fmt.Errorf("%q is not a time zone name; use an IANA name such as \"Europe/Paris\"", name)
	}
	if _, err := time.LoadLocation(name); err != nil {
		return fmt.Errorf("unknown time zone %q; use an IANA name such as \"Europe/Paris\"", name)
	}
	return nil
}

// checkCron accepts a standard 5-field cron expression: minute, hour, day
// of month, month (1-12 or jan-dec), day of week (0-7 or sun-sat); each
// field a list of *, values or ranges, each optionally with /step.
func checkCron(expr string) error {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return fmt.Errorf("%q has %d fields; expected 5 (minute hour day-of-month month day-of-week), e.g. \"0 9 * * mon\"", expr, len(fields))
	}
	specs := []struct {
		name     string
		min, max int
		names    []string
		base     int
	}{
		{"minute", 0, 59, nil, 0},
		{"hour", 0, 23, nil, 0},
		{"day-of-month", 1, 31, nil, 0},
		{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}, 1},
		{"day-of-week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, 0},
	}
	for k, f := range fields {
		s := specs[k]
		value := func(x string) (int, bool) {
			if idx := slices.Index(s.names, strings.ToLower(x)); idx >= 0 {
				return idx + s.base, true
			}
			n, err := strconv.Atoi(x)
			return n, err == nil && n >= s.min && n <= s.max && x[0] != '+' && x[0] != '-'
		}
		for _, item := range strings.Split(f, ",") {
			rng, step, hasStep := strings.Cut(item, "/")
			bad := false
			if hasStep {
				n, err := strconv.Atoi(step)
				bad = err != nil || n < 1 || step[0] == '+'
			}
			if rng != "*" && !bad {
				lo, hi, isRange := strings.Cut(rng, "-")
				a, okA := value(lo)
				bad = !okA
				if isRange && !bad {
					b, okB := value(hi)
					bad = !okB || b < a
				}
			}
			if bad {
				return fmt.Errorf("%s field %q is not valid; expected *, a value %d-%d, a range or a list, optionally with /step", s.name, f, s.min, s.max)
			}
		}
	}
	return nil
}

// naturalCompare orders field names with their indexes compared as numbers,
// so "variants[2]" comes before "variants[10]".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da && db {
			ea, eb := digitRun(a), digitRun(b)
			na, nb := strings.TrimLeft(a[:ea], "0"), strings.TrimLeft(b[:eb], "0")
			if len(na) != len(nb) {
				return len(na) - len(nb)
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[ea:], b[eb:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitRun(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
