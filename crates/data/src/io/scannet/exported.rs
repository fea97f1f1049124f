//! Frames from the two exported forms of a `.sens` stream (FORMATS.md 1.3).
//!
//! * Python exporter (`SensReader/python/reader.py`): `color/<i>.jpg`, `depth/<i>.png`
//!   (16-bit, raw / 1000 = metres), `pose/<i>.txt` and
//!   `intrinsic/{intrinsic,extrinsic}_{color,depth}.txt`. Indices are unpadded, so they are
//!   sorted as numbers (`10` after `2`).
//! * C++ exporter (`SensReader/c++`, `saveToImages`): `frame-XXXXXX.color.jpg`,
//!   `frame-XXXXXX.depth.pgm` (big-endian u16), `frame-XXXXXX.pose.txt` (no trailing newline)
//!   and `_info.txt` with `m_key = value` lines (sizes, depth shift, calibration matrices).
//!
//! A frame is driven by its pose file: without one it cannot be placed. A frame without a
//! colour image is dropped (and counted); one without a depth image is kept without sensor
//! depth, because depth is also rendered from the mesh. The extrinsic files are not read:
//! the scene model assumes depth shares the colour pose, as the exporters' own consumers do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Context, Problem, SceneError};
use crate::scene::{CameraModel, DepthSource, FrameLayout, ImageSource, Intrinsics};

use super::matrix::{intrinsics_from_matrix, parse_matrix4, parse_number};
use super::meta::{parse_key_values, size};
use super::{
    camera, FrameCollector, FrameContext, FrameSet, SKIP_MISSING_COLOR, SKIP_MISSING_POSE,
};

/// Raw depth units per metre of the Python exporter's PNGs (it writes the `.sens` values,
/// which ScanNet stores in millimetres).
const PYTHON_DEPTH_SHIFT: f64 = 1000.0;

/// The C++ exporter's calibration and size file.
const CPP_INFO: &str = "_info.txt";

/// Whether the folder holds a Python export (its `pose/` and `color/` folders).
pub fn has_python_export(dir: &Path) -> bool {
    dir.join("pose").is_dir() && dir.join("color").is_dir()
}

/// Whether the folder holds a C++ export (`_info.txt` or any `frame-*.pose.txt`).
pub fn has_cpp_export(dir: &Path) -> bool {
    if dir.join(CPP_INFO).is_file() {
        return true;
    }
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|entry| {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                frame_number(&name, "frame-", ".pose.txt").is_some()
            })
        })
        .unwrap_or(false)
}

/// The frame number in `<prefix><digits><suffix>`, when the name has that form.
fn frame_number(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Files of `dir` named `<prefix><number><suffix>`, by number. A missing folder is empty.
fn numbered_files(
    context: &FrameContext,
    dir: &Path,
    prefix: &str,
    suffix: &str,
) -> Result<BTreeMap<u64, PathBuf>, SceneError> {
    let mut files = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(files);
    }
    for entry in std::fs::read_dir(dir).at(context.scene_id, dir)? {
        let entry = entry.at(context.scene_id, dir)?;
        let name = entry.file_name();
        if let Some(number) = frame_number(&name.to_string_lossy(), prefix, suffix) {
            files.insert(number, entry.path());
        }
    }
    Ok(files)
}

/// Reads a 4x4 text matrix file; any problem names that file.
fn read_matrix_file(
    context: &FrameContext,
    path: &Path,
    what: &str,
) -> Result<[f64; 16], SceneError> {
    let text =
        crate::io::read_bounded(path, crate::io::MAX_TEXT_FILE_BYTES).at(context.scene_id, path)?;
    let text = std::str::from_utf8(&text)
        .map_err(|_| Problem::NotUtf8 { what: what.into() })
        .at(context.scene_id, path)?;
    parse_matrix4(text)
        .map_err(|detail| Problem::invalid(what, detail))
        .at(context.scene_id, path)
}

/// The size of an encoded image, read from its header only.
fn image_size(context: &FrameContext, path: &Path) -> Result<(u32, u32), SceneError> {
    image::image_dimensions(path)
        .map_err(|e| Problem::invalid("image header", e.to_string()))
        .at(context.scene_id, path)
}

/// Intrinsics from the export's own file when it has one, else from the scan meta (errors
/// then name `<id>.txt`). Returns the intrinsics and the file they came from.
fn intrinsics_or_meta<'a>(
    context: &'a FrameContext,
    from_export: Option<(Intrinsics, &'a Path)>,
    from_meta: Option<Intrinsics>,
) -> Option<(Intrinsics, &'a Path)> {
    from_export.or_else(|| from_meta.map(|k| (k, context.meta_path)))
}

/// An export without a single colour image: every posed frame is dropped and counted, and
/// the cameras are not resolved (there is nothing to size them by and nothing to use them).
fn no_images(layout: FrameLayout, n_poses: usize) -> FrameSet {
    let mut skipped = BTreeMap::new();
    if n_poses > 0 {
        skipped.insert(SKIP_MISSING_COLOR.to_string(), n_poses as u32);
    }
    FrameSet {
        layout,
        frames: Vec::new(),
        skipped,
        warnings: vec!["the frame export holds no colour images".into()],
    }
}

/// Reads the Python exporter's layout.
pub(crate) fn read_python_export(context: &FrameContext) -> Result<FrameSet, SceneError> {
    let dir = context.dir;
    let poses = numbered_files(context, &dir.join("pose"), "", ".txt")?;
    let colors = numbered_files(context, &dir.join("color"), "", ".jpg")?;
    let depths = numbered_files(context, &dir.join("depth"), "", ".png")?;
    if colors.is_empty() {
        return Ok(no_images(FrameLayout::ScanNetPythonExport, poses.len()));
    }
    let frame_indices: BTreeSet<u64> = poses.keys().chain(colors.keys()).copied().collect();

    // Cameras: intrinsics from `intrinsic/`, sizes from the meta or the first image.
    let intrinsic_dir = dir.join("intrinsic");
    let color_path = intrinsic_dir.join("intrinsic_color.txt");
    let depth_path = intrinsic_dir.join("intrinsic_depth.txt");
    let color_from_file = if color_path.is_file() {
        let matrix = read_matrix_file(context, &color_path, "colour intrinsic matrix")?;
        Some((intrinsics_from_matrix(&matrix), color_path.as_path()))
    } else {
        None
    };
    let depth_from_file = if depth_path.is_file() {
        let matrix = read_matrix_file(context, &depth_path, "depth intrinsic matrix")?;
        Some((intrinsics_from_matrix(&matrix), depth_path.as_path()))
    } else {
        None
    };
    let Some((color_k, color_k_path)) =
        intrinsics_or_meta(context, color_from_file, context.meta.color_intrinsics)
    else {
        return Err(SceneError::new(
            context.scene_id,
            &color_path,
            Problem::Missing {
                hint: "the Python export needs colour intrinsics here or `fx_color` etc. in \
                       the scan meta"
                    .into(),
            },
        ));
    };
    let color_size = match (context.meta.color_size, colors.values().next()) {
        (Some(size), _) => size,
        (None, Some(first)) => image_size(context, first)?,
        // Not reached: `colors` is not empty.
        (None, None) => (0, 0),
    };
    let color = camera(color_k, color_size, "colour").at(context.scene_id, color_k_path)?;
    let depth = match intrinsics_or_meta(context, depth_from_file, context.meta.depth_intrinsics) {
        Some((depth_k, depth_k_path)) => {
            let depth_size = match (context.meta.depth_size, depths.values().next()) {
                (Some(size), _) => Some(size),
                (None, Some(first)) => Some(image_size(context, first)?),
                (None, None) => None,
            };
            match depth_size {
                Some(size) => {
                    Some(camera(depth_k, size, "depth").at(context.scene_id, depth_k_path)?)
                }
                None => None,
            }
        }
        None => None,
    };

    let collector = FrameCollector::new(
        FrameLayout::ScanNetPythonExport,
        context.aligned_from_scan,
        color,
        depth,
    );
    let files = NumberedFrames {
        poses: &poses,
        colors: &colors,
        depths: &depths,
    };
    collect_frames(context, collector, &frame_indices, &files, |path| {
        DepthSource::Png16 {
            path: path.to_path_buf(),
            shift: PYTHON_DEPTH_SHIFT,
        }
    })
}

/// What `_info.txt` says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CppInfo {
    pub color_intrinsics: Option<Intrinsics>,
    pub depth_intrinsics: Option<Intrinsics>,
    pub color_size: Option<(u32, u32)>,
    pub depth_size: Option<(u32, u32)>,
    pub depth_shift: Option<f64>,
}

/// Parses the C++ exporter's `_info.txt`.
pub fn parse_cpp_info(bytes: &[u8]) -> Result<CppInfo, Problem> {
    let text = std::str::from_utf8(bytes).map_err(|e| Problem::NotUtf8 {
        what: format!("_info.txt (byte {})", e.valid_up_to()),
    })?;
    let entries = parse_key_values(text, "_info.txt")?;
    let matrix = |key: &str| -> Result<Option<Intrinsics>, Problem> {
        match entries.get(key) {
            Some(value) => parse_matrix4(value)
                .map(|m| Some(intrinsics_from_matrix(&m)))
                .map_err(|detail| Problem::invalid(key, detail)),
            None => Ok(None),
        }
    };
    let depth_shift = match entries.get("m_depthShift") {
        Some(value) => Some(parse_number(value).ok_or_else(|| {
            Problem::invalid("m_depthShift", format!("`{value}` is not a number"))
        })?),
        None => None,
    };
    Ok(CppInfo {
        color_intrinsics: matrix("m_calibrationColorIntrinsic")?,
        depth_intrinsics: matrix("m_calibrationDepthIntrinsic")?,
        color_size: size(&entries, ["m_colorWidth", "m_colorHeight"])?,
        depth_size: size(&entries, ["m_depthWidth", "m_depthHeight"])?,
        depth_shift,
    })
}

/// Reads the C++ exporter's layout.
pub(crate) fn read_cpp_export(context: &FrameContext) -> Result<FrameSet, SceneError> {
    let dir = context.dir;
    let poses = numbered_files(context, dir, "frame-", ".pose.txt")?;
    let colors = numbered_files(context, dir, "frame-", ".color.jpg")?;
    let depths = numbered_files(context, dir, "frame-", ".depth.pgm")?;
    if colors.is_empty() {
        return Ok(no_images(FrameLayout::ScanNetCppExport, poses.len()));
    }
    let frame_indices: BTreeSet<u64> = poses.keys().chain(colors.keys()).copied().collect();

    let info_path = dir.join(CPP_INFO);
    let info = if info_path.is_file() {
        let bytes = crate::io::read_bounded(&info_path, crate::io::MAX_TEXT_FILE_BYTES)
            .at(context.scene_id, &info_path)?;
        parse_cpp_info(&bytes).at(context.scene_id, &info_path)?
    } else {
        CppInfo::default()
    };
    let info_ref = info_path.as_path();
    // Each value comes from `_info.txt` when it has it, else from the scan meta; an error
    // names whichever file supplied the bad value.
    let pick = |from_info: Option<Intrinsics>, from_meta: Option<Intrinsics>| {
        intrinsics_or_meta(context, from_info.map(|k| (k, info_ref)), from_meta)
    };
    let color_size = info.color_size.or(context.meta.color_size);
    let (Some((color_k, color_k_path)), Some(color_size)) = (
        pick(info.color_intrinsics, context.meta.color_intrinsics),
        color_size,
    ) else {
        return Err(SceneError::new(
            context.scene_id,
            &info_path,
            Problem::Missing {
                hint: "the C++ export needs `m_calibrationColorIntrinsic`, `m_colorWidth` and \
                       `m_colorHeight` here (or `fx_color` etc. in the scan meta)"
                    .into(),
            },
        ));
    };
    let color: CameraModel =
        camera(color_k, color_size, "colour").at(context.scene_id, color_k_path)?;
    let depth = match (
        pick(info.depth_intrinsics, context.meta.depth_intrinsics),
        info.depth_size.or(context.meta.depth_size),
    ) {
        (Some((depth_k, depth_k_path)), Some(size)) => {
            Some(camera(depth_k, size, "depth").at(context.scene_id, depth_k_path)?)
        }
        _ => None,
    };
    let shift = info.depth_shift.unwrap_or(PYTHON_DEPTH_SHIFT);
    if !(shift.is_finite() && shift > 0.0) {
        return Err(SceneError::new(
            context.scene_id,
            &info_path,
            Problem::invalid(
                "m_depthShift",
                format!("{shift}; expected a positive number (1000)"),
            ),
        ));
    }

    let mut collector = FrameCollector::new(
        FrameLayout::ScanNetCppExport,
        context.aligned_from_scan,
        color,
        depth,
    );
    if !info_path.is_file() {
        collector.warn(format!(
            "no {CPP_INFO}: cameras from the scan meta, depth shift 1000"
        ));
    }
    let files = NumberedFrames {
        poses: &poses,
        colors: &colors,
        depths: &depths,
    };
    collect_frames(context, collector, &frame_indices, &files, |path| {
        DepthSource::PgmBigEndian {
            path: path.to_path_buf(),
            shift,
        }
    })
}

/// The per-frame files of an exported layout, keyed by frame number.
struct NumberedFrames<'a> {
    poses: &'a BTreeMap<u64, PathBuf>,
    colors: &'a BTreeMap<u64, PathBuf>,
    depths: &'a BTreeMap<u64, PathBuf>,
}

/// The frame loop both exported layouts share: a frame needs a pose file and a colour image
/// (otherwise it is skipped and counted); sensor depth is optional and its encoding is the
/// layout's (`depth_source`).
fn collect_frames(
    context: &FrameContext,
    mut collector: FrameCollector,
    frame_indices: &BTreeSet<u64>,
    files: &NumberedFrames,
    depth_source: impl Fn(&Path) -> DepthSource,
) -> Result<FrameSet, SceneError> {
    for &frame_idx in frame_indices {
        let Some(pose_path) = files.poses.get(&frame_idx) else {
            collector.skip(SKIP_MISSING_POSE);
            continue;
        };
        let Some(color_path) = files.colors.get(&frame_idx) else {
            collector.skip(SKIP_MISSING_COLOR);
            continue;
        };
        let scan_from_camera = read_matrix_file(context, pose_path, "camera pose")?;
        let sensor_depth = files.depths.get(&frame_idx).map(|path| depth_source(path));
        collector.push(
            frame_idx,
            &scan_from_camera,
            Some(ImageSource::File(color_path.clone())),
            sensor_depth,
        );
    }
    Ok(collector.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_numbers() {
        assert_eq!(frame_number("10.txt", "", ".txt"), Some(10));
        assert_eq!(
            frame_number("frame-000042.pose.txt", "frame-", ".pose.txt"),
            Some(42)
        );
        assert_eq!(
            frame_number("frame-000042.color.jpg", "frame-", ".pose.txt"),
            None
        );
        assert_eq!(frame_number(".txt", "", ".txt"), None);
        assert_eq!(frame_number("-1.txt", "", ".txt"), None);
        assert_eq!(frame_number("notes.txt", "", ".txt"), None);
        assert_eq!(
            frame_number("99999999999999999999999.txt", "", ".txt"),
            None
        );
    }

    /// `_info.txt` as the C++ exporter writes it (trailing spaces after matrices).
    const INFO: &str = "m_versionNumber = 4\n\
m_sensorName = StructureSensor\n\
m_colorWidth = 1296\n\
m_colorHeight = 968\n\
m_depthWidth = 640\n\
m_depthHeight = 480\n\
m_depthShift = 1000\n\
m_calibrationColorIntrinsic = 1169.62 0 646.295 0 0 1167.11 489.927 0 0 0 1 0 0 0 0 1 \n\
m_calibrationColorExtrinsic = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 \n\
m_calibrationDepthIntrinsic = 577.591 0 318.905 0 0 578.73 242.684 0 0 0 1 0 0 0 0 1 \n\
m_calibrationDepthExtrinsic = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 \n\
m_frames.size = 5578\n";

    #[test]
    fn cpp_info() {
        let info = parse_cpp_info(INFO.as_bytes()).unwrap();
        assert_eq!(info.color_size, Some((1296, 968)));
        assert_eq!(info.depth_size, Some((640, 480)));
        assert_eq!(info.depth_shift, Some(1000.0));
        let color = info.color_intrinsics.unwrap();
        assert_eq!(
            (color.fx, color.fy, color.cx, color.cy),
            (1169.62, 1167.11, 646.295, 489.927)
        );
        assert_eq!(info.depth_intrinsics.unwrap().cy, 242.684);
        // Sparse files are fine; broken values are not.
        assert_eq!(
            parse_cpp_info(b"m_versionNumber = 4").unwrap(),
            CppInfo::default()
        );
        let err = parse_cpp_info(b"m_calibrationColorIntrinsic = 1 0 0\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("m_calibrationColorIntrinsic: expected 16 numbers"),
            "{err}"
        );
        let err = parse_cpp_info(b"m_depthShift = lots\n").unwrap_err();
        assert!(err.to_string().contains("m_depthShift"), "{err}");
    }
}
