//! Linear layers with an optional LoRA adapter (Hu et al. 2021), in the PEFT convention:
//! `y = x W^T + b + dropout(x) A^T B^T * (alpha / r)`, `A` Kaiming-uniform, `B` zero, so a
//! fresh adapter leaves the model unchanged. The base weight never gets a gradient.

use tch::{nn, Kind, Tensor};

/// LoRA hyper-parameters (PEFT `LoraConfig`). Defaults are the SD-VLM recipe.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
    pub rank: i64,
    pub alpha: f64,
    pub dropout: f64,
    /// Module names (last path component) of the LLM linears that get an adapter.
    pub target_modules: Vec<String>,
}

/// Every linear layer of a LLaMA block.
pub const ALL_LLM_LINEARS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 128,
            alpha: 256.0,
            dropout: 0.05,
            target_modules: ALL_LLM_LINEARS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl LoraConfig {
    pub fn scaling(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    pub fn targets(&self, module: &str) -> bool {
        self.target_modules.iter().any(|t| t == module)
    }
}

/// The two low-rank factors of one adapted layer.
#[derive(Debug)]
pub struct LoraAdapter {
    /// `[r, in]`, PEFT name `<module>.lora_A.weight`.
    pub a: Tensor,
    /// `[out, r]`, PEFT name `<module>.lora_B.weight`.
    pub b: Tensor,
    pub scaling: f64,
    pub dropout: f64,
}

/// `nn::Linear` with the checkpoint's names (`weight`, `bias`) and an optional adapter.
#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub lora: Option<LoraAdapter>,
    /// Full variable-store path of the module (used for adapter file names).
    pub path: String,
}

impl Linear {
    /// Creates a frozen base layer (weights filled later by loading or random init).
    pub fn new(p: &nn::Path, in_dim: i64, out_dim: i64, bias: bool) -> Self {
        let weight = p.zeros_no_train("weight", &[out_dim, in_dim]);
        let bias = bias.then(|| p.zeros_no_train("bias", &[out_dim]));
        Self {
            weight,
            bias,
            lora: None,
            path: p.components().collect::<Vec<_>>().join("."),
        }
    }

    /// Creates a trainable layer (the projector).
    pub fn trainable(p: &nn::Path, in_dim: i64, out_dim: i64, bias: bool) -> Self {
        let weight = p.zeros("weight", &[out_dim, in_dim]);
        let bias = bias.then(|| p.zeros("bias", &[out_dim]));
        Self {
            weight,
            bias,
            lora: None,
            path: p.components().collect::<Vec<_>>().join("."),
        }
    }

    /// Attaches a trainable adapter; `p` is this layer's path.
    pub fn add_lora(&mut self, p: &nn::Path, cfg: &LoraConfig) {
        let out_dim = self.weight.size()[0];
        let in_dim = self.weight.size()[1];
        // PEFT: kaiming_uniform_(A, a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); B = 0.
        let bound = 1.0 / (in_dim as f64).sqrt();
        let a = p
            .sub("lora_A")
            .uniform("weight", &[cfg.rank, in_dim], -bound, bound);
        let b = p.sub("lora_B").zeros("weight", &[out_dim, cfg.rank]);
        self.lora = Some(LoraAdapter {
            a,
            b,
            scaling: cfg.scaling(),
            dropout: cfg.dropout,
        });
    }

    /// The input is cast to the weight's dtype (frozen weights may be bf16 / fp16, see
    /// [`crate::precision`]); an adapter computes in its own dtype (float32) and its delta is
    /// added to the base output in that dtype, then cast back (PEFT's `LoraLayer.forward`).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let y = x
            .to_kind(self.weight.kind())
            .linear(&self.weight, self.bias.as_ref());
        match &self.lora {
            None => y,
            Some(l) => {
                let x = x.to_kind(l.a.kind());
                let dropped = if train && l.dropout > 0.0 {
                    x.dropout(l.dropout, true)
                } else {
                    x
                };
                let delta = dropped
                    .linear::<Tensor>(&l.a, None)
                    .linear::<Tensor>(&l.b, None);
                let kind = y.kind();
                (y.to_kind(delta.kind()) + delta * l.scaling).to_kind(kind)
            }
        }
    }
}

/// Kaiming-style random init of a frozen base weight (the tiny preset).
pub fn init_normal(t: &Tensor, std: f64) {
    tch::no_grad(|| {
        let mut t = t.shallow_clone();
        let r = Tensor::randn(t.size(), (Kind::Float, t.device())) * std;
        t.copy_(&r.to_kind(t.kind()));
    });
}
