package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestJourneySeries: results over time count entries, completions and
// messages in the bucket they happened in.
func TestJourneySeries(t *testing.T) {
	f := newJourneyFixture(t)
	ctx := context.Background()
	status, sms := f.api(t, "POST", "/api/templates", map[string]any{"name": "S", "channel": "sms", "body": "hi"})
	require.Equal(t, 201, status)
	id, _ := f.publishJourney(t, map[string]any{"name": "Series", "trigger": map[string]any{"type": "api"}, "entry": map[string]any{"policy": "once"},
		"start": "sms", "nodes": []any{
			map[string]any{"id": "sms", "type": "send", "channel": "sms", "template_id": sms["id"], "next": "done"},
			map[string]any{"id": "done", "type": "exit"}}})
	for i := range 3 {
		user := fmt.Sprintf("series-%d", i)
		c, err := f.store.EnsureCustomer(ctx, f.ws.ID, user)
		require.NoError(t, err)
		require.NoError(t, f.store.UpdateCustomerAttributes(ctx, f.ws.ID, c.ID, map[string]any{"phone": "+1555555012" + fmt.Sprint(i)}, nil))
		status, out := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": user}})
		require.Equal(t, 200, status, "%v", out)
	}
	var last map[string]any
	require.Eventually(t, func() bool {
		status, out := f.api(t, "GET", "/api/journeys/"+id+"/series?interval=hour&points=3", nil)
		require.Equal(t, 200, status, "%v", out)
		points := out["points"].([]any)
		require.Len(t, points, 3)
		last = points[2].(map[string]any)
		return last["completed"] == 3.0 && last["sent"] == 3.0
	}, 30*time.Second, 100*time.Millisecond, "%v", last)
	require.EqualValues(t, 3, last["entries"])
	at, err := time.Parse(time.RFC3339, last["t"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Truncate(time.Hour), at, time.Hour)

	status, out := f.api(t, "GET", "/api/journeys/"+id+"/series", nil)
	require.Equal(t, 200, status)
	require.Equal(t, "day", out["interval"])
	days := out["points"].([]any)
	require.Len(t, days, 30)
	require.EqualValues(t, 3, days[29].(map[string]any)["entries"])
	require.EqualValues(t, 0, days[0].(map[string]any)["entries"])

	status, out = f.api(t, "GET", "/api/journeys/"+id+"/series?interval=week", nil)
	require.Equal(t, 400, status, "%v", out)
	status, out = f.api(t, "GET", "/api/journeys/"+id+"/series?interval=hour&points=0", nil)
	require.Equal(t, 400, status, "%v", out)
	status, _ = f.api(t, "GET", "/api/journeys/jny_nope/series", nil)
	require.Equal(t, 404, status)
}
