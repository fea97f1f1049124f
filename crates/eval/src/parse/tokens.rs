//! The token list every parser works on: numbers, lower-case words and symbols.

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

pub(super) fn word_at(toks: &[Tok], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    }
}

pub(super) fn sym_at(toks: &[Tok], i: usize) -> Option<char> {
    match toks.get(i) {
        Some(Tok::Sym(c)) => Some(*c),
        _ => None,
    }
}
