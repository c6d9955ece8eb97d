#!/usr/bin/python3
"""How much throughput any proxy could reach on this machine: who spends the CPU of a transaction.

A proxy on the same cores as pgbench and Postgres can only win TPS by spending less CPU per transaction
than another proxy. This measures, for the throughput scenarios of bench/compare.py, where each
transaction's CPU goes, and from that the best TPS a proxy could reach here.

Starts the same cluster, PgBouncer and pgrelay as bench/compare.py (pool 20, SCRAM, pgrelay
`workers: 1` with read routing on) and runs each scenario against direct Postgres, PgBouncer and
pgrelay in alternation (--rounds rounds of --seconds). Each run is measured over a window of
pgbench's progress reports (-P 1) that opens once every client is connected, so that the logins of
2,000 clients are not counted (with -C the logins are the workload). At both ends it reads:
  - the machine's busy time over all cores (/proc/stat: user, nice, system, irq, softirq, steal);
  - pgbench's own CPU time (user + sys, /proc/PID/stat);
  - the proxy's user and system time (/proc/PID/stat, all threads).
The transactions in the window are the sum of the reported per-second rates.
Per transaction (medians over the rounds): machine M, pgbench B, proxy user U and system S, and the
rest R = M − B − U − S (Postgres, and whatever else ran).

Two ceilings for pgrelay against PgBouncer's run, both with every core busy (an upper bound: no run
reaches 100 %):
  - "no proxy CPU":       cores / (M − U − S): a proxy that costs nothing at all;
  - "kernel relay only":  cores / (M − U): a proxy with no user time that still pays the kernel's
    cost of relaying the same bytes over TCP, which PgBouncer pays as system time.
Both assume pgbench's and Postgres' CPU per transaction do not depend on the proxy. It also prints
the CPU per transaction a proxy may spend for 1.2 × PgBouncer's TPS (every core busy), beside
PgBouncer's and pgrelay's.

Usage: bench/ceiling.py [--rounds 3] [--seconds 8] [--routing on|off] [--pgrelay-pool N]
                        [--only select-simple-64,connect-32,...]
PGRELAY_BIN selects the binary (default build/release/proxy/pgrelay, else build/dev/proxy/pgrelay).
"""

import argparse
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

from benchlib import (PGENV, bench_cluster, cpu_user_sys, machine_busy_seconds, pgbench, raise_nofile,
                      routed_database, running_pgbouncer, running_pgrelay, stop_child, wait_replicas_caught_up)
from compare import POOL, SCENARIOS, direct_capacity

THROUGHPUT = ("select-simple-64", "select-extended-64", "tpcb-32", "connect-32", "clients-2000")


def connected(port):
    """Established TCP connections whose local port is `port` (the server side of each client)."""
    hex_port = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            count += local.endswith(hex_port) and state == "01"
    return count


def snapshot(pids):
    """Machine busy seconds and (user, sys) of each process in `pids`."""
    return machine_busy_seconds(), [cpu_user_sys(p) for p in pids]


def measured_run(port, pid, clients, pg_args, seconds):
    """One pgbench run with the CPU split per transaction (µs), or None if it failed.

    The window opens at the first progress report after every client is connected, so that the
    logins of many clients do not count (with -C logins are the workload, and count)."""
    settle = 2 + clients // 150
    cmd = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "app", "-n", "-c", str(clients),
           "-j", str(min(clients, 2)), "-T", str(seconds + settle), "-P", "1", *pg_args, "app"]
    bench = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=PGENV)
    pids = [bench.pid] + ([pid] if pid else [])
    marks = []  # (seconds since start, tps over the second before, snapshot) at each progress report
    try:
        for line in bench.stderr:
            m = re.match(r"progress: ([\d.]+) s, ([\d.]+) tps", line)
            if not m or len(marks) > seconds:
                continue
            if not marks and "-C" not in pg_args and connected(port) < clients:
                continue
            marks.append((float(m[1]), float(m[2]), snapshot(pids)))
        out = bench.stdout.read()
    finally:
        stop_child(bench)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if bench.returncode != 0 or len(marks) < 2 or (failed and int(failed[1])):
        return None
    (t0, _, (m0, procs0)), (t1, _, (m1, procs1)) = marks[0], marks[-1]
    xacts = sum(tps * (t - t_prev) for (t_prev, _, _), (t, tps, _) in zip(marks, marks[1:]))
    if xacts <= 0:
        return None
    us = 1e6 / xacts
    (bu0, bs0), (bu1, bs1) = procs0[0], procs1[0]
    (pu0, ps0), (pu1, ps1) = procs0[1] if pid else (0, 0), procs1[1] if pid else (0, 0)
    split = {"tps": xacts / (t1 - t0), "M": (m1 - m0) * us, "B": (bu1 - bu0 + bs1 - bs0) * us,
             "U": (pu1 - pu0) * us, "S": (ps1 - ps0) * us, "busy": (m1 - m0) / ((t1 - t0) * os.cpu_count())}
    split["R"] = split["M"] - split["B"] - split["U"] - split["S"]
    return split


def medians(runs):
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]} if runs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--routing", choices=("on", "off"), default="on", help="pgrelay's read routing")
    ap.add_argument("--pgrelay-pool", type=int, default=POOL,
                    help="pgrelay's pool size per server (default: PgBouncer's). With routing on, reads use "
                         "one pool per replica: 10 gives them PgBouncer's 20 server connections in all")
    ap.add_argument("--only", default="", help="comma-separated scenarios: " + ", ".join(THROUGHPUT))
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(THROUGHPUT)
    if any(n not in THROUGHPUT for n in names):
        ap.error(f"scenarios are among: {', '.join(THROUGHPUT)}")
    raise_nofile(6000)
    cores = os.cpu_count()
    minutes = len(names) * args.rounds * 3 * (args.seconds + 2) / 60 + 1
    print(f"bench/ceiling.py: {', '.join(names)}; {args.rounds} round(s) of {args.seconds} s; {cores} cores; "
          f"pgrelay routing {args.routing}, pool {args.pgrelay_pool} per server; about {minutes:.0f} min", flush=True)
    results = {}
    with bench_cluster(2, 10) as (work, primary, replicas):
        wait_replicas_caught_up(primary, replicas)
        config = {"workers": 1, "pool": {"mode": "transaction", "size": POOL, "wait_timeout": "120s",
                                         "max_clients": 5000},
                  "databases": {"app": routed_database(primary, replicas, args.routing == "on",
                                                      pool={"size": args.pgrelay_pool})}}
        with running_pgbouncer(primary, {"app": POOL}, 5000) as (bouncer, bouncer_port), \
                running_pgrelay(work, config) as (relay, relay_port, _):
            time.sleep(2.5)  # pgrelay's health checker samples the replicas before reads route
            for name in names:
                pg_args, clients, _, _ = SCENARIOS[name]
                targets = {"direct": (primary, None), "pgbouncer": (bouncer_port, bouncer.pid),
                           "pgrelay": (relay_port, relay.pid)}
                if clients + 10 > direct_capacity(primary)[0]:
                    del targets["direct"]
                runs = {t: [] for t in targets}
                for t, (port, pid) in targets.items():  # unmeasured warm-up: pools filled, caches hot
                    pgbench(port, "app", 2, clients, pg_args)
                for rnd in range(1, args.rounds + 1):
                    for t, (port, pid) in targets.items():
                        s = measured_run(port, pid, clients, pg_args, args.seconds)
                        print(f"  {name:<19} round {rnd} {t:<9} " + (
                            "failed" if s is None else
                            f"{s['tps']:8.0f} tps  µs/xact: machine {s['M']:7.1f} pgbench {s['B']:7.1f} "
                            f"proxy user {s['U']:6.1f} sys {s['S']:6.1f} rest {s['R']:7.1f}  busy {s['busy']:.0%}"),
                            flush=True)
                        if s:
                            runs[t].append(s)
                results[name] = {t: medians(r) for t, r in runs.items()}
    print(render(results, cores))


def render(results, cores):
    lines = ["", "Medians, µs of CPU per transaction (M machine, B pgbench, U/S proxy user/system, "
             "R the rest: Postgres and the others):", "",
             "| scenario | target | TPS | M | B | U | S | R | cores busy |", "|---|---|---|---|---|---|---|---|---|"]
    for name, by_target in results.items():
        for t, m in by_target.items():
            if m:
                lines.append(f"| {name} | {t} | {m['tps']:,.0f} | {m['M']:.1f} | {m['B']:.1f} | {m['U']:.1f} | "
                             f"{m['S']:.1f} | {m['R']:.1f} | {m['busy']:.0%} |")
    lines += ["", "Ceilings at 100 % of the cores, from PgBouncer's split (TPS; × PgBouncer's measured TPS; "
              "× direct's):", "",
              "| scenario | pgrelay / PgBouncer measured | no proxy CPU | kernel relay only | proxy CPU allowed at "
              "1.2 × PgBouncer | 0.7 × PgBouncer CPU | pgrelay system time |", "|---|---|---|---|---|---|---|"]
    for name, by_target in results.items():
        b, r, d = by_target.get("pgbouncer"), by_target.get("pgrelay"), by_target.get("direct")
        if not b:
            continue

        def ceiling(per_xact):
            tps = cores * 1e6 / per_xact
            vs_direct = f", {tps / d['tps']:.2f} × direct" if d else ""
            return f"{tps:,.0f} ({tps / b['tps']:.2f} ×{vs_direct})"
        measured = f"{r['tps'] / b['tps']:.2f}" if r else "–"
        pgrelay_sys = f"{r['S']:.1f} µs" if r else "–"
        # Per transaction, what is left for a proxy once pgbench and Postgres have had theirs, at 1.2 × TPS.
        allowed = cores * 1e6 / (1.2 * b["tps"]) - (b["M"] - b["U"] - b["S"])
        lines.append(f"| {name} | {measured} | {ceiling(b['M'] - b['U'] - b['S'])} | {ceiling(b['M'] - b['U'])} | "
                     f"{allowed:.1f} µs | {0.7 * (b['U'] + b['S']):.1f} µs | {pgrelay_sys} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
