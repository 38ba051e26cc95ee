package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
)

// `herald bench ingest` measures the event path of a running Herald:
// events posted to /v1/batch go through Kafka and the ingest role (customer
// upsert, event row, routing to journeys). Beside it, in the same run, the
// same messages are read back from the topic by a plain sarama consumer and
// inserted into a scratch table with one multi-row INSERT per fetched batch:
// what Kafka and Postgres alone do on this machine.

// benchIngestGoal is the ratio Herald/raw the ingest path aims for.
const benchIngestGoal = 0.5

// benchIngestOptions are the flags of `herald bench ingest`.
type benchIngestOptions struct {
	Events      int
	Customers   int
	BatchSize   int
	Concurrency int
	Credentials string
	DatabaseURL string
	Brokers     string
	Topic       string
	MetricsAddr string
	Timeout     time.Duration
	Runs        int
	// Warmup runs go before the measured ones and are left out of the
	// medians.
	Warmup int
	// RawUnlogged makes the raw path's scratch table UNLOGGED (no WAL): a
	// baseline without the durability Herald's event rows have.
	RawUnlogged bool
}

func parseBenchIngestFlags(args []string, getenv func(string) string, stderr io.Writer) (benchIngestOptions, error) {
	var o benchIngestOptions
	fs := flag.NewFlagSet("herald bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Events, "events", 100_000, "events to send")
	fs.IntVar(&o.Customers, "customers", 10_000, "customers the events are spread over")
	fs.IntVar(&o.BatchSize, "batch", 100, "events per POST /v1/batch")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "POST /v1/batch requests in flight at once")
	fs.StringVar(&o.Credentials, "credentials", defaultCredentials(getenv),
		"dev-credentials.json written by herald dev (api_url, write_key, database_url, kafka_brokers) [$HERALD_DATA_DIR/dev-credentials.json]")
	fs.StringVar(&o.DatabaseURL, "database-url", getenv(envPrefix+"DATABASE_URL"), "Herald's Postgres; default: database_url of the credentials [$HERALD_DATABASE_URL]")
	fs.StringVar(&o.Brokers, "kafka-brokers", getenv(envPrefix+"KAFKA_BROKERS"), "Herald's Kafka brokers; default: kafka_brokers of the credentials [$HERALD_KAFKA_BROKERS]")
	fs.StringVar(&o.Topic, "topic", orEnv(getenv, "KAFKA_TOPIC", "herald.events"), "the events topic [$HERALD_KAFKA_TOPIC]")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", orEnv(getenv, "METRICS_ADDR", "127.0.0.1:9464"), "Herald's /metrics address [$HERALD_METRICS_ADDR]")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "how long each path may take")
	fs.BoolVar(&o.RawUnlogged, "raw-unlogged", false, "raw path: insert into an UNLOGGED scratch table (no WAL, lost on a crash) instead of an ordinary one as durable as Herald's events")
	fs.IntVar(&o.Runs, "runs", 1, "runs of both paths, one after the other, each with its own events and customers; more than one adds the medians")
	fs.IntVar(&o.Warmup, "warmup", 1, "runs before the measured ones, printed and left out of the medians: the first run after a start pays one-time costs on the Herald path (the herald process's heap growing, Postgres's backends mapping its buffer pool) that the raw path after it does not")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.Events < 1 || o.Events > 10_000_000:
		return o, errors.New("--events must be from 1 to 10000000")
	case o.Customers < 1 || o.Customers > o.Events:
		return o, errors.New("--customers must be from 1 to --events")
	case o.BatchSize < 1 || o.BatchSize > 1000:
		return o, errors.New("--batch must be from 1 to 1000")
	case o.Concurrency < 1:
		return o, errors.New("--concurrency must be at least 1")
	case o.Timeout <= 0:
		return o, errors.New("--timeout must be positive")
	case o.Runs < 1 || o.Runs > 100:
		return o, errors.New("--runs must be from 1 to 100")
	case o.Warmup < 0 || o.Warmup > 10:
		return o, errors.New("--warmup must be from 0 to 10")
	}
	return o, nil
}

func orEnv(getenv func(string) string, name, def string) string {
	if v := getenv(envPrefix + name); v != "" {
		return v
	}
	return def
}

// ingestResult is what `herald bench ingest` measured.
type ingestResult struct {
	opts    benchIngestOptions
	machine machineInfo
	warmup  bool // a warm-up run: printed, left out of the medians
	// Herald: first POST → last POST acknowledged, → all applied and routed.
	posted, applied time.Duration
	lag             []time.Duration // POST of the event's batch → event row written
	// Raw: sarama consume + multi-row INSERT of the same messages.
	raw     time.Duration
	rawRows int
	// CPU seconds each path used (-1: not measurable here).
	heraldCPU, rawCPU pathCPU
}

// pathCPU is the CPU one path of the bench used, by process.
type pathCPU struct {
	herald   float64 // the herald process (its /metrics)
	postgres float64 // the Postgres server, when it runs on this machine
	bench    float64 // this process: the HTTP client, or the raw consumer
}

// cpuMeters starts measuring the CPU of Herald, Postgres and this process;
// the function it returns gives what each used since.
func cpuMeters(ctx context.Context, herald *processCPU, db *pgxpool.Pool) func() pathCPU {
	h := herald.cpuMeter(ctx)
	pg0, pgErr := schema.ServerCPU(ctx, db)
	self0 := selfCPU()
	return func() pathCPU {
		out := pathCPU{herald: h(), postgres: -1, bench: (selfCPU() - self0).Seconds()}
		if pg1, err := schema.ServerCPU(ctx, db); pgErr == nil && err == nil {
			out.postgres = (pg1 - pg0).Seconds()
		}
		return out
	}
}

// selfCPU is the user and system CPU time this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchIngest(ctx context.Context, o benchIngestOptions, logw io.Writer) (*ingestResult, error) {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	creds, err := readBenchCredentials(o.Credentials)
	if err != nil {
		return nil, err
	}
	if o.DatabaseURL == "" {
		o.DatabaseURL = creds.DatabaseURL
	}
	if o.Brokers == "" {
		o.Brokers = creds.KafkaBrokers
	}
	if o.DatabaseURL == "" || o.Brokers == "" {
		return nil, errors.New("the credentials name no database_url or kafka_brokers (restart herald dev to rewrite them) and --database-url/--kafka-brokers are not set")
	}
	h := &heraldAPI{base: strings.TrimRight(creds.APIURL, "/"), secret: creds.SecretKey, write: creds.WriteKey,
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * o.Concurrency}}}
	if err := h.ready(ctx); err != nil {
		return nil, err
	}
	db, err := pgxpool.New(ctx, o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer db.Close()
	kc, err := ingest.NewClient(strings.Split(o.Brokers, ","))
	if err != nil {
		return nil, err
	}
	defer kc.Close()
	counter := &ingestCounter{addr: o.MetricsAddr, http: &http.Client{Timeout: 5 * time.Second}}
	before, err := counter.read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read herald's metrics at %s: %w", o.MetricsAddr, err)
	}
	start, err := topicOffsets(kc, o.Topic, sarama.OffsetNewest)
	if err != nil {
		return nil, err
	}
	res := &ingestResult{opts: o, machine: readMachineInfo()}
	tag := benchTag()
	event := "Bench Ingest " + tag
	log.Info("herald bench ingest", "events", o.Events, "customers", o.Customers, "batch", o.BatchSize, "tag", tag)

	// Herald: POST the events in batches. The request bodies are built
	// before the clock starts (the client's JSON work is not Herald's); each
	// event names its batch, whose send time is noted, so the lag to its
	// row can be read back.
	batches := (o.Events + o.BatchSize - 1) / o.BatchSize
	bodies := make([][]byte, batches)
	for b := range bodies {
		var evs []map[string]any
		for i := b * o.BatchSize; i < min(o.Events, (b+1)*o.BatchSize); i++ {
			evs = append(evs, map[string]any{"type": "track", "event": event, "messageId": fmt.Sprintf("%s-%d", tag, i),
				"userId": fmt.Sprintf("bench-%s-%d", tag, i%o.Customers), "properties": map[string]any{"seq": i, "batch": b}})
		}
		if bodies[b], err = json.Marshal(map[string]any{"batch": evs}); err != nil {
			return nil, err
		}
	}
	sent := make([]time.Time, batches)
	heraldProc := &processCPU{addr: o.MetricsAddr, http: counter.http}
	cpu := cpuMeters(ctx, heraldProc, db)
	t0 := time.Now()
	err = forEach(ctx, batches, o.Concurrency, func(ctx context.Context, b int) error {
		sent[b] = time.Now()
		return h.call(ctx, "POST", "/v1/batch", h.write, json.RawMessage(bodies[b]), nil)
	})
	if err != nil {
		return nil, err
	}
	res.posted = time.Since(t0)
	log.Info("events posted", "took", res.posted.Round(time.Millisecond))
	done, err := counter.waitFor(ctx, before+float64(o.Events), time.Now().Add(o.Timeout))
	if err != nil {
		return nil, err
	}
	res.applied = done.Sub(t0)
	res.heraldCPU = cpu()
	log.Info("events applied and routed", "took", res.applied.Round(time.Millisecond))
	if res.lag, err = ingestLags(ctx, db, event, sent); err != nil {
		return nil, err
	}

	// Raw: the same messages, from the same offsets, into a scratch table.
	end, err := topicOffsets(kc, o.Topic, sarama.OffsetNewest)
	if err != nil {
		return nil, err
	}
	cpu = cpuMeters(ctx, heraldProc, db)
	res.raw, res.rawRows, err = rawIngest(ctx, kc, db, o.Topic, start, end, tag, o.RawUnlogged)
	if err != nil {
		return nil, fmt.Errorf("raw path: %w", err)
	}
	res.rawCPU = cpu()
	log.Info("raw consume + insert done", "rows", res.rawRows, "took", res.raw.Round(time.Millisecond))
	return res, nil
}

// ingestRuns are the results of --warmup and --runs runs, in order.
type ingestRuns []*ingestResult

// benchIngestRuns runs both paths o.Warmup times, then o.Runs times. Runs of
// the same build move by ±10 % on a shared machine; the medians say more
// than any one run. The Herald path of the first run after a start is the
// slowest of a set (the herald process's heap grows, Postgres's backends
// map the buffer pool: ~0.1 below the runs after it on a VM where a page
// fault costs ~12 µs), while the raw path runs after it on a warm server:
// warm-up runs keep that out of the medians.
func benchIngestRuns(ctx context.Context, o benchIngestOptions, logw io.Writer) (ingestRuns, error) {
	var out ingestRuns
	for i := range o.Warmup + o.Runs {
		r, err := benchIngest(ctx, o, logw)
		if err != nil {
			switch {
			case i < o.Warmup:
				err = fmt.Errorf("warm-up run %d of %d: %w", i+1, o.Warmup, err)
			case o.Runs > 1:
				err = fmt.Errorf("run %d of %d: %w", i-o.Warmup+1, o.Runs, err)
			}
			return nil, err
		}
		r.warmup = i < o.Warmup
		out = append(out, r)
	}
	return out, nil
}

func (rs ingestRuns) print(w io.Writer) {
	for _, r := range rs {
		r.print(w)
	}
	measured := slices.DeleteFunc(slices.Clone(rs), func(r *ingestResult) bool { return r.warmup })
	if len(measured) < 2 {
		return
	}
	after := ""
	switch n := len(rs) - len(measured); n {
	case 0:
	case 1:
		after = " after 1 warm-up run"
	default:
		after = fmt.Sprintf(" after %d warm-up runs", n)
	}
	var ratios, heraldCPU, pgCPU []float64
	for _, r := range measured {
		ratios = append(ratios, r.ratio())
		if us, ok := microsPerEvent(r.heraldCPU.herald, r.opts.Events); ok {
			heraldCPU = append(heraldCPU, us)
		}
		if us, ok := microsPerEvent(r.heraldCPU.postgres, r.opts.Events); ok {
			pgCPU = append(pgCPU, us)
		}
	}
	m := median(ratios)
	fmt.Fprintf(w, "over %d runs%s: throughput Herald/raw %s–%s, median %s (goal ≥ %.1f: %s)\n",
		len(measured), after, fmtRatio(slices.Min(ratios)), fmtRatio(slices.Max(ratios)), fmtRatio(m), benchIngestGoal, goalWord(m, benchIngestGoal))
	fmt.Fprintf(w, "median CPU per event, Herald path: herald process %s, Postgres %s\n\n", fmtMicros(heraldCPU), fmtMicros(pgCPU))
}

// ratio is Herald's events/s over the raw path's.
func (r *ingestResult) ratio() float64 {
	return ratio(float64(r.opts.Events)/r.applied.Seconds(), float64(r.rawRows)/r.raw.Seconds())
}

// median is the middle value of xs (the mean of the two middle ones for an
// even count; NaN for none), NaNs left out.
func median(xs []float64) float64 {
	xs = slices.DeleteFunc(slices.Clone(xs), math.IsNaN)
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

func fmtMicros(xs []float64) string {
	if len(xs) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f µs", median(xs))
}

// microsPerEvent is CPU seconds per event in µs; false when not measured.
func microsPerEvent(seconds float64, events int) (float64, bool) {
	if seconds < 0 || events == 0 {
		return 0, false
	}
	return seconds * 1e6 / float64(events), true
}

// perEvent formats CPU seconds per event in µs ("n/a" when not measured).
func perEvent(seconds float64, events int) string {
	us, ok := microsPerEvent(seconds, events)
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.1f µs", us)
}

func topicOffsets(c sarama.Client, topic string, which int64) (map[int32]int64, error) {
	parts, err := c.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	for _, p := range parts {
		off, err := c.GetOffset(topic, p, which)
		if err != nil {
			return nil, fmt.Errorf("offset of %s/%d: %w", topic, p, err)
		}
		out[p] = off
	}
	return out, nil
}

// ingestLags reads, for every event of the run, the time from its batch's
// POST to its row (the ingest transaction's start).
func ingestLags(ctx context.Context, db *pgxpool.Pool, event string, sent []time.Time) ([]time.Duration, error) {
	rows, err := db.Query(ctx, `SELECT received_at, (properties->>'batch')::int FROM events WHERE name = $1`, event)
	if err != nil {
		return nil, fmt.Errorf("read lags: %w", err)
	}
	var out []time.Duration
	var at time.Time
	var b int
	_, err = pgx.ForEachRow(rows, []any{&at, &b}, func() error {
		if b >= 0 && b < len(sent) {
			out = append(out, at.Sub(sent[b]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read lags: %w", err)
	}
	return out, nil
}

// rawIngest consumes the partitions from start to end with sarama and
// inserts each fetched batch of messages with one statement. Its time runs
// from the start of the consumers to the last insert: the pool's
// connections are opened before it (Herald's are open too), and the
// partition consumers' Close after it, which waits for the fetch each has
// in flight (up to sarama's Consumer.MaxWaitTime, 500 ms), is not counted.
func rawIngest(ctx context.Context, kc sarama.Client, db *pgxpool.Pool, topic string, start, end map[int32]int64, tag string, unlogged bool) (time.Duration, int, error) {
	table := pgx.Identifier{"bench_raw_" + strings.ReplaceAll(tag, "-", "_")}.Sanitize()
	create := `CREATE TABLE `
	if unlogged {
		create = `CREATE UNLOGGED TABLE `
	}
	if _, err := db.Exec(ctx, create+table+` (id bigserial PRIMARY KEY, message_id text NOT NULL, user_id text NOT NULL, body jsonb NOT NULL)`); err != nil {
		return 0, 0, fmt.Errorf("create scratch table: %w", err)
	}
	defer func() { _, _ = db.Exec(context.WithoutCancel(ctx), `DROP TABLE `+table) }()
	if err := openConns(ctx, db, len(start)); err != nil {
		return 0, 0, err
	}
	cons, err := sarama.NewConsumerFromClient(kc)
	if err != nil {
		return 0, 0, err
	}
	defer cons.Close()
	t0 := time.Now()
	var mu sync.Mutex
	total, last := 0, t0
	err = forEach(ctx, len(start), len(start), func(ctx context.Context, i int) error {
		p := int32(i)
		if end[p] <= start[p] {
			return nil
		}
		pc, err := cons.ConsumePartition(topic, p, start[p])
		if err != nil {
			return err
		}
		defer pc.Close()
		next := start[p]
		for next < end[p] {
			var batch []*sarama.ConsumerMessage
			select {
			case <-ctx.Done():
				return ctx.Err()
			case m := <-pc.Messages():
				batch = append(batch, m)
			}
		drain:
			for len(batch) < ingest.MaxBatch {
				select {
				case m := <-pc.Messages():
					batch = append(batch, m)
				default:
					break drain
				}
			}
			ids, users, bodies := make([]string, 0, len(batch)), make([]string, 0, len(batch)), make([]string, 0, len(batch))
			for _, m := range batch {
				var ev struct {
					MessageID string `json:"messageId"`
					UserID    string `json:"userId"`
				}
				if err := json.Unmarshal(m.Value, &ev); err != nil {
					return fmt.Errorf("decode %s/%d@%d: %w", topic, p, m.Offset, err)
				}
				ids, users, bodies = append(ids, ev.MessageID), append(users, ev.UserID), append(bodies, string(m.Value))
			}
			if _, err := db.Exec(ctx, `INSERT INTO `+table+` (message_id, user_id, body)
				SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])`, ids, users, bodies); err != nil {
				return fmt.Errorf("insert: %w", err)
			}
			next = batch[len(batch)-1].Offset + 1
			mu.Lock()
			total += len(batch)
			last = time.Now()
			mu.Unlock()
		}
		return nil
	})
	return last.Sub(t0), total, err
}

// openConns makes the pool open up to n connections (at most its
// MaxConns), so that the raw path's inserts do not wait for new backends
// while its clock runs.
func openConns(ctx context.Context, db *pgxpool.Pool, n int) error {
	n = min(n, int(db.Config().MaxConns))
	held := make([]*pgxpool.Conn, 0, n)
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for range n {
		c, err := db.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("connect to postgres: %w", err)
		}
		held = append(held, c)
	}
	return nil
}

func (r *ingestResult) print(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "\nherald bench ingest: %d events over %d customers, POST /v1/batch of %d, %d in flight\n",
		o.Events, o.Customers, o.BatchSize, o.Concurrency)
	if r.warmup {
		fmt.Fprintln(w, "warm-up run: left out of the medians")
	}
	fmt.Fprintf(w, "machine: %s (bench, Herald, Kafka and Postgres on the same machine)\n\n", r.machine)
	herald := float64(o.Events) / r.applied.Seconds()
	raw := float64(r.rawRows) / r.raw.Seconds()
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tevents\ttime\tevents/s\t")
	fmt.Fprintf(tw, "Herald: POST /v1/batch → Kafka → ingest (customer, event row, routing)\t%d\t%s\t%.0f\t\n", o.Events, fmtSec(r.applied), herald)
	fmt.Fprintf(tw, "  of which POST /v1/batch acknowledged (broker acks)\t%d\t%s\t%.0f\t\n", o.Events, fmtSec(r.posted), float64(o.Events)/r.posted.Seconds())
	table := "table"
	if o.RawUnlogged {
		table = "UNLOGGED table"
	}
	fmt.Fprintf(tw, "raw: sarama consume → one INSERT per fetched batch (%s)\t%d\t%s\t%.0f\t\n", table, r.rawRows, fmtSec(r.raw), raw)
	_ = tw.Flush()
	x := r.ratio()
	fmt.Fprintf(w, "\nthroughput Herald/raw: %s (goal ≥ %.1f: %s)\n", fmtRatio(x), benchIngestGoal, goalWord(x, benchIngestGoal))
	fmt.Fprintf(w, "end-to-end lag, POST of the event's batch → its row written: p50 %s  p99 %s  max %s\n",
		fmtMS(percentile(r.lag, 50)), fmtMS(percentile(r.lag, 99)), fmtMS(percentile(r.lag, 100)))
	fmt.Fprintf(w, "CPU per event, Herald path: herald process %s, Postgres %s, this client %s\n",
		perEvent(r.heraldCPU.herald, o.Events), perEvent(r.heraldCPU.postgres, o.Events), perEvent(r.heraldCPU.bench, o.Events))
	fmt.Fprintf(w, "CPU per event, raw path: Postgres %s, this consumer %s (herald process, idle: %s)\n",
		perEvent(r.rawCPU.postgres, r.rawRows), perEvent(r.rawCPU.bench, r.rawRows), perEvent(r.rawCPU.herald, r.rawRows))
	fmt.Fprintf(w, "cores busy (herald, Postgres and this process): Herald path %s, raw path %s of %d — a path near %d is bound by CPU\n\n",
		r.heraldCPU.cores(r.applied), r.rawCPU.cores(r.raw), r.machine.CPUs, r.machine.CPUs)
}

// cores is how many cores the path kept busy on average over d ("n/a"
// when a process's CPU was not measured).
func (c pathCPU) cores(d time.Duration) string {
	if c.herald < 0 || c.postgres < 0 || c.bench < 0 || d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", (c.herald+c.postgres+c.bench)/d.Seconds())
}
