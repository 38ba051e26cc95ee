package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Journey statuses (DESIGN §5 lifecycle).
const (
	JourneyDraft    = "draft"
	JourneyActive   = "active"
	JourneyPaused   = "paused"
	JourneyStopped  = "stopped"
	JourneyArchived = "archived"
)

// ErrInvalidState is returned for a lifecycle change the journey's status forbids.
var ErrInvalidState = errors.New("invalid state")

// Journey is a journey with its editable draft definition.
type Journey struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Status      string          `json:"status"`
	Definition  json.RawMessage `json:"definition"`
	LiveVersion *int            `json:"live_version"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// JourneyVersion is an immutable published definition.
type JourneyVersion struct {
	JourneyID   string          `json:"journey_id"`
	Version     int             `json:"version"`
	Definition  json.RawMessage `json:"definition"`
	PublishedBy string          `json:"published_by"`
	PublishedAt time.Time       `json:"published_at"`
}

const journeyColumns = `id, name, status, definition, live_version, created_at, updated_at`

func scanJourney(r pgx.Row) (Journey, error) {
	var j Journey
	err := r.Scan(&j.ID, &j.Name, &j.Status, &j.Definition, &j.LiveVersion, &j.CreatedAt, &j.UpdatedAt)
	return j, err
}

// CreateJourney stores a new draft.
func (s *Store) CreateJourney(ctx context.Context, workspaceID, name string, def json.RawMessage) (Journey, error) {
	j, err := scanJourney(s.pool.QueryRow(ctx, `
		INSERT INTO journeys (id, workspace_id, name, definition) VALUES ($1, $2, $3, $4)
		RETURNING `+journeyColumns, NewID("jny"), workspaceID, name, def))
	if err != nil {
		return Journey{}, fmt.Errorf("insert journey: %w", err)
	}
	return j, nil
}

// UpdateJourneyDraft replaces the draft; archived and stopped journeys are frozen.
func (s *Store) UpdateJourneyDraft(ctx context.Context, workspaceID, id, name string, def json.RawMessage) (Journey, error) {
	j, err := scanJourney(s.pool.QueryRow(ctx, `
		UPDATE journeys SET name = $3, definition = $4, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND status NOT IN ('archived', 'stopped')
		RETURNING `+journeyColumns, workspaceID, id, name, def))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := s.GetJourney(ctx, workspaceID, id); gerr != nil {
			return Journey{}, gerr
		}
		return Journey{}, fmt.Errorf("%w: a stopped or archived journey cannot be edited", ErrInvalidState)
	}
	if err != nil {
		return Journey{}, fmt.Errorf("update journey: %w", err)
	}
	return j, nil
}

// GetJourney loads one journey of the workspace.
func (s *Store) GetJourney(ctx context.Context, workspaceID, id string) (Journey, error) {
	j, err := scanJourney(s.pool.QueryRow(ctx, `SELECT `+journeyColumns+` FROM journeys WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Journey{}, ErrNotFound
	}
	if err != nil {
		return Journey{}, fmt.Errorf("load journey %s: %w", id, err)
	}
	return j, nil
}

// ListJourneys returns journeys, newest first, after the cursor (an id).
func (s *Store) ListJourneys(ctx context.Context, workspaceID string, limit int, cursor string) ([]Journey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+journeyColumns+` FROM journeys
		WHERE workspace_id = $1 AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $2`, workspaceID, limit, cursor)
	if err != nil {
		return nil, fmt.Errorf("query journeys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Journey, error) { return scanJourney(r) })
}

// PublishJourney freezes the draft as the next numbered version and makes it
// live: new entrants get it. A paused journey stays paused.
func (s *Store) PublishJourney(ctx context.Context, workspaceID, id, by string) (JourneyVersion, error) {
	var v JourneyVersion
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status, definition FROM journeys WHERE workspace_id = $1 AND id = $2 FOR UPDATE`,
			workspaceID, id).Scan(&status, &v.Definition)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock journey: %w", err)
		}
		if status == JourneyStopped || status == JourneyArchived {
			return fmt.Errorf("%w: a %s journey cannot be published", ErrInvalidState, status)
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM journey_versions WHERE journey_id = $1`, id).Scan(&v.Version); err != nil {
			return fmt.Errorf("next version: %w", err)
		}
		v.JourneyID, v.PublishedBy = id, by
		if err := tx.QueryRow(ctx, `
			INSERT INTO journey_versions (workspace_id, journey_id, version, definition, published_by)
			VALUES ($1, $2, $3, $4, $5) RETURNING published_at`, workspaceID, id, v.Version, v.Definition, by).Scan(&v.PublishedAt); err != nil {
			return fmt.Errorf("insert version: %w", err)
		}
		newStatus := JourneyActive
		if status == JourneyPaused {
			newStatus = JourneyPaused
		}
		_, err = tx.Exec(ctx, `UPDATE journeys SET live_version = $3, status = $4, updated_at = now() WHERE workspace_id = $1 AND id = $2`,
			workspaceID, id, v.Version, newStatus)
		return err
	})
	return v, err
}

// SetJourneyStatus moves a journey to status to if its current status is one of from.
func (s *Store) SetJourneyStatus(ctx context.Context, workspaceID, id string, from []string, to string) (Journey, error) {
	j, err := scanJourney(s.pool.QueryRow(ctx, `
		UPDATE journeys SET status = $4, updated_at = now()
		WHERE workspace_id = $1 AND id = $2 AND status = ANY($3)
		RETURNING `+journeyColumns, workspaceID, id, from, to))
	if errors.Is(err, pgx.ErrNoRows) {
		cur, gerr := s.GetJourney(ctx, workspaceID, id)
		if gerr != nil {
			return Journey{}, gerr
		}
		return Journey{}, fmt.Errorf("%w: the journey is %s; this needs it to be %v", ErrInvalidState, cur.Status, from)
	}
	if err != nil {
		return Journey{}, fmt.Errorf("update journey status: %w", err)
	}
	return j, nil
}

// LockJourneyLifecycle takes the journey's lifecycle lock (pause, resume,
// stop, archive) until unlock is called, so that one change's status and
// the signals to its runs are not interleaved with another's;
// ErrInvalidState when another change holds it. It is a session advisory
// lock on a connection of the pool: a process that dies lets it go with
// its connection.
func (s *Store) LockJourneyLifecycle(ctx context.Context, workspaceID, id string) (unlock func(), err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock journey %s: %w", id, err)
	}
	key := "journey-lifecycle/" + workspaceID + "/" + id
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&got); err != nil || !got {
		conn.Release()
		if err != nil {
			return nil, fmt.Errorf("lock journey %s: %w", id, err)
		}
		return nil, fmt.Errorf("%w: another pause, resume, stop or archive of the journey is under way; ask again when it has answered", ErrInvalidState)
	}
	return func() {
		ctx := context.WithoutCancel(ctx)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); err != nil {
			_ = conn.Conn().Close(ctx) // the lock goes with the session
		}
		conn.Release()
	}, nil
}

// ListJourneyVersions returns the published versions, newest first.
// At most limit of them (0: all), older than version before (0: from the newest).
func (s *Store) ListJourneyVersions(ctx context.Context, workspaceID, id string, limit, before int) ([]JourneyVersion, error) {
	rows, err := s.pool.Query(ctx, `SELECT journey_id, version, definition, published_by, published_at FROM journey_versions
		WHERE workspace_id = $1 AND journey_id = $2 AND ($4 = 0 OR version < $4)
		ORDER BY version DESC LIMIT nullif($3, 0)`, workspaceID, id, limit, before)
	if err != nil {
		return nil, fmt.Errorf("query versions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (JourneyVersion, error) {
		var v JourneyVersion
		err := r.Scan(&v.JourneyID, &v.Version, &v.Definition, &v.PublishedBy, &v.PublishedAt)
		return v, err
	})
}

// LiveJourney is a published journey that may take entrants.
type LiveJourney struct {
	ID         string
	Status     string
	Version    int
	Definition json.RawMessage
}

// LiveJourneysForEvent returns the active journeys triggered by event name
// (and, for "Segment Entered", the segment-triggered ones: the router
// checks which segment).
func (s *Store) LiveJourneysForEvent(ctx context.Context, workspaceID, event string) ([]LiveJourney, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT j.id, j.status, v.version, v.definition FROM journeys j
		JOIN journey_versions v ON v.journey_id = j.id AND v.version = j.live_version
		WHERE j.workspace_id = $1 AND j.status = 'active'
		  AND (v.definition -> 'trigger' ->> 'type' = 'event' AND v.definition -> 'trigger' ->> 'event' = $2
		    OR v.definition -> 'trigger' ->> 'type' = 'segment' AND $2 = '`+EventSegmentEntered+`')`, workspaceID, event)
	if err != nil {
		return nil, fmt.Errorf("query live journeys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LiveJourney, error) {
		var l LiveJourney
		err := r.Scan(&l.ID, &l.Status, &l.Version, &l.Definition)
		return l, err
	})
}

// GetLiveJourney returns the journey's live version.
func (s *Store) GetLiveJourney(ctx context.Context, workspaceID, id string) (LiveJourney, error) {
	var l LiveJourney
	err := s.pool.QueryRow(ctx, `
		SELECT j.id, j.status, v.version, v.definition FROM journeys j
		JOIN journey_versions v ON v.journey_id = j.id AND v.version = j.live_version
		WHERE j.workspace_id = $1 AND j.id = $2`, workspaceID, id).Scan(&l.ID, &l.Status, &l.Version, &l.Definition)
	if errors.Is(err, pgx.ErrNoRows) {
		return LiveJourney{}, ErrNotFound
	}
	if err != nil {
		return LiveJourney{}, fmt.Errorf("load live journey %s: %w", id, err)
	}
	return l, nil
}
