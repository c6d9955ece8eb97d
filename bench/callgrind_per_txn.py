#!/usr/bin/python3
"""Instructions per transaction of pgrelay and of PgBouncer, side by side, counted by callgrind;
and pgrelay's memory per idle client.

Starts a throwaway cluster (primary + 2 replicas, `pgbench -i`), runs pgrelay (workers: 1,
transaction mode, SCRAM, read routing off unless --routing on, like bench/compare.py) under
`valgrind --tool=callgrind --separate-threads=yes`, then:
  1. a warm-up `pgbench -S -c CLIENTS -t WARMUP` (fills the pools: server logins, PBKDF2),
  2. `callgrind_control --dump` (resets the counters), then the measured `pgbench -S -c CLIENTS -t TRANSACTIONS`,
  3. `callgrind_control --dump`, and prints the Ir of the worker thread (the busiest one) and of
     all threads, divided by the transactions pgbench reports, with the worker's split by where
     the code comes from (own code, event library, glibc's wrappers: bench/cost_origin.py);
then does the same with PgBouncer (transaction mode, SCRAM, pool size 20) under callgrind, and
prints the ratio of the two (--target pgrelay|pgbouncer runs one only), overall, for the
proxies' own code and for their event machinery (event library and glibc's wrappers and locks).
`--workload extended` adds `-M extended`, `--workload tpcb` runs pgbench's TPC-B-like script instead of `-S`, and `--workload connect` adds
`-C`: every transaction is then a new client with a SCRAM login (pgbench's own PBKDF2 is spent in
pgbench, not counted here).
PBKDF2 of a server login that falls in the measured run (the pool opening one more connection) is
reported apart, since it is 30M instructions at once. The "cold" figure is the whole process from start (so it includes pool fills and logins) divided by
all transactions run. --cache-sim adds callgrind's cache model (this machine's 48 KiB L1d and one
core's 2 MiB L2 as the last level) and prints the worker's data-cache misses per transaction: the
measure for work that costs time without costing instructions (memory spread over many clients).
With --idle N it instead runs pgrelay natively and reads VmRSS before and after
N idle logged-in clients (bench/idle_clients.py), printing KiB per client.

Everything it starts is a child whose PID is kept; it stops them and removes its temp dir.

Usage: bench/callgrind_per_txn.py [--binary build/release/proxy/pgrelay] [--clients 8]
                                  [--workload select|extended|tpcb|connect] [--target pgrelay|pgbouncer|both]
                                  [--routing off|on] [--transactions 1000] [--warmup 100] [--slow-query MS] [--keep DIR]
                                  [--cache-sim]
       bench/callgrind_per_txn.py --idle 2000
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (PGBOUNCER_OS_USER, REPO, bench_cluster, hold_idle_clients, pgbench_fixed, pgbouncer_version, raise_nofile,  # noqa: E402
                      routed_database, running_pgbouncer, stop_child, wait_replicas_caught_up,
                      write_pgrelay_config)
from pgnet import free_port, wait_for_port  # noqa: E402
import cost_origin  # noqa: E402


def pgbench_txns(port, clients, transactions, timeout):
    return pgbench_fixed(port, ARGS.workload, clients, transactions, timeout)


def thread_totals(prefix):
    """{file: Ir} of every callgrind dump file starting with `prefix`."""
    out = {}
    for f in glob.glob(prefix + "*"):
        for line in Path(f).read_text(errors="replace").splitlines():
            if line.startswith("totals:") or line.startswith("summary:"):
                out[f] = int(line.split()[1])
                break
    return out


def pbkdf2_ir(dump):
    """Inclusive Ir of PKCS5_PBKDF2_HMAC in a dump: server logins (SCRAM) that happened to fall in it."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", dump], capture_output=True, text=True).stdout
    m = re.search(r"^\s*([\d,]+) .*PKCS5_PBKDF2_HMAC", out, re.M)
    return int(m.group(1).replace(",", "")) if m else 0


def control(args, pid, as_user=None):
    """callgrind_control on `pid`. vgdb reaches a valgrind of another user only when it runs as
    that user with USER set (as root it hangs, or kills the process)."""
    kw = {}
    if as_user:
        import pwd
        pw = pwd.getpwnam(as_user)
        kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [],
              "env": dict(os.environ, USER=pw.pw_name, LOGNAME=pw.pw_name, HOME=pw.pw_dir)}
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120, **kw)


def relay_config(primary, replicas, slow_query_ms, valgrind):
    cfg = {"workers": 1,
           "pool": {"mode": "transaction", "size": 20, "wait_timeout": "120s", "max_clients": 12000,
                    **({"connect_timeout": "60s"} if valgrind else {})},
           "databases": {"app": routed_database(primary, replicas, ARGS.routing == "on")}}
    if valgrind:
        cfg["auth_timeout"] = "120s"
    if slow_query_ms is not None:
        cfg["log"] = {"level": "warn", "slow_query": f"{slow_query_ms}ms"}
    return cfg


def callgrind_prefix(out_dir):
    # An idle process runs few basic blocks between its waits; valgrind looks for a dump request
    # every --vgdb-poll blocks, so the default (5000) can leave callgrind_control waiting for
    # minutes. Polling costs valgrind's time, not the program's counted instructions.
    # --cache-sim models this machine's L1d (48 KiB, 12-way) and one core's L2 (2 MiB, 16-way)
    # as the last level: the L3 here is shared by the whole host and says little about one core.
    sim = ["--cache-sim=yes", "--D1=49152,12,64", "--LL=2097152,16,64"] if ARGS.cache_sim else []
    return ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--vgdb-poll=50", *sim,
            f"--callgrind-out-file={out_dir}/cg.out.%p"]


def event_totals(dump):
    """{event: count} of one callgrind dump (Ir, and with --cache-sim the misses)."""
    names, values = [], []
    for line in Path(dump).read_text(errors="replace").splitlines():
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith("totals:") or line.startswith("summary:"):
            values = [int(v) for v in line.split()[1:]]
            break
    return dict(zip(names, values))


def start_relay(work, config, valgrind):
    port = free_port()
    path = write_pgrelay_config(work, config, port)
    cmd = [os.path.abspath(ARGS.binary), str(path)]
    if valgrind:
        cmd = [*callgrind_prefix(work), *cmd]
    relay = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(work / "pgrelay.log", "w"))
    if not wait_for_port(port, 120 if valgrind else 10, alive=lambda: relay.poll() is None):
        stop_child(relay)
        raise RuntimeError(f"pgrelay did not start:\n{(work / 'pgrelay.log').read_text()[-3000:]}")
    return relay, port


def dump_and_wait(pid, label, dumps, seen, as_user, timeout=120):
    """Asks callgrind for a dump and waits until its files are complete (callgrind_control can
    return before they are written); returns {file: Ir} of every dump so far."""
    control([f"--dump={label}"], pid, as_user)
    deadline = time.monotonic() + timeout
    while True:
        totals = thread_totals(dumps)
        if len(totals) > len(seen) and all(thread_totals(f) for f in glob.glob(f"{dumps}.*-*")):
            return totals
        if time.monotonic() > deadline:
            raise RuntimeError(f"callgrind dump {label} of {pid} did not appear in {timeout}s")
        time.sleep(0.2)


def count_run(pid, port, dumps, warm_up_first, as_user=None):
    """Runs the warm-up and the measured pgbench against `port` while `pid` runs under callgrind;
    returns (warm-up transactions, measured transactions, {dump file: Ir} of the measured run)."""
    if warm_up_first:
        time.sleep(3)  # the health checker samples the replicas before reads are routed
    warm = pgbench_txns(port, ARGS.clients, ARGS.warmup, 1200) if ARGS.warmup else 0
    # A dump resets the counters: the first holds start-up, pool fills and the warm-up.
    before = dump_and_wait(pid, "warmup", dumps, {}, as_user)
    txns = pgbench_txns(port, ARGS.clients, ARGS.transactions, 3600)
    after = dump_and_wait(pid, "measured", dumps, before, as_user)
    measured = {f: v for f, v in after.items() if f not in before}
    if ARGS.keep:
        Path(ARGS.keep).mkdir(parents=True, exist_ok=True)
        for f in measured:
            shutil.copy(f, ARGS.keep)
    return warm, txns, measured, sum(before.values())


def per_txn(warm, txns, measured, cold_before):
    worker_dump = max(measured, key=measured.get)
    worker = measured[worker_dump]
    pbkdf2 = pbkdf2_ir(worker_dump)
    misses = {}
    if ARGS.cache_sim:
        ev = event_totals(worker_dump)
        misses = {"worker_d1_misses_per_txn": round((ev.get("D1mr", 0) + ev.get("D1mw", 0)) / txns, 1),
                  "worker_l2_misses_per_txn": round((ev.get("DLmr", 0) + ev.get("DLmw", 0)) / txns, 1)}
    origin = {k: round(v / txns) for k, v in sorted(cost_origin.split(worker_dump).items(), key=lambda kv: -kv[1])}
    return {"transactions": txns, "warmup_transactions": warm, **misses,
            "worker_ir_per_txn": round(worker / txns), "worker_ir_per_txn_by_origin": origin,
            "worker_ir_per_txn_without_pbkdf2": round((worker - pbkdf2) / txns), "pbkdf2_ir_measured": pbkdf2,
            "all_threads_ir_per_txn": round(sum(measured.values()) / txns),
            "cold_ir_per_txn": round((cold_before + sum(measured.values())) / (txns + warm))}


def measure_pgrelay(work, primary, replicas):
    relay, port = start_relay(work, relay_config(primary, replicas, ARGS.slow_query, True), True)
    try:
        counted = count_run(relay.pid, port, f"{work}/cg.out.{relay.pid}", True)
    finally:
        stop_child(relay, timeout=120)
    return {"proxy": "pgrelay", "binary": ARGS.binary, "routing": ARGS.routing, **per_txn(*counted)}


def measure_pgbouncer(primary):
    # PgBouncer runs as postgres, which cannot enter the cluster's private work dir.
    out_dir = Path(tempfile.mkdtemp(prefix="pgrelay-bench-cg-"))
    os.chmod(out_dir, 0o777)
    try:
        with running_pgbouncer(primary, {"app": 20}, wrapper=callgrind_prefix(out_dir),
                               start_timeout=120) as (proc, port):
            counted = count_run(proc.pid, port, f"{out_dir}/cg.out.{proc.pid}", False, PGBOUNCER_OS_USER)
        # Read while the dumps exist (PBKDF2 and cache misses come from the worker's dump).
        return {"proxy": "pgbouncer", "version": pgbouncer_version(), **per_txn(*counted)}
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def measure_callgrind(work, primary, replicas):
    """One JSON line per proxy, then their ratio: the same pgbench run counted the same way."""
    results = []
    if ARGS.target in ("pgrelay", "both"):
        results.append(measure_pgrelay(work, primary, replicas))
        print(json.dumps(results[-1]), flush=True)
    if ARGS.target in ("pgbouncer", "both"):
        results.append(measure_pgbouncer(primary))
        print(json.dumps(results[-1]), flush=True)
    if len(results) == 2:
        relay, bouncer = results
        print(json.dumps({"workload": ARGS.workload, "clients": ARGS.clients, "routing": ARGS.routing,
                          "pgrelay_worker_ir_per_txn": relay["worker_ir_per_txn_without_pbkdf2"],
                          "pgbouncer_ir_per_txn": bouncer["worker_ir_per_txn_without_pbkdf2"],
                          "ratio": round(relay["worker_ir_per_txn_without_pbkdf2"]
                                         / bouncer["worker_ir_per_txn_without_pbkdf2"], 2),
                          **origin_ratios(relay, bouncer)}))


def origin_ratios(relay, bouncer):
    """pgrelay's own code against PgBouncer's, and the event machinery (the event library with
    libc's wrappers and locks) against PgBouncer's: which part of the gap is whose."""
    def parts(r):
        o = r["worker_ir_per_txn_by_origin"]
        own = o.get(cost_origin.OWN, 0) + o.get(cost_origin.LIBC_STRING, 0) + o.get(cost_origin.LIBC_MALLOC, 0)
        return own, o.get(cost_origin.EVENT, 0) + o.get(cost_origin.LIBC_CALLS, 0)
    (own_r, ev_r), (own_b, ev_b) = parts(relay), parts(bouncer)
    return {"own_code_ir_per_txn": [own_r, own_b], "own_code_ratio": round(own_r / own_b, 2) if own_b else None,
            "event_machinery_ir_per_txn": [ev_r, ev_b], "event_machinery_ratio": round(ev_r / ev_b, 2) if ev_b else None}


def measure_idle(work, primary, replicas):
    relay, port = start_relay(work, relay_config(primary, replicas, None, False), False)
    try:
        time.sleep(1)
        ok, _, _, before, after = hold_idle_clients(port, relay.pid, ARGS.idle, hold=300)
    finally:
        stop_child(relay)
    return {"clients": ok, "rss_before_kib": before, "rss_after_kib": after,
            "kib_per_client": round((after - before) / ok, 2) if ok else None}


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(REPO / "build/release/proxy/pgrelay"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workload", choices=("select", "extended", "tpcb", "connect"), default="select",
                    help="pgbench -S (default), -S -M extended, the TPC-B-like default script, or -S -C"
                         " (a SCRAM login per transaction)")
    ap.add_argument("--transactions", type=int, default=1000, help="per client, measured")
    ap.add_argument("--warmup", type=int, default=100, help="per client, before counting")
    ap.add_argument("--slow-query", type=int, help="log.slow_query in ms (0: off; default: the config default, 1s)")
    ap.add_argument("--keep", help="copy the measured callgrind dumps into this directory (callgrind_annotate)")
    ap.add_argument("--idle", type=int, default=0, help="measure VmRSS per idle client instead")
    ap.add_argument("--cache-sim", action="store_true",
                    help="also count data cache misses per transaction (callgrind's cache model of one core's L1d and L2)")
    ap.add_argument("--target", choices=("pgrelay", "pgbouncer", "both"), default="both")
    ap.add_argument("--routing", choices=("on", "off"), default="off",
                    help="pgrelay's read routing (PgBouncer has none; issue 19 compares with it off)")
    ARGS = ap.parse_args()
    if ARGS.idle:
        raise_nofile(ARGS.idle * 2 + 1000)
    with bench_cluster(2, 1) as (work, primary, replicas):
        wait_replicas_caught_up(primary, replicas)
        if ARGS.idle:
            print(json.dumps({**measure_idle(work, primary, replicas), "binary": ARGS.binary}))
        else:
            measure_callgrind(work, primary, replicas)


if __name__ == "__main__":
    main()
