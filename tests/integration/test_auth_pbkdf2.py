"""A server's SCRAM iteration count is paid off the event loop: while pgrelay logs in to roles
whose verifiers take 100,000 PBKDF2 iterations (server_login: fixed with a password), another
client of the same worker keeps getting answers at its usual pace."""

from __future__ import annotations

import hashlib
import threading
import time

import psycopg

from conftest import HOST, scram_verifier
from helpers_auth import metric, roles, with_metrics
from helpers_core import admin

ITERATIONS = 100_000
SLOW = 4


def pbkdf2_seconds() -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        hashlib.pbkdf2_hmac("sha256", b"pw", b"0123456789abcdef", ITERATIONS)
        best = min(best, time.perf_counter() - t0)
    return best


def test_high_iteration_server_login_does_not_stall_the_worker(cluster, pgrelay):
    with roles(cluster, *["LOGIN"] * SLOW) as slow_roles:
        with admin(cluster, "app") as adm:
            for r in slow_roles:
                adm.execute(f"ALTER ROLE {r} PASSWORD '{scram_verifier('slow_pw', iterations=ITERATIONS)}'")
        databases = {f"slow{i}": {"primary": f"{HOST}:{cluster.primary_port}", "server_database": "app",
                                  "server_user": r, "server_password": "slow_pw", "routing": {"enabled": False}}
                     for i, r in enumerate(slow_roles)}
        overrides, http = with_metrics({"workers": 1, "databases": databases})
        relay = pgrelay(overrides)
        cost = pbkdf2_seconds()

        latencies: list[float] = []
        stop = threading.Event()
        with psycopg.connect(relay.dsn(), autocommit=True) as neighbour:
            neighbour.execute("SELECT 1")
            before = metric(http, "pgrelay_scram_pbkdf2_total")

            def loop():
                while not stop.is_set():
                    t0 = time.perf_counter()
                    neighbour.execute("SELECT 1")
                    latencies.append(time.perf_counter() - t0)

            t = threading.Thread(target=loop)
            t.start()
            try:
                for name in databases:
                    with psycopg.connect(relay.dsn(dbname=name), autocommit=True) as c:
                        assert c.execute("SELECT current_user").fetchone()[0] in slow_roles
            finally:
                stop.set()
                t.join(10)
        # Each first login to a slow role ran one PBKDF2 of ITERATIONS, on the blocking pool.
        assert metric(http, "pgrelay_scram_pbkdf2_total") - before == SLOW
        assert len(latencies) > 20, latencies
        stalled = [x for x in latencies if x > 0.75 * cost]
        # On the loop, each login would have held the neighbour for one whole PBKDF2 (`cost`).
        assert len(stalled) <= 1, (cost, sorted(latencies)[-5:])
