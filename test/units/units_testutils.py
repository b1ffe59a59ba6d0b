"""Helpers of the unit tests (importable by test modules; fixtures live in conftest.py)."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

FS = 16000


def babble(seconds: float, seed: int, fs: int = FS) -> np.ndarray:
    """Speech-like test audio: 80 ms segments of a few harmonics with varying pitch, plus a little noise."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    seg = int(0.08 * fs)
    f0 = np.repeat(rng.uniform(90, 300, n // seg + 1), seg)[:n]
    phase = 2 * np.pi * np.cumsum(f0) / fs
    amps = np.repeat(rng.uniform(0, 1, (n // seg + 1, 4)), seg, axis=0)[:n]
    x = sum(amps[:, k] * np.sin((k + 1) * phase) for k in range(4)) / 4
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2) + 0.01 * rng.standard_normal(n)
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def write_dump_dir(root: Path, durations: dict[str, tuple[float, float]], src: str = "fr", tgt: str = "en",
                   fs: int = FS, seed: int = 0) -> Path:
    """A stage-2-like dump dir: wav.scp/text/utt2dur per language and utt2spk."""
    words = {src: "le chat noir ne dort pas ce soir".split(), tgt: "the black cat does not sleep tonight".split()}
    (root / "audio").mkdir(parents=True, exist_ok=True)
    files = {lang: {"wav.scp": [], "text": [], "utt2dur": []} for lang in (src, tgt)}
    for i, utt in enumerate(sorted(durations)):
        for j, lang in enumerate((src, tgt)):
            secs = durations[utt][j]
            wav = babble(secs, seed=seed * 1000 + 2 * i + j, fs=fs)
            path = root / "audio" / f"{utt}.{lang}.wav"
            sf.write(path, wav, fs)
            files[lang]["wav.scp"].append(f"{utt} {path}")
            files[lang]["text"].append(f"{utt} {' '.join(words[lang][:2 + i % 5])}")
            files[lang]["utt2dur"].append(f"{utt} {len(wav) / fs:.6f}")
    for lang, kinds in files.items():
        for kind, rows in kinds.items():
            (root / f"{kind}.{lang}").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "utt2spk").write_text("".join(f"{u} {u.split('_')[0]}\n" for u in sorted(durations)), encoding="utf-8")
    return root


DURATIONS = {"spk1_a": (0.9, 1.1), "spk1_b": (1.3, 0.7), "spk2_c": (0.6, 0.8), "spk2_d": (1.0, 1.2),
             "spk3_e": (0.75, 0.95), "spk3_f": (1.15, 0.65), "spk4_g": (0.5, 0.55)}


class StandInCtcModel:
    """The stage-3 CTC model API (``s2s_plugin.asr.ctc``) on a tiny random network.

    A strided convolution turns 16 kHz audio into 50 frames per second; each
    "layer" is a tanh(linear) of the previous one.
    """

    frame_rate = 50.0
    tokens = ["<blank>", "a", "b", "c"]

    def __init__(self, n_layers: int = 3, dim: int = 16, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.frame = rng.standard_normal((320, dim)).astype(np.float32) / 18
        self.layers = [rng.standard_normal((dim, dim)).astype(np.float32) / 4 for _ in range(n_layers)]
        self.out = rng.standard_normal((dim, len(self.tokens))).astype(np.float32)

    def layer_features(self, wav: np.ndarray, sr: int, layer: int) -> np.ndarray:
        if sr != 16000:
            from s2s_plugin.data.format import resample

            wav = resample(wav, sr, 16000)
        n = len(wav) // 320
        h = np.tanh(wav[: n * 320].reshape(n, 320) @ self.frame)
        for w in self.layers[:layer]:
            h = np.tanh(h @ w)
        return h

    def log_posteriors(self, wav: np.ndarray, sr: int) -> np.ndarray:
        logits = self.layer_features(wav, sr, len(self.layers)) @ self.out
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def save_w2v2(path, norm: str = "layer", layout: str = "installed", ctc: bool = True):
    """A tiny random wav2vec 2.0 (CTC head) saved with a character tokenizer and feature extractor.

    ``layout="installed"`` saves a ``Wav2Vec2Processor`` with the installed transformers (5 writes
    ``processor_config.json`` with the feature extractor nested); ``layout="other"`` writes the files
    the way the other major version does (transformers 4: the feature extractor's settings flat in
    ``preprocessor_config.json``, naming the processor class).
    """
    import json

    import torch
    import transformers
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Model, Wav2Vec2Processor)

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                         vocab_size=6, feat_extract_norm=norm, do_stable_layer_norm=norm == "layer")
    model = Wav2Vec2ForCTC(cfg) if ctc else Wav2Vec2Model(cfg)
    model.save_pretrained(path)
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True,
                                  return_attention_mask=norm == "layer")
    vocab = path / "vocab.json"
    vocab.write_text(json.dumps({"<pad>": 0, "|": 1, "<unk>": 2, "a": 3, "b": 4, "c": 5}))
    major = int(transformers.__version__.split(".")[0])
    if layout == "installed":
        Wav2Vec2Processor(feature_extractor=fe, tokenizer=Wav2Vec2CTCTokenizer(str(vocab))).save_pretrained(path)
        assert (path / ("processor_config.json" if major >= 5 else "preprocessor_config.json")).is_file()
    else:
        settings = {**fe.to_dict(), "processor_class": "Wav2Vec2Processor"}
        if major >= 5:  # write what transformers 4 writes: flat preprocessor_config.json
            (path / "preprocessor_config.json").write_text(json.dumps(settings, indent=2))
        else:  # write what transformers 5 writes: the settings nested in processor_config.json
            (path / "processor_config.json").write_text(json.dumps(
                {"feature_extractor": settings, "processor_class": "Wav2Vec2Processor"}, indent=2))
        Wav2Vec2CTCTokenizer(str(vocab)).save_pretrained(path)
    return model.eval()
