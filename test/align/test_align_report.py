"""`s2s align-report`: boundary errors on a hand-made CTM pair (exact), tables, JSON, plots; `s2s plugins`."""
from __future__ import annotations

import json

import pytest

from s2s_plugin.align.report import compare_ctms, summarize
from s2s_plugin.bin.main import main
from s2s_plugin.data.io import WordSpan
from s2s_plugin.errors import DataError

REF = "u1 1 0.00 0.50 a\nu1 1 0.50 0.50 b\nu2 1 0.20 0.40 c\nu3 1 0.00 0.30 d\n"
# errors (ms): starts a 10, b 30, c 50; ends a 30, b 100, c 0; u3 is missing
HYP = "u1 1 0.01 0.52 a\nu1 1 0.53 0.57 b\nu2 1 0.25 0.35 c\n"


def test_boundary_errors_exact():
    ref = {"u1": [WordSpan("a", 0.0, 0.5), WordSpan("b", 0.5, 0.5)], "u2": [WordSpan("c", 0.2, 0.4)],
           "u3": [WordSpan("d", 0.0, 0.3)]}
    hyp = {"u1": [WordSpan("a", 0.01, 0.52), WordSpan("b", 0.53, 0.57)], "u2": [WordSpan("c", 0.25, 0.35)],
           "u9": [WordSpan("e", 0.0, 0.1)]}
    s = summarize(compare_ctms(hyp, ref))
    assert s["utterances"] == 2 and s["words"] == 3 and s["boundaries"] == 6
    assert s["mean_ms"] == pytest.approx(220 / 6, abs=0.01) and s["median_ms"] == pytest.approx(30, abs=0.01)
    assert s["start_median_ms"] == pytest.approx(30, abs=0.01) and s["end_mean_ms"] == pytest.approx(43.33, abs=0.01)
    assert s["within_ms"] == {20: pytest.approx(2 / 6, abs=1e-4), 50: pytest.approx(5 / 6, abs=1e-4), 100: 1.0}
    assert s["missing_utterances"] == 1 and s["extra_utterances"] == 1
    with pytest.raises(DataError, match="utterance 'u2' has other words in the hypothesis \\('x'\\)"):
        compare_ctms({"u2": [WordSpan("x", 0.2, 0.4)]}, ref, where="h vs r")


def test_cli_pairs_dirs_json_and_plot(tmp_path, capsys, make_dir):
    (tmp_path / "align.fr.ctm").write_text(HYP)
    (tmp_path / "oracle.fr.ctm").write_text(REF)
    assert main(["align-report", "--hyp", str(tmp_path / "align.fr.ctm"), "--ref", str(tmp_path / "oracle.fr.ctm")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["set", "lang", "utts", "words", "mean", "ms", "median", "ms", "start", "med",
                                "end", "med", "<=20ms", "<=50ms", "<=100ms", "missing", "implausible"]
    assert lines[1].split()[1:] == ["fr", "2", "3", "36.7", "30.0", "30.0", "30.0", "33.3%", "83.3%", "100.0%", "1",
                                    "0"]

    d = make_dir({"s1_a": ("un deux", "one two"), "s1_b": ("trois", "three")})
    (d / "align.fr.ctm").write_text((d / "oracle.fr.ctm").read_text())
    assert main(["align-report", "--dirs", str(d), "--json"]) == 0  # only fr has both CTMs
    data = json.loads(capsys.readouterr().out)
    assert [(r["set"], r["lang"]) for r in data["rows"]] == [("test_fr", "fr")]
    assert data["by_lang"]["fr"]["median_ms"] == 0.0 and data["by_lang"]["fr"]["within_ms"]["20"] == 1.0

    png = tmp_path / "u.png"
    assert main(["align-report", "--dirs", str(d), "--lang", "fr", "--plot", str(png), "--utt", "s1_a"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert main(["align-report", "--dirs", str(d), "--lang", "fr", "--plot", str(png), "--utt", "nope"]) == 2
    assert "utterance 'nope' is in none of the CTMs" in capsys.readouterr().err
    assert main(["align-report", "--hyp", str(tmp_path / "align.fr.ctm")]) == 2
    assert "in pairs" in capsys.readouterr().err


def test_plugins_lists_the_aligners(capsys, registry):
    assert main(["plugins", "--kind", "aligner"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert {r[1] for r in rows} == {"ctc_segmentation", "uniform", "ctm"}
    assert {r[2] for r in rows} == {"s2s_plugin"}
