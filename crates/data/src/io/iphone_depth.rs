//! ScanNet++ iPhone `depth.bin` decoding (both encodings of FORMATS.md section 2.4).
//!
//! (a) the whole file is one raw-deflate stream (no zlib header) of float32 metres,
//!     `n_frames x height x width`;
//! (b) a sequence of `[u32 little-endian size][payload]` records, one per frame, where the
//!     payload is an LZ4 *block* of u16 millimetres, falling back to raw-deflate float32 metres
//!     (the official `prepare_iphone_data.py` tries the two payload codecs in that order).
//!
//! A real `depth.bin` is hundreds of megabytes, and frames are read one at a time by later
//! stages, so [`read_frame`] works on the open file: it seeks from record header to record
//! header (b), or streams the deflate decoder up to the wanted frame (a), and never holds the
//! whole file in memory. Every length read from the file is checked against the file size and
//! every decompression is bounded, so a corrupt file gives a [`Problem`], never a panic or a
//! runaway allocation. Depth is metres, 0 = no measurement (non-finite or negative samples
//! become 0).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
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

/// What [`inspect`] learns about a `depth.bin` without decoding every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthBinInfo {
    pub layout: DepthBinLayout,
    /// Number of frames for the record layout (every header walked, sizes checked against the
    /// file). `None` for the single-stream layout, whose length is only known after
    /// decompressing everything.
    pub n_frames: Option<u32>,
}

/// Samples per frame; a zero-sized frame cannot be decoded (and would divide by zero).
fn samples(width: u32, height: u32) -> Result<usize, Problem> {
    crate::io::check_image_size(width, height, "depth.bin frame size")?;
    let n = width as usize * height as usize;
    if n == 0 {
        return Err(Problem::invalid(
            "depth.bin frame size",
            format!("{width}x{height} has no pixels"),
        ));
    }
    Ok(n)
}

/// The largest payload a genuine record can have: the raw-deflate float32 fallback of one
/// frame, plus deflate's worst-case overhead (5 bytes per 16 KiB stored block) and slack. A
/// larger "size" proves the file is not in the record layout, and bounds what detection reads.
fn max_record_payload(n: usize) -> usize {
    n * 4 + n / 1024 + 1024
}

fn sanitize(depth_m: f32) -> f32 {
    if depth_m.is_finite() && depth_m > 0.0 {
        depth_m
    } else {
        0.0
    }
}

fn f32_samples(raw: &[u8]) -> Vec<f32> {
    raw.chunks_exact(4)
        .map(|c| sanitize(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect()
}

/// Decodes one record payload of layout (b).
fn decode_record(payload: &[u8], n: usize) -> Result<Vec<f32>, Problem> {
    if let Ok(raw) = lz4_flex::block::decompress(payload, n * 2) {
        if raw.len() == n * 2 {
            return Ok(raw
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as f32 / 1000.0)
                .collect());
        }
    }
    // Bounded: a corrupt payload must not inflate without limit.
    let mut raw = Vec::with_capacity(n * 4);
    flate2::read::DeflateDecoder::new(payload)
        .take(n as u64 * 4 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| {
            Problem::invalid(
                "depth.bin record",
                format!("neither an LZ4 block of u16 nor raw-deflate float32: {e}"),
            )
        })?;
    if raw.len() != n * 4 {
        return Err(Problem::LengthMismatch {
            what: "depth.bin record, decompressed bytes".into(),
            expected: (n * 4) as u64,
            found: raw.len() as u64,
        });
    }
    Ok(f32_samples(&raw))
}

/// Guesses the layout from the first record: a record file starts with a plausible
/// little-endian length that fits in the file, and its payload decodes as one frame. A deflate
/// stream's first bytes essentially never satisfy both.
pub fn detect_layout(bytes: &[u8], width: u32, height: u32) -> DepthBinLayout {
    let Ok(n) = samples(width, height) else {
        return DepthBinLayout::DeflateF32;
    };
    if let Some(header) = bytes.get(..4) {
        let size = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if size > 0 && size <= max_record_payload(n) {
            if let Some(payload) = bytes.get(4..4 + size) {
                if decode_record(payload, n).is_ok() {
                    return DepthBinLayout::Records;
                }
            }
        }
    }
    DepthBinLayout::DeflateF32
}

/// Reads a record header at the reader's position. `Ok(None)` at a clean end of file.
fn read_record_header(
    file: &mut File,
    pos: u64,
    file_len: u64,
    index: u32,
) -> Result<Option<u32>, Problem> {
    if pos == file_len {
        return Ok(None);
    }
    if pos + 4 > file_len {
        return Err(Problem::Truncated {
            what: format!("depth.bin record {index} header"),
            expected: 4,
            found: file_len - pos,
        });
    }
    let mut header = [0u8; 4];
    file.read_exact(&mut header)?;
    let size = u32::from_le_bytes(header);
    if pos + 4 + size as u64 > file_len {
        return Err(Problem::Truncated {
            what: format!("depth.bin record {index}"),
            expected: size as u64,
            found: file_len - pos - 4,
        });
    }
    Ok(Some(size))
}

/// Detects the layout of an open file (see [`detect_layout`]), reading at most one record.
fn detect_file_layout(file: &mut File, file_len: u64, n: usize) -> Result<DepthBinLayout, Problem> {
    if file_len < 4 {
        return Ok(DepthBinLayout::DeflateF32);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut header = [0u8; 4];
    file.read_exact(&mut header)?;
    let size = u32::from_le_bytes(header) as u64;
    let layout = if size == 0 || size > max_record_payload(n) as u64 || 4 + size > file_len {
        DepthBinLayout::DeflateF32
    } else {
        let mut payload = vec![0u8; size as usize];
        file.read_exact(&mut payload)?;
        if decode_record(&payload, n).is_ok() {
            DepthBinLayout::Records
        } else {
            DepthBinLayout::DeflateF32
        }
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(layout)
}

/// Layout and (for records) frame count of a `depth.bin`, checking every record header
/// against the file size. Decodes at most one frame.
pub fn inspect(path: &Path, width: u32, height: u32) -> Result<DepthBinInfo, Problem> {
    let n = samples(width, height)?;
    let (mut file, file_len) = crate::io::open_bounded(path, crate::io::MAX_BINARY_FILE_BYTES)?;
    let layout = detect_file_layout(&mut file, file_len, n)?;
    if layout == DepthBinLayout::DeflateF32 {
        // Decode the first frame so a file in neither layout is reported now, not at first use.
        read_deflate_frame(file, 0, n)?;
        return Ok(DepthBinInfo {
            layout,
            n_frames: None,
        });
    }
    let mut pos = 0u64;
    let mut index = 0u32;
    while let Some(size) = read_record_header(&mut file, pos, file_len, index)? {
        pos += 4 + size as u64;
        file.seek(SeekFrom::Start(pos))?;
        index += 1;
    }
    Ok(DepthBinInfo {
        layout,
        n_frames: Some(index),
    })
}

fn read_deflate_frame(file: File, frame_index: u32, n: usize) -> Result<Vec<f32>, Problem> {
    let mut decoder = flate2::read::DeflateDecoder::new(BufReader::new(file));
    let skip = frame_index as u64 * n as u64 * 4;
    let skipped = std::io::copy(&mut (&mut decoder).take(skip), &mut std::io::sink())
        .map_err(|e| Problem::invalid("depth.bin", format!("not a raw-deflate stream: {e}")))?;
    if skipped != skip {
        return Err(Problem::invalid(
            "depth.bin",
            format!(
                "the stream holds {} frames, frame {frame_index} was asked for",
                skipped / (n as u64 * 4)
            ),
        ));
    }
    let mut raw = Vec::with_capacity(n * 4);
    (&mut decoder)
        .take(n as u64 * 4)
        .read_to_end(&mut raw)
        .map_err(|e| Problem::invalid("depth.bin", format!("not a raw-deflate stream: {e}")))?;
    if raw.len() != n * 4 {
        return Err(Problem::Truncated {
            what: format!("depth.bin frame {frame_index} (decompressed)"),
            expected: (n * 4) as u64,
            found: raw.len() as u64,
        });
    }
    Ok(f32_samples(&raw))
}

/// Reads one frame. Record files are walked header by header (only the wanted record is read
/// and decoded); the single-stream layout is decompressed up to the wanted frame.
pub fn read_frame(
    path: &Path,
    frame_index: u32,
    width: u32,
    height: u32,
) -> Result<DepthMap, Problem> {
    let n = samples(width, height)?;
    let (mut file, file_len) = crate::io::open_bounded(path, crate::io::MAX_BINARY_FILE_BYTES)?;
    let depth_m = match detect_file_layout(&mut file, file_len, n)? {
        DepthBinLayout::Records => {
            let mut pos = 0u64;
            let mut index = 0u32;
            loop {
                let Some(size) = read_record_header(&mut file, pos, file_len, index)? else {
                    return Err(Problem::invalid(
                        "depth.bin",
                        format!("has {index} frames, frame {frame_index} was asked for"),
                    ));
                };
                if index == frame_index {
                    let mut payload = vec![0u8; size as usize];
                    file.read_exact(&mut payload)?;
                    break decode_record(&payload, n)?;
                }
                pos += 4 + size as u64;
                file.seek(SeekFrom::Start(pos))?;
                index += 1;
            }
        }
        DepthBinLayout::DeflateF32 => read_deflate_frame(file, frame_index, n)?,
    };
    Ok(DepthMap {
        width,
        height,
        depth_m,
    })
}

/// Decodes every frame of a `depth.bin` held in memory, in metres (tests and small files).
pub fn decode_all(bytes: &[u8], width: u32, height: u32) -> Result<Vec<Vec<f32>>, Problem> {
    let n = samples(width, height)?;
    match detect_layout(bytes, width, height) {
        DepthBinLayout::Records => {
            let mut frames = Vec::new();
            let mut rest = bytes;
            while !rest.is_empty() {
                let Some(header) = rest.get(..4) else {
                    return Err(Problem::Truncated {
                        what: format!("depth.bin record {} header", frames.len()),
                        expected: 4,
                        found: rest.len() as u64,
                    });
                };
                let size =
                    u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
                let Some(payload) = rest.get(4..4 + size) else {
                    return Err(Problem::Truncated {
                        what: format!("depth.bin record {}", frames.len()),
                        expected: size as u64,
                        found: (rest.len() - 4) as u64,
                    });
                };
                frames.push(decode_record(payload, n)?);
                rest = &rest[4 + size..];
            }
            Ok(frames)
        }
        DepthBinLayout::DeflateF32 => {
            let mut raw = Vec::new();
            flate2::read::DeflateDecoder::new(bytes)
                .read_to_end(&mut raw)
                .map_err(|e| {
                    Problem::invalid("depth.bin", format!("not a raw-deflate stream: {e}"))
                })?;
            if raw.len() % (n * 4) != 0 {
                return Err(Problem::invalid(
                    "depth.bin",
                    format!(
                        "{} decompressed bytes is not a whole number of {width}x{height} float32 frames",
                        raw.len()
                    ),
                ));
            }
            Ok(raw.chunks_exact(n * 4).map(f32_samples).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const W: u32 = 4;
    const H: u32 = 3;

    fn mm(frame: u32, i: usize) -> u16 {
        (1000 + 100 * frame + i as u32) as u16
    }

    fn metres(frame: u32, i: usize) -> f32 {
        1.0 + frame as f32 + i as f32 * 0.25
    }

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn f32_bytes(frame: u32) -> Vec<u8> {
        (0..(W * H) as usize)
            .flat_map(|i| metres(frame, i).to_le_bytes())
            .collect()
    }

    /// Layout (b): frames 0 and 2 LZ4 u16 mm, frame 1 the deflate float32 fallback.
    fn records() -> Vec<u8> {
        let mut out = Vec::new();
        for frame in 0..3u32 {
            let payload = if frame == 1 {
                deflate(&f32_bytes(frame))
            } else {
                let raw: Vec<u8> = (0..(W * H) as usize)
                    .flat_map(|i| mm(frame, i).to_le_bytes())
                    .collect();
                lz4_flex::block::compress(&raw)
            };
            out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&payload);
        }
        out
    }

    fn stream() -> Vec<u8> {
        deflate(&(0..3).flat_map(f32_bytes).collect::<Vec<u8>>())
    }

    fn expected(frame: u32, lz4: bool) -> Vec<f32> {
        (0..(W * H) as usize)
            .map(|i| {
                if lz4 {
                    mm(frame, i) as f32 / 1000.0
                } else {
                    metres(frame, i)
                }
            })
            .collect()
    }

    fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn detects_both_layouts() {
        assert_eq!(detect_layout(&records(), W, H), DepthBinLayout::Records);
        assert_eq!(detect_layout(&stream(), W, H), DepthBinLayout::DeflateF32);
        assert_eq!(detect_layout(&[], W, H), DepthBinLayout::DeflateF32);
    }

    #[test]
    fn decodes_every_frame_in_memory_and_from_file() {
        for (bytes, lz4_frames) in [(records(), [true, false, true]), (stream(), [false; 3])] {
            let all = decode_all(&bytes, W, H).unwrap();
            assert_eq!(all.len(), 3);
            let file = temp_file(&bytes);
            for frame in 0..3u32 {
                let want = expected(frame, lz4_frames[frame as usize]);
                assert_eq!(all[frame as usize], want);
                let map = read_frame(file.path(), frame, W, H).unwrap();
                assert_eq!((map.width, map.height), (W, H));
                assert_eq!(map.depth_m, want, "frame {frame}");
            }
            assert!(
                read_frame(file.path(), 3, W, H).is_err(),
                "frame past the end"
            );
        }
    }

    #[test]
    fn inspect_counts_records_only() {
        let file = temp_file(&records());
        let info = inspect(file.path(), W, H).unwrap();
        assert_eq!(
            info,
            DepthBinInfo {
                layout: DepthBinLayout::Records,
                n_frames: Some(3)
            }
        );
        let file = temp_file(&stream());
        let info = inspect(file.path(), W, H).unwrap();
        assert_eq!(
            info,
            DepthBinInfo {
                layout: DepthBinLayout::DeflateF32,
                n_frames: None
            }
        );
    }

    #[test]
    fn truncated_record_is_reported_not_panicked() {
        let mut bytes = records();
        bytes.truncate(bytes.len() - 3);
        assert!(matches!(
            decode_all(&bytes, W, H),
            Err(Problem::Truncated { .. })
        ));
        let file = temp_file(&bytes);
        assert!(matches!(
            inspect(file.path(), W, H),
            Err(Problem::Truncated { .. })
        ));
        // Earlier frames stay readable; the cut one is an error.
        assert_eq!(
            read_frame(file.path(), 0, W, H).unwrap().depth_m,
            expected(0, true)
        );
        assert!(matches!(
            read_frame(file.path(), 2, W, H),
            Err(Problem::Truncated { .. })
        ));
    }

    #[test]
    fn garbage_and_degenerate_input_are_errors() {
        let file = temp_file(b"this is not depth at all");
        assert!(read_frame(file.path(), 0, W, H).is_err());
        assert!(inspect(file.path(), W, H).is_err());
        assert!(decode_all(b"junk", W, H).is_err());
        assert!(read_frame(file.path(), 0, 0, H).is_err());
        assert!(decode_all(&stream(), 0, 0).is_err());
        // A short stream: frame 1 exists only in part.
        let short = deflate(&f32_bytes(0)[..]);
        let file = temp_file(&short);
        assert!(read_frame(file.path(), 1, W, H).is_err());
    }

    #[test]
    fn non_finite_and_negative_samples_become_invalid() {
        let raw: Vec<u8> = [f32::NAN, f32::INFINITY, -1.0, 2.5]
            .iter()
            .cycle()
            .take((W * H) as usize)
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let frames = decode_all(&deflate(&raw), W, H).unwrap();
        assert_eq!(&frames[0][..4], &[0.0, 0.0, 0.0, 2.5]);
    }
}
