package activities

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A number cell Postgres cannot hold in a jsonb numeric (more than 16383
// digits after the point, as "1e-20000" has) must be a row error of its row,
// like "1e400": otherwise the chunk's upsert fails with SQLSTATE 22003 and
// the whole import ends failed, the good rows of the chunk and every row
// after it not imported. The suggested mapping types such a column number.
func TestImportNumberCellsPostgresCannotStoreAreRowErrors(t *testing.T) {
	headers := []string{"id", "n"}
	m, err := ImportMapping{UserID: "id", Attributes: []AttributeMapping{{Column: "n", Name: "n", Type: TypeNumber}}}.compile(headers)
	require.NoError(t, err)
	for _, cell := range []string{"1e-20000", "0." + strings.Repeat("0", 16383) + "1"} {
		_, rowErr := m.customer([]string{"u1", cell})
		require.NotNil(t, rowErr, "%.20s… is accepted as a number, and Postgres refuses it (value overflows numeric format)", cell)
		require.Equal(t, "n", rowErr.Column)
	}
}

// A time cell that ends outside years 1–9999 in UTC is refused by ingest
// (README "Times") and cannot be written as RFC 3339; the import stores it
// as "10000-01-01T04:00:00Z", which segment conditions (after/before) do
// not read as a time.
func TestImportTimeCellsOutsideYears1To9999AreRowErrors(t *testing.T) {
	headers := []string{"id", "since"}
	m, err := ImportMapping{UserID: "id", Attributes: []AttributeMapping{{Column: "since", Name: "since", Type: TypeTime}}}.compile(headers)
	require.NoError(t, err)
	for _, cell := range []string{"9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"} {
		c, rowErr := m.customer([]string{"u1", cell})
		require.NotNil(t, rowErr, "%s is stored as %v", cell, c.Attributes)
		require.Equal(t, "since", rowErr.Column)
	}
}

// A CR-only file ("CSV (Macintosh)", which the docs say works) whose cell
// holds a line break written as LF, as a spreadsheet writes an in-cell line
// break: the LF inside quotes makes OpenCSV take the file for an LF file,
// and the whole file is refused as malformed ("row 1: … a quote is not
// closed or is misplaced").
func TestOpenCSVCRLineEndsWithALineBreakInACell(t *testing.T) {
	_, rows, err := readAll(t, "Email,Notes\rada@example.com,\"line 1\nline 2\"\rbob@example.com,x\r")
	require.NoError(t, err)
	require.Equal(t, [][]string{{"ada@example.com", "line 1\nline 2"}, {"bob@example.com", "x"}}, rows)
}
