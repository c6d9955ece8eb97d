"""What the pgbench benchmarks share: a throwaway cluster initialised for pgbench, a pgrelay started
on it from a config dict, a PgBouncer in transaction mode, one pgbench run parsed, and the /proc
readings (CPU time, resident memory) of the proxies. Everything started here is a child process
whose PID is kept, and stops and cleans up by itself."""

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "tools"))
from pgnet import dsn, free_port, scram_verifier, wait_for_port  # noqa: E402,F401

PGCLUSTER = REPO / "tests" / "cluster" / "pgcluster"
PGENV = {**os.environ, "PGPASSWORD": "app"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _unwind_on_sigterm(signum, _frame):
    # `timeout` stops a benchmark with SIGTERM, which by default ends Python without running
    # `finally`: the cluster (started detached by pg_ctl) would be left running. Unwinding as
    # for Ctrl-C stops everything the `with` blocks below started.
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _unwind_on_sigterm)


@contextlib.contextmanager
def bench_cluster(replicas, scale):
    """Yields (workdir, primary port, replica ports) of a fresh cluster after `pgbench -i -s scale`."""
    work = Path(tempfile.mkdtemp(prefix="pgrelay-bench-"))
    cdir = work / "cluster"
    subprocess.run([str(PGCLUSTER), "start", str(cdir), "--replicas", str(replicas)], check=True,
                   stdout=subprocess.DEVNULL)
    try:
        env = dict(l.split("=", 1) for l in (cdir / "cluster.env").read_text().split() if "=" in l)
        primary = int(env["PRIMARY_PORT"])
        replica_ports = [int(env[f"REPLICA{i}_PORT"]) for i in range(1, int(env.get("REPLICA_COUNT", "0")) + 1)]
        subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), "-h", "127.0.0.1", "-p", str(primary), "-U",
                        "app", "app"], check=True, capture_output=True, env=PGENV)
        yield work, primary, replica_ports
    finally:
        subprocess.run([str(PGCLUSTER), "stop", str(cdir)], stdout=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


def pgrelay_binary():
    """$PGRELAY_BIN, else the release build, else the dev build."""
    binary = os.environ.get("PGRELAY_BIN", str(REPO / "build/release/proxy/pgrelay"))
    return binary if Path(binary).exists() else str(REPO / "build/dev/proxy/pgrelay")


def write_pgrelay_config(work, config, port, name="pgrelay.json", app_verifier=None):
    """Writes users.json (app/app; `app_verifier` instead of a fresh one: Postgres's own for
    server_login: passthrough) and the config `config` + listen + auth into `work`; returns its path."""
    verifier = app_verifier or scram_verifier("app")
    (work / "users.json").write_text(json.dumps({"users": {"app": {"scram": verifier}}}))
    path = work / name
    path.write_text(json.dumps({
        "listen": [f"127.0.0.1:{port}"],
        "auth": {"method": "scram-sha-256", "users_file": "users.json"},
        "log": {"level": "warn"}, **config}))
    return path


def pgrelay_accepts(work, config):
    """(ok, diagnostics) of `pgrelay --check-config` on `config`: whether this binary knows every key."""
    path = write_pgrelay_config(work, config, free_port(), name="pgrelay-check.json")
    r = subprocess.run([pgrelay_binary(), "--check-config", str(path)], capture_output=True, text=True, timeout=30)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


@contextlib.contextmanager
def running_pgrelay(work, config, app_verifier=None, binary=None, wrapper=()):
    """Starts pgrelay (`binary`, else pgrelay_binary()) with `config` (a dict; "listen" is filled
    in) and user app/app; yields (process, port, binary). `wrapper` is a command prefix (e.g.
    perf stat); the yielded process is then the wrapper's."""
    port = free_port()
    path = write_pgrelay_config(work, config, port, app_verifier=app_verifier)
    binary = os.path.abspath(binary) if binary else pgrelay_binary()
    relay = subprocess.Popen([*wrapper, binary, str(path)], stdout=subprocess.DEVNULL,
                             stderr=open(work / "pgrelay.log", "w"))
    try:
        if not wait_for_port(port, 10, alive=lambda: relay.poll() is None):
            raise RuntimeError(f"pgrelay did not start:\n{(work / 'pgrelay.log').read_text()[-3000:]}")
        yield relay, port, binary
    finally:
        stop_child(relay)


def add_per_txn_args(ap, transactions, warmup):
    """The options of the per-transaction counters (bench/syscalls_per_txn.py, bench/cpu_split.py)."""
    ap.add_argument("--binary", default=str(REPO / "build/release/proxy/pgrelay"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workload", choices=tuple(PGBENCH_SCRIPTS), default="select")
    ap.add_argument("--transactions", type=int, default=transactions, help="per client, measured")
    ap.add_argument("--warmup", type=int, default=warmup, help="per client, before counting")
    ap.add_argument("--routing", choices=("on", "off"), default="off")
    ap.add_argument("--compact-parking-after", type=int, default=None,
                    help="pgrelay's compact_parking_after (unset: its default; 0: every parked client)")


def for_each_proxy(args, measure, max_client_conn=1000, wrapper=lambda label: ()):
    """A throwaway cluster, then pgrelay (`args.binary`, `workers: 1`, transaction mode, pool 20,
    read routing per `args.routing`) and PgBouncer (transaction mode, SCRAM, pool 20) in turn:
    prints measure(pid, port, label) of each as a JSON line. Each proxy runs under
    wrapper(label), a command prefix run as root (PgBouncer then drops to its OS user inside it);
    a measure that returns a function is finished by calling it once its proxy has exited."""
    def finish(result):
        return result() if callable(result) else result

    with bench_cluster(2, 1) as (work, primary, replicas):
        wait_replicas_caught_up(primary, replicas)
        config = {"workers": 1, "pool": {"mode": "transaction", "size": 20},
                  "databases": {"app": routed_database(primary, replicas, args.routing == "on")}}
        if getattr(args, "compact_parking_after", None) is not None:
            config["compact_parking_after"] = args.compact_parking_after
        with running_pgrelay(work, config, binary=args.binary, wrapper=wrapper("pgrelay")) as (relay, port, _):
            result = measure(relay.pid, port, "pgrelay")
        print(json.dumps({**finish(result), "routing": args.routing}), flush=True)
        with running_pgbouncer(primary, {"app": 20}, max_client_conn=max_client_conn,
                               root_wrapper=wrapper("pgbouncer")) as (proc, port):
            result = measure(proc.pid, port, "pgbouncer")
        print(json.dumps(finish(result)), flush=True)


PGBENCH_SCRIPTS = {"select": ["-S"], "extended": ["-S", "-M", "extended"], "tpcb": [], "connect": ["-S", "-C"]}


def pgbench_fixed(port, workload, clients, transactions, timeout):
    """Runs `transactions` per client of a PGBENCH_SCRIPTS workload as app; returns how many
    transactions pgbench reports done (raises when it fails)."""
    cmd = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "app", "-n", *PGBENCH_SCRIPTS[workload],
           "-c", str(clients), "-j", str(min(clients, 2)), "-t", str(transactions), "app"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=PGENV)
    m = re.search(r"number of transactions actually processed: (\d+)", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"pgbench failed (rc {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return int(m.group(1))


def stop_child(proc, timeout=15):
    """SIGTERM to this one child, SIGKILL after `timeout` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def routed_database(primary, replica_ports, routing=True, **extra):
    """A pgrelay database entry for server database app on the cluster, its replicas listed (role
    read) and read routing on or off."""
    replicas = [{"name": f"replica-{i}", "address": f"127.0.0.1:{p}", "roles": ["read"]}
                for i, p in enumerate(replica_ports, start=1)]
    return {"server_database": "app", "primary": f"127.0.0.1:{primary}", "replicas": replicas,
            "server_user": "app", "server_password": "app", "routing": {"enabled": routing}, **extra}


def wait_replicas_caught_up(primary, replicas, timeout=120):
    """Blocks until every replica has replayed the primary's current WAL position."""
    import psycopg
    with psycopg.connect(dsn(primary), autocommit=True) as c:
        target = c.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    deadline = time.monotonic() + timeout
    for port in replicas:
        with psycopg.connect(dsn(port), autocommit=True) as c:
            while not c.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replica on port {port} did not replay up to {target} in {timeout}s")
                time.sleep(0.2)


# --- PgBouncer ---------------------------------------------------------------------------------

PGBOUNCER_OS_USER = "postgres"  # Debian's pgbouncer refuses to run as root, like Postgres


def role_verifier(port, role="app"):
    """The SCRAM verifier Postgres stores for `role` (pg_authid.rolpassword), read as admin."""
    import psycopg
    with psycopg.connect(dsn(port, user="admin", password="admin", dbname="postgres"), autocommit=True) as c:
        return c.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()[0]


def pgbouncer_version():
    out = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip() if out else "pgbouncer (unknown version)"


@contextlib.contextmanager
def running_pgbouncer(primary, databases, max_client_conn=1000, wrapper=(), start_timeout=10, root_wrapper=()):
    """Starts PgBouncer in transaction mode in front of the primary; yields (process, port).

    `databases` maps a client-side database name to its pool size (all serve server database app).
    Clients authenticate with SCRAM-SHA-256 against an auth_file holding the verifier Postgres
    stores for app; towards Postgres PgBouncer logs in as app/app (password in the connection
    string). It runs as the postgres OS user (it refuses root) from a temp dir that user owns, and
    stops with SIGTERM to its own PID. `wrapper` is a command prefix (e.g. valgrind) run under the
    same user; the yielded process is then the wrapper's, which is the same PID for valgrind.
    `root_wrapper` is a prefix run as root instead (e.g. perf stat, which needs root for its
    tracepoints), in which setpriv drops to the OS user before PgBouncer starts."""
    import pwd
    pw = pwd.getpwnam(PGBOUNCER_OS_USER)
    work = Path(tempfile.mkdtemp(prefix="pgrelay-bench-pgbouncer-"))
    os.chmod(work, 0o755)
    port = free_port()
    (work / "userlist.txt").write_text(f'"app" "{role_verifier(primary)}"\n')
    dbs = "\n".join(f"{name} = host=127.0.0.1 port={primary} dbname=app user=app password=app pool_size={size}"
                    for name, size in databases.items())
    (work / "pgbouncer.ini").write_text(f"""[databases]
{dbs}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {work}/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = {max_client_conn}
max_db_connections = 0
logfile = {work}/pgbouncer.log
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
stats_period = 3600
query_wait_timeout = 120
""")
    for f in work.iterdir():
        os.chown(f, pw.pw_uid, pw.pw_gid)
    os.chown(work, pw.pw_uid, pw.pw_gid)
    # user=/group= make the child exec pgbouncer itself under that uid, so this PID is pgbouncer's.
    # USER as well: vgdb (callgrind_control) cannot reach a valgrind that started without it.
    env = dict(os.environ, USER=pw.pw_name, LOGNAME=pw.pw_name, HOME=pw.pw_dir)
    command = [*wrapper, "pgbouncer", str(work / "pgbouncer.ini")]
    if root_wrapper:
        command = [*root_wrapper, "setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
                   *command]
        as_user = {}
    else:
        as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    proc = subprocess.Popen(command, **as_user, cwd=work, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(work / "stderr.log", "w"))
    try:
        if not wait_for_port(port, start_timeout, alive=lambda: proc.poll() is None):
            log = (work / "pgbouncer.log").read_text() if (work / "pgbouncer.log").exists() else ""
            raise RuntimeError(f"pgbouncer did not start:\n{log[-3000:]}{(work / 'stderr.log').read_text()[-2000:]}")
        yield proc, port
    finally:
        stop_child(proc)
        shutil.rmtree(work, ignore_errors=True)


# --- measuring ----------------------------------------------------------------------------------

def cpu_user_sys(pid):
    """(utime, stime) of a process (all its threads), in seconds (/proc/PID/stat fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 is fields[0]
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    return sum(cpu_user_sys(pid))


def context_switches(pid):
    """Voluntary + involuntary context switches of a process's threads, summed (/proc/PID/task/*/status).
    A voluntary one is a thread going to sleep in epoll_wait: per transaction, how little work each
    wake-up finds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                    total += int(line.split()[1])
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return total


def machine_busy_seconds():
    """CPU time the whole machine spent busy (user, nice, system, irq, softirq, steal), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[0:3]) + sum(fields[5:8])) / CLK_TCK


def rss_kib(pid):
    """VmRSS of a process, in KiB (/proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def hold_idle_clients(port, pid, clients, hold=600):
    """Logs `clients` idle clients in to 127.0.0.1:port (bench/idle_clients.py) and reads the VmRSS of
    process `pid` before and once they are all in and it has settled (settled_rss_kib); returns
    (ok, failed, login seconds, before, after)."""
    before = rss_kib(pid)
    holder = subprocess.Popen([sys.executable, str(REPO / "bench" / "idle_clients.py"), "--port", str(port),
                               "--clients", str(clients), "--hold", str(hold)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline().split()
        ok, failed, secs = (int(line[1]), int(line[2]), float(line[3])) if line[:1] == ["ready"] else (0, -1, 0)
        after = settled_rss_kib(pid)
    finally:
        holder.stdin.close()
        try:
            holder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    return ok, failed, secs, before, after


def settled_rss_kib(pid, step=0.5, limit=6.0):
    """VmRSS of `pid` once a proxy's periodic work after the logins is done: read every `step`
    seconds, at least twice, until a reading does not drop below the previous one (pgrelay gives
    heap pages back at its next sweep, within a second), or `limit` seconds have passed."""
    deadline = time.monotonic() + limit
    time.sleep(step)
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(step)
        now = rss_kib(pid)
        if now >= last:
            return now
        last = now
    return last


def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE (children inherit it); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def spread(values):
    """(max - min) / median, in percent."""
    m = statistics.median(values) if values else 0
    return (max(values) - min(values)) / m * 100 if m else 0.0


def pgbench(port, dbname, seconds, clients, args=(), threads=None, pid=None, timeout_extra=120):
    """One `pgbench -T seconds -c clients -n` run against 127.0.0.1:port as app; with `pid`, the CPU
    time that process used meanwhile. Returns a dict of the figures pgbench printed."""
    threads = threads or min(clients, 2)
    cmd = ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "app", "-n", "-c", str(clients),
           "-j", str(threads), "-T", str(seconds), *args, dbname]
    cpu0 = cpu_seconds(pid) if pid else 0.0
    switches0 = context_switches(pid) if pid else 0
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout_extra, env=PGENV)
        out, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = f"{e.stdout or ''}{e.stderr or ''}\ntimeout after {seconds + timeout_extra}s", -1
    wall = time.monotonic() - t0
    cpu = (cpu_seconds(pid) - cpu0) if pid else None
    switches = (context_switches(pid) - switches0) if pid else None

    def num(pattern, cast=float):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else None

    xacts = num(r"number of transactions actually processed: (\d+)", int) or 0
    return {
        "cmd": " ".join(cmd),
        "tps": num(r"tps = ([\d.]+) \(") or 0.0,
        "xacts": xacts,
        "failed": num(r"number of failed transactions: (\d+)", int),
        "latency_ms": num(r"latency average = ([\d.]+) ms"),
        "connect_ms": num(r"(?:initial connection time|average connection time) = ([\d.]+) ms"),
        "rc": rc,
        "errors": [l for l in out.splitlines() if "error" in l.lower() or "fatal" in l.lower()][:5],
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_ms_per_1000": (cpu / xacts * 1e6) if cpu is not None and xacts else None,
        "switches_per_txn": (switches / xacts) if switches is not None and xacts else None,
    }
