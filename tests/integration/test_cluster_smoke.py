"""The test cluster alone (no pgrelay): primary + streaming replicas behave as the other tests assume."""

import time
import uuid

import psycopg
import pytest

import helpers_core
from conftest import dsn, scram_verifier

REPLICATION_TIMEOUT = 10  # seconds


def connect(port, **kw):
    return psycopg.connect(dsn(port, **kw), autocommit=True)


def wait_for(predicate, timeout=REPLICATION_TIMEOUT):
    return helpers_core.wait_for(predicate, timeout)


def count_rows(port, table):
    with connect(port) as c:
        return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def table(cluster):
    name = f"smoke_{uuid.uuid4().hex[:12]}"
    with connect(cluster.primary_port) as c:
        c.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, note text)")
    yield name
    with connect(cluster.primary_port) as c:
        c.execute(f"DROP TABLE IF EXISTS {name}")


def test_nodes_accept_app_and_report_roles(cluster):
    assert len(cluster.replica_ports) >= 1
    with connect(cluster.primary_port) as c:
        assert c.execute("SELECT current_user, current_database()").fetchone() == ("app", "app")
        assert c.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
    for port in cluster.replica_ports:
        with connect(port) as c:
            assert c.execute("SELECT current_user").fetchone()[0] == "app"
            assert c.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True


def test_primary_sees_every_replica_streaming(cluster):
    with connect(cluster.primary_port, user="admin", password="admin", dbname="postgres") as c:
        rows = c.execute(
            "SELECT application_name, state FROM pg_stat_replication ORDER BY application_name"
        ).fetchall()
    expected = [(f"replica{i}", "streaming") for i in range(1, len(cluster.replica_ports) + 1)]
    assert rows == expected


def test_replicas_are_read_only(cluster):
    for port in cluster.replica_ports:
        with connect(port) as c:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                c.execute("CREATE TABLE must_fail (id int)")


def test_write_on_primary_is_visible_on_replicas(cluster, table):
    with connect(cluster.primary_port) as c:
        c.execute(f"INSERT INTO {table} SELECT g, 'row ' || g FROM generate_series(1, 100) g")
    for port in cluster.replica_ports:
        # The CREATE TABLE may itself still be replaying: treat "no such table" as 0 rows.
        def seen(port=port):
            try:
                return count_rows(port, table) == 100
            except psycopg.errors.UndefinedTable:
                return False
        assert wait_for(seen), f"replica on port {port} did not see the rows"


def test_wal_replay_pause_and_resume_as_admin(cluster, table):
    replica = cluster.replica_ports[-1]
    with connect(cluster.primary_port) as p:
        p.execute(f"INSERT INTO {table} VALUES (1, 'before pause')")
    assert wait_for(lambda: _safe_count(replica, table) == 1)

    with connect(replica, user="admin", password="admin") as admin:
        admin.execute("SELECT pg_wal_replay_pause()")
        try:
            assert wait_for(lambda: admin.execute(
                "SELECT pg_get_wal_replay_pause_state()").fetchone()[0] == "paused")
            assert admin.execute("SELECT pg_is_wal_replay_paused()").fetchone()[0] is True
            with connect(cluster.primary_port) as p:
                p.execute(f"INSERT INTO {table} VALUES (2, 'while paused')")
                # insert LSN, not pg_current_wal_lsn(): with synchronous_commit=off the commit
                # record may not have been written yet.
                primary_lsn = p.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
            # The replica receives the WAL but does not apply it.
            assert wait_for(lambda: admin.execute(
                "SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn", (primary_lsn,)).fetchone()[0])
            # Time itself is under test here: replay stays paused however long one waits.
            time.sleep(0.3)
            assert _safe_count(replica, table) == 1
            assert admin.execute(
                "SELECT pg_last_wal_replay_lsn() < %s::pg_lsn", (primary_lsn,)).fetchone()[0]
        finally:
            admin.execute("SELECT pg_wal_replay_resume()")
        assert admin.execute("SELECT pg_is_wal_replay_paused()").fetchone()[0] is False
    assert wait_for(lambda: _safe_count(replica, table) == 2)


def test_admin_can_terminate_backends(cluster):
    with connect(cluster.primary_port) as victim, \
            connect(cluster.primary_port, user="admin", password="admin") as admin:
        pid = victim.info.backend_pid
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is True
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")


def test_scram_verifier_is_accepted_by_postgres(cluster):
    """The helper that writes pgrelay's users file produces verifiers Postgres itself accepts."""
    role = f"scram_{uuid.uuid4().hex[:8]}"
    verifier = scram_verifier("s3cret pass", iterations=4096)
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    with connect(cluster.primary_port, user="admin", password="admin") as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{verifier}'")
        try:
            stored = admin.execute(
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()[0]
            assert stored == verifier  # stored as given, not re-hashed
            with connect(cluster.primary_port, user=role, password="s3cret pass") as c:
                assert c.execute("SELECT current_user").fetchone()[0] == role
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                connect(cluster.primary_port, user=role, password="wrong").close()
        finally:
            admin.execute(f"DROP ROLE {role}")


def _safe_count(port, table):
    try:
        return count_rows(port, table)
    except psycopg.errors.UndefinedTable:
        return -1
