//! Lazy access to a frame's colour image and sensor depth.
//!
//! Readers only record *where* each frame's data lives ([`ImageSource`], [`DepthSource`]);
//! these functions read one frame when a stage asks for it, so a 3 GB `.sens` stream never
//! has to be in memory at once.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::Problem;
use crate::scene::{DepthMap, DepthSource, ImageSource};

/// Reads `len` bytes at `offset` of `path`.
pub fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, Problem> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
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
pub fn read_color_bytes(source: &ImageSource) -> Result<Vec<u8>, Problem> {
    match source {
        ImageSource::File(path) => Ok(std::fs::read(path)?),
        ImageSource::SensJpeg { path, offset, len } => read_range(path, *offset, *len),
    }
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
            let img =
                image::open(path).map_err(|e| Problem::invalid("depth PNG", e.to_string()))?;
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
            let bytes = std::fs::read(path)?;
            let (w, h, data) = parse_pgm16(&bytes)?;
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
    let need = w as usize * h as usize * 2;
    let data = bytes.get(pos..).unwrap_or(&[]);
    if data.len() < need {
        return Err(Problem::Truncated {
            what: "PGM samples".into(),
            expected: need as u64,
            found: data.len() as u64,
        });
    }
    Ok((w, h, &data[..need]))
}
