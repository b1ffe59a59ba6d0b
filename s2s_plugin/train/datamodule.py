"""What the training loop reads: tasks that load items and turn them into token sequences.

A *task* loads items once (S2ST :class:`~s2s_plugin.llm.sequence.Example` s
or text-only :class:`~s2s_plugin.llm.examples.TextItem` s) and builds their token
sequences at batch time, in the main process, with the global step of the
optimiser step they are trained in, so the text ratio p is exact::

    task = S2STTask(cfg.data, cfg.sequence, vocab)
    train_items = task.load("train")
    seqs = task.build(train_items[:4], step=1200, p=0.5)
    task.lengths(train_items).at([0, 1], step=1200, p=0.5)   # their lengths, without building them

:class:`S2SDataModule` batches items under a token budget: stage 8's at the
lengths sequences have at the step they are trained in
(:class:`~s2s_plugin.train.sampler.ScheduledBatchSampler`), stage 7's text from
fixed lengths (:class:`~s2s_plugin.train.sampler.TokenBudgetBatchSampler`). Its
loaders yield :class:`RawBatch` es (items + their position), never tensors.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from s2s_plugin.errors import DataError
from s2s_plugin.interleave.interleaver import _stream_seed, check_spans
from s2s_plugin.llm.examples import TextItem, load_examples, load_text_corpus
from s2s_plugin.llm.sequence import (
    IGNORE,
    SRC_TEXT,
    TGT_TEXT,
    Example,
    SequenceBuilder,
    SequenceConfig,
    TokenSequence,
)
from s2s_plugin.llm.vocab import Vocabulary, lang_token
from s2s_plugin.train.schema import DataConfig, TextDataConfig
from s2s_plugin.train.sampler import ScheduledBatchSampler, TokenBudgetBatchSampler, padding_share

logger = logging.getLogger(__name__)


class RawBatch:
    """A batch as the loader yields it: items, not tensors (sequences are built at step time).

    A plain class on purpose: Lightning's input conversions copy dataclasses and
    tuples field by field, which would deep-copy every item at every step.

    Attributes:
        items: this process's items.
        epoch: the epoch the batch belongs to.
        position: its position in that epoch's batch order, or in the stream of micro-batches of a
            :class:`~s2s_plugin.train.sampler.ScheduledBatchSampler` (for exact resume).
    """

    __slots__ = ("items", "epoch", "position")

    def __init__(self, items: list[Any], epoch: int, position: int) -> None:
        self.items, self.epoch, self.position = items, epoch, position

    def __repr__(self) -> str:
        return f"RawBatch({len(self.items)} items, epoch={self.epoch}, position={self.position})"


# -- tasks ---------------------------------------------------------------------------------------

class S2STTask:
    """Speech-to-speech examples from dump dirs, as chain-of-thought sequences.

    Args:
        data: the ``data`` block.
        sequence: the ``sequence`` block.
        vocab: the joint vocabulary.
    """

    def __init__(self, data: DataConfig, sequence: SequenceConfig, vocab: Vocabulary) -> None:
        self.data, self.vocab = data, vocab
        self.builder = SequenceBuilder(vocab, sequence)
        self.align_sides = tuple(sequence.interleave_sides)
        self.fit_ids: dict[Any, str] = {}

    def load(self, split: str) -> list[Example]:
        """Every example of the ``train`` or ``valid`` dump dirs.

        Raises:
            DataError: dirs whose units come from different unit tokenizer fits (stage 4).
        """
        items: list[Example] = []
        for d in getattr(self.data, split):
            examples, report = load_examples(d, tgt_lang=self.data.tgt_lang, frame_rate=self.data.frame_rate,
                                             ctm=self.data.ctm, align_sides=self.align_sides,
                                             skip_bad=self.data.skip_bad)
            logger.info("%s", report)
            for lang, info in report.units_info.items():
                n = info.get("n_clusters")
                if n is not None and int(n) != self.vocab.n_units:
                    raise DataError(f"{d}/units.{lang}.info: {n} unit clusters, but the vocabulary has "
                                    f"{self.vocab.n_units} unit tokens; rebuild the vocabulary (stage 6) "
                                    "with this unit tokenizer")
                fit = info.get("fit_id")
                if fit is None:
                    continue
                self.fit_ids.setdefault(fit, f"{d}/units.{lang}")
                if len(self.fit_ids) > 1:
                    raise DataError(f"{d}/units.{lang} comes from another unit tokenizer fit than "
                                    f"{next(iter(self.fit_ids.values()))}; label every set with one fit (stage 4)")
            items += examples
        return items

    def build(self, items: Sequence[Example], step: int, p: float, train: bool = False) -> list[TokenSequence]:
        return [self.builder.build(ex, step=step, p=p, train=train) for ex in items]

    def lengths(self, items: Sequence[Example]) -> SequenceLengths:
        """The exact lengths of ``items``' sequences at any step and p (for batch planning)."""
        return SequenceLengths(self, items)

    def describe(self, item: Example) -> str:
        return item.utt


class SequenceLengths:
    """Exact token lengths of an :class:`S2STTask`'s sequences at any (step, p), without building them.

    A sequence is a fixed part (markers, text segments, sides not interleaved) plus each
    interleaved side: its units, where the interleaver's own draw for (seed, utterance,
    step, side) replaces spans of words by their text tokens (or one mask), with switch
    tokens if the layout has them. Counting takes the draw and a sum, not the sequence
    (no text tokenizer call, no token lists: several times faster than building); it is
    checked against :meth:`S2STTask.build` on a sample of items when made::

        lengths = task.lengths(items)
        lengths.at([0, 5], step=120, p=0.7)   # == [len(s.input_ids) for s in task.build(...)]

    Raises:
        DataError: an utterance whose word spans are invalid or disagree with its words.
    """

    def __init__(self, task: S2STTask, items: Sequence[Example], check: int = 8) -> None:
        cfg, vocab, il = task.builder.cfg, task.vocab, task.builder.interleaver
        self.interleaver, self.mask = il, cfg.mode == "mask"
        self.switches = (il.text_switch_id is not None, il.speech_switch_id is not None)
        self.utts: list[str] = []
        self.fixed: list[int] = []
        self.sides: list[list[tuple[str, int, list[tuple[int, int]], list[int]]]] = []
        for ex in items:
            where = f"utterance '{ex.utt}'"
            counts = {"src": [len(w) for w in vocab.encode_words(ex.src.words, where)], "tgt": None}
            fixed = 3 + int(cfg.lang_tags)  # <s_src> [<lang_xx>] <t_src> (or <s_tgt>) ... <eos>
            if cfg.cot:
                counts["tgt"] = [len(w) for w in vocab.encode_words(ex.tgt.words, where)]
                fixed += sum(counts["src"]) + sum(counts["tgt"]) + 2  # the text segments, <t_tgt>, <s_tgt>
            sides = []
            for name, side in (("src", ex.src), ("tgt", ex.tgt)):
                units, spans = task.builder.side_units(ex.utt, side, name)  # de-duplicated as the layout says
                if name not in cfg.interleave_sides or spans is None:
                    fixed += len(units)
                    continue
                if len(spans) != len(side.words):
                    raise DataError(f"utterance '{ex.utt}' ({name}): {len(spans)} word spans but "
                                    f"{len(side.words)} words of text; the alignment and the text disagree")
                if name not in cfg.dedup_sides:  # de-duplicated spans were checked on frames
                    check_spans(spans, len(units), key=f"{ex.utt} ({name})")
                if counts[name] is None:
                    counts[name] = [len(w) for w in vocab.encode_words(side.words, where)]
                sides.append((name, len(units), list(spans), counts[name]))
            self.utts.append(ex.utt)
            self.fixed.append(fixed)
            self.sides.append(sides)
        self._check(task, items[:check])

    def __len__(self) -> int:
        return len(self.utts)

    def take(self, indices: Sequence[int]) -> SequenceLengths:
        """The lengths of items ``indices`` only (renumbered from 0)."""
        out = object.__new__(SequenceLengths)
        out.__dict__.update(self.__dict__)
        out.utts, out.fixed, out.sides = ([xs[i] for i in indices] for xs in (self.utts, self.fixed, self.sides))
        return out

    def _side(self, utt: str, name: str, n_units: int, spans: list[tuple[int, int]], counts: list[int],
              step: int, p: float) -> int:
        """Tokens of one interleaved side: the interleaver's layout (see ``Interleaver.__call__``), counted."""
        if p <= 0.0 or not spans:
            return n_units
        il = self.interleaver
        rng = np.random.default_rng(_stream_seed(il.seed, utt, step, name))
        text_switch, speech_switch = self.switches
        total = pos = 0
        in_text = False
        for first, last in sorted(il.choose_spans(len(spans), p, rng)):
            a, b = spans[first][0], spans[last - 1][1]
            if a > pos or not in_text:
                total += (a - pos) + int(in_text and speech_switch) + int(text_switch)
                in_text = True
            total += 1 if self.mask else sum(counts[first:last])
            pos = b
        if pos < n_units:
            total += (n_units - pos) + int(in_text and speech_switch)
        return total

    def at(self, indices: Sequence[int], step: int, p: float) -> list[int]:
        """The lengths of items ``indices`` when built at ``step`` with text ratio ``p``."""
        return [self.fixed[i] + sum(self._side(self.utts[i], *side, step, p) for side in self.sides[i])
                for i in indices]

    def _check(self, task: S2STTask, sample: Sequence[Example]) -> None:
        for step, p in ((0, 0.0), (13, 0.35), (29, 0.8), (3, 1.0)):
            built = [len(s.input_ids) for s in task.build(sample, step=step, p=p)]
            counted = self.at(range(len(sample)), step, p)
            if built != counted:
                bad = next(i for i, (x, y) in enumerate(zip(built, counted)) if x != y)
                raise RuntimeError(f"utterance '{sample[bad].utt}': its sequence at step {step}, p = {p} has "
                                   f"{built[bad]} tokens, but SequenceLengths counts {counted[bad]}; "
                                   "SequenceLengths no longer follows the sequence layout of llm/sequence.py")


class TextTask:
    """Text-only items (monolingual sentences, translation pairs) in the CoT layout's tokens.

    Layouts (loss on everything after the first segment marker)::

        source-language sentence:  [<lang_xx>] <t_src> words <eos>
        target-language sentence:  [<lang_en>] <t_tgt> words <eos>
        translation pair:          [<lang_xx>] <t_src> source words <t_tgt> target words <eos>

    so a pair is stage 8's ``T_src -> T_tgt`` part with ``<eos>`` where stage 8 puts ``<s_tgt>``.

    Args:
        text: the ``text`` block.
        vocab: the joint vocabulary (its text tokens and specials).
    """

    def __init__(self, text: TextDataConfig, vocab: Vocabulary) -> None:
        self.text, self.vocab = text, vocab
        self.sp = {t: vocab.special(t) for t in ("<t_src>", "<t_tgt>", "<eos>")}

    def load(self, split: str) -> list[TextItem]:
        return load_text_corpus(*self.text.files("train" if split == "train" else "valid"))

    def build_one(self, item: TextItem) -> TokenSequence:
        v = self.vocab

        def words(ws: list[str]) -> list[int]:
            return [t for w in v.encode_words(ws, where=item.key) for t in w]

        is_tgt = item.tgt_words is None and item.src_lang == self.text.tgt_lang
        ids = [v.special(lang_token(item.src_lang))] if self.text.lang_tags else []
        ids.append(self.sp["<t_tgt>"] if is_tgt else self.sp["<t_src>"])
        n_prompt = len(ids)
        first = words(item.src_words)
        segs = [SRC_TEXT] * n_prompt
        if item.tgt_words is None:
            seg = TGT_TEXT if is_tgt else SRC_TEXT
            ids += first + [self.sp["<eos>"]]
            segs += [seg] * (len(first) + 1)
        else:
            second = words(item.tgt_words)
            ids += first + [self.sp["<t_tgt>"]]
            segs += [SRC_TEXT] * (len(first) + 1)
            ids += second + [self.sp["<eos>"]]
            segs += [TGT_TEXT] * (len(second) + 1)
        labels = [IGNORE] * n_prompt + ids[n_prompt:]
        return TokenSequence(ids, labels, segs, [True] * len(ids), n_prompt, 0.0)

    def build(self, items: Sequence[TextItem], step: int, p: float, train: bool = False) -> list[TokenSequence]:
        return [self.build_one(it) for it in items]  # text pairs: no interleaving, no noise

    def describe(self, item: TextItem) -> str:
        return item.key


# -- loaders -------------------------------------------------------------------------------------

class _Items(Dataset):
    """Maps ``(index, epoch, position)`` from the batch sampler to ``(item, epoch, position)``."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[Any, int, int]:
        i, epoch, pos = key
        return self.items[i], epoch, pos


def _raw_batch(rows: list[tuple[Any, int, int]]) -> RawBatch:
    return RawBatch([r[0] for r in rows], rows[0][1], rows[0][2])


class ResumableLoader(DataLoader):
    """A DataLoader whose position Lightning saves and restores with checkpoints.

    Lightning stores ``state_dict()`` of a train loader that has one (as the fit
    loop's loader state) and calls ``load_state_dict()`` on resume before
    iterating; both go to the batch sampler.
    """

    def state_dict(self) -> dict[str, Any]:
        return self.batch_sampler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batch_sampler.load_state_dict(state)


def length_of(task: Any, item: Any) -> int:
    """The token length of ``item`` at p = 0 (units everywhere: the longest it gets)."""
    return len(task.build([item], step=0, p=0.0)[0].input_ids)


class S2SDataModule(L.LightningDataModule):
    """Train and validation loaders of a task, batched under a token budget.

    With a ``schedule`` (stage 8: the interleaving scheduler's p at a step) and a task that
    knows its sequences' lengths at any step and p (:meth:`S2STTask.lengths`), training
    batches are planned at the lengths sequences have at the step they are trained in
    (:class:`~s2s_plugin.train.sampler.ScheduledBatchSampler`; one Lightning epoch of
    ``accumulate * max_steps`` micro-batches). Otherwise (stage 7's text: no p) they are
    planned once from fixed lengths (:class:`~s2s_plugin.train.sampler.TokenBudgetBatchSampler`,
    epochs of one pass). Validation batches are planned at validation's fixed p.

    Args:
        task: an :class:`S2STTask` or :class:`TextTask`.
        batching: the ``data`` or ``text`` block (max_tokens, max_batch_size, bucketing, shuffle, max_len).
        seed: seeds the packing and the epoch orders.
        schedule: the text ratio p at an optimiser step; ``None``: sequences do not depend on the step.
        accumulate: micro-batches per optimiser step (taken from the trainer when there is one).
        max_steps: the run's optimiser steps (taken from the trainer when there is one).
    """

    #: the p at which setup() previews the planned batches' padding (logged, in data.yaml)
    PREVIEW_P = (0.9, 0.6, 0.3, 0.0)
    PREVIEW_BATCHES = 16

    def __init__(self, task: Any, batching: DataConfig | TextDataConfig, seed: int = 0,
                 schedule: Callable[[int], float] | None = None, accumulate: int = 1,
                 max_steps: int | None = None) -> None:
        super().__init__()
        self.task, self.batching, self.seed = task, batching, seed
        self.schedule, self.accumulate, self.max_steps = schedule, accumulate, max_steps
        self.train_items: list[Any] | None = None
        self.valid_items: list[Any] = []
        self.train_sampler: TokenBudgetBatchSampler | ScheduledBatchSampler | None = None
        self.padding: dict[str, float] = {}
        self.fill: dict[str, float] = {}

    @property
    def scheduled(self) -> bool:
        """Whether training batches are planned at the current p."""
        return self.schedule is not None and hasattr(self.task, "lengths")

    def setup(self, stage: str | None = None) -> None:
        if self.train_items is not None:
            return
        items = self.task.load("train")
        model = self.task.lengths(items) if self.scheduled else None
        lengths = model.at(range(len(items)), 0, 0.0) if model is not None else [length_of(self.task, it)
                                                                                   for it in items]
        if self.batching.max_len is not None:
            keep = [i for i, n in enumerate(lengths) if n <= self.batching.max_len]
            if len(keep) < len(items):
                logger.warning("dropped %d of %d training items longer than max_len=%d tokens",
                               len(items) - len(keep), len(items), self.batching.max_len)
                items, lengths = [items[i] for i in keep], [lengths[i] for i in keep]
                model = model.take(keep) if model is not None else None
        self.train_items, self.train_lengths = items, lengths
        self.valid_items = self.task.load("valid")
        if self.scheduled:  # validation builds its sequences at step 0 with p = valid_p
            self.valid_lengths = self.task.lengths(self.valid_items).at(range(len(self.valid_items)), 0,
                                                                        self.batching.valid_p)
        else:
            self.valid_lengths = [length_of(self.task, it) for it in self.valid_items]
        world, rank = self._world()
        if model is None:
            self.train_sampler = self._sampler(lengths, self.batching.shuffle, world, rank, self.batching.bucketing)
            self._fixed_stats()
        else:
            self.train_sampler = self._scheduled_sampler(model, world, rank)
            self._scheduled_stats()

    def _fixed_stats(self) -> None:
        lengths, budget = self.train_lengths, self.batching.max_tokens
        flat = TokenBudgetBatchSampler(lengths, budget, self.batching.max_batch_size, bucketing=False, seed=self.seed)
        self.padding = {"bucketed" if self.batching.bucketing else "unbucketed":
                        padding_share(lengths, self.train_sampler.batches),
                        "unbucketed": padding_share(lengths, flat.batches)}
        logger.info("train: %d items, %d tokens, %d batches per epoch of <= %d tokens; padding share %s",
                    len(lengths), sum(lengths), len(self.train_sampler), budget,
                    ", ".join(f"{k} {v:.1%}" for k, v in self.padding.items()))

    def _scheduled_sampler(self, model: SequenceLengths, world: int, rank: int) -> ScheduledBatchSampler:
        trainer = getattr(self, "trainer", None)
        accumulate, max_steps = self.accumulate, self.max_steps
        if trainer is not None:
            accumulate, max_steps = trainer.accumulate_grad_batches, trainer.max_steps
        if max_steps is None or max_steps <= 0:  # no end given: epochs of about one pass at p = 0
            max_steps = max(1, math.ceil(sum(self.train_lengths) / self.batching.max_tokens / accumulate))
        everyone = range(len(model))
        return ScheduledBatchSampler(self.train_lengths, model.at(everyone, 0, 1.0), model.at, self.schedule,
                                     self.batching.max_tokens, n_batches=accumulate * max_steps,
                                     max_batch_size=self.batching.max_batch_size, accumulate=accumulate,
                                     bucketing=self.batching.bucketing, shuffle=self.batching.shuffle,
                                     seed=self.seed, num_replicas=world, rank=rank)

    def _scheduled_stats(self) -> None:
        sampler, budget = self.train_sampler, self.batching.max_tokens
        for p in self.PREVIEW_P:
            batches = sampler.plan(self.PREVIEW_BATCHES, p=p)
            slots = sum(len(b.items) * max(b.lengths) for b in batches)
            self.padding[f"p={p:g}"] = 1.0 - sum(sum(b.lengths) for b in batches) / slots
            self.fill[f"p={p:g}"] = slots / (budget * len(batches))
        logger.info("train: %d items, %d tokens at p = 0; micro-batches of <= %d tokens planned at the current p "
                    "(first %d at a fixed p: padding share %s; padded tokens / budget %s)", len(self.train_lengths),
                    sum(self.train_lengths), budget, self.PREVIEW_BATCHES,
                    ", ".join(f"{k} {v:.1%}" for k, v in self.padding.items()),
                    ", ".join(f"{k} {v:.0%}" for k, v in self.fill.items()))

    def stats(self) -> dict[str, Any]:
        """What ``data.yaml`` records: items, tokens, batches and padding shares."""
        out: dict[str, Any] = {"train_items": len(self.train_items or []),
                               "train_tokens_at_p0": int(sum(self.train_lengths)),
                               "max_tokens": self.batching.max_tokens}
        if isinstance(self.train_sampler, ScheduledBatchSampler):
            out["planned_at"] = "the current p"
            out["padded_tokens_per_budget"] = {k: round(v, 4) for k, v in self.fill.items()}
        else:
            out["batches_per_epoch"] = len(self.train_sampler) if self.train_sampler is not None else 0
        out["padding_share"] = {k: round(v, 4) for k, v in self.padding.items()}
        out["valid_items"] = len(self.valid_items)
        return out

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return trainer.world_size, trainer.global_rank
        return 1, 0

    def _sampler(self, lengths: list[int], shuffle: bool, world: int, rank: int,
                 bucketing: bool = True) -> TokenBudgetBatchSampler:
        return TokenBudgetBatchSampler(lengths, self.batching.max_tokens, self.batching.max_batch_size,
                                       bucketing=bucketing, shuffle=shuffle, seed=self.seed,
                                       num_replicas=world, rank=rank)

    def _loader(self, items: list[Any], sampler: Any, cls: type = DataLoader) -> DataLoader:
        # its own generator: iterating must not draw from the global RNG (dropout's), or resume is inexact
        return cls(_Items(items), batch_sampler=sampler, collate_fn=_raw_batch, num_workers=0,
                   generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        assert self.train_sampler is not None, "call setup() first"
        return self._loader(self.train_items, self.train_sampler, ResumableLoader)  # type: ignore[arg-type]

    def val_dataloader(self) -> DataLoader | list:
        if not self.valid_items:
            return []
        world, rank = self._world()
        sampler = self._sampler(self.valid_lengths, False, world, rank)
        return self._loader(self.valid_items, sampler)
