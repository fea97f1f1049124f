//! View-frustum culling for whole-mesh renders: faces grouped by a coarse voxel grid, each
//! group with the bounding box of its faces' vertices, so that a view skips the vertex stage
//! and the per-face tests of every group that lies wholly outside its frustum.
//!
//! **Exactness.** Culling never changes a render. A group is culled only when its box lies
//! beyond one of these planes (every point of every face of the group is inside the box, and
//! the tests are linear, so it suffices to test the box's eight corners):
//! - behind the near plane (`z < near_m` at every corner, with a 1e-9 m margin): every
//!   vertex has the "behind" outcode bit, and the face loop's trivial reject drops the face;
//! - beyond the far plane (`z > far_m` likewise): every vertex has the "beyond far" bit;
//! - beyond a plane through the camera centre a quarter pixel outside an image border (e.g.
//!   `fx x + (cx + 1/4) z < 0` for the left one): every point of the face with `z > 0`,
//!   clipped or not, projects at least a quarter pixel outside the border, and the snapped
//!   vertices (1/256 pixel) stay outside it, so the face covers no pixel centre.
//!
//! The faces of the other groups are drawn in index order, as without culling, so ties in
//! depth resolve the same way.

use super::RenderConfig;
use crate::scene::{Camera, Intrinsics, Mesh};

/// Faces grouped by a coarse grid of their centroids; see the module documentation. The
/// groups borrow the mesh they were made from, and [`super::render_culled`] draws that mesh, so
/// groups can never be applied to another mesh.
#[derive(Clone, Debug)]
pub struct FaceGroups<'m> {
    mesh: &'m Mesh,
    groups: Vec<FaceGroup>,
}

#[derive(Clone, Debug)]
struct FaceGroup {
    /// Bounding box of the vertices of the group's faces.
    lo: [f64; 3],
    hi: [f64; 3],
    /// The group's faces as a bit mask over all faces, word by word: `(w, bits)` sets bit
    /// `f % 64` of word `w = f / 64` for each face `f` of the group (ascending `w`, each once).
    /// A group's faces mostly come in runs, so this is much shorter than the face list (19
    /// faces per word on the 150K-face bench scene).
    face_words: Vec<(u32, u64)>,
    /// The vertices its faces use, each once.
    vertices: Vec<u32>,
}

/// Cells per side of the grid at most (over the mesh's longest side), and the smallest cell.
const MAX_CELLS_PER_SIDE: f64 = 8.0;
const MIN_CELL_M: f64 = 0.5;

impl<'m> FaceGroups<'m> {
    /// Groups `mesh`'s faces by the grid cell of their centroid: cells of `max(longest side /
    /// 8, 0.5 m)`, so a room has a few hundred groups. Faces with an index or coordinate out
    /// of range go into one group whose box is the whole of space (never culled).
    pub fn new(mesh: &'m Mesh) -> FaceGroups<'m> {
        let n_vertices = mesh.positions_m.len();
        let point = |v: u32| {
            mesh.positions_m
                .get(v as usize)
                .map(|p| p.map(|c| c as f64))
                .filter(|p| p.iter().all(|c| c.is_finite()))
        };
        let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
        for p in mesh.positions_m.iter().map(|p| p.map(|c| c as f64)) {
            if p.iter().all(|c| c.is_finite()) {
                for a in 0..3 {
                    lo[a] = lo[a].min(p[a]);
                    hi[a] = hi[a].max(p[a]);
                }
            }
        }
        let longest = (0..3).map(|a| hi[a] - lo[a]).fold(0.0, f64::max);
        let cell = (longest / MAX_CELLS_PER_SIDE).max(MIN_CELL_M);
        // At most 9 cells per side (the longest side over the cell is at most 8).
        let cells_per_side = |a: usize| {
            (((hi[a] - lo[a]) / cell).floor() as usize).min(MAX_CELLS_PER_SIDE as usize) + 1
        };
        let dims = [cells_per_side(0), cells_per_side(1), cells_per_side(2)];
        let unbounded = dims.iter().product::<usize>();
        // Group key per face: its cell, or `unbounded` for faces without three finite vertices.
        let key_of = |tri: &[u32; 3]| -> usize {
            let (Some(a), Some(b), Some(c)) = (point(tri[0]), point(tri[1]), point(tri[2])) else {
                return unbounded;
            };
            let mut key = 0;
            for axis in 0..3 {
                let centroid = (a[axis] + b[axis] + c[axis]) / 3.0;
                let i =
                    (((centroid - lo[axis]) / cell).floor().max(0.0) as usize).min(dims[axis] - 1);
                key = key * dims[axis] + i;
            }
            key
        };
        let mut by_key: Vec<Vec<u32>> = vec![Vec::new(); unbounded + 1];
        for (f, tri) in mesh.triangles.iter().enumerate() {
            by_key[key_of(tri)].push(f as u32);
        }
        let mut stamp = vec![u32::MAX; n_vertices];
        let groups = by_key
            .into_iter()
            .enumerate()
            .filter(|(_, faces)| !faces.is_empty())
            .enumerate()
            .map(|(g, (key, faces))| (g, key, faces))
            .map(|(g, key, faces)| {
                let mut vertices = Vec::new();
                let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
                for &f in &faces {
                    for v in mesh.triangles[f as usize] {
                        let Some(s) = stamp.get_mut(v as usize) else {
                            continue;
                        };
                        if *s != g as u32 {
                            *s = g as u32;
                            vertices.push(v);
                            if let Some(p) = point(v) {
                                for a in 0..3 {
                                    lo[a] = lo[a].min(p[a]);
                                    hi[a] = hi[a].max(p[a]);
                                }
                            }
                        }
                    }
                }
                if key == unbounded {
                    (lo, hi) = ([f64::NEG_INFINITY; 3], [f64::INFINITY; 3]);
                }
                let mut face_words: Vec<(u32, u64)> = Vec::new();
                for &f in &faces {
                    let (w, bit) = (f / 64, 1u64 << (f % 64));
                    match face_words.last_mut() {
                        Some((last, bits)) if *last == w => *bits |= bit,
                        _ => face_words.push((w, bit)),
                    }
                }
                FaceGroup {
                    lo,
                    hi,
                    face_words,
                    vertices,
                }
            })
            .collect();
        FaceGroups { mesh, groups }
    }

    /// The mesh the groups were made from.
    pub fn mesh(&self) -> &'m Mesh {
        self.mesh
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups a view cannot cull (see [`Frustum::culls`]), as `(face mask words,
    /// vertices)`: see `FaceGroup::face_words`.
    pub(super) fn visible<'a>(
        &'a self,
        frustum: &'a Frustum,
    ) -> impl Iterator<Item = (&'a [(u32, u64)], &'a [u32])> + 'a {
        self.groups
            .iter()
            .filter(|g| !frustum.culls(&g.lo, &g.hi))
            .map(|g| (g.face_words.as_slice(), g.vertices.as_slice()))
    }
}

/// The culling planes of one view, in world coordinates: `n . p + d < 0` for every point `p`
/// of a box means the box is outside.
pub(super) struct Frustum {
    planes: Vec<([f64; 3], f64)>,
}

impl Frustum {
    /// The culling planes of `camera` with `config`'s depth range.
    pub(super) fn new(camera: &Camera, config: &RenderConfig) -> Frustum {
        let m = camera.world_from_camera.inverse().to_homogeneous();
        let [rx, ry, rz]: [[f64; 4]; 3] =
            std::array::from_fn(|r| std::array::from_fn(|c| m[(r, c)]));
        let Intrinsics { fx, fy, cx, cy } = camera.model.intrinsics;
        let (width, height) = (camera.model.width as f64, camera.model.height as f64);
        let (near_m, far_m) = (config.near_m, config.far_m);
        // A camera-space linear form a x + b y + c z + e as a world-space plane.
        let world = |a: f64, b: f64, c: f64, e: f64| -> ([f64; 3], f64) {
            let n = std::array::from_fn(|i| a * rx[i] + b * ry[i] + c * rz[i]);
            (n, a * rx[3] + b * ry[3] + c * rz[3] + e)
        };
        const MARGIN_M: f64 = 1e-9;
        let mut planes = vec![
            // z - near < 0: behind the near plane.
            world(0.0, 0.0, 1.0, -near_m + MARGIN_M),
            // far - z < 0: beyond the far plane.
            world(0.0, 0.0, -1.0, far_m + MARGIN_M),
        ];
        // The side planes hold only for points with z > 0, which is all the rasterizer draws
        // when the near plane is in front of the camera.
        if near_m > 0.0 && [fx, fy].iter().all(|f| f.is_finite() && *f > 0.0) {
            const QUARTER_PX: f64 = 0.25;
            planes.extend([
                // u < -1/4: fx x + (cx + 1/4) z < 0.
                world(fx, 0.0, cx + QUARTER_PX, 0.0),
                // u > width - 3/4: -fx x - (cx - (width - 3/4)) z < 0.
                world(-fx, 0.0, -(cx - (width - 1.0 + QUARTER_PX)), 0.0),
                world(0.0, fy, cy + QUARTER_PX, 0.0),
                world(0.0, -fy, -(cy - (height - 1.0 + QUARTER_PX)), 0.0),
            ]);
        }
        Frustum { planes }
    }

    /// Whether the box `lo..hi` lies wholly on the outer side of one plane: the corner that
    /// maximises `n . p` is outside.
    pub(super) fn culls(&self, lo: &[f64; 3], hi: &[f64; 3]) -> bool {
        if !lo.iter().chain(hi).all(|c| c.is_finite()) {
            return false;
        }
        self.planes.iter().any(|(n, d)| {
            let far_corner: f64 = (0..3)
                .map(|i| n[i] * if n[i] > 0.0 { hi[i] } else { lo[i] })
                .sum();
            far_corner + d < 0.0
        })
    }
}
