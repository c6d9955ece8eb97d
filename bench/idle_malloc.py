#!/usr/bin/python3
"""Where pgrelay's resident memory per idle client goes between live heap and free heap.

Starts a throwaway cluster and pgrelay (release build, `workers: 1`, routing off, a pool of 2),
logs --clients idle clients in through bench/idle_clients.py, --concurrency at a time, and reads
VmRSS and glibc's mallinfo2() (through gdb) before and once they are all in and the resident size
has settled. The free heap is what logins in flight left behind in holes between memory that
stays; `--trim` then calls malloc_trim(0) through gdb and reads VmRSS again (what pgrelay's own
trim after a burst of logins, worker.cpp, should already have given back). The sessions themselves
live in their slab (proxy/src/session_slab.hpp), whose blocks glibc maps apart from the heap: they
count in VmRSS, not in mallinfo's figures. Prints one JSON line, bytes per client.

Usage: bench/idle_malloc.py [--binary build/release/proxy/pgrelay] [--clients 10000]
                            [--concurrency 200] [--trim]
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import (REPO, bench_cluster, raise_nofile, routed_database, rss_kib, settled_rss_kib,  # noqa: E402
                      stop_child, write_pgrelay_config)
from pgnet import free_port, wait_for_port  # noqa: E402


def gdb(pid, *commands):
    args = ["gdb", "-p", str(pid), "-batch"]
    for c in commands:
        args += ["-ex", c]
    return subprocess.run(args, capture_output=True, text=True, timeout=120).stdout


def heap(pid):
    """(bytes in use, bytes free inside the heap) from mallinfo2()."""
    m = re.search(r"uordblks = (\d+), fordblks = (\d+)", gdb(pid, "p mallinfo2()"))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(REPO / "build/release/proxy/pgrelay"))
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--trim", action="store_true", help="then malloc_trim(0) through gdb and read VmRSS again")
    args = ap.parse_args()
    raise_nofile(args.clients * 2 + 1000)
    with bench_cluster(2, 1) as (work, primary, replicas):
        port = free_port()
        config = {"workers": 1, "pool": {"mode": "transaction", "size": 2, "max_clients": args.clients + 1000},
                  "databases": {"app": routed_database(primary, replicas, False)}}
        path = write_pgrelay_config(work, config, port)
        relay = subprocess.Popen([args.binary, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not wait_for_port(port, 60, alive=lambda: relay.poll() is None):
                raise RuntimeError("pgrelay did not start")
            rss_before, heap_before = rss_kib(relay.pid), heap(relay.pid)
            holder = subprocess.Popen([sys.executable, str(REPO / "bench" / "idle_clients.py"), "--port", str(port),
                                       "--clients", str(args.clients), "--concurrency", str(args.concurrency),
                                       "--hold", "300"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            ready = holder.stdout.readline().split()
            ok = int(ready[1]) if ready[:1] == ["ready"] else 0
            rss_after = settled_rss_kib(relay.pid)
            heap_after = heap(relay.pid)
            result = {"binary": args.binary, "clients": ok, "concurrency": args.concurrency}
            if ok:
                result |= {"rss_per_client": round((rss_after - rss_before) * 1024 / ok),
                           "heap_in_use_per_client": round((heap_after[0] - heap_before[0]) / ok),
                           "heap_free_per_client": round((heap_after[1] - heap_before[1]) / ok)}
                if args.trim:
                    gdb(relay.pid, "p (int)malloc_trim(0)")
                    result["rss_per_client_after_malloc_trim"] = round((rss_kib(relay.pid) - rss_before) * 1024 / ok)
            holder.stdin.close()
            holder.wait(timeout=60)
        finally:
            stop_child(relay, 60)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
