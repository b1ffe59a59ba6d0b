"""Each unit tokenizer on tiny generated audio: features, frame rate, fit, encode, missing-model errors.

The s3prl and transformers paths use small randomly initialised models saved
to a temp dir in those libraries' own formats; ``ctc_kmeans`` uses a stand-in
implementing the stage-3 CTC model API (``load_ctc_model(exp_dir)``).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from units_testutils import FS, StandInCtcModel, babble, save_w2v2

from s2s_plugin.bin.main import main
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.protocols import UnitTokenizer
from s2s_plugin.units import CtcKmeans, HfKmeans, MfccKmeans, S3prlKmeans
from s2s_plugin.units.features import MfccFeatures, deltas

WAVES = [babble(s, seed=i) for i, s in enumerate((0.8, 1.0, 0.65, 1.2))]


def fit_and_encode(tok, waves=WAVES, sr=FS):
    """Fit ``tok`` on ``waves``; return the features and units of the first one."""
    stats = tok.fit([tok.features(w, sr) for w in waves])
    feats = tok.features(waves[0], sr)
    units = tok.encode(waves[0], sr)
    assert units.shape == (len(feats),) and units.dtype.kind == "i"
    assert 0 <= units.min() and units.max() < tok.n_clusters
    assert stats["frames"] == sum(len(tok.features(w, sr)) for w in waves)
    return feats, units


def assert_frames_match(n_frames: int, seconds: float, rate: float, slack: float) -> None:
    assert abs(n_frames - seconds * rate) <= slack, (n_frames, seconds * rate)


# -- mfcc_kmeans -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shift,sr", [(10.0, 16000), (20.0, 16000), (20.0, 22050)])
def test_mfcc_frames_follow_duration_and_rate(shift, sr):
    wav = babble(1.37, seed=1, fs=sr)
    feats = MfccFeatures(frame_shift_ms=shift)(wav, sr)
    assert feats.dtype == np.float32 and feats.shape[1] == 39
    assert_frames_match(len(feats), len(wav) / sr, 1000 / shift, slack=1.0)
    np.testing.assert_allclose(feats.mean(axis=0), 0, atol=1e-4)  # per-utterance CMVN
    np.testing.assert_allclose(feats.std(axis=0), 1, atol=1e-2)


def test_mfcc_short_audio_still_gives_frames_and_options_change_dim():
    feats = MfccFeatures(delta_order=0, cmvn=False)(babble(0.012, seed=0), FS)
    assert feats.shape == (1, 13)
    with pytest.raises(ConfigError, match="delta_order must be 0, 1 or 2"):
        MfccFeatures(delta_order=3)


def test_deltas_follow_kaldis_formula():
    x = np.arange(10, dtype=np.float32)[:, None] ** 2
    d = deltas(x)
    # interior: sum_n n (x[t+n] - x[t-n]) / 10 = derivative of t^2 = 2t
    np.testing.assert_allclose(d[2:-2, 0], 2 * np.arange(2, 8))
    assert d[0, 0] == pytest.approx((1 * (1 - 0) + 2 * (4 - 0)) / 10)  # edges repeated


def test_mfcc_kmeans_fit_encode_and_protocol():
    tok = MfccKmeans(n_clusters=8, batch_size=64, frame_shift_ms=20.0)
    assert isinstance(tok, UnitTokenizer) and tok.frame_rate == 50.0
    feats, units = fit_and_encode(tok)
    assert len(set(units.tolist())) > 1


# -- ctc_kmeans (stage-3 CTC model API) ---------------------------------------------------------------------

def test_ctc_kmeans_uses_the_chosen_layer_of_the_ctc_model(standin_ctc):
    exp, mod = standin_ctc
    tok = CtcKmeans(exp_dir=str(exp), layer=2, n_clusters=6, batch_size=32)
    assert mod.loaded == []  # nothing loads before features are needed
    assert tok.frame_rate == 50.0
    feats, _ = fit_and_encode(tok)
    np.testing.assert_array_equal(feats, StandInCtcModel().layer_features(WAVES[0], FS, 2))
    assert_frames_match(len(feats), len(WAVES[0]) / FS, 50.0, slack=1.0)
    assert mod.loaded == [exp]  # loaded once


@pytest.fixture(scope="module")
def real_ctc_exp(tmp_path_factory):
    """A stage-3 exp dir of the real CTC model (s2s_plugin.asr), tiny and randomly initialised."""
    import torch
    import yaml

    from s2s_plugin.asr.model import CTCNet
    from s2s_plugin.asr.tokens import CharTokenList

    exp = tmp_path_factory.mktemp("exp_ctc")
    net_conf = {"encoder": "transformer", "frontend_conf": {"n_mels": 20},
                "encoder_conf": {"output_size": 32, "attention_heads": 2, "linear_units": 64, "num_blocks": 2,
                                 "input_layer": "conv2d2"}}
    (exp / "config.yaml").write_text(yaml.safe_dump({"type": "s2s", **net_conf}))
    tokens = CharTokenList.build(["le chat noir"])
    tokens.save(exp / "tokens.txt")
    torch.manual_seed(0)
    torch.save(CTCNet(len(tokens), **net_conf).state_dict(), exp / "model.pth")
    return exp


def test_ctc_kmeans_on_the_real_stage3_model(real_ctc_exp):
    from s2s_plugin.asr.ctc import load_ctc_model

    tok = CtcKmeans(exp_dir=str(real_ctc_exp), layer=1, n_clusters=5, batch_size=32)
    assert tok.frame_rate == 50.0
    feats, _ = fit_and_encode(tok)
    assert feats.shape[1] == 32
    assert_frames_match(len(feats), len(WAVES[0]) / FS, 50.0, slack=2.5)
    np.testing.assert_allclose(feats, load_ctc_model(real_ctc_exp).layer_features(WAVES[0], FS, 1), atol=1e-5)
    with pytest.raises(DataError, match="too short"):
        tok.features(np.zeros(100, np.float32), FS)
    with pytest.raises(ConfigError, match=r"layer must be an integer in 1..2"):
        CtcKmeans(exp_dir=str(real_ctc_exp), layer=3).features(WAVES[0], FS)


def test_ctc_kmeans_missing_model_dir(tmp_path):
    with pytest.raises(ConfigError, match=r"no CTC model directory at .*nowhere: run stage 3.*put a trained CTC "
                                          r"model's exp dir at .*or set tokenizer.exp_dir=DIR"):
        CtcKmeans(exp_dir=str(tmp_path / "nowhere"), layer=1)


# -- s3prl_kmeans -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3prl_ckpt(tmp_path_factory):
    """A 2-layer random HuBERT built with s3prl's own classes, saved as an s3prl (converted) checkpoint."""
    import torch
    from s3prl.upstream.hubert.hubert_model import HubertConfig, HubertModel, HubertPretrainingConfig

    cfg = HubertConfig(label_rate=50.0, encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                       encoder_attention_heads=2, conv_pos=16, conv_pos_groups=2, final_dim=16,
                       conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2")
    task = HubertPretrainingConfig()
    torch.manual_seed(0)
    symbols = [["a", "b", "c"]]
    model = HubertModel(cfg, task, symbols)
    path = tmp_path_factory.mktemp("s3prl") / "tiny_hubert.pt"
    torch.save({"task_cfg": dataclasses.asdict(task), "model_cfg": dataclasses.asdict(cfg),
                "model_weight": model.state_dict(), "dictionaries_symbols": symbols}, path)
    return path


S3PRL_WARNINGS = pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")  # inside s3prl's HuBERT


@S3PRL_WARNINGS
def test_s3prl_kmeans_on_a_local_hubert_checkpoint(s3prl_ckpt):
    import torch

    tok = S3prlKmeans(ckpt=str(s3prl_ckpt), layer=1, upstream="hubert_local", n_clusters=5, batch_size=32)
    assert tok.frame_rate == 50.0
    feats, _ = fit_and_encode(tok)
    assert feats.shape[1] == 32
    assert_frames_match(len(feats), len(WAVES[0]) / FS, 50.0, slack=1.5)
    with torch.no_grad():  # the same numbers as the upstream's own hidden state 1
        ref = tok.extractor.model([torch.from_numpy(WAVES[0])])["hidden_states"][1][0].numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-5, atol=1e-5)


@S3PRL_WARNINGS
def test_s3prl_errors(s3prl_ckpt, tmp_path):
    with pytest.raises(ConfigError, match=r"checkpoint not found: .*missing.pt. Put the s3prl checkpoint .* at "
                                          r".*missing.pt or set tokenizer.ckpt=PATH"):
        S3prlKmeans(ckpt=str(tmp_path / "missing.pt"), layer=1)
    with pytest.raises(ConfigError, match="upstream 'hubert' is not a loader of a local checkpoint"):
        S3prlKmeans(ckpt=str(s3prl_ckpt), layer=1, upstream="hubert")
    with pytest.raises(ConfigError, match="must be a local file"):
        S3prlKmeans(ckpt="https://example.org/hubert.pt", layer=1)
    with pytest.raises(ConfigError, match=r"layer 7 does not exist: the model gives hidden states 0..2"):
        S3prlKmeans(ckpt=str(s3prl_ckpt), layer=7).frame_rate
    with pytest.raises(ConfigError, match="s3prl has no upstream 'hubret_local'"):
        S3prlKmeans(ckpt=str(s3prl_ckpt), layer=1, upstream="hubret_local").frame_rate


# -- hf_kmeans ------------------------------------------------------------------------------------------------

def _save_hf(kind: str, path):
    import torch
    from transformers import (HubertConfig, HubertForCTC, HubertModel, SeamlessM4TFeatureExtractor,
                              Wav2Vec2BertConfig, Wav2Vec2BertModel, Wav2Vec2FeatureExtractor)

    torch.manual_seed(0)
    if kind == "w2v-bert":
        cfg = Wav2Vec2BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                 output_hidden_size=32, conv_depthwise_kernel_size=3, add_adapter=False)
        model, fe = Wav2Vec2BertModel(cfg), SeamlessM4TFeatureExtractor()
    else:
        cfg = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                           vocab_size=8)
        model = HubertForCTC(cfg) if kind == "hubert-ctc" else HubertModel(cfg)
        fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True)
    model.save_pretrained(path)
    fe.save_pretrained(path)
    return model.eval()


@pytest.mark.parametrize("kind", ["w2v-bert", "hubert", "hubert-ctc"])
def test_hf_kmeans_on_a_saved_model_dir(kind, tmp_path):
    import torch

    model = _save_hf(kind, tmp_path / kind)
    tok = HfKmeans(model_dir=str(tmp_path / kind), layer=2, n_clusters=5, batch_size=32)
    assert tok.frame_rate == 50.0
    feats, _ = fit_and_encode(tok, sr=FS)
    assert feats.shape[1] == 32
    assert_frames_match(len(feats), len(WAVES[0]) / FS, 50.0, slack=1.5)
    base = model.hubert if kind == "hubert-ctc" else model  # the CTC head's encoder is what is used
    inputs = tok.extractor._extractor(WAVES[0], sampling_rate=FS, return_tensors="pt")
    with torch.no_grad():
        ref = base(**inputs, output_hidden_states=True).hidden_states[2][0].numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-4, atol=1e-4)


def test_hf_kmeans_missing_model_dir(tmp_path):
    with pytest.raises(ConfigError, match=r"nowhere/config.json not found .*Put the model directory written by "
                                          r"save_pretrained .* at .*nowhere, or set tokenizer.model_dir=DIR"):
        HfKmeans(model_dir=str(tmp_path / "nowhere"), layer=1)


@pytest.mark.parametrize("layout", ["installed", "other"])
def test_hf_kmeans_reads_either_transformers_layout(layout, tmp_path):
    import torch

    from s2s_plugin.units.features import read_feature_extractor_config

    model = save_w2v2(tmp_path / layout, layout=layout)
    names = {p.name for p in (tmp_path / layout).iterdir()}
    assert ("processor_config.json" in names) != ("preprocessor_config.json" in names)
    settings, _ = read_feature_extractor_config(tmp_path / layout)
    assert settings["feature_extractor_type"] == "Wav2Vec2FeatureExtractor" and settings["do_normalize"] is True
    tok = HfKmeans(model_dir=str(tmp_path / layout), layer=1, n_clusters=4, batch_size=32)
    assert tok.frame_rate == 50.0
    feats, _ = fit_and_encode(tok)
    x = torch.from_numpy((WAVES[0] - WAVES[0].mean()) / np.sqrt(WAVES[0].var() + 1e-7))[None]
    with torch.no_grad():  # the CTC model's encoder on the normalised waveform
        ref = model.wav2vec2(x, output_hidden_states=True).hidden_states[1][0].numpy()
    np.testing.assert_allclose(feats, ref, rtol=1e-4, atol=1e-4)


def test_hf_kmeans_feature_extractor_errors(tmp_path):
    from s2s_plugin.units.features import build_feature_extractor

    save_w2v2(tmp_path / "m", layout="other")
    (tmp_path / "m" / "preprocessor_config.json").unlink()
    with pytest.raises(ConfigError, match=r"has neither preprocessor_config.json nor processor_config.json .*"
                                          r"save_pretrained"):
        HfKmeans(model_dir=str(tmp_path / "m"), layer=1)
    (tmp_path / "m" / "processor_config.json").write_text('{"processor_class": "Wav2Vec2Processor"}')
    with pytest.raises(ConfigError, match="processor_config.json name no feature extractor"):
        HfKmeans(model_dir=str(tmp_path / "m"), layer=1)
    (tmp_path / "m" / "processor_config.json").write_text('{"feature_extractor": {"feature_extractor_type": "os"}}')
    with pytest.raises(ConfigError, match="'os' is not a feature extractor of the installed transformers"):
        build_feature_extractor(tmp_path / "m")
    with pytest.raises(ConfigError, match="extract_batch_size must be an integer >= 1"):
        HfKmeans(model_dir=str(tmp_path / "m"), layer=1, extract_batch_size=0)


BATCH_WAVES = [(babble(s, seed=10 + i), FS) for i, s in enumerate((0.5, 1.3, 0.8, 2.0, 0.31, 1.0, 0.9))]


@pytest.mark.parametrize("kind,mode", [("w2v-bert", "padded"), ("layer", "padded"), ("group", "conv per utterance")])
def test_hf_batches_equal_one_by_one(kind, mode, tmp_path):
    if kind == "w2v-bert":
        _save_hf("w2v-bert", tmp_path / kind)
    else:  # wav2vec 2.0 large style (layer norm, attention mask) or base style (group norm, no mask)
        save_w2v2(tmp_path / kind, norm=kind, ctc=False)
    one = HfKmeans(model_dir=str(tmp_path / kind), layer=2, extract_batch_size=1)
    many = HfKmeans(model_dir=str(tmp_path / kind), layer=2, extract_batch_size=3)
    ref = [one.features(w, sr) for w, sr in BATCH_WAVES]
    got = many.features_batch(BATCH_WAVES)
    assert many.extractor.mode == mode and many.extract_batch_size == 3
    if kind == "w2v-bert":  # an odd fbank frame count: the extractor masks the half-padded last frame; kept in batches
        inputs = many.extractor._extractor(BATCH_WAVES[4][0], sampling_rate=FS, return_tensors="pt")
        assert inputs["attention_mask"][0, -1] == 0 and inputs["attention_mask"][0, 0] == 1
    assert [len(g) for g in got] == [len(r) for r in ref] and len({len(r) for r in ref}) > 3
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)
    if kind == "group":  # padding the group-norm front-end would change the features: the per-utterance conv matters
        many.extractor.mode = "padded"
        worst = max(np.abs(g - r).max() for g, r in zip(many.features_batch(BATCH_WAVES), ref))
        assert worst > 1e-3


def test_hf_batch_names_the_utterance_that_is_too_short(tmp_path):
    save_w2v2(tmp_path / "m", ctc=False)
    tok = HfKmeans(model_dir=str(tmp_path / "m"), layer=1, extract_batch_size=4)
    waves = BATCH_WAVES[:3] + [(np.full(200, 0.1, np.float32), FS)] + BATCH_WAVES[3:]
    with pytest.raises(DataError, match="too short for Wav2Vec2Model: 200 input steps give no frame") as e:
        tok.features_batch(waves)
    assert e.value.index == 3
    with pytest.raises(DataError, match="NaN") as e:
        tok.features_batch(BATCH_WAVES[:1] + [(np.full(800, np.nan, np.float32), FS)])
    assert e.value.index == 1


# -- registry -------------------------------------------------------------------------------------------------

def test_tokenizers_are_listed_by_s2s_plugins(capsys, registry):
    assert main(["plugins", "--kind", "unit_tokenizer"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert {r[1]: r[2] for r in rows} == {"ctc_kmeans": "s2s_plugin", "hf_kmeans": "s2s_plugin",
                                          "mfcc_kmeans": "s2s_plugin", "s3prl_kmeans": "s2s_plugin"}
    infos = registry.infos("unit_tokenizer")
    assert infos["mfcc_kmeans"].cls is MfccKmeans and infos["s3prl_kmeans"].cls is S3prlKmeans


def test_s3prl_checkpoint_with_a_planted_payload_is_refused_and_never_run(s3prl_ckpt, tmp_path):
    """s3prl reads the checkpoint with torch.load's defaults; the plugin vets it with weights_only=True first."""
    import torch
    from payload_testutils import Payload, payload_is_live

    marker, path = tmp_path / "PWNED", tmp_path / "hubert.pt"
    ckpt = torch.load(s3prl_ckpt, map_location="cpu", weights_only=True)
    ckpt["planted"] = Payload(marker)
    torch.save(ckpt, path)
    with pytest.raises(ConfigError) as e:
        S3prlKmeans(ckpt=str(path), layer=1).frame_rate
    assert f"{path}: refused to load this s3prl_kmeans hubert_local checkpoint" in str(e.value)
    assert not marker.exists()
    assert payload_is_live(path, marker)  # the planted file does run when read without the guard


def test_hf_kmeans_reads_the_transformers_model_of_a_stage3_exp_dir(tmp_path):
    """The recipe passes stage 3's exp/ctc (--ctc_exp): an imported transformers model is read from there."""
    from s2s_plugin.asr.imported import import_ctc_model
    from s2s_plugin.config import save_resolved

    save_w2v2(tmp_path / "m", layout="installed")
    import_ctc_model(tmp_path / "m", "hf", tmp_path / "ctc")
    tok = HfKmeans(model_dir=str(tmp_path / "ctc"), layer=1, n_clusters=4, batch_size=32)
    assert tok.extractor.model_dir == (tmp_path / "m").resolve()
    direct = HfKmeans(model_dir=str(tmp_path / "m"), layer=1, n_clusters=4, batch_size=32)
    np.testing.assert_array_equal(tok.extractor(WAVES[0], 16000), direct.extractor(WAVES[0], 16000))
    save_resolved({"type": "s2s", "encoder": "conformer"}, tmp_path / "conformer")  # the toolkit's own CTC model
    with pytest.raises(DataError, match=r"conformer: holds the toolkit's own encoder \(conformer\), not a "
                                        r"transformers model; for its layers use the ctc_kmeans tokenizer"):
        HfKmeans(model_dir=str(tmp_path / "conformer"), layer=1)
    with pytest.raises(ConfigError, match=r"hf_kmeans: no model .* --ctc_exp DIR"):
        HfKmeans(layer=1)
