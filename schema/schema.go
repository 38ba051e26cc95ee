// Package schema owns Herald's Postgres database: the goose migrations
// (embedded in the binary), the store types and every SQL statement.
// It imports nothing else of Herald's.
package schema

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrNotFound is returned when a row does not exist in the caller's workspace.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a row would violate a uniqueness rule.
var ErrConflict = errors.New("already exists")

// ErrSchemaBehind is returned by CheckCurrent when migrations are pending.
var ErrSchemaBehind = errors.New("database schema is behind; run `herald migrate`")

// Store is the typed gateway to Postgres; every method is scoped by workspace.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url and checks it answers.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (the number of CPUs, at least 4) starves a process
		// that runs several roles, and the ingest's parallel routing.
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping postgres: %w", err)
	}
	return &Store{pool: pool}, nil
}

// DefaultMaxConns is the connection pool size unless the database URL sets
// pool_max_conns.
const DefaultMaxConns = 24

// Close releases the connection pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that Postgres answers; used by readiness probes.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// CollationWarning says, when the database's collation is not C (or
// POSIX), what that costs; "" under C. Herald's own clusters and the
// compose file create the database under C (deployments/README.md).
func (s *Store) CollationWarning(ctx context.Context) (string, error) {
	var collate string
	if err := s.pool.QueryRow(ctx, `SELECT datcollate FROM pg_database WHERE datname = current_database()`).Scan(&collate); err != nil {
		return "", fmt.Errorf("read the database's collation: %w", err)
	}
	if collate == "C" || collate == "POSIX" {
		return "", nil
	}
	return fmt.Sprintf("the database's collation is %q, not C: each customer search with a query (GET /api/customers?q=) "+
		"reads every customer of its workspace, and inserts cost more; create Herald's database with LC_COLLATE 'C' "+
		"(deployments/README.md, \"Your own Postgres\")", collate), nil
}

// Pool exposes the pgx pool for packages that run their own statements in tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// MigrationResult describes one applied migration.
type MigrationResult struct {
	Version int64
	Name    string
}

func withProvider(ctx context.Context, url string, log *slog.Logger, fn func(*goose.Provider) error) error {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return runProvider(db, log, fn)
}

func runProvider(db *sql.DB, log *slog.Logger, fn func(*goose.Provider) error) error {
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("create migration lock: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker)}
	if log != nil {
		opts = append(opts, goose.WithSlog(log))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	return fn(p)
}

// Migrate applies every pending migration. Running it again is a no-op; a
// Postgres advisory lock serialises concurrent runs.
func Migrate(ctx context.Context, url string, log *slog.Logger) ([]MigrationResult, error) {
	var applied []MigrationResult
	err := withProvider(ctx, url, log, func(p *goose.Provider) error {
		res, err := p.Up(ctx)
		if err != nil {
			return fmt.Errorf("apply migrations: %w", err)
		}
		for _, r := range res {
			applied = append(applied, MigrationResult{Version: r.Source.Version, Name: r.Source.Path})
		}
		return nil
	})
	return applied, err
}

// CheckCurrent returns ErrSchemaBehind (wrapped with the versions) when the
// database has migrations pending, so roles refuse to start on an old schema.
func CheckCurrent(ctx context.Context, url string) error {
	return withProvider(ctx, url, nil, func(p *goose.Provider) error {
		current, target, err := p.GetVersions(ctx)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current < target {
			return fmt.Errorf("%w (database at version %d, binary needs %d)", ErrSchemaBehind, current, target)
		}
		return nil
	})
}

// IsUnavailable reports whether err is the database out of reach (no
// connection could be made, or the server is shutting down or starting):
// a retry later may succeed.
func IsUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P"))
}

// IsDataError reports whether err is Postgres refusing the data itself
// (SQLSTATE class 22, e.g. a NUL character in JSON) or exceeding one of its
// limits with it (class 54, e.g. a value too long for an index): retrying
// cannot help.
func IsDataError(err error) bool {
	class := sqlStateClass(err)
	return class == "22" || class == "54"
}

// IsRefusedWrite reports whether err is Postgres refusing what a write
// holds: a data exception (SQLSTATE class 22), an integrity constraint
// violation (23, such as a foreign key to a row since deleted) or a
// program limit exceeded (54, such as a value too long for an index). The
// same write fails the same way every time: retrying cannot help.
func IsRefusedWrite(err error) bool {
	return IsDataError(err) || sqlStateClass(err) == "23"
}

// sqlStateClass is the class (first two characters) of the SQLSTATE of
// the Postgres error in err, "" when there is none.
func sqlStateClass(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) < 2 {
		return ""
	}
	return pgErr.Code[:2]
}
