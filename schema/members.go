package schema

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

// TeamMember is a user's membership of a workspace.
type TeamMember struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// ValidRole reports whether role is one of owner, editor, viewer.
func ValidRole(role string) bool {
	return role == RoleOwner || role == RoleEditor || role == RoleViewer
}

// ListMembers returns the workspace's members, oldest first.
func (s *Store) ListMembers(ctx context.Context, workspaceID string) ([]TeamMember, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT u.id, u.email, m.role, m.created_at FROM workspace_members m JOIN users u ON u.id = m.user_id
		WHERE m.workspace_id = $1 ORDER BY m.created_at, u.id`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("query members: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TeamMember, error) {
		var m TeamMember
		err := r.Scan(&m.UserID, &m.Email, &m.Role, &m.CreatedAt)
		return m, err
	})
}

// InviteMember makes the user with email a member with role. A new user gets
// a generated password, returned once (only its hash is stored); a user who
// already has an account keeps theirs and password is "". A user who is a
// member already is ErrConflict.
func (s *Store) InviteMember(ctx context.Context, workspaceID, email, role string) (TeamMember, string, error) {
	email = strings.TrimSpace(email)
	password := NewPassword(20)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), passwordCost)
	if err != nil {
		return TeamMember{}, "", fmt.Errorf("hash password: %w", err)
	}
	m := TeamMember{Email: email, Role: role}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var created bool
		err := tx.QueryRow(ctx, `
			INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)
			ON CONFLICT (lower(email)) DO UPDATE SET email = users.email
			RETURNING id, email, xmax = 0`, NewID("usr"), email, string(hash)).Scan(&m.UserID, &m.Email, &created)
		if err != nil {
			return fmt.Errorf("upsert user: %w", err)
		}
		if !created {
			password = ""
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, user_id) DO NOTHING RETURNING created_at`, workspaceID, m.UserID, role).Scan(&m.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s is a member of this workspace already", ErrConflict, m.Email)
		}
		if err != nil {
			return fmt.Errorf("insert member: %w", err)
		}
		return nil
	})
	if err != nil {
		return TeamMember{}, "", err
	}
	return m, password, nil
}

// SetMemberRole changes a member's role; taking the last owner's ownership
// away is ErrInvalidState.
func (s *Store) SetMemberRole(ctx context.Context, workspaceID, userID, role string) (TeamMember, error) {
	var m TeamMember
	err := s.changeMember(ctx, workspaceID, userID, role != RoleOwner, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			WITH changed AS (
				UPDATE workspace_members SET role = $3 WHERE workspace_id = $1 AND user_id = $2 RETURNING user_id, role, created_at)
			SELECT c.user_id, u.email, c.role, c.created_at FROM changed c JOIN users u ON u.id = c.user_id`,
			workspaceID, userID, role).Scan(&m.UserID, &m.Email, &m.Role, &m.CreatedAt)
	})
	return m, err
}

// RemoveMember takes a member out of the workspace (their sessions there
// stop working; the user account stays). Removing the last owner is
// ErrInvalidState.
func (s *Store) RemoveMember(ctx context.Context, workspaceID, userID string) error {
	return s.changeMember(ctx, workspaceID, userID, true, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, workspaceID, userID)
		return err
	})
}

// changeMember runs fn on a member with the workspace's memberships locked;
// when losesOwner, fn must not take away the only owner.
func (s *Store) changeMember(ctx context.Context, workspaceID, userID string, losesOwner bool, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT user_id, role FROM workspace_members WHERE workspace_id = $1 ORDER BY user_id FOR UPDATE`, workspaceID)
		if err != nil {
			return fmt.Errorf("lock members: %w", err)
		}
		owners, found, isOwner := 0, false, false
		for rows.Next() {
			var id, role string
			if err := rows.Scan(&id, &role); err != nil {
				rows.Close()
				return fmt.Errorf("scan member: %w", err)
			}
			if role == RoleOwner {
				owners++
			}
			if id == userID {
				found, isOwner = true, role == RoleOwner
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read members: %w", err)
		}
		if !found {
			return ErrNotFound
		}
		if losesOwner && isOwner && owners == 1 {
			return fmt.Errorf("%w: the workspace needs an owner; make someone else owner first", ErrInvalidState)
		}
		if err := fn(tx); err != nil {
			return fmt.Errorf("change member: %w", err)
		}
		return nil
	})
}

// NewPassword returns n random characters from an alphabet without look-alikes
// (for generated passwords a person types once and is told to keep safe).
func NewPassword(n int) string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
