"""Fixtures for pgrelay's integration tests.

Run with Debian's interpreter (it has psycopg 3 and pytest):
    /usr/bin/python3 -m pytest -q tests/integration

- ``cluster`` (session): a real PostgreSQL 15 primary + 2 streaming replicas started by
  tests/cluster/pgcluster on free loopback ports, always stopped at the end.
- ``dsn(port, user='app', password='app', dbname='app')``: a libpq connection string.
- ``scram_verifier(password)``: a Postgres-format SCRAM-SHA-256 verifier for the users file.
- ``pgrelay``: a factory; ``pgrelay()`` or ``pgrelay(overrides={...})`` writes a config + users file,
  starts the binary (env PGRELAY_BIN, default build/dev/proxy/pgrelay under the repo root), waits for
  its port and returns a handle with .port/.config_path/.log_path/.proc; every instance is stopped
  (SIGTERM, then SIGKILL after a timeout, by PID) when the test ends.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Shared with bench/ (which must not import this conftest): connection strings, ports, verifiers.
sys.path.insert(0, str(REPO_ROOT / "tests" / "tools"))
from pgnet import HOST, dsn, free_port, scram_verifier, wait_for_port  # noqa: E402,F401
PGCLUSTER = REPO_ROOT / "tests" / "cluster" / "pgcluster"
DEFAULT_PGRELAY_BIN = REPO_ROOT / "build" / "dev" / "proxy" / "pgrelay"

CLUSTER_START_TIMEOUT = 180  # seconds
CLUSTER_STOP_TIMEOUT = 120
PGRELAY_READY_TIMEOUT = float(os.environ.get("PGRELAY_READY_TIMEOUT", "10"))
PGRELAY_STOP_TIMEOUT = float(os.environ.get("PGRELAY_STOP_TIMEOUT", "15"))

# An ASan/UBSan build of pgrelay reports here; any report fails the test that started it.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")

# Users the proxy knows (client side). The same names/passwords exist on the cluster.
DEFAULT_USERS = {"app": "app", "admin": "admin"}


# --------------------------------------------------------------------------------------------
def deep_merge(base: dict, over: dict) -> dict:
    """Returns base updated recursively by over; a None value in over deletes the key."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"<cannot read {path}: {e}>"


# --------------------------------------------------------------------------------------------
# cluster


@dataclasses.dataclass
class Cluster:
    dir: Path
    env: dict[str, str]

    @property
    def host(self) -> str:
        return self.env.get("PGHOST", HOST)

    @property
    def primary_port(self) -> int:
        return int(self.env["PRIMARY_PORT"])

    @property
    def replica_ports(self) -> list[int]:
        n = int(self.env.get("REPLICA_COUNT", "0"))
        return [int(self.env[f"REPLICA{i}_PORT"]) for i in range(1, n + 1)]

    @property
    def socket_dir(self) -> str:
        return self.env["SOCKET_DIR"]

    def primary_dsn(self, **kw: Any) -> str:
        return dsn(self.primary_port, **kw)

    def replica_dsn(self, index: int = 0, **kw: Any) -> str:
        return dsn(self.replica_ports[index], **kw)

    def status(self) -> str:
        r = subprocess.run([str(PGCLUSTER), "status", str(self.dir)], capture_output=True,
                           text=True, timeout=60)
        return r.stdout + r.stderr


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def _stop_cluster(cdir: Path) -> None:
    try:
        r = subprocess.run([str(PGCLUSTER), "stop", str(cdir)], capture_output=True, text=True,
                           timeout=CLUSTER_STOP_TIMEOUT)
        if r.returncode != 0:
            print(f"pgcluster stop failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    except subprocess.TimeoutExpired:
        print(f"pgcluster stop timed out after {CLUSTER_STOP_TIMEOUT}s")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A primary + 2 replicas for the whole session (set PGCLUSTER_REPLICAS to change N)."""
    cdir = tmp_path_factory.mktemp("cluster")
    replicas = os.environ.get("PGCLUSTER_REPLICAS", "2")
    t0 = time.monotonic()
    try:
        r = subprocess.run([str(PGCLUSTER), "start", str(cdir), "--replicas", replicas],
                           capture_output=True, text=True, timeout=CLUSTER_START_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        _stop_cluster(cdir)
        pytest.fail(f"pgcluster start timed out after {CLUSTER_START_TIMEOUT}s:\n{e.stderr}")
    if r.returncode != 0:
        _stop_cluster(cdir)
        pytest.fail(f"pgcluster start failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    print(f"\ncluster started in {time.monotonic() - t0:.2f}s")
    try:
        yield Cluster(dir=cdir, env=_read_env(cdir / "cluster.env"))
    finally:
        _stop_cluster(cdir)


# --------------------------------------------------------------------------------------------
# pgrelay


def pgrelay_bin() -> Path:
    p = Path(os.environ.get("PGRELAY_BIN", str(DEFAULT_PGRELAY_BIN)))
    return p if p.is_absolute() else REPO_ROOT / p


def base_config(cl: Cluster, port: int, unix_dir: str | None) -> dict:
    listen = [f"{HOST}:{port}"]
    if unix_dir:
        listen.append(f"unix:{unix_dir}/.s.PGSQL.{port}")
    replicas = [
        {"name": f"replica-{i}", "address": f"{HOST}:{p}", "roles": ["read"]}
        for i, p in enumerate(cl.replica_ports, start=1)
    ]
    return {
        "listen": listen,
        "workers": 1,
        "auth": {"method": "scram-sha-256", "users_file": "users.yaml", "admin_users": ["admin"]},
        "log": {"format": "text", "level": "info"},
        # Below the harness's SIGTERM→SIGKILL grace, so a busy client cannot turn a stop into a kill.
        "shutdown_timeout": "5s",
        "pool": {
            "mode": "transaction",
            "size": 20,
            "min_idle": 0,
            "max_clients": 10000,
            "connect_timeout": "5s",
            "wait_timeout": "10s",
            "query_timeout": 0,
            "idle_in_transaction_timeout": 0,
        },
        "databases": {
            "app": {
                "primary": f"{HOST}:{cl.primary_port}",
                "replicas": replicas,
                "server_user": "app",
                "server_password": "app",
                # Pooling tests look at one server per pool; test_routing.py turns routing on.
                "routing": {"enabled": False},
            },
        },
    }


@dataclasses.dataclass
class PgRelay:
    port: int
    dir: Path
    config_path: Path
    users_path: Path
    log_path: Path
    proc: subprocess.Popen
    unix_dir: str | None
    config: dict
    _log_file: Any = None

    def dsn(self, user: str = "app", password: str = "app", dbname: str = "app", **kw: Any) -> str:
        return dsn(self.port, user=user, password=password, dbname=dbname, **kw)

    def unix_dsn(self, user: str = "app", password: str = "app", dbname: str = "app",
                 **kw: Any) -> str:
        assert self.unix_dir, "this instance has no unix listener"
        return dsn(self.port, user=user, password=password, dbname=dbname, host=self.unix_dir, **kw)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def reload(self, overrides: dict | None = None) -> None:
        """Rewrites the config (merged with overrides) and sends SIGHUP."""
        if overrides:
            self.config = deep_merge(self.config, overrides)
            write_json(self.config_path, self.config)
        self.signal(signal.SIGHUP)

    def stop(self, timeout: float = PGRELAY_STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                print(f"pgrelay pid {self.proc.pid} ignored SIGTERM for {timeout}s; SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self.unix_dir:
            shutil.rmtree(self.unix_dir, ignore_errors=True)
        return self.proc.returncode


def write_json(path: Path, data: Any) -> None:
    """JSON is valid YAML: the config and users files are written as JSON."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def start_pgrelay(cl: Cluster, workdir: Path, overrides: dict | None = None,
                  users: dict[str, str] | None = None, unix_socket: bool = True,
                  extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                  wait: bool = True) -> PgRelay:
    """Writes config.yaml + users.yaml into workdir and starts pgrelay on a free port."""
    binary = pgrelay_bin()
    if not binary.exists():
        pytest.fail(f"pgrelay binary not found at {binary} (build it, or set PGRELAY_BIN)")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # Unix socket paths are limited to ~107 bytes: keep the directory short, under /tmp.
    unix_dir = tempfile.mkdtemp(prefix="pgr.", dir="/tmp") if unix_socket else None
    config = deep_merge(base_config(cl, port, unix_dir), overrides or {})
    # If the overrides replaced `listen`, follow them: the first TCP entry is the port to wait on.
    tcp = [l for l in config.get("listen", []) if not str(l).startswith("unix:")]
    if tcp:
        port = int(str(tcp[0]).rsplit(":", 1)[1])
    unix = [l for l in config.get("listen", []) if str(l).startswith("unix:")]
    if unix_dir and not any(str(l).startswith(f"unix:{unix_dir}/") for l in unix):
        shutil.rmtree(unix_dir, ignore_errors=True)
        unix_dir = None
    config_path = workdir / "config.yaml"
    users_path = workdir / config["auth"].get("users_file", "users.yaml")
    write_json(config_path, config)
    all_users = dict(DEFAULT_USERS)
    all_users.update(users or {})
    write_json(users_path, {"users": {name: {"scram": scram_verifier(pw)}
                                      for name, pw in all_users.items()}})
    users_path.chmod(0o600)  # verifiers are secrets: pgrelay warns about a file others can read
    log_path = workdir / "pgrelay.log"
    log_file = open(log_path, "ab")
    cmd = [str(binary), "--config", str(config_path), *(extra_args or [])]
    proc = subprocess.Popen(cmd, cwd=str(workdir), stdout=log_file, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    relay = PgRelay(port=port, dir=workdir, config_path=config_path, users_path=users_path,
                    log_path=log_path, proc=proc, unix_dir=unix_dir, config=config,
                    _log_file=log_file)
    if wait and not wait_for_port(port, PGRELAY_READY_TIMEOUT, alive=relay.alive):
        code = relay.stop(timeout=5)
        pytest.fail(f"pgrelay did not accept connections on {HOST}:{port} within "
                    f"{PGRELAY_READY_TIMEOUT}s (exit code {code}); command: {' '.join(cmd)}\n"
                    f"--- {log_path} (tail) ---\n{tail(log_path)}")
    return relay


@pytest.fixture
def pgrelay(cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest
            ) -> Iterator[Callable[..., PgRelay]]:
    """Factory: pgrelay(overrides=None, users=None, unix_socket=True, extra_args=None, env=None).
    `overrides` is merged into the config (e.g. {"pool": {"size": 2}} or
    {"databases": {"other": {...}}}); a None value deletes a key. `users` adds name → password
    pairs to the users file (app/app and admin/admin are always there)."""
    started: list[PgRelay] = []

    def factory(overrides: dict | None = None, **kw: Any) -> PgRelay:
        relay = start_pgrelay(cluster, tmp_path / f"pgrelay{len(started)}", overrides, **kw)
        started.append(relay)
        return relay

    try:
        yield factory
    finally:
        failed = getattr(request.node, "rep_call", None)
        sanitizer_reports = []
        for relay in started:
            code = relay.stop()
            if failed is not None and failed.failed:
                print(f"--- pgrelay log {relay.log_path} (exit {code}) ---\n{tail(relay.log_path)}")
            text = relay.log()
            if any(marker in text for marker in SANITIZER_MARKERS):
                sanitizer_reports.append(f"--- {relay.log_path} (exit {code}) ---\n{tail(relay.log_path, 120)}")
        if sanitizer_reports:
            pytest.fail("sanitizer report in pgrelay's output:\n" + "\n".join(sanitizer_reports))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    # Makes the test outcome visible to fixtures (request.node.rep_call), to dump logs on failure.
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _interrupt_on_sigterm(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # `timeout` and CI runners stop the suite with SIGTERM, which ends Python without tearing down
    # fixtures: the cluster, started detached by pg_ctl, would keep running. Ctrl-C's path tears
    # everything down.
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
