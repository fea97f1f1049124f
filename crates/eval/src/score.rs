//! Judging one prediction against one bench item (MSMU.md section 3).
//!
//! - quantitative families: values in metres (counts as numbers), delta = max(p/g, g/p)
//!   averaged over positions, success when delta < 1.25 (also 1.25^2, 1.25^3), relative error;
//! - grounding: mean absolute coordinate difference <= 0.1, or the named object's label (or,
//!   with a sentence-embedding model, cosine similarity >= 0.5: [`crate::names`]);
//! - existence, relative position, scale comparison: yes/no polarity, or which of the
//!   question's objects the prediction names (an opposite relation word names the other one).

use serde::Serialize;

use super::parse::{
    content_words, coordinates, is_refusal, mention, names_label, object_phrases, opposite,
    polarity, quantities, relation_words, tokenize, Quantity, Tok, Unit,
};
use super::{is_quantitative, BenchItem};
use msmu_data::qa::Family;

/// The reference answer in checkable form.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Truth {
    /// Metres (lengths) or plain numbers (counts), in answer order.
    Values(Vec<f64>),
    Coords(f64, f64),
    YesNo(bool),
    /// An object phrase (`the white chair`).
    Object(String),
}

/// How the prediction was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParseStatus {
    Ok,
    /// Nothing of the expected kind found (empty answer, no number, no object, ...).
    Unparseable,
    /// Fewer values than the reference has.
    Partial,
    /// The reference answer itself could not be parsed; the item is not scored.
    NoTruth,
}

/// The verdict on one prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub success: bool,
    /// delta < 1.25^2 (quantitative); same as `success` otherwise.
    pub success_2: bool,
    /// delta < 1.25^3 (quantitative); same as `success` otherwise.
    pub success_3: bool,
    pub delta: Option<f64>,
    pub rel_err: Option<f64>,
    pub status: ParseStatus,
    pub gt_values: Vec<f64>,
    pub pred_values: Vec<f64>,
    /// Qualitative reference / prediction (`yes`, `no`, an object phrase).
    pub gt_key: Option<String>,
    pub pred_key: Option<String>,
    /// Cosine similarity of the reference and predicted object names, when a sentence-embedding
    /// model judged this object-name grounding item ([`crate::names`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
}

const T1: f64 = 1.25;

/// Unit asked for in a question (`... in centimeters`): the unit of bare numbers.
fn asked_unit(question: &str) -> Unit {
    let toks = tokenize(question);
    for (i, t) in toks.iter().enumerate() {
        if matches!(t, Tok::Word(w) if w == "in") {
            if let Some(Tok::Word(w)) = toks.get(i + 1) {
                if let Some(u) = Unit::from_word(w) {
                    return u;
                }
                if w == "inches" {
                    return Unit::Inch;
                }
            }
        }
    }
    Unit::Metre
}

/// Values of a quantitative answer: `n` numbers (metres for lengths). Uses the text after a
/// final-answer marker when it holds enough numbers, drops bare numbers when enough carry a
/// unit, drops echoes of the question's reference values, then keeps the first `n`.
pub fn extract_values(text: &str, family: Family, n: usize, question: &str) -> Vec<f64> {
    let toks = tokenize(text);
    if family == Family::Counting {
        let qs = quantities(&toks);
        if let Some(q) = qs.first() {
            return vec![q.value];
        }
        // "no chairs", "there is a chair"
        if polarity(&toks) == Some(false) {
            return vec![0.0];
        }
        let words: Vec<&str> = toks
            .iter()
            .filter_map(|t| match t {
                Tok::Word(w) => Some(w.as_str()),
                _ => None,
            })
            .collect();
        if words
            .windows(2)
            .any(|w| matches!(w[0], "is" | "only" | "just" | "see") && matches!(w[1], "a" | "an"))
        {
            return vec![1.0];
        }
        return Vec::new();
    }
    let n = n.max(1);
    let default = asked_unit(question);
    let mut qs = quantities(&toks);
    // Text after the last final-answer marker.
    let marker = toks
        .iter()
        .enumerate()
        .filter(|(i, t)| match t {
            Tok::Word(w) => {
                matches!(
                    w.as_str(),
                    "therefore" | "thus" | "hence" | "final" | "think"
                ) || (w == "answer" && i > &0)
                    || (w == "so" && *i > 0)
            }
            _ => false,
        })
        .map(|(i, _)| i)
        .next_back();
    if let Some(m) = marker {
        let tail: Vec<Quantity> = qs.iter().copied().filter(|q| q.start > m).collect();
        if tail.len() >= n {
            qs = tail;
        }
    }
    if qs.len() > n && qs.iter().filter(|q| q.unit.is_some()).count() >= n {
        qs.retain(|q| q.unit.is_some());
    }
    if qs.len() > n {
        let qv: Vec<f64> = quantities(&tokenize(question))
            .iter()
            .map(|q| q.metres(Unit::Metre))
            .collect();
        let mut k = 0;
        while k < qs.len() && qs.len() > n {
            let v = qs[k].metres(default);
            if qv.iter().any(|x| (x - v).abs() <= 1e-9 * x.abs().max(1.0)) {
                qs.remove(k);
            } else {
                k += 1;
            }
        }
    }
    qs.truncate(n);
    if n == 3 {
        reorder_lwh(&toks, &mut qs);
    }
    qs.iter().map(|q| q.metres(default)).collect()
}

/// Puts three labelled values (`height 0.75 m, length 1.2 m, width 0.6 m`, `1.2 m long`)
/// in length, width, height order; unlabelled or ambiguous answers keep their order.
fn reorder_lwh(toks: &[Tok], qs: &mut [Quantity]) {
    let slot = |w: &str| match w {
        "length" | "long" | "l" | "depth" | "deep" => Some(0),
        "width" | "wide" | "w" => Some(1),
        "height" | "tall" | "high" | "h" => Some(2),
        _ => None,
    };
    let mut slots = Vec::with_capacity(3);
    for q in qs.iter() {
        let before = toks[q.start.saturating_sub(3)..q.start]
            .iter()
            .rev()
            .find_map(|t| match t {
                Tok::Word(w) => slot(w),
                _ => None,
            });
        let after = match toks.get(q.end) {
            Some(Tok::Word(w)) => slot(w),
            _ => None,
        };
        slots.push(after.or(before));
    }
    let mut seen = [false; 3];
    for s in &slots {
        match s {
            Some(k) if !seen[*k] => seen[*k] = true,
            _ => return,
        }
    }
    let mut sorted: Vec<(usize, Quantity)> = slots
        .iter()
        .zip(qs.iter())
        .map(|(s, q)| (s.unwrap_or(0), *q))
        .collect();
    sorted.sort_by_key(|(s, _)| *s);
    for (dst, (_, q)) in qs.iter_mut().zip(sorted) {
        *dst = q;
    }
}

/// How many values a reference answer gives: the numbers with a unit after the last
/// final-answer marker (or in the whole text), less restatements of the question's values.
fn reference_count(toks: &[Tok], question: &str) -> usize {
    let qs = quantities(toks);
    let marker = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            matches!(t, Tok::Word(w) if matches!(w.as_str(), "therefore" | "thus" | "hence" | "final" | "answer" | "so" | "think"))
        })
        .map(|(i, _)| i)
        .next_back();
    let tail: Vec<Quantity> = match marker {
        Some(m) if qs.iter().any(|q| q.start > m && q.unit.is_some()) => {
            qs.iter().copied().filter(|q| q.start > m).collect()
        }
        _ => qs,
    };
    let qv: Vec<f64> = quantities(&tokenize(question))
        .iter()
        .map(|q| q.metres(Unit::Metre))
        .collect();
    let with_unit: Vec<&Quantity> = tail.iter().filter(|q| q.unit.is_some()).collect();
    if with_unit.is_empty() {
        return tail.len();
    }
    let fresh = with_unit
        .iter()
        .filter(|q| {
            let v = q.metres(Unit::Metre);
            !qv.iter().any(|x| (x - v).abs() <= 1e-9 * x.abs().max(1.0))
        })
        .count();
    if fresh > 0 {
        fresh
    } else {
        with_unit.len()
    }
}

/// Reference answer of an item: structured values where present, else parsed.
pub fn truth(item: &BenchItem) -> Option<Truth> {
    let family = item.family;
    if let Some(s) = &item.structured {
        let key = s
            .answer_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        match family {
            Family::Existence => {
                return Some(Truth::YesNo(matches!(key, Some("yes") | Some("present"))));
            }
            f if is_quantitative(f) && !s.values_si.is_empty() => {
                return Some(Truth::Values(s.values_si.clone()));
            }
            Family::Grounding if s.unit == "xy" && s.values_si.len() == 2 => {
                return Some(Truth::Coords(s.values_si[0], s.values_si[1]));
            }
            _ => match key {
                Some("yes") => return Some(Truth::YesNo(true)),
                Some("no") => return Some(Truth::YesNo(false)),
                Some(k) if !is_quantitative(family) => return Some(Truth::Object(k.to_string())),
                _ => {}
            },
        }
    }
    parse_truth(&item.answer, family, &item.question)
}

/// Reference from answer text alone.
pub fn parse_truth(answer: &str, family: Family, question: &str) -> Option<Truth> {
    let toks = tokenize(answer);
    match family {
        f if is_quantitative(f) => {
            // All values of the reference (after a final-answer marker when CoT).
            let n = if f == Family::Counting {
                1
            } else {
                reference_count(&toks, question)
            };
            let v = extract_values(answer, f, n, question);
            (!v.is_empty()).then_some(Truth::Values(v))
        }
        Family::Existence => Some(Truth::YesNo(polarity(&toks).unwrap_or(true))),
        Family::Grounding => {
            // (x, y) -> object: the reference may restate the point ("The object at
            // (0.42, 0.61) is the lamp.").
            if !coordinates(&tokenize(question)).is_empty() {
                let phrase = object_phrases(answer)
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| {
                        let mut rest = answer.to_string();
                        for (open, close) in [('(', ')'), ('[', ']')] {
                            while let (Some(a), Some(b)) = (rest.find(open), rest.find(close)) {
                                if b < a {
                                    break;
                                }
                                rest.replace_range(a..=b, " ");
                            }
                        }
                        rest
                    });
                if !content_words(&phrase).is_empty() {
                    return Some(Truth::Object(phrase));
                }
            }
            if let Some((x, y)) = coordinates(&toks).first() {
                return Some(Truth::Coords(*x, *y));
            }
            let phrase = object_phrases(answer)
                .into_iter()
                .next()
                .unwrap_or_else(|| answer.to_string());
            (!content_words(&phrase).is_empty()).then_some(Truth::Object(phrase))
        }
        _ => {
            if let Some(p) = polarity(&toks) {
                return Some(Truth::YesNo(p));
            }
            let candidates = object_phrases(question);
            if let Some(i) = named_candidate(answer, &candidates, question) {
                return Some(Truth::Object(candidates[i].clone()));
            }
            let phrase = object_phrases(answer)
                .into_iter()
                .next()
                .unwrap_or_else(|| answer.to_string());
            (!content_words(&phrase).is_empty()).then_some(Truth::Object(phrase))
        }
    }
}

/// Relation words of a text, leaving out the words of the object phrases.
fn free_relations(toks: &[Tok], candidates: &[Vec<String>]) -> Vec<&'static str> {
    let kept: Vec<Tok> = toks
        .iter()
        .filter(|t| match t {
            Tok::Word(w) => !candidates.iter().any(|c| c.iter().any(|x| x == w)),
            _ => true,
        })
        .cloned()
        .collect();
    relation_words(&kept)
}

/// Words that introduce a conclusion ("..., so the B is taller").
fn is_conclusion_marker(w: &str) -> bool {
    matches!(w, "so" | "therefore" | "thus" | "hence" | "consequently")
}

/// Whether the mention whose head word is at `pos` (phrase of `len` content words) follows
/// `than` ("taller than the table"): the object compared against, not the one named.
fn after_than(toks: &[Tok], pos: usize, len: usize) -> bool {
    let from = pos.saturating_sub(len + 2);
    toks[from..pos]
        .iter()
        .rev()
        .take_while(|t| !matches!(t, Tok::Sym(_) | Tok::Num(_)))
        .any(|t| matches!(t, Tok::Word(w) if w == "than"))
}

/// Which candidate (object phrase of the question) the text names. Only the conclusion is
/// read when there is one (the text after the last `so` / `therefore` / `thus` / `hence` that
/// is followed by a mention: "The height of the A is 75 cm and the B is 0.9 m, so the B is
/// taller."). The named one is the earliest mention (best-matching occurrence of each) that
/// does not follow `than`; a text that only names objects after `than` names the other of
/// two. It is switched to the other of two when the text uses only the opposite of the
/// question's relation ("B is shorter" for "which is taller").
pub fn named_candidate(text: &str, candidates: &[String], question: &str) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    let all = tokenize(text);
    let words: Vec<Vec<String>> = candidates.iter().map(|c| content_words(c)).collect();
    let start = all
        .iter()
        .enumerate()
        .filter(|(i, t)| *i > 0 && matches!(t, Tok::Word(w) if is_conclusion_marker(w)))
        .map(|(i, _)| i + 1)
        .rfind(|&i| words.iter().any(|w| mention(&all[i..], w).is_some()))
        .unwrap_or(0);
    let toks = &all[start..];
    let mut best: Option<(usize, usize, usize)> = None; // (pos, -score, index)
    let mut tie = false;
    let mut compared: Vec<usize> = Vec::new();
    for (k, w) in words.iter().enumerate() {
        if let Some((pos, score)) = mention(toks, w) {
            if after_than(toks, pos, w.len()) {
                compared.push(k);
                continue;
            }
            let full = score + 1 == w.len();
            let key = (pos, usize::MAX - score - usize::from(full), k);
            match best {
                None => best = Some(key),
                Some(b) if (key.0, key.1) < (b.0, b.1) => {
                    best = Some(key);
                    tie = false;
                }
                Some(b) if (key.0, key.1) == (b.0, b.1) => tie = true,
                _ => {}
            }
        }
    }
    if tie {
        return None;
    }
    let named = match best {
        Some(b) => b.2,
        // "it is taller than the table": the other one of two
        None if candidates.len() == 2 && compared.len() == 1 => 1 - compared[0],
        None => return None,
    };
    let asked = free_relations(&tokenize(question), &words);
    let said = free_relations(toks, &words);
    let same = said.iter().any(|s| asked.contains(s));
    let opp = said.iter().any(|s| asked.iter().any(|a| opposite(a, s)));
    if opp && !same {
        if candidates.len() == 2 {
            return Some(1 - named);
        }
        return None;
    }
    Some(named)
}

/// Whether `a` and `b` name the same object (equal content words, or one's words all in the
/// other's).
fn same_object(a: &[String], b: &[String]) -> bool {
    !a.is_empty() && !b.is_empty() && (a == b || a.iter().all(|w| b.contains(w)))
}

fn delta_of(pred: f64, gt: f64) -> f64 {
    if pred == gt {
        1.0
    } else if pred <= 0.0 || gt <= 0.0 {
        f64::INFINITY
    } else {
        (pred / gt).max(gt / pred)
    }
}

/// Judge one prediction.
pub fn judge(item: &BenchItem, pred: &str) -> Verdict {
    let mut v = Verdict {
        success: false,
        success_2: false,
        success_3: false,
        delta: None,
        rel_err: None,
        status: ParseStatus::Ok,
        gt_values: Vec::new(),
        pred_values: Vec::new(),
        gt_key: None,
        pred_key: None,
        similarity: None,
    };
    let Some(truth) = truth(item) else {
        v.status = ParseStatus::NoTruth;
        return v;
    };
    let refused = is_refusal(pred);
    let toks = tokenize(pred);
    match truth {
        Truth::Values(gt) => {
            v.gt_values = gt.clone();
            let p = if refused {
                Vec::new()
            } else {
                extract_values(pred, item.family, gt.len(), &item.question)
            };
            v.pred_values = p.clone();
            if p.is_empty() {
                v.status = ParseStatus::Unparseable;
            } else if p.len() < gt.len() {
                v.status = ParseStatus::Partial;
            } else {
                let n = gt.len() as f64;
                let delta = gt
                    .iter()
                    .zip(&p)
                    .map(|(g, x)| delta_of(*x, *g))
                    .sum::<f64>()
                    / n;
                let rel = gt
                    .iter()
                    .zip(&p)
                    .map(|(g, x)| {
                        if *g == 0.0 {
                            if *x == 0.0 {
                                0.0
                            } else {
                                1.0
                            }
                        } else {
                            (x - g).abs() / g.abs()
                        }
                    })
                    .sum::<f64>()
                    / n;
                v.delta = Some(delta);
                v.rel_err = Some(rel);
                v.success = delta < T1;
                v.success_2 = delta < T1 * T1;
                v.success_3 = delta < T1 * T1 * T1;
            }
            return v;
        }
        Truth::Coords(x, y) => {
            v.gt_values = vec![x, y];
            match coordinates(&toks).first() {
                Some((px, py)) if !refused => {
                    v.pred_values = vec![*px, *py];
                    let d = ((px - x).abs() + (py - y).abs()) / 2.0;
                    v.success = d <= 0.1 + 1e-12;
                }
                _ => v.status = ParseStatus::Unparseable,
            }
        }
        Truth::YesNo(gt) => {
            v.gt_key = Some(if gt { "yes" } else { "no" }.into());
            let p = if refused {
                None
            } else if item.family == Family::Existence {
                // A plain statement claims the object is there.
                Some(polarity(&toks).unwrap_or(true))
            } else {
                polarity(&toks).or_else(|| {
                    // "Is the A left of the B?" answered "The B is on the right.": yes when
                    // the statement puts the question's first object in the asked relation.
                    let phrases = object_phrases(&item.question);
                    if phrases.len() == 2 && !relation_words(&toks).is_empty() {
                        if let Some(k) = named_candidate(pred, &phrases, &item.question) {
                            return Some(k == 0);
                        }
                    }
                    let candidates: Vec<Vec<String>> =
                        phrases.iter().map(|c| content_words(c)).collect();
                    let asked = free_relations(&tokenize(&item.question), &candidates);
                    let said = free_relations(&toks, &candidates);
                    if said.iter().any(|s| asked.contains(s)) {
                        Some(true)
                    } else if said.iter().any(|s| asked.iter().any(|a| opposite(a, s))) {
                        Some(false)
                    } else {
                        None
                    }
                })
            };
            match p {
                Some(p) => {
                    v.pred_key = Some(if p { "yes" } else { "no" }.into());
                    v.success = p == gt;
                }
                None => v.status = ParseStatus::Unparseable,
            }
        }
        Truth::Object(gt) => {
            v.gt_key = Some(gt.clone());
            let candidates = object_phrases(&item.question);
            let gt_words = content_words(&gt);
            let gt_index = candidates
                .iter()
                .position(|c| content_words(c) == gt_words)
                .or_else(|| {
                    candidates
                        .iter()
                        .position(|c| same_object(&gt_words, &content_words(c)))
                });
            if refused {
                v.status = ParseStatus::Unparseable;
            } else if let (true, Some(g)) = (candidates.len() >= 2, gt_index) {
                let yes_no_question = matches!(
                    tokenize(&item.question).first(),
                    Some(Tok::Word(w)) if matches!(w.as_str(), "is" | "are" | "does" | "do")
                );
                let named = named_candidate(pred, &candidates, &item.question).or_else(|| {
                    // "Is the A taller than the B?" -> "No.": yes names the A, no the B.
                    (yes_no_question && candidates.len() == 2)
                        .then(|| polarity(&toks))
                        .flatten()
                        .map(|p| usize::from(!p))
                });
                match named {
                    Some(k) => {
                        v.pred_key = Some(candidates[k].clone());
                        v.success = k == g;
                    }
                    None => v.status = ParseStatus::Unparseable,
                }
            } else {
                // Label match: the prediction names the reference's whole label (a
                // synonym, singular or plural), not only one of its words.
                let pw = content_words(pred);
                if pw.is_empty() {
                    v.status = ParseStatus::Unparseable;
                } else {
                    v.pred_key = Some(pw.join(" "));
                    let negated = matches!(polarity(&toks), Some(false));
                    v.success = !negated && names_label(pred, &gt);
                }
            }
        }
    }
    v.success_2 = v.success;
    v.success_3 = v.success;
    v
}
