//! `msmu stats --compare official`: a built dataset's mix and density next to the official
//! MSMU data's published figures (shared docs MSMU.md: 700K QA over 25K images from 2K scenes,
//! 2.5M numeric annotations, 10K chain-of-thought samples; the family counts of MSMU-Bench's
//! 987 test rows, the only per-family shares published).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::plots::{chart_err, has_text, render_png};
use super::Stats;
use msmu_data::qa::Family;

/// The official figures msmu compares with.
#[derive(Clone, Debug, Serialize)]
pub struct OfficialFigures {
    pub scenes: f64,
    pub images: f64,
    pub qa: f64,
    pub numeric_annotations: f64,
    pub cot_qa: f64,
    /// MSMU-Bench test rows per family (scorer names); halves where the audits disagree by one.
    pub test_rows_by_family: Vec<(&'static str, f64)>,
}

impl OfficialFigures {
    pub fn published() -> Self {
        Self {
            scenes: 2_000.0,
            images: 25_000.0,
            qa: 700_000.0,
            numeric_annotations: 2_500_000.0,
            cot_qa: 10_000.0,
            test_rows_by_family: vec![
                ("existence", 47.5),
                ("count", 96.0),
                ("scale_estimation", 259.0),
                ("grounding", 87.0),
                ("relative_position", 161.0),
                ("absolute_distance", 40.0),
                ("scale_compare", 106.0),
                ("refer_obj_estimation", 190.5),
            ],
        }
    }
}

/// One compared figure.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Row {
    pub metric: String,
    pub msmu: f64,
    pub official: f64,
    /// `msmu - official` (percentage points for shares).
    pub difference: f64,
}

/// The comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Density and scale figures (QA per image, numeric annotations per QA, CoT share, ...).
    pub density: Vec<Row>,
    /// Family shares of all QA, in percent, against the official test split's shares.
    pub families: Vec<Row>,
    pub official: OfficialFigures,
}

fn row(metric: &str, msmu: f64, official: f64) -> Row {
    Row {
        metric: metric.to_string(),
        msmu,
        official,
        difference: msmu - official,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Compares `stats` with the official figures.
pub fn compare_official(stats: &Stats) -> Comparison {
    let o = OfficialFigures::published();
    let density = vec![
        row("QA per image", ratio(stats.qa, stats.rows), o.qa / o.images),
        row(
            "numeric annotations per QA",
            ratio(stats.numeric_annotations, stats.qa),
            o.numeric_annotations / o.qa,
        ),
        row(
            "chain-of-thought share of QA (%)",
            100.0 * ratio(stats.cot_qa, stats.qa),
            100.0 * o.cot_qa / o.qa,
        ),
        row(
            "images per scene",
            ratio(stats.rows, stats.scenes_done),
            o.images / o.scenes,
        ),
        row(
            "QA per scene",
            ratio(stats.qa, stats.scenes_done),
            o.qa / o.scenes,
        ),
    ];
    let total: f64 = o.test_rows_by_family.iter().map(|(_, n)| n).sum();
    let families = Family::ALL
        .iter()
        .map(|f| {
            let name = f.scorer_name();
            let official = o
                .test_rows_by_family
                .iter()
                .find(|(k, _)| *k == name)
                .map_or(0.0, |(_, n)| 100.0 * n / total);
            let ours = stats
                .qa_by_family
                .iter()
                .filter(|(k, _)| k.as_str() == name || k.as_str() == f.name())
                .map(|(_, v)| *v)
                .sum::<u64>();
            row(name, 100.0 * ratio(ours, stats.qa), official)
        })
        .collect();
    Comparison {
        density,
        families,
        official: o,
    }
}

impl Comparison {
    /// The Markdown section.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "## Compared with the official MSMU data\n\nOfficial figures as published (700K QA, \
             25K images, 2K scenes, 2.5M numeric annotations, 10K CoT samples); family shares \
             are those of MSMU-Bench's 987 test rows, the only per-family counts published.\n"
        );
        let _ = writeln!(s, "| figure | this dataset | official | difference |");
        let _ = writeln!(s, "|---|---:|---:|---:|");
        for r in &self.density {
            let _ = writeln!(
                s,
                "| {} | {:.2} | {:.2} | {:+.2} |",
                r.metric, r.msmu, r.official, r.difference
            );
        }
        let _ = writeln!(
            s,
            "\n| family | share of QA (%) | official share (%) | difference (points) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|");
        for r in &self.families {
            let _ = writeln!(
                s,
                "| {} | {:.1} | {:.1} | {:+.1} |",
                r.metric, r.msmu, r.official, r.difference
            );
        }
        s
    }

    /// Grouped bars of the family shares, this dataset next to the official data.
    pub fn plot(&self, path: &Path) -> anyhow::Result<()> {
        let n = self.families.len();
        let max = self
            .families
            .iter()
            .map(|r| r.msmu.max(r.official))
            .fold(1.0, f64::max);
        let text = has_text();
        render_png(path, (1000, 520), |root| {
            let mut builder = ChartBuilder::on(root);
            builder.margin(14);
            if text {
                builder
                    .caption(
                        "Share of QA per family: this dataset (blue) vs official (orange)",
                        ("sans-serif", 20),
                    )
                    .x_label_area_size(60)
                    .y_label_area_size(48);
            }
            let mut chart = builder
                .build_cartesian_2d(0f64..n as f64, 0f64..max * 1.15)
                .map_err(chart_err(path))?;
            let mut mesh = chart.configure_mesh();
            mesh.disable_x_mesh().x_labels(0);
            if text {
                mesh.y_desc("% of QA");
            } else {
                mesh.y_labels(0);
            }
            mesh.draw().map_err(chart_err(path))?;
            let ours = BLUE.mix(0.65).filled();
            let theirs = RGBColor(230, 120, 20).mix(0.8).filled();
            chart
                .draw_series(self.families.iter().enumerate().flat_map(|(i, r)| {
                    let x = i as f64;
                    [
                        Rectangle::new([(x + 0.1, 0.0), (x + 0.48, r.msmu)], ours),
                        Rectangle::new([(x + 0.52, 0.0), (x + 0.9, r.official)], theirs),
                    ]
                }))
                .map_err(chart_err(path))?;
            if text {
                chart
                    .draw_series(self.families.iter().enumerate().map(|(i, r)| {
                        Text::new(
                            r.metric.replace('_', " "),
                            (i as f64 + 0.05, -max * 0.04),
                            ("sans-serif", 12),
                        )
                    }))
                    .map_err(chart_err(path))?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_density_against_the_published_figures() {
        let mut stats = Stats {
            rows: 10,
            qa: 200,
            numeric_annotations: 500,
            cot_qa: 4,
            scenes_done: 2,
            ..Stats::default()
        };
        stats.qa_by_family.insert("count".into(), 50);
        stats.qa_by_family.insert("existence".into(), 150);
        let c = compare_official(&stats);
        let get = |rows: &[Row], m: &str| rows.iter().find(|r| r.metric == m).unwrap().clone();
        let qa = get(&c.density, "QA per image");
        assert_eq!((qa.msmu, qa.official), (20.0, 28.0));
        assert!((get(&c.density, "numeric annotations per QA").official - 3.5714).abs() < 1e-3);
        assert_eq!(
            get(&c.density, "chain-of-thought share of QA (%)").msmu,
            2.0
        );
        assert_eq!(get(&c.families, "count").msmu, 25.0);
        assert_eq!(get(&c.families, "existence").msmu, 75.0);
        assert!(
            (get(&c.families, "scale_estimation").official - 100.0 * 259.0 / 987.0).abs() < 1e-9
        );
        let total: f64 = c.families.iter().map(|r| r.official).sum();
        assert!((total - 100.0).abs() < 1e-9);
        let md = c.to_markdown();
        assert!(
            md.contains("| QA per image | 20.00 | 28.00 | -8.00 |"),
            "{md}"
        );
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("c.png");
        c.plot(&png).unwrap();
        assert_eq!(image::open(&png).unwrap().width(), 1000);
    }
}
