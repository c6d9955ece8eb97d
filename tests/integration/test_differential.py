"""Differential tests: every SQL case in tests/integration/differential/NN_*.sql runs directly
against the primary and through pgrelay (transaction mode, pool size 2), and what the client sees
must be identical.

Case files
----------
A case starts at a line ``-- case: <name>``; everything up to the next such line is its body.
Lines right after the case line of the form ``-- @flag`` or ``-- @key: value`` are directives:

- ``-- @multi``      the whole body is sent as ONE simple-protocol query string (text format only)
                     and every result set is compared (cur.nextset()).
- ``-- @notx``       do not wrap the case in BEGIN … ROLLBACK (cases that manage transactions
                     themselves; they must leave the shared tables as they found them).
- ``-- @text-only``  skip the extended-protocol passes.
- ``-- @copy-gen: N`` the case's COPY … FROM STDIN without inline data gets N generated lines
                     ``i<TAB>row-i`` (i = 1..N).

Otherwise the body is split into statements at top-level semicolons (quotes, dollar quotes and
comments are respected) and each is executed on its own. A ``COPY … FROM STDIN`` statement takes
the lines after it, up to a line ``\\.``, as its data (like psql); ``COPY … TO STDOUT`` output is
compared byte for byte.

Passes: each case runs in three modes on both sides — ``text`` (psycopg's default: the simple
protocol when there are no parameters), ``text-ext`` (extended protocol, text results) and
``binary`` (extended protocol, binary results) — on a fresh cursor, inside its own transaction
(BEGIN … ROLLBACK) unless ``@notx``. Compared per statement: error (SQLSTATE, severity, primary
message, detail, hint, position), every result set's status message, rowcount, column names,
type OIDs and the other RowDescription fields, raw cell bytes and loaded row values, COPY data,
the notices received (severity, SQLSTATE, message), the transaction status after the statement
and a few reported server parameters.

Objects used by the cases live in a schema unique to the run (created directly on the primary by
differential/setup.sql, dropped at the end); both connections put it first in search_path via
``options``, together with TimeZone=UTC.
"""

from __future__ import annotations

import inspect
import math
from decimal import Decimal
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq

from conftest import SANITIZER_MARKERS, start_pgrelay, tail

CASE_DIR = Path(__file__).resolve().parent / "differential"
SETUP_FILE = CASE_DIR / "setup.sql"
CASE_RE = re.compile(r"^--\s*case:\s*(\S.*?)\s*$")
DIRECTIVE_RE = re.compile(r"^--\s*@([\w-]+)(?::\s*(.*?))?\s*$")
COPY_IN_RE = re.compile(r"^\s*copy\b.*\bfrom\s+stdin\b", re.I | re.S)
COPY_OUT_RE = re.compile(r"^\s*copy\b.*\bto\s+stdout\b", re.I | re.S)
REPORTED_PARAMS = ("TimeZone", "DateStyle", "IntervalStyle", "application_name",
                   "client_encoding", "standard_conforming_strings", "integer_datetimes",
                   "is_superuser", "session_authorization", "server_encoding")
MODES = ("text", "text-ext", "binary")
KNOWN_DIRECTIVES = {"multi", "notx", "text-only", "copy-gen"}


# --------------------------------------------------------------------------------------------
# parsing


class Stmt:
    def __init__(self, sql: str, copy_data: bytes | None = None):
        self.sql = sql
        self.copy_data = copy_data
        self.copy_in = bool(COPY_IN_RE.match(sql))
        self.copy_out = bool(COPY_OUT_RE.match(sql))


class Case:
    def __init__(self, file: str, name: str, directives: dict[str, str | None], body: str):
        self.file = file
        self.name = name
        self.directives = directives
        self.body = body.strip()
        unknown = set(directives) - KNOWN_DIRECTIVES
        assert not unknown, f"{file}: case {name}: unknown directive(s) {sorted(unknown)}"
        self.multi = "multi" in directives
        self.notx = "notx" in directives
        self.text_only = "text-only" in directives or self.multi
        self.stmts = [] if self.multi else split_statements(self.body)
        gen = directives.get("copy-gen")
        if gen is not None:
            n = int(gen)
            data = "".join(f"{i}\trow-{i}\n" for i in range(1, n + 1)).encode()
            targets = [s for s in self.stmts if s.copy_in and s.copy_data is None]
            assert targets, f"{file}: case {name}: @copy-gen without a COPY FROM STDIN"
            targets[0].copy_data = data
        for s in self.stmts:
            if s.copy_in and s.copy_data is None:
                s.copy_data = b""
        assert self.multi or self.stmts, f"{file}: case {name} has no statements"

    @property
    def id(self) -> str:
        return f"{self.file[:-4]}::{self.name}"


def split_statements(body: str) -> list[Stmt]:
    """Splits at top-level ';' (respecting '…', "…", $tag$…$tag$, -- and /* */ comments, E'…'
    backslash escapes); a COPY FROM STDIN statement consumes the following lines up to '\\.'."""
    out: list[Stmt] = []
    i, n, start = 0, len(body), 0
    while i < n:
        c = body[i]
        if c == "-" and body.startswith("--", i):
            j = body.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "/" and body.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if body.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif body.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "'":
            escapes = i > 0 and body[i - 1] in "eE" and (i < 2 or not body[i - 2].isalnum())
            i += 1
            while i < n:
                if escapes and body[i] == "\\":
                    i += 2
                    continue
                if body[i] == "'":
                    if i + 1 < n and body[i + 1] == "'":
                        i += 2
                        continue
                    break
                i += 1
            i += 1
        elif c == '"':
            j = body.find('"', i + 1)
            i = n if j < 0 else j + 1
        elif c == "$":
            m = re.match(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$", body[i:])
            if m and not (i > 0 and (body[i - 1].isalnum() or body[i - 1] == "_")):
                tag = m.group(0)
                j = body.find(tag, i + len(tag))
                i = n if j < 0 else j + len(tag)
            else:
                i += 1
        elif c == ";":
            sql = body[start:i].strip()
            i += 1
            copy_data = None
            if sql and COPY_IN_RE.match(_strip_comments(sql)):
                # data starts on the next line; ends at a line "\."
                nl = body.find("\n", i)
                rest = "" if nl < 0 else body[nl + 1:]
                lines = rest.split("\n")
                data_lines, consumed, terminated = [], 0, False
                for line in lines:
                    consumed += len(line) + 1
                    if line.strip() == "\\.":
                        terminated = True
                        break
                    data_lines.append(line)
                if terminated:
                    copy_data = "".join(l + "\n" for l in data_lines).encode()
                    i = (nl + 1) + consumed if nl >= 0 else n
            if sql:
                out.append(Stmt(_strip_comments(sql), copy_data))
            start = i
        else:
            i += 1
    sql = body[start:].strip()
    if _strip_comments(sql).strip():
        out.append(Stmt(_strip_comments(sql)))
    return out


def _strip_comments(sql: str) -> str:
    """Leading full-line -- comments removed (they would only shift error positions)."""
    lines = sql.split("\n")
    while lines and (lines[0].strip().startswith("--") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines).strip()


def load_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(CASE_DIR.glob("[0-9][0-9]_*.sql")):
        name, directives, body, header = None, {}, [], True
        for line in path.read_text(encoding="utf-8").split("\n"):
            m = CASE_RE.match(line)
            if m:
                if name is not None:
                    cases.append(Case(path.name, name, directives, "\n".join(body)))
                name, directives, body, header = m.group(1), {}, [], True
                continue
            if name is None:
                continue
            d = DIRECTIVE_RE.match(line) if header else None
            if d:
                directives[d.group(1)] = d.group(2)
                continue
            header = False
            body.append(line)
        if name is not None:
            cases.append(Case(path.name, name, directives, "\n".join(body)))
    ids = [c.id for c in cases]
    dup = {x for x in ids if ids.count(x) > 1}
    assert not dup, f"duplicate case names: {sorted(dup)}"
    return cases


CASES = load_cases()


# --------------------------------------------------------------------------------------------
# execution


class ExtCursor(psycopg.Cursor):
    """Always the extended protocol, even without parameters (psycopg's default text mode uses
    the simple protocol for parameterless queries)."""

    def _execute_send(self, query, *, force_extended: bool = False, binary=None):  # type: ignore[override]
        return super()._execute_send(query, force_extended=True, binary=binary)


# ExtCursor relies on psycopg 3.1's private Cursor._execute_send(force_extended=...).
if "force_extended" not in inspect.signature(psycopg.Cursor._execute_send).parameters:
    MODES = ("text", "binary")


def norm(v: Any) -> Any:
    """Values made comparable with == (NaN != NaN; -0.0 == 0.0)."""
    if isinstance(v, float):
        return ("float", repr(v)) if (math.isnan(v) or v == 0.0 or math.isinf(v)) else v
    if isinstance(v, Decimal):
        return ("decimal", str(v)) if (v.is_nan() or v.is_infinite() or v.is_zero()) else v
    if isinstance(v, (list, tuple)):
        return type(v)(norm(x) for x in v)
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    return v


def diag(d: Any, with_position: bool = True) -> dict[str, Any]:
    out = {
        "sqlstate": d.sqlstate,
        "severity": d.severity_nonlocalized or d.severity,
        "message": d.message_primary,
        "detail": d.message_detail,
        "hint": d.message_hint,
    }
    if with_position:
        out["position"] = d.statement_position
    return out


# OIDs of the tables/views that exist for the whole run (filled by the fixture): compared as they
# are. Other table OIDs in a RowDescription belong to objects a case creates (and rolls back);
# their numbers differ between the two runs, so they are compared by order of appearance.
STABLE_TABLE_OIDS: set[int] = set()


def table_label(oid: int, labels: dict[int, str]) -> Any:
    if oid == 0 or oid in STABLE_TABLE_OIDS:
        return oid
    return labels.setdefault(oid, f"case-local-table-{len(labels) + 1}")


def describe_result(cur: psycopg.Cursor, oid_labels: dict[int, str]) -> dict[str, Any]:
    res = cur.pgresult
    out: dict[str, Any] = {
        "status": cur.statusmessage,
        "rowcount": cur.rowcount,
        "pgstatus": None if res is None else pq.ExecStatus(res.status).name,
    }
    if cur.description is None:
        out["columns"] = None
        return out
    out["columns"] = [(d.name, d.type_code) for d in cur.description]
    out["rowdesc"] = [(res.fname(i), res.ftype(i), table_label(res.ftable(i), oid_labels),
                       res.ftablecol(i), res.fmod(i), res.fsize(i), res.fformat(i))
                      for i in range(res.nfields)]
    out["raw"] = [[res.get_value(r, c) for c in range(res.nfields)] for r in range(res.ntuples)]
    try:
        out["rows"] = norm(cur.fetchall())
    except Exception as e:  # noqa: BLE001 -- a client-side loader error: compare its text
        out["rows"] = f"<{type(e).__name__}: {e}>"
    return out


def run_stmt(conn: psycopg.Connection, cur: psycopg.Cursor, notices: list, sql: str,
             mode: str, stmt: Stmt | None = None,
             oid_labels: dict[int, str] | None = None) -> dict[str, Any]:
    oid_labels = {} if oid_labels is None else oid_labels
    rec: dict[str, Any] = {"sql": sql[:200]}
    first = len(notices)
    try:
        if stmt is not None and (stmt.copy_in or stmt.copy_out):
            with cur.copy(sql) as cp:
                if stmt.copy_in:
                    data = stmt.copy_data or b""
                    for k in range(0, len(data), 65536):
                        cp.write(data[k:k + 65536])
                else:
                    rec["copy"] = b"".join(bytes(b) for b in cp)
            rec["sets"] = [{"status": cur.statusmessage, "rowcount": cur.rowcount}]
        else:
            cur.execute(sql, binary=(mode == "binary"))
            sets = [describe_result(cur, oid_labels)]
            while cur.nextset():
                sets.append(describe_result(cur, oid_labels))
            rec["sets"] = sets
    except psycopg.Error as e:
        rec["error"] = diag(e.diag) if e.sqlstate else f"<{type(e).__name__}: {e}>"
    rec["notices"] = notices[first:]
    if conn.closed or conn.info.status != pq.ConnStatus.OK:
        rec["connection"] = "broken"
        return rec
    rec["txstatus"] = pq.TransactionStatus(conn.info.transaction_status).name
    rec["params"] = {p: conn.info.parameter_status(p) for p in REPORTED_PARAMS}
    return rec


class Side:
    """One connection (direct or through pgrelay), reopened when a case broke it."""

    def __init__(self, name: str, conninfo: str):
        self.name = name
        self.conninfo = conninfo
        self.conn: psycopg.Connection | None = None
        self.notices: list[dict] = []

    def connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.info.status != pq.ConnStatus.OK:
            if self.conn is not None:
                self.conn.close()
            self.conn = psycopg.connect(self.conninfo, autocommit=True, prepare_threshold=None)
            self.conn.add_notice_handler(
                lambda d: self.notices.append(diag(d, with_position=False)))
        return self.conn

    def run_case(self, case: Case, mode: str) -> list[dict[str, Any]]:
        conn = self.connection()
        self.notices.clear()
        cur = ExtCursor(conn) if mode == "text-ext" else conn.cursor()
        recs: list[dict[str, Any]] = []
        labels: dict[int, str] = {}
        try:
            if not case.notx:
                recs.append(run_stmt(conn, cur, self.notices, "BEGIN", mode))
            if case.multi:
                recs.append(run_stmt(conn, cur, self.notices, case.body, "text", None, labels))
            else:
                for s in case.stmts:
                    recs.append(run_stmt(conn, cur, self.notices, s.sql, mode, s, labels))
                    if recs[-1].get("connection") == "broken":
                        return recs
            if not case.notx:
                recs.append(run_stmt(conn, cur, self.notices, "ROLLBACK", mode))
            elif conn.info.transaction_status != pq.TransactionStatus.IDLE:
                recs.append({"left-open": pq.TransactionStatus(conn.info.transaction_status).name})
                recs.append(run_stmt(conn, cur, self.notices, "ROLLBACK", mode))
        finally:
            cur.close()
            # never leak a transaction into the next case, whatever happened above
            if not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    pass
        return recs

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


# --------------------------------------------------------------------------------------------
# comparison


def short(v: Any, limit: int = 300) -> str:
    r = repr(v)
    return r if len(r) <= limit else f"{r[:limit]}… ({len(r)} chars)"


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if type(a) is not type(b):
        return f"{path}: direct={short(a)} pgrelay={short(b)}"
    if isinstance(a, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{path}.{k}: direct={short(a.get(k, '<missing>'))} " \
                       f"pgrelay={short(b.get(k, '<missing>'))}"
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, (list, tuple)):
        for k, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{k}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{path}: length direct={len(a)} pgrelay={len(b)}; " \
                   f"extra: {short((a if len(a) > len(b) else b)[min(len(a), len(b)):])}"
        return None
    if isinstance(a, (bytes, bytearray)) and a != b:
        k = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        return f"{path}: bytes differ at offset {k} (lengths {len(a)}/{len(b)}): " \
               f"direct={short(bytes(a[k:k + 40]))} pgrelay={short(bytes(b[k:k + 40]))}"
    if a != b:
        return f"{path}: direct={short(a)} pgrelay={short(b)}"
    return None


def summary(recs: list[dict[str, Any]]) -> str:
    """One line per statement: sql, error, status/rowcount per result set, notices, txstatus."""
    lines = []
    for r in recs:
        sets = [(x.get("status"), x.get("rowcount")) for x in r.get("sets", [])]
        lines.append(f"  {short(r.get('sql', ''), 60)} error={short(r.get('error'), 160)} sets={sets} "
                     f"notices={short(r.get('notices'), 200)} tx={r.get('txstatus')}"
                     + (f" connection={r['connection']}" if "connection" in r else "")
                     + (f" left-open={r['left-open']}" if "left-open" in r else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def diff_env(cluster, tmp_path_factory):
    schema = f"diff_{uuid.uuid4().hex[:10]}"
    options = f"-c TimeZone=UTC -c search_path={schema},public"
    setup_sql = SETUP_FILE.read_text(encoding="utf-8")
    with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
        c.execute(f"SET search_path = {schema}, public")
        for s in split_statements(setup_sql):
            c.execute(s.sql)
        STABLE_TABLE_OIDS.clear()
        STABLE_TABLE_OIDS.update(oid for (oid,) in c.execute(
            "SELECT c.oid::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s", (schema,)))
    relay = start_pgrelay(cluster, tmp_path_factory.mktemp("pgrelay-diff"),
                          {"pool": {"mode": "transaction", "size": 2}})
    direct = Side("direct", cluster.primary_dsn(options=options))
    via = Side("pgrelay", relay.dsn(options=options))
    try:
        yield direct, via, relay
    finally:
        direct.close()
        via.close()
        code = relay.stop()
        text = relay.log()
        with psycopg.connect(cluster.primary_dsn(), autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        if any(m in text for m in SANITIZER_MARKERS):
            pytest.fail(f"sanitizer report in pgrelay's output (exit {code}):\n"
                        f"{tail(relay.log_path, 120)}")


def test_case_files_parse():
    assert len(CASES) >= 80, f"only {len(CASES)} cases"
    for c in CASES:
        for s in c.stmts:
            assert not (s.copy_in and s.copy_out), c.id


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_differential(case: Case, diff_env):
    direct, via, relay = diff_env
    problems = []
    for mode in (("text",) if case.text_only else MODES):
        a = direct.run_case(case, mode)
        b = via.run_case(case, mode)
        d = first_difference(a, b)
        if d:
            problems.append(f"[{mode}] {d}")
            if len(problems) == 1:
                dumps = f"--- direct [{mode}] ---\n{summary(a)}\n--- pgrelay [{mode}] ---\n{summary(b)}"
    if problems:
        pytest.fail(f"{case.id}: direct and pgrelay differ:\n  " + "\n  ".join(problems)
                    + f"\n{dumps}\n--- pgrelay log (tail) ---\n{tail(relay.log_path, 20)}")
