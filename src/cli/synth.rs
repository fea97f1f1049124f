//! `msmu synth`: generates synthetic scenes and writes them in the real ScanNet v2 or
//! ScanNet++ on-disk layouts, each with a `truth.json` holding the analytic ground truth.
//!
//! Scenes are generated and written in parallel (rayon); every scene depends only on the
//! seed and its index, so the output is byte-identical whatever the thread count. The one
//! thing shared between scenes, the ScanNet label map at the root, is written once at the end
//! from the union of the labels used.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use rayon::prelude::*;

use crate::cli::EXIT_PARTIAL;
use crate::synth::write_scannet::{
    raw_labels_used, write_label_map, write_scannet, AggregationStyle, FrameLayout,
    ScanNetWriteOptions,
};
use crate::synth::write_scannetpp::{write_scannetpp, IphoneDepthEncoding, ScanNetPPWriteOptions};
use crate::synth::SynthScene;

/// Which dataset layout to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LayoutArg {
    /// ScanNet v2: `scans/sceneXXXX_YY/` + `scannetv2-labels.combined.tsv`.
    Scannet,
    /// ScanNet++: `data/<10-hex id>/` with DSLR and iPhone data.
    Scannetpp,
}

/// How ScanNet frames are put on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FrameLayoutArg {
    /// Python SensReader export: `color/0.jpg`, `depth/0.png`, `pose/0.txt`, `intrinsic/`.
    Python,
    /// C++ SensReader export: `frame-000000.color.jpg`, `.depth.pgm`, `.pose.txt`, `_info.txt`.
    Cpp,
    /// Only the `<scene>.sens` stream.
    Sens,
}

/// ScanNet++ iPhone `depth.bin` encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IphoneDepthArg {
    /// One raw-deflate stream of float32 metres.
    Deflate,
    /// Per-frame `[u32 size][LZ4 block of u16 mm]` records.
    Lz4,
}

#[derive(clap::Args, Debug, Clone)]
#[command(
    about = "Generate synthetic scenes in the real ScanNet / ScanNet++ layouts, with analytic truth",
    after_help = "Examples:\n  \
msmu synth --out /tmp/synth --scenes 3\n  \
msmu synth --out /tmp/synth --layout scannet --frame-layout cpp --sens --legacy-aggregation\n  \
msmu synth --out /tmp/synthpp --layout scannetpp --scenes 2 --seed 7 --frames 30\n  \
msmu synth --out /tmp/tiny --faces-per-scene 5000 --frames 4\n\n\
Each scene folder holds a truth.json (objects, exact camera poses, lost-tracking frames) \
that readers never look at; tests compare a reader's output with it."
)]
pub struct SynthArgs {
    /// Dataset root to write (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of scenes.
    #[arg(long, default_value_t = 1)]
    pub scenes: u32,
    /// Seed; the same seed gives byte-identical output.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = LayoutArg::Scannet)]
    pub layout: LayoutArg,
    /// Approximate number of mesh triangles per scene.
    #[arg(long, default_value_t = 150_000)]
    pub faces_per_scene: usize,
    /// Camera frames per scene.
    #[arg(long, default_value_t = 60)]
    pub frames: usize,
    /// ScanNet: also write `<scene>.sens` next to the exported frames.
    #[arg(long)]
    pub sens: bool,
    /// ScanNet: how the frames are written.
    #[arg(long, value_enum, default_value_t = FrameLayoutArg::Python)]
    pub frame_layout: FrameLayoutArg,
    /// ScanNet: v1-style aggregation.json and one group labelled with the v1-only `trashcan`.
    #[arg(long)]
    pub legacy_aggregation: bool,
    /// ScanNet++: encoding of the iPhone depth.bin.
    #[arg(long, value_enum, default_value_t = IphoneDepthArg::Deflate)]
    pub iphone_depth: IphoneDepthArg,
}

/// Generator settings handed to [`generate_scene`].
#[derive(Clone, Debug, PartialEq)]
pub struct SceneRequest {
    pub scene_id: String,
    pub faces: usize,
    pub frames: usize,
}

/// The validated run plan: everything decided before any work starts.
#[derive(Clone, Debug)]
struct Plan {
    out: PathBuf,
    seed: u64,
    requests: Vec<SceneRequest>,
    writer: WriterPlan,
}

#[derive(Clone, Debug)]
enum WriterPlan {
    ScanNet(ScanNetWriteOptions),
    ScanNetPP(ScanNetPPWriteOptions),
}

/// ScanNet scene id of scene `index`: `scene0900_00`, `scene0901_00`, ...
pub fn scannet_scene_id(index: u32) -> String {
    format!("scene{:04}_00", 900 + index)
}

/// ScanNet++ scene id of scene `index`: 10 hex digits derived from the seed and the index.
pub fn scannetpp_scene_id(seed: u64, index: u32) -> String {
    let mixed = splitmix64(seed ^ splitmix64(index as u64 + 0x5eed));
    format!("{:010x}", mixed & 0xff_ffff_ffff)
}

/// SplitMix64 finaliser: a stable, well-mixed hash of a u64.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn plan(args: &SynthArgs) -> anyhow::Result<Plan> {
    anyhow::ensure!(args.scenes >= 1, "--scenes must be at least 1");
    anyhow::ensure!(args.frames >= 1, "--frames must be at least 1");
    anyhow::ensure!(
        args.faces_per_scene >= 1_000,
        "--faces-per-scene must be at least 1000 (got {})",
        args.faces_per_scene
    );
    let writer = match args.layout {
        LayoutArg::Scannet => {
            let mut frame_layouts = vec![match args.frame_layout {
                FrameLayoutArg::Python => FrameLayout::PythonExport,
                FrameLayoutArg::Cpp => FrameLayout::CppExport,
                FrameLayoutArg::Sens => FrameLayout::Sens,
            }];
            if args.sens && !frame_layouts.contains(&FrameLayout::Sens) {
                frame_layouts.push(FrameLayout::Sens);
            }
            WriterPlan::ScanNet(ScanNetWriteOptions {
                frame_layouts,
                aggregation: if args.legacy_aggregation {
                    AggregationStyle::V1
                } else {
                    AggregationStyle::V2
                },
                legacy_label: args.legacy_aggregation,
                // Scenes are written in parallel: the shared label map is written once at the end.
                write_label_map: false,
                ..ScanNetWriteOptions::default()
            })
        }
        LayoutArg::Scannetpp => WriterPlan::ScanNetPP(ScanNetPPWriteOptions {
            depth_encoding: match args.iphone_depth {
                IphoneDepthArg::Deflate => IphoneDepthEncoding::DeflateF32,
                IphoneDepthArg::Lz4 => IphoneDepthEncoding::Lz4U16,
            },
            ..ScanNetPPWriteOptions::default()
        }),
    };
    let requests = (0..args.scenes)
        .map(|index| SceneRequest {
            scene_id: match args.layout {
                LayoutArg::Scannet => scannet_scene_id(index),
                LayoutArg::Scannetpp => scannetpp_scene_id(args.seed, index),
            },
            faces: args.faces_per_scene,
            frames: args.frames,
        })
        .collect();
    Ok(Plan {
        out: args.out.clone(),
        seed: args.seed,
        requests,
        writer,
    })
}

/// Generates and writes one scene; returns the raw labels it used (for the label map).
fn make_scene(plan: &Plan, index: u32) -> anyhow::Result<BTreeSet<String>> {
    let request = &plan.requests[index as usize];
    let scene = generate_scene(request, plan.seed, index)
        .with_context(|| format!("{}: generating", request.scene_id))?;
    match &plan.writer {
        WriterPlan::ScanNet(opts) => {
            write_scannet(&scene, &plan.out, opts)
                .with_context(|| format!("{}: writing ScanNet layout", scene.scene_id))?;
            Ok(raw_labels_used(&scene, opts))
        }
        WriterPlan::ScanNetPP(opts) => {
            write_scannetpp(&scene, &plan.out, opts)
                .with_context(|| format!("{}: writing ScanNet++ layout", scene.scene_id))?;
            Ok(BTreeSet::new())
        }
    }
}

pub fn run(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    let plan = plan(args)?;
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("creating {}", plan.out.display()))?;
    let n = plan.requests.len() as u32;
    let bar = crate::cli::progress::bar(n as u64, "scenes");
    let results: Vec<anyhow::Result<BTreeSet<String>>> = (0..n)
        .into_par_iter()
        .map(|index| {
            let result = make_scene(&plan, index);
            bar.inc(1);
            result
        })
        .collect();
    bar.finish_and_clear();

    let mut labels = BTreeSet::new();
    let mut failed = 0usize;
    for (request, result) in plan.requests.iter().zip(results) {
        match result {
            Ok(used) => labels.extend(used),
            Err(err) => {
                failed += 1;
                tracing::error!("scene {} failed: {err:#}", request.scene_id);
            }
        }
    }
    if let WriterPlan::ScanNet(_) = plan.writer {
        write_label_map(&plan.out, labels.iter().map(String::as_str))?;
    }
    let written = plan.requests.len() - failed;
    tracing::info!(
        "wrote {written} of {} scenes under {}",
        plan.requests.len(),
        plan.out.display()
    );
    if failed == plan.requests.len() {
        anyhow::bail!("every scene failed");
    }
    Ok(if failed > 0 {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}

/// The single call into the room generator.
///
/// TODO(integration): `crate::synth::room::generate` is being written on another branch. When
/// it lands, replace the body with
/// `crate::synth::room::generate(&GenerateConfig { .. from request .. }, seed, index)` (and set
/// `scene_id` from `request.scene_id`). Until then a simple stand-in room is built here so the
/// subcommand works end to end.
fn generate_scene(request: &SceneRequest, seed: u64, index: u32) -> anyhow::Result<SynthScene> {
    Ok(stand_in::room(request, seed, index))
}

/// A deliberately plain stand-in for the generator: a floor, four walls and five pieces of
/// furniture as subdivided boxes (sized to the face budget), cameras on a circle.
mod stand_in {
    use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion, Vector3};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::{splitmix64, SceneRequest};
    use crate::scene::{Camera, CameraModel, Intrinsics, Mesh};
    use crate::synth::{SynthScene, TruthObject};

    /// Appends a box whose six sides are `s x s` grids of quads.
    fn add_box(
        mesh: &mut Mesh,
        vi: &mut Vec<u32>,
        lo: [f64; 3],
        hi: [f64; 3],
        s: u32,
        rgb: [u8; 3],
        id: u32,
    ) {
        // Each side: origin corner and two edge vectors (axis u, axis v) in unit-box coords.
        let sides: [([f64; 3], [f64; 3], [f64; 3]); 6] = [
            ([0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]),
            ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
            ([0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
            ([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]),
            ([0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
            ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
        ];
        for (side, (o, u, v)) in sides.iter().enumerate() {
            let base = mesh.positions_m.len() as u32;
            for j in 0..=s {
                for i in 0..=s {
                    let (a, b) = (i as f64 / s as f64, j as f64 / s as f64);
                    let unit = [0, 1, 2].map(|k| o[k] + a * u[k] + b * v[k]);
                    mesh.positions_m
                        .push([0, 1, 2].map(|k| (lo[k] + unit[k] * (hi[k] - lo[k])) as f32));
                    let shade = (side as u8) * 6 + ((i + j) % 4) as u8 * 3;
                    mesh.colors_rgb.push(rgb.map(|c| c.saturating_sub(shade)));
                    vi.push(id);
                }
            }
            for j in 0..s {
                for i in 0..s {
                    let a = base + j * (s + 1) + i;
                    mesh.triangles.push([a, a + 1, a + s + 2]);
                    mesh.triangles.push([a, a + s + 2, a + s + 1]);
                }
            }
        }
    }

    /// Label, lower corner, upper corner, colour, structural.
    type BoxSpec = (&'static str, [f64; 3], [f64; 3], [u8; 3], bool);

    pub fn room(request: &SceneRequest, seed: u64, index: u32) -> SynthScene {
        let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(seed) ^ splitmix64(index as u64));
        let (rx, ry, rz) = (rng.random_range(4.0..6.0), rng.random_range(3.5..5.0), 2.6);
        let t = 0.1;
        let mut specs: Vec<BoxSpec> = vec![
            (
                "floor",
                [0.0, 0.0, -t],
                [rx, ry, 0.0],
                [150, 130, 110],
                true,
            ),
            ("wall", [-t, 0.0, 0.0], [0.0, ry, rz], [220, 220, 210], true),
            (
                "wall",
                [rx, 0.0, 0.0],
                [rx + t, ry, rz],
                [215, 220, 210],
                true,
            ),
            ("wall", [0.0, -t, 0.0], [rx, 0.0, rz], [220, 215, 210], true),
            (
                "wall",
                [0.0, ry, 0.0],
                [rx, ry + t, rz],
                [210, 220, 215],
                true,
            ),
        ];
        let bx = rng.random_range(0.3..1.0);
        specs.push((
            "bed",
            [bx, 0.3, 0.0],
            [bx + 2.0, 1.9, 0.55],
            [180, 60, 60],
            false,
        ));
        specs.push((
            "pillow",
            [bx + 0.1, 0.5, 0.55],
            [bx + 0.6, 1.1, 0.7],
            [240, 240, 250],
            false,
        ));
        specs.push((
            "table",
            [rx - 1.5, ry - 1.3, 0.0],
            [rx - 0.3, ry - 0.5, 0.75],
            [120, 80, 40],
            false,
        ));
        specs.push((
            "chair",
            [rx - 2.2, ry - 1.2, 0.0],
            [rx - 1.7, ry - 0.7, 0.9],
            [60, 60, 160],
            false,
        ));
        specs.push((
            "cabinet",
            [0.2, ry - 0.6, 0.0],
            [1.2, ry - 0.1, 1.1],
            [90, 140, 90],
            false,
        ));

        // 12 s^2 triangles per box.
        let s = ((request.faces as f64 / (12.0 * specs.len() as f64))
            .sqrt()
            .round() as u32)
            .max(1);
        let mut mesh = Mesh::default();
        let mut vertex_instance = Vec::new();
        let mut objects = Vec::new();
        for (k, (label, lo, hi, rgb, structural)) in specs.iter().enumerate() {
            let id = k as u32 + 1;
            add_box(&mut mesh, &mut vertex_instance, *lo, *hi, s, *rgb, id);
            let (dx, dy) = (hi[0] - lo[0], hi[1] - lo[1]);
            objects.push(TruthObject {
                instance_id: id,
                raw_label: label.to_string(),
                length_m: dx.max(dy),
                width_m: dx.min(dy),
                height_m: hi[2] - lo[2],
                yaw_rad: if dx >= dy {
                    0.0
                } else {
                    std::f64::consts::FRAC_PI_2
                },
                center: [0, 1, 2].map(|i| (lo[i] + hi[i]) / 2.0),
                aabb_min: *lo,
                aabb_max: *hi,
                color_rgb: *rgb,
                structural: *structural,
            });
        }

        let model = CameraModel {
            intrinsics: Intrinsics {
                fx: 1169.621094,
                fy: 1167.105103,
                cx: 646.295044,
                cy: 489.927032,
            },
            width: 1296,
            height: 968,
        };
        let centre = Vector3::new(rx / 2.0, ry / 2.0, 0.6);
        let radius = (rx.min(ry) / 2.0 - 0.4).max(0.5);
        let cameras = (0..request.frames)
            .map(|f| {
                let a = f as f64 / request.frames as f64 * std::f64::consts::TAU;
                let eye = Vector3::new(
                    centre.x + radius * a.cos(),
                    centre.y + radius * a.sin(),
                    1.5,
                );
                // Look across the room, slightly down.
                let target = Vector3::new(
                    centre.x - radius * a.cos(),
                    centre.y - radius * a.sin(),
                    0.5,
                );
                let forward = (target - eye).normalize();
                let right = forward.cross(&Vector3::z()).normalize();
                let down = forward.cross(&right);
                let rotation = Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[
                    right, down, forward,
                ]));
                Camera {
                    model,
                    world_from_camera: Isometry3::from_parts(
                        Translation3::from(eye),
                        UnitQuaternion::from_rotation_matrix(&rotation),
                    ),
                }
            })
            .collect();
        let lost_tracking = (0..request.frames).filter(|f| f % 17 == 5).collect();
        let aligned_from_scan = Isometry3::from_parts(
            Translation3::new(
                rng.random_range(-3.0..3.0),
                rng.random_range(-3.0..3.0),
                0.0,
            ),
            UnitQuaternion::from_axis_angle(&Vector3::z_axis(), rng.random_range(-3.0..3.0)),
        );
        SynthScene {
            scene_id: request.scene_id.clone(),
            mesh,
            vertex_instance,
            objects,
            aligned_from_scan,
            cameras,
            lost_tracking,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::synth::write_common::test_scene::tree_bytes;

    fn args(out: &Path, layout: LayoutArg) -> SynthArgs {
        SynthArgs {
            out: out.to_path_buf(),
            scenes: 2,
            seed: 3,
            layout,
            faces_per_scene: 1_200,
            frames: 2,
            sens: true,
            frame_layout: FrameLayoutArg::Cpp,
            legacy_aggregation: false,
            iphone_depth: IphoneDepthArg::Lz4,
        }
    }

    #[test]
    fn scene_ids_follow_the_datasets() {
        assert_eq!(scannet_scene_id(0), "scene0900_00");
        assert_eq!(scannet_scene_id(42), "scene0942_00");
        let id = scannetpp_scene_id(7, 1);
        assert_eq!(id.len(), 10);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id, scannetpp_scene_id(7, 1));
        assert_ne!(id, scannetpp_scene_id(7, 2));
        assert_ne!(id, scannetpp_scene_id(8, 1));
    }

    #[test]
    fn output_is_identical_at_any_thread_count() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let code = one
            .install(|| run(&args(a.path(), LayoutArg::Scannet)))
            .unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        two.install(|| run(&args(b.path(), LayoutArg::Scannet)))
            .unwrap();
        let tree = tree_bytes(a.path());
        assert_eq!(tree, tree_bytes(b.path()));
        assert!(tree.contains_key("scans/scene0901_00/scene0901_00.sens"));
        assert!(tree.contains_key("scans/scene0900_00/frame-000001.depth.pgm"));
        assert!(tree.contains_key("scannetv2-labels.combined.tsv"));
    }

    #[test]
    fn scannetpp_run_is_deterministic() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut small = args(a.path(), LayoutArg::Scannetpp);
        small.scenes = 1;
        run(&small).unwrap();
        small.out = b.path().to_path_buf();
        run(&small).unwrap();
        let tree = tree_bytes(a.path());
        assert_eq!(tree, tree_bytes(b.path()));
        let id = scannetpp_scene_id(3, 0);
        assert!(tree.contains_key(&format!("data/{id}/iphone/depth.bin")));
    }

    #[test]
    fn rejects_bad_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = args(dir.path(), LayoutArg::Scannet);
        bad.scenes = 0;
        assert!(run(&bad).is_err());
    }
}
