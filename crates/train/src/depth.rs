//! Where a run's depth comes from (`--depth-source shard|estimate|none`, `--depth-model DIR`):
//! the depth map behind each row's DPE, and the record of it that a checkpoint keeps so that
//! `msmu predict` can refuse depth of another kind than the model was trained with.
//!
//! Never a silent constant: with DPE on, a row without depth is estimated when a model is
//! given, and is otherwise an error naming the row.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use image::RgbImage;
use msmu_data::dataset::depth_png::{estimate_to_u16, DepthMm, DepthSource};
use msmu_data::dataset::ModelRow;
use msmu_data::pipeline::DepthEstimator;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{Device, Kind};

use crate::depth_anything::{DepthAnything, DepthKind};
use crate::dpe::DepthSense;

/// `--depth-source` of `msmu train` / `msmu predict`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DepthMode {
    /// The shards' depth column (rows without depth are estimated with `--depth-model`).
    #[default]
    Shard,
    /// Depth estimated from every row's image by `--depth-model`, whatever the shards hold.
    Estimate,
    /// No depth: the model runs without DPE.
    None,
}

/// A Depth-Anything-V2 model as the depth estimator of a build, a training run or a
/// prediction (one forward pass at a time).
pub struct DepthAnythingEstimator {
    model: Mutex<DepthAnything>,
    identity: String,
    source: DepthSource,
}

impl std::fmt::Debug for DepthAnythingEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepthAnythingEstimator")
            .field("identity", &self.identity)
            .finish()
    }
}

impl DepthAnythingEstimator {
    /// Loads a Depth-Anything-V2 folder (either layout) on `device`.
    pub fn load(path: &Path, device: Device) -> anyhow::Result<Self> {
        let model = DepthAnything::load(path, device)?;
        Self::new(model)
    }

    pub fn new(model: DepthAnything) -> anyhow::Result<Self> {
        let source = match model.kind() {
            DepthKind::Metric => DepthSource::EstimatedMetric,
            DepthKind::Relative => DepthSource::EstimatedRelative,
        };
        let identity = format!(
            "Depth-Anything-V2 {} (hidden {}, {} layers) weights sha256:{}",
            model.kind().as_str(),
            model.cfg.hidden_size,
            model.cfg.num_hidden_layers,
            weights_fingerprint(&model)?
        );
        Ok(Self {
            model: Mutex::new(model),
            identity,
            source,
        })
    }

    /// The estimate of an encoded image at its own size, as the 16-bit map a shard would hold
    /// (the same encoding as `msmu build --depth-source estimated`).
    pub fn depth_map(&self, image_bytes: &[u8]) -> anyhow::Result<DepthMm> {
        let rgb = image::load_from_memory(image_bytes)
            .context("decoding the image")?
            .into_rgb8();
        let (w, h) = rgb.dimensions();
        let values = self.estimate(&rgb, w, h)?;
        Ok(DepthMm {
            width: w as usize,
            height: h as usize,
            depth_mm: estimate_to_u16(&values, self.source),
        })
    }
}

/// The first 16 hex digits of SHA-256 over the parameters (sorted by name, name and fp32
/// little-endian values): the same weights give the same fingerprint in either layout.
fn weights_fingerprint(model: &DepthAnything) -> anyhow::Result<String> {
    let mut vars = model.vs.variables().into_iter().collect::<Vec<_>>();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hash = Sha256::new();
    for (name, t) in vars {
        hash.update(name.as_bytes());
        let values =
            Vec::<f32>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))
                .with_context(|| format!("reading the depth model's tensor {name}"))?;
        for v in values {
            hash.update(v.to_le_bytes());
        }
    }
    Ok(hash
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect())
}

impl DepthEstimator for DepthAnythingEstimator {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn source(&self) -> DepthSource {
        self.source
    }

    fn estimate(&self, rgb: &RgbImage, width: u32, height: u32) -> anyhow::Result<Vec<f32>> {
        let model = self
            .model
            .lock()
            .map_err(|_| anyhow::anyhow!("the depth model panicked in another thread"))?;
        let pixels = model.preprocessing.pixels(rgb, model.device());
        let out = model.forward(&pixels);
        let resized = tch::no_grad(|| {
            model
                .preprocessing
                .resize_output(&out.get(0), height, width)
        });
        Ok(Vec::<f32>::try_from(
            resized
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .flatten(0, -1),
        )?)
    }
}

/// How a run obtains the depth of its rows.
#[derive(Clone, Debug)]
pub struct DepthInput {
    pub mode: DepthMode,
    pub estimator: Option<Arc<DepthAnythingEstimator>>,
}

impl DepthInput {
    /// Checks the combination: `estimate` needs a model; `none` takes none.
    pub fn new(
        mode: DepthMode,
        estimator: Option<Arc<DepthAnythingEstimator>>,
    ) -> anyhow::Result<Self> {
        match (mode, &estimator) {
            (DepthMode::Estimate, None) => bail!(
                "--depth-source estimate needs --depth-model DIR (a Depth-Anything-V2 folder: \
                 transformers layout or the original weights as safetensors)"
            ),
            (DepthMode::None, Some(_)) => {
                bail!("--depth-model was given with --depth-source none")
            }
            _ => {}
        }
        Ok(Self { mode, estimator })
    }

    /// The depth map of a row and what it holds. `Ok(None)` only in mode `none`.
    pub fn depth_of(&self, row: &ModelRow) -> anyhow::Result<Option<(DepthMm, DepthSource)>> {
        let estimate = |e: &DepthAnythingEstimator| -> anyhow::Result<_> {
            let map = e
                .depth_map(&row.image.bytes)
                .with_context(|| format!("row {}: estimating depth", row.id))?;
            Ok(Some((map, e.source)))
        };
        match (self.mode, &row.depth, &self.estimator) {
            (DepthMode::None, _, _) => Ok(None),
            (DepthMode::Estimate, _, Some(e)) | (DepthMode::Shard, None, Some(e)) => estimate(e),
            (DepthMode::Estimate, _, None) => bail!("--depth-source estimate needs --depth-model"),
            (DepthMode::Shard, Some(blob), _) => {
                let map = DepthMm::decode_png(&blob.bytes)
                    .with_context(|| format!("row {}: decoding depth", row.id))?;
                Ok(Some((map, row.depth_source)))
            }
            (DepthMode::Shard, None, None) => bail!(
                "row {} has no depth and DPE is on: give --depth-model DIR to estimate it, \
                 --depth-source none (or --no-dpe) to train/predict without depth, or build \
                 the shards with msmu build (mesh depth)",
                row.id
            ),
        }
    }

    /// The depth source the rows of this run will have, when it can be known before reading
    /// them (estimated every time; none).
    pub fn fixed_source(&self) -> Option<DepthSource> {
        match self.mode {
            DepthMode::Estimate => self.estimator.as_ref().map(|e| e.source),
            DepthMode::Shard | DepthMode::None => None,
        }
    }
}

/// The default DPE sense for a depth source: metric depth as measured (larger = farther) for
/// millimetre sources, disparity (larger = nearer, the official SD-VLM estimated path) for a
/// relative estimator.
pub fn default_sense(source: DepthSource) -> DepthSense {
    if source.stores_distance() {
        DepthSense::Metric
    } else {
        DepthSense::Inverse
    }
}

/// The `sense` argument of [`crate::dpe::pool`] that turns samples of `source` into the sense
/// `wanted`: as stored (`Metric`) when they already point that way, else reciprocal
/// (`Inverse`).
pub fn pool_sense(source: DepthSource, wanted: DepthSense) -> DepthSense {
    if default_sense(source) == wanted {
        DepthSense::Metric
    } else {
        DepthSense::Inverse
    }
}

/// What a checkpoint records of its depth: the source of the rows it was trained on and the
/// sense DPE encoded (`None` source: trained without DPE).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthRecord {
    pub source: Option<DepthSource>,
    pub sense: Option<DepthSense>,
}

impl DepthRecord {
    pub fn describe(&self) -> String {
        match (self.source, self.sense) {
            (Some(src), Some(sense)) => format!("{src} depth, {sense:?} sense"),
            (Some(src), None) => format!("{src} depth"),
            (None, _) => "no depth (DPE off)".to_string(),
        }
    }
}

/// Refuses depth of another source or sense than the checkpoint's, unless `allow`.
pub fn check_depth_match(
    trained: &DepthRecord,
    now: &DepthRecord,
    allow: bool,
) -> anyhow::Result<()> {
    if trained == now {
        return Ok(());
    }
    if now.source.is_none() {
        // DPE switched off on purpose (--no-dpe, --depth-source none): no depth to mismatch.
        tracing::info!(
            "the adapter was trained with {}; predicting without DPE",
            trained.describe()
        );
        return Ok(());
    }
    let msg = format!(
        "the adapter was trained with {} but this prediction would use {}: DPE values of \
         another depth source or sense mean something else to the model (metric depth grows \
         with distance, relative disparity with nearness; mesh and estimated maps differ in \
         detail). Use the same --depth-source/--depth-model/--depth-sense as in training, or \
         pass --allow-depth-mismatch to run anyway",
        trained.describe(),
        now.describe()
    );
    if allow {
        tracing::warn!("{msg} (allowed by --allow-depth-mismatch)");
        Ok(())
    } else {
        bail!(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_sense_flips_only_when_the_stored_sense_differs() {
        use DepthSense::{Inverse, Metric};
        assert_eq!(pool_sense(DepthSource::Mesh, Metric), Metric);
        assert_eq!(pool_sense(DepthSource::Mesh, Inverse), Inverse);
        assert_eq!(pool_sense(DepthSource::EstimatedRelative, Inverse), Metric);
        assert_eq!(pool_sense(DepthSource::EstimatedRelative, Metric), Inverse);
        assert_eq!(default_sense(DepthSource::EstimatedMetric), Metric);
    }

    #[test]
    fn a_row_without_depth_fails_naming_it_unless_a_model_is_given() {
        let input = DepthInput::new(DepthMode::Shard, None).unwrap();
        let row = ModelRow {
            id: "scene0_12".into(),
            ..ModelRow::default()
        };
        let err = input.depth_of(&row).unwrap_err().to_string();
        assert!(
            err.contains("scene0_12") && err.contains("--depth-model"),
            "{err}"
        );
        assert!(DepthInput::new(DepthMode::Estimate, None).is_err());
        let none = DepthInput::new(DepthMode::None, None).unwrap();
        assert!(none.depth_of(&row).unwrap().is_none());
    }

    #[test]
    fn depth_mismatch_is_refused_unless_allowed() {
        let mesh = DepthRecord {
            source: Some(DepthSource::Mesh),
            sense: Some(DepthSense::Metric),
        };
        let rel = DepthRecord {
            source: Some(DepthSource::EstimatedRelative),
            sense: Some(DepthSense::Inverse),
        };
        assert!(check_depth_match(&mesh, &mesh, false).is_ok());
        let err = check_depth_match(&mesh, &rel, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mesh depth") && err.contains("estimated-relative"),
            "{err}"
        );
        assert!(err.contains("--allow-depth-mismatch"));
        assert!(check_depth_match(&mesh, &rel, true).is_ok());
    }
}
