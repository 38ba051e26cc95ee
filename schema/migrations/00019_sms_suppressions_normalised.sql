-- +goose Up
-- SMS suppressions are kept as phone numbers are (NormalizePhone: digits
-- with a leading +, when the text is a number written with spaces, dots,
-- dashes or brackets), so one added by hand as "+1 (555) 010-0100" matches
-- the customer's +15550100100. Rows that become the same keep the oldest.
CREATE FUNCTION pg_temp.herald_phone(a text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN a ~ '^\+?[0-9(). -]*$' AND length(regexp_replace(a, '[^0-9]', '', 'g')) BETWEEN 5 AND 15
        THEN CASE WHEN left(a, 1) = '+' THEN '+' ELSE '' END || regexp_replace(a, '[^0-9]', '', 'g')
        ELSE a
    END
$$;
DELETE FROM suppressions s USING (
    SELECT workspace_id, address, row_number() OVER (
        PARTITION BY workspace_id, pg_temp.herald_phone(address) ORDER BY created_at, address) AS n
    FROM suppressions WHERE channel = 'sms'
) d
WHERE s.channel = 'sms' AND s.workspace_id = d.workspace_id AND s.address = d.address AND d.n > 1;
UPDATE suppressions SET address = pg_temp.herald_phone(address)
WHERE channel = 'sms' AND address <> pg_temp.herald_phone(address);

-- +goose Down
SELECT 1;
