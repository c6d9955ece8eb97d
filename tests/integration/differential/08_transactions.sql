-- Explicit transaction control (cases run without the BEGIN/ROLLBACK wrapper and clean up).

-- case: begin_commit
-- @notx
BEGIN;
INSERT INTO committed_log VALUES (300, 'committed');
COMMIT;
SELECT id, note FROM committed_log WHERE id = 300;
DELETE FROM committed_log WHERE id = 300

-- case: begin_rollback
-- @notx
BEGIN;
INSERT INTO committed_log VALUES (301, 'gone');
SELECT count(*) FROM committed_log WHERE id = 301;
ROLLBACK;
SELECT count(*) FROM committed_log WHERE id = 301

-- case: start_transaction_isolation_levels
-- @notx
START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY;
SHOW transaction_isolation;
SHOW transaction_read_only;
COMMIT;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT current_setting('transaction_isolation');
END

-- case: savepoints_nested
-- @notx
BEGIN;
INSERT INTO committed_log VALUES (310, 'outer');
SAVEPOINT a;
INSERT INTO committed_log VALUES (311, 'inner a');
SAVEPOINT b;
INSERT INTO committed_log VALUES (312, 'inner b');
ROLLBACK TO SAVEPOINT a;
SELECT id FROM committed_log WHERE id >= 310 ORDER BY id;
RELEASE a;
ROLLBACK

-- case: rollback_to_unknown_savepoint
-- @notx
BEGIN;
ROLLBACK TO SAVEPOINT nope;
SELECT 1;
ROLLBACK

-- case: savepoint_outside_transaction
-- @notx
SAVEPOINT lonely

-- case: autocommit_statement_then_select
-- @notx
INSERT INTO committed_log VALUES (320, 'autocommit');
SELECT count(*) FROM committed_log WHERE id = 320;
DELETE FROM committed_log WHERE id = 320;
SELECT count(*) FROM committed_log WHERE id = 320

-- case: set_local_reverts_after_commit
-- @notx
BEGIN;
SET LOCAL TimeZone = 'Asia/Tokyo';
SHOW TimeZone;
COMMIT;
SHOW TimeZone

-- case: set_local_application_name_reported
-- @notx
BEGIN;
SET LOCAL application_name = 'diff-local';
SELECT current_setting('application_name');
ROLLBACK;
SELECT current_setting('application_name') = 'diff-local' AS still_set

-- case: prepare_transaction_not_enabled
-- @notx
BEGIN;
PREPARE TRANSACTION 'diff_gid';
ROLLBACK

-- case: deferred_constraint_fails_at_commit
-- @notx
BEGIN;
CREATE TEMP TABLE tmp_def (id int UNIQUE DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP;
INSERT INTO tmp_def VALUES (1), (1);
SELECT count(*) FROM tmp_def;
COMMIT;
SELECT 'after failed commit' AS marker

-- case: sql_prepare_execute_in_one_transaction
PREPARE diff_stmt (int) AS SELECT k, v FROM uniq WHERE k = $1;
EXECUTE diff_stmt(1);
EXECUTE diff_stmt(2);
DEALLOCATE diff_stmt

-- case: cursor_declare_fetch
DECLARE c CURSOR FOR SELECT i, 'c' || i FROM generate_series(1, 25) i;
FETCH 10 FROM c;
FETCH NEXT FROM c;
MOVE 5 IN c;
FETCH ALL FROM c;
FETCH 1 FROM c;
CLOSE c

-- case: cursor_binary
DECLARE cb BINARY CURSOR FOR SELECT i, i::text, i::numeric FROM generate_series(1, 3) i;
FETCH ALL FROM cb;
CLOSE cb

-- case: lock_table_and_advisory
LOCK TABLE uniq IN SHARE MODE;
SELECT pg_advisory_xact_lock(424242);
SELECT pg_try_advisory_xact_lock(424242) AS again

-- case: transaction_snapshot_functions
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM items;
SELECT txid_current_if_assigned() IS NULL AS no_xid_yet
