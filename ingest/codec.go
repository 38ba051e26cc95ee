package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	fastjson "github.com/segmentio/encoding/json"
)

// The hot paths (the API's /v1/batch, the consumer) read and write events
// with a faster JSON codec that behaves as encoding/json does. Wherever the
// two could differ, encoding/json decides: a quick read that fails or that
// the codec cannot vouch for is read again with encoding/json, whose result
// and error are the reference.

// eventWire is Event as the quick reader sees it: the times are read as
// encoding/json reads a *time.Time (the codec has a parser of its own).
type eventWire struct {
	Type        string          `json:"type"`
	MessageID   string          `json:"messageId"`
	UserID      string          `json:"userId"`
	AnonymousID string          `json:"anonymousId"`
	PreviousID  string          `json:"previousId"`
	GroupID     string          `json:"groupId"`
	Event       string          `json:"event"`
	Name        string          `json:"name"`
	Category    string          `json:"category"`
	Properties  json.RawMessage `json:"properties"`
	Traits      json.RawMessage `json:"traits"`
	Context     json.RawMessage `json:"context"`
	Timestamp   OptionalTime    `json:"timestamp"`
	SentAt      OptionalTime    `json:"sentAt"`
	ReceivedAt  OptionalTime    `json:"receivedAt"`
	// Original is originalTimestamp.
	Original    OptionalTime `json:"originalTimestamp"`
	WorkspaceID string       `json:"workspaceId"`
	WriteKey    string       `json:"writeKey"`
}

// ParsedEvent is an event read by ParseEvent.
type ParsedEvent struct {
	Event
	// HasSentAt says the JSON had a sentAt, a null one included.
	HasSentAt bool
}

// ParseEvent reads one JSON event quickly, as json.Unmarshal into an Event
// would. It returns false when it cannot vouch for the result (the input
// is not a well-formed event); the caller then decodes with encoding/json
// for the reference result and error. The event's raw fields (properties,
// traits, context) share b's memory.
func ParseEvent(b []byte) (ParsedEvent, bool) {
	var w eventWire
	rest, err := fastjson.Parse(b, &w, fastjson.DontCopyRawMessage)
	if err != nil || len(rest) != 0 {
		return ParsedEvent{}, false
	}
	return ParsedEvent{Event: Event{Type: w.Type, MessageID: w.MessageID, UserID: w.UserID, AnonymousID: w.AnonymousID,
		PreviousID: w.PreviousID, GroupID: w.GroupID, Event: w.Event, Name: w.Name, Category: w.Category,
		Properties: w.Properties, Traits: w.Traits, Context: w.Context,
		Timestamp: w.Timestamp.At, SentAt: w.SentAt.At, ReceivedAt: w.ReceivedAt.At, OriginalTimestamp: w.Original.At,
		WorkspaceID: w.WorkspaceID, WriteKey: w.WriteKey},
		HasSentAt: w.SentAt.Set}, true
}

// OptionalTime is a *time.Time field as encoding/json reads it, and whether
// the JSON had it.
type OptionalTime struct {
	Set bool
	At  *time.Time
}

// UnmarshalJSON reads each occurrence of the field (a later one replaces
// an earlier one, and a bad one fails the read even when a later one is
// good, as with encoding/json).
func (w *OptionalTime) UnmarshalJSON(b []byte) error {
	w.Set = true
	if string(b) == "null" {
		w.At = nil
		return nil
	}
	var t time.Time
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	w.At = &t
	return nil
}

// UnmarshalEvent decodes one JSON event: quickly when it can, else with
// encoding/json (same result, same error).
func UnmarshalEvent(b []byte) (Event, error) {
	if p, ok := ParseEvent(b); ok {
		return p.Event, nil
	}
	var ev Event
	err := DecodeRepaired(b, json.Unmarshal(b, &ev), EventTimeFields, func(fixed []byte) error {
		ev = Event{}
		return json.Unmarshal(fixed, &ev)
	})
	return ev, err
}

// DecodeRepaired takes err, what decoding the JSON object b gave, and when
// it refused what a sender may rightly write but Go's decoding does not
// take — ids written as numbers, times written with JSON escapes — decodes
// the object rewritten (decode resets its target), one repair of each kind
// at most. It returns the last decode's error.
func DecodeRepaired(b []byte, err error, timeFields []string, decode func(fixed []byte) error) error {
	for range 2 {
		if err == nil {
			return nil
		}
		fixed, ok := NumericIDsQuoted(b, err)
		if !ok {
			fixed, ok = EscapedTimesRead(b, err, timeFields...)
		}
		if !ok {
			return err
		}
		b, err = fixed, decode(fixed)
	}
	return err
}

// EscapedTimesRead rewrites the JSON object b with the string values of its
// time fields (keys matched case-insensitively) that hold JSON escapes
// written plainly ("…\u002B02:00" → "…+02:00", as .NET writes a '+'), when
// decodeErr is such a time failing to parse: Go's time.Time parses the text
// between the quotes without reading its escapes (golang/go#47353). It
// returns false when there is nothing to rewrite.
func EscapedTimesRead(b []byte, decodeErr error, fields ...string) ([]byte, bool) {
	var perr *time.ParseError
	if !errors.As(decodeErr, &perr) || !strings.Contains(perr.Value, `\`) {
		return nil, false
	}
	return rewriteMembers(b, func(k string, v json.RawMessage) (json.RawMessage, bool) {
		if !slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, k) }) ||
			len(v) == 0 || v[0] != '"' || !bytes.ContainsRune(v, '\\') {
			return nil, false
		}
		var text string
		if json.Unmarshal(v, &text) != nil || strings.ContainsRune(text, '\\') {
			return nil, false
		}
		return jsonString(text), true
	})
}

// idFields are the event's id fields; a sender may write them as numbers
// (as some Segment libraries pass a database's integer ids).
var idFields = [...]string{"userId", "anonymousId", "previousId", "groupId"}

// numberText is a JSON number as the id a JavaScript client would make
// of it (String(n)): integers keep their digits as written, however long;
// a fraction or an exponent is read and written as JavaScript writes
// numbers (1e3 → "1000", 2.50 → "2.5", 1e21 → "1e+21", 1e-7 → "1e-7",
// 0.000001 → "0.000001"). A number past float64's range stays as written.
func numberText(v []byte) string {
	if !bytes.ContainsAny(v, ".eE") {
		if bytes.Equal(v, []byte("-0")) {
			return "0" // String(-0) is "0", as -0.0 and 0e0 become
		}
		return string(v)
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return string(v)
	}
	if f == 0 {
		return "0"
	}
	return jsNumber(f)
}

// jsNumber writes a finite, non-zero f as ECMAScript's Number::toString
// does: the shortest digits that read back as f, in positional notation
// when the decimal exponent is in (-7, 21], else as d.ddde±n.
func jsNumber(f float64) string {
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest digits and exponent: "d.ddde±xx" → digits "dddd", n such
	// that the value is 0.dddd × 10^n.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	n, k := x+1, len(digits)
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	es := "+"
	if n-1 < 0 {
		es = "-"
	}
	m := digits[:1]
	if k > 1 {
		m += "." + digits[1:]
	}
	return sign + m + "e" + es + strconv.Itoa(abs(n-1))
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// NumericIDsQuoted rewrites the JSON object b with its numeric id fields
// (keys matched case-insensitively, as encoding/json matches them) as
// strings of the same digits ("userId": 42 → "userId": "42"), when
// decodeErr is decoding b refusing such a number. It returns false when
// there is nothing to rewrite.
func NumericIDsQuoted(b []byte, decodeErr error) ([]byte, bool) {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(decodeErr, &typeErr) || typeErr.Value != "number" {
		return nil, false
	}
	return rewriteMembers(b, func(k string, v json.RawMessage) (json.RawMessage, bool) {
		v = bytes.TrimSpace(v)
		if !slices.ContainsFunc(idFields[:], func(f string) bool { return strings.EqualFold(f, k) }) || len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
			return nil, false
		}
		return jsonString(numberText(v)), true
	})
}

// rewriteMembers rewrites the JSON object b with the top-level member
// values fix replaces (fix says whether it did), in place: everything else
// — keys as written, their order, duplicates, spacing, escapes — stays as
// the sender wrote it, so the rewritten object decodes as b would (the
// last of duplicate keys still wins). False when b is not an object or fix
// replaced nothing.
func rewriteMembers(b []byte, fix func(key string, v json.RawMessage) (json.RawMessage, bool)) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var out []byte
	copied := 0 // b[:copied] is in out
	for dec.More() {
		t, err := dec.Token()
		key, isKey := t.(string)
		var v json.RawMessage
		if err != nil || !isKey || dec.Decode(&v) != nil {
			return nil, false
		}
		nv, ok := fix(key, v)
		if !ok {
			continue
		}
		end := int(dec.InputOffset())
		start := end - len(v)
		if start < copied || !bytes.Equal(b[start:end], v) {
			return nil, false
		}
		out = append(append(out, b[copied:start]...), nv...)
		copied = end
	}
	if out == nil {
		return nil, false
	}
	return append(out, b[copied:]...), true
}

// jsonString is s as a JSON string, with <, > and & as they are (as the
// sender wrote them, not as \u003c…).
func jsonString(s string) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// MarshalEvent encodes an event for the topic: the JSON json.Marshal
// writes, only faster, and with text written as it is rather than escaped
// for embedding in HTML (json.Marshal writes <, > and & as \u003c, \u003e,
// \u0026 and U+2028, U+2029 as \u2028, \u2029, in string fields and inside
// properties, traits and context alike). Every JSON reader reads both the
// same; escaped, an event could grow to six times the size it was accepted
// at, past what the consumer takes. Unescaped, an event the API read takes
// no more bytes than it was sent in, but for what Herald adds or rewrites:
// type, messageId, times, workspaceId, ids sent as numbers. (Control
// characters and bytes that are not UTF-8 are escaped as json.Marshal
// escapes them; the API refuses the latter.)
func MarshalEvent(ev *Event) ([]byte, error) {
	b := make([]byte, 0, eventSizeHint(ev))
	b = append(b, `{"type":`...)
	b = appendJSONString(b, ev.Type)
	for _, f := range [...]struct{ key, v string }{{`,"messageId":`, ev.MessageID}, {`,"userId":`, ev.UserID},
		{`,"anonymousId":`, ev.AnonymousID}, {`,"previousId":`, ev.PreviousID}, {`,"groupId":`, ev.GroupID},
		{`,"event":`, ev.Event}, {`,"name":`, ev.Name}, {`,"category":`, ev.Category}} {
		if f.v != "" {
			b = appendJSONString(append(b, f.key...), f.v)
		}
	}
	for _, f := range [...]struct {
		key string
		raw json.RawMessage
	}{{`,"properties":`, ev.Properties}, {`,"traits":`, ev.Traits}, {`,"context":`, ev.Context}} {
		if len(f.raw) == 0 {
			continue
		}
		b = append(b, f.key...)
		// Checked, appended as it is (not escaped), compacted in place.
		if fastjson.Valid(f.raw) {
			n := len(b)
			b = append(b, f.raw...)
			b = b[:n+compact(b[n:])]
			continue
		}
		// The quick check may refuse what encoding/json takes (it decides).
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, f.raw); err != nil {
			return json.Marshal(ev) // its error
		}
		b = buf.Bytes()
	}
	for _, f := range [...]struct {
		key string
		t   *time.Time
	}{{`,"timestamp":"`, ev.Timestamp}, {`,"sentAt":"`, ev.SentAt}, {`,"receivedAt":"`, ev.ReceivedAt},
		{`,"originalTimestamp":"`, ev.OriginalTimestamp}} {
		if f.t == nil {
			continue
		}
		var err error
		if b, err = f.t.AppendText(append(b, f.key...)); err != nil {
			return json.Marshal(ev) // its error: RFC 3339 has four-digit years
		}
		b = append(b, '"')
	}
	for _, f := range [...]struct{ key, v string }{{`,"workspaceId":`, ev.WorkspaceID}, {`,"writeKey":`, ev.WriteKey}} {
		if f.v != "" {
			b = appendJSONString(append(b, f.key...), f.v)
		}
	}
	return append(b, '}'), nil
}

// eventSizeHint is about the size of ev's encoding (exactly, for most
// events), so that MarshalEvent allocates once.
func eventSizeHint(ev *Event) int {
	n := 256 // keys, quotes, times
	for _, s := range [...]string{ev.Type, ev.MessageID, ev.UserID, ev.AnonymousID, ev.PreviousID, ev.GroupID,
		ev.Event, ev.Name, ev.Category, ev.WorkspaceID, ev.WriteKey} {
		n += len(s)
	}
	return n + len(ev.Properties) + len(ev.Traits) + len(ev.Context)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped as json.Marshal
// escapes it (quotes, backslashes and control characters; bytes that are
// not UTF-8 as \ufffd) except for the escapes it adds for HTML: <, >, &,
// U+2028 and U+2029 are written as they are.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(append(b, s[start:i]...), `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}

// compact removes the white space between the tokens of the valid JSON
// value v, in place, as json.Marshal writes a json.RawMessage, and leaves
// the rest as it is: its strings, escapes and all, are not re-escaped. It
// returns the compacted length.
func compact(v []byte) int {
	w := 0
	for r := 0; r < len(v); r++ {
		switch c := v[r]; c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			// Copy the string: to its closing quote, past escaped quotes.
			end := stringEnd(v, r+1)
			w += copy(v[w:], v[r:end])
			r = end - 1
		default:
			v[w] = c
			w++
		}
	}
	return w
}

// EventTimeFields are the times an event carries (a batch carries its own
// sentAt).
var EventTimeFields = []string{"timestamp", "sentAt", "receivedAt", "originalTimestamp"}

// NonStringTime names the key of the JSON object raw, among the time
// fields given, that holds something other than a string (a number, true,
// an object), when err is decoding raw refusing it; ok is false for other
// errors. Keys match as encoding/json matches them (case-insensitively),
// the first in the document first, and are named as written.
func NonStringTime(raw []byte, err error, fields ...string) (field string, ok bool) {
	if !strings.Contains(err.Error(), "Time.UnmarshalJSON") {
		return "", false
	}
	for _, m := range TopLevelMembers(raw, fields...) {
		if v := bytes.TrimSpace(m.Value); len(v) > 0 && v[0] != '"' && !bytes.Equal(v, []byte("null")) {
			return m.Key, true
		}
	}
	return "", false
}

// UnparsedTime names the key of the JSON object raw, among the time
// fields given, whose string is not a time Herald reads (RFC 3339), the
// first in the document first, as written; "" when there is none.
func UnparsedTime(raw []byte, fields ...string) string {
	for _, m := range TopLevelMembers(raw, fields...) {
		// Read as the decoder reads it: a time may be written with JSON
		// escapes ("\u005a"), which the decoder takes.
		var s string
		if json.Unmarshal(m.Value, &s) != nil {
			continue
		}
		// UnmarshalText reads RFC 3339 as strictly as UnmarshalJSON.
		var t time.Time
		if t.UnmarshalText([]byte(s)) != nil {
			return m.Key
		}
	}
	return ""
}

// Member is a key of a JSON object and its value.
type Member struct {
	Key   string
	Value json.RawMessage
}

// TopLevelMembers are the members of the JSON object raw, in document
// order, whose keys match one of names case-insensitively (all of them
// when names is empty); nil when raw is not an object.
func TopLevelMembers(raw []byte, names ...string) []Member {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var out []Member
	for dec.More() {
		t, err := dec.Token()
		key, isKey := t.(string)
		var v json.RawMessage
		if err != nil || !isKey || dec.Decode(&v) != nil {
			return out
		}
		if len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, key) }) {
			out = append(out, Member{Key: key, Value: v})
		}
	}
	return out
}
