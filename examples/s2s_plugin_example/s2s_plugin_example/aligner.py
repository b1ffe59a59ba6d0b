"""``pause_snap``: word spans by characters, each boundary moved to the quietest frame nearby.

    aligner:
      name: pause_snap
      search_ms: 120    # a boundary moves at most this far, to the lowest-energy 10 ms frame
"""
from __future__ import annotations

from typing import Any

import numpy as np

from s2s_plugin.align.common import AlignmentError, speech_bounds
from s2s_plugin.data.io import WordSpan


class PauseSnapAligner:
    """Split the speech between its first and last loud frame in proportion to each word's
    characters, then move every inner boundary to the quietest 10 ms frame within
    ``search_ms`` of it (speakers often pause, or at least soften, between words).

    Args:
        search_ms: how far a boundary may move.
        vad_db: frames within this many dB of the loudest count as speech (the outer edges).
    """

    name = "pause_snap"

    def __init__(self, search_ms: float = 120.0, vad_db: float = 35.0) -> None:
        if search_ms < 0:
            raise ValueError(f"pause_snap: search_ms must be >= 0, got {search_ms}")
        self.search_s, self.vad_db = search_ms / 1000.0, float(vad_db)

    def setup(self, data_dir: str, lang: str) -> None:
        """Nothing to prepare: no model, no data."""

    def align(self, utt_id: str, words: list[str], wav: Any, sr: int) -> list[WordSpan]:
        wav = np.asarray(wav, dtype=np.float64)
        if not words:
            raise AlignmentError("no words")
        if len(wav) == 0:
            raise AlignmentError("empty audio")
        start, end = speech_bounds(wav, sr, self.vad_db)
        weights = np.array([max(1, len(w)) for w in words], dtype=np.float64)
        edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        hop = max(1, sr // 100)
        energy = np.array([np.mean(wav[i:i + hop] ** 2) for i in range(0, len(wav), hop)])
        for k in range(1, len(words)):  # inner boundaries, in order; every word keeps >= 10 ms
            lo = max(edges[k - 1] + 0.01, edges[k] - self.search_s)
            hi = min(edges[k + 1] - 0.01, edges[k] + self.search_s)
            i0, i1 = int(np.ceil(lo * 100)), min(len(energy), int(hi * 100) + 1)
            if i1 > i0:
                edges[k] = (i0 + int(np.argmin(energy[i0:i1]))) / 100.0
        return [WordSpan(w, float(a), float(b - a)) for w, a, b in zip(words, edges[:-1], edges[1:])]
