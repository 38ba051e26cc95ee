package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	analytics "gopkg.in/segmentio/analytics-go.v3"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest"
)

// rejectedLetters reads the letters on the dead-letter topic; there must
// be want.
func (f *ingestFixture) rejectedLetters(t *testing.T, want int) []ingest.RejectedEvent {
	t.Helper()
	var out []ingest.RejectedEvent
	for _, m := range f.records(t, "herald.events.dlq") {
		var l ingest.RejectedEvent
		require.NoError(t, json.Unmarshal(m.Value, &l))
		require.Equal(t, l.Key, string(m.Key))
		out = append(out, l)
	}
	require.Len(t, out, want, "letters on the dead-letter topic")
	return out
}

// segmentCallback records the failures a Segment library reports.
type segmentCallback struct {
	mu     sync.Mutex
	failed []error
}

func (c *segmentCallback) Success(analytics.Message) {}
func (c *segmentCallback) Failure(_ analytics.Message, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = append(c.failed, err)
}

// A Segment library batches unrelated calls into one request and drops
// the whole request when it is answered 4xx (analytics-node, -python and
// -java do not retry a 400; analytics-go retries, then drops). One bad
// event must not lose the valid events of the same flush: they are
// stored, and the bad one is dead-lettered, as Segment answers such a
// batch 200 and refuses only the bad event.
func TestSegmentLibraryBatchKeepsItsValidEventsBesideABadOne(t *testing.T) {
	f := newIngestFixture(t)
	cb := &segmentCallback{}
	client, err := analytics.NewWithConfig(f.writeKey, analytics.Config{
		Endpoint:   f.url,
		BatchSize:  10,
		Interval:   time.Hour, // flushed by Close: one batch
		RetryAfter: func(int) time.Duration { return time.Millisecond },
		Callback:   cb,
	})
	require.NoError(t, err)
	require.NoError(t, client.Enqueue(analytics.Track{UserId: "good-1", Event: "Order Completed", MessageId: "m-good-1"}))
	require.NoError(t, client.Enqueue(analytics.Track{UserId: "good-2", Event: "Signed Up", MessageId: "m-good-2"}))
	// Another code path: an event name of 201 characters.
	require.NoError(t, client.Enqueue(analytics.Track{UserId: "other", Event: strings.Repeat("x", 201), MessageId: "m-bad"}))
	require.NoError(t, client.Close())

	got := map[string]bool{}
	for _, ev := range f.messages(t) {
		got[ev.MessageID] = true
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	require.Equal(t, map[string]bool{"m-good-1": true, "m-good-2": true}, got,
		"the valid events of the batch are stored (library reported %d failures: %v)", len(cb.failed), cb.failed)
	require.Empty(t, cb.failed, "the batch was answered 200")
	letters := f.rejectedLetters(t, 1)
	require.Equal(t, "batch[2].event", letters[0].Field)
	require.Contains(t, string(letters[0].Event), `"m-bad"`, "the refused event is kept as sent")
}

// The same through analytics.js's wire format (/v1/b, the key in the
// body): a page title cut in the middle of an emoji ("\ud83d") refuses
// that event only, and analytics.js, which does not retry a 400, keeps
// the rest of its queue.
func TestBrowserBatchWithALoneSurrogateInOneEventKeepsTheOthers(t *testing.T) {
	f := newIngestFixture(t)
	body := `{"writeKey":"` + f.writeKey + `","sentAt":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","batch":[
		{"type":"track","anonymousId":"anon-b","event":"Added To Cart","messageId":"m-b-1"},
		{"type":"page","anonymousId":"anon-b","name":"Deal","properties":{"title":"Great deal \ud83d"},"messageId":"m-b-2"}]}`
	status, out := f.post(t, "/v1/b", []byte(body), map[string]string{"Content-Type": "text/plain"})
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, []any{map[string]any{"index": 1.0, "field": "batch[1].properties",
		"error": `batch[1]: properties contains a lone UTF-16 surrogate (\ud83d), which Herald cannot store`}}, out["rejected"])
	var ids []string
	for _, ev := range f.messages(t) {
		ids = append(ids, ev.MessageID)
	}
	require.Equal(t, []string{"m-b-1"}, ids, "the valid event of the batch is stored")
	letters := f.rejectedLetters(t, 1)
	require.Equal(t, "/v1/b", letters[0].Path)
	require.Equal(t, 1, letters[0].Index)
}

// A batch's refused events are named in its 200 answer, each with the
// field and error a 400 would give, written to the dead-letter topic with
// the request they came in, and counted; a batch of only refused events
// is refused as a whole, with its first event's error, and nothing is
// stored or dead-lettered.
func TestBatchRejectsOnlyItsBadEvents(t *testing.T) {
	f := newIngestFixture(t)
	wk := basic(f.writeKey)
	body := `{"batch":[
		{"type":"track","userId":"u1","event":"A","messageId":"ok-1"},
		{"type":"track","userId":true,"event":"B","messageId":"bad-1"},
		5,
		{"type":"track","userId":"u1","event":"C","messageId":"ok-2"},
		{"type":"track","event":"D","messageId":"bad-2"}]}`
	status, out := f.post(t, "/v1/batch", []byte(body), wk)
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, true, out["success"])
	require.Equal(t, []any{
		map[string]any{"index": 1.0, "field": "batch[1].userId", "error": `batch[1]: field "userId" must be a string or a number`},
		map[string]any{"index": 2.0, "field": "batch[2]", "error": "batch[2]: the event must be a JSON object, not number"},
		map[string]any{"index": 4.0, "field": "batch[4].userId", "error": "batch[4]: one of userId or anonymousId is required"},
	}, out["rejected"])
	var ids []string
	for _, ev := range f.messages(t) {
		ids = append(ids, ev.MessageID)
	}
	require.ElementsMatch(t, []string{"ok-1", "ok-2"}, ids)

	letters := f.rejectedLetters(t, 3)
	byIndex := map[int]ingest.RejectedEvent{}
	for _, l := range letters {
		require.Equal(t, "api", l.Source)
		require.Equal(t, "/v1/batch", l.Path)
		require.Equal(t, f.ws, l.WorkspaceID)
		require.NotEmpty(t, l.RequestID)
		require.False(t, l.FailedAt.IsZero())
		byIndex[l.Index] = l
	}
	require.Equal(t, "batch[1].userId", byIndex[1].Field)
	require.Equal(t, `batch[1]: field "userId" must be a string or a number`, byIndex[1].Reason)
	require.JSONEq(t, `{"type":"track","userId":true,"event":"B","messageId":"bad-1"}`, string(byIndex[1].Event))
	require.Equal(t, "5", byIndex[2].Payload)
	require.Equal(t, f.ws+":", byIndex[2].Key)
	require.JSONEq(t, `{"type":"track","event":"D","messageId":"bad-2"}`, byIndex[4].Payload)
	require.Equal(t, 3.0, counter(t, f, "herald_api_rejected_events_total"))

	// Only bad events: refused as today, nothing kept anywhere.
	for _, path := range []string{"/v1/batch", "/v1/import"} {
		status, out = f.post(t, path, []byte(`{"batch":[{"type":"track","userId":"u","event":"`+strings.Repeat("e", 201)+`"},{"type":"nope","userId":"u"}]}`), wk)
		require.Equal(t, 400, status, "%v", out)
		require.Equal(t, "batch[0].event", out["field"])
		require.Equal(t, "batch[0]: event name is longer than 200 characters", out["error"])
	}
	require.Len(t, f.messages(t), 2)
	f.rejectedLetters(t, 3)
	require.Equal(t, 3.0, counter(t, f, "herald_api_rejected_events_total"))
}

// counter finds the fixture's metric of that name.
func counter(t *testing.T, f *ingestFixture, name string) float64 {
	t.Helper()
	mfs, err := f.metrics.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A batch whose refused events cannot be dead-lettered is answered 503,
// as a broker failure is: the client sends it again (message ids dedupe
// the events), and nothing is lost behind a 200.
func TestBatchAnswers503WhenItsRefusedEventsCannotBeDeadLettered(t *testing.T) {
	f := newIngestFixture(t)
	dlq, err := ingest.NewDeadLetterProducer(f.brokers, "no.such.topic")
	require.NoError(t, err)
	t.Cleanup(func() { dlq.Close() })
	p, err := ingest.NewProducer(f.brokers, "herald.events")
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	srv := httptest.NewServer(api.New(api.Deps{Store: f.store, Producer: p, DeadLetters: dlq}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	status, out := f.post(t, "/v1/batch", []byte(`{"batch":[{"type":"track","userId":"u","event":"A","messageId":"m-1"},{"type":"track","userId":"u"}]}`), basic(f.writeKey))
	require.Equal(t, 503, status, "%v", out)
	require.Contains(t, out["error"], "retry")
	require.Empty(t, f.messages(t), "answered 503: the client sends the whole batch again")
}

// A refused event larger than the dead-letter topic takes (its
// max.message.bytes, a managed cluster's setting) is dead-lettered cut
// short, marked truncated, rather than failing the batch.
func TestRefusedEventLargerThanTheDeadLetterTopicTakesIsCut(t *testing.T) {
	f := newIngestFixture(t)
	admin, err := sarama.NewClusterAdminFromClient(f.client)
	require.NoError(t, err)
	limit := "4000"
	require.NoError(t, admin.AlterConfig(sarama.TopicResource, "herald.events.dlq", map[string]*string{"max.message.bytes": &limit}, false))
	big := `{"type":"track","event":"No id","properties":{"x":"` + strings.Repeat("a", 20000) + `"}}`
	status, out := f.post(t, "/v1/batch", []byte(`{"batch":[{"type":"track","userId":"u","event":"A"},`+big+`]}`), basic(f.writeKey))
	require.Equal(t, 200, status, "%v", out)
	require.Len(t, f.messages(t), 1)
	letters := f.rejectedLetters(t, 1)
	require.True(t, letters[0].Truncated)
	require.Equal(t, len(big), letters[0].PayloadBytes)
	require.True(t, strings.HasPrefix(big, letters[0].Payload))
	require.Less(t, len(letters[0].Payload), 4000)
}

// Segment's clock-skew correction with the device's time:
// timestamp = receivedAt − (sentAt − originalTimestamp). Senders that send
// the device time only in originalTimestamp (RudderStack's SDKs) get their
// events at the time they happened; a replay of Segment data, whose
// timestamp is that result already, is not corrected twice.
func TestOriginalTimestampIsTheDeviceTime(t *testing.T) {
	f := newIngestFixture(t)
	wk := basic(f.writeKey)
	now := time.Now().UTC()
	orig := now.Add(-72 * time.Hour) // queued offline for three days
	status, out := f.post(t, "/v1/track", fmt.Appendf(nil, `{"userId":"rs-1","event":"Offline","messageId":"m-orig-1","originalTimestamp":%q,"sentAt":%q}`,
		orig.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano)), wk)
	require.Equal(t, 200, status, "%v", out)
	// A Segment archive replayed: the device clock was 2 h ahead; Segment
	// corrected timestamp to 2024-05-01T00:00:00Z.
	status, out = f.post(t, "/v1/track", []byte(`{"userId":"rs-2","event":"Replayed","messageId":"m-orig-2",
		"timestamp":"2024-05-01T00:00:00Z","originalTimestamp":"2024-05-01T02:00:00Z",
		"sentAt":"2024-05-01T02:00:05Z","receivedAt":"2024-05-01T00:00:05Z"}`), wk)
	require.Equal(t, 200, status, "%v", out)
	// In a batch, with the batch's sentAt: the device ran 1 h ahead.
	status, out = f.post(t, "/v1/batch", fmt.Appendf(nil, `{"sentAt":%q,"batch":[
		{"type":"track","userId":"rs-3","event":"Batched","messageId":"m-orig-3","originalTimestamp":%q},
		{"type":"track","userId":"rs-3","event":"No sentAt","messageId":"m-orig-4","originalTimestamp":"2024-05-01T00:00:00Z","sentAt":null},
		{"type":"track","userId":"rs-3","event":"Both","messageId":"m-orig-5","originalTimestamp":"2024-05-01T00:00:00Z","timestamp":"2024-06-01T00:00:00Z","sentAt":null}]}`,
		now.Add(time.Hour).Format(time.RFC3339Nano), now.Add(time.Hour-10*time.Minute).Format(time.RFC3339Nano)), wk)
	require.Equal(t, 200, status, "%v", out)
	require.Nil(t, out["rejected"])

	got := map[string]ingest.Event{}
	for _, ev := range f.messages(t) {
		require.NotNil(t, ev.Timestamp)
		require.Nil(t, ev.OriginalTimestamp, "the correction is made once, by the API")
		got[ev.MessageID] = ev
	}
	require.WithinDuration(t, orig, *got["m-orig-1"].Timestamp, time.Minute,
		"the event happened 3 days ago, not at receipt")
	require.Equal(t, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), got["m-orig-2"].Timestamp.UTC(),
		"a timestamp already corrected is not corrected again")
	require.WithinDuration(t, now.Add(-10*time.Minute), *got["m-orig-3"].Timestamp, time.Minute)
	require.Equal(t, time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), got["m-orig-4"].Timestamp.UTC(),
		"without sentAt or timestamp, originalTimestamp is the time")
	require.Equal(t, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), got["m-orig-5"].Timestamp.UTC(),
		"without sentAt, a timestamp wins")

	// A bad originalTimestamp is named like the other times.
	for _, bad := range []string{`"yesterday"`, `12345`} {
		status, out = f.post(t, "/v1/track", []byte(`{"userId":"u","event":"E","originalTimestamp":`+bad+`}`), wk)
		require.Equal(t, 400, status, "%v", out)
		require.Equal(t, "originalTimestamp", out["field"])
		require.Contains(t, out["error"], "RFC 3339")
	}
}

// Segment's HTTP API: a batch's context "will be merged with any context
// inside each of the items in the batch". Libraries put their own context
// (library, device) on the batch and the caller's (ip, page) on each
// event: both are kept.
func TestBatchContextIsMergedWithTheEventContext(t *testing.T) {
	f := newIngestFixture(t)
	body := `{"context":{"library":{"name":"analytics-java","version":"3.5.1"},"device":{"type":"phone"},"ip":"192.0.2.1"},
		"batch":[{"type":"track","userId":"ctx-1","event":"E","messageId":"m-ctx-1","context":{"ip":"203.0.113.7"}}]}`
	status, out := f.post(t, "/v1/batch", []byte(body), basic(f.writeKey))
	require.Equal(t, 200, status, "%v", out)
	msgs := f.messages(t)
	require.Len(t, msgs, 1)
	require.JSONEq(t, `{"ip":"203.0.113.7","library":{"name":"analytics-java","version":"3.5.1"},"device":{"type":"phone"}}`,
		string(msgs[0].Context), "the event's own keys win; the batch's are merged in")
}

// Basic credentials of the bare write key, without the ":" of an empty
// password, name the key too (Segment takes them).
func TestWriteKeyAsBasicCredentialsWithoutAColon(t *testing.T) {
	f := newIngestFixture(t)
	bare := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(f.writeKey))}
	status, out := f.post(t, "/v1/track", []byte(`{"userId":"u","event":"Bare key"}`), bare)
	require.Equal(t, 200, status, "%v", out)
	status, out = f.post(t, "/v1/track", []byte(`{"userId":"u","event":"E"}`),
		map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("hw_nope"))})
	require.Equal(t, 401, status, "%v", out)
	require.Len(t, f.messages(t), 1)
}
