#!/usr/bin/python3
"""System calls per transaction of pgrelay and of PgBouncer, counted in the same run.

Starts a throwaway cluster (primary + 2 replicas, `pgbench -i`), then for each proxy (pgrelay:
release build, `workers: 1`, transaction mode, SCRAM, read routing off unless --routing on;
PgBouncer: transaction mode, SCRAM, pool 20, as in bench/compare.py):
  1. a warm-up `pgbench -c CLIENTS -t WARMUP` (pools filled, logins done),
  2. counting on, the measured `pgbench -c CLIENTS -t TRANSACTIONS`, counting off,
and prints one JSON line per proxy: system calls per transaction in all, and the busiest calls.

Two counters (--counter):
  perf    (default) the kernel's syscall tracepoints, counted by `perf stat` around the proxy
          (every thread), enabled only for the measured run through perf's control FIFO. Counting
          does not stop the proxy, so the counts are those of its real timing; `recvfrom_eagain`
          counts the reads that found nothing (a read tried before the data was there).
  strace  `strace -f -c` attached for the measured run. strace stops the proxy at every call and
          slows it many times over, so answers are often there before the proxy reads: reads
          that would find nothing at full speed find data, and the read and wait counts move.

Usage: bench/syscalls_per_txn.py [--binary build/release/proxy/pgrelay] [--clients 8]
                                 [--workload select|extended|tpcb|connect] [--transactions 500] [--warmup 50]
                                 [--routing off|on] [--counter perf|strace] [--compact-parking-after N]
"""

import argparse
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import add_per_txn_args, for_each_proxy, pgbench_fixed  # noqa: E402


def pgbench(port, transactions):
    return pgbench_fixed(port, ARGS.workload, ARGS.clients, transactions, 1800)


def strace_summary(path):
    """{syscall: calls} and the total from `strace -c` output."""
    calls = {}
    for line in Path(path).read_text().splitlines():
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(f) >= 5 and f[3].isdigit() and re.fullmatch(r"[0-9.]+", f[0]) and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return calls


# The calls a proxy's transactions make, counted one by one; raw_syscalls counts them all.
PERF_CALLS = ("recvfrom", "recvmsg", "read", "sendto", "sendmsg", "writev", "write", "poll", "ppoll", "epoll_wait",
              "epoll_pwait", "epoll_ctl", "ioctl", "fcntl", "futex", "accept", "accept4", "close", "shutdown",
              "socket", "connect", "setsockopt", "getsockopt", "getsockname", "getpeername", "getrandom",
              "clock_nanosleep", "timerfd_settime")


class PerfCounter:
    """perf stat around one proxy, started with counting off and switched through its control FIFO."""

    def __init__(self, label):
        self.dir = Path(tempfile.mkdtemp(prefix=f"pgrelay-perf-{label}-"))
        self.ctl, self.ack, self.out = self.dir / "ctl", self.dir / "ack", self.dir / "counts.csv"
        os.mkfifo(self.ctl)
        os.mkfifo(self.ack)
        events = ["-e", "raw_syscalls:sys_enter"]
        for name in PERF_CALLS:
            events += ["-e", f"syscalls:sys_enter_{name}"]
        events += ["-e", "syscalls:sys_exit_recvfrom", "--filter", f"ret == -{errno.EAGAIN}"]
        self.prefix = ["perf", "stat", "--control", f"fifo:{self.ctl},{self.ack}", "-D", "-1", "-x", ",",
                       "-o", str(self.out), *events, "--"]
        self.ctl_w = self.ack_r = None

    def switch(self, command):
        if self.ctl_w is None:  # perf opens its ends once the proxy runs: opening blocks until then
            self.ctl_w = open(self.ctl, "w")
            self.ack_r = open(self.ack)
        self.ctl_w.write(command + "\n")
        self.ctl_w.flush()
        got = self.ack_r.readline()
        if got.strip("\0\n") != "ack":
            raise RuntimeError(f"perf did not acknowledge {command}: {got!r}")

    @staticmethod
    def stop_proxy(perf_pid, timeout=30):
        """SIGTERM to the proxy under perf (its child, PgBouncer through setpriv's exec); returns
        once perf has written its counts and exited (a zombie until its parent reaps it)."""
        children = Path(f"/proc/{perf_pid}/task/{perf_pid}/children").read_text().split()
        for child in children:
            os.kill(int(child), signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{perf_pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                return
            if state == "Z":
                return
            time.sleep(0.05)
        raise RuntimeError(f"perf (pid {perf_pid}) did not exit within {timeout}s")

    def counts(self):
        """{call: count} once perf has exited (with its proxy); "all" is every call."""
        for f in (self.ctl_w, self.ack_r):
            if f:
                f.close()
        counts = {}
        for line in self.out.read_text().splitlines():
            f = line.split(",")
            if len(f) < 3 or not f[0].isdigit():
                continue
            event = f[2]
            if event == "raw_syscalls:sys_enter":
                counts["all"] = int(f[0])
            elif event == "syscalls:sys_exit_recvfrom":
                counts["recvfrom_eagain"] = int(f[0])
            elif event.startswith("syscalls:sys_enter_"):
                counts[event.removeprefix("syscalls:sys_enter_")] = int(f[0])
        shutil.rmtree(self.dir, ignore_errors=True)
        if "all" not in counts:
            raise RuntimeError("perf counted nothing (are the syscall tracepoints available?)")
        return counts


PERF = {}


def per_txn(label, calls, total, txns):
    busiest = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
    return {"proxy": label, "workload": ARGS.workload, "clients": ARGS.clients, "counter": ARGS.counter,
            "transactions": txns, "syscalls_per_txn": round(total / txns, 2),
            "busiest_per_txn": {name: round(n / txns, 2) for name, n in busiest if n}}


def count_perf(pid, port, label):
    counter = PERF[label]
    warm = pgbench(port, ARGS.warmup)
    counter.switch("enable")
    txns = pgbench(port, ARGS.transactions)
    counter.switch("disable")
    counter.stop_proxy(pid)

    def finish():
        calls = counter.counts()
        total = calls.pop("all")
        eagain = calls.pop("recvfrom_eagain", 0)
        return {**per_txn(label, calls, total, txns), "warmup_transactions": warm,
                "recvfrom_eagain_per_txn": round(eagain / txns, 2)}
    return finish


def count(pid, port, label):
    warm = pgbench(port, ARGS.warmup)
    out = Path(tempfile.mkstemp(prefix=f"pgrelay-strace-{label}-")[1])
    tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(out), "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # strace says "Process N attached" per thread on stderr once it is tracing.
        deadline = time.monotonic() + 30
        while "attached" not in (tracer.stderr.readline() or "") and time.monotonic() < deadline:
            pass
        txns = pgbench(port, ARGS.transactions)
    finally:
        tracer.send_signal(signal.SIGINT)  # detaches and writes the summary
        tracer.wait(timeout=60)
    calls = strace_summary(out)
    out.unlink()
    return {**per_txn(label, calls, sum(calls.values()), txns), "warmup_transactions": warm}


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_per_txn_args(ap, transactions=500, warmup=50)
    ap.add_argument("--counter", choices=("perf", "strace"), default="perf")
    ARGS = ap.parse_args()
    if ARGS.counter == "strace":
        for_each_proxy(ARGS, count)
        return
    for label in ("pgrelay", "pgbouncer"):
        PERF[label] = PerfCounter(label)
    for_each_proxy(ARGS, count_perf, wrapper=lambda label: PERF[label].prefix)


if __name__ == "__main__":
    main()
