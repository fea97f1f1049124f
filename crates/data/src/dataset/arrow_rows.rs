//! [`SampleRow`]s to Arrow record batches and back, and the Arrow schema with the Hugging Face
//! `datasets` feature metadata (key `huggingface`), so that `image`, `depth` and
//! `instance_mask` decode as images. The column names are spelled once, in [`col`]; the
//! decoders here are the only code that turns shard columns into values, for whole rows
//! ([`from_batch`]) as for the columns a model reads ([`model_rows_from_batch`]).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Float64Array, Int64Array, ListArray,
    RecordBatch, StringArray, StructArray, UInt32Array, UInt64Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int64Type, Schema, SchemaRef};
use arrow::datatypes::{UInt32Type, UInt64Type};
use serde_json::{json, Value};

use super::depth_png::DepthSource;
use super::{CameraRow, ImageBlob, ModelRow, ObjectRow, QaRow, SampleRow, SCHEMA_VERSION};
use crate::qa::Turn;

/// The top-level column names of [`schema`], in schema order: the one place they are spelled.
pub mod col {
    pub const ID: &str = "id";
    pub const SCENE_ID: &str = "scene_id";
    pub const SOURCE: &str = "source";
    pub const SPLIT: &str = "split";
    pub const FRAME_ID: &str = "frame_id";
    pub const IMAGE: &str = "image";
    pub const DEPTH: &str = "depth";
    pub const DEPTH_SOURCE: &str = "depth_source";
    pub const INSTANCE_MASK: &str = "instance_mask";
    pub const INTRINSICS: &str = "intrinsics";
    pub const DEPTH_INTRINSICS: &str = "depth_intrinsics";
    pub const WORLD_FROM_CAMERA: &str = "world_from_camera";
    pub const OBJECTS: &str = "objects";
    pub const QA: &str = "qa";
    pub const CONVERSATIONS: &str = "conversations";

    /// Every column, in schema order.
    pub const ALL: [&str; 15] = [
        ID,
        SCENE_ID,
        SOURCE,
        SPLIT,
        FRAME_ID,
        IMAGE,
        DEPTH,
        DEPTH_SOURCE,
        INSTANCE_MASK,
        INTRINSICS,
        DEPTH_INTRINSICS,
        WORLD_FROM_CAMERA,
        OBJECTS,
        QA,
        CONVERSATIONS,
    ];

    /// The columns a model reads (training and prediction): [`super::super::ModelRow`].
    pub const MODEL: [&str; 6] = [ID, IMAGE, DEPTH, DEPTH_SOURCE, CONVERSATIONS, QA];

    /// Columns of [`MODEL`] a shard may lack: data from elsewhere (the official SD-VLM
    /// release has no depth; shards of schema version 1 have no `depth_source`).
    pub const MODEL_OPTIONAL: [&str; 2] = [DEPTH, DEPTH_SOURCE];
}

fn utf8(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn list_of(name: &str, item: DataType, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", item, true))),
        nullable,
    )
}

fn image_fields() -> Fields {
    Fields::from(vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("path", DataType::Utf8, true),
    ])
}

fn camera_fields() -> Fields {
    Fields::from(vec![
        Field::new("fx", DataType::Float64, true),
        Field::new("fy", DataType::Float64, true),
        Field::new("cx", DataType::Float64, true),
        Field::new("cy", DataType::Float64, true),
        Field::new("width", DataType::UInt32, true),
        Field::new("height", DataType::UInt32, true),
    ])
}

fn object_fields() -> Fields {
    Fields::from(vec![
        Field::new("instance_id", DataType::UInt32, true),
        utf8("label"),
        utf8("raw_label"),
        utf8("phrase"),
        list_of("bbox_2d", DataType::Float64, true),
        list_of("centroid_2d", DataType::Float64, true),
        Field::new("visible_fraction", DataType::Float64, true),
        Field::new("visible_pixels", DataType::UInt64, true),
        Field::new("truncation", DataType::Float64, true),
        list_of("center", DataType::Float64, true),
        Field::new("length_m", DataType::Float64, true),
        Field::new("width_m", DataType::Float64, true),
        Field::new("height_m", DataType::Float64, true),
        Field::new("yaw_rad", DataType::Float64, true),
    ])
}

fn qa_fields() -> Fields {
    Fields::from(vec![
        utf8("family"),
        utf8("type"),
        utf8("question"),
        utf8("answer"),
        list_of("values_si", DataType::Float64, true),
        utf8("unit"),
        list_of("instance_ids", DataType::Int64, true),
        utf8("template_id"),
        Field::new("is_cot", DataType::Boolean, true),
        Field::new("answer_key", DataType::Utf8, true),
        list_of("definitions", DataType::Utf8, true),
        utf8("profile"),
        utf8("box_convention"),
    ])
}

fn turn_fields() -> Fields {
    Fields::from(vec![utf8("from"), utf8("value")])
}

fn value(dtype: &str) -> Value {
    json!({"dtype": dtype, "_type": "Value"})
}

fn list_feature(feature: Value) -> Value {
    json!({"feature": feature, "_type": "List"})
}

/// The `datasets` features of every column (the `huggingface` metadata and the card's
/// `dataset_info`).
pub fn hf_features() -> Value {
    let camera = json!({
        "fx": value("float64"), "fy": value("float64"), "cx": value("float64"),
        "cy": value("float64"), "width": value("uint32"), "height": value("uint32"),
    });
    let f64s = || list_feature(value("float64"));
    let object = json!({
        "instance_id": value("uint32"), "label": value("string"), "raw_label": value("string"),
        "phrase": value("string"), "bbox_2d": f64s(), "centroid_2d": f64s(),
        "visible_fraction": value("float64"), "visible_pixels": value("uint64"),
        "truncation": value("float64"), "center": f64s(), "length_m": value("float64"),
        "width_m": value("float64"), "height_m": value("float64"), "yaw_rad": value("float64"),
    });
    let qa = json!({
        "family": value("string"), "type": value("string"), "question": value("string"),
        "answer": value("string"), "values_si": f64s(), "unit": value("string"),
        "instance_ids": list_feature(value("int64")), "template_id": value("string"),
        "is_cot": value("bool"), "answer_key": value("string"),
        "definitions": list_feature(value("string")),
        "profile": value("string"), "box_convention": value("string"),
    });
    let image = || json!({"_type": "Image"});
    let features: serde_json::Map<String, Value> = [
        (col::ID, value("string")),
        (col::SCENE_ID, value("string")),
        (col::SOURCE, value("string")),
        (col::SPLIT, value("string")),
        (col::FRAME_ID, value("string")),
        (col::IMAGE, image()),
        (col::DEPTH, image()),
        (col::DEPTH_SOURCE, value("string")),
        (col::INSTANCE_MASK, image()),
        (col::INTRINSICS, camera.clone()),
        (col::DEPTH_INTRINSICS, camera),
        (col::WORLD_FROM_CAMERA, f64s()),
        (col::OBJECTS, list_feature(object)),
        (col::QA, list_feature(qa)),
        (
            col::CONVERSATIONS,
            list_feature(json!({"from": value("string"), "value": value("string")})),
        ),
    ]
    .into_iter()
    .map(|(name, feature)| (name.to_string(), feature))
    .collect();
    Value::Object(features)
}

/// The Arrow schema of a shard, with the `huggingface` and `msmu` metadata.
pub fn schema() -> SchemaRef {
    let fields = vec![
        utf8(col::ID),
        utf8(col::SCENE_ID),
        utf8(col::SOURCE),
        utf8(col::SPLIT),
        utf8(col::FRAME_ID),
        Field::new(col::IMAGE, DataType::Struct(image_fields()), true),
        Field::new(col::DEPTH, DataType::Struct(image_fields()), true),
        utf8(col::DEPTH_SOURCE),
        Field::new(col::INSTANCE_MASK, DataType::Struct(image_fields()), true),
        Field::new(col::INTRINSICS, DataType::Struct(camera_fields()), true),
        Field::new(
            col::DEPTH_INTRINSICS,
            DataType::Struct(camera_fields()),
            true,
        ),
        list_of(col::WORLD_FROM_CAMERA, DataType::Float64, true),
        list_of(col::OBJECTS, DataType::Struct(object_fields()), true),
        list_of(col::QA, DataType::Struct(qa_fields()), true),
        list_of(col::CONVERSATIONS, DataType::Struct(turn_fields()), true),
    ];
    let mut metadata = HashMap::new();
    metadata.insert(
        "huggingface".to_string(),
        json!({"info": {"features": hf_features()}}).to_string(),
    );
    metadata.insert(
        "msmu_schema_version".to_string(),
        SCHEMA_VERSION.to_string(),
    );
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn f64_list(lists: impl Iterator<Item = Vec<f64>>) -> ArrayRef {
    let mut lengths = Vec::new();
    let mut flat = Vec::new();
    for list in lists {
        lengths.push(list.len());
        flat.extend(list);
    }
    list_array(
        DataType::Float64,
        lengths,
        Arc::new(Float64Array::from(flat)),
    )
}

fn list_array(item: DataType, lengths: Vec<usize>, values: ArrayRef) -> ArrayRef {
    Arc::new(ListArray::new(
        Arc::new(Field::new("item", item, true)),
        OffsetBuffer::from_lengths(lengths),
        values,
        None,
    ))
}

fn image_array(images: &[Option<&ImageBlob>]) -> ArrayRef {
    // The values buffer sized up front: image blobs are large, and growing it by doubling
    // copied every byte about once more and faulted in fresh pages at each step.
    let total: usize = images.iter().flatten().map(|i| i.bytes.len()).sum();
    let mut bytes = BinaryBuilder::with_capacity(images.len(), total);
    for image in images {
        match image {
            Some(image) => bytes.append_value(&image.bytes),
            None => bytes.append_null(),
        }
    }
    let bytes = bytes.finish();
    let paths = StringArray::from_iter(images.iter().map(|i| i.and_then(|i| i.path.as_deref())));
    let nulls = images
        .iter()
        .any(Option::is_none)
        .then(|| NullBuffer::from_iter(images.iter().map(Option::is_some)));
    Arc::new(StructArray::new(
        image_fields(),
        vec![Arc::new(bytes), Arc::new(paths)],
        nulls,
    ))
}

fn camera_array(cameras: &[&CameraRow]) -> ArrayRef {
    let col = |f: fn(&CameraRow) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(cameras.iter().map(|c| f(c))))
    };
    Arc::new(StructArray::new(
        camera_fields(),
        vec![
            col(|c| c.fx),
            col(|c| c.fy),
            col(|c| c.cx),
            col(|c| c.cy),
            Arc::new(UInt32Array::from_iter_values(
                cameras.iter().map(|c| c.width),
            )),
            Arc::new(UInt32Array::from_iter_values(
                cameras.iter().map(|c| c.height),
            )),
        ],
        None,
    ))
}

fn objects_array(rows: &[SampleRow]) -> ArrayRef {
    let objects: Vec<&ObjectRow> = rows.iter().flat_map(|r| &r.objects).collect();
    let f = |get: fn(&ObjectRow) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(
            objects.iter().map(|o| get(o)),
        ))
    };
    let values = StructArray::new(
        object_fields(),
        vec![
            Arc::new(UInt32Array::from_iter_values(
                objects.iter().map(|o| o.instance_id),
            )),
            strings(objects.iter().map(|o| o.label.as_str())),
            strings(objects.iter().map(|o| o.raw_label.as_str())),
            strings(objects.iter().map(|o| o.phrase.as_str())),
            f64_list(objects.iter().map(|o| o.bbox_2d.to_vec())),
            f64_list(objects.iter().map(|o| o.centroid_2d.to_vec())),
            f(|o| o.visible_fraction),
            Arc::new(UInt64Array::from_iter_values(
                objects.iter().map(|o| o.visible_pixels),
            )),
            f(|o| o.truncation),
            f64_list(objects.iter().map(|o| o.center.to_vec())),
            f(|o| o.length_m),
            f(|o| o.width_m),
            f(|o| o.height_m),
            f(|o| o.yaw_rad),
        ],
        None,
    );
    list_array(
        DataType::Struct(object_fields()),
        rows.iter().map(|r| r.objects.len()).collect(),
        Arc::new(values),
    )
}

fn qa_array(rows: &[SampleRow]) -> ArrayRef {
    let qa: Vec<&QaRow> = rows.iter().flat_map(|r| &r.qa).collect();
    let ids: Vec<i64> = qa
        .iter()
        .flat_map(|q| q.instance_ids.iter().copied())
        .collect();
    let defs: Vec<&str> = qa
        .iter()
        .flat_map(|q| q.definitions.iter().map(String::as_str))
        .collect();
    let values = StructArray::new(
        qa_fields(),
        vec![
            strings(qa.iter().map(|q| q.family.as_str())),
            strings(qa.iter().map(|q| q.r#type.as_str())),
            strings(qa.iter().map(|q| q.question.as_str())),
            strings(qa.iter().map(|q| q.answer.as_str())),
            f64_list(qa.iter().map(|q| q.values_si.clone())),
            strings(qa.iter().map(|q| q.unit.as_str())),
            list_array(
                DataType::Int64,
                qa.iter().map(|q| q.instance_ids.len()).collect(),
                Arc::new(Int64Array::from(ids)),
            ),
            strings(qa.iter().map(|q| q.template_id.as_str())),
            Arc::new(BooleanArray::from_iter(qa.iter().map(|q| Some(q.is_cot)))),
            Arc::new(StringArray::from_iter(
                qa.iter().map(|q| q.answer_key.as_deref()),
            )),
            list_array(
                DataType::Utf8,
                qa.iter().map(|q| q.definitions.len()).collect(),
                strings(defs.into_iter()),
            ),
            strings(qa.iter().map(|q| q.profile.as_str())),
            strings(qa.iter().map(|q| q.box_convention.as_str())),
        ],
        None,
    );
    list_array(
        DataType::Struct(qa_fields()),
        rows.iter().map(|r| r.qa.len()).collect(),
        Arc::new(values),
    )
}

fn turns_array(rows: &[SampleRow]) -> ArrayRef {
    let turns: Vec<&Turn> = rows.iter().flat_map(|r| &r.conversations).collect();
    let values = StructArray::new(
        turn_fields(),
        vec![
            strings(turns.iter().map(|t| t.from.as_str())),
            strings(turns.iter().map(|t| t.value.as_str())),
        ],
        None,
    );
    list_array(
        DataType::Struct(turn_fields()),
        rows.iter().map(|r| r.conversations.len()).collect(),
        Arc::new(values),
    )
}

/// Rows to one record batch of [`schema`].
pub fn to_batch(rows: &[SampleRow]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let images: Vec<Option<&ImageBlob>> = rows.iter().map(|r| Some(&r.image)).collect();
    let depths: Vec<Option<&ImageBlob>> = rows.iter().map(|r| Some(&r.depth)).collect();
    let masks: Vec<Option<&ImageBlob>> = rows.iter().map(|r| r.instance_mask.as_ref()).collect();
    let cams: Vec<&CameraRow> = rows.iter().map(|r| &r.intrinsics).collect();
    let depth_cams: Vec<&CameraRow> = rows.iter().map(|r| &r.depth_intrinsics).collect();
    let columns: Vec<ArrayRef> = vec![
        strings(rows.iter().map(|r| r.id.as_str())),
        strings(rows.iter().map(|r| r.scene_id.as_str())),
        strings(rows.iter().map(|r| r.source.as_str())),
        strings(rows.iter().map(|r| r.split.as_str())),
        strings(rows.iter().map(|r| r.frame_id.as_str())),
        image_array(&images),
        image_array(&depths),
        strings(rows.iter().map(|r| r.depth_source.as_str())),
        image_array(&masks),
        camera_array(&cams),
        camera_array(&depth_cams),
        f64_list(rows.iter().map(|r| r.world_from_camera.to_vec())),
        objects_array(rows),
        qa_array(rows),
        turns_array(rows),
    ];
    RecordBatch::try_new(schema(), columns)
}

/// A column or value of a batch that does not have the shape of [`schema`].
#[derive(Debug, thiserror::Error)]
#[error("column `{column}`: {problem}")]
pub struct ShapeError {
    pub column: String,
    pub problem: String,
}

fn shape(column: &str, problem: impl Into<String>) -> ShapeError {
    ShapeError {
        column: column.to_string(),
        problem: problem.into(),
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, ShapeError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| shape(name, "missing (is this an msmu shard?)"))
}

/// The `depth_source` of every row; [`DepthSource::Mesh`] for a batch without the column
/// (schema version 1).
fn depth_sources(batch: &RecordBatch) -> Result<Vec<DepthSource>, ShapeError> {
    if batch.column_by_name(col::DEPTH_SOURCE).is_none() {
        return Ok(vec![DepthSource::Mesh; batch.num_rows()]);
    }
    let values = str_col(batch, col::DEPTH_SOURCE)?;
    (0..values.len())
        .map(|i| {
            if values.is_null(i) {
                return Ok(DepthSource::Mesh);
            }
            let v = values.value(i);
            DepthSource::parse(v).ok_or_else(|| {
                shape(
                    col::DEPTH_SOURCE,
                    format!(
                        "row {i}: `{v}` is not one of {}",
                        DepthSource::ALL.map(DepthSource::as_str).join(", ")
                    ),
                )
            })
        })
        .collect()
}

fn str_col<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, ShapeError> {
    column(batch, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| shape(name, "not a string column"))
}

fn struct_child<'a>(
    s: &'a StructArray,
    parent: &str,
    name: &str,
) -> Result<&'a ArrayRef, ShapeError> {
    s.column_by_name(name)
        .ok_or_else(|| shape(&format!("{parent}.{name}"), "missing field"))
}

fn child_str<'a>(
    s: &'a StructArray,
    parent: &str,
    name: &str,
) -> Result<&'a StringArray, ShapeError> {
    struct_child(s, parent, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| shape(&format!("{parent}.{name}"), "not a string"))
}

fn child_f64<'a>(
    s: &'a StructArray,
    parent: &str,
    name: &str,
) -> Result<&'a Float64Array, ShapeError> {
    struct_child(s, parent, name)?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| shape(&format!("{parent}.{name}"), "not float64"))
}

fn child_list<'a>(
    s: &'a StructArray,
    parent: &str,
    name: &str,
) -> Result<&'a ListArray, ShapeError> {
    struct_child(s, parent, name)?
        .as_list_opt::<i32>()
        .ok_or_else(|| shape(&format!("{parent}.{name}"), "not a list"))
}

fn f64_values(list: &ListArray, index: usize, name: &str) -> Result<Vec<f64>, ShapeError> {
    let values = list.value(index);
    let values = values
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| shape(name, "list items are not float64"))?;
    Ok(values.values().to_vec())
}

fn fixed<const N: usize>(values: Vec<f64>, name: &str) -> Result<[f64; N], ShapeError> {
    values
        .try_into()
        .map_err(|v: Vec<f64>| shape(name, format!("expected {N} values, found {}", v.len())))
}

fn read_images(batch: &RecordBatch, name: &str) -> Result<Vec<Option<ImageBlob>>, ShapeError> {
    let s = column(batch, name)?
        .as_struct_opt()
        .ok_or_else(|| shape(name, "not a struct"))?;
    let bytes = struct_child(s, name, "bytes")?
        .as_binary_opt::<i32>()
        .ok_or_else(|| shape(name, "bytes is not binary"))?;
    let paths = child_str(s, name, "path")?;
    Ok((0..s.len())
        .map(|i| {
            (s.is_valid(i) && bytes.is_valid(i)).then(|| ImageBlob {
                bytes: bytes.value(i).to_vec(),
                path: paths.is_valid(i).then(|| paths.value(i).to_string()),
            })
        })
        .collect())
}

fn read_cameras(batch: &RecordBatch, name: &str) -> Result<Vec<CameraRow>, ShapeError> {
    let s = column(batch, name)?
        .as_struct_opt()
        .ok_or_else(|| shape(name, "not a struct"))?;
    let (fx, fy) = (child_f64(s, name, "fx")?, child_f64(s, name, "fy")?);
    let (cx, cy) = (child_f64(s, name, "cx")?, child_f64(s, name, "cy")?);
    let u32_child = |field: &str| {
        struct_child(s, name, field)?
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| shape(&format!("{name}.{field}"), "not uint32"))
    };
    let (w, h) = (u32_child("width")?, u32_child("height")?);
    Ok((0..s.len())
        .map(|i| CameraRow {
            fx: fx.value(i),
            fy: fy.value(i),
            cx: cx.value(i),
            cy: cy.value(i),
            width: w.value(i),
            height: h.value(i),
        })
        .collect())
}

fn list_col<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ListArray, ShapeError> {
    column(batch, name)?
        .as_list_opt::<i32>()
        .ok_or_else(|| shape(name, "not a list"))
}

fn list_struct(list: &ListArray, name: &str) -> Result<StructArray, ShapeError> {
    list.values()
        .as_struct_opt()
        .cloned()
        .ok_or_else(|| shape(name, "list items are not structs"))
}

fn read_objects(batch: &RecordBatch) -> Result<Vec<Vec<ObjectRow>>, ShapeError> {
    let name = col::OBJECTS;
    let list = list_col(batch, name)?;
    let s = list_struct(list, name)?;
    let ids = struct_child(&s, name, "instance_id")?
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| shape("objects.instance_id", "not uint32"))?;
    let px = struct_child(&s, name, "visible_pixels")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| shape("objects.visible_pixels", "not uint64"))?;
    let (label, raw, phrase) = (
        child_str(&s, name, "label")?,
        child_str(&s, name, "raw_label")?,
        child_str(&s, name, "phrase")?,
    );
    let (bbox, centroid, center) = (
        child_list(&s, name, "bbox_2d")?,
        child_list(&s, name, "centroid_2d")?,
        child_list(&s, name, "center")?,
    );
    let vf = child_f64(&s, name, "visible_fraction")?;
    let tr = child_f64(&s, name, "truncation")?;
    let (l, w, h, yaw) = (
        child_f64(&s, name, "length_m")?,
        child_f64(&s, name, "width_m")?,
        child_f64(&s, name, "height_m")?,
        child_f64(&s, name, "yaw_rad")?,
    );
    let mut all = Vec::with_capacity(s.len());
    for i in 0..s.len() {
        all.push(ObjectRow {
            instance_id: ids.value(i),
            label: label.value(i).to_string(),
            raw_label: raw.value(i).to_string(),
            phrase: phrase.value(i).to_string(),
            bbox_2d: fixed(f64_values(bbox, i, "objects.bbox_2d")?, "objects.bbox_2d")?,
            centroid_2d: fixed(
                f64_values(centroid, i, "objects.centroid_2d")?,
                "objects.centroid_2d",
            )?,
            visible_fraction: vf.value(i),
            visible_pixels: px.value(i),
            truncation: tr.value(i),
            center: fixed(f64_values(center, i, "objects.center")?, "objects.center")?,
            length_m: l.value(i),
            width_m: w.value(i),
            height_m: h.value(i),
            yaw_rad: yaw.value(i),
        });
    }
    Ok(split_by_offsets(list, all))
}

fn split_by_offsets<T>(list: &ListArray, items: Vec<T>) -> Vec<Vec<T>> {
    let offsets = list.value_offsets();
    let mut iter = items.into_iter();
    let mut out = Vec::with_capacity(list.len());
    // Skip items before the first offset (sliced arrays).
    let first = offsets.first().copied().unwrap_or(0) as usize;
    for _ in 0..first {
        iter.next();
    }
    for w in offsets.windows(2) {
        out.push(iter.by_ref().take((w[1] - w[0]) as usize).collect());
    }
    out
}

fn read_qa(batch: &RecordBatch) -> Result<Vec<Vec<QaRow>>, ShapeError> {
    let name = col::QA;
    let list = list_col(batch, name)?;
    let s = list_struct(list, name)?;
    let (family, ty, question, answer, unit, template) = (
        child_str(&s, name, "family")?,
        child_str(&s, name, "type")?,
        child_str(&s, name, "question")?,
        child_str(&s, name, "answer")?,
        child_str(&s, name, "unit")?,
        child_str(&s, name, "template_id")?,
    );
    let key = child_str(&s, name, "answer_key")?;
    let values = child_list(&s, name, "values_si")?;
    let ids = child_list(&s, name, "instance_ids")?;
    let defs = child_list(&s, name, "definitions")?;
    let cot = struct_child(&s, name, "is_cot")?
        .as_boolean_opt()
        .ok_or_else(|| shape("qa.is_cot", "not bool"))?;
    // Schema versions 1 and 2 have no convention fields: read as empty.
    let optional = |field: &str| -> Result<Option<&StringArray>, ShapeError> {
        match s.column_by_name(field) {
            None => Ok(None),
            Some(_) => child_str(&s, name, field).map(Some),
        }
    };
    let (profile, box_convention) = (optional("profile")?, optional("box_convention")?);
    let text = |array: Option<&StringArray>, i: usize| -> String {
        array
            .filter(|a| a.is_valid(i))
            .map_or_else(String::new, |a| a.value(i).to_string())
    };
    let mut all = Vec::with_capacity(s.len());
    for i in 0..s.len() {
        let id_values = ids.value(i);
        let id_values = id_values
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| shape("qa.instance_ids", "not int64"))?;
        let def_values = defs.value(i);
        let def_values = def_values
            .as_string_opt::<i32>()
            .ok_or_else(|| shape("qa.definitions", "not strings"))?;
        all.push(QaRow {
            family: family.value(i).to_string(),
            r#type: ty.value(i).to_string(),
            question: question.value(i).to_string(),
            answer: answer.value(i).to_string(),
            values_si: f64_values(values, i, "qa.values_si")?,
            unit: unit.value(i).to_string(),
            instance_ids: id_values.values().to_vec(),
            template_id: template.value(i).to_string(),
            is_cot: cot.value(i),
            answer_key: key.is_valid(i).then(|| key.value(i).to_string()),
            definitions: def_values
                .iter()
                .map(|d| d.unwrap_or("").to_string())
                .collect(),
            profile: text(profile, i),
            box_convention: text(box_convention, i),
        });
    }
    Ok(split_by_offsets(list, all))
}

fn read_turns(batch: &RecordBatch) -> Result<Vec<Vec<Turn>>, ShapeError> {
    let name = col::CONVERSATIONS;
    let list = list_col(batch, name)?;
    let s = list_struct(list, name)?;
    let (from, value) = (child_str(&s, name, "from")?, child_str(&s, name, "value")?);
    let all = (0..s.len())
        .map(|i| Turn {
            from: from.value(i).to_string(),
            value: value.value(i).to_string(),
        })
        .collect();
    Ok(split_by_offsets(list, all))
}

/// A record batch of [`schema`] back to rows.
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<SampleRow>, ShapeError> {
    let (id, scene, source, split, frame) = (
        str_col(batch, col::ID)?,
        str_col(batch, col::SCENE_ID)?,
        str_col(batch, col::SOURCE)?,
        str_col(batch, col::SPLIT)?,
        str_col(batch, col::FRAME_ID)?,
    );
    let images = read_images(batch, col::IMAGE)?;
    let depths = read_images(batch, col::DEPTH)?;
    let depth_source = depth_sources(batch)?;
    let masks = read_images(batch, col::INSTANCE_MASK)?;
    let cams = read_cameras(batch, col::INTRINSICS)?;
    let depth_cams = read_cameras(batch, col::DEPTH_INTRINSICS)?;
    let poses = list_col(batch, col::WORLD_FROM_CAMERA)?;
    let objects = read_objects(batch)?;
    let qa = read_qa(batch)?;
    let turns = read_turns(batch)?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    let parts = images
        .into_iter()
        .zip(depths)
        .zip(masks)
        .zip(objects)
        .zip(qa)
        .zip(turns)
        .enumerate();
    for (i, (((((image, depth), mask), objects), qa), turns)) in parts {
        rows.push(SampleRow {
            id: id.value(i).to_string(),
            scene_id: scene.value(i).to_string(),
            source: source.value(i).to_string(),
            split: split.value(i).to_string(),
            frame_id: frame.value(i).to_string(),
            image: required(image, col::IMAGE, i)?,
            depth: required(depth, col::DEPTH, i)?,
            depth_source: depth_source[i],
            instance_mask: mask,
            intrinsics: cams[i],
            depth_intrinsics: depth_cams[i],
            world_from_camera: fixed(
                f64_values(poses, i, col::WORLD_FROM_CAMERA)?,
                col::WORLD_FROM_CAMERA,
            )?,
            objects,
            qa,
            conversations: turns,
        });
    }
    Ok(rows)
}

/// An image a row must have.
fn required(image: Option<ImageBlob>, column: &str, row: usize) -> Result<ImageBlob, ShapeError> {
    image.ok_or_else(|| shape(column, format!("row {row} is null")))
}

/// The [`col::MODEL`] columns of a batch (which may hold only those) to [`ModelRow`]s, with
/// the decoders of [`from_batch`]; other columns are not looked at.
pub fn model_rows_from_batch(batch: &RecordBatch) -> Result<Vec<ModelRow>, ShapeError> {
    let id = str_col(batch, col::ID)?;
    let images = read_images(batch, col::IMAGE)?;
    // No depth column (data from elsewhere): every row without depth.
    let depths = match batch.column_by_name(col::DEPTH) {
        Some(_) => read_images(batch, col::DEPTH)?,
        None => vec![None; batch.num_rows()],
    };
    let depth_source = depth_sources(batch)?;
    let qa = read_qa(batch)?;
    let turns = read_turns(batch)?;
    let parts = images.into_iter().zip(depths).zip(qa).zip(turns);
    parts
        .enumerate()
        .map(|(i, (((image, depth), qa), conversations))| {
            Ok(ModelRow {
                id: id.value(i).to_string(),
                image: required(image, col::IMAGE, i)?,
                // An empty blob is no depth either.
                depth: depth.filter(|d| !d.bytes.is_empty()),
                depth_source: depth_source[i],
                conversations,
                qa,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: usize) -> SampleRow {
        SampleRow {
            id: format!("scene_{i}"),
            scene_id: "scene".into(),
            source: "synthetic".into(),
            split: "train".into(),
            frame_id: i.to_string(),
            image: ImageBlob {
                bytes: vec![0xFF, 0xD8, i as u8],
                path: Some("a.jpg".into()),
            },
            depth: ImageBlob {
                bytes: vec![1, 2, 3],
                path: None,
            },
            depth_source: DepthSource::ALL[i % 3],
            instance_mask: (i % 2 == 0).then(|| ImageBlob {
                bytes: vec![9],
                path: Some("m.png".into()),
            }),
            intrinsics: CameraRow {
                fx: 500.0,
                fy: 501.0,
                cx: 320.0,
                cy: 240.0,
                width: 640,
                height: 480,
            },
            depth_intrinsics: CameraRow::default(),
            world_from_camera: std::array::from_fn(|k| k as f64 + i as f64),
            objects: (0..i)
                .map(|k| ObjectRow {
                    instance_id: k as u32,
                    label: "chair".into(),
                    bbox_2d: [0.1, 0.2, 0.3, 0.4],
                    center: [1.0, 2.0, k as f64],
                    length_m: 0.5,
                    ..ObjectRow::default()
                })
                .collect(),
            qa: (0..i + 1)
                .map(|k| QaRow {
                    family: "count".into(),
                    r#type: "count".into(),
                    question: format!("q{k}"),
                    answer: "2".into(),
                    values_si: vec![2.0; k],
                    instance_ids: vec![k as i64; k + 1],
                    answer_key: (k == 1).then(|| "yes".into()),
                    definitions: vec!["d".into(); k],
                    is_cot: k == 2,
                    profile: ["msmu", "official", ""][k % 3].into(),
                    box_convention: "axis_aligned".into(),
                    ..QaRow::default()
                })
                .collect(),
            conversations: vec![Turn {
                from: "human".into(),
                value: "<image>\nq".into(),
            }],
        }
    }

    #[test]
    fn rows_round_trip_through_arrow() {
        let rows: Vec<SampleRow> = (0..5).map(sample).collect();
        let batch = to_batch(&rows).unwrap();
        assert_eq!(from_batch(&batch).unwrap(), rows);
        // Sliced batches (as readers may hand out) decode too.
        assert_eq!(from_batch(&batch.slice(2, 2)).unwrap(), rows[2..4].to_vec());
    }

    #[test]
    fn version_2_qa_without_convention_fields_reads_as_empty() {
        let rows: Vec<SampleRow> = (0..3).map(sample).collect();
        let batch = to_batch(&rows).unwrap();
        let qa_index = batch.schema().index_of(col::QA).unwrap();
        let list = batch.column(qa_index).as_list::<i32>();
        let items = list.values().as_struct();
        let keep: Vec<usize> = (0..items.num_columns())
            .filter(|&c| {
                !["profile", "box_convention"].contains(&items.fields()[c].name().as_str())
            })
            .collect();
        let fields: Fields = keep.iter().map(|&c| items.fields()[c].clone()).collect();
        let old_items = StructArray::new(
            fields.clone(),
            keep.iter().map(|&c| items.column(c).clone()).collect(),
            None,
        );
        let old_list = ListArray::new(
            Arc::new(Field::new("item", DataType::Struct(fields), true)),
            list.offsets().clone(),
            Arc::new(old_items),
            None,
        );
        let mut columns = batch.columns().to_vec();
        columns[qa_index] = Arc::new(old_list);
        let mut schema_fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        schema_fields[qa_index] = Field::new(col::QA, columns[qa_index].data_type().clone(), true);
        let old = RecordBatch::try_new(Arc::new(Schema::new(schema_fields)), columns).unwrap();
        let read = from_batch(&old).unwrap();
        let mut expected = rows.clone();
        for row in &mut expected {
            for qa in &mut row.qa {
                qa.profile.clear();
                qa.box_convention.clear();
            }
        }
        assert_eq!(read, expected);
    }

    #[test]
    fn features_file_matches_the_schema() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schemas/dataset-v3.features.json"
        );
        let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            file,
            hf_features(),
            "regenerate schemas/dataset-v3.features.json"
        );
    }

    #[test]
    fn missing_column_is_named() {
        let rows: Vec<SampleRow> = (0..2).map(sample).collect();
        let batch = to_batch(&rows).unwrap();
        let batch = batch.project(&[0, 1, 2]).unwrap();
        let err = from_batch(&batch).unwrap_err();
        assert_eq!(err.column, "split");
    }
}
