//! PNG charts of an ablation: training loss curves and success per family with CIs. Drawn
//! like the [`stats`](crate::stats::plots) charts: with the font of
//! [`font_status`](crate::stats::plots::font_status), or without any text when none is found.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Analysis, RunResult};
use crate::stats::plots::{chart_err, has_text, render_png};

const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;

fn colour(i: usize) -> RGBAColor {
    Palette99::pick(i).to_rgba()
}

/// `(lo, hi)` of the finite `values`, widened when empty or flat, padded by 5%.
fn padded_range(values: impl Iterator<Item = f64>, floor_zero: bool) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let (lo, hi) = if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let pad = 0.05 * (hi - lo);
    let lo = if floor_zero {
        (lo - pad).max(0.0)
    } else {
        lo - pad
    };
    (lo, hi + pad)
}

/// Training loss against step for every run of `arms` (one colour per arm, one line per seed);
/// held-out losses as dashed lines with dots. Every run must belong to one of `arms`.
pub fn plot_losses(runs: &[RunResult], arms: &[String], path: &Path) -> anyhow::Result<()> {
    let mut by_arm: BTreeMap<usize, Vec<&RunResult>> = BTreeMap::new();
    for run in runs {
        let Some(i) = arms.iter().position(|a| *a == run.arm) else {
            bail!(
                "run of arm {} (seed {}) is not among the arms {arms:?}",
                run.arm,
                run.seed
            );
        };
        by_arm.entry(i).or_default().push(run);
    }
    for list in by_arm.values_mut() {
        list.sort_by_key(|r| r.seed);
    }
    let points = || runs.iter().flat_map(|r| r.losses.iter());
    let max_step = points().map(|p| p.step).max().unwrap_or(0).max(1) as f64;
    let (lo, hi) = padded_range(
        points().flat_map(|p| std::iter::once(p.loss).chain(p.eval_loss)),
        true,
    );
    let any_eval = points().any(|p| p.eval_loss.is_some());
    let text = has_text();
    render_png(path, (WIDTH, HEIGHT), |root| {
        let mut builder = ChartBuilder::on(root);
        builder.margin(12).margin_right(28);
        if text {
            builder
                .caption("Training loss", ("sans-serif", 22))
                .x_label_area_size(40)
                .y_label_area_size(56);
        }
        let mut chart = builder
            .build_cartesian_2d(0f64..max_step, lo..hi)
            .map_err(chart_err(path))?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("step")
                .y_desc("loss")
                .x_label_formatter(&|x| format!("{x:.0}"));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(chart_err(path))?;
        for (&i, list) in &by_arm {
            let c = colour(i);
            for (k, run) in list.iter().enumerate() {
                let train: Vec<(f64, f64)> = run
                    .losses
                    .iter()
                    .filter(|p| p.loss.is_finite())
                    .map(|p| (p.step as f64, p.loss))
                    .collect();
                let series = chart
                    .draw_series(std::iter::once(PathElement::new(
                        train.clone(),
                        c.stroke_width(2),
                    )))
                    .map_err(chart_err(path))?;
                if k == 0 && text {
                    series.label(arms[i].as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
                }
                if train.len() == 1 {
                    chart
                        .draw_series(train.iter().map(|&p| Circle::new(p, 3, c.filled())))
                        .map_err(chart_err(path))?;
                }
                let eval: Vec<(f64, f64)> = run
                    .losses
                    .iter()
                    .filter_map(|p| p.eval_loss.map(|e| (p.step as f64, e)))
                    .filter(|(_, e)| e.is_finite())
                    .collect();
                chart
                    .draw_series(std::iter::once(plotters::element::DashedPathElement::new(
                        eval.clone(),
                        8,
                        5,
                        c.stroke_width(2),
                    )))
                    .map_err(chart_err(path))?;
                chart
                    .draw_series(eval.iter().map(|&p| Circle::new(p, 4, c.filled())))
                    .map_err(chart_err(path))?;
            }
        }
        if text {
            if any_eval {
                chart
                    .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                    .map_err(chart_err(path))?
                    .label("held-out loss (dashed, dots)")
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(1))
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .draw()
                .map_err(chart_err(path))?;
        }
        Ok(())
    })
}

/// Grouped bars of success (%) per family and for the average: one bar per arm with its 95%
/// CI as an error bar.
pub fn plot_families(analysis: &Analysis, path: &Path) -> anyhow::Result<()> {
    let mut groups = vec!["average".to_string()];
    groups.extend(analysis.families.iter().cloned());
    let n_groups = groups.len();
    let n_arms = analysis.arms.len().max(1);
    // (group, arm) -> (mean, lo, hi)
    let mut bars = Vec::new();
    for (j, arm) in analysis.arms.iter().enumerate() {
        let a = &arm.average;
        bars.push((0, j, a.mean, a.lo, a.hi));
        for (g, family) in groups.iter().enumerate().skip(1) {
            if let Some(e) = arm.families.iter().find(|e| e.family == *family) {
                let e = &e.estimate;
                bars.push((g, j, e.mean, e.lo, e.hi));
            }
        }
    }
    let top = bars
        .iter()
        .flat_map(|b| [b.2, b.4])
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    // Headroom for the legend.
    let top = (top * 1.3).clamp(1.0, 130.0);
    let width = WIDTH.max(150 + 140 * n_groups as u32);
    let bar_w = 0.8 / n_arms as f64;
    let x_of = |g: usize, j: usize| g as f64 - 0.4 + bar_w * j as f64;
    let text = has_text();
    render_png(path, (width, HEIGHT), |root| {
        let mut builder = ChartBuilder::on(root);
        builder.margin(12);
        if text {
            builder
                .caption("Success per family (95% CI)", ("sans-serif", 22))
                .x_label_area_size(40)
                .y_label_area_size(56);
        }
        let mut chart = builder
            .build_cartesian_2d(-0.5f64..n_groups as f64 - 0.5, 0f64..top)
            .map_err(chart_err(path))?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh().x_labels(0);
        if text {
            mesh.y_desc("success %");
        } else {
            mesh.y_labels(0);
        }
        mesh.draw().map_err(chart_err(path))?;
        if text {
            // The group names under the axis, centred on their groups.
            let style = TextStyle::from(("sans-serif", 14).into_font())
                .pos(Pos::new(HPos::Center, VPos::Top));
            for (g, name) in groups.iter().enumerate() {
                let (x, y) = chart.backend_coord(&(g as f64, 0.0));
                root.draw(&Text::new(name.as_str(), (x, y + 8), style.clone()))
                    .map_err(chart_err(path))?;
            }
        }
        for (j, arm) in analysis.arms.iter().enumerate() {
            let c = colour(j);
            let mine: Vec<_> = bars.iter().filter(|b| b.1 == j).collect();
            let series = chart
                .draw_series(mine.iter().map(|&&(g, j, m, _, _)| {
                    let x = x_of(g, j);
                    Rectangle::new(
                        [(x, 0.0), (x + bar_w * 0.92, m.max(0.0))],
                        c.mix(0.75).filled(),
                    )
                }))
                .map_err(chart_err(path))?;
            if text {
                series.label(arm.arm.as_str()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.mix(0.75).filled())
                });
            }
            chart
                .draw_series(
                    mine.iter()
                        .filter(|b| b.3.is_finite() && b.4.is_finite())
                        .flat_map(|&&(g, j, _, lo, hi)| {
                            let x = x_of(g, j) + bar_w * 0.46;
                            let cap = bar_w * 0.2;
                            [
                                [(x, lo), (x, hi)],
                                [(x - cap, lo), (x + cap, lo)],
                                [(x - cap, hi), (x + cap, hi)],
                            ]
                            .map(|seg| PathElement::new(seg.to_vec(), BLACK.stroke_width(1)))
                        }),
                )
                .map_err(chart_err(path))?;
        }
        if text {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .draw()
                .map_err(chart_err(path))?;
        }
        Ok(())
    })
}
