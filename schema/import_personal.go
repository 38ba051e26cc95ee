package schema

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Uploaded CSV files stay stored for reruns, so a customer's row in one is
// personal data a GDPR export shows and an erasure blanks. A row names the
// customer when any of its fields is, or holds as a word ("Ada
// <ada@example.com>"), the customer's email address (in any case), or when the column the import's mapping reads as user_id or phone
// holds one of the customer's user ids or their phone number (written in
// any of the forms NormalizePhone reads, as imports store it) — ids only in
// those columns, as a short id such as "3" would otherwise match every
// count of 3 in the file.

// Column names (compared without case, spaces or punctuation) that an
// upload's suggested mapping reads as the user id and the phone number; an
// import never started has no mapping, and these columns stand for it.
var (
	ImportUserIDColumns = []string{"userid", "externalid", "customerid", "id", "uid"}
	ImportPhoneColumns  = []string{"phone", "phonenumber", "mobile", "mobilephone", "mobilenumber", "cellphone", "telephone", "tel"}
)

// ExportedImportRow is a row of a stored import file that names the
// customer, by column.
type ExportedImportRow struct {
	ImportID string            `json:"import_id"`
	FileName string            `json:"file_name"`
	Row      int               `json:"row"`
	Fields   map[string]string `json:"fields"`
}

// erasedImportRow is the error message of a failed row erased with its
// customer (the original message may quote the row's values).
const erasedImportRow = "the row was erased with its customer"

// importRowsOf selects the rows of one import that name the customer; its
// arguments come from importRowFilter.args.
const importRowsOf = `workspace_id = $1 AND import_id = $2 AND (
	EXISTS (SELECT 1 FROM unnest(fields) f, unnest($3::text[]) e
		WHERE lower(btrim(f)) = e OR (position(e IN lower(f)) > 0
			AND lower(f) ~ ('(^|[^a-z0-9._%+-])' || regexp_replace(e, '([.+*?^$()\[\]{}|\\-])', '\\\1', 'g') || '($|[^a-z0-9-])')))
	OR btrim(fields[$4::int]) = ANY($5::text[])
	OR btrim(fields[$6::int]) = $7::text
	OR regexp_replace(btrim(fields[$6::int]), '[-(). ]', '', 'g') = $7::text)`

// importRowFilter is an import whose rows are searched for a customer.
type importRowFilter struct {
	id, fileName string
	headers      []string
	// userCol and phoneCol are the mapped columns' 1-based positions, 0
	// when the mapping has none.
	userCol, phoneCol int
}

// customerKeys are the values that identify a customer in a file.
type customerKeys struct {
	ids, emails []string
	phone       string
}

func keysOf(c Customer) customerKeys {
	var k customerKeys
	for _, id := range append([]string{deref(c.ExternalID)}, c.PreviousUserIDs...) {
		if id = strings.TrimSpace(id); id != "" {
			k.ids = append(k.ids, id)
		}
	}
	if e := NormalizeAddress(ChannelEmail, deref(c.Email)); e != "" {
		k.emails = append(k.emails, e)
	}
	k.phone = strings.TrimSpace(deref(c.Phone))
	return k
}

func (f importRowFilter) args(workspaceID string, k customerKeys) []any {
	phoneCol := f.phoneCol
	if k.phone == "" {
		phoneCol = 0
	}
	return []any{workspaceID, f.id, emptyIfNil(k.emails), f.userCol, emptyIfNil(k.ids), phoneCol, k.phone}
}

// importRowFilters reads the workspace's imports and where their mappings
// put the user id and the phone number.
func importRowFilters(ctx context.Context, tx pgx.Tx, workspaceID string) ([]importRowFilter, error) {
	rows, err := tx.Query(ctx, `SELECT id, file_name, headers, mapping FROM imports WHERE workspace_id = $1 ORDER BY created_at, id`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("query imports: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (importRowFilter, error) {
		var f importRowFilter
		var mapping []byte
		if err := r.Scan(&f.id, &f.fileName, &f.headers, &mapping); err != nil {
			return f, err
		}
		var m struct {
			UserID string `json:"user_id"`
			Phone  string `json:"phone"`
		}
		if len(mapping) > 0 {
			if err := json.Unmarshal(mapping, &m); err != nil {
				return f, fmt.Errorf("import %s: mapping: %w", f.id, err)
			}
		}
		if len(mapping) == 0 {
			m.UserID, m.Phone = guessedColumn(f.headers, ImportUserIDColumns), guessedColumn(f.headers, ImportPhoneColumns)
		}
		f.userCol = columnPosition(f.headers, m.UserID)
		f.phoneCol = columnPosition(f.headers, m.Phone)
		return f, nil
	})
}

// ColumnKey is a column name as the synonym lists spell it: lower case,
// letters and digits only ("User ID" is "userid").
func ColumnKey(h string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(h))
}

// guessedColumn is the first header that is one of names, compared without
// case, spaces or punctuation (in the order of names).
func guessedColumn(headers, names []string) string {
	for _, want := range names {
		for _, h := range headers {
			if ColumnKey(h) == want {
				return h
			}
		}
	}
	return ""
}

func columnPosition(headers []string, name string) int {
	if name == "" {
		return 0
	}
	return slices.Index(headers, name) + 1
}

// exportImportRows reads the stored import rows that name the customer.
func exportImportRows(ctx context.Context, tx pgx.Tx, workspaceID string, c Customer) ([]ExportedImportRow, error) {
	filters, err := importRowFilters(ctx, tx, workspaceID)
	if err != nil {
		return nil, err
	}
	k := keysOf(c)
	var out []ExportedImportRow
	for _, f := range filters {
		rows, err := tx.Query(ctx, `SELECT row_number, fields FROM import_rows WHERE `+importRowsOf+` ORDER BY row_number`, f.args(workspaceID, k)...)
		if err != nil {
			return nil, fmt.Errorf("query import rows: %w", err)
		}
		var n int
		var fields []string
		_, err = pgx.ForEachRow(rows, []any{&n, &fields}, func() error {
			row := ExportedImportRow{ImportID: f.id, FileName: f.fileName, Row: n, Fields: map[string]string{}}
			for i, v := range fields {
				name := fmt.Sprintf("column %d", i+1)
				if i < len(f.headers) {
					name = f.headers[i]
				}
				row.Fields[name] = v
			}
			out = append(out, row)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read import rows: %w", err)
		}
	}
	return out, nil
}

// eraseImportRows blanks every field of the stored import rows that name
// the customer (the rows stay, so the file's numbering does too: a rerun
// reports them as rows without a user id) and the error messages of those
// that had failed. It returns how many rows it blanked.
func eraseImportRows(ctx context.Context, tx pgx.Tx, workspaceID string, c Customer) (int64, error) {
	filters, err := importRowFilters(ctx, tx, workspaceID)
	if err != nil {
		return 0, err
	}
	k := keysOf(c)
	var total int64
	for _, f := range filters {
		var n int64
		err := tx.QueryRow(ctx, `
			WITH blanked AS (
				UPDATE import_rows SET fields = array_fill(''::text, ARRAY[cardinality(fields)])
				WHERE `+importRowsOf+` RETURNING row_number),
			errors AS (
				UPDATE import_errors e SET message = $8 FROM blanked b
				WHERE e.workspace_id = $1 AND e.import_id = $2 AND e.row_number = b.row_number)
			SELECT count(*) FROM blanked`, append(f.args(workspaceID, k), erasedImportRow)...).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("blank import rows of %s: %w", f.id, err)
		}
		total += n
	}
	return total, nil
}
