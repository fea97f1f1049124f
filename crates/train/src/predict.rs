//! `msmu predict`: answers every QA question of a benchmark split with a base model plus an
//! optional adapter, one image and one question per prompt, greedy (or sampled) decoding
//! with the key/value cache. Output lines `{"id": "<row id>#<qa index>", "question", "pred"}`
//! are what `msmu eval` scores.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use msmu_data::dataset::atomic::write_atomic_with;
use msmu_data::dataset::ModelRow;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::batch::{depth_tokens, ImagePrep, PreparedImage};
use crate::checkpoint;
use crate::depth::{self, DepthInput};
use crate::dpe::{DepthSense, DpeConfig, DpeOverrides};
use crate::llama::KvCache;
use crate::llava::{DepthTokens, Llava};
use crate::tokenize::{TextTokenizer, HUMAN};
use crate::{load_base, ModelSource};

/// Decoding presets (`--decoding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decoding {
    /// Greedy, the Vicuna v1 chat template around the question, 64 new tokens.
    #[default]
    Msmu,
    /// As SD-VLM's inference script: sampling at temperature 0.2, up to 1,024 new tokens, the
    /// raw question tokenised without the chat template.
    Official,
}

impl Decoding {
    /// (temperature, max new tokens) of the preset.
    pub fn defaults(self) -> (f64, usize) {
        match self {
            Decoding::Msmu => (0.0, 64),
            Decoding::Official => (0.2, 1024),
        }
    }
}

#[derive(Clone, Debug)]
pub struct PredictConfig {
    pub model: PathBuf,
    pub adapter: Option<PathBuf>,
    /// Where the rows came from (for the output header).
    pub bench: PathBuf,
    pub out: PathBuf,
    pub decoding: Decoding,
    pub max_new_tokens: usize,
    /// 0: greedy.
    pub temperature: f64,
    pub seed: u64,
    /// Depth settings given on the command line, applied over the adapter's record (else the
    /// defaults); the adapter's training noise is dropped unless `noise_sigma` is given.
    pub dpe: DpeOverrides,
    /// Where depth comes from (`--depth-source`, `--depth-model`).
    pub depth: DepthInput,
    /// `--depth-sense`; `None`: the adapter's, else the default of the depth source.
    pub depth_sense: Option<DepthSense>,
    /// Run even when the depth differs from the adapter's (`--allow-depth-mismatch`).
    pub allow_depth_mismatch: bool,
    pub dump_logits: Option<PathBuf>,
    pub progress: bool,
}

/// The first line of the output: what produced the predictions (the official inference output
/// starts with a `model` line too).
#[derive(Serialize)]
struct Header<'a> {
    model: String,
    adapter: Option<String>,
    bench: String,
    decoding: Decoding,
    temperature: f64,
    max_new_tokens: usize,
    depth: String,
    msmu_version: &'a str,
}

/// One answer: the official inference output's `question`, `pred`, `gt`, `type`, plus the
/// bench item's `id`.
#[derive(Serialize)]
struct PredLine<'a> {
    id: String,
    question: &'a str,
    pred: String,
    gt: &'a str,
    #[serde(rename = "type")]
    raw_type: &'a str,
}

/// Image, depth and prompt tensors of one question.
pub struct Prompt {
    pub input_ids: Tensor,
    pub pixel_values: Tensor,
    pub depth: Option<DepthTokens>,
}

/// The prompt of one question about an image prepared once for all its questions
/// ([`crate::batch::prepare_images`]), with `prep`'s image placeholders.
pub fn build_prompt(
    model: &Llava,
    tokenizer: &TextTokenizer,
    prep: &ImagePrep,
    image: &PreparedImage,
    question: &str,
    decoding: Decoding,
    device: Device,
) -> anyhow::Result<Prompt> {
    let v = &model.cfg.vision;
    let n_tokens = prep.image_tokens(&model.cfg);
    let depth = depth_tokens(
        &[image.depth.as_ref()],
        v.image_size,
        model.cfg.text.hidden_size,
        device,
    );
    let ids = match decoding {
        Decoding::Msmu => tokenizer.encode_prompt(question, n_tokens, model.cfg.image_token_id)?,
        Decoding::Official => {
            tokenizer.encode_raw_prompt(question, n_tokens, model.cfg.image_token_id)?
        }
    };
    Ok(Prompt {
        input_ids: Tensor::from_slice(&ids)
            .view([1, ids.len() as i64])
            .to_device(device),
        pixel_values: Tensor::from_slice(&image.pixels)
            .view([1, 3, v.image_size, v.image_size])
            .to_device(device),
        depth,
    })
}

fn pick(logits: &Tensor, temperature: f64) -> i64 {
    if temperature <= 0.0 {
        logits.argmax(-1, false).int64_value(&[])
    } else {
        let probs = (logits.to_kind(Kind::Float) / temperature).softmax(-1, Kind::Float);
        probs.multinomial(1, false).int64_value(&[0])
    }
}

/// Generates the answer ids for a prompt; returns them and the first forward's logits.
pub fn generate(
    model: &Llava,
    prompt: &Prompt,
    eos_id: i64,
    max_new_tokens: usize,
    temperature: f64,
) -> anyhow::Result<(Vec<i64>, Tensor)> {
    tch::no_grad(|| {
        let mut cache = KvCache::new(model.llm.layers.len());
        let first = model.forward(
            &prompt.input_ids,
            Some(&prompt.pixel_values),
            prompt.depth.as_ref(),
            Some(&mut cache),
            false,
        )?;
        let mut logits = first.select(1, first.size()[1] - 1).squeeze_dim(0);
        let mut out = Vec::new();
        for _ in 0..max_new_tokens {
            let next = pick(&logits, temperature);
            if next == eos_id {
                break;
            }
            out.push(next);
            let input = Tensor::from_slice(&[next])
                .view([1, 1])
                .to_device(prompt.input_ids.device());
            let step = model.forward(&input, None, None, Some(&mut cache), false)?;
            logits = step.select(1, 0).squeeze_dim(0);
        }
        Ok((out, first))
    })
}

/// A loaded model (base + adapter) with the run's depth and DPE settings resolved and
/// checked against the adapter's record.
pub struct Predictor {
    pub model: Llava,
    pub tokenizer: TextTokenizer,
    pub prep: ImagePrep,
    pub device: Device,
}

impl Predictor {
    /// Loads `cfg.model` (+ `cfg.adapter`); `first_row` decides the depth source in mode
    /// `shard`.
    pub fn load(cfg: &PredictConfig, first_row: Option<&ModelRow>) -> anyhow::Result<Self> {
        let device = crate::device()?;
        tracing::debug!("predicting on {device:?}");
        tch::manual_seed(cfg.seed as i64);
        let (mut model, tokenizer) = load_base(
            &ModelSource::Dir(cfg.model.clone()),
            &cfg.bench,
            "test",
            cfg.seed,
            device,
        )?;
        let mut dpe_base = DpeConfig::default();
        let mut trained_depth = None;
        let mut sense = cfg.depth_sense;
        if let Some(adapter) = &cfg.adapter {
            let lora = checkpoint::read_lora_config(adapter)?;
            model.add_lora(&lora, 0);
            checkpoint::load_adapter(&mut model, adapter)?;
            if let Some(record) = checkpoint::read_record(adapter)? {
                let depth = record
                    .depth
                    .clone()
                    .unwrap_or_else(|| crate::trainer::legacy_depth(&record.dpe));
                sense = sense.or(depth.sense);
                trained_depth = Some(depth);
                // The adapter's DPE, without its training-time noise (--depth-noise asks
                // for noise at prediction explicitly).
                dpe_base = DpeConfig {
                    noise_sigma: 0.0,
                    ..record.dpe
                };
            }
        }
        let dpe_cfg = cfg.dpe.apply(dpe_base.clone());
        if trained_depth.is_some()
            && dpe_base.enabled
            && dpe_cfg.enabled
            && dpe_base.fusion != dpe_cfg.fusion
            && !cfg.allow_depth_mismatch
        {
            anyhow::bail!(
                "the adapter was trained with --depth-fusion {}, this run would use {}: the \
                 image tokens would not be what it learned (pass --allow-depth-mismatch to run \
                 anyway)",
                dpe_base.fusion,
                dpe_cfg.fusion
            );
        }
        let prep = ImagePrep {
            noise_seed: cfg.seed,
            ..ImagePrep::resolve(dpe_cfg, cfg.depth.clone(), sense, first_row)?
        };
        if let Some(trained) = &trained_depth {
            depth::check_depth_match(trained, &prep.record(), cfg.allow_depth_mismatch)?;
        }
        Ok(Self {
            model,
            tokenizer,
            prep,
            device,
        })
    }

    /// One answer about `row`'s image.
    pub fn answer(
        &self,
        row: &ModelRow,
        question: &str,
        decoding: Decoding,
        max_new_tokens: usize,
        temperature: f64,
    ) -> anyhow::Result<String> {
        let images = crate::batch::prepare_images(row, &self.model.cfg, &self.prep)?;
        let prompt = build_prompt(
            &self.model,
            &self.tokenizer,
            &self.prep,
            &images,
            question,
            decoding,
            self.device,
        )?;
        let (ids, _) = generate(
            &self.model,
            &prompt,
            self.tokenizer.eos_id,
            max_new_tokens,
            temperature,
        )?;
        Ok(self.tokenizer.decode(&ids)?.trim().to_string())
    }
}

/// Answers every question of `rows` (their `qa`, else the human turns of their
/// conversation); returns the number of answers written. `ids`, when given, holds each row's
/// bench item ids (`item_ids`, one per question); otherwise an answer's id is `{row id}#{k}`.
pub fn predict(
    cfg: &PredictConfig,
    rows: &[ModelRow],
    item_ids: Option<&[Vec<String>]>,
) -> anyhow::Result<usize> {
    if let Some(ids) = item_ids {
        anyhow::ensure!(ids.len() == rows.len(), "one id list per row");
    }
    let Predictor {
        model,
        tokenizer,
        prep,
        device,
    } = Predictor::load(cfg, rows.first())?;
    let n_questions: usize = rows.iter().map(|r| r.qa.len().max(1)).sum();
    let header = Header {
        model: cfg.model.display().to_string(),
        adapter: cfg.adapter.as_ref().map(|a| a.display().to_string()),
        bench: cfg.bench.display().to_string(),
        decoding: cfg.decoding,
        temperature: cfg.temperature,
        max_new_tokens: cfg.max_new_tokens,
        depth: prep.record().describe(),
        msmu_version: env!("CARGO_PKG_VERSION"),
    };
    let bar = if cfg.progress {
        msmu_data::progress::bar(n_questions as u64, "questions")
    } else {
        indicatif::ProgressBar::hidden()
    };
    if let Some(parent) = cfg.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut dumped = false;
    let mut written = 0;
    write_atomic_with(&cfg.out, |tmp| {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        writeln!(out, "{}", serde_json::to_string(&header)?)?;
        for (r, row) in rows.iter().enumerate() {
            // Image decoding, preprocessing and depth (estimation included) once per image,
            // not once per question.
            let images = crate::batch::prepare_images(row, &model.cfg, &prep)?;
            // (question, reference, type); rows without structured QA: the human turns of
            // the conversation and the answers after them.
            let questions: Vec<(String, String, String)> = if row.qa.is_empty() {
                let turns = &row.conversations;
                turns
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.from == HUMAN)
                    .map(|(i, t)| {
                        let question = t.value.replace("<image>\n", "").replace("<image>", "");
                        let gt = turns
                            .get(i + 1)
                            .filter(|a| a.from != HUMAN)
                            .map_or(String::new(), |a| a.value.clone());
                        (question, gt, String::new())
                    })
                    .collect()
            } else {
                row.qa
                    .iter()
                    .map(|q| (q.question.clone(), q.answer.clone(), q.r#type.clone()))
                    .collect()
            };
            for (k, (question, gt, raw_type)) in questions.iter().enumerate() {
                let prompt = build_prompt(
                    &model,
                    &tokenizer,
                    &prep,
                    &images,
                    question,
                    cfg.decoding,
                    device,
                )?;
                let (ids, first_logits) = generate(
                    &model,
                    &prompt,
                    tokenizer.eos_id,
                    cfg.max_new_tokens,
                    cfg.temperature,
                )?;
                if let (Some(path), false) = (&cfg.dump_logits, dumped) {
                    dump_first_forward(path, &prompt, &first_logits)?;
                    dumped = true;
                }
                let pred = tokenizer.decode(&ids)?.trim().to_string();
                let id = match item_ids.and_then(|ids| ids[r].get(k)) {
                    Some(id) => id.clone(),
                    None => format!("{}#{k}", row.id),
                };
                let line = PredLine {
                    id,
                    question,
                    pred,
                    gt,
                    raw_type,
                };
                writeln!(out, "{}", serde_json::to_string(&line)?)?;
                written += 1;
                bar.inc(1);
            }
        }
        out.flush()
            .with_context(|| format!("writing {}", tmp.display()))
    })?;
    bar.finish_and_clear();
    Ok(written)
}

/// Writes the first forward pass of a prompt (logits, input ids, pixels, DPE) as safetensors.
fn dump_first_forward(
    path: &std::path::Path,
    prompt: &Prompt,
    first_logits: &Tensor,
) -> anyhow::Result<()> {
    let mut tensors = vec![
        ("logits".to_string(), first_logits.to_kind(Kind::Float)),
        ("input_ids".to_string(), prompt.input_ids.shallow_clone()),
        (
            "pixel_values".to_string(),
            prompt.pixel_values.shallow_clone(),
        ),
    ];
    match &prompt.depth {
        Some(DepthTokens::Pe(pe)) => tensors.push(("dpe".to_string(), pe.shallow_clone())),
        Some(DepthTokens::Image(px)) => {
            tensors.push(("depth_pixel_values".to_string(), px.shallow_clone()))
        }
        None => {}
    }
    let tensors: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(k, v)| (k, v.to_device(Device::Cpu).contiguous()))
        .collect();
    write_atomic_with(path, |tmp| {
        Tensor::write_safetensors(&tensors, tmp)
            .with_context(|| format!("writing {}", path.display()))
    })
}
