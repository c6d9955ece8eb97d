#!/usr/bin/python3
"""Heap bytes per idle client of pgrelay, and where they are, from valgrind's massif.

VmRSS (bench/compare.py idle-10000, bench/callgrind_per_txn.py --idle) is what the issue's target
reads, but it moves with the allocator's history. This counts the live heap instead: it starts a
throwaway cluster and pgrelay (release build, `workers: 1`, routing off) under
`valgrind --tool=massif`, takes a detailed snapshot through vgdb before and while N clients sit
idle after a SCRAM login (bench/idle_clients.py; --driver-startup: each sent pgJDBC's startup
parameters) and, with --query, after each ran one query and
stayed idle until the sweep parked it (read from the metrics endpoint). The pool has 2 servers,
whose read buffers (64 KiB each) are the one cost here not per client. It prints one JSON line: heap bytes per idle
client, and the allocation sites that grew most per client (massif's tree, top level).

With --compact-parking-after N the config sets compact_parking_after (unset: pgrelay's default):
0 parks every client compactly, a number above --clients none.

Usage: bench/idle_heap.py [--binary build/release/proxy/pgrelay] [--clients 1000] [--query] [--driver-startup]
                          [--compact-parking-after N]
"""

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import REPO, bench_cluster, routed_database, stop_child, write_pgrelay_config  # noqa: E402
from pgnet import free_port, wait_for_port  # noqa: E402


def snapshot(pid, path):
    subprocess.run(["vgdb", f"--pid={pid}", "detailed_snapshot", str(path)], capture_output=True, timeout=120)
    deadline = time.monotonic() + 30
    while not (path.exists() and "mem_heap_B" in path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.read_text()


def parked_clients(http_port):
    """pgrelay_client_connections_parked from the metrics endpoint (0 if it does not answer)."""
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=30).read().decode()
    except OSError:
        return 0
    m = re.search(r"^pgrelay_client_connections_parked(?:{[^}]*})? ([0-9.e+]+)$", body, re.M)
    return int(float(m.group(1))) if m else 0


def wait_parked(http_port, clients, seconds):
    """Waits until `clients` clients are parked; False if they were not within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if parked_clients(http_port) >= clients:
            return True
        time.sleep(0.2)
    return False


def heap_bytes(text):
    return int(re.search(r"^mem_heap_B=(\d+)", text, re.M).group(1))


def top_sites(text):
    """{site: bytes} of the top-level entries of massif's tree."""
    sites = {}
    for m in re.finditer(r"^ n\d+: (\d+) 0x[0-9A-F]+: (.*?) \(in ", text, re.M):
        name = m.group(2).replace("(anonymous namespace)::", "").replace("pgrelay::proxy::", "")
        name = re.sub(r"\(.*", "", name)[:90]
        sites[name] = sites.get(name, 0) + int(m.group(1))
    return sites


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(REPO / "build/release/proxy/pgrelay"))
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--query", action="store_true", help="each client runs SELECT 1 once, then idles")
    ap.add_argument("--driver-startup", action="store_true",
                    help="each client sends pgJDBC's startup parameters (bench/idle_clients.py)")
    ap.add_argument("--compact-parking-after", type=int, default=None,
                    help="the config's compact_parking_after (unset: pgrelay's default)")
    args = ap.parse_args()
    with bench_cluster(2, 1) as (work, primary, replicas):
        port = free_port()
        http_port = free_port()
        # A pool of 2: each server holds a 64 KiB read buffer, which a pool of 20 would spread
        # over the clients as 1.3 KiB each at 1,000 clients.
        config = {"workers": 1, "pool": {"mode": "transaction", "size": 2},
                  "admin": {"http_listen": f"127.0.0.1:{http_port}"},
                  "databases": {"app": routed_database(primary, replicas, False)}}
        if args.compact_parking_after is not None:
            config["compact_parking_after"] = args.compact_parking_after
        path = write_pgrelay_config(work, config, port)
        relay = subprocess.Popen(["valgrind", "--tool=massif", "--vgdb=yes", f"--massif-out-file={work}/massif.out",
                                  args.binary, str(path)], stdout=subprocess.DEVNULL,
                                 stderr=open(work / "valgrind.log", "w"))
        try:
            if not wait_for_port(port, 60, alive=lambda: relay.poll() is None):
                raise RuntimeError((work / "valgrind.log").read_text()[-3000:])
            before = snapshot(relay.pid, work / "before.snap")
            holder_args = [sys.executable, str(REPO / "bench" / "idle_clients.py"), "--port", str(port),
                           "--clients", str(args.clients), "--hold", "300"] + (["--query"] if args.query else [])
            holder_args += ["--driver-startup"] if args.driver_startup else []
            holder = subprocess.Popen(holder_args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            ready = holder.stdout.readline().split()
            ok = int(ready[1]) if ready[:1] == ["ready"] else 0
            # After login a client parks at once; after a query the sweep parks it once it was
            # idle through a whole interval (1 to 2 s, longer under valgrind).
            all_parked = wait_parked(http_port, ok, 120)
            during = snapshot(relay.pid, work / "idle.snap")
            holder.stdin.close()
            holder.wait(timeout=60)
        finally:
            stop_child(relay, 60)
        grown = top_sites(during)
        for site, b in top_sites(before).items():
            grown[site] = grown.get(site, 0) - b
        per_client = {s: round(b / ok) for s, b in sorted(grown.items(), key=lambda kv: -kv[1])[:8]} if ok else {}
        print(json.dumps({"clients": ok, "query_first": args.query, "driver_startup": args.driver_startup,
                          "compact_parking_after": args.compact_parking_after,
                          "binary": args.binary, "all_parked": all_parked,
                          "heap_bytes_per_idle_client": round((heap_bytes(during) - heap_bytes(before)) / ok) if ok else None,
                          "top_sites_bytes_per_client": per_client}))


if __name__ == "__main__":
    main()
