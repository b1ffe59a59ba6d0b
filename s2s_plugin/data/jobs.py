"""Kaldi-style parallel jobs over utterances: shard outputs, then a merge.

A stage that runs as ``run.pl JOB=1:N LOG s2s VERB ... --nj N --job JOB``
processes part JOB of the sorted utterance ids, writes its Kaldi text files
into ``OUT/split<N>/<JOB>/`` with a ``done`` marker last, and a final
``--merge`` call concatenates them into ``OUT/<name>``::

    ids = shard_ids(all_ids, nj, job)
    write_shard(out, nj, job, {"hyp_text.en": {...}, "hyp_units.en": {...}})
    merge_shards(out, nj, ["hyp_text.en", "hyp_units.en"])   # OUT/hyp_text.en, ...
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from s2s_plugin.data.datadir import split_ids
from s2s_plugin.data.io import PathLike, atomic_write, read_kaldi_text, write_kaldi_text
from s2s_plugin.errors import DataError

shard_ids = split_ids


def shard_dir(out: PathLike, nj: int, job: int) -> Path:
    return Path(out) / f"split{nj}" / str(job)


def write_shard(out: PathLike, nj: int, job: int, files: Mapping[str, Mapping[str, str]]) -> Path:
    """Write one job's Kaldi text files, then its ``done`` marker."""
    d = shard_dir(out, nj, job)
    (d / "done").unlink(missing_ok=True)
    for name, entries in files.items():
        write_kaldi_text(d / name, entries)
    with atomic_write(d / "done") as f:
        f.write(" ".join(files) + "\n")
    return d


def merge_shards(out: PathLike, nj: int, names: Sequence[str], log_pattern: str | None = None) -> dict[str, int]:
    """Concatenate the files of jobs 1..nj into ``out``; every job must have finished.

    Args:
        log_pattern: the jobs' log path with ``JOB`` in it, named in the error for a missing job.

    Returns:
        Number of entries per merged file.

    Raises:
        DataError: a job did not finish (its log named), or two jobs wrote the same utterance.
    """
    merged: dict[str, dict[str, str]] = {name: {} for name in names}
    for job in range(1, nj + 1):
        d = shard_dir(out, nj, job)
        if not (d / "done").is_file():
            log = f"; see {log_pattern.replace('JOB', str(job))}" if log_pattern else ""
            raise DataError(f"job {job} of {nj} did not finish (no {d / 'done'}){log}. Re-run that job, "
                            "then the merge.")
        for name in names:
            entries = read_kaldi_text(d / name, allow_empty_value=True) if (d / name).is_file() else {}
            dup = merged[name].keys() & entries.keys()
            if dup:
                raise DataError(f"{d / name}: utterance '{sorted(dup)[0]}' also appears in another job")
            merged[name].update(entries)
    for name, entries in merged.items():
        write_kaldi_text(Path(out) / name, entries)
    return {name: len(entries) for name, entries in merged.items()}
