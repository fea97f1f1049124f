//! Readers: bench items from msmu shards, the `sdvlm` export, the official MSMU test split
//! (Parquet or Arrow IPC, stream or file format) and JSONL; predictions from JSONL.
//!
//! The Parquet/Arrow form is detected by columns: `qa` (list of structs) means an msmu shard
//! (one row per image); otherwise `conversations` + `type` means the official split or the
//! `sdvlm` export, whose optional `family`, `values_si`, `unit`, `answer_key` columns give the
//! structured answer. `conversations` may be a list of `{from, value}` structs, a JSON string
//! or a Python-literal string (single quotes, `True`/`False`/`None`).

use std::fs::File;
use std::io::{BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StructArray};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type};
use serde_json::Value;

use super::{family_of_type, normalize_question, BenchItem, Prediction, Structured};
use msmu_data::qa::Family;

/// One structured QA of a shard row.
#[derive(Clone, Debug, Default)]
struct RawQa {
    family: Option<String>,
    raw_type: Option<String>,
    question: String,
    answer: String,
    values_si: Vec<f64>,
    unit: String,
    answer_key: Option<String>,
}

/// One row of any bench form, before it becomes items.
#[derive(Clone, Debug, Default)]
struct RawRow {
    id: Option<String>,
    qa: Option<Vec<RawQa>>,
    conversations: Option<Vec<(String, String)>>,
    raw_type: Option<String>,
    family: Option<String>,
    values_si: Option<Vec<f64>>,
    unit: Option<String>,
    answer_key: Option<String>,
}

/// One image of a bench with its questions (`msmu predict` on a bench that is not msmu shards).
#[derive(Clone, Debug)]
pub struct BenchRow {
    /// The items' id before `#`.
    pub id: String,
    /// Encoded image bytes (the `image` struct's bytes, binary, or `image_base64` decoded);
    /// empty when the row has none.
    pub image: Vec<u8>,
    pub items: Vec<BenchItem>,
}

/// Reads the rows of a Parquet / Arrow bench file or folder with their images (the official
/// MSMU test split as released, or the `sdvlm` export).
pub fn read_bench_rows(path: &Path) -> anyhow::Result<Vec<BenchRow>> {
    let files = bench_files(path)?;
    let mut rows = Vec::new();
    for file in &files {
        let got = match bench_kind(file) {
            Some(Kind::Parquet) => parquet_rows(file, true),
            Some(Kind::Arrow) => no_panic_rows(file, || arrow_rows(file, true)),
            _ => bail!(
                "{}: prediction needs the images, so a Parquet or Arrow bench (the MSMU test \
                 split as released, or `msmu export --format sdvlm`)",
                file.display()
            ),
        }
        .with_context(|| format!("reading bench file {}", file.display()))?;
        rows.extend(got);
    }
    Ok(rows)
}

fn no_panic_rows(
    path: &Path,
    read: impl FnOnce() -> anyhow::Result<Vec<BenchRow>>,
) -> anyhow::Result<Vec<BenchRow>> {
    let mut out = None;
    no_panic(path, || {
        out = Some(read()?);
        Ok(Vec::new())
    })?;
    Ok(out.unwrap_or_default())
}

/// Reads every bench item of a file or folder (`*.parquet`, `*.arrow`, `*.ipc`, `*.feather`,
/// `*.jsonl`, `*.json`, sorted by name).
pub fn read_bench(path: &Path) -> anyhow::Result<Vec<BenchItem>> {
    // An `msmu build` output or `hf` export: the test shards under data/ (all shards when the
    // build has no test split, e.g. `msmu build --split test`).
    if path.is_dir() && path.join("data").is_dir() {
        let shards = msmu_data::dataset::shard::list_shards(path)?;
        let test: Vec<PathBuf> = shards
            .iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("test-"))
            })
            .cloned()
            .collect();
        let files = if test.is_empty() { shards } else { test };
        if files.is_empty() {
            bail!("{}/data holds no .parquet shard", path.display());
        }
        let mut items = Vec::new();
        for file in &files {
            items.extend(
                no_panic(file, || read_parquet(file))
                    .with_context(|| format!("reading bench file {}", file.display()))?,
            );
        }
        return Ok(items);
    }
    let files = bench_files(path)?;
    let mut items = Vec::new();
    for file in &files {
        let kind = bench_kind(file).unwrap_or(Kind::Jsonl);
        let got = match kind {
            Kind::Parquet => no_panic(file, || read_parquet(file)),
            Kind::Arrow => no_panic(file, || read_arrow(file)),
            Kind::Jsonl => read_jsonl_bench(file),
        }
        .with_context(|| format!("reading bench file {}", file.display()))?;
        items.extend(got);
    }
    Ok(items)
}

/// The bench files of a file or folder, sorted by name.
fn bench_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading bench folder {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| bench_kind(p).is_some())
            .collect();
        files.sort();
        if files.is_empty() {
            bail!(
                "bench folder {} holds no .parquet, .arrow, .ipc or .jsonl file; pass the \
                 folder of the test split (e.g. out/shards/test) or one file",
                path.display()
            );
        }
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        bail!(
            "bench {} does not exist; pass a shard folder, a .parquet/.arrow file or a .jsonl \
             file from `msmu qa --json`",
            path.display()
        );
    };
    Ok(files)
}

/// Runs a Parquet / Arrow IPC read, turning a panic inside the arrow or parquet crates (they
/// panic on some corrupt buffers, e.g. offsets past the end) into an error naming the file,
/// so a damaged bench file ends `msmu eval` with a message instead of exit 101.
fn no_panic(
    path: &Path,
    read: impl FnOnce() -> anyhow::Result<Vec<BenchItem>>,
) -> anyhow::Result<Vec<BenchItem>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            bail!(
                "{}: corrupt file (the Arrow/Parquet decoder failed: {message}); re-download or \
                 re-export the bench",
                path.display()
            )
        }
    }
}

/// Longest line `msmu eval` reads from a predictions or bench JSONL file. A model's answer is
/// a few KB; a longer line is a broken file, and reading it whole would cost memory in
/// proportion (the answer parser tokenises the whole prediction).
pub const MAX_JSONL_LINE_BYTES: usize = 1 << 20;

/// Reads the next line (without its `\n` / `\r\n`) into `line`, reading at most
/// [`MAX_JSONL_LINE_BYTES`] + 1 bytes of it. Returns `false` at the end of the file.
fn next_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    path: &Path,
    number: usize,
) -> anyhow::Result<bool> {
    line.clear();
    let limit = MAX_JSONL_LINE_BYTES as u64 + 2;
    let n = reader
        .take(limit)
        .read_until(b'\n', line)
        .with_context(|| format!("{}:{number}: cannot read", path.display()))?;
    if n == 0 {
        return Ok(false);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_JSONL_LINE_BYTES {
        bail!(
            "{}:{number}: line longer than {MAX_JSONL_LINE_BYTES} bytes; a prediction or bench \
             item is a few KB (is this the right file? truncate runaway generations first)",
            path.display()
        );
    }
    Ok(true)
}

#[derive(Clone, Copy)]
enum Kind {
    Parquet,
    Arrow,
    Jsonl,
}

fn bench_kind(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "parquet" => Kind::Parquet,
        "arrow" | "ipc" | "feather" | "arrows" => Kind::Arrow,
        "jsonl" | "json" | "ndjson" => Kind::Jsonl,
        _ => return None,
    })
}

/// Columns the readers use (others, like images, are not read from Parquet).
const COLUMNS: &[&str] = &[
    "id",
    "qa",
    "conversations",
    "type",
    "family",
    "values_si",
    "unit",
    "answer_key",
];

fn read_parquet(path: &Path) -> anyhow::Result<Vec<BenchItem>> {
    Ok(flatten(parquet_rows(path, false)?))
}

fn read_arrow(path: &Path) -> anyhow::Result<Vec<BenchItem>> {
    Ok(flatten(arrow_rows(path, false)?))
}

fn flatten(rows: Vec<BenchRow>) -> Vec<BenchItem> {
    rows.into_iter().flat_map(|r| r.items).collect()
}

/// Image columns, read only for prediction.
const IMAGE_COLUMNS: &[&str] = &["image", "image_base64"];

/// [`parquet_rows_now`] on a helper thread, within the deadline of
/// [`msmu_data::dataset::reader::parquet_deadline`] (the parquet crate can spin for hours on
/// crafted page headers); a panic inside arrow / parquet is an error naming the file.
fn parquet_rows(path: &Path, with_images: bool) -> anyhow::Result<Vec<BenchRow>> {
    use msmu_data::dataset::reader::{overrun_error, parquet_deadline_for, within_deadline};
    let deadline = parquet_deadline_for(path);
    let owned = path.to_path_buf();
    let outcome = within_deadline(deadline, move || {
        no_panic_rows(&owned, || parquet_rows_now(&owned, with_images))
    });
    overrun_error(path, deadline, outcome)?
}

fn parquet_rows_now(path: &Path, with_images: bool) -> anyhow::Result<Vec<BenchRow>> {
    use parquet::arrow::ProjectionMask;
    let builder = msmu_data::dataset::reader::open_parquet(path)
        .map_err(|e| anyhow!("not a readable Parquet file ({e})"))?;
    let roots: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            COLUMNS.contains(&f.name().as_str())
                || (with_images && IMAGE_COLUMNS.contains(&f.name().as_str()))
        })
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).build()?;
    let mut items = Vec::new();
    let mut row0 = 0;
    for batch in reader {
        let batch = batch?;
        items.extend(batch_rows(&batch, row0, path, with_images)?);
        row0 += batch.num_rows();
    }
    Ok(items)
}

/// Reads an Arrow IPC file or stream held in memory with arrow's `StreamDecoder`: the IPC file
/// format is the stream format between an 8-byte preamble and a footer, so both decode the
/// same way, and every message body is a slice of the bytes read. arrow's `FileReader` instead
/// allocates each footer block at its declared size before reading it: a flipped bit in a
/// 13 KB file made it allocate gigabytes (found by `fuzz/fuzz_targets/bench.rs`).
fn arrow_rows(path: &Path, with_images: bool) -> anyhow::Result<Vec<BenchRow>> {
    use arrow::buffer::Buffer;
    use arrow::ipc::reader::StreamDecoder;
    // Regular files only, bounded like every binary input (docs/RELIABILITY.md).
    let bytes = msmu_data::io::read_bounded(path, msmu_data::io::MAX_BINARY_FILE_BYTES)
        .map_err(|e| anyhow!("{e}"))?;
    let is_file = bytes.starts_with(b"ARROW1");
    let what = if is_file {
        "not a readable Arrow IPC file"
    } else {
        "not a readable Arrow IPC stream or file (HF datasets write the stream format)"
    };
    // A file: "ARROW1" + 2 padding bytes, the stream, the footer, its i32 length, "ARROW1".
    let stream = if is_file {
        let n = bytes.len();
        let footer_len = (n >= 18 && bytes.ends_with(b"ARROW1"))
            .then(|| i32::from_le_bytes([bytes[n - 10], bytes[n - 9], bytes[n - 8], bytes[n - 7]]))
            .and_then(|len| usize::try_from(len).ok())
            .filter(|&len| 8 + len + 10 <= n)
            .ok_or_else(|| anyhow!("{what} (no valid footer at the end)"))?;
        // Writers pad the magic to their alignment (arrow-rs: 64 bytes): the first message
        // starts at the first continuation marker, at an 8-byte boundary.
        let end = n - 10 - footer_len;
        let mut start = 8;
        while start + 4 <= end && start < 128 && bytes[start..start + 4] != [0xFF; 4] {
            start += 8;
        }
        start..end
    } else {
        0..bytes.len()
    };
    let mut buffer = Buffer::from_vec(bytes).slice_with_length(stream.start, stream.len());
    let mut decoder = StreamDecoder::new();
    let mut items = Vec::new();
    let mut row0 = 0;
    // The range ends with the end-of-stream marker (the footer of a file follows it), so the
    // decoder ends in its finished state with nothing left over.
    while let Some(batch) = decoder
        .decode(&mut buffer)
        .map_err(|e| anyhow!("{what} ({e})"))?
    {
        items.extend(batch_rows(&batch, row0, path, with_images)?);
        row0 += batch.num_rows();
    }
    decoder.finish().map_err(|e| anyhow!("{what} ({e})"))?;
    if decoder.schema().is_none() {
        bail!("{what} (no schema message)");
    }
    Ok(items)
}

pub(crate) fn str_at(a: &dyn Array, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    match a.data_type() {
        DataType::Utf8 => Some(a.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Some(a.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Some(a.as_string_view().value(i).to_string()),
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let key = d.normalized_keys()[i];
            str_at(d.values().as_ref(), key)
        }
        _ => None,
    }
}

fn list_at(a: &dyn Array, i: usize) -> Option<ArrayRef> {
    if a.is_null(i) {
        return None;
    }
    match a.data_type() {
        DataType::List(_) => Some(a.as_list::<i32>().value(i)),
        DataType::LargeList(_) => Some(a.as_list::<i64>().value(i)),
        DataType::FixedSizeList(_, _) => Some(a.as_fixed_size_list().value(i)),
        _ => None,
    }
}

fn f64s(a: &dyn Array) -> Vec<f64> {
    let n = a.len();
    match a.data_type() {
        DataType::Float64 => {
            let p = a.as_primitive::<Float64Type>();
            (0..n)
                .filter(|&i| p.is_valid(i))
                .map(|i| p.value(i))
                .collect()
        }
        DataType::Float32 => {
            let p = a.as_primitive::<Float32Type>();
            (0..n)
                .filter(|&i| p.is_valid(i))
                .map(|i| f64::from(p.value(i)))
                .collect()
        }
        DataType::Int64 => {
            let p = a.as_primitive::<Int64Type>();
            (0..n)
                .filter(|&i| p.is_valid(i))
                .map(|i| p.value(i) as f64)
                .collect()
        }
        _ => Vec::new(),
    }
}

fn field_str(s: &StructArray, name: &str, i: usize) -> Option<String> {
    s.column_by_name(name).and_then(|c| str_at(c.as_ref(), i))
}

fn turns_of_struct_list(a: &dyn Array) -> Option<Vec<(String, String)>> {
    let s = a.as_struct_opt()?;
    Some(
        (0..s.len())
            .map(|k| {
                (
                    field_str(s, "from", k).unwrap_or_default(),
                    field_str(s, "value", k).unwrap_or_default(),
                )
            })
            .collect(),
    )
}

/// The encoded image of row `r`: `image` as a struct with `bytes`, or binary, or
/// `image_base64` (standard base64, optionally a `data:` URL).
pub(crate) fn image_at(batch: &RecordBatch, r: usize, origin: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    if let Some(c) = batch.column_by_name("image") {
        if c.is_null(r) {
            return Ok(Vec::new());
        }
        let bytes_col = match c.as_struct_opt() {
            Some(s) => s.column_by_name("bytes").cloned(),
            None => Some(c.clone()),
        };
        if let Some(b) = bytes_col {
            if let Some(v) = b.as_binary_opt::<i32>() {
                return Ok(if v.is_null(r) {
                    Vec::new()
                } else {
                    v.value(r).to_vec()
                });
            }
            if let Some(v) = b.as_binary_opt::<i64>() {
                return Ok(if v.is_null(r) {
                    Vec::new()
                } else {
                    v.value(r).to_vec()
                });
            }
        }
        bail!("{origin}: column `image` is neither binary nor a struct with binary `bytes`");
    }
    if let Some(c) = batch.column_by_name("image_base64") {
        let Some(text) = str_at(c.as_ref(), r) else {
            return Ok(Vec::new());
        };
        let data = text
            .rsplit_once("base64,")
            .map_or(text.as_str(), |(_, d)| d);
        return base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| anyhow!("{origin}: column `image_base64` is not base64 ({e})"));
    }
    Ok(Vec::new())
}

fn batch_rows(
    batch: &RecordBatch,
    row0: usize,
    path: &Path,
    with_images: bool,
) -> anyhow::Result<Vec<BenchRow>> {
    let col = |name: &str| batch.column_by_name(name).cloned();
    let (id, qa, conv, ty) = (col("id"), col("qa"), col("conversations"), col("type"));
    let (family, values_si, unit, key) = (
        col("family"),
        col("values_si"),
        col("unit"),
        col("answer_key"),
    );
    if qa.is_none() && conv.is_none() {
        let names: Vec<String> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        bail!(
            "neither a `qa` column (msmu shard) nor a `conversations` column (official split / \
             sdvlm export) among the columns {names:?}; pass an msmu test shard or the MSMU test \
             split"
        );
    }
    let mut rows = Vec::new();
    for r in 0..batch.num_rows() {
        let origin = format!("{}:row {}", path.display(), row0 + r + 1);
        let mut row = RawRow {
            id: id.as_ref().and_then(|c| str_at(c.as_ref(), r)),
            raw_type: ty.as_ref().and_then(|c| str_at(c.as_ref(), r)),
            family: family.as_ref().and_then(|c| str_at(c.as_ref(), r)),
            values_si: values_si
                .as_ref()
                .and_then(|c| list_at(c.as_ref(), r))
                .map(|l| f64s(l.as_ref())),
            unit: unit.as_ref().and_then(|c| str_at(c.as_ref(), r)),
            answer_key: key.as_ref().and_then(|c| str_at(c.as_ref(), r)),
            ..RawRow::default()
        };
        if let Some(qa) = &qa {
            if let Some(list) = list_at(qa.as_ref(), r) {
                let s = list
                    .as_struct_opt()
                    .ok_or_else(|| anyhow!("{origin}: column `qa` is not a list of structs"))?;
                let mut out = Vec::with_capacity(s.len());
                for k in 0..s.len() {
                    out.push(RawQa {
                        family: field_str(s, "family", k),
                        raw_type: field_str(s, "type", k),
                        question: field_str(s, "question", k).unwrap_or_default(),
                        answer: field_str(s, "answer", k).unwrap_or_default(),
                        values_si: s
                            .column_by_name("values_si")
                            .and_then(|c| list_at(c.as_ref(), k))
                            .map(|l| f64s(l.as_ref()))
                            .unwrap_or_default(),
                        unit: field_str(s, "unit", k).unwrap_or_default(),
                        answer_key: field_str(s, "answer_key", k),
                    });
                }
                row.qa = Some(out);
            }
        }
        if row.qa.is_none() {
            if let Some(c) = &conv {
                row.conversations = if let Some(text) = str_at(c.as_ref(), r) {
                    Some(parse_conversation_text(&text).with_context(|| {
                        format!("{origin}: column `conversations` is not a JSON or Python list of {{from, value}} turns")
                    })?)
                } else {
                    list_at(c.as_ref(), r).and_then(|l| turns_of_struct_list(l.as_ref()))
                };
            }
        }
        let image = if with_images {
            image_at(batch, r, &origin)?
        } else {
            Vec::new()
        };
        let fallback_id = (row0 + r).to_string();
        let items = row_items(row, row0 + r, &origin)?;
        let id = items
            .first()
            .and_then(|i| i.id.as_deref())
            .and_then(|i| i.split('#').next())
            .map_or(fallback_id, str::to_string);
        rows.push(BenchRow { id, image, items });
    }
    Ok(rows)
}

fn family_of(family: Option<&str>, raw_type: Option<&str>, origin: &str) -> anyhow::Result<Family> {
    family
        .and_then(family_of_type)
        .or_else(|| raw_type.and_then(family_of_type))
        .ok_or_else(|| {
            anyhow!(
                "{origin}: unknown task type (family {family:?}, type {raw_type:?}); expected a \
                 raw type such as zero, count, width, height, size, position, left/right, \
                 distance, taller_two_object, tall_three_objects, refer_two_objects, \
                 refer_three_objects"
            )
        })
}

fn row_items(row: RawRow, row_index: usize, origin: &str) -> anyhow::Result<Vec<BenchItem>> {
    let mut items = Vec::new();
    if let Some(qa) = row.qa {
        let id = row.id.unwrap_or_else(|| row_index.to_string());
        for (k, q) in qa.into_iter().enumerate() {
            let family = family_of(q.family.as_deref(), q.raw_type.as_deref(), origin)?;
            items.push(BenchItem {
                id: Some(format!("{id}#{k}")),
                question: normalize_question(&q.question),
                answer: q.answer,
                family,
                raw_type: q
                    .raw_type
                    .unwrap_or_else(|| family.raw_types()[0].to_string()),
                structured: Some(Structured {
                    values_si: q.values_si,
                    unit: q.unit,
                    answer_key: q.answer_key,
                }),
                origin: format!("{origin}, qa {k}"),
            });
        }
        return Ok(items);
    }
    let Some(turns) = row.conversations else {
        return Ok(items);
    };
    let family = family_of(row.family.as_deref(), row.raw_type.as_deref(), origin)?;
    let structured = (row.values_si.as_ref().is_some_and(|v| !v.is_empty())
        || row.answer_key.is_some())
    .then(|| Structured {
        values_si: row.values_si.clone().unwrap_or_default(),
        unit: row.unit.clone().unwrap_or_default(),
        answer_key: row.answer_key.clone(),
    });
    let pairs: Vec<(String, String)> = {
        let mut pairs = Vec::new();
        let mut question: Option<String> = None;
        for (from, value) in turns {
            match from.as_str() {
                "human" | "user" => question = Some(value),
                _ => {
                    if let Some(q) = question.take() {
                        pairs.push((q, value));
                    }
                }
            }
        }
        pairs
    };
    let single = pairs.len() == 1;
    for (k, (q, a)) in pairs.into_iter().enumerate() {
        let id = match &row.id {
            Some(id) if single && id.contains('#') => id.clone(),
            Some(id) => format!("{id}#{k}"),
            None => format!("{row_index}#{k}"),
        };
        items.push(BenchItem {
            id: Some(id),
            question: normalize_question(&q),
            answer: a,
            family,
            raw_type: row
                .raw_type
                .clone()
                .unwrap_or_else(|| family.raw_types()[0].to_string()),
            structured: if single { structured.clone() } else { None },
            origin: format!("{origin}, turn {k}"),
        });
    }
    Ok(items)
}

/// Turns of a `conversations` string: JSON, else a Python literal.
pub fn parse_conversation_text(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => py_literal(text).map_err(|e| anyhow!("{e}"))?,
    };
    turns_of_json(&value).ok_or_else(|| anyhow!("expected a list of {{from, value}} objects"))
}

fn turns_of_json(v: &Value) -> Option<Vec<(String, String)>> {
    v.as_array()?
        .iter()
        .map(|t| {
            Some((
                t.get("from")?.as_str()?.to_string(),
                t.get("value")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Parses a Python literal (lists, tuples, dicts, strings with either quote and escapes,
/// numbers, `True`/`False`/`None`) into JSON.
pub fn py_literal(text: &str) -> Result<Value, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Py {
        c: &chars,
        i: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != chars.len() {
        return Err(format!(
            "Python literal: trailing text at character {}",
            p.i
        ));
    }
    Ok(v)
}

struct Py<'a> {
    c: &'a [char],
    i: usize,
    depth: usize,
}

impl Py<'_> {
    fn ws(&mut self) {
        while self.i < self.c.len() && self.c[self.i].is_whitespace() {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("Python literal: {what} at character {}", self.i))
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        let Some(&c) = self.c.get(self.i) else {
            return self.err("unexpected end");
        };
        match c {
            '[' | '(' | '{' if self.depth >= 64 => self.err("nesting deeper than 64"),
            '[' | '(' => {
                let close = if c == '[' { ']' } else { ')' };
                self.i += 1;
                self.depth += 1;
                let mut out = Vec::new();
                loop {
                    self.ws();
                    if self.c.get(self.i) == Some(&close) {
                        self.i += 1;
                        self.depth -= 1;
                        return Ok(Value::Array(out));
                    }
                    out.push(self.value()?);
                    self.ws();
                    match self.c.get(self.i) {
                        Some(',') => self.i += 1,
                        Some(x) if *x == close => {}
                        _ => return self.err("expected `,` or the closing bracket"),
                    }
                }
            }
            '{' => {
                self.i += 1;
                self.depth += 1;
                let mut out = serde_json::Map::new();
                loop {
                    self.ws();
                    if self.c.get(self.i) == Some(&'}') {
                        self.i += 1;
                        self.depth -= 1;
                        return Ok(Value::Object(out));
                    }
                    let key = match self.value()? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    self.ws();
                    if self.c.get(self.i) != Some(&':') {
                        return self.err("expected `:`");
                    }
                    self.i += 1;
                    let v = self.value()?;
                    out.insert(key, v);
                    self.ws();
                    match self.c.get(self.i) {
                        Some(',') => self.i += 1,
                        Some('}') => {}
                        _ => return self.err("expected `,` or `}`"),
                    }
                }
            }
            '\'' | '"' => self.string(),
            _ => {
                let start = self.i;
                while self.i < self.c.len()
                    && (self.c[self.i].is_alphanumeric() || "+-._".contains(self.c[self.i]))
                {
                    self.i += 1;
                }
                let word: String = self.c[start..self.i].iter().collect();
                match word.as_str() {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::Null),
                    _ => match word.parse::<f64>() {
                        Ok(n) => Ok(serde_json::Number::from_f64(n)
                            .map(Value::Number)
                            .unwrap_or(Value::Null)),
                        Err(_) => {
                            self.i = start;
                            self.err("unexpected token")
                        }
                    },
                }
            }
        }
    }

    fn string(&mut self) -> Result<Value, String> {
        let quote = self.c[self.i];
        // triple quotes
        let triple =
            self.c.get(self.i + 1) == Some(&quote) && self.c.get(self.i + 2) == Some(&quote);
        self.i += if triple { 3 } else { 1 };
        let mut s = String::new();
        loop {
            let Some(&c) = self.c.get(self.i) else {
                return self.err("unterminated string");
            };
            if c == quote {
                if !triple {
                    self.i += 1;
                    return Ok(Value::String(s));
                }
                if self.c.get(self.i + 1) == Some(&quote) && self.c.get(self.i + 2) == Some(&quote)
                {
                    self.i += 3;
                    return Ok(Value::String(s));
                }
            }
            if c == '\\' {
                self.i += 1;
                let Some(&e) = self.c.get(self.i) else {
                    return self.err("unterminated escape");
                };
                match e {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'r' => s.push('\r'),
                    '0' => s.push('\0'),
                    '\\' | '\'' | '"' => s.push(e),
                    '\n' => {}
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = self.c.iter().skip(self.i + 1).take(n).collect();
                        let code = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                        match code {
                            Some(ch) if hex.len() == n => s.push(ch),
                            _ => return self.err("bad \\x/\\u escape"),
                        }
                        self.i += n;
                    }
                    other => {
                        s.push('\\');
                        s.push(other);
                    }
                }
                self.i += 1;
                continue;
            }
            s.push(c);
            self.i += 1;
        }
    }
}

fn jstr(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn jf64s(v: &Value, key: &str) -> Option<Vec<f64>> {
    Some(
        v.get(key)?
            .as_array()?
            .iter()
            .filter_map(Value::as_f64)
            .collect(),
    )
}

fn read_jsonl_bench(path: &Path) -> anyhow::Result<Vec<BenchItem>> {
    let file = File::open(path)?;
    let mut items = Vec::new();
    let mut reader = BufReader::new(file);
    let mut buffer = Vec::new();
    let mut n = 0usize;
    while next_line(&mut reader, &mut buffer, path, n + 1)? {
        n += 1;
        let origin = format!("{}:{}", path.display(), n);
        let line = std::str::from_utf8(&buffer).map_err(|_| anyhow!("{origin}: not UTF-8 text"))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            anyhow!("{origin}: not a JSON object ({e}); the bench JSONL needs one object per line, as `msmu qa --json` prints")
        })?;
        if !v.is_object() {
            bail!("{origin}: not a JSON object; one object per line, as `msmu qa --json` prints");
        }
        let row = if let Some(qa) = v.get("qa").and_then(Value::as_array) {
            RawRow {
                id: jstr(&v, "id"),
                qa: Some(
                    qa.iter()
                        .map(|q| RawQa {
                            family: jstr(q, "family"),
                            raw_type: jstr(q, "type").or_else(|| jstr(q, "raw_type")),
                            question: jstr(q, "question").unwrap_or_default(),
                            answer: jstr(q, "answer").unwrap_or_default(),
                            values_si: jf64s(q, "values_si").unwrap_or_default(),
                            unit: jstr(q, "unit").unwrap_or_default(),
                            answer_key: jstr(q, "answer_key"),
                        })
                        .collect(),
                ),
                ..RawRow::default()
            }
        } else if let Some(c) = v.get("conversations") {
            let turns = match c {
                Value::String(s) => parse_conversation_text(s)
                    .with_context(|| format!("{origin}: field `conversations`"))?,
                other => turns_of_json(other).ok_or_else(|| {
                    anyhow!("{origin}: field `conversations` is not a list of {{from, value}}")
                })?,
            };
            RawRow {
                id: jstr(&v, "id"),
                conversations: Some(turns),
                raw_type: jstr(&v, "type"),
                family: jstr(&v, "family"),
                values_si: jf64s(&v, "values_si"),
                unit: jstr(&v, "unit"),
                answer_key: jstr(&v, "answer_key"),
                ..RawRow::default()
            }
        } else {
            // `msmu qa --json` line
            let question = jstr(&v, "question").ok_or_else(|| {
                anyhow!("{origin}: no `question` field; expected lines of `msmu qa --json` (question, answer, family, raw_type, values_si, unit, answer_key)")
            })?;
            let raw_type = jstr(&v, "raw_type").or_else(|| jstr(&v, "type"));
            let family = family_of(jstr(&v, "family").as_deref(), raw_type.as_deref(), &origin)?;
            let structured =
                (v.get("values_si").is_some() || v.get("answer_key").is_some()).then(|| {
                    Structured {
                        values_si: jf64s(&v, "values_si").unwrap_or_default(),
                        unit: jstr(&v, "unit").unwrap_or_default(),
                        answer_key: jstr(&v, "answer_key"),
                    }
                });
            items.push(BenchItem {
                id: jstr(&v, "id"),
                question: normalize_question(&question),
                answer: jstr(&v, "answer").unwrap_or_default(),
                family,
                raw_type: raw_type.unwrap_or_else(|| family.raw_types()[0].to_string()),
                structured,
                origin,
            });
            continue;
        };
        items.extend(row_items(row, n, &origin)?);
    }
    Ok(items)
}

/// Predictions and, for the official inference output, its model name.
#[derive(Clone, Debug, Default)]
pub struct Predictions {
    pub model: Option<String>,
    pub items: Vec<Prediction>,
}

/// Reads a predictions JSONL file: `{"id" or "question", "pred"}` lines, or the official
/// inference output (a `{"model": ...}` header, then `question`, `pred`, `gt`, `type`).
pub fn read_predictions(path: &Path) -> anyhow::Result<Predictions> {
    let file = File::open(path).with_context(|| {
        format!(
            "opening predictions {} (pass --pred FILE.jsonl)",
            path.display()
        )
    })?;
    let mut out = Predictions::default();
    // One line buffer reused for the whole file; the prediction text is moved out of the
    // parsed line, not copied.
    let mut reader = BufReader::new(file);
    let mut buffer = Vec::new();
    let mut n = 0usize;
    while next_line(&mut reader, &mut buffer, path, n + 1)? {
        let line_number = n + 1;
        n += 1;
        let origin = format!("{}:{}", path.display(), line_number);
        let line = std::str::from_utf8(&buffer).map_err(|_| anyhow!("{origin}: not UTF-8 text"))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut v: Value = serde_json::from_str(line).map_err(|e| {
            anyhow!("{origin}: not a JSON object ({e}); write one object per line, e.g. {{\"id\": \"...\", \"pred\": \"1.2 m\"}}")
        })?;
        let Some(obj) = v.as_object() else {
            bail!("{origin}: not a JSON object; write one object per line, e.g. {{\"id\": \"...\", \"pred\": \"1.2 m\"}}");
        };
        let pred_key = ["pred", "prediction", "output", "response"]
            .into_iter()
            .find(|k| obj.contains_key(*k));
        let Some(pred_key) = pred_key else {
            if out.items.is_empty() && obj.contains_key("model") {
                out.model = jstr(&v, "model");
                continue;
            }
            bail!("{origin}: no `pred` field; every line needs `pred` and `id` or `question`");
        };
        let pred = match v.get_mut(pred_key).map(Value::take) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
        };
        // `question_id`: the SpatialRGPT-Bench inference output.
        let id = jstr(&v, "id").or_else(|| jstr(&v, "question_id"));
        let question = jstr(&v, "question")
            .or_else(|| jstr(&v, "prompt"))
            .map(|q| normalize_question(&q));
        if id.is_none() && question.is_none() {
            bail!("{origin}: neither `id` nor `question`; add one so the prediction can be matched to a bench item");
        }
        out.items.push(Prediction {
            id,
            question,
            pred,
            gt: jstr(&v, "gt").or_else(|| jstr(&v, "answer")),
            raw_type: jstr(&v, "type"),
            line: line_number,
        });
    }
    Ok(out)
}

/// Bench items from the `gt` and `type` of the official inference output (no `--bench`).
pub fn items_from_predictions(preds: &Predictions, path: &Path) -> anyhow::Result<Vec<BenchItem>> {
    preds
        .items
        .iter()
        .map(|p| {
            let origin = format!("{}:{}", path.display(), p.line);
            let gt = p.gt.clone().ok_or_else(|| {
                anyhow!("{origin}: no `gt` field; without --bench every prediction needs `gt` and `type` (pass --bench DIR to score against a bench)")
            })?;
            let family = family_of(None, p.raw_type.as_deref(), &origin)?;
            Ok(BenchItem {
                id: p.id.clone(),
                question: p.question.clone().unwrap_or_default(),
                answer: gt,
                family,
                raw_type: p.raw_type.clone().unwrap_or_default(),
                structured: None,
                origin,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literal_conversations() {
        let text = r#"[{'from': 'human', 'value': "<image>\nIs the chair's seat low?"}, {'from': 'gpt', 'value': 'Yes, it\'s 0.45 m.\n', 'flag': True, 'n': None}]"#;
        let turns = parse_conversation_text(text).unwrap();
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].1, "<image>\nIs the chair's seat low?");
        assert_eq!(turns[1].1, "Yes, it's 0.45 m.\n");
        let json = r#"[{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]"#;
        assert_eq!(parse_conversation_text(json).unwrap()[1].1, "a");
        assert!(parse_conversation_text("[{'from': 'human'").is_err());
        assert!(py_literal("[1, 2,, 3]").is_err());
        assert!(py_literal(&"[".repeat(100_000)).is_err());
    }
}
