//! The scorer against hand-checked verdicts (tests/data/eval_agreement.jsonl and, in the
//! official test split's answer styles, eval_agreement_official.jsonl: reference
//! answer, prediction, type, expected verdict, optionally the structured answer), and
//! property tests of the answer parser.

use msmu_data::qa::Family;
use msmu_eval::parse::{quantities, tokenize, Unit};
use msmu_eval::score::judge;
use msmu_eval::{family_of_type, BenchItem, Structured};
use proptest::prelude::*;

fn item(case: &serde_json::Value) -> BenchItem {
    let raw_type = case["type"].as_str().unwrap().to_string();
    let family = family_of_type(&raw_type).expect("known type");
    let structured =
        (case.get("values_si").is_some() || case.get("answer_key").is_some()).then(|| Structured {
            values_si: case
                .get("values_si")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default(),
            unit: case["unit"].as_str().unwrap_or("").to_string(),
            answer_key: case["answer_key"].as_str().map(str::to_string),
        });
    BenchItem {
        id: None,
        question: case["question"].as_str().unwrap().to_string(),
        answer: case["reference"].as_str().unwrap().to_string(),
        family,
        raw_type,
        structured,
        origin: String::new(),
    }
}

/// Scores every case of a JSONL agreement file; returns (cases, families, disagreements).
fn agreement(text: &str) -> (usize, std::collections::BTreeSet<Family>, Vec<String>) {
    let mut families = std::collections::BTreeSet::new();
    let mut disagreements = Vec::new();
    let mut n = 0;
    for (line, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let case: serde_json::Value = serde_json::from_str(raw).unwrap();
        let item = item(&case);
        families.insert(item.family);
        let expected = case["expected"].as_bool().unwrap();
        let v = judge(&item, case["pred"].as_str().unwrap());
        n += 1;
        if v.success != expected {
            disagreements.push(format!(
                "line {}: expected {expected}, got {} ({:?}, gt {:?} {:?}, pred {:?} {:?}) for {raw}",
                line + 1,
                v.success,
                v.status,
                v.gt_values,
                v.gt_key,
                v.pred_values,
                v.pred_key
            ));
        }
    }
    (n, families, disagreements)
}

#[test]
fn scorer_agrees_with_every_hand_checked_verdict() {
    let (n, families, disagreements) = agreement(include_str!("../data/eval_agreement.jsonl"));
    assert!(n >= 200, "only {n} cases");
    assert_eq!(families.len(), 8, "every family is covered");
    assert!(
        disagreements.is_empty(),
        "{} of {n} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// Reference answers in the official test split's styles (MSMU.md section 8): comparisons
/// that state both values and conclude with the winner, "The tallest is the X.", "Since ...,
/// i think ...", bare coordinates or an object name for grounding, "No, there is no X in the
/// image.", yes/no with a side, nearer/farther.
#[test]
fn scorer_agrees_on_official_answer_styles() {
    let (n, families, disagreements) =
        agreement(include_str!("../data/eval_agreement_official.jsonl"));
    assert!(n >= 150, "only {n} cases");
    assert_eq!(families.len(), 8, "every family is covered");
    assert!(
        disagreements.is_empty(),
        "{} of {n} disagree:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

fn family_item(family: Family, raw_type: &str, values: Vec<f64>, unit: &str) -> BenchItem {
    BenchItem {
        id: None,
        question: "What is the height of the chair?".into(),
        answer: String::new(),
        family,
        raw_type: raw_type.into(),
        structured: Some(Structured {
            values_si: values,
            unit: unit.into(),
            answer_key: None,
        }),
        origin: String::new(),
    }
}

const UNITS: [(&str, f64); 11] = [
    ("m", 1.0),
    ("meters", 1.0),
    ("metres", 1.0),
    ("cm", 0.01),
    ("centimeters", 0.01),
    ("mm", 0.001),
    ("ft", 0.3048),
    ("feet", 0.3048),
    ("in", 0.0254),
    ("inches", 0.0254),
    ("\"", 0.0254),
];

proptest! {
    /// A length written in any unit (2 to 4 decimals) parses back to the same metres.
    #[test]
    fn any_unit_round_trips(metres in 0.01f64..20.0, unit in 0usize..UNITS.len(), decimals in 2usize..5, sep in 0usize..2) {
        let (word, factor) = UNITS[unit];
        let shown = metres / factor;
        let text = format!("It is {shown:.decimals$}{}{word} tall.", if sep == 0 || word == "\"" { "" } else { " " });
        let qs = quantities(&tokenize(&text));
        prop_assert_eq!(qs.len(), 1, "{}", text);
        let back = qs[0].metres(Unit::Metre);
        let printed: f64 = format!("{shown:.decimals$}").parse().unwrap();
        prop_assert!((back - printed * factor).abs() < 1e-9, "{} -> {}", text, back);
    }

    /// Feet and inches together (`5 ft 3 in`, `5'3"`) give feet * 0.3048 + inches * 0.0254.
    #[test]
    fn feet_and_inches_combine(feet in 1u32..9, inches in 0u32..12, style in 0usize..3) {
        let text = match style {
            0 => format!("{feet} ft {inches} in"),
            1 => format!("{feet}'{inches}\""),
            _ => format!("{feet} feet and {inches} inches"),
        };
        let qs = quantities(&tokenize(&text));
        prop_assert_eq!(qs.len(), 1, "{}", text);
        let want = f64::from(feet) * 0.3048 + f64::from(inches) * 0.0254;
        prop_assert!((qs[0].metres(Unit::Metre) - want).abs() < 1e-9, "{}", text);
    }

    /// Scaling the truth by r succeeds exactly when max(r, 1/r) < 1.25.
    #[test]
    fn scaled_predictions_follow_the_threshold(gt in 0.05f64..10.0, r in 0.5f64..2.0) {
        prop_assume!((r - 1.25).abs() > 1e-3 && (r - 0.8).abs() > 1e-3);
        let item = family_item(Family::ScaleEstimation, "height", vec![gt], "m");
        let v = judge(&item, &format!("{:.9} m", gt * r));
        prop_assert_eq!(v.success, r.max(1.0 / r) < 1.25);
    }

    /// The parser never panics on arbitrary text.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let item = family_item(Family::ReferenceEstimation, "refer_three_objects", vec![1.0, 2.0], "m");
        let _ = judge(&item, &text);
        let _ = msmu_eval::bench::py_literal(&text);
    }
}
