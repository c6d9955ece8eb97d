-- NULLs in every position.

-- case: null_of_every_type
SELECT NULL::int2 a, NULL::int4 b, NULL::int8 c, NULL::numeric d, NULL::float4 e, NULL::float8 f,
       NULL::bool g, NULL::text h, NULL::bytea i, NULL::date j, NULL::time k, NULL::timestamp l,
       NULL::timestamptz m, NULL::interval n, NULL::uuid o, NULL::json p, NULL::jsonb q,
       NULL::int[] r, NULL::pair s, NULL::mood t, NULL::int4range u, NULL::inet v

-- case: null_row_of_alltypes
SELECT * FROM alltypes WHERE id = 2

-- case: nulls_in_arrays
SELECT ARRAY[NULL, 1, NULL]::int[] AS a, ARRAY[NULL]::text[] AS b, ARRAY[[1, NULL], [NULL, 4]] AS c,
       array_length(ARRAY[NULL, NULL]::int[], 1) AS len

-- case: nulls_in_composite
SELECT ROW(NULL, 'x')::pair AS p1, ROW(1, NULL)::pair AS p2, ROW(NULL, NULL)::pair IS NULL AS all_null

-- case: null_json_vs_sql_null
SELECT 'null'::jsonb AS json_null, NULL::jsonb AS sql_null, '{"a": null}'::jsonb -> 'a' AS extracted,
       '{"a": null}'::jsonb ->> 'a' AS extracted_text

-- case: null_sorting_and_aggregates
SELECT qty, count(*) FROM items GROUP BY qty ORDER BY qty NULLS FIRST;
SELECT sum(NULL::int), avg(NULL::numeric), max(qty), array_agg(price ORDER BY id), string_agg(NULL, ',')

-- case: empty_result_set
SELECT * FROM items WHERE false

-- case: empty_result_no_columns
SELECT FROM items WHERE id = 1

-- case: empty_string_vs_null
SELECT '' AS empty, NULL::text AS nul, '' IS NULL AS e_is_null, coalesce(NULL, '') AS c, nullif('', '') AS n

-- case: null_comparisons
SELECT NULL = NULL AS eq, NULL IS DISTINCT FROM NULL AS dist, NULL::int IN (1, NULL) AS inn,
       NOT (NULL::bool) AS notnull

-- case: null_in_dml_returning
UPDATE items SET qty = NULL WHERE id IN (1, 2) RETURNING id, qty;
INSERT INTO uniq VALUES (3, NULL) RETURNING *;
DELETE FROM uniq WHERE v IS NULL RETURNING k, v
