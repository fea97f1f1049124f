//! Whole-label matching of object names (grounding answers of the (x, y) -> object kind):
//! the reference label must be the object the answer names, as a whole (`coffee table`, not
//! `table`), in singular or plural, or as a listed synonym (`couch` for `sofa`); a label word
//! that only modifies another object (`table lamp`) or sits in a locative phrase (`the lamp
//! on the desk`) does not count.

use super::objects::is_attribute;
use super::tokens::{tokenize, Tok};

/// Synonym groups of indoor object labels (singular, words separated by spaces). The first
/// entry of a group is its canonical form.
const SYNONYMS: &[&[&str]] = &[
    &["sofa", "couch", "settee"],
    &["tv", "television", "tv set", "television set"],
    &[
        "trash can",
        "trash bin",
        "garbage can",
        "garbage bin",
        "waste bin",
        "wastebasket",
        "waste basket",
        "rubbish bin",
        "dustbin",
    ],
    &["refrigerator", "fridge"],
    &["bookshelf", "bookcase", "book shelf", "book case"],
    &["nightstand", "night stand", "bedside table", "night table"],
    &["armchair", "arm chair"],
    &["rug", "carpet"],
    &["cabinet", "cupboard"],
    &["faucet", "tap"],
    &["bathtub", "bath tub", "tub", "bath"],
    &["sink", "basin", "washbasin", "wash basin"],
    &["microwave", "microwave oven"],
    &["toilet paper", "toilet roll"],
    &["monitor", "computer monitor"],
    &["laptop", "notebook computer", "laptop computer"],
    &["dresser", "chest of drawers"],
    &["ottoman", "footstool", "pouf"],
    &["stool", "bar stool"],
    &["whiteboard", "white board", "dry erase board"],
    &["pillow", "cushion"],
    &["blinds", "window blinds", "blind"],
    &["doorway", "door way"],
    &["keyboard", "computer keyboard"],
    &["mug", "cup"],
    &["plant", "potted plant", "houseplant", "house plant"],
    &["couch cushion", "sofa cushion"],
    &["shower curtain", "shower screen"],
    &["kitchen counter", "countertop", "counter top", "counter"],
];

/// Nouns of indoor objects: a label word followed by one of these modifies it (`table lamp`).
const NOUNS: &[&str] = &[
    "chair",
    "table",
    "lamp",
    "desk",
    "sofa",
    "couch",
    "bed",
    "cabinet",
    "shelf",
    "bookshelf",
    "door",
    "window",
    "curtain",
    "pillow",
    "cushion",
    "box",
    "bag",
    "basket",
    "bin",
    "can",
    "monitor",
    "screen",
    "keyboard",
    "mouse",
    "computer",
    "laptop",
    "tv",
    "television",
    "plant",
    "pot",
    "vase",
    "clock",
    "mirror",
    "sink",
    "toilet",
    "tub",
    "bathtub",
    "shower",
    "towel",
    "rack",
    "stand",
    "nightstand",
    "dresser",
    "drawer",
    "stool",
    "bench",
    "ottoman",
    "rug",
    "mat",
    "carpet",
    "counter",
    "stove",
    "oven",
    "microwave",
    "refrigerator",
    "fridge",
    "kettle",
    "bottle",
    "cup",
    "mug",
    "book",
    "board",
    "whiteboard",
    "printer",
    "speaker",
    "fan",
    "heater",
    "radiator",
    "light",
    "blanket",
    "frame",
    "painting",
    "poster",
    "sign",
    "jacket",
    "coat",
    "shoe",
    "backpack",
    "suitcase",
    "wardrobe",
    "closet",
    "rail",
    "railing",
    "holder",
    "dispenser",
    "paper",
    "roll",
    "container",
    "tray",
    "bowl",
    "plate",
    "phone",
    "telephone",
    "machine",
    "case",
    "cover",
    "top",
    "leg",
    "base",
    "cord",
    "cable",
    "outlet",
    "switch",
    "panel",
    "column",
    "pillar",
    "ladder",
    "step",
    "stair",
    "organizer",
    "hanger",
    "hook",
    "doll",
    "toy",
    "guitar",
    "piano",
];

/// Words that, right before an object phrase, make it the place of another object.
const LOCATIVE: &[&str] = &[
    "on",
    "in",
    "at",
    "near",
    "beside",
    "besides",
    "under",
    "above",
    "below",
    "behind",
    "by",
    "from",
    "against",
    "with",
    "to",
    "inside",
    "onto",
    "over",
    "atop",
    "underneath",
    "beneath",
    "between",
    "across",
    "along",
    "next",
    "around",
    "into",
    "opposite",
];

/// Whether `w` places an object relative to another (`near`, `by`, `on`, ...).
pub fn is_locative(w: &str) -> bool {
    LOCATIVE.contains(&w)
}

/// Determiners and fillers that may stand between a locative word and its object.
const DETERMINERS: &[&str] = &[
    "the", "a", "an", "this", "that", "its", "some", "two", "one",
];

/// Words of a reference answer that are not part of the label ("It is the navy chair.").
const FILLER: &[&str] = &[
    "the",
    "a",
    "an",
    "it",
    "it's",
    "is",
    "are",
    "this",
    "that",
    "that's",
    "these",
    "those",
    "its",
    "object",
    "thing",
    "item",
    "there",
    "which",
    "what",
    "be",
    "answer",
    "i",
    "think",
    "see",
    "located",
    "at",
    "here",
    "point",
    "position",
    "image",
    "coordinate",
];

/// Singular of a label word: `chairs` -> `chair`, `boxes` -> `box`, `shelves` -> `shelf`,
/// `libraries` -> `library`.
pub fn singular_label(w: &str) -> String {
    const IRREGULAR: &[(&str, &str)] = &[
        ("shelves", "shelf"),
        ("bookshelves", "bookshelf"),
        ("knives", "knife"),
        ("leaves", "leaf"),
        ("people", "person"),
        ("feet", "foot"),
        ("mice", "mouse"),
        ("chests", "chest"),
        ("blinds", "blinds"),
        ("glasses", "glasses"),
        ("clothes", "clothes"),
        ("scissors", "scissors"),
        ("stairs", "stairs"),
        ("pants", "pants"),
    ];
    if let Some((_, s)) = IRREGULAR.iter().find(|(p, _)| *p == w) {
        return (*s).to_string();
    }
    if w.len() > 4 && w.ends_with("ies") {
        return format!("{}y", &w[..w.len() - 3]);
    }
    if ["sses", "xes", "ches", "shes"]
        .iter()
        .any(|e| w.ends_with(e))
    {
        return w[..w.len() - 2].to_string();
    }
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") {
        return w[..w.len() - 1].to_string();
    }
    w.to_string()
}

fn words_of(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter_map(|t| match t {
            Tok::Word(w) => Some(singular_label(&w)),
            _ => None,
        })
        .collect()
}

/// The forms of a label: itself and its synonyms, each as singular words.
fn forms(label: &[String]) -> Vec<Vec<String>> {
    let joined = label.join(" ");
    let mut out = vec![label.to_vec()];
    for group in SYNONYMS {
        let group_words: Vec<Vec<String>> = group.iter().map(|g| words_of(g)).collect();
        if group_words.iter().any(|g| g.join(" ") == joined) {
            for g in group_words {
                if !out.contains(&g) {
                    out.push(g);
                }
            }
        }
    }
    out
}

/// Whether the answer names the object of the reference label as a whole: some form of the
/// label (itself, a synonym; singular or plural) occurs as words of the answer, is not
/// followed by an object noun (`table lamp` does not name a table), and is not the object of a
/// locative word (`the lamp on the desk` does not name the desk).
pub fn names_label(answer: &str, reference: &str) -> bool {
    let all = words_of(reference);
    let content: Vec<String> = all
        .iter()
        .filter(|w| !FILLER.contains(&w.as_str()))
        .cloned()
        .collect();
    let mut label: Vec<String> = content
        .iter()
        .filter(|w| !is_attribute(w))
        .cloned()
        .collect();
    if label.is_empty() {
        label = content;
    }
    if label.is_empty() {
        return false;
    }
    let words = words_of(answer);
    let forms = forms(&label);
    for form in &forms {
        let n = form.len();
        if n == 0 || n > words.len() {
            continue;
        }
        for i in 0..=words.len() - n {
            if words[i..i + n] != form[..] {
                continue;
            }
            // A longer form starting here (`trash can` for `can`) is another object.
            if let Some(next) = words.get(i + n) {
                if NOUNS.contains(&next.as_str()) {
                    continue;
                }
            }
            // Walk back over determiners, attributes and modifiers to the word before the
            // phrase.
            let mut j = i;
            let mut steps = 0;
            while j > 0 && steps < 4 {
                let w = words[j - 1].as_str();
                if DETERMINERS.contains(&w) || is_attribute(w) || NOUNS.contains(&w) {
                    j -= 1;
                    steps += 1;
                } else {
                    break;
                }
            }
            if j > 0 && LOCATIVE.contains(&words[j - 1].as_str()) {
                continue;
            }
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_labels_synonyms_plurals() {
        assert!(names_label("It's a coffee table.", "the coffee table"));
        assert!(!names_label("It's a table.", "the coffee table"));
        assert!(!names_label("A table lamp.", "table"));
        assert!(names_label("A table lamp.", "lamp"));
        assert!(names_label("a coffee table", "table"));
        assert!(names_label("Couches.", "sofa"));
        assert!(names_label("the bookcase", "bookshelf"));
        assert!(names_label("bookshelves", "bookshelf"));
        assert!(names_label("Two garbage bins", "trash can"));
        assert!(!names_label("a can", "trash can"));
        assert!(!names_label("The lamp on the desk.", "desk"));
        assert!(names_label("The lamp on the desk.", "lamp"));
        assert!(names_label("It is the white chair.", "the navy chair"));
        assert!(names_label("libraries", "library"));
        assert!(!names_label("", "chair"));
    }
}
