//! Parquet shards: the writer (explicit settings, row groups of at most
//! [`ShardLimits::row_group_rows`] rows or about [`ShardLimits::row_group_bytes`], written under
//! a temporary name and renamed when complete) and the readers.

use std::fs::File;
use std::io::{BufWriter, Read as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::arrow_rows::{from_batch, schema, to_batch};
use super::atomic::rename_durably;
use super::SampleRow;

/// Size limits of shards and row groups (Hugging Face's: 500 MB shards, 100 MB / 100 rows per
/// row group for image datasets). Sizes are uncompressed Arrow bytes ([`SampleRow::approx_bytes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardLimits {
    pub shard_bytes: u64,
    pub row_group_rows: usize,
    pub row_group_bytes: u64,
    pub zstd_level: i32,
}

impl Default for ShardLimits {
    fn default() -> Self {
        ShardLimits {
            shard_bytes: 500_000_000,
            row_group_rows: 100,
            row_group_bytes: 100_000_000,
            zstd_level: 3,
        }
    }
}

/// Every Parquet writer setting, explicit (so output does not change with crate defaults).
pub fn writer_properties(limits: &ShardLimits) -> anyhow::Result<WriterProperties> {
    Ok(WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(limits.zstd_level)?))
        .set_max_row_group_row_count(Some(limits.row_group_rows.max(1)))
        .set_max_row_group_bytes(None)
        .set_data_page_size_limit(1 << 20)
        .set_data_page_row_count_limit(20_000)
        .set_write_batch_size(1024)
        .set_dictionary_enabled(true)
        .set_dictionary_page_size_limit(1 << 20)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("msmu {}", env!("CARGO_PKG_VERSION")))
        .build())
}

/// A finished shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name relative to the dataset folder (`data/train-00000-of-00003.parquet`).
    pub file: String,
    pub split: String,
    pub rows: u64,
    pub qa: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// Writes one shard to `<final>.tmp`; [`ShardWriter::finish`] closes and renames it.
pub struct ShardWriter {
    writer: ArrowWriter<BufWriter<File>>,
    tmp: PathBuf,
    pending: Vec<SampleRow>,
    pending_bytes: u64,
    limits: ShardLimits,
    rows: u64,
    qa: u64,
    bytes: u64,
}

fn write_failed(path: &Path) -> String {
    format!(
        "writing shard {} (is the disk full? free space and rerun with --resume: shards \
         already staged are kept)",
        path.display()
    )
}

impl ShardWriter {
    pub fn create(tmp: &Path, limits: ShardLimits) -> anyhow::Result<ShardWriter> {
        if let Some(parent) = tmp.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let file = File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            schema(),
            Some(writer_properties(&limits)?),
        )?;
        Ok(ShardWriter {
            writer,
            tmp: tmp.to_path_buf(),
            pending: Vec::new(),
            pending_bytes: 0,
            limits,
            rows: 0,
            qa: 0,
            bytes: 0,
        })
    }

    /// Uncompressed bytes written or pending.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn push(&mut self, row: SampleRow) -> anyhow::Result<()> {
        let size = row.approx_bytes();
        if !self.pending.is_empty()
            && (self.pending.len() >= self.limits.row_group_rows
                || self.pending_bytes + size > self.limits.row_group_bytes)
        {
            self.flush_group()?;
        }
        self.rows += 1;
        self.qa += row.qa.len() as u64;
        self.bytes += size;
        self.pending_bytes += size;
        self.pending.push(row);
        Ok(())
    }

    fn flush_group(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = to_batch(&self.pending)?;
        // ENOSPC and other write errors surface here and in `finish`: name the file, and say
        // what to do (the staged shards survive; `--resume` picks up from them).
        self.writer
            .write(&batch)
            .and_then(|()| self.writer.flush())
            .with_context(|| write_failed(&self.tmp))?;
        self.pending.clear();
        self.pending_bytes = 0;
        Ok(())
    }

    /// Closes the file, syncs it and renames it to `final_path` (durably: the folder is synced
    /// too, see [`super::atomic`]).
    pub fn finish(
        mut self,
        final_path: &Path,
        file: String,
        split: String,
    ) -> anyhow::Result<ShardInfo> {
        self.flush_group()?;
        let tmp = self.tmp.clone();
        let inner = self
            .writer
            .into_inner()
            .with_context(|| write_failed(&tmp))?;
        let file_handle = inner
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| write_failed(&tmp))?;
        file_handle.sync_all().with_context(|| write_failed(&tmp))?;
        drop(file_handle);
        let (bytes, sha256) = file_digest(&self.tmp)?;
        rename_durably(&self.tmp, final_path)?;
        Ok(ShardInfo {
            file,
            split,
            rows: self.rows,
            qa: self.qa,
            bytes,
            sha256,
        })
    }
}

/// Size and SHA-256 (hex) of a file.
pub fn file_digest(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buffer[..n]);
    }
    let digest = hasher.finalize();
    Ok((total, digest.iter().map(|b| format!("{b:02x}")).collect()))
}

/// Iterates a shard's rows, one row group (record batch) at a time.
pub fn read_shard_batches(
    path: &Path,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Vec<SampleRow>>>> {
    let reader = super::reader::open_parquet(path)
        .context("not a Parquet file")?
        .with_batch_size(128)
        .build()?;
    let shown = path.display().to_string();
    Ok(reader.map(move |batch| {
        let batch = batch.with_context(|| format!("reading {shown}"))?;
        from_batch(&batch).with_context(|| format!("{shown}: not an msmu shard"))
    }))
}

/// Every row of a shard.
pub fn read_shard(path: &Path) -> anyhow::Result<Vec<SampleRow>> {
    let mut rows = Vec::new();
    for batch in read_shard_batches(path)? {
        rows.extend(batch?);
    }
    Ok(rows)
}

/// `data/{split}-{index:05d}-of-{count:05d}.parquet`.
pub fn shard_name(split: &str, index: usize, count: usize) -> String {
    format!("data/{split}-{index:05}-of-{count:05}.parquet")
}

/// The shard files of a dataset folder, sorted by name.
pub fn list_shards(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let data = dir.join("data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
        .with_context(|| {
            format!(
                "{}: no data/ folder (is this an msmu dataset?)",
                dir.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}
