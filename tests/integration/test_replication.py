"""Replication connections (physical and logical-decoding walsenders) pass through to the primary
unpooled, with the client's own startup parameters and as the client's own role (its SCRAM keys:
the verifier must be Postgres's, so these tests take users from Postgres with auth.query)."""

import subprocess

import pytest

from conftest import HOST
from helpers_auth import install_auth_function, passthrough_config


@pytest.fixture(scope="module", autouse=True)
def auth_function(cluster):
    install_auth_function(cluster)


def replication_psql(port, mode, command, timeout=20, user="admin", password="admin"):
    conninfo = f"host={HOST} port={port} user={user} dbname=app replication={mode}"
    return subprocess.run(["psql", conninfo, "-X", "-A", "-t", "-c", command], capture_output=True, text=True,
                          timeout=timeout, env={"PGPASSWORD": password, "PATH": "/usr/bin:/bin"})


def test_replication_connections_pass_through(cluster, pgrelay):
    # The client's role needs the REPLICATION attribute; the test cluster's admin is a superuser.
    relay = pgrelay(overrides=passthrough_config())
    for mode in ("database", "true"):
        r = replication_psql(relay.port, mode, "IDENTIFY_SYSTEM")
        assert r.returncode == 0, r.stderr
        system_id, timeline = r.stdout.strip().split("|")[:2]
        assert system_id.isdigit() and timeline == "1"

    r = replication_psql(relay.port, "true", "CREATE_REPLICATION_SLOT pgrelay_test_slot PHYSICAL RESERVE_WAL")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("pgrelay_test_slot|")
    r = replication_psql(relay.port, "true", "DROP_REPLICATION_SLOT pgrelay_test_slot")
    assert r.returncode == 0, r.stderr

    # Not a pooled connection: a normal query through the same port still works afterwards.
    r = subprocess.run(["psql", relay.dsn(), "-X", "-A", "-t", "-c", "select 41 + 1"], capture_output=True,
                       text=True, timeout=20)
    assert r.stdout.strip() == "42", r.stderr
    assert "replication connection (true) relayed" in open(relay.log_path).read()


def test_replication_refused_by_server_is_reported(cluster, pgrelay):
    # app has no REPLICATION attribute: Postgres's own error reaches the client.
    relay = pgrelay(overrides=passthrough_config())
    r = replication_psql(relay.port, "true", "IDENTIFY_SYSTEM", user="app", password="app")
    assert r.returncode != 0
    assert "replication" in r.stderr.lower()


def test_replication_stream_outlives_the_login_deadline(cluster, pgrelay):
    """auth_timeout bounds the login only: a walsender session that runs longer is relayed
    until it ends (it was cut at auth_timeout)."""
    relay = pgrelay(overrides={**passthrough_config(), "auth_timeout": "1s"})
    r = replication_psql(relay.port, "database", "SELECT 'still here' FROM pg_sleep(2.5)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "still here"
