"""Chain-of-thought sequences: layout, loss masks, interleaving switches (the paper's ablations)."""
from __future__ import annotations

import pytest

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.llm.sequence import (
    IGNORE,
    SRC_SPEECH,
    SRC_TEXT,
    TGT_SPEECH,
    TGT_TEXT,
    Example,
    SequenceBuilder,
    SequenceConfig,
    Side,
    collate,
)


def example():
    src = Side("fr", units=list(range(0, 30)), words=["le", "chat", "noir"], spans=[(2, 10), (10, 20), (22, 28)])
    tgt = Side("en", units=list(range(30, 50)), words=["the", "black", "cat"], spans=[(0, 5), (6, 12), (12, 18)])
    return Example("spk1-fr-0001", src, tgt)


def test_cot_layout_and_loss_mask(vocab):
    b = SequenceBuilder(vocab, SequenceConfig(interleave_sides=[]))
    ex = example()
    seq = b.build(ex, step=0, p=0.9)  # no interleaving: p is ignored
    sp = vocab.special
    units_src = [vocab.unit_id(u) for u in ex.src.units]
    units_tgt = [vocab.unit_id(u) for u in ex.tgt.units]
    t_src = [t for w in vocab.encode_words(ex.src.words) for t in w]
    t_tgt = [t for w in vocab.encode_words(ex.tgt.words) for t in w]
    expected = ([sp("<s_src>"), sp("<lang_fr>")] + units_src + [sp("<t_src>")] + t_src + [sp("<t_tgt>")]
                + t_tgt + [sp("<s_tgt>")] + units_tgt + [sp("<eos>")])
    assert seq.input_ids == expected
    n_prompt = 2 + len(units_src) + 1
    assert seq.n_prompt == n_prompt
    # loss exactly on everything after the source segment
    assert seq.labels == [IGNORE] * n_prompt + expected[n_prompt:]
    assert seq.segments == ([SRC_SPEECH] * n_prompt + [SRC_TEXT] * (len(t_src) + 1)
                            + [TGT_TEXT] * (len(t_tgt) + 1) + [TGT_SPEECH] * (len(units_tgt) + 1))
    assert b.prompt(ex) == expected[:n_prompt]


def test_no_cot_ablation(vocab):
    b = SequenceBuilder(vocab, SequenceConfig(cot=False, interleave_sides=[], lang_tags=False))
    ex = example()
    seq = b.build(ex, step=0, p=0.0)
    sp = vocab.special
    assert seq.input_ids[0] == sp("<s_src>") and seq.input_ids[31] == sp("<s_tgt>")
    assert not any(vocab.is_text(t) for t in seq.input_ids)  # no transcripts at all
    assert seq.segments.count(SRC_TEXT) == seq.segments.count(TGT_TEXT) == 0
    assert seq.labels[:32] == [IGNORE] * 32 and seq.labels[32:] == seq.input_ids[32:]


@pytest.mark.parametrize("sides", [["src"], ["tgt"], ["src", "tgt"]])
def test_interleave_sides(vocab, sides):
    b = SequenceBuilder(vocab, SequenceConfig(interleave_sides=sides, lam=0.0))  # one word per span
    seq = b.build(example(), step=5, p=1.0)
    src_part = seq.input_ids[:seq.n_prompt]
    tgt_part = [t for t, s in zip(seq.input_ids, seq.segments) if s == TGT_SPEECH]
    src_has_text = any(vocab.is_text(t) for t in src_part)
    tgt_has_text = any(vocab.is_text(t) for t in tgt_part)
    assert src_has_text == ("src" in sides)
    assert tgt_has_text == ("tgt" in sides)
    # at p = 1 every word's units are gone: only units outside word spans stay
    if "src" in sides:
        assert sum(vocab.is_unit(t) for t in src_part) == 2 + 2 + 2  # before, between, after words
    # the prompt never carries loss, whatever the interleaving
    assert all(label == IGNORE for label in seq.labels[:seq.n_prompt])


def test_mask_ablation_and_switch_tokens(vocab):
    b = SequenceBuilder(vocab, SequenceConfig(mode="mask", switch_tokens=True))
    seq = b.build(example(), step=3, p=1.0)
    mask, to_text, to_speech = vocab.special("<mask>"), vocab.special("<to_text>"), vocab.special("<to_speech>")
    src = seq.input_ids[:seq.n_prompt]
    assert mask in src and to_text in src and to_speech in src
    assert not any(vocab.is_text(t) for t in src)  # masks, not words, in the speech


def test_interleaving_is_reproducible_and_follows_p(vocab):
    b = SequenceBuilder(vocab, SequenceConfig(seed=3))
    ex = example()
    assert b.build(ex, 10, 0.5).input_ids == b.build(ex, 10, 0.5).input_ids
    assert b.build(ex, 10, 0.0).input_ids == SequenceBuilder(vocab, SequenceConfig(interleave_sides=[])).build(
        ex, 10, 0.0).input_ids


def test_missing_alignment_is_clear(vocab):
    ex = example()
    ex.tgt.spans = None
    with pytest.raises(ConfigError, match="interleaving the tgt side needs word alignments"):
        SequenceBuilder(vocab).build(ex, 0, 0.5)
    # fine at p = 0 (nothing to interleave) and when the target side is not interleaved
    SequenceBuilder(vocab).build(ex, 0, 0.0)
    SequenceBuilder(vocab, SequenceConfig(interleave_sides=["src"])).build(ex, 0, 0.5)


def test_collate_pads(vocab):
    b = SequenceBuilder(vocab, SequenceConfig(interleave_sides=[]))
    ex = example()
    short = Example("u2", Side("fr", [1, 2], ["le"], [(0, 2)]), Side("en", [3], ["the"], [(0, 1)]))
    seqs = [b.build(ex, 0, 0.0), b.build(short, 0, 0.0)]
    batch = collate(seqs, vocab.pad_id)
    n = len(seqs[0].input_ids)
    assert batch["input_ids"].shape == (2, n)
    k = len(seqs[1].input_ids)
    assert batch["attention_mask"][1].tolist() == [1] * k + [0] * (n - k)
    assert batch["labels"][1, k:].eq(IGNORE).all() and batch["segments"][1, k:].eq(-1).all()
    assert batch["input_ids"][1, k:].eq(vocab.pad_id).all()


def long_example(n: int = 400):
    src = Side("fr", units=[i % 7 for i in range(n)], words=["le", "chat"], spans=[(0, n // 2), (n // 2, n)])
    tgt = Side("en", units=[i % 5 for i in range(60)], words=["the", "cat"], spans=[(0, 30), (30, 60)])
    return Example("spk1-fr-0002", src, tgt)


@pytest.mark.parametrize("span", [1, 4])
def test_source_unit_noise_only_in_training_sequences(vocab, span):
    cfg = SequenceConfig(interleave_sides=[], src_unit_noise=0.2, src_unit_noise_span=span, seed=3)
    b, clean = SequenceBuilder(vocab, cfg), SequenceBuilder(vocab, SequenceConfig(interleave_sides=[]))
    ex = long_example()
    ref = clean.build(ex, step=5, p=0.0)
    # validation and decoding prompts are never noised
    assert b.build(ex, step=5, p=0.0).input_ids == ref.input_ids
    assert b.prompt(ex, step=5) == clean.prompt(ex, step=5)
    seq = b.build(ex, step=5, p=0.0, train=True)
    assert len(seq.input_ids) == len(ref.input_ids) and seq.labels == ref.labels  # loss targets unchanged
    n_prompt = ref.n_prompt
    changed = [i for i in range(len(ref.input_ids)) if seq.input_ids[i] != ref.input_ids[i]]
    assert changed and all(2 <= i < n_prompt - 1 for i in changed)  # source units only
    assert all(vocab.unit_offset <= seq.input_ids[i] < vocab.unit_offset + vocab.n_units for i in changed)
    assert 0.1 < len(changed) / 400 < 0.3  # about the share asked (a few random units equal the old one)
    # one seed, utterance and step: the same draw; another step: another one
    assert b.build(ex, step=5, p=0.0, train=True).input_ids == seq.input_ids
    assert b.build(ex, step=6, p=0.0, train=True).input_ids != seq.input_ids


def test_source_unit_noise_leaves_interleaved_text(vocab):
    cfg = SequenceConfig(interleave_sides=["src"], src_unit_noise=0.5, seed=1)
    b = SequenceBuilder(vocab, cfg)
    ex = long_example()
    plain = SequenceBuilder(vocab, SequenceConfig(interleave_sides=["src"], seed=1)).build(ex, step=2, p=0.5)
    seq = b.build(ex, step=2, p=0.5, train=True)
    assert [t for t, x in zip(seq.input_ids, seq.is_text) if x] == [t for t, x in zip(plain.input_ids, plain.is_text) if x]
    assert seq.input_ids != plain.input_ids


@pytest.mark.parametrize("kw", [{"src_unit_noise": 1.0}, {"src_unit_noise": -0.1}, {"src_unit_noise_span": 0}])
def test_source_unit_noise_options_are_checked(kw):
    with pytest.raises(ConfigError, match="src_unit_noise"):
        SequenceConfig(**kw)


def test_source_dedup_collapses_runs_and_keeps_words(vocab):
    # frames: le = 5 5 7 | chat = 7 7 9 9 | (pause 3 3) | noir = 3 4 4; target kept frame by frame
    src = Side("fr", units=[5, 5, 7, 7, 7, 9, 9, 3, 3, 3, 4, 4], words=["le", "chat", "noir"],
               spans=[(0, 3), (3, 7), (9, 12)])
    tgt = Side("en", units=[1, 1, 2, 2], words=["the", "cat"], spans=[(0, 2), (2, 4)])
    ex = Example("u1", src, tgt)
    b = SequenceBuilder(vocab, SequenceConfig(dedup_sides=["src"]))
    units, spans = b.side_units("u1", src, "src")
    assert units == [vocab.unit_id(u) for u in [5, 7, 9, 3, 4]]
    # chat's first frame continues le's run of 7: the 7 stays le's; the pause's run of 3 that begins
    # before noir stays between the words
    assert spans == [(0, 2), (2, 3), (4, 5)]
    assert b.prompt(ex)[2:-1] == units
    seq = b.build(ex, step=0, p=0.0)
    assert seq.input_ids[-5:-1] == [vocab.unit_id(u) for u in tgt.units]  # the target keeps every frame
    # at p = 1 every word's (de-duplicated) units become its text; the pause's unit stays
    full = b.build(ex, step=0, p=1.0)
    src_seg = full.input_ids[2:full.n_prompt - 1]
    text = [t for w in vocab.encode_words(src.words) for t in w]
    assert [t for t in src_seg if vocab.is_text(t)] == text
    assert [t for t in src_seg if not vocab.is_text(t)] == [vocab.unit_id(3)]


def test_dedup_sides_are_checked(vocab):
    with pytest.raises(ConfigError, match="dedup_sides"):
        SequenceConfig(dedup_sides=["source"])
    # frame spans are checked before de-duplication: a span beyond the units names the utterance
    bad = Side("fr", units=[1, 1, 2], words=["a"], spans=[(0, 5)])
    b = SequenceBuilder(vocab, SequenceConfig(dedup_sides=["src"]))
    with pytest.raises(DataError, match="u9"):
        b.side_units("u9", bad, "src")
