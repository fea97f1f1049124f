//! What `msmu train --out DIR` leaves behind, and reading it back:
//!
//! - `adapter_model.safetensors` + `adapter_config.json`: the LoRA adapter in PEFT's format
//!   (`base_model.model.<module>.lora_A.weight`, `lora_B.weight`);
//! - `projector.safetensors`: the trained projector (`model.multi_modal_projector.*`);
//! - `optimizer.safetensors` + `trainer_state.json`: AdamW moments and the position in the
//!   data and schedule, for `--resume`;
//! - `msmu_train.json`: the run's settings (DPE sense/alignment included);
//! - with `--preset tiny` also the base model (`config.json`, `model.safetensors`,
//!   `tokenizer.json`), so that `--model DIR --adapter DIR` loads the folder again.
//!
//! Every file is written through msmu-data's atomic writer
//! ([`msmu_data::dataset::atomic`]: temporary name, fsync, rename, fsync of the folder), so a
//! killed run or a crash leaves the previous checkpoint intact.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use msmu_data::dataset::atomic::{write_atomic, write_atomic_with};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::{Device, Tensor};

use crate::depth::DepthRecord;
use crate::dpe::DpeConfig;
use crate::llava::Llava;
use crate::lora::LoraConfig;

pub const ADAPTER_FILE: &str = "adapter_model.safetensors";
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
pub const PROJECTOR_FILE: &str = "projector.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const TRAINER_STATE: &str = "trainer_state.json";
pub const RUN_FILE: &str = "msmu_train.json";

/// Where training stands (enough to continue identically).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps done.
    pub step: usize,
    /// Schedule length in optimizer steps.
    pub total_steps: usize,
    pub epoch: u64,
    /// Rows of `epoch` already consumed.
    pub rows_in_epoch: usize,
}

/// The settings a checkpoint was trained with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `"tiny"` or the `--model` folder.
    pub base_model: String,
    pub dpe: DpeConfig,
    /// The depth source and sense DPE was trained with (absent in records written before
    /// `--depth-source` existed: mesh depth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<DepthRecord>,
    pub lora_rank: i64,
    pub lora_alpha: f64,
    pub lora_dropout: f64,
    pub lora_targets: Vec<String>,
    pub seed: u64,
}

impl RunRecord {
    pub fn lora(&self) -> LoraConfig {
        LoraConfig {
            rank: self.lora_rank,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            target_modules: self.lora_targets.clone(),
        }
    }
}

/// Writes `value` as pretty JSON (and a final newline), atomically and durably.
pub fn write_json(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    write_atomic(
        path,
        (serde_json::to_string_pretty(value)? + "\n").as_bytes(),
    )
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> anyhow::Result<()> {
    let cpu: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, v)| (k.clone(), v.detach().to_device(Device::Cpu).contiguous()))
        .collect();
    write_atomic_with(path, |tmp| {
        Tensor::write_safetensors(&cpu, tmp).with_context(|| format!("writing {}", tmp.display()))
    })
}

/// PEFT name of an adapter tensor: `base_model.model.` + the in-memory name.
pub fn peft_name(name: &str) -> String {
    format!("base_model.model.{name}")
}

/// Writes the adapter, its PEFT config and the projector.
pub fn save_adapter(model: &Llava, dir: &Path, record: &RunRecord) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lora = model.lora.as_ref().context("the model has no adapter")?;
    let tensors: Vec<(String, Tensor)> = model
        .lora_params()
        .into_iter()
        .map(|(k, v)| (peft_name(&k), v))
        .collect();
    write_tensors(&dir.join(ADAPTER_FILE), &tensors)?;
    let targets = lora.target_modules.join("|");
    let config = json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": record.base_model,
        "r": lora.rank,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        // A regex (PEFT full-matches strings): only the language model's linears, not the
        // vision tower's q/k/v projections that a plain name list would also catch.
        "target_modules": format!(r".*language_model.*\.({targets})"),
        "bias": "none",
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "modules_to_save": null,
    });
    write_json(&dir.join(ADAPTER_CONFIG), &config)?;
    write_tensors(&dir.join(PROJECTOR_FILE), &model.projector_params())?;
    write_json(&dir.join(RUN_FILE), record)
}

/// Reads the run record of an adapter folder, if any.
pub fn read_record(dir: &Path) -> anyhow::Result<Option<RunRecord>> {
    let path = dir.join(RUN_FILE);
    if path.exists() {
        read_json(&path).map(Some)
    } else {
        Ok(None)
    }
}

/// The LoRA settings of an adapter folder (from `adapter_config.json`).
pub fn read_lora_config(dir: &Path) -> anyhow::Result<LoraConfig> {
    let v: serde_json::Value = read_json(&dir.join(ADAPTER_CONFIG))?;
    let rank = v["r"].as_i64().context("adapter_config.json: no `r`")?;
    let targets = match &v["target_modules"] {
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::String(s) => {
            let inner = s
                .rsplit_once("\\.(")
                .map(|(_, r)| r.trim_end_matches(')'))
                .unwrap_or(s);
            inner.split('|').map(str::to_string).collect()
        }
        _ => bail!("adapter_config.json: no `target_modules`"),
    };
    Ok(LoraConfig {
        rank,
        alpha: v["lora_alpha"].as_f64().unwrap_or(rank as f64),
        dropout: v["lora_dropout"].as_f64().unwrap_or(0.0),
        target_modules: targets,
    })
}

/// Loads adapter and projector weights into a model that already has adapters attached.
pub fn load_adapter(model: &mut Llava, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(ADAPTER_FILE);
    let tensors =
        Tensor::read_safetensors(&path).with_context(|| format!("reading {}", path.display()))?;
    let n_expected = model.lora_params().len();
    let renamed: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(k, v)| {
            let k = k
                .strip_prefix("base_model.model.")
                .unwrap_or(&k)
                .replace(".default.", ".");
            (k, v)
        })
        .collect();
    if renamed.len() != n_expected {
        bail!(
            "{}: {} adapter tensors, the model has {n_expected}",
            path.display(),
            renamed.len()
        );
    }
    model.load_tensors(renamed, true)?;
    let projector = dir.join(PROJECTOR_FILE);
    if projector.exists() {
        let tensors = Tensor::read_safetensors(&projector)
            .with_context(|| format!("reading {}", projector.display()))?;
        model.load_tensors(tensors, true)?;
    }
    Ok(())
}

/// Saves AdamW moments by parameter name.
pub fn save_optimizer(
    dir: &Path,
    moments: &BTreeMap<String, (Tensor, Tensor)>,
) -> anyhow::Result<()> {
    let mut tensors = Vec::new();
    for (name, (m, v)) in moments {
        tensors.push((format!("{name}.exp_avg"), m.shallow_clone()));
        tensors.push((format!("{name}.exp_avg_sq"), v.shallow_clone()));
    }
    write_tensors(&dir.join(OPTIMIZER_FILE), &tensors)
}

pub fn load_optimizer(
    dir: &Path,
    device: Device,
) -> anyhow::Result<BTreeMap<String, (Tensor, Tensor)>> {
    let path = dir.join(OPTIMIZER_FILE);
    let mut parts: BTreeMap<String, (Option<Tensor>, Option<Tensor>)> = BTreeMap::new();
    for (k, v) in
        Tensor::read_safetensors(&path).with_context(|| format!("reading {}", path.display()))?
    {
        let v = v.to_device(device);
        if let Some(name) = k.strip_suffix(".exp_avg_sq") {
            parts.entry(name.to_string()).or_default().1 = Some(v);
        } else if let Some(name) = k.strip_suffix(".exp_avg") {
            parts.entry(name.to_string()).or_default().0 = Some(v);
        }
    }
    parts
        .into_iter()
        .map(|(k, (m, v))| match (m, v) {
            (Some(m), Some(v)) => Ok((k, (m, v))),
            _ => bail!("{}: incomplete moments for {k}", path.display()),
        })
        .collect()
}
