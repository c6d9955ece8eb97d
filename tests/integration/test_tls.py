"""TLS on both legs: clients → pgrelay (allow / require, verify-full, SCRAM-SHA-256-PLUS with
libpq's channel_binding=require) and pgrelay → Postgres (prefer / require / verify-ca /
verify-full, channel binding towards the server, cancels over TLS).

Every certificate is made here by a throwaway CA (openssl tool). The primary gets ssl=on for this
module only (ALTER SYSTEM, reset at the end); the replicas stay plaintext, which gives a server
that refuses TLS."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from conftest import HOST, write_json
from helpers_core import (admin, connect, parse_error, raw_socket, read_message,
                          ssl_request, startup_packet, wait_for)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
            cwd=d)


def make_leaf(d: Path, name: str, ca: str, sans: str) -> None:
    (d / f"{name}.ext").write_text(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-sha256",
            "-extfile", f"{name}.ext", cwd=d)
    os.chmod(d / f"{name}.key", 0o600)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tls")
    make_ca(d, "ca")
    make_ca(d, "other-ca")  # signs nothing we use: the wrong CA for verify-* tests
    make_leaf(d, "pgrelay", "ca", "DNS:localhost,IP:127.0.0.1")
    make_leaf(d, "postgres", "ca", "DNS:localhost,IP:127.0.0.1")
    return d


@pytest.fixture(scope="module")
def primary_tls(cluster, certs):
    """ssl=on on the primary with a certificate from our CA, for this module."""
    data_root = Path(cluster.env["DATA_ROOT"])
    tls_dir = data_root / "tls"
    tls_dir.mkdir(exist_ok=True)
    pg = pwd.getpwnam("postgres")
    for name in ("postgres.crt", "postgres.key"):
        shutil.copy(certs / name, tls_dir / name)
        os.chown(tls_dir / name, pg.pw_uid, pg.pw_gid)
    os.chmod(tls_dir / "postgres.key", 0o600)
    with admin(cluster) as adm:
        adm.execute(f"ALTER SYSTEM SET ssl_cert_file = '{tls_dir / 'postgres.crt'}'")
        adm.execute(f"ALTER SYSTEM SET ssl_key_file = '{tls_dir / 'postgres.key'}'")
        adm.execute("ALTER SYSTEM SET ssl = on")
        adm.execute("SELECT pg_reload_conf()")
    assert wait_for(lambda: _primary_ssl(cluster) == "on", timeout=15), "the primary did not turn ssl on"
    yield
    with admin(cluster) as adm:
        for name in ("ssl", "ssl_cert_file", "ssl_key_file"):
            adm.execute(f"ALTER SYSTEM RESET {name}")
        adm.execute("SELECT pg_reload_conf()")
    assert wait_for(lambda: _primary_ssl(cluster) == "off", timeout=15), "the primary did not turn ssl off"


def _primary_ssl(cluster) -> str:
    with admin(cluster) as adm:
        return adm.execute("SHOW ssl").fetchone()[0]


def client_tls(certs: Path, mode: str) -> dict:
    return {"tls": {"client": {"mode": mode, "cert": str(certs / "pgrelay.crt"),
                               "key": str(certs / "pgrelay.key")}}}


def server_ssl_in_use(conn: psycopg.Connection) -> bool:
    """Whether pgrelay's connection to Postgres (the one serving this query) is encrypted."""
    return conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]


# ---- clients → pgrelay ------------------------------------------------------------------------


def test_allow_serves_tls_and_plaintext_clients(pgrelay, certs):
    relay = pgrelay(overrides=client_tls(certs, "allow"))
    with connect(relay.dsn(sslmode="require")) as c:
        assert c.pgconn.ssl_in_use
        assert c.execute("SELECT 1").fetchone() == (1,)
    with connect(relay.dsn(sslmode="disable")) as c:
        assert not c.pgconn.ssl_in_use
        assert c.execute("SELECT 2").fetchone() == (2,)
    # libpq's default (prefer) takes TLS when offered.
    with connect(relay.dsn(sslmode="prefer")) as c:
        assert c.pgconn.ssl_in_use


def test_verify_full_checks_pgrelay_certificate(pgrelay, certs):
    relay = pgrelay(overrides=client_tls(certs, "allow"))
    for host in (HOST, "localhost"):
        with connect(relay.dsn(host=host, sslmode="verify-full",
                               sslrootcert=str(certs / "ca.crt"))) as c:
            assert c.pgconn.ssl_in_use
            assert c.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        connect(relay.dsn(sslmode="verify-full", sslrootcert=str(certs / "other-ca.crt")))


def test_channel_binding_require(pgrelay, certs):
    relay = pgrelay(overrides=client_tls(certs, "allow"))
    with connect(relay.dsn(sslmode="require", channel_binding="require")) as c:
        assert c.pgconn.ssl_in_use
        assert c.execute("SELECT 1").fetchone() == (1,)
    # A wrong password still fails under channel binding.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(relay.dsn(password="wrong", sslmode="require", channel_binding="require"))
    # Without TLS there is nothing to bind to: libpq refuses, as against Postgres.
    with pytest.raises(psycopg.OperationalError, match="channel binding"):
        connect(relay.dsn(sslmode="disable", channel_binding="require"))


def test_require_refuses_plaintext_before_authentication(pgrelay, certs):
    relay = pgrelay(overrides=client_tls(certs, "require"))
    with pytest.raises(psycopg.OperationalError, match="TLS is required"):
        connect(relay.dsn(sslmode="disable"))
    # The refusal is a proper ErrorResponse with SQLSTATE 28000, sent before any SASL request.
    with raw_socket(relay.port) as s:
        s.sendall(startup_packet({"user": "app", "database": "app"}))
        tag, body = read_message(s)
        assert tag == b"E"
        assert parse_error(body)["C"] == "28000"
    with connect(relay.dsn(sslmode="require", channel_binding="require")) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    # The admin console is behind the same rule.
    with pytest.raises(psycopg.OperationalError, match="TLS is required"):
        connect(relay.dsn(user="admin", password="admin", dbname="pgrelay", sslmode="disable"))
    # A Unix socket is local: libpq never uses TLS there, and pgrelay does not ask for it.
    with connect(relay.unix_dsn(sslmode="disable")) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    assert "TLS is required" in relay.log()


def test_plaintext_bytes_after_ssl_request_are_refused(pgrelay, certs):
    relay = pgrelay(overrides=client_tls(certs, "allow"))
    with raw_socket(relay.port) as s:
        # A startup packet glued to the SSLRequest would be read as if it came through TLS.
        s.sendall(ssl_request() + startup_packet({"user": "app", "database": "app"}))
        tag, body = read_message(s)
        assert tag == b"E"
        fields = parse_error(body)
        assert fields["C"] == "08P01"
        assert "unencrypted data after SSL request" in fields["M"]
    with connect(relay.dsn(sslmode="require")) as c:  # the listener is fine
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_disable_says_no_to_tls(pgrelay):
    relay = pgrelay()
    with pytest.raises(psycopg.OperationalError, match="does not support SSL"):
        connect(relay.dsn(sslmode="require"))
    with raw_socket(relay.port) as s:
        s.sendall(ssl_request())
        assert s.recv(1) == b"N"


def test_unsafe_key_file_refuses_to_start(pgrelay, certs, tmp_path):
    relay = pgrelay()
    key = tmp_path / "open.key"
    shutil.copy(certs / "pgrelay.key", key)
    os.chmod(key, 0o644)
    cfg = dict(relay.config)
    cfg["tls"] = {"client": {"mode": "allow", "cert": str(certs / "pgrelay.crt"), "key": str(key)}}
    cfg["listen"] = [f"{HOST}:1"]  # never bound: the check comes first
    path = relay.dir / "open-key.yaml"
    write_json(path, cfg)
    r = subprocess.run([str(relay.proc.args[0]), "--config", str(path)], capture_output=True,
                       text=True, timeout=30, cwd=relay.dir)
    assert r.returncode == 2, r.stderr
    assert "tls.client.key" in r.stderr and "group or world access" in r.stderr


def test_reload_rejects_a_missing_certificate_and_keeps_serving(pgrelay, certs):
    relay = pgrelay(overrides=client_tls(certs, "allow"))
    relay.reload({"tls": {"client": {"cert": str(certs / "missing.crt")}}})
    assert wait_for(lambda: "missing.crt" in relay.log(), timeout=10), "the failed reload was not logged"
    with connect(relay.dsn(sslmode="require", channel_binding="require")) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_reload_rotates_the_certificate(pgrelay, certs, tmp_path):
    relay = pgrelay(overrides=client_tls(certs, "allow"))
    verify = {"sslmode": "verify-full", "sslrootcert": str(certs / "other-ca.crt")}
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        connect(relay.dsn(**verify))
    for name in ("other-ca.crt", "other-ca.key"):
        shutil.copy(certs / name, tmp_path / name)
    make_leaf(tmp_path, "rotated", "other-ca", "IP:127.0.0.1")
    relay.reload({"tls": {"client": {"cert": str(tmp_path / "rotated.crt"), "key": str(tmp_path / "rotated.key")}}})
    assert wait_for(lambda: _connects(relay.dsn(**verify)), timeout=10), "the rotated certificate was not taken"
    with connect(relay.dsn(**verify, channel_binding="require")) as c:
        assert c.execute("SELECT 1").fetchone() == (1,)


def _connects(conninfo: str) -> bool:
    try:
        connect(conninfo).close()
        return True
    except psycopg.OperationalError:
        return False


# ---- pgrelay → Postgres -----------------------------------------------------------------------


def test_prefer_uses_tls_when_the_server_offers_it(pgrelay, primary_tls):
    relay = pgrelay()  # tls.server.mode defaults to prefer
    with connect(relay.dsn()) as c:
        assert server_ssl_in_use(c)
    off = pgrelay(overrides={"tls": {"server": {"mode": "disable"}}})
    with connect(off.dsn()) as c:
        assert not server_ssl_in_use(c)


def test_verify_full_towards_postgres(pgrelay, cluster, certs, primary_tls):
    for host in (HOST, "localhost"):
        relay = pgrelay(overrides={
            "tls": {"server": {"mode": "verify-full", "ca": str(certs / "ca.crt")}},
            "databases": {"app": {"primary": f"{host}:{cluster.primary_port}"}},
        })
        with connect(relay.dsn()) as c:
            # SCRAM over this TLS link used SCRAM-SHA-256-PLUS: a wrong binding would have failed.
            assert server_ssl_in_use(c)
            assert c.execute("SELECT 1").fetchone() == (1,)


def test_verify_ca_with_the_wrong_ca_fails_clearly(pgrelay, certs, primary_tls):
    relay = pgrelay(overrides={
        "tls": {"server": {"mode": "verify-ca", "ca": str(certs / "other-ca.crt")}},
        "pool": {"connect_timeout": "2s"},
    })
    with pytest.raises(psycopg.OperationalError, match="TLS handshake with server"):
        connect(relay.dsn())
    assert "certificate verify failed" in relay.log()


def test_require_against_a_plaintext_server_fails(pgrelay, cluster, primary_tls):
    # The replicas keep ssl=off.
    relay = pgrelay(overrides={
        "tls": {"server": {"mode": "require"}},
        "databases": {"app": {"primary": f"{HOST}:{cluster.replica_ports[0]}"}},
        "pool": {"connect_timeout": "2s"},
    })
    with pytest.raises(psycopg.OperationalError, match="does not support TLS"):
        connect(relay.dsn())
    prefer = pgrelay(overrides={
        "databases": {"app": {"primary": f"{HOST}:{cluster.replica_ports[0]}"}},
    })
    with connect(prefer.dsn()) as c:  # prefer falls back to plaintext
        assert not server_ssl_in_use(c)


def test_cancel_goes_over_tls(pgrelay, certs, primary_tls):
    relay = pgrelay(overrides={
        **client_tls(certs, "require"),
        "tls": {**client_tls(certs, "require")["tls"],
                "server": {"mode": "verify-full", "ca": str(certs / "ca.crt")}},
    })
    with connect(relay.dsn(sslmode="require", channel_binding="require")) as c:
        assert server_ssl_in_use(c)
        t0 = time.monotonic()
        timer = threading.Timer(0.5, c.cancel)
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            c.execute("SELECT pg_sleep(20)")
        timer.join()
        assert time.monotonic() - t0 < 10
        assert c.execute("SELECT 1").fetchone() == (1,)


def test_console_shows_tls_on_both_legs(pgrelay, certs, primary_tls):
    relay = pgrelay(overrides={"tls": {**client_tls(certs, "allow")["tls"], "server": {"mode": "require"}},
                               "pool": {"mode": "session"}})
    with connect(relay.dsn(sslmode="require", application_name="tls-viewer")), \
            connect(relay.dsn(user="admin", password="admin", dbname="pgrelay", sslmode="disable")) as con:
        cur = con.execute("SHOW CLIENTS")
        names = [d.name for d in cur.description]
        clients = [dict(zip(names, r)) for r in cur.fetchall()]
        viewer = [cl for cl in clients if cl["application_name"] == "tls-viewer"]
        assert viewer and viewer[0]["tls"].startswith("TLSv1.")
        cur = con.execute("SHOW SERVERS")
        names = [d.name for d in cur.description]
        servers = [dict(zip(names, r)) for r in cur.fetchall()]
        assert servers and all(sv["tls"].startswith("TLSv1.") for sv in servers)
    assert "tls=TLSv1." in relay.log()


def test_passthrough_keeps_channel_binding_on_both_legs(pgrelay, cluster, certs, primary_tls):
    """The client binds its proof to pgrelay's certificate (channel_binding=require); pgrelay logs
    in to Postgres as that client with the revealed keys, bound to Postgres's certificate."""
    from helpers_auth import install_auth_function, passthrough_config
    install_auth_function(cluster)
    overrides = passthrough_config()
    overrides.update(client_tls(certs, "require"))
    overrides["tls"]["server"] = {"mode": "verify-full", "ca": str(certs / "ca.crt")}
    relay = pgrelay(overrides=overrides)
    with connect(relay.dsn(sslmode="require", channel_binding="require")) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == "app"
        assert server_ssl_in_use(c)
