//! The scene model: one typed description of a scanned room that every reader produces and
//! every later stage consumes.
//!
//! Conventions (see ARCHITECTURE.md, "Coordinate conventions"):
//! - Every position is in metres in the **aligned** world frame: +Z up, the ScanNet
//!   `axisAlignment` (or identity) already applied. ScanNet++ meshes are aligned as released.
//! - Cameras use OpenCV axes: +X right, +Y down, +Z forward (viewing direction).
//! - Transforms are named `a_from_b`: `world_from_camera * point_in_camera = point_in_world`.
//! - Pixel (u, v) has its centre at image coordinates (u, v) (the OpenCV rule, so
//!   `cx = (width - 1) / 2` for a centred principal point).
//! - Instance id 0 means "no instance"; real instances are numbered from 1.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use nalgebra::{Isometry3, Point3, Vector3};
use serde::{Deserialize, Serialize};

/// A rigid transform between two frames, named `a_from_b` where it is stored.
pub type Pose = Isometry3<f64>;

/// Identifier of an annotated object instance inside one scene. 1-based: 0 is "no instance"
/// in masks and per-vertex arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub u32);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a scene came from. Synthetic scenes use the real on-disk layouts; the reader reports
/// the layout it read (`ScanNet` / `ScanNetPP`) and the builder may override it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    #[serde(rename = "scannet")]
    ScanNet,
    #[serde(rename = "scannetpp")]
    ScanNetPP,
    Synthetic,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::ScanNet => "scannet",
            Source::ScanNetPP => "scannetpp",
            Source::Synthetic => "synthetic",
        })
    }
}

/// A triangle mesh in the aligned world frame.
///
/// Positions are stored as `f32` (what the PLY files hold); every measurement converts to
/// `f64` before doing arithmetic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Mesh {
    /// Vertex positions in metres, aligned frame.
    pub positions_m: Vec<[f32; 3]>,
    /// Vertex colours, sRGB 8-bit. Same length as `positions_m`.
    pub colors_rgb: Vec<[u8; 3]>,
    /// Triangles as indices into `positions_m`, counter-clockwise as stored in the file
    /// (orientation is not relied upon).
    pub triangles: Vec<[u32; 3]>,
}

impl Mesh {
    pub fn n_vertices(&self) -> usize {
        self.positions_m.len()
    }

    pub fn n_faces(&self) -> usize {
        self.triangles.len()
    }

    /// Vertex `index` as an `f64` point.
    pub fn point(&self, index: u32) -> Point3<f64> {
        let p = self.positions_m[index as usize];
        Point3::new(p[0] as f64, p[1] as f64, p[2] as f64)
    }
}

/// Label identifiers resolved through the dataset's label map. Every field is optional: a raw
/// label that the map does not know keeps its text and gets no ids.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelIds {
    /// NYU40 class id (ScanNet `nyu40id`).
    pub nyu40_id: Option<u16>,
    /// ScanNet label id (`id` column of the label map; the ScanNet200 id).
    pub scannet_id: Option<u32>,
    /// ScanNet++ benchmark class after `map_benchmark.csv` (index into `top100.txt`).
    pub benchmark_id: Option<u32>,
}

/// One annotated object.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub id: InstanceId,
    /// The label exactly as the annotation file wrote it.
    pub raw_label: String,
    /// The normalised category used in questions (label-map `category`, lower case), or the
    /// raw label when the map does not know it.
    pub label: String,
    pub label_ids: LabelIds,
    /// Mesh vertices that belong to this instance (after overlap resolution), sorted.
    pub vertex_indices: Vec<u32>,
    /// Mesh faces that belong to this instance (see `Scene::face_instance`), sorted.
    pub face_indices: Vec<u32>,
}

/// Pinhole intrinsics in pixels (OpenCV convention, pixel centres at integer coordinates).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
}

impl Intrinsics {
    /// The same camera at another resolution (scales focal lengths and the principal point
    /// so that the image edges map onto each other).
    pub fn scaled(&self, sx: f64, sy: f64) -> Intrinsics {
        Intrinsics {
            fx: self.fx * sx,
            fy: self.fy * sy,
            cx: (self.cx + 0.5) * sx - 0.5,
            cy: (self.cy + 0.5) * sy - 0.5,
        }
    }

    /// Whether this is a usable projection (finite, positive focal lengths).
    pub fn is_valid(&self) -> bool {
        [self.fx, self.fy, self.cx, self.cy]
            .iter()
            .all(|v| v.is_finite())
            && self.fx > 0.0
            && self.fy > 0.0
    }
}

/// A pinhole camera model: intrinsics plus image size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraModel {
    pub intrinsics: Intrinsics,
    pub width: u32,
    pub height: u32,
}

impl CameraModel {
    /// The same camera at a new resolution.
    pub fn resized(&self, width: u32, height: u32) -> CameraModel {
        CameraModel {
            intrinsics: self.intrinsics.scaled(
                width as f64 / self.width as f64,
                height as f64 / self.height as f64,
            ),
            width,
            height,
        }
    }
}

/// A posed camera: what the rasterizer and the visibility stage consume.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    pub model: CameraModel,
    pub world_from_camera: Pose,
}

impl Camera {
    /// Projects a point in the world frame. Returns `(u, v, z_m)` with `z_m` the depth along
    /// the optical axis; the pixel coordinates are meaningful only when `z_m > 0`.
    pub fn project(&self, point_in_world: &Point3<f64>) -> (f64, f64, f64) {
        let p = self
            .world_from_camera
            .inverse_transform_point(point_in_world);
        let k = &self.model.intrinsics;
        (k.fx * p.x / p.z + k.cx, k.fy * p.y / p.z + k.cy, p.z)
    }
}

/// Where a frame's colour image lives. Read lazily with [`crate::io::frames::read_color_bytes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// An encoded image file (JPEG or PNG), passed through as bytes.
    File(PathBuf),
    /// A JPEG payload inside a ScanNet `.sens` stream.
    SensJpeg {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

/// Where a frame's sensor depth lives. Read lazily with [`crate::io::frames::read_sensor_depth`].
#[derive(Clone, Debug, PartialEq)]
pub enum DepthSource {
    /// 16-bit grayscale PNG; metres = raw / `shift` (ScanNet Python exporter, ScanNet++ `depth/`).
    Png16 { path: PathBuf, shift: f64 },
    /// Binary PGM (P5) with **big-endian** 16-bit samples (ScanNet C++ exporter).
    PgmBigEndian { path: PathBuf, shift: f64 },
    /// zlib-wrapped u16 little-endian payload inside a `.sens` stream.
    SensZlib {
        path: PathBuf,
        offset: u64,
        len: u64,
        width: u32,
        height: u32,
        shift: f64,
    },
    /// One frame of a ScanNet++ iPhone `depth.bin`.
    IphoneBin {
        path: PathBuf,
        frame_index: u32,
        width: u32,
        height: u32,
    },
}

/// A metric depth image: metres along the optical axis, 0 = no measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthMap {
    pub width: u32,
    pub height: u32,
    pub depth_m: Vec<f32>,
}

/// One posed image of the scene.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Stable frame id inside the scene: the ScanNet frame index as decimal text, the
    /// ScanNet++ DSLR image name or iPhone frame name.
    pub id: String,
    /// Colour camera pose in the aligned world frame.
    pub world_from_camera: Pose,
    /// Colour camera.
    pub color: CameraModel,
    /// Depth camera, when the source has one (assumed to share the colour pose).
    pub depth: Option<CameraModel>,
    pub color_image: Option<ImageSource>,
    pub sensor_depth: Option<DepthSource>,
}

impl Frame {
    /// The colour camera as a posed [`Camera`].
    pub fn color_camera(&self) -> Camera {
        Camera {
            model: self.color,
            world_from_camera: self.world_from_camera,
        }
    }
}

/// Which on-disk layout the frames were read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameLayout {
    /// ScanNet Python exporter: `color/ depth/ pose/ intrinsic/`.
    #[serde(rename = "scannet_python_export")]
    ScanNetPythonExport,
    /// ScanNet C++ exporter: `frame-XXXXXX.{color.jpg,depth.pgm,pose.txt}` + `_info.txt`.
    #[serde(rename = "scannet_cpp_export")]
    ScanNetCppExport,
    /// Straight from the ScanNet `.sens` stream.
    #[serde(rename = "scannet_sens")]
    ScanNetSens,
    /// ScanNet++ DSLR (COLMAP poses, undistorted pinhole images).
    #[serde(rename = "scannetpp_dslr")]
    ScanNetPPDslr,
    /// ScanNet++ iPhone (`pose_intrinsic_imu.json` aligned poses).
    #[serde(rename = "scannetpp_iphone")]
    ScanNetPPIphone,
    /// No frames were found.
    None,
}

/// Scene-level facts that are not geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct SceneMeta {
    pub scene_id: String,
    pub source: Source,
    /// Folder the scene was read from.
    pub root: PathBuf,
    /// ScanNet `sceneType` (free text), when present.
    pub scene_type: Option<String>,
    pub frame_layout: FrameLayout,
    /// Whether the source carried an explicit axis alignment (ScanNet `axisAlignment`).
    /// When false, `Scene::aligned_from_scan` is the identity.
    pub axis_alignment_given: bool,
}

/// A whole scene as read from disk.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub meta: SceneMeta,
    /// The transform that was applied to the raw mesh and poses (ScanNet `axisAlignment`).
    pub aligned_from_scan: Pose,
    pub mesh: Mesh,
    /// Instance of every vertex (0 = none). Same length as `mesh.positions_m`.
    pub vertex_instance: Vec<u32>,
    /// Instance of every face (0 = none): the instance that at least two of its three
    /// vertices belong to. Same length as `mesh.triangles`.
    pub face_instance: Vec<u32>,
    /// Instances sorted by id.
    pub instances: Vec<Instance>,
    /// Frames with a valid pose, in stream order.
    pub frames: Vec<Frame>,
    /// Frames that were dropped, counted by reason (e.g. `"invalid pose"`).
    pub skipped_frames: BTreeMap<String, u32>,
    /// Non-fatal oddities found while reading (unknown labels, missing optional files).
    pub warnings: Vec<String>,
}

impl Scene {
    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.instances
            .binary_search_by_key(&id, |inst| inst.id)
            .ok()
            .map(|i| &self.instances[i])
    }
}

/// The face -> instance rule shared by every reader: a face belongs to the instance that at
/// least two of its three vertices belong to, otherwise to none (0).
pub fn face_instances(triangles: &[[u32; 3]], vertex_instance: &[u32]) -> Vec<u32> {
    triangles
        .iter()
        .map(|t| {
            let [a, b, c] = t.map(|v| vertex_instance[v as usize]);
            if a == b || a == c {
                a
            } else if b == c {
                b
            } else {
                0
            }
        })
        .collect()
}

/// Builds the per-instance vertex and face lists from the per-vertex and per-face arrays.
/// Returns `(vertex_indices, face_indices)` for each id in `ids` (sorted lists).
pub fn members_by_instance(
    ids: &[InstanceId],
    vertex_instance: &[u32],
    face_instance: &[u32],
) -> Vec<(Vec<u32>, Vec<u32>)> {
    let slot: BTreeMap<u32, usize> = ids.iter().enumerate().map(|(i, id)| (id.0, i)).collect();
    let mut out = vec![(Vec::new(), Vec::new()); ids.len()];
    for (v, inst) in vertex_instance.iter().enumerate() {
        if let Some(&s) = slot.get(inst) {
            out[s].0.push(v as u32);
        }
    }
    for (f, inst) in face_instance.iter().enumerate() {
        if let Some(&s) = slot.get(inst) {
            out[s].1.push(f as u32);
        }
    }
    out
}

/// How far a stored rotation may be from an exact one (each entry of `R^T R - I`, and
/// `det R - 1`): 6-decimal text and f32 matrices are within 1e-5; a shear or scale is not.
pub const RIGID_TOLERANCE: f64 = 1e-4;

/// Whether a row-major 4x4 matrix is a rigid transform within [`RIGID_TOLERANCE`]: finite,
/// `R^T R = I`, `det R = +1` and last row `0 0 0 1`. A sheared matrix with determinant 1 is
/// not (the determinant alone does not tell).
pub fn is_rigid_row_major(m: &[f64; 16]) -> bool {
    if m.iter().any(|v| !v.is_finite()) {
        return false;
    }
    let r = nalgebra::Matrix3::new(m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]);
    let orthonormal = (r.transpose() * r - nalgebra::Matrix3::identity())
        .abs()
        .max()
        <= RIGID_TOLERANCE;
    let last_row = m[12].abs() <= RIGID_TOLERANCE
        && m[13].abs() <= RIGID_TOLERANCE
        && m[14].abs() <= RIGID_TOLERANCE
        && (m[15] - 1.0).abs() <= RIGID_TOLERANCE;
    orthonormal && last_row && (r.determinant() - 1.0).abs() <= RIGID_TOLERANCE
}

/// Convenience: a pose from a row-major 4x4 matrix. The rotation part is re-orthonormalised
/// (files store 6-decimal text or f32, never an exact rotation). Returns `None` when the
/// matrix is not a rigid transform ([`is_rigid_row_major`]).
pub fn pose_from_row_major(m: &[f64; 16]) -> Option<Pose> {
    if !is_rigid_row_major(m) {
        return None;
    }
    let r = nalgebra::Matrix3::new(m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]);
    let rotation =
        nalgebra::Rotation3::from_matrix_eps(&r, 1e-12, 100, nalgebra::Rotation3::identity());
    let translation = Vector3::new(m[3], m[7], m[11]);
    Some(Isometry3::from_parts(
        translation.into(),
        nalgebra::UnitQuaternion::from_rotation_matrix(&rotation),
    ))
}

/// A pose as a row-major 4x4 matrix (what the file formats store).
pub fn pose_to_row_major(pose: &Pose) -> [f64; 16] {
    let m = pose.to_homogeneous();
    let mut out = [0.0; 16];
    for r in 0..4 {
        for c in 0..4 {
            out[r * 4 + c] = m[(r, c)];
        }
    }
    out
}
