package schema_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
	"github.com/heraldhq/herald/schema/schematest"
)

// TestServerCPU reads the CPU of the tests' private Postgres, which grows
// with work, and refuses a connection whose backend is not on this machine.
func TestServerCPU(t *testing.T) {
	ctx := context.Background()
	st := schematest.Store(t)
	before, err := schema.ServerCPU(ctx, st.Pool())
	require.NoError(t, err)
	require.Positive(t, before)
	_, err = st.Pool().Exec(ctx, `SELECT count(*) FROM generate_series(1, 5000000)`)
	require.NoError(t, err)
	after, err := schema.ServerCPU(ctx, st.Pool())
	require.NoError(t, err)
	require.Greater(t, after, before)

	// A backend pid that is a process here, but not the server's backend.
	_, err = schema.ServerCPU(ctx, fakeBackend{pid: os.Getpid(), port: 5432})
	require.ErrorContains(t, err, "not on this machine")
}

// fakeBackend answers `SELECT pg_backend_pid(), inet_client_port()`.
type fakeBackend struct{ pid, port int }

func (f fakeBackend) QueryRow(context.Context, string, ...any) pgx.Row { return f }

func (f fakeBackend) Scan(dest ...any) error {
	*dest[0].(*int) = f.pid
	p := int32(f.port)
	*dest[1].(**int32) = &p
	return nil
}
