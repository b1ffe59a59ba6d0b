"""Stage 5, word alignment: run an aligner over a dump dir and write ``align.<lang>.ctm``.

    # one process, both languages of the set
    s2s align --config conf/align.yaml --dir dump/train_fr
    # 4 parallel jobs through a job runner (logs: dump/train_fr/logs/align.<J>.log), then the merge
    s2s align --config conf/align.yaml --dir dump/train_fr --nj 4 --cmd utils/run.pl
    # (each job as the runner calls it: --nj 4 --job J; then --nj 4 --merge)

Job ``j`` of ``n`` aligns the contiguous part ``j`` of the sorted utterance ids
(:func:`s2s_plugin.data.datadir.split_ids`) and writes into
``DIR/align.<lang>.split<n>/<j>/``: ``align.ctm``, ``report.tsv`` and, last,
``done.json`` (:class:`s2s_plugin.jobs.Shards`). The merge checks every job
finished with the same config and ids, then writes::

    DIR/align.<lang>.ctm        utt 1 start duration word (seconds), every aligned utterance
    DIR/align.<lang>.report     utt<TAB>failed|warning<TAB>why, for every utterance with a problem
    DIR/align.<lang>.dropped    utt<TAB>dropped<TAB>why, the utterances whose alignment was implausible

An utterance the aligner cannot align (a character the model lacks, audio
shorter than its text needs, missing from an imported CTM) is left out of the
CTM and listed in the report and the log, never dropped silently. When more
than ``max_fail_ratio`` of the utterances fail, the merge writes the report,
removes any old CTM and fails. With ``max_duration_ratio`` or
``max_edge_silence`` set, an aligned utterance whose spans are implausible
(:mod:`s2s_plugin.align.plausibility`: a word far longer or shorter than its
characters predict, or long silence inside the first or last word) is left
out of the CTM and listed in the ``.dropped`` file; dropping is not failing. ``--out NAME`` writes ``NAME.<lang>.ctm``
instead (to keep several alignments side by side).
"""
from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2s_plugin.align.common import AlignmentError, AlignmentWarning
from s2s_plugin.align.plausibility import check_plausible
from s2s_plugin.config import component, to_dict
from s2s_plugin.data.io import PathLike, WordSpan, atomic_write, read_ctm, write_ctm
from s2s_plugin.errors import ConfigError, DataError, PluginError
from s2s_plugin.jobs import JobMode, Shards, run_stage

logger = logging.getLogger(__name__)


@dataclass
class AlignConfig:
    """The schema of ``conf/align.yaml``.

    Example::

        aligner:
          name: ctc_segmentation
          model: exp/ctc
        max_fail_ratio: 0.02
        max_duration_ratio: 4.0     # drop utterances with a word > 4x or < 1/4 of what its characters predict

    Attributes:
        aligner: the aligner block ``{name: ..., **kwargs}`` (kind ``aligner``).
        max_fail_ratio: the merge fails when a larger share of the utterances cannot be aligned.
        max_duration_ratio: drop an utterance with a word lasting more than this many times what its
            characters predict at the utterance's rate, or less than its inverse (None: keep all).
        max_edge_silence: drop an utterance with more than this many seconds of silence inside its first
            or last word (None: keep all).
    """

    aligner: dict = component("aligner")
    max_fail_ratio: float = 0.05
    max_duration_ratio: float | None = None
    max_edge_silence: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.max_fail_ratio <= 1:
            raise ConfigError(f"align config: max_fail_ratio must be in [0, 1], got {self.max_fail_ratio}")
        if self.max_duration_ratio is not None and self.max_duration_ratio <= 1:
            raise ConfigError(f"align config: max_duration_ratio must be > 1 (or null), got {self.max_duration_ratio}")
        if self.max_edge_silence is not None and self.max_edge_silence < 0:
            raise ConfigError(f"align config: max_edge_silence must be >= 0 (or null), got {self.max_edge_silence}")

    @property
    def drops(self) -> bool:
        return self.max_duration_ratio is not None or self.max_edge_silence is not None


@dataclass
class Problem:
    """One reported utterance."""

    utt_id: str
    status: str  # failed | warning | dropped
    message: str


@dataclass
class JobOutput:
    spans: dict[str, list[WordSpan]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    dropped: list[Problem] = field(default_factory=list)
    words: int = 0


def job_log(dump_dir: PathLike, out: str = "align") -> str:
    """The alignment jobs' log path, ``DIR/logs/<out>.JOB.log`` (one job aligns every language)."""
    return str(Path(dump_dir) / "logs" / f"{out}.JOB.log")


def shards(dump_dir: PathLike, lang: str, nj: int, out: str = "align") -> Shards:
    """The alignment jobs of one language: ``DIR/<out>.<lang>.split<nj>/<J>/``."""
    return Shards(Path(dump_dir), f"{out}.{lang}", nj, log=job_log(dump_dir, out), what="align", part=lang)


def _options(cfg: AlignConfig, lang: str) -> dict[str, Any]:
    """What every alignment job and the merge must agree on."""
    return {"config": to_dict(cfg), "language": lang}


def _check_spans(spans: Any, words: list[str], utt: str, name: str) -> list[WordSpan]:
    """An aligner's output must be one WordSpan per word, in order, within the audio."""
    if not isinstance(spans, list) or len(spans) != len(words) or \
            not all(isinstance(s, WordSpan) for s in spans):
        raise PluginError(f"aligner '{name}' returned {type(spans).__name__} for utterance '{utt}'; it must "
                          f"return one WordSpan per word ({len(words)} words)")
    for s, w in zip(spans, words):
        if s.word != w:
            raise PluginError(f"aligner '{name}': utterance '{utt}': span word '{s.word}' is not '{w}'")
        if s.start < 0 or s.duration < 0:
            raise PluginError(f"aligner '{name}': utterance '{utt}': negative time for '{w}' ({s})")
    return spans


def _interval() -> float:
    return 1.0 if sys.stderr.isatty() else 30.0


def align_job(dump_dir: PathLike, lang: str, cfg: AlignConfig, nj: int = 1, job: int = 1,
              tgt_lang: str = "en", out: str = "align") -> JobOutput:
    """Align part ``job`` of ``nj`` of ``dump_dir`` in ``lang``; write the job's files.

    Raises:
        DataError: unreadable data or a problem that concerns the whole set (e.g. a CTM
            whose words are not the transcript's).
    """
    from humanfriendly import format_timespan
    from tqdm import tqdm

    from s2s_plugin.data.datadir import DataDir, split_ids
    from s2s_plugin.registry import get_registry

    dd = DataDir(dump_dir, tgt_lang=tgt_lang)
    if lang not in dd.langs:
        raise DataError(f"{dump_dir}: no language '{lang}' (it has {', '.join(dd.langs)})")
    jobs = shards(dump_dir, lang, nj, out)
    jdir = jobs.begin(job)
    ids = split_ids(dd.utt_ids, nj, job)
    name = cfg.aligner["name"]
    aligner = get_registry().build("aligner", cfg.aligner, "align config:aligner")
    t0 = time.time()
    if hasattr(aligner, "setup"):
        aligner.setup(str(dump_dir), lang)
    logger.info("align job %d/%d: %d of %d utterances of %s (%s) with aligner '%s'", job, nj, len(ids),
                len(dd), dump_dir, lang, name)
    res = JobOutput()
    for utt_id in tqdm(ids, desc=f"align {lang} {job}/{nj}", unit="utt", mininterval=_interval()):
        words = dd.utterance(utt_id, lang).text.split()
        wav, sr = dd.load_audio(utt_id, lang)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AlignmentWarning)
            try:
                spans = aligner.align(utt_id, words, wav, sr)
            except AlignmentError as e:
                res.problems.append(Problem(utt_id, "failed", str(e)))
                logger.warning("%s %s: utterance '%s' not aligned: %s", dump_dir, lang, utt_id, e)
                continue
        for w in caught:
            if issubclass(w.category, AlignmentWarning):
                res.problems.append(Problem(utt_id, "warning", str(w.message)))
                logger.warning("%s %s: utterance '%s': %s", dump_dir, lang, utt_id, w.message)
        spans = _check_spans(spans, words, utt_id, name)
        if cfg.drops:
            reasons = check_plausible(spans, wav, sr, cfg.max_duration_ratio, cfg.max_edge_silence)
            if reasons:
                res.dropped.append(Problem(utt_id, "dropped", "; ".join(reasons)))
                logger.info("%s %s: utterance '%s' dropped: %s", dump_dir, lang, utt_id, "; ".join(reasons))
                continue
        res.spans[utt_id] = spans
        res.words += len(words)
    write_ctm(jdir / "align.ctm", res.spans)
    _write_report(jdir / "report.tsv", res.problems)
    _write_report(jdir / "dropped.tsv", res.dropped)
    done = jobs.finish(job, ids, _options(cfg, lang), {  # last: marks the job complete
        "aligned": len(res.spans), "words": res.words, "failed": sum(p.status == "failed" for p in res.problems),
        "dropped": len(res.dropped)})
    logger.info("align job %d/%d: aligned %d of %d utterances (%d words), %d failed, %d dropped, in %s", job, nj,
                len(res.spans), len(ids), res.words, done["failed"], len(res.dropped),
                format_timespan(time.time() - t0))
    return res


def _write_report(path: Path, problems: list[Problem]) -> None:
    with atomic_write(path) as f:
        f.write("# utt\tstatus\tmessage\n")
        for p in problems:
            f.write(f"{p.utt_id}\t{p.status}\t{' '.join(p.message.split())}\n")


def _read_report(path: Path) -> list[Problem]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        utt, status, message = line.split("\t", 2)
        out.append(Problem(utt, status, message))
    return out


def merge_jobs(dump_dir: PathLike, lang: str, cfg: AlignConfig, nj: int = 1, tgt_lang: str = "en",
               out: str = "align") -> dict:
    """Combine the ``nj`` jobs into ``DIR/<out>.<lang>.ctm`` and ``DIR/<out>.<lang>.report``.

    Returns:
        A summary (utterances, aligned, failed, warnings, words).

    Raises:
        DataError: an unfinished job, jobs run with another config or ids, or more than
            ``max_fail_ratio`` of the utterances failed.
    """
    from s2s_plugin.data.datadir import DataDir

    dd = DataDir(dump_dir, tgt_lang=tgt_lang)
    jobs = shards(dump_dir, lang, nj, out)
    spans: dict[str, list[WordSpan]] = {}
    problems: list[Problem] = []
    dropped: list[Problem] = []
    words = 0
    for j, done in enumerate(jobs.check(dd.utt_ids, _options(cfg, lang)), 1):
        jdir = jobs.dir(j)
        spans.update(read_ctm(jdir / "align.ctm"))
        problems += _read_report(jdir / "report.tsv")
        dropped += _read_report(jdir / "dropped.tsv")
        words += int(done["words"])
    failed = [p for p in problems if p.status == "failed"]
    summary = {"utterances": len(dd), "aligned": len(spans), "failed": len(failed),
               "warnings": sum(p.status == "warning" for p in problems), "dropped": len(dropped), "words": words}
    report = Path(dump_dir) / f"{out}.{lang}.report"
    _write_report(report, problems)
    _write_report(Path(dump_dir) / f"{out}.{lang}.dropped", dropped)
    ctm = Path(dump_dir) / f"{out}.{lang}.ctm"
    if len(dd) and len(failed) / len(dd) > cfg.max_fail_ratio:
        ctm.unlink(missing_ok=True)
        examples = "; ".join(f"{p.utt_id}: {p.message}" for p in failed[:3])
        raise DataError(f"{dump_dir} ({lang}): {len(failed)} of {len(dd)} utterances "
                        f"({100 * len(failed) / len(dd):.1f}%) could not be aligned, more than max_fail_ratio "
                        f"{cfg.max_fail_ratio:g}; see {report} (e.g. {examples})")
    write_ctm(ctm, spans)
    logger.info("align merge %s (%s): %d of %d utterances aligned (%d words) into %s; %d failed, %d warnings, "
                "%d dropped as implausible%s", dump_dir, lang, len(spans), len(dd), words, ctm, len(failed),
                summary["warnings"], len(dropped), f"; see {report}" if problems else "")
    return summary


def align_set(dump_dir: PathLike, langs: Sequence[str], cfg: AlignConfig, tgt_lang: str = "en", out: str = "align",
              mode: JobMode | None = None) -> dict[str, dict] | None:
    """Align ``langs`` of ``dump_dir`` as ``mode.nj`` jobs (each aligns every language), then merge.

    ``mode`` says how (:func:`s2s_plugin.jobs.run_stage`); without it the jobs run one after
    another in this process.

    Returns:
        Per language, the merge's summary (None for one job).
    """
    mode = mode or JobMode()
    splits = [shards(dump_dir, lang, mode.nj, out) for lang in langs]

    def job(j: int) -> None:
        for lang in langs:
            align_job(dump_dir, lang, cfg, mode.nj, j, tgt_lang, out)

    def merge() -> dict[str, dict]:
        return {lang: merge_jobs(dump_dir, lang, cfg, mode.nj, tgt_lang, out) for lang in langs}

    return run_stage(mode, splits, job, merge, job_log(dump_dir, out))


def align_dir(dump_dir: PathLike, lang: str, cfg: AlignConfig, nj: int = 1, tgt_lang: str = "en",
              out: str = "align") -> dict:
    """Run all ``nj`` jobs of ``lang`` one after another in this process, then merge."""
    return align_set(dump_dir, [lang], cfg, tgt_lang, out, JobMode(nj))[lang]  # type: ignore[index]
