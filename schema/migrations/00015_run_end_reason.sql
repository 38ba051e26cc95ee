-- +goose Up
-- Why a run ended when it did not simply reach an exit node: the exit
-- signal's reason (e.g. a merge into a customer already in the journey),
-- or the event of an exit_on. Empty otherwise.
ALTER TABLE runs ADD COLUMN end_reason text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE runs DROP COLUMN end_reason;
