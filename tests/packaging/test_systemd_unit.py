"""packaging/pgrelay.service: systemd accepts it, its hardening does not regress, and it agrees
with the CLI and with the config's shutdown_timeout."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import PACKAGING, load_yaml, pgrelay_bin

UNIT = PACKAGING / "pgrelay.service"


def unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def seconds(text: str) -> int:
    m = re.fullmatch(r"(\d+)(s|min|m|h)?", text)
    assert m, text
    return int(m.group(1)) * {None: 1, "s": 1, "min": 60, "m": 60, "h": 3600}[m.group(2)]


@pytest.fixture
def unit_copy(tmp_path):
    """The unit with /usr/bin/pgrelay pointing at an executable that exists here: offline verify
    checks every Exec path, and the package need not be installed."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (package systemd)")
    stub = tmp_path / "pgrelay"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copy = tmp_path / "pgrelay.service"
    copy.write_text(UNIT.read_text().replace("/usr/bin/pgrelay", str(stub)))
    return analyze, copy


def test_systemd_analyze_verify(unit_copy):
    analyze, copy = unit_copy
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                       timeout=60, cwd=copy.parent)
    # verify exits 0 on an unknown or misspelt key and only warns: any output is a failure.
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


def test_hardening_exposure(unit_copy):
    """`systemd-analyze security` scores exposure 0-10 (lower is better); keep it at 2.0 or less."""
    analyze, copy = unit_copy
    r = subprocess.run([analyze, "security", "--offline=yes", "--threshold=20", str(copy)],
                       capture_output=True, text=True, timeout=60, cwd=copy.parent)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr


def test_unit_matches_cli_and_config():
    s = unit_settings()
    assert s["Type"] == ["notify"]
    assert s["ExecStart"] == ["/usr/bin/pgrelay --config /etc/pgrelay/pgrelay.yaml"]
    assert s["ExecStartPre"] == ["/usr/bin/pgrelay --check-config /etc/pgrelay/pgrelay.yaml"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert s["User"] == ["pgrelay"] and s["Group"] == ["pgrelay"]
    assert s["RuntimeDirectory"] == ["pgrelay"]
    # systemd must not SIGKILL pgrelay while it is still draining for shutdown_timeout.
    shipped = load_yaml((PACKAGING / "deb" / "pgrelay.yaml").read_text())
    assert seconds(s["TimeoutStopSec"][0]) >= seconds(shipped["shutdown_timeout"]) + 10
    # The shipped unix socket is where the unit lets pgrelay write (PrivateTmp hides /tmp).
    sockets = [a for a in shipped["listen"] if a.startswith("unix:")]
    assert sockets and all(a.startswith("unix:/run/pgrelay/") for a in sockets)


def test_cli_has_the_options_the_unit_uses():
    binary = pgrelay_bin()
    if not binary.exists():
        pytest.skip(f"no pgrelay binary at {binary}")
    usage = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=10).stdout
    assert "--check-config FILE" in usage and "[--config] FILE" in usage
