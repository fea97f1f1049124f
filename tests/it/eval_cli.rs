//! End-to-end tests of `msmu eval`: a bench from the fixture scene's QA (`msmu qa --json`),
//! written also as an msmu Parquet shard, an sdvlm-style Parquet export and an Arrow IPC
//! stream in the official layout (Python-literal `conversations`), scored with predictions
//! from the ground truth (100 %), perturbed values (x1.2 all succeed, x1.3 all fail) and empty
//! answers (0 %).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::support::{msmu, ok};
use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema};
use serde_json::{json, Value};

/// The fixture scene's QA, generated once.
fn fixture_qa() -> &'static Vec<Value> {
    static QA: OnceLock<Vec<Value>> = OnceLock::new();
    QA.get_or_init(|| {
        let root = crate::support::repo().display();
        let scene = format!("{root}/fixtures/scannet/scans/scene0900_00");
        let text = ok(&["qa", &scene, "--frame-stride", "1", "--json"]);
        let qa: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(qa.len() >= 20, "fixture gives {} QA", qa.len());
        qa
    })
}

fn write_lines(path: &Path, lines: &[Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn eval_json(args: &[&str]) -> Value {
    let mut all = vec!["eval", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&all)).unwrap()
}

fn family_success(report: &Value) -> Vec<(String, f64, usize)> {
    report["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["family"].as_str().unwrap().to_string(),
                f["success"].as_f64().unwrap(),
                f["n"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

const QUANTITATIVE: [&str; 4] = [
    "count",
    "scale_estimation",
    "absolute_distance",
    "refer_obj_estimation",
];

/// Predictions: quantitative answers as the truth times `factor` in metres (counts plain),
/// qualitative ones the reference answer.
fn predictions(qa: &[Value], factor: Option<f64>) -> Vec<Value> {
    qa.iter()
        .map(|q| {
            let family = q["family"].as_str().unwrap();
            let pred = match factor {
                Some(f) if QUANTITATIVE.contains(&family) => {
                    let values: Vec<String> = q["values_si"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| format!("{:.6}", v.as_f64().unwrap() * f))
                        .collect();
                    if family == "count" {
                        values.join(", ")
                    } else {
                        format!("{} m", values.join(" and "))
                    }
                }
                _ => q["answer"].as_str().unwrap().to_string(),
            };
            json!({"question": q["question"], "pred": pred})
        })
        .collect()
}

#[test]
fn jsonl_bench_truth_perturbed_and_empty_predictions() {
    let qa = fixture_qa();
    let dir = tempfile::tempdir().unwrap();
    let bench = dir.path().join("bench.jsonl");
    write_lines(&bench, qa);
    let bench = bench.to_str().unwrap();
    let pred = dir.path().join("pred.jsonl");
    let pred_s = pred.to_str().unwrap();

    // Ground truth as the prediction: 100 % in every family present.
    write_lines(&pred, &predictions(qa, None));
    let per_item = dir.path().join("items.jsonl");
    let report = eval_json(&[
        "--bench",
        bench,
        "--pred",
        pred_s,
        "--by-type",
        "--per-item",
        per_item.to_str().unwrap(),
    ]);
    let families = family_success(&report);
    assert!(families.len() >= 6, "{families:?}");
    for (f, s, _) in &families {
        assert_eq!(*s, 100.0, "{f}");
    }
    assert_eq!(report["average"].as_f64(), Some(100.0));
    assert_eq!(report["unmatched"].as_array().unwrap().len(), 0);
    assert_eq!(report["bench_items_without_prediction"], 0);
    assert!(!report["types"].as_array().unwrap().is_empty());
    let items: Vec<Value> = std::fs::read_to_string(&per_item)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), qa.len());
    for (k, it) in items.iter().enumerate() {
        assert_eq!(it["index"], k);
        for key in [
            "family",
            "type",
            "gt_values",
            "pred_values",
            "success",
            "status",
        ] {
            assert!(it.get(key).is_some(), "{key} missing in {it}");
        }
        assert_eq!(it["success"], true, "{it}");
    }

    // x1.2: every quantitative prediction succeeds; x1.3: every one fails at 1.25 and
    // succeeds at 1.25^2.
    for (factor, want) in [
        (1.2, 100.0),
        (1.3, 0.0),
        (1.0 / 1.2, 100.0),
        (1.0 / 1.3, 0.0),
    ] {
        write_lines(&pred, &predictions(qa, Some(factor)));
        let report = eval_json(&["--bench", bench, "--pred", pred_s]);
        for f in report["families"].as_array().unwrap() {
            let name = f["family"].as_str().unwrap();
            if QUANTITATIVE.contains(&name) {
                assert_eq!(f["success"].as_f64(), Some(want), "{name} x{factor}");
                assert_eq!(
                    f["success_1_25_sq"].as_f64(),
                    Some(100.0),
                    "{name} x{factor}"
                );
            } else {
                assert_eq!(f["success"].as_f64(), Some(100.0), "{name}");
            }
        }
    }

    // Empty answers: 0 %, all unparseable.
    let empty: Vec<Value> = qa
        .iter()
        .map(|q| json!({"question": q["question"], "pred": ""}))
        .collect();
    write_lines(&pred, &empty);
    let report = eval_json(&["--bench", bench, "--pred", pred_s]);
    assert_eq!(report["average"].as_f64(), Some(0.0));
    assert_eq!(
        report["unparseable"].as_array().unwrap().len(),
        qa.len(),
        "{report}"
    );

    // Markdown by default, with the absent families named.
    let text = ok(&["eval", "--bench", bench, "--pred", pred_s]);
    assert!(text.contains("| family | n | success % |"), "{text}");
    assert!(text.contains("**average**"), "{text}");
}

#[test]
fn official_inference_output_without_bench_and_unmatched_lines() {
    let qa = fixture_qa();
    let dir = tempfile::tempdir().unwrap();
    let pred = dir.path().join("official.jsonl");
    let mut lines = vec![json!({"model": "my-vlm"})];
    for q in qa {
        lines.push(json!({
            "question": format!("<image>\n{}", q["question"].as_str().unwrap()),
            "pred": q["answer"], "gt": q["answer"], "type": q["raw_type"],
        }));
    }
    write_lines(&pred, &lines);
    let report = eval_json(&["--pred", pred.to_str().unwrap()]);
    assert_eq!(report["model"], "my-vlm");
    assert_eq!(report["average"].as_f64(), Some(100.0), "{report}");

    // Against a bench, a question the bench lacks is reported as unmatched.
    let bench = dir.path().join("bench.jsonl");
    write_lines(&bench, qa);
    lines.push(json!({"question": "What is the meaning of life?", "pred": "42"}));
    write_lines(&pred, &lines);
    let report = eval_json(&[
        "--bench",
        bench.to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
    ]);
    assert_eq!(report["unmatched"].as_array().unwrap().len(), 1);
    assert_eq!(report["average"].as_f64(), Some(100.0));
}

#[test]
fn bad_input_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let pred = dir.path().join("p.jsonl");
    std::fs::write(&pred, "{\"id\": \"a#0\", \"pred\": \"1 m\"}\n{not json\n").unwrap();
    let bench = dir.path().join("b.jsonl");
    std::fs::write(&bench, "").unwrap();
    let out = msmu(&[
        "eval",
        "--bench",
        bench.to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("p.jsonl:2"), "{err}");
    let out = msmu(&["eval", "--pred", "/nonexistent/p.jsonl"]);
    assert!(!out.status.success());
    let out = msmu(&[
        "eval",
        "--bench",
        "/nonexistent",
        "--pred",
        pred.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    // Without --bench every line needs `gt`.
    std::fs::write(&pred, "{\"question\": \"q\", \"pred\": \"1 m\"}\n").unwrap();
    let out = msmu(&["eval", "--pred", pred.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("gt"), "{err}");
    let help = ok(&["eval", "--help"]);
    assert!(help.contains("Examples:"));
}

// ---- Parquet and Arrow benches ----

fn strings(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn list_of(values: ArrayRef, lens: &[usize]) -> ArrayRef {
    let field = Arc::new(Field::new("item", values.data_type().clone(), true));
    Arc::new(ListArray::new(
        field,
        OffsetBuffer::from_lengths(lens.iter().copied()),
        values,
        None,
    ))
}

fn image_column(n: usize) -> ArrayRef {
    let bytes: ArrayRef = Arc::new(BinaryArray::from(vec![b"\x89PNG".as_slice(); n]));
    let path: ArrayRef = strings(vec![Some("img.png".into()); n]);
    Arc::new(StructArray::from(vec![
        (Arc::new(Field::new("bytes", DataType::Binary, true)), bytes),
        (Arc::new(Field::new("path", DataType::Utf8, true)), path),
    ]))
}

fn turns_column(turns: &[Vec<(String, String)>]) -> ArrayRef {
    let from = strings(turns.iter().flatten().map(|t| Some(t.0.clone())).collect());
    let value = strings(turns.iter().flatten().map(|t| Some(t.1.clone())).collect());
    let s: ArrayRef = Arc::new(StructArray::from(vec![
        (Arc::new(Field::new("from", DataType::Utf8, true)), from),
        (Arc::new(Field::new("value", DataType::Utf8, true)), value),
    ]));
    list_of(s, &turns.iter().map(Vec::len).collect::<Vec<_>>())
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
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

/// The fixture QA grouped into shard rows of `per_row` QA.
fn shard_batch(qa: &[Value], per_row: usize) -> (RecordBatch, Vec<String>) {
    let rows: Vec<&[Value]> = qa.chunks(per_row).collect();
    let ids: Vec<String> = (0..rows.len())
        .map(|r| format!("scene0900_00/{r}"))
        .collect();
    let s = |q: &Value, k: &str| q[k].as_str().map(str::to_string);
    let flat: Vec<&Value> = qa.iter().collect();
    let vals: Vec<f64> = flat
        .iter()
        .flat_map(|q| {
            q["values_si"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
        })
        .collect();
    let val_lens: Vec<usize> = flat
        .iter()
        .map(|q| q["values_si"].as_array().unwrap().len())
        .collect();
    let inst: Vec<i64> = flat
        .iter()
        .flat_map(|q| {
            q["instance_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
        })
        .collect();
    let inst_lens: Vec<usize> = flat
        .iter()
        .map(|q| q["instance_ids"].as_array().unwrap().len())
        .collect();
    let col = |k: &str| strings(flat.iter().map(|q| s(q, k)).collect());
    let f = |n: &str, a: &ArrayRef| Arc::new(Field::new(n, a.data_type().clone(), true));
    let parts: Vec<(&str, ArrayRef)> = vec![
        ("family", col("family")),
        ("type", col("raw_type")),
        ("question", col("question")),
        ("answer", col("answer")),
        (
            "values_si",
            list_of(Arc::new(Float64Array::from(vals)), &val_lens),
        ),
        ("unit", col("unit")),
        (
            "instance_ids",
            list_of(Arc::new(Int64Array::from(inst)), &inst_lens),
        ),
        ("template_id", col("template_id")),
        (
            "is_cot",
            Arc::new(BooleanArray::from(
                flat.iter()
                    .map(|q| q["is_cot"].as_bool())
                    .collect::<Vec<_>>(),
            )),
        ),
        ("answer_key", col("answer_key")),
    ];
    let qa_struct: ArrayRef = Arc::new(StructArray::from(
        parts
            .iter()
            .map(|(n, a)| (f(n, a), a.clone()))
            .collect::<Vec<_>>(),
    ));
    let lens: Vec<usize> = rows.iter().map(|r| r.len()).collect();
    let turns: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .flat_map(|(k, q)| {
                    let question = q["question"].as_str().unwrap();
                    let question = if k == 0 {
                        format!("<image>\n{question}")
                    } else {
                        question.to_string()
                    };
                    [
                        ("human".to_string(), question),
                        ("gpt".to_string(), q["answer"].as_str().unwrap().to_string()),
                    ]
                })
                .collect()
        })
        .collect();
    let n = rows.len();
    let b = batch(vec![
        ("id", strings(ids.iter().cloned().map(Some).collect())),
        ("scene_id", strings(vec![Some("scene0900_00".into()); n])),
        ("source", strings(vec![Some("scannet".into()); n])),
        ("split", strings(vec![Some("test".into()); n])),
        (
            "frame_id",
            strings((0..n).map(|r| Some(r.to_string())).collect()),
        ),
        ("image", image_column(n)),
        ("depth", image_column(n)),
        ("qa", list_of(qa_struct, &lens)),
        ("conversations", turns_column(&turns)),
    ]);
    (b, ids)
}

#[test]
fn parquet_shard_and_sdvlm_export_are_read() {
    let qa = fixture_qa();
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    std::fs::create_dir(&shards).unwrap();
    let (b, ids) = shard_batch(qa, 5);
    write_parquet(&shards.join("test-00000.parquet"), &b);
    // Predictions by id `{row id}#{k}`; the last one perturbed x1.3.
    let mut preds = Vec::new();
    for (i, q) in qa.iter().enumerate() {
        let id = format!("{}#{}", ids[i / 5], i % 5);
        preds.push(json!({"id": id, "pred": q["answer"]}));
    }
    let pred = dir.path().join("pred.jsonl");
    write_lines(&pred, &preds);
    let report = eval_json(&[
        "--bench",
        shards.to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
    ]);
    assert_eq!(report["bench_items"], qa.len());
    assert_eq!(report["average"].as_f64(), Some(100.0), "{report}");
    assert_eq!(report["bench_items_without_prediction"], 0);

    // sdvlm export: one row per QA, JSON conversations, structured columns.
    let n = qa.len();
    let sid: Vec<Option<String>> = (0..n)
        .map(|i| Some(format!("{}#{}", ids[i / 5], i % 5)))
        .collect();
    let conv: Vec<Option<String>> = qa
        .iter()
        .map(|q| {
            Some(
                json!([
                    {"from": "human", "value": format!("<image>\n{}", q["question"].as_str().unwrap())},
                    {"from": "gpt", "value": q["answer"]},
                ])
                .to_string(),
            )
        })
        .collect();
    let vals: Vec<f64> = qa
        .iter()
        .flat_map(|q| {
            q["values_si"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
        })
        .collect();
    let lens: Vec<usize> = qa
        .iter()
        .map(|q| q["values_si"].as_array().unwrap().len())
        .collect();
    let s = |k: &str| {
        strings(
            qa.iter()
                .map(|q| q[k].as_str().map(str::to_string))
                .collect(),
        )
    };
    let b = batch(vec![
        ("id", strings(sid)),
        (
            "image_base64",
            strings(vec![Some("iVBORw0KGgo=".into()); n]),
        ),
        ("image_size", strings(vec![Some("[640, 480]".into()); n])),
        ("image_mode", strings(vec![Some("RGB".into()); n])),
        ("conversations", strings(conv)),
        ("type", s("raw_type")),
        ("family", s("family")),
        (
            "values_si",
            list_of(Arc::new(Float64Array::from(vals)), &lens),
        ),
        ("unit", s("unit")),
        ("answer_key", s("answer_key")),
    ]);
    let sdvlm = dir.path().join("sdvlm.parquet");
    write_parquet(&sdvlm, &b);
    let report = eval_json(&[
        "--bench",
        sdvlm.to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
    ]);
    assert_eq!(report["average"].as_f64(), Some(100.0), "{report}");
}

/// Python `repr` of a string (single quotes unless the text has one and no double quote).
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[test]
fn official_arrow_ipc_with_python_literal_conversations() {
    let qa = fixture_qa();
    let dir = tempfile::tempdir().unwrap();
    let n = qa.len();
    let conv: Vec<Option<String>> = qa
        .iter()
        .map(|q| {
            Some(format!(
                "[{{'from': 'human', 'value': {}}}, {{'from': 'gpt', 'value': {}}}]",
                py_repr(&format!("<image>\n{}", q["question"].as_str().unwrap())),
                py_repr(q["answer"].as_str().unwrap())
            ))
        })
        .collect();
    let b = batch(vec![
        ("image", image_column(n)),
        ("conversations", strings(conv)),
        (
            "type",
            strings(
                qa.iter()
                    .map(|q| q["raw_type"].as_str().map(str::to_string))
                    .collect(),
            ),
        ),
    ]);
    let preds: Vec<Value> = predictions(qa, Some(1.2));
    let pred = dir.path().join("pred.jsonl");
    write_lines(&pred, &preds);
    for format in ["stream", "file"] {
        let path = dir.path().join(format!("data-{format}.arrow"));
        let file = std::fs::File::create(&path).unwrap();
        if format == "stream" {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(file, &b.schema()).unwrap();
            w.write(&b).unwrap();
            w.finish().unwrap();
        } else {
            let mut w = arrow::ipc::writer::FileWriter::try_new(file, &b.schema()).unwrap();
            w.write(&b).unwrap();
            w.finish().unwrap();
        }
        // Reference values parsed from the answer text (no structured columns here).
        let report = eval_json(&[
            "--bench",
            path.to_str().unwrap(),
            "--pred",
            pred.to_str().unwrap(),
            "--by-type",
        ]);
        assert_eq!(report["bench_items"], n, "{format}");
        for (f, s, _) in family_success(&report) {
            assert_eq!(s, 100.0, "{format} {f}: {report}");
        }
    }

    // The official Parquet form with `conversations` as a list of {from, value} structs.
    let turns: Vec<Vec<(String, String)>> = qa
        .iter()
        .map(|q| {
            vec![
                (
                    "human".to_string(),
                    format!("<image>\n{}", q["question"].as_str().unwrap()),
                ),
                ("gpt".to_string(), q["answer"].as_str().unwrap().to_string()),
            ]
        })
        .collect();
    let b = batch(vec![
        ("image", image_column(n)),
        ("conversations", turns_column(&turns)),
        (
            "type",
            strings(
                qa.iter()
                    .map(|q| q["raw_type"].as_str().map(str::to_string))
                    .collect(),
            ),
        ),
    ]);
    let path = dir.path().join("test.parquet");
    write_parquet(&path, &b);
    let report = eval_json(&[
        "--bench",
        path.to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
    ]);
    assert_eq!(report["bench_items"], n);
    assert_eq!(report["average"].as_f64(), Some(100.0), "{report}");
}

/// `--name-model` names the folder it could not load (without the trainer: says how to get
/// it; the model itself is exercised by tests/python/test_minilm.py), and is refused for
/// Q-Spatial.
#[test]
fn name_model_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let pred = dir.path().join("p.jsonl");
    std::fs::write(
        &pred,
        "{\"question\": \"What is the object at (0.4, 0.6)?\", \"pred\": \"The couch.\", \
         \"gt\": \"The sofa.\", \"type\": \"position\"}\n",
    )
    .unwrap();
    let missing = dir.path().join("no-model");
    let out = msmu(&[
        "eval",
        "--pred",
        pred.to_str().unwrap(),
        "--name-model",
        missing.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--name-model"), "{err}");
    if cfg!(feature = "train") {
        assert!(err.contains("no-model"), "{err}");
    } else {
        assert!(err.contains("trainer build"), "{err}");
    }
    let out = msmu(&[
        "eval",
        "--suite",
        "qspatial",
        "--bench",
        dir.path().to_str().unwrap(),
        "--pred",
        pred.to_str().unwrap(),
        "--name-model",
        missing.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--suite msmu"),
        "{err}"
    );
}
