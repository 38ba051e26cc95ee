package schema_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// README: the export holds every "suppression of the customer's address or
// number", and a digest on the suppression list (an unsubscribe, complaint
// or hard bounce after an erasure) "matches the address when it comes
// back". The customer who comes back with the address is suppressed by the
// digest (Suppressed matches it, sends are refused), but their GDPR export
// lists no suppression: exportSmall matches the plain address only.
func TestExportListsTheDigestSuppressionOfTheAddress(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	require.NoError(t, e.st.Suppress(ctx, e.ws, schema.Suppression{Channel: schema.ChannelEmail,
		Address: schema.AddressDigest(e.ws, schema.ChannelEmail, "ada@example.com"), Reason: schema.SuppressComplaint}))
	ada := e.apply(t, identify("ada", "", map[string]any{"email": "Ada@Example.com"}))

	sup, err := e.st.Suppressed(ctx, e.ws, schema.ChannelEmail, "Ada@Example.com")
	require.NoError(t, err, "the returning address is suppressed by the digest")
	require.Equal(t, schema.SuppressComplaint, sup.Reason)

	exp, err := e.st.ExportCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)
	require.Len(t, exp.Suppressions, 1, "the export names the suppression that stops mail to the customer's address")
}
