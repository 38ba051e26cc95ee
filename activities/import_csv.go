package activities

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/heraldhq/herald/schema"
)

// Limits of an uploaded CSV file of customers.
const (
	MaxImportFileSize = 50 << 20
	MaxImportColumns  = 500
	// MaxImportRows bounds the customer rows of a file (a 50 MiB file of
	// realistic rows has far fewer).
	MaxImportRows = 1_000_000
	// ImportPreviewRows is how many rows an upload shows back.
	ImportPreviewRows = 20
)

// Longest cells of the built-in fields an import takes, in characters; a
// longer one is a row error. MaxImportUserID is ingest's limit on userId
// (DESIGN §4), MaxImportEmail the longest address SMTP carries (RFC 5321)
// and the limit on team members' emails. A phone number has at most 15
// digits and an IANA time zone name about 30 characters: their limits
// leave room for punctuation and spaces. Each keeps the value far below
// what Postgres can index (about 2,700 bytes).
const (
	MaxImportUserID   = 200
	MaxImportEmail    = schema.MaxEmailLength
	MaxImportPhone    = schema.MaxPhoneLength
	MaxImportTimezone = schema.MaxTimezoneLength
)

// CSVError says why a file cannot be imported at all (rather than which
// rows will be skipped). Row is the record's row, the header being row 1;
// 0 when the error concerns the whole file.
type CSVError struct {
	Row     int
	Message string
	// Err is what reading the upload failed with, if that was the cause.
	Err error
}

func (e *CSVError) Error() string {
	if e.Row > 0 {
		return fmt.Sprintf("row %d: %s", e.Row, e.Message)
	}
	return e.Message
}

func (e *CSVError) Unwrap() error { return e.Err }

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// CSVFile reads an uploaded CSV file of customers: a header row naming the
// columns, then one customer per record. Quoted fields (with commas, quotes
// and line breaks inside), CRLF, LF or CR-only line ends (Excel for Mac), a
// UTF-8 byte order mark, spaces after a separator and semicolon- or
// tab-separated files (Excel in many European locales) are understood;
// blank lines (also lines of separators only, ",,,") are skipped, and so
// are empty columns after the last named one (a trailing comma on each
// line). A record may have another number of
// fields than the header: the import reports it as a row error.
type CSVFile struct {
	r       *csv.Reader
	bom     int64
	headers []string
	row     int
	preview [][]string
	// types are the column types every row read so far fits.
	types []typeGuess
}

// OpenCSV reads the header of a CSV file. It refuses an empty file, a
// header with unnamed or repeated columns, and a first row that looks like
// data (an email address or a number where a column name should be).
func OpenCSV(r io.Reader) (*CSVFile, error) {
	br := bufio.NewReaderSize(r, headerPeek)
	f := &CSVFile{}
	if b, _ := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
		f.bom = int64(len(utf8BOM))
	}
	head, peekErr := br.Peek(headerPeek)
	var src io.Reader = br
	if _, rest := outsideQuotes(head); len(rest) > 0 && rest[0] == '\r' && (len(rest) == 1 || rest[1] != '\n') {
		// The header ends with a lone CR ("CSV (Macintosh)"): every line
		// does, though a quoted cell may hold an LF line break.
		src = crLines{br}
	}
	f.r = csv.NewReader(src)
	f.r.FieldsPerRecord = -1
	f.r.Comma = separator(head, peekErr != nil)
	// Spaces after a separator, before a quoted field; not with tabs, which
	// it would take for such space (an empty cell would vanish).
	f.r.TrimLeadingSpace = f.r.Comma != '\t'
	header, err := f.read()
	if errors.Is(err, io.EOF) {
		return nil, &CSVError{Message: "the file is empty; expected a header row naming the columns, then one customer per row"}
	}
	if err != nil {
		return nil, err
	}
	if len(header) > MaxImportColumns {
		return nil, &CSVError{Row: 1, Message: fmt.Sprintf("the header has %d columns; at most %d are allowed", len(header), MaxImportColumns)}
	}
	for len(header) > 1 && strings.TrimSpace(header[len(header)-1]) == "" {
		header = header[:len(header)-1] // a trailing separator
	}
	seen := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		switch {
		case h == "":
			return nil, &CSVError{Row: 1, Message: fmt.Sprintf("column %d of the header has no name", i+1)}
		case seen[h] > 0:
			return nil, &CSVError{Row: 1, Message: fmt.Sprintf("column %q appears twice in the header (columns %d and %d)", h, seen[h], i+1)}
		case looksLikeData(h):
			return nil, &CSVError{Row: 1, Message: fmt.Sprintf("the first row must name the columns, but %q looks like a value: add a header row", h)}
		}
		seen[h] = i + 1
	}
	f.headers = header
	return f, nil
}

// headerPeek is how much of a file is looked at to tell its line ends and
// separator: its header line and the lines after it, or the start of them.
const headerPeek = 64 << 10

// separatorLines is how many lines after the header tell the separator.
const separatorLines = 10

// separators are the field separators a file may have, the default first.
var separators = []byte{',', ';', '\t'}

// separator is the field separator of a file that starts head (whole: head
// is all of the file). It is the one of comma, semicolon and tab that
// splits the header and each of the next lines (outside quotes) into the
// same number of fields, more than one: a column name may hold another
// of them, as "Name, Vorname" in a semicolon-separated file (Excel quotes
// only cells with its own separator). If several do, the one giving the
// most fields, a comma on a tie. If none does (rows of other lengths,
// which are row errors): a comma, unless the header has none and has
// semicolons or tabs — the more frequent of which then separates if the
// next line has it too (a one-column file may have a ";" in its name).
func separator(head []byte, whole bool) rune {
	header, rest := outsideQuotes(head)
	var lines []map[byte]int
	for len(lines) < separatorLines {
		rest = bytes.TrimLeft(rest, "\r\n")
		if len(rest) == 0 {
			break
		}
		line, next := outsideQuotes(rest)
		if next == nil && !whole {
			break // cut off where the look stopped
		}
		if !blankLine(line) {
			lines = append(lines, line)
		}
		rest = next
	}
	// On a tie the comma loses: a comma file would need an unquoted ; or
	// tab in every line to tie, while a ; or tab file from a spreadsheet
	// often has an unquoted comma in each ("Name, Vorname").
	best, most := byte(0), 0
	for _, sep := range separators {
		n := header[sep]
		if n == 0 || n < most || n == most && best != ',' {
			continue
		}
		if slices.IndexFunc(lines, func(l map[byte]int) bool { return l[sep] != n }) < 0 {
			best, most = sep, n
		}
	}
	if best != 0 {
		return rune(best)
	}
	var sep byte
	switch {
	case header[','] > 0 || header[';'] == 0 && header['\t'] == 0:
		return ','
	case header[';'] >= header['\t']:
		sep = ';'
	default:
		sep = '\t'
	}
	if len(lines) > 0 && lines[0][sep] == 0 {
		return ','
	}
	return rune(sep)
}

// blankLine says a line's unquoted bytes (outsideQuotes) are spaces or
// tabs only.
func blankLine(count map[byte]int) bool {
	for c := range count {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// outsideQuotes counts the bytes of b's first line (its end outside quotes)
// that are not quoted, and returns the rest of b from that line's end.
func outsideQuotes(b []byte) (map[byte]int, []byte) {
	count := map[byte]int{}
	quoted := false
	for i, c := range b {
		if (c == '\n' || c == '\r') && !quoted {
			return count, b[i:]
		}
		switch {
		case c == '"':
			quoted = !quoted
		case !quoted:
			count[c]++
		}
	}
	return count, nil
}

// crLines reads a file whose lines end with a lone CR as one with LF line
// ends (byte for byte, so offsets stay those of the file).
type crLines struct{ r io.Reader }

func (c crLines) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
}

// zeroPadded says whether s is digits written with leading zeros ("007",
// "-0123"), which a number would drop.
func zeroPadded(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return len(s) > 1 && s[0] == '0' && s[1] >= '0' && s[1] <= '9'
}

func looksLikeData(h string) bool {
	if strings.Contains(h, "@") {
		return true
	}
	_, err := strconv.ParseFloat(h, 64)
	return err == nil
}

// read reads the next record and checks it is text.
func (f *CSVFile) read() ([]string, error) {
	rec, err := f.r.Read()
	// A line of spaces or tabs is a blank line too (encoding/csv skips only
	// empty ones), and so is a line of separators only (",,,": a row a
	// spreadsheet saves with every cell empty): skipped, not counted.
	for err == nil && blankRecord(rec) {
		rec, err = f.r.Read()
	}
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	f.row++
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
			msg = "a quote is not closed or is misplaced (" + msg + ")"
		}
		if pe.StartLine != pe.Line {
			msg += fmt.Sprintf("; the row starts at line %d", pe.StartLine)
		}
		return nil, &CSVError{Row: f.row, Message: fmt.Sprintf("malformed CSV at line %d, column %d: %s", pe.Line, pe.Column, msg)}
	}
	if err != nil {
		return nil, &CSVError{Row: f.row, Message: "read the file: " + err.Error(), Err: err}
	}
	for _, v := range rec {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return nil, &CSVError{Row: f.row, Message: "the file is not UTF-8 text; save it as CSV UTF-8"}
		}
	}
	return rec, nil
}

// blankRecord says every field of rec is empty or spaces.
func blankRecord(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// Headers are the column names, trimmed.
func (f *CSVFile) Headers() []string { return f.headers }

// Next returns the next customer record, or io.EOF after the last one.
// A file with a header and no rows is refused.
func (f *CSVFile) Next() ([]string, error) {
	rec, err := f.read()
	if errors.Is(err, io.EOF) && f.row == 1 {
		return nil, &CSVError{Message: "the file has a header row but no customer rows"}
	}
	if err != nil {
		return nil, err
	}
	if f.row-1 > MaxImportRows {
		return nil, &CSVError{Row: f.row, Message: fmt.Sprintf("the file has more than %d customer rows; split it", MaxImportRows)}
	}
	for len(rec) > len(f.headers) && strings.TrimSpace(rec[len(rec)-1]) == "" {
		rec = rec[:len(rec)-1] // an empty cell of no column (a trailing separator)
	}
	if len(f.preview) < ImportPreviewRows {
		f.preview = append(f.preview, rec)
	}
	f.types = guessTypes(f.types, len(f.headers), rec)
	return rec, nil
}

// ColumnTypes are the types suggested for the columns (by position): the
// narrowest each column's cells fit, over every row read.
func (f *CSVFile) ColumnTypes() []string { return typesOf(f.types, len(f.headers)) }

// BytesRead is how much of the file has been read.
func (f *CSVFile) BytesRead() int64 { return f.bom + f.r.InputOffset() }

// Preview shows the header, the first rows read and a suggested mapping.
func (f *CSVFile) Preview() ImportPreview {
	rows := f.preview
	if rows == nil {
		rows = [][]string{}
	}
	return ImportPreview{Headers: f.headers, Rows: rows, SuggestedMapping: SuggestTypedMapping(f.headers, f.ColumnTypes()),
		Separator: f.Separator()}
}

// Separator is the field separator the file is read with: ",", ";" or a tab.
func (f *CSVFile) Separator() string { return string(f.r.Comma) }

// ImportPreview is what an upload shows before its import starts.
type ImportPreview struct {
	Headers          []string      `json:"headers"`
	Rows             [][]string    `json:"rows"`
	SuggestedMapping ImportMapping `json:"suggested_mapping"`
	// Separator is the field separator the file was read with: ",", ";"
	// or a tab.
	Separator string `json:"separator"`
}

// Attribute types of an import mapping.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeTime    = "time"
)

// ImportMapping says which column of the file holds what (docs/import.md).
// Columns it does not name are ignored. With a user_id column customers are
// matched by external id; without one, by email.
type ImportMapping struct {
	UserID     string             `json:"user_id,omitempty"`
	Email      string             `json:"email,omitempty"`
	Phone      string             `json:"phone,omitempty"`
	Timezone   string             `json:"timezone,omitempty"`
	Attributes []AttributeMapping `json:"attributes,omitempty"`
}

// AttributeMapping makes a column a custom attribute of a type.
type AttributeMapping struct {
	Column string `json:"column"`
	// Name of the attribute; dotted names nest (address.city).
	Name string `json:"name"`
	// Type is string (the default), number, boolean or time.
	Type string `json:"type,omitempty"`
}

// Key is how the mapping matches rows to customers: schema.ImportKeyUserID
// or schema.ImportKeyEmail.
func (m ImportMapping) Key() string {
	if m.UserID != "" {
		return schema.ImportKeyUserID
	}
	return schema.ImportKeyEmail
}

// MappingError is a mapping that does not fit its file; Field names the
// offending part of the mapping (mapping.attributes[2].column).
type MappingError struct {
	Field   string
	Message string
}

func (e *MappingError) Error() string { return e.Field + ": " + e.Message }

// FailedRowsColumns lead the CSV of an import's failed rows (GET
// /api/imports/{id}/failed_rows): where each row was and why it failed,
// before the row's own fields.
var FailedRowsColumns = []string{"import_row", "import_column", "import_error"}

// FailedRowsHeader is the header of the failed rows' CSV: FailedRowsColumns
// (each prefixed with "_" until it differs from the file's columns), then
// the file's header.
func FailedRowsHeader(headers []string) []string {
	out := make([]string, 0, len(FailedRowsColumns)+len(headers))
	for _, c := range FailedRowsColumns {
		for slices.Contains(headers, c) {
			c = "_" + c
		}
		out = append(out, c)
	}
	return append(out, headers...)
}

// failedRowsLead is how many of the first columns are those FailedRowsHeader
// put before a file's own (all of them or none): a corrected file of failed
// rows uploaded again gets no mapping suggested for them, while a column of
// the file's own with one of their names keeps its suggestion.
//
// A failed-rows file of a failed-rows file leads with two such groups
// (_import_row, _import_column, _import_error, import_row, …): all of them
// count.
func failedRowsLead(headers []string) int {
	lead := 0
	for len(headers)-lead >= len(FailedRowsColumns) {
		for i, c := range FailedRowsColumns {
			if strings.TrimLeft(headers[lead+i], "_") != c {
				return lead
			}
		}
		lead += len(FailedRowsColumns)
	}
	return lead
}

// reservedAttributes are names of built-in fields (DESIGN §4, §6), which
// custom attributes cannot take, in any case (an "Email" attribute beside
// the email field would be read for it).
var reservedAttributes = map[string]bool{"id": true, "user_id": true, "external_id": true, "email": true, "phone": true,
	"timezone": true, "created_at": true, "updated_at": true, "anonymous_ids": true, "attributes": true}

var attributeName = regexp.MustCompile(`^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$`)

// Validate checks the mapping against the file's columns.
func (m ImportMapping) Validate(headers []string) error {
	_, err := m.compile(headers)
	return err
}

// compiledMapping is a mapping resolved to column positions.
type compiledMapping struct {
	headers                        []string
	key                            string
	userID, email, phone, timezone int // -1: not mapped
	attrs                          []compiledAttribute
	// zones remembers which time zone names exist (loading one reads a file).
	zones map[string]bool
}

type compiledAttribute struct {
	col  int
	path []string
	typ  string
}

func (m ImportMapping) compile(headers []string) (*compiledMapping, error) {
	index := map[string]int{}
	for i, h := range headers {
		index[h] = i
	}
	column := func(field, name string) (int, error) {
		if name == "" {
			return -1, nil
		}
		i, ok := index[name]
		if !ok {
			return 0, &MappingError{Field: field, Message: fmt.Sprintf("the file has no column %q (columns: %s)", name, strings.Join(headers, ", "))}
		}
		return i, nil
	}
	if m.UserID == "" && m.Email == "" {
		return nil, &MappingError{Field: "mapping", Message: "map a user_id column or an email column: rows are matched to customers by one of them"}
	}
	c := &compiledMapping{headers: headers, key: m.Key(), zones: map[string]bool{}}
	var err error
	for _, b := range []struct {
		field, name string
		dst         *int
	}{{"mapping.user_id", m.UserID, &c.userID}, {"mapping.email", m.Email, &c.email}, {"mapping.phone", m.Phone, &c.phone},
		{"mapping.timezone", m.Timezone, &c.timezone}} {
		if *b.dst, err = column(b.field, b.name); err != nil {
			return nil, err
		}
	}
	names := map[string]bool{}
	for i, a := range m.Attributes {
		field := fmt.Sprintf("mapping.attributes[%d]", i)
		if a.Column == "" {
			return nil, &MappingError{Field: field + ".column", Message: "column is required"}
		}
		col, err := column(field+".column", a.Column)
		if err != nil {
			return nil, err
		}
		switch {
		case a.Name == "":
			return nil, &MappingError{Field: field + ".name", Message: "name is required"}
		case !attributeName.MatchString(a.Name):
			return nil, &MappingError{Field: field + ".name", Message: fmt.Sprintf("%q is not an attribute name (letters, digits, _ $ -, dots to nest)", a.Name)}
		case reservedAttributes[strings.ToLower(strings.Split(a.Name, ".")[0])]:
			return nil, &MappingError{Field: field + ".name", Message: fmt.Sprintf("%q is a built-in field (in any case), not a custom attribute; map user_id, email, phone and timezone by their own keys", a.Name)}
		case names[a.Name]:
			return nil, &MappingError{Field: field + ".name", Message: fmt.Sprintf("attribute %q is mapped twice", a.Name)}
		}
		for other := range names {
			if strings.HasPrefix(a.Name, other+".") || strings.HasPrefix(other, a.Name+".") {
				return nil, &MappingError{Field: field + ".name", Message: fmt.Sprintf("attributes %q and %q cannot both be mapped: one holds the other", other, a.Name)}
			}
		}
		names[a.Name] = true
		typ := a.Type
		switch typ {
		case "":
			typ = TypeString
		case TypeString, TypeNumber, TypeBoolean, TypeTime:
		default:
			return nil, &MappingError{Field: field + ".type", Message: fmt.Sprintf("type %q is not one of string, number, boolean, time", a.Type)}
		}
		c.attrs = append(c.attrs, compiledAttribute{col: col, path: strings.Split(a.Name, "."), typ: typ})
	}
	return c, nil
}

// customer turns a stored record into a customer, or says what is wrong
// with it (the first problem found).
func (c *compiledMapping) customer(fields []string) (schema.ImportedCustomer, *schema.ImportRowError) {
	var out schema.ImportedCustomer
	if len(fields) != len(c.headers) {
		return out, &schema.ImportRowError{Message: fmt.Sprintf("the row has %s; the header has %d", plural(len(fields), "field"), len(c.headers))}
	}
	value := func(col int) string {
		if col < 0 {
			return ""
		}
		return strings.TrimSpace(fields[col])
	}
	bad := func(col int, format string, args ...any) (schema.ImportedCustomer, *schema.ImportRowError) {
		return out, &schema.ImportRowError{Column: c.headers[col], Message: fmt.Sprintf(format, args...)}
	}
	out.ExternalID, out.Email, out.Phone, out.Timezone = value(c.userID), value(c.email), value(c.phone), value(c.timezone)
	// Lengths first: the other messages quote the value.
	for _, f := range [...]struct {
		name, v  string
		col, max int
	}{{"user_id", out.ExternalID, c.userID, MaxImportUserID}, {"email", out.Email, c.email, MaxImportEmail},
		{"phone", out.Phone, c.phone, MaxImportPhone}, {"timezone", out.Timezone, c.timezone, MaxImportTimezone}} {
		if len(f.v) > f.max && utf8.RuneCountInString(f.v) > f.max {
			return bad(f.col, "%s is longer than %d characters (%d)", f.name, f.max, utf8.RuneCountInString(f.v))
		}
	}
	switch {
	case c.key == schema.ImportKeyUserID && out.ExternalID == "":
		return bad(c.userID, "user_id is empty")
	case c.key == schema.ImportKeyEmail && out.Email == "":
		return bad(c.email, "email is empty (the import matches customers by email)")
	case out.Email != "" && !ValidEmail(out.Email):
		return bad(c.email, "%q is not an email address", out.Email)
	case out.Phone != "" && !ValidPhone(out.Phone):
		return bad(c.phone, "%q is not a phone number", out.Phone)
	case trunkZero.MatchString(out.Phone):
		return bad(c.phone, "%q: leave out the (0), which is not dialled after a country code (%s)", out.Phone,
			strings.Join(strings.Fields(strings.Replace(out.Phone, "(0)", "", 1)), " "))
	case out.Timezone != "" && !c.validTimezone(out.Timezone):
		return bad(c.timezone, "%q is not a time zone name (use an IANA name such as Europe/Paris)", out.Timezone)
	}
	for _, a := range c.attrs {
		raw := value(a.col)
		if raw == "" {
			continue // an empty cell leaves the attribute as it is
		}
		v, err := typedValue(a.typ, raw)
		if err != nil {
			return bad(a.col, "%s", err.Error())
		}
		if out.Attributes == nil {
			out.Attributes = map[string]any{}
		}
		setPath(out.Attributes, a.path, v)
	}
	return out, nil
}

func setPath(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// ValidEmail says s is a plain email address (no display name).
func ValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}

// ValidPhone says s is a phone number Herald can store as SMS providers
// take it (schema.PhoneNumber): 5 to 15 digits, spaces and -(). , a "+"
// only in front.
func ValidPhone(s string) bool {
	_, ok := schema.PhoneNumber(s)
	return ok
}

// trunkZero matches a trunk "(0)" written after a country code.
var trunkZero = regexp.MustCompile(`^\(?\s*\+[0-9 )]+\(0\)`)

func (c *compiledMapping) validTimezone(name string) bool {
	ok, seen := c.zones[name]
	if !seen {
		_, err := time.LoadLocation(name)
		ok = err == nil && name != "Local"
		c.zones[name] = ok
	}
	return ok
}

// timeLayouts are the time formats an import reads; times without a zone
// are UTC.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

// typedValue converts a cell as identify types traits: numbers become JSON
// numbers, booleans JSON booleans, times RFC 3339 strings in UTC.
func typedValue(typ, s string) (any, error) {
	switch typ {
	case TypeNumber:
		n, ok := decimalNumber(s)
		if !ok {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return n, nil
	case TypeBoolean:
		switch strings.ToLower(s) {
		case "true", "t", "yes", "y", "1":
			return true, nil
		case "false", "f", "no", "n", "0":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a boolean (true/false, yes/no, 1/0)", s)
	case TypeTime:
		t, ok := parseTime(s)
		if !ok {
			t, ok = unixTime(s)
		}
		if !ok {
			return nil, fmt.Errorf("%q is not a time (RFC 3339 such as 2024-05-01T09:30:00Z, a date such as 2024-05-01, or Unix seconds such as 1714555800)", s)
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			// Written so, it would be no RFC 3339 time ("10000-01-01T…"),
			// which segment conditions and ingest do not take as one.
			return nil, fmt.Errorf("%q is not a time between the years 1 and 9999 in UTC", s)
		}
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return s, nil
}

// decimalCell is a number as a spreadsheet writes one: a sign, digits
// with a "." for a fraction, an exponent.
var decimalCell = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// decimalNumber returns the cell s as a JSON number with every digit it
// has (a 19-digit account number stays exact, as ingest keeps traits'
// numbers); "+5", "007", ".5" and "5." are written 5, 7, 0.5 and 5. False
// when s is no such number ("1_000", "0x10", "NaN"), is past float64's
// range, which journeys could not read, or past what the database's
// numeric holds (1e-20000, which float64 reads as 0).
func decimalNumber(s string) (json.Number, bool) {
	if !decimalCell.MatchString(s) {
		return "", false
	}
	if f, err := strconv.ParseFloat(s, 64); err != nil || math.IsInf(f, 0) || !schema.NumericFits(s) {
		return "", false
	}
	sign := ""
	switch s[0] {
	case '-':
		sign, s = "-", s[1:]
	case '+':
		s = s[1:]
	}
	mantissa, exponent := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mantissa, exponent = s[:i], s[i:]
	}
	whole, fraction, _ := strings.Cut(mantissa, ".")
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	n := sign + whole
	if fraction != "" {
		n += "." + fraction
	}
	return json.Number(n + exponent), true
}

// unixCell is a Unix time as exports write one (Customer.io's, Braze's,
// a database's epoch column): 10 digits of seconds or 13 of milliseconds
// (2001-09-09 to 2286-11-20). Other lengths are not read as one: eight
// digits are more likely a date written 20240501.
var unixCell = regexp.MustCompile(`^([0-9]{10}|[0-9]{13})$`)

// unixTime reads a cell of a time column written as a Unix time.
func unixTime(s string) (time.Time, bool) {
	if !unixCell.MatchString(s) {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	if len(s) == 13 {
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Column names a suggested mapping recognises, compared without case,
// spaces or punctuation.
// (The user id, email and phone lists are the schema's: an erasure looks
// for a customer in the columns an upload's suggestion would read.)
var (
	userIDColumns   = schema.ImportUserIDColumns
	emailColumns    = schema.ImportEmailColumns
	phoneColumns    = schema.ImportPhoneColumns
	timezoneColumns = []string{"timezone", "tz", "zone"}
)

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// latinLetters writes the accented Latin letters of a lower-case column
// name without their accents ("prénom" → "prenom", "straße" →
// "strasse"), so that a suggested attribute name keeps the word rather
// than an underscore for each such letter.
func latinLetters(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// the accent of the letter before
		case latinDigraphs[r] != "":
			b.WriteString(latinDigraphs[r])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// latinDigraphs are the lower-case Latin letters without a decomposition
// into a letter and an accent, written as ASCII.
var latinDigraphs = map[rune]string{'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d", 'ð': "d", 'þ': "th", 'ı': "i"}

// SuggestMapping guesses a mapping from the column names (user id, email,
// phone and time zone by their usual names) and makes every other column an
// attribute, typed after the rows' values.
func SuggestMapping(headers []string, rows [][]string) ImportMapping {
	var types []typeGuess
	for _, r := range rows {
		types = guessTypes(types, len(headers), r)
	}
	return SuggestTypedMapping(headers, typesOf(types, len(headers)))
}

// SuggestTypedMapping is SuggestMapping with the attributes' types given
// by column position (CSVFile.ColumnTypes over every row of a file);
// a column without one is a string.
func SuggestTypedMapping(headers, types []string) ImportMapping {
	var m ImportMapping
	taken := map[int]bool{}
	for _, b := range []struct {
		names []string
		dst   *string
	}{{userIDColumns, &m.UserID}, {emailColumns, &m.Email}, {phoneColumns, &m.Phone}, {timezoneColumns, &m.Timezone}} {
	find:
		for _, want := range b.names {
			for i, h := range headers {
				if !taken[i] && schema.ColumnKey(h) == want {
					*b.dst, taken[i] = h, true
					break find
				}
			}
		}
	}
	names := map[string]bool{}
	lead := failedRowsLead(headers)
	for i, h := range headers {
		if taken[i] || i < lead {
			continue
		}
		name := strings.Trim(nonAlnum.ReplaceAllString(latinLetters(strings.ToLower(h)), "_"), "_")
		if name == "" || reservedAttributes[name] {
			name = "csv_" + name
		}
		for n, base := 2, name; names[name]; n++ {
			name = fmt.Sprintf("%s_%d", base, n)
		}
		names[name] = true
		typ := TypeString
		if i < len(types) && types[i] != "" {
			typ = types[i]
		}
		m.Attributes = append(m.Attributes, AttributeMapping{Column: h, Name: name, Type: typ})
	}
	return m
}

// longInteger says s is an integer of more than 15 digits: an id or an
// account number, which a spreadsheet or JavaScript would round.
func longInteger(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return len(s) > 15 && strings.Trim(s, "0123456789") == ""
}

// typeGuess is what the non-empty cells of a column seen so far rule out.
type typeGuess struct {
	seen                        bool
	notNumber, notBool, notTime bool
}

// add rules out the types cell s does not fit.
func (g *typeGuess) add(s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	g.seen = true
	if !g.notNumber {
		if _, err := typedValue(TypeNumber, s); err != nil || zeroPadded(s) || strings.HasPrefix(s, "+") || longInteger(s) {
			// 00123 is a code (a ZIP code, an account), +33612345678 a phone
			// number, 1234567890123456789 an id: as written.
			g.notNumber = true
		}
	}
	if !g.notBool {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no":
		default:
			g.notBool = true
		}
	}
	if !g.notTime {
		if _, ok := parseTime(s); !ok {
			g.notTime = true
		}
	}
}

// typ is the narrowest type every cell seen has: number, then boolean,
// then time, else string.
func (g typeGuess) typ() string {
	switch {
	case !g.seen:
		return TypeString
	case !g.notNumber:
		return TypeNumber
	case !g.notBool:
		return TypeBoolean
	case !g.notTime:
		return TypeTime
	}
	return TypeString
}

// guessTypes adds a record's cells to the guesses of a file's columns
// (cells under no column are not guessed).
func guessTypes(g []typeGuess, columns int, rec []string) []typeGuess {
	if g == nil {
		g = make([]typeGuess, columns)
	}
	for i := range min(columns, len(rec)) {
		g[i].add(rec[i])
	}
	return g
}

// typesOf is the type of each of the columns.
func typesOf(g []typeGuess, columns int) []string {
	out := make([]string, columns)
	for i := range out {
		out[i] = TypeString
		if i < len(g) {
			out[i] = g[i].typ()
		}
	}
	return out
}

// plural writes n and the noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
