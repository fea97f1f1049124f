//! The analysis half of building one scene: measure it, select views (keeping each selected
//! view's visibility render where it can serve as the depth render), and render depth.

use std::collections::BTreeMap;

use crate::geom::measure::{measure_scene, ObjectMeasurement};
use crate::geom::views::{
    select_views, select_views_keeping_renders, AnalysisResolution, SelectedView,
    ViewSelectionStats,
};
use crate::render::{render, RenderConfig, RenderedView};
use crate::scene::{Camera, CameraModel, Scene};

use super::scene::{depth_camera_model, SceneContext};

/// A measured scene and its selected views.
pub(super) struct SceneAnalysis {
    pub(super) measurements: Vec<ObjectMeasurement>,
    pub(super) selected: Vec<SelectedView>,
    /// Visibility renders kept for reuse as depth renders, by frame index.
    pub(super) renders: BTreeMap<usize, RenderedView>,
    pub(super) stats: ViewSelectionStats,
}

/// Measures the scene and selects its views.
pub(super) fn analyse_scene(scene: &Scene, ctx: &SceneContext) -> SceneAnalysis {
    let config = ctx.config;
    let measurements = measure_scene(scene);
    // The visibility render of a selected view is the depth column's render when the analysis
    // camera is the depth camera with the default rasterizer settings (the build default):
    // keep it instead of rasterizing the frame twice.
    let reuse = ctx.visibility.render == RenderConfig::default()
        && config.views.analysis_resolution == AnalysisResolution::Depth;
    let (selected, renders, stats) = if reuse {
        let (views, stats) = select_views_keeping_renders(
            scene,
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
            scene,
            &measurements,
            &config.selection,
            &ctx.visibility,
            &config.views,
        );
        (selected, BTreeMap::new(), stats)
    };
    SceneAnalysis {
        measurements,
        selected,
        renders,
        stats,
    }
}

/// The depth camera of a frame and its render: the `kept` render of the frame when it was made
/// at that camera's size (a visibility render with the default settings, or an earlier depth
/// render), else a fresh render with the default settings. The error says why the frame's
/// depth camera cannot be rendered (the readers refuse such cameras, so a scene read from disk
/// never has one).
pub(super) fn depth_render(
    scene: &Scene,
    frame_index: usize,
    kept: Option<RenderedView>,
) -> Result<(CameraModel, RenderedView), String> {
    let frame = &scene.frames[frame_index];
    let depth_model = depth_camera_model(scene, frame_index);
    let camera = Camera {
        model: depth_model,
        world_from_camera: frame.world_from_camera,
    };
    let rendered = match kept {
        Some(kept) if (kept.width, kept.height) == (depth_model.width, depth_model.height) => kept,
        _ => render(
            &scene.mesh,
            &scene.face_instance,
            &camera,
            &RenderConfig::default(),
        )
        .map_err(|err| format!("frame {}: depth camera: {err}, view dropped", frame.id))?,
    };
    Ok((depth_model, rendered))
}
