"""Depth positional encoding: msmu (`msmu dpe`) against a PyTorch reference written from
docs MSMU.md section 4, for random depth maps (with invalid pixels), grids and hidden sizes,
both alignments and both depth senses. Requires the `train` build of msmu."""

import subprocess

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import msmu_bin
from dpe_reference import reference_dpe


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
