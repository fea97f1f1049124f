//! `msmu build`: the main job. Plans the scenes (discovery, `--shard K/N`, splits), builds them
//! in parallel in a sliding window ([`scene::build_scene`], pure: a worker takes the next scene
//! as soon as it is free), and streams the rows in scene order into per-split Parquet shards
//! from the calling thread. Memory is bounded by the window (4 x threads scenes built or
//! waiting to be written), not by the number of scenes.
//!
//! **Resume.** Shards are cut at scene boundaries, and a shard is closed before a scene whose
//! rows would take it over the size limit, so shard contents depend only on the ordered scene
//! outputs. Each closed shard is staged in `OUT/.msmu-build/shards/` and recorded in
//! `OUT/.msmu-build/state.json` (atomically) with the scenes it holds. `--resume` keeps the
//! recorded shards, rebuilds every other scene, and so reproduces exactly the shards an
//! uninterrupted run writes. Finishing moves the staged shards to `OUT/data/` under their final
//! `{split}-{i:05d}-of-{n:05d}.parquet` names, writes `manifest.json` last, and removes the
//! state folder. Readers never see a partial shard: open shards are `*.tmp` files in the state
//! folder.

mod analysis;
pub mod colors;
pub mod estimate;
mod resume;
mod rows;
pub mod scene;
mod sink;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use crate::dataset::manifest::{Manifest, SceneRecord};
use crate::dataset::shard::ShardLimits;
use crate::geom::select::SelectionRules;
use crate::geom::views::ViewSelectionConfig;
use crate::geom::visibility::VisibilityConfig;
use crate::io::{discover_scenes, ReadOptions};
use crate::qa::split::SplitPlan;
use crate::qa::{QaConfig, TemplateSet};
use resume::{Opened, Resume};
use scene::{build_scene, SceneContext, SceneJob, SceneOutput};
use sink::ShardSink;

pub use estimate::{DepthChoice, DepthConfig, DepthEstimator};

pub use resume::STATE_DIR;

/// Everything that decides the rows (what `--config FILE` holds; every field optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildConfig {
    /// The conventions profile the configuration started from (`msmu build --profile`,
    /// `templates/profiles/<name>.json`): `msmu` (default) or `official`.
    pub profile: String,
    pub selection: SelectionRules,
    pub views: ViewSelectionConfig,
    pub qa: QaConfig,
    pub limits: ShardLimits,
    /// Fraction of scenes (by stable hash of the id) that go to test with `--split auto`.
    pub test_fraction: f64,
    /// Write the 16-bit instance-id PNG per row.
    pub with_masks: bool,
    /// What fills the depth column.
    pub depth: DepthConfig,
}

impl Default for BuildConfig {
    /// The defaults of `msmu build`: visibility analysed at the depth resolution, 10 % of
    /// scenes to test.
    fn default() -> BuildConfig {
        BuildConfig {
            profile: "msmu".into(),
            selection: SelectionRules::default(),
            views: ViewSelectionConfig {
                analysis_resolution: crate::geom::views::AnalysisResolution::Depth,
                ..ViewSelectionConfig::default()
            },
            qa: QaConfig::default(),
            limits: ShardLimits::default(),
            test_fraction: 0.1,
            with_masks: false,
            depth: DepthConfig::default(),
        }
    }
}

impl BuildConfig {
    pub fn with_defaults() -> BuildConfig {
        BuildConfig::default()
    }
}

/// Which split scenes go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitMode {
    Train,
    Test,
    Auto,
}

/// Called after each scene is built (in scene order).
pub type ProgressFn = Box<dyn Fn(&SceneRecord) + Sync>;

/// A fully resolved build (the CLI's job is to make one of these).
pub struct BuildPlan {
    pub out: PathBuf,
    pub config: BuildConfig,
    pub templates: TemplateSet,
    pub read: ReadOptions,
    pub jobs: Vec<SceneJob>,
    pub partition: Option<(usize, usize)>,
    pub threads: usize,
    pub resume: bool,
    /// Called after each scene with (record, rows written so far, QA so far).
    pub progress: Option<ProgressFn>,
    /// The estimator of `config.depth.source == Estimated` (whose identity is
    /// `config.depth.model`).
    pub estimator: Option<Arc<dyn DepthEstimator>>,
}

/// Scene folders under the roots, sorted by scene id (then path), `--shard K/N` applied.
pub fn plan_scenes(
    roots: &[PathBuf],
    split_mode: SplitMode,
    plan: &SplitPlan,
    partition: Option<(usize, usize)>,
) -> anyhow::Result<Vec<SceneJob>> {
    let mut jobs = Vec::new();
    for root in roots {
        let scenes = discover_scenes(root)
            .with_context(|| format!("listing scenes under {}", root.display()))?;
        if scenes.is_empty() {
            bail!(
                "{}: no ScanNet or ScanNet++ scene folders found (expected scans/sceneXXXX_YY/ \
                 or data/<id>/)",
                root.display()
            );
        }
        for path in scenes {
            let scene_id = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let split = match split_mode {
                SplitMode::Train => crate::qa::split::Split::Train,
                SplitMode::Test => crate::qa::split::Split::Test,
                SplitMode::Auto => plan.assign(&scene_id),
            };
            jobs.push(SceneJob {
                scene_id,
                path,
                rel,
                split,
            });
        }
    }
    jobs.sort_by(|a, b| (&a.scene_id, &a.path).cmp(&(&b.scene_id, &b.path)));
    let mut seen = BTreeSet::new();
    for job in &jobs {
        if !seen.insert(job.scene_id.clone()) {
            bail!(
                "scene id {} appears twice ({}); give each root once",
                job.scene_id,
                job.path.display()
            );
        }
    }
    if let Some((k, n)) = partition {
        jobs = jobs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k)
            .map(|(_, j)| j)
            .collect();
    }
    Ok(jobs)
}

/// What a finished build reports.
pub struct BuildSummary {
    pub manifest: Manifest,
    pub resumed_scenes: usize,
}

/// The estimator and the recorded depth settings agree.
fn check_depth(plan: &BuildPlan) -> anyhow::Result<()> {
    let depth = &plan.config.depth;
    match (depth.source, &plan.estimator) {
        (DepthChoice::Mesh, None) => Ok(()),
        (DepthChoice::Mesh, Some(_)) => {
            bail!("a depth model was given but the depth source is `mesh`")
        }
        (DepthChoice::Estimated, None) => bail!(
            "`--depth-source estimated` needs `--depth-model DIR` (a Depth-Anything-V2 folder)"
        ),
        (DepthChoice::Estimated, Some(e)) => {
            let identity = e.identity();
            if depth.model.as_deref() != Some(identity.as_str()) {
                bail!(
                    "the build config names depth model {:?} but the estimator is {identity:?}",
                    depth.model
                );
            }
            Ok(())
        }
    }
}

/// Runs a build plan to completion.
pub fn run_build(plan: BuildPlan) -> anyhow::Result<BuildSummary> {
    check_depth(&plan)?;
    let mut resume = match Resume::open(&plan)? {
        Opened::Finished(manifest) => {
            return Ok(BuildSummary {
                manifest,
                resumed_scenes: plan.jobs.len(),
            })
        }
        Opened::Unfinished(resume) => resume,
    };
    let mut sink = ShardSink::new(&resume, plan.config.limits);
    let todo = resume.todo(&plan.jobs);
    let resumed_scenes = plan.jobs.len() - todo.len();
    let ctx = SceneContext {
        estimator: plan.estimator.as_deref(),
        config: &plan.config,
        templates: &plan.templates,
        read: &plan.read,
        visibility: VisibilityConfig {
            // Truncation is a fraction: a 256K-pixel virtual image measures it well enough.
            max_virtual_pixels: 1 << 18,
            ..VisibilityConfig::default()
        },
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.threads)
        .build()
        .context("starting the thread pool")?;
    // A sliding window: every worker builds the next scene as soon as it is free, while this
    // thread writes finished scenes in scene order. At most `window` scenes are being built
    // or wait to be written (memory stays bounded); rows enter the shard writers in scene
    // order, so the output does not depend on which scene finishes first. With 2 x threads,
    // the workers could run out of scenes to start while the slow scene to be written next
    // was still being built; 4 x threads cut the median wall time of `make bench-build` by
    // 14 % for about 6 % more peak memory (docs/PERFORMANCE.md, round 11).
    let window = (plan.threads * 4).max(4);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, SceneOutput)>();
    pool.in_place_scope(|scope| -> anyhow::Result<()> {
        let mut finished: BTreeMap<usize, SceneOutput> = BTreeMap::new();
        let mut next_spawn = 0;
        for next_write in 0..todo.len() {
            while next_spawn < todo.len() && next_spawn < next_write + window {
                let (job, done, ctx) = (&todo[next_spawn], done_tx.clone(), &ctx);
                let index = next_spawn;
                scope.spawn(move |_| {
                    // The receiver is gone only when writing failed: nothing to report to.
                    let _ = done.send((index, build_scene(job, ctx)));
                });
                next_spawn += 1;
            }
            let output = loop {
                if let Some(output) = finished.remove(&next_write) {
                    break output;
                }
                let (index, output) = done_rx
                    .recv()
                    .context("a scene worker stopped without a result")?;
                finished.insert(index, output);
            };
            let job = &todo[next_write];
            sink.push_scene(
                &job.scene_id,
                &output.record.split,
                output.rows,
                &mut resume,
            )?;
            if let Some(progress) = &plan.progress {
                progress(&output.record);
            }
            resume.record_scene(job.scene_id.clone(), output.record);
        }
        Ok(())
    })?;
    if !resume.is_finalized() {
        sink.close_all(&mut resume)?;
        resume.finalize(&plan.jobs)?;
    }
    let manifest = resume.finish(&plan)?;
    Ok(BuildSummary {
        manifest,
        resumed_scenes,
    })
}
