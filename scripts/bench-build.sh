#!/usr/bin/env bash
# Throughput of `msmu build` at MSMU density on three fixed synthetic scene sets.
#
# The sets (seeds 21, 22, 23; 10 ScanNet scenes of 300 frames each) are synthesised once into
# a cache folder and reused. Each set is built with `/usr/bin/time -v` and the script prints,
# per set and run: images, QA, frames analysed (from the build's manifest.json), wall,
# user+sys CPU, peak RSS, images/s, QA/s, CPU-ms per analysed frame, and the 700K-QA time
# projected from the wall-clock QA rate (as measured, at --threads) and from the CPU rate
# (CPU-s per QA divided by 2 cores: the figure a perfectly busy 2-core run would reach).
#
# Usage: scripts/bench-build.sh [MSMU_BINARY...]
#   Several binaries are run alternately (binary 1 on set 21, binary 2 on set 21, ...), which
#   is how a speed-up should be measured on a shared machine.
# Environment:
#   BENCH_CACHE    where the scene sets live (default target/bench-build-cache)
#   BENCH_THREADS  --threads of the build (default 2; 1 for the per-frame cost)
#   BENCH_RUNS     rounds over the sets (default 1)
#   BENCH_SEEDS    seeds of the sets (default "21 22 23")
#   BENCH_CONFIG   build configuration (default docs/build-msmu-density.json)
set -euo pipefail

cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
  set -- target/release/msmu
fi
CACHE=${BENCH_CACHE:-target/bench-build-cache}
THREADS=${BENCH_THREADS:-2}
RUNS=${BENCH_RUNS:-1}
SEEDS=${BENCH_SEEDS:-21 22 23}
CONFIG=${BENCH_CONFIG:-docs/build-msmu-density.json}
SYNTH_BIN=$1

for bin in "$@"; do
  [ -x "$bin" ] || { echo "bench-build: no executable $bin (run 'make release')" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench-build: /usr/bin/time is needed (apt-get install time)" >&2; exit 1; }

mkdir -p "$CACHE"
for seed in $SEEDS; do
  set_dir="$CACHE/seed$seed"
  if [ ! -f "$set_dir/.complete" ]; then
    echo "synthesising set seed $seed (10 scenes x 300 frames) into $set_dir ..." >&2
    rm -rf "$set_dir"
    "$SYNTH_BIN" synth --out "$set_dir" --scenes 10 --seed "$seed" --frames 300 >/dev/null
    touch "$set_dir/.complete"
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/msmu-bench-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

printf '%-6s %-28s %6s %6s %8s %7s %7s %8s %8s %8s %9s %10s %10s\n' \
  set binary images qa analysed wall_s cpu_s rss_mb img/s qa/s cpu_ms/fr 700k_wall 700k_cpu/2
for run in $(seq 1 "$RUNS"); do
  for seed in $SEEDS; do
    for bin in "$@"; do
      out="$work/out"
      rm -rf "$out"
      /usr/bin/time -v -o "$work/time" "$bin" build --scannet-root "$CACHE/seed$seed" \
        --out "$out" --threads "$THREADS" --config "$CONFIG" >/dev/null 2>"$work/stderr" || {
        echo "bench-build: $bin failed on set $seed:" >&2
        tail -20 "$work/stderr" >&2
        exit 1
      }
      wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$work/time")
      user=$(awk -F': ' '/User time/ {print $2}' "$work/time")
      sys=$(awk -F': ' '/System time/ {print $2}' "$work/time")
      rss_kb=$(awk -F': ' '/Maximum resident/ {print $2}' "$work/time")
      read -r images qa analysed < <(jq -r \
        '[([.scenes[].images] | add), ([.scenes[].qa] | add), ([.scenes[].frames_analysed] | add)] | @tsv' \
        "$out/manifest.json")
      awk -v set="$seed" -v bin="$bin" -v images="$images" -v qa="$qa" -v fr="$analysed" \
        -v wall="$wall" -v user="$user" -v sys="$sys" -v rss="$rss_kb" 'BEGIN {
          cpu = user + sys
          printf "%-6s %-28s %6d %6d %8d %7.2f %7.2f %8.0f %8.1f %8.0f %9.1f %8.1fmin %8.1fmin\n",
            set, substr(bin, length(bin) - 27), images, qa, fr, wall, cpu, rss / 1024,
            images / wall, qa / wall, cpu * 1000 / fr,
            700000 / (qa / wall) / 60, 700000 * cpu / qa / 2 / 60
        }'
    done
  done
done
