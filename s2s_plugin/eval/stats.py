"""Paired bootstrap over test utterances, and the verdicts on the paper's claims.

    from s2s_plugin.eval.stats import Bootstrap, utterance_stats, claim_a

    boot = Bootstrap(n_resamples=1000, seed=1234)
    base = {1: utterance_stats("bleu", hyps_base_seed1, refs), 2: utterance_stats("bleu", hyps_base_seed2, refs)}
    sched = {1: utterance_stats("bleu", hyps_sched_seed1, refs), 2: ...}
    d = boot.paired_delta("bleu", base, sched, key="test_fr")   # scheduled - baseline
    d.delta, d.lo, d.hi, d.per_seed                             # +3.1, +1.2, +5.0, {1: 2.9, 2: 3.3}
    claim_a({"fr": d, ...}).verdict                             # 'reproduced'

**The delta.** Systems A and B were trained with the same seeds. For each
seed, B's corpus score minus A's on the whole test set; the delta is the
mean of these over the seeds both systems have (``per_seed`` keeps each).

**The interval.** One bootstrap resample draws ``n`` of the ``n`` test
utterances with replacement. Every score of a resample (each seed, both
systems) uses the same drawn utterances, so what the systems have in common
(hard utterances) cancels in the difference: a paired bootstrap
(Koehn 2004; ``sacrebleu.significance``'s paired bootstrap test). On each
resample the per-seed deltas are recomputed at corpus level and averaged
over seeds; the 95% interval is the 2.5th and 97.5th percentile of the
resampled mean deltas, read at the same order statistics as sacrebleu's
``estimate_ci`` (``n // 40`` from each end). It measures how much the test
set's sampling moves the delta, not how much another training seed would;
the per-seed values show that spread.

**What is resampled.** Corpus BLEU is not an average of sentence scores, so
it is recomputed on each resample, from sacrebleu's sufficient statistics
of each utterance (hypothesis and reference lengths, matched and total
n-grams for n = 1..4; :func:`s2s_plugin.eval.metrics.utterance_bleu_stats`):
the counts of a resample are the sums of its utterances' rows and BLEU
follows from them with sacrebleu's own formula and smoothing. This is what
sacrebleu's significance module does, and tokenising once instead of once
per resample is what makes 1000 resamples of every run cheap; the result is
identical to re-running ``corpus_score`` on the resampled texts (tested).
sacrebleu's ``PairedTest`` itself is not called: it compares one run of each
system by a p-value and gives each system's own interval, whereas a
replication needs the interval of the delta averaged over seeds, with one
set of resamples shared by every seed.
WER likewise: errors and reference words of the drawn utterances summed
(:func:`s2s_plugin.eval.metrics.utterance_word_errors`).

**Reproducibility.** The resamples of a test set are drawn from
``numpy.random.default_rng([seed, crc32(key)])``: the same bootstrap seed
gives the same resamples of a set whatever else is compared, and every
comparison on a set uses the same ones.

**Verdicts** (:func:`claim_a` .. :func:`claim_d`, one per claim of
``PAPER.md``, decided on ASR-BLEU): a delta counts as a gain when its whole
interval is on the claimed side of 0, as a loss when it is wholly on the
other side, and as undecided when the interval holds 0. A claim about
several deltas is ``reproduced`` when every one is a gain, ``partly`` when
some are, ``refuted`` when none is and some are losses, ``inconclusive``
when every interval holds 0; a claim whose systems were not all run is
``not run``. A claim about one delta can therefore only be reproduced,
refuted or inconclusive.
"""
from __future__ import annotations

import zlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from s2s_plugin.errors import DataError
from s2s_plugin.eval.metrics import bleu_from_stats, utterance_bleu_stats, utterance_word_errors

Kind = Literal["bleu", "wer"]
#: the verdicts, in the order a report lists them
VERDICTS = ("reproduced", "partly", "refuted", "inconclusive", "not run")
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 1234


def utterance_stats(kind: Kind, hyps: Sequence[str], refs: Sequence[str]) -> np.ndarray:
    """Per-utterance statistics from which a corpus score of any resample follows.

    Args:
        kind: ``bleu`` (sacrebleu's 10 counts per utterance) or ``wer``
            (errors and reference words per utterance).
        hyps, refs: normalised texts, one per utterance, in the same order.

    Returns:
        ``(n, 10)`` or ``(n, 2)`` integer array.
    """
    if kind == "bleu":
        return utterance_bleu_stats(hyps, refs)
    if kind == "wer":
        counts = utterance_word_errors(hyps, refs)
        return np.stack([counts[:, :3].sum(axis=1), counts[:, 3]], axis=1)
    raise ValueError(f"kind must be 'bleu' or 'wer', got {kind!r}")


def corpus_scores(kind: Kind, summed: np.ndarray) -> np.ndarray:
    """Corpus scores of summed statistics, one per row of ``summed`` (``(k, d)`` -> ``(k,)``).

    WER is in percent; a resample without a single reference word has no WER (NaN).
    """
    summed = np.atleast_2d(summed)
    if kind == "bleu":
        return np.asarray(bleu_from_stats(summed), dtype=np.float64)
    if kind == "wer":
        errors, words = summed[:, 0].astype(np.float64), summed[:, 1].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(words > 0, 100.0 * errors / np.maximum(words, 1), np.nan)
    raise ValueError(f"kind must be 'bleu' or 'wer', got {kind!r}")


def corpus_score(kind: Kind, stats: np.ndarray) -> float:
    """The corpus score of all utterances of ``stats`` (what ``s2s score`` reports)."""
    return float(corpus_scores(kind, stats.sum(axis=0))[0])


@dataclass(frozen=True)
class Delta:
    """A paired difference B - A, averaged over seeds, with its 95% bootstrap interval.

    Attributes:
        delta: mean over seeds of B's score minus A's, on the whole test set.
        lo, hi: the 95% paired bootstrap interval of ``delta``.
        per_seed: seed -> that seed's delta.
        samples: the resampled values of ``delta`` (one per resample).
    """

    delta: float
    lo: float
    hi: float
    per_seed: dict = field(default_factory=dict)
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    @classmethod
    def from_samples(cls, delta: float, samples: np.ndarray, per_seed: Mapping | None = None) -> Delta:
        """A delta with its interval read from ``samples`` (see :func:`interval`)."""
        lo, hi = interval(samples)
        return cls(float(delta), lo, hi, dict(per_seed or {}), np.asarray(samples, dtype=np.float64))

    @property
    def sign(self) -> int:
        """+1 when the whole interval is above 0, -1 when below, 0 when it holds 0."""
        return 1 if self.lo > 0 else -1 if self.hi < 0 else 0

    def minus(self, other: Delta) -> Delta:
        """``self - other``; its interval from the resampled values subtracted resample by resample.

        Right for deltas of different test sets (independent resamples) and
        for deltas of the same set (the same resamples, so pairing is kept).
        """
        if len(self.samples) != len(other.samples) or not len(self.samples):
            raise ValueError("both deltas need the same number of bootstrap samples")
        return Delta.from_samples(self.delta - other.delta, self.samples - other.samples)

    def text(self, digits: int = 2) -> str:
        """``+1.23 [+0.40, +2.10]``."""
        return f"{self.delta:+.{digits}f} [{self.lo:+.{digits}f}, {self.hi:+.{digits}f}]"

    def to_dict(self) -> dict:
        return {"delta": round(self.delta, 4), "lo": round(self.lo, 4), "hi": round(self.hi, 4),
                "per_seed": {str(k): round(v, 4) for k, v in self.per_seed.items()}}


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap ``samples`` (NaNs left out).

    For ``level=0.95`` the bounds are the order statistics ``n // 40`` and
    ``n - 1 - n // 40`` of the sorted samples, as ``sacrebleu.significance.estimate_ci`` reads them.
    """
    s = np.sort(np.asarray(samples, dtype=np.float64))
    s = s[~np.isnan(s)]
    if not len(s):
        raise DataError("no bootstrap resample has a score (every resample lacks reference words)")
    k = int(len(s) * (1 - level) / 2)
    return float(s[k]), float(s[len(s) - 1 - k])


class Bootstrap:
    """Paired bootstrap resampling of test utterances, seeded and shared by every comparison.

    Example::

        boot = Bootstrap(1000, seed=1234)
        d = boot.paired_delta("bleu", {1: stats_a}, {1: stats_b}, key="test_fr")

    Args:
        n_resamples: resamples per test set.
        seed: the bootstrap seed; with ``key`` it fixes the resamples of a set.
    """

    def __init__(self, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> None:
        if n_resamples < 40:
            raise ValueError(f"need at least 40 bootstrap resamples for a 95% interval, got {n_resamples}")
        self.n_resamples, self.seed = int(n_resamples), int(seed)
        self._counts: dict[tuple[str, int], np.ndarray] = {}

    def counts(self, key: str, n: int) -> np.ndarray:
        """``(n_resamples, n)``: how often each of the ``n`` utterances of set ``key`` is drawn in each resample."""
        if (key, n) not in self._counts:
            rng = np.random.default_rng([self.seed, zlib.crc32(key.encode("utf-8"))])
            idx = rng.integers(0, n, size=(self.n_resamples, n))
            flat = (np.arange(self.n_resamples)[:, None] * n + idx).ravel()
            counts = np.bincount(flat, minlength=self.n_resamples * n).reshape(self.n_resamples, n)
            self._counts[(key, n)] = counts.astype(np.int32)
        return self._counts[(key, n)]

    def resampled(self, kind: Kind, stats: np.ndarray, key: str) -> np.ndarray:
        """The corpus score of each resample of set ``key`` (``(n_resamples,)``)."""
        return corpus_scores(kind, self.counts(key, len(stats)) @ stats)

    def paired_delta(self, kind: Kind, a: Mapping[Hashable, np.ndarray], b: Mapping[Hashable, np.ndarray],
                     key: str, cache: dict | None = None) -> Delta:
        """B - A over the seeds both have (see the module docstring).

        Args:
            kind: ``bleu`` or ``wer``.
            a, b: seed -> :func:`utterance_stats` of that seed's run on set ``key``.
            key: the test set (fixes the resamples).
            cache: optional dict keeping resampled scores by ``id`` of the stats array, so a run
                compared several times is resampled once.

        Raises:
            DataError: no seed in common, or runs with different numbers of utterances.
        """
        seeds = [s for s in a if s in b]
        if not seeds:
            raise DataError(f"{key}: the two systems share no seed (A: {_seeds(a)}; B: {_seeds(b)}); "
                            "a paired delta needs runs of both with the same seed")
        n = {len(x) for x in [*a.values(), *b.values()]}
        if len(n) != 1:
            raise DataError(f"{key}: runs hold different numbers of utterances ({sorted(n)}); were they "
                            "scored on the same test set?")
        cache = {} if cache is None else cache

        def res(stats: np.ndarray) -> np.ndarray:
            if id(stats) not in cache:
                cache[id(stats)] = (stats, self.resampled(kind, stats, key))  # keep stats alive: ids stay unique
            return cache[id(stats)][1]

        per_seed = {s: corpus_score(kind, b[s]) - corpus_score(kind, a[s]) for s in seeds}
        samples = np.mean([res(b[s]) - res(a[s]) for s in seeds], axis=0)
        return Delta.from_samples(float(np.mean(list(per_seed.values()))), samples, per_seed)


def _seeds(runs: Mapping) -> str:
    return " ".join(map(str, runs)) or "none"


# -- verdicts -------------------------------------------------------------------
#: the claims of PAPER.md, checked on ASR-BLEU
CLAIMS = {
    "a": "Scheduled interleaving beats the baseline (no interleaving) on every language.",
    "b": "The gain of scheduled interleaving over the baseline is largest for the lowest-resource language.",
    "c": "A constant text ratio (p = 0.3) hurts the highest-resource language: it scores below the baseline "
         "(paper: Fr 25.8 vs 28.8).",
    "d": "On the lowest-resource language (paper: Pt-En) every ablation (input only, output only, [MASK] "
         "spans, uniform spans) scores below the full scheduled method.",
}


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim: ``reproduced``, ``partly``, ``refuted``, ``inconclusive`` or ``not run``."""

    claim: str
    statement: str
    verdict: str
    reason: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")

    def to_dict(self) -> dict:
        return {"claim": self.claim, "statement": self.statement, "verdict": self.verdict, "reason": self.reason}


def combine(deltas: Mapping[str, Delta], direction: int) -> str:
    """The verdict on "every delta is on the ``direction`` side of 0" (+1: above, -1: below)."""
    if not deltas:
        raise ValueError("no deltas to judge")
    signs = [d.sign * direction for d in deltas.values()]
    if all(s > 0 for s in signs):
        return "reproduced"
    if any(s > 0 for s in signs):
        return "partly"
    if any(s < 0 for s in signs):
        return "refuted"
    return "inconclusive"


def _tally(deltas: Mapping[str, Delta], direction: int) -> str:
    gains = sum(d.sign * direction > 0 for d in deltas.values())
    losses = sum(d.sign * direction < 0 for d in deltas.values())
    undecided = len(deltas) - gains - losses
    return f"{gains} of {len(deltas)} on the claimed side, {losses} on the other, {undecided} undecided"


def _listed(deltas: Mapping[str, Delta]) -> str:
    return "; ".join(f"{k} {d.text()}" for k, d in deltas.items())


def _not_run(claim: str, missing: Sequence[str], why: str = "") -> Verdict:
    what = why or f"not run: no runs of {', '.join(missing)}"
    return Verdict(claim, CLAIMS[claim], "not run", what)


def claim_a(gains: Mapping[str, Delta], missing: Sequence[str] = ()) -> Verdict:
    """(a) scheduled - baseline > 0 on every language.

    Args:
        gains: language -> ASR-BLEU delta scheduled - baseline.
        missing: systems of the claim that were not run (then the verdict is ``not run``).
    """
    if missing or not gains:
        return _not_run("a", missing or ["scheduled", "baseline"])
    verdict = combine(gains, +1)
    return Verdict("a", CLAIMS["a"], verdict, f"ASR-BLEU scheduled - baseline: {_listed(gains)} "
                   f"({_tally(gains, +1)})")


def claim_b(gains: Mapping[str, Delta], order: Sequence[str], missing: Sequence[str] = ()) -> Verdict:
    """(b) the gain at the lowest-resource language exceeds the gain at every other language.

    Each comparison is the difference of two gains, with its interval from
    the resamples of both test sets (:meth:`Delta.minus`).

    Args:
        gains: language -> ASR-BLEU delta scheduled - baseline.
        order: the languages from the most to the least training data.
        missing: systems of the claim that were not run.
    """
    if missing or not gains:
        return _not_run("b", missing or ["scheduled", "baseline"])
    langs = [lang for lang in order if lang in gains]
    if len(langs) < 2:
        return _not_run("b", (), f"not run: needs gains on two languages or more, have {', '.join(gains)}")
    low = langs[-1]
    diffs = {f"gain({low}) - gain({lang})": gains[low].minus(gains[lang]) for lang in langs[:-1]}
    verdict = combine(diffs, +1)
    return Verdict("b", CLAIMS["b"], verdict,
                   f"ASR-BLEU, {low} has the least training data: {_listed(diffs)} ({_tally(diffs, +1)})")


def claim_c(delta: Delta | None, lang: str, missing: Sequence[str] = ()) -> Verdict:
    """(c) constant - baseline < 0 on the highest-resource language ``lang``."""
    if missing:
        return _not_run("c", missing)
    if delta is None:
        return _not_run("c", (), f"not run: no constant and baseline runs scored on {lang}")
    verdict = combine({lang: delta}, -1)
    return Verdict("c", CLAIMS["c"], verdict, f"ASR-BLEU constant - baseline on {lang} (most training data): "
                   f"{delta.text()} ({'below 0' if delta.sign < 0 else 'above 0' if delta.sign > 0 else 'holds 0'})")


def claim_d(deltas: Mapping[str, Delta], lang: str, missing: Sequence[str] = (),
            scheduled_missing: bool = False) -> Verdict:
    """(d) ablation - scheduled < 0 for every ablation, on the lowest-resource language ``lang``.

    Args:
        deltas: ablation system -> ASR-BLEU delta ablation - scheduled on ``lang``.
        lang: the lowest-resource language.
        missing: ablations that were not run (judged on the others, and named in the reason).
        scheduled_missing: the full method was not run (``not run``).
    """
    if scheduled_missing or not deltas:
        return _not_run("d", ["scheduled"] if scheduled_missing else (missing or ["the ablations"]))
    verdict = combine(deltas, -1)
    reason = f"ASR-BLEU ablation - scheduled on {lang} (least training data): {_listed(deltas)} " \
             f"({_tally(deltas, -1)})"
    if missing:
        reason += f"; not run: {', '.join(missing)}"
        if verdict == "reproduced":
            verdict = "partly"  # the claim is about every ablation
    return Verdict("d", CLAIMS["d"], verdict, reason)
