"""The Debian package built by scripts/package.sh (path in PGRELAY_DEB): its files, modes,
conffiles, maintainer scripts and dependencies; and, as root with PGRELAY_TEST_DPKG_INSTALL=1,
a real `dpkg -i`, a reinstall, checks of the installed system, and `dpkg -P` leaving nothing."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PACKAGING

CONFFILES = ["/etc/pgrelay/pgrelay.yaml", "/etc/pgrelay/users.yaml"]
# path -> mode, for every file the package ships (directories are not listed).
FILES = {
    "/usr/bin/pgrelay": 0o755,
    "/lib/systemd/system/pgrelay.service": 0o644,
    "/etc/pgrelay/pgrelay.yaml": 0o640,
    "/etc/pgrelay/users.yaml": 0o640,
    "/usr/share/pgrelay/pgrelay.schema.json": 0o644,
    "/usr/share/pgrelay/pgrelay-users.schema.json": 0o644,
    "/usr/share/pgrelay/pgrelay-auth.sql": 0o644,
    "/usr/share/doc/pgrelay/README.md": 0o644,
    "/usr/share/doc/pgrelay/configuration.md": 0o644,
    "/usr/share/doc/pgrelay/examples/pgrelay.yaml": 0o644,
    "/usr/share/doc/pgrelay/examples/users.yaml": 0o644,
}


def run(*cmd: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def deb() -> Path:
    value = os.environ.get("PGRELAY_DEB")
    if not value:
        pytest.skip("PGRELAY_DEB not set: build one with scripts/package.sh (scripts/test.sh does)")
    path = Path(value)
    assert path.is_file(), f"PGRELAY_DEB={value} does not exist"
    return path


@pytest.fixture(scope="module")
def extracted(deb, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("deb")
    r = run("dpkg-deb", "-R", str(deb), str(root))
    assert r.returncode == 0, r.stderr
    return root


def test_files_modes_and_owners(deb):
    r = run("dpkg-deb", "-c", str(deb))
    assert r.returncode == 0, r.stderr
    shipped = {}
    for line in r.stdout.splitlines():
        mode, owner, _size, _date, _time, path = line.split(None, 5)
        assert owner == "root/root", line
        if not mode.startswith("d"):
            shipped["/" + path.removeprefix("./")] = mode
    want = {p: stat.filemode(stat.S_IFREG | m) for p, m in FILES.items()}
    assert shipped == want


def test_control_fields(deb):
    r = run("dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Depends")
    assert r.returncode == 0, r.stderr
    fields = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    assert fields["Package"] == "pgrelay"
    assert re.fullmatch(r"\d+\.\d+\.\d+", fields["Version"])
    assert fields["Architecture"] == run("dpkg", "--print-architecture").stdout.strip()
    depends = {d.strip().split(" ")[0] for d in fields["Depends"].split(",")}
    # adduser for postinst; the rest computed by dpkg-shlibdeps from the binary.
    assert {"adduser", "libc6", "libstdc++6", "libpq5", "libssl3"} <= depends, depends
    assert any(d.startswith("libyaml-cpp") for d in depends), depends


def test_conffiles_and_maintainer_scripts(extracted):
    control = extracted / "DEBIAN"
    assert (control / "conffiles").read_text().split() == CONFFILES
    for script in ("postinst", "prerm", "postrm"):
        path = control / script
        assert path.stat().st_mode & 0o777 == 0o755, script
        r = run("sh", "-n", str(path))
        assert r.returncode == 0, f"{script}: {r.stderr}"
        assert "@" not in path.read_text(), f"{script}: unreplaced @VARIABLE@"


def test_packaged_files_are_the_repository_ones(extracted):
    assert (extracted / "lib/systemd/system/pgrelay.service").read_text() == \
        (PACKAGING / "pgrelay.service").read_text()
    assert (extracted / "etc/pgrelay/pgrelay.yaml").read_text() == \
        (PACKAGING / "deb" / "pgrelay.yaml").read_text()
    assert (extracted / "usr/share/pgrelay/pgrelay.schema.json").read_text() == \
        (PACKAGING / "pgrelay.schema.json").read_text()


def test_packaged_binary_checks_the_packaged_config(extracted):
    r = run(str(extracted / "usr/bin/pgrelay"), "--check-config",
            str(extracted / "etc/pgrelay/pgrelay.yaml"), timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- dpkg -i / dpkg -P on this machine ------------------------------------------------------


def dpkg(*args: str) -> subprocess.CompletedProcess:
    """dpkg, waiting (up to 3 minutes) while apt or another dpkg holds the lock."""
    deadline = time.monotonic() + 180
    while True:
        r = run("dpkg", *args, timeout=300, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if r.returncode == 0 or "lock" not in r.stderr or time.monotonic() > deadline:
            return r
        time.sleep(3)


def leftovers() -> list[str]:
    """What an installed (or badly purged) pgrelay leaves on the system, besides its user."""
    out = [p for p in ("/usr/bin/pgrelay", "/etc/pgrelay", "/lib/systemd/system/pgrelay.service",
                       "/etc/systemd/system/pgrelay.service",
                       "/var/lib/systemd/deb-systemd-helper-enabled/pgrelay.service.dsh-also",
                       "/var/lib/systemd/deb-systemd-helper-masked/pgrelay.service")
           if os.path.lexists(p)]
    overrides = run("dpkg-statoverride", "--list").stdout
    out += [line for line in overrides.splitlines() if "/etc/pgrelay" in line]
    return out


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture
def installed(deb):
    if os.environ.get("PGRELAY_TEST_DPKG_INSTALL") != "1":
        pytest.skip("set PGRELAY_TEST_DPKG_INSTALL=1 (as root) to dpkg -i the package here")
    if os.geteuid() != 0:
        pytest.skip("dpkg -i needs root")
    status = run("dpkg-query", "-W", "-f=${Status}", "pgrelay").stdout
    if "installed" in status or leftovers():
        pytest.skip(f"pgrelay is already on this machine ({status or leftovers()}); not touching it")
    had_user = user_exists("pgrelay")
    try:
        r = dpkg("-i", str(deb))
        assert r.returncode == 0, r.stdout + r.stderr
        yield r
    finally:
        purge = dpkg("-P", "pgrelay")
        if not had_user:
            run("deluser", "--system", "--quiet", "pgrelay")
            run("delgroup", "--system", "--quiet", "pgrelay")
        assert purge.returncode == 0, purge.stdout + purge.stderr
    assert leftovers() == []


def test_dpkg_install_and_purge(installed, deb):
    assert "systemctl enable --now pgrelay" in installed.stdout  # not started before configured
    user = pwd.getpwnam("pgrelay")
    assert user.pw_shell == "/usr/sbin/nologin" and user.pw_uid < 1000
    gid = grp.getgrnam("pgrelay").gr_gid
    for path in CONFFILES:
        st = os.stat(path)
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, gid), path
    assert os.stat("/usr/bin/pgrelay").st_mode & 0o777 == 0o755

    # The service user reads its config through the group, and the packaged config validates.
    r = run("runuser", "-u", "pgrelay", "--", "/usr/bin/pgrelay", "--check-config",
            "/etc/pgrelay/pgrelay.yaml", timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr

    # As installed it must not start: users come from Postgres through the auth role, whose
    # password the admin has not given yet. The error names what to set. Exit status 2 is the one
    # the unit does not restart on (RestartPreventExitStatus=2).
    proc = subprocess.Popen(["runuser", "-u", "pgrelay", "--", "env", "-u", "PGRELAY_AUTH_PASSWORD",
                             "/usr/bin/pgrelay", "--config", "/etc/pgrelay/pgrelay.yaml"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("pgrelay started without the auth role's password")
    assert proc.returncode == 2, out + err
    assert "PGRELAY_AUTH_PASSWORD" in err, err

    # The installed unit verifies with its real paths.
    if shutil.which("systemd-analyze"):
        r = run("systemd-analyze", "verify", "/lib/systemd/system/pgrelay.service", timeout=60)
        assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr

    # A reinstall over itself (the upgrade path: prerm upgrade, postinst configure <version>)
    # keeps the modes (stat overrides) and an edited conffile.
    with open("/etc/pgrelay/pgrelay.yaml", "a") as f:
        f.write("# local edit\n")
    r = dpkg("--force-confold", "-i", str(deb))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "# local edit" in Path("/etc/pgrelay/pgrelay.yaml").read_text()
    st = os.stat("/etc/pgrelay/users.yaml")
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o640, gid)
