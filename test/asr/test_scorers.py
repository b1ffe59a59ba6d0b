"""The scoring ASR plugins (kind "asr_model"): ctc, whisper, espnet, built through the registry."""
from __future__ import annotations

import types

import numpy as np
import pytest
import yaml

from asr_testutils import ESPNET_DECODER, ESPNET_ENCODER, ESPNET_FRONTEND, tiny_espnet_asr

from s2s_plugin.asr.scorers import CtcASR, EspnetASR, WhisperASR
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.protocols import ASRModel

SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|fr|>", "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]


def _byte_chars() -> list[str]:
    """GPT-2's byte-to-unicode table: the 256 base symbols of a byte-level BPE."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    """A tiny random Whisper whose decoder always says 'a': its final layer norm outputs a
    constant vector that the (tied) output row of 'a' dominates."""
    import torch
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperProcessor, WhisperTokenizer)

    vocab = {c: i for i, c in enumerate(_byte_chars())}
    for s in SPECIALS:
        vocab[s] = len(vocab)
    tok = WhisperTokenizer(vocab=vocab, merges=[])
    tok.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    processor = WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tok)
    eot, sot = vocab["<|endoftext|>"], vocab["<|startoftranscript|>"]
    cfg = WhisperConfig(vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                        decoder_ffn_dim=32, num_mel_bins=80, max_source_positions=1500, max_target_positions=64,
                        decoder_start_token_id=sot, pad_token_id=eot, eos_token_id=eot, bos_token_id=eot)
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot, eos_token_id=eot, pad_token_id=eot, max_length=64, is_multilingual=True,
        lang_to_id={"<|en|>": vocab["<|en|>"], "<|fr|>": vocab["<|fr|>"]},
        task_to_id={"transcribe": vocab["<|transcribe|>"], "translate": vocab["<|translate|>"]},
        no_timestamps_token_id=vocab["<|notimestamps|>"])
    dec = model.model.decoder
    with torch.no_grad():
        v = torch.randn(cfg.d_model)
        v /= v.norm()
        dec.layer_norm.weight.zero_()
        dec.layer_norm.bias.copy_(v)
        dec.embed_tokens.weight[vocab["a"]] = 10 * v
    d = tmp_path_factory.mktemp("whisper")
    model.save_pretrained(d)
    processor.save_pretrained(d)
    return d


def _waves(rng, seconds=(1.0, 0.5, 0.8), sr=16000):
    return [0.1 * rng.standard_normal(int(s * sr)).astype(np.float32) for s in seconds]


def test_builtins_are_registered(registry):
    infos = registry.infos("asr_model")
    assert {"ctc", "whisper", "espnet"} <= set(infos)
    assert infos["whisper"].cls is WhisperASR and infos["whisper"].provider == "s2s_plugin"
    asr = registry.build("asr_model", {"name": "ctc", "exp_dir": "exp/asr_en"})
    assert isinstance(asr, ASRModel)


def test_whisper_transcribes_through_the_registry(registry, whisper_dir):
    asr = registry.build("asr_model", {"name": "whisper", "path": str(whisper_dir), "batch_size": 2,
                                       "max_new_tokens": 6})
    out = asr.transcribe(_waves(np.random.default_rng(0)), 16000)
    assert out == ["aaaaaa"] * 3  # the model's text, special tokens stripped, max_new_tokens respected


def test_whisper_forces_english_transcription_and_batches(whisper_dir):
    asr = WhisperASR(path=str(whisper_dir), batch_size=2, num_beams=2, max_new_tokens=4)
    model, _ = asr._load()
    calls = []
    generate = model.generate

    def spy(input_features, **kwargs):
        calls.append((input_features.shape[0], kwargs))
        return generate(input_features, **kwargs)

    model.generate = spy
    # 8 kHz input is resampled; 31 s of audio is cut into two 30 s pieces
    waves = _waves(np.random.default_rng(1), seconds=(0.5, 31.0, 0.7), sr=8000)
    assert asr.transcribe(waves, 8000) == ["aaaa", "aaaa aaaa", "aaaa"]
    assert [n for n, _ in calls] == [2, 2]  # 4 pieces in batches of 2
    for _, kw in calls:
        assert (kw["language"], kw["task"], kw["num_beams"], kw["max_new_tokens"]) == ("en", "transcribe", 2, 4)


def test_whisper_english_only_model_gets_no_language(whisper_dir):
    asr = WhisperASR(path=str(whisper_dir))
    fake = types.SimpleNamespace(generation_config=types.SimpleNamespace(lang_to_id=None),
                                 config=types.SimpleNamespace(max_target_positions=448))
    kw = asr._generate_kwargs(fake)
    assert "language" not in kw and "task" not in kw and kw["max_new_tokens"] == 200
    fake.generation_config.lang_to_id = {"<|fr|>": 5}
    with pytest.raises(ConfigError, match="no language 'en'"):
        asr._generate_kwargs(fake)


def test_whisper_missing_dir_says_what_to_put_where(tmp_path):
    asr = WhisperASR(path=str(tmp_path / "whisper-large-v3"))
    with pytest.raises(ConfigError) as e:
        asr.transcribe([np.zeros(1600, np.float32)], 16000)
    msg = str(e.value)
    assert f"no Whisper model at {tmp_path / 'whisper-large-v3'}" in msg
    assert "huggingface-cli download openai/whisper-large-v3" in msg and "never downloads" in msg


def test_whisper_rejects_bad_arguments(registry):
    with pytest.raises(ConfigError, match="dtype"):
        WhisperASR(path="x", dtype="int8")
    with pytest.raises(ConfigError, match="num_beams must be a positive integer"):
        registry.build("asr_model", {"name": "whisper", "path": "x", "num_beams": 0})


def _tiny_ctc_exp(path):
    import torch

    from s2s_plugin.asr.model import CTCNet
    from s2s_plugin.asr.tokens import CharTokenList

    path.mkdir()
    tokens = CharTokenList.build(["the black cat", "two red dogs"])
    tokens.save(path / "tokens.txt")
    kwargs = {"sample_rate": 16000, "encoder": "transformer",
              "encoder_conf": {"output_size": 16, "attention_heads": 2, "linear_units": 32, "num_blocks": 1,
                               "input_layer": "conv2d"}}
    torch.manual_seed(0)
    torch.save(CTCNet(len(tokens), **kwargs).state_dict(), path / "model.pth")
    (path / "config.yaml").write_text(yaml.safe_dump({"type": "s2s", **kwargs}))
    return path


def test_ctc_wraps_the_real_model(registry, tmp_path):
    from s2s_plugin.asr.ctc import load_ctc_model

    exp = _tiny_ctc_exp(tmp_path / "asr_en")
    waves = _waves(np.random.default_rng(2), seconds=(1.0, 0.6))
    asr = registry.build("asr_model", {"name": "ctc", "exp_dir": str(exp)})
    out = asr.transcribe(waves, 16000)
    assert out == load_ctc_model(exp).transcribe(waves, 16000)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    assert set("".join(out)) <= set("the black cat two red dogs")  # only characters it was built with


def test_ctc_passes_rate_and_device_to_the_model(monkeypatch, tmp_path):
    import s2s_plugin.asr.ctc as ctc

    seen = {}

    class StandIn:
        def transcribe(self, wavs, sr=None):
            seen["shapes"], seen["sr"] = [w.shape for w in wavs], sr
            return [f"utt {len(w)}" for w in wavs]

    def fake_load(exp_dir, device="cpu"):
        seen["exp"], seen["device"] = exp_dir, device
        return StandIn()

    monkeypatch.setattr(ctc, "load_ctc_model", fake_load)
    (tmp_path / "asr_en").mkdir()
    asr = CtcASR(exp_dir=str(tmp_path / "asr_en"), device="cuda")
    assert asr.transcribe([np.zeros(800), np.zeros(400)], 8000) == ["utt 800", "utt 400"]
    assert seen == {"exp": tmp_path / "asr_en", "device": "cuda", "shapes": [(800,), (400,)], "sr": 8000}


def test_ctc_missing_exp_dir(tmp_path):
    with pytest.raises(ConfigError, match="no CTC model at .*nope.*s2s ctc train --config conf/asr_en.yaml"):
        CtcASR(exp_dir=str(tmp_path / "nope")).transcribe([np.zeros(1600)], 16000)


def test_ctc_exp_dir_without_model_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a CTC model dir"):
        CtcASR(exp_dir=str(tmp_path / "empty")).transcribe([np.zeros(1600)], 16000)


def test_espnet_resolves_its_files(tmp_path):
    d = tmp_path / "espnet_asr"
    with pytest.raises(ConfigError, match="no model directory"):
        EspnetASR(model_dir=str(d)).resolve()
    d.mkdir()
    with pytest.raises(ConfigError, match="no config .*config.yaml"):
        EspnetASR(model_dir=str(d)).resolve()
    (d / "config.yaml").write_text("frontend_conf:\n  fs: 8k\n")
    with pytest.raises(ConfigError, match="no .pth model file"):
        EspnetASR(model_dir=str(d)).resolve()
    (d / "valid.acc.ave.pth").write_bytes(b"x")
    (d / "1epoch.pth").write_bytes(b"x")
    assert EspnetASR(model_dir=str(d)).resolve() == (d / "config.yaml", d / "valid.acc.ave.pth", 8000)
    (d / "valid.acc.ave.pth").unlink()
    (d / "2epoch.pth").write_bytes(b"x")
    with pytest.raises(ConfigError, match="several model files .*1epoch.pth, 2epoch.pth"):
        EspnetASR(model_dir=str(d)).resolve()
    assert EspnetASR(model_dir=str(d), model_file=str(d / "2epoch.pth")).resolve()[1] == d / "2epoch.pth"


TOKENS = ["<blank>", "<unk>", "<space>", "a", "b", "l", "<sos/eos>"]


@pytest.fixture(scope="module")
def espnet_zoo_dir(tmp_path_factory):
    """A tiny hybrid CTC/attention ESPnet ASR model laid out as an unpacked model-zoo archive: the config
    under exp/asr_train_*/ names its token list and global MVN statistics relative to the archive's root
    (the recipe dir it was trained in). Its CTC output says 'a' on every frame."""
    import torch

    root = tmp_path_factory.mktemp("espnet_zoo")
    token_list = root / "data" / "en_token_list" / "char" / "tokens.txt"
    token_list.parent.mkdir(parents=True)
    token_list.write_text("".join(t + "\n" for t in TOKENS), encoding="utf-8")
    stats = root / "exp" / "asr_stats_raw_en_char" / "train" / "feats_stats.npz"
    stats.parent.mkdir(parents=True)
    model = tiny_espnet_asr(TOKENS, stats)
    frontend_conf, encoder_conf, decoder_conf = ESPNET_FRONTEND, ESPNET_ENCODER, ESPNET_DECODER
    with torch.no_grad():  # the CTC branch says 'a' on every frame, whatever it hears
        model.ctc.ctc_lo.weight.zero_()
        model.ctc.ctc_lo.bias.zero_()
        model.ctc.ctc_lo.bias[TOKENS.index("a")] = 20.0
    exp = root / "exp" / "asr_train_asr_transformer_raw_en_char"
    exp.mkdir()
    torch.save(model.state_dict(), exp / "valid.acc.ave.pth")
    config = {"token_list": "data/en_token_list/char/tokens.txt", "token_type": "char", "bpemodel": None,
              "input_size": None, "frontend": "default", "frontend_conf": {"fs": "16k", **frontend_conf},
              "specaug": None, "specaug_conf": {}, "normalize": "global_mvn",
              "normalize_conf": {"stats_file": "exp/asr_stats_raw_en_char/train/feats_stats.npz"},
              "model": "espnet", "model_conf": {"ctc_weight": 0.3}, "preencoder": None, "preencoder_conf": {},
              "encoder": "transformer", "encoder_conf": encoder_conf, "postencoder": None, "postencoder_conf": {},
              "decoder": "transformer", "decoder_conf": decoder_conf, "ctc_conf": {"dropout_rate": 0.0},
              "joint_net_conf": None, "init": None}
    (exp / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root, exp


def test_espnet_transcribes_with_speech2text(espnet_zoo_dir, tmp_path, monkeypatch):
    """The plugin runs espnet2.bin.asr_inference.Speech2Text itself (no stand-in), from another working dir:
    the config's relative paths are found beside the model."""
    root, exp = espnet_zoo_dir
    monkeypatch.chdir(tmp_path)  # the recipe dir the paths were relative to is not the working dir
    asr = EspnetASR(model_dir=str(root), config=str(exp / "config.yaml"), beam_size=2, ctc_weight=1.0,
                    model_file=str(exp / "valid.acc.ave.pth"), options={"maxlenratio": 0.0})
    rng = np.random.default_rng(1)
    waves = [0.1 * rng.standard_normal(12000).astype(np.float32), 0.1 * rng.standard_normal(9000).astype(np.float32)]
    assert asr.transcribe(waves, 16000) == ["a", "a"]
    assert asr.transcribe([waves[1][:4500]], 8000) == ["a"]  # resampled to the model's 16 kHz
    from espnet2.bin.asr_inference import Speech2Text

    assert isinstance(asr._s2t, Speech2Text) and asr._s2t.asr_model.token_list == TOKENS
    assert not list(tmp_path.iterdir())  # the resolved copy of the config is not left behind
    # ESPnet itself resolves the paths from the working directory: the model does not load from here
    with pytest.raises(FileNotFoundError, match="data/en_token_list/char/tokens.txt"):
        Speech2Text(asr_train_config=str(exp / "config.yaml"), asr_model_file=str(exp / "valid.acc.ave.pth"))


def test_espnet_config_paths_resolve_beside_the_model(tmp_path, monkeypatch):
    from s2s_plugin.asr.scorers import resolve_config_paths

    model = tmp_path / "model"
    (model / "conf").mkdir(parents=True)
    (model / "conf" / "feats_stats.npz").write_bytes(b"x")      # beside the config
    (model / "data" / "bpe").mkdir(parents=True)
    (model / "data" / "bpe" / "bpe.model").write_bytes(b"x")    # relative to the model dir
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    args = {"normalize_conf": {"stats_file": "feats_stats.npz"}, "bpemodel": "data/bpe/bpe.model",
            "encoder": "conformer", "token_list": ["<blank>", "<sos/eos>", "a.b"], "frontend_conf": {"fs": "16k"},
            "missing": "exp/not/there.npz", "absolute": str(tmp_path / "abs.npz"), "layers": [1, 2]}
    out, changed = resolve_config_paths(args, model / "conf" / "config.yaml", model)
    assert out["normalize_conf"]["stats_file"] == str((model / "conf" / "feats_stats.npz").resolve())
    assert out["bpemodel"] == str((model / "data" / "bpe" / "bpe.model").resolve())
    for key in ("encoder", "token_list", "frontend_conf", "missing", "absolute", "layers"):
        assert out[key] == args[key]
    assert [old for old, _ in changed] == ["feats_stats.npz", "data/bpe/bpe.model"]
    assert args["bpemodel"] == "data/bpe/bpe.model"  # the given config is not changed


def test_recipe_scoring_asr_config_learns_reference_target_speech_only():
    from pathlib import Path

    from s2s_plugin.asr.train import CTCTrainConfig
    from s2s_plugin.config import load_config

    confs = sorted(Path(__file__).resolve().parents[2].glob("egs/*/s2st1/conf/asr_en.yaml"))
    assert confs
    for conf in confs:
        cfg = load_config(CTCTrainConfig, conf)
        assert cfg.sides == ["tgt"] and cfg.langs == ["en"] and cfg.tgt_lang == "en"
