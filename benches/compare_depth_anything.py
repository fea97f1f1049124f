"""Depth-Anything-V2-Small-sized inference: msmu (`msmu depth --bench`) vs transformers eager
(no torch.compile), same random weights, same image, same machine, alternating runs, on the CPU
or on CUDA.

Usage (from the repository root, after `make venv` and a release build with the trainer):

    cargo build --release --features train --bin msmu
    .venv/bin/python benches/compare_depth_anything.py [--device cpu|cuda] [--runs 3]
        [--passes 3] [--size 640x480] [--msmu PATH] [--msmu-env KEY=VALUE ...] [--json PATH]

Builds a random Small-sized model (hidden 384, 12 layers, 6 heads, out_indices 3/6/9/12,
neck [48, 96, 192, 384], fusion 64) with transformers, saves it with its DPT processor config,
writes a test image, then alternates transformers and msmu `--runs` times. Each run reports
milliseconds per image for the model alone (preprocessed input, after one warm-up pass) and for
the pipeline (decode + preprocess + model + output resize, and the copy of the depth map to the
host). Both sides use libtorch's default intra-op thread count (printed).

`--device cuda`: transformers moves the model and the inputs to the GPU and synchronises CUDA
before reading the clock; msmu runs with MSMU_DEVICE=cuda. msmu's pipeline time includes the
copy of each depth map to the host, which synchronises; its model-only time is comparable only
if `msmu depth --bench` synchronises CUDA around its timed loop.

Unless `--no-parity`, both sides also estimate the image once more on the device (msmu through
`msmu depth`, writing its .npy) and the maximum absolute difference between the two depth maps
(at the image's size, after each side's bicubic output resize) is reported.

`--msmu-env KEY=VALUE` sets variables for the msmu processes only (e.g. LD_LIBRARY_PATH for a
binary linked against another libtorch than this Python's torch). Works with transformers 5.17
and later (the Pillow DPT processor is `DPTImageProcessorPil` from 5.2x, the plain
`DPTImageProcessor` before)."""

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def pil_dpt_processor_class():
    """The DPT image processor that resizes with Pillow (what msmu reproduces)."""
    try:  # transformers >= 5.2x: one module per backend
        from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil
        return DPTImageProcessorPil
    except ImportError:  # earlier: DPTImageProcessor is the Pillow / numpy one
        from transformers import DPTImageProcessor
        return DPTImageProcessor


def build_model(out: Path, attn: str | None):
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                            image_size=518, patch_size=14, out_indices=[3, 6, 9, 12],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=384,
                                 neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64)
    if attn:
        config._attn_implementation = attn
    model = DepthAnythingForDepthEstimation(config).eval()
    model.save_pretrained(out)
    processor = pil_dpt_processor_class()(
        size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14,
        resample=3, do_pad=False, image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225])
    processor.save_pretrained(out)
    return model, processor


def sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def transformers_depth(model, processor, img: Image.Image, device: torch.device):
    inputs = processor(images=img, return_tensors="pt").to(device)
    out = model(**inputs)
    depth = processor.post_process_depth_estimation(out, target_sizes=[(img.height, img.width)])
    return depth[0]["predicted_depth"].float().cpu()


def time_transformers(model, processor, image_path: Path, passes: int, device: torch.device):
    img = Image.open(image_path).convert("RGB")
    inputs = processor(images=img, return_tensors="pt").to(device)
    with torch.no_grad():
        model(**inputs)
        sync(device)
        start = time.perf_counter()
        for _ in range(passes):
            model(**inputs)
        sync(device)
        model_ms = (time.perf_counter() - start) * 1e3 / passes
        start = time.perf_counter()
        for _ in range(passes):
            transformers_depth(model, processor, Image.open(image_path).convert("RGB"), device)
        sync(device)
        pipeline_ms = (time.perf_counter() - start) * 1e3 / passes
    return {"model_ms": model_ms, "pipeline_ms": pipeline_ms,
            "input": list(inputs["pixel_values"].shape[-2:]), "threads": torch.get_num_threads()}


def msmu_cmd(msmu: str, env: dict, args: list):
    out = subprocess.run([msmu, "depth", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"msmu depth {' '.join(args)}: exit {out.returncode}\n"
                           f"{out.stdout}{out.stderr}")
    return out.stdout


def time_msmu(msmu: str, env: dict, model_dir: Path, image_path: Path, passes: int):
    stdout = msmu_cmd(msmu, env, ["--model", str(model_dir), str(image_path), "--out",
                                  str(model_dir / "unused"), "--bench", str(passes)])
    return json.loads(stdout.strip().splitlines()[-1])


def parity(model, processor, msmu: str, env: dict, model_dir: Path, image_path: Path,
           device: torch.device):
    with torch.no_grad():
        ref = transformers_depth(model, processor, Image.open(image_path).convert("RGB"),
                                 device).numpy()
    out_dir = model_dir.parent / "msmu-depth"
    msmu_cmd(msmu, env, ["--model", str(model_dir), str(image_path), "--out", str(out_dir)])
    ours = np.load(out_dir / f"{image_path.stem}.npy")
    if ours.shape != ref.shape:
        return {"error": f"shapes differ: msmu {list(ours.shape)}, transformers {list(ref.shape)}"}
    diff = np.abs(ours.astype(np.float64) - ref.astype(np.float64))
    scale = float(np.abs(ref).max())
    return {"shape": list(ref.shape), "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()), "max_abs_ref": scale,
            "max_rel_diff": float(diff.max()) / scale if scale > 0 else None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--size", default="640x480", help="test image WIDTHxHEIGHT")
    parser.add_argument("--msmu", default=str(REPO / "target" / "release" / "msmu"))
    parser.add_argument("--msmu-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment variable for the msmu processes only (repeatable)")
    parser.add_argument("--attn", default=None,
                        help="transformers attention implementation (default: its own choice)")
    parser.add_argument("--no-parity", action="store_true")
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    env = dict(os.environ)
    for kv in args.msmu_env:
        key, _, value = kv.partition("=")
        env[key] = value
    env["MSMU_DEVICE"] = str(device) if device.type == "cuda" else "cpu"
    import transformers
    result = {"device": str(device), "transformers": transformers.__version__,
              "torch": torch.__version__, "image": [width, height], "passes": args.passes,
              "runs": []}
    if device.type == "cuda":
        result["gpu"] = torch.cuda.get_device_name(device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, processor = build_model(tmp / "model", args.attn)
        model.to(device)
        result["attn"] = model.config._attn_implementation
        result["processor"] = type(processor).__name__
        rng = np.random.default_rng(0)
        image_path = tmp / "image.png"
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(image_path)
        print(f"transformers {transformers.__version__} ({result['processor']}), torch "
              f"{torch.__version__}, device {device}{' ' + result.get('gpu', '') if 'gpu' in result else ''}, "
              f"image {width}x{height}, {args.passes} passes per run, transformers attention "
              f"{result['attn']}, msmu {args.msmu} (MSMU_DEVICE={env['MSMU_DEVICE']})", flush=True)
        sides = (("transformers", lambda: time_transformers(model, processor, image_path,
                                                             args.passes, device)),
                 ("msmu", lambda: time_msmu(args.msmu, env, tmp / "model", image_path,
                                            args.passes)))
        for run in range(1, args.runs + 1):
            for name, fn in sides:
                r = fn()
                result["runs"].append({"run": run, "side": name, "model_ms": r["model_ms"],
                                       "pipeline_ms": r["pipeline_ms"], "input": r["input"],
                                       "threads": r["threads"]})
                print(f"run {run} {name:12} input {r['input'][0]}x{r['input'][1]} threads "
                      f"{r['threads']}: model {r['model_ms']:8.1f} ms/image, pipeline "
                      f"{r['pipeline_ms']:8.1f} ms/image", flush=True)
        if not args.no_parity:
            try:
                result["parity"] = parity(model, processor, args.msmu, env, tmp / "model",
                                          image_path, device)
            except Exception as e:  # timings stand without it
                result["parity"] = {"error": str(e)}
            print(f"parity on {device}: {json.dumps(result['parity'])}", flush=True)
    med = {}
    for side in ("transformers", "msmu"):
        rows = [r for r in result["runs"] if r["side"] == side]
        med[side] = {k: statistics.median(r[k] for r in rows) for k in ("model_ms", "pipeline_ms")}
    result["median"] = med
    p = result.get("parity", {})
    line = (f"DA-V2-S {device.type} {width}x{height}->"
            f"{'x'.join(map(str, result['runs'][0]['input']))}: model ms transformers "
            f"{med['transformers']['model_ms']:.1f} msmu {med['msmu']['model_ms']:.1f}; "
            f"pipeline ms transformers {med['transformers']['pipeline_ms']:.1f} msmu "
            f"{med['msmu']['pipeline_ms']:.1f}")
    if "max_abs_diff" in p:
        line += f"; max|diff| {p['max_abs_diff']:.3g} (rel {p['max_rel_diff']:.3g})"
    elif "error" in p:
        line += "; parity error"
    result["summary"] = line
    print("summary: " + line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
