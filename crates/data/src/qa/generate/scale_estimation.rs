//! Scale estimation (`templates/qa/scale_estimation.json`): an object's visible dimensions and
//! its length x width x height.

use super::{length_fill, metres, visible_dims, Ctx, Fill, DEF_HEIGHT, DEF_LENGTH, DEF_WIDTH};

pub(super) fn scale(ctx: &Ctx) -> Vec<Fill> {
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
