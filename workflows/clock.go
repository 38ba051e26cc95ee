package workflows

import (
	"fmt"
	"strings"
	"time"
)

// Pure time arithmetic for delays, time windows and quiet hours. Every
// function takes "now" and a location: nothing here reads a clock.

// parseClock parses "HH:MM" into minutes after midnight.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day like 09:30", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func minuteOfDay(t time.Time) int { return t.Hour()*60 + t.Minute() }

func atMinute(day time.Time, minute int) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d, minute/60, minute%60, 0, 0, day.Location())
}

// NextClockTime is the next occurrence of clock ("09:00") at or after now in loc.
func NextClockTime(now time.Time, clock string, loc *time.Location) (time.Time, error) {
	min, err := parseClock(clock)
	if err != nil {
		return time.Time{}, err
	}
	local := now.In(loc)
	t := atMinute(local, min)
	if t.Before(local) {
		t = atMinute(local.AddDate(0, 0, 1), min)
	}
	return t, nil
}

// inDailyWindow says whether minute m lies in [from, to), windows may wrap midnight.
func inDailyWindow(m, from, to int) bool {
	if from == to {
		return true
	}
	if from < to {
		return m >= from && m < to
	}
	return m >= from || m < to
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// NextWindowTime returns now if now is inside the window (days, from–to in
// loc), else the window's next start. A window that wraps midnight belongs
// to the day it starts on.
func NextWindowTime(now time.Time, days []string, from, to string, loc *time.Location) (time.Time, error) {
	f, err := parseClock(from)
	if err != nil {
		return time.Time{}, err
	}
	t, err := parseClock(to)
	if err != nil {
		return time.Time{}, err
	}
	allowed := map[time.Weekday]bool{}
	for _, d := range days {
		wd, ok := weekdays[strings.ToLower(d)]
		if !ok {
			return time.Time{}, fmt.Errorf("%q is not a day (mon … sun)", d)
		}
		allowed[wd] = true
	}
	if len(allowed) == 0 {
		for _, wd := range weekdays {
			allowed[wd] = true
		}
	}
	local := now.In(loc)
	m := minuteOfDay(local)
	wraps := f > t
	switch {
	case !wraps && allowed[local.Weekday()] && inDailyWindow(m, f, t):
		return now, nil
	case wraps && allowed[local.Weekday()] && m >= f:
		return now, nil
	case wraps && m < t && allowed[local.AddDate(0, 0, -1).Weekday()]:
		return now, nil
	}
	for i := 0; i <= 7; i++ {
		day := local.AddDate(0, 0, i)
		if !allowed[day.Weekday()] {
			continue
		}
		start := atMinute(day, f)
		if !start.Before(local) {
			return start, nil
		}
	}
	return time.Time{}, fmt.Errorf("no window found")
}

// QuietHoursEnd returns now when now is outside quiet hours (start–end,
// usually wrapping midnight, in loc), else the time they end.
func QuietHoursEnd(now time.Time, start, end string, loc *time.Location) (time.Time, error) {
	s, err := parseClock(start)
	if err != nil {
		return time.Time{}, err
	}
	e, err := parseClock(end)
	if err != nil {
		return time.Time{}, err
	}
	local := now.In(loc)
	m := minuteOfDay(local)
	if s == e || !inDailyWindow(m, s, e) {
		return now, nil
	}
	t := atMinute(local, e)
	if !t.After(local) {
		t = atMinute(local.AddDate(0, 0, 1), e)
	}
	return t, nil
}

// location resolves a time zone name, falling back to the next name, then UTC.
func location(names ...string) *time.Location {
	for _, n := range names {
		if n == "" {
			continue
		}
		if loc, err := time.LoadLocation(n); err == nil {
			return loc
		}
	}
	return time.UTC
}
