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
