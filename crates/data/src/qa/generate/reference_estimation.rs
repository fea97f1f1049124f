//! Reference estimation (`templates/qa/reference_estimation.json`): a dimension of one object
//! from a known dimension (or distance) of others, with a chain-of-thought variant.

use super::{def_of, dim_value, length_fill, metres, pairs, triples, visible_dims, Ctx, Fill};
use crate::geom::distance::{center_to_center, DistanceKind};
use crate::qa::format_2;

/// Reference values below this are not used (a ratio to a near-zero side says nothing).
const MIN_REFERENCE_M: f64 = 0.05;

pub(super) fn reference(ctx: &Ctx) -> Vec<Fill> {
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
