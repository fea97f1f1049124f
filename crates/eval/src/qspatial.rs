//! Q-Spatial Bench (QSpatial-ScanNet and Q-Spatial++, MSMU.md section 8): the released
//! Parquet files, the answer parser (`\scalar{1.5} \distance_unit{meters}` or free text with a
//! unit) and the official success rule: both values in centimetres, delta = max(p/g, g/p),
//! success when delta < 2; reported per split.
//!
//! - [`read_bench`] reads a Parquet file or a folder of them. Columns: `question` (string),
//!   `answer_value` (number, or a string holding one), `answer_unit` (string), optional
//!   `question_type`; the `image` column (struct `{bytes, path}` or binary) and `image_path`
//!   are not read. The split is the `split` argument, else a `split` column, else the file
//!   name without its `-00000-of-00001` shard suffix. Item ids are `<split>#<row index>`.
//! - [`parse_answer`] reads one answer in centimetres.
//! - [`score`] pairs predictions with items (by id, else by question text) and reports per
//!   split; a bench item without a prediction counts as a failure.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int32Type, Int64Type};
use serde::Serialize;

use super::bench::str_at;
use super::parse::{quantities, tokenize, Quantity, Tok, Unit};
use super::{normalize_question, Prediction};

/// Success threshold of the official evaluation: max(p/g, g/p) < 2.
pub const THRESHOLD: f64 = 2.0;

/// One Q-Spatial question.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QItem {
    /// `<split>#<row index>` (row index within the split, 0-based).
    pub id: String,
    pub split: String,
    pub question: String,
    pub answer_value: f64,
    pub answer_unit: String,
    pub question_type: Option<String>,
    /// The reference in centimetres (`None` when its unit is not a length unit).
    pub answer_cm: Option<f64>,
    /// `file:row`, for messages.
    pub origin: String,
    /// The encoded image ([`read_bench_with_images`] only; empty otherwise).
    #[serde(skip)]
    pub image: Vec<u8>,
}

impl QItem {
    /// An item from its fields (`id` = `<split>#<index>`).
    pub fn new(
        split: &str,
        index: usize,
        question: &str,
        answer_value: f64,
        answer_unit: &str,
    ) -> Self {
        QItem {
            id: format!("{split}#{index}"),
            split: split.to_string(),
            question: normalize_question(question),
            answer_value,
            answer_unit: answer_unit.to_string(),
            question_type: None,
            answer_cm: unit_of(answer_unit).map(|unit| to_cm(answer_value, unit)),
            origin: String::new(),
            image: Vec::new(),
        }
    }
}

/// The length unit named by a word (`meters`, `cm`, `inches`, `feet`, `in`, ...).
pub fn unit_of(word: &str) -> Option<Unit> {
    let w = word.trim().trim_end_matches('.').to_lowercase();
    match w.as_str() {
        "in" | "inch" | "inches" => Some(Unit::Inch),
        "foot" | "feet" | "ft" => Some(Unit::Foot),
        _ => Unit::from_word(&w),
    }
}

/// Centimetres of `value` `unit`.
pub fn to_cm(value: f64, unit: Unit) -> f64 {
    value * unit.metres() * 100.0
}

/// Reads every Q-Spatial item of a Parquet file, or of the `.parquet` files of a folder
/// (sorted by name). `split` names the split of every file; without it the split comes from a
/// `split` column or the file name.
pub fn read_bench(path: &Path, split: Option<&str>) -> anyhow::Result<Vec<QItem>> {
    read(path, split, false)
}

/// [`read_bench`] with each item's image (for `msmu predict`).
pub fn read_bench_with_images(path: &Path, split: Option<&str>) -> anyhow::Result<Vec<QItem>> {
    read(path, split, true)
}

/// Whether a Parquet file has the Q-Spatial columns (`question`, `answer_value`,
/// `answer_unit`).
pub fn looks_like_qspatial(path: &Path) -> bool {
    let file = if path.is_dir() {
        [path.to_path_buf(), path.join("data")]
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flat_map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())))
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
            })
            .min()
    } else {
        Some(path.to_path_buf())
    };
    let Some(file) = file else { return false };
    let Ok(builder) = msmu_data::dataset::reader::open_parquet(&file) else {
        return false;
    };
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    ["question", "answer_value", "answer_unit"]
        .iter()
        .all(|need| names.iter().any(|n| n == need))
}

fn read(path: &Path, split: Option<&str>, with_images: bool) -> anyhow::Result<Vec<QItem>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in [path.to_path_buf(), path.join("data")] {
            if !dir.is_dir() {
                continue;
            }
            files.extend(
                std::fs::read_dir(&dir)
                    .with_context(|| format!("reading bench folder {}", dir.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.extension()
                            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
                    }),
            );
        }
        files.sort();
        if files.is_empty() {
            bail!(
                "Q-Spatial bench folder {} holds no .parquet file",
                path.display()
            );
        }
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        bail!(
            "Q-Spatial bench {} does not exist; pass a .parquet file or its folder",
            path.display()
        );
    };
    let mut items = Vec::new();
    let mut rows_per_split: HashMap<String, usize> = HashMap::new();
    for file in &files {
        // On a helper thread within the Parquet deadline (the parquet crate can spin for
        // hours on crafted page headers); the split counts travel with it.
        let deadline = msmu_data::dataset::reader::parquet_deadline_for(file);
        let (owned, owned_split) = (file.clone(), split.map(str::to_string));
        let mut counts = std::mem::take(&mut rows_per_split);
        let outcome = msmu_data::dataset::reader::within_deadline(deadline, move || {
            let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_file(&owned, owned_split.as_deref(), &mut counts, with_images)
            }))
            .unwrap_or_else(|_| Err(anyhow!("the Parquet reader failed on a damaged file")));
            (got, counts)
        });
        let (got, counts) = msmu_data::dataset::reader::overrun_error(file, deadline, outcome)?;
        rows_per_split = counts;
        items.extend(got.with_context(|| format!("reading Q-Spatial file {}", file.display()))?);
    }
    Ok(items)
}

/// The split name of a file: its stem without a `-00000-of-00001` shard suffix.
pub fn split_of_file(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
    if parts.len() == 4
        && parts[1] == "of"
        && parts[0].chars().all(|c| c.is_ascii_digit())
        && parts[2].chars().all(|c| c.is_ascii_digit())
    {
        parts[3].to_string()
    } else {
        stem
    }
}

const COLUMNS: &[&str] = &[
    "question",
    "answer_value",
    "answer_unit",
    "question_type",
    "split",
];

fn read_file(
    path: &Path,
    split: Option<&str>,
    rows_per_split: &mut HashMap<String, usize>,
    with_images: bool,
) -> anyhow::Result<Vec<QItem>> {
    use parquet::arrow::ProjectionMask;
    let builder = msmu_data::dataset::reader::open_parquet(path)
        .map_err(|e| anyhow!("not a readable Parquet file ({e})"))?;
    let names: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for need in ["question", "answer_value", "answer_unit"] {
        if !names.iter().any(|n| n == need) {
            bail!(
                "no `{need}` column (columns: {}); a Q-Spatial file has question, \
                 answer_value, answer_unit",
                names.join(", ")
            );
        }
    }
    let roots: Vec<usize> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            COLUMNS.contains(&n.as_str())
                || (with_images && ["image", "image_base64"].contains(&n.as_str()))
        })
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).build()?;
    let file_split = split_of_file(path);
    let mut items = Vec::new();
    let mut row = 0usize;
    for batch in reader {
        let batch = batch?;
        batch_items(
            &batch,
            path,
            &mut row,
            split.unwrap_or(&file_split),
            split.is_some(),
            rows_per_split,
            &mut items,
        )?;
        if with_images {
            let first = items.len() - batch.num_rows();
            for (i, item) in items[first..].iter_mut().enumerate() {
                item.image = crate::bench::image_at(&batch, i, &item.origin)?;
            }
        }
    }
    Ok(items)
}

fn f64_at(a: &dyn Array, i: usize) -> Option<f64> {
    if a.is_null(i) {
        return None;
    }
    match a.data_type() {
        DataType::Float64 => Some(a.as_primitive::<Float64Type>().value(i)),
        DataType::Float32 => Some(f64::from(a.as_primitive::<Float32Type>().value(i))),
        DataType::Int64 => Some(a.as_primitive::<Int64Type>().value(i) as f64),
        DataType::Int32 => Some(f64::from(a.as_primitive::<Int32Type>().value(i))),
        _ => str_at(a, i).and_then(|s| s.trim().parse().ok()),
    }
}

fn batch_items(
    batch: &RecordBatch,
    path: &Path,
    row: &mut usize,
    default_split: &str,
    forced: bool,
    rows_per_split: &mut HashMap<String, usize>,
    out: &mut Vec<QItem>,
) -> anyhow::Result<()> {
    let col = |name: &str| batch.column_by_name(name).cloned();
    let (q, v, u) = (
        col("question").expect("checked"),
        col("answer_value").expect("checked"),
        col("answer_unit").expect("checked"),
    );
    let (ty, sp) = (col("question_type"), col("split"));
    for i in 0..batch.num_rows() {
        let origin = format!("{}:{}", path.display(), *row + 1);
        *row += 1;
        let question =
            str_at(q.as_ref(), i).ok_or_else(|| anyhow!("{origin}: `question` is not a string"))?;
        let answer_value = f64_at(v.as_ref(), i)
            .ok_or_else(|| anyhow!("{origin}: `answer_value` is not a number"))?;
        let answer_unit = str_at(u.as_ref(), i)
            .ok_or_else(|| anyhow!("{origin}: `answer_unit` is not a string"))?;
        let split = if forced {
            default_split.to_string()
        } else {
            sp.as_ref()
                .and_then(|c| str_at(c.as_ref(), i))
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| default_split.to_string())
        };
        let index = rows_per_split.entry(split.clone()).or_insert(0);
        let mut item = QItem::new(&split, *index, &question, answer_value, &answer_unit);
        *index += 1;
        item.question_type = ty.as_ref().and_then(|c| str_at(c.as_ref(), i));
        item.origin = origin;
        out.push(item);
    }
    Ok(())
}

/// The content of each `\name{...}` in `text`, in order.
fn latex_args<'a>(text: &'a str, name: &str) -> Vec<(usize, &'a str)> {
    let pat = format!("\\{name}{{");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(k) = text[from..].find(&pat) {
        let start = from + k + pat.len();
        match text[start..].find('}') {
            Some(end) => {
                out.push((from + k, &text[start..start + end]));
                from = start + end + 1;
            }
            None => break,
        }
    }
    out
}

/// The unit a question asks for (`... in meters?`), if it names one.
fn asked_unit(question: &str) -> Option<Unit> {
    let toks = tokenize(question);
    toks.windows(2).find_map(|w| match w {
        [Tok::Word(a), Tok::Word(b)] if a == "in" => unit_of(b).filter(|_| b != "in"),
        _ => None,
    })
}

/// An answer in centimetres: the last `\scalar{v} \distance_unit{u}` pair when the answer
/// has one, else the first number with a length unit (after the last final-answer marker when
/// one is followed by such a number), a bare number taking the question's unit (`in meters`).
/// `None` when there is no readable length.
pub fn parse_answer(text: &str, question: &str) -> Option<f64> {
    let scalars = latex_args(text, "scalar");
    let units = latex_args(text, "distance_unit");
    if let Some(&(at, s)) = scalars.last() {
        let value = quantities(&tokenize(s)).first().map(|q| q.value)?;
        let value = if s.trim_start().starts_with('-') {
            -value
        } else {
            value
        };
        // The unit written after the scalar, else the last one before it, else a unit word
        // in the scalar itself, else the question's.
        let unit = units
            .iter()
            .find(|(u, _)| *u > at)
            .or(units.last())
            .and_then(|(_, u)| unit_of(u))
            .or_else(|| quantities(&tokenize(s)).first().and_then(|q| q.unit))
            .or_else(|| asked_unit(question))?;
        return Some(to_cm(value, unit));
    }
    let toks = tokenize(text);
    let qs = quantities(&toks);
    let marker = toks
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            matches!(t, Tok::Word(w) if matches!(w.as_str(), "therefore" | "thus" | "hence" | "final" | "answer")
                || (w == "so" && *i > 0))
        })
        .map(|(i, _)| i)
        .rfind(|m| qs.iter().any(|q| q.start > *m && q.unit.is_some()));
    let tail: Vec<&Quantity> = qs
        .iter()
        .filter(|q| marker.is_none_or(|m| q.start > m))
        .collect();
    if let Some(q) = tail.iter().find(|q| q.unit.is_some()) {
        return Some(to_cm(q.value, q.unit?));
    }
    let unit = asked_unit(question)?;
    tail.first().map(|q| to_cm(q.value, unit))
}

/// The verdict on one Q-Spatial prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QVerdict {
    pub success: bool,
    pub delta: Option<f64>,
    pub gt_cm: Option<f64>,
    pub pred_cm: Option<f64>,
    /// `ok`, `unparseable` (no length, or not positive), `missing` (no prediction) or
    /// `no_truth` (the reference unit is not a length unit).
    pub status: &'static str,
}

/// Judges one prediction: success when both are positive lengths and
/// max(pred/gt, gt/pred) < 2.
pub fn judge(item: &QItem, pred: &str) -> QVerdict {
    let mut v = QVerdict {
        success: false,
        delta: None,
        gt_cm: item.answer_cm,
        pred_cm: None,
        status: "ok",
    };
    let Some(gt) = item.answer_cm.filter(|g| *g > 0.0) else {
        v.status = "no_truth";
        return v;
    };
    let p = parse_answer(pred, &item.question);
    v.pred_cm = p;
    match p.filter(|p| p.is_finite() && *p > 0.0) {
        Some(p) => {
            let delta = (p / gt).max(gt / p);
            v.delta = Some(delta);
            v.success = delta < THRESHOLD;
        }
        None => v.status = "unparseable",
    }
    v
}

/// One item's result.
#[derive(Clone, Debug, Serialize)]
pub struct QResult {
    pub id: String,
    pub split: String,
    pub question_type: Option<String>,
    pub pred: Option<String>,
    #[serde(flatten)]
    pub verdict: QVerdict,
}

/// Counts of one split.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SplitStats {
    pub n: usize,
    pub success: usize,
    pub unparseable: usize,
    pub missing: usize,
}

impl SplitStats {
    /// Success rate in percent (0 for an empty split).
    pub fn rate(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            100.0 * self.success as f64 / self.n as f64
        }
    }
}

/// The Q-Spatial report.
#[derive(Clone, Debug, Default)]
pub struct QReport {
    pub model: Option<String>,
    /// Per bench item, bench order.
    pub items: Vec<QResult>,
    pub splits: BTreeMap<String, SplitStats>,
    /// Predictions that matched no bench item.
    pub unmatched: usize,
}

/// Scores predictions: matched by `id` (`<split>#<row>`), else by question text (first
/// untaken item with that question). Every bench item is counted; one without a prediction
/// fails. Items whose reference unit is not a length are left out of the counts.
pub fn score(bench: &[QItem], preds: &[Prediction]) -> QReport {
    let by_id: HashMap<&str, usize> = bench
        .iter()
        .enumerate()
        .map(|(k, it)| (it.id.as_str(), k))
        .collect();
    let mut by_q: HashMap<&str, VecDeque<usize>> = HashMap::new();
    for (k, it) in bench.iter().enumerate() {
        by_q.entry(it.question.as_str()).or_default().push_back(k);
    }
    let mut pred_of: Vec<Option<&str>> = vec![None; bench.len()];
    let mut report = QReport::default();
    for p in preds {
        let found =
            p.id.as_deref()
                .and_then(|id| by_id.get(id).copied())
                .filter(|k| pred_of[*k].is_none())
                .or_else(|| {
                    let queue = by_q.get_mut(p.question.as_deref()?)?;
                    while queue.front().is_some_and(|k| pred_of[*k].is_some()) {
                        queue.pop_front();
                    }
                    queue.front().copied()
                });
        match found {
            Some(k) => pred_of[k] = Some(p.pred.as_str()),
            None => report.unmatched += 1,
        }
    }
    for (item, pred) in bench.iter().zip(&pred_of) {
        let verdict = match pred {
            Some(p) => judge(item, p),
            None => {
                let mut v = judge(item, "");
                if v.status != "no_truth" {
                    v.status = "missing";
                }
                v
            }
        };
        if verdict.status != "no_truth" {
            let s = report.splits.entry(item.split.clone()).or_default();
            s.n += 1;
            s.success += usize::from(verdict.success);
            s.unparseable += usize::from(verdict.status == "unparseable");
            s.missing += usize::from(verdict.status == "missing");
        }
        report.items.push(QResult {
            id: item.id.clone(),
            split: item.split.clone(),
            question_type: item.question_type.clone(),
            pred: pred.map(str::to_string),
            verdict,
        });
    }
    report
}

impl QReport {
    /// All splits together.
    pub fn total(&self) -> SplitStats {
        let mut t = SplitStats::default();
        for s in self.splits.values() {
            t.n += s.n;
            t.success += s.success;
            t.unparseable += s.unparseable;
            t.missing += s.missing;
        }
        t
    }

    /// The report as JSON: `{model, splits: [{split, success, n, ...}], all, unmatched}`.
    pub fn to_json(&self) -> serde_json::Value {
        let row = |name: &str, s: &SplitStats| {
            serde_json::json!({
                "split": name,
                "success": s.rate(),
                "n": s.n,
                "successes": s.success,
                "unparseable": s.unparseable,
                "missing": s.missing,
            })
        };
        serde_json::json!({
            "suite": "qspatial",
            "model": self.model,
            "threshold": THRESHOLD,
            "splits": self.splits.iter().map(|(k, s)| row(k, s)).collect::<Vec<_>>(),
            "all": row("all", &self.total()),
            "unmatched": self.unmatched,
        })
    }

    /// The per-split table in Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        if let Some(m) = &self.model {
            let _ = writeln!(out, "Model: {m}\n");
        }
        let _ = writeln!(
            out,
            "Q-Spatial Bench: success = max(pred/gt, gt/pred) < {THRESHOLD} in cm\n"
        );
        let _ = writeln!(out, "| split | success % | n | unparseable | missing |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        let mut line = |name: &str, s: &SplitStats| {
            let _ = writeln!(
                out,
                "| {name} | {:.2} | {} | {} | {} |",
                s.rate(),
                s.n,
                s.unparseable,
                s.missing
            );
        };
        for (k, s) in &self.splits {
            line(k, s);
        }
        if self.splits.len() > 1 {
            line("all", &self.total());
        }
        if self.unmatched > 0 {
            let _ = writeln!(
                out,
                "\n{} prediction(s) matched no bench item (ids are `<split>#<row>`).",
                self.unmatched
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(text: &str) -> Option<f64> {
        parse_answer(text, "How far apart are the chair and the table?")
            .map(|v| (v * 1e6).round() / 1e6)
    }

    #[test]
    fn latex_and_free_answers() {
        assert_eq!(cm("\\scalar{1.5} \\distance_unit{meters}"), Some(150.0));
        assert_eq!(cm("\\scalar{30}\\distance_unit{cm}"), Some(30.0));
        assert_eq!(cm("\\scalar{2} \\distance_unit{feet}"), Some(60.96));
        assert_eq!(cm("\\scalar{10} \\distance_unit{inches}"), Some(25.4));
        assert_eq!(
            cm("About 1 m... final: \\scalar{3} \\distance_unit{meters}"),
            Some(300.0)
        );
        assert_eq!(cm("It is about 45 cm."), Some(45.0));
        assert_eq!(cm("roughly 2 feet 6 inches"), Some(76.2));
        assert_eq!(
            cm("The chair is 1 m tall, so the gap is 2.5 m."),
            Some(250.0)
        );
        assert_eq!(cm("3"), None);
        assert_eq!(cm(""), None);
        assert_eq!(cm("\\scalar{abc} \\distance_unit{meters}"), None);
        assert_eq!(cm("\\scalar{-2} \\distance_unit{meters}"), Some(-200.0));
        assert_eq!(
            parse_answer("3", "How tall is the door in meters?"),
            Some(300.0)
        );
    }

    #[test]
    fn shard_suffix_is_dropped() {
        assert_eq!(
            split_of_file(Path::new("data/QSpatial_plus-00000-of-00001.parquet")),
            "QSpatial_plus"
        );
        assert_eq!(
            split_of_file(Path::new("QSpatial_ScanNet.parquet")),
            "QSpatial_ScanNet"
        );
    }
}
