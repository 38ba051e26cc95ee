package schema

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChannelSetting is a workspace's provider for one channel. Settings are
// the provider's fields with the secret ones sealed by the caller.
type ChannelSetting struct {
	Channel   string          `json:"channel"`
	Provider  string          `json:"provider"`
	Settings  json.RawMessage `json:"settings"`
	UpdatedBy string          `json:"updated_by"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// ChannelSettings returns the workspace's configured channels by name;
// a channel without a row is not in the map.
func (s *Store) ChannelSettings(ctx context.Context, workspaceID string) (map[string]ChannelSetting, error) {
	rows, err := s.pool.Query(ctx, `SELECT channel, provider, settings, updated_by, updated_at FROM channel_settings
		WHERE workspace_id = $1`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("load channel settings: %w", err)
	}
	out := map[string]ChannelSetting{}
	var c ChannelSetting
	_, err = pgx.ForEachRow(rows, []any{&c.Channel, &c.Provider, &c.Settings, &c.UpdatedBy, &c.UpdatedAt}, func() error {
		out[c.Channel] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load channel settings: %w", err)
	}
	return out, nil
}

// PutChannelSettings replaces the given channels' settings in one
// transaction.
func (s *Store) PutChannelSettings(ctx context.Context, workspaceID, actor string, settings []ChannelSetting) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, c := range settings {
			_, err := tx.Exec(ctx, `
				INSERT INTO channel_settings (workspace_id, channel, provider, settings, updated_by)
				VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (workspace_id, channel) DO UPDATE
				SET provider = excluded.provider, settings = excluded.settings, updated_by = excluded.updated_by, updated_at = now()`,
				workspaceID, c.Channel, c.Provider, c.Settings, actor)
			if err != nil {
				return fmt.Errorf("save %s settings: %w", c.Channel, err)
			}
		}
		return nil
	})
}

// Suppression reasons.
const (
	SuppressBounce      = "bounce"
	SuppressComplaint   = "complaint"
	SuppressUnsubscribe = "unsubscribe"
	SuppressManual      = "manual"
)

// Suppression is an address no message of the channel may go to.
type Suppression struct {
	Channel    string    `json:"channel"`
	Address    string    `json:"address"`
	Reason     string    `json:"reason"`
	DeliveryID string    `json:"delivery_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// NormalizePhone writes a phone number as PhoneNumber does ("+1 (555)
// 010-0" → "+15550100"), the form SMS providers take and customers are
// found by. Text that is not a phone number is only trimmed.
func NormalizePhone(s string) string {
	if p, ok := PhoneNumber(s); ok {
		return p
	}
	return strings.TrimSpace(s)
}

// PhoneNumber returns the phone number s as its digits, with a leading "+"
// when s begins with one (an opening bracket may come first: "(+33) 6 12
// 34 56 78"). ok is false when s is not a phone number: characters other
// than digits, spaces and +-(). , a "+" anywhere else, or not 5 to 15
// digits. (A trunk "(0)" after the country code, "+44 (0)20 …", keeps its
// 0: numbers stored before cannot be told apart; an import refuses it.)
func PhoneNumber(s string) (string, bool) {
	s = strings.TrimSpace(s)
	rest, plus := s, false
	if t := strings.TrimLeft(s, "( "); strings.HasPrefix(t, "+") {
		rest, plus = t[1:], true
	}
	var b strings.Builder
	if plus {
		b.WriteByte('+')
	}
	digits := 0
	for _, r := range rest {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case strings.ContainsRune("-(). ", r):
		default:
			return "", false
		}
	}
	if digits < 5 || digits > 15 {
		return "", false
	}
	return b.String(), true
}

// NormalizeAddress is the form addresses are suppressed and looked up in:
// email addresses lower case, phone numbers as customers' are kept
// (NormalizePhone), everything trimmed.
func NormalizeAddress(channel, address string) string {
	address = strings.TrimSpace(address)
	switch channel {
	case ChannelEmail:
		address = strings.ToLower(address)
	case ChannelSMS:
		address = NormalizePhone(address)
	}
	return address
}

// AddressDigest names an address without holding it: "sha256:" and the
// hex of the first 16 bytes of SHA-256 over the workspace, the channel and
// the normalised address. An unsubscribe link carries the digest of its
// recipient, so the recipient of a message whose customer was erased since
// can still unsubscribe: the suppression then holds the digest, which
// Suppressed matches as it matches the address.
func AddressDigest(workspaceID, channel, address string) string {
	sum := sha256.Sum256([]byte(workspaceID + "\x00" + channel + "\x00" + NormalizeAddress(channel, address)))
	return digestPrefix + hex.EncodeToString(sum[:16])
}

const digestPrefix = "sha256:"

// IsAddressDigest says whether a suppressed address is a digest.
func IsAddressDigest(address string) bool { return strings.HasPrefix(address, digestPrefix) }

// Suppress adds the address (or an AddressDigest) to the workspace's
// suppression list; the first reason recorded stays.
func (s *Store) Suppress(ctx context.Context, workspaceID string, sup Suppression) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO suppressions (workspace_id, channel, address, reason, delivery_id) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, workspaceID, sup.Channel, NormalizeAddress(sup.Channel, sup.Address), sup.Reason, sup.DeliveryID)
	if err != nil {
		return fmt.Errorf("suppress address: %w", err)
	}
	return nil
}

// Suppressed returns the suppression of an address, or ErrNotFound. When
// the address is on the list twice (itself and its digest), a reason other
// than an unsubscribe is answered first: it is not the recipient's to lift.
func (s *Store) Suppressed(ctx context.Context, workspaceID, channel, address string) (Suppression, error) {
	sup := Suppression{Channel: channel}
	err := s.pool.QueryRow(ctx, `SELECT address, reason, delivery_id, created_at FROM suppressions
		WHERE workspace_id = $1 AND channel = $2 AND address IN ($3, $4)
		ORDER BY reason = 'unsubscribe', address = $3 DESC LIMIT 1`, addressArgs(workspaceID, channel, address)...).
		Scan(&sup.Address, &sup.Reason, &sup.DeliveryID, &sup.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return sup, ErrNotFound
	}
	if err != nil {
		return sup, fmt.Errorf("look up suppression: %w", err)
	}
	return sup, nil
}

// Unsuppress removes an address from the list (resubscribe), itself and
// its digest; ErrNotFound when it was not on it.
func (s *Store) Unsuppress(ctx context.Context, workspaceID, channel, address string) error {
	return s.unsuppress(ctx, workspaceID, channel, address, "")
}

// LiftUnsubscribe removes the unsubscribes of an address (itself and its
// digest) — what a recipient may undo from a link; suppressions for other
// reasons stay. ErrNotFound when there was none.
func (s *Store) LiftUnsubscribe(ctx context.Context, workspaceID, channel, address string) error {
	return s.unsuppress(ctx, workspaceID, channel, address, SuppressUnsubscribe)
}

// unsuppress deletes the suppressions of an address, of reason only ("":
// any).
func (s *Store) unsuppress(ctx context.Context, workspaceID, channel, address, only string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM suppressions WHERE workspace_id = $1 AND channel = $2 AND address IN ($3, $4)
		AND ($5 = '' OR reason = $5)`, append(addressArgs(workspaceID, channel, address), only)...)
	if err != nil {
		return fmt.Errorf("remove suppression: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// addressArgs are the query arguments that find an address on the list:
// workspace, channel, the address as kept, and its digest.
func addressArgs(workspaceID, channel, address string) []any {
	return []any{workspaceID, channel, NormalizeAddress(channel, address), AddressDigest(workspaceID, channel, address)}
}

// ListSuppressions lists the workspace's suppressions, newest first (those
// made at the same time by SuppressionKey, descending), after before — the
// last one of the previous page — when it is set.
func (s *Store) ListSuppressions(ctx context.Context, workspaceID string, limit int, before *TimeKey) ([]Suppression, error) {
	at, key := before.args()
	rows, err := s.pool.Query(ctx, `SELECT channel, address, reason, delivery_id, created_at FROM suppressions
		WHERE workspace_id = $1 AND ($3::timestamptz IS NULL OR (created_at, channel || '/' || address) < ($3, $4))
		ORDER BY created_at DESC, channel || '/' || address DESC LIMIT $2`, workspaceID, limit, at, key)
	if err != nil {
		return nil, fmt.Errorf("list suppressions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Suppression, error) {
		var x Suppression
		err := r.Scan(&x.Channel, &x.Address, &x.Reason, &x.DeliveryID, &x.CreatedAt)
		return x, err
	})
}

// SuppressionKey orders suppressions made at the same time.
func SuppressionKey(x Suppression) string { return x.Channel + "/" + x.Address }

// SendsSince counts the customer's messages of a channel created since t
// that went out or are going out (for frequency caps).
func (s *Store) SendsSince(ctx context.Context, workspaceID, customerID, channel string, t time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries
		WHERE workspace_id = $1 AND customer_id = $2 AND channel = $3 AND created_at >= $4
		  AND status NOT IN ('failed', 'suppressed')`, workspaceID, customerID, channel, t).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recent sends: %w", err)
	}
	return n, nil
}

// DeliveryDeferred is a message a frequency cap holds until its next slot.
const DeliveryDeferred = "deferred"

// FrequencyCap limits how many messages of one channel a customer gets
// within a period, across journeys.
type FrequencyCap struct {
	Max    int
	Period time.Duration
}

// ClaimDeliveryCapped claims the delivery like ClaimDelivery, under a
// frequency cap: when the customer already has cap.Max messages of the
// channel created within cap.Period, the delivery is recorded as deferred
// and the time its slot opens is returned instead. Claims of one customer
// and channel are serialised, so concurrent journeys cannot both take the
// last slot.
func (s *Store) ClaimDeliveryCapped(ctx context.Context, workspaceID string, d Delivery, limit FrequencyCap) (Delivery, bool, *time.Time, error) {
	if len(d.Content) == 0 {
		d.Content = json.RawMessage(`{}`)
	}
	var created bool
	var until *time.Time
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockCustomerOf(ctx, tx, workspaceID, &d); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
			"cap/"+workspaceID+"/"+d.CustomerID+"/"+d.Channel); err != nil {
			return fmt.Errorf("lock frequency cap: %w", err)
		}
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM deliveries WHERE workspace_id = $1 AND id = $2`, workspaceID, d.ID).Scan(&status)
		switch {
		case err == nil && status != DeliveryPending && status != DeliveryDeferred:
			return nil // handled before
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("load delivery: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT created_at FROM deliveries
			WHERE workspace_id = $1 AND customer_id = $2 AND channel = $3 AND id <> $4
			  AND created_at > now() - make_interval(secs => $5) AND status NOT IN ('failed', 'suppressed', 'deferred')
			ORDER BY created_at DESC LIMIT $6`, workspaceID, d.CustomerID, d.Channel, d.ID, limit.Period.Seconds(), limit.Max)
		if err != nil {
			return fmt.Errorf("count recent sends: %w", err)
		}
		recent, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			return fmt.Errorf("count recent sends: %w", err)
		}
		newStatus, detail := DeliveryPending, ""
		if len(recent) >= limit.Max {
			t := recent[limit.Max-1].Add(limit.Period)
			until = &t
			newStatus = DeliveryDeferred
			detail = fmt.Sprintf("frequency cap of %d per %s reached; next slot %s", limit.Max, limit.Period, t.UTC().Format(time.RFC3339))
		}
		if status == newStatus {
			return nil
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO deliveries (id, workspace_id, journey_id, customer_id, workflow_id, node_id, channel, provider,
				template_id, recipient, content, status, error)
			VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, error = excluded.error, created_at = now(), updated_at = now()`,
			d.ID, workspaceID, d.JourneyID, d.CustomerID, d.WorkflowID, d.NodeID, d.Channel, d.Provider, d.TemplateID, d.Recipient,
			d.Content, newStatus, detail)
		if err != nil {
			return fmt.Errorf("claim delivery: %w", err)
		}
		created = newStatus == DeliveryPending
		_, err = tx.Exec(ctx, `INSERT INTO delivery_events (workspace_id, delivery_id, status, detail) VALUES ($1, $2, $3, $4)`,
			workspaceID, d.ID, newStatus, detail)
		return err
	})
	if err != nil {
		return Delivery{}, false, nil, err
	}
	stored, err := s.GetDelivery(ctx, workspaceID, d.ID)
	return stored, created, until, err
}

// ReserveSendSlot takes the next slot of a rate-limited stream (a journey's
// sends, a provider's) that allows one send per interval, and returns its
// time: now when the stream is idle, later when it is busy. Each caller
// gets its own slot.
func (s *Store) ReserveSendSlot(ctx context.Context, workspaceID, key string, interval time.Duration) (time.Time, error) {
	var slot time.Time
	err := s.pool.QueryRow(ctx, `
		INSERT INTO send_rate_slots (workspace_id, key, next_at) VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))
		ON CONFLICT (workspace_id, key) DO UPDATE
		SET next_at = greatest(send_rate_slots.next_at, clock_timestamp()) + make_interval(secs => $3)
		RETURNING next_at - make_interval(secs => $3)`, workspaceID, key, interval.Seconds()).Scan(&slot)
	if err != nil {
		return slot, fmt.Errorf("reserve send slot: %w", err)
	}
	return slot, nil
}

// DeferDelivery holds a claimed delivery until its slot.
func (s *Store) DeferDelivery(ctx context.Context, workspaceID, id string, notBefore time.Time, detail string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'deferred', not_before = $3, error = $4, updated_at = now()
			WHERE workspace_id = $1 AND id = $2`, workspaceID, id, notBefore, detail)
		if err != nil {
			return fmt.Errorf("defer delivery: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(ctx, `INSERT INTO delivery_events (workspace_id, delivery_id, status, detail) VALUES ($1, $2, 'deferred', $3)`,
			workspaceID, id, detail)
		return err
	})
}

// DeliverySending marks a message handed to its provider and not yet
// answered: a later attempt that finds it knows the provider may have it.
const DeliverySending = "sending"

// MarkSending moves a claimed (pending or deferred) delivery — or, when
// again is true, one already marked sending — to "sending" just before the
// provider call. It reports false when the delivery is in another state
// (an earlier attempt finished it).
//
// A journey's message is not marked when another run of the journey gave
// the customer the node's message already (sentBy names it; see
// SentByAnotherRun): two runs of merged profiles reaching the node at once
// are serialised here, per customer, journey and node, so one sends and
// the other finds it.
//
// It refuses with ErrNoCustomer when the delivery's customer was erased
// since the delivery was claimed (a deferred message's, or one whose
// provider call is retried): nothing goes out after an erasure.
func (s *Store) MarkSending(ctx context.Context, workspaceID, id string, again bool) (marked bool, sentBy string, err error) {
	var customer bool
	mark := func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			SELECT pg_advisory_xact_lock(hashtextextended('send/' || workspace_id || '/' || customer_id || '/' || journey_id || '/' || node_id, 0))
			FROM deliveries WHERE workspace_id = $1 AND id = $2 AND journey_id <> '' AND workflow_id <> ''`, workspaceID, id); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			WITH this AS (
				SELECT * FROM deliveries WHERE workspace_id = $1 AND id = $2
			), c AS (
				SELECT 1 FROM customers c JOIN this ON this.workspace_id = c.workspace_id AND this.customer_id = c.id FOR KEY SHARE OF c
			), other AS (
				SELECT o.id FROM this CROSS JOIN LATERAL (`+otherRunsAtNode("this.workspace_id", "this.customer_id", "this.workflow_id", "this.node_id")+`) o
				WHERE this.journey_id <> '' AND this.workflow_id <> '' AND NOT $3
				LIMIT 1
			), marked AS (
				UPDATE deliveries SET status = 'sending', updated_at = now()
				WHERE workspace_id = $1 AND id = $2 AND (status IN ('pending', 'deferred') OR ($3 AND status = 'sending'))
					AND EXISTS (SELECT 1 FROM c) AND NOT EXISTS (SELECT 1 FROM other)
				RETURNING 1
			)
			SELECT EXISTS (SELECT 1 FROM marked), EXISTS (SELECT 1 FROM c), coalesce((SELECT id FROM other), '')`,
			workspaceID, id, again).Scan(&marked, &customer, &sentBy)
	}
	// A second look when the customer was gone: a merge that removed the
	// profile while this waited for its lock has moved the delivery to
	// the survivor since (the statement saw it before).
	for range 2 {
		if err = pgx.BeginFunc(ctx, s.pool, mark); err != nil || customer {
			break
		}
	}
	if err != nil {
		return false, "", fmt.Errorf("mark delivery sending: %w", err)
	}
	if !customer {
		return false, "", ErrNoCustomer
	}
	return marked, sentBy, nil
}

// UnmarkSending puts a delivery whose provider call failed transiently back
// to pending, noting why, so the retry sends it.
func (s *Store) UnmarkSending(ctx context.Context, workspaceID, id, detail string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'pending', updated_at = now()
			WHERE workspace_id = $1 AND id = $2 AND status = 'sending'`, workspaceID, id); err != nil {
			return fmt.Errorf("unmark delivery sending: %w", err)
		}
		return insertDeliveryEvent(ctx, tx, workspaceID, id, "retrying", detail)
	})
}
