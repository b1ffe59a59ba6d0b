"""Corpus BLEU (sacrebleu) and word error rate (jiwer) on already normalised text.

    from s2s_plugin.eval.metrics import corpus_bleu, word_error_rate

    b = corpus_bleu(["the cat sat on a mat"], ["the cat sat on the mat"])
    b.score, b.signature     # 53.73..., 'nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0'
    w = word_error_rate(["the cat sat"], ["a cat sat down"])
    w.wer, w.errors, w.ref_words   # 50.0, 2, 4

Both take hypotheses first, then references, one string per utterance in
the same order. Normalise both sides with
:class:`~s2s_plugin.eval.normalize.TextNormalizer` first; BLEU then runs
sacrebleu's default 13a tokeniser and lower-casing (a no-op after the
normaliser, but it makes the signature say ``case:lc``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

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


def bleu_metric():
    """The sacrebleu metric object every score uses (13a tokens, lower case, exp smoothing)."""
    from sacrebleu.metrics import BLEU

    return BLEU(lowercase=True, tokenize="13a", smooth_method="exp")


def bleu_signature() -> str:
    """The sacrebleu signature of :func:`bleu_metric`, e.g. ``nrefs:1|case:lc|...|version:2.6.0``."""
    metric = bleu_metric()
    metric.corpus_score(["a"], [["a"]])  # sacrebleu knows the number of references only after scoring
    return str(metric.get_signature())


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str]) -> BleuScore:
    """Corpus BLEU of ``hyps`` against one reference each (0-100).

    Raises:
        DataError: different numbers of hypotheses and references, or none.
    """
    _check_lengths(hyps, refs, "BLEU")
    metric = bleu_metric()
    r = metric.corpus_score(list(hyps), [list(refs)])
    return BleuScore(score=float(r.score), signature=str(metric.get_signature()),
                     precisions=[float(p) for p in r.precisions], bp=float(r.bp), sys_len=int(r.sys_len),
                     ref_len=int(r.ref_len), counts=[int(c) for c in r.counts],
                     totals=[int(t) for t in r.totals])


def word_error_rate(hyps: Sequence[str], refs: Sequence[str]) -> WerScore:
    """Word error rate of ``hyps`` against ``refs`` in percent (words split on spaces).

    Empty hypotheses are allowed (all reference words are deletions); an
    empty reference adds its hypothesis words as insertions.

    Raises:
        DataError: different numbers of hypotheses and references, none, or only empty references.
    """
    import jiwer

    _check_lengths(hyps, refs, "WER")
    subs = dels = ins = ref_words = 0
    pairs = list(zip(hyps, refs))
    scorable = [(h, r) for h, r in pairs if r.split()]
    for h, r in pairs:
        if not r.split():  # jiwer refuses empty references
            ins += len(h.split())
    if scorable:
        out = jiwer.process_words([r for _, r in scorable], [h for h, _ in scorable])
        subs, dels, ins = out.substitutions, out.deletions, ins + out.insertions
        ref_words = out.hits + out.substitutions + out.deletions
    if not ref_words:
        raise DataError("WER: every reference is empty (after normalisation); nothing to score")
    return WerScore(wer=100.0 * (subs + dels + ins) / ref_words, substitutions=int(subs),
                    deletions=int(dels), insertions=int(ins), ref_words=int(ref_words))


def pooled_wer(scores: Sequence[WerScore]) -> WerScore:
    """One WER over several sets: errors and reference words summed."""
    s, d, i = (sum(getattr(x, key) for x in scores) for key in ("substitutions", "deletions", "insertions"))
    n = sum(x.ref_words for x in scores)
    return WerScore(wer=100.0 * (s + d + i) / n if n else 0.0, substitutions=s, deletions=d, insertions=i,
                    ref_words=n)
