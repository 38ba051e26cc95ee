package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// seedCustomers applies events for customers of the fixture's workspace and
// returns the internal id of each user id (or anonymous id).
func seedCustomers(t *testing.T, st *schema.Store, ws string, evs ...schema.EventInput) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for i, ev := range evs {
		ev.WorkspaceID = ws
		if ev.MessageID == "" {
			ev.MessageID = fmt.Sprintf("%s-m%d", ws, i)
		}
		if ev.OccurredAt.IsZero() {
			ev.OccurredAt = time.Now()
		}
		res, err := st.ApplyEvent(context.Background(), ev)
		require.NoError(t, err)
		who := ev.UserID
		if who == "" {
			who = ev.AnonymousID
		}
		ids[who] = res.CustomerID
	}
	return ids
}

func itemIDs(t *testing.T, body map[string]any) []string {
	t.Helper()
	items, ok := body["items"].([]any)
	require.True(t, ok, "%v", body)
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids
}

func (f *fixture) login(t *testing.T, email, password string) map[string]string {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/login", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var me map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&me))
	for _, c := range resp.Cookies() {
		if c.Name == "herald_session" {
			return map[string]string{"Cookie": "herald_session=" + c.Value, "X-CSRF-Token": me["csrf_token"].(string)}
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func TestCustomersSearchProfileExportAndErase(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sk := bearer(f.secretKey)
	get := func(path string) (int, map[string]any) {
		t.Helper()
		status, body, _ := f.do(t, call{"GET", path, "", sk})
		return status, body
	}
	ids := seedCustomers(t, f.store, f.ws.ID,
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-ada", AnonymousID: "anon-ada",
			Traits: map[string]any{"email": "Ada@Example.com", "phone": "+15555550100", "plan": "pro", "seats": 3}},
		schema.EventInput{Type: "track", Name: "Viewed Pricing", UserID: "u-ada", Properties: json.RawMessage(`{"page":"/pricing"}`),
			Context: json.RawMessage(`{"ip":"192.0.2.1"}`)},
		schema.EventInput{Type: "track", Name: "Signed Up", UserID: "u-ada"},
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-bob", Traits: map[string]any{"email": "bob@example.com", "plan": "free"}},
		schema.EventInput{Type: "track", Name: "Viewed", AnonymousID: "anon-cyd"},
	)
	ada, bob, cyd := ids["u-ada"], ids["u-bob"], ids["anon-cyd"]

	// Another workspace with the same identities stays invisible.
	ws2, err := f.store.CreateWorkspace(ctx, "Other")
	require.NoError(t, err)
	sk2, err := f.store.CreateAPIKey(ctx, ws2.ID, schema.KeySecret, "", "test")
	require.NoError(t, err)
	theirs := seedCustomers(t, f.store, ws2.ID,
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-ada", Traits: map[string]any{"email": "ada@example.com", "plan": "pro"}})["u-ada"]

	// A run and a delivery of Ada's.
	j, err := f.store.CreateJourney(ctx, f.ws.ID, "Welcome", json.RawMessage(`{}`))
	require.NoError(t, err)
	require.NoError(t, recorded(f.store.RecordRunStart(ctx, f.ws.ID, schema.Run{WorkflowID: "journey/" + j.ID + "/customer/" + ada, RunID: "r1",
		JourneyID: j.ID, Version: 1, CustomerID: ada, TriggerEvent: "Signed Up", StartedAt: time.Now()})))
	_, _, err = f.store.ClaimDelivery(ctx, f.ws.ID, schema.Delivery{ID: "msg_ada", JourneyID: j.ID, CustomerID: ada, Channel: "email",
		Provider: "outbox", TemplateID: "tpl_1", Recipient: "ada@example.com", Content: json.RawMessage(`{"subject":"Welcome, Ada!"}`)})
	require.NoError(t, err)
	require.NoError(t, f.store.SetDeliveryStatus(ctx, f.ws.ID, "msg_ada", schema.DeliverySent, "outbox:1", "recorded"))
	// The node her run passed, a segment of hers, her unsubscribed address
	// and a merge recorded on her profile: all in the export, all gone
	// (or blanked) with her.
	require.NoError(t, f.store.RecordRunStep(ctx, schema.RunStep{WorkspaceID: f.ws.ID, JourneyID: j.ID,
		WorkflowID: "journey/" + j.ID + "/customer/" + ada, RunID: "r1", Node: "welcome", Visit: 1, EnteredAt: time.Now()}))
	require.NoError(t, f.store.Suppress(ctx, f.ws.ID, schema.Suppression{Channel: "email", Address: "ada@example.com", Reason: "unsubscribe"}))
	require.NoError(t, f.store.Audit(ctx, f.ws.ID, "ingest", "merge", "customer", ada, map[string]any{"merged_from": "cus_old", "merged_user_id": "u-ada-old"}))

	t.Run("search", func(t *testing.T) {
		status, body := get("/api/customers")
		require.Equal(t, 200, status, "%v", body)
		require.Equal(t, []string{cyd, bob, ada}, itemIDs(t, body), "newest first, this workspace only")
		require.Empty(t, body["next_cursor"])
		for q, want := range map[string][]string{
			ada: {ada}, "u-bob": {bob}, "anon-ada": {ada}, "anon-cyd": {cyd}, "ADA@EXAMPLE.com": {ada},
			"+15555550100": {ada}, "nobody": {}, theirs: {},
		} {
			_, body := get("/api/customers?q=" + url.QueryEscape(q))
			require.Equal(t, want, itemIDs(t, body), "q=%s", q)
		}
		_, body = get("/api/customers?attr.plan=pro")
		require.Equal(t, []string{ada}, itemIDs(t, body))
		_, body = get("/api/customers?attr.seats=3&attr.plan=pro")
		require.Equal(t, []string{ada}, itemIDs(t, body))
		_, body = get("/api/customers?attr.plan=pro&attr.plan=free")
		require.Equal(t, []string{bob, ada}, itemIDs(t, body))
		_, body = get("/api/customers?q=u-bob&attr.plan=pro")
		require.Empty(t, itemIDs(t, body))
		_, body = get("/api/customers?attr.plan=" + url.QueryEscape(`pro'"); DROP TABLE customers; --`))
		require.Empty(t, itemIDs(t, body))

		// Keyset pages.
		var paged []string
		cursor := ""
		for range 5 {
			_, body := get("/api/customers?limit=2&cursor=" + url.QueryEscape(cursor))
			paged = append(paged, itemIDs(t, body)...)
			cursor, _ = body["next_cursor"].(string)
			if cursor == "" {
				break
			}
		}
		require.Equal(t, []string{cyd, bob, ada}, paged)
	})

	t.Run("profile", func(t *testing.T) {
		for _, id := range []string{ada, "u-ada"} {
			status, body := get("/api/customers/" + id)
			require.Equal(t, 200, status, "%v", body)
			require.Equal(t, ada, body["id"])
			require.Equal(t, "u-ada", body["external_id"])
			require.Equal(t, "Ada@Example.com", body["email"])
			require.Equal(t, []any{"anon-ada"}, body["anonymous_ids"])
			require.Equal(t, map[string]any{"plan": "pro", "seats": float64(3)}, body["attributes"])
			require.NotEmpty(t, body["created_at"])
			var names []string
			for _, e := range body["events"].([]any) {
				names = append(names, e.(map[string]any)["name"].(string))
			}
			require.Equal(t, []string{"Signed Up", "Viewed Pricing", "Identify"}, names, "latest first")
			runs := body["runs"].([]any)
			require.Len(t, runs, 1)
			run := runs[0].(map[string]any)
			require.Equal(t, j.ID, run["journey_id"])
			require.Equal(t, "Welcome", run["journey_name"])
			require.Equal(t, "running", run["status"])
			require.Equal(t, "u-ada", run["customer_external_id"], "as in the journey's run list")
			deliveries := body["deliveries"].([]any)
			require.Len(t, deliveries, 1)
			d := deliveries[0].(map[string]any)
			require.Equal(t, "email", d["channel"])
			require.Equal(t, "sent", d["status"])
			require.Equal(t, "Welcome, Ada!", d["content"].(map[string]any)["subject"])
			require.Len(t, d["history"], 2)
		}
		status, body := get("/api/customers/" + cyd)
		require.Equal(t, 200, status)
		require.Nil(t, body["external_id"])
		require.Equal(t, []any{}, body["runs"])
		require.Equal(t, []any{}, body["deliveries"])
	})

	t.Run("export", func(t *testing.T) {
		// Joining a segment is an event of hers too ("Segment Entered").
		seg, err := f.store.CreateSegment(ctx, f.ws.ID, schema.Segment{Name: "VIP", Kind: schema.SegmentManual})
		require.NoError(t, err)
		_, err = f.store.AddManualMembers(ctx, f.ws.ID, seg.ID, []string{ada})
		require.NoError(t, err)
		left, err := f.store.CreateSegment(ctx, f.ws.ID, schema.Segment{Name: "Left", Kind: schema.SegmentManual})
		require.NoError(t, err)
		_, err = f.store.AddManualMembers(ctx, f.ws.ID, left.ID, []string{ada})
		require.NoError(t, err)
		_, err = f.store.RemoveManualMembers(ctx, f.ws.ID, left.ID, []string{ada})
		require.NoError(t, err)
		status, up := f.uploadCSV(t, sk, "", "name,email\nAda,ADA@example.com\nBob,bob@example.com\n")
		require.Equal(t, 201, status, "%v", up)
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/customers/u-ada/export", nil)
		req.Header.Set("Authorization", "Bearer "+f.secretKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
		var exp struct {
			Customer     map[string]any   `json:"customer"`
			Events       []map[string]any `json:"events"`
			Runs         []map[string]any `json:"runs"`
			RunSteps     []map[string]any `json:"run_steps"`
			Deliveries   []map[string]any `json:"deliveries"`
			Segments     []map[string]any `json:"segments"`
			Suppressions []map[string]any `json:"suppressions"`
			Audit        []map[string]any `json:"audit"`
			ImportRows   []map[string]any `json:"import_rows"`
			ExportedAt   time.Time        `json:"exported_at"`
		}
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(body, &exp))
		var whole schema.CustomerExport
		require.NoError(t, json.Unmarshal(body, &whole))
		again, err := json.Marshal(whole)
		require.NoError(t, err)
		require.Equal(t, string(again), string(body), "the streamed document is CustomerExport as encoding/json writes it")
		require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Equal(t, ada, exp.Customer["id"])
		require.Len(t, exp.Events, 6, "three of hers, three segment changes")
		require.Equal(t, "Identify", exp.Events[0]["name"], "all events, oldest first")
		require.Equal(t, map[string]any{"ip": "192.0.2.1"}, exp.Events[1]["context"])
		require.Equal(t, map[string]any{"page": "/pricing"}, exp.Events[1]["properties"])
		require.Len(t, exp.Runs, 1)
		require.Len(t, exp.Deliveries, 1)
		require.Equal(t, "ada@example.com", exp.Deliveries[0]["recipient"])
		require.Len(t, exp.RunSteps, 1)
		require.Equal(t, "welcome", exp.RunSteps[0]["node"])
		require.Len(t, exp.Segments, 2, "past memberships too")
		require.Equal(t, "VIP", exp.Segments[0]["name"])
		require.NotNil(t, exp.Segments[1]["left_at"])
		require.Len(t, exp.Suppressions, 1)
		require.Equal(t, "unsubscribe", exp.Suppressions[0]["reason"])
		require.Len(t, exp.Audit, 1)
		require.Equal(t, "u-ada-old", exp.Audit[0]["detail"].(map[string]any)["merged_user_id"])
		require.Equal(t, []map[string]any{{"import_id": up["id"], "file_name": "upload.csv", "row": 2.0,
			"fields": map[string]any{"name": "Ada", "email": "ADA@example.com"}}}, exp.ImportRows)
		require.False(t, exp.ExportedAt.IsZero())
		audit, err := f.store.ListAudit(ctx, f.ws.ID, "customer", ada)
		require.NoError(t, err)
		require.Len(t, audit, 2)
		require.Equal(t, "export", audit[1].Action)
		status, profile := get("/api/customers/" + ada)
		require.Equal(t, 200, status)
		require.Len(t, profile["audit"], 2, "the profile shows what was recorded about the customer")
		require.Equal(t, "export", profile["audit"].([]any)[0].(map[string]any)["action"], "newest first")
		require.EqualValues(t, 2, profile["audit_total"])
		require.Equal(t, "", profile["audit_next_cursor"])
		require.Equal(t, false, profile["runs_more"])
		require.Equal(t, false, profile["deliveries_more"])
		require.Len(t, profile["segments"], 1, "the profile shows the segments she is in now")
		require.Equal(t, map[string]any{"segment_id": seg.ID, "name": "VIP", "kind": "manual"},
			pick(profile["segments"].([]any)[0].(map[string]any), "segment_id", "name", "kind"))
	})

	t.Run("bad input and other workspaces", func(t *testing.T) {
		viewer := f.login(t, "viewer@demo.test", "viewer-password")
		tests := []struct {
			name, method, path string
			hdr                map[string]string
			status             int
			want               string
		}{
			{"bad limit", "GET", "/api/customers?limit=0", sk, 400, "limit"},
			{"limit not a number", "GET", "/api/customers?limit=ten", sk, 400, "limit"},
			{"bad cursor", "GET", "/api/customers?cursor=nope", sk, 400, "cursor"},
			{"cursor without id", "GET", "/api/customers?cursor=" + "MjAyNi0wMS0wMVQwMDowMDowMFo", sk, 400, "cursor"},
			{"attribute without name", "GET", "/api/customers?attr.=pro", sk, 400, "attr."},
			{"unknown customer", "GET", "/api/customers/cus_nope", sk, 404, "not found"},
			{"unknown export", "GET", "/api/customers/cus_nope/export", sk, 404, "not found"},
			{"unknown erase", "DELETE", "/api/customers/cus_nope", sk, 404, "not found"},
			{"anonymous id is not a profile id", "GET", "/api/customers/anon-ada", sk, 404, "not found"},
			{"other workspace's customer", "GET", "/api/customers/" + theirs, sk, 404, "not found"},
			{"other workspace's export", "GET", "/api/customers/" + theirs + "/export", sk, 404, "not found"},
			{"other workspace's erase", "DELETE", "/api/customers/" + theirs, sk, 404, "not found"},
			{"this workspace's customer from the other", "GET", "/api/customers/" + ada, bearer(sk2.Key), 404, "not found"},
			{"erase from the other workspace", "DELETE", "/api/customers/" + ada, bearer(sk2.Key), 404, "not found"},
			{"viewer cannot erase", "DELETE", "/api/customers/" + ada, viewer, 403, "editor"},
			{"no auth", "GET", "/api/customers", nil, 401, "not logged in"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, body, _ := f.do(t, call{tc.method, tc.path, "", tc.hdr})
				require.Equal(t, tc.status, status, "%v", body)
				require.Contains(t, strings.ToLower(fmt.Sprint(body["error"])), strings.ToLower(tc.want))
			})
		}
		// The viewer may read.
		status, _, _ := f.do(t, call{"GET", "/api/customers/" + ada, "", viewer})
		require.Equal(t, 200, status)
		// The other workspace still sees its own u-ada.
		status, body, _ := f.do(t, call{"GET", "/api/customers/u-ada", "", bearer(sk2.Key)})
		require.Equal(t, 200, status)
		require.Equal(t, theirs, body["id"])
	})

	t.Run("erase", func(t *testing.T) {
		status, body, _ := f.do(t, call{"DELETE", "/api/customers/u-ada", "", sk})
		require.Equal(t, 200, status, "%v", body)
		require.Equal(t, map[string]any{"id": ada, "erased": true, "events_deleted": float64(6), "anonymous_ids_deleted": float64(1),
			"deliveries_blanked": float64(1), "import_rows_blanked": float64(1), "runs_canceled": float64(0), "histories_deleted": float64(0)}, body)

		for _, path := range []string{"/api/customers/" + ada, "/api/customers/u-ada", "/api/customers/" + ada + "/export"} {
			status, _ := get(path)
			require.Equal(t, 404, status, path)
		}
		_, list := get("/api/customers")
		require.Equal(t, []string{cyd, bob}, itemIDs(t, list))
		_, list = get("/api/customers?q=anon-ada")
		require.Empty(t, itemIDs(t, list))
		status, _, _ = f.do(t, call{"DELETE", "/api/customers/" + ada, "", sk})
		require.Equal(t, 404, status, "erasing twice")

		// The delivery keeps its status for the statistics, not its content.
		d, err := f.store.GetDelivery(ctx, f.ws.ID, "msg_ada")
		require.NoError(t, err)
		require.JSONEq(t, `{}`, string(d.Content))
		require.Empty(t, d.Recipient)
		require.Equal(t, schema.DeliverySent, d.Status)
		// The tombstone: who erased whom, with counts and no personal data;
		// the entries before it keep their actions, not their details. The
		// API still answers them by the internal id.
		status, page := get("/api/customers/" + ada + "/audit")
		require.Equal(t, 200, status, "%v", page)
		var audit []schema.AuditEntry
		b, _ := json.Marshal(page["items"])
		require.NoError(t, json.Unmarshal(b, &audit))
		require.Len(t, audit, 3)
		require.Equal(t, []string{"merge", "export", "erase"}, []string{audit[0].Action, audit[1].Action, audit[2].Action})
		require.Contains(t, audit[2].Actor, "key:")
		require.JSONEq(t, `{"events_deleted":6,"anonymous_ids_deleted":1,"deliveries_blanked":1,"import_rows_blanked":1,"runs_canceled":0,"histories_deleted":0}`, string(audit[2].Detail))
		require.JSONEq(t, `{"erased":true}`, string(audit[0].Detail), "the merged user id is gone")
		for _, e := range audit {
			require.NotContains(t, strings.ToLower(string(e.Detail)), "ada")
		}
		status, _ = get("/api/customers/cus_nope/audit")
		require.Equal(t, 404, status)
		// Her segment membership went with her; the suppression stays (it is
		// what keeps her address from being written to again).
		var members int
		require.NoError(t, f.store.Pool().QueryRow(ctx, `SELECT count(*) FROM segment_members WHERE customer_id = $1`, ada).Scan(&members))
		require.Zero(t, members)
		// Other customers and workspaces are untouched.
		status, _ = get("/api/customers/u-bob")
		require.Equal(t, 200, status)
		status, _, _ = f.do(t, call{"GET", "/api/customers/u-ada", "", bearer(sk2.Key)})
		require.Equal(t, 200, status)
	})
}

// Erasure cancels the customer's running runs on a real Temporal server and
// waits for them to close before blanking what they sent.
func TestEraseCancelsRunningRuns(t *testing.T) {
	f := newJourneyFixture(t)
	ctx := context.Background()
	id := f.publishWelcome(t)
	_, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: f.ws.ID, MessageID: "m1", Type: "identify", Name: "Identify",
		UserID: "u1", Traits: map[string]any{"first_name": "Ada", "email": "ada@example.com"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	status, entered := f.api(t, "POST", "/api/journeys/"+id+"/trigger", map[string]any{"customer": map[string]any{"user_id": "u1"}})
	require.Equal(t, 200, status, "%v", entered)
	wfID := entered["workflow_id"].(string)
	cid := entered["customer_id"].(string)
	require.Eventually(t, func() bool {
		_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
		st, _ := run["state"].(map[string]any)
		return st != nil && st["node"] == "wait"
	}, 20*time.Second, 100*time.Millisecond)
	_, profile := f.api(t, "GET", "/api/customers/u1", nil)
	require.Len(t, profile["runs"], 1)
	require.Equal(t, "wait", profile["runs"].([]any)[0].(map[string]any)["current_node"])
	require.Len(t, profile["deliveries"], 1)

	// An earlier run of the customer, closed: its history holds the
	// customer's events too.
	earlier, err := f.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "journey/jny_old/customer/" + cid,
		TaskQueue: "nobody-polls", TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAWorkspaceID.ValueSet(f.ws.ID), workflows.SACustomerID.ValueSet(cid))}, "OldJourney", "ada@example.com")
	require.NoError(t, err)
	require.NoError(t, f.temporal.TerminateWorkflow(ctx, earlier.GetID(), "", "ended"))
	// Another customer's run stays.
	other, err := f.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "journey/jny_old/customer/cus_other",
		TaskQueue: "nobody-polls", TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAWorkspaceID.ValueSet(f.ws.ID), workflows.SACustomerID.ValueSet("cus_other"))}, "OldJourney", "bob@example.com")
	require.NoError(t, err)
	require.NoError(t, f.temporal.TerminateWorkflow(ctx, other.GetID(), "", "ended"))
	require.Eventually(t, func() bool { // visible as closed
		resp, err := f.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: "WorkflowId = '" + earlier.GetID() + "' AND ExecutionStatus != 'Running'"})
		return err == nil && len(resp.Executions) == 1
	}, 20*time.Second, 100*time.Millisecond)

	status, erased := f.api(t, "DELETE", "/api/customers/u1", nil)
	require.Equal(t, 200, status, "%v", erased)
	require.EqualValues(t, 1, erased["runs_canceled"])
	require.EqualValues(t, 1, erased["deliveries_blanked"])
	require.EqualValues(t, 2, erased["histories_deleted"], "the cancelled run and the earlier one")

	// The run closed (the erasure awaited it) and records itself canceled;
	// its history, and the earlier run's, are deleted from Temporal.
	require.Eventually(t, func() bool {
		run, err := f.store.GetRun(ctx, f.ws.ID, wfID)
		return err == nil && run.Status == schema.RunCanceled
	}, 20*time.Second, 100*time.Millisecond)
	for _, id := range []string{wfID, earlier.GetID()} {
		require.Eventually(t, func() bool {
			_, err := f.temporal.DescribeWorkflowExecution(ctx, id, "")
			var nf *serviceerror.NotFound
			return errors.As(err, &nf)
		}, 20*time.Second, 100*time.Millisecond, "history of %s deleted", id)
	}
	_, err = f.temporal.DescribeWorkflowExecution(ctx, other.GetID(), "")
	require.NoError(t, err, "another customer's run stays")
	list, err := f.store.ListDeliveries(ctx, f.ws.ID, schema.DeliveryFilter{CustomerID: cid, Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.JSONEq(t, `{}`, string(list[0].Content))
	require.Empty(t, list[0].Recipient)
	status, _ = f.api(t, "GET", "/api/customers/"+cid, nil)
	require.Equal(t, 404, status)
}

// A user id retired by an alias (issue 4) still names the customer in the
// customers API: profile, search and export answer the surviving profile.
func TestCustomersByPreviousUserID(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	ids := seedCustomers(t, f.store, f.ws.ID,
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-old", Traits: map[string]any{"plan": "free"}},
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-new", Traits: map[string]any{"plan": "pro"}},
		schema.EventInput{Type: "alias", Name: "Alias", UserID: "u-new", PreviousID: "u-old"},
	)
	survivor := ids["u-new"]
	for _, id := range []string{"u-old", "u-new", survivor} {
		status, body, _ := f.do(t, call{"GET", "/api/customers/" + id, "", sk})
		require.Equal(t, 200, status, "%s: %v", id, body)
		require.Equal(t, survivor, body["id"], id)
		require.Equal(t, "u-new", body["external_id"])
		require.Equal(t, []any{"u-old"}, body["previous_user_ids"])
		require.Equal(t, "pro", body["attributes"].(map[string]any)["plan"])
		require.Len(t, body["events"], 3)
	}
	status, body, _ := f.do(t, call{"GET", "/api/customers?q=u-old", "", sk})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, []string{survivor}, itemIDs(t, body))
	status, body, _ = f.do(t, call{"GET", "/api/customers/u-old/export", "", sk})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, survivor, body["customer"].(map[string]any)["id"])
}

// The internal id of a profile merged into another (identify with both ids)
// is still quoted — the survivor's merge entry names it, earlier exports
// carry it — so a GDPR request under it reaches the survivor: profile,
// events, audit, export, search and erasure answer the survivor, in its own
// workspace only, and nothing once the survivor is erased.
func TestCustomersByMergedAwayID(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sk := bearer(f.secretKey)
	ids := seedCustomers(t, f.store, f.ws.ID,
		schema.EventInput{Type: "track", Name: "Viewed Pricing", AnonymousID: "anon-1"},
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-1", Traits: map[string]any{"email": "ada@example.com"}},
		schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-1", AnonymousID: "anon-1"},
	)
	old, survivor := ids["anon-1"], ids["u-1"]
	require.NotEqual(t, old, survivor)
	cur, err := f.store.CurrentCustomerID(ctx, f.ws.ID, old)
	require.NoError(t, err)
	require.Equal(t, survivor, cur, "the anonymous profile was merged into the known one")

	ws2, err := f.store.CreateWorkspace(ctx, "Other")
	require.NoError(t, err)
	sk2, err := f.store.CreateAPIKey(ctx, ws2.ID, schema.KeySecret, "", "test")
	require.NoError(t, err)
	seedCustomers(t, f.store, ws2.ID, schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-1"})

	status, body, _ := f.do(t, call{"GET", "/api/customers/" + old, "", sk})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, survivor, body["id"], "the survivor answers, under its own id")
	require.Equal(t, "u-1", body["external_id"])
	require.Equal(t, []any{"anon-1"}, body["anonymous_ids"])
	require.EqualValues(t, 3, body["events_total"])
	audit := body["audit"].([]any)
	require.Len(t, audit, 1)
	require.Equal(t, old, audit[0].(map[string]any)["detail"].(map[string]any)["merged_from"])

	status, body, _ = f.do(t, call{"GET", "/api/customers/" + old + "/events", "", sk})
	require.Equal(t, 200, status, "%v", body)
	require.Len(t, body["items"], 3, "the anonymous profile's event followed")
	status, body, _ = f.do(t, call{"GET", "/api/customers/" + old + "/audit", "", sk})
	require.Equal(t, 200, status, "%v", body)
	require.Len(t, body["items"], 1)
	status, body, _ = f.do(t, call{"GET", "/api/customers/" + old + "/export", "", sk})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, survivor, body["customer"].(map[string]any)["id"])
	require.Len(t, body["events"], 3)
	status, body, _ = f.do(t, call{"GET", "/api/customers?q=" + old, "", sk})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, []string{survivor}, itemIDs(t, body))

	// Another workspace cannot reach it.
	for _, c := range []call{
		{"GET", "/api/customers/" + old, "", bearer(sk2.Key)},
		{"GET", "/api/customers/" + old + "/events", "", bearer(sk2.Key)},
		{"GET", "/api/customers/" + old + "/audit", "", bearer(sk2.Key)},
		{"GET", "/api/customers/" + old + "/export", "", bearer(sk2.Key)},
		{"DELETE", "/api/customers/" + old, "", bearer(sk2.Key)},
	} {
		status, body, _ := f.do(t, c)
		require.Equal(t, 404, status, "%s %s: %v", c.method, c.path, body)
	}
	status, body, _ = f.do(t, call{"GET", "/api/customers?q=" + old, "", bearer(sk2.Key)})
	require.Equal(t, 200, status, "%v", body)
	require.Empty(t, itemIDs(t, body))

	// Erasure under the old id erases the survivor; then the old id leads nowhere.
	status, body, _ = f.do(t, call{"DELETE", "/api/customers/" + old, "", sk})
	require.Equal(t, 200, status, "%v", body)
	require.Equal(t, survivor, body["id"])
	require.EqualValues(t, 3, body["events_deleted"])
	for _, path := range []string{"/api/customers/" + old, "/api/customers/" + old + "/events",
		"/api/customers/" + old + "/audit", "/api/customers/" + old + "/export", "/api/customers/" + survivor} {
		status, body, _ := f.do(t, call{"GET", path, "", sk})
		require.Equal(t, 404, status, "%s: %v", path, body)
	}
	status, _, _ = f.do(t, call{"DELETE", "/api/customers/" + old, "", sk})
	require.Equal(t, 404, status, "erasing twice")
	status, body, _ = f.do(t, call{"GET", "/api/customers?q=" + old, "", sk})
	require.Equal(t, 200, status, "%v", body)
	require.Empty(t, itemIDs(t, body))
	status, _, _ = f.do(t, call{"GET", "/api/customers/u-1", "", bearer(sk2.Key)})
	require.Equal(t, 200, status, "the other workspace's u-1 is untouched")
}

// A profile shows the newest events by when they happened — a backfill
// sent after a live event sorts by its own time — with the total, and the
// rest page through /api/customers/{id}/events.
func TestCustomerEventsNewestFirstAndPaged(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	base := time.Now().Add(-30 * 24 * time.Hour).UTC().Truncate(time.Second)
	evs := []schema.EventInput{{Type: "track", Name: "Live", UserID: "u1", OccurredAt: time.Now()}}
	for i := range 160 {
		evs = append(evs, schema.EventInput{Type: "track", Name: fmt.Sprintf("Backfill %03d", i), UserID: "u1", OccurredAt: base.Add(time.Duration(i) * time.Hour)})
	}
	seedCustomers(t, f.store, f.ws.ID, evs...)

	status, profile, _ := f.do(t, call{"GET", "/api/customers/u1", "", sk})
	require.Equal(t, 200, status, "%v", profile)
	require.EqualValues(t, 161, profile["events_total"])
	names := func(list any) []string {
		var out []string
		for _, e := range list.([]any) {
			out = append(out, e.(map[string]any)["name"].(string))
		}
		return out
	}
	first := names(profile["events"])
	require.Len(t, first, 100)
	require.Equal(t, []string{"Live", "Backfill 159", "Backfill 158"}, first[:3], "newest by occurrence, not by arrival")
	seen := first
	cursor := profile["events_next_cursor"].(string)
	for cursor != "" {
		status, page, _ := f.do(t, call{"GET", "/api/customers/u1/events?limit=40&cursor=" + url.QueryEscape(cursor), "", sk})
		require.Equal(t, 200, status, "%v", page)
		seen = append(seen, names(page["items"])...)
		cursor, _ = page["next_cursor"].(string)
	}
	require.Len(t, seen, 161)
	require.Equal(t, "Backfill 000", seen[160])
	status, body, _ := f.do(t, call{"GET", "/api/customers/u1/events?cursor=bogus", "", sk})
	require.Equal(t, 400, status, "%v", body)
	require.Equal(t, "cursor", body["field"])
	status, _, _ = f.do(t, call{"GET", "/api/customers/nobody/events", "", sk})
	require.Equal(t, 404, status)
}

// The profile holds the newest 100 audit entries, newest first, with the
// total and a cursor that pages back through /audit?order=newest; its runs
// and deliveries say when more than the 100 shown exist.
func TestCustomerAuditNewestFirstAndPagedAndCutLists(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sk := bearer(f.secretKey)
	cus := seedCustomers(t, f.store, f.ws.ID, schema.EventInput{Type: "identify", Name: "Identify", UserID: "u1"})["u1"]
	for i := range 130 {
		require.NoError(t, f.store.Audit(ctx, f.ws.ID, "ingest", "export", "customer", cus, map[string]any{"n": i}))
	}
	j, err := f.store.CreateJourney(ctx, f.ws.ID, "Welcome", json.RawMessage(`{}`))
	require.NoError(t, err)
	for i := range 101 {
		require.NoError(t, recorded(f.store.RecordRunStart(ctx, f.ws.ID, schema.Run{WorkflowID: fmt.Sprintf("journey/%s/customer/%s/%d", j.ID, cus, i),
			RunID: "r1", JourneyID: j.ID, Version: 1, CustomerID: cus, TriggerEvent: "Signed Up", StartedAt: time.Now()})))
		_, _, err = f.store.ClaimDelivery(ctx, f.ws.ID, schema.Delivery{ID: fmt.Sprintf("msg_%d", i), JourneyID: j.ID, CustomerID: cus,
			Channel: "email", Provider: "outbox", TemplateID: "tpl_1", Recipient: "u1@example.com", Content: json.RawMessage(`{}`)})
		require.NoError(t, err)
	}

	status, profile, _ := f.do(t, call{"GET", "/api/customers/u1", "", sk})
	require.Equal(t, 200, status, "%v", profile)
	ns := func(list any) []int {
		var out []int
		for _, e := range list.([]any) {
			out = append(out, int(e.(map[string]any)["detail"].(map[string]any)["n"].(float64)))
		}
		return out
	}
	first := ns(profile["audit"])
	require.Len(t, first, 100)
	require.Equal(t, []int{129, 128, 127}, first[:3], "newest first")
	require.EqualValues(t, 130, profile["audit_total"])
	require.Len(t, profile["runs"], 100)
	require.Equal(t, true, profile["runs_more"])
	require.Len(t, profile["deliveries"], 100)
	require.Equal(t, true, profile["deliveries_more"])

	seen := first
	cursor := profile["audit_next_cursor"].(string)
	require.NotEmpty(t, cursor)
	for cursor != "" {
		status, page, _ := f.do(t, call{"GET", "/api/customers/u1/audit?order=newest&limit=20&cursor=" + url.QueryEscape(cursor), "", sk})
		require.Equal(t, 200, status, "%v", page)
		seen = append(seen, ns(page["items"])...)
		cursor, _ = page["next_cursor"].(string)
	}
	require.Len(t, seen, 130)
	require.Equal(t, 0, seen[129])

	// The default order is unchanged: oldest first.
	status, page, _ := f.do(t, call{"GET", "/api/customers/u1/audit?limit=2", "", sk})
	require.Equal(t, 200, status, "%v", page)
	require.Equal(t, []int{0, 1}, ns(page["items"]))
	status, page, _ = f.do(t, call{"GET", "/api/customers/u1/audit?order=sideways", "", sk})
	require.Equal(t, 400, status, "%v", page)
	require.Equal(t, "order", page["field"])
}

// pick is the map with only the keys named.
func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

// A user id is any text: one holding "/", "%", "?", "#", spaces or
// non-ASCII reaches its profile, events, audit, export and erasure when the
// path escapes it (encodeURIComponent, url.PathEscape).
func TestCustomersByUserIDsThatNeedEscaping(t *testing.T) {
	f := newFixture(t)
	sk := bearer(f.secretKey)
	users := []string{"tenant/42", "a/b/../c", "100%", "what?x=1", "#7", "Zoë Ünal", "/lead", "trail/", "c++", "tenant/1+2", "tenant/1 2", "50%/off"}
	var evs []schema.EventInput
	for _, u := range users {
		evs = append(evs, schema.EventInput{Type: "track", Name: "Signed Up", UserID: u})
	}
	ids := seedCustomers(t, f.store, f.ws.ID, evs...)
	for _, u := range users {
		p := "/api/customers/" + url.PathEscape(u)
		for _, suffix := range []string{"", "/events", "/audit", "/export"} {
			status, body, _ := f.do(t, call{"GET", p + suffix, "", sk})
			require.Equal(t, 200, status, "%s%s: %v", u, suffix, body)
		}
		status, body, _ := f.do(t, call{"GET", p, "", sk})
		require.Equal(t, ids[u], body["id"], u)
		require.Equal(t, u, body["external_id"])
		status, body, _ = f.do(t, call{"DELETE", p, "", sk})
		require.Equal(t, 200, status, "%s: %v", u, body)
		status, _, _ = f.do(t, call{"GET", p, "", sk})
		require.Equal(t, 404, status, u)
	}
}

// recorded is the error of RecordRunStart (the customer it answers is the
// one given, in these tests).
func recorded(_ string, err error) error { return err }

// TestCustomersAttributeFilterAsOpenAPIWritesIt: the attribute filter is
// documented as the deepObject parameter attr, which OpenAPI clients write
// attr[plan]=pro; it filters as attr.plan=pro does, nested names included.
// A query parameter the list does not take is refused, never ignored (an
// ignored filter answers every customer).
func TestCustomersAttributeFilterAsOpenAPIWritesIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ids := map[string]string{}
	for i, plan := range []string{"pro", "free"} {
		res, err := f.store.ApplyEvent(ctx, schema.EventInput{WorkspaceID: f.ws.ID, MessageID: fmt.Sprintf("i%d", i), Type: "identify", Name: "Identify",
			UserID: "u-" + plan, Traits: map[string]any{"plan": plan, "company": map[string]any{"size": plan + "-size"}}, OccurredAt: time.Now()})
		require.NoError(t, err)
		ids[plan] = res.CustomerID
	}
	sk := bearer(f.secretKey)
	for query, want := range map[string][]string{
		"attr.plan=pro":                    {ids["pro"]},
		"attr[plan]=pro":                   {ids["pro"]},
		"attr%5Bplan%5D=pro":               {ids["pro"]},
		"attr[plan]=pro&attr.plan=free":    {ids["free"], ids["pro"]},
		"attr.company.size=free-size":      {ids["free"]},
		"attr[company][size]=free-size":    {ids["free"]},
		"attr[company.size]=free-size":     {ids["free"]},
		"q=u-pro&attr[plan]=free":          {},
		"attr[plan]=pro&limit=1&cursor=":   {ids["pro"]},
		"attr[company][size]=nobody":       {},
		"attr[plan]=enterprise&q=u-free":   {},
		"attr[plan]=free&attr[plan]=other": {ids["free"]},
	} {
		status, out, _ := f.do(t, call{"GET", "/api/customers?" + query, "", sk})
		require.Equal(t, 200, status, "%s: %v", query, out)
		require.Equal(t, want, itemIDs(t, out), query)
	}
	for query, field := range map[string]string{
		"plan=pro":             "plan",
		"attrs.plan=pro":       "attrs.plan",
		"attr=pro":             "attr",
		"attr[]=pro":           "attr[]",
		"attr[plan=pro":        "attr[plan",
		"attr[a][]=pro":        "attr[a][]",
		"q=u-pro&order=newest": "order",
	} {
		status, out, _ := f.do(t, call{"GET", "/api/customers?" + query, "", sk})
		require.Equal(t, 400, status, "%s: %v", query, out)
		require.Equal(t, field, out["field"], query)
	}
}
