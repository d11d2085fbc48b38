-- Substring search on item name and SKU without pg_trgm (the embedded server ships no contrib):
-- a GIN index over the array of distinct trigrams of "lower(name) lower(sku)". A query of three or
-- more characters must contain all of its own trigrams, so `@>` narrows the candidates through the
-- index and a LIKE re-checks them. Shorter queries fall back to a scan.
CREATE FUNCTION ims_trigrams(t text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY(SELECT DISTINCT substr(t, i, 3) FROM generate_series(1, length(t) - 2) AS i);

CREATE INDEX items_search_idx ON items USING gin (ims_trigrams(lower(name) || ' ' || lower(sku)));
