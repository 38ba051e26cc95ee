package schema

import "context"

// The statements an import runs for each row, so that tests can look at
// how Postgres plans them.
var (
	UpsertByEmail       = upsertByEmail
	AdoptProfileByEmail = adoptProfileByEmail
)

// CustomerSearch is what SearchCustomers runs, so that tests can look at
// how Postgres plans it.
func (s *Store) CustomerSearch(ctx context.Context, workspaceID string, f CustomerSearch) ([]SearchStatement, error) {
	return s.customerSearch(ctx, workspaceID, f)
}
