"""Word-level interleaving of speech units with text (PAPER.md's algorithm).

Given one side of an utterance (its unit token ids, each word's unit span and
the word's text token ids) and the text ratio ``p`` of the current step,
spans of consecutive words have their units replaced by their text tokens::

    replaced = 0; every word eligible
    while replaced / n_words < p:
        j = a random eligible word
        l ~ Poisson(lam)
        words j .. j+l (stopping early at an already replaced word or the end)
        are replaced: units [start_j, end_{j+l}) -> text tokens of those words
        (or one mask token per span), and marked used

so the realised ratio is >= p and exceeds it by at most one span. Units
outside the replaced spans (silence, units between words) are kept, order is
kept, and the random stream depends only on (seed, utterance key, step, side)::

    il = Interleaver(lam=1.0, seed=0)
    out = il(units=[10, 11, 12, 13, 14, 15], spans=[(0, 3), (3, 6)],
             word_tokens=[[1], [2, 3]], p=0.5, key="utt1", step=40, side="src")
    out.tokens      # e.g. [1, 13, 14, 15]: word 0 as text, word 1 as units
    out.is_text     # [True, False, False, False]
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from s2s_plugin.errors import ConfigError, DataError

SIDES = ("src", "tgt")


@dataclass
class Interleaved:
    """The result of interleaving one side of one utterance.

    Attributes:
        tokens: the interleaved token ids.
        is_text: per token, whether it is text (text tokens, mask and switch tokens) or a unit.
        replaced: indices of the replaced words, in order.
        spans: the replaced word spans as (first word, last word + 1), in text order.
    """

    tokens: list[int]
    is_text: list[bool]
    replaced: list[int] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)

    def ratio(self, n_words: int) -> float:
        """Share of words replaced."""
        return len(self.replaced) / n_words if n_words else 0.0


def _stream_seed(seed: int, key: str, step: int, side: str) -> list[int]:
    # crc32 is stable across processes and Python versions (unlike hash()).
    return [seed & 0xFFFFFFFF, zlib.crc32(key.encode("utf-8")), step, SIDES.index(side) if side in SIDES
            else zlib.crc32(side.encode("utf-8"))]


def check_spans(spans: Sequence[tuple[int, int]], n_units: int, key: str = "") -> None:
    """Check word spans are in range, non-empty, ordered and not overlapping.

    Raises:
        DataError: naming the utterance and the first bad word.
    """
    prev_end = 0
    for i, (a, b) in enumerate(spans):
        if not 0 <= a < b <= n_units or a < prev_end:
            raise DataError(f"utterance '{key}': word {i} has unit span [{a}, {b}) which is empty, out of "
                            f"range [0, {n_units}) or overlaps the previous word (ends at {prev_end}); "
                            "re-run the word alignment stage for it")
        prev_end = b


class Interleaver:
    """Replaces spans of words' speech units by their text (or a mask token).

    Args:
        lam: the Poisson mean of the extra span length (a span covers 1 + Poisson(lam) words).
        mode: ``"text"`` replaces a span by its words' text tokens, ``"mask"`` by one ``mask_id``.
        mask_id: the token id used in ``"mask"`` mode.
        text_switch_id: if set, inserted where units switch to text (adjacent spans share one region).
        speech_switch_id: if set, inserted where text switches back to units.
        seed: the base seed; (seed, key, step, side) fixes the random stream.

    Raises:
        ConfigError: invalid parameters.
    """

    def __init__(self, lam: float = 1.0, mode: Literal["text", "mask"] = "text", mask_id: int | None = None,
                 text_switch_id: int | None = None, speech_switch_id: int | None = None, seed: int = 0) -> None:
        if not lam >= 0:
            raise ConfigError(f"interleaver: lam must be >= 0, got {lam!r}")
        if mode not in ("text", "mask"):
            raise ConfigError(f"interleaver: mode must be 'text' or 'mask', got {mode!r}")
        if mode == "mask" and mask_id is None:
            raise ConfigError("interleaver: mode 'mask' needs mask_id (the id of the [MASK] token)")
        self.lam = float(lam)
        self.mode = mode
        self.mask_id = mask_id
        self.text_switch_id = text_switch_id
        self.speech_switch_id = speech_switch_id
        self.seed = int(seed)

    def choose_spans(self, n_words: int, p: float, rng: np.random.Generator) -> list[tuple[int, int]]:
        """Pick the word spans to replace, in the order they were drawn.

        Returns:
            Spans ``(first, last + 1)`` of word indices.
        """
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"text ratio p must be in [0, 1], got {p}")
        used = [False] * n_words
        eligible = list(range(n_words))  # unused words, kept sorted
        target = p * n_words
        replaced = 0
        spans: list[tuple[int, int]] = []
        # at most n_words spans: draw every random number in two vectorised calls
        picks = rng.random(n_words).tolist()
        extra = rng.poisson(self.lam, n_words).tolist() if self.lam > 0 else [0] * n_words
        for u, more in zip(picks, extra):
            if replaced >= target or not eligible:
                break
            k = min(int(u * len(eligible)), len(eligible) - 1)
            j = eligible[k]
            end = j
            while end < n_words and end - j <= more and not used[end]:
                used[end] = True
                end += 1
            # the span's words are consecutive in `eligible`, starting at k
            del eligible[k:k + (end - j)]
            replaced += end - j
            spans.append((j, end))
        return spans

    def __call__(self, units: Sequence[int], spans: Sequence[tuple[int, int]],
                 word_tokens: Sequence[Sequence[int]], p: float, key: str = "", step: int = 0,
                 side: str = "src") -> Interleaved:
        """Interleave one side of one utterance.

        Args:
            units: unit token ids of the side.
            spans: per word, its unit frames ``[start, end)`` (ordered, not overlapping).
            word_tokens: per word, its text token ids.
            p: text ratio in [0, 1].
            key: utterance id (part of the random stream's seed).
            step: global optimiser step (part of the seed).
            side: ``"src"`` or ``"tgt"`` (part of the seed).

        Raises:
            DataError: spans and words disagree in number, or a span is invalid.
        """
        if len(spans) != len(word_tokens):
            raise DataError(f"utterance '{key}' ({side}): {len(spans)} word spans but "
                            f"{len(word_tokens)} words of text; the alignment and the text disagree")
        n = len(spans)
        units = list(units)
        if p <= 0.0 or n == 0:
            return Interleaved(units, [False] * len(units))
        rng = np.random.default_rng(_stream_seed(self.seed, key, step, side))
        chosen = sorted(self.choose_spans(n, p, rng))
        tokens: list[int] = []
        is_text: list[bool] = []
        pos = 0  # next unit frame to copy
        in_text = False  # inside a text region (switch tokens mark region borders only)
        for first, last in chosen:
            a, b = spans[first][0], spans[last - 1][1]
            if a > pos or not in_text:
                if in_text and self.speech_switch_id is not None:
                    tokens.append(self.speech_switch_id)
                    is_text.append(True)
                tokens += units[pos:a]
                is_text += [False] * (a - pos)
                if self.text_switch_id is not None:
                    tokens.append(self.text_switch_id)
                    is_text.append(True)
                in_text = True
            if self.mode == "mask":
                text = [self.mask_id]
            else:
                text = [t for w in range(first, last) for t in word_tokens[w]]
            tokens += text  # type: ignore[arg-type]
            is_text += [True] * len(text)
            pos = b
        if pos < len(units):
            if in_text and self.speech_switch_id is not None:
                tokens.append(self.speech_switch_id)
                is_text.append(True)
            tokens += units[pos:]
            is_text += [False] * (len(units) - pos)
        replaced = [w for first, last in chosen for w in range(first, last)]
        return Interleaved(tokens, is_text, replaced, chosen)


def spans_from_times(starts: Sequence[float], ends: Sequence[float], frame_rate: float,
                     n_units: int) -> list[tuple[int, int]]:
    """Convert word times in seconds to unit frame spans ``[start, end)``.

    Each word gets at least one frame; spans are clipped to ``n_units`` and
    made non-overlapping (a word starts no earlier than the previous one ends).

    Args:
        starts: word start times (seconds), ordered.
        ends: word end times (seconds).
        frame_rate: units per second (e.g. 50 for 20 ms frames).
        n_units: number of units of the utterance.
    """
    spans = []
    prev_end = 0
    for s, e in zip(starts, ends):
        a = max(prev_end, min(int(round(s * frame_rate)), n_units - 1))
        b = max(a + 1, min(int(round(e * frame_rate)), n_units))
        spans.append((a, b))
        prev_end = b
    return spans


def dedup_with_spans(units: Sequence[int], spans: Sequence[tuple[int, int]] | None
                     ) -> tuple[list[int], list[tuple[int, int]] | None]:
    """Collapse runs of a repeated unit, carrying word spans over to the shorter sequence.

    A run belongs to the word its first frame lies in, so word spans stay ordered and
    disjoint; a word lying wholly inside a run that began in the word before gets an empty
    span ``(a, a)`` (the interleaver then puts its text where the run ends). Units between
    words (pauses) stay between them.

    Args:
        units: one side's units at the frame rate.
        spans: per word, its frames ``[start, end)`` (checked by :func:`check_spans`), or ``None``.

    Returns:
        The de-duplicated units and the spans in their positions (``None`` if none were given).

    Example::

        dedup_with_spans([5, 5, 7, 7, 7, 2], [(0, 3), (3, 6)])   # ([5, 7, 2], [(0, 2), (2, 3)])
    """
    u = np.asarray(units)
    if len(u) == 0:
        return [], None if spans is None else [(0, 0) for _ in spans]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    out = u[starts].tolist()
    if spans is None:
        return out, None
    # new position of frame f's run if a run starts at f: number of runs starting before f
    edges = np.searchsorted(starts, np.asarray(spans, dtype=np.int64).reshape(-1, 2), side="left")
    return out, [(int(a), int(b)) for a, b in edges]
