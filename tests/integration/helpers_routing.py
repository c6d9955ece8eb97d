"""Shared by the routing tests (not a test module): a pgrelay with routing on, where a read
landed, replicas held behind, and waits that watch pgrelay's own view of its replicas
(`SHOW REPLICAS`) rather than sleeping for a health round."""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import psycopg

from conftest import dsn
from helpers_core import wait_for

CHECK = "200ms"


def routed(pgrelay, cluster, **routing):
    """pgrelay with routing on over both replicas, returned once both are eligible.
    balance: statement, so one connection's reads visit every eligible replica."""
    cfg = {"enabled": True, "check_interval": CHECK, "balance": "statement", **routing}
    relay = pgrelay(overrides={"databases": {"app": {
        "routing": cfg,
        "replicas": [{"name": f"replica-{i}", "address": f"127.0.0.1:{p}", "roles": ["read"],
                      "max_lag": {"bytes": "1MB", "time": "300ms"}}
                     for i, p in enumerate(cluster.replica_ports, start=1)]}}})
    wait_replicas_eligible(relay)
    return relay


def server_port(conn, sql="select inet_server_port()"):
    return conn.execute(sql).fetchone()[0]


def ports_seen(conn, n=30):
    return {server_port(conn) for _ in range(n)}


@contextlib.contextmanager
def replay_paused(cluster, index):
    admin = psycopg.connect(cluster.replica_dsn(index, user="admin", password="admin"), autocommit=True)
    admin.execute("select pg_wal_replay_pause()")
    try:
        yield
    finally:
        admin.execute("select pg_wal_replay_resume()")
        admin.close()


def write_some(cluster, rows=20000):
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute("create table if not exists routing_burst (a int, b text)")
        c.execute("insert into routing_burst select g, repeat('x', 100) from generate_series(1, %s) g", (rows,))


def wait_until(pred: Callable[[], Any], timeout: float = 5.0) -> Any:
    return wait_for(pred, timeout, interval=0.1)


def show_replicas(relay) -> list[dict[str, str]]:
    with psycopg.connect(dsn(relay.port, user="admin", password="admin", dbname="pgrelay"), autocommit=True,
                         prepare_threshold=None) as c:
        cur = c.execute("SHOW REPLICAS")
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def wait_replicas_eligible(relay, names: set[str] | None = None, eligible: bool = True,
                           timeout: float = 10.0) -> None:
    """Until the health checker finds the replicas (all of the database's, or `names`) eligible
    (or, with eligible=False, none of them); fails with what SHOW REPLICAS said last."""
    last: list[dict[str, str]] = []
    want = "yes" if eligible else "no"

    def reached() -> bool:
        nonlocal last
        last = [r for r in show_replicas(relay) if names is None or r["name"] in names]
        return bool(last) and all(r["eligible"] == want for r in last)

    assert wait_for(reached, timeout, interval=0.05), f"replicas not eligible={want} within {timeout}s: {last}"


def show_route(relay, sql: str) -> str:
    """SHOW ROUTE's explanation of where `sql` would go now, one line per row."""
    with psycopg.connect(dsn(relay.port, user="admin", password="admin", dbname="pgrelay"), autocommit=True,
                         prepare_threshold=None) as c:
        quoted = sql.replace("'", "''")
        return "\n".join(" ".join(map(str, r)) for r in c.execute(f"SHOW ROUTE '{quoted}'").fetchall())
