//! Length units in free text (`m`, `cm`, `feet`, `'`, `"`, `in` when it is not a preposition).

use super::tokens::Tok;

/// A length unit recognised in free text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Metre,
    Centimetre,
    Millimetre,
    Foot,
    Inch,
}

impl Unit {
    /// Metres in one unit.
    pub fn metres(self) -> f64 {
        match self {
            Unit::Metre => 1.0,
            Unit::Centimetre => 0.01,
            Unit::Millimetre => 0.001,
            Unit::Foot => 0.3048,
            Unit::Inch => 0.0254,
        }
    }

    /// The unit named by a word or symbol (`m`, `metres`, `ft`, `'`, `"`, ...). `in` is
    /// handled by the caller (it is also a preposition).
    pub fn from_word(word: &str) -> Option<Unit> {
        Some(match word {
            "m" | "meter" | "meters" | "metre" | "metres" | "mtr" | "mtrs" => Unit::Metre,
            "cm" | "cms" | "centimeter" | "centimeters" | "centimetre" | "centimetres" => {
                Unit::Centimetre
            }
            "mm" | "millimeter" | "millimeters" | "millimetre" | "millimetres" => Unit::Millimetre,
            "ft" | "feet" | "foot" | "'" | "’" => Unit::Foot,
            "inch" | "inches" | "\"" | "”" | "″" => Unit::Inch,
            _ => return None,
        })
    }
}

/// Words after `in` that make it a preposition rather than inches.
fn in_is_preposition(toks: &[Tok], i: usize) -> bool {
    match toks.get(i + 1) {
        Some(Tok::Word(w)) => !matches!(
            w.as_str(),
            "x" | "by"
                | "tall"
                | "high"
                | "wide"
                | "long"
                | "deep"
                | "thick"
                | "apart"
                | "away"
                | "across"
                | "and"
                | "or"
                | "to"
                | "from"
                | "for"
                | "in"
        ),
        Some(Tok::Num(_)) => false,
        _ => false,
    }
}

/// The unit at token `i`, and how many tokens it takes.
pub(super) fn unit_at(toks: &[Tok], i: usize) -> Option<(Unit, usize)> {
    match toks.get(i)? {
        Tok::Word(w) => {
            if w == "in" {
                if in_is_preposition(toks, i) {
                    return None;
                }
                return Some((Unit::Inch, 1));
            }
            if w == "square" || w == "cubic" || w == "sq" {
                return None;
            }
            Unit::from_word(w).map(|u| (u, 1))
        }
        Tok::Sym(c) => {
            let s = c.to_string();
            Unit::from_word(&s).map(|u| (u, 1))
        }
        Tok::Num(_) => None,
    }
}
