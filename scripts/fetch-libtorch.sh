#!/usr/bin/env bash
# Cuts a slim CPU libtorch (with the two CUDA runtime libraries libtorch_cpu.so links) out of
# the PyPI torch wheel, into $1 (default .libtorch). Only PyPI is used; see docs TOOLCHAIN notes.
# The nvidia wheels are tagged manylinux2014, manylinux_2_17 and manylinux_2_25, so every platform tag is listed:
# pinning manylinux_2_28 alone makes pip report "from versions: 0.0.0a0".
set -euo pipefail
dest=${1:-.libtorch}
wheels=${WHEELS:-.wheels}
if [ -f "$dest/torch/lib/libtorch_cpu.so" ]; then exit 0; fi
mkdir -p "$wheels"
pip_platform=(--only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64
  --platform manylinux_2_25_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64)
ls "$wheels"/torch-2.13.0-*.whl >/dev/null 2>&1 ||
  pip download -q --no-cache-dir --no-deps -d "$wheels" "${pip_platform[@]}" torch==2.13.0
ls "$wheels"/nvidia_cuda_runtime-13.0.96*.whl >/dev/null 2>&1 ||
  pip download -q --no-cache-dir --no-deps -d "$wheels" "${pip_platform[@]}" 'nvidia-cuda-runtime==13.0.96.*'
ls "$wheels"/nvidia_cuda_cupti-13.0.85*.whl >/dev/null 2>&1 ||
  pip download -q --no-cache-dir --no-deps -d "$wheels" "${pip_platform[@]}" 'nvidia-cuda-cupti==13.0.85.*'
tmp="$dest.partial"
rm -rf "$tmp" && mkdir -p "$tmp"
unzip -q "$wheels"/torch-2.13.0-*.whl 'torch/lib/*' 'torch/include/*' -d "$tmp" \
  -x 'torch/lib/libtorch_cuda*' 'torch/lib/libc10_cuda.so' 'torch/lib/libcaffe2_nvrtc.so' \
  'torch/lib/libtorch_nvshmem.so' 'torch/lib/libtorch_python.so' 'torch/lib/libshm*'
unzip -q "$wheels"/nvidia_cuda_runtime-13.0.96*.whl 'nvidia/cu13/lib/libcudart.so.13' -d "$tmp"
unzip -q "$wheels"/nvidia_cuda_cupti-13.0.85*.whl 'nvidia/cu13/lib/libcupti.so.13' -d "$tmp"
rm -rf "$dest" && mv "$tmp" "$dest"
# The wheels are not needed once cut (about 0.5 GB); a WHEELS folder the caller names is kept.
if [ -z "${WHEELS:-}" ]; then rm -rf "$wheels"; fi
echo "libtorch 2.13.0 (CPU) in $dest/torch"
