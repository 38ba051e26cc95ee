-- +goose Up
-- The statement trigger that checks an insert's customers (00014) probes
-- them with one index scan per workspace over the array of its distinct
-- customer ids (= ANY) instead of one LATERAL probe per customer: the same
-- check and the same KEY SHARE locks, without an executor rescan per
-- customer. A refusal names a missing key (the smallest of its workspace)
-- from the rows the check locked.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION events_check_customers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ws text;
    ids text[];
    found text[];
    missing text;
BEGIN
    FOR ws, ids IN SELECT n.workspace_id, array_agg(DISTINCT n.customer_id) FROM new_events n GROUP BY n.workspace_id LOOP
        SELECT coalesce(array_agg(l.id), '{}') INTO found FROM (SELECT c.id FROM customers c
            WHERE c.workspace_id = ws AND c.id = ANY (ids) FOR KEY SHARE) l;
        IF cardinality(found) < cardinality(ids) THEN
            -- Named from what this check saw, not from a second look.
            SELECT i INTO missing FROM unnest(ids) i WHERE NOT i = ANY (found) LIMIT 1;
            RAISE EXCEPTION 'insert or update on table "events" violates foreign key constraint "events_customer_fkey"'
                USING ERRCODE = 'foreign_key_violation', TABLE = 'events', CONSTRAINT = 'events_customer_fkey',
                    DETAIL = format('Key (workspace_id, customer_id)=(%s, %s) is not present in table "customers".', ws, missing);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION events_check_customers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    locked bigint;
    missing record;
BEGIN
    SELECT count(*), count(l.id) INTO wanted, locked
        FROM (SELECT DISTINCT n.workspace_id, n.customer_id FROM new_events n) n
        LEFT JOIN LATERAL (SELECT c.id FROM customers c WHERE c.workspace_id = n.workspace_id AND c.id = n.customer_id
            FOR KEY SHARE) l ON true;
    IF locked < wanted THEN
        SELECT n.workspace_id, n.customer_id INTO missing FROM new_events n
            WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.workspace_id = n.workspace_id AND c.id = n.customer_id)
            LIMIT 1;
        RAISE EXCEPTION 'insert or update on table "events" violates foreign key constraint "events_customer_fkey"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'events', CONSTRAINT = 'events_customer_fkey',
                DETAIL = format('Key (workspace_id, customer_id)=(%s, %s) is not present in table "customers".',
                    missing.workspace_id, missing.customer_id);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
