// Package ingest carries customer events from the outside world to Herald:
// the Segment-compatible event types and their validation, the Kafka
// producer used by the API, and the consumer that applies events to
// customers and hands them to journeys.
package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event is one customer event as it travels on the herald.events topic: a
// Segment Tracking API message plus the workspace it belongs to.
type Event struct {
	Type        string          `json:"type"`
	MessageID   string          `json:"messageId,omitempty"`
	UserID      string          `json:"userId,omitempty"`
	AnonymousID string          `json:"anonymousId,omitempty"`
	PreviousID  string          `json:"previousId,omitempty"`
	GroupID     string          `json:"groupId,omitempty"`
	Event       string          `json:"event,omitempty"`
	Name        string          `json:"name,omitempty"`
	Properties  json.RawMessage `json:"properties,omitempty"`
	Traits      json.RawMessage `json:"traits,omitempty"`
	Context     json.RawMessage `json:"context,omitempty"`
	Timestamp   *time.Time      `json:"timestamp,omitempty"`
	SentAt      *time.Time      `json:"sentAt,omitempty"`
	ReceivedAt  *time.Time      `json:"receivedAt,omitempty"`
	WorkspaceID string          `json:"workspaceId,omitempty"`
	WriteKey    string          `json:"writeKey,omitempty"`
}

// Limits of DESIGN §4.
const (
	MaxEventBytes = 32 << 10
	MaxBatchBytes = 500 << 10
	maxIDLength   = 200
)

// Types are the Segment call types Herald accepts.
var Types = map[string]bool{"identify": true, "track": true, "page": true, "screen": true, "group": true, "alias": true}

// FieldError is a validation failure naming the offending field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks an event against the ingest contract. It does not check
// the workspace or write key.
func (e *Event) Validate() *FieldError {
	if !Types[e.Type] {
		return fieldErr("type", "type %q is not one of identify, track, page, screen, group, alias", e.Type)
	}
	if e.UserID == "" && e.AnonymousID == "" {
		return fieldErr("userId", "one of userId or anonymousId is required")
	}
	for _, f := range [...]struct{ name, v string }{{"userId", e.UserID}, {"anonymousId", e.AnonymousID}, {"previousId", e.PreviousID}, {"messageId", e.MessageID}} {
		if len(f.v) > maxIDLength {
			return fieldErr(f.name, "%s is longer than %d characters", f.name, maxIDLength)
		}
	}
	switch e.Type {
	case "track":
		if strings.TrimSpace(e.Event) == "" {
			return fieldErr("event", "track needs an event name in \"event\"")
		}
		if len(e.Event) > maxIDLength {
			return fieldErr("event", "event name is longer than %d characters", maxIDLength)
		}
	case "alias":
		if e.UserID == "" || e.PreviousID == "" {
			return fieldErr("previousId", "alias needs both userId and previousId")
		}
	case "group":
		if e.GroupID == "" {
			return fieldErr("groupId", "group needs a groupId")
		}
	}
	for _, f := range [...]struct {
		name string
		raw  json.RawMessage
	}{{"properties", e.Properties}, {"traits", e.Traits}, {"context", e.Context}} {
		if len(f.raw) > 0 && !isObjectOrNull(f.raw) {
			return fieldErr(f.name, "%s must be a JSON object", f.name)
		}
	}
	return nil
}

func isObjectOrNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return bytes.Equal(t, []byte("null")) || (len(t) > 0 && t[0] == '{')
}

// Key is the Kafka message key: one customer's events share a partition.
func (e *Event) Key() string {
	id := e.UserID
	if id == "" {
		id = e.AnonymousID
	}
	return e.WorkspaceID + ":" + id
}

// DisplayName is the name journeys match on: the track event name, or
// "Page Viewed"/"Screen Viewed"/"Identify"/"Group"/"Alias" for the others.
func (e *Event) DisplayName() string {
	switch e.Type {
	case "track":
		return e.Event
	case "page":
		return "Page Viewed"
	case "screen":
		return "Screen Viewed"
	case "identify":
		return "Identify"
	case "group":
		return "Group"
	case "alias":
		return "Alias"
	default:
		return strings.ToUpper(e.Type[:1]) + e.Type[1:]
	}
}

// Normalize fills what the sender may leave out: the receive time, and the
// event time corrected for the sender's clock skew as Segment does
// (timestamp + (receivedAt − sentAt)), defaulting to receivedAt.
func (e *Event) Normalize(now time.Time, newID func() string) {
	if e.ReceivedAt == nil {
		now := now.UTC() // its own variable: an event with a receivedAt allocates none
		e.ReceivedAt = &now
	}
	if e.MessageID == "" {
		e.MessageID = newID()
	}
	switch {
	case e.Timestamp == nil:
		e.Timestamp = e.ReceivedAt
	case e.SentAt != nil:
		ts := e.Timestamp.Add(e.ReceivedAt.Sub(*e.SentAt)).UTC()
		e.Timestamp = &ts
	}
}
