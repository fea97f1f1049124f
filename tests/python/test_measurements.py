"""Object measurements of `msmu inspect --json` against an independent Python reading.

For every bundled fixture scene the mesh, axis alignment and annotation are read here with
numpy only (conftest.independent_scene), then per instance:
- AABB with numpy;
- the minimum-area floor rectangle by our own numpy rotating calipers over the convex hull
  (every hull edge direction tried), cross-checked with `trimesh.bounds.oriented_bounds_2D`;
- height = z extent, centre = rectangle centre at the middle of the z range.
Both msmu and this reading are compared with truth.json: sizes / centres / AABB within 1 mm,
yaw within 0.5 degree modulo pi (skipped when length - width < 1 cm).
"""

import importlib.util
import math
import warnings

import numpy as np
import pytest
import trimesh

from conftest import fixture_scenes, independent_scene, inspect, load_truth

SIZE_TOL_M = 1e-3
YAW_TOL_RAD = math.radians(0.5)

WORST = {}

# trimesh's oriented_bounds_2D needs scipy (ConvexHull); without it only our numpy calipers run.
HAVE_SCIPY = importlib.util.find_spec("scipy") is not None


def convex_hull_2d(points: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain, counter-clockwise, no collinear points."""
    pts = np.unique(points, axis=0)
    if len(pts) < 3:
        return pts
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in pts[::-1]:
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def min_area_rect(points: np.ndarray):
    """(length, width, yaw of the length side in [0, pi), centre xy) of the min-area rectangle."""
    hull = convex_hull_2d(points)
    edges = np.roll(hull, -1, axis=0) - hull
    best = None
    for e in edges:
        norm = np.hypot(*e)
        if norm == 0:
            continue
        u = e / norm
        n = np.array([-u[1], u[0]])
        pu, pn = hull @ u, hull @ n
        area = (pu.max() - pu.min()) * (pn.max() - pn.min())
        if best is None or area < best[0] - 1e-15:
            best = (area, u, n, pu.min(), pu.max(), pn.min(), pn.max())
    _, u, n, u0, u1, n0, n1 = best
    center = u * (u0 + u1) / 2 + n * (n0 + n1) / 2
    lu, ln = u1 - u0, n1 - n0
    direction = u if lu >= ln else n
    yaw = math.atan2(direction[1], direction[0]) % math.pi
    return max(lu, ln), min(lu, ln), yaw, center


def yaw_diff(a: float, b: float) -> float:
    d = (a - b) % math.pi
    return min(d, math.pi - d)


def record(key: str, value: float):
    WORST[key] = max(WORST.get(key, 0.0), value)


def compare(what: str, got: dict, want: dict):
    for k in ("length_m", "width_m", "height_m"):
        e = abs(got[k] - want[k])
        record("size_mm", e * 1e3)
        assert e <= SIZE_TOL_M, f"{what}: {k} {got[k]} vs {want[k]}"
    for k in ("center", "aabb_min", "aabb_max"):
        e = float(np.max(np.abs(np.array(got[k]) - np.array(want[k]))))
        record(f"{k}_mm", e * 1e3)
        assert e <= SIZE_TOL_M, f"{what}: {k} {got[k]} vs {want[k]}"
    if want["length_m"] - want["width_m"] >= 0.01:
        e = yaw_diff(got["yaw_rad"], want["yaw_rad"])
        record("yaw_deg", math.degrees(e))
        assert e <= YAW_TOL_RAD, f"{what}: yaw {got['yaw_rad']} vs {want['yaw_rad']}"


@pytest.mark.parametrize("scene", fixture_scenes(), ids=lambda p: p.name)
def test_measurements_match_independent_reading(scene):
    ours = independent_scene(scene)
    report = inspect(scene)
    truth = {o["instance_id"]: o for o in load_truth(scene)["objects"]}
    msmu = {inst["id"]: inst for inst in report["instances"]}
    np.testing.assert_allclose(
        np.array(report["axis_alignment"]).reshape(4, 4), ours["aligned_from_scan"], atol=1e-5  # 6-decimal text, re-orthonormalised by msmu
    )
    present = sorted(set(np.unique(ours["vertex_instance"])) - {0})
    assert present == sorted(msmu) == sorted(truth), scene.name
    for iid in present:
        what = f"{scene.name} instance {iid} ({ours['labels'][iid]})"
        assert msmu[iid]["raw_label"] == ours["labels"][iid], what
        assert truth[iid]["raw_label"] == ours["labels"][iid], what
        pts = ours["vertices"][ours["vertex_instance"] == iid]
        assert msmu[iid]["n_vertices"] == len(pts), what
        length, width, yaw, center_xy = min_area_rect(pts[:, :2])
        zmin, zmax = pts[:, 2].min(), pts[:, 2].max()
        mine = {
            "length_m": length,
            "width_m": width,
            "height_m": zmax - zmin,
            "yaw_rad": yaw,
            "center": [center_xy[0], center_xy[1], (zmin + zmax) / 2],
            "aabb_min": pts.min(axis=0).tolist(),
            "aabb_max": pts.max(axis=0).tolist(),
        }
        if HAVE_SCIPY:
            # trimesh's minimum-area rectangle must agree with ours (sides).
            _, extents = trimesh.bounds.oriented_bounds_2D(pts[:, :2])
            record("trimesh_vs_numpy_mm", abs(max(extents) - length) * 1e3)
            record("trimesh_vs_numpy_mm", abs(min(extents) - width) * 1e3)
            assert abs(max(extents) - length) <= 1e-6, what
            assert abs(min(extents) - width) <= 1e-6, what
        compare(f"{what} numpy vs msmu", msmu[iid], mine)
        compare(f"{what} numpy vs truth", truth[iid], mine)
        compare(f"{what} msmu vs truth", msmu[iid], truth[iid])
    if not HAVE_SCIPY:
        warnings.warn("scipy is not installed: trimesh.bounds.oriented_bounds_2D cross-check skipped")
    print(f"\n{scene.name}: worst so far {WORST}")
