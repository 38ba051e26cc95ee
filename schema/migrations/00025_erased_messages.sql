-- +goose Up
-- The message ids of the events an erasure deleted, as SHA-256 digests, so
-- that a record of one delivered again (its Kafka offset was not committed
-- yet when the customer was erased: a rebalance, a crash, a stop) is a
-- duplicate, as it would have been before the erasure, and does not bring
-- the person back; content_digest (type, name and properties) tells another
-- event that reuses the id, a conflict as before the erasure. Digests older
-- than 30 days (far past Kafka's default retention of 7 days) count no more
-- and are deleted by the next erasure in any workspace.
CREATE TABLE erased_messages (
    workspace_id   text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    message_digest bytea NOT NULL,
    content_digest bytea NOT NULL,
    erased_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, message_digest)
);
CREATE INDEX erased_messages_erased_at_idx ON erased_messages (erased_at);

-- The ids the erased customers went by (user ids, previous ones, anonymous
-- ids), as SHA-256 digests: an event with an erased message id and the same
-- content is the erased one delivered again only when one of its ids is
-- among them; another person's event with that id is a conflict.
CREATE TABLE erased_identities (
    workspace_id    text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    identity_digest bytea NOT NULL,
    erased_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, identity_digest)
);
CREATE INDEX erased_identities_erased_at_idx ON erased_identities (erased_at);

-- +goose Down
DROP TABLE erased_identities;
DROP TABLE erased_messages;
