package schema

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// queryer is what the read queries below need: the pool or a transaction.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// CustomerCursor is a keyset position in a customer list: the creation time
// and id of the last customer of the previous page.
type CustomerCursor struct {
	CreatedAt time.Time
	ID        string
}

// CustomerSearch selects customers for the customers list (DESIGN §11).
type CustomerSearch struct {
	// Query matches the start of the external id or of the email (in any
	// case), or the internal id, a previous user id, an anonymous id or the
	// phone exactly; the internal id of a profile merged away matches the
	// survivor. Empty matches everyone.
	Query string
	// Attributes filters on attribute equality: every named attribute must
	// equal one of its values. A value that reads as a JSON number, boolean
	// or null also matches that typed value ("3" matches 3 and "3").
	Attributes map[string][]string
	// Limit is the page size.
	Limit int
	// After continues a list after this position; nil starts at the newest.
	After *CustomerCursor
}

const customerColumns = `c.id, c.external_id, c.email, c.phone, c.timezone, c.attributes, c.created_at, c.updated_at,
	coalesce((SELECT array_agg(a.anonymous_id ORDER BY a.created_at, a.anonymous_id) FROM customer_anonymous_ids a
	          WHERE a.workspace_id = c.workspace_id AND a.customer_id = c.id), '{}'),
	coalesce((SELECT array_agg(u.user_id ORDER BY u.created_at, u.user_id) FROM customer_user_aliases u
	          WHERE u.workspace_id = c.workspace_id AND u.customer_id = c.id), '{}')`

func scanCustomer(r pgx.Row) (Customer, error) {
	var c Customer
	err := r.Scan(&c.ID, &c.ExternalID, &c.Email, &c.Phone, &c.Timezone, &c.Attributes, &c.CreatedAt, &c.UpdatedAt,
		&c.AnonymousIDs, &c.PreviousUserIDs)
	return c, err
}

// SearchCustomers lists the workspace's customers matching f, newest first.
// The statement is built from the filters that are set so that each one can
// use its index (the attribute filter the GIN index on attributes). A query
// that matches many customers (a prefix such as "s") is looked for along the
// newest-first index first, a bounded number of customers, so that a page
// reads about as many customers as it shows rather than every match; when
// that does not fill the page (the matches are rare among the newest
// customers, or the list is at its end) the matches are gathered instead.
func (s *Store) SearchCustomers(ctx context.Context, workspaceID string, f CustomerSearch) ([]Customer, error) {
	plan, err := s.customerSearch(ctx, workspaceID, f)
	if err != nil {
		return nil, err
	}
	for k, st := range plan {
		// An unnamed statement is planned with the values at hand, so a
		// rare attribute value gets the GIN index and a common one the
		// newest-first index; a cached generic plan would pick one for all.
		rows, err := s.pool.Query(ctx, st.SQL, append([]any{pgx.QueryExecModeExec}, st.Args...)...)
		if err != nil {
			return nil, fmt.Errorf("search customers: %w", err)
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Customer, error) { return scanCustomer(r) })
		if err != nil || k == len(plan)-1 || len(found) >= f.Limit {
			return found, err
		}
	}
	return nil, nil
}

// SearchStatement is a statement of a customer search and its arguments.
type SearchStatement struct {
	SQL  string
	Args []any
}

// customerSearch is what SearchCustomers runs for f: the statements to try
// in turn until one fills the page (the last one's answer is the answer).
// It first counts (up to searchCandidatesCap+1) the customers f's query
// matches: past that, a bounded walk of the newest-first index comes first.
func (s *Store) customerSearch(ctx context.Context, workspaceID string, f CustomerSearch) ([]SearchStatement, error) {
	broad := false
	if f.Query != "" {
		args := []any{workspaceID}
		candidates := customerCandidates(f.Query, func(v any) string {
			args = append(args, v)
			return "$" + strconv.Itoa(len(args))
		})
		var n int
		err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (`+candidates+` LIMIT `+strconv.Itoa(searchCandidatesCap+1)+`) m`,
			args...).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("search customers: %w", err)
		}
		broad = n > searchCandidatesCap
	}
	var plan []SearchStatement
	if broad {
		sql, args := customerSearchSQL(workspaceID, f, true)
		plan = append(plan, SearchStatement{sql, args})
	}
	sql, args := customerSearchSQL(workspaceID, f, false)
	return append(plan, SearchStatement{sql, args}), nil
}

// searchWalk is how many of the newest customers (per customer of the page,
// at least 1,000) a search matching many of them walks before it gathers
// the matches instead.
func searchWalk(limit int) int { return max(20*limit, 1000) }

// searchCandidatesCap is how many customers a query may match for a search
// to gather them all and sort them; past it the search walks the
// newest-first index with the query as a filter.
const searchCandidatesCap = 1000

// customerCandidates is a statement listing the ids of the customers of
// workspace $1 that q matches, each probe on its index (arg adds a
// parameter and names it). User ids and emails match by prefix (what
// someone types while looking for a customer); the probes stay on the
// indexes, whose collation is C in Herald's own clusters.
func customerCandidates(q string, arg func(any) string) string {
	exact, phone, prefix, lowerPrefix := searchArgs(q, arg)
	return `SELECT id FROM customers WHERE workspace_id = $1 AND id = ` + exact + `
		UNION ALL SELECT id FROM customers WHERE workspace_id = $1 AND external_id LIKE ` + prefix + `
		UNION ALL SELECT customer_id FROM customer_user_aliases WHERE workspace_id = $1 AND user_id = ` + exact + `
		UNION ALL SELECT id FROM customers WHERE workspace_id = $1 AND email IS NOT NULL AND lower(email) LIKE ` + lowerPrefix + `
		UNION ALL SELECT id FROM customers WHERE workspace_id = $1 AND phone IN (` + exact + `, ` + phone + `)
		UNION ALL SELECT customer_id FROM customer_anonymous_ids WHERE workspace_id = $1 AND anonymous_id = ` + exact + `
		UNION ALL SELECT into_id FROM customer_merges WHERE workspace_id = $1 AND from_id = ` + exact
}

// searchArgs adds the parameters a query is matched with: as it is, as a
// phone number, and as prefixes of user ids and (lower-case) emails.
func searchArgs(q string, arg func(any) string) (exact, phone, prefix, lowerPrefix string) {
	return arg(q), arg(NormalizePhone(q)), arg(likePrefix(q)), arg(likePrefix(strings.ToLower(q)))
}

// customerSearchSQL is SearchCustomers' statement and its arguments; broad:
// the query matches more than searchCandidatesCap customers.
func customerSearchSQL(workspaceID string, f CustomerSearch, broad bool) (string, []any) {
	args := []any{workspaceID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"c.workspace_id = $1"}
	from := "customers c"
	switch {
	case f.Query != "" && broad:
		// Each row tested as the newest-first index yields it; the ids
		// found through other tables are gathered once (a hashed subplan).
		exact, phone, prefix, lowerPrefix := searchArgs(f.Query, arg)
		where = append(where, `(c.id = `+exact+` OR c.external_id LIKE `+prefix+`
			OR (c.email IS NOT NULL AND lower(c.email) LIKE `+lowerPrefix+`) OR c.phone IN (`+exact+`, `+phone+`)
			OR c.id IN (
				SELECT customer_id FROM customer_user_aliases WHERE workspace_id = $1 AND user_id = `+exact+`
				UNION ALL SELECT customer_id FROM customer_anonymous_ids WHERE workspace_id = $1 AND anonymous_id = `+exact+`
				UNION ALL SELECT into_id FROM customer_merges WHERE workspace_id = $1 AND from_id = `+exact+`))`)
	case f.Query != "":
		where = append(where, `c.id IN (`+customerCandidates(f.Query, arg)+`)`)
	}
	names := make([]string, 0, len(f.Attributes))
	for name := range f.Attributes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var alts []string
		for _, v := range f.Attributes[name] {
			for _, doc := range attributeDocs(name, v) {
				alts = append(alts, "c.attributes @> "+arg(doc)+"::jsonb")
			}
		}
		if len(alts) == 0 {
			continue
		}
		where = append(where, "("+strings.Join(alts, " OR ")+")")
	}
	if f.After != nil {
		after := "(c.created_at, c.id) < (" + arg(f.After.CreatedAt) + "::timestamptz, " + arg(f.After.ID) + "::text)"
		if broad && f.Query != "" {
			// The walk starts after the cursor.
			from = `(SELECT * FROM customers c WHERE c.workspace_id = $1 AND ` + after +
				` ORDER BY c.created_at DESC, c.id DESC LIMIT ` + arg(searchWalk(f.Limit)) + `) c`
		} else {
			where = append(where, after)
		}
	} else if broad && f.Query != "" {
		from = `(SELECT * FROM customers c WHERE c.workspace_id = $1 ORDER BY c.created_at DESC, c.id DESC LIMIT ` +
			arg(searchWalk(f.Limit)) + `) c`
	}
	return `SELECT ` + customerColumns + ` FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY c.created_at DESC, c.id DESC LIMIT ` + arg(f.Limit), args
}

// likePrefix is the LIKE pattern of the values that start with s.
func likePrefix(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s) + "%"
}

// attributeDocs are the JSON documents {name: value} that an attribute
// equal to the query-string value v contains: the string itself and, when v
// reads as a JSON number, boolean or null, that typed value too. A dotted
// name also addresses a nested attribute, as in conditions (DESIGN §6):
// address.city matches {"address": {"city": …}} as well as a key named
// "address.city".
func attributeDocs(name, v string) []string {
	values := []json.RawMessage{}
	if b, err := json.Marshal(v); err == nil {
		values = append(values, b)
	}
	var typed any
	if err := json.Unmarshal([]byte(v), &typed); err == nil {
		switch typed.(type) {
		case float64, bool, nil:
			values = append(values, json.RawMessage(strings.TrimSpace(v)))
		}
	}
	path := strings.Split(name, ".")
	docs := []string{}
	for _, val := range values {
		paths := [][]string{{name}}
		if len(path) > 1 && !slices.Contains(path, "") {
			paths = append(paths, path)
		}
		for _, p := range paths {
			doc := val
			for i := len(p) - 1; i >= 0; i-- {
				b, err := json.Marshal(map[string]json.RawMessage{p[i]: doc})
				if err != nil {
					break
				}
				doc = b
			}
			docs = append(docs, string(doc))
		}
	}
	return docs
}

// LookupCustomer finds a customer of the workspace by internal id or, failing
// that, by user id (the external id or a previous user id) or, failing that,
// by the internal id of a profile merged away (customer_merges): that id is
// still quoted (a merge's audit entry, an earlier export, a GDPR request) and
// answers the survivor, whose own id the result carries.
func (s *Store) LookupCustomer(ctx context.Context, workspaceID, idOrExternalID string) (Customer, error) {
	return lookupCustomer(ctx, s.pool, workspaceID, idOrExternalID)
}

func lookupCustomer(ctx context.Context, q queryer, workspaceID, idOrExternalID string) (Customer, error) {
	c, err := scanCustomer(q.QueryRow(ctx, `SELECT `+customerColumns+` FROM customers c
		JOIN (
			SELECT id, CASE WHEN id = $2 THEN 1 ELSE 2 END AS rank FROM customers
				WHERE workspace_id = $1 AND (id = $2 OR external_id = $2)
			UNION ALL SELECT customer_id, 2 FROM customer_user_aliases WHERE workspace_id = $1 AND user_id = $2
			UNION ALL SELECT into_id, 3 FROM customer_merges WHERE workspace_id = $1 AND from_id = $2
			UNION ALL SELECT customer_id, 4 FROM (`+ownerOfAliasedID("$1", "$2")+`) AS l
		) AS f ON f.id = c.id
		WHERE c.workspace_id = $1
		ORDER BY f.rank LIMIT 1`, workspaceID, idOrExternalID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Customer{}, ErrNotFound
	}
	if err != nil {
		return Customer{}, fmt.Errorf("look up customer %s: %w", idOrExternalID, err)
	}
	return c, nil
}

// LatestCustomerEvents returns a customer's newest events, newest first.
func (s *Store) LatestCustomerEvents(ctx context.Context, workspaceID, customerID string, limit int) ([]StoredEvent, error) {
	return s.CustomerEventsPage(ctx, workspaceID, customerID, limit, nil)
}

// EventCursor is where a page of a customer's events left off: the last
// event's time and id.
type EventCursor struct {
	OccurredAt time.Time
	ID         int64
}

// CustomerEventsPage returns a customer's events newest first by when they
// happened (a backfill sent late sorts by its own time), then by id, after
// the cursor when one is given.
//
// The customer's events are indexed by (customer, name, time), not by time
// alone (one index fewer for every event ingest writes), so a plain ORDER BY
// reads and sorts all of them: ~110 ms for a customer of 200,000 events, on
// every profile view. Instead the query walks the index for the customer's
// distinct names (one probe each), takes each name's newest limit events
// (and those tied with the last in time: the index has no id) from its end
// of the index, and merges them: a page costs the names times the page,
// whatever the customer's history. A customer of more than pageNames
// names is read the plain way (each name's probe would cost more than it
// saves).
func (s *Store) CustomerEventsPage(ctx context.Context, workspaceID, customerID string, limit int, after *EventCursor) ([]StoredEvent, error) {
	args := []any{workspaceID, customerID, limit}
	cursor := ""
	if after != nil {
		// Postgres bounds each name's index scan by the row comparison's
		// time (occurred_at <= $4); the id breaks ties.
		cursor = ` AND (e.occurred_at, e.id) < ($4, $5)`
		args = append(args, after.OccurredAt, after.ID)
	}
	const columns = `e.id, e.message_id, e.type, e.name, e.properties, e.occurred_at, e.received_at`
	rows, err := s.pool.Query(ctx, `
		WITH RECURSIVE names AS (
			(SELECT e.name, 1 AS n FROM events e WHERE e.workspace_id = $1 AND e.customer_id = $2 ORDER BY e.name LIMIT 1)
			UNION ALL
			SELECT (SELECT e.name FROM events e WHERE e.workspace_id = $1 AND e.customer_id = $2 AND e.name > n.name
				ORDER BY e.name LIMIT 1), n.n + 1
			FROM names n WHERE n.name IS NOT NULL AND n.n <= `+strconv.Itoa(pageNames)+`
		), few AS (SELECT count(*) <= `+strconv.Itoa(pageNames)+` AS yes FROM names WHERE name IS NOT NULL)
		SELECT e.* FROM names n CROSS JOIN LATERAL (
			SELECT `+columns+` FROM events e
			WHERE e.workspace_id = $1 AND e.customer_id = $2 AND e.name = n.name`+cursor+`
			ORDER BY e.occurred_at DESC FETCH FIRST $3 ROWS WITH TIES) e
		WHERE n.name IS NOT NULL AND (SELECT yes FROM few)
		UNION ALL
		SELECT `+columns+` FROM events e
		WHERE e.workspace_id = $1 AND e.customer_id = $2`+cursor+` AND NOT (SELECT yes FROM few)
		ORDER BY occurred_at DESC, id DESC LIMIT $3`, args...)
	if err != nil {
		return nil, fmt.Errorf("query customer events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredEvent, error) {
		var e StoredEvent
		err := r.Scan(&e.ID, &e.MessageID, &e.Type, &e.Name, &e.Properties, &e.OccurredAt, &e.ReceivedAt)
		return e, err
	})
}

// pageNames is how many distinct event names a customer may have for
// CustomerEventsPage to read a page name by name.
const pageNames = 100

// CountCustomerEvents counts a customer's events.
func (s *Store) CountCustomerEvents(ctx context.Context, workspaceID, customerID string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE workspace_id = $1 AND customer_id = $2`, workspaceID, customerID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count customer events: %w", err)
	}
	return n, nil
}

// CustomerRun is a run of a customer with the name of its journey.
type CustomerRun struct {
	Run
	JourneyName string `json:"journey_name"`
}

// CustomerRuns returns a customer's runs, newest first; limit 0 returns all.
func (s *Store) CustomerRuns(ctx context.Context, workspaceID, customerID string, limit int) ([]CustomerRun, error) {
	return customerRuns(ctx, s.pool, workspaceID, customerID, limit)
}

func customerRuns(ctx context.Context, q queryer, workspaceID, customerID string, limit int) ([]CustomerRun, error) {
	rows, err := q.Query(ctx, customerRunsQuery, workspaceID, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("query customer runs: %w", err)
	}
	return pgx.CollectRows(rows, scanCustomerRun)
}

// customerRunsQuery selects a customer's runs ($2), newest first, at most
// $3 of them (0: all), in scanCustomerRun's columns.
const customerRunsQuery = `
	SELECT r.workflow_id, r.run_id, r.journey_id, r.version, r.customer_id, r.entry_key, r.status, r.current_node,
		r.trigger_event, r.converted_at, r.started_at, r.updated_at, r.ended_at, coalesce(j.name, ''),
		(SELECT c.external_id FROM customers c WHERE c.id = r.customer_id), r.end_reason
	FROM runs r LEFT JOIN journeys j ON j.workspace_id = r.workspace_id AND j.id = r.journey_id
	WHERE r.workspace_id = $1 AND r.customer_id = $2
	ORDER BY r.started_at DESC, r.workflow_id, r.run_id LIMIT nullif($3, 0)`

func scanCustomerRun(r pgx.CollectableRow) (CustomerRun, error) {
	var x CustomerRun
	err := r.Scan(&x.WorkflowID, &x.RunID, &x.JourneyID, &x.Version, &x.CustomerID, &x.EntryKey, &x.Status,
		&x.CurrentNode, &x.TriggerEvent, &x.ConvertedAt, &x.StartedAt, &x.UpdatedAt, &x.EndedAt, &x.JourneyName,
		&x.CustomerExternalID, &x.EndReason)
	return x, err
}

// CustomerDeliveries returns a customer's deliveries, newest first, with
// their status histories; limit 0 returns all.
func (s *Store) CustomerDeliveries(ctx context.Context, workspaceID, customerID string, limit int) ([]Delivery, error) {
	return customerDeliveries(ctx, s.pool, workspaceID, customerID, limit)
}

func customerDeliveries(ctx context.Context, q queryer, workspaceID, customerID string, limit int) ([]Delivery, error) {
	rows, err := q.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE workspace_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id LIMIT nullif($3, 0)`,
		workspaceID, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("query customer deliveries: %w", err)
	}
	return withHistories(ctx, q, workspaceID, rows)
}

// ExportedEvent is an event as the GDPR export gives it: everything stored.
type ExportedEvent struct {
	StoredEvent
	Context json.RawMessage `json:"context"`
}

// CustomerExport is everything Herald holds about one customer (GDPR
// access): the profile, every event, run and delivery. WriteCustomerExport
// writes it, field by field in this order, as JSON.
type CustomerExport struct {
	Customer   Customer             `json:"customer"`
	Events     []ExportedEvent      `json:"events"`
	Runs       []CustomerRun        `json:"runs"`
	RunSteps   []ExportedStep       `json:"run_steps"`
	Deliveries []Delivery           `json:"deliveries"`
	Segments   []ExportedMembership `json:"segments"`
	// Suppressions of the customer's email address and phone number.
	Suppressions []ExportedSuppression `json:"suppressions"`
	// Audit is what was recorded about the customer: merges, exports,
	// attribute updates that failed.
	Audit []AuditEntry `json:"audit"`
	// ImportRows are rows of stored CSV import files that name the customer.
	ImportRows []ExportedImportRow `json:"import_rows"`
	ExportedAt time.Time           `json:"exported_at"`
}

// ExportedStep is one node a run of the customer passed through.
type ExportedStep struct {
	WorkflowID string     `json:"workflow_id"`
	RunID      string     `json:"run_id"`
	Node       string     `json:"node"`
	Visit      int        `json:"visit"`
	Detail     string     `json:"detail,omitempty"`
	EnteredAt  time.Time  `json:"entered_at"`
	LeftAt     *time.Time `json:"left_at"`
}

// ExportedMembership is the customer's membership of a segment.
type ExportedMembership struct {
	SegmentID string     `json:"segment_id"`
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	EnteredAt time.Time  `json:"entered_at"`
	LeftAt    *time.Time `json:"left_at"`
}

// ExportedSuppression is an address of the customer that Herald does not
// send to, and why.
type ExportedSuppression struct {
	Channel   string    `json:"channel"`
	Address   string    `json:"address"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

// CustomerSegments returns the segments the customer is a member of now,
// in the order they joined them.
func (s *Store) CustomerSegments(ctx context.Context, workspaceID, customerID string) ([]ExportedMembership, error) {
	return customerMemberships(ctx, s.pool, workspaceID, customerID, true)
}

// customerMemberships reads the customer's segment memberships, past ones
// too unless currentOnly.
func customerMemberships(ctx context.Context, q queryer, workspaceID, customerID string, currentOnly bool) ([]ExportedMembership, error) {
	rows, err := q.Query(ctx, `
		SELECT m.segment_id, s.name, s.kind, m.entered_at, m.left_at
		FROM segment_members m JOIN segments s ON s.id = m.segment_id AND s.workspace_id = m.workspace_id
		WHERE m.workspace_id = $1 AND m.customer_id = $2 AND (NOT $3 OR m.left_at IS NULL)
		ORDER BY m.entered_at, m.segment_id`, workspaceID, customerID, currentOnly)
	if err != nil {
		return nil, fmt.Errorf("query segment memberships: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ExportedMembership])
	if err != nil {
		return nil, fmt.Errorf("read segment memberships: %w", err)
	}
	return emptyIfNil(out), nil
}

func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// CustomerErasure says what EraseCustomer removed.
type CustomerErasure struct {
	CustomerID        string `json:"id"`
	Events            int64  `json:"events_deleted"`
	AnonymousIDs      int64  `json:"anonymous_ids_deleted"`
	DeliveriesBlanked int64  `json:"deliveries_blanked"`
	ImportRowsBlanked int64  `json:"import_rows_blanked"`
}

// EraseCustomer removes a customer's personal data (GDPR erasure): their
// events and anonymous ids are deleted, their deliveries keep only what the
// journey statistics need (content, recipient and provider messages are
// blanked), and the customer row goes. Runs stay, keyed by an id that no
// longer resolves to anyone. It takes the identity locks ApplyEvent takes,
// so an event being applied for the customer either lands before (and is
// erased) or after (and starts a new profile).
func (s *Store) EraseCustomer(ctx context.Context, workspaceID, customerID string) (CustomerErasure, error) {
	out := CustomerErasure{CustomerID: customerID}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		locked := map[string]bool{}
		var c Customer
		lockIdentities := func() (bool, error) {
			var err error
			if c, err = lookupCustomer(ctx, tx, workspaceID, customerID); err != nil {
				return false, err
			}
			if c.ID != customerID {
				return false, ErrNotFound // customerID is a user id or a merged-away id, not this customer's own id
			}
			keys := []string{}
			for _, id := range append(append(c.AnonymousIDs, c.PreviousUserIDs...), deref(c.ExternalID)) {
				if k := workspaceID + "/" + id; id != "" && !locked[k] {
					keys = append(keys, k)
				}
			}
			// A profile known only by its address can be given a user id by
			// an identify giving it (resolveIdentity), under this key.
			if k := emailLock(workspaceID, deref(c.Email)); c.Email != nil && !locked[k] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, k); err != nil {
					return false, fmt.Errorf("lock identity: %w", err)
				}
				locked[k] = true
			}
			return len(keys) > 0, nil
		}
		// Lock until no identity was added while waiting (a merge may
		// attach anonymous ids to the customer in between).
		for {
			more, err := lockIdentities()
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
		// The addresses the customer had, read before the events and
		// deliveries that name them go: the import rows naming them are
		// blanked below.
		keys, err := keysOf(ctx, tx, workspaceID, c)
		if err != nil {
			return err
		}
		// Suppressions of those addresses stay (they keep the address from
		// being written to again), as their digests: they match the address
		// as before, and the list no longer holds it.
		channels, plain, digests := keys.suppressible(workspaceID)
		if _, err := tx.Exec(ctx, `
			WITH moved AS (
				DELETE FROM suppressions s USING unnest($2::text[], $3::text[], $4::text[]) AS p(channel, plain, digest)
				WHERE s.workspace_id = $1 AND s.channel = p.channel AND s.address = p.plain
				RETURNING s.workspace_id, s.channel, p.digest, s.reason, s.delivery_id, s.created_at)
			INSERT INTO suppressions (workspace_id, channel, address, reason, delivery_id, created_at)
			SELECT * FROM moved ON CONFLICT (workspace_id, channel, address) DO UPDATE
				SET reason = EXCLUDED.reason, delivery_id = EXCLUDED.delivery_id
				WHERE suppressions.reason = 'unsubscribe' AND EXCLUDED.reason <> 'unsubscribe'`, workspaceID, channels, plain, digests); err != nil {
			return fmt.Errorf("keep suppressions as digests: %w", err)
		}
		// So do the audit entries about those addresses (suppress,
		// resubscribe by hand): subject <channel>:<address> becomes
		// <channel>:<digest>.
		if _, err := tx.Exec(ctx, `
			UPDATE audit_log a SET subject_id = p.channel || ':' || p.digest
			FROM unnest($2::text[], $3::text[], $4::text[]) AS p(channel, plain, digest)
			WHERE a.workspace_id = $1 AND a.subject_type = 'address' AND a.subject_id = p.channel || ':' || p.plain`,
			workspaceID, channels, plain, digests); err != nil {
			return fmt.Errorf("keep address audit entries as digests: %w", err)
		}
		var tag pgconn.CommandTag
		// The row first: a send claiming a delivery for the customer holds
		// it until its row is written, and is then blanked below; one that
		// comes after finds no customer (ClaimDelivery).
		if _, err = tx.Exec(ctx, `SELECT 1 FROM customers WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, workspaceID, customerID); err != nil {
			return fmt.Errorf("lock customer: %w", err)
		}
		// Their message ids stay, as digests, for a while: a record of one
		// delivered again is then a duplicate, not a new event of a new
		// customer (ApplyEvents).
		if _, err = forgetErasedIDs(ctx, tx); err != nil {
			return err
		}
		var ids [][]byte
		for _, id := range append(append(c.AnonymousIDs, c.PreviousUserIDs...), deref(c.ExternalID)) {
			if id != "" {
				d := sha256.Sum256([]byte(id))
				ids = append(ids, d[:])
			}
		}
		if _, err = tx.Exec(ctx, `
			INSERT INTO erased_identities (workspace_id, identity_digest) SELECT $1, d FROM unnest($2::bytea[]) AS d
			ON CONFLICT (workspace_id, identity_digest) DO UPDATE SET erased_at = now()`, workspaceID, ids); err != nil {
			return fmt.Errorf("keep erased ids: %w", err)
		}
		if _, err = tx.Exec(ctx, `
			INSERT INTO erased_messages (workspace_id, message_digest, content_digest)
			SELECT workspace_id, sha256(convert_to(message_id, 'UTF8')), `+erasedContentDigest("type", "name", "properties")+`
			FROM events WHERE workspace_id = $1 AND customer_id = $2
			ON CONFLICT (workspace_id, message_digest) DO UPDATE SET erased_at = now(), content_digest = EXCLUDED.content_digest`, workspaceID, customerID); err != nil {
			return fmt.Errorf("keep erased message ids: %w", err)
		}
		if tag, err = tx.Exec(ctx, `DELETE FROM events WHERE workspace_id = $1 AND customer_id = $2`, workspaceID, customerID); err != nil {
			return fmt.Errorf("delete events: %w", err)
		}
		out.Events = tag.RowsAffected()
		if tag, err = tx.Exec(ctx, `DELETE FROM customer_anonymous_ids WHERE workspace_id = $1 AND customer_id = $2`, workspaceID, customerID); err != nil {
			return fmt.Errorf("delete anonymous ids: %w", err)
		}
		out.AnonymousIDs = tag.RowsAffected()
		if _, err = tx.Exec(ctx, `UPDATE delivery_events SET detail = '' WHERE workspace_id = $1 AND detail <> ''
			AND delivery_id IN (SELECT id FROM deliveries WHERE workspace_id = $1 AND customer_id = $2)`, workspaceID, customerID); err != nil {
			return fmt.Errorf("blank delivery history: %w", err)
		}
		if tag, err = tx.Exec(ctx, `UPDATE deliveries SET content = '{}', recipient = '', error = '', updated_at = now(),
			erased_at = coalesce(erased_at, now()) WHERE workspace_id = $1 AND customer_id = $2`, workspaceID, customerID); err != nil {
			return fmt.Errorf("blank deliveries: %w", err)
		}
		out.DeliveriesBlanked = tag.RowsAffected()
		// A run's entry key is a value of the event that started it (an
		// order id, an email); the run's row stays for the statistics.
		if _, err = tx.Exec(ctx, `UPDATE runs SET entry_key = '' WHERE workspace_id = $1 AND customer_id = $2 AND entry_key <> ''`,
			workspaceID, customerID); err != nil {
			return fmt.Errorf("blank run entry keys: %w", err)
		}
		// What was recorded about the customer — and about the profiles
		// merged into it — stays as a trail of actions, without the
		// identifiers and values it held (a merge names the merged user
		// id, a failed update the value).
		if _, err = tx.Exec(ctx, `UPDATE audit_log SET detail = '{"erased":true}'
			WHERE workspace_id = $1 AND subject_type = 'customer'
				AND subject_id = ANY (array_prepend($2::text, ARRAY(SELECT from_id FROM customer_merges WHERE workspace_id = $1 AND into_id = $2)))`,
			workspaceID, customerID); err != nil {
			return fmt.Errorf("blank audit entries: %w", err)
		}
		// The ids of the profiles merged into the customer lead nowhere now.
		if _, err = tx.Exec(ctx, `DELETE FROM customer_merges WHERE workspace_id = $1 AND into_id = $2`, workspaceID, customerID); err != nil {
			return fmt.Errorf("forget merges: %w", err)
		}
		if out.ImportRowsBlanked, err = eraseImportRows(ctx, tx, workspaceID, keys); err != nil {
			return err
		}
		if tag, err = tx.Exec(ctx, `DELETE FROM customers WHERE workspace_id = $1 AND id = $2`, workspaceID, customerID); err != nil {
			return fmt.Errorf("delete customer: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return CustomerErasure{}, err
	}
	return out, nil
}

// erasedContentDigest is the SQL of the digest erased_messages keeps of an
// event's type, name and properties (SQL expressions; properties jsonb),
// which tells an event that reuses an erased one's message id: what
// loadStored compares for a stored one.
func erasedContentDigest(typ, name, properties string) string {
	return `sha256(convert_to(` + typ + ` || E'\x1f' || ` + name + ` || E'\x1f' || ` + properties + `::text, 'UTF8'))`
}

// erasedMessagesKept is how long the message ids of erased events are
// kept (as digests) to tell a redelivered one for a duplicate: far past
// Kafka's default retention (7 days), after which no record of them is left
// to deliver again.
const erasedMessagesKept = "30 days"

// ForgetErasedIDs deletes the digests of erased events and ids kept longer
// than erasedMessagesKept (they count no more), in every workspace, and
// says how many it deleted. The ingest role runs it every hour; an erasure
// runs it too.
func (s *Store) ForgetErasedIDs(ctx context.Context) (int64, error) {
	return forgetErasedIDs(ctx, s.pool)
}

func forgetErasedIDs(ctx context.Context, db queryer) (int64, error) {
	var n int64
	for _, table := range []string{"erased_messages", "erased_identities"} {
		tag, err := db.Exec(ctx, `DELETE FROM `+table+` WHERE erased_at < now() - $1::interval`, erasedMessagesKept)
		if err != nil {
			return n, fmt.Errorf("forget old erased ids: %w", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
