package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/heraldhq/herald/activities/delivery"
	"github.com/heraldhq/herald/schema"
)

// SendInput asks for one message to one customer.
type SendInput struct {
	WorkspaceID string         `json:"workspace_id"`
	JourneyID   string         `json:"journey_id"`
	JourneyName string         `json:"journey_name"`
	WorkflowID  string         `json:"workflow_id"`
	NodeID      string         `json:"node_id"`
	MessageID   string         `json:"message_id"`
	CustomerID  string         `json:"customer_id"`
	Channel     string         `json:"channel"`
	TemplateID  string         `json:"template_id"`
	Event       *RenderEvent   `json:"event,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"`
	// RatePerMinute is the journey's send_rate_per_minute (0: no limit).
	RatePerMinute int `json:"rate_per_minute,omitempty"`
	// Progress is the run's report since its last one (interpreter v4),
	// written before anything is sent.
	Progress *ProgressInput `json:"progress,omitempty"`
}

// SendResult says what happened to the message.
type SendResult struct {
	DeliveryID string `json:"delivery_id"`
	Status     string `json:"status"`
	// Duplicate is true when the message had been handled by an earlier attempt.
	Duplicate bool `json:"duplicate"`
	// DeferUntil, with status "deferred", is when a frequency cap or a send
	// rate lets the message go: the run waits until then and sends again.
	DeferUntil *time.Time `json:"defer_until,omitempty"`
}

// Send renders the template for the customer and hands it, once per
// message id, to the workspace's provider for the channel (DESIGN §9): the
// delivery row is claimed before the provider call and its outcome recorded
// after. A suppressed address is recorded as "suppressed" and not sent; a
// message over a frequency cap or send rate is recorded as "deferred" and
// returned with the time its slot opens. A permanent failure (missing variable or recipient, a provider's rejection)
// is recorded as failed and not retried; a transient one is returned so
// Temporal retries the activity.
func (a *Activities) Send(ctx context.Context, in SendInput) (SendResult, error) {
	if !in.Progress.Empty() {
		if err := a.RecordProgress(ctx, *in.Progress); err != nil {
			return SendResult{}, err
		}
	}
	resend := false
	existing, err := a.store.GetDelivery(ctx, in.WorkspaceID, in.MessageID)
	switch {
	case err != nil && !errors.Is(err, schema.ErrNotFound):
		return SendResult{}, err
	case err == nil && existing.Status == schema.DeliverySending:
		// An earlier attempt handed the message to the provider and never
		// heard back (its worker stopped). A webhook goes again under the
		// same Idempotency-Key; other providers have no idempotency, so the
		// message is not sent again: the customer must not get it twice.
		if in.Channel != schema.ChannelWebhook {
			return a.interrupted(ctx, in, existing)
		}
		resend = true
	case err == nil && !unfinished(existing.Status):
		return SendResult{DeliveryID: existing.ID, Status: existing.Status, Duplicate: true}, nil
	}
	tpl, err := a.store.GetTemplateAny(ctx, in.WorkspaceID, in.TemplateID)
	if errors.Is(err, schema.ErrNotFound) {
		return a.failSend(ctx, in, "", "", nil, "template "+in.TemplateID+" does not exist")
	}
	if err != nil {
		return SendResult{}, err
	}
	cust, err := a.store.CurrentCustomer(ctx, in.WorkspaceID, in.CustomerID)
	if errors.Is(err, schema.ErrNotFound) {
		return a.failSend(ctx, in, "", "", nil, "customer "+in.CustomerID+" does not exist")
	}
	if err != nil {
		return SendResult{}, err
	}
	// A run that has not yet heard of a merge sends to the survivor.
	in.CustomerID = cust.ID
	ch, err := a.channel(ctx, in.WorkspaceID, in.Channel)
	if err != nil {
		var pe *delivery.PermanentError
		if errors.As(err, &pe) {
			return a.failSend(ctx, in, "", "", nil, err.Error())
		}
		return SendResult{}, err
	}
	recipient := recipientFor(in.Channel, cust)
	unsubscribe := a.link(delivery.LinkClaims{Purpose: delivery.LinkUnsubscribe, WorkspaceID: in.WorkspaceID, MessageID: in.MessageID,
		Recipient: unsubscribeDigest(in.WorkspaceID, in.Channel, recipient)}, "u", "")
	vars := RenderVars{Customer: cust, Event: in.Event, JourneyID: in.JourneyID, JourneyName: in.JourneyName,
		MessageID: in.MessageID, UnsubscribeURL: unsubscribe}
	rendered, rerr := a.renderer.RenderContent(in.Channel, tpl.TemplateContent, vars)
	if rerr != nil {
		return a.failSend(ctx, in, ch.name, recipient, nil, "render: "+rerr.Error())
	}
	if in.Channel == schema.ChannelWebhook {
		recipient = rendered.URL
	}
	if recipient == "" {
		if until, wait := waitForAddress(cust, in.Channel, time.Now()); wait {
			// A profile known only by an anonymous id, made moments ago,
			// often gets its address from the identify that follows (the
			// signup flow: a track, then an identify, which two consumers
			// may apply in either order): the message waits for it a
			// little, then fails as before.
			a.logger(ctx).Info("message waits for the new anonymous profile's address", "message_id", in.MessageID, "until", until)
			return SendResult{Status: schema.DeliveryDeferred, DeferUntil: &until}, nil
		}
		return a.failSend(ctx, in, ch.name, "", &rendered, fmt.Sprintf("customer has no %s to send to", recipientField(in.Channel)))
	}
	if in.JourneyID != "" && in.WorkflowID != "" && !resend {
		// Two profiles merged while each was in this journey: the message
		// one run sent is not sent again by the other.
		other, err := a.store.SentByAnotherRun(ctx, in.WorkspaceID, cust.ID, in.WorkflowID, in.NodeID)
		if err != nil {
			return SendResult{}, err
		}
		if other != "" {
			return a.recordSuppressed(ctx, in, ch.name, recipient, rendered, sentByAnotherRun(other))
		}
	}
	if in.Channel != schema.ChannelWebhook {
		if optedOut(cust, in.Channel) {
			return a.recordSuppressed(ctx, in, ch.name, recipient, rendered,
				fmt.Sprintf("the customer opted out of %s (attribute %s_opt_out)", in.Channel, in.Channel))
		}
		sup, err := a.store.Suppressed(ctx, in.WorkspaceID, in.Channel, recipient)
		switch {
		case err == nil:
			return a.recordSuppressed(ctx, in, ch.name, recipient, rendered,
				fmt.Sprintf("%s is suppressed (%s, since %s)", sup.Address, sup.Reason, sup.CreatedAt.UTC().Format("2006-01-02")))
		case !errors.Is(err, schema.ErrNotFound):
			return SendResult{}, err
		}
	}
	content, _ := json.Marshal(rendered)
	claim := schema.Delivery{
		ID: in.MessageID, JourneyID: in.JourneyID, CustomerID: in.CustomerID, WorkflowID: in.WorkflowID, NodeID: in.NodeID,
		Channel: in.Channel, Provider: ch.name, TemplateID: in.TemplateID, Recipient: recipient, Content: content,
	}
	var d schema.Delivery
	var created bool
	if limit := ch.cap(in.Channel); limit != nil {
		var until *time.Time
		d, created, until, err = a.store.ClaimDeliveryCapped(ctx, in.WorkspaceID, claim, *limit)
		if err == nil && until != nil {
			a.logger(ctx).Info("message deferred by the frequency cap", "message_id", d.ID, "until", until)
			return SendResult{DeliveryID: d.ID, Status: schema.DeliveryDeferred, DeferUntil: until}, nil
		}
	} else {
		d, created, err = a.store.ClaimDelivery(ctx, in.WorkspaceID, claim)
	}
	if errors.Is(err, schema.ErrNoCustomer) {
		return a.failSend(ctx, in, "", "", nil, "customer "+in.CustomerID+" was erased")
	}
	if err != nil {
		return SendResult{}, err
	}
	if !created && !unfinished(d.Status) && !(resend && d.Status == schema.DeliverySending) {
		return SendResult{DeliveryID: d.ID, Status: d.Status, Duplicate: true}, nil
	}
	if !resend {
		if slot, wait, err := a.sendSlot(ctx, in, ch, d); err != nil || wait {
			return SendResult{DeliveryID: d.ID, Status: schema.DeliveryDeferred, DeferUntil: &slot}, err
		}
	}
	if ok, sentBy, err := a.store.MarkSending(ctx, in.WorkspaceID, d.ID, resend); err != nil || !ok {
		if errors.Is(err, schema.ErrNoCustomer) {
			return a.failSend(ctx, in, "", "", nil, "customer "+in.CustomerID+" was erased")
		}
		if err != nil {
			return SendResult{}, err
		}
		if sentBy != "" {
			// The other run got there between the look above and now.
			return a.recordSuppressed(ctx, in, ch.name, recipient, rendered, sentByAnotherRun(sentBy))
		}
		// Another attempt got here first and finished the message.
		d, err = a.store.GetDelivery(ctx, in.WorkspaceID, d.ID)
		return SendResult{DeliveryID: d.ID, Status: d.Status, Duplicate: true}, err
	}
	msg := a.message(in, ch, recipient, unsubscribe, rendered)
	res, err := ch.provider.Send(ctx, msg)
	if err != nil {
		if delivery.IsUnknownOutcome(err) && in.Channel != schema.ChannelWebhook {
			return a.unanswered(ctx, in, d, err)
		}
		if !delivery.IsPermanent(err) {
			if uerr := a.store.UnmarkSending(ctx, in.WorkspaceID, d.ID, err.Error()); uerr != nil {
				return SendResult{}, uerr
			}
		}
		if delivery.IsPermanent(err) {
			if serr := a.store.SetDeliveryStatus(ctx, in.WorkspaceID, d.ID, schema.DeliveryFailed, "", err.Error()); serr != nil {
				return SendResult{}, serr
			}
			out := SendResult{DeliveryID: d.ID, Status: schema.DeliveryFailed}
			return out, temporal.NewNonRetryableApplicationError(err.Error(), "SendFailed", err, out)
		}
		return SendResult{}, fmt.Errorf("send %s through %s: %w", d.ID, ch.name, err)
	}
	detail := "accepted by " + ch.name
	if res.StatusCode != 0 {
		detail = fmt.Sprintf("HTTP %d from %s", res.StatusCode, recipient)
	}
	if err := a.store.SetDeliveryStatus(ctx, in.WorkspaceID, d.ID, schema.DeliverySent, res.ProviderMessageID, detail); err != nil {
		return SendResult{}, err
	}
	a.logger(ctx).Info("message sent", "message_id", d.ID, "channel", in.Channel, "provider", ch.name)
	return SendResult{DeliveryID: d.ID, Status: schema.DeliverySent}, nil
}

// sentByAnotherRun is why a message another run of the journey sent (its
// delivery id) is not sent again.
func sentByAnotherRun(id string) string {
	return "the customer got this message (" + id + ") from another run of the journey: profiles merged while both were in it"
}

// message builds the provider's message from the rendered content; email
// links are tracked (click redirect, open pixel) when links can be signed.
func (a *Activities) message(in SendInput, ch channelProvider, recipient, unsubscribe string, r schema.TemplateContent) delivery.Message {
	m := delivery.Message{ID: in.MessageID, WorkspaceID: in.WorkspaceID, JourneyID: in.JourneyID, Channel: delivery.Channel(in.Channel)}
	switch in.Channel {
	case schema.ChannelEmail:
		from, replyTo := r.From, r.ReplyTo
		if from == "" {
			from = ch.settings.Email.From
		}
		if replyTo == "" {
			replyTo = ch.settings.Email.ReplyTo
		}
		m.Email = &delivery.Email{From: from, ReplyTo: replyTo, To: recipient, Subject: r.Subject,
			HTML: a.trackHTML(in, r.HTML), Text: r.Text, UnsubscribeURL: unsubscribe}
	case schema.ChannelSMS:
		m.SMS = &delivery.SMS{From: ch.settings.SMS.From, MessagingServiceSID: ch.settings.SMS.MessagingServiceSID, To: recipient, Body: r.Body}
		if ch.name == ProviderTwilio && a.publicURL != "" {
			m.SMS.StatusCallback = strings.TrimRight(a.publicURL, "/") + "/webhooks/twilio/" + in.WorkspaceID + "?message_id=" + in.MessageID
		}
	case schema.ChannelWebhook:
		m.Webhook = &delivery.Webhook{Method: r.Method, URL: r.URL, Headers: r.Headers, Body: r.Body}
	}
	return m
}

var hrefAttr = regexp.MustCompile(`(?i)(<a\s[^>]*?href\s*=\s*")(https?://[^"]+)(")`)

// trackHTML sends the email's web links through the click redirect and adds
// the open pixel. Unsubscribe links stay as they are.
func (a *Activities) trackHTML(in SendInput, html string) string {
	if a.signer == nil || html == "" {
		return html
	}
	base := strings.TrimRight(a.publicURL, "/") + "/t/"
	out := hrefAttr.ReplaceAllStringFunc(html, func(tag string) string {
		m := hrefAttr.FindStringSubmatch(tag)
		target := strings.ReplaceAll(m[2], "&amp;", "&")
		if strings.HasPrefix(target, base) {
			return tag
		}
		link := a.link(delivery.LinkClaims{Purpose: delivery.LinkClick, WorkspaceID: in.WorkspaceID, MessageID: in.MessageID, URL: target}, "c", "")
		if link == "" {
			return tag
		}
		return m[1] + link + m[3]
	})
	pixel := a.link(delivery.LinkClaims{Purpose: delivery.LinkOpen, WorkspaceID: in.WorkspaceID, MessageID: in.MessageID}, "o", ".gif")
	img := `<img src="` + pixel + `" width="1" height="1" alt="" style="display:none">`
	if i := strings.LastIndex(strings.ToLower(out), "</body>"); i >= 0 {
		return out[:i] + img + out[i:]
	}
	return out + img
}

// link is a signed public link /t/<kind>/<token><suffix>, or "" when links
// cannot be signed (no encryption key configured).
func (a *Activities) link(c delivery.LinkClaims, kind, suffix string) string {
	if a.signer == nil {
		return ""
	}
	tok, err := a.signer.Token(c)
	if err != nil {
		return ""
	}
	return strings.TrimRight(a.publicURL, "/") + "/t/" + kind + "/" + tok + suffix
}

// interrupted records a message whose provider call an earlier attempt
// started and never finished: it is not sent again.
func (a *Activities) interrupted(ctx context.Context, in SendInput, d schema.Delivery) (SendResult, error) {
	reason := "outcome unknown: the worker stopped while " + d.Provider + " had the message; not sent again, so the customer cannot get it twice"
	if err := a.store.SetDeliveryStatus(ctx, in.WorkspaceID, d.ID, schema.DeliveryFailed, "", reason); err != nil {
		return SendResult{}, err
	}
	out := SendResult{DeliveryID: d.ID, Status: schema.DeliveryFailed}
	return out, temporal.NewNonRetryableApplicationError(reason, "SendFailed", nil, out)
}

// unanswered records a message the provider received whole and did not
// answer (a timeout while it worked, a connection lost before its answer):
// it may have gone out, so it is not sent again.
func (a *Activities) unanswered(ctx context.Context, in SendInput, d schema.Delivery, err error) (SendResult, error) {
	reason := "outcome unknown: " + d.Provider + " received the message and gave no answer (" + err.Error() +
		"); not sent again, so the customer cannot get it twice"
	if serr := a.store.SetDeliveryStatus(ctx, in.WorkspaceID, d.ID, schema.DeliveryFailed, "", reason); serr != nil {
		return SendResult{}, serr
	}
	out := SendResult{DeliveryID: d.ID, Status: schema.DeliveryFailed}
	return out, temporal.NewNonRetryableApplicationError(reason, "SendFailed", err, out)
}

// optedOut says whether the customer opted out of the channel: the
// attribute <channel>_opt_out (email_opt_out, sms_opt_out) is true.
func optedOut(c schema.Customer, channel string) bool {
	var attrs map[string]any
	if len(c.Attributes) == 0 || json.Unmarshal(c.Attributes, &attrs) != nil {
		return false
	}
	v, _ := attrs[channel+"_opt_out"].(bool)
	return v
}

// recordSuppressed records that the message was not sent, and why.
func (a *Activities) recordSuppressed(ctx context.Context, in SendInput, provider, recipient string, r schema.TemplateContent, reason string) (SendResult, error) {
	content, _ := json.Marshal(r)
	d, created, err := a.store.ClaimDelivery(ctx, in.WorkspaceID, schema.Delivery{
		ID: in.MessageID, JourneyID: in.JourneyID, CustomerID: in.CustomerID, WorkflowID: in.WorkflowID, NodeID: in.NodeID,
		Channel: in.Channel, Provider: provider, TemplateID: in.TemplateID, Recipient: recipient, Content: content,
	})
	if err != nil {
		return SendResult{}, err
	}
	if created || unfinished(d.Status) {
		if err := a.store.SetDeliveryStatus(ctx, in.WorkspaceID, d.ID, schema.DeliverySuppressed, "", reason); err != nil {
			return SendResult{}, err
		}
	}
	return SendResult{DeliveryID: d.ID, Status: schema.DeliverySuppressed}, nil
}

// failSend records a permanent failure and returns it as a non-retryable error.
func (a *Activities) failSend(ctx context.Context, in SendInput, provider, recipient string, rendered *schema.TemplateContent, reason string) (SendResult, error) {
	content := json.RawMessage(`{}`)
	if rendered != nil {
		content, _ = json.Marshal(rendered)
	}
	if provider == "" {
		provider = ProviderOutbox
	}
	claim := schema.Delivery{
		ID: in.MessageID, JourneyID: in.JourneyID, CustomerID: in.CustomerID, WorkflowID: in.WorkflowID, NodeID: in.NodeID,
		Channel: in.Channel, Provider: provider, TemplateID: in.TemplateID, Recipient: recipient, Content: content,
	}
	d, _, err := a.store.ClaimDelivery(ctx, in.WorkspaceID, claim)
	if errors.Is(err, schema.ErrNoCustomer) {
		// Erased meanwhile: the failure is recorded without what it held.
		claim.Recipient, claim.Content = "", json.RawMessage(`{}`)
		d, _, err = a.store.ClaimDelivery(ctx, in.WorkspaceID, claim)
	}
	if err != nil {
		return SendResult{}, err
	}
	if unfinished(d.Status) {
		if err := a.store.SetDeliveryStatus(ctx, in.WorkspaceID, d.ID, schema.DeliveryFailed, "", reason); err != nil {
			return SendResult{}, err
		}
	}
	return SendResult{DeliveryID: d.ID, Status: schema.DeliveryFailed},
		temporal.NewNonRetryableApplicationError(reason, "SendFailed", nil, SendResult{DeliveryID: d.ID, Status: schema.DeliveryFailed})
}

func recipientFor(channel string, c schema.Customer) string {
	switch channel {
	case schema.ChannelEmail:
		if c.Email != nil {
			return *c.Email
		}
	case schema.ChannelSMS:
		if c.Phone != nil {
			return *c.Phone
		}
	}
	return ""
}

func recipientField(channel string) string {
	switch channel {
	case schema.ChannelEmail:
		return "email address"
	case schema.ChannelSMS:
		return "phone number"
	}
	return "URL"
}

// rateSlack is how early a slot may be used: sends within it go at once.
const rateSlack = 100 * time.Millisecond

// sendSlot applies the journey's send rate and the provider's rate limit:
// it reserves the message's slot in each and, when the later one is still
// ahead, records the delivery as deferred until then (wait is true). A
// message that already holds a slot keeps it.
func (a *Activities) sendSlot(ctx context.Context, in SendInput, ch channelProvider, d schema.Delivery) (time.Time, bool, error) {
	if d.NotBefore != nil {
		return *d.NotBefore, time.Until(*d.NotBefore) > rateSlack, nil
	}
	var slot time.Time
	reserve := func(key string, interval time.Duration) error {
		t, err := a.store.ReserveSendSlot(ctx, in.WorkspaceID, key, interval)
		if t.After(slot) {
			slot = t
		}
		return err
	}
	var why []string
	if in.RatePerMinute > 0 {
		if err := reserve("journey/"+in.JourneyID, time.Minute/time.Duration(in.RatePerMinute)); err != nil {
			return slot, false, err
		}
		why = append(why, fmt.Sprintf("journey rate %d/min", in.RatePerMinute))
	}
	if r := ch.rate(in.Channel); r > 0 {
		if err := reserve("provider/"+in.Channel, time.Second/time.Duration(r)); err != nil {
			return slot, false, err
		}
		why = append(why, fmt.Sprintf("%s rate %d/s", ch.name, r))
	}
	if slot.IsZero() || time.Until(slot) <= rateSlack {
		return slot, false, nil
	}
	detail := fmt.Sprintf("%s; slot %s", strings.Join(why, ", "), slot.UTC().Format(time.RFC3339Nano))
	return slot, true, a.store.DeferDelivery(ctx, in.WorkspaceID, d.ID, slot, detail)
}

// unfinished says a delivery may still be sent: claimed but not sent, or
// held by a frequency cap.
func unfinished(status string) bool {
	return status == schema.DeliveryPending || status == schema.DeliveryDeferred
}

// channelProvider is a workspace's provider for one channel.
type channelProvider struct {
	name     string
	provider delivery.Provider
	settings ChannelSettings
}

// rate is the provider's sends per second for the channel (0: no limit).
func (c channelProvider) rate(channel string) int {
	switch channel {
	case schema.ChannelEmail:
		return c.settings.Email.RatePerSecond
	case schema.ChannelSMS:
		return c.settings.SMS.RatePerSecond
	}
	return 0
}

// cap is the channel's frequency cap, if it has one.
func (c channelProvider) cap(channel string) *schema.FrequencyCap {
	switch channel {
	case schema.ChannelEmail:
		return schemaCap(c.settings.Email.FrequencyCap)
	case schema.ChannelSMS:
		return schemaCap(c.settings.SMS.FrequencyCap)
	}
	return nil
}

// channel returns the workspace's provider for a channel, built once per
// version of its settings and kept (SDK clients hold connection pools).
func (a *Activities) channel(ctx context.Context, workspaceID, channel string) (channelProvider, error) {
	stored, err := a.store.ChannelSettings(ctx, workspaceID)
	if err != nil {
		return channelProvider{}, err
	}
	row := stored[channel]
	sum := sha256.Sum256(append([]byte(workspaceID+"\x00"+channel+"\x00"), row.Settings...))
	key := hex.EncodeToString(sum[:])
	if p, ok := a.providers.Load(key); ok {
		return p.(channelProvider), nil
	}
	cs, err := a.vault.Open(stored)
	if err != nil {
		return channelProvider{}, err
	}
	cp := channelProvider{name: ProviderOutbox, provider: delivery.Outbox{}, settings: cs}
	switch channel {
	case schema.ChannelEmail:
		e := cs.Email
		switch e.Provider {
		case ProviderSES:
			p, err := delivery.NewSES(ctx, delivery.SESConfig{Region: e.Region, AccessKeyID: e.AccessKeyID, SecretAccessKey: e.SecretAccessKey,
				ConfigurationSet: e.ConfigurationSet, Endpoint: e.Endpoint})
			if err != nil {
				return cp, err
			}
			cp.name, cp.provider = ProviderSES, p
		case ProviderSMTP:
			p, err := delivery.NewSMTP(delivery.SMTPConfig{Host: e.Host, Port: e.Port, Username: e.Username, Password: e.Password, TLS: e.TLS})
			if err != nil {
				return cp, err
			}
			cp.name, cp.provider = ProviderSMTP, p
		}
	case schema.ChannelSMS:
		if cs.SMS.Provider == ProviderTwilio {
			p, err := delivery.NewTwilio(delivery.TwilioConfig{AccountSID: cs.SMS.AccountSID, AuthToken: cs.SMS.AuthToken, Transport: a.twilioTransport})
			if err != nil {
				return cp, err
			}
			cp.name, cp.provider = ProviderTwilio, p
		}
	case schema.ChannelWebhook:
		cp.name = "webhook"
		cp.provider = delivery.NewWebhookSender(delivery.WebhookConfig{AllowHosts: cs.Webhook.AllowHosts})
	}
	a.providers.Store(key, cp)
	return cp, nil
}

// unsubscribeDigest is the digest of the recipient an unsubscribe link
// carries; none for a webhook (its recipient is the rendered URL) or a
// customer without an address.
func unsubscribeDigest(workspaceID, channel, recipient string) string {
	if recipient == "" || channel == schema.ChannelWebhook {
		return ""
	}
	return schema.AddressDigest(workspaceID, channel, recipient)
}

// addressGrace is how long after its profile was made a message to an
// anonymous customer without the channel's address waits for it, a look
// every addressLook.
const (
	addressGrace = 2 * time.Minute
	addressLook  = 15 * time.Second
)

// waitForAddress says whether, and until when, a message to cust, who has
// no address for the channel, waits for one: only for a profile without a
// user id made less than addressGrace ago (a webhook has its URL).
func waitForAddress(cust schema.Customer, channel string, now time.Time) (time.Time, bool) {
	if channel == schema.ChannelWebhook || (cust.ExternalID != nil && *cust.ExternalID != "") {
		return time.Time{}, false
	}
	if age := now.Sub(cust.CreatedAt); age < 0 || age >= addressGrace {
		return time.Time{}, false
	}
	return now.Add(addressLook), true
}
