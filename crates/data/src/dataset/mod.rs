//! The dataset: one row per selected image ([`SampleRow`]), its Arrow schema with the Hugging
//! Face `datasets` feature metadata ([`arrow_rows::schema`], column names in
//! [`arrow_rows::col`]), the Parquet shard writer and whole-row reader ([`shard`]), the
//! projected row-group reader of the trainer and `msmu predict` ([`reader`], [`ModelRow`]),
//! and the one atomic file writer ([`atomic`]). Schema version [`SCHEMA_VERSION`] is
//! documented in `schemas/dataset-v3.md` and `schemas/dataset-v3.features.json`.

pub mod arrow_rows;
pub mod atomic;
pub mod depth_png;
pub mod manifest;
pub mod reader;
pub mod shard;

use serde::{Deserialize, Serialize};

use crate::qa::{BoxConvention, QaPair, Turn};
use depth_png::DepthSource;

/// Version of the row layout; bump on any change of columns or their meaning.
/// Version 2 added `depth_source`.
pub const SCHEMA_VERSION: u32 = 3;

/// Encoded image file (JPEG or PNG) as Hugging Face stores an `Image` feature.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBlob {
    pub bytes: Vec<u8>,
    /// File name the bytes came from (or would have), relative; `None` when unknown.
    pub path: Option<String>,
}

/// A pinhole camera of the row: intrinsics in pixels for an image of `width x height`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraRow {
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    pub width: u32,
    pub height: u32,
}

/// An accepted object of the image (object selection passed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectRow {
    pub instance_id: u32,
    pub label: String,
    pub raw_label: String,
    /// The phrase questions use for this object ("the white chair"), or the label.
    pub phrase: String,
    /// Visible-pixel box, normalised `[x_min, y_min, x_max, y_max]` (pixel edges / size).
    pub bbox_2d: [f64; 4],
    /// Mean normalised `(x, y)` of the visible pixels (origin top-left).
    pub centroid_2d: [f64; 2],
    pub visible_fraction: f64,
    pub visible_pixels: u64,
    pub truncation: f64,
    /// Centre of the gravity-aligned box, aligned world frame (z up), metres.
    pub center: [f64; 3],
    pub length_m: f64,
    pub width_m: f64,
    pub height_m: f64,
    pub yaw_rad: f64,
}

/// One QA pair of the image (the structured form of a [`QaPair`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QaRow {
    /// Official scorer family name (`count`, `scale_estimation`, ...).
    pub family: String,
    /// Official raw `type`.
    pub r#type: String,
    pub question: String,
    pub answer: String,
    pub values_si: Vec<f64>,
    pub unit: String,
    pub instance_ids: Vec<i64>,
    pub template_id: String,
    pub is_cot: bool,
    pub answer_key: Option<String>,
    pub definitions: Vec<String>,
    /// The conventions profile of the build (`msmu build --profile`: `msmu`, `official`);
    /// empty in shards of schema version 1 and 2, which did not record it.
    pub profile: String,
    /// The box the QA's sizes and centres are stated for: `gravity_aligned` or
    /// `axis_aligned`; empty in shards of schema version 1 and 2.
    pub box_convention: String,
}

impl QaRow {
    /// The row of a generated pair, recording the build's profile and box convention.
    pub fn new(qa: &QaPair, profile: &str, box_convention: BoxConvention) -> QaRow {
        QaRow {
            family: qa.family.scorer_name().to_string(),
            r#type: qa.raw_type.clone(),
            question: qa.question.clone(),
            answer: qa.answer.clone(),
            values_si: qa.values_si.clone(),
            unit: qa.unit.clone(),
            instance_ids: qa.instance_ids.iter().map(|&id| i64::from(id)).collect(),
            template_id: qa.template_id.clone(),
            is_cot: qa.is_cot,
            answer_key: qa.answer_key.clone(),
            definitions: qa.definitions.clone(),
            profile: profile.to_string(),
            box_convention: box_convention.as_str().to_string(),
        }
    }
}

/// One dataset row: an image with its depth, cameras, objects, QA and conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleRow {
    /// `{scene_id}_{frame_id}`, unique in a build.
    pub id: String,
    pub scene_id: String,
    /// `scannet`, `scannetpp` or `synthetic`.
    pub source: String,
    /// `train` or `test`.
    pub split: String,
    pub frame_id: String,
    /// The original colour frame (JPEG bytes as stored by the source).
    pub image: ImageBlob,
    /// 16-bit PNG, 0 = no value: metric depth in millimetres rendered from the mesh, or an
    /// estimate of the colour image ([`depth_source`](Self::depth_source) says which).
    pub depth: ImageBlob,
    /// What `depth` holds (`msmu build --depth-source`).
    pub depth_source: DepthSource,
    /// 16-bit PNG of instance ids (0 = none), with `--with-masks`.
    pub instance_mask: Option<ImageBlob>,
    /// Camera of `image`.
    pub intrinsics: CameraRow,
    /// Camera of `depth` and `instance_mask` (same pose, other resolution).
    pub depth_intrinsics: CameraRow,
    /// Colour camera pose in the aligned world frame (z up, metres), row-major 4x4.
    pub world_from_camera: [f64; 16],
    pub objects: Vec<ObjectRow>,
    pub qa: Vec<QaRow>,
    pub conversations: Vec<Turn>,
}

/// The columns of a row that a model reads ([`arrow_rows::col::MODEL`]): what training and
/// prediction decode, and nothing else. The fields are those of [`SampleRow`], except that
/// `depth` is `None` for a row without depth (no `depth` column, a null or an empty blob).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub id: String,
    pub image: ImageBlob,
    pub depth: Option<ImageBlob>,
    pub depth_source: DepthSource,
    pub conversations: Vec<Turn>,
    pub qa: Vec<QaRow>,
}

impl From<SampleRow> for ModelRow {
    fn from(row: SampleRow) -> Self {
        ModelRow {
            id: row.id,
            image: row.image,
            depth: Some(row.depth).filter(|d| !d.bytes.is_empty()),
            depth_source: row.depth_source,
            conversations: row.conversations,
            qa: row.qa,
        }
    }
}

impl SampleRow {
    /// Bytes this row takes uncompressed in Arrow (approximate: payloads and text).
    pub fn approx_bytes(&self) -> u64 {
        let text: usize = self
            .qa
            .iter()
            .map(|q| q.question.len() + q.answer.len() + 64)
            .sum::<usize>()
            + self
                .conversations
                .iter()
                .map(|t| t.value.len() + 8)
                .sum::<usize>()
            + self.objects.len() * 160;
        (self.image.bytes.len()
            + self.depth.bytes.len()
            + self.instance_mask.as_ref().map_or(0, |m| m.bytes.len())
            + text
            + 512) as u64
    }
}
