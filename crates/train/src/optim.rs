//! The optimizer: AdamW as `torch.optim.AdamW` (betas 0.9/0.999, eps 1e-8, decoupled weight
//! decay) with one base learning rate per parameter, and global-norm gradient clipping as
//! `torch.nn.utils.clip_grad_norm_`. The moments are kept by parameter name, the form
//! [`crate::checkpoint::save_optimizer`] writes.
//!
//! **Flat buffers.** A 7B LoRA run has about 450 trainable tensors; one update written per
//! tensor is some 7,700 small kernel launches a step, which on a GPU cost more than the update
//! itself (what PyTorch's `foreach` / `fused` AdamW avoid, and tch exposes neither). So the
//! parameters of one learning rate, dtype and device are laid out in one contiguous buffer
//! (each parameter becomes a view of it through `set_data`, the same tensor for the model), and
//! so are their moments; after the first backward their gradients are moved into one buffer the
//! same way (autograd then accumulates into it in place). The update, the clipping norm,
//! unscaling and zeroing then run once per group. The arithmetic per element is the same as per
//! tensor, so updates are bit for bit those of the per-tensor form; only the order in which the
//! clipping norm sums its squares differs. A group some of whose parameters have no gradient at
//! that point stays per tensor (such a parameter is neither decayed nor moved). Every step
//! checks, by data pointer, that the parameters and gradients still live in their buffers: a
//! gradient found elsewhere is bound again, a parameter found elsewhere is a panic.

use std::collections::BTreeMap;

use tch::{Device, Kind, Tensor};

/// Parameters of one learning rate, dtype and device, laid out in one buffer.
struct Group {
    base_lr: f64,
    /// Indices into [`AdamW::params`].
    members: Vec<usize>,
    /// Each member's offset in the buffers, in elements.
    offsets: Vec<i64>,
    /// The parameters' storage; every member is a view of it.
    flat: Tensor,
    /// First and second moments, same layout (the `moments` map holds views of them).
    m: Tensor,
    v: Tensor,
    /// The gradients' storage once bound (after the first backward that reached every member).
    grad: Option<Tensor>,
}

/// AdamW over named parameters.
pub struct AdamW {
    /// (name, tensor, base learning rate).
    pub params: Vec<(String, Tensor, f64)>,
    /// Moments by parameter name: views of the groups' flat buffers (replace them only
    /// through [`AdamW::load_moments`], which copies into the buffers).
    moments: BTreeMap<String, (Tensor, Tensor)>,
    pub weight_decay: f64,
    pub step: usize,
    groups: Vec<Group>,
}

/// Whether `t`'s data starts `offset` elements into `buffer` (a view made by [`view_of`]).
fn lives_at(t: &Tensor, buffer: &Tensor, offset: i64) -> bool {
    t.defined()
        && t.data_ptr() as usize
            == buffer.data_ptr() as usize + offset as usize * buffer.kind().elt_size_in_bytes()
}

/// `flat[offset..offset + numel]` viewed as `shape`.
fn view_of(flat: &Tensor, offset: i64, shape: &[i64]) -> Tensor {
    let numel: i64 = shape.iter().product();
    flat.narrow(0, offset, numel).view(shape)
}

impl AdamW {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    pub fn new(params: Vec<(String, Tensor, f64)>, weight_decay: f64) -> Self {
        let mut keys: Vec<(u64, Kind, Device)> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (i, (_, p, lr)) in params.iter().enumerate() {
            let key = (lr.to_bits(), p.kind(), p.device());
            match keys.iter().position(|k| *k == key) {
                Some(g) => members[g].push(i),
                None => {
                    keys.push(key);
                    members.push(vec![i]);
                }
            }
        }
        let mut moments = BTreeMap::new();
        let groups = tch::no_grad(|| {
            keys.iter()
                .zip(members)
                .map(|(&(lr, kind, device), members)| {
                    let total: i64 = members.iter().map(|&i| params[i].1.numel() as i64).sum();
                    let flat = Tensor::zeros([total], (kind, device));
                    let m = Tensor::zeros([total], (kind, device));
                    let v = Tensor::zeros([total], (kind, device));
                    let mut offset = 0;
                    let mut offsets = Vec::with_capacity(members.len());
                    for &i in &members {
                        offsets.push(offset);
                        let (name, p, _) = &params[i];
                        let shape = p.size();
                        let slot = view_of(&flat, offset, &shape);
                        slot.shallow_clone().copy_(p);
                        // The parameter (the model's tensor too) now lives in the buffer.
                        p.shallow_clone().set_data(&slot);
                        moments.insert(
                            name.clone(),
                            (view_of(&m, offset, &shape), view_of(&v, offset, &shape)),
                        );
                        offset += p.numel() as i64;
                    }
                    Group {
                        base_lr: f64::from_bits(lr),
                        members,
                        offsets,
                        flat,
                        m,
                        v,
                        grad: None,
                    }
                })
                .collect()
        });
        Self {
            params,
            moments,
            weight_decay,
            step: 0,
            groups,
        }
    }

    /// Moves the gradients of every group whose members all have one into the group's buffer
    /// (autograd accumulates into a defined gradient in place, so they stay there). A bound
    /// group whose gradients no longer all live in its buffer (a gradient replaced rather than
    /// accumulated into) is bound again, so the update always reads the current gradients.
    /// Panics when a parameter no longer lives in its buffer: its storage was replaced after
    /// [`AdamW::new`] (ARCHITECTURE.md, the invariant of `optim`), and an update would train a
    /// copy the model no longer uses.
    fn bind_grads(&mut self) {
        for group in &mut self.groups {
            for (&i, &offset) in group.members.iter().zip(&group.offsets) {
                assert!(
                    lives_at(&self.params[i].1, &group.flat, offset),
                    "optimizer: parameter {} was given new storage after AdamW::new",
                    self.params[i].0
                );
            }
            if let Some(buffer) = &group.grad {
                let moved = group
                    .members
                    .iter()
                    .zip(&group.offsets)
                    .any(|(&i, &offset)| !lives_at(&self.params[i].1.grad(), buffer, offset));
                if moved {
                    group.grad = None;
                }
            }
        }
        for group in self.groups.iter_mut().filter(|g| g.grad.is_none()) {
            let grads: Vec<Tensor> = group
                .members
                .iter()
                .map(|&i| self.params[i].1.grad())
                .collect();
            if grads.iter().any(|g| !g.defined()) {
                continue;
            }
            let buffer = group.flat.zeros_like();
            tch::no_grad(|| {
                for (g, &offset) in grads.into_iter().zip(&group.offsets) {
                    let slot = view_of(&buffer, offset, &g.size());
                    slot.shallow_clone().copy_(&g);
                    g.shallow_clone().set_data(&slot);
                }
            });
            group.grad = Some(buffer);
        }
    }

    /// The gradients as few tensors as possible: each bound group's buffer, and the defined
    /// gradients of the others one by one. In-place changes reach the parameters' gradients.
    pub fn grads(&mut self) -> Vec<Tensor> {
        self.bind_grads();
        let mut out = Vec::new();
        for group in &self.groups {
            match &group.grad {
                Some(g) => out.push(g.shallow_clone()),
                None => out.extend(
                    group
                        .members
                        .iter()
                        .map(|&i| self.params[i].1.grad())
                        .filter(|g| g.defined()),
                ),
            }
        }
        out
    }

    /// (first moment, second moment) by parameter name, as
    /// [`crate::checkpoint::save_optimizer`] writes them.
    pub fn moments(&self) -> &BTreeMap<String, (Tensor, Tensor)> {
        &self.moments
    }

    /// Replaces the moments with `loaded` (by name, as [`crate::checkpoint::load_optimizer`]
    /// reads them), copied into the flat buffers.
    pub fn load_moments(
        &mut self,
        loaded: BTreeMap<String, (Tensor, Tensor)>,
    ) -> anyhow::Result<()> {
        let mut loaded = loaded;
        tch::no_grad(|| {
            for (name, (m, v)) in &self.moments {
                let (lm, lv) = loaded
                    .remove(name)
                    .ok_or_else(|| anyhow::anyhow!("no saved moments for {name}"))?;
                for (dst, src) in [(m, &lm), (v, &lv)] {
                    anyhow::ensure!(
                        dst.size() == src.size(),
                        "saved moments of {name} are {:?}, the parameter is {:?}",
                        src.size(),
                        dst.size()
                    );
                    dst.shallow_clone().copy_(src);
                }
            }
            Ok(())
        })?;
        if let Some(name) = loaded.keys().next() {
            anyhow::bail!("saved moments for {name}, which is not a trained parameter");
        }
        Ok(())
    }

    /// Global L2 norm of all gradients; scales them down to `max_norm` when above it (as
    /// `torch.nn.utils.clip_grad_norm_`, coefficient `max_norm / (norm + 1e-6)`).
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let grads = self.grads();
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

    pub fn step(&mut self, lr_factor: f64) {
        self.bind_grads();
        self.step += 1;
        let (b1, b2, eps) = (Self::BETA1, Self::BETA2, Self::EPS);
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        let wd = self.weight_decay;
        // One update, on whole buffers or on one parameter's views.
        let update = |p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, lr: f64| {
            let (mut p, mut m, mut v) = (p.shallow_clone(), m.shallow_clone(), v.shallow_clone());
            if wd != 0.0 {
                let _ = p.g_mul_scalar_(1.0 - lr * wd);
            }
            let _ = m.g_mul_scalar_(b1);
            let _ = m.g_add_(&(g * (1.0 - b1)));
            let _ = v.g_mul_scalar_(b2);
            let _ = v.g_add_(&(g.square() * (1.0 - b2)));
            let denom = v.sqrt() / bc2.sqrt() + eps;
            let _ = p.g_sub_(&(m.shallow_clone() / denom * (lr / bc1)));
        };
        tch::no_grad(|| {
            for group in &self.groups {
                let lr = group.base_lr * lr_factor;
                match &group.grad {
                    Some(g) => update(&group.flat, g, &group.m, &group.v, lr),
                    None => {
                        for &i in &group.members {
                            let (name, p, _) = &self.params[i];
                            let g = p.grad();
                            if !g.defined() {
                                continue;
                            }
                            let (m, v) = &self.moments[name];
                            update(p, &g, m, v, lr);
                        }
                    }
                }
            }
        });
    }

    pub fn zero_grad(&mut self) {
        tch::no_grad(|| {
            for mut g in self.grads() {
                let _ = g.zero_();
            }
        });
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
        let mut opt = AdamW::new(
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

    #[test]
    fn flat_buffers_hold_parameters_and_gradients_and_match_per_tensor_updates() {
        tch::manual_seed(17);
        let shapes: [&[i64]; 3] = [&[2, 3], &[4], &[3, 1]];
        let lrs = [0.01, 0.002, 0.01];
        let params: Vec<Tensor> = shapes
            .iter()
            .map(|s| Tensor::randn(*s, (Kind::Float, Device::Cpu)).set_requires_grad(true))
            .collect();
        // The reference: the same parameters, each alone in its own optimizer (one tensor per
        // buffer is the per-tensor update).
        let reference: Vec<Tensor> = params
            .iter()
            .map(|p| p.detach().copy().set_requires_grad(true))
            .collect();
        let mut alone: Vec<AdamW> = reference
            .iter()
            .zip(lrs)
            .map(|(r, lr)| AdamW::new(vec![("r".into(), r.shallow_clone(), lr)], 0.0))
            .collect();
        let mut opt = AdamW::new(
            params
                .iter()
                .zip(lrs)
                .enumerate()
                .map(|(i, (p, lr))| (format!("p{i}"), p.shallow_clone(), lr))
                .collect(),
            0.0,
        );
        assert_eq!(opt.groups.len(), 2, "two learning rates: two buffers");
        // Every parameter is a view of its group's buffer, with its values kept.
        for (p, r) in params.iter().zip(&reference) {
            assert!(p.equal(r));
        }
        let in_buffer = |t: &Tensor, buffer: &Tensor| {
            let (start, at) = (buffer.data_ptr() as usize, t.data_ptr() as usize);
            (start..start + 4 * buffer.numel()).contains(&at)
        };
        assert!(in_buffer(&params[0], &opt.groups[0].flat));
        assert!(in_buffer(&params[2], &opt.groups[0].flat));
        assert!(in_buffer(&params[1], &opt.groups[1].flat));
        let weights: Vec<Tensor> = shapes
            .iter()
            .map(|s| Tensor::randn(*s, (Kind::Float, Device::Cpu)))
            .collect();
        let loss = |ps: &[Tensor]| {
            ps.iter()
                .zip(&weights)
                .map(|(p, w)| (p * w).sum(Kind::Float) + p.square().sum(Kind::Float))
                .fold(Tensor::from(0.0f32), |a, b| a + b)
        };
        for t in 1..=3 {
            loss(&params).backward();
            loss(&reference).backward();
            opt.step(1.0);
            for o in &mut alone {
                o.step(1.0);
                o.zero_grad();
            }
            for (i, (p, (r, o))) in params.iter().zip(reference.iter().zip(&alone)).enumerate() {
                assert!(p.equal(r), "step {t}, p{i}: parameter");
                let ((om, ov), (rm, rv)) = (&opt.moments[&format!("p{i}")], &o.moments["r"]);
                assert!(om.equal(rm) && ov.equal(rv), "step {t}, p{i}: moments");
            }
            // After the first step the gradients live in the buffers too ...
            assert!(in_buffer(
                &params[0].grad(),
                opt.groups[0].grad.as_ref().unwrap()
            ));
            assert!(in_buffer(
                &params[1].grad(),
                opt.groups[1].grad.as_ref().unwrap()
            ));
            opt.zero_grad();
            for p in &params {
                assert_eq!(p.grad().abs().sum(Kind::Float).double_value(&[]), 0.0);
            }
        }
        // ... and backward keeps accumulating into them in place.
        (&params[1] * 2.0).sum(Kind::Float).backward();
        (&params[1] * 3.0).sum(Kind::Float).backward();
        assert!(in_buffer(
            &params[1].grad(),
            opt.groups[1].grad.as_ref().unwrap()
        ));
        assert_eq!(
            opt.groups[1]
                .grad
                .as_ref()
                .unwrap()
                .sum(Kind::Float)
                .double_value(&[]),
            5.0 * 4.0
        );
    }

    #[test]
    fn loaded_moments_must_match_the_parameters() {
        let p = Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut opt = AdamW::new(vec![("w".into(), p.shallow_clone(), 0.1)], 0.0);
        let moments = |shape: &[i64], value: f64| {
            let t = Tensor::full(shape, value, (Kind::Float, Device::Cpu));
            (t.copy(), t)
        };
        let one =
            |name: &str, shape: &[i64]| BTreeMap::from([(name.to_string(), moments(shape, 0.5))]);
        let err = opt.load_moments(one("w", &[4])).unwrap_err().to_string();
        assert!(err.contains("[4]") && err.contains("[2, 2]"), "{err}");
        let err = opt.load_moments(BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("no saved moments for w"), "{err}");
        let mut extra = one("w", &[2, 2]);
        extra.insert("other".into(), moments(&[1], 0.0));
        let err = opt.load_moments(extra).unwrap_err().to_string();
        assert!(err.contains("other"), "{err}");
        opt.load_moments(one("w", &[2, 2])).unwrap();
        assert_eq!(opt.groups[0].m.sum(Kind::Float).double_value(&[]), 2.0);
        assert_eq!(opt.moments["w"].1.double_value(&[1, 1]), 0.5);
    }

    #[test]
    fn a_gradient_replaced_after_binding_is_read_where_it_now_lives() {
        let make = || {
            let t = Tensor::from_slice(&[1.0f32, -2.0, 0.5]).set_requires_grad(true);
            let u = Tensor::from_slice(&[3.0f32]).set_requires_grad(true);
            (t, u)
        };
        let ((a, b), (ra, rb)) = (make(), make());
        let mut opt = AdamW::new(
            vec![
                ("a".into(), a.shallow_clone(), 0.1),
                ("b".into(), b.shallow_clone(), 0.1),
            ],
            0.0,
        );
        let mut alone = [
            AdamW::new(vec![("r".into(), ra.shallow_clone(), 0.1)], 0.0),
            AdamW::new(vec![("r".into(), rb.shallow_clone(), 0.1)], 0.0),
        ];
        let backward =
            |x: &Tensor, y: &Tensor| (x.square().sum(Kind::Float) * y.sum(Kind::Float)).backward();
        backward(&a, &b);
        opt.step(1.0);
        opt.zero_grad();
        backward(&ra, &rb);
        for o in &mut alone {
            o.step(1.0);
            o.zero_grad();
        }
        // Something other than in-place accumulation gives `a` a gradient in new storage.
        backward(&a, &b);
        let fresh = a.grad().copy() * 2.0;
        a.grad().set_data(&fresh);
        backward(&ra, &rb);
        let _ = ra.grad().g_mul_scalar_(2.0);
        opt.step(1.0);
        for o in &mut alone {
            o.step(1.0);
        }
        assert!(
            a.equal(&ra) && b.equal(&rb),
            "{a:?} vs {ra:?}, {b:?} vs {rb:?}"
        );
    }

    #[test]
    #[should_panic(expected = "parameter w was given new storage after AdamW::new")]
    fn a_parameter_given_new_storage_is_refused() {
        let p = Tensor::zeros([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let mut opt = AdamW::new(vec![("w".into(), p.shallow_clone(), 0.1)], 0.0);
        p.shallow_clone()
            .set_data(&Tensor::ones([3], (Kind::Float, Device::Cpu)));
        p.sum(Kind::Float).backward();
        opt.step(1.0);
    }
}
