package pgserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema/pgserver"
)

func TestClusterKeepsDataAcrossRestartAndStopsCleanly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := pgserver.Start(ctx, pgserver.Options{Dir: dir, Ephemeral: true})
	require.NoError(t, err)
	require.NoError(t, srv.CreateDatabase(ctx, "app", ""))
	require.NoError(t, srv.CreateDatabase(ctx, "app", ""), "creating an existing database is a no-op")
	conn, err := pgx.Connect(ctx, srv.URL("app"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`)
	require.NoError(t, err)
	conn.Close(ctx)
	pid := srv.Pid()
	require.NoError(t, srv.Stop())
	require.Error(t, syscall.Kill(pid, 0), "postgres %d still running after Stop", pid)

	srv2, err := pgserver.Start(ctx, pgserver.Options{Dir: dir, Ephemeral: true})
	require.NoError(t, err)
	defer srv2.Stop()
	conn, err = pgx.Connect(ctx, srv2.URL("app"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var v int
	require.NoError(t, conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v))
	require.Equal(t, 42, v)
}

func TestStaleServerFromDeadProcessIsStopped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := pgserver.Start(ctx, pgserver.Options{Dir: dir, Ephemeral: true})
	require.NoError(t, err)
	// Find the cluster's pid file wherever it was placed and pretend its
	// owner died: a second Start must stop the old postmaster first.
	var pidFile string
	_ = filepath.Walk(os.TempDir(), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == "postmaster.pid" {
			b, _ := os.ReadFile(p)
			if strings.HasPrefix(string(b), strconv.Itoa(srv.Pid())+"\n") {
				pidFile = p
			}
		}
		return nil
	})
	require.NotEmpty(t, pidFile)
	srv2, err := pgserver.Start(ctx, pgserver.Options{Dir: dir, Ephemeral: true})
	require.NoError(t, err)
	defer srv2.Stop()
	require.NotEqual(t, srv.Pid(), srv2.Pid())
	require.Error(t, syscall.Kill(srv.Pid(), 0), "the stale postmaster should have been stopped")
}

func TestFindBinaries(t *testing.T) {
	dir, err := pgserver.FindBinaries(t.TempDir())
	require.NoError(t, err, "this machine has PostgreSQL server binaries")
	require.FileExists(t, filepath.Join(dir, "initdb"))
	require.Contains(t, pgserver.ErrNoBinaries.Error(), "apt-get install postgresql")
}
