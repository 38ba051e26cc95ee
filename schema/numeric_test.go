package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// NumericFits answers as Postgres does: each number is tried in a jsonb
// value on the real server.
func TestNumericFitsAsPostgresStoresIt(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	for _, n := range []string{
		"0", "-0", "+5", ".5", "5.", "1.5", "-12.25e3", "1e308", "1e400", "-1e-400",
		"1e1000", "1e131071", "1e131072", "9.9e131071", "99e131070", "0.1e131072", "0.1e131073",
		"1e-16383", "1e-16384", "1.0e-16383", "100e-16385", "0.000e-16380", "0.000e-16381", "1e-20000",
		"0e-16383", "0e-16384", "0e200000", "0.0e131080", "12345678901234567890e-16364", "12345678901234567890e-16365",
		"1e99999999999999999999", "1e-99999999999999999999",
		"0e1073741822", "0e1073741823", "0e1073741824", "0.0e1073741824", "-0e1073741824", "1e1073741822",
		"0." + strings.Repeat("0", 16382) + "1", "0." + strings.Repeat("0", 16383) + "1",
		"1" + strings.Repeat("0", 400), "1." + strings.Repeat("0", 16383), "1." + strings.Repeat("0", 16384),
	} {
		// JSON writes +5, .5 and 5. as 5, 0.5 and 5.
		text := strings.TrimSuffix(strings.TrimPrefix(n, "+"), ".")
		if strings.HasPrefix(text, ".") {
			text = "0" + text
		}
		_, err := st.Pool().Exec(ctx, `SELECT ('{"a":'||$1||'}')::jsonb`, text)
		label := n
		if len(label) > 30 {
			label = label[:30] + "…"
		}
		require.Equal(t, err == nil, schema.NumericFits(n), "%s: Postgres says %v", label, err)
	}
}
