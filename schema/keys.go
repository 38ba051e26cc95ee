package schema

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of API key (DESIGN §3).
const (
	KeyWrite  = "write"
	KeySecret = "secret"
)

// APIKey is a stored key; the key itself is never stored, only its hash.
type APIKey struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"-"`
	Kind        string     `json:"kind"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
}

// NewKey is a freshly created key with its secret, returned exactly once.
type NewKey struct {
	APIKey
	Key string `json:"key"`
}

// keyPrefixLen is how much of a key is kept in clear to recognise it in lists.
const keyPrefixLen = 12

// CreateAPIKey generates a key of kind for the workspace and stores its hash.
func (s *Store) CreateAPIKey(ctx context.Context, workspaceID, kind, name, createdBy string) (NewKey, error) {
	var tag string
	switch kind {
	case KeyWrite:
		tag = "hw_"
	case KeySecret:
		tag = "hs_"
	default:
		return NewKey{}, fmt.Errorf("unknown key kind %q", kind)
	}
	secret := tag + randomToken(20)
	k := NewKey{Key: secret, APIKey: APIKey{
		ID: NewID("key"), WorkspaceID: workspaceID, Kind: kind, Name: name, Prefix: secret[:keyPrefixLen],
	}}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO api_keys (id, workspace_id, kind, name, prefix, key_hash, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
		k.ID, workspaceID, kind, name, k.Prefix, HashToken(secret), createdBy).Scan(&k.CreatedAt)
	if err != nil {
		return NewKey{}, fmt.Errorf("insert api key: %w", err)
	}
	return k, nil
}

// LookupAPIKey finds the live (not revoked) key whose secret is key and
// marks it used (at most once a minute, to keep writes rare).
func (s *Store) LookupAPIKey(ctx context.Context, key string) (APIKey, error) {
	return s.lookupKey(ctx, `revoked_at IS NULL`, HashToken(key))
}

// LookupKeyRevokedOrNot finds the key whose secret is key, revoked or not
// (RevokedAt says when), and marks a live one used. Ingest reads a Kafka
// record's key as it stood at the record's append time, so revoking a key
// once its producers moved to a new one does not refuse the records they
// appended before; one lookup serves a batch's records of every time.
func (s *Store) LookupKeyRevokedOrNot(ctx context.Context, key string) (APIKey, error) {
	return s.lookupKey(ctx, `TRUE`, HashToken(key))
}

// lookupKey finds the key of hash $1 that meets cond and marks a live one
// used.
func (s *Store) lookupKey(ctx context.Context, cond string, args ...any) (APIKey, error) {
	var k APIKey
	err := s.pool.QueryRow(ctx, `
		SELECT id, workspace_id, kind, name, prefix, created_at, last_used_at, revoked_at
		FROM api_keys WHERE key_hash = $1 AND `+cond, args...).
		Scan(&k.ID, &k.WorkspaceID, &k.Kind, &k.Name, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("look up api key: %w", err)
	}
	if k.RevokedAt == nil && (k.LastUsedAt == nil || time.Since(*k.LastUsedAt) > time.Minute) {
		_, err = s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND workspace_id = $2`,
			k.ID, k.WorkspaceID)
		if err != nil {
			return APIKey{}, fmt.Errorf("mark api key used: %w", err)
		}
	}
	return k, nil
}

// ListAPIKeys returns the workspace's keys, newest first, revoked ones included.
func (s *Store) ListAPIKeys(ctx context.Context, workspaceID string) ([]APIKey, error) {
	return s.ListAPIKeysPage(ctx, workspaceID, 0, "")
}

// ListAPIKeysPage is a page of ListAPIKeys: at most limit keys (0: all)
// after the key with id cursor ("" from the start; ErrNotFound when the
// workspace has no such key).
func (s *Store) ListAPIKeysPage(ctx context.Context, workspaceID string, limit int, cursor string) ([]APIKey, error) {
	if cursor != "" {
		var found bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE workspace_id = $1 AND id = $2)`,
			workspaceID, cursor).Scan(&found); err != nil {
			return nil, fmt.Errorf("find cursor key: %w", err)
		}
		if !found {
			return nil, ErrNotFound
		}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, workspace_id, kind, name, prefix, created_at, last_used_at, revoked_at
		FROM api_keys WHERE workspace_id = $1
			AND ($3 = '' OR (created_at, id) < (SELECT created_at, id FROM api_keys WHERE workspace_id = $1 AND id = $3))
		ORDER BY created_at DESC, id DESC LIMIT nullif($2, 0)`, workspaceID, limit, cursor)
	if err != nil {
		return nil, fmt.Errorf("query api keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) {
		var k APIKey
		err := r.Scan(&k.ID, &k.WorkspaceID, &k.Kind, &k.Name, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
		return k, err
	})
}

// RevokeAPIKey revokes a key of the workspace; revoking twice is not an error.
func (s *Store) RevokeAPIKey(ctx context.Context, workspaceID, id string) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
		WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
