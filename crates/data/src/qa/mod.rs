//! Question-answer generation: the eight MSMU task families, filled from template files, with
//! structured answers.
//!
//! Terms used in this module:
//! - a **family** ([`Family`]) is one of MSMU-Bench's eight task families; it serialises as the
//!   official scorer name (`count`, `scale_compare`, `refer_obj_estimation`, ...);
//! - a **raw type** is the finer `type` string of the official data (`zero`, `width`,
//!   `left/right`, `taller_two_object`, ...), kept verbatim so the official scripts accept it;
//! - a **QA pair** ([`QaPair`]) is one question and its answer text plus the structured
//!   answer: the values in SI units, the unit shown, the instances referenced, the template
//!   used and the measurement definitions behind the numbers;
//! - a **conversation** ([`Turn`]s) is the LLaVA-style multi-turn form of one image's QA pairs,
//!   with `<image>\n` at the start of the first human turn.
//!
//! Stages: [`templates`] loads and validates `templates/qa/*.json`; [`refer`] builds
//! unambiguous object references ("the white chair", "the leftmost chair"); [`generate`] runs
//! the family generators per selected view and mixes the result ([`QaConfig`]); [`split`]
//! assigns scenes to train/test. Everything here is pure and deterministic: every random
//! choice comes from ChaCha seeded by [`stable_seed`] of (seed, scene, frame, family, index).

pub mod colors;
pub mod generate;
pub mod language;
pub mod refer;
pub mod split;
pub mod templates;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use generate::{
    generate_scene, generate_view, prepare_scene, prepare_selected, SceneQaInput, ViewInput, ViewQa,
};
pub use templates::{TemplateError, TemplateSet};

/// The eight MSMU task families. Serialised with the official scorer names; the template
/// files may also use the names of [`Family::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Family {
    #[serde(rename = "existence")]
    Existence,
    #[serde(rename = "count", alias = "counting")]
    Counting,
    #[serde(rename = "scale_estimation")]
    ScaleEstimation,
    #[serde(rename = "grounding")]
    Grounding,
    #[serde(rename = "relative_position")]
    RelativePosition,
    #[serde(rename = "absolute_distance")]
    AbsoluteDistance,
    #[serde(rename = "scale_compare", alias = "scale_comparison")]
    ScaleComparison,
    #[serde(rename = "refer_obj_estimation", alias = "reference_estimation")]
    ReferenceEstimation,
}

impl Family {
    pub const ALL: [Family; 8] = [
        Family::Existence,
        Family::Counting,
        Family::ScaleEstimation,
        Family::Grounding,
        Family::RelativePosition,
        Family::AbsoluteDistance,
        Family::ScaleComparison,
        Family::ReferenceEstimation,
    ];

    /// The project's name (template file stem, e.g. `counting`).
    pub fn name(&self) -> &'static str {
        match self {
            Family::Existence => "existence",
            Family::Counting => "counting",
            Family::ScaleEstimation => "scale_estimation",
            Family::Grounding => "grounding",
            Family::RelativePosition => "relative_position",
            Family::AbsoluteDistance => "absolute_distance",
            Family::ScaleComparison => "scale_comparison",
            Family::ReferenceEstimation => "reference_estimation",
        }
    }

    /// The official scorer's name (MSMU.md section 2).
    pub fn scorer_name(&self) -> &'static str {
        match self {
            Family::Existence => "existence",
            Family::Counting => "count",
            Family::ScaleEstimation => "scale_estimation",
            Family::Grounding => "grounding",
            Family::RelativePosition => "relative_position",
            Family::AbsoluteDistance => "absolute_distance",
            Family::ScaleComparison => "scale_compare",
            Family::ReferenceEstimation => "refer_obj_estimation",
        }
    }

    /// The official data's raw type for one of msmu's: msmu's own types that the official
    /// data lacks map onto the official one of their family (`surface_distance` -> `distance`).
    pub fn official_raw_type(raw_type: &str) -> &str {
        match raw_type {
            "surface_distance" => "distance",
            other => other,
        }
    }

    /// Every raw type this family emits.
    pub fn raw_types(&self) -> &'static [&'static str] {
        match self {
            Family::Existence => &["zero"],
            Family::Counting => &["count"],
            Family::ScaleEstimation => &["width", "height", "size"],
            Family::Grounding => &["position"],
            Family::RelativePosition => &["left/right"],
            // Centre-to-centre (the official data's only kind) and closest-surface distances
            // each have their own type; both are the distance family.
            Family::AbsoluteDistance => &["distance", "surface_distance"],
            Family::ScaleComparison => &["taller_two_object", "tall_three_objects"],
            Family::ReferenceEstimation => &["refer_two_objects", "refer_three_objects"],
        }
    }

    /// MSMU-Bench test rows per family (MSMU.md section 2; 47.5 and 190.5 for the ranges).
    pub fn msmu_test_rows(&self) -> f64 {
        match self {
            Family::Existence => 47.5,
            Family::Counting => 96.0,
            Family::ScaleEstimation => 259.0,
            Family::Grounding => 87.0,
            Family::RelativePosition => 161.0,
            Family::AbsoluteDistance => 40.0,
            Family::ScaleComparison => 106.0,
            Family::ReferenceEstimation => 190.5,
        }
    }
}

/// One question with its answer text and structured answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QaPair {
    pub family: Family,
    /// Official raw `type` (`zero`, `count`, `width`, ..., `refer_three_objects`).
    pub raw_type: String,
    pub question: String,
    pub answer: String,
    /// The numbers of the answer in SI units (metres, counts, normalised coordinates), in the
    /// order they appear in the answer text; empty for qualitative answers.
    pub values_si: Vec<f64>,
    /// Unit shown in the answer: `m`, `cm`, `ft`, `in`, `count`, `xy`, or `""` (none).
    pub unit: String,
    /// Instances the question refers to, in the order the question names them.
    pub instance_ids: Vec<u32>,
    /// `family/group/qN/aM`: which phrasings were used.
    pub template_id: String,
    /// Measurement definitions behind the answer (ARCHITECTURE.md wording, or a
    /// `DistanceKind` name).
    pub definitions: Vec<String>,
    pub is_cot: bool,
    /// Qualitative answer in a machine-checkable form: `yes`/`no`, the chosen object's
    /// phrase, `absent`; `None` for numeric answers.
    #[serde(default)]
    pub answer_key: Option<String>,
}

/// One turn of a LLaVA-style conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// `human` or `gpt`.
    pub from: String,
    pub value: String,
}

/// The image token that starts the first human turn.
pub const IMAGE_TOKEN: &str = "<image>\n";

/// LLaVA conversation for one image's QA pairs.
pub fn conversation(pairs: &[QaPair]) -> Vec<Turn> {
    let mut turns = Vec::with_capacity(pairs.len() * 2);
    for (index, qa) in pairs.iter().enumerate() {
        let question = if index == 0 {
            format!("{IMAGE_TOKEN}{}", qa.question)
        } else {
            qa.question.clone()
        };
        turns.push(Turn {
            from: "human".into(),
            value: question,
        });
        turns.push(Turn {
            from: "gpt".into(),
            value: qa.answer.clone(),
        });
    }
    turns
}

/// Settings of QA generation (plain data, with defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QaConfig {
    pub seed: u64,
    /// Most QA pairs per image, over all families.
    pub max_per_image: usize,
    /// Most QA pairs per image for each family.
    pub family_caps: BTreeMap<Family, usize>,
    /// Relative weight of each family when an image has more candidates than
    /// `max_per_image`; default: MSMU-Bench's test proportions.
    pub mix: BTreeMap<Family, f64>,
    /// Most chain-of-thought samples per image (they count towards reference estimation).
    pub max_cot_per_image: usize,
    /// Allow feet and inches besides metres and centimetres.
    pub imperial_units: bool,
    /// Scale comparison: the winner must exceed every other by this relative margin.
    pub min_relative_difference: f64,
    /// Left/right: minimum difference of camera-space x of the two box centres, metres.
    pub left_right_margin_m: f64,
    /// Near/far: minimum difference of the camera-to-center distances, metres.
    pub near_far_margin_m: f64,
    /// Closest-surface distance questions below this are skipped (touching objects), metres.
    pub min_surface_gap_m: f64,
    /// Counting questions are asked up to this count.
    pub max_count: usize,
    /// Reference attributes: relative volume margin for "larger"/"smaller".
    pub size_attribute_margin: f64,
    /// Reference attributes: normalised x margin for "leftmost"/"rightmost".
    pub position_attribute_margin: f64,
    /// Labels that mark unannotated or catch-all geometry: never named, and their presence
    /// in a view blocks counting (a look-alike might hide under them).
    pub unnamed_labels: Vec<String>,
    /// Which box the sizes, volumes and centres of questions come from.
    pub box_convention: BoxConvention,
    /// Ask closest-surface distances (`surface_distance`) besides centre-to-centre ones.
    pub surface_distances: bool,
    /// Also write `visual` chains of thought (`reference_estimation/cot_visual`): the ratio is
    /// what the image shows (pixel extents x depth / focal length of the two objects), the
    /// answer is the chain's own estimate, and the exact value and the estimate's error are
    /// recorded in the QA's `definitions`.
    pub visual_cot: bool,
}

/// The box an object's sizes are stated for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoxConvention {
    /// The gravity-aligned minimum-area box: length and width along the object's own
    /// horizontal axes (exact for rotated objects).
    #[default]
    GravityAligned,
    /// The box aligned with the scene axes (no yaw), as the official MSMU data: length and
    /// width are the longer and shorter of its x and y extents, the centre is its centre.
    AxisAligned,
}

impl BoxConvention {
    /// The name in configurations and in the `qa.box_convention` column.
    pub fn as_str(self) -> &'static str {
        match self {
            BoxConvention::GravityAligned => "gravity_aligned",
            BoxConvention::AxisAligned => "axis_aligned",
        }
    }
}

impl Default for QaConfig {
    fn default() -> Self {
        let caps = [
            (Family::Existence, 1),
            (Family::Counting, 2),
            (Family::ScaleEstimation, 4),
            (Family::Grounding, 2),
            (Family::RelativePosition, 3),
            (Family::AbsoluteDistance, 2),
            (Family::ScaleComparison, 2),
            (Family::ReferenceEstimation, 3),
        ];
        QaConfig {
            seed: 0,
            max_per_image: 14,
            family_caps: caps.into_iter().collect(),
            mix: Family::ALL
                .iter()
                .map(|f| (*f, f.msmu_test_rows()))
                .collect(),
            max_cot_per_image: 1,
            imperial_units: false,
            min_relative_difference: 0.10,
            left_right_margin_m: 0.15,
            near_far_margin_m: 0.30,
            min_surface_gap_m: 0.02,
            max_count: 10,
            size_attribute_margin: 0.15,
            position_attribute_margin: 0.05,
            unnamed_labels: vec![
                "unlabelled".into(),
                "unlabeled".into(),
                "unknown".into(),
                "object".into(),
                "otherprop".into(),
                "otherfurniture".into(),
            ],
            box_convention: BoxConvention::GravityAligned,
            surface_distances: true,
            visual_cot: false,
        }
    }
}

/// Stable 64-bit hash (FNV-1a) of a sequence of parts; the same on every platform and run,
/// unlike std's randomised hasher.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().copied().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    // Final avalanche (splitmix64) so close inputs give unrelated seeds.
    let mut z = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Seed of one random stream: (run seed, scene, frame, family or purpose, index).
pub fn stable_seed(seed: u64, scene_id: &str, frame_id: &str, purpose: &str, index: u64) -> u64 {
    stable_hash(&[
        &seed.to_le_bytes(),
        scene_id.as_bytes(),
        frame_id.as_bytes(),
        purpose.as_bytes(),
        &index.to_le_bytes(),
    ])
}

/// A length unit an answer may be shown in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LengthUnit {
    Metre,
    Centimetre,
    Foot,
    Inch,
}

impl LengthUnit {
    /// Symbol stored in [`QaPair::unit`].
    pub fn symbol(&self) -> &'static str {
        match self {
            LengthUnit::Metre => "m",
            LengthUnit::Centimetre => "cm",
            LengthUnit::Foot => "ft",
            LengthUnit::Inch => "in",
        }
    }

    /// Word used in answer text.
    pub fn word(&self) -> &'static str {
        match self {
            LengthUnit::Metre => "meters",
            LengthUnit::Centimetre => "centimeters",
            LengthUnit::Foot => "feet",
            LengthUnit::Inch => "inches",
        }
    }

    /// Metres in one unit (1 in = 0.0254 m, 1 ft = 0.3048 m: the MSMU scorer's factors).
    pub fn metres(&self) -> f64 {
        match self {
            LengthUnit::Metre => 1.0,
            LengthUnit::Centimetre => 0.01,
            LengthUnit::Foot => 0.3048,
            LengthUnit::Inch => 0.0254,
        }
    }

    pub fn from_symbol(symbol: &str) -> Option<LengthUnit> {
        [
            LengthUnit::Metre,
            LengthUnit::Centimetre,
            LengthUnit::Foot,
            LengthUnit::Inch,
        ]
        .into_iter()
        .find(|u| u.symbol() == symbol)
    }
}

/// A value in metres shown in `unit` with 2 decimals.
pub fn format_length(value_m: f64, unit: LengthUnit) -> String {
    format_2(value_m / unit.metres())
}

/// 2 decimals, never `-0.00`.
pub fn format_2(value: f64) -> String {
    let text = format!("{value:.2}");
    if text == "-0.00" {
        "0.00".into()
    } else {
        text
    }
}

/// The unsigned decimal numbers in a text, in order (`3`, `0.45`, `12.50`).
pub fn numbers_in(text: &str) -> Vec<f64> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if let Ok(v) = text[start..i].parse() {
                out.push(v);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The numbers of `qa.answer` converted back to SI with the unit shown, and the largest
/// difference to `values_si` that 2-decimal rounding allows (per value). For chain-of-thought
/// answers only the final numbers (as many as `values_si`) are the answer.
pub fn parse_back(qa: &QaPair) -> Option<(Vec<f64>, f64)> {
    let numbers = numbers_in(&qa.answer);
    let numbers = if qa.is_cot {
        numbers[numbers.len().checked_sub(qa.values_si.len())?..].to_vec()
    } else {
        numbers
    };
    let (scale, tolerance) = match qa.unit.as_str() {
        "count" => (1.0, 0.0),
        "xy" => (1.0, 0.005),
        "" => (1.0, 0.0),
        other => {
            let unit = LengthUnit::from_symbol(other)?;
            (unit.metres(), 0.005 * unit.metres())
        }
    };
    Some((numbers.iter().map(|n| n * scale).collect(), tolerance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_found_in_order() {
        assert_eq!(
            numbers_in("About 0.53 x 0.43 x 12 m at (0.10, 0.95)."),
            vec![0.53, 0.43, 12.0, 0.10, 0.95]
        );
        assert_eq!(numbers_in("no numbers. Here."), Vec::<f64>::new());
    }

    #[test]
    fn stable_hash_is_stable() {
        // Fixed value: changing the hash changes every dataset, so it must be deliberate.
        assert_eq!(stable_seed(0, "scene0000_00", "0", "count", 0), {
            stable_hash(&[
                &0u64.to_le_bytes(),
                b"scene0000_00",
                b"0",
                b"count",
                &0u64.to_le_bytes(),
            ])
        });
        assert_ne!(
            stable_seed(0, "a", "b", "c", 0),
            stable_seed(0, "a", "b", "c", 1)
        );
    }

    #[test]
    fn conversation_starts_with_image_token() {
        let qa = QaPair {
            family: Family::Counting,
            raw_type: "count".into(),
            question: "How many chairs?".into(),
            answer: "Two.".into(),
            values_si: vec![2.0],
            unit: "count".into(),
            instance_ids: vec![],
            template_id: String::new(),
            definitions: vec![],
            is_cot: false,
            answer_key: None,
        };
        let turns = conversation(&[qa.clone(), qa]);
        assert_eq!(turns.len(), 4);
        assert_eq!(turns[0].value, "<image>\nHow many chairs?");
        assert_eq!(turns[2].value, "How many chairs?");
        assert_eq!(turns[1].from, "gpt");
    }

    #[test]
    fn family_names_round_trip() {
        for f in Family::ALL {
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.scorer_name()));
            let back: Family = serde_json::from_str(&format!("\"{}\"", f.name())).unwrap();
            assert_eq!(back, f);
        }
    }
}
