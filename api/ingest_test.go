package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/ingest/kafkaserver"
	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

type ingestFixture struct {
	url      string
	writeKey string
	secret   string
	ws       string
	client   sarama.Client
	brokers  []string
	store    *schema.Store
	metrics  *prometheus.Registry
}

func newIngestFixture(t *testing.T) *ingestFixture {
	t.Helper()
	ctx := context.Background()
	b, err := kafkaserver.Start(kafkaserver.Options{Topics: []string{"herald.events", "herald.events.dlq"}, Partitions: 2})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	p, err := ingest.NewProducer(b.Addrs(), "herald.events")
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	c, err := ingest.NewClient(b.Addrs())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	st := schematest.Store(t)
	ws, err := st.CreateWorkspace(ctx, "W")
	require.NoError(t, err)
	wk, err := st.CreateAPIKey(ctx, ws.ID, schema.KeyWrite, "", "t")
	require.NoError(t, err)
	sk, err := st.CreateAPIKey(ctx, ws.ID, schema.KeySecret, "", "t")
	require.NoError(t, err)
	dlq, err := ingest.NewDeadLetterProducer(b.Addrs(), "herald.events.dlq")
	require.NoError(t, err)
	t.Cleanup(func() { dlq.Close() })
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(api.New(api.Deps{Store: st, Producer: p, DeadLetters: dlq, Metrics: reg}))
	t.Cleanup(srv.Close)
	return &ingestFixture{url: srv.URL, writeKey: wk.Key, secret: sk.Key, ws: ws.ID, client: c, brokers: b.Addrs(), store: st, metrics: reg}
}

// messages reads everything on the topic.
func (f *ingestFixture) messages(t *testing.T) []ingest.Event {
	t.Helper()
	var out []ingest.Event
	for _, m := range f.records(t, "herald.events") {
		var ev ingest.Event
		require.NoError(t, json.Unmarshal(m.Value, &ev))
		require.Equal(t, ev.Key(), string(m.Key))
		out = append(out, ev)
	}
	return out
}

// records reads every record of topic.
func (f *ingestFixture) records(t *testing.T, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	cons, err := sarama.NewConsumerFromClient(f.client)
	require.NoError(t, err)
	defer cons.Close()
	parts, err := f.client.Partitions(topic)
	require.NoError(t, err)
	var out []*sarama.ConsumerMessage
	for _, p := range parts {
		newest, err := f.client.GetOffset(topic, p, sarama.OffsetNewest)
		require.NoError(t, err)
		if newest == 0 {
			continue
		}
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		require.NoError(t, err)
		for i := int64(0); i < newest; i++ {
			select {
			case m := <-pc.Messages():
				out = append(out, m)
			case <-time.After(10 * time.Second):
				t.Fatalf("timed out reading %s", topic)
			}
		}
		pc.Close()
	}
	return out
}

func (f *ingestFixture) post(t *testing.T, path string, body []byte, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", f.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func basic(key string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))}
}

func TestIngestAcceptsSegmentCallsAndRejectsBadInput(t *testing.T) {
	f := newIngestFixture(t)
	wk := basic(f.writeKey)
	big := []byte(`{"userId":"u","event":"E","properties":{"x":"` + strings.Repeat("a", 40<<10) + `"}}`)
	text := map[string]string{"Content-Type": "text/plain"} // sendBeacon: the key in the body
	textGzip := map[string]string{"Content-Type": "text/plain", "Content-Encoding": "gzip"}
	huge := []byte(`{"batch":[` + strings.Repeat(`{"type":"track","userId":"u","event":"E"},`, 20000) + `{"type":"track","userId":"u","event":"E"}]}`)
	bad := []struct {
		name, path, body string
		hdr              map[string]string
		status           int
		field, want      string
	}{
		{"no key", "/v1/track", `{"userId":"u","event":"E"}`, nil, 401, "", "write key"},
		{"unknown key", "/v1/track", `{"userId":"u","event":"E"}`, basic("hw_nope"), 401, "", "unknown or revoked"},
		{"secret key", "/v1/track", `{"userId":"u","event":"E"}`, map[string]string{"Authorization": "Bearer " + f.secret}, 403, "", "write key"},
		{"no ids", "/v1/track", `{"event":"E"}`, wk, 400, "userId", "userId or anonymousId"},
		{"no event name", "/v1/track", `{"userId":"u"}`, wk, 400, "event", "event name"},
		{"wrong type", "/v1/track", `{"userId":true,"event":"E"}`, wk, 400, "userId", "must be a string or a number"},
		{"bad sentAt", "/v1/track", `{"userId":"u","event":"E","sentAt":"nope"}`, wk, 400, "sentAt", "RFC 3339"},
		{"numeric sentAt", "/v1/track", `{"userId":"u","event":"E","sentAt":12345}`, wk, 400, "sentAt", "RFC 3339 strings"},
		{"timestamp not a string in a batch", "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"E","timestamp":true}]}`, wk, 400, "batch[0].timestamp", "RFC 3339 strings"},
		{"batch sentAt not a string", "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"E"}],"sentAt":5}`, wk, 400, "sentAt", "RFC 3339 strings"},
		{"batch sentAt not a string beside an ignored timestamp", "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"E"}],"timestamp":17,"sentAt":17}`, wk, 400, "sentAt", "RFC 3339 strings"},
		{"time key in another case, named as written", "/v1/track", `{"userId":"u","event":"E","deviceTime":17,"SentAt":5}`, wk, 400, "SentAt", "RFC 3339 strings"},
		{"escaped time that stays bad once read", "/v1/track", `{"userId":"u","event":"E","sentAt":"2024\u002B05"}`, wk, 400, "sentAt", "RFC 3339"},
		{"escaped bad time with a '<' named by its own key", "/v1/track", `{"userId":"u","event":"E","sentAt":"2024-05-01T10:00:00\u002B02:00<"}`, wk, 400, "sentAt", "+02:00<"},
		{"escaped bad time named by its own key", "/v1/track", `{"userId":"u","event":"E","sentAt":"2024\/05\/01"}`, wk, 400, "sentAt", "RFC 3339"},
		{"bad time before data after the event", "/v1/track", `{"userId":"u","event":"E","sentAt":5} {}`, wk, 400, "sentAt", "RFC 3339 strings"},
		{"bad time text before data after the event", "/v1/track", `{"userId":"u","event":"E","receivedAt":"nope"} {"receivedAt":"x"}`, wk, 400, "receivedAt", "RFC 3339"},
		{"bad timestamp in a batch", "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"E","receivedAt":"later"}]}`, wk, 400, "batch[0].receivedAt", "RFC 3339"},
		{"not an object", "/v1/track", `[1,2]`, wk, 400, "body", "must be a JSON object"},
		{"NUL in a property", "/v1/track", `{"userId":"u","event":"E","properties":{"a":"x\u0000y"}}`, wk, 400, "properties", "NUL"},
		{"NUL in the event name", "/v1/track", `{"userId":"u","event":"E\u0000"}`, wk, 400, "event", "NUL"},
		{"NUL in a trait", "/v1/identify", `{"userId":"u","traits":{"a\u0000":1}}`, wk, 400, "traits", "NUL"},
		{"lone surrogate", "/v1/track", `{"userId":"u","event":"E","context":{"a":"\ud800"}}`, wk, 400, "context", "surrogate"},
		{"unsupported encoding", "/v1/track", `{"userId":"u","event":"E"}`, map[string]string{"Authorization": wk["Authorization"], "Content-Encoding": "br"}, 400, "body", "not supported"},
		{"properties not object", "/v1/track", `{"userId":"u","event":"E","properties":[1]}`, wk, 400, "properties", "JSON object"},
		{"bad timestamp", "/v1/track", `{"userId":"u","event":"E","timestamp":"yesterday"}`, wk, 400, "timestamp", "RFC 3339"},
		{"type mismatch", "/v1/track", `{"type":"identify","userId":"u"}`, wk, 400, "type", "does not match"},
		{"alias without previousId", "/v1/alias", `{"userId":"u"}`, wk, 400, "previousId", "previousId"},
		{"bad json", "/v1/identify", `{"userId":`, wk, 400, "body", "not valid JSON"},
		{"event too big", "/v1/track", string(big), wk, 400, "body", "limit"},
		{"batch too big", "/v1/batch", string(huge), wk, 400, "body", "larger than"},
		{"empty batch", "/v1/batch", `{"batch":[]}`, wk, 400, "batch", "non-empty"},
		{"bad element in a batch of bad elements", "/v1/batch", `{"batch":[{"type":"track","event":"E"},{"type":"track","userId":"u"}]}`, wk, 400, "batch[0].userId", "batch[0]"},
		{"bytes that are not UTF-8 in an id", "/v1/track", "{\"userId\":\"q\xffz\",\"event\":\"E\"}", wk, 400, "userId", "not valid UTF-8"},
		{"bytes that are not UTF-8 in a batch element", "/v1/batch", "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\xc3\"}]}", wk, 400, "batch[0].event", "not valid UTF-8"},
		{"timestamp past year 9999 after skew correction", "/v1/track", `{"userId":"u","event":"E","timestamp":"9999-12-31T23:59:59Z","sentAt":"2000-01-01T00:00:00Z"}`, wk, 400, "timestamp", "years 1 to 9999"},
		{"two events in one body", "/v1/track", `{"userId":"a","event":"E"}{"userId":"b","event":"F"}`, wk, 400, "body", "after the event's JSON object"},
		{"data after the event", "/v1/identify", `{"userId":"u"} trailing`, wk, 400, "body", "after the event's JSON object"},
		{"userId of white space", "/v1/track", `{"userId":"   ","event":"E"}`, wk, 400, "userId", "userId or anonymousId"},
		{"anonymousId of white space beside a userId", "/v1/track", `{"userId":"u","anonymousId":" ","event":"E"}`, wk, 400, "anonymousId", "only white space"},
		{"messageId of white space", "/v1/track", `{"userId":"u","messageId":"\t","event":"E"}`, wk, 400, "messageId", "only white space"},
		{"userId of white space in a batch", "/v1/batch", `{"batch":[{"type":"identify","userId":"\n"}]}`, wk, 400, "batch[0].userId", "userId or anonymousId"},
		{"bad gzip", "/v1/track", `not gzip`, map[string]string{"Authorization": wk["Authorization"], "Content-Encoding": "gzip"}, 400, "body", "gzip"},
		// Free text fields have caps as the ids do (200 characters, however
		// many bytes each), also where a '<' was once written as six bytes.
		{"page name too long", "/v1/page", `{"userId":"u","name":"` + strings.Repeat("<", 30000) + `"}`, wk, 400, "name", "name is longer than 200 characters"},
		{"screen name too long", "/v1/screen", `{"userId":"u","name":"` + strings.Repeat("é", 201) + `"}`, wk, 400, "name", "longer than 200"},
		{"category too long", "/v1/page", `{"userId":"u","name":"Docs","category":"` + strings.Repeat("&", 201) + `"}`, wk, 400, "category", "category is longer than 200 characters"},
		{"groupId too long", "/v1/group", `{"userId":"u","groupId":"` + strings.Repeat("g", 201) + `"}`, wk, 400, "groupId", "groupId is longer than 200 characters"},
		{"name too long in a batch", "/v1/batch", `{"batch":[{"type":"screen","userId":"u","name":"` + strings.Repeat("\u2028", 201) + `"}]}`, wk, 400, "batch[0].name", "batch[0]: name is longer"},
		{"lone surrogate in an id", "/v1/track", `{"userId":"u-\ud83d","event":"E"}`, wk, 400, "userId", "lone UTF-16 surrogate (\\ud83d)"},
		{"lone surrogate in a batch's message id", "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"E","messageId":"m-\udc00"}]}`, wk, 400, "batch[0].messageId", "batch[0]: messageId contains a lone UTF-16 surrogate"},
		{"timestamp in year 10000 in UTC", "/v1/track", `{"userId":"u","event":"E","timestamp":"9999-12-31T23:00:00-05:00"}`, wk, 400, "timestamp", "years 1 to 9999"},
		{"timestamp in year 0 in UTC", "/v1/track", `{"userId":"u","event":"E","timestamp":"0001-01-01T00:30:00+01:00"}`, wk, 400, "timestamp", "years 1 to 9999"},
		{"number past float64's range", "/v1/track", `{"userId":"u","event":"E","properties":{"total":1e400}}`, wk, 400, "properties", "holds the number 1e400, past the range"},
		// Batch-level mistakes name the batch's own fields.
		{"batch not an array", "/v1/batch", `{"batch":{"type":"track","userId":"u","event":"E"}}`, wk, 400, "batch", `"batch" must be a non-empty array of events, not object`},
		{"batch body an array", "/v1/batch", `[{"type":"track","userId":"u","event":"E"}]`, wk, 400, "body", `JSON object with a "batch" array, not array`},
		{"batch context not an object", "/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"E"}],"context":"web"}`, wk, 400, "context", "the batch's context must be a JSON object"},
		// A key in a body that cannot be read: the body is at fault (400),
		// not the credentials (401).
		{"key in a body that is not JSON", "/v1/t", `{"writeKey":"` + f.writeKey + `","userId":"u","event":"x",}`, text, 400, "body", "not valid JSON"},
		{"key in a gzip body too large unpacked", "/v1/b", string(gzipped(`{"writeKey":"` + f.writeKey + `","batch":[{"type":"track","userId":"u","event":"x","properties":{"p":"` + strings.Repeat("x", 600<<10) + `"}}]}`)), textGzip, 400, "body", "larger than"},
		{"key in a body that is not gzip", "/v1/b", `{"writeKey":"` + f.writeKey + `"}`, textGzip, 400, "body", "not valid gzip"},
		{"groupId too long in a batch", "/v1/batch", `{"batch":[{"type":"group","userId":"u","groupId":"` + strings.Repeat("g", 201) + `"}]}`, wk, 400, "batch[0].groupId", "batch[0]: groupId is longer"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.post(t, tc.path, []byte(tc.body), tc.hdr)
			require.Equal(t, tc.status, status, "%v", body)
			require.Contains(t, body["error"], tc.want)
			if tc.field != "" {
				require.Equal(t, tc.field, body["field"])
			}
		})
	}
	require.Empty(t, f.messages(t), "rejected requests store nothing")

	// Accepted: Basic and Bearer, every call type, gzip, batch.
	ok := []struct{ path, body string }{
		{"/v1/identify", `{"userId":"u1","traits":{"email":"a@b.c"}}`},
		{"/v1/track", `{"anonymousId":"a1","event":"Viewed","timestamp":"2026-01-01T00:00:00Z","sentAt":"2026-01-01T00:00:10Z"}`},
		{"/v1/page", `{"userId":"u1","name":"Home"}`},
		// At the caps: 200 characters.
		{"/v1/page", `{"userId":"u1","name":"` + strings.Repeat("é", 200) + `","category":"` + strings.Repeat("<", 200) + `"}`},
		{"/v1/screen", `{"userId":"u1","name":"Home"}`},
		{"/v1/group", `{"userId":"u1","groupId":"g1"}`},
		{"/v1/group", `{"userId":"u1","groupId":"` + strings.Repeat("g", 200) + `"}`},
		{"/v1/alias", `{"userId":"u1","previousId":"a1"}`},
		{"/v1/batch", `{"batch":[{"type":"track","userId":"u2","event":"A","messageId":"fixed-1"},{"type":"identify","userId":"u2"}]}`},
		// Times with JSON escapes, as .NET writes '+': read as their text.
		{"/v1/track", `{"userId":"u5","event":"Escaped","timestamp":"2026-01-01T02:00:00\u002B02:00"}`},
		{"/v1/batch", `{"batch":[{"type":"track","userId":"u6","event":"Batch escaped","timestamp":"2026-01-01T00:00:00Z"}],"sentAt":"2026-01-01T02:00:10\u002B02:00"}`},
		// White space after the event is not data.
		{"/v1/track", "{\"userId\":\"u7\",\"event\":\"Newline\"}\r\n\t "},
	}
	for _, c := range ok {
		status, body := f.post(t, c.path, []byte(c.body), wk)
		require.Equal(t, 200, status, "%s: %v", c.path, body)
		require.Equal(t, true, body["success"])
	}
	status, _ := f.post(t, "/v1/track", []byte(`{"userId":"u3","event":"Bearer"}`), map[string]string{"Authorization": "Bearer " + f.writeKey})
	require.Equal(t, 200, status)
	// The scheme is case-insensitive.
	status, _ = f.post(t, "/v1/track", []byte(`{"userId":"u3","event":"bearer"}`), map[string]string{"Authorization": "bearer " + f.writeKey})
	require.Equal(t, 200, status)
	// Segment's other batch paths: analytics-java posts to /v1/import/,
	// analytics-android 4.x to /v1/import (gzip, Basic auth).
	for _, path := range []string{"/v1/import/", "/v1/import", "/v1/batch/"} {
		body := gzipped(`{"batch":[{"type":"track","userId":"u8","event":"Via ` + path + `"}],"sentAt":"2026-01-01T00:00:01Z"}`)
		status, out := f.post(t, path, body, map[string]string{"Authorization": wk["Authorization"], "Content-Encoding": "gzip"})
		require.Equal(t, 200, status, "%s: %v", path, out)
	}
	// A gzip body with the key inside (a browser's text/plain post).
	status, out := f.post(t, "/v1/b", gzipped(`{"writeKey":"`+f.writeKey+`","batch":[{"type":"track","userId":"u9","event":"Key inside"}]}`), textGzip)
	require.Equal(t, 200, status, "%v", out)
	status, _ = f.post(t, "/v1/track", gzipped(`{"userId":"u4","event":"Zipped"}`), map[string]string{"Authorization": wk["Authorization"], "Content-Encoding": "gzip"})
	require.Equal(t, 200, status)

	msgs := f.messages(t)
	require.Len(t, msgs, 20)
	byName := map[string]ingest.Event{}
	for _, m := range msgs {
		require.Equal(t, f.ws, m.WorkspaceID)
		require.NotEmpty(t, m.MessageID)
		require.NotNil(t, m.Timestamp)
		require.Empty(t, m.WriteKey)
		byName[m.DisplayName()] = m
	}
	require.Contains(t, byName, "Zipped")
	require.Contains(t, byName, "Bearer")
	require.Contains(t, byName, "bearer")
	require.Contains(t, byName, "Via /v1/import/")
	require.Contains(t, byName, "Via /v1/import")
	require.Contains(t, byName, "Via /v1/batch/")
	require.Contains(t, byName, "Key inside")
	require.Contains(t, byName, "Newline")
	require.Equal(t, "fixed-1", byName["A"].MessageID)
	require.True(t, byName["Escaped"].Timestamp.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), "%v", byName["Escaped"].Timestamp)
	batchEscaped := byName["Batch escaped"] // its batch's escaped sentAt read: skew corrected by 10 s
	require.WithinDuration(t, batchEscaped.ReceivedAt.Add(-10*time.Second), *batchEscaped.Timestamp, time.Second)
	// Clock skew: the sender's clock ran 10 s ahead of its timestamp; the
	// event time is shifted by (receivedAt − sentAt).
	viewed := byName["Viewed"]
	require.WithinDuration(t, viewed.ReceivedAt.Add(-10*time.Second), *viewed.Timestamp, time.Second)
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.Bytes()
}

func TestIngestCORSPreflight(t *testing.T) {
	f := newIngestFixture(t)
	req, _ := http.NewRequest("OPTIONS", f.url+"/v1/track", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 204, resp.StatusCode)
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
}

// A batch whose own sentAt is repaired (written with JSON escapes) keeps
// its events as they were sent: the size limit measures the same bytes,
// not '&' re-escaped as \u0026.
func TestRepairedBatchKeepsItsEventsAsSent(t *testing.T) {
	f := newIngestFixture(t)
	wk := basic(f.writeKey)
	props := `{"links":"` + strings.Repeat("a&b", 2000) + `","pad":"` + strings.Repeat("x", ingest.MaxEventBytes-6200-200) + `"}`
	body := `{"batch":[{"type":"track","userId":"u","event":"Links","properties":` + props + `}],"sentAt":"2026-01-01T02:00:10\u002B02:00"}`
	status, resp := f.post(t, "/v1/batch", []byte(body), wk)
	require.Equal(t, 200, status, "%.200v", resp)
	require.Len(t, f.messages(t), 1)
}
