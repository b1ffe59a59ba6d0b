"""Small helpers the vocoders share: unit checks and resampling.

    from s2s_plugin.vocoder.common import check_units

    units = check_units([3, 3, 7], n_units=64, where="utt1")   # int64 array, or DataError
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from s2s_plugin.data.format import resample
from s2s_plugin.errors import DataError

__all__ = ["check_units", "resample"]


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
