"""The primary restarted (crash-stopped with -m immediate, then started) under write load, on a
cluster of its own: while it is down every write fails with a clear error within the connect
timeout (no hang, no silent success); once it is back pgrelay serves again within one check
interval without being restarted; and every commit a writer saw acknowledged is on the primary.
The cluster is --durable (fsync and synchronous_commit on): a crash must not lose what Postgres
acknowledged, so anything missing would be pgrelay's doing."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psycopg

from conftest import HOST, PGCLUSTER, Cluster, _read_env, _stop_cluster, start_pgrelay
from helpers_core import wait_for, wait_log, wait_state

CHECK_INTERVAL = 1.0   # seconds, routing.check_interval
CONNECT_TIMEOUT = 2.0  # seconds, pool.connect_timeout
SLACK = 1.5            # scheduling slack on a shared 2-core machine
WRITERS = 4
ACKS_EACH = 10         # commits each writer sees acknowledged before the stop, and again after
# What a client may see while the primary is away: the server's own goodbye (57P01 admin
# shutdown, 57P02 crash shutdown, 57P03 starting up) or pgrelay's connection failure (08xxx).
CLEAR_STATES = {"57P01", "57P02", "57P03", "08000", "08001", "08003", "08006"}


def pg_ctl(cl: Cluster, *args: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", f"{cl.env['PGBIN']}/pg_ctl", *args],
                   check=True, capture_output=True, timeout=120, cwd="/")


class Writer(threading.Thread):
    """Inserts (writer, seq) rows in autocommit; remembers every acknowledged seq and every error
    with its SQLSTATE and how long the failed attempt took."""

    def __init__(self, dsn: str, ident: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.dsn, self.writer_id, self.stop_event = dsn, ident, stop
        self.acked: list[int] = []
        self.errors: list[tuple[float, str | None, str, float]] = []  # (at, sqlstate, text, took)
        self.successes: list[float] = []  # monotonic times of acknowledged commits
        self.connects = 0

    def run(self) -> None:
        conn = None
        seq = 0
        while not self.stop_event.is_set():
            seq += 1
            t0 = time.monotonic()
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.dsn, autocommit=True, prepare_threshold=None)
                    self.connects += 1
                conn.execute("INSERT INTO restart_log (writer, seq) VALUES (%s, %s)", (self.writer_id, seq))
                self.acked.append(seq)
                self.successes.append(time.monotonic())
            except psycopg.Error as e:
                state = getattr(getattr(e, "diag", None), "sqlstate", None)
                self.errors.append((time.monotonic(), state, str(e).strip(), time.monotonic() - t0))
                if conn is not None and conn.broken:
                    conn.close()
                    conn = None
                time.sleep(0.05)  # the load's own pace after a failure, not a wait
        if conn is not None:
            conn.close()


def test_primary_restart_under_write_load(tmp_path):
    cdir = tmp_path / "own-cluster"
    subprocess.run([str(PGCLUSTER), "start", str(cdir), "--replicas", "1", "--durable"], check=True,
                   capture_output=True, timeout=180)
    relay = None
    stop = threading.Event()
    writers: list[Writer] = []
    cl = Cluster(dir=cdir, env=_read_env(cdir / "cluster.env"))
    primary_dir = Path(cl.env["DATA_ROOT"]) / "primary"
    primary_down = False
    try:
        with psycopg.connect(cl.primary_dsn(), autocommit=True) as c:
            c.execute("CREATE TABLE restart_log (writer int, seq int, PRIMARY KEY (writer, seq))")
        relay = start_pgrelay(cl, tmp_path / "relay", overrides={
            "pool": {"size": 4, "connect_timeout": f"{int(CONNECT_TIMEOUT)}s", "wait_timeout": "5s"},
            "databases": {"app": {"routing": {"enabled": True, "check_interval": "1s"}}},
        })
        writers = [Writer(relay.dsn(), i, stop) for i in range(WRITERS)]
        for w in writers:
            w.start()
        wait_state(lambda: [len(w.acked) for w in writers], lambda n: min(n) >= ACKS_EACH, 30,
                   f"every writer getting {ACKS_EACH} commits acknowledged before the stop")

        down_at = time.monotonic()
        pg_ctl(cl, "stop", "-D", str(primary_dir), "-m", "immediate")
        primary_down = True
        # Down until pgrelay's health checker and every writer have seen it so.
        wait_log(relay, f"health: app/primary at {HOST}:{cl.primary_port} is unreachable",
                 timeout=CHECK_INTERVAL + 10)
        wait_state(lambda: [sum(1 for e in w.errors if e[0] >= down_at) for w in writers],
                   lambda n: min(n) >= 1, CONNECT_TIMEOUT + 10, "failed writes per writer while down")
        pg_ctl(cl, "start", "-D", str(primary_dir), "-l", str(primary_dir.parent / "primary.log"),
               "-w", "-t", "60")
        primary_down = False
        up_at = time.monotonic()

        # Serving again: the first acknowledged write of each writer after the primary is back.
        wait_for(lambda: all(any(t > up_at for t in w.successes) for w in writers), 30)
        first_back = [min((t for t in w.successes if t > up_at), default=None) for w in writers]
        if all(t is not None for t in first_back):  # else the assertion below says what happened
            wait_state(lambda: [sum(1 for t in w.successes if t > up_at) for w in writers],
                       lambda n: min(n) >= ACKS_EACH, 30, "commits acknowledged per writer after the restart")
        stop.set()
        for w in writers:
            w.join(timeout=30)

        assert all(t is not None for t in first_back), (
            f"a writer never succeeded again: {first_back}; back at {up_at:.2f}, now {time.monotonic():.2f}, "
            f"last successes {[w.successes[-2:] for w in writers]}, last errors "
            f"{[[(round(e[0], 2), e[1], e[2][:80]) for e in w.errors[-2:]] for w in writers]}")
        recovery = max(first_back) - up_at
        assert recovery <= CHECK_INTERVAL + SLACK, f"serving again took {recovery:.2f}s"

        outage_errors = [e for w in writers for e in w.errors if e[0] >= down_at]
        assert outage_errors, "no writer noticed the primary was down"
        # A write in flight when the primary died ends its session with pgrelay's FATAL "server
        # connection lost" (libpq reports no SQLSTATE for a FATAL that closes); every other
        # failure is an ERROR with a SQLSTATE, and that client's connection stays usable.
        unclear = [e for e in outage_errors if e[1] not in CLEAR_STATES and
                   "server connection lost" not in e[2]]
        assert not unclear, f"unclear errors while the primary was down: {unclear[:3]}"
        reconnects = sum(w.connects - 1 for w in writers)
        assert reconnects <= WRITERS, f"{reconnects} reconnects: refused requests should not end sessions"
        slow = [e for e in outage_errors if e[3] > CONNECT_TIMEOUT + 5.0 + SLACK]  # + wait_timeout
        assert not slow, f"a failed write took too long (a hang): {slow[:3]}"
        # pgrelay was never restarted
        assert relay.alive()

        with psycopg.connect(cl.primary_dsn(), autocommit=True) as c:
            stored = set(c.execute("SELECT writer, seq FROM restart_log").fetchall())
        acked = {(w.writer_id, s) for w in writers for s in w.acked}
        lost = acked - stored
        assert not lost, f"{len(lost)} acknowledged commits are missing, e.g. {sorted(lost)[:5]}"
        assert len(acked) > 50
        states = sorted({str(e[1]) for e in outage_errors})
        print(f"\nprimary restart: {len(acked)} acknowledged commits, all on the primary; "
              f"{reconnects} reconnects; "
              f"{len(outage_errors)} failed writes while down (SQLSTATEs {states}, slowest "
              f"{max(e[3] for e in outage_errors):.2f}s); serving again {recovery:.2f}s after it was up; "
              f"e.g. {sorted({e[2][:150] for e in outage_errors})[:4]}")
    finally:
        stop.set()
        for w in writers:
            w.join(timeout=30)
        if primary_down:
            subprocess.run(["runuser", "-u", "postgres", "--", f"{cl.env['PGBIN']}/pg_ctl", "start",
                            "-D", str(primary_dir), "-w", "-t", "60"], capture_output=True, timeout=90,
                           cwd="/")
        if relay:
            relay.stop()
        _stop_cluster(cdir)
