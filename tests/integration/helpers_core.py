"""Helpers for the core integration tests (test_core_*.py).

- psycopg helpers: connect()/admin() with bounded timeouts, sqlstate_of(), wait_for().
- waits on observable state, each failing with what it saw last: wait_state() in general;
  pgrelay's admin console (console(), rows(), wait_console(), wait_client_gone()), its log
  (wait_log()), and a socket's bytes having been read by the peer (wait_read_by_peer()).
- primary-side observation: pool_backends() lists the pool's server backends on the primary.
- raw protocol: startup/cancel/SSL packets built with struct, a message reader with deadlines,
  ErrorResponse parsing, and a tiny SCRAM-SHA-256 client (RawClient) for protocol abuse after login.
- threads: run_threads() joins everything with a deadline and collects exceptions.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import signal
import socket
import struct
import threading
import time
import uuid
from typing import Any, Callable, Iterable

import psycopg
import pytest

from pgnet import HOST, dsn

CONNECT_TIMEOUT = 10  # libpq connect_timeout for every test connection
PROTOCOL_3_0 = 196608
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104
CANCEL_REQUEST_CODE = 80877102


# --------------------------------------------------------------------------------------------
# psycopg


def connect(conninfo: str, autocommit: bool = True, prepare_threshold: Any = None,
            **kw: Any) -> psycopg.Connection:
    """A psycopg connection; prepare_threshold=None (no server-side named statements) unless
    asked otherwise. Pass prepare_threshold='default' to keep psycopg's default (5)."""
    if prepare_threshold == "default":
        conn = psycopg.connect(conninfo, autocommit=autocommit, **kw)
    else:
        conn = psycopg.connect(conninfo, autocommit=autocommit, prepare_threshold=prepare_threshold,
                               **kw)
    return conn


def admin(cluster, dbname: str = "postgres") -> psycopg.Connection:
    """A superuser connection straight to the primary (admin/admin), autocommit."""
    return psycopg.connect(cluster.primary_dsn(user="admin", password="admin", dbname=dbname),
                           autocommit=True)


def primary_app(cluster) -> psycopg.Connection:
    """app/app straight to the primary (not through pgrelay), autocommit."""
    return psycopg.connect(cluster.primary_dsn(), autocommit=True)


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE of a psycopg error, from the diagnostic or, for connection-time errors that
    carry none, None."""
    return getattr(exc, "sqlstate", None)


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Polls predicate until truthy or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_state(read: Callable[[], Any], ok: Callable[[Any], bool], timeout: float, what: str,
               interval: float = 0.05) -> Any:
    """Polls read() until ok(value) holds and returns that value; past `timeout` the test fails
    with `what` and the last value read."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ok(value):
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {timeout}s; last seen: {value!r}")
        time.sleep(interval)


def holds_for(predicate: Callable[[], Any], duration: float, interval: float = 0.05) -> float | None:
    """Checks predicate every `interval` for `duration` seconds (a claim that something stays
    true, not a wait): None when it held at every look, else the seconds after which it failed."""
    t0 = time.monotonic()
    while True:
        if not predicate():
            return time.monotonic() - t0
        if time.monotonic() - t0 >= duration:
            return None
        time.sleep(interval)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------------------------
# what the primary sees


POOL_BACKENDS_SQL = """
SELECT pid, state, coalesce(query, ''), coalesce(application_name, ''), backend_start
  FROM pg_stat_activity
 WHERE backend_type = 'client backend'
   AND usename = %s AND datname = %s
   AND pid <> pg_backend_pid()
   AND application_name <> 'pgrelay-health'
"""


def pool_backends(adm: psycopg.Connection, user: str = "app", db: str = "app") -> list[tuple]:
    """(pid, state, query, application_name, backend_start) of every client backend of the given
    server user/database on the primary, the monitor's own backend and pgrelay's health checker
    (it reads the catalogue of every database, pooled or routed; it is not a pool backend)
    excluded."""
    return adm.execute(POOL_BACKENDS_SQL, (user, db)).fetchall()


def wait_no_app_backends(cluster, timeout: float = 15.0) -> None:
    """Waits until no server backend of app/app is left on the primary (from an earlier test's
    pgrelay or direct connections), so per-test counts are meaningful."""
    with admin(cluster) as adm:
        ok = wait_for(lambda: not pool_backends(adm), timeout, 0.1)
        if not ok:
            left = pool_backends(adm)
            # Leftovers are not this test's business, but they would spoil counts: end them.
            for pid, *_ in left:
                adm.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert wait_for(lambda: not pool_backends(adm), 10, 0.1), \
                f"app backends still on the primary: {pool_backends(adm)}"


def sleepers(adm: psycopg.Connection, marker: str) -> list[tuple]:
    """Backends on the primary whose current query contains `marker` and that are active."""
    return [b for b in pool_backends(adm) if marker in b[2] and b[1] == "active"]


class BackendMonitor:
    """A thread that polls pg_stat_activity on the primary and records the largest number of
    app/app server backends seen."""

    def __init__(self, cluster, interval: float = 0.02, user: str = "app", db: str = "app"):
        self.cluster = cluster
        self.interval = interval
        self.user, self.db = user, db
        self.max_seen = 0
        self.samples = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-monitor", daemon=True)

    def _run(self) -> None:
        try:
            with admin(self.cluster) as adm:
                while not self._stop.is_set():
                    n = len(pool_backends(adm, self.user, self.db))
                    self.max_seen = max(self.max_seen, n)
                    self.samples += 1
                    self._stop.wait(self.interval)
        except BaseException as e:  # noqa: BLE001
            self.error = e

    def __enter__(self) -> "BackendMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# --------------------------------------------------------------------------------------------
# threads


def run_threads(targets: Iterable[Callable[[], Any]], timeout: float,
                name: str = "worker") -> tuple[list[Any], list[BaseException], int]:
    """Runs each target in its own thread; joins all within `timeout` seconds total.
    Returns (results, exceptions, number of threads still alive after the deadline)."""
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def wrap(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                r = fn()
                with lock:
                    results.append(r)
            except BaseException as e:  # noqa: BLE001
                with lock:
                    errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(t), name=f"{name}-{i}", daemon=True)
               for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    alive = sum(1 for t in threads if t.is_alive())
    return results, errors, alive


class Background:
    """Runs fn in a thread; .result(timeout) returns its value or raises its exception."""

    def __init__(self, fn: Callable[[], Any]):
        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self.finished_at: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as e:  # noqa: BLE001
            self._error = e
        finally:
            self.finished_at = time.monotonic()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self, timeout: float) -> Any:
        if not self.join(timeout):
            raise TimeoutError(f"background call did not finish within {timeout}s")
        if self._error is not None:
            raise self._error
        return self._value

    @property
    def error(self) -> BaseException | None:
        return self._error


class QueryLoop:
    """A client that runs `SELECT <n>` in a loop on one connection through pgrelay and records
    every error; used to show that abuse on other connections does not disturb it."""

    def __init__(self, conninfo: str, interval: float = 0.01):
        self.conninfo = conninfo
        self.interval = interval
        self.queries = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with connect(self.conninfo) as c:
                i = 0
                while not self._stop.is_set():
                    i += 1
                    try:
                        got = c.execute("SELECT %s::int", (i,)).fetchone()[0]
                        if got != i:
                            self.errors.append(AssertionError(f"SELECT {i} returned {got}"))
                        self.queries += 1
                    except psycopg.Error as e:
                        self.errors.append(e)
                        if c.closed:
                            return
                    time.sleep(self.interval)
        except BaseException as e:  # noqa: BLE001
            self.errors.append(e)

    def wait_more(self, n: int = 3, timeout: float = 10.0) -> int:
        """Until the loop has answered `n` more queries than now (it is running, or still running
        after something happened elsewhere); returns the count. Fails with its errors."""
        target = self.queries + n
        wait_state(lambda: (self.queries, self.errors[:3]), lambda v: v[0] >= target, timeout,
                   f"the query loop did not reach {target} queries (queries, errors)")
        return self.queries

    def __enter__(self) -> "QueryLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


# --------------------------------------------------------------------------------------------
# pgrelay's own view: the admin console and the log


def console(relay) -> psycopg.Connection:
    """admin/admin on pgrelay's admin console (database pgrelay), autocommit."""
    return psycopg.connect(dsn(relay.port, user="admin", password="admin", dbname="pgrelay"),
                           autocommit=True, prepare_threshold=None, connect_timeout=CONNECT_TIMEOUT)


def rows(c: psycopg.Connection, sql: str) -> list[dict]:
    """A console view (SHOW CLIENTS, SHOW POOLS, ...) as one dict per row."""
    cur = c.execute(sql)
    names = [d.name for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def wait_console(relay, sql: str, ok: Callable[[list[dict]], bool], what: str,
                 timeout: float = 10.0) -> list[dict]:
    """Polls a console view until ok(rows) holds; returns those rows, or fails with the last."""
    with console(relay) as c:
        return wait_state(lambda: rows(c, sql), ok, timeout, what, interval=0.02)


def wait_client_gone(relay, port: int, timeout: float = 10.0) -> None:
    """Until pgrelay is done with the client that connected from local `port` (take it with
    sock.getsockname()[1] before closing): its session ended, and with it its hold on any
    server."""
    wait_console(relay, "SHOW CLIENTS", lambda v: all(str(r["port"]) != str(port) for r in v),
                 f"the client from port {port} is still in SHOW CLIENTS", timeout)


def wait_log(relay, *needles: str, timeout: float = 5.0) -> str:
    """Until every needle appears in pgrelay's log; returns the log. Fails with its tail."""
    if not wait_for(lambda: all(n in relay.log() for n in needles), timeout):
        pytest.fail(f"pgrelay's log lacks {[n for n in needles if n not in relay.log()]} after "
                    f"{timeout}s; its tail:\n{relay.log()[-3000:]}")
    return relay.log()


def _proc_net_tcp_queues() -> dict[tuple[str, str], tuple[int, int]]:
    """(local, remote) hex addresses from /proc/net/tcp -> (tx_queue, rx_queue)."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            tx, rx = (int(x, 16) for x in parts[4].split(":"))
            out[(parts[1], parts[2])] = (tx, rx)
    return out


def _hex_address(addr: tuple[str, int]) -> str:
    host, port = addr
    return f"{struct.unpack('<I', socket.inet_aton(host))[0]:08X}:{port:04X}"


def wait_read_by_peer(sock: socket.socket, timeout: float = 5.0) -> None:
    """Until everything sent on `sock` (IPv4, to a process on this host) has been read by the
    process at the other end: our send queue is empty and so is the peer socket's receive
    queue, as /proc/net/tcp shows them. For "pgrelay has taken this half frame in"."""
    mine, peer = _hex_address(sock.getsockname()), _hex_address(sock.getpeername())

    def queues() -> tuple[Any, Any]:
        q = _proc_net_tcp_queues()
        return q.get((mine, peer)), q.get((peer, mine))

    wait_state(queues, lambda q: q[0] is not None and q[1] is not None and q[0][0] == 0 and q[1][1] == 0,
               timeout, "bytes sent still unread by the peer ((tx, rx) of our socket, then of the peer's)")


# --------------------------------------------------------------------------------------------
# raw protocol


def startup_packet(params: dict[str, str], version: int = PROTOCOL_3_0) -> bytes:
    body = struct.pack("!i", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def ssl_request() -> bytes:
    return struct.pack("!ii", 8, SSL_REQUEST_CODE)


def gssenc_request() -> bytes:
    return struct.pack("!ii", 8, GSSENC_REQUEST_CODE)


def cancel_request(pid: int, key: int) -> bytes:
    return struct.pack("!iiii", 16, CANCEL_REQUEST_CODE, pid, key)


def message(tag: bytes, body: bytes = b"") -> bytes:
    return tag + struct.pack("!i", len(body) + 4) + body


def raw_socket(port: int, timeout: float = 5.0, host: str = HOST) -> socket.socket:
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes | None:
    """n bytes, or None on EOF. Raises TimeoutError past the deadline."""
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete message before the deadline")
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout as e:
            raise TimeoutError("no complete message before the deadline") from e
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def read_message(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, bytes] | None:
    """(tag, body) of the next backend message, or None on EOF/reset."""
    deadline = time.monotonic() + timeout
    head = recv_exact(sock, 5, deadline)
    if head is None:
        return None
    tag, length = head[:1], struct.unpack("!i", head[1:5])[0]
    if length < 4 or length > 64 * 1024 * 1024:
        raise AssertionError(f"implausible backend message length {length} (tag {tag!r})")
    body = recv_exact(sock, length - 4, deadline)
    if body is None:
        return None
    return tag, body


def parse_error(body: bytes) -> dict[str, str]:
    """Fields of an ErrorResponse/NoticeResponse body, keyed by field letter (C, M, S, ...)."""
    fields: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def error_or_close(sock: socket.socket, timeout: float) -> dict[str, Any]:
    """Reads until an ErrorResponse, EOF or the deadline. Returns
    {'outcome': 'error'|'closed'|'timeout', 'fields': {...}, 'messages': [tags]}."""
    deadline = time.monotonic() + timeout
    tags: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return {"outcome": "timeout", "fields": {}, "messages": tags}
        try:
            m = read_message(sock, left)
        except TimeoutError:
            return {"outcome": "timeout", "fields": {}, "messages": tags}
        except OSError:
            return {"outcome": "closed", "fields": {}, "messages": tags}
        if m is None:
            return {"outcome": "closed", "fields": {}, "messages": tags}
        tags.append(m[0])
        if m[0] == b"E":
            return {"outcome": "error", "fields": parse_error(m[1]), "messages": tags}


def first_answer(port: int, packet: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Everything the server sends after `packet` until it closes (or `timeout`), and whether
    it closed (also when it closed before taking all of `packet`)."""
    s = raw_socket(port)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        try:
            s.sendall(packet)
        except OSError:
            return data, True
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return data, False
            except OSError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
        return data, False
    finally:
        s.close()


def closed_within(sock: socket.socket, timeout: float) -> bool:
    """True when the peer closes (EOF/reset) within timeout; data received meanwhile is skipped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            return True
        if not chunk:
            return True
    return False


class LoginError(AssertionError):
    """The server answered the login with an ErrorResponse; .fields holds its fields."""

    def __init__(self, fields: dict[str, str]):
        super().__init__(f"login failed: {fields}")
        self.fields = fields


class RawClient:
    """A minimal protocol-3 client over a raw socket: SCRAM-SHA-256 login, then raw messages."""

    def __init__(self, port: int, user: str = "app", password: str = "app", database: str = "app",
                 timeout: float = 10.0, params: dict[str, str] | None = None):
        self.sock = raw_socket(port, timeout)
        self.timeout = timeout
        self.params: dict[str, str] = {}
        self.backend_key: tuple[int, int] | None = None
        try:
            self._login(user, password, database, params or {})
        except BaseException:
            self.close()
            raise

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, timeout: float | None = None) -> tuple[bytes, bytes] | None:
        return read_message(self.sock, self.timeout if timeout is None else timeout)

    def _expect_auth(self, code: int) -> bytes:
        m = self.read()
        assert m is not None, "connection closed during login"
        tag, body = m
        if tag == b"E":
            raise LoginError(parse_error(body))
        assert tag == b"R", f"expected an authentication request, got {tag!r}"
        got = struct.unpack("!i", body[:4])[0]
        assert got == code, f"expected authentication code {code}, got {got}"
        return body[4:]

    def _login(self, user: str, password: str, database: str, params: dict[str, str]) -> None:
        self.send(startup_packet({"user": user, "database": database, **params}))
        m = self.read()
        if m is not None and m[0] == b"E":
            raise LoginError(parse_error(m[1]))
        assert m is not None and m[0] == b"R", f"expected an authentication request, got {m!r}"
        code = struct.unpack("!i", m[1][:4])[0]
        if code == 10:  # SASL
            mechs = [x for x in m[1][4:].split(b"\0") if x]
            assert b"SCRAM-SHA-256" in mechs, mechs
            nonce = base64.b64encode(os.urandom(18)).decode()
            client_first_bare = f"n=,r={nonce}"
            first = ("n,," + client_first_bare).encode()
            self.send(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
            server_first = self._expect_auth(11).decode()
            attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
            salt = base64.b64decode(attrs["s"])
            iterations = int(attrs["i"])
            assert attrs["r"].startswith(nonce)
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
            client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
            stored_key = hashlib.sha256(client_key).digest()
            without_proof = f"c=biws,r={attrs['r']}"
            auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
            signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            final = f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
            self.send(message(b"p", final))
            self._expect_auth(12)
            self._expect_auth(0)
        else:
            assert code == 0, f"unsupported authentication code {code}"
        while True:
            m = self.read()
            assert m is not None, "connection closed before ReadyForQuery"
            tag, body = m
            if tag == b"S":
                k, v, _ = body.split(b"\0", 2)
                self.params[k.decode()] = v.decode()
            elif tag == b"K":
                self.backend_key = struct.unpack("!ii", body[:8])
            elif tag == b"Z":
                return
            elif tag == b"E":
                raise LoginError(parse_error(body))

    def simple_query(self, sql: str, timeout: float | None = None) -> list[tuple[bytes, bytes]]:
        """Sends Query and returns every message up to and including ReadyForQuery."""
        self.send(message(b"Q", sql.encode() + b"\0"))
        out = []
        while True:
            m = self.read(timeout)
            if m is None:
                raise ConnectionError(f"connection closed; got so far {out}")
            out.append(m)
            if m[0] == b"Z":
                return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def require_driver(available: bool, why: str) -> None:
    """Skips a driver test whose driver is missing on a developer's machine; under CI=true (where
    scripts/install-deps.sh installed every driver) a missing one fails the run instead of
    silently shrinking the driver matrix."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true: every driver must be present)")
    pytest.skip(why)


def read_until_ready(rc: RawClient, timeout: float) -> list[tuple[bytes, bytes]]:
    """Every message up to and including the next ReadyForQuery; fails if the connection closes."""
    out = []
    while True:
        m = rc.read(timeout)
        assert m is not None, f"connection closed; got so far {out[:5]}"
        out.append(m)
        if m[0] == b"Z":
            return out


def assert_sqlstate(exc: BaseException, sqlstate: str, *fragments: str) -> None:
    """The error carries `sqlstate`; for connection-time errors psycopg (3.1) exposes no
    SQLSTATE, so then one of the message fragments must appear in the message."""
    got = sqlstate_of(exc)
    if got is not None:
        assert got == sqlstate, f"expected SQLSTATE {sqlstate}, got {got}: {exc!r}"
        return
    msg = str(exc)
    assert fragments and any(f.lower() in msg.lower() for f in fragments), \
        f"expected SQLSTATE {sqlstate} (no sqlstate on the error; message lacks {fragments}): {msg!r}"


@contextlib.contextmanager
def alarm_deadline(seconds: int, error: type[BaseException] = TimeoutError):
    """Interrupts the main thread (SIGALRM raises `error` there) after `seconds`: a test that
    would hang fails with a clear message instead."""
    def fire(signum, frame):
        raise error(f"test exceeded {seconds}s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
