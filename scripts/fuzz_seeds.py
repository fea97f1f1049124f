#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target (fuzz/corpus/<target>/) from the bundled
fixtures and from small well-formed inputs built here byte by byte (FORMATS.md layouts).

Large fixtures (meshes, .sens, depth.bin) are not used whole: a seed of a few hundred bytes
lets libFuzzer mutate the structure rather than spend its time on payload bytes. The bench
seeds are one- and two-row slices of the fixture shard, written with pyarrow.

Usage: scripts/fuzz_seeds.py [FUZZ_DIR]   (default: fuzz/)
"""

import io
import json
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "fixtures"
SEP = b"\n@@\n"


def ply_ascii(coord="float"):
    return (
        "ply\nformat ascii 1.0\n"
        f"element vertex 4\nproperty {coord} x\nproperty {coord} y\nproperty {coord} z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "element face 2\nproperty list uchar int vertex_indices\nend_header\n"
        "0 0 0 255 0 0\n1 0 0 0 255 0\n1 1 0 0 0 255\n0 1 1 9 9 9\n"
        "3 0 1 2\n3 0 2 3\n"
    ).encode()


def ply_binary(labels=False):
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        "element vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
        + ("property ushort label\n" if labels else "")
        + "element face 2\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode()
    body = b""
    for i, (x, y, z) in enumerate([(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 1)]):
        body += struct.pack("<fffBBBB", x, y, z, 10 * i, 20, 30, 255)
        if labels:
            body += struct.pack("<H", i)
    for face in [(0, 1, 2), (0, 2, 3)]:
        body += struct.pack("<Biii", 3, *face)
    return header + body


def sens(frames=2, w=4, h=3, compress_depth=True):
    ident = struct.pack("<16f", *[1.0 if i % 5 == 0 else 0.0 for i in range(16)])
    name = b"StructureSensor"
    out = struct.pack("<IQ", 4, len(name)) + name + ident * 4
    out += struct.pack("<ii", 2, 1)  # colour JPEG, depth zlib_ushort
    out += struct.pack("<IIIIfQ", w, h, w, h, 1000.0, frames)
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 12 + b"\xff\xd9"
    for f in range(frames):
        depth = struct.pack(f"<{w * h}H", *[1000 + f * 10 + i for i in range(w * h)])
        if compress_depth:
            depth = zlib.compress(depth)
        out += ident + struct.pack("<QQQQ", f, f, len(jpeg), len(depth)) + jpeg + depth
    return out


def lz4_literals(data):
    """One LZ4 block holding `data` as a single literal run (valid for any decoder)."""
    n = len(data)
    if n < 15:
        return bytes([n << 4]) + data
    rest = n - 15
    ext = b"\xff" * (rest // 255) + bytes([rest % 255])
    return bytes([0xF0]) + ext + data


def iphone_records(w=4, h=3, frames=2):
    out = bytes([w, h])
    for f in range(frames):
        block = lz4_literals(struct.pack(f"<{w * h}H", *[500 + f + i for i in range(w * h)]))
        out += struct.pack("<I", len(block)) + block
    return out


def iphone_deflate(w=4, h=3, frames=2):
    raw = b"".join(struct.pack(f"<{w * h}f", *[0.5 + 0.01 * (f + i) for i in range(w * h)])
                   for f in range(frames))
    c = zlib.compressobj(wbits=-15)
    return bytes([w, h]) + c.compress(raw) + c.flush()


def bench_seeds(out):
    try:
        import pyarrow as pa
        import pyarrow.ipc as ipc
        import pyarrow.parquet as pq
    except ImportError:
        print("pyarrow missing: bench seeds are JSONL only (run `make venv`)", file=sys.stderr)
        return
    table = pq.read_table(FIX / "shards" / "data" / "test-00000-of-00001.parquet")
    # Images make seeds large: each image column gets a 2 x 2 PNG of the same kind.
    tiny = {}
    for col, mode in (("image", "RGB"), ("depth", "I;16"), ("instance_mask", "I;16")):
        from PIL import Image
        buf = io.BytesIO()
        Image.new(mode, (2, 2)).save(buf, format="PNG")
        tiny[col] = buf.getvalue()
    rows_all = table.slice(0, 2).to_pylist()
    for row in rows_all:
        for col, png in tiny.items():
            if row.get(col):
                row[col]["bytes"] = png
    small = pa.Table.from_pylist(rows_all, schema=table.schema)
    for rows in (1, 2):
        t = small.slice(0, rows)
        buf = io.BytesIO()
        pq.write_table(t, buf)
        write(out, f"parquet-{rows}", b"\x00" + buf.getvalue())
        sink = pa.BufferOutputStream()
        with ipc.new_file(sink, t.schema) as w:
            w.write_table(t)
        write(out, f"arrow-file-{rows}", b"\x01" + sink.getvalue().to_pybytes())
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, t.schema) as w:
            w.write_table(t)
        write(out, f"arrow-stream-{rows}", b"\x01" + sink.getvalue().to_pybytes())


def write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def main():
    fuzz = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz"
    corpus = fuzz / "corpus"
    sn = FIX / "scannet" / "scans"
    pp = FIX / "scannetpp" / "data" / "a7acc711d8"

    c = corpus / "ply"
    write(c, "ascii-float", ply_ascii())
    write(c, "ascii-int", ply_ascii("int"))
    write(c, "binary", ply_binary())
    write(c, "binary-labels", ply_binary(labels=True))

    c = corpus / "scannet_annotation"
    segs = json.dumps({"sceneId": "scene0000_00", "segIndices": [0, 0, 1, 2, 2, 1]}).encode()
    agg = json.dumps({"sceneId": "scene0000_00", "segGroups": [
        {"id": 0, "objectId": 0, "label": "chair", "segments": [0, 1]},
        {"id": 1, "objectId": 1, "label": "table", "segments": [2]}]}).encode()
    write(c, "small", segs + SEP + agg)
    write(c, "fixture-aggregation", b"{\"segIndices\": []}" + SEP
          + (sn / "scene0900_00" / "scene0900_00.aggregation.json").read_bytes())

    c = corpus / "scannet_text"
    write(c, "meta", (sn / "scene0900_00" / "scene0900_00.txt").read_bytes())
    write(c, "cpp-info", (sn / "scene0902_00" / "_info.txt").read_bytes())
    write(c, "pose", (sn / "scene0900_00" / "pose" / "0.txt").read_bytes())
    write(c, "intrinsic", (sn / "scene0900_00" / "intrinsic" / "intrinsic_color.txt").read_bytes())
    write(c, "label-map", (FIX / "scannet" / "scannetv2-labels.combined.tsv").read_bytes())

    c = corpus / "sens"
    write(c, "two-frames", sens())
    write(c, "one-frame", sens(frames=1, w=2, h=2))
    write(c, "raw-depth", sens(frames=1, compress_depth=False))

    c = corpus / "colmap"
    colmap = pp / "dslr" / "colmap"
    write(c, "fixture", (colmap / "cameras.txt").read_bytes() + SEP + (colmap / "images.txt").read_bytes())

    c = corpus / "scannetpp_json"
    write(c, "transforms", (pp / "dslr" / "nerfstudio" / "transforms_undistorted.json").read_bytes())
    write(c, "poses", (pp / "iphone" / "pose_intrinsic_imu.json").read_bytes())
    seg = json.dumps({"sceneId": "x", "segIndices": [3, 3, 4, 5, 5]}).encode()
    anno = json.dumps({"sceneId": "x", "segGroups": [
        {"id": 0, "objectId": 0, "label": "chair", "segments": [3, 4]},
        {"id": 1, "objectId": 1, "label": "desk", "segments": [4, 5]}]}).encode()
    write(c, "segments", seg + SEP + anno)
    write(c, "benchmark-map", b"class,semantic\nchair,chair\noffice chair,chair\n")

    c = corpus / "iphone_depth"
    write(c, "records", iphone_records())
    write(c, "deflate", iphone_deflate())

    c = corpus / "bench"
    bench_seeds(c)
    qa = {"id": "q1", "image": "a.jpg", "question": "How tall is the chair?", "answer": "0.8 m",
          "type": "height"}
    write(c, "jsonl", b"\x02" + (json.dumps(qa) + "\n" + json.dumps({**qa, "id": "q2"}) + "\n").encode())
    write(c, "json", b"\x03" + json.dumps([qa]).encode())

    c = corpus / "predictions"
    write(c, "ids", b'{"id": "q1", "pred": "0.8 m"}\n{"id": "q2", "pred": "about 2 meters"}\n')
    write(c, "questions", b'{"model": "m"}\n{"question": "How tall?", "pred": "1.5", "gt": "1.4 m", "type": "height"}\n')
    write(c, "official", b'{"question_id": 7, "text": "x", "output": "It is 3 feet.", "answer": "0.9 m"}\n')
    n = sum(1 for _ in corpus.rglob("*") if _.is_file())
    print(f"{n} seed files under {corpus}")


if __name__ == "__main__":
    main()
