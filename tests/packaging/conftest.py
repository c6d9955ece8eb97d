"""Shared helpers for the packaging tests (tests/packaging): the JSON Schemas, a YAML 1.2 loader,
and the pgrelay binary used to cross-check the schema against the real loader.

Run with Debian's interpreter: /usr/bin/python3 -m pytest -q tests/packaging
Env: PGRELAY_BIN (default build/dev/proxy/pgrelay): the binary whose --check-config is the
reference; PGRELAY_DEB: a built .deb to inspect (scripts/package.sh prints its path);
PGRELAY_TEST_DPKG_INSTALL=1 (as root): also install it with dpkg, check it, and purge it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGING = REPO_ROOT / "packaging"
CONFIG_SCHEMA = PACKAGING / "pgrelay.schema.json"
USERS_SCHEMA = PACKAGING / "pgrelay-users.schema.json"
DATA = Path(__file__).resolve().parent / "data"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    pass


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 core schema, as yaml-language-server reads a file by default and as pgrelay's
    loader (yaml-cpp) sees scalars: `off`/`yes` are strings, no timestamps, no sexagesimal
    numbers, `<<` is an ordinary key (no merge), and a repeated key is an error."""

    yaml_implicit_resolvers: dict = {}

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise DuplicateKeyError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 16) if text.startswith("0x") else int(text, 10)  # 010 is ten in 1.2


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", Yaml12Loader.construct_yaml_int)


for _tag, _regex, _first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+0123456789."),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
]:
    Yaml12Loader.add_implicit_resolver(_tag, re.compile(_regex), list(_first))


def load_yaml(text: str):
    return yaml.load(text, Loader=Yaml12Loader)


def schema_errors(validator, document) -> list[str]:
    """Every schema violation as 'path: message', sorted; [] when valid."""
    out = []
    for e in validator.iter_errors(document):
        path = ".".join(str(p) for p in e.absolute_path) or "<root>"
        out.append(f"{path}: {e.message}")
    return sorted(out)


@pytest.fixture(scope="session")
def config_schema() -> dict:
    return json.loads(CONFIG_SCHEMA.read_text())


@pytest.fixture(scope="session")
def users_schema() -> dict:
    return json.loads(USERS_SCHEMA.read_text())


@pytest.fixture(scope="session")
def config_validator(config_schema):
    import jsonschema  # python3-jsonschema (scripts/install-deps.sh)
    jsonschema.Draft7Validator.check_schema(config_schema)
    return jsonschema.Draft7Validator(config_schema)


@pytest.fixture(scope="session")
def users_validator(users_schema):
    import jsonschema
    jsonschema.Draft7Validator.check_schema(users_schema)
    return jsonschema.Draft7Validator(users_schema)


def pgrelay_bin() -> Path:
    p = Path(os.environ.get("PGRELAY_BIN", str(REPO_ROOT / "build" / "dev" / "proxy" / "pgrelay")))
    return p if p.is_absolute() else REPO_ROOT / p


@pytest.fixture(scope="session")
def check_config():
    """check_config(path) -> (ok, output) from `pgrelay --check-config`; skips without a binary."""
    binary = pgrelay_bin()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no pgrelay binary at {binary} (build the dev preset or set PGRELAY_BIN)")

    def run(path: Path) -> tuple[bool, str]:
        r = subprocess.run([str(binary), "--check-config", str(path)], capture_output=True,
                           text=True, timeout=30)
        return r.returncode == 0, r.stdout + r.stderr

    return run
