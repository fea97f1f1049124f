//! `msmu eval`: scores predictions on an MSMU-style bench without an LLM judge (unit-aware
//! answer parsing, structured ground truth, the official success criteria).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use msmu_eval::bench::{items_from_predictions, read_bench, read_predictions};
use msmu_eval::names::NameEmbedder;
use msmu_eval::report::evaluate_with;
use msmu_eval::{qspatial, spatialrgpt};

/// Which benchmark `msmu eval` scores.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Suite {
    #[default]
    Msmu,
    Qspatial,
    Spatialrgpt,
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu qa fixtures/scannet/scans/scene0900_00 --frame-stride 1 --json > bench.jsonl\n  \
msmu eval --bench bench.jsonl --pred preds.jsonl\n  \
msmu eval --bench out/shards/test --pred preds.jsonl --by-type --per-item items.jsonl\n  \
msmu eval --bench msmu_test/data-00000-of-00001.arrow --pred preds.jsonl --json\n  \
msmu eval --pred official_inference_output.jsonl   (reference answers from `gt`)\n  \
msmu eval --suite qspatial --bench Q-Spatial-Bench/data --pred qspatial_preds.jsonl\n  \
msmu eval --suite spatialrgpt --bench SpatialRGPT-Bench_v1.json --pred srgpt_answers.jsonl\n  \
msmu eval --pred official_inference_output.jsonl --name-model all-MiniLM-L6-v2/   (trainer build)\n\n\
Predictions: one JSON object per line with `pred` and `id` (`{row id}#{qa index}`) or \
`question`; the official inference output (header line {\"model\": ...}, then question, pred, \
gt, type) is accepted as is. With --suite qspatial the ids are `<split>#<row index>` (split = \
the file name without `-00000-of-00001`, or --split), or lines carry the `question`. With --suite spatialrgpt the ids are the bench `id` (the official \
inference output's `question_id`), else the `question`; without --bench the official output's \
`gt` and `qa_info` are the references.")]
pub struct EvalArgs {
    /// Benchmark: `msmu` (MSMU-Bench and msmu benches, the default) or `qspatial` (Q-Spatial
    /// Bench Parquet: success when max(pred/gt, gt/pred) < 2 in cm, per split).
    #[arg(long, value_enum, default_value_t = Suite::Msmu)]
    pub suite: Suite,
    /// Q-Spatial only: the split name of every --bench file (default: from the file name).
    #[arg(long)]
    pub split: Option<String>,
    /// Bench: an msmu test shard folder or file (.parquet), the sdvlm export, the official MSMU
    /// test split (.parquet or HF .arrow), or `msmu qa --json` lines (.jsonl). Optional when
    /// every prediction carries `gt` and `type`.
    #[arg(long)]
    pub bench: Option<PathBuf>,
    /// Predictions, JSONL.
    #[arg(long)]
    pub pred: PathBuf,
    /// Print the report as JSON instead of a Markdown table.
    #[arg(long)]
    pub json: bool,
    /// Also report per raw type.
    #[arg(long)]
    pub by_type: bool,
    /// Write one JSON line per prediction (input order) to this file.
    #[arg(long)]
    pub per_item: Option<PathBuf>,
    /// Write the report to this file (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// A sentence-transformers all-MiniLM-L6-v2 folder (config.json, model.safetensors,
    /// tokenizer.json, modules.json, 1_Pooling/, sentence_bert_config.json): object-name
    /// grounding answers then succeed by the official rule, cosine similarity of the
    /// embedded reference and predicted object names >= 0.5, instead of the rule-based label
    /// match. Needs the trainer build (libtorch).
    #[arg(long, value_name = "DIR")]
    pub name_model: Option<PathBuf>,
}

pub fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    if args.suite == Suite::Qspatial {
        return run_qspatial(args);
    }
    if args.suite == Suite::Spatialrgpt {
        return run_spatialrgpt(args);
    }
    if args.split.is_some() {
        anyhow::bail!("--split is for --suite qspatial");
    }
    let names = match &args.name_model {
        Some(dir) => Some(load_name_model(dir)?),
        None => None,
    };
    let preds = read_predictions(&args.pred)?;
    let (bench, by_index) = match &args.bench {
        Some(path) => (read_bench(path)?, false),
        None => (items_from_predictions(&preds, &args.pred)?, true),
    };
    let mut eval = evaluate_with(&bench, &preds.items, by_index, names.as_deref())?;
    eval.model = preds.model.clone();
    if let Some(path) = &args.per_item {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("creating --per-item file {}", path.display()))?,
        );
        for r in &eval.items {
            writeln!(out, "{}", serde_json::to_string(r)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let text = if args.json {
        serde_json::to_string_pretty(&eval.to_json(args.by_type))?
    } else {
        eval.to_markdown(args.by_type)
    };
    emit(args, &text)
}

/// `--suite qspatial`: Q-Spatial Bench Parquet against JSONL predictions, per split.
fn run_qspatial(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let Some(bench) = &args.bench else {
        anyhow::bail!("--suite qspatial needs --bench (a Q-Spatial .parquet file or its folder)");
    };
    if args.by_type {
        anyhow::bail!("--by-type is for --suite msmu");
    }
    if args.name_model.is_some() {
        anyhow::bail!("--name-model is for --suite msmu (Q-Spatial answers are all numbers)");
    }
    let preds = read_predictions(&args.pred)?;
    let items = qspatial::read_bench(bench, args.split.as_deref())?;
    let mut report = qspatial::score(&items, &preds.items);
    report.model = preds.model.clone();
    if let Some(path) = &args.per_item {
        write_per_item(path, &report.items)?;
    }
    let text = if args.json {
        serde_json::to_string_pretty(&report.to_json())?
    } else {
        report.to_markdown()
    };
    emit(args, &text)
}

/// One JSON line per scored item (`--per-item FILE`).
fn write_per_item<T: serde::Serialize>(path: &std::path::Path, items: &[T]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path)
            .with_context(|| format!("creating --per-item file {}", path.display()))?,
    );
    for r in items {
        writeln!(out, "{}", serde_json::to_string(r)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// `--suite spatialrgpt`: SpatialRGPT-Bench (JSON array or JSONL) against JSONL predictions,
/// per category; without --bench the official inference output (`gt`, `qa_info`) is both.
fn run_spatialrgpt(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    if args.by_type {
        anyhow::bail!("--by-type is for --suite msmu");
    }
    if args.split.is_some() {
        anyhow::bail!("--split is for --suite qspatial");
    }
    if args.name_model.is_some() {
        anyhow::bail!("--name-model is for --suite msmu");
    }
    let preds = read_predictions(&args.pred)?;
    let items = spatialrgpt::read_bench(args.bench.as_ref().unwrap_or(&args.pred))
        .context("--suite spatialrgpt needs --bench SpatialRGPT-Bench_v1.json (or .jsonl), or predictions in the official inference output format (with `gt` and `qa_info`)")?;
    let mut report = spatialrgpt::score(&items, &preds.items);
    report.model = preds.model.clone();
    if let Some(path) = &args.per_item {
        write_per_item(path, &report.items)?;
    }
    let text = if args.json {
        serde_json::to_string_pretty(&report.to_json())?
    } else {
        report.to_markdown()
    };
    emit(args, &text)
}

/// The sentence-embedding model of `--name-model` (msmu-train's all-MiniLM-L6-v2), on the
/// device `MSMU_DEVICE` selects.
#[cfg(feature = "train")]
fn load_name_model(dir: &std::path::Path) -> anyhow::Result<Box<dyn NameEmbedder>> {
    let device = msmu_train::device()?;
    let model = msmu_train::minilm::MiniLm::load(dir, device)
        .with_context(|| format!("loading the --name-model {}", dir.display()))?;
    Ok(Box::new(model))
}

/// Without the trainer there is no sentence-embedding model: say how to get one.
#[cfg(not(feature = "train"))]
fn load_name_model(_dir: &std::path::Path) -> anyhow::Result<Box<dyn NameEmbedder>> {
    anyhow::bail!(
        "--name-model runs all-MiniLM-L6-v2 on libtorch, which needs the trainer build: \
         `make train-ready` (then target/release/msmu), or \
         `LIBTORCH=... cargo build --release --features train`; without --name-model, \
         object names are matched by the rules"
    )
}

/// The report to `--out` or standard output.
fn emit(args: &EvalArgs, text: &str) -> anyhow::Result<ExitCode> {
    match &args.out {
        Some(path) => {
            msmu_data::dataset::atomic::write_atomic_with(path, |tmp| {
                std::fs::write(tmp, format!("{}\n", text.trim_end()))
                    .with_context(|| format!("writing {}", tmp.display()))
            })?;
            Ok(ExitCode::SUCCESS)
        }
        None => print(text),
    }
}

fn print(text: &str) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    if let Err(e) = writeln!(lock, "{}", text.trim_end()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    Ok(ExitCode::SUCCESS)
}
