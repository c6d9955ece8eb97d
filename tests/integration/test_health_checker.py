"""The health and lag checker against the real cluster, through tests/tools/health_probe: it runs
the checker on a config and prints every published topology as one JSON line."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import HOST, REPO_ROOT, free_port, write_json

PROBE_BIN = Path(os.environ.get("HEALTH_PROBE_BIN",
                                str(REPO_ROOT / "build" / "dev" / "tests" / "tools" / "health_probe")))
INTERVAL = 1.0  # seconds: routing.check_interval below
# Scheduling slack on a loaded CI machine, on top of the intervals the contract allows.
SLACK = 1.0


class Probe:
    def __init__(self, config_path: Path, log_path: Path):
        if not PROBE_BIN.exists():
            pytest.fail(f"health_probe not found at {PROBE_BIN} (build target health_probe, "
                        "or set HEALTH_PROBE_BIN)")
        self.log_file = open(log_path, "wb")
        self.log_path = log_path
        self.proc = subprocess.Popen([str(PROBE_BIN), "--config", str(config_path),
                                      "--seconds", "600"],
                                     stdout=subprocess.PIPE, stderr=self.log_file, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), json.loads(line)))

    def next_where(self, pred, timeout: float, what: str):
        """The first topology (arrival time, topology) satisfying pred within timeout."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"no topology where {what} within {timeout}s; last: {last}\n"
                            f"--- log ---\n{self.log_path.read_text(errors='replace')[-4000:]}")
            try:
                at, topo = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            last = topo
            if pred(topo):
                return at, topo

    def drain(self) -> list:
        out = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.lines.get_nowait())
        return out

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log_file.close()
        return self.proc.returncode


def replica(topo: dict, name: str) -> dict:
    return next(r for r in topo["replicas"] if r["name"] == name)


def config(cluster, dead_port: int) -> dict:
    limits = {"bytes": "1MB", "time": "5s"}
    replicas = [{"name": f"replica-{i}", "address": f"{HOST}:{p}", "roles": ["read"],
                 "max_lag": limits} for i, p in enumerate(cluster.replica_ports, start=1)]
    replicas.append({"name": "replica-dead", "address": f"{HOST}:{dead_port}",
                     "max_lag": limits})
    return {
        "listen": [f"{HOST}:{free_port()}"],
        "auth": {"method": "trust"},
        "log": {"level": "info"},
        "databases": {
            "app": {
                "primary": f"{HOST}:{cluster.primary_port}",
                "replicas": replicas,
                "server_user": "app",
                "server_password": "app",
                "routing": {"check_interval": f"{int(INTERVAL * 1000)}ms"},
            },
        },
    }


@pytest.fixture
def probe(cluster, tmp_path):
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute("create or replace function public.hc_bump() returns int language sql volatile "
                  "as 'select 1'")
        c.execute("drop table if exists hc_burst")
        c.execute("create table hc_burst (id int, pad text)")
    path = tmp_path / "health.yaml"
    write_json(path, config(cluster, free_port()))  # nothing listens on that port
    p = Probe(path, tmp_path / "health_probe.log")
    try:
        yield p
    finally:
        code = p.stop()
        assert code == 0, p.log_path.read_text(errors="replace")[-4000:]
        with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
            c.execute("drop table if exists hc_burst")
            c.execute("drop function if exists public.hc_bump()")


def test_lag_eligibility_and_reachability(cluster, probe):
    # Start: both real replicas eligible with small lag; the closed port is unreachable.
    _, topo = probe.next_where(
        lambda t: replica(t, "replica-1")["eligible"] and replica(t, "replica-2")["eligible"],
        10, "both replicas are eligible")
    assert topo["database"] == "app" and topo["primary_name"] == "primary"
    assert topo["primary"]["reachable"] and not topo["primary"]["in_recovery"]
    assert topo["check_interval_ms"] == 1000
    for name in ("replica-1", "replica-2"):
        r = replica(topo, name)
        assert r["reachable"] and r["in_recovery"]
        assert r["lag_bytes"] < 1 << 20 and r["replay_delay_ms"] < 5000
    dead = replica(topo, "replica-dead")
    assert not dead["reachable"] and not dead["eligible"]
    assert "public.hc_bump" in topo["volatile_functions"]
    assert not any(f.startswith("pg_catalog.") for f in topo["volatile_functions"])

    admin = dict(user="admin", password="admin", dbname="app")
    with psycopg.connect(cluster.replica_dsn(0, **admin), autocommit=True) as r1:
        r1.execute("select pg_wal_replay_pause()")
        try:
            # ~7MB of WAL while replica 1 does not replay.
            with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
                c.execute("insert into hc_burst select g, repeat('x', 100) "
                          "from generate_series(1, 50000) g")
            committed = time.monotonic()
            probe.drain()
            at, topo = probe.next_where(lambda t: not replica(t, "replica-1")["eligible"],
                                        2 * INTERVAL + SLACK + 5, "replica-1 is not eligible")
            assert at - committed <= 2 * INTERVAL + SLACK, "excluded later than two intervals"
            r = replica(topo, "replica-1")
            assert r["reachable"] and r["lag_bytes"] > 1 << 20

            # Replica 2 replays the burst and stays (or is at once again) eligible while
            # replica 1 is paused.
            _, topo = probe.next_where(lambda t: replica(t, "replica-2")["eligible"],
                                       2 * INTERVAL + SLACK, "replica-2 is eligible")
            for _ in range(3):
                _, topo = probe.next_where(lambda t: True, 2 * INTERVAL + SLACK, "any")
                assert replica(topo, "replica-2")["eligible"], topo
                assert not replica(topo, "replica-1")["eligible"], topo
            # The paused replica's delay grows on the checker's clock.
            assert replica(topo, "replica-1")["replay_delay_ms"] >= 1000
        finally:
            r1.execute("select pg_wal_replay_resume()")
        resumed = time.monotonic()

    probe.drain()
    at, topo = probe.next_where(lambda t: replica(t, "replica-1")["eligible"],
                                10, "replica-1 is eligible again")
    assert at - resumed <= 10
    assert replica(topo, "replica-2")["eligible"]
    assert not replica(topo, "replica-dead")["reachable"]

    log = probe.log_path.read_text(errors="replace")
    assert "app/replica-dead" in log and "unreachable" in log
    assert "replica app/replica-1 is not eligible for reads: lag" in log
    assert log.count("replica app/replica-1 is eligible for reads") >= 2  # at start, after resume
