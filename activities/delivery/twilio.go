package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// TwilioConfig configures text messages through Twilio's Messages API.
type TwilioConfig struct {
	AccountSID string
	AuthToken  string
	// Timeout bounds one API call (default 15 s).
	Timeout time.Duration
	// Transport carries the HTTP requests (default: a transport of its own).
	// Tests point it at a local server; the SDK always addresses
	// https://api.twilio.com.
	Transport http.RoundTripper
}

// Twilio sends text messages through Twilio. Twilio's Messages API has no
// idempotency key, so a repeat call sends again: the caller's delivery
// record is what keeps a message to one send. Safe for concurrent use.
type Twilio struct {
	cfg TwilioConfig
}

// NewTwilio builds a Twilio provider from its settings.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" {
		return nil, permanentf(ReasonConfig, "twilio settings need an account sid and an auth token")
	}
	if !isAlphanumeric(cfg.AccountSID) || !isAlphanumeric(cfg.AuthToken) {
		return nil, permanentf(ReasonConfig, "twilio account sid and auth token must be letters and digits")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Twilio{cfg: cfg}, nil
}

// Send sends one text message. With a messaging service SID the service
// picks the sender; the status callback URL receives delivery updates.
func (t *Twilio) Send(ctx context.Context, m Message) (Result, error) {
	if err := m.validateFor(ChannelSMS, "twilio"); err != nil {
		return Result{}, err
	}
	s := m.SMS
	params := (&twapi.CreateMessageParams{}).SetTo(s.To).SetBody(s.Body)
	if s.MessagingServiceSID != "" {
		params.SetMessagingServiceSid(s.MessagingServiceSID)
	}
	if s.From != "" {
		params.SetFrom(s.From)
	}
	if s.StatusCallback != "" {
		params.SetStatusCallback(s.StatusCallback)
	}

	// The SDK takes no context; a transport made for this call brings it in
	// and remembers the HTTP status for errors the SDK cannot decode.
	rt := &callTransport{ctx: ctx, next: t.cfg.Transport}
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(t.cfg.AccountSID, t.cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport:     rt,
			Timeout:       t.cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.cfg.AccountSID)
	handler := twclient.NewRequestHandler(c)
	handler.Edge, handler.Region = "", "" // not from the environment

	msg, err := twapi.NewApiService(handler).CreateMessage(params)
	if err != nil {
		return Result{}, fmt.Errorf("send sms via twilio: %w", classifyTwilio(err, rt))
	}
	res := Result{Provider: "twilio"}
	if msg.Sid != nil {
		res.ProviderMessageID = *msg.Sid
	}
	return res, nil
}

// callTransport is the transport of one call.
type callTransport struct {
	ctx    context.Context
	next   http.RoundTripper
	status int
	header http.Header
	wrote  wroteRequest
}

func (c *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req.WithContext(c.wrote.trace(c.ctx)))
	if err == nil {
		c.status, c.header = resp.StatusCode, resp.Header
	}
	return resp, err
}

// twilioReasons are the Twilio error codes with a known meaning; other
// errors are classified by HTTP status.
var twilioReasons = map[int]string{
	21211: ReasonInvalidRecipient, // invalid 'To' phone number
	21214: ReasonInvalidRecipient, // 'To' phone number cannot be reached
	21217: ReasonInvalidRecipient, // phone number does not appear to be valid
	21401: ReasonInvalidRecipient, // invalid phone number
	21407: ReasonInvalidRecipient, // number type does not support SMS
	21612: ReasonInvalidRecipient, // 'To' number not reachable via SMS
	21614: ReasonInvalidRecipient, // 'To' number is not a valid mobile number
	21610: ReasonRecipientOptedOut,
	21408: ReasonRejected,       // sending to this region is not enabled
	21602: ReasonInvalidMessage, // body required
	21617: ReasonInvalidMessage, // body too long
	21606: ReasonConfig,         // 'From' is not an SMS-capable Twilio number
	21659: ReasonConfig,         // 'From' is not a Twilio number
	21660: ReasonConfig,         // 'From' does not belong to the account
	21703: ReasonConfig,         // messaging service has no senders
	21705: ReasonConfig,         // messaging service is invalid
	20003: ReasonAuth,
	20404: ReasonConfig, // account or resource not found
	20429: ReasonRateLimited,
	21611: ReasonRateLimited, // sender's queue is full
}

// classifyTwilio sorts a Twilio failure by its error code, else its status.
func classifyTwilio(err error, rt *callTransport) error {
	var rest *twclient.TwilioRestError
	if !errors.As(err, &rest) {
		if rt.status != 0 {
			return classifyStatus(rt.status, rt.header, err)
		}
		return classifyNoAnswer(err, &rt.wrote)
	}
	if reason, ok := twilioReasons[rest.Code]; ok {
		if reason == ReasonRateLimited {
			return &TransientError{Reason: reason, RetryAfter: retryAfter(rt.header), Err: err}
		}
		return &PermanentError{Reason: reason, Err: err}
	}
	status := rest.Status
	if status == 0 {
		status = rt.status
	}
	return classifyStatus(status, rt.header, err)
}

func isAlphanumeric(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
