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
