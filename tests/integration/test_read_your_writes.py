"""Read-your-writes scopes and replica refusals, in the default routing configuration (one-second
check interval, balance: session) against the real primary + 2 replicas whose replay is delayed
with recovery_min_apply_delay: a read on one connection sees what another connection of the same
user (scope user, the default) or of any user (scope database) committed just before; a function
created on the primary behind pgrelay's back works at its first call; a replica read cancelled
by a recovery conflict is answered by the primary."""

import contextlib
import threading

import psycopg

from helpers_core import rows, wait_state

PAIRS = 1000


def config(cluster, workers=1, **routing):
    return {"workers": workers, "databases": {"app": {
        "routing": {"enabled": True, **routing},  # the fixture turns routing off by default
        "replicas": [{"name": f"replica-{i}", "address": f"127.0.0.1:{p}", "roles": ["read"]}
                     for i, p in enumerate(cluster.replica_ports, start=1)]}}}


def routes(relay):
    with psycopg.connect(relay.dsn(user="admin", password="admin", dbname="pgrelay"), autocommit=True) as c:
        return {r["reason"]: int(r["count"]) for r in rows(c, "SHOW ROUTES") if r["database"] == "app"}


def wait_for(pred, timeout=10.0, what="condition"):
    wait_state(pred, bool, timeout, what)


def replicas_serving(relay, cluster):
    """Waits until the health checker has admitted a replica (a fresh read lands on one)."""
    def on_replica():
        with psycopg.connect(relay.dsn(), autocommit=True) as c:
            return c.execute("select inet_server_port()").fetchone()[0] in cluster.replica_ports
    wait_for(on_replica, what="a replica to serve reads")


@contextlib.contextmanager
def replica_settings(cluster, indexes=(0, 1), primary=False, **settings):
    """ALTER SYSTEM on replicas (and the primary), reloaded and seen in effect; reset afterwards
    (the cluster is shared)."""
    dsns = [cluster.replica_dsn(i, user="admin", password="admin") for i in indexes]
    if primary:
        dsns.append(cluster.primary_dsn(user="admin", password="admin"))
    admins = [psycopg.connect(d, autocommit=True) for d in dsns]
    try:
        for a in admins:
            for k, v in settings.items():
                a.execute(f"alter system set {k} = '{v}'")
            a.execute("select pg_reload_conf()")
        for a in admins:
            for k, v in settings.items():
                wait_for(lambda: a.execute(f"select current_setting('{k}')").fetchone()[0] == v, what=f"{k} = {v}")
        yield
    finally:
        for a in admins:
            for k in settings:
                a.execute(f"alter system reset {k}")
            a.execute("select pg_reload_conf()")
            a.close()


def fresh_table(cluster, name):
    """A new table, once both replicas have replayed it (a missing table is not a miss)."""
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute(f"drop table if exists {name}; create table {name} (id int primary key)")
    for i in range(2):
        with psycopg.connect(cluster.replica_dsn(i, user="admin", password="admin"), autocommit=True) as r:
            wait_for(lambda: r.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0],
                     what=f"the replicas to replay table {name}")


def pairs(relay, cluster, table, writer_user="app", reader_user="app", n=PAIRS, readers=4):
    """n times: commit a row on connection A, then read it on one of `readers` connections B (in
    turn, like an app's pool; with two workers some of them are on A's worker, most likely not
    all). Returns (misses, reads served by a replica)."""
    misses = on_replica = 0
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(psycopg.connect(relay.dsn(user=writer_user, password=writer_user), autocommit=True))
        bs = [stack.enter_context(psycopg.connect(relay.dsn(user=reader_user, password=reader_user), autocommit=True))
              for _ in range(readers)]
        for i in range(n):
            a.execute(f"insert into {table} values (%s)", (i,))
            seen, port = bs[i % readers].execute(
                f"select (select count(*) from {table} where id = %s), inet_server_port()", (i,)).fetchone()
            misses += seen != 1
            on_replica += port in cluster.replica_ports
    return misses, on_replica


@contextlib.contextmanager
def synchronous_commit_on(cluster):
    """The test cluster runs with synchronous_commit off: a commit then reaches the replicas only
    when the WAL writer flushes it (wal_writer_delay, 200 ms), never within the 20 ms wait. On
    for role app (pgrelay's server_user), for pgrelays started inside."""
    with psycopg.connect(cluster.primary_dsn(user="admin", password="admin"), autocommit=True) as a:
        a.execute("alter role app set synchronous_commit = on")
        try:
            yield
        finally:
            a.execute("alter role app reset synchronous_commit")


def test_user_scope_is_the_default_and_sees_writes_of_other_connections(cluster, pgrelay):
    fresh_table(cluster, "ryw_user")
    with synchronous_commit_on(cluster):
        # Two workers: connections A and B may land on different ones (SO_REUSEPORT).
        relay = pgrelay(overrides=config(cluster, workers=2))  # its server connections start with the setting
        replicas_serving(relay, cluster)
        with replica_settings(cluster, recovery_min_apply_delay="5ms"):
            misses, on_replica = pairs(relay, cluster, "ryw_user")
    counted = routes(relay)
    print(f"user scope: {misses} misses in {PAIRS} pairs; {on_replica} reads on replicas; routes {counted}")
    assert misses == 0
    # The prober and the wait keep replicas useful: a 5 ms apply delay is within the 20 ms wait.
    assert on_replica > PAIRS / 2, counted


def test_user_scope_sees_a_transaction_with_a_savepoint_rollback_whole(cluster, pgrelay):
    """The issue's second symptom: a transaction rolled back to a savepoint and committed, then
    read from another connection, must show exactly its committed rows, never a part."""
    fresh_table(cluster, "ryw_savepoint")
    with synchronous_commit_on(cluster):
        relay = pgrelay(overrides=config(cluster, workers=2))
        replicas_serving(relay, cluster)
        with replica_settings(cluster, recovery_min_apply_delay="5ms"), \
                psycopg.connect(relay.dsn(), autocommit=True) as a, psycopg.connect(relay.dsn(), autocommit=True) as b:
            wrong = 0
            for i in range(0, 600, 3):
                with a.transaction():
                    a.execute("insert into ryw_savepoint values (%s)", (i,))
                    a.execute("savepoint s")
                    a.execute("insert into ryw_savepoint values (%s)", (i + 1,))
                    a.execute("rollback to savepoint s")
                    a.execute("insert into ryw_savepoint values (%s)", (i + 2,))
                got = b.execute("select array_agg(id order by id) from ryw_savepoint where id between %s and %s",
                                (i, i + 2)).fetchone()[0]
                wrong += got != [i, i + 2]
    assert wrong == 0


def test_database_scope_covers_other_users(cluster, pgrelay):
    fresh_table(cluster, "ryw_db")
    with synchronous_commit_on(cluster):  # server_user app: every server connection of pgrelay
        relay = pgrelay(overrides=config(cluster, workers=2, read_your_writes="database"), users={"app2": "app2"})
        replicas_serving(relay, cluster)
        with replica_settings(cluster, recovery_min_apply_delay="5ms"):
            misses, on_replica = pairs(relay, cluster, "ryw_db", writer_user="app", reader_user="app2")
    print(f"database scope, two users: {misses} misses in {PAIRS} pairs; {on_replica} reads on replicas")
    assert misses == 0
    assert on_replica > PAIRS / 2


def test_user_scope_does_not_hold_back_other_users(cluster, pgrelay):
    """Scope user: another user's reads are not kept off a lagging replica by app's writes."""
    fresh_table(cluster, "ryw_other")
    relay = pgrelay(overrides=config(cluster), users={"app2": "app2"})
    replicas_serving(relay, cluster)
    with replica_settings(cluster, recovery_min_apply_delay="200ms"):
        misses, on_replica = pairs(relay, cluster, "ryw_other", writer_user="app", reader_user="app2", n=50)
    print(f"user scope, another user: {misses} misses in 50 pairs; {on_replica} reads on replicas")
    assert on_replica > 0 and misses > 0


def test_session_scope_sees_only_its_own_writes(cluster, pgrelay):
    """Scope session (the old rule): a connection reads its own writes; another connection of the
    same user may read a replica that has not replayed them yet. The misses it allows are counted."""
    fresh_table(cluster, "ryw_session")
    relay = pgrelay(overrides=config(cluster, read_your_writes="session"))
    replicas_serving(relay, cluster)
    with replica_settings(cluster, recovery_min_apply_delay="50ms"):
        misses, on_replica = pairs(relay, cluster, "ryw_session", n=200)
        with psycopg.connect(relay.dsn(), autocommit=True) as c:
            own = 0
            for i in range(1000, 1200):
                c.execute("insert into ryw_session values (%s)", (i,))
                own += c.execute("select count(*) from ryw_session where id = %s", (i,)).fetchone()[0] != 1
    print(f"session scope: {misses} misses in 200 pairs across connections; {own} on the same connection")
    assert own == 0
    assert misses > 0


def test_function_created_on_the_primary_works_at_its_first_call(cluster, pgrelay):
    """A migration over a direct URL creates a writing function; its first call through pgrelay
    is refused by a replica (25006), re-run on the primary, and every later call goes there."""
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute("drop table if exists ryw_fn_log; create table ryw_fn_log (id serial, at_port int)")
        c.execute("drop function if exists ryw_fn_add()")
    # A long check interval: the refusal, not the catalogue check of a round, must teach pgrelay.
    relay = pgrelay(overrides=config(cluster, check_interval="10s"))
    replicas_serving(relay, cluster)
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute("create function ryw_fn_add() returns int language sql volatile as "
                  "$$ insert into ryw_fn_log (at_port) values (inet_server_port()) returning at_port $$")
    # The migration is over once the replicas have it (a replica that has not replayed it yet
    # answers 42883, which is not a refusal pgrelay takes back).
    for i in range(2):
        with psycopg.connect(cluster.replica_dsn(i, user="admin", password="admin"), autocommit=True) as r:
            wait_for(lambda: r.execute("select count(*) from pg_proc where proname = 'ryw_fn_add'").fetchone()[0] == 1,
                     what="the replicas to replay the function")
    with psycopg.connect(relay.dsn(), autocommit=True) as c:
        ports = [c.execute("select ryw_fn_add()").fetchone()[0] for _ in range(20)]
    assert ports == [cluster.primary_port] * 20
    counted = routes(relay)
    assert counted.get("retried_read_only") == 1, counted
    assert "functions now known as writing: ryw_fn_add" in relay.log()
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        assert c.execute("select count(*) from ryw_fn_log").fetchone()[0] == 20


def test_function_created_on_the_primary_is_learned_within_a_round(cluster, pgrelay):
    """Without any call: the cheap pg_proc check of every round notices the new function."""
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute("drop function if exists ryw_fn_round()")
    relay = pgrelay(overrides=config(cluster, check_interval="200ms"))
    replicas_serving(relay, cluster)
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute("create function ryw_fn_round() returns int language sql volatile as $$ select 1 $$")

    def explained_as_write():
        with psycopg.connect(relay.dsn(user="admin", password="admin", dbname="pgrelay"), autocommit=True) as a:
            text = "\n".join(r["explanation"] for r in rows(a, "SHOW ROUTE 'select ryw_fn_round()'"))
            return "writing function" in text
    wait_for(explained_as_write, timeout=3, what="the function to be known as writing")


def test_recovery_conflict_is_answered_by_the_primary(cluster, pgrelay):
    """A replica read holding a lock that replay needs is cancelled at once with
    max_standby_streaming_delay = 0 (40001, conflict with recovery); the client gets the
    primary's rows instead. The conflict is made with an ACCESS EXCLUSIVE lock taken on the
    primary, which the replica replays whatever hot_standby_feedback says (a VACUUM-made
    snapshot conflict would need feedback off on this cluster)."""
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute("drop table if exists ryw_conflict; create table ryw_conflict (id int)")
        c.execute("insert into ryw_conflict select generate_series(1, 100)")
    # Replayed on replica-1 first: a replica without the table would answer 42P01 at once.
    with psycopg.connect(cluster.replica_dsn(0, user="admin", password="admin"), autocommit=True) as r:
        wait_for(lambda: r.execute("select to_regclass('ryw_conflict') is not null").fetchone()[0] and
                 r.execute("select count(*) from ryw_conflict").fetchone()[0] == 100, what="replica-1 to have the rows")
    # Only replica-1, where the conflict is made.
    cfg = config(cluster)
    cfg["databases"]["app"]["replicas"] = cfg["databases"]["app"]["replicas"][:1]
    with replica_settings(cluster, indexes=(0,), max_standby_streaming_delay="0"):
        relay = pgrelay(overrides=cfg)
        replicas_serving(relay, cluster)
        result = {}

        def long_read():
            with psycopg.connect(relay.dsn(), autocommit=True) as c:
                result["row"] = c.execute("select /* ryw-conflict */ (select count(*) from ryw_conflict), "
                                          "pg_sleep(1.5), inet_server_port()").fetchone()

        reader = threading.Thread(target=long_read)
        reader.start()
        with psycopg.connect(cluster.replica_dsn(0, user="admin", password="admin"), autocommit=True) as r:
            wait_for(lambda: r.execute("select count(*) from pg_stat_activity where state = 'active' "
                                       "and query like '%ryw-conflict%' and pid <> pg_backend_pid()").fetchone()[0] == 1,
                     what="the read to run on the replica")
        with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
            with c.transaction():
                c.execute("lock table ryw_conflict in access exclusive mode")
        reader.join(timeout=30)
        assert not reader.is_alive()
    count, _, port = result["row"]
    assert (count, port) == (100, cluster.primary_port)
    assert routes(relay).get("retried_recovery_conflict") == 1
    assert "conflict with recovery" in relay.log()
