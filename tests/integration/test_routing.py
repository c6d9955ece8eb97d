"""Read/write routing against the real primary + 2 streaming replicas: reads go to replicas whose
lag is under the limit, writes and anything unsure to the primary, and a client always reads its
own writes."""

import psycopg
import pytest

from helpers_routing import (CHECK, ports_seen, replay_paused, routed, server_port, show_route,
                             wait_replicas_eligible, wait_until, write_some)

def test_reads_to_replicas_writes_to_primary(cluster, pgrelay):
    relay = routed(pgrelay, cluster)
    with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
        assert ports_seen(c) == set(cluster.replica_ports)
        c.execute("create table if not exists routing_t (a int)")
        # a write, and reads with side effects, run on the primary
        assert server_port(c, "with w as (insert into routing_t values (1) returning a) "
                              "select inet_server_port() from w") == cluster.primary_port
        assert server_port(c, "select inet_server_port() from routing_t limit 1 for update") == cluster.primary_port
        c.execute("create sequence if not exists routing_seq")
        assert server_port(c, "select inet_server_port() where nextval('routing_seq') > 0") == cluster.primary_port
        # an explicit read-write transaction stays on the primary; BEGIN READ ONLY may use a replica
        with c.transaction():
            assert server_port(c) == cluster.primary_port
        # read-your-writes keeps this client on the primary until replicas replay its writes
        assert wait_until(lambda: server_port(c) in cluster.replica_ports, timeout=3)
        c.execute("begin read only")
        assert server_port(c) in cluster.replica_ports
        c.execute("commit")
        # a comment hint forces the primary
        assert server_port(c, "/* pgrelay: route=primary */ select inet_server_port()") == cluster.primary_port


def test_balance_session_keeps_each_client_on_one_replica(cluster, pgrelay):
    relay = routed(pgrelay, cluster, balance="session")
    conns = [psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) for _ in range(4)]
    try:
        seen = [ports_seen(c, 20) for c in conns]
        # each client reads from one replica only; consecutive clients are dealt different ones
        assert all(len(s) == 1 and s <= set(cluster.replica_ports) for s in seen), seen
        assert set().union(*seen) == set(cluster.replica_ports), seen
        # when its replica stops being eligible the client moves, and comes back after
        mine = next(iter(seen[0]))
        index = cluster.replica_ports.index(mine)
        with replay_paused(cluster, index):
            write_some(cluster)
            assert wait_until(lambda: ports_seen(conns[0], 10) == set(cluster.replica_ports) - {mine}, timeout=3)
        assert wait_until(lambda: ports_seen(conns[0], 10) == {mine}, timeout=5)
    finally:
        for c in conns:
            c.close()


def test_volatile_user_function_runs_on_primary(cluster, pgrelay):
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute("create table if not exists routing_audit (at timestamptz default now())")
        c.execute("create or replace function routing_log() returns int language sql volatile as "
                  "$$ insert into routing_audit default values; select inet_server_port() $$")
    relay = routed(pgrelay, cluster)
    # The function catalogue is read in a health round of its own.
    assert wait_until(lambda: "writing function" in show_route(relay, "select routing_log()"))
    with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
        assert server_port(c, "select routing_log()") == cluster.primary_port


def test_paused_replica_is_excluded_and_readmitted(cluster, pgrelay):
    relay = routed(pgrelay, cluster)
    a_port, b_port = cluster.replica_ports
    with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
        with replay_paused(cluster, 0):
            write_some(cluster)
            # within two check intervals (plus the time to notice), only B serves reads
            assert wait_until(lambda: ports_seen(c, 10) == {b_port}, timeout=3), ports_seen(c, 10)
        assert wait_until(lambda: ports_seen(c, 20) == {a_port, b_port}, timeout=5)


@pytest.mark.parametrize("fallback", ["primary", "error"])
def test_no_eligible_replica(cluster, pgrelay, fallback):
    relay = routed(pgrelay, cluster, fallback=fallback)
    with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
        with replay_paused(cluster, 0), replay_paused(cluster, 1):
            write_some(cluster)
            wait_replicas_eligible(relay, eligible=False)
            if fallback == "primary":
                assert ports_seen(c, 10) == {cluster.primary_port}
            else:
                with pytest.raises(psycopg.Error) as e:
                    server_port(c)
                assert e.value.sqlstate == "57P03"
                # the connection stays usable for writes
                c.execute("create table if not exists routing_t (a int)")


def test_unreachable_replica_is_skipped(cluster, pgrelay):
    relay = pgrelay(overrides={"databases": {"app": {
        "routing": {"enabled": True, "check_interval": CHECK},
        "replicas": [{"name": "gone", "address": "127.0.0.1:1", "roles": ["read"]},
                     {"name": "replica-2", "address": f"127.0.0.1:{cluster.replica_ports[1]}", "roles": ["read"]}]}}})
    wait_replicas_eligible(relay, {"replica-2"})
    with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
        for _ in range(30):
            assert server_port(c) == cluster.replica_ports[1]


def test_read_your_writes(cluster, pgrelay):
    admins = [psycopg.connect(cluster.replica_dsn(i, user="admin", password="admin"), autocommit=True)
              for i in range(2)]
    for a in admins:
        a.execute("alter system set recovery_min_apply_delay = '30ms'")
        a.execute("select pg_reload_conf()")
    try:
        relay = routed(pgrelay, cluster)
        with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
            c.execute("drop table if exists ryw; create table ryw (id int primary key)")
        replica_reads = 0
        plain_reads = 0
        with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
            for i in range(1000):
                c.execute("insert into ryw values (%s)", (i,))
                assert c.execute("select count(*) from ryw where id = %s", (i,)).fetchone()[0] == 1, i
            # reads that follow no recent write should mostly land on replicas again
            assert wait_until(lambda: server_port(c) in cluster.replica_ports, timeout=5)
            for _ in range(50):
                plain_reads += 1
                if server_port(c) in cluster.replica_ports:
                    replica_reads += 1
        assert replica_reads > plain_reads / 2, (replica_reads, plain_reads)
    finally:
        for a in admins:
            a.execute("alter system reset recovery_min_apply_delay")
            a.execute("select pg_reload_conf()")
            a.close()


def test_read_your_writes_adds_no_statement_to_writes(cluster, pgrelay):
    """Read-your-writes rides on the prober's and the health checker's primary positions: a write
    transaction costs no extra statement on its server (the prober asks on its own connection,
    at most once per write and fewer when writes overlap), and the client still reads what it
    wrote."""
    from pathlib import Path

    admin = psycopg.connect(cluster.primary_dsn(user="admin", password="admin"), autocommit=True)
    admin.execute("alter role app in database app set log_statement = 'all'")
    try:
        relay = routed(pgrelay, cluster)  # its server connections start after the setting
        log = Path(cluster.env["DATA_ROOT"]) / "primary.log"
        start = log.stat().st_size
        with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
            c.execute("create table if not exists ryw_quiet (id int)")
            for i in range(50):
                c.execute("insert into ryw_quiet values (%s)", (i,))
                assert c.execute("select count(*) from ryw_quiet where id = %s", (i,)).fetchone()[0] >= 1, i
        def logged():
            return log.read_bytes()[start:].decode(errors="replace").splitlines()

        wait_until(lambda: sum("insert into ryw_quiet" in l for l in logged()) >= 50)
        lines = logged()
        assert sum("insert into ryw_quiet" in l for l in lines) == 50, lines[-20:]
        # Besides the health checker's sample (which also asks pg_is_in_recovery()), only the
        # prober reads positions, on a backend that ran none of the client's statements.
        asks = [l for l in lines if "wal_insert_lsn" in l and "pg_is_in_recovery" not in l]
        assert all("pgrelay-probe" in l for l in asks), asks[:3]
        # At most one ask per write unit: the CREATE TABLE and the 50 inserts.
        assert len(asks) <= 51, len(asks)
        pid = lambda l: l.split("[", 1)[1].split("]", 1)[0]
        client_backends = {pid(l) for l in lines if "insert into ryw_quiet" in l}
        assert not client_backends & {pid(l) for l in asks}
    finally:
        admin.execute("alter role app in database app reset log_statement")
        admin.close()


def test_replica_dying_before_ready_for_query_is_replayed_on_the_primary(cluster, pgrelay):
    """A replica that sends its rows and dies before its ReadyForQuery (an immediate shutdown
    flushes them with its farewell notice) has reached the client in no part: pgrelay holds a
    replayable read's answer until it is whole, and replays the read on the primary."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from fault_proxy import FaultProxy

    fp = FaultProxy(cluster.replica_ports[0])
    try:
        relay = pgrelay(overrides={"databases": {"app": {
            "routing": {"enabled": True, "check_interval": CHECK},
            "replicas": [{"name": "replica-1", "address": f"127.0.0.1:{fp.port}", "roles": ["read"]}]}}})
        wait_replicas_eligible(relay)
        with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
            assert server_port(c) == cluster.replica_ports[0]
            fp.cut_before_ready = b"cut-before-ready"
            row = c.execute("select 'cut-before-ready', inet_server_port()").fetchone()
            assert fp.cut_before_ready is None, "the fault proxy did not cut the answer"
            assert row == ("cut-before-ready", cluster.primary_port)
            assert server_port(c) == cluster.replica_ports[0]  # the replica serves the next read
        assert "retrying on the primary" in Path(relay.log_path).read_text()
    finally:
        fp.stop()


def test_stopped_replica_reads_keep_succeeding(tmp_path):
    """A replica stopped with -m immediate under read load: autocommit reads keep succeeding
    (retried on the primary when the replica fails before answering). Uses its own cluster."""
    import subprocess
    import threading
    from pathlib import Path

    from conftest import PGCLUSTER, start_pgrelay, Cluster, _read_env, _stop_cluster

    cdir = tmp_path / "own-cluster"
    subprocess.run([str(PGCLUSTER), "start", str(cdir), "--replicas", "2"], check=True, capture_output=True,
                   timeout=180)
    relay = None
    try:
        cl = Cluster(dir=cdir, env=_read_env(cdir / "cluster.env"))
        relay = start_pgrelay(cl, tmp_path / "relay", overrides={"databases": {"app": {
            "routing": {"enabled": True, "check_interval": CHECK}}}})
        wait_replicas_eligible(relay)
        errors, reads = [], [0]
        stop = threading.Event()

        def reader():
            with psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None) as c:
                while not stop.is_set():
                    try:
                        c.execute("select count(*) from pg_class").fetchone()
                        reads[0] += 1
                    except psycopg.Error as e:  # noqa: PERF203
                        errors.append(repr(e))
                        return

        threads = [threading.Thread(target=reader) for _ in range(4)]
        for t in threads:
            t.start()
        # Stop replica 1 only while it serves some of the readers: a replica that was not yet
        # eligible would leave nothing to fail over.
        with psycopg.connect(cl.replica_dsn(0, user="admin", password="admin"), autocommit=True) as a:
            assert wait_until(lambda: a.execute(
                "select count(*) from pg_stat_activity where usename = 'app' "
                "and application_name <> 'pgrelay-health' and query like '%from pg_class'").fetchone()[0] > 0,
                timeout=10), "no reader reached replica 1"
        replica1 = Path(cl.env["DATA_ROOT"]) / "replica1"
        subprocess.run(["runuser", "-u", "postgres", "--", f"{cl.env['PGBIN']}/pg_ctl", "stop", "-D", str(replica1),
                        "-m", "immediate"], check=True, capture_output=True, timeout=60)
        # The readers run into the stopped replica: pgrelay says so when it moves a read.
        moved = wait_until(lambda: any(w in Path(relay.log_path).read_text() for w in
                                       ("retrying on the primary", "reading from the primary")) or errors,
                           timeout=20)
        reads_at_stop = reads[0]
        assert wait_until(lambda: reads[0] > reads_at_stop + 50 or errors, timeout=20)
        stop.set()
        for t in threads:
            t.join(timeout=20)
        log = Path(relay.log_path).read_text()
        assert not errors, (errors[:3], log[-3000:])
        assert reads[0] > 100
        # the failover path was taken, not merely avoided
        assert moved and ("retrying on the primary" in log or "reading from the primary" in log)
    finally:
        if relay:
            relay.stop()
        _stop_cluster(cdir)


def test_explain_command(cluster, pgrelay):
    import subprocess

    from conftest import pgrelay_bin

    relay = routed(pgrelay, cluster)

    def explain(sql):
        r = subprocess.run([str(pgrelay_bin()), "explain", "--config", str(relay.config_path), sql],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = explain("select * from pg_class")
    assert "statement: read_only" in out
    assert "decision: replica replica-" in out and "(read_to_replica)" in out
    assert out.count(": eligible") == 2, out
    out = explain("select nextval('some_seq')")
    assert "writing function: nextval" in out and "decision: primary (write)" in out
    out = explain("/* pgrelay: route=primary */ select 1")
    assert "decision: primary (hint_primary)" in out
    out = explain("with d as (delete from t returning *) select * from d")
    assert "modifying_cte" in out and "decision: primary" in out
