//! One scene to dataset rows: load, measure, select views, render depth, generate QA.
//! A pure function of the scene files and the configuration (the only disk access is the
//! readers'), so it can run in parallel and on resume gives the same rows.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use crate::dataset::depth_png::{encode_png_gray16, metres_to_mm};
use crate::dataset::manifest::{SceneRecord, SceneState};
use crate::dataset::{CameraRow, ImageBlob, ObjectRow, QaRow, SampleRow};
use crate::geom::measure::{find_measurement, measure_scene};
use crate::geom::select::RejectionCounts;
use crate::geom::views::{
    analysis_camera, select_views, select_views_keeping_renders, AnalysisResolution,
};
use crate::geom::visibility::{find_visibility, VisibilityConfig};
use crate::io::frames::read_color_bytes;
use crate::io::{load_scene, ReadOptions};
use crate::qa::split::Split;
use crate::qa::{generate_scene, prepare_selected, TemplateSet};
use crate::render::{render, RenderConfig};
use crate::scene::{pose_to_row_major, Camera, CameraModel, ImageSource, Scene};

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

fn camera_row(model: &CameraModel) -> CameraRow {
    CameraRow {
        fx: model.intrinsics.fx,
        fy: model.intrinsics.fy,
        cx: model.intrinsics.cx,
        cy: model.intrinsics.cy,
        width: model.width,
        height: model.height,
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

fn image_path(scene_id: &str, frame_id: &str, source: &ImageSource) -> String {
    let name = match source {
        ImageSource::File(path) => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{frame_id}.jpg")),
        _ => format!("{frame_id}.jpg"),
    };
    format!("{scene_id}/color/{name}")
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
    let config = ctx.config;
    let measurements = measure_scene(&scene);
    // The visibility render of a selected view is the depth column's render when the analysis
    // camera is the depth camera with the default rasterizer settings (the build default):
    // keep it instead of rasterizing the frame twice.
    let reuse = ctx.visibility.render == RenderConfig::default()
        && config.views.analysis_resolution == AnalysisResolution::Depth;
    let (selected, mut renders, stats) = if reuse {
        let (views, stats) = select_views_keeping_renders(
            &scene,
            &measurements,
            &config.selection,
            &ctx.visibility,
            &config.views,
        );
        let mut renders = BTreeMap::new();
        let selected = views
            .into_iter()
            .map(|(view, render)| {
                if let Some(render) = render {
                    renders.insert(view.frame_index, render);
                }
                view
            })
            .collect();
        (selected, renders, stats)
    } else {
        let (selected, stats) = select_views(
            &scene,
            &measurements,
            &config.selection,
            &ctx.visibility,
            &config.views,
        );
        (selected, BTreeMap::new(), stats)
    };
    rec.frames_analysed = stats.after_pose_diversity;
    rec.rejections = rejection_names(&stats.object_rejections);
    let input = prepare_selected(&scene, measurements, selected, &config.selection);
    let views = generate_scene(&input, ctx.templates, &config.qa);
    let mut rows = Vec::new();
    let split = split_name(job.split);
    for (view, qa) in input.views.iter().zip(&views) {
        if qa.qa.is_empty() {
            continue;
        }
        let frame = &scene.frames[view.selected.frame_index];
        let Some(color_source) = &frame.color_image else {
            rec.warnings
                .push(format!("frame {}: no colour image, view dropped", frame.id));
            continue;
        };
        let image_bytes = match read_color_bytes(color_source) {
            Ok(bytes) => bytes,
            Err(problem) => {
                rec.warnings.push(format!(
                    "frame {}: colour image unreadable ({problem}), view dropped",
                    frame.id
                ));
                continue;
            }
        };
        let depth_model = depth_camera_model(&scene, view.selected.frame_index);
        let camera = Camera {
            model: depth_model,
            world_from_camera: frame.world_from_camera,
        };
        let rendered = match renders.remove(&view.selected.frame_index) {
            Some(kept)
                if analysis_camera(frame, config.views.analysis_resolution).model
                    == depth_model =>
            {
                kept
            }
            _ => render(
                &scene.mesh,
                &scene.face_instance,
                &camera,
                &RenderConfig::default(),
            ),
        };
        let depth_png = match encode_png_gray16(
            &metres_to_mm(&rendered.depth_m),
            rendered.width,
            rendered.height,
        ) {
            Ok(png) => png,
            Err(err) => {
                rec.warnings
                    .push(format!("frame {}: depth encoding failed: {err}", frame.id));
                continue;
            }
        };
        let instance_mask = if config.with_masks {
            let ids: Vec<u16> = rendered
                .instance
                .iter()
                .map(|&i| i.min(u16::MAX as u32) as u16)
                .collect();
            encode_png_gray16(&ids, rendered.width, rendered.height)
                .ok()
                .map(|bytes| ImageBlob {
                    bytes,
                    path: Some(format!("{}/instance/{}.png", scene.meta.scene_id, frame.id)),
                })
        } else {
            None
        };
        // Visibility pixels (bbox) are in the analysis camera's image.
        let analysis = analysis_camera(frame, config.views.analysis_resolution);
        let (w, h) = (analysis.model.width as f64, analysis.model.height as f64);
        let objects = view
            .selected
            .objects
            .iter()
            .filter_map(|vis| {
                let m = find_measurement(&input.measurements, vis.instance_id)?;
                let instance = scene.instance(vis.instance_id)?;
                let vis = find_visibility(&view.visible, vis.instance_id).unwrap_or(vis);
                Some(ObjectRow {
                    instance_id: vis.instance_id.0,
                    label: instance.label.clone(),
                    raw_label: instance.raw_label.clone(),
                    phrase: qa
                        .references
                        .get(&vis.instance_id.0)
                        .cloned()
                        .unwrap_or_else(|| format!("the {}", instance.label)),
                    bbox_2d: [
                        vis.bbox_px[0] as f64 / w,
                        vis.bbox_px[1] as f64 / h,
                        (vis.bbox_px[2] as f64 + 1.0) / w,
                        (vis.bbox_px[3] as f64 + 1.0) / h,
                    ],
                    centroid_2d: vis.centroid_norm,
                    visible_fraction: vis.visible_fraction,
                    visible_pixels: vis.visible_px,
                    truncation: vis.truncation,
                    center: m.center,
                    length_m: m.length_m,
                    width_m: m.width_m,
                    height_m: m.height_m,
                    yaw_rad: m.yaw_rad,
                })
            })
            .collect();
        rec.images += 1;
        rec.qa += qa.qa.len() as u64;
        rows.push(SampleRow {
            id: format!("{}_{}", scene.meta.scene_id, frame.id),
            scene_id: scene.meta.scene_id.clone(),
            source: source.clone(),
            split: split.to_string(),
            frame_id: frame.id.clone(),
            image: ImageBlob {
                bytes: image_bytes,
                path: Some(image_path(&scene.meta.scene_id, &frame.id, color_source)),
            },
            depth: ImageBlob {
                bytes: depth_png,
                path: Some(format!("{}/depth/{}.png", scene.meta.scene_id, frame.id)),
            },
            instance_mask,
            intrinsics: camera_row(&frame.color),
            depth_intrinsics: camera_row(&depth_model),
            world_from_camera: pose_to_row_major(&frame.world_from_camera),
            objects,
            qa: qa.qa.iter().map(QaRow::from).collect(),
            conversations: qa.conversation.clone(),
        });
    }
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
