"""What the pgbench benchmarks share: a throwaway cluster initialised for pgbench, and a pgrelay
started on it from a config dict. Both stop and clean up by themselves."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from conftest import free_port, scram_verifier, wait_for_port  # noqa: E402

PGCLUSTER = REPO / "tests" / "cluster" / "pgcluster"
PGENV = {**os.environ, "PGPASSWORD": "app"}


@contextlib.contextmanager
def bench_cluster(replicas, scale):
    """Yields (workdir, primary port, replica ports) of a fresh cluster after `pgbench -i -s scale`."""
    work = Path(tempfile.mkdtemp(prefix="pgrelay-bench-"))
    cdir = work / "cluster"
    subprocess.run([str(PGCLUSTER), "start", str(cdir), "--replicas", str(replicas)], check=True,
                   stdout=subprocess.DEVNULL)
    try:
        env = dict(l.split("=", 1) for l in (cdir / "cluster.env").read_text().split() if "=" in l)
        primary = int(env["PRIMARY_PORT"])
        replica_ports = [int(env[f"REPLICA{i}_PORT"]) for i in range(1, int(env.get("REPLICA_COUNT", "0")) + 1)]
        subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), "-h", "127.0.0.1", "-p", str(primary), "-U",
                        "app", "app"], check=True, capture_output=True, env=PGENV)
        yield work, primary, replica_ports
    finally:
        subprocess.run([str(PGCLUSTER), "stop", str(cdir)], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


def pgrelay_binary():
    """$PGRELAY_BIN, else the release build, else the dev build."""
    binary = os.environ.get("PGRELAY_BIN", str(REPO / "build/release/proxy/pgrelay"))
    return binary if Path(binary).exists() else str(REPO / "build/dev/proxy/pgrelay")


@contextlib.contextmanager
def running_pgrelay(work, config):
    """Starts pgrelay with `config` (a dict; "listen" is filled in) and user app/app; yields
    (process, port, binary)."""
    port = free_port()
    (work / "users.json").write_text(json.dumps({"users": {"app": {"scram": scram_verifier("app")}}}))
    (work / "pgrelay.json").write_text(json.dumps({
        "listen": [f"127.0.0.1:{port}"],
        "auth": {"method": "scram-sha-256", "users_file": "users.json"},
        "log": {"level": "warn"}, **config}))
    binary = pgrelay_binary()
    relay = subprocess.Popen([binary, str(work / "pgrelay.json")], stdout=subprocess.DEVNULL,
                             stderr=open(work / "pgrelay.log", "w"))
    try:
        if not wait_for_port(port, 10, alive=lambda: relay.poll() is None):
            raise RuntimeError(f"pgrelay did not start:\n{(work / 'pgrelay.log').read_text()[-3000:]}")
        yield relay, port, binary
    finally:
        relay.send_signal(signal.SIGTERM)
        try:
            relay.wait(timeout=15)
        except subprocess.TimeoutExpired:
            relay.kill()
            relay.wait()
