//! A writer for ScanNet `.sens` RGB-D streams, version 4 (FORMATS.md section 1.2; ScanNet
//! `SensReader/src/sensorData.h`): little-endian, no padding, header then frames then the
//! IMU block.
//!
//! The writer streams: the header needs the frame count up front, then each frame is written
//! as soon as it is encoded, so a long trajectory never has to be held in memory.

use std::io::{self, Write};

/// `M_SENSOR_DATA_VERSION` of the files ScanNet v2 ships.
pub const SENS_VERSION: u32 = 4;
/// Colour compression code for JPEG (`TYPE_JPEG`).
pub const COLOR_COMPRESSION_JPEG: i32 = 2;
/// Depth compression code for zlib-wrapped u16 (`TYPE_ZLIB_USHORT`).
pub const DEPTH_COMPRESSION_ZLIB: i32 = 1;

/// Everything in the header except the frame count.
#[derive(Clone, Debug, PartialEq)]
pub struct SensHeader {
    pub sensor_name: String,
    /// 4x4 matrices, row-major (the first four values are row 0).
    pub color_intrinsic: [f32; 16],
    pub color_extrinsic: [f32; 16],
    pub depth_intrinsic: [f32; 16],
    pub depth_extrinsic: [f32; 16],
    pub color_width: u32,
    pub color_height: u32,
    pub depth_width: u32,
    pub depth_height: u32,
    /// Raw u16 depth / shift = metres.
    pub depth_shift: f32,
}

impl SensHeader {
    /// Byte length of the header, frame count included: 304 + name length. (FORMATS.md's
    /// "296 + strlen" stops before the u64 frame count; its offset table agrees with this.)
    pub fn len_bytes(&self) -> u64 {
        304 + self.sensor_name.len() as u64
    }
}

/// One RGB-D frame, already encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct SensFrame {
    /// Camera-to-world, row-major; all `-inf` where tracking was lost.
    pub camera_to_world: [f32; 16],
    pub timestamp_color_us: u64,
    pub timestamp_depth_us: u64,
    /// A complete JPEG file.
    pub color_jpeg: Vec<u8>,
    /// A zlib stream of `depth_width * depth_height` little-endian u16.
    pub depth_zlib: Vec<u8>,
}

/// One IMU sample (`IMUFrame`): five 3-vectors of f64 then a u64 timestamp, 128 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImuFrame {
    pub rotation_rate: [f64; 3],
    pub acceleration: [f64; 3],
    pub magnetic_field: [f64; 3],
    pub attitude: [f64; 3],
    pub gravity: [f64; 3],
    pub timestamp_us: u64,
}

/// Where a frame's payloads landed, for tests and for callers that index the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameOffsets {
    pub color_offset: u64,
    pub color_len: u64,
    pub depth_offset: u64,
    pub depth_len: u64,
}

/// Streams a `.sens` file: [`SensWriter::new`] writes the header, [`SensWriter::write_frame`]
/// each frame, [`SensWriter::finish`] the IMU block.
pub struct SensWriter<W: Write> {
    out: W,
    position: u64,
    frames_left: u64,
}

impl<W: Write> SensWriter<W> {
    pub fn new(mut out: W, header: &SensHeader, n_frames: u64) -> io::Result<Self> {
        let mut buf = Vec::with_capacity(header.len_bytes() as usize);
        buf.extend_from_slice(&SENS_VERSION.to_le_bytes());
        buf.extend_from_slice(&(header.sensor_name.len() as u64).to_le_bytes());
        buf.extend_from_slice(header.sensor_name.as_bytes());
        for m in [
            &header.color_intrinsic,
            &header.color_extrinsic,
            &header.depth_intrinsic,
            &header.depth_extrinsic,
        ] {
            for v in m {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        buf.extend_from_slice(&COLOR_COMPRESSION_JPEG.to_le_bytes());
        buf.extend_from_slice(&DEPTH_COMPRESSION_ZLIB.to_le_bytes());
        for v in [
            header.color_width,
            header.color_height,
            header.depth_width,
            header.depth_height,
        ] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        buf.extend_from_slice(&header.depth_shift.to_le_bytes());
        buf.extend_from_slice(&n_frames.to_le_bytes());
        debug_assert_eq!(buf.len() as u64, header.len_bytes());
        out.write_all(&buf)?;
        Ok(SensWriter {
            out,
            position: buf.len() as u64,
            frames_left: n_frames,
        })
    }

    pub fn write_frame(&mut self, frame: &SensFrame) -> io::Result<FrameOffsets> {
        if self.frames_left == 0 {
            return Err(io::Error::other(
                "more .sens frames than the header announced",
            ));
        }
        self.frames_left -= 1;
        let mut head = Vec::with_capacity(96);
        for v in &frame.camera_to_world {
            head.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            frame.timestamp_color_us,
            frame.timestamp_depth_us,
            frame.color_jpeg.len() as u64,
            frame.depth_zlib.len() as u64,
        ] {
            head.extend_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&head)?;
        self.out.write_all(&frame.color_jpeg)?;
        self.out.write_all(&frame.depth_zlib)?;
        let color_offset = self.position + head.len() as u64;
        let offsets = FrameOffsets {
            color_offset,
            color_len: frame.color_jpeg.len() as u64,
            depth_offset: color_offset + frame.color_jpeg.len() as u64,
            depth_len: frame.depth_zlib.len() as u64,
        };
        self.position = offsets.depth_offset + offsets.depth_len;
        Ok(offsets)
    }

    /// Writes the IMU block and returns the inner writer.
    pub fn finish(mut self, imu: &[ImuFrame]) -> io::Result<W> {
        if self.frames_left != 0 {
            return Err(io::Error::other(format!(
                "{} .sens frames announced in the header were never written",
                self.frames_left
            )));
        }
        let mut buf = Vec::with_capacity(8 + imu.len() * 128);
        buf.extend_from_slice(&(imu.len() as u64).to_le_bytes());
        for frame in imu {
            for v3 in [
                frame.rotation_rate,
                frame.acceleration,
                frame.magnetic_field,
                frame.attitude,
                frame.gravity,
            ] {
                for v in v3 {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            buf.extend_from_slice(&frame.timestamp_us.to_le_bytes());
        }
        self.out.write_all(&buf)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> SensHeader {
        let mut eye = [0.0f32; 16];
        for i in 0..4 {
            eye[i * 5] = 1.0;
        }
        let mut k = eye;
        k[0] = 500.0;
        k[2] = 320.0;
        SensHeader {
            sensor_name: "StructureSensor".into(),
            color_intrinsic: k,
            color_extrinsic: eye,
            depth_intrinsic: k,
            depth_extrinsic: eye,
            color_width: 1296,
            color_height: 968,
            depth_width: 640,
            depth_height: 480,
            depth_shift: 1000.0,
        }
    }

    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }
    fn f32_at(b: &[u8], o: usize) -> f32 {
        f32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }

    #[test]
    fn header_fields_sit_at_documented_offsets() {
        let h = header();
        let w = SensWriter::new(Vec::new(), &h, 1).unwrap();
        let mut w = w;
        let frame = SensFrame {
            camera_to_world: [f32::NEG_INFINITY; 16],
            timestamp_color_us: 7,
            timestamp_depth_us: 8,
            color_jpeg: vec![1, 2, 3],
            depth_zlib: vec![9, 9],
        };
        let offsets = w.write_frame(&frame).unwrap();
        let imu = ImuFrame {
            rotation_rate: [1.0; 3],
            acceleration: [2.0; 3],
            magnetic_field: [3.0; 3],
            attitude: [4.0; 3],
            gravity: [5.0; 3],
            timestamp_us: 99,
        };
        let bytes = w.finish(&[imu]).unwrap();
        let n = h.sensor_name.len();
        assert_eq!(u32_at(&bytes, 0), 4);
        assert_eq!(u64_at(&bytes, 4), n as u64);
        assert_eq!(&bytes[12..12 + n], b"StructureSensor");
        let base = 12 + n;
        assert_eq!(f32_at(&bytes, base), 500.0);
        assert_eq!(
            f32_at(&bytes, base + 8),
            320.0,
            "row-major: (0,2) is the 3rd float"
        );
        assert_eq!(
            i32::from_le_bytes(bytes[base + 256..base + 260].try_into().unwrap()),
            2
        );
        assert_eq!(
            i32::from_le_bytes(bytes[base + 260..base + 264].try_into().unwrap()),
            1
        );
        assert_eq!(u32_at(&bytes, base + 264), 1296);
        assert_eq!(u32_at(&bytes, base + 268), 968);
        assert_eq!(u32_at(&bytes, base + 272), 640);
        assert_eq!(u32_at(&bytes, base + 276), 480);
        assert_eq!(f32_at(&bytes, base + 280), 1000.0);
        assert_eq!(u64_at(&bytes, base + 284), 1);
        let frame0 = base + 292;
        assert_eq!(frame0 as u64, h.len_bytes());
        assert_eq!(f32_at(&bytes, frame0), f32::NEG_INFINITY);
        assert_eq!(u64_at(&bytes, frame0 + 64), 7);
        assert_eq!(u64_at(&bytes, frame0 + 72), 8);
        assert_eq!(u64_at(&bytes, frame0 + 80), 3);
        assert_eq!(u64_at(&bytes, frame0 + 88), 2);
        assert_eq!(offsets.color_offset, frame0 as u64 + 96);
        assert_eq!(&bytes[frame0 + 96..frame0 + 99], &[1, 2, 3]);
        assert_eq!(offsets.depth_offset, frame0 as u64 + 99);
        let imu0 = frame0 + 101;
        assert_eq!(u64_at(&bytes, imu0), 1);
        assert_eq!(bytes.len(), imu0 + 8 + 128);
        assert_eq!(u64_at(&bytes, bytes.len() - 8), 99);
    }

    #[test]
    fn frame_count_is_enforced() {
        let mut w = SensWriter::new(Vec::new(), &header(), 0).unwrap();
        let frame = SensFrame {
            camera_to_world: [0.0; 16],
            timestamp_color_us: 0,
            timestamp_depth_us: 0,
            color_jpeg: vec![],
            depth_zlib: vec![],
        };
        assert!(w.write_frame(&frame).is_err());
        let w = SensWriter::new(Vec::new(), &header(), 1).unwrap();
        assert!(w.finish(&[]).is_err());
    }
}
