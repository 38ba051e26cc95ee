package ingest_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

// consumerAccepts says whether the consumer takes value for what it is
// (the checks it makes on a record before the workspace is looked up and
// the event stored): decoded, with a messageId, valid, its times in range.
func consumerAccepts(value []byte) bool {
	if ingest.CheckText(value) != nil {
		return false
	}
	ev, err := ingest.UnmarshalEvent(value)
	if err != nil || ev.MessageID == "" || ev.Validate() != nil {
		return false
	}
	ev.Normalize(time.Now(), func() string { return "" })
	if ev.CheckTimes() != nil {
		return false
	}
	_, err = ev.StoredProperties()
	return err == nil
}

// TestEventSchemaAgreesWithTheConsumer: docs/event.schema.json, read by a
// JSON-schema validator with its defaults (as ajv and python-jsonschema
// read it: "format" is an annotation in draft 2020-12), refuses what the
// consumer dead-letters for its shape and accepts what the consumer
// applies. A backend team validating its records against the published
// schema in CI must not learn of a mistake from the dead-letter topic.
func TestEventSchemaAgreesWithTheConsumer(t *testing.T) {
	raw, err := os.ReadFile("../docs/event.schema.json")
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("event.schema.json", doc))
	sch, err := c.Compile("event.schema.json")
	require.NoError(t, err)
	valid := func(v string) bool {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(v))
		require.NoError(t, err)
		return sch.Validate(inst) == nil
	}
	const head = `{"type":"track","messageId":"m1","workspaceId":"ws_1","event":"E",`
	long := strings.Repeat("9", 201)
	for _, c := range []struct {
		value string
		want  bool // what the consumer does, checked below
	}{
		{head + `"userId":"u1"}`, true},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00Z"}`, true},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00.123456789+02:00"}`, true},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00,5Z"}`, true},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00"}`, false},  // no zone
		{head + `"userId":"u1","timestamp":"2024-05-01 10:00:00Z"}`, false}, // no T
		{head + `"userId":"u1","timestamp":"2024-05-01t10:00:00Z"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00z"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00+0200"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00+24:00"}`, true}, // Go's limits
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00+23:60"}`, true},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:00+25:00"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01"}`, false},
		{head + `"userId":"u1","timestamp":"1714557600"}`, false},
		{head + `"userId":"u1","timestamp":"2024-13-01T10:00:00Z"}`, false},
		{head + `"userId":"u1","timestamp":"2024-05-01T10:00:60Z"}`, false},
		{head + `"userId":"u1","sentAt":"2024-05-01T10:00:00"}`, false},
		{head + `"userId":"u1","receivedAt":"2024-05-01T10:00:00"}`, false},
		{head + `"userId":"u1","timestamp":null}`, true},
		{head + `"userId":"u1","sentAt":null,"receivedAt":null,"originalTimestamp":null}`, true},
		{head + `"userId":` + long + `}`, false},
		{head + `"userId":` + long[:200] + `}`, true},
		{head + `"userId":-` + long[:199] + `}`, true},
		{head + `"userId":"` + long + `"}`, false},
		{head + `"userId":42}`, true},
		{head + `"userId":"\u00a0"}`, false},
		{head + `"userId":"\u3000\u2028"}`, false},
		{head + `"userId":"\ufeff"}`, true}, // not white space to Go
		{head + `"userId":" "}`, false},
		{head + `"userId":"","anonymousId":"a1"}`, true},
		{head + `"userId":" ","anonymousId":"a1"}`, false},
		{head + `"userId":null,"anonymousId":"a1"}`, true},
		{head + `"userId":""}`, false},
		{head + `"userId":"u1","previousId":null,"groupId":null,"name":null,"category":null}`, true},
		{head + `"userId":"u1","groupId":"\u00a0"}`, false},
		{`{"type":"page","messageId":"m1","workspaceId":"ws_1","userId":"u1","event":null}`, true},
		{`{"type":"track","messageId":"m1","workspaceId":"ws_1","userId":"u1","event":null}`, false},
		{`{"type":"track","messageId":"m1","workspaceId":"ws_1","userId":"u1","event":"\u2003"}`, false},
		{`{"type":"track","messageId":"\u00a0","workspaceId":"ws_1","userId":"u1","event":"E"}`, false},
		{`{"type":"alias","messageId":"m1","workspaceId":"ws_1","userId":"u1","previousId":"a1"}`, true},
		{`{"type":"alias","messageId":"m1","workspaceId":"ws_1","userId":"u1","previousId":null}`, false},
		{`{"type":"alias","messageId":"m1","workspaceId":"ws_1","userId":"u1","previousId":""}`, false},
		{`{"type":"group","messageId":"m1","workspaceId":"ws_1","userId":"u1","groupId":7}`, true},
		{`{"type":"group","messageId":"m1","workspaceId":"ws_1","userId":"u1","groupId":null}`, false},
	} {
		require.Equal(t, c.want, consumerAccepts([]byte(c.value)), "the consumer on %s", c.value)
		if c.want {
			assert.True(t, valid(c.value), "the consumer applies %s, the schema refuses it", c.value)
		} else {
			assert.False(t, valid(c.value), "the consumer dead-letters %s, the schema accepts it", c.value)
		}
	}
}
