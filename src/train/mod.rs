//! The trainer (cargo feature `train`, the only code that uses libtorch through `tch`):
//! a LLaVA-1.5 model (CLIP ViT vision tower, `mlp2x_gelu` projector, LLaMA decoder) whose
//! image tokens carry SD-VLM's depth positional encoding, LoRA fine-tuning on msmu shards,
//! checkpoints that PEFT and transformers read, and greedy/sampled prediction for `msmu eval`.
//!
//! Code map: [`config`] (config.json), [`clip`], [`llama`], [`llava`] (one model per file,
//! variable names = checkpoint names), [`dpe`] (depth positional encoding), [`lora`],
//! [`preprocess`] (LLaVA/CLIP image pipeline), [`tokenize`] (Vicuna v1 template),
//! [`data`] (Parquet shards), [`trainer`], [`checkpoint`], [`predict`].

pub mod checkpoint;
pub mod clip;
pub mod config;
pub mod data;
pub mod dpe;
pub mod llama;
pub mod llava;
pub mod lora;
pub mod predict;
pub mod preprocess;
pub mod tokenize;
pub mod trainer;

use std::path::{Path, PathBuf};

use anyhow::Context;
use tch::Device;

use crate::train::config::LlavaConfig;
use crate::train::llava::Llava;
use crate::train::tokenize::{train_tiny_tokenizer, TextTokenizer, TINY_SPECIALS};

/// Where the base model comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// `--preset tiny`: random weights, tokenizer trained on the shards' text.
    Tiny,
    /// A local Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json).
    Dir(PathBuf),
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
        ModelSource::Tiny => {
            let mut texts = Vec::new();
            for row in data::read_split(data, split)?
                .into_iter()
                .take(TINY_TOKENIZER_ROWS)
            {
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
            let cfg = LlavaConfig::tiny(vocab, image_token);
            let model = Llava::new(&cfg, device);
            model.init_random(seed as i64);
            Ok((model, tokenizer))
        }
    }
}
