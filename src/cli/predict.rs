//! `msmu predict`: answers a benchmark split's questions with a model (and adapter), writing
//! the JSONL that `msmu eval` scores.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::depth_source::DepthSourceArgs;
use crate::cli::train::DpeArgs;
use msmu_train::predict::{predict, PredictConfig};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu predict --model runs/tiny --adapter runs/tiny --bench shards/ --out preds.jsonl\n  \
msmu predict --model llava-1.5-7b-hf/ --bench bench/ --out preds.jsonl --no-dpe\n  \
msmu predict --model runs/tiny --adapter runs/tiny --bench official/ --out preds.jsonl \\\n    \
--depth-source estimate --depth-model Depth-Anything-V2-Large-hf/")]
pub struct PredictArgs {
    /// Base model folder (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Adapter folder written by `msmu train` (LoRA + projector).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Shard folder with the benchmark split.
    #[arg(long)]
    pub bench: PathBuf,
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Output JSONL: {"id": "<row id>#<qa index>", "question", "pred"} per line.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Answer only the first N rows.
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

pub fn run(args: &PredictArgs) -> anyhow::Result<ExitCode> {
    let cfg = PredictConfig {
        model: args.model.clone(),
        adapter: args.adapter.clone(),
        bench: args.bench.clone(),
        split: args.split.clone(),
        out: args.out.clone(),
        max_new_tokens: args.max_new_tokens,
        temperature: args.temperature,
        seed: args.seed,
        dpe: args.dpe.resolve(),
        no_dpe: args.dpe.no_dpe,
        depth: args.depth.input()?,
        depth_sense: args.dpe.depth_sense,
        allow_depth_mismatch: args.allow_depth_mismatch,
        dump_logits: args.dump_logits.clone(),
        limit: args.limit,
        progress: true,
    };
    let n = predict(&cfg)?;
    eprintln!("{n} answers -> {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
