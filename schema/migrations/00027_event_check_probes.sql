-- +goose Up
-- The customer check on event rows (00014, 00016) probes each distinct
-- customer through the customers' primary key, one probe per id of the
-- statement (unnest + LATERAL), instead of `c.id = ANY (ids)`. With the
-- array form the planner, given the array's values (a custom plan: the
-- first executions on each connection and again after every ANALYZE of
-- customers), read the workspace's customers by a sequential scan and
-- compared every row with every id of the statement: with 40,000
-- customers, 500 ids took 6-10 ms a statement against ~2.5 ms by probes,
-- growing with the workspace. A FOR KEY SHARE subquery under LATERAL cannot
-- be flattened into a join, so the probes stay probes whatever plan is
-- cached. Same check, same locks (in id order), same refusal.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION events_check_customers() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ws text;
    ids text[];
    found text[];
    missing text;
BEGIN
    FOR ws, ids IN SELECT n.workspace_id, array_agg(DISTINCT n.customer_id) FROM new_events n GROUP BY n.workspace_id LOOP
        SELECT coalesce(array_agg(l.id), '{}') INTO found FROM unnest(ids) AS u(id)
            CROSS JOIN LATERAL (SELECT c.id FROM customers c WHERE c.id = u.id AND c.workspace_id = ws FOR KEY SHARE) l;
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
    ws text;
    ids text[];
    found text[];
    missing text;
BEGIN
    FOR ws, ids IN SELECT n.workspace_id, array_agg(DISTINCT n.customer_id) FROM new_events n GROUP BY n.workspace_id LOOP
        SELECT coalesce(array_agg(l.id), '{}') INTO found FROM (SELECT c.id FROM customers c
            WHERE c.workspace_id = ws AND c.id = ANY (ids) FOR KEY SHARE) l;
        IF cardinality(found) < cardinality(ids) THEN
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
