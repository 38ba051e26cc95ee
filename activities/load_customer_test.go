package activities_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
	require.Contains(t, app.Message(), "more than the 1024 KB a journey run can carry")
}
