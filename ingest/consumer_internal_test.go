package ingest

import (
	"context"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldhq/herald/ingest/kafkaserver"
)

// onlyMarkers tells the offsets a read-committed consumer is never given
// (commit and abort markers, aborted records) from records to apply —
// also a committed transaction after an aborted one of the same producer.
func TestOnlyMarkersTellsMarkersFromRecords(t *testing.T) {
	b, err := kafkaserver.Start(kafkaserver.Options{Topics: []string{"t"}, Partitions: 1})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	ctx := context.Background()
	txn, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.TransactionalID("markers"), kgo.DefaultProduceTopic("t"))
	require.NoError(t, err)
	t.Cleanup(txn.Close)
	for _, commit := range []bool{true, false, true} { // offsets: 0 data, 1 commit, 2 aborted, 3 abort, 4 data, 5 commit
		require.NoError(t, txn.BeginTransaction())
		require.NoError(t, txn.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr())
		end := kgo.TryAbort
		if commit {
			end = kgo.TryCommit
		}
		require.NoError(t, txn.EndTransaction(ctx, end))
	}
	plain, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()...), kgo.DefaultProduceTopic("t"))
	require.NoError(t, err)
	t.Cleanup(plain.Close)
	require.NoError(t, plain.ProduceSync(ctx, &kgo.Record{Value: []byte("y")}).FirstErr()) // offset 6

	client, err := NewClient(b.Addrs())
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	c := &Consumer{client: client}
	for _, tc := range []struct {
		next, hwm int64
		want      bool
	}{
		{1, 2, true},  // a commit marker
		{1, 4, true},  // … an aborted record and its abort marker
		{1, 6, false}, // … and a committed record after them
		{5, 6, true},
		{0, 2, false},
		{5, 7, false}, // a record of a producer without transactions
	} {
		require.Equal(t, tc.want, c.onlyMarkers("t", 0, tc.next, tc.hwm), "[%d, %d)", tc.next, tc.hwm)
	}
}

// A record's key and headers go with its dead letter unless they are too
// large to fit beside it — many empty headers included, whose lengths take
// bytes on the wire too.
func TestDeadLetterKeepsKeyAndHeadersThatFit(t *testing.T) {
	few := &sarama.ConsumerMessage{Key: []byte("k"), Headers: []*sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte("00-1-2-01")}}}
	key, headers := deadLetterKeyAndHeaders(few)
	require.Equal(t, "k", key)
	require.Len(t, headers, 1)
	many := &sarama.ConsumerMessage{Key: []byte("k")}
	for range 20_000 {
		many.Headers = append(many.Headers, &sarama.RecordHeader{})
	}
	key, headers = deadLetterKeyAndHeaders(many)
	require.Empty(t, key)
	require.Empty(t, headers)
}
