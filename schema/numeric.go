package schema

import (
	"strconv"
	"strings"
)

// Postgres's numeric, which jsonb stores numbers as, holds at most this
// many digits before the decimal point and after it (the digits as
// written: trailing zeros after the point count).
const (
	NumericMaxIntegerDigits  = 131072
	NumericMaxFractionDigits = 16383
)

// NumericFits says whether Postgres's numeric (and so a jsonb value) can
// hold the decimal number s — an optional sign, digits with an optional
// point, an optional exponent, as JSON or a spreadsheet writes one.
// 1e-20000 and 1e200000 do not fit: Postgres refuses them ("value
// overflows numeric format"), where Go's float64 reads the first as 0.
// Numbers of at most 300 characters without an exponent always fit and
// are not looked at further.
func NumericFits(s string) bool {
	mantissa, exp, hasExp := s, 0, false
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		// Postgres refuses exponents from ±(2^30 − 1) on whatever the
		// digits (15: at that bound; 16 and later: past it), zero too.
		if err != nil || e >= 1<<30-1 || e <= -(1<<30-1) {
			return false
		}
		mantissa, exp, hasExp = s[:i], e, true
	}
	if !hasExp && len(s) <= 300 {
		return true
	}
	mantissa = strings.TrimLeft(mantissa, "+-")
	whole, fraction, _ := strings.Cut(mantissa, ".")
	if len(fraction)-exp > NumericMaxFractionDigits {
		return false
	}
	digits := whole + fraction
	first := strings.IndexFunc(digits, func(r rune) bool { return r != '0' })
	if first < 0 {
		return true // zero: no digits before the point whatever the exponent
	}
	return len(whole)+exp-first <= NumericMaxIntegerDigits
}
