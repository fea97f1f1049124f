//! `msmu inspect`: shows what a reader sees in one scene folder — mesh size, axis alignment,
//! instances with their bounds in the aligned frame, and frame counts (valid and skipped,
//! with reasons). `--json` prints the stable form documented in `schemas/inspect.schema.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::io::{load_scene, ReadOptions};
use crate::scene::{pose_to_row_major, Scene};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu inspect fixtures/scannet/scans/scene0900_00\n  \
msmu inspect fixtures/scannetpp/data/5a1f0e3c2b --json | jq '.instances[0]'")]
pub struct InspectArgs {
    /// Scene folder (ScanNet `scans/sceneXXXX_YY` or ScanNet++ `data/<id>`).
    pub scene: PathBuf,
    /// Print machine-readable JSON (schemas/inspect.schema.json) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// ScanNet label map (scannetv2-labels.combined.tsv); searched beside the scene by default.
    #[arg(long)]
    pub label_map: Option<PathBuf>,
}

/// The JSON form. Field names are a stable interface: add, never rename.
#[derive(Serialize, Debug)]
pub struct InspectReport {
    pub scene_id: String,
    pub source: String,
    pub n_vertices: usize,
    pub n_faces: usize,
    /// Row-major 4x4 `aligned_from_scan` that was applied.
    pub axis_alignment: [f64; 16],
    pub axis_alignment_given: bool,
    pub instances: Vec<InstanceReport>,
    pub frames: FramesReport,
    pub warnings: Vec<String>,
}

#[derive(Serialize, Debug)]
pub struct InstanceReport {
    pub id: u32,
    pub label: String,
    pub raw_label: String,
    pub n_vertices: usize,
    pub n_faces: usize,
    pub aabb_min: [f64; 3],
    pub aabb_max: [f64; 3],
}

#[derive(Serialize, Debug)]
pub struct FramesReport {
    pub layout: crate::scene::FrameLayout,
    pub valid: usize,
    pub skipped: std::collections::BTreeMap<String, u32>,
    pub with_sensor_depth: usize,
    /// Ids of the valid frames, in stream order.
    pub ids: Vec<String>,
}

/// Builds the report from a scene (pure).
pub fn report(scene: &Scene) -> InspectReport {
    let instances = scene
        .instances
        .iter()
        .map(|inst| {
            let mut lo = [f64::INFINITY; 3];
            let mut hi = [f64::NEG_INFINITY; 3];
            for &v in &inst.vertex_indices {
                let p = scene.mesh.positions_m[v as usize];
                for axis in 0..3 {
                    lo[axis] = lo[axis].min(p[axis] as f64);
                    hi[axis] = hi[axis].max(p[axis] as f64);
                }
            }
            if inst.vertex_indices.is_empty() {
                lo = [0.0; 3];
                hi = [0.0; 3];
            }
            InstanceReport {
                id: inst.id.0,
                label: inst.label.clone(),
                raw_label: inst.raw_label.clone(),
                n_vertices: inst.vertex_indices.len(),
                n_faces: inst.face_indices.len(),
                aabb_min: lo,
                aabb_max: hi,
            }
        })
        .collect();
    InspectReport {
        scene_id: scene.meta.scene_id.clone(),
        source: scene.meta.source.to_string(),
        n_vertices: scene.mesh.n_vertices(),
        n_faces: scene.mesh.n_faces(),
        axis_alignment: pose_to_row_major(&scene.aligned_from_scan),
        axis_alignment_given: scene.meta.axis_alignment_given,
        instances,
        frames: FramesReport {
            layout: scene.meta.frame_layout,
            valid: scene.frames.len(),
            skipped: scene.skipped_frames.clone(),
            with_sensor_depth: scene
                .frames
                .iter()
                .filter(|f| f.sensor_depth.is_some())
                .count(),
            ids: scene.frames.iter().map(|f| f.id.clone()).collect(),
        },
        warnings: scene.warnings.clone(),
    }
}

pub fn run(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let options = ReadOptions {
        scannet_label_map: args.label_map.clone(),
        ..ReadOptions::default()
    };
    let scene = load_scene(&args.scene, &options)?;
    let report = report(&scene);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("serialising the report")?
        );
    } else {
        print_table(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(r: &InspectReport) {
    println!("scene {} ({})", r.scene_id, r.source);
    println!("  mesh: {} vertices, {} faces", r.n_vertices, r.n_faces);
    println!(
        "  axis alignment: {}",
        if r.axis_alignment_given {
            "given (applied)"
        } else {
            "none (identity)"
        }
    );
    println!(
        "  frames: {} valid ({:?}), {} with sensor depth",
        r.frames.valid, r.frames.layout, r.frames.with_sensor_depth
    );
    for (reason, count) in &r.frames.skipped {
        println!("    skipped {count}: {reason}");
    }
    println!("  instances: {}", r.instances.len());
    println!(
        "    {:>4}  {:<20} {:>8}  {:>26}  {:>26}",
        "id", "label", "vertices", "aabb_min (m)", "aabb_max (m)"
    );
    for inst in &r.instances {
        let fmt = |p: [f64; 3]| format!("({:.3}, {:.3}, {:.3})", p[0], p[1], p[2]);
        println!(
            "    {:>4}  {:<20} {:>8}  {:>26}  {:>26}",
            inst.id,
            inst.label,
            inst.n_vertices,
            fmt(inst.aabb_min),
            fmt(inst.aabb_max)
        );
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
}
