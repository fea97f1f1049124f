//! Training precision (`msmu train --precision auto|bf16|fp16|fp32`).
//!
//! tch exposes libtorch's autocast switch but not its dtype (CUDA autocast is always float16
//! there, and there is no grad scaler), so msmu does what PyTorch + PEFT users do when they load
//! the base model with `torch_dtype=torch.bfloat16`: the **frozen** weights (vision tower, LLM,
//! embeddings, LM head) are stored and multiplied in the low precision, while the **trainable**
//! ones (LoRA A/B, projector) stay float32 master weights, and every adapter computes in
//! float32 and adds its delta to the base output (PEFT's `LoraLayer.forward`). Norms compute
//! their statistics in float32 (transformers' `LlamaRMSNorm`), the loss is taken in float32.
//!
//! - `bf16`: no loss scaling needed (float32's exponent range).
//! - `fp16`: a dynamic loss scaler ([`LossScaler`], PyTorch `GradScaler`'s defaults): the loss
//!   is multiplied by the scale before `backward`, gradients are unscaled before clipping, and a
//!   step whose gradients are not finite is skipped and halves the scale; 2,000 good steps in a
//!   row double it.
//! - `fp32`: everything in float32.
//! - `auto` (default): bf16 on CUDA, fp32 on the CPU; `MSMU_AUTOCAST=0` (the older switch)
//!   still forces fp32.
//!
//! Halving the frozen weights also halves their memory: the 7B LLM takes 13.5 GB in bf16.

use tch::{Device, Kind, Tensor};

/// The dtype of the frozen weights and of the activations between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Fp32,
    Bf16,
    Fp16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Precision::Fp32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
            Precision::Fp16 => Kind::Half,
        }
    }

    /// `auto`, `bf16`, `fp16` or `fp32` (also `float32`, `bfloat16`, `float16`, `half`).
    pub fn parse(spec: &str) -> anyhow::Result<Option<Precision>> {
        Ok(Some(match spec.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => return Ok(None),
            "fp32" | "float32" | "float" => Precision::Fp32,
            "bf16" | "bfloat16" => Precision::Bf16,
            "fp16" | "float16" | "half" => Precision::Fp16,
            other => anyhow::bail!("--precision {other:?}: expected auto, bf16, fp16 or fp32"),
        }))
    }

    /// The precision to train with: the one asked for, else bf16 on CUDA and fp32 on the CPU
    /// (fp32 on CUDA too when `MSMU_AUTOCAST=0`).
    pub fn resolve(asked: Option<Precision>, device: Device) -> Precision {
        match asked {
            Some(p) => p,
            None if device.is_cuda() && !autocast_disabled() => Precision::Bf16,
            None => Precision::Fp32,
        }
    }
}

fn autocast_disabled() -> bool {
    matches!(
        std::env::var(crate::AUTOCAST_ENV).as_deref().map(str::trim),
        Ok("0") | Ok("false") | Ok("off") | Ok("no")
    )
}

/// Casts every frozen variable (`requires_grad == false`) of `vars` to `kind` in place (the
/// modules hold shallow clones of the same tensors, so they see the new dtype). Trainable
/// variables keep their dtype (float32 master weights).
pub fn cast_frozen<'a>(vars: impl IntoIterator<Item = &'a Tensor>, kind: Kind) {
    tch::no_grad(|| {
        for var in vars {
            if !var.requires_grad() && var.is_floating_point() && var.kind() != kind {
                let mut v = var.shallow_clone();
                v.set_data(&var.to_kind(kind));
            }
        }
    });
}

/// PyTorch `torch.amp.GradScaler`'s dynamic loss scaling for fp16 training.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossScaler {
    pub scale: f64,
    pub growth_factor: f64,
    pub backoff_factor: f64,
    pub growth_interval: usize,
    /// Finite steps in a row since the last change of scale.
    pub good_steps: usize,
    /// Steps skipped because of non-finite gradients.
    pub skipped: usize,
}

impl Default for LossScaler {
    fn default() -> Self {
        LossScaler {
            scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
            good_steps: 0,
            skipped: 0,
        }
    }
}

impl LossScaler {
    /// Divides `grads` (the optimizer's [`crate::optim::AdamW::grads`]) by the scale, in
    /// place, and says whether all are finite.
    pub fn unscale(&self, grads: &[Tensor]) -> bool {
        let inv = 1.0 / self.scale;
        tch::no_grad(|| {
            let mut finite = true;
            for g in grads {
                if !g.defined() {
                    continue;
                }
                let _ = g.shallow_clone().g_mul_scalar_(inv);
                if finite {
                    finite = bool::try_from(g.isfinite().all()).unwrap_or(false);
                }
            }
            finite
        })
    }

    /// Records the outcome of a step: a non-finite one backs off (the caller skips the update),
    /// `growth_interval` finite ones in a row grow the scale.
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.good_steps += 1;
            if self.good_steps >= self.growth_interval {
                self.scale *= self.growth_factor;
                self.good_steps = 0;
            }
        } else {
            self.scale *= self.backoff_factor;
            self.good_steps = 0;
            self.skipped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_resolve() {
        assert_eq!(Precision::parse("auto").unwrap(), None);
        assert_eq!(Precision::parse("BF16").unwrap(), Some(Precision::Bf16));
        assert_eq!(Precision::parse("half").unwrap(), Some(Precision::Fp16));
        assert!(Precision::parse("fp8").is_err());
        assert_eq!(Precision::resolve(None, Device::Cpu), Precision::Fp32);
        assert_eq!(
            Precision::resolve(Some(Precision::Bf16), Device::Cpu),
            Precision::Bf16
        );
    }

    #[test]
    fn scaler_skips_non_finite_steps_and_grows_after_good_ones() {
        let p = Tensor::ones([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut scaler = LossScaler {
            growth_interval: 2,
            ..LossScaler::default()
        };
        // A finite gradient is divided by the scale.
        (&p * scaler.scale).sum(Kind::Float).backward();
        assert!(scaler.unscale(std::slice::from_ref(&p.grad())));
        assert_eq!(Vec::<f32>::try_from(p.grad()).unwrap(), vec![1.0; 3]);
        scaler.update(true);
        assert_eq!((scaler.scale, scaler.good_steps), (65536.0, 1));
        scaler.update(true);
        assert_eq!((scaler.scale, scaler.good_steps), (131072.0, 0));
        // An overflow (inf) is reported, halves the scale and counts a skipped step.
        let _ = p.grad().zero_();
        (&p * f64::INFINITY).sum(Kind::Float).backward();
        let finite = scaler.unscale(std::slice::from_ref(&p.grad()));
        assert!(!finite);
        scaler.update(finite);
        assert_eq!((scaler.scale, scaler.skipped), (65536.0, 1));
    }

    #[test]
    fn cast_frozen_keeps_trainable_float32() {
        let frozen = Tensor::ones([2, 2], (Kind::Float, Device::Cpu));
        let trainable = Tensor::ones([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let held = frozen.shallow_clone();
        cast_frozen([&frozen, &trainable], Kind::BFloat16);
        assert_eq!(
            held.kind(),
            Kind::BFloat16,
            "a module's clone sees the cast"
        );
        assert_eq!(trainable.kind(), Kind::Float);
    }
}
