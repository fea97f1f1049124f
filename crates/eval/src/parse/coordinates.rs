//! Normalised image coordinates in answers: `(x, y)`, `[x, y]`, `x = .., y = ..`.

use super::tokens::{sym_at, word_at, Tok};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::tokenize;

    #[test]
    fn coordinates_in_brackets_and_equations() {
        assert_eq!(
            coordinates(&tokenize("at (0.45, 0.62).")),
            vec![(0.45, 0.62)]
        );
        assert_eq!(coordinates(&tokenize("[0.1,0.2]")), vec![(0.1, 0.2)]);
        assert_eq!(coordinates(&tokenize("x = 0.3, y = 0.4")), vec![(0.3, 0.4)]);
        assert_eq!(coordinates(&tokenize("(45%, 62%)")), vec![(0.45, 0.62)]);
    }
}
