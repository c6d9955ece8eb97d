#!/usr/bin/python3
"""User and system CPU per transaction of pgrelay and of PgBouncer, from /proc, in the same run.

bench/compare.py reports the sum; this splits it, because the two halves have different causes.
System time follows the system calls (bench/syscalls_per_txn.py). User time follows the
instructions (bench/callgrind_per_txn.py) only while the proxy's memory stays in the cache: with
many clients, a proxy that touches more memory per transaction spends more user time at the same
instruction count (callgrind_per_txn.py --cache-sim counts those misses).

Starts a throwaway cluster (primary + 2 replicas, `pgbench -i`), then for each proxy (pgrelay:
release build, `workers: 1`, transaction mode, pool 20, routing off unless --routing on;
PgBouncer: transaction mode, SCRAM, pool 20, as in bench/compare.py) runs a warm-up
`pgbench -c CLIENTS -t WARMUP`, reads utime and stime of the proxy's process (all threads) from
/proc/PID/stat, runs the measured `pgbench -c CLIENTS -t TRANSACTIONS`, reads them again, and
prints one JSON line per proxy: µs of user and of system time per transaction, and minor page
faults per transaction. The clock tick is 10 ms: keep runs long enough (≥ 50,000 transactions).

Usage: bench/cpu_split.py [--binary build/release/proxy/pgrelay] [--clients 8]
                          [--workload select|extended|tpcb|connect] [--transactions 500] [--warmup 50]
                          [--routing off|on]
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import add_per_txn_args, for_each_proxy, pgbench_fixed, raise_nofile  # noqa: E402


def cpu_of(pid):
    """(user s, system s, minor faults) of a process, all its threads, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick, int(fields[7])


def measure(pid, port, label):
    pgbench_fixed(port, ARGS.workload, ARGS.clients, ARGS.warmup, 1800)
    user0, sys0, faults0 = cpu_of(pid)
    txns = pgbench_fixed(port, ARGS.workload, ARGS.clients, ARGS.transactions, 1800)
    user1, sys1, faults1 = cpu_of(pid)
    return {"proxy": label, "workload": ARGS.workload, "clients": ARGS.clients, "transactions": txns,
            "user_us_per_txn": round((user1 - user0) / txns * 1e6, 2),
            "sys_us_per_txn": round((sys1 - sys0) / txns * 1e6, 2),
            "minor_faults_per_txn": round((faults1 - faults0) / txns, 3)}


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_per_txn_args(ap, transactions=500, warmup=50)
    ARGS = ap.parse_args()
    raise_nofile(ARGS.clients * 4 + 1000)
    for_each_proxy(ARGS, measure, max_client_conn=max(1000, ARGS.clients + 100))


if __name__ == "__main__":
    main()
