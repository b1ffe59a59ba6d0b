"""The ``uniform`` aligner: equal word spans, no acoustic model (the paper's no-alignment ablation).

    # conf/align_uniform.yaml
    aligner:
      name: uniform
      span: speech      # speech: between the first and last loud frame; whole: the whole utterance
      weights: equal    # equal: every word the same length; chars: proportional to its characters
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from s2s_plugin.align.common import AlignmentError, speech_bounds
from s2s_plugin.data.io import WordSpan
from s2s_plugin.errors import ConfigError


class UniformAligner:
    """Split the speech (or the whole utterance) into one span per word.

    Example::

        UniformAligner(span="whole").align("u1", ["a", "b"], np.zeros(16000), 16000)
        # [WordSpan('a', 0.0, 0.5), WordSpan('b', 0.5, 0.5)]

    Args:
        span: ``speech`` (from the first to the last frame within ``vad_db`` of the loudest)
            or ``whole``.
        weights: ``equal`` spans, or spans proportional to the word's ``chars``.
        vad_db: the energy threshold below the loudest frame for ``span: speech``.
    """

    name: ClassVar[str] = "uniform"

    def __init__(self, span: str = "speech", weights: str = "equal", vad_db: float = 35.0) -> None:
        if span not in ("speech", "whole"):
            raise ConfigError(f"aligner 'uniform': span must be 'speech' or 'whole', got {span!r}")
        if weights not in ("equal", "chars"):
            raise ConfigError(f"aligner 'uniform': weights must be 'equal' or 'chars', got {weights!r}")
        self.span, self.weights, self.vad_db = span, weights, float(vad_db)

    def setup(self, data_dir: str, lang: str) -> None:
        """Nothing to prepare."""

    def align(self, utt_id: str, words: list[str], wav: np.ndarray, sr: int) -> list[WordSpan]:
        if not words:
            raise AlignmentError("no words")
        duration = len(wav) / sr
        if duration <= 0:
            raise AlignmentError("empty audio")
        start, end = speech_bounds(wav, sr, self.vad_db) if self.span == "speech" else (0.0, duration)
        w = np.ones(len(words)) if self.weights == "equal" else np.array([len(x) for x in words], float)
        edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(w) / w.sum()])
        return [WordSpan(word, float(a), float(b - a)) for word, a, b in zip(words, edges[:-1], edges[1:])]
