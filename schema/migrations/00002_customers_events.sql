-- +goose Up
-- Customers and the events they send (DESIGN §4).

CREATE TABLE customers (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    external_id  text,
    email        text,
    phone        text,
    timezone     text,
    attributes   jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_external_id_key ON customers (workspace_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX customers_email_idx ON customers (workspace_id, lower(email)) WHERE email IS NOT NULL;
CREATE INDEX customers_attributes_idx ON customers USING gin (attributes jsonb_path_ops);

-- Anonymous ids a customer has been seen under.
CREATE TABLE customer_anonymous_ids (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    anonymous_id text NOT NULL,
    customer_id  text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, anonymous_id)
);
CREATE INDEX customer_anonymous_ids_customer_idx ON customer_anonymous_ids (customer_id);

-- Every accepted event once: (workspace, message id) is the dedupe key.
CREATE TABLE events (
    id           bigserial PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    message_id   text NOT NULL,
    customer_id  text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    type         text NOT NULL,
    name         text NOT NULL DEFAULT '',
    properties   jsonb NOT NULL DEFAULT '{}',
    context      jsonb NOT NULL DEFAULT '{}',
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX events_message_key ON events (workspace_id, message_id);
CREATE INDEX events_customer_idx ON events (workspace_id, customer_id, occurred_at DESC);
CREATE INDEX events_name_idx ON events (workspace_id, name, occurred_at DESC);

-- +goose Down
DROP TABLE events;
DROP TABLE customer_anonymous_ids;
DROP TABLE customers;
