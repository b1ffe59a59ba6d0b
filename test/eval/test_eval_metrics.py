"""BLEU (sacrebleu) and WER (jiwer) on normalised text."""
from __future__ import annotations

import math

import pytest
import sacrebleu

from s2s_plugin.errors import DataError
from s2s_plugin.eval.metrics import bleu_signature, corpus_bleu, pooled_wer, word_error_rate
from s2s_plugin.eval.normalize import TextNormalizer


def test_bleu_hand_checked():
    # unigrams 5/6, bigrams 3/5, trigrams 2/4, 4-grams 1/3, equal lengths (BP = 1)
    b = corpus_bleu(["the cat sat on a mat"], ["the cat sat on the mat"])
    assert b.score == pytest.approx(100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)
    assert round(b.score, 2) == 53.73
    assert b.counts == [5, 3, 2, 1] and b.totals == [6, 5, 4, 3] and b.bp == 1.0


def test_bleu_equals_sacrebleu_on_normalised_text():
    norm = TextNormalizer()
    hyps = ["The cat sat on a mat!", "Two red dogs.", "a house"]
    refs = ["the cat sat on the mat", "two red dogs", "The white house, I think."]
    b = corpus_bleu(norm.many(hyps), norm.many(refs))
    assert b.score == pytest.approx(sacrebleu.corpus_bleu(norm.many(hyps), [norm.many(refs)]).score)
    assert 0 < b.score < 100
    assert corpus_bleu(norm.many(["Two red dogs run."]), norm.many(["two red dogs run"])).score == pytest.approx(100)


def test_signature_names_the_protocol():
    sig = bleu_signature()
    for part in ("nrefs:1", "case:lc", "tok:13a", "smooth:exp", f"version:{sacrebleu.__version__}"):
        assert part in sig
    assert corpus_bleu(["a b c d"], ["a b c d"]).signature == sig


def test_wer_identical_is_zero():
    w = word_error_rate(["the black cat", "two dogs"], ["the black cat", "two dogs"])
    assert w.wer == 0.0 and w.errors == 0 and w.ref_words == 5


def test_wer_hand_made():
    # ref 4 + 3 words; 'cat'->'hat' (S), 'eats' deleted (D), 'big' inserted (I)
    w = word_error_rate(["the black hat", "two big red dogs"], ["the black cat eats", "two red dogs"])
    assert (w.substitutions, w.deletions, w.insertions, w.ref_words) == (1, 1, 1, 7)
    assert w.wer == pytest.approx(300 / 7)


def test_wer_empty_hypothesis_and_reference():
    w = word_error_rate(["", "x y"], ["a b", ""])
    assert (w.deletions, w.insertions, w.ref_words) == (2, 2, 2) and w.wer == 200.0
    with pytest.raises(DataError, match="every reference is empty"):
        word_error_rate(["a"], [""])


def test_pooled_wer_sums_counts():
    a = word_error_rate(["a b"], ["a c"])          # 1 / 2
    b = word_error_rate(["x y z w"], ["x y z w"])  # 0 / 4
    p = pooled_wer([a, b])
    assert p.ref_words == 6 and p.errors == 1 and math.isclose(p.wer, 100 / 6)


def test_length_mismatch_and_empty():
    with pytest.raises(DataError, match="2 hypotheses but 1 references"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(DataError, match="no utterances"):
        word_error_rate([], [])
