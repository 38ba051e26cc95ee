package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
	"github.com/heraldhq/herald/schema"
)

// keepProducer keeps what it was asked to produce.
type keepProducer struct{ msgs []ingest.Message }

func (p *keepProducer) Produce(_ context.Context, msgs ...ingest.Message) error {
	p.msgs = append(p.msgs, msgs...)
	return nil
}

// postBatch runs the /v1/batch handler on body with a write key of
// workspace ws_1; it returns the times just before and after it.
func postBatch(t *testing.T, body string) (int, map[string]any, []ingest.Event, time.Time, time.Time) {
	t.Helper()
	gin.SetMode(gin.ReleaseMode) // as New does
	p := &keepProducer{}
	s := &Server{deps: Deps{Producer: p, DeadLetters: &keepProducer{}}, metrics: newHTTPMetrics(nil)}
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest("POST", "/v1/batch", strings.NewReader(body))
	c.Set(ctxWriteKey, schema.APIKey{WorkspaceID: "ws_1", Kind: schema.KeyWrite})
	before := time.Now()
	s.ingestBatch(c)
	after := time.Now()
	var out map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	var evs []ingest.Event
	for _, m := range p.msgs {
		var ev ingest.Event
		require.NoError(t, json.Unmarshal(m.Value, &ev))
		require.Equal(t, ev.Key(), m.Key)
		evs = append(evs, ev)
	}
	return rec.Code, out, evs, before, after
}

func TestBatchDefaultsApplyWhereTheEventHasNone(t *testing.T) {
	const (
		batchSent = "2026-01-01T00:00:10Z"
		ownSent   = "2026-01-01T00:00:20Z"
		ts        = "2026-01-01T00:00:00Z"
	)
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return &v
	}
	cases := []struct {
		name, batch, event string
		sentAt             *time.Time // want; nil: none
		context            string     // want, compact; "": none
	}{
		{"no defaults", ``, `{"type":"track","userId":"u","event":"E"}`, nil, ""},
		{"own sentAt only", ``, `{"type":"track","userId":"u","event":"E","sentAt":"` + ownSent + `"}`, at(ownSent), ""},
		{"batch sentAt", `"sentAt":"` + batchSent + `"`, `{"type":"track","userId":"u","event":"E"}`, at(batchSent), ""},
		{"own sentAt wins", `"sentAt":"` + batchSent + `"`, `{"type":"track","userId":"u","event":"E","sentAt":"` + ownSent + `"}`, at(ownSent), ""},
		{"own null sentAt wins", `"sentAt":"` + batchSent + `"`, `{"type":"track","userId":"u","event":"E","sentAt":null}`, nil, ""},
		{"batch context", `"context":{"ip": "1.2.3.4"}`, `{"type":"track","userId":"u","event":"E"}`, nil, `{"ip":"1.2.3.4"}`},
		{"own context wins", `"context":{"ip":"1.2.3.4"}`, `{"type":"track","userId":"u","event":"E","context":{"ip":"5.6.7.8"}}`, nil, `{"ip":"5.6.7.8"}`},
		{"own null context takes the batch's", `"context":{"ip":"1.2.3.4"}`, `{"type":"track","userId":"u","event":"E","context":null}`, nil, `{"ip":"1.2.3.4"}`},
		{"contexts merged, own keys win", `"context":{"library":{"name":"analytics-java"},"ip":"1.2.3.4"}`, `{"type":"track","userId":"u","event":"E","context":{"ip":"5.6.7.8"}}`, nil, `{"ip":"5.6.7.8","library":{"name":"analytics-java"}}`},
		{"batch context merged into an empty one", `"context":{"a":1}`, `{"type":"track","userId":"u","event":"E","context":{ }}`, nil, `{"a":1}`},
		{"null batch context", `"context":null`, `{"type":"track","userId":"u","event":"E"}`, nil, ""},
		{"both", `"sentAt":"` + batchSent + `","context":{"a":1}`, `{"type":"track","userId":"u","event":"E","timestamp":"` + ts + `"}`, at(batchSent), `{"a":1}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			event := tc.event
			if !strings.Contains(event, `"timestamp"`) {
				event = strings.Replace(event, `"event":"E"`, `"event":"E","timestamp":"`+ts+`"`, 1)
			}
			body := `{"batch":[` + event + `]`
			if tc.batch != "" {
				body += "," + tc.batch
			}
			status, out, evs, _, _ := postBatch(t, body+"}")
			require.Equal(t, http.StatusOK, status, "%v", out)
			require.Len(t, evs, 1)
			ev := evs[0]
			// The sentAt that applied shows in the corrected timestamp;
			// the message carries no sentAt, so nothing corrects it again.
			require.Nil(t, ev.SentAt)
			want := *at(ts)
			if tc.sentAt != nil {
				want = want.Add(ev.ReceivedAt.Sub(*tc.sentAt))
			}
			require.True(t, want.Equal(*ev.Timestamp), "timestamp %v, want %v", ev.Timestamp, want)
			require.Equal(t, tc.context, string(ev.Context))
		})
	}
}

func TestBatchEventsGetIDsAndTimes(t *testing.T) {
	body := `{"sentAt":"2026-01-01T00:00:10Z","batch":[
		{"type":"track","userId":"u","event":"A"},
		{"type":"track","userId":"u","event":"B","messageId":"fixed"},
		{"type":"track","anonymousId":"a","event":"C","timestamp":"2026-01-01T00:00:00Z"},
		{"type":"identify","userId":"u","receivedAt":"2026-01-02T00:00:00Z"}]}`
	status, out, evs, before, after := postBatch(t, body)
	require.Equal(t, http.StatusOK, status, "%v", out)
	require.Len(t, evs, 4)
	for _, ev := range evs {
		require.Equal(t, "ws_1", ev.WorkspaceID)
		require.NotEmpty(t, ev.MessageID)
		require.NotNil(t, ev.ReceivedAt)
		require.NotNil(t, ev.Timestamp)
	}
	require.NotEqual(t, evs[0].MessageID, evs[2].MessageID, "generated ids differ")
	require.Equal(t, "fixed", evs[1].MessageID)
	// receivedAt is the time of receipt, and the event time when none was sent.
	require.False(t, evs[0].ReceivedAt.Before(before.Add(-time.Millisecond)) || evs[0].ReceivedAt.After(after))
	require.True(t, evs[0].Timestamp.Equal(*evs[0].ReceivedAt))
	// A timestamp is corrected by the skew: receivedAt − the batch's sentAt.
	sent := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(evs[2].ReceivedAt.Sub(sent))
	require.True(t, want.Equal(*evs[2].Timestamp), "timestamp %v, want %v", evs[2].Timestamp, want)
	// A receivedAt the sender gave is kept.
	require.True(t, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).Equal(*evs[3].ReceivedAt))
}

func TestBatchElementErrors(t *testing.T) {
	big := `{"type":"track","userId":"u","event":"E","properties":{"x":"` + strings.Repeat("a", ingest.MaxEventBytes-100) + `"}}`
	// An event that is, with the batch's context merged into its own
	// (`,"library":"L"`, 14 bytes), exactly at the limit, or one byte over.
	atLimit := func(over int) string {
		format := `{"type":"track","userId":"u","event":"E","context":{"ip":"1"},"properties":{"x":"%s"}}`
		pad := ingest.MaxEventBytes - 14 + over - len(fmt.Sprintf(format, ""))
		return `{"context":{"library":"L"},"batch":[` + fmt.Sprintf(format, strings.Repeat("p", pad)) + `]}`
	}
	cases := []struct {
		name, body string
		status     int
		field      string
		msg        string
	}{
		{"at the limit with the batch context merged", atLimit(0), 200, "", ""},
		{"over the limit with the batch context merged", atLimit(1), 400, "batch[0]", fmt.Sprintf("event is %d bytes; the limit is %d", ingest.MaxEventBytes+1, ingest.MaxEventBytes)},
		{"wrong type", `{"batch":[{"type":"track","userId":false,"event":"E"}]}`, 400, "batch[0].userId", `batch[0]: field "userId" must be a string or a number`},
		{"not an object", `{"batch":[5]}`, 400, "batch[0]", `batch[0]: the event must be a JSON object, not number`},
		{"null with defaults", `{"sentAt":"2026-01-01T00:00:10Z","batch":[null]}`, 400, "batch[0].type", "batch[0]: type"},
		{"bad sentAt", `{"batch":[{"type":"track","userId":"u","event":"E","sentAt":"soon"}]}`, 400, "batch[0].sentAt", "RFC 3339"},
		{"bad batch sentAt", `{"batch":[{"type":"track","userId":"u","event":"E"}],"sentAt":"nope"}`, 400, "sentAt", "RFC 3339"},
		{"batch context not an object", `{"context":[1],"batch":[{"type":"track","userId":"u","event":"E"}]}`, 400, "context", "the batch's context must be a JSON object"},
		{"too big", `{"batch":[` + strings.Replace(big, `"x"`, `"y":"`+strings.Repeat("c", 200)+`","x"`, 1) + `]}`, 400, "batch[0]", "the limit is"},
		{"too big with the batch context", `{"context":{"x":"` + strings.Repeat("b", 200) + `"},"batch":[` + big + `]}`, 400, "batch[0]", "the limit is"},
		{"too big with the batch context merged into its own", `{"context":{"x":"` + strings.Repeat("b", 200) + `"},"batch":[` + strings.Replace(big, `"event":"E"`, `"event":"E","context":{}`, 1) + `]}`, 400, "batch[0]", "the limit is"},
		{"own context key keeps it small", `{"context":{"x":"` + strings.Repeat("b", 200) + `"},"batch":[` + strings.Replace(big, `"event":"E"`, `"event":"E","context":{"x":1}`, 1) + `]}`, 200, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out, evs, _, _ := postBatch(t, tc.body)
			require.Equal(t, tc.status, status, "%v", out)
			if status != http.StatusOK {
				require.Empty(t, evs)
				require.Equal(t, tc.field, out["field"])
				require.Contains(t, out["error"], tc.msg)
			}
		})
	}
}

// batchInputs are /v1/batch bodies the quick reader must read exactly as
// encoding/json does.
var batchInputs = []string{
	`{"batch":[{"type":"track","userId":"u","event":"E"},{"type":"identify"}],"sentAt":"2026-01-01T00:00:10Z","context":{"ip":"1.2.3.4"}}`,
	` { "batch" : [ 1 , "x" , null , [ ] ] , "context" : null , "sentAt" : null } `,
	`{"BATCH":[{}],"SentAt":"2026-01-01T00:00:10+02:00","Context":[1]}`,
	`{"batch":[{}],"batch":null}`,
	`{"batch":[{}],"batch":[{"a":1}]}`,
	`{"sentAt":"2026-01-01T00:00:10Z","sentAt":null,"batch":[{}]}`,
	`{"sentAt":"soon","sentAt":"2026-01-01T00:00:10Z","batch":[{}]}`,
	`{"sentAt":"2026-01-01 00:00:10Z","batch":[{}]}`,
	`{"sentAt":5,"batch":[{}]}`,
	`{"batch":{}}`,
	`{"batch":"x"}`,
	`{"batch":[{"a":tru}]}`,
	`{"batch":[{"a":1},]}`,
	`{"batch":[{"a":"` + "\x01" + `"}]}`,
	`{"batch":[{"a":"` + "\xff" + `"}]}`,
	`{"batch":[{}]} x`,
	`{"batch":[{}]`,
	`[]`, `null`, `5`, ``, `{}`,
}

func TestQuickBatchReadsAsEncodingJSON(t *testing.T) {
	for _, in := range batchInputs {
		checkQuickBatch(t, []byte(in))
	}
}

func FuzzQuickBatch(f *testing.F) {
	for _, in := range batchInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkQuickBatch(t, b) })
}

func checkQuickBatch(t *testing.T, b []byte) {
	t.Helper()
	// encoding/json is the reference, with the codec's repairs (numeric
	// ids, escaped times) applied the same way.
	var want batchRequest
	wantErr := ingest.DecodeRepaired(b, json.Unmarshal(b, &want), []string{"sentAt"}, func(fixed []byte) error {
		want = batchRequest{}
		return json.Unmarshal(fixed, &want)
	})
	got, err := readBatch(b)
	if wantErr != nil {
		require.EqualError(t, err, wantErr.Error(), "%q", b)
		return
	}
	require.NoError(t, err, "%q", b)
	require.Equal(t, want, got, "%q", b)
	for _, raw := range got.Batch {
		var wantEv eventBody
		wantErr := ingest.DecodeRepaired(raw, json.Unmarshal(raw, &wantEv), ingest.EventTimeFields, func(fixed []byte) error {
			wantEv = eventBody{}
			return json.Unmarshal(fixed, &wantEv)
		})
		gotEv, err := readBatchEvent(raw)
		if wantErr != nil {
			require.EqualError(t, err, wantErr.Error(), "%q", raw)
			continue
		}
		require.NoError(t, err, "%q", raw)
		wantEv.applyOwnSentAt()
		gotEv.applyOwnSentAt()
		require.Equal(t, wantEv, gotEv, "%q", raw)
	}
}
