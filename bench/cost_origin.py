"""Splits a callgrind dump's instructions by where the code comes from, so that a proxy's own
work can be compared apart from the event library it is built on:

  own code        the proxy's sources, with the C++ library and non-Asio Boost headers they inline
                  (pgrelay), or the pgbouncer binary (PgBouncer)
  event library   Asio's headers, wherever the compiler inlined them (pgrelay), or libevent
                  (PgBouncer)
  libc: system-call wrappers, cancellation, locks, clock
                  glibc's recv/sendmsg/epoll_wait wrappers (with the asynchronous-cancellation
                  switch every cancellation point makes in a threaded process), mutexes, clock_gettime
  libc: string    memchr, memcpy, strlen, isspace and the like
  libc: malloc
  libc: other     printf and the rest of glibc
  other           anything else (OpenSSL, the dynamic loader), named

callgrind gives each instruction the source file of its line, so Asio code inlined into one of
pgrelay's functions counts as Asio, and a pgrelay handler that Asio calls counts as pgrelay.
"""

import re
import subprocess
from collections import Counter

OWN = "own code"
EVENT = "event library"
LIBC_CALLS = "libc: system-call wrappers, cancellation, locks, clock"
LIBC_STRING = "libc: string"
LIBC_MALLOC = "libc: malloc"
LIBC_OTHER = "libc: other"

_ROW = re.compile(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)$")
_OBJECT = re.compile(r" \[([^\]]*)\]$")
_LIBC_CALLS = re.compile(r"^\./(socket|misc|nptl|time)/|sysdeps/unix/sysv/linux|sysdeps/nptl|errno-loc")
# pgrelay's sources wherever the checkout was (callgrind names them absolute, or relative where
# link-time optimization moved the code); the C++ library's headers; the compiler's own headers
# (intrinsics, string.h's inline wrappers), which are inlined into the caller.
_OWN_SOURCE = re.compile(r"(^|/)(proxy|protocol|router|conf)/(src|include|core)/|/c\+\+/|^/usr/lib/gcc/"
                         r"|^/usr/include/string\.h")


def classify(source, obj):
    """The origin of the code at `source` (a file as callgrind names it) in object file `obj`."""
    if "/boost/asio/" in source or "libevent" in obj:
        return EVENT
    if _OWN_SOURCE.search(source) or source.startswith("/usr/include/boost/") or "libstdc++" in obj:
        return OWN
    if obj.endswith("/pgbouncer") or obj == "pgbouncer":
        return OWN
    if _LIBC_CALLS.search(source):
        return LIBC_CALLS
    if source.startswith(("./string/", "./ctype/")):
        return LIBC_STRING
    if source.startswith("./malloc/"):
        return LIBC_MALLOC
    if "/libc.so" in obj:
        return LIBC_OTHER
    name = obj.rsplit("/", 1)[-1] or source
    return f"other: {name}"


def split_rows(annotate_output):
    """{origin: Ir} from the function table of `callgrind_annotate --inclusive=no`."""
    table = annotate_output.split("file:function", 1)
    if len(table) < 2:
        return {}
    out = Counter()
    for line in table[1].split("\n\n", 1)[0].splitlines():
        m = _ROW.match(line)
        # Rows at 100 % are main and its callers: inclusive totals that callgrind lists anyway.
        if not m or m.group(2) == "100.0":
            continue
        rest = m.group(3)
        obj = ""
        o = _OBJECT.search(rest)
        if o and o.group(1).startswith("/"):  # not a "[clone .part.0]" of the function's name
            obj, rest = o.group(1), rest[:o.start()]
        source = rest.split(":", 1)[0]
        out[classify(source, obj)] += int(m.group(1).replace(",", ""))
    return dict(out)


def split(dump):
    """{origin: Ir} of one callgrind dump file."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", dump],
                         capture_output=True, text=True, check=True).stdout
    return split_rows(out)
