# msmu: the two commands that matter are `make run` and `make test` (README.md).
# Everything they need is installed from the package registries (crates.io, PyPI, Debian).

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MSMU := target/release/msmu
OUT ?= out
# libtorch for the `train` feature (tch): a slim CPU build cut from the PyPI torch wheel.
LIBTORCH_DIR := .libtorch
export LIBTORCH ?= $(abspath $(LIBTORCH_DIR))/torch

FUZZ_SECONDS ?= 60

.PHONY: fuzz ablation run test build release release-v3 release-native bench-compare-v3 bench-compare-native release-train train-ready lint fmt check-fmt clippy check-deps venv python-test rust-test fixtures bench bench-compare bench-build clean libtorch train-fixtures bench-train dev-build

## run: build msmu (the data commands only: no libtorch, no Python) and run the main job on the
## bundled fixture scenes: `msmu build` writes Parquet shards + manifest to ./out/dataset (every
## frame considered), then `msmu stats` reports on them (markdown + PNG charts in ./out/stats).
run: release
	@mkdir -p $(OUT)
	$(MSMU) build --out $(OUT)/dataset --force --frame-stride 1
	$(MSMU) stats $(OUT)/dataset --plots $(OUT)/stats

PY_OR_SYS := $(PYTHON)

## test: the whole test suite (Rust unit + integration tests, Python cross-checks).
test: rust-test python-test

rust-test: train-fixtures
	$(CARGO) test --workspace --all-targets --all-features

## dev-build: every test target and the dev binary target/debug/msmu (all features), which the
## fixture shards and the Python tests use, and the render_timing example that the test of
## benches/compare_open3d.py runs; no separate release build in `make test`.
DEV_MSMU := target/debug/msmu
dev-build: libtorch
	$(CARGO) test --workspace --all-targets --all-features --no-run
	$(CARGO) build --all-features --example render_timing

## train-fixtures: small msmu shards for the trainer's tests (fixtures/shards, git-ignored),
## written by `msmu build` from the bundled scenes: a train split and a test split. Rebuilt
## when a fixture scene file changes.
TRAIN_SHARDS := fixtures/shards
FIXTURE_FILES := $(shell find fixtures/scannet fixtures/scannetpp -type f 2>/dev/null)
train-fixtures: dev-build $(TRAIN_SHARDS)/.ready

$(TRAIN_SHARDS)/.ready: $(FIXTURE_FILES) crates/data/src/dataset/arrow_rows.rs
	rm -rf $(TRAIN_SHARDS) $(TRAIN_SHARDS).tmp
	$(DEV_MSMU) build --out $(TRAIN_SHARDS).tmp/train --split train --seed 1 --frame-stride 1 >/dev/null
	$(DEV_MSMU) build --scannet-root fixtures/scannet --out $(TRAIN_SHARDS).tmp/test --split test --seed 2 >/dev/null
	mkdir -p $(TRAIN_SHARDS)/data
	cp $(TRAIN_SHARDS).tmp/train/data/*.parquet $(TRAIN_SHARDS).tmp/test/data/*.parquet $(TRAIN_SHARDS)/data/
	rm -rf $(TRAIN_SHARDS).tmp
	@touch $@
	@echo "fixture shards: $$(ls $(TRAIN_SHARDS)/data)"

## libtorch: fetch the slim CPU libtorch 2.13.0 into .libtorch/ (PyPI wheels) when missing.
libtorch: $(LIBTORCH_DIR)/torch/lib/libtorch_cpu.so

$(LIBTORCH_DIR)/torch/lib/libtorch_cpu.so:
	scripts/fetch-libtorch.sh $(LIBTORCH_DIR)

## python-test: cross-checks against independent implementations (numpy, trimesh, Open3D,
## pyarrow, datasets, PyTorch + transformers for the trainer). Uses the dev binary that
## `dev-build` made; a cold release build would add minutes to `make test`.
python-test: venv train-fixtures
	MSMU_BIN=$(abspath $(DEV_MSMU)) $(PY) -m pytest -q -rs -p no:dash tests/python

## ablation: the committed depth ablation (docs/ABLATION.md has its report): the tiny-preset
## study (docs/ablation/study.json: scenes, shards, 3 arms x 3 seeds trained, predicted and
## scored into out/ablation), then the small-preset run on the same scenes
## (docs/ablation/study-small.json, which names out/ablation/scenes: keep OUT=out). About an
## hour on 2 cores; run it again to continue after an interruption.
ablation: train-ready
	target/release/msmu ablate --config docs/ablation/study.json --out out/ablation
	target/release/msmu ablate --config docs/ablation/study-small.json --out out/ablation-small

## release: the data binary (build, stats, export, merge, validate, synth, eval, ...), no libtorch.
release:
	$(CARGO) build --release --bin msmu

## release-v3: target/x86-64-v3/release/msmu, the same program built for x86-64-v3 CPUs (AVX2,
## FMA, BMI2: Intel Haswell, AMD Excavator and later). Same output bytes as `make release`
## (checked on the fixtures and a 20-scene set), about 14 % less CPU per build and 15-25 % less
## time per rendered view here (docs/PERFORMANCE.md, round 10).
## release-native: target/native/release/msmu, built for this machine's CPU (`-C
## target-cpu=native`; AVX-512 where it has it), for running here only. Same output bytes.
## Either binary, started on a CPU that lacks a feature it was built for, stops with an error
## that says so.
CPU_v3 := x86-64-v3
CPU_native := native
release-v3 release-native: release-%:
	RUSTFLAGS="-C target-cpu=$(CPU_$*)" $(CARGO) build --release --bin msmu --target-dir target/$(CPU_$*)

## train-ready (= release-train): fetch the slim CPU libtorch from PyPI (make libtorch) and build
## target/release/msmu with the trainer (`msmu train`, `msmu predict`, `msmu depth`).
train-ready: release-train
release-train: libtorch
	$(CARGO) build --release --features train --bin msmu

## fuzz: coverage-guided fuzzing of every reader of untrusted input (fuzz/, docs/RELIABILITY.md)
## for FUZZ_SECONDS each (default 60; #18 asks for 3600), of wall time, or of the fuzzer's
## own CPU time with FUZZ_CPU=1 (a busy machine then lengthens the run instead of shortening
## the fuzzing). Needs the nightly toolchain (rustup); installs cargo-fuzz from crates.io.
## Not part of `make test`.
fuzz: venv
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	PYTHON=$(PY) scripts/fuzz.sh $(if $(FUZZ_CPU),--cpu) $(FUZZ_SECONDS)

lint: check-fmt clippy check-deps

## check-deps: the crate dependency rules of ARCHITECTURE.md (msmu-data never depends on synth
## or tch; tch only in msmu-train; the default binary has no libtorch).
check-deps:
	scripts/check-deps.sh

check-fmt:
	$(CARGO) fmt --check

clippy: libtorch
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

fmt:
	$(CARGO) fmt

## venv: the Python test environment (Open3D needs Debian's libusb-1.0-0 to import).
venv: $(VENV)/.ready

$(VENV)/.ready: tests/python/requirements.txt
	@if ! ldconfig -p | grep -q libusb-1.0.so.0; then \
	  echo "installing Debian package libusb-1.0-0 (needed by open3d)"; \
	  (apt-get update -qq && apt-get install -y -qq libusb-1.0-0) >/dev/null || \
	  { echo "could not install libusb-1.0-0: run 'sudo apt-get install libusb-1.0-0'"; exit 1; }; \
	fi
	@avail=$$(df -Pk . 2>/dev/null | awk 'NR == 2 {print $$4}'); \
	if [ -n "$$avail" ] && [ "$$avail" -lt 8000000 ]; then \
	  echo "warning: $$((avail / 1024)) MiB free on this disk; the Python test environment needs about 7 GB (PyTorch with its CUDA libraries)"; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --no-cache-dir --upgrade pip
	$(VENV)/bin/pip install -q --no-cache-dir -r tests/python/requirements.txt
	@touch $@

## fixtures: regenerate the bundled synthetic scenes (deterministic).
fixtures: release
	rm -rf fixtures/scannet fixtures/scannetpp
	$(MSMU) synth --out fixtures/scannet --layout scannet --scenes 1 --seed 1 --faces-per-scene 12000 --frames 10 --frame-layout python
	$(MSMU) synth --out fixtures/scannet --layout scannet --scenes 1 --seed 2 --first-index 1 --faces-per-scene 12000 --frames 8 --frame-layout sens
	$(MSMU) synth --out fixtures/scannet --layout scannet --scenes 1 --seed 3 --first-index 2 --faces-per-scene 12000 --frames 3 --frame-layout cpp --legacy-aggregation
	$(MSMU) synth --out fixtures/scannetpp --layout scannetpp --scenes 1 --seed 4 --faces-per-scene 12000 --frames 6

## bench: criterion benchmarks (HTML report in target/criterion).
bench:
	$(CARGO) bench --workspace

## bench-compare: msmu's rasterizer vs Open3D RaycastingScene, single-threaded, same views
## (150K-face synthetic scene, 640x480; prints ms/view, the ratio and depth agreement), with
## render_timing built twice: portable (what `make release` ships) and for this machine's CPU
## (as `make release-native`), whose images must be byte-identical.
bench-compare: release venv
	$(CARGO) build --release --example render_timing
	RUSTFLAGS="-C target-cpu=native" $(CARGO) build --release --example render_timing --target-dir target/native
	OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 $(PY) benches/compare_open3d.py \
	  --example portable=target/release/examples/render_timing \
	  --example "this CPU"=target/native/release/examples/render_timing

## bench-compare-v3, bench-compare-native: bench-compare with render_timing built for x86-64-v3
## or for this machine's CPU (see release-v3, release-native). Open3D's library carries
## variants from SSE2 to AVX-512 and picks one by CPU at run time (docs/PERFORMANCE.md, round
## 11), so the native build is the like-for-like comparison on a given machine; the portable
## one is what `make release` ships.
bench-compare-v3 bench-compare-native: bench-compare-%: release venv
	RUSTFLAGS="-C target-cpu=$(CPU_$*)" $(CARGO) build --release --example render_timing --target-dir target/$(CPU_$*)
	OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 $(PY) benches/compare_open3d.py --example target/$(CPU_$*)/release/examples/render_timing

## bench-train: step time of the tiny model in msmu vs PyTorch eager, and DPE's share
## (docs/PERFORMANCE.md, "Trainer step time").
bench-train: libtorch venv
	$(CARGO) build --release --features train --example train_step_timing
	target/release/examples/train_step_timing 4 20
	$(PY) benches/compare_train_step.py 4 20

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(OUT) fixtures/shards

## bench-build: `msmu build` throughput at MSMU density on three fixed synthetic sets (seeds
## 21, 22, 23; 10 scenes x 300 frames, synthesised once into target/bench-build-cache):
## images/s, QA/s, CPU-ms per analysed frame, wall, CPU, peak RSS, projected 700K-QA time.
## BENCH_THREADS=1 for the per-frame cost; `scripts/bench-build.sh A B` alternates binaries.
bench-build: release
	scripts/bench-build.sh $(MSMU)
