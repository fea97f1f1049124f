//! How labels read in questions and answers: display names for raw annotation labels,
//! indefinite articles by sound, and plurals (regular and irregular). The tables live in
//! `templates/labels/language.json` (compiled in), so a new label's wording is a data change.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The language tables (`templates/labels/language.json`).
#[derive(Debug, Deserialize)]
pub struct Language {
    /// Lower-case raw label -> display name.
    pub display: BTreeMap<String, String>,
    /// Irregular plurals of a last word.
    pub plurals: BTreeMap<String, String>,
    /// Word beginnings that take "an" although the letter is a consonant ("hour").
    pub an_words: Vec<String>,
    /// Word beginnings that take "a" although the letter is a vowel ("unit", "one").
    pub a_words: Vec<String>,
    /// Every label the language test exercises.
    pub known_labels: Vec<String>,
}

/// The shipped tables (parsed once; the file is checked by the tests).
pub fn language() -> &'static Language {
    static TABLES: OnceLock<Language> = OnceLock::new();
    TABLES.get_or_init(|| {
        serde_json::from_str(include_str!("../../../../templates/labels/language.json"))
            .expect("templates/labels/language.json is valid (tested)")
    })
}

/// The name a raw label is shown under: the table's entry for the lower-cased label (spaces
/// and `_` normalised), else the label lower-cased.
pub fn display_name(label: &str) -> String {
    let key: String = label
        .replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    language().display.get(&key).cloned().unwrap_or(key)
}

/// Letters whose spoken name starts with a vowel sound (for initialisms: "an LCD").
const VOWEL_SOUND_LETTERS: &str = "AEFHILMNORSX";

/// "a" or "an" for a noun phrase, by its first sound: initialisms by the name of their first
/// letter ("a TV", "an LCD"), the table's exceptions ("an hour", "a unit", "a one-seater"),
/// otherwise by the first letter.
pub fn article(phrase: &str) -> &'static str {
    let first = phrase.split([' ', '-']).next().unwrap_or("");
    let letters: Vec<char> = first.chars().filter(|c| c.is_alphanumeric()).collect();
    let Some(&c0) = letters.first() else {
        return "a";
    };
    if c0.is_ascii_digit() {
        // "an 8-inch ...", "an 11 ...", "an 18 ..."; otherwise "a".
        let eight = first.starts_with('8') || first == "11" || first == "18";
        return if eight { "an" } else { "a" };
    }
    let initialism = letters.len() > 1 && letters.iter().all(|c| c.is_ascii_uppercase());
    let letter_name = letters.len() == 1 || initialism;
    if letter_name {
        return if VOWEL_SOUND_LETTERS.contains(c0.to_ascii_uppercase()) {
            "an"
        } else {
            "a"
        };
    }
    let lower = first.to_lowercase();
    let tables = language();
    if tables
        .an_words
        .iter()
        .any(|w| lower.starts_with(w.as_str()))
    {
        return "an";
    }
    if tables.a_words.iter().any(|w| lower.starts_with(w.as_str())) {
        return "a";
    }
    if "aeiou".contains(c0.to_ascii_lowercase()) {
        "an"
    } else {
        "a"
    }
}

/// `phrase` with its indefinite article: "an ottoman", "a TV stand".
pub fn with_article(phrase: &str) -> String {
    format!("{} {phrase}", article(phrase))
}

/// English plural of a display name: the head of "X of Y" ("chests of drawers", "pairs of
/// headphones"), irregular last words from the table ("bookshelves", "mice"), then the
/// regular rules (-es after s, x, ch, sh, z; consonant + y -> -ies; else -s).
pub fn plural(label: &str) -> String {
    if let Some((head, tail)) = label.split_once(" of ") {
        return format!("{} of {tail}", plural(head));
    }
    let last = label.rsplit(' ').next().unwrap_or(label);
    let stem = &label[..label.len() - last.len()];
    let lower = last.to_lowercase();
    if let Some(p) = language().plurals.get(&lower) {
        return format!("{stem}{p}");
    }
    // Compound last words ("bookshelf" is listed; "wallshelf" ends with a listed word).
    if let Some((s, p)) = language()
        .plurals
        .iter()
        .filter(|(s, _)| lower.ends_with(s.as_str()) && s.len() >= 4)
        .max_by_key(|(s, _)| s.len())
    {
        return format!("{stem}{}{p}", &last[..last.len() - s.len()]);
    }
    if last.chars().all(|c| c.is_ascii_uppercase()) && last.len() > 1 {
        return format!("{label}s"); // TVs, CDs
    }
    let ends = |s: &str| lower.ends_with(s);
    if ends("s") || ends("x") || ends("ch") || ends("sh") || ends("z") {
        format!("{label}es")
    } else if ends("y") && !["ay", "ey", "iy", "oy", "uy"].iter().any(|v| ends(v)) {
        format!("{}ies", &label[..label.len() - 1])
    } else {
        format!("{label}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_fix_raw_labels() {
        assert_eq!(display_name("trashcan"), "trash can");
        assert_eq!(display_name("tv"), "TV");
        assert_eq!(display_name("TV_stand"), "TV stand");
        assert_eq!(display_name("  Office   Chair "), "office chair");
        assert_eq!(display_name("headphones"), "pair of headphones");
    }

    #[test]
    fn articles_follow_the_sound() {
        for (phrase, a) in [
            ("ottoman", "an"),
            ("chair", "a"),
            ("umbrella", "an"),
            ("unicorn", "a"),
            ("utensil holder", "a"),
            ("urn", "an"),
            ("hour hand", "an"),
            ("heater", "a"),
            ("TV stand", "a"),
            ("LCD monitor", "an"),
            ("x-ray viewer", "an"),
            ("one-seater sofa", "a"),
            ("euro pallet", "a"),
            ("easel", "an"),
            ("8-inch plate", "an"),
            ("ice bucket", "an"),
        ] {
            assert_eq!(article(phrase), a, "{phrase}");
        }
    }

    #[test]
    fn plurals_regular_and_irregular() {
        for (s, p) in [
            ("box", "boxes"),
            ("chest of drawers", "chests of drawers"),
            ("pair of headphones", "pairs of headphones"),
            ("bookshelf", "bookshelves"),
            ("shelf", "shelves"),
            ("person", "people"),
            ("computer mouse", "computer mice"),
            ("couch", "couches"),
            ("toy", "toys"),
            ("battery", "batteries"),
            ("TV", "TVs"),
            ("knife", "knives"),
            ("piano", "pianos"),
            ("glass", "glasses"),
            ("bus", "buses"),
        ] {
            assert_eq!(plural(s), p, "{s}");
        }
    }

    #[test]
    fn the_tables_parse_and_every_known_label_has_a_countable_name() {
        let t = language();
        assert!(t.known_labels.len() >= 200);
        for label in &t.known_labels {
            let name = display_name(label);
            assert!(!name.is_empty() && !name.contains("  "), "{label}");
            assert_ne!(plural(&name), name, "{label}: `{name}` has no plural form");
        }
    }
}
