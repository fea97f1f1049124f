//! The training loop: batches from the shards (image -> pixels, depth -> DPE cells,
//! conversation -> ids and labels), forward with LoRA dropout, loss on assistant tokens,
//! gradient accumulation, global-norm clipping, AdamW with two learning rates (adapters,
//! projector), cosine schedule with linear warmup, logging and checkpoints.
//!
//! Determinism: the data order depends on (seed, epoch) only and dropout is reseeded from
//! (seed, step) before every optimizer step, so a run resumed from a checkpoint continues
//! exactly as the uninterrupted run would.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use tch::{Device, Kind, Tensor};

use crate::checkpoint::{self, RunRecord, TrainerState};
use crate::data::{self, EpochStream, Row};
use crate::dpe::{self, DepthMap, DpeConfig};
use crate::llava::{Llava, PROJECTOR_PREFIX};
use crate::lora::LoraConfig;
use crate::preprocess;
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
}

/// One preprocessed row.
#[derive(Debug)]
pub struct Sample {
    pub input_ids: Vec<i64>,
    pub labels: Vec<i64>,
    pub pixel_values: Vec<f32>,
    pub depth_cells: Option<Vec<f64>>,
}

/// Decoded image pixels and DPE cells of rows already seen (decoding and resizing a large
/// JPEG costs more than a step of the tiny model), up to a number of rows.
#[derive(Default)]
pub struct ImageCache {
    rows: std::collections::HashMap<String, (Vec<f32>, Option<Vec<f64>>)>,
    capacity: usize,
}

impl ImageCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            rows: Default::default(),
            capacity,
        }
    }
}

/// Turns a shard row into model inputs.
pub fn prepare_sample(
    row: &Row,
    model: &Llava,
    tokenizer: &TextTokenizer,
    dpe: &DpeConfig,
    max_len: usize,
) -> anyhow::Result<Sample> {
    prepare_sample_cached(
        row,
        model,
        tokenizer,
        dpe,
        max_len,
        &mut ImageCache::default(),
    )
}

/// [`prepare_sample`] with a cache of the image side.
pub fn prepare_sample_cached(
    row: &Row,
    model: &Llava,
    tokenizer: &TextTokenizer,
    dpe: &DpeConfig,
    max_len: usize,
    cache: &mut ImageCache,
) -> anyhow::Result<Sample> {
    let (pixel_values, depth_cells) = match cache.rows.get(&row.id) {
        Some(hit) => hit.clone(),
        None => {
            let images = prepare_images(row, model, dpe)?;
            if cache.rows.len() < cache.capacity {
                cache.rows.insert(row.id.clone(), images.clone());
            }
            images
        }
    };
    let grid = model.cfg.vision.grid() as usize;
    let enc = tokenizer.encode_conversation(
        &row.conversations,
        grid * grid,
        model.cfg.image_token_id,
        max_len,
    )?;
    let n_image = enc
        .input_ids
        .iter()
        .filter(|&&i| i == model.cfg.image_token_id)
        .count();
    if n_image != grid * grid {
        bail!(
            "{}: {n_image} image tokens after truncation to {max_len} (need {})",
            row.id,
            grid * grid
        );
    }
    Ok(Sample {
        input_ids: enc.input_ids,
        labels: enc.labels,
        pixel_values,
        depth_cells,
    })
}

/// CLIP pixels and (with DPE) normalised depth cells of a row.
fn prepare_images(
    row: &Row,
    model: &Llava,
    dpe: &DpeConfig,
) -> anyhow::Result<(Vec<f32>, Option<Vec<f64>>)> {
    let vcfg = &model.cfg.vision;
    let grid = vcfg.grid() as usize;
    let pixel_values = preprocess::preprocess_bytes(&row.image, vcfg.image_size as u32)
        .with_context(|| format!("{}: decoding the image", row.id))?;
    let depth_cells = if dpe.enabled {
        Some(match &row.depth {
            Some(bytes) => {
                let depth = DepthMap::decode_png(bytes)
                    .with_context(|| format!("{}: decoding depth", row.id))?;
                dpe::depth_cells(&depth, grid, dpe)
            }
            None => vec![0.0; grid * grid],
        })
    } else {
        None
    };
    Ok((pixel_values, depth_cells))
}

/// A padded batch on the device.
pub struct Batch {
    pub input_ids: Tensor,
    pub labels: Tensor,
    pub pixel_values: Tensor,
    pub dpe: Option<Tensor>,
    /// Non-padding tokens.
    pub n_tokens: usize,
}

/// Right-pads to the longest row; padding is `pad_id` / [`IGNORE`].
pub fn collate(
    samples: &[Sample],
    pad_id: i64,
    image_size: i64,
    hidden: i64,
    device: Device,
) -> Batch {
    let b = samples.len() as i64;
    let max_len = samples.iter().map(|s| s.input_ids.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(samples.len() * max_len);
    let mut labels = Vec::with_capacity(samples.len() * max_len);
    let mut pixels: Vec<f32> = Vec::new();
    for s in samples {
        ids.extend(&s.input_ids);
        ids.extend(std::iter::repeat_n(pad_id, max_len - s.input_ids.len()));
        labels.extend(&s.labels);
        labels.extend(std::iter::repeat_n(IGNORE, max_len - s.labels.len()));
        pixels.extend(&s.pixel_values);
    }
    let dpe = samples
        .iter()
        .map(|s| s.depth_cells.clone())
        .collect::<Option<Vec<_>>>()
        .map(|cells| dpe::encode(&cells, hidden, device));
    Batch {
        input_ids: Tensor::from_slice(&ids)
            .view([b, max_len as i64])
            .to_device(device),
        labels: Tensor::from_slice(&labels)
            .view([b, max_len as i64])
            .to_device(device),
        pixel_values: Tensor::from_slice(&pixels)
            .view([b, 3, image_size, image_size])
            .to_device(device),
        dpe,
        n_tokens: samples.iter().map(|s| s.input_ids.len()).sum(),
    }
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

/// Loss of one batch (autocast on CUDA unless `MSMU_AUTOCAST=0`, see [`crate::autocast`]).
pub fn batch_loss(model: &Llava, batch: &Batch, train: bool) -> anyhow::Result<Tensor> {
    let mixed = crate::autocast(batch.input_ids.device());
    tch::autocast(mixed, || {
        let logits = model.forward(
            &batch.input_ids,
            Some(&batch.pixel_values),
            batch.dpe.as_ref(),
            None,
            train,
        )?;
        Ok(lm_loss(&logits, &batch.labels))
    })
}

/// HF `get_cosine_schedule_with_warmup` multiplier for optimizer step `step` (0-based).
pub fn lr_factor(step: usize, total: usize, warmup: usize) -> f64 {
    if step < warmup {
        return step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
}

/// AdamW as `torch.optim.AdamW` (betas 0.9/0.999, eps 1e-8, decoupled weight decay).
pub struct AdamW {
    pub params: Vec<(String, Tensor, f64)>,
    pub moments: BTreeMap<String, (Tensor, Tensor)>,
    pub weight_decay: f64,
    pub step: usize,
}

impl AdamW {
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

    pub fn step(&mut self, lr_factor: f64) {
        self.step += 1;
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
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
}

/// Rows per split from the Parquet footers.
fn count_rows(groups: &[(PathBuf, usize)]) -> anyhow::Result<usize> {
    let mut n = 0;
    let mut files: Vec<&PathBuf> = groups.iter().map(|(f, _)| f).collect();
    files.dedup();
    for f in files {
        let reader = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(f)?)?;
        n += parquet::file::reader::FileReader::metadata(&reader)
            .file_metadata()
            .num_rows() as usize;
    }
    Ok(n)
}

/// Summary of a finished run.
#[derive(Debug)]
pub struct TrainSummary {
    pub steps: usize,
    pub first_loss: Option<f64>,
    pub last_loss: Option<f64>,
    pub seconds: f64,
}

pub fn train(cfg: &TrainConfig) -> anyhow::Result<TrainSummary> {
    let device = crate::device()?;
    tracing::info!(
        "training on {device:?}{}",
        if crate::autocast(device) {
            " (autocast)"
        } else {
            ""
        }
    );
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    // On resume a tiny run's base model is the one saved in the output folder.
    let source = match (&cfg.model, cfg.resume) {
        (ModelSource::Tiny, true) => ModelSource::Dir(cfg.out.clone()),
        (m, _) => m.clone(),
    };
    let (mut model, tokenizer) = load_base(&source, &cfg.data, &cfg.split, cfg.seed, device)?;
    model.add_lora(&cfg.lora, cfg.seed as i64 + 1);
    model.set_trainable(true);
    if matches!(cfg.model, ModelSource::Tiny) && !cfg.resume {
        model.save_full(&cfg.out.join("model.safetensors"))?;
        checkpoint::write_json(&cfg.out.join("config.json"), &model.cfg.to_json())?;
        tokenizer.save(&cfg.out)?;
    }
    let record = RunRecord {
        base_model: match &cfg.model {
            ModelSource::Tiny => "tiny".into(),
            ModelSource::Dir(d) => d.display().to_string(),
        },
        dpe: cfg.dpe.clone(),
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

    let groups = data::row_groups(&data::shard_files(&cfg.data, &cfg.split)?)?;
    let n_rows = count_rows(&groups)?;
    let rows_per_step = cfg.batch_size * cfg.grad_accum;
    let steps_per_epoch = n_rows.div_ceil(rows_per_step).max(1);
    let mut state = TrainerState {
        total_steps: cfg.max_steps.unwrap_or(steps_per_epoch * cfg.epochs),
        ..Default::default()
    };
    if cfg.resume {
        let saved: TrainerState = checkpoint::read_json(&cfg.out.join(checkpoint::TRAINER_STATE))?;
        checkpoint::load_adapter(&mut model, &cfg.out)?;
        opt.moments = checkpoint::load_optimizer(&cfg.out, device)?;
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
    let eval_rows: Vec<Row> = match cfg.eval_every {
        Some(_) => data::read_split(&cfg.data, &cfg.eval_split)?
            .into_iter()
            .take(cfg.eval_rows)
            .collect(),
        None => Vec::new(),
    };

    let mut stream = EpochStream::new(&groups, cfg.seed, state.epoch, cfg.shuffle_buffer);
    for _ in 0..state.rows_in_epoch {
        stream.next().transpose()?;
    }
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
    let mut image_cache = ImageCache::new(cfg.cache_rows);
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
        checkpoint::save_optimizer(&cfg.out, &opt.moments)?;
        checkpoint::write_json(&cfg.out.join(checkpoint::TRAINER_STATE), state)
    };

    while state.step < stop {
        let step_start = Instant::now();
        tch::manual_seed(
            (cfg.seed as i64)
                .wrapping_mul(1_000_003)
                .wrapping_add(state.step as i64),
        );
        let mut loss_sum = 0.0;
        let mut n_tokens = 0;
        for _ in 0..cfg.grad_accum {
            let mut samples = Vec::with_capacity(cfg.batch_size);
            while samples.len() < cfg.batch_size {
                let row = match stream.next() {
                    Some(row) => row?,
                    None => {
                        state.epoch += 1;
                        state.rows_in_epoch = 0;
                        stream =
                            EpochStream::new(&groups, cfg.seed, state.epoch, cfg.shuffle_buffer);
                        continue;
                    }
                };
                state.rows_in_epoch += 1;
                samples.push(prepare_sample_cached(
                    &row,
                    &model,
                    &tokenizer,
                    &cfg.dpe,
                    cfg.max_len,
                    &mut image_cache,
                )?);
            }
            let batch = collate(&samples, tokenizer.pad_id, image_size, hidden, device);
            let loss = batch_loss(&model, &batch, true)?;
            (&loss / cfg.grad_accum as f64).backward();
            loss_sum += loss.double_value(&[]);
            n_tokens += batch.n_tokens;
        }
        let grad_norm = opt.clip_grad_norm(cfg.max_grad_norm);
        let factor = lr_factor(state.step, state.total_steps, warmup);
        opt.step(factor);
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
                Some(evaluate(&model, &tokenizer, &eval_rows, cfg, device)?)
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
            };
            writeln!(metrics, "{}", serde_json::to_string(&line)?)?;
        }
        if cfg.save_every.is_some_and(|k| k > 0 && state.step % k == 0) {
            save(&model, &opt, &state)?;
        }
    }
    bar.finish_and_clear();
    save(&model, &opt, &state)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Mean loss over held-out rows (no dropout, no gradients).
fn evaluate(
    model: &Llava,
    tokenizer: &TextTokenizer,
    rows: &[Row],
    cfg: &TrainConfig,
    device: Device,
) -> anyhow::Result<f64> {
    if rows.is_empty() {
        return Ok(f64::NAN);
    }
    let mut total = 0.0;
    for row in rows {
        let sample = prepare_sample(row, model, tokenizer, &cfg.dpe, cfg.max_len)?;
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
