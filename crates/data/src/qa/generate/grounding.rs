//! Grounding (`templates/qa/grounding.json`): object to normalised image point, and point to
//! object where the point is unambiguous.

use super::{Ctx, Fill, DEF_CENTROID};
use crate::geom::visibility::InstanceVisibility;
use crate::qa::format_2;

pub(super) fn grounding(ctx: &Ctx) -> Vec<Fill> {
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
