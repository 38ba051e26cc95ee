package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
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
	out, err := s.ApplyEvents(ctx, []EventInput{ev})
	if err != nil {
		return AppliedEvent{}, err
	}
	return out[0], nil
}

// ApplyEvents applies a batch of events in order, in one transaction, with
// the effect of calling ApplyEvent for each in turn but a handful of round
// trips for the whole batch: identities are locked and looked up together,
// events are inserted with one statement and traits folded per customer.
// The result has one entry per input, in order.
func (s *Store) ApplyEvents(ctx context.Context, evs []EventInput) ([]AppliedEvent, error) {
	out := make([]AppliedEvent, len(evs))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &eventBatch{tx: tx, evs: evs, out: out, ids: map[string]string{}, seen: map[string]int{}}
		return b.apply(ctx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eventBatch is the working state of ApplyEvents.
type eventBatch struct {
	tx  pgx.Tx
	evs []EventInput
	out []AppliedEvent
	// ids maps "u/<ws>/<user id>" and "a/<ws>/<anonymous id>" to customers.
	ids map[string]string
	// seen maps "<ws>/<message id>" to the index of its first event.
	seen map[string]int
	// pending are indexes of events to insert; traits are identify traits
	// not yet written, in order.
	pending []int
	traits  []int
}

func (b *eventBatch) apply(ctx context.Context) error {
	if err := b.lockIdentities(ctx); err != nil {
		return err
	}
	if err := b.loadExisting(ctx); err != nil {
		return err
	}
	if err := b.createSimpleNewcomers(ctx); err != nil {
		return err
	}
	for i, ev := range b.evs {
		key := ev.WorkspaceID + "/" + ev.MessageID
		if first, ok := b.seen[key]; ok {
			b.out[i] = AppliedEvent{CustomerID: b.out[first].CustomerID, Duplicate: true}
			if b.out[first].Duplicate {
				b.out[i].EventID = b.out[first].EventID
			}
			continue
		}
		b.seen[key] = i
		if b.out[i].Duplicate {
			continue // stored by an earlier batch (loadExisting)
		}
		anon := ev.AnonymousID
		if ev.Type == "alias" {
			anon = ev.PreviousID
		}
		id, ok := b.cached(ev.WorkspaceID, ev.UserID, anon)
		if !ok {
			if ev.UserID != "" && anon != "" {
				// A merge may move rows: write what is pending first.
				if err := b.flush(ctx); err != nil {
					return err
				}
			}
			var merged string
			var err error
			id, merged, err = resolveCustomer(ctx, b.tx, ev.WorkspaceID, ev.UserID, anon)
			if err != nil {
				return err
			}
			b.remember(ev.WorkspaceID, ev.UserID, anon, id, merged)
			b.out[i].MergedFrom = merged
		}
		b.out[i].CustomerID = id
		b.pending = append(b.pending, i)
		if ev.Type == "identify" && len(ev.Traits) > 0 {
			b.traits = append(b.traits, i)
		}
	}
	if err := b.flush(ctx); err != nil {
		return err
	}
	// Later copies of a message id in this batch share the first one's row.
	for i, ev := range b.evs {
		if first := b.seen[ev.WorkspaceID+"/"+ev.MessageID]; first != i {
			b.out[i].EventID = b.out[first].EventID
		}
	}
	return nil
}

// lockIdentities serialises work on the same identities across partitions
// and processes; keys are taken in one order so batches cannot deadlock.
func (b *eventBatch) lockIdentities(ctx context.Context) error {
	set := map[string]bool{}
	for _, ev := range b.evs {
		for _, id := range []string{ev.UserID, ev.AnonymousID, ev.PreviousID} {
			if id != "" {
				set[ev.WorkspaceID+"/"+id] = true
			}
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if _, err := b.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k`, keys); err != nil {
		return fmt.Errorf("lock identities: %w", err)
	}
	return nil
}

// loadExisting marks events stored before as duplicates and looks up the
// customers of every user and anonymous id in the batch.
func (b *eventBatch) loadExisting(ctx context.Context) error {
	var wss, msgs, uws, users, aws, anons []string
	for _, ev := range b.evs {
		wss, msgs = append(wss, ev.WorkspaceID), append(msgs, ev.MessageID)
		if ev.UserID != "" {
			uws, users = append(uws, ev.WorkspaceID), append(users, ev.UserID)
		}
		for _, a := range []string{ev.AnonymousID, ev.PreviousID} {
			if a != "" {
				aws, anons = append(aws, ev.WorkspaceID), append(anons, a)
			}
		}
	}
	stored := map[string]AppliedEvent{}
	rows, err := b.tx.Query(ctx, `
		SELECT e.workspace_id, e.message_id, e.customer_id, e.id FROM events e
		JOIN unnest($1::text[], $2::text[]) AS m(ws, msg) ON e.workspace_id = m.ws AND e.message_id = m.msg`, wss, msgs)
	if err != nil {
		return fmt.Errorf("check duplicate events: %w", err)
	}
	for rows.Next() {
		var ws, msg string
		var a AppliedEvent
		if err := rows.Scan(&ws, &msg, &a.CustomerID, &a.EventID); err != nil {
			return fmt.Errorf("check duplicate events: %w", err)
		}
		a.Duplicate = true
		stored[ws+"/"+msg] = a
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check duplicate events: %w", err)
	}
	for i, ev := range b.evs {
		if a, ok := stored[ev.WorkspaceID+"/"+ev.MessageID]; ok {
			b.out[i] = a
		}
	}
	rows, err = b.tx.Query(ctx, `
		SELECT 'u/' || c.workspace_id || '/' || c.external_id, c.id FROM customers c
		JOIN unnest($1::text[], $2::text[]) AS u(ws, id) ON c.workspace_id = u.ws AND c.external_id = u.id
		UNION ALL
		SELECT 'a/' || a.workspace_id || '/' || a.anonymous_id, a.customer_id FROM customer_anonymous_ids a
		JOIN unnest($3::text[], $4::text[]) AS n(ws, id) ON a.workspace_id = n.ws AND a.anonymous_id = n.id`,
		uws, users, aws, anons)
	if err != nil {
		return fmt.Errorf("find customers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, id string
		if err := rows.Scan(&key, &id); err != nil {
			return fmt.Errorf("find customers: %w", err)
		}
		b.ids[key] = id
	}
	return rows.Err()
}

// createSimpleNewcomers creates, with two statements, the customers of
// identities the batch sees for the first time when no event could merge
// them: a user id that only comes alone (no anonymous id, no alias), an
// anonymous id that only comes alone. That is what resolveCustomer would
// do for each at its first event; identities that may merge are left to it.
func (b *eventBatch) createSimpleNewcomers(ctx context.Context) error {
	mixed := map[string]bool{}
	for _, ev := range b.evs {
		anon := ev.AnonymousID
		if ev.Type == "alias" {
			anon = ev.PreviousID
		}
		if ev.UserID != "" && anon != "" {
			mixed["u/"+ev.WorkspaceID+"/"+ev.UserID] = true
			mixed["a/"+ev.WorkspaceID+"/"+anon] = true
		}
		if ev.Type == "alias" && ev.PreviousID != "" {
			mixed["a/"+ev.WorkspaceID+"/"+ev.PreviousID] = true
		}
	}
	var ids, wss, users, anons []string
	seen := map[string]bool{}
	for i, ev := range b.evs {
		if b.out[i].Duplicate {
			continue
		}
		key, user, anon := "", ev.UserID, ""
		switch {
		case ev.UserID != "" && ev.AnonymousID == "" && ev.Type != "alias":
			key = "u/" + ev.WorkspaceID + "/" + ev.UserID
		case ev.UserID == "" && ev.AnonymousID != "" && ev.Type != "alias":
			key, anon = "a/"+ev.WorkspaceID+"/"+ev.AnonymousID, ev.AnonymousID
		default:
			continue
		}
		if _, known := b.ids[key]; known || mixed[key] || seen[key] {
			continue
		}
		seen[key] = true
		id := NewID("cus")
		ids, wss, users, anons = append(ids, id), append(wss, ev.WorkspaceID), append(users, user), append(anons, anon)
		b.ids[key] = id
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := b.tx.Exec(ctx, `
		INSERT INTO customers (id, workspace_id, external_id)
		SELECT id, ws, nullif(u, '') FROM unnest($1::text[], $2::text[], $3::text[]) AS n(id, ws, u)`, ids, wss, users); err != nil {
		return fmt.Errorf("insert customers: %w", err)
	}
	if _, err := b.tx.Exec(ctx, `
		INSERT INTO customer_anonymous_ids (workspace_id, anonymous_id, customer_id)
		SELECT ws, a, id FROM unnest($1::text[], $2::text[], $3::text[]) AS n(id, ws, a) WHERE a <> ''`, ids, wss, anons); err != nil {
		return fmt.Errorf("attach anonymous ids: %w", err)
	}
	return nil
}

// cached answers resolveCustomer from what the batch knows when that needs
// no write: the identity exists and nothing is to be attached or merged.
func (b *eventBatch) cached(ws, userID, anonID string) (string, bool) {
	user, hasUser := b.ids["u/"+ws+"/"+userID]
	anon, hasAnon := b.ids["a/"+ws+"/"+anonID]
	switch {
	case userID != "" && anonID != "":
		return user, hasUser && hasAnon && user == anon
	case userID != "":
		return user, hasUser
	case anonID != "":
		return anon, hasAnon
	}
	return "", false
}

// remember records what resolveCustomer did to the identities: the user id
// is the customer's; an anonymous id seen before kept its owner unless it
// was merged, a new one was attached to the customer.
func (b *eventBatch) remember(ws, userID, anonID, id, mergedFrom string) {
	if mergedFrom != "" {
		for k, owner := range b.ids {
			if owner == mergedFrom {
				b.ids[k] = id
			}
		}
	}
	if userID != "" {
		b.ids["u/"+ws+"/"+userID] = id
	}
	if _, ok := b.ids["a/"+ws+"/"+anonID]; anonID != "" && !ok {
		b.ids["a/"+ws+"/"+anonID] = id
	}
}

// flush inserts the pending events with one statement and writes the
// pending traits, folded per customer in event order.
func (b *eventBatch) flush(ctx context.Context) error {
	if len(b.pending) > 0 {
		n := len(b.pending)
		wss, msgs, custs, types, names := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		props, evCtxs, times := make([]string, n), make([]string, n), make([]time.Time, n)
		for j, i := range b.pending {
			ev := b.evs[i]
			wss[j], msgs[j], custs[j], types[j], names[j] = ev.WorkspaceID, ev.MessageID, b.out[i].CustomerID, ev.Type, ev.Name
			props[j], evCtxs[j], times[j] = jsonObjectOrEmpty(ev.Properties), jsonObjectOrEmpty(ev.Context), ev.OccurredAt
		}
		rows, err := b.tx.Query(ctx, `
			INSERT INTO events (workspace_id, message_id, customer_id, type, name, properties, context, occurred_at)
			SELECT ws, msg, cust, typ, name, props::jsonb, ctx::jsonb, at
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[])
				AS e(ws, msg, cust, typ, name, props, ctx, at)
			RETURNING workspace_id || '/' || message_id, id`, wss, msgs, custs, types, names, props, evCtxs, times)
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		ids := map[string]int64{}
		var key string
		var id int64
		if _, err := pgx.ForEachRow(rows, []any{&key, &id}, func() error { ids[key] = id; return nil }); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		for _, i := range b.pending {
			b.out[i].EventID = ids[b.evs[i].WorkspaceID+"/"+b.evs[i].MessageID]
		}
		b.pending = b.pending[:0]
	}
	if len(b.traits) > 0 {
		order := []string{}
		folded := map[string]map[string]any{}
		for _, i := range b.traits {
			key := b.evs[i].WorkspaceID + "/" + b.out[i].CustomerID
			if folded[key] == nil {
				folded[key] = map[string]any{}
				order = append(order, key)
			}
			maps.Copy(folded[key], b.evs[i].Traits)
		}
		for _, key := range order {
			ws, id, _ := strings.Cut(key, "/")
			if err := mergeTraits(ctx, b.tx, ws, id, folded[key]); err != nil {
				return err
			}
		}
		b.traits = b.traits[:0]
	}
	return nil
}

func jsonObjectOrEmpty(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	return string(raw)
}

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
