-- Large values and large results (several MB per value, 100k rows).

-- case: text_4mb
SELECT length(repeat('abcdefgh', 524288)) AS len, repeat('abcdefgh', 524288) AS big

-- case: bytea_3mb
SELECT decode(repeat('00ff7f80', 786432), 'hex') AS big, md5(decode(repeat('00ff7f80', 786432), 'hex')) AS h

-- case: several_large_columns
SELECT repeat('a', 1000000) AS a, repeat('ö', 1000000) AS b, repeat('c', 1000001) AS c

-- case: rows_100k
SELECT i, 'row ' || i AS label, i * 2.5 AS half, i % 7 = 0 AS sev FROM generate_series(1, 100000) i

-- case: rows_100k_with_nulls
SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE md5(i::text) END AS h FROM generate_series(1, 100000) i

-- case: many_medium_rows
SELECT i, repeat(chr(65 + i % 26), 10000) AS chunk FROM generate_series(1, 500) i

-- case: wide_row_many_columns
SELECT 1 c1, 2 c2, 3 c3, 4 c4, 5 c5, 6 c6, 7 c7, 8 c8, 9 c9, 10 c10, 11 c11, 12 c12, 13 c13, 14 c14,
       15 c15, 16 c16, 17 c17, 18 c18, 19 c19, 20 c20, 21 c21, 22 c22, 23 c23, 24 c24, 25 c25, 26 c26,
       27 c27, 28 c28, 29 c29, 30 c30, 'x' c31, NULL c32, 'z' c33, 34 c34, 35 c35, 36 c36, 37 c37,
       38 c38, 39 c39, 40 c40

-- case: generated_wide_row_1600_columns_as_text
SELECT string_agg('c' || i, ',') AS names FROM generate_series(1, 1600) i

-- case: large_insert_and_readback
INSERT INTO copy_target SELECT i, repeat('v', 100) || i FROM generate_series(1, 20000) i;
SELECT count(*), sum(id), md5(string_agg(val, ',' ORDER BY id)) FROM copy_target

-- case: large_jsonb_document
SELECT jsonb_agg(jsonb_build_object('i', i, 's', repeat('j', 50), 'a', jsonb_build_array(i, NULL, true)))
FROM generate_series(1, 20000) i

-- case: large_array
SELECT array_agg(i) AS ints, array_agg(i::text) AS texts FROM generate_series(1, 50000) i
