package schema

import (
	"context"
	"fmt"
	"time"
)

// SeriesPoint is one bucket of a journey's results over time: runs that
// entered, completed and converted in it, and messages that reached each
// delivery status in it.
type SeriesPoint struct {
	T           time.Time `json:"t"`
	Entries     int       `json:"entries"`
	Completed   int       `json:"completed"`
	Conversions int       `json:"conversions"`
	Sent        int       `json:"sent"`
	Delivered   int       `json:"delivered"`
	Opened      int       `json:"opened"`
	Clicked     int       `json:"clicked"`
	Bounced     int       `json:"bounced"`
	Failed      int       `json:"failed"`
	Suppressed  int       `json:"suppressed"`
}

// seriesBuckets returns the starts of points buckets of interval ("hour"
// or "day") in loc, oldest first, the last one holding now.
func seriesBuckets(interval string, points int, now time.Time, loc *time.Location) []time.Time {
	now = now.In(loc)
	last := time.Date(now.Year(), now.Month(), now.Day(), now.Hour(), 0, 0, 0, loc)
	if interval == "day" {
		last = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	}
	out := make([]time.Time, points)
	for i := points - 1; i >= 0; i-- {
		out[i] = last
		if interval == "day" {
			last = time.Date(last.Year(), last.Month(), last.Day()-1, 0, 0, 0, 0, loc)
		} else {
			last = last.Add(-time.Hour)
		}
	}
	return out
}

// JourneySeries counts a journey's results per bucket of interval ("hour"
// or "day", in the time zone tz) for the points buckets ending now.
func (s *Store) JourneySeries(ctx context.Context, workspaceID, journeyID, interval string, points int, tz string, now time.Time) ([]SeriesPoint, error) {
	if interval != "hour" && interval != "day" {
		return nil, fmt.Errorf("interval %q: want hour or day", interval)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", tz, err)
	}
	buckets := seriesBuckets(interval, points, now, loc)
	out := make([]SeriesPoint, len(buckets))
	index := make(map[int64]*SeriesPoint, len(buckets))
	for i, b := range buckets {
		out[i].T = b.UTC()
		index[b.Unix()] = &out[i]
	}
	from := buckets[0]
	count := func(sql string, add func(p *SeriesPoint, status string, n int)) error {
		rows, err := s.pool.Query(ctx, sql, workspaceID, journeyID, interval, from, loc.String())
		if err != nil {
			return fmt.Errorf("query journey series: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t time.Time
			var status string
			var n int
			if err := rows.Scan(&t, &status, &n); err != nil {
				return fmt.Errorf("scan journey series: %w", err)
			}
			if p := index[t.Unix()]; p != nil {
				add(p, status, n)
			}
		}
		return rows.Err()
	}
	runs := `SELECT date_trunc($3, %[1]s, $5), '', count(*) FROM runs
		WHERE workspace_id = $1 AND journey_id = $2 AND %[1]s >= $4 %[2]s GROUP BY 1`
	if err := count(fmt.Sprintf(runs, "started_at", ""), func(p *SeriesPoint, _ string, n int) { p.Entries += n }); err != nil {
		return nil, err
	}
	if err := count(fmt.Sprintf(runs, "ended_at", "AND status = 'completed'"), func(p *SeriesPoint, _ string, n int) { p.Completed += n }); err != nil {
		return nil, err
	}
	if err := count(fmt.Sprintf(runs, "converted_at", ""), func(p *SeriesPoint, _ string, n int) { p.Conversions += n }); err != nil {
		return nil, err
	}
	err = count(`SELECT date_trunc($3, e.created_at, $5), e.status, count(DISTINCT e.delivery_id)
		FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id AND d.workspace_id = e.workspace_id
		WHERE d.workspace_id = $1 AND d.journey_id = $2 AND e.created_at >= $4 GROUP BY 1, 2`,
		func(p *SeriesPoint, status string, n int) {
			switch status {
			case "sent":
				p.Sent += n
			case "delivered":
				p.Delivered += n
			case "opened":
				p.Opened += n
			case "clicked":
				p.Clicked += n
			case "bounced", "complained":
				p.Bounced += n
			case "failed":
				p.Failed += n
			case "suppressed":
				p.Suppressed += n
			}
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}
