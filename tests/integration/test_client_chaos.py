"""Dozens of raw-protocol clients through a pool of 2 in transaction mode, each doing at random:
small and >1 MiB queries, transactions, COPY in (good and failing, with the next CopyData frame
cut in half when the error comes) and COPY out, cancels at random moments, disconnects in the
middle of a frame or of a transaction, and SETs read back later. Every answer carries a marker
unique to its client and request, and is checked. At the end: no answer reached the wrong
client, nothing hung, and the pool is back to its size.

The seed is printed on failure; replay a run with CHAOS_SEED=<seed>. CHAOS_REQUESTS sets the
number of requests (default 10,000)."""

from __future__ import annotations

import os
import random
import struct
import threading
import time

import psycopg

from conftest import dsn
from helpers_core import (RawClient, cancel_request, message, parse_error, primary_app, raw_socket,
                          unique, wait_for)

CLIENTS = 24
REQUESTS = int(os.environ.get("CHAOS_REQUESTS", "10000"))
READ_TIMEOUT = 30.0  # an answer later than this is a hang
BIG = 1_200_000      # bytes of filler in a big query: over 1 MiB


class Wrong(AssertionError):
    """An answer that was not this client's own."""


def rows_of(msgs):
    out = []
    for tag, body in msgs:
        if tag == b"D":
            n = struct.unpack("!i", body[2:6])[0]
            out.append(body[6:6 + n].decode() if n >= 0 else None)
    return out


def errors_of(msgs):
    return [parse_error(b) for t, b in msgs if t == b"E"]


class ChaosClient:
    def __init__(self, port: int, table: str, cid: int, rng: random.Random, stats: dict, lock):
        self.port, self.table, self.cid, self.rng = port, table, cid, rng
        self.stats, self.lock = stats, lock
        self.seq = 0
        self.rc: RawClient | None = None
        self.my_setting: str | None = None

    def marker(self) -> str:
        self.seq += 1
        return f"c{self.cid}r{self.seq}"

    def count(self, what: str) -> None:
        with self.lock:
            self.stats[what] = self.stats.get(what, 0) + 1

    def conn(self) -> RawClient:
        if self.rc is None:
            self.rc = RawClient(self.port, timeout=READ_TIMEOUT)
            self.my_setting = None
        return self.rc

    def drop(self) -> None:
        if self.rc is not None:
            self.rc.close()
            self.rc = None

    def until_ready(self):
        out = []
        while True:
            m = self.rc.read(READ_TIMEOUT)
            if m is None:
                raise TimeoutError(f"client {self.cid}: no ReadyForQuery within {READ_TIMEOUT}s: {out[:4]}")
            out.append(m)
            if m[0] == b"Z":
                return out

    def query(self, sql: str):
        self.conn().send(message(b"Q", sql.encode() + b"\0"))
        return self.until_ready()

    def expect_marker(self, msgs, mark: str) -> None:
        errs = errors_of(msgs)
        if errs:
            raise Wrong(f"client {self.cid}: expected {mark}, got errors {errs}")
        got = rows_of(msgs)
        if got != [mark]:
            raise Wrong(f"client {self.cid}: expected [{mark!r}], got {got[:3]}")

    # -- actions ---------------------------------------------------------------------------
    def small(self) -> None:
        m = self.marker()
        self.expect_marker(self.query(f"SELECT '{m}'"), m)

    def big(self) -> None:
        m = self.marker()
        sql = f"SELECT '{m}' WHERE length('{'x' * BIG}') = {BIG}"
        self.expect_marker(self.query(sql), m)

    def transaction(self) -> None:
        m = self.marker()
        self.query("BEGIN")
        self.expect_marker(self.query(f"SELECT '{m}'"), m)
        self.query(self.rng.choice(["COMMIT", "ROLLBACK"]))

    def set_and_show(self) -> None:
        self.conn()  # a new connection starts with no setting of this client's
        if self.my_setting is not None and self.rng.random() < 0.5:
            got = rows_of(self.query("SHOW application_name"))
            if got != [self.my_setting]:
                raise Wrong(f"client {self.cid}: application_name {got} instead of {self.my_setting}")
            return
        m = self.marker()
        self.query(f"SET application_name = '{m}'")
        self.my_setting = m

    def copy_in(self, fail: bool) -> None:
        m = self.marker()
        rc = self.conn()
        rc.send(message(b"Q", f"COPY {self.table} (tag, v) FROM STDIN (FORMAT csv)".encode() + b"\0"))
        g = rc.read(READ_TIMEOUT)
        if g is None or g[0] != b"G":
            raise Wrong(f"client {self.cid}: expected CopyInResponse, got {g!r}")
        rows = self.rng.randint(1, 200)
        good = message(b"d", f"{m},1\n".encode() * rows)
        if not fail:
            rc.send(good + message(b"c"))
            msgs = self.until_ready()
            if errors_of(msgs):
                raise Wrong(f"client {self.cid}: COPY failed: {errors_of(msgs)}")
            got = rows_of(self.query(f"SELECT count(*)::text FROM {self.table} WHERE tag = '{m}'"))
            if got != [str(rows)]:
                raise Wrong(f"client {self.cid}: {got} rows of {m} instead of {rows}")
            return
        bad = message(b"d", f"{m},-1\n".encode())
        half = len(good) // 2
        rc.send(bad + good[:half])
        msgs = self.until_ready()
        errs = errors_of(msgs)
        if not errs or errs[0].get("C") != "23514":
            raise Wrong(f"client {self.cid}: expected 23514, got {errs} {msgs[:3]}")
        rc.send(good[half:] + good + message(b"c"))
        self.small()

    def copy_out(self) -> None:
        m = self.marker()
        msgs = self.query(f"COPY (SELECT '{m}') TO STDOUT")
        data = [b for t, b in msgs if t == b"d"]
        if data != [f"{m}\n".encode()] or errors_of(msgs):
            raise Wrong(f"client {self.cid}: COPY OUT gave {data} {errors_of(msgs)} instead of {m}")

    def cancel(self) -> None:
        m = self.marker()
        rc = self.conn()
        rc.send(message(b"Q", f"SELECT '{m}' FROM pg_sleep({self.rng.uniform(0.005, 0.05):.3f})".encode() + b"\0"))
        time.sleep(self.rng.uniform(0, 0.06))
        pid, key = rc.backend_key
        with raw_socket(self.port) as s:
            s.sendall(cancel_request(pid, key))
            s.settimeout(5)
            try:
                s.recv(1)
            except OSError:
                pass
        msgs = self.until_ready()
        errs = errors_of(msgs)
        if errs:
            if errs[0].get("C") != "57014":
                raise Wrong(f"client {self.cid}: cancel gave {errs}")
            self.count("outcome:cancelled")
        else:
            self.expect_marker(msgs, m)

    def leave_mid_frame(self) -> None:
        m = self.marker()
        frame = message(b"Q", f"SELECT '{m}'".encode() + b"\0")
        self.conn().send(frame[: self.rng.randint(1, len(frame) - 1)])
        self.drop()

    def leave_mid_transaction(self) -> None:
        self.query("BEGIN")
        self.query(f"INSERT INTO {self.table} (tag, v) VALUES ('{self.marker()}', 1)")
        self.drop()

    ACTIONS = [(small, 50), (big, 1), (transaction, 10), (set_and_show, 8), (copy_in, 6), (copy_out, 5),
               (cancel, 6), (leave_mid_frame, 3), (leave_mid_transaction, 3)]

    def step(self) -> None:
        funcs = [a for a, _ in self.ACTIONS]
        weights = [w for _, w in self.ACTIONS]
        action = self.rng.choices(funcs, weights)[0]
        if action is ChaosClient.copy_in:
            fail = self.rng.random() < 0.5
            self.copy_in(fail)
            self.count("copy_in_fail" if fail else "copy_in")
        else:
            action(self)
            self.count(action.__name__)


def test_client_chaos(cluster, pgrelay):
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 30)))
    table = unique("chaos")
    with primary_app(cluster) as c:
        c.execute(f"CREATE TABLE {table} (tag text, v int CHECK (v > 0))")
    relay = pgrelay({"pool": {"size": 2, "wait_timeout": "60s"}})
    per_client = REQUESTS // CLIENTS
    stats: dict[str, int] = {}
    lock = threading.Lock()
    failures: list[str] = []

    def run(cid: int) -> None:
        client = ChaosClient(relay.port, table, cid, random.Random(seed * 1000 + cid), stats, lock)
        try:
            for _ in range(per_client):
                client.step()
        except BaseException as e:  # noqa: BLE001
            failures.append(f"{type(e).__name__}: {e}")
        finally:
            client.drop()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, 900 - (time.monotonic() - started)))
    hung = sum(t.is_alive() for t in threads)
    done = sum(n for what, n in stats.items() if not what.startswith("outcome:"))
    assert not failures and not hung, (
        f"seed {seed}: {len(failures)} failures, {hung} clients hung, {done} requests done; "
        f"first: {failures[:3]}; pgrelay log tail:\n{relay.log()[-3000:]}")
    assert done == per_client * CLIENTS, f"seed {seed}: {done} requests of {per_client * CLIENTS}"
    with psycopg.connect(dsn(relay.port, user="admin", password="admin", dbname="pgrelay"),
                         autocommit=True, prepare_threshold=None) as console:
        def servers():
            cur = console.execute("SHOW SERVERS")
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]
        # Servers closed after a client vanished mid-frame are replaced on demand: at most the
        # pool's size, and none still lent to anyone.
        assert wait_for(lambda: all(s["state"] == "idle" for s in servers()), 30), servers()
        assert len(servers()) <= 2, servers()
    print(f"chaos seed {seed}: {stats}")
