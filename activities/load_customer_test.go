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

// LoadCustomer refuses, without a retry and with the reason, a profile
// larger than MaxProfileBytes as the run carries it: the result as the
// SDK's JSON converter encodes it, where "<", ">" and "&" take six bytes
// each (Temporal refuses payloads past 2 MB; from reviews: such runs
// retried forever, and 720 KB of HTML-like text as stored was a 3 MB
// payload). What it returns fits.
func TestLoadCustomerRefusesAProfileTooLargeForARun(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Big")
	require.NoError(t, err)
	a := activities.New(activities.Deps{Store: st})
	for _, c := range []struct {
		user, text string
		bytes      int // of text, in identify traits of 30 KB each (under the 32 KB event limit)
		fits       bool
	}{
		{"small", "y", activities.MaxProfileBytes - 64<<10, true},
		{"big", "y", activities.MaxProfileBytes + 64<<10, false},
		{"html", "<b>&</b>", 720 << 10, false},
		{"some-html", "<b>&</b>", 150 << 10, true},
	} {
		traits := map[string]any{}
		for i, left := 0, c.bytes; left > 0; i++ {
			n := min(left, 30<<10)
			traits[fmt.Sprintf("t%d", i)] = strings.Repeat(c.text, n/len(c.text))
			left -= n
		}
		res, err := st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m-" + c.user, Type: "identify", Name: "Identify",
			UserID: c.user, Traits: traits, OccurredAt: time.Now()})
		require.NoError(t, err)
		out, err := a.LoadCustomer(ctx, activities.LoadCustomerInput{WorkspaceID: ws.ID, CustomerID: res.CustomerID})
		if !c.fits {
			var app *temporal.ApplicationError
			require.True(t, errors.As(err, &app), "%s: %v", c.user, err)
			require.Equal(t, "ProfileTooLarge", app.Type())
			require.True(t, app.NonRetryable())
			require.Contains(t, app.Message(), "as a journey run carries it, more than the 1024 KB it can")
			continue
		}
		require.NoError(t, err, c.user)
		p, err := converter.GetDefaultDataConverter().ToPayload(out)
		require.NoError(t, err)
		require.LessOrEqual(t, p.Size(), activities.MaxProfileBytes+1<<10, "%s: the payload Temporal stores", c.user)
	}
}
