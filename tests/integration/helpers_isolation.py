"""Shared by the isolation tests (not a test module): what a client can observe of its session,
compared with a fresh direct session, and a wait until pgrelay is done with its clients (read
from the admin console)."""

from __future__ import annotations

from typing import Any

import psycopg

from helpers_core import primary_app, rows, wait_for

# Custom settings the catalogue sets (a quoted name among them): read back by name, since SHOW
# ALL does not list them.
CUSTOM_SETTINGS = ("myapp.tenant", "my$app.x")
SETTLE_TIMEOUT = 10.0  # seconds for pgrelay to finish with a client (probe, DISCARD ALL, release)


# ------------------------------------------------------------------------------------------
# observation


def observe(c: psycopg.Connection) -> dict[str, Any]:
    """Everything a client can see of its session's state, as one comparable dict. Read inside
    one transaction (the observer holds its server meanwhile: see observe_pool)."""
    obs: dict[str, Any] = {}
    # Every setting SHOW ALL lists is compared; none is left out. (application_name too: no client
    # here sets one, so a fresh session reads ''.)
    for name, setting, _desc in c.execute("SHOW ALL").fetchall():
        obs[f"setting:{name}"] = setting
    # A setting defined by a shared library (plpgsql.*) is listed only once the backend loaded the
    # library, which any DO block or plpgsql function does, for the backend's lifetime: whether it
    # is listed says which code ran on the server, not what state it holds. Such a setting still
    # at its default (source 'default') is recorded so that `diff` can treat it as not listed;
    # changed, it is compared like any other.
    obs["defaults:"] = {f"setting:{n}" for (n,) in c.execute(
        "SELECT name FROM pg_settings WHERE source = 'default'").fetchall()}
    row = c.execute(
        "SELECT current_user, session_user, "
        " (SELECT coalesce(array_agg(relname::text ORDER BY relname), '{}') FROM pg_class "
        "   WHERE relnamespace = pg_my_temp_schema()), "
        " (SELECT coalesce(array_agg(format('%s/%s/%s/%s', classid, objid, objsubid, mode) "
        "   ORDER BY classid, objid, objsubid, mode), '{}') FROM pg_locks "
        "   WHERE locktype = 'advisory' AND pid = pg_backend_pid()), "
        " (SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM pg_prepared_statements "
        "   WHERE from_sql), "
        " (SELECT coalesce(array_agg(ch ORDER BY ch), '{}') FROM pg_listening_channels() ch), "
        " (SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM pg_cursors)").fetchone()
    for key, value in zip(("current_user", "session_user", "temp_relations", "advisory_locks",
                           "sql_prepared_statements", "listening_channels", "cursors"), row):
        obs[key] = value
    for name in CUSTOM_SETTINGS:
        value = c.execute("SELECT current_setting(%s, true)", (name,)).fetchone()[0]
        # Once any session on a backend used a custom setting, Postgres keeps a placeholder for it
        # for the backend's lifetime: after RESET / RESET ALL / DISCARD ALL it reads '' where a
        # fresh backend reads NULL. No value survives; no pooler can remove a placeholder short of
        # closing the connection. Both therefore count as "unset". Any other value is compared.
        obs[f"custom:{name}"] = None if value == "" else value
    return obs


def observe_direct(cluster) -> dict[str, Any]:
    with primary_app(cluster) as c:
        with c.transaction():
            return observe(c)


def diff(got: dict, want: dict) -> dict[str, tuple]:
    """{key: (got, want)} for every key whose value differs. A setting listed on one side only
    counts as equal when it is at its default there (a library loaded on one backend only)."""
    out = {}
    for k in sorted((set(got) | set(want)) - {"defaults:"}):
        g, w = got.get(k, "<absent>"), want.get(k, "<absent>")
        if g == w:
            continue
        if k.startswith("setting:") and ((w == "<absent>" and k in got["defaults:"]) or
                                         (g == "<absent>" and k in want["defaults:"])):
            continue
        out[k] = (g, w)
    return out


# ------------------------------------------------------------------------------------------
# pgrelay's admin console: wait until it is done with a client


def settle(con: psycopg.Connection, holder_port: int | None) -> bool:
    """Waits until pgrelay is done with every client of `app` but the holder (identified by its
    local port), and the holder either has no server or is pinned to it. Returns whether the
    holder is pinned (False when there is no holder)."""
    state: dict[str, Any] = {}

    def done() -> bool:
        clients = [r for r in rows(con, "SHOW CLIENTS") if r["database"] == "app"]
        others = [r for r in clients if holder_port is None or str(r["port"]) != str(holder_port)]
        mine = [r for r in clients if holder_port is not None and str(r["port"]) == str(holder_port)]
        pools = [r for r in rows(con, "SHOW POOLS") if r["database"] == "app" and r["target"] == "primary"]
        state.update(clients=clients, pools=pools)
        if others or (holder_port is not None and len(mine) != 1):
            return False
        pinned = bool(mine) and int(mine[0]["pins"]) != 0
        if mine and not pinned and mine[0]["server_id"]:
            return False  # still on its server (a probe, a release under way)
        active = sum(int(p["sv_active"]) for p in pools)
        if active != (1 if pinned else 0):
            return False
        state["pinned"] = pinned
        return True

    assert wait_for(done, SETTLE_TIMEOUT, 0.01), \
        f"pgrelay did not finish with its clients within {SETTLE_TIMEOUT}s: {state}"
    return state["pinned"]
