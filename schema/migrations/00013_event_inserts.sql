-- +goose Up
-- Cheaper event inserts (ingest throughput). One foreign key per event
-- instead of two: (workspace_id, customer_id) → customers, which also ties
-- an event's workspace to its customer's — and an insert no longer locks
-- the workspace's row (every concurrent ingest transaction locked that one
-- row). The customer timeline reads events_customer_name_idx, which has the
-- same leading columns, so events_customer_idx goes.
CREATE UNIQUE INDEX customers_workspace_key ON customers (workspace_id, id);
ALTER TABLE events ADD CONSTRAINT events_customer_fkey FOREIGN KEY (workspace_id, customer_id)
    REFERENCES customers (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE events VALIDATE CONSTRAINT events_customer_fkey;
ALTER TABLE events DROP CONSTRAINT events_customer_id_fkey, DROP CONSTRAINT events_workspace_id_fkey;
DROP INDEX events_customer_idx;

-- +goose Down
CREATE INDEX events_customer_idx ON events (workspace_id, customer_id, occurred_at DESC);
ALTER TABLE events ADD CONSTRAINT events_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE,
    ADD CONSTRAINT events_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE events DROP CONSTRAINT events_customer_fkey;
DROP INDEX customers_workspace_key;
