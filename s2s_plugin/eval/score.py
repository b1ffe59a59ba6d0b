"""Stage 11: score decoded sets -- ASR-BLEU, BLEU of T_tgt, WER of T_src, toplines.

    s2s score --config conf/score.yaml --exp exp/s2st_scheduled --sets test_fr test_es test_pt
    s2s score --config conf/score.yaml --exp exp/s2st_scheduled --sets test_fr vocoder_exp=exp/vocoder

For each set, with ``D = exp/<tag>/decode_<set>`` (stage 9 and 10) and
``R = <ref_dump>/<set>`` (stage 2 and 4):

- **ASR-BLEU**: the ASR transcribes ``D/wav.scp``; corpus BLEU against ``R/text.<tgt>``;
- **BLEU (T_tgt)**: ``D/hyp_text.<tgt>`` against ``R/text.<tgt>``;
- **WER (T_src)**: ``D/hyp_text.<src>`` against ``R/text.<src>`` (percent);
- **quality** (with a ``quality`` block, a ``quality_scorer`` plugin): the mean
  score of the speech of ``D/wav.scp`` over the set's utterances, of the
  reference speech ``R/wav.scp.<tgt>`` as a topline (with ``toplines``) and of
  the reference units through the vocoder (given ``vocoder_exp``);
  per-utterance scores go to ``D/score/quality.<tgt>``,
  ``D/score/topline_ref_speech.quality.<tgt>`` and
  ``D/score/topline_ref_units.quality.<tgt>``. A scorer that ``needs_reference``
  (``mcd_dtw``) compares each utterance with its reference speech
  ``R/wav.scp.<tgt>``; it has no reference-speech topline (that would compare
  the reference with itself);
- toplines, the same ASR and BLEU on references instead of system output:
  ``R/wav.scp.<tgt>`` (reference speech), and ``R/units.<tgt>`` through the
  stage-10 vocoder (given ``vocoder_exp``); the ASR's own WER on reference
  speech says how far the scorer itself is from perfect.

ASR-BLEU and its two toplines follow the configured ``asr_bleu_protocol``
(:mod:`s2s_plugin.eval.bleu_protocols`): ``s2s``, ours (the default), or the
text processing and sacrebleu options of ESPnet's ``evaluate_asr_bleu.sh``
(``espnet``) or fairseq's ``compute_asr_bleu.py`` (``fairseq``), which give
other numbers on the same transcripts; ``scores.json`` and ``RESULTS.md`` name
the protocol and its sacrebleu signature, and also give the ASR-BLEU under
each of the three. BLEU of T_tgt and the WERs always run our
:class:`~s2s_plugin.eval.normalize.TextNormalizer` on hypotheses and
references alike. ``overall`` pools every utterance of every set (one corpus
BLEU, one WER); ``mean`` averages the per-set numbers. ASR transcripts are
kept in ``D/score/`` for inspection.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.config import component, load_yaml
from s2s_plugin.data.io import PathLike, atomic_write, read_kaldi_text, read_units, write_kaldi_text
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.eval.audio import load_audio, read_scp
from s2s_plugin.eval.bleu_protocols import PROTOCOLS, BleuProtocol, make_protocol
from s2s_plugin.eval.metrics import (BleuScore, WerScore, bleu_signature, corpus_bleu, pooled_wer, quality_summary,
                                     word_error_rate)
from s2s_plugin.eval.normalize import TextNormalizer

logger = logging.getLogger(__name__)

#: metric key -> label, in table order. BLEU-like are 0-100 (higher is better), WER in percent.
METRICS: dict[str, str] = {
    "asr_bleu": "ASR-BLEU",
    "bleu_text": "BLEU (T_tgt)",
    "wer_src": "WER (T_src) %",
    "speech_vs_text": "ASR-BLEU vs own T_tgt",
    "topline_ref_speech": "ASR-BLEU ref speech",
    "topline_ref_units": "ASR-BLEU ref units+vocoder",
    "asr_wer_ref_speech": "ASR WER ref speech %",
    "quality": "quality",
    "quality_ref_speech": "quality ref speech",
    "quality_ref_units": "quality ref units+vocoder",
}
WER_METRICS = ("wer_src", "asr_wer_ref_speech")
#: the metrics scored under the ASR-BLEU protocol (the others use our normalisation)
PROTOCOL_METRICS = ("asr_bleu", "topline_ref_speech", "topline_ref_units")
#: the speech quality metrics (the ``quality`` block's scorer): mean over utterances
QUALITY_METRICS = ("quality", "quality_ref_speech", "quality_ref_units")


@dataclass
class ScoreConfig:
    """The schema of ``conf/score.yaml``.

    Example::

        asr: {name: ctc, exp_dir: exp/asr_en}
        normalization: {unicode: NFKC, lowercase: true, remove_punctuation: true}
        asr_bleu_protocol: s2s
        quality: {name: wada_snr}
        listen_samples: 5

    Attributes:
        asr: the ``asr_model`` block that transcribes speech.
        quality: the ``quality_scorer`` block that scores the speech (``mcd_dtw``, ``wada_snr``,
            ``utmos22_strong``, ...; docs/quality.md); null: no quality scores.
        tgt_lang: the target language (the other language of a set is its source).
        normalization: the text normalisation of hypotheses and references (all of it under the
            ``s2s`` protocol; BLEU of T_tgt and the WERs under every protocol).
        asr_bleu_protocol: how ASR-BLEU and its toplines turn transcripts and references into
            sacrebleu's input, and sacrebleu's options: ``s2s`` (ours), ``espnet`` (ESPnet's
            evaluate_asr_bleu.sh) or ``fairseq`` (fairseq's compute_asr_bleu.py); see
            :mod:`s2s_plugin.eval.bleu_protocols`.
        decode_dir: the decode dir of a set inside the exp dir (``{set}`` is replaced).
        toplines: score reference target speech through the ASR (and the quality scorer, unless it
            compares with the reference speech itself).
        vocoder_exp: the stage-10 vocoder exp dir: adds the topline reference units ->
            vocoder -> ASR and quality scorer (None: that topline is left out).
        listen_samples: utterances per set on the listening page (evenly spaced over the sorted ids).
        allow_missing: score a missing hypothesis as empty (counted in the results) instead of failing.
        chunk_size: utterances read and transcribed at a time.
        system: the name that groups runs in ``s2s compare`` (default: the exp dir name
            without a trailing ``_seed<N>``).
        plots: draw the score and training-curve plots.
    """

    asr: dict = component("asr_model")
    quality: dict | None = component("quality_scorer", optional=True)
    tgt_lang: str = "en"
    normalization: TextNormalizer = field(default_factory=TextNormalizer)
    asr_bleu_protocol: str = "s2s"
    decode_dir: str = "decode_{set}"
    toplines: bool = True
    vocoder_exp: str | None = None
    listen_samples: int = 5
    allow_missing: bool = False
    chunk_size: int = 64
    system: str | None = None
    plots: bool = True

    def __post_init__(self) -> None:
        if "{set}" not in self.decode_dir:
            raise ConfigError(f"decode_dir must contain '{{set}}', got {self.decode_dir!r}")
        if self.listen_samples < 0 or self.chunk_size < 1:
            raise ConfigError("need listen_samples >= 0 and chunk_size >= 1")
        if self.asr_bleu_protocol not in PROTOCOLS:
            raise ConfigError(f"asr_bleu_protocol must be one of {', '.join(PROTOCOLS)} (ours, ESPnet's "
                              f"evaluate_asr_bleu.sh, fairseq's compute_asr_bleu.py), got {self.asr_bleu_protocol!r}")

    def protocol(self) -> BleuProtocol:
        """The ASR-BLEU protocol of this config."""
        return make_protocol(self.asr_bleu_protocol, self.tgt_lang, self.normalization)


# -- reading ------------------------------------------------------------------
def align_hyps(hyps: dict[str, str], ref_ids: list[str], path: Path, allow_missing: bool, what: str = "hypothesis",
               fix: str = "rerun the decoding, or set allow_missing=true to score them as empty") -> tuple[list[str], int]:
    """Hypotheses in reference order; missing ones are an error (naming the missing ``what`` and
    advising ``fix``), or empty with ``allow_missing``.

    Returns:
        The hypotheses and how many were missing.

    Raises:
        DataError: a hypothesis for an utterance not in the reference, or a missing one.
    """
    extra = sorted(set(hyps) - set(ref_ids))
    if extra:
        raise DataError(f"{path}: utterance '{extra[0]}' is not in the reference set ({len(extra)} such); "
                        "is this the decode of another set?")
    missing = [u for u in ref_ids if u not in hyps]
    if missing and not allow_missing:
        raise DataError(f"{path}: no {what} for utterance '{missing[0]}' ({len(missing)} of "
                        f"{len(ref_ids)} missing); {fix}")
    if missing:
        logger.warning("%s: %d of %d hypotheses missing, scored as empty", path, len(missing), len(ref_ids))
    return [hyps.get(u, "") for u in ref_ids], len(missing)


def require_all(entries: dict, ref_ids: list[str], path: Path) -> None:
    """Check that ``entries`` (a reference set's wav.scp or units) has every reference utterance and no other."""
    align_hyps(dict.fromkeys(entries, ""), ref_ids, path, allow_missing=False, what="entry",
               fix=f"the reference set is incomplete: rerun the stage that writes {path.name} for "
                   f"{path.parent} (stage 2 for wav.scp, stage 4 for units), or set toplines=false")


def set_languages(ref_dir: Path, tgt_lang: str) -> str:
    """The source language of a reference set (the language of ``text.*`` other than ``tgt_lang``)."""
    if not ref_dir.is_dir():
        raise DataError(f"{ref_dir}: reference set not found (give --ref_dump, the dump dir of stage 2)")
    from s2s_plugin.data.datadir import find_languages

    langs = sorted(lang for lang, kinds in find_languages(ref_dir).items() if "text" in kinds)
    if tgt_lang not in langs or len(langs) != 2:
        raise DataError(f"{ref_dir}: expected text.<src> and text.{tgt_lang}, found "
                        f"{', '.join('text.' + lang for lang in langs) or 'no text files'}")
    return next(lang for lang in langs if lang != tgt_lang)


# -- the ASR pass -------------------------------------------------------------
def transcribe_scp(asr: Any, scp: dict[str, str], utt_ids: list[str], where: str, chunk_size: int,
                   desc: str = "ASR") -> list[str]:
    """ASR transcripts of ``utt_ids`` read from ``scp``, ``chunk_size`` utterances at a time."""
    out: list[str] = []
    for waves in audio_chunks(scp, utt_ids, where, chunk_size, desc):
        out.extend(transcribe_waves(asr, waves))
    return out


def audio_chunks(scp: dict[str, str], utt_ids: list[str], where: str, chunk_size: int,
                 desc: str) -> Iterator[list[tuple[np.ndarray, int]]]:
    """The audio of ``utt_ids`` from ``scp``, ``chunk_size`` utterances at a time (a progress bar over chunks)."""
    from tqdm import tqdm

    for start in tqdm(range(0, len(utt_ids), chunk_size), desc=desc, unit="chunk", leave=False,
                      disable=len(utt_ids) <= chunk_size):
        yield [load_audio(scp[u], f"{where}: utterance '{u}'") for u in utt_ids[start:start + chunk_size]]


def quality_traits(scorer: Any) -> tuple[bool, bool]:
    """``(needs_reference, higher_is_better)`` of a quality scorer: the optional attributes of
    :class:`s2s_plugin.protocols.QualityScorer` (False and True when it does not set them)."""
    return bool(getattr(scorer, "needs_reference", False)), bool(getattr(scorer, "higher_is_better", True))


def quality_scp(scorer: Any, scp: dict[str, str], utt_ids: list[str], where: str, chunk_size: int,
                desc: str = "quality", refs: References | None = None) -> list[float]:
    """Quality scores of ``utt_ids`` read from ``scp`` (NaN where the scorer cannot score one).

    ``refs``: each utterance's reference speech, for a scorer that ``needs_reference``.
    """
    out: list[float] = []
    for waves in audio_chunks(scp, utt_ids, where, chunk_size, desc):
        ids = utt_ids[len(out):len(out) + len(waves)]
        out.extend(quality_waves(scorer, waves, refs.load(ids) if refs is not None else None))
    return out


def quality_waves(scorer: Any, waves: list[tuple[np.ndarray, int]],
                  refs: list[tuple[np.ndarray, int]] | None = None) -> list[float]:
    """Score ``(wave, rate)`` pairs, one scorer call per sample rate, in input order; with ``refs`` (one
    ``(wave, rate)`` per wave) the scorer gets each wave's reference as ``score(..., refs=...)``."""
    who = f"quality scorer {scorer!r}"
    if refs is None:
        return [float(v) for v in per_rate(scorer.score, waves, who, "scores")]

    def call(pairs: list[tuple[np.ndarray, tuple[np.ndarray, int]]], sr: int) -> list[float]:
        return scorer.score([w for w, _ in pairs], sr, refs=[r for _, r in pairs])

    return [float(v) for v in per_rate(call, [((w, r), sr) for (w, sr), r in zip(waves, refs)], who, "scores")]


@dataclass
class References:
    """The reference target speech of a set, for a quality scorer that compares with it."""

    scp: dict[str, str]
    path: Path

    @classmethod
    def of_set(cls, ref_dir: Path, tgt_lang: str, utt_ids: list[str], scorer: Any) -> References:
        """``ref_dir/wav.scp.<tgt_lang>``, which must hold every utterance of ``utt_ids``.

        Raises:
            DataError: naming the file and the first utterance without reference speech.
        """
        path = ref_dir / f"wav.scp.{tgt_lang}"
        scp = read_scp(path)
        missing = [u for u in utt_ids if u not in scp]
        if missing:
            raise DataError(f"{path}: no reference speech for utterance '{missing[0]}' ({len(missing)} of "
                            f"{len(utt_ids)} missing); quality scorer '{scorer.name}' compares our speech with "
                            "the reference speech of each utterance. Redo stage 2 (audio formatting) for this "
                            "set, or choose a quality scorer that needs no reference (e.g. wada_snr).")
        return cls(scp, path)

    def load(self, utt_ids: list[str]) -> list[tuple[np.ndarray, int]]:
        return [load_audio(self.scp[u], f"{self.path}: utterance '{u}'") for u in utt_ids]


def transcribe_waves(asr: Any, waves: list[tuple[np.ndarray, int]]) -> list[str]:
    """Transcribe ``(wave, rate)`` pairs, one ASR call per sample rate, in input order."""
    return [str(h) for h in per_rate(asr.transcribe, waves, f"asr {asr!r}", "transcripts")]


def per_rate(call: Callable[[list[np.ndarray], int], list], waves: list[tuple[np.ndarray, int]], who: str,
             what: str) -> list:
    """``call(waves, rate)`` once per sample rate of the ``(wave, rate)`` pairs; the results in input order."""
    out: list = [None] * len(waves)
    for sr in sorted({fs for _, fs in waves}):
        idx = [i for i, (_, fs) in enumerate(waves) if fs == sr]
        got = call([waves[i][0] for i in idx], sr)
        if len(got) != len(idx):
            raise DataError(f"{who} returned {len(got)} {what} for {len(idx)} waveforms")
        for i, v in zip(idx, got):
            out[i] = v
    return out


# -- vocoder topline ------------------------------------------------------------
def load_vocoder(exp_dir: PathLike) -> Callable[[list[int]], tuple[np.ndarray, int]]:
    """A function ``units -> (waveform, rate)`` from a stage-10 vocoder exp dir.

    The vocoder is rebuilt by :func:`s2s_plugin.vocoder.stage.load_vocoder`
    (through the registry, from the ``vocoder`` block of the exp's resolved
    config, then its fitted state is loaded).

    Raises:
        ConfigError: no such dir, or no finished vocoder fit in it.
    """
    from s2s_plugin.vocoder.stage import load_vocoder as load_fitted

    exp_dir = Path(exp_dir)
    if not exp_dir.is_dir():
        raise ConfigError(f"vocoder_exp: {exp_dir} not found; run stage 10 (s2s vocoder fit ... --exp "
                          f"{exp_dir}) first, or set vocoder_exp=null to leave out the vocoder topline")
    voc, voc_cfg, _ = load_fitted(exp_dir)
    kwargs = voc_cfg.synthesis.kwargs(voc)  # the synthesis options of the vocoder's config (speaker, ...)
    logger.info("loaded vocoder %r from %s", voc, exp_dir)

    def synth(units: list[int]) -> tuple[np.ndarray, int]:
        wave, sr = voc.synthesize(np.asarray(units, dtype=np.int64), **kwargs)
        return np.asarray(wave, dtype=np.float32), int(sr)

    return synth


# -- scoring ------------------------------------------------------------------
@dataclass
class SetScore:
    """Everything scored for one set: numbers, and the texts the listening page shows."""

    name: str
    src_lang: str
    tgt_lang: str
    utt_ids: list[str]
    ref_dir: Path
    decode_dir: Path
    texts: dict[str, list[str]] = field(default_factory=dict)   # raw texts, in utt_ids order
    bleu: dict[str, BleuScore] = field(default_factory=dict)
    wer: dict[str, WerScore] = field(default_factory=dict)
    norm: dict[str, list[str]] = field(default_factory=dict)    # normalised texts, for pooling
    proto: dict[str, list[str]] = field(default_factory=dict)   # texts as the ASR-BLEU protocol prepared them
    missing: dict[str, int] = field(default_factory=dict)
    quality: dict[str, list[float]] = field(default_factory=dict)  # metric -> per utterance, NaN: unscored

    def numbers(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {k: None for k in METRICS}
        out.update({k: round(v.score, 2) for k, v in self.bleu.items()})
        out.update({k: round(v.wer, 2) for k, v in self.wer.items()})
        out.update({k: quality_summary(v)["mean"] for k, v in self.quality.items()})
        return out


def score_set(cfg: ScoreConfig, asr: Any, exp: Path, set_name: str, ref_dump: Path,
              vocoder: Callable | None = None, quality: Any = None) -> SetScore:
    """Score one decoded set (see the module docstring); writes ``decode_<set>/score/``."""
    tgt = cfg.tgt_lang
    ref_dir = ref_dump / set_name
    src = set_languages(ref_dir, tgt)
    dec = exp / cfg.decode_dir.format(set=set_name)
    if not dec.is_dir():
        raise DataError(f"{dec}: decode dir not found; run stages 9 (decoding) and 10 (vocoder) for "
                        f"{set_name} first")
    ref_tgt = read_kaldi_text(ref_dir / f"text.{tgt}")
    ref_src = read_kaldi_text(ref_dir / f"text.{src}")
    ids = sorted(ref_tgt)
    if set(ref_src) != set(ref_tgt):
        raise DataError(f"{ref_dir}: text.{src} and text.{tgt} hold different utterances")
    s = SetScore(set_name, src, tgt, ids, ref_dir, dec)
    s.texts["ref_src"] = [ref_src[u] for u in ids]
    s.texts["ref_tgt"] = [ref_tgt[u] for u in ids]
    s.norm["ref_tgt"] = cfg.normalization.many(s.texts["ref_tgt"])
    s.proto["ref_tgt"] = cfg.protocol().prepare_refs(s.texts["ref_tgt"])
    _score_texts(s, cfg)
    _score_speech(s, cfg, asr)
    if cfg.toplines:
        _topline_ref_speech(s, cfg, asr)
    if vocoder is not None:
        _topline_ref_units(s, cfg, asr, vocoder, quality)
    if quality is not None:
        _score_quality(s, cfg, quality)
    return s


def _score_texts(s: SetScore, cfg: ScoreConfig) -> None:
    """BLEU of T_tgt and WER of T_src from the decode's text hypotheses."""
    norm = cfg.normalization
    for key, lang in (("hyp_src", s.src_lang), ("hyp_tgt", s.tgt_lang)):
        path = s.decode_dir / f"hyp_text.{lang}"
        s.texts[key], s.missing[key] = align_hyps(read_kaldi_text(path, allow_empty_value=True), s.utt_ids,
                                                  path, cfg.allow_missing)
        s.norm[key] = norm.many(s.texts[key])
    s.norm["ref_src"] = norm.many(s.texts["ref_src"])
    s.bleu["bleu_text"] = corpus_bleu(s.norm["hyp_tgt"], s.norm["ref_tgt"])
    s.wer["wer_src"] = word_error_rate(s.norm["hyp_src"], s.norm["ref_src"])


def _score_speech(s: SetScore, cfg: ScoreConfig, asr: Any) -> None:
    """ASR-BLEU: the ASR transcribes the decode's wav.scp."""
    scp_path = s.decode_dir / "wav.scp"
    scp = read_scp(scp_path)
    _, s.missing["wav"] = align_hyps(dict.fromkeys(scp, ""), s.utt_ids, scp_path, cfg.allow_missing)
    present = [u for u in s.utt_ids if u in scp]
    texts = dict(zip(present, transcribe_scp(asr, scp, present, str(scp_path), cfg.chunk_size,
                                             f"ASR {s.name}")))
    _save_transcripts(s.decode_dir / "score" / f"asr_text.{s.tgt_lang}", texts)
    s.texts["asr_hyp"] = [texts.get(u, "") for u in s.utt_ids]
    _protocol_bleu(s, cfg, "asr_hyp", "asr_bleu")
    if "hyp_tgt" in s.norm:  # how faithfully the model speaks what it wrote: the ASR of its speech against its T_tgt
        s.norm["asr_hyp"] = cfg.normalization.many(s.texts["asr_hyp"])
        s.bleu["speech_vs_text"] = corpus_bleu(s.norm["asr_hyp"], s.norm["hyp_tgt"])


def _protocol_bleu(s: SetScore, cfg: ScoreConfig, key: str, metric: str) -> None:
    """BLEU of the ASR transcripts ``s.texts[key]`` under the config's ASR-BLEU protocol."""
    proto = cfg.protocol()
    s.proto[key] = proto.prepare_hyps(s.texts[key])
    s.bleu[metric] = proto.score_prepared(s.proto[key], s.proto["ref_tgt"])


def _topline_ref_speech(s: SetScore, cfg: ScoreConfig, asr: Any) -> None:
    """The same ASR on the reference target speech: ASR-BLEU and the ASR's own WER."""
    path = s.ref_dir / f"wav.scp.{s.tgt_lang}"
    scp = read_scp(path)
    require_all(scp, s.utt_ids, path)
    texts = transcribe_scp(asr, scp, s.utt_ids, str(path), cfg.chunk_size, f"ASR ref {s.name}")
    _save_transcripts(s.decode_dir / "score" / f"topline_ref_speech.asr_text.{s.tgt_lang}",
                      dict(zip(s.utt_ids, texts)))
    s.texts["asr_ref"], s.norm["asr_ref"] = texts, cfg.normalization.many(texts)
    _protocol_bleu(s, cfg, "asr_ref", "topline_ref_speech")
    s.wer["asr_wer_ref_speech"] = word_error_rate(s.norm["asr_ref"], s.norm["ref_tgt"])


def _topline_ref_units(s: SetScore, cfg: ScoreConfig, asr: Any, vocoder: Callable, quality: Any = None) -> None:
    """The reference target units through the vocoder, then the ASR (and the quality scorer)."""
    path = s.ref_dir / f"units.{s.tgt_lang}"
    units = read_units(path)
    require_all(units, s.utt_ids, path)
    refs = None
    if quality is not None and quality_traits(quality)[0]:
        refs = References.of_set(s.ref_dir, s.tgt_lang, s.utt_ids, quality)
    texts: list[str] = []
    values: list[float] = []
    for start in range(0, len(s.utt_ids), cfg.chunk_size):
        chunk = s.utt_ids[start:start + cfg.chunk_size]
        waves = [vocoder(units[u]) for u in chunk]
        texts.extend(transcribe_waves(asr, waves))
        if quality is not None:
            values.extend(quality_waves(quality, waves, refs.load(chunk) if refs is not None else None))
    _save_transcripts(s.decode_dir / "score" / f"topline_ref_units.asr_text.{s.tgt_lang}",
                      dict(zip(s.utt_ids, texts)))
    s.texts["asr_vocoded"] = texts
    _protocol_bleu(s, cfg, "asr_vocoded", "topline_ref_units")
    if quality is not None:
        _keep_quality(s, "quality_ref_units", "topline_ref_units.quality", dict(zip(s.utt_ids, values)))


def _score_quality(s: SetScore, cfg: ScoreConfig, scorer: Any) -> None:
    """The quality scorer on our speech (``D/wav.scp``) and, with toplines, on the reference speech (not for a
    scorer that compares with the reference speech: it would score the reference against itself)."""
    needs_reference = quality_traits(scorer)[0]
    refs = References.of_set(s.ref_dir, s.tgt_lang, s.utt_ids, scorer) if needs_reference else None
    sources = [("quality", s.decode_dir / "wav.scp", "quality")]
    if cfg.toplines and not needs_reference:
        sources.append(("quality_ref_speech", s.ref_dir / f"wav.scp.{s.tgt_lang}", "topline_ref_speech.quality"))
    for metric, path, stem in sources:
        scp = read_scp(path)
        present = [u for u in s.utt_ids if u in scp]   # a missing one was refused or counted by the ASR pass
        if metric == "quality_ref_speech":
            require_all(scp, s.utt_ids, path)
        values = quality_scp(scorer, scp, present, str(path), cfg.chunk_size, f"quality {s.name}", refs)
        _keep_quality(s, metric, stem, dict(zip(present, values)))


def _keep_quality(s: SetScore, metric: str, stem: str, values: dict[str, float]) -> None:
    """Per-utterance quality scores into ``s.quality[metric]`` (NaN where absent) and ``D/score/<stem>.<tgt>``."""
    s.quality[metric] = [values.get(u, math.nan) for u in s.utt_ids]
    write_kaldi_text(s.decode_dir / "score" / f"{stem}.{s.tgt_lang}",
                     {u: f"{v:.4f}" for u, v in zip(s.utt_ids, s.quality[metric]) if u in values})


def _save_transcripts(path: Path, texts: dict[str, str]) -> None:
    # one line per utterance; newlines inside a transcript would break the Kaldi format
    write_kaldi_text(path, {u: " ".join(t.split()) for u, t in texts.items()})


def pooled(sets: list[SetScore], protocol: BleuProtocol | None = None) -> tuple[dict[str, float | None],
                                                                                dict[str, Any]]:
    """Scores over every utterance of every set: one corpus BLEU and one WER per metric.

    Args:
        sets: the scored sets.
        protocol: the ASR-BLEU protocol the sets were scored with (default ``s2s``).
    """
    protocol = protocol or make_protocol()
    numbers: dict[str, float | None] = {k: None for k in METRICS}
    details: dict[str, Any] = {}
    pairs = {"asr_bleu": "asr_hyp", "bleu_text": "hyp_tgt", "topline_ref_speech": "asr_ref",
             "topline_ref_units": "asr_vocoded"}
    if all("speech_vs_text" in s.bleu for s in sets):  # its reference is the model's own T_tgt
        b = corpus_bleu([h for s in sets for h in s.norm["asr_hyp"]], [r for s in sets for r in s.norm["hyp_tgt"]])
        numbers["speech_vs_text"], details["speech_vs_text"] = round(b.score, 2), b.to_dict()
    for metric, key in pairs.items():
        if all(metric in s.bleu for s in sets):
            if metric in PROTOCOL_METRICS:
                b = protocol.score_prepared([h for s in sets for h in s.proto[key]],
                                            [r for s in sets for r in s.proto["ref_tgt"]])
            else:
                b = corpus_bleu([h for s in sets for h in s.norm[key]],
                                [r for s in sets for r in s.norm["ref_tgt"]])
            numbers[metric], details[metric] = round(b.score, 2), b.to_dict()
    for metric in WER_METRICS:
        if all(metric in s.wer for s in sets):
            w = pooled_wer([s.wer[metric] for s in sets])
            numbers[metric], details[metric] = round(w.wer, 2), w.to_dict()
    for metric in QUALITY_METRICS:
        if all(metric in s.quality for s in sets):
            q = quality_summary(v for s in sets for v in s.quality[metric])
            numbers[metric], details[metric] = q["mean"], q
    return numbers, details


def asr_bleu_by_protocol(sets: list[SetScore], cfg: ScoreConfig) -> dict[str, dict[str, Any]]:
    """ASR-BLEU of the same transcripts under every protocol: ``name -> {signature, sets: {set: bleu}, overall}``.

    So that a number can be set beside a peer's, whatever protocol the run was configured with.
    """
    out: dict[str, dict[str, Any]] = {}
    for name in PROTOCOLS:
        proto = make_protocol(name, cfg.tgt_lang, cfg.normalization)
        hyps = {s.name: proto.prepare_hyps(s.texts["asr_hyp"]) for s in sets}
        refs = {s.name: proto.prepare_refs(s.texts["ref_tgt"]) for s in sets}
        overall = proto.score_prepared([h for s in sets for h in hyps[s.name]],
                                       [r for s in sets for r in refs[s.name]])
        out[name] = {"signature": proto.signature, "follows": proto.describe()["follows"],
                     "sets": {s.name: round(proto.score_prepared(hyps[s.name], refs[s.name]).score, 2)
                              for s in sets},
                     "overall": round(overall.score, 2)}
    return out


def mean_over_sets(sets: list[SetScore]) -> dict[str, float | None]:
    """The unweighted mean of each metric over the sets (None where a set lacks it)."""
    out: dict[str, float | None] = {}
    for metric in METRICS:
        vals = [s.numbers()[metric] for s in sets]
        out[metric] = None if any(v is None for v in vals) else round(float(np.mean(vals)), 2)
    return out


def system_name(exp: Path, explicit: str | None) -> str:
    """The run's system name: ``explicit``, else the exp dir name without ``_seed<N>``."""
    return explicit or re.sub(r"[_.-]seed\d+$", "", exp.resolve().name)


def run_seed(exp: Path) -> int | None:
    """The training seed: ``seed`` in the exp's ``config.yaml`` (top level, or its ``trainer`` or ``train``
    block; stage 8 writes ``trainer.seed``), else the ``seed<N>`` ending of the exp dir's name."""
    cfg_path = exp / "config.yaml"
    if cfg_path.is_file():
        try:
            cfg = load_yaml(cfg_path)
        except Exception:  # noqa: BLE001 - the seed is a label; a broken config is another stage's error
            cfg = {}
        blocks = [cfg] + [cfg[k] for k in ("trainer", "train") if isinstance(cfg.get(k), dict)]
        for block in blocks:
            if isinstance(block.get("seed"), int):
                return int(block["seed"])
    m = re.search(r"seed(\d+)$", exp.resolve().name)
    return int(m.group(1)) if m else None


def score_experiment(cfg: ScoreConfig, exp: PathLike, sets: Iterable[str], ref_dump: PathLike = "dump",
                     command: str = "", asr: Any = None, vocoder: Callable | None = None,
                     quality: Any = None) -> tuple[dict[str, Any], list[SetScore]]:
    """Score ``sets`` of ``exp`` and return the ``scores.json`` content and the per-set scores.

    Args:
        cfg: the scoring config.
        exp: the S2ST exp dir (``exp/<tag>``).
        sets: set names (``decode_<set>`` in ``exp``, ``<set>`` in ``ref_dump``).
        ref_dump: the dump dir holding the reference sets.
        command: the command line, stored with the results.
        asr: an ASR model to use instead of building ``cfg.asr`` (tests, reuse).
        vocoder: ``units -> (wave, rate)`` for the vocoder topline (default: from ``cfg.vocoder_exp``).
        quality: a quality scorer to use instead of building ``cfg.quality`` (tests, reuse).

    Raises:
        DataError, ConfigError: missing or inconsistent inputs, named.
    """
    from s2s_plugin import __version__
    from s2s_plugin.registry import get_registry

    exp, ref_dump, sets = Path(exp), Path(ref_dump), list(sets)
    if not sets:
        raise ConfigError("give at least one set to score (--sets test_fr ...)")
    if not exp.is_dir():
        raise DataError(f"{exp}: exp dir not found")
    t0 = time.time()
    if asr is None:
        asr = get_registry().build("asr_model", cfg.asr, "asr")
    if quality is None and cfg.quality:
        quality = get_registry().build("quality_scorer", cfg.quality, "quality")
    if vocoder is None and cfg.vocoder_exp:
        vocoder = load_vocoder(cfg.vocoder_exp)
    scores = []
    for name in sets:
        s = score_set(cfg, asr, exp, name, ref_dump, vocoder, quality)
        logger.info("%s: ASR-BLEU %.2f (protocol %s), BLEU(T_tgt) %.2f, WER(T_src) %.2f%%%s", name,
                    s.bleu["asr_bleu"].score, cfg.asr_bleu_protocol, s.bleu["bleu_text"].score, s.wer["wer_src"].wer,
                    f", quality {s.numbers()['quality']} ({quality.name})" if quality is not None else "")
        scores.append(s)
    overall, overall_details = pooled(scores, cfg.protocol())
    result = {
        "system": system_name(exp, cfg.system),
        "exp": str(exp),
        "seed": run_seed(exp),
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "s2s_plugin": __version__,
        "asr": dict(cfg.asr),
        "quality": None if quality is None else quality_block(quality, cfg.quality),
        "vocoder_exp": cfg.vocoder_exp,
        "normalization": {**dataclasses.asdict(cfg.normalization), "signature": cfg.normalization.signature},
        "bleu_signature": bleu_signature(),
        "asr_bleu_protocol": cfg.protocol().describe(),
        "asr_bleu_by_protocol": asr_bleu_by_protocol(scores, cfg),
        "wer": "word error rate in percent (jiwer) over normalised words; overall: errors and words summed",
        "metrics": METRICS,
        "sets": {s.name: {"src_lang": s.src_lang, "tgt_lang": s.tgt_lang, "num_utts": len(s.utt_ids),
                          "missing": s.missing, **s.numbers(),
                          "details": {**{k: v.to_dict() for k, v in s.bleu.items()},
                                      **{k: v.to_dict() for k, v in s.wer.items()},
                                      **{k: quality_summary(v) for k, v in s.quality.items()}}}
                 for s in scores},
        "overall": {"num_utts": sum(len(s.utt_ids) for s in scores), **overall, "details": overall_details},
        "mean": mean_over_sets(scores),
        "seconds": round(time.time() - t0, 1),
    }
    return result, scores


def quality_block(scorer: Any, block: dict | None) -> dict[str, Any]:
    """The ``quality`` entry of ``scores.json``: the scorer, its config block, unit and direction."""
    needs_reference, higher = quality_traits(scorer)
    return {"scorer": dict(block or {"name": scorer.name}), "name": scorer.name,
            "unit": str(getattr(scorer, "unit", "")), "higher_is_better": higher, "needs_reference": needs_reference,
            "what": "mean over the utterances of a set (overall: of every set) of the scorer's per-utterance scores, "
                    f"{'higher' if higher else 'lower'} is better; unscored (NaN) utterances left out and counted"
                    + ("; each utterance compared with its reference target speech, so no reference-speech topline"
                       if needs_reference else "")}


def write_json(path: Path, data: dict) -> None:
    import json

    with atomic_write(path) as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.write("\n")


def run_stage(cfg: ScoreConfig, exp: PathLike, sets: Iterable[str], ref_dump: PathLike = "dump",
              command: str = "", asr: Any = None, vocoder: Callable | None = None,
              quality: Any = None) -> dict[str, Any]:
    """Stage 11 end to end: score, then write the results, plots and the listening page.

    Writes, in ``exp``: ``scores.json``, ``RESULTS.md``, ``plots/scores.png``,
    ``plots/training.png`` (with TensorBoard logs), ``listen/index.html`` and
    its audio, and ``score/config.yaml`` + ``score/plugins.yaml`` (the resolved
    scoring config and plugin versions). ``RESULTS.md`` is written last.

    Returns:
        The ``scores.json`` content.
    """
    from s2s_plugin.config import save_resolved
    from s2s_plugin.eval.listen import write_listening_page
    from s2s_plugin.eval.report import results_markdown

    exp = Path(exp)
    if vocoder is None and cfg.vocoder_exp:
        vocoder = load_vocoder(cfg.vocoder_exp)
    result, set_scores = score_experiment(cfg, exp, sets, ref_dump, command, asr, vocoder, quality)
    save_resolved(cfg, exp / "score")
    write_json(exp / "scores.json", result)
    plots: dict[str, str] = {}
    if cfg.plots:
        from s2s_plugin.eval.plots import plot_set_scores, plot_training

        plot_set_scores(result, exp / "plots" / "scores.png")
        plots["scores per set"] = "plots/scores.png"
        if plot_training(exp, exp / "plots" / "training.png") is not None:
            plots["training curves and p"] = "plots/training.png"
    listen = None
    if cfg.listen_samples > 0:
        write_listening_page(exp / "listen", set_scores, result, cfg.listen_samples, vocoder)
        listen = "listen/index.html"
    with atomic_write(exp / "RESULTS.md") as f:
        f.write(results_markdown(result, plots, listen))
    from humanfriendly import format_timespan

    logger.info("scored %d utterances of %d sets in %s; wrote %s", result["overall"]["num_utts"],
                len(result["sets"]), format_timespan(result["seconds"]), exp / "RESULTS.md")
    return result
