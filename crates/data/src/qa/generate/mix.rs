//! The per-image mix: picks pairs family by family with the [`QaConfig::mix`] weights.

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::qa::{stable_seed, Family, QaConfig, QaPair};

/// Picks pairs family by family with probability proportional to the mix weights (among
/// families that still have candidates), skipping repeated questions.
pub(super) fn mix(
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
