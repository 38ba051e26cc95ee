package schema

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// The customer events that record segment membership changes: journeys
// use them like any other event (segment triggers, waits, exit_on).
const (
	EventSegmentEntered = "Segment Entered"
	EventSegmentExited  = "Segment Exited"
)

// SegmentChange is a customer entering or leaving a segment. It is recorded
// with the membership row and a customer event (MessageID) in one
// transaction; journeys are told about it afterwards (see MarkSegmentChangesRouted).
type SegmentChange struct {
	ID          int64     `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	SegmentID   string    `json:"segment_id"`
	SegmentName string    `json:"segment_name"`
	CustomerID  string    `json:"customer_id"`
	Change      string    `json:"change"` // entered, exited
	At          time.Time `json:"at"`
}

// MessageID is the id of the customer event recording the change.
func (c SegmentChange) MessageID() string { return "segment-change-" + strconv.FormatInt(c.ID, 10) }

// EventName is the customer event recording the change.
func (c SegmentChange) EventName() string {
	if c.Change == "entered" {
		return EventSegmentEntered
	}
	return EventSegmentExited
}

// CustomerTouch is what an ingest batch changed about one customer: its
// traits (identify, group) and the names of the events it did.
type CustomerTouch struct {
	CustomerID string
	Traits     bool
	Events     []string
}

// segmentDeps is what can change a dynamic segment's membership: customer
// attributes, events of some names, the passing of time (windows and
// relative times) and manual memberships it references.
type segmentDeps struct {
	attrs, timed, manual bool
	events               map[string]bool
}

func (d segmentDeps) touchedBy(t CustomerTouch) bool {
	if d.attrs && t.Traits {
		return true
	}
	for _, e := range t.Events {
		if d.events[e] {
			return true
		}
	}
	return false
}

// dependencies walks a condition and the dynamic segments it references.
func dependencies(ctx context.Context, q queryer, ws string, cond json.RawMessage) (segmentDeps, error) {
	d := segmentDeps{events: map[string]bool{}}
	seen := map[string]bool{}
	var walk func(n *condNode) error
	walk = func(n *condNode) error {
		switch n.kind {
		case "attr":
			d.attrs = true
			if slices.Contains([]string{"before", "after", "within_last"}, n.op) {
				d.timed = true
			}
		case "event":
			d.events[n.name] = true
			if n.within > 0 {
				d.timed = true
			}
		case "segment":
			if seen[n.name] {
				return nil
			}
			seen[n.name] = true
			seg, err := getSegment(ctx, q, ws, n.name)
			if err != nil {
				return err
			}
			if seg.Kind == SegmentManual {
				d.manual = true
				return nil
			}
			inner, err := parseSegmentCondition(seg.Condition, "condition")
			if err != nil {
				return err
			}
			return walk(inner)
		}
		for _, sub := range n.subs {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	root, err := parseSegmentCondition(cond, "condition")
	if err != nil {
		return d, err
	}
	return d, walk(root)
}

// syncSegment brings the membership rows of a dynamic segment in line with
// its condition as of now — for the customers only names, or for everyone
// when only is nil — and records each change with its customer event. A
// silent sync (a new or redefined segment taking its baseline) records
// memberships only. The caller's transaction holds the segment's lock.
func syncSegment(ctx context.Context, tx pgx.Tx, ws string, seg Segment, now time.Time, only []string, silent bool) ([]SegmentChange, error) {
	q, err := compileSegment(ctx, tx, ws, seg.Condition, now, "")
	if err != nil {
		return nil, err
	}
	args := append([]any{}, q.Args...)
	arg := func(v any, typ string) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args)) + "::" + typ
	}
	segID, at := arg(seg.ID, "text"), arg(now, "timestamptz")
	matchTail, currentTail := "", ""
	if only != nil {
		ids := arg(only, "text[]")
		matchTail, currentTail = " AND c.id = ANY("+ids+")", " AND customer_id = ANY("+ids+")"
	}
	sql := `
		WITH matching AS (` + q.Query("c.id AS customer_id", matchTail) + `),
		current AS (
			SELECT customer_id FROM segment_members
			WHERE workspace_id = $1 AND segment_id = ` + segID + ` AND left_at IS NULL` + currentTail + `),
		entered AS (
			INSERT INTO segment_members AS sm (workspace_id, segment_id, customer_id, entered_at)
			SELECT $1, ` + segID + `, m.customer_id, ` + at + ` FROM matching m
			WHERE NOT EXISTS (SELECT 1 FROM current x WHERE x.customer_id = m.customer_id)
			ON CONFLICT (segment_id, customer_id) DO UPDATE SET entered_at = excluded.entered_at, left_at = NULL
			RETURNING sm.customer_id),
		exited AS (
			UPDATE segment_members sm SET left_at = ` + at + ` FROM current x
			WHERE sm.segment_id = ` + segID + ` AND sm.customer_id = x.customer_id
			  AND NOT EXISTS (SELECT 1 FROM matching m WHERE m.customer_id = x.customer_id)
			RETURNING sm.customer_id),
		changes AS (
			SELECT customer_id, 'entered' AS change FROM entered
			UNION ALL SELECT customer_id, 'exited' FROM exited)`
	if silent {
		_, err := tx.Exec(ctx, sql+` SELECT count(*) FROM changes`, append([]any{pgx.QueryExecModeExec}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("sync segment %s: %w", seg.ID, err)
		}
		return nil, nil
	}
	rows, err := tx.Query(ctx, sql+`
		INSERT INTO segment_changes (workspace_id, segment_id, customer_id, change, at)
		SELECT $1, `+segID+`, customer_id, change, `+at+` FROM changes ORDER BY customer_id, change
		RETURNING id, customer_id, change, at`, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("sync segment %s: %w", seg.ID, err)
	}
	changes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SegmentChange, error) {
		c := SegmentChange{WorkspaceID: ws, SegmentID: seg.ID, SegmentName: seg.Name}
		err := r.Scan(&c.ID, &c.CustomerID, &c.Change, &c.At)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("sync segment %s: %w", seg.ID, err)
	}
	return changes, recordChangeEvents(ctx, tx, changes)
}

// recordChangeEvents stores each change as its customer's event.
func recordChangeEvents(ctx context.Context, tx queryer, changes []SegmentChange) error {
	if len(changes) == 0 {
		return nil
	}
	ws, msgs, custs, names, props, times := make([]string, len(changes)), make([]string, len(changes)), make([]string, len(changes)),
		make([]string, len(changes)), make([]string, len(changes)), make([]time.Time, len(changes))
	for i, c := range changes {
		p, _ := json.Marshal(map[string]string{"segment_id": c.SegmentID, "segment_name": c.SegmentName})
		ws[i], msgs[i], custs[i], names[i], props[i], times[i] = c.WorkspaceID, c.MessageID(), c.CustomerID, c.EventName(), string(p), c.At
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO events (workspace_id, message_id, customer_id, type, name, properties, occurred_at)
		SELECT ws, msg, cust, 'track', name, props::jsonb, at
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS e(ws, msg, cust, name, props, at)
		ON CONFLICT (workspace_id, message_id) DO NOTHING`, ws, msgs, custs, names, props, times)
	if err != nil {
		return fmt.Errorf("record segment change events: %w", err)
	}
	return nil
}

// lockSegmentSync serialises membership syncs of one segment.
func lockSegmentSync(ctx context.Context, tx pgx.Tx, segmentID string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('segment-sync/' || $1, 0))`, segmentID); err != nil {
		return fmt.Errorf("lock segment %s: %w", segmentID, err)
	}
	return nil
}

// dynamicSegments lists the workspace's dynamic segments in id order.
func dynamicSegments(ctx context.Context, q queryer, ws string) ([]Segment, error) {
	rows, err := q.Query(ctx, `SELECT `+segmentColumns+` FROM segments WHERE workspace_id = $1 AND kind = 'dynamic' ORDER BY id`, ws)
	if err != nil {
		return nil, fmt.Errorf("query segments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Segment, error) { return scanSegment(r) })
}

// recentCustomerWindow is how new a customer must be for every segment to
// be evaluated for it (absence conditions such as "has not purchased" can
// match a customer whose first event said nothing about them).
const recentCustomerWindow = 5 * time.Minute

// UpdateMemberships re-evaluates, for the customers an ingest batch
// touched, the workspace's dynamic segments that those changes could
// affect (and every segment for customers first seen in the last few
// minutes), records who entered and left, and returns every change of
// these customers that journeys have not been told about yet, oldest first.
func (s *Store) UpdateMemberships(ctx context.Context, ws string, touches []CustomerTouch, now time.Time) ([]SegmentChange, error) {
	if len(touches) == 0 {
		return nil, nil
	}
	ids := make([]string, len(touches))
	for i, t := range touches {
		ids[i] = t.CustomerID
	}
	// A workspace without dynamic segments costs one read and no
	// transaction (under READ COMMITTED a read inside it would see no more).
	segs, err := dynamicSegments(ctx, s.pool, ws)
	if err != nil {
		return nil, err
	}
	if len(segs) > 0 {
		if err := s.syncTouched(ctx, ws, segs, touches, ids, now); err != nil {
			return nil, err
		}
	}
	return s.pendingSegmentChanges(ctx, `ch.workspace_id = $1 AND ch.customer_id = ANY($2::text[]) ORDER BY ch.id`, ws, ids)
}

// syncTouched re-evaluates, in one transaction, the dynamic segments segs
// of the workspace that the touches may change, for the touched and recent
// customers.
func (s *Store) syncTouched(ctx context.Context, ws string, segs []Segment, touches []CustomerTouch, ids []string, now time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM customers WHERE workspace_id = $1 AND id = ANY($2::text[]) AND created_at > $3::timestamptz`,
			ws, ids, now.Add(-recentCustomerWindow))
		if err != nil {
			return fmt.Errorf("query new customers: %w", err)
		}
		recent, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("query new customers: %w", err)
		}
		for _, seg := range segs {
			deps, err := dependencies(ctx, tx, ws, seg.Condition)
			if err != nil {
				return fmt.Errorf("segment %s: %w", seg.ID, err)
			}
			candidates := slices.Clone(recent)
			for _, t := range touches {
				if deps.touchedBy(t) && !slices.Contains(candidates, t.CustomerID) {
					candidates = append(candidates, t.CustomerID)
				}
			}
			if len(candidates) == 0 {
				continue
			}
			if err := lockSegmentSync(ctx, tx, seg.ID); err != nil {
				return err
			}
			if _, err := syncSegment(ctx, tx, ws, seg, now, candidates, false); err != nil {
				return err
			}
		}
		return nil
	})
}

// RefreshSegment brings a dynamic segment's membership up to date for
// everyone (time passing, attribute changes made outside ingest) and
// returns the changes it recorded.
func (s *Store) RefreshSegment(ctx context.Context, ws, segmentID string, now time.Time) ([]SegmentChange, error) {
	var changes []SegmentChange
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		seg, err := getSegment(ctx, tx, ws, segmentID)
		if err != nil {
			return err
		}
		if seg.Kind != SegmentDynamic {
			return nil
		}
		if err := lockSegmentSync(ctx, tx, seg.ID); err != nil {
			return err
		}
		changes, err = syncSegment(ctx, tx, ws, seg, now, nil, false)
		return err
	})
	return changes, err
}

// SegmentRef names a segment of a workspace.
type SegmentRef struct {
	WorkspaceID string
	SegmentID   string
}

// DynamicSegmentsToRefresh lists every workspace's dynamic segments, in
// order, for the periodic refresh.
func (s *Store) DynamicSegmentsToRefresh(ctx context.Context) ([]SegmentRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT workspace_id, id FROM segments WHERE kind = 'dynamic' ORDER BY workspace_id, id`)
	if err != nil {
		return nil, fmt.Errorf("query segments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SegmentRef, error) {
		var ref SegmentRef
		err := r.Scan(&ref.WorkspaceID, &ref.SegmentID)
		return ref, err
	})
}

// PendingSegmentChanges returns up to limit changes of any workspace that
// journeys have not been told about, oldest first.
func (s *Store) PendingSegmentChanges(ctx context.Context, limit int) ([]SegmentChange, error) {
	return s.pendingSegmentChanges(ctx, `true ORDER BY ch.id LIMIT $1`, limit)
}

const segmentChangeQuery = `
	SELECT ch.id, ch.workspace_id, ch.segment_id, s.name, ch.customer_id, ch.change, ch.at
	FROM segment_changes ch JOIN segments s ON s.id = ch.segment_id WHERE `

// pendingSegmentChanges selects unrouted changes by where (which orders).
func (s *Store) pendingSegmentChanges(ctx context.Context, where string, args ...any) ([]SegmentChange, error) {
	return s.segmentChanges(ctx, `ch.routed_at IS NULL AND `+where, args...)
}

func (s *Store) segmentChanges(ctx context.Context, where string, args ...any) ([]SegmentChange, error) {
	rows, err := s.pool.Query(ctx, segmentChangeQuery+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query segment changes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SegmentChange, error) {
		var c SegmentChange
		err := r.Scan(&c.ID, &c.WorkspaceID, &c.SegmentID, &c.SegmentName, &c.CustomerID, &c.Change, &c.At)
		return c, err
	})
}

// TrySegmentChanges records that journeys are about to be told about
// changes and returns those no routing had tried before (the others may
// have reached some journeys already). Of two routers trying a change at
// once, one gets it as untried.
func (s *Store) TrySegmentChanges(ctx context.Context, ids []int64) (untried map[int64]bool, err error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `UPDATE segment_changes SET tried_at = now() WHERE id = ANY($1::bigint[]) AND tried_at IS NULL RETURNING id`, ids)
	if err != nil {
		return nil, fmt.Errorf("mark segment changes tried: %w", err)
	}
	fresh, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("mark segment changes tried: %w", err)
	}
	untried = make(map[int64]bool, len(fresh))
	for _, id := range fresh {
		untried[id] = true
	}
	return untried, nil
}

// MarkSegmentChangesRouted records that journeys were told about changes.
func (s *Store) MarkSegmentChangesRouted(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE segment_changes SET routed_at = now() WHERE id = ANY($1::bigint[]) AND routed_at IS NULL`, ids); err != nil {
		return fmt.Errorf("mark segment changes routed: %w", err)
	}
	return nil
}

// SegmentHistory returns a customer's segment entries and exits, newest first.
func (s *Store) SegmentHistory(ctx context.Context, ws, customerID string, limit int) ([]SegmentChange, error) {
	return s.segmentChanges(ctx, `ch.workspace_id = $1 AND ch.customer_id = $2 ORDER BY ch.at DESC, ch.id DESC LIMIT $3`, ws, customerID, limit)
}
