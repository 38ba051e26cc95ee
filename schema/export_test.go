package schema

// The statements an import runs for each row, so that tests can look at
// how Postgres plans them.
var (
	UpsertByEmail       = upsertByEmail
	AdoptProfileByEmail = adoptProfileByEmail
)
