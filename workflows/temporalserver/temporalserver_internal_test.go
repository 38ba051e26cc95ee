package temporalserver

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// The services' ports are distinct and never the frontend's, even the
// port the kernel has just handed out and taken back (the frontend's is
// picked so, then bound only later by the server).
func TestFreePortsAreDistinctAndNotTheFrontends(t *testing.T) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		frontend := l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())
		ports, err := freePorts("127.0.0.1", 3, frontend)
		require.NoError(t, err)
		require.Len(t, ports, 3)
		require.NotContains(t, ports, frontend)
		require.NotEqual(t, ports[0], ports[1])
		require.NotEqual(t, ports[1], ports[2])
		require.NotEqual(t, ports[0], ports[2])
	}
}
