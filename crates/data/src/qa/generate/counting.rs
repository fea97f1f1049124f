//! Counting (`templates/qa/counting.json`): instances of a label in view, when every look-alike
//! in view was accepted.

use std::collections::BTreeSet;

use super::{plural, Ctx, Fill, DEF_COUNT};
use crate::qa::language::display_name;
use crate::scene::InstanceId;

pub(super) fn counting(ctx: &Ctx) -> Vec<Fill> {
    let scene = ctx.input.scene;
    let label_of = |id: InstanceId| scene.instance(id).map(|i| display_name(&i.label));
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
