//! One number at a token: digits, decimals, fractions and number words.

use super::tokens::{sym_at, word_at, Tok};
use super::units::unit_at;

fn word_number(w: &str) -> Option<(f64, bool)> {
    // (value, is_multiplier_or_tens)
    let v = match w {
        "zero" | "none" => 0.0,
        "one" | "single" => 1.0,
        "two" | "couple" | "pair" => 2.0,
        "three" => 3.0,
        "four" => 4.0,
        "five" => 5.0,
        "six" => 6.0,
        "seven" => 7.0,
        "eight" => 8.0,
        "nine" => 9.0,
        "ten" => 10.0,
        "eleven" => 11.0,
        "twelve" | "dozen" => 12.0,
        "thirteen" => 13.0,
        "fourteen" => 14.0,
        "fifteen" => 15.0,
        "sixteen" => 16.0,
        "seventeen" => 17.0,
        "eighteen" => 18.0,
        "nineteen" => 19.0,
        "twenty" => return Some((20.0, true)),
        "thirty" => return Some((30.0, true)),
        "forty" => return Some((40.0, true)),
        "fifty" => return Some((50.0, true)),
        "sixty" => return Some((60.0, true)),
        "seventy" => return Some((70.0, true)),
        "eighty" => return Some((80.0, true)),
        "ninety" => return Some((90.0, true)),
        _ => return None,
    };
    Some((v, false))
}

/// A number found in the token list, with where it ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct NumAt {
    pub(super) value: f64,
    pub(super) start: usize,
    pub(super) end: usize, // exclusive
}

/// Reads one number starting at `i`: digits, decimals, fractions (`3/4`, `1 1/2`), number
/// words (`twenty-one`, `one hundred and five`, `a dozen`, `half`, `one and a half`).
pub(super) fn number_at(toks: &[Tok], i: usize) -> Option<NumAt> {
    match toks.get(i)? {
        Tok::Num(v) => {
            let mut value = *v;
            let mut end = i + 1;
            // fraction a/b
            if sym_at(toks, end) == Some('/') {
                if let Some(Tok::Num(d)) = toks.get(end + 1) {
                    if *d != 0.0 && v.fract() == 0.0 && d.fract() == 0.0 {
                        value = v / d;
                        end += 2;
                        return Some(NumAt {
                            value,
                            start: i,
                            end,
                        });
                    }
                }
            }
            // mixed number "1 1/2"
            if let (Some(Tok::Num(n)), Some('/'), Some(Tok::Num(d))) =
                (toks.get(end), sym_at(toks, end + 1), toks.get(end + 2))
            {
                if *d != 0.0 && n < d && v.fract() == 0.0 && n.fract() == 0.0 {
                    value += n / d;
                    end += 3;
                }
            }
            // "1 and a half"
            if word_at(toks, end) == Some("and")
                && word_at(toks, end + 1) == Some("a")
                && word_at(toks, end + 2) == Some("half")
            {
                value += 0.5;
                end += 3;
            }
            // "2 dozen"
            if word_at(toks, end) == Some("dozen") {
                value *= 12.0;
                end += 1;
            }
            Some(NumAt {
                value,
                start: i,
                end,
            })
        }
        Tok::Word(w) => {
            let w = w.as_str();
            // "half a meter", "a half", "a dozen", "a quarter"
            if w == "half" {
                let end = if word_at(toks, i + 1) == Some("a") || word_at(toks, i + 1) == Some("an")
                {
                    i + 2
                } else {
                    i + 1
                };
                return Some(NumAt {
                    value: 0.5,
                    start: i,
                    end,
                });
            }
            if w == "a" || w == "an" {
                match word_at(toks, i + 1) {
                    Some("dozen") => {
                        return Some(NumAt {
                            value: 12.0,
                            start: i,
                            end: i + 2,
                        })
                    }
                    Some("half") => {
                        return Some(NumAt {
                            value: 0.5,
                            start: i,
                            end: i + 2,
                        })
                    }
                    Some("quarter") => {
                        return Some(NumAt {
                            value: 0.25,
                            start: i,
                            end: i + 2,
                        })
                    }
                    _ if unit_at(toks, i + 1).is_some() => {
                        // "a foot", "an inch": one of the unit that follows
                        return Some(NumAt {
                            value: 1.0,
                            start: i,
                            end: i + 1,
                        });
                    }
                    Some("couple") | Some("pair") => {
                        let end = if word_at(toks, i + 2) == Some("of") {
                            i + 3
                        } else {
                            i + 2
                        };
                        return Some(NumAt {
                            value: 2.0,
                            start: i,
                            end,
                        });
                    }
                    _ => return None,
                }
            }
            if w == "couple" || w == "pair" || w == "none" || w == "single" || w == "dozen" {
                // only as counts after "a" or standalone "none"/"single"
                if w == "none" || w == "single" {
                    return Some(NumAt {
                        value: word_number(w)?.0,
                        start: i,
                        end: i + 1,
                    });
                }
                return None;
            }
            let (mut value, tens) = word_number(w)?;
            let mut end = i + 1;
            if tens {
                // twenty-one / twenty one
                let j = if sym_at(toks, end) == Some('-') {
                    end + 1
                } else {
                    end
                };
                if let Some((u, false)) = word_at(toks, j).and_then(word_number) {
                    if (1.0..10.0).contains(&u) {
                        value += u;
                        end = j + 1;
                    }
                }
            }
            if word_at(toks, end) == Some("hundred") {
                value *= 100.0;
                end += 1;
                let j = if word_at(toks, end) == Some("and") {
                    end + 1
                } else {
                    end
                };
                if let Some(rest) = word_at(toks, j)
                    .and_then(word_number)
                    .and_then(|_| number_at(toks, j))
                {
                    if rest.value < 100.0 {
                        value += rest.value;
                        end = rest.end;
                    }
                }
            }
            if word_at(toks, end) == Some("and")
                && word_at(toks, end + 1) == Some("a")
                && word_at(toks, end + 2) == Some("half")
            {
                value += 0.5;
                end += 3;
            } else if word_at(toks, end) == Some("dozen") {
                value *= 12.0;
                end += 1;
            } else if word_at(toks, end) == Some("point") {
                // "one point five"
                let mut frac = String::new();
                let mut j = end + 1;
                while let Some((d, false)) = word_at(toks, j).and_then(word_number) {
                    if d >= 10.0 {
                        break;
                    }
                    frac.push(char::from(b'0' + d as u8));
                    j += 1;
                }
                if !frac.is_empty() {
                    if let Ok(f) = format!("0.{frac}").parse::<f64>() {
                        value += f;
                        end = j;
                    }
                }
            }
            Some(NumAt {
                value,
                start: i,
                end,
            })
        }
        Tok::Sym(_) => None,
    }
}
