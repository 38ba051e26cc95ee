-- +goose Up
-- Where a merged-away customer went. A merge deletes the merged profile, but
-- its id lives on where it was copied before the merge: an event applied to
-- it and routed after the merge, a run or a send scheduled with it, a merge
-- event delivered again. The router, the journey activities and the
-- duplicate check follow this table to the profile that survived (into_id is
-- always the last of a chain: a merge of into_id moves its rows on).
-- message_id is the event that merged ('' for none). Erasing the survivor
-- deletes its rows: an erased customer's old ids lead nowhere.
CREATE TABLE customer_merges (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    from_id      text NOT NULL,
    into_id      text NOT NULL,
    message_id   text NOT NULL DEFAULT '',
    merged_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, from_id)
);
CREATE INDEX customer_merges_into_idx ON customer_merges (workspace_id, into_id);
CREATE INDEX customer_merges_message_idx ON customer_merges (workspace_id, message_id) WHERE message_id <> '';

-- The merges recorded so far (audit log), each to the end of its chain,
-- when that customer still exists.
INSERT INTO customer_merges (workspace_id, from_id, into_id, merged_at)
WITH RECURSIVE m AS (
    SELECT DISTINCT ON (workspace_id, detail->>'merged_from') workspace_id, detail->>'merged_from' AS from_id,
        subject_id AS into_id, created_at
    FROM audit_log WHERE action = 'merge' AND subject_type = 'customer' AND detail ? 'merged_from'
    ORDER BY workspace_id, detail->>'merged_from', created_at DESC
), chain AS (
    SELECT workspace_id, from_id, into_id, created_at, 0 AS depth FROM m
    UNION ALL
    SELECT c.workspace_id, c.from_id, m.into_id, c.created_at, c.depth + 1
    FROM chain c JOIN m ON m.workspace_id = c.workspace_id AND m.from_id = c.into_id
    WHERE c.depth < 100
)
SELECT DISTINCT ON (workspace_id, from_id) workspace_id, from_id, into_id, created_at FROM chain c
WHERE EXISTS (SELECT 1 FROM customers k WHERE k.workspace_id = c.workspace_id AND k.id = c.into_id)
ORDER BY workspace_id, from_id, depth DESC;

-- What was recorded about a merged profile is the survivor's.
UPDATE audit_log a SET subject_id = m.into_id FROM customer_merges m
WHERE a.workspace_id = m.workspace_id AND a.subject_type = 'customer' AND a.subject_id = m.from_id;

-- +goose Down
DROP TABLE customer_merges;
