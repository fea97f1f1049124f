//! The ordered shard sink of `msmu build`: one open shard per split, fed scene by scene in scene
//! order, cut at a scene boundary before `limits.shard_bytes` is passed, written as `*.tmp` and
//! renamed into the state folder when closed.

use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::dataset::shard::{ShardLimits, ShardWriter};
use crate::dataset::SampleRow;

use super::resume::{Resume, Staged};

/// The open shard of one split and the scenes in it.
struct SplitWriter {
    writer: Option<ShardWriter>,
    scenes: Vec<String>,
    next_index: usize,
}

impl SplitWriter {
    fn close(&mut self, split: &str, resume: &mut Resume) -> anyhow::Result<()> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let index = self.next_index;
        let path = resume.staged_path(split, index);
        let info = writer.finish(&path, String::new(), split.to_string())?;
        resume.record_shard(Staged {
            split: split.to_string(),
            index,
            scenes: std::mem::take(&mut self.scenes),
            info,
        });
        self.next_index += 1;
        Ok(())
    }
}

/// The shard writers of both splits.
pub(super) struct ShardSink {
    writers: BTreeMap<String, SplitWriter>,
    limits: ShardLimits,
}

impl ShardSink {
    /// Writers that continue after the shards `resume` has staged.
    pub(super) fn new(resume: &Resume, limits: ShardLimits) -> ShardSink {
        let mut writers: BTreeMap<String, SplitWriter> = BTreeMap::new();
        for split in ["train", "test"] {
            writers.insert(
                split.to_string(),
                SplitWriter {
                    writer: None,
                    scenes: Vec::new(),
                    next_index: resume.next_index(split),
                },
            );
        }
        ShardSink { writers, limits }
    }

    /// Appends the rows of the next scene to its split's shard, closing that shard first (and
    /// saving the state) when the scene would take it over the size limit.
    pub(super) fn push_scene(
        &mut self,
        scene_id: &str,
        split: &str,
        rows: Vec<SampleRow>,
        resume: &mut Resume,
    ) -> anyhow::Result<()> {
        let writer = self.writers.get_mut(split).context("unknown split")?;
        if rows.is_empty() {
            return Ok(());
        }
        let scene_bytes: u64 = rows.iter().map(|r| r.approx_bytes()).sum();
        if let Some(w) = &writer.writer {
            if w.rows() > 0 && w.bytes() + scene_bytes > self.limits.shard_bytes {
                writer.close(split, resume)?;
                resume.remember_closed()?;
            }
        }
        if writer.writer.is_none() {
            let tmp = resume
                .staged_path(split, writer.next_index)
                .with_extension("parquet.tmp");
            writer.writer = Some(ShardWriter::create(&tmp, self.limits)?);
        }
        let w = writer.writer.as_mut().context("writer")?;
        for row in rows {
            w.push(row)?;
        }
        writer.scenes.push(scene_id.to_string());
        Ok(())
    }

    /// Closes the open shard of every split (test, then train).
    pub(super) fn close_all(&mut self, resume: &mut Resume) -> anyhow::Result<()> {
        for (split, writer) in self.writers.iter_mut() {
            writer.close(split, resume)?;
        }
        Ok(())
    }
}
