//! `msmu train` (LoRA fine-tuning of a depth-encoded LLaVA on msmu shards) and hidden
//! helpers: `msmu dpe` (depth positional encoding of one depth PNG) and `msmu preprocess`
//! (CLIP pixels of one image), both written as safetensors for the Python cross-checks,
//! `msmu embed` (sentence embeddings of `--name-model`'s all-MiniLM-L6-v2, also for the
//! cross-checks), and `msmu device` (the device `MSMU_DEVICE` selects, checked with a small matmul).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::depth_source::DepthSourceArgs;
use msmu_data::dataset::depth_png::DepthMm;
use msmu_train::config::Preset;
use msmu_train::dpe::{self, DepthAlign, DepthFusion, DepthSense, DpeConfig, DpeOverrides};
use msmu_train::lora::{LoraConfig, ALL_LLM_LINEARS};
use msmu_train::trainer::{train, TrainConfig};
use msmu_train::{preprocess, ModelSource};

/// DPE flags shared by `train` and `predict`.
#[derive(clap::Args, Debug, Clone)]
pub struct DpeArgs {
    /// Train/predict without the depth positional encoding.
    #[arg(long)]
    pub no_dpe: bool,
    /// Depth grid alignment. `padded` (default): depth padded like the image so cells line up
    /// with the image tokens; adaptive cell bounds [floor(i*S/G), ceil((i+1)*S/G)), mean of
    /// the valid pixels, empty cells left out of the min-max and set to 0. `official`: the
    /// unpadded map, as the official code; with ground-truth depth (the shards' depth) the
    /// official ground-truth rule: cells [floor(i*S/G), floor((i+1)*S/G)), mean of the valid
    /// pixels, an empty cell is 0 and counts in the min-max; with estimated depth the
    /// official AdaptiveAvgPool2d rule (the `padded` bounds and empty-cell rule).
    #[arg(long, value_enum)]
    pub depth_align: Option<DepthAlign>,
    /// Sense of the depth DPE encodes: `metric` (larger = farther) or `inverse` (larger =
    /// nearer). Default: that of the depth source (mesh and metric estimates: metric; relative
    /// Depth-Anything disparity: inverse, as the official code); `predict`: the adapter's.
    #[arg(long, value_enum)]
    pub depth_sense: Option<DepthSense>,
    /// DPE scale alpha.
    #[arg(long)]
    pub dpe_alpha: Option<f64>,
    /// How depth reaches the LLM: `add` (default): SD-VLM's depth positional encoding added to
    /// the image tokens; `concat`: the depth map (padded like the image, per-image min-max
    /// normalised, grey) as a second image through the same vision tower and projector, its
    /// tokens after the image's (twice the image tokens, no new parameters). `predict`: the
    /// adapter's.
    #[arg(long, value_enum)]
    pub depth_fusion: Option<DepthFusion>,
    /// Multiplicative log-normal depth noise before pooling: every valid pixel d becomes
    /// d*exp(SIGMA*z), z ~ N(0,1), seeded per row (0: none).
    #[arg(
        long,
        value_name = "SIGMA",
        allow_hyphen_values = true,
        value_parser = parse_noise_sigma
    )]
    pub depth_noise: Option<f64>,
}

/// A noise sigma: finite and at least 0.
fn parse_noise_sigma(text: &str) -> Result<f64, String> {
    let sigma: f64 = text
        .parse()
        .map_err(|e| format!("`{text}` is not a number: {e}"))?;
    if !sigma.is_finite() || sigma < 0.0 {
        return Err(format!(
            "`{text}`: the depth noise sigma must be finite and >= 0"
        ));
    }
    Ok(sigma)
}

impl DpeArgs {
    /// The settings given, to apply over the defaults (train) or the adapter's (predict).
    pub fn overrides(&self) -> DpeOverrides {
        DpeOverrides {
            disabled: self.no_dpe,
            alpha: self.dpe_alpha,
            align: self.depth_align,
            noise_sigma: self.depth_noise,
            fusion: self.depth_fusion,
        }
    }
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu train --data shards/ --preset tiny --out runs/tiny --max-steps 300\n  \
msmu train --data shards/ --model llava-1.5-7b-hf/ --out runs/sdvlm --batch-size 4 --grad-accum 8\n  \
msmu train --data shards/ --preset tiny --out runs/tiny --resume")]
pub struct TrainArgs {
    /// Shard folder written by `msmu build` (with `data/{split}-*.parquet`).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: adapter, projector, optimizer state, metrics.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Local Hugging Face LLaVA checkpoint folder (config.json, safetensors, tokenizer.json).
    #[arg(long, conflicts_with = "preset", required_unless_present = "preset")]
    pub model: Option<PathBuf>,
    /// Built-in model instead of --model.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Continue the run in --out from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Split used by --eval-every.
    #[arg(long, default_value = "test")]
    pub eval_split: String,
    #[arg(long, default_value_t = 128)]
    pub lora_r: i64,
    #[arg(long, default_value_t = 256.0)]
    pub lora_alpha: f64,
    #[arg(long, default_value_t = 0.05)]
    pub lora_dropout: f64,
    /// LLM linear layers that get adapters (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = ALL_LLM_LINEARS.map(String::from))]
    pub lora_targets: Vec<String>,
    /// Learning rate of the adapters.
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    /// Learning rate of the projector.
    #[arg(long, default_value_t = 2e-5)]
    pub projector_lr: f64,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 0.03)]
    pub warmup_ratio: f64,
    /// Rows per micro-batch.
    #[arg(long, default_value_t = 4)]
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Optimizer steps (the schedule's length); default: --epochs over the split.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Stop after this many optimizer steps without shortening the schedule (resume later).
    #[arg(long, hide = true)]
    pub stop_at_step: Option<usize>,
    /// Longest token sequence (rows are cut).
    #[arg(long, default_value_t = 2048)]
    pub max_len: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write a metrics.jsonl line every N steps.
    #[arg(long, default_value_t = 1)]
    pub log_every: usize,
    /// Evaluate the loss on --eval-split every N steps.
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Rows of --eval-split used by --eval-every.
    #[arg(long, default_value_t = 16)]
    pub eval_rows: usize,
    /// Save a checkpoint every N steps (always at the end).
    #[arg(long)]
    pub save_every: Option<usize>,
    /// Rows held by the streaming shuffle.
    #[arg(long, default_value_t = 512)]
    pub shuffle_buffer: usize,
    /// Rows whose decoded image and depth stay in memory (0: decode every time).
    #[arg(long, default_value_t = 256)]
    pub cache_rows: usize,
    /// Precision of the frozen weights and activations: auto (bf16 on CUDA, fp32 on the CPU),
    /// bf16, fp16 (with dynamic loss scaling) or fp32. Adapters and the projector always keep
    /// float32 master weights; the choice is recorded in metrics.jsonl.
    #[arg(long, default_value = "auto")]
    pub precision: String,
    #[command(flatten)]
    pub dpe: DpeArgs,
    #[command(flatten)]
    pub depth: DepthSourceArgs,
}

pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let model = match (&args.model, args.preset) {
        (Some(dir), _) => ModelSource::Dir(dir.clone()),
        (None, Some(preset)) => ModelSource::Preset(preset),
        (None, None) => anyhow::bail!("give --model DIR or --preset tiny|small|7b-shapes"),
    };
    if args.batch_size == 0 || args.grad_accum == 0 {
        anyhow::bail!("--batch-size and --grad-accum must be at least 1");
    }
    let cfg = TrainConfig {
        data: args.data.clone(),
        split: args.split.clone(),
        eval_split: args.eval_split.clone(),
        out: args.out.clone(),
        model,
        resume: args.resume,
        lora: LoraConfig {
            rank: args.lora_r,
            alpha: args.lora_alpha,
            dropout: args.lora_dropout,
            target_modules: args.lora_targets.clone(),
        },
        dpe: args.dpe.overrides().apply(DpeConfig::default()),
        depth: args.depth.input()?,
        depth_sense: args.dpe.depth_sense,
        lr: args.lr,
        projector_lr: args.projector_lr,
        weight_decay: args.weight_decay,
        warmup_ratio: args.warmup_ratio,
        batch_size: args.batch_size,
        grad_accum: args.grad_accum,
        max_grad_norm: args.max_grad_norm,
        epochs: args.epochs,
        max_steps: args.max_steps,
        stop_at_step: args.stop_at_step,
        max_len: args.max_len,
        seed: args.seed,
        log_every: args.log_every,
        eval_every: args.eval_every,
        eval_rows: args.eval_rows,
        save_every: args.save_every,
        shuffle_buffer: args.shuffle_buffer,
        cache_rows: args.cache_rows,
        progress: true,
        precision: msmu_train::precision::Precision::parse(&args.precision)?,
    };
    let summary = train(&cfg)?;
    eprintln!(
        "trained {} steps in {:.1} s: loss {} -> {} ({})",
        summary.steps,
        summary.seconds,
        summary.first_loss.map_or("-".into(), |l| format!("{l:.4}")),
        summary.last_loss.map_or("-".into(), |l| format!("{l:.4}")),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `msmu dpe`: the encoding of one depth PNG (for cross-checks).
#[derive(clap::Args, Debug)]
pub struct DpeDumpArgs {
    /// 16-bit depth PNG (millimetres, 0 = invalid).
    #[arg(long)]
    pub depth: PathBuf,
    #[arg(long, default_value_t = 24)]
    pub grid: usize,
    #[arg(long)]
    pub hidden: i64,
    /// Grid alignment (see `msmu train --depth-align`).
    #[arg(long, value_enum, default_value = "padded")]
    pub align: DepthAlign,
    #[arg(long, value_enum, default_value = "metric")]
    pub sense: DepthSense,
    #[arg(long, default_value_t = 100.0)]
    pub alpha: f64,
    /// The map is ground-truth depth: with `--align official`, the official ground-truth rule.
    #[arg(long)]
    pub ground_truth: bool,
    /// Multiplicative log-normal depth noise sigma (0: none).
    #[arg(
        long,
        value_name = "SIGMA",
        default_value_t = 0.0,
        allow_hyphen_values = true,
        value_parser = parse_noise_sigma
    )]
    pub noise: f64,
    /// Seed of the depth noise.
    #[arg(long, default_value_t = 0)]
    pub noise_seed: u64,
    /// Output safetensors file with `pe` [grid*grid, hidden] and `cells` [grid*grid] (f64),
    /// and with --noise > 0 `noisy` [height, width] (f64 mm, 0 = invalid).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_dpe(args: &DpeDumpArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.depth).with_context(|| format!("reading {}", args.depth.display()))?;
    let depth = DepthMm::decode_png(&bytes)?;
    let cfg = DpeConfig {
        enabled: true,
        alpha: args.alpha,
        align: args.align,
        sense: args.sense,
        noise_sigma: args.noise,
        fusion: DepthFusion::Add,
    };
    let cells = dpe::depth_cells_for(&depth, args.grid, &cfg, args.ground_truth, args.noise_seed);
    let pe = dpe::encode(
        std::slice::from_ref(&cells),
        args.hidden,
        msmu_train::tch::Device::Cpu,
    )
    .squeeze_dim(0);
    let mut tensors = vec![
        ("pe".to_string(), pe),
        (
            "cells".to_string(),
            msmu_train::tch::Tensor::from_slice(&cells),
        ),
    ];
    if args.noise > 0.0 {
        let noisy = dpe::add_depth_noise(&depth, args.noise, args.noise_seed);
        let shape = [depth.height as i64, depth.width as i64];
        tensors.push((
            "noisy".to_string(),
            msmu_train::tch::Tensor::from_slice(&noisy).view(shape),
        ));
    }
    msmu_train::tch::Tensor::write_safetensors(&tensors, &args.out)?;
    Ok(ExitCode::SUCCESS)
}

/// `msmu preprocess`: the CLIP pixels of one image (for cross-checks).
#[derive(clap::Args, Debug)]
pub struct PreprocessArgs {
    #[arg(long)]
    pub image: PathBuf,
    #[arg(long, default_value_t = 336)]
    pub size: u32,
    /// Output safetensors file with `pixel_values` [3, size, size].
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_preprocess(args: &PreprocessArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let pixels = preprocess::preprocess_bytes(&bytes, args.size)?;
    let s = i64::from(args.size);
    let t = msmu_train::tch::Tensor::from_slice(&pixels).view([3, s, s]);
    msmu_train::tch::Tensor::write_safetensors(&[("pixel_values", t)], &args.out)?;
    Ok(ExitCode::SUCCESS)
}

/// `msmu embed`: sentence embeddings of texts (for cross-checks).
#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    /// sentence-transformers folder (see `msmu eval --name-model`).
    #[arg(long)]
    pub model: PathBuf,
    /// A text to embed (repeatable; these come first).
    #[arg(long)]
    pub text: Vec<String>,
    /// A JSON file with a list of texts to embed (after the --text ones).
    #[arg(long)]
    pub texts: Option<PathBuf>,
    /// Output safetensors file with `embeddings` [N, D] (f32) and `lengths` [N] (i64, tokens
    /// after truncation, [CLS] and [SEP] included).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_embed(args: &EmbedArgs) -> anyhow::Result<ExitCode> {
    let mut texts = args.text.clone();
    if let Some(path) = &args.texts {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let more: Vec<String> = serde_json::from_str(&text)
            .with_context(|| format!("{}: expected a JSON list of strings", path.display()))?;
        texts.extend(more);
    }
    anyhow::ensure!(!texts.is_empty(), "no texts: give --text or --texts");
    let model = msmu_train::minilm::MiniLm::load(&args.model, msmu_train::device()?)?;
    let embeddings = model.embed_tensor(&texts)?;
    let lengths: Vec<i64> = texts
        .iter()
        .map(|t| model.token_ids(t).map(|ids| ids.len() as i64))
        .collect::<anyhow::Result<_>>()?;
    msmu_train::tch::Tensor::write_safetensors(
        &[
            ("embeddings", embeddings),
            ("lengths", msmu_train::tch::Tensor::from_slice(&lengths)),
        ],
        &args.out,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `msmu device`: which device `MSMU_DEVICE` selects and whether it computes.
#[derive(clap::Args, Debug)]
pub struct DeviceArgs {}

/// Path of a loaded shared library whose file name is `name` (from /proc/self/maps on Linux):
/// tells which libtorch the process really uses, and whether the CUDA part is linked at all.
fn loaded_library(name: &str) -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| Path::new(p).file_name().is_some_and(|f| f == name))
        .map(str::to_string)
}

/// Prints one JSON line (selected device, what libtorch sees, a 256x256 matmul on the device
/// against the CPU); fails when `MSMU_DEVICE` asks for a device that is not there.
pub fn run_device(_args: &DeviceArgs) -> anyhow::Result<ExitCode> {
    use msmu_train::tch::{Cuda, Device, Kind, Tensor};
    let cuda_available = Cuda::is_available();
    let cuda_devices = Cuda::device_count();
    let report = |selected: Option<Device>, matmul: serde_json::Value| {
        serde_json::json!({
            "MSMU_DEVICE": std::env::var(msmu_train::DEVICE_ENV).ok(),
            "selected": selected.map(|d| format!("{d:?}")),
            "precision": selected.map(|d| msmu_train::precision::Precision::resolve(None, d).name()),
            "cuda_available": cuda_available,
            "cuda_devices": cuda_devices,
            "cudnn_available": Cuda::cudnn_is_available(),
            "has_cuda": msmu_train::tch::utils::has_cuda(),
            "libtorch_cpu": loaded_library("libtorch_cpu.so"),
            "libtorch_cuda": loaded_library("libtorch_cuda.so"),
            "threads": msmu_train::tch::get_num_threads(),
            "matmul": matmul,
        })
    };
    let device = match msmu_train::device() {
        Ok(d) => d,
        Err(e) => {
            println!("{}", report(None, serde_json::Value::Null));
            return Err(e);
        }
    };
    msmu_train::tch::manual_seed(0);
    let a = Tensor::randn([256, 256], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([256, 256], (Kind::Float, Device::Cpu));
    let reference = a.matmul(&b);
    let on_device = a.to_device(device).matmul(&b.to_device(device));
    if let Device::Cuda(i) = device {
        Cuda::synchronize(i as i64);
    }
    let diff = (on_device.to_device(Device::Cpu) - &reference)
        .abs()
        .max()
        .double_value(&[]);
    let scale = reference.abs().max().double_value(&[]);
    let ok = diff <= 1e-3 * scale.max(1.0);
    println!(
        "{}",
        report(
            Some(device),
            serde_json::json!({"max_abs_diff_vs_cpu": diff, "max_abs": scale, "ok": ok}),
        )
    );
    if !ok {
        anyhow::bail!("matmul on {device:?} differs from the CPU by {diff}");
    }
    Ok(ExitCode::SUCCESS)
}
