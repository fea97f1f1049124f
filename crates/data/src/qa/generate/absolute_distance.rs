//! Absolute distance (`templates/qa/absolute_distance.json`): centre-to-centre and
//! closest-surface distances of two objects.

use super::{length_fill, metres, pairs, Ctx, Fill};
use crate::geom::distance::{center_to_center, closest_surface, find_bvh, DistanceKind};

pub(super) fn distance(ctx: &Ctx) -> Vec<Fill> {
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
        if !ctx.config.surface_distances {
            continue;
        }
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
