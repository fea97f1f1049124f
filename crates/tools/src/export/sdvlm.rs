//! `--format sdvlm`: the Parquet layout the official SD-VLM inference script reads, one row
//! per QA pair, one file per split (`{split}.parquet`, zstd, row groups of 100 rows, every
//! writer setting explicit as in `dataset::shard`).
//!
//! Columns: `id` (`{row id}#{qa index}`, 0-based index into the row's `qa` list),
//! `image_base64` (standard base64 of the stored JPEG bytes), `image_size` (Python tuple
//! literal `"(width, height)"`, what `str(PIL.Image.size)` gives; read back with
//! `ast.literal_eval`), `image_mode` (PIL mode of the image, `"RGB"` for colour JPEGs),
//! `conversations` (JSON string of `[{"from": "human", "value": "<image>\nQUESTION"},
//! {"from": "gpt", "value": ANSWER}]`), `type` (official raw type), and the structured
//! extras `family`, `values_si` (list<float64>), `unit`, `answer_key` (nullable), `split`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Cursor};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use arrow::array::{ArrayRef, Float64Array, ListArray, RecordBatch, StringArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use base64::Engine as _;
use image::ImageDecoder as _;
use parquet::arrow::ArrowWriter;

use msmu_data::dataset::manifest::Manifest;
use msmu_data::dataset::shard::{list_shards, read_shard_batches, writer_properties, ShardLimits};
use msmu_data::dataset::{CameraRow, SampleRow};
use msmu_data::qa::IMAGE_TOKEN;

use super::{file_stem, staged};

/// Rows per row group (each row holds a whole base64 image).
const GROUP_ROWS: usize = 100;

pub fn sdvlm_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("id", false),
        text("image_base64", false),
        text("image_size", false),
        text("image_mode", false),
        text("conversations", false),
        text("type", false),
        text("family", false),
        Field::new(
            "values_si",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            false,
        ),
        text("unit", false),
        text("answer_key", true),
        text("split", false),
    ]))
}

/// One output row.
#[derive(Clone, Debug, PartialEq)]
pub struct SdvlmRow {
    pub id: String,
    pub image_base64: Arc<str>,
    pub image_size: Arc<str>,
    pub image_mode: Arc<str>,
    pub conversations: String,
    pub r#type: String,
    pub family: String,
    pub values_si: Vec<f64>,
    pub unit: String,
    pub answer_key: Option<String>,
    pub split: String,
}

/// `(width, height)` and PIL mode of encoded image bytes; the intrinsics' size and `RGB` when
/// the header cannot be read.
pub fn image_size_mode(bytes: &[u8], camera: &CameraRow) -> ((u32, u32), &'static str) {
    let decoded = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_decoder().ok())
        .map(|d| (d.dimensions(), d.color_type()));
    match decoded {
        Some((size, color)) => {
            use image::ColorType as C;
            let mode = match color {
                C::L8 => "L",
                C::La8 => "LA",
                C::L16 => "I;16",
                C::Rgba8 | C::Rgba16 => "RGBA",
                _ => "RGB",
            };
            (size, mode)
        }
        None => ((camera.width, camera.height), "RGB"),
    }
}

/// The QA rows of one dataset row.
pub fn rows_of(row: &SampleRow) -> Vec<SdvlmRow> {
    let b64: Arc<str> = base64::engine::general_purpose::STANDARD
        .encode(&row.image.bytes)
        .into();
    let ((w, h), mode) = image_size_mode(&row.image.bytes, &row.intrinsics);
    let size: Arc<str> = format!("({w}, {h})").into();
    let mode: Arc<str> = mode.into();
    row.qa
        .iter()
        .enumerate()
        .map(|(k, qa)| {
            let conversations = serde_json::json!([
                {"from": "human", "value": format!("{IMAGE_TOKEN}{}", qa.question)},
                {"from": "gpt", "value": qa.answer},
            ]);
            SdvlmRow {
                id: format!("{}#{k}", row.id),
                image_base64: b64.clone(),
                image_size: size.clone(),
                image_mode: mode.clone(),
                conversations: conversations.to_string(),
                // The official scorer keys on its own types (`surface_distance` -> `distance`).
                r#type: msmu_data::qa::Family::official_raw_type(&qa.r#type).to_string(),
                family: qa.family.clone(),
                values_si: qa.values_si.clone(),
                unit: qa.unit.clone(),
                answer_key: qa.answer_key.clone(),
                split: row.split.clone(),
            }
        })
        .collect()
}

pub fn to_batch(rows: &[SdvlmRow]) -> anyhow::Result<RecordBatch> {
    let text = |f: &dyn Fn(&SdvlmRow) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let mut lengths: Vec<usize> = Vec::with_capacity(rows.len());
    let mut flat: Vec<f64> = Vec::new();
    for r in rows {
        lengths.push(r.values_si.len());
        flat.extend(&r.values_si);
    }
    let values: ArrayRef = Arc::new(ListArray::new(
        Arc::new(Field::new("item", DataType::Float64, true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(Float64Array::from(flat)),
        None,
    ));
    let answer_key: ArrayRef = Arc::new(StringArray::from_iter(
        rows.iter().map(|r| r.answer_key.as_deref()),
    ));
    Ok(RecordBatch::try_new(
        sdvlm_schema(),
        vec![
            text(&|r| &r.id),
            text(&|r| &r.image_base64),
            text(&|r| &r.image_size),
            text(&|r| &r.image_mode),
            text(&|r| &r.conversations),
            text(&|r| &r.r#type),
            text(&|r| &r.family),
            values,
            text(&|r| &r.unit),
            answer_key,
            text(&|r| &r.split),
        ],
    )?)
}

struct SplitWriter {
    writer: ArrowWriter<BufWriter<File>>,
    pending: Vec<SdvlmRow>,
    rows: u64,
}

impl SplitWriter {
    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.pending.is_empty() {
            self.writer.write(&to_batch(&self.pending)?)?;
            self.writer.flush()?;
            self.pending.clear();
        }
        Ok(())
    }
}

/// Writes `{split}.parquet` files for `dir` into `out`, through a staging folder renamed to
/// `out` at the end ([`staged`]).
pub fn export(dir: &Path, out: &Path) -> anyhow::Result<String> {
    Manifest::read(dir)?;
    let shards = list_shards(dir)?;
    staged(out, |stage| write_export(&shards, stage, out))
}

fn write_export(shards: &[std::path::PathBuf], stage: &Path, out: &Path) -> anyhow::Result<String> {
    let limits = ShardLimits {
        row_group_rows: GROUP_ROWS,
        ..ShardLimits::default()
    };
    let mut writers: BTreeMap<String, SplitWriter> = BTreeMap::new();
    for shard in shards {
        for batch in read_shard_batches(shard)? {
            for row in batch? {
                if !writers.contains_key(&row.split) {
                    let path = stage.join(format!("{}.parquet", file_stem(&row.split)));
                    let file = File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let writer = ArrowWriter::try_new(
                        BufWriter::with_capacity(1 << 20, file),
                        sdvlm_schema(),
                        Some(writer_properties(&limits)?),
                    )?;
                    let split = SplitWriter {
                        writer,
                        pending: Vec::new(),
                        rows: 0,
                    };
                    writers.insert(row.split.clone(), split);
                }
                let Some(writer) = writers.get_mut(&row.split) else {
                    continue;
                };
                for qa_row in rows_of(&row) {
                    writer.pending.push(qa_row);
                    writer.rows += 1;
                    if writer.pending.len() >= GROUP_ROWS {
                        writer.flush()?;
                    }
                }
            }
        }
    }
    let mut summary = Vec::new();
    for (split, mut w) in writers {
        w.flush()?;
        let file = w.writer.into_inner()?;
        file.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("writing {split}.parquet in {}", stage.display()))?;
        summary.push(format!("{split}.parquet: {} rows", w.rows));
    }
    Ok(format!("wrote {} ({})", out.display(), summary.join(", ")))
}
