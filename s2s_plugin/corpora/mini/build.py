"""Make the mini corpus on disk: speech sets and the text-only corpus.

    from s2s_plugin.corpora.mini.build import build_corpus
    from s2s_plugin.corpora.mini.config import load_mini_config

    build_corpus(load_mini_config("conf/corpus.yaml"), out="data", nj=2)

Output (``<out>`` is usually the recipe's ``data/``)::

    <out>/train_fr/            one dir per set: train_<src>, dev_<src>, test_<src>
        text.fr  text.en       utt words... (normalised, see grammar.py)
        wav.scp.fr wav.scp.en  utt /abs/path/<out>/train_fr/wav/<lang>/<utt>.wav
        utt2spk  spk2utt       speaker = the source voice id (e.g. fr_m1)
        oracle.fr.ctm          utt 1 start dur word: espeak's word timings in seconds,
        oracle.en.ctm          relative to the utterance's own wav
        wav/fr/*.wav wav/en/*.wav   16-bit PCM mono at espeak's 22050 Hz
        corpus.yaml            what made the set (compared on rerun)
    <out>/lm_text/
        train/text.{fr,es,pt,en}   the text-only corpus: every id in all four languages, so
        dev/text.{fr,es,pt,en}     text.<src> + text.en are translation pairs and each file is monolingual text
        corpus.yaml

Utterance ids are ``<speaker>-<src>-<index>`` (index in the set, 6 digits),
shared by the source and the English side. Source speakers take turns; the
English side is spoken by the target voice(s) in turn.

Held-out sentences: a sentence structure belongs to dev, test or train by a
fixed hash of its key (:func:`~s2s_plugin.corpora.mini.grammar.region`);
train sets and the text corpus draw only from the train part and also reject
any sentence whose text, in any language, is the text of a dev/test sentence
(different structures can read alike, e.g. English "you" for tu and vous).
:func:`check_disjoint` asserts it before anything is written.

Every set is built in a hidden temporary dir and renamed into place when
complete; a finished set is skipped on rerun if it was made with the same
config, and is an error (``overwrite`` replaces it) if not.
"""
from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import queue as queue_mod
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from s2s_plugin.corpora.mini.config import MiniCorpusConfig, VoiceConfig
from s2s_plugin.corpora.mini.grammar import realise, region, sample_sentence
from s2s_plugin.corpora.mini.lexicon import LANGS, SOURCE_LANGS
from s2s_plugin.data.io import WordSpan, atomic_write, write_ctm, write_kaldi_text
from s2s_plugin.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Bump when the grammar, the lexicon or the synthesis changes what a config produces.
CORPUS_VERSION = 1
TARGET_LANG = "en"
SPLITS = ("train", "dev", "test")
#: Word events closer than this to the previous one are merged into its word (see espeak.word_spans).
MIN_WORD_SECONDS = 0.03


@dataclass(frozen=True)
class Utterance:
    """One planned utterance: the same sentence in the source language and in English."""

    utt_id: str
    src_lang: str
    src_text: str
    en_text: str
    speaker: VoiceConfig
    target_voice: VoiceConfig


@dataclass
class Plan:
    """Everything the corpus will hold, before any audio.

    Attributes:
        speech: set name (``train_fr``) -> utterances, sorted by id.
        text: split (``train``/``dev``) -> language -> {id: text}; ``None`` when not planned.
        heldout: language -> every dev/test text in that language (from any source's sets).
    """

    speech: dict[str, list[Utterance]]
    text: dict[str, dict[str, dict[str, str]]] | None
    heldout: dict[str, set[str]]


# -- planning (text only, fast) -----------------------------------------------------------------

def _draw(rng: random.Random, n: int, want: str, cfg: MiniCorpusConfig, langs: tuple[str, ...],
          banned: dict[str, set[str]], exclude_keys: set[str], where: str) -> list[tuple[str, dict[str, str]]]:
    """``n`` distinct sentences from region ``want``, none of whose texts is banned in its language."""
    out: list[tuple[str, dict[str, str]]] = []
    seen = set(exclude_keys)
    attempts, limit = 0, 200 * n + 10000
    while len(out) < n:
        attempts += 1
        if attempts > limit:
            raise ConfigError(f"{where}: could not draw {n} distinct sentences (got {len(out)}); "
                              f"ask for fewer or raise heldout_fraction")
        s = sample_sentence(rng)
        key = s.key()
        if key in seen or region(key, cfg.heldout_fraction) != want:
            continue
        texts = {lang: realise(s, lang) for lang in langs}
        if any(texts[lang] in banned.get(lang, ()) for lang in langs):
            continue
        seen.add(key)
        out.append((key, texts))
    return out


def _rng(cfg: MiniCorpusConfig, *purpose: str) -> random.Random:
    return random.Random(":".join([str(cfg.seed), *purpose]))  # a str seed hashes the same in every run


def _utterances(cfg: MiniCorpusConfig, lang: str, drawn: list[tuple[str, dict[str, str]]]) -> list[Utterance]:
    voices, targets = cfg.sources[lang].voices, cfg.target.voices
    utts = [Utterance(f"{voices[i % len(voices)].id}-{lang}-{i:06d}", lang, texts[lang], texts[TARGET_LANG],
                      voices[i % len(voices)], targets[i % len(targets)])
            for i, (_, texts) in enumerate(drawn)]
    return sorted(utts, key=lambda u: u.utt_id)


def source_langs(cfg: MiniCorpusConfig) -> list[str]:
    """The configured source languages in a fixed order (the order in the file does not matter)."""
    return [lang for lang in SOURCE_LANGS if lang in cfg.sources]


def plan_corpus(cfg: MiniCorpusConfig, with_text: bool = True) -> Plan:
    """Draw every sentence: dev and test first, then the text corpus's dev, the train sets, the text corpus.

    Deterministic given ``cfg`` (its seed included). ``with_text=False`` skips
    drawing the (large) text corpus, which nothing else depends on.
    """
    speech: dict[str, list[Utterance]] = {}
    heldout: dict[str, set[str]] = {lang: set() for lang in LANGS}
    sources = source_langs(cfg)
    for split in ("dev", "test"):
        for lang in sources:
            n = getattr(cfg.sources[lang], split)
            drawn = _draw(_rng(cfg, split, lang), n, split, cfg, LANGS, heldout, set(), f"{split}_{lang}")
            speech[f"{split}_{lang}"] = _utterances(cfg, lang, drawn)
            for _, texts in drawn:
                for text_lang, text in texts.items():
                    heldout[text_lang].add(text)
    lm_dev = _draw(_rng(cfg, "lm_dev"), cfg.text.dev, "train", cfg, LANGS, heldout, set(), "lm_text/dev")
    lm_dev_keys = {key for key, _ in lm_dev}
    for lang in sources:
        drawn = _draw(_rng(cfg, "train", lang), cfg.sources[lang].train, "train", cfg, (lang, TARGET_LANG),
                      heldout, lm_dev_keys, f"train_{lang}")
        speech[f"train_{lang}"] = _utterances(cfg, lang, drawn)
    text = None
    if with_text:
        lm_train = _draw(_rng(cfg, "lm_train"), cfg.text.train, "train", cfg, LANGS, heldout, lm_dev_keys,
                         "lm_text/train")
        text = {split: {lang: {f"lm-{split}-{i:07d}": texts[lang] for i, (_, texts) in enumerate(drawn)}
                        for lang in LANGS}
                for split, drawn in (("train", lm_train), ("dev", lm_dev))}
    plan = Plan(speech, text, heldout)
    check_disjoint(plan)
    return plan


def check_disjoint(plan: Plan) -> None:
    """Assert that no dev/test text (in any language) is a train or text-corpus text in that language.

    Raises:
        AssertionError: naming the first offending sentence.
    """
    for name, utts in plan.speech.items():
        if not name.startswith("train_"):
            continue
        for u in utts:
            for lang, text in ((u.src_lang, u.src_text), (TARGET_LANG, u.en_text)):
                assert text not in plan.heldout[lang], f"{name}/{u.utt_id}: held-out {lang} text {text!r}"
    for split, by_lang in (plan.text or {}).items():
        for lang, texts in by_lang.items():
            for key, text in texts.items():
                assert text not in plan.heldout[lang], f"lm_text/{split}/{key}: held-out {lang} text {text!r}"


# -- synthesis (worker processes) ---------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One wav to synthesise."""

    utt_id: str
    lang: str
    text: str
    voice: str
    rate: int
    pitch: int
    seed: int
    wav: str


def _seed(cfg_seed: int, utt_id: str, lang: str) -> int:
    digest = hashlib.sha1(f"{cfg_seed}:{utt_id}:{lang}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def synthesize_job(engine: Any, job: Job, pad_seconds: float) -> tuple[int, list[WordSpan]]:
    """Speak one job, write its wav with ``pad_seconds`` of silence each side; return (samples, word spans)."""
    import numpy as np
    import soundfile as sf

    from s2s_plugin.corpora.mini.espeak import speech_bounds, word_spans

    syn = engine.synthesize(job.text, job.voice, job.rate, job.pitch, job.seed)
    if len(syn.samples) == 0:
        raise DataError(f"{job.utt_id}: espeak-ng produced no audio for {job.text!r} ({job.voice})")
    sr, words = syn.sample_rate, job.text.split()
    start, end = speech_bounds(syn.samples, sr)
    spans = word_spans(words, syn.word_events, start, end, min_gap=int(MIN_WORD_SECONDS * sr))
    pad = int(round(pad_seconds * sr))
    audio = np.concatenate([np.zeros(pad, np.int16), syn.samples, np.zeros(pad, np.int16)])
    Path(job.wav).parent.mkdir(parents=True, exist_ok=True)
    sf.write(job.wav, audio, sr, subtype="PCM_16", format="WAV")
    ctm = [WordSpan(w, round((pad + a) / sr, 3), round((b - a) / sr, 3)) for w, (a, b) in zip(words, spans)]
    return len(audio), ctm


_ENGINE: Any = None
_PROGRESS: Any = None


def _init_worker(progress: Any) -> None:
    """Worker start-up: one espeak engine per process (which never speaks itself; see espeak.py)."""
    global _ENGINE, _PROGRESS
    from s2s_plugin.corpora.mini.espeak import Espeak

    _ENGINE, _PROGRESS = Espeak(), progress


def _run_shard(jobs: list[Job], pad_seconds: float) -> dict[tuple[str, str], tuple[int, list[WordSpan], int]]:
    """Synthesise a contiguous shard of jobs in a worker: ``(utt, lang) -> (samples, ctm, rate)``."""
    results = {}
    for job in jobs:
        n, ctm = synthesize_job(_ENGINE, job, pad_seconds)
        results[(job.utt_id, job.lang)] = (n, ctm, _ENGINE.sample_rate)
        _PROGRESS.put(1)
    return results


class SynthesisPool:
    """``nj`` spawned worker processes that synthesise the jobs of one set at a time.

    Each set's jobs are cut into ``nj`` contiguous shards, one per worker.
    Every job's audio depends only on the job, so the output does not depend on ``nj``.
    """

    def __init__(self, nj: int, pad_seconds: float) -> None:
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("spawn")
        self.nj, self.pad_seconds = nj, pad_seconds
        self._progress = ctx.Queue()
        self._executor = ProcessPoolExecutor(nj, mp_context=ctx, initializer=_init_worker,
                                             initargs=(self._progress,))

    def run(self, jobs: list[Job], desc: str) -> dict[tuple[str, str], tuple[int, list[WordSpan], int]]:
        from concurrent.futures import FIRST_EXCEPTION, wait

        from tqdm import tqdm

        shards = [jobs[j * len(jobs) // self.nj:(j + 1) * len(jobs) // self.nj] for j in range(self.nj)]
        pending = {self._executor.submit(_run_shard, shard, self.pad_seconds) for shard in shards if shard}
        results: dict = {}
        with tqdm(total=len(jobs), desc=desc, unit="wav", disable=None) as bar:
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                for future in done:
                    results.update(future.result())  # re-raises a worker's exception
                bar.update(self._drain())
            bar.update(len(jobs) - bar.n)
        self._drain()
        return results

    def _drain(self) -> int:
        n = 0
        while True:
            try:
                n += self._progress.get_nowait()
            except queue_mod.Empty:
                return n

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> SynthesisPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- writing -----------------------------------------------------------------------------------

def _fingerprint(cfg: MiniCorpusConfig, what: str) -> dict:
    """The parts of the config that determine ``what`` (``speech`` sets or the ``text`` corpus)."""
    if what == "speech":
        d = asdict(cfg)
        d["text"] = {"dev": cfg.text.dev}  # the text corpus's dev sentences are kept out of train
    else:
        d = {"seed": cfg.seed, "heldout_fraction": cfg.heldout_fraction, "text": asdict(cfg.text),
             "heldout": {lang: {"dev": s.dev, "test": s.test} for lang, s in cfg.sources.items()}}
    return {"corpus": "mini", "version": CORPUS_VERSION, what: d}


def _finished(path: Path, fingerprint: dict, overwrite: bool) -> bool:
    """True when ``path`` is a finished set made with ``fingerprint`` (skip it).

    Raises:
        ConfigError: ``path`` exists from another config or version, and not ``overwrite``.
    """
    if not path.exists() or overwrite:
        return False
    stamp = path / "corpus.yaml"
    if stamp.is_file():
        with open(stamp, encoding="utf-8") as f:
            if yaml.safe_load(f) == fingerprint:
                return True
    raise ConfigError(f"{path} exists but was made by another config or version (see {stamp}); "
                      f"rerun with --overwrite to replace it, or remove it")


def _tmp_dir(final: Path) -> Path:
    tmp = final.parent / f".{final.name}.tmp"
    if tmp.exists():  # left by an interrupted run
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _commit(tmp: Path, final: Path) -> None:
    """Move the finished ``tmp`` dir to ``final``, replacing an old one."""
    old = final.parent / f".{final.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)


def write_speech_set(name: str, utts: list[Utterance], cfg: MiniCorpusConfig, out: Path,
                     pool: SynthesisPool) -> dict[str, Any]:
    """Synthesise and write ``out/name`` atomically; return statistics for the log."""
    final = (out / name).resolve()
    tmp = _tmp_dir(final)
    src = utts[0].src_lang
    jobs = [Job(u.utt_id, lang, text, v.voice, v.rate, v.pitch, _seed(cfg.seed, u.utt_id, lang),
                str(tmp / "wav" / lang / f"{u.utt_id}.wav"))
            for u in utts
            for lang, text, v in ((src, u.src_text, u.speaker), (TARGET_LANG, u.en_text, u.target_voice))]
    t0 = time.time()
    try:
        results = pool.run(jobs, name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    elapsed = time.time() - t0
    seconds = {src: 0.0, TARGET_LANG: 0.0}
    for lang in seconds:
        wavs, ctm = {}, {}
        for u in utts:
            n, spans, sr = results[(u.utt_id, lang)]
            seconds[lang] += n / sr
            wavs[u.utt_id] = str(final / "wav" / lang / f"{u.utt_id}.wav")
            ctm[u.utt_id] = spans
        write_kaldi_text(tmp / f"wav.scp.{lang}", wavs)
        write_ctm(tmp / f"oracle.{lang}.ctm", ctm)
    write_kaldi_text(tmp / f"text.{src}", {u.utt_id: u.src_text for u in utts})
    write_kaldi_text(tmp / f"text.{TARGET_LANG}", {u.utt_id: u.en_text for u in utts})
    write_kaldi_text(tmp / "utt2spk", {u.utt_id: u.speaker.id for u in utts})
    spk2utt: dict[str, list[str]] = {}
    for u in utts:
        spk2utt.setdefault(u.speaker.id, []).append(u.utt_id)
    write_kaldi_text(tmp / "spk2utt", {spk: " ".join(ids) for spk, ids in spk2utt.items()})
    with atomic_write(tmp / "corpus.yaml") as f:
        yaml.safe_dump(_fingerprint(cfg, "speech"), f, sort_keys=True, allow_unicode=True)
    size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
    _commit(tmp, final)
    return {"utts": len(utts), "seconds": seconds, "elapsed": elapsed, "bytes": size, "wavs": len(jobs)}


def write_text_corpus(text: dict[str, dict[str, dict[str, str]]], cfg: MiniCorpusConfig, out: Path) -> None:
    """Write ``out/lm_text/{train,dev}/text.<lang>`` atomically."""
    final = (out / "lm_text").resolve()
    tmp = _tmp_dir(final)
    for split, by_lang in text.items():
        for lang, texts in by_lang.items():
            write_kaldi_text(tmp / split / f"text.{lang}", texts)
    with atomic_write(tmp / "corpus.yaml") as f:
        yaml.safe_dump(_fingerprint(cfg, "text"), f, sort_keys=True, allow_unicode=True)
    _commit(tmp, final)


def check_voices(cfg: MiniCorpusConfig) -> int:
    """Load libespeak-ng and check every configured voice; return its sample rate.

    Raises:
        EspeakError: the library, its data or a voice is missing.
    """
    from s2s_plugin.corpora.mini.espeak import Espeak

    engine = Espeak()
    for v in cfg.all_voices():
        engine.check_voice(v.voice)
    return engine.sample_rate


def build_corpus(cfg: MiniCorpusConfig, out: str | Path, nj: int = 1, overwrite: bool = False) -> Plan:
    """Write every set of the corpus under ``out`` (see the module docstring); return the plan.

    Raises:
        ConfigError: a set exists from another config (without ``overwrite``), or ``nj < 1``.
        EspeakError: libespeak-ng or a voice is missing.
    """
    import humanfriendly

    if nj < 1:
        raise ConfigError(f"--nj must be at least 1, got {nj}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [f"{split}_{lang}" for lang in source_langs(cfg) for split in SPLITS]
    speech_fp = _fingerprint(cfg, "speech")
    todo = [name for name in names if not _finished(out / name, speech_fp, overwrite)]
    text_todo = not _finished(out / "lm_text", _fingerprint(cfg, "text"), overwrite)
    if todo:
        sr = check_voices(cfg)  # fail early, before any work
        log.info("libespeak-ng: all %d voices found, %d Hz", len(cfg.all_voices()), sr)
    t0 = time.time()
    plan = plan_corpus(cfg, with_text=text_todo)
    log.info("Drew the sentences in %s", humanfriendly.format_timespan(time.time() - t0))
    if text_todo:
        assert plan.text is not None
        write_text_corpus(plan.text, cfg, out)
        n = {split: len(by_lang[TARGET_LANG]) for split, by_lang in plan.text.items()}
        log.info("%s: %d train and %d dev sentences, each in %s", out / "lm_text", n["train"], n["dev"],
                 ", ".join(LANGS))
    else:
        log.info("%s: done before with this config, skipped", out / "lm_text")
    for name in names:
        if name not in todo:
            log.info("%s: done before with this config, skipped", out / name)
    if not todo:
        return plan
    with SynthesisPool(nj, cfg.pad_seconds) as pool:
        for name in todo:
            st = write_speech_set(name, plan.speech[name], cfg, out, pool)
            src = plan.speech[name][0].src_lang
            log.info("%s: %d utterances, %s source + %s target speech, %s on disk; synthesised in %s "
                     "(%.1f wav/s with %d jobs, real-time factor %.4f)", out / name, st["utts"],
                     humanfriendly.format_timespan(st["seconds"][src]),
                     humanfriendly.format_timespan(st["seconds"][TARGET_LANG]),
                     humanfriendly.format_size(st["bytes"]), humanfriendly.format_timespan(st["elapsed"]),
                     st["wavs"] / st["elapsed"], nj, st["elapsed"] / sum(st["seconds"].values()))
    return plan
