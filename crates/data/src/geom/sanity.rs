//! Annotation sanity: plausible sizes per label (`templates/labels/sizes.json`, compiled in).
//!
//! Real annotations are sometimes not the whole object: on ScanNet scene0000_00 one instance
//! labelled `table` is the table top alone, and its exact box is 8 cm tall. The box is measured
//! correctly; it is the annotation that does not describe a table. An instance whose box falls
//! outside its label's range is rejected by object selection (`implausible_size`), so no
//! question states its size, and it is counted in `msmu stats` and marked by `msmu inspect`.
//!
//! The ranges are deliberately wide (they catch broken annotations, not unusual furniture):
//! labels map to a size class, and labels whose extent varies without limit (walls, rails,
//! pipes, catch-all labels) map to `null` and are not checked. A label missing from the table is
//! not checked either.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::geom::measure::ObjectMeasurement;

/// Plausible extents of one size class, metres (inclusive bounds).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SizeClass {
    /// Vertical extent of the gravity-aligned box.
    pub height_m: [f64; 2],
    /// Longer horizontal side of the gravity-aligned box.
    pub longest_m: [f64; 2],
    pub about: String,
}

/// The table: size classes and the class of each label (`None`: not checked).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeRanges {
    pub about: String,
    pub classes: BTreeMap<String, SizeClass>,
    pub labels: BTreeMap<String, Option<String>>,
}

/// Why a measured instance is implausible for its label.
#[derive(Clone, Debug, PartialEq)]
pub struct SizeProblem {
    /// The label that matched the table.
    pub label: String,
    pub class: String,
    /// `height` or `longest side`.
    pub extent: &'static str,
    pub value_m: f64,
    pub range_m: [f64; 2],
}

impl std::fmt::Display for SizeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:.3} m is outside {}-{} m for a {} (size class {})",
            self.extent, self.value_m, self.range_m[0], self.range_m[1], self.label, self.class
        )
    }
}

impl SizeRanges {
    /// The shipped table.
    pub fn shipped() -> &'static SizeRanges {
        static RANGES: OnceLock<SizeRanges> = OnceLock::new();
        RANGES.get_or_init(|| {
            serde_json::from_str(include_str!("../../../../templates/labels/sizes.json"))
                .expect("templates/labels/sizes.json is valid (tested)")
        })
    }

    /// The class of the first of `labels` that the table lists; `None` when none is listed or
    /// the listed one is not checked.
    pub fn class_of<'a>(&'a self, labels: &[&str]) -> Option<(String, &'a str, &'a SizeClass)> {
        for label in labels {
            let key = label.trim().to_lowercase();
            if let Some(entry) = self.labels.get(&key) {
                let name = entry.as_deref()?;
                return self.classes.get(name).map(|c| (key, name, c));
            }
        }
        None
    }

    /// Checks a measured instance against its label's class (normalised label first, then
    /// the raw label).
    pub fn check(
        &self,
        label: &str,
        raw_label: &str,
        m: &ObjectMeasurement,
    ) -> Option<SizeProblem> {
        let (label, class_name, class) = self.class_of(&[label, raw_label])?;
        let longest = m.length_m.max(m.width_m);
        for (extent, value, range) in [
            ("height", m.height_m, class.height_m),
            ("longest side", longest, class.longest_m),
        ] {
            if !(range[0]..=range[1]).contains(&value) {
                return Some(SizeProblem {
                    label,
                    class: class_name.to_string(),
                    extent,
                    value_m: value,
                    range_m: range,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::fixtures::{scene_from_objects, BoxSpec};
    use crate::geom::measure::measure_scene;

    #[test]
    fn shipped_table_is_consistent_and_covers_every_known_label() {
        let ranges = SizeRanges::shipped();
        for (name, class) in &ranges.classes {
            for r in [class.height_m, class.longest_m] {
                assert!(0.0 <= r[0] && r[0] < r[1], "{name}: {r:?}");
            }
        }
        for (label, class) in &ranges.labels {
            assert_eq!(label, &label.trim().to_lowercase(), "keys are lower-case");
            if let Some(class) = class {
                assert!(
                    ranges.classes.contains_key(class),
                    "{label}: no class {class}"
                );
            }
        }
        let language: serde_json::Value =
            serde_json::from_str(include_str!("../../../../templates/labels/language.json"))
                .unwrap();
        let missing: Vec<&str> = language["known_labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .filter(|l| !ranges.labels.contains_key(*l))
            .collect();
        assert!(
            missing.is_empty(),
            "labels without a size entry: {missing:?}"
        );
    }

    fn measured(size: [f64; 3]) -> ObjectMeasurement {
        let scene = scene_from_objects(&[(
            BoxSpec {
                center: [0.0, 0.0, size[2] / 2.0],
                size,
                yaw_rad: 0.4,
            },
            "table",
        )]);
        measure_scene(&scene).remove(0)
    }

    #[test]
    fn a_table_of_only_its_top_is_implausible_a_whole_one_is_not() {
        let ranges = SizeRanges::shipped();
        let whole = measured([1.4, 0.8, 0.75]);
        assert_eq!(ranges.check("table", "table", &whole), None);
        let top = measured([1.4, 0.8, 0.08]);
        let problem = ranges.check("table", "kitchen table", &top).unwrap();
        assert_eq!(problem.extent, "height");
        assert!((problem.value_m - 0.08).abs() < 1e-6, "{problem}");
        assert!(problem.to_string().contains("for a table"), "{problem}");
        // The raw label decides when the normalised one is not listed.
        assert!(ranges.check("zzz", "table", &top).is_some());
        // Unchecked and unknown labels pass whatever their size.
        assert_eq!(ranges.check("wall", "wall", &top), None);
        assert_eq!(ranges.check("zzz", "yyy", &top), None);
        // A 9 m "chair" is caught by its longest side.
        let long = measured([9.0, 0.5, 0.9]);
        assert_eq!(
            ranges.check("chair", "chair", &long).unwrap().extent,
            "longest side"
        );
    }
}
