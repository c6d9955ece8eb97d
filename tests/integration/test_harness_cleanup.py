"""A test or benchmark run stopped with SIGTERM (`timeout`, a CI runner) stops the cluster it
started: pg_ctl starts Postgres detached, so nothing else would."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, _read_env

PROBE_ENV = "PGRELAY_SIGTERM_PROBE"  # set for the child pytest only: where to write DATA_ROOT


def processes_mentioning(text):
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{d.name}: {cmd}")
    return found


def wait_for_marker(path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def assert_sigterm_stops_cluster(proc, data_root):
    assert processes_mentioning(data_root), "the child's cluster is not running before the signal"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=90)
    left = processes_mentioning(data_root)
    assert not left, "processes of the stopped run's cluster are still running:\n" + "\n".join(left) + "\n" + out
    assert not Path(data_root).exists(), f"{data_root} was not removed:\n{out}"


def run_child(cmd, **env):
    return subprocess.Popen(cmd, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.skipif(PROBE_ENV not in os.environ, reason="runs inside test_pytest_stopped_by_sigterm_stops_its_cluster")
def test_probe_holds_the_cluster(cluster):
    Path(os.environ[PROBE_ENV]).write_text(cluster.env["DATA_ROOT"])
    time.sleep(120)


def test_pytest_stopped_by_sigterm_stops_its_cluster(tmp_path):
    marker = tmp_path / "data_root"
    proc = run_child([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'child'}",
                      f"{__file__}::test_probe_holds_the_cluster"],
                     **{PROBE_ENV: str(marker), "PGCLUSTER_REPLICAS": "1"})
    try:
        assert wait_for_marker(marker, proc), f"the child pytest did not start its cluster:\n{proc.communicate()[0]}"
        assert_sigterm_stops_cluster(proc, marker.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_benchmark_stopped_by_sigterm_stops_its_cluster(tmp_path):
    marker = tmp_path / "work"
    script = ("import sys, time\n"
              "sys.path.insert(0, 'bench')\n"
              "from benchlib import bench_cluster\n"
              "with bench_cluster(0, 1) as (work, _, _):\n"
              "    open(sys.argv[1], 'w').write(str(work))\n"
              "    time.sleep(120)\n")
    proc = run_child([sys.executable, "-c", script, str(marker)])
    try:
        assert wait_for_marker(marker, proc), f"the benchmark did not start its cluster:\n{proc.communicate()[0]}"
        data_root = _read_env(Path(marker.read_text()) / "cluster" / "cluster.env")["DATA_ROOT"]
        assert_sigterm_stops_cluster(proc, data_root)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
