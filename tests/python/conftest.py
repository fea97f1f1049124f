"""Shared helpers for the Python cross-checks: find the msmu binary and the fixture scenes."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"


def msmu_bin() -> str:
    path = os.environ.get("MSMU_BIN", str(REPO / "target" / "release" / "msmu"))
    if not Path(path).exists():
        pytest.fail(f"msmu binary not found at {path}: run `make release` or set MSMU_BIN")
    return path


def run_msmu(*args: str) -> str:
    out = subprocess.run([msmu_bin(), *args], check=True, capture_output=True, text=True)
    return out.stdout


def fixture_scenes():
    """Every bundled scene folder, ScanNet and ScanNet++ layouts."""
    scenes = sorted((FIXTURES / "scannet" / "scans").glob("scene*"))
    scenes += sorted((FIXTURES / "scannetpp" / "data").glob("*"))
    if not scenes:
        pytest.fail("no fixture scenes: run `make fixtures`")
    return scenes


def inspect(scene: Path) -> dict:
    return json.loads(run_msmu("inspect", str(scene), "--json"))


def mesh_path(scene: Path) -> Path:
    ply = scene / f"{scene.name}_vh_clean_2.ply"
    return ply if ply.exists() else scene / "scans" / "mesh_aligned_0.05.ply"
