-- Errors: SQLSTATE, severity, primary message, detail, hint, position; statements after an
-- error in the same transaction get 25P02 (compared too).

-- case: division_by_zero
SELECT 1 / 0

-- case: division_by_zero_numeric_in_expression
SELECT id, 10.0 / (qty - qty) FROM items WHERE id = 1

-- case: unique_violation
INSERT INTO uniq VALUES (1, 'dup')

-- case: unique_violation_on_name
INSERT INTO items (id, name) VALUES (100, 'apple')

-- case: not_null_violation
INSERT INTO items (id, name) VALUES (101, NULL)

-- case: check_violation
INSERT INTO items (id, name, qty) VALUES (102, 'neg', -1)

-- case: foreign_key_violation
INSERT INTO child VALUES (1, 999)

-- case: syntax_error
SELEC 1

-- case: syntax_error_position_late
SELECT id, name FROM items WHERE id = 1 AND AND name = 'x'

-- case: unterminated_string
SELECT 'abc

-- case: undefined_table
SELECT * FROM no_such_table_here

-- case: undefined_column
SELECT no_such_column FROM items

-- case: undefined_function
SELECT no_such_function(1, 'a')

-- case: ambiguous_column
SELECT id FROM items, uniq

-- case: datatype_mismatch
SELECT 'abc'::int

-- case: raise_exception_custom_sqlstate
DO $$ BEGIN RAISE EXCEPTION 'custom failure %', 42 USING ERRCODE = 'P1234', DETAIL = 'the detail', HINT = 'the hint'; END $$

-- case: raise_exception_named_condition
DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = 'named condition'; END $$

-- case: function_raises_custom_sqlstate
SELECT fail_with('XX123', 'from a function')

-- case: error_then_statements_in_aborted_transaction
SELECT 1;
SELECT 1 / 0;
SELECT 2;
SELECT 3

-- case: error_inside_transaction_then_rollback
-- @notx
BEGIN;
INSERT INTO committed_log VALUES (1, 'rolled back');
SELECT 1 / 0;
SELECT count(*) FROM committed_log;
ROLLBACK;
SELECT count(*) FROM committed_log

-- case: error_then_commit_reports_rollback
-- @notx
BEGIN;
INSERT INTO committed_log VALUES (2, 'never');
SELECT no_such_column FROM committed_log;
COMMIT;
SELECT count(*) FROM committed_log

-- case: savepoint_recovers_from_error
SAVEPOINT s1;
INSERT INTO uniq VALUES (1, 'dup');
ROLLBACK TO SAVEPOINT s1;
SELECT k, v FROM uniq ORDER BY k;
RELEASE SAVEPOINT s1

-- case: error_in_middle_of_result_rows
SELECT i, 100 / (i - 50) FROM generate_series(1, 100) i

-- case: error_after_many_rows_streamed
SELECT i, CASE WHEN i = 5000 THEN (1 / 0)::text ELSE repeat('r', 100) END FROM generate_series(1, 6000) i

-- case: read_only_transaction_violation
SET TRANSACTION READ ONLY;
INSERT INTO uniq VALUES (50, 'ro')

-- case: lock_not_available_nowait_self
SELECT k FROM uniq WHERE k = 1 FOR UPDATE NOWAIT

-- case: statement_timeout_local
SET LOCAL statement_timeout = '50ms';
SELECT pg_sleep(1)

-- case: invalid_text_representation_in_array
SELECT '{1,2,x}'::int[]

-- case: numeric_value_out_of_range
SELECT 1e1000::float8

-- case: error_with_unicode_message
DO $$ BEGIN RAISE EXCEPTION 'ошибка – 失败 – ❌' USING ERRCODE = 'P0001'; END $$
