package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest/kafkaserver"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

func TestMain(m *testing.M) { os.Exit(schematest.Run(m)) }

// Every production role refuses a database whose schema is behind, and
// `herald migrate` brings it up (twice is fine).
func TestRolesRefuseASchemaThatIsBehind(t *testing.T) {
	url := schematest.Empty(t)
	vars := map[string]string{
		"HERALD_DATABASE_URL":     url,
		"HERALD_TEMPORAL_ADDRESS": "127.0.0.1:1",
		"HERALD_KAFKA_BROKERS":    "127.0.0.1:1",
		"HERALD_METRICS_ADDR":     "127.0.0.1:0",
		"HERALD_HTTP_ADDR":        "127.0.0.1:0",
	}
	for _, role := range []string{"api", "worker", "ingest"} {
		var stderr bytes.Buffer
		require.Equal(t, 1, run([]string{role}, env(vars), io.Discard, &stderr), role)
		require.Contains(t, stderr.String(), "herald migrate", role)
	}
	for i := 0; i < 2; i++ {
		var stderr bytes.Buffer
		require.Equal(t, 0, run([]string{"migrate"}, env(vars), io.Discard, &stderr), stderr.String())
		require.Contains(t, stderr.String(), "database schema is current")
	}
	// Now the schema is current: the role gets past the check and fails on
	// the next dependency (nothing listens on Temporal's port here).
	var stderr bytes.Buffer
	require.Equal(t, 1, run([]string{"worker"}, env(vars), io.Discard, &stderr))
	require.NotContains(t, stderr.String(), "herald migrate")
	require.Contains(t, stderr.String(), "temporal")
}

func TestRetryUntilDoneKeepsTryingAndStopsWithItsContext(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	calls := 0
	ok := retryUntilDone(context.Background(), log, "set it", time.Millisecond, 2*time.Millisecond, func(context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("context deadline exceeded")
		}
		return nil
	})
	require.True(t, ok)
	require.Equal(t, 3, calls, "tried until it worked")
	require.Equal(t, 2, strings.Count(logs.String(), "could not set it; retrying"), "each failure is logged")

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	ok = retryUntilDone(ctx, log, "set it", time.Millisecond, time.Millisecond, func(context.Context) error {
		if calls++; calls == 2 {
			cancel()
		}
		return errors.New("unavailable")
	})
	require.False(t, ok, "gives up when its context ends")
	require.Equal(t, 2, calls)
}

// hungKafka is a client whose Close never returns (a broker connection
// stuck in a write).
type hungKafka struct {
	sarama.Client
	release chan struct{}
}

func (h hungKafka) Close() error { <-h.release; return nil }

// A connection that does not close does not keep a stopping role alive
// past the shutdown timeout.
func TestProcessCloseGivesUpAfterTheShutdownTimeout(t *testing.T) {
	h := hungKafka{release: make(chan struct{})}
	defer close(h.release)
	p := &process{cfg: Config{ShutdownTimeout: 100 * time.Millisecond}, log: slog.New(slog.DiscardHandler), kafka: h}
	start := time.Now()
	p.close()
	require.Less(t, time.Since(start), 5*time.Second)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

// On a stop the process first reports itself stopping on /readyz, keeps
// serving for the drain period, then ends its servers' context.
func TestDrainingReportsStoppingBeforeTheServersStop(t *testing.T) {
	p := &process{log: slog.New(slog.DiscardHandler)}
	stopping := p.checks()[0]
	require.Equal(t, "shutdown", stopping.Name)
	require.NoError(t, stopping.Fn(context.Background()))

	ctx, signal := context.WithCancel(context.Background())
	served, stop := p.draining(ctx, 300*time.Millisecond)
	defer stop()
	signal()
	start := time.Now()
	require.Eventually(t, p.stopping.Load, time.Second, 5*time.Millisecond)
	require.ErrorContains(t, stopping.Fn(context.Background()), "stopping")
	require.NoError(t, served.Err(), "still serving while the load balancer notices")
	<-served.Done()
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)
}

// Brokers that accept connections and never answer do not hold a stopping
// role: connecting gives up when its context ends.
func TestDialKafkaGivesUpWhenStopped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = dialKafka(ctx, Config{KafkaBrokers: l.Addr().String()})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
}

// The api starts while Temporal is down (it collects events without it):
// its Temporal client connects on first use, and /readyz shows Temporal
// degraded while the process is ready. The worker refuses to start.
func TestAPIStartsWithoutTemporal(t *testing.T) {
	b, err := kafkaserver.Start(kafkaserver.Options{Topics: []string{"herald.events"}, Partitions: 2})
	require.NoError(t, err)
	defer b.Close()
	cfg := Config{DatabaseURL: schematest.URL(t), TemporalAddress: "127.0.0.1:1", TemporalNamespace: "default",
		KafkaBrokers: strings.Join(b.Addrs(), ","), KafkaTopic: "herald.events", ShutdownTimeout: 5 * time.Second}
	ctx := context.Background()
	p, err := connect(ctx, "api", cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer p.close()
	results, ok := api.RunChecks(ctx, p.checks())
	require.True(t, ok, "%v", results)
	require.Contains(t, results["temporal"], "degraded: ")
	require.Equal(t, "ok", results["kafka"])

	_, err = connect(ctx, "worker", cfg, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "connect to temporal")
}

// The shutdown timeout counts from the drain's end for the servers and the
// connections together: closing gets what the servers left of it, and at
// least a second.
func TestCloseGetsWhatIsLeftOfTheShutdownTimeout(t *testing.T) {
	p := &process{cfg: Config{ShutdownTimeout: 20 * time.Second}}
	now := time.Now()
	require.Equal(t, 20*time.Second, p.closeBudget(now), "not stopping yet: all of it")
	p.drained.Store(now.Add(-15 * time.Second).UnixNano())
	require.Equal(t, 5*time.Second, p.closeBudget(now))
	p.drained.Store(now.Add(-30 * time.Second).UnixNano())
	require.Equal(t, time.Second, p.closeBudget(now), "spent: a second to close")
}

// lockedBuffer is a log destination the role's goroutines may share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The api creates the events and dead-letter topics at its start when they
// are missing, as ingest does, so that the refused events of a batch have
// a dead-letter topic before any ingest ran. A broker that does not let it
// create topics gets a warning, and the api serves all the same.
func TestAPICreatesItsTopicsAtItsStart(t *testing.T) {
	for _, allowed := range []bool{true, false} {
		t.Run(map[bool]string{true: "allowed", false: "not allowed"}[allowed], func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1))
			require.NoError(t, err)
			defer c.Close()
			if !allowed {
				c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
					c.KeepControl()
					r := req.(*kmsg.CreateTopicsRequest)
					resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
					for _, tp := range r.Topics {
						rt := kmsg.NewCreateTopicsResponseTopic()
						rt.Topic, rt.ErrorCode = tp.Topic, kerr.TopicAuthorizationFailed.Code
						resp.Topics = append(resp.Topics, rt)
					}
					return resp, nil, true
				})
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := l.Addr().String()
			require.NoError(t, l.Close())
			cfg := Config{DatabaseURL: schematest.URL(t), TemporalAddress: "127.0.0.1:1", TemporalNamespace: "default",
				KafkaBrokers: strings.Join(c.ListenAddrs(), ","), KafkaTopic: "herald.events", KafkaDLQTopic: "herald.events.dlq",
				KafkaPartitions: 3, HTTPAddr: addr, ShutdownTimeout: 5 * time.Second}
			var logs lockedBuffer
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			p, err := connect(ctx, "api", cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			require.NoError(t, err)
			defer p.close()
			served := make(chan error, 1)
			go func() { served <- serveAPI(ctx, p) }()
			require.Eventually(t, func() bool {
				resp, err := http.Get("http://" + addr + "/healthz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			}, 20*time.Second, 20*time.Millisecond, "the api serves")

			require.NoError(t, p.kafka.RefreshMetadata())
			topics, err := p.kafka.Topics()
			require.NoError(t, err)
			if allowed {
				for _, topic := range []string{"herald.events", "herald.events.dlq"} {
					require.Contains(t, topics, topic)
					parts, err := p.kafka.Partitions(topic)
					require.NoError(t, err)
					require.Len(t, parts, 3, "HERALD_KAFKA_PARTITIONS, as ingest creates them")
				}
				require.NotContains(t, logs.String(), "could not create the kafka topics")
				// A batch with a refused event is taken, the refused one
				// dead-lettered, before any ingest ran.
				ws, err := p.store.CreateWorkspace(ctx, "Demo")
				require.NoError(t, err)
				wk, err := p.store.CreateAPIKey(ctx, ws.ID, schema.KeyWrite, "write", "test")
				require.NoError(t, err)
				req, err := http.NewRequest("POST", "http://"+addr+"/v1/batch",
					strings.NewReader(`{"batch":[{"type":"track","userId":"u","event":"A"},{"type":"track","userId":"u"}]}`))
				require.NoError(t, err)
				req.SetBasicAuth(wk.Key, "")
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
				require.Contains(t, string(body), `"rejected"`)
			} else {
				require.NotContains(t, topics, "herald.events.dlq")
				require.Contains(t, logs.String(), "could not create the kafka topics")
			}
			stop()
			require.NoError(t, <-served)
		})
	}
}

// The ingest role forgets erased digests past their 30 days at its start
// and then on its interval, without waiting for another erasure; it stops
// with its context.
func TestForgetErasedEveryDeletesOldDigests(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "A")
	require.NoError(t, err)
	erasedMessage := func(daysAgo int) {
		_, err := st.Pool().Exec(ctx, `INSERT INTO erased_messages (workspace_id, message_digest, content_digest, erased_at)
			VALUES ($1, sha256(convert_to(gen_random_uuid()::text, 'UTF8')), '\x00', now() - make_interval(days => $2))`, ws.ID, daysAgo)
		require.NoError(t, err)
	}
	erasedIdentity := func(daysAgo int) {
		_, err := st.Pool().Exec(ctx, `INSERT INTO erased_identities (workspace_id, identity_digest, erased_at)
			VALUES ($1, sha256(convert_to(gen_random_uuid()::text, 'UTF8')), now() - make_interval(days => $2))`, ws.ID, daysAgo)
		require.NoError(t, err)
	}
	left := func() (n int) {
		require.NoError(t, st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM erased_messages) + (SELECT count(*) FROM erased_identities)`).Scan(&n))
		return n
	}
	erasedMessage(31)
	erasedIdentity(31)
	erasedMessage(1)

	logs := &lockedBuffer{}
	sweepCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		forgetErasedEvery(sweepCtx, st, slog.New(slog.NewTextHandler(logs, nil)), 50*time.Millisecond)
	}()
	defer func() { stop(); <-done }()
	require.Eventually(t, func() bool { return left() == 1 }, 10*time.Second, 10*time.Millisecond, "at its start")
	erasedIdentity(40)
	require.Eventually(t, func() bool { return left() == 1 }, 10*time.Second, 10*time.Millisecond, "on its interval")
	require.Contains(t, logs.String(), "deleted=2")
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sweep did not stop with its context")
	}
}
