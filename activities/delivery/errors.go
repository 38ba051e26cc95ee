package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"
)

// Reason codes: stable, snake_case names for why a send failed, for
// delivery records, metrics and Temporal error types.
const (
	// Permanent reasons.
	ReasonInvalidRecipient  = "invalid_recipient"   // the address or number cannot receive
	ReasonRecipientOptedOut = "recipient_opted_out" // the recipient unsubscribed at the provider
	ReasonRejected          = "rejected"            // the provider refused the message
	ReasonInvalidMessage    = "invalid_message"     // the message itself is malformed
	ReasonHeaderInjection   = "header_injection"    // a header value holds a line break
	ReasonBlockedAddress    = "blocked_address"     // a webhook destination is not public
	ReasonAuth              = "auth_failed"         // the provider refused our credentials
	ReasonConfig            = "bad_config"          // the channel settings cannot work
	ReasonClientError       = "client_error"        // any other 4xx answer

	// Transient reasons.
	ReasonRateLimited = "rate_limited"         // 429 or a provider throttle
	ReasonTimeout     = "timeout"              // no answer in time
	ReasonUnavailable = "provider_unavailable" // 5xx or a temporary SMTP reply
	ReasonNetwork     = "network"              // connection, DNS or TLS failure
	ReasonCanceled    = "canceled"             // the caller gave up

	// ReasonOutcomeUnknown: the provider had the whole message and no
	// answer came (timeout, connection lost); it may have sent it.
	ReasonOutcomeUnknown = "outcome_unknown"
)

// PermanentError is a failure that retrying cannot fix: record it and do
// not send again.
type PermanentError struct {
	Reason string // one of the Reason constants
	Err    error
}

// Error returns the underlying error's text.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *PermanentError) Unwrap() error { return e.Err }

// TransientError is a failure that may pass on a later attempt.
type TransientError struct {
	Reason string // one of the Reason constants
	// RetryAfter is the provider's hint of when to try again (zero if none).
	RetryAfter time.Duration
	Err        error
}

// Error returns the underlying error's text.
func (e *TransientError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *TransientError) Unwrap() error { return e.Err }

// UnknownOutcomeError is a call that failed after the provider received the
// whole message, before it answered: the message may have gone out. A
// provider without idempotency must not be called again for it.
type UnknownOutcomeError struct {
	Err error
}

// Error returns the underlying error's text.
func (e *UnknownOutcomeError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UnknownOutcomeError) Unwrap() error { return e.Err }

// IsUnknownOutcome reports whether err (or an error it wraps) says the
// provider may have the message.
func IsUnknownOutcome(err error) bool {
	var u *UnknownOutcomeError
	return errors.As(err, &u)
}

// IsPermanent reports whether err (or an error it wraps) is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// ReasonOf returns the reason code of err: the one it carries, or one
// guessed from its kind; "" for nil.
func ReasonOf(err error) string {
	var p *PermanentError
	var t *TransientError
	switch {
	case err == nil:
		return ""
	case IsUnknownOutcome(err):
		return ReasonOutcomeUnknown
	case errors.As(err, &p):
		return p.Reason
	case errors.As(err, &t):
		return t.Reason
	}
	return transportReason(err)
}

func permanentf(reason, format string, args ...any) *PermanentError {
	return &PermanentError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

func transientf(reason, format string, args ...any) *TransientError {
	return &TransientError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// transportReason names a failure that happened before any answer came.
func transportReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	}
	return ReasonNetwork
}

// classifyTransport wraps an error that happened before any answer came:
// it is transient unless it already carries a classification.
func classifyTransport(err error) error {
	var p *PermanentError
	var t *TransientError
	if errors.As(err, &p) || errors.As(err, &t) || IsUnknownOutcome(err) {
		return err
	}
	return &TransientError{Reason: transportReason(err), Err: err}
}

// classifyNoAnswer classifies an HTTP call that got no answer: once the
// whole request was written the provider may have acted on it (a timeout
// while it works, a connection lost before its answer), so the outcome is
// unknown; before that, the failure is the transport's.
func classifyNoAnswer(err error, w *wroteRequest) error {
	if w.whole.Load() && !IsPermanent(err) {
		return &UnknownOutcomeError{Err: err}
	}
	return classifyTransport(err)
}

// wroteRequest notes whether an HTTP request went out whole.
type wroteRequest struct{ whole atomic.Bool }

// trace returns ctx with a client trace that notes it.
func (w *wroteRequest) trace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			w.whole.Store(true)
		}
	}})
}

// classifyStatus classifies a non-2xx HTTP answer: 408, 429 and 5xx are
// transient, any other status permanent.
func classifyStatus(status int, header http.Header, err error) error {
	switch {
	case status == http.StatusTooManyRequests:
		return &TransientError{Reason: ReasonRateLimited, RetryAfter: retryAfter(header), Err: err}
	case status == http.StatusRequestTimeout:
		return &TransientError{Reason: ReasonTimeout, Err: err}
	case status >= 500:
		return &TransientError{Reason: ReasonUnavailable, RetryAfter: retryAfter(header), Err: err}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return &PermanentError{Reason: ReasonAuth, Err: err}
	}
	return &PermanentError{Reason: ReasonClientError, Err: err}
}

// retryAfter reads a Retry-After header given in seconds or as a date.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
