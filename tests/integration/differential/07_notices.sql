-- Notices, warnings, infos: severity, SQLSTATE, message as the notice handler sees them.

-- case: raise_notice
DO $$ BEGIN RAISE NOTICE 'hello notice'; END $$

-- case: raise_all_levels
DO $$ BEGIN
  RAISE INFO 'info level';
  RAISE NOTICE 'notice level %', 1;
  RAISE WARNING 'warning level';
  RAISE LOG 'log level (not sent)';
END $$

-- case: notice_with_custom_sqlstate_and_detail
DO $$ BEGIN RAISE NOTICE 'custom' USING ERRCODE = '01ABC', DETAIL = 'd', HINT = 'h'; END $$

-- case: notices_from_function_in_select
SELECT noisy(3) AS n

-- case: many_notices
SELECT noisy(500) AS n

-- case: notices_interleaved_with_rows
SELECT i, noisy(i) FROM generate_series(1, 4) i

-- case: notice_then_error
DO $$ BEGIN RAISE NOTICE 'before the error'; RAISE EXCEPTION 'the error'; END $$

-- case: drop_if_exists_notice
DROP TABLE IF EXISTS surely_not_here_table

-- case: create_if_not_exists_notice
CREATE TABLE IF NOT EXISTS uniq (k int)

-- case: client_min_messages_suppresses
SET LOCAL client_min_messages = 'warning';
SELECT noisy(2);
DO $$ BEGIN RAISE WARNING 'still shown'; END $$

-- case: client_min_messages_error_only
SET LOCAL client_min_messages = 'error';
DO $$ BEGIN RAISE WARNING 'hidden warning'; END $$

-- case: commit_without_transaction_warning
-- @notx
COMMIT

-- case: rollback_without_transaction_warning
-- @notx
ROLLBACK

-- case: begin_inside_transaction_warning
BEGIN

-- case: unicode_notice
DO $$ BEGIN RAISE NOTICE 'Grüße – こんにちは – 🎉'; END $$

-- case: long_notice
DO $$ BEGIN RAISE NOTICE '%', repeat('long notice ', 20000); END $$
