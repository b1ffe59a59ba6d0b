"""MCD-DTW: mel-cepstral distortion (dB) of our speech from the reference speech, after DTW alignment.

    from s2s_plugin.quality.mcd import MelCepstralDistortion, mcd_dtw

    mcd_dtw(hyp_wave, 16000, ref_wave, 16000)                        # e.g. 7.9 (dB; 0 for the same speech)
    MelCepstralDistortion().score([hyp], 16000, refs=[(ref, 16000)])  # [7.9]

Lower is better: 0 dB when the two say the same thing with the same spectral
envelope. The recipe for one utterance, MCD's WORLD variant as TTS and
voice-conversion evaluations use it (ESPnet2's ``evaluate_mcd.py`` analyses
FFT frames with SPTK instead, and aligns with fastdtw: its values differ):

1. both waveforms at the reference's rate (ours resampled when it differs);
2. WORLD analysis (pyworld): F0 by DIO refined by StoneMask (or Harvest),
   then the CheapTrick spectral envelope every ``frame_period`` ms;
3. the mel-cepstrum of each envelope frame: the real cepstrum of the log
   envelope warped by a first-order all-pass filter whose constant ``alpha``
   approximates the mel scale at that rate (:func:`all_pass_alpha`,
   :func:`freqt_matrix`), coefficients 1..``order`` (the 0th, the frame's
   log energy, left out, so a louder or quieter copy scores the same);
4. DTW over the two frame sequences, euclidean frame distance
   (``librosa.sequence.dtw``, exact, steps (1,1), (1,0), (0,1));
5. ``10 / ln 10 * sqrt(2 * sum_d (x_d - y_d)^2)`` averaged over the frame
   pairs of the path.

The mel-cepstrum is the one SPTK's ``sp2mc`` (pysptk) computes from a power
spectrum; our warping is a precomputed linear map (the all-pass warping is
linear in the cepstrum), not a port. Frames are not trimmed for silence:
pauses and leading silence are aligned by the DTW like any other frame.

What it is not: a naturalness score. It measures how far our spectral
envelopes are from the reference's along the best alignment; a fluent voice
other than the reference's (another speaker, another vocoder) can score worse
than a muffled copy of the reference voice. It needs the reference speech of
every utterance, so it has no "reference speech" topline (that would be 0).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from s2s_plugin.errors import ConfigError, DataError

#: 10 / ln(10) * sqrt(2): the factor from a mel-cepstral euclidean distance to dB
MCD_DB = 10.0 * math.sqrt(2.0) / math.log(10.0)
#: F0 trackers of pyworld usable for the CheapTrick analysis
F0_METHODS = ("dio", "harvest")


def default_order(sr: int) -> int:
    """The mel-cepstral order used at a sample rate: 23 up to 16 kHz, 34 up to 24 kHz, 39 above
    (the orders usual for WORLD-based MCD at those rates)."""
    if sr <= 16000:
        return 23
    return 34 if sr <= 24000 else 39


@functools.lru_cache(maxsize=16)
def all_pass_alpha(sr: int) -> float:
    """The all-pass constant whose frequency warping best fits the mel scale at rate ``sr``.

    The warped frequency of a first-order all-pass filter is
    ``w + 2 atan(alpha sin w / (1 - alpha cos w))``; the mel scale is
    ``log(1 + f / 1000)``, both scaled to ``[0, pi]`` over ``[0, sr / 2]``.
    ``alpha`` minimises their mean squared difference over 2001 evenly spaced
    frequencies, to 0.001 (0.41 at 16 kHz, 0.455 at 22.05 kHz, 0.554 at 48 kHz).
    """
    w = np.linspace(0.0, math.pi, 2001)
    mel = np.log1p(w / math.pi * (sr / 2.0) / 1000.0)
    mel *= math.pi / mel[-1]
    alphas = np.arange(0.0, 0.99, 0.001)[:, None]
    warped = w + 2.0 * np.arctan(alphas * np.sin(w) / (1.0 - alphas * np.cos(w)))
    return round(float(alphas[np.argmin(np.mean((warped - mel) ** 2, axis=1)), 0]), 3)


@functools.lru_cache(maxsize=16)
def freqt_matrix(n_in: int, order: int, alpha: float) -> np.ndarray:
    """The ``(order + 1, n_in)`` matrix that warps a cepstrum ``c[0..n_in-1]`` onto the all-pass (mel) axis.

    The warping is the first-order all-pass recursion (Oppenheim's frequency
    transformation, SPTK's ``freqt``): the input coefficients enter from the
    highest down, and each step updates the outputs ``g`` as
    ``g0 <- c_i + a g0``, ``g1 <- (1 - a^2) g0' + a g1'``,
    ``gj <- g(j-1)' + a (gj' - gj)`` (primes: before the step). It is linear
    in ``c``, so it runs once on the identity and the result is cached.
    """
    g = np.zeros((order + 1, n_in))
    b = 1.0 - alpha * alpha
    for i in range(n_in - 1, -1, -1):
        prev = g.copy()
        g[0] = alpha * prev[0]
        g[0, i] += 1.0
        if order >= 1:
            g[1] = b * prev[0] + alpha * prev[1]
        for j in range(2, order + 1):
            g[j] = prev[j - 1] + alpha * (prev[j] - g[j - 1])
    return g


def mel_cepstrum(wave: np.ndarray, sr: int, order: int | None = None, alpha: float | None = None,
                 frame_period: float = 5.0, f0_method: str = "dio") -> np.ndarray:
    """Mel-cepstra ``(frames, order + 1)`` of a waveform from its WORLD spectral envelope (0th included).

    Args:
        wave: 1-D samples.
        sr: its rate.
        order: mel-cepstral order (default :func:`default_order`).
        alpha: all-pass constant (default :func:`all_pass_alpha`).
        frame_period: frame shift, ms.
        f0_method: ``dio`` (DIO + StoneMask, fast) or ``harvest`` (slower, fewer F0 errors).
    """
    from s2s_plugin.vocoder.world import import_pyworld

    pyworld = import_pyworld()
    x = np.ascontiguousarray(wave, dtype=np.float64).reshape(-1)
    track = pyworld.dio if f0_method == "dio" else pyworld.harvest
    f0, t = track(x, sr, frame_period=frame_period)
    if f0_method == "dio":
        f0 = pyworld.stonemask(x, f0, t, sr)
    envelope = pyworld.cheaptrick(x, f0, t, sr)                    # power, (frames, fft_size / 2 + 1)
    n_bins = envelope.shape[1]
    cep = np.fft.irfft(np.log(envelope), axis=1)[:, :n_bins]     # causal half of the real cepstrum
    cep[:, 0] /= 2.0
    order = default_order(sr) if order is None else order
    alpha = all_pass_alpha(sr) if alpha is None else alpha
    return cep @ freqt_matrix(n_bins, order, float(alpha)).T


def mcd_frames(hyp: np.ndarray, ref: np.ndarray) -> float:
    """MCD (dB) of two mel-cepstrum sequences ``(frames, dims)`` after DTW; the 0th coefficient is dropped here."""
    import librosa

    x, y = hyp[:, 1:], ref[:, 1:]
    _, path = librosa.sequence.dtw(X=x.T, Y=y.T, metric="euclidean")
    dist = np.sqrt(np.sum((x[path[:, 0]] - y[path[:, 1]]) ** 2, axis=1))
    return float(MCD_DB * dist.mean())


def resample(wave: np.ndarray, sr: int, new_sr: int) -> np.ndarray:
    """``wave`` at ``new_sr`` as float64 for WORLD (stage 2's polyphase resampler; unchanged when the rates agree)."""
    if sr == new_sr:
        return np.asarray(wave, dtype=np.float64)
    from s2s_plugin.data.format import resample as resample_poly

    return np.asarray(resample_poly(np.asarray(wave).reshape(-1), int(sr), int(new_sr)), dtype=np.float64)


def analysable(wave: np.ndarray, sr: int) -> bool:
    """Whether MCD can be computed on ``wave``: at least 20 ms, finite and not all zeros."""
    return wave.size >= int(sr * 0.02) and bool(np.isfinite(wave).all()) and bool(np.any(wave))


def mcd_dtw(hyp: np.ndarray, sr: int, ref: np.ndarray, ref_sr: int, **options: Any) -> float:
    """MCD-DTW (dB) of ``hyp`` from ``ref``; NaN when either is shorter than 20 ms, all zeros or not finite.

    ``hyp`` is resampled to ``ref_sr``; ``options`` are :func:`mel_cepstrum`'s.
    """
    waves = [resample(hyp, sr, ref_sr), np.asarray(ref, dtype=np.float64).reshape(-1)]
    if not all(analysable(w, ref_sr) for w in waves):
        return math.nan
    return mcd_frames(*(mel_cepstrum(w, ref_sr, **options) for w in waves))


class MelCepstralDistortion:
    """MCD-DTW as a ``quality_scorer``: the mel-cepstral distortion of our speech from the reference speech, dB.

    Lower is better (0: the same spectral envelopes); it needs the reference
    target speech of each utterance, which stage 11 passes as ``refs``. No
    model, no checkpoint: WORLD analysis (pyworld) and DTW (librosa); see
    :mod:`s2s_plugin.quality.mcd`. Example (``conf/score.yaml``)::

        quality:
          name: mcd_dtw
          order: null          # 23 at 16 kHz, 34 at 22.05/24 kHz, 39 above
          f0_method: dio

    Args:
        order: mel-cepstral order (coefficients 1..order are compared); None: by the reference's rate.
        alpha: all-pass constant; None: the mel-scale fit at the reference's rate (0.41 at 16 kHz).
        frame_period: WORLD frame shift, ms.
        f0_method: ``dio`` (DIO + StoneMask) or ``harvest`` (about 5 times slower).

    Raises:
        ConfigError: an order below 1, alpha outside (-1, 1), a frame period <= 0, an unknown F0 method, or
            pyworld is not installed.
    """

    name = "mcd_dtw"
    unit = "dB, mel-cepstral distortion from the reference speech after DTW"
    needs_reference = True
    higher_is_better = False
    #: bytes of reference mel-cepstra kept between calls (about 1,000 utterances of 3 s at 16 kHz)
    CACHE_BYTES = 128 * 2 ** 20

    def __init__(self, order: int | None = None, alpha: float | None = None, frame_period: float = 5.0,
                 f0_method: str = "dio") -> None:
        if order is not None and order < 1:
            raise ConfigError(f"quality 'mcd_dtw': order must be >= 1 (or null: by rate), got {order}")
        if alpha is not None and not -1.0 < alpha < 1.0:
            raise ConfigError(f"quality 'mcd_dtw': alpha must lie in (-1, 1) (or null: the mel fit), got {alpha}")
        if frame_period <= 0:
            raise ConfigError(f"quality 'mcd_dtw': frame_period must be > 0 ms, got {frame_period}")
        if f0_method not in F0_METHODS:
            raise ConfigError(f"quality 'mcd_dtw': f0_method must be one of {', '.join(F0_METHODS)}, "
                              f"got {f0_method!r}")
        import importlib.util

        if importlib.util.find_spec("pyworld") is None:
            raise ConfigError("quality 'mcd_dtw' needs pyworld (WORLD analysis): pip install 's2s_plugin[vocoder]' "
                              "(tools/requirements.txt installs it), or choose another quality scorer")
        self._cache: dict[bytes, np.ndarray] = {}
        self._cached_bytes = 0
        self.options = {"order": order, "alpha": alpha, "frame_period": float(frame_period), "f0_method": f0_method}

    def __repr__(self) -> str:
        return "MelCepstralDistortion(" + ", ".join(f"{k}={v!r}" for k, v in self.options.items()) + ")"

    def score(self, wavs: list[np.ndarray], sr: int, refs: list[tuple[np.ndarray, int]] | None = None) -> list[float]:
        """One MCD-DTW (dB) per waveform, against ``refs[i]`` = ``(reference wave, its rate)``.

        Raises:
            DataError: ``refs`` is missing or not one per waveform.
        """
        if refs is None or len(refs) != len(wavs):
            raise DataError(f"quality scorer mcd_dtw compares each waveform with its reference speech: got "
                            f"{'no' if refs is None else len(refs)} references for {len(wavs)} waveforms")
        out: list[float] = []
        for wave, (ref, ref_sr) in zip(wavs, refs):
            ref_sr = int(ref_sr)
            hyp, ref = resample(wave, sr, ref_sr), np.asarray(ref, dtype=np.float64).reshape(-1)
            if not (analysable(hyp, ref_sr) and analysable(ref, ref_sr)):
                out.append(math.nan)
                continue
            out.append(mcd_frames(mel_cepstrum(hyp, ref_sr, **self.options), self._reference(ref, ref_sr)))
        return out

    def _reference(self, ref: np.ndarray, sr: int) -> np.ndarray:
        """The mel-cepstra of a reference, kept for the next call with the same samples (stage 11 scores our
        speech and the vocoder topline against the same references)."""
        import hashlib

        key = hashlib.blake2b(ref.tobytes() + str(sr).encode(), digest_size=16).digest()
        if key not in self._cache:
            mcep = mel_cepstrum(ref, sr, **self.options)
            while self._cache and self._cached_bytes + mcep.nbytes > self.CACHE_BYTES:
                self._cached_bytes -= self._cache.pop(next(iter(self._cache))).nbytes   # the oldest first
            self._cache[key] = mcep
            self._cached_bytes += mcep.nbytes
        return self._cache[key]
