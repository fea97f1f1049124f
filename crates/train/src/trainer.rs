//! The training loop: rows in epoch order ([`crate::data`]) made into batches
//! ([`crate::batch`]), forward with LoRA dropout, loss on assistant tokens, gradient
//! accumulation, global-norm clipping and AdamW with two learning rates (adapters, projector;
//! [`crate::optim`]) on the cosine schedule with linear warmup ([`crate::schedule`]), logging
//! and checkpoints ([`crate::checkpoint`]).
//!
//! Determinism: the data order depends on (seed, epoch) only and dropout is reseeded from
//! (seed, step) before every optimizer step, so a run resumed from a checkpoint continues
//! exactly as the uninterrupted run would.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use msmu_data::dataset::reader;
use msmu_data::dataset::ModelRow;
use tch::{Device, Kind, Tensor};

use crate::batch::{
    collate, prepare_sample, prepare_sample_cached, Batch, ImageCache, ImagePrep, Sample,
};
use crate::checkpoint::{self, RunRecord, TrainerState};
use crate::config::Preset;
use crate::data::{self, EpochStream};
use crate::depth::DepthInput;
use crate::dpe::{DepthSense, DpeConfig};
use crate::llava::{Llava, PROJECTOR_PREFIX};
use crate::lora::LoraConfig;
use crate::optim::AdamW;
use crate::precision::{LossScaler, Precision};
use crate::schedule::lr_factor;
use crate::tokenize::{TextTokenizer, IGNORE};
use crate::{load_base, ModelSource};

/// Everything a training run needs, resolved from the command line.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub data: PathBuf,
    pub split: String,
    pub eval_split: String,
    pub out: PathBuf,
    pub model: ModelSource,
    pub resume: bool,
    pub lora: LoraConfig,
    pub dpe: DpeConfig,
    /// Where depth comes from (`--depth-source`, `--depth-model`).
    pub depth: DepthInput,
    /// `--depth-sense`; `None`: the default of the run's depth source.
    pub depth_sense: Option<DepthSense>,
    pub lr: f64,
    pub projector_lr: f64,
    pub weight_decay: f64,
    pub warmup_ratio: f64,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub max_grad_norm: f64,
    pub epochs: usize,
    pub max_steps: Option<usize>,
    /// Stop (and save) after this many optimizer steps; the schedule still spans the run.
    pub stop_at_step: Option<usize>,
    pub max_len: usize,
    pub seed: u64,
    pub log_every: usize,
    pub eval_every: Option<usize>,
    pub eval_rows: usize,
    pub save_every: Option<usize>,
    pub shuffle_buffer: usize,
    /// Rows whose decoded image and depth are kept in memory.
    pub cache_rows: usize,
    pub progress: bool,
    /// Frozen-weight precision; `None`: bf16 on CUDA, fp32 on the CPU (see
    /// [`crate::precision`]).
    pub precision: Option<Precision>,
}

/// Mean cross-entropy of next-token prediction over labelled positions.
pub fn lm_loss(logits: &Tensor, labels: &Tensor) -> Tensor {
    let (b, l, v) = logits.size3().expect("[batch, len, vocab]");
    let shifted = logits
        .narrow(1, 0, l - 1)
        .to_kind(Kind::Float)
        .reshape([b * (l - 1), v]);
    let targets = labels.narrow(1, 1, l - 1).reshape([b * (l - 1)]);
    shifted.cross_entropy_loss::<Tensor>(&targets, None, tch::Reduction::Mean, IGNORE, 0.0)
}

/// Loss of one batch, in float32 whatever the model's precision (see [`crate::precision`]).
pub fn batch_loss(model: &Llava, batch: &Batch, train: bool) -> anyhow::Result<Tensor> {
    let logits = model.forward(
        &batch.input_ids,
        Some(&batch.pixel_values),
        batch.depth.as_ref(),
        None,
        train,
    )?;
    Ok(lm_loss(&logits, &batch.labels))
}

/// One `metrics.jsonl` line.
#[derive(serde::Serialize)]
struct Metrics {
    step: usize,
    loss: f64,
    lr: f64,
    grad_norm: f64,
    tokens_per_s: f64,
    epoch: u64,
    elapsed_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_loss: Option<f64>,
    /// `fp32`, `bf16` or `fp16` (frozen weights and activations; see `crate::precision`).
    precision: &'static str,
    /// Seconds of this step spent waiting for the data loader (0 when it keeps up) and the
    /// whole step's seconds.
    data_wait_s: f64,
    step_s: f64,
    /// fp16 only: the loss scale after this step and the steps skipped so far (non-finite
    /// gradients).
    #[serde(skip_serializing_if = "Option::is_none")]
    loss_scale: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_steps: Option<usize>,
}

/// Summary of a finished run.
#[derive(Debug)]
pub struct TrainSummary {
    pub steps: usize,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub seconds: f64,
}

/// Where to build a model that trains on `device` in `precision`: in bf16 / fp16 on a GPU it
/// is built and cast on the CPU and then moved, so the GPU never holds the float32 copy of
/// the frozen weights (28 GB for a 7B model).
pub fn build_device(device: Device, precision: Precision) -> Device {
    if device.is_cuda() && precision != Precision::Fp32 {
        Device::Cpu
    } else {
        device
    }
}

pub fn train(cfg: &TrainConfig) -> anyhow::Result<TrainSummary> {
    let device = crate::device()?;
    let precision = Precision::resolve(cfg.precision, device);
    if matches!(cfg.model, ModelSource::Preset(Preset::SevenBShapes)) && !device.is_cuda() {
        anyhow::bail!(
            "--preset 7b-shapes is for GPU measurements: creating its 7.06 B random weights takes \
             28 GB of host memory and a step on a CPU takes hours; set MSMU_DEVICE=cuda on a \
             machine with a GPU, or use --preset small"
        );
    }
    tracing::info!("training on {device:?} in {}", precision.name());
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    // On resume a preset run's base model is the one saved in the output folder.
    let source = match (&cfg.model, cfg.resume) {
        (ModelSource::Preset(_), true) => ModelSource::Dir(cfg.out.clone()),
        (m, _) => m.clone(),
    };
    let build_device = build_device(device, precision);
    let (mut model, tokenizer) = load_base(&source, &cfg.data, &cfg.split, cfg.seed, build_device)?;
    model.add_lora(&cfg.lora, cfg.seed as i64 + 1);
    model.set_trainable(true);
    let seven_b = matches!(cfg.model, ModelSource::Preset(Preset::SevenBShapes));
    if seven_b {
        tracing::warn!(
            "--preset 7b-shapes: random weights for speed and memory measurements; the base \
             model (28 GB) is not saved, so this output cannot be used by msmu predict"
        );
    }
    if matches!(cfg.model, ModelSource::Preset(_)) && !cfg.resume && !seven_b {
        model.save_full(&cfg.out.join("model.safetensors"))?;
        checkpoint::write_json(&cfg.out.join("config.json"), &model.cfg.to_json())?;
        tokenizer.save(&cfg.out)?;
    }
    // After the base model is saved in float32: the frozen weights move to the training
    // precision, the adapters and the projector stay float32.
    model.set_precision(precision);
    if build_device != device {
        model.vs.set_device(device);
    }
    let mut scaler = (precision == Precision::Fp16).then(LossScaler::default);
    let groups = reader::row_groups(&reader::split_shards(&cfg.data, &cfg.split)?)?;
    let first_row = match groups.first() {
        Some(g) => reader::read_row_group(&g.file, g.index)?.into_iter().next(),
        None => None,
    };
    let prep = ImagePrep {
        noise_seed: cfg.seed,
        ..ImagePrep::resolve(
            cfg.dpe.clone(),
            cfg.depth.clone(),
            cfg.depth_sense,
            first_row.as_ref(),
        )?
    };
    tracing::info!("depth: {}", prep.record().describe());
    let record = RunRecord {
        base_model: match &cfg.model {
            ModelSource::Preset(p) => p.name().into(),
            ModelSource::Dir(d) => d.display().to_string(),
        },
        dpe: prep.dpe.clone(),
        depth: Some(prep.record()),
        lora_rank: cfg.lora.rank,
        lora_alpha: cfg.lora.alpha,
        lora_dropout: cfg.lora.dropout,
        lora_targets: cfg.lora.target_modules.clone(),
        seed: cfg.seed,
    };

    let mut params: Vec<(String, Tensor, f64)> = model
        .lora_params()
        .into_iter()
        .map(|(n, t)| (n, t, cfg.lr))
        .collect();
    params.extend(
        model
            .projector_params()
            .into_iter()
            .map(|(n, t)| (n, t, cfg.projector_lr)),
    );
    debug_assert!(params
        .iter()
        .all(|(n, _, _)| n.contains("lora_") || n.starts_with(PROJECTOR_PREFIX)));
    let mut opt = AdamW::new(params, cfg.weight_decay);

    let n_rows = data::count_rows(&groups);
    let rows_per_step = cfg.batch_size * cfg.grad_accum;
    let steps_per_epoch = n_rows.div_ceil(rows_per_step).max(1);
    let mut state = TrainerState {
        total_steps: cfg.max_steps.unwrap_or(steps_per_epoch * cfg.epochs),
        ..Default::default()
    };
    if cfg.resume {
        if let Some(saved) = checkpoint::read_record(&cfg.out)? {
            let saved_depth = saved.depth.unwrap_or_else(|| legacy_depth(&saved.dpe));
            if saved_depth != prep.record() {
                anyhow::bail!(
                    "--resume: {} was trained with {}, this run would use {}: give the same \
                     --depth-source / --depth-model / --depth-sense",
                    cfg.out.display(),
                    saved_depth.describe(),
                    prep.record().describe()
                );
            }
        }
        let saved: TrainerState = checkpoint::read_json(&cfg.out.join(checkpoint::TRAINER_STATE))?;
        checkpoint::load_adapter(&mut model, &cfg.out)?;
        opt.load_moments(checkpoint::load_optimizer(&cfg.out, device)?)
            .with_context(|| format!("resuming from {}", cfg.out.display()))?;
        opt.step = saved.step;
        state = TrainerState {
            total_steps: state.total_steps,
            ..saved
        };
        tracing::info!(
            "resuming at step {} (epoch {}, row {})",
            state.step,
            state.epoch,
            state.rows_in_epoch
        );
    }
    let warmup = (cfg.warmup_ratio * state.total_steps as f64).ceil() as usize;
    let eval_rows: Vec<ModelRow> = match cfg.eval_every {
        Some(_) => reader::read_split(&cfg.data, &cfg.eval_split, Some(cfg.eval_rows))?,
        None => Vec::new(),
    };

    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(cfg.out.join("metrics.jsonl"))
        .context("opening metrics.jsonl")?;
    let stop = cfg
        .stop_at_step
        .unwrap_or(state.total_steps)
        .min(state.total_steps);
    let bar = if cfg.progress {
        msmu_data::progress::bar(state.total_steps as u64, "steps")
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_position(state.step as u64);
    let started = Instant::now();
    let mut summary = TrainSummary {
        steps: 0,
        first_loss: None,
        last_loss: None,
        seconds: 0.0,
    };
    let hidden = model.cfg.text.hidden_size;
    let image_size = model.cfg.vision.image_size;

    let save = |model: &Llava, opt: &AdamW, state: &TrainerState| -> anyhow::Result<()> {
        checkpoint::save_adapter(model, &cfg.out, &record)?;
        checkpoint::save_optimizer(&cfg.out, opt.moments())?;
        checkpoint::write_json(&cfg.out.join(checkpoint::TRAINER_STATE), state)
    };

    // The data loader: a worker thread reads rows in epoch order and prepares samples (image
    // decoding, CLIP preprocessing, depth pooling, tokenization) ahead of the model.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Prefetched>(
        (cfg.batch_size * cfg.grad_accum * PREFETCH_STEPS).max(1),
    );
    let model_cfg = model.cfg.clone();
    let (start_epoch, start_rows) = (state.epoch, state.rows_in_epoch);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        // Owned here, so that an early return closes the channel and the worker stops.
        let rx = rx;
        scope.spawn(|| {
            prefetch(
                tx,
                &groups,
                cfg,
                (start_epoch, start_rows),
                &model_cfg,
                &tokenizer,
                &prep,
            )
        });
        while state.step < stop {
            let step_start = Instant::now();
            tch::manual_seed(
                (cfg.seed as i64)
                    .wrapping_mul(1_000_003)
                    .wrapping_add(state.step as i64),
            );
            let mut loss_sum = 0.0;
            let mut n_tokens = 0;
            let mut data_wait = 0.0;
            for _ in 0..cfg.grad_accum {
                let mut samples = Vec::with_capacity(cfg.batch_size);
                while samples.len() < cfg.batch_size {
                    let waited = Instant::now();
                    let item = rx
                        .recv()
                        .map_err(|_| anyhow::anyhow!("the data loader thread stopped"))?;
                    data_wait += waited.elapsed().as_secs_f64();
                    state.epoch = item.epoch;
                    state.rows_in_epoch = item.rows_in_epoch;
                    samples.push(item.sample?);
                }
                let batch = collate(&samples, tokenizer.pad_id, image_size, hidden, device);
                let loss = batch_loss(&model, &batch, true)?;
                let scale = scaler.as_ref().map_or(1.0, |s| s.scale);
                (&loss * (scale / cfg.grad_accum as f64)).backward();
                loss_sum += loss.double_value(&[]);
                n_tokens += batch.n_tokens;
            }
            // fp16: unscale, and skip the update when a gradient overflowed.
            let finite = match scaler.as_mut() {
                Some(s) => {
                    let finite = s.unscale(&opt.grads());
                    s.update(finite);
                    finite
                }
                None => true,
            };
            let factor = lr_factor(state.step, state.total_steps, warmup);
            let grad_norm = if finite {
                let norm = opt.clip_grad_norm(cfg.max_grad_norm);
                opt.step(factor);
                norm
            } else {
                f64::NAN
            };
            opt.zero_grad();
            state.step += 1;
            summary.steps += 1;
            let loss = loss_sum / cfg.grad_accum as f64;
            summary.first_loss.get_or_insert(loss);
            summary.last_loss = Some(loss);
            let tokens_per_s = n_tokens as f64 / step_start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("loss {loss:.4}  {tokens_per_s:.0} tok/s"));
            bar.inc(1);
            let eval_due = cfg.eval_every.is_some_and(|k| k > 0 && state.step % k == 0);
            if state.step % cfg.log_every.max(1) == 0 || eval_due || state.step == stop {
                let eval_loss = if eval_due {
                    Some(evaluate(
                        &model, &tokenizer, &eval_rows, cfg, &prep, device,
                    )?)
                } else {
                    None
                };
                let line = Metrics {
                    step: state.step,
                    loss,
                    lr: cfg.lr * factor,
                    grad_norm,
                    tokens_per_s,
                    epoch: state.epoch,
                    elapsed_s: started.elapsed().as_secs_f64(),
                    eval_loss,
                    precision: precision.name(),
                    data_wait_s: data_wait,
                    step_s: step_start.elapsed().as_secs_f64(),
                    loss_scale: scaler.as_ref().map(|s| s.scale),
                    skipped_steps: scaler.as_ref().map(|s| s.skipped),
                };
                writeln!(metrics, "{}", serde_json::to_string(&line)?)?;
            }
            if cfg.save_every.is_some_and(|k| k > 0 && state.step % k == 0) {
                save(&model, &opt, &state)?;
            }
        }
        drop(rx);
        Ok(())
    })?;
    bar.finish_and_clear();
    save(&model, &opt, &state)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Optimizer steps of samples the data loader prepares ahead.
const PREFETCH_STEPS: usize = 2;

/// One prepared sample and the position in the epoch order after it.
struct Prefetched {
    sample: anyhow::Result<Sample>,
    epoch: u64,
    rows_in_epoch: usize,
}

/// The data loader's thread: rows in epoch order from `(epoch, rows_in_epoch)` on (a resumed
/// run skips what it already consumed), each prepared and sent; stops at the first error (sent)
/// or when the trainer closes the channel.
fn prefetch(
    tx: std::sync::mpsc::SyncSender<Prefetched>,
    groups: &[reader::RowGroup],
    cfg: &TrainConfig,
    (mut epoch, mut rows_in_epoch): (u64, usize),
    model_cfg: &crate::config::LlavaConfig,
    tokenizer: &TextTokenizer,
    prep: &ImagePrep,
) {
    let mut stream = EpochStream::new(groups, cfg.seed, epoch, cfg.shuffle_buffer);
    let mut cache = ImageCache::new(cfg.cache_rows);
    for _ in 0..rows_in_epoch {
        if let Some(Err(e)) = stream.next() {
            let _ = tx.send(Prefetched {
                sample: Err(e.into()),
                epoch,
                rows_in_epoch,
            });
            return;
        }
    }
    loop {
        let row = match stream.next() {
            Some(row) => row,
            None => {
                epoch += 1;
                rows_in_epoch = 0;
                stream = EpochStream::new(groups, cfg.seed, epoch, cfg.shuffle_buffer);
                continue;
            }
        };
        rows_in_epoch += 1;
        let sample = row.map_err(anyhow::Error::from).and_then(|row| {
            prepare_sample_cached(&row, model_cfg, tokenizer, prep, cfg.max_len, &mut cache)
        });
        let failed = sample.is_err();
        if tx
            .send(Prefetched {
                sample,
                epoch,
                rows_in_epoch,
            })
            .is_err()
            || failed
        {
            return;
        }
    }
}

/// The depth of a record written before `--depth-source` existed: mesh depth with DPE on.
pub fn legacy_depth(dpe: &DpeConfig) -> crate::depth::DepthRecord {
    crate::depth::DepthRecord {
        source: dpe
            .enabled
            .then_some(msmu_data::dataset::depth_png::DepthSource::Mesh),
        sense: dpe.enabled.then_some(dpe.sense),
    }
}

/// Mean loss over held-out rows (no dropout, no gradients).
fn evaluate(
    model: &Llava,
    tokenizer: &TextTokenizer,
    rows: &[ModelRow],
    cfg: &TrainConfig,
    prep: &ImagePrep,
    device: Device,
) -> anyhow::Result<f64> {
    if rows.is_empty() {
        return Ok(f64::NAN);
    }
    let mut total = 0.0;
    for row in rows {
        let sample = prepare_sample(row, &model.cfg, tokenizer, prep, cfg.max_len)?;
        let batch = collate(
            &[sample],
            tokenizer.pad_id,
            model.cfg.vision.image_size,
            model.cfg.text.hidden_size,
            device,
        );
        total += tch::no_grad(|| batch_loss(model, &batch, false))?.double_value(&[]);
    }
    Ok(total / rows.len() as f64)
}

/// Convenience for tests and benchmarks: one training step's pieces on prepared samples.
pub fn trainable_names(model: &Llava) -> Vec<String> {
    model
        .vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(n, _)| n)
        .collect()
}

/// Path of the metrics file of a run folder.
pub fn metrics_path(out: &Path) -> PathBuf {
    out.join("metrics.jsonl")
}
