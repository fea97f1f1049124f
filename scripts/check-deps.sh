#!/usr/bin/env bash
# The architecture's dependency rules, checked (ARCHITECTURE.md, "Crates"):
#   - msmu-data (the pipeline) builds alone and never depends on msmu-synth, msmu-eval,
#     msmu-tools, msmu-train, tch or torch-sys;
#   - only msmu-train (and the binary's `train` feature) may bring tch / torch-sys;
#   - the default `msmu` binary (no features) has no libtorch in its tree.
# Exit 1 with the offending path when a rule is broken. Runs in `make lint` (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo=${CARGO:-cargo}
status=0

# Normal and build dependencies only: dev-dependencies never reach a user of the crate.
deps_of() { "$cargo" tree -p "$1" ${2:+--features "$2"} -e normal,build --prefix none --format '{p}' |
  awk '{print $1}' | sort -u; }

forbid() { # crate, features ("" = default), forbidden names...
  local crate=$1 features=$2; shift 2
  local tree
  tree=$(deps_of "$crate" "$features")
  for bad in "$@"; do
    if grep -qx "$bad" <<<"$tree"; then
      echo "check-deps: $crate${features:+ (features: $features)} depends on $bad:" >&2
      "$cargo" tree -p "$crate" ${features:+--features "$features"} -e normal,build -i "$bad" >&2 || true
      status=1
    fi
  done
}

forbid msmu-data "" msmu-synth msmu-eval msmu-tools msmu-train tch torch-sys
for crate in msmu-tools msmu-synth msmu-eval; do
  forbid "$crate" "" msmu-train tch torch-sys
done
forbid msmu-tools "" msmu-synth msmu-eval
forbid msmu-eval "" msmu-synth msmu-tools
forbid msmu "" msmu-train tch torch-sys

# The pipeline crate compiles on its own (no feature or sibling quietly needed).
"$cargo" check -q -p msmu-data || { echo "check-deps: msmu-data does not compile alone" >&2; status=1; }

[ $status -eq 0 ] && echo "check-deps: ok (msmu-data free of synth/eval/tools/train/tch; tch only in msmu-train)"
exit $status
