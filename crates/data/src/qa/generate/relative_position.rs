//! Relative position (`templates/qa/relative_position.json`): left/right in the camera frame
//! and near/far from the camera.

use super::{pairs, Ctx, Fill, DEF_LEFT_RIGHT};
use crate::geom::distance::DistanceKind;

pub(super) fn relative_position(ctx: &Ctx) -> Vec<Fill> {
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
