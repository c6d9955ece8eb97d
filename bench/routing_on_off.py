#!/usr/bin/python3
"""pgbench -S -M simple through pgrelay with read routing on vs off (what routing costs and buys).

Starts its own cluster (tests/cluster/pgcluster: a primary + 2 streaming replicas) and one pgrelay
serving two logical databases over the same server database `app`:
  app_on   the 2 replicas configured (role read), routing enabled  -> reads spread over the replicas
  app_off  the same replicas configured, routing disabled          -> everything on the primary
Both in transaction mode with the same pool size (per server pool: with routing on, each replica
gets its own pool of that size as well). Runs `pgbench -S -M simple -c C -j 2 -T N` against each in
alternation (the modes in order, then reversed, round after round: ABCD DCBA ABCD; after an
unmeasured warm-up of each), and prints the median
TPS each way with the spread, the on/off ratio, and pgrelay's CPU time (utime+stime from
/proc/PID/stat, read just before and after each pgbench run) per 1000 transactions.

The same pgbench also runs straight at the servers, in the same alternation: `direct-primary` (all
clients on the primary) and `direct-replicas` (half the clients on each replica at once). Their
ratio shows what spreading reads over more Postgres instances costs on this one machine, with no
proxy in the way; every mode also reports the whole machine's busy CPU time (user+system+irq from
/proc/stat) per transaction.

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

from benchlib import (PGENV, bench_cluster, cpu_seconds, machine_busy_seconds, routed_database, running_pgrelay,
                      spread, wait_replicas_caught_up)
from pgnet import dsn


def pgbench_command(port, dbname, clients, seconds):
    return ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "app", "-S", "-M", "simple",
            "-c", str(clients), "-j", "2", "-T", str(seconds), "-n", dbname]


def run_pgbench(targets, seconds, relay_pid):
    """Runs one pgbench per (port, dbname, clients) target at once; sums what they report."""
    cpu0, busy0 = cpu_seconds(relay_pid), machine_busy_seconds()
    procs = [subprocess.Popen(pgbench_command(port, db, clients, seconds), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=PGENV) for port, db, clients in targets]
    outs = [p.communicate(timeout=seconds + 120)[0] for p in procs]
    cpu1, busy1 = cpu_seconds(relay_pid), machine_busy_seconds()
    result = {"tps": 0.0, "xacts": 0, "failed": 0, "rc": 0, "errors": [], "cpu": cpu1 - cpu0, "busy": busy1 - busy0}
    for p, out in zip(procs, outs):
        tps = re.search(r"tps = ([\d.]+) \(without initial", out)
        xacts = re.search(r"number of transactions actually processed: (\d+)", out)
        failed = re.search(r"number of failed transactions: (\d+)", out)
        result["tps"] += float(tps.group(1)) if tps else 0.0
        result["xacts"] += int(xacts.group(1)) if xacts else 0
        result["failed"] += int(failed.group(1)) if failed else 1
        result["rc"] = result["rc"] or p.returncode
        result["errors"] += [l for l in out.splitlines() if "error" in l.lower()]
    return result


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

    half = args.clients // 2
    modes = {"on": [(port, "app_on", args.clients)], "off": [(port, "app_off", args.clients)],
             "direct-primary": [(primary, "app", args.clients)],
             "direct-replicas": [(replica_ports[0], "app", half), (replica_ports[1], "app", args.clients - half)]}
    print(f"pgrelay {binary} (pid {relay.pid}, {args.workers} worker(s)); pgbench -S -M simple "
          f"-c {args.clients} -j 2, pool {args.pool}, scale {args.scale}, {args.seconds}s x {args.rounds} rounds")
    clean = True
    if args.warmup > 0:
        for mode, targets in modes.items():
            w = run_pgbench(targets, args.warmup, relay.pid)
            if w["rc"] != 0 or w["failed"] != 0 or w["errors"]:
                clean = False
                print(f"  warm-up {mode}: rc={w['rc']} failed={w['failed']} {w['errors'][:2]}")
    conns = {"primary": app_backends(primary),
             **{f"replica-{i}": app_backends(p) for i, p in enumerate(replica_ports, start=1)}}
    print("server connections of role app after warm-up: "
          + ", ".join(f"{k} {v}" for k, v in conns.items()))
    if all(v == 0 for k, v in conns.items() if k != "primary"):
        print("WARNING: no connection on any replica: routing did not send reads to the replicas")

    results = {mode: [] for mode in modes}
    for rnd in range(args.rounds):
        order = list(modes) if rnd % 2 == 0 else list(reversed(modes))
        for mode in order:
            r = run_pgbench(modes[mode], args.seconds, relay.pid)
            results[mode].append(r)
            per_k = (lambda sec: sec / r["xacts"] * 1e6) if r["xacts"] else (lambda sec: 0.0)
            relay_cpu = f", pgrelay cpu {per_k(r['cpu']):.1f}" if mode in ("on", "off") else ""
            print(f"  round {rnd + 1} {mode:15}: {r['tps']:8.0f} tps, {r['xacts']} xacts, "
                  f"machine busy {per_k(r['busy']):.1f}{relay_cpu} ms/1000 xacts", flush=True)
            if r["rc"] != 0 or r["failed"] != 0 or r["errors"]:
                clean = False
                print(f"    {mode}: rc={r['rc']} failed={r['failed']} {r['errors'][:2]}")

    summary = {}
    for mode in modes:
        tps = [r["tps"] for r in results[mode]]
        med = lambda key: statistics.median(r[key] / r["xacts"] * 1e6 for r in results[mode]) if all(
            r["xacts"] for r in results[mode]) else 0.0  # ms per 1000 xacts
        summary[mode] = {"tps": statistics.median(tps), "cpu": med("cpu"), "busy": med("busy")}
        relay_cpu = f", pgrelay cpu median {summary[mode]['cpu']:.1f}" if mode in ("on", "off") else ""
        print(f"{mode:15}: median {summary[mode]['tps']:.0f} tps {[round(t) for t in tps]}, "
              f"spread {spread(tps):.1f}%, machine busy median {summary[mode]['busy']:.1f}{relay_cpu} ms/1000 xacts")
    ratio = lambda a, b, key: summary[a][key] / summary[b][key] if summary[b][key] else 0.0
    print(f"on/off tps = {ratio('on', 'off', 'tps'):.2f}, on/off pgrelay cpu per xact = {ratio('on', 'off', 'cpu'):.2f}, "
          f"on/off machine cpu per xact = {ratio('on', 'off', 'busy'):.2f}; direct replicas/primary tps = "
          f"{ratio('direct-replicas', 'direct-primary', 'tps'):.2f}, machine cpu per xact = "
          f"{ratio('direct-replicas', 'direct-primary', 'busy'):.2f}; {'clean' if clean else 'ERRORS'}")

if __name__ == "__main__":
    main()
