//! The trainer (cargo feature `train`, the only code that uses libtorch through `tch`):
//! a LLaVA-1.5 model (CLIP ViT vision tower, `mlp2x_gelu` projector, LLaMA decoder) whose
//! image tokens carry SD-VLM's depth positional encoding, LoRA fine-tuning on msmu shards,
//! checkpoints that PEFT and transformers read, and greedy/sampled prediction for `msmu eval`.
//!
//! Code map: [`config`] (config.json), [`clip`], [`llama`], [`llava`] (one model per file,
//! variable names = checkpoint names), [`dpe`] (depth positional encoding), [`lora`],
//! [`preprocess`] (LLaVA/CLIP image pipeline), [`tokenize`] (Vicuna v1 template),
//! [`data`] (epoch order of the shard rows, read by `msmu_data::dataset::reader`), [`batch`]
//! (rows to padded batches), [`optim`] (AdamW, clipping), [`schedule`] (cosine with warmup),
//! [`trainer`] (the loop), [`checkpoint`], [`predict`]; [`minilm`] (the sentence-embedding
//! model of `msmu eval --name-model`, behind msmu-eval's `NameEmbedder` hook).

/// The libtorch bindings this crate is built on, for the binary, tests and examples: the trainer
/// crate is the only one that names tch in its manifest.
pub use tch;

pub mod batch;
pub mod checkpoint;
pub mod clip;
pub mod config;
pub mod data;
pub mod depth;
pub mod depth_anything;
pub mod dpe;
pub mod llama;
pub mod llava;
pub mod lora;
pub mod minilm;
pub mod optim;
pub mod precision;
pub mod predict;
pub mod preprocess;
pub mod schedule;
pub mod tokenize;
pub mod trainer;

use std::path::{Path, PathBuf};

use anyhow::Context;
use msmu_data::dataset::reader;
use tch::Device;

use crate::config::LlavaConfig;
use crate::llava::Llava;
use crate::tokenize::{train_tiny_tokenizer, TextTokenizer, TINY_SPECIALS};

/// Where the base model comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// `--preset tiny|small`: random weights, tokenizer trained on the shards' text.
    Preset(config::Preset),
    /// A local Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json).
    Dir(PathBuf),
}

/// Environment variable choosing the device of `msmu train` / `msmu predict` (see [`device`]).
pub const DEVICE_ENV: &str = "MSMU_DEVICE";

/// Environment variable that, set to `0`, makes `--precision auto` train in fp32 on CUDA too
/// (see [`precision::Precision::resolve`]).
pub const AUTOCAST_ENV: &str = "MSMU_AUTOCAST";

/// The device to train and predict on, from `MSMU_DEVICE`: `auto` (the default, also when
/// unset or empty: the first CUDA device when libtorch sees one, else the CPU), `cpu`, `cuda`
/// (= `cuda:0`) or `cuda:N`. Asking for CUDA when libtorch has none (no GPU, or a CPU-only
/// libtorch) is an error, not a silent fallback.
pub fn device() -> anyhow::Result<Device> {
    let spec = std::env::var(DEVICE_ENV).unwrap_or_default();
    let n_cuda = if tch::Cuda::is_available() {
        tch::Cuda::device_count()
    } else {
        0
    };
    parse_device(&spec, n_cuda)
}

/// [`device`] for a given specification and number of visible CUDA devices.
pub fn parse_device(spec: &str, n_cuda: i64) -> anyhow::Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    let cuda_index = match spec.as_str() {
        "" | "auto" => {
            return Ok(if n_cuda > 0 {
                Device::Cuda(0)
            } else {
                Device::Cpu
            })
        }
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        s => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => i,
            _ => anyhow::bail!("{DEVICE_ENV}={spec:?}: expected auto, cpu, cuda or cuda:N"),
        },
    };
    if n_cuda <= 0 {
        anyhow::bail!(
            "{DEVICE_ENV}={spec}: CUDA is not available (no GPU visible, or this msmu was \
             built against a CPU-only libtorch)"
        );
    }
    if cuda_index as i64 >= n_cuda {
        anyhow::bail!("{DEVICE_ENV}={spec}: only {n_cuda} CUDA device(s) visible");
    }
    Ok(Device::Cuda(cuda_index))
}

/// Vocabulary size of the tiny preset's tokenizer.
pub const TINY_VOCAB: usize = 1024;

/// Rows read for training the tiny tokenizer.
const TINY_TOKENIZER_ROWS: usize = 5000;

/// Builds or loads the base model and its tokenizer.
pub fn load_base(
    source: &ModelSource,
    data: &Path,
    split: &str,
    seed: u64,
    device: Device,
) -> anyhow::Result<(Llava, TextTokenizer)> {
    match source {
        ModelSource::Dir(dir) => {
            let cfg = LlavaConfig::read(dir)?;
            let tokenizer = TextTokenizer::read(dir)?;
            let mut model = Llava::new(&cfg, device);
            model
                .load_dir(dir)
                .with_context(|| format!("loading weights from {}", dir.display()))?;
            Ok((model, tokenizer))
        }
        ModelSource::Preset(preset) => {
            let mut texts = Vec::new();
            for row in reader::read_split(data, split, Some(TINY_TOKENIZER_ROWS))? {
                texts.extend(
                    row.conversations
                        .into_iter()
                        .map(|t| t.value.replace("<image>", "")),
                );
            }
            let tokenizer = train_tiny_tokenizer(&texts, TINY_VOCAB)?;
            let vocab = tokenizer.tokenizer.get_vocab_size(true) as i64;
            let image_token = TINY_SPECIALS
                .iter()
                .position(|t| *t == "<image>")
                .unwrap_or(4) as i64;
            let cfg = LlavaConfig::preset(*preset, vocab, image_token);
            let model = Llava::new(&cfg, device);
            model.init_random(seed as i64);
            Ok((model, tokenizer))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_spec() {
        assert_eq!(parse_device("", 0).unwrap(), Device::Cpu);
        assert_eq!(parse_device("auto", 0).unwrap(), Device::Cpu);
        assert_eq!(parse_device("auto", 2).unwrap(), Device::Cuda(0));
        assert_eq!(parse_device("cpu", 2).unwrap(), Device::Cpu);
        assert_eq!(parse_device(" CUDA ", 1).unwrap(), Device::Cuda(0));
        assert_eq!(parse_device("cuda:1", 2).unwrap(), Device::Cuda(1));
        let err = parse_device("cuda", 0).unwrap_err().to_string();
        assert!(err.contains("CUDA is not available"), "{err}");
        assert!(parse_device("cuda:2", 2).is_err());
        assert!(parse_device("cuda:x", 2).is_err());
        let err = parse_device("gpu", 1).unwrap_err().to_string();
        assert!(err.contains("expected auto, cpu, cuda or cuda:N"), "{err}");
    }
}
