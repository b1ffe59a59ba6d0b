"""Small helpers the vocoders share: unit checks, resampling, a fitted state on disk.

    from s2s_plugin.vocoder.common import check_units, load_state, save_state

    units = check_units([3, 3, 7], n_units=64, where="utt1")   # int64 array, or DataError
    save_state(voc, "exp/vocoder", arrays, meta)               # <name>.npz + <name>.json
    meta, arrays = load_state(voc, "exp/vocoder", ("frame_rate", "fs"))
"""
from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.data.format import resample
from s2s_plugin.data.io import PathLike, atomic_write
from s2s_plugin.errors import ConfigError, DataError

__all__ = ["check_units", "resample", "save_state", "load_state"]


def check_units(units: Sequence[int] | np.ndarray, n_units: int | None, where: str) -> np.ndarray:
    """Return ``units`` as a 1-D int64 array after checking they are valid unit ids.

    Args:
        units: the unit sequence.
        n_units: the vocabulary size (units must be in ``0..n_units-1``); None checks only ``>= 0``.
        where: what the sequence is (an utterance id), for the message.

    Raises:
        DataError: an empty sequence, a non-integer value, or a unit outside the range,
            naming ``where``, the position and the value.
    """
    arr = np.asarray(units)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"{where}: expected a non-empty 1-D unit sequence, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
            raise DataError(f"{where}: units must be integers, got {arr.dtype} values such as {arr.flat[0]!r}")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero((arr < 0) | ((arr >= n_units) if n_units is not None else False))
    if bad.size:
        i = int(bad[0])
        limit = f"0..{n_units - 1}" if n_units is not None else ">= 0"
        raise DataError(f"{where}: unit {int(arr[i])} at position {i} is outside the vocoder's range {limit} "
                        f"({bad.size} such units); were these units made with another unit tokenizer?")
    return arr


def save_state(vocoder: Any, directory: PathLike, arrays: dict[str, np.ndarray] | None,
               meta: dict[str, Any]) -> None:
    """Write a fitted vocoder's arrays (``<name>.npz``) and settings (``<name>.json``), each atomically.

    Raises:
        ConfigError: ``arrays`` is None (the vocoder is not fitted).
    """
    if arrays is None:
        raise ConfigError(f"{vocoder.name}: nothing to save, the vocoder is not fitted")
    directory = Path(directory)
    with atomic_write(directory / f"{vocoder.name}.npz", "wb") as f:
        np.savez(f, **arrays)
    with atomic_write(directory / f"{vocoder.name}.json") as f:
        json.dump({"name": vocoder.name, **meta}, f, indent=1)


def load_state(vocoder: Any, directory: PathLike, model_keys: Sequence[str]) -> tuple[dict[str, Any],
                                                                                       dict[str, np.ndarray]]:
    """Read what :func:`save_state` wrote into ``vocoder``'s settings; returns ``(meta, arrays)``.

    Each of ``model_keys`` (settings that shape the fitted state) must equal the
    vocoder's own value unless that is None, and is then set from the file; so is
    ``n_units``. Arrays are read without pickle.

    Raises:
        ConfigError: missing files, an unreadable or pickled ``.npz``, or a setting that differs from
            the fitted one.
    """
    name = vocoder.name
    directory = Path(directory)
    npz, meta_path = directory / f"{name}.npz", directory / f"{name}.json"
    if not npz.is_file() or not meta_path.is_file():
        raise ConfigError(f"{name}: {directory} holds no fitted {name} vocoder ({npz.name} and {meta_path.name}); "
                          f"run `s2s vocoder fit ... --exp {directory}` first")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for key in model_keys:
        mine = getattr(vocoder, key)
        if mine is not None and meta.get(key) != mine:
            raise ConfigError(f"{name}: {meta_path} was fitted with {key}={meta.get(key)!r} but this "
                              f"vocoder has {key}={mine!r}; refit or use the fitted settings")
        setattr(vocoder, key, meta[key])
    if vocoder.n_units is not None and vocoder.n_units != meta["n_units"]:
        raise ConfigError(f"{name}: {meta_path} was fitted for {meta['n_units']} units, not {vocoder.n_units}")
    vocoder.n_units = int(meta["n_units"])
    refit = f"refit with `s2s vocoder fit ... --exp {directory}`"
    try:  # allow_pickle=False: a pickle or an object array is refused, never unpickled
        z = np.load(npz, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with z:
            return meta, {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ConfigError(f"{name}: cannot read {npz} ({e}); it must hold the plain numeric arrays "
                          f"`s2s vocoder fit` writes (pickles are refused); {refit}") from None
