package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Segment kinds (DESIGN §6, §11).
const (
	// SegmentDynamic is defined by a condition; its members are whoever
	// matches it now.
	SegmentDynamic = "dynamic"
	// SegmentManual lists its members: added and removed by id or by import.
	SegmentManual = "manual"
)

// ErrSegmentInUse is returned when deleting a segment other segments, live
// journeys or running imports reference.
var ErrSegmentInUse = errors.New("segment is in use")

// Segment is a named audience of a workspace.
type Segment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Condition is the DESIGN §6 condition of a dynamic segment; null for a
	// manual one.
	Condition json.RawMessage `json:"condition"`
	CreatedBy string          `json:"created_by"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// SegmentPreview is how many customers a condition matches now, with a
// sample of them (newest first).
type SegmentPreview struct {
	Count  int64      `json:"count"`
	Sample []Customer `json:"sample"`
}

// ManualMembersResult says what adding or removing manual members did.
type ManualMembersResult struct {
	// Changed counts customers that joined (or left) the segment.
	Changed int `json:"changed"`
	// Unchanged counts customers that already were (or were not) members.
	Unchanged int `json:"unchanged"`
	// Unknown lists the given ids that match no customer of the workspace.
	Unknown []string `json:"unknown_ids"`
}

const segmentColumns = `id, name, kind, condition, created_by, created_at, updated_at`

func scanSegment(r pgx.Row) (Segment, error) {
	var s Segment
	err := r.Scan(&s.ID, &s.Name, &s.Kind, &s.Condition, &s.CreatedBy, &s.CreatedAt, &s.UpdatedAt)
	return s, err
}

func getSegment(ctx context.Context, q queryer, workspaceID, id string) (Segment, error) {
	seg, err := scanSegment(q.QueryRow(ctx, `SELECT `+segmentColumns+` FROM segments WHERE workspace_id = $1 AND id = $2`,
		workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Segment{}, ErrNotFound
	}
	if err != nil {
		return Segment{}, fmt.Errorf("load segment %s: %w", id, err)
	}
	return seg, nil
}

// GetSegment loads one segment of the workspace.
func (s *Store) GetSegment(ctx context.Context, workspaceID, id string) (Segment, error) {
	return getSegment(ctx, s.pool, workspaceID, id)
}

// ListSegments returns the workspace's segments after the cursor (an id),
// in the order of templates and journeys.
func (s *Store) ListSegments(ctx context.Context, workspaceID string, limit int, cursor string) ([]Segment, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+segmentColumns+` FROM segments
		WHERE workspace_id = $1 AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $2`, workspaceID, limit, cursor)
	if err != nil {
		return nil, fmt.Errorf("query segments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
}

// lockSegments serialises the workspace's segment writes, so two updates
// cannot each pass the cycle check and together make a cycle.
func lockSegments(ctx context.Context, tx pgx.Tx, workspaceID string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('segments/' || $1, 0))`, workspaceID); err != nil {
		return fmt.Errorf("lock segments: %w", err)
	}
	return nil
}

// checkSegment validates what can be checked without the database and
// returns the condition to store (compact JSON, or nil for manual segments).
func checkSegment(seg Segment) (any, error) {
	if strings.TrimSpace(seg.Name) == "" {
		return nil, &SegmentError{Path: "name", Message: "name is required"}
	}
	absent := len(bytes.TrimSpace(seg.Condition)) == 0 || string(bytes.TrimSpace(seg.Condition)) == "null"
	switch seg.Kind {
	case SegmentDynamic:
		if absent {
			return nil, &SegmentError{Path: "condition", Message: "a dynamic segment needs a condition"}
		}
		var b bytes.Buffer
		if err := json.Compact(&b, seg.Condition); err != nil {
			return nil, &SegmentError{Path: "condition", Message: "condition is not valid JSON"}
		}
		return b.String(), nil
	case SegmentManual:
		if !absent {
			return nil, &SegmentError{Path: "condition", Message: "a manual segment has no condition; add members instead"}
		}
		return nil, nil
	}
	return nil, &SegmentError{Path: "kind", Message: fmt.Sprintf("kind must be %q or %q", SegmentDynamic, SegmentManual)}
}

// CreateSegment stores a new segment. A dynamic segment's condition must
// compile (a *SegmentError otherwise).
func (s *Store) CreateSegment(ctx context.Context, workspaceID string, seg Segment) (Segment, error) {
	seg.Name = strings.TrimSpace(seg.Name)
	cond, err := checkSegment(seg)
	if err != nil {
		return Segment{}, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockSegments(ctx, tx, workspaceID); err != nil {
			return err
		}
		if seg.Kind == SegmentDynamic {
			if _, err := compileSegment(ctx, tx, workspaceID, seg.Condition, time.Now(), ""); err != nil {
				return err
			}
		}
		seg.ID = NewID("seg")
		out, err := scanSegment(tx.QueryRow(ctx, `
			INSERT INTO segments (id, workspace_id, name, kind, condition, created_by) VALUES ($1, $2, $3, $4, $5::jsonb, $6)
			RETURNING `+segmentColumns, seg.ID, workspaceID, seg.Name, seg.Kind, cond, seg.CreatedBy))
		if err != nil {
			return fmt.Errorf("insert segment: %w", err)
		}
		seg = out
		return baselineSegment(ctx, tx, workspaceID, seg)
	})
	if err != nil {
		return Segment{}, err
	}
	return seg, nil
}

// UpdateSegment replaces a segment's name and condition; the kind stays
// (an empty Kind means "unchanged"). A condition that would make segments
// reference each other in a cycle is a *SegmentError.
func (s *Store) UpdateSegment(ctx context.Context, workspaceID string, seg Segment) (Segment, error) {
	seg.Name = strings.TrimSpace(seg.Name)
	var out Segment
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockSegments(ctx, tx, workspaceID); err != nil {
			return err
		}
		old, err := getSegment(ctx, tx, workspaceID, seg.ID)
		if err != nil {
			return err
		}
		if seg.Kind == "" {
			seg.Kind = old.Kind
		}
		if seg.Kind != old.Kind {
			return &SegmentError{Path: "kind", Message: fmt.Sprintf("a segment's kind cannot change (it is %s)", old.Kind)}
		}
		cond, err := checkSegment(seg)
		if err != nil {
			return err
		}
		if seg.Kind == SegmentDynamic {
			if _, err := compileSegment(ctx, tx, workspaceID, seg.Condition, time.Now(), seg.ID); err != nil {
				return err
			}
		}
		out, err = scanSegment(tx.QueryRow(ctx, `
			UPDATE segments SET name = $3, condition = $4::jsonb, updated_at = now()
			WHERE workspace_id = $1 AND id = $2 RETURNING `+segmentColumns, workspaceID, seg.ID, seg.Name, cond))
		if err != nil {
			return fmt.Errorf("update segment: %w", err)
		}
		return baselineSegment(ctx, tx, workspaceID, out)
	})
	if err != nil {
		return Segment{}, err
	}
	return out, nil
}

// DeleteSegment removes a segment and its membership rows. A segment that
// other segments, live journeys (trigger, branch) or running imports
// (segment_id) reference is kept: ErrSegmentInUse names them.
func (s *Store) DeleteSegment(ctx context.Context, workspaceID, id string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockSegments(ctx, tx, workspaceID); err != nil {
			return err
		}
		if _, err := getSegment(ctx, tx, workspaceID, id); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id, name, condition FROM segments
			WHERE workspace_id = $1 AND kind = 'dynamic' AND id <> $2 ORDER BY id`, workspaceID, id)
		if err != nil {
			return fmt.Errorf("query segments: %w", err)
		}
		var users []string
		for rows.Next() {
			var other, name string
			var cond json.RawMessage
			if err := rows.Scan(&other, &name, &cond); err != nil {
				rows.Close()
				return fmt.Errorf("scan segment: %w", err)
			}
			if slices.Contains(referencedSegments(cond), id) {
				users = append(users, fmt.Sprintf("%s (%q)", other, name))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read segments: %w", err)
		}
		// Live journeys that trigger on it or branch on it (segment ids
		// are unique random strings, so a match in the JSON text is one).
		jrows, err := tx.Query(ctx, `SELECT 'journey ' || j.id || ' (' || to_json(j.name)::text || ')' FROM journeys j
			JOIN journey_versions v ON v.journey_id = j.id AND v.version = j.live_version
			WHERE j.workspace_id = $1 AND j.status IN ('active', 'paused') AND strpos(v.definition::text, to_json($2::text)::text) > 0
			ORDER BY j.id`, workspaceID, id)
		if err != nil {
			return fmt.Errorf("query journeys: %w", err)
		}
		journeys, err := pgx.CollectRows(jrows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("query journeys: %w", err)
		}
		users = append(users, journeys...)
		// Running imports that add their customers to it.
		irows, err := tx.Query(ctx, `SELECT 'running import ' || id || ' (cancel it or let it end first)' FROM imports
			WHERE workspace_id = $1 AND segment_id = $2 AND status = 'running' ORDER BY id`, workspaceID, id)
		if err != nil {
			return fmt.Errorf("query imports: %w", err)
		}
		imports, err := pgx.CollectRows(irows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("query imports: %w", err)
		}
		users = append(users, imports...)
		if len(users) > 0 {
			return fmt.Errorf("%w: segment %s is referenced by %s", ErrSegmentInUse, id, strings.Join(users, ", "))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM segments WHERE workspace_id = $1 AND id = $2`, workspaceID, id); err != nil {
			return fmt.Errorf("delete segment: %w", err)
		}
		return nil
	})
}

// baselineSegment records who is in a new or redefined dynamic segment
// without entry events: the customers who enter or leave later are the
// ones segment triggers see.
func baselineSegment(ctx context.Context, tx pgx.Tx, workspaceID string, seg Segment) error {
	if seg.Kind != SegmentDynamic {
		return nil
	}
	if err := lockSegmentSync(ctx, tx, seg.ID); err != nil {
		return err
	}
	_, err := syncSegment(ctx, tx, workspaceID, seg, time.Now(), nil, true)
	return err
}

// referencedSegments lists the segment ids a stored condition names, read
// leniently (conditions saved by older versions still count).
func referencedSegments(raw json.RawMessage) []string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if id, ok := m["segment"].(string); ok {
			out = append(out, id)
		}
		for _, k := range []string{"all", "any"} {
			subs, _ := m[k].([]any)
			for _, sub := range subs {
				walk(sub)
			}
		}
		walk(m["not"])
	}
	walk(v)
	return out
}

// withSegmentQuery runs fn in a read-only snapshot with the segment's
// condition compiled as of now (a manual segment compiles to its members).
// sampleRecent is how many of a workspace's newest customers a preview's
// sample tests one by one before it runs the query over all of them.
const sampleRecent = 2000

func sampleQuery(ctx context.Context, tx pgx.Tx, sql string, args []any) ([]Customer, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("sample segment: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Customer, error) { return scanCustomer(r) })
	if err != nil {
		return nil, fmt.Errorf("sample segment: %w", err)
	}
	return out, nil
}

// segmentWorkMem lets a segment query group the events of a large
// workspace in memory: an event count over a million customers groups
// hundreds of thousands of them, and at Postgres' default work_mem (4 MB)
// the aggregate spills to disk and takes three times as long. For this
// transaction only.
const segmentWorkMem = `SET LOCAL work_mem = '96MB'`

func (s *Store) withSegmentQuery(ctx context.Context, workspaceID, segmentID string, now time.Time,
	fn func(tx pgx.Tx, q CompiledSegment) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, segmentWorkMem); err != nil {
			return err
		}
		seg, err := getSegment(ctx, tx, workspaceID, segmentID)
		if err != nil {
			return err
		}
		cond := seg.Condition
		if seg.Kind == SegmentManual {
			cond, _ = json.Marshal(map[string]string{"segment": seg.ID})
		}
		q, err := compileSegment(ctx, tx, workspaceID, cond, now, "")
		if err != nil {
			return err
		}
		return fn(tx, q)
	})
}

// PreviewSegment counts the customers a condition matches as of now and
// returns up to sampleSize of them, newest first. A bad condition is a
// *SegmentError.
func (s *Store) PreviewSegment(ctx context.Context, workspaceID string, condition json.RawMessage, now time.Time, sampleSize int) (SegmentPreview, error) {
	out := SegmentPreview{Sample: []Customer{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, segmentWorkMem); err != nil {
			return err
		}
		q, err := compileSegment(ctx, tx, workspaceID, condition, now, "")
		if err != nil {
			return err
		}
		// Unnamed statements: planned with the values at hand (a rare
		// attribute value gets the index, a common one a scan).
		args := append([]any{pgx.QueryExecModeExec}, q.Args...)
		if err := tx.QueryRow(ctx, q.CountQuery(), args...).Scan(&out.Count); err != nil {
			return fmt.Errorf("count segment: %w", err)
		}
		if sampleSize <= 0 || out.Count == 0 {
			return nil
		}
		// The newest customers of the workspace first, each tested with
		// lookups of its own: a segment that is not rare has its sample
		// there, without the whole-workspace plan the count needed.
		qp, err := compileSegmentProbe(ctx, tx, workspaceID, condition, now)
		if err != nil {
			return err
		}
		n := len(qp.Args)
		recent := fmt.Sprintf(`SELECT `+customerColumns+` FROM (SELECT * FROM customers WHERE workspace_id = $1
			ORDER BY created_at DESC, id DESC LIMIT $%d) c WHERE %s ORDER BY c.created_at DESC, c.id DESC LIMIT $%d`, n+1, qp.Where, n+2)
		out.Sample, err = sampleQuery(ctx, tx, recent, append(append([]any{pgx.QueryExecModeExec}, qp.Args...), sampleRecent, sampleSize))
		if err != nil || int64(len(out.Sample)) >= min(out.Count, int64(sampleSize)) {
			return err
		}
		out.Sample, err = sampleQuery(ctx, tx, q.Query(customerColumns, ` ORDER BY c.created_at DESC, c.id DESC LIMIT $`+fmt.Sprint(len(q.Args)+1)),
			append(args, sampleSize))
		return err
	})
	if err != nil {
		return SegmentPreview{}, err
	}
	return out, nil
}

// SegmentMembers returns up to limit members of a segment as of now, in
// customer id order after the id after ("" starts at the beginning): the
// keyset pages an enrollment walks through.
func (s *Store) SegmentMembers(ctx context.Context, workspaceID, segmentID string, now time.Time, after string, limit int) ([]Customer, error) {
	var out []Customer
	err := s.withSegmentQuery(ctx, workspaceID, segmentID, now, func(tx pgx.Tx, q CompiledSegment) error {
		n := len(q.Args)
		rows, err := tx.Query(ctx, q.Query(customerColumns, fmt.Sprintf(` AND c.id > $%d::text ORDER BY c.id LIMIT $%d`, n+1, n+2)),
			append(append([]any{pgx.QueryExecModeExec}, q.Args...), after, limit)...)
		if err != nil {
			return fmt.Errorf("query segment members: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Customer, error) { return scanCustomer(r) })
		return err
	})
	return out, err
}

// IsMember reports whether the customer (internal id) is in the segment as
// of now: for branches on segment membership.
func (s *Store) IsMember(ctx context.Context, workspaceID, segmentID, customerID string, now time.Time) (bool, error) {
	var member bool
	err := s.withSegmentQuery(ctx, workspaceID, segmentID, now, func(tx pgx.Tx, q CompiledSegment) error {
		err := tx.QueryRow(ctx, `SELECT EXISTS (`+q.Query("1", fmt.Sprintf(" AND c.id = $%d::text", len(q.Args)+1))+`)`,
			append(append([]any{pgx.QueryExecModeExec}, q.Args...), customerID)...).Scan(&member)
		if err != nil {
			return fmt.Errorf("test segment membership: %w", err)
		}
		return nil
	})
	return member, err
}

// AddManualMembers adds customers, each named by internal id or external id
// (userId), to a manual segment. Adding a member again changes nothing.
func (s *Store) AddManualMembers(ctx context.Context, workspaceID, segmentID string, refs []string) (ManualMembersResult, error) {
	return s.changeManualMembers(ctx, workspaceID, segmentID, refs, addSegmentMembers)
}

// RemoveManualMembers takes customers (internal or external ids) out of a
// manual segment; their membership rows keep the time they left.
func (s *Store) RemoveManualMembers(ctx context.Context, workspaceID, segmentID string, refs []string) (ManualMembersResult, error) {
	return s.changeManualMembers(ctx, workspaceID, segmentID, refs, removeSegmentMembers)
}

func (s *Store) changeManualMembers(ctx context.Context, workspaceID, segmentID string, refs []string,
	change func(context.Context, queryer, string, string, []string) (int, error)) (ManualMembersResult, error) {
	var out ManualMembersResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var kind string
		err := tx.QueryRow(ctx, `SELECT kind FROM segments WHERE workspace_id = $1 AND id = $2 FOR SHARE`,
			workspaceID, segmentID).Scan(&kind)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("load segment %s: %w", segmentID, err)
		}
		if kind != SegmentManual {
			return fmt.Errorf("%w: segment %s is %s; its members follow its condition", ErrInvalidState, segmentID, kind)
		}
		ids, unknown, err := resolveCustomerRefs(ctx, tx, workspaceID, refs)
		if err != nil {
			return err
		}
		changed, err := change(ctx, tx, workspaceID, segmentID, ids)
		if err != nil {
			return err
		}
		out = ManualMembersResult{Changed: changed, Unchanged: len(ids) - changed, Unknown: unknown}
		return nil
	})
	if err != nil {
		return ManualMembersResult{}, err
	}
	return out, nil
}

// resolveCustomerRefs maps internal or external ids to the distinct
// internal ids of the workspace's customers (an internal id wins over an
// equal external id) and lists the refs that match nobody, in input order.
func resolveCustomerRefs(ctx context.Context, q queryer, workspaceID string, refs []string) (ids, unknown []string, err error) {
	rows, err := q.Query(ctx, `
		SELECT DISTINCT ON (r.ref) r.ref, m.id
		FROM unnest($2::text[]) AS r(ref)
		JOIN LATERAL (
			SELECT id, CASE WHEN id = r.ref THEN 0 ELSE 1 END AS rank FROM customers
				WHERE workspace_id = $1 AND (id = r.ref OR external_id = r.ref)
			UNION ALL
			SELECT customer_id, 1 FROM customer_user_aliases WHERE workspace_id = $1 AND user_id = r.ref
			UNION ALL
			SELECT customer_id, 2 FROM (`+ownerOfAliasedID("$1", "r.ref")+`) AS l
		) AS m ON true
		ORDER BY r.ref, m.rank`, workspaceID, refs)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve customers: %w", err)
	}
	found := map[string]string{}
	for rows.Next() {
		var ref, id string
		if err := rows.Scan(&ref, &id); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("scan customer: %w", err)
		}
		found[ref] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("resolve customers: %w", err)
	}
	unknown = []string{}
	for _, r := range refs {
		if id, ok := found[r]; ok {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		} else if !slices.Contains(unknown, r) {
			unknown = append(unknown, r)
		}
	}
	return ids, unknown, nil
}

// addSegmentMembers makes customers (internal ids of the workspace) current
// members of a segment inside the caller's transaction, records each
// entry as a change with its "Segment Entered" event, and returns how many
// joined. Imports into a manual segment call it per chunk.
func addSegmentMembers(ctx context.Context, q queryer, workspaceID, segmentID string, customerIDs []string) (int, error) {
	return changeSegmentMembers(ctx, q, workspaceID, segmentID, customerIDs, "entered", `
		INSERT INTO segment_members (workspace_id, segment_id, customer_id)
		SELECT $1, $2, c.id FROM customers c WHERE c.workspace_id = $1 AND c.id = ANY($3::text[])
		ON CONFLICT (segment_id, customer_id) DO UPDATE SET entered_at = now(), left_at = NULL
		WHERE segment_members.left_at IS NOT NULL
		RETURNING customer_id`)
}

// removeSegmentMembers records that current members left the segment (with
// their "Segment Exited" events) and returns how many did.
func removeSegmentMembers(ctx context.Context, q queryer, workspaceID, segmentID string, customerIDs []string) (int, error) {
	return changeSegmentMembers(ctx, q, workspaceID, segmentID, customerIDs, "exited", `
		UPDATE segment_members SET left_at = now()
		WHERE workspace_id = $1 AND segment_id = $2 AND customer_id = ANY($3::text[]) AND left_at IS NULL
		RETURNING customer_id`)
}

// changeSegmentMembers runs stmt (which returns the customer ids it
// changed) and records those changes.
func changeSegmentMembers(ctx context.Context, q queryer, workspaceID, segmentID string, customerIDs []string, change, stmt string) (int, error) {
	rows, err := q.Query(ctx, `
		WITH changed AS (`+stmt+`)
		INSERT INTO segment_changes (workspace_id, segment_id, customer_id, change)
		SELECT $1, $2, customer_id, '`+change+`' FROM changed ORDER BY customer_id
		RETURNING id, customer_id, at, (SELECT name FROM segments WHERE id = $2)`, workspaceID, segmentID, customerIDs)
	if err != nil {
		return 0, fmt.Errorf("change segment members: %w", err)
	}
	changes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SegmentChange, error) {
		c := SegmentChange{WorkspaceID: workspaceID, SegmentID: segmentID, Change: change}
		err := r.Scan(&c.ID, &c.CustomerID, &c.At, &c.SegmentName)
		return c, err
	})
	if err != nil {
		return 0, fmt.Errorf("change segment members: %w", err)
	}
	return len(changes), recordChangeEvents(ctx, q, changes)
}
