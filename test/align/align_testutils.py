"""Helpers of the aligner tests: synthetic audio, and a CTC model whose posteriors are written by hand."""
from __future__ import annotations

import numpy as np

FS = 16000


def tone(seconds: float, freq: float = 300.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * FS))) / FS
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * FS)), np.float32)


class HandMadeCTC:
    """A CTCModel whose posteriors come from a dict ``{frame: token}`` (blank elsewhere).

    Tokens: ``<blank> a b c <space>``; 50 frames per second; the audio length sets the frames.
    """

    tokens = ["<blank>", "a", "b", "c", "<space>"]
    frame_rate = 50.0
    sample_rate = FS
    num_layers = 1
    space_id = 4

    def __init__(self, spikes: dict[int, int] | None = None) -> None:
        self.spikes = spikes or {}

    def word_ids(self, word: str) -> list[int]:
        missing = [c for c in word if c not in self.tokens]
        if missing:
            raise ValueError(f"word '{word}' has characters not in the model vocabulary: {missing}")
        return [self.tokens.index(c) for c in word]

    def log_posteriors(self, wav, sr):
        n = int(len(wav) / sr * self.frame_rate)
        p = np.full((n, len(self.tokens)), 0.01)
        p[:, 0] = 0.96
        for t, tok in self.spikes.items():
            if t < n:
                p[t] = 0.01
                p[t, tok] = 0.96
        return np.log(p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def layer_features(self, wav, sr, layer):
        return self.log_posteriors(wav, sr)

    def transcribe(self, wavs, sr=None):
        return [""] * len(wavs)
