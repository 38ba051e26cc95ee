package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

func lingerMessages(n int, from int64) []*sarama.ConsumerMessage {
	out := make([]*sarama.ConsumerMessage, n)
	for i := range out {
		out[i] = &sarama.ConsumerMessage{Offset: from + int64(i)}
	}
	return out
}

func offsetsOf(batch []*sarama.ConsumerMessage) []int64 {
	out := make([]int64, len(batch))
	for i, m := range batch {
		out[i] = m.Offset
	}
	return out
}

// A lone message is applied at once, however long the linger: a quiet
// partition's events are not held back. (Were it held, this test would
// wait an hour.)
func TestCollectDoesNotHoldALoneMessage(t *testing.T) {
	c := &Consumer{d: ConsumerDeps{Linger: time.Hour}}
	ch := make(chan *sarama.ConsumerMessage, 4)
	batch := c.collect(t.Context(), ch, lingerMessages(1, 0)[0])
	require.Equal(t, []int64{0}, offsetsOf(batch))
}

// When events are streaming in, the batch takes what arrives within the
// linger, in order, and ends when the linger does.
func TestCollectGathersWhatArrivesWithinTheLinger(t *testing.T) {
	c := &Consumer{d: ConsumerDeps{Linger: 2 * time.Second}}
	msgs := lingerMessages(6, 10)
	ch := make(chan *sarama.ConsumerMessage, 8)
	ch <- msgs[1]
	go func() {
		for _, m := range msgs[2:5] {
			time.Sleep(10 * time.Millisecond)
			ch <- m
		}
	}()
	batch := c.collect(t.Context(), ch, msgs[0])
	require.Equal(t, []int64{10, 11, 12, 13, 14}, offsetsOf(batch))
	ch <- msgs[5] // after the linger: the next batch's
	require.Equal(t, []int64{15}, offsetsOf(c.collect(t.Context(), ch, <-ch)))
}

// Without a linger the batch is what had arrived.
func TestCollectWithoutLingerTakesWhatHasArrived(t *testing.T) {
	c := &Consumer{}
	msgs := lingerMessages(3, 0)
	ch := make(chan *sarama.ConsumerMessage, 4)
	ch <- msgs[1]
	ch <- msgs[2]
	require.Equal(t, []int64{0, 1, 2}, offsetsOf(c.collect(t.Context(), ch, msgs[0])))
}

// A batch never exceeds MaxBatch, and a session that ends (or a claim
// whose channel closes) ends the wait.
func TestCollectStopsAtMaxBatchAndWhenTheSessionEnds(t *testing.T) {
	c := &Consumer{d: ConsumerDeps{Linger: time.Hour}}
	msgs := lingerMessages(MaxBatch+5, 0)
	ch := make(chan *sarama.ConsumerMessage, len(msgs))
	for _, m := range msgs[1:] {
		ch <- m
	}
	batch := c.collect(t.Context(), ch, msgs[0])
	require.Len(t, batch, MaxBatch)
	require.Equal(t, int64(MaxBatch-1), batch[len(batch)-1].Offset)

	ctx, cancel := context.WithCancel(t.Context())
	ch = make(chan *sarama.ConsumerMessage, 4)
	ch <- msgs[1]
	time.AfterFunc(20*time.Millisecond, cancel)
	require.Equal(t, []int64{0, 1}, offsetsOf(c.collect(ctx, ch, msgs[0])))

	ch = make(chan *sarama.ConsumerMessage, 4)
	ch <- msgs[1]
	close(ch)
	require.Equal(t, []int64{0, 1}, offsetsOf(c.collect(t.Context(), ch, msgs[0])))
}
