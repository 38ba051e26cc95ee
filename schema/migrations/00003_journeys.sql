-- +goose Up
-- Journeys, their immutable published versions, templates, runs and
-- deliveries (DESIGN §5, §7, §9).

CREATE TABLE templates (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name <> ''),
    channel      text NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    content      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);
CREATE INDEX templates_workspace_idx ON templates (workspace_id, created_at DESC) WHERE deleted_at IS NULL;

CREATE TABLE journeys (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL,
    status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused', 'stopped', 'archived')),
    definition   jsonb NOT NULL,
    live_version integer,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journeys_workspace_idx ON journeys (workspace_id, created_at DESC);

CREATE TABLE journey_versions (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    journey_id   text NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    version      integer NOT NULL CHECK (version > 0),
    definition   jsonb NOT NULL,
    published_by text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (journey_id, version)
);

-- One row per run (a workflow execution): the entry log that entry
-- policies are enforced on, and the projection the API reads.
CREATE TABLE runs (
    workspace_id  text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    workflow_id   text NOT NULL,
    run_id        text NOT NULL,
    journey_id    text NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    version       integer NOT NULL,
    customer_id   text NOT NULL,
    entry_key     text NOT NULL DEFAULT '',
    status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'exited', 'failed', 'canceled')),
    current_node  text NOT NULL DEFAULT '',
    trigger_event text NOT NULL DEFAULT '',
    converted_at  timestamptz,
    started_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    PRIMARY KEY (workflow_id, run_id)
);
CREATE INDEX runs_journey_idx ON runs (workspace_id, journey_id, started_at DESC);
CREATE INDEX runs_customer_idx ON runs (workspace_id, customer_id, journey_id, started_at DESC);
-- Routing signals the running runs of a customer.
CREATE INDEX runs_running_idx ON runs (workspace_id, customer_id) WHERE status = 'running';

-- Every node a run visited, written by the workflow as it moves.
CREATE TABLE run_steps (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    journey_id   text NOT NULL,
    workflow_id  text NOT NULL,
    run_id       text NOT NULL,
    node_id      text NOT NULL,
    visit        integer NOT NULL,
    detail       text NOT NULL DEFAULT '',
    entered_at   timestamptz NOT NULL,
    left_at      timestamptz,
    PRIMARY KEY (workflow_id, run_id, node_id, visit)
);
CREATE INDEX run_steps_journey_idx ON run_steps (workspace_id, journey_id, node_id);

-- One row per message: the id is the deterministic message id (DESIGN §9).
CREATE TABLE deliveries (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    journey_id   text,
    customer_id  text NOT NULL,
    workflow_id  text NOT NULL DEFAULT '',
    node_id      text NOT NULL DEFAULT '',
    channel      text NOT NULL,
    provider     text NOT NULL,
    template_id  text NOT NULL,
    recipient    text NOT NULL DEFAULT '',
    content      jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL,
    provider_id  text NOT NULL DEFAULT '',
    error        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_workspace_idx ON deliveries (workspace_id, created_at DESC);
CREATE INDEX deliveries_customer_idx ON deliveries (workspace_id, customer_id, created_at DESC);
CREATE INDEX deliveries_journey_idx ON deliveries (workspace_id, journey_id, node_id, status);

CREATE TABLE delivery_events (
    id           bigserial PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    delivery_id  text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    status       text NOT NULL,
    detail       text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_events_delivery_idx ON delivery_events (delivery_id, id);

-- +goose Down
DROP TABLE delivery_events;
DROP TABLE deliveries;
DROP TABLE run_steps;
DROP TABLE runs;
DROP TABLE journey_versions;
DROP TABLE journeys;
DROP TABLE templates;
