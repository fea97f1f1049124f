//! SpatialRGPT-Bench (MSMU.md section 8) scored without an LLM judge: the released annotation
//! file, rule-based verdicts for the 12 categories and the paper's table (per category, the
//! qualitative and the quantitative averages).
//!
//! # The released file
//!
//! [`read_bench`] reads `SpatialRGPT-Bench_v1.json` (a JSON array, as the official
//! `llava/eval/eval_spatial.py` loads it) or its JSONL form (`val_SpatialRGPT-Bench.jsonl` on
//! the Hub, one object per line). Fields read, checked against the official inference and
//! evaluation scripts (`llava/eval/eval_spatial.py`, `scripts/srgpt/eval/evaluate_spatial_with_gpt4.py`):
//!
//! - `id` (string or number; `question_id` accepted), the item id;
//! - `text_q`, the question without `<image>` / `<mask>` tokens (else the first human turn of
//!   `conversations`, else `question`);
//! - `conversations` `[{"from": "human", "value": "<image>\n... Region [0] <mask> ..."},
//!   {"from": "gpt", "value": "..."}]`: the reference answer is the first `gpt` turn (else `gt`
//!   or `answer`, as in the official inference output). A line with several QA pairs gives one
//!   item per pair; the k-th (k >= 1) has id `<id>#<k>`;
//! - `qa_info` `{"type": "qualitative" | "quantitative", "category": ...}` (top-level `type` /
//!   `category` accepted). Qualitative categories are `<pole>_predicate` (yes/no: "Is Region
//!   [0] behind Region [1]?") and `<pole>_choice` ("Which is more to the left, Region [0] or
//!   Region [1]?") with pole one of below, above, left, right, big, small, tall, short, wide,
//!   thin, behind, front; quantitative categories are `distance_data` (direct distance),
//!   `horizontal_distance_data`, `vertical_distance_data`, `width_data`, `height_data` and
//!   `direction`. Grouping follows the official script (`tall`/`short` -> tall/short, ...).
//! - `image_info.file_path`, `bbox` (`[x1, y1, x2, y2]` per region) and `rle` (COCO RLE per
//!   region) are kept for reference only: scoring needs neither the image nor the masks.
//!
//! Assumptions where the release could not be checked: the quantitative ground truth is read
//! from the reference answer text ("Region [0] and Region [1] are 1.52 meters apart.") exactly
//! as the official GPT-4 judge reads it (no separate numeric field is relied on); optional
//! region names may come as a list of strings in `labels`, `region_labels` or `names` (top
//! level or in `qa_info`); unknown categories are inferred from the question's words.
//!
//! # Regions in answers
//!
//! Questions refer to regions as "Region [k]" (how they reach the model, drawn on the image or
//! passed as text, is the inference side's business). The scorer accepts answers that name a
//! region as "Region [k]", "Region k", "region [k]" or "[k]", or by the region's label when the
//! item has labels ("the chair is to the left of the table").
//!
//! # Success rules (no LLM)
//!
//! - qualitative, predicate: the answer's polarity: a yes/no word among its first three words
//!   ("Yes", "Indeed", "Correct", "That is True" / "No", "Incorrect", "That is False"); else
//!   the relation it states: the pole word of the category's axis (e.g. left / right, taller /
//!   shorter, closer / further), flipped by a negation in its clause and by the question's
//!   second region being its subject ("Region [1] is in front of Region [0]" answers "Is
//!   Region [0] behind Region [1]?" with yes); else a bare negation. Success when the
//!   prediction's polarity equals the reference's.
//! - qualitative, choice: the region the answer puts at the asked pole ("Region [1] is more
//!   to the left", or "Region [0] is more to the right" for the same choice). Success when it is
//!   the reference's region.
//! - distances, width, height: the first length with a unit (after the last "so" /
//!   "therefore" / "answer" marker that is followed by one), converted to metres (1 in =
//!   0.0254 m, 1 ft = 0.3048 m, 1 cm = 0.01 m, as the official judge prompt states); a bare
//!   number is read as metres. Success when |pred - gt| <= 0.25 gt (the official
//!   0.75 gt <= pred <= 1.25 gt, with a 1e-9 relative slack for unit-conversion rounding).
//!   A zero reference ("directly supports ..., with no vertical distance") needs a zero
//!   prediction.
//! - direction: the clock hour before "o'clock" (digits or words, "between 2 and 3 o'clock"
//!   -> 2.5). Success when the circular difference is at most one hour, wrapping at 12.
//!
//! Items whose reference answer cannot be read (e.g. "they overlap, so it's hard to tell")
//! are left out of the counts and reported as `no_truth`. Averages are over items (the
//! official script's `correct / total`); the per-category mean of the rates is in the JSON as
//! `macro`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _};
use serde::Serialize;
use serde_json::Value;

use super::parse::{quantities, tokenize, Tok};
use super::Prediction;

/// Largest relative error of a successful distance / size answer.
pub const REL_TOLERANCE: f64 = 0.25;
/// Largest circular clock difference (hours) of a successful direction answer.
pub const CLOCK_TOLERANCE: f64 = 1.0;

/// The six qualitative and six quantitative columns of the paper's table, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Category {
    BelowAbove,
    LeftRight,
    BigSmall,
    TallShort,
    WideThin,
    BehindFront,
    DirectDistance,
    HorizontalDistance,
    VerticalDistance,
    Width,
    Height,
    Direction,
}

impl Category {
    pub const QUALITATIVE: [Category; 6] = [
        Category::BelowAbove,
        Category::LeftRight,
        Category::BigSmall,
        Category::TallShort,
        Category::WideThin,
        Category::BehindFront,
    ];
    pub const QUANTITATIVE: [Category; 6] = [
        Category::DirectDistance,
        Category::HorizontalDistance,
        Category::VerticalDistance,
        Category::Width,
        Category::Height,
        Category::Direction,
    ];

    /// The column name of the paper's table.
    pub fn name(self) -> &'static str {
        match self {
            Category::BelowAbove => "below/above",
            Category::LeftRight => "left/right",
            Category::BigSmall => "big/small",
            Category::TallShort => "tall/short",
            Category::WideThin => "wide/thin",
            Category::BehindFront => "behind/front",
            Category::DirectDistance => "direct_distance",
            Category::HorizontalDistance => "horizontal_distance",
            Category::VerticalDistance => "vertical_distance",
            Category::Width => "width",
            Category::Height => "height",
            Category::Direction => "direction",
        }
    }

    pub fn is_qualitative(self) -> bool {
        Category::QUALITATIVE.contains(&self)
    }

    /// The category of a raw `qa_info.category` (official names and close variants).
    pub fn from_raw(raw: &str) -> Option<Category> {
        let c = raw.trim().to_lowercase().replace([' ', '-'], "_");
        let quantitative = [
            ("vertical_distance", Category::VerticalDistance),
            ("horizontal_distance", Category::HorizontalDistance),
            ("direct_distance", Category::DirectDistance),
            ("distance", Category::DirectDistance),
            ("width", Category::Width),
            ("height", Category::Height),
            ("direction", Category::Direction),
        ];
        for (key, cat) in quantitative {
            if c == key || c == format!("{key}_data") {
                return Some(cat);
            }
        }
        // The official grouping, in its order of tests.
        let groups = [
            (["short", "tall"], Category::TallShort),
            (["left", "right"], Category::LeftRight),
            (["below", "above"], Category::BelowAbove),
            (["behind", "front"], Category::BehindFront),
            (["big", "small"], Category::BigSmall),
            (["wide", "thin"], Category::WideThin),
        ];
        groups
            .iter()
            .find(|(words, _)| words.iter().any(|w| c.contains(w)))
            .map(|(_, cat)| *cat)
    }
}

/// The pole a qualitative question asks about (`left` for "Is A to the left of B?").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Pole {
    Below,
    Above,
    Left,
    Right,
    Big,
    Small,
    Tall,
    Short,
    Wide,
    Thin,
    Behind,
    Front,
}

impl Pole {
    fn from_word(w: &str) -> Option<Pole> {
        Some(match w {
            "below" => Pole::Below,
            "above" => Pole::Above,
            "left" => Pole::Left,
            "right" => Pole::Right,
            "big" => Pole::Big,
            "small" => Pole::Small,
            "tall" => Pole::Tall,
            "short" => Pole::Short,
            "wide" => Pole::Wide,
            "thin" => Pole::Thin,
            "behind" => Pole::Behind,
            "front" => Pole::Front,
            _ => return None,
        })
    }

    /// Whether the pole is the first of its pair (above, left, big, tall, wide, behind).
    fn is_first(self) -> bool {
        matches!(
            self,
            Pole::Above | Pole::Left | Pole::Big | Pole::Tall | Pole::Wide | Pole::Behind
        )
    }

    fn category(self) -> Category {
        match self {
            Pole::Below | Pole::Above => Category::BelowAbove,
            Pole::Left | Pole::Right => Category::LeftRight,
            Pole::Big | Pole::Small => Category::BigSmall,
            Pole::Tall | Pole::Short => Category::TallShort,
            Pole::Wide | Pole::Thin => Category::WideThin,
            Pole::Behind | Pole::Front => Category::BehindFront,
        }
    }
}

/// Which side of an axis a word states, and whether it is strong (a comparative or a
/// preposition) or weak (a plain adjective, used only when no strong word is found).
/// `true` = the first pole of the pair (above, left, big, tall, wide, behind).
fn side_of(category: Category, w: &str) -> Option<(bool, bool)> {
    let generic = |w: &str| match w {
        "greater" | "more" | "exceeds" | "exceed" | "surpass" | "surpasses" | "larger" => {
            Some((true, true))
        }
        "less" | "lesser" | "fewer" | "smaller" => Some((false, true)),
        _ => None,
    };
    match category {
        Category::BelowAbove => match w {
            "above" | "over" | "higher" | "atop" | "upper" | "highest" | "topmost" => {
                Some((true, true))
            }
            "top" | "up" => Some((true, false)),
            "below" | "under" | "beneath" | "underneath" | "lower" | "lowest" => {
                Some((false, true))
            }
            "bottom" | "down" => Some((false, false)),
            _ => None,
        },
        Category::LeftRight => match w {
            "left" | "leftmost" | "lefthand" => Some((true, true)),
            "right" | "rightmost" | "righthand" => Some((false, true)),
            _ => None,
        },
        Category::BigSmall => match w {
            "bigger" | "biggest" | "largest" | "larger" => Some((true, true)),
            "big" | "large" | "huge" => Some((true, false)),
            "smaller" | "smallest" | "tinier" => Some((false, true)),
            "small" | "tiny" | "little" => Some((false, false)),
            _ => generic(w),
        },
        Category::TallShort => match w {
            "taller" | "tallest" => Some((true, true)),
            "tall" => Some((true, false)),
            "shorter" | "shortest" => Some((false, true)),
            "short" => Some((false, false)),
            _ => generic(w),
        },
        Category::WideThin => match w {
            "wider" | "widest" | "broader" | "broadest" => Some((true, true)),
            "wide" | "broad" => Some((true, false)),
            "thinner" | "thinnest" | "narrower" | "narrowest" | "slimmer" => Some((false, true)),
            "thin" | "narrow" | "slim" => Some((false, false)),
            _ => generic(w),
        },
        Category::BehindFront => match w {
            "behind" | "further" | "farther" | "furthest" | "farthest" | "backward"
            | "backwards" | "back" => Some((true, true)),
            "distant" | "far" => Some((true, false)),
            "front" | "closer" | "nearer" | "closest" | "nearest" | "forward" | "before" => {
                Some((false, true))
            }
            "near" | "close" => Some((false, false)),
            _ => None,
        },
        _ => None,
    }
}

/// How a qualitative question is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Form {
    /// Yes/no: "Is Region [0] behind Region [1]?"
    Predicate,
    /// Which region: "Which is more to the left, Region [0] or Region [1]?"
    Choice,
}

/// A read answer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Reading {
    Yes,
    No,
    /// The region (its index k in "Region [k]") the answer puts at the asked pole.
    Region(usize),
    Metres(f64),
    /// Clock hour in [0, 12).
    Clock(f64),
}

/// One SpatialRGPT-Bench question.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SrItem {
    pub id: String,
    /// Question without `<image>` / `<mask>` / `<depth>` tokens.
    pub question: String,
    pub answer: String,
    pub category: Category,
    /// `qa_info.category` as released.
    pub raw_category: String,
    /// For qualitative items: predicate or choice, and the asked pole.
    pub form: Option<Form>,
    pub pole: Option<Pole>,
    /// Region indices named by the question, in order of first mention.
    pub regions: Vec<usize>,
    /// Optional region names, by region index.
    pub labels: Vec<Option<String>>,
    pub image: Option<String>,
    /// `bbox`: `[x1, y1, x2, y2]` in pixels per region (for drawing the regions at prediction).
    pub boxes: Vec<[f64; 4]>,
    /// `file:line`, for messages.
    pub origin: String,
}

impl SrItem {
    /// An item from its fields; the category from `raw_category` (else the question), the
    /// form and pole from the category (else the question).
    pub fn new(id: &str, question: &str, answer: &str, raw_category: &str) -> anyhow::Result<Self> {
        let question = clean_question(question);
        let category = Category::from_raw(raw_category)
            .or_else(|| category_of_question(&question))
            .ok_or_else(|| {
                anyhow!("unknown SpatialRGPT category `{raw_category}` for question `{question}`")
            })?;
        let (form, pole) = if category.is_qualitative() {
            let c = raw_category.to_lowercase();
            let form = if c.contains("choice") {
                Form::Choice
            } else if c.contains("predicate") {
                Form::Predicate
            } else {
                form_of_question(&question)
            };
            let pole = c
                .split(|ch: char| !ch.is_ascii_alphabetic())
                .find_map(Pole::from_word)
                .filter(|p| p.category() == category)
                .or_else(|| pole_of_question(&question, category))
                .unwrap_or(match category {
                    Category::BelowAbove => Pole::Above,
                    Category::LeftRight => Pole::Left,
                    Category::BigSmall => Pole::Big,
                    Category::TallShort => Pole::Tall,
                    Category::WideThin => Pole::Wide,
                    _ => Pole::Behind,
                });
            (Some(form), Some(pole))
        } else {
            (None, None)
        };
        let regions = region_order(&tokenize(&question));
        Ok(SrItem {
            id: id.to_string(),
            question,
            answer: answer.to_string(),
            category,
            raw_category: raw_category.to_string(),
            form,
            pole,
            regions,
            labels: Vec::new(),
            image: None,
            boxes: Vec::new(),
            origin: String::new(),
        })
    }

    /// Reads an answer (the reference or a prediction) of this item.
    pub fn read(&self, text: &str) -> Option<Reading> {
        let toks = tokenize(text);
        match self.category {
            Category::Direction => read_clock(&toks, &self.labels).map(Reading::Clock),
            c if c.is_qualitative() => {
                let pole = self.pole?;
                let asked_first = pole.is_first();
                match self.form? {
                    Form::Predicate => read_predicate(&toks, self, asked_first).map(|y| {
                        if y {
                            Reading::Yes
                        } else {
                            Reading::No
                        }
                    }),
                    Form::Choice => read_choice(&toks, self, asked_first).map(Reading::Region),
                }
            }
            _ => read_metres(&toks, &self.labels).map(Reading::Metres),
        }
    }
}

/// Question text: `<image>`, `<mask>`, `<depth>` tokens removed, whitespace collapsed.
pub fn clean_question(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    let mut rest = q;
    while let Some(k) = rest.find('<') {
        out.push_str(&rest[..k]);
        let tail = &rest[k..];
        match tail.find('>') {
            Some(e) if e <= 12 && tail[1..e].chars().all(|c| c.is_ascii_alphabetic()) => {
                out.push(' ');
                rest = &tail[e + 1..];
            }
            _ => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    let joined = out.split_whitespace().collect::<Vec<_>>().join(" ");
    // "Region [0] <mask> ?" -> "Region [0]?"
    joined
        .replace(" ?", "?")
        .replace(" ,", ",")
        .replace(" .", ".")
}

/// Key used to match a prediction's question to an item: lower-case words and numbers only.
pub fn question_key(q: &str) -> String {
    clean_question(q)
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn category_of_question(q: &str) -> Option<Category> {
    let q = q.to_lowercase();
    if q.contains("o'clock") || q.contains("where will you find") {
        return Some(Category::Direction);
    }
    let measure = [
        "how far", "distance", "how wide", "how tall", "how big", "width", "height",
    ];
    if measure.iter().any(|m| q.contains(m)) && !q.starts_with("is ") && !q.starts_with("which") {
        if q.contains("vertical") {
            return Some(Category::VerticalDistance);
        }
        if q.contains("horizontal") {
            return Some(Category::HorizontalDistance);
        }
        if q.contains("wide") || q.contains("width") {
            return Some(Category::Width);
        }
        if q.contains("tall") || q.contains("height") {
            return Some(Category::Height);
        }
        return Some(Category::DirectDistance);
    }
    let toks = tokenize(&q);
    // A strong word of the axis that is not one of the generic comparatives ("more", "less",
    // ..., which several axes share); "larger" / "smaller" name big/small.
    let specific = |cat: Category, w: &str| {
        side_of(cat, w).is_some_and(|(_, strong)| strong)
            && (cat == Category::BigSmall
                || !matches!(
                    w,
                    "more"
                        | "less"
                        | "greater"
                        | "lesser"
                        | "fewer"
                        | "exceeds"
                        | "exceed"
                        | "surpass"
                        | "surpasses"
                        | "larger"
                        | "smaller"
                ))
    };
    Category::QUALITATIVE.into_iter().find(|&cat| {
        toks.iter()
            .any(|t| matches!(t, Tok::Word(w) if specific(cat, w)))
    })
}

fn form_of_question(q: &str) -> Form {
    let first = q
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_lowercase()
        .trim_matches(|c: char| !c.is_alphabetic())
        .to_string();
    if matches!(first.as_str(), "which" | "who" | "between" | "what") {
        Form::Choice
    } else {
        Form::Predicate
    }
}

fn pole_of_question(q: &str, category: Category) -> Option<Pole> {
    let toks = tokenize(q);
    let first = toks.iter().find_map(|t| match t {
        Tok::Word(w) => side_of(category, w)
            .filter(|(_, strong)| *strong)
            .map(|s| s.0),
        _ => None,
    })?;
    Some(match (category, first) {
        (Category::BelowAbove, true) => Pole::Above,
        (Category::BelowAbove, false) => Pole::Below,
        (Category::LeftRight, true) => Pole::Left,
        (Category::LeftRight, false) => Pole::Right,
        (Category::BigSmall, true) => Pole::Big,
        (Category::BigSmall, false) => Pole::Small,
        (Category::TallShort, true) => Pole::Tall,
        (Category::TallShort, false) => Pole::Short,
        (Category::WideThin, true) => Pole::Wide,
        (Category::WideThin, false) => Pole::Thin,
        (_, true) => Pole::Behind,
        (_, false) => Pole::Front,
    })
}

/// Region mentions: (first token, token after, region index). "Region [k]", "Region k",
/// "[k]".
fn region_mentions(toks: &[Tok]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let num = |t: Option<&Tok>| match t {
        Some(Tok::Num(v)) if v.fract() == 0.0 && *v >= 0.0 && *v < 1000.0 => Some(*v as usize),
        _ => None,
    };
    let mut i = 0;
    while i < toks.len() {
        let is_region = matches!(&toks[i], Tok::Word(w) if w == "region" || w == "regions");
        let bracket_at = |j: usize| {
            matches!(toks.get(j), Some(Tok::Sym('[')))
                && num(toks.get(j + 1)).is_some()
                && matches!(toks.get(j + 2), Some(Tok::Sym(']')))
        };
        if is_region && bracket_at(i + 1) {
            out.push((i, i + 4, num(toks.get(i + 2)).expect("checked")));
            i += 4;
        } else if is_region && num(toks.get(i + 1)).is_some() {
            out.push((i, i + 2, num(toks.get(i + 1)).expect("checked")));
            i += 2;
        } else if bracket_at(i) {
            out.push((i, i + 3, num(toks.get(i + 1)).expect("checked")));
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

fn region_order(toks: &[Tok]) -> Vec<usize> {
    let mut out = Vec::new();
    for (_, _, k) in region_mentions(toks) {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

fn singular(w: &str) -> &str {
    w.strip_suffix('s').filter(|s| s.len() > 2).unwrap_or(w)
}

/// Mentions of regions by "Region [k]" and by label: (start, end, region index), sorted.
fn mentions(toks: &[Tok], labels: &[Option<String>]) -> Vec<(usize, usize, usize)> {
    let mut out = region_mentions(toks);
    for (k, label) in labels.iter().enumerate() {
        let Some(label) = label else { continue };
        let words: Vec<String> = tokenize(label)
            .into_iter()
            .filter_map(|t| match t {
                Tok::Word(w) if !matches!(w.as_str(), "the" | "a" | "an") => Some(w),
                _ => None,
            })
            .collect();
        if words.is_empty() {
            continue;
        }
        for i in 0..toks.len().saturating_sub(words.len() - 1) {
            let hit = words
                .iter()
                .enumerate()
                .all(|(j, w)| matches!(&toks[i + j], Tok::Word(t) if singular(t) == singular(w)));
            if hit && !out.iter().any(|(s, e, _)| i >= *s && i < *e) {
                out.push((i, i + words.len(), k));
            }
        }
    }
    out.sort_unstable();
    out
}

/// Tokens with region mentions replaced by the word `region` (their numbers are not
/// quantities).
fn without_regions(toks: &[Tok], labels: &[Option<String>]) -> Vec<Tok> {
    let ms = mentions(toks, labels);
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    for (s, e, _) in ms {
        if s < i {
            continue;
        }
        out.extend_from_slice(&toks[i..s]);
        out.push(Tok::Word("region".into()));
        i = e;
    }
    out.extend_from_slice(&toks[i.min(toks.len())..]);
    out
}

fn is_negation(w: &str) -> bool {
    matches!(
        w,
        "no" | "not" | "never" | "neither" | "nor" | "cannot" | "isn't" | "doesn't" | "aren't"
    ) || w.ends_with("n't")
}

fn clause_start(toks: &[Tok], at: usize) -> usize {
    toks[..at]
        .iter()
        .rposition(|t| {
            matches!(t, Tok::Sym(',' | '.' | ';' | '!' | '?' | ':'))
                || matches!(t, Tok::Word(w) if w == "but" || w == "while" || w == "whereas" || w == "so" || w == "therefore" || w == "thus")
        })
        .map_or(0, |p| p + 1)
}

/// The pole word the answer's relation rests on: (token index, states the first pole).
/// The first strong word after the last conclusion marker that has one, else the first strong
/// word, else the first weak one.
fn pole_word(toks: &[Tok], category: Category) -> Option<(usize, bool)> {
    let words: Vec<(usize, bool, bool)> = toks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Tok::Word(w) => side_of(category, w).map(|(first, strong)| (i, first, strong)),
            _ => None,
        })
        .collect();
    let strong: Vec<&(usize, bool, bool)> = words.iter().filter(|w| w.2).collect();
    let marker = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            matches!(t, Tok::Word(w) if matches!(w.as_str(), "so" | "therefore" | "thus" | "hence" | "answer"))
        })
        .map(|(i, _)| i)
        .rfind(|m| strong.iter().any(|w| w.0 > *m));
    strong
        .iter()
        .find(|w| marker.is_none_or(|m| w.0 > m))
        .or(strong.first())
        .map(|w| (w.0, w.1))
        .or_else(|| words.first().map(|w| (w.0, w.1)))
}

fn yes_word(w: &str) -> Option<bool> {
    match w {
        "yes" | "yeah" | "yep" | "yup" | "indeed" | "correct" | "true" | "affirmative"
        | "certainly" | "absolutely" | "definitely" => Some(true),
        "no" | "nope" | "incorrect" | "false" | "negative" | "wrong" => Some(false),
        _ => None,
    }
}

/// Predicate answers: `Some(true)` when the answer says the question's first region holds
/// the asked pole relative to the second.
fn read_predicate(toks: &[Tok], item: &SrItem, asked_first: bool) -> Option<bool> {
    let words: Vec<&str> = toks
        .iter()
        .filter_map(|t| match t {
            Tok::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    if words.first() == Some(&"not") {
        return Some(false);
    }
    if let Some(y) = words.iter().take(3).find_map(|w| yes_word(w)) {
        return Some(y);
    }
    let ms = mentions(toks, &item.labels);
    if let Some((at, first)) = pole_word(toks, item.category) {
        let from = clause_start(toks, at);
        let negated = toks[from..at]
            .iter()
            .filter(|t| matches!(t, Tok::Word(w) if is_negation(w)))
            .count()
            % 2
            == 1;
        let subject = ms
            .iter()
            .find(|(s, _, _)| *s >= from && *s < at)
            .map(|m| m.2);
        let swapped = match (subject, item.regions.get(1)) {
            (Some(s), Some(b)) => s == *b && item.regions.first() != Some(b),
            _ => false,
        };
        return Some((first == asked_first) ^ negated ^ swapped);
    }
    if words.iter().any(|w| is_negation(w)) {
        return Some(false);
    }
    None
}

/// Choice answers: the region the answer puts at the asked pole.
fn read_choice(toks: &[Tok], item: &SrItem, asked_first: bool) -> Option<usize> {
    let ms = mentions(toks, &item.labels);
    let other = |r: usize| -> Option<usize> {
        match item.regions.as_slice() {
            [a, b, ..] if r == *a => Some(*b),
            [a, b, ..] if r == *b => Some(*a),
            _ => None,
        }
    };
    match pole_word(toks, item.category) {
        Some((at, first)) => {
            let from = clause_start(toks, at);
            let to = toks[at..]
                .iter()
                .position(|t| matches!(t, Tok::Sym(',' | '.' | ';' | '!' | '?')))
                .map_or(toks.len(), |p| at + p);
            let named = ms
                .iter()
                .find(|(s, _, _)| *s >= from && *s < at)
                .or_else(|| ms.iter().find(|(s, _, _)| *s > at && *s < to))
                .or(ms.first())?
                .2;
            let negated = toks[from..at]
                .iter()
                .filter(|t| matches!(t, Tok::Word(w) if is_negation(w)))
                .count()
                % 2
                == 1;
            if (first == asked_first) ^ negated {
                Some(named)
            } else {
                other(named)
            }
        }
        None => {
            // "Region [1]." names the answer; two different regions and no relation: unreadable.
            let distinct = region_order_of(&ms);
            (distinct.len() == 1).then(|| distinct[0])
        }
    }
}

fn region_order_of(ms: &[(usize, usize, usize)]) -> Vec<usize> {
    let mut out = Vec::new();
    for m in ms {
        if !out.contains(&m.2) {
            out.push(m.2);
        }
    }
    out
}

/// A length in metres (see the module doc).
fn read_metres(toks: &[Tok], labels: &[Option<String>]) -> Option<f64> {
    let toks = without_regions(toks, labels);
    let qs = quantities(&toks);
    let marker = toks
        .iter()
        .enumerate()
        .filter(|(i, t)| {
            matches!(t, Tok::Word(w) if matches!(w.as_str(), "therefore" | "thus" | "hence" | "final" | "answer")
                || (w == "so" && *i > 0))
        })
        .map(|(i, _)| i)
        .rfind(|m| qs.iter().any(|q| q.start > *m && q.unit.is_some()));
    let tail: Vec<_> = qs
        .iter()
        .filter(|q| marker.is_none_or(|m| q.start > m))
        .collect();
    if let Some(q) = tail.iter().find(|q| q.unit.is_some()) {
        return Some(q.value * q.unit?.metres());
    }
    if let Some(q) = tail.first() {
        return Some(q.value);
    }
    // "directly supports ..., with no vertical distance", "no gap", "in contact".
    let words: Vec<&str> = toks
        .iter()
        .filter_map(|t| match t {
            Tok::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    let touching = words.iter().any(|w| {
        matches!(
            *w,
            "supports" | "supporting" | "supported" | "touching" | "touches" | "contact"
        )
    });
    let no_gap = words.windows(3).any(|w| {
        w[0] == "no"
            && w[1..]
                .iter()
                .any(|x| matches!(*x, "distance" | "gap" | "space" | "separation"))
    });
    (touching || no_gap).then_some(0.0)
}

/// A clock hour in [0, 12): the number right before `o'clock` / `oclock` / `o clock`.
fn read_clock(toks: &[Tok], labels: &[Option<String>]) -> Option<f64> {
    let toks = without_regions(toks, labels);
    let clock_at = |i: usize| match toks.get(i) {
        Some(Tok::Word(w)) if w == "o'clock" || w == "oclock" => Some(1),
        Some(Tok::Word(w)) if w == "o" => {
            matches!(toks.get(i + 1), Some(Tok::Word(c)) if c == "clock").then_some(2)
        }
        _ => None,
    };
    let qs = quantities(&toks);
    let q = qs
        .iter()
        .rev()
        .find(|q| q.unit.is_none() && clock_at(q.end).is_some())
        .or_else(|| {
            // "3:00"
            qs.iter()
                .find(|q| matches!(toks.get(q.end), Some(Tok::Sym(':'))))
        })?;
    (0.0..=12.0).contains(&q.value).then_some(q.value % 12.0)
}

/// Circular difference of two clock hours, in hours (0..=6).
pub fn clock_difference(a: f64, b: f64) -> f64 {
    let d = (a - b).abs() % 12.0;
    d.min(12.0 - d)
}

/// The verdict on one prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SrVerdict {
    pub success: bool,
    pub truth: Option<Reading>,
    pub reading: Option<Reading>,
    /// |pred - gt| / gt for lengths, the clock difference in hours for directions.
    pub error: Option<f64>,
    /// `ok`, `unparseable` (nothing readable in the prediction), `missing` (no prediction)
    /// or `no_truth` (the reference cannot be read).
    pub status: &'static str,
}

/// Judges one prediction against an item.
pub fn judge(item: &SrItem, pred: &str) -> SrVerdict {
    let truth = item.read(&item.answer);
    let mut v = SrVerdict {
        success: false,
        truth,
        reading: None,
        error: None,
        status: "ok",
    };
    let Some(truth) = truth else {
        v.status = "no_truth";
        return v;
    };
    let reading = item.read(pred);
    v.reading = reading;
    let Some(reading) = reading else {
        v.status = "unparseable";
        return v;
    };
    match (truth, reading) {
        (Reading::Metres(g), Reading::Metres(p)) => {
            let slack = 1e-9 * g.abs().max(1e-12);
            v.success = (p - g).abs() <= REL_TOLERANCE * g + slack;
            if g > 0.0 {
                v.error = Some((p - g).abs() / g);
            }
        }
        (Reading::Clock(g), Reading::Clock(p)) => {
            let d = clock_difference(g, p);
            v.error = Some(d);
            v.success = d <= CLOCK_TOLERANCE + 1e-9;
        }
        (g, p) => v.success = g == p,
    }
    v
}

/// Reads the bench: a JSON array or JSONL (see the module doc).
pub fn read_bench(path: &Path) -> anyhow::Result<Vec<SrItem>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading SpatialRGPT-Bench {} (pass SpatialRGPT-Bench_v1.json or its .jsonl)",
            path.display()
        )
    })?;
    let mut items = Vec::new();
    if text.trim_start().starts_with('[') {
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON array", path.display()))?;
        for (k, line) in v.as_array().into_iter().flatten().enumerate() {
            let origin = format!("{}[{k}]", path.display());
            items.extend(line_items(line, k, &origin)?);
        }
    } else {
        for (k, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let origin = format!("{}:{}", path.display(), k + 1);
            let v: Value = serde_json::from_str(line)
                .map_err(|e| anyhow!("{origin}: not a JSON object ({e})"))?;
            items.extend(line_items(&v, k, &origin)?);
        }
    }
    if items.is_empty() {
        bail!("{}: no SpatialRGPT-Bench item", path.display());
    }
    Ok(items)
}

fn jstr(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn labels_of(v: &Value) -> Vec<Option<String>> {
    for obj in [Some(v), v.get("qa_info")].into_iter().flatten() {
        for key in ["labels", "region_labels", "names"] {
            if let Some(a) = obj.get(key).and_then(Value::as_array) {
                return a.iter().map(|x| x.as_str().map(str::to_string)).collect();
            }
        }
    }
    Vec::new()
}

/// The items of one annotation line (or one line of the official inference output, which
/// carries `question_id`, `question`, `gt` and `qa_info`).
pub fn line_items(v: &Value, index: usize, origin: &str) -> anyhow::Result<Vec<SrItem>> {
    if !v.is_object() {
        bail!("{origin}: not a JSON object");
    }
    let id = jstr(v, "id")
        .or_else(|| jstr(v, "question_id"))
        .unwrap_or_else(|| index.to_string());
    let qa_info = v.get("qa_info");
    let raw_category = qa_info
        .and_then(|q| jstr(q, "category"))
        .or_else(|| jstr(v, "category"))
        .unwrap_or_default();
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(conv) = v.get("conversations").and_then(Value::as_array) {
        let mut question: Option<String> = None;
        for turn in conv {
            let from = jstr(turn, "from").unwrap_or_default().to_lowercase();
            let value = jstr(turn, "value").unwrap_or_default();
            if from == "human" || from == "user" {
                question = Some(value);
            } else if let Some(q) = question.take() {
                pairs.push((q, value));
            }
        }
    }
    let text_q = jstr(v, "text_q").or_else(|| jstr(v, "question"));
    if pairs.is_empty() {
        let q = text_q
            .clone()
            .ok_or_else(|| anyhow!("{origin}: no `conversations`, `text_q` or `question`"))?;
        let a = jstr(v, "gt")
            .or_else(|| jstr(v, "answer"))
            .ok_or_else(|| anyhow!("{origin}: no reference answer (`conversations`, `gt`)"))?;
        pairs.push((q, a));
    } else if pairs.len() == 1 {
        if let Some(q) = text_q {
            pairs[0].0 = q;
        }
    }
    let labels = labels_of(v);
    let image = v
        .get("image_info")
        .and_then(|i| jstr(i, "file_path"))
        .or_else(|| jstr(v, "image"));
    let boxes: Vec<[f64; 4]> = v
        .get("bbox")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|b| {
                    let b = b.as_array()?;
                    let f: Vec<f64> = b.iter().filter_map(Value::as_f64).collect();
                    (f.len() == 4).then(|| [f[0], f[1], f[2], f[3]])
                })
                .collect()
        })
        .unwrap_or_default();
    pairs
        .iter()
        .enumerate()
        .map(|(k, (q, a))| {
            let id = if k == 0 {
                id.clone()
            } else {
                format!("{id}#{k}")
            };
            let mut item =
                SrItem::new(&id, q, a, &raw_category).with_context(|| origin.to_string())?;
            item.labels = labels.clone();
            item.image = image.clone();
            item.boxes = boxes.clone();
            item.origin = origin.to_string();
            Ok(item)
        })
        .collect()
}

/// One item's result.
#[derive(Clone, Debug, Serialize)]
pub struct SrResult {
    pub id: String,
    pub category: &'static str,
    pub raw_category: String,
    pub pred: Option<String>,
    #[serde(flatten)]
    pub verdict: SrVerdict,
}

/// Counts of one category.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CategoryStats {
    pub n: usize,
    pub success: usize,
    pub unparseable: usize,
    pub missing: usize,
    /// Sum and count of the errors (relative error, or clock hours for directions).
    pub error_sum: f64,
    pub error_n: usize,
}

impl CategoryStats {
    /// Success rate in percent (0 for an empty category).
    pub fn rate(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            100.0 * self.success as f64 / self.n as f64
        }
    }

    /// Mean error over the readable predictions.
    pub fn mean_error(&self) -> Option<f64> {
        (self.error_n > 0).then(|| self.error_sum / self.error_n as f64)
    }

    fn add(&mut self, o: &CategoryStats) {
        self.n += o.n;
        self.success += o.success;
        self.unparseable += o.unparseable;
        self.missing += o.missing;
        self.error_sum += o.error_sum;
        self.error_n += o.error_n;
    }
}

/// The SpatialRGPT-Bench report.
#[derive(Clone, Debug, Default)]
pub struct SrReport {
    pub model: Option<String>,
    pub items: Vec<SrResult>,
    pub categories: BTreeMap<Category, CategoryStats>,
    /// Predictions that matched no bench item.
    pub unmatched: usize,
    /// Items whose reference answer could not be read (left out of the counts).
    pub no_truth: usize,
}

/// Scores predictions: matched by `id` (the bench `id`; the official output's `question_id`
/// repeats it for every QA of a line, matched in order), else by question text.
pub fn score(bench: &[SrItem], preds: &[Prediction]) -> SrReport {
    let mut by_id: HashMap<&str, VecDeque<usize>> = HashMap::new();
    let mut by_q: HashMap<String, VecDeque<usize>> = HashMap::new();
    for (k, it) in bench.iter().enumerate() {
        by_id.entry(it.id.as_str()).or_default().push_back(k);
        if let Some((base, _)) = it.id.rsplit_once('#') {
            by_id.entry(base).or_default().push_back(k);
        }
        by_q.entry(question_key(&it.question))
            .or_default()
            .push_back(k);
    }
    let mut pred_of: Vec<Option<&str>> = vec![None; bench.len()];
    let mut report = SrReport::default();
    let take = |queue: &mut VecDeque<usize>, pred_of: &[Option<&str>]| {
        while queue.front().is_some_and(|k| pred_of[*k].is_some()) {
            queue.pop_front();
        }
        queue.front().copied()
    };
    for p in preds {
        let mut found =
            p.id.as_deref()
                .and_then(|id| by_id.get_mut(id))
                .and_then(|q| take(q, &pred_of));
        if found.is_none() {
            found = p
                .question
                .as_deref()
                .and_then(|q| by_q.get_mut(&question_key(q)))
                .and_then(|q| take(q, &pred_of));
        }
        match found {
            Some(k) => pred_of[k] = Some(p.pred.as_str()),
            None => report.unmatched += 1,
        }
    }
    for (item, pred) in bench.iter().zip(&pred_of) {
        let verdict = match pred {
            Some(p) => judge(item, p),
            None => {
                let mut v = judge(item, "");
                if v.status != "no_truth" {
                    v.status = "missing";
                }
                v
            }
        };
        if verdict.status == "no_truth" {
            report.no_truth += 1;
        } else {
            let s = report.categories.entry(item.category).or_default();
            s.n += 1;
            s.success += usize::from(verdict.success);
            s.unparseable += usize::from(verdict.status == "unparseable");
            s.missing += usize::from(verdict.status == "missing");
            if let Some(e) = verdict.error {
                s.error_sum += e;
                s.error_n += 1;
            }
        }
        report.items.push(SrResult {
            id: item.id.clone(),
            category: item.category.name(),
            raw_category: item.raw_category.clone(),
            pred: pred.map(str::to_string),
            verdict,
        });
    }
    report
}

impl SrReport {
    /// The categories of one half of the table, all counts together.
    pub fn total(&self, qualitative: bool) -> CategoryStats {
        let mut t = CategoryStats::default();
        for (c, s) in &self.categories {
            if c.is_qualitative() == qualitative {
                t.add(s);
            }
        }
        t
    }

    /// Mean of the per-category rates of one half (categories with items only).
    pub fn macro_average(&self, qualitative: bool) -> f64 {
        let rates: Vec<f64> = self
            .categories
            .iter()
            .filter(|(c, s)| c.is_qualitative() == qualitative && s.n > 0)
            .map(|(_, s)| s.rate())
            .collect();
        if rates.is_empty() {
            0.0
        } else {
            rates.iter().sum::<f64>() / rates.len() as f64
        }
    }

    fn stats(&self, c: Category) -> CategoryStats {
        self.categories.get(&c).cloned().unwrap_or_default()
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let row = |name: &str, s: &CategoryStats, quantitative: Option<Category>| {
            let mut r = serde_json::json!({
                "category": name,
                "success": s.rate(),
                "n": s.n,
                "successes": s.success,
                "unparseable": s.unparseable,
                "missing": s.missing,
            });
            match quantitative {
                Some(Category::Direction) => {
                    r["mean_error_hours"] = serde_json::json!(s.mean_error());
                    r["mean_error_degrees"] = serde_json::json!(s.mean_error().map(|h| h * 30.0));
                }
                Some(_) => r["abs_rel_error"] = serde_json::json!(s.mean_error()),
                None => {}
            }
            r
        };
        let half = |qualitative: bool| {
            let cats = if qualitative {
                Category::QUALITATIVE
            } else {
                Category::QUANTITATIVE
            };
            serde_json::json!({
                "categories": cats
                    .iter()
                    .map(|c| row(c.name(), &self.stats(*c), (!qualitative).then_some(*c)))
                    .collect::<Vec<_>>(),
                "average": self.total(qualitative).rate(),
                "macro": self.macro_average(qualitative),
                "n": self.total(qualitative).n,
            })
        };
        serde_json::json!({
            "suite": "spatialrgpt",
            "model": self.model,
            "rel_tolerance": REL_TOLERANCE,
            "clock_tolerance_hours": CLOCK_TOLERANCE,
            "qualitative": half(true),
            "quantitative": half(false),
            "unmatched": self.unmatched,
            "no_truth": self.no_truth,
        })
    }

    /// The paper's two tables in Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        if let Some(m) = &self.model {
            let _ = writeln!(out, "Model: {m}\n");
        }
        let _ = writeln!(
            out,
            "SpatialRGPT-Bench, qualitative: success rate % (rule-based polarity / named region)\n"
        );
        let header = |out: &mut String, cats: &[Category]| {
            let names: Vec<&str> = cats.iter().map(|c| c.name()).collect();
            let _ = writeln!(out, "| | {} | avg |", names.join(" | "));
            let _ = writeln!(out, "|---|{}---:|", "---:|".repeat(cats.len()));
        };
        header(&mut out, &Category::QUALITATIVE);
        let cells = |cats: &[Category], f: &dyn Fn(&CategoryStats) -> String| {
            cats.iter()
                .map(|c| f(&self.stats(*c)))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let rate = |s: &CategoryStats| format!("{:.2}", s.rate());
        let n = |s: &CategoryStats| s.n.to_string();
        let _ = writeln!(
            out,
            "| success % | {} | {:.2} |",
            cells(&Category::QUALITATIVE, &rate),
            self.total(true).rate()
        );
        let _ = writeln!(
            out,
            "| n | {} | {} |",
            cells(&Category::QUALITATIVE, &n),
            self.total(true).n
        );
        let _ = writeln!(
            out,
            "\nSpatialRGPT-Bench, quantitative: success rate % (|pred - gt| / gt <= {REL_TOLERANCE}; \
             direction within {CLOCK_TOLERANCE} hour) and mean error (abs. relative; direction in degrees)\n"
        );
        header(&mut out, &Category::QUANTITATIVE);
        let _ = writeln!(
            out,
            "| success % | {} | {:.2} |",
            cells(&Category::QUANTITATIVE, &rate),
            self.total(false).rate()
        );
        let err = |s: &CategoryStats| match s.mean_error() {
            Some(e) => format!("{e:.3}"),
            None => "-".into(),
        };
        let errors: Vec<String> = Category::QUANTITATIVE
            .iter()
            .map(|c| {
                let s = self.stats(*c);
                match (c, s.mean_error()) {
                    (Category::Direction, Some(h)) => format!("{:.1}°", h * 30.0),
                    _ => err(&s),
                }
            })
            .collect();
        let _ = writeln!(out, "| error | {} | |", errors.join(" | "));
        let _ = writeln!(
            out,
            "| n | {} | {} |",
            cells(&Category::QUANTITATIVE, &n),
            self.total(false).n
        );
        let unparseable = self.total(true).unparseable + self.total(false).unparseable;
        let missing = self.total(true).missing + self.total(false).missing;
        let _ = writeln!(
            out,
            "\n{unparseable} unreadable prediction(s), {missing} item(s) without a prediction."
        );
        if self.no_truth > 0 {
            let _ = writeln!(
                out,
                "{} item(s) with an unreadable reference answer left out.",
                self.no_truth
            );
        }
        if self.unmatched > 0 {
            let _ = writeln!(
                out,
                "{} prediction(s) matched no bench item (by `id` / `question_id`, else question).",
                self.unmatched
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(q: &str, a: &str, cat: &str) -> SrItem {
        SrItem::new("x", q, a, cat).unwrap()
    }

    #[test]
    fn categories_follow_the_official_grouping() {
        assert_eq!(
            Category::from_raw("distance_data"),
            Some(Category::DirectDistance)
        );
        assert_eq!(
            Category::from_raw("vertical_distance_data"),
            Some(Category::VerticalDistance)
        );
        assert_eq!(Category::from_raw("direction"), Some(Category::Direction));
        assert_eq!(
            Category::from_raw("thin_predicate"),
            Some(Category::WideThin)
        );
        assert_eq!(
            Category::from_raw("short_choice"),
            Some(Category::TallShort)
        );
        assert_eq!(
            Category::from_raw("front_predicate"),
            Some(Category::BehindFront)
        );
        assert_eq!(Category::from_raw("bogus"), None);
        // Without a category: from the question.
        let it = item("Is Region [0] taller than Region [1]?", "Yes.", "");
        assert_eq!(
            (it.category, it.form, it.pole),
            (Category::TallShort, Some(Form::Predicate), Some(Pole::Tall))
        );
        let it = item(
            "Which is more to the right, Region [0] or Region [1]?",
            "Region [0].",
            "",
        );
        assert_eq!(
            (it.category, it.form, it.pole),
            (Category::LeftRight, Some(Form::Choice), Some(Pole::Right))
        );
        let it = item("Is Region [0] larger than Region [1]?", "Yes.", "");
        assert_eq!(it.category, Category::BigSmall);
        let it = item(
            "How far apart are Region [0] and Region [1] vertically?",
            "1 m",
            "",
        );
        assert_eq!(it.category, Category::VerticalDistance);
        let it = item(
            "If you are at Region [0], where will you find Region [1]?",
            "3 o'clock",
            "",
        );
        assert_eq!(it.category, Category::Direction);
    }

    #[test]
    fn questions_lose_mask_tokens() {
        assert_eq!(
            clean_question("<image>\nIs Region [0] <mask> behind Region [1] <mask> ?"),
            "Is Region [0] behind Region [1]?"
        );
        assert_eq!(
            question_key("<image>\nIs Region [0] <mask> behind Region [1] <mask>?"),
            question_key("Is Region [0] behind Region [1]?")
        );
    }

    #[test]
    fn readings() {
        let it = item(
            "Is Region [0] behind Region [1]?",
            "No, Region [1] is in front of Region [0].",
            "behind_predicate",
        );
        assert_eq!(it.read(&it.answer), Some(Reading::No));
        assert_eq!(
            it.read("Region [1] is in front of Region [0]."),
            Some(Reading::Yes)
        );
        assert_eq!(
            it.read("Region [0] is closer to the viewer."),
            Some(Reading::No)
        );
        let it = item(
            "Which is more to the left, Region [0] or Region [1]?",
            "Region [1] is more to the left.",
            "left_choice",
        );
        assert_eq!(it.read(&it.answer), Some(Reading::Region(1)));
        assert_eq!(
            it.read("Region [0] is more to the right."),
            Some(Reading::Region(1))
        );
        let it = item(
            "How far is Region [0] from Region [1]?",
            "3 feet",
            "distance_data",
        );
        assert!(
            matches!(it.read(&it.answer), Some(Reading::Metres(m)) if (m - 0.9144).abs() < 1e-9)
        );
        let it = item(
            "If you are at Region [0], where will you find Region [1]?",
            "Region [1] is roughly at 12 o'clock from Region [0].",
            "direction",
        );
        assert_eq!(it.read(&it.answer), Some(Reading::Clock(0.0)));
        assert_eq!(it.read("eleven o’clock"), Some(Reading::Clock(11.0)));
        assert!(judge(&it, "at 1 o'clock").success);
        assert!(judge(&it, "11 o'clock direction").success);
        assert!(!judge(&it, "2 o'clock").success);
    }
    #[test]
    fn regions_named_by_label() {
        let mut it = item(
            "Is Region [0] to the left of Region [1]?",
            "Yes, Region [0] is to the left of Region [1].",
            "left_predicate",
        );
        it.labels = vec![Some("wooden chair".into()), Some("tables".into())];
        assert_eq!(
            it.read("The wooden chair is to the right of the table."),
            Some(Reading::No)
        );
        assert_eq!(
            it.read("The table is to the right of the wooden chair."),
            Some(Reading::Yes)
        );
        let mut it = item(
            "Which is taller, Region [0] or Region [1]?",
            "Region [1] is taller.",
            "tall_choice",
        );
        it.labels = vec![Some("lamp".into()), Some("door".into())];
        assert!(judge(&it, "The door.").success);
        assert!(judge(&it, "The lamp is shorter than the door.").success);
        assert!(!judge(&it, "The lamp is taller.").success);
        // Region numbers are not lengths.
        let it = item(
            "How wide is Region [2]?",
            "Region [2] is 0.5 m wide.",
            "width_data",
        );
        assert!(!judge(&it, "Region [2] is wide.").success);
        assert_eq!(judge(&it, "Region [2] is wide.").status, "unparseable");
    }
}
