package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/heraldhq/herald/schema"
)

// RecordRunStartInput reports that a run started (the entry log row).
type RecordRunStartInput struct {
	WorkspaceID  string    `json:"workspace_id"`
	WorkflowID   string    `json:"workflow_id"`
	RunID        string    `json:"run_id"`
	JourneyID    string    `json:"journey_id"`
	Version      int       `json:"version"`
	CustomerID   string    `json:"customer_id"`
	EntryKey     string    `json:"entry_key,omitempty"`
	TriggerEvent string    `json:"trigger_event,omitempty"`
	StartedAt    time.Time `json:"started_at"`
}

// RecordRunStart adds the run to the projection if the router has not yet.
func (a *Activities) RecordRunStart(ctx context.Context, in RecordRunStartInput) error {
	return a.store.RecordRunStart(ctx, in.WorkspaceID, schema.Run{WorkflowID: in.WorkflowID, RunID: in.RunID, JourneyID: in.JourneyID,
		Version: in.Version, CustomerID: in.CustomerID, EntryKey: in.EntryKey, TriggerEvent: in.TriggerEvent, StartedAt: in.StartedAt})
}

// RecordStepInput reports that a run entered a node (and left the previous one).
type RecordStepInput struct {
	WorkspaceID   string    `json:"workspace_id"`
	JourneyID     string    `json:"journey_id"`
	WorkflowID    string    `json:"workflow_id"`
	RunID         string    `json:"run_id"`
	Node          string    `json:"node"`
	Visit         int       `json:"visit"`
	Detail        string    `json:"detail,omitempty"`
	EnteredAt     time.Time `json:"entered_at"`
	PreviousNode  string    `json:"previous_node,omitempty"`
	PreviousVisit int       `json:"previous_visit,omitempty"`
}

// RecordStep writes a node visit to the run projection (stats and paths).
func (a *Activities) RecordStep(ctx context.Context, in RecordStepInput) error {
	return a.store.RecordRunStep(ctx, schema.RunStep{WorkspaceID: in.WorkspaceID, JourneyID: in.JourneyID,
		WorkflowID: in.WorkflowID, RunID: in.RunID, Node: in.Node, Visit: in.Visit, Detail: in.Detail,
		EnteredAt: in.EnteredAt, PreviousNode: in.PreviousNode, PreviousVisit: in.PreviousVisit})
}

// FinishRunInput reports how a run ended.
type FinishRunInput struct {
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Status     string    `json:"status"`
	At         time.Time `json:"at"`
	// LastNode, when set, is marked as left.
	WorkspaceID string `json:"workspace_id"`
	JourneyID   string `json:"journey_id"`
	LastNode    string `json:"last_node"`
	LastVisit   int    `json:"last_visit"`
}

// FinishRun records the end of a run.
func (a *Activities) FinishRun(ctx context.Context, in FinishRunInput) error {
	if in.LastNode != "" {
		if err := a.store.RecordRunStep(ctx, schema.RunStep{WorkspaceID: in.WorkspaceID, JourneyID: in.JourneyID,
			WorkflowID: in.WorkflowID, RunID: in.RunID, PreviousNode: in.LastNode, PreviousVisit: in.LastVisit, EnteredAt: in.At}); err != nil {
			return err
		}
	}
	return a.store.FinishRun(ctx, in.WorkflowID, in.RunID, in.Status, in.At)
}

// RecordConversionInput reports a goal conversion.
type RecordConversionInput struct {
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	At         time.Time `json:"at"`
}

// RecordConversion marks a run converted.
func (a *Activities) RecordConversion(ctx context.Context, in RecordConversionInput) error {
	return a.store.RecordConversion(ctx, in.WorkflowID, in.RunID, in.At)
}

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
}

// SendResult says what happened to the message.
type SendResult struct {
	DeliveryID string `json:"delivery_id"`
	Status     string `json:"status"`
	// Duplicate is true when the message had been handled by an earlier attempt.
	Duplicate bool `json:"duplicate"`
}

// Send renders the template for the customer and delivers it once per
// message id. In this version every channel delivers through the outbox
// provider: the rendered message is recorded as a delivery, not sent out.
// A missing variable or recipient is recorded as a failed delivery and is
// not retried.
func (a *Activities) Send(ctx context.Context, in SendInput) (SendResult, error) {
	if existing, err := a.store.GetDelivery(ctx, in.WorkspaceID, in.MessageID); err == nil && existing.Status != schema.DeliveryPending {
		return SendResult{DeliveryID: existing.ID, Status: existing.Status, Duplicate: true}, nil
	} else if err != nil && !errors.Is(err, schema.ErrNotFound) {
		return SendResult{}, err
	}
	tpl, err := a.store.GetTemplateAny(ctx, in.WorkspaceID, in.TemplateID)
	if errors.Is(err, schema.ErrNotFound) {
		return a.failSend(ctx, in, "", nil, "template "+in.TemplateID+" does not exist")
	}
	if err != nil {
		return SendResult{}, err
	}
	cust, err := a.store.GetCustomer(ctx, in.WorkspaceID, in.CustomerID)
	if errors.Is(err, schema.ErrNotFound) {
		return a.failSend(ctx, in, "", nil, "customer "+in.CustomerID+" does not exist")
	}
	if err != nil {
		return SendResult{}, err
	}
	recipient := recipientFor(in.Channel, cust)
	vars := RenderVars{Customer: cust, Event: in.Event, JourneyID: in.JourneyID, JourneyName: in.JourneyName,
		MessageID: in.MessageID, UnsubscribeURL: strings.TrimRight(a.publicURL, "/") + "/t/unsubscribe/" + in.MessageID}
	rendered, rerr := a.renderer.RenderContent(in.Channel, tpl.TemplateContent, vars)
	if rerr != nil {
		return a.failSend(ctx, in, recipient, nil, "render: "+rerr.Error())
	}
	if in.Channel == schema.ChannelWebhook {
		recipient = rendered.URL
	}
	if recipient == "" {
		return a.failSend(ctx, in, "", &rendered, fmt.Sprintf("customer has no %s to send to", recipientField(in.Channel)))
	}
	content, _ := json.Marshal(rendered)
	d, created, err := a.store.ClaimDelivery(ctx, in.WorkspaceID, schema.Delivery{
		ID: in.MessageID, JourneyID: in.JourneyID, CustomerID: in.CustomerID, WorkflowID: in.WorkflowID, NodeID: in.NodeID,
		Channel: in.Channel, Provider: "outbox", TemplateID: in.TemplateID, Recipient: recipient, Content: content,
	})
	if err != nil {
		return SendResult{}, err
	}
	if !created && d.Status != schema.DeliveryPending {
		return SendResult{DeliveryID: d.ID, Status: d.Status, Duplicate: true}, nil
	}
	// The outbox provider "delivers" by recording the rendered message.
	if err := a.store.SetDeliveryStatus(ctx, in.WorkspaceID, d.ID, schema.DeliverySent, "outbox:"+d.ID, "recorded in the outbox"); err != nil {
		return SendResult{}, err
	}
	logger(ctx).Info("message sent", "message_id", d.ID, "channel", in.Channel, "provider", "outbox")
	return SendResult{DeliveryID: d.ID, Status: schema.DeliverySent}, nil
}

// failSend records a permanent failure and returns it as a non-retryable error.
func (a *Activities) failSend(ctx context.Context, in SendInput, recipient string, rendered *schema.TemplateContent, reason string) (SendResult, error) {
	content := json.RawMessage(`{}`)
	if rendered != nil {
		content, _ = json.Marshal(rendered)
	}
	d, _, err := a.store.ClaimDelivery(ctx, in.WorkspaceID, schema.Delivery{
		ID: in.MessageID, JourneyID: in.JourneyID, CustomerID: in.CustomerID, WorkflowID: in.WorkflowID, NodeID: in.NodeID,
		Channel: in.Channel, Provider: "outbox", TemplateID: in.TemplateID, Recipient: recipient, Content: content,
	})
	if err != nil {
		return SendResult{}, err
	}
	if d.Status == schema.DeliveryPending {
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

// UpdateCustomerInput changes attributes of a customer.
type UpdateCustomerInput struct {
	WorkspaceID string         `json:"workspace_id"`
	CustomerID  string         `json:"customer_id"`
	Set         map[string]any `json:"set,omitempty"`
	Unset       []string       `json:"unset,omitempty"`
	Event       *RenderEvent   `json:"event,omitempty"`
	JourneyID   string         `json:"journey_id"`
	JourneyName string         `json:"journey_name"`
}

// UpdateCustomer writes attributes (string values are Liquid) and removes
// others. Setting the same values again changes nothing: it is idempotent.
func (a *Activities) UpdateCustomer(ctx context.Context, in UpdateCustomerInput) error {
	cust, err := a.store.GetCustomer(ctx, in.WorkspaceID, in.CustomerID)
	if errors.Is(err, schema.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError("customer "+in.CustomerID+" does not exist", "CustomerNotFound", err)
	}
	if err != nil {
		return err
	}
	vars := RenderVars{Customer: cust, Event: in.Event, JourneyID: in.JourneyID, JourneyName: in.JourneyName}
	set := map[string]any{}
	for k, v := range in.Set {
		if s, ok := v.(string); ok && strings.Contains(s, "{") {
			out, err := a.renderer.Render(s, vars)
			if err != nil {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("set %s: %v", k, err), "RenderFailed", err)
			}
			v = out
		}
		set[k] = v
	}
	return a.store.UpdateCustomerAttributes(ctx, in.WorkspaceID, in.CustomerID, set, in.Unset)
}
