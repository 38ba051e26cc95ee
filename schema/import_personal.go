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
// <ada@example.com>"), one of the customer's email addresses (in any case), or when the column the import's mapping reads as user_id or phone
// holds one of the customer's user ids or phone numbers (written in
// any of the forms NormalizePhone reads, as imports store it) — ids only in
// those columns, as a short id such as "3" would otherwise match every
// count of 3 in the file.
//
// The customer's addresses and numbers are the current ones and those they
// had before, as far as Herald knows them: the email and phone traits of
// their identify events (kept under properties.traits since identify events
// keep their traits; context.traits too, where a sender puts them) and the
// recipients of their email and SMS deliveries. A file imported before the
// customer changed address names them by the old one. An earlier address
// that another customer of the workspace holds now is left out: a row with
// it may be that customer's, and is theirs to export and erase (as the
// current rules have it: a row naming someone's current address is theirs).
// An address two customers once had, and neither has now, stays with both.
//
// A row's key names whose it is first: a row whose user id column holds
// another customer's user id (current or previous, or an id an alias left
// that names them: customerOfUser), or, in an import by
// email (no user id column), whose email column holds another customer's
// current address, is that customer's, whatever address or number of this
// customer its other cells hold (two people of a file may share a phone
// number, or one's email be written in the other's row).

// Column names (compared without case, spaces or punctuation) that an
// upload's suggested mapping reads as the user id, the email and the phone
// number; an import never started has no mapping, and these columns stand
// for it.
var (
	ImportUserIDColumns = []string{"userid", "externalid", "customerid", "id", "uid"}
	ImportEmailColumns  = []string{"email", "emailaddress", "mail"}
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
// arguments come from importRowFilter.args. A row whose key (the user id
// column; the email column of an import by email) is another customer's
// is that customer's, whatever address or number of this one it holds.
var importRowsOf = `workspace_id = $1 AND import_id = $2 AND (
	btrim(fields[$4::int]) = ANY($5::text[])
	OR (EXISTS (SELECT 1 FROM unnest(fields) f, unnest($3::text[]) e
			WHERE lower(btrim(f)) = e OR (position(e IN lower(f)) > 0
				AND lower(f) ~ ('(^|[^a-z0-9._%+-])' || regexp_replace(e, '([.+*?^$()\[\]{}|\\-])', '\\\1', 'g') || '($|[^a-z0-9-])')))
		OR btrim(fields[$6::int]) = ANY($7::text[])
		OR regexp_replace(btrim(fields[$6::int]), '[-(). ]', '', 'g') = ANY($7::text[]))
	AND NOT EXISTS (
		SELECT 1 FROM customers c WHERE c.workspace_id = $1 AND c.external_id = btrim(fields[$4::int])
		UNION ALL
		SELECT 1 FROM customer_user_aliases a WHERE a.workspace_id = $1 AND a.user_id = btrim(fields[$4::int])
		UNION ALL
		SELECT 1 FROM (` + ownerOfAliasedID("$1", "btrim(fields[$4::int])") + `) o
		UNION ALL
		SELECT 1 FROM customers c WHERE $4::int = 0 AND c.workspace_id = $1 AND c.email IS NOT NULL
			AND lower(c.email) = lower(btrim(fields[$8::int])) AND lower(btrim(fields[$8::int])) <> ALL($3::text[])))`

// importRowFilter is an import whose rows are searched for a customer.
type importRowFilter struct {
	id, fileName string
	headers      []string
	// userCol, phoneCol and emailCol are the mapped columns' 1-based
	// positions, 0 when the mapping has none.
	userCol, phoneCol, emailCol int
}

// customerKeys are the values that identify a customer in a file.
type customerKeys struct {
	ids, emails, phones []string
}

// pastAddresses reads the email addresses and phone numbers a customer's
// identify events and deliveries name, by channel (ChannelEmail,
// ChannelSMS), as sent.
const pastAddresses = `
	SELECT k.channel, k.address FROM events e
		CROSS JOIN LATERAL (VALUES (e.properties->'traits'), (e.context->'traits')) AS t(traits)
		CROSS JOIN LATERAL (VALUES ('email', t.traits->'email'), ('sms', t.traits->'phone')) AS v(channel, value)
		CROSS JOIN LATERAL (SELECT v.channel, v.value #>> '{}' AS address) AS k
		WHERE e.workspace_id = $1 AND e.customer_id = $2 AND e.type = 'identify'
			AND jsonb_typeof(t.traits) = 'object' AND jsonb_typeof(v.value) IN ('string', 'number')
	UNION
	SELECT channel, recipient FROM deliveries
		WHERE workspace_id = $1 AND customer_id = $2 AND channel IN ('email', 'sms') AND recipient <> ''`

// keysOf gathers the values that identify the customer in a file: their
// user ids, and their email addresses and phone numbers now and before
// (see the top of this file). Run it before an erasure deletes the events
// and blanks the deliveries it reads.
func keysOf(ctx context.Context, tx pgx.Tx, workspaceID string, c Customer) (customerKeys, error) {
	var k customerKeys
	ids := append([]string{deref(c.ExternalID)}, c.PreviousUserIDs...)
	if deref(c.ExternalID) != "" {
		// An id an alias left names the customer in a user id column too
		// (upsertByUserID, as customerOfUser for events) unless another
		// customer has it as a user id.
		rows, err := tx.Query(ctx, `SELECT a.anonymous_id FROM customer_anonymous_ids a
			WHERE a.workspace_id = $1 AND a.customer_id = $2 AND a.from_alias
				AND NOT EXISTS (SELECT 1 FROM customers o WHERE o.workspace_id = $1 AND o.external_id = a.anonymous_id)
				AND NOT EXISTS (SELECT 1 FROM customer_user_aliases u WHERE u.workspace_id = $1 AND u.user_id = a.anonymous_id)
			ORDER BY a.anonymous_id`, workspaceID, c.ID)
		if err != nil {
			return k, fmt.Errorf("query the ids aliases left: %w", err)
		}
		left, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return k, fmt.Errorf("read the ids aliases left: %w", err)
		}
		ids = append(ids, left...)
	}
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" {
			k.ids = append(k.ids, id)
		}
	}
	current := map[string]string{ChannelEmail: NormalizeAddress(ChannelEmail, deref(c.Email)), ChannelSMS: strings.TrimSpace(deref(c.Phone))}
	past := map[string][]string{}
	rows, err := tx.Query(ctx, pastAddresses, workspaceID, c.ID)
	if err != nil {
		return k, fmt.Errorf("query past addresses: %w", err)
	}
	var channel, address string
	if _, err := pgx.ForEachRow(rows, []any{&channel, &address}, func() error {
		if a := NormalizeAddress(channel, address); a != "" && a != current[channel] && !slices.Contains(past[channel], a) {
			past[channel] = append(past[channel], a)
		}
		return nil
	}); err != nil {
		return k, fmt.Errorf("read past addresses: %w", err)
	}
	if len(past[ChannelEmail])+len(past[ChannelSMS]) > 0 {
		// Those another customer holds now are theirs.
		rows, err := tx.Query(ctx, `
			SELECT 'email', lower(email) FROM customers WHERE workspace_id = $1 AND id <> $2 AND lower(email) = ANY($3::text[])
			UNION SELECT 'sms', phone FROM customers WHERE workspace_id = $1 AND id <> $2 AND phone = ANY($4::text[])`,
			workspaceID, c.ID, emptyIfNil(past[ChannelEmail]), emptyIfNil(past[ChannelSMS]))
		if err != nil {
			return k, fmt.Errorf("query addresses of other customers: %w", err)
		}
		if _, err := pgx.ForEachRow(rows, []any{&channel, &address}, func() error {
			past[channel] = slices.DeleteFunc(past[channel], func(a string) bool { return a == address })
			return nil
		}); err != nil {
			return k, fmt.Errorf("read addresses of other customers: %w", err)
		}
	}
	for _, ch := range []string{ChannelEmail, ChannelSMS} {
		list := past[ch]
		if current[ch] != "" {
			list = append([]string{current[ch]}, list...)
		}
		if ch == ChannelEmail {
			k.emails = list
		} else {
			k.phones = list
		}
	}
	return k, nil
}

// suppressible lists the customer's addresses and numbers as a
// suppression names them: by channel, as written, and as their digest.
func (k customerKeys) suppressible(workspaceID string) (channels, plain, digests []string) {
	channels, plain, digests = []string{}, []string{}, []string{}
	for ch, list := range map[string][]string{ChannelEmail: k.emails, ChannelSMS: k.phones} {
		for _, a := range list {
			channels, plain = append(channels, ch), append(plain, NormalizeAddress(ch, a))
			digests = append(digests, AddressDigest(workspaceID, ch, a))
		}
	}
	return channels, plain, digests
}

func (f importRowFilter) args(workspaceID string, k customerKeys) []any {
	return []any{workspaceID, f.id, emptyIfNil(k.emails), f.userCol, emptyIfNil(k.ids), f.phoneCol, emptyIfNil(k.phones), f.emailCol}
}

// importRowFilters reads the workspace's imports and where their mappings
// put the user id, the email and the phone number.
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
			Email  string `json:"email"`
			Phone  string `json:"phone"`
		}
		if len(mapping) > 0 {
			if err := json.Unmarshal(mapping, &m); err != nil {
				return f, fmt.Errorf("import %s: mapping: %w", f.id, err)
			}
		}
		if len(mapping) == 0 {
			m.UserID, m.Phone = guessedColumn(f.headers, ImportUserIDColumns), guessedColumn(f.headers, ImportPhoneColumns)
			m.Email = guessedColumn(f.headers, ImportEmailColumns)
		}
		f.userCol = columnPosition(f.headers, m.UserID)
		f.phoneCol = columnPosition(f.headers, m.Phone)
		f.emailCol = columnPosition(f.headers, m.Email)
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

// exportImportRows hands the stored import rows that name the customer to
// emit, one by one.
func exportImportRows(ctx context.Context, tx pgx.Tx, workspaceID string, k customerKeys, emit func(ExportedImportRow) error) error {
	filters, err := importRowFilters(ctx, tx, workspaceID)
	if err != nil {
		return err
	}
	for _, f := range filters {
		rows, err := tx.Query(ctx, `SELECT row_number, fields FROM import_rows WHERE `+importRowsOf+` ORDER BY row_number`, f.args(workspaceID, k)...)
		if err != nil {
			return fmt.Errorf("query import rows: %w", err)
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
			return emit(row)
		})
		if err != nil {
			return fmt.Errorf("read import rows: %w", err)
		}
	}
	return nil
}

// eraseImportRows blanks every field of the stored import rows that name
// the customer (the rows stay, so the file's numbering does too: a rerun
// reports them as rows without a user id) and the error messages of those
// that had failed. It returns how many rows it blanked.
func eraseImportRows(ctx context.Context, tx pgx.Tx, workspaceID string, k customerKeys) (int64, error) {
	filters, err := importRowFilters(ctx, tx, workspaceID)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, f := range filters {
		var n int64
		err := tx.QueryRow(ctx, `
			WITH blanked AS (
				UPDATE import_rows SET fields = array_fill(''::text, ARRAY[cardinality(fields)])
				WHERE `+importRowsOf+` RETURNING row_number),
			errors AS (
				UPDATE import_errors e SET message = $9 FROM blanked b
				WHERE e.workspace_id = $1 AND e.import_id = $2 AND e.row_number = b.row_number)
			SELECT count(*) FROM blanked`, append(f.args(workspaceID, k), erasedImportRow)...).Scan(&n)
		if err != nil {
			return 0, fmt.Errorf("blank import rows of %s: %w", f.id, err)
		}
		total += n
	}
	return total, nil
}
