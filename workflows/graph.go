package workflows

import (
	"encoding/json"
)

// Journey is a journey definition (DESIGN §5): the graph a marketer draws,
// plus its trigger, entry policy, exits, goal and settings.
type Journey struct {
	Name     string          `json:"name"`
	Trigger  Trigger         `json:"trigger"`
	Entry    Entry           `json:"entry"`
	ExitOn   []ExitOn        `json:"exit_on,omitempty"`
	Goal     *Goal           `json:"goal,omitempty"`
	Settings Settings        `json:"settings"`
	Start    string          `json:"start"`
	Nodes    []Node          `json:"nodes"`
	Layout   json.RawMessage `json:"layout,omitempty"`
}

// Trigger says how customers enter.
type Trigger struct {
	Type            string          `json:"type"` // event, segment, api, schedule
	Event           string          `json:"event,omitempty"`
	Where           json.RawMessage `json:"where,omitempty"`
	SegmentID       string          `json:"segment_id,omitempty"`
	IncludeExisting bool            `json:"include_existing,omitempty"`
	Cron            string          `json:"cron,omitempty"`
	Timezone        string          `json:"timezone,omitempty"`
	// EnrollPerSecond caps how fast an enrollment (include_existing, or a
	// schedule's firing) enters members; 0 means as fast as the servers go.
	EnrollPerSecond int `json:"enroll_per_second,omitempty"`
}

// Takes says whether ev is the trigger's event: a track of its name, or for
// a segment trigger its segment's entered event. The trigger's filter and
// the entry policy are the router's to apply.
func (t Trigger) Takes(ev Event) bool {
	switch t.Type {
	case "event":
		return ev.Name == t.Event
	case "segment":
		id, _ := ev.Properties["segment_id"].(string)
		return ev.Name == segmentEntered && id == t.SegmentID
	}
	return false // api and schedule entries are not made by events
}

// segmentEntered is the event a segment entry routes as (schema.EventSegmentEntered).
const segmentEntered = "Segment Entered"

// Entry is the re-entry policy.
type Entry struct {
	Policy        string `json:"policy"` // once, every_time, once_per
	Period        string `json:"period,omitempty"`
	Key           string `json:"key,omitempty"`
	MaxConcurrent int    `json:"max_concurrent,omitempty"`
}

// ExitOn ends a run when the event arrives.
type ExitOn struct {
	Event string          `json:"event"`
	Where json.RawMessage `json:"where,omitempty"`
}

// Goal counts a conversion when the event happens within the window.
type Goal struct {
	Event  string `json:"event"`
	Within string `json:"within,omitempty"`
}

// Settings are journey-wide send settings.
type Settings struct {
	QuietHours        *QuietHours `json:"quiet_hours,omitempty"`
	SendRatePerMinute int         `json:"send_rate_per_minute,omitempty"`
}

// QuietHours is a daily window in which sends wait.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Node is one step of the graph; which fields apply depends on Type.
type Node struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Next string `json:"next,omitempty"`

	// send
	Channel    string `json:"channel,omitempty"`
	TemplateID string `json:"template_id,omitempty"`
	// delay
	Duration string `json:"duration,omitempty"`
	Until    string `json:"until,omitempty"`
	Offset   string `json:"offset,omitempty"`
	At       string `json:"at,omitempty"`
	// wait_for_event
	Event     string          `json:"event,omitempty"`
	Where     json.RawMessage `json:"where,omitempty"`
	Timeout   string          `json:"timeout,omitempty"`
	OnEvent   string          `json:"on_event,omitempty"`
	OnTimeout string          `json:"on_timeout,omitempty"`
	// branch
	Branches []Branch `json:"branches,omitempty"`
	Else     string   `json:"else,omitempty"`
	// split
	Variants []Variant `json:"variants,omitempty"`
	// time_window (From, To) and jump (To: the target node)
	Days     []string `json:"days,omitempty"`
	From     string   `json:"from,omitempty"`
	To       string   `json:"to,omitempty"`
	Timezone string   `json:"timezone,omitempty"`
	// update_customer
	Set   map[string]any `json:"set,omitempty"`
	Unset []string       `json:"unset,omitempty"`
}

// Branch is one ordered condition of a branch node.
type Branch struct {
	When json.RawMessage `json:"when"`
	Next string          `json:"next"`
}

// Variant is one arm of a split.
type Variant struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	Next   string `json:"next"`
}
