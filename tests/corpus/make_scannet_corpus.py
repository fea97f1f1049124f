#!/usr/bin/env python3
"""Writes the ScanNet reader's test corpus under tests/corpus/scannet/.

Standard library only, deterministic output: run it again and `git diff` stays empty.

    python3 tests/corpus/make_scannet_corpus.py

Layout written (FORMATS.md section 1 describes every file):

    scannet/good/scannetv2-labels.combined.tsv        v2 label map, CRLF, empty cells, UTF-8
    scannet/good/scene0000_00/                        mesh + annotation + Python-export frames
    scannet/good/cpp/scene0000_00/                    same scene, C++-export frames
    scannet/good/sens/scene0000_00/                   same scene, frames in a .sens stream
    scannet/good/v1/scannet-labels.combined.tsv       v1 label map (`category` key, `nyuId`)
    scannet/good/v1/scene0000_00/                     v1 aggregation, meta without alignment
    scannet/good/test/scene0707_00/                   test-split scene: mesh + meta only
    scannet/bad/scannetv2-labels.combined.tsv         label map shared by the broken scenes
    scannet/bad/<case>/scene09NN_00/                  one broken input per case

The scene: a 2 m x 2 m floor quad and two boxes, 20 vertices, 26 triangles.

    vertices 0-3    floor                segment 7
    vertices 4-7    box A bottom         segment 100
    vertices 8-11   box A top            segment 101
    vertices 12-19  box B                segment 205

    objectId 0 "office chair"  segments [100, 101]   -> instance 1
    objectId 1 "table"         segments [205]        -> instance 2
    objectId 2 "floor"         segments [7]          -> instance 3
    objectId 3 "storage box"   segments [101]        -> instance 4 (overwrites box A's top)

axisAlignment maps scan (x, y, z) to aligned (1 - y, x + 2, z + 0.5) (90 degrees about +Z, then
a translation). Colour images are 16x12 grey JPEGs tagged with a comment naming the frame;
depth images are 8x6, raw value 500 + 100 * frame + 10 * row + column (mm), 0 at pixel (0, 0).
"""

import json
import math
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "scannet")

SCENE = "scene0000_00"
COLOR_W, COLOR_H = 16, 12
DEPTH_W, DEPTH_H = 8, 6
# Colour and depth intrinsics as the export / .sens calibration holds them (exact in f32 and
# in "%f"). The meta carries slightly different values on purpose, as real scenes do, so the
# tests can tell which source was used.
COLOR_K = (12.5, 12.25, 7.5, 5.5)
DEPTH_K = (6.25, 6.125, 3.5, 2.5)
META_COLOR_K = (12.0, 12.0, 7.5, 5.5)
META_DEPTH_K = (6.0, 6.0, 3.5, 2.5)
AXIS_ALIGNMENT = [0, -1, 0, 1, 1, 0, 0, 2, 0, 0, 1, 0.5, 0, 0, 0, 1]
INF = float("inf")
LOST = [-INF] * 16

# Camera-to-world poses in the scan frame, row-major, by frame index.
POSES = {
    0: [1, 0, 0, 1, 0, 1, 0, 0.5, 0, 0, 1, 1.5, 0, 0, 0, 1],
    1: LOST,
    2: [1, 0, 0, 0.25, 0, 0, -1, 0.5, 0, 1, 0, 1.25, 0, 0, 0, 1],
    10: [-1, 0, 0, 1.5, 0, -1, 0, 1.5, 0, 0, 1, 1, 0, 0, 0, 1],
}


# --------------------------------------------------------------------------- geometry
def box_vertices(x0, y0, x1, y1, z0, z1):
    bottom = [(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)]
    return bottom + [(x, y, z1) for (x, y, _) in bottom]


def box_faces(b):
    faces = [(b, b + 2, b + 1), (b, b + 3, b + 2), (b + 4, b + 5, b + 6), (b + 4, b + 6, b + 7)]
    for i in range(4):
        j = (i + 1) % 4
        faces += [(b + i, b + j, b + 4 + j), (b + i, b + 4 + j, b + 4 + i)]
    return faces


VERTICES = (
    [(0.0, 0.0, 0.0), (2.0, 0.0, 0.0), (2.0, 2.0, 0.0), (0.0, 2.0, 0.0)]
    + box_vertices(0.25, 0.25, 0.75, 0.75, 0.0, 0.5)
    + box_vertices(1.25, 1.25, 1.75, 1.5, 0.0, 0.75)
)
FACES = [(0, 1, 2), (0, 2, 3)] + box_faces(4) + box_faces(12)
SEGMENTS = [7] * 4 + [100] * 4 + [101] * 4 + [205] * 8
GROUPS = [
    (0, "office chair", [100, 101]),
    (1, "table", [205]),
    (2, "floor", [7]),
    (3, "storage box", [101]),
]


def colour(i):
    return (40 + 10 * i, 200 - 5 * i, 17 * i % 256)


def ply(vertices=VERTICES, faces=FACES, vertex_count=None, face_count=None):
    """Binary little-endian PLY in the `_vh_clean_2.ply` layout (VCGLIB header, alpha)."""
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment VCGLIB generated\n"
        f"element vertex {len(vertices) if vertex_count is None else vertex_count}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
        f"element face {len(faces) if face_count is None else face_count}\n"
        "property list uchar int vertex_indices\nend_header\n"
    )
    out = bytearray(header.encode("ascii"))
    for i, (x, y, z) in enumerate(vertices):
        # Alpha is not constant in real files (FORMATS.md quirks).
        out += struct.pack("<fffBBBB", x, y, z, *colour(i), (i * 13) % 256)
    for face in faces:
        out += struct.pack("<B", len(face)) + struct.pack(f"<{len(face)}i", *face)
    return bytes(out)


def segs_json(segments=SEGMENTS, scene=SCENE):
    return json.dumps(
        {
            "params": {"kThresh": "0.0001", "segMinVerts": "20", "minPoints": "750",
                       "maxPoints": "5000", "thinThresh": "0.05", "flatThresh": "0.001",
                       "minLength": "0.02", "maxLength": "1"},
            "sceneId": scene,
            "segIndices": segments,
        }
    ).encode()


def aggregation_json(groups=GROUPS, scene=SCENE, v1=False):
    """v2 style carries `scannet.` prefixes and group `id`s; v1 style bare names, no `id`."""
    seg_groups = []
    for object_id, label, segments in groups:
        group = {"objectId": object_id, "segments": segments, "label": label}
        if not v1:
            group = {"id": object_id, **group}
        seg_groups.append(group)
    prefix = "" if v1 else "scannet."
    return json.dumps(
        {
            "sceneId": prefix + scene,
            "appId": "Aggregator.v1" if v1 else "Aggregator.v2",
            "segGroups": seg_groups,
            "segmentsFile": f"{prefix}{scene}_vh_clean_2.0.010000.segs.json",
        },
        indent=1,
    ).encode()


def numbers(values):
    return " ".join(fmt_g(v) for v in values)


def fmt_g(v):
    """C++ default stream formatting (`%g`, `-inf`)."""
    if math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return "%g" % v


def meta_txt(alignment=True, scene_type="Living room / Lounge", axis=None):
    lines = []
    if alignment:
        # Real files end this line with a trailing space.
        lines.append("axisAlignment = " + numbers(axis or AXIS_ALIGNMENT) + " ")
    lines += [
        f"colorHeight = {COLOR_H}",
        "colorToDepthExtrinsics = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1",
        f"colorWidth = {COLOR_W}",
        f"depthHeight = {DEPTH_H}",
        f"depthWidth = {DEPTH_W}",
        f"fx_color = {META_COLOR_K[0]:f}",
        f"fx_depth = {META_DEPTH_K[0]:f}",
        f"fy_color = {META_COLOR_K[1]:f}",
        f"fy_depth = {META_DEPTH_K[1]:f}",
        f"mx_color = {META_COLOR_K[2]:f}",
        f"mx_depth = {META_DEPTH_K[2]:f}",
        f"my_color = {META_COLOR_K[3]:f}",
        f"my_depth = {META_DEPTH_K[3]:f}",
        "numColorFrames = 4",
        "numDepthFrames = 4",
        "numIMUmeasurements = 0",
        f"sceneType = {scene_type}",
    ]
    return ("\n".join(lines) + "\n").encode()


def k_matrix(k):
    fx, fy, cx, cy = k
    return [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0, 0, 0, 0, 1]


def matrix_txt_python(m):
    """Python exporter: four lines of `%f` numbers (numpy.savetxt-like)."""
    return "".join(" ".join("%f" % v for v in m[r * 4:r * 4 + 4]) + "\n" for r in range(4)).encode()


def matrix_txt_cpp(m):
    """C++ exporter: default stream formatting, no trailing newline."""
    return "\n".join(" ".join(fmt_g(v) for v in m[r * 4:r * 4 + 4]) for r in range(4)).encode()


# --------------------------------------------------------------------------- images
def jpeg(tag):
    """A minimal valid baseline JPEG: 16x12 grey, one component, every 8x8 block flat mid-grey.

    Each block is DC difference 0 (1-bit code `0`) then end-of-block (1-bit code `0`), so the
    four blocks are one zero byte of entropy data. A COM segment right after SOI carries `tag`
    so that every frame's bytes differ.
    """
    def segment(marker, payload):
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload

    out = b"\xff\xd8"
    out += segment(0xFE, tag.encode())
    out += segment(0xDB, b"\x00" + b"\x01" * 64)  # 8-bit quantisation table 0, all ones
    out += segment(0xC0, struct.pack(">BHHB", 8, COLOR_H, COLOR_W, 1) + b"\x01\x11\x00")
    one_symbol = bytes([1] + [0] * 15)  # one code of length 1
    out += segment(0xC4, b"\x00" + one_symbol + b"\x00")  # DC table 0: category 0
    out += segment(0xC4, b"\x10" + one_symbol + b"\x00")  # AC table 0: EOB
    out += segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    blocks = ((COLOR_W + 7) // 8) * ((COLOR_H + 7) // 8)
    bits = "00" * blocks
    bits += "1" * (-len(bits) % 8)  # pad the last byte with ones
    out += bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    return out + b"\xff\xd9"


def depth_values(frame):
    values = [500 + 100 * frame + 10 * y + x for y in range(DEPTH_H) for x in range(DEPTH_W)]
    values[0] = 0  # an invalid measurement
    return values


def png16(width, height, values):
    """16-bit greyscale PNG (big-endian samples), filter 0 on every row."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(
        b"\x00" + struct.pack(f">{width}H", *values[y * width:(y + 1) * width]) for y in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def pgm16_big_endian(width, height, values):
    return f"P5\n{width} {height}\n65535\n".encode() + struct.pack(f">{len(values)}H", *values)


# --------------------------------------------------------------------------- .sens
def sens(frames, version=4, color_codec=2, depth_codec=1, color_k=COLOR_K, depth_k=DEPTH_K):
    """A `.sens` stream (FORMATS.md 1.2). `frames` = [(pose, colour bytes, depth values)]."""
    name = b"StructureSensor"
    out = struct.pack("<IQ", version, len(name)) + name
    identity = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    for m in (k_matrix(color_k), identity, k_matrix(depth_k), identity):
        out += struct.pack("<16f", *m)
    out += struct.pack("<ii", color_codec, depth_codec)
    out += struct.pack("<IIIIf", COLOR_W, COLOR_H, DEPTH_W, DEPTH_H, 1000.0)
    out += struct.pack("<Q", len(frames))
    for i, (pose, color, depth) in enumerate(frames):
        depth_bytes = zlib.compress(struct.pack(f"<{len(depth)}H", *depth))
        out += struct.pack("<16f", *pose)
        out += struct.pack("<QQQQ", 1000 * i, 1000 * i + 7, len(color), len(depth_bytes))
        out += color + depth_bytes
    # IMU block: one sample of 5 x 3 f64 plus its timestamp.
    out += struct.pack("<Q", 1) + struct.pack("<15dQ", *([0.0] * 15), 42)
    return out


SENS_FRAMES = [(POSES[i], jpeg(f"sens frame {i}"), depth_values(i)) for i in (0, 1, 2)]


# --------------------------------------------------------------------------- label maps
V2_COLUMNS = ["id", "raw_category", "category", "count", "nyu40id", "eigen13id", "nyuClass",
              "nyu40class", "eigen13class", "ModelNet40", "ModelNet10", "ShapeNetCore55",
              "synsetoffset", "wnsynsetid", "wnsynsetkey", "mpcat40", "mpcat40index"]
V2_ROWS = [
    ["1", "wall", "wall", "8277", "1", "12", "wall", "wall", "Wall", "", "", "", "", "n04546855", "wall.n.01", "wall", "1"],
    ["2", "chair", "chair", "4646", "5", "11", "chair", "chair", "Chair", "chair", "chair", "chair", "03001627", "n03001627", "chair.n.01", "chair", "3"],
    ["40", "office chair", "Office Chair", "595", "5", "11", "chair", "chair", "Chair", "chair", "chair", "chair", "03001627", "n04373704", "swivel_chair.n.01", "chair", "3"],
    ["7", "table", "table", "2130", "7", "9", "table", "table", "Table", "table", "table", "table", "04379243", "n04379243", "table.n.02", "table", "5"],
    ["2", "floor", "floor", "4000", "2", "5", "floor", "floor", "Floor", "", "", "", "", "n03365592", "floor.n.01", "floor", "2"],
    # Empty nyu40id and trailing cells: ids that are not there are None, not errors.
    ["1163", "storage box", "box", "12", "", "", "", "", "", "", "", "", "", "", "", "", ""],
    # UTF-8 text.
    ["1164", "café table", "Café Table", "1", "7", "", "", "", "", "", "", "", "", "", "", "", ""],
]


def tsv(columns, rows):
    return ("\r\n".join("\t".join(r) for r in [columns] + rows) + "\r\n").encode("utf-8")


V1_COLUMNS = ["category", "count", "nyuId", "nyu40id", "eigen13id", "nyuClass", "nyu40class",
              "eigen13class", "ModelNet40", "ModelNet10", "ShapeNetCore55", "synsetoffset",
              "wnsynsetid", "wnsynsetkey"]
V1_ROWS = [
    ["chair", "4646", "5", "5", "11", "chair", "chair", "Chair", "chair", "chair", "chair", "03001627", "n03001627", "chair.n.01"],
    ["trashcan", "1090", "12", "39", "13", "garbage bin", "otherfurniture", "Objects", "", "", "trash bin", "02747177", "n02747177", "ashcan.n.01"],
    ["dishrack", "25", "", "", "", "", "", "", "", "", "", "", "", ""],
    ["floor", "4000", "11", "2", "5", "floor", "floor", "Floor", "", "", "", "", "n03365592", "floor.n.01"],
]
V1_GROUPS = [(0, "trashcan", [100, 101]), (1, "dishrack", [205]), (2, "floor", [7])]


# --------------------------------------------------------------------------- writers
def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_scene(dir, scene=SCENE, mesh=True, meta=True, annotation=True, v1=False):
    if mesh:
        write(os.path.join(dir, f"{scene}_vh_clean_2.ply"), ply())
    if meta:
        write(os.path.join(dir, f"{scene}.txt"), meta_txt(alignment=not v1))
    if annotation:
        write(os.path.join(dir, f"{scene}_vh_clean_2.0.010000.segs.json"), segs_json(scene=scene))
        groups = V1_GROUPS if v1 else GROUPS
        write(os.path.join(dir, f"{scene}.aggregation.json"), aggregation_json(groups, scene, v1))


def write_python_export(dir, poses=POSES, color_k=COLOR_K, depth_k=DEPTH_K):
    for i, pose in poses.items():
        write(os.path.join(dir, "pose", f"{i}.txt"), matrix_txt_python(pose))
        write(os.path.join(dir, "color", f"{i}.jpg"), jpeg(f"python frame {i}"))
        write(os.path.join(dir, "depth", f"{i}.png"), png16(DEPTH_W, DEPTH_H, depth_values(i)))
    identity = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    write(os.path.join(dir, "intrinsic", "intrinsic_color.txt"), matrix_txt_python(k_matrix(color_k)))
    write(os.path.join(dir, "intrinsic", "intrinsic_depth.txt"), matrix_txt_python(k_matrix(depth_k)))
    write(os.path.join(dir, "intrinsic", "extrinsic_color.txt"), matrix_txt_python(identity))
    write(os.path.join(dir, "intrinsic", "extrinsic_depth.txt"), matrix_txt_python(identity))


def cpp_info(color_k=COLOR_K):
    identity = "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 "
    return (
        "m_versionNumber = 4\n"
        "m_sensorName = StructureSensor\n"
        f"m_colorWidth = {COLOR_W}\n"
        f"m_colorHeight = {COLOR_H}\n"
        f"m_depthWidth = {DEPTH_W}\n"
        f"m_depthHeight = {DEPTH_H}\n"
        "m_depthShift = 1000\n"
        f"m_calibrationColorIntrinsic = {numbers(k_matrix(color_k))} \n"
        f"m_calibrationColorExtrinsic = {identity}\n"
        f"m_calibrationDepthIntrinsic = {numbers(k_matrix(DEPTH_K))} \n"
        f"m_calibrationDepthExtrinsic = {identity}\n"
        "m_frames.size = 4\n"
    ).encode()


def write_cpp_export(dir):
    """Frames 0-2 complete except: frame 1 lost tracking, frame 2 has no depth image; frame 3
    has a pose but no colour image."""
    for i in (0, 1, 2, 3):
        stem = os.path.join(dir, f"frame-{i:06d}")
        write(stem + ".pose.txt", matrix_txt_cpp(POSES.get(i, POSES[0])))
        if i != 3:
            write(stem + ".color.jpg", jpeg(f"cpp frame {i}"))
        if i not in (2, 3):
            write(stem + ".depth.pgm", pgm16_big_endian(DEPTH_W, DEPTH_H, depth_values(i)))
    write(os.path.join(dir, "_info.txt"), cpp_info())


def bad_scene(case, number, **kwargs):
    """Writes a complete, frameless scene for a broken case and returns (dir, scene id)."""
    scene = f"scene{number:04d}_00"
    dir = os.path.join(ROOT, "bad", case, scene)
    write_scene(dir, scene=scene, **kwargs)
    return dir, scene


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)

    # ---- good scenes
    good = os.path.join(ROOT, "good")
    write(os.path.join(good, "scannetv2-labels.combined.tsv"), tsv(V2_COLUMNS, V2_ROWS))
    write_scene(os.path.join(good, SCENE))
    write_python_export(os.path.join(good, SCENE))

    write_scene(os.path.join(good, "cpp", SCENE))
    write_cpp_export(os.path.join(good, "cpp", SCENE))

    write_scene(os.path.join(good, "sens", SCENE))
    write(os.path.join(good, "sens", SCENE, f"{SCENE}.sens"), sens(SENS_FRAMES))

    write(os.path.join(good, "v1", "scannet-labels.combined.tsv"), tsv(V1_COLUMNS, V1_ROWS).replace(b"\r\n", b"\n"))
    write_scene(os.path.join(good, "v1", SCENE), v1=True)

    write_scene(os.path.join(good, "test", "scene0707_00"), scene="scene0707_00", annotation=False)

    # ---- broken scenes (numbered from 900 so every case has its own scene id)
    write(os.path.join(ROOT, "bad", "scannetv2-labels.combined.tsv"), tsv(V2_COLUMNS, V2_ROWS))

    def mesh_path(dir, scene):
        return os.path.join(dir, f"{scene}_vh_clean_2.ply")

    def agg_path(dir, scene):
        return os.path.join(dir, f"{scene}.aggregation.json")

    d, s = bad_scene("truncated_ply", 900)
    full = ply()
    write(mesh_path(d, s), full[: len(full) - 100])  # cut inside the faces

    d, s = bad_scene("ply_header_lies", 901)
    write(mesh_path(d, s), ply(vertex_count=5000))

    d, s = bad_scene("ply_nan_coordinate", 902)
    vertices = list(VERTICES)
    vertices[5] = (float("nan"), 0.25, 0.0)
    write(mesh_path(d, s), ply(vertices=vertices))

    d, s = bad_scene("ply_inf_coordinate", 903)
    vertices = list(VERTICES)
    vertices[9] = (0.75, 0.25, INF)
    write(mesh_path(d, s), ply(vertices=vertices))

    d, s = bad_scene("face_index_out_of_range", 904)
    faces = list(FACES)
    faces[7] = (5, 6, 20)
    write(mesh_path(d, s), ply(faces=faces))

    d, s = bad_scene("quad_face", 905)
    faces = list(FACES)
    faces[1] = (0, 1, 2, 3)
    write(mesh_path(d, s), ply(faces=faces))

    d, s = bad_scene("segs_length_mismatch", 906)
    write(os.path.join(d, f"{s}_vh_clean_2.0.010000.segs.json"), segs_json(SEGMENTS[:-1], s))

    d, s = bad_scene("unknown_segment", 907)
    write(agg_path(d, s), aggregation_json([(0, "table", [205]), (1, "chair", [100, 999])], s))

    # Reads fine: the v1-era label is unknown to the v2 map -> "unlabelled" + one warning.
    d, s = bad_scene("unknown_label", 908)
    write(agg_path(d, s), aggregation_json([(0, "table", [205]), (1, "trashcan", [100, 101])], s))

    d, s = bad_scene("duplicate_object_id", 909)
    write(agg_path(d, s), aggregation_json([(0, "table", [205]), (0, "chair", [100])], s))

    d, s = bad_scene("missing_segs", 910)
    os.remove(os.path.join(d, f"{s}_vh_clean_2.0.010000.segs.json"))

    d, s = bad_scene("malformed_json", 911)
    text = aggregation_json(scene=s)
    write(agg_path(d, s), text[: len(text) // 2])

    d, s = bad_scene("sens_version_3", 912)
    write(os.path.join(d, f"{s}.sens"), sens(SENS_FRAMES, version=3))

    d, s = bad_scene("sens_cut_mid_frame", 913)
    stream = sens(SENS_FRAMES)
    # Cut inside frame 1's colour payload: frame 0 is whole, frame 1 is not.
    header_len = 304 + len(b"StructureSensor")
    frame0_len = 96 + len(SENS_FRAMES[0][1]) + len(zlib.compress(struct.pack("<48H", *SENS_FRAMES[0][2])))
    write(os.path.join(d, f"{s}.sens"), stream[: header_len + frame0_len + 96 + 10])

    # Reads fine: every frame lost tracking -> no frames, counted.
    d, s = bad_scene("zero_frames", 914)
    write_python_export(d, poses={0: LOST, 1: LOST})

    d, s = bad_scene("singular_intrinsics", 915)
    write_python_export(d, poses={0: POSES[0]}, color_k=(0.0, 0.0, 0.0, 0.0))

    d, s = bad_scene("non_utf8_label_map", 916)
    rows = [r[:] for r in V2_ROWS]
    latin1 = tsv(V2_COLUMNS, rows).replace("café".encode("utf-8"), "café".encode("latin-1"))
    write(os.path.join(ROOT, "bad", "non_utf8_label_map", "scannetv2-labels.combined.tsv"), latin1)

    d, s = bad_scene("missing_mesh", 917, mesh=False)

    # ---- a few more ways to break a scene
    d, s = bad_scene("non_utf8_aggregation_label", 918)
    # json.dumps escapes non-ASCII, so the Latin-1 byte is patched in afterwards.
    write(agg_path(d, s), aggregation_json([(0, "cafXX", [205])], s).replace(b"cafXX", b"caf\xe9"))

    d, s = bad_scene("sens_png_colour", 919)
    write(os.path.join(d, f"{s}.sens"), sens(SENS_FRAMES, color_codec=1))

    d, s = bad_scene("meta_short_alignment", 920)
    write(os.path.join(d, f"{s}.txt"), meta_txt(axis=AXIS_ALIGNMENT[:15]))

    d, s = bad_scene("cpp_nan_intrinsics", 921)
    write(os.path.join(d, "frame-000000.pose.txt"), matrix_txt_cpp(POSES[0]))
    write(os.path.join(d, "frame-000000.color.jpg"), jpeg("cpp frame 0"))
    write(os.path.join(d, "_info.txt"), cpp_info(color_k=(float("nan"), 12.0, 7.5, 5.5)).replace(b"nan", b"-nan"))

    d, s = bad_scene("missing_aggregation", 922)
    os.remove(agg_path(d, s))

    d, s = bad_scene("malformed_pose", 923)
    write_python_export(d, poses={0: POSES[0]})
    write(os.path.join(d, "pose", "0.txt"), b"1 0 0 0\n0 1 0 0\n0 0 1\n")

    d, s = bad_scene("sens_zero_frames", 924)
    write(os.path.join(d, f"{s}.sens"), sens([]))

    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(ROOT) for f in fs)
    print(f"wrote {ROOT} ({total} bytes)")


if __name__ == "__main__":
    main()
