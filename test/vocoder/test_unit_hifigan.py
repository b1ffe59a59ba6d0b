"""``unit_hifigan``: small checkpoints in the ParallelWaveGAN and fairseq formats load strictly and synthesise.

The checkpoints come from ``ckpt_testutils``, which spells out each format's
key names and shapes independently of the plugin's modules.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from ckpt_testutils import (FAIRSEQ_CFG, PWG_PARAMS, UNITS, fairseq_shapes, pwg_shapes, random_state, write_fairseq,
                            write_pwg)

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.protocols import Vocoder
from s2s_plugin.vocoder.unit_hifigan import UnitHiFiGAN


def test_pwg_checkpoint_loads_strictly_and_synthesises(tmp_path):
    write_pwg(tmp_path / "pwg", steps=(1000, 5000))
    voc = UnitHiFiGAN(checkpoint=str(tmp_path / "pwg"), frame_rate=50.0, n_units=20)
    assert isinstance(voc, Vocoder)
    wave, sr = voc.synthesize(UNITS)
    assert (sr, voc.hop, voc.n_units) == (16000, 320, 20)
    assert wave.shape == (len(UNITS) * 320,) and wave.dtype == np.float32
    assert np.all(np.isfinite(wave)) and np.abs(wave).max() <= 1.0 and wave.std() > 1e-3
    assert voc.info["format"] == "pwg" and voc.info["checkpoint"].endswith("checkpoint-5000steps.pkl")
    # the weights are those of the file: the same file gives the same audio, another file another
    again = UnitHiFiGAN(checkpoint=str(tmp_path / "pwg" / "checkpoint-5000steps.pkl")).synthesize(UNITS)[0]
    other = UnitHiFiGAN(checkpoint=str(tmp_path / "pwg" / "checkpoint-1000steps.pkl")).synthesize(UNITS)[0]
    np.testing.assert_allclose(again, wave, atol=1e-6)
    assert np.abs(other - wave).max() > 1e-3


def test_pwg_weight_norm_is_folded_exactly(tmp_path):
    """Each conv's weight is ``g * v / ||v||`` (norm over all dims but the first), as torch's weight_norm."""
    state = random_state(pwg_shapes(PWG_PARAMS))
    write_pwg(tmp_path / "a", state=state)
    model = UnitHiFiGAN(checkpoint=str(tmp_path / "a")).model
    for name, module in (("input_conv", model.input_conv), ("upsamples.1.1", model.upsamples[1][1]),
                         ("blocks.3.convs1.1.1", model.blocks[3].convs1[1][1])):
        g, v = state[f"{name}.weight_g"], state[f"{name}.weight_v"]
        expected = g * v / v.pow(2).sum(dim=tuple(range(1, v.dim())), keepdim=True).sqrt()
        torch.testing.assert_close(module.weight.detach(), expected)
        torch.testing.assert_close(module.bias.detach(), state[f"{name}.bias"])
    torch.testing.assert_close(model.emb.weight.detach(), state["emb.weight"])


def test_weight_norm_forms_are_equivalent(tmp_path):
    """Pairs saved by torch.nn.utils.weight_norm, its parametrization form, and plain weights load alike."""
    from s2s_plugin.vocoder.generators import fold_weight_norm

    state = random_state(fairseq_shapes(FAIRSEQ_CFG))
    param = {k.replace(".weight_g", ".parametrizations.weight.original0")
              .replace(".weight_v", ".parametrizations.weight.original1"): v for k, v in state.items()}
    for name, variant in (("pairs", state), ("param", param), ("plain", fold_weight_norm(state))):
        write_fairseq(tmp_path / name, state=variant)
    ref = UnitHiFiGAN(checkpoint=str(tmp_path / "pairs")).synthesize(UNITS)[0]
    assert ref.std() > 1e-3
    for name in ("param", "plain"):
        np.testing.assert_allclose(UnitHiFiGAN(checkpoint=str(tmp_path / name)).synthesize(UNITS)[0], ref, atol=1e-6)


def test_pwg_odd_scale_keeps_length(tmp_path):
    params = dict(PWG_PARAMS, upsample_scales=[5, 4, 2], upsample_kernel_sizes=[11, 8, 4])
    write_pwg(tmp_path / "odd", params=params)
    voc = UnitHiFiGAN(checkpoint=str(tmp_path / "odd"))
    assert voc.synthesize(UNITS)[0].shape == (len(UNITS) * 40,)


def test_pwg_duration_generator(tmp_path):
    write_pwg(tmp_path / "dur", duration=True)
    runs = UnitHiFiGAN(checkpoint=str(tmp_path / "dur"))
    assert runs.n_units == 20  # num_embs + 1 rows, the last one pads
    assert runs.synthesize(UNITS)[0].shape == (len(UNITS) * 320,)
    predicted = UnitHiFiGAN(checkpoint=str(tmp_path / "dur"), durations="predict").synthesize(UNITS)[0]
    assert len(predicted) % 320 == 0 and len(predicted) > 0
    with pytest.raises(DataError, match="unit 20 at position 1"):
        runs.synthesize([0, 20])


def test_all_zero_predicted_durations_give_one_frame_per_unit(tmp_path):
    """ParallelWaveGAN's rule (parallel_wavegan/layers/length_regulator.py, LengthRegulator.forward, used by
    DiscreteSymbolDurationGenerator.synthesis): when every predicted duration of an utterance is 0, every
    duration becomes 1. Two units then give two frames (640 samples at hop 320), not one."""
    state = random_state(pwg_shapes(PWG_PARAMS, duration=True))
    state["duration_predictor.linear.weight"] = torch.zeros(1, 8)
    state["duration_predictor.linear.bias"] = torch.full((1,), -10.0)  # exp(-10) - offset 1 rounds to -1 -> 0
    write_pwg(tmp_path / "dur", duration=True, state=state)
    predicted = UnitHiFiGAN(checkpoint=str(tmp_path / "dur"), durations="predict")
    wave = predicted.synthesize([5, 5, 5, 9])[0]  # de-duplicated to [5, 9]
    assert wave.shape == (2 * 320,)
    # one frame per unit: the same signal as the two units read one per hop
    runs = UnitHiFiGAN(checkpoint=str(tmp_path / "dur")).synthesize([5, 9])[0]
    np.testing.assert_allclose(wave, runs, atol=1e-6)
    assert predicted.synthesize([7])[0].shape == (320,)


def test_speaker_is_chosen_per_synthesis(tmp_path):
    params = dict(PWG_PARAMS, num_spk_embs=4, spk_emb_dim=PWG_PARAMS["in_channels"])
    write_pwg(tmp_path / "multi", params=params)
    voc = UnitHiFiGAN(checkpoint=str(tmp_path / "multi"))
    default, first, last = (voc.synthesize(UNITS, **kw)[0] for kw in ({}, {"speaker": 0}, {"speaker": 3}))
    assert voc.n_speakers == 4 and voc.info["n_speakers"] == 4
    np.testing.assert_array_equal(default, first)  # no speaker: 0
    assert first.shape == last.shape == (len(UNITS) * 320,) and np.abs(first - last).max() > 1e-4
    # the block's speaker is only the default of a synthesis that names none
    np.testing.assert_array_equal(UnitHiFiGAN(checkpoint=str(tmp_path / "multi"), speaker=3).synthesize(UNITS)[0],
                                  last)
    np.testing.assert_array_equal(
        UnitHiFiGAN(checkpoint=str(tmp_path / "multi"), speaker=3).synthesize(UNITS, speaker=0)[0], first)
    with pytest.raises(ConfigError, match="speaker 4 is outside 0..3"):
        voc.synthesize(UNITS, speaker=4)
    write_pwg(tmp_path / "single")
    single = UnitHiFiGAN(checkpoint=str(tmp_path / "single"))
    assert single.n_speakers == 0
    with pytest.raises(ConfigError, match="speaker 1 asked for, but .* is a single-speaker generator"):
        single.synthesize(UNITS, speaker=1)


def test_fairseq_checkpoint_loads_strictly_and_synthesises(tmp_path):
    write_fairseq(tmp_path / "fs")
    voc = UnitHiFiGAN(checkpoint=str(tmp_path / "fs"), format="fairseq", frame_rate=50.0)
    wave, sr = voc.synthesize(UNITS)
    assert (sr, voc.hop, voc.n_units, voc.info["format"]) == (16000, 320, 30, "fairseq")
    assert wave.shape == (len(UNITS) * 320,) and np.all(np.isfinite(wave)) and wave.std() > 1e-3


def test_fairseq_duration_predictor_and_speakers(tmp_path):
    cfg = dict(FAIRSEQ_CFG, multispkr=True, num_speakers=3, model_in_dim=32,
               dur_predictor_params={"encoder_embed_dim": 16, "var_pred_hidden_dim": 8,
                                     "var_pred_kernel_size": 3, "var_pred_dropout": 0.5})
    write_fairseq(tmp_path / "fs", cfg=cfg, name="model.pt")
    a = UnitHiFiGAN(checkpoint=str(tmp_path / "fs"), speaker=0).synthesize(UNITS)[0]
    b = UnitHiFiGAN(checkpoint=str(tmp_path / "fs"), speaker=2).synthesize(UNITS)[0]
    assert a.shape == b.shape == (len(UNITS) * 320,) and np.abs(a - b).max() > 1e-4
    dedup = UnitHiFiGAN(checkpoint=str(tmp_path / "fs"), durations="predict").synthesize(UNITS)[0]
    assert len(dedup) >= 8 * 320  # 8 runs, each at least one frame (fairseq clamps durations at 1)


def test_strict_key_matching(tmp_path):
    state = random_state(pwg_shapes(PWG_PARAMS))
    del state["blocks.0.convs2.1.1.bias"]
    state["extra.weight"] = torch.zeros(2)
    write_pwg(tmp_path / "keys", state=state)
    with pytest.raises(ConfigError) as e:
        UnitHiFiGAN(checkpoint=str(tmp_path / "keys")).load()
    assert "1 missing (e.g. blocks.0.convs2.1.1.bias)" in str(e.value)
    assert "1 unexpected (e.g. extra.weight)" in str(e.value)
    write_fairseq(tmp_path / "shape", cfg=dict(FAIRSEQ_CFG, num_embeddings=31),
                  state=random_state(fairseq_shapes(FAIRSEQ_CFG)))
    shape_msg = r"another shape \(e.g. dict.weight: checkpoint \(30, 16\), config \(31, 16\)"
    with pytest.raises(ConfigError, match=shape_msg):
        UnitHiFiGAN(checkpoint=str(tmp_path / "shape")).load()
    state = random_state(fairseq_shapes(FAIRSEQ_CFG))
    del state["conv_pre.weight_g"]
    write_fairseq(tmp_path / "half", state=state)
    with pytest.raises(ConfigError, match=r"conv_pre: weight-norm g \(weight_g/original0\) is missing"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "half")).load()


def test_wrong_format_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; put either a ParallelWaveGAN unit vocoder there"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "nowhere")).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no checkpoint in .*empty; put either"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "empty")).load()
    write_fairseq(tmp_path / "fs")
    with pytest.raises(ConfigError, match="no pwg checkpoint in"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "fs"), format="pwg").load()
    # a fairseq file named as PWG's, with a PWG config next to it
    write_pwg(tmp_path / "mixed")
    torch.save({"generator": {}}, tmp_path / "mixed" / "checkpoint-1000steps.pkl")
    with pytest.raises(ConfigError, match="not a ParallelWaveGAN checkpoint.*looks like a fairseq checkpoint"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "mixed")).load()
    (tmp_path / "mixed" / "g_1").write_text("not torch", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds both a ParallelWaveGAN and a fairseq checkpoint"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "mixed")).load()
    (tmp_path / "mixed" / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="g_1 is not a readable torch checkpoint"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "mixed" / "g_1"), format="fairseq").load()
    (tmp_path / "lonely").mkdir()
    torch.save({"generator": {}}, tmp_path / "lonely" / "g_5")
    with pytest.raises(ConfigError, match="needs its config.json next to it"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "lonely")).load()


def test_config_mismatches(tmp_path):
    write_pwg(tmp_path / "pwg")
    with pytest.raises(ConfigError, match="units come at 25 per second but .* expects 50"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "pwg"), frame_rate=25.0).load()
    with pytest.raises(ConfigError, match="has 300 units but .* embeds only 20"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "pwg"), n_units=300).load()
    with pytest.raises(ConfigError, match="durations: predict needs a generator with a duration predictor"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "pwg"), durations="predict").load()
    with pytest.raises(ConfigError, match="format must be one of"):
        UnitHiFiGAN(checkpoint="x", format="espnet")
    cfg = yaml.safe_load((tmp_path / "pwg" / "config.yml").read_text())
    cfg["generator_type"] = "HiFiGANGenerator"
    (tmp_path / "pwg" / "config.yml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="generator_type 'HiFiGANGenerator' is not a unit vocoder"):
        UnitHiFiGAN(checkpoint=str(tmp_path / "pwg")).load()


@pytest.mark.parametrize("fmt", ["pwg", "fairseq"])
def test_planted_payload_needs_trust_checkpoint_and_never_runs_without_it(tmp_path, fmt):
    from payload_testutils import Payload, payload_is_live

    marker = tmp_path / "PWNED"
    if fmt == "pwg":
        write_pwg(tmp_path / "v")
        path = tmp_path / "v" / "checkpoint-1000steps.pkl"
    else:
        write_fairseq(tmp_path / "v")
        path = tmp_path / "v" / "g_00100000"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    ckpt["planted"] = Payload(marker)  # a working checkpoint plus one object that runs code
    torch.save(ckpt, path)
    with pytest.raises(ConfigError) as e:
        UnitHiFiGAN(checkpoint=str(path)).load()
    assert str(path) in str(e.value) and "set trust_checkpoint: true" in str(e.value)
    assert not marker.exists()
    assert payload_is_live(path, marker)  # the planted file does run when read without the guard
    UnitHiFiGAN(checkpoint=str(path), trust_checkpoint=True).load()  # the user's explicit choice
    assert marker.exists()
