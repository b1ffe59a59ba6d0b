"""The ``world`` vocoder: fit on espeak-ng speech and its units, synthesise, save/load, errors."""
from __future__ import annotations

import numpy as np
import pytest

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.protocols import Vocoder
from s2s_plugin.vocoder.world import WorldVocoder

from vocoder_testutils import FRAME_RATE, FS, N_UNITS, cepstra, log_energy

TRAIN = ["spk1_a", "spk1_b", "spk2_c", "spk2_d"]
HELD_OUT = "spk1_e"


@pytest.fixture(scope="module")
def fitted(corpus):
    voc = WorldVocoder(frame_rate=FRAME_RATE, n_units=N_UNITS, smooth_ms=20.0)
    stats = voc.fit((corpus.waves[u], FS, corpus.units[u]) for u in TRAIN)
    return voc, stats


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_fit_statistics(fitted, corpus):
    voc, stats = fitted
    assert isinstance(voc, Vocoder)
    assert stats["utterances"] == len(TRAIN)
    assert stats["audio_seconds"] == pytest.approx(sum(len(corpus.waves[u]) for u in TRAIN) / FS)
    assert stats["n_units"] == N_UNITS and 0 < stats["units_seen"] <= N_UNITS
    assert 0.2 < stats["voiced_share"] < 0.95  # speech: voiced and unvoiced frames
    assert 150 < np.exp(voc.stats["lf0_mean"]) < 450 and 0.02 < voc.stats["lf0_std"] < 0.5  # espeak: ~200, ~400 Hz
    z = voc.stats["lf0z"][voc.stats["voiced"] > 0]
    assert np.all(np.abs(z) < 3) and z.std() > 0.1  # units carry intonation


def test_synthesis_rate_length_and_energy(fitted, corpus):
    voc, _ = fitted
    units = corpus.units["spk1_a"]
    wave, sr = voc.synthesize(units)
    assert sr == FS == voc.sample_rate
    assert wave.dtype == np.float32
    assert len(wave) == round(len(units) * FS / FRAME_RATE)  # units x frame period
    assert np.sqrt(np.mean(wave ** 2)) > 0.01 and np.abs(wave).max() <= 1.0
    # The resynthesis follows the original's energy envelope (silences, syllables) ...
    orig = log_energy(corpus.waves["spk1_a"])
    same = _corr(log_energy(wave), orig)
    assert same > 0.85
    # ... far better than another utterance's units do.
    other, _ = voc.synthesize(corpus.units["spk2_d"])
    assert same > _corr(log_energy(other), orig) + 0.3


def test_held_out_utterance_keeps_its_units(fitted, corpus):
    """Relabelling the resynthesis of unseen speech gives back many of its units (chance: 1/24)."""
    voc, _ = fitted
    units = corpus.units[HELD_OUT]
    wave, _ = voc.synthesize(units)
    again = corpus.kmeans.predict(cepstra(wave))
    assert len(again) == len(units)
    assert np.mean(again == units) > 0.5
    assert _corr(log_energy(wave), log_energy(corpus.waves[HELD_OUT])) > 0.8


def test_save_load_round_trip(fitted, corpus, tmp_path):
    voc, _ = fitted
    voc.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"world.npz", "world.json"}
    again = WorldVocoder(smooth_ms=20.0)
    again.load(tmp_path)
    assert again.frame_rate == FRAME_RATE and again.n_units == N_UNITS
    units = corpus.units["spk2_c"]
    np.testing.assert_array_equal(again.synthesize(units)[0], voc.synthesize(units)[0])
    with pytest.raises(ConfigError, match="fitted with n_mcep=40 but this vocoder has n_mcep=20"):
        WorldVocoder(n_mcep=20).load(tmp_path)
    with pytest.raises(ConfigError, match="holds no fitted world vocoder"):
        WorldVocoder().load(tmp_path / "nothing")


def test_unit_errors(fitted):
    voc, _ = fitted
    with pytest.raises(DataError, match=r"unit 24 at position 2 is outside the vocoder's range 0..23"):
        voc.synthesize([1, 2, 24, 3])
    with pytest.raises(DataError, match="unit -1 at position 0"):
        voc.synthesize([-1])
    with pytest.raises(DataError, match="non-empty"):
        voc.synthesize([])


def test_unseen_unit_gets_global_statistics(corpus):
    voc = WorldVocoder(frame_rate=FRAME_RATE, n_units=N_UNITS + 8)
    voc.fit((corpus.waves[u], FS, corpus.units[u]) for u in TRAIN[:1])
    assert voc.stats["count"][N_UNITS:].sum() == 0
    np.testing.assert_allclose(voc.stats["mcep"][N_UNITS + 3],
                               (voc.stats["mcep"] * voc.stats["count"][:, None]).sum(0) / voc.stats["count"].sum())
    wave, _ = voc.synthesize([N_UNITS + 3] * 25)
    assert len(wave) == 8000 and np.all(np.isfinite(wave)) and np.sqrt(np.mean(wave ** 2)) > 1e-4


def test_fit_errors(corpus):
    wave, units = corpus.waves["spk1_a"], corpus.units["spk1_a"]
    with pytest.raises(ConfigError, match="frame_rate is not set"):
        WorldVocoder().fit([(wave, FS, units)])
    with pytest.raises(DataError, match="is frame_rate right"):  # 100/s units would last half the audio
        WorldVocoder(frame_rate=100.0).fit([(wave, FS, units)])
    with pytest.raises(DataError, match="no training examples"):
        WorldVocoder(frame_rate=FRAME_RATE).fit([])
    with pytest.raises(ConfigError, match="not fitted"):
        WorldVocoder(frame_rate=FRAME_RATE).synthesize([1, 2])
    with pytest.raises(ConfigError, match="f0_method"):
        WorldVocoder(f0_method="yin")


@pytest.mark.parametrize("kind", ["object_array", "bare_pickle"])
def test_planted_pickle_in_the_fitted_state_is_refused_and_never_run(fitted, tmp_path, kind):
    from payload_testutils import Payload, plant_pickle

    voc, _ = fitted
    voc.save(tmp_path)
    marker, npz = tmp_path / "PWNED", tmp_path / "world.npz"
    if kind == "object_array":  # the real arrays plus one of dtype object, whose data is a pickle
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
        planted = np.empty(1, dtype=object)
        planted[0] = Payload(marker)
        np.savez(npz, **arrays, planted=planted)
    else:
        plant_pickle(npz, marker)
    with pytest.raises(ConfigError) as e:
        WorldVocoder().load(tmp_path)
    assert str(npz) in str(e.value) and "pickles are refused" in str(e.value) and "s2s vocoder fit" in str(e.value)
    assert not marker.exists()
    if kind == "object_array":  # the control: read with pickles allowed, the planted array runs
        with np.load(npz, allow_pickle=True) as z:
            z["planted"]
        assert marker.exists()
