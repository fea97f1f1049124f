//! Object mentions: content and label words of a phrase, the object phrases of a question,
//! and where a phrase is mentioned in an answer.

use super::relations::OPPOSITES;
use super::tokens::{tokenize, word_at, Tok};

/// Words that are never part of an object's label.
const STOP: &[&str] = &[
    "the",
    "a",
    "an",
    "this",
    "that",
    "these",
    "those",
    "its",
    "it",
    "is",
    "are",
    "of",
    "to",
    "in",
    "on",
    "at",
    "and",
    "or",
    "one",
    "object",
    "thing",
    "item",
    "image",
    "picture",
    "view",
    "photo",
    "scene",
    "there",
    "which",
    "what",
    "be",
    "i",
    "see",
    "can",
    "sits",
    "located",
    "position",
    "point",
    "than",
    "more",
    "further",
    "farther",
    "located",
    "appears",
    "seen",
    "about",
    "roughly",
    "approximately",
    "around",
    "near",
    "by",
    "with",
    "from",
];

/// Attribute words: an object's label without them still names it (`the white chair` ->
/// `chair`).
const ATTRIBUTE: &[&str] = &[
    "white",
    "black",
    "brown",
    "gray",
    "grey",
    "red",
    "blue",
    "green",
    "yellow",
    "orange",
    "pink",
    "purple",
    "beige",
    "silver",
    "golden",
    "gold",
    "dark",
    "light",
    "wooden",
    "wood",
    "metal",
    "metallic",
    "glass",
    "plastic",
    "leather",
    "fabric",
    "big",
    "bigger",
    "biggest",
    "large",
    "larger",
    "largest",
    "small",
    "smaller",
    "smallest",
    "tall",
    "taller",
    "tallest",
    "short",
    "shorter",
    "shortest",
    "leftmost",
    "rightmost",
    "left",
    "right",
    "front",
    "back",
    "rear",
    "upper",
    "lower",
    "top",
    "bottom",
    "middle",
    "center",
    "centre",
    "nearest",
    "closest",
    "farthest",
    "furthest",
    "first",
    "second",
    "third",
    "other",
    "same",
];

/// Whether a word only qualifies an object (colour, size, position).
pub fn is_attribute(w: &str) -> bool {
    ATTRIBUTE.contains(&w)
        || w == "off"
        || msmu_data::qa::colors::PALETTE
            .iter()
            .any(|(name, _)| name.split([' ', '-']).any(|part| part == w))
}

fn singular(w: &str) -> &str {
    if ["sses", "xes", "ches", "shes"]
        .iter()
        .any(|e| w.ends_with(e))
    {
        &w[..w.len() - 2]
    } else if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        &w[..w.len() - 1]
    } else {
        w
    }
}

/// Content words of a phrase: lower case, singular, without articles and filler.
pub fn content_words(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter_map(|t| match t {
            Tok::Word(w) if !STOP.contains(&w.as_str()) => Some(singular(&w).to_string()),
            _ => None,
        })
        .collect()
}

/// The label of an object phrase: content words without attributes (`the white chair` ->
/// `[chair]`); the content words if that leaves nothing.
pub fn label_words(text: &str) -> Vec<String> {
    let words = content_words(text);
    let label: Vec<String> = words.iter().filter(|w| !is_attribute(w)).cloned().collect();
    if label.is_empty() {
        words
    } else {
        label
    }
}

/// Words that close an object phrase started by `the`.
fn ends_phrase(w: &str) -> bool {
    matches!(
        w,
        "or" | "and"
            | "is"
            | "are"
            | "which"
            | "than"
            | "to"
            | "in"
            | "on"
            | "at"
            | "from"
            | "of"
            | "has"
            | "have"
            | "with"
            | "does"
            | "would"
            | "appears"
            | "appear"
            | "lies"
            | "sits"
            | "measures"
            | "if"
            | "as"
            | "that"
            | "who"
            | "was"
            | "seems"
            | "looks"
            | "stands"
            | "placed"
            | "located"
            | "located?"
    )
}

/// Phrases that start with `the` and are not objects (`the camera`, `the left`, `the tallest`).
const NOT_OBJECTS: &[&str] = &[
    "camera",
    "viewer",
    "image",
    "picture",
    "view",
    "photo",
    "scene",
    "left",
    "right",
    "front",
    "back",
    "center",
    "centre",
    "middle",
    "tallest",
    "shortest",
    "highest",
    "lowest",
    "biggest",
    "largest",
    "smallest",
    "widest",
    "longest",
    "narrowest",
    "closest",
    "nearest",
    "farthest",
    "furthest",
    "taller",
    "shorter",
    "higher",
    "lower",
    "bigger",
    "larger",
    "smaller",
    "wider",
    "longer",
    "closer",
    "nearer",
    "farther",
    "further",
    "one",
    "three",
    "two",
    "other",
    "same",
    "height",
    "width",
    "length",
    "size",
    "distance",
    "dimension",
    "dimensions",
    "floor",
    "ceiling",
    "wall",
    "room",
    "answer",
    "reference",
    "ratio",
    "gap",
    "centers",
    "centre",
    "closest surfaces",
    "side",
    "viewer's",
    "first",
    "second",
    "it",
];

/// Object phrases of a question: spans starting with `the` (also `a`/`an` after `or`/`and`)
/// up to punctuation or a closing word, minus non-objects. Deduplicated, in order.
pub fn object_phrases(text: &str) -> Vec<String> {
    let toks = tokenize(text);
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if matches!(word_at(&toks, i), Some("the")) {
            let mut words = Vec::new();
            let mut j = i + 1;
            while let Some(Tok::Word(w)) = toks.get(j) {
                let relation = OPPOSITES.iter().any(|(a, b)| a == w || b == w);
                if ends_phrase(w) || (!words.is_empty() && (w == "x" || relation)) {
                    break;
                }
                words.push(w.clone());
                j += 1;
                if words.len() >= 6 {
                    break;
                }
            }
            if !words.is_empty() {
                let phrase = words.join(" ");
                let all_non = words
                    .iter()
                    .all(|w| NOT_OBJECTS.contains(&w.as_str()) || STOP.contains(&w.as_str()));
                let first_non =
                    NOT_OBJECTS.contains(&words[0].as_str()) && !is_attribute(&words[0]);
                if !all_non && !first_non && !out.contains(&phrase) {
                    out.push(phrase);
                }
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

/// Where `phrase` (content words) is mentioned in `toks`: the token index of its head word
/// (last content word, singular), and how many of its other words occur within 4 tokens
/// before it. `None` when the head word never occurs.
pub fn mention(toks: &[Tok], phrase: &[String]) -> Option<(usize, usize)> {
    let head = phrase.last()?;
    let mut best: Option<(usize, usize)> = None;
    for (i, t) in toks.iter().enumerate() {
        if let Tok::Word(w) = t {
            if singular(w) == head {
                let from = i.saturating_sub(5);
                let score = phrase[..phrase.len() - 1]
                    .iter()
                    .filter(|m| {
                        toks[from..i]
                            .iter()
                            .any(|t| matches!(t, Tok::Word(w) if singular(w) == m.as_str()))
                    })
                    .count();
                match best {
                    None => best = Some((i, score)),
                    Some((_, s)) if score > s => best = Some((i, score)),
                    _ => {}
                }
                if score + 1 == phrase.len() {
                    break;
                }
            }
        }
    }
    if best.is_none() {
        // "the maroon one": a distinguishing word followed by "one"
        for (i, t) in toks.iter().enumerate() {
            if let (Tok::Word(w), Some(Tok::Word(next))) = (t, toks.get(i + 1)) {
                if next == "one" && phrase[..phrase.len() - 1].iter().any(|m| m == w) {
                    return Some((i + 1, 1));
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_phrases_of_questions() {
        assert_eq!(
            object_phrases("Which is taller, the white chair or the wooden table?"),
            vec!["white chair", "wooden table"]
        );
        assert_eq!(
            object_phrases("Of the lamp, the sofa and the tv, which one is the tallest?"),
            vec!["lamp", "sofa", "tv"]
        );
        assert_eq!(
            object_phrases("Which is closer to the camera, the bed or the desk?"),
            vec!["bed", "desk"]
        );
        assert_eq!(
            object_phrases("Is the navy chair or the maroon chair shorter?"),
            vec!["navy chair", "maroon chair"]
        );
    }
}
