package schema_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

// identifyStored is an identify as ingest stores it: its traits kept under
// properties.traits (ingest.Event.StoredProperties) as well as merged into
// the profile.
func identifyStored(t *testing.T, user string, traits map[string]any) schema.EventInput {
	t.Helper()
	props, err := json.Marshal(map[string]any{"traits": traits})
	require.NoError(t, err)
	ev := identify(user, "", traits)
	ev.Properties = props
	return ev
}

// A stored import row that names the customer by an address they had
// before is theirs: the export lists it and the erasure blanks it.
func TestEraseBlanksImportRowsOfAPreviousEmail(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	ada := e.apply(t, identifyStored(t, "ada", map[string]any{"email": "ada.old@example.com"}))
	imp, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", FileName: "people.csv", Headers: []string{"email", "name"}},
		&memoryRowSource{rows: [][]string{{"ada.old@example.com", "Ada Lovelace"}, {"bob@example.com", "Bob"}}})
	require.NoError(t, err)
	e.apply(t, identifyStored(t, "ada", map[string]any{"email": "ada.new@example.com"}))
	exp, err := e.st.ExportCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)
	require.Len(t, exp.ImportRows, 1, "the export lists the row naming the customer's earlier address")
	_, err = e.st.EraseCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)
	rows, err := e.st.ImportRows(ctx, e.ws, imp.ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"", ""}, rows[0].Fields, "the erased customer's row (old address, name) must be blanked")
	require.Equal(t, []string{"bob@example.com", "Bob"}, rows[1].Fields, "and bob's row is untouched")
}

// Earlier addresses and numbers come from wherever Herald kept them: an
// identify's traits (a phone sent as a number too, and context.traits),
// and the recipients of the customer's deliveries — for an identify stored
// before identify events kept their traits, the only trace.
func TestImportRowsOfPreviousAddressesAndNumbers(t *testing.T) {
	ctx := context.Background()
	withContext := func(traits map[string]any) schema.EventInput {
		ev := identify("ada", "", traits)
		b, _ := json.Marshal(map[string]any{"traits": traits})
		ev.Context = b
		return ev
	}
	for _, tc := range []struct {
		name   string
		before func(e *identityEnv) schema.EventInput
		sent   *schema.Delivery // a delivery to the earlier address
		after  map[string]any   // the traits that replace it
		row    []string         // a row naming the earlier address (headers email, phone, name)
	}{
		{name: "previous phone in the traits", before: func(*identityEnv) schema.EventInput {
			return identifyStored(t, "ada", map[string]any{"phone": "+1 555 555 0100"})
		}, after: map[string]any{"phone": "+15555550199"}, row: []string{"", "+1 (555) 555-0100", "Ada"}},
		{name: "previous phone sent as a number", before: func(*identityEnv) schema.EventInput {
			return identifyStored(t, "ada", map[string]any{"phone": 15555550100})
		}, after: map[string]any{"phone": "+15555550199"}, row: []string{"", "15555550100", "Ada"}},
		{name: "previous email in context.traits", before: func(*identityEnv) schema.EventInput {
			return withContext(map[string]any{"email": "Ada.Old@example.com"})
		}, after: map[string]any{"email": "ada.new@example.com"}, row: []string{"ada.old@example.com", "", "Ada"}},
		{name: "previous email known only from a delivery", before: func(*identityEnv) schema.EventInput {
			return identify("ada", "", map[string]any{"email": "ada.old@example.com"}) // stored without its traits
		}, sent: &schema.Delivery{Channel: "email", Recipient: "ada.old@example.com"},
			after: map[string]any{"email": "ada.new@example.com"}, row: []string{"Ada <ada.old@example.com>", "", "Ada"}},
		{name: "previous phone known only from a delivery", before: func(*identityEnv) schema.EventInput {
			return identify("ada", "", map[string]any{"phone": "+15555550100"})
		}, sent: &schema.Delivery{Channel: "sms", Recipient: "+15555550100"},
			after: map[string]any{"phone": "+15555550199"}, row: []string{"", " +1 555 555 0100", "Ada"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newIdentityEnv(t)
			ada := e.apply(t, tc.before(e))
			if tc.sent != nil {
				d := *tc.sent
				d.ID, d.CustomerID, d.Provider, d.TemplateID, d.Content = "msg_1", ada.CustomerID, "outbox", "tpl_1", json.RawMessage(`{}`)
				_, _, err := e.st.ClaimDelivery(ctx, e.ws, d)
				require.NoError(t, err)
			}
			imp, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", FileName: "people.csv", Headers: []string{"email", "phone", "name"}},
				&memoryRowSource{rows: [][]string{tc.row, {"bob@example.com", "+15555550111", "Bob"}}})
			require.NoError(t, err)
			e.apply(t, identifyStored(t, "ada", tc.after))

			exp, err := e.st.ExportCustomer(ctx, e.ws, ada.CustomerID)
			require.NoError(t, err)
			require.Len(t, exp.ImportRows, 1, "the export lists the row naming the earlier address")
			require.Equal(t, 2, exp.ImportRows[0].Row)
			out, err := e.st.EraseCustomer(ctx, e.ws, ada.CustomerID)
			require.NoError(t, err)
			require.EqualValues(t, 1, out.ImportRowsBlanked)
			rows, err := e.st.ImportRows(ctx, e.ws, imp.ID, 0, 10)
			require.NoError(t, err)
			require.Equal(t, []string{"", "", ""}, rows[0].Fields)
			require.Equal(t, []string{"bob@example.com", "+15555550111", "Bob"}, rows[1].Fields, "another's row is untouched")
		})
	}
}

// An earlier address that another customer holds now is theirs: a row
// naming it is in their export, not in the former holder's, and the former
// holder's erasure leaves it.
func TestPreviousAddressHeldByAnotherCustomerIsTheirs(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	ada := e.apply(t, identifyStored(t, "ada", map[string]any{"email": "shared@example.com", "phone": "+15555550100"}))
	e.apply(t, identifyStored(t, "ada", map[string]any{"email": "ada@example.com", "phone": "+15555550199"}))
	e.apply(t, identifyStored(t, "carol", map[string]any{"email": "shared@example.com", "phone": "+15555550100"}))
	imp, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", FileName: "people.csv", Headers: []string{"email", "phone"}},
		&memoryRowSource{rows: [][]string{{"shared@example.com", ""}, {"", "+15555550100"}, {"ada@example.com", ""}}})
	require.NoError(t, err)

	exp, err := e.st.ExportCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)
	require.Len(t, exp.ImportRows, 1, "only the row naming Ada's current address")
	require.Equal(t, 4, exp.ImportRows[0].Row)
	carol, err := e.st.ExportCustomer(ctx, e.ws, "carol")
	require.NoError(t, err)
	require.Len(t, carol.ImportRows, 2)

	_, err = e.st.EraseCustomer(ctx, e.ws, ada.CustomerID)
	require.NoError(t, err)
	rows, err := e.st.ImportRows(ctx, e.ws, imp.ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []schema.ImportRow{{Number: 2, Fields: []string{"shared@example.com", ""}}, {Number: 3, Fields: []string{"", "+15555550100"}},
		{Number: 4, Fields: []string{"", ""}}}, rows)
}

// Two customers of a file can share a phone number (a family's landline, a
// company's switchboard). A row whose key is another customer's — its user
// id, or in a file without one its email — is that customer's, whatever
// its phone: the first customer's GDPR export must not hand over the
// other's row (their email, their name), and erasing the first must not
// blank the other's row (a rerun would then fail it as "user_id is empty").
func TestSharedPhoneNumberDoesNotMakeAnotherCustomersRowTheirs(t *testing.T) {
	ctx := context.Background()
	e := newIdentityEnv(t)
	pat := e.apply(t, identifyStored(t, "fam1", map[string]any{"email": "parent@example.com", "phone": "+15550100199"}))
	e.apply(t, identifyStored(t, "fam2", map[string]any{"email": "kid@example.com", "phone": "+15550100199"}))
	byUserID, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", FileName: "family.csv", Headers: []string{"User ID", "Email", "Phone", "Name"}},
		&memoryRowSource{rows: [][]string{
			{"fam1", "parent@example.com", "+1 555 010 0199", "Pat Parent"},
			{"fam2", "kid@example.com", "+1 555 010 0199", "Kim Kid"},
			{"", "", "+1 555 010 0199", "Landline"},
		}})
	require.NoError(t, err)
	byEmail, err := e.st.CreateImport(ctx, e.ws, schema.NewImport{CreatedBy: "test", FileName: "newsletter.csv", Headers: []string{"E-mail", "Mobile", "Name"}},
		&memoryRowSource{rows: [][]string{
			{"Kid@Example.com", "+1 555 010 0199", "Kim Kid"},
			{"parent@example.com", "+1 555 010 0199", "Pat Parent"},
			{"nobody@example.com", "+1 555 010 0199", "Not a customer"},
		}})
	require.NoError(t, err)

	exp, err := e.st.ExportCustomer(ctx, e.ws, pat.CustomerID)
	require.NoError(t, err)
	rows := map[string][]int{}
	for _, r := range exp.ImportRows {
		rows[r.FileName] = append(rows[r.FileName], r.Row)
	}
	require.Equal(t, map[string][]int{"family.csv": {2, 4}, "newsletter.csv": {3, 4}}, rows,
		"Pat's export lists Pat's rows and those with Pat's number and no other customer's key, not Kim's (user id fam2, or kid@example.com)")

	_, err = e.st.EraseCustomer(ctx, e.ws, pat.CustomerID)
	require.NoError(t, err)
	stored, err := e.st.ImportRows(ctx, e.ws, byUserID.ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"fam2", "kid@example.com", "+1 555 010 0199", "Kim Kid"}, stored[1].Fields,
		"erasing Pat leaves Kim's row as uploaded")
	require.Equal(t, []string{"", "", "", ""}, stored[0].Fields)
	stored, err = e.st.ImportRows(ctx, e.ws, byEmail.ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"Kid@Example.com", "+1 555 010 0199", "Kim Kid"}, stored[0].Fields,
		"erasing Pat leaves Kim's row as uploaded")
	require.Equal(t, []string{"", "", ""}, stored[1].Fields)
}
