//! Numbers and 4x4 matrices written as text, the way ScanNet's tools write them.
//!
//! Three writers produce these files: the Python exporter (`%f`, six decimals, four lines of
//! four numbers), the C++ exporter (default stream formatting, no trailing newline) and the
//! scan meta `<id>.txt` (sixteen numbers on one `axisAlignment = ...` line). All of them are
//! "whitespace-separated numbers", so one parser serves them all. Lost-tracking poses hold
//! `-inf`, and C runtimes spell infinities and NaNs in several ways, so those spellings are
//! accepted here and judged later by the caller.

use crate::scene::Intrinsics;

/// Parses one number, accepting the non-finite spellings of the C and Python runtimes
/// (`inf`, `-inf`, `nan`, `-nan`, `-nan(ind)`, MSVC's `-1.#INF` / `1.#IND`).
pub fn parse_number(token: &str) -> Option<f64> {
    if let Ok(value) = token.parse::<f64>() {
        return Some(value);
    }
    // Rust already accepts `inf`, `infinity` and `nan` with an optional sign; what is left
    // are the decorated spellings of glibc (`-nan(ind)`) and MSVC (`-1.#INF`, `1.#IND`).
    let lower = token.to_ascii_lowercase();
    let (negative, body) = match lower.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, lower.strip_prefix('+').unwrap_or(&lower)),
    };
    if body.starts_with("nan(") || matches!(body, "1.#ind" | "1.#qnan" | "1.#snan") {
        return Some(f64::NAN);
    }
    if body == "1.#inf" {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    None
}

/// Parses exactly `expected` whitespace-separated numbers. The error says what was wrong in
/// words a user can act on; the caller attaches the file.
pub fn parse_numbers(text: &str, expected: usize) -> Result<Vec<f64>, String> {
    let mut values = Vec::with_capacity(expected);
    for token in text.split_whitespace() {
        let value = parse_number(token).ok_or_else(|| format!("`{token}` is not a number"))?;
        values.push(value);
    }
    if values.len() != expected {
        return Err(format!(
            "expected {expected} numbers, found {}",
            values.len()
        ));
    }
    Ok(values)
}

/// Parses a row-major 4x4 matrix (sixteen numbers, any whitespace between them).
pub fn parse_matrix4(text: &str) -> Result<[f64; 16], String> {
    let values = parse_numbers(text, 16)?;
    let mut matrix = [0.0; 16];
    matrix.copy_from_slice(&values);
    Ok(matrix)
}

/// The pinhole intrinsics stored in the upper-left 3x3 of a row-major 4x4 calibration matrix
/// (`fx 0 cx / 0 fy cy / 0 0 1`).
pub fn intrinsics_from_matrix(matrix: &[f64; 16]) -> Intrinsics {
    Intrinsics {
        fx: matrix[0],
        fy: matrix[5],
        cx: matrix[2],
        cy: matrix[6],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<[f64; 16], &str>) {
        match (parse_matrix4(text), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got:?} lacks {want:?}"),
            (got, want) => panic!("parse_matrix4({text:?}) = {got:?}, expected {want:?}"),
        }
    }

    const IDENTITY: [f64; 16] = [
        1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
    ];

    #[test]
    fn matrix_text() {
        // Python exporter: four lines, six decimals, trailing newline.
        check(
            "1.000000 0.000000 0.000000 0.000000\n0.000000 1.000000 0.000000 0.000000\n\
             0.000000 0.000000 1.000000 0.000000\n0.000000 0.000000 0.000000 1.000000\n",
            Ok(IDENTITY),
        );
        // C++ exporter: no trailing newline; Windows line endings are whitespace too.
        check("1 0 0 0\r\n0 1 0 0\r\n0 0 1 0\r\n0 0 0 1", Ok(IDENTITY));
        // Meta line value: one line with a trailing space.
        check("1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 ", Ok(IDENTITY));
        check(
            "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0",
            Err("expected 16 numbers, found 15"),
        );
        check("1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 1", Err("found 17"));
        check(
            "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 x",
            Err("`x` is not a number"),
        );
        check("", Err("found 0"));
    }

    #[test]
    fn non_finite_spellings() {
        let lost = parse_matrix4(&["-inf"; 16].join(" ")).unwrap();
        assert!(lost.iter().all(|v| *v == f64::NEG_INFINITY));
        for token in ["nan", "-nan", "NaN", "-nan(ind)", "1.#IND", "-1.#QNAN"] {
            assert!(parse_number(token).unwrap().is_nan(), "{token}");
        }
        assert_eq!(parse_number("inf"), Some(f64::INFINITY));
        assert_eq!(parse_number("-1.#INF"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_number("-0.5"), Some(-0.5));
        assert_eq!(parse_number("1e-3"), Some(1e-3));
        assert_eq!(parse_number("chair"), None);
        assert_eq!(parse_number("information"), None);
    }

    #[test]
    fn intrinsics_layout() {
        let m = [
            1169.621094,
            0.0,
            646.295044,
            0.0,
            0.0,
            1167.105103,
            489.927032,
            0.0,
            0.0,
            0.0,
            1.0,
            0.0,
            0.0,
            0.0,
            0.0,
            1.0,
        ];
        let k = intrinsics_from_matrix(&m);
        assert_eq!(
            (k.fx, k.fy, k.cx, k.cy),
            (1169.621094, 1167.105103, 646.295044, 489.927032)
        );
    }
}
