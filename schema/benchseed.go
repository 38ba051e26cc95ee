package schema

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BenchSeed describes the synthetic customers and events that segment
// benchmarks (`herald bench segments`, BenchmarkSegmentPreview) measure:
// customer i of 1..Customers has plan pro (every tenth), team or free, an
// age, a country, address.city (500 cities), created_at and signed_up_at up
// to 1000 hours before Now, and EventsPerCustomer events named Purchased,
// Viewed (twice as often), Clicked or Signed Up spread over the 90 days
// before Now.
type BenchSeed struct {
	// IDPrefix starts every customer id (IDPrefix + the number padded to 8
	// digits); ids are unique across workspaces, so each seeding needs its own.
	IDPrefix          string
	Customers         int
	EventsPerCustomer int
	// Cohort customers, spread evenly over the numbers, get the attribute
	// cohort = "enroll": a segment of exactly that size.
	Cohort int
	Now    time.Time
}

// benchSeedChunk is how many customers (with their events) one statement adds.
const benchSeedChunk = 50_000

// SeedBench adds seed's customers and events to a workspace with set-based
// inserts (generate_series, no round trip per row), reporting the customers
// done so far to progress (may be nil), then vacuums and analyzes the two
// tables so plans see the new rows. For benchmarks only.
func (s *Store) SeedBench(ctx context.Context, workspaceID string, seed BenchSeed, progress func(customers int)) error {
	switch {
	case seed.IDPrefix == "":
		return errors.New("seed bench: an id prefix is required")
	case seed.Customers < 1 || seed.Customers > 99_999_999:
		return errors.New("seed bench: customers must be from 1 to 99999999")
	case seed.EventsPerCustomer < 0 || seed.Cohort < 0 || seed.Cohort > seed.Customers:
		return errors.New("seed bench: events per customer and cohort must not be negative, cohort at most customers")
	}
	for from := 1; from <= seed.Customers; from += benchSeedChunk {
		to := min(seed.Customers, from+benchSeedChunk-1)
		// Customer i is in the cohort when floor(i·K/N) steps up at i:
		// exactly K of N, evenly spread.
		_, err := s.pool.Exec(ctx, `
			INSERT INTO customers (id, workspace_id, external_id, email, attributes, created_at)
			SELECT $1 || lpad(i::text, 8, '0'), $2, 'user-' || i, 'user' || i || '@example.com',
				jsonb_build_object('plan', CASE WHEN i % 10 = 0 THEN 'pro' WHEN i % 10 < 4 THEN 'team' ELSE 'free' END,
					'age', 18 + i % 60, 'country', (ARRAY['FR','DE','US','GB','JP'])[1 + i % 5],
					'address', jsonb_build_object('city', 'city-' || (i % 500)),
					'signed_up_at', to_char(($3::timestamptz - (i % 1000) * interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
				|| CASE WHEN (i::bigint * $6) / $7 > ((i - 1)::bigint * $6) / $7 THEN '{"cohort":"enroll"}'::jsonb ELSE '{}'::jsonb END,
				$3::timestamptz - (i % 1000) * interval '1 hour'
			FROM generate_series($4::int, $5::int) AS i`,
			seed.IDPrefix, workspaceID, seed.Now, from, to, seed.Cohort, seed.Customers)
		if err != nil {
			return fmt.Errorf("seed bench customers %d–%d: %w", from, to, err)
		}
		if seed.EventsPerCustomer > 0 {
			_, err = s.pool.Exec(ctx, `
				INSERT INTO events (workspace_id, message_id, customer_id, type, name, properties, occurred_at)
				SELECT $1, 'b-' || i || '-' || j, $2 || lpad(i::text, 8, '0'), 'track',
					(ARRAY['Purchased','Viewed','Viewed','Clicked','Signed Up'])[1 + (i * 7 + j * 3) % 5],
					jsonb_build_object('total', (i * j) % 400),
					$3::timestamptz - ((i * 13 + j * 29) % (90 * 24)) * interval '1 hour'
				FROM generate_series($4::int, $5::int) AS i, generate_series(1, $6::int) AS j`,
				workspaceID, seed.IDPrefix, seed.Now, from, to, seed.EventsPerCustomer)
			if err != nil {
				return fmt.Errorf("seed bench events of customers %d–%d: %w", from, to, err)
			}
		}
		if progress != nil {
			progress(to)
		}
	}
	for _, table := range []string{"customers", "events"} {
		if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE `+table); err != nil {
			return fmt.Errorf("vacuum analyze %s: %w", table, err)
		}
	}
	return nil
}
