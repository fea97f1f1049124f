"""msmu's training step against PyTorch eager (+ PEFT) on one GPU, in the same run: tokens/s,
peak GPU memory and GPU utilisation per batch shape, measured the same way for both.

Runs `train_step_timing` (msmu, tch) and then `compare_train_step.py` (transformers + PEFT), one
process each, with the same arguments (`--preset`, `--rank`, `--shapes`, steps), while a thread
samples the device through NVML (`pynvml`, from nvidia-ml-py; `nvidia-smi` polling when it is
missing) every 50 ms. Both sides print one JSON line per shape with the Unix times of its timed
window; for each shape this script adds

- `gpu_util_mean`: NVML's utilisation (percent of time a kernel ran) averaged over the samples
  inside the timed window;
- `peak_used_gib`: the most device memory in use from the process start to the end of that
  shape's window, less what was in use before the process started. It counts the CUDA context
  and the caching allocator's reserve, which libtorch (under msmu) and PyTorch share, so the two
  sides compare like for like. Shapes run in the order given on one model, so list the smaller
  one first: a later shape's peak includes what the earlier ones left reserved.

Usage (what scripts/gpu-check.sh runs):
    gpu_train_compare.py --msmu bin/train_step_timing --bench-py benches/compare_train_step.py \\
        --msmu-env LD_LIBRARY_PATH=/path/to/torch/lib --preset 7b-shapes --shapes 1x6144,4x2048 \\
        --steps 5 --json OUT.json
Prints each side's lines as they come and a table at the end; exits 0 when both sides ran every
shape, 1 otherwise (the table still shows what came out).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time


class Sampler(threading.Thread):
    """(unix time, used bytes, utilisation %) of GPU `index` every `period` seconds."""

    def __init__(self, index=0, period=0.05):
        super().__init__(daemon=True)
        self.samples, self.period, self.index = [], period, index
        self.stop = threading.Event()
        self.read = None
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.source = "NVML"

            def read():
                return (pynvml.nvmlDeviceGetMemoryInfo(handle).used,
                        pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)

            self.read = read
        except Exception as e:  # no pynvml or no driver: nvidia-smi, slower
            self.source = f"nvidia-smi ({type(e).__name__}: {e})"

            def read():
                out = subprocess.run(
                    ["nvidia-smi", f"--id={index}", "--query-gpu=memory.used,utilization.gpu",
                     "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
                mib, util = (float(v) for v in out.stdout.strip().split(","))
                return int(mib * 2**20), util

            self.read = read

    def run(self):
        while not self.stop.is_set():
            try:
                used, util = self.read()
                self.samples.append((time.time(), used, util))
            except Exception:
                pass
            self.stop.wait(self.period)

    def between(self, t0, t1):
        return [s for s in self.samples if t0 <= s[0] <= t1]


def run_side(name, cmd, env, sampler, timeout):
    """Runs one side; returns its JSON lines, each with the sampler's figures added."""
    start = time.time()
    idle = [s[1] for s in sampler.samples if s[0] < start][-10:]
    base = min(idle) if idle else 0
    print(f"== {name}: {' '.join(cmd)}", flush=True)
    lines, err = [], None
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = start + timeout
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        for raw in proc.stdout:
            print(f"   {raw.rstrip()}", flush=True)
            raw = raw.strip()
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except json.JSONDecodeError:
                    pass
        rc = proc.wait()
        timer.cancel()
        if rc != 0:
            err = "timed out" if time.time() >= deadline else f"exit {rc}"
    except OSError as e:
        err = str(e)
    end = time.time()
    since = start
    for line in lines:
        t0, t1 = line.get("t0_unix", 0), line.get("t1_unix", 0)
        window = sampler.between(t0, t1)
        upto = [s[1] for s in sampler.samples if start <= s[0] <= t1]
        line["gpu_util_mean"] = sum(s[2] for s in window) / len(window) if window else None
        line["gpu_samples"] = len(window)
        line["peak_used_gib"] = (max(upto) - base) / 2**30 if upto else None
        line["process_s"] = t1 - since
    whole = [s[1] for s in sampler.samples if start <= s[0] <= end]
    return {"name": name, "lines": lines, "error": err, "seconds": end - start,
            "peak_used_gib_process": (max(whole) - base) / 2**30 if whole else None,
            "idle_used_gib": base / 2**30}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--msmu", required=True, help="the train_step_timing executable")
    ap.add_argument("--msmu-env", action="append", default=[], help="KEY=VALUE for msmu's process")
    ap.add_argument("--bench-py", required=True, help="benches/compare_train_step.py")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--preset", default="7b-shapes")
    ap.add_argument("--rank", type=int, default=None)
    ap.add_argument("--shapes", default="1x6144,4x2048")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=200, help="seconds per side")
    ap.add_argument("--sides", default="msmu,torch", help="which sides, in order")
    ap.add_argument("--json", default=None, help="write every line and figure here")
    a = ap.parse_args()

    sampler = Sampler()
    sampler.start()
    time.sleep(0.5)
    print(f"sampling GPU 0 through {sampler.source}", flush=True)
    common = [str(a.steps), "--preset", a.preset, "--shapes", a.shapes]
    if a.rank is not None:
        common += ["--rank", str(a.rank)]
    msmu_env = dict(os.environ)
    for kv in a.msmu_env:
        k, _, v = kv.partition("=")
        msmu_env[k] = v
    py_env = dict(os.environ, PYTHONUNBUFFERED="1")
    sides = {
        "msmu": lambda: run_side("msmu", [a.msmu, "1"] + common, msmu_env, sampler, a.timeout),
        "torch": lambda: run_side("torch", [a.python, a.bench_py, "1"] + common, py_env, sampler,
                                  a.timeout),
    }
    results = []
    for name in a.sides.split(","):
        results.append(sides[name]())
        time.sleep(1.0)  # let the device's memory drop back before the next side
    sampler.stop.set()

    shapes = a.shapes.split(",")
    print(f"== {a.preset}, LoRA r={a.rank or 'default'}, {a.steps} timed steps (median), "
          f"memory and utilisation from {sampler.source}")
    print(f"{'side':<7} {'shape':<8} {'step ms':>9} {'tokens/s':>9} {'peak GiB':>9} {'util %':>7}  "
          "torch peak alloc/reserved GiB")
    ok = True
    for r in results:
        by_shape = {f"{l['batch']}x{l['seq_len']}": l for l in r["lines"]}
        for shape in shapes:
            l = by_shape.get(shape)
            if l is None:
                ok = False
                print(f"{r['name']:<7} {shape:<8} {'-':>9} {'-':>9} {'-':>9} {'-':>7}  "
                      f"not run ({r['error'] or 'no line'})")
                continue
            torch_mem = ""
            if "torch_peak_allocated_gib" in l:
                torch_mem = f"{l['torch_peak_allocated_gib']:.1f} / {l['torch_peak_reserved_gib']:.1f}"
            peak = "-" if l["peak_used_gib"] is None else f"{l['peak_used_gib']:.1f}"
            util = "-" if l["gpu_util_mean"] is None else f"{l['gpu_util_mean']:.0f}"
            print(f"{r['name']:<7} {shape:<8} {l['step_ms']:>9.0f} {l['tokens_per_s']:>9.0f} "
                  f"{peak:>9} {util:>7}  {torch_mem}")
        if r["error"]:
            ok = False
            print(f"{r['name']}: {r['error']} after {r['seconds']:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"source": sampler.source, "args": vars(a), "results": results}, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
