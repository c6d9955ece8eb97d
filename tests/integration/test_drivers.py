"""Issue 3, "transaction mode without surprises": the driver matrix.

Every mainstream driver in its DEFAULT configuration, through pgrelay in transaction mode with a
pool much smaller than the number of concurrent clients, asserting real results. Most of these
drivers use protocol-level named prepared statements by default (or after a few executions), so a
statement prepared on one server connection must keep working when the client's next
transaction is served by another one:

- pgbench -M prepared (tpcb-like and -S select-only), pool size 3, 10 clients;
- psycopg 3 (prepare_threshold=5 by default): threads x iterations of one parameterized query in
  separate transactions, pipeline mode with prepare=True, and explicit prepare=True;
- asyncpg (Debian's python3-asyncpg; its statement cache is on by default, so every query is a
  named statement): tasks x fetchval across transactions, conn.prepare() reuse, executemany;
- node-postgres named statements (`{name, text, values}`) from a pg.Pool: node/prepared.test.js;
- postgres.js (prepare: true by default): node/postgresjs.test.js;
- pgJDBC (Debian's /usr/share/java/postgresql.jar, prepareThreshold=5): java/DriverTest.java,
  compiled at test time.

psql and node-postgres basics are covered in test_core_basics.py / test_node_driver.py.
Every scenario is bounded in time (subprocess timeouts, thread deadlines, asyncio.wait_for).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import HOST
from helpers_core import connect, primary_app, require_driver, run_threads, unique

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
JAVA_SRC = HERE / "java" / "DriverTest.java"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")

POOL_SIZE = 3           # server connections per pool; every scenario runs more clients than this
PGBENCH_SECONDS = 5
SCENARIO_TIMEOUT = 60   # seconds: the bound for any one scenario's clients
NPM_CI_TIMEOUT = 300


def small_pool(pgrelay, size: int = POOL_SIZE):
    return pgrelay({"pool": {"mode": "transaction", "size": size}})


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(extra)
    return env


def first_errors(errors: list[BaseException], n: int = 3) -> str:
    """The distinct first lines of the first few errors' messages, for assertion messages."""
    seen: list[str] = []
    for e in errors:
        lines = str(e).strip().splitlines()
        s = f"{type(e).__name__}: {lines[0] if lines else ''}"
        if s not in seen:
            seen.append(s)
        if len(seen) >= n:
            break
    return "\n".join(seen)


def check_threads(relay, results, errors, alive, total: int, what: str) -> None:
    assert alive == 0, f"{what}: {alive} of {total} workers still running after " \
                       f"{SCENARIO_TIMEOUT}s; errors so far:\n{first_errors(errors)}"
    assert not errors, f"{what}: {len(errors)} of {total} workers failed; first errors:\n" \
                       f"{first_errors(errors)}"
    assert len(results) == total
    assert relay.alive(), f"pgrelay exited during {what}:\n{relay.log()[-3000:]}"


# ------------------------------------------------------------------------------------------
# pgbench -M prepared


@pytest.fixture(scope="module")
def pgbench_initialised(cluster):
    """pgbench's tables at scale 1, created directly on the primary."""
    r = subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", HOST, "-p", str(cluster.primary_port),
                        "-U", "app", "app"], capture_output=True, text=True, timeout=120,
                       env=clean_env(PGPASSWORD="app"))
    assert r.returncode == 0, f"pgbench -i failed:\n{r.stdout}\n{r.stderr}"
    return True


@pytest.mark.parametrize("select_only", [False, True], ids=["tpcb-like", "select-only"])
def test_pgbench_prepared(pgrelay, pgbench_initialised, select_only):
    relay = small_pool(pgrelay)
    cmd = ["pgbench", "-h", HOST, "-p", str(relay.port), "-U", "app", "-M", "prepared",
           "-c", "10", "-j", "2", "-T", str(PGBENCH_SECONDS), *(["-S"] if select_only else []), "app"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=PGBENCH_SECONDS + 45,
                       env=clean_env(PGPASSWORD="app"))
    out = r.stdout + r.stderr
    errors = [l for l in out.splitlines() if "error" in l.lower() or "aborted" in l.lower()]
    assert r.returncode == 0, f"{' '.join(cmd)} exited {r.returncode}; first errors:\n" \
                              + "\n".join(errors[:5]) + f"\n--- output ---\n{out[-3000:]}"
    assert not errors, "\n".join(errors[:10])
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    assert m and int(m.group(1)) > 0, out
    m = re.search(r"number of failed transactions: (\d+)", out)
    assert m is None or int(m.group(1)) == 0, out
    tps = re.findall(r"tps = ([0-9.]+)", out)
    assert tps and float(tps[-1]) > 0, out
    assert relay.alive(), relay.log()[-3000:]


# ------------------------------------------------------------------------------------------
# psycopg 3, default prepare_threshold (5)


def test_psycopg_default_prepare_threshold(pgrelay):
    """15 threads x 30 iterations of one parameterized query, each in its own transaction: from
    the 6th execution on psycopg runs it as a named prepared statement (_pg3_N)."""
    relay = small_pool(pgrelay)
    threads, iterations = 15, 30

    def worker(t: int):
        with connect(relay.dsn(), autocommit=True, prepare_threshold="default") as conn:
            assert conn.prepare_threshold == 5
            with conn.cursor() as cur:
                for i in range(iterations):
                    arg = t * 1000 + i
                    with conn.transaction():
                        cur.execute("select %s::int + 1", (arg,))
                        got = cur.fetchone()
                    assert got == (arg + 1,), f"thread {t} iteration {i}: {got!r}"
        return t

    results, errors, alive = run_threads([lambda t=t: worker(t) for t in range(threads)],
                                         timeout=SCENARIO_TIMEOUT, name="psycopg")
    check_threads(relay, results, errors, alive, threads, "psycopg default prepare_threshold")


def test_psycopg_pipeline_prepared(pgrelay):
    """Pipeline mode: each pipeline is one transaction with several prepare=True statements; the
    statements are prepared in the first pipeline and reused by the later ones."""
    relay = small_pool(pgrelay)
    threads, pipelines = 10, 15

    def worker(t: int):
        with connect(relay.dsn(), autocommit=True, prepare_threshold="default") as conn:
            for p in range(pipelines):
                arg = t * 1000 + p
                with conn.pipeline():
                    with conn.transaction():
                        c1 = conn.execute("select %s::int * 3", (arg,), prepare=True)
                        c2 = conn.execute("select %s::text || '-' || %s::text", (t, p), prepare=True)
                        c3 = conn.execute("select txid_current()", prepare=True)
                        c4 = conn.execute("select txid_current()", prepare=True)
                got = (c1.fetchone(), c2.fetchone())
                assert got == ((arg * 3,), (f"{t}-{p}",)), f"thread {t} pipeline {p}: {got!r}"
                assert c3.fetchone() == c4.fetchone(), f"thread {t} pipeline {p}: two transactions"
        return t

    results, errors, alive = run_threads([lambda t=t: worker(t) for t in range(threads)],
                                         timeout=SCENARIO_TIMEOUT, name="psycopg-pipeline")
    check_threads(relay, results, errors, alive, threads, "psycopg pipeline prepare=True")


def test_psycopg_explicit_prepare(pgrelay):
    """cur.execute(..., prepare=True): named from the first execution; alternates autocommit
    statements and explicit transactions."""
    relay = small_pool(pgrelay)
    threads, iterations = 12, 20

    def worker(t: int):
        with connect(relay.dsn(), autocommit=True, prepare_threshold="default") as conn:
            with conn.cursor() as cur:
                for i in range(iterations):
                    arg = t * 1000 + i
                    if i % 2:
                        with conn.transaction():
                            cur.execute("select %s::int - 1, %s::text", (arg, "tx"), prepare=True)
                            got = cur.fetchone()
                    else:
                        cur.execute("select %s::int - 1, %s::text", (arg, "ac"), prepare=True)
                        got = cur.fetchone()
                    want = (arg - 1, "tx" if i % 2 else "ac")
                    assert got == want, f"thread {t} iteration {i}: {got!r} != {want!r}"
        return t

    results, errors, alive = run_threads([lambda t=t: worker(t) for t in range(threads)],
                                         timeout=SCENARIO_TIMEOUT, name="psycopg-prepare")
    check_threads(relay, results, errors, alive, threads, "psycopg prepare=True")


# ------------------------------------------------------------------------------------------
# asyncpg, default configuration (statement cache on: every query is a named statement)


def _asyncpg():
    try:
        import asyncpg  # Debian's python3-asyncpg, for /usr/bin/python3
    except ImportError:
        require_driver(False, "asyncpg is not importable by this interpreter: install python3-asyncpg "
                              "(scripts/install-deps.sh) and run pytest with /usr/bin/python3")
    return asyncpg


def run_async(coro, timeout: float = SCENARIO_TIMEOUT):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def test_asyncpg_default(pgrelay, cluster):
    asyncpg = _asyncpg()
    relay = small_pool(pgrelay)
    tasks, iterations = 10, 30
    table = unique("drivers_asyncpg")
    with primary_app(cluster) as c:
        c.execute(f"create table {table} (task int not null, i int not null, primary key (task, i))")

    async def connect_():
        return await asyncpg.connect(host=HOST, port=relay.port, user="app", password="app",
                                     database="app", timeout=10)

    async def fetchval_task(t: int):
        conn = await connect_()
        try:
            for i in range(iterations):
                arg = t * 1000 + i
                if i % 2:
                    async with conn.transaction():
                        got = await conn.fetchval("select $1::int * 2", arg)
                else:
                    got = await conn.fetchval("select $1::int * 2", arg)
                assert got == arg * 2, f"task {t} iteration {i}: {got!r}"
        finally:
            await conn.close(timeout=5)
        return t

    async def prepare_task(t: int):
        conn = await connect_()
        try:
            stmt = await conn.prepare("select $1::int + $2::int")
            for i in range(20):
                if i % 2:
                    async with conn.transaction():
                        got = await stmt.fetchval(t, i)
                else:
                    got = await stmt.fetchval(t, i)
                assert got == t + i, f"prepare task {t} iteration {i}: {got!r}"
        finally:
            await conn.close(timeout=5)
        return t

    async def executemany_task(t: int):
        conn = await connect_()
        try:
            async with conn.transaction():
                await conn.executemany(f"insert into {table} (task, i) values ($1, $2)",
                                       [(t, i) for i in range(25)])
                n = await conn.fetchval(f"select count(*) from {table} where task = $1", t)
                assert n == 25, f"executemany task {t}: {n} rows inside the transaction"
            n = await conn.fetchval(f"select sum(i) from {table} where task = $1", t)
            assert n == sum(range(25)), f"executemany task {t}: sum {n!r} after commit"
        finally:
            await conn.close(timeout=5)
        return t

    async def scenario(make, n):
        return await asyncio.gather(*(make(t) for t in range(n)), return_exceptions=True)

    failures = {}
    try:
        for name, make, n in (("fetchval across transactions", fetchval_task, tasks),
                              ("conn.prepare() reuse", prepare_task, 6),
                              ("executemany in a transaction", executemany_task, 6)):
            try:
                out = run_async(scenario(make, n))
            except asyncio.TimeoutError:
                failures[name] = f"timed out after {SCENARIO_TIMEOUT}s"
                continue
            errs = [e for e in out if isinstance(e, BaseException)]
            if errs:
                failures[name] = f"{len(errs)} of {n} tasks failed; first errors:\n{first_errors(errs)}"
    finally:
        with primary_app(cluster) as c:
            c.execute(f"drop table if exists {table}")
    assert not failures, "asyncpg:\n" + "\n".join(f"- {k}: {v}" for k, v in failures.items())
    assert relay.alive(), relay.log()[-3000:]


# ------------------------------------------------------------------------------------------
# node: node-postgres named statements, postgres.js


@pytest.fixture(scope="module")
def node_modules():
    require_driver(shutil.which("node") is not None,
                   "`node` is not installed: node driver tests skipped (run scripts/install-deps.sh)")
    need = [NODE_DIR / "node_modules" / pkg / "package.json" for pkg in ("pg", "postgres")]
    if not all(p.exists() for p in need):
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("node_modules incomplete and `npm` not found: run `npm ci` in tests/integration/node")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                           capture_output=True, text=True, timeout=NPM_CI_TIMEOUT)
        assert r.returncode == 0, f"npm ci failed:\n{r.stdout}\n{r.stderr}"
    return NODE_DIR / "node_modules"


def run_node_file(relay, script: str, expect_pass: int) -> str:
    env = clean_env(PGRELAY_HOST=HOST, PGRELAY_PORT=str(relay.port), PGRELAY_USER="app",
                    PGRELAY_PASSWORD="app", PGRELAY_DATABASE="app")
    r = subprocess.run(["node", "--test", script], cwd=NODE_DIR, env=env, capture_output=True,
                       text=True, timeout=SCENARIO_TIMEOUT + 30)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"node --test {script} failed (exit {r.returncode}):\n{out[-6000:]}"
    assert "# fail 0" in out and f"# pass {expect_pass}" in out, out
    assert relay.alive(), relay.log()[-3000:]
    return out


def test_node_pg_named_statements(pgrelay, node_modules):
    """pg.Pool of 10 clients over a pool of 3 server connections: 200 queries of one named
    statement, then named statements inside explicit transactions."""
    relay = small_pool(pgrelay)
    run_node_file(relay, "prepared.test.js", expect_pass=2)


def test_postgresjs_default(pgrelay, node_modules):
    """postgres.js defaults (10 connections, prepare: true) over a pool of 3."""
    relay = small_pool(pgrelay)
    run_node_file(relay, "postgresjs.test.js", expect_pass=2)


# ------------------------------------------------------------------------------------------
# pgJDBC, default properties (prepareThreshold=5)


def test_jdbc_default(pgrelay, tmp_path):
    javac, java = shutil.which("javac"), shutil.which("java")
    require_driver(javac is not None and java is not None,
                   "javac/java not found: JDBC test skipped (install default-jdk-headless, see scripts/install-deps.sh)")
    require_driver(JDBC_JAR.exists(), f"{JDBC_JAR} not found: JDBC test skipped (install libpostgresql-jdbc-java, "
                                      "see scripts/install-deps.sh)")
    out_dir = tmp_path / "classes"
    out_dir.mkdir()
    r = subprocess.run([javac, "-d", str(out_dir), "-cp", str(JDBC_JAR), str(JAVA_SRC)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"javac failed:\n{r.stdout}\n{r.stderr}"

    relay = small_pool(pgrelay)
    threads, iterations = 8, 50
    r = subprocess.run([java, "-cp", f"{out_dir}{os.pathsep}{JDBC_JAR}", "DriverTest",
                        HOST, str(relay.port), "app", "app", "app", str(threads), str(iterations)],
                       capture_output=True, text=True, timeout=SCENARIO_TIMEOUT + 30,
                       env=clean_env())
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"JDBC DriverTest exited {r.returncode}:\n{out[-6000:]}"
    assert "OK" in r.stdout.splitlines(), out
    assert relay.alive(), relay.log()[-3000:]
