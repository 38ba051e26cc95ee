package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Customer is a person known to a workspace (DESIGN §4).
type Customer struct {
	ID           string          `json:"id"`
	ExternalID   *string         `json:"external_id"`
	AnonymousIDs []string        `json:"anonymous_ids"`
	Email        *string         `json:"email"`
	Phone        *string         `json:"phone"`
	Timezone     *string         `json:"timezone"`
	Attributes   json.RawMessage `json:"attributes"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

// EventInput is a validated customer event to apply.
type EventInput struct {
	WorkspaceID string
	MessageID   string
	Type        string // identify, track, page, screen, group, alias
	Name        string
	UserID      string
	AnonymousID string
	PreviousID  string // alias: the id being merged into UserID
	Properties  json.RawMessage
	Traits      map[string]any
	Context     json.RawMessage
	OccurredAt  time.Time
}

// AppliedEvent says what ApplyEvent did.
type AppliedEvent struct {
	CustomerID string
	EventID    int64
	// Duplicate is true when the message id was applied before; nothing changed.
	Duplicate bool
	// MergedFrom is the anonymous customer this event merged into CustomerID
	// (its events, runs and deliveries now belong to CustomerID).
	MergedFrom string
}

// ApplyEvent resolves (or creates) the event's customer, stores the event
// once per (workspace, message id) and, for identify, merges the traits
// into the profile — all in one transaction. A duplicate changes nothing.
func (s *Store) ApplyEvent(ctx context.Context, ev EventInput) (AppliedEvent, error) {
	var out AppliedEvent
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialise work on the same identities across partitions and processes.
		keys := []string{}
		for _, id := range []string{ev.UserID, ev.AnonymousID, ev.PreviousID} {
			if id != "" {
				keys = append(keys, ev.WorkspaceID+"/"+id)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, k); err != nil {
				return fmt.Errorf("lock identity: %w", err)
			}
		}
		var dup bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE workspace_id = $1 AND message_id = $2)`,
			ev.WorkspaceID, ev.MessageID).Scan(&dup); err != nil {
			return fmt.Errorf("check duplicate event: %w", err)
		}
		if dup {
			out.Duplicate = true
			return tx.QueryRow(ctx, `SELECT customer_id, id FROM events WHERE workspace_id = $1 AND message_id = $2`,
				ev.WorkspaceID, ev.MessageID).Scan(&out.CustomerID, &out.EventID)
		}
		anon := ev.AnonymousID
		if ev.Type == "alias" {
			anon = ev.PreviousID
		}
		customerID, merged, err := resolveCustomer(ctx, tx, ev.WorkspaceID, ev.UserID, anon)
		if err != nil {
			return err
		}
		out.CustomerID, out.MergedFrom = customerID, merged
		props := ev.Properties
		if len(props) == 0 {
			props = json.RawMessage(`{}`)
		}
		evCtx := ev.Context
		if len(evCtx) == 0 {
			evCtx = json.RawMessage(`{}`)
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO events (workspace_id, message_id, customer_id, type, name, properties, context, occurred_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			ev.WorkspaceID, ev.MessageID, customerID, ev.Type, ev.Name, props, evCtx, ev.OccurredAt).Scan(&out.EventID); err != nil {
			return fmt.Errorf("insert event: %w", err)
		}
		if ev.Type == "identify" && len(ev.Traits) > 0 {
			if err := mergeTraits(ctx, tx, ev.WorkspaceID, customerID, ev.Traits); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// resolveCustomer finds the customer for a user id and/or anonymous id,
// creating it, attaching the anonymous id, or merging an anonymous profile
// into the known one as needed. The caller holds the identity locks.
func resolveCustomer(ctx context.Context, tx pgx.Tx, ws, userID, anonID string) (id, mergedFrom string, err error) {
	var known, anonOwner string
	var anonOwnerKnown bool
	if userID != "" {
		err := tx.QueryRow(ctx, `SELECT id FROM customers WHERE workspace_id = $1 AND external_id = $2`, ws, userID).Scan(&known)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return "", "", fmt.Errorf("find customer by user id: %w", err)
		}
	}
	if anonID != "" {
		err := tx.QueryRow(ctx, `
			SELECT a.customer_id, c.external_id IS NOT NULL FROM customer_anonymous_ids a
			JOIN customers c ON c.id = a.customer_id
			WHERE a.workspace_id = $1 AND a.anonymous_id = $2`, ws, anonID).Scan(&anonOwner, &anonOwnerKnown)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return "", "", fmt.Errorf("find customer by anonymous id: %w", err)
		}
	}
	switch {
	case userID == "":
		if anonOwner != "" {
			return anonOwner, "", nil
		}
		id := NewID("cus")
		if _, err := tx.Exec(ctx, `INSERT INTO customers (id, workspace_id) VALUES ($1, $2)`, id, ws); err != nil {
			return "", "", fmt.Errorf("insert customer: %w", err)
		}
		return id, "", attachAnonymous(ctx, tx, ws, anonID, id)
	case known == "" && anonOwner != "" && !anonOwnerKnown:
		// The anonymous profile becomes the known one.
		if _, err := tx.Exec(ctx, `UPDATE customers SET external_id = $3, updated_at = now() WHERE workspace_id = $1 AND id = $2`,
			ws, anonOwner, userID); err != nil {
			return "", "", fmt.Errorf("identify anonymous customer: %w", err)
		}
		return anonOwner, "", nil
	case known == "":
		known = NewID("cus")
		if _, err := tx.Exec(ctx, `INSERT INTO customers (id, workspace_id, external_id) VALUES ($1, $2, $3)`, known, ws, userID); err != nil {
			return "", "", fmt.Errorf("insert customer: %w", err)
		}
	}
	if anonID == "" || anonOwner == known {
		return known, "", nil
	}
	if anonOwner == "" {
		return known, "", attachAnonymous(ctx, tx, ws, anonID, known)
	}
	if !anonOwnerKnown {
		return known, anonOwner, mergeCustomers(ctx, tx, ws, anonOwner, known)
	}
	// The anonymous id belongs to another known customer: keep both as they are.
	return known, "", nil
}

func attachAnonymous(ctx context.Context, tx pgx.Tx, ws, anonID, customerID string) error {
	if anonID == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO customer_anonymous_ids (workspace_id, anonymous_id, customer_id) VALUES ($1, $2, $3)`,
		ws, anonID, customerID)
	if err != nil {
		return fmt.Errorf("attach anonymous id: %w", err)
	}
	return nil
}

// mergeCustomers moves everything of the anonymous profile from — events,
// anonymous ids, runs, deliveries — into the known profile into, records the
// merge in the audit log, then deletes from. Attributes of into win.
func mergeCustomers(ctx context.Context, tx pgx.Tx, ws, from, into string) error {
	stmts := []string{
		`UPDATE events SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
		`UPDATE customer_anonymous_ids SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
		`UPDATE runs SET customer_id = $3, updated_at = now() WHERE workspace_id = $1 AND customer_id = $2`,
		`UPDATE deliveries SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
		`INSERT INTO audit_log (workspace_id, actor, action, subject_type, subject_id, detail)
		 VALUES ($1, 'ingest', 'merge', 'customer', $3, jsonb_build_object('merged_from', $2::text))`,
		`UPDATE customers AS k SET
			attributes = a.attributes || k.attributes,
			email = coalesce(k.email, a.email), phone = coalesce(k.phone, a.phone),
			timezone = coalesce(k.timezone, a.timezone), updated_at = now()
		 FROM customers a WHERE k.workspace_id = $1 AND a.workspace_id = $1 AND a.id = $2 AND k.id = $3`,
		`DELETE FROM customers WHERE workspace_id = $1 AND id = $2 AND id <> $3`,
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q, ws, from, into); err != nil {
			return fmt.Errorf("merge customer %s into %s: %w", from, into, err)
		}
	}
	return nil
}

// builtinTraits are traits stored in their own columns.
var builtinTraits = map[string]string{"email": "email", "phone": "phone", "timezone": "timezone"}

func mergeTraits(ctx context.Context, tx pgx.Tx, ws, customerID string, traits map[string]any) error {
	custom := map[string]any{}
	cols := map[string]*string{}
	for k, v := range traits {
		if col, ok := builtinTraits[k]; ok {
			if s, ok := v.(string); ok {
				cols[col] = &s
				continue
			}
		}
		custom[k] = v
	}
	b, err := json.Marshal(custom)
	if err != nil {
		return fmt.Errorf("encode traits: %w", err)
	}
	_, err = tx.Exec(ctx, `
		UPDATE customers SET attributes = attributes || $3::jsonb,
			email = coalesce($4, email), phone = coalesce($5, phone), timezone = coalesce($6, timezone),
			updated_at = now()
		WHERE workspace_id = $1 AND id = $2`, ws, customerID, b, cols["email"], cols["phone"], cols["timezone"])
	if err != nil {
		return fmt.Errorf("merge traits: %w", err)
	}
	return nil
}

// GetCustomer loads one customer of the workspace with their anonymous ids.
func (s *Store) GetCustomer(ctx context.Context, workspaceID, id string) (Customer, error) {
	var c Customer
	err := s.pool.QueryRow(ctx, `
		SELECT id, external_id, email, phone, timezone, attributes, created_at, updated_at,
			coalesce((SELECT array_agg(anonymous_id ORDER BY created_at) FROM customer_anonymous_ids a
			          WHERE a.workspace_id = c.workspace_id AND a.customer_id = c.id), '{}')
		FROM customers c WHERE workspace_id = $1 AND id = $2`, workspaceID, id).
		Scan(&c.ID, &c.ExternalID, &c.Email, &c.Phone, &c.Timezone, &c.Attributes, &c.CreatedAt, &c.UpdatedAt, &c.AnonymousIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return Customer{}, ErrNotFound
	}
	if err != nil {
		return Customer{}, fmt.Errorf("load customer %s: %w", id, err)
	}
	return c, nil
}

// FindCustomer resolves a user id or anonymous id to the customer.
func (s *Store) FindCustomer(ctx context.Context, workspaceID, userOrAnonymousID string) (Customer, error) {
	var id string
	err := s.pool.QueryRow(ctx, `
		SELECT id FROM customers WHERE workspace_id = $1 AND external_id = $2
		UNION ALL
		SELECT customer_id FROM customer_anonymous_ids WHERE workspace_id = $1 AND anonymous_id = $2
		LIMIT 1`, workspaceID, userOrAnonymousID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Customer{}, ErrNotFound
	}
	if err != nil {
		return Customer{}, fmt.Errorf("find customer: %w", err)
	}
	return s.GetCustomer(ctx, workspaceID, id)
}

// StoredEvent is an event as kept in the timeline.
type StoredEvent struct {
	ID         int64           `json:"id"`
	MessageID  string          `json:"message_id"`
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Properties json.RawMessage `json:"properties"`
	OccurredAt time.Time       `json:"occurred_at"`
	ReceivedAt time.Time       `json:"received_at"`
}

// ListCustomerEvents returns a customer's events in the order they were applied.
func (s *Store) ListCustomerEvents(ctx context.Context, workspaceID, customerID string, limit int) ([]StoredEvent, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, message_id, type, name, properties, occurred_at, received_at FROM events
		WHERE workspace_id = $1 AND customer_id = $2 ORDER BY id LIMIT $3`, workspaceID, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredEvent, error) {
		var e StoredEvent
		err := r.Scan(&e.ID, &e.MessageID, &e.Type, &e.Name, &e.Properties, &e.OccurredAt, &e.ReceivedAt)
		return e, err
	})
}

// UpdateCustomerAttributes sets and removes attributes (and the built-in
// email, phone and timezone fields when named).
func (s *Store) UpdateCustomerAttributes(ctx context.Context, workspaceID, customerID string, set map[string]any, unset []string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(set) > 0 {
			if err := mergeTraits(ctx, tx, workspaceID, customerID, set); err != nil {
				return err
			}
		}
		for _, k := range unset {
			var err error
			if col, ok := builtinTraits[k]; ok {
				_, err = tx.Exec(ctx, `UPDATE customers SET `+col+` = NULL, updated_at = now() WHERE workspace_id = $1 AND id = $2`, workspaceID, customerID)
			} else {
				_, err = tx.Exec(ctx, `UPDATE customers SET attributes = attributes - $3, updated_at = now() WHERE workspace_id = $1 AND id = $2`, workspaceID, customerID, k)
			}
			if err != nil {
				return fmt.Errorf("unset %s: %w", k, err)
			}
		}
		return nil
	})
}

// EnsureCustomer returns the customer with external id userID, creating it
// if needed (API-triggered entry for a customer not seen yet).
func (s *Store) EnsureCustomer(ctx context.Context, workspaceID, userID string) (Customer, error) {
	var id string
	err := s.pool.QueryRow(ctx, `
		INSERT INTO customers (id, workspace_id, external_id) VALUES ($1, $2, $3)
		ON CONFLICT (workspace_id, external_id) WHERE external_id IS NOT NULL DO UPDATE SET updated_at = customers.updated_at
		RETURNING id`, NewID("cus"), workspaceID, userID).Scan(&id)
	if err != nil {
		return Customer{}, fmt.Errorf("ensure customer: %w", err)
	}
	return s.GetCustomer(ctx, workspaceID, id)
}
