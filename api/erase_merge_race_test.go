package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows/temporalserver"
)

// onCancel is a Temporal client that runs a function before each
// CancelWorkflow: what happens elsewhere while an erasure cancels the
// customer's runs and waits (up to 10 s) for them to close.
type onCancel struct {
	client.Client
	before func()
}

func (o onCancel) CancelWorkflow(ctx context.Context, workflowID, runID string) error {
	o.before()
	return o.Client.CancelWorkflow(ctx, workflowID, runID)
}

// A visitor identifies (their anonymous profile merges into their known
// one) while the erasure of that anonymous profile cancels its runs: the
// erasure goes on with the profile the id leads to now, as DELETE of a
// merged-away id does — it neither answers 404 nor leaves the visitor's
// events behind under the survivor.
func TestEraseOfAProfileMergedAwayWhileItsRunsAreCancelled(t *testing.T) {
	ctx := context.Background()
	var f *journeyFixture
	var ws string
	merged := false
	f = newJourneyFixtureWith(t, temporalserver.Options{}, func(c client.Client) client.Client {
		return onCancel{Client: c, before: func() {
			if merged {
				return
			}
			merged = true
			_, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws, MessageID: "identify-1", Type: "identify", Name: "Identify",
				UserID: "u1", AnonymousID: "a1", OccurredAt: time.Now()})
			require.NoError(t, err)
		}}
	})
	ws = f.ws.ID
	known, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws, MessageID: "k-1", Type: "identify", Name: "Identify",
		UserID: "u1", Traits: map[string]any{"email": "ada@example.com"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	visitor, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws, MessageID: "v-1", Type: "page", Name: "Pricing",
		AnonymousID: "a1", OccurredAt: time.Now()})
	require.NoError(t, err)
	j, err := f.store.CreateJourney(ctx, ws, "J", []byte(`{}`))
	require.NoError(t, err)
	_, err = f.store.RecordRunStart(ctx, ws, schema.Run{WorkflowID: "journey/" + j.ID + "/customer/" + visitor.CustomerID, RunID: "r1",
		JourneyID: j.ID, Version: 1, CustomerID: visitor.CustomerID, StartedAt: time.Now()})
	require.NoError(t, err)

	status, body := f.api(t, "DELETE", "/api/customers/"+visitor.CustomerID, nil)
	require.True(t, merged, "the visitor identified during the erasure")
	require.Equal(t, 200, status, "%v", body)
	var left int
	require.NoError(t, f.store.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE workspace_id = $1 AND message_id IN ('v-1', 'identify-1')`, ws).Scan(&left))
	require.Zero(t, left, "the visitor's events were erased (survivor %s)", known.CustomerID)
}
