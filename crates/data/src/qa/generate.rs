//! The family generators and the per-image mix.
//!
//! [`prepare_scene`] does the geometry once per scene (measurements, BVHs, dominant colours,
//! selected views, and each selected view's full visibility list, which includes the objects
//! that selection rejected). [`generate_view`] then builds every candidate QA pair of each
//! family for one view, from the view's *accepted* objects only, caps each family, and picks
//! pairs family by family with weights [`QaConfig::mix`] until [`QaConfig::max_per_image`].
//! Candidate `i` of family `f` draws its phrasings and unit from the stream
//! `stable_seed(seed, scene, frame, f, i)`, so output does not depend on scheduling.

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::Point3;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::geom::distance::{
    build_instance_bvhs, camera_to_center, center_to_center, closest_surface, find_bvh,
    DistanceKind, TriangleBvh,
};
use crate::geom::measure::{find_measurement, measure_scene, ObjectMeasurement};
use crate::geom::select::SelectionRules;
use crate::geom::views::{select_views, SelectedView, ViewSelectionConfig};
use crate::geom::visibility::{InstanceVisibility, VisibilityConfig};
use crate::qa::refer::{describe, dominant_colors, Candidate, ReferMargins};
use crate::qa::templates::{fill as fill_template, TemplateSet};
use crate::qa::{
    conversation, format_2, format_length, stable_seed, Family, LengthUnit, QaConfig, QaPair, Turn,
};
use crate::scene::{Camera, InstanceId, Scene};

/// Measurement definitions quoted in [`QaPair::definitions`] (ARCHITECTURE.md wording).
pub const DEF_LENGTH: &str =
    "length = longer horizontal side of the gravity-aligned minimum-area box";
pub const DEF_WIDTH: &str =
    "width = shorter horizontal side of the gravity-aligned minimum-area box";
pub const DEF_HEIGHT: &str = "height = vertical extent of the object (max z - min z)";
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
    pub bvhs: Vec<(InstanceId, TriangleBvh)>,
    pub colors: BTreeMap<InstanceId, &'static str>,
    pub views: Vec<ViewInput>,
    pub rules: SelectionRules,
}

/// One selected view: the accepted objects and every visible instance.
#[derive(Clone, Debug)]
pub struct ViewInput {
    pub selected: SelectedView,
    /// Every instance seen in the view (accepted or not), sorted by id.
    pub visible: Vec<InstanceVisibility>,
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
    let views = selected
        .into_iter()
        .map(|mut view| {
            let visible = std::mem::take(&mut view.visible);
            ViewInput {
                selected: view,
                visible,
            }
        })
        .collect();
    SceneQaInput {
        scene,
        bvhs: build_instance_bvhs(scene),
        colors: dominant_colors(scene),
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
    let objects: Vec<Obj> = view
        .selected
        .objects
        .iter()
        .filter_map(|vis| {
            let instance = scene.instance(vis.instance_id)?;
            let m = find_measurement(&input.measurements, vis.instance_id)?;
            if config.unnamed_labels.contains(&instance.label) {
                return None;
            }
            let phrase = describe(&candidates, vis.instance_id, margins)?;
            Some(Obj {
                id: vis.instance_id,
                label: instance.label.clone(),
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
                realise(templates, family, fill, seed)
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
                label: instance.label.clone(),
                color: input.colors.get(&v.instance_id).copied().unwrap_or("grey"),
                volume_m3: m.length_m * m.width_m * m.height_m,
                centroid_x: v.centroid_norm[0],
            })
        })
        .collect()
}

/// Picks pairs family by family with probability proportional to the mix weights (among
/// families that still have candidates), skipping repeated questions.
fn mix(
    mut by_family: BTreeMap<Family, Vec<QaPair>>,
    config: &QaConfig,
    scene_id: &str,
    frame_id: &str,
) -> Vec<QaPair> {
    let mut rng = ChaCha8Rng::seed_from_u64(stable_seed(config.seed, scene_id, frame_id, "mix", 0));
    for list in by_family.values_mut() {
        list.reverse(); // pop() takes them in shuffled order
    }
    let mut out: Vec<QaPair> = Vec::new();
    let mut questions = BTreeSet::new();
    while out.len() < config.max_per_image {
        let live: Vec<(Family, f64)> = by_family
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(f, _)| (*f, config.mix.get(f).copied().unwrap_or(0.0).max(0.0)))
            .filter(|(_, w)| *w > 0.0)
            .collect();
        let total: f64 = live.iter().map(|(_, w)| w).sum();
        if live.is_empty() || total <= 0.0 {
            break;
        }
        let mut pick = rng.random::<f64>() * total;
        let mut chosen = live[live.len() - 1].0;
        for (family, weight) in &live {
            if pick < *weight {
                chosen = *family;
                break;
            }
            pick -= weight;
        }
        let qa = by_family
            .get_mut(&chosen)
            .and_then(|l| l.pop())
            .expect("live family has a candidate");
        if questions.insert(qa.question.clone()) {
            out.push(qa);
        }
    }
    out
}

/// Chooses the phrasings (and, for lengths, the unit) and fills them.
fn realise(templates: &TemplateSet, family: Family, mut fill: Fill, seed: u64) -> QaPair {
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

/// English plural of a label ("box" -> "boxes", "chest of drawers" -> "chests of drawers").
pub fn plural(label: &str) -> String {
    if let Some((head, tail)) = label.split_once(" of ") {
        return format!("{} of {tail}", plural(head));
    }
    let last = label.rsplit(' ').next().unwrap_or(label);
    let stem = &label[..label.len() - last.len()];
    let irregular = [
        ("shelf", "shelves"),
        ("person", "people"),
        ("couch", "couches"),
    ];
    if let Some((s, p)) = irregular.iter().find(|(s, _)| last.ends_with(s)) {
        return format!("{stem}{}{p}", &last[..last.len() - s.len()]);
    }
    let ends = |s: &str| last.ends_with(s);
    if ends("s") || ends("x") || ends("ch") || ends("sh") || ends("z") {
        format!("{label}es")
    } else if ends("y")
        && !["ay", "ey", "iy", "oy", "uy"]
            .iter()
            .any(|v| last.ends_with(v))
    {
        format!("{}ies", &label[..label.len() - 1])
    } else {
        format!("{label}s")
    }
}

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

fn existence(ctx: &Ctx) -> Vec<Fill> {
    let scene = ctx.input.scene;
    let present: Vec<String> = scene
        .instances
        .iter()
        .flat_map(|i| [i.label.to_lowercase(), i.raw_label.to_lowercase()])
        .collect();
    let mut absent: Vec<&String> = ctx
        .templates
        .vocabulary
        .iter()
        .filter(|word| {
            !present
                .iter()
                .any(|p| p.contains(word.as_str()) || word.contains(p.as_str()))
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(stable_seed(
        ctx.config.seed,
        &scene.meta.scene_id,
        &ctx.view.selected.frame_id,
        "existence/words",
        0,
    ));
    absent.shuffle(&mut rng);
    absent
        .into_iter()
        .take(3)
        .map(|word| {
            let mut fill = Fill::new("absent")
                .set("obj", word.clone())
                .set("objs", plural(word));
            fill.definitions.push(DEF_ABSENT.into());
            fill.answer_key = Some("absent".into());
            fill
        })
        .collect()
}

fn counting(ctx: &Ctx) -> Vec<Fill> {
    let scene = ctx.input.scene;
    let label_of = |id: InstanceId| scene.instance(id).map(|i| i.label.clone());
    // An unannotated or catch-all instance in view might be a look-alike: no counting at all.
    let unnamed_in_view = ctx.view.visible.iter().any(|v| {
        v.visible_px > 0
            && scene.instance(v.instance_id).is_some_and(|i| {
                ctx.config.unnamed_labels.contains(&i.label)
                    || ctx.input.rules.is_generic(&i.label)
                    || ctx.input.rules.is_generic(&i.raw_label)
            })
    });
    if unnamed_in_view {
        return Vec::new();
    }
    let labels: BTreeSet<&str> = ctx.objects.iter().map(|o| o.label.as_str()).collect();
    let accepted: BTreeSet<InstanceId> = ctx
        .view
        .selected
        .objects
        .iter()
        .map(|o| o.instance_id)
        .collect();
    labels
        .into_iter()
        .filter_map(|label| {
            let visible: Vec<InstanceId> = ctx
                .view
                .visible
                .iter()
                .filter(|v| v.visible_px > 0 && label_of(v.instance_id).as_deref() == Some(label))
                .map(|v| v.instance_id)
                .collect();
            // A rejected (occluded, truncated, tiny) look-alike makes the count ambiguous.
            if visible.iter().any(|id| !accepted.contains(id)) {
                return None;
            }
            let ids: Vec<InstanceId> = ctx
                .objects
                .iter()
                .filter(|o| o.label == label)
                .map(|o| o.id)
                .collect();
            if ids.len() != visible.len() || ids.len() > ctx.config.max_count {
                return None;
            }
            let n = ids.len();
            let noun = if n == 1 {
                label.to_string()
            } else {
                plural(label)
            };
            let mut fill = Fill::new("count")
                .set("objs", plural(label))
                .set("count_obj", format!("{n} {noun}"))
                .set("is_are", if n == 1 { "is" } else { "are" });
            fill.values_si = vec![n as f64];
            fill.unit = "count".into();
            fill.ids = ids;
            fill.definitions.push(DEF_COUNT.into());
            Some(fill)
        })
        .collect()
}

fn scale(ctx: &Ctx) -> Vec<Fill> {
    let mut out = Vec::new();
    for o in &ctx.objects {
        let dims = visible_dims(o);
        for (word, value, def) in &dims {
            let group = if *word == "height" { "height" } else { "width" };
            let mut fill = length_fill(group, ctx)
                .set("obj", o.phrase.clone())
                .set("dimension", *word)
                .set("value", metres(&[*value]));
            fill.values_si = vec![*value];
            fill.ids = vec![o.id];
            fill.definitions.push((*def).into());
            out.push(fill);
        }
        if dims.len() == 3 {
            let lwh = [o.m.length_m, o.m.width_m, o.m.height_m];
            let mut fill = length_fill("size", ctx)
                .set("obj", o.phrase.clone())
                .set("value", metres(&lwh));
            fill.values_si = lwh.to_vec();
            fill.ids = vec![o.id];
            fill.definitions = vec![DEF_LENGTH.into(), DEF_WIDTH.into(), DEF_HEIGHT.into()];
            out.push(fill);
        }
    }
    out
}

fn grounding(ctx: &Ctx) -> Vec<Fill> {
    let model = &ctx.camera.model;
    let (w, h) = (f64::from(model.width), f64::from(model.height));
    let scene = ctx.input.scene;
    let inside = |v: &InstanceVisibility, x: f64, y: f64| {
        let [u0, v0, u1, v1] = v.bbox_px;
        x >= f64::from(u0) / w
            && x <= f64::from(u1 + 1) / w
            && y >= f64::from(v0) / h
            && y <= f64::from(v1 + 1) / h
    };
    let mut out = Vec::new();
    for o in &ctx.objects {
        let [x, y] = o.vis.centroid_norm;
        let (xs, ys) = (format_2(x), format_2(y));
        let mut fill = Fill::new("object_to_xy")
            .set("obj", o.phrase.clone())
            .set("x", xs.clone())
            .set("y", ys.clone());
        fill.values_si = vec![x, y];
        fill.unit = "xy".into();
        fill.ids = vec![o.id];
        fill.definitions.push(DEF_CENTROID.into());
        out.push(fill);
        // The reverse question only where the point falls inside this object's box and in no
        // other non-structural object's box.
        let (xr, yr) = (xs.parse().unwrap_or(x), ys.parse().unwrap_or(y));
        let clash = ctx.view.visible.iter().any(|v| {
            v.instance_id != o.id
                && v.visible_px > 0
                && scene.instance(v.instance_id).is_some_and(|i| {
                    !ctx.input.rules.is_structural(&i.label)
                        && !ctx.input.rules.is_structural(&i.raw_label)
                })
                && inside(v, xr, yr)
        });
        if inside(o.vis, xr, yr) && !clash {
            let mut fill = Fill::new("xy_to_object")
                .set("obj", o.phrase.clone())
                .set("x", xs)
                .set("y", ys);
            fill.ids = vec![o.id];
            fill.definitions.push(DEF_CENTROID.into());
            fill.answer_key = Some(o.phrase.clone());
            out.push(fill);
        }
    }
    out
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

fn relative_position(ctx: &Ctx) -> Vec<Fill> {
    let mut out = Vec::new();
    for (index, (a, b)) in pairs(&ctx.objects).into_iter().enumerate() {
        let dx = a.center_in_camera.x - b.center_in_camera.x;
        if dx.abs() >= ctx.config.left_right_margin_m {
            let truth = if dx < 0.0 { "left" } else { "right" };
            // Ordered pairs come in both orders; alternate the asked side for variety.
            let asked = if index % 2 == 0 { "left" } else { "right" };
            let yes = asked == truth;
            let mut fill = Fill::new("left_right")
                .set("obj_a", a.phrase.clone())
                .set("obj_b", b.phrase.clone())
                .set("relation", asked)
                .set("true_relation", truth)
                .set("yes_no", if yes { "yes" } else { "no" });
            fill.ids = vec![a.id, b.id];
            fill.definitions.push(DEF_LEFT_RIGHT.into());
            fill.answer_key = Some(if yes { "yes" } else { "no" }.into());
            out.push(fill);
            if index % 2 == 0 {
                let winner = if dx < 0.0 { a } else { b };
                let mut fill = Fill::new("which_side")
                    .set("obj_a", a.phrase.clone())
                    .set("obj_b", b.phrase.clone())
                    .set("relation", "left")
                    .set("obj", winner.phrase.clone());
                fill.ids = vec![a.id, b.id];
                fill.definitions.push(DEF_LEFT_RIGHT.into());
                fill.answer_key = Some(winner.phrase.clone());
                out.push(fill);
            }
        }
        let dd = a.camera_distance_m - b.camera_distance_m;
        if dd.abs() >= ctx.config.near_far_margin_m {
            let closer = index % 2 == 0;
            let winner = if (dd < 0.0) == closer { a } else { b };
            let mut fill = Fill::new("near_far")
                .set("obj_a", a.phrase.clone())
                .set("obj_b", b.phrase.clone())
                .set(
                    "relation",
                    if closer { "closer to" } else { "farther from" },
                )
                .set("obj", winner.phrase.clone());
            fill.ids = vec![a.id, b.id];
            fill.definitions
                .push(DistanceKind::CameraToCenter.name().into());
            fill.answer_key = Some(winner.phrase.clone());
            out.push(fill);
        }
    }
    out
}

fn distance(ctx: &Ctx) -> Vec<Fill> {
    let mut out = Vec::new();
    for (a, b) in pairs(&ctx.objects) {
        if a.id > b.id {
            continue;
        }
        let d = center_to_center(a.m, b.m).distance_m;
        let mut fill = length_fill("center", ctx)
            .set("obj_a", a.phrase.clone())
            .set("obj_b", b.phrase.clone())
            .set("value", metres(&[d]));
        fill.values_si = vec![d];
        fill.ids = vec![a.id, b.id];
        fill.definitions
            .push(DistanceKind::CenterToCenter.name().into());
        out.push(fill);
        let surface = find_bvh(&ctx.input.bvhs, a.id)
            .zip(find_bvh(&ctx.input.bvhs, b.id))
            .and_then(|(ba, bb)| closest_surface(ba, bb));
        if let Some(s) = surface.filter(|s| s.distance_m >= ctx.config.min_surface_gap_m) {
            let mut fill = length_fill("surface", ctx)
                .set("obj_a", a.phrase.clone())
                .set("obj_b", b.phrase.clone())
                .set("value", metres(&[s.distance_m]));
            fill.values_si = vec![s.distance_m];
            fill.ids = vec![a.id, b.id];
            fill.definitions
                .push(DistanceKind::ClosestSurface.name().into());
            out.push(fill);
        }
    }
    out
}

/// (comparative, superlative, larger-is-winner, key, definition) of the comparisons.
type Measure = fn(&Obj) -> Option<f64>;
const COMPARISONS: [(&str, &str, bool, Measure, &str); 4] = [
    (
        "taller",
        "tallest",
        true,
        |o| dim_value(o, "height"),
        DEF_HEIGHT,
    ),
    (
        "shorter",
        "shortest",
        false,
        |o| dim_value(o, "height"),
        DEF_HEIGHT,
    ),
    ("bigger", "biggest", true, volume, DEF_VOLUME),
    ("smaller", "smallest", false, volume, DEF_VOLUME),
];

fn volume(o: &Obj) -> Option<f64> {
    let v = o.vis.visible_dimensions;
    (v.length && v.width && v.height).then_some(o.m.length_m * o.m.width_m * o.m.height_m)
}

/// The index of the clear winner among `values` (beats every other by the margin).
fn clear_winner(values: &[f64], larger: bool, margin: f64) -> Option<usize> {
    (0..values.len()).find(|&i| {
        (0..values.len()).filter(|&j| j != i).all(|j| {
            let (w, o) = (values[i], values[j]);
            if larger {
                w >= o * (1.0 + margin)
            } else {
                o >= w * (1.0 + margin)
            }
        })
    })
}

fn comparison(ctx: &Ctx) -> Vec<Fill> {
    let margin = ctx.config.min_relative_difference;
    let mut out = Vec::new();
    for (index, (a, b)) in pairs(&ctx.objects).into_iter().enumerate() {
        let (comparative, _, larger, key, def) = COMPARISONS[index % COMPARISONS.len()];
        let (Some(va), Some(vb)) = (key(a), key(b)) else {
            continue;
        };
        let Some(w) = clear_winner(&[va, vb], larger, margin) else {
            continue;
        };
        let (winner, other) = if w == 0 { (a, b) } else { (b, a) };
        let mut fill = Fill::new("two")
            .set("obj_a", a.phrase.clone())
            .set("obj_b", b.phrase.clone())
            .set("comparative", comparative)
            .set("obj", winner.phrase.clone())
            .set("other", other.phrase.clone());
        fill.ids = vec![a.id, b.id];
        fill.definitions.push(def.into());
        fill.answer_key = Some(winner.phrase.clone());
        out.push(fill);
    }
    for (index, t) in triples(&ctx.objects).into_iter().enumerate() {
        // One ordering per set of three.
        if !(t[0].id < t[1].id && t[1].id < t[2].id) {
            continue;
        }
        let (_, superlative, larger, key, def) = COMPARISONS[index % COMPARISONS.len()];
        let Some(values) = t.iter().map(|o| key(o)).collect::<Option<Vec<f64>>>() else {
            continue;
        };
        let Some(w) = clear_winner(&values, larger, margin) else {
            continue;
        };
        let mut fill = Fill::new("three")
            .set("obj_a", t[0].phrase.clone())
            .set("obj_b", t[1].phrase.clone())
            .set("obj_c", t[2].phrase.clone())
            .set("superlative", superlative)
            .set("obj", t[w].phrase.clone());
        fill.ids = t.iter().map(|o| o.id).collect();
        fill.definitions.push(def.into());
        fill.answer_key = Some(t[w].phrase.clone());
        out.push(fill);
    }
    out
}

/// Reference values below this are not used (a ratio to a near-zero side says nothing).
const MIN_REFERENCE_M: f64 = 0.05;

fn reference(ctx: &Ctx) -> Vec<Fill> {
    let mut out = Vec::new();
    for (r, o) in pairs(&ctx.objects) {
        for (word, ref_value, def) in visible_dims(r) {
            let Some(value) = dim_value(o, word) else {
                continue;
            };
            if ref_value < MIN_REFERENCE_M {
                continue;
            }
            let mut fill = length_fill("two", ctx)
                .set("ref", r.phrase.clone())
                .set("obj", o.phrase.clone())
                .set("dimension", word)
                .set("ref_value", metres(&[ref_value]))
                .set("value", metres(&[value]));
            fill.values_si = vec![value];
            fill.ids = vec![r.id, o.id];
            fill.definitions.push(def.into());
            out.push(fill);
            // Chain of thought: reference in metres, ratio from the true values, product,
            // conversion, final answer (the true value in the answer unit).
            let ratio = value / ref_value;
            let ratio_text = format_2(ratio);
            let ref_text = format_2(ref_value);
            let product = value;
            let mut cot = Fill::new("cot")
                .set("ref", r.phrase.clone())
                .set("obj", o.phrase.clone())
                .set("dimension", word)
                .set("ref_value", ref_text)
                .set("ratio", ratio_text)
                .set("product", format_2(product))
                .set("value", metres(&[value]));
            cot.unit = "length-converted".into();
            if ctx.config.imperial_units {
                cot.values.insert("imperial", String::new());
            }
            cot.values_si = vec![value];
            cot.ids = vec![r.id, o.id];
            cot.definitions.push(def.into());
            out.push(cot);
        }
    }
    for t in triples(&ctx.objects) {
        let [r, a, b] = t;
        if a.id > b.id {
            continue;
        }
        for (word, ref_value, def) in visible_dims(r) {
            let (Some(va), Some(vb)) = (dim_value(a, word), dim_value(b, word)) else {
                continue;
            };
            if ref_value < MIN_REFERENCE_M {
                continue;
            }
            let mut fill = length_fill("three", ctx)
                .set("ref", r.phrase.clone())
                .set("obj_a", a.phrase.clone())
                .set("obj_b", b.phrase.clone())
                .set("dimension", word)
                .set("ref_value", metres(&[ref_value]))
                .set("value_a", metres(&[va]))
                .set("value_b", metres(&[vb]));
            fill.values_si = vec![va, vb];
            fill.ids = vec![r.id, a.id, b.id];
            fill.definitions.push(def.into());
            out.push(fill);
        }
        // Distance reference: the centre distance of r and a, estimate a side of b.
        let d = center_to_center(r.m, a.m).distance_m;
        if d >= MIN_REFERENCE_M {
            for (word, value, def) in visible_dims(b) {
                let mut fill = length_fill("distance_ref", ctx)
                    .set("obj_a", r.phrase.clone())
                    .set("obj_b", a.phrase.clone())
                    .set("obj", b.phrase.clone())
                    .set("dimension", word)
                    .set("ref_value", metres(&[d]))
                    .set("value", metres(&[value]));
                fill.values_si = vec![value];
                fill.ids = vec![r.id, a.id, b.id];
                fill.definitions = vec![
                    DistanceKind::CenterToCenter.name().into(),
                    def_of(word).into(),
                ];
                debug_assert_eq!(def, def_of(word));
                out.push(fill);
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

    #[test]
    fn clear_winner_needs_the_margin() {
        assert_eq!(clear_winner(&[1.0, 1.2], true, 0.1), Some(1));
        assert_eq!(clear_winner(&[1.0, 1.05], true, 0.1), None);
        assert_eq!(clear_winner(&[1.0, 1.2, 0.5], false, 0.1), Some(2));
        assert_eq!(clear_winner(&[1.0, 1.2, 1.15], true, 0.1), None);
    }
}
