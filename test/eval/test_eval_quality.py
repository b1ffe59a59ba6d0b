"""Speech quality in stage 11 and `s2s compare`: scores.json, RESULTS.md, the listening page, old runs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf

from s2s_plugin.bin.main import main
from s2s_plugin.config import load_config
from s2s_plugin.data.io import read_kaldi_text
from s2s_plugin.errors import DataError
from s2s_plugin.eval.report import load_runs
from s2s_plugin.eval.score import QUALITY_METRICS, ScoreConfig, run_stage
from s2s_plugin.quality.wada import wada_snr

QUALITY = "quality:\n  name: length_quality\n  scale: 10.0\n"
#: how the reports label length_quality: scorer, unit, direction
LQ = "[length_quality] (seconds x scale, higher is better)"


def _seconds(scp_path):
    """Per utterance: its length in seconds, times 10 (what length_quality with scale 10 scores)."""
    return {u: sf.info(p).frames / sf.info(p).samplerate * 10 for u, p in read_kaldi_text(scp_path).items()}


def _score(corpus, exp, extra=QUALITY, overrides=()):
    cfg = load_config(ScoreConfig, corpus.score_yaml(extra), ["plots=false", *overrides])
    return run_stage(cfg, exp, ["test_fr", "test_es"], corpus.dump, f"s2s score --exp {exp}")


def test_quality_per_set_overall_and_reference(eval_registry, corpus):
    exp = corpus.make_exp("scheduled_seed1")
    scores = _score(corpus, exp)
    ours = {s.name: _seconds(exp / f"decode_{s.name}" / "wav.scp") for s in corpus.sets}
    refs = {s.name: _seconds(corpus.dump / s.name / "wav.scp.en") for s in corpus.sets}
    for name in ("test_fr", "test_es"):
        row = scores["sets"][name]
        assert row["quality"] == pytest.approx(np.mean(list(ours[name].values())), abs=0.005)
        assert row["quality_ref_speech"] == pytest.approx(np.mean(list(refs[name].values())), abs=0.005)
        det = row["details"]["quality"]
        assert det["n"] == len(ours[name]) and det["unscored"] == 0
        assert det["sd"] == pytest.approx(np.std(list(ours[name].values()), ddof=1), abs=0.005)
        kept = read_kaldi_text(exp / f"decode_{name}" / "score" / "quality.en")
        assert {u: float(v) for u, v in kept.items()} == pytest.approx(ours[name], abs=1e-4)
        assert (exp / f"decode_{name}" / "score" / "topline_ref_speech.quality.en").is_file()
    pooled = [v for d in ours.values() for v in d.values()]
    assert scores["overall"]["quality"] == pytest.approx(np.mean(pooled), abs=0.005)
    assert scores["mean"]["quality"] == pytest.approx(
        (scores["sets"]["test_fr"]["quality"] + scores["sets"]["test_es"]["quality"]) / 2, abs=0.01)
    assert scores["quality"]["name"] == "length_quality" and scores["quality"]["unit"] == "seconds x scale"
    assert scores["quality"]["scorer"] == {"name": "length_quality", "scale": 10.0}

    results = (exp / "RESULTS.md").read_text()
    header = next(line for line in results.splitlines() if line.startswith("| set |"))
    assert f"quality {LQ}" in header and f"quality ref speech {LQ}" in header
    row = next(line for line in results.splitlines() if line.startswith("| test_fr |"))
    assert f"| {scores['sets']['test_fr']['quality']:.2f} |" in row
    assert "Speech quality **length_quality** (seconds x scale)" in results and "**higher is better**" in results

    page = (exp / "listen" / "index.html").read_text()
    fr_mean, fr_sd = scores["sets"]["test_fr"]["quality"], scores["sets"]["test_fr"]["details"]["quality"]["sd"]
    assert (f"mean over the whole set: our speech {fr_mean:.2f} ± {fr_sd:.2f} (sd) over 3 utterances; "
            "reference speech") in page
    assert f"our speech {ours['test_fr']['fr_1']:.2f}; reference speech {refs['test_fr']['fr_1']:.2f}" in page
    assert f"<th>quality {LQ}</th>" in page
    assert "Quality length_quality (seconds x scale; higher is better), mean over the whole set" in page


def test_unscored_utterances_and_no_toplines(eval_registry, corpus):
    exp = corpus.make_exp("x")
    shortest = min(sf.info(p).frames for s in corpus.sets
                   for p in read_kaldi_text(exp / f"decode_{s.name}" / "wav.scp").values())
    scores = _score(corpus, exp, QUALITY + f"  min_samples: {shortest + 1}\n", ["toplines=false"])
    counts = [scores["sets"][s]["details"]["quality"]["unscored"] for s in ("test_fr", "test_es")]
    assert sum(counts) == 1 and scores["overall"]["details"]["quality"]["unscored"] == 1
    assert all(math.isfinite(scores["sets"][s]["quality"]) for s in ("test_fr", "test_es"))
    assert scores["sets"]["test_fr"]["quality_ref_speech"] is None
    assert "unscored" in (exp / "listen" / "index.html").read_text()


def test_embedded_default_scores_with_wada_snr(eval_registry, corpus):
    exp = corpus.make_exp("y")
    scores = _score(corpus, exp, "quality:\n  name: wada_snr\n", ["listen_samples=0"])
    scp = read_kaldi_text(exp / "decode_test_es" / "wav.scp")
    want = np.mean([wada_snr(sf.read(p)[0]) for p in scp.values()])
    assert scores["sets"]["test_es"]["quality"] == pytest.approx(want, abs=0.005)
    assert scores["quality"]["unit"].startswith("dB")


def test_without_a_quality_block_nothing_is_scored(eval_registry, corpus):
    exp = corpus.make_exp("z")
    scores = _score(corpus, exp, extra="", overrides=["listen_samples=0"])
    assert scores["quality"] is None and scores["sets"]["test_fr"]["quality"] is None
    assert not (exp / "decode_test_fr" / "score" / "quality.en").exists()
    assert "Speech quality: not scored" in (exp / "RESULTS.md").read_text()


def _old_format(exp):
    """Rewrite a scores.json as a version without quality scores wrote it."""
    path = exp / "scores.json"
    data = json.loads(path.read_text())
    del data["quality"]
    for block in (*data["sets"].values(), data["overall"], data["mean"]):
        for key in QUALITY_METRICS:
            block.pop(key, None)
            block.get("details", {}).pop(key, None)
    for key in QUALITY_METRICS:
        del data["metrics"][key]
    path.write_text(json.dumps(data))


def test_compare_shows_quality_per_system_and_old_runs_as_not_scored(eval_registry, corpus, capsys):
    fr, es = corpus.sets
    worse = {"test_fr": (fr.hyp_src, fr.hyp_tgt, {**fr.asr_out, "fr_1": "the cat"}),
             "test_es": (es.hyp_src, es.hyp_tgt, es.asr_out)}
    exps = [corpus.make_exp("s2st_scheduled_seed1"), corpus.make_exp("s2st_scheduled_seed2"),
            corpus.make_exp("s2st_baseline_seed1", hyps=worse)]
    for exp in exps:
        _score(corpus, exp, overrides=["listen_samples=0"])
    _old_format(exps[2])
    s1, s2 = (json.loads((e / "scores.json").read_text()) for e in exps[:2])
    out, results = corpus.root / "cmp" / "table.md", corpus.root / "cmp" / "RESULTS.md"
    assert main(["compare", "--exps", *map(str, exps), "--out", str(out), "--results", str(results),
                 "--resource_order", "fr", "es", "--bootstrap", "50"]) == 0
    capsys.readouterr()

    table = out.read_text()
    section = table.split(f"## quality {LQ}\n", 1)[1].split("\n## ", 1)[0]
    a, b = s1["sets"]["test_fr"]["quality"], s2["sets"]["test_fr"]["quality"]
    sched = next(line for line in section.splitlines() if line.startswith("| s2st_scheduled |"))
    assert sched.startswith(f"| s2st_scheduled | 2 | {(a + b) / 2:.2f} ± {np.std([a, b], ddof=1):.2f} |")
    base = next(line for line in section.splitlines() if line.startswith("| s2st_baseline |"))
    assert base == "| s2st_baseline | 0 | not scored | not scored | not scored |"
    assert f"## quality ref speech {LQ}" in table
    assert "## quality ref units+vocoder" not in table   # no run was scored with a vocoder: no such section
    assert (out.parent / "table.quality.png").is_file() and "![quality [length_quality]" in table
    assert "Not scored in `" in table and "s2st_baseline_seed1" in table

    text = results.read_text()
    section = text.split(f"### quality {LQ}\n", 1)[1].split("\n#", 1)[0]
    assert "| s2st_baseline | 1 | not scored | not scored |" in section
    assert next(line for line in section.splitlines() if line.startswith("| s2st_scheduled | 1 2 |")).count("±") == 2
    assert next(line for line in text.splitlines() if line.startswith(f"| quality ref speech {LQ} |"))


def test_compare_of_old_runs_only_and_of_different_scorers(eval_registry, corpus, capsys):
    exps = [corpus.make_exp("a_seed1"), corpus.make_exp("b_seed1")]
    for exp in exps:
        _score(corpus, exp, overrides=["listen_samples=0"])
    other = json.loads((exps[1] / "scores.json").read_text())
    other["quality"]["scorer"]["scale"] = 2.0
    (exps[1] / "scores.json").write_text(json.dumps(other))
    with pytest.raises(DataError, match="scored speech quality differently"):
        load_runs(exps)
    for exp in exps:
        _old_format(exp)
    out = corpus.root / "t.md"
    assert main(["compare", "--exps", *map(str, exps), "--out", str(out)]) == 0
    capsys.readouterr()
    table = out.read_text()
    assert "## quality\n" in table and "| a | 0 | not scored |" in table
    assert "Speech quality: not scored (these runs were scored without a `quality` block" in table


GAP = "quality:\n  name: length_gap\n"
#: how the reports label length_gap
LG = "[length_gap] (seconds, lower is better)"


def _units_seconds(corpus, set_name):
    """Per utterance: the seconds the lookup vocoder makes of its reference units (160 samples per unit)."""
    units = read_kaldi_text(corpus.dump / set_name / "units.en")
    return {u: len(v.split()) * 160 / 16000 for u, v in units.items()}


def test_a_reference_scorer_gets_each_references_speech_and_scores_the_vocoder_topline(eval_registry, corpus):
    exp = corpus.make_exp("gap_seed1")
    scores = _score(corpus, exp, GAP, [f"vocoder_exp={corpus.vocoder_exp}"])
    for s in corpus.sets:
        ours = _seconds(exp / f"decode_{s.name}" / "wav.scp")
        refs = _seconds(corpus.dump / s.name / "wav.scp.en")
        voc = _units_seconds(corpus, s.name)
        gap = {u: abs(ours[u] - refs[u]) / 10 for u in ours}          # _seconds is seconds x 10
        voc_gap = {u: abs(voc[u] - refs[u] / 10) for u in voc}
        row = scores["sets"][s.name]
        assert row["quality"] == pytest.approx(np.mean(list(gap.values())), abs=0.005)
        assert row["quality_ref_units"] == pytest.approx(np.mean(list(voc_gap.values())), abs=0.005)
        assert row["quality_ref_speech"] is None                       # the reference against itself: left out
        score_dir = exp / f"decode_{s.name}" / "score"
        kept = read_kaldi_text(score_dir / "topline_ref_units.quality.en")
        assert {u: float(v) for u, v in kept.items()} == pytest.approx(voc_gap, abs=1e-4)
        assert not (score_dir / "topline_ref_speech.quality.en").exists()
    q = scores["quality"]
    assert q["higher_is_better"] is False and q["needs_reference"] is True and "lower is better" in q["what"]

    results = (exp / "RESULTS.md").read_text()
    header = next(line for line in results.splitlines() if line.startswith("| set |"))
    assert f"| quality {LG} |" in header and f"| quality ref units+vocoder {LG} |" in header
    assert "quality ref speech" not in header
    assert "**lower is better**" in results and "no reference-speech topline" in results
    page = (exp / "listen" / "index.html").read_text()
    assert "Quality length_gap (seconds, |length - reference length|; lower is better)" in page
    assert "; reference units through the vocoder " in page and "reference speech 0." not in page


def test_a_wada_style_scorer_also_scores_the_vocoder_topline(eval_registry, corpus):
    exp = corpus.make_exp("voc")
    scores = _score(corpus, exp, overrides=[f"vocoder_exp={corpus.vocoder_exp}", "listen_samples=0"])
    voc = _units_seconds(corpus, "test_es")
    assert scores["sets"]["test_es"]["quality_ref_units"] == pytest.approx(10 * np.mean(list(voc.values())),
                                                                           abs=0.005)
    assert scores["sets"]["test_es"]["quality_ref_speech"] is not None and scores["quality"]["higher_is_better"]


def test_a_missing_reference_is_named(eval_registry, corpus):
    exp = corpus.make_exp("gap_missing")
    scp = corpus.dump / "test_es" / "wav.scp.en"
    scp.write_text("".join(line + "\n" for line in scp.read_text().splitlines() if not line.startswith("es_2 ")))
    with pytest.raises(DataError, match=r"wav.scp.en: no reference speech for utterance 'es_2' \(1 of 2 missing\); "
                                        "quality scorer 'length_gap' compares"):
        _score(corpus, exp, GAP, ["toplines=false", "listen_samples=0"])


def _speech(n: int, vowels: str) -> np.ndarray:
    """``n`` samples at 16 kHz of WORLD speech through ``vowels`` (test/speech_testutils.py)."""
    from speech_testutils import vowel_speech

    wave = vowel_speech(vowels, per_vowel=n / 16000 / len(vowels))
    return np.pad(wave, (0, max(0, n - wave.size)))[:n]


def test_mcd_dtw_end_to_end(eval_registry, corpus):
    """Stage 11 with the real mcd_dtw: our test_fr speech is the reference speech (0 dB), test_es other speech."""
    exp = corpus.make_exp("mcd")
    for s in corpus.sets:
        refs = read_kaldi_text(corpus.dump / s.name / "wav.scp.en")
        ours = read_kaldi_text(exp / f"decode_{s.name}" / "wav.scp")
        for k, u in enumerate(sorted(refs)):
            n_ref, n_ours = sf.info(refs[u]).frames, sf.info(ours[u]).frames   # the lookup ASR keys on lengths
            sf.write(refs[u], _speech(n_ref, "aiueo"[k:] + "a"), 16000, subtype="FLOAT")
            same = s.name == "test_fr"
            sf.write(ours[u], sf.read(refs[u])[0][:n_ours] if same else _speech(n_ours, "uoiea"[k:] + "i"),
                     16000, subtype="FLOAT")
    scores = _score(corpus, exp, "quality:\n  name: mcd_dtw\n", [f"vocoder_exp={corpus.vocoder_exp}",
                                                                 "listen_samples=0"])
    fr, es = scores["sets"]["test_fr"], scores["sets"]["test_es"]
    assert fr["quality"] < 0.5 < 4.0 < es["quality"]
    assert fr["details"]["quality"]["unscored"] == 0
    # the lookup vocoder writes silence: nothing to analyse, every utterance unscored
    assert fr["quality_ref_units"] is None and fr["details"]["quality_ref_units"]["unscored"] == 3
    assert scores["quality"]["unit"].startswith("dB") and not scores["quality"]["higher_is_better"]
    assert "quality [mcd_dtw] (dB, lower is better)" in (exp / "RESULTS.md").read_text()
