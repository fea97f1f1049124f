//! The ScanNet label map `scannetv2-labels.combined.tsv` (FORMATS.md 1.6): raw annotation
//! label -> normalised category and class ids.
//!
//! Columns are found by header name, never by position, because the two released versions
//! differ: v2 keys rows by `raw_category` and has `category`, `nyu40id` and `id`; the v1 file
//! (`scannet-labels.combined.tsv`) keys rows by `category` and has `nyuId` (NYUv2's own raw
//! class id, which is neither an NYU40 nor a ScanNet id and is therefore not used). The file
//! has CRLF line endings and many empty cells; an empty id cell is "no id", not an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::Problem;

/// File names of the label map, newest first; the first found wins.
pub const LABEL_MAP_NAMES: [&str; 2] = [
    "scannetv2-labels.combined.tsv",
    "scannet-labels.combined.tsv",
];

/// How many folders above the scene folder are searched for the label map (the released
/// layout keeps it at the dataset root, next to `scans/`).
const SEARCH_ANCESTORS: usize = 3;

/// What one row of the map says about a raw label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelRow {
    /// Normalised category, lower case (v2 `category`; v1 has only the raw key).
    pub category: String,
    pub nyu40_id: Option<u16>,
    /// ScanNet id (v2 `id` column, the ScanNet200 id). Absent from v1 files.
    pub scannet_id: Option<u32>,
}

/// A parsed label map.
#[derive(Clone, Debug, Default)]
pub struct LabelMap {
    rows: HashMap<String, LabelRow>,
    /// Lower-cased, trimmed key -> exact key, for annotation labels that differ only in case.
    folded: HashMap<String, String>,
}

impl LabelMap {
    /// Parses the TSV bytes. Errors name the line (1-based, header = line 1).
    pub fn parse(bytes: &[u8]) -> Result<LabelMap, Problem> {
        let mut lines = bytes.split(|&b| b == b'\n').enumerate().map(|(idx, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let text = std::str::from_utf8(raw).map_err(|e| Problem::NotUtf8 {
                what: format!("label map line {} (byte {})", idx + 1, e.valid_up_to()),
            });
            (idx, text)
        });
        let header = match lines.next() {
            Some((_, header)) => header?,
            None => return Err(Problem::invalid("label map", "the file is empty")),
        };
        let header = header.strip_prefix('\u{feff}').unwrap_or(header);
        let columns: Vec<&str> = header.split('\t').map(str::trim).collect();
        let column = |name: &str| columns.iter().position(|c| *c == name);
        let (key_col, category_col) = match (column("raw_category"), column("category")) {
            (Some(raw), category) => (raw, category.unwrap_or(raw)),
            (None, Some(category)) => (category, category),
            (None, None) => {
                return Err(Problem::invalid(
                    "label map header",
                    "no `raw_category` (v2) or `category` (v1) column; is this \
                     scannetv2-labels.combined.tsv?",
                ))
            }
        };
        let nyu40_col = column("nyu40id");
        let id_col = column("id");

        let mut map = LabelMap::default();
        for (line_idx, line) in lines {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.split('\t').map(str::trim).collect();
            // Trailing empty cells may be missing altogether: a short row reads as empty.
            let cell = |col: Option<usize>| {
                col.and_then(|c| cells.get(c).copied())
                    .filter(|value| !value.is_empty())
            };
            let Some(key) = cell(Some(key_col)) else {
                continue;
            };
            let where_ = || format!("label map line {}", line_idx + 1);
            let nyu40_id = match cell(nyu40_col) {
                Some(text) => Some(text.parse::<u16>().map_err(|_| {
                    Problem::invalid(where_(), format!("nyu40id `{text}` is not an integer"))
                })?),
                None => None,
            };
            let scannet_id = match cell(id_col) {
                Some(text) => Some(text.parse::<u32>().map_err(|_| {
                    Problem::invalid(where_(), format!("id `{text}` is not an integer"))
                })?),
                None => None,
            };
            let category = cell(Some(category_col)).unwrap_or(key).to_lowercase();
            // `raw_category` is unique in the released file; should a copy repeat a key, the
            // first row wins, as it would for a reader that stops at the first match.
            if !map.rows.contains_key(key) {
                map.folded
                    .entry(key.to_lowercase())
                    .or_insert_with(|| key.to_string());
                map.rows.insert(
                    key.to_string(),
                    LabelRow {
                        category,
                        nyu40_id,
                        scannet_id,
                    },
                );
            }
        }
        Ok(map)
    }

    /// The row for a raw annotation label: exact match first, then ignoring case and
    /// surrounding spaces.
    pub fn lookup(&self, raw_label: &str) -> Option<&LabelRow> {
        self.rows.get(raw_label).or_else(|| {
            self.folded
                .get(&raw_label.trim().to_lowercase())
                .and_then(|key| self.rows.get(key))
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Looks for the label map in the scene folder and up to three folders above it.
pub fn find_label_map(scene_dir: &Path) -> Option<PathBuf> {
    scene_dir
        .ancestors()
        .take(SEARCH_ANCESTORS + 1)
        .flat_map(|dir| LABEL_MAP_NAMES.iter().map(move |name| dir.join(name)))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2_HEADER: &str = "id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\t\
nyu40class\teigen13class\tModelNet40\tModelNet10\tShapeNetCore55\tsynsetoffset\twnsynsetid\t\
wnsynsetkey\tmpcat40\tmpcat40index";

    fn v2(rows: &[&str]) -> Vec<u8> {
        let mut text = String::from(V2_HEADER);
        for row in rows {
            text.push_str("\r\n");
            text.push_str(row);
        }
        text.push_str("\r\n");
        text.into_bytes()
    }

    fn row(category: &str, nyu40: Option<u16>, id: Option<u32>) -> LabelRow {
        LabelRow {
            category: category.into(),
            nyu40_id: nyu40,
            scannet_id: id,
        }
    }

    #[test]
    fn v2_with_crlf_and_empty_cells() {
        let map = LabelMap::parse(&v2(&[
            "2\tchair\tchair\t4646\t5\t11\tchair\tchair\tChair\tchair\tchair\tchair\t03001627\tn03001627\tchair.n.01\tchair\t3",
            "40\toffice chair\tOffice Chair\t595\t5\t11\tchair\tchair\tChair\t\t\tchair\t03001627\tn04373704\tswivel_chair.n.01\tchair\t3",
            // Trailing cells missing altogether and an empty nyu40id.
            "1163\tstorage box\tbox\t12\t\t",
        ]))
        .unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map.lookup("chair"), Some(&row("chair", Some(5), Some(2))));
        assert_eq!(
            map.lookup("office chair"),
            Some(&row("office chair", Some(5), Some(40)))
        );
        assert_eq!(
            map.lookup("storage box"),
            Some(&row("box", None, Some(1163)))
        );
        // Case and surrounding spaces are forgiven; unknown labels are not guessed.
        assert_eq!(map.lookup(" Office Chair"), map.lookup("office chair"));
        assert_eq!(map.lookup("trashcan"), None);
    }

    #[test]
    fn v1_header() {
        let text = "category\tcount\tnyuId\tnyu40id\teigen13id\tnyuClass\tnyu40class\n\
trashcan\t1090\t12\t39\t13\tgarbage bin\totherfurniture\n\
Dish Rack\t12\t\t\t\t\t\n";
        let map = LabelMap::parse(text.as_bytes()).unwrap();
        assert_eq!(
            map.lookup("trashcan"),
            Some(&row("trashcan", Some(39), None))
        );
        assert_eq!(map.lookup("Dish Rack"), Some(&row("dish rack", None, None)));
    }

    #[test]
    fn utf8_categories() {
        let map = LabelMap::parse(&v2(&["7\tcafé table\tCafé Table\t1\t7"])).unwrap();
        assert_eq!(map.lookup("café table").unwrap().category, "café table");
    }

    fn check_err(bytes: &[u8], want: &str) {
        let err = LabelMap::parse(bytes).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} lacks {want:?}");
    }

    #[test]
    fn bad_files() {
        check_err(
            &v2(&["2\tchair\tchair\t1\tfive"]),
            "label map line 2: nyu40id `five`",
        );
        check_err(&v2(&["x\tchair\tchair\t1\t5"]), "label map line 2: id `x`");
        let mut latin1 = v2(&["2\tchair\tchair\t1\t5"]);
        latin1.extend_from_slice(b"3\tcaf\xe9\tcaf\xe9\t1\t5\r\n");
        check_err(&latin1, "label map line 3 (byte 5) is not valid UTF-8");
        check_err(b"", "no `raw_category`");
        check_err(
            b"name\tcount\r\nchair\t1\r\n",
            "no `raw_category` (v2) or `category` (v1)",
        );
    }
}
