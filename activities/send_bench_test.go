package activities_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/activities"
)

// BenchmarkSendActivity is one webhook message through the whole send
// activity (template, customer, channel settings, claim, the SSRF-guarded
// HTTP call, the delivery record) against a local receiver;
// BenchmarkSendRawHTTP is the same HTTP call alone. Their ratio is what
// Herald's bookkeeping costs per send (see docs/benchmarks.md).
func BenchmarkSendActivity(b *testing.B) {
	e := newSendEnv(b)
	e.settings(b, `{"webhook":{"allow_hosts":["127.0.0.1"]}}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := e.sendAt(b, activities.SendInput{Channel: "webhook", MessageID: fmt.Sprintf("bench_%d", i)})
		require.NoError(b, err)
		require.Equal(b, "sent", res.Status)
	}
}

func BenchmarkSendRawHTTP(b *testing.B) {
	e := newSendEnv(b)
	client := &http.Client{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, err := http.NewRequest("POST", e.srv.URL+"/hook/ada", strings.NewReader(`{"name":"Ada"}`))
		require.NoError(b, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("bench_%d", i))
		resp, err := client.Do(req)
		require.NoError(b, err)
		resp.Body.Close()
	}
}
