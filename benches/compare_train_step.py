"""Training step time of msmu's LLaVA + DPE + LoRA model against the same model in PyTorch
eager (transformers `LlavaForConditionalGeneration`, projector trained, AdamW, grad clipping),
on the same synthetic batch layout as `examples/train_step_timing.rs`. Prints one JSON line per
batch shape. `make bench-train` runs it.

    compare_train_step.py [BATCH] [STEPS] [--preset tiny|7b-shapes] [--rank R] [--shapes BxL,..]

`tiny` (default): LoRA r=8 on every LLM linear written by hand (PEFT's LoraLayer arithmetic),
BATCH samples of 165 tokens. `7b-shapes`: LLaVA-1.5-7B's shapes with random weights created on
the device in the training dtype, LoRA r=128 / alpha 256 / dropout 0.05 on every LLM linear
through PEFT (`get_peft_model`, adapters in float32 as PEFT's `autocast_adapter_dtype` makes
them), `use_cache=False`. `--shapes` runs each `batch x tokens` shape in turn on one model, the
answer filling the sequence up to `tokens`; every line carries the Unix times of its timed
window (`t0_unix`, `t1_unix`) and torch's peak allocated / reserved CUDA memory for that shape.

DPE in the PyTorch run is the reference formula of tests/python/dpe_reference.py on the
same 640x480 depth map (pooling in float64 with torch ops on the CPU, as msmu pools on the CPU).

The device is MSMU_DEVICE as for msmu (auto = CUDA when available, cpu, cuda, cuda:N) and the
precision MSMU_PRECISION as `msmu train --precision` (auto = bf16 on CUDA unless
MSMU_AUTOCAST=0, fp32 on the CPU): in bf16 / fp16 the frozen weights are cast to that dtype
(`torch_dtype=torch.bfloat16` loading), the LoRA adapters and the projector stay float32 and
compute in float32 (PEFT's LoraLayer), like msmu's trainer. fp16 runs without a loss scaler
here (timing only). The GPU is synchronized before every timer read."""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from dpe_reference import reference_dpe  # noqa: E402



def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("batch", nargs="?", type=int, default=4)
    ap.add_argument("steps", nargs="?", type=int, default=20)
    ap.add_argument("--preset", choices=["tiny", "7b-shapes"], default="tiny")
    ap.add_argument("--rank", type=int, default=None)
    ap.add_argument("--shapes", default=None, help="BATCHxTOKENS,... (default: BATCH x 165)")
    a = ap.parse_args()
    if a.shapes:
        a.shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
    else:
        a.shapes = [(a.batch, None)]
    if a.rank is None:
        a.rank = 128 if a.preset == "7b-shapes" else 8
    return a


ARGS = parse_args()
STEPS = ARGS.steps


def pick_device():
    spec = os.environ.get("MSMU_DEVICE", "").strip().lower()
    if spec in ("", "auto"):
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            sys.exit(f"MSMU_DEVICE={spec}: CUDA is not available to torch {torch.__version__}")
        return torch.device("cuda:0" if spec == "cuda" else spec)
    sys.exit(f"MSMU_DEVICE={spec!r}: expected auto, cpu, cuda or cuda:N")


DEVICE = pick_device()
def pick_precision():
    spec = os.environ.get("MSMU_PRECISION", "").strip().lower()
    if spec in ("", "auto"):
        off = os.environ.get("MSMU_AUTOCAST", "").strip().lower() in ("0", "false", "off", "no")
        return torch.bfloat16 if DEVICE.type == "cuda" and not off else torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[spec]


DTYPE = pick_precision()


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


class LoraLinear(torch.nn.Module):
    def __init__(self, base, r=8, alpha=16, dropout=0.05):
        super().__init__()
        self.base = base
        self.a = torch.nn.Parameter(torch.empty(r, base.in_features).uniform_(-1, 1) / math.sqrt(base.in_features))
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, r))
        self.scale, self.dropout = alpha / r, torch.nn.Dropout(dropout)

    def forward(self, x):
        y = self.base(x)
        delta = F.linear(F.linear(self.dropout(x.to(self.a.dtype)), self.a), self.b) * self.scale
        return (y.to(delta.dtype) + delta).to(y.dtype)


def freeze_and_train_projector(model, llava):
    """Frozen weights in DTYPE; the projector trains in float32 and takes the vision features
    in its own dtype (as msmu's trainer)."""
    projector = llava.model.multi_modal_projector.float()
    projector.register_forward_pre_hook(lambda _, args: tuple(a.float() for a in args))
    for p in projector.parameters():
        p.requires_grad_(True)
    return model.train()


def tiny(rank):
    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_attention_heads=4,
                              num_hidden_layers=3, image_size=112, patch_size=14, projection_dim=64)
    text = LlamaConfig(vocab_size=1024, hidden_size=128, intermediate_size=256, num_attention_heads=4,
                       num_key_value_heads=4, num_hidden_layers=2, max_position_embeddings=1024)
    model = LlavaForConditionalGeneration(LlavaConfig(vision_config=vision, text_config=text, image_token_id=4))
    for p in model.parameters():
        p.requires_grad_(False)
    model.to(DTYPE)
    for layer in model.model.language_model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.Linear):
                    setattr(parent, name, LoraLinear(child, r=rank, alpha=2 * rank))
    return freeze_and_train_projector(model, model).to(DEVICE), model


def seven_b(rank):
    """LLaVA-1.5-7B's shapes, random weights created on DEVICE in DTYPE (no float32 copy), LoRA
    through PEFT on every LLM linear."""
    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                              num_hidden_layers=24, image_size=336, patch_size=14, projection_dim=768,
                              hidden_act="quick_gelu", layer_norm_eps=1e-5)
    text = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_attention_heads=32,
                       num_key_value_heads=32, num_hidden_layers=32, max_position_embeddings=4096,
                       rms_norm_eps=1e-5, tie_word_embeddings=False)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_id=4, vision_feature_layer=-2,
                      projector_hidden_act="gelu")
    return peft_llava(cfg, rank)


def peft_llava(cfg, rank):
    """`cfg`'s model with random weights created on DEVICE in DTYPE, LoRA through PEFT."""
    from peft import LoraConfig as PeftLoraConfig, get_peft_model

    previous = torch.get_default_dtype()
    torch.set_default_dtype(DTYPE)
    try:
        with torch.device(DEVICE):
            llava = LlavaForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(previous)
    for p in llava.parameters():
        p.requires_grad_(False)
    lora = PeftLoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.05, bias="none",
        target_modules=r".*language_model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)")
    model = get_peft_model(llava, lora)  # autocast_adapter_dtype: adapters in float32
    return freeze_and_train_projector(model, llava), llava


def main():
    torch.manual_seed(0)
    sync()
    t_build = time.perf_counter()
    model, llava = seven_b(ARGS.rank) if ARGS.preset == "7b-shapes" else tiny(ARGS.rank)
    sync()
    build_s = time.perf_counter() - t_build
    vcfg, tcfg = llava.config.vision_config, llava.config.text_config
    grid, hidden, vocab = vcfg.image_size // vcfg.patch_size, tcfg.hidden_size, tcfg.vocab_size
    n_image, size = grid * grid, vcfg.image_size
    depth = (np.arange(640 * 480) * 7919 % 5000).astype(np.uint16).reshape(480, 640)
    params = [p for p in model.parameters() if p.requires_grad]
    proj = set(id(p) for p in llava.model.multi_modal_projector.parameters())
    opt = torch.optim.AdamW([
        {"params": [p for p in params if id(p) not in proj], "lr": 2e-4},
        {"params": [p for p in params if id(p) in proj], "lr": 2e-5},
    ], weight_decay=0.0)
    embed = llava.get_input_embeddings()
    for batch, tokens in ARGS.shapes:
        fixed = 1 + 40 + n_image + 20
        answer = 40 if tokens is None else tokens - fixed
        if answer < 1:
            sys.exit(f"{tokens} tokens cannot hold the {fixed}-token prompt")
        ids = [1] + [10 + i % 900 for i in range(40)] + [4] * n_image + [30 + i for i in range(20)]
        prompt = len(ids)
        ids += [100 + (i * 7) % (vocab - 100) for i in range(answer)]
        labels = [-100] * prompt + ids[prompt:]
        input_ids = torch.tensor([ids] * batch, device=DEVICE)
        labels = torch.tensor([labels] * batch, device=DEVICE)
        torch.manual_seed(0)
        pixels = torch.randn(batch, 3, size, size).to(DEVICE)
        if DEVICE.type == "cuda":
            torch.cuda.reset_peak_memory_stats(DEVICE)
        step_s, dpe_s, t0_unix = [], [], 0.0
        for step in range(STEPS + 3):
            sync()
            if step == 3:
                t0_unix = time.time()
            t0 = time.perf_counter()
            pe = torch.stack([reference_dpe(depth, grid, hidden)[0] for _ in range(batch)]).float().to(DEVICE)
            sync()
            t_dpe = time.perf_counter() - t0
            feats = llava.model.get_image_features(pixel_values=pixels.to(DTYPE))
            feats = feats if torch.is_tensor(feats) else getattr(feats, "pooler_output", feats)
            feats = torch.cat(list(feats)) if isinstance(feats, (list, tuple)) else feats
            feats = (feats.reshape(batch, -1, hidden).float() + pe).to(feats.dtype)
            embeds = embed(input_ids)
            embeds = embeds.masked_scatter((input_ids == 4).unsqueeze(-1), feats.to(embeds.dtype))
            out = model(inputs_embeds=embeds, labels=labels, use_cache=False)
            loss = out.loss
            del out
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()
            loss.item()
            sync()
            if step >= 3:
                step_s.append(time.perf_counter() - t0)
                dpe_s.append(t_dpe)
        step_med, dpe_med = float(np.median(step_s)), float(np.median(dpe_s))
        line = {
            "impl": f"PyTorch eager {torch.__version__}, transformers"
                    + (" + PEFT" if ARGS.preset == "7b-shapes" else ""),
            "preset": ARGS.preset, "lora_rank": ARGS.rank,
            "device": str(DEVICE), "precision": str(DTYPE).replace("torch.", ""),
            "batch": batch, "seq_len": len(ids), "steps": STEPS, "threads": torch.get_num_threads(),
            "build_s": build_s,
            "step_ms": step_med * 1e3, "tokens_per_s": batch * len(ids) / step_med,
            "dpe_ms": dpe_med * 1e3, "dpe_share": dpe_med / step_med,
            "t0_unix": t0_unix, "t1_unix": time.time(),
        }
        if DEVICE.type == "cuda":
            line["torch_peak_allocated_gib"] = torch.cuda.max_memory_allocated(DEVICE) / 2**30
            line["torch_peak_reserved_gib"] = torch.cuda.max_memory_reserved(DEVICE) / 2**30
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
