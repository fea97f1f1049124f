"""Rendered depth from `msmu render` against Open3D's RaycastingScene on the same mesh and pose.

Open3D is an independent implementation (ray casting, float32 BVH). Rays go through the
pixel centres msmu uses (pixel (u, v) at image coordinates (u, v)), with direction
(x/z, y/z, 1) in camera space so that the hit distance t equals camera-space depth z.
The issue's bar: agreement within 1 mm on at least 99.9 % of pixels.
"""

import json

import numpy as np
import open3d as o3d
import pytest

from PIL import Image

from conftest import face_instances, fixture_scenes, independent_scene, inspect, mesh_path, run_msmu


def open3d_cast(vertices_world, triangles, cam):
    """Open3D ray cast through msmu's pixel centres: (depth z in metres, 0 = none; primitive id)."""
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(vertices_world.astype(np.float32)),
        o3d.core.Tensor(triangles.astype(np.uint32)),
    )
    w, h = cam["width"], cam["height"]
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    dirs_cam = np.stack(
        [(u - cam["cx"]) / cam["fx"], (v - cam["cy"]) / cam["fy"], np.ones_like(u)], axis=-1
    )
    world_from_camera = np.array(cam["world_from_camera"]).reshape(4, 4)
    rot, origin = world_from_camera[:3, :3], world_from_camera[:3, 3]
    dirs_world = dirs_cam.reshape(-1, 3) @ rot.T
    rays = np.concatenate([np.broadcast_to(origin, dirs_world.shape), dirs_world], axis=1)
    result = scene.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))
    hit = result["t_hit"].numpy()
    depth = np.where(np.isfinite(hit), hit, 0.0).reshape(h, w)
    depth[(depth < cam["near_m"]) | (depth > cam["far_m"])] = 0.0
    primitive = result["primitive_ids"].numpy().astype(np.int64).reshape(h, w)
    return depth, primitive


@pytest.mark.parametrize("scene", fixture_scenes(), ids=lambda p: p.name)
def test_depth_matches_open3d(scene, tmp_path):
    report = inspect(scene)
    ids = report["frames"]["ids"]
    assert ids, f"{scene.name} has no frames"
    mesh = o3d.io.read_triangle_mesh(str(mesh_path(scene)))
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    triangles = np.asarray(mesh.triangles)
    aligned_from_scan = np.array(report["axis_alignment"]).reshape(4, 4)
    vertices_world = vertices @ aligned_from_scan[:3, :3].T + aligned_from_scan[:3, 3]

    # Independent per-vertex instances (conftest) -> per-face instances for the mask check.
    ours_scene = independent_scene(scene)
    assert len(ours_scene["triangles"]) == len(triangles), "Open3D and numpy read the same faces"
    face_instance = face_instances(ours_scene["triangles"], ours_scene["vertex_instance"])

    total = agree = 0
    mask_total = mask_agree = 0
    for frame in [ids[0], ids[len(ids) // 2], ids[-1]]:
        out = tmp_path / frame
        run_msmu("render", str(scene), "--frame", frame, "--out", str(out), "--width", "320", "--height", "240")
        cam = json.loads((out / "camera.json").read_text())
        ours = np.load(out / "depth.npy").astype(np.float64)
        theirs, primitive = open3d_cast(vertices_world, triangles, cam)
        both_valid = (ours > 0) & (theirs > 0)
        same = np.where(both_valid, np.abs(ours - theirs) <= 1e-3, (ours > 0) == (theirs > 0))
        assert same.mean() >= 0.999, f"{scene.name} frame {frame}: depth agrees on only {same.mean():.5%}"
        total += same.size
        agree += int(same.sum())
        assert both_valid.mean() > 0.5, f"{scene.name} frame {frame}: the view should mostly see the room"
        # Instance masks: instances.png vs the instance of the face Open3D hit.
        ids = np.array(Image.open(out / "instances.png"), dtype=np.int64)
        assert ids.shape == ours.shape
        theirs_ids = face_instance[np.clip(primitive, 0, len(face_instance) - 1)]
        mask_total += int(both_valid.sum())
        mask_agree += int((both_valid & (ids == theirs_ids)).sum())
    print(f"\n{scene.name}: depth within 1 mm of Open3D on {agree / total:.5%} of pixels; "
          f"instance ids agree on {mask_agree / mask_total:.5%} of pixels both hit")
    assert agree / total >= 0.999, f"{scene.name}: only {agree / total:.5%} of pixels agree within 1 mm"
    assert mask_agree / mask_total >= 0.999, (
        f"{scene.name}: instance masks agree on only {mask_agree / mask_total:.5%} of pixels"
    )
