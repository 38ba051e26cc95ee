-- +goose Up
-- CSV imports of customers (docs/import.md). An upload keeps the parsed
-- file in Postgres, one row per CSV record, so the import workflow reads
-- its batches by row number and carries no file in its payloads; the file
-- stays for reruns. A run is numbered: every write of a run checks that it
-- is still the import's current run, so a stale worker cannot touch a
-- newer run's progress.

CREATE TABLE imports (
    id             text PRIMARY KEY,
    workspace_id   text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by     text NOT NULL,
    file_name      text NOT NULL DEFAULT '',
    file_size      bigint NOT NULL DEFAULT 0,
    headers        text[] NOT NULL,
    status         text NOT NULL DEFAULT 'uploaded'
                   CHECK (status IN ('uploaded', 'running', 'completed', 'failed', 'cancelled')),
    mapping        jsonb,
    -- A manual segment the imported customers join. No foreign key: the
    -- segments table belongs to another migration.
    segment_id     text,
    run            integer NOT NULL DEFAULT 0,
    total_rows     integer NOT NULL DEFAULT 0,
    processed_rows integer NOT NULL DEFAULT 0,
    created_rows   integer NOT NULL DEFAULT 0,
    updated_rows   integer NOT NULL DEFAULT 0,
    failed_rows    integer NOT NULL DEFAULT 0,
    error          text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (processed_rows <= total_rows)
);
CREATE INDEX imports_workspace_idx ON imports (workspace_id, created_at DESC, id DESC);

-- The uploaded file: row_number is the record's number as a spreadsheet
-- shows it (the header is row 1, the first customer row 2).
CREATE TABLE import_rows (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    import_id    text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number   integer NOT NULL,
    fields       text[] NOT NULL,
    PRIMARY KEY (import_id, row_number)
);

-- Rows the current run skipped, one error per row.
CREATE TABLE import_errors (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    import_id    text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number   integer NOT NULL,
    "column"     text NOT NULL DEFAULT '',
    message      text NOT NULL,
    PRIMARY KEY (import_id, row_number)
);

-- +goose Down
DROP TABLE import_errors;
DROP TABLE import_rows;
DROP TABLE imports;
