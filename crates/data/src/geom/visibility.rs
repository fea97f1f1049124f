//! Per-view visibility of every object: depth-tested visible pixels, occlusion, truncation by
//! the image border, 2D box, mask centroid and which of length / width / height can be seen.
//!
//! Method, per frame (all from the z-buffer rasterizer, no sensor data):
//! - The whole mesh is rendered once. An instance's **visible pixels** are the pixels whose
//!   nearest surface belongs to it.
//! - Each candidate instance (at least `min_candidate_pixels` visible pixels) is rendered once
//!   **alone** in an enlarged virtual image: the same focal lengths and the image extended by
//!   `(fov_scale - 1) / 2` image widths / heights on every side (a `fov_scale = 3` image covers
//!   three times the field of view), implemented by a wider image with shifted `cx`, `cy`. The
//!   virtual image is cropped to the instance's projected vertex bounds (the whole extended
//!   window when a vertex lies behind the near plane), so its pixel centres coincide with the
//!   real image's. Pixels of this render inside the real image are the **unoccluded pixels**;
//!   all of its pixels are the instance's projection, and **truncation** is the fraction of
//!   them outside the real image. Parts projecting beyond the enlarged window are not counted,
//!   so truncation is a lower bound for objects that wrap around the camera.
//! - If the cropped virtual image would exceed `max_virtual_pixels`, it is rendered at
//!   `1/k` resolution (integer `k`) for the truncation ratio only, and the unoccluded count
//!   comes from a separate render of the instance alone at the real resolution.
//! - **visible fraction** = visible / unoccluded (1 = not occluded at all).
//! - **Visible dimensions**: visible pixels are back-projected with their rendered depth into
//!   the world and projected on the object's gravity-aligned box axes; a dimension (length,
//!   width, height) counts as visible when the visible points span at least
//!   `min_dimension_coverage` (90 %, as in Multi-SpatialMLLM) of it. Pixel centres stop half
//!   a pixel short of the silhouette at each end, so the span is widened by half a pixel
//!   footprint (depth / focal length) at both extreme pixels.
//! - View selection skips the two costly steps (the render alone, the back-projection) for
//!   instances that object selection rejects without them ([`Measure`]); the pixel counts,
//!   box and centroid are always measured.

use nalgebra::{Point3, Vector3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geom::measure::ObjectMeasurement;
use crate::render::{
    check_render_size, faces_coverage, render, RenderConfig, RenderedView, MAX_COVERAGE_PIXELS,
};
use crate::scene::{Camera, CameraModel, InstanceId, Intrinsics, Scene};

/// Settings of the visibility stage (plain data).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VisibilityConfig {
    pub render: RenderConfig,
    /// How many times the field of view the truncation render covers (odd, >= 1).
    pub fov_scale: u32,
    /// Largest virtual image (pixels) rendered at full resolution for truncation.
    pub max_virtual_pixels: u64,
    /// Fraction of a box side the visible points must span for that side to count as visible.
    pub min_dimension_coverage: f64,
    /// Instances with fewer visible pixels are not analysed (not reported).
    pub min_candidate_pixels: u64,
}

impl Default for VisibilityConfig {
    fn default() -> Self {
        VisibilityConfig {
            render: RenderConfig::default(),
            fov_scale: 3,
            max_virtual_pixels: 1 << 22,
            min_dimension_coverage: 0.9,
            min_candidate_pixels: 1,
        }
    }
}

/// Which sides of the gravity-aligned box the visible part covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisibleDimensions {
    pub length: bool,
    pub width: bool,
    pub height: bool,
}

/// Visibility of one instance in one view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceVisibility {
    pub instance_id: InstanceId,
    /// Pixels where this instance is the nearest surface.
    pub visible_px: u64,
    /// Pixels the instance covers inside the image when rendered alone.
    pub unoccluded_px: u64,
    /// `visible_px / unoccluded_px`, in [0, 1].
    pub visible_fraction: f64,
    /// Fraction of the instance's projection (within the enlarged window) outside the image.
    pub truncation: f64,
    /// Whether the instance was rendered alone. When the caller said the render was not
    /// needed ([`visibility_from_view_where`]: object selection had already rejected the
    /// instance on its label, size or visible pixels), it was not: `unoccluded_px` is then
    /// `visible_px`, `visible_fraction` 1 and `truncation` 0, and none of them is measured.
    pub alone_measured: bool,
    /// Whether `dimension_coverage` and `visible_dimensions` were measured. When the caller
    /// said they were not needed ([`Measure::dimensions`]: object selection rejects the
    /// instance on its label or size in every view), they were not: the coverage is then 0 and
    /// no dimension counts as visible.
    pub dimensions_measured: bool,
    /// `[u_min, v_min, u_max, v_max]` of the visible pixels, inclusive pixel indices.
    pub bbox_px: [u32; 4],
    /// Mean of `((u + 0.5) / W, (v + 0.5) / H)` over the visible pixels.
    pub centroid_norm: [f64; 2],
    /// Span of the visible points along the box's length, width and height axes, divided by
    /// that side (0 for a zero side).
    pub dimension_coverage: [f64; 3],
    pub visible_dimensions: VisibleDimensions,
}

/// Per-instance sums over the visible pixels of the full render.
#[derive(Clone, Copy)]
struct PixelStats {
    count: u64,
    bbox: [u32; 4],
    sum_u: f64,
    sum_v: f64,
    /// Min / max of the back-projected points along the box axes.
    span_lo: [f64; 3],
    span_hi: [f64; 3],
    /// Depth of the pixels that set `span_lo` / `span_hi` (for the footprint correction).
    depth_at_lo: [f64; 3],
    depth_at_hi: [f64; 3],
}

impl PixelStats {
    fn new() -> Self {
        PixelStats {
            count: 0,
            bbox: [u32::MAX, u32::MAX, 0, 0],
            sum_u: 0.0,
            sum_v: 0.0,
            span_lo: [f64::INFINITY; 3],
            span_hi: [f64::NEG_INFINITY; 3],
            depth_at_lo: [0.0; 3],
            depth_at_hi: [0.0; 3],
        }
    }
}

/// Visibility of every instance seen in the view, sorted by id. Renders the whole mesh once
/// and each candidate instance once (candidates in parallel).
pub fn visibility_for_frame(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    camera: &Camera,
    config: &VisibilityConfig,
) -> Vec<InstanceVisibility> {
    if !camera_renderable(camera) {
        return Vec::new();
    }
    match render(&scene.mesh, &scene.face_instance, camera, &config.render) {
        Ok(view) => visibility_from_view(scene, measurements, camera, &view, config),
        Err(_) => Vec::new(),
    }
}

/// Whether a camera can be rendered at all (valid intrinsics, each image side 1 to
/// [`crate::io::MAX_IMAGE_SIDE`] pixels: [`crate::render::check_render_size`]); frames whose
/// camera is not see no object. The readers refuse larger images when they read them.
pub fn camera_renderable(camera: &Camera) -> bool {
    camera.model.intrinsics.is_valid() && check_render_size(camera).is_ok()
}

/// Instance id -> slot in the measurements, looked up once per pixel. A dense table while the
/// ids fit the 16-bit masks the readers enforce (at most 65,536 entries, 256 KiB); a sorted
/// list otherwise, so no table is ever sized by an arbitrary id a caller passes in.
enum SlotOfId {
    Dense(Vec<u32>),
    Sorted(Vec<(u32, u32)>),
}

impl SlotOfId {
    fn new(measurements: &[ObjectMeasurement]) -> SlotOfId {
        let max_id = measurements
            .iter()
            .map(|m| m.instance_id.0)
            .max()
            .unwrap_or(0);
        if max_id <= crate::io::MAX_INSTANCE_ID {
            let mut table = vec![u32::MAX; max_id as usize + 1];
            for (slot, m) in measurements.iter().enumerate() {
                table[m.instance_id.0 as usize] = slot as u32;
            }
            SlotOfId::Dense(table)
        } else {
            let mut pairs: Vec<(u32, u32)> = measurements
                .iter()
                .enumerate()
                .map(|(slot, m)| (m.instance_id.0, slot as u32))
                .collect();
            // The last measurement of an id wins, as in the dense table.
            pairs.sort_by_key(|&(id, _)| id);
            pairs.reverse();
            pairs.dedup_by_key(|p| p.0);
            pairs.reverse();
            SlotOfId::Sorted(pairs)
        }
    }

    #[inline]
    fn get(&self, id: u32) -> Option<u32> {
        match self {
            SlotOfId::Dense(table) => table.get(id as usize).copied().filter(|&s| s != u32::MAX),
            SlotOfId::Sorted(pairs) => pairs
                .binary_search_by_key(&id, |&(i, _)| i)
                .ok()
                .map(|k| pairs[k].1),
        }
    }
}

/// [`visibility_for_frame`] with the whole-mesh render already done (e.g. shared with the
/// mask writer).
pub fn visibility_from_view(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    camera: &Camera,
    view: &RenderedView,
    config: &VisibilityConfig,
) -> Vec<InstanceVisibility> {
    visibility_from_view_where(scene, measurements, camera, view, config, &Measure::ALL)
}

/// Which of the costly measurements [`visibility_from_view_where`] makes, per instance.
pub struct Measure<'a> {
    /// Whether the instance's visible pixels are back-projected for its dimension coverage
    /// ([`InstanceVisibility::dimensions_measured`]); asked once per instance and view, before
    /// the pixel pass.
    pub dimensions: &'a (dyn Fn(InstanceId) -> bool + Sync),
    /// Whether the instance, with this many visible pixels, is rendered alone for its
    /// unoccluded pixels and truncation ([`InstanceVisibility::alone_measured`]).
    pub alone: &'a (dyn Fn(InstanceId, u64) -> bool + Sync),
}

impl Measure<'static> {
    /// Every measurement of every instance.
    pub const ALL: Measure<'static> = Measure {
        dimensions: &|_| true,
        alone: &|_, _| true,
    };
}

/// [`visibility_from_view`] that renders an instance alone (for its unoccluded pixels and
/// truncation, the costly part: a wall alone fills the whole enlarged image) and back-projects
/// its pixels (for its dimension coverage: walls and floors hold most pixels of a view) only
/// when `measure` says the caller needs those numbers; see
/// [`InstanceVisibility::alone_measured`] and [`InstanceVisibility::dimensions_measured`].
pub fn visibility_from_view_where(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    camera: &Camera,
    view: &RenderedView,
    config: &VisibilityConfig,
    measure: &Measure,
) -> Vec<InstanceVisibility> {
    let slot_of_id = SlotOfId::new(measurements);
    let spans_wanted: Vec<bool> = measurements
        .iter()
        .map(|m| (measure.dimensions)(m.instance_id))
        .collect();
    let axes: Vec<[[f64; 3]; 3]> = measurements.iter().map(|m| m.obb_axes()).collect();
    let mut stats = vec![PixelStats::new(); measurements.len()];

    let k = camera.model.intrinsics;
    let rotation = camera.world_from_camera.rotation.to_rotation_matrix();
    let r = rotation.matrix();
    let t = camera.world_from_camera.translation.vector;
    let width = view.width as usize;
    // Per column and per row, the ray direction factors `(u - cx) / fx` and `(v - cy) / fy`
    // (the same expressions as per pixel, so the same values).
    let ray_x: Vec<f64> = (0..view.width).map(|u| (u as f64 - k.cx) / k.fx).collect();
    if width > 0 {
        for (v, (ids, depths)) in view
            .instance
            .chunks_exact(width)
            .zip(view.depth_m.chunks_exact(width))
            .enumerate()
        {
            let v = v as u32;
            let ray_y = (v as f64 - k.cy) / k.fy;
            // Runs of one id: counts, box and pixel sums once per run (the sums of pixel
            // indices are integers below 2^53, so adding them per run gives the same f64 as
            // adding them per pixel), the back-projection per pixel.
            let mut u0 = 0;
            while u0 < width {
                let id = ids[u0];
                let run = ids[u0..].iter().take_while(|&&x| x == id).count();
                let (first, last) = (u0, u0 + run - 1);
                u0 += run;
                if id == 0 {
                    continue;
                }
                let Some(slot) = slot_of_id.get(id) else {
                    continue;
                };
                let s = &mut stats[slot as usize];
                let n = run as u64;
                s.count += n;
                s.bbox = [
                    s.bbox[0].min(first as u32),
                    s.bbox[1].min(v),
                    s.bbox[2].max(last as u32),
                    s.bbox[3].max(v),
                ];
                s.sum_u += ((first + last) as u64 * n / 2) as f64;
                s.sum_v += (v as u64 * n) as f64;
                if !spans_wanted[slot as usize] {
                    continue;
                }
                let axes = &axes[slot as usize];
                for (u, &depth) in (first..=last).zip(&depths[first..=last]) {
                    // Back-project the pixel centre at its depth, then into the world.
                    let z = depth as f64;
                    let p_cam = Vector3::new(ray_x[u] * z, ray_y * z, z);
                    let p_world = r * p_cam + t;
                    for (axis_idx, axis) in axes.iter().enumerate() {
                        let along = axis[0] * p_world.x + axis[1] * p_world.y + axis[2] * p_world.z;
                        if along < s.span_lo[axis_idx] {
                            s.span_lo[axis_idx] = along;
                            s.depth_at_lo[axis_idx] = z;
                        }
                        if along > s.span_hi[axis_idx] {
                            s.span_hi[axis_idx] = along;
                            s.depth_at_hi[axis_idx] = z;
                        }
                    }
                }
            }
        }
    }

    let candidates: Vec<usize> = (0..measurements.len())
        .filter(|&slot| stats[slot].count >= config.min_candidate_pixels.max(1))
        .collect();
    let (w, h) = (view.width as f64, view.height as f64);
    candidates
        .par_iter()
        .filter_map(|&slot| {
            let m = &measurements[slot];
            let s = &stats[slot];
            let instance = scene.instance(m.instance_id)?;
            let alone_measured = (measure.alone)(m.instance_id, s.count);
            let (unoccluded_px, truncation) = if alone_measured {
                let alone = projection_alone(
                    scene,
                    &instance.vertex_indices,
                    &instance.face_indices,
                    camera,
                    config,
                );
                // The alone render samples the same pixel centres, so visible <= unoccluded up
                // to float rounding of the shifted principal point; clamp to keep the invariant.
                let truncation = if alone.total_px > 0.0 {
                    ((alone.total_px - alone.in_image_weighted_px) / alone.total_px).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                (alone.in_image_px.max(s.count), truncation)
            } else {
                (s.count, 0.0)
            };
            let extents = [m.length_m, m.width_m, m.height_m];
            let mut dimension_coverage = [0.0; 3];
            let mut visible = [false; 3];
            let dimensions_measured = spans_wanted[slot];
            for a in (0..3).filter(|_| dimensions_measured) {
                // Pixel centres stop half a pixel short of the silhouette at each end: add half
                // a pixel footprint (depth / focal length) at both extreme pixels, so a fully
                // visible small object is not reported as partly visible.
                let focal = if a == 2 { k.fy } else { k.fx };
                let footprint = 0.5 * (s.depth_at_lo[a] + s.depth_at_hi[a]) / focal;
                let span = (s.span_hi[a] - s.span_lo[a]).max(0.0) + footprint;
                if extents[a] > 1e-9 {
                    dimension_coverage[a] = (span / extents[a]).min(1.0);
                    visible[a] = dimension_coverage[a] >= config.min_dimension_coverage;
                } else {
                    // A zero side is fully seen as soon as the object is.
                    dimension_coverage[a] = 1.0;
                    visible[a] = true;
                }
            }
            let n = s.count as f64;
            Some(InstanceVisibility {
                instance_id: m.instance_id,
                visible_px: s.count,
                unoccluded_px,
                visible_fraction: s.count as f64 / unoccluded_px as f64,
                truncation,
                alone_measured,
                dimensions_measured,
                bbox_px: s.bbox,
                centroid_norm: [(s.sum_u / n + 0.5) / w, (s.sum_v / n + 0.5) / h],
                dimension_coverage,
                visible_dimensions: VisibleDimensions {
                    length: visible[0],
                    width: visible[1],
                    height: visible[2],
                },
            })
        })
        .collect()
}

/// Pixel counts of one instance rendered alone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProjectionCounts {
    /// Pixels inside the real image, at the real resolution.
    pub in_image_px: u64,
    /// Inside-image pixels of the virtual render, weighted to real pixels (k^2 each).
    pub in_image_weighted_px: f64,
    /// All pixels of the virtual render, weighted to real pixels.
    pub total_px: f64,
    /// Downscale factor of the virtual render (1 = real resolution).
    pub scale_k: u32,
}

/// Renders the instance alone in the enlarged virtual image (see the module doc).
pub fn projection_alone(
    scene: &Scene,
    vertex_indices: &[u32],
    face_indices: &[u32],
    camera: &Camera,
    config: &VisibilityConfig,
) -> ProjectionCounts {
    let (width, height) = (camera.model.width as i64, camera.model.height as i64);
    let fov_scale = (config.fov_scale.max(1) | 1) as i64; // Odd, so pixel centres line up.
    let (margin_u, margin_v) = ((fov_scale - 1) / 2 * width, (fov_scale - 1) / 2 * height);
    let (mut u_lo, mut v_lo, mut u_hi, mut v_hi) = (
        -margin_u,
        -margin_v,
        width - 1 + margin_u,
        height - 1 + margin_v,
    );

    // Crop to the projected vertex bounds when every vertex is in front of the near plane.
    let mut bounds = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut behind = false;
    for &v in vertex_indices {
        let (u, vv, z) = camera.project(&scene.mesh.point(v));
        // NaN depth counts as behind too.
        if z.is_nan() || z < config.render.near_m || !u.is_finite() || !vv.is_finite() {
            behind = true;
            break;
        }
        bounds = [
            bounds[0].min(u),
            bounds[1].min(vv),
            bounds[2].max(u),
            bounds[3].max(vv),
        ];
    }
    if !behind && bounds[0].is_finite() {
        u_lo = u_lo.max(bounds[0].floor() as i64);
        v_lo = v_lo.max(bounds[1].floor() as i64);
        u_hi = u_hi.min(bounds[2].ceil() as i64);
        v_hi = v_hi.min(bounds[3].ceil() as i64);
    }
    let empty = ProjectionCounts {
        in_image_px: 0,
        in_image_weighted_px: 0.0,
        total_px: 0.0,
        scale_k: 1,
    };
    if u_lo > u_hi || v_lo > v_hi {
        return empty;
    }
    let (span_u, span_v) = ((u_hi - u_lo + 1) as u64, (v_hi - v_lo + 1) as u64);
    let n_px = span_u * span_v;
    // At most MAX_COVERAGE_PIXELS, so that `faces_coverage` accepts the virtual image.
    let max_px = config.max_virtual_pixels.clamp(1, MAX_COVERAGE_PIXELS);
    let scale_k = if n_px <= max_px {
        1
    } else {
        ((n_px as f64 / max_px as f64).sqrt().ceil() as u64).max(2)
    };
    let kf = scale_k as f64;

    // Virtual pixel i covers real coordinates u in [u_lo - 0.5 + i k, u_lo - 0.5 + (i + 1) k),
    // its centre at u = u_lo - 0.5 + (i + 0.5) k.
    let k = camera.model.intrinsics;
    let virtual_camera = Camera {
        model: CameraModel {
            intrinsics: Intrinsics {
                fx: k.fx / kf,
                fy: k.fy / kf,
                cx: (k.cx - u_lo as f64 + 0.5) / kf - 0.5,
                cy: (k.cy - v_lo as f64 + 0.5) / kf - 0.5,
            },
            width: span_u.div_ceil(scale_k) as u32,
            height: span_v.div_ceil(scale_k) as u32,
        },
        world_from_camera: camera.world_from_camera,
    };
    // The virtual pixels whose centre lies inside the real image. The centre coordinate is
    // monotonic in the pixel index, so they form one range of columns and one of rows.
    let inside = |n: u32, lo: i64, size: i64| {
        let centre = |i: u32| lo as f64 - 0.5 + (i as f64 + 0.5) * kf;
        let is_inside = |i: u32| {
            let c = centre(i);
            c >= -0.5 && c < size as f64 - 0.5
        };
        let first = (0..n).find(|&i| is_inside(i)).unwrap_or(n);
        let end = (first..n).find(|&i| !is_inside(i)).unwrap_or(n);
        first as usize..end as usize
    };
    let columns = inside(virtual_camera.model.width, u_lo, width);
    let rows = inside(virtual_camera.model.height, v_lo, height);
    // Neither count can be refused: the virtual image has at most MAX_COVERAGE_PIXELS pixels
    // (`max_px` above) and the real one passed `camera_renderable`. A library caller that
    // passes a camera of no pixels gets the empty counts.
    let Ok(alone) = faces_coverage(
        &scene.mesh,
        face_indices,
        &virtual_camera,
        &config.render,
        columns,
        rows,
    ) else {
        return empty;
    };
    let (total, in_image) = (alone.covered_px, alone.covered_in_rect_px);
    let weight = kf * kf;
    let in_image_px = if scale_k == 1 {
        in_image
    } else {
        match faces_coverage(
            &scene.mesh,
            face_indices,
            camera,
            &config.render,
            0..0,
            0..0,
        ) {
            Ok(coverage) => coverage.covered_px,
            Err(_) => return empty,
        }
    };
    ProjectionCounts {
        in_image_px,
        in_image_weighted_px: in_image as f64 * weight,
        total_px: total as f64 * weight,
        scale_k: scale_k as u32,
    }
}

/// World point seen at pixel `(u, v)` with camera-space depth `depth_m`.
pub fn back_project(camera: &Camera, u: f64, v: f64, depth_m: f64) -> Point3<f64> {
    let k = camera.model.intrinsics;
    let p = Point3::new(
        (u - k.cx) / k.fx * depth_m,
        (v - k.cy) / k.fy * depth_m,
        depth_m,
    );
    camera.world_from_camera * p
}

/// Looks an instance's visibility up in a list sorted by id.
pub fn find_visibility(list: &[InstanceVisibility], id: InstanceId) -> Option<&InstanceVisibility> {
    list.binary_search_by_key(&id, |v| v.instance_id)
        .ok()
        .map(|i| &list[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::fixtures::{look_at_camera, scene_from_objects, BoxSpec};
    use crate::geom::measure::measure_scene;

    const W: u32 = 160;
    const H: u32 = 120;
    const FX: f64 = 100.0;

    fn camera() -> Camera {
        // At y = -5 looking along +y, horizontal, at height 0.5.
        look_at_camera([0.0, -5.0, 0.5], [0.0, 0.0, 0.5], W, H, FX)
    }

    fn target() -> BoxSpec {
        BoxSpec {
            center: [0.0, 0.0, 0.5],
            size: [1.2, 1.0, 1.0],
            yaw_rad: 0.0,
        }
    }

    #[test]
    fn unoccluded_box() {
        let scene = scene_from_objects(&[(target(), "box")]);
        let m = measure_scene(&scene);
        let vis = visibility_for_frame(&scene, &m, &camera(), &VisibilityConfig::default());
        assert_eq!(vis.len(), 1);
        let v = &vis[0];
        assert_eq!(v.visible_px, v.unoccluded_px);
        assert_eq!(v.visible_fraction, 1.0);
        assert_eq!(v.truncation, 0.0);
        // Only the front face is seen: length (x) and height (z) visible, width (depth) not.
        assert_eq!(
            v.visible_dimensions,
            VisibleDimensions {
                length: true,
                width: false,
                height: true
            }
        );
        // Front face at depth 4.5: 1.2 m wide -> 1.2 * 100 / 4.5 = 26.7 px, centred.
        let expected_px = (1.2 * FX / 4.5) * (1.0 * FX / 4.5);
        assert!(
            (v.visible_px as f64 / expected_px - 1.0).abs() < 0.08,
            "{} vs {expected_px}",
            v.visible_px
        );
        assert!(
            (v.centroid_norm[0] - 0.5).abs() < 0.01 && (v.centroid_norm[1] - 0.5).abs() < 0.01,
            "{:?}",
            v.centroid_norm
        );
        assert!(v.bbox_px[0] < v.bbox_px[2] && v.bbox_px[1] < v.bbox_px[3]);
    }

    #[test]
    fn ids_beyond_the_mask_range_are_looked_up_without_a_table_of_that_size() {
        let scene = scene_from_objects(&[(target(), "box")]);
        let m = measure_scene(&scene);
        let small = visibility_for_frame(&scene, &m, &camera(), &VisibilityConfig::default());
        // The same scene with the instance renumbered near u32::MAX: a dense table would
        // need 16 GiB.
        let huge = u32::MAX - 1;
        let old = m[0].instance_id.0;
        let mut renumbered = scene.clone();
        for id in renumbered.face_instance.iter_mut().filter(|id| **id == old) {
            *id = huge;
        }
        // One instance: its renumbering keeps `instances` sorted by id.
        renumbered.instances[0].id = InstanceId(huge);
        let mut m2 = m.clone();
        m2[0].instance_id = InstanceId(huge);
        let big = visibility_for_frame(&renumbered, &m2, &camera(), &VisibilityConfig::default());
        assert_eq!(big.len(), 1);
        assert_eq!(big[0].instance_id, InstanceId(huge));
        assert_eq!(big[0].visible_px, small[0].visible_px);
        assert_eq!(big[0].bbox_px, small[0].bbox_px);
    }

    /// The target box (instance 1) half hidden by a thin panel (instance 2) at depth 3 that
    /// covers x >= 0 of its front face.
    fn half_occluded_scene() -> (Scene, Vec<ObjectMeasurement>) {
        let occluder = BoxSpec {
            center: [1.0, -2.0, 0.5],
            size: [2.0, 0.02, 3.0],
            yaw_rad: 0.0,
        };
        let scene = scene_from_objects(&[(target(), "box"), (occluder, "panel")]);
        let m = measure_scene(&scene);
        (scene, m)
    }

    #[test]
    fn half_occluded_box() {
        let (scene, m) = half_occluded_scene();
        let vis = visibility_for_frame(&scene, &m, &camera(), &VisibilityConfig::default());
        let v = find_visibility(&vis, InstanceId(1)).unwrap();
        assert!(
            (v.visible_fraction - 0.5).abs() < 0.05,
            "visible fraction {}",
            v.visible_fraction
        );
        assert_eq!(v.truncation, 0.0);
        assert!(!v.visible_dimensions.length && v.visible_dimensions.height);
        assert!(
            (v.dimension_coverage[0] - 0.5).abs() < 0.05,
            "{:?}",
            v.dimension_coverage
        );
        assert!(v.dimension_coverage[2] > 0.98, "{:?}", v.dimension_coverage);
        // The visible half is on the left of the image.
        assert!(v.centroid_norm[0] < 0.5);
    }

    #[test]
    fn instances_left_unmeasured_keep_their_pixel_statistics() {
        let (scene, m) = half_occluded_scene();
        let config = VisibilityConfig::default();
        let view = render(&scene.mesh, &scene.face_instance, &camera(), &config.render).unwrap();
        let all = visibility_from_view(&scene, &m, &camera(), &view, &config);
        // Neither measurement for the panel, no alone render for the box.
        let some = visibility_from_view_where(
            &scene,
            &m,
            &camera(),
            &view,
            &config,
            &Measure {
                dimensions: &|id| id != InstanceId(2),
                alone: &|id, _| id != InstanceId(1),
            },
        );
        assert_eq!(all.len(), 2);
        assert_eq!(some.len(), 2);
        for (a, s) in all.iter().zip(&some) {
            assert_eq!(
                (a.instance_id, a.visible_px, a.bbox_px, a.centroid_norm),
                (s.instance_id, s.visible_px, s.bbox_px, s.centroid_norm)
            );
            assert!(a.alone_measured && a.dimensions_measured);
        }
        let (box_all, box_some) = (&all[0], &some[0]);
        assert!(!box_some.alone_measured && box_some.dimensions_measured);
        assert_eq!(box_some.unoccluded_px, box_some.visible_px);
        assert_eq!(box_some.dimension_coverage, box_all.dimension_coverage);
        assert_eq!(box_some.visible_dimensions, box_all.visible_dimensions);
        assert!(box_all.visible_fraction < 0.6);
        let (panel_all, panel_some) = (&all[1], &some[1]);
        assert!(panel_some.alone_measured && !panel_some.dimensions_measured);
        assert_eq!(panel_some.unoccluded_px, panel_all.unoccluded_px);
        assert_eq!(panel_some.truncation, panel_all.truncation);
        assert_eq!(panel_some.dimension_coverage, [0.0; 3]);
        assert_eq!(panel_some.visible_dimensions, VisibleDimensions::default());
        assert!(panel_all.visible_dimensions.height);
    }

    #[test]
    fn half_truncated_box() {
        // A flat 1 m square at depth 4.5 centred on the right image border: x / z = (W - 0.5 -
        // cx) / fx at the border.
        let cx = (W as f64 - 1.0) / 2.0;
        let x_border = (W as f64 - 0.5 - cx) / FX * 4.5;
        let square = BoxSpec {
            center: [x_border, -0.5, 0.5],
            size: [1.0, 0.001, 1.0],
            yaw_rad: 0.0,
        };
        let scene = scene_from_objects(&[(square, "picture")]);
        let m = measure_scene(&scene);
        for max_virtual_pixels in [1 << 22, 200] {
            let config = VisibilityConfig {
                max_virtual_pixels,
                ..VisibilityConfig::default()
            };
            let vis = visibility_for_frame(&scene, &m, &camera(), &config);
            let v = &vis[0];
            assert!(
                (v.truncation - 0.5).abs() < 0.05,
                "truncation {} (max px {max_virtual_pixels})",
                v.truncation
            );
            assert_eq!(v.visible_fraction, 1.0);
            assert_eq!(v.bbox_px[2], W - 1);
        }
    }

    #[test]
    fn back_projection_round_trips() {
        let cam = camera();
        let p = back_project(&cam, 12.0, 80.0, 3.25);
        let (u, v, z) = cam.project(&p);
        assert!((u - 12.0).abs() < 1e-9 && (v - 80.0).abs() < 1e-9 && (z - 3.25).abs() < 1e-12);
    }
}
