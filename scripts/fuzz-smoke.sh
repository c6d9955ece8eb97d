#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan+UBSan) and runs each one for
# FUZZ_SECONDS (default 60) on a scratch copy of its seed corpus in tests/fuzz/corpus/<target>,
# one target at a time. Fails if a target crashes, leaks, times out on one input or breaks an
# invariant; the crashing input is left in build/fuzz/findings/<target>/.
# Env: FUZZ_SECONDS, FUZZ_TARGETS (space-separated subset), FUZZ_JOBS (build parallelism, 2),
# SKIP_FUZZ_BUILD=1 (reuse the existing build).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
BIN_DIR=build/fuzz/tests/fuzz
WORK=build/fuzz/findings

if [[ ${SKIP_FUZZ_BUILD:-0} != 1 ]]; then
  cmake --preset fuzz >/dev/null || { echo "fuzz-smoke: configure failed"; exit 1; }
  nice -n 10 cmake --build build/fuzz -j"${FUZZ_JOBS:-2}" || { echo "fuzz-smoke: build failed"; exit 1; }
fi

targets=(${FUZZ_TARGETS:-$(cd tests/fuzz/corpus && ls)})
declare -a failed=() summary=()
# What a CI log's tail must carry to reproduce a finding elsewhere: test.sh prints this file in its
# summary, since only the end of a CI run's output may be kept.
FAILURES=$WORK/failures.txt
mkdir -p "$WORK" && : >"$FAILURES"
for t in "${targets[@]}"; do
  bin=$BIN_DIR/$t
  [[ -x $bin ]] || { echo "fuzz-smoke: missing $bin"; failed+=("$t (missing)"); continue; }
  rm -rf "${WORK:?}/$t"
  mkdir -p "$WORK/$t/corpus"
  cp tests/fuzz/corpus/"$t"/* "$WORK/$t/corpus/"
  echo "==== fuzz $t for ${SECONDS_PER_TARGET}s ===="
  # -timeout: one input taking over 10s is a finding; -rss_limit_mb keeps a runaway bounded.
  nice -n 10 "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="$WORK/$t/" "$WORK/$t/corpus" \
    >"$WORK/$t/log" 2>&1
  rc=$?
  stats=$(grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec' "$WORK/$t/log" |
          awk '{print $2}' | paste -sd/ -)
  if ((rc != 0)); then
    echo "fuzz-smoke: $t FAILED (rc=$rc); log: $WORK/$t/log"
    grep -E 'ERROR|invariant failed|runtime error|Test unit written' "$WORK/$t/log" | head -5
    failed+=("$t")
    {
      echo "fuzz $t (rc=$rc):"
      grep -E 'ERROR|invariant failed|runtime error|SUMMARY' "$WORK/$t/log" | head -5 | sed 's/^/    /'
      for a in "$WORK/$t"/crash-* "$WORK/$t"/leak-* "$WORK/$t"/timeout-* "$WORK/$t"/oom-*; do
        [[ -f $a ]] || continue
        echo "    input $(basename "$a") ($(stat -c %s "$a") bytes), base64 of its first 3 KiB:"
        head -c 3072 "$a" | base64 -w 0 | sed 's/^/    /'
        echo
      done
    } >>"$FAILURES"
  else
    summary+=("$t: ok (executions/per-second: $stats)")
  fi
done

echo
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz-smoke: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran ${SECONDS_PER_TARGET}s without a finding"
