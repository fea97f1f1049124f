//! all-MiniLM-L6-v2, the sentence-embedding model of the official SD-VLM grounding rule
//! (`msmu eval --name-model DIR`, [`msmu_eval::names`]): a BERT encoder (transformers
//! `BertModel`) read from a sentence-transformers folder, then the folder's modules: mean
//! pooling over the attention mask and L2 normalisation.
//!
//! The folder: `config.json` (BERT, absolute positions, GELU), `model.safetensors` (the
//! `BertModel` names, `embeddings.*` and `encoder.layer.{i}.*`; `pooler.*` and
//! `embeddings.position_ids` are ignored), `tokenizer.json` (Hugging Face `tokenizers`),
//! `modules.json` (Transformer, Pooling, optionally Normalize, nothing else),
//! `1_Pooling/config.json` (mean pooling only) and `sentence_bert_config.json`
//! (`max_seq_length`: texts are cut to that many tokens, `[CLS]` and `[SEP]` included;
//! `do_lower_case`). As sentence-transformers does, each text is stripped of surrounding
//! whitespace before tokenisation. Variable names follow the checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context};
use serde::Deserialize;
use tch::{Device, Kind, Tensor};
use tokenizers::{Tokenizer, TruncationParams};

use crate::clip::LayerNorm;

/// Texts per forward pass.
const BATCH: usize = 64;

/// The `config.json` fields the encoder uses.
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    pub hidden_act: String,
    pub layer_norm_eps: f64,
    pub max_position_embeddings: i64,
    pub type_vocab_size: i64,
    pub vocab_size: i64,
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn absolute() -> String {
    "absolute".into()
}

#[derive(Debug)]
struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

/// `embeddings.*`.
#[derive(Debug)]
struct Embeddings {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    layer_norm: LayerNorm,
}

/// `encoder.layer.{i}.*`.
#[derive(Debug)]
struct Layer {
    /// `attention.self.{query,key,value}`
    query: Linear,
    key: Linear,
    value: Linear,
    /// `attention.output.dense`, `attention.output.LayerNorm`
    attention_output_dense: Linear,
    attention_output_layer_norm: LayerNorm,
    /// `intermediate.dense`
    intermediate_dense: Linear,
    /// `output.dense`, `output.LayerNorm`
    output_dense: Linear,
    output_layer_norm: LayerNorm,
}

/// A sentence-transformers all-MiniLM-L6-v2 (or any BERT with the same modules).
pub struct MiniLm {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    heads: i64,
    tokenizer: Tokenizer,
    lowercase: bool,
    normalize: bool,
    device: Device,
    dir: PathBuf,
}

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The modules after the Transformer: whether a Normalize follows the (mean) Pooling.
fn check_modules(dir: &Path) -> anyhow::Result<bool> {
    let path = dir.join("modules.json");
    let modules = read_json(&path)?;
    let modules = modules
        .as_array()
        .with_context(|| format!("{}: expected a list of modules", path.display()))?;
    let kinds: Vec<(&str, &str)> = modules
        .iter()
        .map(|m| {
            (
                m["type"].as_str().unwrap_or(""),
                m["path"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let short: Vec<&str> = kinds
        .iter()
        .map(|(t, _)| t.rsplit('.').next().unwrap_or(t))
        .collect();
    let normalize = match short.as_slice() {
        ["Transformer", "Pooling"] => false,
        ["Transformer", "Pooling", "Normalize"] => true,
        _ => bail!(
            "{}: msmu reads sentence-transformers models made of Transformer, Pooling (mean) \
             and optionally Normalize, as all-MiniLM-L6-v2; this one has {short:?}",
            path.display()
        ),
    };
    ensure!(
        kinds[0].1.is_empty(),
        "{}: the Transformer module must be the folder itself (path \"\"), not {:?}",
        path.display(),
        kinds[0].1
    );
    let pooling = dir.join(kinds[1].1).join("config.json");
    let cfg = read_json(&pooling)?;
    let cfg = cfg
        .as_object()
        .with_context(|| format!("{}: expected an object", pooling.display()))?;
    for (k, v) in cfg {
        if let Some(mode) = k.strip_prefix("pooling_mode_") {
            let on = v.as_bool().unwrap_or(false);
            ensure!(
                on == (mode == "mean_tokens"),
                "{}: msmu supports mean pooling only (pooling_mode_mean_tokens: true, every \
                 other pooling_mode_* false); {k} is {v}",
                pooling.display()
            );
        }
    }
    ensure!(
        cfg.get("pooling_mode_mean_tokens")
            .and_then(|v| v.as_bool())
            == Some(true),
        "{}: pooling_mode_mean_tokens is not true (msmu supports mean pooling only)",
        pooling.display()
    );
    Ok(normalize)
}

impl MiniLm {
    /// Reads a sentence-transformers folder (see the module documentation).
    pub fn load(dir: &Path, device: Device) -> anyhow::Result<Self> {
        let cfg_path = dir.join("config.json");
        let cfg: BertConfig = serde_json::from_value(read_json(&cfg_path)?)
            .with_context(|| format!("{}: not a BERT config", cfg_path.display()))?;
        ensure!(
            cfg.hidden_act == "gelu",
            "{}: hidden_act {:?} (msmu's BERT has the exact GELU, \"gelu\")",
            cfg_path.display(),
            cfg.hidden_act
        );
        ensure!(
            cfg.position_embedding_type == "absolute",
            "{}: position_embedding_type {:?} (msmu's BERT has absolute positions)",
            cfg_path.display(),
            cfg.position_embedding_type
        );
        ensure!(
            cfg.hidden_size % cfg.num_attention_heads == 0,
            "{}: hidden_size {} is not a multiple of num_attention_heads {}",
            cfg_path.display(),
            cfg.hidden_size,
            cfg.num_attention_heads
        );
        let normalize = check_modules(dir)?;
        let st_path = dir.join("sentence_bert_config.json");
        let st = read_json(&st_path)?;
        let max_seq_length = st["max_seq_length"]
            .as_u64()
            .with_context(|| format!("{}: no max_seq_length", st_path.display()))?
            as usize;
        let max_seq_length = max_seq_length.min(cfg.max_position_embeddings as usize);
        let lowercase = st["do_lower_case"].as_bool().unwrap_or(false);

        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| anyhow!("reading {}: {e}", tok_path.display()))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| anyhow!("{}: truncation: {e}", tok_path.display()))?;

        let weights = dir.join("model.safetensors");
        let tensors = Tensor::read_safetensors(&weights)
            .with_context(|| format!("reading {}", weights.display()))?;
        let mut vars: HashMap<String, Tensor> = tensors.into_iter().collect();
        let d = cfg.hidden_size;
        let mut take = |name: &str, shape: &[i64]| -> anyhow::Result<Tensor> {
            let t = vars
                .remove(name)
                .with_context(|| format!("{}: no tensor {name}", weights.display()))?;
            ensure!(
                t.size() == shape,
                "{}: {name} has shape {:?}, the config says {shape:?}",
                weights.display(),
                t.size()
            );
            Ok(t.to_kind(Kind::Float).to_device(device))
        };
        let eps = cfg.layer_norm_eps;
        let mut norm = |name: &str| -> anyhow::Result<LayerNorm> {
            Ok(LayerNorm {
                weight: take(&format!("{name}.weight"), &[d])?,
                bias: take(&format!("{name}.bias"), &[d])?,
                eps,
            })
        };
        // Closures borrow `take` mutably: build the layer norms and linears in turn.
        let emb_norm = norm("embeddings.LayerNorm")?;
        let mut layer_norms = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layer_norms.push((
                norm(&format!("{p}.attention.output.LayerNorm"))?,
                norm(&format!("{p}.output.LayerNorm"))?,
            ));
        }
        let mut linear = |name: &str, out_f: i64, in_f: i64| -> anyhow::Result<Linear> {
            Ok(Linear {
                weight: take(&format!("{name}.weight"), &[out_f, in_f])?,
                bias: take(&format!("{name}.bias"), &[out_f])?,
            })
        };
        let mut layers = Vec::new();
        for (i, (attention_output_layer_norm, output_layer_norm)) in
            layer_norms.into_iter().enumerate()
        {
            let p = format!("encoder.layer.{i}");
            let m = cfg.intermediate_size;
            layers.push(Layer {
                query: linear(&format!("{p}.attention.self.query"), d, d)?,
                key: linear(&format!("{p}.attention.self.key"), d, d)?,
                value: linear(&format!("{p}.attention.self.value"), d, d)?,
                attention_output_dense: linear(&format!("{p}.attention.output.dense"), d, d)?,
                attention_output_layer_norm,
                intermediate_dense: linear(&format!("{p}.intermediate.dense"), m, d)?,
                output_dense: linear(&format!("{p}.output.dense"), d, m)?,
                output_layer_norm,
            });
        }
        let embeddings = Embeddings {
            word_embeddings: take("embeddings.word_embeddings.weight", &[cfg.vocab_size, d])?,
            position_embeddings: take(
                "embeddings.position_embeddings.weight",
                &[cfg.max_position_embeddings, d],
            )?,
            token_type_embeddings: take(
                "embeddings.token_type_embeddings.weight",
                &[cfg.type_vocab_size, d],
            )?,
            layer_norm: emb_norm,
        };
        let mut unexpected: Vec<&String> = vars
            .keys()
            .filter(|k| !k.starts_with("pooler.") && k.as_str() != "embeddings.position_ids")
            .collect();
        unexpected.sort();
        ensure!(
            unexpected.is_empty(),
            "{}: unexpected tensors for a BERT encoder: {unexpected:?}",
            weights.display()
        );
        Ok(Self {
            embeddings,
            layers,
            heads: cfg.num_attention_heads,
            tokenizer,
            lowercase,
            normalize,
            device,
            dir: dir.to_path_buf(),
        })
    }

    /// Token ids of one text as the model sees it: stripped, lowercased when the folder says
    /// so, `[CLS] ... [SEP]`, cut to `max_seq_length`.
    pub fn token_ids(&self, text: &str) -> anyhow::Result<Vec<i64>> {
        let text = text.trim();
        let text = if self.lowercase {
            text.to_lowercase()
        } else {
            text.to_string()
        };
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        Ok(enc.get_ids().iter().map(|&i| i64::from(i)).collect())
    }

    /// Last hidden state `[B, L, D]` of `input_ids` `[B, L]` with `attention_mask` `[B, L]`
    /// (1 = token, 0 = padding); token types are all 0.
    pub fn forward(&self, input_ids: &Tensor, attention_mask: &Tensor) -> Tensor {
        let (b, l) = input_ids.size2().expect("[batch, tokens]");
        let e = &self.embeddings;
        let positions = Tensor::arange(l, (Kind::Int64, self.device));
        let x = Tensor::embedding(&e.word_embeddings, input_ids, -1, false, false)
            + Tensor::embedding(&e.position_embeddings, &positions, -1, false, false).unsqueeze(0)
            + e.token_type_embeddings.get(0).view([1, 1, -1]);
        let mut x = e.layer_norm.forward(&x);
        // Keys that are padding get no attention.
        let keep = attention_mask.to_kind(Kind::Bool).view([b, 1, 1, l]);
        let d = x.size()[2];
        let hd = d / self.heads;
        for layer in &self.layers {
            let split = |t: Tensor| t.view([b, l, self.heads, hd]).transpose(1, 2);
            let q = split(layer.query.forward(&x));
            let k = split(layer.key.forward(&x));
            let v = split(layer.value.forward(&x));
            let attn = Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                Some(&keep),
                0.0,
                false,
                None::<f64>,
                false,
            );
            let attn = attn.transpose(1, 2).reshape([b, l, d]);
            let h = layer
                .attention_output_layer_norm
                .forward(&(layer.attention_output_dense.forward(&attn) + &x));
            let m = layer.intermediate_dense.forward(&h).gelu("none");
            x = layer
                .output_layer_norm
                .forward(&(layer.output_dense.forward(&m) + &h));
        }
        x
    }

    /// Sentence embeddings `[N, D]` (f32, on the CPU): mean of the last hidden state over the
    /// tokens, then L2-normalised when the folder has a Normalize module.
    pub fn embed_tensor(&self, texts: &[String]) -> anyhow::Result<Tensor> {
        let mut out = Vec::new();
        for chunk in texts.chunks(BATCH) {
            let ids: Vec<Vec<i64>> = chunk
                .iter()
                .map(|t| self.token_ids(t))
                .collect::<anyhow::Result<_>>()?;
            let l = ids.iter().map(Vec::len).max().unwrap_or(0).max(1);
            let mut flat = Vec::with_capacity(ids.len() * l);
            let mut mask = Vec::with_capacity(ids.len() * l);
            for row in &ids {
                flat.extend(
                    row.iter()
                        .copied()
                        .chain(std::iter::repeat_n(0, l - row.len())),
                );
                mask.extend((0..l).map(|j| i64::from(j < row.len())));
            }
            let shape = [ids.len() as i64, l as i64];
            let input_ids = Tensor::from_slice(&flat).view(shape).to_device(self.device);
            let attention_mask = Tensor::from_slice(&mask).view(shape).to_device(self.device);
            let pooled = tch::no_grad(|| {
                let h = self.forward(&input_ids, &attention_mask);
                let m = attention_mask.to_kind(Kind::Float).unsqueeze(-1);
                let sum = (h * &m).sum_dim_intlist(1, false, Kind::Float);
                let count = m.sum_dim_intlist(1, false, Kind::Float).clamp_min(1e-9);
                let mean = sum / count;
                if self.normalize {
                    // torch.nn.functional.normalize(p=2, dim=1, eps=1e-12)
                    let norm = mean.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
                    mean / norm
                } else {
                    mean
                }
            });
            out.push(pooled.to_device(Device::Cpu));
        }
        if out.is_empty() {
            let d = self.embeddings.word_embeddings.size()[1];
            return Ok(Tensor::zeros([0, d], (Kind::Float, Device::Cpu)));
        }
        Ok(Tensor::cat(&out, 0))
    }
}

impl msmu_eval::names::NameEmbedder for MiniLm {
    fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let t = self.embed_tensor(texts)?;
        let d = t.size()[1] as usize;
        let flat: Vec<f32> = Vec::try_from(t.contiguous().view([-1]))?;
        Ok(flat.chunks(d.max(1)).map(<[f32]>::to_vec).collect())
    }

    fn identity(&self) -> String {
        self.dir.display().to_string()
    }
}
