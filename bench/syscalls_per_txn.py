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
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (REPO, bench_cluster, pgbench_fixed, routed_database, running_pgbouncer,  # noqa: E402
                      running_pgrelay, wait_replicas_caught_up)


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
    ap.add_argument("--binary", default=str(REPO / "build/release/proxy/pgrelay"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workload", choices=("select", "extended", "tpcb", "connect"), default="select")
    ap.add_argument("--transactions", type=int, default=500, help="per client, measured")
    ap.add_argument("--warmup", type=int, default=50, help="per client, before counting")
    ap.add_argument("--routing", choices=("on", "off"), default="off")
    ARGS = ap.parse_args()
    with bench_cluster(2, 1) as (work, primary, replicas):
        wait_replicas_caught_up(primary, replicas)
        config = {"workers": 1, "pool": {"mode": "transaction", "size": 20},
                  "databases": {"app": routed_database(primary, replicas, ARGS.routing == "on")}}
        with running_pgrelay(work, config, binary=ARGS.binary) as (relay, port, _):
            print(json.dumps({**count(relay.pid, port, "pgrelay"), "routing": ARGS.routing}), flush=True)
        with running_pgbouncer(primary, {"app": 20}) as (proc, bouncer_port):
            print(json.dumps(count(proc.pid, bouncer_port, "pgbouncer")), flush=True)


if __name__ == "__main__":
    main()
