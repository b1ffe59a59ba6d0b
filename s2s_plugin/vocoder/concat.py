"""``concat``: a unit-selection vocoder that plays back real pieces of the training target speech.

    voc = ConcatVocoder(frame_rate=50.0, n_units=300)
    stats = voc.fit((wave, 16000, units) for wave, units in training_pairs)
    voc.save("exp/vocoder")                  # concat.npz + concat.json
    wave, sr = voc.synthesize([3, 3, 17, 17, 17, 5])   # 6 units at 50 Hz -> 0.12 s at 16 kHz

Fitting keeps the training waveforms (resampled to ``fs``, int16, up to
``max_hours``) and the unit of every unit frame (frame ``i`` of an utterance
covers samples ``[i, i+1) * fs / frame_rate``). It also keeps each unit's mean
log-mel spectrum; distances between these means say how alike two units sound.

Synthesis picks, for every position of the unit sequence, one training frame
carrying that unit, by a Viterbi search over all occurrences: playing the
training frame right after the previous pick costs nothing, any other pick is a
join that costs ``join_cost`` plus ``context_weight`` times how unlike the
training neighbours at the join are to the wanted ones (the unit before the new
pick vs the wanted previous unit, the unit after the old pick vs the wanted
current unit; mean log-mel distances, scaled to mean 1). So the search plays
the longest contiguous stretches of real speech there are, and joins where the
contexts agree. The cost is separable, so each position costs time linear in
the unit's number of occurrences. Ties go to the earliest occurrence:
synthesis is deterministic.

The chosen stretches are overlap-added with raised-cosine crossfades of
``crossfade_ms`` at the joins; optionally each new stretch is shifted by up to
``max_shift_ms`` to the lag whose waveform best matches the old stretch's
continuation in the crossfade (as in WSOLA; off by default: on the embedded
recipe's dev sets it did not help the scoring ASR).
The output has exactly ``round(len(units) * fs / frame_rate)`` samples. A unit
that never occurs in training is replaced by the seen unit whose mean spectrum
is nearest; a unit outside ``0..n_units-1`` is an error.
"""
from __future__ import annotations

import functools
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
_MODEL_KEYS = ("frame_rate", "fs", "n_mels")


@functools.lru_cache(maxsize=4)
def _mel_filterbank(fs: int, n_fft: int, n_mels: int) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` triangular filters (peak 1) equally spaced on the HTK mel scale."""
    import librosa

    return librosa.filters.mel(sr=fs, n_fft=n_fft, n_mels=n_mels, htk=True, norm=None).astype(np.float64)


class ConcatVocoder:
    """Unit selection over the training target speech, crossfaded at the joins.

    Example::

        voc = ConcatVocoder(frame_rate=50.0)
        voc.fit(examples)            # iterable of (wave, sample_rate, units)
        wave, sr = voc.synthesize(units)

    Args:
        frame_rate: units per second of the unit sequences (stage 4's frame
            rate; the fit fills it in from ``units.<lang>.info`` when null).
        n_units: size of the unit vocabulary (null: the largest unit seen in
            training + 1; the fit fills it in from ``units.<lang>.info``).
        fs: sample rate of the kept speech and of the output, Hz.
        max_hours: keep at most this much training speech (null: all of it).
        join_cost: cost of every join (a pick that does not continue the previous one).
        context_weight: weight of the context mismatch at a join.
        crossfade_ms: length of the raised-cosine crossfade at a join, ms.
        max_shift_ms: largest shift of a new stretch to line its waveform up with the old one, ms (0: none).
        n_mels: mel bands of the per-unit mean spectra that measure context mismatch.
    """

    name = "concat"

    @classmethod
    def needs_frame_units(cls, block: dict) -> bool:
        """One unit per frame, repeats kept: stage 10 refuses de-duplicated units."""
        return True

    def __init__(self, frame_rate: float | None = None, n_units: int | None = None, fs: int = 16000,
                 max_hours: float | None = None, join_cost: float = 1.0, context_weight: float = 1.0,
                 crossfade_ms: float = 10.0, max_shift_ms: float = 0.0, n_mels: int = 40) -> None:
        if frame_rate is not None and frame_rate <= 0:
            raise ConfigError(f"concat: frame_rate must be positive, got {frame_rate}")
        if n_units is not None and n_units < 1:
            raise ConfigError(f"concat: n_units must be >= 1, got {n_units}")
        if max_hours is not None and max_hours <= 0:
            raise ConfigError(f"concat: max_hours must be positive or null, got {max_hours}")
        if join_cost < 0 or context_weight < 0 or crossfade_ms < 0 or max_shift_ms < 0 or n_mels < 2 or fs < 1000:
            raise ConfigError("concat: need join_cost, context_weight, crossfade_ms, max_shift_ms >= 0, "
                              "n_mels >= 2 and fs >= 1000")
        self.frame_rate = None if frame_rate is None else float(frame_rate)
        self.n_units = n_units
        self.fs, self.max_hours, self.n_mels = int(fs), max_hours, int(n_mels)
        self.join_cost, self.context_weight = float(join_cost), float(context_weight)
        self.crossfade_ms, self.max_shift_ms = float(crossfade_ms), float(max_shift_ms)
        self.state: dict[str, np.ndarray] | None = None
        self._index: dict[str, Any] | None = None

    def __repr__(self) -> str:
        state = "not fitted" if self.state is None else f"{len(self.state['unit'])} frames"
        return f"ConcatVocoder(frame_rate={self.frame_rate}, n_units={self.n_units}, fs={self.fs}, {state})"

    @property
    def sample_rate(self) -> int:
        return self.fs

    @property
    def hop(self) -> float:
        """Samples per unit frame."""
        return self.fs / self.frame_rate

    def num_samples(self, n_units: int) -> int:
        """Output length in samples for ``n_units`` units."""
        return int(round(n_units * self.fs / self.frame_rate))

    # -- fit ------------------------------------------------------------------------------------------------
    def _margin(self) -> int:
        """Zero samples kept around each utterance, so crossfades and shifts never read past it."""
        return int(math.ceil(self.fs * (self.crossfade_ms + 2 * self.max_shift_ms) / 1000.0)) + 1

    def _frame_logmel(self, x: np.ndarray, n_frames: int) -> np.ndarray:
        """``(n_frames, n_mels)`` log-mel spectra of the unit frames of one waveform."""
        hop = self.hop
        win = int(round(hop))
        n_fft = 1 << max(8, (win - 1).bit_length())
        starts = np.round(np.arange(n_frames) * hop).astype(np.int64)
        padded = np.pad(x, (0, win + 1))
        frames = padded[starts[:, None] + np.arange(win)[None]] * np.hanning(win)
        power = np.abs(np.fft.rfft(frames, n_fft)) ** 2
        return np.log(power @ _mel_filterbank(self.fs, n_fft, self.n_mels).T + 1e-8)

    def fit(self, examples: Iterable[tuple[np.ndarray, int, Sequence[int]]]) -> dict[str, Any]:
        """Keep the training speech, its unit frames and each unit's mean log-mel spectrum.

        Raises:
            ConfigError: ``frame_rate`` is not set.
            DataError: no examples, a unit outside ``0..n_units-1``, or units whose
                duration disagrees with the audio's (a wrong ``frame_rate``).
        """
        if self.frame_rate is None:
            raise ConfigError("concat: frame_rate is not set: give vocoder.frame_rate (units per second) or fit "
                              "through `s2s vocoder fit`, which reads it from units.<lang>.info")
        start = time.perf_counter()
        margin = self._margin()
        chunks: list[np.ndarray] = [np.zeros(margin, np.int16)]
        offset = margin
        starts, units_all, utt_of, mel_rows = [], [], [], []
        n_utts, audio_s, limit_s = 0, 0.0, math.inf if self.max_hours is None else self.max_hours * 3600.0
        for n, (wave, sr, units) in enumerate(examples):
            if audio_s >= limit_s:
                break
            units = check_units(units, self.n_units, f"training example {n}")
            wave_s = len(wave) / sr
            units_s = len(units) / self.frame_rate
            if abs(units_s - wave_s) > max(0.1, 0.05 * wave_s):
                raise DataError(f"training example {n}: {len(units)} units at {self.frame_rate:g}/s last "
                                f"{units_s:.2f} s but the audio lasts {wave_s:.2f} s; is frame_rate right?")
            x = resample(np.asarray(wave, dtype=np.float32), sr, self.fs)
            x = np.pad(x, (0, max(0, self.num_samples(len(units)) - len(x))))
            mel_rows.append(self._frame_logmel(x, len(units)))
            chunks += [np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16), np.zeros(margin, np.int16)]
            starts.append(offset + np.round(np.arange(len(units)) * self.hop).astype(np.int64))
            units_all.append(units)
            utt_of.append(np.full(len(units), n_utts, np.int64))
            offset += len(x) + margin
            n_utts, audio_s = n_utts + 1, audio_s + wave_s
        if n_utts == 0:
            raise DataError("concat: no training examples to fit on")
        unit = np.concatenate(units_all)
        self.n_units = self.n_units or int(unit.max()) + 1
        mel = np.concatenate(mel_rows)
        count = np.bincount(unit, minlength=self.n_units).astype(np.float64)
        mel_sum = np.zeros((self.n_units, self.n_mels))
        np.add.at(mel_sum, unit, mel)
        mel_mean = np.where(count[:, None] > 0, mel_sum / np.maximum(count, 1.0)[:, None], mel.mean(0))
        self.state = {"audio": np.concatenate(chunks), "start": np.concatenate(starts), "unit": unit,
                      "utt": np.concatenate(utt_of), "count": count, "mel_mean": mel_mean}
        self._index = None
        seen = int((count > 0).sum())
        if seen < self.n_units:
            logger.warning("concat: %d of %d units never occur in the training data; the nearest seen unit "
                           "stands in for them", self.n_units - seen, self.n_units)
        elapsed = time.perf_counter() - start
        return {"utterances": n_utts, "audio_seconds": audio_s, "frames": int(len(unit)), "units_seen": seen,
                "n_units": self.n_units, "fit_seconds": elapsed, "rtf": elapsed / max(audio_s, 1e-9),
                "audio_bytes": int(self.state["audio"].nbytes)}

    # -- search ---------------------------------------------------------------------------------------------
    def _build_index(self) -> dict[str, Any]:
        """Occurrences per unit, neighbour units per frame, the unit distance and the stand-in of unseen units."""
        if self._index is not None:
            return self._index
        s = self.state
        unit, utt = s["unit"], s["utt"]
        order = np.argsort(unit, kind="stable")
        bounds = np.searchsorted(unit[order], np.arange(self.n_units + 1))
        occ = [order[bounds[u]:bounds[u + 1]] for u in range(self.n_units)]
        first = np.r_[True, utt[1:] != utt[:-1]]
        last = np.r_[utt[1:] != utt[:-1], True]
        # a frame's neighbour at an utterance edge is "silence": the unit nearest the quietest spectrum
        silence = int(np.argmin(s["mel_mean"].mean(1) + np.where(s["count"] > 0, 0.0, np.inf)))
        prev_unit = np.where(first, silence, np.r_[silence, unit[:-1]])
        next_unit = np.where(last, silence, np.r_[unit[1:], silence])
        m = s["mel_mean"]
        dist = np.sqrt(np.maximum(((m[:, None, :] - m[None, :, :]) ** 2).mean(-1), 0.0))
        seen = s["count"] > 0
        dist = dist / max(float(dist[np.ix_(seen, seen)].mean()), 1e-9)
        stand_in = np.where(seen, np.arange(self.n_units), np.argmin(np.where(seen[None], dist, np.inf), axis=1))
        self._index = {"occ": occ, "first": first, "prev_unit": prev_unit, "next_unit": next_unit,
                       "dist": dist, "stand_in": stand_in}
        return self._index

    def select(self, units: Sequence[int]) -> np.ndarray:
        """The training frame played at each position of ``units`` (the Viterbi path).

        Raises:
            DataError: an empty sequence or a unit outside ``0..n_units-1``.
            ConfigError: the vocoder is not fitted.
        """
        if self.state is None:
            raise ConfigError("concat: the vocoder is not fitted; run `s2s vocoder fit` (or call fit/load) first")
        units = check_units(units, self.n_units, "concat")
        ix = self._build_index()
        want = ix["stand_in"][units]
        dist, w = ix["dist"], self.context_weight
        cand = ix["occ"][want[0]]
        cost = np.zeros(len(cand))  # the first pick is free
        cands, backs = [cand], []
        for t in range(1, len(want)):
            prev, prev_cost = cand, cost
            cand = ix["occ"][want[t]]
            exit_cost = prev_cost + w * dist[ix["next_unit"][prev], want[t]]
            best = int(np.argmin(exit_cost))
            jump = exit_cost[best] + self.join_cost + w * dist[ix["prev_unit"][cand], want[t - 1]]
            pos = np.minimum(np.searchsorted(prev, cand - 1), len(prev) - 1)
            cont = (prev[pos] == cand - 1) & ~ix["first"][cand]
            cont_cost = np.where(cont, prev_cost[pos], np.inf)
            take_cont = cont_cost <= jump
            cost = np.where(take_cont, cont_cost, jump)
            backs.append(np.where(take_cont, pos, best))
            cands.append(cand)
        path = np.empty(len(want), np.int64)
        k = int(np.argmin(cost))
        for t in range(len(want) - 1, -1, -1):
            path[t] = cands[t][k]
            if t:
                k = int(backs[t - 1][k])
        return path

    # -- synthesis ------------------------------------------------------------------------------------------
    def _best_shift(self, audio: np.ndarray, tail: int, head: int, overlap: int, max_shift: int) -> int:
        """Lag in ``-max_shift..max_shift`` for the new stretch at ``head`` that best continues the old at ``tail``."""
        if max_shift <= 0 or overlap <= 0:
            return 0
        ref = audio[tail:tail + overlap].astype(np.float64)
        if not np.any(ref):
            return 0
        seg = audio[head - max_shift:head + max_shift + overlap].astype(np.float64)
        windows = np.lib.stride_tricks.sliding_window_view(seg, overlap)
        norm = np.sqrt((windows ** 2).sum(1)) + 1e-9
        return int(np.argmax(windows @ ref / norm)) - max_shift

    def synthesize(self, units: Sequence[int]) -> tuple[np.ndarray, int]:
        """Waveform of a unit sequence.

        Returns:
            ``(samples, sample_rate)``: float32 of ``round(len(units) * fs / frame_rate)`` samples.

        Raises:
            DataError: an empty sequence or a unit outside ``0..n_units-1``.
            ConfigError: the vocoder is not fitted.
        """
        path = self.select(units)
        audio, start = self.state["audio"], self.state["start"]
        n = self.num_samples(len(path))
        bounds = np.round(np.arange(len(path) + 1) * self.hop).astype(np.int64)
        bounds[-1] = n
        breaks = np.flatnonzero(path[1:] != path[:-1] + 1) + 1
        runs = np.split(np.arange(len(path)), breaks)
        fade = int(round(self.fs * self.crossfade_ms / 1000.0)) // 2 * 2
        half, max_shift = fade // 2, int(round(self.fs * self.max_shift_ms / 1000.0))
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / max(fade, 1))   # rises 0 -> 1
        out = np.zeros(n + 2 * half)
        tail = None            # training sample that would follow the previous stretch
        for run in runs:
            o0, o1 = bounds[run[0]], bounds[run[-1] + 1]
            src = start[path[run[0]]]
            if tail is not None:
                src += self._best_shift(audio, tail - half, src - half, fade, max_shift)
            piece = audio[src - half:src + (o1 - o0) + half].astype(np.float64) / 32767.0
            if fade:
                if tail is not None:
                    piece[:fade] *= ramp
                if run[-1] != len(path) - 1:
                    piece[-fade:] *= ramp[::-1]
            out[o0:o0 + len(piece)] += piece       # out is shifted by `half`: piece starts at o0 - half
            tail = src + (o1 - o0)
        y = out[half:half + n]
        peak = float(np.abs(y).max()) if n else 0.0
        if peak > 0.99:
            y = y * (0.99 / peak)
        return y.astype(np.float32), self.fs

    # -- state ----------------------------------------------------------------------------------------------
    def save(self, directory: PathLike) -> None:
        """Write ``concat.npz`` (speech, frames, unit spectra) and ``concat.json`` (settings) into ``directory``."""
        save_state(self, directory, self.state, {"n_units": self.n_units, "margin": self._margin(),
                                                 **{k: getattr(self, k) for k in _MODEL_KEYS}})

    def load(self, directory: PathLike) -> None:
        """Read what :meth:`save` wrote; settings that shape the state must match this object's.

        Raises:
            ConfigError: missing files, a setting that differs from the fitted one, or crossfade and
                shift settings that reach past the silence kept around each utterance.
        """
        meta, state = load_state(self, directory, _MODEL_KEYS)
        if self._margin() > int(meta["margin"]):
            raise ConfigError(f"concat: crossfade_ms={self.crossfade_ms} and max_shift_ms={self.max_shift_ms} need "
                              f"{self._margin()} samples around each utterance but {directory}/concat.json kept "
                              f"{meta['margin']}; lower them or refit")
        self.state = state
        self._index = None
