"""Planted payloads for the tests of hostile files: pickles that create a marker file when unpickled.

    marker = tmp_path / "PWNED"
    plant_torch(path, marker, state_dict={})   # a torch checkpoint whose unpickling creates ``marker``
    ...                                        # let the toolkit read ``path``
    assert not marker.exists()

Unpickling :class:`Payload` calls ``open(marker, "w")``: no shell, no network,
and the only trace is the (empty) marker file. :func:`payload_is_live` shows
that a planted file really does run when read without the toolkit's guard, so
a test asserting that the marker is absent cannot pass vacuously.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any


class Payload:
    """Creates ``marker`` (an empty file) when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def plant_torch(path: Path, marker: Path, **contents: Any) -> Path:
    """``torch.save`` a dict of ``contents`` plus a payload (key ``payload``) to ``path``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**contents, "payload": Payload(marker)}, path)
    return path


def plant_pickle(path: Path, marker: Path) -> Path:
    """A bare pickle of a payload (what ``np.load(allow_pickle=True)`` or ``pickle.load`` would run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


def payload_is_live(path: Path, marker: Path) -> bool:
    """Read ``path`` the unsafe way (``torch.load(weights_only=False)`` or ``pickle.load``) and say whether
    the marker appeared; removes the marker again."""
    import zipfile

    import torch

    if zipfile.is_zipfile(path):
        torch.load(path, map_location="cpu", weights_only=False)
    else:
        with open(path, "rb") as f:
            pickle.load(f)  # noqa: S301 - the point: show the planted file runs when unpickled
    live = marker.exists()
    marker.unlink(missing_ok=True)
    return live
