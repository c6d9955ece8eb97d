#!/usr/bin/env bash
# Installs everything needed to build, run and test pgrelay on Debian 12.
# Idempotent: when every package is already installed it does not touch apt at all.
# Also makes sure the distro's default PostgreSQL cluster does not hold port 5432.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  build-essential cmake g++ pkg-config
  libboost1.81-dev libyaml-cpp-dev libspdlog-dev catch2
  libpg-query-dev libprotobuf-c-dev prometheus-cpp-dev
  libsystemd-dev libssl-dev libpq-dev
  # TLS tests make a throwaway CA and certificates with the openssl tool
  openssl
  postgresql-15 postgresql-client-15 pgbouncer
  python3 python3-psycopg python3-pytest
  # packaging tests (tests/packaging): the JSON Schema, YAML, systemd-analyze, dpkg-shlibdeps
  python3-jsonschema python3-yaml systemd dpkg-dev
  # driver matrix (tests/integration/test_drivers.py): asyncpg and the JDBC driver
  python3-asyncpg libpostgresql-jdbc-java
  # micro-benchmarks (bench/micro); instructions and system calls per transaction
  # (bench/callgrind_per_txn.py, bench/syscalls_per_txn.py: perf's syscall tracepoints, or strace)
  libbenchmark-dev valgrind strace linux-perf
  # libFuzzer targets (tests/fuzz, scripts/fuzz-smoke.sh): clang/clang++ (Debian 12: clang 14)
  # and its runtime (libclang_rt.fuzzer-x86_64.a comes with libclang-rt-14-dev)
  clang clang-14 libclang-rt-14-dev
)
# node/npm may come from elsewhere (e.g. NodeSource's nodejs ships its own npm);
# only ask apt for them when the commands are missing.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm  >/dev/null 2>&1 || PACKAGES+=(npm)
# Likewise a JDK may already be on PATH (any vendor); only install Debian's when javac/java are missing.
{ command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; } || PACKAGES+=(default-jdk-headless)

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root or sudo" >&2; exit 1; }
  SUDO=(sudo -E)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing: ${missing[*]}"
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
fi

# The postgresql package creates and starts a "main" cluster on 5432; tests and the demo
# start their own clusters on free ports, so keep the default one out of the way.
# Everything here is best effort: containers often have no systemd.
if [[ -d /etc/postgresql ]]; then
  for startconf in /etc/postgresql/*/*/start.conf; do
    [[ -f $startconf ]] || continue
    if ! grep -qx 'manual' "$startconf" 2>/dev/null && ! grep -qx 'disabled' "$startconf" 2>/dev/null; then
      echo "install-deps: setting $startconf to manual"
      "${SUDO[@]}" sh -c "printf 'manual\n' > '$startconf'" || true
    fi
  done
fi
if command -v pg_lsclusters >/dev/null 2>&1; then
  # columns: Ver Cluster Port Status Owner Datadir Logfile
  pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _rest; do
    if [[ $status == online* ]]; then
      echo "install-deps: stopping default cluster $ver/$name"
      "${SUDO[@]}" timeout 60 pg_ctlcluster "$ver" "$name" stop -m fast || true
    fi
  done
fi
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
  if systemctl is-active --quiet postgresql 2>/dev/null || systemctl is-enabled --quiet postgresql 2>/dev/null; then
    echo "install-deps: disabling postgresql.service"
    "${SUDO[@]}" timeout 60 systemctl disable --now postgresql >/dev/null 2>&1 || true
  fi
fi

# Sanity checks of the tools the tests rely on.
for tool in /usr/lib/postgresql/15/bin/pg_ctl /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_basebackup; do
  [[ -x $tool ]] || { echo "install-deps: missing $tool" >&2; exit 1; }
done
/usr/bin/python3 -c 'import psycopg, pytest, asyncpg, jsonschema, yaml' || { echo "install-deps: /usr/bin/python3 lacks psycopg/pytest/asyncpg/jsonschema/yaml" >&2; exit 1; }
[[ -f /usr/share/java/postgresql.jar ]] || { echo "install-deps: missing /usr/share/java/postgresql.jar" >&2; exit 1; }
command -v javac >/dev/null && command -v java >/dev/null || { echo "install-deps: javac/java missing" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "install-deps: node/npm missing" >&2; exit 1; }
echo "install-deps: ok"
