-- +goose Up
-- tried_at is set when journeys are first about to be told of a change.
-- A change whose routing stopped part-way stays pending and is routed
-- again; the router then knows some of its journeys may have it already
-- (and reads back what it started), while a change routed the first time
-- costs no such reads. Changes pending at upgrade count as tried.
ALTER TABLE segment_changes ADD COLUMN tried_at timestamptz;
UPDATE segment_changes SET tried_at = now() WHERE routed_at IS NULL;

-- +goose Down
ALTER TABLE segment_changes DROP COLUMN tried_at;
