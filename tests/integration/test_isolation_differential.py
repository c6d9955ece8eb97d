"""Isolation differential: whatever session-changing construct a client runs through pgrelay in
transaction mode, the next client's session is indistinguishable from a fresh session straight on
the primary.

A seeded RNG picks, round after round, a catalogue entry (SET / RESET / SET LOCAL / set_config,
roles, search_path, temp tables, advisory locks, LISTEN, WITH HOLD cursors, SQL PREPARE, DO blocks,
user-defined functions and procedures, functions run implicitly by a trigger or a view, harmless
SELECTs). Client A runs it through pgrelay (pool of 1 or 2 servers), then either disconnects or
stays connected; then observers connect through pgrelay, one per server they can get, and each
observation (SHOW ALL, users, temp relations, advisory locks, SQL prepared statements, LISTEN
channels, cursors, custom settings) must equal the baseline taken on a fresh direct session.

Replay a run with ISOLATION_SEED=<seed>; ISOLATION_ROUNDS sets the number of rounds (default 200);
ISOLATION_ENTRIES=name,name limits the catalogue to some entries.
"""

from __future__ import annotations

import os
import random
import socket
import time

import psycopg
import pytest

from helpers_core import admin, alarm_deadline, connect, primary_app, sqlstate_of
from helpers_core import console
from helpers_isolation import diff, observe, observe_direct, settle

ROUNDS = int(os.environ.get("ISOLATION_ROUNDS", "200"))
SEED_ENV = os.environ.get("ISOLATION_SEED")
# Comma-separated catalogue entry names to draw from (default: all), to narrow down a failure.
ENTRIES_ENV = os.environ.get("ISOLATION_ENTRIES")
STAY_PROBABILITY = 0.35  # A stays connected while the observers run
WAIT_TIMEOUT = "2s"       # pgrelay's wait_timeout: an observer never waits long for a server
TEST_DEADLINE = 110       # seconds per parametrization; the test is interrupted past this

SCHEMA = "iso_diff"
ROLE = "iso_diff_r"  # NOLOGIN, granted to app
# Custom (placeholder) settings the catalogue touches; read with current_setting(name, true).


# ------------------------------------------------------------------------------------------
# the catalogue: name -> statements run one by one by one client (autocommit; BEGIN/COMMIT steps
# make explicit transactions). Entries in EXPECTED_ERRORS fail on Postgres itself, by design.

S = SCHEMA
CATALOGUE: dict[str, list[str]] = {
    # SET / RESET / SET LOCAL on real and custom settings
    "set_real": ["SET statement_timeout = '4321ms'", "SET work_mem = '7MB'"],
    "set_custom": ["SET myapp.tenant = 't_set'"],
    "set_custom_quoted": ["""SET "my$app".x = 'q_set'"""],
    "set_to_default": ["SET statement_timeout = '5s'", "SET statement_timeout TO DEFAULT",
                       "SET myapp.tenant TO DEFAULT"],
    "set_then_reset": ["SET work_mem = '8MB'", "RESET work_mem", "SET myapp.tenant = 'r'",
                       "RESET myapp.tenant"],
    "set_then_reset_all": ["SET work_mem = '9MB'", "SET myapp.tenant = 'ra'", "RESET ALL"],
    "set_then_discard_all": ["SET lock_timeout = '2s'", "SET myapp.tenant = 'da'", "DISCARD ALL"],
    "set_local_in_tx": ["BEGIN", "SET LOCAL search_path = iso_diff", "SET LOCAL myapp.tenant = 'l'",
                        "SET LOCAL statement_timeout = '3s'", "SELECT 1", "COMMIT"],
    "set_in_tx_commit": ["BEGIN", "SET lock_timeout = '3s'", "SET myapp.tenant = 'tx'", "COMMIT"],
    "set_in_tx_rollback": ["BEGIN", "SET lock_timeout = '3s'", "SET myapp.tenant = 'rb'", "ROLLBACK"],
    "set_savepoint_rollback": ["BEGIN", "SET myapp.tenant = 'sp'", "SAVEPOINT s1",
                               "SET search_path = iso_diff", "ROLLBACK TO SAVEPOINT s1", "COMMIT"],
    "set_multi_statement": ["SET myapp.tenant = 'multi'; SET work_mem = '6MB'; SELECT 1"],
    "set_session_characteristics": [
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ"],
    # set_config(…, false) and (…, true)
    "set_config_session": ["SELECT set_config('myapp.tenant', 'sc', false)"],
    "set_config_real": ["SELECT set_config('statement_timeout', '6543ms', false)"],
    "set_config_quoted": ["SELECT set_config('my$app.x', 'sq', false)"],
    "set_config_computed": ["SELECT set_config('myapp.tenant', 'c' || 'd', false)"],
    "set_config_two": ["SELECT set_config('myapp.tenant', 'a2', false), "
                       "set_config('my$app.x', 'b2', false)"],
    "set_config_local_autocommit": ["SELECT set_config('myapp.tenant', 'loc', true)"],
    "set_config_local_in_tx": ["BEGIN", "SELECT set_config('search_path', 'iso_diff', true)",
                               "SELECT set_config('myapp.tenant', 'loc2', true)", "COMMIT"],
    "set_config_in_tx_commit": ["BEGIN", "SELECT set_config('myapp.tenant', 'txc', false)", "COMMIT"],
    # roles
    "set_role": [f"SET ROLE {ROLE}"],
    "set_role_reset": [f"SET ROLE {ROLE}", "RESET ROLE"],
    "set_config_role": [f"SELECT set_config('role', '{ROLE}', false)"],
    "set_local_role": ["BEGIN", f"SET LOCAL ROLE {ROLE}", "SELECT current_user", "COMMIT"],
    "set_session_authorization_self": ["SET SESSION AUTHORIZATION app"],
    "set_session_authorization_other": [f"SET SESSION AUTHORIZATION {ROLE}"],  # not superuser: 42501
    "set_session_authorization_default": ["SET SESSION AUTHORIZATION DEFAULT"],
    # search_path
    "search_path_set": ["SET search_path TO iso_diff, public"],
    "search_path_empty": ["SELECT set_config('search_path', '', false)"],
    "search_path_in_tx": ["BEGIN", "SET search_path = iso_diff", "COMMIT"],
    # temp tables
    "temp_table": ["CREATE TEMP TABLE iso_t1 (id int)"],
    "temp_table_pg_temp": ["CREATE TABLE pg_temp.iso_t2 (id int)"],
    "temp_table_on_commit_drop": ["BEGIN", "CREATE TEMP TABLE iso_t3 (id int) ON COMMIT DROP",
                                  "COMMIT"],
    "temp_select_into": ["SELECT 1 AS x INTO TEMP iso_t4"],
    "temp_table_rolled_back": ["BEGIN", "CREATE TEMP TABLE iso_t5 (id int)", "ROLLBACK"],
    "temp_table_dropped": ["CREATE TEMP TABLE iso_t6 (id int)", "DROP TABLE iso_t6"],
    # advisory locks
    "advisory_lock": ["SELECT pg_advisory_lock(7001)"],
    "advisory_lock_shared": ["SELECT pg_try_advisory_lock_shared(7002)"],
    "advisory_lock_unlocked": ["SELECT pg_advisory_lock(7003)", "SELECT pg_advisory_unlock(7003)"],
    "advisory_xact_lock": ["BEGIN", "SELECT pg_advisory_xact_lock(7004)", "COMMIT"],
    "advisory_lock_in_do": ["DO $$ BEGIN PERFORM pg_advisory_lock(7005); END $$"],
    "advisory_lock_in_tx": ["BEGIN", "SELECT pg_advisory_lock(7006)", "COMMIT"],
    # LISTEN
    "listen": ["LISTEN iso_chan"],
    "listen_unlisten": ["LISTEN iso_chan2", "UNLISTEN iso_chan2"],
    "listen_in_do": ["DO $$ BEGIN EXECUTE 'LISTEN iso_chan3'; END $$"],
    # cursors
    "cursor_with_hold": ["BEGIN", "DECLARE iso_c1 CURSOR WITH HOLD FOR SELECT generate_series(1, 3)",
                         "COMMIT"],
    "cursor_with_hold_fetched": ["BEGIN", "DECLARE iso_c2 CURSOR WITH HOLD FOR SELECT 1", "COMMIT",
                                 "FETCH 1 FROM iso_c2"],
    "cursor_without_hold": ["BEGIN", "DECLARE iso_c3 CURSOR FOR SELECT 1", "COMMIT"],
    # SQL PREPARE
    "sql_prepare": ["PREPARE iso_p1 AS SELECT 1"],
    "sql_prepare_deallocated": ["PREPARE iso_p2(int) AS SELECT $1", "EXECUTE iso_p2(1)",
                                "DEALLOCATE iso_p2"],
    "sql_prepare_in_do": ["DO $$ BEGIN EXECUTE 'PREPARE iso_p3 AS SELECT 1'; END $$"],
    # DO blocks
    "do_set_config": ["DO $$ BEGIN PERFORM set_config('myapp.tenant', 'do', false); END $$"],
    "do_set_config_real": ["DO $$ BEGIN PERFORM set_config('statement_timeout', '777ms', false); END $$"],
    "do_execute_set": ["DO $$ BEGIN EXECUTE 'SET search_path = iso_diff'; END $$"],
    "do_set_role": [f"DO $$ BEGIN PERFORM set_config('role', '{ROLE}', false); END $$"],
    "do_temp_table": ["DO $$ BEGIN EXECUTE 'CREATE TEMP TABLE iso_do_t (x int)'; END $$"],
    "do_everything": ["DO $$ BEGIN PERFORM set_config('my$app.x', 'do_all', false); "
                      "PERFORM pg_advisory_lock(7007); CREATE TEMP TABLE iso_do_all (x int); END $$"],
    # a user-defined plpgsql function and a procedure (see the `catalogue_objects` fixture)
    "function_set_config": [f"SELECT {S}.set_tenant('fn')"],
    "function_set_search_path": [f"SELECT {S}.set_path()"],
    "function_advisory_lock": [f"SELECT {S}.take_lock(7010)"],
    "function_temp_table": [f"SELECT {S}.make_temp()"],
    "function_in_tx": ["BEGIN", f"SELECT {S}.set_tenant('fn_tx')", f"SELECT {S}.take_lock(7011)",
                       "COMMIT"],
    "call_procedure": [f"CALL {S}.do_all('proc')"],
    # the same function, run by statements that do not name it
    "trigger_set_config": [f"INSERT INTO {S}.trig_setting VALUES (1)"],
    "trigger_advisory_lock": [f"INSERT INTO {S}.trig_lock VALUES (1)"],
    "view_set_config": [f"SELECT * FROM {S}.v_tenant"],
    # harmless
    "harmless_select": ["SELECT 1", "SELECT now(), current_user, current_setting('search_path')"],
    "harmless_catalog": ["SELECT count(*) FROM pg_class", "SELECT version()"],
    "harmless_in_tx": ["BEGIN", "SELECT 1", "SELECT 2", "COMMIT"],
}

# Entries that Postgres itself refuses (their SQLSTATE), by design of the entry.
EXPECTED_ERRORS = {
    "set_session_authorization_other": {"42501"},  # only a superuser may switch to another user
}

HARMLESS = ["SELECT 1", "SELECT 'x' || 'y'", "SELECT count(*) FROM pg_namespace"]


# ------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(autouse=True)
def _bounded():
    with alarm_deadline(TEST_DEADLINE):
        yield


@pytest.fixture(scope="module")
def catalogue_objects(cluster) -> None:
    """The role, schema, functions, procedure, trigger tables and view the catalogue uses
    (idempotent: CREATE OR REPLACE / IF NOT EXISTS)."""
    with admin(cluster, dbname="app") as adm:
        adm.execute(f"DO $$BEGIN CREATE ROLE {ROLE} NOLOGIN; "
                    "EXCEPTION WHEN duplicate_object THEN NULL; END$$")
        adm.execute(f"GRANT {ROLE} TO app")
        adm.execute(f"CREATE SCHEMA IF NOT EXISTS {S} AUTHORIZATION app")
        adm.execute(f"GRANT USAGE ON SCHEMA {S} TO {ROLE}")
    with primary_app(cluster) as c:
        c.execute(f"""CREATE OR REPLACE FUNCTION {S}.set_tenant(v text) RETURNS text
                      LANGUAGE plpgsql AS $$ BEGIN
                        RETURN set_config('myapp.tenant', v, false); END $$""")
        c.execute(f"""CREATE OR REPLACE FUNCTION {S}.set_path() RETURNS text
                      LANGUAGE plpgsql AS $$ BEGIN
                        RETURN set_config('search_path', '{S}, public', false); END $$""")
        c.execute(f"""CREATE OR REPLACE FUNCTION {S}.take_lock(k bigint) RETURNS void
                      LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_lock(k); END $$""")
        c.execute(f"""CREATE OR REPLACE FUNCTION {S}.make_temp() RETURNS void
                      LANGUAGE plpgsql AS $$ BEGIN
                        CREATE TEMP TABLE IF NOT EXISTS iso_fn_tmp (x int); END $$""")
        c.execute(f"""CREATE OR REPLACE PROCEDURE {S}.do_all(v text)
                      LANGUAGE plpgsql AS $$ BEGIN
                        PERFORM set_config('myapp.tenant', v, false);
                        PERFORM pg_advisory_lock(7020);
                        CREATE TEMP TABLE IF NOT EXISTS iso_proc_tmp (x int); END $$""")
        c.execute(f"""CREATE OR REPLACE FUNCTION {S}.trg_set_tenant() RETURNS trigger
                      LANGUAGE plpgsql AS $$ BEGIN
                        PERFORM {S}.set_tenant('from_trigger'); RETURN NEW; END $$""")
        c.execute(f"""CREATE OR REPLACE FUNCTION {S}.trg_take_lock() RETURNS trigger
                      LANGUAGE plpgsql AS $$ BEGIN
                        PERFORM {S}.take_lock(7030); RETURN NEW; END $$""")
        c.execute(f"CREATE TABLE IF NOT EXISTS {S}.trig_setting (id int)")
        c.execute(f"CREATE TABLE IF NOT EXISTS {S}.trig_lock (id int)")
        c.execute(f"CREATE OR REPLACE TRIGGER set_tenant BEFORE INSERT ON {S}.trig_setting "
                  f"FOR EACH ROW EXECUTE FUNCTION {S}.trg_set_tenant()")
        c.execute(f"CREATE OR REPLACE TRIGGER take_lock BEFORE INSERT ON {S}.trig_lock "
                  f"FOR EACH ROW EXECUTE FUNCTION {S}.trg_take_lock()")
        c.execute(f"CREATE OR REPLACE VIEW {S}.v_tenant AS SELECT {S}.set_tenant('from_view') AS t")


# ------------------------------------------------------------------------------------------
# one client's work


def run_entry(c: psycopg.Connection, steps: list[str]) -> list[str]:
    """Runs the steps one by one; returns the errors as 'SQLSTATE: message' strings."""
    errors = []
    for sql in steps:
        if c.broken or c.closed:
            errors.append(f"connection lost before {sql!r}")
            break
        try:
            c.execute(sql)
        except psycopg.Error as e:
            errors.append(f"{sqlstate_of(e)}: {str(e).strip().splitlines()[0]} (in {sql!r})")
    return errors


def observe_pool(relay, free_servers: int) -> list[tuple[int, dict]]:
    """`free_servers` observers, each holding a server in an open transaction, so together they
    see every server a new client could get; returns (server pid, observation) pairs."""
    conns, out = [], []
    try:
        for _ in range(free_servers):
            c = connect(relay.dsn())
            conns.append(c)
            c.execute("BEGIN")
            pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
            out.append((pid, observe(c)))
        for c in conns:
            c.execute("ROLLBACK")
    finally:
        for c in conns:
            c.close()
    return out


# ------------------------------------------------------------------------------------------
# the test


@pytest.mark.parametrize("pool_size", [1, 2])
def test_next_client_sees_a_fresh_session(pgrelay, cluster, catalogue_objects, pool_size):
    seed = int(SEED_ENV) if SEED_ENV else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    print(f"\nISOLATION_SEED={seed} pool_size={pool_size} rounds={ROUNDS}")
    baseline = observe_direct(cluster)
    assert not diff(observe_direct(cluster), baseline), "two fresh direct sessions differ"

    config = {"pool": {"size": pool_size, "wait_timeout": WAIT_TIMEOUT}}
    relay = pgrelay(config)
    con = console(relay)
    names = sorted(CATALOGUE)
    if ENTRIES_ENV:
        names = [n.strip() for n in ENTRIES_ENV.split(",") if n.strip()]
        assert names and all(n in CATALOGUE for n in names), f"unknown entries in {names}"
    divergences: list[str] = []
    unexpected_errors: list[str] = []
    seen_errors: dict[str, int] = {}
    observations = pinned_rounds = stayed_rounds = 0
    t0 = time.monotonic()
    rnd, name, steps = -1, "", []
    try:
        for rnd in range(ROUNDS):
            name = rng.choice(names)
            steps = list(CATALOGUE[name])
            # harmless statements mixed in before, between or after
            for _ in range(rng.choice((0, 0, 1, 2))):
                steps.insert(rng.randrange(len(steps) + 1), rng.choice(HARMLESS))
            stay = rng.random() < STAY_PROBABILITY
            a = connect(relay.dsn())
            holder = None
            try:
                errors = run_entry(a, steps)
                for e in errors:
                    state = e.split(":", 1)[0]
                    seen_errors[f"{name}: {state}"] = seen_errors.get(f"{name}: {state}", 0) + 1
                    if state not in EXPECTED_ERRORS.get(name, set()):
                        unexpected_errors.append(f"round {rnd} {name}: {e}")
                if stay and not a.broken:
                    holder = a
                else:
                    a.close()
                checkpoints = []
                if holder is not None:
                    stayed_rounds += 1
                    pinned = settle(con, _local_port(holder))
                    pinned_rounds += pinned
                    checkpoints.append(("while A stays connected" + (" (pinned)" if pinned else ""),
                                        pool_size - (1 if pinned else 0)))
                # after A disconnected: every server of the pool is free again
                checkpoints.append(("after A disconnected", pool_size))
                for label, free in checkpoints:
                    if label == "after A disconnected":
                        if holder is not None:
                            holder.close()
                            holder = None
                        settle(con, None)
                    for i, (pid, obs) in enumerate(observe_pool(relay, free)):
                        observations += 1
                        d = diff(obs, baseline)
                        if d:
                            shown = "\n".join(f"    {k}: got {g!r}, fresh session has {w!r}"
                                              for k, (g, w) in d.items())
                            divergences.append(
                                f"round {rnd}, observer {i} (server pid {pid}) {label}: after catalogue entry "
                                f"{name!r} = {steps!r} (errors: {errors or 'none'}):\n{shown}")
                if divergences and divergences[-1].startswith(f"round {rnd},"):
                    # The pool is dirty now: start a fresh pgrelay so later rounds are judged
                    # on their own.
                    con.close()
                    relay.stop()
                    relay = pgrelay(config)
                    con = console(relay)
            finally:
                if holder is not None:
                    holder.close()
                a.close()
    except Exception as e:  # a stuck pgrelay, an observer refused a server…: say where it happened
        raise AssertionError(f"ISOLATION_SEED={seed} pool_size={pool_size}: round {rnd}, after "
                             f"catalogue entry {name!r} = {steps!r}: {e!r}") from e
    finally:
        con.close()
    elapsed = time.monotonic() - t0
    print(f"{ROUNDS} rounds, {observations} observations, {stayed_rounds} with A connected "
          f"({pinned_rounds} pinned), {len(divergences)} divergences, {elapsed:.1f}s; "
          f"errors seen: {seen_errors}")
    problems = []
    if divergences:
        problems.append(f"{len(divergences)} divergence(s) from a fresh direct session:\n"
                        + "\n".join(divergences[:15]))
    if unexpected_errors:
        problems.append("catalogue entries failed unexpectedly:\n" + "\n".join(unexpected_errors[:15]))
    assert not problems, (f"ISOLATION_SEED={seed} pool_size={pool_size} (replay with "
                          f"ISOLATION_SEED={seed}):\n" + "\n".join(problems))


def _local_port(c: psycopg.Connection) -> int:
    """The client-side TCP port of c, which pgrelay's SHOW CLIENTS lists as `port`."""
    s = socket.socket(fileno=c.pgconn.socket)
    try:
        return s.getsockname()[1]
    finally:
        s.detach()
