//! The scan meta file `<id>.txt`: one `key = value` per line (FORMATS.md 1.4).
//!
//! What the reader needs from it: the `axisAlignment` that turns the scan frame into the
//! aligned (+Z up, axis-aligned walls) frame, the free-text `sceneType`, and the colour /
//! depth camera description used when a frame export carries no intrinsics of its own.
//! Older files have no `axisAlignment`; the value line of real files ends with a trailing
//! space; `sceneType` holds spaces and slashes ("Bedroom / Hotel"), so lines are split on the
//! first `" = "` only and values are trimmed.

use std::collections::BTreeMap;

use crate::error::Problem;
use crate::scene::Intrinsics;

use super::matrix::{parse_matrix4, parse_number};

/// The parts of `<id>.txt` the reader uses, plus every raw entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanMeta {
    /// Row-major 4x4 `aligned_from_scan`, when the file has an `axisAlignment` line.
    pub axis_alignment: Option<[f64; 16]>,
    /// `sceneType` as written (trimmed), when present and not empty.
    pub scene_type: Option<String>,
    /// Colour intrinsics from `fx_color fy_color mx_color my_color`, when all four are
    /// present. Not validated here: they are only a fallback, judged where they are used.
    pub color_intrinsics: Option<Intrinsics>,
    /// `colorWidth` x `colorHeight`, when both are present.
    pub color_size: Option<(u32, u32)>,
    /// Depth intrinsics from the `*_depth` keys (these differ from the `.sens` calibration;
    /// FORMATS.md 1.3), same rules.
    pub depth_intrinsics: Option<Intrinsics>,
    /// `depthWidth` x `depthHeight`, when both are present.
    pub depth_size: Option<(u32, u32)>,
    /// Every `key = value` entry, values trimmed.
    pub entries: BTreeMap<String, String>,
}

/// Parses the text of `<id>.txt`.
pub fn parse_meta(bytes: &[u8]) -> Result<ScanMeta, Problem> {
    let text = std::str::from_utf8(bytes).map_err(|e| Problem::NotUtf8 {
        what: format!("scan meta (byte {})", e.valid_up_to()),
    })?;
    let entries = parse_key_values(text, "scan meta")?;
    let axis_alignment = match entries.get("axisAlignment") {
        Some(value) => {
            Some(parse_matrix4(value).map_err(|detail| Problem::invalid("axisAlignment", detail))?)
        }
        None => None,
    };
    let scene_type = entries
        .get("sceneType")
        .filter(|value| !value.is_empty())
        .cloned();
    Ok(ScanMeta {
        axis_alignment,
        scene_type,
        color_intrinsics: intrinsics(&entries, ["fx_color", "fy_color", "mx_color", "my_color"])?,
        color_size: size(&entries, ["colorWidth", "colorHeight"])?,
        depth_intrinsics: intrinsics(&entries, ["fx_depth", "fy_depth", "mx_depth", "my_depth"])?,
        depth_size: size(&entries, ["depthWidth", "depthHeight"])?,
        entries,
    })
}

/// Parses `key = value` lines (the scan meta and the C++ exporter's `_info.txt` share the
/// form). Lines are split on the first `" = "`; a bare `=` is accepted too so that a value
/// left empty (`sceneType =`) is not an error. Blank lines are skipped; `what` names the
/// file kind in errors.
pub fn parse_key_values(text: &str, what: &str) -> Result<BTreeMap<String, String>, Problem> {
    let mut entries = BTreeMap::new();
    for (line_idx, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once(" = ")
            .or_else(|| line.split_once('='))
            .ok_or_else(|| {
                Problem::invalid(
                    format!("{what} line {}", line_idx + 1),
                    format!("expected `key = value`, found {:?}", line.trim_end()),
                )
            })?;
        entries.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(entries)
}

/// Intrinsics from four keys (fx, fy, cx, cy): `None` when any is absent, an error when
/// one is present but not a number.
pub fn intrinsics(
    entries: &BTreeMap<String, String>,
    keys: [&str; 4],
) -> Result<Option<Intrinsics>, Problem> {
    let mut k = [0.0f64; 4];
    for (slot, key) in k.iter_mut().zip(keys) {
        let Some(value) = entries.get(key) else {
            return Ok(None);
        };
        *slot = parse_number(value)
            .ok_or_else(|| Problem::invalid(key, format!("`{value}` is not a number")))?;
    }
    Ok(Some(Intrinsics {
        fx: k[0],
        fy: k[1],
        cx: k[2],
        cy: k[3],
    }))
}

/// An image size from a width key and a height key, same rules as [`intrinsics`].
pub fn size(
    entries: &BTreeMap<String, String>,
    keys: [&str; 2],
) -> Result<Option<(u32, u32)>, Problem> {
    let mut out = [0u32; 2];
    for (slot, key) in out.iter_mut().zip(keys) {
        let Some(value) = entries.get(key) else {
            return Ok(None);
        };
        *slot = value
            .parse::<u32>()
            .map_err(|_| Problem::invalid(key, format!("`{value}` is not a pixel count")))?;
    }
    // Zero is reported with the camera; a huge size here, naming the keys, before anything
    // is sized by it.
    if out.iter().any(|&side| side > crate::io::MAX_IMAGE_SIDE) {
        crate::io::check_image_size(out[0], out[1], &format!("{} x {}", keys[0], keys[1]))?;
    }
    Ok(Some((out[0], out[1])))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v2 file as released (alphabetical keys, trailing space after the alignment).
    const V2: &str = "axisAlignment = 0 -1 0 1 1 0 0 2 0 0 1 0.5 0 0 0 1 \n\
colorHeight = 968\n\
colorToDepthExtrinsics = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1\n\
colorWidth = 1296\n\
depthHeight = 480\n\
depthWidth = 640\n\
fx_color = 1170.187988\n\
fx_depth = 571.623718\n\
fy_color = 1170.187988\n\
fy_depth = 571.623718\n\
mx_color = 647.750000\n\
mx_depth = 319.500000\n\
my_color = 483.750000\n\
my_depth = 239.500000\n\
numColorFrames = 5578\n\
numDepthFrames = 5578\n\
numIMUmeasurements = 11834\n\
sceneType = Bedroom / Hotel\n";

    #[test]
    fn v2_file() {
        let meta = parse_meta(V2.as_bytes()).unwrap();
        assert_eq!(
            meta.axis_alignment,
            Some([0.0, -1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 1.0])
        );
        assert_eq!(meta.scene_type.as_deref(), Some("Bedroom / Hotel"));
        assert_eq!(meta.color_size, Some((1296, 968)));
        let color = meta.color_intrinsics.unwrap();
        assert_eq!((color.fx, color.cy), (1170.187988, 483.75));
        assert_eq!(meta.depth_size, Some((640, 480)));
        assert_eq!(meta.depth_intrinsics.unwrap().cx, 319.5);
        assert_eq!(meta.entries["numColorFrames"], "5578");
    }

    #[test]
    fn old_file_without_alignment_and_crlf() {
        let meta = parse_meta(b"colorHeight = 968\r\ncolorWidth = 1296\r\nsceneType = Kitchen\r\n")
            .unwrap();
        assert_eq!(meta.axis_alignment, None);
        assert_eq!(meta.scene_type.as_deref(), Some("Kitchen"));
        assert_eq!(meta.color_size, Some((1296, 968)));
        assert_eq!(meta.color_intrinsics, None);
    }

    #[test]
    fn value_with_equals_sign_and_empty_value() {
        let meta = parse_meta(b"sceneType = a = b\nnote =\n\n").unwrap();
        assert_eq!(meta.scene_type.as_deref(), Some("a = b"));
        assert_eq!(meta.entries["note"], "");
    }

    fn check_err(text: &[u8], want: &str) {
        let err = parse_meta(text).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} lacks {want:?}");
    }

    #[test]
    fn bad_files() {
        check_err(
            b"axisAlignment = 1 0 0\n",
            "axisAlignment: expected 16 numbers, found 3",
        );
        check_err(b"sceneType = x\njunk line\n", "scan meta line 2");
        check_err(
            b"fx_color = wide\nfy_color = 1\nmx_color = 1\nmy_color = 1\n",
            "fx_color",
        );
        check_err(
            b"fx_color = 1\nfy_color = 1\nmx_color = 1\nmy_color = 1\ncolorWidth = -3\ncolorHeight = 2\n",
            "colorWidth",
        );
        check_err(b"sceneType = caf\xe9\n", "not valid UTF-8");
    }
}
