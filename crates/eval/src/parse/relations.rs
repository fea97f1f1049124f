//! Relation and comparison words and their opposites (`left`/`right`, `taller`/`shorter`).

use super::tokens::Tok;

/// Pairs of opposite relation / comparison words.
pub const OPPOSITES: &[(&str, &str)] = &[
    ("left", "right"),
    ("taller", "shorter"),
    ("tallest", "shortest"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("bigger", "smaller"),
    ("larger", "smaller"),
    ("biggest", "smallest"),
    ("largest", "smallest"),
    ("wider", "narrower"),
    ("widest", "narrowest"),
    ("longer", "shorter"),
    ("longest", "shortest"),
    ("closer", "farther"),
    ("closer", "further"),
    ("nearer", "farther"),
    ("nearer", "further"),
    ("closest", "farthest"),
    ("nearest", "farthest"),
    ("closest", "furthest"),
    ("above", "below"),
    ("above", "under"),
    ("front", "behind"),
    ("over", "under"),
    ("leftmost", "rightmost"),
];

/// The relation words of a text that appear in [`OPPOSITES`], in order.
pub fn relation_words(toks: &[Tok]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for t in toks {
        if let Tok::Word(w) = t {
            for (a, b) in OPPOSITES {
                if w == a {
                    out.push(*a);
                    break;
                }
                if w == b {
                    out.push(*b);
                    break;
                }
            }
        }
    }
    out
}

/// Whether `a` and `b` are opposites.
pub fn opposite(a: &str, b: &str) -> bool {
    OPPOSITES
        .iter()
        .any(|(x, y)| (*x == a && *y == b) || (*x == b && *y == a))
}
