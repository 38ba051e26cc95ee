-- +goose Up
-- Delivery tracking (issue 5 item 4): open pixel, click redirects,
-- unsubscribe links, SES events via SNS and Twilio status callbacks.

-- Each fact reported about a delivery is applied once, however many times
-- the provider or the recipient's mail client reports it: the fact key
-- names it within its delivery ("opened", "bounced", "clicked:<url hash>").
CREATE TABLE tracking_facts (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    delivery_id  text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    fact         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, delivery_id, fact)
);

-- Twilio status callbacks find their delivery by the provider's message id.
CREATE INDEX deliveries_provider_idx ON deliveries (workspace_id, provider_id) WHERE provider_id <> '';

-- +goose Down
DROP INDEX deliveries_provider_idx;
DROP TABLE tracking_facts;
