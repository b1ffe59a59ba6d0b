"""Synthetic speech with a known spectral envelope, for the tests of speech quality scores.

    from speech_testutils import vowel_speech

    wave = vowel_speech("aiueoa")                  # 16 kHz, 0.25 s per vowel
    slower = vowel_speech("aiueoa", per_vowel=0.32)

WORLD (pyworld) synthesises a voice whose spectral envelope is a tilt plus
two formant peaks that glide from vowel to vowel, so two calls with the same
vowels are the same utterance and other vowels are other speech.
"""
from __future__ import annotations

import numpy as np

#: (F1, F2) in Hz of a few vowels
VOWELS = {"a": (750, 1250), "i": (300, 2300), "u": (320, 800), "e": (500, 1900), "o": (500, 900)}


def vowel_speech(vowels: str, sr: int = 16000, per_vowel: float = 0.25, f0: float = 120.0) -> np.ndarray:
    """WORLD-synthesised speech whose spectral envelope glides through the formants of ``vowels``.

    Each vowel lasts ``per_vowel`` seconds (a longer ``per_vowel`` is the same utterance spoken slower);
    F0 glides by +-15% around ``f0``; a 50 ms pause at each end.
    """
    from s2s_plugin.vocoder.world import import_pyworld

    pyworld = import_pyworld()
    period = 5.0
    n = int(len(vowels) * per_vowel * 1000 / period)
    pos = np.linspace(0, len(vowels) - 1, n)                      # where in the vowel sequence each frame is
    targets = np.array([VOWELS[v] for v in vowels], dtype=float)
    formants = np.stack([np.interp(pos, np.arange(len(vowels)), targets[:, k]) for k in range(2)], axis=1)
    fft_size = pyworld.get_cheaptrick_fft_size(sr)
    freqs = np.linspace(0, sr / 2, fft_size // 2 + 1)
    log_env = -freqs / 2000.0                                     # spectral tilt
    log_env = log_env[None, :] + sum(3.0 * np.exp(-0.5 * ((freqs[None, :] - formants[:, k:k + 1]) / 90.0) ** 2)
                                     for k in range(2))
    pad = int(50 / period)
    silence = np.full((pad, freqs.size), 1e-8)
    sp = np.concatenate([silence, 1e-4 * np.exp(2 * log_env), silence])
    voiced = f0 * (1 + 0.15 * np.sin(np.linspace(0, 2 * np.pi, n)))
    f0s = np.concatenate([np.zeros(pad), voiced, np.zeros(pad)])
    ap = np.where(f0s[:, None] > 0, 0.01, 0.999) * np.ones_like(sp)
    return pyworld.synthesize(f0s, np.ascontiguousarray(sp), np.ascontiguousarray(ap), sr, period)
