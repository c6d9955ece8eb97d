"""Session state changed by user code that a statement's text does not name: a trigger, a view, a
column default, a row-level security policy, each calling a plpgsql function that sets a custom
setting (the trigger also takes a session advisory lock).

For each construct, created on the primary after pgrelay started (so pgrelay must learn of it
from the catalogue; the test waits for pgrelay's log line naming the relation, never sleeps):
- client A runs one statement through pgrelay (transaction mode, pool of 1) and then sees its
  session exactly as the same statement leaves a direct session (its setting, its lock);
- after A disconnected, the next client's session equals a fresh direct session.
"""

from __future__ import annotations

import pytest

from helpers_core import admin, connect, primary_app, unique, wait_for
from helpers_core import console
from helpers_isolation import diff, observe, observe_direct, settle

CATALOGUE_TIMEOUT = 10.0  # seconds for pgrelay to log a new risky relation (check_interval: 1s)


@pytest.fixture
def relay(pgrelay):
    return pgrelay({"pool": {"size": 1, "wait_timeout": "2s"}})


@pytest.fixture
def schema(cluster):
    name = unique("hid")
    with admin(cluster, dbname="app") as adm:
        adm.execute(f"CREATE SCHEMA {name} AUTHORIZATION app")
    try:
        yield name
    finally:
        with admin(cluster, dbname="app") as adm:
            adm.execute(f"DROP SCHEMA {name} CASCADE")


def make_setter(c, schema: str, value: str, lock: int | None = None, returns: str = "text",
                result: str = "v") -> None:
    """{schema}.hidden(): sets myapp.tenant (and takes advisory lock `lock`), returns `result`."""
    take = f"PERFORM pg_advisory_lock({lock});" if lock is not None else ""
    c.execute(f"""CREATE FUNCTION {schema}.hidden() RETURNS {returns} LANGUAGE plpgsql AS $$
                  DECLARE v text; BEGIN {take}
                  v := set_config('myapp.tenant', '{value}', false); RETURN {result}; END $$""")


def wait_learned(relay, schema: str, relname: str) -> None:
    marker = f"+{schema}.{relname}"
    assert wait_for(lambda: marker in relay.log(), CATALOGUE_TIMEOUT, 0.02), \
        f"pgrelay did not log {marker!r} within {CATALOGUE_TIMEOUT}s"


def check_construct(cluster, relay, statement: str) -> None:
    """A's session after `statement` equals a direct session's after it; the next client's equals
    a fresh direct session's."""
    fresh = observe_direct(cluster)
    with primary_app(cluster) as d:
        d.execute(statement)
        with d.transaction():
            direct = observe(d)
    assert direct["custom:myapp.tenant"] is not None, "the construct did not run its function"

    con = console(relay)
    try:
        a = connect(relay.dsn())
        try:
            a.execute(statement)
            with a.transaction():
                mine = observe(a)
        finally:
            a.close()
        assert not diff(mine, direct), f"client A's own session differs from direct: {diff(mine, direct)}"
        settle(con, None)
        b = connect(relay.dsn())
        try:
            with b.transaction():
                theirs = observe(b)
        finally:
            b.close()
        assert not diff(theirs, fresh), f"the next client inherited state: {diff(theirs, fresh)}"
    finally:
        con.close()


def test_trigger(cluster, relay, schema):
    with primary_app(cluster) as c:
        make_setter(c, schema, "from_trigger", lock=7101, returns="trigger", result="NEW")
        c.execute(f"CREATE TABLE {schema}.audited (id int)")
        c.execute(f"CREATE TRIGGER t BEFORE INSERT ON {schema}.audited "
                  f"FOR EACH ROW EXECUTE FUNCTION {schema}.hidden()")
    wait_learned(relay, schema, "audited")
    check_construct(cluster, relay, f"INSERT INTO {schema}.audited VALUES (1)")


def test_view(cluster, relay, schema):
    with primary_app(cluster) as c:
        make_setter(c, schema, "from_view")
        c.execute(f"CREATE VIEW {schema}.v AS SELECT {schema}.hidden() AS t")
    wait_learned(relay, schema, "v")
    check_construct(cluster, relay, f"SELECT * FROM {schema}.v")


def test_view_over_a_risky_view(cluster, relay, schema):
    """A view that names no function but reads one that does is risky too."""
    with primary_app(cluster) as c:
        make_setter(c, schema, "from_inner_view")
        c.execute(f"CREATE VIEW {schema}.inner_v AS SELECT {schema}.hidden() AS t")
        c.execute(f"CREATE VIEW {schema}.outer_v AS SELECT t FROM {schema}.inner_v")
    wait_learned(relay, schema, "outer_v")
    check_construct(cluster, relay, f"SELECT * FROM {schema}.outer_v")


def test_column_default(cluster, relay, schema):
    with primary_app(cluster) as c:
        make_setter(c, schema, "from_default")
        c.execute(f"CREATE TABLE {schema}.defaulted (id int, tag text DEFAULT {schema}.hidden())")
    wait_learned(relay, schema, "defaulted")
    check_construct(cluster, relay, f"INSERT INTO {schema}.defaulted (id) VALUES (1)")


def test_rls_policy(cluster, relay, schema):
    with primary_app(cluster) as c:
        make_setter(c, schema, "from_policy", returns="boolean", result="true")
        c.execute(f"CREATE TABLE {schema}.guarded (id int)")
        c.execute(f"INSERT INTO {schema}.guarded VALUES (1)")
        c.execute(f"CREATE POLICY p ON {schema}.guarded USING ({schema}.hidden())")
        # app owns the table: without FORCE the owner bypasses its policies
        c.execute(f"ALTER TABLE {schema}.guarded ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
    wait_learned(relay, schema, "guarded")
    check_construct(cluster, relay, f"SELECT id FROM {schema}.guarded")


def test_unqualified_name_through_search_path(cluster, relay, schema):
    """The statement names the view without its schema: search_path finds it, and pgrelay, which
    does not resolve names, treats a bare name matching a risky relation of any schema as risky."""
    with primary_app(cluster) as c:
        make_setter(c, schema, "from_bare_name")
        c.execute(f"CREATE VIEW {schema}.bare_v AS SELECT {schema}.hidden() AS t")
    wait_learned(relay, schema, "bare_v")
    fresh = observe_direct(cluster)
    con = console(relay)
    try:
        a = connect(relay.dsn())
        try:
            a.execute(f"SET search_path TO {schema}, public")
            assert a.execute("SELECT t FROM bare_v").fetchone()[0] == "from_bare_name"
            assert a.execute("SELECT current_setting('myapp.tenant')").fetchone()[0] == "from_bare_name"
        finally:
            a.close()
        settle(con, None)
        b = connect(relay.dsn())
        try:
            with b.transaction():
                theirs = observe(b)
        finally:
            b.close()
        assert not diff(theirs, fresh), f"the next client inherited state: {diff(theirs, fresh)}"
    finally:
        con.close()
