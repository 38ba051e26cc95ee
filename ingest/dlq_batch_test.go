package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

// TestPoisonOfABatchIsDeadLetteredTogether: a flood of poison records is
// parked with few produce calls, not one (acknowledged by all replicas)
// per record — else a producer shipping bad events faster than that leaves
// the partition behind without bound. Each letter is still counted and
// the event after them applied.
func TestPoisonOfABatchIsDeadLetteredTogether(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := e.ws.ID + ":u1"
	const n = 50
	msgs := make([]ingest.Message, 0, n+1)
	for i := range n {
		msgs = append(msgs, ingest.Message{Key: key, Value: fmt.Appendf(nil, "not json %d", i)})
	}
	msgs = append(msgs, ingest.Message{Key: key,
		Value: mustJSON(map[string]any{"type": "track", "messageId": "after", "userId": "u1", "event": "After", "workspaceId": e.ws.ID})})
	require.NoError(t, e.producer.Produce(ctx, msgs...))
	_, reg := e.runMetered(t)

	require.Equal(t, "after", e.storedEvents(t, "u1", 1)[0].MessageID)
	require.Len(t, readAll(t, e.client, dlq, n), n)
	require.Eventually(t, func() bool { return outcome(t, reg, "dead_lettered") == n }, 20*time.Second, 20*time.Millisecond,
		"each letter counted once")
	batches := recordBatches(t, e.client, dlq)
	total := 0
	for _, b := range batches {
		total += b
	}
	require.Equal(t, n, total)
	require.Less(t, len(batches), n/5, "the letters of a batch are written together (record batches: %v)", batches)
}

// TestLargePoisonIsParkedWhenTheDLQTakesSmallerRecords: a letter that a
// dead-letter topic with a lower max.message.bytes than a letter may be (a
// managed cluster's setting) refuses as too large is cut until it fits,
// rather than retried as it is forever with the partition stuck behind it.
func TestLargePoisonIsParkedWhenTheDLQTakesSmallerRecords(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ws := e.ws.ID
	key := ws + ":u1"
	limitDLQ(t, e, 100_000)

	big := `{"type":"track","messageId":"big","userId":"u1","event":"E","workspaceId":"` + ws + `","properties":{"blob":"` + strings.Repeat("x", 500_000) + `"}}`
	require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: key, Value: []byte(big)}))
	require.NoError(t, e.producer.Produce(ctx, ingest.Message{Key: key,
		Value: mustJSON(map[string]any{"type": "track", "messageId": "after", "userId": "u1", "event": "After", "workspaceId": ws})}))
	e.run(t)

	evs := e.storedEvents(t, "u1", 1)
	require.Equal(t, "after", evs[0].MessageID)
	letters := readAll(t, e.client, dlq, 1)
	require.Len(t, letters, 1)
	require.True(t, letters[0].Truncated)
	require.Equal(t, len(big), letters[0].PayloadBytes)
	require.True(t, strings.HasPrefix(big, letters[0].Payload))
	require.Greater(t, len(letters[0].Payload), 10_000, "cut by halves, not to nothing")
}

// TestLettersTooLargeTogetherAreSentAlone: letters that each fit the
// dead-letter topic but not together in one record batch are all written,
// whole, beside one that has to be cut.
func TestLettersTooLargeTogetherAreSentAlone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := e.ws.ID + ":u1"
	limitDLQ(t, e, 100_000)
	msgs := []ingest.Message{{Key: key, Value: []byte("not json " + strings.Repeat("y", 500_000))}}
	for i := range 4 {
		msgs = append(msgs, ingest.Message{Key: key, Value: fmt.Appendf(nil, "not json %d %s", i, strings.Repeat("z", 30_000))})
	}
	msgs = append(msgs, ingest.Message{Key: key,
		Value: mustJSON(map[string]any{"type": "track", "messageId": "after", "userId": "u1", "event": "After", "workspaceId": e.ws.ID})})
	require.NoError(t, e.producer.Produce(ctx, msgs...))
	e.run(t)

	require.Equal(t, "after", e.storedEvents(t, "u1", 1)[0].MessageID)
	letters := readAll(t, e.client, dlq, 5)
	require.Len(t, letters, 5)
	for _, l := range letters {
		require.Equal(t, l.Offset == 0, l.Truncated, "only the large one is cut (offset %d)", l.Offset)
	}
}

// limitDLQ sets the dead-letter topic's max.message.bytes.
func limitDLQ(t *testing.T, e *env, bytes int) {
	t.Helper()
	admin, err := sarama.NewClusterAdminFromClient(e.client)
	require.NoError(t, err)
	limit := fmt.Sprint(bytes)
	require.NoError(t, admin.AlterConfig(sarama.TopicResource, dlq, map[string]*string{"max.message.bytes": &limit}, false))
}

// recordBatches are the record counts of the record batches on topic's
// partitions: records produced in one call share one batch per partition.
func recordBatches(t *testing.T, c sarama.Client, topic string) []int {
	t.Helper()
	parts, err := c.Partitions(topic)
	require.NoError(t, err)
	var out []int
	for _, p := range parts {
		leader, err := c.Leader(topic, p)
		require.NoError(t, err)
		req := &sarama.FetchRequest{Version: 4, MaxBytes: 16 << 20}
		req.AddBlock(topic, p, 0, 16<<20, -1)
		resp, err := leader.Fetch(req)
		require.NoError(t, err)
		block := resp.GetBlock(topic, p)
		require.NotNil(t, block)
		require.Equal(t, sarama.ErrNoError, block.Err)
		for _, r := range block.RecordsSet {
			require.NotNil(t, r.RecordBatch)
			out = append(out, len(r.RecordBatch.Records))
		}
	}
	return out
}
