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

.PHONY: run test build release lint fmt check-fmt clippy venv python-test rust-test fixtures bench bench-compare clean libtorch train-fixtures bench-train

## run: build msmu and run it on the bundled fixture scenes (writes to ./out): inspect with
## view selection, a render of one frame, and the QA pairs of every scene.
run: release
	@mkdir -p $(OUT)
	@for scene in $$(ls -d fixtures/scannet/scans/scene* fixtures/scannetpp/data/* 2>/dev/null); do \
	  echo "== msmu inspect $$scene"; \
	  $(MSMU) inspect $$scene --views || exit 1; \
	  frame=$$($(MSMU) inspect $$scene --json | $(PY_OR_SYS) -c 'import json,sys; r=json.load(sys.stdin); f=r["frames"]["ids"]; print(f[len(f)//2] if f else "")'); \
	  if [ -n "$$frame" ]; then \
	    echo "== msmu render $$scene --frame $$frame"; \
	    $(MSMU) render $$scene --frame "$$frame" --out $(OUT)/render/$$(basename $$scene) || exit 1; \
	  fi; \
	  mkdir -p $(OUT)/qa; \
	  $(MSMU) qa $$scene --frame-stride 1 --json > $(OUT)/qa/$$(basename $$scene).jsonl || exit 1; \
	  echo "== msmu qa $$scene: $$(wc -l < $(OUT)/qa/$$(basename $$scene).jsonl) QA pairs -> $(OUT)/qa/$$(basename $$scene).jsonl"; \
	done

PY_OR_SYS := $(PYTHON)

## test: the whole test suite (Rust unit + integration tests, Python cross-checks).
test: rust-test python-test

rust-test: libtorch train-fixtures
	$(CARGO) test --all-targets --all-features

## train-fixtures: small msmu shards for the trainer's tests (fixtures/shards, git-ignored),
## written by `msmu build` from the bundled scenes: a train split and a test split.
TRAIN_SHARDS := fixtures/shards
train-fixtures: release
	@if [ ! -f $(TRAIN_SHARDS)/.ready ]; then \
	  rm -rf $(TRAIN_SHARDS) $(TRAIN_SHARDS).tmp && \
	  $(MSMU) build --out $(TRAIN_SHARDS).tmp/train --split train --seed 1 --frame-stride 1 >/dev/null && \
	  $(MSMU) build --scannet-root fixtures/scannet --out $(TRAIN_SHARDS).tmp/test --split test --seed 2 >/dev/null && \
	  mkdir -p $(TRAIN_SHARDS)/data && \
	  cp $(TRAIN_SHARDS).tmp/train/data/*.parquet $(TRAIN_SHARDS).tmp/test/data/*.parquet $(TRAIN_SHARDS)/data/ && \
	  rm -rf $(TRAIN_SHARDS).tmp && touch $(TRAIN_SHARDS)/.ready && \
	  echo "fixture shards: $$(ls $(TRAIN_SHARDS)/data)"; \
	fi

## libtorch: fetch the slim CPU libtorch 2.13.0 into .libtorch/ (PyPI wheels) when missing.
libtorch: $(LIBTORCH_DIR)/torch/lib/libtorch_cpu.so

$(LIBTORCH_DIR)/torch/lib/libtorch_cpu.so:
	scripts/fetch-libtorch.sh $(LIBTORCH_DIR)

## python-test: cross-checks against independent implementations (numpy, trimesh, Open3D).
python-test: venv release train-fixtures
	MSMU_BIN=$(abspath $(MSMU)) $(PY) -m pytest -q -rs -p no:dash tests/python

release: libtorch
	$(CARGO) build --release --all-features

lint: check-fmt clippy

check-fmt:
	$(CARGO) fmt --check

clippy: libtorch
	$(CARGO) clippy --all-targets --all-features -- -D warnings

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
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r tests/python/requirements.txt
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
	$(CARGO) bench

## bench-compare: msmu's rasterizer vs Open3D RaycastingScene, single-threaded, same views
## (150K-face synthetic scene, 640x480; prints ms/view, the ratio and depth agreement).
bench-compare: release venv
	$(CARGO) build --release --example render_timing
	OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 $(PY) benches/compare_open3d.py

## bench-train: step time of the tiny model in msmu vs PyTorch eager, and DPE's share
## (docs/PERFORMANCE.md, "Trainer step time").
bench-train: libtorch venv
	$(CARGO) build --release --features train --example train_step_timing
	target/release/examples/train_step_timing 4 20
	$(PY) benches/compare_train_step.py 4 20

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(OUT) fixtures/shards
