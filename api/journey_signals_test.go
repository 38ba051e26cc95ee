package api_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/heraldhq/herald/workflows/temporalserver"
)

// signalHook is a Temporal client whose SignalWorkflow first asks hook,
// which may refuse the signal.
type signalHook struct {
	client.Client
	hook func(ctx context.Context, workflowID, signal string) error
}

func (h signalHook) SignalWorkflow(ctx context.Context, workflowID, runID, name string, arg any) error {
	if err := h.hook(ctx, workflowID, name); err != nil {
		return err
	}
	return h.Client.SignalWorkflow(ctx, workflowID, runID, name, arg)
}

// Pause and resume tell every running run: a run Temporal does not take
// the signal for does not stop the others, the answer says how many were
// not told, and asking again finishes; a client that goes away after the
// journey's status was set does not leave the rest untold.
func TestPauseAndResumeTellEveryRun(t *testing.T) {
	f, setHook := newSignalHookFixture(t)
	id, wfIDs := f.longRuns(t, "u1", "u2", "u3")
	paused := func(wfID string) bool {
		_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
		st, _ := run["state"].(map[string]any)
		return st != nil && st["paused"] == true
	}

	setHook(func(_ context.Context, workflowID, _ string) error {
		if workflowID == wfIDs[1] {
			return errors.New("temporal: unavailable")
		}
		return nil
	})
	status, out := f.api(t, "POST", "/api/journeys/"+id+"/pause", nil)
	require.Equal(t, 503, status, "%v", out)
	require.Contains(t, out["error"], "1 of its 3 running runs could not be told to pause")
	require.Eventually(t, func() bool { return paused(wfIDs[0]) && paused(wfIDs[2]) }, 10*time.Second, 100*time.Millisecond)
	require.False(t, paused(wfIDs[1]))
	setHook(nil)
	status, out = f.api(t, "POST", "/api/journeys/"+id+"/pause", nil)
	require.Equal(t, 200, status, "asked again: %v", out)
	require.EqualValues(t, 3, out["runs_affected"])
	require.Eventually(t, func() bool { return paused(wfIDs[1]) }, 10*time.Second, 100*time.Millisecond)

	// The client gives up once the first run is being told.
	reqCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	setHook(func(context.Context, string, string) error {
		once.Do(func() {
			cancel()
			time.Sleep(300 * time.Millisecond) // the server notices the closed connection
		})
		return nil
	})
	req, err := http.NewRequestWithContext(reqCtx, "POST", f.srv.URL+"/api/journeys/"+id+"/resume", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.secretKey)
	_, err = http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.Canceled)
	require.Eventually(t, func() bool { return !paused(wfIDs[0]) && !paused(wfIDs[1]) && !paused(wfIDs[2]) }, 10*time.Second, 100*time.Millisecond,
		"every run resumed")
}

type signalFunc = func(ctx context.Context, workflowID, signal string) error

// newSignalHookFixture is a journey fixture whose API signals runs through
// signalHook; set changes the hook (nil: none).
func newSignalHookFixture(t *testing.T) (f *journeyFixture, set func(signalFunc)) {
	var mu sync.Mutex
	var hook signalFunc
	set = func(h signalFunc) {
		mu.Lock()
		defer mu.Unlock()
		hook = h
	}
	f = newJourneyFixtureWith(t, temporalserver.Options{}, func(c client.Client) client.Client {
		return signalHook{Client: c, hook: func(ctx context.Context, workflowID, signal string) error {
			mu.Lock()
			h := hook
			mu.Unlock()
			if h == nil {
				return nil
			}
			return h(ctx, workflowID, signal)
		}}
	})
	return f, set
}

// One lifecycle change of a journey at a time: a resume asked while a
// pause is still telling the runs is refused (409), so the pause's
// signals cannot land after the resume's and leave runs held in an active
// journey.
func TestJourneyLifecycleChangesOneAtATime(t *testing.T) {
	f, setHook := newSignalHookFixture(t)
	id, wfIDs := f.longRuns(t, "u1", "u2")
	telling := make(chan struct{})
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce() // a failed assertion must not leave the pause waiting
	var once sync.Once
	setHook(func(_ context.Context, _, signal string) error {
		if signal == "pause" {
			once.Do(func() { close(telling) })
			<-release
		}
		return nil
	})
	paused := make(chan int, 1)
	go func() {
		status, _ := f.api(t, "POST", "/api/journeys/"+id+"/pause", nil)
		paused <- status
	}()
	<-telling
	status, out := f.api(t, "POST", "/api/journeys/"+id+"/resume", nil)
	require.Equal(t, 409, status, "%v", out)
	require.Contains(t, out["error"], "under way")
	releaseOnce()
	require.Equal(t, 200, <-paused)

	status, out = f.api(t, "POST", "/api/journeys/"+id+"/resume", nil)
	require.Equal(t, 200, status, "%v", out)
	for _, wfID := range wfIDs {
		require.Eventually(t, func() bool {
			_, run := f.api(t, "GET", "/api/runs/"+wfID, nil)
			st, _ := run["state"].(map[string]any)
			return st != nil && st["paused"] != true
		}, 10*time.Second, 100*time.Millisecond)
	}
	_, j := f.api(t, "GET", "/api/journeys/"+id, nil)
	require.Equal(t, "active", j["status"])
}
