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
use msmu_synth::write_scannet::{
    raw_labels_used, write_label_map, write_scannet, AggregationStyle, FrameLayout,
    ScanNetWriteOptions, LABEL_TABLE,
};
use msmu_synth::write_scannetpp::{write_scannetpp, IphoneDepthEncoding, ScanNetPPWriteOptions};
use msmu_synth::SynthScene;

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
    /// Index of the first scene (scene ids and seeds follow the index), so several calls can
    /// add differently configured scenes to one root.
    #[arg(long, default_value_t = 0)]
    pub first_index: u32,
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
    /// Scene index: drives the scene id and, with the seed, the generator.
    pub index: u32,
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
    let last = args
        .first_index
        .checked_add(args.scenes)
        .context("--first-index + --scenes overflows")?;
    let requests = (args.first_index..last)
        .map(|index| SceneRequest {
            index,
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
    let scene = generate_scene(request, plan.seed, request.index)
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
    let bar = msmu_data::progress::bar(n as u64, "scenes");
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
        // Like the real file, the label map lists every known label (the whole table plus
        // the generator's catalog), not just those this call used, so several calls into one
        // root agree.
        labels.extend(LABEL_TABLE.iter().map(|row| row.raw_category.to_string()));
        labels.extend(
            msmu_synth::catalog::label_map()
                .into_iter()
                .map(|e| e.raw_label.to_string()),
        );
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
fn generate_scene(request: &SceneRequest, seed: u64, index: u32) -> anyhow::Result<SynthScene> {
    let config = msmu_synth::GenerateConfig {
        faces_target: request.faces,
        n_frames: u32::try_from(request.frames).context("--frames is too large")?,
        scene_id: request.scene_id.clone(),
        ..msmu_synth::GenerateConfig::default()
    };
    Ok(msmu_synth::generate(&config, seed, index))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use msmu_synth::tree_bytes;

    fn args(out: &Path, layout: LayoutArg) -> SynthArgs {
        SynthArgs {
            out: out.to_path_buf(),
            scenes: 2,
            first_index: 0,
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
        let tree = tree_bytes(a.path()).unwrap();
        assert_eq!(tree, tree_bytes(b.path()).unwrap());
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
        let tree = tree_bytes(a.path()).unwrap();
        assert_eq!(tree, tree_bytes(b.path()).unwrap());
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
