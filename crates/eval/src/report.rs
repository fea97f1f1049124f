//! Matching predictions to bench items, aggregation per family and raw type, and the
//! Markdown / JSON reports.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;

use serde::Serialize;

use super::names::{apply_similarity, name_pair, similarities, NameEmbedder};
use super::score::{judge, ParseStatus, Verdict};
use super::{is_quantitative, BenchItem, Prediction};
use msmu_data::qa::Family;

/// The result for one prediction, in input order.
#[derive(Clone, Debug, Serialize)]
pub struct ItemResult {
    /// 0-based position among the predictions.
    pub index: usize,
    /// 1-based line in the predictions file.
    pub line: usize,
    pub id: Option<String>,
    pub question: Option<String>,
    pub family: Option<&'static str>,
    #[serde(rename = "type")]
    pub raw_type: Option<String>,
    /// `ok`, `unparseable`, `partial`, `no_truth`, or `unmatched`.
    pub status: &'static str,
    pub success: bool,
    pub success_2: bool,
    pub success_3: bool,
    pub delta: Option<f64>,
    pub rel_err: Option<f64>,
    pub gt_values: Vec<f64>,
    pub pred_values: Vec<f64>,
    pub gt_key: Option<String>,
    pub pred_key: Option<String>,
    /// Cosine similarity of the object names (`--name-model` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
    pub pred: String,
}

/// Success counts of one family or raw type.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub n: usize,
    pub success: usize,
    pub success_2: usize,
    pub success_3: usize,
    pub unparseable: usize,
    rel_err_sum: f64,
    rel_err_n: usize,
}

impl Stats {
    fn add(&mut self, v: &Verdict) {
        self.n += 1;
        self.success += usize::from(v.success);
        self.success_2 += usize::from(v.success_2);
        self.success_3 += usize::from(v.success_3);
        if matches!(v.status, ParseStatus::Unparseable | ParseStatus::Partial) {
            self.unparseable += 1;
        }
        if let Some(r) = v.rel_err.filter(|r| r.is_finite()) {
            self.rel_err_sum += r;
            self.rel_err_n += 1;
        }
    }

    /// Success rate in percent.
    pub fn rate(&self, k: usize) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            100.0 * k as f64 / self.n as f64
        }
    }

    /// Mean relative error over the predictions with numbers.
    pub fn mre(&self) -> Option<f64> {
        (self.rel_err_n > 0).then(|| self.rel_err_sum / self.rel_err_n as f64)
    }
}

/// Everything `msmu eval` reports.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    pub model: Option<String>,
    pub bench_items: usize,
    pub items: Vec<ItemResult>,
    pub families: BTreeMap<Family, Stats>,
    pub types: BTreeMap<(Family, String), Stats>,
    /// Bench items no prediction was matched to.
    pub missing: usize,
    /// The sentence-embedding model that judged object-name grounding answers
    /// ([`evaluate_with`]); `None`: the rules.
    pub name_model: Option<String>,
}

/// Scores `preds` against `bench`: by `id` when the prediction has one that the bench knows,
/// else by the question text (the first item with that question not yet taken, so repeated
/// questions pair up in order). With `by_index`, prediction k is bench item k. Object-name
/// grounding answers are judged by the rules ([`evaluate_with`] for the embedding rule).
pub fn evaluate(bench: &[BenchItem], preds: &[Prediction], by_index: bool) -> Evaluation {
    let found = match_predictions(bench, preds, by_index);
    let verdicts = found
        .iter()
        .zip(preds)
        .map(|(k, p)| k.map(|k| judge(&bench[k], &p.pred)))
        .collect();
    assemble(bench, preds, &found, verdicts)
}

/// [`evaluate`], with object-name grounding answers judged by `names` when given: cosine
/// similarity of the embedded names >= 0.5 (the official rule, [`crate::names`]). All the
/// names are embedded in one call.
pub fn evaluate_with(
    bench: &[BenchItem],
    preds: &[Prediction],
    by_index: bool,
    names: Option<&dyn NameEmbedder>,
) -> anyhow::Result<Evaluation> {
    let Some(embedder) = names else {
        return Ok(evaluate(bench, preds, by_index));
    };
    let found = match_predictions(bench, preds, by_index);
    let mut verdicts: Vec<Option<Verdict>> = found
        .iter()
        .zip(preds)
        .map(|(k, p)| k.map(|k| judge(&bench[k], &p.pred)))
        .collect();
    let mut at = Vec::new();
    let mut pairs = Vec::new();
    for (i, (k, p)) in found.iter().zip(preds).enumerate() {
        if let Some(pair) = k.and_then(|k| name_pair(&bench[k], &p.pred)) {
            at.push(i);
            pairs.push(pair);
        }
    }
    let sims = similarities(embedder, &pairs)?;
    for ((i, (_, name)), sim) in at.into_iter().zip(pairs).zip(sims) {
        if let Some(v) = verdicts[i].as_mut() {
            apply_similarity(v, name, sim);
        }
    }
    let mut eval = assemble(bench, preds, &found, verdicts);
    eval.name_model = Some(embedder.identity());
    Ok(eval)
}

/// The bench item of each prediction (see [`evaluate`]).
fn match_predictions(
    bench: &[BenchItem],
    preds: &[Prediction],
    by_index: bool,
) -> Vec<Option<usize>> {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    let mut by_q: HashMap<&str, VecDeque<usize>> = HashMap::new();
    for (k, item) in bench.iter().enumerate() {
        if let Some(id) = &item.id {
            by_id.entry(id.as_str()).or_insert(k);
        }
        by_q.entry(item.question.as_str()).or_default().push_back(k);
    }
    let mut taken = vec![false; bench.len()];
    let mut out = Vec::with_capacity(preds.len());
    for (index, p) in preds.iter().enumerate() {
        let found = if by_index {
            (index < bench.len()).then_some(index)
        } else {
            p.id.as_deref()
                .and_then(|id| by_id.get(id).copied())
                .or_else(|| {
                    let queue = by_q.get_mut(p.question.as_deref()?)?;
                    while let Some(&k) = queue.front() {
                        if taken[k] {
                            queue.pop_front();
                        } else {
                            break;
                        }
                    }
                    queue.front().copied()
                })
        };
        if let Some(k) = found {
            taken[k] = true;
        }
        out.push(found);
    }
    out
}

/// Per-prediction results and the aggregates from the matches and their verdicts.
fn assemble(
    bench: &[BenchItem],
    preds: &[Prediction],
    found: &[Option<usize>],
    verdicts: Vec<Option<Verdict>>,
) -> Evaluation {
    let mut taken = vec![false; bench.len()];
    let mut eval = Evaluation {
        bench_items: bench.len(),
        ..Evaluation::default()
    };
    for (index, ((p, found), v)) in preds.iter().zip(found).zip(verdicts).enumerate() {
        let mut r = ItemResult {
            index,
            line: p.line,
            id: p.id.clone(),
            question: p.question.clone(),
            family: None,
            raw_type: p.raw_type.clone(),
            status: "unmatched",
            success: false,
            success_2: false,
            success_3: false,
            delta: None,
            rel_err: None,
            gt_values: Vec::new(),
            pred_values: Vec::new(),
            gt_key: None,
            pred_key: None,
            similarity: None,
            pred: p.pred.clone(),
        };
        if let (Some(k), Some(v)) = (*found, v) {
            taken[k] = true;
            let item = &bench[k];
            r.id = r.id.or_else(|| item.id.clone());
            r.question = r.question.or_else(|| Some(item.question.clone()));
            r.family = Some(item.family.scorer_name());
            r.raw_type = Some(item.raw_type.clone());
            r.status = match v.status {
                ParseStatus::Ok => "ok",
                ParseStatus::Unparseable => "unparseable",
                ParseStatus::Partial => "partial",
                ParseStatus::NoTruth => "no_truth",
            };
            if v.status != ParseStatus::NoTruth {
                eval.families.entry(item.family).or_default().add(&v);
                eval.types
                    .entry((item.family, item.raw_type.clone()))
                    .or_default()
                    .add(&v);
            }
            r.success = v.success;
            r.success_2 = v.success_2;
            r.success_3 = v.success_3;
            r.delta = v.delta.filter(|d| d.is_finite());
            r.rel_err = v.rel_err.filter(|d| d.is_finite());
            r.gt_values = v.gt_values;
            r.pred_values = v.pred_values;
            r.gt_key = v.gt_key;
            r.pred_key = v.pred_key;
            r.similarity = v.similarity;
        }
        eval.items.push(r);
    }
    eval.missing = taken.iter().filter(|t| !**t).count();
    eval
}

impl Evaluation {
    /// Unweighted mean of the per-family success rates over the families present.
    pub fn average(&self) -> Option<f64> {
        let rates: Vec<f64> = self
            .families
            .values()
            .filter(|s| s.n > 0)
            .map(|s| s.rate(s.success))
            .collect();
        (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64)
    }

    /// Families with no scored prediction (excluded from the average).
    pub fn absent(&self) -> Vec<Family> {
        Family::ALL
            .into_iter()
            .filter(|f| self.families.get(f).is_none_or(|s| s.n == 0))
            .collect()
    }

    pub fn unmatched(&self) -> Vec<&ItemResult> {
        self.items
            .iter()
            .filter(|r| r.status == "unmatched")
            .collect()
    }

    pub fn unparseable(&self) -> Vec<&ItemResult> {
        self.items
            .iter()
            .filter(|r| matches!(r.status, "unparseable" | "partial"))
            .collect()
    }

    /// The JSON report.
    pub fn to_json(&self, by_type: bool) -> serde_json::Value {
        let stats = |s: &Stats, quantitative: bool| {
            serde_json::json!({
                "n": s.n,
                "success": s.rate(s.success),
                "success_1_25_sq": if quantitative { Some(s.rate(s.success_2)) } else { None },
                "success_1_25_cube": if quantitative { Some(s.rate(s.success_3)) } else { None },
                "mean_relative_error": s.mre(),
                "unparseable": s.unparseable,
            })
        };
        let families: Vec<serde_json::Value> = self
            .families
            .iter()
            .map(|(f, s)| {
                let mut v = stats(s, is_quantitative(*f));
                v["family"] = f.scorer_name().into();
                v
            })
            .collect();
        let brief = |r: &&ItemResult| {
            serde_json::json!({
                "index": r.index, "line": r.line, "id": r.id, "question": r.question,
                "family": r.family, "pred": r.pred,
            })
        };
        let mut out = serde_json::json!({
            "model": self.model,
            "bench_items": self.bench_items,
            "predictions": self.items.len(),
            "scored": self.families.values().map(|s| s.n).sum::<usize>(),
            "average": self.average(),
            "families_absent": self.absent().iter().map(|f| f.scorer_name()).collect::<Vec<_>>(),
            "families": families,
            "unmatched": self.unmatched().iter().map(brief).collect::<Vec<_>>(),
            "unparseable": self.unparseable().iter().map(brief).collect::<Vec<_>>(),
            "no_truth": self.items.iter().filter(|r| r.status == "no_truth").count(),
            "bench_items_without_prediction": self.missing,
        });
        if let Some(m) = &self.name_model {
            out["name_model"] = m.clone().into();
        }
        if by_type {
            out["types"] = self
                .types
                .iter()
                .map(|((f, t), s)| {
                    let mut v = stats(s, is_quantitative(*f));
                    v["family"] = f.scorer_name().into();
                    v["type"] = t.clone().into();
                    v
                })
                .collect::<Vec<_>>()
                .into();
        }
        out
    }

    /// The Markdown report.
    pub fn to_markdown(&self, by_type: bool) -> String {
        let mut s = String::new();
        let pct = |x: f64| format!("{x:.2}");
        let row = |s: &mut String, name: &str, st: &Stats, quantitative: bool| {
            let (s2, s3, mre) = if quantitative {
                (
                    pct(st.rate(st.success_2)),
                    pct(st.rate(st.success_3)),
                    st.mre().map_or("-".into(), |m| format!("{m:.3}")),
                )
            } else {
                ("-".into(), "-".into(), "-".into())
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {s2} | {s3} | {mre} | {} |",
                st.n,
                pct(st.rate(st.success)),
                st.unparseable
            );
        };
        if let Some(m) = &self.model {
            let _ = writeln!(s, "Model: {m}\n");
        }
        if let Some(m) = &self.name_model {
            let _ = writeln!(
                s,
                "Object-name grounding answers: cosine similarity of {m} embeddings >= 0.5.\n"
            );
        }
        let _ = writeln!(
            s,
            "| family | n | success % | δ<1.25² % | δ<1.25³ % | MRE | unparseable |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        for (f, st) in &self.families {
            row(&mut s, f.scorer_name(), st, is_quantitative(*f));
        }
        let present = self.families.values().filter(|s| s.n > 0).count();
        let _ = writeln!(
            s,
            "| **average** ({present} of 8 families) | {} | **{}** | | | | {} |",
            self.families.values().map(|s| s.n).sum::<usize>(),
            self.average().map_or("-".into(), pct),
            self.families.values().map(|s| s.unparseable).sum::<usize>()
        );
        let absent = self.absent();
        if !absent.is_empty() {
            let names: Vec<&str> = absent.iter().map(|f| f.scorer_name()).collect();
            let _ = writeln!(
                s,
                "\nFamilies absent from the scored predictions, excluded from the average: {}.",
                names.join(", ")
            );
        }
        if by_type {
            let _ = writeln!(
                s,
                "\n| family / type | n | success % | δ<1.25² % | δ<1.25³ % | MRE | unparseable |"
            );
            let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
            for ((f, t), st) in &self.types {
                row(
                    &mut s,
                    &format!("{} / {t}", f.scorer_name()),
                    st,
                    is_quantitative(*f),
                );
            }
        }
        let _ = writeln!(
            s,
            "\n{} predictions, {} bench items, {} bench items without prediction.",
            self.items.len(),
            self.bench_items,
            self.missing
        );
        let clip = |t: &str| {
            let t = t.replace('\n', " ");
            if t.chars().count() > 70 {
                format!("{}...", t.chars().take(67).collect::<String>())
            } else {
                t
            }
        };
        let list = |s: &mut String, title: &str, rows: &[&ItemResult]| {
            if rows.is_empty() {
                return;
            }
            let _ = writeln!(s, "\n{title} ({}):", rows.len());
            for r in rows.iter().take(50) {
                let _ = writeln!(
                    s,
                    "- #{} (line {}) {}: {:?}",
                    r.index,
                    r.line,
                    r.id.clone()
                        .or_else(|| r.question.as_deref().map(clip))
                        .unwrap_or_default(),
                    clip(&r.pred)
                );
            }
            if rows.len() > 50 {
                let _ = writeln!(
                    s,
                    "- ... {} more (see --json or --per-item)",
                    rows.len() - 50
                );
            }
        };
        list(&mut s, "Unparseable predictions", &self.unparseable());
        list(&mut s, "Unmatched predictions", &self.unmatched());
        s
    }
}
