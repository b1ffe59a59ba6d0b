"""Stage 4 without refitting: a peer's k-means (fairseq, ESPnet, faiss) becomes our unit tokenizer.

    s2s units import --kmeans /models/mhubert_L11_km1000.bin --config conf/units_mhubert.yaml --exp exp/units

    from s2s_plugin.units.peer import import_kmeans, read_peer_kmeans
    centres, meta = read_peer_kmeans("km/km_2048.mdl")       # (K, D) float32 and what the file held
    import_kmeans(cfg, "km/km_2048.mdl", "exp/units")         # cfg: a UnitsConfig naming the model and layer

Files read:

- sklearn k-means objects (``MiniBatchKMeans``, ``KMeans``) saved with ``joblib.dump``
  (fairseq's ``examples/hubert/simple_kmeans/learn_kmeans.py``, ``.bin``; ESPnet's
  ``pyscripts/feats/learn_kmeans*.py``, ``km_<K>.mdl``) or ``pickle.dump`` (``.pkl``);
  compressed joblib files too. The centres are ``cluster_centers_``.
- ``.npy`` centre matrices of shape ``(K, D)`` (faiss ``centroids.npy`` of an ``l2`` spec,
  or any ``np.save``), read with ``allow_pickle=False``.

A joblib or pickle file is a pickle, and unpickling runs whatever code the file
names. By default it is read with an unpickler that rebuilds only sklearn's
k-means classes, numpy arrays, dtypes and random states, and joblib's array
wrappers: a file naming any other Python object is refused, naming it, and
nothing in it runs. ``trust_pickle=True`` (``--trust_pickle``) reads it with
``joblib.load`` as is, which runs the code the file holds: only for a file whose
maker you trust. The file is read once, at import, from the path the user named;
the exp dir keeps only the centres as a plain ``.npy`` (see docs/security.md).

The tokenizer block of the config names the feature model and layer the k-means
was fitted on (e.g. ``hf_kmeans`` with ``model_dir`` and ``layer``); the import
checks that the centres have that layer's feature dimension and records the
layer, the model path and a SHA-256 of its files in ``units.yaml``
(``imported``). Every ``s2s units label`` recomputes them and stops with an
error on a mismatch (another layer in the block, or another model at the path).
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from s2s_plugin.data.io import PathLike, atomic_write
from s2s_plugin.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

NPY_MAGIC = b"\x93NUMPY"

#: What the default (restricted) unpickler rebuilds: (module, name) as written in the file -> where the
#: object lives now. Old sklearn and numpy module paths map to today's.
_KMEANS_CLASSES = {"MiniBatchKMeans", "KMeans"}
_NUMPY_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.random._pickle", "__randomstate_ctor"), ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"), ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pcg64", "PCG64"), ("numpy.random.mtrand", "RandomState"),
}
_OTHER_ALLOWED = {("joblib.numpy_pickle", "NumpyArrayWrapper"), ("joblib.numpy_pickle_compat", "NDArrayWrapper"),
                  ("copyreg", "_reconstructor"), ("builtins", "object")}


def _allowed(module: str, name: str) -> Any:
    """The object a restricted unpickler may rebuild for ``module.name``, or ``None``."""
    import importlib

    if name in _KMEANS_CLASSES and module in ("sklearn.cluster._kmeans", "sklearn.cluster.k_means_",
                                              "sklearn.cluster"):
        import sklearn.cluster

        return getattr(sklearn.cluster, name)
    if (module, name) in _NUMPY_ALLOWED:
        if module.startswith("numpy.core.") or module.startswith("numpy._core."):
            tail = module.split(".", 2)[2]
            for prefix in ("numpy._core.", "numpy.core."):
                try:
                    return getattr(importlib.import_module(prefix + tail), name)
                except (ImportError, AttributeError):
                    continue
            return None
        return getattr(importlib.import_module(module), name, None)
    if (module, name) in _OTHER_ALLOWED:
        return getattr(importlib.import_module(module), name, None)
    return None


class RefusedObject(DataError):
    """A pickle names a Python object the restricted reader does not rebuild."""


def _restricting(base: type) -> type:
    class Restricted(base):  # type: ignore[misc, valid-type]
        def find_class(self, module: str, name: str) -> Any:
            obj = _allowed(module, name)
            if obj is None:
                raise RefusedObject(f"{module}.{name}")
            return obj

    Restricted.__name__ = f"Restricted{base.__name__}"
    return Restricted


def _restricted_joblib_load(path: Path) -> Any:
    """``joblib.load(path)`` with joblib's unpicklers replaced by ones that refuse unknown objects."""
    from unittest import mock

    import joblib
    from joblib import numpy_pickle, numpy_pickle_compat

    with mock.patch.object(numpy_pickle, "NumpyUnpickler", _restricting(numpy_pickle.NumpyUnpickler)), \
            mock.patch.object(numpy_pickle_compat, "ZipNumpyUnpickler",
                              _restricting(numpy_pickle_compat.ZipNumpyUnpickler)):
        return joblib.load(path)


def read_peer_kmeans(path: PathLike, trust_pickle: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """The ``(K, D)`` float32 centres of a peer's k-means file, and what the file held.

    Args:
        path: an ``.npy`` centre matrix, or a joblib / pickle file of an sklearn k-means object
            (or of a bare centre array).
        trust_pickle: read a joblib / pickle file with ``joblib.load`` as is (runs its code).

    Returns:
        The centres, and ``format``, ``object`` (the class found) and ``load_warnings`` (e.g.
        sklearn's note that another version wrote the file), when any.

    Raises:
        DataError: a missing or unreadable file, one naming other Python objects (without
            ``trust_pickle``), or no usable centre matrix in it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: k-means file not found; give the peer's .bin / .pkl / .mdl (joblib or pickle) "
                        f"or .npy centres file with --kmeans")
    with open(path, "rb") as f:
        head = f.read(len(NPY_MAGIC))
    if head == NPY_MAGIC:
        try:  # allow_pickle=False: an object array or a pickle is refused, never unpickled
            obj = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DataError(f"{path}: cannot read the centres ({e}); an .npy k-means file must be a plain numeric "
                            f"(K, D) array (object arrays are refused)") from None
        return _centres(obj, path), {"format": "npy", "object": "numpy.ndarray"}
    try:
        with warnings.catch_warnings(record=True) as caught:  # e.g. sklearn's InconsistentVersionWarning
            warnings.simplefilter("always")
            if trust_pickle:
                import joblib

                obj = joblib.load(path)
            else:
                obj = _restricted_joblib_load(path)
    except RefusedObject as e:
        raise DataError(f"{path}: refused to load this k-means file: it names the Python object {e}, which is not "
                        f"an sklearn k-means, numpy array or random state, and unpickling it could run code. If you "
                        f"trust the file's maker, rerun with --trust_pickle (reads it with joblib.load, which runs "
                        f"the code it holds); or, where it was made, save its centres with "
                        f"np.save('centres.npy', km.cluster_centers_) and import that") from None
    except (pickle.UnpicklingError, EOFError, ValueError, OSError, TypeError, KeyError, AttributeError,
            IndexError, ImportError, io.UnsupportedOperation) as e:
        raise DataError(f"{path}: not a joblib / pickle k-means file, or a damaged one ({type(e).__name__}: {e}); "
                        f"give fairseq's / ESPnet's k-means model (.bin, .mdl, .pkl) or an .npy centre matrix") from None
    meta = {"format": "pickle" if trust_pickle else "pickle (restricted reader)",
            "object": f"{type(obj).__module__}.{type(obj).__name__}"}
    if caught:
        meta["load_warnings"] = sorted({str(w.message).splitlines()[0][:300] for w in caught})
        for message in meta["load_warnings"]:
            logger.warning("%s: %s", path, message)
    if hasattr(obj, "cluster_centers_"):
        obj = obj.cluster_centers_
    return _centres(obj, path), meta


def _centres(obj: Any, path: Path) -> np.ndarray:
    if not isinstance(obj, np.ndarray) or not np.issubdtype(obj.dtype, np.number) or obj.ndim != 2:
        what = f"an array of shape {obj.shape} and dtype {obj.dtype}" if isinstance(obj, np.ndarray) else \
            f"a {type(obj).__module__}.{type(obj).__name__}"
        raise DataError(f"{path}: holds {what}, not a k-means with a numeric (K, D) centre matrix "
                        f"(cluster_centers_)")
    if obj.shape[0] < 2 or obj.shape[1] < 1:
        raise DataError(f"{path}: centres of shape {obj.shape}: need at least 2 centres of dimension >= 1")
    if not np.isfinite(obj).all():
        raise DataError(f"{path}: the centres contain NaN or infinity")
    return np.ascontiguousarray(obj, dtype=np.float32)


# -- the model and layer a k-means belongs to ----------------------------------------------------------------

#: Files of a model that identify it, per built-in tokenizer: (block key of the path, file patterns).
_MODEL_FILES = {
    "hf_kmeans": ("model_dir", ("config.json", "*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin",
                                "preprocessor_config.json", "processor_config.json")),
    "s3prl_kmeans": ("ckpt", ()),
    "ctc_kmeans": ("exp_dir", ("config.yaml", "model.pth", "tokens.txt")),
}


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for p in paths:
        digest.update(p.name.encode("utf-8") + b"\0")
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def model_record(block: dict[str, Any]) -> dict[str, Any]:
    """The layer and model a tokenizer block extracts features from, with a SHA-256 of the model's files.

    ``model`` is the path the block names (``model_dir``, ``ckpt`` or ``exp_dir``) with the
    digest of its identifying files (for ``hf_kmeans``: config, weights and feature extractor
    config); blocks of other tokenizers record their feature settings instead.
    """
    name = block.get("name")
    record: dict[str, Any] = {"tokenizer": name, "layer": block.get("layer")}
    if name not in _MODEL_FILES:
        record["features"] = {k: v for k, v in block.items() if k not in ("name", "n_clusters", "batch_size",
                                                                          "epochs", "seed", "device")}
        return record
    key, patterns = _MODEL_FILES[name]
    path = Path(str(block.get(key)))
    if path.is_file():
        files = [path]
    else:
        files = sorted({p for pattern in patterns for p in path.glob(pattern) if p.is_file()})
    if not files:
        raise ConfigError(f"{name}: no model files at {path} (looked for {', '.join(patterns) or 'the file'}); "
                          f"set tokenizer.{key}")
    record["model"] = {"path": str(path.resolve()), "files": [p.name for p in files], "sha256": _sha256(files)}
    return record


def check_model_record(info: dict[str, Any], exp_dir: PathLike) -> None:
    """Stop when an imported k-means' recorded layer or model differs from what its tokenizer block loads now.

    Raises:
        DataError: the block's layer differs from the recorded one, or the files at the model
            path are not the ones recorded at import.
    """
    imported = info.get("imported")
    if not imported:
        return
    recorded = imported.get("model_record", {})
    now = model_record(info["tokenizer"])
    where = f"{Path(exp_dir) / 'units.yaml'}"
    source = imported.get("file", "the k-means file")
    if now.get("layer") != recorded.get("layer"):
        raise DataError(f"{where}: the k-means imported from {source} belongs to layer {recorded.get('layer')}, "
                        f"but the tokenizer block now extracts layer {now.get('layer')}; set tokenizer.layer back "
                        f"to {recorded.get('layer')} in {where}, or import again with the layer it was fitted on")
    old, new = recorded.get("model"), now.get("model")
    if old and new and (old.get("sha256") != new.get("sha256") or old.get("files") != new.get("files")):
        raise DataError(f"{where}: the k-means imported from {source} belongs to the model whose files "
                        f"({', '.join(old['files'])}) had SHA-256 {old['sha256'][:16]}... at import; the model at "
                        f"{new['path']} now has {', '.join(new['files'])} with {new['sha256'][:16]}...: another "
                        f"model, or changed files. Put the original model back, or import the k-means again "
                        f"(s2s units import --kmeans {source} ...) if this is the model it was fitted on")
    if recorded.get("features") is not None and recorded.get("features") != now.get("features"):
        raise DataError(f"{where}: the k-means imported from {source} was fitted on features {recorded['features']}, "
                        f"the tokenizer block now gives {now['features']}")


# -- import ---------------------------------------------------------------------------------------------------

def import_kmeans(cfg: Any, kmeans: PathLike, exp_dir: PathLike, tgt_lang: str = "en",
                  trust_pickle: bool = False) -> dict[str, Any]:
    """Make ``exp_dir`` a fitted unit tokenizer exp dir from a peer's k-means file, without refitting.

    Args:
        cfg: a :class:`~s2s_plugin.units.stage.UnitsConfig` whose tokenizer block names the model and
            layer the k-means was fitted on (its ``n_clusters``, when set, must match the file).
        kmeans: the peer's file (see :func:`read_peer_kmeans`).
        exp_dir: the output exp dir; ``s2s units label --exp`` reads it as any fitted one.
        tgt_lang: the target language of the sets it will label.
        trust_pickle: read a pickle with ``joblib.load`` as is (runs its code).

    Returns:
        What ``units.yaml`` records.

    Raises:
        ConfigError: a tokenizer block that cannot be built or whose ``n_clusters`` disagrees.
        DataError: an unusable file, or centres whose dimension is not the layer's feature dimension.
    """
    from s2s_plugin.config import save_resolved
    from s2s_plugin.registry import get_registry
    from s2s_plugin.units.layout import FIT_JSON, UNITS_YAML

    exp_dir, kmeans = Path(exp_dir), Path(kmeans)
    centres, meta = read_peer_kmeans(kmeans, trust_pickle)
    k, dim = centres.shape
    block = dict(cfg.tokenizer)
    if "n_clusters" in block and int(block["n_clusters"]) != k:
        raise ConfigError(f"{kmeans} has {k} centres, but the tokenizer block says n_clusters={block['n_clusters']}; "
                          f"set tokenizer.n_clusters={k} or leave it out")
    block["n_clusters"] = k
    tok = get_registry().build("unit_tokenizer", block, "tokenizer")
    record = model_record(block)
    feats = np.asarray(tok.features(np.zeros(16000, dtype=np.float32), 16000))
    if feats.ndim != 2 or feats.shape[1] != dim:
        raise DataError(f"{kmeans}: centres of dimension {dim}, but {block['name']} layer {block.get('layer')} of "
                        f"{record.get('model', {}).get('path', 'its features')} gives {feats.shape[-1]}-dim "
                        f"features: the k-means belongs to another model or layer; set tokenizer.layer / the "
                        f"model path to the ones it was fitted on")
    kmeans_state = getattr(tok, "kmeans", None)
    if kmeans_state is None or not hasattr(kmeans_state, "centres"):
        raise ConfigError(f"{block['name']}: this tokenizer keeps no k-means centres that an import could set; "
                          f"import into a built-in tokenizer (hf_kmeans, s3prl_kmeans, ctc_kmeans, mfcc_kmeans)")
    exp_dir.mkdir(parents=True, exist_ok=True)
    (exp_dir / UNITS_YAML).unlink(missing_ok=True)
    kmeans_state.centres = centres
    tok.save(exp_dir)
    imported = {"file": str(kmeans.resolve()), "sha256": _sha256([kmeans]), **meta, "model_record": record}
    with atomic_write(exp_dir / FIT_JSON) as f:
        json.dump({"imported": imported, "n_clusters": k, "feature_dim": dim}, f, indent=1)
    cfg.tokenizer = block
    save_resolved(cfg, exp_dir)
    info = {"tokenizer": block, "frame_rate": float(tok.frame_rate), "n_clusters": k, "feature_dim": dim,
            "dedup": cfg.dedup, "tgt_lang": tgt_lang, "fit_id": uuid.uuid4().hex, "fit_dirs": [], "fit_langs": [],
            "imported": imported}
    with atomic_write(exp_dir / UNITS_YAML) as f:  # last: marks a finished tokenizer
        yaml.safe_dump(info, f, sort_keys=False)
    logger.info("units import: %d centres of dimension %d from %s (%s, %s) for %s layer %s of %s; wrote %s", k,
                dim, kmeans, meta["format"], meta["object"], block["name"], block.get("layer"), record.get("model", {}).get("path", "its features"),
                exp_dir / UNITS_YAML)
    return info
