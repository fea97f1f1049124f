//! Trainer invariants on a tiny random model: only adapters and the projector get gradients,
//! the KV cache gives the same logits as a full forward pass, and one batch can be overfitted
//! to near-zero loss.
//!
//! The device is `msmu_train::device()` (`MSMU_DEVICE`, CPU where libtorch sees no GPU); the
//! model runs in fp32 on every device (no autocast here).
#![cfg(feature = "train")]

use msmu_train::config::LlavaConfig;
use msmu_train::llama::KvCache;
use msmu_train::llava::Llava;
use msmu_train::lora::LoraConfig;
use msmu_train::optim::AdamW;
use msmu_train::schedule::lr_factor;
use msmu_train::tch::{Device, Kind, Tensor};
use msmu_train::tokenize::IGNORE;
use msmu_train::trainer::{lm_loss, trainable_names};

const IMAGE_TOKEN: i64 = 4;

fn device() -> Device {
    msmu_train::device().expect("MSMU_DEVICE")
}

/// libtorch's random generator is one per process and these tests seed it (model weights,
/// adapters, pixels, dropout): run in parallel, one test's draws would interleave with
/// another's and the "same" model would differ from run to run. Every test holds this lock.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn tiny_model(lora_rank: i64) -> Llava {
    let mut cfg = LlavaConfig::tiny(300, IMAGE_TOKEN);
    cfg.vision.image_size = 56; // 4 x 4 patches: fast
    let mut model = Llava::new(&cfg, device());
    model.init_random(7);
    let lora = LoraConfig {
        rank: lora_rank,
        alpha: 2.0 * lora_rank as f64,
        dropout: 0.0,
        ..LoraConfig::default()
    };
    model.add_lora(&lora, 8);
    model.set_trainable(true);
    model
}

/// `[1, L]` ids: BOS, 8 text tokens, 16 image tokens, a question, an answer; labels on the answer.
fn batch() -> (Tensor, Tensor, Tensor) {
    let mut ids = vec![1i64];
    ids.extend(10..18);
    ids.extend(std::iter::repeat_n(IMAGE_TOKEN, 16));
    ids.extend(20..30);
    let answer: Vec<i64> = vec![100, 150, 42, 77, 250, 2];
    let mut labels = vec![IGNORE; ids.len()];
    ids.extend(&answer);
    labels.extend(&answer);
    let l = ids.len() as i64;
    msmu_train::tch::manual_seed(3);
    let pixels = Tensor::randn([1, 3, 56, 56], (Kind::Float, Device::Cpu));
    let d = device();
    (
        Tensor::from_slice(&ids).view([1, l]).to_device(d),
        Tensor::from_slice(&labels).view([1, l]).to_device(d),
        pixels.to_device(d),
    )
}

#[test]
fn only_adapters_and_projector_get_gradients() {
    let _rng = rng_lock();
    let model = tiny_model(4);
    let (ids, labels, pixels) = batch();
    let logits = model
        .forward(&ids, Some(&pixels), None, None, true)
        .unwrap();
    lm_loss(&logits, &labels).backward();
    let mut n_trained = 0;
    for (name, t) in model.vs.variables() {
        let trainable = name.contains("lora_") || name.starts_with("model.multi_modal_projector");
        assert_eq!(t.requires_grad(), trainable, "{name}");
        if trainable {
            // lora_A gets no gradient while lora_B is still zero: check B and the projector.
            if !name.contains("lora_A") {
                assert!(
                    t.grad().defined() && t.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0,
                    "{name}"
                );
            }
            n_trained += 1;
        } else {
            assert!(!t.grad().defined(), "{name} got a gradient");
        }
    }
    // 2 layers x 7 linears x (A, B) + projector (2 weights, 2 biases).
    assert_eq!(n_trained, 2 * 7 * 2 + 4);
    assert_eq!(trainable_names(&model).len(), n_trained);
}

#[test]
fn kv_cache_decoding_matches_full_forward() {
    let _rng = rng_lock();
    let model = tiny_model(4);
    let (ids, _, pixels) = batch();
    msmu_train::tch::no_grad(|| {
        let full = model
            .forward(&ids, Some(&pixels), None, None, false)
            .unwrap();
        let l = ids.size()[1];
        let prefix = 30;
        let mut cache = KvCache::new(model.llm.layers.len());
        let first = model
            .forward(
                &ids.narrow(1, 0, prefix),
                Some(&pixels),
                None,
                Some(&mut cache),
                false,
            )
            .unwrap();
        let mut steps = vec![first];
        for k in prefix..l {
            steps.push(
                model
                    .forward(&ids.narrow(1, k, 1), None, None, Some(&mut cache), false)
                    .unwrap(),
            );
        }
        let cached = Tensor::cat(&steps, 1);
        let diff = (&full - cached).abs().max().double_value(&[]);
        // fp32 on both; a GPU picks different kernels (reduction orders) for the full and
        // the one-token shapes, so it gets a looser bound. A cache bug is off by O(|logits|).
        let scale = full.abs().max().double_value(&[]);
        let tol = if full.device().is_cuda() { 1e-4 } else { 1e-5 };
        assert!(diff < tol, "max abs diff {diff} (max |logit| {scale})");
    });
}

#[test]
fn single_batch_overfits() {
    let _rng = rng_lock();
    let model = tiny_model(8);
    let (ids, labels, pixels) = batch();
    let mut params: Vec<(String, Tensor, f64)> = model
        .lora_params()
        .into_iter()
        .map(|(n, t)| (n, t, 3e-3))
        .collect();
    params.extend(
        model
            .projector_params()
            .into_iter()
            .map(|(n, t)| (n, t, 1e-3)),
    );
    let mut opt = AdamW::new(params, 0.0);
    let mut first = None;
    let mut last = f64::NAN;
    for step in 0..150 {
        let logits = model
            .forward(&ids, Some(&pixels), None, None, true)
            .unwrap();
        let loss = lm_loss(&logits, &labels);
        loss.backward();
        opt.clip_grad_norm(1.0);
        opt.step(lr_factor(step, 150, 5));
        opt.zero_grad();
        last = loss.double_value(&[]);
        first.get_or_insert(last);
    }
    assert!(
        first.unwrap() > 4.0,
        "random model starts near ln(300): {first:?}"
    );
    assert!(last < 0.05, "loss after 150 steps: {last}");
}

/// Issue #19: one forward and backward of the tiny preset in bf16 and fp16 (frozen weights in
/// the low precision, adapters and projector float32) agree with fp32 within the precision:
/// the loss, and the direction and size of every trainable gradient.
#[test]
fn bf16_and_fp16_steps_agree_with_fp32() {
    let _rng = rng_lock();
    use msmu_train::precision::Precision;
    let (ids, labels, pixels) = batch();
    let grads = |precision: Precision| {
        let model = tiny_model(4);
        // A non-zero B, so lora_A gets a gradient too.
        msmu_train::tch::no_grad(|| {
            for (name, t) in model.vs.variables() {
                if name.contains("lora_B") {
                    msmu_train::tch::manual_seed(11);
                    t.shallow_clone()
                        .copy_(&(Tensor::randn(t.size(), (Kind::Float, t.device())) * 0.02));
                }
            }
        });
        model.set_precision(precision);
        for (name, t) in model.vs.variables() {
            let expected = if t.requires_grad() {
                Kind::Float
            } else {
                precision.kind()
            };
            assert_eq!(t.kind(), expected, "{name} in {precision:?}");
        }
        let logits = model
            .forward(&ids, Some(&pixels), None, None, true)
            .unwrap();
        assert_eq!(logits.kind(), precision.kind());
        let loss = lm_loss(&logits, &labels);
        loss.backward();
        let mut out: Vec<(String, Tensor)> = model
            .vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(n, t)| (n, t.grad().to_kind(Kind::Double)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        (loss.double_value(&[]), out)
    };
    let (loss32, g32) = grads(Precision::Fp32);
    for (precision, loss_tol, cos_min, rel_max) in [
        (Precision::Bf16, 2e-3, 0.999, 0.06),
        (Precision::Fp16, 2e-4, 0.9999, 0.01),
    ] {
        let (loss, g) = grads(precision);
        let loss_err = (loss - loss32).abs() / loss32;
        assert!(
            loss_err < loss_tol,
            "{precision:?}: loss {loss} vs {loss32}"
        );
        let (mut worst_cos, mut worst_rel) = (1.0f64, 0.0f64);
        for ((name, a), (_, b)) in g.iter().zip(&g32) {
            let dot = (a * b).sum(Kind::Double).double_value(&[]);
            let na = a.norm().double_value(&[]);
            let nb = b.norm().double_value(&[]);
            let cos = dot / (na * nb).max(1e-30);
            let rel = (a - b).norm().double_value(&[]) / nb.max(1e-30);
            assert!(
                cos > cos_min && rel < rel_max,
                "{precision:?} {name}: cosine {cos:.5}, relative error {rel:.4}"
            );
            worst_cos = worst_cos.min(cos);
            worst_rel = worst_rel.max(rel);
        }
        eprintln!(
            "{precision:?}: loss {loss:.6} vs fp32 {loss32:.6}; gradients: worst cosine \
             {worst_cos:.5}, worst relative error {worst_rel:.4}"
        );
    }
}
