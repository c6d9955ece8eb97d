"""packaging/pgrelay.schema.json against the real loader: every config pgrelay accepts (the
shipped examples, the examples in the docs, the integration tests' base config, data/good) is
valid; every broken one in the conf golden corpus and in data/bad is rejected, for the reason
each file names. And the schema and docs/configuration.md name the same keys."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from conftest import (DATA, PACKAGING, REPO_ROOT, DuplicateKeyError, load_yaml, schema_errors)

GOLDEN_BAD = REPO_ROOT / "tests" / "unit" / "data" / "conf" / "bad"
DOCS = REPO_ROOT / "docs" / "configuration.md"

# Golden cases whose only errors are ones a schema cannot express (cross-field rules, lengths
# after path resolution...): `pgrelay --check-config` catches them. Keep this short.
SCHEMA_BLIND: dict[str, str] = {}


def yaml_blocks(markdown: Path) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", markdown.read_text(), flags=re.M | re.S)


def good_configs() -> dict[str, str]:
    """name -> YAML text of every configuration pgrelay is meant to accept."""
    out = {
        "packaging/pgrelay.yaml": (PACKAGING / "pgrelay.yaml").read_text(),
        "packaging/deb/pgrelay.yaml": (PACKAGING / "deb" / "pgrelay.yaml").read_text(),
    }
    for doc in (DOCS, REPO_ROOT / "README.md"):
        for i, block in enumerate(yaml_blocks(doc)):
            if re.search(r"^listen:", block, flags=re.M):
                out[f"{doc.relative_to(REPO_ROOT)}#{i}"] = block
    for path in sorted((DATA / "good").glob("*.yaml")):
        out[f"good/{path.name}"] = path.read_text()
    out["tests/integration base_config"] = yaml.safe_dump(integration_base_config())
    return out


def integration_base_config() -> dict:
    """The config every integration test starts pgrelay with (tests/integration/conftest.py)."""
    path = REPO_ROOT / "tests" / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("pgrelay_integration_conftest", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    cluster = mod.Cluster(dir=Path("/nonexistent"), env={
        "PRIMARY_PORT": "5432", "REPLICA_COUNT": "2", "REPLICA1_PORT": "5433", "REPLICA2_PORT": "5434"})
    return mod.base_config(cluster, 6432, "/tmp")


GOOD = good_configs()


@pytest.mark.parametrize("name", sorted(GOOD))
def test_schema_accepts_good_config(name, config_validator):
    assert schema_errors(config_validator, load_yaml(GOOD[name])) == []


@pytest.mark.parametrize("name", sorted(GOOD))
def test_loader_accepts_good_config(name, check_config, tmp_path):
    """What the schema is checked against must really be valid: the same file through
    `pgrelay --check-config` (so the schema is never stricter than pgrelay on these)."""
    path = tmp_path / "pgrelay.yaml"
    path.write_text(GOOD[name])
    ok, output = check_config(path)
    assert ok, output


def bad_cases() -> dict[str, Path]:
    out = {f"golden/{p.name}": p for p in sorted(GOLDEN_BAD.glob("*.yaml"))}
    out.update({f"bad/{p.name}": p for p in sorted((DATA / "bad").glob("*.yaml"))})
    return out


BAD = bad_cases()


@pytest.mark.parametrize("name", sorted(BAD))
def test_schema_rejects_bad_config(name, config_validator):
    path = BAD[name]
    if path.name in SCHEMA_BLIND:
        pytest.skip(f"beyond a schema: {SCHEMA_BLIND[path.name]}")
    try:
        document = load_yaml(path.read_text())
    except DuplicateKeyError:
        return  # a YAML 1.2 reader refuses it before any schema, as pgrelay does
    except yaml.YAMLError:
        return  # not YAML at all
    errors = schema_errors(config_validator, document)
    assert errors, f"{name}: the schema accepts a config pgrelay rejects"
    want = re.search(r"^# schema: (\S+)", path.read_text(), flags=re.M)
    if want:  # data/bad files name where the schema must object
        assert any(e.split(": ", 1)[0] == want.group(1) for e in errors), errors


@pytest.mark.parametrize("name", sorted(n for n in BAD if n.startswith("bad/")))
def test_loader_rejects_bad_config(name, check_config):
    ok, output = check_config(BAD[name])
    assert not ok, f"pgrelay accepts {name}, so the schema must too:\n{output}"


def test_shipped_users_files(users_validator):
    documented = load_yaml((PACKAGING / "users.yaml").read_text())
    assert schema_errors(users_validator, documented) == []
    # The installed one only explains the format: no user, so pgrelay will not start on it.
    installed = load_yaml((PACKAGING / "deb" / "users.yaml").read_text())
    assert installed is None
    assert schema_errors(users_validator, {"users": {"app": {"password": "app"}}})
    assert schema_errors(users_validator, {"users": {"app": {"scram": "md5abc"}}})
    assert schema_errors(users_validator, {"users": {}})


# ---- the schema and docs/configuration.md name the same keys ----------------------------


def doc_key_paths() -> dict[str, set[str]]:
    """Key paths documented in docs/configuration.md (first column of the key tables and the
    section headings), split into the config file's and the users file's, with `<name>` → `*`."""
    config_keys, users_keys = set(), set()
    section = ""
    for line in DOCS.read_text().splitlines():
        heading = re.match(r"^#+ (.*)", line)
        if heading:
            section = heading.group(1)
            cells = [re.match(r"^`([a-z_][\w.*<>\[\]]*)`$", section)]
        else:
            cells = [re.match(r"^\| `([a-z_][\w.*<>\[\]]*)` \|", line)]
        for m in cells:
            if not m:
                continue
            key = re.sub(r"<[a-z]+>", "*", m.group(1))
            (users_keys if section == "The users file" else config_keys).add(key)
    return {"config": config_keys, "users": users_keys}


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def schema_node(schema: dict, path: str) -> dict | None:
    """The schema of a documented key path like `databases.*.replicas[].max_lag.bytes`."""
    node = schema
    for part in path.split("."):
        is_list = part.endswith("[]")
        name = part[:-2] if is_list else part
        node = resolve(schema, node)
        child = node.get("additionalProperties") if name == "*" else node.get("properties", {}).get(name)
        if not isinstance(child, dict):
            return None
        node = resolve(schema, child)
        if is_list:
            node = node.get("items")
            if node is None:
                return None
    return node


def schema_leaf_paths(schema: dict, node: dict | None = None, prefix: str = "") -> set[str]:
    """Every key path the schema defines, spelled as the docs spell them."""
    node = resolve(schema, node if node is not None else schema)
    out = set()
    children = dict(node.get("properties", {}))
    if isinstance(node.get("additionalProperties"), dict):
        children["*"] = node["additionalProperties"]
    for name, child in children.items():
        path = f"{prefix}.{name}" if prefix else name
        child = resolve(schema, child)
        if "items" in child and "object" in str(resolve(schema, child["items"]).get("type")):
            path += "[]"
            child = resolve(schema, child["items"])
        if name != "*":
            out.add(path)
        if path.endswith(".pool"):
            continue  # pool overrides: documented once, as pool.*
        out |= schema_leaf_paths(schema, child, path)
    return out


def test_docs_keys_are_in_the_schema(config_schema, users_schema):
    keys = doc_key_paths()
    assert len(keys["config"]) >= 45, sorted(keys["config"])  # the parser still finds the tables
    missing = sorted(k for k in keys["config"] if schema_node(config_schema, k) is None)
    assert missing == [], "documented in docs/configuration.md, absent from pgrelay.schema.json"
    assert keys["users"] == {"users", "users.*.scram"}
    assert all(schema_node(users_schema, k) for k in keys["users"])


def test_schema_keys_are_documented(config_schema):
    documented = doc_key_paths()["config"]
    # A mapping counts as documented through its keys (`max_lag` through `max_lag.bytes`).
    undocumented = sorted(p for p in schema_leaf_paths(config_schema) - documented
                          if not any(d.startswith(p + ".") for d in documented))
    assert undocumented == [], "in pgrelay.schema.json, absent from docs/configuration.md"


def test_every_mapping_rejects_unknown_keys(config_schema):
    """As the loader does (unknown keys get a did-you-mean): no mapping in the schema is open."""
    def walk(node, where):
        if isinstance(node, dict):
            types = node.get("type")
            if types == "object" or (isinstance(types, list) and "object" in types):
                assert "additionalProperties" in node, f"{where} allows any key"
                if "properties" in node:
                    assert node["additionalProperties"] is False, f"{where} allows unknown keys"
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")
    walk(config_schema, "#")
