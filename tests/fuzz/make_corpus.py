#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/<target>/ (run from anywhere; idempotent).

Seeds are small, real inputs: startup packets as libpq sends them, Query/Parse/Bind frames,
the RFC 7677 SCRAM exchange, SQL from each statement family, the packaged YAML config.
Crash inputs found later are added by hand next to these (named crash-*)."""

import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
REPO = HERE.parents[1]


def msg(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def startup(params: dict, version: int = 196608) -> bytes:
    body = struct.pack("!i", version) + b"".join(cstr(k) + cstr(v) for k, v in params.items()) + b"\0"
    return struct.pack("!i", len(body) + 4) + body


def parse(name: str, sql: str, types=()) -> bytes:
    return msg(b"P", cstr(name) + cstr(sql) + struct.pack("!h", len(types)) +
               b"".join(struct.pack("!i", t) for t in types))


def bind(portal: str, stmt: str, params=()) -> bytes:
    body = cstr(portal) + cstr(stmt) + struct.pack("!h", 0) + struct.pack("!h", len(params))
    for p in params:
        body += struct.pack("!i", len(p)) + p
    return msg(b"B", body + struct.pack("!h", 0))


def error(code: str, text: str) -> bytes:
    return msg(b"E", b"SFATAL\0VFATAL\0C" + cstr(code) + b"M" + cstr(text) + b"\0")


QUERY = msg(b"Q", cstr("select 1"))
EXTENDED = (parse("s1", "select $1::int", [23]) + bind("", "s1", [b"42"]) +
            msg(b"D", b"P\0") + msg(b"E", b"\0" + struct.pack("!i", 0)) + msg(b"S", b""))
LOGIN_REPLY = (msg(b"R", struct.pack("!i", 0)) + msg(b"S", cstr("client_encoding") + cstr("UTF8")) +
               msg(b"K", struct.pack("!ii", 1234, 5678)) + msg(b"Z", b"I"))
RFC_CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = ("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
RFC_CLIENT_FINAL = ("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
RFC_SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
VERIFIER = ("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
            "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")

SEEDS = {
    "fuzz_frame": {
        "query": b"\x03\x07" + QUERY,
        "extended": b"\x0f\x11" + EXTENDED,
        "login_reply": b"\x05\x02" + LOGIN_REPLY,
        "data_rows": b"\x02\x01" + msg(b"T", b"\0\x01a\0" + b"\0" * 18) +
                     msg(b"D", b"\0\x01\0\0\0\x05hello") + msg(b"C", cstr("SELECT 1")),
        "bad_length": b"\x00\x00" + b"Q" + struct.pack("!i", 2) + b"x",
        "huge_length": b"\x03\x00" + b"Q" + struct.pack("!i", 0x7FFFFFFF) + b"select",
        "negative_length": b"\x03\x00" + b"Q" + struct.pack("!i", -1),
    },
    "fuzz_startup": {
        "libpq": startup({"user": "app", "database": "app", "application_name": "psql",
                          "client_encoding": "UTF8"}),
        "options": startup({"user": "app", "options": "-c search_path=a,b --statement_timeout=5s"}),
        "protocol_3_2": startup({"user": "app", "_pq_.x": "1"}, version=(3 << 16) | 2),
        "protocol_2": startup({"user": "app"}, version=2 << 16),
        "ssl_request": struct.pack("!ii", 8, 80877103),
        "gssenc_request": struct.pack("!ii", 8, 80877104),
        "cancel_request": struct.pack("!iiii", 16, 80877102, 4321, 12345678),
        "cancel_request_long_key": struct.pack("!iii", 44, 80877102, 4321) + bytes(range(32)),
        "quote_in_value": startup({"user": "app", "search_path": "x'; drop table t; --"}),
        "truncated": startup({"user": "app"})[:9],
    },
    "fuzz_messages": {
        "query": b"Q" + cstr("select 1"),
        "parse": b"P" + cstr("s1") + cstr("select $1") + struct.pack("!hi", 1, 23),
        "bind": b"B" + bind("", "s1", [b"42"])[5:],
        "describe": b"D" + b"S" + cstr("s1"),
        "close": b"C" + b"P" + cstr(""),
        "execute": b"E" + cstr("") + struct.pack("!i", 0),
        "sasl_initial": b"p" + cstr("SCRAM-SHA-256") + struct.pack("!i", len(RFC_CLIENT_FIRST)) +
                        RFC_CLIENT_FIRST.encode(),
        "auth_sasl": b"R" + struct.pack("!i", 10) + cstr("SCRAM-SHA-256") + b"\0",
        "ready": b"Z" + b"T",
        "parameter_status": b"S" + cstr("TimeZone") + cstr("UTC"),
        "backend_key": b"K" + struct.pack("!ii", 99, 1234),
        "command_complete": b"C" + cstr("INSERT 0 1"),
        "error": error("28P01", "password authentication failed")[0:1] +
                 error("28P01", "password authentication failed")[5:],
    },
    "fuzz_scram_server": {
        "rfc7677": f"{RFC_CLIENT_FIRST}\n{RFC_CLIENT_FINAL}".encode(),
        "psql": b"n,,n=,r=rOprNGfwEbeRWgbNEkqO\nc=biws,r=x,p=AAAA",
        "cbind_y": f"y,,n=,r=rOprNGfwEbeRWgbNEkqO\n{RFC_CLIENT_FINAL}".encode(),
        "cbind_p": b"p=tls-server-end-point,,n=,r=abc\nc=eSws,r=abc,p=AAAA",
        "extensions": b"n,,m=ext,n=user,r=abc\n",
        "authzid": b"n,a=admin,n=user,r=abc\n",
    },
    "fuzz_scram_client": {
        "rfc7677": f"{RFC_SERVER_FIRST}\n{RFC_SERVER_FINAL}".encode(),
        "server_error": f"{RFC_SERVER_FIRST}\ne=invalid-proof".encode(),
        "low_iterations": b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1\nv=AAAA",
        "extension": f"{RFC_SERVER_FIRST},x=ext\n{RFC_SERVER_FINAL}".encode(),
    },
    "fuzz_scram_verifier": {
        "rfc7677": VERIFIER.encode(),
        "base64": b"W22ZaJ0SNY7soEsUEjb6gQ==",
        "md5": b"md5" + b"0123456789abcdef" * 2,
        "bad_iterations": VERIFIER.replace("4096", "-1").encode(),
    },
    "fuzz_classify": {
        "select": b"select * from t where id = 42",
        "cte_write": b"with x as (insert into t values (1) returning *) select * from x",
        "for_update": b"select * from t for update",
        "begin_ro": b"begin read only; select 1; commit",
        "set": b"set search_path = a, b",
        "set_local": b"set local statement_timeout = '5s'",
        "hint": b"/* pgrelay: route=replica */ select 1",
        "line_hint": b"select 1 -- pgrelay:route=primary\n",
        "strings": b"select E'a\\'b', 'it''s', $tag$ body $tag$, U&'\\0041', $1",
        "nextval": b"select nextval('s')",
        "explain_analyze": b"explain (analyze) delete from t",
        "copy": b"copy (select 1) to stdout",
        "listen": b"listen chan; select pg_advisory_lock(1)",
        "declare": b"declare c cursor with hold for select 1",
        "numbers": b"select 1.5e+10, .5, 0x1F, 1_000",
        "unterminated": b"select 'abc",
    },
    "fuzz_config": {
        "packaged": (REPO / "packaging" / "pgrelay.yaml").read_bytes(),
        "minimal": b"listen: [127.0.0.1:6432]\nauth: {method: trust}\n"
                   b"databases: {app: {primary: 127.0.0.1:5432}}\n",
        "typo": b"listen: [127.0.0.1:6432]\npool: {szie: 3}\n",
        "anchors": b"a: &a {primary: 'x:1'}\ndatabases: {app: *a, b: *a}\n",
    },
    "fuzz_users": {
        "users": b"\x00users:\n  app: {scram: \"" + VERIFIER.encode() + b"\"}\n",
        "plaintext": b"\x00users:\n  app: {password: secret}\n",
        "packaged": b"\x00" + (REPO / "packaging" / "users.yaml").read_bytes(),
        "duration": b"\x01500ms",
        "bytes": b"\x0116MB",
        "endpoint": b"\x02[::1]:6432",
        "unix": b"\x02unix:/tmp/.s.PGSQL.6432",
        "typo": b"\x03szie",
    },
}


def main() -> None:
    for target, seeds in SEEDS.items():
        d = CORPUS / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (d / name).write_bytes(data)


if __name__ == "__main__":
    main()
