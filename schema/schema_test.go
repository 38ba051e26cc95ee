package schema_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

func TestMain(m *testing.M) { os.Exit(schematest.Run(m)) }

func TestMigrateIsIdempotentAndCheckCurrent(t *testing.T) {
	ctx := context.Background()
	url := schematest.Empty(t)

	err := schema.CheckCurrent(ctx, url)
	require.ErrorIs(t, err, schema.ErrSchemaBehind)

	applied, err := schema.Migrate(ctx, url, nil)
	require.NoError(t, err)
	require.NotEmpty(t, applied)
	require.NoError(t, schema.CheckCurrent(ctx, url))

	again, err := schema.Migrate(ctx, url, nil)
	require.NoError(t, err)
	require.Empty(t, again, "a second migrate applies nothing")
}

func TestMembersAndAuthentication(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "Acme")
	require.NoError(t, err)

	_, err = st.AddMember(ctx, ws.ID, "not-an-email", "longenough", schema.RoleOwner)
	require.Error(t, err)
	_, err = st.AddMember(ctx, ws.ID, "a@acme.io", "short", schema.RoleOwner)
	require.Error(t, err)

	u, err := st.AddMember(ctx, ws.ID, "Ada@Acme.io", "correct horse", schema.RoleOwner)
	require.NoError(t, err)

	m, err := st.Authenticate(ctx, "ada@acme.io", "correct horse")
	require.NoError(t, err)
	require.Equal(t, u.ID, m.User.ID)
	require.Equal(t, ws.ID, m.Workspace.ID)
	require.Equal(t, schema.RoleOwner, m.Role)

	_, err = st.Authenticate(ctx, "ada@acme.io", "wrong horse")
	require.ErrorIs(t, err, schema.ErrBadCredentials)
	_, err = st.Authenticate(ctx, "nobody@acme.io", "correct horse")
	require.ErrorIs(t, err, schema.ErrBadCredentials)

	// Adding the same email again keeps one user.
	u2, err := st.AddMember(ctx, ws.ID, "ada@acme.io", "another password", schema.RoleEditor)
	require.NoError(t, err)
	require.Equal(t, u.ID, u2.ID)
}

func TestAPIKeysAreHashedScopedAndRevocable(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	a, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	b, err := st.CreateWorkspace(ctx, "B")
	require.NoError(t, err)

	k, err := st.CreateAPIKey(ctx, a.ID, schema.KeyWrite, "web", "test")
	require.NoError(t, err)
	require.Equal(t, k.Key[:len(k.Prefix)], k.Prefix)

	var stored []byte
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT key_hash FROM api_keys WHERE id = $1`, k.ID).Scan(&stored))
	require.Equal(t, schema.HashToken(k.Key), stored)
	require.NotContains(t, string(stored), k.Key)

	got, err := st.LookupAPIKey(ctx, k.Key)
	require.NoError(t, err)
	require.Equal(t, a.ID, got.WorkspaceID)
	require.Equal(t, schema.KeyWrite, got.Kind)

	_, err = st.CreateAPIKey(ctx, a.ID, "admin", "x", "test")
	require.Error(t, err)

	// Another workspace can neither see nor revoke it.
	require.ErrorIs(t, st.RevokeAPIKey(ctx, b.ID, k.ID), schema.ErrNotFound)
	keysB, err := st.ListAPIKeys(ctx, b.ID)
	require.NoError(t, err)
	require.Empty(t, keysB)

	require.NoError(t, st.RevokeAPIKey(ctx, a.ID, k.ID))
	require.NoError(t, st.RevokeAPIKey(ctx, a.ID, k.ID))
	_, err = st.LookupAPIKey(ctx, k.Key)
	require.True(t, errors.Is(err, schema.ErrNotFound))
	keysA, err := st.ListAPIKeys(ctx, a.ID)
	require.NoError(t, err)
	require.Len(t, keysA, 1)
	require.NotNil(t, keysA[0].RevokedAt)
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	_, err = st.AddMember(ctx, ws.ID, "v@a.io", "password1", schema.RoleViewer)
	require.NoError(t, err)
	m, err := st.Authenticate(ctx, "v@a.io", "password1")
	require.NoError(t, err)

	token, sess, err := st.CreateSession(ctx, m, time.Hour)
	require.NoError(t, err)
	got, err := st.LookupSession(ctx, token)
	require.NoError(t, err)
	require.Equal(t, sess.CSRFToken, got.CSRFToken)
	require.Equal(t, schema.RoleViewer, got.Role)

	expired, _, err := st.CreateSession(ctx, m, -time.Minute)
	require.NoError(t, err)
	_, err = st.LookupSession(ctx, expired)
	require.ErrorIs(t, err, schema.ErrNotFound)

	require.NoError(t, st.DeleteSession(ctx, token))
	_, err = st.LookupSession(ctx, token)
	require.ErrorIs(t, err, schema.ErrNotFound)
}

func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	require.NoError(t, st.Audit(ctx, ws.ID, "user:u1", "create", "api_key", "key_1", map[string]any{"kind": "write"}))
	entries, err := st.ListAudit(ctx, ws.ID, "api_key", "key_1")
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "create", entries[0].Action)
	require.JSONEq(t, `{"kind":"write"}`, string(entries[0].Detail))
}

// A database under C says nothing; one under another collation (as an
// operator's own Postgres created with its defaults) gets a warning that
// names what it costs and what to do.
func TestCollationWarning(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	w, err := st.CollationWarning(ctx)
	require.NoError(t, err)
	require.Empty(t, w, "Herald's own clusters create their databases under C")

	name := "collation_" + time.Now().Format("150405000000")
	_, err = st.Pool().Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = st.Pool().Exec(context.Background(), `DROP DATABASE `+name+` WITH (FORCE)`) })
	u, err := url.Parse(st.Pool().Config().ConnString())
	require.NoError(t, err)
	u.Path = "/" + name
	other, err := schema.Open(ctx, u.String())
	require.NoError(t, err)
	t.Cleanup(other.Close)
	w, err = other.CollationWarning(ctx)
	require.NoError(t, err)
	require.Contains(t, w, `"C.utf8", not C`)
	require.Contains(t, w, "LC_COLLATE 'C'")
}
