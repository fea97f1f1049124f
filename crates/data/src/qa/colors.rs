//! Colour names for references ("the white table"): a small named sRGB palette and the
//! nearest-name lookup. The QA references own this table; the synthetic-scene generator
//! paints its objects from it, so names of synthetic objects are exact.

/// Named sRGB colours. Synthetic truth `color_rgb` is always exactly one of these, so a colour name for
/// disambiguating same-label objects ("the white table") is [`color_name`] of it.
pub const PALETTE: &[(&str, [u8; 3])] = &[
    ("white", [236, 236, 232]),
    ("off-white", [222, 216, 200]),
    ("cream", [240, 228, 196]),
    ("beige", [206, 186, 146]),
    ("light grey", [188, 188, 190]),
    ("grey", [128, 128, 130]),
    ("dark grey", [70, 70, 74]),
    ("black", [32, 32, 34]),
    ("silver", [172, 176, 182]),
    ("light wood", [198, 160, 108]),
    ("brown", [138, 94, 56]),
    ("dark brown", [84, 54, 34]),
    ("red", [172, 42, 40]),
    ("maroon", [112, 36, 46]),
    ("orange", [216, 122, 44]),
    ("yellow", [222, 190, 62]),
    ("green", [68, 130, 72]),
    ("olive", [120, 124, 60]),
    ("teal", [40, 124, 126]),
    ("blue", [50, 82, 162]),
    ("navy", [34, 44, 92]),
    ("light blue", [150, 190, 222]),
    ("purple", [110, 70, 142]),
    ("pink", [216, 150, 166]),
];

/// The name of the palette colour nearest to `rgb` (exact for generator output).
pub fn color_name(rgb: [u8; 3]) -> &'static str {
    let dist = |c: &[u8; 3]| -> i32 { (0..3).map(|i| (c[i] as i32 - rgb[i] as i32).pow(2)).sum() };
    PALETTE
        .iter()
        .min_by_key(|(_, c)| dist(c))
        .map(|(n, _)| *n)
        .expect("palette is not empty")
}
