//! Step time of the `--preset tiny` model (LoRA r=8 on every LLM linear, projector trained),
//! on a fixed synthetic batch, and the share of that step spent on the depth positional
//! encoding (pooling 640x480 depth maps + normalisation + sin/cos). Prints one JSON line;
//! `benches/compare_train_step.py` runs the same model in PyTorch eager for comparison.
//!
//! The device is `MSMU_DEVICE` (auto/cpu/cuda/cuda:N, as `msmu train`) and the precision
//! `MSMU_PRECISION` (auto/bf16/fp16/fp32, as `msmu train --precision`; fp16 without the loss
//! scaler here), and the GPU is synchronized before every timer read.
//!
//! cargo run --release --features train --example train_step_timing -- [batch] [steps]

use std::time::Instant;

use msmu_data::dataset::depth_png::DepthMm;
use msmu_train::config::LlavaConfig;
use msmu_train::dpe::{self, DpeConfig};
use msmu_train::llava::{DepthTokens, Llava};
use msmu_train::lora::LoraConfig;
use msmu_train::optim::AdamW;
use msmu_train::tch::{Device, Kind, Tensor};
use msmu_train::tokenize::IGNORE;
use msmu_train::trainer::lm_loss;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = args.first().copied().unwrap_or(4);
    let steps = args.get(1).copied().unwrap_or(20);
    let device = msmu_train::device().expect("MSMU_DEVICE");
    let precision = msmu_train::precision::Precision::resolve(
        msmu_train::precision::Precision::parse(
            &std::env::var("MSMU_PRECISION").unwrap_or_default(),
        )
        .expect("MSMU_PRECISION"),
        device,
    );
    let sync = || {
        if let Device::Cuda(i) = device {
            msmu_train::tch::Cuda::synchronize(i as i64);
        }
    };
    let cfg = LlavaConfig::tiny(1024, 4);
    let mut model = Llava::new(&cfg, device);
    model.init_random(0);
    let lora = LoraConfig {
        rank: 8,
        alpha: 16.0,
        dropout: 0.05,
        ..LoraConfig::default()
    };
    model.add_lora(&lora, 1);
    model.set_trainable(true);
    model.set_precision(precision);
    let n_image = (cfg.vision.grid() * cfg.vision.grid()) as usize;
    // Same layout as the Python side: BOS, 40 prompt tokens, image tokens, 20 more, 40 answer.
    let mut ids = vec![1i64];
    ids.extend((0..40).map(|i| 10 + i % 900));
    ids.extend(std::iter::repeat_n(4, n_image));
    ids.extend((0..20).map(|i| 30 + i));
    let prompt_len = ids.len();
    ids.extend((0..40).map(|i| 100 + (i * 7) % 900));
    let mut labels = ids.clone();
    labels[..prompt_len].iter_mut().for_each(|l| *l = IGNORE);
    let l = ids.len() as i64;
    let b = batch as i64;
    let input_ids = Tensor::from_slice(&ids.repeat(batch))
        .view([b, l])
        .to_device(device);
    let labels = Tensor::from_slice(&labels.repeat(batch))
        .view([b, l])
        .to_device(device);
    msmu_train::tch::manual_seed(0);
    let s = cfg.vision.image_size;
    let pixels = Tensor::randn([b, 3, s, s], (Kind::Float, Device::Cpu)).to_device(device);
    let depth = DepthMm {
        width: 640,
        height: 480,
        depth_mm: (0..640u64 * 480)
            .map(|i| ((i * 7919) % 5000) as u16)
            .collect(),
    };
    let dpe_cfg = DpeConfig::default();
    let mut params: Vec<(String, Tensor, f64)> = model
        .lora_params()
        .into_iter()
        .map(|(n, t)| (n, t, 2e-4))
        .collect();
    params.extend(
        model
            .projector_params()
            .into_iter()
            .map(|(n, t)| (n, t, 2e-5)),
    );
    let mut opt = AdamW::new(params, 0.0);
    let mut step_s = Vec::new();
    let mut dpe_s = Vec::new();
    for step in 0..steps + 3 {
        sync();
        let t0 = Instant::now();
        let cells: Vec<Vec<f64>> = (0..batch)
            .map(|_| dpe::depth_cells(&depth, cfg.vision.grid() as usize, &dpe_cfg))
            .collect();
        let pe = dpe::encode(&cells, cfg.text.hidden_size, device);
        sync();
        let t_dpe = t0.elapsed().as_secs_f64();
        let logits = model
            .forward(
                &input_ids,
                Some(&pixels),
                Some(&DepthTokens::Pe(pe.shallow_clone())),
                None,
                true,
            )
            .unwrap();
        let loss = lm_loss(&logits, &labels);
        loss.backward();
        opt.clip_grad_norm(1.0);
        opt.step(1.0);
        opt.zero_grad();
        let _ = loss.double_value(&[]);
        sync();
        if step >= 3 {
            step_s.push(t0.elapsed().as_secs_f64());
            dpe_s.push(t_dpe);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let step_med = median(&mut step_s);
    let dpe_med = median(&mut dpe_s);
    println!(
        "{}",
        serde_json::json!({
            "impl": "msmu (tch)",
            "device": format!("{device:?}"),
            "precision": precision.name(),
            "batch": batch,
            "seq_len": l,
            "threads": msmu_train::tch::get_num_threads(),
            "step_ms": step_med * 1e3,
            "tokens_per_s": (batch as f64 * l as f64) / step_med,
            "dpe_ms": dpe_med * 1e3,
            "dpe_share": dpe_med / step_med,
        })
    );
}
