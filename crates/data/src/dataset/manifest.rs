//! `manifest.json`: what a build produced and from what (msmu version, config and seed, shard
//! row counts and checksums, per-scene status). No timestamps: the same build gives the same
//! manifest.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::shard::ShardInfo;
use super::SCHEMA_VERSION;

/// The one atomic writer ([`super::atomic`]), re-exported where the build pipeline finds it.
pub use super::atomic::write_atomic;

pub const MANIFEST_FILE: &str = "manifest.json";

/// Outcome of one scene.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SceneState {
    /// Rows written.
    Done,
    /// Read fine but no view passed selection (no rows).
    Empty,
    /// Could not be read or processed: see `reason`.
    Skipped,
}

/// Per-scene record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneRecord {
    pub scene_id: String,
    /// Folder relative to its root (`scans/scene0000_00`).
    pub path: String,
    pub source: String,
    pub split: String,
    pub status: SceneState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub images: u64,
    pub qa: u64,
    pub frames_total: u64,
    pub frames_analysed: u64,
    /// Rejected (frame, object) pairs by reason.
    pub rejections: BTreeMap<String, u64>,
    /// Selected views with QA that were not stored because their colour image could not be
    /// read or did not match the camera (each has a warning); absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub views_dropped: u64,
    pub warnings: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The whole manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub msmu_version: String,
    pub schema_version: u32,
    pub seed: u64,
    /// The effective build configuration (what `--config` accepts).
    pub config: serde_json::Value,
    /// `K/N` when built with `--shard`, or the list of merged inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    pub shards: Vec<ShardInfo>,
    pub scenes: Vec<SceneRecord>,
    pub totals: Totals,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub scenes: u64,
    pub scenes_done: u64,
    pub scenes_empty: u64,
    pub scenes_skipped: u64,
    /// Rows per split.
    pub rows: BTreeMap<String, u64>,
    /// QA pairs per split.
    pub qa: BTreeMap<String, u64>,
    pub rejections: BTreeMap<String, u64>,
    /// Sum of the scenes' `views_dropped`; absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub views_dropped: u64,
}

impl Manifest {
    pub fn new(seed: u64, config: serde_json::Value) -> Manifest {
        Manifest {
            msmu_version: env!("CARGO_PKG_VERSION").to_string(),
            schema_version: SCHEMA_VERSION,
            seed,
            config,
            partition: None,
            shards: Vec::new(),
            scenes: Vec::new(),
            totals: Totals::default(),
        }
    }

    /// Recomputes [`Manifest::totals`] from shards and scenes.
    pub fn recount(&mut self) {
        let mut t = Totals {
            scenes: self.scenes.len() as u64,
            ..Totals::default()
        };
        for s in &self.scenes {
            match s.status {
                SceneState::Done => t.scenes_done += 1,
                SceneState::Empty => t.scenes_empty += 1,
                SceneState::Skipped => t.scenes_skipped += 1,
            }
            for (reason, n) in &s.rejections {
                *t.rejections.entry(reason.clone()).or_default() += n;
            }
            t.views_dropped += s.views_dropped;
        }
        for shard in &self.shards {
            *t.rows.entry(shard.split.clone()).or_default() += shard.rows;
            *t.qa.entry(shard.split.clone()).or_default() += shard.qa;
        }
        self.totals = t;
    }

    pub fn read(dir: &Path) -> anyhow::Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: cannot read (is this a finished msmu build?)",
                path.display()
            )
        })?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not an msmu manifest", path.display()))
    }

    /// Writes `manifest.json` atomically and durably ([`write_atomic`]).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(MANIFEST_FILE);
        write_atomic(&path, serde_json::to_string_pretty(self)?.as_bytes())
    }
}
