"""Token-budget batches: the budget holds, bucketing lowers padding, DDP shares, resumable order;
planned at the current p: padding and fill at every p, exact resume, DDP shares."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from s2s_plugin.errors import ConfigError
from s2s_plugin.train.sampler import ScheduledBatchSampler, TokenBudgetBatchSampler, pack, padding_share, best_run

_RNG = random.Random(0)
LENGTHS = [_RNG.randint(40, 400) for _ in range(300)]


def test_budget_and_every_item_once():
    s = TokenBudgetBatchSampler(LENGTHS, max_tokens=2000, seed=3)
    assert sorted(i for b in s.batches for i in b) == list(range(len(LENGTHS)))
    assert all(len(b) * max(LENGTHS[i] for i in b) <= 2000 for b in s.batches)
    assert pack([0, 1], [5000, 10], max_tokens=100) == [[0], [1]]  # too long for the budget: alone


def test_bucketing_lowers_the_padding_share():
    bucketed = TokenBudgetBatchSampler(LENGTHS, max_tokens=2000, bucketing=True)
    flat = TokenBudgetBatchSampler(LENGTHS, max_tokens=2000, bucketing=False)
    pb, pf = padding_share(LENGTHS, bucketed.batches), padding_share(LENGTHS, flat.batches)
    assert pb < 0.05 < 0.3 < pf
    assert padding_share([3, 3], [[0, 1]]) == 0.0 and padding_share([1, 3], [[0, 1]]) == pytest.approx(1 / 3)


def test_epochs_shuffle_batches_reproducibly():
    s = TokenBudgetBatchSampler(LENGTHS, max_tokens=2000, seed=1)
    e0, e1 = list(s), (s.set_epoch(1), list(s))[1]
    assert len(e0) == len(e1) == len(s) and e0 != e1
    s2 = TokenBudgetBatchSampler(LENGTHS, max_tokens=2000, seed=1)
    s2.set_epoch(1)
    assert list(s2) == e1
    assert {tuple(sorted(x[0] for x in b)) for b in e0} == {tuple(sorted(x[0] for x in b)) for b in e1}


def test_replicas_split_each_global_batch():
    single = TokenBudgetBatchSampler(LENGTHS, max_tokens=2000, seed=1)
    ranks = [TokenBudgetBatchSampler(LENGTHS, max_tokens=2000, seed=1, num_replicas=2, rank=r) for r in (0, 1)]
    assert ranks[0].batches == single.batches  # same global batches whatever the number of processes
    for whole, a, b in zip(single, *ranks):
        assert a and b and sorted(x[0] for x in a + b) == sorted(x[0] for x in whole)
        assert len(a) - len(b) in (0, 1)


def test_resume_mid_epoch():
    s = TokenBudgetBatchSampler(LENGTHS, max_tokens=2000, seed=1)
    s.set_epoch(2)
    full = list(s)
    s.mark_consumed(2, 4)  # batches 0..4 trained on
    state = s.state_dict()
    r = TokenBudgetBatchSampler(LENGTHS, max_tokens=2000, seed=1)
    r.load_state_dict(state)
    r.set_epoch(2)  # Lightning sets the same epoch again: the position stays
    assert list(r) == full[5:]
    assert list(r) == full  # the next pass over the epoch starts at its beginning
    with pytest.raises(ConfigError, match="cannot resume the data order"):
        TokenBudgetBatchSampler(LENGTHS, max_tokens=1000, seed=1).load_state_dict(state)


# -- batches planned at the current p -----------------------------------------------------------

class Shrinking:
    """Synthetic sequences that interleaving shortens unequally, like speech of several languages.

    Each item has a length at p = 0 and a share of it that text can replace (0.3: much
    silence or short words; 0.85: long words); its length at (step, p) replaces that share
    times ``p`` (+-10%, drawn from (item, step)), so items of one length at p = 0 are far
    apart at p = 0.9. The old plan (sorted by the p = 0 length) pads them heavily there.
    """

    def __init__(self, n: int = 600, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.l0 = rng.integers(80, 400, n).tolist()
        self.share = rng.choice([0.3, 0.85], n).tolist()
        self.calls = 0

    def at(self, items, step, p):
        self.calls += len(items)
        out = []
        for i in items:
            jitter = ((i * 7919 + step * 104729) % 101) / 100 - 0.5
            ratio = min(1.0, p * (1 + 0.2 * jitter)) if p > 0 else 0.0
            out.append(max(1, round(self.l0[i] * (1 - self.share[i] * ratio))))
        return out

    @property
    def l1(self):
        return self.at(range(len(self.l0)), 0, 1.0)


def schedule(step: int) -> float:
    """p = 0.9, 0.6, 0.3, 0 for 5 steps each."""
    return max(0.0, round(0.9 - 0.3 * (step // 5), 6))


def scheduled(data: Shrinking, **kw) -> ScheduledBatchSampler:
    args = dict(p_at=schedule, max_tokens=4000, n_batches=60, seed=1)
    args.update(kw)
    return ScheduledBatchSampler(data.l0, data.l1, data.at, **args)


def _padding_and_fill(rows, budget):
    slots = sum(len(items) * max(lengths) for items, lengths in rows)
    real = sum(sum(lengths) for _, lengths in rows)
    return 1.0 - real / slots, slots / (budget * len(rows))


@pytest.mark.parametrize("p", [0.9, 0.6, 0.3, 0.0])
def test_batches_planned_at_p_keep_padding_low_and_fill_the_budget(p):
    data = Shrinking()
    old = TokenBudgetBatchSampler(data.l0, max_tokens=4000, seed=1)
    old_rows = [(b, data.at(b, j, p)) for j, b in enumerate(old.global_batch(0, j) for j in range(len(old)))]
    new_rows = [(b.items, b.lengths) for b in scheduled(data).plan(40, p=p)]
    old_pad, old_fill = _padding_and_fill(old_rows, 4000)
    new_pad, new_fill = _padding_and_fill(new_rows, 4000)
    assert new_pad <= 0.10 and new_fill >= 0.90
    if p > 0:  # planned at p = 0 lengths: short, unevenly shortened sequences in batches made for long ones
        assert old_pad > 0.10 and new_fill > old_fill + 0.05
    assert all(len(b) * max(n) <= 4000 for b, n in new_rows)  # the budget holds at the exact lengths
    assert all(n == data.at(b, i, p) for i, (b, n) in enumerate(new_rows))  # exact: micro-batch i at step i


def test_each_micro_batch_is_planned_at_the_p_of_its_step():
    data = Shrinking()
    s = scheduled(data, accumulate=2)
    batches = s.plan(30)
    assert [b.step for b in batches] == [n // 2 for n in range(30)]
    assert [b.p for b in batches] == [schedule(n // 2) for n in range(30)]
    assert all(len(b.items) * max(b.lengths) <= 4000 for b in batches)
    sizes = [len(b.items) for b in batches]
    assert sizes[0] > 1.5 * sizes[-1]  # more, shorter sequences while p is high
    assert all(b.lengths == data.at(b.items, b.step, b.p) for b in batches)


def test_the_stream_draws_every_item_once_per_pass_and_is_reproducible():
    data = Shrinking(n=300)
    a = scheduled(data, seed=4).plan(150)
    assert [b.items for b in scheduled(data, seed=4).plan(150)] == [b.items for b in a]
    assert [b.items for b in scheduled(data, seed=5).plan(150)] != [b.items for b in a]
    assert all(len(set(b.items)) == len(b.items) for b in a)
    counts = np.bincount([i for b in a for i in b.items], minlength=300)
    passes = counts.sum() / 300
    assert passes > 4 and counts.min() >= passes - 3 and counts.max() <= passes + 3
    unbucketed = scheduled(data, seed=4, bucketing=False).plan(40, p=0.9)
    assert _padding_and_fill([(b.items, b.lengths) for b in unbucketed], 4000)[0] > 0.15  # bucketing is what helps


def test_replicas_split_each_planned_global_batch():
    data = Shrinking(n=200)
    single = scheduled(data, n_batches=12)
    ranks = [scheduled(data, n_batches=12, num_replicas=2, rank=r) for r in (0, 1)]
    assert [b.items for b in ranks[0].plan(12)] == [b.items for b in single.plan(12)]
    for whole, a, b in zip(single, *ranks):
        assert a and b and sorted(x[0] for x in a + b) == sorted(x[0] for x in whole)
        assert len(a) - len(b) in (0, 1) and {x[2] for x in a + b} == {whole[0][2]}


def test_resume_mid_stream_after_a_p_change_is_exact():
    data = Shrinking(n=200)
    full = list(scheduled(data, accumulate=2))  # 60 micro-batches, p changes every 10
    s = scheduled(data, accumulate=2)
    it = iter(s)
    for n in range(23):  # micro-batch 20 is the first at p = 0.3; 21, 22 trained on after it
        batch = next(it)
        s.mark_consumed(0, batch[0][2])
    next(it)  # fetched ahead (as Lightning does), not trained on
    state = s.state_dict()
    assert state["next"] == 23 and state["pool"] and state["draw"] >= 1  # mid-stream, past a pass, items waiting
    resumed = scheduled(data, accumulate=2)
    resumed.load_state_dict(json.loads(json.dumps(state)))  # plain values: a checkpoint holds them
    resumed.set_epoch(0)
    assert list(resumed) == full[23:]
    with pytest.raises(ConfigError, match="cannot resume the data order.*max_tokens 4000 -> 3000"):
        scheduled(data, max_tokens=3000).load_state_dict(state)
    with pytest.raises(ConfigError, match="cannot resume the data order"):
        scheduled(data).load_state_dict(TokenBudgetBatchSampler(LENGTHS, 2000).state_dict())


def test_lightning_epochs_are_windows_of_the_stream():
    data = Shrinking(n=200)
    s = scheduled(data, n_batches=5)
    first = list(s)
    for batch in first:
        s.mark_consumed(0, batch[0][2])
    s.set_epoch(1)
    second = list(s)
    assert len(first) == len(second) == len(s) == 5
    assert [b[0][2] for b in first + second] == list(range(10))
    assert [sorted(x[0] for x in b) for b in first + second] == [sorted(b.items) for b in s.plan(10)]


def test_a_run_fits_the_budget_and_holds_the_anchor():
    assert best_run([10, 10, 20, 30, 30, 30], anchor=3, max_tokens=90) == (3, 5)
    assert best_run([10, 10, 20, 30, 30, 30], anchor=2, max_tokens=90) == (2, 4)
    assert best_run([10, 10, 20, 30], anchor=1, max_tokens=45) == (1, 2)  # 30 tokens rather than 20
    assert best_run([10, 11, 12, 50], anchor=0, max_tokens=36) == (0, 2)
    assert best_run([100], anchor=0, max_tokens=50) == (0, 0)  # over the budget alone: a batch of its own
    assert best_run([10] * 8, anchor=7, max_tokens=1000, max_batch_size=3) == (5, 7)
