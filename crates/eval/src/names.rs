//! Object-name grounding answers judged by sentence embeddings (`msmu eval --name-model DIR`).
//!
//! The official SD-VLM evaluation (`evaluation/evaluate_final.py`) scores a grounding item
//! whose answer is an object name by embedding the reference and the response with
//! sentence-transformers' `all-MiniLM-L6-v2` and counting a success when their cosine
//! similarity is at least 0.5. The strings it embeds are the ones its GPT judge extracted from
//! the reference answer and the response (`answer_in_meters` / `response_in_meters`); msmu has
//! no LLM judge, so it embeds what its rule-based reading extracts (see [`name_pair`]):
//!
//! - reference: the object phrase of the reference (the structured `answer_key` where msmu
//!   wrote the bench, else the first `the ...` object phrase of the reference answer, as
//!   [`crate::score::truth`] reads it);
//! - prediction: the first `the ...` object phrase of the prediction, else the whole
//!   prediction (trimmed);
//!
//! both cut before a locative word (`the couch by the window` -> `couch`), as a judge asked
//! for the object's name would.
//!
//! This module only holds the hook: [`NameEmbedder`] is implemented by the trainer crate
//! (msmu-train's `minilm`, on libtorch), so msmu-eval stays free of tch. Without an embedder
//! the rule-based label match ([`crate::parse::names_label`]) decides, unchanged.

use msmu_data::qa::Family;

use crate::parse::{is_locative, is_refusal, object_phrases};
use crate::score::{truth, Truth, Verdict};
use crate::BenchItem;

/// The official threshold: cosine similarity >= 0.5 is a success.
pub const NAME_SIMILARITY: f64 = 0.5;

/// A sentence-embedding model: one vector per text, in order.
pub trait NameEmbedder {
    fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>>;

    /// What the report says judged the names (e.g. the model folder).
    fn identity(&self) -> String;
}

/// The (reference, prediction) strings the embedding rule compares for an object-name
/// grounding item; `None` for any other item, for a reference that is not an object name, and
/// for an empty or refusing prediction (judged by the rules: unparseable, no success).
pub fn name_pair(item: &BenchItem, pred: &str) -> Option<(String, String)> {
    if item.family != Family::Grounding {
        return None;
    }
    let Some(Truth::Object(reference)) = truth(item) else {
        return None;
    };
    let pred = pred.trim();
    if is_refusal(pred) {
        return None;
    }
    let name = object_phrases(pred)
        .into_iter()
        .next()
        .unwrap_or_else(|| pred.to_string());
    Some((before_locative(&reference), before_locative(&name)))
}

/// The words of a name before its first locative word (after the first word), separated by
/// single spaces.
fn before_locative(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let end = words
        .iter()
        .skip(1)
        .position(|w| is_locative(&w.to_lowercase()))
        .map_or(words.len(), |i| i + 1);
    words[..end].join(" ")
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Replaces the rule-based verdict of an object-name grounding item by the embedding rule:
/// success when `similarity` >= [`NAME_SIMILARITY`]; `pred_name` is what was embedded.
pub fn apply_similarity(v: &mut Verdict, pred_name: String, similarity: f64) {
    let success = similarity >= NAME_SIMILARITY;
    v.success = success;
    v.success_2 = success;
    v.success_3 = success;
    v.status = crate::score::ParseStatus::Ok;
    v.pred_key = Some(pred_name);
    v.similarity = Some(similarity);
}

/// Similarities of many (reference, prediction) pairs with one call to the embedder (each
/// distinct string embedded once).
pub fn similarities(
    embedder: &dyn NameEmbedder,
    pairs: &[(String, String)],
) -> anyhow::Result<Vec<f64>> {
    let mut texts: Vec<String> = Vec::new();
    let mut index = std::collections::HashMap::new();
    let mut slot = |s: &String, texts: &mut Vec<String>| -> usize {
        *index.entry(s.clone()).or_insert_with(|| {
            texts.push(s.clone());
            texts.len() - 1
        })
    };
    let ids: Vec<(usize, usize)> = pairs
        .iter()
        .map(|(r, p)| (slot(r, &mut texts), slot(p, &mut texts)))
        .collect();
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let vectors = embedder.embed(&texts)?;
    anyhow::ensure!(
        vectors.len() == texts.len(),
        "the name model gave {} embeddings for {} texts",
        vectors.len(),
        texts.len()
    );
    Ok(ids
        .iter()
        .map(|(r, p)| cosine(&vectors[*r], &vectors[*p]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::judge;

    /// Words to fixed vectors: `couch`/`sofa` alike, `settee` far from `sofa`.
    struct Toy;

    impl NameEmbedder for Toy {
        fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
            Ok(texts
                .iter()
                .map(|t| match t.as_str() {
                    "sofa" | "couch" => vec![1.0, 0.1, 0.0],
                    "armchair" => vec![0.0, 1.0, 0.0],
                    "chair" => vec![0.0, 0.9, 0.3],
                    _ => vec![0.0, 0.0, 1.0],
                })
                .collect())
        }

        fn identity(&self) -> String {
            "toy".into()
        }
    }

    fn item(answer: &str) -> BenchItem {
        BenchItem {
            id: None,
            question: "What is the object at (0.42, 0.61)?".into(),
            answer: answer.into(),
            family: Family::Grounding,
            raw_type: "position".into(),
            structured: None,
            origin: "test".into(),
        }
    }

    fn judged(answer: &str, pred: &str) -> Verdict {
        let it = item(answer);
        let mut v = judge(&it, pred);
        if let Some(pair) = name_pair(&it, pred) {
            let s = similarities(&Toy, std::slice::from_ref(&pair)).unwrap();
            apply_similarity(&mut v, pair.1, s[0]);
        }
        v
    }

    #[test]
    fn pairs_are_the_object_phrases() {
        let it = item("The object at (0.42, 0.61) is the sofa.");
        assert_eq!(
            name_pair(&it, "It is the couch by the window."),
            Some(("sofa".into(), "couch".into()))
        );
        assert_eq!(
            name_pair(&it, "The pouf near the bed"),
            Some(("sofa".into(), "pouf".into()))
        );
        assert_eq!(
            name_pair(&it, "There is a   couch next to it."),
            Some(("sofa".into(), "There is a couch".into()))
        );
        assert_eq!(
            name_pair(&it, " armchair "),
            Some(("sofa".into(), "armchair".into()))
        );
        assert_eq!(name_pair(&it, "I don't know."), None);
        assert_eq!(name_pair(&it, "  "), None);
        let mut coords = item("(0.4, 0.6)");
        coords.question = "Where is the sofa?".into();
        assert_eq!(name_pair(&coords, "the sofa"), None);
        let mut other = item("The sofa.");
        other.family = Family::ScaleComparison;
        assert_eq!(name_pair(&other, "the sofa"), None);
    }

    #[test]
    fn the_embedding_rule_replaces_the_label_rule() {
        // Rules and embedding agree.
        let v = judged("The object is the sofa.", "The couch.");
        assert!(v.success && v.similarity.unwrap() > 0.99);
        // Rules say no (armchair is not a chair), the embedding yes.
        assert!(!judge(&item("The object is the chair."), "The armchair.").success);
        let v = judged("The object is the chair.", "The armchair.");
        assert!(v.success, "{v:?}");
        assert_eq!(v.pred_key.as_deref(), Some("armchair"));
        // Rules say yes (a listed synonym), the embedding no.
        assert!(judge(&item("The object is the sofa."), "The settee.").success);
        let v = judged("The object is the sofa.", "The settee.");
        assert!(!v.success && v.similarity == Some(0.0));
        // A refusal stays unparseable.
        let v = judged("The object is the sofa.", "I don't know.");
        assert!(!v.success && v.similarity.is_none());
    }

    #[test]
    fn cosine_of_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }
}
