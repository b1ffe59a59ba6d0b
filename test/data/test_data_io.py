"""Round trips and errors of the Kaldi text / CTM readers and writers."""
from __future__ import annotations

import os
import stat

import pytest

from s2s_plugin.data.io import (WordSpan, atomic_write, read_ctm, read_kaldi_text, write_ctm,
                                write_kaldi_text)
from s2s_plugin.errors import DataError


def test_kaldi_text_round_trip_sorted_in_c_order(tmp_path):
    entries = {"b_2": "deux mots", "B_1": "x", "a_3": "élève été", "é_4": "ü"}
    path = tmp_path / "text.fr"
    write_kaldi_text(path, entries)
    assert read_kaldi_text(path) == entries
    keys = [line.split(" ", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()]
    # LC_ALL=C sort: bytes order, upper case before lower case, non-ASCII last
    assert keys == ["B_1", "a_3", "b_2", "é_4"]
    assert keys == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_kaldi_text_duplicate_names_file_and_lines(tmp_path):
    path = tmp_path / "utt2spk"
    path.write_text("u1 s1\nu2 s1\nu1 s2\n")
    with pytest.raises(DataError, match=r"utt2spk:3: utterance 'u1' appears twice \(first at line 1\)"):
        read_kaldi_text(path)


def test_kaldi_text_empty_value_names_line(tmp_path):
    path = tmp_path / "text.en"
    path.write_text("u1 hello\nu2\n")
    with pytest.raises(DataError, match=r"text.en:2: utterance 'u2' has an empty value"):
        read_kaldi_text(path)
    assert read_kaldi_text(path, allow_empty_value=True) == {"u1": "hello", "u2": ""}


def test_write_kaldi_text_refuses_ids_with_spaces_and_leaves_nothing(tmp_path):
    path = tmp_path / "text.en"
    with pytest.raises(DataError, match="invalid utterance id 'a b'"):
        write_kaldi_text(path, {"a b": "x"})
    assert list(tmp_path.iterdir()) == []


def test_ctm_round_trip(tmp_path):
    spans = {"u2": [WordSpan("the", 0.0, 0.25), WordSpan("cat", 0.25, 0.4)],
             "u1": [WordSpan("hello", 0.125, 0.5)]}
    path = tmp_path / "oracle.en.ctm"
    write_ctm(path, spans)
    back = read_ctm(path)
    assert list(back) == ["u1", "u2"]
    assert back == spans
    assert back["u2"][1].end == pytest.approx(0.65)
    assert path.read_text().splitlines()[0] == "u1 1 0.125 0.500 hello"


def test_ctm_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "oracle.fr.ctm"
    path.write_text("u1 1 0.0 0.2 le\nu1 1 0.2 chat\n")
    with pytest.raises(DataError, match=r"oracle.fr.ctm:2: expected 'utt channel start duration word"):
        read_ctm(path)
    path.write_text("u1 1 0.0 -0.2 le\n")
    with pytest.raises(DataError, match=r"oracle.fr.ctm:1: negative start or duration in utterance 'u1'"):
        read_ctm(path)


def test_atomic_write_failure_leaves_nothing_and_keeps_old_file(tmp_path):
    path = tmp_path / "wav.scp.en"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wav.scp.en"]


def test_atomic_write_gives_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
