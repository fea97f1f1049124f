//! Lazy access to a frame's colour image and sensor depth.
//!
//! Readers only record *where* each frame's data lives ([`ImageSource`], [`DepthSource`]);
//! these functions read one frame when a stage asks for it, so a 3 GB `.sens` stream never
//! has to be in memory at once.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::Problem;
use crate::scene::{DepthMap, DepthSource, ImageSource};

/// Reads `len` bytes at `offset` of `path`.
pub fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, Problem> {
    let (mut file, file_len) = crate::io::open_bounded(path, crate::io::MAX_BINARY_FILE_BYTES)?;
    if len > crate::io::MAX_IMAGE_FILE_BYTES {
        return Err(Problem::invalid(
            format!("frame payload at offset {offset}"),
            format!(
                "{len} bytes is more than the {} allowed for one frame (corrupt index)",
                crate::io::MAX_IMAGE_FILE_BYTES
            ),
        ));
    }
    if offset.saturating_add(len) > file_len {
        return Err(Problem::Truncated {
            what: format!("frame payload at offset {offset}"),
            expected: len,
            found: file_len.saturating_sub(offset),
        });
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len as usize];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// The encoded colour image (JPEG or PNG) exactly as stored: never decoded and re-encoded.
/// The bytes are checked to be a complete JPEG or PNG ([`color_dimensions`]): an empty,
/// zeroed or truncated file is an error, so the caller drops the frame instead of storing it.
pub fn read_color_bytes(source: &ImageSource) -> Result<Vec<u8>, Problem> {
    let bytes = match source {
        ImageSource::File(path) => crate::io::read_bounded(path, crate::io::MAX_IMAGE_FILE_BYTES)?,
        ImageSource::SensJpeg { path, offset, len } => read_range(path, *offset, *len)?,
    };
    color_dimensions(&bytes)?;
    Ok(bytes)
}

/// [`read_color_bytes`], also checking that the image has the size of the frame's colour
/// camera (`expected` = width, height): a resized or swapped image would put every projected
/// pixel in the wrong place.
pub fn read_color_checked(source: &ImageSource, expected: (u32, u32)) -> Result<Vec<u8>, Problem> {
    let bytes = read_color_bytes(source)?;
    check_color_size(&bytes, expected)?;
    Ok(bytes)
}

/// Checks that encoded colour bytes are `expected` (width, height) pixels.
pub fn check_color_size(bytes: &[u8], expected: (u32, u32)) -> Result<(), Problem> {
    let found = color_dimensions(bytes)?;
    if found != expected {
        return Err(Problem::invalid(
            "colour image",
            format!(
                "is {}x{} pixels but the camera is {}x{}; the image was resized or belongs to another camera (re-extract the frames)",
                found.0, found.1, expected.0, expected.1
            ),
        ));
    }
    Ok(())
}

/// Width and height of encoded JPEG or PNG bytes, from the header, after checking that the
/// bytes are a whole image: the right magic number, a header that parses, a size within
/// [`crate::io::MAX_IMAGE_SIDE`] and the end marker (JPEG `FF D9`, PNG `IEND`) in the last
/// 64 bytes, so a truncated file is caught without decoding it.
pub fn color_dimensions(bytes: &[u8]) -> Result<(u32, u32), Problem> {
    let bad = |detail: String| Problem::invalid("colour image", detail);
    if bytes.is_empty() {
        return Err(bad("is empty (0 bytes)".into()));
    }
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    let format = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
            return Err(bad(
                "JPEG has no end-of-image marker (FF D9): the file is truncated".into(),
            ));
        }
        image::ImageFormat::Jpeg
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        if !tail.windows(4).any(|w| w == b"IEND") {
            return Err(bad("PNG has no IEND chunk: the file is truncated".into()));
        }
        image::ImageFormat::Png
    } else {
        return Err(bad(format!(
            "is neither JPEG nor PNG (first bytes {:02x?})",
            &bytes[..bytes.len().min(8)]
        )));
    };
    let (width, height) = image::ImageReader::with_format(std::io::Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| bad(format!("header does not parse: {e}")))?;
    crate::io::check_image_size(width, height, "colour image size")?;
    Ok((width, height))
}

/// Width and height from the header of an image file (at most
/// [`crate::io::MAX_IMAGE_FILE_BYTES`]), without decoding it.
pub fn image_file_dimensions(path: &Path) -> Result<(u32, u32), Problem> {
    let (file, _) = crate::io::open_bounded(path, crate::io::MAX_IMAGE_FILE_BYTES)?;
    image::ImageReader::new(std::io::BufReader::new(file))
        .with_guessed_format()?
        .into_dimensions()
        .map_err(|e| Problem::invalid("image header", e.to_string()))
}

fn depth_from_u16(width: u32, height: u32, raw: impl Iterator<Item = u16>, shift: f64) -> DepthMap {
    let scale = 1.0 / shift;
    DepthMap {
        width,
        height,
        depth_m: raw.map(|d| (d as f64 * scale) as f32).collect(),
    }
}

/// Decodes the sensor depth of one frame to metres (0 = invalid).
pub fn read_sensor_depth(source: &DepthSource) -> Result<DepthMap, Problem> {
    match source {
        DepthSource::Png16 { path, shift } => {
            let bytes = crate::io::read_bounded(path, crate::io::MAX_IMAGE_FILE_BYTES)?;
            let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
                .map_err(|e| Problem::invalid("depth PNG", e.to_string()))?;
            let img = match img {
                image::DynamicImage::ImageLuma16(g) => g,
                other => {
                    return Err(Problem::invalid(
                        "depth PNG",
                        format!("expected 16-bit grayscale, found {:?}", other.color()),
                    ))
                }
            };
            let (w, h) = img.dimensions();
            Ok(depth_from_u16(w, h, img.into_raw().into_iter(), *shift))
        }
        DepthSource::PgmBigEndian { path, shift } => {
            let bytes = crate::io::read_bounded(path, crate::io::MAX_IMAGE_FILE_BYTES)?;
            let (w, h, data) = parse_pgm16(&bytes)?;
            crate::io::check_image_size(w, h, "PGM depth image size")?;
            Ok(depth_from_u16(
                w,
                h,
                data.chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]])),
                *shift,
            ))
        }
        DepthSource::SensZlib {
            path,
            offset,
            len,
            width,
            height,
            shift,
        } => {
            crate::io::check_image_size(*width, *height, "depth image size")?;
            let compressed = read_range(path, *offset, *len)?;
            let expected = *width as usize * *height as usize * 2;
            let mut raw = Vec::with_capacity(expected);
            flate2::read::ZlibDecoder::new(&compressed[..])
                .read_to_end(&mut raw)
                .map_err(|e| Problem::invalid("zlib depth payload", e.to_string()))?;
            if raw.len() != expected {
                return Err(Problem::LengthMismatch {
                    what: "decompressed depth bytes".into(),
                    expected: expected as u64,
                    found: raw.len() as u64,
                });
            }
            Ok(depth_from_u16(
                *width,
                *height,
                raw.chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]])),
                *shift,
            ))
        }
        DepthSource::IphoneBin {
            path,
            frame_index,
            width,
            height,
        } => crate::io::iphone_depth::read_frame(path, *frame_index, *width, *height),
    }
}

/// Parses a binary PGM (P5) with maxval > 255 (two bytes per sample, big-endian).
fn parse_pgm16(bytes: &[u8]) -> Result<(u32, u32, &[u8]), Problem> {
    let bad = |d: &str| Problem::invalid("PGM depth image", d.to_string());
    let mut fields = Vec::with_capacity(4);
    let mut pos = 0usize;
    while fields.len() < 4 {
        // Skip whitespace and comments.
        while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b'#') {
            if bytes[pos] == b'#' {
                while pos < bytes.len() && bytes[pos] != b'\n' {
                    pos += 1;
                }
            } else {
                pos += 1;
            }
        }
        let start = pos;
        while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if start == pos {
            return Err(bad("header ends early"));
        }
        fields
            .push(std::str::from_utf8(&bytes[start..pos]).map_err(|_| bad("header is not text"))?);
    }
    pos += 1; // exactly one whitespace byte after maxval
    if fields[0] != "P5" {
        return Err(bad(&format!("magic is {:?}, expected P5", fields[0])));
    }
    let parse = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| bad(&format!("bad number {s:?}")))
    };
    let (w, h, maxval) = (parse(fields[1])?, parse(fields[2])?, parse(fields[3])?);
    if maxval < 256 {
        return Err(bad("expected 16-bit samples (maxval > 255)"));
    }
    let need = (w as u64 * h as u64).saturating_mul(2);
    let data = bytes.get(pos..).unwrap_or(&[]);
    if (data.len() as u64) < need {
        return Err(Problem::Truncated {
            what: "PGM samples".into(),
            expected: need,
            found: data.len() as u64,
        });
    }
    Ok((w, h, &data[..need as usize]))
}
