"""Batches under a token budget, length-bucketed, resumable mid-epoch.

Two batch samplers (for ``DataLoader(batch_sampler=...)``) share the conventions below.

:class:`TokenBudgetBatchSampler` plans its batches once, from fixed lengths
(text sequences, audio frames)::

    sampler = TokenBudgetBatchSampler(lengths, max_tokens=8000, seed=0)
    sampler.set_epoch(3)
    for local_batch in sampler: ...          # indices of this rank's share of each global batch
    padding_share(lengths, sampler.batches)  # padded slots / all slots

With bucketing, utterances are sorted by length and packed greedily so that
``len(batch) * longest <= max_tokens`` (like ESPnet's ``batch_bins``);
without, they are packed in a seeded random order. Every epoch visits all
batches in a new order drawn from ``(seed, epoch)``, so the number of batches
per epoch is fixed (Lightning counts on it) and a run's data order is
reproducible.

:class:`ScheduledBatchSampler` is for sequences whose length depends on the
optimiser step they are trained in (stage 8: interleaving at the scheduler's p
replaces a word's units by its few text tokens). It is an endless stream whose
micro-batch ``n``, trained at step ``n // accumulate``, is planned at the exact
lengths its sequences have at that step::

    sampler = ScheduledBatchSampler(lengths_p0, lengths_p1, length_at=lengths.at, p_at=scheduler.value,
                                    max_tokens=2400, n_batches=accumulate * max_steps, accumulate=accumulate)

Both count ``max_tokens`` over a *global* batch, over all devices: each
global batch is split into ``num_replicas`` shares (sorted by length, dealt
round-robin), so a run sees the same global batches whatever its number of
processes.

Resuming mid-epoch: the training module calls ``mark_consumed`` with the
position of every batch it trains on; ``state_dict`` (saved by Lightning
with the checkpoint, as the train loader's state) holds the next position, and
``load_state_dict`` makes the next ``__iter__`` start there.
"""
from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
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


# -- batches planned at the current p ----------------------------------------------------------

@dataclass
class _StreamState:
    """Where the stream stands before micro-batch ``n``.

    Attributes:
        n: the next micro-batch (trained at optimiser step ``n // accumulate``).
        draw: the permutation the next item is drawn from (a pass over the data).
        offset: the position in that permutation.
        pool: items drawn but not yet batched, oldest first.
    """

    n: int = 0
    draw: int = 0
    offset: int = 0
    pool: list[int] = field(default_factory=list)

    def copy(self) -> _StreamState:
        return _StreamState(self.n, self.draw, self.offset, list(self.pool))


@dataclass
class PlannedBatch:
    """A global micro-batch as planned: its items, their lengths at (step, p), and that step and p."""

    items: list[int]
    lengths: list[int]
    step: int
    p: float


def best_run(lengths: Sequence[int], anchor: int, max_tokens: int,
             max_batch_size: int | None = None) -> tuple[int, int]:
    """The run ``[a, b]`` of ascending ``lengths`` that contains ``anchor``, fits the budget, and holds the most tokens.

    ``(b - a + 1) * lengths[b] <= max_tokens`` and ``b - a + 1 <= max_batch_size``; when even the
    anchor alone is over the budget, ``(anchor, anchor)``.
    """
    cap = max_batch_size or len(lengths)
    prefix = np.concatenate([[0], np.cumsum(lengths)])
    best, run = -1, (anchor, anchor)
    for a in range(anchor, max(anchor - cap, -1), -1):
        if (anchor - a + 1) * lengths[anchor] > max_tokens:
            break
        b = anchor
        while b + 1 < len(lengths) and b + 2 - a <= cap and (b + 2 - a) * lengths[b + 1] <= max_tokens:
            b += 1
        if prefix[b + 1] - prefix[a] > best:
            best, run = prefix[b + 1] - prefix[a], (a, b)
    return run


class ScheduledBatchSampler:
    """Token-budget batches planned at the lengths sequences have at the step they are trained in.

    An endless, deterministic stream of global micro-batches; micro-batch ``n`` is trained at
    optimiser step ``s = n // accumulate`` with text ratio ``p = p_at(s)``. Items are drawn
    from seeded permutations of the data (one per pass) into a pool; micro-batch ``n`` holds
    the pool's oldest item (so every draw is batched, in about the order drawn) and, with
    ``bucketing``, the neighbours of similar length that fill the budget best:

    1. the pool is ordered by the expected length at p (``l0 + p * (l1 - l0)``), and a window
       of about ``window`` batches' worth of items around the oldest one is taken;
    2. their exact lengths at (s, p) come from ``length_at`` (for interleaving: the
       interleaver's own draw for each utterance at step s);
    3. of the runs of those exact lengths, sorted, that contain the oldest item and fit
       ``max_tokens`` (padded to the longest), the one holding the most tokens is the batch.

    Without bucketing, the oldest items are packed in the order drawn. The budget is thus
    held at exact lengths, at every p. The batches are a function of the seed, the data, the
    schedule and the batching settings only: not of ``n_batches``, nor of the number of
    processes (except that a global batch has at least one item per process). An item drawn
    again before its previous draw was batched waits for it. Resuming restores the pool
    (:meth:`state_dict`), so nothing is replayed.

    Lightning's epochs are windows of ``n_batches`` micro-batches over the stream (give
    ``accumulate * max_steps``: one epoch, no accumulation window cut by an epoch end).

    Args:
        lengths_p0: each item's length at p = 0.
        lengths_p1: each item's length at p = 1 (with ``lengths_p0``, the pool's ordering key).
        length_at: ``(items, step, p) -> lengths``, exact.
        p_at: the text ratio at an optimiser step.
        max_tokens: padded tokens per global micro-batch (all replicas together), at its p.
        n_batches: micro-batches per Lightning epoch (``len()``).
        max_batch_size: optional cap on items per global batch.
        accumulate: micro-batches per optimiser step.
        bucketing: batch items of similar length; otherwise the oldest items in the pool.
        shuffle: draw each pass in a new seeded order; otherwise in item order.
        seed: seeds the passes' orders.
        num_replicas: data-parallel processes sharing each global batch.
        rank: this process's share.
        pool_size: items drawn ahead (at most the number of items).
        window: batches' worth of items whose exact length is computed for each batch.

    Example::

        >>> s = ScheduledBatchSampler([100] * 50, [40] * 50, lambda items, step, p: [100 - 60 * p] * len(items),
        ...                           p_at=lambda step: 0.5, max_tokens=700, n_batches=4)
        >>> [len(b) for b in s]   # 700 // 70 items of length 70 at p = 0.5
        [10, 10, 10, 10]
    """

    def __init__(self, lengths_p0: Sequence[int], lengths_p1: Sequence[int],
                 length_at: Callable[[Sequence[int], int, float], Sequence[int]], p_at: Callable[[int], float],
                 max_tokens: int, n_batches: int, max_batch_size: int | None = None, accumulate: int = 1,
                 bucketing: bool = True, shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 pool_size: int = 2048, window: float = 3.0) -> None:
        if len(lengths_p0) == 0:
            raise ConfigError("no examples to batch (all were skipped or filtered)")
        if len(lengths_p1) != len(lengths_p0):
            raise ValueError(f"{len(lengths_p0)} lengths at p = 0 but {len(lengths_p1)} at p = 1")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        if len(lengths_p0) < num_replicas:
            raise ConfigError(f"{len(lengths_p0)} examples cannot feed {num_replicas} processes")
        if n_batches < 1 or accumulate < 1 or pool_size < 1 or window <= 0:
            raise ValueError(f"need n_batches, accumulate, pool_size >= 1 and window > 0, got {n_batches}, "
                             f"{accumulate}, {pool_size}, {window}")
        self.l0 = np.asarray(lengths_p0, dtype=np.float64)
        self.dl = np.asarray(lengths_p1, dtype=np.float64) - self.l0
        self.length_at, self.p_at = length_at, p_at
        self.max_tokens, self.max_batch_size = int(max_tokens), max_batch_size
        self.n_batches, self.accumulate = int(n_batches), int(accumulate)
        self.bucketing, self.shuffle, self.seed = bucketing, shuffle, int(seed)
        self.num_replicas, self.rank = num_replicas, rank
        self.pool_size, self.window = min(max(int(pool_size), num_replicas), len(self.l0)), float(window)
        self.epoch = 0
        self._state = _StreamState()  # before the next micro-batch to train on
        self._after: dict[int, _StreamState] = {}  # state after each micro-batch handed out, not yet trained on
        self._perm: tuple[int, np.ndarray] | None = None

    # -- the stream -----------------------------------------------------------------------------
    def _order(self, draw: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != draw:
            n = len(self.l0)
            order = np.random.default_rng([self.seed, 0x5EED, draw]).permutation(n) if self.shuffle else np.arange(n)
            self._perm = (draw, order)
        return self._perm[1]

    def _fill(self, state: _StreamState) -> None:
        while len(state.pool) < self.pool_size:
            order = self._order(state.draw)
            take = order[state.offset:state.offset + self.pool_size - len(state.pool)]
            state.pool += take.tolist()
            state.offset += len(take)
            if state.offset == len(order):
                state.draw, state.offset = state.draw + 1, 0

    def _candidates(self, pool: np.ndarray, p: float) -> np.ndarray:
        """Positions in ``pool`` (the oldest, 0, among them) whose exact lengths are looked at."""
        # an item drawn twice (end of one pass, start of the next) waits for its older draw to be batched
        _, first = np.unique(pool, return_index=True)
        eligible = np.sort(first) if len(first) >= self.num_replicas else np.arange(len(pool))
        key = self.l0[pool[eligible]] + p * self.dl[pool[eligible]]
        per_batch = self.max_tokens / max(float(key[0]), 1.0)
        if self.max_batch_size is not None:
            per_batch = min(per_batch, self.max_batch_size)
        w = int(min(len(eligible), max(math.ceil(self.window * per_batch), 2 * self.num_replicas, 8)))
        if not self.bucketing:
            return eligible[:w]
        order = np.lexsort((eligible, key))
        r = int(np.flatnonzero(order == 0)[0])
        lo = min(max(r - w // 2, 0), len(eligible) - w)
        return eligible[order[lo:lo + w]]

    def _next(self, state: _StreamState, p: float | None = None) -> PlannedBatch:
        """Plan micro-batch ``state.n`` and advance ``state`` past it."""
        step = state.n // self.accumulate
        p = float(self.p_at(step)) if p is None else p
        self._fill(state)
        pool = np.asarray(state.pool)
        cand = self._candidates(pool, p)
        exact = [int(x) for x in self.length_at(pool[cand].tolist(), step, p)]
        if self.bucketing:
            ranked = sorted(range(len(cand)), key=lambda j: (exact[j], j))
            anchor = ranked.index(int(np.flatnonzero(cand == 0)[0]))
            a, b = best_run([exact[j] for j in ranked], anchor, self.max_tokens, self.max_batch_size)
            while b - a + 1 < self.num_replicas:  # every process gets at least one item
                if b + 1 < len(ranked):
                    b += 1
                else:
                    a -= 1
            picked = ranked[a:b + 1]
        else:
            picked = pack(range(len(cand)), exact, self.max_tokens, self.max_batch_size,
                          min_batch_size=self.num_replicas)[0]
        taken = cand[picked]
        state.pool = np.delete(pool, taken).tolist()
        state.n += 1
        return PlannedBatch(pool[taken].tolist(), [exact[j] for j in picked], step, p)

    def share(self, batch: PlannedBatch) -> list[int]:
        """This rank's share of a global batch: by length, dealt round-robin."""
        ordered = sorted(zip(batch.lengths, batch.items))
        return [i for _, i in ordered[self.rank::self.num_replicas]]

    # -- the sampler ----------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at each epoch start: epoch ``e`` ends before micro-batch ``(e + 1) * n_batches``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        """Yield this rank's share of each global micro-batch as ``(item, epoch, n)`` triples.

        Starts after the last micro-batch marked consumed (or restored), so an iterator made
        again without training on anything yields the same batches.
        """
        state = self._state.copy()
        self._after.clear()
        while state.n < (self.epoch + 1) * self.n_batches:
            n = state.n
            batch = self._next(state)
            self._after[n] = state.copy()
            if len(self._after) > 16:  # Lightning fetches one or two batches ahead
                del self._after[min(self._after)]
            yield [(i, self.epoch, n) for i in self.share(batch)]

    def stream(self, p: float | None = None) -> Iterator[PlannedBatch]:
        """The global micro-batches from the start of the stream, endlessly; at a fixed ``p`` if given
        (a preview: the sampler's own position does not move)."""
        state = _StreamState()
        while True:
            yield self._next(state, p)

    def plan(self, n: int, p: float | None = None) -> list[PlannedBatch]:
        """The first ``n`` global micro-batches of :meth:`stream`."""
        return list(itertools.islice(self.stream(p), n))

    # -- resume ----------------------------------------------------------------------------------
    def mark_consumed(self, epoch: int, position: int) -> None:
        """Record that micro-batch ``position`` (of the stream) was trained on."""
        if position not in self._after:
            raise RuntimeError(f"micro-batch {position} was not handed out by this sampler's current iterator")
        self._state = self._after[position]
        for k in [k for k in self._after if k <= position]:
            del self._after[k]

    def _fingerprint(self) -> dict[str, Any]:
        lengths = np.concatenate([self.l0, self.dl]).astype(np.int64).tobytes()
        return {"planner": "scheduled", "items": len(self.l0), "lengths_crc": zlib.crc32(lengths),
                "seed": self.seed, "max_tokens": self.max_tokens, "max_batch_size": self.max_batch_size,
                "accumulate": self.accumulate, "bucketing": self.bucketing, "shuffle": self.shuffle,
                "pool_size": self.pool_size, "window": self.window}

    def state_dict(self) -> dict[str, Any]:
        s = self._state
        return {**self._fingerprint(), "next": s.n, "draw": s.draw, "offset": s.offset, "pool": list(s.pool)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = self._fingerprint()
        changed = [f"{k} {state.get(k)!r} -> {v!r}" for k, v in mine.items() if state.get(k) != v]
        if changed:
            raise ConfigError(
                "cannot resume the data order: the checkpoint's batches were planned with other settings "
                f"({'; '.join(changed)}); resume with the same data, data block, trainer.seed and "
                "trainer.accumulate, or start a new exp dir")
        self._state = _StreamState(int(state["next"]), int(state["draw"]), int(state["offset"]),
                                   [int(i) for i in state["pool"]])
        self._after.clear()
