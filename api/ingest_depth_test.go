package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// An event nested deeper than Herald can read back (Go's decoder stops at
// 10,000 levels; Postgres's jsonb at its stack depth) is refused inside a
// batch as it is on /v1/track — with 200 and "rejected" naming it, the
// valid event produced — not answered 200 and then stored where the
// customer's profile, /events and GDPR export fail with 500 and routing
// skips it, or dead-lettered by the consumer after the 200.
func TestBatchRefusesAnEventNestedTooDeep(t *testing.T) {
	f := newIngestFixture(t)
	deep := strings.Repeat("[", 12000) + "1" + strings.Repeat("]", 12000)
	one := `{"userId":"u1","event":"Deep","properties":{"a":` + deep + `}}`

	status, body := f.post(t, "/v1/track", []byte(one), basic(f.writeKey))
	require.Equal(t, http.StatusBadRequest, status, "a single event is refused: %v", body)

	status, body = f.post(t, "/v1/batch", []byte(`{"batch":[{"type":"track","userId":"u1","event":"Deep","properties":{"a":`+deep+`}},
		{"type":"track","userId":"u1","event":"Fine"}]}`), basic(f.writeKey))
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "rejected", "the deep event is named as refused, not accepted: %v", body)
}
