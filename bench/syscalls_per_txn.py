#!/usr/bin/python3
"""System calls per transaction of pgrelay and of PgBouncer, counted by strace in the same run.

Starts a throwaway cluster (primary + 2 replicas, `pgbench -i`), then for each proxy (pgrelay:
release build, `workers: 1`, transaction mode, SCRAM, read routing off unless --routing on;
PgBouncer: transaction mode, SCRAM, pool 20, as in bench/compare.py):
  1. a warm-up `pgbench -c CLIENTS -t WARMUP` (pools filled, logins done),
  2. `strace -f -c` attached to the proxy's PID (every thread), the measured
     `pgbench -c CLIENTS -t TRANSACTIONS`, then strace detached,
and prints one JSON line per proxy: system calls per transaction in all, and the busiest calls.
strace slows the proxy down a lot; the counts, not the times, are the result.

Usage: bench/syscalls_per_txn.py [--binary build/release/proxy/pgrelay] [--clients 8]
                                 [--workload select|extended|tpcb|connect] [--transactions 500] [--warmup 50]
                                 [--routing off|on]
"""

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import add_per_txn_args, for_each_proxy, pgbench_fixed  # noqa: E402


def pgbench(port, transactions):
    return pgbench_fixed(port, ARGS.workload, ARGS.clients, transactions, 1800)


def strace_summary(path):
    """{syscall: calls} and the total from `strace -c` output."""
    calls = {}
    for line in Path(path).read_text().splitlines():
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(f) >= 5 and f[3].isdigit() and re.fullmatch(r"[0-9.]+", f[0]) and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return calls


def count(pid, port, label):
    warm = pgbench(port, ARGS.warmup)
    out = Path(tempfile.mkstemp(prefix=f"pgrelay-strace-{label}-")[1])
    tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(out), "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # strace says "Process N attached" per thread on stderr once it is tracing.
        deadline = time.monotonic() + 30
        while "attached" not in (tracer.stderr.readline() or "") and time.monotonic() < deadline:
            pass
        txns = pgbench(port, ARGS.transactions)
    finally:
        tracer.send_signal(signal.SIGINT)  # detaches and writes the summary
        tracer.wait(timeout=60)
    calls = strace_summary(out)
    out.unlink()
    total = sum(calls.values())
    busiest = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
    return {"proxy": label, "workload": ARGS.workload, "clients": ARGS.clients, "warmup_transactions": warm,
            "transactions": txns, "syscalls_per_txn": round(total / txns, 2),
            "busiest_per_txn": {name: round(n / txns, 2) for name, n in busiest}}


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_per_txn_args(ap, transactions=500, warmup=50)
    ARGS = ap.parse_args()
    for_each_proxy(ARGS, count)


if __name__ == "__main__":
    main()
