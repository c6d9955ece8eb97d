"""Idle clients park (proxy/src/session_parking.cpp): their coroutine and read buffer go, a
readiness wait stays, in Asio's reactor or, beyond compact_parking_after parked clients, as an
entry of the worker's own epoll set (compact parking). Parking must change nothing a client can
see: its settings, its prepared statements, a half-sent frame, its leaving, KILL and shutdown
behave as without it. Every case runs in both ways of parking."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import psycopg
import pytest

from helpers_auth import metric, with_metrics
from helpers_routing import CHECK, ports_seen, wait_replicas_eligible
from helpers_core import (RawClient, connect, console, error_or_close, holds_for, message, read_until_ready,
                          rows, wait_log, wait_state)

# compact_parking_after: never reached by a test's few clients, or 0 (every parked client).
PARKING = {"in_reactor": 1000, "compact": 0}


@pytest.fixture(params=sorted(PARKING))
def parking(request) -> str:
    return request.param


def metrics_config(parking: str, overrides: dict) -> tuple[dict, int]:
    return with_metrics({**overrides, "compact_parking_after": PARKING[parking]})


def parked(http_port: int) -> float:
    return metric(http_port, "pgrelay_client_connections_parked")


def parked_as(http_port: int, parking: str) -> tuple[float, float]:
    """(parked clients, of which compactly), and what the second must be in this mode."""
    compact = metric(http_port, "pgrelay_client_connections_parked_compact")
    return compact, (parked(http_port) if parking == "compact" else 0)


@contextlib.contextmanager
def two_parked_clients(relay, http_port: int, parking: str) -> Iterator[tuple[RawClient, RawClient]]:
    """A client parked at once after login, and one the sweep parked after a query."""
    fresh = RawClient(relay.port)
    used = RawClient(relay.port)
    try:
        used.simple_query("SELECT 1")
        wait_parked(http_port, parking, 2, "both clients parked")
        yield fresh, used
    finally:
        fresh.close()
        used.close()


def assert_ended_with_57P01(*clients: RawClient) -> None:
    for rc in clients:
        told = error_or_close(rc.sock, 10)
        assert told["outcome"] == "error" and told["fields"].get("C") == "57P01", told
        assert error_or_close(rc.sock, 10)["outcome"] == "closed"


def wait_parked(http_port: int, parking: str, n: int, what: str) -> None:
    wait_state(lambda: (parked(http_port),) + parked_as(http_port, parking),
               lambda v: v[0] == n and v[1] == v[2], 10, what)


def test_a_client_idle_after_login_parks_at_once_and_then_works(pgrelay, parking):
    overrides, http_port = metrics_config(parking, {"pool": {"size": 2}})
    relay = pgrelay(overrides)
    clients = [connect(relay.dsn()) for _ in range(5)]
    try:
        wait_parked(http_port, parking, 5, "parked clients after login")
        for i, c in enumerate(clients):
            assert c.execute("SELECT %s::int + 1", (i,)).fetchone()[0] == i + 1
    finally:
        for c in clients:
            c.close()
    wait_state(lambda: (parked(http_port), metric(http_port, "pgrelay_client_connections")),
               lambda v: v == (0, 0), 10, "parked and open connections once the clients left")
    wait_parked(http_port, parking, 0, "no parked client once the clients left")


def test_settings_and_prepared_statements_outlive_parking(pgrelay, parking):
    overrides, http_port = metrics_config(parking, {"pool": {"size": 1}})
    relay = pgrelay(overrides)
    with connect(relay.dsn(), prepare_threshold=0) as c:
        c.execute("SET statement_timeout = '12345ms'")
        c.execute("SET application_name = 'parked-app'")
        assert c.execute("SELECT %s::int * 2", (21,)).fetchone()[0] == 42  # a named statement
        # The sweep parks a client idle through a whole interval (1 to 2 s).
        wait_parked(http_port, parking, 1, "the client parked after its queries")
        # Another client uses the only server meanwhile: nothing of the first may show there.
        with connect(relay.dsn()) as other:
            assert other.execute("SHOW statement_timeout").fetchone()[0] == "0"
        assert c.execute("SHOW statement_timeout").fetchone()[0] == "12345ms"
        assert c.execute("SHOW application_name").fetchone()[0] == "parked-app"
        assert c.execute("SELECT %s::int * 2", (50,)).fetchone()[0] == 100
        # Active again: it is no longer parked, and parks again once idle.
        wait_parked(http_port, parking, 1, "the client parked again")


def test_half_a_frame_is_never_parked_and_completes_later(pgrelay, parking):
    overrides, http_port = metrics_config(parking, {"pool": {"size": 1}})
    relay = pgrelay(overrides)
    idle = RawClient(relay.port)
    cut = RawClient(relay.port)
    try:
        wait_parked(http_port, parking, 2, "both clients parked after login")
        query = message(b"Q", b"SELECT 7 AS seven\0")
        cut.send(query[:3])
        wait_parked(http_port, parking, 1, "the cut client woken by its bytes")
        # Two sweeps later the client holding half a frame is still not parked.
        assert holds_for(lambda: parked(http_port) == 1, 2.5) is None
        cut.send(query[3:])
        answer = read_until_ready(cut, 10)
        data_rows = [body for tag, body in answer if tag == b"D"]
        assert len(data_rows) == 1 and data_rows[0].endswith(b"7"), answer
    finally:
        idle.close()
        cut.close()


def test_a_client_leaving_while_parked_is_logged_as_gone(pgrelay, parking):
    overrides, http_port = metrics_config(parking, {})
    relay = pgrelay(overrides)
    polite = connect(relay.dsn())   # says Terminate when closed
    vanishing = RawClient(relay.port)  # just closes its socket
    wait_parked(http_port, parking, 2, "both clients parked")
    polite.close()
    vanishing.close()
    wait_log(relay, "reason=client_terminate", "reason=client_eof", timeout=10)
    wait_state(lambda: (parked(http_port), metric(http_port, "pgrelay_client_connections")),
               lambda v: v == (0, 0), 10, "parked and open connections once the clients left")
    wait_parked(http_port, parking, 0, "no parked client once the clients left")


def test_shutdown_tells_parked_clients_57P01_and_exits(pgrelay, parking):
    overrides, http_port = metrics_config(parking, {})
    relay = pgrelay(overrides)
    with two_parked_clients(relay, http_port, parking) as clients:
        relay.signal(signal.SIGTERM)
        assert_ended_with_57P01(*clients)
        assert relay.proc.wait(timeout=10) == 0


def test_a_routed_client_parks_and_routes_as_before_when_woken(cluster, pgrelay, parking):
    """Parking drops the session's routing caches and a replica read's kept copy: woken, the
    client's reads go to replicas again and still see its own write."""
    overrides, http_port = metrics_config(parking, {"databases": {"app": {
        "routing": {"enabled": True, "check_interval": CHECK, "balance": "statement"},
        "replicas": [{"name": f"replica-{i}", "address": f"127.0.0.1:{p}", "roles": ["read"]}
                     for i, p in enumerate(cluster.replica_ports, start=1)]}}})
    relay = pgrelay(overrides)
    wait_replicas_eligible(relay)
    replicas = set(cluster.replica_ports)
    with connect(relay.dsn()) as setup:
        setup.execute("DROP TABLE IF EXISTS parked_routing")
        setup.execute("CREATE TABLE parked_routing (id int)")
    try:
        with connect(relay.dsn()) as c:
            # Until the position prober (which connects at its first use) has seen a replica
            # replay the setup's DDL, reads keep to the primary; wait for a read on a replica.
            wait_state(lambda: ports_seen(c, 1) & replicas, bool, 10, "reads reach a replica before parking")
            wait_parked(http_port, parking, 1, "the routed client parked")
            c.execute("INSERT INTO parked_routing VALUES (1)")
            assert c.execute("SELECT count(*) FROM parked_routing").fetchone()[0] == 1  # its own write
            wait_parked(http_port, parking, 1, "the client parked after its write")
            assert ports_seen(c, 10) & replicas, "reads reach a replica after parking"
            assert c.execute("SELECT count(*) FROM parked_routing").fetchone()[0] == 1
    finally:
        with connect(relay.dsn()) as cleanup:
            cleanup.execute("DROP TABLE parked_routing")


def test_kill_ends_parked_clients_with_57P01_and_others_go_on(pgrelay, parking):
    """KILL reaches a parked client's socket wherever it waits: the client is told 57P01, its
    session ends, and the pooler serves the next client as before."""
    overrides, http_port = metrics_config(parking, {"pool": {"size": 1}})
    relay = pgrelay(overrides)
    with two_parked_clients(relay, http_port, parking) as clients:
        with console(relay) as c:
            states = [r["state"] for r in rows(c, "SHOW CLIENTS") if r["database"] == "app"]
            assert states == ["idle", "idle"], states
            c.execute("KILL app")
        assert_ended_with_57P01(*clients)
        wait_parked(http_port, parking, 0, "no parked client after KILL")
        with psycopg.connect(relay.dsn(), autocommit=True) as again:
            assert again.execute("SELECT 41 + 1").fetchone() == (42,)
