//! Object selection: which objects of a view may be asked about, with every rejection counted
//! by reason so that `msmu stats` can report where objects were lost.
//!
//! The rules live in `templates/selection.json` (schema: `schemas/selection.schema.json`);
//! [`SelectionRules::default`] equals the shipped file. Rules are checked in the order of
//! [`RejectReason`] and a rejected object is counted once, under the first rule it fails.
//!
//! Size policy: an instance whose gravity-aligned box is outside its label's plausible range
//! (`templates/labels/sizes.json`, [`crate::geom::sanity`]) is rejected as `implausible_size`:
//! its annotation is not the whole object, so none of its measurements can be stated.
//!
//! Label policy: building structure (walls, floors, ceilings, doors, windows and their frames,
//! columns, beams, baseboards, stairs) is excluded because its "size" is the room's, not an
//! object's, and it is usually cut by the image border. Doors and windows are treated as
//! structure. Catch-all labels (`object`, `otherprop`, ScanNet++ `REMOVE` / `SPLIT` markers)
//! are excluded because a question cannot name them. Labels match the instance's normalised
//! label or its raw label, lower-case and trimmed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::geom::measure::{find_measurement, ObjectMeasurement};
use crate::geom::visibility::InstanceVisibility;
use crate::scene::{InstanceId, Scene};

/// The selection rules (plain data, loaded once).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionRules {
    pub excluded_structural_labels: Vec<String>,
    pub excluded_generic_labels: Vec<String>,
    pub min_vertices: usize,
    /// Reject instances whose box is outside their label's plausible size range
    /// (`templates/labels/sizes.json`, [`crate::geom::sanity`]).
    #[serde(default = "yes")]
    pub check_plausible_sizes: bool,
    pub min_visible_pixels: u64,
    pub min_visible_fraction: f64,
    pub max_truncation: f64,
}

impl Default for SelectionRules {
    /// The same rules as `templates/selection.json` (a test keeps them in step).
    fn default() -> Self {
        let labels = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        SelectionRules {
            excluded_structural_labels: labels(&[
                "wall",
                "floor",
                "ceiling",
                "door",
                "doorframe",
                "door frame",
                "window",
                "window frame",
                "windowsill",
                "window sill",
                "column",
                "pillar",
                "beam",
                "baseboard",
                "stairs",
                "otherstructure",
            ]),
            excluded_generic_labels: labels(&[
                "object",
                "otherprop",
                "otherfurniture",
                "unknown",
                "remove",
                "split",
            ]),
            min_vertices: 8,
            check_plausible_sizes: true,
            min_visible_pixels: 50,
            min_visible_fraction: 0.5,
            max_truncation: 0.2,
        }
    }
}

fn yes() -> bool {
    true
}

/// Why the selection rules could not be loaded; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum SelectionRulesError {
    #[error("{}: cannot read selection rules: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: invalid selection rules: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: invalid selection rules: {field} {detail}", path.display())]
    Invalid {
        path: PathBuf,
        field: &'static str,
        detail: String,
    },
}

impl SelectionRules {
    /// Reads and validates a rules file (unknown fields are an error).
    pub fn load(path: &Path) -> Result<SelectionRules, SelectionRulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| SelectionRulesError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let rules: SelectionRules =
            serde_json::from_str(&text).map_err(|e| SelectionRulesError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        rules
            .validate()
            .map_err(|(field, detail)| SelectionRulesError::Invalid {
                path: path.to_path_buf(),
                field,
                detail,
            })?;
        Ok(rules)
    }

    /// Range checks that the schema also states.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        for (field, value) in [
            ("min_visible_fraction", self.min_visible_fraction),
            ("max_truncation", self.max_truncation),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err((field, format!("must be in [0, 1], found {value}")));
            }
        }
        for label in self
            .excluded_structural_labels
            .iter()
            .chain(&self.excluded_generic_labels)
        {
            if label.trim().is_empty() {
                return Err(("excluded labels", "must not contain an empty label".into()));
            }
        }
        Ok(())
    }

    fn matches(list: &[String], label: &str) -> bool {
        let label = label.trim().to_lowercase();
        list.iter().any(|l| l.trim().to_lowercase() == label)
    }

    /// Whether a label names building structure.
    pub fn is_structural(&self, label: &str) -> bool {
        Self::matches(&self.excluded_structural_labels, label)
    }

    /// Whether a label is a catch-all that no question can name.
    pub fn is_generic(&self, label: &str) -> bool {
        Self::matches(&self.excluded_generic_labels, label)
    }
}

/// Why an object was not selected, in the order the rules are checked. The serialised names
/// are stable: they appear in `msmu stats` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The visibility names an instance the scene or the measurements do not have.
    UnknownInstance,
    TooFewVertices,
    StructuralLabel,
    GenericLabel,
    /// The box is outside the label's plausible size range: the annotation is not the whole
    /// object (a table of only its top).
    ImplausibleSize,
    TooFewVisiblePixels,
    MostlyOccluded,
    Truncated,
}

impl RejectReason {
    pub fn name(&self) -> &'static str {
        match self {
            RejectReason::UnknownInstance => "unknown_instance",
            RejectReason::TooFewVertices => "too_few_vertices",
            RejectReason::StructuralLabel => "structural_label",
            RejectReason::GenericLabel => "generic_label",
            RejectReason::ImplausibleSize => "implausible_size",
            RejectReason::TooFewVisiblePixels => "too_few_visible_pixels",
            RejectReason::MostlyOccluded => "mostly_occluded",
            RejectReason::Truncated => "truncated",
        }
    }
}

/// Rejections counted by reason.
pub type RejectionCounts = BTreeMap<RejectReason, u64>;

/// Adds `other` into `total` (for summing over views and scenes).
pub fn merge_counts(total: &mut RejectionCounts, other: &RejectionCounts) {
    for (reason, n) in other {
        *total.entry(*reason).or_insert(0) += n;
    }
}

/// The first rule an object fails, if any.
pub fn check_object(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    vis: &InstanceVisibility,
    rules: &SelectionRules,
) -> Option<RejectReason> {
    if let Some(reason) =
        check_before_alone_render(scene, measurements, vis.instance_id, vis.visible_px, rules)
    {
        return Some(reason);
    }
    if vis.visible_fraction < rules.min_visible_fraction {
        return Some(RejectReason::MostlyOccluded);
    }
    if vis.truncation > rules.max_truncation {
        return Some(RejectReason::Truncated);
    }
    None
}

/// The checks of [`check_object`] that need no render of the instance alone (its label, its
/// size, its visible pixels), in the same order: when one rejects the instance, its occlusion
/// and truncation cannot change the outcome, so view selection does not render it alone.
pub fn check_before_alone_render(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    instance_id: InstanceId,
    visible_px: u64,
    rules: &SelectionRules,
) -> Option<RejectReason> {
    if let Some(reason) = check_before_pixels(scene, measurements, instance_id, rules) {
        return Some(reason);
    }
    if visible_px < rules.min_visible_pixels {
        return Some(RejectReason::TooFewVisiblePixels);
    }
    None
}

/// The checks of [`check_object`] that need nothing from the view (the instance, its label and
/// its size), in the same order: an instance they reject is rejected in every view, so view
/// selection does not measure its dimension coverage either.
pub fn check_before_pixels(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    instance_id: InstanceId,
    rules: &SelectionRules,
) -> Option<RejectReason> {
    let (Some(instance), Some(measurement)) = (
        scene.instance(instance_id),
        find_measurement(measurements, instance_id),
    ) else {
        return Some(RejectReason::UnknownInstance);
    };
    if measurement.n_vertices < rules.min_vertices {
        return Some(RejectReason::TooFewVertices);
    }
    if rules.is_structural(&instance.label) || rules.is_structural(&instance.raw_label) {
        return Some(RejectReason::StructuralLabel);
    }
    if rules.is_generic(&instance.label) || rules.is_generic(&instance.raw_label) {
        return Some(RejectReason::GenericLabel);
    }
    if rules.check_plausible_sizes
        && crate::geom::sanity::SizeRanges::shipped()
            .check(&instance.label, &instance.raw_label, measurement)
            .is_some()
    {
        return Some(RejectReason::ImplausibleSize);
    }
    None
}

/// Splits one view's visibilities into accepted objects (same order as the input) and
/// rejection counts.
pub fn select_objects(
    scene: &Scene,
    measurements: &[ObjectMeasurement],
    visibilities: &[InstanceVisibility],
    rules: &SelectionRules,
) -> (Vec<InstanceVisibility>, RejectionCounts) {
    let mut accepted = Vec::new();
    let mut counts = RejectionCounts::new();
    for vis in visibilities {
        match check_object(scene, measurements, vis, rules) {
            None => accepted.push(vis.clone()),
            Some(reason) => *counts.entry(reason).or_insert(0) += 1,
        }
    }
    (accepted, counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::fixtures::{scene_from_objects, BoxSpec};
    use crate::geom::measure::measure_scene;
    use crate::geom::visibility::VisibleDimensions;

    fn shipped_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates/selection.json")
    }

    #[test]
    fn default_equals_shipped_file() {
        assert_eq!(
            SelectionRules::load(&shipped_path()).unwrap(),
            SelectionRules::default()
        );
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.json");
        let mut value = serde_json::to_value(SelectionRules::default()).unwrap();
        value["min_visible_pixelz"] = 3.into();
        std::fs::write(&path, value.to_string()).unwrap();
        let err = SelectionRules::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("rules.json") && err.contains("min_visible_pixelz"),
            "{err}"
        );

        let rules = SelectionRules {
            max_truncation: 1.5,
            ..SelectionRules::default()
        };
        std::fs::write(&path, serde_json::to_string(&rules).unwrap()).unwrap();
        let err = SelectionRules::load(&path).unwrap_err().to_string();
        assert!(err.contains("max_truncation"), "{err}");

        let err = SelectionRules::load(&dir.path().join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.json"), "{err}");
    }

    fn vis(id: u32, visible_px: u64, visible_fraction: f64, truncation: f64) -> InstanceVisibility {
        InstanceVisibility {
            instance_id: InstanceId(id),
            visible_px,
            unoccluded_px: visible_px,
            visible_fraction,
            truncation,
            alone_measured: true,
            dimensions_measured: true,
            bbox_px: [0, 0, 1, 1],
            centroid_norm: [0.5, 0.5],
            dimension_coverage: [1.0; 3],
            visible_dimensions: VisibleDimensions::default(),
        }
    }

    #[test]
    fn every_rejection_is_counted_by_first_reason() {
        let spec = |x: f64| BoxSpec {
            center: [x, 0.0, 0.5],
            size: [0.5, 0.5, 0.5],
            yaw_rad: 0.0,
        };
        let scene = scene_from_objects(&[
            (spec(0.0), "chair"),
            (spec(1.0), "Wall"),
            (spec(2.0), "REMOVE"),
            (spec(3.0), "table"),
        ]);
        let m = measure_scene(&scene);
        let rules = SelectionRules::default();
        let input = vec![
            vis(1, 500, 0.9, 0.0),  // accepted
            vis(2, 500, 0.9, 0.0),  // structural (case-insensitive)
            vis(3, 10, 0.1, 0.9),   // generic label wins over the pixel rules
            vis(4, 49, 1.0, 0.0),   // too few pixels
            vis(4, 100, 0.49, 0.0), // mostly occluded
            vis(4, 100, 0.5, 0.21), // truncated
            vis(4, 100, 0.5, 0.2),  // accepted (bounds inclusive)
            vis(9, 100, 1.0, 0.0),  // unknown
        ];
        let (accepted, counts) = select_objects(&scene, &m, &input, &rules);
        assert_eq!(
            accepted.iter().map(|v| v.instance_id.0).collect::<Vec<_>>(),
            vec![1, 4]
        );
        let expected: RejectionCounts = [
            (RejectReason::StructuralLabel, 1),
            (RejectReason::GenericLabel, 1),
            (RejectReason::TooFewVisiblePixels, 1),
            (RejectReason::MostlyOccluded, 1),
            (RejectReason::Truncated, 1),
            (RejectReason::UnknownInstance, 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(counts, expected);
        assert_eq!(
            counts.values().sum::<u64>() + accepted.len() as u64,
            input.len() as u64
        );
        let json = serde_json::to_string(&counts).unwrap();
        assert!(json.contains("\"too_few_visible_pixels\":1"), "{json}");
        for reason in counts.keys() {
            assert!(json.contains(reason.name()));
        }
        let strict = SelectionRules {
            min_vertices: 9,
            ..SelectionRules::default()
        };
        let (_, counts) = select_objects(&scene, &m, &input[..1], &strict);
        assert_eq!(counts.get(&RejectReason::TooFewVertices), Some(&1));
    }
}
