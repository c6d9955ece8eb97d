#!/usr/bin/python3
"""pgrelay against PgBouncer and direct Postgres: pgbench scenarios in alternation, one command.

Starts its own cluster (tests/cluster/pgcluster: a primary + 2 streaming replicas, `pgbench -i -s 10`),
one PgBouncer (Debian's package, transaction mode, SCRAM client auth, run as the postgres OS user) and
one pgrelay (`workers: 1`, transaction mode, SCRAM client auth, read routing ON: the database has the
2 replicas configured). Every scenario runs against direct Postgres, PgBouncer and pgrelay in
alternation (A B C A B C …, --rounds rounds, after an unmeasured warm-up of each), and prints the
median TPS with its spread ((max − min) / median), the ratios pgrelay/PgBouncer and pgrelay/direct, and
each proxy's CPU time (user + sys from /proc/PID/stat, all threads, delta over the run) per 1,000
transactions: the figure a busy machine disturbs least.

Scenarios (pool 20 unless said; pgbench -j 2):
  select-simple-64    -S, simple protocol, 64 clients
  select-simple-1     -S, simple protocol, 1 client (the latency a proxy adds per query)
  select-extended-64  -S -M extended, 64 clients
  select-prepared-64  -S -M prepared, 64 clients (PgBouncer 1.18 has no prepared statements in
                      transaction mode: it runs -M extended and the row says so)
  tpcb-32             the default TPC-B-like script, 32 clients
  connect-32          -S -C: a new connection (SCRAM login) per transaction, 32 clients
  clients-2000        -S, 2,000 clients on the pool of 20 (direct: not run when Postgres'
                      max_connections cannot take them)
  idle-10000          10,000 idle logged-in clients: each proxy's VmRSS per idle client
  sweep               pool sizes 2, 4, 8, 20 for PgBouncer and pgrelay on -S 64 clients and TPC-B 32
                      clients (--sweep-seconds per run), plus pgrelay `size: auto` when the binary
                      accepts that key
Note that with routing on, pgrelay keeps a pool of that size per server (primary and each replica),
and reads are spread over the replicas, which share the machine's cores with the primary.

Output: a markdown table on stdout and a JSON file with every raw run (--json).
Default duration: about 25 minutes (12 s runs × 3 rounds, the sweep 6 s runs); the plan's estimate
is printed first. --quick: 1 round of 2 s runs with small client counts, a smoke test (about 4 minutes).

Usage: bench/compare.py [--rounds 3] [--seconds 12] [--sweep-seconds 6] [--warmup 2]
                        [--only select-simple-64,tpcb-32,...] [--workers2] [--routing on|off]
                        [--json FILE] [--quick]
PGRELAY_BIN selects the binary (default build/release/proxy/pgrelay, else build/dev/proxy/pgrelay).
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import psycopg

from benchlib import (REPO, bench_cluster, role_verifier, hold_idle_clients, pgbench, pgbouncer_version, pgrelay_accepts,
                      raise_nofile, routed_database, running_pgbouncer, running_pgrelay, spread,
                      wait_replicas_caught_up)
from pgnet import dsn

POOL = 20
SWEEP_SIZES = (2, 4, 8, 20)
TARGET_LABEL = {"direct": "direct", "pgbouncer": "PgBouncer", "pgrelay": "pgrelay", "pgrelay-w2": "pgrelay w2"}

# name: (pgbench arguments, clients, arguments for PgBouncer instead, note)
SCENARIOS = {
    "select-simple-64": (["-S", "-M", "simple"], 64, None, ""),
    "select-simple-1": (["-S", "-M", "simple"], 1, None, "latency"),
    "select-extended-64": (["-S", "-M", "extended"], 64, None, ""),
    "select-prepared-64": (["-S", "-M", "prepared"], 64, ["-S", "-M", "extended"],
                           "PgBouncer 1.18 cannot run -M prepared in transaction mode: its -M extended"),
    "tpcb-32": (["-M", "simple"], 32, None, ""),
    "connect-32": (["-S", "-M", "simple", "-C"], 32, None, "SCRAM login per transaction"),
    "clients-2000": (["-S", "-M", "simple"], 2000, None, ""),
}
SPECIAL = ("idle-10000", "sweep")
SWEEP_WORKLOADS = {"select-64": (["-S", "-M", "simple"], 64), "tpcb-32": (["-M", "simple"], 32)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=12, help="per pgbench run")
    ap.add_argument("--sweep-seconds", type=int, default=6, help="per pgbench run of the pool-size sweep")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured seconds per target before a scenario")
    ap.add_argument("--only", default="", help="comma-separated scenarios (default: all): "
                    + ", ".join([*SCENARIOS, *SPECIAL]))
    ap.add_argument("--many-clients", type=int, default=2000, help="clients of the clients-2000 scenario")
    ap.add_argument("--idle-clients", type=int, default=10000)
    ap.add_argument("--workers2", action="store_true", help="also run a pgrelay with workers: 2 (TPS and CPU)")
    ap.add_argument("--routing", choices=("on", "off"), default="on")
    ap.add_argument("--login", choices=("fixed", "passthrough"), default="fixed",
                    help="how pgrelay logs in to Postgres: as server_user app (fixed) or as each client with "
                         "its SCRAM keys (passthrough; the users file then holds Postgres's own verifier)")
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--json", default="", help="raw results file (default bench/results/compare-<time>.json)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 round of 2 s, no warm-up, 200 many/idle clients, sweep sizes 2 and 20")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.sweep_seconds, args.warmup = 1, 2, 2, 0
        # smaller client counts unless given explicitly
        args.many_clients = 200 if args.many_clients == 2000 else args.many_clients
        args.idle_clients = 200 if args.idle_clients == 10000 else args.idle_clients
    names = [n.strip() for n in args.only.split(",") if n.strip()] or [*SCENARIOS, *SPECIAL]
    unknown = [n for n in names if n not in SCENARIOS and n not in SPECIAL]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}")
    sweep_sizes = (2, 20) if args.quick else SWEEP_SIZES

    nofile = raise_nofile(max(args.idle_clients, args.many_clients) * 2 + 1000)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_path = Path(args.json) if args.json else REPO / "bench" / "results" / f"compare-{stamp}.json"
    print(plan(args, names, sweep_sizes), flush=True)

    report = {"started": stamp, "settings": {**vars(args), "scenarios": names, "sweep_sizes": list(sweep_sizes),
                                             "pool": POOL, "nofile": nofile}, "runs": [], "idle": [], "notes": []}
    with bench_cluster(2, args.scale) as (work, primary, replica_ports):
        wait_replicas_caught_up(primary, replica_ports)
        report["machine"] = machine(primary)
        routing = args.routing == "on"

        def relay_config(workers):
            dbs = {"app": routed_database(primary, replica_ports, routing)}
            for size in sweep_sizes:
                dbs[f"app_p{size}"] = routed_database(primary, replica_ports, routing, pool={"size": size})
            if args.login == "passthrough":
                for db in dbs.values():
                    db.pop("server_user")
                    db.pop("server_password")
                    db["server_login"] = "passthrough"
                    db["routing"]["health_user"] = "app"
                    db["routing"]["health_password"] = "app"
            return {"workers": workers,
                    "pool": {"mode": "transaction", "size": POOL, "wait_timeout": "120s",
                             "max_clients": args.idle_clients + args.many_clients + 1000},
                    "databases": dbs}

        app_verifier = role_verifier(primary) if args.login == "passthrough" else None
        config = relay_config(1)
        auto_db = routed_database(primary, replica_ports, routing, pool={"size": "auto", "max_size": POOL})
        auto_ok, why = pgrelay_accepts(work, {**config, "databases": {**config["databases"], "app_auto": auto_db}})
        if auto_ok:
            config["databases"]["app_auto"] = auto_db
        elif "sweep" in names:
            report["notes"].append("pgrelay `size: auto` not run: this binary refuses the key ("
                                   + (why.splitlines()[0] if why else "no diagnostics") + ")")
        bouncer_dbs = {"app": POOL, **{f"app_p{s}": s for s in sweep_sizes}}
        max_client_conn = max(args.idle_clients, args.many_clients) + 500

        with running_pgbouncer(primary, bouncer_dbs, max_client_conn) as (bouncer, bouncer_port), \
                running_pgrelay(work, config, app_verifier) as (relay, relay_port, binary):
            report["machine"]["pgrelay"] = describe_binary(binary)
            extra = contextlib.nullcontext()
            if args.workers2:
                w2_work = work / "w2"
                w2_work.mkdir()
                extra = running_pgrelay(w2_work, relay_config(2), app_verifier)
            with extra as w2:
                targets = {
                    "direct": {"port": primary, "pid": None},
                    "pgbouncer": {"port": bouncer_port, "pid": bouncer.pid},
                    "pgrelay": {"port": relay_port, "pid": relay.pid},
                }
                if w2:
                    targets["pgrelay-w2"] = {"port": w2[1], "pid": w2[0].pid}
                time.sleep(2.5)  # let pgrelay's health checker sample the replicas before reads
                run_all(args, names, sweep_sizes, targets, auto_ok, primary, report)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(render(report))
    print(f"\nraw runs: {out_path}")


def plan(args, names, sweep_sizes):
    """The schedule's length, printed before anything starts."""
    n_targets = 4 if args.workers2 else 3
    # + about 1 s per run to start pgbench and log its clients in, 8 s for 2,000 SCRAM logins
    pgbench_s = sum(args.rounds * n_targets * (scenario_seconds(args, n) + 1) + n_targets * (args.warmup + 1)
                    + (args.rounds * n_targets * 8 if n == "clients-2000" else 0)
                    for n in names if n in SCENARIOS)
    if "sweep" in names:
        pgbench_s += len(SWEEP_WORKLOADS) * args.rounds * (2 * len(sweep_sizes) + 1) * (args.sweep_seconds + 1)
    idle_s = 2 * max(10, args.idle_clients / 300) if "idle-10000" in names else 0
    total = pgbench_s + idle_s + 60  # + cluster start and pgbench -i
    return (f"plan: {', '.join(names)}; {args.rounds} round(s) of {args.seconds}s runs (sweep {args.sweep_seconds}s); "
            f"about {total / 60:.0f} min")


def run_all(args, names, sweep_sizes, targets, auto_ok, primary, report):
    for name in names:
        if name in SCENARIOS:
            run_scenario(args, name, targets, direct_capacity(primary), report)
        elif name == "sweep":
            run_sweep(args, sweep_sizes, targets, auto_ok, report)
        elif name == "idle-10000":
            run_idle(args, targets, report)


def direct_capacity(primary):
    """(connections Postgres can still take from ordinary roles, max_connections): the proxies' own
    server connections count against it."""
    with psycopg.connect(dsn(primary, user="admin", password="admin", dbname="postgres"), autocommit=True) as c:
        max_connections, reserved, used = c.execute(
            "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int, "
            "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')").fetchone()
    return max_connections - reserved - used, max_connections


def record(report, **run):
    report["runs"].append(run)
    r = run
    cpu = f", cpu {r['cpu_ms_per_1000']:.1f} ms/1000 xacts" if r.get("cpu_ms_per_1000") is not None else ""
    if r.get("switches_per_txn") is not None:
        cpu += f", {r['switches_per_txn']:.2f} context switches/xact"
    bad = "" if clean(r) else f"  rc={r['rc']} failed={r['failed']} {r['errors'][:2]}"
    print(f"  {r['scenario']:<20} {r.get('pool', ''):>4} round {r['round']} {r['target']:<11} "
          f"{r['tps']:>9.0f} tps{cpu}{bad}", flush=True)


def scenario_seconds(args, name):
    """A run's length: pgbench's own SCRAM logins of a thousand clients and more take several
    seconds of each run (2,000 left an 8 s run with 0 TPS), so those runs last 30 s at least."""
    if name == "clients-2000" and args.many_clients >= 1000:
        return max(args.seconds, 30)
    return args.seconds


def run_scenario(args, name, targets, capacity, report):
    pg_args, clients, bouncer_args, _ = SCENARIOS[name]
    seconds = scenario_seconds(args, name)
    if name == "clients-2000":
        clients = args.many_clients
    threads = min(clients, 2)
    active = dict(targets)
    free, max_connections = capacity
    if clients + 10 > free:  # headroom for pgrelay's health checker and a proxy opening a server
        del active["direct"]
        report["notes"].append(f"{name}: direct not run: Postgres takes {free} more connections "
                               f"(max_connections {max_connections}), not {clients}")
    print(f"{name}: pgbench {' '.join(pg_args)} -c {clients} -j {threads}, {seconds} s runs", flush=True)

    def run(target, seconds):
        a = bouncer_args if (target == "pgbouncer" and bouncer_args) else pg_args
        t = targets[target]
        return pgbench(t["port"], "app", seconds, clients, a, threads, t["pid"])

    if args.warmup > 0:
        for target in active:
            w = run(target, args.warmup)
            if w["rc"] != 0:
                print(f"  warm-up {target}: rc={w['rc']} {w['errors'][:2]}", flush=True)
    for rnd in range(1, args.rounds + 1):
        for target in active:
            record(report, scenario=name, target=target, round=rnd, clients=clients, **run(target, seconds))


def run_sweep(args, sweep_sizes, targets, auto_ok, report):
    for workload, (pg_args, clients) in SWEEP_WORKLOADS.items():
        print(f"sweep-{workload}: pgbench {' '.join(pg_args)} -c {clients}; pool sizes "
              f"{', '.join(map(str, sweep_sizes))}{' + pgrelay auto' if auto_ok else ''}", flush=True)
        cells = [(size, target) for size in sweep_sizes for target in ("pgbouncer", "pgrelay")]
        if auto_ok:
            cells.append(("auto", "pgrelay"))
        for rnd in range(1, args.rounds + 1):
            for size, target in cells:
                t = targets[target]
                r = pgbench(t["port"], f"app_p{size}" if size != "auto" else "app_auto", args.sweep_seconds,
                            clients, pg_args, 2, t["pid"])
                record(report, scenario=f"sweep-{workload}", target=target, round=rnd, clients=clients,
                       pool=size, **r)


def run_idle(args, targets, report):
    """Holds --idle-clients logged-in idle clients on each proxy and reads its VmRSS before and after."""
    print(f"idle-10000: {args.idle_clients} idle clients per proxy", flush=True)
    for target in ("pgbouncer", "pgrelay"):
        t = targets[target]
        ok, failed, secs, before, after = hold_idle_clients(t["port"], t["pid"], args.idle_clients)
        per = (after - before) / ok if ok else None
        report["idle"].append({"target": target, "clients": args.idle_clients, "ok": ok, "failed": failed,
                               "login_s": secs, "rss_before_kib": before, "rss_after_kib": after,
                               "kib_per_client": per})
        print(f"  {target:<10} {ok} idle ({failed} failed, {secs:.1f}s to log in): VmRSS {before} -> {after} KiB"
              f" = {per:.1f} KiB per client" if per is not None else f"  {target}: no client logged in", flush=True)


def machine(primary):
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem = next((l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")), "?")
    with psycopg.connect(dsn(primary), autocommit=True) as c:
        pg = c.execute("SELECT version()").fetchone()[0]
    pgb = subprocess.run(["pgbench", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(int(mem) / 1048576, 1) if mem != "?" else "?",
            "kernel": platform.release(), "os": platform.freedesktop_os_release().get("PRETTY_NAME", "")
            if hasattr(platform, "freedesktop_os_release") else "", "postgres": pg.split(",")[0],
            "pgbench": pgb, "pgbouncer": pgbouncer_version(), "loadavg_at_start": os.getloadavg()}


def describe_binary(binary):
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    build = "release" if "/release/" in binary else "dev" if "/dev/" in binary else "custom"
    return {"binary": binary, "build": build, "git": rev}


# --- the tables -----------------------------------------------------------------------------------

def clean(run):
    """pgbench exited 0, no failed transaction, and at least one transaction ran."""
    return run["rc"] == 0 and not run["failed"] and run["xacts"] > 0


def summarize(runs):
    tps = [r["tps"] for r in runs]
    cpu = [r["cpu_ms_per_1000"] for r in runs if r.get("cpu_ms_per_1000") is not None]
    lat = [r["latency_ms"] for r in runs if r.get("latency_ms") is not None]
    sw = [r["switches_per_txn"] for r in runs if r.get("switches_per_txn") is not None]
    return {"switches": statistics.median(sw) if sw else None,"tps": statistics.median(tps) if tps else 0.0, "spread": spread(tps), "n": len(tps),
            "cpu": statistics.median(cpu) if cpu else None, "latency_ms": statistics.median(lat) if lat else None,
            "clean": all(clean(r) for r in runs)}


def fmt_tps(s):
    if not s or not s["n"]:
        return "not run"
    return f"{s['tps']:,.0f} ({s['spread']:.0f}%)" + ("" if s["clean"] else " ERR")


def ratio(a, b):
    return f"{a['tps'] / b['tps']:.2f}" if a and b and a["n"] and b["n"] and b["tps"] else "–"


def render(report):
    m = report.get("machine", {})
    runs = report["runs"]
    lines = [f"\nMachine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('mem_gib', '?')} GiB, "
             f"{m.get('os', '')} {m.get('kernel', '')}; {m.get('postgres', '?')}; {m.get('pgbench', '')}; "
             f"{m.get('pgbouncer', '')}; pgrelay {m.get('pgrelay', {}).get('git', '?')} "
             f"({m.get('pgrelay', {}).get('build', '?')} build), workers 1, routing "
             f"{report['settings']['routing']}. Load average at start: "
             f"{', '.join(f'{x:.2f}' for x in m.get('loadavg_at_start', ()))}.",
             f"Scale 10, pool {POOL}, {report['settings']['rounds']} round(s) × {report['settings']['seconds']} s; "
             "TPS is the median (spread = (max − min) / median); CPU is the proxy's user+sys per 1,000 "
             "transactions (median).", ""]
    scen = [n for n in SCENARIOS if any(r["scenario"] == n for r in runs)]
    w2 = any(r["target"] == "pgrelay-w2" for r in runs)
    if scen:
        lines += ["| scenario | direct TPS | PgBouncer TPS | pgrelay TPS | pgrelay / PgBouncer | pgrelay / direct "
                  "| PgBouncer CPU ms/1k | pgrelay CPU ms/1k |" + (" pgrelay w2 TPS | pgrelay w2 CPU ms/1k |" if w2 else "") + " notes |",
                  "|---|---|---|---|---|---|---|---|" + ("---|---|" if w2 else "") + "---|"]
        for n in scen:
            s = {t: summarize([r for r in runs if r["scenario"] == n and r["target"] == t])
                 for t in TARGET_LABEL}
            cpu = lambda t: f"{s[t]['cpu']:.1f}" if s[t]["cpu"] is not None else "–"  # noqa: E731
            note = SCENARIOS[n][3]
            if n == "select-simple-1" and s["direct"]["latency_ms"] and s["pgrelay"]["latency_ms"]:
                added = lambda t: (s[t]["latency_ms"] - s["direct"]["latency_ms"]) * 1000  # noqa: E731
                note = (f"latency direct {s['direct']['latency_ms']:.3f} ms; added per query: PgBouncer "
                        f"{added('pgbouncer'):+.0f} µs, pgrelay {added('pgrelay'):+.0f} µs")
            clients = next(r["clients"] for r in runs if r["scenario"] == n)
            label = n if n != "clients-2000" else f"clients-{clients}"
            lines.append(f"| {label} | {fmt_tps(s['direct'])} | {fmt_tps(s['pgbouncer'])} | {fmt_tps(s['pgrelay'])} | "
                         f"{ratio(s['pgrelay'], s['pgbouncer'])} | {ratio(s['pgrelay'], s['direct'])} | "
                         f"{cpu('pgbouncer')} | {cpu('pgrelay')} |" + (f" {fmt_tps(s['pgrelay-w2'])} | {cpu('pgrelay-w2')} |" if w2 else "")
                         + f" {note} |")
        lines += ["", "Context switches of the proxy per transaction (median; voluntary ones are sleeps in epoll_wait, "
                  "so fewer means more work found per wake-up):", "",
                  "| scenario | PgBouncer | pgrelay |" + (" pgrelay w2 |" if w2 else ""),
                  "|---|---|---|" + ("---|" if w2 else "")]
        for n in scen:
            s = {t: summarize([r for r in runs if r["scenario"] == n and r["target"] == t]) for t in TARGET_LABEL}
            sw = lambda t: f"{s[t]['switches']:.2f}" if s[t]["switches"] is not None else "–"  # noqa: E731
            lines.append(f"| {n} | {sw('pgbouncer')} | {sw('pgrelay')} |" + (f" {sw('pgrelay-w2')} |" if w2 else ""))
    sweep = sorted({r["scenario"] for r in runs if r["scenario"].startswith("sweep-")})
    if sweep:
        sizes = report["settings"]["sweep_sizes"] + (["auto"] if any(r.get("pool") == "auto" for r in runs) else [])
        lines += ["", f"Pool-size sweep ({report['settings']['sweep_seconds']} s runs), median TPS (spread):", "",
                  "| pool size | " + " | ".join(f"PgBouncer {w[6:]} | pgrelay {w[6:]}" for w in sweep) + " |",
                  "|---|" + "---|---|" * len(sweep)]
        for size in sizes:
            cells = []
            for w in sweep:
                for t in ("pgbouncer", "pgrelay"):
                    sel = [r for r in runs if r["scenario"] == w and r["target"] == t and r.get("pool") == size]
                    cells.append(fmt_tps(summarize(sel)) if sel else "–")
            lines.append(f"| {size} | " + " | ".join(cells) + " |")
    if report["idle"]:
        lines += ["", "| proxy | idle clients | VmRSS before | VmRSS with them | per idle client |", "|---|---|---|---|---|"]
        for i in report["idle"]:
            per = f"{i['kib_per_client']:.1f} KiB" if i["kib_per_client"] is not None else "–"
            lines.append(f"| {TARGET_LABEL[i['target']]} | {i['ok']} ({i['failed']} failed) | "
                         f"{i['rss_before_kib'] / 1024:.1f} MiB | {i['rss_after_kib'] / 1024:.1f} MiB | {per} |")
    if report["notes"]:
        lines += [""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
