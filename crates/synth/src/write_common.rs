//! Pieces both layout writers share: the over-segmentation of the mesh, the `truth.json`
//! that tests read back, rendering one camera to colour + depth, and (for tests) a tiny
//! hand-built scene.
//!
//! The segmentation is what makes the annotation files realistic: ScanNet and ScanNet++
//! annotate *segments*, not vertices, so every object (structure included) is split into
//! several segments with arbitrary, non-dense ids, and a segment never crosses an instance
//! boundary, so the reader's vertex -> instance transfer reproduces `vertex_instance` exactly.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::TruthObject;
use msmu_data::render::{render, RenderConfig};
use msmu_data::scene::{pose_to_row_major, Camera, CameraModel, Mesh, Pose};

/// Edge of the cubic cells that cut each instance into segments, metres.
pub const SEGMENT_CELL_M: f64 = 0.25;

/// The over-segmentation of a mesh.
#[derive(Clone, Debug, PartialEq)]
pub struct Segmentation {
    /// Segment id of every vertex (same length as the mesh's vertices).
    pub seg_indices: Vec<u32>,
    /// Segment ids of each instance, sorted, keyed by instance id (0 = unannotated).
    pub segments_by_instance: BTreeMap<u32, Vec<u32>>,
}

/// Cuts every instance into segments by a grid of [`SEGMENT_CELL_M`] cells (aligned frame).
/// A segment's id is derived from its lowest vertex index (`3 * v + 11`), so ids are unique,
/// sparse and stable for a given mesh.
pub fn segment_mesh(mesh: &Mesh, vertex_instance: &[u32]) -> Segmentation {
    let mut id_of_key: BTreeMap<(u32, i64, i64, i64), u32> = BTreeMap::new();
    let mut seg_indices = Vec::with_capacity(mesh.positions_m.len());
    let mut segments_by_instance: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (v, p) in mesh.positions_m.iter().enumerate() {
        let instance = vertex_instance.get(v).copied().unwrap_or(0);
        let cell = |x: f32| (x as f64 / SEGMENT_CELL_M).floor() as i64;
        let key = (instance, cell(p[0]), cell(p[1]), cell(p[2]));
        let id = *id_of_key.entry(key).or_insert_with(|| {
            let id = 3 * v as u32 + 11;
            segments_by_instance.entry(instance).or_default().push(id);
            id
        });
        seg_indices.push(id);
    }
    for ids in segments_by_instance.values_mut() {
        ids.sort_unstable();
    }
    Segmentation {
        seg_indices,
        segments_by_instance,
    }
}

/// One camera in `truth.json`: the id the reader will report and the exact pose.
#[derive(Clone, Debug, Serialize)]
pub struct TruthCamera {
    pub id: String,
    /// Camera-to-world in the aligned frame, row-major.
    pub world_from_camera: [f64; 16],
    pub color: CameraModel,
    pub depth: Option<CameraModel>,
}

impl TruthCamera {
    pub fn new(id: String, camera: &Camera, depth: Option<CameraModel>) -> Self {
        TruthCamera {
            id,
            world_from_camera: pose_to_row_major(&camera.world_from_camera),
            color: camera.model,
            depth,
        }
    }
}

/// The whole `truth.json`. Readers never read it; tests compare what a reader reports with it.
#[derive(Clone, Debug, Serialize)]
pub struct Truth {
    pub scene_id: String,
    /// `scannet` or `scannetpp`.
    pub layout: String,
    /// Which frame layouts were written (e.g. `python_export`, `sens`, `dslr`, `iphone`).
    pub frame_layouts: Vec<String>,
    /// The transform the reader must report (identity for ScanNet++, released aligned).
    pub aligned_from_scan: [f64; 16],
    pub objects: Vec<TruthObject>,
    /// Cameras the reader must report, in stream order (lost-tracking ones left out).
    pub cameras: Vec<TruthCamera>,
    /// Ids of frames whose pose was corrupted / withheld; readers must skip exactly these.
    pub lost_tracking: Vec<String>,
    /// ScanNet++ only: iPhone frames that have a pose in `pose_intrinsic_imu.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iphone_cameras: Option<Vec<TruthCamera>>,
    /// ScanNet++ only: iPhone video frames without a pose (in `rgb/` and `depth.bin` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iphone_unposed: Option<Vec<String>>,
    /// ScanNet with `legacy_label`: the instance whose group carries the v1 label `trashcan`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_label_instance: Option<u32>,
    /// ScanNet++: `(small, large)` instance ids whose groups overlap (the small one's
    /// segments are also listed in the large one's group); truth keeps the small one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlapping_instances: Option<(u32, u32)>,
}

/// Writes `truth.json` (pretty, keys in struct order) into `scene_dir`.
pub fn write_truth(scene_dir: &Path, truth: &Truth) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(truth)?;
    write_file(&scene_dir.join("truth.json"), text.as_bytes())
}

/// `std::fs::write` with the path in the error.
pub fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// `create_dir_all` with the path in the error.
pub fn create_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))
}

/// One camera rendered for writing: colour at the colour model, metric depth at the depth
/// model (same pose: every layout we write has the depth camera share the colour pose).
pub struct RenderedFrame {
    pub color_rgb: Vec<[u8; 3]>,
    pub depth_m: Vec<f32>,
}

/// Renders `camera` in colour and, at `depth_model`, in depth. One pass when both models are
/// the same.
pub fn render_frame(
    mesh: &Mesh,
    face_instance: &[u32],
    camera: &Camera,
    depth_model: &CameraModel,
) -> anyhow::Result<RenderedFrame> {
    let color_view = render(
        mesh,
        face_instance,
        camera,
        &RenderConfig {
            with_color: true,
            ..RenderConfig::default()
        },
    )
    .context("rendering the colour image")?;
    let color_rgb = color_view.color_rgb.unwrap_or_default();
    let depth_m = if *depth_model == camera.model {
        color_view.depth_m
    } else {
        let depth_camera = Camera {
            model: *depth_model,
            world_from_camera: camera.world_from_camera,
        };
        render(mesh, face_instance, &depth_camera, &RenderConfig::default())
            .context("rendering the depth image")?
            .depth_m
    };
    Ok(RenderedFrame { color_rgb, depth_m })
}

/// How many frames to render before writing them out: enough to keep every core busy, few
/// enough that full-resolution images of a long trajectory never pile up in memory.
pub fn frame_chunk_len() -> usize {
    (rayon::current_num_threads() * 2).max(2)
}

/// 4x4 row-major of a pose as f32 (what `.sens` stores), or all `-inf` for a lost frame.
pub fn pose_f32_or_lost(pose: &Pose, lost: bool) -> [f32; 16] {
    if lost {
        [f32::NEG_INFINITY; 16]
    } else {
        pose_to_row_major(pose).map(|v| v as f32)
    }
}

/// A tiny hand-built scene for the writer tests: a floor, a "bed" box and a "pillow" box on
/// top of it, three cameras (the middle one lost), a non-trivial axis alignment.
#[cfg(test)]
pub mod test_scene {
    use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion, Vector3};

    use crate::{SynthScene, TruthObject};
    use msmu_data::scene::{Camera, CameraModel, Intrinsics, Mesh};

    fn add_box(
        mesh: &mut Mesh,
        vi: &mut Vec<u32>,
        lo: [f32; 3],
        hi: [f32; 3],
        rgb: [u8; 3],
        id: u32,
    ) {
        let base = mesh.positions_m.len() as u32;
        for k in 0..8u32 {
            let p = [
                if k & 1 == 0 { lo[0] } else { hi[0] },
                if k & 2 == 0 { lo[1] } else { hi[1] },
                if k & 4 == 0 { lo[2] } else { hi[2] },
            ];
            mesh.positions_m.push(p);
            // Vary the colour a little per corner so JPEGs are not flat.
            mesh.colors_rgb
                .push([rgb[0].wrapping_add(k as u8 * 9), rgb[1], rgb[2]]);
            vi.push(id);
        }
        let quads = [
            [0, 1, 3, 2],
            [4, 6, 7, 5],
            [0, 4, 5, 1],
            [2, 3, 7, 6],
            [0, 2, 6, 4],
            [1, 5, 7, 3],
        ];
        for q in quads {
            mesh.triangles.push([base + q[0], base + q[1], base + q[2]]);
            mesh.triangles.push([base + q[0], base + q[2], base + q[3]]);
        }
    }

    fn object(
        id: u32,
        label: &str,
        lo: [f64; 3],
        hi: [f64; 3],
        rgb: [u8; 3],
        structural: bool,
    ) -> TruthObject {
        let (dx, dy) = (hi[0] - lo[0], hi[1] - lo[1]);
        TruthObject {
            instance_id: id,
            raw_label: label.into(),
            length_m: dx.max(dy),
            width_m: dx.min(dy),
            height_m: hi[2] - lo[2],
            yaw_rad: if dx >= dy {
                0.0
            } else {
                std::f64::consts::FRAC_PI_2
            },
            center: [
                (lo[0] + hi[0]) / 2.0,
                (lo[1] + hi[1]) / 2.0,
                (lo[2] + hi[2]) / 2.0,
            ],
            aabb_min: lo,
            aabb_max: hi,
            color_rgb: rgb,
            structural,
        }
    }

    /// Camera at `eye` looking at `target`, OpenCV axes, world +Z up.
    pub fn look_at(eye: [f64; 3], target: [f64; 3], model: CameraModel) -> Camera {
        let eye = Vector3::from(eye);
        let forward = (Vector3::from(target) - eye).normalize();
        let right = forward.cross(&Vector3::z()).normalize();
        let down = forward.cross(&right);
        let rotation =
            Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[right, down, forward]));
        Camera {
            model,
            world_from_camera: Isometry3::from_parts(
                Translation3::from(eye),
                UnitQuaternion::from_rotation_matrix(&rotation),
            ),
        }
    }

    /// The scene; `width x height` colour cameras.
    pub fn scene(width: u32, height: u32) -> SynthScene {
        let mut mesh = Mesh::default();
        let mut vertex_instance = Vec::new();
        // Floor as a 4x4 grid of quads so it spans several segments.
        let n = 4u32;
        for j in 0..=n {
            for i in 0..=n {
                mesh.positions_m.push([i as f32, j as f32, 0.0]);
                mesh.colors_rgb
                    .push([120, 100 + (i * 10) as u8, 80 + (j * 10) as u8]);
                vertex_instance.push(1);
            }
        }
        for j in 0..n {
            for i in 0..n {
                let a = j * (n + 1) + i;
                mesh.triangles.push([a, a + 1, a + n + 2]);
                mesh.triangles.push([a, a + n + 2, a + n + 1]);
            }
        }
        // The bed is a base and a mattress (more vertices than the pillow, like real beds).
        add_box(
            &mut mesh,
            &mut vertex_instance,
            [1.0, 1.0, 0.0],
            [3.0, 2.5, 0.3],
            [200, 40, 40],
            2,
        );
        add_box(
            &mut mesh,
            &mut vertex_instance,
            [1.0, 1.0, 0.3],
            [3.0, 2.5, 0.5],
            [210, 60, 40],
            2,
        );
        add_box(
            &mut mesh,
            &mut vertex_instance,
            [1.2, 1.3, 0.5],
            [1.8, 1.7, 0.65],
            [40, 40, 220],
            3,
        );
        let objects = vec![
            object(
                1,
                "floor",
                [0.0, 0.0, 0.0],
                [4.0, 4.0, 0.0],
                [120, 120, 100],
                true,
            ),
            object(
                2,
                "bed",
                [1.0, 1.0, 0.0],
                [3.0, 2.5, 0.5],
                [200, 40, 40],
                false,
            ),
            object(
                3,
                "pillow",
                [1.2, 1.3, 0.5],
                [1.8, 1.7, 0.65],
                [40, 40, 220],
                false,
            ),
        ];
        let f = width as f64 * 0.8;
        let model = CameraModel {
            intrinsics: Intrinsics {
                fx: f,
                fy: f,
                cx: (width as f64 - 1.0) / 2.0,
                cy: (height as f64 - 1.0) / 2.0,
            },
            width,
            height,
        };
        let target = [2.0, 1.8, 0.3];
        let cameras = vec![
            look_at([-0.5, -0.5, 1.6], target, model),
            look_at([2.0, -1.0, 1.5], target, model),
            look_at([4.5, 0.0, 1.4], target, model),
        ];
        let aligned_from_scan = Isometry3::from_parts(
            Translation3::new(0.7, -0.3, 0.05),
            UnitQuaternion::from_axis_angle(&Vector3::z_axis(), 0.4),
        );
        SynthScene {
            scene_id: "scene0900_00".into(),
            mesh,
            vertex_instance,
            objects,
            aligned_from_scan,
            cameras,
            lost_tracking: vec![1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_never_cross_instances_and_are_sparse() {
        let scene = test_scene::scene(32, 24);
        let seg = segment_mesh(&scene.mesh, &scene.vertex_instance);
        let mut owner: BTreeMap<u32, u32> = BTreeMap::new();
        for (v, s) in seg.seg_indices.iter().enumerate() {
            let inst = scene.vertex_instance[v];
            assert_eq!(
                *owner.entry(*s).or_insert(inst),
                inst,
                "segment {s} spans instances"
            );
        }
        // Several segments per object, structure included.
        assert!(seg.segments_by_instance[&1].len() > 4);
        assert!(seg.segments_by_instance[&2].len() > 2);
        let max = *seg.seg_indices.iter().max().unwrap() as usize;
        assert!(max > owner.len(), "ids should not be dense");
    }
}
