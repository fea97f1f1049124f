//! ScanNet++ instance annotation: `segments.json`, `segments_anno.json` and the semantic
//! benchmark label map.
//!
//! Terms: a *segment* is a set of mesh vertices sharing a `segIndices` value; a *group*
//! (`segGroups[]` entry) is one annotated object made of segments; its instance id is
//! `objectId + 1` (0 stays "no instance").
//!
//! Groups may overlap: a vertex can lie in several groups. Like the official tooling
//! (`semantic/transforms/mesh.py::GetLabelsOnVertices`, Pointcept's ScanNet++ preprocessing),
//! each vertex takes the group with the **fewest vertices** among those containing it; ties go
//! to the lower `objectId` so the result does not depend on file order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

use crate::error::Problem;

#[derive(Deserialize)]
struct SegmentsFile {
    #[serde(rename = "segIndices")]
    seg_indices: Vec<i64>,
}

/// `segIndices` of `segments.json`: one segment id per mesh vertex.
pub fn parse_segments(text: &str) -> Result<Vec<i64>, Problem> {
    let file: SegmentsFile =
        serde_json::from_str(text).map_err(|e| Problem::Json(e.to_string()))?;
    Ok(file.seg_indices)
}

/// One `segGroups[]` entry. The oriented box (`obb`) is not used: boxes are recomputed from
/// the resolved vertices, which is what overlap resolution leaves to each object.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct SegGroup {
    #[serde(rename = "objectId")]
    pub object_id: u32,
    #[serde(default)]
    pub label: String,
    pub segments: Vec<i64>,
}

#[derive(Deserialize)]
struct AnnotationFile {
    #[serde(rename = "segGroups")]
    seg_groups: Vec<SegGroup>,
}

/// `segGroups` of `segments_anno.json`.
pub fn parse_annotation(text: &str) -> Result<Vec<SegGroup>, Problem> {
    let file: AnnotationFile =
        serde_json::from_str(text).map_err(|e| Problem::Json(e.to_string()))?;
    Ok(file.seg_groups)
}

fn describe(group: &SegGroup) -> String {
    format!("objectId {} ({:?})", group.object_id, group.label)
}

/// Per-vertex instance ids (0 = none) after overlap resolution, and the groups sorted by
/// `objectId`. `seg_indices` must already have one entry per mesh vertex.
pub fn resolve_instances(
    seg_indices: &[i64],
    groups: &[SegGroup],
) -> Result<(Vec<u32>, Vec<SegGroup>), Problem> {
    let mut vertices_of_segment: HashMap<i64, Vec<u32>> = HashMap::new();
    for (vertex, &segment) in seg_indices.iter().enumerate() {
        vertices_of_segment
            .entry(segment)
            .or_default()
            .push(vertex as u32);
    }

    let mut seen = BTreeSet::new();
    // (vertex count, objectId, distinct segments) per group.
    let mut ranked = Vec::with_capacity(groups.len());
    for group in groups {
        if group.object_id >= crate::io::MAX_INSTANCE_ID {
            // objectId + 1 must fit in a 16-bit instance mask.
            return Err(Problem::invalid(
                describe(group),
                format!(
                    "objectId is too large (at most {}: instance ids are objectId + 1 and must \
                     fit a 16-bit instance mask)",
                    crate::io::MAX_INSTANCE_ID - 1
                ),
            ));
        }
        if !seen.insert(group.object_id) {
            return Err(Problem::DuplicateId {
                what: "segGroups objectId".into(),
                id: group.object_id.to_string(),
            });
        }
        let segments: BTreeSet<i64> = group.segments.iter().copied().collect();
        let mut n_vertices = 0usize;
        for &segment in &segments {
            let Some(vertices) = vertices_of_segment.get(&segment) else {
                return Err(Problem::UnknownSegment {
                    group: describe(group),
                    segment,
                });
            };
            // Segments are disjoint vertex sets, so the sizes add up.
            n_vertices += vertices.len();
        }
        ranked.push((n_vertices, group.object_id, segments));
    }

    // Smallest first: the first group to claim a vertex keeps it.
    ranked.sort_by_key(|(n_vertices, object_id, _)| (*n_vertices, *object_id));
    let mut vertex_instance = vec![0u32; seg_indices.len()];
    for (_, object_id, segments) in &ranked {
        for segment in segments {
            for &vertex in vertices_of_segment.get(segment).into_iter().flatten() {
                let slot = &mut vertex_instance[vertex as usize];
                if *slot == 0 {
                    *slot = object_id + 1;
                }
            }
        }
    }

    let mut sorted = groups.to_vec();
    sorted.sort_by_key(|g| g.object_id);
    Ok((vertex_instance, sorted))
}

/// The normalised form of a raw label used for lookups and questions.
pub fn normalize_label(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// `metadata/semantic_benchmark/map_benchmark.csv` (+ `top100.txt` beside it).
///
/// Follows the official/Pointcept reading of the `semantic_map_to` column: an empty cell maps
/// the class to itself, `None` excludes it from the benchmark, anything else renames it. The
/// benchmark id is the 0-based line of the mapped class in `top100.txt`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchmarkMap {
    /// Normalised class -> mapped class (`None`: excluded from the benchmark).
    map_to: HashMap<String, Option<String>>,
    /// Class -> index in `top100.txt`.
    class_index: HashMap<String, u32>,
}

/// What the map says about one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedLabel {
    pub label: String,
    pub benchmark_id: Option<u32>,
    /// Whether the map has a row for the label at all.
    pub known: bool,
}

/// Splits one CSV record (RFC 4180 quoting, `""` inside quotes is a quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => in_quotes = !in_quotes,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

impl BenchmarkMap {
    /// Parses the CSV (columns found by header name) and, when given, `top100.txt`.
    pub fn parse(csv: &str, top100: Option<&str>) -> Result<BenchmarkMap, Problem> {
        let mut lines = csv
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(Problem::invalid("map_benchmark.csv", "the file is empty"));
        };
        let header: Vec<String> = csv_fields(header)
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let column = |name: &str| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                Problem::invalid(
                    "map_benchmark.csv header",
                    format!("no `{name}` column (found {header:?})"),
                )
            })
        };
        let (class_col, map_col) = (column("class")?, column("semantic_map_to")?);
        let mut map_to = HashMap::new();
        for (i, line) in lines {
            let fields = csv_fields(line);
            let (Some(class), Some(target)) = (fields.get(class_col), fields.get(map_col)) else {
                return Err(Problem::invalid(
                    format!("map_benchmark.csv line {}", i + 1),
                    format!("expected at least {} columns", class_col.max(map_col) + 1),
                ));
            };
            let class = normalize_label(class);
            let target = target.trim();
            let mapped = match target {
                "" => Some(class.clone()),
                "None" => None,
                other => Some(normalize_label(other)),
            };
            // The first row for a class wins, as in the official dictionary-building loop.
            map_to.entry(class).or_insert(mapped);
        }
        let mut class_index = HashMap::new();
        for (index, class) in top100
            .unwrap_or("")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            class_index
                .entry(normalize_label(class))
                .or_insert(index as u32);
        }
        Ok(BenchmarkMap {
            map_to,
            class_index,
        })
    }

    /// Maps a normalised label. Unknown labels keep their text and get no id.
    pub fn map(&self, label: &str) -> MappedLabel {
        match self.map_to.get(label) {
            None => MappedLabel {
                label: label.to_string(),
                benchmark_id: None,
                known: false,
            },
            Some(None) => MappedLabel {
                label: label.to_string(),
                benchmark_id: None,
                known: true,
            },
            Some(Some(target)) => MappedLabel {
                label: target.clone(),
                benchmark_id: self.class_index.get(target).copied(),
                known: true,
            },
        }
    }
}

/// Counts labels, for one warning per distinct unknown label rather than one per instance.
pub fn count_labels<'a>(labels: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut counts = BTreeMap::new();
    for label in labels {
        *counts.entry(label).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(object_id: u32, segments: &[i64]) -> SegGroup {
        SegGroup {
            object_id,
            label: format!("g{object_id}"),
            segments: segments.to_vec(),
        }
    }

    /// `check(segIndices, groups, expected vertex instances)`.
    fn check(seg_indices: &[i64], groups: &[SegGroup], expected: &[u32]) {
        let (vertex_instance, sorted) = resolve_instances(seg_indices, groups).unwrap();
        assert_eq!(vertex_instance, expected);
        assert!(sorted.windows(2).all(|w| w[0].object_id < w[1].object_id));
    }

    #[test]
    fn overlaps_go_to_the_smallest_group_then_the_lowest_object_id() {
        let segs = [1, 1, 1, 2, 2, 3, 9];
        // Big group covers everything; a smaller one covers segment 2 + 3.
        check(
            &segs,
            &[group(0, &[1, 2, 3]), group(5, &[2, 3])],
            &[1, 1, 1, 6, 6, 6, 0],
        );
        // Equal sizes: lower objectId wins whatever the file order.
        check(
            &segs,
            &[group(7, &[2]), group(4, &[2])],
            &[0, 0, 0, 5, 5, 0, 0],
        );
        // Listing a segment twice does not make a group bigger.
        check(
            &segs,
            &[group(1, &[2, 2, 2]), group(0, &[2, 3])],
            &[0, 0, 0, 2, 2, 1, 0],
        );
        // A group with no segments is kept but owns nothing.
        check(&segs, &[group(3, &[])], &[0; 7]);
    }

    #[test]
    fn duplicate_ids_and_unknown_segments_are_errors() {
        let segs = [1, 2];
        assert!(matches!(
            resolve_instances(&segs, &[group(1, &[1]), group(1, &[2])]),
            Err(Problem::DuplicateId { .. })
        ));
        assert!(matches!(
            resolve_instances(&segs, &[group(1, &[1, 4])]),
            Err(Problem::UnknownSegment { segment: 4, .. })
        ));
        assert!(resolve_instances(&segs, &[group(u32::MAX, &[1])]).is_err());
    }

    #[test]
    fn annotation_json_shapes() {
        let groups = parse_annotation(
            r#"{"segGroups": [{"id": 3, "objectId": 2, "label": "Chair", "segments": [4, 5],
                "obb": {"centroid": [0, 0, 0]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            groups,
            vec![SegGroup {
                object_id: 2,
                label: "Chair".into(),
                segments: vec![4, 5]
            }]
        );
        assert!(matches!(
            parse_annotation(r#"{"segGroups": [{"objectId": -1, "segments": []}]}"#),
            Err(Problem::Json(_))
        ));
        assert!(matches!(parse_annotation("{"), Err(Problem::Json(_))));
        assert_eq!(
            parse_segments(r#"{"segIndices": [3, -1]}"#).unwrap(),
            vec![3, -1]
        );
    }

    #[test]
    fn benchmark_map_follows_the_official_reading() {
        let csv = "count,class,semantic_map_to\r\n1,Table,\r\n2,box,storage box\r\n3,lid,None\r\n4,\"shelf, wall\",shelf\r\n";
        let map = BenchmarkMap::parse(csv, Some("wall\n\ntable\nstorage box\n")).unwrap();
        let m = |l: &str| map.map(l);
        assert_eq!(
            m("table"),
            MappedLabel {
                label: "table".into(),
                benchmark_id: Some(1),
                known: true
            }
        );
        assert_eq!(
            m("box"),
            MappedLabel {
                label: "storage box".into(),
                benchmark_id: Some(2),
                known: true
            }
        );
        assert_eq!(
            m("lid"),
            MappedLabel {
                label: "lid".into(),
                benchmark_id: None,
                known: true
            }
        );
        assert_eq!(m("shelf, wall").label, "shelf");
        assert_eq!(
            m("sofa"),
            MappedLabel {
                label: "sofa".into(),
                benchmark_id: None,
                known: false
            }
        );
        assert!(BenchmarkMap::parse("class,count\nx,1\n", None).is_err());
        assert!(BenchmarkMap::parse("", None).is_err());
        assert!(BenchmarkMap::parse("class,semantic_map_to\nonly-one-column\n", None).is_err());
    }
}
