//! ScanNet++ iPhone `depth.bin` decoding (both encodings of FORMATS.md section 2.4).
//!
//! (a) the whole file is one raw-deflate stream (no zlib header) of float32 metres,
//!     `n_frames x height x width`;
//! (b) a sequence of `[u32 little-endian size][payload]` records, one per frame, where the
//!     payload is an LZ4 *block* of u16 millimetres, falling back to raw-deflate float32 metres.

use std::io::Read;
use std::path::Path;

use crate::error::Problem;
use crate::scene::DepthMap;

/// Which of the two layouts a `depth.bin` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthBinLayout {
    /// One raw-deflate stream of float32 metres for all frames.
    DeflateF32,
    /// Length-prefixed per-frame records (LZ4 u16 mm, or raw-deflate f32 m).
    Records,
}

/// Guesses the layout from the first bytes: a record file starts with a plausible
/// little-endian length that fits in the file, and its payload decodes.
pub fn detect_layout(bytes: &[u8], width: u32, height: u32) -> DepthBinLayout {
    if bytes.len() >= 4 {
        let size = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if size > 0 && size + 4 <= bytes.len() && decode_record(&bytes[4..4 + size], width, height).is_ok() {
            return DepthBinLayout::Records;
        }
    }
    DepthBinLayout::DeflateF32
}

fn decode_record(payload: &[u8], width: u32, height: u32) -> Result<Vec<f32>, Problem> {
    let n = width as usize * height as usize;
    if let Ok(raw) = lz4_flex::block::decompress(payload, n * 2) {
        if raw.len() == n * 2 {
            return Ok(raw
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as f32 / 1000.0)
                .collect());
        }
    }
    let mut raw = Vec::with_capacity(n * 4);
    flate2::read::DeflateDecoder::new(payload)
        .read_to_end(&mut raw)
        .map_err(|e| Problem::invalid("depth.bin record", format!("neither LZ4 nor deflate: {e}")))?;
    if raw.len() != n * 4 {
        return Err(Problem::LengthMismatch {
            what: "depth.bin record samples (bytes)".into(),
            expected: (n * 4) as u64,
            found: raw.len() as u64,
        });
    }
    Ok(raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Decodes every frame of a `depth.bin` held in memory, in metres.
pub fn decode_all(bytes: &[u8], width: u32, height: u32) -> Result<Vec<Vec<f32>>, Problem> {
    let n = width as usize * height as usize;
    match detect_layout(bytes, width, height) {
        DepthBinLayout::Records => {
            let mut frames = Vec::new();
            let mut pos = 0usize;
            while pos < bytes.len() {
                if pos + 4 > bytes.len() {
                    return Err(Problem::Truncated {
                        what: "depth.bin record header".into(),
                        expected: 4,
                        found: (bytes.len() - pos) as u64,
                    });
                }
                let size = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]) as usize;
                pos += 4;
                if pos + size > bytes.len() {
                    return Err(Problem::Truncated {
                        what: format!("depth.bin record {}", frames.len()),
                        expected: size as u64,
                        found: (bytes.len() - pos) as u64,
                    });
                }
                frames.push(decode_record(&bytes[pos..pos + size], width, height)?);
                pos += size;
            }
            Ok(frames)
        }
        DepthBinLayout::DeflateF32 => {
            let mut raw = Vec::new();
            flate2::read::DeflateDecoder::new(bytes)
                .read_to_end(&mut raw)
                .map_err(|e| Problem::invalid("depth.bin", format!("not a raw-deflate stream: {e}")))?;
            if raw.len() % (n * 4) != 0 {
                return Err(Problem::invalid(
                    "depth.bin",
                    format!("{} decompressed bytes is not a whole number of {width}x{height} float32 frames", raw.len()),
                ));
            }
            Ok(raw
                .chunks_exact(n * 4)
                .map(|frame| {
                    frame
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect()
                })
                .collect())
        }
    }
}

/// Reads one frame. Record files are walked record by record (only the wanted one is
/// decoded); the single-stream layout is decompressed up to the wanted frame.
pub fn read_frame(path: &Path, frame_index: u32, width: u32, height: u32) -> Result<DepthMap, Problem> {
    let bytes = std::fs::read(path)?;
    let n = width as usize * height as usize;
    let depth_m = match detect_layout(&bytes, width, height) {
        DepthBinLayout::Records => {
            let mut pos = 0usize;
            let mut index = 0u32;
            loop {
                if pos + 4 > bytes.len() {
                    return Err(Problem::invalid(
                        "depth.bin",
                        format!("has {index} frames, frame {frame_index} was asked for"),
                    ));
                }
                let size = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]) as usize;
                pos += 4;
                if pos + size > bytes.len() {
                    return Err(Problem::Truncated {
                        what: format!("depth.bin record {index}"),
                        expected: size as u64,
                        found: (bytes.len() - pos) as u64,
                    });
                }
                if index == frame_index {
                    break decode_record(&bytes[pos..pos + size], width, height)?;
                }
                pos += size;
                index += 1;
            }
        }
        DepthBinLayout::DeflateF32 => {
            let mut decoder = flate2::read::DeflateDecoder::new(&bytes[..]);
            let skip = frame_index as u64 * n as u64 * 4;
            let skipped = std::io::copy(&mut (&mut decoder).take(skip), &mut std::io::sink())
                .map_err(|e| Problem::invalid("depth.bin", format!("not a raw-deflate stream: {e}")))?;
            if skipped != skip {
                return Err(Problem::invalid(
                    "depth.bin",
                    format!("stream ends before frame {frame_index}"),
                ));
            }
            let mut raw = vec![0u8; n * 4];
            decoder
                .read_exact(&mut raw)
                .map_err(|e| Problem::invalid("depth.bin", format!("frame {frame_index}: {e}")))?;
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
    };
    Ok(DepthMap {
        width,
        height,
        depth_m,
    })
}
