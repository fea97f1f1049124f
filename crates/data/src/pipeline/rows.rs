//! The row half of building one scene: QA for the selected views, then one [`SampleRow`] per
//! view with QA (colour image, depth PNG, optional instance mask, objects, QA, conversation).

use std::collections::BTreeMap;

use crate::dataset::depth_png::{encode_png_gray16, metres_to_mm, DepthSource};
use crate::dataset::manifest::SceneRecord;
use crate::dataset::{CameraRow, ImageBlob, ObjectRow, QaRow, SampleRow};
use crate::geom::measure::find_measurement;
use crate::geom::views::{analysis_camera, AnalysisResolution};
use crate::geom::visibility::find_visibility;
use crate::qa::{generate_scene, prepare_selected, SceneQaInput, ViewInput, ViewQa};
use crate::render::RenderedView;
use crate::scene::{pose_to_row_major, CameraModel, Frame, ImageSource, Scene};

use super::analysis::{depth_render, SceneAnalysis};
use super::colors::{add_view_colors, read_image, ReadImage};
use super::estimate::estimated_png;
use super::scene::SceneContext;

/// The rows of an analysed scene, in frame order. Counts the images and QA pairs in `rec` and
/// adds a warning there for every view dropped.
pub(super) fn scene_rows(
    scene: &Scene,
    analysis: SceneAnalysis,
    ctx: &SceneContext,
    split: &str,
    rec: &mut SceneRecord,
) -> Vec<SampleRow> {
    let SceneAnalysis {
        measurements,
        selected,
        mut renders,
        ..
    } = analysis;
    let mut input = prepare_selected(scene, measurements, selected, &ctx.config.selection);
    let mut images = add_view_colors(&mut input, &mut renders);
    let views = generate_scene(&input, ctx.templates, &ctx.config.qa);
    let mut rows = Vec::new();
    for (view, qa) in input.views.iter().zip(&views) {
        if qa.qa.is_empty() {
            continue;
        }
        let image = images.remove(&view.selected.frame_index);
        match view_row(&input, view, qa, image, &mut renders, ctx, split) {
            Ok(row) => {
                rec.images += 1;
                rec.qa += qa.qa.len() as u64;
                rows.push(row);
            }
            Err(warning) => {
                rec.views_dropped += 1;
                rec.warnings.push(warning);
            }
        }
    }
    rows
}

/// The row of one view with QA, or the warning that says why the view is dropped. `image` is
/// the colour image when [`add_view_colors`] already read it.
fn view_row(
    input: &SceneQaInput,
    view: &ViewInput,
    qa: &ViewQa,
    image: Option<ReadImage>,
    renders: &mut BTreeMap<usize, RenderedView>,
    ctx: &SceneContext,
    split: &str,
) -> Result<SampleRow, String> {
    let config = ctx.config;
    let scene = input.scene;
    let scene_id = &scene.meta.scene_id;
    let frame_index = view.selected.frame_index;
    let frame = &scene.frames[frame_index];
    let Some(color_source) = &frame.color_image else {
        return Err(format!("frame {}: no colour image, view dropped", frame.id));
    };
    let image_bytes = match image {
        Some(read) => read?,
        None => read_image(frame, color_source)?,
    };
    let (depth_model, rendered) = depth_render(scene, frame_index, renders.remove(&frame_index))?;
    let (depth_png, depth_source) = match ctx.estimator {
        None => (
            encode_png_gray16(
                &metres_to_mm(&rendered.depth_m),
                rendered.width,
                rendered.height,
            )
            .map_err(|err| format!("frame {}: depth encoding failed: {err}", frame.id))?,
            DepthSource::Mesh,
        ),
        Some(estimator) => (
            estimated_png(estimator, &image_bytes, rendered.width, rendered.height)
                .map_err(|err| format!("frame {}: depth estimation failed: {err:#}", frame.id))?,
            estimator.source(),
        ),
    };
    let instance_mask = if config.with_masks {
        instance_mask(&rendered, scene_id, &frame.id)
    } else {
        None
    };
    let objects = object_rows(input, view, qa, frame, config.views.analysis_resolution);
    Ok(SampleRow {
        id: format!("{}_{}", scene_id, frame.id),
        scene_id: scene_id.clone(),
        source: scene.meta.source.to_string(),
        split: split.to_string(),
        frame_id: frame.id.clone(),
        image: ImageBlob {
            bytes: image_bytes,
            path: Some(image_path(scene_id, &frame.id, color_source)),
        },
        depth: ImageBlob {
            bytes: depth_png,
            path: Some(format!("{}/depth/{}.png", scene_id, frame.id)),
        },
        depth_source,
        instance_mask,
        intrinsics: camera_row(&frame.color),
        depth_intrinsics: camera_row(&depth_model),
        world_from_camera: pose_to_row_major(&frame.world_from_camera),
        objects,
        qa: qa
            .qa
            .iter()
            .map(|pair| QaRow::new(pair, &config.profile, config.qa.box_convention))
            .collect(),
        conversations: qa.conversation.clone(),
    })
}

/// The 16-bit instance-id PNG of a render (ids above 65535 saturate); `None` if encoding fails.
fn instance_mask(rendered: &RenderedView, scene_id: &str, frame_id: &str) -> Option<ImageBlob> {
    let ids: Vec<u16> = rendered
        .instance
        .iter()
        .map(|&i| i.min(u16::MAX as u32) as u16)
        .collect();
    encode_png_gray16(&ids, rendered.width, rendered.height)
        .ok()
        .map(|bytes| ImageBlob {
            bytes,
            path: Some(format!("{scene_id}/instance/{frame_id}.png")),
        })
}

/// The accepted objects of a view: label, reference phrase, box and centroid in the analysis
/// image (normalised), visibility, and the measured box.
fn object_rows(
    input: &SceneQaInput,
    view: &ViewInput,
    qa: &ViewQa,
    frame: &Frame,
    resolution: AnalysisResolution,
) -> Vec<ObjectRow> {
    let scene = input.scene;
    // Visibility pixels (bbox) are in the analysis camera's image.
    let analysis = analysis_camera(frame, resolution);
    let (w, h) = (analysis.model.width as f64, analysis.model.height as f64);
    view.selected
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
        .collect()
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
