package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/heraldhq/herald/"

// allowedImports is the one-way import rule of STYLE.md: which of our
// packages each package may import directly (cmd/herald may import all).
var allowedImports = map[string][]string{
	"schema":                   {},
	"schema/pgserver":          {},
	"schema/schematest":        {"schema", "schema/pgserver"},
	"frontend":                 {},
	"activities":               {"schema", "activities/delivery"},
	"activities/delivery":      {},
	"workflows":                {"activities"},
	"workflows/temporalserver": {},
	"ingest":                   {"schema", "workflows"},
	"ingest/kafkaserver":       {},
	"api":                      {"schema", "workflows", "ingest", "activities", "activities/delivery"},
	"deployments":              {},
}

// forbiddenInWorkflows are imports that would let workflow code do I/O.
var forbiddenInWorkflows = []string{"net/http", "os", "github.com/jackc/pgx", "github.com/IBM/sarama", "math/rand", "time.Sleep"}

func goList(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go list %v: %s", args, out)
	return string(out)
}

func TestImportDirection(t *testing.T) {
	out := goList(t, "-f", `{{.ImportPath}}|{{join .Imports " "}}`, "./...")
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		rel := strings.TrimPrefix(pkg, module)
		if rel == "cmd/herald" {
			continue
		}
		allowed, known := allowedImports[rel]
		require.True(t, known, "package %s has no import rule in imports_test.go", rel)
		seen[rel] = true
		for _, imp := range strings.Fields(imports) {
			if !strings.HasPrefix(imp, module) {
				if rel == "workflows" {
					for _, bad := range forbiddenInWorkflows {
						require.NotEqual(t, bad, imp, "workflows must not import %s", imp)
						require.False(t, strings.HasPrefix(imp, bad+"/"), "workflows must not import %s", imp)
					}
				}
				continue
			}
			target := strings.TrimPrefix(imp, module)
			require.Contains(t, allowed, target, "%s must not import %s (see STYLE.md, dependency direction)", rel, target)
		}
	}
	require.True(t, seen["workflows"] && seen["api"] && seen["schema"])
}

// TestProductionBuildEmbedsNothing: with -tags nodev the binary carries no
// Temporal server, broker or Postgres launcher.
func TestProductionBuildEmbedsNothing(t *testing.T) {
	deps := goList(t, "-tags", "nodev", "-deps", "./cmd/herald")
	for _, banned := range []string{"go.temporal.io/server/", "github.com/twmb/franz-go/pkg/kfake", module + "schema/pgserver",
		module + "workflows/temporalserver", module + "ingest/kafkaserver"} {
		require.NotContains(t, deps, banned, "the production build must not include %s", banned)
	}
	all := goList(t, "-deps", "./cmd/herald")
	require.Contains(t, all, "go.temporal.io/server/temporal", "the dev build embeds the Temporal server")
}
