-- +goose Up
-- Workspace-wide defaults: quiet hours that apply to journeys without their own.
ALTER TABLE workspaces ADD COLUMN quiet_start text, ADD COLUMN quiet_end text;

-- +goose Down
ALTER TABLE workspaces DROP COLUMN quiet_start, DROP COLUMN quiet_end;
