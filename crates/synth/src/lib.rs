//! Synthetic scenes in the real on-disk layouts, with analytic ground truth.
//!
//! Split in two: [`room`] builds a [`SynthScene`] in memory (pure, deterministic for a seed);
//! the writers put it on disk in the real ScanNet / ScanNet++ layouts. [`catalog`] holds the
//! furniture categories and the label map the writers emit; [`shapes`] the analytic boxes,
//! placements and tessellation the generator is built from.

pub mod catalog;
pub mod room;
pub mod shapes;

pub use room::{generate, scannet_color_camera, GenerateConfig};

use msmu_data::scene::{Camera, Mesh, Pose};
use serde::{Deserialize, Serialize};

/// Analytic truth of one object, exactly as the generator built it (aligned frame).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthObject {
    /// Instance id as the readers will report it (1-based; ScanNet `objectId + 1`).
    pub instance_id: u32,
    /// Raw label written to the annotation file.
    pub raw_label: String,
    /// Longer horizontal side of the gravity-aligned box, metres.
    pub length_m: f64,
    /// Shorter horizontal side, metres.
    pub width_m: f64,
    /// Vertical extent, metres.
    pub height_m: f64,
    /// Direction of the `length` side, radians from +X towards +Y, in [0, pi).
    pub yaw_rad: f64,
    /// Box centre (middle of the vertical extent), metres.
    pub center: [f64; 3],
    /// Axis-aligned bounds in the aligned frame.
    pub aabb_min: [f64; 3],
    pub aabb_max: [f64; 3],
    /// Dominant colour of the object, sRGB.
    pub color_rgb: [u8; 3],
    /// Whether the object is structure (wall, floor, ceiling, door, window).
    pub structural: bool,
}

/// A whole synthetic scene in memory, before it is written in a layout.
#[derive(Clone, Debug)]
pub struct SynthScene {
    pub scene_id: String,
    /// Mesh in the **aligned** frame (z up, metres).
    pub mesh: Mesh,
    /// Instance of every vertex (0 = none), same ids as `objects`.
    pub vertex_instance: Vec<u32>,
    pub objects: Vec<TruthObject>,
    /// The axis alignment the writer must record: the files hold the mesh and poses in the
    /// scan frame, `scan = aligned_from_scan^-1 * aligned`.
    pub aligned_from_scan: Pose,
    /// Colour cameras along the trajectory, poses in the aligned frame.
    pub cameras: Vec<Camera>,
    /// Indices into `cameras` whose pose the writer must corrupt the way real data does
    /// (ScanNet: -inf poses for lost tracking). Readers must skip exactly these.
    pub lost_tracking: Vec<usize>,
}

pub mod encode;
pub mod sens;
pub mod write_common;
pub mod write_scannet;
pub mod write_scannetpp;

/// Every file under `root` (relative path -> bytes): the determinism checks compare two
/// generated (or built) trees with this.
pub fn tree_bytes(
    root: &std::path::Path,
) -> std::io::Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.insert(rel.to_string_lossy().into_owned(), std::fs::read(&path)?);
            }
        }
    }
    Ok(out)
}
