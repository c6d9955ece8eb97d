"""Operating pgrelay: the admin console (psql and psycopg), /metrics, /healthz, /readyz, reload
on SIGHUP and RELOAD, graceful shutdown, and systemd notifications."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import psycopg
import pytest

from conftest import REPO_ROOT, dsn, free_port, pgrelay_bin, wait_for_port
from helpers_core import LoginError, RawClient, assert_sqlstate, error_or_close, wait_for
from helpers_routing import CHECK, replay_paused, wait_replicas_eligible, wait_until, write_some


def console(relay, user="admin", password="admin", dbname="pgrelay"):
    return psycopg.connect(dsn(relay.port, user=user, password=password, dbname=dbname), autocommit=True,
                           prepare_threshold=None)


def rows(conn, sql):
    cur = conn.execute(sql)
    cols = [d.name for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def http_get(port, path, timeout=10):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def relay_with_http(pgrelay, app_database, **extra):
    """A pgrelay with its HTTP endpoint on relay.http_port, returned once that port listens: the
    fixture waits for the client port, which pgrelay opens first."""
    http_port = free_port()
    relay = pgrelay(overrides={"admin": {"http_listen": f"127.0.0.1:{http_port}"},
                               "databases": {"app": app_database}, **extra})
    assert wait_for_port(http_port, 10), "the HTTP endpoint did not listen"
    relay.http_port = http_port
    return relay


def routed_with_http(pgrelay, cluster, **extra):
    """Returned once both replicas are eligible."""
    relay = relay_with_http(pgrelay, {
        "routing": {"enabled": True, "check_interval": CHECK},
        "replicas": [{"name": f"replica-{i}", "address": f"127.0.0.1:{p}", "roles": ["read"]}
                     for i, p in enumerate(cluster.replica_ports, start=1)]}, **extra)
    wait_replicas_eligible(relay)
    return relay


# ---- console ----------------------------------------------------------------------------------

def test_console_views_keep_pgbouncer_columns(cluster, pgrelay):
    relay = routed_with_http(pgrelay, cluster)
    with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None, application_name="viewer") as app:
        app.execute("select 1")
        with console(relay) as c:
            pools = rows(c, "SHOW POOLS")
            assert {"database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used",
                    "maxwait", "maxwait_us", "pool_mode"} <= set(pools[0])
            primary = [p for p in pools if p["database"] == "app" and p["target"] == "primary"]
            assert primary and primary[0]["cl_active"] == "1" and primary[0]["pool_mode"] == "transaction"
            stats = rows(c, "SHOW STATS")
            app_stats = [s for s in stats if s["database"] == "app"][0]
            assert {"total_xact_count", "total_query_count", "total_received", "total_sent", "total_query_time",
                    "total_wait_time", "avg_query_time"} <= set(app_stats)
            assert int(app_stats["total_query_count"]) >= 1
            clients = rows(c, "SHOW CLIENTS")
            assert any(cl["application_name"] == "viewer" and cl["database"] == "app" for cl in clients)
            assert {"type", "user", "database", "state", "addr", "port"} <= set(clients[0])
            servers = rows(c, "SHOW SERVERS")
            assert servers and {"type", "user", "database", "state", "addr", "port", "remote_pid"} <= set(servers[0])
            dbs = rows(c, "SHOW DATABASES")
            assert [d for d in dbs if d["name"] == "app"][0]["pool_size"] == "20"
            replicas = rows(c, "SHOW REPLICAS")
            assert sorted(r["name"] for r in replicas) == ["replica-1", "replica-2"]
            assert all(r["eligible"] == "yes" and r["reachable"] == "yes" for r in replicas)
            assert rows(c, "SHOW VERSION")[0]["version"].startswith("pgrelay ")
            assert any(r["key"] == "pool.size" and r["value"] == "20" for r in rows(c, "SHOW CONFIG"))
            assert {r["reason"] for r in rows(c, "SHOW PINS")} >= {"listen", "advisory_lock"}
            routes = rows(c, "SHOW ROUTES")
            assert any(r["reason"] == "read_to_replica" for r in routes)
            route = rows(c, "SHOW ROUTE 'select * from t for update'")
            text = "\n".join(r["explanation"] for r in route)
            assert "locking_clause" in text and "decision: primary (write)" in text
            assert len(rows(c, "SHOW HELP")) >= 5
            with pytest.raises(psycopg.errors.SyntaxError):
                c.execute("SHOW POOOLS")
            with pytest.raises(psycopg.errors.SyntaxError):
                c.execute("select 1")
            # the console stays usable after an error
            assert rows(c, "SHOW VERSION")


def test_console_through_psql_and_pgbouncer_alias(cluster, pgrelay):
    relay = pgrelay()
    env = dict(os.environ, PGPASSWORD="admin")
    for db in ("pgrelay", "pgbouncer"):
        r = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(relay.port), "-U", "admin", "-d", db, "-c", "SHOW POOLS"],
                           capture_output=True, text=True, timeout=30, env=env)
        assert r.returncode == 0, r.stderr
        assert "cl_active" in r.stdout


def test_console_refuses_non_admin_users(cluster, pgrelay):
    relay = pgrelay()
    with pytest.raises(psycopg.OperationalError) as e:
        console(relay, user="app", password="app")
    assert_sqlstate(e.value, "42501", "permission denied for the admin console")
    with pytest.raises(LoginError) as li:
        RawClient(relay.port, user="app", password="app", database="pgrelay")
    assert li.value.fields.get("C") == "42501", li.value.fields
    assert "refused the admin console" in relay.log()
    # and a wrong password is still a wrong password
    with pytest.raises(LoginError) as li:
        RawClient(relay.port, user="admin", password="nope", database="pgrelay")
    assert li.value.fields.get("C") == "28P01", li.value.fields


def test_pause_resume_and_kill(cluster, pgrelay):
    relay = pgrelay()
    with console(relay) as c, psycopg.connect(relay.dsn(), autocommit=True) as app:
        app.execute("select 1")
        c.execute("PAUSE app")
        assert [d for d in rows(c, "SHOW DATABASES") if d["name"] == "app"][0]["paused"] == "1"
        done = threading.Event()

        def query():
            app.execute("select 1")
            done.set()

        t = threading.Thread(target=query)
        t.start()
        assert not done.wait(0.5), "a paused database answered"
        c.execute("RESUME app")
        t.join(10)
        assert done.is_set()
        with pytest.raises(psycopg.errors.InvalidCatalogName):
            c.execute("KILL nosuchdb")
        c.execute("KILL app")
        with pytest.raises(psycopg.OperationalError):
            app.execute("select 1")
    with psycopg.connect(relay.dsn(), autocommit=True) as again:
        assert again.execute("select 1").fetchone() == (1,)


# ---- HTTP ---------------------------------------------------------------------------------------

METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"'
                         r'(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? (?P<value>-?[0-9.e+-]+|NaN|[+-]Inf)$')


def parse_metrics(text):
    """A strict reader of the Prometheus text format: every line is a comment (# HELP / # TYPE)
    or a sample; every sample's family has a TYPE; histograms have cumulative buckets."""
    samples, types = [], {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                types[parts[2]] = parts[3]
            continue
        m = METRIC_LINE.match(line)
        assert m, f"not a valid sample line: {line!r}"
        name, labels = m.group(1), dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"', m.group(2) or ""))
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"sample without TYPE: {line}"
        samples.append((name, labels, float(m.group("value"))))
    for name, labels, _ in samples:
        if name.endswith("_bucket"):
            assert "le" in labels
    return samples, types


def value(samples, name, **labels):
    got = [v for n, l, v in samples if n == name and all(l.get(k) == str(w) for k, w in labels.items())]
    assert len(got) == 1, (name, labels, got)
    return got[0]


def test_metrics_parse_and_count_what_was_sent(cluster, pgrelay):
    relay = routed_with_http(pgrelay, cluster)
    status, _ = http_get(relay.http_port, "/metrics")
    assert status == 200
    before, _ = parse_metrics(http_get(relay.http_port, "/metrics")[1])
    q0 = value(before, "pgrelay_queries_total", database="app") if any(
        n == "pgrelay_queries_total" for n, _, _ in before) else 0
    with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
        for _ in range(25):
            c.execute("select 1")
        with c.transaction():
            c.execute("select 2")
            c.execute("select 3")
        with pytest.raises(psycopg.errors.UndefinedTable):
            c.execute("select * from no_such_table_anywhere")
    text = http_get(relay.http_port, "/metrics")[1]
    samples, types = parse_metrics(text)
    # 25 selects + BEGIN, 2 selects, COMMIT + the failed select (psycopg sends BEGIN/COMMIT itself)
    assert value(samples, "pgrelay_queries_total", database="app") - q0 == 25 + 4 + 1
    assert value(samples, "pgrelay_transactions_total", database="app") >= 27
    assert value(samples, "pgrelay_errors_total", database="app", **{"class": "42"}) == 1
    assert value(samples, "pgrelay_query_duration_seconds_count", database="app") == \
        value(samples, "pgrelay_queries_total", database="app")
    assert value(samples, "pgrelay_routing_decisions_total", database="app", reason="read_to_replica") >= 25
    assert types["pgrelay_query_duration_seconds"] == "histogram"
    buckets = [v for n, l, v in samples if n == "pgrelay_query_duration_seconds_bucket" and l["database"] == "app"]
    assert buckets == sorted(buckets), "buckets must be cumulative"
    assert value(samples, "pgrelay_replica_eligible", database="app", replica="replica-1") == 1
    assert value(samples, "pgrelay_received_bytes_total", database="app") > 0
    assert value(samples, "pgrelay_config_reloads_total", result="ok") == 0
    assert http_get(relay.http_port, "/healthz") == (200, "ok\n")
    assert http_get(relay.http_port, "/readyz")[0] == 200
    assert http_get(relay.http_port, "/nothing")[0] == 404
    # The lag gauge follows the replica: held behind a 2 MB write, it reports more than 1 MB.
    def lag_of_replica_2():
        current, _ = parse_metrics(http_get(relay.http_port, "/metrics")[1])
        return value(current, "pgrelay_replica_lag_bytes", database="app", replica="replica-2")

    with replay_paused(cluster, 1):
        write_some(cluster)
        assert wait_until(lambda: lag_of_replica_2() > 1_000_000, timeout=10), lag_of_replica_2()
    # promtool, when Debian's prometheus package is present, agrees with the strict reader
    if subprocess.run(["sh", "-c", "command -v promtool"], capture_output=True).returncode == 0:
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_readyz_reports_an_unreachable_primary(cluster, pgrelay):
    dead = free_port()
    relay = relay_with_http(pgrelay, {"primary": f"127.0.0.1:{dead}",
                                      "routing": {"enabled": True, "check_interval": CHECK}})
    assert wait_until(lambda: http_get(relay.http_port, "/readyz")[0] == 503, timeout=5)
    assert http_get(relay.http_port, "/healthz")[0] == 200


# ---- reload -------------------------------------------------------------------------------------

def test_reload_applies_a_valid_file_and_refuses_an_invalid_one(cluster, pgrelay):
    relay = pgrelay()
    with console(relay) as c, psycopg.connect(relay.dsn(), autocommit=True) as app:
        app.execute("select 1")
        relay.reload({"pool": {"size": 7}})
        assert wait_until(lambda: [p for p in rows(c, "SHOW POOLS") if p["target"] == "primary"][0]["pool_size"] == "7")
        # an invalid file: nothing changes, the console says why, the log has the diagnostics
        good = relay.config_path.read_text()
        relay.config_path.write_text(good.replace('"size": 7', '"size": "seven"'))
        with pytest.raises(psycopg.Error) as e:
            c.execute("RELOAD")
        assert e.value.sqlstate == "F0000"
        assert "size" in (e.value.diag.message_detail or "")
        assert [p for p in rows(c, "SHOW POOLS") if p["target"] == "primary"][0]["pool_size"] == "7"
        assert app.execute("select 1").fetchone() == (1,)
        relay.config_path.write_text(good.replace('"size": 7', '"size": 9'))
        c.execute("RELOAD")
        assert [p for p in rows(c, "SHOW POOLS") if p["target"] == "primary"][0]["pool_size"] == "9"
        # a new database appears without a restart
        relay.reload({"databases": {"other": {"primary": f"127.0.0.1:{cluster.primary_port}",
                                              "server_database": "app", "server_user": "app",
                                              "server_password": "app"}}})
        assert wait_until(lambda: any(d["name"] == "other" for d in rows(c, "SHOW DATABASES")))
    with psycopg.connect(relay.dsn(dbname="other"), autocommit=True) as o:
        assert o.execute("select current_database()").fetchone() == ("app",)
    log = relay.log()
    assert "reload: applied" in log and "is invalid; nothing changed" in log


def test_reloads_under_pgbench_load_fail_nothing(cluster, pgrelay, tmp_path):
    relay = pgrelay(overrides={"pool": {"size": 4}})
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as p:
        p.execute("create table if not exists reload_load (id serial primary key, v int)")
    script = tmp_path / "w.sql"
    script.write_text("insert into reload_load (v) values (1);\nselect count(*) from reload_load where v = 1;\n")
    env = dict(os.environ, PGPASSWORD="app")
    bench = subprocess.Popen(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(relay.port), "-U", "app", "-c", "8",
                              "-j", "2", "-T", "12", "-f", str(script), "app"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    good = relay.config_path.read_text()

    def loaded_rows():
        with psycopg.connect(cluster.primary_dsn(), autocommit=True) as p:
            return p.execute("select count(*) from reload_load").fetchone()[0]

    def reloads_logged():
        log = relay.log()
        return log.count("reload: applied") + log.count("nothing changed")

    start_rows = loaded_rows()
    assert wait_until(lambda: loaded_rows() > start_rows + 100, timeout=10), "pgbench made no progress"
    for i in range(10):
        if i == 5:
            relay.config_path.write_text(good.replace('"size": 4', '"size": -1'))
        else:
            relay.config_path.write_text(good.replace('"size": 4', f'"size": {2 + (i % 2) * 4}'))
        before = reloads_logged()
        relay.signal(signal.SIGHUP)
        assert wait_until(lambda: reloads_logged() > before, timeout=10), relay.log()[-2000:]
    out, err = bench.communicate(timeout=60)
    assert bench.returncode == 0, err
    m = re.search(r"number of failed transactions: (\d+)", out)
    assert m is None or m.group(1) == "0", out
    processed = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    assert processed > 0
    log = relay.log()
    assert log.count("reload: applied") == 9
    assert log.count("is invalid; nothing changed") == 1
    assert "ERROR" not in err


# ---- shutdown -----------------------------------------------------------------------------------

def test_sigterm_lets_transactions_finish_and_loses_nothing(cluster, pgrelay):
    relay = pgrelay(overrides={"shutdown_timeout": "10s"})
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as p:
        p.execute("create table if not exists shutdown_t (id int primary key)")
        p.execute("truncate shutdown_t")
    busy = psycopg.connect(relay.dsn())
    idle = RawClient(relay.port)
    busy.execute("insert into shutdown_t values (1)")  # a transaction is open
    relay.signal(signal.SIGTERM)
    # the idle client is told why, then closed
    told = error_or_close(idle.sock, 10)
    assert told["outcome"] == "error" and told["fields"].get("C") == "57P01", told
    assert error_or_close(idle.sock, 10)["outcome"] == "closed"
    # new clients are refused
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(relay.dsn(), connect_timeout=2)
    # the open transaction may finish and commit
    busy.execute("insert into shutdown_t values (2)")
    busy.commit()
    assert relay.proc.wait(timeout=10) == 0
    with psycopg.connect(cluster.primary_dsn()) as p:
        assert p.execute("select count(*) from shutdown_t").fetchone() == (2,)
    busy.close()
    idle.close()


def test_sigterm_under_pgbench_loses_no_acknowledged_commit(cluster, pgrelay, tmp_path):
    relay = pgrelay(overrides={"pool": {"size": 4}, "shutdown_timeout": "5s"})
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as p:
        p.execute("create table if not exists shutdown_acks (id bigint primary key)")
        p.execute("truncate shutdown_acks")
    acked, stop = [], threading.Event()

    def writer(base):
        n = 0
        try:
            with psycopg.connect(relay.dsn(), autocommit=True) as c:
                while not stop.is_set():
                    n += 1
                    c.execute("insert into shutdown_acks values (%s)", (base + n,))
                    acked.append(base + n)
        except psycopg.Error:
            pass

    threads = [threading.Thread(target=writer, args=(i * 1_000_000,)) for i in range(6)]
    for t in threads:
        t.start()
    assert wait_until(lambda: len(acked) > 300, timeout=15), len(acked)
    relay.signal(signal.SIGTERM)
    assert relay.proc.wait(timeout=15) == 0
    stop.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive(), "a client hung after shutdown"
    assert acked
    with psycopg.connect(cluster.primary_dsn()) as p:
        on_primary = {r[0] for r in p.execute("select id from shutdown_acks")}
    assert set(acked) <= on_primary


# ---- systemd notify -------------------------------------------------------------------------------

def test_sd_notify_ready_reloading_watchdog_stopping(cluster, tmp_path):
    from conftest import start_pgrelay
    sock_path = os.path.join(tempfile.mkdtemp(prefix="pgr-notify-"), "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(0.2)
    messages = []

    def drain(until, want=None):
        deadline = time.monotonic() + until
        while time.monotonic() < deadline:
            try:
                messages.append(s.recv(4096).decode())
            except socket.timeout:
                pass
            if want and any(want in m for m in messages):
                return True
        return False

    relay = start_pgrelay(cluster, tmp_path, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"})
    try:
        assert drain(5, "READY=1"), messages
        assert drain(2, "WATCHDOG=1"), messages
        n_ready = sum("READY=1" in m for m in messages)
        relay.signal(signal.SIGHUP)
        assert drain(5, "RELOADING=1"), messages
        drain(1)
        reloading_at = max(i for i, m in enumerate(messages) if "RELOADING=1" in m)
        assert any("READY=1" in m for m in messages[reloading_at + 1:]), messages
        assert sum("READY=1" in m for m in messages) == n_ready + 1
        relay.signal(signal.SIGTERM)
        assert drain(5, "STOPPING=1"), messages
        assert relay.proc.wait(timeout=10) == 0
    finally:
        relay.stop()
        s.close()


# ---- logs ---------------------------------------------------------------------------------------

def test_json_logs_parse_and_never_carry_secrets_or_values(cluster, pgrelay):
    relay = pgrelay(overrides={"log": {"format": "json", "level": "info", "slow_query": "50ms"}})
    with psycopg.connect(relay.dsn(), autocommit=True, application_name='quote"app') as c:
        # a slow statement with a literal and a bound parameter that must not reach the log
        c.execute("select pg_sleep(0.1), 'secret-literal-1234' as x, %s::text as y", ("secret-param-5678",))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(relay.dsn(password="wrong-password-9999"))
    relay.stop()
    lines = [l for l in relay.log().splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]  # every line is one JSON object
    assert all({"time", "level", "msg"} <= set(r) for r in records)
    msgs = "\n".join(r["msg"] for r in records)
    assert "client connected" in msgs and "client disconnected" in msgs and "duration=" in msgs
    slow = [r for r in records if r["msg"].startswith("slow request")]
    assert slow and slow[0]["level"] == "warning", msgs
    assert "pg_sleep" in slow[0]["msg"]
    for secret in ("secret-literal-1234", "secret-param-5678", "wrong-password-9999", "SCRAM-SHA-256$"):
        assert secret not in relay.log(), secret


def test_slow_request_log_drops_dollar_quoted_bodies_and_cannot_forge_lines(cluster, pgrelay):
    relay = pgrelay(overrides={"log": {"format": "text", "level": "info", "slow_query": "50ms"}})
    with psycopg.connect(relay.dsn(), autocommit=True) as c:
        c.execute("select pg_sleep(0.1), $$dollar-secret-4321$$ as a, $pw$tagged-secret-8765$pw$ as b,\n"
                  "'x' as c -- 2026-01-01 00:00:00.000 error [1] forged line")
    relay.stop()
    log = relay.log()
    slow = [l for l in log.splitlines() if "slow request" in l]
    assert len(slow) == 1, log[-2000:]
    assert "pg_sleep" in slow[0] and "$pw$$pw$" in slow[0]
    for secret in ("dollar-secret-4321", "tagged-secret-8765"):
        assert secret not in log, secret
    assert not any(l.lstrip().startswith("2026-01-01") for l in log.splitlines()), "a statement forged a log line"


def test_sigterm_during_pgbench_keeps_every_commit_pgbench_counted(cluster, pgrelay, tmp_path):
    relay = pgrelay(overrides={"pool": {"size": 4}, "shutdown_timeout": "5s"})
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as p:
        p.execute("create table if not exists shutdown_bench (id bigserial primary key, at timestamptz default now())")
        p.execute("truncate shutdown_bench")
    script = tmp_path / "insert.sql"
    script.write_text("insert into shutdown_bench default values;\n")
    env = dict(os.environ, PGPASSWORD="app")
    bench = subprocess.Popen(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(relay.port), "-U", "app", "-c", "8",
                              "-j", "2", "-T", "20", "-f", str(script), "app"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def rows_so_far():
        with psycopg.connect(cluster.primary_dsn(), autocommit=True) as p:
            return p.execute("select count(*) from shutdown_bench").fetchone()[0]

    assert wait_until(lambda: rows_so_far() > 300, timeout=15), "pgbench made no progress"
    relay.signal(signal.SIGTERM)
    assert relay.proc.wait(timeout=15) == 0
    out, err = bench.communicate(timeout=30)  # pgbench's clients end: nobody hangs
    processed = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    assert processed > 0, out + err
    with psycopg.connect(cluster.primary_dsn()) as p:
        rows_on_primary = p.execute("select count(*) from shutdown_bench").fetchone()[0]
    # every transaction pgbench counted as done was acknowledged, so it is on the primary
    assert rows_on_primary >= processed, (rows_on_primary, processed)


def sighup_handled(pid: int) -> bool:
    """SIGHUP is caught or ignored by the process (its disposition in /proc/PID/status)."""
    try:
        status = open(f"/proc/{pid}/status").read()
    except OSError:
        return False
    masks = dict(l.split(":\t", 1) for l in status.splitlines() if l.startswith(("SigIgn", "SigCgt")))
    return any(int(masks.get(k, "0"), 16) & (1 << (signal.SIGHUP - 1)) for k in ("SigIgn", "SigCgt"))


def test_reload_signals_during_startup_are_not_fatal(pgrelay):
    """A reload sent while pgrelay starts (as soon as the port answers, as the test harness and
    an impatient operator do) is not fatal. Before main() runs nothing can catch a signal; from
    the start of run_proxy SIGHUP is ignored until the signal_set takes it over, before the
    first listen (the suite once lost a pgrelay to a SIGHUP between listen and signal_set)."""
    relay = pgrelay(wait=False)
    assert wait_for(lambda: sighup_handled(relay.proc.pid) or not relay.alive(), 15)
    deadline = time.monotonic() + 15
    while relay.alive() and time.monotonic() < deadline:
        relay.signal(signal.SIGHUP)
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", relay.port), timeout=0.2):
                break
    relay.signal(signal.SIGHUP)
    assert relay.alive(), f"pgrelay died of an early SIGHUP:\n{relay.log()[-2000:]}"
    with psycopg.connect(relay.dsn(), autocommit=True) as c:
        assert c.execute("select 'serving'").fetchone()[0] == "serving"


def test_one_version_everywhere(pgrelay):
    """`pgrelay --version` and the console's SHOW VERSION print the version CMake's project() sets."""
    project = re.search(r"project\(pgrelay\s+VERSION\s+([0-9.]+)", (REPO_ROOT / "CMakeLists.txt").read_text())
    assert project, "no VERSION in the top CMakeLists.txt project()"
    out = subprocess.run([str(pgrelay_bin()), "--version"], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == f"pgrelay {project.group(1)}", out
    relay = pgrelay()
    with console(relay) as c:
        assert rows(c, "SHOW VERSION")[0]["version"] == f"pgrelay {project.group(1)}"
