//! Unit-aware answer parsing: numbers (digits, words, fractions, ranges), length units and
//! their combinations, L x W x H triples, coordinates, yes/no polarity and object mentions.
//!
//! Everything works on a token list of the lower-cased text ([`tokenize`]); no regex, no
//! allocation per character. Lengths come back in metres with the MSMU scorer's factors
//! (1 in = 0.0254 m, 1 ft = 0.3048 m, 1 cm = 0.01 m).

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

/// One token of lower-cased text.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A decimal number written with digits.
    Num(f64),
    /// A word (letters, digits, apostrophes and inner hyphens removed: `twenty-one` is two
    /// words `twenty`, `one` joined by a `-` symbol).
    Word(String),
    /// Any other non-space character (punctuation, `x`, `'`, `"`, `(`, ...).
    Sym(char),
}

/// Lower-cased tokens of `text`. Thousands separators (`1,200`) are joined; `5'3"` gives
/// `5 ' 3 "`; `1.2x0.8` gives `1.2 x 0.8`; `1/2` stays `1 / 2` (fractions are read later).
pub fn tokenize(text: &str) -> Vec<Tok> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit()
            || (c == '.' && i + 1 < chars.len() && chars[i + 1].is_ascii_digit() && {
                // ".5" but not "3.5" (handled in the digit branch) nor "end.5".
                i == 0 || !chars[i - 1].is_alphanumeric()
            })
        {
            let mut s = String::new();
            let mut seen_dot = false;
            while i < chars.len() {
                let d = chars[i];
                if d.is_ascii_digit() {
                    s.push(d);
                } else if d == '.'
                    && !seen_dot
                    && i + 1 < chars.len()
                    && chars[i + 1].is_ascii_digit()
                {
                    seen_dot = true;
                    s.push('.');
                } else if d == ','
                    && !seen_dot
                    && chars[i + 1..].len() >= 3
                    && chars[i + 1..i + 4].iter().all(|c| c.is_ascii_digit())
                    && chars.get(i + 4).is_none_or(|c| !c.is_ascii_digit())
                    && !s.is_empty()
                    && s.len() <= 3
                {
                    // 1,200 -> 1200 (but "0.5,0.6" and "(1,2)" stay apart).
                    i += 1;
                    continue;
                } else {
                    break;
                }
                i += 1;
            }
            let s = if s.starts_with('.') {
                format!("0{s}")
            } else {
                s
            };
            if let Ok(v) = s.parse() {
                out.push(Tok::Num(v));
            }
            continue;
        } else if c.is_alphabetic() {
            let mut s = String::new();
            while i < chars.len() {
                let d = chars[i];
                if d.is_alphabetic() {
                    s.extend(d.to_lowercase());
                } else if (d == '\'' || d == '’')
                    && i + 1 < chars.len()
                    && chars[i + 1].is_alphabetic()
                    && !s.is_empty()
                {
                    // isn't, there's: keep the apostrophe inside the word
                    s.push('\'');
                } else {
                    break;
                }
                i += 1;
            }
            out.push(Tok::Word(s));
            continue;
        } else if !c.is_whitespace() {
            let c = match c {
                '’' | '′' | '‘' => '\'',
                '”' | '″' | '“' => '"',
                '×' | '*' => 'x',
                '–' | '—' | '−' => '-',
                other => other,
            };
            if c == 'x' {
                out.push(Tok::Word("x".into()));
            } else {
                out.push(Tok::Sym(c));
            }
        }
        i += 1;
    }
    out
}

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
struct NumAt {
    value: f64,
    start: usize,
    end: usize, // exclusive
}

fn word_at(toks: &[Tok], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    }
}

fn sym_at(toks: &[Tok], i: usize) -> Option<char> {
    match toks.get(i) {
        Some(Tok::Sym(c)) => Some(*c),
        _ => None,
    }
}

/// Reads one number starting at `i`: digits, decimals, fractions (`3/4`, `1 1/2`), number
/// words (`twenty-one`, `one hundred and five`, `a dozen`, `half`, `one and a half`).
fn number_at(toks: &[Tok], i: usize) -> Option<NumAt> {
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
fn unit_at(toks: &[Tok], i: usize) -> Option<(Unit, usize)> {
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

/// One number with the unit written after it (if any).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub unit: Option<Unit>,
    /// Token range, for grouping.
    pub start: usize,
    pub end: usize,
}

impl Quantity {
    /// Value in metres, with `default` for a bare number.
    pub fn metres(&self, default: Unit) -> f64 {
        self.value * self.unit.unwrap_or(default).metres()
    }
}

/// Connectors that continue a group of numbers sharing one unit (`1.2 x 0.8 x 0.75 m`,
/// `0.4 and 0.6 m`, `1.2-1.5 m`).
fn is_connector(t: &Tok) -> bool {
    match t {
        Tok::Word(w) => matches!(w.as_str(), "x" | "by" | "and" | "to" | "or"),
        Tok::Sym(c) => matches!(c, ',' | '-' | '/' | ';'),
        Tok::Num(_) => false,
    }
}

/// Every number of the text with its unit: ranges become their midpoint, `5 ft 3 in` and
/// `5'3"` one length, and a bare number followed (through connectors) by a number with a
/// unit takes that unit (`1.2 x 0.8 x 0.75 m`).
pub fn quantities(toks: &[Tok]) -> Vec<Quantity> {
    let mut raw: Vec<Quantity> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        // "between A and B": range marker
        let between = word_at(toks, i) == Some("between");
        if between {
            if let Some(a) = number_at(toks, i + 1) {
                let (ua, ea) = match unit_at(toks, a.end) {
                    Some((u, n)) => (Some(u), a.end + n),
                    None => (None, a.end),
                };
                if word_at(toks, ea) == Some("and") {
                    if let Some(b) = number_at(toks, ea + 1) {
                        let (ub, eb) = match unit_at(toks, b.end) {
                            Some((u, n)) => (Some(u), b.end + n),
                            None => (None, b.end),
                        };
                        let unit = ub.or(ua);
                        let ua = ua.or(ub);
                        let va = a.value * ua.map_or(1.0, Unit::metres);
                        let vb = b.value * unit.map_or(1.0, Unit::metres);
                        let mid = (va + vb) / 2.0 / unit.map_or(1.0, Unit::metres);
                        raw.push(Quantity {
                            value: mid,
                            unit,
                            start: i,
                            end: eb,
                        });
                        i = eb;
                        continue;
                    }
                }
            }
        }
        if let Some(n) = number_at(toks, i) {
            let mut q = Quantity {
                value: n.value,
                unit: None,
                start: n.start,
                end: n.end,
            };
            if let Some((u, len)) = unit_at(toks, n.end) {
                q.unit = Some(u);
                q.end = n.end + len;
            }
            // range "A-B", "A to B" (same unit), only when B > A
            let mut j = q.end;
            let dash = sym_at(toks, j) == Some('-') || word_at(toks, j) == Some("to");
            if dash {
                if let Some(b) = number_at(toks, j + 1) {
                    let (ub, eb) = match unit_at(toks, b.end) {
                        Some((u, len)) => (Some(u), b.end + len),
                        None => (None, b.end),
                    };
                    let same = q.unit.is_none() || ub.is_none() || q.unit == ub;
                    let ua = q.unit.or(ub);
                    if same && b.value > q.value && ub.is_some()
                        || same
                            && ua.is_none()
                            && b.value > q.value
                            && word_at(toks, j) == Some("to")
                    {
                        let unit = ub.or(q.unit);
                        raw.push(Quantity {
                            value: (q.value + b.value) / 2.0,
                            unit,
                            start: q.start,
                            end: eb,
                        });
                        i = eb;
                        continue;
                    }
                }
            }
            // 5 ft 3 in, 5'3", 5 feet and 3 inches
            if q.unit == Some(Unit::Foot) {
                j = q.end;
                if word_at(toks, j) == Some("and") || sym_at(toks, j) == Some(',') {
                    j += 1;
                }
                if let Some(b) = number_at(toks, j) {
                    if let Some((Unit::Inch, len)) = unit_at(toks, b.end).or_else(|| {
                        // 5'3 (inch mark missing)
                        (sym_at(toks, q.end - 1) == Some('\'')
                            && j == q.end
                            && b.value < 12.0
                            && !matches!(toks.get(b.end), Some(Tok::Word(w)) if Unit::from_word(w).is_some()))
                        .then_some((Unit::Inch, 0))
                    }) {
                        raw.push(Quantity {
                            value: (q.value * Unit::Foot.metres() + b.value * Unit::Inch.metres())
                                / Unit::Foot.metres(),
                            unit: Some(Unit::Foot),
                            start: q.start,
                            end: b.end + len,
                        });
                        i = b.end + len;
                        continue;
                    }
                }
            }
            i = q.end;
            raw.push(q);
            continue;
        }
        i += 1;
    }
    // A bare number takes the unit of the next number when only connectors lie between.
    for k in (0..raw.len()).rev() {
        if raw[k].unit.is_none() && k + 1 < raw.len() {
            let next = raw[k + 1];
            let gap = &toks[raw[k].end..next.start];
            if next.unit.is_some()
                && !gap.is_empty()
                && gap.len() <= 2
                && gap.iter().all(is_connector)
            {
                raw[k].unit = next.unit;
            }
        }
    }
    raw
}

/// Normalised image coordinates `(x, y)` / `[x, y]` / `x = .., y = ..` in the text, in order.
pub fn coordinates(toks: &[Tok]) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if matches!(sym_at(toks, i), Some('(') | Some('[')) {
            let num = |j: usize| -> Option<(f64, bool, usize)> {
                let Some(Tok::Num(v)) = toks.get(j) else {
                    return None;
                };
                let pct = sym_at(toks, j + 1) == Some('%');
                Some((*v, pct, j + 1 + usize::from(pct)))
            };
            if let Some((x, px, j)) = num(i + 1) {
                if sym_at(toks, j) == Some(',') {
                    if let Some((y, py, k)) = num(j + 1) {
                        let (x, y) = if px || py {
                            (x / 100.0, y / 100.0)
                        } else {
                            (x, y)
                        };
                        out.push((x, y));
                        i = k;
                        continue;
                    }
                }
            }
        }
        if word_at(toks, i) == Some("x") && matches!(sym_at(toks, i + 1), Some('=') | Some(':')) {
            if let Some(Tok::Num(x)) = toks.get(i + 2) {
                let mut j = i + 3;
                while j < toks.len() && j < i + 6 && word_at(toks, j) != Some("y") {
                    j += 1;
                }
                if word_at(toks, j) == Some("y")
                    && matches!(sym_at(toks, j + 1), Some('=') | Some(':'))
                {
                    if let Some(Tok::Num(y)) = toks.get(j + 2) {
                        out.push((*x, *y));
                        i = j + 3;
                        continue;
                    }
                }
            }
        }
        i += 1;
    }
    if out.is_empty() {
        // bare "0.45, 0.62"
        let nums: Vec<f64> = toks
            .iter()
            .filter_map(|t| match t {
                Tok::Num(v) => Some(*v),
                _ => None,
            })
            .collect();
        if nums.len() == 2 && nums.iter().all(|v| (0.0..=1.0).contains(v)) {
            out.push((nums[0], nums[1]));
        }
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn metres(text: &str) -> Vec<f64> {
        quantities(&tokenize(text))
            .iter()
            .map(|q| (q.metres(Unit::Metre) * 1e6).round() / 1e6)
            .collect()
    }

    #[test]
    fn digits_and_units() {
        assert_eq!(metres("It is 1.5 m tall."), vec![1.5]);
        assert_eq!(metres("About 45 cm."), vec![0.45]);
        assert_eq!(metres("450mm"), vec![0.45]);
        assert_eq!(metres("2 feet"), vec![0.6096]);
        assert_eq!(metres("10 inches wide"), vec![0.254]);
        assert_eq!(metres("10 in wide"), vec![0.254]);
        assert_eq!(metres("10 in."), vec![0.254]);
        assert_eq!(metres("3 in the image"), vec![3.0]);
        assert_eq!(metres(".5 metres"), vec![0.5]);
        assert_eq!(metres("1,200 mm"), vec![1.2]);
    }

    #[test]
    fn words_fractions_ranges() {
        assert_eq!(metres("three meters"), vec![3.0]);
        assert_eq!(metres("twenty-one centimeters"), vec![0.21]);
        assert_eq!(metres("twenty one cm"), vec![0.21]);
        assert_eq!(metres("one hundred and five cm"), vec![1.05]);
        assert_eq!(metres("a dozen"), vec![12.0]);
        assert_eq!(metres("half a meter"), vec![0.5]);
        assert_eq!(metres("one and a half meters"), vec![1.5]);
        assert_eq!(metres("3/4 m"), vec![0.75]);
        assert_eq!(metres("1 1/2 feet"), vec![0.4572]);
        assert_eq!(metres("between 1.2 and 1.5 m"), vec![1.35]);
        assert_eq!(metres("1.2-1.5 m"), vec![1.35]);
        assert_eq!(metres("1.2 to 1.5 meters"), vec![1.35]);
        assert_eq!(metres("one point five meters"), vec![1.5]);
    }

    #[test]
    fn combinations_and_triples() {
        assert_eq!(metres("5 ft 3 in"), vec![1.6002]);
        assert_eq!(metres("5'3\""), vec![1.6002]);
        assert_eq!(metres("5 feet and 3 inches"), vec![1.6002]);
        assert_eq!(metres("1.2 x 0.8 x 0.75 m"), vec![1.2, 0.8, 0.75]);
        assert_eq!(metres("1.2x0.8x0.75m"), vec![1.2, 0.8, 0.75]);
        assert_eq!(metres("120 by 80 by 75 cm"), vec![1.2, 0.8, 0.75]);
        assert_eq!(
            metres("length 1.2 m, width 80 cm, height 0.75 m"),
            vec![1.2, 0.8, 0.75]
        );
        assert_eq!(metres("0.4 and 0.6 m"), vec![0.4, 0.6]);
    }

    #[test]
    fn coordinates_and_polarity() {
        assert_eq!(
            coordinates(&tokenize("at (0.45, 0.62).")),
            vec![(0.45, 0.62)]
        );
        assert_eq!(coordinates(&tokenize("[0.1,0.2]")), vec![(0.1, 0.2)]);
        assert_eq!(coordinates(&tokenize("x = 0.3, y = 0.4")), vec![(0.3, 0.4)]);
        assert_eq!(coordinates(&tokenize("(45%, 62%)")), vec![(0.45, 0.62)]);
        assert_eq!(polarity(&tokenize("Yes, it is.")), Some(true));
        assert_eq!(polarity(&tokenize("No, it is not.")), Some(false));
        assert_eq!(polarity(&tokenize("It isn't to the left.")), Some(false));
        assert_eq!(polarity(&tokenize("The chair is to the left.")), None);
    }

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
