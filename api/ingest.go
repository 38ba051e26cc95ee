package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

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
	if user, _, ok := c.Request.BasicAuth(); ok {
		key = user
	} else if after, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer "); ok {
		key = strings.TrimSpace(after)
	}
	if key == "" {
		fail(c, http.StatusUnauthorized, "send the write key as the Basic auth username or as `Authorization: Bearer <write key>`")
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
	if strings.EqualFold(c.GetHeader("Content-Encoding"), "gzip") {
		gz, err := gzip.NewReader(c.Request.Body)
		if err != nil {
			fail(c, http.StatusBadRequest, "body is not valid gzip: "+err.Error())
			return nil, false
		}
		defer gz.Close()
		r = gz
	}
	body, err := io.ReadAll(io.LimitReader(r, ingest.MaxBatchBytes+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", ingest.MaxBatchBytes))
		return nil, false
	case err != nil:
		fail(c, http.StatusBadRequest, "read body: "+err.Error())
		return nil, false
	case len(body) > ingest.MaxBatchBytes:
		fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", ingest.MaxBatchBytes))
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
		msg, ferr := s.prepareEvent(c, body, typ, "")
		if ferr != nil {
			failField(c, ferr.status, ferr.Field, ferr.Message)
			return
		}
		s.produce(c, []ingest.Message{msg})
	}
}

type batchRequest struct {
	Batch   []json.RawMessage `json:"batch"`
	Context json.RawMessage   `json:"context"`
	SentAt  *time.Time        `json:"sentAt"`
}

// ingestBatch handles /v1/batch: every event is validated before any is
// produced, so a bad batch stores nothing.
func (s *Server) ingestBatch(c *gin.Context) {
	body, ok := readIngestBody(c)
	if !ok {
		return
	}
	var req batchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		fail(c, http.StatusBadRequest, "request body is not valid JSON: "+err.Error())
		return
	}
	if len(req.Batch) == 0 {
		failField(c, http.StatusBadRequest, "batch", `"batch" must be a non-empty array of events`)
		return
	}
	msgs := make([]ingest.Message, 0, len(req.Batch))
	for i, raw := range req.Batch {
		raw = withBatchDefaults(raw, req.SentAt, req.Context)
		msg, ferr := s.prepareEvent(c, raw, "", fmt.Sprintf("batch[%d].", i))
		if ferr != nil {
			failField(c, ferr.status, ferr.Field, fmt.Sprintf("batch[%d]: %s", i, ferr.Message))
			return
		}
		msgs = append(msgs, msg)
	}
	s.produce(c, msgs)
}

// withBatchDefaults gives an event of a batch the batch's sentAt (for the
// clock-skew correction) and context when it has none of its own, as
// Segment's batch endpoint does.
func withBatchDefaults(raw json.RawMessage, sentAt *time.Time, batchCtx json.RawMessage) json.RawMessage {
	if sentAt == nil && len(batchCtx) == 0 {
		return raw
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return raw // prepareEvent reports it
	}
	changed := false
	if _, ok := fields["sentAt"]; !ok && sentAt != nil {
		fields["sentAt"], _ = json.Marshal(sentAt)
		changed = true
	}
	if _, ok := fields["context"]; !ok && len(batchCtx) > 0 && string(batchCtx) != "null" {
		fields["context"] = batchCtx
		changed = true
	}
	if !changed {
		return raw
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return raw
	}
	return out
}

type ingestError struct {
	ingest.FieldError
	status int
}

// prepareEvent parses, validates and normalises one event for the topic.
func (s *Server) prepareEvent(c *gin.Context, raw []byte, typ, fieldPrefix string) (ingest.Message, *ingestError) {
	bad := func(field, msg string) *ingestError {
		return &ingestError{FieldError: ingest.FieldError{Field: fieldPrefix + field, Message: msg}, status: http.StatusBadRequest}
	}
	if len(raw) > ingest.MaxEventBytes {
		e := bad("", fmt.Sprintf("event is %d bytes; the limit is %d", len(raw), ingest.MaxEventBytes))
		e.status = http.StatusRequestEntityTooLarge
		return ingest.Message{}, e
	}
	var ev ingest.Event
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&ev); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return ingest.Message{}, bad(typeErr.Field, fmt.Sprintf("field %q must be %s", typeErr.Field, typeErr.Type))
		}
		var timeErr *time.ParseError
		if errors.As(err, &timeErr) {
			return ingest.Message{}, bad("timestamp", "times must be ISO 8601 / RFC 3339: "+err.Error())
		}
		return ingest.Message{}, bad("", "event is not valid JSON: "+err.Error())
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
	b, err := json.Marshal(ev)
	if err != nil {
		return ingest.Message{}, bad("", "encode event: "+err.Error())
	}
	return ingest.Message{Key: ev.Key(), Value: b}, nil
}

func (s *Server) produce(c *gin.Context, msgs []ingest.Message) {
	if s.deps.Producer == nil {
		fail(c, http.StatusServiceUnavailable, "event ingest is not configured on this server")
		return
	}
	if err := s.deps.Producer.Produce(c, msgs...); err != nil {
		s.deps.Log.ErrorContext(c, "produce events", "error", err, "request_id", c.GetString(ctxRequestID))
		fail(c, http.StatusServiceUnavailable, "the event broker did not accept the events; retry")
		return
	}
	c.JSON(http.StatusOK, gin.H{"success": true})
}
