package delivery

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestValidateRefusesHeaderInjection(t *testing.T) {
	cases := map[string]func(*Email){
		"subject":         func(e *Email) { e.Subject = "Hi\r\nBcc: all@example.com" },
		"from":            func(e *Email) { e.From = "a@acme.io\nBcc: all@example.com" },
		"to":              func(e *Email) { e.To = "jo@example.com\r\nBcc: all@example.com" },
		"reply-to":        func(e *Email) { e.ReplyTo = "help@acme.io\rX: y" },
		"header value":    func(e *Email) { e.Headers = map[string]string{"X-Campaign": "a\nBcc: all@example.com"} },
		"header name":     func(e *Email) { e.Headers = map[string]string{"X-A\r\nBcc": "x"} },
		"unsubscribe url": func(e *Email) { e.UnsubscribeURL = "https://h/u\r\nBcc: x" },
	}
	for name, spoil := range cases {
		m := emailMessage()
		spoil(m.Email)
		_, err := Outbox{}.Send(context.Background(), m)
		wantPermanent(t, err, ReasonHeaderInjection)
		if t.Failed() {
			t.Fatalf("case %s", name)
		}
	}
	sms := smsMessage()
	sms.SMS.To = "+1415\r\n"
	wantPermanent(t, sms.Validate(), ReasonHeaderInjection)
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		spoil  func(*Message)
		reason string
	}{
		{"no id", func(m *Message) { m.ID = "" }, ReasonInvalidMessage},
		{"unknown channel", func(m *Message) { m.Channel = "pigeon" }, ReasonInvalidMessage},
		{"no content", func(m *Message) { m.Email = nil }, ReasonInvalidMessage},
		{"bad recipient", func(m *Message) { m.Email.To = "not an address" }, ReasonInvalidRecipient},
		{"bad sender", func(m *Message) { m.Email.From = "nobody" }, ReasonInvalidMessage},
		{"no body", func(m *Message) { m.Email.HTML, m.Email.Text = "", "" }, ReasonInvalidMessage},
		{"reserved header", func(m *Message) { m.Email.Headers = map[string]string{"bcc": "all@example.com"} }, ReasonInvalidMessage},
	}
	for _, c := range cases {
		m := emailMessage()
		c.spoil(&m)
		err := m.Validate()
		wantPermanent(t, err, c.reason)
	}
	if err := emailMessage().Validate(); err != nil {
		t.Errorf("valid email: %v", err)
	}
	if err := smsMessage().Validate(); err != nil {
		t.Errorf("valid sms: %v", err)
	}
	noSender := smsMessage()
	noSender.SMS.From = ""
	wantPermanent(t, noSender.Validate(), ReasonInvalidMessage)
	badMethod := webhookMessage("https://hooks.example.com/")
	badMethod.Webhook.Method = "PO ST"
	wantPermanent(t, badMethod.Validate(), ReasonInvalidMessage)
}

func TestOutbox(t *testing.T) {
	var p Provider = Outbox{}
	res, err := p.Send(context.Background(), emailMessage())
	if err != nil || res.Provider != "outbox" || res.ProviderMessageID != "outbox:m-0123abcd" {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestErrorClassificationSurvivesWrapping(t *testing.T) {
	base := permanentf(ReasonInvalidRecipient, "no such number")
	wrapped := fmt.Errorf("send activity: %w", fmt.Errorf("send sms via twilio: %w", base))
	if !IsPermanent(wrapped) || ReasonOf(wrapped) != ReasonInvalidRecipient {
		t.Errorf("wrapped permanent: %v %q", IsPermanent(wrapped), ReasonOf(wrapped))
	}
	if IsPermanent(errors.New("x")) || ReasonOf(errors.New("x")) != ReasonNetwork || ReasonOf(nil) != "" {
		t.Error("plain errors are transient network failures")
	}
	if ReasonOf(context.DeadlineExceeded) != ReasonTimeout {
		t.Error("deadline is a timeout")
	}
}
