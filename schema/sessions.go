package schema

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Session is a logged-in browser.
type Session struct {
	Member
	CSRFToken string
	ExpiresAt time.Time
}

// CreateSession starts a session for a member and returns the cookie token
// (stored only as a hash) with the session.
func (s *Store) CreateSession(ctx context.Context, m Member, ttl time.Duration) (string, Session, error) {
	token := randomToken(32)
	sess := Session{Member: m, CSRFToken: randomToken(20), ExpiresAt: time.Now().Add(ttl).UTC()}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sessions (token_hash, workspace_id, user_id, csrf_token, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, HashToken(token), m.Workspace.ID, m.User.ID, sess.CSRFToken, sess.ExpiresAt)
	if err != nil {
		return "", Session{}, fmt.Errorf("insert session: %w", err)
	}
	return token, sess, nil
}

// LookupSession returns the unexpired session for a cookie token.
func (s *Store) LookupSession(ctx context.Context, token string) (Session, error) {
	var sess Session
	var start, end *string
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, u.email, m.role, w.id, w.name, w.timezone, w.quiet_start, w.quiet_end, w.created_at, s.csrf_token, s.expires_at
		FROM sessions s
		JOIN users u ON u.id = s.user_id
		JOIN workspace_members m ON m.user_id = s.user_id AND m.workspace_id = s.workspace_id
		JOIN workspaces w ON w.id = s.workspace_id
		WHERE s.token_hash = $1 AND s.expires_at > now()`, HashToken(token)).
		Scan(&sess.User.ID, &sess.User.Email, &sess.Role, &sess.Workspace.ID, &sess.Workspace.Name,
			&sess.Workspace.Timezone, &start, &end, &sess.Workspace.CreatedAt, &sess.CSRFToken, &sess.ExpiresAt)
	sess.Workspace.QuietHours = quietHours(start, end)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("look up session: %w", err)
	}
	return sess, nil
}

// DeleteSession ends a session (logout); expired sessions are swept too.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1 OR expires_at < now()`, HashToken(token))
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
