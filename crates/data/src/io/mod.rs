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

/// Largest width or height, in pixels, of any colour or depth image a scene may declare
/// (in `<id>.txt`, `_info.txt`, the `.sens` header, `transforms_undistorted.json`,
/// `cameras.txt` or a JPEG header). 16384 is twice the widest camera of either dataset
/// (ScanNet++ DSLR: 8192); a larger value is a corrupt or hostile file, and accepting it would
/// make the rasterizer allocate width x height pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// Largest instance id a reader accepts. Instance masks are 16-bit PNGs, so no id above
/// `u16::MAX` can be written, and per-id tables stay small (ScanNet ids are `objectId + 1`,
/// a few hundred at most).
pub const MAX_INSTANCE_ID: u32 = u16::MAX as u32;

/// Largest text or JSON input a reader reads whole (`segments.json` of the largest ScanNet++
/// mesh is a few hundred MB).
pub const MAX_TEXT_FILE_BYTES: u64 = 2 << 30;

/// Largest encoded colour image (a full-size ScanNet++ DSLR JPEG is about 10 MB).
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// Largest mesh or binary stream a reader opens (`.ply`, `.sens`, `depth.bin`; the largest
/// ScanNet `.sens` is about 10 GB).
pub const MAX_BINARY_FILE_BYTES: u64 = 64 << 30;

/// Checks an image size against [`MAX_IMAGE_SIDE`]. `what` names the image ("colour image
/// size", "depth image size").
pub fn check_image_size(width: u32, height: u32, what: &str) -> Result<(), Problem> {
    if width == 0 || height == 0 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(Problem::invalid(
            what,
            format!(
                "{width}x{height}; each side must be 1 to {MAX_IMAGE_SIDE} pixels (the file is \
                 corrupt: re-download or re-export the scene)"
            ),
        ));
    }
    Ok(())
}

/// Opens `path` for reading if it is a regular file (after following symlinks) of at most
/// `max_bytes`. Returns the file and its length. A device (`/dev/zero`), FIFO or socket, which
/// could be read forever, and a file over the limit are refused before anything is read.
pub fn open_bounded(path: &Path, max_bytes: u64) -> Result<(std::fs::File, u64), Problem> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Problem::invalid(
            "input file",
            format!(
                "{} is not a regular file (a device, FIFO or folder, perhaps behind a \
                 symlink); point it at the real file",
                path.display()
            ),
        ));
    }
    if meta.len() > max_bytes {
        return Err(Problem::invalid(
            "input file",
            format!(
                "{} bytes is more than the {max_bytes} bytes allowed for this kind of file \
                 (see docs/RELIABILITY.md); the file is corrupt or not what its name says",
                meta.len()
            ),
        ));
    }
    Ok((file, meta.len()))
}

/// Reads a whole input file of at most `max_bytes` (see [`open_bounded`]). Never reads more
/// than `max_bytes + 1` bytes, even if the file grows while it is read.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, Problem> {
    use std::io::Read as _;
    let (file, len) = open_bounded(path, max_bytes)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(Problem::invalid(
            "input file",
            format!("grew past the {max_bytes} bytes allowed while being read"),
        ));
    }
    Ok(bytes)
}

/// Folders with more entries than this are summarised by their entry count in
/// [`scene_listing`] (frame folders hold thousands of files; one `stat` each would make the
/// fingerprint of a 2,000-scene build take minutes).
pub const LISTING_FULL_ENTRIES: usize = 256;

/// A cheap fingerprint of what a scene folder holds, for `msmu build --resume`: every file's
/// path relative to `dir`, size and modification time, recursively; a folder of more than
/// [`LISTING_FULL_ENTRIES`] entries contributes its entry count only. Another copy of a scene,
/// a re-exported `.sens` or an edited annotation changes it; reading the scene is not needed.
/// Symlinks are followed (as the readers do) but a symlinked folder is not entered.
pub fn scene_listing(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> std::io::Result<()> {
        let mut entries: Vec<std::fs::DirEntry> =
            std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
        if entries.len() > LISTING_FULL_ENTRIES {
            out.push(format!("{rel}/ {} entries", entries.len()));
            return Ok(());
        }
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type()?.is_dir() {
                walk(&path, &child, out)?;
                continue;
            }
            match std::fs::metadata(&path) {
                Ok(meta) => {
                    let mtime = meta
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    out.push(format!("{child} {} {mtime}", meta.len()));
                }
                // A dangling symlink is listed as such; the reader reports it if it matters.
                Err(_) => out.push(format!("{child} unreadable")),
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_listing_sees_edits_and_summarises_big_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.ply"), b"abc").unwrap();
        std::fs::create_dir(dir.path().join("color")).unwrap();
        for i in 0..=LISTING_FULL_ENTRIES {
            std::fs::write(dir.path().join("color").join(format!("{i}.jpg")), b"").unwrap();
        }
        let before = scene_listing(dir.path()).unwrap();
        assert_eq!(before.len(), 2, "{before:?}");
        assert!(before[0].starts_with("a.ply 3 "), "{before:?}");
        assert_eq!(
            before[1],
            format!("color/ {} entries", LISTING_FULL_ENTRIES + 1)
        );
        std::fs::write(dir.path().join("a.ply"), b"abcd").unwrap();
        assert_ne!(scene_listing(dir.path()).unwrap(), before);
    }

    #[test]
    fn bounded_reads_refuse_devices_and_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.json");
        std::fs::write(&small, b"{}").unwrap();
        assert_eq!(read_bounded(&small, 2).unwrap(), b"{}");
        let err = read_bounded(&small, 1).unwrap_err();
        assert!(err.to_string().contains("more than the 1 bytes"), "{err}");
        #[cfg(unix)]
        {
            let link = dir.path().join("zero.json");
            std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
            let err = read_bounded(&link, 1 << 20).unwrap_err();
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
    }

    #[test]
    fn image_sizes_are_bounded() {
        assert!(check_image_size(640, 480, "colour image size").is_ok());
        assert!(check_image_size(MAX_IMAGE_SIDE, MAX_IMAGE_SIDE, "x").is_ok());
        for (w, h) in [
            (0, 480),
            (100_000, 100_000),
            (u32::MAX, u32::MAX),
            (640, 16_385),
        ] {
            let err = check_image_size(w, h, "depth image size").unwrap_err();
            assert!(err.to_string().contains("16384"), "{err}");
        }
    }
}
