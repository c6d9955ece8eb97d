#!/usr/bin/python3
"""pgbench -S -M simple through pgrelay with read routing on vs off (what routing costs and buys).

Starts its own cluster (tests/cluster/pgcluster: a primary + 2 streaming replicas) and one pgrelay
serving two logical databases over the same server database `app`:
  app_on   the 2 replicas configured (role read), routing enabled  -> reads spread over the replicas
  app_off  the same replicas configured, routing disabled          -> everything on the primary
Both in transaction mode with the same pool size (per server pool: with routing on, each replica
gets its own pool of that size as well). Runs `pgbench -S -M simple -c C -j 2 -T N` against each in
alternation (ABBA order across rounds, after an unmeasured warm-up of each), and prints the median
TPS each way with the spread, the on/off ratio, and pgrelay's CPU time (utime+stime from
/proc/PID/stat, read just before and after each pgbench run) per 1000 transactions.

Note: -M simple inlines a random aid into every statement text, so with routing on nearly every
statement misses the proxy's per-text classification cache and is parsed (router::classify).

Usage: bench/routing_on_off.py [--clients 64] [--pool 20] [--seconds 10] [--rounds 3] [--scale 10]
                               [--warmup 2] [--workers 1]
PGRELAY_BIN selects the binary (default build/release/proxy/pgrelay, else build/dev/proxy/pgrelay).
"""

import argparse
import re
import statistics
import subprocess
import time

import psycopg

from benchlib import (PGENV, bench_cluster, cpu_seconds, routed_database, running_pgrelay, spread,
                      wait_replicas_caught_up)
from conftest import dsn


def run_pgbench(port, dbname, args, seconds, relay_pid):
    cmd = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "app", "-S", "-M", "simple",
           "-c", str(args.clients), "-j", "2", "-T", str(seconds), "-n", dbname]
    cpu0 = cpu_seconds(relay_pid)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, env=PGENV)
    cpu1 = cpu_seconds(relay_pid)
    out = r.stdout + r.stderr
    tps = re.search(r"tps = ([\d.]+) \(without initial", out)
    xacts = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    errors = [l for l in out.splitlines() if "error" in l.lower()]
    return {
        "tps": float(tps.group(1)) if tps else 0.0,
        "xacts": int(xacts.group(1)) if xacts else 0,
        "failed": int(failed.group(1)) if failed else -1,
        "rc": r.returncode,
        "errors": errors,
        "cpu": cpu1 - cpu0,
    }


def app_backends(port):
    """Client backends of role app connected to the server on `port` (pgrelay's pool connections)."""
    with psycopg.connect(dsn(port, user="admin", password="admin", dbname="postgres"), autocommit=True) as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' "
                         "AND backend_type = 'client backend'").fetchone()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--pool", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured seconds per mode before round 1 (0: none)")
    ap.add_argument("--workers", type=int, default=1, help="pgrelay worker threads")
    args = ap.parse_args()

    with bench_cluster(2, args.scale) as (work, primary, replica_ports):
        wait_replicas_caught_up(primary, replica_ports)
        with running_pgrelay(work, {
                "workers": args.workers,
                "pool": {"mode": "transaction", "size": args.pool, "wait_timeout": "60s"},
                "databases": {"app_on": routed_database(primary, replica_ports, True),
                              "app_off": routed_database(primary, replica_ports, False)}}) as (relay, port, binary):
            measure(args, primary, replica_ports, relay, port, binary)


def measure(args, primary, replica_ports, relay, port, binary):
    time.sleep(2.5)  # let the health checker sample the replicas (check_interval 1s) before reads

    modes = {"on": "app_on", "off": "app_off"}
    print(f"pgrelay {binary} (pid {relay.pid}, {args.workers} worker(s)); pgbench -S -M simple "
          f"-c {args.clients} -j 2, pool {args.pool}, scale {args.scale}, {args.seconds}s x {args.rounds} rounds")
    clean = True
    if args.warmup > 0:
        for mode, db in modes.items():
            w = run_pgbench(port, db, args, args.warmup, relay.pid)
            if w["rc"] != 0 or w["failed"] != 0 or w["errors"]:
                clean = False
                print(f"  warm-up {mode}: rc={w['rc']} failed={w['failed']} {w['errors'][:2]}")
    conns = {"primary": app_backends(primary),
             **{f"replica-{i}": app_backends(p) for i, p in enumerate(replica_ports, start=1)}}
    print("server connections of role app after warm-up: "
          + ", ".join(f"{k} {v}" for k, v in conns.items()))
    if all(v == 0 for k, v in conns.items() if k != "primary"):
        print("WARNING: no connection on any replica: routing did not send reads to the replicas")

    results = {"on": [], "off": []}
    for rnd in range(args.rounds):
        order = ("on", "off") if rnd % 2 == 0 else ("off", "on")
        for mode in order:
            r = run_pgbench(port, modes[mode], args, args.seconds, relay.pid)
            results[mode].append(r)
            cpu_per_k = r["cpu"] / r["xacts"] * 1000 * 1000 if r["xacts"] else 0.0
            print(f"  round {rnd + 1} routing {mode:3}: {r['tps']:8.0f} tps, {r['xacts']} xacts, "
                  f"pgrelay cpu {r['cpu']:.2f}s = {cpu_per_k:.1f} ms/1000 xacts")
            if r["rc"] != 0 or r["failed"] != 0 or r["errors"]:
                clean = False
                print(f"    routing {mode}: rc={r['rc']} failed={r['failed']} {r['errors'][:2]}")

    summary = {}
    for mode in ("on", "off"):
        tps = [r["tps"] for r in results[mode]]
        cpu = [r["cpu"] / r["xacts"] * 1e6 for r in results[mode] if r["xacts"]]  # ms per 1000 xacts
        summary[mode] = (statistics.median(tps), tps, statistics.median(cpu) if cpu else 0.0)
        print(f"routing {mode:3}: median {summary[mode][0]:.0f} tps {[round(t) for t in tps]}, "
              f"spread {spread(tps):.1f}%, pgrelay cpu median {summary[mode][2]:.1f} ms/1000 xacts "
              f"{[round(c, 1) for c in cpu]}")
    on, off = summary["on"], summary["off"]
    print(f"on/off tps = {on[0] / off[0] if off[0] else 0:.2f}, "
          f"on/off pgrelay cpu per xact = {on[2] / off[2] if off[2] else 0:.2f}, "
          f"{'clean' if clean else 'ERRORS'}")

if __name__ == "__main__":
    main()
