//! Distances between objects and from the camera, each with a name that says exactly which
//! distance it is ([`DistanceKind`]), so that no later stage can mix them up.
//!
//! Definitions (also in ARCHITECTURE.md and the dataset card):
//! - **center-to-center distance**: Euclidean distance between the centres of the two objects'
//!   gravity-aligned boxes ([`ObjectMeasurement::center`]).
//! - **closest-surface distance**: the smallest Euclidean distance between any point of one
//!   object's triangles and any point of the other's (exact triangle-triangle distance; 0 when
//!   the surfaces touch or intersect). Not a box or sampled distance.
//! - **camera-to-center distance**: from the camera's optical centre to the object's
//!   gravity-aligned box centre.
//! - **camera-to-closest-point distance**: from the camera's optical centre to the nearest
//!   point of the object's triangles (exact point-triangle distance).
//! - **vertical gap**: bottom of the upper object minus top of the lower one (z ranges of the
//!   vertices), 0 when the z ranges overlap.
//!
//! Mesh distances use a bounding volume hierarchy per instance, built once, and a
//! branch-and-bound traversal ordered by box-to-box distance lower bounds. Brute-force
//! references ([`brute_force_closest_pair`], [`brute_force_closest_point`]) are public so
//! tests can compare against them.

use nalgebra::{Point3, Vector3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geom::measure::ObjectMeasurement;
use crate::scene::{Camera, InstanceId, Mesh, Scene};

type V3 = Vector3<f64>;

/// Which distance a number is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistanceKind {
    CenterToCenter,
    ClosestSurface,
    CameraToCenter,
    CameraToClosestPoint,
    VerticalGap,
}

impl DistanceKind {
    pub const ALL: [DistanceKind; 5] = [
        DistanceKind::CenterToCenter,
        DistanceKind::ClosestSurface,
        DistanceKind::CameraToCenter,
        DistanceKind::CameraToClosestPoint,
        DistanceKind::VerticalGap,
    ];

    /// Human-readable name, used verbatim in reports and dataset metadata.
    pub fn name(&self) -> &'static str {
        match self {
            DistanceKind::CenterToCenter => "center-to-center distance",
            DistanceKind::ClosestSurface => "closest-surface distance",
            DistanceKind::CameraToCenter => "camera-to-center distance",
            DistanceKind::CameraToClosestPoint => "camera-to-closest-point distance",
            DistanceKind::VerticalGap => "vertical gap",
        }
    }
}

/// A distance together with its kind.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasuredDistance {
    pub kind: DistanceKind,
    pub distance_m: f64,
}

/// Nearest point pair between two surfaces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClosestPair {
    pub distance_m: f64,
    pub point_a: Point3<f64>,
    pub point_b: Point3<f64>,
}

/// Nearest surface point to a query point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClosestPoint {
    pub distance_m: f64,
    pub point: Point3<f64>,
}

/// A triangle as three f64 corners.
pub type Triangle = [V3; 3];

// ---------------------------------------------------------------------------------------------
// Primitive queries (Ericson, "Real-Time Collision Detection", 5.1.5 and 5.1.9).

/// Closest point of triangle `abc` to `p`. Degenerate (zero-area) triangles fall back to their
/// three edges, so the result is always finite for finite input.
pub fn closest_point_on_triangle(p: &V3, a: &V3, b: &V3, c: &V3) -> V3 {
    let ab = b - a;
    let ac = c - a;
    let ap = p - a;
    let d1 = ab.dot(&ap);
    let d2 = ac.dot(&ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return *a;
    }
    let bp = p - b;
    let d3 = ab.dot(&bp);
    let d4 = ac.dot(&bp);
    if d3 >= 0.0 && d4 <= d3 {
        return *b;
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        let v = d1 / (d1 - d3);
        return a + ab * v;
    }
    let cp = p - c;
    let d5 = ab.dot(&cp);
    let d6 = ac.dot(&cp);
    if d6 >= 0.0 && d5 <= d6 {
        return *c;
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        let w = d2 / (d2 - d6);
        return a + ac * w;
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        let w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
        return b + (c - b) * w;
    }
    let sum = va + vb + vc;
    if sum <= 0.0 || !sum.is_finite() {
        // Zero-area triangle: the closest point lies on one of its edges.
        let mut best = closest_point_on_segment(p, a, b);
        for (s, t) in [(b, c), (c, a)] {
            let q = closest_point_on_segment(p, s, t);
            if (q - p).norm_squared() < (best - p).norm_squared() {
                best = q;
            }
        }
        return best;
    }
    let denom = 1.0 / sum;
    let v = vb * denom;
    let w = vc * denom;
    a + ab * v + ac * w
}

/// Closest point of segment `ab` to `p`.
pub fn closest_point_on_segment(p: &V3, a: &V3, b: &V3) -> V3 {
    let ab = b - a;
    let len2 = ab.norm_squared();
    if len2 <= 0.0 {
        return *a;
    }
    let t = ((p - a).dot(&ab) / len2).clamp(0.0, 1.0);
    a + ab * t
}

/// Closest points between segments `p1 q1` and `p2 q2` (handles point-like segments and
/// parallel segments).
pub fn closest_points_segment_segment(p1: &V3, q1: &V3, p2: &V3, q2: &V3) -> (V3, V3) {
    let d1 = q1 - p1;
    let d2 = q2 - p2;
    let r = p1 - p2;
    let a = d1.norm_squared();
    let e = d2.norm_squared();
    let f = d2.dot(&r);
    // Scale-aware "zero length" threshold.
    let eps = 1e-300;
    let (s, t);
    if a <= eps && e <= eps {
        return (*p1, *p2);
    }
    if a <= eps {
        s = 0.0;
        t = (f / e).clamp(0.0, 1.0);
    } else {
        let c = d1.dot(&r);
        if e <= eps {
            t = 0.0;
            s = (-c / a).clamp(0.0, 1.0);
        } else {
            let b = d1.dot(&d2);
            let denom = a * e - b * b;
            // Parallel segments (denom ~ 0): any s works; pick 0 and let the clamping of t
            // and the recomputation of s find the closest pair.
            let mut s0 = if denom > 1e-14 * a * e {
                ((b * f - c * e) / denom).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let mut t0 = (b * s0 + f) / e;
            if t0 < 0.0 {
                t0 = 0.0;
                s0 = (-c / a).clamp(0.0, 1.0);
            } else if t0 > 1.0 {
                t0 = 1.0;
                s0 = ((b - c) / a).clamp(0.0, 1.0);
            }
            s = s0;
            t = t0;
        }
    }
    (p1 + d1 * s, p2 + d2 * t)
}

/// Where segment `pq` crosses triangle `abc`, if it does. Segments lying in the triangle's
/// plane return `None`: that case is covered by the edge-edge and vertex-face distances.
pub fn segment_triangle_intersection(p: &V3, q: &V3, a: &V3, b: &V3, c: &V3) -> Option<V3> {
    let n = (b - a).cross(&(c - a));
    if n.norm_squared() <= 0.0 {
        return None;
    }
    let dp = n.dot(&(p - a));
    let dq = n.dot(&(q - a));
    if (dp > 0.0 && dq > 0.0) || (dp < 0.0 && dq < 0.0) || (dp == 0.0 && dq == 0.0) {
        return None;
    }
    let t = dp / (dp - dq);
    let x = p + (q - p) * t;
    // Inside test with edge functions on the plane (all same sign as the normal).
    let inside = n.dot(&(b - a).cross(&(x - a))) >= 0.0
        && n.dot(&(c - b).cross(&(x - b))) >= 0.0
        && n.dot(&(a - c).cross(&(x - c))) >= 0.0;
    inside.then_some(x)
}

/// Exact squared distance between two triangles with the closest points. 0 when they touch
/// or intersect.
pub fn triangle_triangle_closest(ta: &Triangle, tb: &Triangle) -> (f64, V3, V3) {
    // Intersection: two triangles intersect iff an edge of one crosses the other (coplanar
    // overlaps give a zero edge-edge or vertex-face distance below).
    for i in 0..3 {
        let (p, q) = (&ta[i], &ta[(i + 1) % 3]);
        if let Some(x) = segment_triangle_intersection(p, q, &tb[0], &tb[1], &tb[2]) {
            return (0.0, x, x);
        }
        let (p, q) = (&tb[i], &tb[(i + 1) % 3]);
        if let Some(x) = segment_triangle_intersection(p, q, &ta[0], &ta[1], &ta[2]) {
            return (0.0, x, x);
        }
    }
    // Disjoint triangles: the closest pair is an edge-edge pair or a vertex-face pair.
    let mut best = (f64::INFINITY, ta[0], tb[0]);
    for i in 0..3 {
        for j in 0..3 {
            let (x, y) =
                closest_points_segment_segment(&ta[i], &ta[(i + 1) % 3], &tb[j], &tb[(j + 1) % 3]);
            let d2 = (x - y).norm_squared();
            if d2 < best.0 {
                best = (d2, x, y);
            }
        }
    }
    for i in 0..3 {
        let y = closest_point_on_triangle(&ta[i], &tb[0], &tb[1], &tb[2]);
        let d2 = (ta[i] - y).norm_squared();
        if d2 < best.0 {
            best = (d2, ta[i], y);
        }
        let x = closest_point_on_triangle(&tb[i], &ta[0], &ta[1], &ta[2]);
        let d2 = (tb[i] - x).norm_squared();
        if d2 < best.0 {
            best = (d2, x, tb[i]);
        }
    }
    best
}

// ---------------------------------------------------------------------------------------------
// Bounding volume hierarchy.

/// Triangles per leaf.
const LEAF_SIZE: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Aabb {
    min: V3,
    max: V3,
}

impl Aabb {
    fn empty() -> Self {
        Aabb {
            min: V3::repeat(f64::INFINITY),
            max: V3::repeat(f64::NEG_INFINITY),
        }
    }

    fn grow(&mut self, p: &V3) {
        self.min = self.min.inf(p);
        self.max = self.max.sup(p);
    }

    /// Squared distance between two boxes (0 when they overlap): a lower bound on the squared
    /// distance between anything inside them.
    fn distance2(&self, other: &Aabb) -> f64 {
        let mut d2 = 0.0;
        for k in 0..3 {
            let gap = (self.min[k] - other.max[k])
                .max(other.min[k] - self.max[k])
                .max(0.0);
            d2 += gap * gap;
        }
        d2
    }

    fn distance2_to_point(&self, p: &V3) -> f64 {
        let mut d2 = 0.0;
        for k in 0..3 {
            let gap = (self.min[k] - p[k]).max(p[k] - self.max[k]).max(0.0);
            d2 += gap * gap;
        }
        d2
    }

    fn diagonal2(&self) -> f64 {
        (self.max - self.min).norm_squared()
    }
}

/// One node; a leaf when `count > 0` (triangles `start .. start + count`), otherwise its left
/// child is the next node and its right child is `right`.
#[derive(Clone, Copy, Debug)]
struct Node {
    bounds: Aabb,
    start: u32,
    count: u32,
    right: u32,
}

/// A bounding volume hierarchy over a triangle set (one instance's faces), built once.
#[derive(Clone, Debug)]
pub struct TriangleBvh {
    triangles: Vec<Triangle>,
    nodes: Vec<Node>,
}

impl TriangleBvh {
    /// Builds the hierarchy (median split on the longest axis of the centroid bounds).
    /// Triangles with a non-finite corner are dropped.
    pub fn new(triangles: Vec<Triangle>) -> Self {
        let mut triangles: Vec<Triangle> = triangles
            .into_iter()
            .filter(|t| t.iter().all(|p| p.iter().all(|c| c.is_finite())))
            .collect();
        let mut nodes = Vec::with_capacity(2 * triangles.len() / LEAF_SIZE + 1);
        if !triangles.is_empty() {
            let n = triangles.len();
            build_node(&mut triangles, 0, n, &mut nodes);
        }
        TriangleBvh { triangles, nodes }
    }

    /// The listed faces of a mesh.
    pub fn from_faces(mesh: &Mesh, faces: &[u32]) -> Self {
        let triangles = faces
            .iter()
            .map(|&f| mesh.triangles[f as usize].map(|v| mesh.point(v).coords))
            .collect();
        TriangleBvh::new(triangles)
    }

    pub fn triangles(&self) -> &[Triangle] {
        &self.triangles
    }

    pub fn is_empty(&self) -> bool {
        self.triangles.is_empty()
    }

    /// Nearest surface point to `p`; `None` for an empty set.
    pub fn closest_point(&self, p: &Point3<f64>) -> Option<ClosestPoint> {
        if self.nodes.is_empty() {
            return None;
        }
        let q = p.coords;
        let mut best = (f64::INFINITY, q);
        let mut stack: Vec<(u32, f64)> = Vec::with_capacity(64);
        stack.push((0, self.nodes[0].bounds.distance2_to_point(&q)));
        while let Some((index, lower_bound)) = stack.pop() {
            if lower_bound >= best.0 {
                continue;
            }
            let node = &self.nodes[index as usize];
            if node.count > 0 {
                for t in &self.triangles[node.start as usize..(node.start + node.count) as usize] {
                    let c = closest_point_on_triangle(&q, &t[0], &t[1], &t[2]);
                    let d2 = (c - q).norm_squared();
                    if d2 < best.0 {
                        best = (d2, c);
                    }
                }
                continue;
            }
            let (left, right) = (index + 1, node.right);
            let dl = self.nodes[left as usize].bounds.distance2_to_point(&q);
            let dr = self.nodes[right as usize].bounds.distance2_to_point(&q);
            // Push the farther child first so the nearer one is explored first.
            if dl <= dr {
                stack.push((right, dr));
                stack.push((left, dl));
            } else {
                stack.push((left, dl));
                stack.push((right, dr));
            }
        }
        Some(ClosestPoint {
            distance_m: best.0.sqrt(),
            point: Point3::from(best.1),
        })
    }

    /// Nearest pair of points between two triangle sets; `None` if either is empty. Exact:
    /// 0 when the surfaces touch or intersect.
    pub fn closest_pair(&self, other: &TriangleBvh) -> Option<ClosestPair> {
        if self.nodes.is_empty() || other.nodes.is_empty() {
            return None;
        }
        let mut best = (f64::INFINITY, V3::zeros(), V3::zeros());
        let mut stack: Vec<(u32, u32, f64)> = Vec::with_capacity(128);
        stack.push((0, 0, self.nodes[0].bounds.distance2(&other.nodes[0].bounds)));
        while let Some((ia, ib, lower_bound)) = stack.pop() {
            if lower_bound >= best.0 {
                continue;
            }
            let (na, nb) = (&self.nodes[ia as usize], &other.nodes[ib as usize]);
            if na.count > 0 && nb.count > 0 {
                for ta in &self.triangles[na.start as usize..(na.start + na.count) as usize] {
                    for tb in &other.triangles[nb.start as usize..(nb.start + nb.count) as usize] {
                        let (d2, x, y) = triangle_triangle_closest(ta, tb);
                        if d2 < best.0 {
                            best = (d2, x, y);
                        }
                    }
                }
                if best.0 == 0.0 {
                    break;
                }
                continue;
            }
            // Descend into the larger node (or the only inner one).
            let split_a =
                nb.count > 0 || (na.count == 0 && na.bounds.diagonal2() >= nb.bounds.diagonal2());
            let children = if split_a {
                [(ia + 1, ib), (na.right, ib)]
            } else {
                [(ia, ib + 1), (ia, nb.right)]
            };
            let bound = |(a, b): (u32, u32)| {
                self.nodes[a as usize]
                    .bounds
                    .distance2(&other.nodes[b as usize].bounds)
            };
            let (d0, d1) = (bound(children[0]), bound(children[1]));
            let (near, far) = if d0 <= d1 {
                ((children[0], d0), (children[1], d1))
            } else {
                ((children[1], d1), (children[0], d0))
            };
            stack.push((far.0 .0, far.0 .1, far.1));
            stack.push((near.0 .0, near.0 .1, near.1));
        }
        Some(ClosestPair {
            distance_m: best.0.sqrt(),
            point_a: Point3::from(best.1),
            point_b: Point3::from(best.2),
        })
    }
}

fn centroid(t: &Triangle) -> V3 {
    (t[0] + t[1] + t[2]) / 3.0
}

/// Builds the node for `triangles[start..end]` and its subtree; returns its index.
fn build_node(triangles: &mut [Triangle], start: usize, end: usize, nodes: &mut Vec<Node>) -> u32 {
    let mut bounds = Aabb::empty();
    let mut centroid_bounds = Aabb::empty();
    for t in &triangles[start..end] {
        for p in t {
            bounds.grow(p);
        }
        centroid_bounds.grow(&centroid(t));
    }
    let index = nodes.len() as u32;
    nodes.push(Node {
        bounds,
        start: start as u32,
        count: (end - start) as u32,
        right: 0,
    });
    if end - start <= LEAF_SIZE {
        return index;
    }
    let extent = centroid_bounds.max - centroid_bounds.min;
    let axis = extent.imax();
    let mid = (start + end) / 2;
    // Median split; ties in the centroid coordinate are broken by the other coordinates so the
    // tree does not depend on the sort's internal order.
    // Only the compared coordinate of each centroid is computed (the same value as
    // `centroid(t)[k]`), and the tie-breaking ones only on a tie: this comparison is the hot
    // loop of the build.
    let centroid_coord = |t: &Triangle, k: usize| (t[0][k] + t[1][k] + t[2][k]) / 3.0;
    triangles[start..end].select_nth_unstable_by(mid - start, |a, b| {
        let key = |k: usize| centroid_coord(a, k).total_cmp(&centroid_coord(b, k));
        key(axis)
            .then_with(|| key((axis + 1) % 3))
            .then_with(|| key((axis + 2) % 3))
    });
    nodes[index as usize].count = 0;
    build_node(triangles, start, mid, nodes);
    let right = build_node(triangles, mid, end, nodes);
    nodes[index as usize].right = right;
    index
}

// ---------------------------------------------------------------------------------------------
// Brute-force references.

/// Reference closest pair by testing every triangle pair.
pub fn brute_force_closest_pair(a: &[Triangle], b: &[Triangle]) -> Option<f64> {
    let mut best = f64::INFINITY;
    for ta in a {
        for tb in b {
            best = best.min(triangle_triangle_closest(ta, tb).0);
        }
    }
    best.is_finite().then(|| best.sqrt())
}

/// Reference closest point by testing every triangle.
pub fn brute_force_closest_point(triangles: &[Triangle], p: &Point3<f64>) -> Option<f64> {
    let q = p.coords;
    triangles
        .iter()
        .map(|t| (closest_point_on_triangle(&q, &t[0], &t[1], &t[2]) - q).norm_squared())
        .min_by(|x, y| x.total_cmp(y))
        .map(f64::sqrt)
}

// ---------------------------------------------------------------------------------------------
// Object-level distances.

/// BVH of every instance with at least one face, sorted by id (built in parallel).
pub fn build_instance_bvhs(scene: &Scene) -> Vec<(InstanceId, TriangleBvh)> {
    build_instance_bvhs_where(scene, |_| true)
}

/// [`build_instance_bvhs`] for the instances `wanted` accepts only (the objects questions can
/// name: a wall's or floor's BVH is large and never asked for).
pub fn build_instance_bvhs_where(
    scene: &Scene,
    wanted: impl Fn(InstanceId) -> bool + Sync,
) -> Vec<(InstanceId, TriangleBvh)> {
    let mut out: Vec<(InstanceId, TriangleBvh)> = scene
        .instances
        .par_iter()
        .filter(|inst| !inst.face_indices.is_empty() && wanted(inst.id))
        .map(|inst| {
            (
                inst.id,
                TriangleBvh::from_faces(&scene.mesh, &inst.face_indices),
            )
        })
        .collect();
    out.sort_by_key(|(id, _)| *id);
    out
}

/// Looks a BVH up by id in the list [`build_instance_bvhs`] returns.
pub fn find_bvh(bvhs: &[(InstanceId, TriangleBvh)], id: InstanceId) -> Option<&TriangleBvh> {
    bvhs.binary_search_by_key(&id, |(i, _)| *i)
        .ok()
        .map(|i| &bvhs[i].1)
}

/// Center-to-center distance (gravity-aligned box centres).
pub fn center_to_center(a: &ObjectMeasurement, b: &ObjectMeasurement) -> MeasuredDistance {
    MeasuredDistance {
        kind: DistanceKind::CenterToCenter,
        distance_m: (V3::from(a.center) - V3::from(b.center)).norm(),
    }
}

/// Vertical gap: bottom of the upper object minus top of the lower, 0 if the z ranges overlap.
pub fn vertical_gap(a: &ObjectMeasurement, b: &ObjectMeasurement) -> MeasuredDistance {
    let gap = (a.aabb_min[2] - b.aabb_max[2])
        .max(b.aabb_min[2] - a.aabb_max[2])
        .max(0.0);
    MeasuredDistance {
        kind: DistanceKind::VerticalGap,
        distance_m: gap,
    }
}

/// Camera optical centre in the world frame.
pub fn camera_center(camera: &Camera) -> Point3<f64> {
    Point3::from(camera.world_from_camera.translation.vector)
}

/// Camera-to-center distance.
pub fn camera_to_center(camera: &Camera, m: &ObjectMeasurement) -> MeasuredDistance {
    MeasuredDistance {
        kind: DistanceKind::CameraToCenter,
        distance_m: (camera_center(camera).coords - V3::from(m.center)).norm(),
    }
}

/// Camera-to-closest-point distance; `None` for an instance without faces.
pub fn camera_to_closest_point(camera: &Camera, bvh: &TriangleBvh) -> Option<MeasuredDistance> {
    bvh.closest_point(&camera_center(camera))
        .map(|c| MeasuredDistance {
            kind: DistanceKind::CameraToClosestPoint,
            distance_m: c.distance_m,
        })
}

/// Closest-surface distance; `None` when either instance has no faces.
pub fn closest_surface(a: &TriangleBvh, b: &TriangleBvh) -> Option<MeasuredDistance> {
    a.closest_pair(b).map(|c| MeasuredDistance {
        kind: DistanceKind::ClosestSurface,
        distance_m: c.distance_m,
    })
}

/// Closest-surface distances for many instance pairs (rayon over pairs). Output order follows
/// `pairs`; `None` where an id has no BVH.
pub fn closest_surface_pairs(
    bvhs: &[(InstanceId, TriangleBvh)],
    pairs: &[(InstanceId, InstanceId)],
) -> Vec<Option<ClosestPair>> {
    pairs
        .par_iter()
        .map(|&(a, b)| find_bvh(bvhs, a)?.closest_pair(find_bvh(bvhs, b)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::fixtures::{scene_from_objects, BoxSpec};
    use crate::geom::measure::measure_scene;

    fn unit_box(center: [f64; 3], yaw_rad: f64) -> BoxSpec {
        BoxSpec {
            center,
            size: [1.0, 1.0, 1.0],
            yaw_rad,
        }
    }

    /// Closest-surface distance between two boxes via BVH, checked against brute force and
    /// the analytic value.
    fn check(a: BoxSpec, b: BoxSpec, expected: f64, tol: f64) {
        let scene = scene_from_objects(&[(a, "a"), (b, "b")]);
        let bvhs = build_instance_bvhs(&scene);
        let (ba, bb) = (&bvhs[0].1, &bvhs[1].1);
        let got = closest_surface(ba, bb).unwrap();
        assert_eq!(got.kind, DistanceKind::ClosestSurface);
        let brute = brute_force_closest_pair(ba.triangles(), bb.triangles()).unwrap();
        assert!(
            (got.distance_m - expected).abs() <= tol,
            "bvh {} != analytic {expected}",
            got.distance_m
        );
        assert!(
            (got.distance_m - brute).abs() <= 1e-12,
            "bvh {} != brute {brute}",
            got.distance_m
        );
        let pair = ba.closest_pair(bb).unwrap();
        assert!(((pair.point_a - pair.point_b).norm() - pair.distance_m).abs() < 1e-12);
    }

    #[test]
    fn box_box_configurations() {
        // Face to face, 0.5 m apart along x (coordinates exact in f32).
        check(
            unit_box([0.0, 0.0, 0.0], 0.0),
            unit_box([1.5, 0.0, 0.0], 0.0),
            0.5,
            1e-12,
        );
        // Face to face with an offset along y still overlapping in projection.
        check(
            unit_box([0.0, 0.0, 0.0], 0.0),
            unit_box([0.0, 0.25, 2.0], 0.0),
            1.0,
            1e-12,
        );
        // Edge to edge: diagonal offset in x and y, overlapping in z: gap sqrt(0.5^2+0.5^2).
        check(
            unit_box([0.0, 0.0, 0.0], 0.0),
            unit_box([1.5, 1.5, 0.25], 0.0),
            0.5f64.hypot(0.5),
            1e-12,
        );
        // Vertex to vertex: offset in all three axes.
        check(
            unit_box([0.0, 0.0, 0.0], 0.0),
            unit_box([1.5, 1.5, 1.5], 0.0),
            0.75f64.sqrt(),
            1e-12,
        );
        // Vertex to face: the second box yawed 45 degrees so an edge (a vertical edge, i.e. a
        // vertex-face contact in 2D) points at the first box's +x face.
        let half_diag = 0.5 * 2f64.sqrt();
        check(
            unit_box([0.0, 0.0, 0.0], 0.0),
            unit_box(
                [0.5 + 0.3 + half_diag, 0.0, 0.0],
                std::f64::consts::FRAC_PI_4,
            ),
            0.3,
            1e-6,
        );
        // A box tilted so one corner points at the other box's face is a true vertex-face
        // contact; tested in geom_props on triangle soups. Touching and intersecting:
        check(
            unit_box([0.0, 0.0, 0.0], 0.0),
            unit_box([1.0, 0.0, 0.0], 0.0),
            0.0,
            0.0,
        );
        check(
            unit_box([0.0, 0.0, 0.0], 0.0),
            unit_box([0.5, 0.25, 0.1], 0.3),
            0.0,
            0.0,
        );
    }

    #[test]
    fn nested_boxes_have_positive_distance() {
        // A small box inside a big one: the surfaces do not touch.
        let big = BoxSpec {
            center: [0.0, 0.0, 0.0],
            size: [4.0, 4.0, 4.0],
            yaw_rad: 0.0,
        };
        let small = unit_box([0.5, 0.0, 0.0], 0.0);
        check(big, small, 1.0, 1e-12);
    }

    #[test]
    fn vertex_to_face_tetra() {
        // A triangle whose vertex points straight at a large triangle's interior.
        let big: Triangle = [
            V3::new(-5.0, -5.0, 0.0),
            V3::new(5.0, -5.0, 0.0),
            V3::new(0.0, 5.0, 0.0),
        ];
        let tip: Triangle = [
            V3::new(0.1, 0.2, 0.7),
            V3::new(1.0, 0.0, 3.0),
            V3::new(-1.0, 0.5, 3.0),
        ];
        let (d2, _, y) = triangle_triangle_closest(&big, &tip);
        assert!((d2.sqrt() - 0.7).abs() < 1e-12);
        assert!((y - tip[0]).norm() < 1e-12);
    }

    #[test]
    fn camera_and_named_distances() {
        let scene = scene_from_objects(&[
            (unit_box([0.0, 0.0, 0.5], 0.0), "a"),
            (unit_box([3.0, 4.0, 2.5], 0.0), "b"),
        ]);
        let m = measure_scene(&scene);
        assert!(
            (center_to_center(&m[0], &m[1]).distance_m - (9.0f64 + 16.0 + 4.0).sqrt()).abs()
                < 1e-12
        );
        assert!((vertical_gap(&m[0], &m[1]).distance_m - 1.0).abs() < 1e-12);
        assert_eq!(vertical_gap(&m[0], &m[0]).distance_m, 0.0);
        let cam =
            crate::geom::fixtures::look_at_camera([0.0, -3.0, 0.5], [0.0, 0.0, 0.5], 64, 48, 50.0);
        assert!((camera_to_center(&cam, &m[0]).distance_m - 3.0).abs() < 1e-12);
        let bvhs = build_instance_bvhs(&scene);
        let d = camera_to_closest_point(&cam, &bvhs[0].1).unwrap();
        assert_eq!(d.kind.name(), "camera-to-closest-point distance");
        assert!((d.distance_m - 2.5).abs() < 1e-12);
        let names: std::collections::BTreeSet<_> =
            DistanceKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), 5);
        assert_eq!(
            serde_json::to_string(&DistanceKind::ClosestSurface).unwrap(),
            "\"closest-surface\""
        );
    }

    #[test]
    fn degenerate_triangles_are_finite() {
        let line: Triangle = [
            V3::new(0.0, 0.0, 0.0),
            V3::new(1.0, 0.0, 0.0),
            V3::new(2.0, 0.0, 0.0),
        ];
        let p = V3::new(1.0, 1.0, 0.0);
        let c = closest_point_on_triangle(&p, &line[0], &line[1], &line[2]);
        assert!((c - V3::new(1.0, 0.0, 0.0)).norm() < 1e-12);
        let point: Triangle = [V3::new(0.0, 0.0, 1.0); 3];
        let (d2, _, _) = triangle_triangle_closest(&line, &point);
        assert!((d2 - 1.0).abs() < 1e-12);
    }
}
