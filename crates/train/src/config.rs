//! Model configuration read from (and written to) a Hugging Face `config.json` of a
//! `LlavaForConditionalGeneration` checkpoint: the CLIP vision tower, the projector and the
//! LLaMA decoder. Both the transformers 4.x keys (`image_token_index`, `rope_theta`) and the
//! 5.x keys (`image_token_id`, `rope_parameters.rope_theta`) are accepted.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// Built-in random models (`msmu train --preset`), with a tokenizer trained on the shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// 2 LLaMA layers x 128, 112 px images: a training run on a CPU in minutes (tests).
    Tiny,
    /// 4 LLaMA layers x 256, 168 px images: CPU experiments such as `msmu ablate`.
    Small,
    /// LLaVA-1.5-7B's exact shapes with random weights (CLIP ViT-L/14-336, 32 x 4096 LLaMA,
    /// vocabulary 32,000; 7.06 B parameters): real-size speed and memory without a download.
    /// Needs a GPU (about 28 GB while it is created in float32, 14 GB in bf16 after).
    #[value(name = "7b-shapes")]
    SevenBShapes,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::SevenBShapes => "7b-shapes",
        }
    }
}

/// The CLIP ViT vision tower (`vision_config`).
#[derive(Clone, Debug, PartialEq)]
pub struct VisionConfig {
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_attention_heads: i64,
    pub num_hidden_layers: i64,
    pub image_size: i64,
    pub patch_size: i64,
    pub num_channels: i64,
    pub layer_norm_eps: f64,
    /// `quick_gelu` for CLIP; `gelu` also accepted.
    pub hidden_act: String,
}

impl VisionConfig {
    /// Patches per side: 24 for ViT-L/14 at 336 px.
    pub fn grid(&self) -> i64 {
        self.image_size / self.patch_size
    }
}

/// The LLaMA decoder (`text_config`).
#[derive(Clone, Debug, PartialEq)]
pub struct TextConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub num_key_value_heads: i64,
    pub head_dim: i64,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_position_embeddings: i64,
    pub tie_word_embeddings: bool,
}

/// The whole LLaVA model.
#[derive(Clone, Debug, PartialEq)]
pub struct LlavaConfig {
    pub vision: VisionConfig,
    pub text: TextConfig,
    pub image_token_id: i64,
    /// Which hidden state of the vision tower feeds the projector (-2: the penultimate layer).
    pub vision_feature_layer: i64,
    /// `gelu` (exact, erf) for `mlp2x_gelu`.
    pub projector_hidden_act: String,
    pub projector_bias: bool,
}

fn get<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a Value> {
    v.get(key)
        .with_context(|| format!("config.json: missing `{key}`"))
}

fn int(v: &Value, key: &str) -> anyhow::Result<i64> {
    get(v, key)?
        .as_i64()
        .with_context(|| format!("config.json: `{key}` is not an integer"))
}

fn float(v: &Value, key: &str) -> anyhow::Result<f64> {
    get(v, key)?
        .as_f64()
        .with_context(|| format!("config.json: `{key}` is not a number"))
}

impl LlavaConfig {
    pub fn from_json(root: &Value) -> anyhow::Result<Self> {
        let vc = get(root, "vision_config")?;
        let tc = get(root, "text_config")?;
        let vision = VisionConfig {
            hidden_size: int(vc, "hidden_size")?,
            intermediate_size: int(vc, "intermediate_size")?,
            num_attention_heads: int(vc, "num_attention_heads")?,
            num_hidden_layers: int(vc, "num_hidden_layers")?,
            image_size: int(vc, "image_size")?,
            patch_size: int(vc, "patch_size")?,
            num_channels: vc.get("num_channels").and_then(Value::as_i64).unwrap_or(3),
            layer_norm_eps: vc
                .get("layer_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or(1e-5),
            hidden_act: vc
                .get("hidden_act")
                .and_then(Value::as_str)
                .unwrap_or("quick_gelu")
                .to_string(),
        };
        let hidden_size = int(tc, "hidden_size")?;
        let num_attention_heads = int(tc, "num_attention_heads")?;
        let rope_theta = tc
            .get("rope_parameters")
            .and_then(|r| r.get("rope_theta"))
            .or_else(|| tc.get("rope_theta"))
            .and_then(Value::as_f64)
            .unwrap_or(10000.0);
        if let Some(kind) = tc
            .get("rope_parameters")
            .or_else(|| tc.get("rope_scaling"))
            .and_then(|r| r.get("rope_type").or_else(|| r.get("type")))
            .and_then(Value::as_str)
        {
            if kind != "default" {
                bail!("config.json: rope type `{kind}` is not supported (only `default`)");
            }
        }
        let text = TextConfig {
            vocab_size: int(tc, "vocab_size")?,
            hidden_size,
            intermediate_size: int(tc, "intermediate_size")?,
            num_hidden_layers: int(tc, "num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads: tc
                .get("num_key_value_heads")
                .and_then(Value::as_i64)
                .unwrap_or(num_attention_heads),
            head_dim: tc
                .get("head_dim")
                .and_then(Value::as_i64)
                .unwrap_or(hidden_size / num_attention_heads),
            rms_norm_eps: float(tc, "rms_norm_eps")?,
            rope_theta,
            max_position_embeddings: tc
                .get("max_position_embeddings")
                .and_then(Value::as_i64)
                .unwrap_or(4096),
            tie_word_embeddings: tc
                .get("tie_word_embeddings")
                .or_else(|| root.get("tie_word_embeddings"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        let image_token_id = root
            .get("image_token_id")
            .or_else(|| root.get("image_token_index"))
            .and_then(Value::as_i64)
            .context("config.json: missing `image_token_index` / `image_token_id`")?;
        let vision_feature_layer = root
            .get("vision_feature_layer")
            .and_then(Value::as_i64)
            .unwrap_or(-2);
        if let Some(strategy) = root
            .get("vision_feature_select_strategy")
            .and_then(Value::as_str)
        {
            if strategy != "default" {
                bail!("config.json: vision_feature_select_strategy `{strategy}` not supported");
            }
        }
        Ok(Self {
            vision,
            text,
            image_token_id,
            vision_feature_layer,
            projector_hidden_act: root
                .get("projector_hidden_act")
                .and_then(Value::as_str)
                .unwrap_or("gelu")
                .to_string(),
            projector_bias: root
                .get("multimodal_projector_bias")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
    }

    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        Self::from_json(&value).with_context(|| format!("{}", path.display()))
    }

    /// A `config.json` that transformers 5 reads as a `LlavaForConditionalGeneration`.
    pub fn to_json(&self) -> Value {
        let v = &self.vision;
        let t = &self.text;
        json!({
            "architectures": ["LlavaForConditionalGeneration"],
            "model_type": "llava",
            "dtype": "float32",
            "image_token_index": self.image_token_id,
            "image_seq_length": v.grid() * v.grid(),
            "projector_hidden_act": self.projector_hidden_act,
            "multimodal_projector_bias": self.projector_bias,
            "vision_feature_layer": self.vision_feature_layer,
            "vision_feature_select_strategy": "default",
            "tie_word_embeddings": t.tie_word_embeddings,
            "vision_config": {
                "model_type": "clip_vision_model",
                "hidden_size": v.hidden_size,
                "intermediate_size": v.intermediate_size,
                "num_attention_heads": v.num_attention_heads,
                "num_hidden_layers": v.num_hidden_layers,
                "image_size": v.image_size,
                "patch_size": v.patch_size,
                "num_channels": v.num_channels,
                "layer_norm_eps": v.layer_norm_eps,
                "hidden_act": v.hidden_act,
                "projection_dim": v.hidden_size,
            },
            "text_config": {
                "model_type": "llama",
                "vocab_size": t.vocab_size,
                "hidden_size": t.hidden_size,
                "intermediate_size": t.intermediate_size,
                "num_hidden_layers": t.num_hidden_layers,
                "num_attention_heads": t.num_attention_heads,
                "num_key_value_heads": t.num_key_value_heads,
                "head_dim": t.head_dim,
                "rms_norm_eps": t.rms_norm_eps,
                "rope_parameters": {"rope_theta": t.rope_theta, "rope_type": "default"},
                "max_position_embeddings": t.max_position_embeddings,
                "tie_word_embeddings": t.tie_word_embeddings,
                "hidden_act": "silu",
                "attention_bias": false,
                "mlp_bias": false,
                "bos_token_id": 1,
                "eos_token_id": 2,
            },
        })
    }

    /// A built-in model's configuration.
    pub fn preset(preset: Preset, vocab_size: i64, image_token_id: i64) -> Self {
        match preset {
            Preset::Tiny => Self::tiny(vocab_size, image_token_id),
            Preset::Small => Self::small(vocab_size, image_token_id),
            Preset::SevenBShapes => Self::llava_1_5_7b(image_token_id),
        }
    }

    /// LLaVA-1.5-7B (`llava-hf/llava-1.5-7b-hf` with the base vocabulary of 32,000): CLIP
    /// ViT-L/14 at 336 px, features of the penultimate layer, a two-layer GELU projector, and
    /// Vicuna-7B v1.5 (LLaMA-2 7B shapes).
    pub fn llava_1_5_7b(image_token_id: i64) -> Self {
        Self {
            vision: VisionConfig {
                hidden_size: 1024,
                intermediate_size: 4096,
                num_attention_heads: 16,
                num_hidden_layers: 24,
                image_size: 336,
                patch_size: 14,
                num_channels: 3,
                layer_norm_eps: 1e-5,
                hidden_act: "quick_gelu".into(),
            },
            text: TextConfig {
                vocab_size: 32000,
                hidden_size: 4096,
                intermediate_size: 11008,
                num_hidden_layers: 32,
                num_attention_heads: 32,
                num_key_value_heads: 32,
                head_dim: 128,
                rms_norm_eps: 1e-5,
                rope_theta: 10000.0,
                max_position_embeddings: 4096,
                tie_word_embeddings: false,
            },
            image_token_id,
            vision_feature_layer: -2,
            projector_hidden_act: "gelu".into(),
            projector_bias: true,
        }
    }

    /// Parameters of the model these shapes describe (transformers' `LlavaForConditionalGeneration`
    /// layout: every vision layer and the post-layernorm included), computed without
    /// allocating anything.
    pub fn parameter_count(&self) -> i64 {
        let v = &self.vision;
        let (h, i) = (v.hidden_size, v.intermediate_size);
        let patches = v.grid() * v.grid();
        let vision = h // class embedding
            + h * v.num_channels * v.patch_size * v.patch_size // patch embedding (no bias)
            + (patches + 1) * h // position embedding
            + 2 * h // pre-layernorm
            + v.num_hidden_layers * (4 * (h * h + h) + 4 * h + (h * i + i) + (i * h + h))
            + 2 * h; // post-layernorm
        let t = &self.text;
        let (th, ti) = (t.hidden_size, t.intermediate_size);
        let bias = |n: i64| if self.projector_bias { n } else { 0 };
        let projector = h * th + bias(th) + th * th + bias(th);
        let q = t.num_attention_heads * t.head_dim;
        let kv = t.num_key_value_heads * t.head_dim;
        let layer = th * q + 2 * th * kv + q * th + 3 * th * ti + 2 * th;
        let head = if t.tie_word_embeddings {
            0
        } else {
            t.vocab_size * th
        };
        let text = t.vocab_size * th + t.num_hidden_layers * layer + th + head;
        vision + projector + text
    }

    /// The `--preset small` model, for experiments on a CPU (the ablation study): 168 px
    /// images (12 x 12 patches), a 4-layer CLIP tower 192 wide, a 4-layer LLaMA 256 wide
    /// (8 heads of 32, MLP 688): ~1.8 M parameters in the vision layers and ~3.2 M in the
    /// LLM layers (embeddings aside).
    pub fn small(vocab_size: i64, image_token_id: i64) -> Self {
        let tiny = Self::tiny(vocab_size, image_token_id);
        Self {
            vision: VisionConfig {
                hidden_size: 192,
                intermediate_size: 768,
                num_attention_heads: 6,
                num_hidden_layers: 4,
                image_size: 168,
                ..tiny.vision
            },
            text: TextConfig {
                hidden_size: 256,
                intermediate_size: 688,
                num_hidden_layers: 4,
                num_attention_heads: 8,
                num_key_value_heads: 8,
                head_dim: 32,
                max_position_embeddings: 2048,
                ..tiny.text
            },
            ..tiny
        }
    }

    /// The `--preset tiny` model: trains on a CPU in minutes (112 px images, 8 x 8 patches).
    pub fn tiny(vocab_size: i64, image_token_id: i64) -> Self {
        Self {
            vision: VisionConfig {
                hidden_size: 64,
                intermediate_size: 128,
                num_attention_heads: 4,
                num_hidden_layers: 3,
                image_size: 112,
                patch_size: 14,
                num_channels: 3,
                layer_norm_eps: 1e-5,
                hidden_act: "quick_gelu".into(),
            },
            text: TextConfig {
                vocab_size,
                hidden_size: 128,
                intermediate_size: 256,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                num_key_value_heads: 4,
                head_dim: 32,
                rms_norm_eps: 1e-6,
                rope_theta: 10000.0,
                max_position_embeddings: 1024,
                tie_word_embeddings: false,
            },
            image_token_id,
            vision_feature_layer: -2,
            projector_hidden_act: "gelu".into(),
            projector_bias: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_b_shapes_have_llava_1_5_7b_parameter_count() {
        // LLaMA-2 7B: 6,738,415,616; CLIP ViT-L/14-336 vision model: 303,507,456; projector:
        // 20,979,712 (the published sizes).
        let cfg = LlavaConfig::llava_1_5_7b(32000 - 1);
        assert_eq!(
            cfg.parameter_count(),
            6_738_415_616 + 303_507_456 + 20_979_712
        );
        assert_eq!(cfg.vision.grid() * cfg.vision.grid(), 576);
        assert_eq!(LlavaConfig::from_json(&cfg.to_json()).unwrap(), cfg);
        // The formula describes msmu's model: it equals the allocated count of the presets.
        for preset in [Preset::Tiny, Preset::Small] {
            let cfg = LlavaConfig::preset(preset, 300, 4);
            let model = crate::llava::Llava::new(&cfg, tch::Device::Cpu);
            let allocated: i64 = model
                .vs
                .variables()
                .values()
                .map(|t| t.numel() as i64)
                .sum();
            assert_eq!(allocated, cfg.parameter_count(), "{preset:?}");
        }
    }

    #[test]
    fn json_round_trip() {
        let cfg = LlavaConfig::tiny(500, 4);
        assert_eq!(LlavaConfig::from_json(&cfg.to_json()).unwrap(), cfg);
    }

    #[test]
    fn presets_are_valid_and_round_trip() {
        for preset in [Preset::Tiny, Preset::Small] {
            let cfg = LlavaConfig::preset(preset, 500, 4);
            assert_eq!(LlavaConfig::from_json(&cfg.to_json()).unwrap(), cfg);
            assert_eq!(cfg.vision.image_size % cfg.vision.patch_size, 0);
            assert_eq!(cfg.vision.hidden_size % cfg.vision.num_attention_heads, 0);
            assert_eq!(
                cfg.text.head_dim * cfg.text.num_attention_heads,
                cfg.text.hidden_size
            );
        }
        assert_eq!(LlavaConfig::small(500, 4).vision.grid(), 12);
    }

    #[test]
    fn reads_transformers4_keys() {
        let mut v = LlavaConfig::tiny(500, 4).to_json();
        let tc = v["text_config"].as_object_mut().unwrap();
        tc.remove("rope_parameters");
        tc.insert("rope_theta".into(), json!(500000.0));
        let cfg = LlavaConfig::from_json(&v).unwrap();
        assert_eq!(cfg.text.rope_theta, 500000.0);
        assert_eq!(cfg.image_token_id, 4);
    }
}
