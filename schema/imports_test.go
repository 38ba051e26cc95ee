package schema_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// memoryRowSource serves records from memory, then err (io.EOF by default).
type memoryRowSource struct {
	rows [][]string
	err  error
	read int64
}

func (s *memoryRowSource) Next() ([]string, error) {
	if len(s.rows) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	r := s.rows[0]
	s.rows = s.rows[1:]
	s.read += 10
	return r, nil
}

func (s *memoryRowSource) BytesRead() int64 { return s.read }

func (s *memoryRowSource) ColumnTypes() []string { return nil }

func countImportedCustomers(t *testing.T, st *schema.Store, ws string) int {
	t.Helper()
	var n int
	require.NoError(t, st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM customers WHERE workspace_id = $1`, ws).Scan(&n))
	return n
}

func TestImportStoreUploadRunsAndIdempotentChunks(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	other, err := st.CreateWorkspace(ctx, "Other")
	require.NoError(t, err)

	// A source that fails stores nothing and its error comes back as it is.
	bad := errors.New("row 3: broken quote")
	_, err = st.CreateImport(ctx, ws.ID, schema.NewImport{CreatedBy: "test", FileName: "bad.csv", Headers: []string{"id"}},
		&memoryRowSource{rows: [][]string{{"u1"}}, err: bad})
	require.ErrorIs(t, err, bad)
	list, err := st.ListImports(ctx, ws.ID, 10, nil)
	require.NoError(t, err)
	require.Empty(t, list)

	imp, err := st.CreateImport(ctx, ws.ID, schema.NewImport{CreatedBy: "test", FileName: "people.csv", Headers: []string{"id", "email", "plan"}},
		&memoryRowSource{rows: [][]string{{"u1", "ada@example.com", "pro"}, {"u2", "", "free"}, {"", "x", "y"}, {"u1", "", "team"}}})
	require.NoError(t, err)
	require.Equal(t, schema.ImportUploaded, imp.Status)
	require.Equal(t, 4, imp.TotalRows)
	require.EqualValues(t, 40, imp.FileSize)
	require.Nil(t, imp.Mapping)
	rows, err := st.ImportRows(ctx, ws.ID, imp.ID, 1, 2)
	require.NoError(t, err)
	require.Equal(t, []schema.ImportRow{{Number: 3, Fields: []string{"u2", "", "free"}}, {Number: 4, Fields: []string{"", "x", "y"}}}, rows,
		"rows are numbered as a spreadsheet shows them")

	// Other workspaces see nothing of it.
	_, err = st.GetImport(ctx, other.ID, imp.ID)
	require.ErrorIs(t, err, schema.ErrNotFound)
	rows, err = st.ImportRows(ctx, other.ID, imp.ID, 0, 10)
	require.NoError(t, err)
	require.Empty(t, rows)
	_, err = st.StartImportRun(ctx, other.ID, imp.ID, schema.StartImport{Mapping: []byte(`{}`)})
	require.ErrorIs(t, err, schema.ErrNotFound)

	// An existing profile: the import merges into it like identify does.
	_, err = st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m1", Type: "identify", UserID: "u2",
		Traits: map[string]any{"email": "bob@example.com", "plan": "free", "seats": 2}, OccurredAt: time.Now()})
	require.NoError(t, err)

	imp, err = st.StartImportRun(ctx, ws.ID, imp.ID, schema.StartImport{Mapping: []byte(`{"user_id":"id"}`)})
	require.NoError(t, err)
	require.Equal(t, schema.ImportRunning, imp.Status)
	require.Equal(t, 1, imp.Run)
	require.NotNil(t, imp.StartedAt)
	_, err = st.StartImportRun(ctx, ws.ID, imp.ID, schema.StartImport{Mapping: []byte(`{}`)})
	require.ErrorIs(t, err, schema.ErrInvalidState, "one run at a time")

	first := schema.ImportChunk{Run: 1, Offset: 0, Rows: 2, Key: schema.ImportKeyUserID, Customers: []schema.ImportedCustomer{
		{ExternalID: "u1", Email: "ada@example.com", Attributes: map[string]any{"plan": "pro"}},
		{ExternalID: "u2", Attributes: map[string]any{"plan": "team"}},
	}}
	imp, applied, err := st.ApplyImportChunk(ctx, ws.ID, imp.ID, first)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, [4]int{2, 1, 1, 0}, [4]int{imp.ProcessedRows, imp.CreatedRows, imp.UpdatedRows, imp.FailedRows})

	// The same chunk again (a retried activity) changes nothing.
	imp, applied, err = st.ApplyImportChunk(ctx, ws.ID, imp.ID, first)
	require.NoError(t, err)
	require.False(t, applied)
	require.Equal(t, [4]int{2, 1, 1, 0}, [4]int{imp.ProcessedRows, imp.CreatedRows, imp.UpdatedRows, imp.FailedRows})
	require.Equal(t, 2, countImportedCustomers(t, st, ws.ID))

	// A chunk that skips rows, of another run or workspace is refused.
	_, _, err = st.ApplyImportChunk(ctx, ws.ID, imp.ID, schema.ImportChunk{Run: 1, Offset: 3, Rows: 1, Key: schema.ImportKeyUserID})
	require.Error(t, err)
	_, _, err = st.ApplyImportChunk(ctx, ws.ID, imp.ID, schema.ImportChunk{Run: 7, Offset: 2, Rows: 1, Key: schema.ImportKeyUserID})
	require.ErrorIs(t, err, schema.ErrImportNotCurrent)
	_, _, err = st.ApplyImportChunk(ctx, other.ID, imp.ID, schema.ImportChunk{Run: 1, Offset: 2, Rows: 1, Key: schema.ImportKeyUserID})
	require.ErrorIs(t, err, schema.ErrNotFound)

	// The second chunk: a row error and the same customer twice in one chunk.
	second := schema.ImportChunk{Run: 1, Offset: 2, Rows: 2, Key: schema.ImportKeyUserID,
		Errors:    []schema.ImportRowError{{Row: 4, Column: "id", Message: "user_id is empty"}},
		Customers: []schema.ImportedCustomer{{ExternalID: "u1", Attributes: map[string]any{"plan": "team"}}}}
	imp, applied, err = st.ApplyImportChunk(ctx, ws.ID, imp.ID, second)
	require.NoError(t, err)
	require.True(t, applied)
	require.Equal(t, [4]int{4, 1, 2, 1}, [4]int{imp.ProcessedRows, imp.CreatedRows, imp.UpdatedRows, imp.FailedRows})
	errs, err := st.ListImportErrors(ctx, ws.ID, imp.ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []schema.ImportRowError{{Row: 4, Column: "id", Message: "user_id is empty"}}, errs)

	bob, err := st.FindCustomer(ctx, ws.ID, "u2")
	require.NoError(t, err)
	require.Equal(t, "bob@example.com", *bob.Email, "an empty cell leaves the field")
	require.JSONEq(t, `{"plan":"team","seats":2}`, string(bob.Attributes))
	ada, err := st.FindCustomer(ctx, ws.ID, "u1")
	require.NoError(t, err)
	require.Equal(t, "ada@example.com", *ada.Email)
	require.JSONEq(t, `{"plan":"team"}`, string(ada.Attributes))

	imp, err = st.FinishImportRun(ctx, ws.ID, imp.ID, 1, schema.ImportCompleted, "")
	require.NoError(t, err)
	require.Equal(t, schema.ImportCompleted, imp.Status)
	require.NotNil(t, imp.FinishedAt)
	_, err = st.FinishImportRun(ctx, ws.ID, imp.ID, 1, schema.ImportCancelled, "")
	require.ErrorIs(t, err, schema.ErrImportNotCurrent, "a run ends once")

	// A rerun starts from zero, forgets the old errors and duplicates nothing.
	imp, err = st.StartImportRun(ctx, ws.ID, imp.ID, schema.StartImport{Mapping: []byte(`{"user_id":"id"}`)})
	require.NoError(t, err)
	require.Equal(t, 2, imp.Run)
	require.Equal(t, 0, imp.ProcessedRows)
	errs, err = st.ListImportErrors(ctx, ws.ID, imp.ID, 0, 10)
	require.NoError(t, err)
	require.Empty(t, errs)
	first.Run, second.Run = 2, 2
	_, _, err = st.ApplyImportChunk(ctx, ws.ID, imp.ID, first)
	require.NoError(t, err)
	imp, _, err = st.ApplyImportChunk(ctx, ws.ID, imp.ID, second)
	require.NoError(t, err)
	require.Equal(t, [4]int{4, 0, 3, 1}, [4]int{imp.ProcessedRows, imp.CreatedRows, imp.UpdatedRows, imp.FailedRows})
	require.Equal(t, 2, countImportedCustomers(t, st, ws.ID))
	_, err = st.FinishImportRun(ctx, ws.ID, imp.ID, 1, schema.ImportCompleted, "")
	require.ErrorIs(t, err, schema.ErrImportNotCurrent, "the old run cannot end the new one")
}

func TestImportStoreByEmail(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	_, err = st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m1", Type: "identify", UserID: "u-ada",
		Traits: map[string]any{"email": "Ada@Example.com"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	imp, err := st.CreateImport(ctx, ws.ID, schema.NewImport{CreatedBy: "test", Headers: []string{"email", "plan"}},
		&memoryRowSource{rows: [][]string{{"ada@example.com", "pro"}, {"cy@example.com", "free"}, {"CY@example.com", "team"}}})
	require.NoError(t, err)
	for run := 1; run <= 2; run++ {
		imp, err = st.StartImportRun(ctx, ws.ID, imp.ID, schema.StartImport{Mapping: []byte(`{"email":"email"}`)})
		require.NoError(t, err)
		imp, _, err = st.ApplyImportChunk(ctx, ws.ID, imp.ID, schema.ImportChunk{Run: run, Rows: 3, Key: schema.ImportKeyEmail,
			Customers: []schema.ImportedCustomer{
				{Email: "ada@example.com", Attributes: map[string]any{"plan": "pro"}},
				{Email: "cy@example.com", Phone: "+15555550100", Attributes: map[string]any{"plan": "free"}},
				{Email: "CY@example.com", Attributes: map[string]any{"plan": "team"}},
			}})
		require.NoError(t, err)
		created := map[int]int{1: 1, 2: 0}[run]
		require.Equal(t, [2]int{created, 3 - created}, [2]int{imp.CreatedRows, imp.UpdatedRows}, "run %d", run)
		_, err = st.FinishImportRun(ctx, ws.ID, imp.ID, run, schema.ImportCompleted, "")
		require.NoError(t, err)
		require.Equal(t, 2, countImportedCustomers(t, st, ws.ID), "matched by email without case, run %d", run)
	}
	ada, err := st.FindCustomer(ctx, ws.ID, "u-ada")
	require.NoError(t, err)
	require.Equal(t, "Ada@Example.com", *ada.Email, "the profile keeps its email")
	require.JSONEq(t, `{"plan":"pro"}`, string(ada.Attributes))
}

// uploadImport stores a file of rows under headers and returns its id.
func uploadImport(t *testing.T, st *schema.Store, ws string, headers []string, rows ...[]string) string {
	t.Helper()
	imp, err := st.CreateImport(context.Background(), ws, schema.NewImport{CreatedBy: "test", FileName: "people.csv", Headers: headers},
		&memoryRowSource{rows: rows})
	require.NoError(t, err)
	return imp.ID
}

// runImport starts the next run of an import, applies all its rows as one
// chunk of customers and ends the run.
func runImport(t *testing.T, st *schema.Store, ws, id string, start schema.StartImport, key string, cs ...schema.ImportedCustomer) schema.Import {
	t.Helper()
	ctx := context.Background()
	imp, err := st.StartImportRun(ctx, ws, id, start)
	require.NoError(t, err)
	imp, applied, err := st.ApplyImportChunk(ctx, ws, id, schema.ImportChunk{Run: imp.Run, Rows: len(cs), Key: key, Customers: cs})
	require.NoError(t, err)
	require.True(t, applied)
	_, err = st.FinishImportRun(ctx, ws, id, imp.Run, schema.ImportCompleted, "")
	require.NoError(t, err)
	return imp
}

// A user id an import by user id brings for the first time, on a row with
// an email, takes the oldest profile of that address that has no user id
// (one an import by email made), as identify does: importing the same file
// again with a user id column added duplicates nobody. A known user id
// keeps its own profile; of two new user ids with one address, the first
// row's takes the profile.
func TestImportByUserIDAdoptsTheProfileKnownByEmail(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	knownBob, err := st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m1", Type: "identify", UserID: "u-bob",
		Traits: map[string]any{"email": "bob@work.example"}, OccurredAt: time.Now()})
	require.NoError(t, err)

	byEmail := uploadImport(t, st, ws.ID, []string{"Email", "City"},
		[]string{"ada@example.com", "London"}, []string{"bob@example.com", ""}, []string{"grace@example.com", ""})
	emailRun := func() schema.Import {
		return runImport(t, st, ws.ID, byEmail, schema.StartImport{Mapping: []byte(`{"email":"Email"}`)}, schema.ImportKeyEmail,
			schema.ImportedCustomer{Email: "ada@example.com", Attributes: map[string]any{"city": "London", "plan": "free"}},
			schema.ImportedCustomer{Email: "bob@example.com"},
			schema.ImportedCustomer{Email: "grace@example.com"})
	}
	imp := emailRun()
	require.Equal(t, [2]int{3, 0}, [2]int{imp.CreatedRows, imp.UpdatedRows})
	byAddress := map[string]string{}
	rows, err := st.Pool().Query(ctx, `SELECT email, id FROM customers WHERE workspace_id = $1 AND external_id IS NULL`, ws.ID)
	require.NoError(t, err)
	for rows.Next() {
		var email, id string
		require.NoError(t, rows.Scan(&email, &id))
		byAddress[email] = id
	}
	require.NoError(t, rows.Err())
	require.Len(t, byAddress, 3)

	seg, err := st.CreateSegment(ctx, ws.ID, schema.Segment{Name: "Imported", Kind: schema.SegmentManual})
	require.NoError(t, err)
	byUserID := uploadImport(t, st, ws.ID, []string{"User ID", "Email", "Plan"},
		[]string{"u-ada", "ADA@example.com", "pro"}, []string{"u-bob", "bob@example.com", ""},
		[]string{"u-grace", "grace@example.com", ""}, []string{"u-grace2", "grace@example.com", ""}, []string{"u-ada", "", "team"})
	userIDRun := func() schema.Import {
		return runImport(t, st, ws.ID, byUserID,
			schema.StartImport{Mapping: []byte(`{"user_id":"User ID","email":"Email"}`), SegmentID: &seg.ID}, schema.ImportKeyUserID,
			schema.ImportedCustomer{ExternalID: "u-ada", Email: "ADA@example.com", Attributes: map[string]any{"plan": "pro"}},
			schema.ImportedCustomer{ExternalID: "u-bob", Email: "bob@example.com"},
			schema.ImportedCustomer{ExternalID: "u-grace", Email: "grace@example.com"},
			schema.ImportedCustomer{ExternalID: "u-grace2", Email: "grace@example.com"},
			schema.ImportedCustomer{ExternalID: "u-ada", Attributes: map[string]any{"seats": 3}})
	}
	imp = userIDRun()
	require.Equal(t, [2]int{1, 4}, [2]int{imp.CreatedRows, imp.UpdatedRows}, "only u-grace2 is a new profile")
	require.Equal(t, 5, countImportedCustomers(t, st, ws.ID))

	ada, err := st.FindCustomer(ctx, ws.ID, "u-ada")
	require.NoError(t, err)
	require.Equal(t, byAddress["ada@example.com"], ada.ID, "the profile known by the address took the user id")
	require.Equal(t, "u-ada", *ada.ExternalID)
	require.JSONEq(t, `{"city":"London","plan":"pro","seats":3}`, string(ada.Attributes))
	member, err := st.CustomerSegments(ctx, ws.ID, ada.ID)
	require.NoError(t, err)
	require.Len(t, member, 1, "the import's segment has the profile that took the user id")
	require.Equal(t, seg.ID, member[0].SegmentID)

	bob, err := st.FindCustomer(ctx, ws.ID, "u-bob")
	require.NoError(t, err)
	require.Equal(t, knownBob.CustomerID, bob.ID, "a known user id keeps its own profile")
	require.Equal(t, "bob@example.com", *bob.Email)
	var bobUserID *string
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT external_id FROM customers WHERE workspace_id = $1 AND id = $2`,
		ws.ID, byAddress["bob@example.com"]).Scan(&bobUserID))
	require.Nil(t, bobUserID, "the profile known by bob's address is left as it was")

	grace, err := st.FindCustomer(ctx, ws.ID, "u-grace")
	require.NoError(t, err)
	require.Equal(t, byAddress["grace@example.com"], grace.ID, "the first row with the address takes its profile")
	grace2, err := st.FindCustomer(ctx, ws.ID, "u-grace2")
	require.NoError(t, err)
	require.NotEqual(t, grace.ID, grace2.ID)

	// Both files again: nothing new.
	imp = userIDRun()
	require.Equal(t, [2]int{0, 5}, [2]int{imp.CreatedRows, imp.UpdatedRows})
	imp = emailRun()
	require.Equal(t, [2]int{0, 3}, [2]int{imp.CreatedRows, imp.UpdatedRows})
	require.Equal(t, 5, countImportedCustomers(t, st, ws.ID))
}

// A user id whose first row has no email takes the profile its address is
// known by when a later row of the file gives that address.
func TestImportByUserIDAdoptsOnALaterRowWithTheEmail(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	byEmail := uploadImport(t, st, ws.ID, []string{"Email"}, []string{"lin@example.com"})
	runImport(t, st, ws.ID, byEmail, schema.StartImport{Mapping: []byte(`{"email":"Email"}`)}, schema.ImportKeyEmail,
		schema.ImportedCustomer{Email: "lin@example.com"})
	byUserID := uploadImport(t, st, ws.ID, []string{"User ID", "Email", "Plan"},
		[]string{"u-lin", "", "pro"}, []string{"u-lin", "lin@example.com", ""})
	imp := runImport(t, st, ws.ID, byUserID, schema.StartImport{Mapping: []byte(`{"user_id":"User ID","email":"Email"}`)}, schema.ImportKeyUserID,
		schema.ImportedCustomer{ExternalID: "u-lin", Attributes: map[string]any{"plan": "pro"}},
		schema.ImportedCustomer{ExternalID: "u-lin", Email: "lin@example.com"})
	require.Equal(t, [2]int{0, 2}, [2]int{imp.CreatedRows, imp.UpdatedRows})
	require.Equal(t, 1, countImportedCustomers(t, st, ws.ID), "one profile of lin")
	lin, err := st.FindCustomer(ctx, ws.ID, "u-lin")
	require.NoError(t, err)
	require.Equal(t, "lin@example.com", *lin.Email)
	require.JSONEq(t, `{"plan":"pro"}`, string(lin.Attributes))
}

// An import looks each row's address up among the workspace's customers:
// by email, the customer to update; by user id, for a new user id, the
// profile of the address it takes (as identify does). With tens of
// thousands of customers there, the lookup must go through the email index
// and read the few customers with that address, not walk every customer of
// the workspace oldest first looking for the oldest with it (an ORDER BY
// created_at ... LIMIT 1 steers the planner onto customers_created_idx:
// measured on herald dev with 52,000 customers, ~0.45 s a row, a 50,000-row
// email list ~1 hour). The test counts the customer rows each statement
// reads, under both the plan for its values and the generic plan a
// prepared statement may get.
func TestImportByEmailIntoALargeWorkspaceUsesTheEmailIndex(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	// Customers known by email only, as an import by email leaves them.
	_, err = st.Pool().Exec(ctx, `
		INSERT INTO customers (id, workspace_id, email, attributes, created_at)
		SELECT 'cus_seed' || g, $1, 'seed' || g || '@example.com', '{}', now() - interval '1 day' + g * interval '1 ms'
		FROM generate_series(1, 100000) AS g`, ws.ID)
	require.NoError(t, err)
	_, err = st.Pool().Exec(ctx, `ANALYZE customers`)
	require.NoError(t, err)

	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		for _, email := range []string{"new@example.com", "Seed90000@Example.com"} {
			read := customerRowsRead(t, st, mode, schema.UpsertByEmail, "cus_new", ws.ID, email, "", "", `{"plan":"pro"}`, "{email}")
			require.LessOrEqual(t, read, 10, "by email, %s, %s: the row's lookup read %d customers of 100,000", mode, email, read)
			read = customerRowsRead(t, st, mode, schema.AdoptProfileByEmail, ws.ID, email, "u-new")
			require.LessOrEqual(t, read, 10, "by user id, %s, %s: the row's lookup read %d customers of 100,000", mode, email, read)
		}
	}

	// And the statement still does its job: the oldest customer of the
	// address, in any case, is updated; a new address is created.
	rows := make([][]string, 4)
	cs := make([]schema.ImportedCustomer, 4)
	for i, email := range []string{"new1@example.com", "Seed300@Example.com", "new2@example.com", "SEED600@example.com"} {
		rows[i] = []string{email}
		cs[i] = schema.ImportedCustomer{Row: i + 2, Email: email, Attributes: map[string]any{"plan": "pro"}}
	}
	id := uploadImport(t, st, ws.ID, []string{"email"}, rows...)
	imp := runImport(t, st, ws.ID, id, schema.StartImport{Mapping: []byte(`{"email":"email"}`)}, schema.ImportKeyEmail, cs...)
	require.Equal(t, [2]int{2, 2}, [2]int{imp.CreatedRows, imp.UpdatedRows})
	var plan string
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT attributes->>'plan' FROM customers WHERE workspace_id = $1 AND id = 'cus_seed300'`,
		ws.ID).Scan(&plan))
	require.Equal(t, "pro", plan)
}

// customerRowsRead runs stmt with args under EXPLAIN ANALYZE in a
// transaction it rolls back, with the plan cache mode given, and returns
// how many rows of the customers table its scans read (those returned and
// those a filter removed).
func customerRowsRead(t *testing.T, st *schema.Store, planCacheMode, stmt string, args ...string) int {
	t.Helper()
	ctx := context.Background()
	tx, err := st.Pool().Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SET LOCAL plan_cache_mode = `+planCacheMode)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `PREPARE measured AS `+stmt)
	require.NoError(t, err)
	values := make([]string, len(args)) // EXECUTE takes no bound parameters: literals
	for i, a := range args {
		values[i] = "'" + strings.ReplaceAll(a, "'", "''") + "'"
	}
	var out []byte
	require.NoError(t, tx.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE measured(`+strings.Join(values, ", ")+`)`).Scan(&out))
	_, err = tx.Exec(ctx, `DEALLOCATE measured`) // prepared statements outlive the transaction
	require.NoError(t, err)
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal(out, &plans))
	require.Len(t, plans, 1)
	return plans[0].Plan.rowsRead("customers")
}

// planNode is a node of EXPLAIN (ANALYZE, FORMAT JSON).
type planNode struct {
	NodeType        string     `json:"Node Type"`
	Relation        string     `json:"Relation Name"`
	ActualRows      float64    `json:"Actual Rows"`
	ActualLoops     float64    `json:"Actual Loops"`
	RemovedByFilter float64    `json:"Rows Removed by Filter"`
	Plans           []planNode `json:"Plans"`
}

// rowsRead sums the rows the node's scans of table read, below it included.
func (n planNode) rowsRead(table string) int {
	read := 0
	if n.Relation == table && strings.Contains(n.NodeType, "Scan") {
		read += int((n.ActualRows + n.RemovedByFilter) * n.ActualLoops)
	}
	for _, c := range n.Plans {
		read += c.rowsRead(table)
	}
	return read
}

// A start decided on the import as it was at one run (SeenRun) is refused
// when another start has begun a run since, even one that has ended
// already, and so is one decided on replacing a run that has ended by
// itself since: two starts at once start one run.
func TestStartImportRunAfterAnotherStartIsRefused(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	id := uploadImport(t, st, ws.ID, []string{"id"}, []string{"u1"})
	seen := 0
	first, err := st.StartImportRun(ctx, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"id"}`), SeenRun: &seen})
	require.NoError(t, err)
	require.Equal(t, 1, first.Run)
	_, err = st.FinishImportRun(ctx, ws.ID, id, first.Run, schema.ImportCompleted, "")
	require.NoError(t, err)

	_, err = st.StartImportRun(ctx, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"id"}`), SeenRun: &seen})
	require.ErrorIs(t, err, schema.ErrInvalidState, "a start decided before run 1 began")
	seen = first.Run
	_, err = st.StartImportRun(ctx, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"id"}`), SeenRun: &seen, ReplaceRun: first.Run})
	require.ErrorIs(t, err, schema.ErrInvalidState, "a start decided on replacing run 1, which has ended by itself since")
	second, err := st.StartImportRun(ctx, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"id"}`), SeenRun: &seen})
	require.NoError(t, err)
	require.Equal(t, 2, second.Run)
}

// Import modes: update_only writes only rows of customers who exist (a new
// user id that takes the profile known by its email counts as existing),
// create_only only rows of customers who did not exist when the run
// started (an earlier chunk's new customer takes its later rows); rows left
// out are counted, not written, and join no segment. A create_only rerun
// duplicates nobody.
func TestImportModes(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	_, err = st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m1", Type: "identify", UserID: "u-old",
		Traits: map[string]any{"plan": "trial"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	// Eve is known by her address only (an earlier import by email).
	knownByEmailOnly(t, st, ws.ID, "eve@example.com")
	segment, err := st.CreateSegment(ctx, ws.ID, schema.Segment{Name: "Imported", Kind: schema.SegmentManual})
	require.NoError(t, err)

	rows := []schema.ImportedCustomer{
		{Row: 2, ExternalID: "u-old", Attributes: map[string]any{"plan": "pro"}},
		{Row: 3, ExternalID: "u-new", Attributes: map[string]any{"plan": "free"}},
		{Row: 4, ExternalID: "u-eve", Email: "Eve@example.com", Attributes: map[string]any{"plan": "team"}},
		{Row: 5, ExternalID: "u-new", Attributes: map[string]any{"seats": 2}},
	}
	id := uploadImport(t, st, ws.ID, []string{"user_id", "email", "plan"},
		[]string{"u-old", "", "pro"}, []string{"u-new", "", "free"}, []string{"u-eve", "Eve@example.com", "team"}, []string{"u-new", "", ""})
	counts := func(imp schema.Import) [4]int {
		return [4]int{imp.CreatedRows, imp.UpdatedRows, imp.SkippedRows, imp.ProcessedRows}
	}
	attrs := func(userID string) string {
		t.Helper()
		c, err := st.FindCustomer(ctx, ws.ID, userID)
		require.NoError(t, err)
		return string(c.Attributes)
	}
	members := func() int {
		t.Helper()
		var n int
		require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM segment_members WHERE workspace_id = $1 AND segment_id = $2`,
			ws.ID, segment.ID).Scan(&n))
		return n
	}

	// update_only: u-old and Eve's profile (taking u-eve) are written; u-new is not created.
	imp := runImport(t, st, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"user_id"}`), Mode: schema.ImportUpdateOnly,
		SegmentID: &segment.ID}, schema.ImportKeyUserID, rows...)
	require.Equal(t, schema.ImportUpdateOnly, imp.Mode)
	require.Equal(t, [4]int{0, 2, 2, 4}, counts(imp), "created, updated, skipped, processed")
	require.JSONEq(t, `{"plan":"pro"}`, attrs("u-old"))
	require.JSONEq(t, `{"plan":"team"}`, attrs("u-eve"))
	_, err = st.FindCustomer(ctx, ws.ID, "u-new")
	require.ErrorIs(t, err, schema.ErrNotFound, "update_only creates nobody")
	require.Equal(t, 2, countImportedCustomers(t, st, ws.ID))
	require.Equal(t, 2, members(), "only the written rows' customers join the segment")

	// create_only: only u-new, created by its first row and updated by its second.
	_, err = st.Pool().Exec(ctx, `UPDATE customers SET attributes = '{"plan":"trial"}' WHERE workspace_id = $1`, ws.ID)
	require.NoError(t, err)
	imp = runImport(t, st, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"user_id"}`), Mode: schema.ImportCreateOnly,
		SegmentID: &segment.ID}, schema.ImportKeyUserID, rows...)
	require.Equal(t, [4]int{1, 1, 2, 4}, counts(imp))
	require.JSONEq(t, `{"plan":"free","seats":2}`, attrs("u-new"))
	require.JSONEq(t, `{"plan":"trial"}`, attrs("u-old"), "an existing customer is left as it was")
	require.JSONEq(t, `{"plan":"trial"}`, attrs("u-eve"))
	require.Equal(t, 3, countImportedCustomers(t, st, ws.ID))
	require.Equal(t, 3, members())

	// The same run again: everyone existed when it started.
	imp = runImport(t, st, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"user_id"}`), Mode: schema.ImportCreateOnly},
		schema.ImportKeyUserID, rows...)
	require.Equal(t, [4]int{0, 0, 4, 4}, counts(imp))
	require.Equal(t, 3, countImportedCustomers(t, st, ws.ID))

	// A create_only run's new customer takes its rows of a later chunk,
	// and a chunk applied again (a retried activity) counts nothing twice.
	imp, err = st.StartImportRun(ctx, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"user_id"}`), Mode: schema.ImportCreateOnly})
	require.NoError(t, err)
	first := schema.ImportChunk{Run: imp.Run, Rows: 2, Key: schema.ImportKeyUserID, Customers: []schema.ImportedCustomer{
		{Row: 2, ExternalID: "u-late", Attributes: map[string]any{"plan": "free"}}, rows[0]}}
	second := schema.ImportChunk{Run: imp.Run, Offset: 2, Rows: 2, Key: schema.ImportKeyUserID, Customers: []schema.ImportedCustomer{
		{Row: 4, ExternalID: "u-late", Attributes: map[string]any{"plan": "pro"}}, rows[1]}}
	for _, ch := range []schema.ImportChunk{first, second, second} {
		imp, _, err = st.ApplyImportChunk(ctx, ws.ID, id, ch)
		require.NoError(t, err)
	}
	require.Equal(t, [4]int{1, 1, 2, 4}, counts(imp))
	require.JSONEq(t, `{"plan":"pro"}`, attrs("u-late"))

	_, err = st.StartImportRun(ctx, ws.ID, id, schema.StartImport{Mapping: []byte(`{}`), Mode: "merge"})
	require.ErrorContains(t, err, `unknown mode "merge"`)
}

// By email, create_only and update_only go by the address in any case.
func TestImportModesByEmail(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	_, err = st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m1", Type: "identify", UserID: "u-ada",
		Traits: map[string]any{"email": "Ada@Example.com"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	id := uploadImport(t, st, ws.ID, []string{"email", "plan"}, []string{"ada@example.com", "pro"}, []string{"cy@example.com", "free"})
	rows := []schema.ImportedCustomer{
		{Row: 2, Email: "ada@example.com", Attributes: map[string]any{"plan": "pro"}},
		{Row: 3, Email: "cy@example.com", Attributes: map[string]any{"plan": "free"}},
	}
	imp := runImport(t, st, ws.ID, id, schema.StartImport{Mapping: []byte(`{"email":"email"}`), Mode: schema.ImportCreateOnly},
		schema.ImportKeyEmail, rows...)
	require.Equal(t, [3]int{1, 0, 1}, [3]int{imp.CreatedRows, imp.UpdatedRows, imp.SkippedRows})
	ada, err := st.FindCustomer(ctx, ws.ID, "u-ada")
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(ada.Attributes))
	imp = runImport(t, st, ws.ID, id, schema.StartImport{Mapping: []byte(`{"email":"email"}`), Mode: schema.ImportUpdateOnly},
		schema.ImportKeyEmail, rows...)
	require.Equal(t, [3]int{0, 2, 0}, [3]int{imp.CreatedRows, imp.UpdatedRows, imp.SkippedRows})
	require.Equal(t, 2, countImportedCustomers(t, st, ws.ID))
}

// update_only creates nobody: of two new user ids on rows with the address
// of a profile known only by email, the first takes the profile, the
// second (which an upsert would create) is skipped. (From a review.)
func TestImportUpdateOnlyCreatesNoCustomerForASecondUserIDOfOneAddress(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	knownByEmailOnly(t, st, ws.ID, "eve@example.com")

	id := uploadImport(t, st, ws.ID, []string{"user_id", "email"},
		[]string{"u-eve", "eve@example.com"}, []string{"u-eve-work", "eve@example.com"})
	imp := runImport(t, st, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"user_id","email":"email"}`), Mode: schema.ImportUpdateOnly},
		schema.ImportKeyUserID,
		schema.ImportedCustomer{Row: 2, ExternalID: "u-eve", Email: "eve@example.com"},
		schema.ImportedCustomer{Row: 3, ExternalID: "u-eve-work", Email: "Eve@example.com"})
	require.Equal(t, 0, imp.CreatedRows, "update_only creates nobody")
	require.Equal(t, [2]int{1, 1}, [2]int{imp.UpdatedRows, imp.SkippedRows}, "updated, skipped")
	_, err = st.FindCustomer(ctx, ws.ID, "u-eve-work")
	require.ErrorIs(t, err, schema.ErrNotFound)
	require.Equal(t, 1, countImportedCustomers(t, st, ws.ID))

	// create_only the same file: u-eve has Eve's profile now and is
	// skipped; u-eve-work is new and created beside her, not given it.
	imp = runImport(t, st, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"user_id","email":"email"}`), Mode: schema.ImportCreateOnly},
		schema.ImportKeyUserID,
		schema.ImportedCustomer{Row: 2, ExternalID: "u-eve", Email: "eve@example.com"},
		schema.ImportedCustomer{Row: 3, ExternalID: "u-eve-work", Email: "Eve@example.com"})
	require.Equal(t, [3]int{1, 0, 1}, [3]int{imp.CreatedRows, imp.UpdatedRows, imp.SkippedRows})
	require.Equal(t, 2, countImportedCustomers(t, st, ws.ID))
}

// A user id's rows go the same way in every chunk of a run: create_only
// skips the row with the address of a profile known only by email (it
// would take it) and the user id's row in the next chunk, which has no
// email; no second profile of Eve. (From a review.)
func TestImportCreateOnlyAcrossChunksMakesNoSecondProfile(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	knownByEmailOnly(t, st, ws.ID, "eve@example.com")

	id := uploadImport(t, st, ws.ID, []string{"user_id", "email", "plan"},
		[]string{"u-eve", "eve@example.com", ""}, []string{"u-eve", "", "pro"})
	for _, mode := range []string{schema.ImportCreateOnly, schema.ImportUpdateOnly} {
		imp, err := st.StartImportRun(ctx, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"user_id","email":"email"}`), Mode: mode})
		require.NoError(t, err)
		chunks := []schema.ImportChunk{
			{Run: imp.Run, Offset: 0, Rows: 1, Key: schema.ImportKeyUserID, Customers: []schema.ImportedCustomer{
				{Row: 2, ExternalID: "u-eve", Email: "eve@example.com"}}},
			{Run: imp.Run, Offset: 1, Rows: 1, Key: schema.ImportKeyUserID, Customers: []schema.ImportedCustomer{
				{Row: 3, ExternalID: "u-eve", Attributes: map[string]any{"plan": "pro"}}}},
		}
		for _, ch := range chunks {
			imp, _, err = st.ApplyImportChunk(ctx, ws.ID, id, ch)
			require.NoError(t, err)
		}
		if mode == schema.ImportCreateOnly {
			require.Equal(t, [3]int{0, 0, 2}, [3]int{imp.CreatedRows, imp.UpdatedRows, imp.SkippedRows}, "created, updated, skipped")
			require.Equal(t, 1, countImportedCustomers(t, st, ws.ID), "one profile of Eve")
		} else {
			require.Equal(t, [3]int{0, 2, 0}, [3]int{imp.CreatedRows, imp.UpdatedRows, imp.SkippedRows}, "u-eve takes Eve's profile")
			got, err := st.FindCustomer(ctx, ws.ID, "u-eve")
			require.NoError(t, err)
			require.Equal(t, "eve@example.com", *got.Email)
			require.JSONEq(t, `{"plan":"pro"}`, string(got.Attributes))
		}
		var kept int
		require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM import_run_keys WHERE import_id = $1`, id).Scan(&kept))
		require.Positive(t, kept, "decisions kept while the run goes on")
		_, err = st.FinishImportRun(ctx, ws.ID, id, imp.Run, schema.ImportCompleted, "")
		require.NoError(t, err)
		require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM import_run_keys WHERE import_id = $1`, id).Scan(&kept))
		require.Zero(t, kept, "a run's decisions go with its end")
	}
}

// A create_only run leaves customers it did not create as they are: one
// who signs up (identify) while the run goes is not the run's. (From a
// review.)
func TestImportCreateOnlyLeavesACustomerIdentifiedDuringTheRun(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	id := uploadImport(t, st, ws.ID, []string{"user_id", "plan"}, []string{"u-live", "free"})
	imp, err := st.StartImportRun(ctx, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"user_id"}`), Mode: schema.ImportCreateOnly})
	require.NoError(t, err)
	// The app identifies u-live (a purchase) after the run started, before its chunk.
	_, err = st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m-live", Type: "identify", UserID: "u-live",
		Traits: map[string]any{"plan": "paid"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	imp, _, err = st.ApplyImportChunk(ctx, ws.ID, id, schema.ImportChunk{Run: imp.Run, Rows: 1, Key: schema.ImportKeyUserID,
		Customers: []schema.ImportedCustomer{{Row: 2, ExternalID: "u-live", Attributes: map[string]any{"plan": "free"}}}})
	require.NoError(t, err)
	live, err := st.FindCustomer(ctx, ws.ID, "u-live")
	require.NoError(t, err)
	require.JSONEq(t, `{"plan":"paid"}`, string(live.Attributes), "create_only overwrote a customer it did not create")
	require.Equal(t, [3]int{0, 0, 1}, [3]int{imp.CreatedRows, imp.UpdatedRows, imp.SkippedRows}, "created, updated, skipped")
}

// knownByEmailOnly makes a profile known only by its address, as an import
// by email leaves it.
func knownByEmailOnly(t *testing.T, st *schema.Store, ws, address string) {
	t.Helper()
	id := uploadImport(t, st, ws, []string{"email"}, []string{address})
	runImport(t, st, ws, id, schema.StartImport{Mapping: []byte(`{"email":"email"}`)}, schema.ImportKeyEmail,
		schema.ImportedCustomer{Row: 2, Email: address})
}

func TestImportSettingBuiltInFieldsDropsTheirStaleAttributes(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Demo")
	require.NoError(t, err)
	long := "1111111111111111111111111111111111111111111111111111111111111111111111"
	_, err = st.ApplyEvent(ctx, schema.EventInput{WorkspaceID: ws.ID, MessageID: "m1", Type: "identify", UserID: "u1",
		Traits: map[string]any{"email": 42, "phone": long, "timezone": true, "plan": "pro"}, OccurredAt: time.Now()})
	require.NoError(t, err)
	c, err := st.FindCustomer(ctx, ws.ID, "u1")
	require.NoError(t, err)
	require.JSONEq(t, `{"email":42,"phone":"`+long+`","timezone":true,"plan":"pro"}`, string(c.Attributes))

	id := uploadImport(t, st, ws.ID, []string{"User ID", "Email", "Phone", "TZ"},
		[]string{"u1", "u1@example.com", "+33 6 12 34 56 78", "Europe/Paris"})
	runImport(t, st, ws.ID, id, schema.StartImport{Mapping: []byte(`{"user_id":"User ID","email":"Email","phone":"Phone","timezone":"TZ"}`)},
		schema.ImportKeyUserID, schema.ImportedCustomer{ExternalID: "u1", Email: "u1@example.com", Phone: "+33 6 12 34 56 78", Timezone: "Europe/Paris"})

	c, err = st.FindCustomer(ctx, ws.ID, "u1")
	require.NoError(t, err)
	require.Equal(t, "u1@example.com", *c.Email)
	require.JSONEq(t, `{"plan":"pro"}`, string(c.Attributes),
		"the fields are set: the attributes that stood for them are out of date (an identify setting them removes them)")
}
