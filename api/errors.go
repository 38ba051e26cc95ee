package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/heraldhq/herald/schema"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func fail(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg})
}

func failField(c *gin.Context, status int, field, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg, Field: field})
}

// internal logs err and answers 500 without leaking details.
func (s *Server) internal(c *gin.Context, action string, err error) {
	s.deps.Log.ErrorContext(c, action, "error", err, "request_id", c.GetString(ctxRequestID))
	if schema.IsDataError(err) {
		// What the client sent holds text Postgres cannot store (a NUL
		// character, bytes that are not UTF-8): its mistake, not ours.
		fail(c, http.StatusBadRequest, "the request holds a value that cannot be stored (a NUL character, bytes that are not UTF-8, a value too long to index)")
		return
	}
	if schema.IsUnavailable(err) {
		fail(c, http.StatusServiceUnavailable, "the database is unavailable ("+action+"); retry; request id "+c.GetString(ctxRequestID))
		return
	}
	if errors.Is(err, context.DeadlineExceeded) && c.Request.Context().Err() != nil {
		// The request's time ran out waiting on the database or the broker:
		// nothing was accepted, and a retry (which Segment's libraries do
		// on 5xx) is the answer.
		fail(c, http.StatusServiceUnavailable, "a dependency did not answer in time ("+action+"); retry; request id "+c.GetString(ctxRequestID))
		return
	}
	fail(c, http.StatusInternalServerError, "internal error ("+action+"); request id "+c.GetString(ctxRequestID))
}

// pathParams unescapes the route's parameters as a path is unescaped ("+"
// stays "+") when gin matched the escaped path (the request has a RawPath:
// it escapes a "/" or writes an escape another way); otherwise gin matched
// the unescaped path, and the parameters are already as sent.
func pathParams(c *gin.Context) {
	if c.Request.URL.RawPath == "" {
		return
	}
	for i, p := range c.Params {
		v, err := url.PathUnescape(p.Value)
		if err != nil {
			fail(c, http.StatusBadRequest, "the path has a bad escape: "+err.Error())
			c.Abort()
			return
		}
		c.Params[i].Value = v
	}
}

// storableText refuses a request whose path or query holds a NUL character
// or bytes that are not UTF-8 — ids, searches and file names that Postgres
// cannot store or compare — with 400 naming the parameter.
func storableText(c *gin.Context) {
	bad := func(s string) bool { return !utf8.ValidString(s) || strings.ContainsRune(s, 0) }
	if bad(c.Request.URL.Path) {
		fail(c, http.StatusBadRequest, "the path holds a NUL character or bytes that are not UTF-8")
		c.Abort()
		return
	}
	for k, vs := range c.Request.URL.Query() {
		for _, v := range vs {
			if bad(k) || bad(v) {
				failField(c, http.StatusBadRequest, strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", ""), "\uFFFD"), "the parameter holds a NUL character or bytes that are not UTF-8")
				c.Abort()
				return
			}
		}
	}
	c.Next()
}

// ingestTimeout bounds a /v1 request: the write key lookup and the broker's
// acknowledgement. A Segment library retries a 503.
const ingestTimeout = 15 * time.Second

// requestTimeout gives the request's context a deadline, so that a database
// or broker that hangs answers 503 instead of holding the client.
func requestTimeout(d time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), d)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// bindJSON decodes the request body into v strictly (unknown fields and
// trailing data are errors) and answers 400/413/415 itself when it fails.
func bindJSON(c *gin.Context, v any) bool {
	// Bodies are JSON whatever the Content-Type says (curl -d sends
	// x-www-form-urlencoded); only multipart uploads are refused outright.
	// Browser sessions are CSRF-protected by the X-CSRF-Token header.
	if strings.HasPrefix(strings.ToLower(c.GetHeader("Content-Type")), "multipart/") {
		fail(c, http.StatusUnsupportedMediaType, "request body must be JSON (Content-Type: application/json)")
		return false
	}
	var read bytes.Buffer // to name where an unknown field is
	dec := json.NewDecoder(io.TeeReader(c.Request.Body, &read))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		err = trailingData(dec)
	}
	if err == nil {
		return true
	}
	failDecode(c, err, read.Bytes(), reflect.TypeOf(v))
	return false
}

// errTrailingData is a body with more than whitespace after its value.
var errTrailingData = errors.New("request body has data after the JSON value")

// trailingData is nil when dec has nothing but whitespace after the value
// it decoded (dec.More is false before a stray "}" or "]" too), the
// body's own read error (too large) or errTrailingData otherwise.
func trailingData(dec *json.Decoder) error {
	_, err := dec.Token()
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &tooBig):
		return err
	}
	return errTrailingData
}

// failDecode answers a strict decode of body into a value of type t that
// failed with err: 400 (413 when too large) naming the field when there is
// one (its path for an unknown key).
func failDecode(c *gin.Context, err error, body []byte, t reflect.Type) {
	status, field, msg := decodeFailure(err, body, t)
	if field != "" {
		failField(c, status, field, msg)
	} else {
		fail(c, status, msg)
	}
}

// decodeFailure is failDecode's answer: its status, the field it names
// (if any) and the message.
func decodeFailure(err error, body []byte, t reflect.Type) (status int, field, msg string) {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	field, fieldMsg := fieldError(err)
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		if path := unknownFieldPath(body, t, field); path != "" {
			field, fieldMsg = path, fmt.Sprintf("unknown field %q", path)
		}
	}
	switch {
	case errors.Is(err, errTrailingData):
		return http.StatusBadRequest, "", err.Error()
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, "", "request body is empty; expected a JSON object"
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, "", "request body is not valid JSON: " + err.Error()
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return http.StatusBadRequest, "", "request body must be a JSON object, not " + typeErr.Value
	case fieldMsg != "":
		return http.StatusBadRequest, field, fieldMsg
	}
	return http.StatusBadRequest, "", "request body: " + err.Error()
}

// fieldError names the field a strict decode failed on and says what is
// wrong with it: a value of the wrong JSON type, or a field the type does
// not have. The message is empty for other errors.
func fieldError(err error) (field, msg string) {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return typeErr.Field, fmt.Sprintf("field %q must be %s", typeErr.Field, jsonKind(typeErr.Type))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		quoted := strings.TrimPrefix(err.Error(), "json: unknown field ")
		field, uerr := strconv.Unquote(quoted) // the key as sent, escapes read
		if uerr != nil {
			field = strings.Trim(quoted, `"`)
		}
		return field, fmt.Sprintf("unknown field %q", field)
	}
	return "", ""
}

// unknownFieldPath finds, in document order, the first key named name
// that the type at its place in body does not have, and returns its path
// as the API names fields ("mapping.attributes[0].colour"); "" when it
// cannot tell. encoding/json only gives the key itself.
func unknownFieldPath(body []byte, t reflect.Type, name string) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var walk func(t reflect.Type, path string) (string, bool)
	walk = func(t reflect.Type, path string) (string, bool) {
		tok, err := dec.Token()
		if err != nil {
			return "", true // give up
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return "", true
				}
				key, _ := kt.(string)
				child := key
				if path != "" {
					child = path + "." + key
				}
				ft, known := jsonFieldType(t, key)
				if !known && key == name {
					return child, true
				}
				if p, done := walk(ft, child); done {
					return p, true
				}
			}
			_, _ = dec.Token()
		case json.Delim('['):
			var et reflect.Type
			if t = derefType(t); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				et = t.Elem()
			}
			for i := 0; dec.More(); i++ {
				if p, done := walk(et, fmt.Sprintf("%s[%d]", path, i)); done {
					return p, true
				}
			}
			_, _ = dec.Token()
		}
		return "", false
	}
	p, _ := walk(t, "")
	return p
}

var jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func derefType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// jsonFieldType is the type encoding/json decodes the object key into at
// type t (nil: anything goes there) and whether t takes the key at all.
func jsonFieldType(t reflect.Type, key string) (reflect.Type, bool) {
	t = derefType(t)
	if t == nil || reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		return nil, true
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem(), true
	case reflect.Struct:
		// As encoding/json: a field of the struct itself over one of an
		// embedded struct, an exact name over a case-insensitive one.
		var embedded []reflect.Type
		var folded reflect.Type
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "-" {
				continue
			}
			if f.Anonymous && tag == "" && derefType(f.Type).Kind() == reflect.Struct {
				embedded = append(embedded, f.Type)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			if tag == key {
				return f.Type, true
			}
			if folded == nil && strings.EqualFold(tag, key) {
				folded = f.Type
			}
		}
		if folded != nil {
			return folded, true
		}
		for _, et := range embedded {
			if ft, ok := jsonFieldType(et, key); ok {
				return ft, true
			}
		}
		return nil, false
	}
	return nil, true
}
