"""Token-budget batches: the budget holds, bucketing lowers padding, DDP shares, resumable order."""
from __future__ import annotations

import random

import pytest

from s2s_plugin.errors import ConfigError
from s2s_plugin.train.sampler import TokenBudgetBatchSampler, pack, padding_share

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
