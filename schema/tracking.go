package schema

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Delivery statuses reported after the send, by the provider (delivered,
// bounced, complained) or by the recipient (opened, clicked, unsubscribed),
// and the status of a send the suppression list stopped.
const (
	DeliveryDelivered    = "delivered"
	DeliveryOpened       = "opened"
	DeliveryClicked      = "clicked"
	DeliveryBounced      = "bounced"
	DeliveryComplained   = "complained"
	DeliveryUnsubscribed = "unsubscribed"
	DeliverySuppressed   = "suppressed"
)

// History-only statuses: kept as delivery events, never a delivery's status.
const (
	DeliveryDelayed      = "delayed"      // the provider is still trying
	DeliveryResubscribed = "resubscribed" // the recipient undid an unsubscribe
)

// DeliveryStatuses are the statuses a delivery can hold (the history-only
// ones are not among them), in the order of a message's life.
func DeliveryStatuses() []string {
	return []string{DeliveryPending, DeliveryDeferred, DeliverySending, DeliverySent, DeliveryDelivered, DeliveryOpened,
		DeliveryClicked, DeliveryUnsubscribed, DeliveryFailed, DeliverySuppressed, DeliveryBounced, DeliveryComplained}
}

// deliveryRank orders the statuses a delivery can hold. Engagement grows
// from sent to clicked; the failures and refusals rank above it, so a late
// "opened" never hides a bounce and an "opened" after "clicked" changes
// nothing.
var deliveryRank = map[string]int{
	DeliveryPending: 0, DeliverySent: 1, DeliveryDelivered: 2, DeliveryOpened: 3, DeliveryClicked: 4,
	DeliveryUnsubscribed: 5, DeliveryFailed: 6, DeliverySuppressed: 6, DeliveryBounced: 7, DeliveryComplained: 8,
}

// DeliveryStatusMoves reports whether a delivery in status current takes
// the reported status: only a status further along the order above does.
// History-only statuses never move it.
func DeliveryStatusMoves(current, reported string) bool {
	to, ok := deliveryRank[reported]
	if !ok {
		return false
	}
	from, ok := deliveryRank[current]
	return !ok || to > from
}

// TrackedFact is one thing reported about a delivery after its send.
type TrackedFact struct {
	DeliveryID string
	Status     string // a Delivery* status
	Detail     string
	// Key names the fact within its delivery: a fact is applied once per
	// key. Empty means the status itself (one "opened" per delivery
	// whoever reports it); clicks key by link.
	Key string
}

// Tracked is what recording a fact did.
type Tracked struct {
	// Delivery is the delivery with its status after the fact (without
	// its history).
	Delivery Delivery
	// New is false when the fact had been recorded before: nothing changed.
	New bool
	// Seq counts the delivery's earlier events of the same status (0 for
	// the first), a stable ordinal for facts that repeat a status, such as
	// clicks on two links.
	Seq int
}

// RecordTrackedFact applies a fact to a delivery once per key: it appends
// the fact to the delivery's history and moves the delivery's status when
// DeliveryStatusMoves says so. then, when not nil, runs for a new fact
// inside the transaction; its error undoes the record, so a caller whose
// other effects (publishing the fact) failed sees the fact as new again on
// retry. ErrNotFound when the workspace has no such delivery.
func (s *Store) RecordTrackedFact(ctx context.Context, workspaceID string, f TrackedFact, then func(Tracked) error) (Tracked, error) {
	key := f.Key
	if key == "" {
		key = f.Status
	}
	var out Tracked
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries
			WHERE workspace_id = $1 AND id = $2 FOR UPDATE`, workspaceID, f.DeliveryID))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock delivery %s: %w", f.DeliveryID, err)
		}
		out = Tracked{Delivery: d}
		tag, err := tx.Exec(ctx, `INSERT INTO tracking_facts (workspace_id, delivery_id, fact) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, workspaceID, f.DeliveryID, key)
		if err != nil {
			return fmt.Errorf("record tracking fact: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		out.New = true
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM delivery_events WHERE workspace_id = $1 AND delivery_id = $2 AND status = $3`,
			workspaceID, f.DeliveryID, f.Status).Scan(&out.Seq); err != nil {
			return fmt.Errorf("count delivery events: %w", err)
		}
		if d.ErasedAt != nil {
			// A click, an open or a bounce after the erasure: the fact
			// counts, its detail (a personalised link) is not kept.
			f.Detail = ""
		}
		if err := insertDeliveryEvent(ctx, tx, workspaceID, f.DeliveryID, f.Status, f.Detail); err != nil {
			return err
		}
		if DeliveryStatusMoves(d.Status, f.Status) {
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = $3,
				error = CASE WHEN $3 IN ('failed', 'bounced') THEN $4 ELSE error END, updated_at = now()
				WHERE workspace_id = $1 AND id = $2`, workspaceID, f.DeliveryID, f.Status, f.Detail); err != nil {
				return fmt.Errorf("update delivery status: %w", err)
			}
			out.Delivery.Status = f.Status
		}
		if then != nil {
			return then(out)
		}
		return nil
	})
	if err != nil {
		return Tracked{}, err
	}
	return out, nil
}

// RecordResubscribe notes in the delivery's history that the recipient
// undid the unsubscribe made through it, and forgets that unsubscribe, so
// unsubscribing through the same link again is a new fact. The caller
// removes the suppression. The status stays as it is.
func (s *Store) RecordResubscribe(ctx context.Context, workspaceID, deliveryID, detail string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM tracking_facts WHERE workspace_id = $1 AND delivery_id = $2 AND fact = $3`,
			workspaceID, deliveryID, DeliveryUnsubscribed); err != nil {
			return fmt.Errorf("forget unsubscribe: %w", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO delivery_events (workspace_id, delivery_id, status, detail)
			SELECT workspace_id, id, $3, $4 FROM deliveries WHERE workspace_id = $1 AND id = $2`,
			workspaceID, deliveryID, DeliveryResubscribed, detail)
		if err != nil {
			return fmt.Errorf("insert delivery event: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DeliveryByProviderID finds the workspace's delivery the provider knows
// by providerID (a Twilio MessageSid, an SES message id), without its
// history; ErrNotFound when there is none.
func (s *Store) DeliveryByProviderID(ctx context.Context, workspaceID, providerID string) (Delivery, error) {
	if providerID == "" {
		return Delivery{}, ErrNotFound
	}
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE workspace_id = $1 AND provider_id = $2 ORDER BY created_at DESC LIMIT 1`, workspaceID, providerID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, ErrNotFound
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("find delivery by provider id: %w", err)
	}
	return d, nil
}
