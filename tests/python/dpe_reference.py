"""The depth positional encoding written from docs MSMU.md section 4 with torch ops (pooling in
float64): the reference of tests/python/test_train_dpe.py and of benches/compare_train_step.py.
Needs only numpy and torch."""

import numpy as np
import torch
import torch.nn.functional as F


def reference_dpe(depth_mm, grid, hidden, alpha=100.0, align="padded", sense="metric"):
    d = torch.from_numpy(depth_mm.astype(np.float64))
    valid = (d > 0).double()
    if sense == "inverse":
        d = torch.where(valid > 0, 1.0 / d.clamp_min(1.0), torch.zeros_like(d))
    if align == "padded":
        h, w = d.shape
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        pad = (left, side - w - left, top, side - h - top)
        d, valid = F.pad(d, pad), F.pad(valid, pad)
    total = F.adaptive_avg_pool2d((d * valid)[None, None], grid)[0, 0]
    count = F.adaptive_avg_pool2d(valid[None, None], grid)[0, 0]
    nonempty = count > 0
    pooled = torch.where(nonempty, total / count.clamp_min(1e-300), torch.zeros_like(total))
    lo, hi = pooled[nonempty].min(), pooled[nonempty].max()
    norm = torch.where(nonempty, alpha * (pooled - lo) / (hi - lo + 1e-9), torch.zeros_like(pooled))
    norm = norm.flatten()
    i = torch.arange(hidden // 2, dtype=torch.float64)
    w = 1.0 / (10000.0 ** (i / (hidden // 2)))
    theta = norm[:, None] * w[None, :]
    return torch.stack([theta.sin(), theta.cos()], dim=-1).reshape(-1, hidden), norm
