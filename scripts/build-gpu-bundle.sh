#!/usr/bin/env bash
# Builds the CUDA bundle that scripts/gpu-check.sh runs on a GPU machine without Rust or
# network (see docs/GPU.md): msmu, the train_step_timing example and the integration-test
# executable `it` (its train_model / train_cli modules), release mode, linked against libtorch 2.11.0 (+cu130) cut from
# the PyPI torch wheel, plus the fixture shards the tests read, packed into
# .gpu/bundle.tar.xz with a manifest. At run time the binaries load the GPU machine's own
# torch 2.11.0 libraries (rpath from DEVICE_TORCH_LIB, and gpu-check.sh sets LD_LIBRARY_PATH).
#
# The production build stays on tch 0.26 / libtorch 2.13.0. tch 0.26's generated C++ wrapper
# does not compile against 2.11 headers, so this script builds a copy of the tree (in
# $GPU_TARGET_DIR/tree, mtimes preserved so rebuilds are incremental) whose Cargo.toml pins
# tch/torch-sys =0.24.0, the release that targets libtorch 2.11.0.
#
# Downloads (PyPI only, once, into .gpu-wheels): torch 2.11.0 (530 MB) and the CUDA 13 wheels
# libtorch_cuda.so links against (1.7 GB unpacked), so that the link resolves every library
# and the binaries also start here on the CPU (MSMU_DEVICE=cpu).
#
# Usage: scripts/build-gpu-bundle.sh        (env: DEVICE_TORCH_LIB, GPU_TARGET_DIR, JOBS)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
torch_version=2.11.0
tch_version=0.24.0
wheels=$root/.gpu-wheels
libtorch=$root/.gpu-libtorch
target=${GPU_TARGET_DIR:-$root/target-gpu}
bundle=$root/.gpu
device_torch_lib=${DEVICE_TORCH_LIB:-/opt/torch/.venv/lib/python3.12/site-packages/torch/lib}
jobs=(${JOBS:+--jobs "$JOBS"})

log() { echo "== $*" >&2; }

# --- 1. libtorch 2.11.0 with its CUDA libraries --------------------------------------------
pip_platform=(--only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64
  --platform manylinux_2_27_x86_64 --platform manylinux_2_25_x86_64
  --platform manylinux_2_18_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64)
# What torch 2.11.0's wheel requires (cuda-toolkit 13.0.2 extras + the cu13 packages), limited
# to the libraries in the NEEDED lists of libtorch_cpu/libtorch_cuda/libtorch_nvshmem.
nvidia_reqs=('nvidia-cuda-runtime==13.0.96.*' 'nvidia-cuda-cupti==13.0.85.*'
  'nvidia-cublas==13.1.0.3.*' 'nvidia-cufft==12.0.0.61.*' 'nvidia-cufile==1.15.1.6.*'
  'nvidia-curand==10.4.0.35.*' 'nvidia-cusparse==12.6.3.3.*' 'nvidia-nvjitlink==13.0.88.*'
  'nvidia-cudnn-cu13==9.19.0.56' 'nvidia-cusparselt-cu13==0.8.0' 'nvidia-nccl-cu13==2.28.9'
  'nvidia-nvshmem-cu13==3.4.5')
if [ ! -f "$libtorch/.ready" ]; then
  mkdir -p "$wheels"
  ls "$wheels"/torch-$torch_version-*.whl >/dev/null 2>&1 ||
    pip download -q --no-deps -d "$wheels" "${pip_platform[@]}" "torch==$torch_version"
  pip download -q --no-deps -d "$wheels" "${pip_platform[@]}" "${nvidia_reqs[@]}"
  log "unpacking libtorch $torch_version into $libtorch"
  rm -rf "$libtorch.partial" && mkdir -p "$libtorch.partial"
  unzip -q "$wheels"/torch-$torch_version-*.whl 'torch/lib/*' 'torch/include/*' \
    -d "$libtorch.partial" -x 'torch/lib/libtorch_python.so' 'torch/lib/libshm*'
  # Layout of site-packages: libtorch's RPATH finds these at torch/lib/../../nvidia/*/lib.
  # cuDNN's engine libraries are loaded on first use only: left out.
  for w in "$wheels"/nvidia_*.whl; do
    unzip -qo "$w" 'nvidia/*/lib/lib*.so*' -d "$libtorch.partial" \
      -x 'nvidia/cudnn/lib/libcudnn_*' 'nvidia/cu13/lib/libnvperf*' 'nvidia/cu13/lib/libpcsampling*' \
      'nvidia/cu13/lib/libcheckpoint*' 'nvidia/cu13/lib/libnvblas*' 'nvidia/cu13/lib/libcufftw*' \
      2>/dev/null
  done
  missing=$(LD_LIBRARY_PATH= ldd "$libtorch.partial/torch/lib/libtorch_cuda.so" | grep 'not found' || true)
  [ -z "$missing" ] || { echo "libtorch_cuda.so: unresolved: $missing" >&2; exit 1; }
  touch "$libtorch.partial/.ready"
  rm -rf "$libtorch" && mv "$libtorch.partial" "$libtorch"
fi

# --- 2. a copy of the tree on tch 0.24 -----------------------------------------------------
tree=$target/tree
mkdir -p "$tree"
log "syncing the tree into $tree"
git ls-files -z --cached --others --exclude-standard |
  grep -zvx -e Cargo.toml -e Cargo.lock >"$target/tree.files"
tar --null -T "$target/tree.files" -cf - | tar -xpf - -C "$tree"
# Files gone from the tree leave the copy too (Cargo.toml and Cargo.lock are rewritten below).
python3 - "$tree" "$target/tree.files" <<'PY'
import os, sys
tree, listing = sys.argv[1:]
keep = set(open(listing, "rb").read().decode().split("\0")) | {"Cargo.toml", "Cargo.lock"}
for d, _, files in os.walk(tree):
    for f in files:
        rel = os.path.relpath(os.path.join(d, f), tree)
        if rel not in keep:
            os.remove(os.path.join(d, f))
PY
python3 - "$root/Cargo.toml" "$tree/Cargo.toml" "$tch_version" <<'EOF'
import re, sys
src, dst, version = sys.argv[1:]
text = open(src).read()
# The workspace's [workspace.dependencies] entries: `tch = "0.26.0"` or
# `tch = { version = "0.26.0", ... }`; every crate inherits them (`tch.workspace = true`).
for crate in ("tch", "torch-sys"):
    text, n = re.subn(rf'^({re.escape(crate)} = (?:\{{ *version = )?)"[^"]*"',
                      rf'\g<1>"={version}"', text, flags=re.M)
    assert n == 1, f"no {crate} dependency line in Cargo.toml"
try:
    old = open(dst).read()
except FileNotFoundError:
    old = None
if old != text:
    open(dst, "w").write(text)
EOF
# Keep the copy's lock (already re-resolved to tch 0.24) unless the tree's lock changed;
# cargo then moves only tch and torch-sys (and what they alone need) to match the pins.
if ! cmp -s "$root/Cargo.lock" "$target/Cargo.lock.orig" 2>/dev/null; then
  cp "$root/Cargo.lock" "$tree/Cargo.lock" && cp "$root/Cargo.lock" "$target/Cargo.lock.orig"
fi

# --- 3. build --------------------------------------------------------------------------------
export LIBTORCH=$libtorch/torch
export MSMU_EXTRA_RPATH=$device_torch_lib
export CARGO_TARGET_DIR=$target
manifest=(--manifest-path "$tree/Cargo.toml")
log "cargo build (tch $tch_version, libtorch $torch_version)"
cargo build "${jobs[@]}" --release --features train "${manifest[@]}" \
  --bin msmu --example train_step_timing
log "cargo test --no-run"
tests_json=$(cargo test "${jobs[@]}" --release --features train "${manifest[@]}" --no-run \
  --test it --message-format=json)
grep -A1 '^name = "tch"$' "$tree/Cargo.lock" | grep -q "version = \"$tch_version\"" ||
  { echo "the copy did not resolve tch $tch_version" >&2; exit 1; }

# --- 4. stage: binaries, shards, manifest ----------------------------------------------------
stage=$target/stage
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/testbin" "$stage/benches" "$stage/tests/python"
# The Python sides of the step-time and Depth-Anything comparisons travel with the binaries
# they compare against.
cp benches/compare_train_step.py benches/compare_depth_anything.py benches/gpu_train_compare.py "$stage/benches/"
cp tests/python/dpe_reference.py "$stage/tests/python/"
cp "$CARGO_TARGET_DIR/release/msmu" "$CARGO_TARGET_DIR/release/examples/train_step_timing" "$stage/bin/"
test_names=()
while read -r exe; do
  cp "$exe" "$stage/testbin/"
  test_names+=("$(basename "$exe")")
done < <(printf '%s\n' "$tests_json" | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "it":
        print(m["executable"])')
[ ${#test_names[@]} -eq 1 ] || { echo "expected 1 test executable, got: ${test_names[*]}" >&2; exit 1; }
for f in "$stage"/bin/* "$stage"/testbin/*; do
  readelf -d "$f" | grep -q 'NEEDED.*libtorch_cuda.so' ||
    { echo "$f does not link libtorch_cuda.so" >&2; exit 1; }
  strip --strip-debug "$f"
done

log "fixture shards (msmu build, as make train-fixtures)"
msmu=$stage/bin/msmu
shards=$stage/shards
"$msmu" build --out "$target/shards.tmp/train" --split train --seed 1 --frame-stride 1 >/dev/null
"$msmu" build --scannet-root fixtures/scannet --out "$target/shards.tmp/test" --split test --seed 2 >/dev/null
mkdir -p "$shards/data"
cp "$target"/shards.tmp/train/data/*.parquet "$target"/shards.tmp/test/data/*.parquet "$shards/data/"
rm -rf "$target/shards.tmp"
touch "$shards/.ready"

{
  echo "# msmu GPU bundle (scripts/build-gpu-bundle.sh); sourced by scripts/gpu-check.sh"
  echo "BUNDLE_COMMIT=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!Cargo.lock' || echo -dirty)"
  echo "BUNDLE_BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "BUNDLE_TORCH=$torch_version"
  echo "BUNDLE_TCH=$tch_version"
  echo "MSMU=bin/msmu"
  echo "TRAIN_STEP_TIMING=bin/train_step_timing"
  for n in "${test_names[@]}"; do
    case $n in
      it-*) echo "TEST_IT=testbin/$n" ;;
    esac
  done
  echo "SHARDS=shards"
  echo "BENCH_PY=benches/compare_train_step.py"
  echo "DA_BENCH_PY=benches/compare_depth_anything.py"
  echo "TRAIN_CMP_PY=benches/gpu_train_compare.py"
} >"$stage/manifest.env"

# --- 5. pack ---------------------------------------------------------------------------------
mkdir -p "$bundle"
rm -f "$bundle/bundle.tar.xz.tmp"
tar -C "$stage" -cf - . | xz -T0 -6 >"$bundle/bundle.tar.xz.tmp"
mv "$bundle/bundle.tar.xz.tmp" "$bundle/bundle.tar.xz"
cp "$stage/manifest.env" "$bundle/manifest.env"
# The device script too, so that `bash .gpu/gpu-check.sh` works from any checkout of the repo.
cp scripts/gpu-check.sh "$bundle/gpu-check.sh"
log "bundle: $bundle/bundle.tar.xz ($(du -h "$bundle/bundle.tar.xz" | cut -f1)); unpacked $(du -sh "$stage" | cut -f1)"
cat "$bundle/manifest.env" >&2
