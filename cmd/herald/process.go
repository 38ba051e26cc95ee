package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
)

// process holds the connections the roles of one process share.
type process struct {
	// role is the role served (api, worker, ingest; dev for all of them).
	role     string
	cfg      Config
	log      *slog.Logger
	registry *prometheus.Registry
	store    *schema.Store
	temporal client.Client
	kafka    sarama.Client
	// kafkaPing is the readiness probe of kafka, shared by all /readyz
	// requests so that their metadata requests do not pile up.
	kafkaPing *ingest.Pinger
	// stopping: a stop was asked for; /readyz answers 503 while the
	// process drains.
	stopping atomic.Bool
	// drained is when the drain ended and the servers began to stop (Unix
	// nanoseconds; 0 before): the shutdown timeout counts from it, for the
	// servers and the connections together.
	drained atomic.Int64
}

// connect opens Postgres (refusing a schema that is behind), Temporal and
// — except for the worker, which does not use it — Kafka as configured.
func connect(ctx context.Context, role string, cfg Config, log *slog.Logger) (*process, error) {
	p := &process{role: role, cfg: cfg, log: log, registry: prometheus.NewRegistry()}
	p.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := schema.CheckCurrent(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	var err error
	if p.store, err = schema.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if w, err := p.store.CollationWarning(ctx); err == nil && w != "" {
		log.Warn(w)
	}
	conn, creds, err := cfg.temporalConnection()
	if err != nil {
		p.close()
		return nil, err
	}
	dial := client.DialContext
	if role == "api" {
		// The api starts (and collects events) while Temporal is down; the
		// client connects on first use.
		dial = func(_ context.Context, o client.Options) (client.Client, error) { return client.NewLazyClient(o) }
	}
	p.temporal, err = dial(ctx, client.Options{
		HostPort:          cfg.TemporalAddress,
		Namespace:         cfg.TemporalNamespace,
		ConnectionOptions: conn,
		Credentials:       creds,
		Logger:            sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
		MetricsHandler:    newTemporalMetrics(p.registry),
	})
	if err != nil {
		p.close()
		return nil, fmt.Errorf("connect to temporal at %s: %w", cfg.TemporalAddress, err)
	}
	if role == "worker" {
		return p, nil
	}
	if p.kafka, err = dialKafka(ctx, cfg); err != nil {
		p.close()
		return nil, err
	}
	p.kafkaPing = ingest.NewPinger(p.kafka, cfg.KafkaTopic)
	return p, nil
}

// dialKafka connects to the brokers, giving up when ctx ends: sarama's
// connect cannot be cancelled, and brokers that accept connections and
// never answer would hold a stopping process for minutes.
func dialKafka(ctx context.Context, cfg Config) (sarama.Client, error) {
	type result struct {
		c   sarama.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ingest.NewClient(cfg.brokers(), cfg.kafkaSecurity())
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			// Closed when it does connect, after all.
			if r := <-done; r.err == nil {
				_ = r.c.Close()
			}
		}()
		return nil, fmt.Errorf("connect to kafka %v: %w", cfg.brokers(), ctx.Err())
	}
}

// close closes the connections, giving up when the shutdown timeout is
// spent — counted from the drain's end, so the servers' stop and this one
// share it (with a second left at least): a database that hangs (a pool
// waiting for connections held by queries that never return) must not
// keep a stopping process alive.
func (p *process) close() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.closeNow()
	}()
	select {
	case <-done:
	case <-time.After(p.closeBudget(time.Now())):
		p.log.Warn("connections did not close within the shutdown timeout; exiting without them", "timeout", p.cfg.ShutdownTimeout)
	}
}

// closeBudget is how long close may wait at now: what is left of the
// shutdown timeout since the drain ended (all of it before), at least a
// second.
func (p *process) closeBudget(now time.Time) time.Duration {
	budget := p.cfg.ShutdownTimeout
	if at := p.drained.Load(); at != 0 {
		budget -= now.Sub(time.Unix(0, at))
	}
	return max(budget, time.Second)
}

func (p *process) closeNow() {
	if p.kafka != nil {
		_ = p.kafka.Close()
	}
	if p.temporal != nil {
		p.temporal.Close()
	}
	if p.store != nil {
		p.store.Close()
	}
}

// draining is a context that ends drain after ctx does, having marked the
// process stopping first: the servers go on serving while load balancers
// see /readyz fail and move traffic away.
func (p *process) draining(ctx context.Context, drain time.Duration) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		p.stopping.Store(true)
		if drain > 0 {
			p.log.Info("stopping: /readyz answers 503 while traffic drains", "drain", drain)
			select {
			case <-time.After(drain):
			case <-out.Done():
			}
		}
		p.drained.CompareAndSwap(0, time.Now().UnixNano())
		cancel()
	})
	return out, func() {
		stop()
		cancel()
	}
}

// checks are the readiness probes of the process's dependencies. The api
// reports Temporal without depending on it: event collection (/v1) needs
// only Postgres and the broker, and a Temporal outage must not take it out
// of a load balancer. The worker does not use Kafka.
func (p *process) checks() []api.Check {
	cs := []api.Check{
		{Name: "shutdown", Fn: func(context.Context) error {
			if p.stopping.Load() {
				return errors.New("stopping")
			}
			return nil
		}},
		{Name: "postgres", Fn: p.store.Ping},
		{Name: "temporal", Optional: p.role == "api", Fn: func(ctx context.Context) error {
			_, err := p.temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}},
	}
	if p.kafkaPing != nil {
		cs = append(cs, api.Check{Name: "kafka", Fn: p.kafkaPing.Ping})
	}
	return cs
}

// serveMetrics serves /metrics, /healthz and /readyz until ctx ends.
func (p *process) serveMetrics(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{Registry: p.registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		results, ok := api.RunChecks(r.Context(), p.checks())
		status, code := "ready", http.StatusOK
		if !ok {
			status, code = "not ready", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": results})
	})
	// Go profiles for operators (CPU, heap, goroutines), on the same
	// private port as the metrics.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return serveHTTP(ctx, p.log, "metrics", p.cfg.MetricsAddr, mux, p.cfg.ShutdownTimeout)
}

// serveHTTP runs an HTTP server on addr until ctx ends, then shuts it down
// gracefully within timeout.
func serveHTTP(ctx context.Context, log *slog.Logger, name, addr string, h http.Handler, timeout time.Duration) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for %s on %s: %w", name, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		log.Info("listening", "server", name, "addr", l.Addr().String())
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s server: %w", name, err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}
