-- COPY TO STDOUT compared byte for byte; COPY FROM STDIN then counts.

-- case: copy_out_text
COPY (SELECT id, name, qty, price, tags, meta, m FROM items ORDER BY id) TO STDOUT

-- case: copy_out_csv_header
COPY (SELECT id, name, price, tags FROM items ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)

-- case: copy_out_binary
COPY (SELECT * FROM alltypes ORDER BY id) TO STDOUT WITH (FORMAT binary)

-- case: copy_out_table
COPY uniq TO STDOUT

-- case: copy_out_large
COPY (SELECT i, md5(i::text), repeat('z', i % 200) FROM generate_series(1, 50000) i) TO STDOUT

-- case: copy_out_empty
COPY (SELECT 1 WHERE false) TO STDOUT

-- case: copy_out_error_midway
COPY (SELECT i, 10 / (i - 500) FROM generate_series(1, 1000) i) TO STDOUT

-- case: copy_in_text_inline
COPY copy_target (id, val) FROM STDIN;
1	one
2	\N
3	three with \t tab
\.
SELECT id, val FROM copy_target ORDER BY id

-- case: copy_in_csv
COPY copy_target FROM STDIN WITH (FORMAT csv, HEADER true);
id,val
10,"quoted, with comma"
11,
12,"multi
line"
\.
SELECT id, val, val IS NULL AS isnull FROM copy_target ORDER BY id

-- case: copy_in_generated_100k
-- @copy-gen: 100000
COPY copy_target FROM STDIN;
SELECT count(*), sum(id), md5(string_agg(val, '|' ORDER BY id)) FROM copy_target

-- case: copy_in_empty
COPY copy_target FROM STDIN;
\.
SELECT count(*) FROM copy_target

-- case: copy_in_bad_data
COPY copy_target FROM STDIN;
1	fine
notanint	bad
\.
SELECT count(*) FROM copy_target

-- case: copy_in_unique_violation
COPY uniq FROM STDIN;
7	seven
1	duplicate
\.
SELECT count(*) FROM uniq

-- case: copy_in_then_copy_out
COPY copy_target FROM STDIN;
5	e
4	d
\.
COPY (SELECT * FROM copy_target ORDER BY id) TO STDOUT WITH (FORMAT csv)

-- case: copy_in_committed_then_cleaned
-- @notx
COPY committed_log FROM STDIN;
100	copied
101	also copied
\.
SELECT count(*) FROM committed_log;
DELETE FROM committed_log WHERE id IN (100, 101);
SELECT count(*) FROM committed_log
