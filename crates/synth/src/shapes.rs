//! Analytic shapes of the synthetic generator: objects as unions of boxes, their placement in
//! the aligned frame, oriented footprint rectangles, and tessellation into a subdivided mesh.
//!
//! Every object lives in a local frame: `x` along its length, `y` along its width, `z` up from
//! its base, with the footprint centred on the origin. Every shape is built so that the union
//! of its parts spans exactly `[-L/2, L/2] x [-W/2, W/2] x [0, H]` **and** its footprint covers
//! the four corners of that rectangle. Then the convex hull of the footprint is the rectangle
//! itself, so the gravity-aligned minimum-area box of the union is exactly the declared size,
//! and the extreme mesh vertices are exactly the analytic corners. Coordinates of outer faces
//! are written as `hx` / `-hx` (never `hx - L`), so corners are the same `f64` everywhere.

use super::catalog::ShapeKind;
use msmu_data::scene::Mesh;

/// An axis-aligned box in an object's local frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Part {
    pub min: [f64; 3],
    pub max: [f64; 3],
}

impl Part {
    pub fn new(min: [f64; 3], max: [f64; 3]) -> Part {
        debug_assert!(
            (0..3).all(|i| min[i] < max[i]),
            "empty part {min:?} {max:?}"
        );
        Part { min, max }
    }
}

/// A horizontal rectangle in the local frame that other objects can stand on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SupportSurface {
    pub min_xy: [f64; 2],
    pub max_xy: [f64; 2],
    /// Height of the surface above the object's base, metres.
    pub z: f64,
}

/// An object's geometry in its local frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// Local `[x, y, z]` extent of the union of `parts`, metres.
    pub size_m: [f64; 3],
    pub parts: Vec<Part>,
    pub support: Option<SupportSurface>,
}

/// Where an object's local frame sits in the aligned world frame: rotation by `yaw_rad` about
/// +Z, then translation of the local origin to `(center_xy, base_z)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    pub center_xy: [f64; 2],
    pub base_z: f64,
    pub yaw_rad: f64,
}

impl Placement {
    /// A local point in the aligned world frame. Mesh vertices and truth corners both go
    /// through this one function, so they agree to the last bit before the `f32` cast.
    pub fn to_world(&self, p: [f64; 3]) -> [f64; 3] {
        let (s, c) = self.yaw_rad.sin_cos();
        [
            self.center_xy[0] + (c * p[0] - s * p[1]),
            self.center_xy[1] + (s * p[0] + c * p[1]),
            self.base_z + p[2],
        ]
    }

    /// A local direction in the world frame.
    pub fn rotate(&self, v: [f64; 3]) -> [f64; 3] {
        let (s, c) = self.yaw_rad.sin_cos();
        [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]]
    }
}

/// Builds a shape of `kind` with local extent `size_m = [L, W, H]`. Proportions of the parts
/// follow from the size alone (no randomness), which keeps the generator's random stream
/// independent of the shape code.
pub fn build(kind: ShapeKind, size_m: [f64; 3]) -> Shape {
    let [l, w, h] = size_m;
    let (hx, hy) = (l / 2.0, w / 2.0);
    let full = |z0: f64, z1: f64| Part::new([-hx, -hy, z0], [hx, hy, z1]);
    let top_surface = Some(SupportSurface {
        min_xy: [-hx, -hy],
        max_xy: [hx, hy],
        z: h,
    });
    let (parts, support) = match kind {
        ShapeKind::Block => (vec![full(0.0, h)], top_surface),
        ShapeKind::Table => {
            let top_t = (0.06 * h).clamp(0.025, 0.045);
            let leg = (0.06 * w).clamp(0.04, 0.07);
            let mut parts = vec![full(h - top_t, h)];
            parts.extend(corner_legs(hx, hy, leg, h - top_t));
            (parts, top_surface)
        }
        ShapeKind::Desk => {
            let top_t = 0.035;
            let panel = 0.03;
            let parts = vec![
                full(h - top_t, h),
                Part::new([-hx, -hy, 0.0], [-hx + panel, hy, h - top_t]),
                Part::new([hx - panel, -hy, 0.0], [hx, hy, h - top_t]),
                // A modesty panel at the back, so the desk reads as a desk, not a table.
                Part::new(
                    [-hx + panel, hy - 0.02, 0.3 * h],
                    [hx - panel, hy, h - top_t],
                ),
            ];
            (parts, top_surface)
        }
        ShapeKind::Chair => {
            let seat_top = (0.55 * h).min(0.48);
            let seat_t = 0.05;
            let back_t = 0.04;
            let mut parts = vec![full(seat_top - seat_t, seat_top)];
            parts.extend(corner_legs(hx, hy, 0.04, seat_top - seat_t));
            parts.push(Part::new([-hx, hy - back_t, seat_top], [hx, hy, h]));
            (parts, None)
        }
        ShapeKind::Sofa => {
            let seat_top: f64 = 0.44;
            let back_t = 0.2;
            let arm_t = 0.15;
            let arm_top = (seat_top + 0.2).min(h);
            let parts = vec![
                full(0.0, seat_top),
                Part::new([-hx, hy - back_t, seat_top], [hx, hy, h]),
                Part::new([-hx, -hy, seat_top], [-hx + arm_t, hy - back_t, arm_top]),
                Part::new([hx - arm_t, -hy, seat_top], [hx, hy - back_t, arm_top]),
            ];
            let seat = SupportSurface {
                min_xy: [-hx + arm_t, -hy],
                max_xy: [hx - arm_t, hy - back_t],
                z: seat_top,
            };
            (parts, Some(seat))
        }
        ShapeKind::Bed => {
            let mattress_top = (0.55 * h).clamp(0.42, 0.6);
            let head_t = 0.06;
            let parts = vec![
                full(0.0, mattress_top),
                Part::new([hx - head_t, -hy, mattress_top], [hx, hy, h]),
            ];
            let mattress = SupportSurface {
                min_xy: [-hx, -hy],
                max_xy: [hx - head_t, hy],
                z: mattress_top,
            };
            (parts, Some(mattress))
        }
        ShapeKind::Bookshelf => {
            let side_t = 0.02;
            let back_t = 0.015;
            let board_t = 0.02;
            let mut parts = vec![
                Part::new([-hx, -hy, 0.0], [-hx + side_t, hy, h]),
                Part::new([hx - side_t, -hy, 0.0], [hx, hy, h]),
                Part::new([-hx + side_t, hy - back_t, 0.0], [hx - side_t, hy, h]),
            ];
            let n_gaps = ((h / 0.35).round() as usize).max(2);
            for board in 0..=n_gaps {
                // Boards at 0 and at the top close the case; the others split it evenly.
                let z0 = if board == n_gaps {
                    h - board_t
                } else {
                    (h - board_t) * board as f64 / n_gaps as f64
                };
                let z1 = if board == n_gaps { h } else { z0 + board_t };
                parts.push(Part::new(
                    [-hx + side_t, -hy, z0],
                    [hx - side_t, hy - back_t, z1],
                ));
            }
            (parts, None)
        }
        ShapeKind::Screen => {
            let foot = (0.08 * l).min(0.1);
            let foot_top = 0.06;
            let panel_t = 0.04_f64.min(0.5 * w);
            let parts = vec![
                Part::new([-hx, -hy, 0.0], [-hx + foot, hy, foot_top]),
                Part::new([hx - foot, -hy, 0.0], [hx, hy, foot_top]),
                Part::new([-hx, -panel_t / 2.0, foot_top], [hx, panel_t / 2.0, h]),
            ];
            (parts, None)
        }
        ShapeKind::Lamp => {
            let base_t = 0.03;
            let shade_h = (0.2 * h).min(0.3);
            let pole = 0.015;
            let parts = vec![
                full(0.0, base_t),
                Part::new([-pole, -pole, base_t], [pole, pole, h - shade_h]),
                full(h - shade_h, h),
            ];
            (parts, None)
        }
        ShapeKind::Toilet => {
            let tank_d = 0.2;
            let bowl_top = 0.4;
            let parts = vec![
                Part::new([-hx, -hy, 0.0], [hx - tank_d, hy, bowl_top]),
                Part::new([hx - tank_d, -hy, 0.0], [hx, hy, h]),
            ];
            (parts, None)
        }
        ShapeKind::Sink => {
            let basin_t = 0.18;
            let pedestal = 0.09;
            let parts = vec![
                full(h - basin_t, h),
                Part::new(
                    [-pedestal, -pedestal, 0.0],
                    [pedestal, pedestal, h - basin_t],
                ),
            ];
            (parts, None)
        }
    };
    Shape {
        size_m,
        parts,
        support,
    }
}

/// Four square legs of side `side` in the corners of `[-hx, hx] x [-hy, hy]`, up to `z_top`.
fn corner_legs(hx: f64, hy: f64, side: f64, z_top: f64) -> [Part; 4] {
    [
        Part::new([-hx, -hy, 0.0], [-hx + side, -hy + side, z_top]),
        Part::new([hx - side, -hy, 0.0], [hx, -hy + side, z_top]),
        Part::new([-hx, hy - side, 0.0], [-hx + side, hy, z_top]),
        Part::new([hx - side, hy - side, 0.0], [hx, hy, z_top]),
    ]
}

/// An oriented rectangle in the horizontal plane: a footprint or an obstacle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect2 {
    pub center: [f64; 2],
    pub half_m: [f64; 2],
    pub yaw_rad: f64,
}

impl Rect2 {
    fn axes(&self) -> [[f64; 2]; 2] {
        let (s, c) = self.yaw_rad.sin_cos();
        [[c, s], [-s, c]]
    }

    pub fn corners(&self) -> [[f64; 2]; 4] {
        let [ax, ay] = self.axes();
        let [hx, hy] = self.half_m;
        [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)].map(|(sx, sy)| {
            [
                self.center[0] + sx * hx * ax[0] + sy * hy * ay[0],
                self.center[1] + sx * hx * ax[1] + sy * hy * ay[1],
            ]
        })
    }

    /// Half extents of the axis-aligned box around the rectangle.
    pub fn aabb_half(&self) -> [f64; 2] {
        let (s, c) = self.yaw_rad.sin_cos();
        let [hx, hy] = self.half_m;
        [hx * c.abs() + hy * s.abs(), hx * s.abs() + hy * c.abs()]
    }

    /// Whether the two rectangles come closer than `margin_m` (separating-axis test on the
    /// rectangles grown by `margin_m / 2` each).
    pub fn overlaps(&self, other: &Rect2, margin_m: f64) -> bool {
        let grow = |r: &Rect2| Rect2 {
            half_m: [r.half_m[0] + margin_m / 2.0, r.half_m[1] + margin_m / 2.0],
            ..*r
        };
        let (a, b) = (grow(self), grow(other));
        let (ca, cb) = (a.corners(), b.corners());
        for axis in a.axes().into_iter().chain(b.axes()) {
            let project = |cs: &[[f64; 2]; 4]| {
                cs.iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                        let d = p[0] * axis[0] + p[1] * axis[1];
                        (lo.min(d), hi.max(d))
                    })
            };
            let (a_lo, a_hi) = project(&ca);
            let (b_lo, b_hi) = project(&cb);
            if a_hi <= b_lo || b_hi <= a_lo {
                return false;
            }
        }
        true
    }

    /// Whether a point lies within `margin_m` of the rectangle (inside the grown rectangle).
    pub fn contains(&self, p: [f64; 2], margin_m: f64) -> bool {
        let d = [p[0] - self.center[0], p[1] - self.center[1]];
        let [ax, ay] = self.axes();
        let u = d[0] * ax[0] + d[1] * ax[1];
        let v = d[0] * ay[0] + d[1] * ay[1];
        u.abs() <= self.half_m[0] + margin_m && v.abs() <= self.half_m[1] + margin_m
    }
}

/// Number of grid cells along an edge of `extent_m` for a target cell size.
fn n_cells(extent_m: f64, cell_m: f64) -> usize {
    ((extent_m / cell_m).ceil() as usize).max(1)
}

/// Triangles that [`emit_part`] produces for `part` at cell size `cell_m`.
pub fn part_triangles(part: &Part, cell_m: f64) -> usize {
    let e = [0, 1, 2].map(|i| n_cells(part.max[i] - part.min[i], cell_m));
    // Two faces per axis; each face is an (n_u x n_v) grid of two-triangle quads.
    4 * (e[1] * e[2] + e[2] * e[0] + e[0] * e[1])
}

/// Direction of the baked light (unit, from the surface towards the light): mostly from above.
const LIGHT_DIR: [f64; 3] = [0.3487, 0.5230, 0.7778];

/// Lambert shading factor for a world normal: ambient plus direct light, plus a weak fill on
/// faces turned away (ceilings, undersides) so they do not render as black.
fn shade(normal: [f64; 3]) -> f64 {
    let n_dot_l = normal[0] * LIGHT_DIR[0] + normal[1] * LIGHT_DIR[1] + normal[2] * LIGHT_DIR[2];
    if n_dot_l >= 0.0 {
        0.6 + 0.4 * n_dot_l
    } else {
        0.6 - 0.15 * n_dot_l
    }
}

/// Appends one part's six subdivided faces to the mesh. Vertices are not shared between
/// faces (each face is flat-shaded) nor with other objects.
pub fn emit_part(
    mesh: &mut Mesh,
    vertex_instance: &mut Vec<u32>,
    part: &Part,
    placement: &Placement,
    cell_m: f64,
    base_rgb: [u8; 3],
    instance_id: u32,
) {
    for axis in 0..3 {
        let (u_axis, v_axis) = ((axis + 1) % 3, (axis + 2) % 3);
        let n_u = n_cells(part.max[u_axis] - part.min[u_axis], cell_m);
        let n_v = n_cells(part.max[v_axis] - part.min[v_axis], cell_m);
        for positive in [false, true] {
            let mut normal = [0.0; 3];
            normal[axis] = if positive { 1.0 } else { -1.0 };
            let k = shade(placement.rotate(normal));
            let rgb = base_rgb.map(|c| (c as f64 * k).round().clamp(0.0, 255.0) as u8);
            let first = mesh.positions_m.len() as u32;
            for j in 0..=n_v {
                for i in 0..=n_u {
                    let mut p = [0.0; 3];
                    p[axis] = if positive {
                        part.max[axis]
                    } else {
                        part.min[axis]
                    };
                    p[u_axis] = grid_coord(part.min[u_axis], part.max[u_axis], i, n_u);
                    p[v_axis] = grid_coord(part.min[v_axis], part.max[v_axis], j, n_v);
                    let w = placement.to_world(p);
                    mesh.positions_m
                        .push([w[0] as f32, w[1] as f32, w[2] as f32]);
                    mesh.colors_rgb.push(rgb);
                    vertex_instance.push(instance_id);
                }
            }
            let row = (n_u + 1) as u32;
            for j in 0..n_v as u32 {
                for i in 0..n_u as u32 {
                    let v00 = first + j * row + i;
                    let (v10, v01, v11) = (v00 + 1, v00 + row, v00 + row + 1);
                    // u x v = +axis, so (v00, v10, v11) is counter-clockwise seen from outside
                    // on the positive face; the negative face is wound the other way.
                    if positive {
                        mesh.triangles.push([v00, v10, v11]);
                        mesh.triangles.push([v00, v11, v01]);
                    } else {
                        mesh.triangles.push([v00, v11, v10]);
                        mesh.triangles.push([v00, v01, v11]);
                    }
                }
            }
        }
    }
}

/// Grid coordinate `i` of `n` between `lo` and `hi`; the ends are exactly `lo` and `hi`.
fn grid_coord(lo: f64, hi: f64, i: usize, n: usize) -> f64 {
    if i == n {
        hi
    } else {
        lo + (hi - lo) * i as f64 / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CATALOG;

    #[test]
    fn every_shape_spans_its_size_and_covers_the_corners() {
        for category in CATALOG {
            for size in [category.size_min_m, category.size_max_m] {
                let shape = build(category.shape, size);
                let mut lo = [f64::INFINITY; 3];
                let mut hi = [f64::NEG_INFINITY; 3];
                for part in &shape.parts {
                    for i in 0..3 {
                        lo[i] = lo[i].min(part.min[i]);
                        hi[i] = hi[i].max(part.max[i]);
                        assert!(
                            part.min[i] < part.max[i],
                            "{}: empty part",
                            category.label()
                        );
                    }
                }
                let (hx, hy) = (size[0] / 2.0, size[1] / 2.0);
                assert_eq!(lo, [-hx, -hy, 0.0], "{}", category.label());
                assert_eq!(hi, [hx, hy, size[2]], "{}", category.label());
                // The footprint covers the four corners, so the hull is the rectangle.
                for (cx, cy) in [(-hx, -hy), (hx, -hy), (-hx, hy), (hx, hy)] {
                    let covered = shape.parts.iter().any(|p| {
                        [p.min[0], p.max[0]].contains(&cx) && [p.min[1], p.max[1]].contains(&cy)
                    });
                    assert!(
                        covered,
                        "{}: corner ({cx}, {cy}) not covered",
                        category.label()
                    );
                }
            }
        }
    }

    #[test]
    fn rectangles_overlap_as_expected() {
        let a = Rect2 {
            center: [0.0, 0.0],
            half_m: [1.0, 0.5],
            yaw_rad: 0.0,
        };
        let rotated = Rect2 {
            center: [1.6, 0.0],
            half_m: [1.0, 0.1],
            yaw_rad: std::f64::consts::FRAC_PI_2,
        };
        assert!(!a.overlaps(&rotated, 0.0));
        assert!(a.overlaps(&rotated, 0.6));
        let diagonal = Rect2 {
            center: [1.5, 1.0],
            half_m: [0.5, 0.1],
            yaw_rad: std::f64::consts::FRAC_PI_4,
        };
        assert!(!a.overlaps(&diagonal, 0.0));
        assert!(a.contains([0.9, 0.4], 0.0) && !a.contains([1.2, 0.0], 0.1));
    }

    #[test]
    fn emitted_triangles_match_the_count() {
        let part = Part::new([0.0, 0.0, 0.0], [1.0, 0.5, 0.3]);
        let placement = Placement {
            center_xy: [1.0, 2.0],
            base_z: 0.0,
            yaw_rad: 0.7,
        };
        let mut mesh = Mesh::default();
        let mut vi = Vec::new();
        emit_part(
            &mut mesh,
            &mut vi,
            &part,
            &placement,
            0.1,
            [100, 100, 100],
            3,
        );
        assert_eq!(mesh.n_faces(), part_triangles(&part, 0.1));
        assert_eq!(vi.len(), mesh.n_vertices());
        assert!(vi.iter().all(|&i| i == 3));
    }
}
