//! Existence (`templates/qa/existence.json`): categories of the vocabulary absent from the
//! whole scene.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{plural, Ctx, Fill, DEF_ABSENT};
use crate::qa::language::{display_name, with_article};
use crate::qa::stable_seed;

pub(super) fn existence(ctx: &Ctx) -> Vec<Fill> {
    let scene = ctx.input.scene;
    let present: Vec<String> = scene
        .instances
        .iter()
        .flat_map(|i| {
            [&i.label, &i.raw_label]
                .into_iter()
                .flat_map(|l| [l.to_lowercase(), display_name(l).to_lowercase()])
        })
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
            let name = display_name(word);
            let mut fill = Fill::new("absent")
                .set("a_obj", with_article(&name))
                .set("objs", plural(&name))
                .set("obj", name);
            fill.definitions.push(DEF_ABSENT.into());
            fill.answer_key = Some("absent".into());
            fill
        })
        .collect()
}
