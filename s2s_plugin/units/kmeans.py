"""Streaming mini-batch k-means: fit on a stream of feature arrays in bounded memory.

    km = StreamingKMeans(n_clusters=500, batch_size=10000, epochs=2, seed=0)
    stats = km.fit(stream)          # stream: re-iterable of (T, D) float32 arrays, one per utterance
    km.save("exp/units")            # exp/units/centres.npy
    units = km.assign(feats)        # (T,) int32 nearest centre

Frames from consecutive utterances are gathered into a buffer of
``batch_size`` rows (the first one of ``max(batch_size, 3 * n_clusters)`` rows,
for the k-means++ initialisation), shuffled within the buffer with the seed,
and passed to ``sklearn.cluster.MiniBatchKMeans.partial_fit``. The memory held
is one buffer, one utterance's features and the centres, whatever the number
of utterances; ESPnet's ``perform_kmeans.sh`` instead loads every feature.
Each epoch is one more pass over the stream (the caller decides the order).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.data.io import atomic_write
from s2s_plugin.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

CENTRES_FILE = "centres.npy"
#: Rows of the sample each batch's distortion is measured on (before its update).
_DISTORTION_ROWS = 1000


def nearest_centre(feats: np.ndarray, centres: np.ndarray, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centre (squared Euclidean) of each row, and that squared distance.

    Works on blocks of ``block`` rows so memory stays at ``block * n_clusters`` floats.
    """
    feats = np.asarray(feats, dtype=np.float32)
    c_sq = np.einsum("kd,kd->k", centres, centres)
    labels = np.empty(len(feats), dtype=np.int32)
    dists = np.empty(len(feats), dtype=np.float32)
    for start in range(0, len(feats), block):
        x = feats[start:start + block]
        d = c_sq[None, :] - 2.0 * (x @ centres.T)
        idx = np.argmin(d, axis=1)
        labels[start:start + block] = idx
        x_sq = np.einsum("td,td->t", x, x)
        dists[start:start + block] = np.maximum(d[np.arange(len(x)), idx] + x_sq, 0.0)
    return labels, dists


class StreamingKMeans:
    """Mini-batch k-means over a feature stream, with ``sklearn``'s ``MiniBatchKMeans.partial_fit``.

    Example::

        km = StreamingKMeans(n_clusters=64, batch_size=2048, seed=0)
        km.fit([np.random.rand(300, 39).astype("float32") for _ in range(50)])
        km.assign(np.zeros((5, 39), "float32"))      # array of 5 cluster ids

    Args:
        n_clusters: number of centres (the unit vocabulary size).
        batch_size: frames per mini-batch update.
        epochs: passes over the stream.
        seed: seeds the initialisation, the in-buffer shuffles and re-assignments.
    """

    def __init__(self, n_clusters: int = 100, batch_size: int = 10000, epochs: int = 1, seed: int = 0) -> None:
        for key, value, low in (("n_clusters", n_clusters, 2), ("batch_size", batch_size, 1), ("epochs", epochs, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"k-means: {key} must be an integer >= {low}, got {value!r}")
        self.n_clusters, self.batch_size, self.epochs, self.seed = n_clusters, batch_size, epochs, seed
        self.centres: np.ndarray | None = None

    def __repr__(self) -> str:
        return (f"StreamingKMeans(n_clusters={self.n_clusters}, batch_size={self.batch_size}, "
                f"epochs={self.epochs}, seed={self.seed})")

    @property
    def init_size(self) -> int:
        """Rows of the first mini-batch, used for the k-means++ initialisation."""
        return max(self.batch_size, 3 * self.n_clusters)

    def fit(self, stream: Iterable[np.ndarray]) -> dict[str, Any]:
        """Fit the centres on ``epochs`` passes over ``stream``.

        Returns:
            ``frames`` (rows seen, all epochs), ``frames_per_epoch``, ``batches``,
            ``feature_dim``, ``distortion`` (per epoch, the mean squared distance of
            a sample of each batch to the centres before its update: a convergence
            trace), ``kmeans_seconds`` (time in the k-means updates only) and
            ``max_buffer_rows``.

        Raises:
            DataError: fewer frames than ``n_clusters``, or features of varying dimension.
            TypeError: ``epochs > 1`` with a one-shot iterator (a generator) as the stream.
        """
        from sklearn.cluster import MiniBatchKMeans

        if self.epochs > 1 and isinstance(stream, Iterator):
            raise TypeError(f"k-means: {self.epochs} epochs need a stream that can be iterated again (a list, or "
                            f"an object whose __iter__ starts a new pass), not a one-shot iterator")
        km = MiniBatchKMeans(n_clusters=self.n_clusters, batch_size=self.batch_size, random_state=self.seed,
                             n_init=1, compute_labels=False, max_no_improvement=None)
        rng = np.random.default_rng(self.seed)
        state = {"dim": None, "batches": 0, "kmeans_s": 0.0, "max_rows": 0, "fitted": False}
        stats: dict[str, Any] = {"frames": 0, "frames_per_epoch": [], "distortion": []}
        for epoch in range(self.epochs):
            buf: list[np.ndarray] = []
            rows, frames, dist_sum, dist_n = 0, 0, 0.0, 0
            for feats in stream:
                feats = self._check(feats, state)
                buf.append(feats)
                rows += len(feats)
                frames += len(feats)
                need = self.batch_size if state["fitted"] else self.init_size
                while rows >= need:
                    batch, buf, rows = _take(buf, need, rows)
                    d = self._update(km, batch, rng, state)
                    dist_sum, dist_n = dist_sum + d[0], dist_n + d[1]
                    need = self.batch_size
            if epoch == 0 and not state["fitted"] and rows < self.n_clusters:
                raise DataError(f"k-means: the fit portion gave {rows} frames, fewer than n_clusters="
                                f"{self.n_clusters}; use a larger portion (fit.share, fit.max_hours) "
                                f"or fewer clusters (tokenizer.n_clusters)")
            if rows:
                batch, buf, rows = _take(buf, rows, rows)
                d = self._update(km, batch, rng, state)
                dist_sum, dist_n = dist_sum + d[0], dist_n + d[1]
            stats["frames"] += frames
            stats["frames_per_epoch"].append(frames)
            stats["distortion"].append(dist_sum / max(dist_n, 1))
            logger.info("k-means epoch %d/%d: %d frames, mean distortion %.4g before the updates", epoch + 1,
                        self.epochs, frames, stats["distortion"][-1])
        self.centres = np.ascontiguousarray(km.cluster_centers_, dtype=np.float32)
        stats.update(batches=state["batches"], feature_dim=state["dim"], kmeans_seconds=state["kmeans_s"],
                     max_buffer_rows=state["max_rows"])
        return stats

    def _check(self, feats: np.ndarray, state: dict) -> np.ndarray:
        feats = np.asarray(feats, dtype=np.float32)
        if feats.ndim != 2:
            raise DataError(f"k-means: features must be (frames, dim), got shape {feats.shape}")
        if state["dim"] is None:
            state["dim"] = feats.shape[1]
        elif feats.shape[1] != state["dim"]:
            raise DataError(f"k-means: feature dimension changed from {state['dim']} to {feats.shape[1]}")
        if not np.isfinite(feats).all():
            raise DataError("k-means: features contain NaN or infinity")
        return feats

    def _update(self, km, batch: np.ndarray, rng: np.random.Generator, state: dict) -> tuple[float, int]:
        """One ``partial_fit`` on a shuffled batch; returns (sum, count) of pre-update distortions."""
        t0 = time.perf_counter()
        batch = batch[rng.permutation(len(batch))]
        state["max_rows"] = max(state["max_rows"], len(batch))
        dist = (0.0, 0)
        if state["fitted"]:
            sample = batch[:_DISTORTION_ROWS]
            _, d = nearest_centre(sample, km.cluster_centers_.astype(np.float32, copy=False))
            dist = (float(d.sum()), len(d))
        km.partial_fit(batch)
        state["fitted"] = True
        state["batches"] += 1
        state["kmeans_s"] += time.perf_counter() - t0
        return dist

    def assign(self, feats: np.ndarray) -> np.ndarray:
        """The nearest centre of each row of ``feats`` (``(T,)`` int32)."""
        if self.centres is None:
            raise RuntimeError("k-means: call fit() or load() before assign()")
        feats = np.asarray(feats, dtype=np.float32)
        if feats.ndim != 2 or feats.shape[1] != self.centres.shape[1]:
            raise DataError(f"k-means: features of shape {feats.shape} do not match centres of "
                            f"dimension {self.centres.shape[1]}")
        return nearest_centre(feats, self.centres)[0]

    def save(self, directory: str | Path) -> Path:
        """Write the centres to ``directory/centres.npy`` (atomically)."""
        if self.centres is None:
            raise RuntimeError("k-means: nothing to save before fit()")
        path = Path(directory) / CENTRES_FILE
        with atomic_write(path, "wb") as f:
            np.save(f, self.centres)
        return path

    def load(self, directory: str | Path) -> None:
        """Read ``directory/centres.npy``.

        The file is read with ``allow_pickle=False``: a pickle or an object array is refused.

        Raises:
            DataError: a missing, unreadable or pickled file, or centres whose count differs from ``n_clusters``.
        """
        path = Path(directory) / CENTRES_FILE
        if not path.is_file():
            raise DataError(f"{path}: k-means centres not found; run `s2s units fit ... --exp {directory}` first")
        try:  # allow_pickle=False: an object array or a pickle is refused, never unpickled
            centres = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{path}: cannot read the k-means centres ({e}); they must be a plain numeric .npy "
                            f"array (pickles are refused); refit with `s2s units fit ... --exp {directory}`") from None
        if not isinstance(centres, np.ndarray) or not np.issubdtype(centres.dtype, np.number):
            raise DataError(f"{path}: the k-means centres are not a numeric array; refit with "
                            f"`s2s units fit ... --exp {directory}`")
        if centres.ndim != 2 or centres.shape[0] != self.n_clusters:
            raise DataError(f"{path}: centres of shape {centres.shape} do not match n_clusters={self.n_clusters}")
        self.centres = centres.astype(np.float32, copy=False)


def _take(buf: list[np.ndarray], n: int, rows: int) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Split the first ``n`` rows off a list of arrays holding ``rows`` rows."""
    whole = np.concatenate(buf) if len(buf) > 1 else buf[0]
    batch, rest = whole[:n], whole[n:]
    return batch, ([rest] if len(rest) else []), rows - n


def dedup(units: np.ndarray) -> np.ndarray:
    """Collapse runs of a repeated unit into one (``5 5 7 7 7 5`` -> ``5 7 5``)."""
    units = np.asarray(units)
    if units.size == 0:
        return units
    keep = np.ones(units.shape[0], dtype=bool)
    keep[1:] = units[1:] != units[:-1]
    return units[keep]
