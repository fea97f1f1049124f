//! The optimizer: AdamW as `torch.optim.AdamW` (betas 0.9/0.999, eps 1e-8, decoupled weight
//! decay) with one base learning rate per parameter, and global-norm gradient clipping as
//! `torch.nn.utils.clip_grad_norm_`. The moments are kept by parameter name, the form
//! [`crate::checkpoint::save_optimizer`] writes.

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

/// AdamW over named parameters.
pub struct AdamW {
    /// (name, tensor, base learning rate).
    pub params: Vec<(String, Tensor, f64)>,
    /// First and second moments by parameter name.
    pub moments: BTreeMap<String, (Tensor, Tensor)>,
    pub weight_decay: f64,
    /// Steps taken (for the bias corrections).
    pub step: usize,
}

impl AdamW {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    /// `params`: (name, tensor, base learning rate).
    pub fn new(params: Vec<(String, Tensor, f64)>, weight_decay: f64) -> Self {
        let moments = params
            .iter()
            .map(|(n, p, _)| (n.clone(), (p.zeros_like(), p.zeros_like())))
            .collect();
        Self {
            params,
            moments,
            weight_decay,
            step: 0,
        }
    }

    /// Global gradient norm, clipped to `max_norm` in place (torch `clip_grad_norm_`).
    pub fn clip_grad_norm(&self, max_norm: f64) -> f64 {
        let grads: Vec<Tensor> = self
            .params
            .iter()
            .map(|(_, p, _)| p.grad())
            .filter(|g| g.defined())
            .collect();
        if grads.is_empty() {
            return 0.0;
        }
        let total = tch::no_grad(|| {
            let sq: Vec<Tensor> = grads
                .iter()
                .map(|g| g.to_kind(Kind::Float).pow_tensor_scalar(2).sum(Kind::Float))
                .collect();
            Tensor::stack(&sq, 0)
                .sum(Kind::Float)
                .sqrt()
                .double_value(&[])
        });
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            tch::no_grad(|| {
                for g in &grads {
                    let _ = g.shallow_clone().g_mul_scalar_(coef);
                }
            });
        }
        total
    }

    /// One update with every base learning rate times `lr_factor` (the schedule's).
    pub fn step(&mut self, lr_factor: f64) {
        self.step += 1;
        let (b1, b2, eps) = (Self::BETA1, Self::BETA2, Self::EPS);
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| {
            for (name, p, base_lr) in &self.params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let lr = base_lr * lr_factor;
                let mut p = p.shallow_clone();
                let (m, v) = self
                    .moments
                    .get_mut(name)
                    .expect("moments for every parameter");
                if self.weight_decay != 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - lr * self.weight_decay);
                }
                let _ = m.g_mul_scalar_(b1);
                let _ = m.g_add_(&(&g * (1.0 - b1)));
                let _ = v.g_mul_scalar_(b2);
                let _ = v.g_add_(&(g.square() * (1.0 - b2)));
                let denom = v.sqrt() / bc2.sqrt() + eps;
                let _ = p.g_sub_(&(m.shallow_clone() / denom * (lr / bc1)));
            }
        });
    }

    pub fn zero_grad(&self) {
        for (_, p, _) in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1-element f64 parameter.
    fn scalar(value: f64) -> Tensor {
        Tensor::from_slice(&[value]).set_requires_grad(true)
    }

    /// Sets the gradient of `p` to `g` (through the loss `g p`).
    fn set_grad(p: &Tensor, g: f64) {
        (p * g).sum(Kind::Double).backward();
    }

    #[test]
    fn steps_follow_the_closed_form() {
        let (lr, wd) = (0.1, 0.01);
        let p = scalar(1.5);
        let mut opt = AdamW::new(vec![("w".into(), p.shallow_clone(), lr)], wd);
        // Closed form of torch.optim.AdamW, in f64.
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (mut x, mut m, mut v) = (1.5f64, 0.0f64, 0.0f64);
        for (t, (g, factor)) in [(0.4, 1.0), (-2.0, 0.5), (0.7, 0.25)]
            .into_iter()
            .enumerate()
        {
            set_grad(&p, g);
            opt.step(factor);
            opt.zero_grad();
            let t = t as i32 + 1;
            let lr_t = lr * factor;
            x *= 1.0 - lr_t * wd;
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let m_hat = m / (1.0 - b1.powi(t));
            let denom = (v.sqrt() / (1.0 - b2.powi(t)).sqrt()) + eps;
            x -= lr_t * m_hat / denom;
            let got = p.double_value(&[0]);
            assert!((got - x).abs() < 1e-12, "step {t}: {got} vs {x}");
        }
        assert_eq!(opt.step, 3);
        let (m_t, v_t) = &opt.moments["w"];
        assert!((m_t.double_value(&[0]) - m).abs() < 1e-12);
        assert!((v_t.double_value(&[0]) - v).abs() < 1e-12);
    }

    #[test]
    fn first_step_moves_by_the_learning_rate() {
        // Bias correction makes the first step sign(g) * lr whatever |g| is.
        for g in [1e-3, 5.0, -30.0] {
            let p = scalar(0.0);
            let mut opt = AdamW::new(vec![("w".into(), p.shallow_clone(), 0.01)], 0.0);
            set_grad(&p, g);
            opt.step(1.0);
            let expected = -0.01 * g / (g.abs() + 1e-8);
            assert!((p.double_value(&[0]) - expected).abs() < 1e-12, "g = {g}");
        }
    }

    #[test]
    fn parameters_without_gradient_stay() {
        let (a, b) = (scalar(1.0), scalar(2.0));
        let mut opt = AdamW::new(
            vec![
                ("a".into(), a.shallow_clone(), 0.1),
                ("b".into(), b.shallow_clone(), 0.1),
            ],
            0.5,
        );
        set_grad(&a, 1.0);
        opt.step(1.0);
        assert!(a.double_value(&[0]) < 1.0);
        assert_eq!(b.double_value(&[0]), 2.0, "no gradient: no decay either");
    }

    #[test]
    fn clipping_scales_to_the_global_norm() {
        let (a, b) = (scalar(0.0), scalar(0.0));
        let opt = AdamW::new(
            vec![
                ("a".into(), a.shallow_clone(), 0.1),
                ("b".into(), b.shallow_clone(), 0.1),
            ],
            0.0,
        );
        set_grad(&a, 3.0);
        set_grad(&b, -4.0);
        // Under the limit: untouched.
        assert!((opt.clip_grad_norm(10.0) - 5.0).abs() < 1e-6);
        assert_eq!(a.grad().double_value(&[0]), 3.0);
        // Over it: both scaled by max / (norm + 1e-6).
        assert!((opt.clip_grad_norm(1.0) - 5.0).abs() < 1e-6);
        let coef = 1.0 / (5.0 + 1e-6);
        assert!((a.grad().double_value(&[0]) - 3.0 * coef).abs() < 1e-9);
        assert!((b.grad().double_value(&[0]) + 4.0 * coef).abs() < 1e-9);
        opt.zero_grad();
        assert_eq!(opt.clip_grad_norm(1.0), 0.0);
    }
}
