//! COLMAP text model parsing: `cameras.txt` and `images.txt` of a ScanNet++ DSLR capture.
//!
//! Pure functions over the file text; the caller attaches scene and file to the [`Problem`].
//! Every error names the 1-based line it was found on.
//!
//! `images.txt` stores, per image, `IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME` and then a
//! line of 2D observations that may be empty (or, for the last image, absent). The quaternion
//! and translation are **camera-from-world** (COLMAP convention, OpenCV camera axes); for
//! ScanNet++ the world is already the aligned mesh frame (FORMATS.md 2.3).

use std::collections::BTreeMap;

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};

use crate::error::Problem;
use crate::scene::Pose;

/// One camera of `cameras.txt`.
#[derive(Clone, Debug, PartialEq)]
pub struct ColmapCamera {
    pub model: String,
    pub width: u32,
    pub height: u32,
    pub params: Vec<f64>,
}

/// One image of `images.txt`.
#[derive(Clone, Debug, PartialEq)]
pub struct ColmapImage {
    pub image_id: u32,
    pub camera_from_world: Pose,
    pub camera_id: u32,
    pub name: String,
    /// 1-based line of the image's header line, for error messages.
    pub line: usize,
}

/// Parameter count of each COLMAP camera model (`colmap/src/colmap/sensor/models.h`).
fn model_param_count(model: &str) -> Option<usize> {
    Some(match model {
        "SIMPLE_PINHOLE" => 3,
        "PINHOLE" | "SIMPLE_RADIAL" | "SIMPLE_RADIAL_FISHEYE" => 4,
        "RADIAL" | "RADIAL_FISHEYE" | "FOV" => 5,
        "OPENCV" | "OPENCV_FISHEYE" => 8,
        "FULL_OPENCV" | "THIN_PRISM_FISHEYE" => 12,
        _ => return None,
    })
}

fn bad_line(line: usize, detail: impl Into<String>) -> Problem {
    Problem::invalid(format!("line {line}"), detail)
}

fn parse_field<T: std::str::FromStr>(text: &str, what: &str, line: usize) -> Result<T, Problem> {
    text.parse::<T>()
        .map_err(|_| bad_line(line, format!("{what} {text:?} is not a valid number")))
}

fn parse_finite(text: &str, what: &str, line: usize) -> Result<f64, Problem> {
    let value: f64 = parse_field(text, what, line)?;
    if !value.is_finite() {
        return Err(bad_line(line, format!("{what} is {value}")));
    }
    Ok(value)
}

/// Lines that carry data: not comments, not blank. Yields `(1-based line number, text)`.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Parses `cameras.txt`: `CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]`, one camera per line. The
/// model must be a known COLMAP model with the right number of finite parameters.
pub fn parse_cameras(text: &str) -> Result<BTreeMap<u32, ColmapCamera>, Problem> {
    let mut cameras = BTreeMap::new();
    for (line, l) in data_lines(text) {
        let fields: Vec<&str> = l.split_whitespace().collect();
        let [id, model, width, height, params @ ..] = fields.as_slice() else {
            return Err(bad_line(
                line,
                "expected `CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]`",
            ));
        };
        let camera_id: u32 = parse_field(id, "CAMERA_ID", line)?;
        let expected = model_param_count(model).ok_or_else(|| {
            Problem::unsupported(
                format!("camera model on line {line}"),
                format!("{model:?} is not a COLMAP camera model"),
            )
        })?;
        if params.len() != expected {
            return Err(bad_line(
                line,
                format!(
                    "model {model} takes {expected} parameters, found {}",
                    params.len()
                ),
            ));
        }
        let width: u32 = parse_field(width, "WIDTH", line)?;
        let height: u32 = parse_field(height, "HEIGHT", line)?;
        if let Err(problem) = crate::io::check_image_size(width, height, "image size") {
            return Err(bad_line(line, problem.to_string()));
        }
        let params = params
            .iter()
            .map(|p| parse_finite(p, "camera parameter", line))
            .collect::<Result<Vec<f64>, Problem>>()?;
        let camera = ColmapCamera {
            model: model.to_string(),
            width,
            height,
            params,
        };
        if cameras.insert(camera_id, camera).is_some() {
            return Err(Problem::DuplicateId {
                what: "COLMAP camera id".into(),
                id: camera_id.to_string(),
            });
        }
    }
    Ok(cameras)
}

/// A unit quaternion must be written with a norm of 1 up to text rounding; anything further off
/// (zero, garbage) means the line is not what we think it is.
const QUATERNION_NORM_TOLERANCE: f64 = 1e-3;

/// Parses `images.txt`. Like COLMAP's own reader, a data line is an image header and the line
/// right after it is its observations, whatever it holds (possibly empty, possibly missing at
/// the end of the file).
pub fn parse_images(text: &str) -> Result<Vec<ColmapImage>, Problem> {
    let mut images = Vec::new();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    while let Some((line, l)) = lines.next() {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        images.push(parse_image_line(line, l)?);
        // The observations line: skipped, its content is not used.
        let _points = lines.next();
    }
    Ok(images)
}

fn parse_image_line(line: usize, l: &str) -> Result<ColmapImage, Problem> {
    // NAME is the rest of the line after nine fields (COLMAP names may not contain spaces, but
    // a file written by other tools might; keep them rather than fail).
    let mut rest = l;
    let mut next = |what: &str| {
        rest = rest.trim_start();
        let end = if what == "NAME" {
            rest.len()
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        let (field, tail) = rest.split_at(end);
        rest = tail;
        let field = field.trim_end();
        if field.is_empty() {
            return Err(bad_line(
                line,
                format!("missing {what}; expected `IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`"),
            ));
        }
        Ok(field)
    };
    let image_id: u32 = parse_field(next("IMAGE_ID")?, "IMAGE_ID", line)?;
    let mut q = [0.0; 4];
    for (slot, what) in q.iter_mut().zip(["QW", "QX", "QY", "QZ"]) {
        *slot = parse_finite(next(what)?, what, line)?;
    }
    let mut t = [0.0; 3];
    for (slot, what) in t.iter_mut().zip(["TX", "TY", "TZ"]) {
        *slot = parse_finite(next(what)?, what, line)?;
    }
    let camera_id: u32 = parse_field(next("CAMERA_ID")?, "CAMERA_ID", line)?;
    let name = next("NAME")?.to_string();

    let quaternion = Quaternion::new(q[0], q[1], q[2], q[3]);
    let norm = quaternion.norm();
    if (norm - 1.0).abs() > QUATERNION_NORM_TOLERANCE {
        return Err(bad_line(
            line,
            format!(
                "quaternion (qw qx qy qz) = ({} {} {} {}) has norm {norm}, expected a unit quaternion",
                q[0], q[1], q[2], q[3]
            ),
        ));
    }
    let camera_from_world = Isometry3::from_parts(
        Translation3::new(t[0], t[1], t[2]),
        UnitQuaternion::from_quaternion(quaternion),
    );
    Ok(ColmapImage {
        image_id,
        camera_from_world,
        camera_id,
        name,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Point3, Vector3};

    #[test]
    fn images_with_empty_and_missing_points_lines() {
        let text = "# comment\n# another\n\
                    1 1 0 0 0 0.5 0 0 1 a.JPG\n1.0 2.0 -1\n\
                    2 0 0 0 1 0 0 1 1 b.JPG\n\n\
                    3 0.7071067811865476 0.7071067811865476 0 0 0 0 0 2 c d.JPG\n";
        let images = parse_images(text).unwrap();
        let names: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a.JPG", "b.JPG", "c d.JPG"]);
        assert_eq!(images.iter().map(|i| i.line).collect::<Vec<_>>(), [3, 5, 7]);
        assert_eq!(images[2].camera_id, 2);
        // Camera from world: a world point at the origin sits at t in the camera.
        let p = images[0].camera_from_world * Point3::origin();
        assert_eq!(p.coords, Vector3::new(0.5, 0.0, 0.0));
        // 180 degrees about z flips x and y.
        let p = images[1].camera_from_world * Point3::new(1.0, 2.0, 3.0);
        assert!((p.coords - Vector3::new(-1.0, -2.0, 4.0)).norm() < 1e-12);
    }

    #[test]
    fn bad_image_lines_name_the_line() {
        for (text, needle) in [
            ("\n1 0 0 0 0 0 0 0 1 a.JPG\n", "line 2"),
            ("1 1 0 0 0 0 0 0 1\n", "missing NAME"),
            ("1 1 x 0 0 0 0 0 1 a.JPG\n", "QX \"x\""),
            ("1 1 0 0 0 0 0 nan 1 a.JPG\n", "TZ is NaN"),
            ("1 2 0 0 0 0 0 0 1 a.JPG\n", "norm 2"),
        ] {
            let err = parse_images(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} lacks {needle:?}");
        }
    }

    #[test]
    fn cameras_are_validated() {
        let cams =
            parse_cameras("# c\n1 OPENCV_FISHEYE 10 8 5 5 5 4 0 0 0 0\n2 PINHOLE 4 3 1 1 2 1.5\n")
                .unwrap();
        assert_eq!(cams[&1].model, "OPENCV_FISHEYE");
        assert_eq!(cams[&2].params, vec![1.0, 1.0, 2.0, 1.5]);
        assert!(matches!(
            parse_cameras("1 WEIRD 4 3 1\n"),
            Err(Problem::Unsupported { .. })
        ));
        assert!(parse_cameras("1 PINHOLE 4 3 1 1 2\n")
            .unwrap_err()
            .to_string()
            .contains("takes 4"));
        assert!(parse_cameras("1 PINHOLE 0 3 1 1 2 1\n").is_err());
        assert!(parse_cameras("1 PINHOLE 4 3 1 inf 2 1\n").is_err());
        assert!(matches!(
            parse_cameras("1 PINHOLE 4 3 1 1 2 1\n1 PINHOLE 4 3 1 1 2 1\n"),
            Err(Problem::DuplicateId { .. })
        ));
    }
}
