"""Core claims, pooling: many clients on few servers (transaction mode), session mode for one
user next to transaction mode for others, multiple workers."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from helpers_core import (Background, BackendMonitor, assert_sqlstate, connect, primary_app, run_threads,
                          unique, wait_console, wait_no_app_backends)

SESSION_APP = {"databases": {"app": {"users": {"app": {"pool": {"mode": "session"}}}}}}


@pytest.fixture
def rows_table(cluster):
    name = unique("core_rows")
    with primary_app(cluster) as c:
        c.execute(f"CREATE TABLE {name} (client int, n int, at timestamptz default now(), "
                  f"PRIMARY KEY (client, n))")
    yield name
    with primary_app(cluster) as c:
        c.execute(f"DROP TABLE IF EXISTS {name}")


def hammer(conninfo: str, table: str, clients: int, txs: int, barrier_timeout: float = 60,
           overall_timeout: float = 150) -> tuple[list, list, int]:
    """`clients` threads, each connecting through pgrelay and committing `txs` short
    transactions (insert + select) on one connection."""
    barrier = threading.Barrier(clients)

    def client(cid: int):
        def run():
            with connect(conninfo, autocommit=False) as c:
                try:
                    barrier.wait(timeout=barrier_timeout)
                except threading.BrokenBarrierError:
                    pass  # start anyway: connection setup of others was slow
                for n in range(txs):
                    c.execute(f"insert into {table} (client, n) values (%s, %s)", (cid, n))
                    got = c.execute(f"select count(*) from {table} where client = %s",
                                    (cid,)).fetchone()[0]
                    assert got == n + 1, f"client {cid} saw {got} own rows after {n + 1} inserts"
                    c.commit()
            return cid
        return run

    return run_threads([client(i) for i in range(clients)], overall_timeout, "client")


# ------------------------------------------------------------------------------------------
# 4. the headline


def test_500_clients_on_a_pool_of_20(pgrelay, cluster, rows_table):
    wait_no_app_backends(cluster)
    relay = pgrelay({"pool": {"size": 20, "wait_timeout": "60s", "max_clients": 10000}})
    clients, txs = 500, 10
    t0 = time.monotonic()
    with BackendMonitor(cluster) as mon:
        results, errors, alive = hammer(relay.dsn(connect_timeout=60), rows_table, clients, txs)
    elapsed = time.monotonic() - t0
    print(f"\n500x10 transactions in {elapsed:.1f}s; max server backends seen {mon.max_seen} "
          f"over {mon.samples} samples")
    assert mon.error is None, f"monitor failed: {mon.error!r}"
    assert alive == 0, f"{alive} client threads still running after the deadline"
    assert not errors, f"{len(errors)} clients failed, e.g. {[repr(e) for e in errors[:5]]}"
    assert len(results) == clients
    with primary_app(cluster) as p:
        n, distinct = p.execute(f"select count(*), count(distinct (client, n)) from {rows_table}"
                                ).fetchone()
    assert n == clients * txs and distinct == n
    assert mon.samples > 10
    assert 1 <= mon.max_seen <= 20, f"saw {mon.max_seen} server backends for a pool of 20"
    assert relay.alive()


def test_size_auto_serves_everyone_within_max_size(pgrelay, cluster, rows_table):
    """size: auto adapts the number of servers lent at once; every client is served and the pool
    never opens more than max_size servers."""
    wait_no_app_backends(cluster)
    relay = pgrelay({"pool": {"size": "auto", "max_size": 8, "wait_timeout": "60s"}})
    clients, txs = 200, 10
    with BackendMonitor(cluster) as mon:
        results, errors, alive = hammer(relay.dsn(connect_timeout=60), rows_table, clients, txs)
    assert mon.error is None, f"monitor failed: {mon.error!r}"
    assert alive == 0 and not errors, f"{alive} still running, errors e.g. {[repr(e) for e in errors[:5]]}"
    assert len(results) == clients
    with primary_app(cluster) as p:
        assert p.execute(f"select count(*) from {rows_table}").fetchone()[0] == clients * txs
    assert 1 <= mon.max_seen <= 8, f"saw {mon.max_seen} server backends for max_size 8"
    assert relay.alive()


# ------------------------------------------------------------------------------------------
# 13. workers


def test_two_workers_share_pool_limit(pgrelay, cluster, rows_table):
    wait_no_app_backends(cluster)
    relay = pgrelay({"workers": 2, "pool": {"size": 5, "wait_timeout": "30s"}})
    with BackendMonitor(cluster) as mon:
        results, errors, alive = hammer(relay.dsn(), rows_table, 50, 10, overall_timeout=90)
    print(f"\nworkers=2: max server backends seen {mon.max_seen} over {mon.samples} samples")
    assert alive == 0 and not errors, [repr(e) for e in errors[:5]]
    with primary_app(cluster) as p:
        assert p.execute(f"select count(*) from {rows_table}").fetchone()[0] == 500
    assert mon.max_seen <= 5, f"saw {mon.max_seen} server backends for pool size 5 with 2 workers"
    log = relay.log()
    assert "worker 1" in log, "expected a second worker in the log"
    # Both worker threads served clients (the thread id is the bracketed field).
    threads = {line.split()[3] for line in log.splitlines() if "client connected" in line}
    assert len(threads) >= 2, f"all clients landed on one worker thread: {threads}"


def test_worker_gives_back_idle_servers_another_worker_waits_for(pgrelay, cluster):
    """With workers: 2 the pool size is shared. A worker whose clients went quiet keeps its
    servers idle; a client of the other worker then needs one of those slots, and no release
    will ever happen in the quiet worker to hand it over. It must still get a server soon, not
    wait for server_idle_timeout (its login, which validates settings on a server, would time
    out first)."""
    wait_no_app_backends(cluster)
    relay = pgrelay({"workers": 2, "pool": {"size": 1, "wait_timeout": "20s", "server_idle_timeout": "600s"}})
    held = []
    try:
        # Each client runs a statement and stays connected, idle: the one server ends up idle in
        # the pool of whichever worker used it last. Clients land on the workers by the kernel's
        # SO_REUSEPORT hash, so connect until both workers have served one.
        for i in range(40):
            started = time.monotonic()
            c = connect(relay.dsn(connect_timeout=15))
            held.append(c)
            assert c.execute("select %s::int", (i,)).fetchone()[0] == i
            took = time.monotonic() - started
            assert took < 5, f"client {i} needed {took:.1f}s to log in and run one statement"
            threads = {line.split()[3] for line in relay.log().splitlines() if "client connected" in line}
            if len(threads) >= 2 and i >= 3:
                break
        assert len(threads) >= 2, f"all clients landed on one worker thread: {threads}"
    finally:
        for c in held:
            c.close()


# ------------------------------------------------------------------------------------------
# 10. session mode


def test_session_mode_state_persists(pgrelay, cluster):
    schema = unique("core_sess")
    with primary_app(cluster) as p:
        p.execute(f"create schema {schema}")
        p.execute(f"create table {schema}.t (v int)")
        p.execute(f"insert into {schema}.t values (11)")
    try:
        relay = pgrelay({"pool": {"size": 1}, **SESSION_APP})
        with connect(relay.dsn()) as c:
            pid = c.execute("select pg_backend_pid()").fetchone()[0]
            c.execute(f"set search_path to {schema}, public")
            c.execute("create temp table tmp_sess (x int)")
            c.execute("insert into tmp_sess values (1), (2)")
            c.execute("prepare sess_stmt as select 99")
            c.execute("set application_name = 'sess-app'")
            c.execute("select pg_advisory_lock(4242)")
            for _ in range(5):
                with c.transaction():
                    assert c.execute("select v from t").fetchone()[0] == 11
                    assert c.execute("select count(*) from tmp_sess").fetchone()[0] == 2
                assert c.execute("execute sess_stmt").fetchone()[0] == 99
                assert c.execute("show application_name").fetchone()[0] == "sess-app"
                assert c.execute("select pg_backend_pid()").fetchone()[0] == pid
        # Next client gets the same (only) server, cleaned.
        with connect(relay.dsn()) as c:
            pid2 = c.execute("select pg_backend_pid()").fetchone()[0]
            assert c.execute("show search_path").fetchone()[0] == '"$user", public'
            assert c.execute("select to_regclass('pg_temp.tmp_sess')").fetchone()[0] is None
            assert c.execute("select count(*) from pg_prepared_statements").fetchone()[0] == 0
            assert c.execute("show application_name").fetchone()[0] == ""
            assert c.execute("select count(*) from pg_locks where locktype = 'advisory' "
                             "and pid = pg_backend_pid()").fetchone()[0] == 0
        # The cleanup is DISCARD ALL on the same server, not a new connection each session.
        assert pid2 == pid, f"the pool's only server was not reused (pid {pid} then {pid2})"
    finally:
        with primary_app(cluster) as p:
            p.execute(f"drop schema {schema} cascade")


def test_session_mode_prepared_statements_psycopg_default(pgrelay):
    """psycopg's default prepare_threshold: from the 6th execution it uses a named server-side
    prepared statement; fine in session mode."""
    relay = pgrelay({"pool": {"size": 2}, **SESSION_APP})
    with connect(relay.dsn(), prepare_threshold="default") as c:
        for i in range(20):
            assert c.execute("select %s::int + 1", (i,)).fetchone()[0] == i + 1
        assert c.execute("select count(*) from pg_prepared_statements").fetchone()[0] >= 1
        for i in range(20):
            with c.transaction():
                assert c.execute("select %s::text || 'x'", (str(i),)).fetchone()[0] == f"{i}x"


def test_session_user_next_to_transaction_users(pgrelay, cluster):
    """app is in session mode with a pool of 1; `other` (same database) is in transaction mode
    with a pool of 1: two `other` clients interleave fine while app holds its server."""
    wait_no_app_backends(cluster)
    relay = pgrelay({"pool": {"size": 1, "wait_timeout": "3s"}, **SESSION_APP},
                    users={"other": "other"})
    with connect(relay.dsn()) as s:
        s.execute("set application_name = 'session-holder'")
        spid = s.execute("select pg_backend_pid()").fetchone()[0]
        with connect(relay.dsn(user="other", password="other")) as o1, \
                connect(relay.dsn(user="other", password="other")) as o2:
            for i in range(10):
                assert o1.execute("select %s::int", (i,)).fetchone()[0] == i
                assert o2.execute("select %s::int", (i,)).fetchone()[0] == i
                p1 = o1.execute("select pg_backend_pid()").fetchone()[0]
                p2 = o2.execute("select pg_backend_pid()").fetchone()[0]
                assert p1 == p2 != spid, "two transaction-mode clients should share the one server"
                assert s.execute("select pg_backend_pid()").fetchone()[0] == spid
            assert o1.execute("show application_name").fetchone()[0] == ""
        assert s.execute("show application_name").fetchone()[0] == "session-holder"
        # A second session client of app must wait for the only server, and times out.
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as ei:
            with connect(relay.dsn()) as s2:
                s2.execute("select 1")
        assert time.monotonic() - t0 < 8
        assert_sqlstate(ei.value, "53300", "wait_timeout", "no server connection available")


def _app_waiting(pools: list[dict]) -> int:
    return sum(int(r["cl_waiting"]) for r in pools if r["database"] == "app" and r["user"] == "app")


def test_waiters_queued_at_different_times_each_get_their_own_wait_timeout(pgrelay):
    """The queue shares one timer. A waiter served by a hand-over leaves the timer armed for its
    own deadline; a waiter that joined later must still be woken at its own wait_timeout, not
    hang, and one that joined earlier must not be woken late by a later arrival."""
    relay = pgrelay({"pool": {"size": 1, "wait_timeout": "2s"}})
    with connect(relay.dsn()) as holder, connect(relay.dsn()) as served:
        holder.execute("begin")
        holder.execute("select 1")  # holds the only server until it commits
        first = Background(lambda: served.execute("select 'served'").fetchone()[0])
        wait_console(relay, "SHOW POOLS", lambda p: _app_waiting(p) == 1, "the first waiter queued")
        holder.execute("commit")  # hands the server to the first waiter before its deadline
        assert first.result(10) == "served"
        holder.execute("begin")
        holder.execute("select 1")  # holds it again, now for longer than anyone waits

        def wait_once() -> str | None:
            with connect(relay.dsn()) as c:
                try:
                    c.execute("select 1")
                except psycopg.OperationalError as e:
                    return getattr(e, "sqlstate", None)
            return "served"

        early = Background(wait_once)
        wait_console(relay, "SHOW POOLS", lambda p: _app_waiting(p) == 1, "the early waiter queued")
        late = Background(wait_once)
        wait_console(relay, "SHOW POOLS", lambda p: _app_waiting(p) == 2, "the late waiter queued")
        assert early.result(10) == "53300"
        assert late.result(10) == "53300"
        assert late.finished_at >= early.finished_at
        holder.execute("commit")
