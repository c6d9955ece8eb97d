#!/usr/bin/python3
"""Opens N client connections to a Postgres-protocol server, completes each login (SCRAM-SHA-256 or
trust) and then holds them idle: what a proxy's memory per idle client is measured with.

Prints one line `ready OK FAILED SECONDS` once every login has finished (or failed), then keeps the
connections open until stdin is closed or --hold seconds have passed, whichever comes first, and
exits (it always stops by itself). The salted password is computed once per salt, so 10,000 logins
cost HMACs, not 10,000 PBKDF2 runs.

With --query each client runs `SELECT 1` once before it idles (a client that was active, as an
app's pooled connection is).

With --driver-startup each client sends the startup parameters pgJDBC sends (JDBC_STARTUP).

Usage: bench/idle_clients.py --port P [--clients 10000] [--concurrency 200] [--hold 120]
                             [--user app --password app --database app] [--query] [--driver-startup]
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import resource
import struct
import sys
import time

_salted = {}


def _salted_password(password, salt, iterations):
    key = (password, salt, iterations)
    if key not in _salted:
        _salted[key] = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return _salted[key]


def _frame(tag, body):
    return tag + struct.pack("!i", len(body) + 4) + body


async def _read(reader):
    head = await reader.readexactly(5)
    length = struct.unpack("!i", head[1:])[0]
    return head[:1], await reader.readexactly(length - 4)


async def _auth(reader, expect):
    tag, body = await _read(reader)
    if tag != b"R" or struct.unpack("!i", body[:4])[0] != expect:
        raise ConnectionError(f"expected authentication {expect}, got {tag!r} {body[:120]!r}")
    return body[4:]


# The startup parameters pgJDBC 42 sends with every connection (--driver-startup): what an app's
# pooled connection brings besides its user and database.
JDBC_STARTUP = {"client_encoding": "UTF8", "DateStyle": "ISO", "TimeZone": "UTC", "extra_float_digits": "2",
                "application_name": "PostgreSQL JDBC Driver"}


async def login(port, user, password, database, startup=None):
    """One connection through to ReadyForQuery; returns its (reader, writer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{k}\0{v}\0" for k, v in (startup or {}).items())
    params = f"user\0{user}\0database\0{database}\0{extra}\0".encode()
    writer.write(struct.pack("!ii", len(params) + 8, 196608) + params)
    tag, body = await _read(reader)
    if tag != b"R":
        raise ConnectionError(f"login refused: {body[:200]!r}")
    code = struct.unpack("!i", body[:4])[0]
    if code == 10:
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={nonce}"
        first = ("n,," + first_bare).encode()
        writer.write(_frame(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
        server_first = (await _auth(reader, 11)).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        salted = _salted_password(password, base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(hashlib.sha256(client_key).digest(), auth_message, hashlib.sha256).digest()
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
        writer.write(_frame(b"p", f"{without_proof},p={proof}".encode()))
        await _auth(reader, 12)
        await _auth(reader, 0)
    elif code != 0:
        raise ConnectionError(f"unsupported authentication request {code}")
    while True:
        tag, body = await _read(reader)
        if tag == b"Z":
            return reader, writer
        if tag == b"E":
            raise ConnectionError(f"login failed: {body[:200]!r}")


async def query_once(reader, writer):
    """SELECT 1, read through its ReadyForQuery: a client that has been active before it idles."""
    writer.write(_frame(b"Q", b"SELECT 1\0"))
    while True:
        tag, body = await _read(reader)
        if tag == b"Z":
            return
        if tag == b"E":
            raise ConnectionError(f"query failed: {body[:200]!r}")


async def open_idle(port, clients, concurrency, user, password, database, query=False, startup=None):
    """Opens `clients` logged-in connections, at most `concurrency` logins at a time (each runs
    one query first with `query`). Returns the open writers and the number of failures."""
    gate = asyncio.Semaphore(concurrency)
    writers, failed = [], 0

    async def one():
        nonlocal failed
        async with gate:
            try:
                r, w = await asyncio.wait_for(login(port, user, password, database, startup), 60)
                if query:
                    await asyncio.wait_for(query_once(r, w), 60)
                writers.append(w)
            except (OSError, ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                failed += 1

    await asyncio.gather(*(one() for _ in range(clients)))
    return writers, failed


async def main_async(args):
    t0 = time.monotonic()
    writers, failed = await open_idle(args.port, args.clients, args.concurrency, args.user, args.password,
                                      args.database, args.query, JDBC_STARTUP if args.driver_startup else None)
    print(f"ready {len(writers)} {failed} {time.monotonic() - t0:.1f}", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    try:
        await asyncio.wait_for(stdin_closed, args.hold)
    except asyncio.TimeoutError:
        pass
    for w in writers:
        w.write(_frame(b"X", b""))
        w.close()
    await asyncio.sleep(0.2)
    sys.stdout.flush()
    os._exit(0)  # the stdin reader thread may still block: do not wait for it


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--hold", type=float, default=120, help="seconds to hold the connections at most")
    ap.add_argument("--user", default="app")
    ap.add_argument("--password", default="app")
    ap.add_argument("--database", default="app")
    ap.add_argument("--query", action="store_true", help="each client runs SELECT 1 once before idling")
    ap.add_argument("--driver-startup", action="store_true",
                    help="each client sends the startup parameters pgJDBC sends (client_encoding, DateStyle, ...)")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.clients + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard > 0 else want, hard))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
