// Package delivery is Herald's provider layer: it hands one rendered message
// to Amazon SES v2, an SMTP server, Twilio, a webhook or the development
// outbox, and classifies every failure as permanent (record it, do not retry)
// or transient (let Temporal retry). It also holds the small security pieces
// delivery needs: signed tracking and unsubscribe links, Twilio and SNS
// request verification, SES event parsing and credential encryption.
//
// The package imports nothing else of Herald's; the send activity decides
// which provider a workspace uses and records what happened.
package delivery

import (
	"context"
	"maps"
	"net/mail"
	"slices"
	"strings"
)

// Channel is the kind of message a provider delivers.
type Channel string

// The channels of DESIGN §7.
const (
	ChannelEmail   Channel = "email"
	ChannelSMS     Channel = "sms"
	ChannelWebhook Channel = "webhook"
)

// Message is one rendered message for one recipient, ready for a provider.
type Message struct {
	// ID is the caller's deterministic message id (DESIGN §9). Providers use
	// it as their idempotency key where they have one, and it travels in
	// tags and headers so provider events can be matched back.
	ID          string
	WorkspaceID string
	JourneyID   string
	Channel     Channel
	// Exactly the part matching Channel is set.
	Email   *Email
	SMS     *SMS
	Webhook *Webhook
}

// Email is the rendered content of an email message.
type Email struct {
	From    string // "Acme <hi@acme.io>"
	ReplyTo string
	To      string
	Subject string
	HTML    string
	Text    string
	// UnsubscribeURL, when set, becomes the List-Unsubscribe header with
	// List-Unsubscribe-Post one-click unsubscribe (RFC 8058).
	UnsubscribeURL string
	// Headers are extra header fields. They may not replace the ones the
	// provider writes itself (From, To, Subject, MIME structure…).
	Headers map[string]string
}

// SMS is the rendered content of a text message.
type SMS struct {
	// From is the sender number; MessagingServiceSID, when set, lets the
	// messaging service pick the sender instead.
	From                string
	MessagingServiceSID string
	To                  string
	Body                string
	// StatusCallback is the URL the provider reports delivery status to.
	StatusCallback string
}

// Webhook is the rendered content of an outgoing HTTP request.
type Webhook struct {
	Method  string // POST when empty
	URL     string
	Headers map[string]string
	Body    string
}

// Result is what a provider said about an accepted message.
type Result struct {
	// Provider names the provider: ses, smtp, twilio, webhook or outbox.
	Provider string
	// ProviderMessageID is the provider's own id for the message, the key
	// its later status events carry.
	ProviderMessageID string
	// StatusCode is the HTTP status of a webhook response.
	StatusCode int
	// Body is the start of a webhook response body, at most the configured
	// read limit; BodyTruncated says the response was longer.
	Body          string
	BodyTruncated bool
}

// Provider delivers messages. Its errors satisfy IsPermanent when a retry
// cannot succeed.
type Provider interface {
	Send(ctx context.Context, m Message) (Result, error)
}

// Outbox is the development provider: it delivers nothing, and the caller's
// delivery record is the message.
type Outbox struct{}

// outboxSender stands in for a sender identity, which the outbox does
// not need: a workspace on the outbox has configured none.
const outboxSender = "Herald outbox <outbox@herald.invalid>"

// Send checks the message (everything but the sender) and accepts it.
func (Outbox) Send(_ context.Context, m Message) (Result, error) {
	if e := m.Email; e != nil && e.From == "" {
		c := *e
		c.From = outboxSender
		m.Email = &c
	}
	if s := m.SMS; s != nil && s.From == "" && s.MessagingServiceSID == "" {
		c := *s
		c.From = "outbox"
		m.SMS = &c
	}
	if err := m.Validate(); err != nil {
		return Result{}, err
	}
	return Result{Provider: "outbox", ProviderMessageID: "outbox:" + m.ID}, nil
}

// reservedEmailHeaders are written by the providers and may not be set as
// extra headers.
var reservedEmailHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true, "subject": true,
	"date": true, "message-id": true, "mime-version": true, "content-type": true,
	"content-transfer-encoding": true, "list-unsubscribe": true, "list-unsubscribe-post": true,
}

// Validate checks that the message can be handed to a provider: the part
// for its channel is present and complete, addresses parse, and no header
// value can inject another header. Its errors are permanent.
func (m Message) Validate() error {
	if m.ID == "" {
		return permanentf(ReasonInvalidMessage, "message has no id")
	}
	switch m.Channel {
	case ChannelEmail:
		if m.Email == nil {
			return permanentf(ReasonInvalidMessage, "email message %s has no email content", m.ID)
		}
		return m.Email.validate()
	case ChannelSMS:
		if m.SMS == nil {
			return permanentf(ReasonInvalidMessage, "sms message %s has no sms content", m.ID)
		}
		return m.SMS.validate()
	case ChannelWebhook:
		if m.Webhook == nil {
			return permanentf(ReasonInvalidMessage, "webhook message %s has no webhook content", m.ID)
		}
		return m.Webhook.validate()
	}
	return permanentf(ReasonInvalidMessage, "unknown channel %q", m.Channel)
}

// validateFor validates m for a provider of one channel.
func (m Message) validateFor(c Channel, provider string) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if m.Channel != c {
		return permanentf(ReasonConfig, "%s provider cannot send %s messages", provider, m.Channel)
	}
	return nil
}

func (e *Email) validate() error {
	fields := []struct{ name, value string }{
		{"from", e.From}, {"reply_to", e.ReplyTo}, {"to", e.To}, {"subject", e.Subject},
		{"unsubscribe_url", e.UnsubscribeURL},
	}
	for _, f := range fields {
		if err := checkHeaderValue(f.name, f.value); err != nil {
			return err
		}
	}
	if err := checkHeaders(e.Headers, reservedEmailHeaders); err != nil {
		return err
	}
	if _, err := mail.ParseAddress(e.To); err != nil {
		return permanentf(ReasonInvalidRecipient, "parse recipient %q: %v", e.To, err)
	}
	if _, err := mail.ParseAddress(e.From); err != nil {
		return permanentf(ReasonInvalidMessage, "parse sender %q: %v", e.From, err)
	}
	if e.ReplyTo != "" {
		if _, err := mail.ParseAddress(e.ReplyTo); err != nil {
			return permanentf(ReasonInvalidMessage, "parse reply-to %q: %v", e.ReplyTo, err)
		}
	}
	if e.HTML == "" && e.Text == "" {
		return permanentf(ReasonInvalidMessage, "email has neither html nor text")
	}
	return nil
}

func (s *SMS) validate() error {
	for _, f := range []struct{ name, value string }{{"from", s.From}, {"to", s.To}, {"messaging_service_sid", s.MessagingServiceSID}} {
		if err := checkHeaderValue(f.name, f.value); err != nil {
			return err
		}
	}
	if s.To == "" {
		return permanentf(ReasonInvalidRecipient, "sms has no recipient")
	}
	if s.From == "" && s.MessagingServiceSID == "" {
		return permanentf(ReasonInvalidMessage, "sms has neither a sender number nor a messaging service")
	}
	if s.Body == "" {
		return permanentf(ReasonInvalidMessage, "sms has no body")
	}
	return nil
}

func (w *Webhook) validate() error {
	if err := checkHeaderValue("url", w.URL); err != nil {
		return err
	}
	if w.Method != "" && !isToken(w.Method) {
		return permanentf(ReasonInvalidMessage, "webhook method %q is not a valid http method", w.Method)
	}
	return checkHeaders(w.Headers, nil)
}

// checkHeaderValue refuses CR and LF (and NUL), which would let a rendered
// value start a header of its own.
func checkHeaderValue(name, value string) error {
	if strings.ContainsAny(value, "\r\n\x00") {
		return permanentf(ReasonHeaderInjection, "%s contains a line break", name)
	}
	return nil
}

// checkHeaders checks extra header fields: names must be tokens, not
// reserved, and values single-line.
func checkHeaders(h map[string]string, reserved map[string]bool) error {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if !isToken(name) {
			return permanentf(ReasonHeaderInjection, "header name %q is not a valid field name", name)
		}
		if reserved[strings.ToLower(name)] {
			return permanentf(ReasonInvalidMessage, "header %s cannot be set as an extra header", name)
		}
		if err := checkHeaderValue("header "+name, h[name]); err != nil {
			return err
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token, the syntax of header
// field names and methods.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// tags are the identifiers attached to a message as provider tags (SES),
// so the provider's events can be matched back to it.
func (m Message) tags() [][2]string {
	return [][2]string{{"workspace_id", m.WorkspaceID}, {"journey_id", m.JourneyID}, {"message_id", m.ID}}
}

// listUnsubscribeHeaders are the RFC 2369 / RFC 8058 headers for url.
func listUnsubscribeHeaders(url string) [][2]string {
	if url == "" {
		return nil
	}
	return [][2]string{{"List-Unsubscribe", "<" + url + ">"}, {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}}
}

// extraHeaders are the extra and unsubscribe headers of e in a stable order.
func (e *Email) extraHeaders() [][2]string {
	out := listUnsubscribeHeaders(e.UnsubscribeURL)
	for _, k := range slices.Sorted(maps.Keys(e.Headers)) {
		out = append(out, [2]string{k, e.Headers[k]})
	}
	return out
}

// addressOnly returns the bare address of a parsed-valid mailbox.
func addressOnly(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return s
	}
	return a.Address
}
