"""Speech-text similarity: pooling and cosines with known answers, word positions from a known CTM,
checkpoint discovery and safe reading, clear errors for missing alignments."""
from __future__ import annotations

import math

import pytest
import torch
import yaml

from s2s_plugin.errors import DataError
from s2s_plugin.eval.similarity import (
    list_checkpoints,
    load_eval_examples,
    measure,
    mismatched_cosines,
    output_paths,
    pair_builder,
    paired_input,
    pool_spans,
    read_checkpoint,
    summarize,
    word_cosines,
)
from s2s_plugin.llm.sequence import TGT_SPEECH, SequenceConfig

FRAME_RATE = 50.0


@pytest.fixture
def vocab(spm_model):
    from s2s_plugin.llm.vocab import build_vocabulary

    return build_vocabulary({"kind": "sentencepiece", "path": str(spm_model)}, n_units=10, langs=["fr", "en"])


def write_dump(d, ctm_fr=None, frame_rate=FRAME_RATE):
    """Two fr -> en utterances: 20 source units, 12 target units, CTMs in seconds."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "text.fr").write_text("u1 le chat\nu2 chat noir mange\n")
    (d / "text.en").write_text("u1 the cat\nu2 black cat eats\n")
    (d / "units.fr").write_text("u1 " + " ".join(str(i % 10) for i in range(20)) + "\n"
                                "u2 " + " ".join(str((3 * i) % 10) for i in range(20)) + "\n")
    (d / "units.en").write_text("u1 " + " ".join(["1"] * 12) + "\nu2 " + " ".join(["2"] * 12) + "\n")
    for lang in ("fr", "en"):
        (d / f"units.{lang}.info").write_text(yaml.safe_dump({"frame_rate": frame_rate, "n_clusters": 10,
                                                              "dedup": False}))
    if ctm_fr is None:
        # u1: le 0.04-0.14 s, chat 0.20-0.36 s -> frames [2, 7) and [10, 18) at 50 units/s
        ctm_fr = ("u1 1 0.04 0.10 le\nu1 1 0.20 0.16 chat\n"
                  "u2 1 0.00 0.10 chat\nu2 1 0.10 0.10 noir\nu2 1 0.24 0.12 mange\n")
    (d / "align.fr.ctm").write_text(ctm_fr)
    (d / "align.en.ctm").write_text("u1 1 0.00 0.08 the\nu1 1 0.10 0.10 cat\n"
                                    "u2 1 0.00 0.06 black\nu2 1 0.06 0.06 cat\nu2 1 0.12 0.10 eats\n")
    return d


# -- pooling and cosines on constructed hidden states ---------------------------------------------

def test_identical_vectors_give_one_orthogonal_zero_opposite_minus_one():
    a = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    assert word_cosines(a, 5 * a).tolist() == pytest.approx([1.0, 1.0])  # length does not matter
    assert word_cosines(a, torch.tensor([[-2.0, 1.0, 0.0], [1.0, 0.0, 0.0]])).tolist() == pytest.approx([0.0, 0.0])
    assert word_cosines(a, -a).tolist() == pytest.approx([-1.0, -1.0])
    with pytest.raises(ValueError, match="differ in shape"):
        word_cosines(a, a[:1])


def test_pooling_is_the_mean_over_each_span():
    hidden = torch.tensor([[9.0, 9.0], [1.0, 0.0], [3.0, 0.0], [0.0, 4.0], [0.0, 8.0]])
    pooled = pool_spans(hidden, [(1, 3), (3, 5), (0, 1)])
    assert pooled.tolist() == [[2.0, 0.0], [0.0, 6.0], [9.0, 9.0]]
    # word 0 pooled over its two unit frames is parallel to a text vector (5, 0): cosine 1; word 1 is not
    text = torch.tensor([[5.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    assert word_cosines(pooled, text).tolist() == pytest.approx([1.0, 1 / math.sqrt(2), 1.0])
    for bad in ([(2, 2)], [(4, 6)]):
        with pytest.raises(ValueError, match="empty or outside"):
            pool_spans(hidden, bad)


def test_mismatched_control_pairs_each_word_with_the_next():
    speech = torch.eye(3)
    text = torch.eye(3)
    assert mismatched_cosines(speech, text).tolist() == pytest.approx([0.0, 0.0, 0.0])
    assert mismatched_cosines(speech, torch.eye(3)[[2, 0, 1]]).tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert mismatched_cosines(speech[:1], text[:1]).numel() == 0  # one word: no control


def test_summary_averages_words_then_utterances():
    s = summarize([torch.tensor([1.0, 0.0]), torch.tensor([1.0])],
                  [torch.tensor([0.2, 0.4]), torch.tensor([])])
    assert s.mean == pytest.approx(0.75)            # utterances 0.5 and 1.0
    assert s.std == pytest.approx(0.25)
    assert s.word_mean == pytest.approx(2 / 3)      # words 1, 0, 1
    assert s.mismatched == pytest.approx(0.3)       # only utterances with two words
    assert (s.n_utts, s.n_words) == (2, 3)
    assert summarize([torch.tensor([0.5])]).mismatched is None
    with pytest.raises(ValueError, match="no utterances"):
        summarize([])


# -- word positions from a known CTM and frame rate ------------------------------------------------

def test_ctm_spans_map_to_unit_positions_of_both_inputs(tmp_path, vocab):
    examples = load_eval_examples([write_dump(tmp_path / "dev_fr")], side="src")
    assert [e.utt for e in examples] == ["u1", "u2"]
    assert examples[0].src.spans == [(2, 7), (10, 18)]   # 0.04 s * 50/s = 2, 0.14 s -> 7; 0.20 -> 10, 0.36 -> 18
    builder = pair_builder(vocab, SequenceConfig(interleave_sides=[]), "src")  # a baseline's layout
    pair = paired_input(builder, examples[0], "src")
    # <s_src> <lang_fr> u0 .. u19 <t_src>: unit frame f sits at position 2 + f
    assert pair.speech_spans == [(4, 9), (12, 20)]
    assert pair.speech_ids[:2] == [vocab.special("<s_src>"), vocab.special("<lang_fr>")]
    assert pair.speech_ids[4:9] == [vocab.unit_id(u) for u in examples[0].src.units[2:7]]
    assert pair.speech_ids[-1] == vocab.special("<t_src>") and len(pair.speech_ids) == 23
    # the text input: units before the first word (2), "le", units between the words (3), "chat", units after
    # (2): each word's own units are replaced by its text, the others stay
    le, chat = vocab.encode_words(["le", "chat"])
    unit = [vocab.unit_id(u) for u in examples[0].src.units]
    assert pair.text_ids == pair.speech_ids[:2] + unit[:2] + le + unit[7:10] + chat + unit[18:] + [
        vocab.special("<t_src>")]
    assert pair.text_spans == [(4, 4 + len(le)), (4 + len(le) + 3, 4 + len(le) + 3 + len(chat))]


def test_frame_rate_comes_from_the_units_info(tmp_path):
    d = write_dump(tmp_path / "dev_fr", frame_rate=25.0)
    ex = load_eval_examples([d], side="src")[0]
    assert ex.src.spans == [(1, 4), (5, 9)]   # 0.04 s * 25/s = 1, 0.14 -> 3.5 -> 4; 0.20 -> 5, 0.36 -> 9


@pytest.mark.parametrize("cfg", [SequenceConfig(lang_tags=False, switch_tokens=True),
                                 SequenceConfig(cot=False, interleave_sides=["src"])], ids=["switch", "no_cot"])
def test_target_side_and_other_layouts(tmp_path, vocab, cfg):
    d = write_dump(tmp_path / "dev_fr")
    for side in ("src", "tgt"):
        ex = load_eval_examples([d], side=side)[1]
        pair = paired_input(pair_builder(vocab, cfg, side), ex, side)
        words = getattr(ex, side).words
        assert len(pair.speech_spans) == len(pair.text_spans) == len(words) == 3
        for (a, b), (ta, tb), ids in zip(pair.speech_spans, pair.text_spans, vocab.encode_words(words)):
            assert b - a > 0 and all(vocab.is_unit(t) for t in pair.speech_ids[a:b])
            assert pair.text_ids[ta:tb] == ids
        if side == "tgt":  # inside the target speech segment, after the chain of thought
            seq = pair_builder(vocab, cfg, side).build(ex, step=0, p=0.0)
            start = seq.segments.index(TGT_SPEECH)
            assert [a - start for a, _ in pair.speech_spans] == [a for a, _ in ex.tgt.spans]
            assert pair.speech_ids[-1] == pair.text_ids[-1] == vocab.special("<eos>")
        if cfg.switch_tokens:
            assert vocab.special("<to_text>") in pair.text_ids


def test_measure_with_a_model_whose_hidden_states_are_known(tmp_path, vocab):
    """A stand-in model whose last layer maps every unit to one vector and every text token to another."""

    class Decoder(torch.nn.Module):
        def __init__(self, table):
            super().__init__()
            self.table = table

        def forward(self, input_ids, attention_mask, use_cache):
            return type("Out", (), {"last_hidden_state": self.table[input_ids]})()

    class Model(torch.nn.Module):
        def __init__(self, table):
            super().__init__()
            self.decoder = Decoder(table)

        def get_decoder(self):
            return self.decoder

    examples = load_eval_examples([write_dump(tmp_path / "dev_fr")], side="src")
    builder = pair_builder(vocab, SequenceConfig(), "src")
    pairs = [paired_input(builder, ex, "src") for ex in examples]
    same = torch.zeros(len(vocab), 4)
    same[:, 0] = 1.0                                   # units and text: one vector
    sim = measure(Model(same), pairs, vocab.pad_id, batch_size=1)
    assert (sim.mean, sim.std, sim.word_mean, sim.mismatched) == pytest.approx((1.0, 0.0, 1.0, 1.0))
    assert (sim.n_utts, sim.n_words) == (2, 5)
    ortho = torch.zeros(len(vocab), 4)
    ortho[:vocab.n_text, 1] = 1.0                      # text tokens
    ortho[vocab.unit_offset:, 2] = 1.0                 # units
    sim = measure(Model(ortho), pairs, vocab.pad_id, batch_size=2)
    assert (sim.mean, sim.std, sim.mismatched) == pytest.approx((0.0, 0.0, 0.0))


# -- clear errors ----------------------------------------------------------------------------------

def test_missing_ctm_entry_names_the_file_and_utterance(tmp_path):
    d = write_dump(tmp_path / "dev_fr", ctm_fr="u2 1 0.00 0.10 chat\nu2 1 0.10 0.10 noir\nu2 1 0.24 0.12 mange\n")
    with pytest.raises(DataError, match=r"align\.fr\.ctm: utterance 'u1' has no words.*--skip_bad"):
        load_eval_examples([d], side="src")
    assert [e.utt for e in load_eval_examples([d], side="src", skip_bad=True)] == ["u2"]
    # the target side's CTM is complete: measuring it needs no source alignment
    assert len(load_eval_examples([d], side="tgt")) == 2


def test_missing_ctm_file_and_dump_dir(tmp_path):
    d = write_dump(tmp_path / "dev_fr")
    (d / "align.en.ctm").unlink()
    with pytest.raises(DataError, match=r"align\.en\.ctm: word alignment not found; the tgt side"):
        load_eval_examples([d], side="tgt")
    with pytest.raises(DataError, match=r"oracle\.fr\.ctm: word alignment not found"):
        load_eval_examples([d], side="src", ctm="oracle.{lang}.ctm")
    with pytest.raises(DataError, match="dump directory not found"):
        load_eval_examples([tmp_path / "nowhere"], side="src")


def test_checkpoints_are_listed_in_step_order_with_clear_errors(tmp_path):
    with pytest.raises(DataError, match=r"checkpoints: no checkpoint directory; train the system first.*"
                                        r"trainer\.keep_every"):
        list_checkpoints(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / ".last.ckpt.tmp").write_text("half written")
    (tmp_path / "checkpoints" / ".hidden.ckpt").write_text("not ours")
    with pytest.raises(DataError, match=r"checkpoints: no \.ckpt files"):
        list_checkpoints(tmp_path)
    for name in ("last.ckpt", "step0000200.ckpt", "best-step0000100.ckpt", "step0001000.ckpt"):
        (tmp_path / "checkpoints" / name).write_text("x")
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "best-step0000100.ckpt", "step0000200.ckpt", "step0001000.ckpt", "last.ckpt"]


class NotAWeight:
    """Anything pickled beyond tensors and plain containers is refused by weights_only loading."""


def test_checkpoints_are_read_with_weights_only(tmp_path):
    good = tmp_path / "good.ckpt"
    torch.save({"global_step": 7, "state_dict": {"model.w": torch.ones(2), "other.v": torch.zeros(1)}}, good)
    step, weights = read_checkpoint(good)
    assert step == 7 and list(weights) == ["w"]
    evil = tmp_path / "evil.ckpt"
    torch.save({"global_step": 1, "state_dict": {"model.w": torch.ones(2)}, "x": NotAWeight()}, evil)
    with pytest.raises(DataError, match=r"evil\.ckpt: cannot be read as a checkpoint with "
                                        r"torch\.load\(weights_only=True\)"):
        read_checkpoint(evil)
    (tmp_path / "junk.ckpt").write_text("not a zip")
    with pytest.raises(DataError, match=r"junk\.ckpt: cannot be read"):
        read_checkpoint(tmp_path / "junk.ckpt")
    torch.save({"state_dict": {"x.w": torch.ones(1)}}, tmp_path / "other.ckpt")
    with pytest.raises(DataError, match="no weights under 'model.'"):
        read_checkpoint(tmp_path / "other.ckpt")


def test_output_paths_take_a_prefix(tmp_path):
    for out in (tmp_path / "cmp" / "similarity", tmp_path / "cmp" / "similarity.png"):
        paths = output_paths(out)
        assert paths == {ext: tmp_path / "cmp" / f"similarity.{ext}" for ext in ("png", "tsv", "json")}


def test_paired_input_follows_a_deduplicated_layout(vocab, tmp_path):
    d = write_dump(tmp_path / "dev_fr")
    ex = load_eval_examples([d], side="tgt")[0]   # u1's target: twelve frames of unit 1
    cfg = SequenceConfig(dedup_sides=["src", "tgt"])
    pair = paired_input(pair_builder(vocab, cfg, "tgt"), ex, "tgt")
    # one run: "the" owns its single unit; "cat" lies inside that run, has no unit of its own and is left out
    assert pair.words == ["the"]
    (a, b), = pair.speech_spans
    assert b - a == 1 and pair.speech_ids[a] == vocab.unit_id(1)
    assert pair.text_ids[slice(*pair.text_spans[0])] == vocab.encode_words(["the"])[0]
    src = paired_input(pair_builder(vocab, cfg, "src"), load_eval_examples([d], side="src")[0], "src")
    assert src.speech_spans == [(4, 9), (12, 20)]   # no repeated units in u1's source: as without dedup
