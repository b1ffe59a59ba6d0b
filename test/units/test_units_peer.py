"""`s2s units import`: peers' k-means files (fairseq / ESPnet joblib, pickle, .npy) become our tokenizer.

The k-means files are written here by the installed sklearn and joblib, the way
fairseq's simple_kmeans (``joblib.dump(km, "km.bin")``) and ESPnet's
learn_kmeans (``joblib.dump(km, "km_<K>.mdl")``) write them.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import yaml
from units_testutils import save_w2v2

from s2s_plugin.bin.main import main
from s2s_plugin.data.datadir import DataDir
from s2s_plugin.errors import DataError
from s2s_plugin.units.peer import read_peer_kmeans
from s2s_plugin.units.stage import read_units

MFCC = {"name": "mfcc_kmeans", "frame_shift_ms": 20.0}


def s2s(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def features_of(tok_block: dict, dd: DataDir, lang: str) -> dict[str, np.ndarray]:
    from s2s_plugin.registry import get_registry

    tok = get_registry().build("unit_tokenizer", {**tok_block, "n_clusters": 2}, "tokenizer")
    return {u: tok.features(*dd.load_audio(u, lang)) for u in dd.utt_ids}


def peer_kmeans(feats: dict[str, np.ndarray], k: int, kind: str = "minibatch"):
    from sklearn.cluster import KMeans, MiniBatchKMeans

    x = np.concatenate(list(feats.values()))
    if kind == "minibatch":  # fairseq / ESPnet's learn_kmeans settings, scaled down
        km = MiniBatchKMeans(n_clusters=k, init="k-means++", max_iter=20, batch_size=256, compute_labels=False,
                             tol=0.0, max_no_improvement=100, n_init=3, reassignment_ratio=0.0, random_state=0)
    else:
        km = KMeans(n_clusters=k, n_init=1, random_state=0)
    return km.fit(x)


def write_peer(km, path, fmt: str):
    import joblib

    if fmt == "npy":
        np.save(path, km.cluster_centers_)
    elif fmt == "pkl":
        with open(path, "wb") as f:
            pickle.dump(km, f)
    else:
        joblib.dump(km, path, **({"compress": 3} if fmt == "joblib-compressed" else {}))
    return path


@pytest.mark.parametrize("fmt,suffix,kind", [("joblib", ".bin", "minibatch"), ("joblib", ".mdl", "full"),
                                             ("joblib-compressed", ".mdl", "minibatch"), ("pkl", ".pkl", "minibatch"),
                                             ("npy", ".npy", "full")])
def test_import_then_label_gives_the_peers_labels(fmt, suffix, kind, dump_dir, tmp_path, capsys):
    train = dump_dir("train_fr")
    dd = DataDir(train, "en")
    feats = {lang: features_of(MFCC, dd, lang) for lang in ("fr", "en")}
    km = peer_kmeans({f"{lang}/{u}": f for lang in feats for u, f in feats[lang].items()}, 7, kind)
    path = write_peer(km, tmp_path / f"km_7{suffix}", fmt)
    conf = tmp_path / "units.yaml"
    conf.write_text(yaml.safe_dump({"tokenizer": MFCC}))
    exp = tmp_path / "exp" / "units_peer"
    code, _, err = s2s(capsys, "units", "import", "--kmeans", path, "--config", conf, "--exp", exp)
    assert code == 0, err
    info = yaml.safe_load((exp / "units.yaml").read_text())
    assert (info["n_clusters"], info["feature_dim"], info["frame_rate"]) == (7, 39, 50.0)
    assert info["imported"]["file"] == str(path.resolve()) and len(info["imported"]["sha256"]) == 64
    assert info["imported"]["object"] == ("numpy.ndarray" if fmt == "npy" else f"sklearn.cluster._kmeans."
                                          f"{'MiniBatchKMeans' if kind == 'minibatch' else 'KMeans'}")
    assert info["imported"]["model_record"]["features"]["frame_shift_ms"] == 20.0
    np.testing.assert_array_equal(np.load(exp / "centres.npy"), km.cluster_centers_.astype(np.float32))
    assert "units import: 7 centres of dimension 39" in (exp / "import.log").read_text()
    code, _, err = s2s(capsys, "units", "label", "--exp", exp, "--dir", train)
    assert code == 0, err
    for lang in ("fr", "en"):
        units = read_units(train / f"units.{lang}")
        for utt in dd.utt_ids:  # what the peer's own model predicts (fairseq's dump_km_label) on the same features
            assert units[utt] == km.predict(feats[lang][utt].astype(km.cluster_centers_.dtype)).tolist()


@pytest.fixture
def hf_import(dump_dir, tmp_path, capsys):
    """A peer k-means (joblib .bin) on layer 2 of a saved wav2vec 2.0 CTC model, imported: (exp, train, model)."""
    import joblib

    model_dir = tmp_path / "w2v2_ctc"
    save_w2v2(model_dir)
    block = {"name": "hf_kmeans", "model_dir": str(model_dir), "layer": 2, "extract_batch_size": 4}
    train = dump_dir("train_fr")
    dd = DataDir(train, "en")
    feats = features_of(block, dd, "fr")
    km = peer_kmeans(feats, 5)
    joblib.dump(km, tmp_path / "hubert_L2_km5.bin")
    conf = tmp_path / "units_hf.yaml"
    conf.write_text(yaml.safe_dump({"tokenizer": block}))
    exp = tmp_path / "exp" / "units_hf"
    code, _, err = s2s(capsys, "units", "import", "--kmeans", tmp_path / "hubert_L2_km5.bin", "--config", conf,
                       "--exp", exp)
    assert code == 0, err
    return exp, train, model_dir, km, feats


def test_import_records_the_layer_and_model_and_label_checks_them(hf_import, tmp_path, capsys):
    exp, train, model_dir, km, feats = hf_import
    info = yaml.safe_load((exp / "units.yaml").read_text())
    record = info["imported"]["model_record"]
    assert record["layer"] == 2 and record["model"]["path"] == str(model_dir.resolve())
    assert {"config.json", "model.safetensors", "processor_config.json"} <= set(record["model"]["files"])
    assert s2s(capsys, "units", "label", "--exp", exp, "--dir", train, "--lang", "fr")[0] == 0
    units = read_units(train / "units.fr")
    assert all(units[u] == km.predict(f).tolist() for u, f in feats.items())
    labelled = (train / "units.fr").read_text()

    info["tokenizer"]["layer"] = 1  # someone edits the block: another layer of the same model
    (exp / "units.yaml").write_text(yaml.safe_dump(info, sort_keys=False))
    code, _, err = s2s(capsys, "units", "label", "--exp", exp, "--dir", train, "--lang", "fr")
    assert code == 2 and "belongs to layer 2, but the tokenizer block now extracts layer 1" in err
    assert (train / "units.fr").read_text() == labelled  # checked before any work

    info["tokenizer"]["layer"] = 2
    (exp / "units.yaml").write_text(yaml.safe_dump(info, sort_keys=False))
    save_w2v2(model_dir, ctc=False)  # another model saved at the same path
    code, _, err = s2s(capsys, "units", "label", "--exp", exp, "--dir", train, "--lang", "fr")
    assert code == 2 and f"the model at {model_dir.resolve()} now has" in err and "another model" in err
    assert (train / "units.fr").read_text() == labelled


def test_import_refuses_centres_of_another_layer_size_or_count(hf_import, tmp_path, capsys):
    exp, train, model_dir, km, _ = hf_import
    conf = tmp_path / "units_hf.yaml"
    np.save(tmp_path / "c16.npy", np.random.default_rng(0).standard_normal((5, 16)).astype(np.float32))
    code, _, err = s2s(capsys, "units", "import", "--kmeans", tmp_path / "c16.npy", "--config", conf, "--exp",
                       tmp_path / "e2")
    assert code == 2 and "centres of dimension 16, but hf_kmeans layer 2 of" in err and "32-dim features" in err
    code, _, err = s2s(capsys, "units", "import", "--kmeans", tmp_path / "hubert_L2_km5.bin", "--config", conf,
                       "--exp", tmp_path / "e3", "tokenizer.n_clusters=2048")
    assert code == 2 and "has 5 centres, but the tokenizer block says n_clusters=2048" in err
    assert not (tmp_path / "e2" / "units.yaml").exists() and not (tmp_path / "e3" / "units.yaml").exists()


def test_planted_payload_in_a_kmeans_file_is_refused_and_never_run(tmp_path, capsys):
    import joblib
    from payload_testutils import Payload, payload_is_live
    from sklearn.cluster import KMeans

    marker = tmp_path / "PWNED"
    km = KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.arange(12, dtype=np.float32).reshape(6, 2))
    km.planted = Payload(marker)
    joblib.dump(km, tmp_path / "km.bin")
    with open(tmp_path / "km.pkl", "wb") as f:
        pickle.dump({"cluster_centers_": km.cluster_centers_, "x": Payload(marker)}, f)
    conf = tmp_path / "units.yaml"
    conf.write_text(yaml.safe_dump({"tokenizer": {"name": "mfcc_kmeans", "num_ceps": 2, "num_mel_bins": 4,
                                                  "delta_order": 0}}))
    for name in ("km.bin", "km.pkl"):
        code, _, err = s2s(capsys, "units", "import", "--kmeans", tmp_path / name, "--config", conf, "--exp",
                           tmp_path / "exp")
        assert code == 2, err
        assert f"{tmp_path / name}: refused to load this k-means file: it names the Python object io.open" in err
        assert "--trust_pickle" in err and not marker.exists()
    assert payload_is_live(tmp_path / "km.pkl", marker)  # the planted file does run when unpickled
    # --trust_pickle reads it as joblib does: the payload runs (what --help and the docs warn about)
    code, _, err = s2s(capsys, "units", "import", "--kmeans", tmp_path / "km.bin", "--config", conf, "--exp",
                       tmp_path / "exp", "--trust_pickle")
    assert code == 0, err
    assert marker.exists()
    assert not (tmp_path / "exp" / "km.bin").exists() and np.load(tmp_path / "exp" / "centres.npy").shape == (2, 2)


def test_unusable_kmeans_files(tmp_path):
    with pytest.raises(DataError, match="k-means file not found"):
        read_peer_kmeans(tmp_path / "missing.bin")
    (tmp_path / "junk.bin").write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="not a joblib / pickle k-means file"):
        read_peer_kmeans(tmp_path / "junk.bin")
    arr = np.empty(2, dtype=object)
    np.save(tmp_path / "obj.npy", arr, allow_pickle=True)
    with pytest.raises(DataError, match="object arrays are refused"):
        read_peer_kmeans(tmp_path / "obj.npy")
    np.save(tmp_path / "vec.npy", np.zeros(5, np.float32))
    with pytest.raises(DataError, match=r"holds an array of shape \(5,\)"):
        read_peer_kmeans(tmp_path / "vec.npy")
    with open(tmp_path / "dict.pkl", "wb") as f:
        pickle.dump({"centres": [1, 2]}, f)
    with pytest.raises(DataError, match="holds a builtins.dict, not a k-means"):
        read_peer_kmeans(tmp_path / "dict.pkl")
    centres, meta = read_peer_kmeans(_bare_array_pickle(tmp_path))
    assert centres.shape == (3, 2) and centres.dtype == np.float32 and meta["object"] == "numpy.ndarray"


def _bare_array_pickle(tmp_path):
    with open(tmp_path / "arr.pkl", "wb") as f:
        pickle.dump(np.ones((3, 2)), f)
    return tmp_path / "arr.pkl"
