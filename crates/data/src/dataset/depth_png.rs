//! The one depth codec of msmu: metric depth <-> 16-bit grayscale PNG in millimetres, and
//! estimated relative depth (disparity) <-> 16-bit PNG; [`DepthSource`] says which a row holds.
//!
//! Every depth image msmu writes (the shards' `depth` column, `msmu render`) and every one the
//! trainer reads goes through here. A sample is `round(depth_m * MM_PER_M)`; `0` means "no
//! value" (no surface, or a depth that does not fit in 16 bits, as a sensor reports no
//! reading). The sensor readers use [`depth_to_u16`] with their own shift (ScanNet's
//! `depthShift`), which is why the shift is a parameter there.

use anyhow::Context;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

/// Millimetres per metre: the scale of every 16-bit depth PNG msmu writes or reads.
pub const MM_PER_M: f64 = 1000.0;

/// Converts metric depth to the u16 encoding `round(d * shift)`. `0` stays `0` (no surface);
/// values that do not fit become `0` too, as a sensor reports no reading.
pub fn depth_to_u16(depth_m: &[f32], shift: f64) -> Vec<u16> {
    depth_m
        .iter()
        .map(|&d| {
            let raw = (d as f64 * shift).round();
            if d > 0.0 && raw >= 1.0 && raw <= u16::MAX as f64 {
                raw as u16
            } else {
                0
            }
        })
        .collect()
}

/// Metric depth as millimetres (`depth_to_u16` with [`MM_PER_M`]).
pub fn metres_to_mm(depth_m: &[f32]) -> Vec<u16> {
    depth_to_u16(depth_m, MM_PER_M)
}

/// Encodes a 16-bit grayscale PNG (depth in millimetres, or instance ids).
pub fn encode_png_gray16(samples: &[u16], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        samples.len() == width as usize * height as usize,
        "depth image has {} samples, expected {width}x{height}",
        samples.len()
    );
    // The `image` encoder takes 16-bit samples in native byte order and writes PNG's
    // big-endian itself.
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_ne_bytes()).collect();
    let mut out = Vec::new();
    PngEncoder::new(&mut out).write_image(&bytes, width, height, ExtendedColorType::L16)?;
    Ok(out)
}

/// Where the depth column of a row comes from, and so what its 16-bit samples mean (column
/// `depth_source`; shards without that column hold [`DepthSource::Mesh`]).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DepthSource {
    /// Rendered from the mesh: metric ground truth, millimetres.
    #[default]
    Mesh,
    /// A metric depth estimator (Depth-Anything-V2 metric): millimetres.
    EstimatedMetric,
    /// A relative depth estimator (Depth-Anything-V2 relative): the disparity (larger =
    /// nearer) of the image mapped linearly onto `1..=65535` ([`disparity_to_u16`]); `0` = no
    /// value. Only ratios of differences are meaningful, which is all DPE's per-image min-max
    /// normalisation keeps.
    EstimatedRelative,
}

impl DepthSource {
    pub const ALL: [DepthSource; 3] = [
        DepthSource::Mesh,
        DepthSource::EstimatedMetric,
        DepthSource::EstimatedRelative,
    ];

    /// The column value: `mesh`, `estimated-metric`, `estimated-relative`.
    pub fn as_str(self) -> &'static str {
        match self {
            DepthSource::Mesh => "mesh",
            DepthSource::EstimatedMetric => "estimated-metric",
            DepthSource::EstimatedRelative => "estimated-relative",
        }
    }

    pub fn parse(s: &str) -> Option<DepthSource> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Measured from the scene geometry (not estimated from the image).
    pub fn is_ground_truth(self) -> bool {
        self == DepthSource::Mesh
    }

    /// The samples grow with distance (millimetres) rather than with nearness (disparity).
    pub fn stores_distance(self) -> bool {
        self != DepthSource::EstimatedRelative
    }
}

impl std::fmt::Display for DepthSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A relative depth estimate (disparity, any positive scale) as 16-bit samples: the image's
/// minimum maps to 1, its maximum to 65535, linearly (`1 + round((v - min) / (max - min) *
/// 65534)`), so that 0 keeps meaning "no value". Non-finite values become 0; a constant map
/// becomes all 1.
pub fn disparity_to_u16(disparity: &[f32]) -> Vec<u16> {
    let finite = disparity.iter().filter(|v| v.is_finite());
    let min = finite
        .clone()
        .fold(f64::INFINITY, |a, &b| a.min(f64::from(b)));
    let max = finite.fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
    let span = max - min;
    disparity
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                0
            } else if span > 0.0 {
                1 + ((f64::from(v) - min) / span * 65534.0).round() as u16
            } else {
                1
            }
        })
        .collect()
}

/// The 16-bit samples of an estimator's output: metric estimators give metres
/// ([`metres_to_mm`]), relative ones disparity ([`disparity_to_u16`]).
pub fn estimate_to_u16(values: &[f32], source: DepthSource) -> Vec<u16> {
    match source {
        DepthSource::EstimatedRelative => disparity_to_u16(values),
        DepthSource::Mesh | DepthSource::EstimatedMetric => metres_to_mm(values),
    }
}

/// A decoded depth PNG: row-major millimetres, 0 = invalid.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthMm {
    pub width: usize,
    pub height: usize,
    pub depth_mm: Vec<u16>,
}

impl DepthMm {
    /// Decodes a 16-bit grayscale PNG. Any other pixel format is an error: an 8-bit image
    /// widened to 16 bits would silently read as depth x 257.
    pub fn decode_png(bytes: &[u8]) -> anyhow::Result<Self> {
        let img = image::load_from_memory(bytes).context("decoding the depth PNG")?;
        anyhow::ensure!(
            img.color() == image::ColorType::L16,
            "depth PNG is {:?}, expected 16-bit grayscale (millimetres)",
            img.color()
        );
        let img = img.into_luma16();
        Ok(Self {
            width: img.width() as usize,
            height: img.height() as usize,
            depth_mm: img.into_raw(),
        })
    }

    /// Depth in metres (0 = invalid).
    pub fn metres(&self) -> Vec<f32> {
        self.depth_mm
            .iter()
            .map(|&mm| (mm as f64 / MM_PER_M) as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disparity_spans_one_to_the_top_and_keeps_zero_for_no_value() {
        assert_eq!(
            disparity_to_u16(&[0.0, 2.0, 1.0, f32::NAN, 0.5]),
            vec![1, 65535, 32768, 0, 16385]
        );
        assert_eq!(disparity_to_u16(&[3.0, 3.0]), vec![1, 1]);
        assert_eq!(disparity_to_u16(&[]), Vec::<u16>::new());
    }

    #[test]
    fn depth_source_names_round_trip() {
        for s in DepthSource::ALL {
            assert_eq!(DepthSource::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(DepthSource::parse("gt"), None);
        assert!(DepthSource::Mesh.is_ground_truth() && DepthSource::Mesh.stores_distance());
        assert!(!DepthSource::EstimatedRelative.stores_distance());
    }

    #[test]
    fn depth_to_u16_rounds_and_drops_what_does_not_fit() {
        assert_eq!(
            depth_to_u16(&[0.0, 1.2344, 1.2346, 70.0, -1.0], MM_PER_M),
            vec![0, 1234, 1235, 0, 0]
        );
    }

    #[test]
    fn png_roundtrip_keeps_millimetres() {
        let samples = [0u16, 1, 1000, 65535, 4321, 7];
        let png = encode_png_gray16(&samples, 3, 2).unwrap();
        let back = DepthMm::decode_png(&png).unwrap();
        assert_eq!((back.width, back.height), (3, 2));
        assert_eq!(back.depth_mm, samples);
        assert_eq!(back.metres()[2], 1.0);
    }

    #[test]
    fn eight_bit_png_is_refused() {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(&[1, 2, 3, 4], 2, 2, ExtendedColorType::L8)
            .unwrap();
        let err = DepthMm::decode_png(&out).unwrap_err();
        assert!(format!("{err:#}").contains("16-bit"), "{err:#}");
    }
}
