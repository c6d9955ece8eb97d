"""Hostile input against the real binary and real Postgres: broken frame lengths after login,
truncated frames (then close, or half-close), unknown message types, wrong protocol versions
compared with what Postgres itself answers, a client that trickles its startup packet forever,
1,000 silent connections and a burst of failed logins from one address.

In every case the proxy stays up, a neighbour client on another connection keeps working
(QueryLoop), and the hostile client gets an ErrorResponse with the SQLSTATE Postgres would send
where the protocol allows one, or a close. Every wait is bounded."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import pgrelay_bin, wait_for_port
from helpers_auth import metric, with_metrics
from helpers_core import (PROTOCOL_3_0, LoginError, QueryLoop, RawClient, assert_sqlstate,
                          closed_within, connect, error_or_close, first_answer, message, parse_error,
                          raw_socket, read_message, run_threads, startup_packet, wait_client_gone,
                          wait_log, wait_read_by_peer, wait_state)


def assert_serving(relay) -> None:
    assert relay.alive(), f"pgrelay exited:\n{relay.log()[-3000:]}"
    with connect(relay.dsn()) as c:
        assert c.execute("select 'alive'").fetchone()[0] == "alive"


def assert_neighbour_fine(loop: QueryLoop, before: int) -> None:
    assert not loop.errors, f"the neighbour saw errors: {loop.errors[:3]}"
    assert loop.queries > before, "the neighbour made no progress"


def abuse_after_login(relay, data: bytes, half_close: bool = False, timeout: float = 5) -> dict:
    """Logs in on a raw connection, sends `data` (then half-closes if asked) and returns what
    came back (error_or_close), while a neighbour queries in a loop; asserts the neighbour
    saw nothing."""
    with QueryLoop(relay.dsn()) as loop:
        before = loop.wait_more()
        rc = RawClient(relay.port)
        try:
            assert rc.simple_query("select 1")[-1][0] == b"Z"
            rc.send(data)
            if half_close:
                rc.sock.shutdown(socket.SHUT_WR)
            got = error_or_close(rc.sock, timeout)
        finally:
            rc.close()
        loop.wait_more()  # the neighbour still answers after the abuse
    assert_neighbour_fine(loop, before)
    return got


# ------------------------------------------------------------------------------------------
# broken frames after login


BAD_FRAMES = {
    # name: (bytes after a successful login, half-close after sending)
    "negative_length": (b"Q" + struct.pack("!i", -1) + b"select 1\0", False),
    "min_int_length": (b"Q" + struct.pack("!i", -0x80000000), False),
    "length_below_4": (b"P" + struct.pack("!i", 3), False),
    "huge_length": (b"Q" + struct.pack("!i", 0x7FFFFFFF) + b"select 1\0", False),
    "huge_bind": (b"B" + struct.pack("!i", 0x7FFFFFF0) + b"\0\0", False),
    "truncated_then_eof": (message(b"Q", b"select 1\0")[:7], True),
    "truncated_header_then_eof": (b"Q\0\0", True),
}


@pytest.mark.parametrize("case", list(BAD_FRAMES))
def test_bad_frame_after_login(pgrelay, case):
    """A broken or cut-off frame from a logged-in client ends that client only: 08P01 (as
    Postgres: "invalid message length") or a close, within seconds."""
    data, half_close = BAD_FRAMES[case]
    relay = pgrelay({"pool": {"size": 2}})
    got = abuse_after_login(relay, data, half_close)
    print(f"\n{case}: {got}")
    assert got["outcome"] in ("error", "closed"), f"{case}: neither an error nor a close: {got}"
    if got["outcome"] == "error":
        assert got["fields"].get("C") == "08P01", got
    if not half_close:
        # The protocol allows an ErrorResponse here, and a client deserves to know why.
        assert got["outcome"] == "error", f"{case}: closed without an ErrorResponse"
    assert_serving(relay)


def test_truncated_query_then_vanish_does_not_poison_the_server(pgrelay):
    """A client declares a large Query, sends part of it (which may already be streaming to a
    server), then disappears. With one server in the pool, the next clients must get correct
    answers: the half-written server connection is never handed to anyone else."""
    relay = pgrelay({"pool": {"size": 1, "wait_timeout": "10s"}})
    sql = b"select '" + b"x" * 200_000 + b"' as big\0"
    for how in ("close", "half_close"):
        rc = RawClient(relay.port)
        try:
            assert rc.simple_query("select 1")[-1][0] == b"Z"
            frame = message(b"Q", sql)
            rc.send(frame[: len(frame) // 2])
            wait_read_by_peer(rc.sock)  # pgrelay took the half frame in (perhaps to a server)
            if how == "half_close":
                rc.sock.shutdown(socket.SHUT_WR)
                assert closed_within(rc.sock, 5), "pgrelay kept a half-closed client mid-frame"
        finally:
            rc.close()
        t0 = time.monotonic()
        with connect(relay.dsn()) as c:
            for i in range(5):
                assert c.execute("select %s::int", (i,)).fetchone()[0] == i
            assert c.execute("select length(%s)", ("y" * 1000,)).fetchone()[0] == 1000
        assert time.monotonic() - t0 < 5, f"{how}: the next client waited {time.monotonic() - t0:.1f}s"
    assert_serving(relay)


def test_truncated_frame_left_open_blocks_only_its_client(pgrelay):
    """Half a frame and then silence (the connection stays open): like Postgres, pgrelay waits
    for the rest, but nobody else waits with it; when the client finally goes, its server
    comes back to the pool."""
    relay = pgrelay({"pool": {"size": 2, "wait_timeout": "10s"}})
    with QueryLoop(relay.dsn()) as loop:
        before = loop.wait_more()
        rc = RawClient(relay.port)
        rc_port = rc.sock.getsockname()[1]
        try:
            assert rc.simple_query("select 1")[-1][0] == b"Z"
            rc.send(message(b"Q", b"select '" + b"z" * 100_000 + b"'\0")[:50_000])
            wait_read_by_peer(rc.sock)
            # While pgrelay holds the half frame, the neighbour goes on querying.
            loop.wait_more(20)
            assert_neighbour_fine(loop, before)
            with connect(relay.dsn()) as c:
                assert c.execute("select 2").fetchone()[0] == 2
        finally:
            rc.close()
        wait_client_gone(relay, rc_port)
        # Both servers are usable again: two transactions at once.
        with connect(relay.dsn()) as a, connect(relay.dsn()) as b:
            a.execute("begin")
            b.execute("begin")
            assert a.execute("select 1").fetchone()[0] == 1
            assert b.execute("select 1").fetchone()[0] == 1
            a.execute("commit")
            b.execute("commit")
    assert not loop.errors, loop.errors[:3]
    assert_serving(relay)


@pytest.mark.parametrize("tag", [b"y", b"\x00", b"\xff", b"p", b"R", b"Z"])
def test_unknown_message_types_after_login(pgrelay, cluster, tag):
    """Message types a frontend may not send after login: Postgres answers FATAL 08P01
    ("invalid frontend message type"); pgrelay gives the same SQLSTATE or closes."""
    relay = pgrelay({"pool": {"size": 2}})
    got = abuse_after_login(relay, message(tag, b"\0\0\0\0"))
    pg = RawClient(cluster.primary_port)
    try:
        pg.send(message(tag, b"\0\0\0\0"))
        pg_got = error_or_close(pg.sock, 5)
    finally:
        pg.close()
    print(f"\n{tag!r}: pgrelay {got}, postgres {pg_got}")
    assert pg_got["outcome"] == "error" and pg_got["fields"].get("C") == "08P01", pg_got
    assert got["outcome"] in ("error", "closed"), got
    if got["outcome"] == "error":
        assert got["fields"].get("C") == "08P01", got
    assert_serving(relay)


# ------------------------------------------------------------------------------------------
# startup


@pytest.mark.parametrize("version", [(2 << 16), 0, (4 << 16), (1234 << 16) | 5681, 0xFFFF0000])
def test_wrong_protocol_version_like_postgres(pgrelay, cluster, version):
    """A startup packet with a protocol major version other than 3: Postgres answers FATAL
    0A000 and closes; pgrelay must answer with the same SQLSTATE, then close. (For majors below
    3 Postgres writes the error in the old protocol-2 layout, a bare 'E' + text; pgrelay always
    writes a v3 ErrorResponse, which is what every current client parses.)"""
    relay = pgrelay({"pool": {"size": 2}})
    packet = startup_packet({"user": "app", "database": "app"},
                            version=struct.unpack("!i", struct.pack("!I", version))[0])
    pg_data, pg_closed = first_answer(cluster.primary_port, packet)
    data, closed = first_answer(relay.port, packet)
    print(f"\n{version:#x}: pgrelay {data[:120]!r}, postgres {pg_data[:120]!r}")
    assert pg_closed and pg_data[:1] == b"E", pg_data
    assert closed, "pgrelay did not close after the error"
    assert data[:1] == b"E", f"no ErrorResponse: {data!r}"
    length = struct.unpack("!i", data[1:5])[0]
    fields = parse_error(data[5:1 + length])
    assert fields.get("C") == "0A000" and fields.get("S") == "FATAL", fields
    if version >> 16 >= 3:  # Postgres answers in v3 too: compare the SQLSTATE
        pg_len = struct.unpack("!i", pg_data[1:5])[0]
        assert parse_error(pg_data[5:1 + pg_len]).get("C") == fields["C"]
    else:
        assert b"unsupported frontend protocol" in pg_data
    assert_serving(relay)


def test_trickling_startup_is_cut_at_auth_timeout(pgrelay):
    """A client that sends its startup packet one byte every 200 ms (each byte resets no
    timer): auth_timeout bounds the whole login, as in Postgres (57014 "canceling
    authentication due to timeout"), so slowloris cannot hold connections."""
    relay = pgrelay({"pool": {"size": 2}, "auth_timeout": "2s"})
    packet = struct.pack("!i", 2000) + struct.pack("!i", PROTOCOL_3_0) + b"user\0app\0" + b"a" * 1990
    with QueryLoop(relay.dsn()) as loop:
        before = loop.wait_more()
        s = raw_socket(relay.port)
        t0 = time.monotonic()
        closed_at = None
        try:
            for b in packet:
                try:
                    s.sendall(bytes([b]))
                except OSError:
                    closed_at = time.monotonic()
                    break
                s.settimeout(0.2)
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    closed_at = time.monotonic()
                    break
                if not chunk or chunk[:1] == b"E":
                    closed_at = time.monotonic()
                    if chunk[:1] == b"E":
                        fields = dict((p[:1].decode(), p[1:].decode(errors="replace"))
                                      for p in chunk[5:].split(b"\0") if p)
                        assert fields.get("C") == "57014", fields
                    break
                if time.monotonic() - t0 > 8:
                    break
        finally:
            s.close()
        loop.wait_more()
    assert closed_at is not None, "the trickling client was still connected after 8s"
    elapsed = closed_at - t0
    print(f"\ntrickling startup cut after {elapsed:.2f}s")
    assert 1.5 < elapsed < 4.0, f"cut after {elapsed:.2f}s with auth_timeout 2s"
    assert_neighbour_fine(loop, before)
    assert_serving(relay)


def test_silent_after_sasl_request_is_cut_at_auth_timeout(pgrelay):
    """A complete startup packet, then silence instead of the SCRAM response: the login is cut
    at auth_timeout with 57014 (or a close)."""
    relay = pgrelay({"pool": {"size": 2}, "auth_timeout": "2s"})
    s = raw_socket(relay.port)
    try:
        s.sendall(startup_packet({"user": "app", "database": "app"}))
        first = read_message(s, 3)
        assert first is not None and first[0] == b"R", first
        t0 = time.monotonic()
        got = error_or_close(s, 6)
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    print(f"\nsilent SASL: {got} after {elapsed:.2f}s")
    assert got["outcome"] in ("error", "closed"), got
    if got["outcome"] == "error":
        assert got["fields"].get("C") == "57014", got
    assert elapsed < 4.0
    assert_serving(relay)


# ------------------------------------------------------------------------------------------
# many connections


def test_thousand_silent_connections(pgrelay):
    """1,000 connections opened and left silent (no startup packet) do not stop a normal client
    from logging in and querying quickly; closing them leaves pgrelay healthy."""
    overrides, http_port = with_metrics({"pool": {"size": 2}, "auth_timeout": "60s"})
    relay = pgrelay(overrides)
    socks: list[socket.socket] = []

    def connections() -> float:
        return metric(http_port, "pgrelay_client_connections")

    try:
        with QueryLoop(relay.dsn()) as loop:
            before = loop.wait_more()
            # psycopg's connect waits with select(), which takes no descriptor past 1023: keep a
            # few low ones free for the new client below, whatever earlier tests left open.
            reserved = [os.open(os.devnull, os.O_RDONLY) for _ in range(16)]
            t0 = time.monotonic()
            for _ in range(1000):
                socks.append(raw_socket(relay.port, timeout=5))
            print(f"\nopened 1000 connections in {time.monotonic() - t0:.2f}s")
            for fd in reserved:
                os.close(fd)
            # pgrelay accepted all of them (the neighbour is the one more).
            wait_state(connections, lambda n: n >= 1001, 20, "connections pgrelay holds")
            t1 = time.monotonic()
            with connect(relay.dsn()) as c:
                assert c.execute("select 'still here'").fetchone()[0] == "still here"
            login = time.monotonic() - t1
            assert login < 3, f"a new client took {login:.2f}s with 1000 silent connections open"
            # None of the silent ones was answered or closed: they are simply waiting.
            s = socks[0]
            s.settimeout(0.1)
            with pytest.raises(socket.timeout):
                s.recv(1)
            assert_neighbour_fine(loop, before)
            for s in socks:
                s.close()
            socks.clear()
            wait_state(connections, lambda n: n <= 1, 20, "connections pgrelay holds after the close")
            with connect(relay.dsn()) as c:
                assert c.execute("select 1").fetchone()[0] == 1
        assert not loop.errors, loop.errors[:3]
    finally:
        for s in socks:
            s.close()
    assert_serving(relay)


def test_many_failed_logins_from_one_address(pgrelay):
    """200 wrong-password logins from 127.0.0.1 (8 at a time): every one gets FATAL 28P01, a
    neighbour keeps querying meanwhile, and the right password still works afterwards."""
    relay = pgrelay({"pool": {"size": 2}})
    results: list[dict] = []
    lock = threading.Lock()

    def attacker(n: int) -> None:
        for _ in range(n):
            try:
                RawClient(relay.port, password="wrong", timeout=10).close()
                got = {"outcome": "logged in"}
            except LoginError as e:
                got = {"outcome": "error", "fields": e.fields}
            with lock:
                results.append(got)

    with QueryLoop(relay.dsn()) as loop:
        before = loop.wait_more()
        t0 = time.monotonic()
        _, errors, stuck = run_threads([lambda: attacker(25) for _ in range(8)], timeout=120)
        elapsed = time.monotonic() - t0
        loop.wait_more()
    print(f"\n200 failed logins in {elapsed:.2f}s")
    assert not stuck and not errors, f"{stuck} attackers stuck; errors: {errors[:3]}"
    assert len(results) == 200
    bad = [r for r in results if r["outcome"] != "error" or r["fields"].get("C") != "28P01"
           or r["fields"].get("S") != "FATAL"]
    assert not bad, f"{len(bad)} attempts without FATAL 28P01, e.g. {bad[:3]}"
    assert_neighbour_fine(loop, before)
    with pytest.raises(psycopg.OperationalError) as ei:
        connect(relay.dsn(password="wrong"))
    assert_sqlstate(ei.value, "28P01", "password authentication failed")
    assert_serving(relay)


# ------------------------------------------------------------------------------------------
# the users file


def test_users_file_permissions(pgrelay):
    """A users file others can write is refused at startup (exit 2, the reason on stderr); one
    others can read starts with a warning; 0600 starts quietly."""
    relay = pgrelay({"pool": {"size": 2}}, unix_socket=False)  # stop() removes the socket dir
    assert "users file" not in relay.log()
    relay.stop()
    cmd = [str(pgrelay_bin()), "--config", str(relay.config_path)]

    relay.users_path.chmod(0o666)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=15, cwd=str(relay.dir))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "writable by group or others" in r.stderr, r.stderr

    relay.users_path.chmod(0o644)
    log = relay.dir / "readable.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=str(relay.dir))
    try:
        assert wait_for_port(relay.port, 10, alive=lambda: proc.poll() is None), log.read_text()
        with connect(relay.dsn()) as c:
            assert c.execute("select 1").fetchone()[0] == 1
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert "readable by group or others (mode 644)" in log.read_text()


def test_client_text_cannot_forge_log_lines(pgrelay):
    """User names (sent before authentication) and application_name go into log lines escaped:
    a newline cannot start a forged entry and a quote cannot break the JSON log format."""
    relay = pgrelay({"pool": {"size": 2}})
    forged = "2026-01-01 00:00:00.000 info [1] client connected: addr=forged"
    with pytest.raises(LoginError) as li:
        RawClient(relay.port, user=f'evil"\n{forged}', password="x")
    assert li.value.fields.get("C") == "28P01", li.value.fields
    with connect(relay.dsn(application_name=f"app\r\n{forged}")) as c:
        assert c.execute("select 1").fetchone()[0] == 1
    lines = wait_log(relay, 'evil\\"\\x0a2026-01-01', "app\\x0d\\x0a2026-01-01").splitlines()
    assert not [l for l in lines if l.startswith(forged[:10])], "a client forged a log line"
    assert any('evil\\"\\x0a2026-01-01' in l for l in lines), lines[-10:]
    assert any("app\\x0d\\x0a2026-01-01" in l for l in lines), lines[-10:]
