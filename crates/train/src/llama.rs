//! The LLaMA decoder (transformers `LlamaModel`): RMSNorm, rotary position embeddings
//! (rotate-half convention), grouped-query attention, SwiGLU MLP, and a key/value cache for
//! generation. Variable names follow the checkpoint under `model.language_model`. LoRA
//! adapters attach to the linears named in [`LoraConfig::target_modules`].

use tch::{nn, Device, Kind, Tensor};

use crate::config::TextConfig;
use crate::lora::{Linear, LoraConfig};

#[derive(Debug)]
pub struct RmsNorm {
    pub weight: Tensor,
    pub eps: f64,
}

impl RmsNorm {
    pub fn new(p: &nn::Path, dim: i64, eps: f64) -> Self {
        Self {
            weight: p.ones_no_train("weight", &[dim]),
            eps,
        }
    }

    /// As transformers: normalise in fp32, cast back, then scale.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let kind = x.kind();
        let h = x.to_kind(Kind::Float);
        let variance = h.pow_tensor_scalar(2).mean_dim(-1i64, true, Kind::Float);
        let h = h * (variance + self.eps).rsqrt();
        &self.weight * h.to_kind(kind)
    }
}

/// Cached keys and values of every layer, `[B, kv_heads, T, head_dim]` each.
#[derive(Debug, Default)]
pub struct KvCache {
    pub layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn new(n_layers: usize) -> Self {
        Self {
            layers: (0..n_layers).map(|_| None).collect(),
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> i64 {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |(k, _)| k.size()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rotary tables for positions `start .. start + len`: `(cos, sin)`, `[len, head_dim]`.
pub fn rotary(cfg: &TextConfig, start: i64, len: i64, device: Device) -> (Tensor, Tensor) {
    let hd = cfg.head_dim;
    // inv_freq = 1 / theta^(2i/d), computed in fp32 as transformers does.
    let exponent =
        Tensor::arange_start_step(0, hd, 2, (Kind::Int64, device)).to_kind(Kind::Float) / hd as f64;
    let inv_freq = Tensor::from(cfg.rope_theta as f32)
        .to_device(device)
        .pow(&exponent)
        .reciprocal();
    let positions =
        Tensor::arange_start(start, start + len, (Kind::Int64, device)).to_kind(Kind::Float);
    let freqs = positions.unsqueeze(1).matmul(&inv_freq.unsqueeze(0));
    let emb = Tensor::cat(&[&freqs, &freqs], -1);
    (emb.cos(), emb.sin())
}

fn rotate_half(x: &Tensor) -> Tensor {
    let half = x.size()[x.dim() - 1] / 2;
    let x1 = x.narrow(-1, 0, half);
    let x2 = x.narrow(-1, half, half);
    Tensor::cat(&[x2.neg(), x1], -1)
}

fn apply_rotary(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
    let kind = x.kind();
    (x * cos.to_kind(kind)) + rotate_half(x) * sin.to_kind(kind)
}

#[derive(Debug)]
pub struct DecoderLayer {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
    heads: i64,
    kv_heads: i64,
    head_dim: i64,
}

impl DecoderLayer {
    fn new(p: &nn::Path, cfg: &TextConfig) -> Self {
        let d = cfg.hidden_size;
        let hd = cfg.head_dim;
        let attn = p / "self_attn";
        let mlp = p / "mlp";
        Self {
            q_proj: Linear::new(&(&attn / "q_proj"), d, cfg.num_attention_heads * hd, false),
            k_proj: Linear::new(&(&attn / "k_proj"), d, cfg.num_key_value_heads * hd, false),
            v_proj: Linear::new(&(&attn / "v_proj"), d, cfg.num_key_value_heads * hd, false),
            o_proj: Linear::new(&(&attn / "o_proj"), cfg.num_attention_heads * hd, d, false),
            gate_proj: Linear::new(&(&mlp / "gate_proj"), d, cfg.intermediate_size, false),
            up_proj: Linear::new(&(&mlp / "up_proj"), d, cfg.intermediate_size, false),
            down_proj: Linear::new(&(&mlp / "down_proj"), cfg.intermediate_size, d, false),
            input_layernorm: RmsNorm::new(&(p / "input_layernorm"), d, cfg.rms_norm_eps),
            post_attention_layernorm: RmsNorm::new(
                &(p / "post_attention_layernorm"),
                d,
                cfg.rms_norm_eps,
            ),
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: hd,
        }
    }

    /// The linears by module name, for attaching adapters.
    pub fn linears_mut(&mut self) -> [(&'static str, &mut Linear); 7] {
        [
            ("q_proj", &mut self.q_proj),
            ("k_proj", &mut self.k_proj),
            ("v_proj", &mut self.v_proj),
            ("o_proj", &mut self.o_proj),
            ("gate_proj", &mut self.gate_proj),
            ("up_proj", &mut self.up_proj),
            ("down_proj", &mut self.down_proj),
        ]
    }

    pub fn linears(&self) -> [&Linear; 7] {
        [
            &self.q_proj,
            &self.k_proj,
            &self.v_proj,
            &self.o_proj,
            &self.gate_proj,
            &self.up_proj,
            &self.down_proj,
        ]
    }

    fn forward(
        &self,
        x: &Tensor,
        rope: &(Tensor, Tensor),
        cache: Option<&mut Option<(Tensor, Tensor)>>,
        train: bool,
    ) -> Tensor {
        let (b, l, _) = x.size3().expect("[batch, len, hidden]");
        let h = self.input_layernorm.forward(x);
        let q = self
            .q_proj
            .forward(&h, train)
            .view([b, l, self.heads, self.head_dim])
            .transpose(1, 2);
        let k = self
            .k_proj
            .forward(&h, train)
            .view([b, l, self.kv_heads, self.head_dim])
            .transpose(1, 2);
        let v = self
            .v_proj
            .forward(&h, train)
            .view([b, l, self.kv_heads, self.head_dim])
            .transpose(1, 2);
        let q = apply_rotary(&q, &rope.0, &rope.1);
        let mut k = apply_rotary(&k, &rope.0, &rope.1);
        let mut v = v;
        let mut had_past = false;
        if let Some(slot) = cache {
            if let Some((pk, pv)) = slot.as_ref() {
                had_past = true;
                k = Tensor::cat(&[pk, &k], 2);
                v = Tensor::cat(&[pv, &v], 2);
            }
            *slot = Some((k.shallow_clone(), v.shallow_clone()));
        }
        assert!(
            !had_past || l == 1,
            "cached decoding takes one token at a time"
        );
        // Right padding only: real tokens never see padding under a causal mask.
        let attn = attend(&q, &k, &v, self.heads / self.kv_heads, !had_past && l > 1);
        let attn = attn
            .transpose(1, 2)
            .reshape([b, l, self.heads * self.head_dim]);
        let x = x + self.o_proj.forward(&attn, train);
        let h = self.post_attention_layernorm.forward(&x);
        let act = self.gate_proj.forward(&h, train).silu() * self.up_proj.forward(&h, train);
        x + self.down_proj.forward(&act, train)
    }
}

/// Multi-head attention of `q` `[b, heads, l, d]` over `k`, `v` `[b, kv_heads, s, d]` (each
/// key/value head shared by `groups` query heads), through libtorch's scaled-dot-product
/// attention: flash or memory-efficient kernels on CUDA (no `l x s` score matrix kept for
/// backward), the fused CPU kernel otherwise. `causal`: the upper-left causal mask.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, groups: i64, causal: bool) -> Tensor {
    let (k, v) = if groups > 1 {
        (
            k.repeat_interleave_self_int(groups, 1, None),
            v.repeat_interleave_self_int(groups, 1, None),
        )
    } else {
        (k.shallow_clone(), v.shallow_clone())
    };
    Tensor::scaled_dot_product_attention::<Tensor>(q, &k, &v, None, 0.0, causal, None::<f64>, false)
}

#[derive(Debug)]
pub struct Llama {
    pub embed_tokens: Tensor,
    pub layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    pub cfg: TextConfig,
}

impl Llama {
    /// `p` is `model.language_model`.
    pub fn new(p: &nn::Path, cfg: &TextConfig) -> Self {
        let layers_path = p / "layers";
        Self {
            embed_tokens: (p / "embed_tokens")
                .zeros_no_train("weight", &[cfg.vocab_size, cfg.hidden_size]),
            layers: (0..cfg.num_hidden_layers)
                .map(|i| DecoderLayer::new(&(&layers_path / i), cfg))
                .collect(),
            norm: RmsNorm::new(&(p / "norm"), cfg.hidden_size, cfg.rms_norm_eps),
            cfg: cfg.clone(),
        }
    }

    /// Attaches LoRA adapters; `p` is `model.language_model` (same as in [`Llama::new`]).
    pub fn add_lora(&mut self, p: &nn::Path, lora: &LoraConfig) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let lp = p / "layers" / i;
            for (name, linear) in layer.linears_mut() {
                if lora.targets(name) {
                    let group = if matches!(name, "gate_proj" | "up_proj" | "down_proj") {
                        "mlp"
                    } else {
                        "self_attn"
                    };
                    linear.add_lora(&(&lp / group / name), lora);
                }
            }
        }
    }

    pub fn embed(&self, input_ids: &Tensor) -> Tensor {
        Tensor::embedding(&self.embed_tokens, input_ids, -1, false, false)
    }

    /// `[B, L, D]` embeddings -> final-normed hidden states `[B, L, D]`. With a cache, the
    /// positions continue after the cached ones.
    pub fn forward_embeds(
        &self,
        embeds: &Tensor,
        mut cache: Option<&mut KvCache>,
        train: bool,
    ) -> Tensor {
        let l = embeds.size()[1];
        let start = cache.as_ref().map_or(0, |c| c.len());
        let rope = rotary(&self.cfg, start, l, embeds.device());
        let mut x = embeds.shallow_clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let slot = cache.as_mut().map(|c| &mut c.layers[i]);
            x = layer.forward(&x, &rope, slot, train);
        }
        self.norm.forward(&x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The textbook attention (transformers' `eager_attention_forward`): softmax(q k^T / sqrt(d)
    /// + causal mask) v, with each key/value head repeated for its query heads.
    fn eager(q: &Tensor, k: &Tensor, v: &Tensor, groups: i64, causal: bool) -> Tensor {
        let k = k.repeat_interleave_self_int(groups, 1, None);
        let v = v.repeat_interleave_self_int(groups, 1, None);
        let d = *q.size().last().unwrap() as f64;
        let mut scores = q.matmul(&k.transpose(-2, -1)) / d.sqrt();
        if causal {
            let (l, s) = (q.size()[2], k.size()[2]);
            let mask = Tensor::ones([l, s], (Kind::Bool, q.device())).triu(1);
            scores = scores.masked_fill(&mask, f64::NEG_INFINITY);
        }
        scores.softmax(-1, Kind::Float).to_kind(q.kind()).matmul(&v)
    }

    #[test]
    fn sdpa_matches_eager_attention_with_grouped_heads_and_causal_mask() {
        tch::manual_seed(5);
        let opts = (Kind::Float, Device::Cpu);
        let q = Tensor::randn([2, 8, 13, 16], opts).set_requires_grad(true);
        let k = Tensor::randn([2, 2, 13, 16], opts).set_requires_grad(true);
        let v = Tensor::randn([2, 2, 13, 16], opts).set_requires_grad(true);
        for causal in [true, false] {
            let a = attend(&q, &k, &v, 4, causal);
            let b = eager(&q, &k, &v, 4, causal);
            let diff = (&a - &b).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "forward, causal {causal}: {diff}");
            // Gradients too (training goes through the fused backward).
            let ga = Tensor::run_backward(&[a.sum(Kind::Float)], &[&q, &k, &v], false, false);
            let gb = Tensor::run_backward(&[b.sum(Kind::Float)], &[&q, &k, &v], false, false);
            for (x, y) in ga.iter().zip(&gb) {
                let diff = (x - y).abs().max().double_value(&[]);
                assert!(diff < 1e-4, "backward, causal {causal}: {diff}");
            }
        }
        // One query over a cache (decoding): no mask.
        let q1 = q.narrow(2, 12, 1);
        let diff = (attend(&q1, &k, &v, 4, false) - eager(&q1, &k, &v, 4, false))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-5, "decoding step: {diff}");
    }
}
