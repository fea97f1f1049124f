//! `msmu build --depth-source estimated`: the hook through which a depth estimator (Depth-
//! Anything-V2, in msmu-train) fills the shards' depth column. msmu-data knows only this
//! trait, so a data user never needs libtorch; the QA, visibility and view selection always use
//! the mesh depth, whatever the column holds.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::dataset::depth_png::{encode_png_gray16, estimate_to_u16, DepthSource};

/// What fills the `depth` column (`msmu build --depth-source`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DepthChoice {
    /// Rendered from the mesh (metric ground truth).
    #[default]
    Mesh,
    /// Estimated from the colour image by `--depth-model`.
    Estimated,
}

/// The depth settings of a build, recorded in the manifest's config (and so checked by
/// `--resume`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DepthConfig {
    pub source: DepthChoice,
    /// [`DepthEstimator::identity`] of the estimator, with `estimated`.
    pub model: Option<String>,
}

/// A monocular depth estimator.
pub trait DepthEstimator: Send + Sync {
    /// What the estimator is, for the manifest: architecture, size, kind and a fingerprint of
    /// its weights, so that a resumed build with other weights is refused.
    fn identity(&self) -> String;

    /// [`DepthSource::EstimatedMetric`] or [`DepthSource::EstimatedRelative`].
    fn source(&self) -> DepthSource;

    /// The depth of `rgb` resampled to `width x height` (the depth camera: the colour
    /// camera's field of view at another resolution): metres for a metric estimator, disparity
    /// (larger = nearer, any scale) for a relative one, row-major.
    fn estimate(&self, rgb: &RgbImage, width: u32, height: u32) -> anyhow::Result<Vec<f32>>;
}

/// The depth PNG of an estimate, in the encoding of [`DepthEstimator::source`].
pub fn estimated_png(
    estimator: &dyn DepthEstimator,
    image_bytes: &[u8],
    width: u32,
    height: u32,
) -> anyhow::Result<Vec<u8>> {
    let rgb = image::load_from_memory(image_bytes)?.into_rgb8();
    let values = estimator.estimate(&rgb, width, height)?;
    anyhow::ensure!(
        values.len() == width as usize * height as usize,
        "the estimator returned {} values for {width}x{height}",
        values.len()
    );
    encode_png_gray16(&estimate_to_u16(&values, estimator.source()), width, height)
}
