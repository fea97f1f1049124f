//! Step time of a LLaVA + DPE + LoRA training step on a fixed synthetic batch (LoRA on every
//! LLM linear, projector trained), and the share of that step spent on the depth positional
//! encoding (pooling 640x480 depth maps + normalisation + sin/cos). Prints one JSON line per
//! batch shape; `benches/compare_train_step.py` runs the same model in PyTorch eager (+ PEFT for
//! `7b-shapes`) for comparison, and `benches/gpu_train_compare.py` runs both under an NVML
//! sampler (peak GPU memory, utilisation).
//!
//! ```text
//! train_step_timing [BATCH] [STEPS] [--preset tiny|7b-shapes] [--rank R] [--shapes BxL,BxL..]
//! ```
//! Default: the tiny preset, LoRA r=8, BATCH samples of 165 tokens (BOS, 40 prompt tokens, the
//! image tokens, 20 more, 40 answer tokens). `--shapes` runs each `batch x tokens` shape in turn
//! on the same model (the answer fills the sequence up to `tokens`). `7b-shapes` is
//! LLaVA-1.5-7B's shapes with random weights (LoRA r=128, alpha 256 unless `--rank`), built
//! and cast on the CPU and then moved, as `msmu train` does; it needs a GPU.
//!
//! The device is `MSMU_DEVICE` (auto/cpu/cuda/cuda:N, as `msmu train`) and the precision
//! `MSMU_PRECISION` (auto/bf16/fp16/fp32, as `msmu train --precision`; fp16 without the loss
//! scaler here), and the GPU is synchronized before every timer read. Every line carries the
//! Unix times of its timed window (`t0_unix`, `t1_unix`), so a sampler beside the process can
//! attribute GPU memory and utilisation to each shape.
//!
//! cargo run --release --features train --example train_step_timing -- [batch] [steps]

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use msmu_data::dataset::depth_png::DepthMm;
use msmu_train::config::{LlavaConfig, Preset};
use msmu_train::dpe::{self, DpeConfig};
use msmu_train::llava::{DepthTokens, Llava};
use msmu_train::lora::LoraConfig;
use msmu_train::optim::AdamW;
use msmu_train::precision::Precision;
use msmu_train::tch::{Device, Kind, Tensor};
use msmu_train::tokenize::IGNORE;
use msmu_train::trainer::lm_loss;

/// Command line: positional BATCH and STEPS, then the flags.
struct Args {
    steps: usize,
    preset: Preset,
    rank: Option<i64>,
    /// `(batch, tokens)`; `tokens` None = the fixed 165-token layout.
    shapes: Vec<(usize, Option<usize>)>,
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let (mut preset, mut rank, mut shapes) = (Preset::Tiny, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or(format!("{flag} needs a value"));
        match a.as_str() {
            "--preset" => {
                preset = match value("--preset")?.as_str() {
                    "tiny" => Preset::Tiny,
                    "7b-shapes" => Preset::SevenBShapes,
                    p => return Err(format!("--preset {p}: expected tiny or 7b-shapes")),
                }
            }
            "--rank" => {
                rank = Some(
                    value("--rank")?
                        .parse()
                        .map_err(|e| format!("--rank: {e}"))?,
                )
            }
            "--shapes" => {
                let list = value("--shapes")?;
                let parsed: Result<Vec<_>, String> = list
                    .split(',')
                    .map(|s| {
                        let (b, l) = s
                            .split_once('x')
                            .ok_or(format!("--shapes {s}: expected BATCHxTOKENS"))?;
                        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{s}: {e}"));
                        Ok((num(b)?, Some(num(l)?)))
                    })
                    .collect();
                shapes = Some(parsed?);
            }
            _ => positional.push(
                a.parse::<usize>()
                    .map_err(|_| format!("unexpected argument {a:?}"))?,
            ),
        }
    }
    let batch = positional.first().copied().unwrap_or(4);
    let steps = positional.get(1).copied().unwrap_or(20);
    Ok(Args {
        steps,
        preset,
        rank,
        shapes: shapes.unwrap_or(vec![(batch, None)]),
    })
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("train_step_timing: {e}");
        std::process::exit(2)
    });
    let device = msmu_train::device().expect("MSMU_DEVICE");
    let precision = Precision::resolve(
        Precision::parse(&std::env::var("MSMU_PRECISION").unwrap_or_default())
            .expect("MSMU_PRECISION"),
        device,
    );
    let sync = || {
        if let Device::Cuda(i) = device {
            msmu_train::tch::Cuda::synchronize(i as i64);
        }
    };
    let seven_b = matches!(args.preset, Preset::SevenBShapes);
    if seven_b && !device.is_cuda() {
        eprintln!(
            "train_step_timing: --preset 7b-shapes needs a GPU (MSMU_DEVICE=cuda): its 7.06 B \
             random weights take 28 GB of host memory to create"
        );
        std::process::exit(2)
    }
    let cfg = if seven_b {
        LlavaConfig::llava_1_5_7b(4)
    } else {
        LlavaConfig::tiny(1024, 4)
    };
    // As `msmu train`: built (and cast) on the CPU, then moved, in bf16 / fp16 on a GPU.
    let build_device = msmu_train::trainer::build_device(device, precision);
    let t_build = Instant::now();
    let mut model = Llava::new(&cfg, build_device);
    model.init_random(0);
    let rank = args.rank.unwrap_or(if seven_b { 128 } else { 8 });
    let lora = LoraConfig {
        rank,
        alpha: 2.0 * rank as f64,
        dropout: 0.05,
        ..LoraConfig::default()
    };
    model.add_lora(&lora, 1);
    model.set_trainable(true);
    model.set_precision(precision);
    if build_device != device {
        model.vs.set_device(device);
    }
    sync();
    let build_s = t_build.elapsed().as_secs_f64();
    let n_image = (cfg.vision.grid() * cfg.vision.grid()) as usize;
    let s = cfg.vision.image_size;
    let hidden = cfg.text.hidden_size;
    let vocab = cfg.text.vocab_size as usize;
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
    for &(batch, tokens) in &args.shapes {
        // Same layout as the Python side: BOS, 40 prompt tokens, image tokens, 20 more, then
        // the answer (40 tokens, or up to `tokens`).
        let fixed = 1 + 40 + n_image + 20;
        let answer = match tokens {
            None => 40,
            Some(t) if t > fixed => t - fixed,
            Some(t) => {
                eprintln!("train_step_timing: {t} tokens cannot hold the {fixed}-token prompt");
                std::process::exit(2)
            }
        };
        let mut ids = vec![1i64];
        ids.extend((0..40).map(|i| 10 + i % 900));
        ids.extend(std::iter::repeat_n(4, n_image));
        ids.extend((0..20).map(|i| 30 + i));
        let prompt_len = ids.len();
        ids.extend((0..answer).map(|i| 100 + ((i * 7) % (vocab - 100)) as i64));
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
        let pixels = Tensor::randn([b, 3, s, s], (Kind::Float, Device::Cpu)).to_device(device);
        let mut step_s = Vec::new();
        let mut dpe_s = Vec::new();
        let mut t0_unix = 0.0;
        for step in 0..args.steps + 3 {
            sync();
            if step == 3 {
                t0_unix = unix_now();
            }
            let t0 = Instant::now();
            let cells: Vec<Vec<f64>> = (0..batch)
                .map(|_| dpe::depth_cells(&depth, cfg.vision.grid() as usize, &dpe_cfg))
                .collect();
            let pe = dpe::encode(&cells, hidden, device);
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
            drop(logits);
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
        let t1_unix = unix_now();
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
                "preset": args.preset.name(),
                "lora_rank": rank,
                "device": format!("{device:?}"),
                "precision": precision.name(),
                "batch": batch,
                "seq_len": l,
                "steps": args.steps,
                "threads": msmu_train::tch::get_num_threads(),
                "build_s": build_s,
                "step_ms": step_med * 1e3,
                "tokens_per_s": (batch as f64 * l as f64) / step_med,
                "dpe_ms": dpe_med * 1e3,
                "dpe_share": dpe_med / step_med,
                "t0_unix": t0_unix,
                "t1_unix": t1_unix,
            })
        );
    }
}
