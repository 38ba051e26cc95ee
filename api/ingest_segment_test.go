package api_test

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

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
