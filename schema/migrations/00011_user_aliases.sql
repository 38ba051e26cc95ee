-- +goose Up
-- User ids a customer was known by before (DESIGN §4, issue 4): Segment's
-- `alias` whose previousId is an earlier userId retires that id. A retired
-- id keeps resolving to its customer — later events, lookups and imports
-- under it land on the same profile. A user id is either one customer's
-- external_id or one row here, never both.
CREATE TABLE customer_user_aliases (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      text NOT NULL,
    customer_id  text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX customer_user_aliases_customer_idx ON customer_user_aliases (workspace_id, customer_id);

-- +goose Down
DROP TABLE customer_user_aliases;
