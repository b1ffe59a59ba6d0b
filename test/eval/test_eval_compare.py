"""`s2s compare`: mean and spread over seeds, grouped by system, from scores.json of several runs."""
from __future__ import annotations

import json
import math

import pytest

from s2s_plugin.bin.main import main
from s2s_plugin.config import load_config
from s2s_plugin.errors import DataError
from s2s_plugin.eval.report import aggregate, load_runs, mean_sd
from s2s_plugin.eval.score import ScoreConfig, run_stage


def test_mean_sd():
    assert mean_sd([20.0, 22.0]) == (21.0, pytest.approx(math.sqrt(2)))
    assert mean_sd([1.0, 2.0, 3.0, 4.0]) == (2.5, pytest.approx(math.sqrt(5 / 3)))
    assert mean_sd([7.0]) == (7.0, None)


def _runs(corpus):
    """scheduled_seed1/2 (the second says less) and baseline_seed1, scored on both sets."""
    fr, es = corpus.sets
    cfg = load_config(ScoreConfig, corpus.score_yaml(), ["plots=false", "listen_samples=0"])
    worse = {"test_fr": (fr.hyp_src, fr.hyp_tgt, {**fr.asr_out, "fr_1": "the cat"}),
             "test_es": (es.hyp_src, es.hyp_tgt, {**es.asr_out, "es_2": "two dogs"})}
    exps = [corpus.make_exp("scheduled_seed1"), corpus.make_exp("scheduled_seed2", hyps=worse),
            corpus.make_exp("baseline_seed1", hyps=worse)]
    for exp in exps:
        run_stage(cfg, exp, ["test_fr", "test_es"], corpus.dump, f"s2s score --exp {exp}")
    return exps


def test_compare_aggregates_mean_and_spread(eval_registry, corpus, capsys):
    exps = _runs(corpus)
    s1, s2, b1 = (json.loads((e / "scores.json").read_text()) for e in exps)
    out = corpus.root / "compare" / "table.md"
    assert main(["compare", "--exps", *map(str, exps), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("# Comparison")

    data = json.loads(out.with_suffix(".json").read_text())["systems"]
    cell = data["scheduled"]["asr_bleu"]["test_fr"]
    a, b = s1["sets"]["test_fr"]["asr_bleu"], s2["sets"]["test_fr"]["asr_bleu"]
    assert a > b  # the second seed is worse
    assert cell["n"] == 2 and cell["values"] == [a, b]
    assert cell["mean"] == pytest.approx((a + b) / 2, abs=0.005)
    assert cell["sd"] == pytest.approx(abs(a - b) / math.sqrt(2), abs=0.005)
    over = data["scheduled"]["asr_bleu"]["overall"]
    assert over["mean"] == pytest.approx((s1["overall"]["asr_bleu"] + s2["overall"]["asr_bleu"]) / 2, abs=0.005)
    base = data["baseline"]["asr_bleu"]["test_es"]
    assert base == {"mean": b1["sets"]["test_es"]["asr_bleu"], "sd": None, "n": 1,
                    "values": [b1["sets"]["test_es"]["asr_bleu"]]}
    assert data["scheduled"]["wer_src"]["test_fr"] == {"mean": 10.0, "sd": 0.0, "n": 2, "values": [10.0, 10.0]}

    table = out.read_text()
    assert f"s2s compare --exps {' '.join(map(str, exps))} --out {out}" in table
    section = table.split("## ASR-BLEU [s2s]\n", 1)[1].split("\n## ", 1)[0]
    assert "| system | runs | test_fr | test_es | overall |" in section
    sched = next(line for line in section.splitlines() if line.startswith("| scheduled |"))
    assert sched.startswith(f"| scheduled | 2 | {cell['mean']:.2f} ± {cell['sd']:.2f} |")
    basel = next(line for line in section.splitlines() if line.startswith("| baseline |"))
    assert basel.startswith(f"| baseline | 1 | {b1['sets']['test_fr']['asr_bleu']:.2f} |")  # no spread for one run
    assert "## WER (T_src) %" in table and "## Runs" in table
    assert "| scheduled | 2 | `" in table  # per-run rows carry the seed
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_compare_refuses_runs_scored_differently(eval_registry, corpus, tmp_path):
    exps = _runs(corpus)
    data = json.loads((exps[1] / "scores.json").read_text())
    data["normalization"]["lowercase"] = False
    (exps[1] / "scores.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="were scored differently \\(normalization"):
        load_runs(exps)
    # the device an ASR ran on does not change its transcripts
    data = json.loads((exps[0] / "scores.json").read_text())
    data["asr"]["device"] = "cuda"
    (exps[1] / "scores.json").write_text(json.dumps(data))
    assert len(aggregate(load_runs(exps))) == 2


def test_compare_missing_scores(tmp_path, capsys):
    assert main(["compare", "--exps", str(tmp_path), "--out", str(tmp_path / "t.md")]) == 2
    assert "scores.json: not found; score that exp first" in capsys.readouterr().err
