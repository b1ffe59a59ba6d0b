"""mcd_dtw: known answers (0 for the same speech, the mel-scale all-pass constants), DTW, monotonic in distortion."""
from __future__ import annotations

import math

import numpy as np
import pytest

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.quality.mcd import (MCD_DB, MelCepstralDistortion, all_pass_alpha, default_order, freqt_matrix,
                                    mcd_dtw, mcd_frames, mel_cepstrum)
from s2s_plugin.registry import get_registry
from speech_testutils import vowel_speech

SR = 16000


@pytest.fixture(scope="module")
def speech():
    return vowel_speech("aiueoa")


def test_all_pass_constants_are_the_usual_mel_approximations():
    # the values SPTK's documentation gives for these rates
    for sr, alpha in ((8000, 0.31), (16000, 0.41), (22050, 0.455), (24000, 0.466), (44100, 0.544), (48000, 0.554)):
        assert all_pass_alpha(sr) == pytest.approx(alpha, abs=0.0025)
    assert [default_order(sr) for sr in (16000, 22050, 48000)] == [23, 34, 39]


def test_warping_is_the_identity_at_alpha_0_and_undone_by_minus_alpha():
    assert np.array_equal(freqt_matrix(12, 5, 0.0), np.eye(6, 12))
    c = np.random.default_rng(0).standard_normal(11) * 0.5 ** np.arange(11)
    warped = freqt_matrix(11, 300, 0.41) @ c                     # long enough to hold the warped sequence
    assert np.abs(warped[:11] - c).max() > 0.1                    # it does warp
    back = freqt_matrix(301, 10, -0.41) @ warped
    assert back == pytest.approx(c, abs=1e-6)


def test_mel_cepstrum_keeps_the_log_envelope(speech):
    mc = mel_cepstrum(speech, SR)
    assert mc.shape[1] == 24 and mc.shape[0] == pytest.approx(speech.size / SR * 200, abs=2)
    louder = mel_cepstrum(4.0 * speech, SR)
    # a gain only moves the 0th coefficient, by log(4)
    assert (louder[:, 0] - mc[:, 0])[40:-40] == pytest.approx(math.log(4.0), abs=1e-3)
    assert louder[:, 1:] == pytest.approx(mc[:, 1:], abs=1e-3)


def test_same_speech_is_0_and_a_gain_does_not_count(speech):
    assert mcd_dtw(speech, SR, speech, SR) == 0.0
    assert mcd_dtw(0.1 * speech, SR, speech, SR) < 0.05


def test_dtw_forgives_a_slower_copy_but_not_other_speech(speech):
    slower = vowel_speech("aiueoa", per_vowel=0.32)
    other = vowel_speech("uoiaei")
    stretched = mcd_dtw(slower, SR, speech, SR)
    different = mcd_dtw(other, SR, speech, SR)
    assert stretched < 1.5 < 4.0 < different
    # without the alignment (frame by frame, the shorter length) the slower copy is far off
    a, b = mel_cepstrum(slower, SR), mel_cepstrum(speech, SR)
    n = min(len(a), len(b))
    naive = MCD_DB * np.sqrt(((a[:n, 1:] - b[:n, 1:]) ** 2).sum(axis=1)).mean()
    assert naive > 2 * stretched


def test_white_noise_is_far_and_distortion_is_monotonic(speech):
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(speech.size)
    assert mcd_dtw(0.1 * noise, SR, speech, SR) > 10.0
    power = np.mean(speech ** 2)
    values = [mcd_dtw(speech + noise * math.sqrt(power / 10 ** (snr / 10)), SR, speech, SR)
              for snr in (40, 30, 20, 10, 0)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert values[0] < 2.0 and values[-1] > 6.0


def test_our_speech_is_resampled_to_the_references_rate(speech):
    fast = vowel_speech("aiueoa", sr=22050)
    assert mcd_dtw(fast, 22050, speech, SR) < 2.5         # 1.4: the band above 8 kHz is lost
    assert mcd_dtw(fast, 22050, vowel_speech("uoiaei"), SR) > 4.0


def test_unscorable_waves_are_nan(speech):
    for bad in (np.zeros(0), np.zeros(SR), np.full(SR, np.nan), speech[:100]):
        assert math.isnan(mcd_dtw(bad, SR, speech, SR)) and math.isnan(mcd_dtw(speech, SR, bad, SR))


def test_scorer_needs_one_reference_per_wave(speech):
    scorer = get_registry().build("quality_scorer", {"name": "mcd_dtw"})
    assert isinstance(scorer, MelCepstralDistortion)
    assert scorer.needs_reference and not scorer.higher_is_better and scorer.unit.startswith("dB")
    other = vowel_speech("uoiaei")
    got = scorer.score([speech, other, np.zeros(10)], SR, refs=[(speech, SR), (speech, SR), (speech, SR)])
    assert got[0] == 0.0 and got[1] == pytest.approx(mcd_dtw(other, SR, speech, SR)) and math.isnan(got[2])
    with pytest.raises(DataError, match="compares each waveform with its reference speech: got no references"):
        scorer.score([speech], SR)
    with pytest.raises(DataError, match="got 2 references for 1 waveforms"):
        scorer.score([speech], SR, refs=[(speech, SR)] * 2)


def test_reference_analyses_are_reused_within_a_bounded_cache(speech, monkeypatch):
    import s2s_plugin.quality.mcd as mcd

    scorer = MelCepstralDistortion()
    scorer.CACHE_BYTES = 3 * mel_cepstrum(speech, SR).nbytes
    calls = []
    real = mcd.mel_cepstrum
    monkeypatch.setattr(mcd, "mel_cepstrum", lambda w, sr, **kw: calls.append(w.size) or real(w, sr, **kw))
    refs = [(speech * (1 + k), SR) for k in range(5)]            # five different references
    first = scorer.score([speech] * 5, SR, refs=refs)
    assert len(calls) == 10
    again = scorer.score([speech] * 5, SR, refs=refs)
    assert again == first and len(calls) == 10 + 5 + 5            # the oldest were dropped: all analysed again
    assert scorer._cached_bytes <= scorer.CACHE_BYTES and len(scorer._cache) == 3
    scorer.score([speech], SR, refs=refs[-1:])
    assert len(calls) == 21                                       # the newest is still kept


@pytest.mark.parametrize("kwargs, message", [({"order": 0}, "order must be >= 1"), ({"alpha": 1.0}, "alpha must"),
                                             ({"frame_period": 0}, "frame_period"),
                                             ({"f0_method": "rapt"}, "dio, harvest")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MelCepstralDistortion(**kwargs)


def test_without_pyworld_the_scorer_says_what_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyworld" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs pyworld .*pip install 's2s_plugin\[vocoder\]'"):
        MelCepstralDistortion()


def test_frame_distance_is_the_textbook_formula():
    a = np.zeros((3, 4))
    b = a.copy()
    b[:, 1:] = [1.0, 0.0, 0.0]   # one coefficient 1 apart in every frame; the 0th is ignored
    b[:, 0] = 9.0
    assert mcd_frames(a, b) == pytest.approx(10 / math.log(10) * math.sqrt(2))
