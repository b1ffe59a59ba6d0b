"""Loading S2ST examples from dump dirs (units, texts, CTMs) and the text-only corpus."""
from __future__ import annotations

import pytest
import yaml

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.llm.examples import load_examples, load_text_corpus


def write_dump(d, info=True, frame_rate=50.0, dedup=False):
    """Two fr -> en utterances; utt1's word times in frames at 50 units/s: [2,6) [6,10) / [1,5) [5,9)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "text.fr").write_text("utt1 le chat\nutt2 un chien\n")
    (d / "text.en").write_text("utt1 the cat\nutt2 a dog\n")
    (d / "units.fr").write_text("utt1 " + " ".join(["1"] * 12) + "\nutt2 " + " ".join(["2"] * 10) + "\n")
    (d / "units.en").write_text("utt1 " + " ".join(["3"] * 10) + "\nutt2 " + " ".join(["4"] * 10) + "\n")
    (d / "align.fr.ctm").write_text("utt1 1 0.04 0.08 le\nutt1 1 0.12 0.08 chat\n"
                                    "utt2 1 0.00 0.10 un\nutt2 1 0.10 0.10 chien\n")
    (d / "align.en.ctm").write_text("utt1 1 0.02 0.08 the\nutt1 1 0.10 0.08 cat\n"
                                    "utt2 1 0.00 0.10 a\nutt2 1 0.10 0.10 dog\n")
    if info:
        for lang in ("fr", "en"):
            (d / f"units.{lang}.info").write_text(yaml.safe_dump(
                {"frame_rate": frame_rate, "n_clusters": 8, "dedup": dedup, "fit_id": "f1"}))
    return d


def test_spans_in_unit_frames_from_info(tmp_path):
    d = write_dump(tmp_path / "train_fr")
    examples, report = load_examples(d, tgt_lang="en")  # source language and frame rate found on disk
    assert [ex.utt for ex in examples] == ["utt1", "utt2"] and report.n_loaded == 2 and not report.skipped
    ex = examples[0]
    assert (ex.src.lang, ex.tgt.lang) == ("fr", "en")
    assert ex.src.words == ["le", "chat"] and ex.src.units == [1] * 12
    assert ex.src.spans == [(2, 6), (6, 10)]
    assert ex.tgt.spans == [(1, 5), (5, 9)]
    # no alignment needed: none loaded, and no frame rate needed
    examples, _ = load_examples(write_dump(tmp_path / "noinfo", info=False), align_sides=())
    assert examples[0].src.spans is None and examples[0].tgt.spans is None


def test_ctm_word_mismatch_names_file_and_utterance(tmp_path):
    d = write_dump(tmp_path / "train_fr")
    (d / "align.fr.ctm").write_text("utt1 1 0.04 0.08 le\nutt1 1 0.12 0.08 chien\n"
                                    "utt2 1 0.00 0.10 un\nutt2 1 0.10 0.10 chien\n")
    with pytest.raises(DataError, match=r"align\.fr\.ctm: utterance 'utt1' aligns the words 'le chien' but the "
                                        r"transcript has 'le chat'.*skip_bad"):
        load_examples(d)
    examples, report = load_examples(d, skip_bad=True)
    assert [ex.utt for ex in examples] == ["utt2"]
    assert report.skipped == {"CTM/text mismatch": 1} and "utt1" in str(report)


def test_missing_units_and_missing_alignment(tmp_path):
    d = write_dump(tmp_path / "train_fr")
    (d / "units.en").write_text("utt1 " + " ".join(["3"] * 10) + "\n")
    with pytest.raises(DataError, match=r"units\.en: no units for utterance 'utt2'"):
        load_examples(d)
    d2 = write_dump(tmp_path / "b")
    (d2 / "align.en.ctm").write_text("utt1 1 0.02 0.08 the\nutt1 1 0.10 0.08 cat\n")
    with pytest.raises(DataError, match=r"align\.en\.ctm: utterance 'utt2' has no words"):
        load_examples(d2)
    # stage 5 reported it as failed: skipped and counted even without skip_bad
    (d2 / "align.en.report").write_text("utt2\tfailed\taudio too short for its text\n")
    examples, report = load_examples(d2)
    assert [ex.utt for ex in examples] == ["utt1"] and report.skipped == {"alignment failed": 1}
    (d2 / "align.en.ctm").unlink()
    with pytest.raises(DataError, match=r"align\.en\.ctm: word alignment not found.*stage 5"):
        load_examples(d2)
    # only the source side interleaved: the target CTM is not needed
    examples, _ = load_examples(d2, align_sides=("src",))
    assert examples[1].tgt.spans is None and examples[1].src.spans == [(0, 5), (5, 10)]


def test_frame_rate_checks(tmp_path):
    # a CTM that runs past the units: the frame rate is wrong
    d = write_dump(tmp_path / "a", info=False)
    with pytest.raises(DataError, match=r"utterance 'utt1' has words up to 0\.20 s but its 12 units cover "
                                        r"0\.02 s at 500 units/s"):
        load_examples(d, frame_rate=500.0)
    with pytest.raises(ConfigError, match="remove data.frame_rate"):
        load_examples(write_dump(tmp_path / "a2"), frame_rate=25.0)
    d = write_dump(tmp_path / "b", info=False)
    with pytest.raises(ConfigError, match=r"frame rate of units\.fr is unknown.*data\.frame_rate"):
        load_examples(d)
    assert load_examples(d, frame_rate=50.0)[0][0].src.spans == [(2, 6), (6, 10)]
    d = write_dump(tmp_path / "c", dedup=True)
    with pytest.raises(ConfigError, match="de-duplicated"):
        load_examples(d)


def test_malformed_units_and_source_language(tmp_path):
    d = write_dump(tmp_path / "a")
    (d / "units.fr").write_text("utt1 1 x 2\n")
    with pytest.raises(DataError, match=r"units\.fr:1: utterance 'utt1' has a unit that is not an integer"):
        load_examples(d)
    d = write_dump(tmp_path / "b")
    (d / "units.es").write_text("utt1 1\n")
    with pytest.raises(DataError, match=r"cannot tell the source language.*\['en', 'es', 'fr'\]"):
        load_examples(d)
    assert load_examples(d, src_lang="fr")[1].src_lang == "fr"


def test_text_corpus(tmp_path):
    (tmp_path / "text.fr").write_text("a1 le chat\na2 le chien\n")
    (tmp_path / "text.en").write_text("a1 the cat\na2 the dog\n")
    (tmp_path / "mono.es").write_text("b1 el gato\n")
    items = load_text_corpus(mono=[tmp_path / "mono.es"], parallel=[[tmp_path / "text.fr", tmp_path / "text.en"]])
    assert [(i.src_lang, i.src_words, i.tgt_lang, i.tgt_words) for i in items] == [
        ("es", ["el", "gato"], None, None), ("fr", ["le", "chat"], "en", ["the", "cat"]),
        ("fr", ["le", "chien"], "en", ["the", "dog"])]
    (tmp_path / "text.en").write_text("a1 the cat\n")
    with pytest.raises(DataError, match="must hold the same ids: 1 only in the first"):
        load_text_corpus(parallel=[[tmp_path / "text.fr", tmp_path / "text.en"]])
