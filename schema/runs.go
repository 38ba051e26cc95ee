package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Run statuses.
const (
	RunRunning   = "running"
	RunCompleted = "completed"
	RunExited    = "exited"
	RunFailed    = "failed"
	RunCanceled  = "canceled"
)

// Run is one workflow execution of a journey for a customer.
type Run struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	JourneyID  string `json:"journey_id"`
	Version    int    `json:"version"`
	CustomerID string `json:"customer_id"`
	// CustomerExternalID is the customer's user id, when they have one.
	CustomerExternalID *string `json:"customer_external_id"`
	EntryKey           string  `json:"entry_key,omitempty"`
	Status             string  `json:"status"`
	CurrentNode        string  `json:"current_node"`
	TriggerEvent       string  `json:"trigger_event,omitempty"`
	// TriggerEventID is the id of the event the run started with (written
	// at the start only, not read back in lists).
	TriggerEventID string     `json:"-"`
	ConvertedAt    *time.Time `json:"converted_at"`
	StartedAt      time.Time  `json:"started_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	EndedAt        *time.Time `json:"ended_at"`
	// EndReason says why an exited run left the journey (the exit signal's
	// reason, or "exit_on <event>") or what ended a failed one; empty for
	// other ends.
	EndReason string `json:"end_reason"`
}

const runColumns = `workflow_id, run_id, journey_id, version, customer_id, entry_key, status, current_node,
	trigger_event, converted_at, started_at, updated_at, ended_at,
	(SELECT c.external_id FROM customers c WHERE c.id = runs.customer_id) AS customer_external_id, end_reason`

func scanRun(r pgx.Row) (Run, error) {
	var x Run
	err := r.Scan(&x.WorkflowID, &x.RunID, &x.JourneyID, &x.Version, &x.CustomerID, &x.EntryKey, &x.Status,
		&x.CurrentNode, &x.TriggerEvent, &x.ConvertedAt, &x.StartedAt, &x.UpdatedAt, &x.EndedAt, &x.CustomerExternalID, &x.EndReason)
	return x, err
}

// RecordRunStart adds a run to the entry log (idempotent), under the
// customer r.CustomerID names now: the survivor when that customer was
// merged away, also by a merge that commits while the row is written. It
// returns the customer the row is under; a caller that started the run
// under another id tells the run of the merge (it may have missed it).
func (s *Store) RecordRunStart(ctx context.Context, workspaceID string, r Run) (string, error) {
	return recordRunStart(ctx, s.pool, workspaceID, r)
}

// recordRunStart locks the customer (KEY SHARE) as it writes the row: a
// merge of that customer (which locks it FOR UPDATE before it moves runs)
// either comes after and moves the row, or came first and the row is
// written under the survivor. When the lock finds no customer — merged
// while this statement waited, or erased — a second statement looks again;
// a customer that is gone then (erased) gets the row under the id given.
func recordRunStart(ctx context.Context, q queryer, workspaceID string, r Run) (string, error) {
	args := []any{workspaceID, r.CustomerID, r.WorkflowID, r.RunID, r.JourneyID, r.Version, r.EntryKey, r.TriggerEvent, r.TriggerEventID, r.StartedAt}
	const insert = `
		INSERT INTO runs (workspace_id, workflow_id, run_id, journey_id, version, customer_id, entry_key, trigger_event, trigger_event_id, started_at)
		SELECT $1, $3, $4, $5, $6, c.id, $7, $8, $9, $10 FROM c
		ON CONFLICT (workflow_id, run_id) DO UPDATE SET trigger_event_id = excluded.trigger_event_id
		WHERE runs.trigger_event_id = '' AND excluded.trigger_event_id <> ''`
	for attempt := 0; attempt < 2; attempt++ {
		var under *string
		err := q.QueryRow(ctx, `
			WITH c AS (SELECT k.id FROM customers k WHERE k.workspace_id = $1 AND k.id = `+survivorOf+` FOR KEY SHARE),
			ins AS (`+insert+` RETURNING 1)
			SELECT (SELECT id FROM c)`, args...).Scan(&under)
		if err != nil {
			return "", fmt.Errorf("record run start: %w", err)
		}
		if under != nil {
			return *under, nil
		}
	}
	_, err := q.Exec(ctx, `WITH c AS (SELECT $2::text AS id)`+insert, args...)
	if err != nil {
		return "", fmt.Errorf("record run start: %w", err)
	}
	return r.CustomerID, nil
}

// EntryHistory summarises a customer's earlier runs of a journey (entry policies).
type EntryHistory struct {
	Runs        int
	Running     int
	LastStarted *time.Time
	// RunningWorkflowID is the workflow id of the run in progress (the
	// latest started, when there are more): the id it started with, which
	// a merge leaves as it was.
	RunningWorkflowID string
}

// JourneyEntries counts the customer's runs of the journey with entry key.
func (s *Store) JourneyEntries(ctx context.Context, workspaceID, journeyID, customerID, key string) (EntryHistory, error) {
	var h EntryHistory
	err := s.pool.QueryRow(ctx, `
		SELECT count(*), count(*) FILTER (WHERE status = 'running'), max(started_at),
			coalesce((array_agg(workflow_id ORDER BY started_at DESC) FILTER (WHERE status = 'running'))[1], '') FROM runs
		WHERE workspace_id = $1 AND journey_id = $2 AND customer_id = $3 AND entry_key = $4`,
		workspaceID, journeyID, customerID, key).Scan(&h.Runs, &h.Running, &h.LastStarted, &h.RunningWorkflowID)
	if err != nil {
		return h, fmt.Errorf("count journey entries: %w", err)
	}
	return h, nil
}

// RunningJourneyRuns counts the running runs of a journey (max_concurrent).
func (s *Store) RunningJourneyRuns(ctx context.Context, workspaceID, journeyID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM runs WHERE workspace_id = $1 AND journey_id = $2 AND status = 'running'`,
		workspaceID, journeyID).Scan(&n)
	return n, err
}

// WithJourneyEntryLock runs fn while holding the journey's entry lock (a
// Postgres advisory lock, so every Herald process takes turns), passing it
// the journey's running runs at that moment. Entries under max_concurrent
// count and start inside it, so concurrent entries cannot overshoot.
func (s *Store) WithJourneyEntryLock(ctx context.Context, workspaceID, journeyID string, fn func(running int) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	key := "journey-entry/" + workspaceID + "/" + journeyID
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, key); err != nil {
		return fmt.Errorf("lock journey entries: %w", err)
	}
	defer func() {
		// Unlock even when ctx has ended; a failure closes the connection,
		// which releases the lock too.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM runs WHERE workspace_id = $1 AND journey_id = $2 AND status = 'running'`,
		workspaceID, journeyID).Scan(&n); err != nil {
		return fmt.Errorf("count running runs: %w", err)
	}
	return fn(n)
}

// RunningRunsOfCustomer returns the customer's running runs (routing signals them).
func (s *Store) RunningRunsOfCustomer(ctx context.Context, workspaceID, customerID string) ([]Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM runs
		WHERE workspace_id = $1 AND customer_id = $2 AND status = 'running'`, workspaceID, customerID)
	if err != nil {
		return nil, fmt.Errorf("query running runs: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
}

// RunningWorkflowsOfCustomers returns, for each of the customers, the
// workflow ids of their running runs (routing a batch of events reads them
// at once), and for each of them merged into another customer since, that
// customer (customer_merges): its runs are among the running ones, under
// its own id.
func (s *Store) RunningWorkflowsOfCustomers(ctx context.Context, workspaceID string, customerIDs []string) (running map[string][]string, merged map[string]string, err error) {
	rows, err := s.pool.Query(ctx, `
		WITH m AS (SELECT from_id, into_id FROM customer_merges WHERE workspace_id = $1 AND from_id = ANY($2::text[]))
		SELECT 'm', from_id, into_id, NULL::timestamptz FROM m
		UNION ALL
		SELECT 'r', customer_id, workflow_id, started_at FROM runs
		WHERE workspace_id = $1 AND customer_id = ANY($2::text[] || ARRAY(SELECT into_id FROM m)) AND status = 'running'
		ORDER BY 1, 4`, workspaceID, customerIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("query running runs: %w", err)
	}
	running, merged = map[string][]string{}, map[string]string{}
	var kind, cust, wf string
	var at *time.Time
	_, err = pgx.ForEachRow(rows, []any{&kind, &cust, &wf, &at}, func() error {
		if kind == "m" {
			merged[cust] = wf
		} else if !slices.Contains(running[cust], wf) {
			running[cust] = append(running[cust], wf)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("query running runs: %w", err)
	}
	return running, merged, nil
}

// EventOrder is where events of a workspace and the triggers of its running
// runs stand in their customers' order of events (the event rows' ids,
// which grow in the order each customer's events were stored).
type EventOrder struct {
	// Events maps a message id to its row's id.
	Events map[string]int64
	// Triggers maps a running run's workflow id to its trigger event's row
	// id (absent: a run not started by a stored event, as from the API).
	Triggers map[string]int64
}

// EventOrderOf reads where the events messageIDs and the triggers of the
// running runs workflowIDs of the workspace stand.
func (s *Store) EventOrderOf(ctx context.Context, workspaceID string, messageIDs, workflowIDs []string) (EventOrder, error) {
	out := EventOrder{Events: map[string]int64{}, Triggers: map[string]int64{}}
	rows, err := s.pool.Query(ctx, `
		SELECT 'e', message_id, id FROM events WHERE workspace_id = $1 AND message_id = ANY($2::text[])
		UNION ALL
		SELECT 'r', r.workflow_id, e.id FROM runs r
		JOIN events e ON e.workspace_id = r.workspace_id AND e.message_id = r.trigger_event_id
		WHERE r.workspace_id = $1 AND r.workflow_id = ANY($3::text[]) AND r.status = 'running' AND r.trigger_event_id <> ''`,
		workspaceID, messageIDs, workflowIDs)
	if err != nil {
		return out, fmt.Errorf("read event order: %w", err)
	}
	var kind, key string
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&kind, &key, &id}, func() error {
		if kind == "e" {
			out.Events[key] = id
		} else if id > out.Triggers[key] {
			out.Triggers[key] = id
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("read event order: %w", err)
	}
	return out, nil
}

// RunStep is a node visit as reported by a run.
type RunStep struct {
	WorkspaceID string
	JourneyID   string
	WorkflowID  string
	RunID       string
	Node        string
	Visit       int
	Detail      string
	EnteredAt   time.Time
	// PreviousNode/PreviousVisit, when set, are marked as left at EnteredAt.
	PreviousNode  string
	PreviousVisit int
}

// RecordRunStep records that a run entered a node (and left the previous one).
// Idempotent: replays write the same rows.
func (s *Store) RecordRunStep(ctx context.Context, st RunStep) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return recordRunStep(ctx, tx, st) })
}

func recordRunStep(ctx context.Context, tx queryer, st RunStep) error {
	if st.PreviousNode != "" {
		if _, err := tx.Exec(ctx, `UPDATE run_steps SET left_at = coalesce(left_at, $5)
			WHERE workflow_id = $1 AND run_id = $2 AND node_id = $3 AND visit = $4`,
			st.WorkflowID, st.RunID, st.PreviousNode, st.PreviousVisit, st.EnteredAt); err != nil {
			return fmt.Errorf("leave step: %w", err)
		}
	}
	if st.Node == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO run_steps (workspace_id, journey_id, workflow_id, run_id, node_id, visit, detail, entered_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (workflow_id, run_id, node_id, visit) DO UPDATE SET detail = excluded.detail`,
		st.WorkspaceID, st.JourneyID, st.WorkflowID, st.RunID, st.Node, st.Visit, st.Detail, st.EnteredAt); err != nil {
		return fmt.Errorf("enter step: %w", err)
	}
	_, err := tx.Exec(ctx, `UPDATE runs SET current_node = $3, updated_at = now() WHERE workflow_id = $1 AND run_id = $2`,
		st.WorkflowID, st.RunID, st.Node)
	return err
}

// RunProgress is what a run reports at once (interpreter v4): its start if
// not reported yet, its node visits since the last report in order, a goal
// conversion, and its end. Every part is optional.
type RunProgress struct {
	WorkflowID  string
	RunID       string
	WorkspaceID string
	Start       *Run
	Steps       []RunStep
	ConvertedAt *time.Time
	Finish      *RunFinish
}

// RunFinish is how a run ended; LastNode/LastVisit, when set, are left at At.
type RunFinish struct {
	Status    string
	Reason    string
	At        time.Time
	LastNode  string
	LastVisit int
}

// RecordRunProgress writes p in one transaction. Idempotent like its parts:
// a retried or replayed report writes the same rows.
func (s *Store) RecordRunProgress(ctx context.Context, p RunProgress) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if r := p.Start; r != nil {
			if _, err := recordRunStart(ctx, tx, p.WorkspaceID, *r); err != nil {
				return err
			}
		}
		for _, st := range p.Steps {
			if err := recordRunStep(ctx, tx, st); err != nil {
				return err
			}
		}
		if p.ConvertedAt != nil {
			if err := recordConversion(ctx, tx, p.WorkflowID, p.RunID, *p.ConvertedAt); err != nil {
				return err
			}
		}
		if f := p.Finish; f != nil {
			if f.LastNode != "" {
				if err := recordRunStep(ctx, tx, RunStep{WorkflowID: p.WorkflowID, RunID: p.RunID,
					PreviousNode: f.LastNode, PreviousVisit: f.LastVisit, EnteredAt: f.At}); err != nil {
					return err
				}
			}
			if err := finishRun(ctx, tx, p.WorkflowID, p.RunID, f.Status, f.Reason, f.At); err != nil {
				return err
			}
		}
		return nil
	})
}

// FinishRun records how a run ended.
func (s *Store) FinishRun(ctx context.Context, workflowID, runID, status, reason string, at time.Time) error {
	return finishRun(ctx, s.pool, workflowID, runID, status, reason, at)
}

func finishRun(ctx context.Context, q queryer, workflowID, runID, status, reason string, at time.Time) error {
	_, err := q.Exec(ctx, `UPDATE runs SET status = $3, ended_at = coalesce(ended_at, $4), updated_at = now(),
		end_reason = CASE WHEN ended_at IS NULL THEN $5 ELSE end_reason END
		WHERE workflow_id = $1 AND run_id = $2`, workflowID, runID, status, at, reason)
	if err != nil {
		return fmt.Errorf("finish run: %w", err)
	}
	return nil
}

// RecordConversion marks the run as converted (goal reached) once.
func (s *Store) RecordConversion(ctx context.Context, workflowID, runID string, at time.Time) error {
	return recordConversion(ctx, s.pool, workflowID, runID, at)
}

func recordConversion(ctx context.Context, q queryer, workflowID, runID string, at time.Time) error {
	_, err := q.Exec(ctx, `UPDATE runs SET converted_at = coalesce(converted_at, $3) WHERE workflow_id = $1 AND run_id = $2`,
		workflowID, runID, at)
	if err != nil {
		return fmt.Errorf("record conversion: %w", err)
	}
	return nil
}

// ListRuns lists a journey's runs, newest first, filtered by status and current node.
// Runs that started at the same time come by run id, descending; before is
// the last run of the previous page (At its start, Key its run id).
func (s *Store) ListRuns(ctx context.Context, workspaceID, journeyID, status, node string, limit int, before *TimeKey) ([]Run, error) {
	at, key := before.args()
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM runs
		WHERE workspace_id = $1 AND journey_id = $2 AND ($3 = '' OR status = $3) AND ($4 = '' OR current_node = $4)
		  AND ($6::timestamptz IS NULL OR (started_at, run_id) < ($6, $7))
		ORDER BY started_at DESC, run_id DESC LIMIT $5`, workspaceID, journeyID, status, node, limit, at, key)
	if err != nil {
		return nil, fmt.Errorf("query runs: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) { return scanRun(r) })
}

// TimeKey is a place in a list ordered by a time, then a key, both
// descending: the list goes on with the items before it. A Key of "" is
// before every key (the items strictly older than At).
type TimeKey struct {
	At  time.Time
	Key string
}

// args are the place as query arguments (a nil time for none).
func (k *TimeKey) args() (*time.Time, string) {
	if k == nil {
		return nil, ""
	}
	return &k.At, k.Key
}

// GetRun returns the newest run with the workflow id.
func (s *Store) GetRun(ctx context.Context, workspaceID, workflowID string) (Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM runs
		WHERE workspace_id = $1 AND workflow_id = $2 ORDER BY started_at DESC LIMIT 1`, workspaceID, workflowID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, ErrNotFound
	}
	if err != nil {
		return Run{}, fmt.Errorf("load run %s: %w", workflowID, err)
	}
	return r, nil
}

// StepRow is one node visit of a run, for the run's path.
type StepRow struct {
	Node      string     `json:"node"`
	Visit     int        `json:"visit"`
	Detail    string     `json:"detail,omitempty"`
	EnteredAt time.Time  `json:"entered_at"`
	LeftAt    *time.Time `json:"left_at"`
}

// RunPath returns the steps of a run in order.
func (s *Store) RunPath(ctx context.Context, workspaceID, workflowID, runID string) ([]StepRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT node_id, visit, detail, entered_at, left_at FROM run_steps
		WHERE workspace_id = $1 AND workflow_id = $2 AND run_id = $3 ORDER BY entered_at, visit`, workspaceID, workflowID, runID)
	if err != nil {
		return nil, fmt.Errorf("query run path: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StepRow, error) {
		var x StepRow
		err := r.Scan(&x.Node, &x.Visit, &x.Detail, &x.EnteredAt, &x.LeftAt)
		return x, err
	})
}

// NodeStats counts a node's visits.
type NodeStats struct {
	Entered int `json:"entered"`
	Waiting int `json:"waiting"`
	Passed  int `json:"passed"`
}

// JourneyStats is the projection behind GET /api/journeys/{id}/stats.
type JourneyStats struct {
	Runs        map[string]int            `json:"runs"`
	Nodes       map[string]NodeStats      `json:"nodes"`
	Sends       map[string]map[string]int `json:"sends"`
	Conversions int                       `json:"conversions"`
	Variants    map[string]map[string]int `json:"variants,omitempty"`
	// Funnel counts, per send node, the messages that ever reached each
	// status (sent, delivered, opened, clicked, bounced, complained,
	// unsubscribed, failed, suppressed, deferred); Templates the same per
	// template and Total for the whole journey.
	Funnel    map[string]map[string]int `json:"funnel"`
	Templates map[string]map[string]int `json:"template_funnel"`
	Total     map[string]int            `json:"funnel_total"`
}

func addCount(m map[string]map[string]int, key, status string, n int) {
	if m[key] == nil {
		m[key] = map[string]int{}
	}
	m[key][status] += n
}

// GetJourneyStats computes per-node and per-send counts from the projection.
func (s *Store) GetJourneyStats(ctx context.Context, workspaceID, journeyID string) (JourneyStats, error) {
	st := JourneyStats{Runs: map[string]int{}, Nodes: map[string]NodeStats{}, Sends: map[string]map[string]int{}, Variants: map[string]map[string]int{}}
	// Passed: the run left the node and went on. A run that ended while at
	// a node (stopped, exited on an event, failed) left its last visit of
	// it without passing it.
	rows, err := s.pool.Query(ctx, `
		SELECT node_id, count(*),
			count(*) FILTER (WHERE left_at IS NULL AND status = 'running'),
			count(*) FILTER (WHERE left_at IS NOT NULL AND (status IN ('running', 'completed')
				OR node_id IS DISTINCT FROM current_node OR visit < last_visit))
		FROM (SELECT rs.node_id, rs.visit, rs.left_at, r.status, r.current_node,
				max(rs.visit) OVER (PARTITION BY rs.workflow_id, rs.run_id, rs.node_id) AS last_visit
			FROM run_steps rs JOIN runs r ON r.workflow_id = rs.workflow_id AND r.run_id = rs.run_id
			WHERE rs.workspace_id = $1 AND rs.journey_id = $2) steps
		GROUP BY node_id`, workspaceID, journeyID)
	if err != nil {
		return st, fmt.Errorf("query node stats: %w", err)
	}
	for rows.Next() {
		var node string
		var n NodeStats
		if err := rows.Scan(&node, &n.Entered, &n.Waiting, &n.Passed); err != nil {
			rows.Close()
			return st, err
		}
		st.Nodes[node] = n
	}
	rows.Close()
	rows, err = s.pool.Query(ctx, `SELECT node_id, status, count(*) FROM deliveries
		WHERE workspace_id = $1 AND journey_id = $2 GROUP BY node_id, status`, workspaceID, journeyID)
	if err != nil {
		return st, fmt.Errorf("query send stats: %w", err)
	}
	for rows.Next() {
		var node, status string
		var n int
		if err := rows.Scan(&node, &status, &n); err != nil {
			rows.Close()
			return st, err
		}
		if st.Sends[node] == nil {
			st.Sends[node] = map[string]int{}
		}
		st.Sends[node][status] = n
	}
	rows.Close()
	st.Funnel, st.Templates, st.Total = map[string]map[string]int{}, map[string]map[string]int{}, map[string]int{}
	rows, err = s.pool.Query(ctx, `SELECT d.node_id, d.template_id, e.status, count(DISTINCT e.delivery_id)
		FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id AND d.workspace_id = e.workspace_id
		WHERE d.workspace_id = $1 AND d.journey_id = $2 AND e.status <> 'pending' GROUP BY 1, 2, 3`, workspaceID, journeyID)
	if err != nil {
		return st, fmt.Errorf("query funnel: %w", err)
	}
	for rows.Next() {
		var node, tpl, status string
		var n int
		if err := rows.Scan(&node, &tpl, &status, &n); err != nil {
			rows.Close()
			return st, err
		}
		addCount(st.Funnel, node, status, n)
		addCount(st.Templates, tpl, status, n)
		st.Total[status] += n
	}
	rows.Close()
	rows, err = s.pool.Query(ctx, `SELECT node_id, detail, count(*) FROM run_steps
		WHERE workspace_id = $1 AND journey_id = $2 AND detail LIKE 'variant:%' GROUP BY node_id, detail`, workspaceID, journeyID)
	if err != nil {
		return st, fmt.Errorf("query split stats: %w", err)
	}
	for rows.Next() {
		var node, detail string
		var n int
		if err := rows.Scan(&node, &detail, &n); err != nil {
			rows.Close()
			return st, err
		}
		if st.Variants[node] == nil {
			st.Variants[node] = map[string]int{}
		}
		st.Variants[node][detail[len("variant:"):]] = n
	}
	rows.Close()
	rows, err = s.pool.Query(ctx, `SELECT status, count(*) FROM runs WHERE workspace_id = $1 AND journey_id = $2 GROUP BY status`, workspaceID, journeyID)
	if err != nil {
		return st, fmt.Errorf("query run stats: %w", err)
	}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			rows.Close()
			return st, err
		}
		st.Runs[status] = n
	}
	rows.Close()
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM runs WHERE workspace_id = $1 AND journey_id = $2 AND converted_at IS NOT NULL`,
		workspaceID, journeyID).Scan(&st.Conversions)
	return st, err
}

// RunEnded reports whether the run is in the projection with an end recorded.
func (s *Store) RunEnded(ctx context.Context, workspaceID, workflowID, runID string) (bool, error) {
	var ended bool
	err := s.pool.QueryRow(ctx, `SELECT status <> 'running' FROM runs WHERE workspace_id = $1 AND workflow_id = $2 AND run_id = $3`,
		workspaceID, workflowID, runID).Scan(&ended)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check run end: %w", err)
	}
	return ended, nil
}
