package ingest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldhq/herald/schema"
)

// CombinedMax is the most events a transaction takes from the batches
// waiting (a batch is never split: one larger than what is left starts the
// next transaction).
const CombinedMax = 2000

// combiner applies the batches that partitions hand it at the same time
// in one transaction: at most appliers transactions run at once, and each
// takes every batch waiting when it starts (up to maxEvents). Fewer,
// larger transactions cost Postgres less per event (statements, commits,
// and the pages each backend maps for the first time).
type combiner struct {
	apply func(context.Context, []schema.EventInput) ([]schema.AppliedEvent, error)
	// applyTogether applies several partitions' batches, waiting at most
	// CombinedLockWait for a lock (nil: apply).
	applyTogether func(context.Context, []schema.EventInput) ([]schema.AppliedEvent, error)
	appliers      int
	maxEvents     int
	size          prometheus.Observer // events per transaction; may be nil
	maxWait       time.Duration       // CombineWait when 0

	mu      sync.Mutex
	waiting []*combined
	running int
}

// CombineWait is how long a batch waits for one of the appliers while
// they all run; past it, the batch is applied in a transaction of its own
// at once. Customers another transaction holds (a long merge, an erasure,
// an import) then stall only their own partitions, as without combining.
const CombineWait = 200 * time.Millisecond

// CombinedLockWait is how long a transaction of several partitions'
// batches waits for a lock (a customer another transaction holds): past
// it the transaction fails and each partition applies its batch on its
// own, so that only the partition of that customer waits on.
const CombinedLockWait = time.Second

// combined is one partition's batch waiting for, or in, a transaction.
type combined struct {
	ctx context.Context
	in  []schema.EventInput
	out []schema.AppliedEvent
	err error
	// alone: the transaction it was in failed; its partition applies it
	// on its own.
	alone bool
	done  chan struct{}
}

// ApplyEvents applies in, together with the batches other partitions
// hand in meanwhile. It returns once in's transaction has ended, even
// when ctx ended first: the caller learns what was stored.
func (c *combiner) ApplyEvents(ctx context.Context, in []schema.EventInput) ([]schema.AppliedEvent, error) {
	b := &combined{ctx: ctx, in: in, done: make(chan struct{})}
	c.mu.Lock()
	c.waiting = append(c.waiting, b)
	if c.running < c.appliers {
		c.running++
		// Its own goroutine: the partition that started it goes on with
		// its next batch as soon as this one is applied.
		go c.lead()
	}
	c.mu.Unlock()
	wait := time.NewTimer(c.wait())
	defer wait.Stop()
	select {
	case <-b.done:
	case <-wait.C:
		c.mu.Lock()
		i := slices.Index(c.waiting, b)
		if i >= 0 {
			c.waiting = slices.Delete(c.waiting, i, i+1)
		}
		c.mu.Unlock()
		if i >= 0 {
			return c.applyObserved(ctx, in) // no applier came: its own, now
		}
		<-b.done // taken meanwhile
	}
	if b.alone {
		return c.applyObserved(ctx, in)
	}
	return b.out, b.err
}

func (c *combiner) wait() time.Duration {
	if c.maxWait > 0 {
		return c.maxWait
	}
	return CombineWait
}

// lead applies what waits until nothing does.
func (c *combiner) lead() {
	for {
		c.mu.Lock()
		if len(c.waiting) == 0 {
			c.running--
			c.mu.Unlock()
			return
		}
		n, events := 0, 0
		for n < len(c.waiting) && (n == 0 || events+len(c.waiting[n].in) <= c.maxEvents) {
			events += len(c.waiting[n].in)
			n++
		}
		take := c.waiting[:n:n]
		c.waiting = c.waiting[n:]
		c.mu.Unlock()
		c.run(take, events)
	}
}

func (c *combiner) run(take []*combined, events int) {
	if len(take) == 1 {
		b := take[0]
		b.out, b.err = c.applyObserved(b.ctx, b.in)
		close(b.done)
		return
	}
	ctx, cancel := allDone(take)
	defer cancel()
	in := make([]schema.EventInput, 0, events)
	for _, b := range take {
		in = append(in, b.in...)
	}
	together := c.applyTogether
	if together == nil {
		together = c.apply
	}
	out, err := c.observed(ctx, together, in)
	if err != nil {
		// Each on its own, by its partition, at once: one batch's event
		// the database refuses must not hold the others back (its
		// partition then applies it event by event), nor may a customer
		// another transaction holds (CombinedLockWait) or a transaction
		// too large for the server's lock table (max_locks_per_transaction).
		for _, b := range take {
			b.alone = true
			close(b.done)
		}
		return
	}
	for _, b := range take {
		b.out, out = out[:len(b.in):len(b.in)], out[len(b.in):]
		close(b.done)
	}
}

// applyObserved is one transaction of in, counted when it commits.
func (c *combiner) applyObserved(ctx context.Context, in []schema.EventInput) ([]schema.AppliedEvent, error) {
	return c.observed(ctx, c.apply, in)
}

func (c *combiner) observed(ctx context.Context, apply func(context.Context, []schema.EventInput) ([]schema.AppliedEvent, error),
	in []schema.EventInput) ([]schema.AppliedEvent, error) {
	out, err := apply(ctx, in)
	if err == nil && c.size != nil {
		c.size.Observe(float64(len(in)))
	}
	return out, err
}

// allDone is a context that ends when every batch's context has ended.
func allDone(take []*combined) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(take[0].ctx))
	go func() {
		for _, b := range take {
			select {
			case <-b.ctx.Done():
			case <-ctx.Done():
				return
			}
		}
		cancel()
	}()
	return ctx, cancel
}
