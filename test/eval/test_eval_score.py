"""Stage 11 end to end on a tiny fake exp: scores.json, RESULTS.md, plots, listening page, errors."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import sacrebleu
import soundfile as sf

from s2s_plugin.bin.main import main
from s2s_plugin.config import load_config
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.eval.normalize import TextNormalizer
from s2s_plugin.eval.score import ScoreConfig, quality_traits, run_seed, run_stage, system_name
from speech_testutils import vowel_speech

NORM = TextNormalizer()


def sacre(hyps: dict, refs: dict) -> float:
    """sacrebleu itself, on the normalised strings, in utterance order."""
    ids = sorted(refs)
    return sacrebleu.corpus_bleu([NORM(hyps[u]) for u in ids], [[NORM(refs[u]) for u in ids]]).score


def _score(corpus, exp, *extra, sets=("test_fr", "test_es")):
    # overrides typed right after --sets (argparse hands them to --sets; the verb moves them back)
    argv = ["score", "--config", str(corpus.score_yaml()), "--exp", str(exp), "--ref_dump", str(corpus.dump),
            "--sets", *sets, *extra]
    return main(argv)


def _tensorboard_logs(exp):
    """Loss and p as a trainer logs them, written with tensorboard's own event writer (no torch)."""
    import time

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(exp / "tensorboard"))
    for step in range(0, 40, 5):
        values = [Summary.Value(tag="train/loss", simple_value=5.0 - step / 10),
                  Summary.Value(tag="train/p", simple_value=max(0.0, 0.9 - 0.1 * (step // 10)))]
        w.add_event(Event(wall_time=time.time(), step=step, summary=Summary(value=values)))
    w.close()


def test_score_writes_results_scores_plots_and_listening_page(eval_registry, corpus, capsys):
    fr, es = corpus.sets
    exp = corpus.make_exp("scheduled_seed3")
    _tensorboard_logs(exp)
    assert _score(corpus, exp, f"vocoder_exp={corpus.vocoder_exp}") == 0
    printed = capsys.readouterr().out

    scores = json.loads((exp / "scores.json").read_text())
    assert scores["system"] == "scheduled" and scores["seed"] == 3
    f, e = scores["sets"]["test_fr"], scores["sets"]["test_es"]
    # the values sacrebleu gives on the normalised strings
    assert f["asr_bleu"] == pytest.approx(sacre(fr.asr_out, fr.ref_tgt), abs=0.005)
    assert f["bleu_text"] == pytest.approx(sacre(fr.hyp_tgt, fr.ref_tgt), abs=0.005)
    assert f["topline_ref_units"] == pytest.approx(sacre(fr.asr_voc, fr.ref_tgt), abs=0.005)
    # the speech against the model's own translation (not the reference)
    assert f["speech_vs_text"] == pytest.approx(sacre(fr.asr_out, fr.hyp_tgt), abs=0.005)
    assert f["speech_vs_text"] != pytest.approx(f["asr_bleu"], abs=0.005)
    assert scores["overall"]["speech_vs_text"] == pytest.approx(
        sacre({**fr.asr_out, **es.asr_out}, {**fr.hyp_tgt, **es.hyp_tgt}), abs=0.005)
    all_ids = {**fr.ref_tgt, **es.ref_tgt}
    assert scores["overall"]["asr_bleu"] == pytest.approx(sacre({**fr.asr_out, **es.asr_out}, all_ids), abs=0.005)
    # hand-checked: case and punctuation differences vanish; 1 substitution in 10 French words
    assert e["asr_bleu"] == 100.0 and e["bleu_text"] == 100.0
    assert f["wer_src"] == 10.0 and e["wer_src"] == 0.0
    assert scores["overall"]["wer_src"] == pytest.approx(100 / 17, abs=0.005)  # 1 error in 10 + 7 words
    assert f["topline_ref_speech"] == e["topline_ref_speech"] == 100.0
    assert f["asr_wer_ref_speech"] == 0.0
    assert 0 < f["asr_bleu"] < 100 and 0 < f["bleu_text"] < 100 and 0 < f["topline_ref_units"] < 100
    assert scores["mean"]["asr_bleu"] == pytest.approx((f["asr_bleu"] + 100.0) / 2, abs=0.01)
    assert scores["overall"]["num_utts"] == 5 and f["src_lang"] == "fr" and f["missing"]["hyp_src"] == 0
    sig = scores["bleu_signature"]
    assert sig.startswith("nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:")
    assert scores["normalization"]["signature"] == "nfkc+lc+punct+ws"
    assert scores["command"].startswith("s2s score --config ") and "--sets test_fr test_es" in scores["command"]
    # the ASR's raw transcripts are kept for inspection
    kept = (exp / "decode_test_es" / "score" / "asr_text.en").read_text()
    assert "es_1 THE BLACK CAT EATS" in kept

    results = (exp / "RESULTS.md").read_text()
    assert results.startswith("# Results: scheduled")
    assert scores["command"] in results and f"`{sig}`" in results and sig in printed
    row = next(line for line in results.splitlines() if line.startswith("| test_fr |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["test_fr", "fr", "3"]
    assert float(cells[3]) == f["asr_bleu"] and float(cells[5]) == 10.0
    assert "| **overall** (pooled) | all | 5 |" in results
    for label in ("ASR-BLEU", "BLEU (T_tgt)", "WER (T_src) %", "ASR-BLEU vs own T_tgt", "ASR-BLEU ref speech",
                  "ASR-BLEU ref units+vocoder"):
        assert label in results
    assert "![scores per set](plots/scores.png)" in results
    assert "![training curves and p](plots/training.png)" in results
    assert "[listen/index.html](listen/index.html)" in results
    for png in ("scores.png", "training.png"):
        assert (exp / "plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (exp / "score" / "config.yaml").is_file() and (exp / "score" / "plugins.yaml").is_file()

    page = (exp / "listen" / "index.html").read_text()
    links = re.findall(r'<audio controls preload="none" src="([^"]+)"', page)
    # 2 samples per set (the first and last id), each: source, ours, reference, vocoded reference
    assert len(links) == 4 * 4
    assert "audio/test_fr/fr_1.src.wav" in links and "audio/test_fr/fr_3.out.wav" in links
    assert "audio/test_es/es_2.ref.wav" in links and "audio/test_fr/fr_3.ref_units.wav" in links
    assert "fr_2" not in page
    for link in links:
        data, sr = sf.read(exp / "listen" / link)
        assert sr == 16000 and len(data) > 0
    assert "the &quot;white&quot; house &lt;b&gt;&amp;&lt;/b&gt; co" in page
    assert "<b>&</b>" not in page
    assert "Le chat noir mange." in page and "a white house" in page
    assert not list(exp.glob(".listen.tmp"))


def test_training_curves_read_from_tensorboard(tmp_path):
    from s2s_plugin.eval.plots import read_scalars

    _tensorboard_logs(tmp_path)
    scalars = read_scalars(tmp_path)
    assert scalars["train/p"][:3] == [(0, pytest.approx(0.9)), (5, pytest.approx(0.9)), (10, pytest.approx(0.8))]
    assert scalars["train/loss"][-1] == (35, pytest.approx(1.5))


def test_training_plot_puts_train_and_valid_of_each_segment_in_one_panel(tmp_path):
    from s2s_plugin.eval.plots import loss_panels, plot_training

    scalars = {"train/loss_tgt_speech": [(10, 2.0)], "valid/loss_src_text": [(250, 2.9)],
               "train/loss_src_text": [(10, 1.8), (20, 1.7)], "train/loss": [(10, 1.5)], "valid/loss": [(250, 1.9)],
               "train/p": [(10, 0.9)], "train/loss_extra": [(10, 0.1)], "lr-AdamW": [(10, 1e-3)]}
    panels = loss_panels(scalars)
    assert list(panels) == ["loss", "loss_src_text", "loss_tgt_speech", "loss_extra"]
    assert panels["loss_src_text"] == {"train": [(10, 1.8), (20, 1.7)], "valid": [(250, 2.9)]}
    assert panels["loss_tgt_speech"] == {"train": [(10, 2.0)]}
    assert loss_panels({"loss": [(1, 1.0)]}) == {"loss": {"loss": [(1, 1.0)]}}

    assert plot_training(tmp_path, tmp_path / "none.png") is None      # no event files: no plot
    _tensorboard_logs(tmp_path)
    out = plot_training(tmp_path, tmp_path / "plots" / "training.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_other_rates_no_vocoder_no_plots(eval_registry, corpus):
    exp = corpus.make_exp("baseline", rate=22050)
    cfg = load_config(ScoreConfig, corpus.score_yaml("plots: false\n"), ["listen_samples=0"])
    scores = run_stage(cfg, exp, ["test_es"], corpus.dump, "cmd")
    assert scores["sets"]["test_es"]["asr_bleu"] == 100.0          # the ASR got 22.05 kHz audio and its rate
    assert scores["sets"]["test_es"]["topline_ref_units"] is None
    assert not (exp / "plots").exists() and not (exp / "listen").exists()
    results = (exp / "RESULTS.md").read_text()
    assert "no vocoder topline" in results and "ASR-BLEU ref units+vocoder" not in results


def test_missing_hypothesis_is_an_error_unless_allowed(eval_registry, corpus, capsys):
    fr = corpus.sets[0]
    partial = {k: v for k, v in fr.hyp_tgt.items() if k != "fr_2"}
    exp = corpus.make_exp("partial", hyps={"test_fr": (fr.hyp_src, partial, fr.asr_out)})
    assert _score(corpus, exp, sets=("test_fr",)) == 2
    err = capsys.readouterr().err
    assert "decode_test_fr/hyp_text.en: no hypothesis for utterance 'fr_2' (1 of 3 missing)" in err
    assert not (exp / "RESULTS.md").exists() and not (exp / "scores.json").exists()

    assert _score(corpus, exp, "allow_missing=true", sets=("test_fr",)) == 0
    scores = json.loads((exp / "scores.json").read_text())
    assert scores["sets"]["test_fr"]["missing"]["hyp_tgt"] == 1
    expected = sacre({**fr.hyp_tgt, "fr_2": ""}, fr.ref_tgt)
    assert scores["sets"]["test_fr"]["bleu_text"] == pytest.approx(expected, abs=0.005)
    assert "Missing hypotheses scored as empty: test_fr: {'hyp_tgt': 1}" in (exp / "RESULTS.md").read_text()


def test_bad_inputs_are_named(eval_registry, corpus):
    fr = corpus.sets[0]
    cfg = load_config(ScoreConfig, corpus.score_yaml())
    exp = corpus.make_exp("extra", hyps={"test_fr": ({**fr.hyp_src, "zz_9": "x"}, fr.hyp_tgt, fr.asr_out)})
    with pytest.raises(DataError, match=r"hyp_text.fr: utterance 'zz_9' is not in the reference set"):
        run_stage(cfg, exp, ["test_fr"], corpus.dump)
    with pytest.raises(DataError, match=r"decode_test_xx: decode dir not found|test_xx: reference set not found"):
        run_stage(cfg, exp, ["test_xx"], corpus.dump)
    (corpus.root / "exp" / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty/decode_test_fr: decode dir not found; run stages 9"):
        run_stage(cfg, corpus.root / "exp" / "empty", ["test_fr"], corpus.dump)


def test_system_name_strips_the_seed(tmp_path):
    assert system_name(tmp_path / "s2st_scheduled_seed12", None) == "s2st_scheduled"
    assert system_name(tmp_path / "s2st_baseline", None) == "s2st_baseline"
    assert system_name(tmp_path / "x_seed1", "mine") == "mine"


def test_run_seed_reads_the_trainer_block_before_the_name(tmp_path):
    exp = tmp_path / "s2st_scheduled_seed1"
    exp.mkdir()
    assert run_seed(exp) == 1  # no config: the name
    (exp / "config.yaml").write_text("trainer:\n  seed: 7\n  max_steps: 10\n")
    assert run_seed(exp) == 7  # stage 8's resolved config says what the run used
    (tmp_path / "s2st_scheduled").mkdir()
    assert run_seed(tmp_path / "s2st_scheduled") is None


def test_vocoder_exp_without_a_fit_is_named(eval_registry, corpus):
    (corpus.vocoder_exp / "fit.json").unlink()
    cfg = load_config(ScoreConfig, corpus.score_yaml(), [f"vocoder_exp={corpus.vocoder_exp}"])
    with pytest.raises(ConfigError, match="no finished vocoder fit"):
        run_stage(cfg, corpus.make_exp("x"), ["test_fr"], corpus.dump)
    cfg = load_config(ScoreConfig, corpus.score_yaml(), [f"vocoder_exp={corpus.root / 'nope'}"])
    with pytest.raises(ConfigError, match="vocoder_exp: .*nope not found; run stage 10"):
        run_stage(cfg, corpus.make_exp("y"), ["test_fr"], corpus.dump)


RECIPE_CONFIGS = sorted(Path(__file__).resolve().parents[2].glob("egs/*/s2st1/conf/score.yaml"))


@pytest.mark.parametrize("conf", RECIPE_CONFIGS, ids=lambda p: p.parts[-4])
def test_recipe_score_configs_load(registry, conf):
    cfg = load_config(ScoreConfig, conf)
    assert cfg.asr["name"] in registry.infos("asr_model")
    assert cfg.quality["name"] in registry.infos("quality_scorer")   # the embedded default: no checkpoint
    scorer = registry.build("quality_scorer", cfg.quality)
    wave = vowel_speech("ai")
    if quality_traits(scorer)[0]:   # compares with the reference speech: the reference itself is 0
        assert scorer.score([wave], 16000, refs=[(wave, 16000)]) == [0.0]
    else:
        assert math.isfinite(scorer.score([wave], 16000)[0])
    assert cfg.normalization == TextNormalizer()  # the documented default protocol
    assert cfg.listen_samples > 0


def test_recipe_score_configs_exist():
    assert RECIPE_CONFIGS, "egs/*/s2st1/conf/score.yaml"


def test_an_incomplete_reference_set_names_the_stage_that_writes_it(tmp_path):
    from s2s_plugin.errors import DataError
    from s2s_plugin.eval.score import require_all

    path = tmp_path / "dump" / "test_fr" / "units.en"
    require_all({"a": "1", "b": "2"}, ["a", "b"], path)
    with pytest.raises(DataError, match=r"test_fr/units.en: no entry for utterance 'b' \(1 of 2 missing\); the "
                                        r"reference set is incomplete: rerun the stage that writes units.en for "
                                        r".*dump/test_fr \(stage 2 for wav.scp, stage 4 for units\)"):
        require_all({"a": "1"}, ["a", "b"], path)
