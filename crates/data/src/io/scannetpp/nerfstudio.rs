//! The pinhole camera of ScanNet++ `dslr/nerfstudio/transforms_undistorted.json`.
//!
//! Only the top-level intrinsics are read (`fl_x fl_y cx cy w h`, the camera of the images in
//! `resized_undistorted_images/`). The per-frame `transform_matrix` is deliberately ignored:
//! it is a nerfstudio/OpenGL camera-to-world with permuted and negated rows, not the COLMAP
//! pose in the mesh frame (FORMATS.md 2.3; scannetpp issues #50, #160). Poses come from
//! `colmap/images.txt`.

use serde::Deserialize;

use crate::error::Problem;
use crate::scene::{CameraModel, Intrinsics};

#[derive(Deserialize)]
struct TransformsHeader {
    fl_x: f64,
    fl_y: f64,
    cx: f64,
    cy: f64,
    w: f64,
    h: f64,
    camera_model: Option<String>,
    k1: Option<f64>,
    k2: Option<f64>,
    k3: Option<f64>,
    k4: Option<f64>,
}

/// An image size written as a JSON number (nerfstudio writes integers; a float with no
/// fraction is accepted too).
fn pixel_count(value: f64, what: &str) -> Result<u32, Problem> {
    if value.is_finite() && value >= 1.0 && value.fract() == 0.0 && value <= u32::MAX as f64 {
        Ok(value as u32)
    } else {
        Err(Problem::invalid(
            what,
            format!("{value} is not a positive whole number of pixels"),
        ))
    }
}

/// Parses the undistorted pinhole camera. Rejects a distorted camera (a `camera_model` other
/// than `PINHOLE`, or non-zero distortion), which would mean the file is not what
/// `dslr/undistort.py` writes.
pub fn parse_undistorted_camera(text: &str) -> Result<CameraModel, Problem> {
    let header: TransformsHeader =
        serde_json::from_str(text).map_err(|e| Problem::Json(e.to_string()))?;
    if let Some(model) = &header.camera_model {
        if model != "PINHOLE" {
            return Err(Problem::invalid(
                "camera_model",
                format!(
                    "{model:?}; the undistorted images must use PINHOLE (run `dslr/undistort.py`)"
                ),
            ));
        }
    }
    for (name, k) in [
        ("k1", header.k1),
        ("k2", header.k2),
        ("k3", header.k3),
        ("k4", header.k4),
    ] {
        if let Some(k) = k {
            if k != 0.0 {
                return Err(Problem::invalid(
                    name,
                    format!("{k}; undistorted images have no distortion (run `dslr/undistort.py`)"),
                ));
            }
        }
    }
    let intrinsics = Intrinsics {
        fx: header.fl_x,
        fy: header.fl_y,
        cx: header.cx,
        cy: header.cy,
    };
    if !intrinsics.is_valid() {
        return Err(Problem::invalid(
            "pinhole intrinsics",
            format!(
                "fl_x {} fl_y {} cx {} cy {}",
                header.fl_x, header.fl_y, header.cx, header.cy
            ),
        ));
    }
    let (width, height) = (pixel_count(header.w, "w")?, pixel_count(header.h, "h")?);
    crate::io::check_image_size(width, height, "image size (w, h)")?;
    Ok(CameraModel {
        intrinsics,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pinhole_and_ignores_frames() {
        let text = r#"{"fl_x": 50, "fl_y": 52.5, "cx": 32, "cy": 24, "w": 64, "h": 48.0,
            "k1": 0, "camera_model": "PINHOLE",
            "frames": [{"file_path": "a", "transform_matrix": [[1,0,0,0]]}]}"#;
        let cam = parse_undistorted_camera(text).unwrap();
        assert_eq!((cam.width, cam.height), (64, 48));
        assert_eq!(
            cam.intrinsics,
            Intrinsics {
                fx: 50.0,
                fy: 52.5,
                cx: 32.0,
                cy: 24.0
            }
        );
    }

    #[test]
    fn rejects_distorted_or_broken_cameras() {
        let base = r#""fl_x": 50, "fl_y": 50, "cx": 32, "cy": 24"#;
        for text in [
            format!(r#"{{{base}, "w": 64, "h": 48, "camera_model": "OPENCV_FISHEYE"}}"#),
            format!(r#"{{{base}, "w": 64, "h": 48, "k2": 0.1}}"#),
            format!(r#"{{{base}, "w": 64.5, "h": 48}}"#),
            format!(r#"{{{base}, "w": 0, "h": 48}}"#),
            format!(r#"{{{base}, "w": 64}}"#),
            r#"{"fl_x": -1, "fl_y": 50, "cx": 32, "cy": 24, "w": 64, "h": 48}"#.to_string(),
            "[".to_string(),
        ] {
            assert!(parse_undistorted_camera(&text).is_err(), "{text}");
        }
    }
}
