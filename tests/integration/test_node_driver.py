"""node-postgres (`pg`) in its default configuration: tests/integration/node/basic.test.js, run with
`node --test` against Postgres directly (baseline) and through pgrelay in transaction mode."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers_core import require_driver

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_TEST_TIMEOUT = 300  # seconds
NPM_CI_TIMEOUT = 300

@pytest.fixture(scope="module")
def node_modules():
    """The pinned `pg` from package-lock.json (scripts/test.sh runs `npm ci` beforehand)."""
    require_driver(shutil.which("node") is not None,
                   "`node` is not installed: node-postgres driver tests skipped (run scripts/install-deps.sh)")
    if not (NODE_DIR / "node_modules" / "pg" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("node_modules missing and `npm` not found: run `npm ci` in tests/integration/node")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=NPM_CI_TIMEOUT)
        assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"
    return NODE_DIR / "node_modules"


def run_node_tests(port, host="127.0.0.1", user="app", password="app", database="app"):
    env = {
        **os.environ,
        "PGRELAY_HOST": host,
        "PGRELAY_PORT": str(port),
        "PGRELAY_USER": user,
        "PGRELAY_PASSWORD": password,
        "PGRELAY_DATABASE": database,
    }
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"):
        env.pop(var, None)
    r = subprocess.run(["node", "--test", "basic.test.js"], cwd=NODE_DIR, env=env,
                       capture_output=True, text=True, timeout=NODE_TEST_TIMEOUT)
    output = r.stdout + r.stderr
    assert r.returncode == 0, f"node --test failed (exit {r.returncode}):\n{output}"
    assert "# fail 0" in output and "# pass 5" in output, output


def test_node_pg_direct_to_primary(cluster, node_modules):
    """Baseline: the same script straight against the primary, so a failure through pgrelay is
    pgrelay's, not the script's."""
    run_node_tests(cluster.primary_port)


def test_node_pg_through_pgrelay(cluster, node_modules, pgrelay):
    relay = pgrelay({"pool": {"size": 20}})
    run_node_tests(relay.port)
    assert relay.alive(), f"pgrelay exited during the node tests:\n{relay.log()}"
