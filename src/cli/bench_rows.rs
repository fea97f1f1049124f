//! Released benchmarks as model rows for `msmu predict`: the MSMU-Bench test split (Hub
//! Parquet, or the SD-VLM inference Parquet), Q-Spatial Bench and SpatialRGPT-Bench. Their
//! rows have no depth; with DPE on, `--depth-model` estimates it.

use std::path::Path;

use anyhow::Context as _;
use image::{ImageFormat, Rgb, RgbImage};
use msmu_data::dataset::{ImageBlob, ModelRow, QaRow};
use msmu_data::io::read_bounded;
use msmu_data::qa::Turn;

/// Whether `path` is an msmu dataset folder (shards under `data/`).
pub fn is_msmu_dataset(path: &Path) -> bool {
    path.is_dir() && path.join("data").is_dir()
}

/// The rows of a released benchmark, as model rows without depth: one per image, its
/// questions in `qa` with the references and raw types.
pub fn benchmark_rows(path: &Path, limit: Option<usize>) -> anyhow::Result<Vec<ModelRow>> {
    let rows = msmu_eval::bench::read_bench_rows(path)?;
    let mut out = Vec::new();
    for row in rows.into_iter().take(limit.unwrap_or(usize::MAX)) {
        anyhow::ensure!(
            !row.image.is_empty(),
            "{}: bench row {} has no image (columns `image` or `image_base64`)",
            path.display(),
            row.id
        );
        let qa: Vec<QaRow> = row
            .items
            .iter()
            .map(|item| QaRow {
                family: item.family.scorer_name().to_string(),
                r#type: item.raw_type.clone(),
                question: item.question.clone(),
                answer: item.answer.clone(),
                ..QaRow::default()
            })
            .collect();
        let conversations = row
            .items
            .iter()
            .flat_map(|item| {
                [
                    Turn {
                        from: "human".into(),
                        value: item.question.clone(),
                    },
                    Turn {
                        from: "gpt".into(),
                        value: item.answer.clone(),
                    },
                ]
            })
            .collect();
        out.push(ModelRow {
            id: row.id,
            image: ImageBlob {
                bytes: row.image,
                path: None,
            },
            depth: None,
            conversations,
            qa,
            ..ModelRow::default()
        });
    }
    Ok(out)
}

/// Q-Spatial Bench rows: one image and one question each, id `<split>#<row>`, the reference
/// as `value unit`.
pub fn qspatial_rows(
    path: &Path,
    limit: Option<usize>,
) -> anyhow::Result<(Vec<ModelRow>, Vec<Vec<String>>)> {
    let items = msmu_eval::qspatial::read_bench_with_images(path, None)?;
    let items: Vec<_> = items
        .into_iter()
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let ids = items.iter().map(|i| vec![i.id.clone()]).collect();
    let rows = items
        .into_iter()
        .map(|item| {
            anyhow::ensure!(!item.image.is_empty(), "{}: no image", item.origin);
            let answer = format!("{} {}", item.answer_value, item.answer_unit);
            Ok(ModelRow {
                id: item.id,
                image: ImageBlob {
                    bytes: item.image,
                    path: None,
                },
                qa: vec![QaRow {
                    family: "qspatial".into(),
                    r#type: item.question_type.unwrap_or_else(|| "qspatial".into()),
                    question: item.question.clone(),
                    answer: answer.clone(),
                    ..QaRow::default()
                }],
                conversations: vec![
                    Turn {
                        from: "human".into(),
                        value: item.question,
                    },
                    Turn {
                        from: "gpt".into(),
                        value: answer,
                    },
                ],
                ..ModelRow::default()
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((rows, ids))
}

/// Largest SpatialRGPT-Bench image read.
const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// Colours of regions 0, 1, ... as drawn, with the names the question uses.
const REGION_COLOURS: [(&str, [u8; 3]); 8] = [
    ("red", [230, 25, 25]),
    ("blue", [30, 90, 240]),
    ("green", [30, 180, 60]),
    ("yellow", [245, 215, 30]),
    ("magenta", [220, 40, 200]),
    ("cyan", [40, 210, 230]),
    ("orange", [250, 140, 20]),
    ("purple", [130, 50, 190]),
];

/// The image with each region's box outlined in its colour (`[x1, y1, x2, y2]` pixels;
/// line width 1/200 of the shorter side, at least 2 px), as PNG.
pub fn draw_regions(image: &RgbImage, boxes: &[[f64; 4]]) -> anyhow::Result<Vec<u8>> {
    let mut out = image.clone();
    let (w, h) = out.dimensions();
    let t = (w.min(h) / 200).max(2) as i64;
    for (k, b) in boxes.iter().enumerate() {
        let colour = Rgb(REGION_COLOURS[k % REGION_COLOURS.len()].1);
        let clamp = |v: f64, max: u32| (v.round() as i64).clamp(0, i64::from(max) - 1);
        let (x1, y1, x2, y2) = (
            clamp(b[0], w),
            clamp(b[1], h),
            clamp(b[2], w),
            clamp(b[3], h),
        );
        let (x1, x2) = (x1.min(x2), x1.max(x2));
        let (y1, y2) = (y1.min(y2), y1.max(y2));
        for y in y1..=y2 {
            for x in x1..=x2 {
                let edge = x - x1 < t || x2 - x < t || y - y1 < t || y2 - y < t;
                if edge {
                    out.put_pixel(x as u32, y as u32, colour);
                }
            }
        }
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    out.write_to(&mut bytes, ImageFormat::Png)?;
    Ok(bytes.into_inner())
}

/// "Region [k]" -> "Region [k] (the red box)" for every region drawn.
pub fn name_regions(question: &str, n_regions: usize) -> String {
    let mut q = question.to_string();
    for k in 0..n_regions {
        let colour = REGION_COLOURS[k % REGION_COLOURS.len()].0;
        q = q.replace(
            &format!("Region [{k}]"),
            &format!("Region [{k}] (the {colour} box)"),
        );
    }
    q
}

/// SpatialRGPT-Bench: one row per annotation item, the image (under `images`) with the
/// regions drawn, the question naming each region's colour; ids as the scorer's.
pub fn spatialrgpt_rows(
    path: &Path,
    images: &Path,
    limit: Option<usize>,
) -> anyhow::Result<(Vec<ModelRow>, Vec<Vec<String>>)> {
    let items = msmu_eval::spatialrgpt::read_bench(path)?;
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for item in items.into_iter().take(limit.unwrap_or(usize::MAX)) {
        let file = item
            .image
            .as_deref()
            .with_context(|| format!("{}: no image_info.file_path", item.origin))?;
        // Annotation text: only a plain relative path inside --images is followed.
        let image_path = images.join(
            msmu_tools::export::safe_relative(file, "image_info.file_path")
                .with_context(|| item.origin.clone())?,
        );
        let bytes = read_bounded(&image_path, MAX_IMAGE_BYTES).with_context(|| {
            format!(
                "{}: reading {} (give the image folder with --images)",
                item.origin,
                image_path.display()
            )
        })?;
        let rgb = image::load_from_memory(&bytes)
            .with_context(|| format!("{}: decoding {}", item.origin, image_path.display()))?
            .into_rgb8();
        let drawn = draw_regions(&rgb, &item.boxes)?;
        let question = name_regions(&item.question, item.boxes.len());
        rows.push(ModelRow {
            id: item.id.clone(),
            image: ImageBlob {
                bytes: drawn,
                path: None,
            },
            qa: vec![QaRow {
                family: "spatialrgpt".into(),
                r#type: item.raw_category.clone(),
                question: question.clone(),
                answer: item.answer.clone(),
                ..QaRow::default()
            }],
            conversations: vec![
                Turn {
                    from: "human".into(),
                    value: question,
                },
                Turn {
                    from: "gpt".into(),
                    value: item.answer,
                },
            ],
            ..ModelRow::default()
        });
        ids.push(vec![item.id]);
    }
    Ok((rows, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_drawn_in_their_colours_and_named() {
        let img = RgbImage::from_pixel(100, 80, Rgb([0, 0, 0]));
        let png =
            draw_regions(&img, &[[10.0, 10.0, 40.0, 30.0], [50.0, 20.0, 90.0, 70.0]]).unwrap();
        let out = image::load_from_memory(&png).unwrap().into_rgb8();
        assert_eq!(out.get_pixel(10, 20).0, REGION_COLOURS[0].1);
        assert_eq!(out.get_pixel(25, 20).0, [0, 0, 0]); // inside the box: untouched
        assert_eq!(out.get_pixel(90, 45).0, REGION_COLOURS[1].1);
        assert_eq!(
            name_regions("Is Region [0] behind Region [1]?", 2),
            "Is Region [0] (the red box) behind Region [1] (the blue box)?"
        );
    }
}
