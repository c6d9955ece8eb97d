"""Core claims, the basics: psql (TCP, unix socket, -f scripts, \\copy), pgbench (simple and
extended protocol), psycopg features in transaction mode, startup parameters carried to the
server (and isolated between clients sharing servers), and BackendKeyData."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess

import psycopg
import pytest
from psycopg import errors

from conftest import HOST
from helpers_core import (Background, admin, connect, pool_backends, primary_app, unique,
                          wait_for, wait_no_app_backends)

SUBPROCESS_TIMEOUT = 60
SESSION_APP = {"databases": {"app": {"users": {"app": {"pool": {"mode": "session"}}}}}}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    env.update(extra)
    return env


def psql(args: list[str], password: str = "app", input: str | None = None,
         timeout: float = SUBPROCESS_TIMEOUT, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(["psql", "-X", "-v", "ON_ERROR_STOP=1", *args], input=input,
                          capture_output=True, text=True, timeout=timeout,
                          env=clean_env(PGPASSWORD=password), cwd=cwd)


@pytest.fixture
def table(cluster):
    """A fresh table (id int, note text) created directly on the primary; dropped afterwards."""
    name = unique("core_t")
    with primary_app(cluster) as c:
        c.execute(f"CREATE TABLE {name} (id int, note text)")
    yield name
    with primary_app(cluster) as c:
        c.execute(f"DROP TABLE IF EXISTS {name}")


def primary_count(cluster, table: str, where: str = "true") -> int:
    with primary_app(cluster) as c:
        return c.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]


# ------------------------------------------------------------------------------------------
# 1. psql


def test_psql_select_over_tcp(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    r = psql([f"postgresql://app:app@127.0.0.1:{relay.port}/app", "-A", "-t", "-c", "select 1"])
    assert r.returncode == 0, f"psql failed ({r.returncode}): {r.stderr}"
    assert r.stdout.strip() == "1"


def test_psql_select_over_unix_socket(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    assert relay.unix_dir
    r = psql(["-h", relay.unix_dir, "-p", str(relay.port), "-U", "app", "-d", "app", "-A", "-t",
              "-c", "select 41 + 1"])
    assert r.returncode == 0, f"psql over the unix socket failed ({r.returncode}): {r.stderr}"
    assert r.stdout.strip() == "42"
    # psycopg over the same socket too.
    with connect(relay.unix_dsn()) as c:
        assert c.execute("select current_user").fetchone()[0] == "app"


def test_psql_script_file(pgrelay, cluster, tmp_path, table):
    relay = pgrelay({"pool": {"size": 2}})
    script = tmp_path / "script.sql"
    script.write_text(f"""
BEGIN;
INSERT INTO {table} VALUES (1, 'one');
INSERT INTO {table} VALUES (2, 'two');
SELECT count(*) AS in_tx FROM {table};
COMMIT;
SELECT 'multi' AS a; SELECT 'statement' AS b;
INSERT INTO {table} SELECT g, 'gen' FROM generate_series(3, 100) g;
\\echo done-echo
SELECT 'sum=' || sum(id) FROM {table};
""")
    r = psql([f"postgresql://app:app@127.0.0.1:{relay.port}/app", "-A", "-t", "-f", str(script)])
    assert r.returncode == 0, f"psql -f failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    out = r.stdout.split()
    assert "2" in out and "multi" in out and "statement" in out and "done-echo" in out, r.stdout
    assert f"sum={sum(range(1, 101))}" in out, r.stdout
    assert primary_count(cluster, table) == 100


def test_psql_copy_in_and_out(pgrelay, cluster, tmp_path, table):
    relay = pgrelay({"pool": {"size": 2}})
    n = 5000
    src = tmp_path / "in.csv"
    src.write_text("".join(f"{i},\"row {i} with, comma\"\n" for i in range(n)))
    url = f"postgresql://app:app@127.0.0.1:{relay.port}/app"
    r = psql([url, "-c", f"\\copy {table} from '{src}' with (format csv)"])
    assert r.returncode == 0, f"\\copy in failed ({r.returncode}): {r.stderr}"
    assert "COPY 5000" in r.stdout, r.stdout
    assert primary_count(cluster, table) == n

    dst = tmp_path / "out.csv"
    r = psql([url, "-c", f"\\copy (select * from {table} order by id) to '{dst}' with (format csv)"])
    assert r.returncode == 0, f"\\copy out failed ({r.returncode}): {r.stderr}"
    assert "COPY 5000" in r.stdout, r.stdout
    assert dst.read_text() == src.read_text()

    # COPY ... TO STDOUT straight to psql's stdout.
    r = psql([url, "-c", f"copy (select id from {table} order by id) to stdout"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(i) for i in range(n)]

    # A failing COPY FROM (bad data) reports the error and leaves the connection usable.
    bad = tmp_path / "bad.csv"
    bad.write_text("1,ok\nnot-a-number,bad\n")
    r = psql([url, "-v", "ON_ERROR_STOP=0", "-c", f"\\copy {table} from '{bad}' with (format csv)",
              "-c", "select 'after-error'"])
    assert "invalid input syntax for type integer" in r.stderr, r.stderr
    assert "after-error" in r.stdout, (r.stdout, r.stderr)
    assert primary_count(cluster, table) == n


# ------------------------------------------------------------------------------------------
# 2. pgbench


@pytest.fixture(scope="module")
def pgbench_initialised(cluster):
    r = subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", HOST, "-p", str(cluster.primary_port),
                        "-U", "app", "app"], capture_output=True, text=True, timeout=120,
                       env=clean_env(PGPASSWORD="app"))
    assert r.returncode == 0, f"pgbench -i failed:\n{r.stdout}\n{r.stderr}"
    return True


@pytest.mark.parametrize("protocol", ["simple", "extended"])
def test_pgbench(pgrelay, cluster, pgbench_initialised, protocol):
    relay = pgrelay({"pool": {"size": 4, "mode": "transaction"}})
    r = subprocess.run(["pgbench", "-h", HOST, "-p", str(relay.port), "-U", "app", "-M", protocol,
                        "-c", "8", "-j", "2", "-T", "5", "app"], capture_output=True, text=True,
                       timeout=90, env=clean_env(PGPASSWORD="app"))
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"pgbench -M {protocol} exited {r.returncode}:\n{out}\n" \
                              f"--- pgrelay log ---\n{relay.log()[-3000:]}"
    assert "error" not in out.lower(), out
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    assert m and int(m.group(1)) > 0, out
    m = re.search(r"number of failed transactions: (\d+)", out)
    assert m is None or int(m.group(1)) == 0, out
    assert relay.alive()


# ------------------------------------------------------------------------------------------
# 3. psycopg


def test_psycopg_queries_and_parameters(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    with connect(relay.dsn()) as c:
        assert c.execute("select 1").fetchone() == (1,)
        assert c.execute("select %s::int + %s::int", (40, 2)).fetchone() == (42,)
        row = c.execute("select %s, %s, %s, %s, %s::numeric, %s::jsonb",
                        ("héllo ☃", None, b"\x00\x01\xff", True, "12.50", '{"a": [1, 2]}')).fetchone()
        assert row[0] == "héllo ☃" and row[1] is None and bytes(row[2]) == b"\x00\x01\xff"
        assert row[3] is True and str(row[4]) == "12.50" and row[5] == {"a": [1, 2]}
        rows = c.execute("select g, 'x' || g from generate_series(1, 1000) g").fetchall()
        assert len(rows) == 1000 and rows[-1] == (1000, "x1000")
        # Same statement many times (unnamed statements only, prepare_threshold=None).
        for i in range(30):
            assert c.execute("select %s::int * 2", (i,)).fetchone()[0] == i * 2
        # Empty query and a statement without result rows.
        c.execute("")
        c.execute("set local statement_timeout = 0")


def test_psycopg_commit_and_rollback(pgrelay, cluster, table):
    relay = pgrelay({"pool": {"size": 2}})
    with connect(relay.dsn(), autocommit=False) as c:
        c.execute(f"insert into {table} values (1, 'committed')")
        c.execute(f"insert into {table} values (2, 'committed')")
        assert c.execute(f"select count(*) from {table}").fetchone()[0] == 2
        c.commit()
        c.execute(f"insert into {table} values (3, 'rolled back')")
        assert c.execute(f"select count(*) from {table}").fetchone()[0] == 3
        c.rollback()
        assert c.execute(f"select count(*) from {table}").fetchone()[0] == 2
        c.commit()
    with connect(relay.dsn()) as c:
        with c.transaction():
            c.execute(f"insert into {table} values (4, 'ctx')")
        with pytest.raises(RuntimeError):
            with c.transaction():
                c.execute(f"insert into {table} values (5, 'ctx rollback')")
                raise RuntimeError("roll back")
        # Savepoints (nested transactions).
        with c.transaction():
            c.execute(f"insert into {table} values (6, 'outer')")
            with pytest.raises(errors.UniqueViolation):
                with c.transaction():
                    c.execute("create temp table sp_check (i int primary key)")
                    c.execute("insert into sp_check values (1), (1)")
            c.execute(f"insert into {table} values (7, 'after savepoint')")
    with primary_app(cluster) as p:
        ids = [r[0] for r in p.execute(f"select id from {table} order by id")]
    assert ids == [1, 2, 4, 6, 7]


def test_psycopg_error_then_working_query(pgrelay):
    relay = pgrelay({"pool": {"size": 1}})
    with connect(relay.dsn()) as c:
        with pytest.raises(errors.DivisionByZero) as ei:
            c.execute("select 1/0")
        assert ei.value.sqlstate == "22012"
        assert c.execute("select 'still works'").fetchone()[0] == "still works"
        # Error in the extended protocol (with parameters) and a syntax error.
        with pytest.raises(errors.DivisionByZero):
            c.execute("select %s::int / 0", (5,))
        with pytest.raises(errors.SyntaxError) as ei:
            c.execute("selec 1")
        assert ei.value.sqlstate == "42601"
        assert c.execute("select %s::int", (7,)).fetchone()[0] == 7
    # Error inside an explicit transaction: the transaction is aborted, rollback, continue.
    with connect(relay.dsn(), autocommit=False) as c:
        c.execute("select 1")
        with pytest.raises(errors.DivisionByZero):
            c.execute("select 1/0")
        with pytest.raises(errors.InFailedSqlTransaction):
            c.execute("select 1")
        c.rollback()
        assert c.execute("select 2").fetchone()[0] == 2
        c.commit()


def test_psycopg_notice_relayed(pgrelay):
    relay = pgrelay({"pool": {"size": 1}})
    notices = []
    with connect(relay.dsn()) as c:
        c.add_notice_handler(lambda d: notices.append((d.severity_nonlocalized, d.sqlstate,
                                                       d.message_primary)))
        c.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
        c.execute("DO $$ BEGIN RAISE WARNING 'careful'; END $$")
        assert c.execute("select 1").fetchone()[0] == 1
    assert ("NOTICE", "00000", "hello 42") in notices, notices
    assert ("WARNING", "01000", "careful") in notices, notices


def test_psycopg_copy_in_and_out(pgrelay, cluster, table):
    relay = pgrelay({"pool": {"size": 2}})
    n = 5000
    with connect(relay.dsn()) as c:
        with c.cursor() as cur:
            with cur.copy(f"COPY {table} (id, note) FROM STDIN") as cp:
                for i in range(n):
                    cp.write_row((i, f"note\t{i}\n"))
            assert cur.rowcount == n
        assert c.execute(f"select count(*) from {table}").fetchone()[0] == n
        got = []
        with c.cursor() as cur:
            with cur.copy(f"COPY (select id, note from {table} order by id) TO STDOUT") as cp:
                for row in cp.rows():
                    got.append(row)
        assert len(got) == n
        assert got[10] == ("10", "note\t10\n")
        # Binary COPY in a transaction, then rolled back.
        with c.transaction(force_rollback=True):
            with c.cursor() as cur:
                with cur.copy(f"COPY {table} (id, note) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["int4", "text"])
                    for i in range(100):
                        cp.write_row((n + i, "bin"))
            assert c.execute(f"select count(*) from {table}").fetchone()[0] == n + 100
        # COPY error (bad column) leaves the connection usable.
        with pytest.raises(errors.UndefinedColumn):
            with c.cursor() as cur:
                with cur.copy(f"COPY {table} (nope) FROM STDIN") as cp:
                    cp.write_row((1,))
        assert c.execute("select 1").fetchone()[0] == 1
    assert primary_count(cluster, table) == n


def test_psycopg_large_values(pgrelay, cluster, table):
    relay = pgrelay({"pool": {"size": 2}})
    big = ("0123456789abcdef" * (10 * 1024 * 1024 // 16))  # 10 MiB
    digest = hashlib.md5(big.encode()).hexdigest()
    with connect(relay.dsn()) as c:
        assert c.execute("select %s::text", (big,)).fetchone()[0] == big
        assert c.execute("select length(repeat('x', 10 * 1024 * 1024))").fetchone()[0] == 10485760
        value = c.execute("select repeat('y', 10 * 1024 * 1024)").fetchone()[0]
        assert len(value) == 10485760 and set(value) == {"y"}
        c.execute(f"insert into {table} values (1, %s)", (big,))
        assert c.execute(f"select md5(note) from {table} where id = 1").fetchone()[0] == digest
        assert c.execute("select 'after big'").fetchone()[0] == "after big"
    with primary_app(cluster) as p:
        assert p.execute(f"select md5(note) from {table}").fetchone()[0] == digest


def test_psycopg_many_columns(pgrelay):
    relay = pgrelay({"pool": {"size": 1}})
    ncols = 1000
    sql = "select " + ", ".join(f"{i} as c{i}" for i in range(ncols))
    with connect(relay.dsn()) as c:
        cur = c.execute(sql)
        row = cur.fetchone()
        assert len(row) == ncols and row[999] == 999
        assert [d.name for d in cur.description][:3] == ["c0", "c1", "c2"]
        params_sql = "select " + ", ".join(["%s::int"] * 500)
        assert c.execute(params_sql, list(range(500))).fetchone() == tuple(range(500))


def test_psycopg_pipeline(pgrelay, cluster, table):
    """Pipeline mode: many Parse/Bind/Execute before a Sync, in transaction mode."""
    relay = pgrelay({"pool": {"size": 2}})
    with connect(relay.dsn()) as c:
        with c.pipeline():
            for i in range(50):
                c.execute(f"insert into {table} values (%s, 'pipe')", (i,))
            cur = c.execute(f"select count(*) from {table}")
        assert cur.fetchone()[0] == 50
        with c.pipeline():
            with c.transaction():
                c.execute(f"insert into {table} values (%s, 'pipe-tx')", (1000,))
        assert c.execute("select 1").fetchone()[0] == 1
    assert primary_count(cluster, table) == 51


def test_psycopg_pipeline_with_error(pgrelay, cluster, table):
    """An error in the middle of a pipeline: the server skips to Sync; the client gets the
    error, the rest is discarded, and the connection (and the pool's only server) keep working."""
    relay = pgrelay({"pool": {"size": 1}})
    with connect(relay.dsn()) as c, connect(relay.dsn()) as other:
        with pytest.raises(errors.DivisionByZero):
            with c.pipeline():
                c.execute(f"insert into {table} values (%s, 'before')", (1,))
                c.execute("select 1/0")
                c.execute(f"insert into {table} values (%s, 'after')", (2,))
        assert c.execute("select 'ok'").fetchone()[0] == "ok"
        assert other.execute("select 'other ok'").fetchone()[0] == "other ok"
        # In autocommit each statement before the error was its own implicit transaction
        # up to the Sync: Postgres treats the whole pipeline up to Sync as one transaction.
        with primary_app(cluster) as p:
            direct = p.execute(f"select count(*) from {table}").fetchone()[0]
        assert c.execute(f"select count(*) from {table}").fetchone()[0] == direct


# ------------------------------------------------------------------------------------------
# 6. startup parameters


def test_startup_statement_timeout_option(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    with connect(relay.dsn(options="-c statement_timeout=1234")) as c:
        for _ in range(5):
            assert c.execute("show statement_timeout").fetchone()[0] == "1234ms"


def test_startup_application_name(pgrelay, cluster):
    wait_no_app_backends(cluster)
    relay = pgrelay({"pool": {"size": 2}})
    with connect(relay.dsn(application_name="myapp")) as c:
        assert c.execute("show application_name").fetchone()[0] == "myapp"
        assert c.info.parameter_status("application_name") == "myapp"
        bg = Background(lambda: c.execute("select pg_sleep(1.5), 'core_app_probe'").fetchone())
        with admin(cluster) as adm:
            seen = wait_for(lambda: [b for b in pool_backends(adm)
                                     if "core_app_probe" in b[2] and b[1] == "active"], 1.4, 0.05)
        bg.result(10)
        assert seen, "the query never showed up as active on the primary"
        assert seen[0][3] == "myapp", f"server backend application_name is {seen[0][3]!r}"


def test_startup_custom_setting_and_search_path(pgrelay, cluster):
    schema = unique("core_sp")
    with primary_app(cluster) as p:
        p.execute(f"create schema {schema}")
        p.execute(f"create table {schema}.only_here (v int)")
        p.execute(f"insert into {schema}.only_here values (7)")
    try:
        relay = pgrelay({"pool": {"size": 2}})
        with connect(relay.dsn(options="-c myapp.tenant=42")) as c:
            for _ in range(3):
                assert c.execute("select current_setting('myapp.tenant')").fetchone()[0] == "42"
        # What Postgres itself reports for this option (it keeps the text as given).
        with psycopg.connect(cluster.primary_dsn(options=f"-c search_path={schema},public")) as p:
            expected = p.execute("show search_path").fetchone()[0]
        with connect(relay.dsn(options=f"-c search_path={schema},public")) as c:
            for _ in range(3):
                assert c.execute("show search_path").fetchone()[0] == expected
                assert c.execute("select v from only_here").fetchone()[0] == 7
        # Several options at once, with the --name=value form as well.
        with connect(relay.dsn(options="-c myapp.tenant=7 --work_mem=3MB")) as c:
            assert c.execute("select current_setting('myapp.tenant'), current_setting('work_mem')"
                             ).fetchone() == ("7", "3MB")
    finally:
        with primary_app(cluster) as p:
            p.execute(f"drop schema {schema} cascade")


def test_startup_parameters_isolated_on_shared_server(pgrelay):
    """Pool of 1: every client's queries run on the same server, and each must see its own
    settings on every query; a client without settings sees the defaults."""
    relay = pgrelay({"pool": {"size": 1}})
    q = "select current_setting('application_name'), current_setting('statement_timeout')"
    with connect(relay.dsn(application_name="alpha", options="-c statement_timeout=1111")) as a, \
            connect(relay.dsn(application_name="beta", options="-c statement_timeout=2222")) as b, \
            connect(relay.dsn()) as d:
        default = d.execute(q).fetchone()
        assert default == ("", "0"), f"a client without settings saw {default}"
        for i in range(20):
            assert a.execute(q).fetchone() == ("alpha", "1111ms"), f"round {i}"
            assert b.execute(q).fetchone() == ("beta", "2222ms"), f"round {i}"
            assert d.execute(q).fetchone() == default, f"round {i}"
        # In a transaction with SET LOCAL the override lasts for that transaction only.
        with a.transaction():
            a.execute("set local statement_timeout = 5555")
            assert a.execute(q).fetchone() == ("alpha", "5555ms")
        assert a.execute(q).fetchone() == ("alpha", "1111ms")
        assert b.execute(q).fetchone() == ("beta", "2222ms")


def test_set_reported_parameter_follows_client_not_server(pgrelay):
    """A session-level SET of a reported parameter (application_name) in transaction mode stays
    with that client on later transactions, and does not leak to another client on the same
    (only) server."""
    relay = pgrelay({"pool": {"size": 1}})
    with connect(relay.dsn(application_name="first")) as a, \
            connect(relay.dsn(application_name="second")) as b:
        a.execute("set application_name = 'renamed'")
        for _ in range(5):
            assert b.execute("show application_name").fetchone()[0] == "second"
            assert a.execute("show application_name").fetchone()[0] == "renamed"
        assert a.info.parameter_status("application_name") == "renamed"
        assert b.info.parameter_status("application_name") == "second"


# ------------------------------------------------------------------------------------------
# 7. BackendKeyData


def test_backend_key_transaction_mode(pgrelay):
    relay = pgrelay({"pool": {"size": 2}})
    conns = [connect(relay.dsn()) for _ in range(30)]
    try:
        pids = [c.info.backend_pid for c in conns]
        assert all(0 < p < 2 ** 31 for p in pids), pids
        assert len(set(pids)) == len(pids), f"duplicate client-visible pids: {sorted(pids)}"
        for c in conns[:3]:
            assert c.execute("select 1").fetchone()[0] == 1
    finally:
        for c in conns:
            c.close()


def test_backend_key_session_mode_is_pgrelay_own(pgrelay, cluster):
    """Session mode hands out pgrelay's own keys too (it used to pass the server's real pid and
    key, which the next client of that server inherited after DISCARD ALL): distinct positive
    pids that are not the servers'."""
    relay = pgrelay({"pool": {"size": 3}, **SESSION_APP})
    conns = [connect(relay.dsn()) for _ in range(3)]
    try:
        with admin(cluster) as adm:
            server_pids = {b[0] for b in pool_backends(adm)}
        pids = [c.info.backend_pid for c in conns]
        assert all(0 < p < 2 ** 31 for p in pids) and len(set(pids)) == len(pids), pids
        for c in conns:
            real = c.execute("select pg_backend_pid()").fetchone()[0]
            assert c.info.backend_pid != real, (c.info.backend_pid, real)
            assert real in server_pids
    finally:
        for c in conns:
            c.close()
