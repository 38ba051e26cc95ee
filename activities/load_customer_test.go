package activities_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// A profile whose attributes pass MaxProfileBytes is refused by
// LoadCustomer without a retry and with the reason (a run's history cannot
// carry it: Temporal refuses payloads past 2 MB); one just under loads.
func TestLoadCustomerRefusesAProfileTooLargeForARun(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Big")
	require.NoError(t, err)
	a := activities.New(activities.Deps{Store: st})
	load := func(user string, blob int) error {
		t.Helper()
		// Identify traits of 30 KB each, as events under the 32 KB limit
		// would add them up.
		traits := map[string]any{}
		for i := 0; blob > 0; i++ {
			n := min(blob, 30<<10)
			traits[fmt.Sprintf("t%d", i)] = strings.Repeat("y", n)
			blob -= n
		}
		res, err := st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m-" + user, Type: "identify", Name: "Identify",
			UserID: user, Traits: traits, OccurredAt: time.Now()})
		require.NoError(t, err)
		_, err = a.LoadCustomer(ctx, activities.LoadCustomerInput{WorkspaceID: ws.ID, CustomerID: res.CustomerID})
		return err
	}
	require.NoError(t, load("small", activities.MaxProfileBytes-64<<10))

	err = load("big", activities.MaxProfileBytes+64<<10)
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "%v", err)
	require.Equal(t, "ProfileTooLarge", app.Type())
	require.True(t, app.NonRetryable())
	require.Contains(t, app.Message(), "as a journey run carries it, more than the 1024 KB it can")
}

// The limit is on what Temporal stores, the result as the SDK's JSON
// converter encodes it, where "<", ">" and "&" take six bytes each (from a
// review: 720 KB of HTML-like text as stored was a 3 MB payload).
func TestLoadCustomerMeasuresTheProfileAsTheRunCarriesIt(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Html")
	require.NoError(t, err)
	a := activities.New(activities.Deps{Store: st})
	for _, c := range []struct {
		user    string
		snippet string
		count   int
		fits    bool
	}{
		{"html", "<b>&</b>", 24, false}, // 720 KB stored, ~3 MB encoded
		{"some-html", "<b>&</b>", 5, true},
		{"text", "plain tex", 30, true}, // 900 KB either way
	} {
		traits := map[string]any{}
		for i := range c.count {
			traits[fmt.Sprintf("snippet%d", i)] = strings.Repeat(c.snippet, 30<<10/len(c.snippet))
		}
		res, err := st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m-" + c.user, Type: "identify", Name: "Identify",
			UserID: c.user, Traits: traits, OccurredAt: time.Now()})
		require.NoError(t, err)
		out, err := a.LoadCustomer(ctx, activities.LoadCustomerInput{WorkspaceID: ws.ID, CustomerID: res.CustomerID})
		if !c.fits {
			var app *temporal.ApplicationError
			require.True(t, errors.As(err, &app), "%s: %v", c.user, err)
			require.Equal(t, "ProfileTooLarge", app.Type())
			continue
		}
		require.NoError(t, err, c.user)
		p, err := converter.GetDefaultDataConverter().ToPayload(out)
		require.NoError(t, err)
		require.LessOrEqual(t, p.Size(), activities.MaxProfileBytes+1<<10, "%s: the payload Temporal stores", c.user)
	}
}
