// Package ingest carries customer events from the outside world to Herald:
// the Segment-compatible event types and their validation, the Kafka
// producer used by the API, and the consumer that applies events to
// customers and hands them to journeys.
package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/schema"
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
	Category    string          `json:"category,omitempty"`
	Properties  json.RawMessage `json:"properties,omitempty"`
	Traits      json.RawMessage `json:"traits,omitempty"`
	Context     json.RawMessage `json:"context,omitempty"`
	Timestamp   *time.Time      `json:"timestamp,omitempty"`
	SentAt      *time.Time      `json:"sentAt,omitempty"`
	ReceivedAt  *time.Time      `json:"receivedAt,omitempty"`
	// OriginalTimestamp is the device's time of the event, as the sender's
	// clock read it (Segment's field; Normalize corrects it with sentAt).
	OriginalTimestamp *time.Time `json:"originalTimestamp,omitempty"`
	WorkspaceID       string     `json:"workspaceId,omitempty"`
	WriteKey          string     `json:"writeKey,omitempty"`
}

// Limits of DESIGN §4.
const (
	MaxEventBytes = 32 << 10
	MaxBatchBytes = 500 << 10
	// maxIDLength is the most characters of an id (userId, anonymousId,
	// previousId, groupId, messageId).
	maxIDLength = 200
	// maxNameLength is the most characters of a name: a track's event, a
	// page's or screen's name and category.
	maxNameLength = 200
	// MaxMessageBytes is the largest message the consumer takes from the
	// topic: an event of MaxEventBytes plus the fields the API adds to it
	// (type, messageId, timestamp, receivedAt, workspaceId — a few hundred
	// bytes), so that no event the API accepted is refused downstream.
	MaxMessageBytes = MaxEventBytes + 2<<10
)

// Types are the Segment call types Herald accepts.
var Types = map[string]bool{"identify": true, "track": true, "page": true, "screen": true, "group": true, "alias": true}

// FieldError is a validation failure naming the offending field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// nulIn refuses a field whose text holds a NUL, which Postgres cannot store.
func nulIn(field, v string) *FieldError {
	if strings.IndexByte(v, 0) >= 0 {
		return fieldErr(field, "%s contains the NUL character (\\u0000), which Herald cannot store", field)
	}
	return nil
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// blank says whether an id is empty or white space only: such an id
// names no one (every client sending one would share one profile).
func blank(id string) bool { return strings.TrimSpace(id) == "" }

// Validate checks an event against the ingest contract. It does not check
// the workspace or write key.
func (e *Event) Validate() *FieldError {
	if !Types[e.Type] {
		return fieldErr("type", "type %q is not one of identify, track, page, screen, group, alias", e.Type)
	}
	if blank(e.UserID) && blank(e.AnonymousID) {
		return fieldErr("userId", "one of userId or anonymousId is required")
	}
	for _, f := range [...]struct{ name, v string }{{"userId", e.UserID}, {"anonymousId", e.AnonymousID},
		{"previousId", e.PreviousID}, {"groupId", e.GroupID}, {"messageId", e.MessageID}} {
		if f.v != "" && blank(f.v) {
			return fieldErr(f.name, "%s is only white space", f.name)
		}
		if longer(f.v, maxIDLength) {
			return fieldErr(f.name, "%s is longer than %d characters", f.name, maxIDLength)
		}
	}
	for _, f := range [...]struct{ name, v string }{{"name", e.Name}, {"category", e.Category}} {
		if longer(f.v, maxNameLength) {
			return fieldErr(f.name, "%s is longer than %d characters", f.name, maxNameLength)
		}
	}
	switch e.Type {
	case "track":
		if strings.TrimSpace(e.Event) == "" {
			return fieldErr("event", "track needs an event name in \"event\"")
		}
		if longer(e.Event, maxNameLength) {
			return fieldErr("event", "event name is longer than %d characters", maxNameLength)
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
	for _, f := range [...]struct{ name, v string }{{"userId", e.UserID}, {"anonymousId", e.AnonymousID},
		{"previousId", e.PreviousID}, {"groupId", e.GroupID}, {"messageId", e.MessageID}, {"event", e.Event},
		{"name", e.Name}, {"category", e.Category}} {
		if ferr := nulIn(f.name, f.v); ferr != nil {
			return ferr
		}
		if !utf8.ValidString(f.v) {
			return fieldErr(f.name, "%s is not valid UTF-8", f.name)
		}
	}
	for _, f := range [...]struct {
		name string
		raw  json.RawMessage
	}{{"properties", e.Properties}, {"traits", e.Traits}, {"context", e.Context}} {
		if len(f.raw) > 0 && !IsObjectOrNull(f.raw) {
			return fieldErr(f.name, "%s must be a JSON object", f.name)
		}
		if problem := unstorableText(f.raw); problem != "" {
			return fieldErr(f.name, "%s %s, which Herald cannot store", f.name, problem)
		}
		if problem := valueProblem(f.raw, f.name != "context"); problem != "" { // journeys read properties and traits
			return fieldErr(f.name, "%s %s", f.name, problem)
		}
	}
	return nil
}

// shortNumber is n as an error message quotes it: its first 40 characters.
func shortNumber(n string) string {
	if len(n) > 40 {
		return n[:40] + "…"
	}
	return n
}

// MaxDepth is how deeply an event's properties, traits and context may
// nest objects and arrays (the field's own object is the first level):
// deeper, the database refuses the event or reads it back with an error
// (encoding/json stops at 10,000 levels), so it is refused on arrival.
const MaxDepth = 100

// valueProblem is what, in a JSON value, Herald cannot store or use, said
// for an error message ("" when nothing): objects and arrays nested deeper
// than MaxDepth, a number Postgres's numeric cannot hold (1e-20000: jsonb
// stores numbers so) and, when journeys read the value, a number past
// float64's range (1e400), which jsonb stores but journeys cannot decode
// (such an event would be stored and never routed). One pass: strings are
// skipped whole; only a number written with an exponent or of more than
// 300 characters is parsed.
func valueProblem(raw json.RawMessage, journeys bool) string {
	depth := 0
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '"':
			i = stringEnd(raw, i+1)
		case c == '{' || c == '[':
			if depth++; depth > MaxDepth {
				return fmt.Sprintf("nests objects and arrays deeper than %d levels", MaxDepth)
			}
			i++
		case c == '}' || c == ']':
			depth--
			i++
		case c == '-' || (c >= '0' && c <= '9'):
			j, exp := i+1, false
			for ; j < len(raw); j++ {
				if d := raw[j]; d == 'e' || d == 'E' {
					exp = true
				} else if (d < '0' || d > '9') && d != '.' && d != '+' && d != '-' {
					break
				}
			}
			if exp || j-i > 300 {
				n := string(raw[i:j])
				if !schema.NumericFits(n) {
					return fmt.Sprintf("holds the number %s, beyond what the database stores (%d digits before the point, %d after it): send it as a string",
						shortNumber(n), schema.NumericMaxIntegerDigits, schema.NumericMaxFractionDigits)
				}
				if journeys {
					if _, err := strconv.ParseFloat(n, 64); errors.Is(err, strconv.ErrRange) {
						return fmt.Sprintf("holds the number %s, past the range journeys compare (about ±1.8e308): send it as a string", shortNumber(n))
					}
				}
			}
			i = j
		default:
			i++
		}
	}
	return ""
}

// stringEnd is the index just past the JSON string whose text starts at
// raw[i] (after its opening quote), or len(raw).
func stringEnd(raw []byte, i int) int {
	for {
		q := bytes.IndexByte(raw[i:], '"')
		if q < 0 {
			return len(raw)
		}
		q += i
		backslashes := 0
		for k := q - 1; k >= i && raw[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
}

// longer says whether s has more than n characters.
func longer(s string, n int) bool {
	return len(s) > n && utf8.RuneCountInString(s) > n
}

// CheckMessageSize refuses an event whose encoding for the topic, msg, is
// larger than a message the consumer takes (MaxMessageBytes): produced, it
// would be dead-lettered. It names the event's largest field, the one to
// make smaller.
func (e *Event) CheckMessageSize(msg []byte) *FieldError {
	if len(msg) <= MaxMessageBytes {
		return nil
	}
	field, size := "body", 0
	for _, f := range [...]struct {
		name string
		n    int
	}{{"userId", len(e.UserID)}, {"anonymousId", len(e.AnonymousID)}, {"previousId", len(e.PreviousID)},
		{"groupId", len(e.GroupID)}, {"messageId", len(e.MessageID)}, {"event", len(e.Event)}, {"name", len(e.Name)},
		{"category", len(e.Category)}, {"properties", len(e.Properties)}, {"traits", len(e.Traits)}, {"context", len(e.Context)}} {
		if f.n > size {
			field, size = f.name, f.n
		}
	}
	return fieldErr(field, "the event is %d bytes as written to the topic, over the limit of %d for a message; its largest field is %s (%d bytes)",
		len(msg), MaxMessageBytes, field, size)
}

// unstorableText says what in a JSON value Postgres's jsonb would refuse
// although it is valid JSON: the escape \u0000, a lone UTF-16 surrogate
// escape, or bytes that are not UTF-8. It is empty when there is none.
func unstorableText(raw json.RawMessage) string {
	if !utf8.Valid(raw) {
		return "is not valid UTF-8"
	}
	for i := bytes.IndexByte(raw, '\\'); i >= 0 && i+1 < len(raw); {
		if raw[i+1] != 'u' {
			i += 2 // \", \\, \n …: the escaped byte is never a backslash that starts an escape
		} else {
			r, ok := hex4(raw, i+2)
			switch {
			case !ok:
				return "" // not valid JSON: the decoder reported it already
			case r == 0:
				return "contains the NUL character (\\u0000)"
			case r >= 0xDC00 && r <= 0xDFFF:
				return "contains a lone UTF-16 surrogate (\\u" + string(raw[i+2:i+6]) + ")"
			case r >= 0xD800 && r <= 0xDBFF:
				if low, ok := hex4(raw, i+8); !ok || raw[i+6] != '\\' || raw[i+7] != 'u' || low < 0xDC00 || low > 0xDFFF {
					return "contains a lone UTF-16 surrogate (\\u" + string(raw[i+2:i+6]) + ")"
				}
				i += 6 // the low half is checked: skip to it, and past it below
			}
			i += 6
		}
		next := bytes.IndexByte(raw[min(i, len(raw)):], '\\')
		if next < 0 {
			break
		}
		i += next
	}
	return ""
}

// hex4 reads the four hex digits at raw[i:i+4].
func hex4(raw []byte, i int) (rune, bool) {
	if i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// IsObjectOrNull says whether raw is a JSON object or null (what an
// event's properties, traits and context may be).
func IsObjectOrNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return bytes.Equal(t, []byte("null")) || (len(t) > 0 && t[0] == '{')
}

// StoredProperties are the properties kept with the event: its own, plus
// the Segment fields of its type that have no column — a page's or
// screen's name and category, a group's groupId and traits, an identify's
// traits, an alias's previousId — under those names, unless the
// properties already have them (the sender's own win).
func (e *Event) StoredProperties() (json.RawMessage, error) {
	props := e.Properties
	if len(props) == 0 || string(props) == "null" {
		props = nil
	}
	var add [2]struct {
		key string
		val any
	}
	n := 0
	put := func(key string, val any) { add[n].key, add[n].val = key, val; n++ }
	switch e.Type {
	case "page", "screen":
		if e.Name != "" {
			put("name", e.Name)
		}
		if e.Category != "" {
			put("category", e.Category)
		}
	case "group":
		put("groupId", e.GroupID)
		if len(e.Traits) > 0 && string(e.Traits) != "null" {
			put("traits", e.Traits)
		}
	case "identify":
		// As sent, so the timeline says what each identify changed (the
		// profile holds only the result).
		if len(e.Traits) > 0 && string(e.Traits) != "null" {
			put("traits", e.Traits)
		}
	case "alias":
		put("previousId", e.PreviousID)
	}
	if n == 0 {
		return props, nil
	}
	fields := map[string]json.RawMessage{}
	if props != nil {
		if err := json.Unmarshal(props, &fields); err != nil {
			return nil, fmt.Errorf("properties: %w", err)
		}
	}
	for _, a := range add[:n] {
		if _, ok := fields[a.key]; ok {
			continue
		}
		b, err := json.Marshal(a.val)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.key, err)
		}
		fields[a.key] = b
	}
	return json.Marshal(fields)
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
// event time corrected for the sender's clock skew as Segment does. With an
// originalTimestamp (the device's clock) and a sentAt, it is
// receivedAt − (sentAt − originalTimestamp), whatever timestamp says (in
// Segment's data timestamp is that result already: a replay must not be
// corrected twice); an originalTimestamp alone is the time when there is
// no timestamp; else timestamp + (receivedAt − sentAt), defaulting to
// receivedAt.
func (e *Event) Normalize(now time.Time, newID func() string) {
	if e.ReceivedAt == nil {
		now := now.UTC() // its own variable: an event with a receivedAt allocates none
		e.ReceivedAt = &now
	}
	if e.MessageID == "" {
		e.MessageID = newID()
	}
	switch {
	case e.OriginalTimestamp != nil && e.SentAt != nil:
		ts := e.OriginalTimestamp.Add(e.ReceivedAt.Sub(*e.SentAt)).UTC()
		e.Timestamp = &ts
	case e.OriginalTimestamp != nil && e.Timestamp == nil:
		e.Timestamp = e.OriginalTimestamp
	case e.Timestamp == nil:
		e.Timestamp = e.ReceivedAt
	case e.SentAt != nil:
		ts := e.Timestamp.Add(e.ReceivedAt.Sub(*e.SentAt)).UTC()
		e.Timestamp = &ts
	}
	// Times are kept in UTC: what CheckTimes sees is what Postgres stores
	// and routing encodes (9999-12-31T23:00:00-05:00 is in year 10000).
	e.Timestamp, e.ReceivedAt = inUTC(e.Timestamp), inUTC(e.ReceivedAt)
	// The correction is made: an event normalised again (the API's, when
	// the consumer reads it) keeps its timestamp.
	e.SentAt, e.OriginalTimestamp = nil, nil
}

// inUTC is t in UTC; t itself when it is (most are: no allocation).
func inUTC(t *time.Time) *time.Time {
	if t == nil || t.Location() == time.UTC {
		return t
	}
	u := t.UTC()
	return &u
}

// CheckTimes checks a normalised event's times: each must fall in years
// 1–9999, which RFC 3339 can write and Postgres and every reader of the
// event can take back. A timestamp corrected by a wild sentAt can leave
// that range although each field was well formed.
func (e *Event) CheckTimes() *FieldError {
	for _, f := range [...]struct {
		name string
		t    *time.Time
	}{{"timestamp", e.Timestamp}, {"receivedAt", e.ReceivedAt}} {
		if f.t == nil {
			continue
		}
		if y := f.t.UTC().Year(); y < 1 || y > 9999 {
			msg := "%s is outside the years 1 to 9999"
			if f.name == "timestamp" {
				msg += " after the clock-skew correction (timestamp or originalTimestamp + receivedAt − sentAt)"
			}
			return fieldErr(f.name, msg, f.name)
		}
	}
	return nil
}

// CheckText refuses an event whose JSON holds text Herald cannot keep as
// sent: bytes that are not UTF-8, a lone UTF-16 surrogate escape or the NUL
// escape, anywhere. Decoding would quietly turn the first two into U+FFFD —
// two different ids would become one customer, two message ids one event —
// and Postgres cannot store any of them in jsonb. It names the top-level
// field that holds them ("body" when it cannot tell: the text is in a field
// name, or the value is not a JSON object).
func CheckText(raw []byte) *FieldError {
	problem := unstorableText(raw)
	if problem == "" {
		return nil
	}
	field := "body"
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			if p := unstorableText(fields[k]); p != "" {
				field, problem = k, p
				break
			}
		}
	}
	return fieldErr(field, "%s %s, which Herald cannot store", field, problem)
}

// StorableText says whether raw holds none of what CheckText refuses.
func StorableText(raw []byte) bool { return unstorableText(raw) == "" }
