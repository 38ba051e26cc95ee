package delivery

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// sesMail is the "mail" object SES puts in every event, with Herald's tags.
const sesMail = `"mail": {
    "timestamp": "2026-03-05T10:00:00.000Z",
    "source": "Acme <hi@acme.io>",
    "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/acme.io",
    "sendingAccountId": "123456789012",
    "messageId": "0102018e0f3c1a2b-5c6d7e8f-aaaa-bbbb-cccc-000000000000-000000",
    "destination": ["jo@example.com"],
    "headersTruncated": false,
    "headers": [{"name": "From", "value": "Acme <hi@acme.io>"}, {"name": "To", "value": "jo@example.com"}],
    "commonHeaders": {"from": ["Acme <hi@acme.io>"], "to": ["jo@example.com"], "subject": "Welcome"},
    "tags": {
      "ses:configuration-set": ["herald-events"],
      "ses:source-ip": ["192.0.2.10"],
      "workspace_id": ["ws_1"],
      "journey_id": ["jr_9"],
      "message_id": ["m-0123abcd"]
    }
  }`

func TestParseSESEvent(t *testing.T) {
	cases := []struct {
		name string
		json string
		want SESEvent
	}{
		{"hard bounce", `{"eventType": "Bounce", "bounce": {
			"bounceType": "Permanent", "bounceSubType": "General",
			"bouncedRecipients": [{"emailAddress": "jo@example.com", "action": "failed", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
			"timestamp": "2026-03-05T10:00:01.500Z", "feedbackId": "0102018e-feedback", "reportingMTA": "dsn; e226-55.smtp-out.eu-west-1.amazonses.com"}, ` + sesMail + `}`,
			SESEvent{Kind: SESEventBounced, Permanent: true, BounceType: "Permanent", BounceSubType: "General",
				Recipients: []string{"jo@example.com"}, Time: time.Date(2026, 3, 5, 10, 0, 1, 500e6, time.UTC)}},
		{"soft bounce", `{"eventType": "Bounce", "bounce": {"bounceType": "Transient", "bounceSubType": "MailboxFull",
			"bouncedRecipients": [{"emailAddress": "jo@example.com"}], "timestamp": "2026-03-05T10:00:02.000Z"}, ` + sesMail + `}`,
			SESEvent{Kind: SESEventBounced, BounceType: "Transient", BounceSubType: "MailboxFull",
				Recipients: []string{"jo@example.com"}, Time: time.Date(2026, 3, 5, 10, 0, 2, 0, time.UTC)}},
		{"complaint", `{"eventType": "Complaint", "complaint": {"feedbackId": "0102018e-c", "complaintSubType": null,
			"complainedRecipients": [{"emailAddress": "jo@example.com"}], "timestamp": "2026-03-05T11:00:00.000Z",
			"userAgent": "Mozilla/5.0", "complaintFeedbackType": "abuse", "arrivalDate": "2026-03-05T10:59:00.000Z"}, ` + sesMail + `}`,
			SESEvent{Kind: SESEventComplained, ComplaintType: "abuse", Recipients: []string{"jo@example.com"},
				Time: time.Date(2026, 3, 5, 11, 0, 0, 0, time.UTC)}},
		{"delivery", `{"eventType": "Delivery", "delivery": {"timestamp": "2026-03-05T10:00:03.000Z", "processingTimeMillis": 546,
			"recipients": ["jo@example.com"], "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "e226-55.smtp-out.amazonses.com"}, ` + sesMail + `}`,
			SESEvent{Kind: SESEventDelivered, Recipients: []string{"jo@example.com"}, Time: time.Date(2026, 3, 5, 10, 0, 3, 0, time.UTC)}},
		{"send", `{"eventType": "Send", "send": {}, ` + sesMail + `}`,
			SESEvent{Kind: SESEventSent, Recipients: []string{"jo@example.com"}, Time: time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)}},
		{"reject", `{"eventType": "Reject", "reject": {"reason": "Bad content"}, ` + sesMail + `}`,
			SESEvent{Kind: SESEventRejected, Recipients: []string{"jo@example.com"}, Time: time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)}},
		{"open", `{"eventType": "Open", "open": {"ipAddress": "192.0.2.1", "timestamp": "2026-03-05T12:00:00.000Z", "userAgent": "Mozilla/5.0"}, ` + sesMail + `}`,
			SESEvent{Kind: SESEventOpened, Recipients: []string{"jo@example.com"}, Time: time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)}},
		{"click", `{"eventType": "Click", "click": {"ipAddress": "192.0.2.1", "link": "https://acme.io/start?utm_source=herald",
			"linkTags": {"samplekey0": ["samplevalue0"]}, "timestamp": "2026-03-05T12:01:00.000Z", "userAgent": "Mozilla/5.0"}, ` + sesMail + `}`,
			SESEvent{Kind: SESEventClicked, URL: "https://acme.io/start?utm_source=herald", Recipients: []string{"jo@example.com"},
				Time: time.Date(2026, 3, 5, 12, 1, 0, 0, time.UTC)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseSESEvent([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			want.MessageID, want.WorkspaceID, want.JourneyID = "m-0123abcd", "ws_1", "jr_9"
			want.ProviderMessageID = "0102018e0f3c1a2b-5c6d7e8f-aaaa-bbbb-cccc-000000000000-000000"
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseSESNotification(t *testing.T) {
	// Identity feedback notifications say notificationType and carry no tags.
	got, err := ParseSESEvent([]byte(`{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",
		"bounceSubType": "Suppressed", "bouncedRecipients": [{"emailAddress": "Jo <jo@example.com>"}],
		"timestamp": "2026-03-05T10:00:01.000Z"}, "mail": {"timestamp": "2026-03-05T10:00:00.000Z",
		"messageId": "0102018e-ses-id", "destination": ["jo@example.com"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != SESEventBounced || !got.Permanent || got.MessageID != "" || got.ProviderMessageID != "0102018e-ses-id" ||
		!slices.Equal(got.Recipients, []string{"jo@example.com"}) {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{`{"eventType": "Subscription", "mail": {}}`, `{}`, `[`} {
		if _, err := ParseSESEvent([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
