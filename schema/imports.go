package schema

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Import statuses (docs/import.md).
const (
	ImportUploaded  = "uploaded"
	ImportRunning   = "running"
	ImportCompleted = "completed"
	ImportFailed    = "failed"
	ImportCancelled = "cancelled"
)

// How the rows of an import find their customer.
const (
	// ImportKeyUserID matches rows to customers by external id (userId).
	ImportKeyUserID = "user_id"
	// ImportKeyEmail matches rows by email, case-insensitively, when the
	// file has no user id column.
	ImportKeyEmail = "email"
)

// Import modes: which rows of the file a run writes.
const (
	// ImportUpsert writes every row: new customers are created, existing
	// ones updated (the default).
	ImportUpsert = "upsert"
	// ImportCreateOnly writes only rows of customers the run creates; rows
	// of customers who exist when the run meets them are skipped.
	ImportCreateOnly = "create_only"
	// ImportUpdateOnly writes only rows of customers who exist; rows that
	// would create a customer are skipped.
	ImportUpdateOnly = "update_only"
)

// ImportModes are the modes a run may take, the default first.
var ImportModes = []string{ImportUpsert, ImportCreateOnly, ImportUpdateOnly}

// ErrImportNotCurrent is returned to a write of an import run that is no
// longer the import's running run: it was cancelled, finished or started
// again. Retrying cannot help.
var ErrImportNotCurrent = errors.New("the import run is no longer the running one")

// ErrImportSegmentDeleted is returned to a chunk of an import run whose
// manual segment (segment_id) no longer exists: its customers have no
// segment to join. Retrying cannot help.
var ErrImportSegmentDeleted = errors.New("the import's segment was deleted")

// Import is an uploaded CSV file of customers and the state of its latest run.
type Import struct {
	ID       string   `json:"id"`
	FileName string   `json:"file_name"`
	FileSize int64    `json:"file_size"`
	Headers  []string `json:"headers"`
	Status   string   `json:"status"`
	// Mapping is the column mapping of the latest run (null before the first).
	Mapping   json.RawMessage `json:"mapping"`
	SegmentID *string         `json:"segment_id"`
	// Mode is the latest run's mode (ImportModes; upsert before the first).
	Mode string `json:"mode"`
	// Separator is the field separator the upload read the file with: ",",
	// ";" or a tab (null for files uploaded before it was stored).
	Separator *string `json:"separator"`
	// Run counts the starts; every write of a run names it.
	Run           int `json:"run"`
	TotalRows     int `json:"total_rows"`
	ProcessedRows int `json:"processed_rows"`
	CreatedRows   int `json:"created_rows"`
	UpdatedRows   int `json:"updated_rows"`
	FailedRows    int `json:"failed_rows"`
	// SkippedRows are rows the run's mode left out: of customers who exist
	// (create_only) or of customers who do not (update_only).
	SkippedRows int        `json:"skipped_rows"`
	Error       string     `json:"error"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`

	// ColumnTypes are the attribute types suggested for the columns (by
	// position), over every row of the file; nil for a file uploaded
	// before they were stored.
	ColumnTypes []string `json:"-"`
}

// NewImport describes an upload.
type NewImport struct {
	CreatedBy string
	FileName  string
	Headers   []string
	// Separator is the field separator the file was read with.
	Separator string
}

// ImportRowSource yields the records of an uploaded file after its header.
type ImportRowSource interface {
	// Next returns the next record, or io.EOF after the last one.
	Next() ([]string, error)
	// BytesRead is how much of the file has been read.
	BytesRead() int64
	// ColumnTypes are the attribute types to suggest for the columns (by
	// position), over every record read; stored with the import.
	ColumnTypes() []string
}

// ImportRow is one stored record of an uploaded file.
type ImportRow struct {
	// Number is the record's row as a spreadsheet shows it: the header is
	// row 1, the first customer row 2.
	Number int
	Fields []string
}

// ImportRowError is a row an import run skipped, and why.
type ImportRowError struct {
	Row     int    `json:"row"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

// ImportedCustomer is one valid row of an import, typed. Empty fields leave
// the profile's value as it is; attributes merge into the profile's.
type ImportedCustomer struct {
	// Row is the file's row the customer comes from (for error messages).
	Row        int
	ExternalID string
	Email      string
	Phone      string
	Timezone   string
	Attributes map[string]any
}

// ImportChunk is the outcome of a run of consecutive rows of an import,
// written at once.
type ImportChunk struct {
	Run int
	// Offset is how many rows of the file come before the chunk.
	Offset int
	// Rows is how many rows the chunk covers (customers plus errors).
	Rows      int
	Key       string // ImportKeyUserID or ImportKeyEmail
	Customers []ImportedCustomer
	Errors    []ImportRowError
}

// ImportCursor is a position in the newest-first list of imports.
type ImportCursor struct {
	CreatedAt time.Time
	ID        string
}

const importColumns = `id, file_name, file_size, headers, status, mapping, segment_id, mode, separator, run, total_rows,
	processed_rows, created_rows, updated_rows, failed_rows, skipped_rows, error, column_types, created_by, created_at,
	started_at, finished_at`

func scanImport(r pgx.Row) (Import, error) {
	var i Import
	err := r.Scan(&i.ID, &i.FileName, &i.FileSize, &i.Headers, &i.Status, &i.Mapping, &i.SegmentID, &i.Mode, &i.Separator,
		&i.Run, &i.TotalRows, &i.ProcessedRows, &i.CreatedRows, &i.UpdatedRows, &i.FailedRows, &i.SkippedRows, &i.Error,
		&i.ColumnTypes, &i.CreatedBy, &i.CreatedAt, &i.StartedAt, &i.FinishedAt)
	return i, err
}

// importQuerier is what reads an import: the pool or a transaction.
type importQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getImport(ctx context.Context, q importQuerier, workspaceID, id string) (Import, error) {
	i, err := scanImport(q.QueryRow(ctx, `SELECT `+importColumns+` FROM imports WHERE workspace_id = $1 AND id = $2`,
		workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Import{}, ErrNotFound
	}
	if err != nil {
		return Import{}, fmt.Errorf("load import %s: %w", id, err)
	}
	return i, nil
}

// CreateImport stores an upload: the import and every record src yields,
// in one transaction. An error of src is returned as it is (nothing is
// stored), so callers can tell a malformed file from a database failure.
func (s *Store) CreateImport(ctx context.Context, workspaceID string, in NewImport, src ImportRowSource) (Import, error) {
	id := NewID("imp")
	var srcErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO imports (id, workspace_id, created_by, file_name, headers, separator) VALUES ($1, $2, $3, $4, $5, nullif($6, ''))`,
			id, workspaceID, in.CreatedBy, in.FileName, in.Headers, in.Separator); err != nil {
			return fmt.Errorf("insert import: %w", err)
		}
		row := 1 // the header
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"import_rows"}, []string{"workspace_id", "import_id", "row_number", "fields"},
			pgx.CopyFromFunc(func() ([]any, error) {
				fields, err := src.Next()
				if errors.Is(err, io.EOF) {
					return nil, nil
				}
				if err != nil {
					srcErr = err
					return nil, err
				}
				row++
				return []any{workspaceID, id, row, fields}, nil
			}))
		if srcErr != nil {
			return srcErr
		}
		if err != nil {
			return fmt.Errorf("store import rows: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE imports SET total_rows = $3, file_size = $4, column_types = $5 WHERE workspace_id = $1 AND id = $2`,
			workspaceID, id, n, src.BytesRead(), src.ColumnTypes())
		if err != nil {
			return fmt.Errorf("count import rows: %w", err)
		}
		return nil
	})
	if err != nil {
		return Import{}, err
	}
	return s.GetImport(ctx, workspaceID, id)
}

// GetImport loads one import of the workspace.
func (s *Store) GetImport(ctx context.Context, workspaceID, id string) (Import, error) {
	return getImport(ctx, s.pool, workspaceID, id)
}

// ListImports returns the workspace's imports, newest first, after the cursor.
func (s *Store) ListImports(ctx context.Context, workspaceID string, limit int, after *ImportCursor) ([]Import, error) {
	var at *time.Time
	var afterID string
	if after != nil {
		at, afterID = &after.CreatedAt, after.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT `+importColumns+` FROM imports
		WHERE workspace_id = $1 AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
		ORDER BY created_at DESC, id DESC LIMIT $2`, workspaceID, limit, at, afterID)
	if err != nil {
		return nil, fmt.Errorf("query imports: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Import, error) { return scanImport(r) })
}

// StartImport is what starting a run of an import sets.
type StartImport struct {
	Mapping   json.RawMessage
	SegmentID *string
	// Mode is one of ImportModes ("" is ImportUpsert).
	Mode string
	// ReplaceRun, when not 0, lets the start replace that run although the
	// database still calls it running (its workflow is gone); the start is
	// refused if the run has ended meanwhile. 0 refuses to start over a
	// running import.
	ReplaceRun int
	// SeenRun, when not nil, is the import's run as the caller found it
	// when it decided to start (Import.Run): a start that finds a later run
	// begun since (another start came first) is refused, so that starts at
	// once start one run.
	SeenRun *int
}

// StartImportRun begins the next run of an import: status running, the
// mapping set, counters at zero, the previous run's row errors removed. It
// returns ErrInvalidState when the import is already running, was started
// again after the run the start was decided on (SeenRun), or the run it was
// to replace has ended (ReplaceRun).
func (s *Store) StartImportRun(ctx context.Context, workspaceID, id string, in StartImport) (Import, error) {
	mode := in.Mode
	if mode == "" {
		mode = ImportUpsert
	}
	if !slices.Contains(ImportModes, mode) {
		return Import{}, fmt.Errorf("start import %s: unknown mode %q", id, mode)
	}
	var out Import
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var status string
		var run int
		err := tx.QueryRow(ctx, `SELECT status, run FROM imports WHERE workspace_id = $1 AND id = $2 FOR UPDATE`,
			workspaceID, id).Scan(&status, &run)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock import %s: %w", id, err)
		}
		switch {
		case in.SeenRun != nil && *in.SeenRun != run:
			return fmt.Errorf("%w: the import was started again meanwhile (run %d)", ErrInvalidState, run)
		case status == ImportRunning && in.ReplaceRun != run:
			return fmt.Errorf("%w: the import is already running", ErrInvalidState)
		case status != ImportRunning && in.ReplaceRun != 0:
			// The run the start was to replace ended by itself meanwhile.
			return fmt.Errorf("%w: run %d has ended (%s) meanwhile", ErrInvalidState, run, status)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE imports SET status = 'running', mapping = $3, segment_id = $4, mode = $5, run = run + 1, processed_rows = 0,
				created_rows = 0, updated_rows = 0, failed_rows = 0, skipped_rows = 0, error = '', started_at = now(),
				finished_at = NULL, updated_at = now()
			WHERE workspace_id = $1 AND id = $2`, workspaceID, id, in.Mapping, in.SegmentID, mode); err != nil {
			return fmt.Errorf("start import %s: %w", id, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM import_errors WHERE workspace_id = $1 AND import_id = $2`, workspaceID, id); err != nil {
			return fmt.Errorf("clear import errors: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM import_run_keys WHERE workspace_id = $1 AND import_id = $2`, workspaceID, id); err != nil {
			return fmt.Errorf("clear the decisions of earlier runs: %w", err)
		}
		out, err = getImport(ctx, tx, workspaceID, id)
		return err
	})
	return out, err
}

// FinishImportRun records how run ended (completed, failed or cancelled)
// if it is still the running run; otherwise it returns ErrImportNotCurrent
// and changes nothing.
func (s *Store) FinishImportRun(ctx context.Context, workspaceID, id string, run int, status, message string) (Import, error) {
	switch status {
	case ImportCompleted, ImportFailed, ImportCancelled:
	default:
		return Import{}, fmt.Errorf("finish import %s: %q is not an end status", id, status)
	}
	// The run's decisions on customers (create_only, update_only) go with it.
	var finished int
	err := s.pool.QueryRow(ctx, `
		WITH finished AS (
			UPDATE imports SET status = $4, error = $5, finished_at = now(), updated_at = now()
			WHERE workspace_id = $1 AND id = $2 AND run = $3 AND status = 'running'
			RETURNING id
		), forgotten AS (
			DELETE FROM import_run_keys k USING finished
			WHERE k.workspace_id = $1 AND k.import_id = finished.id AND k.run = $3
		)
		SELECT count(*) FROM finished`, workspaceID, id, run, status, message).Scan(&finished)
	if err != nil {
		return Import{}, fmt.Errorf("finish import %s: %w", id, err)
	}
	imp, err := s.GetImport(ctx, workspaceID, id)
	if err == nil && finished == 0 {
		return imp, ErrImportNotCurrent
	}
	return imp, err
}

// ImportRows returns up to limit stored records of the import that come
// after the first offset ones.
func (s *Store) ImportRows(ctx context.Context, workspaceID, id string, offset, limit int) ([]ImportRow, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT row_number, fields FROM import_rows
		WHERE workspace_id = $1 AND import_id = $2 AND row_number >= $3::int + 2 AND row_number < $3::int + $4::int + 2
		ORDER BY row_number`, workspaceID, id, offset, limit)
	if err != nil {
		return nil, fmt.Errorf("query import rows: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ImportRow, error) {
		var x ImportRow
		err := r.Scan(&x.Number, &x.Fields)
		return x, err
	})
}

// ListImportErrors returns the current run's row errors after row afterRow,
// in row order.
func (s *Store) ListImportErrors(ctx context.Context, workspaceID, id string, afterRow, limit int) ([]ImportRowError, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT row_number, "column", message FROM import_errors
		WHERE workspace_id = $1 AND import_id = $2 AND row_number > $3 ORDER BY row_number LIMIT $4`,
		workspaceID, id, afterRow, limit)
	if err != nil {
		return nil, fmt.Errorf("query import errors: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ImportRowError, error) {
		var e ImportRowError
		err := r.Scan(&e.Row, &e.Column, &e.Message)
		return e, err
	})
}

// FailedImportRow is a row the current run skipped, with its fields as the
// file had them.
type FailedImportRow struct {
	ImportRowError
	Fields []string
}

// EachFailedImportRow calls fn with the current run's failed rows in row
// order, reading them as it goes (an import has up to a million rows).
func (s *Store) EachFailedImportRow(ctx context.Context, workspaceID, id string, fn func(FailedImportRow) error) error {
	rows, err := s.pool.Query(ctx, `
		SELECT e.row_number, e."column", e.message, coalesce(r.fields, '{}')
		FROM import_errors e
		LEFT JOIN import_rows r ON r.workspace_id = e.workspace_id AND r.import_id = e.import_id AND r.row_number = e.row_number
		WHERE e.workspace_id = $1 AND e.import_id = $2 ORDER BY e.row_number`, workspaceID, id)
	if err != nil {
		return fmt.Errorf("query failed import rows: %w", err)
	}
	var row FailedImportRow
	_, err = pgx.ForEachRow(rows, []any{&row.Row, &row.Column, &row.Message, &row.Fields}, func() error { return fn(row) })
	if err != nil {
		return fmt.Errorf("read failed import rows: %w", err)
	}
	return nil
}

// ApplyImportChunk writes a chunk of an import run in one transaction: the
// customers upserted (by external id, or by email when the import is keyed
// by email), the row errors, and the run's progress. The import's progress
// is the cursor that makes it idempotent: a chunk the run has already
// passed (a retried activity whose first attempt committed) changes nothing
// and applied is false. Upserts merge like identify: the same rows applied
// again leave the same profiles. An import into a manual segment that was
// deleted since gets ErrImportSegmentDeleted, with nothing written.
func (s *Store) ApplyImportChunk(ctx context.Context, workspaceID, id string, ch ImportChunk) (imp Import, applied bool, err error) {
	if ch.Key != ImportKeyUserID && ch.Key != ImportKeyEmail {
		return Import{}, false, fmt.Errorf("import %s: unknown key %q", id, ch.Key)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var status string
		var segmentID *string
		var run, processed int
		scope := importScope{importID: id}
		err := tx.QueryRow(ctx, `
			SELECT status, run, processed_rows, segment_id, mode FROM imports
			WHERE workspace_id = $1 AND id = $2 FOR UPDATE`,
			workspaceID, id).Scan(&status, &run, &processed, &segmentID, &scope.mode)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock import %s: %w", id, err)
		}
		if run != ch.Run || status != ImportRunning {
			return ErrImportNotCurrent
		}
		scope.run = run
		if processed >= ch.Offset+ch.Rows {
			imp, err = getImport(ctx, tx, workspaceID, id)
			return err
		}
		if processed != ch.Offset {
			return fmt.Errorf("import %s: chunk starts after %d rows but the run is at %d", id, ch.Offset, processed)
		}
		if segmentID != nil && *segmentID != "" {
			// Held until the chunk commits (a delete of the segment waits
			// for it); gone already, the run cannot go on as asked.
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM segments WHERE workspace_id = $1 AND id = $2 FOR KEY SHARE`,
				workspaceID, *segmentID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: segment %s", ErrImportSegmentDeleted, *segmentID)
			}
			if err != nil {
				return fmt.Errorf("lock segment %s: %w", *segmentID, err)
			}
		}
		created, ids, skipped, err := upsertImported(ctx, tx, workspaceID, ch.Key, scope, ch.Customers)
		if err != nil {
			return err
		}
		if segmentID != nil && *segmentID != "" {
			// The chunk's customers join the import's manual segment in the
			// same transaction (entries recorded as Segment Entered).
			if _, err := addSegmentMembers(ctx, tx, workspaceID, *segmentID, ids); err != nil {
				return err
			}
		}
		if err := insertImportErrors(ctx, tx, workspaceID, id, ch.Errors); err != nil {
			return err
		}
		if err := checkChunkRows(ctx, tx, workspaceID, id, ch); err != nil {
			return err
		}
		imp, err = scanImport(tx.QueryRow(ctx, `
			UPDATE imports SET processed_rows = $3, created_rows = created_rows + $4, updated_rows = updated_rows + $5,
				failed_rows = failed_rows + $6, skipped_rows = skipped_rows + $7, updated_at = now()
			WHERE workspace_id = $1 AND id = $2 RETURNING `+importColumns,
			workspaceID, id, ch.Offset+ch.Rows, created, len(ch.Customers)-created-skipped, len(ch.Errors), skipped))
		if err != nil {
			return fmt.Errorf("record import progress: %w", err)
		}
		applied = true
		return nil
	})
	return imp, applied, err
}

// ErrImportRowsErased is a chunk some of whose rows were erased (a
// customer's GDPR erasure blanked them) after they were read: its writes
// are rolled back, and the rows must be read again.
var ErrImportRowsErased = errors.New("rows of the chunk were erased while it was written; read them again")

// checkChunkRows holds the chunk's stored rows (FOR SHARE, so an erasure
// blanking one of them waits for this transaction) and fails the chunk
// when a row that was not a row error is blank now: it was read before
// an erasure blanked it, and writing it would bring the customer back.
func checkChunkRows(ctx context.Context, tx pgx.Tx, workspaceID, id string, ch ImportChunk) error {
	failed := make([]int, len(ch.Errors))
	for i, e := range ch.Errors {
		failed[i] = e.Row
	}
	var n int
	err := tx.QueryRow(ctx, `
		WITH held AS (
			SELECT row_number, fields FROM import_rows
			WHERE workspace_id = $1 AND import_id = $2 AND row_number >= $3::int + 2 AND row_number < $3::int + $4::int + 2
			FOR SHARE)
		SELECT count(*) FROM held WHERE array_to_string(fields, '') = '' AND row_number <> ALL($5::int[])`,
		workspaceID, id, ch.Offset, ch.Rows, failed).Scan(&n)
	if err != nil {
		return fmt.Errorf("check the chunk's rows: %w", err)
	}
	if n > 0 {
		return ErrImportRowsErased
	}
	return nil
}

// Upserts of one imported row, by key. Each returns the customer's id and
// whether it created the customer.
var (
	// A previous user id (retired by an alias), or an id an alias left as
	// an anonymous id that no customer has as its user id, updates the
	// customer it resolves to (as customerOfUser does for events); a new
	// one updates the profile known by the row's email that
	// adoptProfilesByEmail gave it, if any.
	upsertByUserID = `
		WITH previous AS (
			SELECT customer_id FROM customer_user_aliases WHERE workspace_id = $2::text AND user_id = $3::text
			UNION ALL
			SELECT * FROM (` + ownerOfAliasedID("$2::text", "$3::text") + `) o
			WHERE NOT EXISTS (SELECT 1 FROM customers WHERE workspace_id = $2::text AND external_id = $3::text)
			LIMIT 1
		), changed AS (
			UPDATE customers c SET email = coalesce(nullif($4::text, ''), c.email),
				phone = coalesce(nullif($5::text, ''), c.phone),
				timezone = coalesce(nullif($6::text, ''), c.timezone),
				attributes = (c.attributes || $7::jsonb) - $8::text[], updated_at = now()
			FROM previous WHERE c.workspace_id = $2::text AND c.id = previous.customer_id
			RETURNING c.id, false AS created
		), upserted AS (
			INSERT INTO customers (id, workspace_id, external_id, email, phone, timezone, attributes)
			SELECT $1::text, $2::text, $3::text, nullif($4::text, ''), nullif($5::text, ''), nullif($6::text, ''), $7::jsonb
			WHERE NOT EXISTS (SELECT 1 FROM previous)
			ON CONFLICT (workspace_id, external_id) WHERE external_id IS NOT NULL DO UPDATE SET
				email = coalesce(EXCLUDED.email, customers.email),
				phone = coalesce(EXCLUDED.phone, customers.phone),
				timezone = coalesce(EXCLUDED.timezone, customers.timezone),
				attributes = (customers.attributes || EXCLUDED.attributes) - $8::text[],
				updated_at = now()
			RETURNING id, xmax = 0 AS created
		)
		SELECT id, created FROM changed UNION ALL SELECT id, created FROM upserted`
	// The oldest customer with the email (there is no unique key on email;
	// the caller holds the email's lock).
	upsertByEmail = `
		WITH found AS (
			SELECT id FROM customers
			WHERE workspace_id = $2::text AND id = ` + oldestOfAddress("$2::text", "$3::text", "") + `
			FOR UPDATE
		), changed AS (
			UPDATE customers c SET phone = coalesce(nullif($4::text, ''), c.phone),
				timezone = coalesce(nullif($5::text, ''), c.timezone),
				attributes = (c.attributes || $6::jsonb) - $7::text[], updated_at = now()
			FROM found WHERE c.workspace_id = $2::text AND c.id = found.id
			RETURNING c.id
		), inserted AS (
			INSERT INTO customers (id, workspace_id, email, phone, timezone, attributes)
			SELECT $1::text, $2::text, $3::text, nullif($4::text, ''), nullif($5::text, ''), $6::jsonb
			WHERE NOT EXISTS (SELECT 1 FROM found)
			RETURNING id
		)
		SELECT id, false FROM changed UNION ALL SELECT id, true FROM inserted`
)

// importScope is the run a chunk belongs to and its mode, which decides
// which of the chunk's rows it writes.
type importScope struct {
	importID string
	run      int
	mode     string
}

// upsertImported writes the customers the run's mode keeps, in order (a
// later row of the same customer merges into what an earlier one wrote),
// and counts those created and the rows skipped for the mode.
func upsertImported(ctx context.Context, tx pgx.Tx, workspaceID, key string, scope importScope, customers []ImportedCustomer) (created int, ids []string, skipped int, err error) {
	if len(customers) == 0 {
		return 0, nil, 0, nil
	}
	if err := lockImported(ctx, tx, workspaceID, key, customers); err != nil {
		return 0, nil, 0, err
	}
	kept, err := keepForMode(ctx, tx, workspaceID, key, scope, customers)
	if err != nil {
		return 0, nil, 0, err
	}
	skipped, customers = len(customers)-len(kept), kept
	if len(customers) == 0 {
		return 0, nil, skipped, nil
	}
	// A create_only run writes only customers it creates: a new user id
	// that would take a profile was skipped.
	if key == ImportKeyUserID && scope.mode != ImportCreateOnly {
		if err := adoptProfilesByEmail(ctx, tx, workspaceID, customers); err != nil {
			return 0, nil, 0, err
		}
	}
	b := &pgx.Batch{}
	for _, c := range customers {
		attrs := c.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		raw, err := json.Marshal(attrs)
		if err != nil {
			return 0, nil, 0, fmt.Errorf("encode attributes: %w", err)
		}
		phone := NormalizePhone(c.Phone)
		// An attribute that stood for a field the row sets (an identify's
		// "email": 42 kept as one) goes, as when an identify sets it.
		set := []string{} // not nil: jsonb - NULL is NULL
		for _, f := range [...]struct{ name, v string }{{"email", c.Email}, {"phone", phone}, {"timezone", c.Timezone}} {
			if f.v != "" {
				set = append(set, f.name)
			}
		}
		if key == ImportKeyUserID {
			b.Queue(upsertByUserID, NewID("cus"), workspaceID, c.ExternalID, c.Email, phone, c.Timezone, raw, set)
		} else {
			b.Queue(upsertByEmail, NewID("cus"), workspaceID, c.Email, phone, c.Timezone, raw, set)
		}
	}
	br := tx.SendBatch(ctx, b)
	ids = make([]string, 0, len(customers))
	for _, c := range customers {
		var id string
		var isNew bool
		if err := br.QueryRow().Scan(&id, &isNew); err != nil {
			_ = br.Close()
			return 0, nil, 0, fmt.Errorf("upsert the customer of row %d: %w", c.Row, err)
		}
		if isNew {
			created++
		}
		ids = append(ids, id)
	}
	if err := br.Close(); err != nil {
		return 0, nil, 0, fmt.Errorf("upsert imported customers: %w", err)
	}
	return created, ids, skipped, nil
}

// Whether the customer a row of an import names exists.
var (
	// A user id's customer, also through a previous user id or an id an
	// alias left (customerOfUser).
	importUserIDKnown = `SELECT EXISTS (` + customerOfUserOrAliasLeft + `)`
	// A profile known only by the address, which a new user id on a row
	// with it would take (adoptProfilesByEmail).
	importAddressAdoptable = `SELECT EXISTS (SELECT 1 FROM customers WHERE workspace_id = $1::text AND id = ` +
		oldestOfAddress("$1::text", "$2::text", "AND external_id IS NULL") + `)`
	// Any customer with the address (an import by email).
	importAddressKnown = `SELECT EXISTS (SELECT 1 FROM customers WHERE workspace_id = $1::text AND id = ` +
		oldestOfAddress("$1::text", "$2::text", "") + `)`
)

// keepForMode returns the rows the run's mode writes: update_only those of
// customers who exist, create_only those of customers who do not (the run
// creates them). A customer key (user id, or address for an import by
// email) is judged the first time the run meets it and the decision kept
// (import_run_keys), so that all its rows, in any chunk, go the same way; a
// customer that appears while the run goes on does not change it. A new
// user id whose row's address names a profile without a user id counts as
// existing (it would take that profile), unless an earlier user id of the
// run took the address first. The caller holds the rows' identity locks.
func keepForMode(ctx context.Context, tx pgx.Tx, workspaceID, key string, scope importScope, customers []ImportedCustomer) ([]ImportedCustomer, error) {
	if scope.mode != ImportCreateOnly && scope.mode != ImportUpdateOnly {
		return customers, nil
	}
	identity := func(c ImportedCustomer) string {
		if key == ImportKeyUserID {
			return "user_id\x00" + c.ExternalID
		}
		return "email\x00" + strings.ToLower(c.Email)
	}
	claim := func(address string) string { return "address\x00" + strings.ToLower(address) }
	// The address a new user id would take a profile of: its first row's
	// with one, as mayAdopt picks it, in mayAdopt's order.
	adopting := map[string]string{}
	var claimants []string
	if key == ImportKeyUserID {
		for _, c := range mayAdopt(customers) {
			adopting[identity(c)] = c.Email
			claimants = append(claimants, identity(c))
		}
	}
	var keys []string
	first := map[string]ImportedCustomer{}
	for _, c := range customers {
		if _, ok := first[identity(c)]; !ok {
			first[identity(c)] = c
			keys = append(keys, identity(c))
		}
	}
	asked := append([]string{}, keys...)
	for _, id := range claimants {
		asked = append(asked, claim(adopting[id]))
	}
	decided, err := runKeyDecisions(ctx, tx, workspaceID, scope, asked)
	if err != nil {
		return nil, err
	}

	// The keys met for the first time: does their customer exist?
	known, adoptable := map[string]bool{}, map[string]bool{}
	type probe struct {
		into map[string]bool
		key  string
	}
	var probes []probe
	b := &pgx.Batch{}
	for _, k := range keys {
		if _, ok := decided[k]; ok {
			continue
		}
		c := first[k]
		if key == ImportKeyUserID {
			b.Queue(importUserIDKnown, workspaceID, c.ExternalID)
			probes = append(probes, probe{known, k})
			if a := adopting[k]; a != "" {
				b.Queue(importAddressAdoptable, workspaceID, a)
				probes = append(probes, probe{adoptable, k})
			}
		} else {
			b.Queue(importAddressKnown, workspaceID, c.Email)
			probes = append(probes, probe{known, k})
		}
	}
	if len(probes) > 0 {
		br := tx.SendBatch(ctx, b)
		for _, p := range probes {
			var v bool
			if err := br.QueryRow().Scan(&v); err != nil {
				_ = br.Close()
				return nil, fmt.Errorf("find the customers of imported rows: %w", err)
			}
			p.into[p.key] = v
		}
		if err := br.Close(); err != nil {
			return nil, fmt.Errorf("find the customers of imported rows: %w", err)
		}
	}
	var made []string
	decide := func(k string, kept bool) {
		decided[k] = kept
		made = append(made, k)
	}
	// An address goes to the first new user id of the run that would take
	// its profile.
	for _, id := range claimants {
		if _, ok := decided[id]; ok || known[id] || !adoptable[id] {
			continue
		}
		if _, taken := decided[claim(adopting[id])]; taken {
			continue
		}
		decide(claim(adopting[id]), false)
		known[id] = true
	}
	for _, k := range keys {
		if _, ok := decided[k]; !ok {
			decide(k, known[k] == (scope.mode == ImportUpdateOnly))
		}
	}
	if err := recordRunKeyDecisions(ctx, tx, workspaceID, scope, made, decided); err != nil {
		return nil, err
	}
	out := make([]ImportedCustomer, 0, len(customers))
	for _, c := range customers {
		if decided[identity(c)] {
			out = append(out, c)
		}
	}
	return out, nil
}

// runKeyDigest is how import_run_keys keeps a customer key.
func runKeyDigest(k string) []byte {
	d := sha256.Sum256([]byte(k))
	return d[:]
}

// runKeyDecisions are the run's decisions on those of keys it has met.
func runKeyDecisions(ctx context.Context, tx pgx.Tx, workspaceID string, scope importScope, keys []string) (map[string]bool, error) {
	byDigest := make(map[string]string, len(keys))
	digests := make([][]byte, len(keys))
	for i, k := range keys {
		digests[i] = runKeyDigest(k)
		byDigest[string(digests[i])] = k
	}
	rows, err := tx.Query(ctx, `
		SELECT key_digest, kept FROM import_run_keys
		WHERE workspace_id = $1 AND import_id = $2 AND run = $3 AND key_digest = ANY($4::bytea[])`,
		workspaceID, scope.importID, scope.run, digests)
	if err != nil {
		return nil, fmt.Errorf("read the run's decisions on customers: %w", err)
	}
	out := map[string]bool{}
	var d []byte
	var kept bool
	_, err = pgx.ForEachRow(rows, []any{&d, &kept}, func() error {
		out[byDigest[string(d)]] = kept
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the run's decisions on customers: %w", err)
	}
	return out, nil
}

// recordRunKeyDecisions keeps the decisions made on keys met for the first
// time (with the chunk: a chunk rolled back takes them back).
func recordRunKeyDecisions(ctx context.Context, tx pgx.Tx, workspaceID string, scope importScope, keys []string, decided map[string]bool) error {
	if len(keys) == 0 {
		return nil
	}
	digests := make([][]byte, len(keys))
	kept := make([]bool, len(keys))
	for i, k := range keys {
		digests[i], kept[i] = runKeyDigest(k), decided[k]
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO import_run_keys (workspace_id, import_id, run, key_digest, kept)
		SELECT $1, $2, $3, d, k FROM unnest($4::bytea[], $5::bool[]) AS t(d, k)`,
		workspaceID, scope.importID, scope.run, digests, kept)
	if err != nil {
		return fmt.Errorf("record the run's decisions on customers: %w", err)
	}
	return nil
}

// lockImported takes the identity locks ingest takes, in one order: each
// row's user id, and the address of a row that may give its user id the
// profile known by that address (mayAdopt), or each row's address.
func lockImported(ctx context.Context, tx pgx.Tx, workspaceID, key string, customers []ImportedCustomer) error {
	set := map[string]bool{}
	for _, c := range customers {
		if key == ImportKeyUserID {
			set[workspaceID+"/"+c.ExternalID] = true
		} else {
			set[emailLock(workspaceID, c.Email)] = true
		}
	}
	if key == ImportKeyUserID {
		for _, c := range mayAdopt(customers) {
			set[emailLock(workspaceID, c.Email)] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k`, keys); err != nil {
		return fmt.Errorf("lock imported identities: %w", err)
	}
	return nil
}

// mayAdopt are the rows of an import by user id that may give their user
// id a profile known only by its address: the first row of each user id
// that has an email (the adoption comes before any row is written, so the
// user id's other rows then update the profile it took).
func mayAdopt(customers []ImportedCustomer) []ImportedCustomer {
	var out []ImportedCustomer
	seen := map[string]bool{}
	for _, c := range customers {
		if !seen[c.ExternalID] && c.Email != "" {
			out = append(out, c)
			seen[c.ExternalID] = true
		}
	}
	return out
}

// adoptProfilesByEmail gives each user id the workspace does not know yet,
// on a row with an email, the oldest profile of that address that has no
// user id, as identify does (resolveIdentity); the row's upsert then
// updates that profile, and it counts as updated. Rows are taken in order:
// of two new user ids with one address, the first takes the profile.
func adoptProfilesByEmail(ctx context.Context, tx pgx.Tx, workspaceID string, customers []ImportedCustomer) error {
	candidates := mayAdopt(customers)
	if len(candidates) == 0 {
		return nil
	}
	fresh, err := newUserIDs(ctx, tx, workspaceID, candidates)
	if err != nil || len(fresh) == 0 {
		return err
	}
	b := &pgx.Batch{}
	for _, c := range fresh {
		b.Queue(adoptProfileByEmail, workspaceID, c.Email, c.ExternalID)
	}
	br := tx.SendBatch(ctx, b)
	for _, c := range fresh {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("give row %d's user id the profile of its email: %w", c.Row, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("give new user ids the profiles of their emails: %w", err)
	}
	return nil
}

// newUserIDs are the rows whose user id names no customer: none has it as
// its external id or a previous one, nor as an id an alias left
// (customerOfUser).
func newUserIDs(ctx context.Context, tx pgx.Tx, workspaceID string, rows []ImportedCustomer) ([]ImportedCustomer, error) {
	b := &pgx.Batch{}
	for _, c := range rows {
		b.Queue(customerOfUserOrAliasLeft, workspaceID, c.ExternalID)
	}
	br := tx.SendBatch(ctx, b)
	var fresh []ImportedCustomer
	for _, c := range rows {
		var id string
		err := br.QueryRow().Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			fresh = append(fresh, c)
			continue
		}
		if err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("find the customer of row %d's user id: %w", c.Row, err)
		}
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("find the customers of imported user ids: %w", err)
	}
	return fresh, nil
}

// insertImportErrors records row errors once per row (a rerun overwrites).
func insertImportErrors(ctx context.Context, tx pgx.Tx, workspaceID, id string, errs []ImportRowError) error {
	if len(errs) == 0 {
		return nil
	}
	rows := make([]int, len(errs))
	cols := make([]string, len(errs))
	msgs := make([]string, len(errs))
	for i, e := range errs {
		rows[i], cols[i], msgs[i] = e.Row, e.Column, e.Message
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO import_errors (workspace_id, import_id, row_number, "column", message)
		SELECT $1, $2, r, c, m FROM unnest($3::int[], $4::text[], $5::text[]) AS t(r, c, m)
		ON CONFLICT (import_id, row_number) DO UPDATE SET "column" = EXCLUDED."column", message = EXCLUDED.message`,
		workspaceID, id, rows, cols, msgs)
	if err != nil {
		return fmt.Errorf("record import row errors: %w", err)
	}
	return nil
}
