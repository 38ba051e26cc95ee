// Package activities holds the Temporal activities of Herald's journeys:
// rendering and sending messages, recording deliveries and run progress,
// reading and writing customers. Every activity is idempotent.
package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/heraldhq/herald/schema"
)

// Deps are what the activities are built from.
type Deps struct {
	Store *schema.Store
}

// Activities is the receiver of every activity method.
type Activities struct {
	store *schema.Store
}

// New builds the activities.
func New(d Deps) *Activities { return &Activities{store: d.Store} }

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
	Customer schema.Customer `json:"customer"`
}

// LoadCustomer reads a customer's current profile (for branch conditions
// and templates).
func (a *Activities) LoadCustomer(ctx context.Context, in LoadCustomerInput) (LoadCustomerResult, error) {
	c, err := a.store.GetCustomer(ctx, in.WorkspaceID, in.CustomerID)
	if errors.Is(err, schema.ErrNotFound) {
		return LoadCustomerResult{}, temporal.NewNonRetryableApplicationError("customer "+in.CustomerID+" does not exist", "CustomerNotFound", err)
	}
	if err != nil {
		return LoadCustomerResult{}, err
	}
	return LoadCustomerResult{Customer: c}, nil
}
