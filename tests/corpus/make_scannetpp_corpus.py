#!/usr/bin/env python3
"""Writes the ScanNet++ test corpus used by tests/scannetpp_reader.rs.

Python 3 standard library only (struct, zlib, json), so the corpus can be regenerated on any
machine: `python3 tests/corpus/make_scannetpp_corpus.py` from the repository root. The output
is committed; rerunning it must reproduce the same bytes.

Layout written (see docs FORMATS.md section 2):
  scannetpp/good/data/0a1b2c3d4e/            DSLR + iPhone (depth.bin encoding (a))
  scannetpp/good/metadata/semantic_benchmark map_benchmark.csv + top100.txt
  scannetpp/good/expected.json                values the Rust tests compare against
  scannetpp/good_iphone_lz4/data/1f2e3d4c5b/ iPhone only (depth.bin encoding (b))
  scannetpp/bad/<case>/data/<id>/             one broken file per case

Every geometric expectation (projected pixels, face instances) is computed here,
independently of the Rust code, from the camera-to-world matrices this script chose.
"""

import json
import math
import os
import shutil
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scannetpp")
GOOD_ID = "0a1b2c3d4e"
LZ4_ID = "1f2e3d4c5b"
DEPTH_W, DEPTH_H = 256, 192

# ---------------------------------------------------------------------------------------------
# Small linear algebra (3-vectors, 3x3 row-major matrices).


def sub(a, b):
    return [a[i] - b[i] for i in range(3)]


def dot(a, b):
    return sum(a[i] * b[i] for i in range(3))


def cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def normalize(a):
    n = math.sqrt(dot(a, a))
    return [x / n for x in a]


def look_at(eye, target):
    """world_from_camera rotation (OpenCV axes: x right, y down, z forward) and eye."""
    forward = normalize(sub(target, eye))
    right = normalize(cross(forward, [0.0, 0.0, 1.0]))
    down = cross(forward, right)
    # Columns are the camera axes expressed in the world.
    rot = [[right[r], down[r], forward[r]] for r in range(3)]
    return rot, list(eye)


def transpose(m):
    return [[m[c][r] for c in range(3)] for r in range(3)]


def mat_vec(m, v):
    return [dot(m[r], v) for r in range(3)]


def quat_from_rot(m):
    """(qw, qx, qy, qz) of a rotation matrix (Shepperd's method)."""
    tr = m[0][0] + m[1][1] + m[2][2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        return [0.25 * s, (m[2][1] - m[1][2]) / s, (m[0][2] - m[2][0]) / s, (m[1][0] - m[0][1]) / s]
    if m[0][0] > m[1][1] and m[0][0] > m[2][2]:
        s = math.sqrt(1.0 + m[0][0] - m[1][1] - m[2][2]) * 2
        return [(m[2][1] - m[1][2]) / s, 0.25 * s, (m[0][1] + m[1][0]) / s, (m[0][2] + m[2][0]) / s]
    if m[1][1] > m[2][2]:
        s = math.sqrt(1.0 + m[1][1] - m[0][0] - m[2][2]) * 2
        return [(m[0][2] - m[2][0]) / s, (m[0][1] + m[1][0]) / s, 0.25 * s, (m[1][2] + m[2][1]) / s]
    s = math.sqrt(1.0 + m[2][2] - m[0][0] - m[1][1]) * 2
    return [(m[1][0] - m[0][1]) / s, (m[0][2] + m[2][0]) / s, (m[1][2] + m[2][1]) / s, 0.25 * s]


def c2w_matrix(rot, eye):
    return [rot[0] + [eye[0]], rot[1] + [eye[1]], rot[2] + [eye[2]], [0.0, 0.0, 0.0, 1.0]]


def project(rot, eye, fx, fy, cx, cy, point):
    """Pixel (u, v) and depth of a world point seen by a camera with world_from_camera (rot, eye)."""
    p = mat_vec(transpose(rot), sub(point, eye))
    return [fx * p[0] / p[2] + cx, fy * p[1] / p[2] + cy], p[2]


def nerfstudio_matrix(c2w):
    """What ScanNet++ `transforms.json` stores: OpenGL camera columns, permuted/negated world rows.

    Readers must never use it as a pose; the tests prove the reader does not.
    """
    m = [row[:] for row in c2w]
    for r in range(3):
        m[r][1] = -m[r][1]
        m[r][2] = -m[r][2]
    m = [m[1], m[0], m[2], m[3]]
    m[2] = [-x for x in m[2]]
    return m


# ---------------------------------------------------------------------------------------------
# Mesh: a table (box A), a small box on it (box B, split into a bottom and a top segment) and a
# floor quad that no annotation covers.


def box(lo, hi):
    corners = [[x, y, z] for z in (lo[2], hi[2]) for y in (lo[1], hi[1]) for x in (lo[0], hi[0])]
    # Bottom 0-3, top 4-7; triangles as quads split in two.
    quads = [(0, 2, 3, 1), (4, 5, 7, 6), (0, 1, 5, 4), (2, 6, 7, 3), (0, 4, 6, 2), (1, 3, 7, 5)]
    tris = []
    for a, b, c, d in quads:
        tris += [(a, b, c), (a, c, d)]
    return corners, tris


def build_mesh():
    verts, tris = [], []
    for lo, hi in (([-0.6, -0.4, 0.0], [0.6, 0.4, 0.8]), ([0.05, -0.05, 0.85], [0.35, 0.25, 1.15])):
        base = len(verts)
        c, t = box(lo, hi)
        verts += c
        tris += [(base + a, base + b, base + d) for a, b, d in t]
    base = len(verts)
    verts += [[-2.0, -2.0, 0.0], [2.0, -2.0, 0.0], [2.0, 2.0, 0.0], [-2.0, 2.0, 0.0]]
    tris += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    # Segments: table 10; box bottom 20 (its vertices 8-11), box top 21 (12-15); floor 30.
    segs = [10] * 8 + [20] * 4 + [21] * 4 + [30] * 4
    return verts, tris, segs


def ply_bytes(verts, tris):
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment msmu test corpus\n"
        f"element vertex {len(verts)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {len(tris)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    body = b"".join(struct.pack("<fffBBB", *v, 200, 100, 50) for v in verts)
    body += b"".join(struct.pack("<Biii", 3, *t) for t in tris)
    return header + body


# Annotation groups in file order (deliberately not sorted by objectId, and `id` != objectId).
# Overlaps: the table group also claims the box; "lid" and "Cover" both claim the box top and
# have the same size, so the lower objectId ("lid") wins there and "Cover" ends up empty.
GROUPS = [
    {"id": 5, "objectId": 3, "label": "Cover", "segments": [21]},
    {"id": 1, "objectId": 0, "label": " Table ", "segments": [10, 20, 21]},
    {"id": 7, "objectId": 1, "label": "BOX", "segments": [20, 21, 20]},
    {"id": 2, "objectId": 2, "label": "lid", "segments": [21]},
]
# The resolution the reader must produce (instance id = objectId + 1).
EXPECTED_VERTEX_INSTANCE = [1] * 8 + [2] * 4 + [3] * 4 + [0] * 4


def anno_json(groups):
    out = []
    for g in groups:
        g = dict(g)
        g["obb"] = {"centroid": [0.0, 0.0, 0.0], "axesLengths": [1.0, 1.0, 1.0],
                    "normalizedAxes": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]}
        out.append(g)
    return {"sceneId": "x", "segGroups": out}


# ---------------------------------------------------------------------------------------------
# A minimal valid baseline JPEG: 8-bit grayscale, flat grey. One-symbol Huffman tables (DC
# category 0 and AC end-of-block, both coded "00") make every 8x8 block four bits.


def tiny_jpeg(width, height):
    def seg(marker, payload):
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    dqt = seg(0xDB, bytes([0]) + bytes([1] * 64))
    sof = seg(0xC0, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
    counts = bytes([0, 1] + [0] * 14)  # one code of length 2
    dht = seg(0xC4, bytes([0x00]) + counts + bytes([0]) + bytes([0x10]) + counts + bytes([0]))
    sos = seg(0xDA, bytes([1, 1, 0x00, 0, 63, 0]))
    n_blocks = ((width + 7) // 8) * ((height + 7) // 8)
    n_bits = 4 * n_blocks
    data = bytearray(b"\x00" * (n_bits // 8))
    if n_bits % 8:
        data.append(0xFF >> (n_bits % 8))  # pad the last byte with one-bits
    return b"\xff\xd8" + dqt + sof + dht + sos + bytes(data) + b"\xff\xd9"


# ---------------------------------------------------------------------------------------------
# depth.bin. Values follow fixed formulas that the Rust tests recompute.


def depth_mm(frame, r, c):
    """Encoding (b) LZ4 records: u16 millimetres (0 = invalid)."""
    if r % 8 == 0 and c == 0:
        return 0
    return 1000 + 100 * frame + 3 * c + 7 * (r % 8)


def depth_m(frame, r, c):
    """Encoding (a), and the deflate fallback records of (b): float32 metres (exact in binary)."""
    if r % 8 == 0 and c == 0:
        return 0.0
    return 1.0 + frame + (c % 16) * 0.0625 + (r % 8) * 0.5


def f32_frame(frame):
    return b"".join(struct.pack("<f", depth_m(frame, r, c)) for r in range(DEPTH_H) for c in range(DEPTH_W))


def raw_deflate(data):
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush()


def lz4_len(n):
    """LZ4 length continuation bytes for a length that did not fit in the token nibble."""
    out = bytearray()
    while n >= 255:
        out.append(255)
        n -= 255
    out.append(n)
    return bytes(out)


def lz4_block(data, period):
    """An LZ4 block written by hand: `period` literal bytes, one long overlapping match at
    offset `period` (the data repeats with that period), then five literal bytes, as the
    format requires at the end of a block."""
    assert all(data[i] == data[i - period] for i in range(period, len(data)))
    match_len = len(data) - period - 5
    lit = period
    token = (min(lit, 15) << 4) | min(match_len - 4, 15)
    out = bytearray([token])
    if lit >= 15:
        out += lz4_len(lit - 15)
    out += data[:period]
    out += struct.pack("<H", period)
    if match_len - 4 >= 15:
        out += lz4_len(match_len - 4 - 15)
    out.append(5 << 4)  # last sequence: five literals, no match
    out += data[-5:]
    return bytes(out)


def u16_frame(frame):
    return b"".join(struct.pack("<H", depth_mm(frame, r, c)) for r in range(DEPTH_H) for c in range(DEPTH_W))


N_DEPTH_FRAMES = 6
DEFLATE_RECORD_FRAME = 1  # in encoding (b), this record uses the raw-deflate float32 fallback


def depth_bin_a():
    return raw_deflate(b"".join(f32_frame(f) for f in range(N_DEPTH_FRAMES)))


def depth_bin_b():
    out = bytearray()
    for f in range(N_DEPTH_FRAMES):
        if f == DEFLATE_RECORD_FRAME:
            payload = raw_deflate(f32_frame(f))
        else:
            payload = lz4_block(u16_frame(f), 8 * DEPTH_W * 2)
        out += struct.pack("<I", len(payload)) + payload
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Cameras.

DSLR = {"w": 64, "h": 48, "fl_x": 50.0, "fl_y": 52.0, "cx": 32.0, "cy": 24.0}
DSLR_POSES = {
    "DSC00001.JPG": look_at([2.5, -2.0, 1.8], [0.0, 0.0, 0.6]),
    "DSC00002.JPG": look_at([-2.2, -1.5, 2.0], [0.2, 0.1, 0.9]),
    "DSC00003.JPG": look_at([0.5, 2.5, 1.6], [0.0, 0.0, 0.5]),  # listed, but no image file
}
IPHONE_COLOR = (320, 240)
IPHONE_FRAMES = {
    # name: (fx, world_from_camera) ; None = non-finite pose
    "frame_000000": (250.0, look_at([1.8, 1.9, 1.5], [0.0, 0.0, 0.7])),
    "frame_000001": (250.0, None),
    "frame_000002": (251.0, look_at([-1.5, 2.1, 1.7], [0.1, 0.0, 0.8])),
    "frame_000004": (252.0, look_at([0.0, -2.5, 1.4], [0.0, 0.0, 0.6])),  # no rgb file
}
IPHONE_RGB = ["frame_000000", "frame_000001", "frame_000002", "frame_000003"]
PROBE_VERTEX = 12  # a box-top corner, seen by every camera


def iphone_intrinsic(fx):
    return [[fx, 0.0, 159.5], [0.0, fx, 119.5], [0.0, 0.0, 1.0]]


def images_txt(poses, bad_first_quaternion=False):
    lines = [
        "# Image list with two lines of data per image:",
        "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
        "#   POINTS2D[] as (X, Y, POINT3D_ID)",
        f"# Number of images: {len(poses)}, mean observations per image: 1",
    ]
    # Image ids in an order different from names, to show frames are sorted by name.
    for image_id, name in zip([2, 1, 3], sorted(poses)):
        rot, eye = poses[name]
        rot_cw = transpose(rot)
        t_cw = [-x for x in mat_vec(rot_cw, eye)]
        q = quat_from_rot(rot_cw)
        if bad_first_quaternion and image_id == 2:
            q = [0.0, 0.0, 0.0, 0.0]
        fields = [str(image_id)] + [repr(x) for x in q + t_cw] + ["1", name]
        lines.append(" ".join(fields))
        # The first image has observations; the second an empty points line; the last one's
        # points line is missing altogether (the file ends after its header line).
        if name == "DSC00001.JPG":
            lines.append("10.5 20.25 -1 30.0 12.0 7")
        elif name == "DSC00002.JPG":
            lines.append("")
    return "\n".join(lines) + "\n"


def cameras_txt():
    return (
        "# Camera list with one line of data per camera:\n"
        "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
        "# Number of cameras: 1\n"
        "1 OPENCV_FISHEYE 64 48 55.0 55.5 31.7 23.9 0.01 -0.002 0.0003 0.0\n"
    )


def transforms(poses, undistorted):
    frames = []
    for name in sorted(poses):
        rot, eye = poses[name]
        frames.append({"file_path": name, "transform_matrix": nerfstudio_matrix(c2w_matrix(rot, eye)),
                       "mask_path": name.replace(".JPG", ".png")})
    out = dict(DSLR)
    if undistorted:
        out.update({"k1": 0.0, "k2": 0.0, "k3": 0.0, "k4": 0.0, "camera_model": "PINHOLE"})
    else:
        # The distorted camera: different numbers, so using this file would show.
        out.update({"fl_x": 55.0, "fl_y": 55.5, "cx": 31.7, "cy": 23.9, "k1": 0.01, "k2": -0.002,
                    "k3": 0.0003, "k4": 0.0, "camera_model": "OPENCV_FISHEYE"})
    out["frames"] = frames
    out["test_frames"] = []
    return out


def pose_json(nonfinite_all=False):
    out = {}
    for name, (fx, pose) in IPHONE_FRAMES.items():
        if pose is None or nonfinite_all:
            matrix = [[float("nan")] * 4, [0.0, 1.0, 0.0, float("inf")], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
        else:
            matrix = c2w_matrix(*pose)
        out[name] = {
            "timestamp": 1000.0 + int(name[-6:]) / 60.0,
            "intrinsic": iphone_intrinsic(fx),
            # The raw ARKit pose is not in the mesh frame; a reader that used it would fail.
            "pose": [[1.0, 0.0, 0.0, 5.0], [0.0, 1.0, 0.0, 5.0], [0.0, 0.0, 1.0, 5.0], [0.0, 0.0, 0.0, 1.0]],
            "aligned_pose": matrix,
            "imu": {"gravity": [0.0, 0.0, -9.8]},
        }
    # Python's json writes NaN / Infinity literals, exactly as the official tooling's files do.
    return json.dumps(out)


# ---------------------------------------------------------------------------------------------
# Writing.


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def write_scene(scene, dslr=True, iphone=True, depth_bin=None):
    verts, tris, segs = build_mesh()
    write(os.path.join(scene, "scans", "mesh_aligned_0.05.ply"), ply_bytes(verts, tris))
    write(os.path.join(scene, "scans", "segments.json"), json.dumps({"sceneId": "x", "segIndices": segs}))
    write(os.path.join(scene, "scans", "segments_anno.json"), json.dumps(anno_json(GROUPS), indent=1))
    if dslr:
        d = os.path.join(scene, "dslr")
        write(os.path.join(d, "colmap", "images.txt"), images_txt(DSLR_POSES))
        write(os.path.join(d, "colmap", "cameras.txt"), cameras_txt())
        write(os.path.join(d, "nerfstudio", "transforms.json"), json.dumps(transforms(DSLR_POSES, False), indent=1))
        write(os.path.join(d, "nerfstudio", "transforms_undistorted.json"),
              json.dumps(transforms(DSLR_POSES, True), indent=1))
        for name in ("DSC00001.JPG", "DSC00002.JPG"):
            write(os.path.join(d, "resized_undistorted_images", name), tiny_jpeg(DSLR["w"], DSLR["h"]))
    if not iphone:
        return
    i = os.path.join(scene, "iphone")
    write(os.path.join(i, "pose_intrinsic_imu.json"), pose_json())
    for name in IPHONE_RGB:
        write(os.path.join(i, "rgb", name + ".jpg"), tiny_jpeg(*IPHONE_COLOR))
    write(os.path.join(i, "depth.bin"), depth_bin if depth_bin is not None else depth_bin_a())


def expected(verts, tris):
    def face_inst(t):
        a, b, c = (EXPECTED_VERTEX_INSTANCE[v] for v in t)
        return a if a in (b, c) else (b if b == c else 0)

    probe = verts[PROBE_VERTEX]
    dslr = {}
    for name in ("DSC00001.JPG", "DSC00002.JPG"):
        rot, eye = DSLR_POSES[name]
        px, z = project(rot, eye, DSLR["fl_x"], DSLR["fl_y"], DSLR["cx"], DSLR["cy"], probe)
        dslr[name] = {"pixel": px, "depth_m": z}
    iphone = {}
    for name in ("frame_000000", "frame_000002"):
        fx, (rot, eye) = IPHONE_FRAMES[name]
        px, z = project(rot, eye, fx, fx, 159.5, 119.5, probe)
        iphone[name] = {"pixel": px, "depth_m": z}
    return {
        "probe_point": probe,
        "vertex_instance": EXPECTED_VERTEX_INSTANCE,
        "face_instance": [face_inst(t) for t in tris],
        "dslr": dslr,
        "iphone": iphone,
    }


def main():
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    verts, tris, _ = build_mesh()

    good_root = os.path.join(ROOT, "good")
    good = os.path.join(good_root, "data", GOOD_ID)
    write_scene(good)
    bench = os.path.join(good_root, "metadata", "semantic_benchmark")
    write(os.path.join(bench, "map_benchmark.csv"),
          "class,count,semantic_map_to,instance_map_to\r\n"
          "table,10,,\r\n"
          "box,5,storage box,storage box\r\n"
          "lid,3,None,None\r\n"
          "\"shelf, wall\",1,shelf,shelf\r\n")
    write(os.path.join(bench, "top100.txt"), "wall\ntable\nstorage box\n")
    write(os.path.join(good_root, "expected.json"), json.dumps(expected(verts, tris), indent=1))

    lz4 = os.path.join(ROOT, "good_iphone_lz4", "data", LZ4_ID)
    write_scene(lz4, dslr=False, depth_bin=depth_bin_b())

    bad = os.path.join(ROOT, "bad")

    def bad_scene(case, scene_id, dslr=True, depth_bin=None):
        # DSLR scenes never read the iPhone folder, so broken DSLR-era cases leave it out.
        path = os.path.join(bad, case, "data", scene_id)
        write_scene(path, dslr=dslr, iphone=not dslr, depth_bin=depth_bin)
        return path

    s = bad_scene("truncated_ply", "badc0de001")
    ply = ply_bytes(verts, tris)
    write(os.path.join(s, "scans", "mesh_aligned_0.05.ply"), ply[: len(ply) - 40])

    s = bad_scene("segments_length_mismatch", "badc0de002")
    write(os.path.join(s, "scans", "segments.json"), json.dumps({"segIndices": build_mesh()[2][:-1]}))

    s = bad_scene("malformed_segments_anno", "badc0de003")
    write(os.path.join(s, "scans", "segments_anno.json"), '{"segGroups": [{"id": 1, "objectId": 0,')

    s = bad_scene("duplicate_object_id", "badc0de004")
    groups = GROUPS + [{"id": 9, "objectId": 1, "label": "chair", "segments": [30]}]
    write(os.path.join(s, "scans", "segments_anno.json"), json.dumps(anno_json(groups)))

    s = bad_scene("unknown_segment", "badc0de005")
    groups = GROUPS + [{"id": 9, "objectId": 9, "label": "chair", "segments": [30, 77]}]
    write(os.path.join(s, "scans", "segments_anno.json"), json.dumps(anno_json(groups)))

    s = bad_scene("bad_quaternion", "badc0de006")
    write(os.path.join(s, "dslr", "colmap", "images.txt"), images_txt(DSLR_POSES, bad_first_quaternion=True))

    s = bad_scene("missing_transforms_undistorted", "badc0de007")
    os.remove(os.path.join(s, "dslr", "nerfstudio", "transforms_undistorted.json"))

    records = depth_bin_b()
    bad_scene("depth_truncated_record", "badc0de008", dslr=False, depth_bin=records[: len(records) - 10])

    s = bad_scene("nonfinite_aligned_pose", "badc0de009", dslr=False)
    write(os.path.join(s, "iphone", "pose_intrinsic_imu.json"), pose_json(nonfinite_all=True))


if __name__ == "__main__":
    main()
