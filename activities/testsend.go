package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/heraldhq/herald/activities/delivery"
	"github.com/heraldhq/herald/schema"
)

// ChannelTestResult is what a channel's test message did.
type ChannelTestResult struct {
	Status     string `json:"status"` // sent
	Provider   string `json:"provider"`
	ProviderID string `json:"provider_id,omitempty"`
	StatusCode int    `json:"status_code,omitempty"`
}

// TestChannel sends a short test message through the workspace's provider
// for channel to one address, number or URL, so an operator can check the
// credentials and sender before a journey uses them. Nothing is recorded
// as a delivery and no customer is involved; a provider's refusal is the
// returned error.
func (a *Activities) TestChannel(ctx context.Context, workspaceID, channel, to string) (ChannelTestResult, error) {
	ch, err := a.channel(ctx, workspaceID, channel)
	if err != nil {
		return ChannelTestResult{}, err
	}
	id := schema.NewID("test")
	text := "This is a test message from Herald (" + time.Now().UTC().Format(time.RFC3339) + "). Your " + channel +
		" channel works."
	m := delivery.Message{ID: id, WorkspaceID: workspaceID, Channel: delivery.Channel(channel)}
	switch channel {
	case schema.ChannelEmail:
		if ch.settings.Email.From == "" && ch.name != ProviderOutbox {
			return ChannelTestResult{}, fmt.Errorf("the email channel has no default from address")
		}
		m.Email = &delivery.Email{From: ch.settings.Email.From, ReplyTo: ch.settings.Email.ReplyTo, To: to,
			Subject: "Herald test message", Text: text, HTML: "<p>" + text + "</p>"}
	case schema.ChannelSMS:
		m.SMS = &delivery.SMS{From: ch.settings.SMS.From, MessagingServiceSID: ch.settings.SMS.MessagingServiceSID, To: to, Body: text}
	case schema.ChannelWebhook:
		body := fmt.Sprintf(`{"type":"herald.test","id":%q,"workspace_id":%q}`, id, workspaceID)
		m.Webhook = &delivery.Webhook{Method: "POST", URL: to, Headers: map[string]string{"Content-Type": "application/json"}, Body: body}
	default:
		return ChannelTestResult{}, fmt.Errorf("unknown channel %q", channel)
	}
	res, err := ch.provider.Send(ctx, m)
	if err != nil {
		return ChannelTestResult{}, fmt.Errorf("%s refused the test: %s", ch.name, strings.TrimSpace(err.Error()))
	}
	return ChannelTestResult{Status: "sent", Provider: ch.name, ProviderID: res.ProviderMessageID, StatusCode: res.StatusCode}, nil
}
