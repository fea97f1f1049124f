//! Small encoders shared by the synthetic-scene writers: JPEG colour, big-endian PGM depth,
//! zlib streams (the 16-bit PNG depth codec is `msmu_data::dataset::depth_png`), and the two number
//! formats the ScanNet exporters use (Python `%f` and the C++ stream default `%g`).
//!
//! Everything here is a pure function from values to bytes or text, so the writers stay a
//! thin layer of file names around these and the tests can check each format in isolation.

use std::io::Write;

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};

// The depth codec is the data crate's (one codec for writers and the trainer).
pub use msmu_data::dataset::depth_png::{depth_to_u16, encode_png_gray16};

/// JPEG quality of every colour image we write: close to what ScanNet and ScanNet++ ship.
pub const JPEG_QUALITY: u8 = 90;

/// Encodes an RGB image (row-major, `width * height` pixels) as a baseline JPEG.
pub fn encode_jpeg(rgb: &[[u8; 3]], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        rgb.len() == width as usize * height as usize,
        "colour image has {} pixels, expected {width}x{height}",
        rgb.len()
    );
    let flat: Vec<u8> = rgb.iter().flatten().copied().collect();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).write_image(
        &flat,
        width,
        height,
        ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// Encodes a binary PGM (P5) with 16-bit **big-endian** samples, with the exact header the
/// ScanNet C++ exporter writes (`SensorData::saveAsPGM`, including its comment line).
pub fn encode_pgm16_be(samples: &[u16], width: u32, height: u32, depth_shift: f32) -> Vec<u8> {
    let mut out = format!(
        "P5\n# data values are 16-bit each; depth shift is {}\n{width} {height}\n65535\n",
        format_cpp_float(depth_shift as f64)
    )
    .into_bytes();
    out.reserve(samples.len() * 2);
    for s in samples {
        out.extend_from_slice(&s.to_be_bytes());
    }
    out
}

/// u16 samples as little-endian bytes (the `.sens` and iPhone LZ4 payload order).
pub fn u16_le_bytes(samples: &[u16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// A zlib-wrapped (RFC 1950) deflate stream, as the `.sens` depth payload needs.
pub fn zlib_compress(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    encoder.write_all(bytes).expect("write to Vec");
    encoder.finish().expect("finish into Vec")
}

/// A raw deflate stream (RFC 1951, no header), as the iPhone `depth.bin` uses.
pub fn deflate_raw(bytes: &[u8]) -> Vec<u8> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("write to Vec");
    encoder.finish().expect("finish into Vec")
}

/// Python `'%f' % x`: six decimals; infinities as `inf` / `-inf`.
pub fn format_percent_f(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x.is_nan() {
        return "nan".into();
    }
    format!("{x:.6}")
}

/// A 4x4 row-major matrix the way the ScanNet Python exporter writes it
/// (`np.savetxt(f, row, fmt='%f')` per row): four lines of four space-separated numbers.
pub fn matrix_text_percent_f(m: &[f64; 16]) -> String {
    let mut out = String::new();
    for row in m.chunks_exact(4) {
        let cells: Vec<String> = row.iter().map(|&v| format_percent_f(v)).collect();
        out.push_str(&cells.join(" "));
        out.push('\n');
    }
    out
}

/// C++ `std::ostream << x` with default flags (precision 6, `%g` rules): shortest of fixed
/// and scientific, trailing zeros removed, exponent with at least two digits.
pub fn format_cpp_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    const PRECISION: i32 = 6;
    // Round to 6 significant digits first; the exponent after rounding decides the style.
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, x);
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("integer exponent");
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..PRECISION).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip(mantissa), exponent.abs())
    } else {
        let decimals = (PRECISION - 1 - exponent).max(0) as usize;
        strip(&format!("{x:.decimals$}"))
    }
}

/// A 4x4 row-major matrix as the ScanNet C++ exporter's `savePoseFile` writes it: default
/// stream formatting, rows on separate lines, **no** newline after the last row.
pub fn matrix_text_cpp(m: &[f64; 16]) -> String {
    m.chunks_exact(4)
        .map(|row| {
            row.iter()
                .map(|&v| format_cpp_float(v as f32 as f64))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpp_float_matches_printf_g() {
        let check = |x: f64, expected: &str| assert_eq!(format_cpp_float(x), expected, "{x}");
        check(1.0, "1");
        check(0.5, "0.5");
        check(-0.25, "-0.25");
        check(1000.0, "1000");
        check(1169.621094, "1169.62");
        check(123456.0, "123456");
        check(1234567.0, "1.23457e+06");
        check(0.0001, "0.0001");
        check(0.00001234, "1.234e-05");
        check(999999.5, "1e+06");
        check(f64::NEG_INFINITY, "-inf");
        check(0.0, "0");
        check(-3.0e-9, "-3e-09");
    }

    #[test]
    fn percent_f_has_six_decimals() {
        assert_eq!(format_percent_f(1.0), "1.000000");
        assert_eq!(format_percent_f(-0.1234567), "-0.123457");
        assert_eq!(format_percent_f(f64::NEG_INFINITY), "-inf");
        let text = matrix_text_percent_f(&[
            1.0, 0.0, 0.0, 2.5, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        ]);
        assert_eq!(
            text,
            "1.000000 0.000000 0.000000 2.500000\n0.000000 1.000000 0.000000 0.000000\n\
             0.000000 0.000000 1.000000 0.000000\n0.000000 0.000000 0.000000 1.000000\n"
        );
    }

    #[test]
    fn cpp_matrix_has_no_trailing_newline() {
        let mut m = [0.0; 16];
        m[0] = 1.0;
        m[3] = -0.5;
        m[15] = 1.0;
        let text = matrix_text_cpp(&m);
        assert_eq!(text, "1 0 0 -0.5\n0 0 0 0\n0 0 0 0\n0 0 0 1");
    }

    #[test]
    fn pgm_is_big_endian() {
        let pgm = encode_pgm16_be(&[0x0102, 0xA0B0], 2, 1, 1000.0);
        let header = "P5\n# data values are 16-bit each; depth shift is 1000\n2 1\n65535\n";
        assert_eq!(&pgm[..header.len()], header.as_bytes());
        assert_eq!(&pgm[header.len()..], &[0x01, 0x02, 0xA0, 0xB0]);
    }
}
