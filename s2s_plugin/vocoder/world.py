"""``world``: a unit vocoder made of per-unit WORLD acoustic statistics (pyworld).

    voc = WorldVocoder(frame_rate=50.0, n_units=64)
    stats = voc.fit((wave, 16000, units) for wave, units in training_pairs)
    voc.save("exp/vocoder")                  # world.npz + world.json
    wave, sr = voc.synthesize([3, 3, 17, 17, 17, 5])   # 6 units at 50 Hz -> 0.12 s at 16 kHz

Fitting analyses every training utterance with WORLD (F0 by DIO + StoneMask or
Harvest, spectral envelope by CheapTrick, aperiodicity by D4C) every
``frame_period`` ms and assigns each analysis frame to the unit that covers
its time (unit ``i`` covers ``[i, i+1) / frame_rate`` seconds). Per unit it
keeps the mean of the coded spectral envelope (a mel-cepstrum-like code of
``n_mcep`` coefficients, from ``pyworld.code_spectral_envelope``), the mean
band aperiodicity in dB (``n_ap_bands`` mel-spaced bands), the share of voiced
frames, and the mean of log F0 over its voiced frames z-scored per utterance
(so voices of different pitch do not turn into pitch jumps between units);
synthesis puts that back on the training utterances' mean log F0 and spread.

Synthesis repeats each unit's statistics over the WORLD frames the unit
covers, smooths every trajectory with a moving average of ``smooth_ms``
(F0 twice as much; this also blends unit boundaries), decides voicing from the smoothed
voiced share (a median filter removes isolated flips) and runs
``pyworld.synthesize``. The output has exactly
``round(len(units) * fs / frame_rate)`` samples. A unit never seen in training
gets the statistics of all training frames; a unit outside ``0..n_units-1`` is
an error.

This is the embedded recipe's analog of a unit HiFi-GAN: it trains in seconds
on CPU, and is intelligible, if robotic, when the units carry phonetic content.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from s2s_plugin.data.io import PathLike
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.vocoder.common import check_units, load_state, resample, save_state

logger = logging.getLogger(__name__)

#: Constructor arguments that must match between fit and synthesis.
_MODEL_KEYS = ("frame_rate", "fs", "frame_period", "n_mcep", "n_ap_bands", "f0_floor", "f0_ceil", "f0_method")


def import_pyworld():
    """The pyworld module, imported without its pkg_resources deprecation warning."""
    import warnings

    with warnings.catch_warnings():  # pyworld 0.3.5 imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        import pyworld
    return pyworld


def _mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


class WorldVocoder:
    """Per-unit WORLD statistics, smoothed and synthesised with pyworld.

    Example::

        voc = WorldVocoder(frame_rate=50.0)
        voc.fit(examples)            # iterable of (wave, sample_rate, units)
        wave, sr = voc.synthesize(units)

    Args:
        frame_rate: units per second of the unit sequences (stage 4's frame
            rate; the fit fills it in from ``units.<lang>.info`` when null).
        n_units: size of the unit vocabulary (null: the largest unit seen in
            training + 1; the fit fills it in from ``units.<lang>.info``).
        fs: sample rate of the analysis and of the output, Hz.
        frame_period: WORLD analysis/synthesis hop, milliseconds.
        f0_method: ``dio`` (DIO + StoneMask, fast) or ``harvest`` (slower, fewer voicing errors).
        f0_floor: lowest F0 searched, Hz.
        f0_ceil: highest F0 searched, Hz.
        n_mcep: dimension of the coded spectral envelope.
        n_ap_bands: number of mel-spaced aperiodicity bands.
        smooth_ms: width of the moving average applied to every trajectory, ms (0: none).
        vuv_threshold: a frame is voiced when its smoothed voiced share exceeds this.
        f0_scale: multiplies the synthesised F0 (1.0 keeps the training mean).
    """

    name = "world"

    @classmethod
    def needs_frame_units(cls, block: dict) -> bool:
        """One unit per frame, repeats kept: stage 10 refuses de-duplicated units."""
        return True

    def __init__(self, frame_rate: float | None = None, n_units: int | None = None, fs: int = 16000,
                 frame_period: float = 5.0, f0_method: str = "dio", f0_floor: float = 60.0,
                 f0_ceil: float = 500.0, n_mcep: int = 40, n_ap_bands: int = 5, smooth_ms: float = 30.0,
                 vuv_threshold: float = 0.5, f0_scale: float = 1.0) -> None:
        if frame_rate is not None and frame_rate <= 0:
            raise ConfigError(f"world: frame_rate must be positive, got {frame_rate}")
        if n_units is not None and n_units < 1:
            raise ConfigError(f"world: n_units must be >= 1, got {n_units}")
        if f0_method not in ("dio", "harvest"):
            raise ConfigError(f"world: f0_method must be 'dio' or 'harvest', got {f0_method!r}")
        if not 0 < f0_floor < f0_ceil < fs / 2:
            raise ConfigError(f"world: need 0 < f0_floor < f0_ceil < fs/2, got {f0_floor}, {f0_ceil}, fs {fs}")
        if frame_period <= 0 or smooth_ms < 0 or n_mcep < 2 or n_ap_bands < 1 or f0_scale <= 0:
            raise ConfigError("world: need frame_period > 0, smooth_ms >= 0, n_mcep >= 2, n_ap_bands >= 1 "
                              "and f0_scale > 0")
        if not 0 < vuv_threshold < 1:
            raise ConfigError(f"world: vuv_threshold must be in (0, 1), got {vuv_threshold}")
        self.frame_rate = None if frame_rate is None else float(frame_rate)
        self.n_units = n_units
        self.fs, self.frame_period, self.f0_method = int(fs), float(frame_period), f0_method
        self.f0_floor, self.f0_ceil = float(f0_floor), float(f0_ceil)
        self.n_mcep, self.n_ap_bands = int(n_mcep), int(n_ap_bands)
        self.smooth_ms, self.vuv_threshold, self.f0_scale = float(smooth_ms), float(vuv_threshold), float(f0_scale)
        self.stats: dict[str, np.ndarray] | None = None

    def __repr__(self) -> str:
        state = "fitted" if self.stats is not None else "not fitted"
        return f"WorldVocoder(frame_rate={self.frame_rate}, n_units={self.n_units}, fs={self.fs}, {state})"

    @property
    def sample_rate(self) -> int:
        return self.fs

    @property
    def fft_size(self) -> int:
        return int(import_pyworld().get_cheaptrick_fft_size(self.fs, self.f0_floor))

    # -- analysis -------------------------------------------------------------------------------------------
    def _band_edges(self) -> np.ndarray:
        """Aperiodicity band edges in Hz, equally spaced on the mel scale from 0 to fs/2."""
        mel_edges = np.linspace(0.0, float(_mel(self.fs / 2)), self.n_ap_bands + 1)
        return 700.0 * np.expm1(mel_edges / 1127.0)

    def _code_ap(self, ap: np.ndarray) -> np.ndarray:
        """``(T, bins)`` aperiodicity (0..1) -> ``(T, n_ap_bands)`` mean per band in dB."""
        freqs = np.arange(ap.shape[1]) * self.fs / self.fft_size
        band = np.clip(np.searchsorted(self._band_edges(), freqs, side="right") - 1, 0, self.n_ap_bands - 1)
        db = 20.0 * np.log10(np.clip(ap, 1e-4, 1.0))
        counts = np.bincount(band, minlength=self.n_ap_bands)
        sums = np.zeros((ap.shape[0], self.n_ap_bands))
        for b in range(self.n_ap_bands):
            sums[:, b] = db[:, band == b].sum(axis=1)
        return sums / np.maximum(counts, 1)

    def _decode_ap(self, coded: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`_code_ap`: interpolate band means (at band centres, in mel) to every bin."""
        edges_mel = _mel(self._band_edges())
        centres = (edges_mel[:-1] + edges_mel[1:]) / 2
        bins_mel = _mel(np.arange(self.fft_size // 2 + 1) * self.fs / self.fft_size)
        # linear interpolation is linear in the band values: one (bins, bands) matrix does every frame
        weights = np.stack([np.interp(bins_mel, centres, np.eye(self.n_ap_bands)[b]) for b in range(self.n_ap_bands)],
                           axis=1)
        return np.clip(10.0 ** (coded @ weights.T / 20.0), 1e-4, 1.0)

    def analyse(self, wave: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        """WORLD features of one waveform, one row per ``frame_period``.

        Returns:
            ``{"time": (T,) s, "lf0": (T,) log Hz (0 where unvoiced), "voiced": (T,) bool,
            "mcep": (T, n_mcep), "bap": (T, n_ap_bands) dB}``.
        """
        pw = import_pyworld()
        x = resample(np.asarray(wave, dtype=np.float64), sr, self.fs).astype(np.float64)
        x = np.ascontiguousarray(x)
        if self.f0_method == "harvest":
            f0, t = pw.harvest(x, self.fs, f0_floor=self.f0_floor, f0_ceil=self.f0_ceil,
                               frame_period=self.frame_period)
        else:
            f0, t = pw.dio(x, self.fs, f0_floor=self.f0_floor, f0_ceil=self.f0_ceil,
                           frame_period=self.frame_period)
            f0 = pw.stonemask(x, f0, t, self.fs)
        sp = pw.cheaptrick(x, f0, t, self.fs, f0_floor=self.f0_floor, fft_size=self.fft_size)
        ap = pw.d4c(x, f0, t, self.fs, fft_size=self.fft_size)
        voiced = f0 > 0
        lf0 = np.where(voiced, np.log(np.where(voiced, f0, 1.0)), 0.0)
        mcep = pw.code_spectral_envelope(np.maximum(sp, 1e-16), self.fs, self.n_mcep)
        return {"time": t, "lf0": lf0, "voiced": voiced, "mcep": mcep, "bap": self._code_ap(ap)}

    def _frame_units(self, times: np.ndarray, units: np.ndarray) -> np.ndarray:
        """The unit covering each analysis time."""
        idx = np.floor(times * self.frame_rate + 1e-9).astype(np.int64)
        return units[np.clip(idx, 0, len(units) - 1)]

    # -- fit ------------------------------------------------------------------------------------------------
    def fit(self, examples: Iterable[tuple[np.ndarray, int, Sequence[int]]]) -> dict[str, Any]:
        """Accumulate per-unit statistics over ``(wave, sample_rate, units)`` examples.

        Raises:
            ConfigError: ``frame_rate`` is not set.
            DataError: no examples, a unit outside ``0..n_units-1``, or units whose
                duration disagrees with the audio's (a wrong ``frame_rate``).
        """
        if self.frame_rate is None:
            raise ConfigError("world: frame_rate is not set: give vocoder.frame_rate (units per second) or fit "
                              "through `s2s vocoder fit`, which reads it from units.<lang>.info")
        start = time.perf_counter()
        acc: dict[str, np.ndarray] = {}
        size = self.n_units or 0
        n_utts, audio_s, frames = 0, 0.0, 0
        for n, (wave, sr, units) in enumerate(examples):
            units = check_units(units, self.n_units, f"training example {n}")
            wave_s = len(wave) / sr
            units_s = len(units) / self.frame_rate
            if abs(units_s - wave_s) > max(0.1, 0.05 * wave_s):
                raise DataError(f"training example {n}: {len(units)} units at {self.frame_rate:g}/s last "
                                f"{units_s:.2f} s but the audio lasts {wave_s:.2f} s; is frame_rate right?")
            feats = self.analyse(wave, sr)
            u = self._frame_units(feats["time"], units)
            if self.n_units is None and int(units.max()) + 1 > size:
                size = int(units.max()) + 1
            self._accumulate(acc, u, feats, size)
            n_utts, audio_s, frames = n_utts + 1, audio_s + wave_s, frames + len(u)
        if n_utts == 0:
            raise DataError("world: no training examples to fit on")
        self.n_units = self.n_units or size
        self.stats = self._finish(acc, self.n_units)
        seen = int((self.stats["count"] > 0).sum())
        elapsed = time.perf_counter() - start
        if seen < self.n_units:
            logger.warning("world: %d of %d units never occur in the training data; they get the global "
                           "statistics", self.n_units - seen, self.n_units)
        return {"utterances": n_utts, "audio_seconds": audio_s, "frames": frames, "units_seen": seen,
                "n_units": self.n_units, "fit_seconds": elapsed, "rtf": elapsed / max(audio_s, 1e-9),
                "voiced_share": float(self.stats["voiced"].sum() / max(frames, 1))}

    @staticmethod
    def _accumulate(acc: dict[str, np.ndarray], u: np.ndarray, feats: dict[str, np.ndarray], size: int) -> None:
        def grow(key: str, shape: tuple[int, ...]) -> np.ndarray:
            old = acc.get(key)
            if old is None or old.shape[0] < size:
                new = np.zeros((size, *shape))
                if old is not None:
                    new[:old.shape[0]] = old
                acc[key] = new
            return acc[key]

        v = feats["voiced"]
        np.add.at(grow("count", ()), u, 1.0)
        np.add.at(grow("voiced", ()), u, v.astype(np.float64))
        np.add.at(grow("mcep", (feats["mcep"].shape[1],)), u, feats["mcep"])
        np.add.at(grow("bap", (feats["bap"].shape[1],)), u[v], feats["bap"][v])
        grow("lf0z", ())
        lf0 = feats["lf0"][v]
        if lf0.size >= 5:  # intonation relative to the utterance's own pitch: voices mix without jitter
            mu, sd = float(lf0.mean()), max(float(lf0.std()), 0.02)
            np.add.at(acc["lf0z"], u[v], (lf0 - mu) / sd)
            np.add.at(grow("lf0z_count", ()), u[v], 1.0)
            acc["utt_f0"] = acc.get("utt_f0", np.zeros(3)) + np.array([mu, sd, 1.0])

    @staticmethod
    def _finish(acc: dict[str, np.ndarray], n_units: int) -> dict[str, np.ndarray]:
        def take(key: str) -> np.ndarray:  # pad to n_units rows
            a = acc[key]
            out = np.zeros((n_units, *a.shape[1:]))
            out[:min(n_units, a.shape[0])] = a[:n_units]
            return out

        count, voiced = take("count"), take("voiced")
        mcep, bap = take("mcep"), take("bap")
        lf0z, lf0z_count = take("lf0z"), (take("lf0z_count") if "lf0z_count" in acc else np.zeros(n_units))
        total_v = max(voiced.sum(), 1.0)
        g_mcep = mcep.sum(0) / max(count.sum(), 1.0)
        g_bap = bap.sum(0) / total_v if voiced.sum() else np.zeros(bap.shape[1])
        mu_sum, sd_sum, n_utt = acc.get("utt_f0", np.array([0.0, 0.0, 0.0]))
        seen, has_v = count > 0, voiced > 0
        c, vc = np.maximum(count, 1.0), np.maximum(voiced, 1.0)
        return {
            "count": count,
            "voiced": voiced,
            "vuv": np.where(seen, voiced / c, voiced.sum() / max(count.sum(), 1.0)),
            "mcep": np.where(seen[:, None], mcep / c[:, None], g_mcep),
            "bap": np.where(has_v[:, None], bap / vc[:, None], g_bap),
            "lf0z": lf0z / np.maximum(lf0z_count, 1.0),     # mean z-scored log F0 (0 when never voiced)
            "lf0_mean": np.array(mu_sum / n_utt if n_utt else math.log(120.0)),   # mean utterance log F0
            "lf0_std": np.array(sd_sum / n_utt if n_utt else 0.1),               # mean utterance spread
        }

    # -- synthesis ------------------------------------------------------------------------------------------
    def num_samples(self, n_units: int) -> int:
        """Output length in samples for ``n_units`` units."""
        return int(round(n_units * self.fs / self.frame_rate))

    def trajectories(self, units: Sequence[int]) -> dict[str, np.ndarray]:
        """The smoothed WORLD parameters of a unit sequence, one row per ``frame_period``.

        Returns:
            ``{"f0": (T,) Hz (0 = unvoiced), "mcep": (T, n_mcep), "bap": (T, n_ap_bands)}``.
        """
        from scipy.ndimage import median_filter, uniform_filter1d

        if self.stats is None:
            raise ConfigError("world: the vocoder is not fitted; run `s2s vocoder fit` (or call fit/load) first")
        units = check_units(units, self.n_units, "world")
        hop = self.fs * self.frame_period / 1000.0
        n_frames = int(math.ceil(self.num_samples(len(units)) / hop)) + 1
        u = self._frame_units(np.arange(n_frames) * self.frame_period / 1000.0, units)
        s = self.stats
        mcep, bap, vuv, lf0z = s["mcep"][u], s["bap"][u], s["vuv"][u], s["lf0z"][u]
        width = int(round(self.smooth_ms / self.frame_period))
        if width > 1:
            mcep = uniform_filter1d(mcep, width, axis=0, mode="nearest")
            bap = uniform_filter1d(bap, width, axis=0, mode="nearest")
            vuv = uniform_filter1d(vuv, width, mode="nearest")
            lf0z = uniform_filter1d(lf0z, 2 * width + 1, mode="nearest")
        voiced = median_filter((vuv > self.vuv_threshold).astype(np.int8), size=5, mode="nearest") > 0
        lf0 = float(s["lf0_mean"]) + float(s["lf0_std"]) * lf0z
        f0 = np.where(voiced, np.exp(lf0) * self.f0_scale, 0.0)
        return {"f0": f0, "mcep": mcep, "bap": bap}

    def synthesize(self, units: Sequence[int]) -> tuple[np.ndarray, int]:
        """Waveform of a unit sequence.

        Returns:
            ``(samples, sample_rate)``: float32 of ``round(len(units) * fs / frame_rate)`` samples.

        Raises:
            DataError: an empty sequence or a unit outside ``0..n_units-1``.
            ConfigError: the vocoder is not fitted.
        """
        pw = import_pyworld()
        tr = self.trajectories(units)
        sp = pw.decode_spectral_envelope(np.ascontiguousarray(tr["mcep"]), self.fs, self.fft_size)
        ap = self._decode_ap(tr["bap"])
        y = pw.synthesize(np.ascontiguousarray(tr["f0"]), sp, ap, self.fs, self.frame_period)
        n = self.num_samples(len(units))
        y = np.pad(y, (0, max(0, n - len(y))))[:n]
        peak = float(np.abs(y).max()) if n else 0.0
        if peak > 0.99:
            y = y * (0.99 / peak)
        return y.astype(np.float32), self.fs

    # -- state ----------------------------------------------------------------------------------------------
    def save(self, directory: PathLike) -> None:
        """Write ``world.npz`` (statistics) and ``world.json`` (settings) into ``directory``."""
        save_state(self, directory, self.stats, {"n_units": self.n_units, **{k: getattr(self, k) for k in _MODEL_KEYS}})

    def load(self, directory: PathLike) -> None:
        """Read what :meth:`save` wrote; settings that shape the statistics must match this object's.

        Raises:
            ConfigError: missing files, or a setting that differs from the fitted one.
        """
        _, self.stats = load_state(self, directory, _MODEL_KEYS)
