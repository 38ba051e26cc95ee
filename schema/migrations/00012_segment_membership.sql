-- +goose Up
-- Reactive segment membership (DESIGN §5, §6): every time a customer enters
-- or leaves a segment a change row is written in the same transaction as
-- the membership row and the customer's "Segment Entered" / "Segment
-- Exited" event. routed_at is set once journeys have been told (segment
-- triggers, waits, exit_on): a change not yet routed when a process dies is
-- routed by the next pass over the customer or by the periodic refresh.
CREATE TABLE segment_changes (
    id           bigserial PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    segment_id   text NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    customer_id  text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    change       text NOT NULL CHECK (change IN ('entered', 'exited')),
    at           timestamptz NOT NULL DEFAULT now(),
    routed_at    timestamptz
);
CREATE INDEX segment_changes_customer_idx ON segment_changes (workspace_id, customer_id, at);
CREATE INDEX segment_changes_pending_idx ON segment_changes (id) WHERE routed_at IS NULL;

-- Enrollments walk a segment and enter its members into a journey: at
-- publish (a segment trigger with include_existing) or at each firing of
-- a schedule trigger. One row per enrollment workflow, kept current by it.
CREATE TABLE enrollments (
    id           text PRIMARY KEY, -- the enrollment's Temporal workflow id
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    journey_id   text NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
    segment_id   text NOT NULL,
    reason       text NOT NULL CHECK (reason IN ('include_existing', 'schedule')),
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'cancelled', 'failed')),
    total        bigint NOT NULL DEFAULT 0,
    enrolled     bigint NOT NULL DEFAULT 0,
    skipped      bigint NOT NULL DEFAULT 0,
    cursor       text NOT NULL DEFAULT '',
    error        text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX enrollments_journey_idx ON enrollments (workspace_id, journey_id, started_at DESC);

-- The id of the event a run was started with: an enrollment that resumes
-- after a crash recognises the runs it already started.
ALTER TABLE runs ADD COLUMN trigger_event_id text NOT NULL DEFAULT '';
CREATE INDEX runs_trigger_event_idx ON runs (workspace_id, journey_id, trigger_event_id) WHERE trigger_event_id <> '';

-- +goose Down
ALTER TABLE runs DROP COLUMN trigger_event_id;
DROP TABLE enrollments;
DROP TABLE segment_changes;
