#!/usr/bin/python3
"""pgbench -M prepared vs -M extended through pgrelay in transaction mode (the point of preparing).

Starts its own cluster (tests/cluster/pgcluster) and pgrelay, runs each mode in alternation for
several rounds, and prints the median TPS of each, their ratio and the failed-transaction counts.
Usage: bench/prepared_vs_extended.py [--clients 50] [--pool 5] [--seconds 10] [--rounds 3] [--scale 10]
"""

import argparse
import re
import statistics
import subprocess

from benchlib import PGENV, bench_cluster, running_pgrelay


def run_pgbench(port, mode, args, seconds, select_only):
    cmd = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "app", "-M", mode, "-c", str(args.clients),
           "-j", "2", "-T", str(seconds), "-n", *(["-S"] if select_only else []), "app"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120,
                       env=PGENV)
    out = r.stdout + r.stderr
    tps = re.search(r"tps = ([\d.]+) \(without initial", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    errors = [l for l in out.splitlines() if "error" in l.lower()]
    return (float(tps.group(1)) if tps else 0.0, int(failed.group(1)) if failed else -1, r.returncode, errors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pool", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=int, default=10)
    args = ap.parse_args()

    with bench_cluster(0, args.scale) as (work, primary, _), running_pgrelay(work, {
            "workers": 1,
            "pool": {"mode": "transaction", "size": args.pool, "wait_timeout": "60s"},
            "databases": {"app": {"primary": f"127.0.0.1:{primary}", "server_user": "app",
                                  "server_password": "app"}}}) as (_, port, binary):
        print(f"pgrelay {binary}; {args.clients} clients, pool {args.pool}, {args.seconds}s x {args.rounds} rounds")
        for label, select_only in (("select-only (-S)", True), ("TPC-B-like", False)):
            results = {"extended": [], "prepared": []}
            clean = True
            for _ in range(args.rounds):
                for mode in ("extended", "prepared"):
                    tps, failed, rc, errors = run_pgbench(port, mode, args, args.seconds, select_only)
                    results[mode].append(tps)
                    if rc != 0 or failed != 0 or errors:
                        clean = False
                        print(f"  {mode}: rc={rc} failed={failed} {errors[:2]}")
            ext = statistics.median(results["extended"])
            prep = statistics.median(results["prepared"])
            print(f"{label}: extended median {ext:.0f} tps {results['extended']}, prepared median {prep:.0f} tps "
                  f"{results['prepared']}, prepared/extended = {prep / ext if ext else 0:.2f}, "
                  f"{'clean' if clean else 'ERRORS'}")


if __name__ == "__main__":
    main()
