-- +goose Up
-- Customer search and erasure (DESIGN §11). GET /api/customers lists newest
-- first with a (created_at, id) keyset and matches ?q= against the phone as
-- well as the ids and email; erasure finds a customer's rows through the
-- existing per-customer indexes of events, runs and deliveries.
CREATE INDEX customers_created_idx ON customers (workspace_id, created_at, id);
CREATE INDEX customers_phone_idx ON customers (workspace_id, phone) WHERE phone IS NOT NULL;

-- +goose Down
DROP INDEX customers_phone_idx;
DROP INDEX customers_created_idx;
