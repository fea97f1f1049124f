//! One scene to dataset rows: load, measure, select views, render depth, generate QA.
//! A pure function of the scene files and the configuration (the only disk access is the
//! readers'), so it can run in parallel and on resume gives the same rows.
//!
//! [`build_scene`] loads the scene and fills its record; `analysis` measures it, selects views
//! and renders depth; `rows` generates the QA and assembles one row per view.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use crate::dataset::manifest::{SceneRecord, SceneState};
use crate::dataset::SampleRow;
use crate::geom::select::RejectionCounts;
use crate::geom::visibility::VisibilityConfig;
use crate::io::{load_scene, ReadOptions};
use crate::qa::split::Split;
use crate::qa::TemplateSet;
use crate::scene::{CameraModel, Scene};

use super::analysis::analyse_scene;
use super::rows::scene_rows;
use super::BuildConfig;

/// A scene to build.
#[derive(Clone, Debug)]
pub struct SceneJob {
    pub scene_id: String,
    pub path: PathBuf,
    /// Folder relative to its root, for the manifest.
    pub rel: String,
    pub split: Split,
}

/// Everything a scene job needs besides the scene (shared, read-only).
pub struct SceneContext<'a> {
    pub config: &'a BuildConfig,
    /// Fills the depth column with `--depth-source estimated`.
    pub estimator: Option<&'a dyn super::DepthEstimator>,
    pub templates: &'a TemplateSet,
    pub read: &'a ReadOptions,
    pub visibility: VisibilityConfig,
}

/// The rows of one scene and its manifest record.
pub struct SceneOutput {
    pub record: SceneRecord,
    pub rows: Vec<SampleRow>,
}

fn split_name(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Test => "test",
    }
}

fn record(job: &SceneJob, source: &str, status: SceneState, reason: Option<String>) -> SceneRecord {
    SceneRecord {
        scene_id: job.scene_id.clone(),
        path: job.rel.clone(),
        source: source.to_string(),
        split: split_name(job.split).to_string(),
        status,
        reason,
        images: 0,
        qa: 0,
        frames_total: 0,
        frames_analysed: 0,
        rejections: BTreeMap::new(),
        views_dropped: 0,
        warnings: Vec::new(),
    }
}

/// Builds one scene; never panics (an internal panic becomes a skipped scene).
pub fn build_scene(job: &SceneJob, ctx: &SceneContext) -> SceneOutput {
    match catch_unwind(AssertUnwindSafe(|| build_scene_inner(job, ctx))) {
        Ok(output) => output,
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            SceneOutput {
                record: record(
                    job,
                    "",
                    SceneState::Skipped,
                    Some(format!("internal error (please report): {text}")),
                ),
                rows: Vec::new(),
            }
        }
    }
}

/// The depth image's camera: the colour camera at the depth sensor's resolution when the
/// source has one, else at the colour resolution.
pub fn depth_camera_model(scene: &Scene, frame_index: usize) -> CameraModel {
    let frame = &scene.frames[frame_index];
    match frame.depth {
        Some(depth) => frame.color.resized(depth.width, depth.height),
        None => frame.color,
    }
}

fn build_scene_inner(job: &SceneJob, ctx: &SceneContext) -> SceneOutput {
    let scene = match load_scene(&job.path, ctx.read) {
        Ok(scene) => scene,
        Err(err) => {
            return SceneOutput {
                record: record(job, "", SceneState::Skipped, Some(err.to_string())),
                rows: Vec::new(),
            }
        }
    };
    let source = scene.meta.source.to_string();
    let mut rec = record(job, &source, SceneState::Done, None);
    rec.scene_id = scene.meta.scene_id.clone();
    rec.warnings = scene.warnings.clone();
    rec.frames_total = scene.frames.len() as u64;
    let analysis = analyse_scene(&scene, ctx);
    rec.frames_analysed = analysis.stats.after_pose_diversity;
    rec.rejections = rejection_names(&analysis.stats.object_rejections);
    let rows = scene_rows(&scene, analysis, ctx, split_name(job.split), &mut rec);
    if rows.is_empty() {
        rec.status = SceneState::Empty;
        rec.reason = Some(format!(
            "no view passed selection ({} frames, {} analysed)",
            rec.frames_total, rec.frames_analysed
        ));
    }
    SceneOutput { record: rec, rows }
}

fn rejection_names(counts: &RejectionCounts) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|(r, n)| (r.name().to_string(), *n))
        .collect()
}
