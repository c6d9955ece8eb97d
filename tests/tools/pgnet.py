"""Plain helpers for reaching a local Postgres or pgrelay, shared by the integration tests and
bench/ (neither imports the other): libpq connection strings, free loopback ports, waiting for
a port, and Postgres' stored SCRAM verifier form."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import socket
import time
from typing import Any, Callable

HOST = "127.0.0.1"


def dsn(port: int, user: str = "app", password: str = "app", dbname: str = "app",
        host: str = HOST, **extra: Any) -> str:
    """A libpq key/value connection string for 127.0.0.1:port."""
    parts = {
        "host": host,
        "port": port,
        "user": user,
        "password": password,
        "dbname": dbname,
        "connect_timeout": 10,
        "sslmode": "disable",
    }
    parts.update(extra)

    def quote(v: Any) -> str:
        s = str(v)
        if s == "" or any(c in s for c in " '\\"):
            return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return s

    return " ".join(f"{k}={quote(v)}" for k, v in parts.items())


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """Postgres' stored SCRAM-SHA-256 form:
    SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64> (RFC 5802/7677).
    (Passwords are used as UTF-8 without SASLprep, like Postgres does for ASCII passwords.)"""
    if salt is None:
        salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 the kernel says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, host: str = HOST,
                  alive: Callable[[], bool] | None = None) -> bool:
    """True once host:port accepts a TCP connection; False after `timeout` seconds
    or as soon as `alive()` returns False."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        with contextlib.suppress(OSError):
            with socket.create_connection((host, port), timeout=0.5):
                return True
        time.sleep(0.05)
    return False
