package workflows

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// durationHint is appended to every duration error so the marketer sees what
// to write instead.
const durationHint = `expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`

// ParseDuration parses a journey duration ("90m", "2d", "1w", "1d12h",
// "48h"): Go's duration syntax plus days (d = 24h) and weeks (w = 7d), as
// marketers write them in delays, timeouts, windows and periods. Only
// positive durations are accepted; a day is always 24 hours, whatever the
// calendar does.
func ParseDuration(s string) (time.Duration, error) {
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("invalid duration %q: no sign allowed; %s", s, durationHint)
	}
	d, err := parseUnsignedDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("invalid duration %q: must be greater than zero; %s", s, durationHint)
	}
	return d, nil
}

// ParseOffset parses a signed journey duration such as "-1h", "+2d" or "30m",
// used where a time may be moved earlier or later (a delay's offset from an
// attribute time). Zero is allowed.
func ParseOffset(s string) (time.Duration, error) {
	neg := false
	rest := s
	switch {
	case strings.HasPrefix(s, "-"):
		neg, rest = true, s[1:]
	case strings.HasPrefix(s, "+"):
		rest = s[1:]
	}
	if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
		return 0, fmt.Errorf("invalid offset %q: %s, optionally signed", s, durationHint)
	}
	d, err := parseUnsignedDuration(rest)
	if err != nil {
		return 0, fmt.Errorf("invalid offset %q: %s, optionally signed (e.g. \"-1h\")", s, durationHint)
	}
	if neg {
		d = -d
	}
	return d, nil
}

// parseUnsignedDuration sums the components of s ("1d12h30m"), each a
// decimal number followed by a unit. Go's units are parsed by
// time.ParseDuration; d and w are turned into hours first so fractions
// ("1.5d") stay exact.
func parseUnsignedDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("invalid duration %q: empty; %s", s, durationHint)
	}
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && (rest[i] == '.' || ('0' <= rest[i] && rest[i] <= '9')) {
			i++
		}
		num := rest[:i]
		j := i
		for j < len(rest) && rest[j] != '.' && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unit := rest[i:j]
		rest = rest[j:]
		if num == "" || unit == "" {
			return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
		}
		var part time.Duration
		var err error
		switch unit {
		case "d", "w":
			hours := int64(24)
			if unit == "w" {
				hours = 24 * 7
			}
			part, err = time.ParseDuration(num + "h")
			if err == nil {
				if part > time.Duration(math.MaxInt64/hours) {
					return 0, fmt.Errorf("invalid duration %q: too long; %s", s, durationHint)
				}
				part *= time.Duration(hours)
			}
		default:
			part, err = time.ParseDuration(num + unit)
		}
		if err != nil {
			switch {
			case !knownUnit(unit):
				return 0, fmt.Errorf("invalid duration %q: unknown unit %q; %s", s, unit, durationHint)
			case decimal(num):
				// A well-formed number with a known unit fails only by overflowing.
				return 0, fmt.Errorf("invalid duration %q: too long; %s", s, durationHint)
			}
			return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
		}
		if total > math.MaxInt64-part {
			return 0, fmt.Errorf("invalid duration %q: too long; %s", s, durationHint)
		}
		total += part
	}
	return total, nil
}

func knownUnit(u string) bool {
	switch u {
	case "ns", "us", "µs", "μs", "ms", "s", "m", "h", "d", "w":
		return true
	}
	return false
}

// decimal reports whether s is digits with at most one dot and at least one
// digit: "2", "1.5", ".5", "3.".
func decimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '.':
			dots++
		case '0' <= s[i] && s[i] <= '9':
			digits++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}
