package workflows

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWorkflowIDsHashKeysTooLongForTemporal(t *testing.T) {
	require.Equal(t, "journey/j1/customer/c1", WorkflowID("j1", "c1", ""))
	short := strings.Repeat("k", MaxKeyInID)
	require.Equal(t, "journey/j1/customer/c1/key/"+short, WorkflowID("j1", "c1", short))
	long := WorkflowID("j1", "c1", short+"k")
	require.Regexp(t, `^journey/j1/customer/c1/key/sha256:[0-9a-f]{64}$`, long)
	require.Equal(t, long, WorkflowID("j1", "c1", short+"k"), "the same key, the same id")
	require.NotEqual(t, long, WorkflowID("j1", "c1", short+"l"))
	j, c, k, ok := ParseWorkflowID(long)
	require.True(t, ok)
	require.Equal(t, []string{"j1", "c1", long[len("journey/j1/customer/c1/key/"):]}, []string{j, c, k})
}
