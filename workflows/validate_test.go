package workflows

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	// Zone names validate the same on every machine.
	_ "time/tzdata"
)

// welcomeJourney is the example of DESIGN §5.
const welcomeJourney = `{
  "name": "Welcome",
  "trigger": {"type": "event", "event": "Signed Up", "where": {"all": [{"prop": "plan", "op": "eq", "value": "pro"}]}},
  "entry": {"policy": "once"},
  "exit_on": [{"event": "Unsubscribed"}],
  "goal": {"event": "Activated", "within": "7d"},
  "settings": {"quiet_hours": {"start": "22:00", "end": "08:00"}, "send_rate_per_minute": 600},
  "start": "welcome",
  "nodes": [
    {"id": "welcome", "type": "send", "channel": "email", "template_id": "tpl_1", "next": "wait"},
    {"id": "wait", "type": "wait_for_event", "event": "Activated", "timeout": "48h",
     "on_event": "done", "on_timeout": "nudge"},
    {"id": "nudge", "type": "branch",
     "branches": [{"when": {"attr": "phone", "op": "exists"}, "next": "sms"}], "else": "done"},
    {"id": "sms", "type": "send", "channel": "sms", "template_id": "tpl_2", "next": "done"},
    {"id": "done", "type": "exit"}
  ]
}`

func welcome(t *testing.T) Journey {
	t.Helper()
	var j Journey
	require.NoError(t, json.Unmarshal([]byte(welcomeJourney), &j))
	return j
}

func testTemplates() map[string]string {
	return map[string]string{"tpl_1": "email", "tpl_2": "sms", "tpl_hook": "webhook"}
}

// node returns the node with id, for mutation.
func node(t *testing.T, j *Journey, id string) *Node {
	t.Helper()
	for i := range j.Nodes {
		if j.Nodes[i].ID == id {
			return &j.Nodes[i]
		}
	}
	t.Fatalf("no node %q", id)
	return nil
}

// insertAfterWelcome puts n between welcome and wait.
func insertAfterWelcome(t *testing.T, j *Journey, n Node) {
	node(t, j, "welcome").Next = n.ID
	if n.Next == "" && n.Type != "jump" && n.Type != "exit" {
		n.Next = "wait"
	}
	j.Nodes = append(j.Nodes, n)
}

func TestValidateJourneyValid(t *testing.T) {
	require.Nil(t, ValidateJourney(welcome(t), testTemplates()))
	require.Nil(t, ValidateJourney(welcome(t), nil))
	require.NoError(t, ValidateJourney(welcome(t), testTemplates()).Err())
}

func TestValidateJourneyRules(t *testing.T) {
	type verr = ValidationError
	for _, tc := range []struct {
		name string
		mut  func(t *testing.T, j *Journey)
		want []ValidationError // nil: valid
	}{
		// journey level
		{"name required", func(t *testing.T, j *Journey) { j.Name = "  " },
			[]verr{{Field: "name", Message: "is required"}}},
		{"trigger type required", func(t *testing.T, j *Journey) { j.Trigger = Trigger{} },
			[]verr{{Field: "trigger.type", Message: "is required; one of event, segment, api, schedule"}}},
		{"trigger type unknown", func(t *testing.T, j *Journey) { j.Trigger.Type = "webhook" },
			[]verr{{Field: "trigger.type", Message: `unknown trigger type "webhook"; expected event, segment, api or schedule`}}},
		{"event trigger needs event", func(t *testing.T, j *Journey) { j.Trigger.Event = "" },
			[]verr{{Field: "trigger.event", Message: "is required for an event trigger"}}},
		{"event trigger where op", func(t *testing.T, j *Journey) {
			j.Trigger.Where = json.RawMessage(`{"all":[{"prop":"plan","op":"equals","value":"pro"}]}`)
		}, []verr{{Field: "trigger.where.all[0].op", Message: `unknown operator "equals"; expected one of eq, ne, gt, gte, lt, lte, contains, not_contains, starts_with, in, not_in, exists, not_exists, before, after, within_last`}}},
		{"event trigger where is a filter", func(t *testing.T, j *Journey) {
			j.Trigger.Where = json.RawMessage(`{"all":[{"attr":"plan","op":"eq","value":"pro"}]}`)
		}, []verr{{Field: "trigger.where.all[0].attr", Message: "attr conditions are not allowed in a filter; filters test event properties (prop)"}}},
		{"event trigger where null is absent", func(t *testing.T, j *Journey) { j.Trigger.Where = json.RawMessage(`null`) }, nil},
		{"segment trigger", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "segment", SegmentID: "seg_1", IncludeExisting: true}
		}, nil},
		{"segment trigger needs segment_id", func(t *testing.T, j *Journey) { j.Trigger = Trigger{Type: "segment"} },
			[]verr{{Field: "trigger.segment_id", Message: "is required for a segment trigger"}}},
		{"api trigger", func(t *testing.T, j *Journey) { j.Trigger = Trigger{Type: "api"} }, nil},
		{"schedule trigger", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "*/15 8-18 1,15 jan-mar,DEC mon-fri", SegmentID: "seg_1", Timezone: "Europe/Paris"}
		}, nil},
		{"schedule trigger sunday as 7", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "0 9 * * 7", SegmentID: "seg_1", Timezone: "UTC"}
		}, nil},
		{"schedule trigger needs cron and segment", func(t *testing.T, j *Journey) { j.Trigger = Trigger{Type: "schedule"} },
			[]verr{
				{Field: "trigger.cron", Message: `is required for a schedule trigger, e.g. "0 9 * * mon"`},
				{Field: "trigger.segment_id", Message: "is required for a schedule trigger: it names who is enrolled"},
			}},
		{"schedule cron six fields", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "0 0 9 * * *", SegmentID: "seg_1"}
		}, []verr{{Field: "trigger.cron", Message: `"0 0 9 * * *" has 6 fields; expected 5 (minute hour day-of-month month day-of-week), e.g. "0 9 * * mon"`}}},
		{"schedule cron minute out of range", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "60 9 * * *", SegmentID: "seg_1"}
		}, []verr{{Field: "trigger.cron", Message: `minute field "60" is not valid; expected *, a value 0-59, a range or a list, optionally with /step`}}},
		{"schedule cron reversed range", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "0 9 * * fri-mon", SegmentID: "seg_1"}
		}, []verr{{Field: "trigger.cron", Message: `day-of-week field "fri-mon" is not valid; expected *, a value 0-7, a range or a list, optionally with /step`}}},
		{"schedule cron zero step", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "*/0 9 * * *", SegmentID: "seg_1"}
		}, []verr{{Field: "trigger.cron", Message: `minute field "*/0" is not valid; expected *, a value 0-59, a range or a list, optionally with /step`}}},
		{"schedule cron day of month zero", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "0 9 0 * *", SegmentID: "seg_1"}
		}, []verr{{Field: "trigger.cron", Message: `day-of-month field "0" is not valid; expected *, a value 1-31, a range or a list, optionally with /step`}}},
		{"schedule cron bad month name", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "0 9 * january *", SegmentID: "seg_1"}
		}, []verr{{Field: "trigger.cron", Message: `month field "january" is not valid; expected *, a value 1-12, a range or a list, optionally with /step`}}},
		{"schedule timezone unknown", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "0 9 * * *", SegmentID: "seg_1", Timezone: "Mars/Olympus"}
		}, []verr{{Field: "trigger.timezone", Message: `unknown time zone "Mars/Olympus"; use an IANA name such as "Europe/Paris"`}}},
		{"schedule timezone Local", func(t *testing.T, j *Journey) {
			j.Trigger = Trigger{Type: "schedule", Cron: "0 9 * * *", SegmentID: "seg_1", Timezone: "Local"}
		}, []verr{{Field: "trigger.timezone", Message: `"Local" is not a time zone name; use an IANA name such as "Europe/Paris"`}}},

		{"entry policy required", func(t *testing.T, j *Journey) { j.Entry = Entry{} },
			[]verr{{Field: "entry.policy", Message: "is required; one of once, every_time, once_per"}}},
		{"entry policy unknown", func(t *testing.T, j *Journey) { j.Entry.Policy = "always" },
			[]verr{{Field: "entry.policy", Message: `unknown entry policy "always"; expected once, every_time or once_per`}}},
		{"entry every_time keyed", func(t *testing.T, j *Journey) {
			j.Entry = Entry{Policy: "every_time", Key: "properties.order_id", MaxConcurrent: 3}
		}, nil},
		{"entry once_per", func(t *testing.T, j *Journey) { j.Entry = Entry{Policy: "once_per", Period: "30d"} }, nil},
		{"entry once_per needs period", func(t *testing.T, j *Journey) { j.Entry = Entry{Policy: "once_per"} },
			[]verr{{Field: "entry.period", Message: `is required for once_per, e.g. "30d"`}}},
		{"entry once_per period parses", func(t *testing.T, j *Journey) { j.Entry = Entry{Policy: "once_per", Period: "a month"} },
			[]verr{{Field: "entry.period", Message: `invalid duration "a month": expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`}}},
		{"entry key needs properties prefix", func(t *testing.T, j *Journey) { j.Entry.Key = "order_id" },
			[]verr{{Field: "entry.key", Message: `must be an event property path such as "properties.order_id", got "order_id"`}}},
		{"entry key needs a property", func(t *testing.T, j *Journey) { j.Entry.Key = "properties." },
			[]verr{{Field: "entry.key", Message: `must be an event property path such as "properties.order_id", got "properties."`}}},
		{"entry max_concurrent", func(t *testing.T, j *Journey) { j.Entry.MaxConcurrent = -1 },
			[]verr{{Field: "entry.max_concurrent", Message: "must be 0 (no limit) or more, got -1"}}},

		{"exit_on event required", func(t *testing.T, j *Journey) {
			j.ExitOn = append(j.ExitOn, ExitOn{Event: ""})
		}, []verr{{Field: "exit_on[1].event", Message: "is required"}}},
		{"exit_on where", func(t *testing.T, j *Journey) {
			j.ExitOn[0].Where = json.RawMessage(`{"prop":"reason","op":"in","value":"all"}`)
		}, []verr{{Field: "exit_on[0].where.value", Message: "in needs an array of strings, numbers or booleans"}}},

		{"goal optional", func(t *testing.T, j *Journey) { j.Goal = nil }, nil},
		{"goal without window", func(t *testing.T, j *Journey) { j.Goal.Within = "" }, nil},
		{"goal event required", func(t *testing.T, j *Journey) { j.Goal.Event = "" },
			[]verr{{Field: "goal.event", Message: "is required"}}},
		{"goal within parses", func(t *testing.T, j *Journey) { j.Goal.Within = "0d" },
			[]verr{{Field: "goal.within", Message: `invalid duration "0d": must be greater than zero; expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`}}},

		{"quiet hours clock", func(t *testing.T, j *Journey) { j.Settings.QuietHours = &QuietHours{Start: "24:00", End: "8:00"} },
			[]verr{
				{Field: "settings.quiet_hours.end", Message: `"8:00" is not a time of day; expected HH:MM (24-hour), e.g. "09:00"`},
				{Field: "settings.quiet_hours.start", Message: `"24:00" is not a time of day; expected HH:MM (24-hour), e.g. "09:00"`},
			}},
		{"quiet hours missing end", func(t *testing.T, j *Journey) { j.Settings.QuietHours.End = "" },
			[]verr{{Field: "settings.quiet_hours.end", Message: `is required, as HH:MM (24-hour), e.g. "09:00"`}}},
		{"quiet hours empty window", func(t *testing.T, j *Journey) { j.Settings.QuietHours = &QuietHours{Start: "08:00", End: "08:00"} },
			[]verr{{Field: "settings.quiet_hours.end", Message: "equals start; quiet hours need a window"}}},
		{"send rate", func(t *testing.T, j *Journey) { j.Settings.SendRatePerMinute = -5 },
			[]verr{{Field: "settings.send_rate_per_minute", Message: "must be 0 (no limit) or more, got -5"}}},

		// graph
		{"start required", func(t *testing.T, j *Journey) { j.Start = "" },
			[]verr{{Field: "start", Message: "is required"}}},
		{"start exists", func(t *testing.T, j *Journey) { j.Start = "hello" },
			[]verr{{Field: "start", Message: `names node "hello", which does not exist`}}},
		{"nodes required", func(t *testing.T, j *Journey) { j.Nodes = nil },
			[]verr{{Field: "nodes", Message: "a journey needs at least one node"}, {Field: "start", Message: `names node "welcome", which does not exist`}}},
		{"node id required", func(t *testing.T, j *Journey) { j.Nodes = append(j.Nodes, Node{Type: "exit", Next: "done"}) },
			[]verr{
				{Field: "nodes[5].id", Message: "is required"},
				{Field: "nodes[5].next", Message: "an exit node ends the run and takes no next"},
			}},
		{"node id unique", func(t *testing.T, j *Journey) { j.Nodes = append(j.Nodes, Node{ID: "sms", Type: "exit"}) },
			[]verr{{Node: "sms", Field: "id", Message: "duplicate node id; nodes[3] has it too"}}},
		{"unreachable node", func(t *testing.T, j *Journey) { j.Nodes = append(j.Nodes, Node{ID: "orphan", Type: "exit"}) },
			[]verr{{Node: "orphan", Field: "id", Message: `is not reachable from start "welcome"`}}},
		{"next exists", func(t *testing.T, j *Journey) { node(t, j, "sms").Next = "gone" },
			[]verr{{Node: "sms", Field: "next", Message: `names node "gone", which does not exist`}}},
		{"broken edge leaves the rest unreachable", func(t *testing.T, j *Journey) { node(t, j, "welcome").Next = "gone" },
			[]verr{
				{Node: "welcome", Field: "next", Message: `names node "gone", which does not exist`},
				{Node: "wait", Field: "id", Message: `is not reachable from start "welcome"`},
				{Node: "nudge", Field: "id", Message: `is not reachable from start "welcome"`},
				{Node: "sms", Field: "id", Message: `is not reachable from start "welcome"`},
				{Node: "done", Field: "id", Message: `is not reachable from start "welcome"`},
			}},
		{"cycle without a wait", func(t *testing.T, j *Journey) { node(t, j, "sms").Next = "nudge" },
			[]verr{{Node: "nudge", Field: "branches[0].next", Message: "loops back without a delay, wait_for_event or time_window: nudge → sms → nudge"}}},
		{"cycle through a wait", func(t *testing.T, j *Journey) { node(t, j, "sms").Next = "wait" }, nil},
		{"jump cycle through a delay", func(t *testing.T, j *Journey) {
			node(t, j, "sms").Next = "pause"
			j.Nodes = append(j.Nodes, Node{ID: "pause", Type: "delay", Duration: "1d", Next: "again"}, Node{ID: "again", Type: "jump", To: "nudge"})
		}, nil},
		{"jump to itself", func(t *testing.T, j *Journey) {
			node(t, j, "sms").Next = "loop"
			j.Nodes = append(j.Nodes, Node{ID: "loop", Type: "jump", To: "loop"})
		}, []verr{
			{Node: "loop", Field: "to", Message: "loops back without a delay, wait_for_event or time_window: loop → loop"},
		}},
		{"one error per cycle", func(t *testing.T, j *Journey) {
			node(t, j, "sms").Next = "j1"
			j.Nodes = append(j.Nodes, Node{ID: "j1", Type: "jump", To: "j2"}, Node{ID: "j2", Type: "jump", To: "j3"},
				Node{ID: "j3", Type: "jump", To: "j1"})
		}, []verr{
			{Node: "j1", Field: "to", Message: "loops back without a delay, wait_for_event or time_window: j1 → j2 → j3 → j1"},
		}},

		// node types
		{"type required", func(t *testing.T, j *Journey) { node(t, j, "done").Type = "" },
			[]verr{{Node: "done", Field: "type", Message: "is required; one of send, delay, wait_for_event, branch, split, time_window, update_customer, jump, exit"}}},
		{"type unknown", func(t *testing.T, j *Journey) { node(t, j, "done").Type = "finish" },
			[]verr{{Node: "done", Field: "type", Message: `unknown node type "finish"; expected one of send, delay, wait_for_event, branch, split, time_window, update_customer, jump, exit`}}},

		{"send needs next", func(t *testing.T, j *Journey) { node(t, j, "sms").Next = "" },
			[]verr{{Node: "sms", Field: "next", Message: "is required: where the run goes after this node"}}},
		{"send channel required", func(t *testing.T, j *Journey) { node(t, j, "welcome").Channel = "" },
			[]verr{{Node: "welcome", Field: "channel", Message: "is required; one of email, sms, webhook"}}},
		{"send channel unknown", func(t *testing.T, j *Journey) { node(t, j, "welcome").Channel = "push" },
			[]verr{{Node: "welcome", Field: "channel", Message: `unknown channel "push"; expected email, sms or webhook`}}},
		{"send template required", func(t *testing.T, j *Journey) { node(t, j, "welcome").TemplateID = "" },
			[]verr{{Node: "welcome", Field: "template_id", Message: "is required"}}},
		{"send template exists", func(t *testing.T, j *Journey) { node(t, j, "welcome").TemplateID = "tpl_9" },
			[]verr{{Node: "welcome", Field: "template_id", Message: `template "tpl_9" does not exist`}}},
		{"send template channel", func(t *testing.T, j *Journey) { node(t, j, "sms").TemplateID = "tpl_1" },
			[]verr{{Node: "sms", Field: "template_id", Message: `template "tpl_1" is for email, but this node sends sms`}}},
		{"send webhook", func(t *testing.T, j *Journey) {
			n := node(t, j, "sms")
			n.Channel, n.TemplateID = "webhook", "tpl_hook"
		}, nil},

		{"delay duration", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", Duration: "1d12h"})
		}, nil},
		{"delay until with offset", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", Until: "trial.ends_at", Offset: "-1d"})
		}, nil},
		{"delay until created_at", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", Until: "created_at", Offset: "+2d"})
		}, nil},
		{"delay at", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", At: "09:00"})
		}, nil},
		{"delay needs one", func(t *testing.T, j *Journey) { insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay"}) },
			[]verr{{Node: "pause", Field: "duration", Message: "a delay needs one of duration, until or at"}}},
		{"delay only one", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", Duration: "1d", Until: "renews_at", At: "09:00"})
		}, []verr{
			{Node: "pause", Field: "at", Message: "a delay takes only one of duration, until or at; duration is also set"},
			{Node: "pause", Field: "until", Message: "a delay takes only one of duration, until or at; duration is also set"},
		}},
		{"delay duration parses", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", Duration: "2 days"})
		}, []verr{{Node: "pause", Field: "duration", Message: `invalid duration "2 days": unknown unit " days"; expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`}}},
		{"delay until path", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", Until: "trial..ends"})
		}, []verr{{Node: "pause", Field: "until", Message: `"trial..ends" is not an attribute path; use names separated by single dots, e.g. "trial_ends_at"`}}},
		{"delay until built-in", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", Until: "email"})
		}, []verr{{Node: "pause", Field: "until", Message: `built-in field "email" does not hold a time`}}},
		{"delay offset parses", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", Until: "renews_at", Offset: "-1 hour"})
		}, []verr{{Node: "pause", Field: "offset", Message: `invalid offset "-1 hour": expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h", optionally signed (e.g. "-1h")`}}},
		{"delay offset needs until", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", Duration: "1h", Offset: "-1h"})
		}, []verr{{Node: "pause", Field: "offset", Message: "applies only to until"}}},
		{"delay at clock", func(t *testing.T, j *Journey) { insertAfterWelcome(t, j, Node{ID: "pause", Type: "delay", At: "9am"}) },
			[]verr{{Node: "pause", Field: "at", Message: `"9am" is not a time of day; expected HH:MM (24-hour), e.g. "09:00"`}}},

		{"wait event required", func(t *testing.T, j *Journey) { node(t, j, "wait").Event = "" },
			[]verr{{Node: "wait", Field: "event", Message: "is required"}}},
		{"wait where valid", func(t *testing.T, j *Journey) {
			node(t, j, "wait").Where = json.RawMessage(`{"prop":"source","op":"eq","value":"app"}`)
		}, nil},
		{"wait where is a filter", func(t *testing.T, j *Journey) {
			node(t, j, "wait").Where = json.RawMessage(`{"any":[{"prop":"source","op":"eq","value":"app"},{"segment":"seg_1"}]}`)
		}, []verr{{Node: "wait", Field: "where.any[1].segment", Message: "segment conditions are not allowed in a filter; filters test event properties (prop)"}}},
		{"wait timeout required", func(t *testing.T, j *Journey) { node(t, j, "wait").Timeout = "" },
			[]verr{{Node: "wait", Field: "timeout", Message: `is required, e.g. "48h"`}}},
		{"wait timeout parses", func(t *testing.T, j *Journey) { node(t, j, "wait").Timeout = "-48h" },
			[]verr{{Node: "wait", Field: "timeout", Message: `invalid duration "-48h": no sign allowed; expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`}}},
		{"wait on_event required", func(t *testing.T, j *Journey) { node(t, j, "wait").OnEvent = "" },
			[]verr{{Node: "wait", Field: "on_event", Message: "is required: where the run goes after this node"}}},
		{"wait on_timeout exists", func(t *testing.T, j *Journey) { node(t, j, "wait").OnTimeout = "later" },
			[]verr{
				{Node: "wait", Field: "on_timeout", Message: `names node "later", which does not exist`},
				{Node: "nudge", Field: "id", Message: `is not reachable from start "welcome"`},
				{Node: "sms", Field: "id", Message: `is not reachable from start "welcome"`},
			}},
		{"wait takes no next", func(t *testing.T, j *Journey) { node(t, j, "wait").Next = "done" },
			[]verr{{Node: "wait", Field: "next", Message: "is not used by wait_for_event; set on_event and on_timeout"}}},

		{"branch needs branches", func(t *testing.T, j *Journey) { node(t, j, "nudge").Branches = nil },
			[]verr{
				{Node: "nudge", Field: "branches", Message: "needs at least one branch"},
				{Node: "sms", Field: "id", Message: `is not reachable from start "welcome"`},
			}},
		{"branch when required", func(t *testing.T, j *Journey) { node(t, j, "nudge").Branches[0].When = nil },
			[]verr{{Node: "nudge", Field: "branches[0].when", Message: "condition is required"}}},
		{"branch when scope", func(t *testing.T, j *Journey) {
			node(t, j, "nudge").Branches[0].When = json.RawMessage(`{"event":"Purchased","op":"performed"}`)
		}, []verr{{Node: "nudge", Field: "branches[0].when.event", Message: "event conditions are only allowed in segments; use a segment condition in a branch"}}},
		{"branch when segment and prop", func(t *testing.T, j *Journey) {
			n := node(t, j, "nudge")
			n.Branches = append(n.Branches, Branch{When: json.RawMessage(`{"all":[{"segment":"vip"},{"prop":"plan","op":"eq","value":"pro"}]}`), Next: "done"})
		}, nil},
		{"branch next required", func(t *testing.T, j *Journey) { node(t, j, "nudge").Branches[0].Next = "" },
			[]verr{
				{Node: "nudge", Field: "branches[0].next", Message: "is required: where the run goes after this node"},
				{Node: "sms", Field: "id", Message: `is not reachable from start "welcome"`},
			}},
		{"branch else required", func(t *testing.T, j *Journey) { node(t, j, "nudge").Else = "" },
			[]verr{{Node: "nudge", Field: "else", Message: "is required: where the run goes after this node"}}},
		{"branch else exists", func(t *testing.T, j *Journey) { node(t, j, "nudge").Else = "gone" },
			[]verr{{Node: "nudge", Field: "else", Message: `names node "gone", which does not exist`}}},
		{"branch takes no next", func(t *testing.T, j *Journey) { node(t, j, "nudge").Next = "done" },
			[]verr{{Node: "nudge", Field: "next", Message: "is not used by branch; set each branch's next and else"}}},

		{"split", func(t *testing.T, j *Journey) {
			*node(t, j, "nudge") = Node{ID: "nudge", Type: "split", Variants: []Variant{{"sms", 30, "sms"}, {"control", 70, "done"}}}
		}, nil},
		{"split needs two variants", func(t *testing.T, j *Journey) {
			*node(t, j, "nudge") = Node{ID: "nudge", Type: "split", Variants: []Variant{{"sms", 100, "sms"}}}
		}, []verr{{Node: "nudge", Field: "variants", Message: "a split needs at least 2 variants, got 1"}}},
		{"split no variants", func(t *testing.T, j *Journey) {
			*node(t, j, "nudge") = Node{ID: "nudge", Type: "split"}
		}, []verr{
			{Node: "nudge", Field: "variants", Message: "a split needs at least 2 variants, got 0"},
			{Node: "sms", Field: "id", Message: `is not reachable from start "welcome"`},
		}},
		{"split names", func(t *testing.T, j *Journey) {
			*node(t, j, "nudge") = Node{ID: "nudge", Type: "split", Variants: []Variant{{"a", 25, "sms"}, {"", 25, "done"}, {"a", 50, "done"}}}
		}, []verr{
			{Node: "nudge", Field: "variants[1].name", Message: "is required"},
			{Node: "nudge", Field: "variants[2].name", Message: `duplicate variant name "a"; variants[0] has it too`},
		}},
		{"split weights", func(t *testing.T, j *Journey) {
			*node(t, j, "nudge") = Node{ID: "nudge", Type: "split", Variants: []Variant{{"a", 0, "sms"}, {"b", 90, "done"}}}
		}, []verr{
			{Node: "nudge", Field: "variants", Message: "weights add up to 90; they must add up to 100"},
			{Node: "nudge", Field: "variants[0].weight", Message: "must be greater than 0, got 0"},
		}},
		{"split variant next", func(t *testing.T, j *Journey) {
			*node(t, j, "nudge") = Node{ID: "nudge", Type: "split", Variants: []Variant{{"a", 50, "sms"}, {"b", 50, "gone"}}}
		}, []verr{{Node: "nudge", Field: "variants[1].next", Message: `names node "gone", which does not exist`}}},
		{"split takes no next", func(t *testing.T, j *Journey) {
			*node(t, j, "nudge") = Node{ID: "nudge", Type: "split", Next: "sms", Variants: []Variant{{"a", 50, "sms"}, {"b", 50, "done"}}}
		}, []verr{{Node: "nudge", Field: "next", Message: "is not used by split; set each variant's next"}}},

		{"time_window", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "hours", Type: "time_window", Days: []string{"mon", "fri"}, From: "22:00", To: "06:00", Timezone: "America/New_York"})
		}, nil},
		{"time_window days required", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "hours", Type: "time_window", From: "09:00", To: "17:00"})
		}, []verr{{Node: "hours", Field: "days", Message: "needs at least one day of mon, tue, wed, thu, fri, sat, sun"}}},
		{"time_window days known and unique", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "hours", Type: "time_window", Days: []string{"mon", "Tuesday", "mon"}, From: "09:00", To: "17:00"})
		}, []verr{
			{Node: "hours", Field: "days[1]", Message: `unknown day "Tuesday"; expected mon, tue, wed, thu, fri, sat or sun`},
			{Node: "hours", Field: "days[2]", Message: `"mon" is listed twice`},
		}},
		{"time_window clocks", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "hours", Type: "time_window", Days: []string{"mon"}, From: "9:00", To: ""})
		}, []verr{
			{Node: "hours", Field: "from", Message: `"9:00" is not a time of day; expected HH:MM (24-hour), e.g. "09:00"`},
			{Node: "hours", Field: "to", Message: `is required, as HH:MM (24-hour), e.g. "09:00"`},
		}},
		{"time_window empty", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "hours", Type: "time_window", Days: []string{"mon"}, From: "09:00", To: "09:00"})
		}, []verr{{Node: "hours", Field: "to", Message: "equals from; the window would be empty"}}},
		{"time_window timezone", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "hours", Type: "time_window", Days: []string{"mon"}, From: "09:00", To: "17:00", Timezone: "CEST+2"})
		}, []verr{{Node: "hours", Field: "timezone", Message: `unknown time zone "CEST+2"; use an IANA name such as "Europe/Paris"`}}},

		{"update_customer", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "tag", Type: "update_customer", Set: map[string]any{"plan": "{{ event.properties.plan }}", "email": "x@example.com"}, Unset: []string{"trial"}})
		}, nil},
		{"update_customer needs set or unset", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "tag", Type: "update_customer"})
		}, []verr{{Node: "tag", Field: "set", Message: "update_customer needs set or unset"}}},
		{"update_customer keys", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "tag", Type: "update_customer",
				Set:   map[string]any{"id": "x", "": 1, "plan": "pro", "created_at": "2020-01-01T00:00:00Z"},
				Unset: []string{"external_id", "", "plan"}})
		}, []verr{
			{Node: "tag", Field: "set", Message: "has an empty attribute name"},
			{Node: "tag", Field: "set.created_at", Message: "built-in created_at cannot be changed"},
			{Node: "tag", Field: "set.id", Message: "built-in id cannot be changed"},
			{Node: "tag", Field: "unset[0]", Message: "built-in external_id cannot be changed"},
			{Node: "tag", Field: "unset[1]", Message: "is an empty attribute name"},
			{Node: "tag", Field: "unset[2]", Message: `"plan" is also in set`},
		}},
		{"update_customer Liquid", func(t *testing.T, j *Journey) {
			insertAfterWelcome(t, j, Node{ID: "tag", Type: "update_customer", Set: map[string]any{"x": "{{ oops", "y": "{{ customer.email | upcase }}"}})
		}, []verr{{Node: "tag", Field: "set.x", Message: "is not valid Liquid: line 1: {{ is not closed"}}},
		{"update_customer needs next", func(t *testing.T, j *Journey) {
			j.Nodes = append(j.Nodes, Node{ID: "tag", Type: "update_customer", Set: map[string]any{"a": 1}})
			node(t, j, "sms").Next = "tag"
		}, []verr{{Node: "tag", Field: "next", Message: "is required: where the run goes after this node"}}},

		{"jump", func(t *testing.T, j *Journey) {
			node(t, j, "sms").Next = "back"
			j.Nodes = append(j.Nodes, Node{ID: "back", Type: "jump", To: "wait"})
		}, nil},
		{"jump to required", func(t *testing.T, j *Journey) {
			node(t, j, "sms").Next = "back"
			j.Nodes = append(j.Nodes, Node{ID: "back", Type: "jump"})
		}, []verr{{Node: "back", Field: "to", Message: "is required: where the run goes after this node"}}},
		{"jump to exists", func(t *testing.T, j *Journey) {
			node(t, j, "sms").Next = "back"
			j.Nodes = append(j.Nodes, Node{ID: "back", Type: "jump", To: "gone"})
		}, []verr{{Node: "back", Field: "to", Message: `names node "gone", which does not exist`}}},
		{"jump takes no next", func(t *testing.T, j *Journey) {
			node(t, j, "sms").Next = "back"
			j.Nodes = append(j.Nodes, Node{ID: "back", Type: "jump", To: "done", Next: "done"})
		}, []verr{{Node: "back", Field: "next", Message: "is not used by jump; set to"}}},

		{"exit takes no next", func(t *testing.T, j *Journey) { node(t, j, "done").Next = "welcome" },
			[]verr{{Node: "done", Field: "next", Message: "an exit node ends the run and takes no next"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := welcome(t)
			tc.mut(t, &j)
			got := ValidateJourney(j, testTemplates())
			if len(tc.want) == 0 {
				require.Nil(t, got)
				return
			}
			require.Equal(t, ValidationErrors(tc.want), got)
		})
	}
}

func TestValidateJourneyWithoutTemplates(t *testing.T) {
	j := welcome(t)
	node(t, &j, "welcome").TemplateID = "tpl_9"
	node(t, &j, "sms").TemplateID = "tpl_1"
	require.Nil(t, ValidateJourney(j, nil), "a nil template map skips template checks")
	require.Len(t, ValidateJourney(j, map[string]string{}), 2, "an empty map means no template exists")
}

// All errors come back at once, journey-level first, then by node order,
// then by field, with indexes compared as numbers.
func TestValidateJourneyOrder(t *testing.T) {
	j := welcome(t)
	j.Name = ""
	j.Entry.Policy = "sometimes"
	node(t, &j, "sms").Channel = "fax"
	node(t, &j, "welcome").TemplateID = ""
	node(t, &j, "welcome").Channel = ""
	*node(t, &j, "nudge") = Node{ID: "nudge", Type: "split", Variants: []Variant{
		{"v0", 10, "sms"}, {"v1", 10, "done"}, {"", 10, "done"}, {"v3", 10, "done"}, {"v4", 10, "done"},
		{"v5", 10, "done"}, {"v6", 10, "done"}, {"v7", 10, "done"}, {"v8", 10, "done"}, {"v9", 5, "done"},
		{"v10", 5, "gone"}, {"v1", 0, "done"},
	}}
	got := ValidateJourney(j, testTemplates())
	var fields []string
	for _, e := range got {
		fields = append(fields, e.Node+"/"+e.Field)
	}
	require.Equal(t, []string{
		"/entry.policy",
		"/name",
		"welcome/channel",
		"welcome/template_id",
		"nudge/variants[2].name",
		"nudge/variants[10].next",
		"nudge/variants[11].name",
		"nudge/variants[11].weight",
		"sms/channel",
	}, fields)
	// Stable: the same input gives the same output.
	for range 20 {
		require.Equal(t, got, ValidateJourney(j, testTemplates()))
	}
}

func TestValidationErrorsAsError(t *testing.T) {
	j := welcome(t)
	j.Name = ""
	node(t, &j, "welcome").TemplateID = "tpl_9"
	errs := ValidateJourney(j, testTemplates())
	require.EqualError(t, errs, `name: is required; node "welcome": template_id: template "tpl_9" does not exist`)
	require.Error(t, errs.Err())

	b, err := json.Marshal(errs)
	require.NoError(t, err)
	require.JSONEq(t, `[{"field":"name","message":"is required"},{"node":"welcome","field":"template_id","message":"template \"tpl_9\" does not exist"}]`, string(b))

	var none ValidationErrors
	require.NoError(t, none.Err())
}

func TestCheckCron(t *testing.T) {
	for _, ok := range []string{"* * * * *", "0 9 * * mon", "0 9 * * MON-FRI", "5,35 */2 1-7 */3 0", "0 0 1 1 *", "59 23 31 12 7", "0 9-17/2 * * 1-5"} {
		require.NoError(t, checkCron(ok), ok)
	}
	for _, bad := range []string{"", "* * * *", "@daily", "0 24 * * *", "0 9 32 * *", "0 9 * 13 *", "0 9 * * 8", "0 9 * * L", "0 9 ? * *", "-1 9 * * *", "0 9 * * 1-", "0 9 * * ,", "0 9 * * */-1", "0 +9 * * *"} {
		require.Error(t, checkCron(bad), bad)
	}
}
