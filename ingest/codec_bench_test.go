package ingest_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/ingest"
)

// BenchmarkMarshalEvent measures encoding one event for the topic, as the
// API does for each event it accepts: a typical track event, and one whose
// properties are mostly text with HTML characters in it.
func BenchmarkMarshalEvent(b *testing.B) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)
	typical := ingest.Event{Type: "track", MessageID: "5f0c1c1e-8a41-4c86-9a52-2b1a3c1f0e77", UserID: "bench-user-7",
		Event: "Bench Ingest", Properties: json.RawMessage(`{"batch":7,"seq":42,"plan":"pro","price":19.99}`),
		Context:   json.RawMessage(`{"library":{"name":"analytics-go","version":"3.0.0"},"ip":"192.0.2.1"}`),
		Timestamp: &at, ReceivedAt: &at, WorkspaceID: "ws_0123456789abcdef"}
	html := typical
	html.Properties = json.RawMessage(`{"body":"` + strings.Repeat(`<p>Tom &amp; Jerry</p> `, 200) + `"}`)
	for _, bc := range []struct {
		name string
		ev   ingest.Event
	}{{"typical", typical}, {"html_4KB", html}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ingest.MarshalEvent(&bc.ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
