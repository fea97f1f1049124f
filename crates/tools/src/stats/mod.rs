//! Dataset statistics (`msmu stats`): counts per family, raw type, label, source and split,
//! QA per image, numeric annotations, distributions of object sizes, distances and visible
//! fractions, rejections and skipped scenes. Pure computation over [`SampleRow`]s and the
//! [`Manifest`]; rows are fed one at a time ([`StatsBuilder::add_row`]) so shards are streamed.
//! [`plots`] draws the PNG charts.

pub mod compare;
pub mod plots;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use msmu_data::dataset::manifest::{Manifest, SceneState};
use msmu_data::dataset::SampleRow;

/// Order statistics of a set of values (`None` fields when empty).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    pub min: Option<f64>,
    pub p10: Option<f64>,
    pub median: Option<f64>,
    pub mean: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
}

impl Summary {
    /// Summary of `values` (NaN values are ignored).
    pub fn of(values: &[f64]) -> Summary {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Summary::default();
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (v.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
        };
        Summary {
            count: v.len() as u64,
            min: Some(v[0]),
            p10: Some(q(0.1)),
            median: Some(q(0.5)),
            mean: Some(v.iter().sum::<f64>() / v.len() as f64),
            p90: Some(q(0.9)),
            max: Some(v[v.len() - 1]),
        }
    }
}

/// A skipped scene and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SkippedScene {
    pub scene_id: String,
    pub reason: String,
}

/// Everything `msmu stats` reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Rows (images) in the shards.
    pub rows: u64,
    pub qa: u64,
    pub objects: u64,
    /// Sum of `len(values_si)` over every QA pair.
    pub numeric_annotations: u64,
    pub cot_qa: u64,
    pub rows_by_split: BTreeMap<String, u64>,
    pub qa_by_split: BTreeMap<String, u64>,
    pub rows_by_source: BTreeMap<String, u64>,
    pub qa_by_source: BTreeMap<String, u64>,
    pub qa_by_family: BTreeMap<String, u64>,
    pub qa_by_type: BTreeMap<String, u64>,
    /// Accepted objects per label.
    pub objects_by_label: BTreeMap<String, u64>,
    /// Object references of QA pairs per label (a pair naming two chairs counts 2).
    pub qa_refs_by_label: BTreeMap<String, u64>,
    /// Images with `n` QA pairs, keyed by `n`.
    pub qa_per_image: BTreeMap<u64, u64>,
    pub qa_per_image_summary: Summary,
    pub length_m: Summary,
    pub width_m: Summary,
    pub height_m: Summary,
    /// `values_si` of the `absolute_distance` QA pairs, metres.
    pub distance_m: Summary,
    pub visible_fraction: Summary,
    /// Rejected (frame, object) pairs by reason (manifest `totals.rejections`).
    pub rejections: BTreeMap<String, u64>,
    /// Selected views not stored because their colour image was unreadable or the wrong size
    /// (manifest `totals.views_dropped`).
    pub views_dropped: u64,
    pub scenes: u64,
    pub scenes_done: u64,
    pub scenes_empty: u64,
    pub scenes_skipped: u64,
    pub skipped_scenes: Vec<SkippedScene>,
    /// The manifest's own row and QA totals (to compare with `rows` / `qa`).
    pub manifest_rows: u64,
    pub manifest_qa: u64,
}

/// Raw values kept for the plots.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub length_m: Vec<f64>,
    pub width_m: Vec<f64>,
    pub height_m: Vec<f64>,
    pub distance_m: Vec<f64>,
    pub visible_fraction: Vec<f64>,
    pub qa_per_image: Vec<f64>,
}

/// Accumulates [`Stats`] row by row.
#[derive(Debug, Default)]
pub struct StatsBuilder {
    stats: Stats,
    samples: Samples,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str, by: u64) {
    *map.entry(key.to_string()).or_default() += by;
}

impl StatsBuilder {
    pub fn new() -> StatsBuilder {
        StatsBuilder::default()
    }

    pub fn add_row(&mut self, row: &SampleRow) {
        let s = &mut self.stats;
        let n_qa = row.qa.len() as u64;
        s.rows += 1;
        s.qa += n_qa;
        s.objects += row.objects.len() as u64;
        bump(&mut s.rows_by_split, &row.split, 1);
        bump(&mut s.qa_by_split, &row.split, n_qa);
        bump(&mut s.rows_by_source, &row.source, 1);
        bump(&mut s.qa_by_source, &row.source, n_qa);
        *s.qa_per_image.entry(n_qa).or_default() += 1;
        self.samples.qa_per_image.push(n_qa as f64);
        let labels: HashMap<i64, &str> = row
            .objects
            .iter()
            .map(|o| (i64::from(o.instance_id), o.label.as_str()))
            .collect();
        for o in &row.objects {
            bump(&mut s.objects_by_label, &o.label, 1);
            self.samples.length_m.push(o.length_m);
            self.samples.width_m.push(o.width_m);
            self.samples.height_m.push(o.height_m);
            self.samples.visible_fraction.push(o.visible_fraction);
        }
        for qa in &row.qa {
            bump(&mut s.qa_by_family, &qa.family, 1);
            bump(&mut s.qa_by_type, &qa.r#type, 1);
            s.numeric_annotations += qa.values_si.len() as u64;
            s.cot_qa += u64::from(qa.is_cot);
            if qa.family == "absolute_distance" {
                self.samples.distance_m.extend(&qa.values_si);
            }
            for id in &qa.instance_ids {
                let label = labels.get(id).copied().unwrap_or("(unknown)");
                bump(&mut s.qa_refs_by_label, label, 1);
            }
        }
    }

    /// Adds the manifest's scene outcomes and rejections and computes the summaries.
    pub fn finish(mut self, manifest: &Manifest) -> (Stats, Samples) {
        let s = &mut self.stats;
        let t = &manifest.totals;
        s.rejections = t.rejections.clone();
        s.views_dropped = t.views_dropped;
        s.scenes = t.scenes;
        s.scenes_done = t.scenes_done;
        s.scenes_empty = t.scenes_empty;
        s.scenes_skipped = t.scenes_skipped;
        s.skipped_scenes = manifest
            .scenes
            .iter()
            .filter(|r| r.status == SceneState::Skipped)
            .map(|r| SkippedScene {
                scene_id: r.scene_id.clone(),
                reason: r.reason.clone().unwrap_or_default(),
            })
            .collect();
        s.manifest_rows = t.rows.values().sum();
        s.manifest_qa = t.qa.values().sum();
        let p = &self.samples;
        s.qa_per_image_summary = Summary::of(&p.qa_per_image);
        s.length_m = Summary::of(&p.length_m);
        s.width_m = Summary::of(&p.width_m);
        s.height_m = Summary::of(&p.height_m);
        s.distance_m = Summary::of(&p.distance_m);
        s.visible_fraction = Summary::of(&p.visible_fraction);
        (self.stats, self.samples)
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

fn count_table(out: &mut String, title: &str, key: &str, map: &BTreeMap<String, u64>) {
    let _ = writeln!(out, "## {title}\n");
    if map.is_empty() {
        out.push_str("(none)\n\n");
        return;
    }
    let total: u64 = map.values().sum();
    let _ = writeln!(out, "| {key} | count | share |\n|---|---:|---:|");
    let mut rows: Vec<(&String, &u64)> = map.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (k, n) in rows {
        let share = 100.0 * *n as f64 / total.max(1) as f64;
        let _ = writeln!(out, "| {k} | {n} | {share:.1} % |");
    }
    out.push('\n');
}

/// The markdown report; `images` lists `(title, relative png path)` to embed.
pub fn markdown(stats: &Stats, dataset: &str, images: &[(String, String)]) -> String {
    let mut out = String::new();
    let s = stats;
    let _ = writeln!(out, "# msmu dataset statistics: {dataset}\n");
    let _ = writeln!(
        out,
        "| | value |\n|---|---:|\n| images (rows) | {} |\n| QA pairs | {} |\n\
         | objects | {} |\n| numeric annotations | {} |\n| chain-of-thought QA | {} |\n\
         | scenes (done / empty / skipped) | {} ({} / {} / {}) |\n",
        s.rows,
        s.qa,
        s.objects,
        s.numeric_annotations,
        s.cot_qa,
        s.scenes,
        s.scenes_done,
        s.scenes_empty,
        s.scenes_skipped
    );
    if s.rows != s.manifest_rows || s.qa != s.manifest_qa {
        let _ = writeln!(
            out,
            "**Warning**: the shards hold {} rows / {} QA but manifest.json says {} / {} \
             (run `msmu validate`).\n",
            s.rows, s.qa, s.manifest_rows, s.manifest_qa
        );
    }
    let _ = writeln!(out, "## Splits\n\n| split | images | QA |\n|---|---:|---:|");
    for (split, n) in &s.rows_by_split {
        let qa = s.qa_by_split.get(split).copied().unwrap_or(0);
        let _ = writeln!(out, "| {split} | {n} | {qa} |");
    }
    let _ = writeln!(
        out,
        "\n## Sources\n\n| source | images | QA |\n|---|---:|---:|"
    );
    for (source, n) in &s.rows_by_source {
        let qa = s.qa_by_source.get(source).copied().unwrap_or(0);
        let _ = writeln!(out, "| {source} | {n} | {qa} |");
    }
    out.push('\n');
    count_table(&mut out, "QA per family", "family", &s.qa_by_family);
    count_table(&mut out, "QA per raw type", "type", &s.qa_by_type);
    count_table(&mut out, "Objects per label", "label", &s.objects_by_label);
    count_table(
        &mut out,
        "QA object references per label",
        "label",
        &s.qa_refs_by_label,
    );
    let _ = writeln!(out, "## QA per image\n\n| QA pairs | images |\n|---:|---:|");
    for (n, images) in &s.qa_per_image {
        let _ = writeln!(out, "| {n} | {images} |");
    }
    let _ = writeln!(
        out,
        "\n## Distributions\n\n| quantity | count | min | p10 | median | mean | p90 | max |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, d) in [
        ("QA per image", &s.qa_per_image_summary),
        ("object length (m)", &s.length_m),
        ("object width (m)", &s.width_m),
        ("object height (m)", &s.height_m),
        ("absolute distance answers (m)", &s.distance_m),
        ("visible fraction", &s.visible_fraction),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            d.count,
            fmt_opt(d.min),
            fmt_opt(d.p10),
            fmt_opt(d.median),
            fmt_opt(d.mean),
            fmt_opt(d.p90),
            fmt_opt(d.max)
        );
    }
    out.push('\n');
    count_table(
        &mut out,
        "Rejected (frame, object) pairs by reason",
        "reason",
        &s.rejections,
    );
    let _ = writeln!(
        out,
        "Views dropped (colour image unreadable or not the camera's size; see the manifest's \
         scene warnings): {}\n",
        s.views_dropped
    );
    let _ = writeln!(out, "## Skipped scenes\n");
    if s.skipped_scenes.is_empty() {
        out.push_str("(none)\n\n");
    } else {
        let _ = writeln!(out, "| scene | reason |\n|---|---|");
        for k in &s.skipped_scenes {
            let _ = writeln!(out, "| {} | {} |", k.scene_id, k.reason.replace('|', "\\|"));
        }
        out.push('\n');
    }
    if !images.is_empty() {
        let _ = writeln!(out, "## Charts\n");
        for (title, path) in images {
            let _ = writeln!(out, "### {title}\n\n![{title}]({path})\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_quantiles() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0, f64::NAN]);
        assert_eq!(s.count, 4);
        assert_eq!(s.min, Some(1.0));
        assert_eq!(s.max, Some(4.0));
        assert_eq!(s.median, Some(2.5));
        assert_eq!(s.mean, Some(2.5));
        assert_eq!(Summary::of(&[]), Summary::default());
    }
}
