package activities

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldhq/herald/schema"
)

func readAll(t *testing.T, file string) (*CSVFile, [][]string, error) {
	t.Helper()
	f, err := OpenCSV(strings.NewReader(file))
	if err != nil {
		return nil, nil, err
	}
	var rows [][]string
	for {
		r, err := f.Next()
		if errors.Is(err, io.EOF) {
			return f, rows, nil
		}
		if err != nil {
			return f, rows, err
		}
		rows = append(rows, r)
	}
}

func TestOpenCSVReadsWhatSpreadsheetsWrite(t *testing.T) {
	file := "\xEF\xBB\xBF id , Email,Notes\r\n" +
		"u1,ada@example.com,\"likes \"\"tea\"\", and cake\"\r\n" +
		"\r\n" +
		"   \t \r\n" +
		"u2,bob@example.com,\"two\r\nlines\"\r\n" +
		"u3,,short\n"
	f, rows, err := readAll(t, file)
	require.NoError(t, err)
	require.Equal(t, []string{"id", "Email", "Notes"}, f.Headers(), "BOM dropped, names trimmed")
	require.Equal(t, [][]string{
		{"u1", "ada@example.com", `likes "tea", and cake`},
		{"u2", "bob@example.com", "two\nlines"},
		{"u3", "", "short"},
	}, rows)
	require.EqualValues(t, len(file), f.BytesRead())
	pv := f.Preview()
	require.Equal(t, rows, pv.Rows)
	require.Equal(t, "id", pv.SuggestedMapping.UserID)
	require.Equal(t, "Email", pv.SuggestedMapping.Email)
}

// Files as spreadsheets in other locales and on other systems save them:
// semicolons or tabs between fields, CR-only line ends, a space after the
// separator before a quoted field, a trailing separator on every line.
func TestOpenCSVReadsOtherSpreadsheetShapes(t *testing.T) {
	want := [][]string{{"ada@example.com", "Lovelace, Ada", "London"}, {"bob@example.com", "Bob", ""}}
	for name, file := range map[string]string{
		"semicolons":         "Email;Name;City\r\nada@example.com;\"Lovelace, Ada\";London\r\nbob@example.com;Bob;\r\n",
		"tabs":               "Email\tName\tCity\nada@example.com\tLovelace, Ada\tLondon\nbob@example.com\tBob\t\n",
		"CR line ends":       "Email,Name,City\rada@example.com,\"Lovelace, Ada\",London\rbob@example.com,Bob,\r",
		"space before quote": "Email, Name, City\nada@example.com, \"Lovelace, Ada\", London\nbob@example.com, Bob,\n",
		"trailing separator": "Email,Name,City,\nada@example.com,\"Lovelace, Ada\",London,\nbob@example.com,Bob,,\n",
		"quoted header":      "\"Email\";\"Name; full\";City\nada@example.com;\"Lovelace, Ada\";London\nbob@example.com;Bob;\n",
		// A row whose cells are all empty (cleared, or formatted past the
		// last customer) is saved as separators only: a blank line, not a
		// customer row failing with "user_id is empty".
		"rows of separators only":  "Email,Name,City\n,,\nada@example.com,\"Lovelace, Ada\",London\n,,\nbob@example.com,Bob,\n,,\n,,\n",
		"rows of semicolons only":  "Email;Name;City\r\nada@example.com;\"Lovelace, Ada\";London\r\n;;\r\nbob@example.com;Bob;\r\n;;\r\n",
		"rows of empty cells only": "Email,Name,City\nada@example.com,\"Lovelace, Ada\",London\n , , \n\"\",,\nbob@example.com,Bob,\n",
	} {
		t.Run(name, func(t *testing.T) {
			f, rows, err := readAll(t, file)
			require.NoError(t, err)
			require.Len(t, f.Headers(), 3)
			require.Equal(t, "Email", f.Headers()[0])
			require.Equal(t, want, rows)
			require.EqualValues(t, len(file), f.BytesRead())
			require.Equal(t, "Email", f.Preview().SuggestedMapping.Email)
		})
	}
	// Empty cells of a tab-separated file stay in their columns.
	_, rows, err := readAll(t, "email\tfirst_name\tcity\nada@example.com\t\tLondon\n\t\tParis\n")
	require.NoError(t, err)
	require.Equal(t, [][]string{{"ada@example.com", "", "London"}, {"", "", "Paris"}}, rows)
	// A one-column file whose header has a semicolon in its name.
	f, rows, err := readAll(t, "email;primary\nada@example.com\nbob@example.com\n")
	require.NoError(t, err)
	require.Equal(t, []string{"email;primary"}, f.Headers())
	require.Equal(t, [][]string{{"ada@example.com"}, {"bob@example.com"}}, rows)

	// A cell under no column is reported by the row, not dropped.
	_, rows, err = readAll(t, "Email,Name\nada@example.com,Ada,extra\n")
	require.NoError(t, err)
	require.Equal(t, [][]string{{"ada@example.com", "Ada", "extra"}}, rows)
}

func TestOpenCSVRefusesWhatIsNotACustomerFile(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"empty", "", "the file is empty"},
		{"blank lines only", "\n\r\n\n", "the file is empty"},
		{"lines of spaces only", "\n  \n\t\r\n", "the file is empty"},
		{"no header", "u1,ada@example.com\nu2,bob@example.com\n", `"ada@example.com" looks like a value`},
		{"numbers for a header", "1,2,3\n4,5,6\n", `"1" looks like a value`},
		{"header only", "id,email\r\n", "no customer rows"},
		{"header and rows of separators only", "id,email\n,\n,\n", "no customer rows"},
		{"separators only", ",,\n,,\n", "the file is empty"},
		{"unnamed column", "id,,email\nu1,x,y\n", "column 2 of the header has no name"},
		{"repeated column", "id,email,Email ,email\nu1,a,b,c\n", `column "email" appears twice`},
		{"unbalanced quote", "id,email\nu1,\"ada@example.com\nu2,bob@example.com\n", "the row starts at line 2"},
		{"quote inside a field", "id,email\nu1,ada\"x@example.com\n", "quote is not closed or is misplaced"},
		{"not UTF-8", "id,name\nu1,Jos\xe9\n", "row 2: the file is not UTF-8 text"},
		{"NUL byte", "id,name\nu1,a\x00b\n", "not UTF-8 text"},
		{"too many columns", strings.Repeat("c,", MaxImportColumns) + "c\n", "at most 500"},
		{"too many rows", "id\n" + strings.Repeat("u\n", MaxImportRows+1), "more than 1000000 customer rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, tc.file)
			var csvErr *CSVError
			require.ErrorAs(t, err, &csvErr)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestImportMappingValidate(t *testing.T) {
	headers := []string{"id", "Email", "Plan", "Seats"}
	tests := []struct {
		name  string
		m     ImportMapping
		field string
	}{
		{"no key", ImportMapping{Attributes: []AttributeMapping{{Column: "Plan", Name: "plan"}}}, "mapping"},
		{"unknown user_id column", ImportMapping{UserID: "user"}, "mapping.user_id"},
		{"unknown email column", ImportMapping{UserID: "id", Email: "email"}, "mapping.email"},
		{"unknown attribute column", ImportMapping{Email: "Email", Attributes: []AttributeMapping{{Column: "Nope", Name: "x"}}}, "mapping.attributes[0].column"},
		{"attribute without column", ImportMapping{Email: "Email", Attributes: []AttributeMapping{{Name: "x"}}}, "mapping.attributes[0].column"},
		{"attribute without name", ImportMapping{Email: "Email", Attributes: []AttributeMapping{{Column: "Plan"}}}, "mapping.attributes[0].name"},
		{"built-in name", ImportMapping{Email: "Email", Attributes: []AttributeMapping{{Column: "Plan", Name: "email"}}}, "mapping.attributes[0].name"},
		{"built-in name in capitals", ImportMapping{UserID: "Email", Attributes: []AttributeMapping{{Column: "Plan", Name: "Email"}}}, "mapping.attributes[0].name"},
		{"built-in name nested", ImportMapping{UserID: "Email", Attributes: []AttributeMapping{{Column: "Plan", Name: "Phone.home"}}}, "mapping.attributes[0].name"},
		{"bad name", ImportMapping{Email: "Email", Attributes: []AttributeMapping{{Column: "Plan", Name: "a b"}}}, "mapping.attributes[0].name"},
		{"same name twice", ImportMapping{Email: "Email", Attributes: []AttributeMapping{{Column: "Plan", Name: "p"}, {Column: "Seats", Name: "p"}}}, "mapping.attributes[1].name"},
		{"a name inside another", ImportMapping{Email: "Email", Attributes: []AttributeMapping{{Column: "Plan", Name: "a.b"}, {Column: "Seats", Name: "a"}}}, "mapping.attributes[1].name"},
		{"bad type", ImportMapping{Email: "Email", Attributes: []AttributeMapping{{Column: "Seats", Name: "seats", Type: "int"}}}, "mapping.attributes[0].type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var me *MappingError
			require.ErrorAs(t, tc.m.Validate(headers), &me)
			require.Equal(t, tc.field, me.Field)
		})
	}
	ok := ImportMapping{UserID: "id", Email: "Email", Attributes: []AttributeMapping{{Column: "Plan", Name: "billing.plan"}, {Column: "Seats", Name: "seats", Type: "number"}}}
	require.NoError(t, ok.Validate(headers))
	require.Equal(t, schema.ImportKeyUserID, ok.Key())
	require.Equal(t, schema.ImportKeyEmail, ImportMapping{Email: "Email"}.Key())
}

func TestImportRowsAreCheckedAndTyped(t *testing.T) {
	headers := []string{"id", "email", "phone", "tz", "seats", "vip", "since", "city", "plan"}
	m, err := ImportMapping{UserID: "id", Email: "email", Phone: "phone", Timezone: "tz", Attributes: []AttributeMapping{
		{Column: "seats", Name: "seats", Type: TypeNumber}, {Column: "vip", Name: "vip", Type: TypeBoolean},
		{Column: "since", Name: "since", Type: TypeTime}, {Column: "city", Name: "address.city"},
		{Column: "plan", Name: "plan", Type: TypeString},
	}}.compile(headers)
	require.NoError(t, err)

	c, rowErr := m.customer([]string{" u1 ", "ada@example.com", "+1 (555) 555-0100", "Europe/Paris", "3", "Yes", "2024-05-01", "Paris", "pro"})
	require.Nil(t, rowErr)
	require.Equal(t, schema.ImportedCustomer{ExternalID: "u1", Email: "ada@example.com", Phone: "+1 (555) 555-0100", Timezone: "Europe/Paris",
		Attributes: map[string]any{"seats": json.Number("3"), "vip": true, "since": "2024-05-01T00:00:00Z", "address": map[string]any{"city": "Paris"}, "plan": "pro"}}, c)

	c, rowErr = m.customer([]string{"u2", "", "", "", "", "", "2024-05-01T09:30:00+02:00", "", ""})
	require.Nil(t, rowErr)
	require.Equal(t, schema.ImportedCustomer{ExternalID: "u2", Attributes: map[string]any{"since": "2024-05-01T07:30:00Z"}}, c,
		"empty cells set nothing; times in UTC")

	// Unix times, as Customer.io's and Braze's exports write dates: 10
	// digits of seconds, 13 of milliseconds.
	for cell, want := range map[string]string{"1714555800": "2024-05-01T09:30:00Z", "1714555800250": "2024-05-01T09:30:00.25Z"} {
		c, rowErr = m.customer([]string{"u3", "", "", "", "", "", cell, "", ""})
		require.Nil(t, rowErr, cell)
		require.Equal(t, map[string]any{"since": want}, c.Attributes, cell)
	}

	bad := []struct {
		row          []string
		column, want string
	}{
		{[]string{"", "a@example.com", "", "", "", "", "", "", ""}, "id", "user_id is empty"},
		{[]string{"u1", "ada", "", "", "", "", "", "", ""}, "email", `"ada" is not an email address`},
		{[]string{"u1", "Ada <ada@example.com>", "", "", "", "", "", "", ""}, "email", "not an email address"},
		{[]string{"u1", "", "call me", "", "", "", "", "", ""}, "phone", "not a phone number"},
		{[]string{"u1", "", "", "Mars/Olympus", "", "", "", "", ""}, "tz", `"Mars/Olympus" is not a time zone name`},
		{[]string{"u1", "", "", "Local", "", "", "", "", ""}, "tz", "not a time zone name"},
		{[]string{"u1", "", "", "", "three", "", "", "", ""}, "seats", `"three" is not a number`},
		{[]string{"u1", "", "", "", "NaN", "", "", "", ""}, "seats", "not a number"},
		{[]string{"u1", "", "", "", "1_000", "", "", "", ""}, "seats", "not a number"},
		{[]string{"u1", "", "", "", "0x10", "", "", "", ""}, "seats", "not a number"},
		{[]string{"u1", "", "", "", "1e400", "", "", "", ""}, "seats", "not a number"},
		{[]string{"u1", "", "", "", "1,5", "", "", "", ""}, "seats", "not a number"},
		{[]string{"u1", "", "1+555 0100", "", "", "", "", "", ""}, "phone", "not a phone number"},
		{[]string{"u1", "", "+44 (0)20 7946 0958", "", "", "", "", "", ""}, "phone", `leave out the (0), which is not dialled after a country code (+44 20 7946 0958)`},
		{[]string{"u1", "", "(+49) (0)30 1234567", "", "", "", "", "", ""}, "phone", "leave out the (0)"},
		{[]string{"u1", "", "", "", "", "maybe", "", "", ""}, "vip", `"maybe" is not a boolean`},
		{[]string{"u1", "", "", "", "", "", "May 1st", "", ""}, "since", `"May 1st" is not a time`},
		{[]string{"u1", "", "", "", "", "", "20240501", "", ""}, "since", `"20240501" is not a time`},
		{[]string{"u1", "", "", "", "", "", "171455580", "", ""}, "since", "not a time"},
		{[]string{"u1", "", "", "", "", "", "-1714555800", "", ""}, "since", "not a time"},
		{[]string{"u1", "a@example.com"}, "", "the row has 2 fields; the header has 9"},
		{[]string{"u1"}, "", "the row has 1 field; the header has 9"},
	}
	for _, tc := range bad {
		_, rowErr := m.customer(tc.row)
		require.NotNil(t, rowErr, "%v", tc.row)
		require.Equal(t, tc.column, rowErr.Column, "%v", tc.row)
		require.Contains(t, rowErr.Message, tc.want)
	}

	// Lengths are counted in characters, as ingest counts userId's, and
	// checked before the formats (whose messages would quote the value).
	longEmail := strings.Repeat("a", MaxImportEmail-len("@example.com")) + "@example.com"
	c, rowErr = m.customer([]string{strings.Repeat("é", MaxImportUserID), longEmail, "", "", "", "", "", "", ""})
	require.Nil(t, rowErr)
	require.Equal(t, strings.Repeat("é", MaxImportUserID), c.ExternalID)
	for _, tc := range []struct {
		row          []string
		column, want string
	}{
		{[]string{strings.Repeat("é", MaxImportUserID+1), "", "", "", "", "", "", "", ""}, "id", "user_id is longer than 200 characters (201)"},
		{[]string{"u1", "a" + longEmail, "", "", "", "", "", "", ""}, "email", "email is longer than 254 characters (255)"},
		{[]string{"u1", "", strings.Repeat("1", 65), "", "", "", "", "", ""}, "phone", "phone is longer than 64 characters (65)"},
		{[]string{"u1", "", "", strings.Repeat("x", 65), "", "", "", "", ""}, "tz", "timezone is longer than 64 characters (65)"},
	} {
		_, rowErr := m.customer(tc.row)
		require.NotNil(t, rowErr, "%.20v", tc.row)
		require.Equal(t, tc.column, rowErr.Column)
		require.Equal(t, tc.want, rowErr.Message)
	}

	// Numbers keep every digit (as ingest keeps traits' numbers), written
	// as JSON writes numbers.
	for cell, want := range map[string]string{
		"1234567890123456789": "1234567890123456789", "-9007199254740993": "-9007199254740993",
		"+5": "5", "007": "7", ".5": "0.5", "5.": "5", "-0.250": "-0.250", "1E3": "1E3", "00.5e-2": "0.5e-2",
	} {
		c, rowErr := m.customer([]string{"u1", "", "", "", cell, "", "", "", ""})
		require.Nil(t, rowErr, cell)
		raw, err := json.Marshal(c.Attributes)
		require.NoError(t, err)
		require.JSONEq(t, `{"seats":`+want+`}`, string(raw), cell)
		require.Equal(t, `{"seats":`+want+`}`, string(raw), cell)
	}

	byEmail, err := ImportMapping{Email: "email"}.compile(headers)
	require.NoError(t, err)
	_, rowErr = byEmail.customer([]string{"u1", " ", "", "", "", "", "", "", ""})
	require.NotNil(t, rowErr)
	require.Equal(t, "email", rowErr.Column)
	require.Contains(t, rowErr.Message, "email is empty")
}

func TestSuggestMapping(t *testing.T) {
	headers := []string{"User ID", "E-mail", "Mobile", "Time Zone", "Seats", "VIP", "Signed up", "Plan", "Created At", "plan!"}
	rows := [][]string{
		{"u1", "a@example.com", "+15555550100", "UTC", "3", "yes", "2024-05-01", "pro", "2024-01-01", "x"},
		{"u2", "b@example.com", "", "", "4.5", "no", "2024-05-02T10:00:00Z", "1", "", "y"},
	}
	require.Equal(t, ImportMapping{UserID: "User ID", Email: "E-mail", Phone: "Mobile", Timezone: "Time Zone", Attributes: []AttributeMapping{
		{Column: "Seats", Name: "seats", Type: TypeNumber},
		{Column: "VIP", Name: "vip", Type: TypeBoolean},
		{Column: "Signed up", Name: "signed_up", Type: TypeTime},
		{Column: "Plan", Name: "plan", Type: TypeString},
		{Column: "Created At", Name: "csv_created_at", Type: TypeTime},
		{Column: "plan!", Name: "plan_2", Type: TypeString},
	}}, SuggestMapping(headers, rows))
	// A suggestion that found a user id or email column is a valid mapping of its file.
	require.NoError(t, SuggestMapping(headers, rows).Validate(headers))
	require.Equal(t, ImportMapping{Email: "email", Attributes: []AttributeMapping{{Column: "id2", Name: "id2", Type: TypeString}}},
		SuggestMapping([]string{"email", "id2"}, nil))
	// A + sign is a phone number's, not a number's.
	require.Equal(t, []AttributeMapping{{Column: "Backup Line", Name: "backup_line", Type: TypeString}},
		SuggestMapping([]string{"email", "Backup Line"}, [][]string{{"a@example.com", "+33612345678"}}).Attributes)
	require.Equal(t, "Mobile Number", SuggestMapping([]string{"email", "Mobile Number"}, nil).Phone)
	// Integers longer than 15 digits are ids or account numbers: as written.
	require.Equal(t, []AttributeMapping{{Column: "Account", Name: "account", Type: TypeString}, {Column: "Count", Name: "count", Type: TypeNumber}},
		SuggestMapping([]string{"email", "Account", "Count"}, [][]string{{"a@example.com", "1234567890123456789", "123456789012345"}}).Attributes)
	// Accented Latin letters keep their word in the name; other scripts
	// have no ASCII name to suggest.
	var names []string
	for _, a := range SuggestMapping([]string{"email", "Prénom", "Straße", "Ærø Købing", "Łódź", "名前"}, nil).Attributes {
		names = append(names, a.Name)
	}
	require.Equal(t, []string{"prenom", "strasse", "aero_kobing", "lodz", "csv_"}, names)
	// Zero-padded codes keep their zeros; 0 and 0.5 are numbers.
	require.Equal(t, []AttributeMapping{{Column: "Zip", Name: "zip", Type: TypeString}, {Column: "Score", Name: "score", Type: TypeNumber}},
		SuggestMapping([]string{"email", "Zip", "Score"}, [][]string{{"a@example.com", "01234", "0"}, {"b@example.com", "75001", "0.5"}}).Attributes)
}

// TestFailedRowsHeader: the failed rows' columns come first and never take
// the name of one of the file's columns, which SuggestMapping then leaves
// unmapped.
func TestFailedRowsHeader(t *testing.T) {
	require.Equal(t, []string{"import_row", "import_column", "import_error", "email", "plan"}, FailedRowsHeader([]string{"email", "plan"}))
	require.Equal(t, []string{"__import_row", "import_column", "import_error", "import_row", "_import_row"},
		FailedRowsHeader([]string{"import_row", "_import_row"}))
	h := FailedRowsHeader([]string{"email", "plan"})
	require.Equal(t, ImportMapping{Email: "email", Attributes: []AttributeMapping{{Column: "plan", Name: "plan", Type: TypeString}}},
		SuggestMapping(h, [][]string{{"2", "Email", "bad", "x", "pro"}}))
	// The file's own column of that name keeps its suggestion, in a failed
	// rows file and in any other.
	h = FailedRowsHeader([]string{"import_row", "email"})
	require.Equal(t, []AttributeMapping{{Column: "import_row", Name: "import_row", Type: TypeNumber}},
		SuggestMapping(h, [][]string{{"2", "", "bad", "7", "x"}}).Attributes)
	require.Equal(t, []AttributeMapping{{Column: "import_error", Name: "import_error", Type: TypeString}},
		SuggestMapping([]string{"email", "import_error"}, nil).Attributes)
	// The failed rows of a corrected failed-rows file: both generations of
	// added columns are left out.
	twice := FailedRowsHeader(FailedRowsHeader([]string{"email", "plan"}))
	require.Equal(t, []string{"_import_row", "_import_column", "_import_error", "import_row", "import_column", "import_error", "email", "plan"}, twice)
	require.Equal(t, ImportMapping{Email: "email", Attributes: []AttributeMapping{{Column: "plan", Name: "plan", Type: TypeString}}},
		SuggestMapping(twice, nil))
}

// Excel in a German or French locale separates fields with semicolons and
// quotes only cells that hold a semicolon, a quote or a line break: a
// column name with a comma ("Name, Vorname") is written as it is. The
// file is still semicolon-separated — every line has the same number of
// semicolons — and must not be read as a comma-separated file whose
// header is "E-Mail;Name" and "Vorname;Umsatz". So with tabs.
func TestOpenCSVSemicolonFileWithACommaInAColumnName(t *testing.T) {
	for _, c := range []struct{ sep, file string }{
		{";", "E-Mail;Name, Vorname;Umsatz\r\nanna@example.de;Schmidt, Anna;1,5\r\nben@example.de;Meyer, Ben;2\r\n"},
		{"\t", "E-Mail\tName, Vorname\tUmsatz\nanna@example.de\tSchmidt, Anna\t1,5\nben@example.de\tMeyer, Ben\t2\n"},
		// Two columns: as many commas as semicolons (tabs) in every line.
		{";", "E-Mail;Name, Vorname\r\nanna@example.de;Schmidt, Anna\r\nben@example.de;Meyer, Ben\r\n"},
		{"\t", "E-Mail\tName, Vorname\nanna@example.de\tSchmidt, Anna\nben@example.de\tMeyer, Ben\n"},
	} {
		f, rows, err := readAll(t, c.file)
		require.NoError(t, err)
		headers := strings.Split(strings.SplitN(strings.TrimRight(c.file, "\r\n"), "\n", 2)[0], c.sep)
		for i := range headers {
			headers[i] = strings.TrimRight(headers[i], "\r")
		}
		require.Equal(t, headers, f.Headers())
		wantRows := [][]string{{"anna@example.de", "Schmidt, Anna", "1,5"}, {"ben@example.de", "Meyer, Ben", "2"}}
		for i := range wantRows {
			wantRows[i] = wantRows[i][:len(headers)]
		}
		require.Equal(t, wantRows, rows)
		require.Equal(t, "E-Mail", f.Preview().SuggestedMapping.Email)
		require.Equal(t, c.sep, f.Preview().Separator, "the upload says which separator it read")
	}
}

// The upload reads every row: the suggested types must fit every row, not
// only the first ImportPreviewRows. A ZIP code column whose first rows have
// no leading zero is suggested as a number, and the suggested mapping then
// stores a later "02134" as 2134 — silently, with no row error.
func TestSuggestedTypesFitRowsPastThePreview(t *testing.T) {
	var b strings.Builder
	b.WriteString("User ID,Email,ZIP\n")
	for i := range ImportPreviewRows {
		fmt.Fprintf(&b, "u%d,u%d@example.com,9%04d\n", i, i, i)
	}
	b.WriteString("zb,zb@example.com,02134\n")
	f, rows, err := readAll(t, b.String())
	require.NoError(t, err)
	require.Len(t, rows, ImportPreviewRows+1)
	types := map[string]string{}
	for _, a := range f.Preview().SuggestedMapping.Attributes {
		types[a.Column] = a.Type
	}
	require.Equal(t, TypeString, types["ZIP"], "a later row has 02134: a number would drop its zero")
}
