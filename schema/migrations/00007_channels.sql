-- +goose Up
-- Delivery channels per workspace and the suppression list (DESIGN §7, §9, §11).

-- One row per workspace and channel (email, sms, webhook). settings holds the
-- provider's fields; secret fields are sealed (AES-GCM) in place.
CREATE TABLE channel_settings (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    channel      text NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    provider     text NOT NULL,
    settings     jsonb NOT NULL DEFAULT '{}',
    updated_by   text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, channel)
);

-- Addresses no message may go to: hard bounces, complaints, unsubscribes.
CREATE TABLE suppressions (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    channel      text NOT NULL,
    address      text NOT NULL,
    reason       text NOT NULL CHECK (reason IN ('bounce', 'complaint', 'unsubscribe', 'manual')),
    delivery_id  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, channel, address)
);

-- Frequency caps count a customer's recent sends per channel.
CREATE INDEX deliveries_cap_idx ON deliveries (workspace_id, customer_id, channel, created_at DESC);

-- +goose Down
DROP INDEX deliveries_cap_idx;
DROP TABLE suppressions;
DROP TABLE channel_settings;
