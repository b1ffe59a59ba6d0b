"""Kaldi-style parallel jobs of a sharded stage (2, 4's labels, 5, 9, 10's synthesis): split, run, check, merge.

Every sharded verb runs in one of four modes (:class:`JobMode`)::

    # the whole stage in one call: N jobs through the recipe's job runner, then the merge
    s2s data format data/train_fr dump/train_fr --config conf/format.yaml --nj 4 --cmd utils/run.pl
    # one job, as the runner calls it; then the merge (what recipes did before --cmd)
    utils/run.pl JOB=1:4 dump/train_fr/logs/format.JOB.log \\
        s2s data format data/train_fr dump/train_fr --config conf/format.yaml --nj 4 --job JOB
    s2s data format data/train_fr dump/train_fr --config conf/format.yaml --nj 4 --merge
    # all N jobs one after another in this process, then the merge
    s2s data format data/train_fr dump/train_fr --config conf/format.yaml --nj 4

Job ``J`` of ``N`` takes the contiguous part ``J`` of the sorted utterance ids
(:func:`shard`, the ``utils/split_scp.sh`` contract), writes its results into
``BASE/<name>.split<N>/<J>/`` and, last, ``done.json``: the job's number, a
:func:`fingerprint` of its ids, the options it ran with and its statistics.
:meth:`Shards.check` refuses to merge while a job has no done record (naming
the job and its log), or when a job ran on other ids or with other options than
the merge is given. The stage's own code (:mod:`s2s_plugin.data.format`,
:mod:`s2s_plugin.units.stage`, :mod:`s2s_plugin.align.stage`,
:mod:`s2s_plugin.decode.stage`, :mod:`s2s_plugin.vocoder.stage`) does the
per-job work and the merge; :func:`run_stage` runs the modes::

    shards = Shards(dump_dir, "format", nj, log="dump/train_fr/logs/format.JOB.log", what="format")
    run_stage(mode, [shards], job=lambda j: format_job(..., job=j), merge=lambda: merge_jobs(...))

Before the jobs of a whole-stage run start, the split dirs of the stage's
earlier runs (any ``N``) are removed, so a killed run's partial results are
never merged. With ``--cmd`` the jobs run through the job runner (``utils/run.pl``,
``slurm.pl``, ``queue.pl``, ``ssh.pl``: ``RUNNER JOB=1:N LOG COMMAND``) as this
same command with ``--job JOB`` in place of ``--cmd``; the merge logs to the
jobs' log with ``JOB`` replaced by ``merge``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from s2s_plugin.data.datadir import split_ids
from s2s_plugin.data.io import PathLike, atomic_write
from s2s_plugin.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

DONE = "done.json"
#: the job index variable of the runner's command line (``JOB=1:N``)
JOB_VAR = "JOB"
T = TypeVar("T")

shard = split_ids


def fingerprint(ids: Iterable[str]) -> str:
    """The SHA-1 of ``ids`` joined by newlines: what a job's done record says it ran on."""
    return hashlib.sha1("\n".join(ids).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class JobMode:
    """How a sharded verb runs (from ``--nj``, ``--job``, ``--merge``, ``--cmd``).

    Attributes:
        nj: number of jobs the sorted utterance ids are split into.
        job: run only this job (1-based), as the job runner calls the verb.
        merge: only check and merge the ``nj`` finished jobs.
        cmd: the job runner's command (``utils/run.pl``, ``utils/slurm.pl --config conf/slurm.conf``):
            run the ``nj`` jobs through it, then merge; None: run them in this process.
        argv: the verb's own command line (after ``s2s``), which each runner job repeats with ``--job JOB``.
    """

    nj: int = 1
    job: int | None = None
    merge: bool = False
    cmd: str | None = None
    argv: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.nj < 1:
            raise ConfigError(f"--nj must be >= 1, got {self.nj}")
        if self.job is not None and not 1 <= self.job <= self.nj:
            raise ConfigError(f"--job must be in 1..{self.nj} (--nj), got {self.job}")
        if sum((self.job is not None, self.merge, self.cmd is not None)) > 1:
            raise ConfigError("give at most one of --job, --merge and --cmd")
        if self.cmd is not None and not self.cmd.strip():
            raise ConfigError("--cmd is empty: give the job runner, e.g. --cmd utils/run.pl")
        if self.cmd is not None and not self.argv:
            raise ConfigError("--cmd: the jobs need the verb's command line (JobMode.argv) to repeat")

    @property
    def runs_jobs_here(self) -> bool:
        """Whether this process does a job's work: one job (``job``), or every job (no ``merge``, no ``cmd``)."""
        return self.job is not None or not (self.merge or self.cmd is not None)


@dataclass
class Shards:
    """The ``nj`` job dirs of one sharded output: ``BASE/<name>.split<nj>/<J>/``.

    Example::

        s = Shards(Path("dump/test_fr"), "units", 4, log="dump/test_fr/logs/units.JOB.log", what="units")
        jdir = s.begin(2)                                  # job 2: its done record removed
        ...                                                # write its files into jdir
        s.finish(2, shard(ids, 4, 2), {"unit tokenizer fit": fit_id})
        records = s.check(ids, {"unit tokenizer fit": fit_id})   # the merge, once all 4 finished

    Args:
        base: the output dir (``dump/<set>``, ``exp/<tag>/decode_<set>``).
        name: what the split dir is called before ``.split<nj>`` (``format``, ``align.fr``).
        nj: number of jobs.
        log: the jobs' log path with ``JOB`` in it, named in errors (None: not known).
        what: the work in messages (``format``, ``align``).
        part: which part of the work, in messages after the job numbers (``en``).
    """

    base: Path
    name: str
    nj: int
    log: str | None = None
    what: str = "stage"
    part: str = ""

    def __post_init__(self) -> None:
        self.base = Path(self.base)

    @property
    def root(self) -> Path:
        return self.base / f"{self.name}.split{self.nj}"

    def dir(self, job: int) -> Path:
        """Where job ``job`` keeps its results and its done record."""
        return self.root / str(job)

    def log_of(self, job: int) -> str | None:
        return self.log.replace(JOB_VAR, str(job)) if self.log else None

    def begin(self, job: int) -> Path:
        """Remove job ``job``'s done record (it reappears only when the job completes); return its dir."""
        d = self.dir(job)
        (d / DONE).unlink(missing_ok=True)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def finish(self, job: int, ids: Sequence[str], options: Mapping[str, Any],
               stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write job ``job``'s done record, last: its ids' fingerprint, ``options`` and ``stats``.

        Args:
            options: what the merge checks (the config, the model or fit the job used...), by the
                name an error message gives it ("config", "unit tokenizer fit"); JSON values.
            stats: counts and timings the merge may sum.
        """
        record = {"job": job, "nj": self.nj, "ids": fingerprint(ids), "utterances": len(ids),
                  "options": dict(options), **(stats or {})}
        with atomic_write(self.dir(job) / DONE) as f:
            json.dump(record, f, indent=1)
        return record

    def missing(self) -> list[int]:
        """The jobs without a done record."""
        return [j for j in range(1, self.nj + 1) if not (self.dir(j) / DONE).is_file()]

    def check_finished(self) -> None:
        """Raise a :class:`DataError` naming each job without a done record and its log."""
        missing = self.missing()
        if not missing:
            return
        jobs = f"job{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} of {self.nj}"
        part = f" ({self.part})" if self.part else ""
        see = f"; see {', '.join(str(self.log_of(j)) for j in missing)}" if self.log else ""
        raise DataError(f"{self.base}: {self.what} {jobs}{part} did not finish (no {self.dir(missing[0]) / DONE})"
                        f"{see}. Rerun the stage, or those jobs with --nj {self.nj} --job J and then --merge")

    def check(self, ids: Sequence[str], expect: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The done records of jobs 1..nj, after checking each finished on its part of ``ids``.

        Args:
            ids: the sorted utterance ids the jobs were split from, as the merge sees them now.
            expect: option values each job must have run with; options not given here must be
                the same in every job (the merge does not know them, e.g. a job's overrides).

        Raises:
            DataError: a job without a done record (naming it and its log), or a job that ran on
                other ids or with other options.
        """
        self.check_finished()
        expect = expect or {}
        records: list[dict[str, Any]] = []
        for j in range(1, self.nj + 1):
            path = self.dir(j) / DONE
            rec = json.loads(path.read_text(encoding="utf-8"))
            if rec.get("job") != j or rec.get("nj") != self.nj or rec.get("ids") != fingerprint(shard(ids, self.nj, j)):
                raise DataError(f"{path}: job {j} ran on other utterances than {self.base} has now; rerun the jobs")
            opts = rec.get("options", {})
            for key, value in opts.items():
                want = expect[key] if key in expect else (records[0]["options"].get(key) if records else value)
                if value != want and key in expect:
                    raise DataError(f"{path}: job {j} ran with another {key} ({value!r}) than the merge has "
                                    f"({want!r}); rerun the jobs with the merge's options")
                if value != want:
                    raise DataError(f"{path}: job {j} ran with {key} {value!r} but job 1 with {want!r}; rerun "
                                    f"the jobs with the same options")
            unrecorded = sorted(expect.keys() - opts.keys())
            if unrecorded:
                raise DataError(f"{path}: job {j} records no {unrecorded[0]}; an older version made it: rerun the jobs")
            records.append(rec)
        return records

    def clear(self) -> None:
        """Remove the split dirs of every earlier run of this output (any ``nj``), finished or not."""
        for d in self.base.glob(f"{self.name}.split*"):
            if d.is_dir() and d.name[len(self.name) + len(".split"):].isdigit():
                shutil.rmtree(d)


def job_argv(argv: Sequence[str]) -> list[str]:
    """A verb's command line for one runner job: ``--cmd X`` left out, ``--job JOB`` added.

    Raises:
        ConfigError: a word of the command line holds ``JOB``, which the runner would replace.
    """
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        name = word.split("=", 1)[0]
        if name in ("--cmd", "--cm"):
            skip = "=" not in word
            continue
        out.append(word)
    clash = [w for w in out if JOB_VAR in w]
    if clash:
        raise ConfigError(f"'{clash[0]}' holds {JOB_VAR}, which the job runner replaces by the job number; rename "
                          f"it, or run the jobs yourself (--job J, then --merge)")
    return out + ["--job", JOB_VAR]


def run_jobs(cmd: str, nj: int, log: str, argv: Sequence[str]) -> None:
    """Run ``s2s ARGV --job JOB`` as jobs 1..nj through the job runner ``cmd``, logging to ``log``.

    The runner's own messages (a failed job with the end of its log) go to stderr; the
    caller checks the jobs' done records (:meth:`Shards.check_finished`) after it.

    Raises:
        ConfigError: a runner that cannot be started.
    """
    words = [*shlex.split(cmd), f"{JOB_VAR}=1:{nj}", log, sys.executable, "-m", "s2s_plugin.bin.main",
             *job_argv(argv)]
    logger.info("running %d job(s) through %s; logs: %s", nj, cmd, log)
    try:
        rc = subprocess.run(words).returncode
    except OSError as e:
        raise ConfigError(f"--cmd {cmd!r}: cannot start the job runner ({e}); give a runner such as "
                          f"utils/run.pl, relative to the directory this runs in") from None
    if rc:
        logger.warning("the job runner exited with code %d", rc)


def run_stage(mode: JobMode, shards: Sequence[Shards], job: Callable[[int], Any], merge: Callable[[], T],
              log: str | None = None) -> T | None:
    """Run a sharded stage in ``mode``: one job, the merge, or every job and then the merge.

    Args:
        shards: the split dirs the stage's jobs write (cleared before a whole-stage run).
        job: runs job ``j`` of ``mode.nj`` in this process.
        merge: checks the jobs (:meth:`Shards.check`) and writes the merged results.
        log: the jobs' log path with ``JOB`` (needed with ``mode.cmd``); the merge of a
            whole-stage run also logs to it with ``JOB`` replaced by ``merge``.

    Returns:
        What ``merge`` returns, or None for one job.

    Raises:
        DataError: a job that did not finish, naming its log.
    """
    if mode.job is not None:
        job(mode.job)
        return None
    if mode.merge:
        return merge()
    for s in shards:
        s.clear()
    if mode.cmd is not None:
        if not log:
            raise ConfigError("--cmd: this stage has no job log path")
        run_jobs(mode.cmd, mode.nj, log, mode.argv)
        for s in shards:
            s.check_finished()
    else:
        for j in range(1, mode.nj + 1):
            job(j)
    with log_to(Path(log.replace(JOB_VAR, "merge"))) if log else contextlib.nullcontext():
        return merge()


# -- a job process: threads and a log file ------------------------------------------------------------------

def limit_threads(n: int):
    """Limit torch, OpenMP and BLAS to ``n`` threads in this process; a context manager (threadpoolctl).

    The environment variables reach libraries imported later (torch reads them on import);
    a torch already imported is set directly.

    Raises:
        ConfigError: ``n`` < 1.
    """
    if n < 1:
        raise ConfigError(f"--num_threads must be >= 1, got {n}")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(n)


@contextlib.contextmanager
def log_to(path: PathLike, level: str | int = "INFO") -> Iterator[None]:
    """Also send log records of ``level`` and above to ``path`` (appending) while in the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"))
    handler.setLevel(level)
    root = logging.getLogger()
    old_level = root.level
    if old_level > handler.level:  # e.g. under pytest; NOTSET (0) already passes everything
        root.setLevel(handler.level)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


__all__ = ["JobMode", "Shards", "fingerprint", "shard", "job_argv", "run_jobs", "run_stage", "limit_threads",
           "log_to", "DONE"]
