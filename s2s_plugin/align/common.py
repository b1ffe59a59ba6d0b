"""What every aligner shares: its exceptions and a simple energy speech detector.

    from s2s_plugin.align.common import AlignmentError, speech_bounds

    start, end = speech_bounds(wave, 16000)     # seconds of the first and last loud frame
    raise AlignmentError("audio too short: 12 frames for 30 tokens")   # the stage reports the utterance
"""
from __future__ import annotations

import numpy as np

from s2s_plugin.errors import S2SError


class AlignmentError(S2SError):
    """This utterance cannot be aligned; the message says why (the stage reports it, then goes on)."""


class AlignmentWarning(UserWarning):
    """Aligned, but with a compromise worth reporting (e.g. a character left out)."""


def speech_bounds(wav: np.ndarray, sr: int, threshold_db: float = 35.0, win: float = 0.025,
                  hop: float = 0.010) -> tuple[float, float]:
    """Start and end (seconds) of the speech in ``wav``: the centres of the first and last frames whose
    energy is within ``threshold_db`` of the loudest frame. The whole signal when it is silent or
    shorter than a frame.
    """
    wav = np.asarray(wav, dtype=np.float64)
    duration = len(wav) / sr
    n_win, n_hop = max(1, int(round(win * sr))), max(1, int(round(hop * sr)))
    if len(wav) < n_win:
        return 0.0, duration
    frames = np.lib.stride_tricks.sliding_window_view(wav, n_win)[::n_hop]
    energy = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    if energy.max() <= -110:  # digital silence
        return 0.0, duration
    loud = np.flatnonzero(energy >= energy.max() - threshold_db)
    start = (loud[0] * n_hop + n_win / 2) / sr
    end = min(duration, (loud[-1] * n_hop + n_win / 2) / sr)
    return float(start), float(end)
