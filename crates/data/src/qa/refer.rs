//! Unambiguous references to objects without a VLM: "the chair" when the label is unique among
//! the instances visible in the view, else "the white chair" (the basic colour covering most
//! of the object's pixels in the image, [`crate::qa::colors`]), "the
//! larger chair" / "the largest chair" (volume of the gravity-aligned box), or "the leftmost
//! chair" (mask centroid x). A reference is used only when [`resolve`], an independent reading
//! of the phrase, finds exactly the intended instance among *all* visible instances of the
//! label (also those that selection rejected: an occluded look-alike is still in the image).

use crate::qa::colors::{ColorShares, BASIC_COLORS};
use crate::scene::InstanceId;

/// One instance visible in a view, with what references may say about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub id: InstanceId,
    pub label: String,
    /// The basic colours of the instance's pixels in the view's image; `None` when the image
    /// was not looked at (the label is unique in the view, so no colour is needed).
    pub colors: Option<ColorShares>,
    pub volume_m3: f64,
    /// Normalised x of the mask centroid.
    pub centroid_x: f64,
}

/// Margins that make size and position attributes clear-cut.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReferMargins {
    /// "larger": volume at least `1 + size` times every other's.
    pub size: f64,
    /// "leftmost": centroid x at least `position` smaller than every other's.
    pub position: f64,
}

/// The instances of `candidates` that `phrase` designates (empty when the phrase is not of a
/// recognised form). The reference is unambiguous exactly when one id comes back.
pub fn resolve(candidates: &[Candidate], phrase: &str, margins: ReferMargins) -> Vec<InstanceId> {
    let Some(rest) = phrase.strip_prefix("the ") else {
        return Vec::new();
    };
    // The longest label that ends the phrase (labels may have several words).
    let mut best: Option<(&str, &str)> = None;
    for c in candidates {
        let label = c.label.as_str();
        let attribute = if rest == label {
            Some("")
        } else {
            rest.strip_suffix(label)
                .and_then(|head| head.strip_suffix(' '))
        };
        if let Some(attribute) = attribute {
            if best.is_none_or(|(l, _)| label.len() > l.len()) {
                best = Some((label, attribute));
            }
        }
    }
    let Some((label, attribute)) = best else {
        return Vec::new();
    };
    let same: Vec<&Candidate> = candidates.iter().filter(|c| c.label == label).collect();
    let dominates =
        |c: &Candidate, key: &dyn Fn(&Candidate) -> f64, margin_ok: &dyn Fn(f64, f64) -> bool| {
            same.iter()
                .filter(|o| o.id != c.id)
                .all(|o| margin_ok(key(c), key(o)))
        };
    let size_key = |c: &Candidate| c.volume_m3;
    let x_key = |c: &Candidate| c.centroid_x;
    let larger = |a: f64, b: f64| a >= b * (1.0 + margins.size);
    let smaller = |a: f64, b: f64| b >= a * (1.0 + margins.size);
    let lefter = |a: f64, b: f64| a + margins.position <= b;
    let righter = |a: f64, b: f64| a >= b + margins.position;
    let matched: Vec<InstanceId> = same
        .iter()
        .filter(|c| match attribute {
            "" => true,
            "larger" | "largest" => dominates(c, &size_key, &larger),
            "smaller" | "smallest" => dominates(c, &size_key, &smaller),
            "leftmost" => dominates(c, &x_key, &lefter),
            "rightmost" => dominates(c, &x_key, &righter),
            // A colour designates every object that could be called so (or whose colour is
            // not known): "the white chair" is ambiguous next to a half-white chair.
            colour if BASIC_COLORS.iter().any(|(n, _)| *n == colour) => {
                c.colors.as_ref().is_none_or(|s| s.could_be(colour))
            }
            _ => false,
        })
        .map(|c| c.id)
        .collect();
    // "larger" is only said of two, "largest" of three or more.
    let comparative_ok = match attribute {
        "larger" | "smaller" => same.len() == 2,
        "largest" | "smallest" => same.len() >= 3,
        _ => true,
    };
    if comparative_ok {
        matched
    } else {
        Vec::new()
    }
}

/// A phrase that designates `id` and nothing else among `candidates`, trying in order: the bare
/// label, the colour, the size, the position. `None` when no attribute makes it unique.
pub fn describe(candidates: &[Candidate], id: InstanceId, margins: ReferMargins) -> Option<String> {
    let target = candidates.iter().find(|c| c.id == id)?;
    let n_same = candidates
        .iter()
        .filter(|c| c.label == target.label)
        .count();
    let (bigger, smaller) = if n_same == 2 {
        ("larger", "smaller")
    } else {
        ("largest", "smallest")
    };
    let colour = target
        .colors
        .as_ref()
        .and_then(ColorShares::dominant)
        .unwrap_or("");
    // An unknown colour is "": the bare label again, already tried.
    let attributes = ["", colour, bigger, smaller, "leftmost", "rightmost"];
    attributes.iter().find_map(|attribute| {
        let phrase = if attribute.is_empty() {
            format!("the {}", target.label)
        } else {
            format!("the {attribute} {}", target.label)
        };
        (resolve(candidates, &phrase, margins) == [id]).then_some(phrase)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: ReferMargins = ReferMargins {
        size: 0.15,
        position: 0.05,
    };

    /// A candidate whose pixels are all of one basic colour.
    fn cand(id: u32, label: &str, color: &'static str, volume: f64, x: f64) -> Candidate {
        let shares = BASIC_COLORS
            .iter()
            .map(|(n, _)| if *n == color { 1.0 } else { 0.0 })
            .collect();
        Candidate {
            id: InstanceId(id),
            label: label.into(),
            colors: Some(ColorShares {
                pixels: 1000,
                shares,
            }),
            volume_m3: volume,
            centroid_x: x,
        }
    }

    fn check(candidates: &[Candidate], id: u32, expected: Option<&str>) {
        let got = describe(candidates, InstanceId(id), M);
        assert_eq!(got.as_deref(), expected);
        if let Some(phrase) = got {
            assert_eq!(resolve(candidates, &phrase, M), vec![InstanceId(id)]);
        }
    }

    #[test]
    fn references_use_the_first_attribute_that_is_unique() {
        let c = [
            cand(1, "chair", "white", 0.2, 0.2),
            cand(2, "chair", "black", 0.2, 0.5),
            cand(3, "coffee table", "brown", 0.3, 0.5),
            cand(4, "table", "brown", 0.5, 0.1),
        ];
        check(&c, 1, Some("the white chair"));
        check(&c, 2, Some("the black chair"));
        check(&c, 3, Some("the coffee table"));
        check(&c, 4, Some("the table"));
        let same_colour = [
            cand(1, "chair", "white", 0.2, 0.2),
            cand(2, "chair", "white", 0.4, 0.5),
        ];
        check(&same_colour, 1, Some("the smaller chair"));
        check(&same_colour, 2, Some("the larger chair"));
        let same_size = [
            cand(1, "box", "white", 0.2, 0.2),
            cand(2, "box", "white", 0.21, 0.5),
            cand(3, "box", "white", 0.205, 0.52),
        ];
        check(&same_size, 1, Some("the leftmost box"));
        check(&same_size, 2, None);
        check(&same_size, 3, None);
        assert!(resolve(&same_size, "the box", M).len() == 3);
        assert!(resolve(&same_size, "a box", M).is_empty());
        assert!(resolve(&same_size, "the teal box", M).is_empty());
    }

    #[test]
    fn a_colour_is_not_used_when_another_object_could_be_called_so() {
        let mut c = [
            cand(1, "chair", "white", 0.2, 0.2),
            cand(2, "chair", "red", 0.2, 0.5),
        ];
        check(&c, 1, Some("the white chair"));
        // Chair 2 turns out to be 30 % white: "the white chair" could mean either.
        let white = BASIC_COLORS
            .iter()
            .position(|(n, _)| *n == "white")
            .unwrap();
        let red = BASIC_COLORS.iter().position(|(n, _)| *n == "red").unwrap();
        let shares = &mut c[1].colors.as_mut().unwrap().shares;
        (shares[white], shares[red]) = (0.3, 0.7);
        check(&c, 1, Some("the leftmost chair"));
        check(&c, 2, Some("the red chair"));
        // An object whose colour was not seen could be any colour.
        c[1].colors = None;
        check(&c, 1, Some("the leftmost chair"));
        check(&c, 2, Some("the rightmost chair"));
    }
}
