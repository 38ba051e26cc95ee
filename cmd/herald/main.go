// Command herald is the one binary of Herald: `herald dev` runs everything
// embedded on one machine; `api`, `worker` and `ingest` are the production
// roles; `migrate` brings the database schema up to date.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"
	// Time zone data in the binary: journeys compute local times the same on every host.
	_ "time/tzdata"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, cfg Config, log *slog.Logger) error
}

func commands() map[string]command {
	cmds := map[string]command{
		"api":     {"serve the management API, ingest endpoints and web app", runAPIRole},
		"worker":  {"run the Temporal worker (journey workflows and activities)", runWorkerRole},
		"ingest":  {"consume customer events from Kafka", runIngestRole},
		"migrate": {"apply database migrations (idempotent)", runMigrate},
		"bench":   {"measure journey throughput and latency on a running Herald", runBenchFromConfig},
	}
	addDevCommands(cmds)
	return cmds
}

// defaultGCPercent is the garbage collector's target when GOGC is not set.
// Ingest allocates per event; at Go's 100 the collector took ~22 % of the
// herald process's CPU in `herald bench ingest`, at 400 ~4–6 %. The price
// is memory: the heap may grow to five times the live data (herald dev
// after that bench: 632 MB resident vs 353 MB at 100; ~200 MB idle either
// way). GOMEMLIMIT caps it where memory is tight.
const defaultGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		return 0
	}
	if args[0] == "version" {
		fmt.Fprintln(stdout, "herald", version)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "herald: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if args[0] == "bench" { // takes a benchmark name and its own flags, not the roles' Config
		return runBench(args[1:], getenv, stdout, stderr)
	}
	cfg, err := parseConfig(args[0], args[1:], getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "herald %s: %v\n", args[0], err)
		return 2
	}
	log := newLogger(cfg, stderr)
	fmt.Fprintf(stderr, "herald %s %s, configuration:\n", args[0], version)
	cfg.print(stderr)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, cfg, log); err != nil {
		log.Error("herald "+args[0]+" stopped with an error", "error", err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: herald <command> [flags]   (herald <command> -h lists the flags)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "  %-8s %s\n", "version", "print the version")
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
