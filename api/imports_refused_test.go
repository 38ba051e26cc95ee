package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/heraldhq/herald/schema"
)

// importRowErrors reads the run's row errors from GET /api/imports/{id}.
func importRowErrors(t *testing.T, imp map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range imp["errors"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// awaitWorkflowClosed waits (bounded) for the import's workflow to close
// and returns how it closed.
func (f *importFixture) awaitWorkflowClosed(t *testing.T, importID string) enumspb.WorkflowExecutionStatus {
	t.Helper()
	var st enumspb.WorkflowExecutionStatus
	require.Eventually(t, func() bool {
		desc, err := f.temporal.DescribeWorkflowExecution(context.Background(), "import/"+importID, "")
		require.NoError(t, err)
		st = desc.GetWorkflowExecutionInfo().GetStatus()
		return st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, 30*time.Second, 20*time.Millisecond)
	return st
}

// A cell too long for a built-in field (the reviewer's case: a user id of
// 4,000 random hex characters, which Postgres cannot index) is a row error
// naming its row and column; the rows around it are imported and the
// import completes. The limits count characters, as ingest's userId limit
// does: a 200-character user id of 2-byte characters is fine.
func TestImportOverLongCellsAreRowErrors(t *testing.T) {
	f := newImportFixture(t)
	ctx := context.Background()
	b := make([]byte, 2000)
	_, err := rand.Read(b)
	require.NoError(t, err)
	longID := hex.EncodeToString(b) // random: Postgres cannot compress it below the index limit
	wideID := strings.Repeat("é", 200)
	file := "user_id,email,phone,tz\n" +
		"ok1,a@example.com,,\n" +
		longID + ",b@example.com,,\n" +
		"ok3,c@example.com,,\n" +
		"ok4," + hex.EncodeToString(b[:150]) + "@example.com,,\n" +
		"ok5,e@example.com," + strings.Repeat("1 ", 40) + ",\n" +
		"ok6,f@example.com,,Europe/" + strings.Repeat("x", 100) + "\n" +
		wideID + ",g@example.com,+33 6 12 34 56 78,Europe/Paris\n"
	status, up := f.uploadCSV(t, bearer(f.secretKey), "", file)
	require.Equal(t, 201, status, "%v", up)
	id := up["id"].(string)
	status, out := f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": map[string]any{
		"user_id": "user_id", "email": "email", "phone": "phone", "timezone": "tz"}})
	require.Equal(t, 202, status, "%v", out)

	imp, _ := f.awaitImport(t, id)
	require.Equal(t, map[string]any{"status": "completed", "total_rows": 7.0, "processed_rows": 7.0, "created_rows": 3.0,
		"updated_rows": 0.0, "failed_rows": 4.0, "percent": 100.0}, importCounts(imp), "%v", imp)
	require.Equal(t, "", imp["error"])
	require.Equal(t, []map[string]any{
		{"row": 3.0, "column": "user_id", "message": "user_id is longer than 200 characters (4000)"},
		{"row": 5.0, "column": "email", "message": "email is longer than 254 characters (312)"},
		{"row": 6.0, "column": "phone", "message": "phone is longer than 64 characters (79)"},
		{"row": 7.0, "column": "tz", "message": "timezone is longer than 64 characters (107)"},
	}, importRowErrors(t, imp))
	for _, uid := range []string{"ok1", "ok3", wideID} {
		_, err := f.store.FindCustomer(ctx, f.ws.ID, uid)
		require.NoError(t, err, "customer %.10s…", uid)
	}
	require.Equal(t, 3, countWorkspaceCustomers(t, f.store, f.ws.ID))
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, f.awaitWorkflowClosed(t, id))
}

// A chunk Postgres refuses — a data exception (class 22), a constraint
// (23), a limit (54): the same write fails every time — ends the import
// failed, with the reason over the API, instead of retrying it for ever.
// The chunks before it stay imported. A CHECK constraint and a trigger
// raising each SQLSTATE stand in for whatever the database may refuse
// that the row checks let through.
func TestImportFailsWhenTheDatabaseRefusesAChunk(t *testing.T) {
	f := newImportFixture(t)
	ctx := context.Background()
	_, err := f.store.Pool().Exec(ctx, `
		ALTER TABLE customers ADD CONSTRAINT test_no_poison CHECK (external_id IS DISTINCT FROM 'poison-23514') NOT VALID;
		CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.external_id IN ('poison-22001', 'poison-54000') THEN
				RAISE EXCEPTION 'refused by the test' USING ERRCODE = substr(NEW.external_id, 8);
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER test_refuse BEFORE INSERT OR UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION test_refuse();`)
	require.NoError(t, err)

	for i, code := range []string{"22001", "23514", "54000"} {
		t.Run(code, func(t *testing.T) {
			// 150 rows; row 120 (in the second chunk of 100) is refused.
			var file strings.Builder
			file.WriteString("id,email\n")
			for r := 2; r <= 151; r++ {
				uid := fmt.Sprintf("c%d-%d", i, r)
				if r == 120 {
					uid = "poison-" + code
				}
				fmt.Fprintf(&file, "%s,%s@example.com\n", uid, uid)
			}
			status, up := f.uploadCSV(t, bearer(f.secretKey), "", file.String())
			require.Equal(t, 201, status, "%v", up)
			id := up["id"].(string)
			status, out := f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": map[string]any{"user_id": "id", "email": "email"}})
			require.Equal(t, 202, status, "%v", out)

			imp, _ := f.awaitImport(t, id)
			require.Equal(t, map[string]any{"status": "failed", "total_rows": 150.0, "processed_rows": 100.0, "created_rows": 100.0,
				"updated_rows": 0.0, "failed_rows": 0.0, "percent": 66.6}, importCounts(imp), "%v", imp)
			msg := imp["error"].(string)
			require.Contains(t, msg, "the database refused rows 102 to 151, and retrying cannot help")
			require.Contains(t, msg, "row 120")
			require.Contains(t, msg, "(SQLSTATE "+code+")")
			require.Contains(t, msg, "the rows before row 102 were imported")
			require.NotNil(t, imp["finished_at"])
			require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, f.awaitWorkflowClosed(t, id))
			_, err := f.store.FindCustomer(ctx, f.ws.ID, fmt.Sprintf("c%d-101", i))
			require.NoError(t, err, "the first chunk stays imported")
			_, err = f.store.FindCustomer(ctx, f.ws.ID, fmt.Sprintf("c%d-102", i))
			require.ErrorIs(t, err, schema.ErrNotFound, "the refused chunk wrote nothing")
		})
	}
}

// The manual segment of a running import deleted under it (in the instant
// between the start's check and the run, which the API's 409 cannot
// close): the run ends failed saying so, rather than retrying for ever;
// started again without the segment, the import completes.
func TestImportFailsWhenItsSegmentIsDeleted(t *testing.T) {
	f := newImportFixture(t)
	ctx := context.Background()
	status, seg := f.jsonCall(t, "POST", "/api/segments", map[string]any{"name": "Webinar attendees", "kind": "manual"})
	require.Equal(t, 201, status, "%v", seg)
	segID := seg["id"].(string)
	status, up := f.uploadCSV(t, bearer(f.secretKey), "", "user_id,email\nu1,a@example.com\nu2,b@example.com\nu3,c@example.com\n")
	require.Equal(t, 201, status, "%v", up)
	id := up["id"].(string)

	// No worker while the segment goes: the run has written nothing yet.
	f.worker.Stop()
	mapping := map[string]any{"user_id": "user_id", "email": "email"}
	status, out := f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": mapping, "segment_id": segID})
	require.Equal(t, 202, status, "%v", out)
	_, err := f.store.Pool().Exec(ctx, `DELETE FROM segments WHERE workspace_id = $1 AND id = $2`, f.ws.ID, segID)
	require.NoError(t, err)
	f.startWorker(t)

	imp, _ := f.awaitImport(t, id)
	require.Equal(t, "failed", imp["status"], "%v", imp)
	require.EqualValues(t, 0, imp["processed_rows"])
	require.Contains(t, imp["error"], "the segment "+segID+" was deleted while the import ran")
	require.Contains(t, imp["error"], "start the import again without segment_id, or with another manual segment")
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, f.awaitWorkflowClosed(t, id))
	require.Equal(t, 0, countWorkspaceCustomers(t, f.store, f.ws.ID))

	status, out = f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{"mapping": mapping})
	require.Equal(t, 202, status, "%v", out)
	imp, _ = f.awaitImport(t, id)
	require.Equal(t, "completed", imp["status"], "%v", imp)
	require.Equal(t, 3, countWorkspaceCustomers(t, f.store, f.ws.ID))
}

// DELETE /api/segments/{id} answers 409 while a running import adds its
// customers to the segment, naming the import; once the import ended the
// segment can go.
func TestDeleteSegmentRefusedWhileAnImportAddsToIt(t *testing.T) {
	f := newImportFixture(t)
	status, seg := f.jsonCall(t, "POST", "/api/segments", map[string]any{"name": "Webinar attendees", "kind": "manual"})
	require.Equal(t, 201, status, "%v", seg)
	segID := seg["id"].(string)
	status, up := f.uploadCSV(t, bearer(f.secretKey), "", "user_id,email\nu1,a@example.com\nu2,b@example.com\n")
	require.Equal(t, 201, status, "%v", up)
	id := up["id"].(string)

	// No worker: the import stays running while the delete is tried.
	f.worker.Stop()
	status, out := f.jsonCall(t, "POST", "/api/imports/"+id+"/start", map[string]any{
		"mapping": map[string]any{"user_id": "user_id", "email": "email"}, "segment_id": segID})
	require.Equal(t, 202, status, "%v", out)
	status, out = f.jsonCall(t, "DELETE", "/api/segments/"+segID, nil)
	require.Equal(t, 409, status, "%v", out)
	require.Contains(t, out["error"], "running import "+id)

	f.startWorker(t)
	imp, _ := f.awaitImport(t, id)
	require.Equal(t, "completed", imp["status"], "%v", imp)
	status, page := f.jsonCall(t, "GET", "/api/segments/"+segID+"/members?limit=10", nil)
	require.Equal(t, 200, status, "%v", page)
	require.Len(t, page["items"], 2)
	status, out = f.jsonCall(t, "DELETE", "/api/segments/"+segID, nil)
	require.Equal(t, 204, status, "%v", out)
}
