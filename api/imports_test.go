package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
	"github.com/heraldhq/herald/workflows/temporalserver"
)

// importFixture is the API on a real Postgres and a real embedded Temporal
// server, with a worker the test can stop and replace.
type importFixture struct {
	*fixture
	temporal client.Client
	worker   worker.Worker
}

func newImportFixture(t *testing.T) *importFixture {
	t.Helper()
	ts, err := temporalserver.Start(context.Background(), temporalserver.Options{SearchAttributes: workflows.SearchAttributeTypes()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ts.Stop() })
	tc, err := client.Dial(client.Options{HostPort: ts.HostPort(), Namespace: ts.Namespace()})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	f := &importFixture{fixture: newFixture(t), temporal: tc}
	f.srv.Close()
	f.srv = httptest.NewServer(api.New(api.Deps{Store: f.store, Temporal: tc}))
	t.Cleanup(f.srv.Close)
	f.startWorker(t)
	return f
}

// startWorker runs a new worker with Herald's workflows and activities.
func (f *importFixture) startWorker(t *testing.T) {
	t.Helper()
	w := worker.New(f.temporal, workflows.TaskQueue, worker.Options{})
	workflows.Register(w)
	activities.Register(w, activities.New(activities.Deps{Store: f.store}))
	// As herald's worker has them: an import into a segment routes its
	// changes through the audience activities.
	ingest.NewAudiences(f.store, ingest.NewJourneyRouter(f.store, f.temporal, nil, nil)).Register(w)
	require.NoError(t, w.Start())
	f.worker = w
	t.Cleanup(w.Stop)
}

// uploadCSV posts a file as a multipart form (field name) or, when field
// is empty, as a text/csv body.
func (f *fixture) uploadCSV(t *testing.T, hdr map[string]string, field, file string) (int, map[string]any) {
	t.Helper()
	h := map[string]string{"Content-Type": "text/csv"}
	if field != "" {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		require.NoError(t, mw.WriteField("note", "ignored"))
		part, err := mw.CreateFormFile(field, "customers.csv")
		require.NoError(t, err)
		_, _ = part.Write([]byte(file))
		require.NoError(t, mw.Close())
		file, h["Content-Type"] = body.String(), mw.FormDataContentType()
	}
	for k, v := range hdr {
		h[k] = v
	}
	status, out, _ := f.do(t, call{"POST", "/api/imports", file, h})
	return status, out
}

func (f *fixture) jsonCall(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	raw := ""
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		raw = string(b)
	}
	status, out, _ := f.do(t, call{method, path, raw, bearer(f.secretKey)})
	return status, out
}

// awaitImport polls the import until it is no longer running and returns
// it with every processed_rows value seen on the way.
func (f *fixture) awaitImport(t *testing.T, id string) (map[string]any, []int) {
	t.Helper()
	var seen []int
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		status, imp := f.jsonCall(t, "GET", "/api/imports/"+id, nil)
		require.Equal(t, 200, status, "%v", imp)
		seen = append(seen, int(imp["processed_rows"].(float64)))
		if imp["status"] != schema.ImportRunning {
			return imp, seen
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("import %s still running after 2 minutes", id)
	return nil, nil
}

// failedRowsCSV reads GET /api/imports/{id}/failed_rows as CSV records.
func (f *fixture) failedRowsCSV(t *testing.T, id string) [][]string {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+"/api/imports/"+id+"/failed_rows", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.secretKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=customers-failed-rows.csv`, resp.Header.Get("Content-Disposition"))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")), "a byte order mark for Excel")
	r := csv.NewReader(bytes.NewReader(body[3:]))
	r.FieldsPerRecord = -1
	records, err := r.ReadAll()
	require.NoError(t, err)
	return records
}

func importCounts(imp map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range []string{"status", "total_rows", "processed_rows", "created_rows", "updated_rows", "failed_rows", "percent"} {
		out[k] = imp[k]
	}
	return out
}

func countWorkspaceCustomers(t *testing.T, st *schema.Store, ws string) int {
	t.Helper()
	var n int
	require.NoError(t, st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM customers WHERE workspace_id = $1`, ws).Scan(&n))
	return n
}

const peopleCSV = "\xEF\xBB\xBFUser ID,Email,Plan,Seats,VIP,Signed Up,Time Zone\r\n" +
	"u1,ada@example.com,pro,3,yes,2024-05-01,Europe/Paris\r\n" +
	"u2,bob@example.com,free,1,no,2024-05-02T10:00:00Z,\r\n" +
	",nobody@example.com,free,1,no,,\r\n" +
	"u4,not-an-email,free,1,no,,\r\n" +
	"u5,cy@example.com,team,lots,no,,\r\n" +
	"u6,dee@example.com,team,2,maybe,,\r\n" +
	"u7,eve@example.com,team,2,no,,Mars/Base\r\n" +
	"u8,fay@example.com\r\n" +
	"u9,gus@example.com,\"pro, \"\"annual\"\"\",5,true,2024-06-01 12:00:00,UTC\r\n" +
	"u1,ada@example.com,team,4,yes,2024-05-01,Europe/Paris\r\n"

var peopleMapping = map[string]any{"user_id": "User ID", "email": "Email", "timezone": "Time Zone", "attributes": []any{
	map[string]any{"column": "Plan", "name": "plan"},
	map[string]any{"column": "Seats", "name": "seats", "type": "number"},
	map[string]any{"column": "VIP", "name": "vip", "type": "boolean"},
	map[string]any{"column": "Signed Up", "name": "signed_up", "type": "time"},
}}

func TestImportUploadPreviewStartAndRerun(t *testing.T) {
	f := newImportFixture(t)
	ctx := context.Background()
	// Bob is known already: the import updates him and keeps what it does not set.
	seedCustomers(t, f.store, f.ws.ID, schema.EventInput{Type: "identify", UserID: "u2",
		Traits: map[string]any{"email": "bob@old.example.com", "plan": "trial", "company": "Acme"}})

	status, up := f.uploadCSV(t, bearer(f.secretKey), "file", peopleCSV)
	require.Equal(t, 201, status, "%v", up)
	id := up["id"].(string)
	require.Equal(t, "uploaded", up["status"])
	require.Equal(t, "customers.csv", up["file_name"])
	require.EqualValues(t, len(peopleCSV), up["file_size"])
	require.EqualValues(t, 10, up["total_rows"])
	require.Equal(t, []any{"User ID", "Email", "Plan", "Seats", "VIP", "Signed Up", "Time Zone"}, up["headers"])
	require.Equal(t, ",", up["separator"])
	preview := up["preview"].([]any)
	require.Len(t, preview, 10)
	require.Equal(t, []any{"u9", "gus@example.com", `pro, "annual"`, "5", "true", "2024-06-01 12:00:00", "UTC"}, preview[8])
	require.Equal(t, []any{"u8", "fay@example.com"}, preview[7])
	sug := up["suggested_mapping"].(map[string]any)
	require.Equal(t, "User ID", sug["user_id"])
	require.Equal(t, "Email", sug["email"])
	require.Equal(t, "Time Zone", sug["timezone"])
	require.Contains(t, sug["attributes"], map[string]any{"column": "Signed Up", "name": "signed_up", "type": "time"})
	require.Contains(t, sug["attributes"], map[string]any{"column": "Plan", "name": "plan", "type": "string"})
	// The import answers the same first rows and suggestion later, so the
	// app can start it (again) with a mapping of its own.
	status, detail := f.jsonCall(t, "GET", "/api/imports/"+id, nil)
	require.Equal(t, 200, status, "%v", detail)
	require.Equal(t, up["preview"], detail["preview"])
	require.Equal(t, up["suggested_mapping"], detail["suggested_mapping"])

	wantErrors := []any{
		map[string]any{"row": 4.0, "column": "User ID", "message": "user_id is empty"},
		map[string]any{"row": 5.0, "column": "Email", "message": `"not-an-email" is not an email address`},
		map[string]any{"row": 6.0, "column": "Seats", "message": `"lots" is not a number`},
		map[string]any{"row": 7.0, "column": "VIP", "message": `"maybe" is not a boolean (true/false, yes/no, 1/0)`},
		map[string]any{"row": 8.0, "column": "Time Zone", "message": `"Mars/Base" is not a time zone name (use an IANA name such as Europe/Paris)`},
		map[string]any{"row": 9.0, "column": "", "message": "the row has 2 fields; the header has 7"},
	}
	run := func(wantCreated, wantUpdated int) map[string]any {
		t.Helper()
		status, started := f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": peopleMapping})
		require.Equal(t, 202, status, "%v", started)
		require.Equal(t, "running", started["status"])
		require.Equal(t, "import/"+id, started["workflow_id"])
		imp, seen := f.awaitImport(t, id)
		require.Equal(t, map[string]any{"status": "completed", "total_rows": 10.0, "processed_rows": 10.0,
			"created_rows": float64(wantCreated), "updated_rows": float64(wantUpdated), "failed_rows": 6.0, "percent": 100.0}, importCounts(imp))
		require.IsNonDecreasing(t, seen)
		require.Equal(t, wantErrors, imp["errors"])
		require.Equal(t, peopleMapping["user_id"], imp["mapping"].(map[string]any)["user_id"])
		require.NotNil(t, imp["finished_at"])
		require.Equal(t, 3, countWorkspaceCustomers(t, f.store, f.ws.ID), "u1, u2 and u9; nothing duplicated")
		return imp
	}
	first := run(2, 2)
	require.EqualValues(t, 1, first["run"])

	ada, err := f.store.FindCustomer(ctx, f.ws.ID, "u1")
	require.NoError(t, err)
	require.Equal(t, "ada@example.com", *ada.Email)
	require.Equal(t, "Europe/Paris", *ada.Timezone)
	require.JSONEq(t, `{"plan":"team","seats":4,"vip":true,"signed_up":"2024-05-01T00:00:00Z"}`, string(ada.Attributes), "the later row wins")
	bob, err := f.store.FindCustomer(ctx, f.ws.ID, "u2")
	require.NoError(t, err)
	require.Equal(t, "bob@example.com", *bob.Email)
	require.Nil(t, bob.Timezone, "an empty cell sets nothing")
	require.JSONEq(t, `{"plan":"free","company":"Acme","seats":1,"vip":false,"signed_up":"2024-05-02T10:00:00Z"}`, string(bob.Attributes))
	gus, err := f.store.FindCustomer(ctx, f.ws.ID, "u9")
	require.NoError(t, err)
	require.JSONEq(t, `{"plan":"pro, \"annual\"","seats":5,"vip":true,"signed_up":"2024-06-01T12:00:00Z"}`, string(gus.Attributes))

	// Errors page by row.
	status, page := f.jsonCall(t, "GET", "/api/imports/"+id+"/errors?limit=4", nil)
	require.Equal(t, 200, status, "%v", page)
	require.Equal(t, wantErrors[:4], page["items"])
	require.Equal(t, "7", page["next_cursor"])
	_, page = f.jsonCall(t, "GET", "/api/imports/"+id+"/errors?limit=4&cursor=7", nil)
	require.Equal(t, wantErrors[4:], page["items"])
	require.Empty(t, page["next_cursor"])

	// The failed rows as a CSV file: where and why, then the row as it was.
	failed := f.failedRowsCSV(t, id)
	require.Equal(t, [][]string{
		{"import_row", "import_column", "import_error", "User ID", "Email", "Plan", "Seats", "VIP", "Signed Up", "Time Zone"},
		{"4", "User ID", "user_id is empty", "", "nobody@example.com", "free", "1", "no", "", ""},
		{"5", "Email", `"not-an-email" is not an email address`, "u4", "not-an-email", "free", "1", "no", "", ""},
		{"6", "Seats", `"lots" is not a number`, "u5", "cy@example.com", "team", "lots", "no", "", ""},
		{"7", "VIP", `"maybe" is not a boolean (true/false, yes/no, 1/0)`, "u6", "dee@example.com", "team", "2", "maybe", "", ""},
		{"8", "Time Zone", `"Mars/Base" is not a time zone name (use an IANA name such as Europe/Paris)`, "u7", "eve@example.com", "team", "2", "no", "", "Mars/Base"},
		{"9", "", "the row has 2 fields; the header has 7", "u8", "fay@example.com"},
	}, failed)
	// Corrected and uploaded again, its extra columns get no attribute.
	failed[3][6], failed[4][7] = "3", "yes"
	var fixed strings.Builder
	cw := csv.NewWriter(&fixed)
	require.NoError(t, cw.WriteAll(failed[:5]))
	status, up2 := f.uploadCSV(t, bearer(f.secretKey), "file", fixed.String())
	require.Equal(t, 201, status, "%v", up2)
	var suggested []string
	for _, a := range up2["suggested_mapping"].(map[string]any)["attributes"].([]any) {
		suggested = append(suggested, a.(map[string]any)["column"].(string))
	}
	require.Equal(t, []string{"Plan", "Seats", "VIP", "Signed Up"}, suggested)
	status, started := f.jsonCall(t, "POST", "/api/imports/"+up2["id"].(string)+"/start", map[string]any{"mapping": peopleMapping})
	require.Equal(t, 202, status, "%v", started)
	fixedRun, _ := f.awaitImport(t, up2["id"].(string))
	require.Equal(t, map[string]any{"status": "completed", "total_rows": 4.0, "processed_rows": 4.0,
		"created_rows": 2.0, "updated_rows": 0.0, "failed_rows": 2.0, "percent": 100.0}, importCounts(fixedRun), "u5 and u6 now pass")
	_, err = f.store.Pool().Exec(ctx, `DELETE FROM customers WHERE workspace_id = $1 AND external_id IN ('u5', 'u6')`, f.ws.ID)
	require.NoError(t, err)

	// A rerun over the same file: everyone is updated, no one duplicated,
	// the errors are the same ones, not twice.
	again := run(0, 4)
	require.EqualValues(t, 2, again["run"])
	ada2, err := f.store.FindCustomer(ctx, f.ws.ID, "u1")
	require.NoError(t, err)
	require.Equal(t, ada.ID, ada2.ID)
	require.JSONEq(t, string(ada.Attributes), string(ada2.Attributes))

	status, list := f.jsonCall(t, "GET", "/api/imports", nil)
	require.Equal(t, 200, status)
	require.Equal(t, []string{up2["id"].(string), id}, itemIDs(t, list), "newest first")
	status, _ = f.jsonCall(t, "POST", "/api/imports/"+id+"/cancel", nil)
	require.Equal(t, 409, status, "a completed import cannot be cancelled")
	audit, err := f.store.ListAudit(ctx, f.ws.ID, "import", id)
	require.NoError(t, err)
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	require.Equal(t, []string{"upload", "start", "start"}, actions)
}

// TestImportIntoAManualSegment: every imported customer (created or
// updated, keyed by user id or email) joins the manual segment with a
// Segment Entered change, routed to journeys before the import ends; a
// rerun adds nobody twice; a dynamic segment is refused.
func TestImportIntoAManualSegment(t *testing.T) {
	f := newImportFixture(t)
	ctx := context.Background()
	seedCustomers(t, f.store, f.ws.ID, schema.EventInput{Type: "identify", UserID: "u2", Traits: map[string]any{"plan": "trial"}})
	status, seg := f.jsonCall(t, "POST", "/api/segments", map[string]any{"name": "Webinar attendees", "kind": "manual"})
	require.Equal(t, 201, status, "%v", seg)
	segID := seg["id"].(string)
	status, dyn := f.jsonCall(t, "POST", "/api/segments", map[string]any{"name": "Pro", "condition": map[string]any{"attr": "plan", "op": "eq", "value": "pro"}})
	require.Equal(t, 201, status, "%v", dyn)

	status, up := f.uploadCSV(t, bearer(f.secretKey), "", peopleCSV)
	require.Equal(t, 201, status, "%v", up)
	id := up["id"].(string)
	status, out := f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": peopleMapping, "segment_id": dyn["id"]})
	require.Equal(t, 400, status, "%v", out)
	require.Contains(t, fmt.Sprint(out), "manual segment")

	members := func() []string {
		status, page := f.jsonCall(t, "GET", "/api/segments/"+segID+"/members?limit=100", nil)
		require.Equal(t, 200, status, "%v", page)
		var ids []string
		for _, it := range page["items"].([]any) {
			ids = append(ids, it.(map[string]any)["external_id"].(string))
		}
		sort.Strings(ids)
		return ids
	}
	for range 2 { // the rerun adds nobody twice
		status, out = f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": peopleMapping, "segment_id": segID})
		require.Equal(t, 202, status, "%v", out)
		imp, _ := f.awaitImport(t, id)
		require.Equal(t, "completed", imp["status"])
		require.Equal(t, []string{"u1", "u2", "u9"}, members())
		// Journeys hear of the entries as the import writes them, as with
		// POST /api/segments/{id}/members: left pending for the next
		// segment refresh, a journey triggered by the segment and
		// published after the import (without include_existing) would
		// enter every imported member then.
		pending, err := f.store.PendingSegmentChanges(ctx, 100)
		require.NoError(t, err)
		require.Empty(t, pending, "the import's Segment Entered changes are still waiting for the periodic refresh")
	}
	u2, err := f.store.FindCustomer(ctx, f.ws.ID, "u2")
	require.NoError(t, err)
	h, err := f.store.SegmentHistory(ctx, f.ws.ID, u2.ID, 10)
	require.NoError(t, err)
	require.Len(t, h, 1)
	require.Equal(t, "entered", h[0].Change)
	require.Equal(t, segID, h[0].SegmentID)
}

func TestImportBadFilesMappingsAndWorkspaces(t *testing.T) {
	f := newFixture(t) // no workflow engine: every refusal comes before it
	ctx := context.Background()
	sk := bearer(f.secretKey)
	status, up := f.uploadCSV(t, sk, "", "email,plan\nada@example.com,pro\n")
	require.Equal(t, 201, status, "%v", up)
	id := up["id"].(string)
	require.Equal(t, "upload.csv", up["file_name"])
	require.Equal(t, map[string]any{"email": "email", "attributes": []any{map[string]any{"column": "plan", "name": "plan", "type": "string"}}},
		up["suggested_mapping"])

	ws2, err := f.store.CreateWorkspace(ctx, "Other")
	require.NoError(t, err)
	sk2, err := f.store.CreateAPIKey(ctx, ws2.ID, schema.KeySecret, "", "test")
	require.NoError(t, err)
	viewer := f.login(t, "viewer@demo.test", "viewer-password")

	t.Run("files", func(t *testing.T) {
		tests := []struct {
			name, field, file string
			status            int
			want              string
		}{
			{"empty file", "", "", 400, "the file is empty"},
			{"empty multipart file", "file", "", 400, "the file is empty"},
			{"no header", "", "u1,ada@example.com\nu2,bob@example.com\n", 400, "add a header row"},
			{"header only", "file", "id,email\n", 400, "no customer rows"},
			{"unbalanced quotes", "", "id,email\nu1,\"ada@example.com\nu2,bob@example.com\n", 400, "quote is not closed"},
			{"unnamed column", "", "id,,email\nu1,a,b\n", 400, "has no name"},
			{"not UTF-8", "", "id,name\nu1,Jos\xe9\n", 400, "not UTF-8"},
			{"no file field", "upload", "id\nu1\n", 400, "no field named file"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, body := f.uploadCSV(t, sk, tc.field, tc.file)
				require.Equal(t, tc.status, status, "%v", body)
				require.Contains(t, body["error"], tc.want)
			})
		}
		truncated := "--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nid\nu1\n"
		status, body, _ := f.do(t, call{"POST", "/api/imports", truncated,
			map[string]string{"Authorization": "Bearer " + f.secretKey, "Content-Type": "multipart/form-data; boundary=x"}})
		require.Equal(t, 400, status, "%v", body)
		require.Contains(t, body["error"], "read the file")
	})

	t.Run("too large", func(t *testing.T) {
		// Announced too large: refused before reading.
		status, body := f.uploadCSV(t, sk, "", "id\n"+strings.Repeat("u\n", activities.MaxImportFileSize/2+1<<16))
		require.Equal(t, 413, status, "%v", body)
		require.Equal(t, "the file is larger than 50 MiB", body["error"])
		require.Equal(t, "file", body["field"])
		// Streamed without a length: refused when the file passes the limit.
		streamed := io.MultiReader(strings.NewReader("id,note\nu1,\""), &repeatByteReader{b: 'x', n: activities.MaxImportFileSize})
		req, err := http.NewRequest("POST", f.srv.URL+"/api/imports", streamed)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+f.secretKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 413, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		require.Contains(t, body["error"], "larger than 50 MiB")
		require.Equal(t, "file", body["field"])
	})

	t.Run("mappings", func(t *testing.T) {
		tests := []struct {
			name   string
			body   string
			status int
			field  string
			want   string
		}{
			{"no mapping", `{}`, 400, "mapping", "mapping is required"},
			{"no key column", `{"mapping":{"attributes":[{"column":"plan","name":"plan"}]}}`, 400, "mapping", "user_id column or an email column"},
			{"unknown column", `{"mapping":{"email":"Email"}}`, 400, "mapping.email", `no column "Email"`},
			{"unknown attribute column", `{"mapping":{"email":"email","attributes":[{"column":"tier","name":"tier"}]}}`, 400, "mapping.attributes[0].column", `no column "tier"`},
			{"bad type", `{"mapping":{"email":"email","attributes":[{"column":"plan","name":"plan","type":"enum"}]}}`, 400, "mapping.attributes[0].type", "not one of"},
			{"built-in attribute", `{"mapping":{"email":"email","attributes":[{"column":"plan","name":"phone"}]}}`, 400, "mapping.attributes[0].name", "built-in"},
			{"unknown mapping field", `{"mapping":{"mail":"email"}}`, 400, "mapping.mail", `unknown field "mapping.mail"`},
			{"unknown attribute field", `{"mapping":{"email":"email","attributes":[{"column":"plan","name":"plan"},{"column":"plan","email":"red"}]}}`, 400, "mapping.attributes[1].email", `unknown field "mapping.attributes[1].email"`},
			{"unknown top-level field", `{"mapping":{"email":"email"},"segment":"x"}`, 400, "segment", "unknown field"},
			{"unknown segment", `{"mapping":{"email":"email"},"segment_id":"seg_1"}`, 400, "segment_id", "does not exist"},
			{"valid, but no workflow engine here", `{"mapping":{"email":"email"}}`, 503, "", "workflow engine"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, body, _ := f.do(t, call{"POST", "/api/imports/" + id + "/start", tc.body, sk})
				require.Equal(t, tc.status, status, "%v", body)
				field, _ := body["field"].(string)
				require.Equal(t, tc.field, field)
				require.Contains(t, body["error"], tc.want)
			})
		}
		imp, err := f.store.GetImport(ctx, f.ws.ID, id)
		require.NoError(t, err)
		require.Equal(t, schema.ImportUploaded, imp.Status, "refused starts change nothing")
	})

	t.Run("workspaces and roles", func(t *testing.T) {
		tests := []struct {
			name, method, path, body string
			hdr                      map[string]string
			status                   int
			want                     string
		}{
			{"other workspace's import", "GET", "/api/imports/" + id, "", bearer(sk2.Key), 404, "not found"},
			{"other workspace's errors", "GET", "/api/imports/" + id + "/errors", "", bearer(sk2.Key), 404, "not found"},
			{"other workspace's failed rows", "GET", "/api/imports/" + id + "/failed_rows", "", bearer(sk2.Key), 404, "not found"},
			{"other workspace's start", "POST", "/api/imports/" + id + "/start", `{"mapping":{"email":"email"}}`, bearer(sk2.Key), 404, "not found"},
			{"other workspace's cancel", "POST", "/api/imports/" + id + "/cancel", "", bearer(sk2.Key), 404, "not found"},
			{"unknown import", "GET", "/api/imports/imp_nope", "", sk, 404, "not found"},
			{"cancel what is not running", "POST", "/api/imports/" + id + "/cancel", "", sk, 409, "not running"},
			{"bad errors cursor", "GET", "/api/imports/" + id + "/errors?cursor=x", "", sk, 400, "cursor"},
			{"bad list cursor", "GET", "/api/imports?cursor=x", "", sk, 400, "cursor"},
			{"viewer cannot start", "POST", "/api/imports/" + id + "/start", `{"mapping":{"email":"email"}}`, viewer, 403, "editor"},
			{"viewer cannot cancel", "POST", "/api/imports/" + id + "/cancel", "", viewer, 403, "editor"},
			{"start body must be JSON", "POST", "/api/imports/" + id + "/start", "x", map[string]string{"Authorization": "Bearer " + f.secretKey, "Content-Type": "multipart/form-data; boundary=x"}, 415, "JSON"},
			{"no auth", "GET", "/api/imports", "", nil, 401, "not logged in"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				status, body, _ := f.do(t, call{tc.method, tc.path, tc.body, tc.hdr})
				require.Equal(t, tc.status, status, "%v", body)
				require.Contains(t, strings.ToLower(fmt.Sprint(body["error"])), strings.ToLower(tc.want))
			})
		}
		status, body := f.uploadCSV(t, viewer, "file", "email\na@example.com\n")
		require.Equal(t, 403, status, "%v", body)
		status, _, _ = f.do(t, call{"GET", "/api/imports/" + id, "", viewer})
		require.Equal(t, 200, status, "viewers read")
		_, list, _ := f.do(t, call{"GET", "/api/imports", "", bearer(sk2.Key)})
		require.Empty(t, itemIDs(t, list))
	})

	t.Run("list pages newest first", func(t *testing.T) {
		_, second := f.uploadCSV(t, sk, "file", "email\nb@example.com\n")
		var ids []string
		cursor := ""
		for range 5 {
			_, page, _ := f.do(t, call{"GET", "/api/imports?limit=1&cursor=" + cursor, "", sk})
			ids = append(ids, itemIDs(t, page)...)
			if cursor, _ = page["next_cursor"].(string); cursor == "" {
				break
			}
		}
		require.Equal(t, []string{second["id"].(string), id}, ids)
	})
}

// repeatByteReader yields n copies of b.
type repeatByteReader struct {
	b byte
	n int
}

func (r *repeatByteReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range k {
		p[i] = r.b
	}
	r.n -= k
	return k, nil
}

// A 20,000-row file: progress only moves forward and ends at the total,
// the workflow continues as new on the way, a worker stopped mid-import
// and replaced by a new one finishes it without duplicates; a rerun can be
// cancelled mid-way and run again.
func TestImportLargeFileSurvivesWorkerRestartAndCancel(t *testing.T) {
	const rows = 20_000
	f := newImportFixture(t)
	ctx := context.Background()
	var file strings.Builder
	file.WriteString("id,email,n\n")
	for i := range rows {
		fmt.Fprintf(&file, "u%05d,u%05d@example.com,%d\n", i, i, i)
	}
	status, up := f.uploadCSV(t, bearer(f.secretKey), "", file.String())
	require.Equal(t, 201, status, "%v", up)
	id := up["id"].(string)
	require.EqualValues(t, rows, up["total_rows"])
	mapping := map[string]any{"mapping": map[string]any{"user_id": "id", "email": "email",
		"attributes": []any{map[string]any{"column": "n", "name": "n", "type": "number"}}}}

	status, body := f.jsonCall(t, "POST", "/api/imports/"+id+"/start", mapping)
	require.Equal(t, 202, status, "%v", body)
	status, body = f.jsonCall(t, "POST", "/api/imports/"+id+"/start", mapping)
	require.Equal(t, 409, status, "one run at a time: %v", body)

	// Stop the worker once rows are being written, then start another.
	var seen []int
	for {
		_, imp := f.jsonCall(t, "GET", "/api/imports/"+id, nil)
		seen = append(seen, int(imp["processed_rows"].(float64)))
		if seen[len(seen)-1] > 0 {
			require.Equal(t, "running", imp["status"], "the import ended before the worker could be stopped")
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.worker.Stop()
	f.startWorker(t)
	imp, rest := f.awaitImport(t, id)
	seen = append(seen, rest...)
	require.Equal(t, map[string]any{"status": "completed", "total_rows": float64(rows), "processed_rows": float64(rows),
		"created_rows": float64(rows), "updated_rows": 0.0, "failed_rows": 0.0, "percent": 100.0}, importCounts(imp))
	require.IsNonDecreasing(t, seen)
	require.Equal(t, rows, seen[len(seen)-1])
	require.Equal(t, rows, countWorkspaceCustomers(t, f.store, f.ws.ID))
	// The import's row says completed once its last activity ran; the
	// workflow closes a moment after.
	var info *workflowpb.WorkflowExecutionInfo
	require.Eventually(t, func() bool {
		desc, err := f.temporal.DescribeWorkflowExecution(ctx, "import/"+id, "")
		require.NoError(t, err)
		info = desc.GetWorkflowExecutionInfo()
		return info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, info.GetStatus())
	require.NotEqual(t, info.GetFirstRunId(), info.GetExecution().GetRunId(), "40 batches continue as new once")
	c, err := f.store.FindCustomer(ctx, f.ws.ID, "u12345")
	require.NoError(t, err)
	require.JSONEq(t, `{"n":12345}`, string(c.Attributes))

	// A rerun, cancelled mid-way: the customers imported stay, none twice.
	status, body = f.jsonCall(t, "POST", "/api/imports/"+id+"/start", mapping)
	require.Equal(t, 202, status, "%v", body)
	require.Eventually(t, func() bool {
		_, imp := f.jsonCall(t, "GET", "/api/imports/"+id, nil)
		return imp["processed_rows"].(float64) > 0
	}, time.Minute, 5*time.Millisecond)
	status, cancelled := f.jsonCall(t, "POST", "/api/imports/"+id+"/cancel", nil)
	require.Equal(t, 200, status, "%v", cancelled)
	require.Equal(t, "cancelled", cancelled["status"])
	require.Less(t, cancelled["processed_rows"], float64(rows))
	require.NotNil(t, cancelled["finished_at"])
	desc, err := f.temporal.DescribeWorkflowExecution(ctx, "import/"+id, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, desc.GetWorkflowExecutionInfo().GetStatus())
	time.Sleep(200 * time.Millisecond)
	_, later := f.jsonCall(t, "GET", "/api/imports/"+id, nil)
	require.Equal(t, importCounts(cancelled), importCounts(later), "nothing moves after the cancel")

	// Started again after the cancel, it completes; still no duplicates.
	status, body = f.jsonCall(t, "POST", "/api/imports/"+id+"/start", mapping)
	require.Equal(t, 202, status, "%v", body)
	imp, _ = f.awaitImport(t, id)
	require.Equal(t, map[string]any{"status": "completed", "total_rows": float64(rows), "processed_rows": float64(rows),
		"created_rows": 0.0, "updated_rows": float64(rows), "failed_rows": 0.0, "percent": 100.0}, importCounts(imp))
	require.EqualValues(t, 3, imp["run"])
	require.Equal(t, rows, countWorkspaceCustomers(t, f.store, f.ws.ID))
}

// The suggested mapping of an upload, and of the import later, types a
// column after every row of the file: a ZIP code column whose first 20
// rows have no leading zero stays a string when a later row has one
// (a number would store 02134 as 2134, with no row error).
func TestImportSuggestsTypesThatFitEveryRow(t *testing.T) {
	f := newFixture(t) // no workflow engine: nothing is started
	var b strings.Builder
	b.WriteString("Email,ZIP,Seats\n")
	for i := range activities.ImportPreviewRows {
		fmt.Fprintf(&b, "u%d@example.com,9%04d,%d\n", i, i, i)
	}
	b.WriteString("zb@example.com,02134,3\n")
	status, up := f.uploadCSV(t, bearer(f.secretKey), "", b.String())
	require.Equal(t, 201, status, "%v", up)
	status, detail := f.jsonCall(t, "GET", "/api/imports/"+up["id"].(string), nil)
	require.Equal(t, 200, status, "%v", detail)
	want := map[string]any{"email": "Email", "attributes": []any{
		map[string]any{"column": "ZIP", "name": "zip", "type": "string"},
		map[string]any{"column": "Seats", "name": "seats", "type": "number"}}}
	require.Equal(t, want, up["suggested_mapping"], "the upload's suggestion")
	require.Equal(t, want, detail["suggested_mapping"], "the import's suggestion, as the upload answered it")
}

// Starting a running import answers 409 (docs/import.md), also while its
// first start is between recording the run and starting the workflow: two
// starts at once (a double click, a retried request) start one run. A
// start that found the import running and no open workflow used to take
// "not found" (or the previous run's closed execution) for "gone" and
// replace the run, its workflow then terminating the first.
func TestConcurrentStartsOfAnImportStartOneRun(t *testing.T) {
	f := newImportFixture(t)
	for attempt := range 10 {
		status, up := f.uploadCSV(t, bearer(f.secretKey), "", peopleCSV)
		require.Equal(t, 201, status, "%v", up)
		id := up["id"].(string)
		// No worker while the starts run: the first run cannot end before a
		// slow one of them reads the import (a start after it ended is a
		// rerun, rightly accepted).
		f.worker.Stop()
		var wg sync.WaitGroup
		codes := make([]int, 6)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _ = f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": peopleMapping})
			}()
		}
		wg.Wait()
		accepted := 0
		for _, c := range codes {
			if c == 202 {
				accepted++
			}
		}
		require.Equal(t, 1, accepted, "attempt %d: answers %v", attempt, codes)
		f.startWorker(t)
		imp, _ := f.awaitImport(t, id)
		require.EqualValues(t, 1, imp["run"], "attempt %d", attempt)
		require.Equal(t, "completed", imp["status"], "attempt %d", attempt)
	}
}

// A run that can never end by itself is replaced by the next start: one
// whose workflow ended without recording the end (terminated in the
// Temporal UI), and one whose start never reached Temporal (the process
// recording it died) once it is older than a start takes. A run recorded a
// moment ago without an execution is one being started: 409.
func TestStartReplacesARunThatCannotEnd(t *testing.T) {
	f := newImportFixture(t)
	ctx := context.Background()
	status, up := f.uploadCSV(t, bearer(f.secretKey), "", peopleCSV)
	require.Equal(t, 201, status, "%v", up)
	id := up["id"].(string)
	start := func() (int, map[string]any) {
		return f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": peopleMapping})
	}

	// Run 1 is recorded, its workflow not started (yet).
	mapping, err := json.Marshal(peopleMapping)
	require.NoError(t, err)
	_, err = f.store.StartImportRun(ctx, f.ws.ID, id, schema.StartImport{Mapping: mapping})
	require.NoError(t, err)
	status, out := start()
	require.Equal(t, 409, status, "%v", out)
	require.Contains(t, out["error"], "being started")
	// Long since: its start died.
	_, err = f.store.Pool().Exec(ctx, `UPDATE imports SET started_at = now() - interval '1 hour' WHERE workspace_id = $1 AND id = $2`, f.ws.ID, id)
	require.NoError(t, err)
	status, out = start()
	require.Equal(t, 202, status, "%v", out)
	require.EqualValues(t, 2, out["run"])
	imp, _ := f.awaitImport(t, id)
	require.Equal(t, "completed", imp["status"])

	// Run 3's workflow is terminated before it records its end: the import
	// stays running with no workflow, and the next start replaces it.
	f.worker.Stop()
	status, out = start()
	require.Equal(t, 202, status, "%v", out)
	require.EqualValues(t, 3, out["run"])
	require.NoError(t, f.temporal.TerminateWorkflow(ctx, workflows.ImportWorkflowID(id), "", "ended by an operator"))
	status, out = start()
	require.Equal(t, 202, status, "%v", out)
	require.EqualValues(t, 4, out["run"])
	f.startWorker(t)
	imp, _ = f.awaitImport(t, id)
	require.Equal(t, "completed", imp["status"])
	require.EqualValues(t, 4, imp["run"])
}

// TestImportModesOverTheAPI: a run's mode is checked, kept with the import
// and obeyed by the workflow; rows it leaves out are skipped_rows. The
// separator the upload found stays on the import.
func TestImportModesOverTheAPI(t *testing.T) {
	f := newImportFixture(t)
	seedCustomers(t, f.store, f.ws.ID, schema.EventInput{Type: "identify", UserID: "u1", Traits: map[string]any{"plan": "trial"}})
	status, up := f.uploadCSV(t, bearer(f.secretKey), "file", "User ID;Plan\nu1;pro\nu2;free\n")
	require.Equal(t, 201, status, "%v", up)
	id := up["id"].(string)
	require.Equal(t, ";", up["separator"])
	require.Equal(t, "upsert", up["mode"])
	mapping := map[string]any{"user_id": "User ID", "attributes": []any{map[string]any{"column": "Plan", "name": "plan"}}}

	status, body := f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": mapping, "mode": "merge"})
	require.Equal(t, 400, status, "%v", body)
	require.Equal(t, "mode", body["field"])
	require.Contains(t, body["error"], "create_only")

	for _, tc := range []struct {
		mode                      string
		created, updated, skipped float64
		customers                 int
	}{
		{"update_only", 0, 1, 1, 1},
		{"create_only", 1, 0, 1, 2},
		{"upsert", 0, 2, 0, 2},
	} {
		status, started := f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": mapping, "mode": tc.mode})
		require.Equal(t, 202, status, "%v", started)
		require.Equal(t, tc.mode, started["mode"])
		imp, _ := f.awaitImport(t, id)
		require.Equal(t, "completed", imp["status"], tc.mode)
		require.Equal(t, []float64{tc.created, tc.updated, tc.skipped, 2}, []float64{imp["created_rows"].(float64),
			imp["updated_rows"].(float64), imp["skipped_rows"].(float64), imp["processed_rows"].(float64)}, tc.mode)
		require.Equal(t, tc.mode, imp["mode"])
		require.Equal(t, ";", imp["separator"])
		require.Equal(t, tc.customers, countWorkspaceCustomers(t, f.store, f.ws.ID), tc.mode)
	}
	u1, err := f.store.FindCustomer(context.Background(), f.ws.ID, "u1")
	require.NoError(t, err)
	require.JSONEq(t, `{"plan":"pro"}`, string(u1.Attributes))
}
