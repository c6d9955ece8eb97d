#!/usr/bin/env python3
"""Flags co_await expressions in proxy/ that build a temporary with a destructor in their
operands. GCC 12 destroys such temporaries twice (a conditional's string, a braced struct, a
std::string built in the argument list): a double free that crashed pgrelay three times before
this check existed. The fix is always the same: build the value into a named local first.

The check is textual, so it looks for the shapes that bit us: a braced construction `T{...}`,
`std::string(...)`, `fmt::format(...)`, `std::to_string(...)`, a string concatenation or a `?:`
between `co_await` and the end of its statement. Exit status 1 when any is found."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("proxy",)
STRINGS_AND_COMMENTS = re.compile(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'|//[^\n]*|/\*.*?\*/', re.S)
SHAPES = (
    (re.compile(r"(?<![\w\]\)>])\s*\b([A-Z_a-z][\w:]*(<[^;{}]*>)?)\s*\{\s*[^}\s]"), "a braced temporary"),
    (re.compile(r"\bstd::(string|to_string|vector|map|set)\s*[({]"), "a standard container built in place"),
    (re.compile(r"\bfmt::format\s*\("), "a formatted string"),
    (re.compile(r"\?[^:;]*:(?!:)"), "a conditional"),
    (re.compile(r"\)\s*\+\s*\w|\w\s*\+\s*std::"), "a string concatenation"),
)


def statement_after(code: str, start: int) -> str:
    """The text from `start` to the end of its statement: the first `;` outside brackets, or a
    `{` that opens a block (as in `if (co_await f()) {`)."""
    depth = 0
    for i in range(start, len(code)):
        c = code[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            if depth == 0:
                return code[start:i]
            depth -= 1
        elif c == ";" and depth == 0:
            return code[start:i]
        elif c == "{" and depth == 0:
            return code[start:i]
    return code[start:]


def lambda_bodies_removed(text: str) -> str:
    """Drops the bodies of lambdas passed as operands (`[w] { ... }`): what they construct
    lives in the lambda, not in the co_await expression."""
    out, i = [], 0
    while i < len(text):
        m = re.compile(r"\]\s*(\([^)]*\))?\s*(mutable\s*)?(->\s*[\w:<>]+\s*)?\{").search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i:m.end() - 1])
        depth, j = 0, m.end() - 1
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                break
        i = j
    return "".join(out)


def findings(path: Path):
    raw = path.read_text(errors="replace")
    # keep line numbers: blank out strings and comments with spaces of the same length
    code = STRINGS_AND_COMMENTS.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)) if m.group(0).startswith(("//", "/*"))
                                    else '""' + re.sub(r"[^\n]", " ", m.group(0)[2:]), raw)
    for m in re.finditer(r"\bco_await\b", code):
        operand = lambda_bodies_removed(statement_after(code, m.end()))
        for shape, what in SHAPES:
            if shape.search(operand):
                line = code.count("\n", 0, m.start()) + 1
                yield line, what, " ".join(operand.split())[:100]
                break


def main() -> int:
    bad = 0
    for root in ROOTS:
        for path in sorted((REPO / root).rglob("*.cpp")):
            for line, what, text in findings(path):
                print(f"{path.relative_to(REPO)}:{line}: {what} in a co_await operand: co_await {text}")
                bad += 1
    if bad:
        print(f"{bad} co_await operand(s) build a temporary: name it in a local first (GCC 12 destroys it twice)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
