package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/bcrypt"
)

// Workspace is a tenant: every other row belongs to exactly one.
type Workspace struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Timezone string `json:"timezone"`
	// QuietHours, when set, hold sends of journeys that have no quiet hours
	// of their own (in the customer's time zone, else the workspace's).
	QuietHours *QuietHours `json:"quiet_hours"`
	CreatedAt  time.Time   `json:"created_at"`
}

// QuietHours is a daily window ("22:00"–"08:00") in which sends wait.
type QuietHours struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// User is a person who logs in to the web app.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// Member is a user seen from inside one workspace, with their role there.
type Member struct {
	User      User
	Workspace Workspace
	Role      string
}

// Roles a member can hold, strongest first.
const (
	RoleOwner  = "owner"
	RoleEditor = "editor"
	RoleViewer = "viewer"
)

// CreateWorkspace inserts a workspace named name.
func (s *Store) CreateWorkspace(ctx context.Context, name string) (Workspace, error) {
	w := Workspace{ID: NewID("ws"), Name: name}
	err := s.pool.QueryRow(ctx,
		`INSERT INTO workspaces (id, name) VALUES ($1, $2) RETURNING timezone, created_at`,
		w.ID, name).Scan(&w.Timezone, &w.CreatedAt)
	if err != nil {
		return Workspace{}, fmt.Errorf("insert workspace: %w", err)
	}
	return w, nil
}

// quietHours reads a workspace's quiet_start and quiet_end columns.
func quietHours(start, end *string) *QuietHours {
	if start == nil || end == nil {
		return nil
	}
	return &QuietHours{Start: *start, End: *end}
}

// GetWorkspace loads one workspace by id.
func (s *Store) GetWorkspace(ctx context.Context, id string) (Workspace, error) {
	var w Workspace
	var start, end *string
	err := s.pool.QueryRow(ctx,
		`SELECT id, name, timezone, quiet_start, quiet_end, created_at FROM workspaces WHERE id = $1`, id).
		Scan(&w.ID, &w.Name, &w.Timezone, &start, &end, &w.CreatedAt)
	w.QuietHours = quietHours(start, end)
	if errors.Is(err, pgx.ErrNoRows) {
		return Workspace{}, ErrNotFound
	}
	if err != nil {
		return Workspace{}, fmt.Errorf("load workspace %s: %w", id, err)
	}
	return w, nil
}

// UpdateWorkspace saves a workspace's name, time zone and default quiet
// hours (nil clears them).
func (s *Store) UpdateWorkspace(ctx context.Context, w Workspace) error {
	var start, end *string
	if w.QuietHours != nil {
		start, end = &w.QuietHours.Start, &w.QuietHours.End
	}
	tag, err := s.pool.Exec(ctx, `UPDATE workspaces SET name = $2, timezone = $3, quiet_start = $4, quiet_end = $5 WHERE id = $1`,
		w.ID, w.Name, w.Timezone, start, end)
	if err != nil {
		return fmt.Errorf("update workspace: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// passwordCost is bcrypt's work factor for stored passwords.
const passwordCost = 11

// dummyHash is compared against when an email is unknown, so a login for a
// missing user costs the same as one with a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("herald-dummy-password"), passwordCost)

// ErrBadCredentials is returned by Authenticate for any wrong email/password.
var ErrBadCredentials = errors.New("invalid email or password")

// AddMember creates the user if the email is new (with password) and makes
// them a member of workspaceID with role. An existing user keeps their password.
func (s *Store) AddMember(ctx context.Context, workspaceID, email, password, role string) (User, error) {
	email = strings.TrimSpace(strings.ToLower(email))
	if email == "" || !strings.Contains(email, "@") {
		return User{}, fmt.Errorf("email %q is not an address", email)
	}
	if len(password) < 8 {
		return User{}, errors.New("password must have at least 8 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	u := User{Email: email}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
			ON CONFLICT (lower(email)) DO UPDATE SET email = users.email
			RETURNING id`, NewID("usr"), email, string(hash)).Scan(&u.ID)
		if err != nil {
			return fmt.Errorf("upsert user: %w", err)
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role`,
			workspaceID, u.ID, role)
		if err != nil {
			return fmt.Errorf("insert member: %w", err)
		}
		return nil
	})
	return u, err
}

// Authenticate checks an email and password and returns the user's first
// workspace membership. Any mismatch is ErrBadCredentials.
func (s *Store) Authenticate(ctx context.Context, email, password string) (Member, error) {
	var m Member
	var hash string
	var start, end *string
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, u.email, u.password_hash, m.role, w.id, w.name, w.timezone, w.quiet_start, w.quiet_end, w.created_at
		FROM users u
		JOIN workspace_members m ON m.user_id = u.id
		JOIN workspaces w ON w.id = m.workspace_id
		WHERE lower(u.email) = lower($1)
		ORDER BY m.created_at LIMIT 1`, strings.TrimSpace(email)).
		Scan(&m.User.ID, &m.User.Email, &hash, &m.Role, &m.Workspace.ID, &m.Workspace.Name,
			&m.Workspace.Timezone, &start, &end, &m.Workspace.CreatedAt)
	m.Workspace.QuietHours = quietHours(start, end)
	if errors.Is(err, pgx.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return Member{}, ErrBadCredentials
	}
	if err != nil {
		return Member{}, fmt.Errorf("load user: %w", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return Member{}, ErrBadCredentials
	}
	return m, nil
}

// Audit records one change made by actor ("user:<id>" or "key:<id>").
func (s *Store) Audit(ctx context.Context, workspaceID, actor, action, subjectType, subjectID string, detail any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("encode audit detail: %w", err)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO audit_log (workspace_id, actor, action, subject_type, subject_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6)`, workspaceID, actor, action, subjectType, subjectID, b)
	if err != nil {
		return fmt.Errorf("insert audit entry: %w", err)
	}
	return nil
}

// AuditEntry is one recorded change.
type AuditEntry struct {
	ID          int64           `json:"id,string"` // a string, as every id of the API
	Actor       string          `json:"actor"`
	Action      string          `json:"action"`
	SubjectType string          `json:"subject_type"`
	SubjectID   string          `json:"subject_id"`
	Detail      json.RawMessage `json:"detail"`
	CreatedAt   time.Time       `json:"created_at"`
}

// ListAudit returns the changes recorded for one subject, oldest first.
func (s *Store) ListAudit(ctx context.Context, workspaceID, subjectType, subjectID string) ([]AuditEntry, error) {
	return s.ListAuditPage(ctx, workspaceID, subjectType, subjectID, 0, 0)
}

// ListAuditPage is a page of ListAudit: at most limit entries (0: all)
// after the entry with id after (0: from the first).
func (s *Store) ListAuditPage(ctx context.Context, workspaceID, subjectType, subjectID string, limit int, after int64) ([]AuditEntry, error) {
	return listAudit(ctx, s.pool, workspaceID, subjectType, subjectID, limit, after)
}

func listAudit(ctx context.Context, q queryer, workspaceID, subjectType, subjectID string, limit int, after int64) ([]AuditEntry, error) {
	rows, err := q.Query(ctx, `
		SELECT id, actor, action, subject_type, subject_id, detail, created_at
		FROM audit_log WHERE workspace_id = $1 AND subject_type = $2 AND subject_id = $3 AND id > $5
		ORDER BY id LIMIT nullif($4, 0)`, workspaceID, subjectType, subjectID, limit, after)
	return auditEntries(rows, err)
}

// ListAuditNewest returns the changes recorded for one subject, newest
// first: at most limit entries before the entry with id before (0: from the
// newest). Profiles show the latest changes and page back from them.
func (s *Store) ListAuditNewest(ctx context.Context, workspaceID, subjectType, subjectID string, limit int, before int64) ([]AuditEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, actor, action, subject_type, subject_id, detail, created_at
		FROM audit_log WHERE workspace_id = $1 AND subject_type = $2 AND subject_id = $3 AND ($5 = 0 OR id < $5)
		ORDER BY id DESC LIMIT nullif($4, 0)`, workspaceID, subjectType, subjectID, limit, before)
	return auditEntries(rows, err)
}

// auditEntries collects the rows of an audit_log query (its columns in
// AuditEntry's order).
func auditEntries(rows pgx.Rows, err error) ([]AuditEntry, error) {
	if err != nil {
		return nil, fmt.Errorf("query audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.ID, &e.Actor, &e.Action, &e.SubjectType, &e.SubjectID, &e.Detail, &e.CreatedAt)
		return e, err
	})
}

// CountAudit returns how many changes are recorded for one subject.
func (s *Store) CountAudit(ctx context.Context, workspaceID, subjectType, subjectID string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `
		SELECT count(*) FROM audit_log WHERE workspace_id = $1 AND subject_type = $2 AND subject_id = $3`,
		workspaceID, subjectType, subjectID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count audit log: %w", err)
	}
	return n, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// CountWorkspaces returns how many workspaces exist (dev seeding checks it).
func (s *Store) CountWorkspaces(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM workspaces`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count workspaces: %w", err)
	}
	return n, nil
}
