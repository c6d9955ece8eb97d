"""Helpers for the pass-through / auth.query tests: the lookup function installed from
packaging/pgrelay-auth.sql, roles with unique names that are dropped afterwards, and configs
that log every client in as itself."""

from __future__ import annotations

import contextlib
import re
import urllib.request
from typing import Any, Iterator

import psycopg

from conftest import REPO_ROOT, free_port
from helpers_core import admin, unique, wait_for

AUTH_SQL = REPO_ROOT / "packaging" / "pgrelay-auth.sql"
AUTH_USER = "pgrelay_auth"
AUTH_PASSWORD = "pgrelay_auth_pw"


def install_auth_function(cluster, dbname: str = "app") -> None:
    with admin(cluster, dbname) as adm:
        adm.execute(AUTH_SQL.read_text())
        adm.execute(f"ALTER ROLE {AUTH_USER} PASSWORD '{AUTH_PASSWORD}'")


def passthrough_config(**db: Any) -> dict:
    """Overrides: no users file, users from Postgres (auth.query), the app database logging each
    client in as itself; `db` adds keys to databases.app."""
    app = {"server_user": None, "server_password": None, "server_login": "passthrough",
           "routing": {"enabled": False}}
    app.update(db)
    return {"auth": {"users_file": None, "user": AUTH_USER, "password": AUTH_PASSWORD},
            "databases": {"app": app}}


@contextlib.contextmanager
def roles(cluster, *specs: str) -> Iterator[list[str]]:
    """Creates one role per spec (e.g. "LOGIN PASSWORD 'x'"), named uniquely; drops them (and what
    they own) afterwards, once their backends are gone."""
    names = [unique("t_role") for _ in specs]
    with admin(cluster, "app") as adm:
        for name, spec in zip(names, specs):
            adm.execute(f"CREATE ROLE {name} {spec}")
    try:
        yield names
    finally:
        with admin(cluster, "app") as adm:
            for name in names:
                adm.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
            wait_for(lambda: not adm.execute("SELECT 1 FROM pg_stat_activity WHERE usename = ANY(%s)",
                                             (names,)).fetchall(), 10)
            for name in names:
                adm.execute(f"DROP OWNED BY {name} CASCADE")
                adm.execute(f"DROP ROLE IF EXISTS {name}")


def login(relay, user: str, password: str, **kw: Any) -> psycopg.Connection:
    return psycopg.connect(relay.dsn(user=user, password=password, **kw), autocommit=True)


def login_error(relay, user: str, password: str, **kw: Any) -> psycopg.Error | None:
    try:
        login(relay, user, password, **kw).close()
    except psycopg.Error as e:
        return e
    return None


def metric(http_port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", body, re.M)
    return float(m.group(1)) if m else 0.0


def with_metrics(overrides: dict) -> tuple[dict, int]:
    port = free_port()
    return {**overrides, "admin": {"http_listen": f"127.0.0.1:{port}"}}, port
