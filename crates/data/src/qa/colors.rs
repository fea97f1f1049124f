//! Colour names. References ("the white table") name an object's colour from its pixels in
//! the image ([`view_color_shares`], [`BASIC_COLORS`]): a real scan's vertex colours and
//! lighting say little about what a person would call the object. [`PALETTE`] is the
//! synthetic-scene generator's paint box (every name maps to one basic colour).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use image::RgbImage;
use palette::color_difference::Ciede2000;
use palette::white_point::D65;
use palette::{FromColor, Lab, Srgb};

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

/// The colour names references take from an object's pixels: the eleven basic colour terms
/// of Berlin & Kay (1969), with beige added (common in interiors and distinct from both
/// white and brown), each with one or more sRGB prototypes. A pixel is named after its
/// nearest prototype in CIEDE2000 (CIELAB, D65). Several prototypes per name shape the regions
/// that real indoor colours fall in (light and dark wood are both brown, navy is blue).
pub const BASIC_COLORS: &[(&str, &[[u8; 3]])] = &[
    ("white", &[[245, 245, 245], [226, 221, 207]]),
    ("grey", &[[128, 128, 128], [180, 180, 182], [80, 80, 84]]),
    ("black", &[[16, 16, 16], [38, 38, 40]]),
    (
        "brown",
        &[[140, 92, 52], [96, 62, 38], [66, 44, 30], [190, 146, 96]],
    ),
    ("beige", &[[212, 190, 150], [240, 226, 188]]),
    ("red", &[[196, 36, 36], [128, 30, 40]]),
    ("orange", &[[232, 128, 40]]),
    ("yellow", &[[232, 200, 50], [240, 232, 130]]),
    ("green", &[[60, 140, 70], [118, 128, 58], [30, 90, 50]]),
    (
        "blue",
        &[[50, 84, 170], [30, 40, 92], [150, 190, 226], [40, 120, 150]],
    ),
    ("purple", &[[112, 68, 144], [70, 40, 90]]),
    ("pink", &[[222, 150, 170], [236, 190, 200]]),
];

fn lab(rgb: [u8; 3]) -> Lab<D65, f32> {
    let srgb: Srgb<f32> = Srgb::new(rgb[0], rgb[1], rgb[2]).into_format();
    Lab::from_color(srgb.into_linear())
}

/// Index into [`BASIC_COLORS`] of the name nearest to `rgb` (CIEDE2000 to the prototypes;
/// ties to the earlier name).
pub fn basic_color_index(rgb: [u8; 3]) -> usize {
    nearest_name(lab(rgb), prototype_labs())
}

/// Every prototype of [`BASIC_COLORS`] in CIELAB, with its name's index (computed once).
fn prototype_labs() -> &'static [(usize, Lab<D65, f32>)] {
    static LABS: OnceLock<Vec<(usize, Lab<D65, f32>)>> = OnceLock::new();
    LABS.get_or_init(|| {
        BASIC_COLORS
            .iter()
            .enumerate()
            .flat_map(|(index, (_, prototypes))| prototypes.iter().map(move |&p| (index, lab(p))))
            .collect()
    })
}

fn nearest_name(target: Lab<D65, f32>, prototypes: &[(usize, Lab<D65, f32>)]) -> usize {
    let mut best = (f32::INFINITY, 0);
    for &(index, p) in prototypes {
        let d = target.difference(p);
        if d < best.0 {
            best = (d, index);
        }
    }
    best.1
}

/// The basic colour name of `rgb` ([`basic_color_index`]).
pub fn basic_color_name(rgb: [u8; 3]) -> &'static str {
    BASIC_COLORS[basic_color_index(rgb)].0
}

/// Bits per channel of the lookup table that names pixels.
const LUT_BITS: u32 = 5;

/// [`basic_color_index`] of the cell centres of an RGB cube quantised to [`LUT_BITS`] per
/// channel (32 KiB), filled cell by cell as pixels need them (`UNKNOWN` until then): an image
/// holds few distinct cells, and CIEDE2000 against every prototype is too slow to compute for
/// all 32,768 cells at start-up or for every pixel.
fn lut() -> &'static [AtomicU8] {
    static LUT: OnceLock<Vec<AtomicU8>> = OnceLock::new();
    LUT.get_or_init(|| {
        (0..1usize << (3 * LUT_BITS))
            .map(|_| AtomicU8::new(UNKNOWN))
            .collect()
    })
}

/// A cell of [`lut`] not computed yet.
const UNKNOWN: u8 = u8::MAX;

/// The [`BASIC_COLORS`] index of one pixel: that of its cell's centre.
pub fn pixel_color_index(rgb: [u8; 3]) -> usize {
    let shift = 8 - LUT_BITS;
    let [r, g, b] = rgb.map(|c| (c >> shift) as usize);
    let cell = &lut()[(r << (2 * LUT_BITS)) | (g << LUT_BITS) | b];
    match cell.load(Ordering::Relaxed) {
        UNKNOWN => {
            let step = 1u32 << shift;
            let centre = |q: usize| (q as u32 * step + step / 2) as u8;
            let index = basic_color_index([centre(r), centre(g), centre(b)]);
            // Every thread computes the same value for a cell, so a race only repeats work.
            cell.store(index as u8, Ordering::Relaxed);
            index
        }
        index => index as usize,
    }
}

/// How much of an object's well-lit surface each basic colour covers in one image.
#[derive(Clone, Debug, PartialEq)]
pub struct ColorShares {
    /// Interior pixels seen (mask pixels whose four neighbours are the same object, so that
    /// edges misregistered between the depth and colour cameras do not vote).
    pub pixels: u32,
    /// Fraction per [`BASIC_COLORS`] entry of the interior pixels whose luma lies between the
    /// object's [`LIT_BAND`] percentiles.
    pub shares: Vec<f32>,
}

/// The luma percentiles of an object's pixels that name its colour. A person names an object
/// by its lit surfaces (colour constancy): the faces turned away from the light are darker
/// (a yellow chair's shadowed side is olive, an orange one's brown) and the brightest few
/// percent are highlights. The band keeps the lit surface and drops both.
pub const LIT_BAND: (f64, f64) = (0.6, 0.95);

/// Fewest interior pixels for an object's colour to be named.
pub const MIN_COLOR_PIXELS: u32 = 30;
/// Share of its pixels a colour must cover to name the object ("the white chair").
pub const DOMINANT_SHARE: f32 = 0.5;
/// Share above which an object could also be called that colour: a colour phrase is
/// ambiguous when another object of the label has at least this much of it.
pub const PLAUSIBLE_SHARE: f32 = 0.2;

impl ColorShares {
    /// The name covering at least [`DOMINANT_SHARE`] of enough pixels, if any.
    pub fn dominant(&self) -> Option<&'static str> {
        if self.pixels < MIN_COLOR_PIXELS {
            return None;
        }
        self.shares
            .iter()
            .position(|&s| s >= DOMINANT_SHARE)
            .map(|i| BASIC_COLORS[i].0)
    }

    /// Whether the object could be called `name`: it covers at least [`PLAUSIBLE_SHARE`], or
    /// too few pixels were seen to tell.
    pub fn could_be(&self, name: &str) -> bool {
        if self.pixels < MIN_COLOR_PIXELS {
            return true;
        }
        BASIC_COLORS
            .iter()
            .position(|(n, _)| *n == name)
            .is_some_and(|i| self.shares[i] >= PLAUSIBLE_SHARE)
    }
}

/// Colour shares of the `wanted` instances in one image. `instance` is the instance-id map of
/// the view (`map_width` x `map_height`, row-major), `rgb` the decoded colour image of the same
/// camera at any resolution: each interior mask pixel is looked up at the matching position
/// (nearest pixel) of the colour image.
pub fn view_color_shares(
    rgb: &RgbImage,
    instance: &[u32],
    map_width: u32,
    map_height: u32,
    wanted: &BTreeSet<u32>,
) -> BTreeMap<u32, ColorShares> {
    let (w, h) = (map_width as usize, map_height as usize);
    if instance.len() != w * h || w < 3 || h < 3 || rgb.width() == 0 || rgb.height() == 0 {
        return BTreeMap::new();
    }
    let ids: Vec<u32> = wanted.iter().copied().collect();
    // Per object: pixel counts by (colour name, luma).
    let mut counts = vec![vec![[0u32; 256]; BASIC_COLORS.len()]; ids.len()];
    let sx = rgb.width() as f64 / w as f64;
    let sy = rgb.height() as f64 / h as f64;
    let columns: Vec<u32> = (0..w)
        .map(|x| (((x as f64 + 0.5) * sx) as u32).min(rgb.width() - 1))
        .collect();
    // Runs of one id are the common case: remember the last id's slot.
    let mut last: (u32, Option<usize>) = (0, None);
    for y in 1..h - 1 {
        let row = &instance[y * w..(y + 1) * w];
        let cy = (((y as f64 + 0.5) * sy) as u32).min(rgb.height() - 1);
        for x in 1..w - 1 {
            let id = row[x];
            let interior = id != 0
                && row[x - 1] == id
                && row[x + 1] == id
                && instance[(y - 1) * w + x] == id
                && instance[(y + 1) * w + x] == id;
            if !interior {
                continue;
            }
            if last.0 != id {
                last = (id, ids.binary_search(&id).ok());
            }
            if let Some(slot) = last.1 {
                let pixel = rgb.get_pixel(columns[x], cy).0;
                counts[slot][pixel_color_index(pixel)][luma(pixel) as usize] += 1;
            }
        }
    }
    ids.into_iter()
        .zip(counts)
        .map(|(id, by_name)| (id, lit_shares(&by_name)))
        .collect()
}

/// Rec. 601 luma of an sRGB pixel, 0-255.
fn luma(rgb: [u8; 3]) -> u8 {
    ((299 * rgb[0] as u32 + 587 * rgb[1] as u32 + 114 * rgb[2] as u32 + 500) / 1000) as u8
}

/// The shares of one object's pixels (counts by name and luma) within its [`LIT_BAND`].
fn lit_shares(by_name: &[[u32; 256]]) -> ColorShares {
    let mut by_luma = [0u32; 256];
    for counts in by_name {
        for (total, n) in by_luma.iter_mut().zip(counts) {
            *total += n;
        }
    }
    let pixels: u32 = by_luma.iter().sum();
    // The luma at which the running count reaches `fraction` of the pixels.
    let percentile = |fraction: f64| -> usize {
        let target = (fraction * pixels as f64).ceil().max(1.0) as u32;
        let mut running = 0;
        by_luma
            .iter()
            .position(|&n| {
                running += n;
                running >= target
            })
            .unwrap_or(255)
    };
    let (lo, hi) = (percentile(LIT_BAND.0), percentile(LIT_BAND.1));
    let in_band: Vec<u32> = by_name.iter().map(|c| c[lo..=hi].iter().sum()).collect();
    let band_total: u32 = in_band.iter().sum();
    let shares = in_band
        .iter()
        .map(|&n| {
            if band_total == 0 {
                0.0
            } else {
                n as f32 / band_total as f32
            }
        })
        .collect();
    ColorShares { pixels, shares }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_paint_colour_names_the_same_from_the_table_and_exactly() {
        for (name, rgb) in PALETTE {
            assert_eq!(
                BASIC_COLORS[pixel_color_index(*rgb)].0,
                basic_color_name(*rgb),
                "{name}"
            );
        }
        // Lighting that is not extreme keeps the name of clear colours.
        for (rgb, expected) in [
            ([172, 42, 40], "red"),
            ([50, 82, 162], "blue"),
            ([138, 94, 56], "brown"),
            ([68, 130, 72], "green"),
        ] {
            for gain in [0.8f32, 1.0, 1.15] {
                let lit = rgb.map(|c| (c as f32 * gain).min(255.0) as u8);
                assert_eq!(basic_color_name(lit), expected, "{rgb:?} x {gain}");
            }
        }
        assert_eq!(basic_color_name([250, 250, 250]), "white");
        assert_eq!(basic_color_name([10, 10, 12]), "black");
    }

    /// A 12 x 8 map: object 1 (red) on the left, object 2 (white) on the right, object 3
    /// (half blue, half yellow) at the bottom; the colour image is twice the map's size and
    /// paints one pixel column around each object's edge in the wrong colour (as a depth and
    /// colour camera that are not perfectly registered do).
    #[test]
    fn view_shares_count_interior_pixels_at_the_colour_resolution() {
        let (w, h) = (12u32, 8u32);
        let mut map = vec![0u32; (w * h) as usize];
        for y in 0..h {
            for x in 0..w {
                map[(y * w + x) as usize] = match (x, y) {
                    (_, 6..) => 3,
                    (0..=5, _) => 1,
                    _ => 2,
                };
            }
        }
        let image = RgbImage::from_fn(2 * w, 2 * h, |x, y| {
            let (mx, my) = (x / 2, y / 2);
            let rgb = match map[(my * w + mx) as usize] {
                _ if mx == 5 || mx == 6 => [0, 160, 0],
                1 => [180, 30, 30],
                2 => [240, 240, 238],
                _ if mx < 6 => [50, 80, 170],
                _ => [235, 200, 50],
            };
            image::Rgb(rgb)
        });
        let wanted: BTreeSet<u32> = [1, 2, 3, 9].into_iter().collect();
        let shares = view_color_shares(&image, &map, w, h, &wanted);
        // Interior of 1: x 1..=4, y 1..=4 (y 5 borders object 3): 16 pixels, none green.
        assert_eq!(shares[&1].pixels, 16);
        let index = |name: &str| BASIC_COLORS.iter().position(|(n, _)| *n == name).unwrap();
        assert_eq!(shares[&1].shares[index("red")], 1.0);
        assert_eq!(shares[&2].shares[index("white")], 1.0);
        // Object 3 is one row high inside the map's border: no interior pixels.
        assert_eq!(shares[&3].pixels, 0);
        assert_eq!(shares[&9].pixels, 0);
        assert_eq!(shares.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 9]);
    }

    #[test]
    fn dominant_and_plausible_colours() {
        let with = |pixels: u32, pairs: &[(&str, f32)]| {
            let mut shares = vec![0.0; BASIC_COLORS.len()];
            for (name, share) in pairs {
                shares[BASIC_COLORS.iter().position(|(n, _)| n == name).unwrap()] = *share;
            }
            ColorShares { pixels, shares }
        };
        let mostly_white = with(500, &[("white", 0.7), ("grey", 0.3)]);
        assert_eq!(mostly_white.dominant(), Some("white"));
        assert!(mostly_white.could_be("grey"));
        assert!(!mostly_white.could_be("red"));
        let split = with(500, &[("blue", 0.45), ("yellow", 0.45), ("grey", 0.1)]);
        assert_eq!(split.dominant(), None);
        assert!(split.could_be("blue") && split.could_be("yellow"));
        // Too few pixels: no name, and any name might fit.
        let tiny = with(MIN_COLOR_PIXELS - 1, &[("red", 1.0)]);
        assert_eq!(tiny.dominant(), None);
        assert!(tiny.could_be("green"));
    }
}
