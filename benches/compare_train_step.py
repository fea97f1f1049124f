"""Training step time of msmu's `--preset tiny` model against the same model in PyTorch eager
(transformers `LlavaForConditionalGeneration`, LoRA r=8 on every LLM linear written by hand,
projector trained, AdamW, grad clipping), on the same synthetic batch layout as
`examples/train_step_timing.rs`. Prints both JSON lines. `make bench-train` runs it.

DPE in the PyTorch run is the reference formula of tests/python/dpe_reference.py on the
same 640x480 depth map (pooling in float64 with torch ops on the CPU, as msmu pools on the CPU).

The device is MSMU_DEVICE as for msmu (auto = CUDA when available, cpu, cuda, cuda:N) and the
precision MSMU_PRECISION as `msmu train --precision` (auto = bf16 on CUDA unless
MSMU_AUTOCAST=0, fp32 on the CPU): in bf16 / fp16 the frozen weights are cast to that dtype
(`torch_dtype=torch.bfloat16` loading), the LoRA adapters and the projector stay float32 and
compute in float32 (PEFT's LoraLayer), like msmu's trainer. fp16 runs without a loss scaler
here (timing only). The GPU is synchronized before every timer read."""

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

BATCH = int(sys.argv[1]) if len(sys.argv) > 1 else 4
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 20


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


def tiny():
    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_attention_heads=4,
                              num_hidden_layers=3, image_size=112, patch_size=14, projection_dim=64)
    text = LlamaConfig(vocab_size=1024, hidden_size=128, intermediate_size=256, num_attention_heads=4,
                       num_key_value_heads=4, num_hidden_layers=2, max_position_embeddings=1024)
    model = LlavaForConditionalGeneration(LlavaConfig(vision_config=vision, text_config=text, image_token_id=4))
    for p in model.parameters():
        p.requires_grad_(False)
    model.to(DTYPE)
    # The projector trains in float32 and takes the vision features in its own dtype.
    projector = model.model.multi_modal_projector.float()
    projector.register_forward_pre_hook(lambda _, args: tuple(a.float() for a in args))
    for layer in model.model.language_model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.Linear):
                    setattr(parent, name, LoraLinear(child))
    for p in model.model.multi_modal_projector.parameters():
        p.requires_grad_(True)
    return model.train()


def main():
    torch.manual_seed(0)
    model = tiny().to(DEVICE)
    ids = [1] + [10 + i % 900 for i in range(40)] + [4] * 64 + [30 + i for i in range(20)]
    prompt = len(ids)
    ids += [100 + (i * 7) % 900 for i in range(40)]
    labels = [-100] * prompt + ids[prompt:]
    input_ids = torch.tensor([ids] * BATCH, device=DEVICE)
    labels = torch.tensor([labels] * BATCH, device=DEVICE)
    pixels = torch.randn(BATCH, 3, 112, 112).to(DEVICE)
    depth = (np.arange(640 * 480) * 7919 % 5000).astype(np.uint16).reshape(480, 640)
    params = [p for p in model.parameters() if p.requires_grad]
    proj = set(id(p) for p in model.model.multi_modal_projector.parameters())
    opt = torch.optim.AdamW([
        {"params": [p for p in params if id(p) not in proj], "lr": 2e-4},
        {"params": [p for p in params if id(p) in proj], "lr": 2e-5},
    ], weight_decay=0.0)
    step_s, dpe_s = [], []
    embed = model.get_input_embeddings()
    for step in range(STEPS + 3):
        sync()
        t0 = time.perf_counter()
        pe = torch.stack([reference_dpe(depth, 8, 128)[0] for _ in range(BATCH)]).float().to(DEVICE)
        sync()
        t_dpe = time.perf_counter() - t0
        feats = model.model.get_image_features(pixel_values=pixels.to(DTYPE))
        feats = feats if torch.is_tensor(feats) else getattr(feats, "pooler_output", feats)
        feats = torch.cat(list(feats)) if isinstance(feats, (list, tuple)) else feats
        feats = (feats.reshape(BATCH, -1, 128).float() + pe).to(feats.dtype)
        embeds = embed(input_ids)
        embeds = embeds.masked_scatter((input_ids == 4).unsqueeze(-1), feats.to(embeds.dtype))
        out = model(inputs_embeds=embeds, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad()
        sync()
        if step >= 3:
            step_s.append(time.perf_counter() - t0)
            dpe_s.append(t_dpe)
    step_med, dpe_med = float(np.median(step_s)), float(np.median(dpe_s))
    print(json.dumps({
        "impl": f"PyTorch eager {torch.__version__}, transformers",
        "device": str(DEVICE), "precision": str(DTYPE).replace("torch.", ""),
        "batch": BATCH, "seq_len": len(ids), "threads": torch.get_num_threads(),
        "step_ms": step_med * 1e3, "tokens_per_s": BATCH * len(ids) / step_med,
        "dpe_ms": dpe_med * 1e3, "dpe_share": dpe_med / step_med,
    }))


if __name__ == "__main__":
    main()
