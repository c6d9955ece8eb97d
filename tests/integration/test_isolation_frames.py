"""A server changes hands only at a message boundary on both sides.

Each test here reproduces a way a client's bytes reached another client's server (or another
client's answer) through a pool of 1 or 2 in transaction mode, with raw protocol clients so
every cut is exact: a Query over 1 MiB, a COPY that fails while a CopyData frame is half sent,
and an idle client that sends only the header of a big CopyData frame. Postgres itself ignores
CopyData, CopyDone and CopyFail outside COPY; each test also checks the first client goes on as
it would on a direct connection."""

from __future__ import annotations

import struct
import threading

import psycopg
import pytest

from conftest import dsn
from helpers_core import RawClient, message, parse_error, primary_app, read_until_ready, unique, wait_for


def body_of(msgs: list[tuple[bytes, bytes]], tag: bytes) -> list[bytes]:
    return [b for t, b in msgs if t == tag]


def first_value(msgs: list[tuple[bytes, bytes]]) -> str:
    """The first column of the first DataRow of a simple query's answer."""
    rows = body_of(msgs, b"D")
    assert rows, f"no DataRow in {msgs[:5]}"
    body = rows[0]
    n = struct.unpack("!i", body[2:6])[0]
    return body[6:6 + n].decode()


def clients_waiting(relay) -> int:
    """cl_waiting of the app pool, from the admin console's SHOW POOLS."""
    with psycopg.connect(dsn(relay.port, user="admin", password="admin", dbname="pgrelay"),
                         autocommit=True, prepare_threshold=None) as c:
        cur = c.execute("SHOW POOLS")
        cols = [d.name for d in cur.description]
        pools = [dict(zip(cols, r)) for r in cur.fetchall()]
    return sum(int(p["cl_waiting"]) for p in pools if p["database"] == "app")


class Answer(threading.Thread):
    """Runs one simple query on its own connection and keeps what came back."""

    def __init__(self, port: int, sql: str, timeout: float):
        super().__init__(daemon=True)
        self.port, self.sql, self.timeout = port, sql, timeout
        self.result: list[tuple[bytes, bytes]] | None = None
        self.error: BaseException | None = None
        self.logged_in = threading.Event()

    def run(self) -> None:
        try:
            rc = RawClient(self.port, timeout=self.timeout)
            self.logged_in.set()
            try:
                self.result = rc.simple_query(self.sql, self.timeout)
            finally:
                rc.close()
        except BaseException as e:  # noqa: BLE001
            self.error = e
            self.logged_in.set()

    def value(self) -> str:
        self.join(self.timeout + 5)
        assert not self.is_alive(), f"no answer to {self.sql[:60]!r} within {self.timeout}s"
        assert self.error is None, f"{self.sql[:60]!r} failed: {self.error!r}"
        assert self.result is not None
        errors = [parse_error(b) for b in body_of(self.result, b"E")]
        assert not errors, f"{self.sql[:60]!r} got errors: {errors}"
        return first_value(self.result)


@pytest.mark.parametrize("piece", [None, 65536])
def test_query_over_one_mebibyte_is_answered(pgrelay, piece):
    """A simple Query of 2 MiB, sent at once or in 64 KiB pieces, gets its answer, and a
    neighbour on the same one-server pool is served meanwhile and after."""
    relay = pgrelay({"pool": {"size": 1}})
    filler = "x" * (2 << 20)
    sql = f"SELECT length('{filler}')::text"
    frame = message(b"Q", sql.encode() + b"\0")
    rc = RawClient(relay.port, timeout=20)
    try:
        if piece is None:
            rc.send(frame)
        else:
            for i in range(0, len(frame), piece):
                rc.send(frame[i:i + piece])
        got = read_until_ready(rc, 20)
        assert first_value(got) == str(len(filler))
        assert first_value(rc.simple_query("SELECT 'after'", 10)) == "after"
    finally:
        rc.close()
    neighbour = Answer(relay.port, "SELECT 'neighbour'", 10)
    neighbour.start()
    assert neighbour.value() == "neighbour"


def copy_table(cluster) -> str:
    name = unique("copy_checked")
    with primary_app(cluster) as c:
        c.execute(f"CREATE TABLE {name} (v int CHECK (v > 0))")
    return name


def copy_data(payload: bytes) -> bytes:
    return message(b"d", payload)


def start_copy_in(rc: RawClient, table: str) -> None:
    """COPY … FROM STDIN on `rc`, up to the server's CopyInResponse."""
    rc.send(message(b"Q", f"COPY {table} FROM STDIN (FORMAT csv)".encode() + b"\0"))
    m = rc.read(10)
    assert m is not None and m[0] == b"G", m


def test_copy_error_with_a_frame_half_sent_keeps_clients_apart(cluster, pgrelay):
    """COPY FROM STDIN fails on its first row while the client's next CopyData frame is half
    sent. The server answers ERROR + ReadyForQuery; until the client finishes that frame the
    server must not serve anyone else. A neighbour queued on the same single server gets its own
    answer, and the failing client's later copy bytes are dropped as Postgres drops them."""
    table = copy_table(cluster)
    relay = pgrelay({"pool": {"size": 1}})
    a = RawClient(relay.port, timeout=10)
    try:
        start_copy_in(a, table)
        bad_row = copy_data(b"-1\n")
        next_frame = copy_data(b"1\n" * 4096)  # 8 KiB of good rows
        half = len(next_frame) // 2
        a.send(bad_row + next_frame[:half])
        answer = read_until_ready(a, 10)
        errors = [parse_error(b) for b in body_of(answer, b"E")]
        assert errors and errors[0].get("C") == "23514", errors
        # The server is idle now, but it holds half a CopyData frame from `a`.
        neighbour = Answer(relay.port, "SELECT 'neighbour-' || 42", 10)
        neighbour.start()
        assert wait_for(lambda: clients_waiting(relay) == 1, 10), "the neighbour never queued"
        a.send(next_frame[half:] + copy_data(b"2\n" * 100) + message(b"c"))
        assert neighbour.value() == "neighbour-42"
        assert first_value(a.simple_query("SELECT 'a-after'", 10)) == "a-after"
    finally:
        a.close()
    with primary_app(cluster) as c:
        assert c.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


@pytest.mark.parametrize("pool_size", [1, 2])
def test_header_of_a_big_copydata_alone_does_not_reach_another_client(pgrelay, pool_size):
    """An idle client sends only the header of a 2 MiB CopyData frame (Postgres would read it
    whole and ignore it). Other clients keep getting their own answers, and when the rest comes
    the client's next query is answered as on a direct connection."""
    relay = pgrelay({"pool": {"size": pool_size}})
    a = RawClient(relay.port, timeout=10)
    try:
        size = 2 << 20
        a.send(b"d" + struct.pack("!i", size + 4))
        for i in range(3):
            other = Answer(relay.port, f"SELECT 'other-{i}'", 10)
            other.start()
            assert other.value() == f"other-{i}"
        a.send(b"z" * size)
        assert first_value(a.simple_query("SELECT 'a-after'", 10)) == "a-after"
        for i in range(3):
            other = Answer(relay.port, f"SELECT 'later-{i}'", 10)
            other.start()
            assert other.value() == f"later-{i}"
    finally:
        a.close()


def test_client_stalling_inside_an_ignored_frame_does_not_hold_the_server(cluster, pgrelay):
    """COPY fails while the client's next CopyData frame is half sent, and the client then sends
    nothing. Its server, which holds half a frame, is closed rather than held: a neighbour on the
    same one-server pool gets a server, and the stalled client's later bytes are dropped as
    Postgres would drop them."""
    table = copy_table(cluster)
    relay = pgrelay({"pool": {"size": 1}})
    a = RawClient(relay.port, timeout=10)
    try:
        start_copy_in(a, table)
        next_frame = copy_data(b"1\n" * 4096)
        a.send(copy_data(b"-1\n") + next_frame[:100])
        errors = [parse_error(b) for b in body_of(read_until_ready(a, 10), b"E")]
        assert errors and errors[0].get("C") == "23514", errors
        neighbour = Answer(relay.port, "SELECT 'neighbour-served'", 10)
        neighbour.start()
        assert neighbour.value() == "neighbour-served"
        assert "stalled inside a frame" in relay.log()
        a.send(next_frame[100:] + message(b"c"))
        assert first_value(a.simple_query("SELECT 'a-after'", 10)) == "a-after"
    finally:
        a.close()
