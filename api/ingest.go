package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	fastjson "github.com/segmentio/encoding/json"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
)

// Producer writes events to the events topic, durably, before returning.
type Producer interface {
	Produce(ctx context.Context, msgs ...ingest.Message) error
}

const ctxWriteKey = "write_key"

// writeKeyAuth accepts a write key as HTTP Basic username (Segment's
// convention) or as a Bearer token.
func (s *Server) writeKeyAuth(c *gin.Context) {
	var key string
	if user, ok := basicWriteKey(c.GetHeader("Authorization")); ok {
		key = user
	} else if token, ok := bearerToken(c.GetHeader("Authorization")); ok {
		key = token
	}
	if key == "" && c.GetHeader("Authorization") == "" {
		// Browsers post text/plain with the key in the body (no CORS
		// preflight), as Segment's analytics.js does.
		var ok bool
		if key, ok = writeKeyInBody(c); !ok {
			return
		}
	}
	if key == "" {
		fail(c, http.StatusUnauthorized, "send the write key as the Basic auth username, as `Authorization: Bearer <write key>` or as \"writeKey\" in the body")
		return
	}
	k, err := s.deps.Store.LookupAPIKey(c, key)
	if errors.Is(err, schema.ErrNotFound) {
		fail(c, http.StatusUnauthorized, "unknown or revoked write key")
		return
	}
	if err != nil {
		s.internal(c, "look up write key", err)
		return
	}
	if k.Kind != schema.KeyWrite {
		fail(c, http.StatusForbidden, "this is a secret key; /v1 takes a write key")
		return
	}
	c.Set(ctxWriteKey, k)
	c.Next()
}

// basicWriteKey is the write key of HTTP Basic credentials: the username
// of "key:" (Segment's libraries), or the whole decoded text when it has
// no colon (base64 of the bare key, as some hand-written clients send it:
// Segment takes it).
func basicWriteKey(authz string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(authz), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", false
	}
	user, _, _ := strings.Cut(string(b), ":")
	return user, true
}

// writeKeyInBody reads the body's top-level "writeKey" and leaves the body,
// unpacked, for the handler. It answers the request itself (400, and returns
// false) when the body cannot be read as JSON: a 401 asking for the key
// would send the sender looking in the wrong place.
func writeKeyInBody(c *gin.Context) (string, bool) {
	body, ok := readIngestBody(c)
	if !ok {
		return "", false
	}
	// The handler reads the body again: as it is now, unpacked.
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	c.Request.Header.Del("Content-Encoding")
	var k struct {
		WriteKey string `json:"writeKey"`
	}
	if _, err := fastjson.Parse(body, &k, fastjson.DontCopyRawMessage); err != nil {
		// Without valid JSON there is no key to find: the body is what is
		// wrong, not the credentials. encoding/json says where.
		if jerr := json.Unmarshal(body, &k); jerr != nil {
			err = jerr
		}
		failField(c, http.StatusBadRequest, "body", "request body is not valid JSON: "+err.Error())
		return "", false
	}
	return strings.TrimSpace(k.WriteKey), true
}

// cors lets browser SDKs post events from any origin: the write key, not a
// cookie, authenticates them.
func cors(c *gin.Context) {
	c.Header("Access-Control-Allow-Origin", "*")
	c.Header("Access-Control-Allow-Methods", "POST, OPTIONS")
	c.Header("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
	c.Header("Access-Control-Max-Age", "86400")
	if c.Request.Method == http.MethodOptions {
		c.AbortWithStatus(http.StatusNoContent)
		return
	}
	c.Next()
}

// readIngestBody returns the (gunzipped) body, refusing more than MaxBatchBytes.
func readIngestBody(c *gin.Context) ([]byte, bool) {
	var r io.Reader = c.Request.Body
	switch enc := strings.TrimSpace(c.GetHeader("Content-Encoding")); {
	case strings.EqualFold(enc, "gzip"):
		gz, err := gzip.NewReader(c.Request.Body)
		if err != nil {
			failField(c, http.StatusBadRequest, "body", "body is not valid gzip: "+err.Error())
			return nil, false
		}
		defer gz.Close()
		r = gz
	case enc != "" && !strings.EqualFold(enc, "identity"):
		failField(c, http.StatusBadRequest, "body", fmt.Sprintf("Content-Encoding %q is not supported; send the body as is or gzip", enc))
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r, ingest.MaxBatchBytes+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), err == nil && len(body) > ingest.MaxBatchBytes:
		failField(c, http.StatusBadRequest, "body", fmt.Sprintf("request body is larger than %d bytes", ingest.MaxBatchBytes))
		return nil, false
	case err != nil:
		failField(c, http.StatusBadRequest, "body", "read body: "+err.Error())
		return nil, false
	}
	return body, true
}

// ingestOne handles /v1/<type>: one event of that type.
func (s *Server) ingestOne(typ string) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, ok := readIngestBody(c)
		if !ok {
			return
		}
		if len(body) > ingest.MaxEventBytes {
			failField(c, http.StatusBadRequest, "body", fmt.Sprintf("event is %d bytes; the limit is %d", len(body), ingest.MaxEventBytes))
			return
		}
		if ferr := ingest.CheckText(body); ferr != nil {
			failField(c, http.StatusBadRequest, ferr.Field, ferr.Message)
			return
		}
		// A decoder, not Unmarshal, so an error is read in the event itself;
		// anything but white space after it is refused: a second event there
		// would otherwise be dropped behind a 200.
		var ev eventBody
		dec := json.NewDecoder(bytes.NewReader(body))
		err := dec.Decode(&ev)
		if err == nil && len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
			failField(c, http.StatusBadRequest, "body", "the body has data after the event's JSON object; send several events to /v1/batch")
			return
		}
		err = ingest.DecodeRepaired(body[:dec.InputOffset()], err, ingest.EventTimeFields, func(fixed []byte) error {
			ev = eventBody{}
			return json.Unmarshal(fixed, &ev)
		})
		if err == nil {
			ev.applyOwnSentAt()
		}
		// Errors are read in the event itself, not in what follows it.
		raw := body
		if off := dec.InputOffset(); off > 0 {
			raw = body[:off]
		}
		msg, ferr := s.prepareEvent(c, raw, ev.Event, err, typ)
		if ferr != nil {
			failField(c, ferr.status, ferr.Field, ferr.Message)
			return
		}
		s.produce(c, []ingest.Message{msg}, nil)
	}
}

type batchRequest struct {
	Batch   []json.RawMessage `json:"batch"`
	Context json.RawMessage   `json:"context"`
	SentAt  *time.Time        `json:"sentAt"`
}

// ingestBatch handles /v1/batch. A problem of the body as a whole refuses
// it (400). Each event is checked on its own: the valid ones are produced,
// the refused ones are dead-lettered and named in the answer's "rejected"
// (a Segment library drops a whole batch answered 4xx, losing its valid
// events with the bad one). A batch of only refused events is refused.
func (s *Server) ingestBatch(c *gin.Context) {
	body, ok := readIngestBody(c)
	if !ok {
		return
	}
	req, err := readBatch(body)
	if err != nil {
		// The batch's own sentAt may not be a time.
		if field, msg, ok := timeDecodeError(body, err, "sentAt"); ok {
			failField(c, http.StatusBadRequest, field, msg)
			return
		}
		// Valid JSON of the wrong shape: say which part, not Go's types.
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "":
			failField(c, http.StatusBadRequest, "body", "request body must be a JSON object with a \"batch\" array, not "+typeErr.Value)
		case errors.As(err, &typeErr) && (typeErr.Field == "batch" || strings.HasPrefix(typeErr.Field, "batch.")):
			failField(c, http.StatusBadRequest, "batch", `"batch" must be a non-empty array of events, not `+typeErr.Value)
		default:
			failField(c, http.StatusBadRequest, "body", "request body is not valid JSON: "+err.Error())
		}
		return
	}
	if len(req.Batch) == 0 {
		failField(c, http.StatusBadRequest, "batch", `"batch" must be a non-empty array of events`)
		return
	}
	// The batch's own context is checked as itself, not as its first
	// event's.
	if len(req.Context) > 0 && !ingest.IsObjectOrNull(req.Context) {
		failField(c, http.StatusBadRequest, "context", "the batch's context must be a JSON object")
		return
	}
	defaults := newBatchDefaults(req.SentAt, req.Context)
	msgs := make([]ingest.Message, 0, len(req.Batch))
	var rejected []rejectedEvent
	textOK := ingest.StorableText(body) // else each event is checked, to name the one
	for i, raw := range req.Batch {
		field := func(f string) string {
			if f == "body" {
				return fmt.Sprintf("batch[%d]", i) // the whole event
			}
			return fmt.Sprintf("batch[%d].%s", i, f)
		}
		var ev eventBody
		reject := func(f, msg string) {
			rejected = append(rejected, rejectedEvent{Index: i, Field: field(f), Error: fmt.Sprintf("batch[%d]: %s", i, msg), raw: raw,
				key: ingest.Event{UserID: ev.UserID, AnonymousID: ev.AnonymousID}})
		}
		if !textOK {
			if ferr := ingest.CheckText(raw); ferr != nil {
				reject(ferr.Field, ferr.Message)
				continue
			}
		}
		ev, err := readBatchEvent(raw)
		if size := len(raw) + defaults.grows(raw, &ev); size > ingest.MaxEventBytes {
			reject("body", fmt.Sprintf("event is %d bytes; the limit is %d", size, ingest.MaxEventBytes))
			continue
		}
		if err == nil {
			defaults.apply(&ev)
		}
		msg, ferr := s.prepareEvent(c, raw, ev.Event, err, "")
		if ferr != nil {
			reject(ferr.Field, ferr.Message)
			continue
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		// Nothing to accept: the batch is refused, as a single event is.
		failField(c, http.StatusBadRequest, rejected[0].Field, rejected[0].Error)
		return
	}
	if len(rejected) > 0 && !s.deadLetter(c, rejected) {
		return
	}
	s.produce(c, msgs, rejected)
}

// rejectedEvent is an event of a batch that was refused while the others
// were accepted: named in the answer, written to the dead-letter topic.
type rejectedEvent struct {
	Index int    `json:"index"`
	Field string `json:"field"`
	Error string `json:"error"`
	raw   json.RawMessage
	key   ingest.Event // the ids it was read with, for its letter's key
}

// deadLetter writes the batch's refused events to the dead-letter topic,
// durably, and counts them; it answers 503 (and returns false) when it
// cannot: the client sends the batch again, and the events it accepted
// are deduplicated by their messageIds. Letters the topic refuses as too
// large (its max.message.bytes) are cut by half until they fit.
func (s *Server) deadLetter(c *gin.Context, rejected []rejectedEvent) bool {
	if s.deps.DeadLetters == nil {
		fail(c, http.StatusServiceUnavailable, "event ingest is not configured on this server")
		return false
	}
	key := c.MustGet(ctxWriteKey).(schema.APIKey)
	now := time.Now()
	keep := 0
	for _, r := range rejected {
		keep = max(keep, len(r.raw))
	}
	for {
		letters := make([]ingest.Message, 0, len(rejected))
		for _, r := range rejected {
			r.key.WorkspaceID = key.WorkspaceID
			l, err := ingest.NewRejectedLetter(ingest.RejectedEvent{Reason: r.Error, Field: r.Field, Path: c.Request.URL.Path, Index: r.Index,
				WorkspaceID: key.WorkspaceID, RequestID: c.GetString(ctxRequestID), Key: r.key.Key()}, r.raw, keep, now)
			if err != nil {
				s.internal(c, "encode dead letter", err)
				return false
			}
			letters = append(letters, l)
		}
		err := s.deps.DeadLetters.Produce(c, letters...)
		if err == nil {
			break
		}
		if ingest.IsTooLarge(err) && keep > 0 {
			keep /= 2
			continue
		}
		s.deps.Log.ErrorContext(c, "dead-letter refused events", "error", err, "request_id", c.GetString(ctxRequestID))
		fail(c, http.StatusServiceUnavailable, "the event broker did not accept the events; retry")
		return false
	}
	s.metrics.rejectedEvents.Add(float64(len(rejected)))
	return true
}

// readBatch reads a /v1/batch body quickly, or with encoding/json for the
// reference result and error when the quick reader fails. The events'
// bytes share body's memory.
func readBatch(body []byte) (batchRequest, error) {
	var fast struct {
		Batch   []json.RawMessage   `json:"batch"`
		Context json.RawMessage     `json:"context"`
		SentAt  ingest.OptionalTime `json:"sentAt"` // read as encoding/json reads a time
	}
	if rest, err := fastjson.Parse(body, &fast, fastjson.DontCopyRawMessage); err == nil && len(rest) == 0 {
		return batchRequest{Batch: fast.Batch, Context: fast.Context, SentAt: fast.SentAt.At}, nil
	}
	var req batchRequest
	err := ingest.DecodeRepaired(body, json.Unmarshal(body, &req), []string{"sentAt"}, func(fixed []byte) error {
		req = batchRequest{}
		return json.Unmarshal(fixed, &req)
	})
	return req, err
}

// eventBody is an event as a request carries it. Its sentAt is read
// apart so a present one (null included) is known to be the event's own.
type eventBody struct {
	ingest.Event
	SentAt ingest.OptionalTime `json:"sentAt"`
}

// readBatchEvent reads one event of a batch: quickly, or with encoding/json
// for the reference result and error when the quick reader cannot vouch
// for it. Each element is exactly one JSON value (the batch decoded), so
// Unmarshal reads it as a decoder would.
func readBatchEvent(raw json.RawMessage) (eventBody, error) {
	if p, ok := ingest.ParseEvent(raw); ok {
		return eventBody{Event: p.Event, SentAt: ingest.OptionalTime{Set: p.HasSentAt, At: p.SentAt}}, nil
	}
	var ev eventBody
	err := ingest.DecodeRepaired(raw, json.Unmarshal(raw, &ev), ingest.EventTimeFields, func(fixed []byte) error {
		ev = eventBody{}
		return json.Unmarshal(fixed, &ev)
	})
	return ev, err
}

// applyOwnSentAt moves the body's sentAt into the event.
func (ev *eventBody) applyOwnSentAt() { ev.Event.SentAt = ev.SentAt.At }

// batchDefaults are what a batch gives its events: its sentAt (for the
// clock-skew correction) where an event has none of its own (even a null
// one), and its context, merged key by key into each event's, the event's
// keys winning, as Segment's batch endpoint documents ("merged with any
// context inside each of the items in the batch").
type batchDefaults struct {
	sentAt  *time.Time
	context json.RawMessage
	// members are the batch context's members, to merge into an event's
	// own context.
	members []contextMember
	// sentAtBytes and contextBytes are what each adds to an event's size
	// that has none.
	sentAtBytes, contextBytes int
}

func newBatchDefaults(sentAt *time.Time, batchCtx json.RawMessage) batchDefaults {
	d := batchDefaults{sentAt: sentAt}
	if sentAt != nil {
		d.sentAtBytes = len(`,"sentAt":""`) + len(sentAt.Format(time.RFC3339Nano))
	}
	if len(batchCtx) > 0 && string(batchCtx) != "null" {
		d.context = batchCtx
		d.contextBytes = len(`,"context":`) + len(batchCtx)
		for _, m := range ingest.TopLevelMembers(batchCtx) {
			k, _ := json.Marshal(m.Key) // a string always encodes
			d.members = append(d.members, contextMember{key: m.Key, json: append(append(k, ':'), m.Value...)})
		}
	}
	return d
}

// contextMember is a member of a batch's context: its key, and the member
// as JSON ("key":value).
type contextMember struct {
	key  string
	json []byte
}

// grows gives the event raw, decoded into ev, the batch's context (merged
// into its own) and says how many bytes the defaults add to it: the event
// size limit applies to the event with them.
func (d batchDefaults) grows(raw json.RawMessage, ev *eventBody) int {
	if len(raw) == 0 || raw[0] != '{' {
		return 0 // not an object: nothing is added, decoding reports it
	}
	n := 0
	if !ev.SentAt.Set {
		n += d.sentAtBytes
	}
	switch own := bytes.TrimSpace(ev.Context); {
	case d.context == nil:
	case len(own) == 0:
		n += d.contextBytes
		ev.Context = d.context
	case string(own) == "null":
		n += len(d.context) - len(ev.Context)
		ev.Context = d.context
	case own[0] == '{':
		merged := mergeContext(own, d.members)
		n += len(merged) - len(ev.Context)
		ev.Context = merged
	}
	return n
}

// mergeContext is the JSON object own with the members of the batch's
// context whose keys it does not have added at its end; own's bytes stay
// as sent.
func mergeContext(own json.RawMessage, batch []contextMember) json.RawMessage {
	mine := ingest.TopLevelMembers(own)
	have := make(map[string]bool, len(mine))
	for _, m := range mine {
		have[m.Key] = true
	}
	end := bytes.LastIndexByte(own, '}')
	if end < 0 {
		return own // not an object after all: validation says so
	}
	out := append([]byte(nil), own[:end]...)
	sep := len(mine) > 0
	added := false
	for _, m := range batch {
		if have[m.key] {
			continue
		}
		if sep {
			out = append(out, ',')
		}
		sep, added = true, true
		out = append(out, m.json...)
	}
	if !added {
		return own
	}
	return append(out, own[end:]...)
}

// apply gives the event the batch's sentAt where it has none.
func (d batchDefaults) apply(ev *eventBody) {
	ev.applyOwnSentAt()
	if !ev.SentAt.Set {
		ev.Event.SentAt = d.sentAt
	}
}

// timeDecodeError names the time field of the JSON object raw that
// decoding it refused (err), among fields (the times decoding raw reads),
// and says why; ok is false when err is not about a time.
func timeDecodeError(raw []byte, err error, fields ...string) (field, msg string, ok bool) {
	var timeErr *time.ParseError
	if errors.As(err, &timeErr) {
		return timeField(raw, timeErr.Value, fields), "times must be ISO 8601 / RFC 3339: " + err.Error(), true
	}
	if field, ok := ingest.NonStringTime(raw, err, fields...); ok {
		return field, "times must be ISO 8601 / RFC 3339 strings: " + err.Error(), true
	}
	return "", "", false
}

// timeField names the key of the object raw, among fields, whose text is
// value (the first field when none is found).
func timeField(raw []byte, value string, fields []string) string {
	for _, m := range ingest.TopLevelMembers(raw, fields...) {
		// time.Time reads the text between the quotes as it is, escapes
		// and all ("2024\/05\/01"); compare both ways.
		var v string
		if json.Unmarshal(m.Value, &v) == nil && v == value ||
			len(m.Value) >= 2 && string(m.Value[1:len(m.Value)-1]) == value {
			return m.Key
		}
	}
	return fields[0]
}

type ingestError struct {
	ingest.FieldError
	status int
}

// prepareEvent validates and normalises one decoded event for the topic;
// decodeErr is what decoding raw reported.
func (s *Server) prepareEvent(c *gin.Context, raw []byte, ev ingest.Event, decodeErr error, typ string) (ingest.Message, *ingestError) {
	bad := func(field, msg string) *ingestError {
		return &ingestError{FieldError: ingest.FieldError{Field: field, Message: msg}, status: http.StatusBadRequest}
	}
	if err := decodeErr; err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			// Name the event's field and type, not those of eventBody that
			// holds it while it is read.
			field := strings.TrimPrefix(typeErr.Field, "Event.")
			if field == "" || typeErr.Type == reflect.TypeFor[eventBody]() {
				return ingest.Message{}, bad("body", "the event must be a JSON object, not "+typeErr.Value)
			}
			kind := jsonKind(typeErr.Type)
			switch field {
			case "userId", "anonymousId", "previousId", "groupId":
				kind = "a string or a number"
			}
			return ingest.Message{}, bad(field, fmt.Sprintf("field %q must be %s", field, kind))
		}
		if field, msg, ok := timeDecodeError(raw, err, ingest.EventTimeFields...); ok {
			return ingest.Message{}, bad(field, msg)
		}
		return ingest.Message{}, bad("body", "event is not valid JSON: "+err.Error())
	}
	if typ != "" {
		if ev.Type != "" && ev.Type != typ {
			return ingest.Message{}, bad("type", fmt.Sprintf("type %q does not match the endpoint /v1/%s", ev.Type, typ))
		}
		ev.Type = typ
	}
	if ferr := ev.Validate(); ferr != nil {
		return ingest.Message{}, bad(ferr.Field, ferr.Message)
	}
	key := c.MustGet(ctxWriteKey).(schema.APIKey)
	ev.WorkspaceID = key.WorkspaceID
	ev.WriteKey = ""
	ev.Normalize(time.Now(), uuid.NewString)
	if ferr := ev.CheckTimes(); ferr != nil {
		return ingest.Message{}, bad(ferr.Field, ferr.Message)
	}
	b, err := ingest.MarshalEvent(&ev)
	if err != nil {
		return ingest.Message{}, bad("body", "encode event: "+err.Error())
	}
	// The consumer refuses a larger message (it would be dead-lettered
	// after a 200): the event as written, not as sent, must fit.
	if ferr := ev.CheckMessageSize(b); ferr != nil {
		return ingest.Message{}, bad(ferr.Field, ferr.Message)
	}
	return ingest.Message{Key: ev.Key(), Value: b}, nil
}

// produce writes msgs to the events topic and answers 200 once the broker
// acknowledged them, naming the batch's refused events, if any.
func (s *Server) produce(c *gin.Context, msgs []ingest.Message, rejected []rejectedEvent) {
	if s.deps.Producer == nil {
		fail(c, http.StatusServiceUnavailable, "event ingest is not configured on this server")
		return
	}
	if err := s.deps.Producer.Produce(c, msgs...); err != nil {
		s.deps.Log.ErrorContext(c, "produce events", "error", err, "request_id", c.GetString(ctxRequestID))
		fail(c, http.StatusServiceUnavailable, "the event broker did not accept the events; retry")
		return
	}
	if len(rejected) > 0 {
		c.JSON(http.StatusOK, gin.H{"success": true, "rejected": rejected})
		return
	}
	c.JSON(http.StatusOK, gin.H{"success": true})
}

// jsonKind names a Go field type as the JSON a sender should write.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[time.Time]():
		return "an ISO 8601 / RFC 3339 time string"
	case t == reflect.TypeFor[json.RawMessage](), t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		return "a JSON object"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32, t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice, t.Kind() == reflect.Array:
		return "a JSON array"
	}
	return "JSON of another type"
}
