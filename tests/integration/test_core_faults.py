"""Core claims, faults: authentication and startup errors, malformed and hostile input on raw
sockets (without disturbing other clients), cancel, clients dying mid-transaction or mid-query,
and servers dying (idle in the pool, or under a client's transaction)."""

from __future__ import annotations

import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

import psycopg
import pytest
from psycopg import errors

from helpers_core import (PROTOCOL_3_0, Background, LoginError, QueryLoop, RawClient, admin,
                          assert_sqlstate, cancel_request, closed_within, connect, error_or_close,
                          gssenc_request, message, parse_error, pool_backends, primary_app, raw_socket,
                          read_message, sleepers, ssl_request, startup_packet, unique, wait_for,
                          wait_no_app_backends)

SESSION_APP = {"databases": {"app": {"users": {"app": {"pool": {"mode": "session"}}}}}}


def assert_serving(relay) -> None:
    assert relay.alive(), f"pgrelay exited:\n{relay.log()[-3000:]}"
    with connect(relay.dsn()) as c:
        assert c.execute("select 'alive'").fetchone()[0] == "alive"


# ------------------------------------------------------------------------------------------
# 5. authentication and startup errors


def test_wrong_password(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    with pytest.raises(psycopg.OperationalError) as ei:
        connect(relay.dsn(password="wrong"))
    assert_sqlstate(ei.value, "28P01", "password authentication failed")
    with pytest.raises(LoginError) as li:
        RawClient(relay.port, password="wrong")
    assert li.value.fields.get("C") == "28P01", li.value.fields
    assert li.value.fields.get("S") == "FATAL", li.value.fields
    assert_serving(relay)


def test_unknown_user(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    with pytest.raises(psycopg.OperationalError) as ei:
        connect(relay.dsn(user="nobody_here", password="x"))
    assert_sqlstate(ei.value, "28P01", "password authentication failed")
    with pytest.raises(LoginError) as li:
        RawClient(relay.port, user="nobody_here", password="x")
    assert li.value.fields.get("C") == "28P01", li.value.fields
    assert_serving(relay)


def test_unknown_database(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    with pytest.raises(psycopg.OperationalError) as ei:
        connect(relay.dsn(dbname="no_such_db"))
    assert_sqlstate(ei.value, "3D000", "does not exist")
    assert "does not exist" in str(ei.value)
    with pytest.raises(LoginError) as li:
        RawClient(relay.port, database="no_such_db")
    assert li.value.fields.get("C") == "3D000", li.value.fields
    assert_serving(relay)


def _send_and_observe(port: int, data: bytes, timeout: float, half_close: bool = False) -> dict:
    s = raw_socket(port)
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        return error_or_close(s, timeout)
    finally:
        s.close()


RAW_CASES = {
    # name: (bytes, seconds allowed, half-close after sending, expected SQLSTATE or None)
    "http_request": (b"GET / HTTP/1.1\r\nHost: example\r\n\r\n", 2.0, False, None),
    "random_bytes": (random.Random(7).randbytes(256), 2.0, False, None),
    "length_only_then_eof": (struct.pack("!i", 100), 2.0, True, None),
    "length_only_then_wait": (struct.pack("!i", 100), 4.5, False, None),  # auth_timeout 2s
    "oversized_length": (struct.pack("!ii", 0x7FFFFFFF, PROTOCOL_3_0) + b"user\0app\0", 2.0, False, None),
    "tiny_length": (struct.pack("!i", 4), 2.0, False, None),
    "negative_length": (struct.pack("!ii", -8, PROTOCOL_3_0), 2.0, False, None),
    "unterminated_params": (struct.pack("!ii", 17, PROTOCOL_3_0) + b"user\0app\0", 2.0, False, None),
    "protocol_2_0": (startup_packet({"user": "app", "database": "app"}, version=2 << 16), 2.0, False,
                     "0A000"),
    "protocol_4_0": (startup_packet({"user": "app", "database": "app"}, version=4 << 16), 2.0, False,
                     "0A000"),
    "no_user": (startup_packet({"database": "app"}), 2.0, False, "28000"),
    "half_a_startup_then_eof": (startup_packet({"user": "app", "database": "app"})[:11], 2.0, True, None),
}


@pytest.mark.parametrize("case", list(RAW_CASES))
def test_malformed_startup(pgrelay, case):
    """Bad first packets get an ErrorResponse or a close within a couple of seconds; another
    client querying in a loop meanwhile sees no error; pgrelay keeps serving."""
    data, allowed, half_close, sqlstate = RAW_CASES[case]
    relay = pgrelay({"pool": {"size": 2}, "auth_timeout": "2s"})
    with QueryLoop(relay.dsn()) as loop:
        before = loop.wait_more()
        t0 = time.monotonic()
        got = _send_and_observe(relay.port, data, allowed, half_close)
        elapsed = time.monotonic() - t0
        loop.wait_more()  # the other client still answers afterwards
    print(f"\n{case}: {got['outcome']} after {elapsed:.2f}s {got['fields']}")
    assert got["outcome"] in ("error", "closed"), \
        f"{case}: neither an ErrorResponse nor a close within {allowed}s ({got})"
    if got["outcome"] == "error":
        assert got["fields"].get("S") in ("FATAL", "ERROR"), got
    if sqlstate is not None:
        assert got["outcome"] == "error" and got["fields"].get("C") == sqlstate, \
            f"{case}: expected an ErrorResponse with {sqlstate}, got {got}"
    assert not loop.errors, f"the other client saw errors: {loop.errors[:3]}"
    assert loop.queries > before, "the other client made no progress"
    assert_serving(relay)


def test_many_stalled_startups_do_not_block_others(pgrelay):
    """50 connections that send half a startup packet and stall; others still log in and query,
    and the stalled ones are closed at auth_timeout."""
    relay = pgrelay({"pool": {"size": 2}, "auth_timeout": "2s"})
    socks = []
    try:
        with QueryLoop(relay.dsn()) as loop:
            for _ in range(50):
                s = raw_socket(relay.port)
                s.sendall(startup_packet({"user": "app", "database": "app"})[:10])
                socks.append(s)
            t0 = time.monotonic()
            with connect(relay.dsn()) as c:
                assert c.execute("select 1").fetchone()[0] == 1
            assert time.monotonic() - t0 < 2, "a new client waited behind stalled startups"
            closed = [closed_within(s, 5.0) for s in socks]
        assert all(closed), f"{closed.count(False)} stalled connections still open after auth_timeout"
        assert not loop.errors, loop.errors[:3]
    finally:
        for s in socks:
            s.close()
    assert_serving(relay)


def test_protocol_3_1_negotiates(pgrelay, cluster):
    """A 3.x minor version above 0 (and _pq_ options) get NegotiateProtocolVersion, then login
    proceeds; the message must be the one Postgres itself sends for the same packet."""
    relay = pgrelay({"pool": {"size": 2}})
    packet = startup_packet({"user": "app", "database": "app", "_pq_.something": "1"},
                            version=(3 << 16) | 1)

    def first_two(port):
        s = raw_socket(port)
        try:
            s.sendall(packet)
            return read_message(s, 3), read_message(s, 3)
        finally:
            s.close()

    pg_v, pg_next = first_two(cluster.primary_port)
    v, nxt = first_two(relay.port)
    assert pg_v is not None and pg_v[0] == b"v", pg_v
    assert v is not None and v[0] == b"v", v
    assert v == pg_v, f"pgrelay sent {v!r}, Postgres sends {pg_v!r}"
    assert nxt is not None and nxt[0] == b"R", nxt


def test_ssl_and_gss_requests_are_declined(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    for req in (ssl_request(), gssenc_request()):
        s = raw_socket(relay.port)
        try:
            s.sendall(req)
            assert s.recv(1) == b"N"
            # Login continues on the same connection (up to authentication: an unknown database
            # is only told after it, as Postgres does).
            s.sendall(startup_packet({"user": "app", "database": "no_such_db"}))
            got = read_message(s, 3)
            assert got is not None and got[0] == b"R", got
        finally:
            s.close()
    with connect(relay.dsn(sslmode="prefer")) as c:
        assert c.execute("select 1").fetchone()[0] == 1
    with pytest.raises(psycopg.OperationalError):
        connect(relay.dsn(sslmode="require"))
    assert_serving(relay)


def test_bogus_cancel_request_is_harmless(pgrelay, cluster):
    relay = pgrelay({"pool": {"size": 1}})
    marker = unique("bogus_cancel")
    with connect(relay.dsn()) as c, admin(cluster) as adm:
        bg = Background(lambda: c.execute(f"select pg_sleep(1), '{marker}'").fetchone())
        assert wait_for(lambda: sleepers(adm, marker), 5), \
            f"the query never ran on the primary: {pool_backends(adm)}"
        s = raw_socket(relay.port)
        try:
            s.sendall(cancel_request(c.info.backend_pid, 12345))  # right pid, wrong key
            assert closed_within(s, 3)
        finally:
            s.close()
        assert bg.result(10)[1] == marker
    assert_serving(relay)


def test_unknown_message_after_login(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    with QueryLoop(relay.dsn()) as loop:
        rc = RawClient(relay.port)
        try:
            msgs = rc.simple_query("select 1")
            assert [m[0] for m in msgs] == [b"T", b"D", b"C", b"Z"], msgs
            rc.send(message(b"y", b"\0\0\0\0"))
            got = error_or_close(rc.sock, 3)
            print(f"\nunknown message: {got}")
            assert got["outcome"] in ("error", "closed"), got
            if got["outcome"] == "error":
                assert got["fields"].get("C") == "08P01", got
        finally:
            rc.close()
        loop.wait_more()  # the other client still answers afterwards
    assert not loop.errors, loop.errors[:3]
    assert_serving(relay)


def test_bad_length_message_after_login(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    with QueryLoop(relay.dsn()) as loop:
        for body in (b"Q" + struct.pack("!i", 2) + b"x",                 # length < 4
                     b"Q" + struct.pack("!i", 0x7FFFFFFF) + b"select"):  # 2 GiB declared
            rc = RawClient(relay.port)
            try:
                assert rc.simple_query("select 1")[-1][0] == b"Z"
                rc.send(body)
                got = error_or_close(rc.sock, 4)
                print(f"\n{body[:5]!r}: {got}")
                assert got["outcome"] in ("error", "closed"), got
            finally:
                rc.close()
        loop.wait_more()  # the other client still answers afterwards
    assert not loop.errors, loop.errors[:3]
    assert_serving(relay)


# ------------------------------------------------------------------------------------------
# 8. cancel


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_cancel(pgrelay, cluster, mode):
    wait_no_app_backends(cluster)
    over = {"pool": {"size": 2}}
    if mode == "session":
        over.update(SESSION_APP)
    relay = pgrelay(over)
    marker, other_marker = unique("cancel_me"), unique("leave_me")
    with connect(relay.dsn()) as c, connect(relay.dsn()) as other, admin(cluster) as adm:
        bg = Background(lambda: c.execute(f"select pg_sleep(30), '{marker}'").fetchone())
        bg_other = Background(lambda: other.execute(f"select pg_sleep(2), '{other_marker}'").fetchone())
        assert wait_for(lambda: sleepers(adm, marker) and sleepers(adm, other_marker), 5), \
            f"queries not running on the primary: {pool_backends(adm)}"
        t0 = time.monotonic()
        c.cancel()
        assert bg.join(5), "the cancelled query did not return within 5s"
        elapsed = bg.finished_at - t0
        assert isinstance(bg.error, errors.QueryCanceled), repr(bg.error)
        assert bg.error.sqlstate == "57014"
        assert elapsed < 1.0, f"cancel took {elapsed:.2f}s"
        assert wait_for(lambda: not sleepers(adm, marker), 2), "pg_sleep(30) still running"
        # The other client's query was not touched.
        assert bg_other.result(10)[1] == other_marker
        # The cancelled connection keeps working.
        assert c.execute("select 'after cancel'").fetchone()[0] == "after cancel"


def test_stale_cancel_does_not_hit_another_client(pgrelay, cluster):
    """Transaction mode, one server: client A is idle; B runs a query on the server A used
    before. A's cancel must not cancel B's query."""
    relay = pgrelay({"pool": {"size": 1}})
    with connect(relay.dsn()) as a, connect(relay.dsn()) as b, admin(cluster) as adm:
        apid = a.execute("select pg_backend_pid()").fetchone()[0]
        marker = unique("b_query")
        bg = Background(lambda: b.execute(f"select pg_sleep(1.5), pg_backend_pid(), '{marker}'"
                                          ).fetchone())
        assert wait_for(lambda: sleepers(adm, marker), 3)
        a.cancel()
        row = bg.result(10)
        assert row[1] == apid, "expected B on the same (only) server"
        assert row[2] == marker


# ------------------------------------------------------------------------------------------
# 9. clients dying


CHILD = r"""
import os, sys, time, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=False, prepare_threshold=None)
if sys.argv[2] == "tx":
    conn.execute(sys.argv[3])
    print("ready", flush=True)
    sys.stdin.readline()      # the parent says when (or SIGKILLs us meanwhile)
    conn.close()              # sends Terminate inside the open transaction
    os._exit(0)
else:
    print("ready", flush=True)
    conn.execute(sys.argv[3])
"""


def spawn_child(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_ready(p: subprocess.Popen, timeout: float = 15) -> None:
    r, _, _ = select.select([p.stdout], [], [], timeout)
    if not r:
        p.kill()
        p.wait(5)
        pytest.fail(f"child did not get ready in {timeout}s: {p.stderr.read()}")
    line = p.stdout.readline().strip()
    if line != "ready":
        p.kill()
        p.wait(5)
        pytest.fail(f"child failed: {line!r} {p.stderr.read()}")


@pytest.mark.parametrize("how", ["sigkill", "terminate_message"])
def test_client_dies_in_transaction(pgrelay, cluster, how):
    wait_no_app_backends(cluster)
    table = unique("core_killed")
    with primary_app(cluster) as p:
        p.execute(f"create table {table} (v int)")
    try:
        relay = pgrelay({"pool": {"size": 1, "wait_timeout": "10s"}})
        child = spawn_child([relay.dsn(), "tx", f"insert into {table} values (1)"])
        try:
            wait_ready(child)
            with admin(cluster) as adm:
                assert [b for b in pool_backends(adm) if b[1] == "idle in transaction"], \
                    "expected the child's transaction open on the primary"
                if how == "sigkill":
                    child.send_signal(signal.SIGKILL)
                else:
                    child.stdin.write("go\n")
                    child.stdin.flush()
                child.wait(10)
                t0 = time.monotonic()
                cleared = wait_for(lambda: not [b for b in pool_backends(adm)
                                                if b[1] != "idle"], 5)
                assert cleared, f"server still busy after the client died: {pool_backends(adm)}"
                print(f"\n{how}: server cleared after {time.monotonic() - t0:.2f}s")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(5)
        with primary_app(cluster) as p:
            assert p.execute(f"select count(*) from {table}").fetchone()[0] == 0
        t0 = time.monotonic()
        with connect(relay.dsn()) as c:
            assert c.execute("select 1").fetchone()[0] == 1
            # The pool's only server is not stuck in the dead client's transaction.
            assert c.execute(f"select count(*) from {table}").fetchone()[0] == 0
        assert time.monotonic() - t0 < 3
    finally:
        with primary_app(cluster) as p:
            p.execute(f"drop table if exists {table}")


def test_client_dies_during_query(pgrelay, cluster):
    wait_no_app_backends(cluster)
    relay = pgrelay({"pool": {"size": 1, "wait_timeout": "10s"}})
    marker = unique("killed_query")
    child = spawn_child([relay.dsn(), "query", f"select pg_sleep(30), '{marker}'"])
    try:
        wait_ready(child)
        with admin(cluster) as adm:
            assert wait_for(lambda: sleepers(adm, marker), 5), "query never started"
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            t0 = time.monotonic()
            assert wait_for(lambda: not sleepers(adm, marker), 5), \
                f"server still running the dead client's query: {pool_backends(adm)}"
            print(f"\nquery stopped {time.monotonic() - t0:.2f}s after the kill")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
    t0 = time.monotonic()
    with connect(relay.dsn()) as c:
        assert c.execute("select 1").fetchone()[0] == 1
    assert time.monotonic() - t0 < 5


# ------------------------------------------------------------------------------------------
# 11. servers dying


def test_dead_idle_servers_replaced_at_checkout(pgrelay, cluster):
    wait_no_app_backends(cluster)
    relay = pgrelay({"pool": {"size": 2}})
    with connect(relay.dsn()) as c1, connect(relay.dsn()) as c2, admin(cluster) as adm:
        with c1.transaction(), c2.transaction():  # both servers in use at once
            c1.execute("select 1")
            c2.execute("select 1")
        idle = [b[0] for b in pool_backends(adm)]
        assert len(idle) == 2, pool_backends(adm)
        for pid in idle:
            adm.execute("select pg_terminate_backend(%s)", (pid,))
        # Gone from pg_stat_activity: each backend has already sent its FATAL and is exiting.
        assert wait_for(lambda: not pool_backends(adm), 5), pool_backends(adm)
        seen = set()
        for i in range(10):
            for c in (c1, c2):
                seen.add(c.execute("select pg_backend_pid()").fetchone()[0])
                assert c.execute("select %s::int", (i,)).fetchone()[0] == i
        with connect(relay.dsn()) as c3:
            assert c3.execute("select 3").fetchone()[0] == 3
            with c3.transaction():
                seen.add(c3.execute("select pg_backend_pid()").fetchone()[0])
        assert not seen & set(idle)
    assert relay.alive()


def test_server_terminated_under_transaction_psycopg(pgrelay, cluster):
    wait_no_app_backends(cluster)
    relay = pgrelay({"pool": {"size": 1}})
    with connect(relay.dsn(), autocommit=False) as c, admin(cluster) as adm:
        c.execute("select 1")  # BEGIN + select: the server is idle in transaction
        victims = [b[0] for b in pool_backends(adm) if b[1] == "idle in transaction"]
        assert len(victims) == 1, pool_backends(adm)
        adm.execute("select pg_terminate_backend(%s)", (victims[0],))
        t0 = time.monotonic()
        with pytest.raises(psycopg.Error) as ei:
            c.execute("select 2")
        assert time.monotonic() - t0 < 5
        print(f"\nclient saw: {type(ei.value).__name__} {ei.value.sqlstate} {ei.value}")
        assert isinstance(ei.value, psycopg.OperationalError), repr(ei.value)
        # Postgres' own FATAL reached the client (libpq reports it without a SQLSTATE because
        # the connection closes with it), not merely a dropped connection.
        assert "terminating connection due to administrator command" in str(ei.value), repr(ei.value)
        assert wait_for(lambda: c.closed, 3), "the client connection was not closed"
    t0 = time.monotonic()
    with connect(relay.dsn()) as c:
        assert c.execute("select 'healed'").fetchone()[0] == "healed"
    assert time.monotonic() - t0 < 3


def test_server_terminated_under_transaction_raw(pgrelay, cluster):
    """The same on a raw socket: exactly one ErrorResponse (57P01 or 08xxx), then the close."""
    wait_no_app_backends(cluster)
    relay = pgrelay({"pool": {"size": 1}})
    rc = RawClient(relay.port)
    try:
        msgs = rc.simple_query("begin; select 1")
        assert msgs[-1] == (b"Z", b"T"), msgs[-1]
        with admin(cluster) as adm:
            victims = [b[0] for b in pool_backends(adm) if b[1] == "idle in transaction"]
            assert len(victims) == 1
            adm.execute("select pg_terminate_backend(%s)", (victims[0],))
        errors_seen, deadline = [], time.monotonic() + 5
        with_query = False
        while time.monotonic() < deadline:
            try:
                m = rc.read(max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                if not with_query:  # nothing arrived by itself: send a query to provoke it
                    with_query = True
                    try:
                        rc.send(message(b"Q", b"select 2\0"))
                    except OSError:
                        break
                    continue
                break
            except OSError:
                m = None
            if m is None:
                break
            if m[0] == b"E":
                errors_seen.append(parse_error(m[1]))
        else:
            pytest.fail("the connection was not closed within 5s")
        print(f"\nerrors relayed: {errors_seen}")
        assert len(errors_seen) == 1, f"expected exactly one error, got {errors_seen}"
        assert errors_seen[0]["C"] in ("57P01", "08006", "08003"), errors_seen
    finally:
        rc.close()
    with connect(relay.dsn()) as c:
        assert c.execute("select 'healed'").fetchone()[0] == "healed"
