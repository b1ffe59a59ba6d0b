"""Implausible alignments: word spans whose durations do not fit their characters, or silent outer words.

    from s2s_plugin.align.plausibility import check_plausible

    reasons = check_plausible(spans, wav, 16000, max_ratio=4.0, max_edge_silence=0.5)
    # ['word 3 'chat': 1.46 s, 5.2x what its 4 characters predict (0.28 s)', ...]; [] when plausible

Two checks, each switched off by None:

- duration ratio: the utterance's speaking rate is its total word time over its
  characters (letters and digits); a word predicts that rate times its own
  characters. A word lasting more than ``max_ratio`` times its prediction, or
  less than ``1 / max_ratio`` of it, is implausible (a word without letters,
  such as a free-standing ``?``, is not checked);
- edge silence (needs the audio): the silence inside the first word before the
  first loud frame, and inside the last word after the last one (frames of
  25 ms every 10 ms, loud within ``silence_db`` of the utterance's loudest),
  more than ``max_edge_silence`` seconds is implausible.

``s2s align-report`` counts such utterances; the align stage drops them when
its ``max_duration_ratio`` / ``max_edge_silence`` are set (listed in
``<out>.<lang>.dropped`` with the reason).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from s2s_plugin.data.io import WordSpan
from s2s_plugin.errors import ConfigError

WIN, HOP = 0.025, 0.010


def _chars(word: str) -> int:
    return sum(c.isalnum() for c in word)


def loud_frames(wav: np.ndarray, sr: int, silence_db: float = 35.0) -> np.ndarray:
    """Centre times (seconds) of the frames within ``silence_db`` of the loudest one."""
    wav = np.asarray(wav, dtype=np.float64)
    if wav.ndim == 2:
        wav = wav.mean(axis=1)
    n_win, n_hop = max(1, int(round(WIN * sr))), max(1, int(round(HOP * sr)))
    if len(wav) < n_win:
        return np.array([len(wav) / (2 * sr)])
    frames = np.lib.stride_tricks.sliding_window_view(wav, n_win)[::n_hop]
    energy = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(energy >= energy.max() - silence_db)
    return (loud * n_hop + n_win / 2) / sr


def edge_silences(spans: Sequence[WordSpan], wav: np.ndarray, sr: int,
                  silence_db: float = 35.0) -> tuple[float, float]:
    """Seconds of silence at the start of the first word and at the end of the last word."""
    loud = loud_frames(wav, sr, silence_db)
    first, last = spans[0], spans[-1]
    inside = loud[(loud >= first.start) & (loud <= first.end)]
    lead = (inside[0] - first.start) if len(inside) else first.duration
    inside = loud[(loud >= last.start) & (loud <= last.end)]
    trail = (last.end - inside[-1]) if len(inside) else last.duration
    return max(float(lead), 0.0), max(float(trail), 0.0)


def duration_ratios(spans: Sequence[WordSpan]) -> list[float | None]:
    """Each word's duration over what its characters predict at the utterance's rate (None: no letters)."""
    counted = [(s, _chars(s.word)) for s in spans]
    total_chars = sum(n for _, n in counted)
    total_time = sum(s.duration for s, n in counted if n)
    if not total_chars or total_time <= 0:
        return [None] * len(spans)
    per_char = total_time / total_chars
    return [s.duration / (n * per_char) if n else None for s, n in counted]


def check_plausible(spans: Sequence[WordSpan], wav: np.ndarray | None = None, sr: int | None = None,
                    max_ratio: float | None = 4.0, max_edge_silence: float | None = 0.5,
                    silence_db: float = 35.0) -> list[str]:
    """Why the alignment of one utterance is implausible (``[]``: it is not).

    Args:
        spans: the utterance's word spans.
        wav, sr: its audio (the edge-silence check is skipped without it).
        max_ratio: see the module docstring; None: no duration check.
        max_edge_silence: seconds; None: no silence check.
        silence_db: frames quieter than the loudest by more than this are silence.
    """
    if max_ratio is not None and max_ratio <= 1:
        raise ConfigError(f"max_duration_ratio must be > 1, got {max_ratio}")
    if max_edge_silence is not None and max_edge_silence < 0:
        raise ConfigError(f"max_edge_silence must be >= 0, got {max_edge_silence}")
    reasons: list[str] = []
    if not spans:
        return reasons
    if max_ratio is not None:
        ratios = duration_ratios(spans)
        for i, (s, r) in enumerate(zip(spans, ratios)):
            if r is None or 1 / max_ratio <= r <= max_ratio:
                continue
            n = _chars(s.word)
            reasons.append(f"word {i + 1} '{s.word}': {s.duration:.2f} s, {r:.2f}x what its {n} "
                           f"character{'s' if n > 1 else ''} predict{'' if n > 1 else 's'} ({s.duration / r:.2f} s)")
    if max_edge_silence is not None and wav is not None and sr is not None:
        lead, trail = edge_silences(spans, wav, sr, silence_db)
        if lead > max_edge_silence:
            reasons.append(f"{lead:.2f} s of silence at the start of the first word '{spans[0].word}'")
        if trail > max_edge_silence:
            reasons.append(f"{trail:.2f} s of silence at the end of the last word '{spans[-1].word}'")
    return reasons
