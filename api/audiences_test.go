package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

func (f *journeyFixture) publishJourney(t *testing.T, def map[string]any) (string, map[string]any) {
	t.Helper()
	status, j := f.api(t, "POST", "/api/journeys", def)
	require.Equal(t, 201, status, "%v", j)
	id := j["id"].(string)
	status, out := f.api(t, "POST", "/api/journeys/"+id+"/publish", nil)
	require.Equal(t, 200, status, "%v", out)
	return id, out
}

func (f *journeyFixture) waitEnrollment(t *testing.T, journeyID string, want int) map[string]any {
	t.Helper()
	var last map[string]any
	require.Eventually(t, func() bool {
		status, out := f.api(t, "GET", "/api/journeys/"+journeyID+"/enrollments", nil)
		require.Equal(t, 200, status, "%v", out)
		list, _ := out["enrollments"].([]any)
		if len(list) == 0 {
			return false
		}
		last = list[0].(map[string]any)
		return last["status"] == schema.EnrollmentCompleted
	}, 30*time.Second, 100*time.Millisecond, "enrollment of %s: %v", journeyID, last)
	require.EqualValues(t, want, last["enrolled"], "%v", last)
	require.EqualValues(t, want, last["total"], "%v", last)
	require.EqualValues(t, 0, last["skipped"], "%v", last)

	// The list pages as every list does (items, limit, cursor).
	_, all := f.api(t, "GET", "/api/journeys/"+journeyID+"/enrollments", nil)
	require.Equal(t, all["enrollments"], all["items"])
	var paged []any
	for cursor := ""; ; {
		status, page := f.api(t, "GET", "/api/journeys/"+journeyID+"/enrollments?limit=1&cursor="+cursor, nil)
		require.Equal(t, 200, status, "%v", page)
		require.LessOrEqual(t, len(page["items"].([]any)), 1)
		paged = append(paged, page["items"].([]any)...)
		if cursor, _ = page["next_cursor"].(string); cursor == "" {
			break
		}
	}
	require.Equal(t, all["items"], paged)
	status, out := f.api(t, "GET", "/api/journeys/"+journeyID+"/enrollments?cursor=enr_nope", nil)
	require.Equal(t, 400, status, "%v", out)
	return last
}

// seedPros makes n customers (member-00, member-01, ...) with plan pro and
// a dynamic segment "Pro" of them; it returns the segment's id.
func (f *journeyFixture) seedPros(t *testing.T, n int) string {
	t.Helper()
	var seed []schema.EventInput
	for i := range n {
		seed = append(seed, schema.EventInput{WorkspaceID: f.ws.ID, MessageID: fmt.Sprintf("seed-%d", i), Type: "identify",
			UserID: fmt.Sprintf("member-%02d", i), Traits: map[string]any{"plan": "pro"}, OccurredAt: time.Now()})
	}
	_, err := f.store.ApplyEvents(context.Background(), seed)
	require.NoError(t, err)
	status, pro := f.api(t, "POST", "/api/segments", map[string]any{"name": "Pro", "kind": "dynamic",
		"condition": map[string]any{"attr": "plan", "op": "eq", "value": "pro"}})
	require.Equal(t, 201, status, "%v", pro)
	return pro["id"].(string)
}

func exitOnly(name string, trigger map[string]any) map[string]any {
	return map[string]any{"name": name, "trigger": trigger, "entry": map[string]any{"policy": "once"}, "start": "done",
		"nodes": []any{map[string]any{"id": "done", "type": "exit"}}}
}

// TestSegmentAndScheduleTriggers: include_existing enrolls a segment's
// members at publish, a manual segment's new member enters at once, and a
// schedule trigger is a Temporal Schedule that follows the journey's
// status and enrolls the segment at each firing.
func TestSegmentAndScheduleTriggers(t *testing.T) {
	f := newJourneyFixture(t)
	ctx := context.Background()
	const members = 30
	proID := f.seedPros(t, members)

	t.Run("a trigger on an unknown segment is refused", func(t *testing.T) {
		status, out := f.api(t, "POST", "/api/journeys", exitOnly("Nope", map[string]any{"type": "segment", "segment_id": "seg_missing"}))
		require.Equal(t, 422, status, "%v", out)
		require.Contains(t, fmt.Sprint(out), "trigger.segment_id")
		require.Contains(t, fmt.Sprint(out), "seg_missing does not exist")
	})

	t.Run("include_existing enrolls the members at publish", func(t *testing.T) {
		id, out := f.publishJourney(t, exitOnly("Existing pros", map[string]any{"type": "segment", "segment_id": proID, "include_existing": true}))
		require.Equal(t, workflows.EnrollmentWorkflowID(id, 1), out["enrollment_id"])
		e := f.waitEnrollment(t, id, members)
		require.Equal(t, workflows.EnrollIncludeExisting, e["reason"])
		require.Greater(t, e["per_second"].(float64), 0.0)
		require.Nil(t, e["eta_seconds"])
		// A live journey keeps its segment from being deleted.
		status, del := f.api(t, "DELETE", "/api/segments/"+proID, nil)
		require.Equal(t, 409, status, "%v", del)
		require.Contains(t, fmt.Sprint(del), "journey "+id)
		// Publishing again does not enroll again.
		status, out = f.api(t, "POST", "/api/journeys/"+id+"/publish", nil)
		require.Equal(t, 200, status, "%v", out)
		require.Nil(t, out["enrollment_id"])
	})

	t.Run("adding a member to a manual segment enters its journey", func(t *testing.T) {
		status, beta := f.api(t, "POST", "/api/segments", map[string]any{"name": "Beta", "kind": "manual"})
		require.Equal(t, 201, status, "%v", beta)
		id, _ := f.publishJourney(t, exitOnly("Beta welcome", map[string]any{"type": "segment", "segment_id": beta["id"]}))
		status, out := f.api(t, "POST", "/api/segments/"+beta["id"].(string)+"/members", map[string]any{"customer_ids": []string{"member-07"}})
		require.Equal(t, 200, status, "%v", out)
		// The handler routed the entry before answering.
		status, runs := f.api(t, "GET", "/api/journeys/"+id+"/runs", nil)
		require.Equal(t, 200, status)
		items := runs["items"].([]any)
		require.Len(t, items, 1, "%v", runs)
		cust, err := f.store.FindCustomer(ctx, f.ws.ID, "member-07")
		require.NoError(t, err)
		require.Equal(t, cust.ID, items[0].(map[string]any)["customer_id"])
	})

	t.Run("a schedule trigger is a Temporal Schedule", func(t *testing.T) {
		id, out := f.publishJourney(t, exitOnly("Weekly digest", map[string]any{"type": "schedule", "cron": "0 9 * * mon",
			"timezone": "Europe/Paris", "segment_id": proID}))
		require.Equal(t, workflows.ScheduleID(id), out["schedule_id"])
		h := f.temporal.ScheduleClient().GetHandle(ctx, workflows.ScheduleID(id))
		paused := func() bool {
			d, err := h.Describe(ctx)
			require.NoError(t, err)
			require.Equal(t, "Europe/Paris", d.Schedule.Spec.TimeZoneName)
			require.NotEmpty(t, d.Info.NextActionTimes)
			next := d.Info.NextActionTimes[0].In(time.FixedZone("", 0))
			loc, _ := time.LoadLocation("Europe/Paris")
			require.Equal(t, time.Monday, next.In(loc).Weekday())
			require.Equal(t, 9, next.In(loc).Hour())
			return d.Schedule.State.Paused
		}
		require.False(t, paused())
		status, _ := f.api(t, "POST", "/api/journeys/"+id+"/pause", nil)
		require.Equal(t, 200, status)
		require.True(t, paused())
		status, _ = f.api(t, "POST", "/api/journeys/"+id+"/resume", nil)
		require.Equal(t, 200, status)
		require.False(t, paused())

		require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
		e := f.waitEnrollment(t, id, members)
		require.Equal(t, workflows.EnrollSchedule, e["reason"])

		status, _ = f.api(t, "POST", "/api/journeys/"+id+"/stop", nil)
		require.Equal(t, 200, status)
		_, err := h.Describe(ctx)
		var nf *serviceerror.NotFound
		require.ErrorAs(t, err, &nf, "the schedule of a stopped journey is deleted")
	})
}
