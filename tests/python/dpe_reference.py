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


def reference_official_gt_cells(depth_mm, grid, alpha=100.0, sense="metric"):
    """The official ground-truth-depth pooling, in plain numpy loops: the unpadded map, cell
    (i, j) covers rows int(i*H/G) .. int((i+1)*H/G) and columns int(j*W/G) .. int((j+1)*W/G)
    (end exclusive, no overlap), its value is the mean of its non-zero pixels, 0 when it has
    none, and that 0 takes part in the min-max over all G*G cells:
    alpha * (d - min) / (max - min + 1e-9). Returns the G*G cells, row-major (float64)."""
    d = depth_mm.astype(np.float64)
    if sense == "inverse":
        d = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
    h, w = d.shape
    cells = np.zeros((grid, grid))
    for i in range(grid):
        y0, y1 = int(i * h / grid), int((i + 1) * h / grid)
        for j in range(grid):
            x0, x1 = int(j * w / grid), int((j + 1) * w / grid)
            block = d[y0:y1, x0:x1]
            nonzero = block[block > 0]
            cells[i, j] = nonzero.mean() if nonzero.size else 0.0
    lo, hi = cells.min(), cells.max()
    return (alpha * (cells - lo) / (hi - lo + 1e-9)).flatten()


def encode_reference(cells, hidden):
    """Interleaved sin/cos of float64 cells [N] -> [N, hidden] (docs MSMU.md section 4)."""
    norm = torch.as_tensor(np.asarray(cells), dtype=torch.float64)
    i = torch.arange(hidden // 2, dtype=torch.float64)
    w = 1.0 / (10000.0 ** (i / (hidden // 2)))
    theta = norm[:, None] * w[None, :]
    return torch.stack([theta.sin(), theta.cos()], dim=-1).reshape(-1, hidden)
