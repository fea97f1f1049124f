"""Depth positional encoding: msmu (`msmu dpe`) against a PyTorch reference written from
docs MSMU.md section 4, for random depth maps (with invalid pixels), grids and hidden sizes,
both alignments and both depth senses; the official ground-truth pooling (`--align official
--ground-truth`) against a plain numpy reference; the log-normal depth noise (`--noise`).
Requires the `train` build of msmu."""

import subprocess

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import msmu_bin
from dpe_reference import encode_reference, reference_dpe, reference_official_gt_cells


CASES = [
    # (height, width, grid, hidden, align, sense)
    (480, 640, 24, 4096, "padded", "metric"),
    (480, 640, 24, 4096, "official", "metric"),
    (97, 131, 8, 64, "padded", "inverse"),
    (200, 150, 7, 130, "padded", "metric"),
    (50, 50, 24, 2, "official", "inverse"),
    (333, 251, 16, 1000, "official", "metric"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}x{c[1]}-g{c[2]}-d{c[3]}-{c[4]}-{c[5]}" for c in CASES])
def test_dpe_matches_pytorch_reference(tmp_path, case):
    h, w, grid, hidden, align, sense = case
    rng = np.random.default_rng(hash(case) % 2**32)
    depth = rng.integers(300, 9000, size=(h, w)).astype(np.uint16)
    depth[rng.random((h, w)) < 0.2] = 0  # invalid pixels
    depth[: h // 5, : w // 4] = 0  # a fully invalid block
    png = tmp_path / "depth.png"
    Image.fromarray(depth).save(png)
    out = tmp_path / "pe.safetensors"
    subprocess.run(
        [msmu_bin(), "dpe", "--depth", str(png), "--grid", str(grid), "--hidden", str(hidden),
         "--align", align, "--sense", sense, "--out", str(out)],
        check=True,
    )
    got = load_file(str(out))
    ref_pe, ref_cells = reference_dpe(depth, grid, hidden, align=align, sense=sense)
    assert got["pe"].dtype == torch.float32
    assert got["pe"].shape == (grid * grid, hidden)
    assert torch.allclose(got["cells"], ref_cells, atol=1e-9, rtol=0)
    diff = (got["pe"].double() - ref_pe).abs().max().item()
    assert diff < 1e-5, f"max abs diff {diff}"


def random_depth(h, w, seed, invalid_block=True):
    rng = np.random.default_rng(seed)
    depth = rng.integers(300, 9000, size=(h, w)).astype(np.uint16)
    depth[rng.random((h, w)) < 0.2] = 0  # invalid pixels
    if invalid_block:
        depth[: h // 5, : w // 4] = 0  # a fully invalid block
    return depth


def msmu_dpe(tmp_path, depth, grid, hidden, *flags):
    """Runs `msmu dpe` into a fresh file (load_file maps it: never overwrite one in use)."""
    png = tmp_path / "depth.png"
    Image.fromarray(depth).save(png)
    out = tmp_path / f"pe{len(list(tmp_path.glob('pe*.safetensors')))}.safetensors"
    subprocess.run(
        [msmu_bin(), "dpe", "--depth", str(png), "--grid", str(grid), "--hidden", str(hidden),
         "--out", str(out), *flags],
        check=True,
    )
    return load_file(str(out))


GT_CASES = [
    # (height, width, grid, hidden, sense, fully invalid block)
    (480, 640, 24, 4096, "metric", True),  # ScanNet frames
    (480, 640, 24, 4096, "metric", False),
    (584, 876, 24, 4096, "metric", True),  # ScanNet++ DSLR-like sizes
    (968, 1296, 24, 64, "metric", True),
    (480, 336, 24, 128, "metric", True),  # G divides both sides
    (97, 131, 8, 64, "inverse", True),
    (20, 30, 24, 8, "metric", False),  # fewer rows than cells: cells without pixels
]


@pytest.mark.parametrize(
    "case", GT_CASES, ids=[f"{c[0]}x{c[1]}-g{c[2]}-d{c[3]}-{c[4]}-block{int(c[5])}" for c in GT_CASES]
)
def test_official_ground_truth_pooling_matches_reference(tmp_path, case):
    h, w, grid, hidden, sense, block = case
    depth = random_depth(h, w, seed=h * 7919 + w, invalid_block=block)
    got = msmu_dpe(tmp_path, depth, grid, hidden, "--align", "official", "--ground-truth",
                   "--sense", sense)
    ref_cells = reference_official_gt_cells(depth, grid, sense=sense)
    if block and h >= 5 * grid:
        # Cells wholly inside the invalid block have no valid pixel: 0, and the min is 0.
        assert (ref_cells == 0).sum() > 1
    assert "noisy" not in got
    assert got["pe"].dtype == torch.float32
    assert got["pe"].shape == (grid * grid, hidden)
    diff = np.abs(got["cells"].numpy() - ref_cells).max()
    assert diff < 1e-9, f"cells: max abs diff {diff}"
    pe_diff = (got["pe"].double() - encode_reference(ref_cells, hidden)).abs().max().item()
    assert pe_diff < 1e-5, f"pe: max abs diff {pe_diff}"


@pytest.mark.parametrize("block", [False, True])
def test_official_ground_truth_differs_from_adaptive(tmp_path, block):
    """640x480 at grid 24: the ground-truth cells (non-overlapping, empty cells in the min-max)
    are not the AdaptiveAvgPool2d cells, so the ground-truth test above can fail."""
    depth = random_depth(480, 640, seed=11, invalid_block=block)
    gt = msmu_dpe(tmp_path, depth, 24, 8, "--align", "official", "--ground-truth")["cells"]
    adaptive = msmu_dpe(tmp_path, depth, 24, 8, "--align", "official")["cells"]
    ref_adaptive = reference_dpe(depth, 24, 8, align="official")[1]
    assert torch.allclose(adaptive, ref_adaptive, atol=1e-9, rtol=0)
    assert (gt - adaptive).abs().max().item() > 1e-2


def test_depth_noise_is_log_normal(tmp_path):
    """`--noise 0.1` on a uniform map: log(noisy / clean) over the valid pixels has the moments
    of N(0, 0.1); invalid pixels stay 0; the cells pool the noisy f64 values; the seed fixes
    the draw."""
    h, w, sigma = 480, 640, 0.1
    rng = np.random.default_rng(5)
    depth = np.full((h, w), 2000, dtype=np.uint16)
    depth[rng.random((h, w)) < 0.2] = 0
    flags = ["--align", "official", "--ground-truth", "--noise", str(sigma)]
    got = msmu_dpe(tmp_path, depth, 24, 16, *flags, "--noise-seed", "3")
    noisy = got["noisy"].numpy()
    assert noisy.shape == (h, w) and noisy.dtype == np.float64
    valid = depth > 0
    assert (noisy[~valid] == 0).all() and (noisy[valid] > 0).all()
    z = np.log(noisy[valid] / 2000.0) / sigma
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n), z.mean()  # standard error 1/sqrt(n)
    assert abs(z.std() - 1) < 5 / np.sqrt(2 * n), z.std()
    assert abs((z**3).mean()) < 0.05, (z**3).mean()
    assert abs((z**4).mean() - 3) < 0.1, (z**4).mean()
    # Not rounded to millimetres: the cells pool the f64 values.
    assert not np.allclose(noisy[valid], np.round(noisy[valid]))
    ref = reference_official_gt_cells(noisy, 24)
    assert np.abs(got["cells"].numpy() - ref).max() < 1e-9
    same = msmu_dpe(tmp_path, depth, 24, 16, *flags, "--noise-seed", "3")
    other = msmu_dpe(tmp_path, depth, 24, 16, *flags, "--noise-seed", "4")
    assert torch.equal(same["noisy"], got["noisy"]) and torch.equal(same["cells"], got["cells"])
    assert not torch.equal(other["noisy"], got["noisy"])


@pytest.mark.parametrize("sigma", ["-0.1", "nan", "inf"])
def test_depth_noise_rejects_bad_sigma(tmp_path, sigma):
    out = subprocess.run(
        [msmu_bin(), "dpe", "--depth", str(tmp_path / "x.png"), "--hidden", "4",
         "--out", str(tmp_path / "o.safetensors"), "--noise", sigma],
        capture_output=True, text=True,
    )
    assert out.returncode != 0
    assert "finite and >= 0" in out.stderr
