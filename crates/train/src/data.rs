//! Reading msmu shards for training and prediction: Parquet files
//! `DIR/data/{split}-{i:05d}-of-{n:05d}.parquet`, one row per image (columns `id`, `image`
//! struct{bytes, path}, `depth` struct{bytes, path}, `conversations` list<struct{from, value}>,
//! `qa` list<struct{question, answer, ...}>). Rows stream row group by row group; an epoch's
//! order is a seeded shuffle of the row groups followed by a bounded shuffle buffer, so an
//! epoch depends only on (seed, epoch) and a resumed run sees the same rows.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use arrow::array::{Array, AsArray, BinaryArray, LargeBinaryArray, StructArray};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::tokenize::Turn;

/// One QA pair of a row (the fields prediction needs).
#[derive(Clone, Debug, PartialEq)]
pub struct QaItem {
    pub question: String,
    pub answer: String,
    pub family: String,
    pub raw_type: String,
}

/// One shard row: an image, its depth map and the conversation about it.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: String,
    pub image: Vec<u8>,
    pub depth: Option<Vec<u8>>,
    pub conversations: Vec<Turn>,
    pub qa: Vec<QaItem>,
}

/// The shard files of one split, sorted by name.
pub fn shard_files(dir: &Path, split: &str) -> anyhow::Result<Vec<PathBuf>> {
    let data = dir.join("data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&data)
        .with_context(|| format!("listing {}", data.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "parquet")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{split}-")))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no {split} shards in {}", data.display());
    }
    Ok(files)
}

/// Every (file, row group) of the files.
pub fn row_groups(files: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, usize)>> {
    let mut out = Vec::new();
    for file in files {
        let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(f)
            .with_context(|| format!("reading {}", file.display()))?;
        for g in 0..builder.metadata().num_row_groups() {
            out.push((file.clone(), g));
        }
    }
    Ok(out)
}

/// Reads the rows of one row group.
pub fn read_row_group(file: &Path, group: usize) -> anyhow::Result<Vec<Row>> {
    let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f)?;
    let wanted = ["id", "image", "depth", "conversations", "qa"];
    let schema = builder.parquet_schema();
    let roots: Vec<usize> = (0..schema.root_schema().get_fields().len())
        .filter(|&i| wanted.contains(&schema.root_schema().get_fields()[i].name()))
        .collect();
    let mask = ProjectionMask::roots(schema, roots);
    let reader = builder
        .with_row_groups(vec![group])
        .with_projection(mask)
        .with_batch_size(256)
        .build()?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("decoding {}", file.display()))?;
        rows.extend(rows_of(&batch).with_context(|| format!("{}", file.display()))?);
    }
    Ok(rows)
}

fn strings(a: &dyn Array) -> anyhow::Result<Vec<Option<String>>> {
    if let Some(s) = a.as_string_opt::<i32>() {
        return Ok(s.iter().map(|v| v.map(str::to_string)).collect());
    }
    if let Some(s) = a.as_string_opt::<i64>() {
        return Ok(s.iter().map(|v| v.map(str::to_string)).collect());
    }
    if let Some(s) = a.as_string_view_opt() {
        return Ok(s.iter().map(|v| v.map(str::to_string)).collect());
    }
    bail!("expected a string column, found {:?}", a.data_type())
}

fn binary_field(s: &StructArray) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
    let bytes = s
        .column_by_name("bytes")
        .context("struct has no `bytes` field")?;
    let out = if let Some(b) = bytes.as_any().downcast_ref::<BinaryArray>() {
        b.iter().map(|v| v.map(<[u8]>::to_vec)).collect()
    } else if let Some(b) = bytes.as_any().downcast_ref::<LargeBinaryArray>() {
        b.iter().map(|v| v.map(<[u8]>::to_vec)).collect()
    } else {
        bail!("`bytes` is {:?}, expected binary", bytes.data_type())
    };
    Ok(out)
}

/// The struct values of a list column and each row's range into them.
fn list_of_structs(a: &dyn Array) -> anyhow::Result<(StructArray, Vec<std::ops::Range<usize>>)> {
    let list = a.as_list_opt::<i32>().context("expected a list column")?;
    let offsets = list.value_offsets();
    let ranges = (0..list.len())
        .map(|i| offsets[i] as usize..offsets[i + 1] as usize)
        .collect();
    let values = list
        .values()
        .as_struct_opt()
        .context("expected list<struct>")?
        .clone();
    Ok((values, ranges))
}

fn rows_of(batch: &RecordBatch) -> anyhow::Result<Vec<Row>> {
    let col = |name: &str| {
        batch
            .column_by_name(name)
            .with_context(|| format!("no `{name}` column"))
    };
    let ids = strings(col("id")?.as_ref())?;
    let images = binary_field(
        col("image")?
            .as_struct_opt()
            .context("`image` is not a struct")?,
    )?;
    let depths = match batch.column_by_name("depth") {
        Some(d) => binary_field(d.as_struct_opt().context("`depth` is not a struct")?)?,
        None => vec![None; batch.num_rows()],
    };
    let (conv_values, conv_ranges) = list_of_structs(col("conversations")?.as_ref())?;
    let froms = strings(
        conv_values
            .column_by_name("from")
            .context("turn has no `from`")?
            .as_ref(),
    )?;
    let values = strings(
        conv_values
            .column_by_name("value")
            .context("turn has no `value`")?
            .as_ref(),
    )?;
    let qa = match batch.column_by_name("qa") {
        Some(q) => {
            let (qv, qr) = list_of_structs(q.as_ref())?;
            let field = |n: &str| -> anyhow::Result<Vec<Option<String>>> {
                match qv.column_by_name(n) {
                    Some(c) => strings(c.as_ref()),
                    None => Ok(vec![None; qv.len()]),
                }
            };
            Some((
                field("question")?,
                field("answer")?,
                field("family")?,
                field("type")?,
                qr,
            ))
        }
        None => None,
    };
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let conversations = conv_ranges[i]
            .clone()
            .map(|k| Turn {
                from_human: froms[k].as_deref() == Some("human"),
                value: values[k].clone().unwrap_or_default(),
            })
            .collect();
        let qa_items = match &qa {
            Some((q, a, f, t, ranges)) => ranges[i]
                .clone()
                .map(|k| QaItem {
                    question: q[k].clone().unwrap_or_default(),
                    answer: a[k].clone().unwrap_or_default(),
                    family: f[k].clone().unwrap_or_default(),
                    raw_type: t[k].clone().unwrap_or_default(),
                })
                .collect(),
            None => Vec::new(),
        };
        rows.push(Row {
            id: ids[i].clone().unwrap_or_default(),
            image: images[i].clone().context("row without image bytes")?,
            depth: depths[i].clone(),
            conversations,
            qa: qa_items,
        });
    }
    Ok(rows)
}

/// Reads every row of a split in file order (prediction, tokenizer training).
pub fn read_split(dir: &Path, split: &str) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (file, group) in row_groups(&shard_files(dir, split)?)? {
        rows.extend(read_row_group(&file, group)?);
    }
    Ok(rows)
}

/// Rows of one epoch in training order, streamed.
pub struct EpochStream {
    groups: std::vec::IntoIter<(PathBuf, usize)>,
    buffer: Vec<Row>,
    buffer_size: usize,
    rng: ChaCha8Rng,
}

impl EpochStream {
    pub fn new(groups: &[(PathBuf, usize)], seed: u64, epoch: u64, buffer_size: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch);
        let mut order = groups.to_vec();
        order.shuffle(&mut rng);
        Self {
            groups: order.into_iter(),
            buffer: Vec::new(),
            buffer_size: buffer_size.max(1),
            rng,
        }
    }
}

impl Iterator for EpochStream {
    type Item = anyhow::Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffer.len() < self.buffer_size {
            let Some((file, group)) = self.groups.next() else {
                break;
            };
            match read_row_group(&file, group) {
                Ok(rows) => self.buffer.extend(rows),
                Err(e) => return Some(Err(e)),
            }
        }
        if self.buffer.is_empty() {
            return None;
        }
        let k = rand::Rng::random_range(&mut self.rng, 0..self.buffer.len());
        Some(Ok(self.buffer.swap_remove(k)))
    }
}
