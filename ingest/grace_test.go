package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A batch's context outlives its session by the grace period, no more.
func TestAfterGraceEndsGraceAfterItsParent(t *testing.T) {
	parent, stop := context.WithCancel(context.Background())
	ctx, cancel := afterGrace(parent, 200*time.Millisecond)
	defer cancel()
	stop()
	ended := time.Now()
	require.NoError(t, ctx.Err(), "the batch goes on when the session ends")
	<-ctx.Done()
	require.GreaterOrEqual(t, time.Since(ended), 200*time.Millisecond)

	ctx, cancel = afterGrace(context.Background(), time.Hour)
	cancel()
	require.Error(t, ctx.Err(), "cancel ends it at once")
}

// A batch's grace fits in the shutdown timeout: half of it at most, so the
// offsets of a batch that finishes can still be committed.
func TestBatchGraceFitsTheShutdownTimeout(t *testing.T) {
	require.Equal(t, BatchGrace, NewConsumer(ConsumerDeps{}).batchGrace(), "the default timeout (20s) leaves BatchGrace")
	require.Equal(t, 2*time.Second, NewConsumer(ConsumerDeps{ShutdownTimeout: 4 * time.Second}).batchGrace())
}
