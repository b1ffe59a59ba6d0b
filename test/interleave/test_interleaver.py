"""Properties of the interleaver (PAPER.md's algorithm), checked with hypothesis."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.interleave.interleaver import Interleaver, check_spans, dedup_with_spans, spans_from_times

UNIT0 = 1000  # unit token ids start here; text ids are < UNIT0
MASK, TSW, SSW = 900, 901, 902


@st.composite
def utterances(draw):
    """Units with word spans (gaps allowed before, between and after words) and word tokens."""
    n_words = draw(st.integers(1, 25))
    spans, pos = [], draw(st.integers(0, 5))
    for _ in range(n_words):
        length = draw(st.integers(1, 12))
        spans.append((pos, pos + length))
        pos += length + draw(st.integers(0, 4))
    n_units = pos + draw(st.integers(0, 5))
    units = [UNIT0 + draw(st.integers(0, 499)) for _ in range(n_units)]
    words = [[10 * i + k for k in range(draw(st.integers(1, 3)))] for i in range(n_words)]
    return units, spans, words


def non_word_units(units, spans, covered):
    """Unit positions outside every replaced region."""
    keep = set(range(len(units)))
    for a, b in covered:
        keep -= set(range(a, b))
    return [units[i] for i in sorted(keep)]


@settings(max_examples=150, deadline=None)
@given(utterances(), st.floats(0.0, 1.0), st.floats(0.0, 4.0), st.integers(0, 2**31))
def test_ratio_order_and_kept_units(utt, p, lam, seed):
    units, spans, words = utt
    il = Interleaver(lam=lam, seed=seed)
    out = il(units, spans, words, p, key="u1", step=3)
    n = len(words)
    ratio = out.ratio(n)
    # the realised ratio reaches p and overshoots by at most the last span
    assert ratio >= p - 1e-12
    last_len = max((b - a for a, b in out.spans), default=0)
    assert ratio - p <= last_len / n + 1e-12
    # replaced words are exactly the union of the spans, each span contiguous
    assert out.replaced == [w for a, b in out.spans for w in range(a, b)]
    assert len(set(out.replaced)) == len(out.replaced)
    # units outside the replaced regions survive, in order; text tokens appear in word order
    covered = [(spans[a][0], spans[b - 1][1]) for a, b in out.spans]
    assert [t for t, txt in zip(out.tokens, out.is_text) if not txt] == non_word_units(units, spans, covered)
    assert [t for t, txt in zip(out.tokens, out.is_text) if txt] == [t for w in out.replaced for t in words[w]]
    assert len(out.tokens) == len(out.is_text)


@settings(max_examples=60, deadline=None)
@given(utterances(), st.integers(0, 1000))
def test_p0_returns_units_unchanged(utt, seed):
    units, spans, words = utt
    out = Interleaver(seed=seed)(units, spans, words, 0.0, key="k")
    assert out.tokens == units and not any(out.is_text) and out.replaced == []


@settings(max_examples=60, deadline=None)
@given(utterances(), st.floats(0.0, 3.0))
def test_p1_replaces_every_word(utt, lam):
    units, spans, words = utt
    out = Interleaver(lam=lam)(units, spans, words, 1.0, key="k")
    assert sorted(out.replaced) == list(range(len(words)))
    # all word text, in order; of the units only those before the first and after the last word remain
    assert [t for t, txt in zip(out.tokens, out.is_text) if txt] == [t for w in words for t in w]
    kept = [t for t, txt in zip(out.tokens, out.is_text) if not txt]
    covered = [(spans[a][0], spans[b - 1][1]) for a, b in out.spans]
    assert kept == non_word_units(units, spans, covered)


@settings(max_examples=60, deadline=None)
@given(utterances(), st.floats(0.05, 1.0), st.integers(0, 2**31), st.integers(0, 10**6))
def test_same_seed_same_output_and_seed_matters(utt, p, seed, step):
    units, spans, words = utt
    a = Interleaver(lam=1.0, seed=seed)(units, spans, words, p, key="utt7", step=step, side="tgt")
    b = Interleaver(lam=1.0, seed=seed)(units, spans, words, p, key="utt7", step=step, side="tgt")
    assert a == b


def test_stream_depends_on_key_step_and_side():
    units = list(range(UNIT0, UNIT0 + 400))
    spans = [(20 * i, 20 * i + 15) for i in range(20)]
    words = [[i] for i in range(20)]
    il = Interleaver(lam=1.0, seed=1)
    base = il(units, spans, words, 0.5, key="a", step=0, side="src").replaced
    others = [il(units, spans, words, 0.5, key="b", step=0, side="src").replaced,
              il(units, spans, words, 0.5, key="a", step=1, side="src").replaced,
              il(units, spans, words, 0.5, key="a", step=0, side="tgt").replaced]
    assert all(o != base for o in others)


@settings(max_examples=80, deadline=None)
@given(utterances(), st.floats(0.01, 1.0), st.integers(0, 2**31))
def test_mask_mode_one_mask_per_span(utt, p, seed):
    units, spans, words = utt
    out = Interleaver(lam=1.5, mode="mask", mask_id=MASK, seed=seed)(units, spans, words, p, key="m")
    assert out.tokens.count(MASK) == len(out.spans) >= 1
    assert [t for t, txt in zip(out.tokens, out.is_text) if txt] == [MASK] * len(out.spans)


def test_switch_tokens_mark_modality_changes_only():
    units = list(range(UNIT0, UNIT0 + 40))
    spans = [(0, 10), (10, 20), (25, 35)]  # a 5-unit gap between words 1 and 2, 5 trailing units
    words = [[1], [2], [3]]
    il = Interleaver(lam=0.0, text_switch_id=TSW, speech_switch_id=SSW, seed=0)
    out = il(units, spans, words, 1.0, key="s")
    # words 0 and 1 are adjacent: one text region; the gap units come back as speech
    assert out.tokens == [TSW, 1, 2, SSW] + units[20:25] + [TSW, 3, SSW] + units[35:]
    assert out.is_text == [True] * 4 + [False] * 5 + [True] * 3 + [False] * 5
    # no units after the last word: the region stays open, no <speech> at the end
    out = il(units[:35], spans, words, 1.0, key="s")
    assert out.tokens[-2:] == [TSW, 3]


def test_paper_span_lengths_follow_poisson():
    """Span length is 1 + Poisson(lam): its mean matches over many draws (when not truncated)."""
    import numpy as np

    il = Interleaver(lam=2.0)
    rng = np.random.default_rng(0)
    lengths = []
    for _ in range(3000):
        first = il.choose_spans(10_000, 1e-4, rng)[0]  # one span in a long sentence: no truncation
        lengths.append(first[1] - first[0])
    assert np.mean(lengths) == pytest.approx(3.0, abs=0.1)


def test_errors():
    with pytest.raises(DataError, match="utterance 'u9' \\(src\\): 2 word spans but 1 words"):
        Interleaver()([UNIT0] * 4, [(0, 2), (2, 4)], [[1]], 0.5, key="u9")
    with pytest.raises(ConfigError, match="mode 'mask' needs mask_id"):
        Interleaver(mode="mask")
    with pytest.raises(ConfigError, match="lam must be >= 0"):
        Interleaver(lam=-1)
    with pytest.raises(DataError, match="word 1 has unit span \\[1, 3\\)"):
        check_spans([(0, 2), (1, 3)], 4, key="u")
    with pytest.raises(ValueError, match="text ratio p must be in"):
        Interleaver()([UNIT0] * 4, [(0, 4)], [[1]], 1.5)


def test_spans_from_times():
    spans = spans_from_times([0.0, 0.10, 0.31], [0.10, 0.31, 0.5], frame_rate=50, n_units=24)
    assert spans == [(0, 5), (5, 16), (16, 24)]
    check_spans(spans, 24)
    # a word shorter than a frame still gets one frame and never overlaps the previous word
    assert spans_from_times([0.0, 0.001], [0.001, 0.002], 50, 10) == [(0, 1), (1, 2)]


@st.composite
def repetitive_utterances(draw):
    """An utterance whose units repeat in runs, as 50 Hz units do."""
    units, spans, words = draw(utterances())
    units = [UNIT0 + (u - UNIT0) % draw(st.integers(1, 4)) for u in units]
    return units, spans, words


@settings(max_examples=150, deadline=None)
@given(repetitive_utterances())
def test_dedup_with_spans_gives_each_run_to_the_word_it_starts_in(utt):
    units, spans, _ = utt
    out, new = dedup_with_spans(units, spans)
    runs = [i for i in range(len(units)) if i == 0 or units[i] != units[i - 1]]  # first frame of each run
    assert out == [units[i] for i in runs]
    assert len(new) == len(spans)
    prev = 0
    for (a, b), (na, nb) in zip(spans, new):
        assert prev <= na <= nb <= len(out)  # ordered, disjoint, possibly empty
        assert list(range(na, nb)) == [k for k, f in enumerate(runs) if a <= f < b]
        prev = nb
    # at p = 1 the interleaver keeps exactly the runs that start outside every word
    inter = Interleaver(lam=0.0)(out, new, [[7]] * len(new), 1.0, key="u")
    outside = [units[f] for f in runs if not any(a <= f < b for a, b in spans)]
    assert [t for t in inter.tokens if t >= UNIT0] == outside


def test_dedup_with_spans_edge_cases():
    assert dedup_with_spans([5, 5, 7, 7, 7, 2], [(0, 3), (3, 6)]) == ([5, 7, 2], [(0, 2), (2, 3)])
    assert dedup_with_spans([4, 4, 4], [(0, 1), (1, 3)]) == ([4], [(0, 1), (1, 1)])  # a word inside a run
    assert dedup_with_spans([1, 2, 2], None) == ([1, 2], None)
    assert dedup_with_spans([], [(0, 0)]) == ([], [(0, 0)])
