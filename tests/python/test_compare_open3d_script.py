"""`benches/compare_open3d.py` (what `make bench-compare` runs) on a bundled scene.

The script times several builds of the `render_timing` example against one Open3D run and
must refuse builds whose images differ. Here both "builds" are the test build of the example
(so they agree), and a wrapper that flips one byte of the second build's depth dump has to make
the script fail.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, REPO, msmu_bin

SCRIPT = REPO / "benches" / "compare_open3d.py"
# The bundled scene with the fewest frames (3), to keep the debug build's renders short.
SCENE = FIXTURES / "scannet" / "scans" / "scene0902_00"


def render_timing() -> Path:
    path = Path(msmu_bin()).parent / "examples" / "render_timing"
    if not path.exists():
        pytest.fail(f"render_timing not found at {path}: run `make dev-build` "
                    "(or `cargo build --examples` for the profile of MSMU_BIN)")
    return path


def run_script(*examples: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), "--scene", str(SCENE), "--reps", "1",
           "--width", "160", "--height", "120"]
    for example in examples:
        cmd += ["--example", example]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def test_two_builds_are_timed_against_one_open3d_run():
    example = render_timing()
    out = run_script(f"a={example}", f"b={example}")
    assert out.returncode == 0, out.stderr
    assert "byte-identical" in out.stdout
    result = json.loads(out.stdout.split("RESULT ", 1)[1])
    assert [b["label"] for b in result["builds"]] == ["a", "b"]
    for b in result["builds"]:
        assert b["ms_per_view"] > 0
        assert b["ratio"] == pytest.approx(result["open3d_ms_per_view"] / b["ms_per_view"])
    assert result["msmu_ms_per_view"] == result["builds"][0]["ms_per_view"]
    assert result["agreement"] >= 0.999, result["agreement"]


def test_builds_that_render_different_bytes_are_refused(tmp_path):
    example = render_timing()
    # A "build" that runs the real example, then changes one byte of its first depth dump.
    wrapper = tmp_path / "render_timing_off_by_one_byte"
    wrapper.write_text(
        "#!/usr/bin/env python3\n"
        "import subprocess, sys\n"
        "from pathlib import Path\n"
        f"out = subprocess.run([{str(example)!r}] + sys.argv[1:], check=True,\n"
        "                     capture_output=True, text=True).stdout\n"
        "dump = Path(sys.argv[sys.argv.index('--dump') + 1]) / 'depth_0.f32'\n"
        "data = bytearray(dump.read_bytes())\n"
        "data[0] ^= 1\n"
        "dump.write_bytes(bytes(data))\n"
        "sys.stdout.write(out)\n"
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    out = run_script(f"real={example}", f"altered={wrapper}")
    assert out.returncode != 0
    assert "wrote a different depth_0.f32" in out.stderr, out.stderr
