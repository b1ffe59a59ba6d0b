"""Streaming k-means: recovers clusters from a stream, is seeded, bounded, saves and loads."""
from __future__ import annotations

import numpy as np
import pytest

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.units.kmeans import StreamingKMeans, dedup, nearest_centre


def blobs(n_chunks: int = 40, k: int = 6, dim: int = 5, seed: int = 0):
    """Chunks of points around ``k`` well-separated centres, with their true cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim)).astype(np.float32) * 20
    chunks, truth = [], []
    for _ in range(n_chunks):
        lab = rng.integers(0, k, rng.integers(20, 80))
        chunks.append((centres[lab] + rng.standard_normal((len(lab), dim))).astype(np.float32))
        truth.append(lab)
    return chunks, np.concatenate(truth), centres


def test_recovers_separated_clusters_from_a_stream():
    chunks, truth, _ = blobs()
    km = StreamingKMeans(n_clusters=6, batch_size=200, epochs=2, seed=0)
    stats = km.fit(chunks)
    labels = km.assign(np.concatenate(chunks))
    # each found cluster holds exactly one true cluster (a perfect clustering up to renaming)
    pairs = set(zip(labels.tolist(), truth.tolist()))
    assert len(pairs) == 6 and len({a for a, _ in pairs}) == 6
    assert stats["frames"] == 2 * len(truth) and stats["frames_per_epoch"] == [len(truth)] * 2
    assert stats["feature_dim"] == 5
    assert stats["distortion"][1] < 2 * 5  # about dim: unit-variance noise around the right centres


def test_buffer_never_exceeds_one_batch():
    chunks, truth, _ = blobs(n_chunks=100)
    km = StreamingKMeans(n_clusters=6, batch_size=100, seed=0)
    stats = km.fit(chunks)
    assert stats["max_buffer_rows"] == km.init_size == 100
    assert stats["batches"] == -(-len(truth) // 100)


def test_seeded_and_deterministic():
    chunks, _, _ = blobs(seed=3)
    a = StreamingKMeans(6, 150, 1, seed=7)
    b = StreamingKMeans(6, 150, 1, seed=7)
    c = StreamingKMeans(6, 150, 1, seed=8)
    a.fit(chunks), b.fit(chunks), c.fit(chunks)
    np.testing.assert_array_equal(a.centres, b.centres)
    assert not np.array_equal(a.centres, c.centres)


def test_re_iterable_stream_is_read_once_per_epoch():
    chunks, _, _ = blobs(n_chunks=10)

    class Counting:
        passes = 0

        def __iter__(self):
            Counting.passes += 1
            return iter(chunks)

    StreamingKMeans(6, 100, epochs=3).fit(Counting())
    assert Counting.passes == 3


def test_several_epochs_refuse_a_one_shot_generator():
    chunks, _, _ = blobs(n_chunks=10)
    with pytest.raises(TypeError, match="2 epochs need a stream that can be iterated again"):
        StreamingKMeans(6, 100, epochs=2).fit(c for c in chunks)
    assert StreamingKMeans(6, 100, epochs=1).fit(c for c in chunks)["frames"] > 0


def test_too_few_frames_is_a_clear_error():
    with pytest.raises(DataError, match=r"gave 10 frames, fewer than n_clusters=50.*fit.share"):
        StreamingKMeans(n_clusters=50).fit([np.zeros((10, 3), np.float32)])


def test_bad_features_and_arguments():
    with pytest.raises(DataError, match="dimension changed from 3 to 4"):
        StreamingKMeans(2).fit([np.zeros((5, 3), np.float32), np.zeros((5, 4), np.float32)])
    with pytest.raises(DataError, match="NaN"):
        StreamingKMeans(2).fit([np.full((5, 3), np.nan, np.float32)])
    with pytest.raises(ConfigError, match="n_clusters must be an integer >= 2"):
        StreamingKMeans(1)
    with pytest.raises(ConfigError, match="batch_size"):
        StreamingKMeans(4, batch_size=0)


def test_nearest_centre_matches_brute_force():
    rng = np.random.default_rng(0)
    x, c = rng.standard_normal((1000, 7)).astype(np.float32), rng.standard_normal((13, 7)).astype(np.float32)
    labels, dists = nearest_centre(x, c, block=128)
    full = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, full.argmin(1))
    np.testing.assert_allclose(dists, full.min(1), rtol=1e-4, atol=1e-4)


def test_save_load_round_trip(tmp_path):
    chunks, _, _ = blobs(n_chunks=10)
    km = StreamingKMeans(6, 100)
    km.fit(chunks)
    km.save(tmp_path)
    other = StreamingKMeans(6)
    other.load(tmp_path)
    np.testing.assert_array_equal(other.centres, km.centres)
    with pytest.raises(DataError, match="do not match n_clusters=5"):
        StreamingKMeans(5).load(tmp_path)
    with pytest.raises(DataError, match="centres not found; run `s2s units fit"):
        StreamingKMeans(5).load(tmp_path / "nowhere")


def test_dedup():
    np.testing.assert_array_equal(dedup(np.array([5, 5, 7, 7, 7, 5])), [5, 7, 5])
    assert dedup(np.array([], dtype=int)).size == 0


@pytest.mark.parametrize("kind", ["pickle", "object_npy"])
def test_planted_pickle_centres_are_refused_and_never_run(tmp_path, kind):
    from payload_testutils import Payload, payload_is_live, plant_pickle

    marker, path = tmp_path / "PWNED", tmp_path / "centres.npy"
    if kind == "pickle":
        plant_pickle(path, marker)
    else:  # an .npy of dtype object: its data is a pickle
        arr = np.empty(1, dtype=object)
        arr[0] = Payload(marker)
        np.save(path, arr, allow_pickle=True)
    with pytest.raises(DataError) as e:
        StreamingKMeans(6).load(tmp_path)
    assert str(path) in str(e.value) and "pickles are refused" in str(e.value) and "s2s units fit" in str(e.value)
    assert not marker.exists()
    if kind == "pickle":
        assert payload_is_live(path, marker)  # the planted file does run when unpickled
    else:
        np.load(path, allow_pickle=True)
        assert marker.exists()
