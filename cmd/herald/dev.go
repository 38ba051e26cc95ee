//go:build !nodev

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/ingest/kafkaserver"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/pgserver"
	"github.com/heraldhq/herald/workflows"
	"github.com/heraldhq/herald/workflows/temporalserver"
)

func addDevCommands(cmds map[string]command) {
	cmds["dev"] = command{"run everything on this machine: embedded Postgres, Temporal, broker and all roles", runDev}
}

// devCredentials is <data-dir>/dev-credentials.json (DESIGN §2).
type devCredentials struct {
	WorkspaceID   string `json:"workspace_id"`
	Email         string `json:"email"`
	Password      string `json:"password"`
	WriteKey      string `json:"write_key"`
	SecretKey     string `json:"secret_key"`
	APIURL        string `json:"api_url"`
	TemporalUIURL string `json:"temporal_ui_url"`
	// DatabaseURL and KafkaBrokers let tools (herald bench ingest) reach the
	// embedded Postgres and broker.
	DatabaseURL  string `json:"database_url"`
	KafkaBrokers string `json:"kafka_brokers"`
}

// runDev starts what is not configured externally, then every role in
// this process, and stops it all in reverse order on SIGINT/SIGTERM.
func runDev(ctx context.Context, cfg Config, log *slog.Logger) error {
	start := time.Now()
	if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	var unsupported errLockUnsupported
	switch {
	case errors.As(err, &unsupported):
		log.Warn("the data dir cannot be locked here; do not start a second herald dev on it", "error", err)
	case err != nil:
		return err
	default:
		defer unlock()
	}
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()

	if cfg.DatabaseURL == "" {
		pg, err := pgserver.Start(ctx, pgserver.Options{Dir: filepath.Join(cfg.DataDir, "postgres"), Log: log})
		if err != nil {
			return fmt.Errorf("private postgres: %w", err)
		}
		stops = append(stops, func() {
			if err := pg.Stop(); err != nil {
				log.Warn("stop postgres", "error", err)
			}
		})
		if err := pg.CreateDatabase(ctx, "herald", ""); err != nil {
			return err
		}
		cfg.DatabaseURL = pg.URL("herald")
	}
	if cfg.TemporalAddress == "" {
		ts, err := temporalserver.Start(ctx, temporalserver.Options{
			DatabaseFile:     filepath.Join(cfg.DataDir, "temporal.db"),
			Port:             cfg.TemporalPort,
			UIPort:           cfg.TemporalUIPort,
			Namespace:        cfg.TemporalNamespace,
			SearchAttributes: workflows.SearchAttributeTypes(),
			Log:              log,
		})
		if err != nil {
			return fmt.Errorf("embedded temporal: %w", err)
		}
		stops = append(stops, func() {
			if err := ts.Stop(); err != nil {
				log.Warn("stop temporal", "error", err)
			}
		})
		cfg.TemporalAddress = ts.HostPort()
		if cfg.TemporalUIURL == "" {
			cfg.TemporalUIURL = ts.UIURL()
		}
		log.Info("embedded temporal ready", "grpc", ts.HostPort(), "ui", ts.UIURL())
	}
	if len(cfg.brokers()) == 0 {
		b, err := kafkaserver.Start(kafkaserver.Options{
			Port: cfg.KafkaPort, DataDir: filepath.Join(cfg.DataDir, "kafka"),
			Topics: []string{cfg.KafkaTopic, cfg.KafkaDLQTopic}, Partitions: int32(cfg.KafkaPartitions), Log: log,
		})
		if err != nil {
			return err
		}
		stops = append(stops, b.Close)
		cfg.KafkaBrokers = b.Addrs()[0]
	}

	if cfg.EncryptionKey == "" {
		key, err := devEncryptionKey(filepath.Join(cfg.DataDir, "encryption.key"))
		if err != nil {
			return err
		}
		cfg.EncryptionKey = key
	}

	applied, err := schema.Migrate(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "count", len(applied))
	}
	p, err := connect(ctx, "dev", cfg, log)
	if err != nil {
		return err
	}
	stops = append(stops, p.close)
	creds, err := seedDev(ctx, p.store, cfg, log)
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.serveMetrics(gctx) })
	g.Go(func() error { return serveAPI(gctx, p) })
	g.Go(func() error { return serveWorker(gctx, p) })
	g.Go(func() error { return serveIngest(gctx, p) })
	g.Go(func() error {
		if err := waitReady(gctx, cfg.PublicURL+"/readyz"); err != nil {
			return nil // shutting down, or the role that failed reports it
		}
		printBanner(os.Stderr, cfg, creds, time.Since(start))
		return nil
	})
	err = g.Wait()
	log.Info("herald dev stopping")
	return err
}

// seedDev creates the Demo workspace, its owner and keys on a database that
// has no workspace yet, and writes dev-credentials.json; on later starts it
// reads that file back.
func seedDev(ctx context.Context, st *schema.Store, cfg Config, log *slog.Logger) (devCredentials, error) {
	path := filepath.Join(cfg.DataDir, "dev-credentials.json")
	var creds devCredentials
	n, err := st.CountWorkspaces(ctx)
	if err != nil {
		return creds, err
	}
	if n > 0 {
		b, err := os.ReadFile(path)
		if err != nil {
			log.Warn("the database is seeded but dev-credentials.json is missing; create keys in the app or start over with an empty data dir", "path", path)
			return creds, nil
		}
		if err := json.Unmarshal(b, &creds); err != nil {
			return creds, fmt.Errorf("read %s: %w", path, err)
		}
		creds.APIURL, creds.TemporalUIURL = cfg.PublicURL, cfg.TemporalUIURL
		creds.DatabaseURL, creds.KafkaBrokers = cfg.DatabaseURL, cfg.KafkaBrokers
		return creds, writeJSON(path, creds)
	}
	ws, err := st.CreateWorkspace(ctx, "Demo")
	if err != nil {
		return creds, err
	}
	creds = devCredentials{WorkspaceID: ws.ID, Email: "owner@demo.herald.dev", Password: schema.NewPassword(16),
		APIURL: cfg.PublicURL, TemporalUIURL: cfg.TemporalUIURL, DatabaseURL: cfg.DatabaseURL, KafkaBrokers: cfg.KafkaBrokers}
	if _, err := st.AddMember(ctx, ws.ID, creds.Email, creds.Password, schema.RoleOwner); err != nil {
		return creds, err
	}
	wk, err := st.CreateAPIKey(ctx, ws.ID, schema.KeyWrite, "dev write key", "herald dev")
	if err != nil {
		return creds, err
	}
	sk, err := st.CreateAPIKey(ctx, ws.ID, schema.KeySecret, "dev secret key", "herald dev")
	if err != nil {
		return creds, err
	}
	creds.WriteKey, creds.SecretKey = wk.Key, sk.Key
	log.Info("seeded workspace Demo", "workspace_id", ws.ID, "credentials", path)
	return creds, writeJSON(path, creds)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// devEncryptionKey reads the data dir's key for provider credentials,
// creating it on first start.
func devEncryptionKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return key, nil
}

func printBanner(w *os.File, cfg Config, c devCredentials, took time.Duration) {
	fmt.Fprintf(w, `
  Herald is running (ready in %.1fs). Ctrl-C stops everything.

  Web app        %s
  API            %s/api   (docs: %s/openapi.json)
  Temporal UI    %s
  Kafka broker   %s   (topics %s, %s)
  Postgres       %s
  Metrics        http://%s/metrics

  Log in as      %s / %s
  Write key      %s   (for /v1/* and Kafka producers)
  Secret key     %s   (Authorization: Bearer … on /api/*)
  Workspace      %s
  Credentials    %s

`, took.Seconds(), cfg.PublicURL, cfg.PublicURL, cfg.PublicURL, cfg.TemporalUIURL, cfg.KafkaBrokers, cfg.KafkaTopic,
		cfg.KafkaDLQTopic, redactURL(cfg.DatabaseURL), cfg.MetricsAddr, c.Email, c.Password, c.WriteKey, c.SecretKey,
		c.WorkspaceID, filepath.Join(cfg.DataDir, "dev-credentials.json"))
}

// errLockUnsupported is lockDataDir's answer on a file system without
// flock: herald dev goes on without the lock.
type errLockUnsupported struct{ err error }

func (e errLockUnsupported) Error() string { return "lock data dir: " + e.err.Error() }

func (e errLockUnsupported) Unwrap() error { return e.err }

// lockDataDir keeps a second `herald dev` off a data dir in use: it would
// take the first one's Postgres for one left running by a dead process
// and stop it. The lock is the kernel's (flock), so it goes with the
// process however that ends.
func lockDataDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "herald-dev.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		switch {
		case errors.Is(err, syscall.EWOULDBLOCK):
			pid := strings.TrimSpace(string(holder))
			if pid == "" {
				pid = "not yet written" // it is starting
			}
			return nil, fmt.Errorf("data dir %s is in use by another herald dev (pid %s); stop it or pick another --data-dir", dir, pid)
		case errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
			// Some network and bind mounts have no flock.
			return nil, errLockUnsupported{err}
		}
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { _ = f.Close() }, nil
}
