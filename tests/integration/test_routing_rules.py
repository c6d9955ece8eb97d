"""DBA-facing routing controls against the real primary + 2 replicas: rules by user, application
name and kind, replica roles, comment hints, the per-session staleness budget and YAML function
overrides."""

import subprocess

import psycopg

from conftest import dsn, pgrelay_bin
from helpers_routing import (CHECK, ports_seen, replay_paused, server_port, show_replicas, show_route,
                             wait_replicas_eligible, wait_until, write_some)


def with_rules(pgrelay, cluster, rules=(), functions=None, **routing):
    a, b = cluster.replica_ports
    # Scope session: these tests look at where rules place reads, and in scope user a write on one
    # connection would keep the next connection's reads on the primary until replicas replay it.
    cfg = {"enabled": True, "check_interval": CHECK, "balance": "statement", "read_your_writes": "session",
           "rules": list(rules), **routing}
    if functions is not None:
        cfg["functions"] = functions
    relay = pgrelay(overrides={"databases": {"app": {
        "routing": cfg,
        "replicas": [
            {"name": "replica-1", "address": f"127.0.0.1:{a}", "roles": ["read"],
             "max_lag": {"bytes": "1GB", "time": "60s"}},
            {"name": "replica-2", "address": f"127.0.0.1:{b}", "roles": ["read", "analytics"],
             "max_lag": {"bytes": "1GB", "time": "60s"}},
        ]}}})
    wait_replicas_eligible(relay)
    return relay


def connect(relay, **kw):
    return psycopg.connect(dsn(relay.port, **kw), autocommit=True, prepare_threshold=None)


def test_rules_place_reads_by_application_and_kind(cluster, pgrelay):
    a, b = cluster.replica_ports
    relay = with_rules(pgrelay, cluster, rules=[
        {"application_name": "report*", "route": "analytics"},
        {"application_name": "admin-tool", "route": "primary"},
        {"application_name": "batch", "kind": "transaction", "route": "primary"},
    ])
    with connect(relay, application_name="reporting-job") as c:
        assert ports_seen(c, 10) == {b}
        # rules never place writes
        c.execute("create table if not exists rules_t (a int)")
        assert server_port(c, "with w as (insert into rules_t values (1) returning 1) "
                              "select inet_server_port() from w") == cluster.primary_port
    with connect(relay, application_name="admin-tool") as c:
        assert ports_seen(c, 10) == {cluster.primary_port}
        # a hint is stronger than the rules
        assert server_port(c, "/* pgrelay: route=read */ select inet_server_port()") in (a, b)
    with connect(relay, application_name="batch") as c:
        assert ports_seen(c, 20) == {a, b}  # autocommit reads: no rule matches
        c.execute("begin read only")
        assert server_port(c) == cluster.primary_port
        c.execute("commit")
    with connect(relay, application_name="web") as c:
        assert ports_seen(c, 20) == {a, b}
        # a later SET application_name is what the rules see
        c.execute("set application_name = 'report-2'")
        assert ports_seen(c, 10) == {b}
        # the hint can name a role too
        c.execute("set application_name = 'web'")
        assert {server_port(c, "/* pgrelay: route=analytics */ select inet_server_port()")
                for _ in range(10)} == {b}


def test_rule_by_user(cluster, pgrelay):
    relay = with_rules(pgrelay, cluster, rules=[{"user": "admin", "route": "primary"}])
    with connect(relay, user="admin", password="admin") as c:
        assert ports_seen(c, 10) == {cluster.primary_port}
    with connect(relay) as c:
        assert ports_seen(c, 20) == set(cluster.replica_ports)


def test_session_staleness_budget(cluster, pgrelay):
    a, b = cluster.replica_ports
    relay = with_rules(pgrelay, cluster)
    with connect(relay) as c, replay_paused(cluster, 0):
        write_some(cluster, rows=2000)
        # replica-1 is now over a second behind but within its 60s limit
        assert wait_until(lambda: float(next(r for r in show_replicas(relay) if r["name"] == "replica-1")
                                        ["lag_seconds"]) > 1.0, timeout=10)
        assert ports_seen(c, 20) == {a, b}
        c.execute("set pgrelay.max_lag = '500ms'")
        assert wait_until(lambda: ports_seen(c, 10) == {b}, timeout=3)
        # the statement's hint is stronger than the session's budget
        assert {server_port(c, "/* pgrelay: max_lag=1min */ select inet_server_port()")
                for _ in range(20)} == {a, b}
        # the setting travels with the session to other servers and survives RESET of others
        c.execute("reset work_mem")
        assert ports_seen(c, 10) == {b}
        c.execute("reset pgrelay.max_lag")
        assert ports_seen(c, 20) == {a, b}
        # a value that is not a duration sets no budget
        c.execute("set pgrelay.max_lag = 'soon'")
        assert ports_seen(c, 20) == {a, b}


def test_yaml_function_overrides(cluster, pgrelay):
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute("create or replace function rules_stable_port() returns int language sql stable as "
                  "$$ select inet_server_port() $$")
        c.execute("create or replace function rules_volatile_port() returns int language sql volatile as "
                  "$$ select inet_server_port() $$")
    relay = with_rules(pgrelay, cluster, functions={"writes": ["rules_stable_port"],
                                                   "read_only": ["public.rules_volatile_port"]})
    # The function catalogue (and the YAML overrides over it) is read in a health round of its own.
    assert wait_until(lambda: "writing function" in show_route(relay, "select rules_stable_port()"))
    with connect(relay) as c:
        # declared writing although STABLE
        assert {server_port(c, "select rules_stable_port()") for _ in range(5)} == {cluster.primary_port}
        # VOLATILE in pg_proc, declared read-only: replicas
        assert wait_until(lambda: server_port(c, "select public.rules_volatile_port()") in cluster.replica_ports)
        assert {server_port(c, "select public.rules_volatile_port()") for _ in range(10)} <= set(cluster.replica_ports)


def test_explain_shows_the_rule(cluster, pgrelay):
    relay = with_rules(pgrelay, cluster, rules=[{"user": "report*", "route": "analytics"}])

    def explain(*args):
        r = subprocess.run([str(pgrelay_bin()), "explain", "--config", str(relay.config_path), *args],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = explain("--user", "reporter", "select 1")
    assert "rule 0 matched: user=report* route=analytics" in out
    assert "decision: replica replica-2 (read_to_replica)" in out
    out = explain("--user", "app", "select 1")
    assert "no rule matched" in out and "decision: replica" in out
    out = explain("--user", "reporter", "/* pgrelay: route=nosuch */ select 1")
    assert "reads wanted role: nosuch" in out and "decision: primary (no_eligible_replica)" in out


def test_function_created_through_pgrelay_is_learned_at_once(cluster, pgrelay):
    relay = with_rules(pgrelay, cluster, check_interval="1s")
    with connect(relay) as c:
        c.execute("create table if not exists rules_log (at timestamptz default now())")
        c.execute("create or replace function rules_new_writer() returns int language sql volatile as "
                  "$$ insert into rules_log default values; select inet_server_port() $$")
        # the periodic refresh is ten intervals (10 s) away; the DDL itself triggers one within
        # about one interval
        assert wait_until(lambda: "writing function" in show_route(relay, "select rules_new_writer()"), timeout=5)
        for _ in range(5):
            assert server_port(c, "select rules_new_writer()") == cluster.primary_port
