"""Batches under a token budget, length-bucketed, resumable mid-epoch.

    sampler = TokenBudgetBatchSampler(lengths, max_tokens=8000, seed=0)
    sampler.set_epoch(3)
    for local_batch in sampler: ...          # indices of this rank's share of each global batch
    padding_share(lengths, sampler.batches)  # padded slots / all slots

The batches themselves are made once (like ESPnet's ``batch_bins`` sampler):
with bucketing, utterances are sorted by length and packed greedily so that
``len(batch) * longest <= max_tokens``; without, they are packed in a seeded
random order. Every epoch visits all batches in a new order drawn from
``(seed, epoch)``, so the number of batches per epoch is fixed (Lightning
counts on it) and a run's data order is reproducible.

``max_tokens`` counts a *global* batch, over all devices: each global batch is
split into ``num_replicas`` shares (sorted by length, dealt round-robin), so a
run sees the same global batches whatever its number of processes.

Resuming mid-epoch: the training module calls :meth:`mark_consumed` with the
position of every batch it trains on; :meth:`state_dict` (saved by Lightning
with the checkpoint, as the train loader's state) holds the epoch and the next
position, and :meth:`load_state_dict` makes the next ``__iter__`` start there.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from s2s_plugin.errors import ConfigError


def pack(order: Sequence[int], lengths: Sequence[int], max_tokens: int, max_batch_size: int | None = None,
         min_batch_size: int = 1) -> list[list[int]]:
    """Greedily pack ``order`` into batches with ``len(batch) * max_length <= max_tokens``.

    A batch is never smaller than ``min_batch_size`` (one utterance longer than the
    budget forms a batch of its own, or of ``min_batch_size``); a too-small last batch
    joins the previous one.
    """
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order:
        n = lengths[i]
        new_longest = max(longest, n)
        full = (len(cur) + 1) * new_longest > max_tokens or (max_batch_size is not None
                                                              and len(cur) + 1 > max_batch_size)
        if cur and full and len(cur) >= min_batch_size:
            batches.append(cur)
            cur, new_longest = [], n
        cur.append(i)
        longest = new_longest
    if cur:
        if len(cur) < min_batch_size and batches:
            batches[-1].extend(cur)
        else:
            batches.append(cur)
    return batches


def padding_share(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of padded token slots when each batch is padded to its longest item."""
    slots = sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
    real = sum(lengths[i] for b in batches for i in b)
    return 1.0 - real / slots if slots else 0.0


class TokenBudgetBatchSampler:
    """A batch sampler (for ``DataLoader(batch_sampler=...)``) under a token budget.

    Args:
        lengths: each item's length in tokens (an upper bound of its batch-time length).
        max_tokens: padded tokens per global batch (all replicas together).
        max_batch_size: optional cap on items per global batch.
        bucketing: sort by length before packing; otherwise pack in a seeded random order.
        shuffle: visit the batches in a new seeded order each epoch; otherwise in packing order.
        seed: base seed of the packing and epoch orders.
        num_replicas: data-parallel processes sharing each global batch.
        rank: this process's share.
    """

    def __init__(self, lengths: Sequence[int], max_tokens: int, max_batch_size: int | None = None,
                 bucketing: bool = True, shuffle: bool = True, seed: int = 0, num_replicas: int = 1,
                 rank: int = 0) -> None:
        if not lengths:
            raise ConfigError("no examples to batch (all were skipped or filtered)")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        if len(lengths) < num_replicas:
            raise ConfigError(f"{len(lengths)} examples cannot feed {num_replicas} processes")
        self.lengths = list(lengths)
        self.max_tokens, self.max_batch_size = int(max_tokens), max_batch_size
        self.bucketing, self.shuffle, self.seed = bucketing, shuffle, int(seed)
        self.num_replicas, self.rank = num_replicas, rank
        rng = np.random.default_rng([self.seed, 0x5EED])
        tie_break = rng.permutation(len(self.lengths))
        if bucketing:
            order = sorted(range(len(self.lengths)), key=lambda i: (self.lengths[i], tie_break[i]))
        else:
            order = tie_break.tolist()
        self.batches = pack(order, self.lengths, self.max_tokens, max_batch_size, min_batch_size=num_replicas)
        self.epoch = 0
        self._start = 0  # first batch position of the next __iter__ (set by load_state_dict)
        self._consumed = 0  # next position after the last batch trained on

    # -- epoch order ---------------------------------------------------------------------------
    def epoch_order(self, epoch: int) -> list[int]:
        """Positions of :attr:`batches` in the order epoch ``epoch`` visits them."""
        if not self.shuffle:
            return list(range(len(self.batches)))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.batches)).tolist()

    def global_batch(self, epoch: int, position: int) -> list[int]:
        """The item indices of the global batch at ``position`` of ``epoch``."""
        return self.batches[self.epoch_order(epoch)[position]]

    def share(self, batch: Sequence[int]) -> list[int]:
        """This rank's share of a global batch: by length, dealt round-robin."""
        ordered = sorted(batch, key=lambda i: (self.lengths[i], i))
        return ordered[self.rank::self.num_replicas]

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at each epoch start; a new epoch starts at its first batch."""
        if epoch != self.epoch:
            self.epoch, self._start, self._consumed = epoch, 0, 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        """Yield this rank's share of each remaining global batch as ``(item, epoch, position)`` triples."""
        epoch, start = self.epoch, self._start
        self._start = 0
        order = self.epoch_order(epoch)
        for pos in range(start, len(order)):
            yield [(i, epoch, pos) for i in self.share(self.batches[order[pos]])]

    # -- resume ----------------------------------------------------------------------------------
    def mark_consumed(self, epoch: int, position: int) -> None:
        """Record that the batch at ``position`` of ``epoch`` was trained on."""
        self.epoch, self._consumed = epoch, position + 1

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "next": self._consumed, "n_batches": len(self.batches), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("n_batches") != len(self.batches) or state.get("seed") != self.seed:
            raise ConfigError(
                f"cannot resume the data order: the checkpoint's epochs have {state.get('n_batches')} batches "
                f"(seed {state.get('seed')}), this config makes {len(self.batches)} (seed {self.seed}); "
                "resume with the same data, data.max_tokens and trainer.seed, or start a new exp dir")
        self.epoch, self._consumed = int(state["epoch"]), int(state["next"])
        self._start = self._consumed
