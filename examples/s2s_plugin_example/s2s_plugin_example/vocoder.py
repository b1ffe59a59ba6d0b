"""``unit_tones``: each unit is a short tone of its own pitch, as loud as the unit was in training.

    vocoder:
      name: unit_tones       # frame_rate and n_units come from stage 4's units.<lang>.info
      low_hz: 150
      high_hz: 1500

Not speech: a vocoder that shows the whole stage-10 contract (fit on training
pairs, save, load, synthesize, errors for bad units) in a few lines.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.errors import DataError


class UnitTones:
    """Unit ``u`` sounds for one frame as a sine at a pitch that rises with ``u``, at the mean
    RMS level the training speech had in the frames labelled ``u``.

    Args:
        frame_rate: units per second (stage 4's).
        n_units: the unit vocabulary size (stage 4's).
        sample_rate: output rate.
        low_hz, high_hz: the pitches of unit 0 and of unit ``n_units - 1`` (log-spaced between).
    """

    name = "unit_tones"

    def __init__(self, frame_rate: float = 50.0, n_units: int = 100, sample_rate: int = 16000,
                 low_hz: float = 150.0, high_hz: float = 1500.0) -> None:
        if frame_rate <= 0 or n_units < 1 or not 0 < low_hz < high_hz < sample_rate / 2:
            raise ValueError("unit_tones: need frame_rate > 0, n_units >= 1 and 0 < low_hz < high_hz < "
                             f"sample_rate / 2; got {frame_rate}, {n_units}, {low_hz}, {high_hz}")
        self.frame_rate, self._n, self._sr = float(frame_rate), int(n_units), int(sample_rate)
        self.pitches = np.geomspace(low_hz, high_hz, self._n)
        self.levels = np.full(self._n, 0.05)

    @property
    def sample_rate(self) -> int:
        return self._sr

    @property
    def n_units(self) -> int:
        return self._n

    @property
    def hop(self) -> int:
        return int(round(self._sr / self.frame_rate))

    def fit(self, examples: Any) -> dict[str, Any]:
        total, count = np.zeros(self._n), np.zeros(self._n)
        n_utts = 0
        for wave, sr, units in examples:
            hop = int(round(sr / self.frame_rate))
            units = np.asarray(units, dtype=np.int64)
            frames = np.asarray(wave, dtype=np.float64)[:len(units) * hop]
            frames = np.pad(frames, (0, len(units) * hop - len(frames))).reshape(len(units), hop)
            np.add.at(total, units, np.sqrt(np.mean(frames ** 2, axis=1)))
            np.add.at(count, units, 1)
            n_utts += 1
        seen = count > 0
        self.levels = np.where(seen, total / np.maximum(count, 1), np.mean(total[seen] / count[seen]) if seen.any()
                               else 0.05)
        return {"utterances": n_utts, "units_seen": int(seen.sum())}

    def synthesize(self, units: Any) -> tuple[np.ndarray, int]:
        units = np.asarray(units, dtype=np.int64)
        if units.size == 0:
            raise DataError("unit_tones: empty unit sequence")
        bad = units[(units < 0) | (units >= self._n)]
        if bad.size:
            raise DataError(f"unit_tones: unit {int(bad[0])} is outside 0..{self._n - 1}")
        t = np.arange(self.hop) / self._sr
        tones = np.sqrt(2) * self.levels[units, None] * np.sin(2 * np.pi * self.pitches[units, None] * t)
        return tones.reshape(-1).astype(np.float32), self._sr

    def save(self, directory: Any) -> None:
        Path(directory, "unit_tones.json").write_text(json.dumps({"levels": self.levels.tolist()}))

    def load(self, directory: Any) -> None:
        path = Path(directory, "unit_tones.json")
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `s2s vocoder fit` with this vocoder first")
        levels = np.asarray(json.loads(path.read_text())["levels"])
        if levels.size != self._n:
            raise ValueError(f"{path}: {levels.size} units, but the config has n_units={self._n}")
        self.levels = levels
