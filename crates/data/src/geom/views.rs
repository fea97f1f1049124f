//! View selection: which frames of a scene become samples.
//!
//! Three steps, deterministic for a given scene and configuration (ties by frame order):
//! 1. **Stride**: frames `0, s, 2s, ...` of `Scene::frames` (stream order).
//! 2. **Pose diversity**: walking those frames in order, a frame is skipped when an already
//!    selected frame is closer than `min_translation_m` in position **and** than
//!    `min_rotation_deg` in orientation (angle of the relative rotation).
//! 3. **Enough objects**: the remaining frames are analysed (visibility + selection rules, in
//!    parallel) and kept when at least `min_valid_objects` objects are accepted.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geom::measure::ObjectMeasurement;
use crate::geom::select::{
    check_before_alone_render, check_before_pixels, merge_counts, select_objects, RejectionCounts,
    SelectionRules,
};
use crate::geom::visibility::{
    camera_renderable, visibility_from_view_where, InstanceVisibility, Measure, VisibilityConfig,
};
use crate::render::{render_culled, FaceGroups, RenderedView};
use crate::scene::{Camera, Frame, Pose, Scene};

/// Settings of view selection (plain data).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewSelectionConfig {
    /// Take every `frame_stride`-th frame (0 is treated as 1).
    pub frame_stride: usize,
    /// Frames closer than this to a selected frame (and within `min_rotation_deg`) are skipped.
    pub min_translation_m: f64,
    /// Frames rotated less than this from a selected frame (and within `min_translation_m`)
    /// are skipped.
    pub min_rotation_deg: f64,
    /// A view needs at least this many accepted objects.
    pub min_valid_objects: usize,
    /// Keep at most this many views (the first ones in frame order); `None` = all.
    pub max_views: Option<usize>,
    /// Image on which visibility is analysed (pixel thresholds are in its pixels).
    #[serde(default)]
    pub analysis_resolution: AnalysisResolution,
}

/// Resolution of the visibility analysis: the colour image, or the colour camera resized to
/// the depth sensor's resolution when the source has one (ScanNet: 640x480, about 4x fewer
/// pixels than 1296x968, and the resolution of the dataset's `depth` column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisResolution {
    #[default]
    Color,
    Depth,
}

/// The camera visibility is analysed with: the colour camera's pose and field of view, at the
/// resolution `mode` asks for.
pub fn analysis_camera(frame: &Frame, mode: AnalysisResolution) -> Camera {
    let model = match (mode, frame.depth) {
        (AnalysisResolution::Depth, Some(depth)) => frame.color.resized(depth.width, depth.height),
        _ => frame.color,
    };
    Camera {
        model,
        world_from_camera: frame.world_from_camera,
    }
}

impl Default for ViewSelectionConfig {
    fn default() -> Self {
        ViewSelectionConfig {
            frame_stride: 10,
            min_translation_m: 0.25,
            min_rotation_deg: 15.0,
            min_valid_objects: 1,
            max_views: None,
            analysis_resolution: AnalysisResolution::Color,
        }
    }
}

/// One selected view with its accepted objects (sorted by instance id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectedView {
    /// Index into `Scene::frames`.
    pub frame_index: usize,
    pub frame_id: String,
    pub objects: Vec<InstanceVisibility>,
    /// Every instance seen in the view, accepted or not (sorted by id); not serialised.
    #[serde(skip)]
    pub visible: Vec<InstanceVisibility>,
}

/// What happened to the frames and objects of one scene.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ViewSelectionStats {
    pub frames_total: u64,
    pub after_stride: u64,
    pub after_pose_diversity: u64,
    pub too_few_objects: u64,
    pub selected: u64,
    /// Object rejections over every analysed frame (also frames later dropped).
    pub object_rejections: RejectionCounts,
}

/// Angle of the rotation between two poses, degrees.
pub fn rotation_between_deg(a: &Pose, b: &Pose) -> f64 {
    a.rotation.angle_to(&b.rotation).to_degrees()
}

/// Distance between two camera centres, metres.
pub fn translation_between_m(a: &Pose, b: &Pose) -> f64 {
    (a.translation.vector - b.translation.vector).norm()
}

/// Steps 1 and 2: indices into `frames` after the stride and the pose-diversity filter.
pub fn pose_diverse_frames(frames: &[Frame], config: &ViewSelectionConfig) -> Vec<usize> {
    let stride = config.frame_stride.max(1);
    let mut selected: Vec<usize> = Vec::new();
    for index in (0..frames.len()).step_by(stride) {
        let pose = &frames[index].world_from_camera;
        let too_close = selected.iter().any(|&s| {
            let other = &frames[s].world_from_camera;
            translation_between_m(pose, other) < config.min_translation_m
                && rotation_between_deg(pose, other) < config.min_rotation_deg
        });
        if !too_close {
            selected.push(index);
        }
    }
    selected
}

/// All three steps. Frames are analysed in parallel; output follows frame order.
pub fn select_views(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    rules: &SelectionRules,
    visibility: &VisibilityConfig,
    config: &ViewSelectionConfig,
) -> (Vec<SelectedView>, ViewSelectionStats) {
    let (views, stats) = select(scene, measurements, rules, visibility, config, false);
    (views.into_iter().map(|(view, _)| view).collect(), stats)
}

/// [`select_views`], also returning each selected view's whole-mesh render (analysis camera,
/// `visibility.render` settings), so a caller that needs that very render (the depth column
/// of `msmu build`) does not rasterize the frame again. Renders of frames that are not
/// selected are dropped as soon as their frame is analysed. A view whose camera cannot be
/// rendered (selectable only with `min_valid_objects = 0`) comes without one.
pub fn select_views_keeping_renders(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    rules: &SelectionRules,
    visibility: &VisibilityConfig,
    config: &ViewSelectionConfig,
) -> (
    Vec<(SelectedView, Option<RenderedView>)>,
    ViewSelectionStats,
) {
    select(scene, measurements, rules, visibility, config, true)
}

fn select(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    rules: &SelectionRules,
    visibility: &VisibilityConfig,
    config: &ViewSelectionConfig,
    keep_renders: bool,
) -> (
    Vec<(SelectedView, Option<RenderedView>)>,
    ViewSelectionStats,
) {
    let stride = config.frame_stride.max(1);
    let candidates = pose_diverse_frames(&scene.frames, config);
    // Built once per scene: each view's render skips the groups outside its frustum.
    let groups = FaceGroups::new(&scene.mesh);
    struct Analysed {
        index: usize,
        accepted: Vec<InstanceVisibility>,
        visible: Vec<InstanceVisibility>,
        counts: RejectionCounts,
        render: Option<RenderedView>,
    }
    let analysed: Vec<Analysed> = candidates
        .par_iter()
        .map(|&index| {
            let camera = analysis_camera(&scene.frames[index], config.analysis_resolution);
            let view = camera_renderable(&camera)
                .then(|| render_culled(&groups, &scene.face_instance, &camera, &visibility.render))
                .and_then(Result::ok);
            let (visible, render) = if let Some(view) = view {
                // Instances that selection rejects on label, size or visible pixels are not
                // rendered alone: their occlusion and truncation cannot change the outcome.
                // Those it rejects on label or size alone are not back-projected either:
                // nothing reads their dimension coverage.
                let measure = Measure {
                    dimensions: &|id| check_before_pixels(scene, measurements, id, rules).is_none(),
                    alone: &|id, visible_px| {
                        check_before_alone_render(scene, measurements, id, visible_px, rules)
                            .is_none()
                    },
                };
                let vis = visibility_from_view_where(
                    scene,
                    measurements,
                    &camera,
                    &view,
                    visibility,
                    &measure,
                );
                (vis, Some(view))
            } else {
                (Vec::new(), None)
            };
            let (accepted, counts) = select_objects(scene, measurements, &visible, rules);
            let keep = keep_renders && accepted.len() >= config.min_valid_objects;
            Analysed {
                index,
                accepted,
                visible,
                counts,
                render: render.filter(|_| keep),
            }
        })
        .collect();
    let mut stats = ViewSelectionStats {
        frames_total: scene.frames.len() as u64,
        after_stride: scene.frames.len().div_ceil(stride) as u64,
        after_pose_diversity: candidates.len() as u64,
        ..ViewSelectionStats::default()
    };
    let mut views = Vec::new();
    for frame in analysed {
        merge_counts(&mut stats.object_rejections, &frame.counts);
        if frame.accepted.len() < config.min_valid_objects {
            stats.too_few_objects += 1;
            continue;
        }
        if config.max_views.is_some_and(|max| views.len() >= max) {
            continue;
        }
        let view = SelectedView {
            frame_index: frame.index,
            frame_id: scene.frames[frame.index].id.clone(),
            objects: frame.accepted,
            visible: frame.visible,
        };
        views.push((view, frame.render));
    }
    stats.selected = views.len() as u64;
    (views, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::fixtures::{look_at_camera, scene_from_objects, BoxSpec};
    use crate::geom::measure::measure_scene;

    fn frame(id: usize, eye: [f64; 3], target: [f64; 3]) -> Frame {
        let camera = look_at_camera(eye, target, 160, 120, 100.0);
        Frame {
            id: id.to_string(),
            world_from_camera: camera.world_from_camera,
            color: camera.model,
            depth: None,
            color_image: None,
            sensor_depth: None,
        }
    }

    #[test]
    fn stride_diversity_and_object_count() {
        let chair = BoxSpec {
            center: [0.0, 0.0, 0.5],
            size: [0.6, 0.5, 1.0],
            yaw_rad: 0.3,
        };
        let mut scene = scene_from_objects(&[(chair, "chair")]);
        scene.frames = vec![
            frame(0, [0.0, -3.0, 0.5], [0.0, 0.0, 0.5]),  // kept
            frame(1, [0.05, -3.0, 0.5], [0.0, 0.0, 0.5]), // removed by stride
            frame(2, [0.1, -3.0, 0.5], [0.0, 0.0, 0.5]),  // too close to 0: skipped
            frame(3, [0.0, -3.0, 0.5], [5.0, 0.0, 0.5]),  // removed by stride
            frame(4, [0.0, -3.0, 0.5], [3.0, -3.0, 0.5]), // same place, turned 90 degrees: kept, sees nothing
            frame(5, [0.0, 0.0, 0.5], [0.0, 1.0, 0.5]),   // removed by stride
            frame(6, [3.0, 0.0, 0.5], [0.0, 0.0, 0.5]),   // moved: kept
        ];
        let config = ViewSelectionConfig {
            frame_stride: 2,
            ..ViewSelectionConfig::default()
        };
        assert_eq!(pose_diverse_frames(&scene.frames, &config), vec![0, 4, 6]);
        let m = measure_scene(&scene);
        let (views, stats) = select_views(
            &scene,
            &m,
            &SelectionRules::default(),
            &VisibilityConfig::default(),
            &config,
        );
        assert_eq!(
            views
                .iter()
                .map(|v| v.frame_id.as_str())
                .collect::<Vec<_>>(),
            vec!["0", "6"]
        );
        assert_eq!(
            (
                stats.frames_total,
                stats.after_stride,
                stats.after_pose_diversity,
                stats.too_few_objects,
                stats.selected
            ),
            (7, 4, 3, 1, 2)
        );
        assert!(views.iter().all(|v| v.objects.len() == 1));
        let capped = ViewSelectionConfig {
            max_views: Some(1),
            ..config
        };
        let (views, _) = select_views(
            &scene,
            &m,
            &SelectionRules::default(),
            &VisibilityConfig::default(),
            &capped,
        );
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].frame_index, 0);
    }
}
