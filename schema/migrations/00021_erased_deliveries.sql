-- +goose Up
-- A delivery of an erased customer says so (erased_at): what happens to it
-- afterwards — a send that was in flight getting its answer, a click, an
-- open, a bounce — is recorded without its detail or error text, which can
-- name the address, the webhook URL or a personalised link. Deliveries
-- erased before this migration are those blanked (no recipient) whose
-- customer is gone and was not merged into another.
ALTER TABLE deliveries ADD COLUMN erased_at timestamptz;
UPDATE deliveries d SET erased_at = d.updated_at
WHERE d.recipient = '' AND d.content = '{}'
    AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.workspace_id = d.workspace_id AND c.id = d.customer_id)
    AND NOT EXISTS (SELECT 1 FROM customer_merges m WHERE m.workspace_id = d.workspace_id AND m.from_id = d.customer_id);

-- +goose Down
ALTER TABLE deliveries DROP COLUMN erased_at;
