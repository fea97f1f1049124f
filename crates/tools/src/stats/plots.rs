//! PNG charts of [`Stats`](super::Stats) with `plotters` (bitmap backend drawing into an RGB
//! buffer, encoded to PNG with the `image` crate msmu already uses).
//!
//! Text needs a TrueType font: msmu bundles none and does not use fontconfig. The font is
//! the file named by `MSMU_FONT`, else the first of a few usual system paths (DejaVu Sans,
//! Liberation Sans, Noto Sans); when none is found the charts are drawn without any text
//! (bars and axes only) and [`FontStatus::Missing`] says so.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context as _;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{Samples, Stats};

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Whether chart text could be drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FontStatus {
    Loaded(PathBuf),
    Missing,
}

/// Registers the first usable font as `sans-serif` (once per process).
pub fn font_status() -> FontStatus {
    static STATUS: OnceLock<FontStatus> = OnceLock::new();
    STATUS
        .get_or_init(|| {
            let env = std::env::var_os("MSMU_FONT").map(PathBuf::from);
            let candidates = env
                .into_iter()
                .chain(FONT_CANDIDATES.iter().map(PathBuf::from));
            for path in candidates {
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return FontStatus::Loaded(path);
                }
            }
            FontStatus::Missing
        })
        .clone()
}

pub(crate) fn has_text() -> bool {
    matches!(font_status(), FontStatus::Loaded(_))
}

const WIDTH: u32 = 900;
const HEIGHT: u32 = 560;

pub(crate) fn chart_err<E: std::fmt::Debug>(path: &Path) -> impl FnOnce(E) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{}: drawing the chart failed: {e:?}", path.display())
}

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Draws into a white `width x height` RGB buffer and writes it as a PNG.
pub(crate) fn render_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut buffer = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err(path))?;
        draw(&root)?;
        root.present().map_err(chart_err(path))?;
    }
    let image = image::RgbImage::from_raw(width, height, buffer)
        .ok_or_else(|| anyhow::anyhow!("{}: chart buffer has the wrong size", path.display()))?;
    image
        .save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", path.display()))
}

/// Horizontal bars, one per category (largest first, at most `max_bars`).
pub fn bar_chart(
    path: &Path,
    title: &str,
    counts: &std::collections::BTreeMap<String, u64>,
    max_bars: usize,
) -> anyhow::Result<()> {
    let mut items: Vec<(&String, &u64)> = counts.iter().collect();
    items.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    items.truncate(max_bars.max(1));
    let n = items.len().max(1);
    let height = (HEIGHT as usize).max(60 + 26 * n) as u32;
    let max = items.first().map_or(1, |(_, v)| **v).max(1) as f64;
    let text = has_text();
    render_png(path, (WIDTH, height), |root| {
        let mut builder = ChartBuilder::on(root);
        builder.margin(12);
        if text {
            builder
                .caption(title, ("sans-serif", 22))
                .x_label_area_size(32);
        }
        let mut chart = builder
            .build_cartesian_2d(0f64..max * 1.05, 0f64..n as f64)
            .map_err(chart_err(path))?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_y_mesh().y_labels(0);
        if !text {
            mesh.x_labels(0);
        }
        mesh.draw().map_err(chart_err(path))?;
        let top = n as f64;
        chart
            .draw_series(items.iter().enumerate().map(|(i, (_, v))| {
                let y = top - i as f64;
                Rectangle::new(
                    [(0.0, y - 0.85), (**v as f64, y - 0.15)],
                    BLUE.mix(0.6).filled(),
                )
            }))
            .map_err(chart_err(path))?;
        if text {
            chart
                .draw_series(items.iter().enumerate().map(|(i, (k, v))| {
                    let y = top - i as f64 - 0.3;
                    Text::new(format!("{k} ({v})"), (max * 0.01, y), ("sans-serif", 15))
                }))
                .map_err(chart_err(path))?;
        }
        Ok(())
    })
}

/// Histogram of `values` with `bins` equal bins between their min and max.
pub fn histogram(
    path: &Path,
    title: &str,
    x_desc: &str,
    values: &[f64],
    bins: usize,
) -> anyhow::Result<()> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let (lo, hi) = if v.is_empty() {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let bins = bins.max(1);
    let step = (hi - lo) / bins as f64;
    let mut counts = vec![0u64; bins];
    for x in &v {
        let k = (((x - lo) / step) as usize).min(bins - 1);
        counts[k] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let text = has_text();
    render_png(path, (WIDTH, HEIGHT), |root| {
        let mut builder = ChartBuilder::on(root);
        builder.margin(12);
        if text {
            builder
                .caption(format!("{title} (n = {})", v.len()), ("sans-serif", 22))
                .x_label_area_size(40)
                .y_label_area_size(56);
        }
        let mut chart = builder
            .build_cartesian_2d(lo..hi, 0f64..top * 1.05)
            .map_err(chart_err(path))?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh();
        if text {
            mesh.x_desc(x_desc).y_desc("count");
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(chart_err(path))?;
        chart
            .draw_series(counts.iter().enumerate().map(|(k, &c)| {
                let x0 = lo + step * k as f64;
                Rectangle::new([(x0, 0.0), (x0 + step, c as f64)], BLUE.mix(0.6).filled())
            }))
            .map_err(chart_err(path))?;
        Ok(())
    })
}

/// Writes every chart into `dir`; returns `(title, file name)` in report order.
pub fn write_all(
    dir: &Path,
    stats: &Stats,
    samples: &Samples,
) -> anyhow::Result<Vec<(String, String)>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let mut bars = |file: &str, title: &str, map: &std::collections::BTreeMap<String, u64>| {
        bar_chart(&dir.join(file), title, map, 30)?;
        written.push((title.to_string(), file.to_string()));
        anyhow::Ok(())
    };
    bars("qa_by_family.png", "QA per family", &stats.qa_by_family)?;
    bars("qa_by_type.png", "QA per raw type", &stats.qa_by_type)?;
    bars(
        "objects_by_label.png",
        "Objects per label (top 30)",
        &stats.objects_by_label,
    )?;
    bars(
        "qa_refs_by_label.png",
        "QA object references per label (top 30)",
        &stats.qa_refs_by_label,
    )?;
    bars(
        "rejections.png",
        "Rejected (frame, object) pairs by reason",
        &stats.rejections,
    )?;
    bars(
        "rows_by_split.png",
        "Images per split",
        &stats.rows_by_split,
    )?;
    bars(
        "rows_by_source.png",
        "Images per source",
        &stats.rows_by_source,
    )?;
    let hists: [(&str, &str, &str, &[f64]); 6] = [
        (
            "qa_per_image.png",
            "QA pairs per image",
            "QA pairs",
            &samples.qa_per_image,
        ),
        ("length_m.png", "Object length", "metres", &samples.length_m),
        ("width_m.png", "Object width", "metres", &samples.width_m),
        ("height_m.png", "Object height", "metres", &samples.height_m),
        (
            "distance_m.png",
            "Absolute distance answers",
            "metres",
            &samples.distance_m,
        ),
        (
            "visible_fraction.png",
            "Object visible fraction",
            "visible / unoccluded pixels",
            &samples.visible_fraction,
        ),
    ];
    for (file, title, x_desc, values) in hists {
        histogram(&dir.join(file), title, x_desc, values, 30)?;
        written.push((title.to_string(), file.to_string()));
    }
    Ok(written)
}
