//! Instance annotation: the over-segmentation `<id>_vh_clean_2.0.010000.segs.json` and the
//! instance groups `<id>.aggregation.json` (FORMATS.md 1.5).
//!
//! Label transfer follows the official benchmark script: every vertex whose segment is named
//! by a group gets that group's instance id (`objectId + 1`), and later groups overwrite
//! earlier ones where they overlap. The v1 and v2 aggregation styles differ only in the
//! `sceneId` / `segmentsFile` / `appId` strings, which are deliberately not read.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;

use crate::error::Problem;
use crate::scene::InstanceId;

#[derive(Deserialize)]
struct SegsFile {
    #[serde(rename = "segIndices")]
    seg_indices: Vec<i64>,
}

#[derive(Deserialize)]
struct AggregationFile {
    #[serde(rename = "segGroups")]
    seg_groups: Vec<SegGroup>,
}

#[derive(Deserialize)]
struct SegGroup {
    #[serde(rename = "objectId")]
    object_id: Option<i64>,
    /// Some exporters write only `id` (equal to `objectId` in every released file); it is
    /// the fallback when `objectId` is absent. Kept as a JSON value so that an unexpected
    /// type does not reject an otherwise good file.
    id: Option<serde_json::Value>,
    segments: Vec<i64>,
    #[serde(default)]
    label: String,
}

/// One instance group as annotated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: InstanceId,
    pub raw_label: String,
}

/// The annotation after label transfer onto the mesh vertices.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    /// Instance of every vertex (0 = none).
    pub vertex_instance: Vec<u32>,
    /// Groups in file order.
    pub groups: Vec<Group>,
}

/// Checks the text is UTF-8 before JSON parsing, so that a Latin-1 label is reported as such
/// rather than as a JSON syntax error.
fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, Problem> {
    std::str::from_utf8(bytes).map_err(|e| Problem::NotUtf8 {
        what: format!("{what} (byte {})", e.valid_up_to()),
    })
}

/// Parses `segs.json` and checks it has one segment per mesh vertex.
pub fn parse_segs(bytes: &[u8], n_vertices: usize) -> Result<Vec<i64>, Problem> {
    let text = utf8(bytes, "segs JSON")?;
    let segs: SegsFile = serde_json::from_str(text).map_err(|e| Problem::Json(e.to_string()))?;
    if segs.seg_indices.len() != n_vertices {
        return Err(Problem::LengthMismatch {
            what: "segIndices (one per mesh vertex)".into(),
            expected: n_vertices as u64,
            found: segs.seg_indices.len() as u64,
        });
    }
    Ok(segs.seg_indices)
}

/// Parses `aggregation.json` and transfers its groups onto the vertices.
pub fn apply_aggregation(bytes: &[u8], seg_indices: &[i64]) -> Result<Annotation, Problem> {
    let text = utf8(bytes, "aggregation JSON")?;
    let aggregation: AggregationFile =
        serde_json::from_str(text).map_err(|e| Problem::Json(e.to_string()))?;

    let mut vertices_of_segment: HashMap<i64, Vec<u32>> = HashMap::new();
    for (vertex_idx, &segment) in seg_indices.iter().enumerate() {
        vertices_of_segment
            .entry(segment)
            .or_default()
            .push(vertex_idx as u32);
    }

    let mut vertex_instance = vec![0u32; seg_indices.len()];
    let mut groups = Vec::with_capacity(aggregation.seg_groups.len());
    let mut seen_object_ids = BTreeSet::new();
    for (group_idx, group) in aggregation.seg_groups.iter().enumerate() {
        let object_id = group
            .object_id
            .or_else(|| group.id.as_ref().and_then(serde_json::Value::as_i64))
            .ok_or_else(|| {
                Problem::Json(format!("segGroups[{group_idx}] has no integer `objectId`"))
            })?;
        // Instance ids are `objectId + 1` (0 is "no instance") and must fit a 16-bit instance
        // mask (`MAX_INSTANCE_ID`).
        let instance = u32::try_from(object_id)
            .ok()
            .and_then(|id| id.checked_add(1))
            .filter(|&id| id <= crate::io::MAX_INSTANCE_ID)
            .ok_or_else(|| {
                Problem::invalid(
                    format!("segGroups[{group_idx}].objectId"),
                    format!(
                        "{object_id} is not an id from 0 to {} (instance ids are objectId + 1 \
                         and must fit a 16-bit instance mask)",
                        crate::io::MAX_INSTANCE_ID - 1
                    ),
                )
            })?;
        if !seen_object_ids.insert(object_id) {
            return Err(Problem::DuplicateId {
                what: format!("objectId (segGroups[{group_idx}], label {:?})", group.label),
                id: object_id.to_string(),
            });
        }
        // A segment listed twice is assigned once (the ScanNet++ reader does the same): a
        // group repeating one segment millions of times must not cost millions of passes.
        let mut segments_done = HashSet::with_capacity(group.segments.len().min(1 << 16));
        for &segment in &group.segments {
            if !segments_done.insert(segment) {
                continue;
            }
            let vertices =
                vertices_of_segment
                    .get(&segment)
                    .ok_or_else(|| Problem::UnknownSegment {
                        group: format!("objectId {object_id} ({:?})", group.label),
                        segment,
                    })?;
            for &vertex in vertices {
                // In range by construction: the vertex came from enumerating `seg_indices`.
                if let Some(slot) = vertex_instance.get_mut(vertex as usize) {
                    *slot = instance;
                }
            }
        }
        groups.push(Group {
            id: InstanceId(instance),
            raw_label: group.label.clone(),
        });
    }
    Ok(Annotation {
        vertex_instance,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segs_length_must_match() {
        assert_eq!(
            parse_segs(
                br#"{"params": {"kThresh": "0.0001"}, "sceneId": "s", "segIndices": [3, 3, 9]}"#,
                3
            )
            .unwrap(),
            vec![3, 3, 9]
        );
        let err = parse_segs(br#"{"segIndices": [3, 3, 9]}"#, 4).unwrap_err();
        assert!(
            matches!(
                err,
                Problem::LengthMismatch {
                    expected: 4,
                    found: 3,
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_segs(br#"{"segIndices": [3, 3,"#, 3).unwrap_err();
        assert!(matches!(err, Problem::Json(_)), "{err}");
    }

    #[test]
    fn v1_and_v2_groups_with_overlap() {
        let segs = [7, 7, 100, 100, 101, 205];
        // v2 style, with the `scannet.` prefixes.
        let v2 = br#"{"sceneId": "scannet.scene0000_00", "appId": "Aggregator.v2",
            "segGroups": [
              {"id": 0, "objectId": 0, "segments": [100, 101], "label": "chair"},
              {"id": 1, "objectId": 1, "segments": [205], "label": "table"},
              {"id": 2, "objectId": 2, "segments": [101], "label": "box"}],
            "segmentsFile": "scannet.scene0000_00_vh_clean_2.0.010000.segs.json"}"#;
        let annotation = apply_aggregation(v2, &segs).unwrap();
        // Vertex 4 (segment 101) goes to the later group.
        assert_eq!(annotation.vertex_instance, vec![0, 0, 1, 1, 3, 2]);
        let ids: Vec<u32> = annotation.groups.iter().map(|g| g.id.0).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        // v1 style: bare names, no `id`.
        let v1 = br#"{"sceneId": "scene0000_00", "appId": "Aggregator.v1",
            "segGroups": [{"objectId": 4, "segments": [7], "label": "trashcan"}],
            "segmentsFile": "scene0000_00_vh_clean_2.0.010000.segs.json"}"#;
        let annotation = apply_aggregation(v1, &segs).unwrap();
        assert_eq!(annotation.vertex_instance, vec![5, 5, 0, 0, 0, 0]);
        assert_eq!(annotation.groups[0].raw_label, "trashcan");
    }

    fn check_err(json: &[u8], matches: impl Fn(&Problem) -> bool) {
        let err = apply_aggregation(json, &[7, 7, 100]).unwrap_err();
        assert!(matches(&err), "unexpected {err:?}");
    }

    #[test]
    fn bad_groups() {
        check_err(
            br#"{"segGroups": [{"objectId": 0, "segments": [8], "label": "x"}]}"#,
            |p| matches!(p, Problem::UnknownSegment { segment: 8, .. }),
        );
        check_err(
            br#"{"segGroups": [{"objectId": 0, "segments": [7], "label": "a"},
                               {"objectId": 0, "segments": [100], "label": "b"}]}"#,
            |p| matches!(p, Problem::DuplicateId { id, .. } if id == "0"),
        );
        check_err(
            br#"{"segGroups": [{"objectId": -1, "segments": [7], "label": "a"}]}"#,
            |p| matches!(p, Problem::Invalid { .. }),
        );
        check_err(
            br#"{"segGroups": [{"segments": [7], "label": "a"}]}"#,
            |p| matches!(p, Problem::Json(m) if m.contains("objectId")),
        );
        check_err(
            b"{\"segGroups\": [{\"objectId\": 0, \"segments\": [7], \"label\": \"caf\xe9\"}]}",
            |p| matches!(p, Problem::NotUtf8 { .. }),
        );
        check_err(br#"{"segGroups": "#, |p| matches!(p, Problem::Json(_)));
    }
}
