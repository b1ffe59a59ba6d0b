"""Reading and writing Kaldi-style text files, CTMs, and atomic outputs.

    from s2s_plugin.data.io import read_kaldi_text, write_kaldi_text, read_ctm, atomic_write

    texts = read_kaldi_text("data/train_fr/text.fr")       # {utt: "le chat ..."}
    with atomic_write("dump/train_fr/units.en") as f:        # temp file, renamed on success
        f.write("utt1 5 5 17\\n")

Every reader names the file and line of a malformed entry in its
:class:`~s2s_plugin.errors.DataError`.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from s2s_plugin.errors import DataError

PathLike = str | os.PathLike


def _umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to ``path``; rename it to ``path`` only on success.

    A failure inside the ``with`` block removes the temporary file, so no
    half-written output is ever left under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: the UTF-8 byte-order mark, as the first character of a decoded file
BOM = "\ufeff"


def bom_message(path: PathLike) -> str:
    """What is wrong with a Kaldi file or CTM that starts with a byte-order mark, and how to fix it."""
    return (f"{path}:1: the file starts with a UTF-8 byte-order mark (BOM, bytes EF BB BF), which would become "
            f"part of the first utterance id; save it as UTF-8 without a BOM, e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' "
            f"{path}")


def tab_message(path: PathLike, lineno: int) -> str:
    """What is wrong with a Kaldi line whose id is followed by a tab, and how to fix it."""
    return (f"{path}:{lineno}: a tab separates the utterance id from the value; Kaldi files use one space "
            f"('utt_id value'): replace the tabs, e.g. sed -i 's/\\t/ /' {path}")


#: the names :func:`atomic_write` gives its temporary files (``tempfile.mkstemp``: 8 random characters)
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def remove_orphan_temps(root: PathLike) -> list[Path]:
    """Remove the temporary files a killed :func:`atomic_write` left anywhere under ``root``.

    Call it only where nothing else is writing (the recipe does, as a stage starts).

    Returns:
        The files removed.
    """
    removed = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            if TEMP_NAME.match(name):
                path = Path(dirpath) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def iter_text_lines(path: PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` of a UTF-8 text file, lines without their newline.

    Raises:
        DataError: a line that is not valid UTF-8, naming the file, line and byte; a
            byte-order mark at the start of the file.
    """
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for lineno, line in enumerate(f, 1):
            try:
                line.encode("utf-8")
            except UnicodeEncodeError as e:  # undecodable bytes come back as lone surrogates
                byte = ord(line[e.start]) - 0xDC00
                raise DataError(f"{path}:{lineno}: not UTF-8 text (byte 0x{byte:02x} at column {e.start + 1}); "
                                f"convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8") from None
            if lineno == 1 and line.startswith(BOM):
                raise DataError(bom_message(path))
            yield lineno, line.rstrip("\n")


def iter_kaldi_lines(path: PathLike, allow_empty_value: bool = False) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line_number, key, value)`` for each line ``key value...`` of ``path``.

    Raises:
        DataError: missing file, a line that is not UTF-8, a byte-order mark, a line without
            a key, a tab after the key, or an empty value (unless ``allow_empty_value``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    for lineno, line in iter_text_lines(path):
        if not line.strip():
            raise DataError(f"{path}:{lineno}: empty line; remove it")
        key, _, value = line.partition(" ")
        value = value.strip()
        if not key:
            raise DataError(f"{path}:{lineno}: line starts with a space; expected 'utt_id value'")
        if "\t" in key:
            raise DataError(tab_message(path, lineno))
        if not value and not allow_empty_value:
            raise DataError(f"{path}:{lineno}: utterance '{key}' has an empty value")
        yield lineno, key, value


def space_in_id_message(key: str, value: str, what: str) -> str:
    """Why a value that must be one token has two: most often an utterance id with a space."""
    first = value.split()[0]
    return (f"utterance '{key}': the {what} must be one token, got {value!r}; ids cannot contain spaces (if the "
            f"utterance id is '{key} {first}', replace its spaces, e.g. with '_', in every file of the set)")


def read_kaldi_text(path: PathLike, allow_empty_value: bool = False, one_token: str | None = None) -> dict[str, str]:
    """Read a Kaldi ``key value`` file (wav.scp, text, utt2spk) into a dict.

    Args:
        path: the file.
        allow_empty_value: accept ``key`` lines without a value.
        one_token: what the value is (e.g. ``"speaker id"``) when it must be a single
            token, as in ``utt2spk``; ``None``: any text.

    Raises:
        DataError: malformed line, duplicate key or (with ``one_token``) a value with a
            space, naming file and line.
    """
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for lineno, key, value in iter_kaldi_lines(path, allow_empty_value):
        if one_token and len(value.split()) > 1:
            raise DataError(f"{path}:{lineno}: {space_in_id_message(key, value, one_token)}")
        if key in out:
            raise DataError(f"{path}:{lineno}: utterance '{key}' appears twice "
                            f"(first at line {first_line[key]})")
        out[key] = value
        first_line[key] = lineno
    return out


def write_kaldi_text(path: PathLike, entries: Mapping[str, str] | Iterable[tuple[str, str]],
                     sort: bool = True) -> None:
    """Write ``key value`` lines atomically (sorted by key unless ``sort=False``)."""
    items = list(entries.items() if isinstance(entries, Mapping) else entries)
    if sort:
        items.sort(key=lambda kv: kv[0])
    with atomic_write(path) as f:
        for key, value in items:
            if not key or any(c.isspace() for c in key):
                raise DataError(f"{path}: invalid utterance id {key!r} (empty or has whitespace)")
            f.write(f"{key} {value}\n")


def read_units(path: PathLike) -> dict[str, list[int]]:
    """Read a units file (``units.<lang>``: ``utt u1 u2 ...``, non-negative integers).

    Raises:
        DataError: a malformed line, a non-integer or negative unit, or a repeated
            utterance, naming the file, line and utterance.
    """
    out: dict[str, list[int]] = {}
    for lineno, utt, value in iter_kaldi_lines(path):
        try:
            units = [int(u) for u in value.split()]
        except ValueError:
            raise DataError(f"{path}:{lineno}: utterance '{utt}' has a unit that is not an integer; "
                            "expected 'utt u1 u2 ...' (stage 4's output)") from None
        if min(units) < 0:
            raise DataError(f"{path}:{lineno}: utterance '{utt}' has a negative unit")
        if utt in out:
            raise DataError(f"{path}:{lineno}: utterance '{utt}' appears twice")
        out[utt] = units
    return out


def read_units_info(dump_dir: PathLike, lang: str) -> dict | None:
    """Stage 4's ``units.<lang>.info`` next to the units (frame rate, clusters, dedup), or ``None``."""
    import yaml

    path = Path(dump_dir) / f"units.{lang}.info"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        info = yaml.safe_load(f)
    if not isinstance(info, dict):
        raise DataError(f"{path}: expected a YAML mapping (frame_rate, n_clusters, ...)")
    return info


@dataclass(frozen=True)
class WordSpan:
    """One word with its time span in seconds (a CTM line)."""

    word: str
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration


def read_ctm(path: PathLike) -> dict[str, list[WordSpan]]:
    """Read a CTM file (``utt channel start duration word [confidence]``).

    Returns:
        Word spans per utterance, in file order.

    Raises:
        DataError: a line that is not UTF-8 or is malformed (file and line named), negative
            or non-finite times.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    out: dict[str, list[WordSpan]] = {}
    for lineno, line in iter_text_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (5, 6):
            raise DataError(f"{path}:{lineno}: expected 'utt channel start duration word "
                            f"[confidence]', got {line.strip()!r}")
        try:
            start, dur = float(fields[2]), float(fields[3])
        except ValueError:
            raise DataError(f"{path}:{lineno}: start/duration are not numbers: {line.strip()!r}") from None
        if not (math.isfinite(start) and math.isfinite(dur)):
            raise DataError(f"{path}:{lineno}: start/duration must be finite numbers of seconds in utterance "
                            f"'{fields[0]}': {line.strip()!r}")
        if start < 0 or dur < 0:
            raise DataError(f"{path}:{lineno}: negative start or duration in utterance '{fields[0]}'")
        out.setdefault(fields[0], []).append(WordSpan(fields[4], start, dur))
    return out


def write_ctm(path: PathLike, spans: Mapping[str, Iterable[WordSpan]]) -> None:
    """Write word spans as CTM (channel 1, times in seconds with 3 decimals), atomically."""
    with atomic_write(path) as f:
        for utt in sorted(spans):
            for w in spans[utt]:
                f.write(f"{utt} 1 {w.start:.3f} {w.duration:.3f} {w.word}\n")
