"""Depth-Anything-V2-Small-sized inference on the CPU: msmu (`msmu depth --bench`) vs
transformers eager, same random weights, same image, same machine, alternating runs.

Usage (from the repository root, after `make venv` and a release build with the trainer):

    cargo build --release --features train --bin msmu
    .venv/bin/python benches/compare_depth_anything.py [--runs 3] [--passes 3] [--size 640x480]

Builds a random Small-sized model (hidden 384, 12 layers, 6 heads, out_indices 3/6/9/12,
neck [48, 96, 192, 384], fusion 64) with transformers, saves it with its DPT processor config,
writes a test image, then alternates transformers and msmu `--runs` times. Each run reports
milliseconds per image for the model alone (preprocessed input, after one warm-up pass) and for
the pipeline (decode + preprocess + model + output resize). Both sides use libtorch's default
intra-op thread count (printed)."""

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def build_model(out: Path):
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
    from transformers.models.dpt.image_processing_pil_dpt import DPTImageProcessorPil

    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                            image_size=518, patch_size=14, out_indices=[3, 6, 9, 12],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=384,
                                 neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64)
    model = DepthAnythingForDepthEstimation(config).eval()
    model.save_pretrained(out)
    processor = DPTImageProcessorPil(size={"height": 518, "width": 518}, keep_aspect_ratio=True,
                                     ensure_multiple_of=14, resample=3,
                                     image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    processor.save_pretrained(out)
    return model, processor


def time_transformers(model, processor, image_path: Path, passes: int):
    img = Image.open(image_path).convert("RGB")
    inputs = processor(images=img, return_tensors="pt")
    with torch.no_grad():
        model(**inputs)
        start = time.perf_counter()
        for _ in range(passes):
            model(**inputs)
        model_ms = (time.perf_counter() - start) * 1e3 / passes
        start = time.perf_counter()
        for _ in range(passes):
            img = Image.open(image_path).convert("RGB")
            inputs = processor(images=img, return_tensors="pt")
            out = model(**inputs)
            processor.post_process_depth_estimation(out, target_sizes=[(img.height, img.width)])
        pipeline_ms = (time.perf_counter() - start) * 1e3 / passes
    return {"model_ms": model_ms, "pipeline_ms": pipeline_ms,
            "input": list(inputs["pixel_values"].shape[-2:]), "threads": torch.get_num_threads()}


def time_msmu(msmu: str, model_dir: Path, image_path: Path, passes: int):
    out = subprocess.run([msmu, "depth", "--model", str(model_dir), str(image_path), "--out",
                          str(model_dir / "unused"), "--bench", str(passes)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--size", default="640x480", help="test image WIDTHxHEIGHT")
    parser.add_argument("--msmu", default=str(REPO / "target" / "release" / "msmu"))
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, processor = build_model(tmp / "model")
        rng = np.random.default_rng(0)
        image_path = tmp / "image.png"
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(image_path)
        print(f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, "
              f"image {width}x{height}, {args.passes} passes per run, transformers attention "
              f"{model.config._attn_implementation}")
        for run in range(1, args.runs + 1):
            for name, fn in (("transformers eager", lambda: time_transformers(model, processor, image_path, args.passes)),
                             ("msmu", lambda: time_msmu(args.msmu, tmp / "model", image_path, args.passes))):
                r = fn()
                print(f"run {run} {name:18} input {r['input'][0]}x{r['input'][1]} threads {r['threads']}: "
                      f"model {r['model_ms']:8.1f} ms/image, pipeline {r['pipeline_ms']:8.1f} ms/image",
                      flush=True)


if __name__ == "__main__":
    main()
