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
//!   *unsnapped* projected vertices in f64, so depth is exact for planar triangles up to
//!   floating-point rounding (see the z-buffer and the chunked path below), whatever the
//!   snapping.
//! - **Near / far**: triangles are clipped against `z = near_m` in camera space; pixels
//!   deeper than `far_m` are discarded (0.05 m / 20 m by default, like the official ScanNet++
//!   renderer). Triangles with vertices beyond a 2^20-pixel guard band are clipped against it
//!   too, so the integer arithmetic cannot overflow.
//! - **Z-buffer** holds 1/z as f32 (larger = nearer), so the per-pixel test needs no division;
//!   it becomes metric depth once per pixel at the end (relative change below 1e-7).
//! - **Two pixel paths, one coverage rule**: triangles whose box is under 64 pixels (nearly all
//!   of a scanned mesh) and that need no colour are swept in chunks of 8 pixels with SIMD lane
//!   masks ([`wide`], safe code: SSE2 on any x86-64, AVX2 when compiled for it, NEON on
//!   ARM); the others take a scalar loop. Both use the same snapped integer edge functions,
//!   so coverage is identical; the chunked path steps 1/z in f32 across a chunk (within 1e-6
//!   relative of the f64 plane, tested).
//! - **Ties** in depth keep the earlier triangle (faces are drawn in index order), so output is
//!   deterministic. Back faces are drawn: scanned meshes are not consistently oriented.

mod cull;

use nalgebra::Point3;
use rayon::prelude::*;
use wide::{f32x8, f64x4, i16x8, i32x8, u16x8, u32x8};

pub use cull::FaceGroups;

use crate::io::MAX_IMAGE_SIDE;
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

/// The most pixels [`faces_coverage`] may be asked to consider (16384^2, the image size
/// [`render`] accepts): its buffers hold at most this many entries.
pub const MAX_COVERAGE_PIXELS: u64 = MAX_IMAGE_SIDE as u64 * MAX_IMAGE_SIDE as u64;

/// Why the rasterizer refuses a camera. Every reader checks image sizes against
/// [`MAX_IMAGE_SIDE`] when it reads them, so a scene never gets here; this guards callers of
/// the library that build cameras themselves (the buffers are `width * height`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("camera image {width}x{height}: each side must be 1 to {MAX_IMAGE_SIDE} pixels")]
    ImageSize { width: u32, height: u32 },
    #[error(
        "camera image {width}x{height} for a coverage count: it must have at least one pixel \
         and at most {MAX_COVERAGE_PIXELS}"
    )]
    CoverageSize { width: u32, height: u32 },
}

/// Checks that a camera's image can be rendered: each side 1 to [`MAX_IMAGE_SIDE`] pixels.
pub fn check_render_size(camera: &Camera) -> Result<(), RenderError> {
    let (width, height) = (camera.model.width, camera.model.height);
    if (1..=MAX_IMAGE_SIDE).contains(&width) && (1..=MAX_IMAGE_SIDE).contains(&height) {
        Ok(())
    } else {
        Err(RenderError::ImageSize { width, height })
    }
}

/// Renders the whole mesh. `face_instance` gives each face's instance id (0 = none); pass
/// an empty slice when instance ids are not wanted. Refuses a camera whose image is empty or
/// has a side over [`MAX_IMAGE_SIDE`] ([`check_render_size`]).
pub fn render(
    mesh: &Mesh,
    face_instance: &[u32],
    camera: &Camera,
    config: &RenderConfig,
) -> Result<RenderedView, RenderError> {
    check_render_size(camera)?;
    Ok(Rasterizer::new(mesh, face_instance, camera, config).draw_all())
}

/// [`render`] of `groups`' mesh that skips the groups of faces wholly outside the view frustum
/// (vertex stage and face tests): the same image, pixel for pixel (see [`FaceGroups`]).
pub fn render_culled(
    groups: &FaceGroups,
    face_instance: &[u32],
    camera: &Camera,
    config: &RenderConfig,
) -> Result<RenderedView, RenderError> {
    check_render_size(camera)?;
    let mesh = groups.mesh();
    let stage = VertexStage::Culled(groups);
    let mut r = Rasterizer::with_vertex_stage(mesh, face_instance, camera, config, stage, false);
    let drawn = std::mem::take(&mut r.vertices.drawn);
    let proj = std::mem::take(&mut r.vertices.proj);
    for (w, &word) in drawn.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            r.draw_face(w * 64 + bits.trailing_zeros() as usize, &proj);
            bits &= bits - 1;
        }
    }
    r.vertices.proj = proj;
    r.vertices.drawn = drawn;
    Ok(r.finish())
}

/// Renders only the listed faces (e.g. one instance alone, for occlusion-free pixel counts).
/// Same size rule as [`render`].
pub fn render_faces(
    mesh: &Mesh,
    face_instance: &[u32],
    faces: &[u32],
    camera: &Camera,
    config: &RenderConfig,
) -> Result<RenderedView, RenderError> {
    check_render_size(camera)?;
    let mut r = Rasterizer::for_faces(mesh, face_instance, camera, config, faces);
    r.draw_faces(faces.iter().map(|&f| f as usize));
    Ok(r.finish())
}

/// How many pixels some faces cover when rendered alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaceCoverage {
    /// Pixels of the image the faces cover (those [`render_faces`] gives a depth above 0).
    pub covered_px: u64,
    /// Those of them whose column is in `columns` and row in `rows`.
    pub covered_in_rect_px: u64,
}

/// Counts the pixels that [`render_faces`] of the same faces would give a depth (coverage,
/// near and far rules included), without producing the images: no depth conversion and no
/// output buffers. The image may be wider or taller than [`render`] accepts (the enlarged
/// virtual images of truncation measurement), but not have more than [`MAX_COVERAGE_PIXELS`]
/// pixels.
pub fn faces_coverage(
    mesh: &Mesh,
    faces: &[u32],
    camera: &Camera,
    config: &RenderConfig,
    columns: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
) -> Result<FaceCoverage, RenderError> {
    let (width, height) = (camera.model.width, camera.model.height);
    let pixels = width as u64 * height as u64;
    if pixels == 0 || pixels > MAX_COVERAGE_PIXELS {
        return Err(RenderError::CoverageSize { width, height });
    }
    let mut r = Rasterizer::for_faces_windowed(mesh, camera, config, faces);
    r.draw_faces(faces.iter().map(|&f| f as usize));
    Ok(r.coverage(columns, rows))
}

/// Renders many views in parallel (rayon). Output order follows `cameras`; each view is
/// [`render`]'s result for its camera.
pub fn render_many(
    mesh: &Mesh,
    face_instance: &[u32],
    cameras: &[Camera],
    config: &RenderConfig,
) -> Vec<Result<RenderedView, RenderError>> {
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

/// `camera_from_world * p` for a mesh vertex, in f64.
#[inline]
fn transform(m: &[[f64; 4]; 3], p: &[f32; 3]) -> [f64; 3] {
    let (x, y, z) = (p[0] as f64, p[1] as f64, p[2] as f64);
    m.map(|r| r[0] * x + r[1] * y + r[2] * z + r[3])
}

thread_local! {
    /// Per-thread storage for the per-vertex arrays of [`Rasterizer`], reused from one render
    /// to the next (they are as large as the mesh; allocating them afresh for every view
    /// costs page faults).
    static SCRATCH: std::cell::Cell<VertexScratch> = Default::default();
}

/// The per-vertex arrays of one render and the bookkeeping of renders of a face subset.
#[derive(Default)]
struct VertexScratch {
    /// Per-vertex outcode (see [`Rasterizer::outcode`]).
    outcode: Vec<u8>,
    /// Per-vertex projection (see [`Rasterizer::proj`]).
    proj: Vec<ProjVertex>,
    /// For renders of a face subset: `stamp[v] == generation` when vertex `v` has already
    /// been transformed for the current render (so a vertex shared by six faces is
    /// transformed once).
    stamp: Vec<u32>,
    generation: u32,
    /// The vertices of the current face subset, in first-use order.
    used: Vec<u32>,
    /// For culled renders: bit `f % 64` of word `f / 64` is set when face `f` is drawn.
    drawn: Vec<u64>,
}

/// Which vertices a rasterizer transforms.
#[derive(Clone, Copy)]
enum VertexStage<'a> {
    /// Every vertex of the mesh.
    All,
    /// The vertices of these faces.
    Faces(&'a [u32]),
    /// The vertices of the face groups that the view does not cull; the faces of those groups
    /// are marked in `VertexScratch::drawn`.
    Culled(&'a FaceGroups<'a>),
}

/// The vertex stage of one view: camera-space transform, outcode and projection.
struct ViewTransform {
    camera_from_world: [[f64; 4]; 3],
    k: Intrinsics,
    near_m: f64,
    far_m: f64,
    width: f64,
    height: f64,
}

impl ViewTransform {
    /// Appends every vertex's outcode and projection; four vertices at a time with SIMD
    /// (the same IEEE operations in the same order as [`ViewTransform::vertex`], so the
    /// results are identical), the remainder one by one.
    fn vertices(&self, positions: &[[f32; 3]], outcode: &mut Vec<u8>, proj: &mut Vec<ProjVertex>) {
        outcode.reserve(positions.len());
        proj.reserve(positions.len());
        let mut quads = positions.chunks_exact(4);
        for quad in &mut quads {
            // `write` is called for lanes 0 to 3 in order.
            self.vertices4(std::array::from_fn(|l| &quad[l]), |_, code, projected| {
                outcode.push(code);
                proj.push(projected);
            });
        }
        for p in quads.remainder() {
            let (code, projected) = self.vertex(p);
            outcode.push(code);
            proj.push(projected);
        }
    }

    /// Outcode and projection of the listed vertices only, written at their indices (the
    /// other entries are left as they are). Same operations as [`ViewTransform::vertices`],
    /// so the listed entries are identical to what it would write.
    fn some_vertices(
        &self,
        positions: &[[f32; 3]],
        vertices: &[u32],
        outcode: &mut [u8],
        proj: &mut [ProjVertex],
    ) {
        let mut quads = vertices.chunks_exact(4);
        for quad in &mut quads {
            let quad: &[u32; 4] = quad.try_into().expect("chunks of 4");
            self.vertices4(
                quad.map(|v| &positions[v as usize]),
                |l, code, projected| {
                    outcode[quad[l] as usize] = code;
                    proj[quad[l] as usize] = projected;
                },
            );
        }
        for &v in quads.remainder() {
            (outcode[v as usize], proj[v as usize]) = self.vertex(&positions[v as usize]);
        }
    }

    /// Outcode (bit 0 z < near, 1 z > far, 2..5 outside left/right/top/bottom of the image,
    /// 6 outside the guard band; the side bits only for vertices in front of the near
    /// plane) and projection of one vertex.
    #[inline]
    fn vertex(&self, p: &[f32; 3]) -> (u8, ProjVertex) {
        let c = transform(&self.camera_from_world, p);
        let [u, v, inv_z] = project(&self.k, &c);
        let in_front = c[2] >= self.near_m;
        let code = outcode_bits([
            !in_front,
            c[2] > self.far_m,
            u < -0.5,
            u > self.width - 0.5,
            v < -0.5,
            v > self.height - 0.5,
            u.abs() > GUARD_BAND_PX || v.abs() > GUARD_BAND_PX,
        ]);
        (code, ProjVertex::new([u, v, inv_z]))
    }

    /// [`ViewTransform::vertex`] for four vertices in f64x4 lanes; `write(lane, outcode,
    /// projection)` receives each lane's result. Always inlined, with the positions taken by
    /// reference: each coordinate is loaded straight into its lane, and the results are
    /// written where the caller keeps them. (Copying the positions into an array and the
    /// results out of one went through the stack with stores narrower than the loads that
    /// read them back, which the CPU cannot forward: about half of the vertex stage's time.)
    #[inline(always)]
    fn vertices4(&self, p: [&[f32; 3]; 4], mut write: impl FnMut(usize, u8, ProjVertex)) {
        let axis = |a: usize| f64x4::new(p.map(|q| q[a] as f64));
        let (x, y, z) = (axis(0), axis(1), axis(2));
        let row = |r: &[f64; 4]| {
            f64x4::splat(r[0]) * x
                + f64x4::splat(r[1]) * y
                + f64x4::splat(r[2]) * z
                + f64x4::splat(r[3])
        };
        let [m0, m1, m2] = &self.camera_from_world;
        let (cx, cy, cz) = (row(m0), row(m1), row(m2));
        let inv_z = f64x4::ONE / cz;
        let u = f64x4::splat(self.k.fx) * cx * inv_z + f64x4::splat(self.k.cx);
        let v = f64x4::splat(self.k.fy) * cy * inv_z + f64x4::splat(self.k.cy);
        let half = f64x4::splat(0.5);
        let guard = f64x4::splat(GUARD_BAND_PX);
        let bits = |mask: f64x4| mask.to_bitmask();
        let left = bits(u.simd_lt(-half));
        let right = bits(u.simd_gt(f64x4::splat(self.width) - half));
        let top = bits(v.simd_lt(-half));
        let bottom = bits(v.simd_gt(f64x4::splat(self.height) - half));
        let outside_guard = bits(u.abs().simd_gt(guard) | v.abs().simd_gt(guard));
        let in_front = bits(cz.simd_ge(f64x4::splat(self.near_m)));
        let beyond_far = bits(cz.simd_gt(f64x4::splat(self.far_m)));
        let (u, v, inv_z) = (u.to_array(), v.to_array(), inv_z.to_array());
        // The four outcodes at once, byte l for lane l (what `outcode_bits` gives lane by
        // lane): `spread` moves bit l of a 4-lane mask to bit 0 of byte l (the four shifted
        // copies of the mask do not overlap, so the product has no carries).
        let spread = |mask: u32| (mask * 0x0020_4081) & 0x0101_0101;
        let sides = spread(left) << 2
            | spread(right) << 3
            | spread(top) << 4
            | spread(bottom) << 5
            | spread(outside_guard) << 6;
        let behind = spread(!in_front & 0b1111);
        let codes = ((sides & !(behind * 0xff)) | behind | spread(beyond_far) << 1).to_le_bytes();
        for l in 0..4 {
            write(l, codes[l], ProjVertex::new([u[l], v[l], inv_z[l]]));
        }
    }
}

/// Packs the outcode: bit 0 behind the near plane, 1 beyond the far plane, then (only for a
/// vertex in front of the near plane, where the projection means something) 2..5 outside the
/// left/right/top/bottom of the image and 6 outside the guard band.
#[inline]
fn outcode_bits([behind, beyond_far, left, right, top, bottom, outside_guard]: [bool; 7]) -> u8 {
    let sides = [left, right, top, bottom, outside_guard]
        .iter()
        .enumerate()
        .fold(0u8, |code, (i, &b)| code | ((b as u8) << (i + 2)));
    (if behind { 1 } else { sides }) | ((beyond_far as u8) << 1)
}

/// A vertex projected for one view: `(u, v, 1/z)` and `(u, v)` snapped to the sub-pixel grid
/// of the coverage test (meaningful only inside the guard band).
#[derive(Clone, Copy, Debug, Default)]
struct ProjVertex {
    uvw: [f64; 3],
    snapped: [i32; 2],
}

impl ProjVertex {
    #[inline]
    fn new(uvw: [f64; 3]) -> Self {
        // Round to the nearest sub-pixel step without a libm call: inside the guard band,
        // adding a large power of two makes the truncating cast a floor. Outside it the
        // (saturating) result is never used, so the subtraction wraps: a vertex on the camera
        // plane projects to an infinite `u`, whose cast saturates at `i64::MIN`.
        const OFFSET: f64 = (1u64 << 40) as f64;
        let snap =
            |x: f64| ((x * SUBPIXEL + (OFFSET + 0.5)) as i64).wrapping_sub(1i64 << 40) as i32;
        ProjVertex {
            uvw,
            snapped: [snap(uvw[0]), snap(uvw[1])],
        }
    }
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

/// The rectangle of image pixels a render's buffers hold (inclusive bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PixelWindow {
    x0: i64,
    x1: i64,
    y0: i64,
    y1: i64,
    /// Buffer row length, `x1 - x0 + 1`.
    stride: usize,
}

impl PixelWindow {
    fn whole(width: i64, height: i64) -> PixelWindow {
        PixelWindow {
            x0: 0,
            x1: width - 1,
            y0: 0,
            y1: height - 1,
            stride: width.max(0) as usize,
        }
    }

    /// Pixels held (0 for an empty window).
    fn len(&self) -> usize {
        if self.x1 < self.x0 || self.y1 < self.y0 {
            0
        } else {
            self.stride * (self.y1 - self.y0 + 1) as usize
        }
    }

    /// The window of the pixels that triangles over `vertices` can cover, within the image:
    /// the pixel box of their snapped positions, which bounds every triangle's own box (see
    /// [`Rasterizer::raster_triangle`]). `None` (use the whole image) when a vertex is behind
    /// the near plane or outside the guard band: its faces are clipped, and the clipped
    /// polygon's vertices are not among these.
    fn of_vertices(
        vertices: &[u32],
        outcode: &[u8],
        proj: &[ProjVertex],
        width: i64,
        height: i64,
    ) -> Option<PixelWindow> {
        let (mut min, mut max) = ([i64::MAX; 2], [i64::MIN; 2]);
        for &v in vertices {
            if outcode[v as usize] & (1 | 64) != 0 {
                return None;
            }
            let snapped = proj[v as usize].snapped;
            for axis in 0..2 {
                min[axis] = min[axis].min(snapped[axis] as i64);
                max[axis] = max[axis].max(snapped[axis] as i64);
            }
        }
        let ceil_px = |s: i64| (s + (1 << SUBPIXEL_BITS) - 1) >> SUBPIXEL_BITS;
        let floor_px = |s: i64| s >> SUBPIXEL_BITS;
        let (x0, x1) = (ceil_px(min[0]).max(0), floor_px(max[0]).min(width - 1));
        let (y0, y1) = (ceil_px(min[1]).max(0), floor_px(max[1]).min(height - 1));
        Some(PixelWindow {
            x0,
            x1,
            y0,
            y1,
            stride: (x1 - x0 + 1).max(0) as usize,
        })
    }
}

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
    /// `camera_from_world` rows (3x4), for the camera-space positions the clipping path needs.
    camera_from_world: [[f64; 4]; 3],
    /// Per-vertex outcode (`vertices.outcode`: bit 0 z < near, 1 z > far, 2..5 outside
    /// left/right/top/bottom of the image (only meaningful when z >= near), 6 outside the
    /// guard band) and `(u, v, 1/z)` (`vertices.proj`, meaningful for vertices in front of
    /// the near plane, computed once per view with [`project`]). For a render of a face
    /// subset only the subset's vertices are computed; the other entries are stale and never
    /// read.
    vertices: VertexScratch,
    /// The z-buffer, kept as 1/z (larger = nearer, 0 = empty) so the per-pixel test needs no
    /// division; converted to metric depth once per pixel in [`Rasterizer::finish`]. Row-major
    /// `width * height` pixels plus [`LANES`] of padding at the end, so a chunk of [`LANES`]
    /// pixels starting anywhere in the image stays in bounds (lanes past the end of a row
    /// read and write back the next row's pixels unchanged).
    inv_depth: Vec<f32>,
    /// Instance ids, same layout as `inv_depth` (see [`InstanceBuffer`]).
    instance: InstanceBuffer,
    /// The pixels the buffers hold: the whole image, or for [`faces_coverage`] the rectangle
    /// that the faces' vertices span (every pixel they can cover lies in it), so that a small
    /// object on a large virtual image clears and scans only its own pixels. Pixel `(x, y)`
    /// of the image is buffer entry `(y - window.y0) * window.stride + (x - window.x0)`.
    window: PixelWindow,
    /// Interpolated colour (unpadded, `width * height`), when `RenderConfig::with_color`.
    color: Option<Vec<[u8; 3]>>,
    /// `1/z` bounds of the depth range: the near bound (with a 1e-9 relative tolerance) and
    /// the far bound.
    inv_near: f64,
    inv_far: f64,
    /// Whether small triangles take the chunked SIMD path ([`ChunkedTriangle`]); the tests
    /// turn it off to compare with the scalar path.
    chunked: bool,
}

impl<'a> Rasterizer<'a> {
    /// A rasterizer for the whole mesh: every vertex goes through the vertex stage.
    fn new(
        mesh: &'a Mesh,
        face_instance: &'a [u32],
        camera: &Camera,
        config: &RenderConfig,
    ) -> Self {
        Self::with_vertex_stage(mesh, face_instance, camera, config, VertexStage::All, false)
    }

    /// A rasterizer that may only draw `faces`: the vertex stage runs on their vertices
    /// alone (an object rendered alone is a few hundred vertices of a mesh of 100K).
    fn for_faces(
        mesh: &'a Mesh,
        face_instance: &'a [u32],
        camera: &Camera,
        config: &RenderConfig,
        faces: &[u32],
    ) -> Self {
        Self::with_vertex_stage(
            mesh,
            face_instance,
            camera,
            config,
            VertexStage::Faces(faces),
            false,
        )
    }

    /// [`Rasterizer::for_faces`] whose buffers hold only the pixels the faces can cover
    /// ([`PixelWindow::of_vertices`]); such a rasterizer can only [`Rasterizer::coverage`].
    fn for_faces_windowed(
        mesh: &'a Mesh,
        camera: &Camera,
        config: &RenderConfig,
        faces: &[u32],
    ) -> Self {
        Self::with_vertex_stage(mesh, &[], camera, config, VertexStage::Faces(faces), true)
    }

    fn with_vertex_stage(
        mesh: &'a Mesh,
        face_instance: &'a [u32],
        camera: &Camera,
        config: &RenderConfig,
        stage: VertexStage,
        windowed: bool,
    ) -> Self {
        let k = camera.model.intrinsics;
        let (width, height) = (camera.model.width, camera.model.height);
        let camera_from_world = camera.world_from_camera.inverse().to_homogeneous();
        let m = camera_from_world;
        let camera_from_world: [[f64; 4]; 3] =
            std::array::from_fn(|r| std::array::from_fn(|col| m[(r, col)]));
        let view = ViewTransform {
            camera_from_world,
            k,
            near_m: config.near_m,
            far_m: config.far_m,
            width: width as f64,
            height: height as f64,
        };
        let mut vertices = SCRATCH.take();
        match stage {
            VertexStage::All => {
                vertices.outcode.clear();
                vertices.proj.clear();
                view.vertices(&mesh.positions_m, &mut vertices.outcode, &mut vertices.proj);
            }
            VertexStage::Culled(groups) => {
                let n_vertices = mesh.positions_m.len();
                if vertices.outcode.len() < n_vertices {
                    vertices.outcode.resize(n_vertices, 0);
                    vertices.proj.resize(n_vertices, ProjVertex::default());
                }
                vertices.drawn.clear();
                vertices.drawn.resize(mesh.triangles.len().div_ceil(64), 0);
                let frustum = cull::Frustum::new(camera, config);
                for (face_words, group_vertices) in groups.visible(&frustum) {
                    view.some_vertices(
                        &mesh.positions_m,
                        group_vertices,
                        &mut vertices.outcode,
                        &mut vertices.proj,
                    );
                    for &(w, bits) in face_words {
                        vertices.drawn[w as usize] |= bits;
                    }
                }
            }
            VertexStage::Faces(faces) => {
                let n_vertices = mesh.positions_m.len();
                if vertices.outcode.len() < n_vertices {
                    vertices.outcode.resize(n_vertices, 0);
                    vertices.proj.resize(n_vertices, ProjVertex::default());
                }
                if vertices.stamp.len() < n_vertices {
                    vertices.stamp.resize(n_vertices, 0);
                }
                vertices.generation = vertices.generation.wrapping_add(1);
                if vertices.generation == 0 {
                    vertices.stamp.fill(0);
                    vertices.generation = 1;
                }
                let generation = vertices.generation;
                vertices.used.clear();
                for &face in faces {
                    for v in mesh.triangles[face as usize] {
                        let stamp = &mut vertices.stamp[v as usize];
                        if *stamp != generation {
                            *stamp = generation;
                            vertices.used.push(v);
                        }
                    }
                }
                view.some_vertices(
                    &mesh.positions_m,
                    &vertices.used,
                    &mut vertices.outcode,
                    &mut vertices.proj,
                );
            }
        }
        let (w, h) = (width as i64, height as i64);
        let window = match stage {
            VertexStage::Faces(_) if windowed => {
                PixelWindow::of_vertices(&vertices.used, &vertices.outcode, &vertices.proj, w, h)
                    .unwrap_or(PixelWindow::whole(w, h))
            }
            _ => PixelWindow::whole(w, h),
        };
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
            camera_from_world,
            vertices,
            inv_depth: vec![0.0; window.len() + LANES],
            instance: InstanceBuffer::zeroed(window.len() + LANES, face_instance),
            window,
            color: config
                .with_color
                .then(|| vec![[0, 0, 0]; width as usize * height as usize]),
            inv_near: 1.0 / (config.near_m * (1.0 - 1e-9)),
            inv_far: 1.0 / config.far_m,
            chunked: true,
        }
    }

    fn draw_all(mut self) -> RenderedView {
        self.draw_faces(0..self.mesh.triangles.len());
        self.finish()
    }

    /// Draws `faces` in order (see [`Rasterizer::draw_face`]).
    fn draw_faces(&mut self, faces: impl IntoIterator<Item = usize>) {
        let proj = std::mem::take(&mut self.vertices.proj);
        for f in faces {
            self.draw_face(f, &proj);
        }
        self.vertices.proj = proj;
    }

    /// Turns the 1/z buffer into metric depth (in place) and drops the padding.
    fn finish(self) -> RenderedView {
        debug_assert_eq!(self.window, PixelWindow::whole(self.width, self.height));
        SCRATCH.set(self.vertices);
        let n = (self.width * self.height) as usize;
        let mut depth_m = self.inv_depth;
        depth_m.truncate(n);
        for d in &mut depth_m {
            *d = if *d > 0.0 {
                (1.0 / *d as f64) as f32
            } else {
                0.0
            };
        }
        let instance = self.instance.into_ids(n);
        RenderedView {
            width: self.width as u32,
            height: self.height as u32,
            depth_m,
            instance,
            color_rgb: self.color,
        }
    }

    /// Counts the covered pixels (1/z above 0) and returns the vertex scratch for reuse.
    fn coverage(
        self,
        columns: std::ops::Range<usize>,
        rows: std::ops::Range<usize>,
    ) -> FaceCoverage {
        SCRATCH.set(self.vertices);
        let window = self.window;
        let mut counts = FaceCoverage::default();
        let n = window.len();
        if n == 0 {
            return counts;
        }
        // The rectangle's columns in buffer coordinates.
        let x0 = window.x0 as usize;
        let start = columns.start.clamp(x0, x0 + window.stride) - x0;
        let end = columns.end.clamp(x0 + start, x0 + window.stride) - x0;
        let rows_held = self.inv_depth[..n].chunks_exact(window.stride);
        for (y, row) in (window.y0 as usize..).zip(rows_held) {
            let covered = row.iter().filter(|&&d| d > 0.0).count() as u64;
            counts.covered_px += covered;
            if covered > 0 && rows.contains(&y) {
                counts.covered_in_rect_px +=
                    row[start..end].iter().filter(|&&d| d > 0.0).count() as u64;
            }
        }
        counts
    }

    /// Draws one face. `proj` is `self.vertices.proj`, moved out of `self` by the caller for
    /// the faces it draws, so that a triangle's set-up reads its three projected vertices in
    /// place while the pixel buffers are written. (Copying the three to the stack first, 96
    /// bytes per triangle, held the face loop's hottest instructions.)
    #[inline]
    fn draw_face(&mut self, face: usize, proj: &[ProjVertex]) {
        let tri = self.mesh.triangles[face];
        let [a, b, c] = tri.map(|v| v as usize);
        let outcode = &self.vertices.outcode;
        let (ca, cb, cc) = (outcode[a], outcode[b], outcode[c]);
        // Trivial reject: all three vertices outside the same plane. The side tests are only
        // valid for vertices in front of the near plane, so require bit 0 clear on all three.
        if ca & cb & cc & 0b11 != 0 {
            return;
        }
        if (ca | cb | cc) & 1 == 0 && ca & cb & cc & 0b111100 != 0 {
            return;
        }
        let instance = self.face_instance.get(face).copied().unwrap_or(0);
        if (ca | cb | cc) & (1 | 64) == 0 {
            let colors = self.vertex_colors([a, b, c]);
            self.raster_triangle([&proj[a], &proj[b], &proj[c]], colors, instance);
        } else {
            self.clip_and_draw([a, b, c], ca | cb | cc, instance);
        }
    }

    /// Vertex colours as f64 (zeros when colour is off).
    #[inline]
    fn vertex_colors(&self, vertices: [usize; 3]) -> [[f64; 3]; 3] {
        if self.config.with_color {
            vertices.map(|i| self.mesh.colors_rgb[i].map(|ch| ch as f64))
        } else {
            [[0.0; 3]; 3]
        }
    }

    /// Draws a triangle that crosses the near plane or the guard band: clips it in camera
    /// space and rasterizes the resulting fan.
    #[cold]
    #[inline(never)]
    fn clip_and_draw(&mut self, [a, b, c]: [usize; 3], outcode_or: u8, instance: u32) {
        let colors = self.vertex_colors([a, b, c]);
        let verts =
            [a, b, c].map(|i| transform(&self.camera_from_world, &self.mesh.positions_m[i]));
        let verts: [ClipVertex; 3] = std::array::from_fn(|i| ClipVertex {
            p: verts[i],
            color: colors[i],
        });
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
        if outcode_or & 64 != 0 {
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
                tri.map(|v| ProjVertex::new(project(&k, &v.p))).each_ref(),
                tri.map(|v| v.color),
                instance,
            );
        }
    }

    /// Rasterizes one triangle whose vertices all lie in front of the near plane and inside
    /// the guard band: small triangles without colour take the chunked path, the others the
    /// scalar one.
    #[inline(always)]
    fn raster_triangle(&mut self, proj: [&ProjVertex; 3], colors: [[f64; 3]; 3], instance: u32) {
        let Some(setup) = TriangleSetup::new(proj, &self.window) else {
            return;
        };
        if self.chunked && !self.config.with_color && setup.fits_chunks {
            self.draw_chunks(&setup, proj, instance);
        } else {
            self.raster_scalar(&setup, proj, colors, instance);
        }
    }

    /// The chunked path of [`Rasterizer::raster_triangle`].
    #[inline(always)]
    fn draw_chunks(&mut self, setup: &TriangleSetup, proj: [&ProjVertex; 3], instance: u32) {
        let [w0, w1, w2] = proj.map(|v| v.uvw[2]);
        let (inv_near, inv_far) = (self.inv_near, self.inv_far);
        let chunks = ChunkedTriangle {
            row: setup.row.map(|e| e as i32),
            step_x: setup.step_x.map(|s| s as i32),
            step_y: setup.step_y.map(|s| s as i32),
            za: setup.za,
            zb: setup.zb,
            zc: setup.zc,
            inv_near,
            inv_far,
            instance,
        };
        // Every covered pixel's 1/z lies between the vertices' (up to f32 rounding, far below
        // the 1e-5 margin), so the per-pixel depth-range test can be dropped when all three
        // vertices are inside the range with that margin.
        let inside_range = w0.min(w1).min(w2) >= inv_far * (1.0 + 1e-5)
            && w0.max(w1).max(w2) <= inv_near * (1.0 - 1e-5);
        // Boxes one or two chunks wide take copies of the loop with the chunk walk unrolled
        // (fewer live SIMD values, fewer spills; same pixels).
        let (x, y) = (setup.x, setup.y);
        let chunks_per_row = (x.1 - x.0).div_ceil(LANES);
        let general = !inside_range || setup.cut_right;
        let (inv_depth, window) = (&mut self.inv_depth, &self.window);
        match &mut self.instance {
            InstanceBuffer::U16(ids) => ChunkedTriangle::copy(general, chunks_per_row)(
                &chunks, inv_depth, ids, window, x, y,
            ),
            InstanceBuffer::U32(ids) => ChunkedTriangle::copy(general, chunks_per_row)(
                &chunks, inv_depth, ids, window, x, y,
            ),
        }
    }

    /// The scalar path of [`Rasterizer::raster_triangle`] (large triangles, colour renders):
    /// one pixel at a time, 1/z and colour/z from f64 planes.
    #[inline(never)]
    fn raster_scalar(
        &mut self,
        setup: &TriangleSetup,
        proj: [&ProjVertex; 3],
        colors: [[f64; 3]; 3],
        instance: u32,
    ) {
        // Colour/z planes, fitted like the 1/z plane.
        let color_planes = self.config.with_color.then(|| {
            std::array::from_fn(|ch| {
                let f = std::array::from_fn(|i| colors[i][ch] * proj[i].uvw[2]);
                fit_plane(proj, setup.inv_det, f)
            })
        });
        let window = self.window;
        let scalar = ScalarTriangle {
            setup,
            inv_near: self.inv_near,
            inv_far: self.inv_far,
            instance,
            color_planes,
        };
        let width = self.width as usize;
        let (inv_depth, color) = (&mut self.inv_depth, self.color.as_mut());
        match &mut self.instance {
            InstanceBuffer::U16(ids) => scalar.draw(inv_depth, ids, color, &window, width),
            InstanceBuffer::U32(ids) => scalar.draw(inv_depth, ids, color, &window, width),
        }
    }
}

/// What rasterizing a triangle needs before it touches a pixel: the snapped coverage test's
/// edge functions over the triangle's pixel box and the 1/z plane.
struct TriangleSetup {
    /// Edge values at the first pixel of the box (tie rule applied) and their steps per pixel
    /// in x and y.
    row: [i64; 3],
    step_x: [i64; 3],
    step_y: [i64; 3],
    /// The 1/z plane over image coordinates: `1/z = za u + zb v + zc`.
    za: f64,
    zb: f64,
    zc: f64,
    /// 1 / the determinant of the unsnapped (u, v), for [`fit_plane`].
    inv_det: f64,
    /// The pixel box `x.0..x.1` x `y.0..y.1`, within the window.
    x: (usize, usize),
    y: (usize, usize),
    /// Whether the window cut the box on the right (the snapped triangle reaches past it).
    cut_right: bool,
    /// Whether every edge value the chunked path can meet fits an i32 (see below).
    fits_chunks: bool,
}

impl TriangleSetup {
    /// The set-up of a triangle whose vertices lie in front of the near plane and inside the
    /// guard band; `None` when it covers no pixel centre of `window` (zero snapped area, an
    /// empty box) or its 1/z plane is degenerate.
    #[inline(always)]
    fn new(proj: [&ProjVertex; 3], window: &PixelWindow) -> Option<TriangleSetup> {
        let [u0, v0, w0] = proj[0].uvw;
        let [u1, v1, w1] = proj[1].uvw;
        let [u2, v2, w2] = proj[2].uvw;
        // Snapped integer vertices for the coverage test.
        let mut p = proj.map(|v| (v.snapped[0] as i64, v.snapped[1] as i64));
        let area = (p[1].0 - p[0].0) * (p[2].1 - p[0].1) - (p[1].1 - p[0].1) * (p[2].0 - p[0].0);
        if area == 0 {
            return None;
        }
        if area < 0 {
            p.swap(1, 2);
        }

        // Bounding box of the snapped triangle in whole pixels, clipped to the window. The
        // window holds every pixel a triangle of its faces can cover (for a whole render it is
        // the image), so clipping to it drops nothing.
        let ceil_px = |s: i64| (s + (1 << SUBPIXEL_BITS) - 1) >> SUBPIXEL_BITS;
        let floor_px = |s: i64| s >> SUBPIXEL_BITS;
        let (min_x, max_x) = (
            p[0].0.min(p[1].0).min(p[2].0),
            p[0].0.max(p[1].0).max(p[2].0),
        );
        let (min_y, max_y) = (
            p[0].1.min(p[1].1).min(p[2].1),
            p[0].1.max(p[1].1).max(p[2].1),
        );
        let x_start = ceil_px(min_x).max(window.x0);
        let x_end = floor_px(max_x).min(window.x1);
        let y_start = ceil_px(min_y).max(window.y0);
        let y_end = floor_px(max_y).min(window.y1);
        if x_start > x_end || y_start > y_end {
            return None;
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

        // Plane equation over (u, v) for 1/z, from the unsnapped vertices.
        let det = (u1 - u0) * (v2 - v0) - (u2 - u0) * (v1 - v0);
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let inv_det = 1.0 / det;
        let (za, zb, zc) = fit_plane(proj, inv_det, [w0, w1, w2]);

        // The chunked path keeps edge values in i32: every value it can meet fits with room to
        // spare when |E| <= |dx| |qy - ay| + |dy| |qx - ax| < 2 * 2^14 * 2^14, where q ranges
        // over the pixel box plus the chunk overrun on the right (LANES pixels) and one row
        // below (the last step of the row walk).
        let span_x = (max_x - min_x) + ((LANES as i64) << SUBPIXEL_BITS);
        let span_y = (max_y - min_y) + (1 << SUBPIXEL_BITS);
        Some(TriangleSetup {
            row,
            step_x,
            step_y,
            za,
            zb,
            zc,
            inv_det,
            x: (x_start as usize, x_end as usize + 1),
            y: (y_start as usize, y_end as usize + 1),
            // A pixel right of the snapped triangle's own box is outside the triangle, so some
            // edge value there is negative: the chunked path needs a mask for the lanes past
            // the box's right end only when the window cut the box.
            cut_right: floor_px(max_x) > window.x1,
            fits_chunks: span_x.max(span_y) < (1 << 14),
        })
    }
}

/// The plane `f = a u + b v + c` over image coordinates through the values `f` at the three
/// unsnapped projected vertices, given 1 / the determinant of their (u, v): `(a, b, c)`.
#[inline(always)]
fn fit_plane(proj: [&ProjVertex; 3], inv_det: f64, [f0, f1, f2]: [f64; 3]) -> (f64, f64, f64) {
    let [u0, v0, _] = proj[0].uvw;
    let [u1, v1, _] = proj[1].uvw;
    let [u2, v2, _] = proj[2].uvw;
    let a = ((f1 - f0) * (v2 - v0) - (f2 - f0) * (v1 - v0)) * inv_det;
    let b = ((f2 - f0) * (u1 - u0) - (f1 - f0) * (u2 - u0)) * inv_det;
    (a, b, f0 - a * u0 - b * v0)
}

/// A triangle set up for the scalar pixel loop: its [`TriangleSetup`], the depth range, its
/// instance and the colour/z planes.
struct ScalarTriangle<'s> {
    setup: &'s TriangleSetup,
    inv_near: f64,
    inv_far: f64,
    instance: u32,
    color_planes: Option<[(f64, f64, f64); 3]>,
}

impl ScalarTriangle<'_> {
    /// Draws the box pixel by pixel (`color` is the whole-image colour buffer, `width` its row
    /// length).
    fn draw<T: InstanceId>(
        &self,
        inv_depth: &mut [f32],
        instance_buf: &mut [T],
        mut color_buf: Option<&mut Vec<[u8; 3]>>,
        window: &PixelWindow,
        width: usize,
    ) {
        let &ScalarTriangle {
            setup,
            inv_near,
            inv_far,
            instance,
            ref color_planes,
        } = self;
        let &TriangleSetup {
            mut row,
            step_x,
            step_y,
            za,
            zb,
            zc,
            x: (x_lo, x_hi),
            y: (y_lo, y_hi),
            ..
        } = setup;
        let id = T::from_id(instance);
        let (stride, x0, y0) = (window.stride, window.x0 as usize, window.y0 as usize);
        // The buffers are sliced per row below, so the pixel loop works on plain slices (no
        // bounds checks, pointers kept in registers).
        for y in y_lo..y_hi {
            let mut e = row;
            let yf = y as f64;
            let at = (y - y0) * stride + x_lo - x0;
            let span = at..at + (x_hi - x_lo);
            let inv_row = &mut inv_depth[span.clone()];
            let inst_row = &mut instance_buf[span];
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
                        *inst_px = id;
                        if let (Some(planes), Some(color)) = (color_planes, color_buf.as_mut()) {
                            let z = 1.0 / inv_z;
                            let mut rgb = [0u8; 3];
                            for ch in 0..3 {
                                let (a, b, c) = planes[ch];
                                rgb[ch] =
                                    ((a * xf + b * yf + c) * z).round().clamp(0.0, 255.0) as u8;
                            }
                            color[y * width + x_lo + i] = rgb;
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

/// The instance buffer of a render. While a view is drawn it holds `u16` ids when every id of
/// `face_instance` fits (half the bytes, and half the SIMD work per chunk of the chunked path),
/// `u32` ids otherwise; [`InstanceBuffer::into_ids`] widens it to the `u32` image of
/// [`RenderedView::instance`]. The ids are the same either way.
enum InstanceBuffer {
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl InstanceBuffer {
    /// `len` zeroed entries, `u16` when every id of `face_instance` fits.
    fn zeroed(len: usize, face_instance: &[u32]) -> InstanceBuffer {
        // One OR over the ids: the result fits when no id has a bit above bit 15.
        if face_instance.iter().fold(0, |acc, &id| acc | id) <= u32::from(u16::MAX) {
            InstanceBuffer::U16(vec![0; len])
        } else {
            InstanceBuffer::U32(vec![0; len])
        }
    }

    /// The first `n` ids, as `u32`.
    fn into_ids(self, n: usize) -> Vec<u32> {
        match self {
            InstanceBuffer::U16(ids) => ids[..n].iter().map(|&id| u32::from(id)).collect(),
            InstanceBuffer::U32(mut ids) => {
                ids.truncate(n);
                ids
            }
        }
    }
}

/// An element type of [`InstanceBuffer`].
trait InstanceId: Copy {
    /// [`LANES`] copies of one id.
    type Lanes: Copy;
    /// The id as stored (the caller has checked that it fits).
    fn from_id(id: u32) -> Self;
    fn lanes(id: u32) -> Self::Lanes;
    /// Writes `id` in the lanes of `chunk` where `pass` is set and keeps the others.
    fn update(chunk: &mut [Self; LANES], pass: f32x8, id: Self::Lanes);
}

impl InstanceId for u32 {
    type Lanes = u32x8;
    #[inline]
    fn from_id(id: u32) -> u32 {
        id
    }
    #[inline]
    fn lanes(id: u32) -> u32x8 {
        u32x8::splat(id)
    }
    #[inline]
    fn update(chunk: &mut [u32; LANES], pass: f32x8, id: u32x8) {
        *chunk = pass.to_bits().select(id, u32x8::new(*chunk)).to_array();
    }
}

impl InstanceId for u16 {
    type Lanes = u16x8;
    #[inline]
    fn from_id(id: u32) -> u16 {
        debug_assert!(id <= u32::from(u16::MAX));
        id as u16
    }
    #[inline]
    fn lanes(id: u32) -> u16x8 {
        u16x8::splat(Self::from_id(id))
    }
    #[inline]
    fn update(chunk: &mut [u16; LANES], pass: f32x8, id: u16x8) {
        // The 32-bit lane masks (all ones or zero) packed to 16 bits with signed saturation
        // stay all ones or zero.
        let mask = i16x8::from_i32x8_saturate(pass.to_bits().cast_signed()).cast_unsigned();
        *chunk = mask.bitselect(id, u16x8::new(*chunk)).to_array();
    }
}

/// One copy of [`ChunkedTriangle::draw`].
type DrawChunks<T> =
    fn(&ChunkedTriangle, &mut [f32], &mut [T], &PixelWindow, (usize, usize), (usize, usize));

/// Pixels per chunk of the small-triangle path.
const LANES: usize = 8;

/// A small triangle set up for [`ChunkedTriangle::draw`]: edge values at the first pixel of
/// the box (tie rule already applied), their steps per pixel in x and y, and the 1/z plane.
struct ChunkedTriangle {
    row: [i32; 3],
    step_x: [i32; 3],
    step_y: [i32; 3],
    za: f64,
    zb: f64,
    zc: f64,
    inv_near: f64,
    inv_far: f64,
    instance: u32,
}

impl ChunkedTriangle {
    /// The copy of [`ChunkedTriangle::draw`] for a triangle that needs the general masks or
    /// not, in a box of `chunks_per_row` chunks (1 or more).
    fn copy<T: InstanceId>(general: bool, chunks_per_row: usize) -> DrawChunks<T> {
        match (general, chunks_per_row) {
            (false, 1) => ChunkedTriangle::draw::<false, 1, T>,
            (false, 2) => ChunkedTriangle::draw::<false, 2, T>,
            (false, _) => ChunkedTriangle::draw::<false, 0, T>,
            (true, 1) => ChunkedTriangle::draw::<true, 1, T>,
            (true, 2) => ChunkedTriangle::draw::<true, 2, T>,
            (true, _) => ChunkedTriangle::draw::<true, 0, T>,
        }
    }

    /// Walks the pixel box `x_lo..x_hi` x `y_lo..y_hi` in chunks of [`LANES`] pixels with
    /// SIMD lane masks instead of per-pixel branches: the exact integer coverage test, the
    /// depth test and, when `GENERAL`, the box's right end (a fourth "edge", needed only in a
    /// row's last chunk: the chunks before it lie inside the box) and the depth range are all
    /// masks. Without `GENERAL` the caller has checked that neither mask can clear a lane:
    /// every vertex is inside the depth range with a margin, and the box is the triangle's
    /// own (not cut by the window's right side), so the lanes past its right end are outside
    /// the triangle and the edge test clears them. 1/z comes from the f64 plane at the chunk's
    /// first pixel and is stepped in f32 across the chunk's lanes (at most 7 pixels), so it is
    /// within a few f32 ulp of the f64 plane, which the z-buffer stores as f32 anyway.
    #[inline]
    fn draw<const GENERAL: bool, const CHUNKS: i32, T: InstanceId>(
        &self,
        inv_depth: &mut [f32],
        instance: &mut [T],
        window: &PixelWindow,
        (x_lo, x_hi): (usize, usize),
        (y_lo, y_hi): (usize, usize),
    ) {
        let (stride, x0, y0) = (window.stride, window.x0 as usize, window.y0 as usize);
        const STEP: i32 = LANES as i32;
        let lane = i32x8::new([0, 1, 2, 3, 4, 5, 6, 7]);
        let lane_f = f32x8::new([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        // `lane * step_x`, through f32 (SSE2 has no 32-bit lane multiply): a step is a whole
        // number of pixels' worth of sub-pixels, `-dy << SUBPIXEL_BITS` with |dy| < 2^14, so
        // `lane * -dy` (below 2^17) is exact in f32, and its conversion back and the shift give
        // the product exactly.
        let lane_x = self.step_x.map(|s| {
            (lane_f * f32x8::splat((s >> SUBPIXEL_BITS) as f32)).fast_trunc_int() << SUBPIXEL_BITS
        });
        let chunk_step = self.step_x.map(|s| i32x8::splat(s * STEP));
        let za_lanes = f32x8::splat(self.za as f32) * lane_f;
        let (inv_far, inv_near) = (
            f32x8::splat(self.inv_far as f32),
            f32x8::splat(self.inv_near as f32),
        );
        let inst = T::lanes(self.instance);
        let width = (x_hi - x_lo) as i32;
        // Every lane of the first `full` chunks of a row lies inside the box; in the last
        // chunk, lane `l` does when `last_in_box[l]` is non-negative. `CHUNKS` 1 or 2 (a box
        // of that many chunks) makes `full` the constant 0 or 1, so the chunk walk is
        // compiled out or unrolled; 0 is any width.
        let full = if CHUNKS > 0 {
            CHUNKS - 1
        } else {
            (width - 1) / STEP
        };
        let last_in_box = i32x8::splat(width - 1 - full * STEP) - lane;
        let last_mask = |outside: i32x8| {
            if GENERAL {
                outside | last_in_box
            } else {
                outside
            }
        };
        // The edge values of the first chunk of a row, stepped by a row (wrapping i32 sums, so
        // the same values as recomputing them from the row's scalar ones).
        let step_y = self.step_y.map(i32x8::splat);
        let mut e_row = [0, 1, 2].map(|i| i32x8::splat(self.row[i]) + lane_x[i]);
        // Pixel coordinates are below 2^28 (`MAX_COVERAGE_PIXELS`), so through u32 they convert
        // exactly, and more cheaply than from usize.
        let mut y_f64 = f64::from(y_lo as u32);
        let x_lo_f64 = f64::from(x_lo as u32);
        for y in y_lo..y_hi {
            let row_inv_z = self.zb * y_f64 + self.zc;
            let row_at = (y - y0) * stride + (x_lo - x0);
            let mut e = e_row;
            // One chunk: `outside` is negative in the lanes that are not covered.
            let mut chunk = |outside: i32x8, dx0: i32| {
                // All ones in the lanes that are not covered (an arithmetic shift).
                let uncovered: i32x8 = outside >> 31;
                // Boxes of one or two chunks draw every chunk: a chunk with no covered lane
                // writes its pixels back unchanged, and skipping the test (a branch that
                // mispredicts often on such boxes) costs less than the empty chunks do.
                if CHUNKS == 1 || CHUNKS == 2 || uncovered.to_bitmask() != 0xff {
                    let at = row_at + dx0 as usize;
                    let inv_chunk: &mut [f32; LANES] = (&mut inv_depth[at..at + LANES])
                        .try_into()
                        .expect("the buffers are padded by LANES pixels");
                    let chunk_inv_z = self.za * (x_lo_f64 + dx0 as f64) + row_inv_z;
                    let inv_z = f32x8::splat(chunk_inv_z as f32) + za_lanes;
                    let cur = f32x8::new(*inv_chunk);
                    // The candidate is 1/z in the lanes that may be drawn and +0.0 in the
                    // others, which never beats `cur` (the buffer holds 0 or values that
                    // beat it, so never less than +0.0).
                    let mut candidate = inv_z & !f32x8::from_bits(uncovered.cast_unsigned());
                    if GENERAL {
                        candidate = candidate & inv_z.simd_ge(inv_far) & inv_z.simd_le(inv_near);
                    }
                    let pass = candidate.simd_gt(cur);
                    *inv_chunk = nearer(candidate, cur).to_array();
                    let inst_chunk: &mut [T; LANES] = (&mut instance[at..at + LANES])
                        .try_into()
                        .expect("the buffers are padded by LANES pixels");
                    T::update(inst_chunk, pass, inst);
                }
            };
            for k in 0..full {
                chunk(e[0] | e[1] | e[2], k * STEP);
                for (e, step) in e.iter_mut().zip(&chunk_step) {
                    *e += *step;
                }
            }
            chunk(last_mask(e[0] | e[1] | e[2]), full * STEP);
            for (e, step) in e_row.iter_mut().zip(&step_y) {
                *e += *step;
            }
            y_f64 += 1.0;
        }
    }
}

/// `select(candidate > cur, candidate, cur)` lane by lane: the z-buffer's update. On x86-64
/// this is one `maxps` per four lanes, which returns its first operand when it is greater
/// and its second otherwise (also when either is NaN), so it equals the select bit for bit,
/// NaN included; elsewhere, where a maximum instruction may propagate NaN, it is the select.
#[inline]
fn nearer(candidate: f32x8, cur: f32x8) -> f32x8 {
    #[cfg(target_arch = "x86_64")]
    {
        candidate.fast_max(cur)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        candidate.simd_gt(cur).select(candidate, cur)
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
        )
        .unwrap();
        assert!(
            view.depth_m.iter().all(|&d| (d - 2.0).abs() < 1e-6),
            "every pixel hit at 2 m"
        );
        assert!(view.instance.iter().all(|&i| i == 7));
    }

    #[test]
    fn a_vertex_on_the_camera_plane_is_clipped_without_overflow() {
        // Vertices at camera z = 0 project to u = +-inf; their snapped coordinates are never
        // used, but computing them overflowed (a panic with overflow checks on) before.
        let mesh = grid_quad(2.0, 0.0, 2);
        let view = render(
            &mesh,
            &[],
            &camera(8, 6, Pose::identity()),
            &Default::default(),
        );
        assert!(view.unwrap().depth_m.iter().all(|&d| d == 0.0));
    }

    #[test]
    fn cameras_outside_the_size_limits_are_refused_before_any_allocation() {
        let mesh = grid_quad(2.0, 3.0, 2);
        let config = RenderConfig::default();
        let ok = camera(8, 6, Pose::identity());
        assert!(render(&mesh, &[], &ok, &config).is_ok());
        for (width, height) in [(0, 6), (8, 0), (MAX_IMAGE_SIDE + 1, 6), (100_000, 100_000)] {
            let cam = camera(width, height, Pose::identity());
            let refused = Err(RenderError::ImageSize { width, height });
            assert_eq!(render(&mesh, &[], &cam, &config), refused);
            assert_eq!(render_faces(&mesh, &[], &[0], &cam, &config), refused);
        }
        assert_eq!(
            render_many(
                &mesh,
                &[],
                &[ok, camera(u32::MAX, u32::MAX, Pose::identity())],
                &config
            )
            .iter()
            .map(Result::is_ok)
            .collect::<Vec<_>>(),
            [true, false]
        );
        // A coverage count takes a long thin virtual image, but not more pixels than 16384^2.
        let wide = camera(4 * MAX_IMAGE_SIDE, 1, Pose::identity());
        assert!(faces_coverage(&mesh, &[0, 1], &wide, &config, 0..1, 0..1).is_ok());
        for (width, height) in [
            (0, 1),
            (u32::MAX, u32::MAX),
            (MAX_IMAGE_SIDE + 1, MAX_IMAGE_SIDE),
        ] {
            let cam = camera(width, height, Pose::identity());
            assert_eq!(
                faces_coverage(&mesh, &[0, 1], &cam, &config, 0..1, 0..1),
                Err(RenderError::CoverageSize { width, height })
            );
        }
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
        let view = render(&mesh, &[], &cam, &RenderConfig::default()).unwrap();
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
        let a = render_faces(&mesh, &[1, 2], &[0], &cam, &config).unwrap();
        let b = render_faces(&mesh, &[1, 2], &[1], &cam, &config).unwrap();
        let both = render(&mesh, &[1, 2], &cam, &config).unwrap();
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
        let view = render(&mesh, &[], &cam, &RenderConfig::default()).unwrap();
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
        let view = render(&mesh, &faces, &cam, &RenderConfig::default()).unwrap();
        assert_eq!(view.instance[10 * 21 + 10], 2);
        assert!((view.depth_m[10 * 21 + 10] - 1.0).abs() < 1e-6);
        assert_eq!(view.instance[0], 1);
        let far = RenderConfig {
            far_m: 3.0,
            ..RenderConfig::default()
        };
        let view = render(&mesh, &faces, &cam, &far).unwrap();
        assert_eq!(view.depth_m[0], 0.0);
        assert_eq!(view.instance[10 * 21 + 10], 2);
    }

    /// Renders each face of `mesh` alone, with the chunked (SIMD) or the scalar path.
    fn render_each_face(
        mesh: &Mesh,
        cam: &Camera,
        config: &RenderConfig,
        chunked: bool,
    ) -> Vec<(Vec<bool>, Vec<f32>)> {
        (0..mesh.triangles.len())
            .map(|f| {
                let mut r = Rasterizer::new(mesh, &[], cam, config);
                r.chunked = chunked;
                r.draw_faces([f]);
                let view = r.finish();
                (
                    view.depth_m.iter().map(|&d| d > 0.0).collect(),
                    view.depth_m,
                )
            })
            .collect()
    }

    #[test]
    fn chunked_and_scalar_paths_cover_the_same_pixels() {
        // Random small triangles (slivers, sub-pixel ones, some crossing the image border),
        // at random depths and slants: each face alone must cover exactly the same pixels on
        // both paths, with depth equal to f32 precision. With a far plane at 3 m many of them
        // straddle it, which exercises the chunked path's per-pixel depth-range mask.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let cam = camera(96, 64, Pose::identity());
        let k = cam.model.intrinsics;
        let mut mesh = Mesh::default();
        for _ in 0..400 {
            let (cu, cv) = (
                rng.random_range(-10.0..106.0),
                rng.random_range(-10.0..74.0),
            );
            let size: f64 = [0.4, 3.0, 12.0, 40.0][rng.random_range(0..4)];
            let base = mesh.positions_m.len() as u32;
            for _ in 0..3 {
                let u: f64 = cu + rng.random_range(-size..size);
                let v: f64 = cv + rng.random_range(-size..size);
                let z: f64 = rng.random_range(0.5..8.0);
                mesh.positions_m.push([
                    ((u - k.cx) / k.fx * z) as f32,
                    ((v - k.cy) / k.fy * z) as f32,
                    z as f32,
                ]);
                mesh.colors_rgb.push([0; 3]);
            }
            mesh.triangles.push([base, base + 1, base + 2]);
        }
        let far = RenderConfig {
            far_m: 3.0,
            ..RenderConfig::default()
        };
        for config in [RenderConfig::default(), far] {
            let chunked = render_each_face(&mesh, &cam, &config, true);
            let scalar = render_each_face(&mesh, &cam, &config, false);
            let (mut covered, mut max_rel) = (0, 0.0f32);
            for (f, ((mask_c, depth_c), (mask_s, depth_s))) in
                chunked.iter().zip(&scalar).enumerate()
            {
                assert_eq!(mask_c, mask_s, "face {f}: coverage differs ({config:?})");
                for (dc, ds) in depth_c.iter().zip(depth_s) {
                    // The chunk steps 1/z in f32 over at most 7 pixels: a few f32 ulp.
                    let rel = (dc - ds).abs() / ds.max(1e-6);
                    assert!(rel <= 1e-6, "face {f}: depth {dc} vs {ds}");
                    assert!(
                        *dc <= config.far_m as f32,
                        "face {f}: {dc} beyond the far plane"
                    );
                    max_rel = max_rel.max(rel);
                }
                covered += mask_c.iter().filter(|&&c| c).count();
            }
            eprintln!("{config:?}: covered {covered} pixels, max relative difference {max_rel:e}");
            assert!(covered > 5_000, "the triangles cover pixels ({covered})");
        }
    }

    #[test]
    fn small_triangle_meshes_are_watertight_without_double_hits() {
        // A 37x37 grid seen by a 64x48 camera: triangles of a few pixels, so every face takes
        // the chunked path. Every pixel must be drawn by exactly one face.
        let mesh = grid_quad(10.0, 2.0, 37);
        let cam = camera(64, 48, Pose::identity());
        for chunked in [true, false] {
            let mut hits = vec![0u32; 64 * 48];
            for (mask, _) in render_each_face(&mesh, &cam, &RenderConfig::default(), chunked) {
                for (h, covered) in hits.iter_mut().zip(mask) {
                    *h += covered as u32;
                }
            }
            assert!(
                hits.iter().all(|&h| h == 1),
                "chunked = {chunked}: {hits:?}"
            );
        }
    }

    #[test]
    fn simd_vertex_stage_equals_the_scalar_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let pose = Pose::from_parts(
            Translation3::new(0.3, -0.2, 0.1),
            UnitQuaternion::from_axis_angle(&Vector3::y_axis(), 0.4),
        );
        let view = ViewTransform {
            camera_from_world: std::array::from_fn(|r| {
                std::array::from_fn(|c| pose.inverse().to_homogeneous()[(r, c)])
            }),
            k: camera(640, 480, pose).model.intrinsics,
            near_m: 0.05,
            far_m: 20.0,
            width: 640.0,
            height: 480.0,
        };
        // Random points, plus ones on the camera plane (z = 0), behind it, at the near
        // plane and far beyond the guard band.
        let mut points: Vec<[f32; 3]> = (0..4000)
            .map(|_| std::array::from_fn(|_| rng.random_range(-30.0f32..30.0)))
            .collect();
        let origin = pose.translation.vector.cast::<f32>();
        points.extend([
            [origin.x, origin.y, origin.z],
            [origin.x + 1.0, origin.y, origin.z],
            [1e6, 0.0, 1.0],
            [0.0, 0.0, -1.0],
        ]);
        let (mut codes, mut proj) = (Vec::new(), Vec::new());
        view.vertices(&points, &mut codes, &mut proj);
        assert_eq!(codes.len(), points.len());
        for (i, p) in points.iter().enumerate() {
            let (code, projected) = view.vertex(p);
            assert_eq!(codes[i], code, "vertex {i} {p:?}");
            let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
            assert!(
                (0..3).all(|j| same(proj[i].uvw[j], projected.uvw[j]))
                    && proj[i].snapped == projected.snapped,
                "vertex {i} {p:?}: {:?} vs {projected:?}",
                proj[i]
            );
        }
        assert!(codes.contains(&0) && codes.iter().any(|&c| c & 1 == 1));
    }

    /// Coverage counted in a window around compact objects (inside the image, across its
    /// border, across the near plane, beyond the far plane) equals the count from the
    /// full-image render of the same faces, for rectangles inside, across and outside the
    /// window.
    #[test]
    fn windowed_coverage_equals_full_image_counts() {
        use rand::{Rng, SeedableRng};
        let (w, h) = (80usize, 60usize);
        let cam = camera(w as u32, h as u32, Pose::identity());
        let config = RenderConfig {
            far_m: 5.0,
            ..RenderConfig::default()
        };
        let mut windows_smaller_than_the_image = 0;
        for seed in 0..200u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut mesh = Mesh::default();
            let centre: [f32; 3] = [
                rng.random_range(-0.6..0.6),
                rng.random_range(-0.5..0.5),
                rng.random_range(0.02..6.0),
            ];
            let radius: f32 = rng.random_range(0.005..0.4);
            for _ in 0..12 {
                let base = mesh.positions_m.len() as u32;
                for _ in 0..3 {
                    mesh.positions_m
                        .push(centre.map(|c| c + rng.random_range(-radius..radius)));
                    mesh.colors_rgb.push([0; 3]);
                }
                mesh.triangles.push([base, base + 1, base + 2]);
            }
            let faces: Vec<u32> = (0..mesh.triangles.len() as u32).collect();
            let image = render_faces(&mesh, &[], &faces, &cam, &config).unwrap();
            let covered = |u: usize, v: usize| image.depth_m[v * w + u] > 0.0;
            let windowed = Rasterizer::for_faces_windowed(&mesh, &cam, &config, &faces);
            windows_smaller_than_the_image += usize::from(windowed.window.len() < w * h);
            drop(windowed);
            for _ in 0..4 {
                let x = rng.random_range(0..w + 10);
                let y = rng.random_range(0..h + 10);
                let (columns, rows) = (
                    x..x + rng.random_range(0..40),
                    y..y + rng.random_range(0..30),
                );
                let coverage =
                    faces_coverage(&mesh, &faces, &cam, &config, columns.clone(), rows.clone())
                        .unwrap();
                let all = (0..h)
                    .flat_map(|v| (0..w).map(move |u| (u, v)))
                    .filter(|&(u, v)| covered(u, v))
                    .count() as u64;
                let in_rect = (0..h)
                    .filter(|v| rows.contains(v))
                    .flat_map(|v| (0..w).filter(|u| columns.contains(u)).map(move |u| (u, v)))
                    .filter(|&(u, v)| covered(u, v))
                    .count() as u64;
                assert_eq!(
                    coverage,
                    FaceCoverage {
                        covered_px: all,
                        covered_in_rect_px: in_rect
                    },
                    "seed {seed}, columns {columns:?}, rows {rows:?}"
                );
            }
        }
        assert!(
            windows_smaller_than_the_image > 100,
            "{windows_smaller_than_the_image}"
        );
    }

    /// A small room-like mesh: many random triangles, some crossing the near plane, the
    /// image border and the far plane, tagged with three instances.
    fn random_scene(seed: u64) -> (Mesh, Vec<u32>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut mesh = Mesh::default();
        let mut face_instance = Vec::new();
        for face in 0..600u32 {
            let centre: [f32; 3] = [
                rng.random_range(-4.0..4.0),
                rng.random_range(-3.0..3.0),
                rng.random_range(-0.5..6.0),
            ];
            let size: f32 = [0.02, 0.2, 1.0, 3.0][rng.random_range(0..4)];
            let base = mesh.positions_m.len() as u32;
            for _ in 0..3 {
                mesh.positions_m
                    .push(centre.map(|c| c + rng.random_range(-size..size)));
                mesh.colors_rgb.push([0; 3]);
            }
            // Every other face reuses a vertex of the previous one, so vertices are shared.
            if face % 2 == 1 {
                mesh.triangles.push([base - 1, base + 1, base + 2]);
            } else {
                mesh.triangles.push([base, base + 1, base + 2]);
            }
            face_instance.push(face % 3);
        }
        (mesh, face_instance)
    }

    #[test]
    fn face_subset_renders_equal_whole_mesh_vertex_stage_renders() {
        // Rendering some faces with the vertex stage run on their vertices only must give
        // exactly the images of the same faces drawn after a whole-mesh vertex stage, and the
        // coverage counts must be those of the images.
        let pose = Pose::from_parts(
            Translation3::new(0.1, 0.2, 0.0),
            UnitQuaternion::from_axis_angle(&Vector3::x_axis(), 0.1),
        );
        let cam = camera(96, 64, pose);
        let far = RenderConfig {
            far_m: 4.0,
            ..RenderConfig::default()
        };
        for seed in 0..4 {
            let (mesh, face_instance) = random_scene(seed);
            for config in [RenderConfig::default(), far] {
                for instance in 0..3 {
                    let faces: Vec<u32> = (0..mesh.triangles.len() as u32)
                        .filter(|&f| face_instance[f as usize] == instance)
                        .collect();
                    // Reference: whole-mesh vertex stage, then the subset drawn.
                    let mut whole = Rasterizer::new(&mesh, &face_instance, &cam, &config);
                    whole.draw_faces(faces.iter().map(|&f| f as usize));
                    let expected = whole.finish();
                    // A whole-mesh render in between leaves other vertices' entries behind.
                    let _ = render(&mesh, &face_instance, &cam, &config).unwrap();
                    let subset =
                        render_faces(&mesh, &face_instance, &faces, &cam, &config).unwrap();
                    assert_eq!(subset, expected, "seed {seed}, instance {instance}");
                    let (columns, rows) = (10..50, 5..40);
                    let coverage =
                        faces_coverage(&mesh, &faces, &cam, &config, columns.clone(), rows.clone())
                            .unwrap();
                    let covered = |u: usize, v: usize| expected.depth_m[v * 96 + u] > 0.0;
                    let all = (0..64)
                        .flat_map(|v| (0..96).map(move |u| (u, v)))
                        .filter(|&(u, v)| covered(u, v))
                        .count() as u64;
                    let in_rect = rows
                        .clone()
                        .flat_map(|v| columns.clone().map(move |u| (u, v)))
                        .filter(|&(u, v)| covered(u, v))
                        .count() as u64;
                    assert!(all > 0, "seed {seed}, instance {instance}: nothing drawn");
                    assert_eq!(
                        coverage,
                        FaceCoverage {
                            covered_px: all,
                            covered_in_rect_px: in_rect
                        },
                        "seed {seed}, instance {instance}"
                    );
                }
            }
        }
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
        )
        .unwrap();
        assert!(view.color_rgb.unwrap().iter().all(|&c| c == [10, 20, 30]));
    }

    #[test]
    fn nearer_equals_the_select_bit_for_bit() {
        // The z-buffer update must equal `select(candidate > cur, candidate, cur)` for every
        // pair, NaN, zeros of both signs, infinities and equal values included.
        let specials = [
            0.0,
            -0.0,
            1.0,
            0.5,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -1.0,
        ];
        for (i, &c) in specials.iter().enumerate() {
            let candidate = f32x8::splat(c);
            let cur = f32x8::new(std::array::from_fn(|l| specials[(i + l) % specials.len()]));
            let expected = candidate.simd_gt(cur).select(candidate, cur);
            let got = nearer(candidate, cur);
            assert_eq!(
                got.to_array().map(f32::to_bits),
                expected.to_array().map(f32::to_bits),
                "candidate {c}, cur {:?}",
                cur.to_array()
            );
        }
    }

    #[test]
    fn instance_ids_above_u16_render_like_small_ones() {
        // Ids up to 65535 are drawn into a u16 buffer, larger ones into a u32 buffer: the two
        // must give the same pixels, and the ids come back whole. Face i gets the small id
        // i % 3 + 1, then the same ids mapped by `id` (which keeps 0, "no surface", as 0).
        let far = RenderConfig {
            far_m: 4.0,
            ..RenderConfig::default()
        };
        type IdMap = fn(u32) -> u32;
        let maps: [(&str, IdMap); 6] = [
            ("up to 65535", |i| i + 65_532),
            ("up to 65536", |i| i + 65_533),
            ("2^20", |i| i + (1 << 20)),
            ("u32::MAX", |i| i + (u32::MAX - 3)),
            // Ids whose OR is exactly 65536.
            ("0 or 65536", |i| if i == 1 { 65_536 } else { 0 }),
            ("0 or 65535", |i| if i == 1 { 65_535 } else { 0 }),
        ];
        for seed in 0..3 {
            let (mesh, face_instance) = random_scene(seed);
            let small: Vec<u32> = face_instance.iter().map(|&i| i + 1).collect();
            let cam = camera(96, 64, Pose::identity());
            for config in [RenderConfig::default(), far] {
                let reference = render(&mesh, &small, &cam, &config).unwrap();
                assert!(reference.instance.contains(&1));
                for (name, id) in maps {
                    let ids: Vec<u32> = small.iter().map(|&i| id(i)).collect();
                    let view = render(&mesh, &ids, &cam, &config).unwrap();
                    assert_eq!(view.depth_m, reference.depth_m, "seed {seed}, ids {name}");
                    let expected: Vec<u32> = reference
                        .instance
                        .iter()
                        .map(|&i| if i == 0 { 0 } else { id(i) })
                        .collect();
                    assert_eq!(view.instance, expected, "seed {seed}, ids {name}");
                }
            }
        }
    }

    #[test]
    fn culled_renders_equal_whole_mesh_renders() {
        let far = RenderConfig {
            far_m: 4.0,
            ..RenderConfig::default()
        };
        let mut culled_any = false;
        for seed in 0..6 {
            let (mesh, face_instance) = random_scene(seed);
            let groups = FaceGroups::new(&mesh);
            assert!(groups.len() > 10, "{}", groups.len());
            for (yaw, pitch) in [(0.0, 0.0), (0.3, 0.1), (-0.6, -0.2), (1.5, 0.0), (3.1, 0.4)] {
                let pose = Pose::from_parts(
                    Translation3::new(0.1, 0.2, 0.0),
                    UnitQuaternion::from_euler_angles(pitch, yaw, 0.0),
                );
                for cam in [camera(96, 64, pose), camera(33, 200, pose)] {
                    for config in [RenderConfig::default(), far] {
                        let whole = render(&mesh, &face_instance, &cam, &config).unwrap();
                        let culled = render_culled(&groups, &face_instance, &cam, &config).unwrap();
                        assert_eq!(culled, whole, "seed {seed}, yaw {yaw}");
                        let frustum = cull::Frustum::new(&cam, &config);
                        culled_any |= groups.visible(&frustum).count() < groups.len();
                    }
                }
            }
        }
        assert!(culled_any, "no view culled any group");
        // A face with a non-finite vertex is never culled (its group's box is all of space).
        let (mut mesh, face_instance) = random_scene(3);
        mesh.positions_m[4] = [f32::NAN, 0.0, 1.0];
        mesh.positions_m[7] = [f32::INFINITY, 0.0, 1.0];
        let groups = FaceGroups::new(&mesh);
        let cam = camera(96, 64, Pose::identity());
        for config in [RenderConfig::default(), far] {
            assert_eq!(
                render_culled(&groups, &face_instance, &cam, &config).unwrap(),
                render(&mesh, &face_instance, &cam, &config).unwrap()
            );
        }
    }

    #[test]
    fn faces_the_frustum_culls_cover_no_pixel() {
        // Small triangles scattered around the image borders and the near and far planes, at
        // sub-pixel offsets: whenever a face's own box is culled, drawing the face alone
        // must leave the image empty; many faces at a fraction of a pixel outside must be
        // culled, and none that covers a pixel.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (w, h) = (40u32, 30u32);
        let cam = camera(
            w,
            h,
            Pose::from_parts(
                Translation3::new(0.3, -0.2, 0.1),
                UnitQuaternion::from_euler_angles(0.2, -0.1, 0.05),
            ),
        );
        let config = RenderConfig {
            far_m: 3.0,
            ..RenderConfig::default()
        };
        let k = cam.model.intrinsics;
        let frustum = cull::Frustum::new(&cam, &config);
        let (mut culled, mut drawn) = (0, 0);
        for _ in 0..4000 {
            // A point near a border (in pixels) or near a depth limit, then a triangle of
            // up to two pixels around it.
            let mut u = rng.random_range(-3.0..w as f64 + 2.0);
            let mut v = rng.random_range(-3.0..h as f64 + 2.0);
            let mut z = rng.random_range(0.5..2.5);
            match rng.random_range(0..6) {
                0 => u = rng.random_range(-1.5..0.5),
                1 => u = w as f64 - 1.0 + rng.random_range(-0.5..1.5),
                2 => v = rng.random_range(-1.5..0.5),
                3 => v = h as f64 - 1.0 + rng.random_range(-0.5..1.5),
                4 => z = config.near_m + rng.random_range(-0.02..0.02),
                _ => z = config.far_m + rng.random_range(-0.02..0.02),
            }
            let mut mesh = Mesh::default();
            for _ in 0..3 {
                let (du, dv, dz): (f64, f64, f64) = (
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-1.0..1.0),
                    rng.random_range(-0.01..0.01),
                );
                let zc = z + dz;
                let p_cam =
                    Point3::new((u + du - k.cx) / k.fx * zc, (v + dv - k.cy) / k.fy * zc, zc);
                let p = cam.world_from_camera * p_cam;
                mesh.positions_m.push([p.x as f32, p.y as f32, p.z as f32]);
                mesh.colors_rgb.push([0; 3]);
            }
            mesh.triangles.push([0, 1, 2]);
            let (mut lo, mut hi) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
            for p in &mesh.positions_m {
                for a in 0..3 {
                    lo[a] = lo[a].min(p[a] as f64);
                    hi[a] = hi[a].max(p[a] as f64);
                }
            }
            let view = render(&mesh, &[], &cam, &config).unwrap();
            let covers = view.depth_m.iter().any(|&d| d > 0.0);
            if frustum.culls(&lo, &hi) {
                culled += 1;
                assert!(
                    !covers,
                    "a culled face covers pixels: {:?}",
                    mesh.positions_m
                );
            } else if covers {
                drawn += 1;
            }
        }
        assert!(
            culled > 1000 && drawn > 300,
            "culled {culled}, drawn {drawn}"
        );
    }
}
