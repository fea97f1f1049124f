//! Object measurements: the axis-aligned box, the gravity-aligned oriented box (length, width,
//! height, yaw, centre), surface area and counts of every instance of a scene.
//!
//! Definitions (also in ARCHITECTURE.md and the dataset card):
//! - The **gravity-aligned box** of an object is the box with two horizontal and one vertical
//!   (+Z) axis whose floor rectangle is the minimum-area rectangle enclosing the object's
//!   vertices projected on the floor plane (z dropped), extruded over the vertices' z range.
//! - `length_m` is the longer horizontal side of that box, `width_m` the shorter one and
//!   `height_m` its vertical extent (max z - min z).
//! - `yaw_rad` is the direction of the length side, measured from +X towards +Y, in [0, pi)
//!   (a side has no orientation, so yaw is defined modulo pi). For a square floor rectangle
//!   the yaw is taken in [0, pi/2).
//! - `center` is the centre of the box: the centre of the floor rectangle, at the middle of
//!   the z range. It is not the vertex centroid.
//!
//! Every computation runs in `f64` on the mesh's `f32` vertices.

use nalgebra::Point3;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::scene::{InstanceId, Mesh, Scene};

/// Relative tolerance under which two candidate rectangle areas count as a tie, and two sides
/// as equal. Ties are then broken by the smaller yaw, so the result does not depend on which
/// hull edge happened to be visited first.
const TIE_REL_TOL: f64 = 1e-12;

/// Measurements of one instance, in metres / square metres / radians, aligned frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeasurement {
    pub instance_id: InstanceId,
    /// Axis-aligned box of the instance's vertices.
    pub aabb_min: [f64; 3],
    pub aabb_max: [f64; 3],
    /// Centre of the axis-aligned box.
    pub aabb_center: [f64; 3],
    /// Longer horizontal side of the gravity-aligned box.
    pub length_m: f64,
    /// Shorter horizontal side of the gravity-aligned box.
    pub width_m: f64,
    /// Vertical extent (max z - min z).
    pub height_m: f64,
    /// Direction of the length side from +X towards +Y, in [0, pi).
    pub yaw_rad: f64,
    /// Centre of the gravity-aligned box.
    pub center: [f64; 3],
    /// Sum of the areas of the instance's faces.
    pub surface_area_m2: f64,
    pub n_vertices: usize,
    pub n_faces: usize,
}

impl ObjectMeasurement {
    /// The same object stated with its axis-aligned box (the official MSMU convention):
    /// length and width are the longer and shorter of the x and y extents, yaw is 0 (length
    /// along x) or pi/2 (along y), the centre is the box centre. Exact for the box, larger
    /// than the gravity-aligned sides for a rotated object.
    pub fn axis_aligned(&self) -> ObjectMeasurement {
        let dx = self.aabb_max[0] - self.aabb_min[0];
        let dy = self.aabb_max[1] - self.aabb_min[1];
        let (length_m, width_m, yaw_rad) = if dx >= dy {
            (dx, dy, 0.0)
        } else {
            (dy, dx, std::f64::consts::FRAC_PI_2)
        };
        ObjectMeasurement {
            length_m,
            width_m,
            height_m: self.aabb_max[2] - self.aabb_min[2],
            yaw_rad,
            center: self.aabb_center,
            ..self.clone()
        }
    }

    /// Unit axes of the gravity-aligned box: (length direction, width direction, up).
    pub fn obb_axes(&self) -> [[f64; 3]; 3] {
        let (s, c) = self.yaw_rad.sin_cos();
        [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]
    }

    /// The 8 corners of the gravity-aligned box: bottom four then top four, each
    /// counter-clockwise seen from above, starting at (-length/2, -width/2).
    pub fn obb_corners(&self) -> [[f64; 3]; 8] {
        let [l_axis, w_axis, _] = self.obb_axes();
        let (hl, hw, hh) = (self.length_m / 2.0, self.width_m / 2.0, self.height_m / 2.0);
        let mut out = [[0.0; 3]; 8];
        let signs = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)];
        for (level, dz) in [-hh, hh].into_iter().enumerate() {
            for (k, (sl, sw)) in signs.iter().enumerate() {
                out[level * 4 + k] = [
                    self.center[0] + sl * hl * l_axis[0] + sw * hw * w_axis[0],
                    self.center[1] + sl * hl * l_axis[1] + sw * hw * w_axis[1],
                    self.center[2] + dz,
                ];
            }
        }
        out
    }

    /// Bottom and top of the object (z range of its vertices).
    pub fn z_range(&self) -> (f64, f64) {
        (self.aabb_min[2], self.aabb_max[2])
    }
}

/// A rectangle in the floor plane: the footprint of a gravity-aligned box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FloorRect {
    /// Centre (x, y).
    pub center: [f64; 2],
    /// Longer side.
    pub length: f64,
    /// Shorter side.
    pub width: f64,
    /// Direction of the longer side from +X towards +Y, in [0, pi).
    pub yaw_rad: f64,
}

impl FloorRect {
    pub fn area(&self) -> f64 {
        self.length * self.width
    }
}

/// Convex hull of 2D points by Andrew's monotone chain, counter-clockwise, without duplicate
/// or collinear points. Returns 0, 1 or 2 points for degenerate input (2 = a segment).
/// `points` is sorted and deduplicated in place (it is the caller's scratch buffer).
pub fn convex_hull(points: &mut Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    points.retain(|p| p[0].is_finite() && p[1].is_finite());
    points.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    points.dedup();
    let n = points.len();
    if n <= 2 {
        return points.clone();
    }
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(2 * n);
    // `cross <= 0` pops collinear points too, so the hull has strictly convex corners only.
    for &p in points.iter() {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower_len = hull.len() + 1;
    for &p in points.iter().rev().skip(1) {
        while hull.len() >= lower_len && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
        {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop(); // The last point is the first one again.
    hull
}

/// z component of (b - a) x (c - a): > 0 when a, b, c turn counter-clockwise.
fn cross(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

fn dot(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

/// Yaw of a direction, folded into [0, pi).
fn fold_yaw(dir: [f64; 2]) -> f64 {
    let mut yaw = dir[1].atan2(dir[0]);
    if yaw < 0.0 {
        yaw += std::f64::consts::PI;
    }
    if yaw >= std::f64::consts::PI {
        yaw -= std::f64::consts::PI;
    }
    yaw
}

/// The rectangle with sides along `dir` (unit) and its normal spanned by `[lo_e, hi_e]` x
/// `[lo_n, hi_n]`, normalised so that `length >= width` and yaw in [0, pi) (in [0, pi/2) for
/// a square).
fn rect_from_extents(dir: [f64; 2], lo_e: f64, hi_e: f64, lo_n: f64, hi_n: f64) -> FloorRect {
    let normal = [-dir[1], dir[0]];
    let (mid_e, mid_n) = ((lo_e + hi_e) / 2.0, (lo_n + hi_n) / 2.0);
    let center = [
        dir[0] * mid_e + normal[0] * mid_n,
        dir[1] * mid_e + normal[1] * mid_n,
    ];
    let (ext_e, ext_n) = (hi_e - lo_e, hi_n - lo_n);
    let equal = (ext_e - ext_n).abs() <= TIE_REL_TOL * ext_e.max(ext_n);
    let (length, width, length_dir) = if equal {
        // A square: either side is "the length"; take the one with yaw in [0, pi/2).
        let yaw_e = fold_yaw(dir);
        let d = if yaw_e < std::f64::consts::FRAC_PI_2 {
            dir
        } else {
            normal
        };
        (ext_e.max(ext_n), ext_e.min(ext_n), d)
    } else if ext_e > ext_n {
        (ext_e, ext_n, dir)
    } else {
        (ext_n, ext_e, normal)
    };
    FloorRect {
        center,
        length,
        width,
        yaw_rad: fold_yaw(length_dir),
    }
}

/// Minimum-area enclosing rectangle of 2D points (convex hull + rotating calipers).
///
/// Degenerate input: no finite point gives `None`; one distinct point gives a zero-size
/// rectangle with yaw 0; collinear points give a zero-width rectangle along their line.
/// Equal-area candidates (within a relative 1e-12) are resolved by the smaller yaw.
pub fn min_area_rect(points: &[[f64; 2]]) -> Option<FloorRect> {
    let mut scratch = points.to_vec();
    min_area_rect_in_place(&mut scratch)
}

/// [`min_area_rect`] on a scratch buffer the function may reorder.
fn min_area_rect_in_place(points: &mut Vec<[f64; 2]>) -> Option<FloorRect> {
    let hull = convex_hull(points);
    match hull.len() {
        0 => None,
        1 => Some(FloorRect {
            center: hull[0],
            length: 0.0,
            width: 0.0,
            yaw_rad: 0.0,
        }),
        2 => {
            let d = [hull[1][0] - hull[0][0], hull[1][1] - hull[0][1]];
            let len = d[0].hypot(d[1]);
            let dir = [d[0] / len, d[1] / len];
            let (a, b) = (dot(dir, hull[0]), dot(dir, hull[1]));
            let n = dot([-dir[1], dir[0]], hull[0]);
            Some(rect_from_extents(dir, a.min(b), a.max(b), n, n))
        }
        _ => Some(rotating_calipers(&hull)),
    }
}

/// Rotating calipers over a strictly convex counter-clockwise hull of >= 3 points: the
/// minimum-area rectangle has a side collinear with a hull edge, so one rectangle per edge is
/// evaluated, with the three support points advanced monotonically (O(h) overall).
fn rotating_calipers(hull: &[[f64; 2]]) -> FloorRect {
    let h = hull.len();
    let edge_dir = |i: usize| {
        let (a, b) = (hull[i], hull[(i + 1) % h]);
        let d = [b[0] - a[0], b[1] - a[1]];
        let len = d[0].hypot(d[1]);
        [d[0] / len, d[1] / len]
    };
    // Support indices: farthest along the edge (right), farthest from it (top), and
    // smallest along the edge (left). Start them for edge 0 by a full scan.
    let d0 = edge_dir(0);
    let n0 = [-d0[1], d0[0]];
    let argmax = |f: &dyn Fn(usize) -> f64| {
        let mut best = 0;
        for i in 1..h {
            if f(i) > f(best) {
                best = i;
            }
        }
        best
    };
    let mut right = argmax(&|i| dot(d0, hull[i]));
    let mut top = argmax(&|i| dot(n0, hull[i]));
    let mut left = argmax(&|i| -dot(d0, hull[i]));

    let mut best: Option<(f64, FloorRect)> = None;
    for i in 0..h {
        let dir = edge_dir(i);
        let normal = [-dir[1], dir[0]];
        // Advance each caliper while the next hull point improves its support function; the
        // functions are unimodal over a strictly convex polygon.
        while dot(dir, hull[(right + 1) % h]) > dot(dir, hull[right]) {
            right = (right + 1) % h;
        }
        while dot(normal, hull[(top + 1) % h]) > dot(normal, hull[top]) {
            top = (top + 1) % h;
        }
        while dot(dir, hull[(left + 1) % h]) < dot(dir, hull[left]) {
            left = (left + 1) % h;
        }
        let lo_e = dot(dir, hull[left]);
        let hi_e = dot(dir, hull[right]);
        let lo_n = dot(normal, hull[i]);
        let hi_n = dot(normal, hull[top]);
        let rect = rect_from_extents(dir, lo_e, hi_e, lo_n, hi_n);
        let area = rect.area();
        let better = match &best {
            None => true,
            Some((best_area, best_rect)) => {
                let tol = TIE_REL_TOL * best_area.max(area);
                area < best_area - tol
                    || (area <= best_area + tol && rect.yaw_rad < best_rect.yaw_rad)
            }
        };
        if better {
            best = Some((area, rect));
        }
    }
    best.expect("a hull with >= 3 points has edges").1
}

/// One enclosing rectangle per hull edge (side along that edge), by direct projection of
/// every hull point: O(h^2), a reference for tests of [`min_area_rect`] and for detecting
/// ties (an acute triangle has three equal-area rectangles).
pub fn rect_candidates(points: &[[f64; 2]]) -> Vec<FloorRect> {
    let mut scratch = points.to_vec();
    let hull = convex_hull(&mut scratch);
    if hull.len() < 3 {
        return min_area_rect(points).into_iter().collect();
    }
    (0..hull.len())
        .map(|i| {
            let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
            let d = [b[0] - a[0], b[1] - a[1]];
            let len = d[0].hypot(d[1]);
            let dir = [d[0] / len, d[1] / len];
            let normal = [-dir[1], dir[0]];
            let (mut lo_e, mut hi_e, mut lo_n, mut hi_n) = (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            );
            for p in &hull {
                lo_e = lo_e.min(dot(dir, *p));
                hi_e = hi_e.max(dot(dir, *p));
                lo_n = lo_n.min(dot(normal, *p));
                hi_n = hi_n.max(dot(normal, *p));
            }
            rect_from_extents(dir, lo_e, hi_e, lo_n, hi_n)
        })
        .collect()
}

/// Gravity-aligned box of 3D points: floor rectangle + z range. `None` for no finite point.
pub fn gravity_box(points: &[[f64; 3]]) -> Option<(FloorRect, f64, f64)> {
    let mut scratch: Vec<[f64; 2]> = points.iter().map(|p| [p[0], p[1]]).collect();
    let rect = min_area_rect_in_place(&mut scratch)?;
    let (mut z_lo, mut z_hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for p in points.iter().filter(|p| p.iter().all(|c| c.is_finite())) {
        z_lo = z_lo.min(p[2]);
        z_hi = z_hi.max(p[2]);
    }
    Some((rect, z_lo, z_hi))
}

/// Area of one triangle, f64.
pub fn triangle_area(a: &Point3<f64>, b: &Point3<f64>, c: &Point3<f64>) -> f64 {
    0.5 * (b - a).cross(&(c - a)).norm()
}

/// Measures one instance given its vertex and face lists. `None` when it has no vertex.
pub fn measure_instance(
    mesh: &Mesh,
    instance_id: InstanceId,
    vertex_indices: &[u32],
    face_indices: &[u32],
) -> Option<ObjectMeasurement> {
    if vertex_indices.is_empty() {
        return None;
    }
    let mut aabb_min = [f64::INFINITY; 3];
    let mut aabb_max = [f64::NEG_INFINITY; 3];
    let mut floor_points = Vec::with_capacity(vertex_indices.len());
    for &v in vertex_indices {
        let p = mesh.point(v);
        for k in 0..3 {
            aabb_min[k] = aabb_min[k].min(p[k]);
            aabb_max[k] = aabb_max[k].max(p[k]);
        }
        floor_points.push([p.x, p.y]);
    }
    let rect = min_area_rect_in_place(&mut floor_points)?;
    let surface_area_m2 = face_indices
        .iter()
        .map(|&f| {
            let [a, b, c] = mesh.triangles[f as usize];
            triangle_area(&mesh.point(a), &mesh.point(b), &mesh.point(c))
        })
        .sum();
    let aabb_center = [0, 1, 2].map(|k| (aabb_min[k] + aabb_max[k]) / 2.0);
    Some(ObjectMeasurement {
        instance_id,
        aabb_min,
        aabb_max,
        aabb_center,
        length_m: rect.length,
        width_m: rect.width,
        height_m: aabb_max[2] - aabb_min[2],
        yaw_rad: rect.yaw_rad,
        center: [rect.center[0], rect.center[1], aabb_center[2]],
        surface_area_m2,
        n_vertices: vertex_indices.len(),
        n_faces: face_indices.len(),
    })
}

/// Measures every instance of the scene (in parallel), sorted by instance id. Instances
/// without any vertex cannot be measured and are left out.
pub fn measure_scene(scene: &Scene) -> Vec<ObjectMeasurement> {
    let mut out: Vec<ObjectMeasurement> = scene
        .instances
        .par_iter()
        .filter_map(|inst| {
            measure_instance(
                &scene.mesh,
                inst.id,
                &inst.vertex_indices,
                &inst.face_indices,
            )
        })
        .collect();
    out.sort_by_key(|m| m.instance_id);
    out
}

/// Looks a measurement up by id in a list sorted by id (what [`measure_scene`] returns).
pub fn find_measurement(
    measurements: &[ObjectMeasurement],
    id: InstanceId,
) -> Option<&ObjectMeasurement> {
    measurements
        .binary_search_by_key(&id, |m| m.instance_id)
        .ok()
        .map(|i| &measurements[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::fixtures::{box_mesh, scene_from_objects, BoxSpec};
    use std::f64::consts::PI;

    fn check_rect(points: &[[f64; 2]], length: f64, width: f64, yaw: f64, center: [f64; 2]) {
        let r = min_area_rect(points).unwrap();
        assert!(
            (r.length - length).abs() < 1e-9,
            "length {} != {length}",
            r.length
        );
        assert!(
            (r.width - width).abs() < 1e-9,
            "width {} != {width}",
            r.width
        );
        let dyaw = (r.yaw_rad - yaw).rem_euclid(PI);
        assert!(dyaw.min(PI - dyaw) < 1e-9, "yaw {} != {yaw}", r.yaw_rad);
        assert!(
            (r.center[0] - center[0]).abs() < 1e-9 && (r.center[1] - center[1]).abs() < 1e-9,
            "center {:?}",
            r.center
        );
    }

    #[test]
    fn yawed_rectangle_exact() {
        // Length 5 along (0.8, 0.6), width 2.5: every corner is exactly representable.
        let pts = [[0.0, 0.0], [4.0, 3.0], [2.5, 5.0], [-1.5, 2.0]];
        check_rect(&pts, 5.0, 2.5, 3f64.atan2(4.0), [1.25, 2.5]);
    }

    #[test]
    fn l_shape_and_interior_points() {
        // An L (3 x 1 arm plus 1 x 3 arm) with interior points. Its hull is the pentagon
        // (0,0) (3,0) (3,1) (1,3) (0,3): the axis-aligned 3 x 3 square (area 9) beats the
        // rectangle on the diagonal edge (area 12).
        let pts = [
            [0.0, 0.0],
            [3.0, 0.0],
            [3.0, 1.0],
            [1.0, 1.0],
            [1.0, 3.0],
            [0.0, 3.0],
            [0.5, 0.5],
            [2.0, 0.5],
        ];
        check_rect(&pts, 3.0, 3.0, 0.0, [1.5, 1.5]);
        let r = min_area_rect(&pts).unwrap();
        // Brute force over many angles agrees with the calipers.
        let mut best = f64::INFINITY;
        for k in 0..200_000 {
            let a = k as f64 * PI / 200_000.0;
            let (s, c) = a.sin_cos();
            let (mut lo_e, mut hi_e, mut lo_n, mut hi_n) = (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            );
            for p in &pts {
                let e = c * p[0] + s * p[1];
                let n = -s * p[0] + c * p[1];
                lo_e = lo_e.min(e);
                hi_e = hi_e.max(e);
                lo_n = lo_n.min(n);
                hi_n = hi_n.max(n);
            }
            best = best.min((hi_e - lo_e) * (hi_n - lo_n));
        }
        assert!(
            r.area() <= best + 1e-9 && r.area() >= best - 1e-6,
            "{} vs {best}",
            r.area()
        );
    }

    #[test]
    fn collinear_duplicate_and_single_points() {
        check_rect(
            &[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [1.0, 1.0], [0.5, 0.5]],
            8f64.sqrt(),
            0.0,
            PI / 4.0,
            [1.0, 1.0],
        );
        check_rect(&[[1.0, 2.0], [1.0, 2.0]], 0.0, 0.0, 0.0, [1.0, 2.0]);
        check_rect(&[[0.0, 1.0], [0.0, -1.0]], 2.0, 0.0, PI / 2.0, [0.0, 0.0]);
        assert!(min_area_rect(&[]).is_none());
        assert!(min_area_rect(&[[f64::NAN, 0.0]]).is_none());
    }

    #[test]
    fn square_yaw_is_deterministic() {
        // A square rotated by 100 degrees: yaw must land in [0, pi/2) whatever the start edge.
        let a = 100f64.to_radians();
        let (s, c) = a.sin_cos();
        let pts: Vec<[f64; 2]> = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]
            .iter()
            .map(|p| [c * p[0] - s * p[1], s * p[0] + c * p[1]])
            .collect();
        let r = min_area_rect(&pts).unwrap();
        assert!(
            (r.yaw_rad - 10f64.to_radians()).abs() < 1e-9,
            "{}",
            r.yaw_rad
        );
    }

    #[test]
    fn yawed_box_mesh_measurement() {
        // The exact rectangle above, 0.75 m high from z = 0.5, and the same box rotated by pi.
        for flip in [false, true] {
            let yaw = 3f64.atan2(4.0) + if flip { PI } else { 0.0 };
            let spec = BoxSpec {
                center: [1.25, 2.5, 0.875],
                size: [5.0, 2.5, 0.75],
                yaw_rad: yaw,
            };
            let scene = scene_from_objects(&[(spec, "table")]);
            let m = &measure_scene(&scene)[0];
            assert_eq!(m.instance_id, InstanceId(1));
            assert!((m.length_m - 5.0).abs() < 1e-6 && (m.width_m - 2.5).abs() < 1e-6);
            assert!((m.height_m - 0.75).abs() < 1e-9);
            assert!((m.yaw_rad - 3f64.atan2(4.0)).abs() < 1e-6, "{}", m.yaw_rad);
            assert!((m.surface_area_m2 - 2.0 * (5.0 * 2.5 + 5.0 * 0.75 + 2.5 * 0.75)).abs() < 1e-5);
            assert_eq!((m.n_vertices, m.n_faces), (8, 12));
            for k in 0..3 {
                assert!((m.center[k] - spec.center[k]).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn axis_aligned_statement_of_a_rotated_box() {
        // 5 x 2.5 x 0.75 rotated so that cos = 0.8, sin = 0.6: the axis-aligned box is
        // 5 * 0.8 + 2.5 * 0.6 = 5.5 (x) by 5 * 0.6 + 2.5 * 0.8 = 5.0 (y).
        let spec = BoxSpec {
            center: [1.25, 2.5, 0.875],
            size: [5.0, 2.5, 0.75],
            yaw_rad: 3f64.atan2(4.0),
        };
        let scene = scene_from_objects(&[(spec, "table")]);
        let exact = &measure_scene(&scene)[0];
        let aa = exact.axis_aligned();
        assert!((aa.length_m - 5.5).abs() < 1e-6, "{}", aa.length_m);
        assert!((aa.width_m - 5.0).abs() < 1e-6, "{}", aa.width_m);
        assert!((aa.height_m - 0.75).abs() < 1e-9);
        assert_eq!(aa.yaw_rad, 0.0);
        for k in 0..3 {
            assert!((aa.center[k] - spec.center[k]).abs() < 1e-6);
        }
        // Longer along y: yaw pi/2. An unrotated box is stated as it is.
        let tall_y = BoxSpec {
            size: [1.0, 3.0, 0.5],
            yaw_rad: 0.0,
            ..spec
        };
        let m = measure_scene(&scene_from_objects(&[(tall_y, "bed")])).remove(0);
        let aa = m.axis_aligned();
        assert!((aa.length_m - 3.0).abs() < 1e-6 && (aa.width_m - 1.0).abs() < 1e-6);
        assert_eq!(aa.yaw_rad, std::f64::consts::FRAC_PI_2);
        assert!((m.length_m - aa.length_m).abs() < 1e-6 && (m.width_m - aa.width_m).abs() < 1e-6);
    }

    #[test]
    fn yawed_box_exact_corners() {
        // Corners exactly representable in f32, so the f64 measurement is exact to 1e-9.
        let floor = [[0.0f32, 0.0], [4.0, 3.0], [2.5, 5.0], [-1.5, 2.0]];
        let mut mesh = box_mesh(&BoxSpec {
            center: [0.0, 0.0, 0.0],
            size: [1.0, 1.0, 1.0],
            yaw_rad: 0.0,
        });
        // Overwrite the corners: box_mesh orders bottom 4 then top 4, ccw from (-,-).
        for (i, p) in mesh.positions_m.iter_mut().enumerate() {
            let f = floor[i % 4];
            *p = [f[0], f[1], if i < 4 { 0.5 } else { 1.25 }];
        }
        let m = measure_instance(
            &mesh,
            InstanceId(7),
            &(0..8).collect::<Vec<_>>(),
            &(0..12).collect::<Vec<_>>(),
        )
        .unwrap();
        assert!((m.length_m - 5.0).abs() < 1e-9);
        assert!((m.width_m - 2.5).abs() < 1e-9);
        assert!((m.height_m - 0.75).abs() < 1e-9);
        assert!((m.yaw_rad - 3f64.atan2(4.0)).abs() < 1e-9);
        assert!(
            (m.center[0] - 1.25).abs() < 1e-9
                && (m.center[1] - 2.5).abs() < 1e-9
                && (m.center[2] - 0.875).abs() < 1e-9
        );
        let corners = m.obb_corners();
        for c in &corners[..4] {
            assert!(floor
                .iter()
                .any(|f| (f[0] as f64 - c[0]).abs() < 1e-9 && (f[1] as f64 - c[1]).abs() < 1e-9));
        }
    }

    #[test]
    fn empty_instance_is_skipped() {
        let mesh = Mesh::default();
        assert!(measure_instance(&mesh, InstanceId(1), &[], &[]).is_none());
    }
}
