//! `msmu eval`: MSMU-Bench scoring without an LLM judge.
//!
//! - [`bench`] reads the reference items (msmu shards, the `sdvlm` export, the official test
//!   split as Parquet or Arrow IPC, `msmu qa --json` lines) and the predictions (JSONL, or the
//!   official inference script's output with `gt`);
//! - [`parse`] is the unit-aware answer parser (numbers in digits and words, fractions,
//!   ranges, m/cm/mm/ft/in and `5'3"`, L x W x H, coordinates, yes/no, object mentions);
//! - [`score`] judges one prediction against one item with the official semantics
//!   (MSMU.md section 3): delta < 1.25 for quantities in metres, mean coordinate difference
//!   <= 0.1 for grounding, rule-based 0/1 for the qualitative families;
//! - [`names`] is the hook for the official object-name rule (cosine similarity of
//!   all-MiniLM-L6-v2 embeddings >= 0.5), whose model lives in msmu-train;
//! - [`report`] aggregates per family and raw type and prints Markdown or JSON;
//! - [`qspatial`] reads and scores Q-Spatial Bench (delta < 2 in centimetres, per split);
//! - [`spatialrgpt`] reads and scores SpatialRGPT-Bench (rule-based qualitative verdicts,
//!   25 % relative error for lengths, one hour for clock directions; the paper's table).
//!
//! Ground truth comes from the structured answer (`values_si`, `unit`, `answer_key`) where
//! msmu wrote the bench, otherwise from parsing the reference answer with the same parser.

pub mod bench;
pub mod names;
pub mod parse;
pub mod qspatial;
pub mod report;
pub mod score;
pub mod spatialrgpt;

use serde::Serialize;

use msmu_data::qa::Family;

/// The family of a raw `type` (or of a scorer / project family name).
pub fn family_of_type(raw: &str) -> Option<Family> {
    let t = raw.trim().to_lowercase();
    Some(match t.as_str() {
        "zero" | "existence" => Family::Existence,
        "count" | "counting" => Family::Counting,
        "width" | "height" | "size" | "length" | "depth" | "scale_estimation" => {
            Family::ScaleEstimation
        }
        "position" | "grounding" => Family::Grounding,
        "left/right" | "near/far" | "front/behind" | "above/below" | "left_right" | "near_far"
        | "relative_position" => Family::RelativePosition,
        "distance" | "surface_distance" | "absolute_distance" => Family::AbsoluteDistance,
        "taller_two_object" | "tall_three_objects" | "taller_two_objects" | "scale_compare"
        | "scale_comparison" => Family::ScaleComparison,
        "refer_two_objects"
        | "refer_three_objects"
        | "refer_obj_estimation"
        | "reference_estimation" => Family::ReferenceEstimation,
        _ => return None,
    })
}

/// Whether the family is scored by delta on values in metres (or counts).
pub fn is_quantitative(family: Family) -> bool {
    matches!(
        family,
        Family::Counting
            | Family::ScaleEstimation
            | Family::AbsoluteDistance
            | Family::ReferenceEstimation
    )
}

/// Structured ground truth written by msmu.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Structured {
    pub values_si: Vec<f64>,
    pub unit: String,
    pub answer_key: Option<String>,
}

/// One reference item of the bench.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchItem {
    /// `{row id}#{qa index}` for msmu shards and the sdvlm export; `{row}#{k}` for the
    /// official split; the line's `id` (if any) for JSONL.
    pub id: Option<String>,
    /// Question without `<image>` and surrounding whitespace.
    pub question: String,
    pub answer: String,
    pub family: Family,
    pub raw_type: String,
    pub structured: Option<Structured>,
    /// Where the item came from (`file:row` or `file:line`), for messages.
    pub origin: String,
}

/// One prediction line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    pub id: Option<String>,
    pub question: Option<String>,
    pub pred: String,
    /// Reference answer carried by the official inference output.
    pub gt: Option<String>,
    pub raw_type: Option<String>,
    /// 1-based line number in the predictions file.
    pub line: usize,
}

/// Question text as used for matching: `<image>` tokens removed, whitespace collapsed.
pub fn normalize_question(q: &str) -> String {
    q.replace("<image>", " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_types_map_to_families() {
        for f in Family::ALL {
            for t in f.raw_types() {
                assert_eq!(family_of_type(t), Some(f), "{t}");
            }
            assert_eq!(family_of_type(f.scorer_name()), Some(f));
            assert_eq!(family_of_type(f.name()), Some(f));
        }
        assert_eq!(family_of_type("near/far"), Some(Family::RelativePosition));
        assert_eq!(family_of_type("bogus"), None);
    }

    #[test]
    fn questions_normalise() {
        assert_eq!(
            normalize_question("<image>\n  How many  chairs?\n"),
            "How many chairs?"
        );
    }
}
