-- Utility commands, DDL, DML status messages, EXPLAIN, CTEs, SHOW/SET.

-- case: dml_status_messages
INSERT INTO uniq VALUES (10, 'ten'), (11, 'eleven');
UPDATE uniq SET v = v || '!' WHERE k >= 10;
DELETE FROM uniq WHERE k = 11;
INSERT INTO uniq SELECT 12, 'twelve' WHERE false;
SELECT * FROM uniq ORDER BY k

-- case: insert_on_conflict
INSERT INTO uniq VALUES (1, 'upsert') ON CONFLICT (k) DO UPDATE SET v = excluded.v RETURNING k, v, xmax = 0 AS inserted;
INSERT INTO uniq VALUES (2, 'ignored') ON CONFLICT DO NOTHING

-- case: merge_statement
MERGE INTO uniq u USING (VALUES (1, 'm1'), (20, 'm20')) s (k, v) ON u.k = s.k
WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.k, s.v);
SELECT * FROM uniq ORDER BY k

-- case: ddl_in_transaction
CREATE TABLE ddl_tmp (a int PRIMARY KEY, b text DEFAULT 'd');
ALTER TABLE ddl_tmp ADD COLUMN c jsonb;
CREATE INDEX ON ddl_tmp (b);
INSERT INTO ddl_tmp (a) VALUES (1);
SELECT * FROM ddl_tmp;
COMMENT ON TABLE ddl_tmp IS 'temporary';
DROP TABLE ddl_tmp

-- case: create_function_and_call
CREATE FUNCTION diff_add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
SELECT diff_add(2, 3);
CREATE PROCEDURE diff_proc(INOUT x int) LANGUAGE plpgsql AS $$ BEGIN x := x * 2; END $$;
CALL diff_proc(21)

-- case: set_returning_functions
SELECT * FROM set_of_pairs(3);
SELECT (set_of_pairs(2)).*;
SELECT * FROM generate_series('2024-01-01'::timestamptz, '2024-01-02', '6 hours') g

-- case: show_and_set
SHOW TimeZone;
SHOW search_path LIKE_NOT_VALID

-- case: show_settings
SHOW server_encoding;
SHOW client_encoding;
SHOW DateStyle;
SHOW standard_conforming_strings;
SET LOCAL search_path = public;
SELECT current_schemas(false)

-- case: set_unknown_parameter
SET LOCAL no_such_parameter = 1

-- case: custom_parameter
SET LOCAL app.tenant = 'acme';
SELECT current_setting('app.tenant'), current_setting('app.missing', true)

-- case: explain_costs_off
EXPLAIN (COSTS OFF) SELECT * FROM items WHERE id = 1

-- case: explain_analyze_format_json_costs_off
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) SELECT count(*) FROM uniq

-- case: cte_and_window
WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10)
SELECT n, sum(n) OVER (ORDER BY n) AS running, rank() OVER (ORDER BY n % 3) AS rnk FROM t

-- case: values_and_union
VALUES (1, 'a'), (2, NULL), (NULL, 'c');
SELECT 1 UNION ALL SELECT 2 EXCEPT SELECT 2

-- case: view_and_table_oids_in_rowdesc
SELECT id, uname FROM item_names ORDER BY id;
SELECT items.id, items.name, uniq.v FROM items JOIN uniq ON uniq.k = items.id ORDER BY 1

-- case: listen_notify_in_rolled_back_transaction
LISTEN diff_channel;
NOTIFY diff_channel, 'payload';
UNLISTEN *

-- case: truncate_and_sequence
CREATE TEMP SEQUENCE diff_seq;
SELECT nextval('diff_seq'), nextval('diff_seq'), currval('diff_seq');
TRUNCATE copy_target;
SELECT count(*) FROM copy_target

-- case: select_into_and_ctas
CREATE TEMP TABLE diff_ctas AS SELECT k, v FROM uniq;
SELECT * INTO TEMP diff_into FROM uniq WHERE k = 1;
SELECT (SELECT count(*) FROM diff_ctas), (SELECT count(*) FROM diff_into)

-- case: do_block_without_output
DO $$ DECLARE x int; BEGIN SELECT count(*) INTO x FROM items; END $$

-- case: comments_and_whitespace_only_statement
/* block comment */ SELECT /* inline */ 1 -- trailing
