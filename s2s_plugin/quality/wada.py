"""WADA-SNR: a blind estimate of the signal-to-noise ratio of speech (Kim and Stern, Interspeech 2008).

    from s2s_plugin.quality.wada import WadaSNR, wada_snr

    wada_snr(wave)                              # dB, e.g. 24.3 (NaN for silence)
    WadaSNR().score([wave_a, wave_b], 16000)    # [24.3, 11.0]

The method assumes that clean speech samples have Gamma-distributed
amplitudes (shape 0.4) and that the noise is additive, Gaussian and
independent of the speech. Under that model the statistic
``G = log(mean |z|) - mean(log |z|)`` of the noisy samples ``z`` is a
monotonic function of the SNR alone (about 0.41 for pure Gaussian noise,
about 1.65 for pure speech); the estimate inverts that function. The table of
``G`` against SNR (-20 to 100 dB) is computed here, once per process (about
0.1 s), from exact Gaussian moments and a quadrature over speech amplitudes
(no random numbers, no table copied from elsewhere; :func:`g_table`).

What it is not: a naturalness or MOS predictor. It sees additive noise, not
buzz, smearing or wrong prosody; a perfectly noiseless but unnatural
vocoder scores at the top of the range. Digital silence (exact zeros) reads
as very clean, so a waveform padded with zeros scores higher than the same
waveform with a faint noise floor. Samples are floored at 1e-10 of the peak
before the logarithm (as Kim and Stern do), and estimates are clipped to the
table's range.
"""
from __future__ import annotations

import functools
import math

import numpy as np

#: shape of the Gamma distribution of clean speech amplitudes (Kim and Stern's value)
SPEECH_GAMMA_SHAPE = 0.4
#: the range of the table, dB
SNR_MIN_DB, SNR_MAX_DB = -20.0, 100.0
#: amplitudes below this share of the peak count as this share (the logarithm's floor)
_FLOOR = 1e-10


def _mean_log_abs_normal(mu: np.ndarray) -> np.ndarray:
    """``E log|mu + N(0, 1)|`` for each ``mu >= 0``.

    ``(mu + N)^2`` is non-central chi-square with one degree of freedom and
    non-centrality ``mu^2``, whose mean logarithm is a Poisson(``mu^2 / 2``)
    mixture of digammas: ``log 2 + sum_j P(j) psi(j + 1/2)``. Above ``mu = 10``
    the asymptotic series ``log mu - 1/(2 mu^2) - 3/(4 mu^4)`` is used (its
    error there is below 1e-5).
    """
    from scipy import special, stats

    mu = np.asarray(mu, dtype=np.float64)
    out = np.empty_like(mu)
    big = mu > 10.0
    out[big] = np.log(mu[big]) - 0.5 / mu[big] ** 2 - 0.75 / mu[big] ** 4
    small = mu[~big]
    if small.size:
        j = np.arange(200)
        pmf = stats.poisson.pmf(j[None, :], small[:, None] ** 2 / 2.0)
        out[~big] = 0.5 * (math.log(2.0) + pmf @ special.digamma(j + 0.5))
    return out


@functools.lru_cache(maxsize=4)
def g_table(shape: float = SPEECH_GAMMA_SHAPE, n_speech: int = 4000,
            step_db: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The statistic ``G`` of speech plus Gaussian noise, for SNRs from -20 to 100 dB.

    For a speech amplitude ``x`` and noise ``sigma * N(0, 1)``, both moments
    of ``|x + noise|`` that ``G`` needs are exact in ``mu = x / sigma``: the
    folded-normal mean ``sigma * (sqrt(2/pi) exp(-mu^2/2) + mu (1 - 2 Phi(-mu)))``
    and ``log sigma + E log|mu + N(0, 1)|`` (:func:`_mean_log_abs_normal`,
    tabulated on a fine grid of ``mu`` and interpolated). The expectation over
    speech amplitudes takes ``n_speech`` quantiles of Gamma(``shape``) at
    ``q = t**4`` for evenly spaced mid-points ``t``, weighted by ``dq`` (dense
    near zero, where the density of shape < 1 is singular). The sign of a
    speech sample does not matter (the noise is symmetric); speech power is
    the exact ``shape * (shape + 1)``.

    Returns:
        ``(g, snr_db)``: strictly increasing ``G`` values and their SNRs in dB.
    """
    from scipy import special, stats

    t = (np.arange(n_speech) + 0.5) / n_speech
    speech = stats.gamma.ppf(t ** 4, shape)
    weight = t ** 3 / (t ** 3).sum()
    mu_grid = np.linspace(0.0, 10.0, 4001)
    h_grid = _mean_log_abs_normal(mu_grid)
    power = shape * (shape + 1.0)
    snr_db = np.arange(SNR_MIN_DB, SNR_MAX_DB + step_db / 2, step_db)
    g = np.empty_like(snr_db)
    for i, snr in enumerate(snr_db):
        mu = speech / math.sqrt(power / 10.0 ** (snr / 10.0))
        folded = math.sqrt(2.0 / math.pi) * np.exp(-mu ** 2 / 2.0) + mu * (1.0 - 2.0 * special.ndtr(-mu))
        mean_log = np.interp(mu, mu_grid, h_grid)
        big = mu > 10.0
        mean_log[big] = _mean_log_abs_normal(mu[big])
        g[i] = math.log(float(weight @ folded)) - float(weight @ mean_log)   # log sigma cancels
    keep = np.concatenate([[True], np.diff(g) > 0])   # np.interp needs strictly increasing points
    return g[keep], snr_db[keep]


def wada_snr(wave: np.ndarray) -> float:
    """The WADA-SNR estimate of a waveform, in dB (NaN for an empty or all-zero waveform).

    Args:
        wave: 1-D samples (any rate, any scale: the estimate does not depend on either).
    """
    z = np.abs(np.asarray(wave, dtype=np.float64).reshape(-1))
    if z.size == 0 or not np.isfinite(z).all():
        return float("nan")
    peak = float(z.max())
    if peak <= 0.0:
        return float("nan")
    z = np.maximum(z / peak, _FLOOR)
    g = math.log(float(z.mean())) - float(np.log(z).mean())
    table_g, table_snr = g_table()
    return float(np.interp(g, table_g, table_snr))


class WadaSNR:
    """WADA-SNR (Kim and Stern 2008) as a ``quality_scorer``: a blind SNR estimate in dB, no model.

    Higher is cleaner. Cheap (one pass over the samples), deterministic, needs
    no checkpoint; it measures additive noise only, not naturalness (see
    :mod:`s2s_plugin.quality.wada`). Example::

        scorer = WadaSNR()
        scorer.score([wave], 16000)     # [24.3]

    A waveform that is empty or all zeros scores NaN (stage 11 counts it as unscored).
    """

    name = "wada_snr"
    unit = "dB, blind SNR estimate"

    def __repr__(self) -> str:
        return "WadaSNR()"

    def score(self, wavs: list[np.ndarray], sr: int) -> list[float]:
        """One SNR estimate (dB) per waveform, in input order; ``sr`` is not needed."""
        return [wada_snr(w) for w in wavs]
