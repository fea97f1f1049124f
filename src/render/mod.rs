//! The z-buffer rasterizer: metric depth, instance ids and (optionally) colour for a pinhole
//! camera looking at a triangle mesh. Pure computation: no I/O, no allocation per triangle.
//!
//! Rules (also in ARCHITECTURE.md):
//! - **Depth** is the camera-space `z` (metres along the optical axis), like ScanNet sensor
//!   depth, not the ray length. `0` means no surface.
//! - **Pixel centres**: pixel `(u, v)` is sampled at image coordinates `(u, v)` exactly (the
//!   OpenCV convention: `u = fx * x / z + cx`).
//! - **Coverage** is decided on vertices snapped to 1/256 pixel with exact integer edge
//!   functions. A pixel centre exactly on an edge shared by two triangles is drawn by exactly
//!   one of them (a top-left style tie rule on the edge direction), so closed surfaces have
//!   neither cracks nor double hits.
//! - **Attributes** (1/z, colour/z) are interpolated from plane equations fitted to the
//!   *unsnapped* projected vertices, so depth is exact for planar triangles up to f64
//!   rounding, whatever the snapping.
//! - **Near / far**: triangles are clipped against `z = near_m` in camera space; pixels
//!   deeper than `far_m` are discarded (0.05 m / 20 m by default, like the official ScanNet++
//!   renderer). Triangles with vertices beyond a 2^20-pixel guard band are clipped against it
//!   too, so the integer arithmetic cannot overflow.
//! - **Z-buffer** holds 1/z as f32 (larger = nearer), so the per-pixel test needs no division;
//!   it becomes metric depth once per pixel at the end (relative change below 1e-7).
//! - **Ties** in depth keep the earlier triangle (faces are drawn in index order), so output is
//!   deterministic. Back faces are drawn: scanned meshes are not consistently oriented.

use nalgebra::Point3;
use rayon::prelude::*;

use crate::scene::{Camera, Intrinsics, Mesh};

/// Rasterizer settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenderConfig {
    /// Near clipping plane, metres.
    pub near_m: f64,
    /// Far plane, metres: surfaces farther than this are not drawn.
    pub far_m: f64,
    /// Also interpolate vertex colours into an RGB image.
    pub with_color: bool,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            near_m: 0.05,
            far_m: 20.0,
            with_color: false,
        }
    }
}

/// What one render produces. Images are row-major, `width * height` pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedView {
    pub width: u32,
    pub height: u32,
    /// Camera-space depth in metres; 0 = no surface.
    pub depth_m: Vec<f32>,
    /// Instance id of the nearest surface (the face's instance); 0 = none or unannotated.
    pub instance: Vec<u32>,
    /// Interpolated vertex colour, when `RenderConfig::with_color`.
    pub color_rgb: Option<Vec<[u8; 3]>>,
}

impl RenderedView {
    fn empty(width: u32, height: u32, with_color: bool) -> Self {
        let n = width as usize * height as usize;
        RenderedView {
            width,
            height,
            depth_m: vec![0.0; n],
            instance: vec![0; n],
            color_rgb: with_color.then(|| vec![[0, 0, 0]; n]),
        }
    }
}

/// Renders the whole mesh. `face_instance` gives each face's instance id (0 = none); pass
/// an empty slice when instance ids are not wanted.
pub fn render(
    mesh: &Mesh,
    face_instance: &[u32],
    camera: &Camera,
    config: &RenderConfig,
) -> RenderedView {
    Rasterizer::new(mesh, face_instance, camera, config).draw_all()
}

/// Renders only the listed faces (e.g. one instance alone, for occlusion-free pixel counts).
pub fn render_faces(
    mesh: &Mesh,
    face_instance: &[u32],
    faces: &[u32],
    camera: &Camera,
    config: &RenderConfig,
) -> RenderedView {
    let mut r = Rasterizer::new(mesh, face_instance, camera, config);
    for &f in faces {
        r.draw_face(f as usize);
    }
    r.finish()
}

/// Renders many views in parallel (rayon). Output order follows `cameras`.
pub fn render_many(
    mesh: &Mesh,
    face_instance: &[u32],
    cameras: &[Camera],
    config: &RenderConfig,
) -> Vec<RenderedView> {
    cameras
        .par_iter()
        .map(|camera| render(mesh, face_instance, camera, config))
        .collect()
}

/// Projects a camera-space point in front of the camera: `[u, v, 1/z]`.
#[inline]
fn project(k: &Intrinsics, p: &[f64; 3]) -> [f64; 3] {
    let inv_z = 1.0 / p[2];
    [
        k.fx * p[0] * inv_z + k.cx,
        k.fy * p[1] * inv_z + k.cy,
        inv_z,
    ]
}

/// Sub-pixel precision of the coverage test.
const SUBPIXEL_BITS: i32 = 8;
const SUBPIXEL: f64 = (1 << SUBPIXEL_BITS) as f64;
/// Projected coordinates beyond this many pixels are clipped in camera space first.
const GUARD_BAND_PX: f64 = (1u64 << 20) as f64;

/// A vertex in camera space with its colour, as it enters clipping.
#[derive(Clone, Copy, Debug, Default)]
struct ClipVertex {
    p: [f64; 3],
    color: [f64; 3],
}

impl ClipVertex {
    fn lerp(a: &ClipVertex, b: &ClipVertex, t: f64) -> ClipVertex {
        let mut out = ClipVertex::default();
        for i in 0..3 {
            out.p[i] = a.p[i] + (b.p[i] - a.p[i]) * t;
            out.color[i] = a.color[i] + (b.color[i] - a.color[i]) * t;
        }
        out
    }
}

/// A clip plane `n . p + d >= 0` keeps the point.
#[derive(Clone, Copy)]
struct Plane {
    n: [f64; 3],
    d: f64,
}

impl Plane {
    fn eval(&self, p: &[f64; 3]) -> f64 {
        self.n[0] * p[0] + self.n[1] * p[1] + self.n[2] * p[2] + self.d
    }
}

/// Most vertices a triangle clipped by the near plane and four guard planes can have.
const MAX_POLY: usize = 8;

struct Rasterizer<'a> {
    mesh: &'a Mesh,
    face_instance: &'a [u32],
    config: RenderConfig,
    fx: f64,
    fy: f64,
    cx: f64,
    cy: f64,
    width: i64,
    height: i64,
    /// Camera-space vertex positions, computed once per view.
    cam: Vec<[f64; 3]>,
    /// Per-vertex outcode: bit 0 z < near, 1 z > far, 2..5 outside left/right/top/bottom of
    /// the image (only meaningful when z >= near), 6 outside the guard band.
    outcode: Vec<u8>,
    /// Per-vertex `(u, v, 1/z)` for vertices in front of the near plane (zeros otherwise),
    /// computed once per view with [`project`].
    proj: Vec<[f64; 3]>,
    out: RenderedView,
    /// The z-buffer, kept as 1/z (larger = nearer, 0 = empty) so the per-pixel test needs no
    /// division; converted to metric depth once per pixel in [`Rasterizer::finish`].
    inv_depth: Vec<f32>,
}

impl<'a> Rasterizer<'a> {
    fn new(
        mesh: &'a Mesh,
        face_instance: &'a [u32],
        camera: &Camera,
        config: &RenderConfig,
    ) -> Self {
        let k = camera.model.intrinsics;
        let (width, height) = (camera.model.width, camera.model.height);
        let camera_from_world = camera.world_from_camera.inverse().to_homogeneous();
        let m = camera_from_world;
        let mut cam = Vec::with_capacity(mesh.positions_m.len());
        let mut outcode = Vec::with_capacity(mesh.positions_m.len());
        let mut proj = Vec::with_capacity(mesh.positions_m.len());
        let (wf, hf) = (width as f64, height as f64);
        for p in &mesh.positions_m {
            let (x, y, z) = (p[0] as f64, p[1] as f64, p[2] as f64);
            let c = [
                m[(0, 0)] * x + m[(0, 1)] * y + m[(0, 2)] * z + m[(0, 3)],
                m[(1, 0)] * x + m[(1, 1)] * y + m[(1, 2)] * z + m[(1, 3)],
                m[(2, 0)] * x + m[(2, 1)] * y + m[(2, 2)] * z + m[(2, 3)],
            ];
            let mut code = 0u8;
            if c[2] < config.near_m {
                code |= 1;
            } else {
                let [u, v, _] = project(&k, &c);
                if u < -0.5 {
                    code |= 4;
                }
                if u > wf - 0.5 {
                    code |= 8;
                }
                if v < -0.5 {
                    code |= 16;
                }
                if v > hf - 0.5 {
                    code |= 32;
                }
                if u.abs() > GUARD_BAND_PX || v.abs() > GUARD_BAND_PX {
                    code |= 64;
                }
            }
            if c[2] > config.far_m {
                code |= 2;
            }
            proj.push(if code & 1 == 0 {
                project(&k, &c)
            } else {
                [0.0; 3]
            });
            cam.push(c);
            outcode.push(code);
        }
        Rasterizer {
            mesh,
            face_instance,
            config: *config,
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
            width: width as i64,
            height: height as i64,
            cam,
            outcode,
            proj,
            out: RenderedView::empty(width, height, config.with_color),
            inv_depth: vec![0.0; width as usize * height as usize],
        }
    }

    fn draw_all(mut self) -> RenderedView {
        for f in 0..self.mesh.triangles.len() {
            self.draw_face(f);
        }
        self.finish()
    }

    /// Turns the 1/z buffer into metric depth.
    fn finish(mut self) -> RenderedView {
        for (depth, &inv) in self.out.depth_m.iter_mut().zip(&self.inv_depth) {
            *depth = if inv > 0.0 {
                (1.0 / inv as f64) as f32
            } else {
                0.0
            };
        }
        self.out
    }

    fn draw_face(&mut self, face: usize) {
        let tri = self.mesh.triangles[face];
        let [a, b, c] = tri.map(|v| v as usize);
        let (ca, cb, cc) = (self.outcode[a], self.outcode[b], self.outcode[c]);
        // Trivial reject: all three vertices outside the same plane. The side tests are only
        // valid for vertices in front of the near plane, so require bit 0 clear on all three.
        if ca & cb & cc & 0b11 != 0 {
            return;
        }
        if (ca | cb | cc) & 1 == 0 && ca & cb & cc & 0b111100 != 0 {
            return;
        }
        let instance = self.face_instance.get(face).copied().unwrap_or(0);
        let vertex = |i: usize| ClipVertex {
            p: self.cam[i],
            color: if self.config.with_color {
                self.mesh.colors_rgb[i].map(|ch| ch as f64)
            } else {
                [0.0; 3]
            },
        };
        let verts = [vertex(a), vertex(b), vertex(c)];
        if (ca | cb | cc) & (1 | 64) == 0 {
            let colors = [verts[0].color, verts[1].color, verts[2].color];
            self.raster_triangle([self.proj[a], self.proj[b], self.proj[c]], colors, instance);
            return;
        }
        // Clip against the near plane and, when needed, the guard band.
        let mut planes = [Plane {
            n: [0.0; 3],
            d: 0.0,
        }; 5];
        let mut n_planes = 0;
        planes[n_planes] = Plane {
            n: [0.0, 0.0, 1.0],
            d: -self.config.near_m,
        };
        n_planes += 1;
        if (ca | cb | cc) & 64 != 0 {
            // u <= G  <=>  fx x + (cx - G) z <= 0, etc.
            let g = GUARD_BAND_PX;
            planes[1] = Plane {
                n: [-self.fx, 0.0, g - self.cx],
                d: 0.0,
            };
            planes[2] = Plane {
                n: [self.fx, 0.0, g + self.cx],
                d: 0.0,
            };
            planes[3] = Plane {
                n: [0.0, -self.fy, g - self.cy],
                d: 0.0,
            };
            planes[4] = Plane {
                n: [0.0, self.fy, g + self.cy],
                d: 0.0,
            };
            n_planes = 5;
        }
        let mut poly = [ClipVertex::default(); MAX_POLY];
        let mut n = 3;
        poly[..3].copy_from_slice(&verts);
        let mut next = [ClipVertex::default(); MAX_POLY];
        for plane in &planes[..n_planes] {
            let mut m = 0;
            for i in 0..n {
                let cur = poly[i];
                let prev = poly[(i + n - 1) % n];
                let (dc, dp) = (plane.eval(&cur.p), plane.eval(&prev.p));
                if dc >= 0.0 {
                    if dp < 0.0 && m < MAX_POLY {
                        next[m] = ClipVertex::lerp(&prev, &cur, dp / (dp - dc));
                        m += 1;
                    }
                    if m < MAX_POLY {
                        next[m] = cur;
                        m += 1;
                    }
                } else if dp >= 0.0 && m < MAX_POLY {
                    next[m] = ClipVertex::lerp(&prev, &cur, dp / (dp - dc));
                    m += 1;
                }
            }
            n = m;
            poly[..n].copy_from_slice(&next[..n]);
            if n < 3 {
                return;
            }
        }
        for i in 1..n - 1 {
            let k = Intrinsics {
                fx: self.fx,
                fy: self.fy,
                cx: self.cx,
                cy: self.cy,
            };
            let tri = [poly[0], poly[i], poly[i + 1]];
            self.raster_triangle(
                tri.map(|v| project(&k, &v.p)),
                tri.map(|v| v.color),
                instance,
            );
        }
    }

    /// Rasterizes one triangle whose vertices all lie in front of the near plane and inside
    /// the guard band.
    fn raster_triangle(&mut self, proj: [[f64; 3]; 3], colors: [[f64; 3]; 3], instance: u32) {
        let [u0, v0, w0] = proj[0];
        let [u1, v1, w1] = proj[1];
        let [u2, v2, w2] = proj[2];

        // Snapped integer vertices for the coverage test.
        // Round to the nearest sub-pixel step without a libm call: coordinates are inside the
        // guard band, so adding a large power of two makes the truncating cast a floor.
        const OFFSET: f64 = (1u64 << 40) as f64;
        let snap = |x: f64| (x * SUBPIXEL + (OFFSET + 0.5)) as i64 - (1i64 << 40);
        let mut p = [
            (snap(u0), snap(v0)),
            (snap(u1), snap(v1)),
            (snap(u2), snap(v2)),
        ];
        let area = (p[1].0 - p[0].0) * (p[2].1 - p[0].1) - (p[1].1 - p[0].1) * (p[2].0 - p[0].0);
        if area == 0 {
            return;
        }
        if area < 0 {
            p.swap(1, 2);
        }

        // Bounding box of the snapped triangle in whole pixels, clipped to the image.
        let ceil_px = |s: i64| (s + (1 << SUBPIXEL_BITS) - 1) >> SUBPIXEL_BITS;
        let floor_px = |s: i64| s >> SUBPIXEL_BITS;
        let x_start = ceil_px(p[0].0.min(p[1].0).min(p[2].0)).max(0);
        let x_end = floor_px(p[0].0.max(p[1].0).max(p[2].0)).min(self.width - 1);
        let y_start = ceil_px(p[0].1.min(p[1].1).min(p[2].1)).max(0);
        let y_end = floor_px(p[0].1.max(p[1].1).max(p[2].1)).min(self.height - 1);
        if x_start > x_end || y_start > y_end {
            return;
        }

        // Edge i goes from p[i] to p[(i+1)%3]; E(q) = (b.x-a.x)(q.y-a.y) - (b.y-a.y)(q.x-a.x) is
        // >= 0 inside. A pixel centre exactly on an edge (E == 0) is kept only when the edge
        // direction satisfies `dy < 0 || (dy == 0 && dx > 0)`; the same edge walked the other
        // way by the neighbouring triangle then fails the rule, so exactly one draws it.
        let mut step_x = [0i64; 3];
        let mut step_y = [0i64; 3];
        let mut row = [0i64; 3];
        let qx = x_start << SUBPIXEL_BITS;
        let qy = y_start << SUBPIXEL_BITS;
        for i in 0..3 {
            let (ax, ay) = p[i];
            let (bx, by) = p[(i + 1) % 3];
            let (dx, dy) = (bx - ax, by - ay);
            let keep_ties = dy < 0 || (dy == 0 && dx > 0);
            step_x[i] = -dy << SUBPIXEL_BITS;
            step_y[i] = dx << SUBPIXEL_BITS;
            row[i] = dx * (qy - ay) - dy * (qx - ax) - if keep_ties { 0 } else { 1 };
        }

        // Plane equations over (u, v) for 1/z and colour/z, from the unsnapped vertices.
        let det = (u1 - u0) * (v2 - v0) - (u2 - u0) * (v1 - v0);
        if det == 0.0 || !det.is_finite() {
            return;
        }
        let inv_det = 1.0 / det;
        let plane = |f0: f64, f1: f64, f2: f64| {
            let a = ((f1 - f0) * (v2 - v0) - (f2 - f0) * (v1 - v0)) * inv_det;
            let b = ((f2 - f0) * (u1 - u0) - (f1 - f0) * (u2 - u0)) * inv_det;
            (a, b, f0 - a * u0 - b * v0)
        };
        let (za, zb, zc) = plane(w0, w1, w2);
        let color_planes = if self.config.with_color {
            let mut planes = [(0.0, 0.0, 0.0); 3];
            for (ch, plane_ch) in planes.iter_mut().enumerate() {
                *plane_ch = plane(colors[0][ch] * w0, colors[1][ch] * w1, colors[2][ch] * w2);
            }
            Some(planes)
        } else {
            None
        };

        // Depth range as 1/z bounds (the near bound with the same tolerance as before).
        let inv_near = 1.0 / (self.config.near_m * (1.0 - 1e-9));
        let inv_far = 1.0 / self.config.far_m;
        let width = self.width as usize;
        // Disjoint borrows of the buffers, sliced per row below, so the pixel loop works on
        // plain slices (no bounds checks, pointers kept in registers).
        let inv_depth = &mut self.inv_depth;
        let instance_buf = &mut self.out.instance;
        let mut color_buf = self.out.color_rgb.as_mut();
        let (x_lo, x_hi) = (x_start as usize, x_end as usize + 1);
        for y in y_start..=y_end {
            let mut e = row;
            let yf = y as f64;
            let row_base = y as usize * width;
            let span = row_base + x_lo..row_base + x_hi;
            let inv_row = &mut inv_depth[span.clone()];
            let inst_row = &mut instance_buf[span.clone()];
            let row_inv_z = zb * yf + zc;
            // The covered pixels of a row are contiguous (the triangle is convex): once the
            // row has been entered, the first uncovered pixel ends it.
            let mut entered = false;
            for (i, (inv_px, inst_px)) in inv_row.iter_mut().zip(inst_row.iter_mut()).enumerate() {
                if (e[0] | e[1] | e[2]) < 0 {
                    if entered {
                        break;
                    }
                } else {
                    entered = true;
                    let xf = (x_lo + i) as f64;
                    let inv_z = za * xf + row_inv_z;
                    let inv32 = inv_z as f32;
                    if inv_z >= inv_far && inv_z <= inv_near && inv32 > *inv_px {
                        *inv_px = inv32;
                        *inst_px = instance;
                        if let (Some(planes), Some(color)) = (&color_planes, color_buf.as_mut()) {
                            let z = 1.0 / inv_z;
                            let mut rgb = [0u8; 3];
                            for ch in 0..3 {
                                let (a, b, c) = planes[ch];
                                rgb[ch] =
                                    ((a * xf + b * yf + c) * z).round().clamp(0.0, 255.0) as u8;
                            }
                            color[span.start + i] = rgb;
                        }
                    }
                }
                e[0] += step_x[0];
                e[1] += step_x[1];
                e[2] += step_x[2];
            }
            row[0] += step_y[0];
            row[1] += step_y[1];
            row[2] += step_y[2];
        }
    }
}

/// Depth of `point_in_world` seen from `camera` (camera-space z), for tests and callers that
/// compare analytic geometry with rendered depth.
pub fn camera_depth(camera: &Camera, point_in_world: &Point3<f64>) -> f64 {
    camera
        .world_from_camera
        .inverse_transform_point(point_in_world)
        .z
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{CameraModel, Intrinsics, Pose};
    use nalgebra::{Translation3, UnitQuaternion, Vector3};

    fn camera(width: u32, height: u32, world_from_camera: Pose) -> Camera {
        Camera {
            model: CameraModel {
                intrinsics: Intrinsics {
                    fx: 500.0,
                    fy: 500.0,
                    cx: (width as f64 - 1.0) / 2.0,
                    cy: (height as f64 - 1.0) / 2.0,
                },
                width,
                height,
            },
            world_from_camera,
        }
    }

    /// A square in the plane z = `z` (world), split into an `n x n` grid of triangle pairs.
    fn grid_quad(half: f32, z: f32, n: u32) -> Mesh {
        let mut mesh = Mesh::default();
        for j in 0..=n {
            for i in 0..=n {
                let x = -half + 2.0 * half * i as f32 / n as f32;
                let y = -half + 2.0 * half * j as f32 / n as f32;
                mesh.positions_m.push([x, y, z]);
                mesh.colors_rgb.push([200, 100, 50]);
            }
        }
        for j in 0..n {
            for i in 0..n {
                let a = j * (n + 1) + i;
                let (b, c, d) = (a + 1, a + n + 1, a + n + 2);
                mesh.triangles.push([a, b, d]);
                mesh.triangles.push([a, d, c]);
            }
        }
        mesh
    }

    #[test]
    fn fronto_parallel_plane_has_exact_depth_and_no_cracks() {
        // Camera at the origin looking down +Z (identity pose): the plane z = 2 fills the view.
        let mesh = grid_quad(10.0, 2.0, 37);
        let faces = vec![7u32; mesh.triangles.len()];
        let view = render(
            &mesh,
            &faces,
            &camera(64, 48, Pose::identity()),
            &RenderConfig::default(),
        );
        assert!(
            view.depth_m.iter().all(|&d| (d - 2.0).abs() < 1e-6),
            "every pixel hit at 2 m"
        );
        assert!(view.instance.iter().all(|&i| i == 7));
    }

    #[test]
    fn slanted_plane_depth_matches_analytic_ray_intersection() {
        // Plane through (0,0,3) with normal (0.3, -0.2, 1) in camera coordinates, tessellated.
        let pose = Pose::from_parts(
            Translation3::new(0.2, -0.1, 0.0),
            UnitQuaternion::from_axis_angle(&Vector3::y_axis(), 0.2),
        );
        let mut mesh = grid_quad(6.0, 0.0, 25);
        let normal = Vector3::new(0.3, -0.2, 1.0).normalize();
        let rot = UnitQuaternion::rotation_between(&Vector3::z(), &normal).unwrap();
        let plane_from_local = Pose::from_parts(Translation3::new(0.0, 0.0, 3.0), rot);
        for p in &mut mesh.positions_m {
            let q = (pose * plane_from_local).transform_point(&Point3::new(
                p[0] as f64,
                p[1] as f64,
                p[2] as f64,
            ));
            *p = [q.x as f32, q.y as f32, q.z as f32];
        }
        let cam = camera(80, 60, pose);
        let view = render(&mesh, &[], &cam, &RenderConfig::default());
        let k = cam.model.intrinsics;
        let mut checked = 0;
        for v in 0..60 {
            for u in 0..80 {
                let d = view.depth_m[v * 80 + u] as f64;
                assert!(d > 0.0, "pixel ({u},{v}) not covered");
                // Ray through the pixel in camera space: (x, y, 1) * t; plane n.(p - p0) = 0.
                let ray = Vector3::new((u as f64 - k.cx) / k.fx, (v as f64 - k.cy) / k.fy, 1.0);
                let t = normal.dot(&Vector3::new(0.0, 0.0, 3.0)) / normal.dot(&ray);
                assert!((d - t).abs() < 1e-4, "({u},{v}) depth {d} analytic {t}");
                checked += 1;
            }
        }
        assert_eq!(checked, 80 * 60);
    }

    #[test]
    fn shared_edges_are_drawn_exactly_once() {
        // Two triangles sharing a diagonal that passes exactly through pixel centres: count
        // draws with a depth trick (second triangle slightly nearer would win; instead render
        // each alone and check the union is the full set with no overlap).
        let mesh = Mesh {
            positions_m: vec![
                [-1.0, -1.0, 2.0],
                [1.0, -1.0, 2.0],
                [1.0, 1.0, 2.0],
                [-1.0, 1.0, 2.0],
            ],
            colors_rgb: vec![[0; 3]; 4],
            triangles: vec![[0, 1, 2], [0, 2, 3]],
        };
        let cam = camera(41, 41, Pose::identity());
        let config = RenderConfig::default();
        let a = render_faces(&mesh, &[1, 2], &[0], &cam, &config);
        let b = render_faces(&mesh, &[1, 2], &[1], &cam, &config);
        let both = render(&mesh, &[1, 2], &cam, &config);
        for i in 0..a.depth_m.len() {
            let (ha, hb) = (a.depth_m[i] > 0.0, b.depth_m[i] > 0.0);
            assert!(!(ha && hb), "pixel {i} drawn by both triangles");
            assert_eq!(ha || hb, both.depth_m[i] > 0.0);
        }
    }

    #[test]
    fn near_plane_clipping_keeps_the_visible_part() {
        // A floor-like plane y = 1 (below the camera) extending from behind to far ahead.
        let mesh = Mesh {
            positions_m: vec![
                [-5.0, 1.0, -5.0],
                [5.0, 1.0, -5.0],
                [5.0, 1.0, 15.0],
                [-5.0, 1.0, 15.0],
            ],
            colors_rgb: vec![[0; 3]; 4],
            triangles: vec![[0, 1, 2], [0, 2, 3]],
        };
        let cam = camera(40, 30, Pose::identity());
        let view = render(&mesh, &[], &cam, &RenderConfig::default());
        let k = cam.model.intrinsics;
        for v in 0..30 {
            for u in 0..40 {
                let d = view.depth_m[v * 40 + u] as f64;
                let dir_y = (v as f64 - k.cy) / k.fy;
                if dir_y > 1.0 / 15.0 + 1e-6 {
                    let t = 1.0 / dir_y;
                    assert!((d - t).abs() < 1e-4, "({u},{v}) {d} vs {t}");
                } else if dir_y < 1.0 / 15.0 - 1e-6 {
                    assert_eq!(d, 0.0, "above the far edge of the plane");
                }
            }
        }
    }

    #[test]
    fn nearer_surface_wins_and_far_plane_discards() {
        let mut mesh = grid_quad(10.0, 5.0, 2);
        let near = grid_quad(0.005, 1.0, 1);
        let offset = mesh.positions_m.len() as u32;
        mesh.positions_m.extend(near.positions_m);
        mesh.colors_rgb.extend(near.colors_rgb);
        mesh.triangles
            .extend(near.triangles.iter().map(|t| t.map(|v| v + offset)));
        let mut faces = vec![1u32; 8];
        faces.extend([2, 2]);
        let cam = camera(21, 21, Pose::identity());
        let view = render(&mesh, &faces, &cam, &RenderConfig::default());
        assert_eq!(view.instance[10 * 21 + 10], 2);
        assert!((view.depth_m[10 * 21 + 10] - 1.0).abs() < 1e-6);
        assert_eq!(view.instance[0], 1);
        let far = RenderConfig {
            far_m: 3.0,
            ..RenderConfig::default()
        };
        let view = render(&mesh, &faces, &cam, &far);
        assert_eq!(view.depth_m[0], 0.0);
        assert_eq!(view.instance[10 * 21 + 10], 2);
    }

    #[test]
    fn constant_vertex_colour_is_reproduced() {
        let mut mesh = grid_quad(10.0, 2.0, 1);
        mesh.colors_rgb = vec![[10, 20, 30]; 4];
        let cam = camera(16, 12, Pose::identity());
        let view = render(
            &mesh,
            &[],
            &cam,
            &RenderConfig {
                with_color: true,
                ..RenderConfig::default()
            },
        );
        assert!(view.color_rgb.unwrap().iter().all(|&c| c == [10, 20, 30]));
    }
}
