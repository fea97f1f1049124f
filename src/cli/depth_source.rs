//! `--depth-source` / `--depth-model` of `msmu train` and `msmu predict`, and the depth
//! estimator of `msmu build --depth-source estimated` (all need the trainer build).

use std::path::PathBuf;
use std::sync::Arc;

use msmu_train::depth::{DepthAnythingEstimator, DepthInput, DepthMode};

/// Depth flags shared by `train` and `predict`.
#[derive(clap::Args, Debug, Clone)]
pub struct DepthSourceArgs {
    /// Where DPE's depth comes from: `shard` (the shards' depth column; rows without depth
    /// are estimated with --depth-model, or fail), `estimate` (--depth-model on every image),
    /// `none` (no DPE).
    #[arg(long, value_enum, default_value = "shard")]
    pub depth_source: DepthMode,
    /// Depth-Anything-V2 folder (transformers layout, or the original weights as
    /// safetensors) that estimates depth from the image.
    #[arg(long)]
    pub depth_model: Option<PathBuf>,
}

/// Loads `--depth-model` (on the device `MSMU_DEVICE` selects).
pub fn load_estimator(
    model: Option<&PathBuf>,
) -> anyhow::Result<Option<Arc<DepthAnythingEstimator>>> {
    let Some(dir) = model else {
        return Ok(None);
    };
    let device = msmu_train::device()?;
    let estimator = DepthAnythingEstimator::load(dir, device)?;
    tracing::info!(
        "depth model {}: {}",
        dir.display(),
        msmu_data::pipeline::DepthEstimator::identity(&estimator)
    );
    Ok(Some(Arc::new(estimator)))
}

impl DepthSourceArgs {
    pub fn input(&self) -> anyhow::Result<DepthInput> {
        if self.depth_source == DepthMode::None && self.depth_model.is_some() {
            anyhow::bail!("--depth-model was given with --depth-source none");
        }
        DepthInput::new(
            self.depth_source,
            load_estimator(self.depth_model.as_ref())?,
        )
    }
}
