"""What the training loop reads: tasks that load items and turn them into token sequences.

A *task* loads items once (S2ST :class:`~s2s_plugin.llm.sequence.Example` s
or text-only :class:`~s2s_plugin.llm.data.TextItem` s) and builds their token
sequences at batch time, in the main process, with the global step of the
optimiser step they are trained in, so the text ratio p is exact::

    task = S2STTask(cfg.data, cfg.sequence, vocab)
    train_items = task.load("train")
    seqs = task.build(train_items[:4], step=1200, p=0.5)

:class:`S2SDataModule` batches items under a token budget
(:class:`~s2s_plugin.train.sampler.TokenBudgetBatchSampler`); its loaders
yield :class:`RawBatch` es (items + their epoch position), never tensors.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from s2s_plugin.errors import DataError
from s2s_plugin.llm.data import TextItem, load_examples, load_text_corpus
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
from s2s_plugin.train.config import DataConfig, TextDataConfig
from s2s_plugin.train.sampler import TokenBudgetBatchSampler, padding_share

logger = logging.getLogger(__name__)


class RawBatch:
    """A batch as the loader yields it: items, not tensors (sequences are built at step time).

    A plain class on purpose: Lightning's input conversions copy dataclasses and
    tuples field by field, which would deep-copy every item at every step.

    Attributes:
        items: this process's items.
        epoch: the epoch the batch belongs to.
        position: its position in that epoch's batch order (for exact resume).
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

    def build(self, items: Sequence[Example], step: int, p: float) -> list[TokenSequence]:
        return [self.builder.build(ex, step=step, p=p) for ex in items]

    def describe(self, item: Example) -> str:
        return item.utt


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
        if split == "train":
            return load_text_corpus(self.text.mono, self.text.parallel)
        return load_text_corpus(self.text.valid_mono, self.text.valid_parallel)

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

    def build(self, items: Sequence[TextItem], step: int, p: float) -> list[TokenSequence]:
        return [self.build_one(it) for it in items]

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
    iterating; both go to the :class:`TokenBudgetBatchSampler`.
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

    Args:
        task: an :class:`S2STTask` or :class:`TextTask`.
        batching: the ``data`` or ``text`` block (max_tokens, max_batch_size, bucketing, shuffle, max_len).
        seed: seeds the packing and the epoch orders.
    """

    def __init__(self, task: Any, batching: DataConfig | TextDataConfig, seed: int = 0) -> None:
        super().__init__()
        self.task, self.batching, self.seed = task, batching, seed
        self.train_items: list[Any] | None = None
        self.valid_items: list[Any] = []
        self.train_sampler: TokenBudgetBatchSampler | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_items is not None:
            return
        items = self.task.load("train")
        lengths = [length_of(self.task, it) for it in items]
        if self.batching.max_len is not None:
            keep = [i for i, n in enumerate(lengths) if n <= self.batching.max_len]
            if len(keep) < len(items):
                logger.warning("dropped %d of %d training items longer than max_len=%d tokens",
                               len(items) - len(keep), len(items), self.batching.max_len)
            items, lengths = [items[i] for i in keep], [lengths[i] for i in keep]
        self.train_items, self.train_lengths = items, lengths
        self.valid_items = self.task.load("valid")
        self.valid_lengths = [length_of(self.task, it) for it in self.valid_items]
        world, rank = self._world()
        self.train_sampler = self._sampler(self.train_lengths, self.batching.shuffle, world, rank,
                                           self.batching.bucketing)
        flat = TokenBudgetBatchSampler(lengths, self.batching.max_tokens, self.batching.max_batch_size,
                                       bucketing=False, seed=self.seed)
        self.padding = {"bucketed" if self.batching.bucketing else "unbucketed":
                        padding_share(lengths, self.train_sampler.batches),
                        "unbucketed": padding_share(lengths, flat.batches)}
        logger.info("train: %d items, %d tokens at p=0, %d batches per epoch of <= %d tokens; padding "
                    "share %s", len(items), sum(lengths), len(self.train_sampler), self.batching.max_tokens,
                    ", ".join(f"{k} {v:.1%}" for k, v in self.padding.items()))

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

    def _loader(self, items: list[Any], sampler: TokenBudgetBatchSampler, cls: type = DataLoader) -> DataLoader:
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
