package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "90m", want: 90 * time.Minute},
		{in: "48h", want: 48 * time.Hour},
		{in: "2d", want: 2 * day},
		{in: "1w", want: 7 * day},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1w2d3h4m5s", want: 9*day + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "0.5w", want: 84 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "2d2d", want: 4 * day},

		{in: "", err: "empty"},
		{in: "0", err: "greater than zero"},
		{in: "0d", err: "greater than zero"},
		{in: "-1h", err: "no sign"},
		{in: "+1h", err: "no sign"},
		{in: "2", err: `expected a number with a unit`},
		{in: "d", err: `expected a number with a unit`},
		{in: "2 days", err: `expected a number with a unit`},
		{in: "2days", err: `unknown unit "days"`},
		{in: "3y", err: `unknown unit "y"`},
		{in: "1..5h", err: `expected a number with a unit`},
		{in: "abc", err: `expected a number with a unit`},
		{in: "100000000w", err: "too long"},
		{in: "106751d106751d", err: "too long"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.ErrorContains(t, err, `"90m"`, "errors show the expected format")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseDurationTooLongMessage(t *testing.T) {
	_, err := ParseDuration("100000000w")
	require.EqualError(t, err, `invalid duration "100000000w": too long; expected a number with a unit (ms, s, m, h, d or w), e.g. "90m", "2d", "1w", "1d12h"`)
}

func TestParseOffset(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "-1h", want: -time.Hour},
		{in: "+2d", want: 48 * time.Hour},
		{in: "2d", want: 48 * time.Hour},
		{in: "-1d12h", want: -36 * time.Hour},
		{in: "0", want: 0},
		{in: "", err: true},
		{in: "-", err: true},
		{in: "--1h", err: true},
		{in: "-+1h", err: true},
		{in: "1x", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseOffset(tc.in)
			if tc.err {
				require.ErrorContains(t, err, "optionally signed")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
