-- +goose Up
-- Which rows a run writes (docs/import.md): every row (upsert, as before),
-- only rows of customers the run creates (create_only), or only rows of
-- customers who exist (update_only). Rows a run leaves out for its mode are
-- counted in skipped_rows.
ALTER TABLE imports ADD COLUMN mode text NOT NULL DEFAULT 'upsert'
	CHECK (mode IN ('upsert', 'create_only', 'update_only'));
ALTER TABLE imports ADD COLUMN skipped_rows int NOT NULL DEFAULT 0;
-- The field separator the upload read the file with; NULL for files
-- uploaded before it was stored.
ALTER TABLE imports ADD COLUMN separator text;

-- What a create_only or update_only run decided for each customer key
-- (user id, or lower-case email) the first time it met it, so that the
-- key's later rows, in any chunk, go the same way. The key is kept as a
-- digest, and a run's decisions are deleted when it ends.
CREATE TABLE import_run_keys (
    workspace_id text NOT NULL,
    import_id    text NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    run          integer NOT NULL,
    key_digest   bytea NOT NULL,
    kept         boolean NOT NULL,
    PRIMARY KEY (import_id, run, key_digest)
);

-- +goose Down
DROP TABLE import_run_keys;
ALTER TABLE imports DROP COLUMN separator;
ALTER TABLE imports DROP COLUMN skipped_rows;
ALTER TABLE imports DROP COLUMN mode;
