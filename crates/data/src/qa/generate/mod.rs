//! The family generators and the per-image mix.
//!
//! [`prepare_scene`] does the geometry once per scene (measurements, BVHs, selected views, and
//! each selected view's full visibility list, which includes the objects that selection
//! rejected); the caller that has the images adds the colours of the objects that need one
//! ([`ViewInput::colors`], [`colour_wanted`]). [`generate_view`] then builds every candidate QA pair of each
//! family for one view, from the view's *accepted* objects only, caps each family, and picks
//! pairs family by family with weights [`QaConfig::mix`] until [`QaConfig::max_per_image`].
//! Candidate `i` of family `f` draws its phrasings and unit from the stream
//! `stable_seed(seed, scene, frame, f, i)`, so output does not depend on scheduling.
//!
//! One file per family, named like its template file `templates/qa/<family>.json`;
//! [`realise`] fills a family's template group and `mix` picks the pairs of an image.

mod absolute_distance;
mod counting;
mod existence;
mod grounding;
mod mix;
mod realise;
mod reference_estimation;
mod relative_position;
mod scale_comparison;
mod scale_estimation;

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::Point3;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::geom::distance::{build_instance_bvhs_where, camera_to_center, TriangleBvh};
use crate::geom::measure::{find_measurement, measure_scene, ObjectMeasurement};
use crate::geom::select::SelectionRules;
use crate::geom::views::{select_views, SelectedView, ViewSelectionConfig};
use crate::geom::visibility::{InstanceVisibility, VisibilityConfig};
use crate::qa::colors::ColorShares;
use crate::qa::language::display_name;
use crate::qa::refer::{describe, Candidate, ReferMargins};
use crate::qa::templates::TemplateSet;
use crate::qa::{conversation, stable_seed, BoxConvention, Family, QaConfig, QaPair, Turn};
use crate::scene::{Camera, InstanceId, Scene};
use absolute_distance::distance;
use counting::counting;
use existence::existence;
use grounding::grounding;
use mix::mix;
use realise::realise;
use reference_estimation::reference;
use relative_position::relative_position;
use scale_comparison::comparison;
use scale_estimation::scale;

/// Measurement definitions quoted in [`QaPair::definitions`] (ARCHITECTURE.md wording).
pub const DEF_LENGTH: &str =
    "length = longer horizontal side of the gravity-aligned minimum-area box";
pub const DEF_WIDTH: &str =
    "width = shorter horizontal side of the gravity-aligned minimum-area box";
pub const DEF_HEIGHT: &str = "height = vertical extent of the object (max z - min z)";
pub const DEF_LENGTH_AXIS_ALIGNED: &str =
    "length = longer of the x and y extents of the axis-aligned box";
pub const DEF_WIDTH_AXIS_ALIGNED: &str =
    "width = shorter of the x and y extents of the axis-aligned box";
pub const DEF_VOLUME_AXIS_ALIGNED: &str =
    "volume = length x width x height of the axis-aligned box";
pub const DEF_VOLUME: &str = "volume = length x width x height of the gravity-aligned box";
pub const DEF_CENTROID: &str =
    "position = mean normalised (x, y) of the visible mask pixels, origin top-left";
pub const DEF_LEFT_RIGHT: &str =
    "left/right = camera-space x (OpenCV, +x right) of the gravity-aligned box centres";
pub const DEF_COUNT: &str =
    "count = annotated instances of the label accepted by object selection in this view";
pub const DEF_ABSENT: &str = "absent = no annotated instance of the category in the whole scene";

/// Geometry shared by every view of a scene.
pub struct SceneQaInput<'a> {
    pub scene: &'a Scene,
    pub measurements: Vec<ObjectMeasurement>,
    /// Triangle BVHs of the objects some selected view accepted, sorted by id.
    pub bvhs: Vec<(InstanceId, TriangleBvh)>,
    pub views: Vec<ViewInput>,
    pub rules: SelectionRules,
}

/// One selected view: the accepted objects and every visible instance.
#[derive(Clone, Debug)]
pub struct ViewInput {
    pub selected: SelectedView,
    /// Every instance seen in the view (accepted or not), sorted by id.
    pub visible: Vec<InstanceVisibility>,
    /// Colours of the instances in the image, for those [`colour_wanted`] names (empty when
    /// the image was not looked at: references then use no colour).
    pub colors: BTreeMap<InstanceId, ColorShares>,
}

/// The QA of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewQa {
    pub scene_id: String,
    pub frame_id: String,
    pub frame_index: usize,
    pub qa: Vec<QaPair>,
    pub conversation: Vec<Turn>,
    /// The phrase used for each referenced instance (id -> phrase).
    pub references: BTreeMap<u32, String>,
}

/// Measures the scene and selects views (each selected view keeps its full visibility list,
/// so that rejected look-alikes are known).
pub fn prepare_scene<'a>(
    scene: &'a Scene,
    rules: &SelectionRules,
    visibility: &VisibilityConfig,
    view_config: &ViewSelectionConfig,
) -> SceneQaInput<'a> {
    let measurements = measure_scene(scene);
    let (selected, _stats) = select_views(scene, &measurements, rules, visibility, view_config);
    prepare_selected(scene, measurements, selected, rules)
}

/// [`prepare_scene`] after view selection (for callers that keep the selection statistics).
pub fn prepare_selected<'a>(
    scene: &'a Scene,
    measurements: Vec<ObjectMeasurement>,
    selected: Vec<SelectedView>,
    rules: &SelectionRules,
) -> SceneQaInput<'a> {
    // Closest-surface distances are asked between accepted objects only.
    let accepted: BTreeSet<InstanceId> = selected
        .iter()
        .flat_map(|view| view.objects.iter().map(|o| o.instance_id))
        .collect();
    let views = selected
        .into_iter()
        .map(|mut view| {
            let visible = std::mem::take(&mut view.visible);
            ViewInput {
                selected: view,
                visible,
                colors: BTreeMap::new(),
            }
        })
        .collect();
    SceneQaInput {
        scene,
        bvhs: build_instance_bvhs_where(scene, |id| accepted.contains(&id)),
        measurements,
        views,
        rules: rules.clone(),
    }
}

/// QA for every selected view of a prepared scene, in frame order.
pub fn generate_scene(
    input: &SceneQaInput,
    templates: &TemplateSet,
    config: &QaConfig,
) -> Vec<ViewQa> {
    input
        .views
        .iter()
        .map(|view| generate_view(input, view, templates, config))
        .collect()
}

/// An accepted, nameable object of the view.
struct Obj<'a> {
    id: InstanceId,
    label: String,
    phrase: String,
    m: &'a ObjectMeasurement,
    vis: &'a InstanceVisibility,
    /// Box centre in the camera frame (OpenCV axes).
    center_in_camera: Point3<f64>,
    camera_distance_m: f64,
}

struct Ctx<'a> {
    input: &'a SceneQaInput<'a>,
    view: &'a ViewInput,
    templates: &'a TemplateSet,
    config: &'a QaConfig,
    camera: Camera,
    objects: Vec<Obj<'a>>,
}

/// The values a generator hands to one template group.
struct Fill {
    group: &'static str,
    values: BTreeMap<&'static str, String>,
    values_si: Vec<f64>,
    unit: String,
    ids: Vec<InstanceId>,
    definitions: Vec<String>,
    answer_key: Option<String>,
}

impl Fill {
    fn new(group: &'static str) -> Fill {
        Fill {
            group,
            values: BTreeMap::new(),
            values_si: Vec::new(),
            unit: String::new(),
            ids: Vec::new(),
            definitions: Vec::new(),
            answer_key: None,
        }
    }
    fn set(mut self, key: &'static str, value: impl Into<String>) -> Fill {
        self.values.insert(key, value.into());
        self
    }
}

/// QA for one view.
pub fn generate_view(
    input: &SceneQaInput,
    view: &ViewInput,
    templates: &TemplateSet,
    config: &QaConfig,
) -> ViewQa {
    let scene = input.scene;
    let camera = scene.frames[view.selected.frame_index].color_camera();
    let margins = ReferMargins {
        size: config.size_attribute_margin,
        position: config.position_attribute_margin,
    };
    let candidates = reference_candidates(input, view);
    let camera_from_world = camera.world_from_camera.inverse();
    // The box the questions state (the selection and visibility used the exact one).
    let stated: std::borrow::Cow<[ObjectMeasurement]> = match config.box_convention {
        BoxConvention::GravityAligned => std::borrow::Cow::Borrowed(&input.measurements),
        BoxConvention::AxisAligned => std::borrow::Cow::Owned(
            input
                .measurements
                .iter()
                .map(|m| m.axis_aligned())
                .collect(),
        ),
    };
    let objects: Vec<Obj> = view
        .selected
        .objects
        .iter()
        .filter_map(|vis| {
            let instance = scene.instance(vis.instance_id)?;
            let m = find_measurement(&stated, vis.instance_id)?;
            if config.unnamed_labels.contains(&instance.label) {
                return None;
            }
            let phrase = describe(&candidates, vis.instance_id, margins)?;
            Some(Obj {
                id: vis.instance_id,
                label: display_name(&instance.label),
                phrase,
                m,
                vis,
                center_in_camera: camera_from_world * Point3::from(m.center),
                camera_distance_m: camera_to_center(&camera, m).distance_m,
            })
        })
        .collect();
    let ctx = Ctx {
        input,
        view,
        templates,
        config,
        camera,
        objects,
    };
    let scene_id = scene.meta.scene_id.as_str();
    let frame_id = view.selected.frame_id.as_str();
    let mut by_family: BTreeMap<Family, Vec<QaPair>> = BTreeMap::new();
    for family in Family::ALL {
        let fills = match family {
            Family::Existence => existence(&ctx),
            Family::Counting => counting(&ctx),
            Family::ScaleEstimation => scale(&ctx),
            Family::Grounding => grounding(&ctx),
            Family::RelativePosition => relative_position(&ctx),
            Family::AbsoluteDistance => distance(&ctx),
            Family::ScaleComparison => comparison(&ctx),
            Family::ReferenceEstimation => reference(&ctx),
        };
        let mut pairs: Vec<QaPair> = fills
            .into_iter()
            .enumerate()
            .map(|(index, fill)| {
                let seed =
                    stable_seed(config.seed, scene_id, frame_id, family.name(), index as u64);
                let mut qa = realise(templates, family, fill, seed);
                if config.box_convention == BoxConvention::AxisAligned {
                    for d in &mut qa.definitions {
                        *d = axis_aligned_definition(d);
                    }
                }
                qa
            })
            .collect();
        let mut order_rng = ChaCha8Rng::seed_from_u64(stable_seed(
            config.seed,
            scene_id,
            frame_id,
            &format!("{}/order", family.name()),
            0,
        ));
        pairs.shuffle(&mut order_rng);
        // CoT samples are capped apart, then the family cap applies.
        let mut n_cot = 0;
        pairs.retain(|qa| {
            if qa.is_cot {
                n_cot += 1;
                n_cot <= config.max_cot_per_image
            } else {
                true
            }
        });
        pairs.truncate(config.family_caps.get(&family).copied().unwrap_or(0));
        by_family.insert(family, pairs);
    }
    let qa = mix(by_family, config, scene_id, frame_id);
    let mut references = BTreeMap::new();
    for pair in &qa {
        for id in &pair.instance_ids {
            if let Some(o) = ctx.objects.iter().find(|o| o.id.0 == *id) {
                references.insert(*id, o.phrase.clone());
            }
        }
    }
    ViewQa {
        scene_id: scene_id.to_string(),
        frame_id: frame_id.to_string(),
        frame_index: view.selected.frame_index,
        conversation: conversation(&qa),
        qa,
        references,
    }
}

/// Every non-structural instance visible in the view, as reference candidates.
pub fn reference_candidates(input: &SceneQaInput, view: &ViewInput) -> Vec<Candidate> {
    view.visible
        .iter()
        .filter(|v| v.visible_px > 0)
        .filter_map(|v| {
            let instance = input.scene.instance(v.instance_id)?;
            if input.rules.is_structural(&instance.label)
                || input.rules.is_structural(&instance.raw_label)
            {
                return None;
            }
            let m = find_measurement(&input.measurements, v.instance_id)?;
            Some(Candidate {
                id: v.instance_id,
                label: display_name(&instance.label),
                colors: view.colors.get(&v.instance_id).cloned(),
                volume_m3: m.length_m * m.width_m * m.height_m,
                centroid_x: v.centroid_norm[0],
            })
        })
        .collect()
}

/// The reference candidates of the view whose label another candidate shares and that an
/// accepted object has: only these may need their colour to name an object a question is about
/// ("the white chair"), so only their pixels are looked at (and only the images of views that
/// have some are decoded).
pub fn colour_wanted(input: &SceneQaInput, view: &ViewInput) -> Vec<InstanceId> {
    let candidates = reference_candidates(input, view);
    let mut per_label: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &candidates {
        *per_label.entry(c.label.as_str()).or_default() += 1;
    }
    let asked_about: BTreeSet<&str> = candidates
        .iter()
        .filter(|c| view.selected.objects.iter().any(|o| o.instance_id == c.id))
        .map(|c| c.label.as_str())
        .collect();
    candidates
        .iter()
        .filter(|c| per_label[c.label.as_str()] > 1 && asked_about.contains(c.label.as_str()))
        .map(|c| c.id)
        .collect()
}

/// The definition of a size or centre for the axis-aligned box (each QA states its box).
fn axis_aligned_definition(definition: &str) -> String {
    match definition {
        DEF_LENGTH => DEF_LENGTH_AXIS_ALIGNED.to_string(),
        DEF_WIDTH => DEF_WIDTH_AXIS_ALIGNED.to_string(),
        DEF_VOLUME => DEF_VOLUME_AXIS_ALIGNED.to_string(),
        "center-to-center distance" => {
            "center-to-center distance (axis-aligned box centres)".to_string()
        }
        other => other.replace("gravity-aligned", "axis-aligned"),
    }
}

/// A length placeholder, resolved to the QA's unit by [`realise`].
fn metres(values: &[f64]) -> String {
    let parts: Vec<String> = values.iter().map(|v| format!("{v:.17e}")).collect();
    format!("m:{}", parts.join(","))
}

fn length_fill(group: &'static str, ctx: &Ctx) -> Fill {
    let mut fill = Fill::new(group);
    fill.unit = "length".into();
    if ctx.config.imperial_units {
        fill.values.insert("imperial", String::new());
    }
    fill
}

pub use crate::qa::language::plural;

/// The dimensions of an object visible in the view: (word, value, definition).
fn visible_dims(o: &Obj) -> Vec<(&'static str, f64, &'static str)> {
    let v = o.vis.visible_dimensions;
    let mut out = Vec::new();
    if v.length {
        out.push(("length", o.m.length_m, DEF_LENGTH));
    }
    if v.width {
        out.push(("width", o.m.width_m, DEF_WIDTH));
    }
    if v.height {
        out.push(("height", o.m.height_m, DEF_HEIGHT));
    }
    out
}

fn dim_value(o: &Obj, word: &str) -> Option<f64> {
    visible_dims(o)
        .into_iter()
        .find(|(w, _, _)| *w == word)
        .map(|(_, v, _)| v)
}

fn def_of(word: &str) -> &'static str {
    match word {
        "length" => DEF_LENGTH,
        "width" => DEF_WIDTH,
        _ => DEF_HEIGHT,
    }
}

fn pairs<'a, 'b>(objects: &'b [Obj<'a>]) -> Vec<(&'b Obj<'a>, &'b Obj<'a>)> {
    let mut out = Vec::new();
    for i in 0..objects.len() {
        for j in 0..objects.len() {
            if i != j {
                out.push((&objects[i], &objects[j]));
            }
        }
    }
    out
}

fn triples<'a, 'b>(objects: &'b [Obj<'a>]) -> Vec<[&'b Obj<'a>; 3]> {
    let mut out = Vec::new();
    for i in 0..objects.len() {
        for j in 0..objects.len() {
            for k in 0..objects.len() {
                if i != j && j != k && i != k {
                    out.push([&objects[i], &objects[j], &objects[k]]);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        for (s, p) in [
            ("chair", "chairs"),
            ("box", "boxes"),
            ("bookshelf", "bookshelves"),
            ("trash can", "trash cans"),
            ("chest of drawers", "chests of drawers"),
            ("laundry basket", "laundry baskets"),
            ("library", "libraries"),
            ("couch", "couches"),
            ("bench", "benches"),
            ("tv", "tvs"),
        ] {
            assert_eq!(plural(s), p);
        }
    }
}
