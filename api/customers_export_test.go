package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/schema"
)

// liveHeapMeter discards what it is written and, every `every` bytes,
// collects garbage and notes the process's live heap (the server handling
// the request included) while the document goes through.
type liveHeapMeter struct {
	every, written, next int64
	samples              []uint64
}

func (m *liveHeapMeter) Write(p []byte) (int, error) {
	m.written += int64(len(p))
	if m.written >= m.next {
		m.next = m.written + m.every
		m.samples = append(m.samples, liveHeap())
	}
	return len(p), nil
}

// median is the middle sample: what the heap held through most of the
// transfer, whatever other goroutines of the test process did for a moment.
func (m *liveHeapMeter) median() uint64 {
	s := slices.Clone(m.samples)
	slices.Sort(s)
	return s[len(s)/2]
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // what finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The export is streamed as it is read: the memory it holds does not grow
// with the customer's events. (Collected and encoded whole, a customer with
// 200,000 events — ~95 MB of JSON — took ~700 MB, and a few viewers could
// exhaust the process.) A ~22 MB document goes through while the live heap
// holds ~2 MB more; encoded whole, ~2.5 times the document more. The bound
// checked, half the document, leaves room for the test process's other
// goroutines.
func TestExportStreamsWithBoundedMemory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := seedBigCustomer(t, f)
	before := liveHeap()
	resp := getExport(t, f)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	m := &liveHeapMeter{every: 1 << 20}
	_, err := io.Copy(m, resp.Body)
	require.NoError(t, err)
	require.Greater(t, m.written, int64(bigEvents*400), "the whole document came")
	after := liveHeap()
	growth := int64(m.median()) - int64(max(before, after))
	t.Logf("document %.1f MB, live heap %.1f MB before, %.1f MB (median) while it went through, %.1f MB after",
		float64(m.written)/1e6, float64(before)/1e6, float64(m.median())/1e6, float64(after)/1e6)
	require.Less(t, growth, m.written/2, "the live heap grew with the document")

	audit, err := f.store.ListAudit(ctx, f.ws.ID, "customer", ada)
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.JSONEq(t, `{"events": 40001, "runs": 0, "deliveries": 0}`, string(audit[0].Detail), "counted as written")
}

// An export its client stops reading half way is cut short, and audited as
// incomplete with what was written: part of the data left.
func TestExportCutShortIsAuditedAsIncomplete(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := seedBigCustomer(t, f)
	resp := getExport(t, f)
	require.Equal(t, 200, resp.StatusCode)
	_, err := io.CopyN(io.Discard, resp.Body, 1<<20)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close()) // the client goes away
	var detail map[string]any
	require.Eventually(t, func() bool {
		audit, err := f.store.ListAudit(ctx, f.ws.ID, "customer", ada)
		require.NoError(t, err)
		if len(audit) == 0 {
			return false
		}
		require.NoError(t, json.Unmarshal(audit[0].Detail, &detail))
		return true
	}, time.Minute, 20*time.Millisecond)
	require.Equal(t, true, detail["incomplete"])
	require.Less(t, detail["events"], float64(bigEvents), "the events written before the client left")
}

const bigEvents = 40_000

// seedBigCustomer gives the fixture's workspace a customer u-ada with
// bigEvents events of ~500 bytes of JSON each, and returns their id.
func seedBigCustomer(t *testing.T, f *fixture) string {
	t.Helper()
	ada := seedCustomers(t, f.store, f.ws.ID, schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-ada",
		Traits: map[string]any{"email": "ada@example.com"}})["u-ada"]
	_, err := f.store.Pool().Exec(context.Background(), `
		INSERT INTO events (workspace_id, message_id, customer_id, type, name, properties, context, occurred_at)
		SELECT $1, 'big-' || i, $2, 'track', 'Viewed Page',
			jsonb_build_object('url', 'https://example.com/pages/' || i, 'title', repeat('t', 300)), '{"ip":"192.0.2.1"}',
			now() - i * interval '1 second'
		FROM generate_series(1, $3::int) AS i`, f.ws.ID, ada, bigEvents)
	require.NoError(t, err)
	return ada
}

func getExport(t *testing.T, f *fixture) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+"/api/customers/u-ada/export", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.secretKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

// exportRequests counts the export requests the server has finished, by
// the status it recorded.
func exportRequests(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "herald_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "/api/customers/:id/export" {
				out[labels["status"]] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// At most four exports stream at once: a fifth waits until one of the four
// ends, then streams; a client that goes away while it waits is answered
// nothing, and no export of it is audited. (Exports hold a database
// connection each while their clients read.)
func TestExportsBeyondFourWaitForASlot(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ada := seedCustomers(t, f.store, f.ws.ID, schema.EventInput{Type: "identify", Name: "Identify", UserID: "u-ada",
		Traits: map[string]any{"email": "ada@example.com"}})["u-ada"]
	reg := prometheus.NewRegistry()
	s := api.New(api.Deps{Store: f.store, Metrics: reg})
	waiting, held := make(chan struct{}, 8), make(chan struct{}, 8)
	release := make(chan struct{}) // a send lets one held export stream; the close all
	s.SetExportHooks(func() { waiting <- struct{}{} }, func() { held <- struct{}{}; <-release })
	srv := httptest.NewServer(s)
	defer srv.Close()
	defer close(release)

	type result struct {
		status int
		body   string
		err    error
	}
	export := func(ctx context.Context) <-chan result {
		done := make(chan result, 1)
		go func() {
			req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/customers/u-ada/export", nil)
			if err != nil {
				done <- result{err: err}
				return
			}
			req.Header.Set("Authorization", "Bearer "+f.secretKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			done <- result{resp.StatusCode, string(b), err}
		}()
		return done
	}
	await := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal(what)
		}
	}

	var first []<-chan result
	for range 4 {
		first = append(first, export(ctx))
	}
	for range 4 {
		await(held, "four exports stream at once")
	}
	fifth := export(ctx)
	await(waiting, "the fifth export waits for a slot")

	// A sixth whose client goes away while it waits.
	gone, leave := context.WithCancel(ctx)
	defer leave()
	sixth := export(gone)
	await(waiting, "the sixth export waits for a slot")
	leave()
	r := <-sixth
	require.ErrorIs(t, r.err, context.Canceled)
	require.Eventually(t, func() bool { return exportRequests(t, reg)["499"] == 1 }, 10*time.Second, 10*time.Millisecond,
		"the sixth is recorded as a client gone (499)")
	select {
	case <-held:
		t.Fatal("an export streams while four others hold every slot")
	default:
	}

	// One of the four ends; the fifth takes its slot.
	release <- struct{}{}
	var ended int
	select {
	case r = <-first[0]:
	case r = <-first[1]:
		ended = 1
	case r = <-first[2]:
		ended = 2
	case r = <-first[3]:
		ended = 3
	case <-time.After(10 * time.Second):
		t.Fatal("the export let go did not end")
	}
	require.NoError(t, r.err)
	require.Equal(t, 200, r.status, r.body)
	await(held, "the fifth export streams once one of the four ended")
	for range 4 {
		release <- struct{}{}
	}
	for i, done := range append(first, fifth) {
		if i == ended {
			continue
		}
		r := <-done
		require.NoError(t, r.err)
		require.Equal(t, 200, r.status, r.body)
		require.Contains(t, r.body, ada)
	}
	require.Equal(t, map[string]float64{"200": 5, "499": 1}, exportRequests(t, reg))
	audit, err := f.store.ListAudit(ctx, f.ws.ID, "customer", ada)
	require.NoError(t, err)
	require.Len(t, audit, 5, "the five exports streamed are audited, the sixth is not")
}
