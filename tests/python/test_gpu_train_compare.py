"""benches/gpu_train_compare.py: the per-shape figures (peak memory, mean utilisation) it adds to
each side's JSON lines, from a scripted sampler and a scripted side, and its table's verdict."""

import importlib.util
import json
import os
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
spec = importlib.util.spec_from_file_location(
    "gpu_train_compare", os.path.join(ROOT, "benches", "gpu_train_compare.py"))
cmp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cmp)

GIB = 2**30


class FakeSampler:
    """Samples as a list of (unix time, used bytes, util %), nothing read from a device."""

    def __init__(self, samples):
        self.samples = samples

    def between(self, t0, t1):
        return [s for s in self.samples if t0 <= s[0] <= t1]


def side_printing(lines, rc=0):
    """A side: a Python process that prints `lines` (dicts as JSON, str as is), then exits rc."""
    code = "import json, sys\n" + "".join(
        f"print({json.dumps(line) if isinstance(line, str) else repr(json.dumps(line))})\n"
        for line in lines) + f"sys.exit({rc})\n"
    return [sys.executable, "-c", code]


def test_figures_per_shape_windows_and_peaks():
    now = time.time()
    # Idle at 1 GiB before the side starts; the side's two shapes run in [now+10, now+20] and
    # [now+30, now+40] (times in the future, so every sample is taken "during" the process).
    samples = [(now - 1 + i * 0.1, 1 * GIB, 0) for i in range(10)]
    samples += [(now + 5, 8 * GIB, 50), (now + 12, 9 * GIB, 90), (now + 18, 7 * GIB, 70),
                (now + 25, 20 * GIB, 10), (now + 35, 12 * GIB, 100), (now + 39, 12 * GIB, 80),
                (now + 50, 30 * GIB, 0)]
    lines = [
        {"batch": 1, "seq_len": 64, "step_ms": 10.0, "tokens_per_s": 6400.0,
         "t0_unix": now + 10, "t1_unix": now + 20},
        {"batch": 2, "seq_len": 32, "step_ms": 10.0, "tokens_per_s": 6400.0,
         "t0_unix": now + 30, "t1_unix": now + 40},
    ]
    r = cmp.run_side("fake", side_printing(["not json", *lines]), dict(os.environ),
                     FakeSampler(samples), timeout=60)
    assert r["error"] is None
    first, second = r["lines"]
    assert first["gpu_samples"] == 2 and abs(first["gpu_util_mean"] - 80.0) < 1e-9
    # Peak from the process start to the end of the window, less the idle baseline.
    assert abs(first["peak_used_gib"] - 8.0) < 1e-9
    assert abs(second["gpu_util_mean"] - 90.0) < 1e-9
    assert abs(second["peak_used_gib"] - 19.0) < 1e-9
    # The whole-process peak takes only samples inside the process's own wall time: none here.
    assert r["peak_used_gib_process"] is None


def test_failing_side_is_reported_and_keeps_its_lines():
    now = time.time()
    line = {"batch": 1, "seq_len": 64, "step_ms": 5.0, "tokens_per_s": 1.0,
            "t0_unix": now, "t1_unix": now}
    r = cmp.run_side("fake", side_printing([line], rc=3), dict(os.environ), FakeSampler([]),
                     timeout=60)
    assert r["error"] == "exit 3"
    assert len(r["lines"]) == 1 and r["lines"][0]["gpu_util_mean"] is None
    assert r["lines"][0]["peak_used_gib"] is None


def test_side_past_its_timeout_is_killed():
    cmd = [sys.executable, "-c", "import time; print('{}', flush=True); time.sleep(30)"]
    t0 = time.time()
    r = cmp.run_side("slow", cmd, dict(os.environ), FakeSampler([]), timeout=1.0)
    assert time.time() - t0 < 20
    assert r["error"] == "timed out"
