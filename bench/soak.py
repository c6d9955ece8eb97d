#!/usr/bin/python3
"""Soak: mixed reads and writes through pgrelay (routing on, a primary + 2 replicas) for a set
time, with a fault every --fault-every seconds (a server backend terminated, a replica's replay
paused, a replica stopped with -m immediate and restarted, the primary restarted), printing
pgrelay's RSS, open file descriptors and server connections every minute. Half the clients use
TLS with SCRAM channel binding (a throwaway CA made with the openssl tool); a quarter reconnect
for every transaction, as serverless functions do.

At the end it checks: pgrelay never died; RSS after warm-up (the first minute) grew < 5%; once
the clients are gone and idle servers timed out, file descriptors and server connections are
back to the baseline taken before the load; every commit a client saw acknowledged is on the
primary. Exit status 0 only if all hold.

    /usr/bin/python3 bench/soak.py --minutes 10          # the README's run
    /usr/bin/python3 bench/soak.py --minutes 2 --fault-every 20   # a quick look
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import bench_cluster, rss_kib, routed_database, running_pgrelay  # noqa: E402


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def admin_dsn(port):
    return f"host=127.0.0.1 port={port} user=admin password=admin dbname=app connect_timeout=5"


def server_connections(ports):
    """Backends of role app (pgrelay's servers and nothing else: the soak's own checks log in as admin)."""
    total = 0
    for port in ports:
        try:
            with psycopg.connect(admin_dsn(port), autocommit=True) as c:
                total += c.execute("select count(*) from pg_stat_activity where usename = 'app'").fetchone()[0]
        except psycopg.Error:
            pass
    return total


def make_certificate(work):
    """A throwaway CA and a certificate for 127.0.0.1 signed by it; returns (cert, key) paths."""
    def openssl(*a):
        subprocess.run(["openssl", *a], cwd=work, check=True, capture_output=True, timeout=60)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=soak-ca")
    (work / "leaf.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("req", *ec, "-keyout", "relay.key", "-out", "relay.csr", "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", "relay.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "relay.crt", "-days", "2", "-extfile", "leaf.ext")
    os.chmod(work / "relay.key", 0o600)
    return work / "relay.crt", work / "relay.key"


class Load:
    """Client threads: 70% autocommit reads, 30% write transactions that record their id. Odd
    clients use TLS with channel binding; every fourth reconnects for each transaction."""

    def __init__(self, port, clients, tls):
        self.port, self.clients, self.tls = port, clients, tls
        self.stop = threading.Event()
        self.ok = self.errors = 0
        self.acked = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(clients)]

    def dsn(self, index):
        ssl = "sslmode=require channel_binding=require" if self.tls and index % 2 else "sslmode=disable"
        return f"host=127.0.0.1 port={self.port} user=app password=app dbname=app connect_timeout=5 {ssl}"

    def run(self, index):
        rng = random.Random(index)
        next_id = index * 1_000_000_000
        conn = None
        while not self.stop.is_set():
            try:
                if conn is not None and index % 4 == 3:
                    conn.close()
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.dsn(index), autocommit=True)
                if rng.random() < 0.7:
                    conn.execute("select abalance from pgbench_accounts where aid = %s", (rng.randint(1, 100000),))
                else:
                    next_id += 1
                    with conn.transaction():
                        conn.execute("update pgbench_accounts set abalance = abalance + 1 where aid = %s",
                                     (rng.randint(1, 100000),))
                        conn.execute("insert into soak_acks (id) values (%s)", (next_id,))
                    with self.lock:
                        self.acked.append(next_id)
                with self.lock:
                    self.ok += 1
            except psycopg.Error:
                with self.lock:
                    self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.2)
        if conn is not None:
            conn.close()

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return not any(t.is_alive() for t in self.threads)


def pg_ctl(cluster_env, data_dir, *args):
    return subprocess.run(["runuser", "-u", "postgres", "--", f"{cluster_env['PGBIN']}/pg_ctl", *args, "-D", data_dir],
                          capture_output=True, text=True, timeout=120, cwd=cluster_env["DATA_ROOT"])


def faults(cluster_env, primary, replicas):
    """The fault cycle: each call does the next one and returns its description."""
    data = Path(cluster_env["DATA_ROOT"])
    cycle = 0
    while True:
        kind = cycle % 4
        cycle += 1
        if kind == 0:
            with psycopg.connect(admin_dsn(primary), autocommit=True) as c:
                # Busy ones first (a client mid-transaction must get an error, not a hang), else any.
                n = c.execute("select count(pg_terminate_backend(pid)) from (select pid from pg_stat_activity "
                              "where usename = 'app' order by state = 'active' desc, random() limit 2) a").fetchone()[0]
            yield f"terminated {n} server backend(s) on the primary"
        elif kind == 1:
            with psycopg.connect(admin_dsn(replicas[0]), autocommit=True) as c:
                c.execute("select pg_wal_replay_pause()")
                time.sleep(15)
                c.execute("select pg_wal_replay_resume()")
            yield "paused replica-1's replay for 15 s"
        elif kind == 3:
            # -m fast: the bench cluster runs with synchronous_commit off, so only a clean
            # shutdown keeps every acknowledged commit (test_primary_restart.py does the crash).
            primary_dir = str(data / "primary")
            r = pg_ctl(cluster_env, primary_dir, "stop", "-m", "fast")
            time.sleep(5)
            r2 = pg_ctl(cluster_env, primary_dir, "start", "-w", "-l", str(data / "primary.soak.log"))
            yield f"restarted the primary (-m fast, rc {r.returncode}/{r2.returncode}, down 5 s)"
        else:
            replica_dir = str(data / "replica2")
            r = pg_ctl(cluster_env, replica_dir, "stop", "-m", "immediate")
            time.sleep(10)
            r2 = pg_ctl(cluster_env, replica_dir, "start", "-w", "-l", str(data / "replica2.soak.log"))
            yield f"stopped replica-2 (-m immediate, rc {r.returncode}) and restarted it (rc {r2.returncode})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--fault-every", type=float, default=60, help="seconds between faults")
    ap.add_argument("--report-every", type=float, default=60, help="seconds between RSS samples")
    ap.add_argument("--no-tls", action="store_true", help="every client in plaintext")
    args = ap.parse_args()

    with bench_cluster(2, 1) as (work, primary, replicas):
        cluster_env = dict(l.split("=", 1) for l in (work / "cluster" / "cluster.env").read_text().split() if "=" in l)
        with psycopg.connect(admin_dsn(primary), autocommit=True) as c:
            c.execute("create table if not exists soak_acks (id bigint primary key)")
            c.execute("grant all on soak_acks to app")
        tls = shutil.which("openssl") is not None and not args.no_tls
        config = {"workers": 2, "pool": {"size": 8, "server_idle_timeout": "5s"},
                  "databases": {"app": routed_database(primary, replicas, routing=True)}}
        config["databases"]["app"]["routing"]["check_interval"] = "500ms"
        if tls:
            cert, key = make_certificate(work)
            config["tls"] = {"client": {"mode": "allow", "cert": str(cert), "key": str(key)}}
        with running_pgrelay(work, config) as (relay, port, binary):
            all_ports = [primary, *replicas]
            time.sleep(2)
            base_fds, base_servers = fd_count(relay.pid), server_connections(all_ports)
            print(f"soak: {args.minutes} min, {args.clients} clients (TLS for half: {tls}), "
                  f"a fault every {args.fault_every:.0f} s; "
                  f"pgrelay {binary} pid {relay.pid}; baseline fds={base_fds} server_connections={base_servers}",
                  flush=True)
            load = Load(port, args.clients, tls)
            load.start()
            fault = faults(cluster_env, primary, replicas)
            started = time.monotonic()
            end = started + args.minutes * 60
            next_fault, next_report = started + args.fault_every, started + args.report_every
            samples = []
            while time.monotonic() < end and relay.poll() is None:
                now = time.monotonic()
                if now >= next_fault:
                    print(f"  [{now - started:6.0f}s] fault: {next(fault)}", flush=True)
                    next_fault = time.monotonic() + args.fault_every
                if now >= next_report:
                    rss, fds = rss_kib(relay.pid), fd_count(relay.pid)
                    samples.append(rss)
                    print(f"  [{now - started:6.0f}s] rss={rss} KiB fds={fds} server_connections="
                          f"{server_connections(all_ports)} ok={load.ok} errors={load.errors}", flush=True)
                    next_report += args.report_every
                time.sleep(0.5)
            alive = relay.poll() is None
            clients_ended = load.finish()
            time.sleep(12)  # two server_idle_timeouts: idle servers close
            end_fds = fd_count(relay.pid) if alive else -1
            end_servers = server_connections(all_ports)
            with psycopg.connect(admin_dsn(primary)) as c:
                on_primary = {r[0] for r in c.execute("select id from soak_acks")}
            lost = [i for i in load.acked if i not in on_primary]
            # Growth needs a baseline after warm-up and a few samples after it; a run too short
            # for that measures nothing and must not pass as "no growth".
            measurable = len(samples) >= 3
            growth = (samples[-1] - samples[0]) / samples[0] if measurable else float("nan")
            growth_check = (f"rss growth after warm-up {growth * 100:.1f}% < 5%" if measurable else
                            f"rss growth measurable (only {len(samples)} samples: run at least 3 report intervals)")
            checks = {
                "pgrelay alive": alive,
                "clients ended": clients_ended,
                growth_check: measurable and growth < 0.05,
                f"fds {end_fds} back to baseline {base_fds}": end_fds == base_fds,
                f"server connections {end_servers} back to baseline {base_servers}": end_servers <= base_servers,
                f"acknowledged commits on the primary: {len(load.acked) - len(lost)}/{len(load.acked)}": not lost,
            }
            print(f"soak: {load.ok} transactions ok, {load.errors} errors (expected around faults)")
            for name, ok in checks.items():
                print(f"  {'ok  ' if ok else 'FAIL'} {name}")
            sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
