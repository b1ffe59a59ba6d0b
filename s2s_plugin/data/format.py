"""Stage 2, audio formatting: resample, downmix, filter and dump every utterance.

    # one process
    s2s data format data/train_fr dump/train_fr --config conf/format.yaml
    # Kaldi-style parallel jobs through a job runner, then the merge (s2s_plugin.jobs)
    s2s data format data/train_fr dump/train_fr --config conf/format.yaml --nj 4 --cmd utils/run.pl

Job ``j`` of ``n`` takes the contiguous part ``j`` of the sorted utterance ids
(the ``utils/split_scp.sh`` contract, see :func:`~s2s_plugin.data.datadir.split_ids`).
For each utterance it reads both languages (wav.scp entries of every form: files,
ark entries and Kaldi pipe entries ``cmd |``, whose commands run here unless
``allow_pipes=False``; with ``segments``, a job reads a recording's utterances one
after another, so a pipe recording's command runs once per job), averages the
channels, and drops the pair when either side is

- ``empty``: no samples;
- ``silent``: its peak is below ``silence_threshold_db`` dBFS (-60 dB: 0.001);
- ``too_short`` / ``too_long``: shorter than ``min_duration`` or longer than
  ``max_duration`` seconds (after resampling).

Audio that cannot be used stops the job with an error naming the utterance:
a WAV file shorter than its header says, NaN or infinite samples, and float
samples outside [-1, 1] when the output ``subtype`` is PCM (they would be
clipped). Kept pairs are resampled to ``fs`` with a polyphase Kaiser-windowed FIR
(``scipy.signal.resample_poly``) and written as one file per utterance. The
merge checks every job finished with the same config and data
(:meth:`s2s_plugin.jobs.Shards.check`), then writes::

    DUMP_DIR/
      audio/<lang>/<utt>.flac          one mono file per utterance and language (audio_format)
      wav.scp.<lang>                   utt DUMP_DIR/audio/<lang>/<utt>.flac
      utt2num_samples.<lang>           utt samples (at fs)
      utt2dur.<lang>                   utt seconds
      text.<lang>, utt2spk             copied, kept utterances only
      oracle.<lang>.ctm                copied when the data dir has it, kept utterances only
      filter_report.txt                removed utterances, per reason, with ids
      format.split<N>/<J>/             each job's lists and its done.json
      logs/format.<J>.log, format.merge.log   the jobs' and the merge's logs (with --cmd)
      .format.done                     written last, only when all N jobs are complete

Paths in ``wav.scp`` are ``DUMP_DIR`` as given joined with the file name
(relative dump dirs stay relative, as in Kaldi and ESPnet): plain audio files,
so no later stage runs a pipe. Every file is written under a temporary name and
renamed.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from s2s_plugin.data.datadir import NO_PIPES, DataDir, split_ids
from s2s_plugin.data.io import PathLike, atomic_write, read_kaldi_text, write_kaldi_text
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.jobs import JobMode, Shards, run_stage

logger = logging.getLogger(__name__)

DONE_MARKER = ".format.done"
FILTER_REPORT = "filter_report.txt"
REASONS = ("empty", "silent", "too_short", "too_long")
_FORMATS = {"flac": "FLAC", "wav": "WAV"}


@dataclass
class FormatConfig:
    """The schema of ``conf/format.yaml``.

    Example::

        fs: 16000
        min_duration: 0.1
        max_duration: 20.0

    Attributes:
        fs: output sample rate (Hz).
        min_duration: drop a pair when a side is shorter (seconds).
        max_duration: drop a pair when a side is longer (seconds).
        silence_threshold_db: drop a pair when a side's peak is below this (dBFS).
        audio_format: ``flac`` or ``wav`` (one file per utterance).
        subtype: the sample format written (soundfile subtype, e.g. PCM_16, PCM_24, FLOAT for wav).
    """

    fs: int = 16000
    min_duration: float = 0.1
    max_duration: float = 20.0
    silence_threshold_db: float = -60.0
    audio_format: Literal["flac", "wav"] = "flac"
    subtype: str = "PCM_16"

    def __post_init__(self) -> None:
        if self.fs <= 0:
            raise ConfigError(f"format config: fs must be a positive sample rate, got {self.fs}")
        if not 0 <= self.min_duration < self.max_duration:
            raise ConfigError(f"format config: need 0 <= min_duration < max_duration, got "
                              f"{self.min_duration} and {self.max_duration}")
        if self.silence_threshold_db > 0:
            raise ConfigError(f"format config: silence_threshold_db is in dBFS and must be <= 0, "
                              f"got {self.silence_threshold_db}")
        if self.audio_format not in _FORMATS:
            raise ConfigError(f"format config: audio_format must be one of {sorted(_FORMATS)}, "
                              f"got {self.audio_format!r}")
        import soundfile as sf

        if not sf.check_format(_FORMATS[self.audio_format], self.subtype):
            raise ConfigError(f"format config: subtype {self.subtype!r} is not valid for "
                              f"{self.audio_format}; valid: "
                              f"{', '.join(sf.available_subtypes(_FORMATS[self.audio_format]))}")


@dataclass
class JobResult:
    """What one job kept and removed."""

    job: int
    nj: int
    kept: list[str] = field(default_factory=list)
    removed: list[tuple[str, str, str, str]] = field(default_factory=list)  # utt, reason, lang, detail
    num_samples: dict[str, dict[str, int]] = field(default_factory=dict)     # lang -> utt -> samples
    bytes_written: int = 0


def resample(x: np.ndarray, fs_in: int, fs_out: int) -> np.ndarray:
    """Resample a 1-D signal with ``scipy.signal.resample_poly`` (polyphase, Kaiser window).

    The output has ``ceil(len(x) * fs_out / fs_in)`` samples.
    """
    if fs_in == fs_out:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(fs_in, fs_out)
    return resample_poly(x.astype(np.float64), fs_out // g, fs_in // g).astype(np.float32)


def resampled_length(n: int, fs_in: int, fs_out: int) -> int:
    """The length :func:`resample` gives for ``n`` input samples."""
    return -(-n * fs_out // fs_in)


def shards(dump_dir: PathLike, nj: int) -> Shards:
    """The ``nj`` job dirs of a format run: ``DUMP_DIR/format.split<nj>/<J>/``, logs in ``DUMP_DIR/logs/``."""
    return Shards(Path(dump_dir), "format", nj, log=str(Path(dump_dir) / "logs" / "format.JOB.log"), what="format")


def job_dir(dump_dir: PathLike, nj: int, job: int) -> Path:
    """Where job ``job`` of ``nj`` keeps its lists and ``done.json``."""
    return shards(dump_dir, nj).dir(job)


def _dump_dir(dd: DataDir, dump_dir: PathLike) -> Path:
    dump_dir = Path(dump_dir)
    if dump_dir.resolve() == dd.path.resolve():
        raise DataError(f"{dump_dir}: the dump directory must differ from the data directory")
    return dump_dir


def _reject(wave: np.ndarray, fs_in: int, cfg: FormatConfig) -> tuple[str, str] | None:
    """``(reason, detail)`` when this side of a pair must be dropped."""
    if wave.size == 0:
        return "empty", "0 samples"
    peak = float(np.max(np.abs(wave)))
    peak_db = 20 * math.log10(peak) if peak > 0 else -math.inf
    if peak_db < cfg.silence_threshold_db:
        return "silent", f"peak {peak_db:.1f} dBFS < silence_threshold_db {cfg.silence_threshold_db} dBFS"
    dur = resampled_length(wave.size, fs_in, cfg.fs) / cfg.fs
    if dur < cfg.min_duration:
        return "too_short", f"{dur:.3f} s < min_duration {cfg.min_duration} s"
    if dur > cfg.max_duration:
        return "too_long", f"{dur:.3f} s > max_duration {cfg.max_duration} s"
    return None


def _check_range(wave: np.ndarray, cfg: FormatConfig, where: str) -> None:
    """Refuse float samples outside [-1, 1] where the output format would clip them."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak <= 1.0 or not cfg.subtype.startswith("PCM"):
        return
    n = int(np.count_nonzero(np.abs(wave) > 1.0))
    raise DataError(f"{where}: {n} float sample(s) lie outside [-1, 1] (peak {peak:.3g}, "
                    f"{20 * math.log10(peak):+.1f} dBFS), so writing them as {cfg.subtype} would clip them; scale "
                    f"the recording down (e.g. sox IN OUT gain -n -1) or keep float samples (audio_format: wav, "
                    f"subtype: FLOAT)")


def _write_audio(path: Path, wave: np.ndarray, cfg: FormatConfig) -> int:
    import soundfile as sf

    if cfg.subtype.startswith("PCM"):  # libsndfile does not clip float -> int conversion
        wave = np.clip(wave, -1.0, 1.0)
    with atomic_write(path, "wb") as f:
        sf.write(f, wave, cfg.fs, format=_FORMATS[cfg.audio_format], subtype=cfg.subtype)
    return path.stat().st_size


def _open(data_dir: PathLike, tgt_lang: str, allow_pipes: bool) -> DataDir:
    dd = DataDir(data_dir, tgt_lang, allow_pipes=allow_pipes)
    if not allow_pipes:
        dd.refuse_pipes(NO_PIPES)
    return dd


def format_job(data_dir: PathLike, dump_dir: PathLike, cfg: FormatConfig, nj: int = 1, job: int = 1,
               tgt_lang: str = "en", allow_pipes: bool = True) -> JobResult:
    """Format part ``job`` of ``nj`` of ``data_dir`` into ``dump_dir`` (audio + job lists).

    Args:
        allow_pipes: run Kaldi pipe entries (``cmd |``); False (``--no_pipes``)
            refuses a data dir that has any, before any work.

    Raises:
        DataError: inconsistent data, unreadable audio or a failing pipe command
            (naming the utterance and the entry), or a pipe entry refused.
    """
    from humanfriendly import format_size, format_timespan
    from tqdm import tqdm

    t0 = time.time()
    dd = _open(data_dir, tgt_lang, allow_pipes)
    dump_dir = _dump_dir(dd, dump_dir)
    jobs = shards(dump_dir, nj)
    jdir = jobs.begin(job)
    (dump_dir / DONE_MARKER).unlink(missing_ok=True)
    ids = split_ids(dd.utt_ids, nj, job)
    res = JobResult(job, nj, num_samples={lang: {} for lang in dd.langs})
    logger.info("format job %d/%d: %d of %d utterances of %s -> %s (%s Hz, %s)", job, nj, len(ids),
                len(dd), dd.path, dump_dir, cfg.fs, cfg.audio_format)
    interval = 1.0 if sys.stderr.isatty() else 30.0
    # A recording's segments one after another, so each pipe recording runs once (DataDir caches the last).
    order = sorted(ids, key=lambda u: (tuple(dd.recording(u, lang) or "" for lang in dd.langs), u))
    for utt in tqdm(order, desc=f"format {job}/{nj}", unit="utt", mininterval=interval):
        if "/" in utt:
            raise DataError(f"{dd.path}: utterance id '{utt}' contains '/'; it cannot name a file")
        waves = {lang: dd.load_audio(utt, lang) for lang in dd.langs}  # both: unreadable audio is an error
        for lang, (wave, _) in waves.items():
            _check_range(wave, cfg, f"{dd.path}/wav.scp.{lang}: utterance '{utt}'")
        rejected = next(((lang, r) for lang in dd.langs if (r := _reject(*waves[lang], cfg))), None)
        if rejected:
            lang, (reason, detail) = rejected
            res.removed.append((utt, reason, lang, detail))
            continue
        for lang, (wave, fs_in) in waves.items():
            out = resample(wave, fs_in, cfg.fs)
            path = dump_dir / "audio" / lang / f"{utt}.{cfg.audio_format}"
            res.bytes_written += _write_audio(path, out, cfg)
            res.num_samples[lang][utt] = out.size
        res.kept.append(utt)
    _write_job_lists(jdir, dump_dir, dd, cfg, res)
    jobs.finish(job, ids, _options(dd, cfg), {"kept": len(res.kept), "removed": len(res.removed),
                                              "bytes": res.bytes_written})  # last: marks the job complete
    secs = {lang: sum(n.values()) / cfg.fs for lang, n in res.num_samples.items()}
    logger.info("format job %d/%d: kept %d, removed %d (%s); %s; wrote %s of audio in %s", job, nj,
                len(res.kept), len(res.removed), _reason_counts(r[1] for r in res.removed),
                ", ".join(f"{lang} {format_timespan(s)}" for lang, s in secs.items()),
                format_size(res.bytes_written), format_timespan(time.time() - t0))
    return res


def _options(dd: DataDir, cfg: FormatConfig) -> dict:
    """What every job and the merge must agree on."""
    return {"config": dataclasses.asdict(cfg), "languages": list(dd.langs)}


def _write_job_lists(jdir: Path, dump_dir: Path, dd: DataDir, cfg: FormatConfig, res: JobResult) -> None:
    for lang in dd.langs:
        write_kaldi_text(jdir / f"wav.scp.{lang}",
                         {u: str(dump_dir / "audio" / lang / f"{u}.{cfg.audio_format}") for u in res.kept})
        write_kaldi_text(jdir / f"utt2num_samples.{lang}", {u: str(n) for u, n in res.num_samples[lang].items()})
    with atomic_write(jdir / "removed") as f:
        for row in res.removed:
            f.write(" ".join(row) + "\n")


def _reason_counts(reasons) -> str:
    counts = {r: 0 for r in REASONS}
    for r in reasons:
        counts[r] += 1
    return ", ".join(f"{r}: {n}" for r, n in counts.items())


def merge_jobs(data_dir: PathLike, dump_dir: PathLike, cfg: FormatConfig, nj: int = 1,
               tgt_lang: str = "en", allow_pipes: bool = True) -> dict:
    """Combine the ``nj`` jobs' outputs into ``dump_dir``; write the done marker last.

    Returns:
        The summary stored in ``dump_dir/.format.done``.

    Raises:
        DataError: a job that has not finished (naming it), jobs made from another
            config or data dir, or every utterance filtered out.
    """
    from humanfriendly import format_size, format_timespan

    dd = _open(data_dir, tgt_lang, allow_pipes)
    dump_dir = _dump_dir(dd, dump_dir)
    (dump_dir / DONE_MARKER).unlink(missing_ok=True)
    shards(dump_dir, nj).check(dd.utt_ids, _options(dd, cfg))
    wav = {lang: {} for lang in dd.langs}
    nsamp = {lang: {} for lang in dd.langs}
    removed: list[list[str]] = []
    for j in range(1, nj + 1):
        jdir = job_dir(dump_dir, nj, j)
        for lang in dd.langs:
            wav[lang].update(read_kaldi_text(jdir / f"wav.scp.{lang}"))
            nsamp[lang].update(read_kaldi_text(jdir / f"utt2num_samples.{lang}"))
        with open(jdir / "removed", encoding="utf-8") as f:
            removed += [line.rstrip("\n").split(" ", 3) for line in f if line.strip()]
    kept = set(wav[dd.src_lang])
    if not kept:
        raise DataError(f"{dd.path}: all {len(dd)} utterances were removed by the filters "
                        f"({_reason_counts(r[1] for r in removed)}); see {dump_dir}/format.split{nj}/*/removed")
    for lang in dd.langs:
        missing = next((p for p in wav[lang].values() if not os.path.isfile(p)), None)
        if missing:
            raise DataError(f"{dump_dir}: audio file {missing} listed by a job is missing; rerun the jobs")
        write_kaldi_text(dump_dir / f"wav.scp.{lang}", wav[lang])
        write_kaldi_text(dump_dir / f"utt2num_samples.{lang}", nsamp[lang])
        write_kaldi_text(dump_dir / f"utt2dur.{lang}", {u: f"{int(n) / cfg.fs:.6f}" for u, n in nsamp[lang].items()})
        write_kaldi_text(dump_dir / f"text.{lang}", {u: dd.utterance(u, lang).text for u in kept})
        _copy_ctm(dd.oracle_ctm_path(lang), dump_dir / f"oracle.{lang}.ctm", kept)
    write_kaldi_text(dump_dir / "utt2spk", {u: dd.utt2spk[u] for u in kept})
    _write_filter_report(dump_dir / FILTER_REPORT, dd, dump_dir, removed)

    from s2s_plugin.data.validate import validate_datadir

    validate_datadir(dump_dir, tgt_lang, check_audio=False).raise_if_failed()
    seconds = {lang: sum(int(n) for n in nsamp[lang].values()) / cfg.fs for lang in dd.langs}
    size = sum(os.path.getsize(p) for lang in dd.langs for p in wav[lang].values())
    summary = {"data_dir": str(dd.path), "nj": nj, "utterances": len(dd), "kept": len(kept),
               "removed": {r: sum(1 for row in removed if row[1] == r) for r in REASONS},
               "seconds": seconds, "bytes": size, "config": dataclasses.asdict(cfg)}
    logger.info("format merge: %s -> %s: kept %d of %d utterances, removed %d (%s); %s; %s of audio",
                dd.path, dump_dir, len(kept), len(dd), len(removed), _reason_counts(r[1] for r in removed),
                ", ".join(f"{lang} {format_timespan(s)}" for lang, s in seconds.items()), format_size(size))
    if removed:
        logger.info("format merge: removed utterances are listed in %s", dump_dir / FILTER_REPORT)
    with atomic_write(dump_dir / DONE_MARKER) as f:
        json.dump(summary, f, indent=1)
    return summary


def _copy_ctm(src: Path | None, dst: Path, keep: set[str]) -> None:
    """Copy the CTM lines of kept utterances verbatim (times keep their precision)."""
    if src is None:
        dst.unlink(missing_ok=True)
        return
    with open(src, encoding="utf-8") as fin, atomic_write(dst) as fout:
        for line in fin:
            fields = line.split(maxsplit=1)
            if fields and fields[0] in keep:
                fout.write(line if line.endswith("\n") else line + "\n")


def _write_filter_report(path: Path, dd: DataDir, dump_dir: Path, removed: list[list[str]]) -> None:
    with atomic_write(path) as f:
        f.write(f"# s2s data format {dd.path} -> {dump_dir}: removed {len(removed)} of {len(dd)} utterances\n")
        for reason in REASONS:
            f.write(f"# {reason}: {sum(1 for r in removed if r[1] == reason)}\n")
        f.write("# utt reason lang detail\n")
        for row in sorted(removed):
            f.write(" ".join(row) + "\n")


def format_datadir(data_dir: PathLike, dump_dir: PathLike, cfg: FormatConfig, nj: int = 1,
                   tgt_lang: str = "en", allow_pipes: bool = True, mode: JobMode | None = None) -> dict | None:
    """Format ``data_dir`` into ``dump_dir`` as ``nj`` jobs, then merge; ``mode`` says how.

    Without ``mode`` all ``nj`` jobs run one after another in this process; a
    :class:`~s2s_plugin.jobs.JobMode` runs one job (``job``), only the merge (``merge``) or
    the jobs through a job runner (``cmd``). A whole-stage run first removes the job dirs
    of earlier runs.

    Returns:
        The merge's summary (None for one job).
    """
    mode = mode or JobMode(nj)
    jobs = shards(dump_dir, mode.nj)
    return run_stage(mode, [jobs],
                     lambda j: format_job(data_dir, dump_dir, cfg, mode.nj, j, tgt_lang, allow_pipes),
                     lambda: merge_jobs(data_dir, dump_dir, cfg, mode.nj, tgt_lang, allow_pipes), jobs.log)


def read_filter_report(path: PathLike) -> list[tuple[str, str, str, str]]:
    """The removed utterances of a ``filter_report.txt``: ``(utt, reason, lang, detail)``."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                utt, reason, lang, detail = line.rstrip("\n").split(" ", 3)
                rows.append((utt, reason, lang, detail))
    return rows


__all__ = ["FormatConfig", "format_job", "merge_jobs", "format_datadir", "resample", "resampled_length",
           "read_filter_report", "job_dir", "DONE_MARKER", "FILTER_REPORT", "REASONS"]
