#!/usr/bin/python3
"""Read-your-writes scopes under a mixed load: how many reads replicas still serve, TPS, and
pgrelay's CPU per transaction, for routing.read_your_writes session, user, database and off.

Starts its own cluster (tests/cluster/pgcluster: a primary + 2 streaming replicas, `pgbench -i`)
and one pgrelay serving one logical database per scope over the same server database `app`
(transaction mode, the replicas with role read, everything else default: check_interval 1s,
read_your_writes_wait 20ms, balance session). Runs
`pgbench -M simple -c C -j 2 -T N -b select-only@9 -b tpcb-like@1` against each in alternation
(the scopes in order, then reversed, round after round, after an unmeasured warm-up of each), and
prints per scope: median TPS, the share of reads served by a replica (from SHOW ROUTES: reads
routed to a replica over all reads, a read kept on the primary by read-your-writes or by no
eligible replica counting as not served), pgrelay's CPU time (utime+stime from /proc/PID/stat)
per 1000 transactions, and user's replica share as a fraction of session's (issue 17's goal:
at least 0.8).

The cluster runs with synchronous_commit off, with which a commit reaches the replicas only when
the WAL writer flushes it (wal_writer_delay, 200 ms): no read after a write could use a replica
within the wait, whatever the scope. The benchmark sets synchronous_commit on for the run (as in
a default Postgres) unless --sync-commit off is given.

Usage: bench/read_your_writes.py [--clients 32] [--pool 20] [--seconds 10] [--rounds 3]
                                 [--scale 10] [--warmup 2] [--workers 1] [--sync-commit on|off]
                                 [--scopes session,user,database,off] [--wait 20ms]
PGRELAY_BIN selects the binary (default build/release/proxy/pgrelay, else build/dev/proxy/pgrelay).
"""

import argparse
import statistics
import time

import psycopg

from benchlib import bench_cluster, pgbench, routed_database, running_pgrelay, spread, wait_replicas_caught_up
from pgnet import dsn  # benchlib puts tests/tools on the path

READ_KEPT = ("read_your_writes", "no_eligible_replica", "no_eligible_replica_error")


def route_counts(port, dbname):
    """SHOW ROUTES of one logical database: reason or 'to TARGET' -> count."""
    with psycopg.connect(dsn(port, user="app", password="app", dbname="pgrelay"), autocommit=True) as c:
        return {r[1]: int(r[2]) for r in c.execute("SHOW ROUTES").fetchall() if r[0] == dbname}


def replica_share(before, after):
    """(reads on replicas, all reads) between two SHOW ROUTES snapshots."""
    delta = lambda k: after.get(k, 0) - before.get(k, 0)
    on_replicas = sum(delta(k) for k in after if k.startswith("to replica-"))
    kept = sum(delta(k) for k in READ_KEPT)
    return on_replicas, on_replicas + kept


def set_synchronous_commit(primary, value):
    with psycopg.connect(dsn(primary, user="admin", password="admin", dbname="postgres"), autocommit=True) as c:
        c.execute(f"ALTER SYSTEM SET synchronous_commit = '{value}'")
        c.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while c.execute("SHOW synchronous_commit").fetchone()[0] != value:
            if time.monotonic() > deadline:
                raise RuntimeError("synchronous_commit did not change")
            time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--pool", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured seconds per scope before round 1 (0: none)")
    ap.add_argument("--workers", type=int, default=1, help="pgrelay worker threads")
    ap.add_argument("--sync-commit", choices=("on", "off"), default="on")
    ap.add_argument("--scopes", default="session,user,database,off")
    ap.add_argument("--wait", default=None, help="routing.read_your_writes_wait (default: pgrelay's, 20ms)")
    args = ap.parse_args()
    scopes = args.scopes.split(",")

    with bench_cluster(2, args.scale) as (work, primary, replica_ports):
        wait_replicas_caught_up(primary, replica_ports)
        set_synchronous_commit(primary, args.sync_commit)
        databases = {f"app_{s}": routed_database(primary, replica_ports, True) for s in scopes}
        for s in scopes:
            databases[f"app_{s}"]["routing"]["read_your_writes"] = s
            if args.wait is not None:
                databases[f"app_{s}"]["routing"]["read_your_writes_wait"] = args.wait
        with running_pgrelay(work, {
                "workers": args.workers,
                "auth": {"method": "scram-sha-256", "users_file": "users.json", "admin_users": ["app"]},
                "pool": {"mode": "transaction", "size": args.pool, "wait_timeout": "60s"},
                "databases": databases}) as (relay, port, binary):
            measure(args, scopes, relay, port, binary)


def one_run(args, port, scope, seconds, pid):
    db = f"app_{scope}"
    before = route_counts(port, db)
    r = pgbench(port, db, seconds, args.clients, args=("-M", "simple", "-b", "select-only@9", "-b", "tpcb-like@1"),
                threads=2, pid=pid)
    r["replica_reads"], r["reads"] = replica_share(before, route_counts(port, db))
    r["share"] = r["replica_reads"] / r["reads"] if r["reads"] else 0.0
    return r


def measure(args, scopes, relay, port, binary):
    time.sleep(2.5)  # let the health checker sample the replicas (check_interval 1s) before reads
    print(f"pgrelay {binary} (pid {relay.pid}, {args.workers} worker(s)); pgbench -M simple -c {args.clients} -j 2 "
          f"-b select-only@9 -b tpcb-like@1, pool {args.pool}, scale {args.scale}, synchronous_commit "
          f"{args.sync_commit}, read_your_writes_wait {args.wait or 'default'}, {args.seconds}s x {args.rounds} rounds")
    clean = True
    if args.warmup > 0:
        for s in scopes:
            w = one_run(args, port, s, args.warmup, relay.pid)
            if w["rc"] != 0 or w["failed"] or w["errors"]:
                clean = False
                print(f"  warm-up {s}: rc={w['rc']} failed={w['failed']} {w['errors'][:2]}")
    results = {s: [] for s in scopes}
    for rnd in range(args.rounds):
        for s in (scopes if rnd % 2 == 0 else list(reversed(scopes))):
            r = one_run(args, port, s, args.seconds, relay.pid)
            results[s].append(r)
            print(f"  round {rnd + 1} {s:9}: {r['tps']:8.0f} tps, {r['xacts']} xacts, reads on replicas "
                  f"{r['replica_reads']}/{r['reads']} ({100 * r['share']:.1f}%), pgrelay cpu "
                  f"{r['cpu_ms_per_1000'] or 0:.1f} ms/1000 xacts", flush=True)
            if r["rc"] != 0 or r["failed"] or r["errors"]:
                clean = False
                print(f"    {s}: rc={r['rc']} failed={r['failed']} {r['errors'][:2]}")
    summary = {}
    for s in scopes:
        rs = results[s]
        tps = [r["tps"] for r in rs]
        summary[s] = {"tps": statistics.median(tps), "share": statistics.median(r["share"] for r in rs),
                      "cpu": statistics.median(r["cpu_ms_per_1000"] or 0.0 for r in rs)}
        print(f"{s:9}: median {summary[s]['tps']:.0f} tps {[round(t) for t in tps]} (spread {spread(tps):.1f}%), "
              f"reads on replicas {100 * summary[s]['share']:.1f}%, pgrelay cpu {summary[s]['cpu']:.1f} ms/1000 xacts")
    if "user" in summary and "session" in summary and summary["session"]["share"]:
        print(f"user/session replica share = {summary['user']['share'] / summary['session']['share']:.2f} "
              f"(goal >= 0.80); {'clean' if clean else 'ERRORS'}")
    else:
        print("clean" if clean else "ERRORS")


if __name__ == "__main__":
    main()
