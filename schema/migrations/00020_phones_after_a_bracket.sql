-- +goose Up
-- A phone number written with a bracket before its "+" ("(+33) 6 12 34 56
-- 78") is kept as its digits with the "+" since 2026-11-29 (PhoneNumber);
-- before, such text was kept as written. Customers' phones and SMS
-- suppressions stored so are rewritten, so they match again; suppressions
-- that become the same keep the oldest.
CREATE FUNCTION pg_temp.herald_bracket_phone(a text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN a ~ '^[( ]*\(\s*\+[0-9(). -]*$' AND length(regexp_replace(a, '[^0-9]', '', 'g')) BETWEEN 5 AND 15
        THEN '+' || regexp_replace(a, '[^0-9]', '', 'g')
        ELSE a
    END
$$;
UPDATE customers SET phone = pg_temp.herald_bracket_phone(phone)
WHERE phone IS NOT NULL AND phone <> pg_temp.herald_bracket_phone(phone);
DELETE FROM suppressions s USING (
    SELECT workspace_id, address, row_number() OVER (
        PARTITION BY workspace_id, pg_temp.herald_bracket_phone(address) ORDER BY created_at, address) AS n
    FROM suppressions WHERE channel = 'sms'
) d
WHERE s.channel = 'sms' AND s.workspace_id = d.workspace_id AND s.address = d.address AND d.n > 1;
UPDATE suppressions SET address = pg_temp.herald_bracket_phone(address)
WHERE channel = 'sms' AND address <> pg_temp.herald_bracket_phone(address);

-- +goose Down
SELECT 1;
