"""utils/split_scp.sh: contiguous parts, sizes within one, the same split as the Python side."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from s2s_plugin.data.datadir import split_ids

ROOT = Path(__file__).resolve().parents[2]
SPLIT = str(ROOT / "utils" / "split_scp.sh")


def split(tmp_path, lines: list[str], nparts: int, trailing_newline: bool = True):
    src = tmp_path / "wav.scp"
    src.write_text("\n".join(lines) + ("\n" if trailing_newline and lines else ""))
    outs = [tmp_path / "split" / f"wav.{j}.scp" for j in range(1, nparts + 1)]
    proc = subprocess.run([SPLIT, str(src), *map(str, outs)], capture_output=True, text=True, timeout=60)
    return proc, outs


@pytest.mark.parametrize("nlines,nparts", [(1, 1), (5, 1), (5, 2), (10, 3), (7, 4), (9, 9), (100, 7), (31, 8)])
def test_contract(tmp_path, nlines, nparts):
    lines = [f"utt{i:04d} /audio/utt{i:04d}.wav" for i in range(nlines)]
    proc, outs = split(tmp_path, lines, nparts)
    assert proc.returncode == 0, proc.stderr
    parts = [o.read_text().splitlines() for o in outs]
    for j, part in enumerate(parts, 1):
        assert part == lines[(j - 1) * nlines // nparts: j * nlines // nparts]
        assert [line.split()[0] for line in part] == split_ids([line.split()[0] for line in lines], nparts, j)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == nlines


def test_last_line_without_newline(tmp_path):
    proc, outs = split(tmp_path, ["a 1", "b 2", "c 3"], 2, trailing_newline=False)
    assert proc.returncode == 0, proc.stderr
    assert [o.read_text() for o in outs] == ["a 1\n", "b 2\nc 3\n"]


@pytest.mark.parametrize("nlines", [0, 3])
def test_more_parts_than_lines_is_an_error(tmp_path, nlines):
    proc, outs = split(tmp_path, [f"u{i} x" for i in range(nlines)], 4)
    assert proc.returncode == 1
    assert f"cannot split the {nlines} lines" in proc.stderr and "into 4 parts" in proc.stderr
    assert not any(o.exists() for o in outs)


def test_missing_input_and_usage(tmp_path):
    proc = subprocess.run([SPLIT, str(tmp_path / "nope"), str(tmp_path / "o1")], capture_output=True, text=True)
    assert proc.returncode == 1 and "nope: no such file" in proc.stderr
    proc = subprocess.run([SPLIT, str(tmp_path / "only_input")], capture_output=True, text=True)
    assert proc.returncode == 1 and "Usage:" in proc.stderr
    proc = subprocess.run([SPLIT, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "floor((j-1)*L/n)" in proc.stdout


def test_no_temporary_files_left(tmp_path):
    proc, outs = split(tmp_path, [f"u{i} x" for i in range(6)], 3)
    assert proc.returncode == 0
    assert sorted(p.name for p in (tmp_path / "split").iterdir()) == ["wav.1.scp", "wav.2.scp", "wav.3.scp"]
