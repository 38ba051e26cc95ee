package ingest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest/kafkaserver"
)

// The producer keeps a customer's events in the order it was given them
// also when a produce request fails and is retried: it is idempotent (the
// broker drops a retried batch it has, and refuses one out of sequence) and
// keeps one request in flight per broker. Sarama reorders retries
// otherwise (a later request may land before an earlier one is retried).
func TestProducerKeepsOrderAcrossRetries(t *testing.T) {
	b, err := kafkaserver.Start(kafkaserver.Options{Topics: []string{"t"}, Partitions: 1})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	p, err := NewProducer(b.Addrs(), "t")
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	cfg := p.c.Config()
	require.True(t, cfg.Producer.Idempotent)
	require.Equal(t, 1, cfg.Net.MaxOpenRequests)
	require.Positive(t, cfg.Producer.Retry.Max)
}
