package ingest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

// codecInputs are events and near-events the quick codec must read and
// write exactly as encoding/json does.
var codecInputs = []string{
	`{"type":"track","messageId":"m1","userId":"u1","event":"E","properties":{"a":1,"b":[true,null]},"timestamp":"2026-01-01T00:00:00Z","receivedAt":"2026-01-01T00:00:01.123456789+02:00","workspaceId":"ws"}`,
	` {"type":"identify","userId":"u","traits":{"email":"a@b.c"}} `,
	`{"TYPE":"track","UserId":"u","EVENT":"E","SentAt":"2026-01-01T00:00:00Z","Context":{}}`,
	`{"userId":"a","userId":"b","USERID":"c","sentAt":"2026-01-01T00:00:00Z","sentAt":null}`,
	`{"sentAt":"","sentAt":null}`,
	`{"timestamp":"2026-01-01T00:00:00Z","timestamp":null,"receivedAt":null,"receivedAt":"2026-01-01T00:00:00Z"}`,
	`{"userId":5,"userId":"u"}`,
	`{"userId":null,"properties":null,"timestamp":null,"sentAt":null,"context":null}`,
	`{"userId":5}`,
	`{"userId":"u","event":["E"]}`,
	`{"properties":"x","traits":5,"context":[1, 2]}`,
	`{"timestamp":5}`,
	`{"timestamp":"yesterday"}`,
	`{"timestamp":"2026-01-01T00:00:00z"}`,
	`{"timestamp":"2026-01-01 00:00:00Z"}`,
	`{"timestamp":"2026-01-01T00:00:00"}`,
	`{"timestamp":"2026-01-01T24:00:00Z"}`,
	`{"timestamp":"2026-02-30T00:00:00Z"}`,
	`{"timestamp":"2026-01-01T00:00:00.Z"}`,
	`{"timestamp":"2026-01-01T00:00:00,5Z"}`,
	`{"timestamp":"2026-01-01T00:00:00+0530"}`,
	`{"timestamp":"2026-01-01T00:00:00-23:59"}`,
	`{"timestamp":"\u0032026-01-01T00:00:00Z"}`,
	`{"timestamp":{}}`,
	`{"originalTimestamp":"2026-01-01T00:00:00+02:00","OriginalTimestamp":null,"originalTimestamp":"2026-01-02T00:00:00Z"}`,
	`{"originalTimestamp":"yesterday"}`,
	`{"originalTimestamp":17}`,
	`{"userId":"\u00e9\ud83d\ude00\/\n\"x\""}`,
	`{"userId":"\ud800 lone"}`,
	"{\"userId\":\"bad \xff utf8\",\"properties\":{\"k\":\"\xfe\"}}",
	"{\"userId\":\"ctl \x01 char\"}",
	`{"userId":"bad \x escape"}`,
	`{"userId":"u"} trailing`,
	`{"userId":"u"}{}`,
	`{"zz":tru}`,
	`{"zz":[1,],"userId":"u"}`,
	`{"zz":01}`,
	`{"zz":1.}`,
	`{"zz":-}`,
	`{"zz":1e}`,
	`{"zz":1e400,"yy":123456789012345678901234567890}`,
	`{"zz":NaN}`,
	`{"userId":"u",}`,
	`{"userId":"u"`,
	`{"userId" "u"}`,
	`{'userId':'u'}`,
	"\xef\xbb\xbf{\"userId\":\"u\"}",
	`5`, `"x"`, `[]`, `null`, `true`, ``, ` `,
	`{"properties":{"deep":{"deeper":{"deepest":[1,{"x":"<&>"}]}}},"name":"<script>\u2028"}`,
	`{"unknown":{"a":[1,2,{"b":null}]},"type":"page","anonymousId":"a","name":"Home"}`,
	`{"properties": { "spaced" : [ 1 , 2 ] } ,"userId":"u"}`,
	`{"writeKey":"wk","messageId":"` + strings.Repeat("m", 300) + `"}`,
}

func TestQuickCodecReadsAsEncodingJSON(t *testing.T) {
	for _, in := range codecInputs {
		checkQuickRead(t, []byte(in))
	}
}

func FuzzQuickCodec(f *testing.F) {
	for _, in := range codecInputs {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkQuickRead(t, b) })
}

func checkQuickRead(t *testing.T, b []byte) {
	t.Helper()
	var want ingest.Event
	// encoding/json, with what the codec repairs (numeric ids read as their
	// digits, escaped times read) applied the same way.
	wantErr := ingest.DecodeRepaired(b, json.Unmarshal(b, &want), ingest.EventTimeFields, func(fixed []byte) error {
		want = ingest.Event{}
		return json.Unmarshal(fixed, &want)
	})
	got, err := ingest.UnmarshalEvent(b)
	if wantErr != nil {
		require.EqualError(t, err, wantErr.Error(), "%q", b)
		return
	}
	require.NoError(t, err, "%q", b)
	require.Equal(t, want, got, "%q", b)
	if p, ok := ingest.ParseEvent(b); ok {
		var fields map[string]json.RawMessage
		if json.Unmarshal(b, &fields) == nil && fields != nil {
			hasSentAt := false
			for k := range fields {
				hasSentAt = hasSentAt || strings.EqualFold(k, "sentAt")
			}
			require.Equal(t, hasSentAt, p.HasSentAt, "%q", b)
		}
	}
	checkWrite(t, &got, fmt.Sprintf("%q", b))
}

// checkWrite checks that MarshalEvent writes what json.Marshal writes but
// for its escapes for HTML: the two are the same bytes once those are
// added (json.HTMLEscape adds exactly them), and the output reads back as
// the same event.
func checkWrite(t *testing.T, ev *ingest.Event, msg string) {
	t.Helper()
	wantOut, wantErr := json.Marshal(ev)
	gotOut, err := ingest.MarshalEvent(ev)
	if wantErr != nil {
		require.Error(t, err, msg)
		return
	}
	require.NoError(t, err, msg)
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, gotOut)
	require.Equal(t, string(wantOut), escaped.String(), msg)
	var back, wantBack ingest.Event
	require.NoError(t, json.Unmarshal(gotOut, &back), msg)
	require.NoError(t, json.Unmarshal(wantOut, &wantBack), msg)
	again, err := json.Marshal(back)
	require.NoError(t, err, msg)
	wantAgain, err := json.Marshal(wantBack)
	require.NoError(t, err, msg)
	require.Equal(t, string(wantAgain), string(again), msg)
}

func TestQuickCodecWritesAsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("", 5*3600+1800))
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, ev := range []ingest.Event{
		{},
		{Type: "track", UserID: "<u>&\u2028\u2029", Event: "bad \xff utf8", Properties: json.RawMessage(` { "a" : "<b>" } `), Timestamp: &at},
		{Type: "identify", Traits: json.RawMessage(`{"x":"\u00e9"}`), Context: json.RawMessage(`null`), SentAt: &at, ReceivedAt: &at},
		{Type: "track", Timestamp: &far},
		{Type: "track", Timestamp: &at, OriginalTimestamp: &at, ReceivedAt: &at},
	} {
		checkWrite(t, &ev, fmt.Sprintf("%+v", ev))
	}
}

// Text is written as it was sent: <, >, & and U+2028/U+2029 (in string
// fields and inside properties, traits and context) are not escaped, so
// an event is no larger written than sent; what JSON requires escaped
// still is.
func TestMarshalEventWritesTextAsItIs(t *testing.T) {
	text := strings.Repeat("<a href=\"x\">&amp;</a>\u2028\u2029 ", 500)
	raw, err := json.Marshal(map[string]string{"html": text})
	require.NoError(t, err)
	raw = bytes.ReplaceAll(bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte(`\u003c`), []byte("<")), []byte(`\u003e`), []byte(">")), []byte(`\u0026`), []byte("&"))
	raw = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte(`\u2028`), []byte("\u2028")), []byte(`\u2029`), []byte("\u2029"))
	name := strings.Repeat("<&>\u2028", 50)
	ev := ingest.Event{Type: "page", UserID: name, AnonymousID: name, GroupID: name, Event: name, Name: name, Category: name,
		Properties: raw, Traits: raw, Context: raw}
	out, err := ingest.MarshalEvent(&ev)
	require.NoError(t, err)
	sent := 6*len(name) + 3*len(raw) + 200 // the fields' bytes, keys and quotes
	require.Less(t, len(out), sent, "no larger written than sent")
	require.NotContains(t, string(out), `\u003c`)
	require.NotContains(t, string(out), `\u2028`)
	require.Contains(t, string(out), `"name":"`+name+`"`)
	require.Contains(t, string(out), `"properties":`+string(raw))
	checkWrite(t, &ev, "text")

	var back ingest.Event
	require.NoError(t, json.Unmarshal(out, &back))
	require.Equal(t, name, back.Name)
	var props map[string]string
	require.NoError(t, json.Unmarshal(back.Properties, &props))
	require.Equal(t, text, props["html"])

	// What JSON requires escaped is, as json.Marshal escapes it; white
	// space between a raw field's tokens goes, escapes inside its strings
	// stay as sent.
	ev = ingest.Event{Type: "track", UserID: "q\"\\\b\f\n\r\t\x01\x1f\x7f\xff é😀", Properties: json.RawMessage(" {\n \"a\" : [ \"x \\\" \\u003c y\" , 1 ] } ")}
	out, err = ingest.MarshalEvent(&ev)
	require.NoError(t, err)
	require.Equal(t, `{"type":"track","userId":"q\"\\\b\f\n\r\t\u0001\u001f`+"\x7f"+`\ufffd é😀","properties":{"a":["x \" \u003c y",1]}}`, string(out))
	checkWrite(t, &ev, "escapes")
}

func TestValidateRefusesTextPostgresCannotStore(t *testing.T) {
	cases := []struct {
		props string
		want  string // "": accepted
	}{
		{`{"a":"\ud83d\ude00 \u00e9 \n \" \/"}`, ""},
		{`{"a":"\\u0000"}`, ""}, // an escaped backslash, then the text u0000
		{`{"a":"\\\\u0000 \\\\"}`, ""},
		{`{"a":"\\\u0000"}`, "NUL"},
		{`{"a":"x\u0000"}`, "NUL"},
		{`{"\u0000":1}`, "NUL"},
		{`{"a":"\ud83d"}`, `lone UTF-16 surrogate (\ud83d)`},
		{`{"a":"\ud83d\u0041"}`, `lone UTF-16 surrogate (\ud83d)`},
		{`{"a":"\ud83d\ud83d\ude00"}`, `lone UTF-16 surrogate (\ud83d)`},
		{`{"a":"\uDE00"}`, `lone UTF-16 surrogate (\uDE00)`},
		{"{\"a\":\"\xff\"}", "not valid UTF-8"},
	}
	for _, tc := range cases {
		ev := ingest.Event{Type: "track", UserID: "u", Event: "E", Properties: json.RawMessage(tc.props)}
		ferr := ev.Validate()
		if tc.want == "" {
			require.Nil(t, ferr, tc.props)
			continue
		}
		require.NotNil(t, ferr, tc.props)
		require.Equal(t, "properties", ferr.Field)
		require.Contains(t, ferr.Message, tc.want, tc.props)
	}
	ev := ingest.Event{Type: "track", UserID: "u\x00", Event: "E"}
	require.Equal(t, "userId", ev.Validate().Field)
	// Numbers past float64's range: stored, journeys could not decode
	// them (the event would reach none); text and small numbers pass.
	for props, want := range map[string]string{
		`{"total":1e400}`:                        "1e400",
		`{"a":[1,{"b":-2.5E+309}]}`:              "-2.5E+309",
		`{"n":` + strings.Repeat("9", 400) + `}`: strings.Repeat("9", 40) + "…",
		`{"total":1e308,"tiny":1e-400,"id":"a1e5","uuid":"-1e2b","n":-12.5e3}`: "",
		`{"big":"1e400"}`:            "",
		`{"a":"x\"1e400\" y","b":1}`: "",      // an escaped quote does not end the string
		`{"a":"x\\","b":1e400}`:      "1e400", // an escaped backslash does not escape the quote
		`{"a":"\\\"1e999"}`:          "",
	} {
		for _, field := range []string{"properties", "traits"} {
			ev := ingest.Event{Type: "identify", UserID: "u"}
			if field == "properties" {
				ev.Properties = json.RawMessage(props)
			} else {
				ev.Traits = json.RawMessage(props)
			}
			ferr := ev.Validate()
			if want == "" {
				require.Nil(t, ferr, props)
				continue
			}
			require.NotNil(t, ferr, props)
			require.Equal(t, field, ferr.Field)
			require.Contains(t, ferr.Message, "holds the number "+want+", past the range", props)
		}
	}
	ev = ingest.Event{Type: "track", UserID: "u", Event: "E", Context: json.RawMessage(`{"n":1e400}`)}
	require.Nil(t, ev.Validate(), "context is stored, not read by journeys")
	ev = ingest.Event{Type: "track", UserID: "u", Event: "E\xff"}
	require.Equal(t, "event", ev.Validate().Field)
}

// A numeric id becomes the text a JavaScript client would make of it:
// integers as written (beyond float precision too), fractions and
// exponents read.
func TestNumericIDsAreTheirNumbersText(t *testing.T) {
	for in, want := range map[string]string{
		`42`: "42", `-7`: "-7", `12345678901234567890`: "12345678901234567890",
		`1e3`: "1000", `1E3`: "1000", `2.50`: "2.5", `-0.0`: "0", `-0`: "0", `1e21`: "1e+21", `1.5e2`: "150",
		// JavaScript's String(n) at the edges of positional notation.
		`1e20`: "100000000000000000000", `1.5e21`: "1.5e+21", `-2.5e300`: "-2.5e+300",
		`1e-6`: "0.000001", `1.25e-6`: "0.00000125", `1e-7`: "1e-7", `-1.5e-7`: "-1.5e-7",
		`123e-20`: "1.23e-18", `0.1e1`: "1", `5e-324`: "5e-324", `0.1`: "0.1",
		// Past float64's range: as written.
		`1e400`: "1e400",
	} {
		ev, err := ingest.UnmarshalEvent([]byte(`{"type":"track","event":"E","userId":` + in + `}`))
		require.NoError(t, err, in)
		require.Equal(t, want, ev.UserID, in)
	}
}

// A time written with JSON escapes (.NET writes '+' as \u002B, PHP '/' as
// \/) is the time its text is; one still invalid once read is refused,
// as are escapes in other fields' places.
func TestEscapedTimesAreRead(t *testing.T) {
	ev, err := ingest.UnmarshalEvent([]byte(`{"type":"track","event":"E","userId":7,` +
		`"timestamp":"2024-05-01T10:00:00\u002B02:00","SentAt":"2024-05-01T10:00:01\u002b02:00"}`))
	require.NoError(t, err)
	require.Equal(t, "7", ev.UserID, "both repairs in one event")
	require.True(t, ev.Timestamp.Equal(time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)), "%v", ev.Timestamp)
	require.True(t, ev.SentAt.Equal(time.Date(2024, 5, 1, 8, 0, 1, 0, time.UTC)), "%v", ev.SentAt)

	// The repair rewrites only the times' values: keys that encoding/json
	// folds onto one field keep their order (the last wins, as with '+'),
	// and of a time's duplicates the last still counts.
	for _, c := range []struct{ escaped, plain string }{
		{`{"type":"track","event":"E","userId":"alice","UserID":"bob","timestamp":"2024-05-01T10:00:00\u002B02:00"}`,
			`{"type":"track","event":"E","userId":"alice","UserID":"bob","timestamp":"2024-05-01T10:00:00+02:00"}`},
		{`{"type":"track","event":"E","userId":"u","timestamp":"2024-05-01T10:00:00\u002B02:00","timestamp":"2024-05-01T09:00:00Z"}`,
			`{"type":"track","event":"E","userId":"u","timestamp":"2024-05-01T10:00:00+02:00","timestamp":"2024-05-01T09:00:00Z"}`},
		{`{"type":"track","event":"E","UserId":1,"userId":"u2","timestamp":"2024-05-01T10:00:00\u002B02:00"}`,
			`{"type":"track","event":"E","UserId":"1","userId":"u2","timestamp":"2024-05-01T10:00:00+02:00"}`},
	} {
		got, err := ingest.UnmarshalEvent([]byte(c.escaped))
		require.NoError(t, err, c.escaped)
		var want ingest.Event
		require.NoError(t, json.Unmarshal([]byte(c.plain), &want))
		require.Equal(t, want.UserID, got.UserID, c.escaped)
		require.True(t, want.Timestamp.Equal(*got.Timestamp), c.escaped)
	}

	_, err = ingest.UnmarshalEvent([]byte(`{"type":"track","event":"E","userId":"u","timestamp":"2024\/05\/01"}`))
	var perr *time.ParseError
	require.ErrorAs(t, err, &perr, "still not a time once read")
	require.Equal(t, "2024/05/01", perr.Value)
}

// A dead letter's time reason names the field the decoder refused: a
// valid time written with a JSON escape (which the decoder takes) is not
// named instead of the one that is wrong — the README's redrive recipe
// would then rewrite the good one.
func TestUnparsedTimeNamesTheFieldTheDecoderRefused(t *testing.T) {
	raw := []byte(`{"type":"track","messageId":"m1","workspaceId":"ws_1","event":"E","userId":"u1",` +
		`"timestamp":"2024-05-01T10:00:00\u005a","sentAt":"2024-05-01 10:00:00"}`)
	_, err := ingest.UnmarshalEvent(raw)
	var pe *time.ParseError
	require.True(t, errors.As(err, &pe), "%v", err)
	require.Equal(t, "2024-05-01 10:00:00", pe.Value, "the decoder refused sentAt")
	require.Equal(t, "sentAt", ingest.UnparsedTime(raw, ingest.EventTimeFields...))
	require.Equal(t, "timestamp", ingest.UnparsedTime([]byte(`{"timestamp":"2024-05-01\u0020","sentAt":"2024-05-01T10:00:00Z"}`),
		ingest.EventTimeFields...), "an escaped time that is not one is named")
}
