"""The ``concat`` vocoder: unit selection over espeak-ng speech made in the test; search, joins, save/load, errors."""
from __future__ import annotations

import numpy as np
import pytest

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.protocols import Vocoder
from s2s_plugin.vocoder.concat import ConcatVocoder
from s2s_plugin.vocoder.world import WorldVocoder

from vocoder_testutils import FRAME_RATE, FS, N_UNITS, cepstra, log_energy

TRAIN = ["spk1_a", "spk1_b", "spk2_c", "spk2_d"]
HELD_OUT = "spk1_e"


@pytest.fixture(scope="module")
def fitted(corpus):
    voc = ConcatVocoder(frame_rate=FRAME_RATE, n_units=N_UNITS)
    stats = voc.fit((corpus.waves[u], FS, corpus.units[u]) for u in TRAIN)
    return voc, stats


@pytest.fixture(scope="module")
def world(corpus):
    voc = WorldVocoder(frame_rate=FRAME_RATE, n_units=N_UNITS, smooth_ms=20.0)
    voc.fit((corpus.waves[u], FS, corpus.units[u]) for u in TRAIN)
    return voc


def _mcd(wave: np.ndarray, ref: np.ndarray) -> float:
    """Mean mel-cepstral distortion (dB, c1..c12) between two waves frame by frame."""
    a, b = cepstra(wave), cepstra(ref)
    n = min(len(a), len(b))
    return float(np.mean(10.0 / np.log(10.0) * np.sqrt(2.0 * ((a[:n, 1:] - b[:n, 1:]) ** 2).sum(1))))


def _joins(path: np.ndarray) -> int:
    return int(np.sum(path[1:] != path[:-1] + 1))


def test_fit_keeps_speech_and_frames(fitted, corpus):
    voc, stats = fitted
    assert isinstance(voc, Vocoder)
    n_frames = sum(len(corpus.units[u]) for u in TRAIN)
    assert stats["utterances"] == len(TRAIN) and stats["frames"] == n_frames
    assert stats["audio_seconds"] == pytest.approx(sum(len(corpus.waves[u]) for u in TRAIN) / FS)
    assert stats["n_units"] == N_UNITS and 0 < stats["units_seen"] <= N_UNITS
    assert voc.state["audio"].dtype == np.int16 and len(voc.state["unit"]) == n_frames
    # each kept frame holds the training speech it came from
    first = corpus.waves[TRAIN[0]]
    s = int(voc.state["start"][10])
    np.testing.assert_allclose(voc.state["audio"][s:s + 320] / 32767.0, first[3200:3520], atol=1e-4)


def test_training_utterance_is_played_back_whole(fitted, corpus):
    """Training units have a join-free path: the utterance itself, so the output is its own speech."""
    voc, _ = fitted
    units = corpus.units["spk2_c"]
    assert _joins(voc.select(units)) == 0
    wave, sr = voc.synthesize(units)
    ref = corpus.waves["spk2_c"]
    assert sr == FS == voc.sample_rate and wave.dtype == np.float32
    assert len(wave) == round(len(units) * FS / FRAME_RATE)
    n = min(len(wave), len(ref))
    np.testing.assert_allclose(wave[:n], ref[:n], atol=2e-4)


def test_held_out_utterance_beats_one_mean_per_unit(fitted, world, corpus):
    """Unseen speech's units: lower mel-cepstral distortion to the original than the ``world`` baseline."""
    voc, _ = fitted
    units, ref = corpus.units[HELD_OUT], corpus.waves[HELD_OUT]
    concat_wave, _ = voc.synthesize(units)
    world_wave, _ = world.synthesize(units)
    concat_mcd, world_mcd = _mcd(concat_wave, ref), _mcd(world_wave, ref)
    assert concat_mcd < world_mcd - 0.5, (concat_mcd, world_mcd)
    assert np.corrcoef(log_energy(concat_wave), log_energy(ref)[:len(log_energy(concat_wave))])[0, 1] > 0.8
    # relabelling the output gives back most of its units (chance: 1/24)
    assert np.mean(corpus.kmeans.predict(cepstra(concat_wave)) == units) > 0.5


def test_spliced_sequence_takes_the_fewest_joins(fitted, corpus):
    voc, _ = fitted
    a, b = corpus.units["spk1_a"], corpus.units["spk2_d"]
    units = np.concatenate([a[:40], b[30:80]])
    path = voc.select(units)
    assert _joins(path) <= 1                                    # one join is always possible
    assert np.array_equal(voc.state["unit"][path], units)       # every pick carries the wanted unit
    wave, _ = voc.synthesize(units)
    assert len(wave) == len(units) * FS // 50 and np.abs(wave).max() <= 1.0


def test_joins_crossfade_without_clicks(fitted, corpus):
    """Shuffled short pieces force many joins; the crossfade keeps sample-to-sample steps speech-like."""
    voc, _ = fitted
    rng = np.random.default_rng(0)
    units = np.concatenate([corpus.units[u][i:i + 3] for u in TRAIN for i in rng.integers(10, 60, size=8)])
    path = voc.select(units)
    assert _joins(path) >= 5
    wave, _ = voc.synthesize(units)
    hard = ConcatVocoder(frame_rate=FRAME_RATE, crossfade_ms=0.0)
    hard.state, hard.n_units = voc.state, voc.n_units
    cut, _ = hard.synthesize(units)
    steps = lambda y: np.max(np.abs(np.diff(y)))  # noqa: E731
    assert steps(wave) <= steps(cut) + 1e-6
    shifted = ConcatVocoder(frame_rate=FRAME_RATE, max_shift_ms=5.0)
    shifted.state, shifted.n_units = voc.state, voc.n_units
    y, _ = shifted.synthesize(units)
    assert len(y) == len(wave) and np.all(np.isfinite(y)) and not np.array_equal(y, wave)


def test_deterministic_and_save_load_round_trip(fitted, corpus, tmp_path):
    voc, _ = fitted
    units = np.concatenate([corpus.units[HELD_OUT], corpus.units["spk1_b"][:20]])
    first, _ = voc.synthesize(units)
    np.testing.assert_array_equal(first, voc.synthesize(units)[0])
    voc.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"concat.npz", "concat.json"}
    again = ConcatVocoder()
    again.load(tmp_path)
    assert again.frame_rate == FRAME_RATE and again.n_units == N_UNITS
    np.testing.assert_array_equal(again.synthesize(units)[0], first)
    with pytest.raises(ConfigError, match="fitted with n_mels=40 but this vocoder has n_mels=20"):
        ConcatVocoder(n_mels=20).load(tmp_path)
    with pytest.raises(ConfigError, match="need .* samples around each utterance"):
        ConcatVocoder(crossfade_ms=50.0).load(tmp_path)
    with pytest.raises(ConfigError, match="holds no fitted concat vocoder"):
        ConcatVocoder().load(tmp_path / "nothing")


def test_unseen_units_use_the_nearest_seen_unit(corpus):
    voc = ConcatVocoder(frame_rate=FRAME_RATE, n_units=N_UNITS + 4)
    voc.fit((corpus.waves[u], FS, corpus.units[u]) for u in TRAIN[:1])
    assert voc.state["count"][N_UNITS:].sum() == 0
    units = [N_UNITS + 2, N_UNITS + 2, int(corpus.units[TRAIN[0]][20]), N_UNITS + 3]
    path = voc.select(units)
    assert all(voc.state["count"][voc.state["unit"][p]] > 0 for p in path)
    wave, _ = voc.synthesize(units)
    assert len(wave) == 4 * 320 and np.all(np.isfinite(wave))


def test_unit_and_fit_errors(fitted, corpus):
    voc, _ = fitted
    with pytest.raises(DataError, match=r"unit 24 at position 2 is outside the vocoder's range 0..23"):
        voc.synthesize([1, 2, 24, 3])
    with pytest.raises(DataError, match="unit -1 at position 0"):
        voc.synthesize([-1])
    with pytest.raises(DataError, match="non-empty"):
        voc.synthesize([])
    wave, units = corpus.waves["spk1_a"], corpus.units["spk1_a"]
    with pytest.raises(ConfigError, match="frame_rate is not set"):
        ConcatVocoder().fit([(wave, FS, units)])
    with pytest.raises(DataError, match="is frame_rate right"):
        ConcatVocoder(frame_rate=100.0).fit([(wave, FS, units)])
    with pytest.raises(DataError, match="no training examples"):
        ConcatVocoder(frame_rate=FRAME_RATE).fit([])
    with pytest.raises(DataError, match="training example 0: unit 99"):
        ConcatVocoder(frame_rate=FRAME_RATE, n_units=N_UNITS).fit([(wave, FS, np.r_[units[:-1], 99])])
    with pytest.raises(ConfigError, match="not fitted"):
        ConcatVocoder(frame_rate=FRAME_RATE).synthesize([1, 2])
    with pytest.raises(ConfigError, match="max_hours"):
        ConcatVocoder(max_hours=0)


def test_max_hours_caps_the_kept_speech(corpus):
    voc = ConcatVocoder(frame_rate=FRAME_RATE, max_hours=1.0 / 3600)   # one second: stops after the first
    stats = voc.fit((corpus.waves[u], FS, corpus.units[u]) for u in TRAIN)
    assert stats["utterances"] == 1 and stats["frames"] == len(corpus.units[TRAIN[0]])
