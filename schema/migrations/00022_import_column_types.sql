-- +goose Up
-- The attribute types an upload suggests, by column position, worked out
-- over every row of the file as the upload reads it: the preview rows alone
-- would suggest a number for a ZIP code column whose first rows have no
-- leading zero, and the suggested mapping would drop a later row's zero.
-- NULL for files uploaded before: their suggestion keeps reading the
-- preview rows.
ALTER TABLE imports ADD COLUMN column_types text[];

-- +goose Down
ALTER TABLE imports DROP COLUMN column_types;
