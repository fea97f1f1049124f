//! The furniture catalog of the synthetic generator, as plain data.
//!
//! Every entry names a ScanNet raw category (`raw_category` of `scannetv2-labels.combined.tsv`)
//! with its label-map columns (ScanNet200 `id`, `category`, `nyu40id`, `nyu40class`), so that the
//! writers can emit a label map that the real readers resolve exactly as they resolve ScanNet.
//! Sizes are realistic ranges in metres, `[length, width, height]` with length >= width; the
//! shape kind says how [`super::shapes`] builds the object from boxes.

/// How an object is built from boxes (see [`super::shapes::build`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeKind {
    /// One box.
    Block,
    /// Top plus four legs flush with the top's corners.
    Table,
    /// Top plus two side panels.
    Desk,
    /// Seat on four legs plus a backrest flush with one long edge.
    Chair,
    /// Seat base, backrest along one long edge, two armrests.
    Sofa,
    /// Mattress base plus a headboard at one short end.
    Bed,
    /// Two sides, a back panel and shelf boards.
    Bookshelf,
    /// A thin screen standing on two feet at its ends (television, monitor).
    Screen,
    /// Base plate, pole and shade.
    Lamp,
    /// Bowl plus a full-height tank at the back.
    Toilet,
    /// Basin on a pedestal.
    Sink,
}

/// Where an object of a category stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Floor,
    /// On the support surface of one of these labels; generated only together with them.
    OnTopOf(&'static [&'static str]),
}

/// One row of the label map the writers emit (the columns the readers use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelMapEntry {
    /// `raw_category`: exactly the label written in the annotation files.
    pub raw_label: &'static str,
    /// `category`: the normalised name used in questions.
    pub category: &'static str,
    /// `id` column (the ScanNet200 class id).
    pub scannet_id: u32,
    /// `nyu40id`.
    pub nyu40_id: u16,
    /// `nyu40class`.
    pub nyu40_class: &'static str,
}

/// A furniture category the generator can place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Category {
    pub labels: LabelMapEntry,
    /// Smallest `[length, width, height]`, metres.
    pub size_min_m: [f64; 3],
    /// Largest `[length, width, height]`, metres.
    pub size_max_m: [f64; 3],
    pub shape: ShapeKind,
    pub support: Support,
    /// Plausible colours, names from [`PALETTE`].
    pub colors: &'static [&'static str],
}

impl Category {
    pub fn label(&self) -> &'static str {
        self.labels.raw_label
    }
}

const fn entry(
    raw_label: &'static str,
    category: &'static str,
    scannet_id: u32,
    nyu40_id: u16,
    nyu40_class: &'static str,
) -> LabelMapEntry {
    LabelMapEntry {
        raw_label,
        category,
        scannet_id,
        nyu40_id,
        nyu40_class,
    }
}

/// Structure labels (floor, ceiling, walls, doors, windows), in the label map too.
pub const STRUCTURAL: &[LabelMapEntry] = &[
    entry("floor", "floor", 3, 2, "floor"),
    entry("ceiling", "ceiling", 41, 22, "ceiling"),
    entry("wall", "wall", 1, 1, "wall"),
    entry("door", "door", 5, 8, "door"),
    entry("window", "window", 16, 9, "window"),
];

pub use msmu_data::qa::colors::{color_name, PALETTE};

/// The sRGB value of a palette colour. Panics on an unknown name (a bug in the catalog).
pub fn color_rgb(name: &str) -> [u8; 3] {
    PALETTE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, rgb)| *rgb)
        .unwrap_or_else(|| panic!("colour {name:?} is not in the palette"))
}

const ON_BED_OR_SOFA: &[&str] = &["bed", "sofa"];
const ON_DESK: &[&str] = &["desk"];
const ON_CABINET: &[&str] = &["cabinet", "dresser", "desk"];

const fn cat(
    labels: LabelMapEntry,
    size_min_m: [f64; 3],
    size_max_m: [f64; 3],
    shape: ShapeKind,
    support: Support,
    colors: &'static [&'static str],
) -> Category {
    Category {
        labels,
        size_min_m,
        size_max_m,
        shape,
        support,
        colors,
    }
}

/// The furniture catalog. Ids: ScanNet200 `id` / NYU40 as in the ScanNet v2 label map.
pub const CATALOG: &[Category] = &[
    cat(
        entry("bed", "bed", 11, 4, "bed"),
        [1.9, 0.9, 0.8],
        [2.2, 1.8, 1.1],
        ShapeKind::Bed,
        Support::Floor,
        &[
            "white",
            "beige",
            "light grey",
            "navy",
            "maroon",
            "light blue",
        ],
    ),
    cat(
        entry("chair", "chair", 2, 5, "chair"),
        [0.44, 0.40, 0.78],
        [0.56, 0.50, 1.0],
        ShapeKind::Chair,
        Support::Floor,
        &[
            "black",
            "brown",
            "light wood",
            "red",
            "blue",
            "grey",
            "white",
            "green",
            "orange",
        ],
    ),
    cat(
        entry("table", "table", 4, 7, "table"),
        [1.0, 0.6, 0.72],
        [1.8, 0.95, 0.78],
        ShapeKind::Table,
        Support::Floor,
        &["light wood", "brown", "dark brown", "white", "black"],
    ),
    cat(
        entry("coffee table", "coffee table", 24, 7, "table"),
        [0.8, 0.45, 0.35],
        [1.2, 0.65, 0.5],
        ShapeKind::Table,
        Support::Floor,
        &["light wood", "dark brown", "black", "white"],
    ),
    cat(
        entry("desk", "desk", 9, 14, "desk"),
        [1.0, 0.5, 0.72],
        [1.6, 0.75, 0.78],
        ShapeKind::Desk,
        Support::Floor,
        &["light wood", "white", "dark brown", "grey", "black"],
    ),
    cat(
        entry("sofa", "sofa", 6, 6, "sofa"),
        [1.6, 0.8, 0.75],
        [2.4, 0.95, 0.95],
        ShapeKind::Sofa,
        Support::Floor,
        &[
            "grey",
            "beige",
            "navy",
            "green",
            "maroon",
            "dark grey",
            "teal",
        ],
    ),
    cat(
        entry("cabinet", "cabinet", 7, 3, "cabinet"),
        [0.6, 0.4, 0.6],
        [1.2, 0.6, 0.9],
        ShapeKind::Block,
        Support::Floor,
        &["white", "light wood", "brown", "light grey"],
    ),
    cat(
        entry("bookshelf", "bookshelf", 18, 10, "bookshelf"),
        [0.6, 0.25, 1.2],
        [1.0, 0.4, 2.0],
        ShapeKind::Bookshelf,
        Support::Floor,
        &["light wood", "brown", "white", "dark brown", "black"],
    ),
    cat(
        entry("tv", "tv", 33, 25, "television"),
        [0.8, 0.18, 0.5],
        [1.3, 0.25, 0.8],
        ShapeKind::Screen,
        Support::OnTopOf(ON_CABINET),
        &["black", "dark grey"],
    ),
    cat(
        entry("lamp", "lamp", 28, 35, "lamp"),
        [0.3, 0.26, 1.3],
        [0.45, 0.4, 1.7],
        ShapeKind::Lamp,
        Support::Floor,
        &["white", "cream", "black", "yellow"],
    ),
    cat(
        entry("toilet", "toilet", 17, 33, "toilet"),
        [0.65, 0.36, 0.7],
        [0.75, 0.45, 0.8],
        ShapeKind::Toilet,
        Support::Floor,
        &["white", "off-white"],
    ),
    cat(
        entry("sink", "sink", 14, 34, "sink"),
        [0.5, 0.4, 0.8],
        [0.7, 0.5, 0.9],
        ShapeKind::Sink,
        Support::Floor,
        &["white", "off-white", "silver"],
    ),
    cat(
        entry("monitor", "monitor", 19, 40, "otherprop"),
        [0.5, 0.15, 0.35],
        [0.7, 0.22, 0.5],
        ShapeKind::Screen,
        Support::OnTopOf(ON_DESK),
        &["black", "dark grey", "silver", "white"],
    ),
    cat(
        entry("pillow", "pillow", 13, 18, "pillow"),
        [0.5, 0.35, 0.1],
        [0.7, 0.45, 0.18],
        ShapeKind::Block,
        Support::OnTopOf(ON_BED_OR_SOFA),
        &[
            "white",
            "yellow",
            "orange",
            "pink",
            "teal",
            "red",
            "light blue",
            "purple",
        ],
    ),
    cat(
        entry("box", "box", 26, 29, "box"),
        [0.3, 0.25, 0.2],
        [0.6, 0.45, 0.45],
        ShapeKind::Block,
        Support::Floor,
        &["beige", "light wood", "white", "blue", "red"],
    ),
    cat(
        entry("trash can", "trash can", 56, 39, "otherfurniture"),
        [0.28, 0.22, 0.35],
        [0.4, 0.32, 0.6],
        ShapeKind::Block,
        Support::Floor,
        &["grey", "black", "blue", "green", "white", "silver"],
    ),
    cat(
        entry("nightstand", "nightstand", 34, 32, "night stand"),
        [0.4, 0.35, 0.45],
        [0.6, 0.45, 0.65],
        ShapeKind::Block,
        Support::Floor,
        &["light wood", "brown", "white", "dark brown"],
    ),
    cat(
        entry("dresser", "dresser", 36, 17, "dresser"),
        [0.8, 0.4, 0.75],
        [1.5, 0.55, 1.1],
        ShapeKind::Block,
        Support::Floor,
        &["white", "light wood", "brown", "dark brown"],
    ),
    cat(
        entry("refrigerator", "refrigerator", 27, 24, "refridgerator"),
        [0.7, 0.6, 1.5],
        [0.9, 0.68, 1.9],
        ShapeKind::Block,
        Support::Floor,
        &["white", "silver", "black"],
    ),
];

/// The catalog entry for a raw label. Panics on an unknown label (a bug in the generator).
pub fn category(label: &str) -> &'static Category {
    CATALOG
        .iter()
        .find(|c| c.label() == label)
        .unwrap_or_else(|| panic!("{label:?} is not in the catalog"))
}

/// Every label the generator can write (structure first, then furniture), one row each: what
/// a writer emits as the label-map TSV.
pub fn label_map() -> Vec<LabelMapEntry> {
    STRUCTURAL
        .iter()
        .copied()
        .chain(CATALOG.iter().map(|c| c.labels))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn catalog_is_consistent() {
        let labels: BTreeSet<_> = label_map().iter().map(|e| e.raw_label).collect();
        assert_eq!(
            labels.len(),
            STRUCTURAL.len() + CATALOG.len(),
            "raw labels are unique"
        );
        assert!(CATALOG.len() >= 15);
        for c in CATALOG {
            let (lo, hi) = (c.size_min_m, c.size_max_m);
            for axis in 0..3 {
                assert!(
                    0.0 < lo[axis] && lo[axis] <= hi[axis],
                    "{}: size range",
                    c.label()
                );
            }
            assert!(
                lo[0] >= lo[1] && hi[0] >= hi[1],
                "{}: length >= width",
                c.label()
            );
            assert!(!c.colors.is_empty());
            for name in c.colors {
                assert_eq!(color_name(color_rgb(name)), *name);
            }
            if let Support::OnTopOf(parents) = c.support {
                for p in parents {
                    assert_eq!(category(p).support, Support::Floor);
                }
            }
        }
    }
}
