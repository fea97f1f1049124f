//! `msmu eval` scoring speed: 1,000 predictions (the agreement set's 261 hand-written cases,
//! cycled: every family, phrasing and unit) matched by question and judged, plus the JSON
//! report. Reading the files is not included.
//!
//! `cargo bench --bench eval -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use msmu_eval::report::evaluate;
use msmu_eval::{family_of_type, BenchItem, Prediction, Structured};

fn cases() -> (Vec<BenchItem>, Vec<Prediction>) {
    let text = include_str!("../tests/data/eval_agreement.jsonl");
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("agreement line"))
        .collect();
    let mut items = Vec::new();
    let mut preds = Vec::new();
    for k in 0..1000 {
        let case = &rows[k % rows.len()];
        let raw_type = case["type"].as_str().unwrap_or_default().to_string();
        let question = format!("{} (#{k})", case["question"].as_str().unwrap_or_default());
        let structured = case.get("values_si").map(|v| Structured {
            values_si: v
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default(),
            unit: case["unit"].as_str().unwrap_or_default().to_string(),
            answer_key: case["answer_key"].as_str().map(str::to_string),
        });
        items.push(BenchItem {
            id: None,
            question: question.clone(),
            answer: case["reference"].as_str().unwrap_or_default().to_string(),
            family: family_of_type(&raw_type).expect("known type"),
            raw_type,
            structured,
            origin: String::new(),
        });
        preds.push(Prediction {
            id: None,
            question: Some(question),
            pred: case["pred"].as_str().unwrap_or_default().to_string(),
            gt: None,
            raw_type: None,
            line: k + 1,
        });
    }
    (items, preds)
}

fn bench_eval(c: &mut Criterion) {
    let (items, preds) = cases();
    let mut group = c.benchmark_group("eval");
    group.throughput(Throughput::Elements(preds.len() as u64));
    group.bench_function("score_1000_predictions", |b| {
        b.iter(|| {
            let eval = evaluate(&items, &preds, false);
            std::hint::black_box(eval.to_json(true))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_eval);
criterion_main!(benches);
