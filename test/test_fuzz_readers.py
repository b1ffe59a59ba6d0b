"""Property-based fuzzing of the file readers: any bytes give a parsed result or the toolkit's own error.

Kaldi files (text, wav.scp, utt2spk, segments, units), CTMs and YAML configs are
written with arbitrary bytes (and with bytes close to a valid file: valid lines
with random edits), then read; the only exceptions allowed are the classes of
s2s_plugin.errors, whose messages name the file. Seeded (derandomize=True), so
CI sees the same examples on every run.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s2s_plugin.config import load_config, load_yaml
from s2s_plugin.data.datadir import read_segments
from s2s_plugin.data.io import read_ctm, read_kaldi_text, read_units
from s2s_plugin.errors import S2SError
from s2s_plugin.train.schema import TrainConfig

FUZZ = settings(derandomize=True, max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

#: lines close to valid ones, for the readers to meet near-misses and not only noise
KALDI_LINES = ["utt1 hello world", "utt2 /data/a.wav", "utt1 spk1", "utt3 rec1 0.0 1.5", "utt4 1 2 3",
               "utt5 rec 1.5 0.5", "utt6 rec nan inf", "utt7 -3 4", "utt8", " utt9 x", "utt10\tx", ""]
CTM_LINES = ["utt1 1 0.00 0.30 hello", "utt1 1 0.30 0.25 world 0.9", "utt2 1 nan 0.1 x", "utt2 1 0.1 inf x",
             "utt3 1 -1 0.1 x", "utt4 1 a b c", "utt5 1 0.1", ""]
YAML_LINES = ["trainer:", "  max_steps: 10", "  seed: 3", "optim: {lr: 0.001}", "a: 1", "a: 2", "? [x]", ": 1",
              "!!python/object:os.system {}", "- 1", "&a x: *a", "scheduler: {name: cosine}", "\t- x", "{"]


def near_miss(lines: list[str]) -> st.SearchStrategy[bytes]:
    """Files made of valid-looking lines, with random bytes spliced in."""
    line = st.one_of(st.sampled_from(lines), st.text(max_size=30))
    doc = st.lists(line, max_size=8).map(lambda ls: "\n".join(ls).encode("utf-8"))
    splice = st.tuples(doc, st.binary(max_size=6), st.integers(0, 400))
    return st.one_of(doc, splice.map(lambda t: t[0][:t[2]] + t[1] + t[0][t[2]:]))


def any_file(lines: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=200), near_miss(lines))


def read(reader, data: bytes, name: str):
    """Write ``data`` to a fresh file, read it; return the result or the toolkit's error."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        try:
            return reader(path)
        except S2SError as e:
            assert str(path) in str(e), f"the error does not name the file: {e}"
            return e


@pytest.mark.parametrize("name, reader", [("text.fr", read_kaldi_text), ("wav.scp.fr", read_kaldi_text),
                                          ("utt2spk", read_kaldi_text), ("segments", read_segments),
                                          ("units.fr", read_units)])
@FUZZ
@given(data=any_file(KALDI_LINES))
def test_kaldi_readers(name, reader, data):
    out = read(reader, data, name)
    if not isinstance(out, S2SError):
        assert isinstance(out, dict) and all(k and " " not in k for k in out)
        if reader is read_segments:
            assert all(0 <= s.start < s.end < math.inf for s in out.values())


@FUZZ
@given(data=any_file(CTM_LINES))
def test_ctm_reader(data):
    out = read(read_ctm, data, "align.fr.ctm")
    if not isinstance(out, S2SError):
        spans = [w for ws in out.values() for w in ws]
        assert all(math.isfinite(w.start) and math.isfinite(w.duration) and w.start >= 0 <= w.duration
                   for w in spans)


@FUZZ
@given(data=any_file(YAML_LINES))
def test_yaml_loader(data):
    out = read(load_yaml, data, "conf.yaml")
    assert isinstance(out, (dict, S2SError))


@FUZZ
@given(data=any_file(YAML_LINES))
def test_config_loader(data):
    """Through the schema too: load_config of the stage-8 config, its errors included."""
    out = read(lambda p: load_config(TrainConfig, p), data, "train.yaml")
    assert isinstance(out, (TrainConfig, S2SError))


def test_non_utf8_lines_are_named():
    err = read(read_kaldi_text, "utt1 caf\u00e9\n".encode() + b"utt2 caf\xe9\n", "text.fr")
    assert isinstance(err, S2SError) and ":2: not UTF-8 text (byte 0xe9 at column 9)" in str(err)
    err = read(read_ctm, b"u 1 0 1 a\nu 1 1 1 \xff\n", "a.ctm")
    assert isinstance(err, S2SError) and ":2: not UTF-8 text (byte 0xff" in str(err)
    err = read(load_yaml, b"a: 1\nb: \xe9t\xe9\n", "c.yaml")
    assert isinstance(err, S2SError) and ":2: not UTF-8 text (byte 0xe9)" in str(err)
    err = read(load_yaml, b"a: 1\na: 2\n", "d.yaml")  # marks still name the file
    assert isinstance(err, S2SError) and "d.yaml:2: duplicate key 'a'" in str(err)


@pytest.mark.parametrize("reader, name, data, message", [
    (load_yaml, "e.yaml", b"? [x, y]\n: 1\n", "e.yaml:1: a key must be a plain value (a name or number), got a list"),
    (load_yaml, "f.yaml", b"a: \x01\n", "f.yaml: invalid YAML: unacceptable character #x0001"),
    (load_yaml, "g.yaml", b"[" * 2000, "g.yaml"),
    (read_ctm, "a.ctm", b"u 1 nan 0.1 x\n", "a.ctm:1: start/duration must be finite"),
    (read_segments, "segments", b"u rec 0 inf\n", "segments:1: utterance 'u': need 0 <= start < end (finite"),
])
def test_inputs_that_broke_the_readers(reader, name, data, message):
    """Each gave another exception (or, for inf and nan times, was accepted) before the readers were fixed."""
    err = read(reader, data, name)
    assert isinstance(err, S2SError) and message in str(err)
