#!/usr/bin/env python3
"""Lists functions longer than a limit (default 60 lines) in the C++ sources of proxy/, conf/,
protocol/ and router/, longest first, and files longer than 600 lines. A function is counted
from the line that opens its body to the line that closes it: definitions at namespace level
and member functions defined in a class body (one indentation level) alike. Exit status 1 when
any is over the limit and not listed in scripts/long_functions.allow (one `path:function` per
line, each with its reason in the README)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("proxy", "conf", "protocol", "router")
HEAD = re.compile(r"^(\s{0,2})(?!namespace|struct|class|enum|union|extern|if |for |while |switch |return )"
                  r"[A-Za-z_~][^;{}()]*?([A-Za-z_~][\w:~<>]*)\s*\([^;]*$")


def functions(path: Path):
    lines = path.read_text(errors="replace").splitlines()
    i = 0
    while i < len(lines):
        m = HEAD.match(lines[i])
        if not m:
            i += 1
            continue
        indent, name = m.group(1), m.group(2)
        # the body opens on this line or within the next few (wrapped parameters)
        j = i
        while j < len(lines) and j < i + 8 and "{" not in lines[j] and not lines[j].rstrip().endswith(";"):
            j += 1
        if j >= len(lines) or "{" not in lines[j]:
            i += 1
            continue
        depth, k = 0, j
        while k < len(lines):
            code = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'|//.*', "", lines[k])
            depth += code.count("{") - code.count("}")
            if depth <= 0:
                break
            k += 1
        yield name, i + 1, k - i + 1
        i = k + 1 if k > i else i + 1


def main() -> int:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    allow_file = REPO / "scripts" / "long_functions.allow"
    allowed = set(allow_file.read_text().split()) if allow_file.exists() else set()
    found, long_files = [], []
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.[ch]pp")):
            rel = path.relative_to(REPO)
            n = len(path.read_text(errors="replace").splitlines())
            if n > 600:
                long_files.append((n, str(rel)))
            for name, line, length in functions(path):
                if length > limit:
                    found.append((length, f"{rel}:{name}", line))
    bad = 0
    for length, where, line in sorted(found, reverse=True):
        ok = where in allowed
        bad += not ok
        print(f"{length:4d} lines  {where} (line {line}){'  [allowed]' if ok else ''}")
    for n, rel in long_files:
        ok = rel in allowed
        bad += not ok
        print(f"{n:4d} lines  file {rel}{'  [allowed]' if ok else ''}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
