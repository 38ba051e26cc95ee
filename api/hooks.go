package api

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/activities/delivery"
	"github.com/heraldhq/herald/schema"
)

// sesEvents receives SES event publishing through an SNS topic subscribed
// to this URL. Every message must carry a valid SNS signature; a
// subscription confirmation is confirmed; a notification is matched to its
// delivery by the workspace_id and message_id tags the send set.
//
// SNS signs for every AWS account alike, so a valid signature does not
// prove the event is about our mail: the event's SES message id must also
// be the one SES gave the delivery when it was sent.
func (t *tracker) sesEvents(c *gin.Context) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, http.StatusRequestEntityTooLarge, "request body is too large")
		return
	}
	m, err := delivery.ParseSNSMessage(body)
	if err != nil {
		fail(c, http.StatusBadRequest, err.Error())
		return
	}
	log := t.s.deps.Log.With("sns_message_id", m.MessageID, "topic_arn", m.TopicArn, "request_id", c.GetString(ctxRequestID))
	if err := t.sns.Verify(c, m); err != nil {
		log.WarnContext(c, "refused sns message", "error", err)
		if errors.Is(err, delivery.ErrBadSNSSignature) {
			fail(c, http.StatusForbidden, "the SNS signature does not verify")
			return
		}
		fail(c, http.StatusBadRequest, "the SNS message cannot be verified: "+err.Error())
		return
	}
	switch m.Type {
	case delivery.SNSSubscriptionConfirmation:
		if err := t.sns.Confirm(c, m); err != nil {
			log.ErrorContext(c, "confirm sns subscription", "error", err)
			fail(c, http.StatusBadGateway, "could not confirm the subscription; SNS will send the confirmation again")
			return
		}
		log.InfoContext(c, "sns subscription confirmed")
		c.JSON(http.StatusOK, gin.H{"confirmed": true})
		return
	case delivery.SNSUnsubscribeConfirmation:
		log.InfoContext(c, "sns subscription ended")
		c.JSON(http.StatusOK, gin.H{"ignored": "unsubscribe confirmation"})
		return
	}
	ev, err := delivery.ParseSESEvent([]byte(m.Message))
	if err != nil {
		ignore(c, "not a tracked SES event")
		return
	}
	f, ok := sesFact(ev)
	if !ok {
		ignore(c, "the send itself is recorded by the send")
		return
	}
	if ev.WorkspaceID == "" || ev.MessageID == "" {
		ignore(c, "the SES event has no workspace_id and message_id tags")
		return
	}
	d, err := t.s.deps.Store.GetDelivery(c, ev.WorkspaceID, ev.MessageID)
	if t.hookDelivery(c, ev.WorkspaceID, d, err, ev.ProviderMessageID) {
		f.DeliveryID = d.ID
		t.record(c, ev.WorkspaceID, f)
	}
}

// sesFact maps an SES event to the fact it reports; false for the events
// the send records itself.
func sesFact(ev delivery.SESEvent) (fact, bool) {
	f := fact{at: ev.Time}
	switch ev.Kind {
	case delivery.SESEventDelivered:
		f.Status, f.Detail = schema.DeliveryDelivered, "ses: delivered"
	case delivery.SESEventOpened:
		f.Status, f.Detail = schema.DeliveryOpened, "ses: opened"
	case delivery.SESEventClicked:
		f.Status, f.Detail, f.Key = schema.DeliveryClicked, ev.URL, clickKey(ev.URL)
		f.props = map[string]any{"url": ev.URL}
	case delivery.SESEventBounced:
		f.Status, f.Detail = schema.DeliveryBounced, "ses: "+strings.Trim(ev.BounceType+"/"+ev.BounceSubType, "/")+" bounce"
		f.props = map[string]any{"bounce_type": ev.BounceType}
		if ev.Permanent {
			f.suppress, f.addresses = schema.SuppressBounce, ev.Recipients
		}
	case delivery.SESEventComplained:
		f.Status, f.Detail, f.suppress = schema.DeliveryComplained, "ses: complaint", schema.SuppressComplaint
		f.addresses = ev.Recipients
		if ev.ComplaintType != "" {
			f.Detail += " (" + ev.ComplaintType + ")"
		}
	case delivery.SESEventRejected:
		f.Status, f.Detail = schema.DeliveryFailed, "ses: rejected the message"
	case delivery.SESEventFailed:
		f.Status, f.Detail = schema.DeliveryFailed, "ses: could not render the message"
	case delivery.SESEventDelayed:
		f.Status, f.Detail = schema.DeliveryDelayed, "ses: delivery delayed"
	default:
		return fact{}, false
	}
	return f, true
}

// twilioStatus receives the status callbacks of the workspace's Twilio
// messages. The request must carry Twilio's signature over this server's
// public URL, made with the workspace's auth token. The delivery is the
// one named by a message_id query parameter, else the one with the
// callback's MessageSid; either way its provider id must be that sid.
func (t *tracker) twilioStatus(c *gin.Context) {
	ws := c.Param("workspace_id")
	if _, err := t.s.deps.Store.GetWorkspace(c, ws); errors.Is(err, schema.ErrNotFound) {
		fail(c, http.StatusNotFound, "no such workspace")
		return
	} else if err != nil {
		t.s.internal(c, "load workspace", err)
		return
	}
	stored, err := t.s.deps.Store.ChannelSettings(c, ws)
	if err != nil {
		t.s.internal(c, "load channels", err)
		return
	}
	cs, err := activities.NewChannelVault(t.s.deps.Config.EncryptionKey).Open(stored)
	if err != nil {
		t.s.internal(c, "open channel settings", err)
		return
	}
	if cs.SMS == nil || cs.SMS.Provider != activities.ProviderTwilio || cs.SMS.AuthToken == "" {
		fail(c, http.StatusNotFound, "the workspace sends no SMS through Twilio")
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		fail(c, http.StatusBadRequest, "request body is not a form: "+err.Error())
		return
	}
	form := c.Request.PostForm
	if !delivery.ValidTwilioSignature(cs.SMS.AuthToken, t.requestURL(c), form, c.GetHeader("X-Twilio-Signature")) {
		fail(c, http.StatusForbidden, "the X-Twilio-Signature does not verify")
		return
	}
	sid := form.Get("MessageSid")
	f, ok := twilioFact(form.Get("MessageStatus"), form.Get("ErrorCode"))
	if !ok {
		ignore(c, "status "+form.Get("MessageStatus")+" is recorded by the send or not tracked")
		return
	}
	var d schema.Delivery
	if id := c.Query("message_id"); id != "" {
		d, err = t.s.deps.Store.GetDelivery(c, ws, id)
	} else {
		d, err = t.s.deps.Store.DeliveryByProviderID(c, ws, sid)
	}
	if t.hookDelivery(c, ws, d, err, sid) {
		f.DeliveryID = d.ID
		t.record(c, ws, f)
	}
}

// twilioFact maps a Twilio message status to the fact it reports; false
// for the statuses before delivery, which the send records as sent.
func twilioFact(status, errorCode string) (fact, bool) {
	f := fact{}
	switch status {
	case "delivered":
		f.Status, f.Detail = schema.DeliveryDelivered, "twilio: delivered"
	case "undelivered", "failed":
		f.Status, f.Detail = schema.DeliveryFailed, "twilio: "+status
		if errorCode != "" {
			f.Detail += " (error " + errorCode + ")"
			f.props = map[string]any{"error_code": errorCode}
		}
	default:
		return fact{}, false
	}
	return f, true
}

// requestURL is the full public URL of the request, as the provider that
// called it addressed it.
func (t *tracker) requestURL(c *gin.Context) string {
	base := strings.TrimRight(t.s.deps.Config.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if c.Request.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + c.Request.Host
	}
	return base + c.Request.URL.RequestURI()
}

// hookDelivery checks the delivery a provider event names (as loaded, with
// its load error): it must exist and carry the provider's id for the
// message. It answers the webhook itself, and returns false, otherwise.
func (t *tracker) hookDelivery(c *gin.Context, workspaceID string, d schema.Delivery, err error, providerID string) bool {
	switch {
	case errors.Is(err, schema.ErrNotFound):
		ignore(c, "no such delivery")
	case err != nil:
		t.s.internal(c, "load delivery", err)
	case d.ProviderID == "" && d.Status == schema.DeliveryPending:
		// The provider answered the send, which has not recorded the
		// answer yet: SNS retries a 5xx.
		fail(c, http.StatusServiceUnavailable, "the delivery's send is not recorded yet; retry")
	case d.ProviderID != providerID:
		t.s.deps.Log.WarnContext(c, "provider event does not match the delivery's provider id", "workspace_id", workspaceID,
			"delivery_id", d.ID, "provider_id", providerID, "request_id", c.GetString(ctxRequestID))
		ignore(c, "the provider's message id is not the delivery's")
	default:
		return true
	}
	return false
}

// record applies a provider-reported fact and answers the webhook; a
// failure answers 500 so the provider may retry.
func (t *tracker) record(c *gin.Context, workspaceID string, f fact) {
	tr, err := t.track(c, workspaceID, f)
	if err != nil {
		t.s.internal(c, "record tracked fact", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"delivery_id": tr.Delivery.ID, "status": tr.Delivery.Status, "recorded": tr.New})
}

// ignore answers a webhook call that changes nothing, with 200 so the
// provider does not send it again.
func ignore(c *gin.Context, why string) {
	c.JSON(http.StatusOK, gin.H{"ignored": why})
}
