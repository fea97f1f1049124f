#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after another, on one core:
#   scripts/fuzz.sh SECONDS [TARGET...]          SECONDS of wall time per target
#   scripts/fuzz.sh --cpu SECONDS [TARGET...]    SECONDS of CPU time per target: the fuzzer is
#                                                interrupted (SIGINT, final stats printed) once
#                                                its own user + system time reaches SECONDS, so a
#                                                busy machine lengthens the run instead of
#                                                shortening the fuzzing (wall limit: 4 x SECONDS)
# Needs the nightly toolchain and cargo-fuzz (`make fuzz` installs cargo-fuzz). Seeds come from
# scripts/fuzz_seeds.py; each target's corpus grows in fuzz/corpus/<target>/, crashes land in
# fuzz/artifacts/<target>/, and the last libFuzzer status line of each run is appended to
# fuzz/logs/summary.txt with the CPU seconds the run used (GNU time: user + system; less than
# SECONDS when the machine was busy). Limits per input: 10 s (30 s for `bench`; a slower input is
# reported as a hang), 2 GiB of memory and 2 GiB per allocation (an unbounded allocation is
# reported as a crash). Only the named targets are built, so a run can start beside another.
set -euo pipefail
cd "$(dirname "$0")/.."
cpu_budget=
if [ "${1:-}" = --cpu ]; then
  cpu_budget=1
  shift
fi
seconds=${1:?usage: scripts/fuzz.sh [--cpu] SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(ply scannet_annotation scannet_text sens colmap scannetpp_json iphone_depth bench predictions)
fi
python=${PYTHON:-python3}
[ -d fuzz/corpus ] || "$python" scripts/fuzz_seeds.py
mkdir -p fuzz/logs
cd fuzz
for t in "${targets[@]}"; do
  cargo +nightly fuzz build -O -a -s none "$t"
done
# The fuzzer process's own CPU seconds (user + system), from /proc.
fuzzer_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d", ($12 + $13) / hz }' \
    "/proc/$1/stat" 2>/dev/null || echo 0
}
# Interrupts target $1's fuzzer once it has used $2 CPU seconds; libFuzzer prints its final
# stats on SIGINT and exits with code 72.
cpu_watch() {
  local pid=
  while [ -z "$pid" ]; do
    sleep 2
    pid=$(pgrep -f "release/$1 .*corpus/$1" | head -1 || true)
  done
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(fuzzer_cpu "$pid")" -ge "$2" ]; then
      kill -INT "$pid"
      return
    fi
    sleep 5
  done
}
status=0
for t in "${targets[@]}"; do
  log=logs/$t.log
  # An input slower than this is reported as a hang. `bench` gets more than the 20 s footer
  # deadline of `dataset::reader::open_parquet`, so that the deadline is what is fuzzed.
  per_input=10
  [ "$t" = bench ] && per_input=30
  wall=$seconds
  watcher=
  if [ -n "$cpu_budget" ]; then
    wall=$((seconds * 4))
    cpu_watch "$t" "$seconds" &
    watcher=$!
  fi
  echo "== $t: ${seconds}s${cpu_budget:+ of CPU}" >&2
  if /usr/bin/time -f "cpu_seconds %U %S" -o "logs/$t.time" \
      cargo +nightly fuzz run -O -a -s none "$t" "corpus/$t" -- \
      -max_total_time="$wall" -timeout="$per_input" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  elif [ -n "$cpu_budget" ] && grep -q 'libFuzzer: run interrupted' "$log"; then
    result="ok (CPU budget reached)"
  else
    result="FAILED (see fuzz/$log and fuzz/artifacts/$t/)"
    status=1
  fi
  [ -z "$watcher" ] || kill "$watcher" 2>/dev/null || true
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
  cpu=$(awk '/^cpu_seconds/ {printf "%.0f", $2 + $3}' "logs/$t.time" 2>/dev/null || true)
  echo "$(date -u +%FT%TZ) $t ${seconds}s${cpu_budget:+-cpu} cpu=${cpu:-?}s execs=${execs:-?} $result | $last" | tee -a logs/summary.txt
done
exit $status
