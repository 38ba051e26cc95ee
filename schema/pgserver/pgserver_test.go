package pgserver_test

import (
	"context"
	"os"
	"os/exec"
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

	// Sized for ingest, not Postgres's defaults (128MB, 4MB).
	var wal, pool string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('wal_buffers'), current_setting('shared_buffers')`).Scan(&wal, &pool))
	require.Equal(t, "32MB", wal)
	require.Equal(t, pgserver.SharedBuffers(), pool)
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

// Run as root, a cluster whose folder the postgres user cannot reach (any
// t.TempDir) lives under the temp dir instead; once its folder is gone and
// it is stopped, the next Start removes it.
func TestRelocatedClusterIsRemovedOnceItsFolderIsGone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("clusters are relocated only when running as root")
	}
	ctx := context.Background()
	start := func(dir string) *pgserver.Server {
		srv, err := pgserver.Start(ctx, pgserver.Options{Dir: dir, Ephemeral: true})
		require.NoError(t, err)
		relocated := filepath.Dir(srv.DataDir())
		require.NotEqual(t, dir, relocated, "a t.TempDir is out of the postgres user's reach")
		t.Cleanup(func() { _ = srv.Stop(); _ = os.RemoveAll(relocated) })
		return srv
	}
	wantA, wantB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := start(wantA)
	dirA := filepath.Dir(a.DataDir())
	require.NoError(t, os.RemoveAll(wantA))
	b := start(wantB)
	require.DirExists(t, dirA, "a running cluster stays even when its folder is gone")
	conn, err := pgx.Connect(ctx, a.URL("postgres"))
	require.NoError(t, err)
	require.NoError(t, conn.Ping(ctx))
	conn.Close(ctx)
	require.NoError(t, a.Stop())
	require.NoError(t, b.Stop())

	start(filepath.Join(t.TempDir(), "c"))
	require.NoDirExists(t, dirA, "a stopped cluster whose folder is gone is removed")
	require.DirExists(t, filepath.Dir(b.DataDir()), "a cluster whose folder exists stays")
}

func TestRelocatedClusterOfAKilledTestBinaryIsRemoved(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("clusters are relocated only when running as root")
	}
	ctx := context.Background()
	start := func(dir string) string {
		srv, err := pgserver.Start(ctx, pgserver.Options{Dir: dir, Ephemeral: true})
		require.NoError(t, err)
		relocated := filepath.Dir(srv.DataDir())
		require.NotEqual(t, dir, relocated, "a t.TempDir is out of the postgres user's reach")
		require.NoError(t, srv.Stop())
		t.Cleanup(func() { _ = os.RemoveAll(relocated) })
		return relocated
	}
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	owner := func(dir, pid string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "herald-test-pid"), []byte(pid), 0o600))
	}
	killed := start(filepath.Join(t.TempDir(), "killed"))
	owner(killed, strconv.Itoa(gone.Process.Pid))
	running := start(filepath.Join(t.TempDir(), "running"))
	require.FileExists(t, filepath.Join(running, "herald-test-pid"), "a test binary notes itself")
	unmarked := start(filepath.Join(t.TempDir(), "unmarked"))
	require.NoError(t, os.Remove(filepath.Join(unmarked, "herald-test-pid")))

	start(filepath.Join(t.TempDir(), "next"))
	require.NoDirExists(t, killed, "the cluster of a test binary that is gone is removed, though its folder stays")
	require.DirExists(t, running, "the cluster of a test binary that still runs stays")
	require.DirExists(t, unmarked, "a cluster no test binary noted stays while its folder does")
}
