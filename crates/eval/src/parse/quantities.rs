//! Numbers with their units: ranges, feet and inches, and groups sharing one unit.

use super::numbers::number_at;
use super::tokens::{sym_at, word_at, Tok};
use super::units::{unit_at, Unit};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::tokenize;

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
}
