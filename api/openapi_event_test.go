package api_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenAPIEventAgreesWithTheAPI: an event openapi.json's Event schema
// allows is one /v1/track takes, and one it refuses is answered 400 — nulls,
// times as Go reads RFC 3339, ids (ingest's event_schema_test does the same
// for docs/event.schema.json and the consumer).
func TestOpenAPIEventAgreesWithTheAPI(t *testing.T) {
	f := newIngestFixture(t)
	raw, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	require.NoError(t, c.AddResource(openAPIURL, doc))
	sch, err := c.Compile(openAPIURL + "#/components/schemas/Event")
	require.NoError(t, err)
	valid := func(v string) bool {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(v))
		require.NoError(t, err)
		return sch.Validate(inst) == nil
	}
	const head = `{"event":"E",`
	long := strings.Repeat("9", 201)
	for _, tc := range []struct {
		value string
		want  bool // what /v1/track does, checked below
	}{
		{head + `"userId":"u1"}`, true},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00.123456789+02:00"}`, true},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00,5Z"}`, true},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01 10:00:00Z"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00z"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00+0200"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00+24:00"}`, true},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00+25:00"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:60Z"}`, false},
		{head + `"userId":"u1","sentAt":"2024-05-01T10:00:00"}`, false},
		{head + `"userId":"u1","receivedAt":"2024-05-01T10:00:00"}`, false},
		{head + `"userId":"u1","originalTimestamp":"2024-05-01T10:00:00"}`, false},
		{head + `"userId":"u1","timestamp":null,"sentAt":null,"receivedAt":null,"originalTimestamp":null}`, true},
		{head + `"userId":"u1","properties":null,"context":null,"traits":null}`, true},
		{head + `"userId":"u1","messageId":null}`, true},
		{head + `"userId":"u1","messageId":"\u00a0"}`, false},
		{head + `"userId":"u1","name":null,"category":null,"groupId":null,"previousId":null}`, true},
		{head + `"userId":` + long + `}`, false},
		{head + `"userId":` + long[:200] + `}`, true},
		{head + `"userId":"` + long + `"}`, false},
		{head + `"userId":42}`, true},
		{head + `"userId":"\u00a0"}`, false},
		{head + `"userId":" ","anonymousId":"a1"}`, false},
		{head + `"userId":null,"anonymousId":"a1"}`, true},
		{head + `"userId":"u1","groupId":"\u00a0"}`, false},
		{head + `"userId":"u1","name":"` + long + `"}`, false},
		{head + `"userId":"u1","category":"` + long[:200] + `"}`, true},
		{head + `"userId":"u1","messageId":"` + long + `"}`, false},
		{head + `"userId":"u1","messageId":"m-` + long[:198] + `"}`, true},
	} {
		status, out := f.post(t, "/v1/track", []byte(tc.value), basic(f.writeKey))
		require.Equal(t, tc.want, status == 200, "/v1/track on %s: %d %v", tc.value, status, out)
		if tc.want {
			assert.True(t, valid(tc.value), "the API takes %s, openapi.json's Event refuses it", tc.value)
		} else {
			require.Equal(t, 400, status, "%s: %v", tc.value, out)
			assert.False(t, valid(tc.value), "the API refuses %s, openapi.json's Event allows it", tc.value)
		}
	}
}
