"""Corpus BLEU (sacrebleu) and word error rate (jiwer) on already normalised text.

    from s2s_plugin.eval.metrics import corpus_bleu, word_error_rate

    b = corpus_bleu(["the cat sat on a mat"], ["the cat sat on the mat"])
    b.score, b.signature     # 53.73..., 'nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0'
    w = word_error_rate(["the cat sat"], ["a cat sat down"])
    w.wer, w.errors, w.ref_words   # 50.0, 2, 4

For the paired bootstrap (:mod:`s2s_plugin.eval.stats`), the same numbers
per utterance, so that a corpus score of any resample is a sum::

    stats = utterance_bleu_stats(hyps, refs)   # (n, 10): sacrebleu's sufficient statistics
    bleu_from_stats(stats.sum(axis=0))         # == corpus_bleu(hyps, refs).score
    utterance_word_errors(hyps, refs)          # (n, 4): substitutions, deletions, insertions, ref words

All take hypotheses first, then references, one string per utterance in
the same order. Normalise both sides with
:class:`~s2s_plugin.eval.normalize.TextNormalizer` first; BLEU then runs
sacrebleu's default 13a tokeniser and lower-casing (a no-op after the
normaliser, but it makes the signature say ``case:lc``).

``quality_summary(scores)`` summarises per-utterance speech quality scores
(mean, sd, count; NaN counts as unscored).
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from s2s_plugin.errors import DataError


@dataclass(frozen=True)
class BleuScore:
    """Corpus BLEU and what it is made of (sacrebleu's statistics)."""

    score: float
    signature: str
    precisions: list[float]
    bp: float
    sys_len: int
    ref_len: int
    counts: list[int]
    totals: list[int]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class WerScore:
    """Word error rate in percent, with its counts (so pooled WERs can be summed)."""

    wer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    def to_dict(self) -> dict:
        return {**asdict(self), "errors": self.errors}


def _check_lengths(hyps: Sequence[str], refs: Sequence[str], what: str) -> None:
    if len(hyps) != len(refs):
        raise DataError(f"{what}: {len(hyps)} hypotheses but {len(refs)} references")
    if not refs:
        raise DataError(f"{what}: no utterances to score")


def bleu_metric(lowercase: bool = True):
    """The sacrebleu metric object every score uses (13a tokens, exp smoothing; lower case unless told).

    ``lowercase=False`` is sacrebleu's default (``case:mixed``), which fairseq's
    ASR-BLEU uses (:mod:`s2s_plugin.eval.bleu_protocols`).
    """
    from sacrebleu.metrics import BLEU

    return BLEU(lowercase=lowercase, tokenize="13a", smooth_method="exp")


def bleu_signature(lowercase: bool = True) -> str:
    """The sacrebleu signature of :func:`bleu_metric`, e.g. ``nrefs:1|case:lc|...|version:2.6.0``."""
    metric = bleu_metric(lowercase)
    metric.corpus_score(["a"], [["a"]])  # sacrebleu knows the number of references only after scoring
    return str(metric.get_signature())


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str], lowercase: bool = True) -> BleuScore:
    """Corpus BLEU of ``hyps`` against one reference each (0-100).

    Args:
        hyps, refs: one string per utterance, in the same order.
        lowercase: sacrebleu's ``lowercase`` (``case:lc``); off only for fairseq's ASR-BLEU protocol.

    Raises:
        DataError: different numbers of hypotheses and references, or none.
    """
    _check_lengths(hyps, refs, "BLEU")
    metric = bleu_metric(lowercase)
    r = metric.corpus_score(list(hyps), [list(refs)])
    return BleuScore(score=float(r.score), signature=str(metric.get_signature()),
                     precisions=[float(p) for p in r.precisions], bp=float(r.bp), sys_len=int(r.sys_len),
                     ref_len=int(r.ref_len), counts=[int(c) for c in r.counts],
                     totals=[int(t) for t in r.totals])


def utterance_bleu_stats(hyps: Sequence[str], refs: Sequence[str], lowercase: bool = True) -> np.ndarray:
    """sacrebleu's sufficient statistics of each utterance, for corpus BLEU of any subset or resample.

    Each row is what :func:`bleu_metric` counts for one hypothesis:
    ``[sys_len, ref_len, correct_1..4, total_1..4]``. Corpus BLEU of a set of
    utterances is :func:`bleu_from_stats` of their summed rows, the same
    number :func:`corpus_bleu` gives (sacrebleu's own paired bootstrap,
    ``sacrebleu.significance``, resamples these rows the same way). The
    rows come from sacrebleu's ``_extract_corpus_statistics``, the method its
    significance module uses; it is not public API, so the tests compare
    the two paths on every sacrebleu version CI installs. ``lowercase`` as
    in :func:`corpus_bleu` (the summed rows score the same with either
    metric: case changes only the counting).

    Returns:
        ``int64`` array of shape ``(len(refs), 10)``.

    Raises:
        DataError: different numbers of hypotheses and references, or none.
    """
    _check_lengths(hyps, refs, "BLEU")
    stats = bleu_metric(lowercase)._extract_corpus_statistics(list(hyps), [list(refs)])
    return np.asarray(stats, dtype=np.int64).reshape(len(refs), -1)


@functools.lru_cache(maxsize=1)
def _stats_metric():
    return bleu_metric()  # only its formula and smoothing settings are used: no state to share


def bleu_from_stats(summed: Sequence[int] | np.ndarray) -> np.ndarray | float:
    """Corpus BLEU (0-100) from summed :func:`utterance_bleu_stats` rows (sacrebleu's formula and smoothing).

    Args:
        summed: one summed row (a float is returned) or a ``(k, 10)`` array of them (``k`` scores).
    """
    arr = np.asarray(summed, dtype=np.int64)
    metric = _stats_metric()
    if arr.ndim == 1:
        return float(metric._compute_score_from_stats(arr.tolist()).score)
    return np.array([metric._compute_score_from_stats(row).score for row in arr.tolist()], dtype=np.float64)


def word_error_rate(hyps: Sequence[str], refs: Sequence[str]) -> WerScore:
    """Word error rate of ``hyps`` against ``refs`` in percent (words split on spaces).

    Empty hypotheses are allowed (all reference words are deletions); an
    empty reference adds its hypothesis words as insertions.

    Raises:
        DataError: different numbers of hypotheses and references, none, or only empty references.
    """
    subs, dels, ins, ref_words = (int(c) for c in utterance_word_errors(hyps, refs).sum(axis=0))
    if not ref_words:
        raise DataError("WER: every reference is empty (after normalisation); nothing to score")
    return WerScore(wer=100.0 * (subs + dels + ins) / ref_words, substitutions=subs,
                    deletions=dels, insertions=ins, ref_words=ref_words)


def utterance_word_errors(hyps: Sequence[str], refs: Sequence[str]) -> np.ndarray:
    """Per utterance: substitutions, deletions, insertions and reference words (jiwer's alignment).

    The rows sum to the counts of :func:`word_error_rate` (which is computed
    from them), so a WER over any subset or resample of utterances is
    ``100 * (S + D + I) / N`` of the summed rows. An empty reference counts
    its hypothesis words as insertions.

    Returns:
        ``int64`` array of shape ``(len(refs), 4)``.

    Raises:
        DataError: different numbers of hypotheses and references, or none.
    """
    import jiwer

    _check_lengths(hyps, refs, "WER")
    out = np.zeros((len(refs), 4), dtype=np.int64)
    scorable = [i for i, r in enumerate(refs) if r.split()]
    for i, h in enumerate(hyps):
        if not refs[i].split():  # jiwer refuses empty references
            out[i, 2] = len(h.split())
    if scorable:
        res = jiwer.process_words([refs[i] for i in scorable], [hyps[i] for i in scorable])
        for i, chunks in zip(scorable, res.alignments):
            for c in chunks:
                n_ref, n_hyp = c.ref_end_idx - c.ref_start_idx, c.hyp_end_idx - c.hyp_start_idx
                if c.type == "substitute":
                    out[i, 0] += n_ref
                elif c.type == "delete":
                    out[i, 1] += n_ref
                elif c.type == "insert":
                    out[i, 2] += n_hyp
                out[i, 3] += n_ref  # hits, substitutions and deletions: every reference word once
    return out


def pooled_wer(scores: Sequence[WerScore]) -> WerScore:
    """One WER over several sets: errors and reference words summed."""
    s, d, i = (sum(getattr(x, key) for x in scores) for key in ("substitutions", "deletions", "insertions"))
    n = sum(x.ref_words for x in scores)
    return WerScore(wer=100.0 * (s + d + i) / n if n else 0.0, substitutions=s, deletions=d, insertions=i,
                    ref_words=n)


def quality_summary(values: Iterable[float]) -> dict[str, Any]:
    """Mean and sample standard deviation over the scored utterances (NaN values are unscored)."""
    vals = np.asarray(list(values), dtype=np.float64)
    ok = vals[np.isfinite(vals)]
    return {"mean": round(float(ok.mean()), 2) if ok.size else None,
            "sd": round(float(ok.std(ddof=1)), 2) if ok.size > 1 else None,
            "n": int(ok.size), "unscored": int(vals.size - ok.size)}
