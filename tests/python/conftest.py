"""Shared helpers for the Python cross-checks: find the msmu binary and the fixture scenes."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
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


# --------------------------------------------------------------------------------------------
# An independent reading of a scene folder (numpy only; no msmu code): mesh in the aligned
# frame, per-vertex instance ids, raw labels. Used by the measurement and mask cross-checks.

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "<i2", "int16": "<i2", "ushort": "<u2", "uint16": "<u2",
    "int": "<i4", "int32": "<i4", "uint": "<u4", "uint32": "<u4",
    "float": "<f4", "float32": "<f4", "double": "<f8", "float64": "<f8",
}


def read_ply(path: Path):
    """Binary little-endian PLY with a vertex element (x, y, z first among any properties) and a
    triangle face element (`list uchar int`). Returns (vertices float64 Nx3, triangles Mx3)."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    assert header[1] == "format binary_little_endian 1.0", header[1]
    elements, current = [], None
    for line in header:
        parts = line.split()
        if parts[0] == "element":
            current = {"name": parts[1], "count": int(parts[2]), "props": []}
            elements.append(current)
        elif parts[0] == "property":
            current["props"].append(parts[1:])
    offset = end
    vertices = triangles = None
    for el in elements:
        if el["name"] == "vertex":
            dtype = np.dtype([(p[1], _PLY_TYPES[p[0]]) for p in el["props"]])
            arr = np.frombuffer(data, dtype=dtype, count=el["count"], offset=offset)
            offset += dtype.itemsize * el["count"]
            vertices = np.stack([arr["x"], arr["y"], arr["z"]], axis=1).astype(np.float64)
        elif el["name"] == "face":
            (prop,) = el["props"]
            assert prop[:3] == ["list", "uchar", "int"], prop
            dtype = np.dtype([("n", "u1"), ("v", "<i4", (3,))])
            arr = np.frombuffer(data, dtype=dtype, count=el["count"], offset=offset)
            offset += dtype.itemsize * el["count"]
            assert (arr["n"] == 3).all(), "only triangles"
            triangles = arr["v"].astype(np.int64)
        else:
            raise AssertionError(f"unexpected element {el['name']}")
    assert offset == len(data), f"{path}: {len(data) - offset} trailing bytes"
    return vertices, triangles


def read_axis_alignment(meta_path: Path) -> np.ndarray:
    """`axisAlignment = 16 floats` of a ScanNet `<id>.txt` (row-major), identity if absent."""
    for line in meta_path.read_text().splitlines():
        key, _, value = line.partition(" = ")
        if key.strip() == "axisAlignment":
            return np.array([float(v) for v in value.split()]).reshape(4, 4)
    return np.eye(4)


def independent_scene(scene: Path) -> dict:
    """Mesh (aligned frame), per-vertex instance ids and raw labels, read without msmu.

    ScanNet: instance = objectId + 1 of the group listing the vertex's segment, later groups
    overwrite earlier ones. ScanNet++: groups may overlap; the group with the fewest vertices
    wins (ties: smaller objectId), as the official preprocessing does."""
    scannetpp = (scene / "scans" / "mesh_aligned_0.05.ply").exists()
    if scannetpp:
        vertices, triangles = read_ply(scene / "scans" / "mesh_aligned_0.05.ply")
        seg = np.array(json.loads((scene / "scans" / "segments.json").read_text())["segIndices"])
        groups = json.loads((scene / "scans" / "segments_anno.json").read_text())["segGroups"]
        aligned_from_scan = np.eye(4)
    else:
        name = scene.name
        vertices, triangles = read_ply(scene / f"{name}_vh_clean_2.ply")
        seg = np.array(
            json.loads((scene / f"{name}_vh_clean_2.0.010000.segs.json").read_text())["segIndices"]
        )
        groups = json.loads((scene / f"{name}.aggregation.json").read_text())["segGroups"]
        aligned_from_scan = read_axis_alignment(scene / f"{name}.txt")
    assert len(seg) == len(vertices)
    vertices = vertices @ aligned_from_scan[:3, :3].T + aligned_from_scan[:3, 3]
    members = [np.isin(seg, np.array(g["segments"], dtype=seg.dtype)) for g in groups]
    vertex_instance = np.zeros(len(vertices), dtype=np.int64)
    if scannetpp:
        order = sorted(range(len(groups)), key=lambda k: (members[k].sum(), groups[k]["objectId"]))
        for k in order:
            vertex_instance[members[k] & (vertex_instance == 0)] = groups[k]["objectId"] + 1
    else:
        for k, g in enumerate(groups):
            vertex_instance[members[k]] = g["objectId"] + 1
    labels = {g["objectId"] + 1: g["label"] for g in groups}
    return {
        "vertices": vertices,
        "triangles": triangles,
        "vertex_instance": vertex_instance,
        "labels": labels,
        "aligned_from_scan": aligned_from_scan,
    }


def face_instances(triangles: np.ndarray, vertex_instance: np.ndarray) -> np.ndarray:
    """A face belongs to the instance at least two of its vertices share, else 0."""
    a, b, c = (vertex_instance[triangles[:, k]] for k in range(3))
    return np.where((a == b) | (a == c), a, np.where(b == c, b, 0))


def load_truth(scene: Path) -> dict:
    return json.loads((scene / "truth.json").read_text())
