//! Readers: the only code (with the dataset writers) that touches disk.
//!
//! [`load_scene`] detects the layout of a scene folder and dispatches to the ScanNet or
//! ScanNet++ reader; [`discover_scenes`] lists the scene folders under a dataset root.

pub mod frames;
pub mod iphone_depth;
pub mod ply;
pub mod scannet;
pub mod scannetpp;

use std::path::{Path, PathBuf};

use crate::error::{Problem, SceneError};
use crate::scene::{Scene, Source};

/// Options shared by the readers.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// ScanNet label map (`scannetv2-labels.combined.tsv`). When `None`, the reader looks for
    /// it in the scene folder and its ancestors (up to three levels).
    pub scannet_label_map: Option<PathBuf>,
    /// ScanNet++ `metadata/semantic_benchmark/map_benchmark.csv`. When `None`, looked up
    /// beside the data root the same way.
    pub scannetpp_benchmark_map: Option<PathBuf>,
    /// Skip frames entirely (geometry-only reads, e.g. `msmu inspect --no-frames`).
    pub skip_frames: bool,
}

/// Which reader a folder needs.
pub fn detect_source(scene_dir: &Path) -> Option<Source> {
    if scene_dir
        .join("scans")
        .join("mesh_aligned_0.05.ply")
        .is_file()
    {
        return Some(Source::ScanNetPP);
    }
    let name = scene_dir.file_name()?.to_string_lossy().to_string();
    if scene_dir.join(format!("{name}_vh_clean_2.ply")).is_file() {
        return Some(Source::ScanNet);
    }
    None
}

/// Reads one scene folder of either dataset.
pub fn load_scene(scene_dir: &Path, options: &ReadOptions) -> Result<Scene, SceneError> {
    let scene_id = scene_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| scene_dir.display().to_string());
    match detect_source(scene_dir) {
        Some(Source::ScanNetPP) => scannetpp::read_scene(scene_dir, options),
        Some(_) => scannet::read_scene(scene_dir, options),
        None => Err(SceneError::new(
            scene_id.clone(),
            scene_dir,
            Problem::Missing {
                hint: format!(
                    "no `{scene_id}_vh_clean_2.ply` (ScanNet) or `scans/mesh_aligned_0.05.ply` \
                     (ScanNet++) in this folder; point at a scene folder"
                ),
            },
        )),
    }
}

/// Scene folders under a dataset root, sorted by name. ScanNet roots may hold the scenes
/// directly or under `scans/`; ScanNet++ roots hold them directly or under `data/`.
pub fn discover_scenes(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut bases = vec![root.to_path_buf()];
    for sub in ["scans", "data"] {
        if root.join(sub).is_dir() {
            bases.push(root.join(sub));
        }
    }
    let mut scenes = Vec::new();
    for base in bases {
        for entry in std::fs::read_dir(&base)? {
            let path = entry?.path();
            if path.is_dir() && detect_source(&path).is_some() {
                scenes.push(path);
            }
        }
    }
    scenes.sort();
    scenes.dedup();
    Ok(scenes)
}
