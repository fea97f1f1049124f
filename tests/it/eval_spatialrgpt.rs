//! SpatialRGPT-Bench: hand-checked verdicts of the rule-based scorer
//! (tests/data/spatialrgpt_agreement.jsonl), annotation lines written in the released layout
//! (`id`, `image_info`, `text_q`, `conversations` with `<image>` and `<mask>`, `bbox`, COCO
//! `rle`, `qa_info`) as JSONL and as the JSON array the official script loads, and `msmu eval
//! --suite spatialrgpt` end to end: references as predictions score 100 %, empty ones 0 %.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::{msmu, ok, s};
use msmu_eval::spatialrgpt::{judge, read_bench, score, Category, SrItem};
use msmu_eval::Prediction;
use serde_json::{json, Value};

#[test]
fn spatialrgpt_scorer_agrees_with_every_hand_checked_verdict() {
    let text = include_str!("../data/spatialrgpt_agreement.jsonl");
    let mut n = 0;
    let mut categories = BTreeSet::new();
    let mut raw_categories = BTreeSet::new();
    let mut disagreements = Vec::new();
    for (line, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let case: Value = serde_json::from_str(raw).unwrap();
        let item = SrItem::new(
            &format!("case{line}"),
            case["question"].as_str().unwrap(),
            case["answer"].as_str().unwrap(),
            case["category"].as_str().unwrap(),
        )
        .unwrap();
        categories.insert(item.category);
        raw_categories.insert(item.raw_category.clone());
        let expected = case["expected"].as_bool().unwrap();
        let v = judge(&item, case["pred"].as_str().unwrap());
        assert_ne!(
            v.status,
            "no_truth",
            "line {}: reference unread: {raw}",
            line + 1
        );
        n += 1;
        if v.success != expected {
            disagreements.push(format!(
                "line {}: expected {expected}, got {} ({}, truth {:?}, read {:?}) for {raw}",
                line + 1,
                v.success,
                v.status,
                v.truth,
                v.reading
            ));
        }
    }
    assert!(n >= 60, "only {n} cases");
    for c in Category::QUALITATIVE.iter().chain(&Category::QUANTITATIVE) {
        assert!(categories.contains(c), "no case for {}", c.name());
    }
    assert!(raw_categories.iter().any(|c| c.ends_with("_choice")));
    assert!(raw_categories.iter().any(|c| c.ends_with("_predicate")));
    for unit in [
        "cm",
        "centimeters",
        "meters",
        "inches",
        "feet",
        "o'clock",
        "o’clock",
        "oclock",
    ] {
        assert!(text.contains(unit), "no case with {unit}");
    }
    assert!(
        disagreements.is_empty(),
        "{} of {n} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// (category, type, question with `[A]` / `[B]` for the regions, reference answer).
const ROWS: &[(&str, &str, &str, &str)] = &[
    (
        "below_predicate",
        "qualitative",
        "Is [A] below [B]?",
        "Actually, [A] is above [B].",
    ),
    (
        "above_choice",
        "qualitative",
        "Which is above, [A] or [B]?",
        "[B] is above.",
    ),
    (
        "left_predicate",
        "qualitative",
        "Is [A] to the left of [B] from the viewer's perspective?",
        "Yes, [A] is to the left of [B].",
    ),
    (
        "right_choice",
        "qualitative",
        "Which is more to the right, [A] or [B]?",
        "From the viewer's perspective, [A] appears more on the right side.",
    ),
    (
        "big_predicate",
        "qualitative",
        "Is [A] bigger than [B]?",
        "No, [A] is not bigger than [B].",
    ),
    (
        "small_predicate",
        "qualitative",
        "Is [A] smaller than [B]?",
        "Correct, [A] occupies less space than [B].",
    ),
    (
        "tall_choice",
        "qualitative",
        "Who is taller, [A] or [B]?",
        "Standing taller between the two is [B].",
    ),
    (
        "short_predicate",
        "qualitative",
        "Is [A] shorter than [B]?",
        "In fact, [A] may be taller than [B].",
    ),
    (
        "wide_predicate",
        "qualitative",
        "Is [A] wider than [B]?",
        "Indeed, [A] has a greater width compared to [B].",
    ),
    (
        "thin_predicate",
        "qualitative",
        "Is [A] thinner than [B]?",
        "No, [A] is not thinner than [B].",
    ),
    (
        "behind_predicate",
        "qualitative",
        "Is [A] behind [B]?",
        "That is False.",
    ),
    (
        "front_choice",
        "qualitative",
        "Which is in front, [A] or [B]?",
        "Positioned in front is [A].",
    ),
    (
        "distance_data",
        "quantitative",
        "How far apart are [A] and [B]?",
        "[A] and [B] are 2.35 meters apart.",
    ),
    (
        "horizontal_distance_data",
        "quantitative",
        "What is the horizontal distance between [A] and [B]?",
        "[A] is 81.2 centimeters away from [B] horizontally.",
    ),
    (
        "vertical_distance_data",
        "quantitative",
        "How far apart are [A] and [B] vertically?",
        "[A] and [B] are 3.5 feet apart vertically.",
    ),
    (
        "width_data",
        "quantitative",
        "Measure the width of [A].",
        "The width of [A] is 28.5 inches.",
    ),
    (
        "height_data",
        "quantitative",
        "What is the height of [A]?",
        "[A] is 1.6 meters tall.",
    ),
    (
        "direction",
        "quantitative",
        "If you are at [A], where will you find [B]?",
        "[A] will find [B] around the 10 o'clock direction.",
    ),
];

/// One annotation line in the released layout; the question names regions 0 and 1 (or only
/// 0), the human turn carries `<image>` and one `<mask>` per region.
fn annotation(k: usize, row: &(&str, &str, &str, &str)) -> Value {
    let (category, qa_type, question, answer) = *row;
    let text_q = question
        .replace("[A]", "Region [0]")
        .replace("[B]", "Region [1]");
    let masked = question
        .replace("[A]", "Region [0] <mask>")
        .replace("[B]", "Region [1] <mask>");
    let answer = answer
        .replace("[A]", "Region [0]")
        .replace("[B]", "Region [1]");
    let regions = if question.contains("[B]") { 2 } else { 1 };
    json!({
        "id": format!("srgpt_{k:04}"),
        "image_info": {
            "file_path": format!("SUNRGBD/kv2/kinect2data/{k:06}/image/{k:06}.jpg"),
            "height": 530,
            "width": 730,
            "dataset": "SUNRGBD",
        },
        "text_q": text_q,
        "conversations": [
            {"from": "human", "value": format!("<image>\n{masked}")},
            {"from": "gpt", "value": answer},
        ],
        "bbox": (0..regions).map(|r| json!([10.0 + 100.0 * r as f64, 20.0, 90.0 + 100.0 * r as f64, 200.5])).collect::<Vec<_>>(),
        "rle": (0..regions).map(|_| json!({"size": [530, 730], "counts": "PPYo05O1O1O0010O0000O1O1N3L`kV9"})).collect::<Vec<_>>(),
        "qa_info": {"type": qa_type, "category": category},
    })
}

/// Writes the fixture bench as JSONL (`val_SpatialRGPT-Bench.jsonl`) and as the JSON array
/// (`SpatialRGPT-Bench_v1.json`); returns both paths.
fn fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let lines: Vec<Value> = ROWS
        .iter()
        .enumerate()
        .map(|(k, r)| annotation(k, r))
        .collect();
    let jsonl = dir.join("val_SpatialRGPT-Bench.jsonl");
    std::fs::write(
        &jsonl,
        lines
            .iter()
            .map(|v| v.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let array = dir.join("SpatialRGPT-Bench_v1.json");
    std::fs::write(&array, serde_json::to_string_pretty(&lines).unwrap()).unwrap();
    (jsonl, array)
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
fn spatialrgpt_reads_the_released_layout_and_scores_per_category() {
    let dir = tempfile::tempdir().unwrap();
    let (jsonl, array) = fixture(dir.path());
    let items = read_bench(&jsonl).unwrap();
    let from_array = read_bench(&array).unwrap();
    let strip = |v: &[SrItem]| -> Vec<SrItem> {
        v.iter()
            .map(|i| SrItem {
                origin: String::new(),
                ..i.clone()
            })
            .collect()
    };
    assert_eq!(strip(&items), strip(&from_array));
    assert_eq!(items.len(), ROWS.len());
    assert_eq!(items[0].id, "srgpt_0000");
    assert_eq!(items[0].question, "Is Region [0] below Region [1]?");
    assert_eq!(items[0].regions, vec![0, 1]);
    assert_eq!(
        items[0].image.as_deref(),
        Some("SUNRGBD/kv2/kinect2data/000000/image/000000.jpg")
    );
    let cats: BTreeSet<Category> = items.iter().map(|i| i.category).collect();
    assert_eq!(cats.len(), 12);

    // References as predictions: 100 % in every category.
    let preds: Vec<Prediction> = items
        .iter()
        .enumerate()
        .map(|(k, it)| prediction(&it.id, &it.answer, k + 1))
        .collect();
    let r = score(&items, &preds);
    assert_eq!(r.no_truth, 0);
    for c in Category::QUALITATIVE.iter().chain(&Category::QUANTITATIVE) {
        let st = &r.categories[c];
        assert_eq!(st.rate(), 100.0, "{}", c.name());
    }
    assert_eq!(r.total(true).rate(), 100.0);
    assert_eq!(r.total(false).rate(), 100.0);
    assert_eq!(r.total(true).n + r.total(false).n, ROWS.len());
    // Empty predictions: 0 %, all unreadable; no predictions: all missing.
    let empty: Vec<Prediction> = items
        .iter()
        .enumerate()
        .map(|(k, it)| prediction(&it.id, "", k + 1))
        .collect();
    let r = score(&items, &empty);
    assert_eq!(r.total(true).rate(), 0.0);
    assert_eq!(r.total(false).rate(), 0.0);
    assert_eq!(
        r.total(true).unparseable + r.total(false).unparseable,
        ROWS.len()
    );
    let r = score(&items, &[]);
    assert_eq!(r.total(true).missing + r.total(false).missing, ROWS.len());
    // Matched by question (with the `<mask>` tokens of the human turn) when there is no id.
    let by_q = vec![Prediction {
        id: None,
        question: Some("<image>\nIs Region [0] <mask> below Region [1] <mask>?".into()),
        pred: "No, it is above Region [1].".into(),
        gt: None,
        raw_type: None,
        line: 1,
    }];
    let r = score(&items, &by_q);
    assert_eq!(r.categories[&Category::BelowAbove].success, 1);
    assert_eq!(r.unmatched, 0);
}

#[test]
fn eval_cli_scores_spatialrgpt_per_category() {
    let dir = tempfile::tempdir().unwrap();
    let (jsonl, array) = fixture(dir.path());
    let items = read_bench(&jsonl).unwrap();
    let pred_path = dir.path().join("preds.jsonl");
    // By id; the first by question text.
    let mut lines: Vec<String> = items
        .iter()
        .skip(1)
        .map(|it| json!({"id": it.id, "pred": it.answer}).to_string())
        .collect();
    lines.push(json!({"question": items[0].question, "pred": "No."}).to_string());
    std::fs::write(&pred_path, lines.join("\n") + "\n").unwrap();
    let text = ok(&[
        "eval",
        "--suite",
        "spatialrgpt",
        "--bench",
        s(&array),
        "--pred",
        s(&pred_path),
        "--json",
    ]);
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        report["qualitative"]["average"].as_f64(),
        Some(100.0),
        "{report}"
    );
    assert_eq!(
        report["quantitative"]["average"].as_f64(),
        Some(100.0),
        "{report}"
    );
    assert_eq!(
        report["qualitative"]["categories"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        report["quantitative"]["categories"][0]["category"],
        "direct_distance"
    );
    assert_eq!(
        report["quantitative"]["categories"][0]["abs_rel_error"].as_f64(),
        Some(0.0)
    );
    // The Markdown table, per category.
    let md = ok(&[
        "eval",
        "--suite",
        "spatialrgpt",
        "--bench",
        s(&jsonl),
        "--pred",
        s(&pred_path),
    ]);
    assert!(
        md.contains("| success % | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 |"),
        "{md}"
    );
    assert!(
        md.contains("below/above") && md.contains("direction"),
        "{md}"
    );
    // The official inference output (question_id, question, pred, gt, qa_info), scored
    // without --bench; half of it wrong.
    let official: Vec<String> = ROWS
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let a = annotation(k, r);
            let gt = a["conversations"][1]["value"].as_str().unwrap().to_string();
            let pred = if k % 2 == 0 {
                gt.clone()
            } else {
                String::new()
            };
            json!({
                "question_id": a["id"],
                "image": a["image_info"]["file_path"],
                "question": a["text_q"],
                "pred": pred,
                "gt": gt,
                "model_id": "SpatialRGPT-VILA1.5-8B",
                "qa_info": a["qa_info"],
            })
            .to_string()
        })
        .collect();
    let official_path = dir.path().join("merge.jsonl");
    std::fs::write(&official_path, official.join("\n") + "\n").unwrap();
    for bench in [None, Some(&jsonl)] {
        let mut args = vec![
            "eval",
            "--suite",
            "spatialrgpt",
            "--pred",
            s(&official_path),
            "--json",
        ];
        if let Some(b) = bench {
            args.extend(["--bench", s(b)]);
        }
        let report: Value = serde_json::from_str(&ok(&args)).unwrap();
        let n = report["qualitative"]["n"].as_u64().unwrap()
            + report["quantitative"]["n"].as_u64().unwrap();
        assert_eq!(n, ROWS.len() as u64, "{report}");
        assert_eq!(
            report["qualitative"]["average"].as_f64(),
            Some(50.0),
            "{report}"
        );
        assert_eq!(
            report["quantitative"]["average"].as_f64(),
            Some(50.0),
            "{report}"
        );
        assert_eq!(report["unmatched"].as_u64(), Some(0), "{report}");
    }
    // Empty predictions: 0 %.
    let empty: Vec<String> = items
        .iter()
        .map(|it| json!({"id": it.id, "pred": ""}).to_string())
        .collect();
    std::fs::write(&pred_path, empty.join("\n") + "\n").unwrap();
    let report: Value = serde_json::from_str(&ok(&[
        "eval",
        "--suite",
        "spatialrgpt",
        "--bench",
        s(&jsonl),
        "--pred",
        s(&pred_path),
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["qualitative"]["average"].as_f64(), Some(0.0));
    assert_eq!(report["quantitative"]["average"].as_f64(), Some(0.0));
    // Predictions without gt and no --bench: says what is missing.
    let out = msmu(&["eval", "--suite", "spatialrgpt", "--pred", s(&pred_path)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bench"));
}
