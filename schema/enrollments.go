package schema

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Enrollment statuses.
const (
	EnrollmentRunning   = "running"
	EnrollmentCompleted = "completed"
	EnrollmentCancelled = "cancelled"
	EnrollmentFailed    = "failed"
)

// Enrollment is one walk through a segment entering its members into a
// journey: at publish (include_existing) or at a schedule's firing.
// Enrolled + Skipped is how many members it has handled; Total is how many
// the segment had when it started.
type Enrollment struct {
	ID          string     `json:"id"`
	JourneyID   string     `json:"journey_id"`
	SegmentID   string     `json:"segment_id"`
	Reason      string     `json:"reason"`
	Status      string     `json:"status"`
	Total       int64      `json:"total"`
	Enrolled    int64      `json:"enrolled"`
	Skipped     int64      `json:"skipped"`
	Cursor      string     `json:"-"`
	Error       string     `json:"error,omitempty"`
	StartedAt   time.Time  `json:"started_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	WorkspaceID string     `json:"-"`
}

const enrollmentColumns = `id, journey_id, segment_id, reason, status, total, enrolled, skipped, cursor, error,
	started_at, updated_at, finished_at, workspace_id`

func scanEnrollment(r pgx.Row) (Enrollment, error) {
	var e Enrollment
	err := r.Scan(&e.ID, &e.JourneyID, &e.SegmentID, &e.Reason, &e.Status, &e.Total, &e.Enrolled, &e.Skipped, &e.Cursor,
		&e.Error, &e.StartedAt, &e.UpdatedAt, &e.FinishedAt, &e.WorkspaceID)
	return e, err
}

// StartEnrollment records an enrollment with the segment's size now; when
// it exists already (a retried start) the stored one is returned.
func (s *Store) StartEnrollment(ctx context.Context, e Enrollment) (Enrollment, error) {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO enrollments (id, workspace_id, journey_id, segment_id, reason, total)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.WorkspaceID, e.JourneyID, e.SegmentID, e.Reason, e.Total)
	if err != nil {
		return Enrollment{}, fmt.Errorf("record enrollment: %w", err)
	}
	return s.GetEnrollment(ctx, e.ID)
}

// GetEnrollment returns an enrollment by id (any workspace: enrollment
// activities know only the id).
func (s *Store) GetEnrollment(ctx context.Context, id string) (Enrollment, error) {
	e, err := scanEnrollment(s.pool.QueryRow(ctx, `SELECT `+enrollmentColumns+` FROM enrollments WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Enrollment{}, ErrNotFound
	}
	if err != nil {
		return Enrollment{}, fmt.Errorf("load enrollment %s: %w", id, err)
	}
	return e, nil
}

// ListEnrollments returns a journey's enrollments, newest first.
func (s *Store) ListEnrollments(ctx context.Context, workspaceID, journeyID string, limit int) ([]Enrollment, error) {
	return s.ListEnrollmentsPage(ctx, workspaceID, journeyID, limit, "")
}

// ListEnrollmentsPage is a page of ListEnrollments after the enrollment
// with id cursor ("" from the newest; ErrNotFound when the journey has no
// such enrollment).
func (s *Store) ListEnrollmentsPage(ctx context.Context, workspaceID, journeyID string, limit int, cursor string) ([]Enrollment, error) {
	if cursor != "" {
		var found bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM enrollments WHERE workspace_id = $1 AND journey_id = $2 AND id = $3)`,
			workspaceID, journeyID, cursor).Scan(&found); err != nil {
			return nil, fmt.Errorf("find cursor enrollment: %w", err)
		}
		if !found {
			return nil, ErrNotFound
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+enrollmentColumns+` FROM enrollments
		WHERE workspace_id = $1 AND journey_id = $2
			AND ($4 = '' OR (started_at, id) < (SELECT started_at, id FROM enrollments WHERE id = $4))
		ORDER BY started_at DESC, id DESC LIMIT $3`, workspaceID, journeyID, limit, cursor)
	if err != nil {
		return nil, fmt.Errorf("query enrollments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Enrollment, error) { return scanEnrollment(r) })
}

// AdvanceEnrollment records a handled page of members: the cursor moves
// past them and the counts grow, only while the enrollment runs and only
// from the cursor the page started at (a retried page is not counted twice).
func (s *Store) AdvanceEnrollment(ctx context.Context, id, from, to string, enrolled, skipped int) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE enrollments SET cursor = $3, enrolled = enrolled + $4, skipped = skipped + $5, updated_at = now()
		WHERE id = $1 AND cursor = $2 AND status = 'running'`, id, from, to, enrolled, skipped)
	if err != nil {
		return fmt.Errorf("advance enrollment %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: enrollment %s is not running at cursor %q", ErrInvalidState, id, from)
	}
	return nil
}

// FinishEnrollment ends a running enrollment with status (and an error for
// a failed one).
func (s *Store) FinishEnrollment(ctx context.Context, id, status, reason string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE enrollments SET status = $2, error = $3, updated_at = now(), finished_at = now()
		WHERE id = $1 AND status = 'running'`, id, status, reason)
	if err != nil {
		return fmt.Errorf("finish enrollment %s: %w", id, err)
	}
	return nil
}

// RunsStartedBy returns, of the given trigger event ids, those a run of the
// journey was started with.
func (s *Store) RunsStartedBy(ctx context.Context, workspaceID, journeyID string, eventIDs []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT trigger_event_id FROM runs
		WHERE workspace_id = $1 AND journey_id = $2 AND trigger_event_id = ANY($3::text[])`, workspaceID, journeyID, eventIDs)
	if err != nil {
		return nil, fmt.Errorf("query runs by trigger: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("query runs by trigger: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// CustomersWithRuns returns, of the given customers, those who have any
// run of the journey (an enrollment under the "once" policy skips them
// without asking one by one).
func (s *Store) CustomersWithRuns(ctx context.Context, workspaceID, journeyID string, customerIDs []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT customer_id FROM runs
		WHERE workspace_id = $1 AND journey_id = $2 AND entry_key = '' AND customer_id = ANY($3::text[])`, workspaceID, journeyID, customerIDs)
	if err != nil {
		return nil, fmt.Errorf("query runs of customers: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("query runs of customers: %w", err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}
