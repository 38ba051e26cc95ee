-- +goose Up
-- Which rows a run writes (docs/import.md): every row (upsert, as before),
-- only rows of customers who did not exist when the run started
-- (create_only), or only rows of customers who exist (update_only). Rows a
-- run leaves out for its mode are counted in skipped_rows.
ALTER TABLE imports ADD COLUMN mode text NOT NULL DEFAULT 'upsert'
	CHECK (mode IN ('upsert', 'create_only', 'update_only'));
ALTER TABLE imports ADD COLUMN skipped_rows int NOT NULL DEFAULT 0;
-- The field separator the upload read the file with; NULL for files
-- uploaded before it was stored.
ALTER TABLE imports ADD COLUMN separator text;

-- +goose Down
ALTER TABLE imports DROP COLUMN separator;
ALTER TABLE imports DROP COLUMN skipped_rows;
ALTER TABLE imports DROP COLUMN mode;
