package ingest_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/workflows"
)

// The ordinary signup flow, many people at once: an anonymous "Signed Up"
// (its own partition, keyed by the anonymous id) is being routed while the
// user id's partition applies and routes a "Signed Up" under the user id
// and the identify that merges the anonymous profile. Entry policy "once":
// every person must end with at most one running run of the journey.
func TestConcurrentSignupMergeEntersOnce(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	j := e.publish(t, "Signed Up", workflows.Entry{Policy: "once"}, "1h")
	phone := map[string]any{"phone": "+15555550123"}

	applyRoute := func(ins ...schema.EventInput) error {
		var batch []ingest.Applied
		for _, in := range ins {
			in.WorkspaceID, in.OccurredAt = e.ws, time.Now().UTC()
			res, err := e.store.ApplyEvent(ctx, in)
			if err != nil {
				return err
			}
			ts := in.OccurredAt
			batch = append(batch, ingest.Applied{CustomerID: res.CustomerID, MergedFrom: res.MergedFrom, Duplicate: res.Duplicate,
				Event: ingest.Event{Type: in.Type, Event: in.Name, MessageID: in.MessageID, UserID: in.UserID, AnonymousID: in.AnonymousID,
					WorkspaceID: e.ws, Timestamp: &ts}})
		}
		// As the consumer does: a failed routing is retried, as Retried.
		for attempt := 0; ; attempt++ {
			err := e.router.Route(ctx, batch)
			if err == nil || attempt == 5 {
				return err
			}
			for i := range batch {
				batch[i].Retried = true
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	const n = 250
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		u, a := fmt.Sprintf("u%d", i), fmt.Sprintf("a%d", i)
		wg.Add(2)
		go func() { // partition of the anonymous id
			defer wg.Done()
			errs <- applyRoute(schema.EventInput{MessageID: "anon-" + u, Type: "track", Name: "Signed Up", AnonymousID: a})
		}()
		go func() { // partition of the user id: track then identify, one batch
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond)
			errs <- applyRoute(
				schema.EventInput{MessageID: "prior-" + u, Type: "track", Name: "Signed Up", UserID: u},
				schema.EventInput{MessageID: "id-" + u, Type: "identify", Name: "Identify", UserID: u, AnonymousID: a, Traits: phone},
			)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// The exits told by the merge take effect as the runs record their end.
	var running map[string][]string
	var doubles []string
	require.Eventually(t, func() bool {
		running, doubles = map[string][]string{}, nil
		for _, r := range e.runs(t, j) {
			if r.Status == schema.RunRunning {
				running[r.CustomerID] = append(running[r.CustomerID], r.WorkflowID)
			}
		}
		for c, wfs := range running {
			if len(wfs) > 1 {
				doubles = append(doubles, fmt.Sprintf("%s: %v", c, wfs))
			}
		}
		return len(doubles) == 0
	}, 60*time.Second, 200*time.Millisecond, "people with two running runs of a once journey: %v", &doubles)
	require.Len(t, running, n, "every person is in the journey")
}

// hookClient runs hook before each workflow start the router asks for.
type hookClient struct {
	client.Client
	hook func(workflowID string)
}

func (h hookClient) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	h.hook(o.ID)
	return h.Client.ExecuteWorkflow(ctx, o, wf, args...)
}

// The same race, made deterministic: the anonymous "Signed Up" (partition
// of a1) has passed its customer check and is starting its run when the
// user id's partition applies "Signed Up" under u1 and the identify
// merging a1 into u1, and decides u1's entry before the anonymous run's
// row is written; the anonymous run's row is then written (under u1, its
// check for a double finding only itself) before u1's own run's row. u1's
// own run, recorded last, sees both and ends the anonymous one: u1 is in
// the "once" journey once (before, both ran, and u1 got every message
// twice).
func TestMergeWhileBothRunsStartEntersOnce(t *testing.T) {
	e := newRouterEnv(t)
	ctx := context.Background()
	j := e.publish(t, "Signed Up", workflows.Entry{Policy: "once"}, "1h")
	phone := map[string]any{"phone": "+15555550123"}

	apply := func(in schema.EventInput) ingest.Applied {
		in.WorkspaceID, in.OccurredAt = e.ws, time.Now().UTC()
		res, err := e.store.ApplyEvent(ctx, in)
		require.NoError(t, err)
		ts := in.OccurredAt
		return ingest.Applied{CustomerID: res.CustomerID, MergedFrom: res.MergedFrom, Duplicate: res.Duplicate,
			Event: ingest.Event{Type: in.Type, Event: in.Name, MessageID: in.MessageID, UserID: in.UserID, AnonymousID: in.AnonymousID,
				WorkspaceID: e.ws, Timestamp: &ts}}
	}
	anon := apply(schema.EventInput{MessageID: "m-anon", Type: "track", Name: "Signed Up", AnonymousID: "a1"})
	anonWF := workflows.WorkflowID(j, anon.CustomerID, "")

	anonAtStart, userAtStart, anonDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	router := ingest.NewJourneyRouter(e.store, hookClient{Client: e.temporal, hook: func(id string) {
		if id == anonWF {
			close(anonAtStart)
			<-userAtStart // u1's entry is decided (no run of u1 recorded yet)
		} else {
			close(userAtStart)
			<-anonDone // the anonymous run's row is written and checked
		}
	}}, nil, nil)

	anonErr := make(chan error, 1)
	go func() {
		err := router.Route(ctx, []ingest.Applied{anon})
		close(anonDone)
		anonErr <- err
	}()
	<-anonAtStart
	prior := apply(schema.EventInput{MessageID: "m-prior", Type: "track", Name: "Signed Up", UserID: "u1"})
	ident := apply(schema.EventInput{MessageID: "m-id", Type: "identify", Name: "Identify", UserID: "u1", AnonymousID: "a1", Traits: phone})
	require.Equal(t, anon.CustomerID, ident.MergedFrom)
	require.NoError(t, router.Route(ctx, []ingest.Applied{prior, ident}))
	require.NoError(t, <-anonErr)

	// The exit told to the double takes effect as it records its end.
	var running []string
	require.Eventually(t, func() bool {
		running = nil
		for _, r := range e.runs(t, j) {
			require.Equal(t, prior.CustomerID, r.CustomerID, "runs show under the survivor")
			if r.Status == schema.RunRunning {
				running = append(running, r.WorkflowID)
			}
		}
		return len(running) == 1
	}, 30*time.Second, 100*time.Millisecond, "u1 is in the once journey once: %v", &running)
}
