"""`s2s data validate`: every kind of problem is found and named (file, line, utterance)."""
from __future__ import annotations

import re

import pytest
import soundfile as sf
from data_testutils import FS, tone, write_lines

from s2s_plugin.bin.main import main
from s2s_plugin.data.validate import normalize_words, validate_datadir
from s2s_plugin.errors import DataError


def problems(d, **kw) -> list[str]:
    report = validate_datadir(d, **kw)
    assert report.num_problems == len(report.problems)
    return report.problems


def edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_clean_dir_passes_with_summary(make_datadir):
    d = make_datadir()
    report = validate_datadir(d)
    assert report.ok and report.problems == []
    assert report.num_utts == 3 and report.langs == ("fr", "en")
    assert report.seconds == pytest.approx({"fr": 1.5, "en": 1.35}, abs=1e-4)
    assert report.summary() == (f"{d}: OK: 3 utterances, fr->en, 0.001 hours of audio "
                                f"(fr 1.5 seconds, en 1.35 seconds)")


def test_unsorted_ids(make_datadir):
    d = make_datadir()
    write_lines(d / "text.fr", ["spk1_b le chat ne", "spk1_a le chat", "spk2_c le chat ne dort"])
    assert problems(d) == [f"{d}/text.fr:2: utterance 'spk1_a' is out of order (after 'spk1_b' at line 1); "
                           f"1 line(s) out of order in this file: sort it with `LC_ALL=C sort -k1,1 -u`"]


def test_c_locale_order_puts_upper_case_first(make_datadir):
    d = make_datadir(durations={"B_x": (0.3, 0.3), "a_y": (0.3, 0.3)})
    assert validate_datadir(d).ok   # "B_x" < "a_y" in bytes; a natural-language sort would flag it
    for name in ("text.fr", "text.en", "wav.scp.fr", "wav.scp.en", "utt2spk"):
        lines = (d / name).read_text().splitlines()
        write_lines(d / name, lines[::-1])
    assert len(problems(d, check_audio=False)) == 5


def test_non_utf8_line(make_datadir):
    d = make_datadir()
    with open(d / "text.en", "ab") as f:
        f.write(b"spk3_z caf\xe9\n")
    found = problems(d, check_audio=False)
    assert found[0] == (f"{d}/text.en:4: not valid UTF-8 (invalid continuation byte at byte 10); "
                        f"Kaldi files must be UTF-8: convert it, e.g. iconv -f latin1 -t utf-8")


def test_duplicate_id(make_datadir):
    d = make_datadir()
    write_lines(d / "utt2spk", ["spk1_a spk1", "spk1_b spk1", "spk1_b spk1", "spk2_c spk2"])
    assert problems(d) == [f"{d}/utt2spk:3: utterance 'spk1_b' appears twice (first at line 2)"]


def test_missing_utterance_in_one_file(make_datadir):
    d = make_datadir()
    write_lines(d / "wav.scp.en", [line for line in (d / "wav.scp.en").read_text().splitlines()
                                   if not line.startswith("spk1_b")])
    assert problems(d) == [f"{d}/wav.scp.en: utterance 'spk1_b' (text.fr line 2) is missing; "
                           f"1 utterance(s) of text.fr missing from wav.scp.en"]


def test_extra_utterance_in_utt2spk(make_datadir):
    d = make_datadir()
    write_lines(d / "utt2spk", ["spk1_a spk1", "spk1_b spk1", "spk2_c spk2", "spk3_x spk3", "spk3_y spk3"])
    assert problems(d) == [f"{d}/utt2spk:4: utterance 'spk3_x' is not in text.fr; "
                           f"2 extra utterance(s) in utt2spk"]


def test_unreadable_audio(make_datadir):
    d = make_datadir()
    bad = d / "wav" / "en" / "spk2_c.wav"
    bad.write_bytes(b"RIFF garbage")
    (d / "wav" / "fr" / "spk1_a.wav").unlink()
    found = problems(d)
    assert len(found) == 2
    assert found[0].startswith(f"{d}/wav.scp.fr:1: utterance 'spk1_a': cannot read audio "
                               f"'{d}/wav/fr/spk1_a.wav': ")
    assert found[1].startswith(f"{d}/wav.scp.en:3: utterance 'spk2_c': cannot read audio '{bad}': ")
    assert validate_datadir(d, check_audio=False).ok


def test_empty_text(make_datadir):
    d = make_datadir(ctm=False)
    edit(d / "text.en", "spk1_b the cat does", "spk1_b ")
    assert problems(d) == [f"{d}/text.en:2: utterance 'spk1_b' has an empty text"]


def test_source_target_id_mismatch(make_datadir):
    d = make_datadir(ctm=False)
    edit(d / "text.en", "spk2_c ", "spk2_z ")
    assert problems(d) == [
        f"source/target ids differ: {d}/text.en: utterance 'spk2_c' (text.fr line 3) is missing; "
        f"1 utterance(s) of text.fr missing from text.en",
        f"source/target ids differ: {d}/text.en:3: utterance 'spk2_z' is not in text.fr; "
        f"1 extra utterance(s) in text.en"]


def test_ctm_words_mismatch(make_datadir):
    d = make_datadir()
    edit(d / "oracle.fr.ctm", "spk1_b 1 0.233 0.233 chat", "spk1_b 1 0.233 0.233 chien")
    assert problems(d) == [f"{d}/oracle.fr.ctm:4: utterance 'spk1_b': CTM words differ from text.fr:2 "
                           f"at word 2: CTM 'chien', text 'chat' (3 CTM words, 3 text words)"]
    edit(d / "oracle.fr.ctm", "spk1_b 1 0.467 0.233 ne\n", "")
    edit(d / "oracle.fr.ctm", "chien", "chat")
    assert problems(d) == [f"{d}/oracle.fr.ctm:4: utterance 'spk1_b': CTM words differ from text.fr:2 "
                           f"at word 3: CTM <end>, text 'ne' (2 CTM words, 3 text words)"]


def test_ctm_missing_utterance_and_unknown_utterance(make_datadir):
    d = make_datadir()
    lines = (d / "oracle.en.ctm").read_text().splitlines()
    write_lines(d / "oracle.en.ctm", [ln.replace("spk2_c", "spk9_z") for ln in lines])
    found = problems(d)
    assert found == [f"{d}/oracle.en.ctm:6: utterance 'spk9_z' is not in text.en",
                     f"{d}/oracle.en.ctm: utterance 'spk2_c' has no words in the CTM but 4 in text.en:3"]


def test_ctm_word_after_end_of_audio(make_datadir):
    d = make_datadir()
    edit(d / "oracle.en.ctm", "spk1_a 1 0.300 0.300 cat", "spk1_a 1 0.300 0.500 cat")
    assert problems(d) == [f"{d}/oracle.en.ctm:2: utterance 'spk1_a': word 'cat' ends at 0.800 s, "
                           f"after the end of the audio (0.600 s)"]


def test_ctm_comparison_ignores_case_and_edge_punctuation(make_datadir):
    d = make_datadir()
    edit(d / "text.en", "spk1_a the cat", "spk1_a The cat.")
    assert validate_datadir(d).ok
    assert normalize_words(["«Non»,", "l'homme", "—", "Été!"]) == ["non", "l'homme", "été"]


def test_segments_checks(make_datadir, tmp_path):
    d = make_datadir(ctm=False)
    sf.write(tmp_path / "rec.wav", tone(1.0), FS)
    for lang in ("fr", "en"):
        write_lines(d / f"wav.scp.{lang}", [f"rec1 {tmp_path / 'rec.wav'}"])
    write_lines(d / "segments", ["spk1_a rec1 0.0 0.4", "spk1_b rec2 0.4 0.8", "spk2_c rec1 0.8 1.5"])
    found = problems(d)
    assert f"{d}/segments:2: utterance 'spk1_b': recording 'rec2' is not in wav.scp.fr" in found
    assert (f"{d}/segments:3: utterance 'spk2_c': segment ends at 1.500 s, after the end of "
            f"recording 'rec1' (1.000 s)") in found
    write_lines(d / "segments", ["spk1_a rec1 0.0 0.4", "spk1_b rec1 0.4 0.8", "spk2_c rec1 0.8 1.0"])
    report = validate_datadir(d)
    assert report.ok and report.seconds == pytest.approx({"fr": 1.0, "en": 1.0})


def test_wrong_languages(make_datadir):
    d = make_datadir()
    assert problems(d, tgt_lang="de") == [
        f"{d}: expected exactly two languages (a source and the target 'de') from "
        f"wav.scp.<lang>/text.<lang>, found: en, fr"]
    (d / "wav.scp.fr").unlink()
    assert problems(d) == [f"{d}/wav.scp.fr: file not found (the set has text.fr)"]


def test_many_problems_are_collected_and_limited(make_datadir):
    d = make_datadir()
    edit(d / "text.en", "spk1_b the cat does", "spk1_b ")
    write_lines(d / "utt2spk", ["spk1_a spk1", "spk1_a spk1", "spk1_b spk1", "spk2_c spk2"])
    (d / "wav" / "fr" / "spk2_c.wav").write_bytes(b"")
    report = validate_datadir(d)
    assert report.num_problems == 4  # empty text, duplicate, unreadable audio, CTM vs empty text
    short = validate_datadir(d, max_problems=2)
    assert short.num_problems == 4 and len(short.problems) == 2
    assert short.error_message().splitlines()[-1] == "  ... and 2 more (raise --max_problems to see them)"
    with pytest.raises(DataError, match="4 problem"):
        report.raise_if_failed()


def test_cli_exit_codes(make_datadir, capsys):
    d = make_datadir()
    assert main(["data", "validate", str(d), "--tgt_lang", "en"]) == 0
    assert capsys.readouterr().out.strip().startswith(f"{d}: OK: 3 utterances, fr->en")
    (d / "wav" / "en" / "spk1_a.wav").write_bytes(b"junk")
    assert main(["data", "validate", str(d)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"wav.scp.en:1: utterance 'spk1_a': cannot read audio", err)
    assert main(["data", "validate", str(d), "--no-audio"]) == 0
