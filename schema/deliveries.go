package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery statuses.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// Delivery is one message to one customer.
type Delivery struct {
	ID         string          `json:"id"`
	JourneyID  string          `json:"journey_id"`
	CustomerID string          `json:"customer_id"`
	WorkflowID string          `json:"workflow_id"`
	NodeID     string          `json:"node_id"`
	Channel    string          `json:"channel"`
	Provider   string          `json:"provider"`
	TemplateID string          `json:"template_id"`
	Recipient  string          `json:"recipient"`
	Content    json.RawMessage `json:"content"`
	Status     string          `json:"status"`
	ProviderID string          `json:"provider_id,omitempty"`
	Error      string          `json:"error,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	// NotBefore is the send slot a rate limit gave a deferred message.
	NotBefore *time.Time `json:"not_before,omitempty"`
	// ErasedAt is when the customer was erased (GDPR): the delivery keeps
	// no recipient, content or detail from then on.
	ErasedAt *time.Time      `json:"erased_at,omitempty"`
	History  []DeliveryEvent `json:"history,omitempty"`
}

// DeliveryEvent is one status change of a delivery.
type DeliveryEvent struct {
	Status    string    `json:"status"`
	Detail    string    `json:"detail,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// ErrNoCustomer refuses a delivery that names a recipient or carries content
// for a customer that no longer exists (erased while the send was on its
// way): nothing personal is written after an erasure.
var ErrNoCustomer = errors.New("the customer does not exist")

// lockCustomerOf holds the delivery's customer (KEY SHARE, until the claim
// commits) and writes the delivery under it: an erasure waits for the
// claim and then blanks what it wrote, a merge waits for it and then moves
// it to the survivor, and a claim made with the id of a profile merged
// away (a run or a send that had not heard of the merge) goes to the
// survivor. After an erasure there is no customer: a delivery carrying
// personal data is refused (ErrNoCustomer); one without (a failure
// recorded for a customer that does not exist) is written under the id it
// names.
func lockCustomerOf(ctx context.Context, tx pgx.Tx, workspaceID string, d *Delivery) error {
	// A second look when the lock waited for a merge that removed the
	// profile: the statement's snapshot predates the merge's row in
	// customer_merges.
	for range 2 {
		var id string
		err := tx.QueryRow(ctx, `SELECT c.id FROM customers c WHERE c.workspace_id = $1 AND c.id = `+survivorOf+` FOR KEY SHARE OF c`,
			workspaceID, d.CustomerID).Scan(&id)
		if err == nil {
			d.CustomerID = id
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("lock customer %s: %w", d.CustomerID, err)
		}
	}
	if d.Recipient == "" && (len(d.Content) == 0 || string(d.Content) == "{}") {
		return nil
	}
	return ErrNoCustomer
}

// ClaimDelivery inserts the delivery as pending unless its id exists. It
// returns the stored row and whether this call created it: the check that
// makes a send happen once per message id.
func (s *Store) ClaimDelivery(ctx context.Context, workspaceID string, d Delivery) (Delivery, bool, error) {
	return s.claimDelivery(ctx, workspaceID, d, true)
}

// claimDelivery is ClaimDelivery; ofCustomer false records a delivery that
// is nobody's (a test send for the sample customer) without the customer
// check.
func (s *Store) claimDelivery(ctx context.Context, workspaceID string, d Delivery, ofCustomer bool) (Delivery, bool, error) {
	if len(d.Content) == 0 {
		d.Content = json.RawMessage(`{}`)
	}
	var created bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if ofCustomer {
			if err := lockCustomerOf(ctx, tx, workspaceID, &d); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO deliveries (id, workspace_id, journey_id, customer_id, workflow_id, node_id, channel, provider,
				template_id, recipient, content, status)
			VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, $8, $9, $10, $11, 'pending') ON CONFLICT (id) DO NOTHING`,
			d.ID, workspaceID, d.JourneyID, d.CustomerID, d.WorkflowID, d.NodeID, d.Channel, d.Provider, d.TemplateID, d.Recipient, d.Content)
		if err != nil {
			return fmt.Errorf("insert delivery: %w", err)
		}
		created = tag.RowsAffected() == 1
		if created {
			_, err = tx.Exec(ctx, `INSERT INTO delivery_events (workspace_id, delivery_id, status) VALUES ($1, $2, 'pending')`, workspaceID, d.ID)
		}
		return err
	})
	if err != nil {
		return Delivery{}, false, err
	}
	stored, err := s.GetDelivery(ctx, workspaceID, d.ID)
	return stored, created, err
}

// SentByAnotherRun names the message (its delivery id) that another run
// of the same journey and entry key gave the customer at node nodeID, or
// "": a run still going, or one the router ended as the double of this one
// (otherRunsAtNode). Only a merge puts two runs of one journey and key
// under one customer — each profile had entered before Herald knew they
// were one person — and the router ends one of them; what either sent goes
// out once.
func (s *Store) SentByAnotherRun(ctx context.Context, workspaceID, customerID, workflowID, nodeID string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, otherRunsAtNode("$1", "$2", "$3", "$4")+` LIMIT 1`, workspaceID, customerID, workflowID, nodeID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look for the message in another run: %w", err)
	}
	return id, nil
}

// MergedDoubleReason is why the router ends a merged profile's run of a
// journey the survivor is in already (the run's end_reason).
func MergedDoubleReason(survivor string) string {
	return mergedDoublePrefix + survivor + ", who is already in this journey"
}

const mergedDoublePrefix = "merged into customer "

// otherRunsAtNode selects the ids of the messages that the other runs of
// run wf's journey and entry key gave customer cust at node (SQL
// expressions, e.g. parameters): messages handed to their provider or
// beyond — one still pending or deferred has not gone out, and the run
// that holds it finds this one when it marks it sending (MarkSending) — by
// runs still going, and by runs the router ended as doubles of a merge
// while run wf was going (the survivor's run goes on past nodes the ended
// run had sent). Run wf is its running run: a workflow id names every
// entry of a customer into a journey, so earlier entries' rows have it
// too; an other run's messages are those made since it started, for the
// same reason.
func otherRunsAtNode(ws, cust, wf, node string) string {
	return `SELECT d.id FROM runs mine
		JOIN runs other ON other.workspace_id = mine.workspace_id AND other.journey_id = mine.journey_id
			AND other.entry_key = mine.entry_key AND other.customer_id = ` + cust + ` AND other.workflow_id <> mine.workflow_id
			AND (other.status = 'running' OR (other.status = 'exited' AND other.end_reason LIKE '` + mergedDoublePrefix + `%'
				AND other.ended_at >= mine.started_at))
		JOIN deliveries d ON d.workspace_id = other.workspace_id AND d.workflow_id = other.workflow_id AND d.node_id = ` + node + `
			AND d.created_at >= other.started_at AND d.status NOT IN ('pending', 'deferred', 'failed', 'suppressed')
		WHERE mine.workspace_id = ` + ws + ` AND mine.workflow_id = ` + wf + ` AND mine.status = 'running'`
}

// SetDeliveryStatus records a status change (and the provider id or error).
func (s *Store) SetDeliveryStatus(ctx context.Context, workspaceID, id, status, providerID, detail string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A send answered after its customer was erased (it was with the
		// provider as the erasure ran) keeps the erasure: its detail can
		// quote the address or the webhook's URL.
		tag, err := tx.Exec(ctx, `UPDATE deliveries SET status = $3, provider_id = coalesce(nullif($4, ''), provider_id),
			error = CASE WHEN erased_at IS NOT NULL THEN '' WHEN $3 IN ('failed', 'suppressed') THEN $5 ELSE error END, updated_at = now()
			WHERE workspace_id = $1 AND id = $2`, workspaceID, id, status, providerID, detail)
		if err != nil {
			return fmt.Errorf("update delivery: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return insertDeliveryEvent(ctx, tx, workspaceID, id, status, detail)
	})
}

// insertDeliveryEvent adds a status change to a delivery's history, without
// its detail when the delivery's customer was erased.
func insertDeliveryEvent(ctx context.Context, tx pgx.Tx, workspaceID, id, status, detail string) error {
	_, err := tx.Exec(ctx, `INSERT INTO delivery_events (workspace_id, delivery_id, status, detail)
		SELECT workspace_id, id, $3, CASE WHEN erased_at IS NULL THEN $4 ELSE '' END FROM deliveries
		WHERE workspace_id = $1 AND id = $2`, workspaceID, id, status, detail)
	if err != nil {
		return fmt.Errorf("insert delivery event: %w", err)
	}
	return nil
}

const deliveryColumns = `id, coalesce(journey_id, ''), customer_id, workflow_id, node_id, channel, provider, template_id,
	recipient, content, status, provider_id, error, created_at, updated_at, not_before, erased_at`

func scanDelivery(r pgx.Row) (Delivery, error) {
	var d Delivery
	err := r.Scan(&d.ID, &d.JourneyID, &d.CustomerID, &d.WorkflowID, &d.NodeID, &d.Channel, &d.Provider, &d.TemplateID,
		&d.Recipient, &d.Content, &d.Status, &d.ProviderID, &d.Error, &d.CreatedAt, &d.UpdatedAt, &d.NotBefore, &d.ErasedAt)
	return d, err
}

// GetDelivery loads one delivery with its status history.
func (s *Store) GetDelivery(ctx context.Context, workspaceID, id string) (Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE workspace_id = $1 AND id = $2`, workspaceID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, ErrNotFound
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("load delivery %s: %w", id, err)
	}
	d.History, err = s.deliveryHistory(ctx, workspaceID, id)
	return d, err
}

func (s *Store) deliveryHistory(ctx context.Context, workspaceID, id string) ([]DeliveryEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, detail, created_at FROM delivery_events WHERE workspace_id = $1 AND delivery_id = $2 ORDER BY id`, workspaceID, id)
	if err != nil {
		return nil, fmt.Errorf("query delivery history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeliveryEvent, error) {
		var e DeliveryEvent
		err := r.Scan(&e.Status, &e.Detail, &e.CreatedAt)
		return e, err
	})
}

// DeliveryFilter selects deliveries to list.
type DeliveryFilter struct {
	CustomerID string
	JourneyID  string
	Status     string
	Limit      int
	// Before is the last delivery of the previous page (its creation time
	// and id); deliveries created at the same time come by id, descending.
	Before *TimeKey
}

// ListDeliveries returns deliveries, newest first, with their histories.
func (s *Store) ListDeliveries(ctx context.Context, workspaceID string, f DeliveryFilter) ([]Delivery, error) {
	at, key := f.Before.args()
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE workspace_id = $1 AND ($2 = '' OR customer_id = $2) AND ($3 = '' OR journey_id = $3) AND ($4 = '' OR status = $4)
		  AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
		ORDER BY created_at DESC, id DESC LIMIT $5`, workspaceID, f.CustomerID, f.JourneyID, f.Status, f.Limit, at, key)
	if err != nil {
		return nil, fmt.Errorf("query deliveries: %w", err)
	}
	return withHistories(ctx, s.pool, workspaceID, rows)
}

// withHistories collects the deliveries of rows and reads all their status
// histories with one more query.
func withHistories(ctx context.Context, q queryer, workspaceID string, rows pgx.Rows) ([]Delivery, error) {
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
	if err != nil || len(list) == 0 {
		return list, err
	}
	ids := make([]string, len(list))
	at := make(map[string]int, len(list))
	for i, d := range list {
		ids[i], at[d.ID] = d.ID, i
	}
	rows, err = q.Query(ctx, `SELECT delivery_id, status, detail, created_at FROM delivery_events
		WHERE workspace_id = $1 AND delivery_id = ANY($2) ORDER BY id`, workspaceID, ids)
	if err != nil {
		return nil, fmt.Errorf("query delivery histories: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var e DeliveryEvent
		if err := rows.Scan(&id, &e.Status, &e.Detail, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan delivery history: %w", err)
		}
		list[at[id]].History = append(list[at[id]].History, e)
	}
	return list, rows.Err()
}

// SampleCustomerID is the made-up customer a template renders for when no
// customer is chosen (a preview or a test send). No customer row has it:
// NewID never makes an id this short.
const SampleCustomerID = "cus_sample"

// RecordTestDelivery records a template test send through the outbox,
// rendered for customerID: an existing customer (ErrNoCustomer once
// erased, as for any delivery with content) or SampleCustomerID.
func (s *Store) RecordTestDelivery(ctx context.Context, workspaceID string, t Template, customerID, to string, rendered TemplateContent) (Delivery, error) {
	content, err := json.Marshal(rendered)
	if err != nil {
		return Delivery{}, err
	}
	id := NewID("msg")
	if _, _, err := s.claimDelivery(ctx, workspaceID, Delivery{ID: id, CustomerID: customerID, NodeID: "test", Channel: t.Channel,
		Provider: "outbox", TemplateID: t.ID, Recipient: to, Content: content}, customerID != SampleCustomerID); err != nil {
		return Delivery{}, err
	}
	if err := s.SetDeliveryStatus(ctx, workspaceID, id, DeliverySent, "outbox:"+id, "test send recorded in the outbox"); err != nil {
		return Delivery{}, err
	}
	return s.GetDelivery(ctx, workspaceID, id)
}
