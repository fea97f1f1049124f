#!/usr/bin/env bash
# CUDA check of the trainer on a GPU machine that has PyTorch (2.11.0+cu130) but no Rust and
# no network: unpacks the bundle made by scripts/build-gpu-bundle.sh (.gpu/bundle.tar.xz),
# points the binaries at the machine's own torch/lib, and runs, each step under `timeout`:
#   nvidia-smi, torch info, unpack, ldd, `msmu device` (MSMU_DEVICE=cuda: fails without CUDA),
#   the train_model tests on CUDA, the 7B-shapes comparison (benches/gpu_train_compare.py:
#   msmu's train_step_timing vs transformers + PEFT, LoRA r=128, bf16, tokens/s, peak GPU memory
#   and utilisation), benches/compare_depth_anything.py (msmu depth vs transformers,
#   Depth-Anything-V2-Small sized, random weights) on CUDA, the train_cli tests on CUDA, the
#   tiny-preset step times on CUDA, then (time permitting) train_cli with MSMU_AUTOCAST=0 and
#   the CPU runs (Depth-Anything, step times, train_model).
# Steps are independent; the script always exits 0. Few files come back from the device, so
# $OUT holds only: check.log (every step's output, appended as it runs), summary.txt (one line
# per step as it ends, rewritten at the end with the timings), da-<device>.json (the
# Depth-Anything comparison), train-7b.json (the 7B-shapes comparison). A global deadline (GPU_CHECK_DEADLINE_S, default 420 s) stops
# starting steps and cuts the running one, so the whole run stays under 7.5 minutes.
#
# Run from the repository root:  bash scripts/gpu-check.sh  (or bash .gpu/gpu-check.sh, the
# copy build-gpu-bundle.sh puts beside the bundle; both work from the repository root).
# Dry run on a machine without a GPU (catches script bugs):
#   OUT=/tmp/gpu-out GPU_CHECK_DEVICE=cpu GPU_TORCH_LIB=$PWD/.gpu-libtorch/torch/lib \
#     PYTHON=.venv/bin/python GPU_CHECK_DA_PASSES_CPU=1 GPU_CHECK_DA_RUNS=1 \
#     GPU_CHECK_7B_PRESET=tiny GPU_CHECK_7B_SHAPES=1x300,2x200 GPU_CHECK_7B_STEPS=2 \
#     bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$SECONDS
OUT=${OUT:-$repo/gpu-out}
mkdir -p "$OUT"
py=${PYTHON:-python3}
if ! "$py" -c 'import torch' 2>/dev/null && [ -x /opt/torch/.venv/bin/python3 ]; then
  py=/opt/torch/.venv/bin/python3
fi
bundle=${GPU_BUNDLE:-$repo/.gpu/bundle.tar.xz}
dev=${GPU_CHECK_DEVICE:-cuda}
deadline=${GPU_CHECK_DEADLINE_S:-420}
batch=${GPU_CHECK_BATCH:-4}
steps=${GPU_CHECK_STEPS:-20}
slow=${GPU_CHECK_SLOW:-1}  # multiplies every step's timeout (dry runs on small machines)
# Depth-Anything comparison: alternated runs, passes per run on CUDA and on the CPU.
da_runs=${GPU_CHECK_DA_RUNS:-3}
da_passes_cuda=${GPU_CHECK_DA_PASSES_CUDA:-20}
da_passes_cpu=${GPU_CHECK_DA_PASSES_CPU:-5}
# 7B-shapes comparison: shapes (smallest first: a later shape's peak includes what an earlier one
# left reserved), timed steps per shape, seconds per side.
# GPU_CHECK_7B_PRESET=tiny (with small shapes) exercises the step in a dry run on the CPU.
train7b_preset=${GPU_CHECK_7B_PRESET:-7b-shapes}
train7b_shapes=${GPU_CHECK_7B_SHAPES:-1x6144,4x2048}
train7b_steps=${GPU_CHECK_7B_STEPS:-5}
train7b_side_s=${GPU_CHECK_7B_SIDE_S:-150}
work=${GPU_WORK:-$(mktemp -d /tmp/msmu-gpu.XXXXXX)}
# Per-step logs stay on the machine (the summary greps them); $OUT gets them all in check.log.
logs=$(mktemp -d /tmp/msmu-gpu-logs.XXXXXX)
check_log=$OUT/check.log
: >"$check_log"
: >"$OUT/summary.txt"
summary=()

# record LINE: a summary line, kept for the final summary and appended to $OUT/summary.txt at
# once (so that a run killed from outside still brings back the steps it finished).
record() {
  summary+=("$1")
  echo "$1" >>"$OUT/summary.txt"
}

# step NAME LIMIT_S CMD...: runs CMD with a timeout (cut to the time left before the deadline),
# output to the terminal, $logs/NAME.log and $OUT/check.log; records PASS / FAIL(rc) / TIMEOUT
# / SKIP.
step() {
  local name=$1 limit=$2 left rc t0
  shift 2
  limit=$((limit * slow))
  left=$((deadline - (SECONDS - started)))
  if [ "$left" -lt 15 ]; then
    record "$(printf '%-22s %-10s %5s s' "$name" SKIP -)"
    echo "== [$name] skipped: ${left}s left before the ${deadline}s deadline" |
      tee -a "$logs/$name.log" "$check_log"
    return 0
  fi
  [ "$limit" -le "$left" ] || limit=$left
  t0=$SECONDS
  echo "== [$name] (timeout ${limit}s, at $((t0 - started))s) $*" | tee -a "$logs/$name.log" "$check_log"
  timeout -k 5 "$limit" "$@" 2>&1 | tee -a "$logs/$name.log" "$check_log"
  rc=${PIPESTATUS[0]}
  local status=PASS
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    status=TIMEOUT
  elif [ "$rc" -ne 0 ]; then
    status="FAIL($rc)"
  fi
  echo "== [$name] $status in $((SECONDS - t0))s" | tee -a "$logs/$name.log" "$check_log"
  record "$(printf '%-22s %-10s %5s s' "$name" "$status" "$((SECONDS - t0))")"
  return 0
}

# --- machine ---------------------------------------------------------------------------------
step nvidia-smi 20 nvidia-smi
step torch-info 60 "$py" -c '
import os, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())
print("torch lib", os.path.join(os.path.dirname(torch.__file__), "lib"))
print("cuda available", torch.cuda.is_available(), "devices", torch.cuda.device_count())
if torch.cuda.is_available():
    print("device 0", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
print("threads", torch.get_num_threads(), "cpus", os.cpu_count())
'
torch_lib=${GPU_TORCH_LIB:-$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)}
if [ -z "$torch_lib" ]; then
  torch_lib=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/torch/lib 2>/dev/null | head -1)
fi
echo "torch lib folder for the binaries: ${torch_lib:-<not found>}" | tee -a "$check_log"

# --- bundle ----------------------------------------------------------------------------------
step unpack 60 tar -xJf "$bundle" -C "$work"
if [ -f "$work/manifest.env" ]; then
  # shellcheck disable=SC1091
  . "$work/manifest.env"
  cat "$work/manifest.env" >>"$check_log"
else
  echo "no manifest in $work: the bundle did not unpack" | tee -a "$check_log"
fi
msmu=$work/${MSMU:-bin/msmu}
timing=$work/${TRAIN_STEP_TIMING:-bin/train_step_timing}
# One integration-test executable; the trainer's tests are its train_model:: / train_cli:: modules.
t_it=$work/${TEST_IT:-testbin/it}
shards=$work/${SHARDS:-shards}
bench_py=$work/${BENCH_PY:-benches/compare_train_step.py}
[ -f "$bench_py" ] || bench_py=$repo/benches/compare_train_step.py
da_py=$work/${DA_BENCH_PY:-benches/compare_depth_anything.py}
[ -f "$da_py" ] || da_py=$repo/benches/compare_depth_anything.py
cmp_py=$work/${TRAIN_CMP_PY:-benches/gpu_train_compare.py}
[ -f "$cmp_py" ] || cmp_py=$repo/benches/gpu_train_compare.py
# The binaries carry an rpath to the device's torch/lib already; LD_LIBRARY_PATH makes it
# explicit (and wins over the build machine's paths).
run_env=(env "LD_LIBRARY_PATH=$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" RUST_BACKTRACE=1
  "MSMU_BIN=$msmu" "MSMU_TRAIN_SHARDS=$shards")

step ldd 20 "${run_env[@]}" bash -c 'ldd "$1" | grep -E "torch|c10|cudart|not found"; ! ldd "$1" | grep -q "not found"' _ "$msmu"

# --- CUDA ------------------------------------------------------------------------------------
step device 60 "${run_env[@]}" MSMU_DEVICE="$dev" "$msmu" device
# Order: what only a GPU can tell first (CUDA correctness, the 7B-shapes comparison), then the
# Depth-Anything and tiny-model timings, then the CPU runs of the 2.11 build.
step train_model 150 "${run_env[@]}" MSMU_DEVICE="$dev" "$t_it" train_model::
# LLaVA-1.5-7B shapes, LoRA r=128 on every LLM linear, bf16: msmu vs transformers + PEFT, one
# process each, peak GPU memory and utilisation from NVML (benches/gpu_train_compare.py).
step train-7b "$((2 * train7b_side_s + 30))" env MSMU_DEVICE="$dev" PYTHONUNBUFFERED=1 \
  "$py" "$cmp_py" --msmu "$timing" --msmu-env "LD_LIBRARY_PATH=$torch_lib" \
  --msmu-env RUST_BACKTRACE=1 --bench-py "$bench_py" --python "$py" --preset "$train7b_preset" \
  --shapes "$train7b_shapes" --steps "$train7b_steps" --timeout "$train7b_side_s" \
  --json "$OUT/train-7b.json"
# Depth-Anything-V2 (Small-sized, random weights, 640x480 image -> 518x686 input): msmu depth
# --bench vs transformers eager, alternated, then the max difference of the two depth maps on
# the same device. The msmu processes get LD_LIBRARY_PATH (the binaries' libtorch); Python's
# torch finds its own.
da_step() {  # da_step DEVICE LIMIT_S
  local passes=$da_passes_cuda
  [ "$1" != cpu ] || passes=$da_passes_cpu
  step "da-$1" "$2" env PYTHONUNBUFFERED=1 HF_HUB_DISABLE_PROGRESS_BARS=1 "$py" "$da_py" \
    --device "$1" --runs "$da_runs" --passes "$passes" --msmu "$msmu" \
    --msmu-env "LD_LIBRARY_PATH=$torch_lib" --msmu-env RUST_BACKTRACE=1 --json "$OUT/da-$1.json"
}
da_step "$dev" 150
step train_cli 200 "${run_env[@]}" MSMU_DEVICE="$dev" "$t_it" train_cli:: --nocapture
step timing-$dev 60 "${run_env[@]}" MSMU_DEVICE="$dev" "$timing" "$batch" "$steps"
step bench-py-$dev 120 env MSMU_DEVICE="$dev" "$py" "$bench_py" "$batch" "$steps"
# Lower priority: the trainer in fp32 on CUDA (tells precision from other failures), and the
# CPU path of the 2.11 build.
step train_cli-fp32 150 "${run_env[@]}" MSMU_DEVICE="$dev" MSMU_AUTOCAST=0 "$t_it" train_cli:: --nocapture
[ "$dev" = cpu ] || da_step cpu 150
step timing-cpu 90 "${run_env[@]}" MSMU_DEVICE=cpu "$timing" "$batch" "$steps"
step bench-py-cpu 120 env MSMU_DEVICE=cpu "$py" "$bench_py" "$batch" "$steps"
step train_model-cpu 150 "${run_env[@]}" MSMU_DEVICE=cpu "$t_it" train_model::

# --- summary ---------------------------------------------------------------------------------
{
  echo "== summary (MSMU_DEVICE=$dev, $((SECONDS - started))s total, bundle ${BUNDLE_COMMIT:-?} tch ${BUNDLE_TCH:-?} libtorch ${BUNDLE_TORCH:-?})"
  printf '%s\n' "${summary[@]}"
  echo "== Depth-Anything-V2 (median ms per image; max|diff| msmu vs transformers on that device)"
  for f in "$logs"/da-*.log; do
    [ -f "$f" ] || continue
    grep -h '^summary: ' "$f" | tail -1 | sed 's/^summary: //'
  done
  if [ -f "$logs/train-7b.log" ]; then
    echo "== 7B shapes, LoRA r=128 on every LLM linear (median ms per step; peak GPU memory and mean utilisation from NVML)"
    sed -n "/^== $train7b_preset, LoRA/,\$p" "$logs/train-7b.log" | grep -v '^== \[train-7b\]'
  fi
  echo "== step times (median ms per training step, batch $batch) and test results"
  for f in "$logs"/timing-*.log "$logs"/bench-py-*.log; do
    [ -f "$f" ] || continue
    line=$(grep -h '"step_ms"' "$f" | tail -1)
    [ -n "$line" ] && printf '%-22s %s\n' "$(basename "$f" .log)" "$line"
  done
  grep -h '^resume on' "$logs"/train_cli*.log 2>/dev/null
  for f in "$logs"/train_model*.log "$logs"/train_cli*.log; do
    line=$(grep -h '^test result' "$f" 2>/dev/null | tail -1)
    [ -n "$line" ] && printf '%-22s %s\n' "$(basename "$f" .log)" "$line"
  done
} >"$OUT/summary.txt.new"
mv "$OUT/summary.txt.new" "$OUT/summary.txt"
tee -a "$check_log" <"$OUT/summary.txt"
rm -rf "$work" "$logs"
exit 0
