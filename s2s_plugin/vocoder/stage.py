"""Stage 10, vocoder: fit (or import) a vocoder, then turn unit sequences into waveforms.

    from s2s_plugin.vocoder.stage import VocoderConfig, fit_vocoder, synth_job, merge_synth

    cfg = load_config(VocoderConfig, "conf/vocoder.yaml")
    fit_vocoder(cfg, ["dump/train_fr", "dump/train_es"], "en", "exp/vocoder")
    synth_job("exp/vocoder", "exp/s2st/decode_test_fr/hyp_units.en", "exp/s2st/decode_test_fr", nj=2, job=1)
    ...                                                     # and job=2, then
    merge_synth("exp/vocoder", "exp/s2st/decode_test_fr/hyp_units.en", "exp/s2st/decode_test_fr", nj=2)
    # or all of it: 2 jobs through a job runner (logs: OUT/logs/synth.<j>.log), then the merge
    synth_all("exp/vocoder", "exp/s2st/decode_test_fr/hyp_units.en", "exp/s2st/decode_test_fr",
              mode=JobMode(2, cmd="utils/run.pl", argv=[...the s2s vocoder synth command line...]))

The fit reads ``wav.scp.<lang>`` and ``units.<lang>`` of every dump dir given.
Stage 4's ``units.<lang>.info`` gives the units' frame rate and vocabulary
size; they fill in the vocoder block's ``frame_rate`` and ``n_units`` when the
class takes them and the config leaves them null (a value in the config that
disagrees is an error). A vocoder that trains itself (``unit_hifigan`` with a
``train`` block: its ``trains`` is true) gets the chosen ``(DataDir, utterance,
units)`` items through ``fit_data(items, lang, exp_dir)`` instead of a stream of
examples; under ``s2s launch`` every process trains and only rank 0 writes the
files below. The exp dir then holds::

    exp/vocoder/
      config.yaml, plugins.yaml   the resolved config (its vocoder block rebuilds the vocoder)
      <the vocoder's state>       world.npz + world.json, unit_hifigan.json, ...
      fit.log                     the log of the fit
      fit.json                    fit time, utterances, audio seen (written last: marks a finished fit)

Synthesis options (``synthesis:`` in the config, kept in the exp's
``config.yaml``; ``s2s vocoder synth ... synthesis.speaker=3`` overrides them
for one synthesis) choose what a vocoder can vary from one synthesis to the
next without a refit: ``speaker``, the speaker of a multi-speaker vocoder
(a keyword of its ``synthesize``; null: the vocoder's default). Synthesis job
``j`` of ``n`` takes the contiguous part ``j`` of the sorted
utterance ids (``utils/split_scp.sh``'s contract), writes ``OUT/wav/<utt>.wav``
(``synth_fs`` Hz, 16-bit) and ``OUT/synth.split<n>/<j>/{wav.scp,done.json}``
(:class:`s2s_plugin.jobs.Shards`); the merge checks every job ran on the same
units with the same vocoder fit and synthesis options and
writes ``OUT/wav.scp`` and ``OUT/synth.json`` (real-time factor). An empty unit
sequence (a decode that produced no speech) gives ``empty_seconds`` of silence
and is listed in ``synth.json``; a unit outside the vocoder's range is an error
naming the file, line and utterance.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import logging
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.config import component, load_yaml, save_resolved
from s2s_plugin.data.datadir import DataDir, split_ids
from s2s_plugin.data.io import PathLike, atomic_write, iter_kaldi_lines
from s2s_plugin.data.io import read_units_info as io_read_units_info
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.jobs import JobMode, Shards, run_stage

logger = logging.getLogger(__name__)

FIT_JSON = "fit.json"
CONFIG_YAML = "config.yaml"


@dataclass
class SynthesisOptions:
    """What a synthesis may choose without refitting the vocoder (``synthesis:`` of ``conf/vocoder.yaml``).

    Example::

        synthesis: {speaker: 3}      # or: s2s vocoder synth ... synthesis.speaker=3

    Attributes:
        speaker: the speaker of a multi-speaker vocoder (null: the vocoder's default).
    """

    speaker: int | None = None

    def __post_init__(self) -> None:
        if self.speaker is not None and self.speaker < 0:
            raise ConfigError(f"synthesis.speaker must be >= 0 or null, got {self.speaker}")

    def kwargs(self, vocoder: Any) -> dict[str, Any]:
        """The keyword arguments of ``vocoder.synthesize`` these options set.

        Raises:
            ConfigError: an option set for a vocoder whose ``synthesize`` does not take it.
        """
        given = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        params = inspect.signature(vocoder.synthesize).parameters
        for key in given:
            if key not in params:
                raise ConfigError(f"synthesis.{key}: vocoder '{getattr(vocoder, 'name', vocoder)}' has no "
                                  f"{key} to choose (its synthesize takes no '{key}'); leave synthesis.{key} unset")
        return given


@dataclass
class VocoderConfig:
    """Stage 10's config (``conf/vocoder.yaml``).

    Example::

        vocoder: {name: world, smooth_ms: 20.0}
        max_utts: 400
        synth_fs: 16000

    Attributes:
        vocoder: the vocoder block ``{name: ..., **kwargs}``.
        max_utts: fit on at most this many utterances, drawn at random (null: all).
        seed: seeds that draw.
        synth_fs: sample rate of the written waveforms (resampled from the vocoder's when they differ).
        empty_seconds: length of the silence written for an empty unit sequence.
        synthesis: the default synthesis options (:class:`SynthesisOptions`); ``s2s vocoder synth``
            overrides them per synthesis.
    """

    vocoder: dict = component("vocoder")
    max_utts: int | None = None
    seed: int = 0
    synth_fs: int = 16000
    empty_seconds: float = 0.1
    synthesis: SynthesisOptions = field(default_factory=SynthesisOptions)

    def __post_init__(self) -> None:
        if self.max_utts is not None and self.max_utts < 1:
            raise ConfigError(f"max_utts must be >= 1 or null, got {self.max_utts}")
        if self.synth_fs < 1000:
            raise ConfigError(f"synth_fs must be a sample rate in Hz, got {self.synth_fs}")
        if self.empty_seconds < 0:
            raise ConfigError(f"empty_seconds must be >= 0, got {self.empty_seconds}")


# -- units ------------------------------------------------------------------------------------------------

def read_unit_lines(path: PathLike) -> dict[str, tuple[int, list[int]]]:
    """Read a units file (``utt u1 u2 ...``; an utterance may have no units).

    Returns:
        ``{utt: (line_number, units)}``.

    Raises:
        DataError: a malformed line, a non-integer unit or a repeated utterance (file and line named).
    """
    out: dict[str, tuple[int, list[int]]] = {}
    for lineno, utt, value in iter_kaldi_lines(path, allow_empty_value=True):
        if utt in out:
            raise DataError(f"{path}:{lineno}: utterance '{utt}' appears twice (first at line {out[utt][0]})")
        try:
            out[utt] = (lineno, [int(u) for u in value.split()])
        except ValueError:
            bad = next(u for u in value.split() if not u.lstrip("-").isdigit())
            raise DataError(f"{path}:{lineno}: utterance '{utt}': unit {bad!r} is not an integer") from None
    return out


def read_units_info(data_dir: PathLike, lang: str) -> dict[str, Any] | None:
    """Stage 4's ``units.<lang>.info`` of a dump dir, with its path under ``_path``, or None."""
    info = io_read_units_info(data_dir, lang)
    if info is not None:
        info["_path"] = str(Path(data_dir) / f"units.{lang}.info")
    return info


def resolve_block(block: dict[str, Any], infos: Sequence[dict[str, Any]], cls: type) -> dict[str, Any]:
    """Fill ``frame_rate``/``n_units`` of a vocoder block from units infos where the class takes them.

    Raises:
        DataError: infos that disagree with each other (units from different tokenizers).
        ConfigError: a value in the block that disagrees with the infos.
    """
    out = dict(block)
    params = inspect.signature(cls).parameters
    for key, info_key in (("frame_rate", "frame_rate"), ("n_units", "n_clusters"), ("dedup", "dedup")):
        values = {(float(i[info_key]) if key == "frame_rate" else i[info_key])
                  for i in infos if i.get(info_key) is not None}
        if len(values) > 1:
            where = ", ".join(f"{i['_path']}: {i.get(info_key)}" for i in infos)
            raise DataError(f"the units of the fit sets disagree on {info_key} ({where}); label them all with "
                            "one unit tokenizer fit")
        if not values:
            continue
        value = values.pop()
        if key == "dedup":
            frame_level = bool(getattr(cls, "needs_frame_units", lambda b: False)(block))
            if value and frame_level:
                hint = block.get("name") == "unit_hifigan" and not block.get("train")
                raise ConfigError(f"vocoder '{block.get('name')}' (as configured) needs frame-level units, but "
                                  "stage 4 de-duplicated them (dedup: true); relabel with dedup: false"
                                  + (", or set durations: predict" if hint else ""))
            continue
        if key not in params:
            continue
        given = out.get(key)
        if given is None:
            out[key] = value
        elif (abs(float(given) - float(value)) > 1e-6) if key == "frame_rate" else int(given) != int(value):
            raise ConfigError(f"vocoder.{key} is {given} but the units have {info_key} {value} "
                              f"({infos[0]['_path']}); remove vocoder.{key} or fix it")
    return out


# -- fit --------------------------------------------------------------------------------------------------

def _rank() -> int:
    """This process's rank in a distributed fit (``s2s launch``), else 0."""
    import os

    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))


def _fit_items(dirs: Sequence[PathLike], lang: str) -> list[tuple[DataDir, str, list[int]]]:
    """Every (dir, utterance, units) with audio in ``lang``; units must cover every utterance of each dir."""
    items: list[tuple[DataDir, str, list[int]]] = []
    seen: dict[str, str] = {}
    for d in dirs:
        dd = DataDir(d, lang)
        units_path = dd.path / f"units.{lang}"
        if not units_path.is_file():
            raise DataError(f"{units_path}: file not found; run stage 4 (s2s units label) on {dd.path} first")
        units = read_unit_lines(units_path)
        extra = sorted(set(units) - set(dd.utt_ids))
        if extra:
            raise DataError(f"{units_path}: utterance '{extra[0]}' is not in {dd.path} ({len(extra)} such)")
        missing = [u for u in dd.utt_ids if u not in units]
        if missing:
            raise DataError(f"{units_path}: utterance '{missing[0]}' of {dd.path} has no units line "
                            f"({len(missing)} missing); rerun stage 4 on {dd.path}")
        for utt in dd.utt_ids:
            lineno, seq = units[utt]
            if not seq:
                raise DataError(f"{units_path}:{lineno}: utterance '{utt}' has no units")
            if utt in seen:  # the same target utterance in two sets (e.g. one English text, two sources)
                continue
            seen[utt] = str(dd.path)
            items.append((dd, utt, seq))
    return items


def fit_vocoder(cfg: VocoderConfig, dirs: Sequence[PathLike], lang: str, exp_dir: PathLike) -> dict[str, Any]:
    """Fit (or import and check) the configured vocoder on the ``lang`` speech of ``dirs``; save it in ``exp_dir``.

    Returns:
        What is written to ``exp_dir/fit.json``.

    Raises:
        DataError: missing or inconsistent units, unreadable audio (file and utterance named).
        ConfigError: a vocoder block that disagrees with the units or cannot be built.
    """
    from tqdm import tqdm

    from s2s_plugin.registry import get_registry

    exp_dir = Path(exp_dir)
    (exp_dir / FIT_JSON).unlink(missing_ok=True)  # an interrupted refit must not look finished
    if not dirs:
        raise ConfigError("vocoder fit: give at least one dump/<set> directory")
    reg = get_registry()
    info, _ = reg.check("vocoder", cfg.vocoder, "vocoder")
    infos = [i for i in (read_units_info(d, lang) for d in dirs) if i is not None]
    block = resolve_block(cfg.vocoder, infos, info.cls)
    vocoder = reg.build("vocoder", block, "vocoder")
    cfg.synthesis.kwargs(vocoder)  # a synthesis option this vocoder cannot take fails before the fit
    items = _fit_items(dirs, lang)
    chosen = items
    if cfg.max_utts is not None and len(items) > cfg.max_utts:
        chosen = random.Random(cfg.seed).sample(items, cfg.max_utts)
        chosen.sort(key=lambda it: it[1])
    logger.info("vocoder fit: %r on %d of %d %s utterances of %s", vocoder, len(chosen), len(items), lang,
                " ".join(map(str, dirs)))
    counter = {"utterances": 0, "audio_seconds": 0.0}

    def examples() -> Iterator[tuple[np.ndarray, int, list[int]]]:
        interval = 1.0 if sys.stderr.isatty() else 30.0
        for dd, utt, seq in tqdm(chosen, desc="vocoder fit", unit="utt", mininterval=interval):
            wave, sr = dd.load_audio(utt, lang)
            counter["utterances"] += 1
            counter["audio_seconds"] += len(wave) / sr
            yield wave, sr, seq

    start = time.perf_counter()
    stats: dict[str, Any] = {}
    if getattr(vocoder, "trains", False):  # trains itself on the items (unit_hifigan with a train block)
        stats = dict(vocoder.fit_data(chosen, lang, exp_dir) or {})
        counter["utterances"] = stats.get("utterances", len(chosen))
        counter["audio_seconds"] = stats.get("audio_seconds", 0.0)
        if _rank() != 0:  # the other processes of a distributed fit write nothing
            return {"vocoder": block, "stats": stats}
    elif callable(getattr(vocoder, "fit", None)):
        try:
            stats = dict(vocoder.fit(examples()) or {})
        except DataError as e:
            raise DataError(f"vocoder fit: {e}") from None
    fit_s = time.perf_counter() - start
    vocoder.save(exp_dir)
    cfg.vocoder = block
    save_resolved(cfg, exp_dir)
    result = {"vocoder": block, "dirs": [str(d) for d in dirs], "lang": lang, "utterances_available": len(items),
              "utterances_used": counter["utterances"], "audio_seconds": counter["audio_seconds"],
              "fit_seconds": fit_s, "fit_rtf": fit_s / counter["audio_seconds"] if counter["audio_seconds"] else None,
              "fit_id": hashlib.sha1(f"{time.time_ns()}{block}".encode()).hexdigest()[:16], "stats": stats}
    with atomic_write(exp_dir / FIT_JSON) as f:  # last: marks a finished fit
        json.dump(result, f, indent=1, default=float)
    from humanfriendly import format_timespan

    logger.info("vocoder fit: %s on %d utterances (%s of audio) in %s; wrote %s", vocoder.name,
                counter["utterances"], format_timespan(counter["audio_seconds"]), format_timespan(fit_s), exp_dir)
    return result


# -- synthesis --------------------------------------------------------------------------------------------

def load_vocoder(exp_dir: PathLike) -> tuple[Any, VocoderConfig, dict[str, Any]]:
    """Rebuild the fitted vocoder of ``exp_dir``: ``(vocoder, config, fit.json contents)``.

    Raises:
        ConfigError: no finished fit in ``exp_dir``.
    """
    from s2s_plugin.config import from_dict
    from s2s_plugin.registry import get_registry

    exp_dir = Path(exp_dir)
    if not (exp_dir / FIT_JSON).is_file() or not (exp_dir / CONFIG_YAML).is_file():
        raise ConfigError(f"{exp_dir}: no finished vocoder fit ({FIT_JSON}, {CONFIG_YAML}); run "
                          f"`s2s vocoder fit --config conf/vocoder.yaml --dirs ... --exp {exp_dir}` first")
    cfg = from_dict(VocoderConfig, load_yaml(exp_dir / CONFIG_YAML), where=str(exp_dir / CONFIG_YAML))
    fit = json.loads((exp_dir / FIT_JSON).read_text(encoding="utf-8"))
    vocoder = get_registry().build("vocoder", cfg.vocoder, f"{exp_dir / CONFIG_YAML}:vocoder")
    vocoder.load(exp_dir)
    return vocoder, cfg, fit


def shards(out_dir: PathLike, nj: int) -> Shards:
    """The synthesis jobs of ``out_dir``: ``OUT/synth.split<nj>/<J>/``, logs in ``OUT/logs/synth.<J>.log``."""
    return Shards(Path(out_dir), "synth", nj, log=str(Path(out_dir) / "logs" / "synth.JOB.log"),
                  what="vocoder synth")


def _units_digest(units: dict[str, tuple[int, list[int]]]) -> str:
    h = hashlib.sha1()
    for utt in sorted(units):
        h.update(f"{utt} {' '.join(map(str, units[utt][1]))}\n".encode())
    return h.hexdigest()


def _write_wav(path: Path, wave: np.ndarray, fs: int) -> None:
    import soundfile as sf

    with atomic_write(path, "wb") as f:
        sf.write(f, np.clip(wave, -1.0, 1.0), fs, subtype="PCM_16", format="WAV")


def synthesis_options(cfg: VocoderConfig, overrides: Sequence[str] = ()) -> SynthesisOptions:
    """The fitted config's synthesis options with ``synthesis.<key>=<value>`` overrides applied.

    Raises:
        ConfigError: an override of anything but ``synthesis.*`` (that would need a refit), or a bad value.
    """
    from s2s_plugin.config import apply_overrides, from_dict

    bad = [o for o in overrides if not o.startswith("synthesis.")]
    if bad:
        raise ConfigError(f"s2s vocoder synth: '{bad[0]}' is not a synthesis option; only synthesis.* "
                          "(e.g. synthesis.speaker=3) can change at synthesis, the rest needs `s2s vocoder fit`")
    block = apply_overrides({"synthesis": dataclasses.asdict(cfg.synthesis)}, overrides)
    return from_dict(SynthesisOptions, block["synthesis"], where="synthesis")


def synth_job(exp_dir: PathLike, units_file: PathLike, out_dir: PathLike, nj: int = 1, job: int = 1,
              overrides: Sequence[str] = ()) -> dict:
    """Synthesise part ``job`` of ``nj`` of ``units_file`` into ``out_dir/wav/``.

    Args:
        exp_dir: the fitted vocoder's exp dir.
        units_file: ``utt u1 u2 ...`` lines.
        out_dir: where ``wav/`` and the job's files go.
        nj, job: this job's part of the sorted utterances.
        overrides: ``synthesis.<key>=<value>`` options for this synthesis (e.g. ``synthesis.speaker=3``).

    Returns:
        The job's done record (``out_dir/synth.split<nj>/<job>/done.json``).

    Raises:
        DataError: a malformed units file, or a unit outside the vocoder's range
            (file, line and utterance named).
    """
    from tqdm import tqdm

    from s2s_plugin.vocoder.common import resample

    out_dir, units_file = Path(out_dir), Path(units_file)
    units = read_unit_lines(units_file)
    ids = split_ids(sorted(units), nj, job)
    jobs = shards(out_dir, nj)
    jdir = jobs.begin(job)
    vocoder, cfg, fit = load_vocoder(exp_dir)
    options = synthesis_options(cfg, overrides)
    kwargs = options.kwargs(vocoder)
    n_units = getattr(vocoder, "n_units", None)
    logger.info("vocoder synth job %d/%d: %d of %d utterances of %s with %r%s -> %s/wav (%d Hz)", job, nj,
                len(ids), len(units), units_file, vocoder, "".join(f", {k}={v}" for k, v in kwargs.items()),
                out_dir, cfg.synth_fs)
    entries, empty = [], []
    synth_s = audio_s = 0.0
    interval = 1.0 if sys.stderr.isatty() else 30.0
    for utt in tqdm(ids, desc=f"vocoder synth {job}/{nj}", unit="utt", mininterval=interval):
        lineno, seq = units[utt]
        where = f"{units_file}:{lineno}: utterance '{utt}'"
        if not seq:
            wave = np.zeros(int(round(cfg.empty_seconds * cfg.synth_fs)), dtype=np.float32)
            empty.append(utt)
        else:
            bad = [u for u in seq if u < 0 or (n_units is not None and u >= n_units)]
            if bad:
                limit = f"0..{n_units - 1}" if n_units is not None else ">= 0"
                raise DataError(f"{where}: unit {bad[0]} at position {seq.index(bad[0])} is outside the "
                                f"vocoder's range {limit}; were these units made by the tokenizer the vocoder "
                                f"was fitted for ({exp_dir})?")
            t0 = time.perf_counter()
            try:
                wave, sr = vocoder.synthesize(np.asarray(seq, dtype=np.int64), **kwargs)
            except DataError as e:
                raise DataError(f"{where}: {e}") from None
            wave = resample(np.asarray(wave, dtype=np.float32), int(sr), cfg.synth_fs)
            synth_s += time.perf_counter() - t0
            audio_s += len(wave) / cfg.synth_fs
        path = out_dir / "wav" / f"{utt}.wav"
        _write_wav(path, wave, cfg.synth_fs)
        entries.append((utt, str(path)))
    with atomic_write(jdir / "wav.scp") as f:
        for utt, path in entries:
            f.write(f"{utt} {path}\n")
    stats = jobs.finish(job, ids, {**_options(units, fit), "synthesis options": dataclasses.asdict(options)},
                        {"units_file": str(units_file), "empty": empty, "audio_seconds": audio_s,  # last: complete
                         "synth_seconds": synth_s, "rtf": synth_s / audio_s if audio_s else None})
    if empty:
        logger.warning("vocoder synth job %d/%d: %d empty unit sequences got %.2f s of silence (e.g. %s)", job, nj,
                       len(empty), cfg.empty_seconds, empty[0])
    logger.info("vocoder synth job %d/%d: %d utterances, %.1f s of audio in %.1f s (RTF %.4f)", job, nj, len(ids),
                audio_s, synth_s, stats["rtf"] or 0.0)
    return stats


def _options(units: dict[str, tuple[int, list[int]]], fit: dict[str, Any]) -> dict[str, Any]:
    """What every synthesis job and the merge must agree on (besides the synthesis options)."""
    return {"units digest": _units_digest(units), "vocoder fit": fit.get("fit_id")}


def merge_synth(exp_dir: PathLike, units_file: PathLike, out_dir: PathLike, nj: int = 1) -> dict:
    """Check the ``nj`` jobs finished on these units with this fit; write ``out_dir/wav.scp`` and ``synth.json``.

    Raises:
        DataError: a job that did not finish (naming its log), or ran on other units, with another
            vocoder fit or with other synthesis options than job 1.
    """
    out_dir, units_file = Path(out_dir), Path(units_file)
    units = read_unit_lines(units_file)
    fit = json.loads((Path(exp_dir) / FIT_JSON).read_text(encoding="utf-8")) \
        if (Path(exp_dir) / FIT_JSON).is_file() else {}
    fit_id = fit.get("fit_id")
    split = shards(out_dir, nj)
    jobs = split.check(sorted(units), _options(units, fit))
    lines = []
    for j in range(1, nj + 1):
        lines.extend((split.dir(j) / "wav.scp").read_text(encoding="utf-8").splitlines(keepends=True))
    with atomic_write(out_dir / "wav.scp") as f:
        f.writelines(lines)
    audio_s = sum(s["audio_seconds"] for s in jobs)
    synth_s = sum(s["synth_seconds"] for s in jobs)
    summary = {"units_file": str(units_file), "exp_dir": str(exp_dir), "fit_id": fit_id, "nj": nj,
               "synthesis": jobs[0]["options"]["synthesis options"] if jobs else None,
               "utterances": len(lines), "empty": [u for s in jobs for u in s["empty"]],
               "audio_seconds": audio_s, "synth_seconds": synth_s, "rtf": synth_s / audio_s if audio_s else None}
    with atomic_write(out_dir / "synth.json") as f:
        json.dump(summary, f, indent=1)
    logger.info("vocoder synth merge: wrote %s (%d utterances, %.1f s of audio, RTF %.4f per job)",
                out_dir / "wav.scp", len(lines), audio_s, summary["rtf"] or 0.0)
    return summary


def synth_all(exp_dir: PathLike, units_file: PathLike, out_dir: PathLike, nj: int = 1,
              overrides: Sequence[str] = (), mode: JobMode | None = None) -> dict | None:
    """Synthesise ``units_file`` as ``nj`` jobs, then merge; ``mode`` says how (:func:`s2s_plugin.jobs.run_stage`).

    Without ``mode`` all ``nj`` jobs run one after another in this process.

    Returns:
        The merge's summary (None for one job).
    """
    mode = mode or JobMode(nj)
    split = shards(out_dir, mode.nj)
    return run_stage(mode, [split], lambda j: synth_job(exp_dir, units_file, out_dir, mode.nj, j, overrides),
                     lambda: merge_synth(exp_dir, units_file, out_dir, mode.nj), split.log)
