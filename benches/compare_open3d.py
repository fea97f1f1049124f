#!/usr/bin/env python3
"""Side-by-side: msmu's rasterizer vs Open3D RaycastingScene, single-threaded, same views.

    OMP_NUM_THREADS=1 .venv/bin/python benches/compare_open3d.py [--scene DIR] [--reps 3]
        [--example [LABEL=]PATH ...]

Without --scene, writes a 150K-face synthetic ScanNet scene with 20 frames via
`target/release/msmu synth` into a temporary folder. msmu is timed by the
`render_timing` example (release build, RAYON_NUM_THREADS=1), which also dumps the loaded
mesh, the cameras (colour camera resized to 640x480) and its depth maps; Open3D casts one
ray per pixel centre (u, v) with camera-space direction ((u-cx)/fx, (v-cy)/fy, 1), so its
t_hit is the z-depth, and the two depth maps are compared pixel by pixel.
Several --example builds of render_timing (e.g. `portable=...` and `native=...`, the same code
compiled for different CPUs) are timed one after the other against the same Open3D run; their
depth dumps must be byte-identical, or the script fails.
Prints a table and one JSON line (`RESULT {...}`) with the numbers; its top-level msmu fields
are those of the first build.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import open3d as o3d  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scene", type=Path, help="ScanNet scene folder (default: synthesise one)")
    ap.add_argument("--msmu", type=Path, default=ROOT / "target/release/msmu")
    ap.add_argument("--example", action="append",
                    help="[LABEL=]PATH of a render_timing build (repeatable; default "
                         "target/release/examples/render_timing)")
    ap.add_argument("--faces", type=int, default=150_000)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    builds = []
    for spec in args.example or [str(ROOT / "target/release/examples/render_timing")]:
        label, sep, path = spec.partition("=")
        builds.append((label, Path(path)) if sep else ("msmu", Path(spec)))

    tmp = tempfile.TemporaryDirectory(prefix="msmu-o3d-")
    work = Path(tmp.name)
    scene = args.scene
    if scene is None:
        run([str(args.msmu), "synth", "--out", str(work / "ds"), "--faces-per-scene",
             str(args.faces), "--frames", str(args.frames)])
        scene = next((work / "ds" / "scans").glob("scene*"))
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    timed = []
    for k, (label, example) in enumerate(builds):
        dump_k = work / f"dump{k}"
        timed.append(json.loads(run([str(example), str(scene), "--width", str(args.width),
                                     "--height", str(args.height), "--reps", str(args.reps),
                                     "--dump", str(dump_k)], env=env)))
        if k > 0:
            names = sorted(f.name for f in (work / "dump0").iterdir())
            if names != sorted(f.name for f in dump_k.iterdir()):
                sys.exit(f"build {label} ({example}) dumped other files than build "
                         f"{builds[0][0]}: the builds must render the same views")
            for f in sorted((work / "dump0").iterdir()):
                if f.read_bytes() != (dump_k / f.name).read_bytes():
                    sys.exit(f"build {label} ({example}) wrote a different {f.name} than "
                             f"build {builds[0][0]}: the builds must render the same bytes")
    msmu = timed[0]
    dump = work / "dump0"

    verts = np.fromfile(dump / "vertices.f32", dtype="<f4").reshape(-1, 3)
    tris = np.fromfile(dump / "triangles.u32", dtype="<u4").reshape(-1, 3)
    cams = json.loads((dump / "cameras.json").read_text())
    rs = o3d.t.geometry.RaycastingScene(nthreads=1) if "nthreads" in \
        o3d.t.geometry.RaycastingScene.__init__.__doc__ else o3d.t.geometry.RaycastingScene()
    rs.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(tris))
    rays = []
    for c in cams:
        w, h = c["width"], c["height"]
        u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        d_cam = np.stack([(u - c["cx"]) / c["fx"], (v - c["cy"]) / c["fy"], np.ones_like(u)], -1)
        m = np.array(c["world_from_camera"])
        d_world = d_cam @ m[:3, :3].T
        o = np.broadcast_to(m[:3, 3], d_world.shape)
        rays.append(o3d.core.Tensor(np.concatenate([o, d_world], -1).astype(np.float32)))

    def cast(r):
        try:
            return rs.cast_rays(r, nthreads=1)
        except TypeError:
            return rs.cast_rays(r)

    o3d_depth = [cast(r)["t_hit"].numpy() for r in rays]  # untimed pass (builds the BVH)
    per_rep = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for r in rays:
            cast(r)
        per_rep.append((time.perf_counter() - t0) * 1e3 / len(rays))
    o3d_ms = float(np.median(per_rep))

    agree = total = both_hit = 0
    for i, c in enumerate(cams):
        ours = np.fromfile(dump / f"depth_{i}.f32", dtype="<f4").reshape(c["height"], c["width"])
        theirs = o3d_depth[i]
        theirs = np.where(np.isfinite(theirs) & (theirs >= 0.05) & (theirs <= 20.0), theirs, 0.0)
        hit_o, hit_t = ours > 0, theirs > 0
        same = (hit_o == hit_t) & (~hit_o | (np.abs(ours - theirs) <= 1e-3))
        agree += int(same.sum())
        total += same.size
        both_hit += int((hit_o & hit_t).sum())
    frac = agree / total

    ratio = o3d_ms / msmu["ms_per_view"]
    print(f"scene {scene}: {msmu['faces']} faces, {msmu['views']} views at "
          f"{args.width}x{args.height}, 1 thread, median of {args.reps} reps")
    print(f"{'renderer':<34}{'ms/view':>10}{'views/s':>10}{'vs Open3D':>11}")
    for (label, _), t in zip(builds, timed):
        name = "msmu rasterizer" + ("" if label == "msmu" else f" ({label})")
        ms = t["ms_per_view"]
        print(f"{name:<34}{ms:>10.2f}{1e3 / ms:>10.1f}{o3d_ms / ms:>10.1f}x")
    print(f"{'Open3D RaycastingScene':<34}{o3d_ms:>10.2f}{1e3 / o3d_ms:>10.1f}")
    if len(builds) > 1:
        print("the builds rendered byte-identical depth and instance images")
    print(f"speed-up msmu vs Open3D: {ratio:.1f}x for {builds[0][0]} "
          f"(goal of issue #20: >= 20x; 10x was the first goal)")
    print(f"depth agreement within 1 mm (hit/miss must match too): {100 * frac:.3f} % "
          f"of {total} pixels")
    print("RESULT " + json.dumps({
        "faces": msmu["faces"], "views": msmu["views"], "width": args.width,
        "height": args.height, "msmu_ms_per_view": msmu["ms_per_view"],
        "open3d_ms_per_view": o3d_ms, "open3d_all_reps": per_rep,
        "msmu_all_reps": msmu["ms_per_view_all_reps"], "ratio": ratio,
        "agreement": frac, "pixels": total, "open3d_version": o3d.__version__,
        "builds": [{"label": label, "example": str(example), "ms_per_view": t["ms_per_view"],
                    "all_reps": t["ms_per_view_all_reps"], "ratio": o3d_ms / t["ms_per_view"]}
                   for (label, example), t in zip(builds, timed)],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
