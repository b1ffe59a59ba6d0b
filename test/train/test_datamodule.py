"""What the training loop reads: exact sequence lengths at any (step, p), and which batches stage 7/8 plan."""
from __future__ import annotations

from dataclasses import replace

import pytest

from s2s_plugin.errors import DataError
from s2s_plugin.llm.examples import load_text_corpus
from s2s_plugin.llm.sequence import Example, Side
from s2s_plugin.llm.vocab import Vocabulary
from s2s_plugin.registry import get_registry
from s2s_plugin.train.schema import TextDataConfig
from s2s_plugin.train.datamodule import S2SDataModule, S2STTask, TextTask, length_of
from s2s_plugin.train.sampler import ScheduledBatchSampler, TokenBudgetBatchSampler

LAYOUTS = {
    "paper": {},
    "switch_tokens": {"switch_tokens": True},
    "mask": {"mode": "mask", "lam": 2.0},
    "no_cot": {"cot": False, "lang_tags": False},
    "output_only": {"interleave_sides": ["tgt"], "seed": 7},
    "baseline": {"interleave_sides": []},
    "dedup_src": {"dedup_sides": ["src"]},
    "dedup_both_baseline": {"dedup_sides": ["src", "tgt"], "interleave_sides": []},
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_counted_lengths_equal_the_built_sequences(tiny_cfg, vocab_path, layout):
    cfg = tiny_cfg()
    task = S2STTask(cfg.data, replace(cfg.sequence, **LAYOUTS[layout]), Vocabulary.load(vocab_path))
    items = task.load("train")
    lengths = task.lengths(items)
    everyone = range(len(items))
    for step, p in [(0, 0.0), (0, 0.9), (5, 0.9), (6, 0.5), (123, 0.25), (9, 0.1), (40, 1.0)]:
        assert lengths.at(everyone, step, p) == [len(s.input_ids) for s in task.build(items, step=step, p=p)]
    some = [3, 17, 4]
    assert lengths.take(some).at(range(3), 5, 0.6) == [len(s.input_ids) for s in
                                                         task.build([items[i] for i in some], step=5, p=0.6)]
    if "dedup" in layout:  # the tiny corpus's units repeat: de-duplication must shorten its sequences
        full = S2STTask(cfg.data, replace(cfg.sequence, **{**LAYOUTS[layout], "dedup_sides": []}),
                        Vocabulary.load(vocab_path)).lengths(items)
        assert sum(lengths.at(everyone, 0, 0.0)) < sum(full.at(everyone, 0, 0.0))
    if "baseline" not in layout:  # interleaving shortens sequences, differently at each step
        assert sum(lengths.at(everyone, 1, 0.9)) < 0.9 * sum(lengths.at(everyone, 1, 0.0))
        assert lengths.at(everyone, 1, 0.5) != lengths.at(everyone, 2, 0.5)


def test_inconsistent_alignments_are_named(tiny_cfg, vocab_path):
    cfg = tiny_cfg()
    task = S2STTask(cfg.data, cfg.sequence, Vocabulary.load(vocab_path))
    good = Side("fr", [1, 2, 3, 4], ["le", "chat"], [(0, 2), (2, 4)])
    tgt = Side("en", [1, 2], ["cat"], [(0, 2)])
    assert task.lengths([Example("u1", good, tgt)]).at([0], 0, 0.0) == [len(task.build(
        [Example("u1", good, tgt)], 0, 0.0)[0].input_ids)]
    with pytest.raises(DataError, match="utterance 'u2' \\(src\\): 1 word spans but 2 words"):
        task.lengths([Example("u2", replace(good, spans=[(0, 4)]), tgt)])
    with pytest.raises(DataError, match="'u3 \\(tgt\\)'.*word 0"):
        task.lengths([Example("u3", good, replace(tgt, spans=[(1, 5)]))])


def test_stage8_batches_are_planned_at_the_p_of_their_step(tiny_cfg, vocab_path):
    cfg = tiny_cfg(data__valid_p=0.5, data__max_len=85)
    task = S2STTask(cfg.data, cfg.sequence, Vocabulary.load(vocab_path))
    sched = get_registry().build("interleave_scheduler", cfg.scheduler)
    dm = S2SDataModule(task, cfg.data, seed=3, schedule=sched.value, max_steps=8, accumulate=2)
    dm.setup()
    sampler = dm.train_sampler
    assert isinstance(sampler, ScheduledBatchSampler) and len(sampler) == 16  # accumulate x max_steps
    assert len(dm.train_items) < len(task.load("train")) and max(dm.train_lengths) <= 85  # max_len, at p = 0
    sizes = []
    for n, planned in enumerate(sampler.plan(16)):
        assert planned.step == n // 2 and planned.p == sched.value(n // 2)
        built = task.build([dm.train_items[i] for i in planned.items], step=planned.step, p=planned.p)
        assert [len(s.input_ids) for s in built] == planned.lengths
        assert len(built) * max(planned.lengths) <= cfg.data.max_tokens
        sizes.append(len(built))
    assert sizes[0] > sizes[-1]  # p = 0.9 first: more sequences fit the budget
    assert dm.valid_lengths == [len(s.input_ids) for s in task.build(dm.valid_items, step=0, p=0.5)]
    stats = dm.stats()
    assert stats["planned_at"] == "the current p" and stats["padding_share"]["p=0.9"] < 0.1


def test_text_pretraining_keeps_batches_of_fixed_lengths(tmp_path, vocab_path):
    for lang, words in (("fr", "le chat noir dort"), ("en", "the black cat sleeps")):
        (tmp_path / f"text.{lang}").write_text("".join(f"t{i:03d} {' '.join(words.split()[:1 + i % 4])}\n"
                                                       for i in range(40)))
    text = TextDataConfig(parallel=[[str(tmp_path / "text.fr"), str(tmp_path / "text.en")]], max_tokens=60)
    task = TextTask(text, Vocabulary.load(vocab_path))
    dm = S2SDataModule(task, text, seed=2, schedule=lambda step: 0.9)  # no lengths at p: the schedule is moot
    dm.setup()
    lengths = [length_of(task, it) for it in load_text_corpus(parallel=text.parallel)]
    assert isinstance(dm.train_sampler, TokenBudgetBatchSampler) and dm.train_lengths == lengths
    assert dm.train_sampler.batches == TokenBudgetBatchSampler(lengths, 60, seed=2).batches
    assert set(dm.stats()["padding_share"]) == {"bucketed", "unbucketed"}
