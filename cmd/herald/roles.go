package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/worker"
	"golang.org/x/sync/errgroup"

	"github.com/heraldhq/herald/activities"
	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/frontend"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

func runMigrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.requireExternal("database"); err != nil {
		return err
	}
	applied, err := schema.Migrate(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	log.Info("database schema is current", "applied_now", len(applied))
	return nil
}

// runRole is the production entry of a role: external dependencies only.
func runRole(ctx context.Context, role string, cfg Config, log *slog.Logger, serve func(context.Context, *process) error) error {
	needs := []string{"database", "temporal", "kafka"}
	if role == "worker" {
		needs = needs[:2] // workflows and activities never use Kafka
	}
	if err := cfg.requireExternal(needs...); err != nil {
		return err
	}
	if cfg.EncryptionKey == "" {
		log.Warn(envPrefix + "ENCRYPTION_KEY is not set: provider credentials cannot be stored, and tracking and unsubscribe links are not signed")
	}
	if role != "worker" && cfg.kafkaSecurity().PlainTextPassword() {
		log.Warn("Kafka SASL PLAIN without TLS: the password crosses the network in clear; set " + envPrefix + "KAFKA_TLS")
	}
	p, err := connect(ctx, role, cfg, log)
	if err != nil {
		return err
	}
	defer p.close()
	sctx, stop := p.draining(ctx, cfg.ShutdownDrain)
	defer stop()
	g, gctx := errgroup.WithContext(sctx)
	// A role that stops on its own (a server failed) starts its shutdown
	// budget then too.
	context.AfterFunc(gctx, func() { p.drained.CompareAndSwap(0, time.Now().UnixNano()) })
	g.Go(func() error { return p.serveMetrics(gctx) })
	g.Go(func() error { return serve(gctx, p) })
	return g.Wait()
}

func runAPIRole(ctx context.Context, cfg Config, log *slog.Logger) error {
	return runRole(ctx, "api", cfg, log, serveAPI)
}

func runWorkerRole(ctx context.Context, cfg Config, log *slog.Logger) error {
	return runRole(ctx, "worker", cfg, log, serveWorker)
}

func runIngestRole(ctx context.Context, cfg Config, log *slog.Logger) error {
	return runRole(ctx, "ingest", cfg, log, serveIngest)
}

// serveAPI runs the HTTP API and web app until ctx ends.
func serveAPI(ctx context.Context, p *process) error {
	ensureAPITopics(p)
	producer, err := ingest.NewProducer(p.cfg.brokers(), p.cfg.KafkaTopic, p.cfg.kafkaSecurity())
	if err != nil {
		return err
	}
	defer producer.Close()
	deadLetters, err := ingest.NewDeadLetterProducer(p.cfg.brokers(), p.cfg.KafkaDLQTopic, p.cfg.kafkaSecurity())
	if err != nil {
		return err
	}
	defer deadLetters.Close()
	web := frontend.Dist()
	h := api.New(api.Deps{
		Store:       p.store,
		Log:         p.log.With("role", "api"),
		Metrics:     p.registry,
		Frontend:    web,
		Checks:      p.checks(),
		Producer:    producer,
		DeadLetters: deadLetters,
		Temporal:    p.temporal,
		Router:      ingest.NewJourneyRouter(p.store, p.temporal, p.log.With("role", "api"), nil),
		Config: api.Config{
			PublicURL:         p.cfg.PublicURL,
			TemporalUIURL:     p.cfg.TemporalUIURL,
			TemporalNamespace: p.cfg.TemporalNamespace,
			EncryptionKey:     p.cfg.EncryptionKey,
		},
	})
	return serveHTTP(ctx, p.log, "api", p.cfg.HTTPAddr, h, p.cfg.ShutdownTimeout)
}

// ensureAPITopics creates the events and dead-letter topics that do not
// exist yet, as ingest does at its start: an api started before any ingest
// would otherwise answer 503 to a batch with a refused event (its dead
// letter has no topic). The api may not be allowed to create topics (then
// ingest or an operator does): a failure is a warning, not a refusal to
// start.
func ensureAPITopics(p *process) {
	if err := ingest.EnsureTopics(p.kafka, int32(p.cfg.KafkaPartitions), p.cfg.KafkaTopic, p.cfg.KafkaDLQTopic); err != nil {
		p.log.Warn("could not create the kafka topics; the ingest role creates them at its start, or create them by hand",
			"error", err, "topics", []string{p.cfg.KafkaTopic, p.cfg.KafkaDLQTopic})
	}
}

// serveWorker runs the Temporal worker until ctx ends.
func serveWorker(ctx context.Context, p *process) error {
	if err := workflows.EnsureSearchAttributes(ctx, p.temporal, p.cfg.TemporalNamespace); err != nil {
		return err
	}
	w := worker.New(p.temporal, workflows.TaskQueue, worker.Options{})
	workflows.Register(w)
	activities.Register(w, activities.New(activities.Deps{Store: p.store, PublicURL: p.cfg.PublicURL, Log: p.log, EncryptionKey: p.cfg.EncryptionKey}))
	audiences := ingest.NewAudiences(p.store, ingest.NewJourneyRouter(p.store, p.temporal, p.log.With("role", "worker"), nil))
	audiences.Register(w)
	// Enrollments and the segment refresh have their own queue (see
	// workflows.AudienceTaskQueue).
	aw := worker.New(p.temporal, workflows.AudienceTaskQueue, worker.Options{})
	workflows.RegisterAudiences(aw)
	audiences.Register(aw)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start temporal worker: %w", err)
	}
	if err := aw.Start(); err != nil {
		w.Stop()
		return fmt.Errorf("start temporal worker: %w", err)
	}
	defer aw.Stop()
	// Right after a crash Temporal can take a while to serve schedule
	// updates (its own scheduler workers start after its frontend): keep
	// trying rather than stop the worker over it.
	go retryUntilDone(ctx, p.log, "set the segment refresh schedule", time.Second, 30*time.Second, func(ctx context.Context) error {
		return workflows.EnsureSegmentRefreshSchedule(ctx, p.temporal, p.cfg.SegmentRefresh)
	})
	p.log.Info("temporal worker started", "task_queue", workflows.TaskQueue, "audience_task_queue", workflows.AudienceTaskQueue,
		"namespace", p.cfg.TemporalNamespace)
	<-ctx.Done()
	w.Stop()
	return nil
}

// serveIngest consumes customer events until ctx ends.
func serveIngest(ctx context.Context, p *process) error {
	if warnings, err := ingest.TopicWarnings(p.kafka, int32(p.cfg.KafkaPartitions), p.cfg.KafkaTopic); err == nil {
		for _, w := range warnings {
			p.log.Warn(w)
		}
	}
	if warnings, err := ingest.DeadLetterTopicWarnings(p.kafka, p.cfg.KafkaDLQTopic); err == nil {
		for _, w := range warnings {
			p.log.Warn(w)
		}
	}
	if err := ingest.EnsureTopics(p.kafka, int32(p.cfg.KafkaPartitions), p.cfg.KafkaTopic, p.cfg.KafkaDLQTopic); err != nil {
		return err
	}
	go forgetErasedEvery(ctx, p.store, p.log.With("role", "ingest"), time.Hour)
	c := ingest.NewConsumer(ingest.ConsumerDeps{
		Brokers:  p.cfg.brokers(),
		Store:    p.store,
		Router:   ingest.NewJourneyRouter(p.store, p.temporal, p.log.With("role", "ingest"), p.registry),
		Log:      p.log.With("role", "ingest"),
		Metrics:  p.registry,
		Topic:    p.cfg.KafkaTopic,
		DLQTopic: p.cfg.KafkaDLQTopic,
		Group:    p.cfg.KafkaGroup,
		Security: p.cfg.kafkaSecurity(),
		Linger:   p.cfg.IngestLinger,
		Appliers: cmp.Or(p.cfg.IngestAppliers, -1), // 0: each partition's own
		// Within HERALD_SHUTDOWN_TIMEOUT even when the broker hangs.
		ShutdownTimeout: p.cfg.ShutdownTimeout,
	})
	return c.Run(ctx)
}

// forgetErasedEvery deletes the digests of erased events and ids past their
// 30 days at once and then every interval, so that they do not stay until
// the next erasure; several ingest processes doing it at once is harmless.
func forgetErasedEvery(ctx context.Context, st *schema.Store, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		switch n, err := st.ForgetErasedIDs(ctx); {
		case err != nil && ctx.Err() == nil:
			log.Warn("could not forget old erased ids; trying again later", "error", err, "retry_in", every)
		case n > 0:
			log.Info("forgot the digests of erased events and ids past their 30 days", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retryUntilDone calls f until it succeeds or ctx ends, waiting first, then
// twice as long each time up to most, and logs each failure.
func retryUntilDone(ctx context.Context, log *slog.Logger, what string, first, most time.Duration, f func(context.Context) error) bool {
	wait := first
	for {
		err := f(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		log.Warn("could not "+what+"; retrying", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, most)
	}
}
