//! Q-Spatial Bench: hand-checked verdicts of the answer parser and success rule
//! (tests/data/qspatial_agreement.jsonl), the released Parquet layout written from Rust
//! (`image` as struct<bytes, path> in one split and binary in the other), and `msmu eval
//! --suite qspatial` end to end: references as predictions score 100 %, empty ones 0 %.

use std::path::Path;
use std::sync::Arc;

use crate::support::{msmu, ok, s};
use arrow::array::{ArrayRef, BinaryArray, Float64Array, RecordBatch, StringArray, StructArray};
use arrow::datatypes::{DataType, Field, Fields, Schema};
use msmu_eval::qspatial::{judge, read_bench, score, QItem};
use msmu_eval::Prediction;
use serde_json::Value;

#[test]
fn qspatial_scorer_agrees_with_every_hand_checked_verdict() {
    let text = include_str!("../data/qspatial_agreement.jsonl");
    let mut n = 0;
    let mut units = std::collections::BTreeSet::new();
    let (mut latex, mut free) = (0, 0);
    let mut disagreements = Vec::new();
    for (line, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let case: Value = serde_json::from_str(raw).unwrap();
        let item = QItem::new(
            "test",
            line,
            case["question"].as_str().unwrap(),
            case["answer_value"].as_f64().unwrap(),
            case["answer_unit"].as_str().unwrap(),
        );
        units.insert(item.answer_unit.clone());
        let pred = case["pred"].as_str().unwrap();
        if pred.contains("\\scalar{") {
            latex += 1;
        } else {
            free += 1;
        }
        let expected = case["expected"].as_bool().unwrap();
        let v = judge(&item, pred);
        n += 1;
        if v.success != expected {
            disagreements.push(format!(
                "line {}: expected {expected}, got {} ({}, gt {:?} cm, pred {:?} cm) for {raw}",
                line + 1,
                v.success,
                v.status,
                v.gt_cm,
                v.pred_cm
            ));
        }
    }
    assert!(n >= 60, "only {n} cases");
    assert!(
        latex >= 20 && free >= 15,
        "{latex} LaTeX-style, {free} free-text"
    );
    for u in ["centimeters", "meters", "inches", "feet"] {
        assert!(units.contains(u), "no case with reference unit {u}");
    }
    assert!(
        disagreements.is_empty(),
        "{} of {n} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// Rows of the fixture: (question, answer_value, answer_unit, question_type).
const PLUS: &[(&str, f64, &str, &str)] = &[
    (
        "What is the distance between the chair and the door?",
        150.0,
        "centimeters",
        "distance",
    ),
    ("How tall is the lamp?", 1.6, "meters", "height"),
    ("How wide is the monitor?", 24.0, "inches", "width"),
    (
        "How far apart are the sofa and the table?",
        3.0,
        "feet",
        "distance",
    ),
];
const SCANNET: &[(&str, f64, &str, &str)] = &[
    ("How tall is the door?", 2.05, "meters", "height"),
    (
        "What is the width of the bed?",
        160.0,
        "centimeters",
        "width",
    ),
    ("How long is the desk?", 48.0, "inches", "length"),
];

fn column_batch(rows: &[(&str, f64, &str, &str)], image_as_struct: bool) -> RecordBatch {
    let n = rows.len();
    let question: ArrayRef = Arc::new(StringArray::from(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
    ));
    let value: ArrayRef = Arc::new(Float64Array::from(
        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
    ));
    let unit: ArrayRef = Arc::new(StringArray::from(
        rows.iter().map(|r| r.2).collect::<Vec<_>>(),
    ));
    let qtype: ArrayRef = Arc::new(StringArray::from(
        rows.iter().map(|r| r.3).collect::<Vec<_>>(),
    ));
    let bytes: ArrayRef = Arc::new(BinaryArray::from(vec![b"\x89PNG\r\n".as_slice(); n]));
    let image: ArrayRef = if image_as_struct {
        let paths: ArrayRef = Arc::new(StringArray::from(
            (0..n).map(|i| format!("img_{i}.png")).collect::<Vec<_>>(),
        ));
        Arc::new(StructArray::from(vec![
            (Arc::new(Field::new("bytes", DataType::Binary, true)), bytes),
            (Arc::new(Field::new("path", DataType::Utf8, true)), paths),
        ]))
    } else {
        bytes
    };
    let image_path: ArrayRef = Arc::new(StringArray::from(
        (0..n)
            .map(|i| format!("images/{i}.png"))
            .collect::<Vec<_>>(),
    ));
    let columns = vec![
        ("image", image),
        ("question", question),
        ("answer_value", value),
        ("answer_unit", unit),
        ("question_type", qtype),
        ("image_path", image_path),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(Fields::from(fields))),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// The two released splits under `dir/data/`, as the Hub lays them out.
fn fixture(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_parquet(
        &data.join("QSpatial_plus-00000-of-00001.parquet"),
        &column_batch(PLUS, true),
    );
    write_parquet(
        &data.join("QSpatial_ScanNet-00000-of-00001.parquet"),
        &column_batch(SCANNET, false),
    );
    data
}

fn prediction(id: &str, pred: &str, line: usize) -> Prediction {
    Prediction {
        id: Some(id.to_string()),
        question: None,
        pred: pred.to_string(),
        gt: None,
        raw_type: None,
        line,
    }
}

#[test]
fn qspatial_parquet_reads_both_image_layouts_and_scores_per_split() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture(dir.path());
    let items = read_bench(&data, None).unwrap();
    assert_eq!(items.len(), PLUS.len() + SCANNET.len());
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "QSpatial_ScanNet#0",
            "QSpatial_ScanNet#1",
            "QSpatial_ScanNet#2",
            "QSpatial_plus#0",
            "QSpatial_plus#1",
            "QSpatial_plus#2",
            "QSpatial_plus#3"
        ]
    );
    assert_eq!(items[3].answer_cm, Some(150.0));
    assert!((items[6].answer_cm.unwrap() - 91.44).abs() < 1e-9);
    assert_eq!(items[0].question_type.as_deref(), Some("height"));
    // A split given by argument names every file.
    let one = read_bench(
        &data.join("QSpatial_plus-00000-of-00001.parquet"),
        Some("plus"),
    )
    .unwrap();
    assert_eq!(one[1].id, "plus#1");

    // References as predictions, in both answer formats: 100 %.
    for latex in [true, false] {
        let preds: Vec<Prediction> = items
            .iter()
            .enumerate()
            .map(|(k, it)| {
                let text = if latex {
                    format!(
                        "\\scalar{{{}}} \\distance_unit{{{}}}",
                        it.answer_value, it.answer_unit
                    )
                } else {
                    format!("It is about {} {}.", it.answer_value, it.answer_unit)
                };
                prediction(&it.id, &text, k + 1)
            })
            .collect();
        let r = score(&items, &preds);
        assert_eq!(r.splits.len(), 2);
        for (split, st) in &r.splits {
            assert_eq!(st.rate(), 100.0, "{split} (latex {latex})");
        }
        assert_eq!(r.total().n, 7);
    }
    // Empty predictions, and no predictions at all: 0 %.
    let empty: Vec<Prediction> = items
        .iter()
        .enumerate()
        .map(|(k, it)| prediction(&it.id, "", k + 1))
        .collect();
    let r = score(&items, &empty);
    assert!(r
        .splits
        .values()
        .all(|s| s.rate() == 0.0 && s.unparseable == s.n));
    let r = score(&items, &[]);
    assert_eq!(r.total().missing, 7);
    assert_eq!(r.total().success, 0);
    // Twice the reference fails, just under twice succeeds.
    let preds: Vec<Prediction> = items
        .iter()
        .enumerate()
        .map(|(k, it)| {
            let f = if k % 2 == 0 { 2.0 } else { 1.99 };
            let text = format!(
                "\\scalar{{{}}} \\distance_unit{{{}}}",
                it.answer_value * f,
                it.answer_unit
            );
            prediction(&it.id, &text, k + 1)
        })
        .collect();
    let r = score(&items, &preds);
    assert_eq!(r.total().success, 3);
}

#[test]
fn eval_cli_scores_qspatial_per_split() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixture(dir.path());
    let items = read_bench(&data, None).unwrap();
    let pred_path = dir.path().join("preds.jsonl");
    // By id, in the LaTeX format; one prediction by question text.
    let mut lines: Vec<String> = items
        .iter()
        .skip(1)
        .map(|it| {
            serde_json::json!({
                "id": it.id,
                "pred": format!("\\scalar{{{}}} \\distance_unit{{{}}}", it.answer_value, it.answer_unit),
            })
            .to_string()
        })
        .collect();
    lines.push(
        serde_json::json!({"question": items[0].question, "pred": "About 2 meters."}).to_string(),
    );
    std::fs::write(&pred_path, lines.join("\n") + "\n").unwrap();
    let text = ok(&[
        "eval",
        "--suite",
        "qspatial",
        "--bench",
        s(dir.path()),
        "--pred",
        s(&pred_path),
        "--json",
    ]);
    let report: Value = serde_json::from_str(&text).unwrap();
    let splits = report["splits"].as_array().unwrap();
    assert_eq!(splits.len(), 2, "{report}");
    for sp in splits {
        assert_eq!(sp["success"].as_f64(), Some(100.0), "{report}");
    }
    assert_eq!(report["all"]["n"].as_u64(), Some(7));
    // Markdown table, per split.
    let md = ok(&[
        "eval",
        "--suite",
        "qspatial",
        "--bench",
        s(&data),
        "--pred",
        s(&pred_path),
    ]);
    assert!(md.contains("| QSpatial_plus | 100.00 | 4 |"), "{md}");
    assert!(md.contains("| QSpatial_ScanNet | 100.00 | 3 |"), "{md}");
    // Empty predictions: 0 %.
    let empty: Vec<String> = items
        .iter()
        .map(|it| serde_json::json!({"id": it.id, "pred": ""}).to_string())
        .collect();
    std::fs::write(&pred_path, empty.join("\n") + "\n").unwrap();
    let report: Value = serde_json::from_str(&ok(&[
        "eval",
        "--suite",
        "qspatial",
        "--bench",
        s(&data),
        "--pred",
        s(&pred_path),
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["all"]["success"].as_f64(), Some(0.0));
    // Without --bench it says what is missing.
    let out = msmu(&["eval", "--suite", "qspatial", "--pred", s(&pred_path)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bench"));
}
