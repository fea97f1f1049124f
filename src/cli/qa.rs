//! `msmu qa`: reads one scene, measures it, selects views and prints the generated QA, per view
//! as a LLaVA conversation or (`--json`) one JSON line per QA pair.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use msmu_data::geom::select::SelectionRules;
use msmu_data::geom::views::ViewSelectionConfig;
use msmu_data::geom::visibility::VisibilityConfig;
use msmu_data::io::{load_scene, ReadOptions};
use msmu_data::pipeline::colors::add_view_colors;
use msmu_data::qa::split::Split;
use msmu_data::qa::{generate_scene, prepare_scene, QaConfig, QaPair, TemplateSet};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
msmu qa fixtures/scannet/scans/scene0900_00 --frame-stride 1\n  \
msmu qa fixtures/scannet/scans/scene0901_00 --json --seed 7 | jq .raw_type\n  \
msmu qa fixtures/scannetpp/data/a7acc711d8 --templates my_templates/ --imperial\n  \
msmu qa scans/scene0011_00 --exclude-scenes msmu_bench_scenes.txt --split-val scannetv2_val.txt")]
pub struct QaArgs {
    /// Scene folder (ScanNet `scans/sceneXXXX_YY` or ScanNet++ `data/<id>`).
    pub scene: PathBuf,
    /// Print one JSON line per QA pair (with scene, frame and split) instead of conversations.
    #[arg(long)]
    pub json: bool,
    /// Seed of every random choice (phrasing, unit, mix); same seed, same output.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folder with the eight template files (`existence.json`, ...); default: the shipped ones.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Keep every N-th frame before the pose-diversity test.
    #[arg(long, default_value_t = 10)]
    pub frame_stride: usize,
    /// Most QA pairs per image.
    #[arg(long)]
    pub max_per_image: Option<usize>,
    /// Also use feet and inches (opt-in variant).
    #[arg(long)]
    pub imperial: bool,
    /// Scenes kept out of training, one id per line (e.g. MSMU-Bench scenes).
    #[arg(long)]
    pub exclude_scenes: Option<PathBuf>,
    /// Official ScanNet train list (`scannetv2_train.txt`).
    #[arg(long)]
    pub split_train: Option<PathBuf>,
    /// Official ScanNet validation list (`scannetv2_val.txt`): those scenes go to test.
    #[arg(long)]
    pub split_val: Option<PathBuf>,
    /// Fraction of other scenes assigned to test by a stable hash of the scene id.
    #[arg(long, default_value_t = 0.1)]
    pub test_fraction: f64,
    /// ScanNet label map (scannetv2-labels.combined.tsv); searched beside the scene by default.
    #[arg(long)]
    pub label_map: Option<PathBuf>,
}

#[derive(Serialize)]
struct JsonLine<'a> {
    scene_id: &'a str,
    frame_id: &'a str,
    split: Split,
    #[serde(flatten)]
    qa: &'a QaPair,
}

pub fn run(args: &QaArgs) -> anyhow::Result<ExitCode> {
    // The whole run plan is resolved before any scene work.
    let templates = match &args.templates {
        Some(dir) => TemplateSet::load_dir(dir)?,
        None => TemplateSet::shipped()?,
    };
    if !(0.0..=1.0).contains(&args.test_fraction) {
        anyhow::bail!(
            "--test-fraction must be in [0, 1], got {}",
            args.test_fraction
        );
    }
    let plan = super::split_plan_from_files(
        args.test_fraction,
        args.exclude_scenes.as_ref(),
        args.split_train.as_ref(),
        args.split_val.as_ref(),
    )?;
    let mut config = QaConfig {
        seed: args.seed,
        imperial_units: args.imperial,
        ..QaConfig::default()
    };
    if let Some(max) = args.max_per_image {
        config.max_per_image = max;
    }
    let options = ReadOptions {
        scannet_label_map: args.label_map.clone(),
        ..ReadOptions::default()
    };
    let scene = load_scene(&args.scene, &options)?;
    let view_config = ViewSelectionConfig {
        frame_stride: args.frame_stride,
        ..ViewSelectionConfig::default()
    };
    let mut input = prepare_scene(
        &scene,
        &SelectionRules::default(),
        &VisibilityConfig::default(),
        &view_config,
    );
    // Colours of look-alike objects come from the images, as in `msmu build`.
    add_view_colors(&mut input, &mut BTreeMap::new());
    let views = generate_scene(&input, &templates, &config);
    let split = plan.assign(&scene.meta.scene_id);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = (|| -> std::io::Result<()> {
        for view in &views {
            if args.json {
                for qa in &view.qa {
                    let line = JsonLine {
                        scene_id: &view.scene_id,
                        frame_id: &view.frame_id,
                        split,
                        qa,
                    };
                    writeln!(out, "{}", serde_json::to_string(&line)?)?;
                }
            } else {
                writeln!(
                    out,
                    "== {} frame {} ({:?}, {} QA)",
                    view.scene_id,
                    view.frame_id,
                    split,
                    view.qa.len()
                )?;
                for (turn, qa) in view.conversation.chunks(2).zip(&view.qa) {
                    for t in turn {
                        writeln!(out, "{}: {}", t.from, t.value.replace('\n', "\\n"))?;
                    }
                    writeln!(out, "   [{} / {}]", qa.family.scorer_name(), qa.raw_type)?;
                }
            }
        }
        Ok(())
    })();
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("writing QA")?,
    }
    if views.is_empty() {
        eprintln!("{}: no view was selected, no QA", scene.meta.scene_id);
    }
    Ok(ExitCode::SUCCESS)
}
