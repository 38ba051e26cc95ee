// Package activities holds the Temporal activities of Herald's journeys:
// rendering and sending messages, recording deliveries and run progress,
// reading and writing customers. Every activity is idempotent.
package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/heraldhq/herald/activities/delivery"
	"github.com/heraldhq/herald/schema"
)

// Deps are what the activities are built from.
type Deps struct {
	Store *schema.Store
	// PublicURL is where customers reach Herald (unsubscribe and tracking links).
	PublicURL string
	Log       *slog.Logger
	// EncryptionKey opens provider credentials and signs tracking and
	// unsubscribe links; without it only the outbox works and links are empty.
	EncryptionKey string
	// TwilioTransport carries Twilio API calls (tests point it at a local
	// server; nil is the default transport).
	TwilioTransport http.RoundTripper
}

// Activities is the receiver of every activity method.
type Activities struct {
	store           *schema.Store
	renderer        *Renderer
	publicURL       string
	vault           *ChannelVault
	signer          *delivery.Signer
	twilioTransport http.RoundTripper
	providers       sync.Map // settings hash → channelProvider
	log             *slog.Logger
}

// New builds the activities.
func New(d Deps) *Activities {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	a := &Activities{store: d.Store, renderer: NewRenderer(), publicURL: d.PublicURL, vault: NewChannelVault(d.EncryptionKey),
		twilioTransport: d.TwilioTransport, log: d.Log}
	if d.EncryptionKey != "" {
		a.signer, _ = delivery.NewSigner(d.EncryptionKey)
	}
	return a
}

// Register adds the activities to a worker.
func Register(r worker.ActivityRegistry, a *Activities) {
	r.RegisterActivity(a)
}

// LoadCustomerInput names the customer to load.
type LoadCustomerInput struct {
	WorkspaceID string `json:"workspace_id"`
	CustomerID  string `json:"customer_id"`
}

// LoadCustomerResult is the customer's profile as journeys see it.
type LoadCustomerResult struct {
	Customer CustomerProfile `json:"customer"`
}

// CustomerProfile is a customer as workflows see it: built-in fields
// (empty when unknown) and decoded custom attributes.
type CustomerProfile struct {
	ID         string         `json:"id"`
	ExternalID string         `json:"external_id,omitempty"`
	Email      string         `json:"email,omitempty"`
	Phone      string         `json:"phone,omitempty"`
	Timezone   string         `json:"timezone,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

func profile(c schema.Customer) (CustomerProfile, error) {
	p := CustomerProfile{ID: c.ID, ExternalID: deref(c.ExternalID), Email: deref(c.Email), Phone: deref(c.Phone),
		Timezone: deref(c.Timezone), CreatedAt: c.CreatedAt}
	if len(c.Attributes) > 0 {
		if err := json.Unmarshal(c.Attributes, &p.Attributes); err != nil {
			return p, fmt.Errorf("decode attributes of %s: %w", c.ID, err)
		}
	}
	return p, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// LoadCustomer reads a customer's current profile (for branch conditions,
// delays on attributes and time zones).
func (a *Activities) LoadCustomer(ctx context.Context, in LoadCustomerInput) (LoadCustomerResult, error) {
	c, err := a.store.CurrentCustomer(ctx, in.WorkspaceID, in.CustomerID)
	if errors.Is(err, schema.ErrNotFound) {
		return LoadCustomerResult{}, temporal.NewNonRetryableApplicationError("customer "+in.CustomerID+" does not exist", "CustomerNotFound", err)
	}
	if err != nil {
		return LoadCustomerResult{}, err
	}
	p, err := profile(c)
	if err != nil {
		return LoadCustomerResult{}, err
	}
	res := LoadCustomerResult{Customer: p}
	// The result travels in the run's history, encoded by the SDK's JSON
	// converter (json.Marshal: "<", ">" and "&" take six bytes each, so a
	// profile stored in a sixth of the limit is under it). Temporal refuses
	// a payload past 2 MB, and the attempts would fail on, forever.
	if len(c.Attributes) > MaxProfileBytes/6 {
		b, err := json.Marshal(res)
		if err != nil {
			return LoadCustomerResult{}, fmt.Errorf("encode the profile of %s: %w", c.ID, err)
		}
		if len(b) > MaxProfileBytes {
			return LoadCustomerResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"customer %s's profile is %d KB as a journey run carries it, more than the %d KB it can: remove some of its attributes (an identify that sets them to null) or shorten them",
				c.ID, len(b)>>10, MaxProfileBytes>>10), "ProfileTooLarge", nil)
		}
	}
	return res, nil
}

// MaxProfileBytes is the most bytes a customer's profile may take as a
// journey run carries it (LoadCustomerResult in JSON, as Temporal's SDK
// encodes it): the profile goes into the run's history, where Temporal
// refuses payloads past 2 MB. A run that needs a larger one fails with the
// reason.
const MaxProfileBytes = 1 << 20

// logger is the activity's logger, or the Deps logger when the method is
// called outside a Temporal activity (herald bench send calls Send directly).
func (a *Activities) logger(ctx context.Context) interface {
	Info(string, ...any)
	Warn(string, ...any)
} {
	if activity.IsActivity(ctx) {
		return activity.GetLogger(ctx)
	}
	return a.log
}
