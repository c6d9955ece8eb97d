"""A client's Parse behaves as if parsed now, whatever other clients prepared before.

pgrelay shares server-side prepared statements between the clients of a pool by text and
parameter types. A statement another client prepared before a DDL keeps the parameter and
result types of that time; a client that parses the same text after the DDL must not get them
(direct Postgres never does for a statement parsed after the DDL)."""

from __future__ import annotations

import struct

from helpers_core import RawClient, message, parse_error, primary_app, unique


def parse_bind_execute(rc: RawClient, name: str, sql: str, params: list[str]) -> list[tuple[bytes, bytes]]:
    body = struct.pack("!h", 0) + struct.pack("!h", len(params))
    for p in params:
        raw = p.encode()
        body += struct.pack("!i", len(raw)) + raw
    body += struct.pack("!h", 0)
    rc.send(message(b"P", name.encode() + b"\0" + sql.encode() + b"\0" + struct.pack("!h", 0)) +
            message(b"B", b"\0" + name.encode() + b"\0" + body) +
            message(b"E", b"\0" + struct.pack("!i", 0)) + message(b"S"))
    out = []
    while True:
        m = rc.read(10)
        assert m is not None, f"closed; got {out}"
        out.append(m)
        if m[0] == b"Z":
            return out


def errors(msgs) -> list[dict]:
    return [parse_error(b) for t, b in msgs if t == b"E"]


def test_parse_after_ddl_gets_the_new_parameter_type(cluster, pgrelay):
    table = unique("stmt_types")
    with primary_app(cluster) as c:
        c.execute(f"CREATE TABLE {table} (name text)")
    relay = pgrelay({"pool": {"size": 1}})
    sql = f"INSERT INTO {table} (name) VALUES ($1)"
    a = RawClient(relay.port)
    try:
        assert not errors(parse_bind_execute(a, "a1", sql, ["7"]))
        with primary_app(cluster) as c:
            c.execute(f"ALTER TABLE {table} ALTER COLUMN name TYPE int USING name::int")
        b = RawClient(relay.port)
        try:
            got = parse_bind_execute(b, "b1", sql, ["5"])
            assert not errors(got), errors(got)
        finally:
            b.close()
    finally:
        a.close()


def test_parse_after_ddl_gets_the_new_result_type(cluster, pgrelay):
    table = unique("stmt_rows")
    with primary_app(cluster) as c:
        c.execute(f"CREATE TABLE {table} (a int)")
        c.execute(f"INSERT INTO {table} VALUES (1)")
    relay = pgrelay({"pool": {"size": 1}})
    sql = f"SELECT * FROM {table}"
    a = RawClient(relay.port)
    try:
        assert not errors(parse_bind_execute(a, "a1", sql, []))
        with primary_app(cluster) as c:
            c.execute(f"ALTER TABLE {table} ADD COLUMN b text DEFAULT 'x'")
        for i in range(5):
            b = RawClient(relay.port)
            try:
                got = parse_bind_execute(b, f"b{i}", sql, [])
                assert not errors(got), errors(got)
                rows = [m for m in got if m[0] == b"D"]
                assert rows and struct.unpack("!h", rows[0][1][:2])[0] == 2
            finally:
                b.close()
    finally:
        a.close()


def test_shared_statement_names_are_not_another_clients_to_use(cluster, pgrelay):
    """The names pgrelay gives shared statements on a server are visible in
    pg_prepared_statements; a client that names one it never defined reaches nothing (26000 or,
    for Close, nothing to close), and the owner keeps using it."""
    relay = pgrelay({"pool": {"size": 1}})
    a = RawClient(relay.port)
    b = RawClient(relay.port)
    try:
        assert not errors(parse_bind_execute(a, "mine", "SELECT 'a-owns-this'", []))
        names = [m[1] for m in b.simple_query("SELECT name FROM pg_prepared_statements") if m[0] == b"D"]
        assert names, "the shared statement is not on the server"
        shared = names[0][6:].decode()
        assert shared.startswith("pgrelay_")
        got = errors(b.simple_query(f"DEALLOCATE {shared}"))
        assert [e.get("C") for e in got] == ["26000"], got
        body = b"\0" + shared.encode() + b"\0" + struct.pack("!hhh", 0, 0, 0)
        b.send(message(b"B", body) + message(b"E", b"\0" + struct.pack("!i", 0)) + message(b"S"))
        out = []
        while not out or out[-1][0] != b"Z":
            out.append(b.read(10))
        assert [e.get("C") for e in errors(out)] == ["26000"], out
        b.send(message(b"C", b"S" + shared.encode() + b"\0") + message(b"S"))
        out = []
        while not out or out[-1][0] != b"Z":
            out.append(b.read(10))
        assert [m[0] for m in out] == [b"3", b"Z"], out
        # The owner's statement is still there and still its own.
        a.send(message(b"B", b"\0mine\0" + struct.pack("!hhh", 0, 0, 0)) +
               message(b"E", b"\0" + struct.pack("!i", 0)) + message(b"S"))
        out = []
        while not out or out[-1][0] != b"Z":
            out.append(a.read(10))
        assert not errors(out) and any(m[0] == b"D" and b"a-owns-this" in m[1] for m in out), out
    finally:
        a.close()
        b.close()


def bind_execute_sync(rc: RawClient, name: str) -> list[tuple[bytes, bytes]]:
    rc.send(message(b"B", b"\0" + name.encode() + b"\0" + struct.pack("!hhh", 0, 0, 0)) +
            message(b"E", b"\0" + struct.pack("!i", 0)) + message(b"S"))
    out = []
    while not out or out[-1][0] != b"Z":
        m = rc.read(10)
        assert m is not None, f"closed; got {out}"
        out.append(m)
    return out


def test_each_execution_of_a_named_statement_is_watched_not_only_its_parse(cluster, pgrelay):
    """A named statement that takes a session advisory lock pins its client when parsed and run.
    The client unlocks (unpinned again), then runs the same statement by Bind alone: the lock
    is taken again, and the server must stay with that client, not reach the next one."""
    relay = pgrelay({"pool": {"size": 1, "wait_timeout": "2s"}})
    a = RawClient(relay.port)
    try:
        assert not errors(parse_bind_execute(a, "lock", "SELECT pg_advisory_lock(4242)", []))
        assert not errors(a.simple_query("SELECT pg_advisory_unlock(4242)"))
        assert not errors(bind_execute_sync(a, "lock"))
        b = RawClient(relay.port)
        try:
            got = b.simple_query("SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory' "
                                 "AND pid = pg_backend_pid()", 10)
            errs = errors(got)
            if errs:  # the one server stays with its locking client: nobody else gets it
                assert [e.get("C") for e in errs] == ["53300"], errs
            else:
                rows = [m[1] for m in got if m[0] == b"D"]
                assert rows and rows[0][6:] == b"0", "the next client holds the first client's advisory lock"
        finally:
            b.close()
    finally:
        a.close()


def read_exactly(rc: RawClient, count: int) -> list[tuple[bytes, bytes]]:
    out = []
    for _ in range(count):
        m = rc.read(10)
        assert m is not None, f"closed or silent; got {out}"
        out.append(m)
    return out


def test_close_of_a_shared_statement_is_answered_at_flush(cluster, pgrelay):
    """A client's Close of a statement other clients may share never reaches the server: pgrelay
    owes its CloseComplete. With Flush and no Sync, nothing from the server carries that answer
    (Postgres sends nothing for a Flush with no output pending), so the relay must send it with no
    server byte to go with it, in a transaction and out of one. A Parse of a statement some server
    already accepted, with Flush, is answered too (outside a transaction, without a server)."""
    relay = pgrelay({"pool": {"size": 1}})
    sql = "SELECT 'flushed-' || $1::text"
    a = RawClient(relay.port)
    b = RawClient(relay.port)
    try:
        assert not errors(parse_bind_execute(a, "a1", sql, ["a"]))
        parse = message(b"P", b"b1\0" + sql.encode() + b"\0" + struct.pack("!h", 0))
        bind = message(b"B", b"\0b1\0" + struct.pack("!hhi", 0, 1, 1) + b"b" + struct.pack("!h", 0))
        execute = message(b"E", b"\0" + struct.pack("!i", 0))
        for in_transaction in (False, True):
            if in_transaction:
                assert [m[0] for m in b.simple_query("BEGIN")] == [b"C", b"Z"]
            b.send(parse + message(b"H"))
            assert read_exactly(b, 1)[0][0] == b"1"
            b.send(bind + execute + message(b"S"))
            got = read_exactly(b, 4)
            assert [m[0] for m in got] == [b"2", b"D", b"C", b"Z"], got
            assert b"flushed-b" in got[1][1]
            assert got[3][1] == (b"T" if in_transaction else b"I")
            b.send(message(b"C", b"Sb1\0") + message(b"H"))
            assert read_exactly(b, 1)[0][0] == b"3"
            b.send(message(b"S"))
            assert read_exactly(b, 1) == [(b"Z", b"T" if in_transaction else b"I")]
        assert [m[0] for m in b.simple_query("COMMIT")] == [b"C", b"Z"]
        # The statement stays the other client's to use.
        assert not errors(parse_bind_execute(a, "a2", sql, ["a"]))
    finally:
        a.close()
        b.close()
