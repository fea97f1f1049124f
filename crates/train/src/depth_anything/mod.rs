//! Depth-Anything-V2 (Yang et al. 2024) on libtorch: a DINOv2 ViT backbone ([`dinov2`]) and a
//! DPT head ([`dpt`]), relative (ReLU output, disparity-like: larger = nearer) or metric
//! (sigmoid x `max_depth`, metres), with each reference's preprocessing and output resizing
//! ([`preprocess`]). This is the depth model SD-VLM's depth positional encoding runs on.
//!
//! [`DepthAnything::load`] reads a local folder in either layout, without conversion:
//!
//! - **transformers** (`config.json` with `DepthAnythingForDepthEstimation` /
//!   `model_type: depth_anything`, `model.safetensors`, `preprocessor_config.json`): sizes,
//!   `out_indices`, variant and `max_depth` from `config.json`; preprocessing from
//!   `preprocessor_config.json` (the Pillow-backend `DPTImageProcessor`), output resized with
//!   bicubic interpolation as `post_process_depth_estimation` does.
//! - **original repository** (`pretrained.blocks.N.*`, `depth_head.scratch.*` in safetensors:
//!   `model.safetensors`, a sharded `model.safetensors.index.json` folder, a folder's only
//!   `*.safetensors` file, or that file's path), optionally under a prefix (the released SD-VLM
//!   checkpoint embeds it as `model.depth.*`: the prefix is found from the name ending in
//!   `pretrained.cls_token`, and tensors outside it are ignored). LayerScale may be stored as
//!   `ls*.gamma` or `ls*.weight`. The sizes are inferred from tensor shapes (hidden size, depth,
//!   patch size, position grid, MLP width, neck and fusion widths); the number of heads is
//!   hidden / 64 (every DINOv2 size) and the intermediate layers follow the original code's
//!   table by depth (12 blocks: 2, 5, 8, 11; 24: 4, 11, 17, 23; 40: 9, 19, 29, 39). What shapes
//!   cannot tell comes from an optional `depth_anything_v2.json` beside the weights:
//!   `{"depth_estimation_type": "relative" | "metric", "max_depth": 20.0,
//!   "num_attention_heads": 6, "out_indices": [2, 5, 8, 11], "input_size": 518}`
//!   (`out_indices` 0-based block indices, as the original `intermediate_layer_idx`). Without
//!   it the model is relative. Preprocessing is the original `image2tensor`, output resized
//!   bilinearly with aligned corners as `infer_image` does.
//!
//! Every variable must be found and every tensor in the layout's namespace must be used: a
//! missing or unexpected tensor is an error that names it. The model runs in fp32 on the CPU
//! or CUDA (`crate::device()`), under `no_grad`.

pub mod dinov2;
pub mod dpt;
pub mod preprocess;
pub mod weights;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, ensure, Context};
use image::RgbImage;
use tch::{nn, Device, Kind, Tensor};

use self::dinov2::Dinov2;
use self::dpt::DptHead;
use self::preprocess::{DptProcessorConfig, Preprocessing};
use self::weights::{hf_to_original, original_alias, original_to_hf, Target};

/// Relative (disparity-like, unitless, larger = nearer) or metric (metres) depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthKind {
    Relative,
    Metric,
}

impl DepthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DepthKind::Relative => "relative",
            DepthKind::Metric => "metric",
        }
    }

    fn parse(s: &str) -> anyhow::Result<Self> {
        match s {
            "relative" => Ok(DepthKind::Relative),
            "metric" => Ok(DepthKind::Metric),
            other => bail!("depth_estimation_type {other:?}: expected relative or metric"),
        }
    }
}

/// Which checkpoint layout a model was loaded from.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    Transformers,
    /// The original repository's names, under `prefix` (empty, or e.g. `model.depth.`).
    Original {
        prefix: String,
    },
}

/// How the backbone resizes its position embeddings (see [`Dinov2::position_embeddings`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PosInterpolation {
    /// transformers: to the grid size.
    Size,
    /// Original DINOv2: by the factor `(grid + offset) / pretrain_grid` (offset 0.1).
    ScaleFactorOffset(f64),
}

/// Architecture of one Depth-Anything-V2 model.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthAnythingConfig {
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    pub layer_norm_eps: f64,
    pub patch_size: i64,
    /// Side of the pre-training patch grid of the position table (518 / 14 = 37).
    pub position_grid: i64,
    /// 0-based indices of the blocks whose outputs the head reassembles, ascending.
    pub out_indices: Vec<usize>,
    pub neck_hidden_sizes: Vec<i64>,
    pub reassemble_factors: Vec<f64>,
    pub fusion_hidden_size: i64,
    pub head_hidden_size: i64,
    pub kind: DepthKind,
    /// The head's final multiplier: `max_depth` for metric models; for relative ones 1 in the
    /// original code and transformers' `max_depth` (default 1) in the transformers port.
    pub max_depth: f64,
}

impl DepthAnythingConfig {
    pub fn output_scale(&self) -> f64 {
        self.max_depth
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.hidden_size > 0
                && self.num_attention_heads > 0
                && self.hidden_size % self.num_attention_heads == 0,
            "hidden size {} is not a multiple of {} heads",
            self.hidden_size,
            self.num_attention_heads
        );
        ensure!(
            self.out_indices.windows(2).all(|w| w[0] < w[1])
                && self
                    .out_indices
                    .iter()
                    .all(|&i| (i as i64) < self.num_hidden_layers),
            "out_indices {:?} must ascend and lie in 0..{}",
            self.out_indices,
            self.num_hidden_layers
        );
        ensure!(
            self.out_indices.len() == self.neck_hidden_sizes.len()
                && self.reassemble_factors.len() == self.neck_hidden_sizes.len()
                && !self.neck_hidden_sizes.is_empty(),
            "{} backbone layers, {} neck sizes and {} reassemble factors must agree",
            self.out_indices.len(),
            self.neck_hidden_sizes.len(),
            self.reassemble_factors.len()
        );
        for &f in &self.reassemble_factors {
            let ok =
                (f >= 1.0 && f.fract() == 0.0) || (f < 1.0 && f > 0.0 && (1.0 / f).fract() == 0.0);
            ensure!(
                ok,
                "reassemble factor {f}: expected an integer or 1 / integer"
            );
        }
        Ok(())
    }

    /// Reads a transformers `config.json` (`DepthAnythingForDepthEstimation`, DINOv2 backbone).
    pub fn from_transformers(v: &serde_json::Value) -> anyhow::Result<Self> {
        let bb = &v["backbone_config"];
        ensure!(
            bb.is_object(),
            "config.json has no backbone_config (a named timm/hub backbone is not supported)"
        );
        let bb_type = bb["model_type"].as_str().unwrap_or("dinov2");
        ensure!(
            bb_type == "dinov2",
            "backbone {bb_type:?}: only dinov2 is supported"
        );
        ensure!(
            !bb["use_swiglu_ffn"].as_bool().unwrap_or(false),
            "a SwiGLU backbone (ViT-g) is not supported"
        );
        ensure!(
            bb["apply_layernorm"].as_bool().unwrap_or(true),
            "backbone_config.apply_layernorm = false is not supported"
        );
        ensure!(
            bb["qkv_bias"].as_bool().unwrap_or(true),
            "backbone_config.qkv_bias = false is not supported"
        );
        let act = bb["hidden_act"].as_str().unwrap_or("gelu");
        ensure!(
            act == "gelu",
            "backbone activation {act:?}: only gelu is supported"
        );
        let int = |v: &serde_json::Value, key: &str, default: Option<i64>| -> anyhow::Result<i64> {
            match v[key].as_i64().or(default) {
                Some(x) => Ok(x),
                None => bail!("config.json: {key} missing"),
            }
        };
        let hidden_size = int(bb, "hidden_size", Some(768))?;
        let num_hidden_layers = int(bb, "num_hidden_layers", Some(12))?;
        let mlp_ratio = bb["mlp_ratio"].as_f64().unwrap_or(4.0);
        let patch_size = int(bb, "patch_size", Some(14))?;
        let image_size = int(bb, "image_size", Some(224))?;
        let head_patch = int(v, "patch_size", Some(14))?;
        ensure!(
            head_patch == patch_size,
            "config.json: patch_size {head_patch} differs from the backbone's {patch_size}"
        );
        let out_indices: Vec<usize> = if let Some(a) = bb["out_indices"].as_array() {
            a.iter()
                .map(|x| match x.as_i64() {
                    Some(i) if i >= 1 && i <= num_hidden_layers => Ok(i as usize - 1),
                    _ => bail!("backbone_config.out_indices: {x} is not a block output (1..={num_hidden_layers})"),
                })
                .collect::<anyhow::Result<_>>()?
        } else if let Some(a) = bb["out_features"].as_array() {
            a.iter()
                .map(|x| {
                    match x
                        .as_str()
                        .and_then(|s| s.strip_prefix("stage"))
                        .and_then(|s| s.parse::<usize>().ok())
                    {
                        Some(i) if i >= 1 => Ok(i - 1),
                        _ => bail!("backbone_config.out_features: {x} is not a block output"),
                    }
                })
                .collect::<anyhow::Result<_>>()?
        } else {
            bail!("config.json: backbone_config has neither out_indices nor out_features")
        };
        let ints = |key: &str, default: &[i64]| -> anyhow::Result<Vec<i64>> {
            match v[key].as_array() {
                None => Ok(default.to_vec()),
                Some(a) => a
                    .iter()
                    .map(|x| {
                        x.as_i64()
                            .with_context(|| format!("config.json: {key}: {x}"))
                    })
                    .collect(),
            }
        };
        let reassemble_factors: Vec<f64> = match v["reassemble_factors"].as_array() {
            None => vec![4.0, 2.0, 1.0, 0.5],
            Some(a) => a
                .iter()
                .map(|x| {
                    x.as_f64()
                        .with_context(|| format!("config.json: reassemble_factors: {x}"))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let reassemble = int(v, "reassemble_hidden_size", Some(hidden_size))?;
        ensure!(
            reassemble == hidden_size,
            "reassemble_hidden_size {reassemble} differs from the backbone's hidden size {hidden_size}"
        );
        ensure!(
            v["head_in_index"].as_i64().unwrap_or(-1) == -1,
            "config.json: only head_in_index -1 is supported"
        );
        let kind = DepthKind::parse(v["depth_estimation_type"].as_str().unwrap_or("relative"))?;
        let max_depth = match (kind, v["max_depth"].as_f64()) {
            (_, Some(d)) => d,
            (DepthKind::Relative, None) => 1.0,
            (DepthKind::Metric, None) => bail!("config.json: a metric model needs max_depth"),
        };
        let cfg = Self {
            hidden_size,
            num_hidden_layers,
            num_attention_heads: int(bb, "num_attention_heads", Some(12))?,
            intermediate_size: (hidden_size as f64 * mlp_ratio) as i64,
            layer_norm_eps: bb["layer_norm_eps"].as_f64().unwrap_or(1e-6),
            patch_size,
            position_grid: image_size / patch_size,
            out_indices,
            neck_hidden_sizes: ints("neck_hidden_sizes", &[48, 96, 192, 384])?,
            reassemble_factors,
            fusion_hidden_size: int(v, "fusion_hidden_size", Some(64))?,
            head_hidden_size: int(v, "head_hidden_size", Some(32))?,
            kind,
            max_depth,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Infers an original-layout model from its tensor shapes (names without prefix, LayerScale
    /// aliases resolved) and the optional `depth_anything_v2.json` values.
    pub fn from_original(
        shapes: &BTreeMap<String, Vec<i64>>,
        extra: &serde_json::Value,
    ) -> anyhow::Result<Self> {
        let shape = |name: &str| -> anyhow::Result<&Vec<i64>> {
            shapes
                .get(name)
                .with_context(|| format!("missing tensor {name}"))
        };
        let hidden_size = *shape("pretrained.cls_token")?
            .last()
            .context("pretrained.cls_token has no dimensions")?;
        let pos = shape("pretrained.pos_embed")?;
        ensure!(pos.len() == 3, "pretrained.pos_embed: shape {pos:?}");
        let n_positions = pos[1] - 1;
        let position_grid = (n_positions as f64).sqrt().round() as i64;
        ensure!(
            position_grid * position_grid == n_positions,
            "pretrained.pos_embed: {n_positions} positions are not a square grid"
        );
        let patch = shape("pretrained.patch_embed.proj.weight")?;
        ensure!(
            patch.len() == 4,
            "pretrained.patch_embed.proj.weight: shape {patch:?}"
        );
        let num_hidden_layers = (0..)
            .take_while(|i| {
                shapes
                    .keys()
                    .any(|k| k.starts_with(&format!("pretrained.blocks.{i}.")))
            })
            .count() as i64;
        ensure!(num_hidden_layers > 0, "no pretrained.blocks.N tensors");
        let intermediate_size = shape("pretrained.blocks.0.mlp.fc1.weight")?[0];
        let levels = (0..)
            .take_while(|i| shapes.contains_key(&format!("depth_head.projects.{i}.weight")))
            .count();
        ensure!(
            levels == 4,
            "the original DPT head has 4 levels, found {levels} depth_head.projects"
        );
        let neck_hidden_sizes: Vec<i64> = (0..levels)
            .map(|i| shapes[&format!("depth_head.projects.{i}.weight")][0])
            .collect();
        let num_attention_heads = match extra["num_attention_heads"].as_i64() {
            Some(h) => h,
            None => {
                ensure!(
                    hidden_size % 64 == 0,
                    "hidden size {hidden_size}: give num_attention_heads in depth_anything_v2.json"
                );
                hidden_size / 64
            }
        };
        let out_indices: Vec<usize> = match extra["out_indices"].as_array() {
            Some(a) => a
                .iter()
                .map(|x| {
                    x.as_u64()
                        .map(|i| i as usize)
                        .with_context(|| format!("depth_anything_v2.json: out_indices: {x}"))
                })
                .collect::<anyhow::Result<_>>()?,
            None => match num_hidden_layers {
                12 => vec![2, 5, 8, 11],
                24 => vec![4, 11, 17, 23],
                40 => vec![9, 19, 29, 39],
                n => bail!(
                    "{n} blocks: give out_indices in depth_anything_v2.json (the original code \
                     knows 12, 24 and 40)"
                ),
            },
        };
        let kind = DepthKind::parse(
            extra["depth_estimation_type"]
                .as_str()
                .unwrap_or("relative"),
        )?;
        let max_depth = match kind {
            DepthKind::Relative => 1.0,
            DepthKind::Metric => extra["max_depth"]
                .as_f64()
                .context("depth_anything_v2.json: a metric model needs max_depth")?,
        };
        let cfg = Self {
            hidden_size,
            num_hidden_layers,
            num_attention_heads,
            intermediate_size,
            layer_norm_eps: 1e-6,
            patch_size: patch[3],
            position_grid,
            out_indices,
            neck_hidden_sizes,
            reassemble_factors: vec![4.0, 2.0, 1.0, 0.5],
            fusion_hidden_size: shape("depth_head.scratch.layer1_rn.weight")?[0],
            head_hidden_size: shape("depth_head.scratch.output_conv2.0.weight")?[0],
            kind,
            max_depth,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// One depth map, row-major, at the image's size.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthEstimate {
    pub width: u32,
    pub height: u32,
    pub values: Vec<f32>,
    pub kind: DepthKind,
}

/// A loaded Depth-Anything-V2 model with its preprocessing.
#[derive(Debug)]
pub struct DepthAnything {
    pub vs: nn::VarStore,
    backbone: Dinov2,
    head: DptHead,
    pub cfg: DepthAnythingConfig,
    pub layout: Layout,
    pub preprocessing: Preprocessing,
    device: Device,
}

/// The optional side file of an original-layout model.
pub const ORIGINAL_CONFIG: &str = "depth_anything_v2.json";

fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Whether `config.json` describes a transformers Depth-Anything model.
fn is_transformers_config(v: &serde_json::Value) -> bool {
    v["model_type"].as_str() == Some("depth_anything")
        || v["architectures"].as_array().is_some_and(|a| {
            a.iter()
                .any(|x| x.as_str() == Some("DepthAnythingForDepthEstimation"))
        })
}

impl DepthAnything {
    /// Builds the model with zero weights.
    pub fn new(
        cfg: &DepthAnythingConfig,
        layout: Layout,
        preprocessing: Preprocessing,
        device: Device,
    ) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let interpolation = match layout {
            Layout::Transformers => PosInterpolation::Size,
            Layout::Original { .. } => PosInterpolation::ScaleFactorOffset(0.1),
        };
        let backbone = Dinov2::new(&(&root / "pretrained"), cfg, interpolation);
        let head = DptHead::new(&(&root / "depth_head"), cfg);
        Self {
            vs,
            backbone,
            head,
            cfg: cfg.clone(),
            layout,
            preprocessing,
            device,
        }
    }

    /// Loads a model folder (or an original-layout safetensors file) in either layout.
    pub fn load(path: &Path, device: Device) -> anyhow::Result<Self> {
        let config = path.join("config.json");
        if path.is_dir() && config.exists() {
            let v = read_json(&config)?;
            if is_transformers_config(&v) {
                return Self::load_transformers(path, &v, device)
                    .with_context(|| format!("loading {}", path.display()));
            }
        }
        Self::load_original(path, device).with_context(|| format!("loading {}", path.display()))
    }

    fn load_transformers(
        dir: &Path,
        config: &serde_json::Value,
        device: Device,
    ) -> anyhow::Result<Self> {
        let cfg = DepthAnythingConfig::from_transformers(config)?;
        let processor = dir.join("preprocessor_config.json");
        let processor = if processor.exists() {
            DptProcessorConfig::from_json(&read_json(&processor)?)
                .with_context(|| format!("{}", processor.display()))?
        } else {
            tracing::warn!(
                "{}: no preprocessor_config.json, using the released Depth-Anything-V2 values",
                dir.display()
            );
            DptProcessorConfig::default()
        };
        let model = Self::new(
            &cfg,
            Layout::Transformers,
            Preprocessing::Transformers(processor),
            device,
        );
        let files = weights::safetensors_files(dir, &|_| true)?;
        let tensors = weights::read_tensors(&files, &|_| true)?;
        model.copy_transformers(tensors)?;
        Ok(model)
    }

    fn copy_transformers(&self, tensors: Vec<(String, Tensor)>) -> anyhow::Result<()> {
        let levels = self.cfg.neck_hidden_sizes.len();
        let mut direct = Vec::new();
        // (block, param) -> [query, key, value].
        let mut qkv: BTreeMap<(usize, String), [Option<Tensor>; 3]> = BTreeMap::new();
        let mut unexpected = Vec::new();
        for (name, t) in tensors {
            match hf_to_original(&name, levels) {
                Some(Target::Var(var)) => direct.push((var, name, t)),
                Some(Target::Qkv { block, part, param }) => {
                    qkv.entry((block, param)).or_default()[part] = Some(t);
                }
                None => unexpected.push(name),
            }
        }
        if let Some(name) = unexpected.first() {
            bail!(
                "unexpected tensor {name} ({} tensors are not part of a Depth-Anything model)",
                unexpected.len()
            );
        }
        for ((block, param), parts) in qkv {
            let mut pieces = Vec::with_capacity(3);
            for (part, piece) in parts.into_iter().enumerate() {
                match piece {
                    Some(t) => pieces.push(t),
                    None => {
                        let which = ["query", "key", "value"][part];
                        bail!("missing tensor backbone.encoder.layer.{block}.attention.attention.{which}.{param}");
                    }
                }
            }
            let name = format!("pretrained.blocks.{block}.attn.qkv.{param}");
            direct.push((
                name.clone(),
                format!("{name} (query, key, value)"),
                Tensor::cat(&pieces, 0),
            ));
        }
        self.copy_named(direct, |var| original_to_hf(var, levels))
    }

    fn load_original(path: &Path, device: Device) -> anyhow::Result<Self> {
        let side = if path.is_dir() {
            path.join(ORIGINAL_CONFIG)
        } else {
            path.with_file_name(ORIGINAL_CONFIG)
        };
        let extra = if side.exists() {
            read_json(&side)?
        } else {
            serde_json::json!({})
        };
        // Find the prefix: the name that ends in `pretrained.cls_token`.
        let names = tensor_names(path)?;
        let prefix = match extra["prefix"].as_str() {
            Some(p) => p.to_string(),
            None => {
                let prefixes: BTreeSet<&str> = names
                    .iter()
                    .filter_map(|n| n.strip_suffix("pretrained.cls_token"))
                    .filter(|p| p.is_empty() || p.ends_with('.'))
                    .collect();
                match prefixes.len() {
                    1 => prefixes.into_iter().next().unwrap_or_default().to_string(),
                    0 => bail!(
                        "no Depth-Anything weights: neither a transformers config.json nor a tensor \
                         named [prefix.]pretrained.cls_token"
                    ),
                    _ => bail!(
                        "several Depth-Anything models ({prefixes:?}); give \"prefix\" in {ORIGINAL_CONFIG}"
                    ),
                }
            }
        };
        let in_prefix = |n: &str| n.starts_with(prefix.as_str());
        let files = weights::safetensors_files(path, &in_prefix)?;
        let tensors = weights::read_tensors(&files, &in_prefix)?;
        let mut renamed = Vec::with_capacity(tensors.len());
        let mut seen = BTreeMap::new();
        for (name, t) in tensors {
            let short = original_alias(&name[prefix.len()..]);
            if let Some(first) = seen.insert(short.clone(), name.clone()) {
                bail!("tensors {first} and {name} are both {prefix}{short}");
            }
            renamed.push((short, name, t));
        }
        let shapes: BTreeMap<String, Vec<i64>> = renamed
            .iter()
            .map(|(s, _, t)| (s.clone(), t.size()))
            .collect();
        let cfg = DepthAnythingConfig::from_original(&shapes, &extra)
            .with_context(|| format!("inferring the architecture (prefix {prefix:?})"))?;
        let input_size = extra["input_size"].as_u64().unwrap_or(518) as u32;
        let model = Self::new(
            &cfg,
            Layout::Original {
                prefix: prefix.clone(),
            },
            Preprocessing::Original { input_size },
            device,
        );
        model.copy_named(renamed, |var| format!("{prefix}{var}"))?;
        Ok(model)
    }

    /// Copies `(variable, source name, tensor)` triples; every variable must be covered once.
    fn copy_named(
        &self,
        tensors: Vec<(String, String, Tensor)>,
        source_name: impl Fn(&str) -> String,
    ) -> anyhow::Result<()> {
        let vars: BTreeMap<String, Tensor> = self.vs.variables().into_iter().collect();
        let mut filled = BTreeSet::new();
        for (var, source, value) in tensors {
            let Some(target) = vars.get(&var) else {
                bail!("unexpected tensor {source}");
            };
            ensure!(
                target.size() == value.size(),
                "{source}: shape {:?}, the model expects {:?}",
                value.size(),
                target.size()
            );
            tch::no_grad(|| target.shallow_clone().copy_(&value));
            filled.insert(var);
        }
        // The mask token only serves masked pre-training; checkpoints saved without it
        // (transformers `use_mask_token: false`) are complete for inference.
        let missing: Vec<String> = vars
            .keys()
            .filter(|k| !filled.contains(*k) && k.as_str() != "pretrained.mask_token")
            .map(|k| source_name(k))
            .collect();
        if let Some(first) = missing.first() {
            bail!("missing tensor {first} ({} missing in all)", missing.len());
        }
        Ok(())
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn kind(&self) -> DepthKind {
        self.cfg.kind
    }

    /// The network output `[B, H', W']` for preprocessed pixels `[B, 3, H', W']`.
    pub fn forward(&self, pixels: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let s = pixels.size();
            let (rows, cols) = (s[2] / self.cfg.patch_size, s[3] / self.cfg.patch_size);
            let features = self.backbone.features(pixels);
            self.head.forward(&features, rows, cols)
        })
    }

    /// Depth of one image, at the image's size.
    pub fn estimate(&self, rgb: &RgbImage) -> anyhow::Result<DepthEstimate> {
        let mut out = self.estimate_batch(std::slice::from_ref(rgb))?;
        Ok(out.remove(0))
    }

    /// Depth of several images. Consecutive images with the same network input size run as one
    /// batch; the results are in input order and equal to one-by-one estimates.
    pub fn estimate_batch(&self, images: &[RgbImage]) -> anyhow::Result<Vec<DepthEstimate>> {
        let mut out = Vec::with_capacity(images.len());
        let mut start = 0;
        while start < images.len() {
            let size = self
                .preprocessing
                .input_size(images[start].height(), images[start].width());
            ensure!(
                size.0 > 0 && size.1 > 0,
                "image {}x{} is too small",
                images[start].width(),
                images[start].height()
            );
            let mut end = start + 1;
            while end < images.len()
                && self
                    .preprocessing
                    .input_size(images[end].height(), images[end].width())
                    == size
            {
                end += 1;
            }
            let pixels: Vec<Tensor> = images[start..end]
                .iter()
                .map(|img| self.preprocessing.pixels(img, self.device))
                .collect();
            let depth = self.forward(&Tensor::cat(&pixels, 0));
            for (i, img) in images[start..end].iter().enumerate() {
                let resized = tch::no_grad(|| {
                    self.preprocessing.resize_output(
                        &depth.get(i as i64),
                        img.height(),
                        img.width(),
                    )
                });
                let values: Vec<f32> = Vec::<f32>::try_from(
                    resized
                        .to_kind(Kind::Float)
                        .to_device(Device::Cpu)
                        .contiguous()
                        .view([-1]),
                )
                .context("copying the depth map")?;
                out.push(DepthEstimate {
                    width: img.width(),
                    height: img.height(),
                    values,
                    kind: self.cfg.kind,
                });
            }
            start = end;
        }
        Ok(out)
    }
}

/// Every tensor name of the safetensors files at `path` (index, single file or folder).
fn tensor_names(path: &Path) -> anyhow::Result<Vec<String>> {
    let index = path.join("model.safetensors.index.json");
    if path.is_dir() && index.exists() {
        let v = read_json(&index)?;
        let map = v["weight_map"]
            .as_object()
            .with_context(|| format!("{}: no weight_map", index.display()))?;
        return Ok(map.keys().cloned().collect());
    }
    let mut names = Vec::new();
    for file in weights::safetensors_files(path, &|_| true)? {
        names.extend(weights::header_names(&file)?);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_hf_config() -> serde_json::Value {
        serde_json::json!({
            "architectures": ["DepthAnythingForDepthEstimation"],
            "model_type": "depth_anything",
            "backbone_config": {
                "model_type": "dinov2", "hidden_size": 32, "num_hidden_layers": 4,
                "num_attention_heads": 2, "image_size": 518, "patch_size": 14,
                "out_indices": [1, 2, 3, 4], "reshape_hidden_states": false
            },
            "reassemble_hidden_size": 32,
            "neck_hidden_sizes": [8, 16, 24, 32],
            "fusion_hidden_size": 16,
            "head_hidden_size": 8,
            "depth_estimation_type": "metric",
            "max_depth": 20
        })
    }

    #[test]
    fn transformers_config_is_read() {
        let cfg = DepthAnythingConfig::from_transformers(&tiny_hf_config()).unwrap();
        assert_eq!(cfg.out_indices, vec![0, 1, 2, 3]);
        assert_eq!(cfg.intermediate_size, 128);
        assert_eq!(cfg.position_grid, 37);
        assert_eq!(cfg.kind, DepthKind::Metric);
        assert_eq!(cfg.max_depth, 20.0);
        let mut bad = tiny_hf_config();
        bad["neck_hidden_sizes"] = serde_json::json!([8, 16]);
        assert!(DepthAnythingConfig::from_transformers(&bad).is_err());
    }

    #[test]
    fn forward_gives_the_input_resolution() {
        let cfg = DepthAnythingConfig::from_transformers(&tiny_hf_config()).unwrap();
        let model = DepthAnything::new(
            &cfg,
            Layout::Transformers,
            Preprocessing::Transformers(DptProcessorConfig::default()),
            Device::Cpu,
        );
        let img = RgbImage::from_fn(64, 40, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let est = model.estimate(&img).unwrap();
        assert_eq!((est.width, est.height, est.values.len()), (64, 40, 64 * 40));
        // Zero weights: sigmoid(0) x max_depth everywhere.
        assert!(
            est.values.iter().all(|&v| (v - 10.0).abs() < 1e-5),
            "{:?}",
            &est.values[..4]
        );
        let batch = model.estimate_batch(&[img.clone(), img]).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0], est);
    }
}
