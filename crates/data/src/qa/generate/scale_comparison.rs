//! Scale comparison (`templates/qa/scale_comparison.json`): taller/shorter and bigger/smaller
//! among two or three objects, with a clear winner only. Height comparisons state every
//! object's height before the winner, as the official data does (groups `two_heights`,
//! `three_heights`; `values_si` holds the heights in the order the answer names them);
//! volume comparisons name the winner only.

use super::{
    dim_value, length_fill, metres, pairs, triples, Ctx, Fill, Obj, DEF_HEIGHT, DEF_VOLUME,
};

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

pub(super) fn comparison(ctx: &Ctx) -> Vec<Fill> {
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
        let with_heights = def == DEF_HEIGHT;
        let mut fill = if with_heights {
            let mut f = length_fill("two_heights", ctx)
                .set("value_a", metres(&[va]))
                .set("value_b", metres(&[vb]));
            f.values_si = vec![va, vb];
            f
        } else {
            Fill::new("two")
        };
        fill = fill
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
        let mut fill = if def == DEF_HEIGHT {
            let mut f = length_fill("three_heights", ctx)
                .set("value_a", metres(&[values[0]]))
                .set("value_b", metres(&[values[1]]))
                .set("value_c", metres(&[values[2]]));
            f.values_si = values.clone();
            f
        } else {
            Fill::new("three")
        };
        fill = fill
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_winner_needs_the_margin() {
        assert_eq!(clear_winner(&[1.0, 1.2], true, 0.1), Some(1));
        assert_eq!(clear_winner(&[1.0, 1.05], true, 0.1), None);
        assert_eq!(clear_winner(&[1.0, 1.2, 0.5], false, 0.1), Some(2));
        assert_eq!(clear_winner(&[1.0, 1.2, 1.15], true, 0.1), None);
    }
}
