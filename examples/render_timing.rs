//! Times msmu's rasterizer on a scene's frames: `cargo run --release --example render_timing --
//! SCENE_DIR [--width 640] [--height 480] [--reps 5] [--max-views N] [--no-cull] [--dump DIR]`.
//!
//! Loads the scene with `io::load_scene`, renders each frame's colour camera resized to
//! `width x height` `reps` times and prints one JSON object with the median ms per view.
//! Views are rendered as `msmu build` renders them, with `render::render_culled` (face groups
//! built once per scene, outside the timed loop, like Open3D's BVH in
//! `benches/compare_open3d.py`); the untimed first pass checks every culled view against
//! `render::render`, pixel for pixel. `--no-cull` times `render::render` instead.
//! `--dump DIR` also writes what an independent renderer needs to redo the same views
//! (`benches/compare_open3d.py` reads it): the loaded mesh (`vertices.f32`, `triangles.u32`),
//! the cameras (`cameras.json`) and msmu's depth and instance ids per view (`depth_<i>.f32`,
//! `instance_<i>.u32`, row-major).
//! Run with `RAYON_NUM_THREADS=1` for single-threaded numbers (rendering one view is
//! single-threaded anyway; the flag keeps the loader on one core too). The example uses the
//! `msmu` binary's allocator (mimalloc).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use msmu_data::render::{render, render_culled, FaceGroups, RenderConfig};

/// The allocator of the `msmu` binary (src/main.rs), so that views are timed with the buffer
/// reuse that `msmu build` has: each view allocates and frees a few MB of buffers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    scene: PathBuf,
    width: u32,
    height: u32,
    reps: usize,
    max_views: usize,
    cull: bool,
    dump: Option<PathBuf>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        scene: PathBuf::new(),
        width: 640,
        height: 480,
        reps: 5,
        max_views: usize::MAX,
        cull: true,
        dump: None,
    };
    let mut it = std::env::args().skip(1);
    let mut scene = None;
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--width" => args.width = value()?.parse()?,
            "--height" => args.height = value()?.parse()?,
            "--reps" => args.reps = value()?.parse()?,
            "--max-views" => args.max_views = value()?.parse()?,
            "--dump" => args.dump = Some(PathBuf::from(value()?)),
            "--no-cull" => args.cull = false,
            _ if !a.starts_with("--") => scene = Some(PathBuf::from(a)),
            _ => anyhow::bail!("unknown flag {a}"),
        }
    }
    args.scene = scene.context("usage: render_timing SCENE_DIR [--reps N] [--dump DIR]")?;
    anyhow::ensure!(args.reps >= 1, "--reps must be at least 1");
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let t0 = Instant::now();
    let scene = msmu_data::io::load_scene(&args.scene, &msmu_data::io::ReadOptions::default())?;
    let load_s = t0.elapsed().as_secs_f64();
    let cameras: Vec<_> = scene
        .frames
        .iter()
        .take(args.max_views)
        .map(|f| {
            let mut c = f.color_camera();
            c.model = c.model.resized(args.width, args.height);
            c
        })
        .collect();
    anyhow::ensure!(!cameras.is_empty(), "the scene has no frames");
    let config = RenderConfig::default();

    let t_groups = Instant::now();
    let groups = FaceGroups::new(&scene.mesh);
    let groups_ms = t_groups.elapsed().as_secs_f64() * 1e3;
    let draw = |c| {
        if args.cull {
            render_culled(&groups, &scene.face_instance, c, &config)
        } else {
            render(&scene.mesh, &scene.face_instance, c, &config)
        }
    };

    // One untimed pass (warms caches, gives the output to dump), checked against the plain
    // render.
    let views: Vec<_> = cameras.iter().map(draw).collect::<Result<_, _>>()?;
    for (i, (c, v)) in cameras.iter().zip(&views).enumerate() {
        let plain = render(&scene.mesh, &scene.face_instance, c, &config)?;
        anyhow::ensure!(
            plain == *v,
            "view {i}: the culled render differs from render()"
        );
    }
    let mut per_rep_ms = Vec::with_capacity(args.reps);
    let mut checksum = 0.0f64;
    for _ in 0..args.reps {
        let t = Instant::now();
        for c in &cameras {
            let v = draw(c)?;
            checksum += v.depth_m[v.depth_m.len() / 2] as f64;
        }
        per_rep_ms.push(t.elapsed().as_secs_f64() * 1e3 / cameras.len() as f64);
    }
    per_rep_ms.sort_by(f64::total_cmp);
    let median = per_rep_ms[per_rep_ms.len() / 2];

    if let Some(dir) = &args.dump {
        std::fs::create_dir_all(dir)?;
        let bytes_f32 = |v: &mut dyn Iterator<Item = f32>| -> Vec<u8> {
            v.flat_map(f32::to_le_bytes).collect()
        };
        std::fs::write(
            dir.join("vertices.f32"),
            bytes_f32(&mut scene.mesh.positions_m.iter().flatten().copied()),
        )?;
        let tri: Vec<u8> = scene
            .mesh
            .triangles
            .iter()
            .flatten()
            .flat_map(|i| i.to_le_bytes())
            .collect();
        std::fs::write(dir.join("triangles.u32"), tri)?;
        let cams: Vec<serde_json::Value> = cameras
            .iter()
            .map(|c| {
                let m = c.world_from_camera.to_homogeneous();
                let rows: Vec<Vec<f64>> = (0..4)
                    .map(|r| (0..4).map(|col| m[(r, col)]).collect())
                    .collect();
                serde_json::json!({
                    "width": c.model.width,
                    "height": c.model.height,
                    "fx": c.model.intrinsics.fx,
                    "fy": c.model.intrinsics.fy,
                    "cx": c.model.intrinsics.cx,
                    "cy": c.model.intrinsics.cy,
                    "world_from_camera": rows,
                })
            })
            .collect();
        std::fs::write(
            dir.join("cameras.json"),
            serde_json::to_string_pretty(&cams)?,
        )?;
        for (i, v) in views.iter().enumerate() {
            std::fs::write(
                dir.join(format!("depth_{i}.f32")),
                bytes_f32(&mut v.depth_m.iter().copied()),
            )?;
            let inst: Vec<u8> = v.instance.iter().flat_map(|i| i.to_le_bytes()).collect();
            std::fs::write(dir.join(format!("instance_{i}.u32")), inst)?;
        }
    }

    let out = serde_json::json!({
        "scene": args.scene.display().to_string(),
        "faces": scene.mesh.n_faces(),
        "vertices": scene.mesh.n_vertices(),
        "views": cameras.len(),
        "width": args.width,
        "height": args.height,
        "reps": args.reps,
        "culled": args.cull,
        "face_groups": groups.len(),
        "face_groups_ms": groups_ms,
        "load_s": load_s,
        "ms_per_view": median,
        "ms_per_view_all_reps": per_rep_ms,
        "checksum": checksum,
    });
    println!("{out}");
    Ok(())
}
