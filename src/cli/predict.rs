//! `msmu predict`: answers a benchmark's questions with a model (and adapter), writing the
//! JSONL that `msmu eval` scores: a header line (model, adapter, decoding preset, depth), then
//! `{"id", "question", "pred", "gt", "type"}` per question, the official inference output's
//! fields plus the bench item id.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::bench_rows::{benchmark_rows, is_msmu_dataset, qspatial_rows, spatialrgpt_rows};
use crate::cli::depth_source::DepthSourceArgs;
use crate::cli::train::DpeArgs;
use msmu_data::dataset::reader;
use msmu_train::predict::{predict, Decoding, PredictConfig};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu predict --model runs/tiny --adapter runs/tiny --bench shards/ --out preds.jsonl\n  \
msmu predict --model llava-1.5-7b-hf/ --bench bench/ --out preds.jsonl --no-dpe\n  \
msmu predict --model runs/sdvlm --adapter runs/sdvlm --bench MSMU-Bench/test.parquet \\\n    \
--decoding official --depth-model Depth-Anything-V2-Large-hf/ --out preds.jsonl\n\n\
--bench is an msmu dataset folder (its `--split` shards; depth from the shards) or a released\n\
benchmark file/folder (Parquet or Arrow: the MSMU-Bench test split as on the Hub, with `image`\n\
and `conversations` + `type`, or `msmu export --format sdvlm` with `image_base64`; or Q-Spatial\n\
Bench Parquet with `question`, `answer_value`, `answer_unit`, `image`; or SpatialRGPT-Bench\n\
annotations, .json/.jsonl, images under --images: each region is drawn as a coloured box and\n\
named in the question, \"Region [0] (the red box)\"). Such data\n\
has no depth: with DPE on, give --depth-model (rows without depth are estimated).")]
pub struct PredictArgs {
    /// Base model folder (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Adapter folder written by `msmu train` (LoRA + projector).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// msmu dataset folder, or a released benchmark's Parquet/Arrow file or folder.
    #[arg(long)]
    pub bench: PathBuf,
    /// SpatialRGPT-Bench: folder the annotations' `image_info.file_path` are relative to
    /// (default: the annotation file's folder).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Split of an msmu dataset folder.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Output JSONL (header line, then one line per question).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub decoding: DecodingArgs,
    /// Answer only the first N rows (images).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Write the first forward pass's logits, input ids, pixels and DPE (safetensors).
    #[arg(long)]
    pub dump_logits: Option<PathBuf>,
    #[command(flatten)]
    pub dpe: DpeArgs,
    #[command(flatten)]
    pub depth: DepthSourceArgs,
    /// Predict even when the depth source or sense differs from the adapter's.
    #[arg(long)]
    pub allow_depth_mismatch: bool,
}

/// Decoding flags shared by `predict` and `ask`.
#[derive(clap::Args, Debug, Clone)]
pub struct DecodingArgs {
    /// Decoding preset: `msmu` (greedy, chat template, 64 new tokens) or `official` (SD-VLM's
    /// inference: sampling at temperature 0.2, 1,024 new tokens, raw question without the
    /// chat template). --temperature / --max-new-tokens override the preset.
    #[arg(long, value_enum, default_value = "msmu")]
    pub decoding: Decoding,
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// Sampling temperature; 0 is greedy.
    #[arg(long)]
    pub temperature: Option<f64>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl DecodingArgs {
    /// (temperature, max new tokens): the flags, else the preset's.
    pub fn resolve(&self) -> (f64, usize) {
        let (temperature, max_new_tokens) = self.decoding.defaults();
        (
            self.temperature.unwrap_or(temperature),
            self.max_new_tokens.unwrap_or(max_new_tokens),
        )
    }
}

pub fn run(args: &PredictArgs) -> anyhow::Result<ExitCode> {
    // Flags first: a wrong combination fails before any reading.
    let depth = args.depth.input()?;
    let is_json = args
        .bench
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("jsonl"));
    let (rows, ids) = if is_msmu_dataset(&args.bench) {
        (
            reader::read_split(&args.bench, &args.split, args.limit)?,
            None,
        )
    } else if is_json {
        let images = args.images.clone().unwrap_or_else(|| {
            args.bench
                .parent()
                .map_or_else(PathBuf::new, Path::to_path_buf)
        });
        let (rows, ids) = spatialrgpt_rows(&args.bench, &images, args.limit)
            .with_context(|| format!("reading SpatialRGPT-Bench {}", args.bench.display()))?;
        (rows, Some(ids))
    } else if msmu_eval::qspatial::looks_like_qspatial(&args.bench) {
        let (rows, ids) = qspatial_rows(&args.bench, args.limit)
            .with_context(|| format!("reading Q-Spatial {}", args.bench.display()))?;
        (rows, Some(ids))
    } else {
        let rows = benchmark_rows(&args.bench, args.limit)
            .with_context(|| format!("reading the benchmark {}", args.bench.display()))?;
        (rows, None)
    };
    let (temperature, max_new_tokens) = args.decoding.resolve();
    let cfg = PredictConfig {
        model: args.model.clone(),
        adapter: args.adapter.clone(),
        bench: args.bench.clone(),
        out: args.out.clone(),
        decoding: args.decoding.decoding,
        max_new_tokens,
        temperature,
        seed: args.decoding.seed,
        dpe: args.dpe.overrides(),
        depth,
        depth_sense: args.dpe.depth_sense,
        allow_depth_mismatch: args.allow_depth_mismatch,
        dump_logits: args.dump_logits.clone(),
        progress: true,
    };
    let n = predict(&cfg, &rows, ids.as_deref())?;
    eprintln!("{n} answers -> {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
