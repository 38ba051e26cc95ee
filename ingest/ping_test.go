package ingest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest"
)

// hungCluster is a broker that stops answering (a network partition, a
// broker stuck in GC) once hang is called.
func hungCluster(t *testing.T) (*kfake.Cluster, func()) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic, dlq), kfake.DefaultNumPartitions(3))
	require.NoError(t, err)
	release := make(chan struct{})
	hang := func() {
		c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			<-release
			return nil, nil, false
		})
	}
	t.Cleanup(func() { close(release); c.Close() })
	return c, hang
}

// The readiness probe of a broker that stopped answering ends with the
// probe's deadline, and /readyz reports the broker not ready, instead of
// waiting a minute or more for sarama's metadata retries.
func TestReadyzKafkaProbeEndsAtItsDeadline(t *testing.T) {
	c, hang := hungCluster(t)
	client, err := ingest.NewClient(c.ListenAddrs())
	require.NoError(t, err)
	defer func() { go client.Close() }() // would wait for the hung broker
	ping := ingest.NewPinger(client, topic)
	require.NoError(t, ping.Ping(context.Background()))
	hang()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	answer := make(chan error, 1)
	go func() { answer <- ping.Ping(ctx) }()
	select {
	case err := <-answer:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(10 * time.Second):
		t.Fatal("the ping ignores its context")
	}
	checks := []api.Check{{Name: "kafka", Fn: ping.Ping}}
	for range 2 { // the second probe finds the first one's ping still pending
		start := time.Now()
		results, ok := api.RunChecks(context.Background(), checks)
		require.Less(t, time.Since(start), 10*time.Second, "the probe has a 3 s deadline")
		require.False(t, ok)
		require.NotEqual(t, "ok", results["kafka"])
	}
}
