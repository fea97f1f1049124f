//! Yes/no answers: polarity and refusals.

use super::tokens::Tok;

/// Words of negation.
fn is_negation(w: &str) -> bool {
    matches!(
        w,
        "no" | "not"
            | "none"
            | "never"
            | "nothing"
            | "neither"
            | "nor"
            | "nope"
            | "cannot"
            | "absent"
            | "zero"
            | "without"
            | "nowhere"
            | "false"
            | "incorrect"
    ) || w.ends_with("n't")
}

/// Yes/no polarity of an answer: `Some(true)` for yes, `Some(false)` for no, `None` when it
/// says neither (a plain statement). A leading yes/no word decides; otherwise any negation.
pub fn polarity(toks: &[Tok]) -> Option<bool> {
    let first = toks
        .iter()
        .find_map(|t| match t {
            Tok::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .unwrap_or("");
    match first {
        "yes" | "yeah" | "yep" | "yup" | "correct" | "true" | "indeed" | "affirmative"
        | "certainly" | "absolutely" | "sure" => return Some(true),
        "no" | "nope" | "false" | "incorrect" | "negative" | "not" => return Some(false),
        _ => {}
    }
    let negated = toks.iter().any(|t| match t {
        Tok::Word(w) => is_negation(w),
        Tok::Num(v) => *v == 0.0,
        _ => false,
    });
    if negated {
        return Some(false);
    }
    let yes = toks.iter().any(|t| matches!(t, Tok::Word(w) if matches!(w.as_str(), "yes" | "yeah" | "correct" | "indeed")));
    yes.then_some(true)
}

/// Whether the text says nothing answerable (empty, "I don't know", "cannot determine").
pub fn is_refusal(text: &str) -> bool {
    let t = text.trim().to_lowercase();
    t.is_empty()
        || [
            "i don't know",
            "i do not know",
            "cannot determine",
            "can't determine",
            "unable to determine",
            "not possible to determine",
            "cannot be determined",
            "unknown",
            "n/a",
        ]
        .iter()
        .any(|p| t.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::tokenize;

    #[test]
    fn polarity_of_answers() {
        assert_eq!(polarity(&tokenize("Yes, it is.")), Some(true));
        assert_eq!(polarity(&tokenize("No, it is not.")), Some(false));
        assert_eq!(polarity(&tokenize("It isn't to the left.")), Some(false));
        assert_eq!(polarity(&tokenize("The chair is to the left.")), None);
    }
}
