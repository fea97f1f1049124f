# msmu: the two commands that matter are `make run` and `make test` (README.md).
# Everything they need is installed from the package registries (crates.io, PyPI, Debian).

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MSMU := target/release/msmu
OUT ?= out

.PHONY: run test build release lint fmt check-fmt clippy venv python-test rust-test fixtures bench bench-compare clean

## run: build msmu and run the main job on the bundled fixture scenes: `msmu build` writes
## Parquet shards + manifest to ./out/dataset (every frame considered), then `msmu stats`
## reports on them (markdown + PNG charts in ./out/stats).
run: release
	@mkdir -p $(OUT)
	$(MSMU) build --out $(OUT)/dataset --force --frame-stride 1
	$(MSMU) stats $(OUT)/dataset --plots $(OUT)/stats

PY_OR_SYS := $(PYTHON)

## test: the whole test suite (Rust unit + integration tests, Python cross-checks).
test: rust-test python-test

rust-test:
	$(CARGO) test --all-targets

## python-test: cross-checks against independent implementations (numpy, trimesh, Open3D,
## pyarrow, datasets). Uses the binary `rust-test` already built (`cargo test --no-run` is a
## no-op after it); a cold release build would add minutes to `make test`.
python-test: venv
	$(CARGO) test --all-targets --no-run
	MSMU_BIN=$(abspath target/debug/msmu) $(PY) -m pytest -q -rs -p no:dash tests/python

release:
	$(CARGO) build --release

lint: check-fmt clippy

check-fmt:
	$(CARGO) fmt --check

clippy:
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

clean:
	$(CARGO) clean
	rm -rf $(VENV) $(OUT)
