"""Implausible alignments: duration ratios, silence inside the outer words; counted by align-report,
dropped (and listed) by the align stage."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from align_testutils import FS, silence, tone

from s2s_plugin.align.plausibility import check_plausible, duration_ratios, edge_silences
from s2s_plugin.align.stage import AlignConfig, align_dir
from s2s_plugin.bin.main import main
from s2s_plugin.data.io import WordSpan, read_ctm
from s2s_plugin.errors import ConfigError


def test_duration_ratios_and_reasons_exact():
    # 10 characters in 1.0 s: 0.1 s per character
    spans = [WordSpan("abcd", 0.0, 0.4), WordSpan("ef", 0.4, 0.5), WordSpan("?", 0.9, 0.0), WordSpan("ghij", 0.9, 0.1)]
    assert duration_ratios(spans) == pytest.approx([1.0, 2.5, None, 0.25])  # '?' has no letters: not checked
    assert check_plausible(spans, max_ratio=3.0, max_edge_silence=None) == \
        ["word 4 'ghij': 0.10 s, 0.25x what its 4 characters predict (0.40 s)"]
    assert check_plausible(spans, max_ratio=2.0, max_edge_silence=None) == \
        ["word 2 'ef': 0.50 s, 2.50x what its 2 characters predict (0.20 s)",
         "word 4 'ghij': 0.10 s, 0.25x what its 4 characters predict (0.40 s)"]
    assert check_plausible(spans, max_ratio=None, max_edge_silence=None) == []
    with pytest.raises(ConfigError, match="must be > 1"):
        check_plausible(spans, max_ratio=0.5)


def test_edge_silence_inside_the_outer_words():
    wav = np.concatenate([silence(0.6), tone(1.0), silence(0.2)])  # speech from 0.6 to 1.6 s
    spans = [WordSpan("un", 0.0, 1.0), WordSpan("deux", 1.0, 0.8)]
    lead, trail = edge_silences(spans, wav, FS)
    assert lead == pytest.approx(0.6, abs=0.015) and trail == pytest.approx(0.2, abs=0.015)
    assert check_plausible(spans, wav, FS, max_ratio=None, max_edge_silence=0.5) == \
        ["0.59 s of silence at the start of the first word 'un'"]
    assert check_plausible(spans, wav, FS, max_ratio=None, max_edge_silence=0.7) == []
    assert check_plausible(spans, None, None, max_ratio=None, max_edge_silence=0.1) == []  # no audio: not checked


def test_stage_drops_implausible_and_report_counts_them(make_dir, tmp_path, capsys, registry):
    d = make_dir({"s1_a": ("un deux", "one two"), "s1_b": ("trois", "three")})
    # an oracle with a 0.2 s word and a 1 s word: 'one' lasts 0.1x what its characters predict
    (d / "skewed.en.ctm").write_text("s1_a 1 0.20 0.05 one\ns1_a 1 0.25 0.95 two\ns1_b 1 0.20 1.00 three\n")
    conf = tmp_path / "align.yaml"
    conf.write_text(yaml.safe_dump({"aligner": {"name": "ctm", "path": "{dir}/skewed.{lang}.ctm"},
                                    "max_duration_ratio": 4.0}))
    assert main(["align", "--config", str(conf), "--dir", str(d), "--lang", "en", "--out", "kept"]) == 0
    assert "aligned 1 of 2 utterances, 0 failed, 1 dropped as implausible" in capsys.readouterr().out
    assert list(read_ctm(d / "kept.en.ctm")) == ["s1_b"]
    assert (d / "kept.en.dropped").read_text().splitlines() == [
        "# utt\tstatus\tmessage", "s1_a\tdropped\tword 1 'one': 0.05 s, 0.10x what its 3 characters predict (0.50 s)"]
    # without the threshold every utterance is kept; the report counts the implausible one
    summary = align_dir(d, "en", AlignConfig(aligner={"name": "ctm", "path": "{dir}/skewed.{lang}.ctm"}),
                        out="all")
    assert summary["dropped"] == 0 and summary["aligned"] == 2
    assert main(["align-report", "--dirs", str(d), "--lang", "en", "--hyp_name", "all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["by_lang"]["en"]["implausible_utterances"] == 1
    assert main(["align-report", "--dirs", str(d), "--lang", "en", "--hyp_name", "all", "--list_implausible",
                 "--max_duration_ratio", "10"]) == 0
    assert "implausible" not in capsys.readouterr().out.split("\n", 1)[1]
    with pytest.raises(ConfigError, match="max_duration_ratio must be > 1"):
        AlignConfig(aligner={"name": "uniform"}, max_duration_ratio=1.0)
