package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/ingest"
)

// A number Postgres's numeric (and so jsonb) cannot hold — more than
// 16,383 digits after the point (1e-20000) or 131,072 before it
// (1e200000) — is valid JSON that the API answered 200 and the consumer
// then dead-lettered ("value overflows numeric format"). It is refused
// with 400 naming the field, as 1e400 in properties is, wherever it is:
// properties, traits and context are all stored.
func TestValidateRefusesNumbersPostgresCannotStore(t *testing.T) {
	for _, tc := range []struct{ field, raw string }{
		{"properties", `{"a":1e-20000}`},
		{"traits", `{"a":[1,-5E-17000]}`},
		{"context", `{"a":1e200000}`},
		{"context", `{"a":1e-20000}`},
	} {
		ev := identifyWith(tc.field, json.RawMessage(tc.raw))
		ferr := ev.Validate()
		require.NotNil(t, ferr, "%s %s is accepted, then refused by the database after the 200", tc.field, tc.raw)
		require.Equal(t, tc.field, ferr.Field)
	}
}

// Nesting deeper than MaxDepth is refused in each field (the database or
// encoding/json would refuse it after the 200); MaxDepth itself is not.
func TestValidateRefusesNestingDeeperThanMaxDepth(t *testing.T) {
	nested := func(levels int) json.RawMessage {
		// {"a": [[ … 1 … ]]}: the field's object is the first level.
		return json.RawMessage(`{"a":` + strings.Repeat("[", levels-1) + "1" + strings.Repeat("]", levels-1) + `}`)
	}
	for _, field := range []string{"properties", "traits", "context"} {
		for _, levels := range []int{ingest.MaxDepth, ingest.MaxDepth + 1} {
			ev := identifyWith(field, nested(levels))
			ferr := ev.Validate()
			if levels <= ingest.MaxDepth {
				require.Nil(t, ferr, "%s nested %d levels", field, levels)
				continue
			}
			require.NotNil(t, ferr, "%s nested %d levels", field, levels)
			require.Equal(t, field, ferr.Field)
			require.Contains(t, ferr.Message, "deeper than 100 levels")
		}
	}
	// Brackets in strings are text, not levels.
	ev := ingest.Event{Type: "track", UserID: "u", Event: "E", Properties: json.RawMessage(`{"a":"` + strings.Repeat("[", 500) + `"}`)}
	require.Nil(t, ev.Validate())
}

// identifyWith is an identify whose field (properties, traits or context)
// is raw.
func identifyWith(field string, raw json.RawMessage) ingest.Event {
	ev := ingest.Event{Type: "identify", UserID: "u"}
	switch field {
	case "properties":
		ev.Properties = raw
	case "traits":
		ev.Traits = raw
	case "context":
		ev.Context = raw
	}
	return ev
}
