//! The LLaVA model (transformers `LlavaForConditionalGeneration`): CLIP vision tower ->
//! `mlp2x_gelu` projector -> (+ depth positional encoding) -> LLaMA decoder -> `lm_head`.
//! Image features replace the embeddings of the image placeholder tokens, in order.
//!
//! Variables live in one `VarStore` under the transformers 5 in-memory names
//! (`model.vision_tower.vision_model.*`, `model.multi_modal_projector.*`,
//! `model.language_model.*`, `lm_head.*`); [`canonical_name`] maps the other layouts that
//! checkpoints use on disk onto these, so a local checkpoint loads without remapping files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context};
use tch::{nn, Device, Kind, Tensor};

use crate::clip::ClipVision;
use crate::config::LlavaConfig;
use crate::llama::{KvCache, Llama};
use crate::lora::{init_normal, Linear, LoraConfig};

/// Name prefixes of the three parts.
pub const VISION_PREFIX: &str = "model.vision_tower.vision_model";
pub const PROJECTOR_PREFIX: &str = "model.multi_modal_projector";
pub const LLM_PREFIX: &str = "model.language_model";

/// Maps a checkpoint tensor name from any known LLaVA layout onto the in-memory one:
/// transformers 4 (`language_model.model.*`, `language_model.lm_head.*`, `vision_tower.*`,
/// `multi_modal_projector.*`), transformers 5 saves (`vision_tower.embeddings.*` without
/// `vision_model`) and the new `model.*` layout.
pub fn canonical_name(name: &str) -> String {
    let name = if let Some(rest) = name.strip_prefix("language_model.model.") {
        format!("{LLM_PREFIX}.{rest}")
    } else if let Some(rest) = name.strip_prefix("language_model.lm_head.") {
        format!("lm_head.{rest}")
    } else if let Some(rest) = name.strip_prefix("language_model.") {
        format!("{LLM_PREFIX}.{rest}")
    } else if name.starts_with("vision_tower.") || name.starts_with("multi_modal_projector.") {
        format!("model.{name}")
    } else {
        name.to_string()
    };
    match name.strip_prefix("model.vision_tower.") {
        Some(rest) if !rest.starts_with("vision_model.") => format!("{VISION_PREFIX}.{rest}"),
        _ => name,
    }
}

/// The name transformers 5.x `save_pretrained` writes for an in-memory name (what
/// [`Llava::save_full`] writes so that transformers loads the folder).
pub fn saved_name(name: &str) -> String {
    if let Some(rest) = name.strip_prefix(&format!("{LLM_PREFIX}.")) {
        format!("language_model.model.{rest}")
    } else if let Some(rest) = name.strip_prefix("lm_head.") {
        format!("language_model.lm_head.{rest}")
    } else if let Some(rest) = name.strip_prefix(&format!("{VISION_PREFIX}.")) {
        format!("vision_tower.{rest}")
    } else if let Some(rest) = name.strip_prefix("model.") {
        rest.to_string()
    } else {
        name.to_string()
    }
}

/// How a batch's depth enters [`Llava::forward`] (`crate::dpe::DepthFusion`).
#[derive(Debug)]
pub enum DepthTokens {
    /// The depth positional encoding `[B, grid*grid, D_text]` (fp32), added to the image
    /// features.
    Pe(Tensor),
    /// Depth images `[B, 3, S, S]` (CLIP-normalised, `crate::dpe::depth_image`): their
    /// features, through the same vision tower and projector, are appended to the image's.
    Image(Tensor),
}

#[derive(Debug)]
pub struct Projector {
    pub linear_1: Linear,
    pub linear_2: Linear,
}

impl Projector {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.linear_2
            .forward(&self.linear_1.forward(x, false).gelu("none"), false)
    }
}

#[derive(Debug)]
pub struct Llava {
    pub vs: nn::VarStore,
    pub vision: ClipVision,
    pub projector: Projector,
    pub llm: Llama,
    pub lm_head: Tensor,
    pub cfg: LlavaConfig,
    pub lora: Option<LoraConfig>,
}

impl Llava {
    /// Builds the model with zero weights (load or [`Llava::init_random`] next).
    pub fn new(cfg: &LlavaConfig, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let vision = ClipVision::new(
            &(&root / "model" / "vision_tower" / "vision_model"),
            &cfg.vision,
            cfg.vision_feature_layer,
        );
        let pp = &root / "model" / "multi_modal_projector";
        let projector = Projector {
            linear_1: Linear::trainable(
                &(&pp / "linear_1"),
                cfg.vision.hidden_size,
                cfg.text.hidden_size,
                cfg.projector_bias,
            ),
            linear_2: Linear::trainable(
                &(&pp / "linear_2"),
                cfg.text.hidden_size,
                cfg.text.hidden_size,
                cfg.projector_bias,
            ),
        };
        let llm = Llama::new(&(&root / "model" / "language_model"), &cfg.text);
        let lm_head = (&root / "lm_head")
            .zeros_no_train("weight", &[cfg.text.vocab_size, cfg.text.hidden_size]);
        Self {
            vs,
            vision,
            projector,
            llm,
            lm_head,
            cfg: cfg.clone(),
            lora: None,
        }
    }

    /// Random weights as transformers initialises them (normal 0.02, norms 1, biases 0),
    /// except `lm_head` (normal 0.25): with a frozen head of std 0.02 behind an RMSNorm the
    /// logits of a small model can never be far apart, so LoRA could not fit anything.
    pub fn init_random(&self, seed: i64) {
        tch::manual_seed(seed);
        let vars: BTreeMap<String, Tensor> = self.vs.variables().into_iter().collect();
        for (name, t) in &vars {
            if name.contains("lora_") {
                continue;
            }
            let is_norm = name.contains("norm") || name.contains("layrnorm");
            tch::no_grad(|| {
                let mut t = t.shallow_clone();
                if name.ends_with("bias") {
                    let _ = t.zero_();
                } else if is_norm {
                    let _ = t.fill_(1.0);
                } else if name == "lm_head.weight" {
                    init_normal(&t, 0.25);
                } else {
                    init_normal(&t, 0.02);
                }
            });
        }
    }

    /// Attaches LoRA adapters to the LLM (all adapter tensors are trainable).
    pub fn add_lora(&mut self, lora: &LoraConfig, seed: i64) {
        tch::manual_seed(seed);
        let root = self.vs.root();
        self.llm
            .add_lora(&(&root / "model" / "language_model"), lora);
        self.lora = Some(lora.clone());
    }

    /// Reads `model.safetensors` or the shards listed in `model.safetensors.index.json`.
    pub fn load_dir(&mut self, dir: &Path) -> anyhow::Result<()> {
        let index = dir.join("model.safetensors.index.json");
        let files: Vec<std::path::PathBuf> = if index.exists() {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&index)?)
                .with_context(|| format!("parsing {}", index.display()))?;
            let map = v["weight_map"]
                .as_object()
                .context("index has no weight_map")?;
            let unique: BTreeSet<&str> = map.values().filter_map(|f| f.as_str()).collect();
            unique.into_iter().map(|f| dir.join(f)).collect()
        } else {
            vec![dir.join("model.safetensors")]
        };
        let mut tensors = Vec::new();
        for file in &files {
            tensors.extend(
                Tensor::read_safetensors(file)
                    .with_context(|| format!("reading {}", file.display()))?,
            );
        }
        self.load_tensors(tensors, false)
    }

    /// Copies named tensors (any layout) into the model. With `partial`, missing variables
    /// are fine (adapter and projector files); otherwise every base variable must be there.
    pub fn load_tensors(
        &mut self,
        tensors: Vec<(String, Tensor)>,
        partial: bool,
    ) -> anyhow::Result<()> {
        let vars: BTreeMap<String, Tensor> = self.vs.variables().into_iter().collect();
        let mut seen = BTreeSet::new();
        let mut unexpected = Vec::new();
        for (name, value) in tensors {
            let name = canonical_name(&name);
            match vars.get(&name) {
                Some(var) => {
                    if var.size() != value.size() {
                        bail!(
                            "{name}: checkpoint shape {:?}, model shape {:?}",
                            value.size(),
                            var.size()
                        );
                    }
                    tch::no_grad(|| {
                        let mut v = var.shallow_clone();
                        v.copy_(&value)
                    });
                    seen.insert(name);
                }
                None => unexpected.push(name),
            }
        }
        if !unexpected.is_empty() {
            tracing::warn!(
                "{} checkpoint tensors not used, e.g. {}",
                unexpected.len(),
                unexpected[0]
            );
        }
        if !partial {
            let tied = self.cfg.text.tie_word_embeddings && !seen.contains("lm_head.weight");
            if tied {
                tch::no_grad(|| {
                    let mut head = self.lm_head.shallow_clone();
                    head.copy_(&self.llm.embed_tokens)
                });
                seen.insert("lm_head.weight".into());
            }
            let missing: Vec<&String> = vars
                .keys()
                .filter(|k| !k.contains("lora_") && !seen.contains(*k))
                .collect();
            if !missing.is_empty() {
                bail!(
                    "checkpoint lacks {} tensors, e.g. {}",
                    missing.len(),
                    missing[0]
                );
            }
        }
        Ok(())
    }

    /// Writes every base tensor (adapters excluded) under the names transformers saves.
    pub fn save_full(&self, path: &Path) -> anyhow::Result<()> {
        let vars: BTreeMap<String, Tensor> = self.vs.variables().into_iter().collect();
        let named: Vec<(String, Tensor)> = vars
            .into_iter()
            .filter(|(k, _)| !k.contains("lora_"))
            .map(|(k, v)| (saved_name(&k), v.to_device(Device::Cpu).contiguous()))
            .collect();
        msmu_data::dataset::atomic::write_atomic_with(path, |tmp| {
            Tensor::write_safetensors(&named, tmp)
                .with_context(|| format!("writing {}", path.display()))
        })
    }

    /// Vision tower (frozen, no graph) + projector: `[B, grid*grid, D_text]`.
    pub fn image_features(&self, pixel_values: &Tensor) -> Tensor {
        let vision = tch::no_grad(|| self.vision.features(pixel_values));
        self.projector.forward(&vision)
    }

    /// Token embeddings with the image features (already DPE-encoded) scattered into the
    /// image placeholder positions, row by row.
    pub fn embed_with_images(
        &self,
        input_ids: &Tensor,
        image_embeds: Option<&Tensor>,
    ) -> anyhow::Result<Tensor> {
        let embeds = self.llm.embed(input_ids);
        let Some(image_embeds) = image_embeds else {
            return Ok(embeds);
        };
        let mask = input_ids.eq(self.cfg.image_token_id);
        let n_slots = mask.sum(Kind::Int64).int64_value(&[]);
        let n_feats = image_embeds.size()[0] * image_embeds.size()[1];
        if n_slots != n_feats {
            bail!("{n_slots} image tokens in the text but {n_feats} image features");
        }
        let mask = mask.unsqueeze(-1).expand_as(&embeds);
        Ok(embeds.masked_scatter(&mask, &image_embeds.to_kind(embeds.kind())))
    }

    /// Logits `[B, L, vocab]`. `depth`, when given: DPE added to the image features
    /// (`[B, grid*grid, D_text]`, fp32), or a depth image whose features follow the image's
    /// (the prompt then has `2 * grid*grid` image placeholders).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        pixel_values: Option<&Tensor>,
        depth: Option<&DepthTokens>,
        cache: Option<&mut KvCache>,
        train: bool,
    ) -> anyhow::Result<Tensor> {
        let image_embeds = pixel_values.map(|pv| {
            let feats = self.image_features(pv);
            match depth {
                Some(DepthTokens::Pe(pe)) => {
                    (feats.to_kind(Kind::Float) + pe).to_kind(feats.kind())
                }
                Some(DepthTokens::Image(depth_pixels)) => {
                    let depth_feats = self.image_features(depth_pixels).to_kind(feats.kind());
                    Tensor::cat(&[feats, depth_feats], 1)
                }
                None => feats,
            }
        });
        let embeds = self.embed_with_images(input_ids, image_embeds.as_ref())?;
        let hidden = self.llm.forward_embeds(&embeds, cache, train);
        Ok(hidden.linear::<Tensor>(&self.lm_head, None))
    }

    /// LoRA tensors as `(in-memory name, tensor)`, sorted by name.
    pub fn lora_params(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(k, _)| k.contains("lora_"))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Projector tensors, sorted by name.
    pub fn projector_params(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(k, _)| k.starts_with(PROJECTOR_PREFIX))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Stores the frozen weights in `precision`'s dtype (after [`Llava::set_trainable`]); the
    /// trainable ones stay float32 (see [`crate::precision`]).
    pub fn set_precision(&self, precision: crate::precision::Precision) {
        let vars = self.vs.variables();
        crate::precision::cast_frozen(vars.values(), precision.kind());
    }

    /// Sets which parts train: the projector and the adapters; everything else is frozen.
    pub fn set_trainable(&self, train_projector: bool) {
        for (name, t) in self.vs.variables() {
            let trainable =
                name.contains("lora_") || (train_projector && name.starts_with(PROJECTOR_PREFIX));
            let _ = t.shallow_clone().set_requires_grad(trainable);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_every_layout_map_to_one() {
        for (disk, mem) in [
            (
                "language_model.model.layers.0.mlp.up_proj.weight",
                "model.language_model.layers.0.mlp.up_proj.weight",
            ),
            ("language_model.lm_head.weight", "lm_head.weight"),
            (
                "vision_tower.vision_model.pre_layrnorm.bias",
                "model.vision_tower.vision_model.pre_layrnorm.bias",
            ),
            (
                "vision_tower.pre_layrnorm.bias",
                "model.vision_tower.vision_model.pre_layrnorm.bias",
            ),
            (
                "model.vision_tower.embeddings.class_embedding",
                "model.vision_tower.vision_model.embeddings.class_embedding",
            ),
            (
                "multi_modal_projector.linear_1.weight",
                "model.multi_modal_projector.linear_1.weight",
            ),
            (
                "model.language_model.norm.weight",
                "model.language_model.norm.weight",
            ),
            ("lm_head.weight", "lm_head.weight"),
        ] {
            assert_eq!(canonical_name(disk), mem, "{disk}");
            assert_eq!(canonical_name(&saved_name(mem)), mem, "{mem}");
        }
    }
}
