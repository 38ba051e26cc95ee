package activities

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/activities/delivery"
	"github.com/heraldhq/herald/schema"
)

// Providers a channel can use (DESIGN §11).
const (
	ProviderOutbox = "outbox"
	ProviderSES    = "ses"
	ProviderSMTP   = "smtp"
	ProviderTwilio = "twilio"
)

// ChannelSettings are a workspace's delivery settings as the API reads and
// writes them (DESIGN §11): one provider per channel. Secret fields are
// write-only; reads show them masked.
type ChannelSettings struct {
	Email   *EmailSettings   `json:"email,omitempty"`
	SMS     *SMSSettings     `json:"sms,omitempty"`
	Webhook *WebhookSettings `json:"webhook,omitempty"`
}

// EmailSettings configure the email channel: SES, SMTP or the outbox.
type EmailSettings struct {
	Provider string `json:"provider"`
	// SES
	Region           string `json:"region,omitempty"`
	AccessKeyID      string `json:"access_key_id,omitempty"`
	SecretAccessKey  string `json:"secret_access_key,omitempty"`
	ConfigurationSet string `json:"configuration_set,omitempty"`
	Endpoint         string `json:"endpoint,omitempty"`
	// SMTP
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	TLS      string `json:"tls,omitempty"`
	// Sender identity (SES and SMTP).
	From    string `json:"from,omitempty"`
	ReplyTo string `json:"reply_to,omitempty"`
	// FrequencyCap holds messages beyond Max per Period per customer.
	FrequencyCap *FrequencyCap `json:"frequency_cap,omitempty"`
	// RatePerSecond limits the workspace's sends through the provider;
	// messages beyond it wait for their slot.
	RatePerSecond int `json:"rate_per_second,omitempty"`
}

// FrequencyCap is a channel's cross-journey limit per customer: at most
// Max messages within Period ("24h", "7d"). A capped message waits for its
// next slot; it is never dropped.
type FrequencyCap struct {
	Max    int    `json:"max"`
	Period string `json:"period"`
}

// SMSSettings configure the SMS channel: Twilio or the outbox.
type SMSSettings struct {
	Provider            string `json:"provider"`
	AccountSID          string `json:"account_sid,omitempty"`
	AuthToken           string `json:"auth_token,omitempty"`
	From                string `json:"from,omitempty"`
	MessagingServiceSID string `json:"messaging_service_sid,omitempty"`
	// FrequencyCap holds messages beyond Max per Period per customer.
	FrequencyCap *FrequencyCap `json:"frequency_cap,omitempty"`
	// RatePerSecond limits the workspace's sends through the provider.
	RatePerSecond int `json:"rate_per_second,omitempty"`
}

// WebhookSettings configure webhook sends: the hosts exempt from the
// private-address guard.
type WebhookSettings struct {
	AllowHosts []string `json:"allow_hosts"`
}

// SettingsError is a channel setting the API refuses, naming its field.
type SettingsError struct {
	Field   string
	Message string
	// Err is the JSON decoder's error when the body itself could not be
	// read (Field is then "body"): the API names the field from it.
	Err error
}

func (e *SettingsError) Error() string { return e.Field + ": " + e.Message }

func (e *SettingsError) Unwrap() error { return e.Err }

func badSetting(field, format string, args ...any) error {
	return &SettingsError{Field: field, Message: fmt.Sprintf(format, args...)}
}

var (
	awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	e164      = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)
	twilioSID = regexp.MustCompile(`^[A-Z]{2}[0-9a-zA-Z]{8,64}$`)
	hostName  = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// DecodeChannelSettings parses a PUT /api/channels body strictly: unknown
// channels and fields are errors.
func DecodeChannelSettings(body []byte) (ChannelSettings, error) {
	var cs ChannelSettings
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cs); err != nil {
		return cs, &SettingsError{Field: "body", Message: err.Error(), Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return cs, badSetting("body", "request body has data after the JSON value")
	}
	if cs.Email == nil && cs.SMS == nil && cs.Webhook == nil {
		return cs, badSetting("body", "name at least one of email, sms, webhook")
	}
	return cs, nil
}

// validateEmail checks the email settings (and defaults SMTP's tls).
func validateEmail(e *EmailSettings) error {
	if err := validateLimits("email", e.FrequencyCap, e.RatePerSecond); err != nil {
		return err
	}
	switch e.Provider {
	case ProviderOutbox:
		if *e != (EmailSettings{Provider: ProviderOutbox, FrequencyCap: e.FrequencyCap, RatePerSecond: e.RatePerSecond}) {
			return badSetting("email", "the outbox provider takes no other settings")
		}
		return nil
	case ProviderSES:
		if e.Host != "" || e.Port != 0 || e.Username != "" || e.Password != "" || e.TLS != "" {
			return badSetting("email", "host, port, username, password and tls are SMTP settings, not SES")
		}
		if !awsRegion.MatchString(e.Region) {
			return badSetting("email.region", "%q is not an AWS region (like eu-west-1)", e.Region)
		}
		if (e.AccessKeyID == "") != (e.SecretAccessKey == "") {
			return badSetting("email.secret_access_key", "give both access_key_id and secret_access_key, or neither (the instance's role)")
		}
		if e.Endpoint != "" {
			if u, err := url.Parse(e.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return badSetting("email.endpoint", "%q is not an http(s) URL", e.Endpoint)
			}
		}
	case ProviderSMTP:
		if e.Region != "" || e.AccessKeyID != "" || e.SecretAccessKey != "" || e.ConfigurationSet != "" || e.Endpoint != "" {
			return badSetting("email", "region, access keys, configuration_set and endpoint are SES settings, not SMTP")
		}
		if e.Host == "" || (!hostName.MatchString(e.Host) && net.ParseIP(e.Host) == nil) {
			return badSetting("email.host", "%q is not a host name or IP address", e.Host)
		}
		if e.Port < 1 || e.Port > 65535 {
			return badSetting("email.port", "must be from 1 to 65535")
		}
		if e.TLS == "" {
			e.TLS = delivery.SMTPTLSStartTLS
		}
		if e.TLS != delivery.SMTPTLSNone && e.TLS != delivery.SMTPTLSStartTLS && e.TLS != delivery.SMTPTLSImplicit {
			return badSetting("email.tls", `must be "none", "starttls" or "tls"`)
		}
		if e.Password != "" && e.Username == "" {
			return badSetting("email.username", "a password needs a username")
		}
	default:
		return badSetting("email.provider", `must be "ses", "smtp" or "outbox"`)
	}
	if _, err := mail.ParseAddress(e.From); err != nil {
		return badSetting("email.from", "%q is not an email address (like \"Acme <hi@acme.io>\")", e.From)
	}
	if e.ReplyTo != "" {
		if _, err := mail.ParseAddress(e.ReplyTo); err != nil {
			return badSetting("email.reply_to", "%q is not an email address", e.ReplyTo)
		}
	}
	return nil
}

func validateSMS(s *SMSSettings) error {
	if err := validateLimits("sms", s.FrequencyCap, s.RatePerSecond); err != nil {
		return err
	}
	switch s.Provider {
	case ProviderOutbox:
		if *s != (SMSSettings{Provider: ProviderOutbox, FrequencyCap: s.FrequencyCap, RatePerSecond: s.RatePerSecond}) {
			return badSetting("sms", "the outbox provider takes no other settings")
		}
		return nil
	case ProviderTwilio:
	default:
		return badSetting("sms.provider", `must be "twilio" or "outbox"`)
	}
	if !strings.HasPrefix(s.AccountSID, "AC") || !twilioSID.MatchString(s.AccountSID) {
		return badSetting("sms.account_sid", "a Twilio account SID starts with AC and has only letters and digits")
	}
	if s.AuthToken == "" {
		return badSetting("sms.auth_token", "is required")
	}
	if s.From == "" && s.MessagingServiceSID == "" {
		return badSetting("sms.from", "give a from number or a messaging_service_sid")
	}
	if s.From != "" && !e164.MatchString(s.From) {
		return badSetting("sms.from", "%q is not a phone number in E.164 form (like +15555550100)", s.From)
	}
	if s.MessagingServiceSID != "" && (!strings.HasPrefix(s.MessagingServiceSID, "MG") || !twilioSID.MatchString(s.MessagingServiceSID)) {
		return badSetting("sms.messaging_service_sid", "a messaging service SID starts with MG and has only letters and digits")
	}
	return nil
}

func validateLimits(channel string, c *FrequencyCap, ratePerSecond int) error {
	if ratePerSecond < 0 || ratePerSecond > 10000 {
		return badSetting(channel+".rate_per_second", "must be from 1 to 10000 (0 or absent: no limit)")
	}
	if c == nil {
		return nil
	}
	if c.Max < 1 || c.Max > 1000 {
		return badSetting(channel+".frequency_cap.max", "must be from 1 to 1000")
	}
	d, err := ParsePeriod(c.Period)
	if err != nil || d < time.Minute || d > 90*24*time.Hour {
		return badSetting(channel+".frequency_cap.period", "%q is not a period from 1m to 90d (like \"24h\" or \"7d\")", c.Period)
	}
	return nil
}

// ParsePeriod reads a period: a Go duration ("36h", "90m") or whole days ("7d").
func ParsePeriod(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad period %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// schemaCap is the cap of a channel's settings for the store, if any.
func schemaCap(c *FrequencyCap) *schema.FrequencyCap {
	if c == nil {
		return nil
	}
	d, err := ParsePeriod(c.Period)
	if err != nil || c.Max < 1 {
		return nil
	}
	return &schema.FrequencyCap{Max: c.Max, Period: d}
}

func validateWebhook(w *WebhookSettings) error {
	for i, h := range w.AllowHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if !hostName.MatchString(h) && net.ParseIP(h) == nil {
			return badSetting(fmt.Sprintf("webhook.allow_hosts[%d]", i), "%q is not a host name or IP address (no scheme, port or path)", w.AllowHosts[i])
		}
		w.AllowHosts[i] = h
	}
	return nil
}

// secretFields are the fields of each channel that are sealed at rest and
// masked on read.
var secretFields = map[string][]string{"email": {"secret_access_key", "password"}, "sms": {"auth_token"}}

// sealedPrefix marks a sealed value in stored settings.
const sealedPrefix = "sealed:"

// ChannelVault seals and opens the secret fields of channel settings with
// the operator's encryption key.
type ChannelVault struct{ key string }

// NewChannelVault makes a vault; an empty key refuses to store secrets.
func NewChannelVault(key string) *ChannelVault { return &ChannelVault{key: key} }

// ErrNoEncryptionKey is returned when secrets are given but no key is set.
var ErrNoEncryptionKey = errors.New("HERALD_ENCRYPTION_KEY is not set: provider credentials cannot be stored")

// Merge validates the new settings of the channels in cs and returns their
// stored form with secrets sealed. Secrets are write-only: an omitted (or
// masked, as GET shows it) secret keeps the stored one when the provider
// and the identity it belongs to (access key id, username, account SID)
// stay the same.
func (v *ChannelVault) Merge(cs ChannelSettings, stored map[string]schema.ChannelSetting) ([]schema.ChannelSetting, error) {
	prev, err := v.Open(stored)
	if err != nil {
		return nil, err
	}
	keep := func(val *string, old string) {
		if old != "" && (*val == "" || *val == delivery.Mask(old)) {
			*val = old
		}
	}
	var out []schema.ChannelSetting
	if e := cs.Email; e != nil {
		if e.Provider == prev.Email.Provider && e.AccessKeyID == prev.Email.AccessKeyID {
			keep(&e.SecretAccessKey, prev.Email.SecretAccessKey)
		}
		if e.Provider == prev.Email.Provider && e.Username == prev.Email.Username {
			keep(&e.Password, prev.Email.Password)
		}
		if err := validateEmail(e); err != nil {
			return nil, err
		}
		row, err := v.seal("email", e.Provider, e)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	if s := cs.SMS; s != nil {
		if s.Provider == prev.SMS.Provider && s.AccountSID == prev.SMS.AccountSID {
			keep(&s.AuthToken, prev.SMS.AuthToken)
		}
		if err := validateSMS(s); err != nil {
			return nil, err
		}
		row, err := v.seal("sms", s.Provider, s)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	if w := cs.Webhook; w != nil {
		if err := validateWebhook(w); err != nil {
			return nil, err
		}
		row, err := v.seal("webhook", "webhook", w)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
	}
	return out, nil
}

// seal turns one channel's settings into their stored form.
func (v *ChannelVault) seal(channel, provider string, settings any) (schema.ChannelSetting, error) {
	raw, err := json.Marshal(settings)
	if err != nil {
		return schema.ChannelSetting{}, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return schema.ChannelSetting{}, err
	}
	for _, f := range secretFields[channel] {
		val, _ := m[f].(string)
		if val == "" {
			continue
		}
		if v.key == "" {
			return schema.ChannelSetting{}, ErrNoEncryptionKey
		}
		sealed, err := delivery.Seal(v.key, []byte(val))
		if err != nil {
			return schema.ChannelSetting{}, fmt.Errorf("seal %s.%s: %w", channel, f, err)
		}
		m[f] = sealedPrefix + sealed
	}
	b, err := json.Marshal(m)
	return schema.ChannelSetting{Channel: channel, Provider: provider, Settings: b}, err
}

// Open returns the channel settings with their secrets in clear, for a
// send. A channel without stored settings uses the outbox.
func (v *ChannelVault) Open(stored map[string]schema.ChannelSetting) (ChannelSettings, error) {
	return v.read(stored, func(sealed string) (string, error) {
		b, err := delivery.Open(v.key, sealed)
		return string(b), err
	})
}

// Masked returns the settings as GET /api/channels shows them: secrets
// masked (only their last characters), never in full.
func (v *ChannelVault) Masked(stored map[string]schema.ChannelSetting) (ChannelSettings, error) {
	return v.read(stored, func(sealed string) (string, error) {
		b, err := delivery.Open(v.key, sealed)
		if err != nil {
			return "(unreadable with the current HERALD_ENCRYPTION_KEY)", nil
		}
		return delivery.Mask(string(b)), nil
	})
}

func (v *ChannelVault) read(stored map[string]schema.ChannelSetting, secret func(sealed string) (string, error)) (ChannelSettings, error) {
	cs := ChannelSettings{Email: &EmailSettings{Provider: ProviderOutbox}, SMS: &SMSSettings{Provider: ProviderOutbox},
		Webhook: &WebhookSettings{AllowHosts: []string{}}}
	for channel, s := range stored {
		var m map[string]any
		if err := json.Unmarshal(s.Settings, &m); err != nil {
			return cs, fmt.Errorf("decode %s settings: %w", channel, err)
		}
		for _, f := range secretFields[channel] {
			if val, ok := m[f].(string); ok {
				sealed, ok := strings.CutPrefix(val, sealedPrefix)
				if !ok {
					continue
				}
				clear, err := secret(sealed)
				if err != nil {
					return cs, fmt.Errorf("open %s.%s (was HERALD_ENCRYPTION_KEY changed?): %w", channel, f, err)
				}
				m[f] = clear
			}
		}
		b, _ := json.Marshal(m)
		var target any
		switch channel {
		case "email":
			cs.Email = &EmailSettings{}
			target = cs.Email
		case "sms":
			cs.SMS = &SMSSettings{}
			target = cs.SMS
		case "webhook":
			cs.Webhook = &WebhookSettings{}
			target = cs.Webhook
		default:
			continue
		}
		if err := json.Unmarshal(b, target); err != nil {
			return cs, fmt.Errorf("decode %s settings: %w", channel, err)
		}
	}
	if cs.Webhook.AllowHosts == nil {
		// Saved without allow_hosts (or as null): no exemptions, a list.
		cs.Webhook.AllowHosts = []string{}
	}
	return cs, nil
}
