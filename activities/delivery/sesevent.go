package delivery

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// SES event kinds, as Herald names delivery statuses.
const (
	SESEventSent       = "sent"
	SESEventDelivered  = "delivered"
	SESEventBounced    = "bounced"
	SESEventComplained = "complained"
	SESEventRejected   = "rejected"
	SESEventOpened     = "opened"
	SESEventClicked    = "clicked"
	SESEventDelayed    = "delayed"
	SESEventFailed     = "failed" // SES could not render the message
)

// SESEvent is one SES event (event publishing through a configuration set)
// or notification (identity feedback), reduced to what delivery tracking
// needs.
type SESEvent struct {
	Kind string // one of the SESEvent constants
	// Permanent is true for a hard bounce: the address will not work again
	// and belongs on the suppression list. Complaints suppress as well.
	Permanent     bool
	BounceType    string // Permanent, Transient or Undetermined
	BounceSubType string
	ComplaintType string // the feedback type, e.g. abuse
	// MessageID, WorkspaceID and JourneyID come from the tags Herald set;
	// ProviderMessageID is SES's own id (mail.messageId), the key when
	// tags are missing (identity notifications carry none).
	MessageID         string
	WorkspaceID       string
	JourneyID         string
	ProviderMessageID string
	Recipients        []string
	URL               string // the link of a click
	Time              time.Time
}

type sesRecipient struct {
	EmailAddress string `json:"emailAddress"`
}

// sesDetail is the union of the event objects (bounce, complaint,
// delivery…); each sets only its own fields.
type sesDetail struct {
	Timestamp             string         `json:"timestamp"`
	BounceType            string         `json:"bounceType"`
	BounceSubType         string         `json:"bounceSubType"`
	BouncedRecipients     []sesRecipient `json:"bouncedRecipients"`
	ComplainedRecipients  []sesRecipient `json:"complainedRecipients"`
	ComplaintFeedbackType string         `json:"complaintFeedbackType"`
	DelayedRecipients     []sesRecipient `json:"delayedRecipients"`
	Recipients            []string       `json:"recipients"` // delivery
	Link                  string         `json:"link"`       // click
}

type sesPayload struct {
	EventType        string `json:"eventType"`
	NotificationType string `json:"notificationType"`
	Mail             struct {
		Timestamp   string              `json:"timestamp"`
		MessageID   string              `json:"messageId"`
		Destination []string            `json:"destination"`
		Tags        map[string][]string `json:"tags"`
	} `json:"mail"`
	Bounce        *sesDetail `json:"bounce"`
	Complaint     *sesDetail `json:"complaint"`
	Delivery      *sesDetail `json:"delivery"`
	DeliveryDelay *sesDetail `json:"deliveryDelay"`
	Open          *sesDetail `json:"open"`
	Click         *sesDetail `json:"click"`
}

// sesKinds maps SES event and notification types to kinds.
var sesKinds = map[string]string{
	"Send": SESEventSent, "Delivery": SESEventDelivered, "Bounce": SESEventBounced,
	"Complaint": SESEventComplained, "Reject": SESEventRejected, "Open": SESEventOpened,
	"Click": SESEventClicked, "DeliveryDelay": SESEventDelayed, "Rendering Failure": SESEventFailed,
}

// ParseSESEvent decodes the Message of an SNS notification that carries an
// SES event. Types Herald does not track (such as Subscription) are errors.
func ParseSESEvent(message []byte) (SESEvent, error) {
	var p sesPayload
	if err := json.Unmarshal(message, &p); err != nil {
		return SESEvent{}, fmt.Errorf("decode ses event: %w", err)
	}
	typ := p.EventType
	if typ == "" {
		typ = p.NotificationType
	}
	kind, ok := sesKinds[typ]
	if !ok {
		return SESEvent{}, fmt.Errorf("decode ses event: untracked type %q", typ)
	}
	tag := func(name string) string {
		if v := p.Mail.Tags[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	e := SESEvent{
		Kind: kind, ProviderMessageID: p.Mail.MessageID,
		MessageID: tag("message_id"), WorkspaceID: tag("workspace_id"), JourneyID: tag("journey_id"),
		Recipients: p.Mail.Destination,
	}
	stamp := p.Mail.Timestamp
	if d := cmp.Or(p.Bounce, p.Complaint, p.Delivery, p.DeliveryDelay, p.Open, p.Click); d != nil {
		e.BounceType, e.BounceSubType, e.ComplaintType, e.URL = d.BounceType, d.BounceSubType, d.ComplaintFeedbackType, d.Link
		e.Permanent = d.BounceType == "Permanent"
		var rs []string
		for _, r := range slices.Concat(d.BouncedRecipients, d.ComplainedRecipients, d.DelayedRecipients) {
			rs = append(rs, r.EmailAddress)
		}
		if rs = append(rs, d.Recipients...); len(rs) > 0 {
			e.Recipients = rs
		}
		stamp = cmp.Or(d.Timestamp, stamp)
	}
	if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
		e.Time = t
	}
	for i, r := range e.Recipients {
		e.Recipients[i] = addressOnly(r)
	}
	return e, nil
}
