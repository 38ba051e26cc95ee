-- +goose Up
-- Segments (DESIGN §6, §11): dynamic segments are a condition compiled to
-- one SQL query over customers; manual segments list their members. The
-- membership table also records who is in a dynamic segment once
-- membership is kept up to date by ingest.

CREATE TABLE segments (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name <> ''),
    kind         text NOT NULL CHECK (kind IN ('dynamic', 'manual')),
    condition    jsonb,
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'dynamic') = (condition IS NOT NULL))
);
CREATE INDEX segments_workspace_idx ON segments (workspace_id, id);

-- One row per (segment, customer): adding again is a no-op, leaving sets
-- left_at, entering again clears it.
CREATE TABLE segment_members (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    segment_id   text NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    customer_id  text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    entered_at   timestamptz NOT NULL DEFAULT now(),
    left_at      timestamptz,
    PRIMARY KEY (segment_id, customer_id)
);
CREATE INDEX segment_members_customer_idx ON segment_members (workspace_id, customer_id);

-- Members of a segment page through customers by id (keyset).
CREATE INDEX customers_workspace_id_idx ON customers (workspace_id, id);

-- Event conditions count events of one name in a time window: per
-- customer (membership of one customer, nested-loop probes) and for
-- everyone at once (a grouped pass over the window, index-only thanks to
-- the included customer_id).
CREATE INDEX events_customer_name_idx ON events (workspace_id, customer_id, name, occurred_at);
DROP INDEX events_name_idx;
CREATE INDEX events_name_idx ON events (workspace_id, name, occurred_at DESC) INCLUDE (customer_id);

-- herald_json_time reads a JSON string as a time the way conditions do
-- (DESIGN §6): RFC 3339 ("2024-05-01T09:00:00+02:00", optional fraction) or
-- a date ("2024-05-01", midnight UTC). Anything else, including impossible
-- dates, is NULL rather than an error, so one odd attribute value cannot
-- fail a whole segment query.
-- +goose StatementBegin
CREATE FUNCTION herald_json_time(v jsonb) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    m    text[];
    y    int;
    mon  int;
    d    int;
    h    int := 0;
    mi   int := 0;
    sec  numeric := 0;
    off  int := 0;
    last int;
BEGIN
    IF jsonb_typeof(v) <> 'string' THEN
        RETURN NULL;
    END IF;
    m := regexp_match(v #>> '{}',
        '^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{1,2}):([0-9]{2}):([0-9]{2})([.,][0-9]+)?(Z|([+-])([0-9]{2}):([0-9]{2})))?$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    y := m[1]::int;
    mon := m[2]::int;
    d := m[3]::int;
    IF mon < 1 OR mon > 12 THEN
        RETURN NULL;
    END IF;
    last := CASE
        WHEN mon = 2 AND (y % 4 = 0 AND (y % 100 <> 0 OR y % 400 = 0)) THEN 29
        WHEN mon = 2 THEN 28
        WHEN mon IN (4, 6, 9, 11) THEN 30
        ELSE 31 END;
    IF d < 1 OR d > last THEN
        RETURN NULL;
    END IF;
    IF m[4] IS NOT NULL THEN
        h := m[4]::int;
        mi := m[5]::int;
        sec := (m[6] || coalesce(replace(m[7], ',', '.'), ''))::numeric;
        IF h > 23 OR mi > 59 OR sec >= 60 THEN
            RETURN NULL;
        END IF;
        IF m[8] <> 'Z' THEN
            IF m[10]::int > 24 OR m[11]::int > 60 THEN
                RETURN NULL;
            END IF;
            off := m[10]::int * 60 + m[11]::int;
            IF m[9] = '-' THEN
                off := -off;
            END IF;
        END IF;
    END IF;
    -- Year 0 of RFC 3339 is 1 BC, which PostgreSQL numbers -1.
    IF y = 0 THEN
        y := -1;
    END IF;
    RETURN (make_timestamp(y, mon, d, h, mi, sec::float8) - make_interval(mins => off)) AT TIME ZONE 'UTC';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION herald_json_time(jsonb);
DROP INDEX events_name_idx;
CREATE INDEX events_name_idx ON events (workspace_id, name, occurred_at DESC);
DROP INDEX events_customer_name_idx;
DROP INDEX customers_workspace_id_idx;
DROP TABLE segment_members;
DROP TABLE segments;
