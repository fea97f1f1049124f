//! `msmu inspect`: shows what a reader sees in one scene folder — mesh size, axis alignment,
//! instances with their bounds in the aligned frame, and frame counts (valid and skipped,
//! with reasons). `--json` prints the stable form documented in `schemas/inspect.schema.json`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use std::io::Write as _;

use msmu_data::io::{detect_source, discover_scenes, load_scene, ReadOptions};
use msmu_data::scene::{pose_to_row_major, Scene};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu inspect fixtures/scannet/scans/scene0900_00\n  \
msmu inspect fixtures/scannetpp/data/a7acc711d8 --json | jq '.instances[9]'\n  \
msmu inspect fixtures/scannet/scans/scene0900_00 --views\n  \
msmu inspect fixtures/scannet --json > scenes.jsonl")]
pub struct InspectArgs {
    /// Scene folder (ScanNet `scans/sceneXXXX_YY` or ScanNet++ `data/<id>`), or a dataset
    /// root: then every scene under it is inspected (JSON: one line per scene), unreadable
    /// scenes are reported and skipped, and the exit status is 3 if any was skipped.
    pub scene: PathBuf,
    /// Print machine-readable JSON (schemas/inspect.schema.json) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// ScanNet label map (scannetv2-labels.combined.tsv); searched beside the scene by default.
    #[arg(long)]
    pub label_map: Option<PathBuf>,
    /// Also run view and object selection (depth-tested visibility) and report the selected
    /// views, their objects and every rejection by reason.
    #[arg(long)]
    pub views: bool,
    /// Object selection rules (JSON, schemas/selection.schema.json); default:
    /// templates/selection.json as shipped.
    #[arg(long, requires = "views")]
    pub rules: Option<PathBuf>,
    /// Keep every N-th frame before the pose-diversity test.
    #[arg(long, default_value_t = 1, requires = "views")]
    pub frame_stride: usize,
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
    /// Present with `--views`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub views: Option<ViewsReport>,
}

/// View and object selection results (`--views`).
#[derive(Serialize, Debug)]
pub struct ViewsReport {
    pub stats: msmu_data::geom::views::ViewSelectionStats,
    pub selected: Vec<msmu_data::geom::views::SelectedView>,
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
    /// Gravity-aligned minimum-area box (ARCHITECTURE.md, "Measurements"): longer
    /// horizontal side, shorter horizontal side, vertical extent, metres.
    pub length_m: f64,
    pub width_m: f64,
    pub height_m: f64,
    /// Direction of the length side from +X towards +Y, radians in [0, pi).
    pub yaw_rad: f64,
    /// Centre of the gravity-aligned box, metres.
    pub center: [f64; 3],
    pub surface_area_m2: f64,
    /// Why the box is outside the label's plausible size range (templates/labels/sizes.json),
    /// if it is: object selection rejects such an instance (`implausible_size`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implausible_size: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct FramesReport {
    pub layout: msmu_data::scene::FrameLayout,
    pub valid: usize,
    pub skipped: std::collections::BTreeMap<String, u32>,
    pub with_sensor_depth: usize,
    /// Ids of the valid frames, in stream order.
    pub ids: Vec<String>,
}

/// Builds the report from a scene (pure).
pub fn report(scene: &Scene) -> InspectReport {
    let measurements = msmu_data::geom::measure::measure_scene(scene);
    let instances = scene
        .instances
        .iter()
        .map(|inst| {
            let m = msmu_data::geom::measure::find_measurement(&measurements, inst.id);
            InstanceReport {
                id: inst.id.0,
                label: inst.label.clone(),
                raw_label: inst.raw_label.clone(),
                n_vertices: inst.vertex_indices.len(),
                n_faces: inst.face_indices.len(),
                aabb_min: m.map_or([0.0; 3], |m| m.aabb_min),
                aabb_max: m.map_or([0.0; 3], |m| m.aabb_max),
                length_m: m.map_or(0.0, |m| m.length_m),
                width_m: m.map_or(0.0, |m| m.width_m),
                height_m: m.map_or(0.0, |m| m.height_m),
                yaw_rad: m.map_or(0.0, |m| m.yaw_rad),
                center: m.map_or([0.0; 3], |m| m.center),
                surface_area_m2: m.map_or(0.0, |m| m.surface_area_m2),
                implausible_size: m.and_then(|m| {
                    msmu_data::geom::sanity::SizeRanges::shipped()
                        .check(&inst.label, &inst.raw_label, m)
                        .map(|p| p.to_string())
                }),
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
        views: None,
    }
}

pub fn run(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let options = ReadOptions {
        scannet_label_map: args.label_map.clone(),
        ..ReadOptions::default()
    };
    let rules = match &args.rules {
        Some(path) => msmu_data::geom::select::SelectionRules::load(path)?,
        None => msmu_data::geom::select::SelectionRules::default(),
    };
    // One scene folder, or a dataset root whose scenes are inspected in turn.
    if detect_source(&args.scene).is_some() {
        let report = inspect_one(&args.scene, &options, args, &rules)?;
        emit(&report, args.json, true)?;
        return Ok(ExitCode::SUCCESS);
    }
    let scenes = discover_scenes(&args.scene)
        .with_context(|| format!("listing scenes under {}", args.scene.display()))?;
    if scenes.is_empty() {
        anyhow::bail!(
            "{}: neither a scene folder nor a dataset root with scene folders \
             (expected `<id>_vh_clean_2.ply` or `scans/mesh_aligned_0.05.ply` inside a scene)",
            args.scene.display()
        );
    }
    // A scene that cannot be read is reported and skipped; the exit status says so.
    let mut skipped = 0usize;
    let bar = msmu_data::progress::bar(scenes.len() as u64, "scenes");
    for scene_dir in &scenes {
        match inspect_one(scene_dir, &options, args, &rules) {
            Ok(report) => bar.suspend(|| emit(&report, args.json, false))?,
            Err(err) => {
                skipped += 1;
                bar.suspend(|| eprintln!("skipped: {err:#}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if skipped > 0 {
        eprintln!(
            "{skipped} of {} scenes could not be read (see above)",
            scenes.len()
        );
        return Ok(ExitCode::from(crate::cli::EXIT_PARTIAL));
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect_one(
    scene_dir: &std::path::Path,
    options: &ReadOptions,
    args: &InspectArgs,
    rules: &msmu_data::geom::select::SelectionRules,
) -> anyhow::Result<InspectReport> {
    let scene = load_scene(scene_dir, options)?;
    let mut report = report(&scene);
    if args.views {
        let view_config = msmu_data::geom::views::ViewSelectionConfig {
            frame_stride: args.frame_stride,
            ..Default::default()
        };
        let measurements = msmu_data::geom::measure::measure_scene(&scene);
        let (selected, stats) = msmu_data::geom::views::select_views(
            &scene,
            &measurements,
            rules,
            &msmu_data::geom::visibility::VisibilityConfig::default(),
            &view_config,
        );
        report.views = Some(ViewsReport { stats, selected });
    }
    Ok(report)
}

/// Prints one report: pretty JSON for a single scene, one JSON line per scene for a root.
fn emit(report: &InspectReport, json: bool, single: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = if json {
        let text = if single {
            serde_json::to_string_pretty(report)
        } else {
            serde_json::to_string(report)
        }
        .context("serialising the report")?;
        writeln!(out, "{text}")
    } else {
        print_table(&mut out, report)
    };
    match result {
        // `msmu inspect ... | head` closes the pipe early: not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the report"),
    }
}

fn print_table(out: &mut impl std::io::Write, r: &InspectReport) -> std::io::Result<()> {
    writeln!(out, "scene {} ({})", r.scene_id, r.source)?;
    writeln!(
        out,
        "  mesh: {} vertices, {} faces",
        r.n_vertices, r.n_faces
    )?;
    writeln!(
        out,
        "  axis alignment: {}",
        if r.axis_alignment_given {
            "given (applied)"
        } else {
            "none (identity)"
        }
    )?;
    writeln!(
        out,
        "  frames: {} valid ({:?}), {} with sensor depth",
        r.frames.valid, r.frames.layout, r.frames.with_sensor_depth
    )?;
    for (reason, count) in &r.frames.skipped {
        writeln!(out, "    skipped {count}: {reason}")?;
    }
    writeln!(out, "  instances: {}", r.instances.len())?;
    writeln!(
        out,
        "    {:>4}  {:<20} {:>8}  {:>22}  {:>7}",
        "id", "label", "vertices", "L x W x H (m)", "yaw deg"
    )?;
    for inst in &r.instances {
        let size = format!(
            "{:.3} x {:.3} x {:.3}",
            inst.length_m, inst.width_m, inst.height_m
        );
        writeln!(
            out,
            "    {:>4}  {:<20} {:>8}  {:>22}  {:>7.1}{}",
            inst.id,
            inst.label,
            inst.n_vertices,
            size,
            inst.yaw_rad.to_degrees(),
            match &inst.implausible_size {
                Some(why) => format!("  ! implausible size: {why}"),
                None => String::new(),
            }
        )?;
    }
    if let Some(views) = &r.views {
        let st = &views.stats;
        writeln!(
            out,
            "  views: {} selected of {} frames ({} after stride, {} after pose diversity, {} with too few objects)",
            st.selected, st.frames_total, st.after_stride, st.after_pose_diversity, st.too_few_objects
        )?;
        for view in &views.selected {
            let ids: Vec<String> = view
                .objects
                .iter()
                .map(|o| o.instance_id.to_string())
                .collect();
            writeln!(
                out,
                "    frame {}: objects {}",
                view.frame_id,
                ids.join(" ")
            )?;
        }
        for (reason, count) in &st.object_rejections {
            writeln!(out, "    rejected {count}: {}", reason.name())?;
        }
    }
    for w in &r.warnings {
        writeln!(out, "  warning: {w}")?;
    }
    Ok(())
}
