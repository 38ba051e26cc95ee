-- +goose Up
-- Deleting a customer (a merge, an erasure) cascades through the foreign
-- keys onto customers. Keyed on customer_id alone, Postgres's cascade
-- statement (DELETE FROM ONLY t WHERE $1 = customer_id) found no index
-- leading with customer_id on segment_members, segment_changes and
-- customer_user_aliases and read them whole. Keyed on (workspace_id,
-- customer_id) → customers (workspace_id, id), the cascades probe the
-- (workspace_id, customer_id) indexes those tables have.
ALTER TABLE segment_members ADD CONSTRAINT segment_members_customer_fkey FOREIGN KEY (workspace_id, customer_id)
    REFERENCES customers (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE segment_members VALIDATE CONSTRAINT segment_members_customer_fkey;
ALTER TABLE segment_members DROP CONSTRAINT segment_members_customer_id_fkey;
ALTER TABLE segment_changes ADD CONSTRAINT segment_changes_customer_fkey FOREIGN KEY (workspace_id, customer_id)
    REFERENCES customers (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE segment_changes VALIDATE CONSTRAINT segment_changes_customer_fkey;
ALTER TABLE segment_changes DROP CONSTRAINT segment_changes_customer_id_fkey;
ALTER TABLE customer_user_aliases ADD CONSTRAINT customer_user_aliases_customer_fkey FOREIGN KEY (workspace_id, customer_id)
    REFERENCES customers (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE customer_user_aliases VALIDATE CONSTRAINT customer_user_aliases_customer_fkey;
ALTER TABLE customer_user_aliases DROP CONSTRAINT customer_user_aliases_customer_id_fkey;

-- +goose Down
ALTER TABLE segment_members ADD CONSTRAINT segment_members_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE segment_members DROP CONSTRAINT segment_members_customer_fkey;
ALTER TABLE segment_changes ADD CONSTRAINT segment_changes_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE segment_changes DROP CONSTRAINT segment_changes_customer_fkey;
ALTER TABLE customer_user_aliases ADD CONSTRAINT customer_user_aliases_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE;
ALTER TABLE customer_user_aliases DROP CONSTRAINT customer_user_aliases_customer_fkey;
