"""Stage 10 through the command line: ``s2s vocoder fit`` and ``s2s vocoder synth`` (jobs, merge, errors)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from ckpt_testutils import PWG_PARAMS, write_pwg
from vocoder_testutils import FRAME_RATE, FS, N_UNITS

from s2s_plugin.bin.main import main
from s2s_plugin.config import load_config
from s2s_plugin.errors import ConfigError
from s2s_plugin.vocoder.stage import SynthesisOptions, VocoderConfig, fit_vocoder

RECIPE_CONF = Path(__file__).resolve().parents[2] / "egs" / "mini_s2st" / "s2st1" / "conf" / "vocoder.yaml"


@pytest.fixture(scope="module")
def world_exp(corpus, tmp_path_factory):
    """A world vocoder fitted through ``s2s vocoder fit`` on the corpus."""
    root = tmp_path_factory.mktemp("world_exp")
    conf = root / "vocoder.yaml"
    conf.write_text("vocoder:\n  name: world\n  smooth_ms: 20.0\nmax_utts: 4\nseed: 1\n", encoding="utf-8")
    exp = root / "exp"
    assert main(["vocoder", "fit", "--config", str(conf), "--dirs", str(corpus.dump), "--lang", "en",
                 "--exp", str(exp), "vocoder.vuv_threshold=0.4"]) == 0
    return exp


def _units_file(path: Path, rows: dict[str, list[int]]) -> Path:
    path.write_text("".join(f"{u} {' '.join(map(str, r))}\n".replace(" \n", "\n") for u, r in rows.items()),
                    encoding="utf-8")
    return path


def test_fit_writes_the_exp_dir(world_exp):
    names = {p.name for p in world_exp.iterdir()}
    assert {"config.yaml", "plugins.yaml", "world.npz", "world.json", "fit.json", "fit.log"} <= names
    cfg = yaml.safe_load((world_exp / "config.yaml").read_text())
    # frame_rate and n_units come from units.en.info; the override is applied
    assert cfg["vocoder"] == {"name": "world", "smooth_ms": 20.0, "vuv_threshold": 0.4,
                              "frame_rate": FRAME_RATE, "n_units": N_UNITS}
    fit = json.loads((world_exp / "fit.json").read_text())
    assert fit["utterances_available"] == 5 and fit["utterances_used"] == 4
    assert fit["audio_seconds"] > 3 and fit["fit_seconds"] > 0 and fit["stats"]["units_seen"] > 10
    assert "vocoder fit: world on 4 utterances" in (world_exp / "fit.log").read_text()
    assert yaml.safe_load((world_exp / "plugins.yaml").read_text())["vocoder"]["world"].startswith("s2s_plugin")


def test_synth_jobs_merge_and_run_all(world_exp, corpus, tmp_path):
    rows = {u: corpus.units[u].tolist() for u in ("spk1_a", "spk2_c", "spk1_e")}
    rows["spk0_empty"] = []
    units = _units_file(tmp_path / "hyp_units.en", rows)
    out = tmp_path / "decode"
    base = ["vocoder", "synth", "--exp", str(world_exp), "--units", str(units), "--out", str(out), "--nj", "2"]
    assert main(base + ["--job", "2"]) == 0
    assert not (out / "wav.scp").exists()
    assert main(base + ["--merge"]) == 2  # job 1 has not run
    assert main(base + ["--job", "1"]) == 0
    assert main(base + ["--merge"]) == 0
    scp = dict(line.split(" ", 1) for line in (out / "wav.scp").read_text().splitlines())
    assert sorted(scp) == sorted(rows)
    for utt, path in scp.items():
        assert Path(path) == out / "wav" / f"{utt}.wav"
        wave, sr = sf.read(path, dtype="float32")
        assert sr == FS
        assert len(wave) == (len(rows[utt]) * 320 if rows[utt] else 1600)  # empty: 0.1 s of silence
        assert (np.abs(wave).max() == 0) == (not rows[utt])
    summary = json.loads((out / "synth.json").read_text())
    assert summary["utterances"] == 4 and summary["empty"] == ["spk0_empty"] and 0 < summary["rtf"] < 1
    # one process, all jobs: the same audio
    out2 = tmp_path / "decode2"
    assert main(["vocoder", "synth", "--exp", str(world_exp), "--units", str(units), "--out", str(out2)]) == 0
    for utt in rows:
        np.testing.assert_array_equal(sf.read(out2 / "wav" / f"{utt}.wav")[0], sf.read(out / "wav" / f"{utt}.wav")[0])
    # changed units after the jobs ran: the merge refuses them
    _units_file(units, {**rows, "spk1_a": [1, 2, 3]})
    assert main(base + ["--merge"]) == 2


def test_synth_errors_name_the_utterance(world_exp, tmp_path, capsys):
    units = _units_file(tmp_path / "bad.en", {"utt_a": [1, 2, 3], "utt_b": [4, N_UNITS, 5]})
    out = tmp_path / "decode"
    assert main(["vocoder", "synth", "--exp", str(world_exp), "--units", str(units), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"bad.en:2: utterance 'utt_b': unit {N_UNITS} at position 1 is outside the vocoder's range 0..23" in err
    assert not (out / "wav.scp").exists() and not list((out / "wav").glob(".*tmp"))
    (tmp_path / "text.en").write_text("utt_a 1 two 3\n", encoding="utf-8")
    assert main(["vocoder", "synth", "--exp", str(world_exp), "--units", str(tmp_path / "text.en"),
                 "--out", str(out)]) == 2
    assert "text.en:1: utterance 'utt_a': unit 'two' is not an integer" in capsys.readouterr().err
    assert main(["vocoder", "synth", "--exp", str(tmp_path / "no_exp"), "--units", str(units), "--out",
                 str(out)]) == 2
    assert "no finished vocoder fit" in capsys.readouterr().err


def test_fit_checks_the_block_against_the_units(corpus, tmp_path):
    cfg = VocoderConfig(vocoder={"name": "world", "frame_rate": 100.0})
    with pytest.raises(ConfigError, match=r"vocoder.frame_rate is 100.0 but the units have frame_rate 50.0"):
        fit_vocoder(cfg, [corpus.dump], "en", tmp_path / "exp")
    assert not (tmp_path / "exp" / "fit.json").exists()


def test_unit_hifigan_fit_imports_and_checks(corpus, tmp_path):
    write_pwg(tmp_path / "ckpt", params=dict(PWG_PARAMS, num_embs=N_UNITS))
    conf = tmp_path / "vocoder.yaml"
    conf.write_text(f"vocoder:\n  name: unit_hifigan\n  checkpoint: {tmp_path / 'ckpt'}\n", encoding="utf-8")
    exp = tmp_path / "exp"
    assert main(["vocoder", "fit", "--config", str(conf), "--dirs", str(corpus.dump), "--exp", str(exp)]) == 0
    info = json.loads((exp / "unit_hifigan.json").read_text())
    assert (info["format"], info["hop"], info["n_units"]) == ("pwg", 320, N_UNITS)
    units = _units_file(tmp_path / "u.en", {"utt": corpus.units["spk1_a"].tolist()})
    assert main(["vocoder", "synth", "--exp", str(exp), "--units", str(units), "--out", str(tmp_path / "d")]) == 0
    assert sf.info(tmp_path / "d" / "wav" / "utt.wav").frames == len(corpus.units["spk1_a"]) * 320
    # a generator with fewer units than the tokenizer is refused at fit time
    write_pwg(tmp_path / "small", params=dict(PWG_PARAMS, num_embs=N_UNITS - 4))
    with pytest.raises(ConfigError, match=f"tokenizer has {N_UNITS} units but .* embeds only {N_UNITS - 4}"):
        fit_vocoder(VocoderConfig(vocoder={"name": "unit_hifigan", "checkpoint": str(tmp_path / "small")}),
                    [corpus.dump], "en", tmp_path / "exp2")


def test_speaker_is_a_synthesis_option(corpus, tmp_path, capsys):
    """A multi-speaker vocoder speaks as the config's synthesis.speaker, or as the one given at synthesis."""
    from s2s_plugin.vocoder.unit_hifigan import UnitHiFiGAN

    params = dict(PWG_PARAMS, num_embs=N_UNITS, num_spk_embs=3, spk_emb_dim=PWG_PARAMS["in_channels"])
    write_pwg(tmp_path / "ckpt", params=params)
    conf = tmp_path / "vocoder.yaml"
    conf.write_text(f"vocoder:\n  name: unit_hifigan\n  checkpoint: {tmp_path / 'ckpt'}\nsynthesis:\n  speaker: 1\n",
                    encoding="utf-8")
    exp = tmp_path / "exp"
    assert main(["vocoder", "fit", "--config", str(conf), "--dirs", str(corpus.dump), "--exp", str(exp)]) == 0
    assert yaml.safe_load((exp / "config.yaml").read_text())["synthesis"] == {"speaker": 1}
    seq = corpus.units["spk1_a"].tolist()
    units = _units_file(tmp_path / "u.en", {"utt": seq, "utt2": seq[:20]})
    direct = UnitHiFiGAN(checkpoint=str(tmp_path / "ckpt"))

    def synth(out: str, *extra: str) -> np.ndarray:
        assert main(["vocoder", "synth", "--exp", str(exp), "--units", str(units), "--out", str(tmp_path / out),
                     *extra]) == 0
        return sf.read(tmp_path / out / "wav" / "utt.wav", dtype="float32")[0]

    def as_written(speaker: int) -> np.ndarray:  # what a 16-bit wav file holds
        return np.round(np.clip(direct.synthesize(seq, speaker=speaker)[0], -1, 1) * 32767) / 32768

    one, two = synth("d1"), synth("d2", "synthesis.speaker=2")
    np.testing.assert_allclose(one, as_written(1), atol=2 / 32768)
    np.testing.assert_allclose(two, as_written(2), atol=2 / 32768)
    assert np.abs(one - two).max() > 1e-3
    assert json.loads((tmp_path / "d2" / "synth.json").read_text())["synthesis"] == {"speaker": 2}
    # parallel jobs must agree on the options
    base = ["vocoder", "synth", "--exp", str(exp), "--units", str(units), "--out", str(tmp_path / "d3"), "--nj", "2"]
    assert main(base + ["--job", "1", "synthesis.speaker=0"]) == 0
    assert main(base + ["--job", "2", "synthesis.speaker=2"]) == 0
    capsys.readouterr()
    assert main(base + ["--merge"]) == 2
    assert "ran with synthesis options {'speaker': 2} but job 1 with {'speaker': 0}" in capsys.readouterr().err
    # what cannot change at synthesis, and speakers the vocoder does not have, are named
    assert main(["vocoder", "synth", "--exp", str(exp), "--units", str(units), "--out", str(tmp_path / "d4"),
                 "vocoder.checkpoint=elsewhere"]) == 2
    assert "'vocoder.checkpoint=elsewhere' is not a synthesis option" in capsys.readouterr().err
    assert main(["vocoder", "synth", "--exp", str(exp), "--units", str(units), "--out", str(tmp_path / "d5"),
                 "synthesis.speaker=3"]) == 2
    assert "speaker 3 is outside 0..2" in capsys.readouterr().err


def test_a_vocoder_without_speakers_refuses_one(world_exp, corpus, tmp_path, capsys):
    units = _units_file(tmp_path / "u.en", {"utt": corpus.units["spk1_a"].tolist()})
    assert main(["vocoder", "synth", "--exp", str(world_exp), "--units", str(units), "--out", str(tmp_path / "d"),
                 "synthesis.speaker=1"]) == 2
    assert "synthesis.speaker: vocoder 'world' has no speaker to choose" in capsys.readouterr().err
    cfg = VocoderConfig(vocoder={"name": "world"}, synthesis=SynthesisOptions(speaker=1))
    with pytest.raises(ConfigError, match="vocoder 'world' has no speaker to choose"):
        fit_vocoder(cfg, [corpus.dump], "en", tmp_path / "exp")


def test_vocoders_are_listed(capsys):
    assert main(["plugins", "--kind", "vocoder"]) == 0
    out = capsys.readouterr().out
    for name, cls in (("world", "s2s_plugin.vocoder.world.WorldVocoder"),
                      ("concat", "s2s_plugin.vocoder.concat.ConcatVocoder"),
                      ("unit_hifigan", "s2s_plugin.vocoder.unit_hifigan.UnitHiFiGAN")):
        assert any(line.split()[:2] == ["vocoder", name] and line.split()[-1] == cls for line in out.splitlines())


def test_recipe_config_is_valid():
    cfg = load_config(VocoderConfig, RECIPE_CONF)
    assert cfg.vocoder["name"] == "concat" and cfg.synth_fs == 16000
    assert "frame_rate" not in cfg.vocoder and "n_units" not in cfg.vocoder  # they come from units.en.info
    from s2s_plugin.registry import get_registry

    get_registry().build("vocoder", {**cfg.vocoder, "frame_rate": 50.0}, "vocoder")  # every key is accepted
