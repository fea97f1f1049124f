//! `msmu ask`: one answer about any photo, with depth from a file, estimated by a
//! Depth-Anything-V2 model, or none.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};

use crate::cli::depth_source::load_estimator;
use crate::cli::predict::DecodingArgs;
use crate::cli::train::DpeArgs;
use msmu_data::dataset::depth_png::{DepthMm, DepthSource};
use msmu_data::dataset::{ImageBlob, ModelRow};
use msmu_data::io::read_bounded;
use msmu_train::depth::{DepthInput, DepthMode};
use msmu_train::predict::{PredictConfig, Predictor};

/// Largest image or depth file `msmu ask` reads.
const MAX_FILE_BYTES: u64 = 256 << 20;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu ask --model runs/tiny --adapter runs/tiny --depth-model Depth-Anything-V2-Small-hf/ \\\n    \
photo.jpg \"How far is the chair from the table?\"\n  \
msmu ask --model runs/sdvlm --adapter runs/sdvlm --depth depth_mm.png frame.jpg \"How tall is the lamp?\"\n  \
msmu ask --model llava-1.5-7b-hf/ --no-dpe photo.jpg \"What is on the desk?\"\n\n\
Depth for DPE: --depth FILE (16-bit PNG, metric millimetres, 0 = no value, e.g. a sensor's or \
`msmu render`'s; treated as ground truth) or --depth-model DIR (estimated from the photo). With \
an adapter, the depth must be of the kind it was trained with (see --allow-depth-mismatch).")]
pub struct AskArgs {
    /// Base model folder (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Adapter folder written by `msmu train`.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Depth-Anything-V2 folder that estimates the photo's depth.
    #[arg(long, conflicts_with = "depth")]
    pub depth_model: Option<PathBuf>,
    /// Depth of the photo: 16-bit PNG in millimetres.
    #[arg(long)]
    pub depth: Option<PathBuf>,
    #[command(flatten)]
    pub decoding: DecodingArgs,
    /// Answer even when the depth differs from the adapter's.
    #[arg(long)]
    pub allow_depth_mismatch: bool,
    #[command(flatten)]
    pub dpe: DpeArgs,
    /// The photo (JPEG or PNG).
    pub image: PathBuf,
    /// The question.
    pub question: String,
}

pub fn run(args: &AskArgs) -> anyhow::Result<ExitCode> {
    if args.question.trim().is_empty() {
        bail!("the question is empty");
    }
    let image = read_bounded(&args.image, MAX_FILE_BYTES)
        .with_context(|| format!("reading {}", args.image.display()))?;
    image::load_from_memory(&image)
        .with_context(|| format!("{}: not a readable image", args.image.display()))?;
    let depth = match &args.depth {
        Some(path) => {
            let bytes = read_bounded(path, MAX_FILE_BYTES)
                .with_context(|| format!("reading {}", path.display()))?;
            DepthMm::decode_png(&bytes).with_context(|| format!("{}", path.display()))?;
            Some(ImageBlob { bytes, path: None })
        }
        None => None,
    };
    let mode = if args.dpe.no_dpe {
        DepthMode::None
    } else {
        DepthMode::Shard
    };
    let estimator = if mode == DepthMode::None {
        None
    } else {
        load_estimator(args.depth_model.as_ref())?
    };
    let row = ModelRow {
        id: args
            .image
            .file_stem()
            .map_or("image".into(), |s| s.to_string_lossy().into_owned()),
        image: ImageBlob {
            bytes: image,
            path: None,
        },
        depth,
        depth_source: DepthSource::Mesh,
        ..ModelRow::default()
    };
    let (temperature, max_new_tokens) = args.decoding.resolve();
    let cfg = PredictConfig {
        model: args.model.clone(),
        adapter: args.adapter.clone(),
        bench: args.image.clone(),
        out: PathBuf::new(),
        decoding: args.decoding.decoding,
        max_new_tokens,
        temperature,
        seed: args.decoding.seed,
        dpe: args.dpe.overrides(),
        depth: DepthInput::new(mode, estimator)?,
        depth_sense: args.dpe.depth_sense,
        allow_depth_mismatch: args.allow_depth_mismatch,
        dump_logits: None,
        progress: false,
    };
    let predictor = Predictor::load(&cfg, Some(&row))?;
    let answer = predictor.answer(
        &row,
        &args.question,
        cfg.decoding,
        cfg.max_new_tokens,
        cfg.temperature,
    )?;
    println!("{answer}");
    Ok(ExitCode::SUCCESS)
}
