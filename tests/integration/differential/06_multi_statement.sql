-- Multi-statement simple-protocol strings (text only): every result set is compared.

-- case: two_selects
-- @multi
SELECT 1 AS one; SELECT 2 AS two, 'b' AS bee

-- case: mixed_commands_and_selects
-- @multi
SET LOCAL work_mem = '8MB'; SHOW work_mem; SELECT id, name FROM items ORDER BY id; UPDATE uniq SET v = v WHERE k = 1;
SELECT count(*) FROM uniq

-- case: dml_counts_in_one_string
-- @multi
INSERT INTO copy_target VALUES (1, 'a'), (2, 'b'); UPDATE copy_target SET val = upper(val); DELETE FROM copy_target WHERE id = 1;
SELECT * FROM copy_target

-- case: error_in_middle_of_multi
-- @multi
SELECT 1; SELECT 1 / 0; SELECT 3

-- case: error_in_first_statement_of_multi
-- @multi
SELECT no_such_col FROM items; SELECT 2

-- case: multi_with_empty_statements
-- @multi
;; SELECT 1;; ;SELECT 2;

-- case: multi_only_empty_query
-- @multi
;

-- case: multi_empty_string
-- @multi
-- (only a comment: an empty query)

-- case: multi_begin_commit_inside
-- @notx
-- @multi
BEGIN; INSERT INTO committed_log VALUES (200, 'multi'); SELECT count(*) FROM committed_log; COMMIT;
DELETE FROM committed_log WHERE id = 200; SELECT count(*) FROM committed_log

-- case: multi_implicit_transaction_rolls_back_on_error
-- @notx
-- @multi
INSERT INTO committed_log VALUES (201, 'implicit'); SELECT 1 / 0; INSERT INTO committed_log VALUES (202, 'never')

-- case: multi_check_implicit_rollback
-- @notx
-- @multi
SELECT count(*) FROM committed_log WHERE id IN (201, 202)

-- case: multi_with_notices
-- @multi
SELECT noisy(2); DO $$ BEGIN RAISE WARNING 'warn in multi'; END $$; SELECT noisy(1)

-- case: multi_large_results
-- @multi
SELECT i FROM generate_series(1, 30000) i; SELECT repeat('m', 2000000) AS big; SELECT 'end' AS marker

-- case: multi_ddl_and_temp
-- @multi
CREATE TEMP TABLE tmp_multi (a int) ON COMMIT DROP; INSERT INTO tmp_multi SELECT generate_series(1, 5);
SELECT sum(a) FROM tmp_multi; DROP TABLE tmp_multi

-- case: multi_two_labelled_selects
-- @multi
SELECT 'before' AS b; SELECT 'after' AS a

-- case: multi_ten_result_sets
-- @multi
SELECT 1; SELECT 2; SELECT 3; SELECT 4; SELECT 5; SELECT 6; SELECT 7; SELECT 8; SELECT 9; SELECT 10
