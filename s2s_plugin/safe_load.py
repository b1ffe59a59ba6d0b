"""Read checkpoints without running code from them.

    from s2s_plugin.safe_load import check_checkpoint, load_checkpoint

    state = load_checkpoint("exp/ctc/model.pth", "CTC model weights")
    check_checkpoint("exp/s2st/checkpoints/last.ckpt", "resume checkpoint",
                     fix="remove it to start the run afresh")   # before Lightning reads it
    check_resume_checkpoint("exp/s2st/checkpoints/last.ckpt", "best-*.ckpt",
                            fix="remove it to start the run afresh")  # also names an earlier resume point

A pickled file can hold any Python object, and unpickling one can run any
command. Every torch checkpoint the toolkit reads goes through
:func:`load_checkpoint` (or is vetted by :func:`check_checkpoint` before a
library reads it): ``torch.load(weights_only=True)``, which rebuilds only
tensors, numbers, strings and plain containers. A file holding anything else is
refused with an error that names it and, where a component can read such
files at the user's request, the option that allows it (e.g. ``unit_hifigan``'s
``trust_checkpoint: true``). Checkpoints the toolkit writes itself never need
that. See docs/security.md.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from s2s_plugin.data.io import PathLike
from s2s_plugin.errors import DataError, S2SError

_GLOBAL_RE = re.compile(r"GLOBAL (\S+)")


def _refusal(message: str) -> str:
    """What torch's weights-only unpickler refused, in a few words."""
    m = _GLOBAL_RE.search(message)
    if m:
        return f"it names the Python object {m.group(1)}"
    _, _, detail = message.partition("WeightsUnpickler error:")
    line = next((s.strip() for s in (detail or message).splitlines() if s.strip()), "")
    return f"torch's weights-only reader says: {line[:200]}"


def load_checkpoint(path: PathLike, what: str, *, trust_option: str | None = None, trust: bool = False,
                    fix: str = "", error: type[S2SError] = DataError, mmap: bool = False) -> Any:
    """``torch.load`` a checkpoint on the CPU, with ``weights_only=True`` unless ``trust``.

    Args:
        path: the checkpoint file.
        what: what the file is, for the messages (e.g. ``"CTC model weights"``).
        trust_option: the setting that lets the user load a file holding other
            objects (e.g. ``"trust_checkpoint: true"``); named in the error. ``None``
            where no such setting exists (files the toolkit writes itself).
        trust: load with ``weights_only=False`` (only when the user set ``trust_option``).
        fix: what to do when the file cannot be used, appended to the messages.
        error: the exception class raised.
        mmap: map the tensors from the file instead of reading them (torch's zip format only).

    Returns:
        What ``torch.load`` returns.

    Raises:
        S2SError: (``error``) a missing file, a file that holds objects other than tensors
            and plain containers, or one that is truncated or not a torch checkpoint.
    """
    import pickle

    import torch

    path = Path(path)
    fix = f"; {fix}" if fix else ""
    if not path.is_file():
        raise error(f"{path}: {what} not found{fix}")
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):  # torch.save: a zip, or a pickle
        found = "the file is empty" if not head else f"it starts with {head!r}, neither a zip archive nor a pickle"
        raise error(f"{path}: cannot read this {what}: not a torch checkpoint ({found}){fix}")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust, mmap=mmap or None)
    except pickle.UnpicklingError as e:
        if trust or "Weights only load failed" not in str(e):
            raise error(f"{path}: cannot read this {what}: the file is damaged or not a torch checkpoint "
                        f"({type(e).__name__}: {str(e).strip()[:200]}){fix}") from None
        if trust_option:
            how = f"if you trust whoever made the file, set {trust_option}"
        else:
            how = ("the toolkit never writes such objects into this file, so it was made or changed by something "
                   "else; do not use it")
        raise error(f"{path}: refused to load this {what}: it holds Python objects other than tensors and plain "
                    f"containers ({_refusal(str(e))}), and unpickling them could run code; {how}{fix}") from None
    except Exception as e:  # zip/pickle/EOF errors of a truncated file or one that is not a checkpoint
        raise error(f"{path}: cannot read this {what}: the file is truncated, damaged or not a torch checkpoint "
                    f"({type(e).__name__}: {str(e).strip()[:200]}){fix}") from None


def check_checkpoint(path: PathLike, what: str, *, trust_option: str | None = None, fix: str = "",
                     error: type[S2SError] = DataError) -> None:
    """Vet a checkpoint that a library (Lightning, ESPnet, s3prl) will ``torch.load`` itself.

    The file is read once with ``weights_only=True`` (tensors memory-mapped where
    torch's zip format allows, so a large file costs little), so a library that
    loads it later with other settings meets no object the weights-only reader
    refused. Same arguments and errors as :func:`load_checkpoint`.
    """
    import zipfile

    load_checkpoint(path, what, trust_option=trust_option, fix=fix, error=error,
                    mmap=Path(path).is_file() and zipfile.is_zipfile(path))


_NUMBER_RE = re.compile(r"(\d+)")


def _number(path: Path) -> int:
    """The last number in a checkpoint's name (its step or epoch), -1 without one."""
    found = _NUMBER_RE.findall(path.stem)
    return int(found[-1]) if found else -1


def check_resume_checkpoint(last: PathLike, others: str, *, fix: str = "") -> None:
    """Vet a resume checkpoint; when it cannot be used, also name the newest usable one beside it.

    Args:
        last: the resume checkpoint, e.g. ``exp/s2st/checkpoints/last.ckpt``.
        others: a glob of the other checkpoints in its directory that hold the full
            training state (``"best-*.ckpt"``, ``"epoch*.ckpt"``); the one with the
            highest number in its name that passes :func:`check_checkpoint` is named,
            with the command that makes it the resume point.
        fix: what to do instead, as for :func:`check_checkpoint`.

    Raises:
        DataError: as :func:`check_checkpoint`, for ``last``.
    """
    last = Path(last)
    try:
        check_checkpoint(last, "resume checkpoint", fix=fix)
    except DataError as e:
        candidates = sorted((p for p in last.parent.glob(others) if p != last and p.is_file()), key=_number,
                            reverse=True)
        for prev in candidates:
            try:
                check_checkpoint(prev, "checkpoint")
            except DataError:
                continue
            raise DataError(f"{e}; or resume from the newest earlier checkpoint that holds the full training state, "
                            f"{prev.name}: cp {prev} {last}") from None
        raise
