package workflows

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWorkflowIDsHashKeysTooLongForTemporal(t *testing.T) {
	require.Equal(t, "journey/j1/customer/c1", WorkflowID("j1", "c1", ""))
	prefix := "journey/j1/customer/c1/key/"
	fits := strings.Repeat("k", MaxIDBytes-len(prefix))
	require.Equal(t, prefix+fits, WorkflowID("j1", "c1", fits))
	long := WorkflowID("j1", "c1", fits+"k")
	require.Regexp(t, `^journey/j1/customer/c1/key/sha256:[0-9a-f]{64}$`, long)
	require.Equal(t, long, WorkflowID("j1", "c1", fits+"k"), "the same key, the same id")
	require.NotEqual(t, long, WorkflowID("j1", "c1", fits+"l"))
	j, c, k, ok := ParseWorkflowID(long)
	require.True(t, ok)
	require.Equal(t, []string{"j1", "c1", long[len(prefix):]}, []string{j, c, k})
}

// Temporal's SQL stores hold workflow ids in VARCHAR(255): with the ids
// Herald gives journeys and customers, no key may take an id past that.
func TestWorkflowIDsFitTemporalsSQLColumn(t *testing.T) {
	jny, cus := "jny_abcdefghijklmnop", "cus_abcdefghijklmnop"
	for _, n := range []int{1, 150, 192, 193, 200, 201, 255, 1000, 5000} {
		key := strings.Repeat("é", n)[:n] // multi-byte runes: the limit is in bytes
		id := WorkflowID(jny, cus, key)
		require.LessOrEqual(t, len(id), MaxIDBytes, "key of %d bytes", n)
		if !strings.Contains(id, "/key/sha256:") {
			require.True(t, strings.HasSuffix(id, "/key/"+key), "key of %d bytes kept as it is", n)
		}
	}
}
