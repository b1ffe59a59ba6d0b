"""``log_energy_bins``: a unit tokenizer that needs no model, frame log-energy quantised into bins.

    tokenizer:
      name: log_energy_bins
      n_clusters: 16       # bins; their edges are quantiles of the training frames' log-energy
      frame_shift_ms: 20   # 50 units per second, the rate of most SSL units
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class LogEnergyBins:
    """Units = which quantile bin of the training frames' log-energy each frame falls in.

    Crude (it hears loudness, not phones), but a complete unit tokenizer: it is
    fitted on stage 4's training frames, saved into the units exp dir and
    loaded back to label every set.

    Args:
        n_clusters: the number of bins (units ``0 .. n_clusters - 1``).
        frame_shift_ms: hop between frames; the unit rate is ``1000 / frame_shift_ms``.
        frame_length_ms: analysis window.
    """

    name = "log_energy_bins"

    def __init__(self, n_clusters: int = 16, frame_shift_ms: float = 20.0, frame_length_ms: float = 25.0) -> None:
        if n_clusters < 2:
            raise ValueError(f"log_energy_bins: n_clusters must be >= 2, got {n_clusters}")
        if frame_shift_ms <= 0 or frame_length_ms < frame_shift_ms:
            raise ValueError("log_energy_bins: need 0 < frame_shift_ms <= frame_length_ms, got "
                             f"{frame_shift_ms} and {frame_length_ms}")
        self._n, self.shift_ms, self.length_ms = int(n_clusters), float(frame_shift_ms), float(frame_length_ms)
        self.edges: np.ndarray | None = None

    @property
    def frame_rate(self) -> float:
        return 1000.0 / self.shift_ms

    @property
    def n_clusters(self) -> int:
        return self._n

    def features(self, wav: Any, sr: int) -> np.ndarray:
        wav = np.asarray(wav, dtype=np.float64)
        hop, win = int(round(sr * self.shift_ms / 1000)), int(round(sr * self.length_ms / 1000))
        n = max(1, int(np.ceil(len(wav) / hop)))
        padded = np.pad(wav, (0, n * hop + win - len(wav)))
        frames = np.lib.stride_tricks.sliding_window_view(padded, win)[::hop][:n]
        return np.log(np.mean(frames ** 2, axis=1) + 1e-10)[:, None].astype(np.float32)

    def fit(self, features: Any) -> dict[str, Any]:
        values = np.concatenate([np.asarray(f)[:, 0] for f in features])
        if values.size < self._n:
            raise ValueError(f"log_energy_bins: {values.size} training frames for {self._n} bins")
        self.edges = np.quantile(values, np.arange(1, self._n) / self._n)
        return {"frames": int(values.size), "log_energy_min": float(values.min()),
                "log_energy_max": float(values.max())}

    def encode(self, wav: Any, sr: int) -> np.ndarray:
        if self.edges is None:
            raise RuntimeError("log_energy_bins: fit or load before encode")
        return np.searchsorted(self.edges, self.features(wav, sr)[:, 0], side="right").astype(np.int64)

    def save(self, directory: Any) -> None:
        Path(directory, "log_energy_bins.json").write_text(json.dumps({"edges": self.edges.tolist()}))

    def load(self, directory: Any) -> None:
        path = Path(directory, "log_energy_bins.json")
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: fit the log_energy_bins tokenizer into {directory} first")
        edges = np.asarray(json.loads(path.read_text())["edges"], dtype=np.float64)
        if edges.size != self._n - 1:
            raise ValueError(f"{path}: {edges.size + 1} bins, but the config asks for n_clusters={self._n}")
        self.edges = edges
