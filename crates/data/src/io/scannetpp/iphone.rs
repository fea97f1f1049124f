//! ScanNet++ iPhone poses: `iphone/pose_intrinsic_imu.json`.
//!
//! The file is an object keyed `frame_XXXXXX` (the index of the frame in the video, and of its
//! record in `depth.bin`) holding `intrinsic` (3x3, pixels of the full-resolution RGB frame) and
//! `aligned_pose` (4x4 camera-to-world, OpenCV camera axes, already in the mesh frame). The raw
//! ARKit `pose` is not in the mesh frame (scannetpp issue #154) and is never used. Only a subset
//! of the video frames has an entry (issue #104); frames without one are not frames.
//!
//! The file is written by Python's `json`, which spells non-finite numbers `NaN`, `Infinity`
//! and `-Infinity` — not JSON. They are turned into `null` before parsing, and an entry with a
//! non-finite pose or intrinsics is skipped and counted rather than failing the scene.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Problem;
use crate::scene::{pose_from_row_major, Intrinsics, Pose};

/// One usable iPhone frame.
#[derive(Clone, Debug, PartialEq)]
pub struct IphonePose {
    /// `frame_XXXXXX` as written in the file.
    pub name: String,
    /// The number in the name: index of the video frame and of the `depth.bin` record.
    pub frame_index: u32,
    /// Intrinsics of the full-resolution colour frame.
    pub intrinsics: Intrinsics,
    pub world_from_camera: Pose,
}

/// Skip reasons, also the keys of `Scene::skipped_frames`.
pub const SKIP_INVALID_POSE: &str = "invalid pose";
pub const SKIP_INVALID_INTRINSICS: &str = "invalid intrinsics";
pub const SKIP_UNRECOGNISED_NAME: &str = "unrecognised frame name";

/// Usable frames sorted by frame index, and the count of skipped entries by reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IphonePoses {
    pub frames: Vec<IphonePose>,
    pub skipped: BTreeMap<String, u32>,
}

/// Replaces Python's non-finite literals outside strings by `null`.
fn python_json_to_strict(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some(token) = ["NaN", "Infinity", "-Infinity"]
            .into_iter()
            .find(|t| bytes[i..].starts_with(t.as_bytes()))
        {
            out.extend_from_slice(b"null");
            i += token.len();
            continue;
        }
        out.push(b);
        i += 1;
    }
    // Only ASCII tokens were replaced by ASCII, so the text is still UTF-8; the lossy
    // conversion never actually replaces anything.
    String::from_utf8_lossy(&out).into_owned()
}

/// A `rows x cols` matrix of numbers or nulls (null = non-finite in the original file).
fn matrix(
    value: &Value,
    rows: usize,
    cols: usize,
    what: &str,
) -> Result<Vec<Option<f64>>, Problem> {
    let shape_error =
        || Problem::invalid(what, format!("expected a {rows}x{cols} array of numbers"));
    let outer = value
        .as_array()
        .filter(|a| a.len() == rows)
        .ok_or_else(shape_error)?;
    let mut out = Vec::with_capacity(rows * cols);
    for row in outer {
        let row = row
            .as_array()
            .filter(|r| r.len() == cols)
            .ok_or_else(shape_error)?;
        for cell in row {
            match cell {
                Value::Null => out.push(None),
                Value::Number(n) => out.push(n.as_f64()),
                _ => return Err(shape_error()),
            }
        }
    }
    Ok(out)
}

/// Whether the upper-left 3x3 block is orthonormal (up to the rounding of a text file).
/// `pose_from_row_major` only checks the determinant, which a shear passes.
fn is_rotation(m: &[f64; 16]) -> bool {
    let r = nalgebra::Matrix3::new(m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]);
    (r.transpose() * r - nalgebra::Matrix3::identity())
        .abs()
        .max()
        < 1e-3
}

fn frame_index(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("frame_")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Parses the pose file. Structural problems (not an object, missing or misshapen matrices, a
/// finite pose that is not a rigid transform) are errors; non-finite values skip the frame.
pub fn parse_poses(text: &str) -> Result<IphonePoses, Problem> {
    let root: Value = serde_json::from_str(&python_json_to_strict(text))
        .map_err(|e| Problem::Json(e.to_string()))?;
    let entries = root
        .as_object()
        .ok_or_else(|| Problem::invalid("pose file", "expected an object keyed by frame name"))?;
    let mut poses = IphonePoses::default();
    let mut skip = |reason: &str| *poses.skipped.entry(reason.to_string()).or_insert(0) += 1;
    let mut frames = Vec::new();
    for (name, entry) in entries {
        let Some(frame_index) = frame_index(name) else {
            skip(SKIP_UNRECOGNISED_NAME);
            continue;
        };
        let field = |key: &str| {
            entry.get(key).ok_or_else(|| {
                Problem::invalid(
                    format!("entry {name:?}"),
                    format!("has no `{key}` (older releases lack `aligned_pose`; download the current release)"),
                )
            })
        };
        let k = matrix(field("intrinsic")?, 3, 3, &format!("{name}.intrinsic"))?;
        let m = matrix(
            field("aligned_pose")?,
            4,
            4,
            &format!("{name}.aligned_pose"),
        )?;
        let Some(m) = m
            .into_iter()
            .collect::<Option<Vec<f64>>>()
            .filter(|m| m.iter().all(|v| v.is_finite()))
        else {
            skip(SKIP_INVALID_POSE);
            continue;
        };
        let intrinsics = match (k[0], k[4], k[2], k[5]) {
            (Some(fx), Some(fy), Some(cx), Some(cy)) => Intrinsics { fx, fy, cx, cy },
            _ => {
                skip(SKIP_INVALID_INTRINSICS);
                continue;
            }
        };
        if !intrinsics.is_valid() {
            skip(SKIP_INVALID_INTRINSICS);
            continue;
        }
        let mut row_major = [0.0; 16];
        row_major.copy_from_slice(&m);
        let last_row_ok = (row_major[12].abs() + row_major[13].abs() + row_major[14].abs()) < 1e-6
            && (row_major[15] - 1.0).abs() < 1e-6;
        let world_from_camera = pose_from_row_major(&row_major)
            .filter(|_| last_row_ok && is_rotation(&row_major))
            .ok_or_else(|| {
                Problem::invalid(
                    format!("{name}.aligned_pose"),
                    format!("{row_major:?} is not a rigid camera-to-world transform"),
                )
            })?;
        frames.push(IphonePose {
            name: name.clone(),
            frame_index,
            intrinsics,
            world_from_camera,
        });
    }
    frames.sort_by_key(|f| f.frame_index);
    poses.frames = frames;
    Ok(poses)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "[[100, 0, 50], [0, 101, 40], [0, 0, 1]]";
    const I: &str = "[[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]]";

    fn entry(k: &str, pose: &str) -> String {
        format!(r#"{{"timestamp": 1.0, "intrinsic": {k}, "pose": {I}, "aligned_pose": {pose}}}"#)
    }

    #[test]
    fn python_literals_become_null_outside_strings_only() {
        assert_eq!(
            python_json_to_strict(r#"{"NaN": [NaN, -Infinity, Infinity, "a\"NaN"]}"#),
            r#"{"NaN": [null, null, null, "a\"NaN"]}"#
        );
    }

    #[test]
    fn frames_are_sorted_and_bad_ones_counted() {
        let nan_pose = "[[NaN, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]]";
        let text = format!(
            r#"{{"frame_000010": {}, "frame_000002": {}, "frame_000003": {}, "frame_000004": {}, "other": {}}}"#,
            entry(K, I),
            entry(K, I),
            entry(K, nan_pose),
            entry("[[Infinity, 0, 50], [0, 101, 40], [0, 0, 1]]", I),
            entry(K, I),
        );
        let poses = parse_poses(&text).unwrap();
        let names: Vec<(&str, u32)> = poses
            .frames
            .iter()
            .map(|f| (f.name.as_str(), f.frame_index))
            .collect();
        assert_eq!(names, [("frame_000002", 2), ("frame_000010", 10)]);
        assert_eq!(
            poses.frames[0].intrinsics,
            Intrinsics {
                fx: 100.0,
                fy: 101.0,
                cx: 50.0,
                cy: 40.0
            }
        );
        assert_eq!(
            poses.frames[0].world_from_camera.translation.vector,
            nalgebra::Vector3::new(1.0, 2.0, 3.0)
        );
        let skipped: Vec<(&str, u32)> = poses
            .skipped
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            skipped,
            [
                (SKIP_INVALID_INTRINSICS, 1),
                (SKIP_INVALID_POSE, 1),
                (SKIP_UNRECOGNISED_NAME, 1)
            ]
        );
    }

    #[test]
    fn structural_problems_are_errors() {
        let shear = "[[1, 1, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1]]";
        let projective = "[[1, 0, 0, 1], [0, 1, 0, 2], [0, 0, 1, 3], [0, 0, 1, 1]]";
        for text in [
            "[]".to_string(),
            "{".to_string(),
            format!(r#"{{"frame_000001": {}}}"#, entry(K, "[[1, 0, 0]]")),
            format!(r#"{{"frame_000001": {}}}"#, entry("[1, 2, 3]", I)),
            format!(r#"{{"frame_000001": {}}}"#, entry(K, shear)),
            format!(r#"{{"frame_000001": {}}}"#, entry(K, projective)),
            format!(r#"{{"frame_000001": {{"intrinsic": {K}}}}}"#),
        ] {
            assert!(parse_poses(&text).is_err(), "{text}");
        }
    }
}
