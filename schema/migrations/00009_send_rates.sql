-- +goose Up
-- Send rate limits that defer (DESIGN §5 settings.send_rate_per_minute, per-provider rates).

-- The next free slot of each rate-limited stream: a journey's sends, or a
-- workspace's provider for one channel. Taking a slot moves next_at on by
-- the stream's interval, so concurrent senders get distinct slots.
CREATE TABLE send_rate_slots (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    key          text NOT NULL,
    next_at      timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, key)
);

-- A deferred delivery keeps the slot it was given.
ALTER TABLE deliveries ADD COLUMN not_before timestamptz;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN not_before;
DROP TABLE send_rate_slots;
