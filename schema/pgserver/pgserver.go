// Package pgserver runs a private PostgreSQL cluster from the machine's
// PostgreSQL binaries: the database of `herald dev` and of the tests. The
// server runs as a child process that stops when its parent dies.
package pgserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure a private cluster.
type Options struct {
	// Dir holds the cluster (created on first start, reused after).
	Dir string
	// Port to listen on at 127.0.0.1; 0 picks a free port.
	Port int
	// BinDir holds postgres and initdb; empty searches the usual places.
	BinDir string
	// Ephemeral turns off durability (fsync, full pages) for tests.
	Ephemeral bool
	// Log receives progress messages; nil discards them.
	Log *slog.Logger
}

// Server is a running private cluster.
type Server struct {
	dataDir string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	log     *slog.Logger
	logPath string
}

// User is the superuser created in the cluster.
const User = "herald"

// ErrNoBinaries means no PostgreSQL server installation was found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found: install them (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql`) or set HERALD_DATABASE_URL to an existing database")

// FindBinaries returns the folder holding initdb and postgres.
func FindBinaries(hint string) (string, error) {
	var candidates []string
	if hint != "" {
		candidates = append(candidates, hint)
	}
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versions, func(i, j int) bool { return pgMajor(versions[i]) > pgMajor(versions[j]) })
	candidates = append(candidates, versions...)
	if p, err := exec.LookPath("postgres"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	candidates = append(candidates, "/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin")
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "postgres")) && isExecutable(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w (looked in %s)", ErrNoBinaries, strings.Join(candidates, ", "))
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start initialises the cluster if needed, starts it and waits until it
// accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	binDir, err := FindBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := clusterDir(opts.Dir, cred, log)
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "postgres.log")

	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		log.Info("initialising private postgres cluster", "dir", dataDir)
		if err := initdb(ctx, binDir, dataDir, cred); err != nil {
			return nil, err
		}
	}
	stopStale(dataDir, log)

	// A picked free port can be taken before postgres binds it: retry.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		srv, err := launch(ctx, opts, binDir, dataDir, logPath, cred, log)
		if err == nil {
			return srv, nil
		}
		lastErr = err
		if opts.Port != 0 {
			break
		}
		log.Warn("private postgres did not start; retrying on another port", "error", err)
	}
	return nil, lastErr
}

func launch(ctx context.Context, opts Options, binDir, dataDir, logPath string, cred *syscall.Credential, log *slog.Logger) (*Server, error) {
	var err error
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	args := []string{
		"-D", dataDir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
		// Sized for ingest: the default 128 MB pool makes backends write
		// out dirty pages themselves under a stream of event rows, and 4 MB
		// of WAL buffers wait on WAL writes under many small commits.
		"-c", "shared_buffers=" + SharedBuffers(),
		"-c", "wal_buffers=32MB",
	}
	if opts.Ephemeral {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open postgres log: %w", err)
	}
	s := &Server{dataDir: dataDir, port: port, exited: make(chan struct{}), log: log, logPath: logPath}
	started := make(chan error, 1)
	// The child gets SIGINT (fast shutdown) if the thread that started it
	// dies, so the thread stays locked for the child's whole life.
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer logFile.Close()
		cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT, Credential: cred}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start postgres: %w", err)
			close(s.exited)
			return
		}
		s.cmd = cmd
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	log.Info("private postgres ready", "addr", fmt.Sprintf("127.0.0.1:%d", port), "dir", dataDir)
	return s, nil
}

// URL is the connection string for database name in this cluster.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, s.port, name)
}

// Port is the TCP port the cluster listens on.
func (s *Server) Port() int { return s.port }

// DataDir is the cluster's data folder (under the temp dir when the
// postgres user could not reach Options.Dir).
func (s *Server) DataDir() string { return s.dataDir }

// Pid is the postmaster's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// CreateDatabase creates database name (from template, when not empty)
// unless it exists already.
func (s *Server) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to private postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("check database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		stmt += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the cluster down (fast mode) and waits for it to exit.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("postgres did not stop within 30s; killed")
	}
	s.log.Info("private postgres stopped")
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, s.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited during start (%v); its log %s ends with:\n%s", s.waitErr, s.logPath, tail(s.logPath))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after 60s: %w; log %s", err, s.logPath)
		}
	}
}

// runAs returns the credential to run postgres with: postgres refuses to run
// as root, so a root caller runs it as the "postgres" system user.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root needs a `postgres` system user to run the private cluster (PostgreSQL refuses root): install the postgresql package, run herald as another user, or set HERALD_DATABASE_URL")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// clusterDir returns a folder for the cluster that its owner can reach. When
// run as root and want sits where the postgres user cannot go (a home folder,
// say), the cluster goes under the system temp dir, named after want.
func clusterDir(want string, cred *syscall.Credential, log *slog.Logger) (string, error) {
	abs, err := filepath.Abs(want)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("create postgres folder: %w", err)
	}
	if err := noteTestOwner(abs); err != nil {
		return "", fmt.Errorf("create postgres folder: %w", err)
	}
	if cred == nil {
		return abs, nil
	}
	if err := os.Chown(abs, int(cred.Uid), int(cred.Gid)); err != nil {
		return "", fmt.Errorf("give postgres folder to the postgres user: %w", err)
	}
	sweepRelocated(os.TempDir(), log)
	if reachable(abs, cred) {
		return abs, nil
	}
	sum := sha256.Sum256([]byte(abs))
	alt := filepath.Join(os.TempDir(), relocatedPrefix+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(alt, 0o700); err != nil {
		return "", fmt.Errorf("create postgres folder: %w", err)
	}
	if err := os.WriteFile(filepath.Join(alt, relocatedFor), []byte(abs), 0o600); err != nil {
		return "", fmt.Errorf("create postgres folder: %w", err)
	}
	if err := noteTestOwner(alt); err != nil {
		return "", fmt.Errorf("create postgres folder: %w", err)
	}
	if err := os.Chown(alt, int(cred.Uid), int(cred.Gid)); err != nil {
		return "", fmt.Errorf("give postgres folder to the postgres user: %w", err)
	}
	if !reachable(alt, cred) {
		return "", fmt.Errorf("neither %s nor %s is writable by the postgres user", abs, alt)
	}
	log.Info("the postgres user cannot reach the data dir; the cluster lives in the temp dir instead",
		"wanted", abs, "using", alt)
	return alt, nil
}

// A cluster relocated to the temp dir is named relocatedPrefix + a hash of
// the folder it stands in for, which its file relocatedFor names. In a
// cluster's folder, and in the relocated one, testOwnerFile holds the pid of
// the test binary that started it.
const (
	relocatedPrefix = "herald-pg-"
	relocatedFor    = "herald-data-dir"
	testOwnerFile   = "herald-test-pid"
)

// noteTestOwner records, in a cluster's folder, the test binary that uses
// it, or that no test does.
func noteTestOwner(dir string) error {
	path := filepath.Join(dir, testOwnerFile)
	if !testing.Testing() {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o600)
}

// AbandonedByTest reports whether the cluster folder dir was last used by
// a test binary that is gone (false for a folder no test binary noted). A
// killed test binary never removes its temporary folders, so the
// folder-gone rule alone would keep its cluster.
func AbandonedByTest(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, testOwnerFile))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// sweepRelocated removes the relocated clusters under tmp whose folder is
// gone, or whose test binary is, and whose postgres is not running: the
// clusters of tests' temporary folders (t.TempDir is out of the postgres
// user's reach when tests run as root) would otherwise stay behind, ~400 MB
// each. A cluster without the relocatedFor file (made before it existed)
// is left alone.
func sweepRelocated(tmp string, log *slog.Logger) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), relocatedPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		wanted, err := os.ReadFile(filepath.Join(dir, relocatedFor))
		if err != nil || len(wanted) == 0 {
			continue
		}
		if _, err := os.Stat(string(wanted)); !errors.Is(err, os.ErrNotExist) && !AbandonedByTest(dir) {
			continue
		}
		if _, running := runningPostmaster(filepath.Join(dir, "data")); running {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("could not remove an abandoned private postgres cluster", "dir", dir, "error", err)
			continue
		}
		log.Info("removed an abandoned private postgres cluster", "dir", dir, "folder", string(wanted))
	}
}

func reachable(dir string, cred *syscall.Credential) bool {
	cmd := exec.Command("/bin/sh", "-c", `test -w "$1" && test -x "$1"`, "sh", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd.Run() == nil
}

// sharedBuffersMB sizes the buffer pool: an eighth of the machine's memory,
// at least Postgres's default (128 MB) and at most 1 GB. Postgres maps it
// at start and the kernel gives it pages as they are first used.
func sharedBuffersMB(total uint64) int {
	mb := int(total / 8 >> 20)
	return min(max(mb, 128), 1024)
}

// SharedBuffers is the shared_buffers setting a cluster started on this
// machine runs with, as Postgres shows it.
func SharedBuffers() string {
	mb := sharedBuffersMB(totalMemory())
	if mb%1024 == 0 {
		return strconv.Itoa(mb/1024) + "GB"
	}
	return strconv.Itoa(mb) + "MB"
}

// totalMemory is the memory in bytes the cluster may use (0 when unknown):
// the machine's, or its container's limit when that is lower (cgroup v2,
// then v1).
func totalMemory() uint64 {
	var info syscall.Sysinfo_t
	if err := syscall.Sysinfo(&info); err != nil {
		return 0
	}
	total := uint64(info.Totalram) * uint64(info.Unit)
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if limit, ok := cgroupLimit(f); ok {
			return min(total, limit)
		}
	}
	return total
}

// cgroupLimit reads a cgroup memory limit file ("max" is no limit).
func cgroupLimit(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// initdb creates the cluster. Collation C sorts UTF-8 text as C.UTF-8 does
// (by code point) but compares with memcmp instead of the locale library:
// Herald's indexes are on ids, and event inserts cost ~12% less.
func initdb(ctx context.Context, binDir, dataDir string, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", dataDir, "-U", User, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--lc-collate=C", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = os.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		_ = os.RemoveAll(dataDir)
		return fmt.Errorf("initdb: %w\n%s", err, out.String())
	}
	return nil
}

// stopStale stops a postgres left running on dataDir by a process that died
// without stopping it.
func stopStale(dataDir string, log *slog.Logger) {
	proc, running := runningPostmaster(dataDir)
	if !running {
		return
	}
	pid := proc.Pid
	log.Warn("stopping a postgres left running by an earlier process", "pid", pid)
	_ = proc.Signal(syscall.SIGINT)
	for i := 0; i < 300; i++ {
		if proc.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Running reports whether the postgres that dataDir's pid file names still
// runs.
func Running(dataDir string) bool {
	_, running := runningPostmaster(dataDir)
	return running
}

// runningPostmaster finds the postgres process that dataDir's pid file
// names, if it still runs.
func runningPostmaster(dataDir string) (*os.Process, bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return nil, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return nil, false
	}
	proc, err := os.FindProcess(pid)
	if err != nil || proc.Signal(syscall.Signal(0)) != nil {
		return nil, false
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if !strings.HasPrefix(strings.TrimSpace(string(comm)), "postgres") {
		return nil, false
	}
	return proc, true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
