package api

import (
	"encoding/json"
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

// An event larger as written to the topic than the consumer takes is
// refused with a 400 naming its largest field, not produced (the consumer
// would dead-letter it after the 200). The input limit keeps events the
// API reads below it (the test hands prepareEvent a decoded event past
// that limit); this is the last check before producing, at exactly the
// consumer's limit.
func TestEventLargerAsWrittenThanTheConsumerTakesIsRefused(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Set(ctxWriteKey, schema.APIKey{WorkspaceID: "ws_1", Kind: schema.KeyWrite})
	s := &Server{}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	event := func(field string, n int) ingest.Event {
		ev := ingest.Event{UserID: "u", Event: "E", MessageID: "m1", Timestamp: &at, ReceivedAt: &at,
			Context: json.RawMessage(`{"ip":"192.0.2.1"}`)}
		raw := json.RawMessage(`{"x":"` + strings.Repeat("a", n) + `"}`)
		switch field {
		case "properties":
			ev.Properties = raw
		case "traits":
			ev.Traits = raw
		}
		return ev
	}
	for _, field := range []string{"properties", "traits"} {
		// The bytes of the message but for the padding.
		base := event(field, 0)
		base.Type, base.WorkspaceID = "track", "ws_1"
		b, err := ingest.MarshalEvent(&base)
		require.NoError(t, err)
		fits := ingest.MaxMessageBytes - len(b)

		msg, ferr := s.prepareEvent(c, nil, event(field, fits), nil, "track")
		require.Nil(t, ferr, "%s: at the limit", field)
		require.Equal(t, ingest.MaxMessageBytes, len(msg.Value), field)

		_, ferr = s.prepareEvent(c, nil, event(field, fits+1), nil, "track")
		require.NotNil(t, ferr, "%s: one byte over", field)
		require.Equal(t, http.StatusBadRequest, ferr.status)
		require.Equal(t, field, ferr.Field)
		require.Contains(t, ferr.Message, "over the limit of 34816")
	}
}
