package main

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema/schematest"
)

func TestMain(m *testing.M) { os.Exit(schematest.Run(m)) }

// Every production role refuses a database whose schema is behind, and
// `herald migrate` brings it up (twice is fine).
func TestRolesRefuseASchemaThatIsBehind(t *testing.T) {
	url := schematest.Empty(t)
	vars := map[string]string{
		"HERALD_DATABASE_URL":     url,
		"HERALD_TEMPORAL_ADDRESS": "127.0.0.1:1",
		"HERALD_KAFKA_BROKERS":    "127.0.0.1:1",
		"HERALD_METRICS_ADDR":     "127.0.0.1:0",
		"HERALD_HTTP_ADDR":        "127.0.0.1:0",
	}
	for _, role := range []string{"api", "worker", "ingest"} {
		var stderr bytes.Buffer
		require.Equal(t, 1, run([]string{role}, env(vars), io.Discard, &stderr), role)
		require.Contains(t, stderr.String(), "herald migrate", role)
	}
	for i := 0; i < 2; i++ {
		var stderr bytes.Buffer
		require.Equal(t, 0, run([]string{"migrate"}, env(vars), io.Discard, &stderr), stderr.String())
		require.Contains(t, stderr.String(), "database schema is current")
	}
	// Now the schema is current: the role gets past the check and fails on
	// the next dependency (nothing listens on Temporal's port here).
	var stderr bytes.Buffer
	require.Equal(t, 1, run([]string{"worker"}, env(vars), io.Discard, &stderr))
	require.NotContains(t, stderr.String(), "herald migrate")
	require.Contains(t, stderr.String(), "temporal")
}
