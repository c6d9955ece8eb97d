"""Statements bigger than pgrelay's 16 MiB statement buffer pass in bounded memory.

pgrelay reads Query, Parse, Bind, Describe and Close whole to classify and rename them. Past
16 MiB it would hold as much as the client sends (Postgres accepts 1 GiB), so a Query or an
unnamed Parse streams to the primary unread and the session is examined afterwards, a Bind has
only its names rewritten while its parameters stream, and a named Parse (whose text pgrelay
would have to keep) is refused with 54000. Each test checks the answer, pgrelay's peak resident
memory (VmHWM), and that a neighbour on the same one-server pool is served afterwards."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import psycopg
import pytest

from helpers_core import RawClient, error_or_close, message, parse_error, read_until_ready, unique

BIG = 48 << 20  # three times the statement buffer
# What pgrelay may grow by while relaying BIG bytes: its read buffers, not the message.
GROWTH_BOUND = 24 << 20


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def only_value(msgs: list[tuple[bytes, bytes]]) -> str:
    errors = [parse_error(b) for t, b in msgs if t == b"E"]
    assert not errors, errors
    rows = [b for t, b in msgs if t == b"D"]
    assert len(rows) == 1, msgs[:5]
    n = struct.unpack("!i", rows[0][2:6])[0]
    return rows[0][6:6 + n].decode()


def parse(name: str, sql: str) -> bytes:
    return message(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0))


def bind(statement: str, value: bytes) -> bytes:
    body = b"\0" + statement.encode() + b"\0" + struct.pack("!h", 0) + struct.pack("!h", 1)
    body += struct.pack("!i", len(value)) + value + struct.pack("!h", 0)
    return message(b"B", body)


EXECUTE = message(b"E", b"\0" + struct.pack("!i", 0))
SYNC = message(b"S")


def neighbour_answers(port: int) -> None:
    with psycopg.connect(f"host=127.0.0.1 port={port} user=app password=app dbname=app",
                         autocommit=True, connect_timeout=10) as c:
        assert c.execute("SELECT 'neighbour'").fetchone() == ("neighbour",)


@pytest.fixture
def relay(pgrelay):
    return pgrelay({"pool": {"size": 1}})


def test_query_over_the_buffer_streams_and_its_settings_do_not_leak(relay):
    """A 48 MiB Query that also sets search_path: answered, the client keeps its setting, the
    next client of the same server does not get it, and pgrelay never held the Query."""
    schema = unique("big_q")
    filler = b"y" * BIG
    sql = f"SET search_path TO {schema}, public; SELECT md5('".encode() + filler + b"')"
    before = peak_rss(relay.proc.pid)
    rc = RawClient(relay.port, timeout=60)
    try:
        rc.send(message(b"Q", sql + b"\0"))
        assert only_value(read_until_ready(rc, 60)) == hashlib.md5(filler).hexdigest()
        assert only_value(rc.simple_query("SHOW search_path", 10)) == f"{schema}, public"
    finally:
        rc.close()
    assert peak_rss(relay.proc.pid) - before < GROWTH_BOUND
    with psycopg.connect(relay.dsn(), autocommit=True, connect_timeout=10) as c:
        assert c.execute("SHOW search_path").fetchone() == ('"$user", public',)


@pytest.mark.parametrize("same_unit", [False, True], ids=["parse-then-bind", "one-pipeline"])
def test_bind_over_the_buffer_streams_its_parameters(relay, same_unit):
    """A named statement executed with a 48 MiB parameter, parsed in an earlier unit or in the
    same pipeline: the server gets pgrelay's statement name and every byte of the value."""
    value = bytes(range(97, 123)) * (BIG // 26)
    name = unique("big_b")
    before = peak_rss(relay.proc.pid)
    rc = RawClient(relay.port, timeout=60)
    try:
        if not same_unit:
            rc.send(parse(name, "SELECT md5($1::text)") + SYNC)
            got = read_until_ready(rc, 10)
            assert [t for t, _ in got] == [b"1", b"Z"], got
            rc.send(bind(name, value) + EXECUTE + SYNC)
        else:
            rc.send(parse(name, "SELECT md5($1::text)") + bind(name, value) + EXECUTE + SYNC)
        assert only_value(read_until_ready(rc, 60)) == hashlib.md5(value).hexdigest()
        # The statement is still the client's own afterwards.
        rc.send(bind(name, b"small") + EXECUTE + SYNC)
        assert only_value(read_until_ready(rc, 10)) == hashlib.md5(b"small").hexdigest()
    finally:
        rc.close()
    assert peak_rss(relay.proc.pid) - before < GROWTH_BOUND
    neighbour_answers(relay.port)


def test_unnamed_parse_over_the_buffer_streams(relay):
    filler = b"z" * BIG
    before = peak_rss(relay.proc.pid)
    rc = RawClient(relay.port, timeout=60)
    try:
        no_params = message(b"B", b"\0\0" + struct.pack("!hhh", 0, 0, 0))
        rc.send(parse("", "SELECT md5('" + "z" * BIG + "')") + no_params + EXECUTE + SYNC)
        assert only_value(read_until_ready(rc, 60)) == hashlib.md5(filler).hexdigest()
    finally:
        rc.close()
    assert peak_rss(relay.proc.pid) - before < GROWTH_BOUND
    neighbour_answers(relay.port)


@pytest.mark.parametrize("tag", [b"P", b"D"])
def test_named_statement_message_over_the_buffer_is_refused(relay, tag):
    """pgrelay would have to keep a named Parse's text to prepare it on other servers: over the
    buffer it answers 54000 as soon as the header and the name are in, without waiting for the
    rest, and closes; the pool is free for the next client."""
    declared = 20 << 20
    if tag == b"P":
        start = b"named_big\0SELECT '"
    else:
        start = b"S" + b"n" * 1000
    header = tag + struct.pack("!i", declared + 4)
    rc = RawClient(relay.port, timeout=30)
    try:
        rc.send(header + start)
        err = error_or_close(rc.sock, 30)
        assert err["outcome"] == "error", err
        assert err["fields"].get("C") == "54000", err
        assert "16 MiB" in err["fields"].get("M", ""), err
        assert error_or_close(rc.sock, 10)["outcome"] == "closed"
    finally:
        rc.close()
    neighbour_answers(relay.port)


def test_driver_executes_a_prepared_statement_with_a_huge_parameter(relay):
    """psycopg 3 with prepare=True sends Parse/Bind/Execute with a named statement."""
    value = "w" * BIG
    before = peak_rss(relay.proc.pid)
    with psycopg.connect(relay.dsn(), autocommit=True, connect_timeout=10) as c:
        for _ in range(2):
            got = c.execute("SELECT md5(%s::text)", [value], prepare=True).fetchone()
            assert got == (hashlib.md5(value.encode()).hexdigest(),)
    assert peak_rss(relay.proc.pid) - before < GROWTH_BOUND
    neighbour_answers(relay.port)


def test_driver_sees_the_refusal_of_a_huge_named_statement(relay):
    """The whole 20 MiB named Parse is sent by the driver before it reads: pgrelay's error must
    still reach it (not only a reset connection), and the next client is served. libpq reports
    an error that ends the connection while it is still sending as a connection failure, with
    the server's message but no SQLSTATE."""
    sql = "SELECT '" + "q" * (20 << 20) + "'"
    with psycopg.connect(relay.dsn(), autocommit=True, connect_timeout=10) as c:
        with pytest.raises(psycopg.Error) as failed:
            c.execute(sql, prepare=True)
    assert "message too large for pgrelay" in str(failed.value), repr(failed.value)
    neighbour_answers(relay.port)
