"""Every client is itself on Postgres: SCRAM pass-through logins, users fetched from Postgres by
auth.query, replication as the client's own role, and per-user / per-database limits."""

from __future__ import annotations

import subprocess
import threading
import time

import psycopg
import pytest

from conftest import HOST
from helpers_auth import (install_auth_function, login, login_error, metric, passthrough_config,
                          roles, with_metrics)
from helpers_core import LoginError, RawClient, admin, connect, unique, wait_for


@pytest.fixture(scope="module", autouse=True)
def auth_function(cluster):
    install_auth_function(cluster)


def refused_28p01(relay, user: str, password: str) -> None:
    with pytest.raises(LoginError) as li:
        RawClient(relay.port, user=user, password=password)
    assert li.value.fields.get("C") == "28P01", li.value.fields
    assert li.value.fields.get("M") == f'password authentication failed for user "{user}"', li.value.fields


def test_three_roles_each_reach_postgres_as_themselves(cluster, pgrelay):
    schema = unique("s")
    with roles(cluster, "LOGIN PASSWORD 'app_pw'", "LOGIN PASSWORD 'rep_pw'", "LOGIN PASSWORD 'mig_pw'") as (
            app, reporting, migrator):
        with admin(cluster, "app") as adm:
            adm.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {migrator}")
        # The migrator owns the schema and its table; a policy shows each role its own rows.
        with psycopg.connect(cluster.primary_dsn(user=migrator, password="mig_pw"), autocommit=True) as mig:
            mig.execute(f"CREATE TABLE {schema}.items (owner name, v int)")
            mig.execute(f"ALTER TABLE {schema}.items ENABLE ROW LEVEL SECURITY")
            mig.execute(f"CREATE POLICY own ON {schema}.items USING (owner = current_user)")
            mig.execute(f"GRANT USAGE ON SCHEMA {schema} TO {app}, {reporting}")
            mig.execute(f"GRANT SELECT, INSERT ON {schema}.items TO {app}")
            mig.execute(f"GRANT SELECT ON {schema}.items TO {reporting}")
            for who, v in ((app, 1), (reporting, 2), (migrator, 3)):
                mig.execute(f"INSERT INTO {schema}.items VALUES (%s, %s)", (who, v))
        overrides, http = with_metrics(passthrough_config())
        relay = pgrelay(overrides)
        conns = {app: login(relay, app, "app_pw"), reporting: login(relay, reporting, "rep_pw"),
                 migrator: login(relay, migrator, "mig_pw")}
        try:
            for role, c in conns.items():
                assert c.execute("SELECT current_user, session_user").fetchone() == (role, role)
            assert conns[app].execute(f"SELECT v FROM {schema}.items").fetchall() == [(1,)]
            assert conns[reporting].execute(f"SELECT v FROM {schema}.items").fetchall() == [(2,)]
            # The owner is not subject to its own policy (no FORCE): it sees every row.
            assert len(conns[migrator].execute(f"SELECT v FROM {schema}.items").fetchall()) == 3
            conns[app].execute(f"INSERT INTO {schema}.items VALUES (%s, 4)", (app,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as ei:
                conns[reporting].execute(f"INSERT INTO {schema}.items VALUES (%s, 5)", (reporting,))
            assert ei.value.sqlstate == "42501"
            conns[migrator].execute(f"ALTER TABLE {schema}.items ADD COLUMN note text")

            with psycopg.connect(relay.dsn(user="admin", password="admin", dbname="pgrelay"),
                                 autocommit=True) as console:
                pools = {(r[0], r[1]) for r in console.execute("SHOW POOLS").fetchall()}
            assert {("app", app), ("app", reporting), ("app", migrator)} <= pools
            with admin(cluster, "app") as adm:
                seen = {r[0] for r in adm.execute(
                    "SELECT usename FROM pg_stat_activity WHERE datname = 'app' AND usename = ANY(%s)",
                    ([app, reporting, migrator],)).fetchall()}
            assert seen == {app, reporting, migrator}
            # Pass-through never needs a client's salted password: the only PBKDF2 was auth.user's
            # own login (its connection is kept), and more client logins add none.
            before = metric(http, "pgrelay_scram_pbkdf2_total")
            assert before <= 1
            for _ in range(5):
                login(relay, app, "app_pw").close()
            assert metric(http, "pgrelay_scram_pbkdf2_total") == before
        finally:
            for c in conns.values():
                c.close()
            relay.stop()


def test_auth_query_follows_postgres(cluster, pgrelay):
    relay = pgrelay(passthrough_config(), )
    with roles(cluster, "LOGIN PASSWORD 'first'", "NOLOGIN PASSWORD 'x'",
               "LOGIN PASSWORD 'x' VALID UNTIL '2001-01-01'") as (fresh, nologin, expired):
        # Created after pgrelay started, no users file: logs in at once.
        with login(relay, fresh, "first") as c:
            assert c.execute("SELECT current_user").fetchone()[0] == fresh
        refused_28p01(relay, nologin, "x")
        refused_28p01(relay, expired, "x")
        refused_28p01(relay, "no_such_role_anywhere", "x")
        with admin(cluster, "app") as adm:
            adm.execute(f"ALTER ROLE {fresh} PASSWORD 'second'")
        # The verifier cached from the first login is stale: that one attempt fails, drops it,
        # and the next login fetches the new one.
        err = login_error(relay, fresh, "second")
        if err is not None:
            assert "password authentication failed" in str(err)
        with login(relay, fresh, "second") as c:
            assert c.execute("SELECT current_user").fetchone()[0] == fresh
        refused_28p01(relay, fresh, "first")
        log = relay.log()
        assert f'role "{nologin}" is NOLOGIN in Postgres' in log
        assert f'role "{expired}" has expired' in log
        assert 'no role "no_such_role_anywhere" in the users file or in Postgres' in log
        with admin(cluster, "app") as adm:
            verifiers = [r[0] for r in adm.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = ANY(%s)", ([fresh, nologin, expired],))]
        for v in verifiers:
            for part in v.replace("$", ":").split(":")[1:]:
                assert part not in log, "a verifier reached pgrelay's log"


def test_auth_query_without_cache_takes_a_password_change_at_once(cluster, pgrelay):
    overrides = passthrough_config()
    overrides["auth"]["cache_ttl"] = "0s"
    relay = pgrelay(overrides, )
    with roles(cluster, "LOGIN PASSWORD 'first'") as (role,):
        login(relay, role, "first").close()
        with admin(cluster, "app") as adm:
            adm.execute(f"ALTER ROLE {role} PASSWORD 'second'")
        login(relay, role, "second").close()
        refused_28p01(relay, role, "first")


def test_misconfigured_auth_query_is_explained_in_the_log(cluster, pgrelay):
    overrides = passthrough_config()
    overrides["auth"]["query"] = "SELECT username, verifier FROM pgrelay.no_such_lookup($1)"
    relay = pgrelay(overrides)
    refused_28p01(relay, "app", "app")
    assert wait_for(lambda: "pgrelay.no_such_lookup" in relay.log() and "create the lookup function" in relay.log(), 5)


def test_users_file_verifier_with_another_salt_is_explained(cluster, pgrelay):
    # The users file (asked first) holds app's password with a salt of its own: the client's
    # proof is good, but its ClientKey cannot log in to Postgres.
    overrides = passthrough_config()
    overrides["auth"]["users_file"] = "users.yaml"
    relay = pgrelay(overrides)
    with pytest.raises(psycopg.OperationalError) as ei:
        connect(relay.dsn())
    assert "other salt or iteration count" in str(ei.value) or "another salt" in str(ei.value)
    assert "copy rolpassword from pg_authid" in relay.log()


def replication_psql(port, user, password, mode, command, timeout=20):
    conninfo = f"host={HOST} port={port} user={user} dbname=app replication={mode}"
    return subprocess.run(["psql", conninfo, "-X", "-A", "-t", "-c", command], capture_output=True, text=True,
                          timeout=timeout, env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("login_mode", ["passthrough", "fixed"])
def test_replication_logs_in_as_the_client(cluster, pgrelay, login_mode):
    overrides = passthrough_config()
    if login_mode == "fixed":
        # server_user may replicate; that must not lend REPLICATION to every client.
        overrides["databases"]["app"].update({"server_login": "fixed", "server_user": "admin",
                                              "server_password": "admin"})
    relay = pgrelay(overrides)
    with roles(cluster, "LOGIN PASSWORD 'r'", "LOGIN REPLICATION PASSWORD 'r'") as (plain, replicator):
        r = replication_psql(relay.port, plain, "r", "database", "IDENTIFY_SYSTEM")
        assert r.returncode != 0
        assert "replication" in r.stderr.lower(), r.stderr
        r = replication_psql(relay.port, replicator, "r", "database", "IDENTIFY_SYSTEM")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().split("|")[1] == "1"


def test_limits_hold_under_200_clients(cluster, pgrelay):
    with roles(cluster, "LOGIN PASSWORD 'a'", "LOGIN PASSWORD 'b'") as (alice, bob):
        overrides = passthrough_config()
        overrides.update({"workers": 2, "max_user_connections": 4, "max_db_connections": 6,
                          "pool": {"size": 20, "wait_timeout": "30s"}})
        relay = pgrelay(overrides)
        peak = {"alice": 0, "bob": 0, "db": 0}
        stop = threading.Event()

        def sample():
            with admin(cluster, "app") as adm:
                while not stop.is_set():
                    rows = dict(adm.execute(
                        "SELECT usename, count(*) FROM pg_stat_activity WHERE datname = 'app' "
                        "AND usename = ANY(%s) GROUP BY 1", ([alice, bob],)).fetchall())
                    peak["alice"] = max(peak["alice"], rows.get(alice, 0))
                    peak["bob"] = max(peak["bob"], rows.get(bob, 0))
                    peak["db"] = max(peak["db"], sum(rows.values()))
                    time.sleep(0.01)

        errors: list[BaseException] = []

        def client(i: int):
            user, pw = (alice, "a") if i % 2 == 0 else (bob, "b")
            try:
                with login(relay, user, pw) as c:
                    for _ in range(3):
                        c.execute("SELECT pg_sleep(0.01)")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        stop.set()
        sampler.join(10)
        assert not errors, errors[:3]
        assert 0 < peak["alice"] <= 4 and 0 < peak["bob"] <= 4, peak
        assert peak["db"] <= 6, peak


def test_a_full_limit_says_which_with_53300(cluster, pgrelay):
    with roles(cluster, "LOGIN PASSWORD 'a'") as (alice,):
        overrides = passthrough_config()
        overrides.update({"max_user_connections": 1, "pool": {"wait_timeout": "500ms"}})
        relay = pgrelay(overrides)
        holder = login(relay, alice, "a")
        holder.execute("BEGIN")
        holder.execute("SELECT 1")
        other = login(relay, alice, "a")
        with pytest.raises(psycopg.OperationalError) as ei:
            other.execute("SELECT 1")
        assert ei.value.sqlstate == "53300"
        assert f'too many server connections for user "{alice}" (max_user_connections 1)' in str(ei.value)
        holder.close()
        other.close()
