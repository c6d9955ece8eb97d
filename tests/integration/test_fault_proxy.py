"""Every wait has a timeout: a TCP fault proxy between pgrelay and the real primary black-holes,
stalls, delays and resets server connections, and pgrelay answers each client with a clear error
in bounded time, keeps serving its neighbours, and heals when the fault is gone."""

import sys
import time
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from fault_proxy import FaultProxy  # noqa: E402

from helpers_core import assert_sqlstate, message, wait_console  # noqa: E402


@pytest.fixture
def proxied(cluster, pgrelay):
    proxies = []

    def make(**pool):
        fp = FaultProxy(cluster.primary_port)
        proxies.append(fp)
        relay = pgrelay(overrides={"pool": {"size": 2, "connect_timeout": "1s", **pool},
                                   "databases": {"app": {"primary": f"127.0.0.1:{fp.port}"}}})
        return fp, relay

    yield make
    for fp in proxies:
        fp.stop()


def connect(relay):
    return psycopg.connect(relay.dsn(), autocommit=True, prepare_threshold=None, connect_timeout=10)


def timed(fn):
    t0 = time.monotonic()
    try:
        fn()
        return None, time.monotonic() - t0
    except psycopg.Error as e:
        return e, time.monotonic() - t0


def still_serving(fp, relay):
    fp.set("pass")
    fp.stalled.clear()
    with connect(relay) as c:
        assert c.execute("select 1").fetchone() == (1,)
    assert relay.alive()


def test_black_hole_server_is_bounded_by_connect_timeout(proxied):
    fp, relay = proxied()
    fp.set("blackhole")
    err, took = timed(lambda: connect(relay).execute("select 1"))
    assert err is not None and took < 5, (err, took)
    assert_sqlstate(err, "08006", "timed out connecting to server")
    still_serving(fp, relay)


@pytest.mark.parametrize("after", [1, 9, 30])
def test_server_stalling_during_login_is_bounded_by_connect_timeout(proxied, after):
    # The server's first bytes (authentication request, part of a message) arrive, then nothing.
    fp, relay = proxied()
    fp.set("stall_after", after_bytes=after)
    err, took = timed(lambda: connect(relay).execute("select 1"))
    assert err is not None and took < 5, (err, took)
    assert_sqlstate(err, "08006", "timed out connecting to server")
    still_serving(fp, relay)


def test_server_stalling_mid_query_is_bounded_by_query_timeout(proxied):
    fp, relay = proxied(query_timeout="1s")
    with connect(relay) as c, connect(relay) as neighbour:
        c.execute("select 1")
        neighbour.execute("select 1")
        fp.stalled.set()  # every open server connection stops forwarding; the cancel cannot pass either
        err, took = timed(lambda: c.execute("select 2"))
        fp.stalled.clear()
        assert err is not None, "a stalled server answered"
        assert took < 1 + 5 + 3, took  # query_timeout + the cancel's grace + slack
        # the connection ends with the error (the server may be wedged), so psycopg has no SQLSTATE
        assert_sqlstate(err, "57014", "query_timeout")
    still_serving(fp, relay)


def test_server_stalling_during_session_sync_is_bounded(proxied):
    # One server: each client's settings are replayed onto it when it is that client's turn, with
    # a query of pgrelay's own (bounded by connect_timeout) that the stalled server never answers.
    fp, relay = proxied(size=1)
    with connect(relay) as c, connect(relay) as other:
        c.execute("set statement_timeout = '123s'")
        other.execute("select 1")  # the server is reset for `other`: c's SET must be replayed next
        fp.stalled.set()
        err, took = timed(lambda: c.execute("select 2"))
        fp.stalled.clear()
        assert err is not None, "a stalled server answered"
        assert took < 1 + 3, took  # connect_timeout + slack
        assert_sqlstate(err, "08006", "did not answer in time")
    still_serving(fp, relay)


def test_server_reset_mid_result_fails_only_that_client(proxied):
    fp, relay = proxied()
    fp.set("reset_after", after_bytes=20000)
    with connect(relay) as c:
        err, took = timed(lambda: c.execute("select g, repeat('x', 100) from generate_series(1, 100000) g").fetchall())
        assert err is not None and took < 10, (err, took)
    fp.set("pass")
    with connect(relay) as c:
        assert c.execute("select count(*) from generate_series(1, 100000)").fetchone() == (100000,)
    assert relay.alive()


def test_slow_network_still_works(proxied):
    fp, relay = proxied()
    fp.set("delay", delay=0.05)
    with connect(relay) as c:
        t0 = time.monotonic()
        assert c.execute("select 42").fetchone() == (42,)
        assert time.monotonic() - t0 >= 0.05


def fill_pool(relay):
    """Both servers of the pool (size 2) used at once, then idle."""
    with connect(relay) as a, connect(relay) as b:
        with a.transaction(), b.transaction():
            a.execute("select 1")
            b.execute("select 1")
    wait_console(relay, "SHOW SERVERS", lambda v: len([r for r in v if r["state"] == "idle"]) == 2,
                 "two idle servers")


@pytest.mark.parametrize("how", ["reset", "unasked_bytes"])
def test_idle_server_that_dies_or_speaks_unasked_is_never_lent(proxied, how):
    # An idle server is watched by a read that stands on it (server_connection::watch_idle): a
    # reset with no FATAL first, or bytes the server sent unasked, must mark it dead, so that no
    # client gets it, nor the bytes, nor an error.
    fp, relay = proxied()
    fill_pool(relay)
    before = fp.connections
    if how == "reset":
        assert fp.reset_open() >= 2  # and any health-check connection
    else:
        notice = message(b"N", b"SERROR\0C57P01\0Munasked notice\0\0")
        assert fp.inject(notice) >= 2
    # The pool's upkeep (once a second) closes what its watch saw; checkout would too.
    wait_console(relay, "SHOW SERVERS", lambda v: not [r for r in v if r["state"] == "idle"],
                 "the watched idle servers closed", timeout=5)
    notices = []
    with connect(relay) as a, connect(relay) as b:
        for c in (a, b):
            c.add_notice_handler(notices.append)
        with a.transaction(), b.transaction():
            assert a.execute("select 41 + 1").fetchone() == (42,)
            assert b.execute("select 'fresh'").fetchone() == ("fresh",)
    assert not notices, [n.message_primary for n in notices]
    assert fp.connections >= before + 2, "dead servers were lent instead of replaced"
    assert relay.alive()
