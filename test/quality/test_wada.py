"""wada_snr: known answers on the method's own signal model, monotonic in added noise, scale-free."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from s2s_plugin.quality.wada import SPEECH_GAMMA_SHAPE, WadaSNR, g_table, wada_snr
from s2s_plugin.registry import get_registry


def _gamma_speech(n=200_000, seed=0):
    """Samples of the method's speech model: Gamma(0.4) amplitudes with random signs."""
    rng = np.random.default_rng(seed)
    return rng.gamma(SPEECH_GAMMA_SHAPE, size=n) * rng.choice([-1.0, 1.0], size=n)


def _with_noise(x, snr_db, seed=1):
    noise = np.random.default_rng(seed).standard_normal(x.size)
    return x + noise * math.sqrt(np.mean(x ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))


def _speech_like(sr=16000, seconds=3.0, seed=3):
    """Voiced syllables: harmonics of a gliding f0 under a 4 Hz envelope, with pauses and a faint floor."""
    t = np.arange(int(sr * seconds)) / sr
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2 * (t % 1.0 < 0.75)
    floor = 1e-4 * np.random.default_rng(seed).standard_normal(t.size)
    return 0.3 * voiced * envelope + floor


def test_table_ends_at_the_analytic_limits():
    g, snr = g_table()
    assert snr[0] == -20 and snr[-1] == 100 and np.all(np.diff(g) > 0)
    gaussian = math.log(math.sqrt(2 / math.pi)) + (np.euler_gamma + math.log(2)) / 2   # G of pure noise
    gamma = math.log(SPEECH_GAMMA_SHAPE) - special.digamma(SPEECH_GAMMA_SHAPE)         # G of pure speech
    assert g[0] == pytest.approx(gaussian, abs=2e-3)
    assert gaussian < g[-1] < gamma and g[-1] == pytest.approx(gamma, abs=0.03)


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0, 30.0])
def test_known_snr_of_the_model_signal(snr):
    assert wada_snr(_with_noise(_gamma_speech(), snr)) == pytest.approx(snr, abs=1.0)


def test_noisier_speech_scores_lower_monotonically():
    clean = _speech_like()
    scores = [wada_snr(clean)] + [wada_snr(_with_noise(clean, s, seed=7)) for s in (30, 20, 10, 5, 0)]
    assert all(a >= b for a, b in zip(scores, scores[1:])), scores
    assert all(a > b for a, b in zip(scores[2:], scores[3:])), scores     # 20, 10, 5, 0 dB
    # pauses make speech more peaked than the Gamma model: clean (and 30 dB) reach the table's top
    assert scores[0] == 100.0
    assert scores[2] - scores[-1] > 15


def test_scale_free_and_unscorable_inputs():
    x = _with_noise(_speech_like(), 15)
    assert wada_snr(3.7 * x) == pytest.approx(wada_snr(x), abs=1e-9)
    assert math.isnan(wada_snr(np.zeros(1000))) and math.isnan(wada_snr(np.zeros(0)))
    assert math.isnan(wada_snr(np.array([0.1, np.nan])))


def test_registered_scorer_scores_in_order():
    scorer = get_registry().build("quality_scorer", {"name": "wada_snr"})
    assert isinstance(scorer, WadaSNR) and "dB" in scorer.unit
    clean = _speech_like()
    noisy = _with_noise(clean, 5)
    a, b = scorer.score([clean, noisy], 16000)
    assert a == wada_snr(clean) and b == wada_snr(noisy) and a > b
