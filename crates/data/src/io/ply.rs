//! Triangle-mesh PLY reading through `ply-rs-bw` (the maintained fork of `ply-rs`; see
//! docs/PERFORMANCE.md for the reader comparison).
//!
//! The header is parsed generically: any element order, any extra vertex properties (alpha,
//! normals, labels) are ignored; `x y z` may have any scalar type (integers are converted,
//! per the PLY spec), colours may be absent.
//! Every structural problem (counts that lie, truncation, non-finite coordinates, face
//! indices out of range, non-triangle faces) becomes a [`Problem`], never a panic.

use std::io::BufReader;
use std::path::Path;

use ply_rs_bw::parser::Parser;
use ply_rs_bw::ply::{PropertyAccess, PropertyAccessResult};

use crate::error::Problem;
use crate::scene::Mesh;

#[derive(Clone, Copy, Default)]
struct PlyVertex {
    xyz: [f64; 3],
    rgb: [u8; 3],
}

impl PropertyAccess for PlyVertex {
    fn new() -> Self {
        PlyVertex::default()
    }
    fn set_float(&mut self, name: &str, value: f32) -> PropertyAccessResult {
        self.set_double(name, value as f64)
    }
    fn set_double(&mut self, name: &str, value: f64) -> PropertyAccessResult {
        match name {
            "x" => self.xyz[0] = value,
            "y" => self.xyz[1] = value,
            "z" => self.xyz[2] = value,
            _ => return PropertyAccessResult::Ignored,
        }
        PropertyAccessResult::Set
    }
    fn set_uchar(&mut self, name: &str, value: u8) -> PropertyAccessResult {
        match name {
            "red" => self.rgb[0] = value,
            "green" => self.rgb[1] = value,
            "blue" => self.rgb[2] = value,
            _ => return self.set_double(name, value as f64),
        }
        PropertyAccessResult::Set
    }
    // The PLY spec allows any scalar type for a property; integer coordinates (some
    // exporters write `property int x`) are read as their value in metres, like floats.
    fn set_char(&mut self, name: &str, value: i8) -> PropertyAccessResult {
        self.set_double(name, value as f64)
    }
    fn set_short(&mut self, name: &str, value: i16) -> PropertyAccessResult {
        self.set_double(name, value as f64)
    }
    fn set_ushort(&mut self, name: &str, value: u16) -> PropertyAccessResult {
        self.set_double(name, value as f64)
    }
    fn set_int(&mut self, name: &str, value: i32) -> PropertyAccessResult {
        self.set_double(name, value as f64)
    }
    fn set_uint(&mut self, name: &str, value: u32) -> PropertyAccessResult {
        self.set_double(name, value as f64)
    }
}

#[derive(Clone, Default)]
struct PlyFace {
    indices: Vec<i64>,
}

impl PlyFace {
    fn accept<T: Copy + Into<i64>>(&mut self, name: &str, values: &[T]) -> PropertyAccessResult {
        if name == "vertex_indices" || name == "vertex_index" {
            self.indices.clear();
            self.indices.extend(values.iter().map(|&v| v.into()));
            PropertyAccessResult::Set
        } else {
            PropertyAccessResult::Ignored
        }
    }
}

impl PropertyAccess for PlyFace {
    fn new() -> Self {
        PlyFace::default()
    }
    fn set_list_int(&mut self, name: &str, value: Vec<i32>) -> PropertyAccessResult {
        self.accept(name, &value)
    }
    fn set_list_uint(&mut self, name: &str, value: Vec<u32>) -> PropertyAccessResult {
        self.accept(name, &value)
    }
    fn set_list_short(&mut self, name: &str, value: Vec<i16>) -> PropertyAccessResult {
        self.accept(name, &value)
    }
    fn set_list_ushort(&mut self, name: &str, value: Vec<u16>) -> PropertyAccessResult {
        self.accept(name, &value)
    }
    fn set_list_uchar(&mut self, name: &str, value: Vec<u8>) -> PropertyAccessResult {
        self.accept(name, &value)
    }
}

/// Reads a triangle mesh. Positions are returned exactly as stored (no alignment applied).
pub fn read_mesh(path: &Path) -> Result<Mesh, Problem> {
    let (file, file_len) = crate::io::open_bounded(path, crate::io::MAX_BINARY_FILE_BYTES)?;
    let mut reader = ply_rs_bw::parser::Reader::new(BufReader::with_capacity(1 << 20, file));
    let vertex_parser = Parser::<PlyVertex>::new();
    let face_parser = Parser::<PlyFace>::new();
    let header = vertex_parser
        .read_header(&mut reader)
        .map_err(|e| Problem::Ply(format!("bad header: {e}")))?;

    let vertex_def = header
        .elements
        .get("vertex")
        .ok_or_else(|| Problem::Ply("the header declares no `vertex` element".into()))?;
    for axis in ["x", "y", "z"] {
        if !vertex_def.properties.contains_key(axis) {
            return Err(Problem::Ply(format!(
                "vertex element has no `{axis}` property"
            )));
        }
    }
    if !header.elements.contains_key("face") {
        return Err(Problem::Ply("the header declares no `face` element".into()));
    }
    // A header that claims more data than the file can hold is rejected before allocating.
    // Saturating: counts up to u64::MAX parse, and a wrapped sum would pass the check.
    let claimed_min_bytes: u64 = header
        .elements
        .iter()
        .fold(0u64, |sum, (_, e)| sum.saturating_add(e.count as u64));
    if !matches!(header.encoding, ply_rs_bw::ply::Encoding::Ascii) && claimed_min_bytes > file_len {
        return Err(Problem::Truncated {
            what: "PLY payload (header counts)".into(),
            expected: claimed_min_bytes,
            found: file_len,
        });
    }

    let mut vertices = Vec::new();
    let mut faces = Vec::new();
    for (name, def) in &header.elements {
        match name.as_str() {
            "vertex" => {
                vertices = vertex_parser
                    .read_payload_for_element(&mut reader, def, &header)
                    .map_err(|e| Problem::Ply(format!("reading {} vertices: {e}", def.count)))?;
            }
            "face" => {
                faces = face_parser
                    .read_payload_for_element(&mut reader, def, &header)
                    .map_err(|e| Problem::Ply(format!("reading {} faces: {e}", def.count)))?;
            }
            _ => {
                // Skip other elements by parsing them into the vertex type, which ignores
                // everything it does not know.
                vertex_parser
                    .read_payload_for_element(&mut reader, def, &header)
                    .map_err(|e| Problem::Ply(format!("reading element `{name}`: {e}")))?;
            }
        }
    }

    let n_vertices = vertices.len();
    let mut positions_m = Vec::with_capacity(n_vertices);
    let mut colors_rgb = Vec::with_capacity(n_vertices);
    for (index, v) in vertices.iter().enumerate() {
        if let Some(bad) = v.xyz.iter().find(|c| !c.is_finite()) {
            return Err(Problem::NonFinite {
                what: "vertex".into(),
                index: index as u64,
                value: bad.to_string(),
            });
        }
        positions_m.push(v.xyz.map(|c| c as f32));
        colors_rgb.push(v.rgb);
    }
    let mut triangles = Vec::with_capacity(faces.len());
    for (index, face) in faces.iter().enumerate() {
        if face.indices.len() != 3 {
            return Err(Problem::NonTriangleFace {
                index: index as u64,
                count: face.indices.len() as u64,
            });
        }
        let mut tri = [0u32; 3];
        for (slot, &vi) in face.indices.iter().enumerate() {
            if vi < 0 || vi as usize >= n_vertices {
                return Err(Problem::IndexOutOfRange {
                    what: "face".into(),
                    index: index as u64,
                    value: vi as u64,
                    len: n_vertices as u64,
                });
            }
            tri[slot] = vi as u32;
        }
        triangles.push(tri);
    }
    Ok(Mesh {
        positions_m,
        colors_rgb,
        triangles,
    })
}
