//! Fills a generator's values into a template group: phrasings, unit and structured answer.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Fill;
use crate::qa::templates::{fill as fill_template, TemplateSet};
use crate::qa::{format_length, Family, LengthUnit, QaPair};

/// Chooses the phrasings (and, for lengths, the unit) and fills them.
pub(super) fn realise(
    templates: &TemplateSet,
    family: Family,
    mut fill: Fill,
    seed: u64,
) -> QaPair {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let group = templates.group(family, fill.group);
    let q_index = rng.random_range(0..group.questions.len());
    let a_index = rng.random_range(0..group.answers.len());
    // Length placeholders were stored in metres as `m:<value>`; render them in a unit drawn
    // from this QA's stream (or the unit the generator fixed).
    let unit = match LengthUnit::from_symbol(&fill.unit) {
        Some(u) => Some(u),
        None if fill.unit == "length" => Some(pick_unit(&mut rng, false)),
        None if fill.unit == "length-converted" => Some(pick_unit(&mut rng, true)),
        None => None,
    };
    let imperial = fill.values.remove("imperial").is_some();
    let unit = unit.map(|u| {
        if imperial && rng.random_bool(0.5) {
            if u == LengthUnit::Metre {
                LengthUnit::Foot
            } else if u == LengthUnit::Centimetre {
                LengthUnit::Inch
            } else {
                u
            }
        } else {
            u
        }
    });
    let mut values: BTreeMap<&str, String> = BTreeMap::new();
    for (key, value) in &fill.values {
        let text = match (value.strip_prefix("m:"), unit) {
            (Some(metres), Some(u)) => {
                let parts: Vec<String> = metres
                    .split(',')
                    .map(|v| format_length(v.parse::<f64>().unwrap_or(0.0), u))
                    .collect();
                parts.join(" x ")
            }
            _ => value.clone(),
        };
        values.insert(key, text);
    }
    if let Some(u) = unit {
        values.insert("unit", u.word().to_string());
        fill.unit = u.symbol().to_string();
    }
    QaPair {
        family,
        raw_type: group.spec.raw_type.to_string(),
        question: fill_template(&group.questions[q_index], &values),
        answer: fill_template(&group.answers[a_index], &values),
        values_si: fill.values_si,
        unit: fill.unit,
        instance_ids: fill.ids.iter().map(|i| i.0).collect(),
        template_id: format!("{}/{}/q{q_index}/a{a_index}", family.name(), fill.group),
        definitions: fill.definitions,
        is_cot: group.spec.cot,
        answer_key: fill.answer_key,
    }
}

/// Metres or centimetres, half and half; `converted` (chain of thought: the reasoning is in
/// metres, the answer in another unit) always gives centimetres.
fn pick_unit(rng: &mut ChaCha8Rng, converted: bool) -> LengthUnit {
    if converted || rng.random_bool(0.5) {
        LengthUnit::Centimetre
    } else {
        LengthUnit::Metre
    }
}
