"""Imported CTC models behind the same interface: a transformers Wav2Vec2ForCTC dir and an ESPnet ASR dir."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from asr_testutils import ESPNET_DECODER, ESPNET_ENCODER, ESPNET_FRONTEND, FS, espeak, tiny_espnet_asr

from s2s_plugin.asr.ctc import load_ctc_model
from s2s_plugin.asr.imported import _only_upper
from s2s_plugin.bin.main import main
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.protocols import CTCModel

HF_VOCAB = {"a": 0, "b": 1, "|": 2, "<pad>": 3, "<unk>": 4}  # the blank (<pad>) is not at index 0


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    """A tiny randomly initialised Wav2Vec2ForCTC and its processor, saved with save_pretrained."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    d = tmp_path_factory.mktemp("hf_ctc")
    (d / "vocab.json").write_text(json.dumps(HF_VOCAB))
    tok = Wav2Vec2CTCTokenizer(str(d / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                               word_delimiter_token="|")
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=FS, padding_value=0.0, do_normalize=True,
                                  return_attention_mask=False)
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(d)
    cfg = Wav2Vec2Config(vocab_size=len(HF_VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),
                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=3)
    torch.manual_seed(0)
    Wav2Vec2ForCTC(cfg).save_pretrained(d)
    return d


def test_hf_import_and_api(hf_dir, tmp_path, capsys):
    from transformers import Wav2Vec2ForCTC

    exp = tmp_path / "exp_hf"
    assert main(["ctc", "import", "--from", str(hf_dir), "--type", "hf", "--exp", str(exp)]) == 0
    assert "50 frames/s, 2 layers" in capsys.readouterr().out
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["type"] == "hf" and cfg["frame_rate"] == 50.0 and cfg["model_dir"] == str(hf_dir.resolve())
    model = load_ctc_model(exp)
    assert isinstance(model, CTCModel)
    assert model.tokens == ["<pad>", "a", "b", "|", "<unk>"] and model.space_id == 3
    assert (exp / "tokens.txt").read_text().split() == model.tokens
    wave = espeak("bonjour")
    logp = model.log_posteriors(wave, FS)
    ref = Wav2Vec2ForCTC.from_pretrained(hf_dir).eval()
    x = torch.from_numpy((wave - wave.mean()) / np.sqrt(wave.var() + 1e-7))[None]
    with torch.inference_mode():
        want = torch.log_softmax(ref(x).logits[0], -1).numpy()[:, [3, 0, 1, 2, 4]]
    np.testing.assert_allclose(logp, want, atol=1e-5)
    assert abs(logp.shape[0] - len(wave) / FS * 50) <= 1
    assert model.layer_features(wave, FS, 2).shape == (logp.shape[0], 32)
    with pytest.raises(ConfigError, match=r"in 1..2"):
        model.layer_features(wave, FS, 3)
    assert model.word_ids("ab") == [1, 2]
    with pytest.raises(ValueError, match="'c'"):
        model.word_ids("abc")
    assert all(set(t) <= set("ab ") for t in model.transcribe([wave, wave[:8000]]))
    assert _only_upper(["<pad>", "A", "B", "|"]) and not _only_upper(["a", "B"])


@pytest.fixture(scope="module")
def espnet_dir(tmp_path_factory):
    """A tiny hybrid CTC/attention ESPnet ASR model saved the way ESPnet saves one, with global MVN
    statistics whose configured path (relative to an ESPnet recipe) does not exist here."""
    d = tmp_path_factory.mktemp("espnet_asr")
    tokens = ["<blank>", "<unk>", "<space>", "a", "b", "l", "<sos/eos>"]
    model = tiny_espnet_asr(tokens, d / "feats_stats.npz").eval()
    frontend_conf, encoder_conf, decoder_conf = ESPNET_FRONTEND, ESPNET_ENCODER, ESPNET_DECODER
    torch.save(model.state_dict(), d / "valid.acc.ave.pth")
    config = {"token_list": tokens, "token_type": "char", "bpemodel": None, "frontend": "default",
              "frontend_conf": {"fs": "16k", **frontend_conf}, "specaug": None, "normalize": "global_mvn",
              "normalize_conf": {"stats_file": "exp/asr_stats_raw_char/train/feats_stats.npz"},
              "preencoder": None, "encoder": "transformer", "encoder_conf": encoder_conf, "postencoder": None,
              "decoder": "transformer", "decoder_conf": decoder_conf, "ctc_conf": {"dropout_rate": 0.0},
              "model_conf": {"ctc_weight": 0.3}}
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    return d, model


def test_espnet_import_and_api(espnet_dir, tmp_path, capsys):
    src, ref = espnet_dir
    exp = tmp_path / "exp_espnet"
    assert main(["ctc", "import", "--from", str(src), "--type", "espnet", "--exp", str(exp)]) == 0
    assert "25 frames/s, 2 layers" in capsys.readouterr().out
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["stats_file"] == str((src / "feats_stats.npz").resolve())
    model = load_ctc_model(exp)
    assert isinstance(model, CTCModel) and model.tokens[0] == "<blank>" and model.space_id == 2
    wave = espeak("la balle")
    with torch.inference_mode():
        enc, elens = ref.encode(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
        want = ref.ctc.log_softmax(enc)[0].numpy()
    np.testing.assert_array_equal(model.log_posteriors(wave, FS), want)
    assert model.frame_rate == 25.0 and model.layer_features(wave, FS, 1).shape == (want.shape[0], 16)
    assert model.word_ids("ab") == [3, 4]
    assert isinstance(model.transcribe([wave])[0], str)


def test_import_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["ctc", "import", "--from", str(tmp_path / "empty"), "--type", "espnet",
                 "--exp", str(tmp_path / "x")]) == 2
    assert "expected ESPnet's config.yaml" in capsys.readouterr().err
    with pytest.raises(DataError, match="not a CTC model dir"):
        load_ctc_model(tmp_path / "empty")


@pytest.mark.parametrize("path", ["light", "espnet"])  # our reader of the CTC parts, or ESPnet's own loader
def test_planted_payload_in_an_espnet_model_is_refused_and_never_run(espnet_dir, tmp_path, monkeypatch, path):
    import shutil

    from payload_testutils import Payload, payload_is_live

    import s2s_plugin.asr.imported as imported

    src, _ = espnet_dir
    planted = tmp_path / "espnet"
    shutil.copytree(src, planted)
    model_file, marker = planted / "valid.acc.ave.pth", tmp_path / "PWNED"
    state = torch.load(model_file, map_location="cpu", weights_only=True)
    state["planted"] = Payload(marker)
    torch.save(state, model_file)
    if path == "espnet":  # ESPnet's ASRTask.build_model_from_file reads with weights_only=False
        monkeypatch.setattr(imported, "_light_espnet_parts", lambda args, n: None)
    with pytest.raises(ConfigError) as e:
        imported.EspnetCTCModel(planted / "config.yaml", model_file, stats_file=planted / "feats_stats.npz")
    assert f"{model_file}: refused to load this ESPnet model file" in str(e.value) and not marker.exists()
    assert payload_is_live(model_file, marker)  # the planted file does run when read without the guard
