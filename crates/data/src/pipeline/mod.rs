//! `msmu build`: the main job. Plans the scenes (discovery, `--shard K/N`, splits), builds them
//! in parallel windows ([`scene::build_scene`], pure), and streams the rows in scene order into
//! per-split Parquet shards. Memory is bounded by the window (2 x threads scenes), not by the
//! number of scenes.
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

pub mod scene;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::manifest::{write_atomic, Manifest, SceneRecord};
use crate::dataset::shard::{shard_name, ShardInfo, ShardLimits, ShardWriter};
use crate::geom::select::SelectionRules;
use crate::geom::views::ViewSelectionConfig;
use crate::geom::visibility::VisibilityConfig;
use crate::io::{discover_scenes, ReadOptions};
use crate::qa::split::SplitPlan;
use crate::qa::{QaConfig, TemplateSet};
use scene::{build_scene, SceneContext, SceneJob, SceneOutput};

pub const STATE_DIR: &str = ".msmu-build";
const STATE_FILE: &str = "state.json";

/// Everything that decides the rows (what `--config FILE` holds; every field optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildConfig {
    pub selection: SelectionRules,
    pub views: ViewSelectionConfig,
    pub qa: QaConfig,
    pub limits: ShardLimits,
    /// Fraction of scenes (by stable hash of the id) that go to test with `--split auto`.
    pub test_fraction: f64,
    /// Write the 16-bit instance-id PNG per row.
    pub with_masks: bool,
}

impl Default for BuildConfig {
    /// The defaults of `msmu build`: visibility analysed at the depth resolution, 10 % of
    /// scenes to test.
    fn default() -> BuildConfig {
        BuildConfig {
            selection: SelectionRules::default(),
            views: ViewSelectionConfig {
                analysis_resolution: crate::geom::views::AnalysisResolution::Depth,
                ..ViewSelectionConfig::default()
            },
            qa: QaConfig::default(),
            limits: ShardLimits::default(),
            test_fraction: 0.1,
            with_masks: false,
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

/// A staged (closed) shard recorded in the state file.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Staged {
    split: String,
    index: usize,
    scenes: Vec<String>,
    info: ShardInfo,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct State {
    fingerprint: String,
    staged: Vec<Staged>,
    /// Records of the scenes whose rows are in staged shards (all scenes once finalizing).
    records: Vec<SceneRecord>,
    /// Set when every shard is staged: the final name of each staged shard, in `staged` order.
    #[serde(default)]
    final_names: Option<Vec<String>>,
}

fn fingerprint(plan: &BuildPlan) -> anyhow::Result<String> {
    let scenes: Vec<(&str, &str, String)> = plan
        .jobs
        .iter()
        .map(|j| {
            (
                j.scene_id.as_str(),
                j.rel.as_str(),
                format!("{:?}", j.split),
            )
        })
        .collect();
    let value = serde_json::json!({
        "config": plan.config,
        "scenes": scenes,
        "partition": plan.partition,
        "version": env!("CARGO_PKG_VERSION"),
    });
    let (_, digest) = digest_bytes(value.to_string().as_bytes());
    Ok(digest)
}

fn digest_bytes(bytes: &[u8]) -> (u64, String) {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(bytes);
    (
        bytes.len() as u64,
        digest.iter().map(|b| format!("{b:02x}")).collect(),
    )
}

/// What a finished build reports.
pub struct BuildSummary {
    pub manifest: Manifest,
    pub resumed_scenes: usize,
}

struct SplitWriter {
    writer: Option<ShardWriter>,
    scenes: Vec<String>,
    next_index: usize,
}

fn staged_path(state_dir: &Path, split: &str, index: usize) -> PathBuf {
    state_dir
        .join("shards")
        .join(format!("{split}-{index:05}.parquet"))
}

fn save_state(state_dir: &Path, state: &State) -> anyhow::Result<()> {
    write_atomic(
        &state_dir.join(STATE_FILE),
        serde_json::to_string(state)?.as_bytes(),
    )
}

impl SplitWriter {
    fn close(&mut self, split: &str, state_dir: &Path, state: &mut State) -> anyhow::Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let index = self.next_index;
        let path = staged_path(state_dir, split, index);
        let info = writer.finish(&path, String::new(), split.to_string())?;
        state.staged.push(Staged {
            split: split.to_string(),
            index,
            scenes: std::mem::take(&mut self.scenes),
            info,
        });
        self.next_index += 1;
        Ok(())
    }
}

/// Runs a build plan to completion.
pub fn run_build(plan: BuildPlan) -> anyhow::Result<BuildSummary> {
    let out = &plan.out;
    let state_dir = out.join(STATE_DIR);
    let finished = out.join(crate::dataset::manifest::MANIFEST_FILE).exists();
    if finished && !state_dir.exists() {
        if plan.resume {
            let manifest = Manifest::read(out)?;
            return Ok(BuildSummary {
                manifest,
                resumed_scenes: plan.jobs.len(),
            });
        }
        bail!(
            "{} already holds a finished dataset (manifest.json); choose another --out, or \
             pass --force to overwrite it",
            out.display()
        );
    }
    let fp = fingerprint(&plan)?;
    let mut state = if state_dir.join(STATE_FILE).exists() {
        if !plan.resume {
            bail!(
                "{} holds an unfinished build ({}/); pass --resume to finish it, or --force to \
                 start over",
                out.display(),
                STATE_DIR
            );
        }
        let text = std::fs::read_to_string(state_dir.join(STATE_FILE))?;
        let state: State = serde_json::from_str(&text).with_context(|| {
            format!(
                "{}/{STATE_FILE}: unreadable; use --force",
                state_dir.display()
            )
        })?;
        if state.fingerprint != fp {
            bail!(
                "{}: the unfinished build used other inputs, configuration, seed or msmu version; \
                 rerun with the same arguments, or use --force to start over",
                out.display()
            );
        }
        state
    } else {
        if out.join("data").exists() && std::fs::read_dir(out.join("data"))?.next().is_some() {
            bail!(
                "{}/data is not empty; choose an empty --out, or pass --force",
                out.display()
            );
        }
        State {
            fingerprint: fp,
            ..State::default()
        }
    };
    std::fs::create_dir_all(state_dir.join("shards"))
        .with_context(|| format!("creating {}", state_dir.display()))?;
    // Remove what a killed run left open.
    for entry in std::fs::read_dir(state_dir.join("shards"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path)?;
        }
    }
    for staged in state.staged.iter().filter(|_| state.final_names.is_none()) {
        let path = staged_path(&state_dir, &staged.split, staged.index);
        let size = std::fs::metadata(&path).map(|m| m.len()).ok();
        if size != Some(staged.info.bytes) {
            bail!(
                "{}: staged shard missing or changed since it was recorded; use --force to \
                 start over",
                path.display()
            );
        }
    }
    save_state(&state_dir, &state)?;

    let settled: BTreeSet<String> = state
        .staged
        .iter()
        .flat_map(|s| s.scenes.iter().cloned())
        .collect();
    let mut records: BTreeMap<String, SceneRecord> = state
        .records
        .iter()
        .map(|r| (r.scene_id.clone(), r.clone()))
        .collect();
    let mut writers: BTreeMap<String, SplitWriter> = BTreeMap::new();
    for split in ["train", "test"] {
        let next_index = state.staged.iter().filter(|s| s.split == split).count();
        writers.insert(
            split.to_string(),
            SplitWriter {
                writer: None,
                scenes: Vec::new(),
                next_index,
            },
        );
    }
    let todo: Vec<&SceneJob> = plan
        .jobs
        .iter()
        .filter(|j| state.final_names.is_none() && !settled.contains(&j.scene_id))
        .collect();
    let resumed_scenes = plan.jobs.len() - todo.len();
    let ctx = SceneContext {
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
    let window = (plan.threads * 2).max(2);
    let limits = plan.config.limits;
    for chunk in todo.chunks(window) {
        let outputs: Vec<SceneOutput> =
            pool.install(|| chunk.par_iter().map(|job| build_scene(job, &ctx)).collect());
        for (job, output) in chunk.iter().zip(outputs) {
            let split = output.record.split.clone();
            let writer = writers.get_mut(&split).context("unknown split")?;
            if !output.rows.is_empty() {
                let scene_bytes: u64 = output.rows.iter().map(|r| r.approx_bytes()).sum();
                if let Some(w) = &writer.writer {
                    if w.rows() > 0 && w.bytes() + scene_bytes > limits.shard_bytes {
                        writer.close(&split, &state_dir, &mut state)?;
                        remember_closed(&mut state, &records);
                        save_state(&state_dir, &state)?;
                    }
                }
                if writer.writer.is_none() {
                    let tmp = staged_path(&state_dir, &split, writer.next_index)
                        .with_extension("parquet.tmp");
                    writer.writer = Some(ShardWriter::create(&tmp, limits)?);
                }
                let w = writer.writer.as_mut().context("writer")?;
                for row in output.rows {
                    w.push(row)?;
                }
                writer.scenes.push(job.scene_id.clone());
            }
            if let Some(progress) = &plan.progress {
                progress(&output.record);
            }
            records.insert(job.scene_id.clone(), output.record);
        }
    }
    if state.final_names.is_none() {
        for (split, writer) in writers.iter_mut() {
            writer.close(split, &state_dir, &mut state)?;
        }
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for s in &state.staged {
            *counts.entry(s.split.clone()).or_default() += 1;
        }
        state.staged.sort_by(|a, b| {
            (split_order(&a.split), a.index).cmp(&(split_order(&b.split), b.index))
        });
        state.final_names = Some(
            state
                .staged
                .iter()
                .map(|s| shard_name(&s.split, s.index, counts[&s.split]))
                .collect(),
        );
        state.records = plan
            .jobs
            .iter()
            .filter_map(|j| records.get(&j.scene_id).cloned())
            .collect();
        save_state(&state_dir, &state)?;
    }
    // Move the staged shards (idempotent), write the manifest, drop the state.
    std::fs::create_dir_all(out.join("data"))?;
    let mut manifest = Manifest::new(plan.config.qa.seed, serde_json::to_value(&plan.config)?);
    manifest.partition = plan.partition.map(|(k, n)| format!("{k}/{n}"));
    let names = state.final_names.clone().unwrap_or_default();
    for (s, name) in state.staged.iter().zip(&names) {
        let from = staged_path(&state_dir, &s.split, s.index);
        let to = out.join(name);
        if from.exists() || !to.exists() {
            std::fs::rename(&from, &to)
                .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
        }
        let mut info = s.info.clone();
        info.file = name.clone();
        manifest.shards.push(info);
    }
    manifest.scenes = state.records.clone();
    manifest.recount();
    manifest.write(out)?;
    std::fs::remove_dir_all(&state_dir)
        .with_context(|| format!("removing {}", state_dir.display()))?;
    Ok(BuildSummary {
        manifest,
        resumed_scenes,
    })
}

/// After a shard closed: keep the records of its scenes and save the state.
fn remember_closed(state: &mut State, records: &BTreeMap<String, SceneRecord>) {
    if let Some(last) = state.staged.last() {
        let new: Vec<SceneRecord> = last
            .scenes
            .iter()
            .filter_map(|id| records.get(id).cloned())
            .collect();
        state.records.extend(new);
    }
}

fn split_order(split: &str) -> u8 {
    match split {
        "train" => 0,
        "test" => 1,
        _ => 2,
    }
}
