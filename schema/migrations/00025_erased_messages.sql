-- +goose Up
-- The message ids of the events an erasure deleted, as SHA-256 digests, so
-- that a record of one delivered again (its Kafka offset was not committed
-- yet when the customer was erased: a rebalance, a crash, a stop) is a
-- duplicate, as it would have been before the erasure, and does not bring
-- the person back; content_digest (type, name and properties) tells another
-- event that reuses the id, a conflict as before the erasure. Erasures forget
-- digests older than 30 days, far past Kafka's default retention of 7 days.
CREATE TABLE erased_messages (
    workspace_id   text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    message_digest bytea NOT NULL,
    content_digest bytea NOT NULL,
    erased_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, message_digest)
);
CREATE INDEX erased_messages_erased_at_idx ON erased_messages (erased_at);

-- +goose Down
DROP TABLE erased_messages;
