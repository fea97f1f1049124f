//! Index of a ScanNet `.sens` RGB-D stream (FORMATS.md 1.2).
//!
//! A `.sens` file is several GB, so it is never loaded: the header is read, then each frame's
//! fixed 96-byte record (pose, timestamps, payload sizes) is read and its colour and depth
//! payloads are *skipped*, recording their offsets. [`crate::io::frames`] later reads one
//! payload on demand. Every declared size is checked against the bytes actually left in the
//! file before it is trusted, so a lying or cut stream is reported as truncated instead of
//! triggering a huge allocation or a seek past the end.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::Problem;

/// The only stream version ScanNet v2 ships (`M_SENSOR_DATA_VERSION`); v3 lacked the IMU
/// block and differs in layout.
pub const SENS_VERSION: u32 = 4;
/// Colour compression code for JPEG (`TYPE_JPEG`).
pub const COLOR_JPEG: i32 = 2;
/// Depth compression code for zlib-wrapped u16 (`TYPE_ZLIB_USHORT`).
pub const DEPTH_ZLIB: i32 = 1;

/// Bytes of the header after the sensor name: four 4x4 f32 matrices, two i32 compression
/// codes, four u32 sizes, one f32 shift, one u64 frame count.
const HEADER_TAIL_BYTES: u64 = 4 * 64 + 2 * 4 + 4 * 4 + 4 + 8;
/// Bytes of a frame record before its payloads: 4x4 f32 pose and four u64.
const FRAME_RECORD_BYTES: u64 = 64 + 4 * 8;

/// Frames reserved up front; real ScanNet streams hold a few thousand.
const MAX_RESERVED_FRAMES: u64 = 1 << 14;

/// The stream header.
#[derive(Clone, Debug, PartialEq)]
pub struct SensHeader {
    pub sensor_name: String,
    /// Row-major 4x4 calibration matrices (f32 in the file).
    pub color_intrinsic: [f64; 16],
    pub color_extrinsic: [f64; 16],
    pub depth_intrinsic: [f64; 16],
    pub depth_extrinsic: [f64; 16],
    pub color_width: u32,
    pub color_height: u32,
    pub depth_width: u32,
    pub depth_height: u32,
    /// Raw depth units per metre (1000 in ScanNet).
    pub depth_shift: f32,
    pub n_frames: u64,
}

/// Where one frame lives in the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct SensFrame {
    /// Row-major camera-to-world 4x4 in the scan frame; `-inf` where tracking was lost.
    pub scan_from_camera: [f64; 16],
    pub color_timestamp_us: u64,
    pub depth_timestamp_us: u64,
    pub color_offset: u64,
    pub color_len: u64,
    pub depth_offset: u64,
    pub depth_len: u64,
}

/// A reader that knows how many bytes are left, so that every read and skip can be checked
/// against the file length first.
struct Cursor {
    reader: BufReader<File>,
    pos: u64,
    len: u64,
}

impl Cursor {
    fn need(&self, bytes: u64, what: impl FnOnce() -> String) -> Result<(), Problem> {
        let left = self.len.saturating_sub(self.pos);
        if bytes > left {
            return Err(Problem::Truncated {
                what: what(),
                expected: bytes,
                found: left,
            });
        }
        Ok(())
    }

    fn bytes<const N: usize>(&mut self, what: impl FnOnce() -> String) -> Result<[u8; N], Problem> {
        self.need(N as u64, what)?;
        let mut buf = [0u8; N];
        self.reader.read_exact(&mut buf)?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, Problem> {
        Ok(u32::from_le_bytes(self.bytes::<4>(what)?))
    }

    fn i32(&mut self, what: impl FnOnce() -> String) -> Result<i32, Problem> {
        Ok(i32::from_le_bytes(self.bytes::<4>(what)?))
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, Problem> {
        Ok(u64::from_le_bytes(self.bytes::<8>(what)?))
    }

    fn f32(&mut self, what: impl FnOnce() -> String) -> Result<f32, Problem> {
        Ok(f32::from_le_bytes(self.bytes::<4>(what)?))
    }

    fn matrix(&mut self, what: impl FnOnce() -> String) -> Result<[f64; 16], Problem> {
        let raw = self.bytes::<64>(what)?;
        let mut matrix = [0.0f64; 16];
        for (value, chunk) in matrix.iter_mut().zip(raw.chunks_exact(4)) {
            *value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as f64;
        }
        Ok(matrix)
    }

    fn skip(&mut self, bytes: u64, what: impl FnOnce() -> String) -> Result<(), Problem> {
        self.need(bytes, what)?;
        // `bytes` fits in i64: it is at most the file length.
        self.reader.seek_relative(bytes as i64)?;
        self.pos += bytes;
        Ok(())
    }
}

/// Reads the header and indexes every frame. Payloads are skipped, never read.
pub fn index_sens(path: &Path) -> Result<(SensHeader, Vec<SensFrame>), Problem> {
    let (file, len) = crate::io::open_bounded(path, crate::io::MAX_BINARY_FILE_BYTES)?;
    // A small buffer: each frame reads a 96-byte record and then seeks over ~100 KB of
    // payload, so a large buffer would mostly read bytes that are thrown away.
    let mut cursor = Cursor {
        reader: BufReader::with_capacity(4096, file),
        pos: 0,
        len,
    };
    let header = read_header(&mut cursor)?;

    // Every frame needs at least its fixed record: reject an absurd count before allocating.
    let min_bytes = header.n_frames.saturating_mul(FRAME_RECORD_BYTES);
    cursor.need(min_bytes, || {
        format!("{} frames declared in the header", header.n_frames)
    })?;

    // The count is bounded by the file length now, but a lying header on a multi-GB file
    // could still ask for millions of entries: reserve no more than a real scan needs.
    let mut frames = Vec::with_capacity(header.n_frames.min(MAX_RESERVED_FRAMES) as usize);
    for frame_idx in 0..header.n_frames {
        let what = |part: &str| format!("frame {frame_idx} {part}");
        let scan_from_camera = cursor.matrix(|| what("pose"))?;
        let color_timestamp_us = cursor.u64(|| what("colour timestamp"))?;
        let depth_timestamp_us = cursor.u64(|| what("depth timestamp"))?;
        let color_len = cursor.u64(|| what("colour size"))?;
        let depth_len = cursor.u64(|| what("depth size"))?;
        let color_offset = cursor.pos;
        cursor.skip(color_len, || what("colour payload"))?;
        let depth_offset = cursor.pos;
        cursor.skip(depth_len, || what("depth payload"))?;
        frames.push(SensFrame {
            scan_from_camera,
            color_timestamp_us,
            depth_timestamp_us,
            color_offset,
            color_len,
            depth_offset,
            depth_len,
        });
    }
    // The IMU block that follows is not used (the reference Python reader ignores it too), so
    // it is not validated: a damaged IMU tail must not cost a scene its frames.
    Ok((header, frames))
}

fn read_header(cursor: &mut Cursor) -> Result<SensHeader, Problem> {
    let header = |part: &str| format!("header {part}");
    let version = cursor.u32(|| header("version"))?;
    if version != SENS_VERSION {
        return Err(Problem::unsupported(
            ".sens version",
            format!(
                "found version {version}; only version {SENS_VERSION} (ScanNet v2) is supported"
            ),
        ));
    }
    let name_len = cursor.u64(|| header("sensor name length"))?;
    cursor.need(name_len.saturating_add(HEADER_TAIL_BYTES), || {
        header("sensor name and calibration")
    })?;
    // Checked above: the name is no longer than the file.
    let mut name = vec![0u8; name_len as usize];
    cursor.reader.read_exact(&mut name)?;
    cursor.pos += name_len;
    let sensor_name = String::from_utf8_lossy(&name).into_owned();

    let color_intrinsic = cursor.matrix(|| header("colour intrinsic"))?;
    let color_extrinsic = cursor.matrix(|| header("colour extrinsic"))?;
    let depth_intrinsic = cursor.matrix(|| header("depth intrinsic"))?;
    let depth_extrinsic = cursor.matrix(|| header("depth extrinsic"))?;
    let color_compression = cursor.i32(|| header("colour compression"))?;
    let depth_compression = cursor.i32(|| header("depth compression"))?;
    if color_compression != COLOR_JPEG {
        return Err(Problem::unsupported(
            ".sens colour compression",
            format!("code {color_compression}; only JPEG (code {COLOR_JPEG}) is supported"),
        ));
    }
    if depth_compression != DEPTH_ZLIB {
        return Err(Problem::unsupported(
            ".sens depth compression",
            format!("code {depth_compression}; only zlib u16 (code {DEPTH_ZLIB}) is supported"),
        ));
    }
    let color_width = cursor.u32(|| header("colour width"))?;
    let color_height = cursor.u32(|| header("colour height"))?;
    let depth_width = cursor.u32(|| header("depth width"))?;
    let depth_height = cursor.u32(|| header("depth height"))?;
    let depth_shift = cursor.f32(|| header("depth shift"))?;
    let n_frames = cursor.u64(|| header("frame count"))?;
    Ok(SensHeader {
        sensor_name,
        color_intrinsic,
        color_extrinsic,
        depth_intrinsic,
        depth_extrinsic,
        color_width,
        color_height,
        depth_width,
        depth_height,
        depth_shift,
        n_frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a stream: `frames` = (pose value, colour payload, depth payload).
    fn stream(
        version: u32,
        color_codec: i32,
        frames: &[(f32, &[u8], &[u8])],
        n_declared: u64,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(version.to_le_bytes());
        out.extend(3u64.to_le_bytes());
        out.extend(b"abc");
        for matrix in 0..4 {
            for i in 0..16 {
                out.extend(((matrix * 16 + i) as f32).to_le_bytes());
            }
        }
        out.extend(color_codec.to_le_bytes());
        out.extend(DEPTH_ZLIB.to_le_bytes());
        for size in [8u32, 6, 4, 3] {
            out.extend(size.to_le_bytes());
        }
        out.extend(1000f32.to_le_bytes());
        out.extend(n_declared.to_le_bytes());
        for (pose, color, depth) in frames {
            for _ in 0..16 {
                out.extend(pose.to_le_bytes());
            }
            out.extend(11u64.to_le_bytes());
            out.extend(12u64.to_le_bytes());
            out.extend((color.len() as u64).to_le_bytes());
            out.extend((depth.len() as u64).to_le_bytes());
            out.extend(*color);
            out.extend(*depth);
        }
        out
    }

    fn index(bytes: &[u8]) -> Result<(SensHeader, Vec<SensFrame>), Problem> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sens");
        std::fs::write(&path, bytes).unwrap();
        index_sens(&path)
    }

    #[test]
    fn header_and_offsets() {
        let bytes = stream(
            4,
            2,
            &[(1.0, b"JPEG", b"zz"), (f32::NEG_INFINITY, b"J2", b"zzz")],
            2,
        );
        let (header, frames) = index(&bytes).unwrap();
        assert_eq!(header.sensor_name, "abc");
        assert_eq!(header.color_intrinsic[0], 0.0);
        assert_eq!(header.depth_intrinsic[5], 37.0);
        assert_eq!(
            (
                header.color_width,
                header.color_height,
                header.depth_width,
                header.depth_height
            ),
            (8, 6, 4, 3)
        );
        assert_eq!(header.depth_shift, 1000.0);
        // 304 + name length (FORMATS.md 1.2 says 296, but its own table and the reference
        // reader add up to 304: 4 + 8 + name + 256 + 8 + 16 + 4 + 8).
        let header_len = 304 + 3;
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].color_offset, header_len + 96);
        assert_eq!(
            (
                frames[0].color_len,
                frames[0].depth_offset,
                frames[0].depth_len
            ),
            (4, header_len + 100, 2)
        );
        assert_eq!(frames[1].color_offset, header_len + 102 + 96);
        assert_eq!(frames[1].scan_from_camera[0], f64::NEG_INFINITY);
        assert_eq!(frames[0].color_timestamp_us, 11);
        assert_eq!(&bytes[frames[1].depth_offset as usize..], b"zzz");
    }

    #[test]
    fn bad_streams() {
        let good = stream(4, 2, &[(1.0, b"JPEG", b"zz")], 1);
        assert!(matches!(
            index(&stream(3, 2, &[], 0)),
            Err(Problem::Unsupported { .. })
        ));
        assert!(matches!(
            index(&stream(4, 0, &[], 0)),
            Err(Problem::Unsupported { .. })
        ));
        // Cut inside the depth payload, inside the record, inside the header.
        for cut in [good.len() - 1, good.len() - 10, 100] {
            let err = index(&good[..cut]).unwrap_err();
            assert!(
                matches!(err, Problem::Truncated { .. }),
                "cut at {cut}: {err}"
            );
        }
        // A frame count that cannot fit is rejected before allocating.
        let err = index(&stream(4, 2, &[], u64::MAX)).unwrap_err();
        assert!(err.to_string().contains("frames declared"), "{err}");
        // A sensor-name length that lies.
        let mut lying = good.clone();
        lying[4..12].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(index(&lying), Err(Problem::Truncated { .. })));
    }
}
