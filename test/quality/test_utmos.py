"""utmos22_strong: loads SpeechMOS's key layout, scores deterministically, refuses wrong files clearly.

The expected layout below is written down from SpeechMOS's source
(speechmos/utmos22/strong/model.py and fairseq_alt.py at v1.2.0), independently
of s2s_plugin.quality.utmos, so that a renamed or reshaped key fails here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.quality.utmos import Utmos22Arch, Utmos22Strong, build_model, expected_state_shapes
from s2s_plugin.registry import get_registry

#: a small model of the same layout: 2 transformer layers, narrow widths, 4 convolutions
SMALL = {"conv_dim": 16, "conv_layers": [[10, 5], [3, 2], [3, 2], [2, 2]], "ssl_dim": 24, "ffn_dim": 32,
         "num_heads": 4, "num_layers": 2, "pos_conv_kernel": 8, "pos_conv_groups": 4, "domain_dim": 8,
         "judge_dim": 8, "rnn_hidden": 12, "proj_hidden": 20}


def speechmos_layout(conv=512, kernels=(10, 3, 3, 3, 3, 2, 2), d=768, ffn=3072, layers=12, pos_k=128,
                     pos_groups=16, dom=128, judge=128, rnn=512, proj=2048):
    """Key -> shape of SpeechMOS's UTMOS22Strong().state_dict() (the released utmos22_strong_step7459_v1.pt)."""
    keys = {}
    for i, k in enumerate(kernels):
        keys[f"wav2vec2.feature_extractor.conv_layers.{i}.0.weight"] = (conv, 1 if i == 0 else conv, k)
    keys["wav2vec2.feature_extractor.conv_layers.0.2.weight"] = (conv,)   # GroupNorm after Conv1d, Dropout
    keys["wav2vec2.feature_extractor.conv_layers.0.2.bias"] = (conv,)
    keys["wav2vec2.layer_norm.weight"] = keys["wav2vec2.layer_norm.bias"] = (conv,)
    keys["wav2vec2.post_extract_proj.weight"] = (d, conv)
    keys["wav2vec2.post_extract_proj.bias"] = (d,)
    keys["wav2vec2.mask_emb"] = (d,)
    keys["wav2vec2.encoder.pos_conv.0.bias"] = (d,)
    keys["wav2vec2.encoder.pos_conv.0.weight_g"] = (1, 1, pos_k)          # nn.utils.weight_norm(dim=2)
    keys["wav2vec2.encoder.pos_conv.0.weight_v"] = (d, d // pos_groups, pos_k)
    keys["wav2vec2.encoder.layer_norm.weight"] = keys["wav2vec2.encoder.layer_norm.bias"] = (d,)
    for i in range(layers):
        pre = f"wav2vec2.encoder.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            keys[pre + f"self_attn.{name}.weight"] = (d, d)
            keys[pre + f"self_attn.{name}.bias"] = (d,)
        keys[pre + "fc1.weight"], keys[pre + "fc1.bias"] = (ffn, d), (ffn,)
        keys[pre + "fc2.weight"], keys[pre + "fc2.bias"] = (d, ffn), (d,)
        for ln in ("self_attn_layer_norm", "final_layer_norm"):
            keys[pre + ln + ".weight"] = keys[pre + ln + ".bias"] = (d,)
    keys["domain_emb"], keys["judge_emb"] = (1, dom), (1, judge)
    for direction in ("", "_reverse"):
        keys[f"blstm.weight_ih_l0{direction}"] = (4 * rnn, d + dom + judge)
        keys[f"blstm.weight_hh_l0{direction}"] = (4 * rnn, rnn)
        keys[f"blstm.bias_ih_l0{direction}"] = keys[f"blstm.bias_hh_l0{direction}"] = (4 * rnn,)
    keys["projection.0.weight"], keys["projection.0.bias"] = (proj, 2 * rnn), (proj,)
    keys["projection.2.weight"], keys["projection.2.bias"] = (1, proj), (1,)
    return keys


def small_layout():
    return speechmos_layout(conv=16, kernels=(10, 3, 3, 2), d=24, ffn=32, layers=2, pos_k=8, pos_groups=4,
                            dom=8, judge=8, rnn=12, proj=20)


def random_state(layout, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(*shape, generator=gen) * 0.2 for k, shape in layout.items()}


@pytest.fixture
def small_ckpt(tmp_path):
    path = tmp_path / "utmos22_strong_step7459_v1.pt"
    torch.save(random_state(small_layout()), path)
    return path


def _wave(seconds=1.0, sr=16000, seed=1):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
            + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def test_full_size_layout_matches_speechmos():
    model = build_model(device="meta")
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == speechmos_layout()
    assert expected_state_shapes() == speechmos_layout()
    n_params = sum(math.prod(s) for s in got.values())
    assert n_params == 102_772_865     # wav2vec 2.0 Base encoder (94.4M) + BLSTM (6.3M) + head (2.1M)


def test_small_layout_matches_and_scores_through_the_registry(small_ckpt):
    assert expected_state_shapes(Utmos22Arch.from_dict(SMALL)) == small_layout()
    scorer = get_registry().build("quality_scorer", {"name": "utmos22_strong", "checkpoint": str(small_ckpt),
                                                     "arch": SMALL})
    assert isinstance(scorer, Utmos22Strong)
    waves = [_wave(1.0), _wave(0.6, seed=2)]
    first = scorer.score(waves, 16000)
    again = Utmos22Strong(str(small_ckpt), arch=SMALL).score(waves, 16000)
    assert len(first) == 2 and all(math.isfinite(v) for v in first)
    assert first == again                                   # deterministic across loads
    assert first[0] != first[1]
    # the weights are the checkpoint's: other weights give other scores
    other = small_ckpt.with_name("other.pt")
    torch.save(random_state(small_layout(), seed=5), other)
    assert Utmos22Strong(str(other), arch=SMALL).score(waves[:1], 16000)[0] != first[0]


def test_score_matches_a_hand_computed_head(small_ckpt):
    """The utterance score is 2 * mean over frames of the head's output + 3, with the stored embeddings."""
    scorer = Utmos22Strong(str(small_ckpt), arch=SMALL)
    model = scorer._load()
    state = torch.load(small_ckpt, weights_only=True)
    wave = torch.as_tensor(_wave(0.8))[None]
    with torch.no_grad():
        ssl = model.wav2vec2(wave)
        t = ssl.shape[1]
        feats = torch.cat([ssl, state["domain_emb"].expand(1, t, -1), state["judge_emb"].expand(1, t, -1)], 2)
        h = model.blstm(feats)[0]
        frames = torch.relu(h @ state["projection.0.weight"].T + state["projection.0.bias"]) \
            @ state["projection.2.weight"].T + state["projection.2.bias"]
    expected = float(frames.mean() * 2 + 3)
    assert scorer.score([wave[0].numpy()], 16000)[0] == pytest.approx(expected, rel=1e-5)


def test_resamples_to_16k(small_ckpt):
    import torchaudio

    scorer = Utmos22Strong(str(small_ckpt), arch=SMALL)
    wave16 = _wave(1.0)
    wave22 = torchaudio.functional.resample(torch.as_tensor(wave16), 16000, 22050).numpy()
    s16, s22 = scorer.score([wave16], 16000)[0], scorer.score([wave22], 22050)[0]
    assert s22 == pytest.approx(s16, abs=0.05)
    assert math.isnan(scorer.score([np.zeros(10, np.float32)], 16000)[0])   # shorter than one frame


def test_missing_checkpoint_says_what_to_put_where(tmp_path):
    where = tmp_path / "downloads" / "utmos22_strong_step7459_v1.pt"
    with pytest.raises(ConfigError) as e:
        Utmos22Strong(str(where))
    msg = str(e.value)
    assert "quality.checkpoint" in msg and str(where) in msg
    assert "utmos22_strong_step7459_v1.pt" in msg and "SpeechMOS" in msg and "releases" in msg


def test_wrong_shape_or_missing_key_is_named(tmp_path):
    state = random_state(small_layout())
    state["wav2vec2.encoder.layers.1.fc1.weight"] = torch.zeros(33, 24)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(DataError, match=r"bad.pt: not the UTMOS22 strong layout: 1 key\(s\) of another shape, "
                                        r"e.g. wav2vec2.encoder.layers.1.fc1.weight \(33, 24\) \(expected "
                                        r"\(32, 24\)\)"):
        Utmos22Strong(str(bad), arch=SMALL).score([_wave()], 16000)
    state = random_state(small_layout())
    del state["judge_emb"]
    state["wav2vec2.encoder.pos_conv.0.weight"] = torch.zeros(24, 6, 8)   # weight norm folded: another layout
    torch.save(state, bad)
    with pytest.raises(DataError) as e:
        Utmos22Strong(str(bad), arch=SMALL).score([_wave()], 16000)
    assert "1 missing key(s), e.g. judge_emb" in str(e.value)
    assert "1 unexpected key(s), e.g. wav2vec2.encoder.pos_conv.0.weight" in str(e.value)
    assert "utmos22_strong_step7459_v1.pt" in str(e.value)
    # the full-size model refuses the small checkpoint
    torch.save(random_state(small_layout()), bad)
    with pytest.raises(DataError, match="missing key"):
        Utmos22Strong(str(bad)).score([_wave()], 16000)


def test_unknown_arch_key_is_refused(small_ckpt):
    with pytest.raises(ConfigError, match="unknown arch keys \\['layers'\\]"):
        Utmos22Strong(str(small_ckpt), arch={"layers": 2})
