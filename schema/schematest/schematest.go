// Package schematest gives tests a real, migrated Postgres database: one
// private cluster per test binary, one fresh database per test, cloned from a
// migrated template so each test starts from the current schema in ~100 ms.
//
// A package that uses it wires it in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(schematest.Run(m)) }
package schematest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/pgserver"
)

const (
	templateDB = "herald_template"
	// A test cluster's folder is the temp dir's dirPrefix + a random tail.
	dirPrefix = "herald-test-pg-"
)

var (
	mu       sync.Mutex
	server   *pgserver.Server
	tmpDir   string
	startErr error
	started  bool
	counter  atomic.Int64
)

// Run runs the package's tests and then stops the cluster, if one started.
func Run(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if server != nil {
		_ = server.Stop()
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	return code
}

func cluster() (*pgserver.Server, error) {
	mu.Lock()
	defer mu.Unlock()
	if started {
		return server, startErr
	}
	started = true
	ctx := context.Background()
	sweepAbandoned(os.TempDir())
	tmpDir, startErr = os.MkdirTemp("", dirPrefix)
	if startErr != nil {
		return nil, startErr
	}
	server, startErr = pgserver.Start(ctx, pgserver.Options{Dir: tmpDir, Ephemeral: true})
	if startErr != nil {
		return nil, startErr
	}
	if startErr = server.CreateDatabase(ctx, templateDB, ""); startErr != nil {
		return nil, startErr
	}
	if _, startErr = schema.Migrate(ctx, server.URL(templateDB), nil); startErr != nil {
		return nil, startErr
	}
	return server, nil
}

// sweepAbandoned removes the test clusters under tmp whose test binary is
// gone. Run removes a binary's cluster when its tests end, but a binary
// that is killed (a test timeout, SIGKILL) never gets there: its postgres
// stops with it (pgserver's parent-death signal) and the folder stays,
// with the cluster's data — or, as root, with nothing but the note that
// keeps the relocated cluster from pgserver's own sweep, which runs next.
// A folder pgserver noted no test binary in (being made, or from before
// owners were noted), or whose postgres still runs, is left alone.
func sweepAbandoned(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, dirPrefix+"*"))
	for _, dir := range dirs {
		if pgserver.AbandonedByTest(dir) && !pgserver.Running(filepath.Join(dir, "data")) {
			_ = os.RemoveAll(dir)
		}
	}
}

// URL creates a fresh migrated database for t and returns its URL. The
// whole cluster, with every test database, goes away when Run returns.
func URL(t testing.TB) string {
	t.Helper()
	srv, err := cluster()
	if err != nil {
		t.Fatalf("start private postgres: %v", err)
	}
	name := fmt.Sprintf("t%d_%s", counter.Add(1), sanitize(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, name, templateDB); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	return srv.URL(name)
}

// Store returns an open Store on a fresh migrated database for t.
func Store(t testing.TB) *schema.Store {
	t.Helper()
	st, err := schema.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

// Empty creates a fresh database without any migration applied.
func Empty(t testing.TB) string {
	t.Helper()
	srv, err := cluster()
	if err != nil {
		t.Fatalf("start private postgres: %v", err)
	}
	name := fmt.Sprintf("e%d_%s", counter.Add(1), sanitize(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	if err := srv.CreateDatabase(context.Background(), name, ""); err != nil {
		t.Fatalf("create empty database: %v", err)
	}
	return srv.URL(name)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, s)
}
