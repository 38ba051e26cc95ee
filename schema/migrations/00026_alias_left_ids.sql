-- +goose Up
-- An alias whose previousId Herald did not know as a user id keeps it as
-- an anonymous id of the alias's customer (DESIGN §4); from_alias marks
-- those rows. A user id that no customer has as its external or previous
-- user id still names the customer with such an id (the aliases of a chain
-- u1 → u2 → u3 sit on different partitions and may be applied out of
-- order), but not a device's anonymous id that an identify or a track
-- attached. Rows from before this migration are not marked.
ALTER TABLE customer_anonymous_ids ADD COLUMN from_alias boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE customer_anonymous_ids DROP COLUMN from_alias;
