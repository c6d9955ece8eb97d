"""Session state in transaction mode: SETs tracked per client and replayed, pins (LISTEN, advisory
locks, temp tables, SQL PREPARE, WITH HOLD cursors) with the pin/warn/reject policies, shared
protocol-level prepared statements (psycopg, asyncpg), and nothing leaking to the next client.

Two clients A and B are connected at once through the same pgrelay; the pool has one server unless
a test says otherwise, so A and B take turns on the same server connection."""

from __future__ import annotations

import asyncio
import select
import struct
import time
from typing import Any

import psycopg
import pytest

from conftest import HOST
from helpers_core import (RawClient, admin, alarm_deadline, assert_sqlstate, connect, message, parse_error,
                          primary_app, wait_for)

POOL1 = {"pool": {"size": 1, "wait_timeout": "1s"}}
POOL2 = {"pool": {"size": 2, "wait_timeout": "1s"}}
TEST_DEADLINE = 45  # seconds; every test is interrupted past this

SNAPSHOT_SQL = ("select current_setting('search_path'), current_setting('statement_timeout'), "
                "current_setting('myapp.tenant', true), current_setting('application_name')")

A_VALUES = ("a_schema, public", "1234ms", "x", "client_a")


# ------------------------------------------------------------------------------------------
# plumbing


class _Deadline(Exception):
    pass


@pytest.fixture(autouse=True)
def _bounded():
    """Every test is interrupted (SIGALRM → exception in the main thread) after TEST_DEADLINE s."""
    with alarm_deadline(TEST_DEADLINE, _Deadline):
        yield


@pytest.fixture(scope="module")
def defaults(cluster) -> tuple:
    """What a plain session of app/app sees for the snapshot settings, straight on the primary;
    also creates a_schema."""
    with admin(cluster, dbname="app") as adm:
        adm.execute("CREATE SCHEMA IF NOT EXISTS a_schema AUTHORIZATION app")
    with primary_app(cluster) as c:
        c.execute("SET application_name = 'probe'")
        sp, st, tenant, _ = c.execute(SNAPSHOT_SQL).fetchone()
    return sp, st


def client(relay, name: str, **kw: Any) -> psycopg.Connection:
    return connect(relay.dsn(application_name=name), **kw)


def snapshot(c: psycopg.Connection) -> tuple:
    return c.execute(SNAPSHOT_SQL).fetchone()


def show(c: psycopg.Connection, name: str) -> str:
    return c.execute(f"SHOW {name}").fetchone()[0]


def assert_own_defaults(c: psycopg.Connection, defaults: tuple, app_name: str, who: str) -> None:
    sp, st, tenant, an = snapshot(c)
    assert (sp, st, an) == (defaults[0], defaults[1], app_name), \
        f"{who} sees foreign settings: search_path={sp!r} statement_timeout={st!r} " \
        f"application_name={an!r} (expected {defaults[0]!r}, {defaults[1]!r}, {app_name!r})"
    assert tenant in (None, ""), f"{who} sees myapp.tenant={tenant!r}"


def pgrelay_log_has(relay, *fragments: str, timeout: float = 3.0) -> bool:
    def ok():
        return any(all(f in line for f in fragments) for line in relay.log().splitlines())
    return bool(wait_for(ok, timeout, 0.05))


def log_lines(relay, fragment: str) -> list[str]:
    return [l for l in relay.log().splitlines() if fragment in l]


def assert_pinned_out(b: psycopg.Connection, who: str = "B") -> float:
    """With the only server pinned to another client, b's query waits and fails with
    wait_timeout (1s). Returns how long it took."""
    t0 = time.monotonic()
    try:
        got = b.execute("select 'B got a server'").fetchone()
    except psycopg.Error as e:
        took = time.monotonic() - t0
        assert_sqlstate(e, "53300", "wait_timeout", "no server connection available")
        assert 0.8 <= took <= 4.0, f"wait_timeout 1s fired after {took:.2f}s"
        return took
    raise AssertionError(f"{who} got a server while the only one should be pinned: {got}")


def reopen(c: psycopg.Connection, relay, name: str, **kw: Any) -> psycopg.Connection:
    """psycopg closes the connection after a wait_timeout error; reconnect if so."""
    if c.closed or c.broken:
        return client(relay, name, **kw)
    try:
        c.execute("select 1")
        return c
    except psycopg.Error:
        return client(relay, name, **kw)


def wait_notify(conn: psycopg.Connection, timeout: float) -> list:
    """Notifications that arrive on an idle connection within `timeout` s (no query sent)."""
    deadline = time.monotonic() + timeout
    got = []
    while True:
        while (n := conn.pgconn.notifies()) is not None:
            got.append((n.relname.decode(), n.extra.decode()))
        if got:
            return got
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        r, _, _ = select.select([conn.fileno()], [], [], left)
        if r:
            conn.pgconn.consume_input()


def server_state(c: psycopg.Connection) -> dict:
    row = c.execute(
        "select current_setting('search_path'), current_setting('statement_timeout'), "
        "current_setting('myapp.tenant', true), current_setting('application_name'), "
        "(select count(*) from pg_class where relnamespace = pg_my_temp_schema()), "
        "(select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()), "
        "(select count(*) from pg_listening_channels()), "
        "(select count(*) from pg_prepared_statements where from_sql), "
        "(select count(*) from pg_cursors), pg_backend_pid()").fetchone()
    keys = ("search_path", "statement_timeout", "tenant", "application_name", "temp_tables",
            "advisory_locks", "listening", "sql_prepared", "cursors", "pid")
    return dict(zip(keys, row))


def assert_clean_pool(relay, defaults: tuple, servers: int) -> None:
    """`servers` fresh clients, each holding a server in an open transaction (so together they
    cover every server of the pool), see nothing left by earlier clients."""
    conns = []
    try:
        for i in range(servers):
            c = client(relay, f"fresh{i}", autocommit=False)
            conns.append(c)
            st = server_state(c)
            want = {"search_path": defaults[0], "statement_timeout": defaults[1],
                    "application_name": f"fresh{i}", "temp_tables": 0, "advisory_locks": 0,
                    "listening": 0, "sql_prepared": 0, "cursors": 0}
            diff = {k: (st[k], v) for k, v in want.items() if st[k] != v}
            assert not diff and st["tenant"] in (None, ""), \
                f"fresh client {i} on server pid {st['pid']} sees leftovers (got, want): {diff}; " \
                f"myapp.tenant={st['tenant']!r}"
        for c in conns:
            c.rollback()
    finally:
        for c in conns:
            c.close()


# ------------------------------------------------------------------------------------------
# 1. SET tracked per client


def a_sets(a: psycopg.Connection) -> None:
    a.execute("SET search_path = a_schema, public")
    a.execute("SET statement_timeout = '1234ms'")
    a.execute("SET myapp.tenant = 'x'")
    a.execute("SET application_name = 'client_a'")


def test_set_is_per_client_and_replayed(pgrelay, defaults):
    relay = pgrelay(POOL1)
    with client(relay, "start_a") as a, client(relay, "start_b") as b:
        assert_own_defaults(b, defaults, "start_b", "B before")
        a_sets(a)
        for i in range(20):
            assert snapshot(a) == A_VALUES, f"round {i}: A lost its settings"
            assert_own_defaults(b, defaults, "start_b", f"B round {i}")
            if i % 5 == 0:
                assert show(a, "search_path") == "a_schema, public"
                assert show(a, "statement_timeout") == "1234ms"
                assert show(b, "statement_timeout") == defaults[1]
                assert show(b, "application_name") == "start_b"
        # The SET statement_timeout is really in force on A's server (not only reported).
        with pytest.raises(psycopg.Error) as ei:
            a.execute("select pg_sleep(3)")
        assert ei.value.sqlstate == "57014", repr(ei.value)
        assert b.execute("select pg_sleep(1.5), 'slept'").fetchone()[1] == "slept"

    assert_clean_pool(relay, defaults, 1)


def test_reset_one_setting(pgrelay, defaults):
    relay = pgrelay(POOL1)
    with client(relay, "start_a") as a, client(relay, "start_b") as b:
        a_sets(a)
        a.execute("RESET search_path")
        assert snapshot(a) == (defaults[0], "1234ms", "x", "client_a")
        assert_own_defaults(b, defaults, "start_b", "B after A's RESET")
        assert snapshot(a) == (defaults[0], "1234ms", "x", "client_a")
        assert_own_defaults(b, defaults, "start_b", "B")


@pytest.mark.parametrize("stmt", ["RESET ALL", "DISCARD ALL"])
def test_reset_all_restores_startup_values(pgrelay, defaults, stmt):
    """After RESET ALL / DISCARD ALL A is back to what it connected with (Postgres resets
    application_name to the startup-packet value; checked directly on the primary: 'start_a')."""
    relay = pgrelay(POOL1)
    with client(relay, "start_a") as a, client(relay, "start_b") as b:
        a_sets(a)
        assert snapshot(a) == A_VALUES
        assert_own_defaults(b, defaults, "start_b", "B")
        a.execute(stmt)
        seen = []
        for i in range(3):
            seen.append(snapshot(a))
            assert_own_defaults(b, defaults, "start_b", f"B after A's {stmt}")
        print(f"\nA after {stmt}: {seen}")
        for sp, st, tenant, an in seen:
            assert (sp, st, an) == (defaults[0], defaults[1], "start_a") and tenant in (None, ""), \
                f"A after {stmt} (then B, A, B, ...) sees {seen}"
    assert_clean_pool(relay, defaults, 1)


def test_set_tenant_placeholder_not_seen_by_b(pgrelay, defaults):
    """Focused: a custom (dotted) setting set by A is invisible to B on the same server."""
    relay = pgrelay(POOL1)
    with client(relay, "start_a") as a, client(relay, "start_b") as b:
        a.execute("SET myapp.tenant = 'x'")
        assert a.execute("select current_setting('myapp.tenant', true)").fetchone()[0] == "x"
        got = b.execute("select current_setting('myapp.tenant', true)").fetchone()[0]
        assert got in (None, ""), f"B sees A's myapp.tenant: {got!r}"
        assert a.execute("select current_setting('myapp.tenant', true)").fetchone()[0] == "x"


def test_set_in_committed_transaction_kept_for_a_only(pgrelay, defaults):
    relay = pgrelay(POOL1)
    a = client(relay, "start_a", autocommit=False)
    b = client(relay, "start_b")
    try:
        a.execute("SET statement_timeout = '4321ms'")
        a.execute("SET myapp.tenant = 'in_tx'")
        assert show(a, "statement_timeout") == "4321ms"
        a.commit()
        outcome = "isolated"
        try:
            assert_own_defaults(b, defaults, "start_b", "B after A's committed SET")
        except psycopg.Error as e:
            # documented default session_state.set_in_transaction: pin
            assert_sqlstate(e, "53300", "wait_timeout", "no server connection available")
            outcome = "A pinned (B hit wait_timeout)"
        print(f"\ncommitted SET in transaction: {outcome}")
        for _ in range(5):
            assert show(a, "statement_timeout") == "4321ms"
            assert a.execute("select current_setting('myapp.tenant', true)").fetchone()[0] == "in_tx"
            a.commit()
        a.close()
        b = reopen(b, relay, "start_b")
        assert_own_defaults(b, defaults, "start_b", "B after A left")
    finally:
        a.close()
        b.close()
    assert_clean_pool(relay, defaults, 1)


def test_set_in_rolled_back_transaction_not_kept(pgrelay, defaults):
    relay = pgrelay(POOL1)
    with client(relay, "start_a", autocommit=False) as a, client(relay, "start_b") as b:
        a.execute("SET statement_timeout = '1234ms'")
        a.commit()
        a.execute("SET statement_timeout = '9999ms'")
        a.execute("SET myapp.tenant = 'rolled_back'")
        assert show(a, "statement_timeout") == "9999ms"
        a.rollback()
        for i in range(5):
            assert show(a, "statement_timeout") == "1234ms", f"round {i}"
            assert a.execute("select current_setting('myapp.tenant', true)").fetchone()[0] \
                in (None, "")
            a.commit()
            # A is not pinned by a rolled-back SET; B runs on the same server with its own values
            assert_own_defaults(b, defaults, "start_b", f"B round {i}")


def test_set_before_savepoint_rollback_to_savepoint_kept(pgrelay, defaults):
    """BEGIN; SET a; SAVEPOINT s; SET b; ROLLBACK TO s; COMMIT → Postgres keeps a, drops b."""
    relay = pgrelay(POOL1)
    with client(relay, "start_a") as a, client(relay, "start_b") as b:
        a.execute("BEGIN")
        a.execute("SET statement_timeout = '2222ms'")
        a.execute("SAVEPOINT s")
        a.execute("SET search_path = a_schema, public")
        a.execute("ROLLBACK TO SAVEPOINT s")
        a.execute("COMMIT")
        # same server, nothing in between: Postgres' own view
        assert (show(a, "statement_timeout"), show(a, "search_path")) == ("2222ms", defaults[0])
        assert_own_defaults(b, defaults, "start_b", "B")
        # after B used the server, A's state must be replayed as Postgres left it
        got = (show(a, "statement_timeout"), show(a, "search_path"))
        assert got == ("2222ms", defaults[0]), \
            f"after SAVEPOINT/ROLLBACK TO/COMMIT A sees {got}, Postgres kept ('2222ms', {defaults[0]!r})"


def test_set_local_only_for_its_transaction(pgrelay, defaults):
    relay = pgrelay(POOL1)
    with client(relay, "start_a", autocommit=False) as a, client(relay, "start_b") as b:
        a.execute("SET LOCAL statement_timeout = '5555ms'")
        a.execute("SET LOCAL search_path = a_schema, public")
        assert show(a, "statement_timeout") == "5555ms"
        assert show(a, "search_path") == "a_schema, public"
        a.commit()
        assert (show(a, "statement_timeout"), show(a, "search_path")) == (defaults[1], defaults[0])
        a.commit()
        # SET LOCAL does not pin: B runs at once, with its own values
        assert_own_defaults(b, defaults, "start_b", "B")
        assert (show(a, "statement_timeout"), show(a, "search_path")) == (defaults[1], defaults[0])
        a.commit()


@pytest.mark.parametrize("bad", [
    "SET statement_timeout = 'bogus'",
    "SET search_path = ",  # syntax error
    "SET no_such_parameter = 1",
    "SET log_statement = 'all'",  # superuser only
])
def test_failed_set_changes_nothing(pgrelay, defaults, bad):
    relay = pgrelay(POOL1)
    with client(relay, "start_a") as a, client(relay, "start_b") as b:
        a.execute("SET statement_timeout = '1234ms'")
        a.execute("SET search_path = a_schema, public")
        with pytest.raises(psycopg.Error) as ei:
            a.execute(bad)
        print(f"\n{bad!r} → {ei.value.sqlstate} {ei.value}")
        for i in range(3):
            assert (show(a, "statement_timeout"), show(a, "search_path")) == \
                ("1234ms", "a_schema, public"), f"round {i} after {bad!r}"
            assert_own_defaults(b, defaults, "start_b", f"B round {i}")
            assert a.execute("select 42").fetchone()[0] == 42


# ------------------------------------------------------------------------------------------
# 2. pins (default policy)

PIN_CASES = {
    # name: (statements for A, check A still has it, reason in the log)
    "listen": (["LISTEN chan"],
               "select count(*) = 1 from pg_listening_channels() where pg_listening_channels = 'chan'",
               "listen"),
    "advisory_simple": (["select pg_advisory_lock(42)"],
                        "select count(*) = 1 from pg_locks where locktype = 'advisory' "
                        "and objid = 42 and pid = pg_backend_pid()",
                        "advisory_lock"),
    "advisory_extended": ([("select pg_advisory_lock(%s)", (42,))],
                          "select count(*) = 1 from pg_locks where locktype = 'advisory' "
                          "and objid = 42 and pid = pg_backend_pid()",
                          "advisory_lock"),
    "temp_table": (["create temp table tt (a int)", "insert into tt values (1)"],
                   "select count(*) = 1 from tt", "temp_table"),
    "sql_prepare": (["PREPARE p AS select 21 * 2"], "select (select 1) = 1 and true", "sql_prepare"),
    "with_hold": (["BEGIN", "DECLARE c CURSOR WITH HOLD FOR select generate_series(1, 10)",
                   "COMMIT"],
                  "select count(*) = 1 from pg_cursors where name = 'c'", "with_hold_cursor"),
}


def run_stmt(c: psycopg.Connection, stmt) -> Any:
    if isinstance(stmt, tuple):
        return c.execute(*stmt)
    return c.execute(stmt)


@pytest.mark.parametrize("case", list(PIN_CASES))
def test_pin_keeps_server_pool_of_one(pgrelay, defaults, case):
    stmts, check, reason = PIN_CASES[case]
    relay = pgrelay(POOL1)
    a = client(relay, "start_a")
    b = client(relay, "start_b")
    try:
        for s in stmts:
            run_stmt(a, s)
        for _ in range(3):
            assert a.execute(check).fetchone()[0] is True, f"A lost its {case} state"
        if case == "sql_prepare":
            assert a.execute("EXECUTE p").fetchone()[0] == 42
        if case == "with_hold":
            assert [r[0] for r in a.execute("FETCH 3 FROM c").fetchall()] == [1, 2, 3]
        took = assert_pinned_out(b)
        print(f"\n{case}: B got wait_timeout after {took:.2f}s while A is pinned")
        assert pgrelay_log_has(relay, "pinned", reason), \
            f"no 'pinned' log line naming {reason!r}; log lines with 'pin': {log_lines(relay, 'pin')}"
        assert a.execute(check).fetchone()[0] is True
        a.close()
        b = reopen(b, relay, "start_b")
        assert b.execute("select 'B after A left'").fetchone()[0] == "B after A left"
    finally:
        a.close()
        b.close()
    assert_clean_pool(relay, defaults, 1)


def test_listen_notify_delivered_and_isolated(pgrelay, cluster, defaults):
    relay = pgrelay(POOL2)
    with client(relay, "start_a") as a, client(relay, "start_b") as b, primary_app(cluster) as p:
        b_notes = []
        b.add_notify_handler(lambda n: b_notes.append(n))
        a.execute("LISTEN chan")
        assert b.execute("select count(*) from pg_listening_channels()").fetchone()[0] == 0
        p.execute("NOTIFY chan, 'hello'")
        got = wait_notify(a, 5)
        assert got == [("chan", "hello")], f"A (idle) received {got}"
        # and again, after A and B ran more queries
        for i in range(5):
            assert a.execute("select %s::int", (i,)).fetchone()[0] == i
            assert b.execute("select %s::int", (i,)).fetchone()[0] == i
        p.execute("NOTIFY chan, 'second'")
        got = wait_notify(a, 5)
        assert got == [("chan", "second")], f"A received {got}"
        for _ in range(3):
            b.execute("select 1")
        # "Nothing arrives within": a notification would come unasked, so only time can show it.
        time.sleep(0.3)
        b.execute("select 1")
        assert not b_notes, f"B received A's notifications: {b_notes}"
        assert b.execute("select count(*) from pg_listening_channels()").fetchone()[0] == 0
        assert a.execute("select pg_backend_pid()").fetchone()[0] != \
            b.execute("select pg_backend_pid()").fetchone()[0]
    assert pgrelay_log_has(relay, "pinned", "listen")
    assert_clean_pool(relay, defaults, 2)


def test_advisory_lock_pin_pool_of_two(pgrelay, defaults):
    relay = pgrelay(POOL2)
    with client(relay, "start_a") as a, client(relay, "start_b") as b:
        a.execute("select pg_advisory_lock(42)")
        for _ in range(5):
            assert b.execute("select pg_try_advisory_lock(42)").fetchone()[0] is False
            assert a.execute("select count(*) from pg_locks where locktype = 'advisory' "
                             "and objid = 42 and pid = pg_backend_pid()").fetchone()[0] == 1
        assert a.execute("select pg_advisory_unlock(42)").fetchone()[0] is True
        assert b.execute("select pg_try_advisory_lock(42)").fetchone()[0] is True
        assert b.execute("select pg_advisory_unlock(42)").fetchone()[0] is True
    assert pgrelay_log_has(relay, "pinned", "advisory_lock")
    assert_clean_pool(relay, defaults, 2)


@pytest.mark.parametrize("extended", [False, True], ids=["simple", "extended"])
def test_advisory_unlock_unpins(pgrelay, defaults, extended):
    relay = pgrelay(POOL1)

    def q(c, sql, arg):
        return c.execute(sql % (arg,)) if not extended else c.execute(sql % ("%s",), (arg,))

    a = client(relay, "start_a")
    b = client(relay, "start_b")
    try:
        q(a, "select pg_advisory_lock(%s)", 42)
        q(a, "select pg_advisory_lock(%s)", 42)  # held twice
        assert_pinned_out(b)
        b = reopen(b, relay, "start_b")
        assert q(a, "select pg_advisory_unlock(%s)", 42).fetchone()[0] is True
        # still held once: still pinned
        assert_pinned_out(b)
        b = reopen(b, relay, "start_b")
        assert q(a, "select pg_advisory_unlock(%s)", 42).fetchone()[0] is True
        # no lock left: B can run while A stays connected
        for i in range(5):
            assert b.execute("select %s::int", (i,)).fetchone()[0] == i
            assert a.execute("select %s::int", (i,)).fetchone()[0] == i
        assert pgrelay_log_has(relay, "unpinned")
    finally:
        a.close()
        b.close()
    assert_clean_pool(relay, defaults, 1)


def test_xact_advisory_lock_does_not_pin(pgrelay):
    relay = pgrelay(POOL1)
    with client(relay, "start_a", autocommit=False) as a, client(relay, "start_b") as b:
        a.execute("select pg_advisory_xact_lock(43)")
        a.commit()
        assert b.execute("select 'b'").fetchone()[0] == "b"


def test_temp_table_pin_pool_of_two(pgrelay, defaults):
    relay = pgrelay(POOL2)
    with client(relay, "start_a", autocommit=False) as a, client(relay, "start_b") as b:
        a.execute("create temp table tt (a int)")
        a.execute("insert into tt values (1), (2)")
        a.commit()
        for i in range(5):
            a.execute("insert into tt values (%s)", (10 + i,))
            a.commit()
            assert a.execute("select count(*) from tt").fetchone()[0] == 3 + i
            a.commit()
            assert b.execute("select to_regclass('tt')").fetchone()[0] is None
        with pytest.raises(psycopg.Error) as ei:
            b.execute("select * from tt")
        assert ei.value.sqlstate == "42P01", repr(ei.value)
    assert pgrelay_log_has(relay, "pinned", "temp_table")
    assert_clean_pool(relay, defaults, 2)


def test_sql_prepare_pin_pool_of_two(pgrelay, defaults):
    relay = pgrelay(POOL2)
    with client(relay, "start_a", autocommit=False) as a, client(relay, "start_b") as b:
        a.execute("PREPARE p (int) AS select $1 * 2")
        a.commit()
        for i in range(5):
            assert a.execute(f"EXECUTE p({i})").fetchone()[0] == 2 * i
            a.commit()
            with pytest.raises(psycopg.Error) as ei:
                b.execute("EXECUTE p(1)")
            assert ei.value.sqlstate == "26000", repr(ei.value)
    assert pgrelay_log_has(relay, "pinned", "sql_prepare")
    assert_clean_pool(relay, defaults, 2)


def test_with_hold_cursor_pin_pool_of_two(pgrelay, defaults):
    relay = pgrelay(POOL2)
    with client(relay, "start_a", autocommit=False) as a, client(relay, "start_b") as b:
        a.execute("DECLARE c CURSOR WITH HOLD FOR select generate_series(1, 10)")
        a.commit()
        for i in range(3):
            rows = [r[0] for r in a.execute("FETCH 3 FROM c").fetchall()]
            assert rows == [3 * i + 1, 3 * i + 2, 3 * i + 3]
            a.commit()
            with pytest.raises(psycopg.Error) as ei:
                b.execute("FETCH 1 FROM c")
            assert ei.value.sqlstate == "34000", repr(ei.value)
        a.execute("CLOSE c")
        a.commit()
    assert pgrelay_log_has(relay, "pinned", "with_hold_cursor")
    assert_clean_pool(relay, defaults, 2)


# ------------------------------------------------------------------------------------------
# 3. warn


def test_warn_policy_notice_and_pin(pgrelay, cluster, defaults):
    relay = pgrelay({**POOL1, "session_state": {"listen": "warn"}})
    a = client(relay, "start_a")
    b = client(relay, "start_b")
    notices = []
    a.add_notice_handler(lambda d: notices.append(d.message_primary))
    try:
        a.execute("LISTEN chan")
        a.execute("select 1")
        assert any("pgrelay" in (m or "") for m in notices), f"notices received: {notices}"
        print(f"\nwarn notices: {notices}")
        with primary_app(cluster) as p:
            p.execute("NOTIFY chan, 'warned'")
        assert wait_notify(a, 5) == [("chan", "warned")]
        assert_pinned_out(b)
        assert pgrelay_log_has(relay, "pinned", "listen")
        a.close()
        b = reopen(b, relay, "start_b")
        assert b.execute("select 'ok'").fetchone()[0] == "ok"
    finally:
        a.close()
        b.close()
    assert_clean_pool(relay, defaults, 1)


# ------------------------------------------------------------------------------------------
# 4. reject

REJECT = {**POOL1, "session_state": {"listen": "reject", "advisory_locks": "reject",
                                     "temp_tables": "reject", "sql_prepare": "reject"}}

NO_ADVISORY = ("select count(*) = 0 from pg_locks where locktype = 'advisory' "
               "and pid = pg_backend_pid()")

REJECT_CASES = {
    # name: (statement, message fragment, query on A proving nothing happened)
    "listen": ("LISTEN chan", "LISTEN", "select count(*) = 0 from pg_listening_channels()"),
    # Postgres ends a -- comment at a carriage return: the LISTEN is a statement, not comment.
    "listen_after_comment_ended_by_cr": ("-- hidden\rLISTEN chan", "LISTEN",
                                         "select count(*) = 0 from pg_listening_channels()"),
    "advisory_simple": ("select pg_advisory_lock(42)", "advisory", NO_ADVISORY),
    "try_advisory_simple": ("select pg_try_advisory_lock(42)", "advisory", NO_ADVISORY),
    "advisory_extended": (("select pg_advisory_lock(%s)", (42,)), "advisory", NO_ADVISORY),
    "try_advisory_extended": (("select pg_try_advisory_lock(%s)", (42,)), "advisory", NO_ADVISORY),
    "temp_table": ("create temp table rej_tt (a int)", "temporary",
                   "select to_regclass('rej_tt') is null"),
    "temp_table_select_into": ("select 1 as a into temp rej_tt", "temporary",
                               "select to_regclass('rej_tt') is null"),
    "sql_prepare": ("PREPARE p AS select 1", "PREPARE",
                    "select count(*) = 0 from pg_prepared_statements where name = 'p'"),
}


@pytest.mark.parametrize("case", list(REJECT_CASES))
def test_reject_policy(pgrelay, cluster, defaults, case):
    stmt, fragment, nothing = REJECT_CASES[case]
    relay = pgrelay(REJECT)
    with client(relay, "start_a") as a, client(relay, "start_b") as b:
        with pytest.raises(psycopg.Error) as ei:
            run_stmt(a, stmt)
        e = ei.value
        print(f"\n{case}: {type(e).__name__} {e.sqlstate}: {e}")
        assert e.sqlstate == "0A000", f"expected 0A000, got {e.sqlstate}: {e!r}"
        assert fragment.lower() in str(e).lower(), f"message does not name {fragment!r}: {e}"
        # the connection stays usable (next execute, simple and extended)
        assert a.execute("select 'next'").fetchone()[0] == "next"
        assert a.execute("select %s::int", (7,)).fetchone()[0] == 7
        assert a.execute(nothing).fetchone()[0] is True, "the rejected statement took effect"
        # not pinned: B runs right away with A still connected
        t0 = time.monotonic()
        assert b.execute("select 'b'").fetchone()[0] == "b"
        assert time.monotonic() - t0 < 0.8
        assert a.execute("select 'a again'").fetchone()[0] == "a again"
    with admin(cluster, dbname="app") as adm:
        assert adm.execute("select count(*) from pg_locks where locktype = 'advisory' "
                           "and objid = 42").fetchone()[0] == 0
    assert not log_lines(relay, "pinned to its server"), log_lines(relay, "pinned")
    assert_clean_pool(relay, defaults, 1)


@pytest.mark.parametrize("case", ["listen", "advisory_simple", "advisory_extended", "temp_table",
                                  "sql_prepare"])
def test_reject_inside_transaction_aborts_it(pgrelay, defaults, case):
    stmt, fragment, nothing = REJECT_CASES[case]
    relay = pgrelay(REJECT)
    with client(relay, "start_a", autocommit=False) as a, client(relay, "start_b") as b:
        assert a.execute("select 1").fetchone()[0] == 1
        with pytest.raises(psycopg.Error) as ei:
            run_stmt(a, stmt)
        assert ei.value.sqlstate == "0A000", repr(ei.value)
        with pytest.raises(psycopg.Error) as ei2:
            a.execute("select 2")
        assert ei2.value.sqlstate == "25P02", repr(ei2.value)
        with pytest.raises(psycopg.Error) as ei3:
            a.execute("select %s::int", (3,))
        assert ei3.value.sqlstate == "25P02", repr(ei3.value)
        a.rollback()
        assert a.execute("select 4").fetchone()[0] == 4
        assert a.execute(nothing).fetchone()[0] is True
        a.commit()
        assert b.execute("select 'b'").fetchone()[0] == "b"


# raw extended protocol: the rejected statement and the next one in the same pipeline

def parse_msg(sql: str, ntypes: int = 0) -> bytes:
    return message(b"P", b"\0" + sql.encode() + b"\0" + struct.pack("!h", ntypes)
                   + struct.pack("!i", 0) * ntypes)


def bind_msg(params: list[bytes]) -> bytes:
    body = b"\0\0" + struct.pack("!h", 0) + struct.pack("!h", len(params))
    for p in params:
        body += struct.pack("!i", len(p)) + p
    body += struct.pack("!h", 0)
    return message(b"B", body)


DESCRIBE_PORTAL = message(b"D", b"P\0")
EXECUTE = message(b"E", b"\0" + struct.pack("!i", 0))
SYNC = message(b"S")


def read_until_ready(rc: RawClient, n: int = 1, timeout: float = 5.0) -> list[list[tuple]]:
    """`n` groups of messages, each ending in ReadyForQuery."""
    groups, cur = [], []
    deadline = time.monotonic() + timeout
    while len(groups) < n:
        m = rc.read(max(0.01, deadline - time.monotonic()))
        assert m is not None, f"connection closed; so far {groups} {cur}"
        cur.append(m)
        if m[0] == b"Z":
            groups.append(cur)
            cur = []
    return groups


def tags(group: list[tuple]) -> bytes:
    return b"".join(t for t, _ in group)


def first_error(group: list[tuple]) -> dict:
    for t, body in group:
        if t == b"E":
            return parse_error(body)
    return {}


@pytest.mark.parametrize("stmt,params", [
    ("select pg_advisory_lock($1)", [b"42"]),
    ("select pg_advisory_lock(42)", []),
    ("LISTEN chan", []),
    ("create temp table rej_tt (a int)", []),
    ("PREPARE p AS select 1", []),
], ids=["advisory_param", "advisory_noparam", "listen", "temp_table", "sql_prepare"])
def test_reject_raw_extended_pipeline(pgrelay, stmt, params):
    relay = pgrelay(REJECT)
    rc = RawClient(relay.port)
    try:
        # [P B D E S][P B D E S] in one write: error + Z, then the next statement's result + Z
        rc.send(parse_msg(stmt, len(params)) + bind_msg(params) + DESCRIBE_PORTAL + EXECUTE + SYNC
                + parse_msg("select $1::int + 1", 1) + bind_msg([b"41"]) + DESCRIBE_PORTAL
                + EXECUTE + SYNC)
        g1, g2 = read_until_ready(rc, 2)
        err = first_error(g1)
        print(f"\n{stmt!r}: first group {tags(g1)} error {err}; second group {tags(g2)}")
        assert err.get("C") == "0A000", f"rejected statement answered {tags(g1)} {err}"
        assert tags(g2) == b"12TDCZ", f"next statement in the pipeline answered {tags(g2)}: {g2}"
        assert any(t == b"D" and body.endswith(b"42") for t, body in g2), g2

        # [P B D E][P B D E][S]: Postgres skips to Sync after the error → error then Z only
        rc.send(parse_msg(stmt, len(params)) + bind_msg(params) + DESCRIBE_PORTAL + EXECUTE
                + parse_msg("select 1") + bind_msg([]) + DESCRIBE_PORTAL + EXECUTE + SYNC)
        (g,) = read_until_ready(rc, 1)
        assert first_error(g).get("C") == "0A000", (tags(g), first_error(g))
        assert tags(g).endswith(b"EZ") and b"D" not in tags(g).replace(b"E", b""), tags(g)
        # and the connection goes on
        rc.send(parse_msg("select 5") + bind_msg([]) + DESCRIBE_PORTAL + EXECUTE + SYNC)
        (g,) = read_until_ready(rc, 1)
        assert tags(g) == b"12TDCZ", (tags(g), g)
        res = rc.simple_query("select 6")
        assert [t for t, _ in res] == [b"T", b"D", b"C", b"Z"], res
    finally:
        rc.close()


# ------------------------------------------------------------------------------------------
# 5. prepared statements


def test_psycopg_prepared_alternating(pgrelay, defaults):
    relay = pgrelay(POOL1)
    with client(relay, "a", prepare_threshold="default") as a, \
            client(relay, "b", prepare_threshold="default") as b:
        for i in range(30):
            assert a.execute("select %s::int + 1", (i,)).fetchone()[0] == i + 1
            assert b.execute("select %s::int + 1", (i,)).fetchone()[0] == i + 1
            assert a.execute("select %s::text || 'a'", (str(i),)).fetchone()[0] == f"{i}a"
            assert b.execute("select %s::int * 3, 'b'", (i,)).fetchone() == (i * 3, "b")
            assert a.execute("select %s::int * 3, 'b'", (i,), prepare=True).fetchone() == (i * 3, "b")
        for stmt in ("DEALLOCATE ALL", "DISCARD ALL"):
            a.execute(stmt)
            # psycopg 3.1 does not notice a DEALLOCATE ALL / DISCARD ALL it did not issue itself
            # (straight on Postgres its next use of _pg3_0 fails with 26000 too): make it forget
            # its names, as it does by itself after ROLLBACK or DROP (it re-prepares under new
            # names). B is not told anything: its statements must keep working.
            a._prepared.clear()
            for i in range(12):
                assert a.execute("select %s::int + 1", (i,)).fetchone()[0] == i + 1, stmt
                assert b.execute("select %s::int + 1", (i,)).fetchone()[0] == i + 1, stmt
                assert a.execute("select %s::text || 'a'", (str(i),)).fetchone()[0] == f"{i}a"
                assert b.execute("select %s::int * 3, 'b'", (i,)).fetchone() == (i * 3, "b")


def test_prepared_stale_plan_after_ddl(pgrelay, cluster):
    with primary_app(cluster) as p:
        p.execute("drop table if exists t_ddl")
        p.execute("create table t_ddl (a int)")
        p.execute("insert into t_ddl values (1)")
    relay = pgrelay(POOL1)
    try:
        with client(relay, "a", prepare_threshold="default") as a, client(relay, "b") as b:
            for _ in range(6):
                assert a.execute("select * from t_ddl", prepare=True).fetchall() == [(1,)]
            with primary_app(cluster) as p:
                p.execute("alter table t_ddl add column b int")
            failures, results = [], []
            for _ in range(4):
                try:
                    cur = a.execute("select * from t_ddl", prepare=True)
                    results.append((len(cur.description), cur.fetchall()))
                except psycopg.Error as e:
                    failures.append((e.sqlstate, str(e)))
                b.execute("select 1")
            print(f"\nstale plan: failures {failures}; results {results}")
            assert len(failures) <= 1, f"more than one failure after ALTER: {failures}"
            assert all(f[0] == "0A000" for f in failures), failures
            assert results and all(r == (2, [(1, None)]) for r in results), results
    finally:
        with primary_app(cluster) as p:
            p.execute("drop table if exists t_ddl")


def test_asyncpg_statement_cache_two_clients(pgrelay):
    import asyncpg

    relay = pgrelay(POOL1)

    async def main():
        kw = dict(host=HOST, port=relay.port, user="app", password="app", database="app",
                  ssl=False, timeout=10)
        a = await asyncpg.connect(**kw)
        b = await asyncpg.connect(**kw)
        try:
            for i in range(50):
                assert await a.fetchval("select $1::int + 1", i) == i + 1
                assert await b.fetchval("select $1::text || 'b'", str(i)) == f"{i}b"
                assert await a.fetchval("select $1::int * 2", i) == i * 2
                assert await b.fetchval("select $1::int + 1", i) == i + 1
                row = await b.fetchrow("select $1::int as x, $2::text as y", i, "y")
                assert (row["x"], row["y"]) == (i, "y")
        finally:
            await a.close()
            await b.close()

    asyncio.run(asyncio.wait_for(main(), 30))


# ------------------------------------------------------------------------------------------
# 6. nothing leaks after all of it on one pool


def test_nothing_leaks_after_everything(pgrelay, cluster, defaults):
    relay = pgrelay(POOL1)
    a = client(relay, "start_a", autocommit=False)
    try:
        a_sets(a)
        a.commit()
        a.execute("SET search_path = a_schema, public")
        a.commit()
        a.execute("LISTEN chan")
        a.execute("select pg_advisory_lock(42)")
        a.execute("create temp table tt (a int)")
        a.execute("PREPARE p AS select 1")
        a.execute("DECLARE c CURSOR WITH HOLD FOR select 1")
        a.commit()
        st = server_state(a)
        assert (st["temp_tables"], st["advisory_locks"], st["listening"], st["sql_prepared"],
                st["cursors"]) == (1, 1, 1, 1, 1), st
        assert snapshot(a) == A_VALUES
        a.commit()
    finally:
        a.close()
    assert_clean_pool(relay, defaults, 1)
    with admin(cluster, dbname="app") as adm:
        assert wait_for(lambda: adm.execute(
            "select count(*) = 0 from pg_locks where locktype = 'advisory' and objid = 42"
        ).fetchone()[0], 5), "advisory lock 42 still held on the primary after A left"
    with client(relay, "fresh_b") as b:
        assert_own_defaults(b, defaults, "fresh_b", "fresh B")
        assert b.execute("select to_regclass('tt') is null").fetchone()[0] is True
        assert b.execute("select pg_try_advisory_lock(42)").fetchone()[0] is True
        b.execute("select pg_advisory_unlock(42)")
