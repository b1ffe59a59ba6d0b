"""``tonality``: how far from white noise the loud frames of a waveform are (spectral flatness, in dB).

    quality:
      name: tonality
      active_db: 40    # frames within this many dB of the loudest count
"""
from __future__ import annotations

import numpy as np


class Tonality:
    """Mean over active 25 ms frames of ``-10 log10(spectral flatness)``: 0 dB for white noise,
    higher for voiced, harmonic sound. A crude check that a vocoder makes structured sound
    rather than hiss; not a MOS.

    Args:
        active_db: frames within this many dB of the loudest frame are scored.
    """

    name = "tonality"
    unit = "dB"

    def __init__(self, active_db: float = 40.0) -> None:
        if active_db <= 0:
            raise ValueError(f"tonality: active_db must be > 0, got {active_db}")
        self.active_db = float(active_db)

    def score(self, wavs: list[np.ndarray], sr: int) -> list[float]:
        return [self._one(np.asarray(w, dtype=np.float64), sr) for w in wavs]

    def _one(self, wav: np.ndarray, sr: int) -> float:
        win, hop = int(0.025 * sr), int(0.010 * sr)
        if len(wav) < win:
            return float("nan")
        frames = np.lib.stride_tricks.sliding_window_view(wav, win)[::hop] * np.hanning(win)
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
        energy = 10 * np.log10(power.sum(axis=1))
        active = energy >= energy.max() - self.active_db
        if energy.max() < -100 or not active.any():  # digital silence
            return float("nan")
        p = power[active]
        flatness = np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)
        return float(np.mean(-10 * np.log10(flatness)))
