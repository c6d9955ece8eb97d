#!/usr/bin/env bash
# The one command that installs everything and runs every test:
#   scripts/install-deps.sh; for each of the `dev` and `asan` presets: configure + build,
#   ctest, then the integration tests (real Postgres primary + replicas, drivers) against that build.
#   After the dev pass: the Debian package (scripts/package.sh, release preset) and tests/packaging
#   (JSON Schema vs the loader, systemd unit, the .deb; under CI=true also dpkg -i / dpkg -P), the
#   integration tests against that release binary (what the package ships), then
#   scripts/fuzz-smoke.sh builds the libFuzzer targets (clang) and runs each for FUZZ_SECONDS (default 60).
# Env: SKIP_ASAN=1 skips the asan pass; SKIP_PACKAGE=1 skips building the .deb (its tests skip);
# SKIP_FUZZ=1 skips the fuzz smoke run; SKIP_DEPS=1 skips install-deps; PYTEST_ARGS adds pytest
# arguments (e.g. PYTEST_ARGS="-k node -x");
# PGRELAY_TEST_DPKG_INSTALL=1/0 forces the dpkg install test on/off (default: on when CI=true).
# Exits non-zero if any step fails; the last line is a one-line summary.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

PY=/usr/bin/python3   # Debian's interpreter: the one with python3-psycopg and python3-pytest
T_START=$SECONDS
declare -a RESULTS=()
FAILED=0

step() {  # step NAME TIMEOUT_SECONDS CMD... — runs a step, records its result and duration
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS rc
  echo
  echo "==== [$name] $* ===="
  timeout --foreground --kill-after=30 "$limit" "$@"
  rc=$?
  local dt=$((SECONDS - t0))
  if ((rc == 0)); then
    RESULTS+=("$name: ok (${dt}s)")
  else
    ((rc == 124)) && echo "==== [$name] timed out after ${limit}s ===="
    RESULTS+=("$name: FAILED rc=$rc (${dt}s)")
    FAILED=1
  fi
  echo "==== [$name] rc=$rc in ${dt}s ===="
  return $rc
}

skip() { RESULTS+=("$1: skipped ($2)"); echo "==== [$1] skipped: $2 ===="; }

summary() {
  echo
  echo "==== summary ===="
  printf '  %s\n' "${RESULTS[@]}"
  local total=$((SECONDS - T_START))
  if ((FAILED)); then
    # A fuzz finding, with its input, so that it can be reproduced from this output alone.
    [[ -s build/fuzz/findings/failures.txt ]] && { echo; cat build/fuzz/findings/failures.txt; echo; }
    echo "test.sh: FAILED in ${total}s — $(printf '%s; ' "${RESULTS[@]}" | grep -o '[^;]*FAILED[^;]*' | paste -sd, -)"
    exit 1
  fi
  echo "test.sh: ALL PASSED in ${total}s (${#RESULTS[@]} steps)"
  exit 0
}

if [[ ${SKIP_DEPS:-0} == 1 ]]; then
  skip deps "SKIP_DEPS=1"
else
  step deps 1800 scripts/install-deps.sh || summary   # nothing else can work without it
fi

node_ok=0
if command -v npm >/dev/null 2>&1; then
  step npm-ci 600 bash -c 'cd tests/integration/node && npm ci --no-audit --no-fund' && node_ok=1
else
  skip npm-ci "npm not found"
fi

run_preset() {  # run_preset PRESET
  local preset=$1
  if ! step "$preset:configure" 600 cmake --preset "$preset"; then
    skip "$preset:build" "configure failed"; skip "$preset:ctest" "configure failed"
    skip "$preset:integration" "configure failed"; return
  fi
  if ! step "$preset:build" 5400 cmake --build --preset "$preset"; then
    skip "$preset:ctest" "build failed"; skip "$preset:integration" "build failed"; return
  fi
  step "$preset:ctest" 1800 ctest --preset "$preset"
  local bin="build/$preset/proxy/pgrelay"
  if [[ ! -x $bin ]]; then
    echo "missing $bin after the build"
    RESULTS+=("$preset:integration: FAILED (no $bin)"); FAILED=1; return
  fi
  # shellcheck disable=SC2086
  step "$preset:integration" 1800 env PGRELAY_BIN="$PWD/$bin" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "$PY" -m pytest -q -p no:cacheprovider -rfEs --durations=10 tests/integration ${PYTEST_ARGS:-}
}

run_packaging() {
  local deb="" out
  if [[ ${SKIP_PACKAGE:-0} == 1 ]]; then
    skip package "SKIP_PACKAGE=1"
  else
    out=$(mktemp)
    step package 3600 bash -c 'scripts/package.sh >"$1"' _ "$out" && deb=$(tail -n 1 "$out")
    rm -f "$out"
  fi
  local install=${PGRELAY_TEST_DPKG_INSTALL:-$([[ ${CI:-} == true ]] && echo 1 || echo 0)}
  step packaging 900 env PGRELAY_BIN="$PWD/build/dev/proxy/pgrelay" PGRELAY_DEB="$deb" \
    PGRELAY_TEST_DPKG_INSTALL="$install" \
    "$PY" -m pytest -q -p no:cacheprovider -rfEs tests/packaging
  # The shipped binary is built another way (release preset: -O3, link-time optimization), so
  # the integration suite runs against it as well.
  if [[ -n $deb && -x build/release/proxy/pgrelay ]]; then
    # shellcheck disable=SC2086
    step release:integration 1800 env PGRELAY_BIN="$PWD/build/release/proxy/pgrelay" \
      "$PY" -m pytest -q -p no:cacheprovider -rfEs --durations=10 tests/integration ${PYTEST_ARGS:-}
  else
    skip release:integration "no release build (the package step did not run or failed)"
  fi
}

run_preset dev
run_packaging
if [[ ${SKIP_FUZZ:-0} == 1 ]]; then
  skip fuzz "SKIP_FUZZ=1"
else
  # 9 targets × FUZZ_SECONDS, plus the clang build.
  step fuzz $((3600 + 12 * ${FUZZ_SECONDS:-60})) scripts/fuzz-smoke.sh
fi
if [[ ${SKIP_ASAN:-0} == 1 ]]; then
  skip asan "SKIP_ASAN=1"
else
  run_preset asan
fi

((node_ok)) || echo "note: npm ci did not succeed; node driver tests ran 'npm ci' themselves or failed"
summary
