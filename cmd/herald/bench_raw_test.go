package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema/schematest"
)

// (From a review.) The raw path's time ends with its last insert. It
// ended when its partition consumers had closed, and a consumer's Close
// waits for its fetch in flight (up to sarama's Consumer.MaxWaitTime,
// 500 ms): a fixed cost in every run, which the Herald path, whose
// consumer runs on, never pays, and which made the ratio look better than
// it was. Another connection watches the scratch table: the time rawIngest
// reports is no longer than from its call to the moment all rows were
// there.
func TestRawIngestTimeEndsWithItsLastInsert(t *testing.T) {
	ctx := t.Context()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "herald.events"))
	require.NoError(t, err)
	defer c.Close()
	p, err := ingest.NewProducer(c.ListenAddrs(), "herald.events")
	require.NoError(t, err)
	defer p.Close()
	kc, err := ingest.NewClient(c.ListenAddrs())
	require.NoError(t, err)
	defer kc.Close()
	url := schematest.URL(t)
	db, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer db.Close()

	for run := range 3 {
		start, err := topicOffsets(kc, "herald.events", sarama.OffsetNewest)
		require.NoError(t, err)
		var msgs []ingest.Message
		for i := range 30 {
			msgs = append(msgs, ingest.Message{Key: fmt.Sprintf("ws:u%d", i),
				Value: fmt.Appendf(nil, `{"messageId":"r%d-m%d","userId":"u%d"}`, run, i, i)})
		}
		require.NoError(t, p.Produce(ctx, msgs...))
		end, err := topicOffsets(kc, "herald.events", sarama.OffsetNewest)
		require.NoError(t, err)

		tag := fmt.Sprintf("order-%d", run)
		table := pgx.Identifier{"bench_raw_" + strings.ReplaceAll(tag, "-", "_")}.Sanitize()
		allThere := make(chan time.Time, 1)
		watch, cancel := context.WithCancel(ctx)
		go func() {
			conn, err := pgx.Connect(watch, url)
			if err != nil {
				return
			}
			defer conn.Close(context.Background())
			for watch.Err() == nil {
				var n int
				if conn.QueryRow(watch, `SELECT count(*) FROM `+table).Scan(&n) == nil && n == len(msgs) {
					allThere <- time.Now()
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		called := time.Now()
		took, rows, err := rawIngest(ctx, kc, db, "herald.events", start, end, tag, false)
		cancel()
		require.NoError(t, err)
		require.Equal(t, len(msgs), rows)
		select {
		case at := <-allThere:
			require.LessOrEqual(t, took, at.Sub(called), "run %d: the time ends with the last insert, not with the consumers' Close", run)
		default:
			t.Fatalf("run %d: the watcher never saw all %d rows before the scratch table was dropped", run, len(msgs))
		}
	}
}
