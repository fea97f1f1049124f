//! The CLIP ViT vision tower (transformers `CLIPVisionTransformer`), frozen. Variable names
//! follow the checkpoint under `model.vision_tower.vision_model`; [`ClipVision::features`]
//! returns the hidden state of `vision_feature_layer` (-2: the penultimate layer) with the
//! CLS token dropped, which is what LLaVA feeds its projector.

use tch::{nn, Tensor};

use crate::config::VisionConfig;
use crate::lora::Linear;

#[derive(Debug)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(p: &nn::Path, dim: i64, eps: f64) -> Self {
        Self {
            weight: p.ones_no_train("weight", &[dim]),
            bias: p.zeros_no_train("bias", &[dim]),
            eps,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let dim = *x
            .size()
            .last()
            .expect("layer norm input has a last dimension");
        x.layer_norm([dim], Some(&self.weight), Some(&self.bias), self.eps, false)
    }
}

#[derive(Debug)]
struct EncoderLayer {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    layer_norm1: LayerNorm,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    heads: i64,
    quick_gelu: bool,
}

impl EncoderLayer {
    fn new(p: &nn::Path, cfg: &VisionConfig) -> Self {
        let d = cfg.hidden_size;
        let attn = p / "self_attn";
        let mlp = p / "mlp";
        Self {
            q_proj: Linear::new(&(&attn / "q_proj"), d, d, true),
            k_proj: Linear::new(&(&attn / "k_proj"), d, d, true),
            v_proj: Linear::new(&(&attn / "v_proj"), d, d, true),
            out_proj: Linear::new(&(&attn / "out_proj"), d, d, true),
            layer_norm1: LayerNorm::new(&(p / "layer_norm1"), d, cfg.layer_norm_eps),
            layer_norm2: LayerNorm::new(&(p / "layer_norm2"), d, cfg.layer_norm_eps),
            fc1: Linear::new(&(&mlp / "fc1"), d, cfg.intermediate_size, true),
            fc2: Linear::new(&(&mlp / "fc2"), cfg.intermediate_size, d, true),
            heads: cfg.num_attention_heads,
            quick_gelu: cfg.hidden_act == "quick_gelu",
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let (b, n, d) = x.size3().expect("[batch, tokens, hidden]");
        let hd = d / self.heads;
        let h = self.layer_norm1.forward(x);
        let split = |t: Tensor| t.view([b, n, self.heads, hd]).transpose(1, 2);
        let q = split(self.q_proj.forward(&h, false));
        let k = split(self.k_proj.forward(&h, false));
        let v = split(self.v_proj.forward(&h, false));
        let attn = Tensor::scaled_dot_product_attention::<Tensor>(
            &q,
            &k,
            &v,
            None,
            0.0,
            false,
            None::<f64>,
            false,
        );
        let attn = attn.transpose(1, 2).reshape([b, n, d]);
        let x = x + self.out_proj.forward(&attn, false);
        let h = self.fc1.forward(&self.layer_norm2.forward(&x), false);
        let h = if self.quick_gelu {
            &h * (&h * 1.702).sigmoid()
        } else {
            h.gelu("none")
        };
        x + self.fc2.forward(&h, false)
    }
}

/// The vision tower. Its weights are never trained.
#[derive(Debug)]
pub struct ClipVision {
    patch_embedding: Tensor,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_layrnorm: LayerNorm,
    layers: Vec<EncoderLayer>,
    /// Loaded for checkpoint completeness; LLaVA's features skip it.
    _post_layernorm: LayerNorm,
    cfg: VisionConfig,
    feature_layer: i64,
}

impl ClipVision {
    /// `p` is `model.vision_tower.vision_model`.
    pub fn new(p: &nn::Path, cfg: &VisionConfig, feature_layer: i64) -> Self {
        let d = cfg.hidden_size;
        let emb = p / "embeddings";
        let n_positions = cfg.grid() * cfg.grid() + 1;
        let enc = p / "encoder" / "layers";
        Self {
            patch_embedding: (&emb / "patch_embedding").zeros_no_train(
                "weight",
                &[d, cfg.num_channels, cfg.patch_size, cfg.patch_size],
            ),
            class_embedding: emb.zeros_no_train("class_embedding", &[d]),
            position_embedding: (&emb / "position_embedding")
                .zeros_no_train("weight", &[n_positions, d]),
            pre_layrnorm: LayerNorm::new(&(p / "pre_layrnorm"), d, cfg.layer_norm_eps),
            layers: (0..cfg.num_hidden_layers)
                .map(|i| EncoderLayer::new(&(&enc / i), cfg))
                .collect(),
            _post_layernorm: LayerNorm::new(&(p / "post_layernorm"), d, cfg.layer_norm_eps),
            cfg: cfg.clone(),
            feature_layer,
        }
    }

    /// `pixel_values` `[B, 3, S, S]` (CLIP-normalised) -> `[B, grid*grid, hidden]`.
    pub fn features(&self, pixel_values: &Tensor) -> Tensor {
        let b = pixel_values.size()[0];
        let d = self.cfg.hidden_size;
        let patches = pixel_values
            .to_kind(self.patch_embedding.kind())
            .conv2d::<Tensor>(
                &self.patch_embedding,
                None,
                [self.cfg.patch_size; 2],
                [0, 0],
                [1, 1],
                1,
            )
            .flatten(2, 3)
            .transpose(1, 2);
        let cls = self
            .class_embedding
            .view([1, 1, d])
            .expand([b, 1, d], false);
        let x = Tensor::cat(&[cls, patches], 1) + self.position_embedding.unsqueeze(0);
        // hidden_states[0] is the embedding output; hidden_states[k] the output of layer k.
        let n_layers = self.layers.len() as i64;
        let wanted = if self.feature_layer < 0 {
            n_layers + 1 + self.feature_layer
        } else {
            self.feature_layer
        };
        let mut x = self.pre_layrnorm.forward(&x);
        for layer in self.layers.iter().take(wanted as usize) {
            x = layer.forward(&x);
        }
        x.narrow(1, 1, x.size()[1] - 1)
    }
}
