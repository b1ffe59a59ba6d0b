"""Stage 4, unit extraction: fit a unit tokenizer on a portion of the data, label every set.

    from s2s_plugin.units.stage import UnitsConfig, fit_units, label_job, merge_labels, unit_stats

    cfg = load_config(UnitsConfig, "conf/units.yaml", ["tokenizer.n_clusters=64"])
    fit_units(cfg, ["dump/train_fr", "dump/train_es"], ["fr", "es", "en"], "exp/units")
    label_job("exp/units", "dump/test_fr", nj=2, job=1)    # ... and job=2, then
    merge_labels("exp/units", "dump/test_fr", nj=2)        # dump/test_fr/units.fr, units.en (+ .info)

The fit reads the ``fit`` portion (a seeded random share of the utterances of
every set and language given, optionally capped in hours), streams their
features into the tokenizer's ``fit`` and writes into the exp dir::

    exp/units/
      units.yaml       tokenizer block, frame rate, feature dim, clusters, dedup, fit id (written last)
      centres.npy      the k-means centres (built-ins; a plugin saves what it needs)
      fit.json         fit time, extraction time, peak memory, frames and audio seen
      fit.log          the log of the fit
      config.yaml, plugins.yaml   the resolved config and plugin versions

Labelling job ``j`` of ``n`` takes the contiguous part ``j`` of the sorted ids
(``utils/split_scp.sh``'s contract) and writes ``DIR/units.split<n>/<j>/units.<lang>``
and, last, its ``done.json`` (:class:`s2s_plugin.jobs.Shards`; ``label_dir(...,
mode=JobMode(nj, cmd="utils/run.pl"))`` runs the jobs through a job runner, logs in
``DIR/logs/units.<j>.log``); the merge checks every job ran with the same fit, then
writes ``DIR/units.<lang>`` (``utt u1 u2 ...``) and ``DIR/units.<lang>.info``
(frame rate, tokenizer, dedup, real-time factor), each through a temporary file.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import resource
import sys
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from s2s_plugin.config import component, save_resolved
from s2s_plugin.data.datadir import DataDir, audio_info, split_ids
from s2s_plugin.data.io import PathLike, atomic_write, iter_kaldi_lines, read_units
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.jobs import JobMode, Shards, run_stage
from s2s_plugin.units.kmeans import dedup as dedup_units
from s2s_plugin.units.layout import FIT_JSON, UNITS_YAML

logger = logging.getLogger(__name__)



@dataclass
class FitConfig:
    """Which utterances the k-means is fitted on, and how they are streamed.

    Attributes:
        share: the share of all (set, language, utterance) items drawn at random, in (0, 1].
        max_hours: stop adding drawn items once this much audio is selected (null: no cap).
        seed: seeds the draw and the order the items are streamed in, each epoch.
        cache: keep the first pass's features in a file in the exp dir and read the
            later passes (epochs) from it instead of extracting again; memory stays
            bounded, disk use is frames x dim x 4 bytes; the file is removed after the fit.
    """

    share: float = 1.0
    max_hours: float | None = None
    seed: int = 0
    cache: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ConfigError(f"fit.share must be in (0, 1], got {self.share}")
        if self.max_hours is not None and self.max_hours <= 0:
            raise ConfigError(f"fit.max_hours must be positive or null, got {self.max_hours}")


@dataclass
class UnitsConfig:
    """The schema of ``conf/units.yaml``.

    Example::

        tokenizer: {name: mfcc_kmeans, n_clusters: 200, frame_shift_ms: 20.0}
        fit: {share: 0.5, max_hours: null, seed: 0, cache: false}
        dedup: false

    Attributes:
        tokenizer: the unit tokenizer block (``s2s plugins --kind unit_tokenizer``).
        fit: the fit portion.
        dedup: collapse runs of a repeated unit when labelling (the paper does not).
    """

    tokenizer: dict = component("unit_tokenizer")
    fit: FitConfig = field(default_factory=FitConfig)
    dedup: bool = False


@dataclass(frozen=True)
class Item:
    """One utterance in one language of one set: a unit of the fit portion."""

    dir: str
    lang: str
    utt: str
    seconds: float


# -- fit --------------------------------------------------------------------------------------------------

def durations(dd: DataDir, lang: str) -> dict[str, float]:
    """Seconds per utterance: ``utt2dur.<lang>`` when present (stage 2 writes it), else audio headers."""
    path = dd.path / f"utt2dur.{lang}"
    if path.is_file():
        out = {}
        for lineno, utt, value in iter_kaldi_lines(path):
            try:
                out[utt] = float(value)
            except ValueError:
                raise DataError(f"{path}:{lineno}: utterance '{utt}': duration {value!r} is not a number") from None
        missing = [u for u in dd.utt_ids if u not in out]
        if missing:
            raise DataError(f"{path}: utterance '{missing[0]}' is missing ({len(missing)} missing)")
        return out
    out = {}
    for utt in dd.utterances(lang):
        if utt.segment is not None:
            out[utt.utt_id] = utt.segment.duration
        else:
            frames, fs = audio_info(utt.audio)
            out[utt.utt_id] = frames / fs
    return out


def open_dirs(dirs: Sequence[PathLike], langs: Sequence[str] | None,
              tgt_lang: str = "en") -> list[tuple[DataDir, list[str]]]:
    """Each data dir with the languages of ``langs`` it has (all its languages when ``langs`` is None).

    Raises:
        DataError: a dir with none of ``langs``, or a language in none of the dirs.
    """
    out = []
    for d in dirs:
        dd = DataDir(d, tgt_lang)
        here = list(dd.langs) if not langs else [lang for lang in langs if lang in dd.langs]
        if not here:
            raise DataError(f"{dd.path}: has none of the languages {' '.join(langs or [])} "
                            f"(it has {' '.join(dd.langs)})")
        out.append((dd, here))
    for lang in langs or []:
        if not any(lang in here for _, here in out):
            raise DataError(f"language '{lang}' is in none of the directories {' '.join(map(str, dirs))}")
    return out


def select_portion(items: list[Item], portion: FitConfig) -> list[Item]:
    """A seeded random share of ``items``, capped at ``max_hours``, in the drawn order."""
    rng = np.random.default_rng(portion.seed)
    order = rng.permutation(len(items))
    chosen = [items[i] for i in order[:max(1, math.ceil(portion.share * len(items)))]]
    if portion.max_hours is not None:
        limit, total, capped = portion.max_hours * 3600, 0.0, []
        for it in chosen:
            if total >= limit:
                break
            capped.append(it)
            total += it.seconds
        chosen = capped
    return chosen


class FeatureStream:
    """Re-iterable features of a list of items, one utterance at a time.

    Pass 1 streams the items in the given order, later passes in a seeded
    permutation. Each pass reads the audio and extracts again, unless ``cache``
    names a file: then pass 1 also appends its features there (raw float32) and
    later passes read them back, one utterance at a time. Counts the time spent
    reading audio and extracting features.
    """

    def __init__(self, items: list[Item], tokenizer: Any, dirs: dict[str, DataDir], seed: int = 0,
                 cache: Path | None = None) -> None:
        self.items, self.tokenizer, self.dirs, self.seed, self.cache = items, tokenizer, dirs, seed, cache
        self.passes = 0
        self.extract_seconds = 0.0
        self.audio_seconds = 0.0
        self.cache_bytes = 0
        self._index: list[tuple[int, int, int]] = []  # per item: byte offset, frames, dim

    def __iter__(self) -> Iterator[np.ndarray]:
        from tqdm import tqdm

        order = range(len(self.items))
        if self.passes:
            order = np.random.default_rng([self.seed, self.passes]).permutation(len(self.items))
        self.passes += 1
        interval = 1.0 if sys.stderr.isatty() else 30.0
        if self.cache is not None and self.passes > 1:
            progress = tqdm(order, desc=f"fit pass {self.passes}", unit="utt", mininterval=interval)
            if len(self._index) != len(self.items):
                raise RuntimeError("the feature cache is incomplete: the first pass did not finish")
            with open(self.cache, "rb") as f:
                for i in progress:
                    offset, frames, dim = self._index[i]
                    f.seek(offset)
                    yield np.fromfile(f, dtype=np.float32, count=frames * dim).reshape(frames, dim)
            return
        progress = tqdm(total=len(order), desc=f"fit pass {self.passes}", unit="utt", mininterval=interval)
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(self.cache, "wb")) if self.cache is not None else None
            window = READ_WINDOW * extract_batch_size(self.tokenizer)
            order = list(order)
            for start in range(0, len(order), window):
                part = order[start:start + window]
                for feats in self._extract([self.items[i] for i in part]):
                    progress.update(1)
                    if out is not None:
                        feats = np.ascontiguousarray(feats, dtype=np.float32)
                        self._index.append((self.cache_bytes, *feats.shape))
                        out.write(feats.tobytes())
                        self.cache_bytes += feats.nbytes
                    yield feats
            progress.close()

    def _extract(self, items: list[Item]) -> list[np.ndarray]:
        """Features of ``items`` in order, through the tokenizer's batched extraction when it has one."""
        t0 = time.perf_counter()
        waves = [self.dirs[it.dir].load_audio(it.utt, it.lang) for it in items]
        try:
            out = features_batch(self.tokenizer, waves)
        except DataError as e:
            i = getattr(e, "index", 0 if len(items) == 1 else None)
            where = (f"{items[i].dir}: utterance '{items[i].utt}' ({items[i].lang})" if i is not None else
                     f"{items[0].dir}: one of the utterances {', '.join(it.utt for it in items)}")
            raise DataError(f"{where}: {e}") from None
        for it, feats in zip(items, out):
            if np.ndim(feats) != 2:
                raise DataError(f"{it.dir}: utterance '{it.utt}' ({it.lang}): features of shape {np.shape(feats)}, "
                                f"expected (frames, dim)")
        self.extract_seconds += time.perf_counter() - t0
        self.audio_seconds += sum(len(wav) / sr for wav, sr in waves)
        return out


#: Utterances read at once, in units of the tokenizer's extraction batch: they are sorted by length
#: into batches, so a wider window wastes less padding; the memory held is that many utterances.
READ_WINDOW = 4


def extract_batch_size(tok: Any) -> int:
    """Utterances a tokenizer extracts per forward pass (1 for a plugin without ``features_batch``)."""
    if getattr(tok, "features_batch", None) is None:
        return 1
    return max(1, int(getattr(tok, "extract_batch_size", 1)))


def features_batch(tok: Any, waves: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """``tok.features_batch(waves)`` when the tokenizer has it, else ``tok.features`` one by one."""
    return _batched(tok, "features", waves)


def _batched(tok: Any, method: str, waves: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """``tok.<method>_batch(waves)`` when the tokenizer has it, else ``tok.<method>`` per wave; a
    failing wave's :class:`DataError` carries its index in the batch (``e.index``)."""
    batch = getattr(tok, f"{method}_batch", None)
    if batch is not None:
        return list(batch(waves))
    one, out = getattr(tok, method), []
    for i, (wav, sr) in enumerate(waves):
        try:
            out.append(one(wav, sr))
        except DataError as e:
            e.index = i
            raise
    return out


def _rss_bytes() -> int:
    """The current resident set size of this process."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def peak_rss_bytes() -> int:
    """The peak resident set size of this process so far (``getrusage``).

    Linux updates the high-water mark lazily (per-thread RSS counters are
    batched), so it can trail the current RSS read from /proc: take the larger.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(peak if sys.platform == "darwin" else peak * 1024, _rss_bytes())


def _warm_up(tok: Any) -> None:
    """Load the tokenizer's model and the libraries it imports, so memory and time measure the work."""
    import sklearn.cluster  # noqa: F401 - the built-ins' k-means

    tok.features(np.zeros(16000, dtype=np.float32), 16000)


def fit_units(cfg: UnitsConfig, dirs: Sequence[PathLike], langs: Sequence[str] | None, exp_dir: PathLike,
              tgt_lang: str = "en") -> dict[str, Any]:
    """Fit ``cfg.tokenizer`` on the ``cfg.fit`` portion of ``dirs``/``langs``; save it in ``exp_dir``.

    Returns:
        The statistics written to ``exp_dir/fit.json``.

    Raises:
        ConfigError, PluginError: a bad tokenizer block or model path (before any work).
        DataError: bad data (naming the file and utterance), or too few frames for the clusters.
    """
    from humanfriendly import format_size, format_timespan

    from s2s_plugin.registry import get_registry

    exp_dir = Path(exp_dir)
    tok = get_registry().build("unit_tokenizer", cfg.tokenizer, "tokenizer")
    opened = open_dirs(dirs, langs, tgt_lang)
    (exp_dir / UNITS_YAML).unlink(missing_ok=True)
    items = [Item(str(dd.path), lang, utt, sec) for dd, here in opened for lang in here
             for utt, sec in sorted(durations(dd, lang).items())]
    chosen = select_portion(items, cfg.fit)
    hours = sum(it.seconds for it in chosen) / 3600
    logger.info("units fit: %s on %d of %d utterances (%s of audio) from %s", tok, len(chosen), len(items),
                format_timespan(hours * 3600), ", ".join(f"{dd.path} [{' '.join(h)}]" for dd, h in opened))
    exp_dir.mkdir(parents=True, exist_ok=True)
    cache = exp_dir / ".features.cache" if cfg.fit.cache else None
    stream = FeatureStream(chosen, tok, {str(dd.path): dd for dd, _ in opened}, cfg.fit.seed, cache)
    result = {"tokenizer": dict(cfg.tokenizer), "utterances": len(chosen), "utterances_available": len(items),
              "audio_hours_per_pass": hours, **_measured_fit(tok, stream)}
    tok.save(exp_dir)
    with atomic_write(exp_dir / FIT_JSON) as f:
        json.dump(result, f, indent=1, default=float)
    save_resolved(cfg, exp_dir)
    info = {"tokenizer": dict(cfg.tokenizer), "frame_rate": result["frame_rate"], "n_clusters": int(tok.n_clusters),
            "feature_dim": result.get("feature_dim"), "dedup": cfg.dedup, "tgt_lang": tgt_lang,
            "fit_id": uuid.uuid4().hex, "fit_dirs": [str(dd.path) for dd, _ in opened],
            "fit_langs": sorted({lang for _, h in opened for lang in h})}
    with atomic_write(exp_dir / UNITS_YAML) as f:  # last: marks a finished fit
        yaml.safe_dump(info, f, sort_keys=False)
    logger.info("units fit: %d frames in %s (features %s, RTF %.3f); peak memory: process %s (%s at start), "
                "Python/numpy heap during the fit %s; wrote %s", result.get("frames", 0),
                format_timespan(result["fit_seconds"]), format_timespan(stream.extract_seconds),
                result["extraction_rtf"], format_size(result["peak_rss_bytes"]),
                format_size(result["rss_at_start_bytes"]), format_size(result["traced_peak_bytes"]),
                exp_dir / UNITS_YAML)
    return result


def _measured_fit(tok: Any, stream: FeatureStream) -> dict[str, Any]:
    """Run ``tok.fit(stream)``; return its statistics with the time and memory it took."""
    t0 = time.perf_counter()
    _warm_up(tok)
    setup_seconds = time.perf_counter() - t0
    rss0 = _rss_bytes()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        stats = dict(tok.fit(stream) or {})
        fit_seconds = time.perf_counter() - t0
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        if stream.cache is not None:
            stream.cache.unlink(missing_ok=True)
    return {"passes": stream.passes, "setup_seconds": setup_seconds, "fit_seconds": fit_seconds,
            "extract_seconds": stream.extract_seconds, "extracted_audio_seconds": stream.audio_seconds,
            "extraction_rtf": stream.extract_seconds / max(stream.audio_seconds, 1e-9),
            "cache_bytes": stream.cache_bytes, "rss_at_start_bytes": rss0, "peak_rss_bytes": peak_rss_bytes(),
            "traced_peak_bytes": traced_peak, "frame_rate": float(tok.frame_rate), **stats}


# -- label ------------------------------------------------------------------------------------------------

def read_units_yaml(exp_dir: PathLike) -> dict[str, Any]:
    """The ``units.yaml`` a finished fit wrote.

    Raises:
        DataError: no finished fit in ``exp_dir``.
    """
    path = Path(exp_dir) / UNITS_YAML
    if not path.is_file():
        raise DataError(f"{path} not found: no finished unit tokenizer fit in {exp_dir}; run "
                        f"`s2s units fit --config conf/units.yaml --dirs ... --exp {exp_dir}` first")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_tokenizer(exp_dir: PathLike) -> tuple[Any, dict[str, Any]]:
    """The fitted (or imported) tokenizer of ``exp_dir`` and its ``units.yaml``.

    Raises:
        DataError: no finished fit, or an imported k-means whose recorded layer or model differs
            from what the tokenizer block loads now (:func:`s2s_plugin.units.peer.check_model_record`).
    """
    from s2s_plugin.registry import get_registry

    from s2s_plugin.units.peer import check_model_record

    info = read_units_yaml(exp_dir)
    tok = get_registry().build("unit_tokenizer", info["tokenizer"], f"{Path(exp_dir) / UNITS_YAML}:tokenizer")
    check_model_record(info, exp_dir)  # an imported k-means: still the layer and model it was fitted on
    tok.load(exp_dir)
    return tok, info


def shards(data_dir: PathLike, nj: int) -> Shards:
    """The labelling jobs of ``data_dir`` split ``nj`` ways: ``DIR/units.split<nj>/<J>/``, logs in ``DIR/logs/``."""
    return Shards(Path(data_dir), "units", nj, log=str(Path(data_dir) / "logs" / "units.JOB.log"), what="units")


def _options(info: dict[str, Any], dedup: bool, langs: Sequence[str]) -> dict[str, Any]:
    """What every labelling job and the merge must agree on."""
    return {"unit tokenizer fit": info["fit_id"], "dedup": dedup, "languages": list(langs)}


def label_job(exp_dir: PathLike, data_dir: PathLike, langs: Sequence[str] | None = None, nj: int = 1,
              job: int = 1, dedup: bool | None = None, tgt_lang: str | None = None) -> dict[str, dict]:
    """Label part ``job`` of ``nj`` of ``data_dir`` in each language with the tokenizer of ``exp_dir``.

    Removes ``units.<lang>`` and its ``.info`` first: they reappear only through a complete merge.

    Args:
        dedup: collapse repeated units; default: the fit config's ``dedup``.
        tgt_lang: the target language of ``data_dir``; default: the fit's.

    Returns:
        Per language, the job's statistics (also in its ``done.json``).

    Raises:
        DataError: unreadable audio or an utterance too short for one frame (naming it).
    """
    from humanfriendly import format_timespan

    tok, info = load_tokenizer(exp_dir)
    dedup = info.get("dedup", False) if dedup is None else dedup
    dd = DataDir(data_dir, tgt_lang or info.get("tgt_lang", "en"))
    langs = _check_langs(dd, langs)
    jobs = shards(dd.path, nj)
    jdir = jobs.begin(job)
    for lang in langs:
        for stale in (dd.path / f"units.{lang}", dd.path / f"units.{lang}.info"):
            stale.unlink(missing_ok=True)
    _warm_up(tok)  # load the model now: the real-time factor measures extraction only
    ids = split_ids(dd.utt_ids, nj, job)
    out = {}
    for lang in langs:
        stats = _label_lang(tok, dd, lang, ids, jdir / f"units.{lang}", dedup, f"units {lang} {job}/{nj}")
        logger.info("units %s job %d/%d: %d utterances, %s of audio -> %d units in %s (RTF %.3f)", lang, job, nj,
                    len(ids), format_timespan(stats["audio_seconds"]), stats["units"],
                    format_timespan(stats["process_seconds"]),
                    stats["process_seconds"] / max(stats["audio_seconds"], 1e-9))
        out[lang] = stats
    jobs.finish(job, ids, _options(info, dedup, langs), {"per_language": out})  # last: marks the job complete
    return out


def _label_lang(tok: Any, dd: DataDir, lang: str, ids: Sequence[str], path: Path, dedup: bool,
                desc: str) -> dict[str, float | int]:
    """Write ``utt u1 u2 ...`` for ``ids`` in ``lang`` to ``path``; return the counts and timings.

    ``process_seconds`` counts reading the audio, extracting features and quantising them.
    """
    from tqdm import tqdm

    audio_s = proc_s = 0.0
    frames = units = 0
    interval = 1.0 if sys.stderr.isatty() else 30.0
    window = READ_WINDOW * extract_batch_size(tok)
    with atomic_write(path) as f, tqdm(total=len(ids), desc=desc, unit="utt", mininterval=interval) as progress:
        for start in range(0, len(ids), window):
            part = ids[start:start + window]
            t0 = time.perf_counter()
            waves = [dd.load_audio(utt, lang) for utt in part]
            try:
                seqs = encode_batch(tok, waves)
            except DataError as e:
                i = getattr(e, "index", 0 if len(part) == 1 else None)
                where = f"utterance '{part[i]}'" if i is not None else f"one of the utterances {', '.join(part)}"
                raise DataError(f"{dd.path}/wav.scp.{lang}: {where}: {e}") from None
            proc_s += time.perf_counter() - t0
            for utt, (wav, sr), seq in zip(part, waves, seqs):
                seq = np.asarray(seq)
                audio_s += len(wav) / sr
                frames += len(seq)
                if dedup:
                    seq = dedup_units(seq)
                if len(seq) == 0:
                    raise DataError(f"{dd.path}/wav.scp.{lang}: utterance '{utt}' ({len(wav) / sr:.3f} s) gave "
                                    f"no units; remove it (stage 2's min_duration) or check its audio")
                units += len(seq)
                f.write(f"{utt} {' '.join(map(str, seq.tolist()))}\n")
            progress.update(len(part))
    return {"audio_seconds": audio_s, "process_seconds": proc_s, "frames": frames, "units": units}


def encode_batch(tok: Any, waves: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """``tok.encode_batch(waves)`` when the tokenizer has it, else ``tok.encode`` one by one."""
    return _batched(tok, "encode", waves)


def _check_langs(dd: DataDir, langs: Sequence[str] | None) -> list[str]:
    langs = list(langs) if langs else list(dd.langs)
    for lang in langs:
        if lang not in dd.langs:
            raise DataError(f"{dd.path}: no language '{lang}' (it has {' '.join(dd.langs)})")
    return langs


def merge_labels(exp_dir: PathLike, data_dir: PathLike, langs: Sequence[str] | None = None, nj: int = 1,
                 dedup: bool | None = None, tgt_lang: str | None = None) -> dict[str, dict]:
    """Concatenate the ``nj`` jobs into ``data_dir/units.<lang>`` and write ``units.<lang>.info``.

    Returns:
        Per language, the ``.info`` contents.

    Raises:
        DataError: a job that did not finish (naming its log), or ran with another fit, dedup
            setting, languages or id list.
    """
    info = read_units_yaml(exp_dir)
    dedup = info.get("dedup", False) if dedup is None else dedup
    dd = DataDir(data_dir, tgt_lang or info.get("tgt_lang", "en"))
    langs = _check_langs(dd, langs)
    split = shards(dd.path, nj)
    records = split.check(dd.utt_ids, _options(info, dedup, langs))
    out = {}
    for lang in langs:
        jobs = [rec["per_language"][lang] for rec in records]
        target = dd.path / f"units.{lang}"
        with atomic_write(target) as f:
            for j in range(1, nj + 1):
                with open(split.dir(j) / f"units.{lang}", encoding="utf-8") as part:
                    for line in part:
                        f.write(line)
        audio_s = sum(s["audio_seconds"] for s in jobs)
        proc_s = sum(s["process_seconds"] for s in jobs)
        units = sum(s["units"] for s in jobs)
        summary = {"units_file": str(target), "lang": lang, "exp_dir": str(exp_dir), "fit_id": info["fit_id"],
                   "tokenizer": info["tokenizer"], "frame_rate": info["frame_rate"],
                   "n_clusters": info["n_clusters"], "dedup": dedup, "utterances": len(dd),
                   "audio_seconds": audio_s, "frames": sum(s["frames"] for s in jobs), "units": units,
                   "units_per_second": units / max(audio_s, 1e-9), "nj": nj, "process_seconds": proc_s,
                   "rtf": proc_s / max(audio_s, 1e-9)}
        with atomic_write(dd.path / f"units.{lang}.info") as f:
            yaml.safe_dump(summary, f, sort_keys=False)
        logger.info("units merge: wrote %s: %d utterances, %d units, %.2f units/s, extraction RTF %.3f (per job, "
                    "one process each)", target, len(dd), units, summary["units_per_second"], summary["rtf"])
        out[lang] = summary
    return out


def label_dir(exp_dir: PathLike, data_dir: PathLike, langs: Sequence[str] | None = None, nj: int = 1,
              dedup: bool | None = None, tgt_lang: str | None = None,
              mode: JobMode | None = None) -> dict[str, dict] | None:
    """Label ``data_dir`` as ``nj`` jobs, then merge; ``mode`` says how (:func:`s2s_plugin.jobs.run_stage`).

    Without ``mode`` all ``nj`` jobs run one after another in this process.

    Returns:
        The merge's ``.info`` contents per language (None for one job).
    """
    mode = mode or JobMode(nj)
    split = shards(data_dir, mode.nj)
    return run_stage(mode, [split], lambda j: label_job(exp_dir, data_dir, langs, mode.nj, j, dedup, tgt_lang),
                     lambda: merge_labels(exp_dir, data_dir, langs, mode.nj, dedup, tgt_lang), split.log)


# -- statistics ---------------------------------------------------------------------------------------------

def unit_stats(data_dir: PathLike, langs: Sequence[str] | None = None, tgt_lang: str = "en",
               spm: Any = None) -> list[dict[str, Any]]:
    """Unit rate and units per text token of each language of a set with ``units.<lang>``.

    Text tokens are counted three ways: words (whitespace-split), characters
    (without spaces), and, with a sentencepiece processor ``spm``, its pieces
    (the paper's ratios are per LLM BPE token).

    Returns:
        One row per language: set, lang, side, utterances, hours, units, words, chars,
        units_per_second, units_per_word, units_per_char, distinct_units (and bpe,
        units_per_bpe with ``spm``).
    """
    dd = DataDir(data_dir, tgt_lang)
    rows = []
    for lang in _check_langs(dd, langs):
        units = read_units(dd.path / f"units.{lang}")
        missing = [u for u in dd.utt_ids if u not in units]
        if missing:
            raise DataError(f"{dd.path}/units.{lang}: utterance '{missing[0]}' has no units ({len(missing)} "
                            f"missing); rerun `s2s units label`")
        secs = durations(dd, lang)
        text = {u: dd.utterance(u, lang).text for u in dd.utt_ids}
        n_units = sum(len(units[u]) for u in dd.utt_ids)
        words = sum(len(text[u].split()) for u in dd.utt_ids)
        chars = sum(len("".join(text[u].split())) for u in dd.utt_ids)
        seconds = sum(secs[u] for u in dd.utt_ids)
        row = {"set": dd.path.name, "lang": lang, "side": "target" if lang == dd.tgt_lang else "source",
               "utterances": len(dd), "hours": seconds / 3600, "units": n_units, "words": words, "chars": chars,
               "distinct_units": len({x for u in dd.utt_ids for x in units[u]})}
        if spm is not None:
            row["bpe"] = sum(len(spm.encode(text[u])) for u in dd.utt_ids)
        rows.append(with_ratios(row))
    return rows


def with_ratios(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` plus units per second, per word, per character (and per BPE piece when counted)."""
    row = dict(row)
    row["units_per_second"] = row["units"] / max(row["hours"] * 3600, 1e-9)
    for key in ("word", "char", "bpe"):
        count = row.get("bpe" if key == "bpe" else f"{key}s")
        if count is not None:
            row[f"units_per_{key}"] = row["units"] / max(count, 1)
    return row


def pool_by_side(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per side (source, target) summing the counts of ``rows``, with its ratios."""
    out = []
    for side in ("source", "target"):
        part = [r for r in rows if r["side"] == side]
        if not part:
            continue
        pooled = {"set": "(all)", "lang": ",".join(sorted({r["lang"] for r in part})), "side": side}
        for key in ("utterances", "hours", "units", "words", "chars", "bpe"):
            if all(key in r for r in part):
                pooled[key] = sum(r[key] for r in part)
        pooled["distinct_units"] = max(r["distinct_units"] for r in part)  # a lower bound over the union
        out.append(with_ratios(pooled))
    return out


__all__ = ["UnitsConfig", "FitConfig", "fit_units", "label_job", "merge_labels", "label_dir", "unit_stats",
           "pool_by_side",
           "load_tokenizer", "read_units", "select_portion", "UNITS_YAML", "FIT_JSON"]
