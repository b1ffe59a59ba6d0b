"""Interleaving schedulers: values at and around breakpoints, state save/restore."""
from __future__ import annotations

import math

import pytest

from s2s_plugin.errors import ConfigError
from s2s_plugin.interleave.schedulers import (
    ConstantScheduler,
    CosineScheduler,
    LinearScheduler,
    StepScheduler,
)
from s2s_plugin.protocols import InterleaveScheduler


def test_paper_schedule():
    s = StepScheduler()  # defaults: 0.9, -0.1 every 300 steps
    expected = {0: 0.9, 299: 0.9, 300: 0.8, 599: 0.8, 600: 0.7, 899: 0.7, 900: 0.6,
                2399: 0.2, 2400: 0.1, 2699: 0.1, 2700: 0.0, 2701: 0.0, 10_000: 0.0}
    assert {t: s.value(t) for t in expected} == expected
    # exact decimals, no float drift at any boundary
    assert [s.value(300 * k) for k in range(10)] == [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    assert s.decay_steps() == 2700


def test_step_hold_warmup_and_floor():
    s = StepScheduler(p_init=0.5, p_final=0.2, decrement=0.2, every=10, warmup_steps=4, hold_steps=6)
    # warm-up: p_final -> p_init linearly over 4 steps
    assert [s.value(t) for t in range(5)] == [0.2, 0.275, 0.35, 0.425, 0.5]
    assert s.value(9) == 0.5  # hold until step 4 + 6 = 10
    assert s.value(10) == 0.5 and s.value(19) == 0.5  # decay t=0..9: no drop yet
    assert s.value(20) == pytest.approx(0.3)
    assert s.value(30) == 0.2 and s.value(1000) == 0.2  # clamped at the floor, never below


def test_step_can_rise():
    s = StepScheduler(p_init=0.0, p_final=0.3, decrement=0.1, every=5)
    assert [s.value(t) for t in (0, 4, 5, 10, 15, 20)] == [0.0, 0.0, 0.1, 0.2, 0.3, 0.3]


def test_constant():
    s = ConstantScheduler(p=0.3)
    assert {s.value(t) for t in (0, 1, 299, 300, 10**6)} == {0.3}


def test_linear_breakpoints():
    s = LinearScheduler(p_init=0.9, p_final=0.0, decay_steps=900, hold_steps=100)
    assert s.value(0) == 0.9 and s.value(99) == 0.9 and s.value(100) == 0.9
    assert s.value(101) == pytest.approx(0.9 - 0.001)
    assert s.value(550) == pytest.approx(0.45)
    assert s.value(999) == pytest.approx(0.001)
    assert s.value(1000) == 0.0 and s.value(5000) == 0.0


def test_cosine_breakpoints():
    s = CosineScheduler(p_init=0.8, p_final=0.2, decay_steps=1000, warmup_steps=10)
    assert s.value(0) == pytest.approx(0.2)
    assert s.value(5) == pytest.approx(0.5)
    assert s.value(10) == pytest.approx(0.8)
    assert s.value(510) == pytest.approx(0.5)  # half way: the midpoint
    assert s.value(260) == pytest.approx(0.2 + 0.6 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert s.value(1010) == pytest.approx(0.2) and s.value(9999) == pytest.approx(0.2)
    # monotone non-increasing after warm-up
    vals = [s.value(t) for t in range(10, 1011)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))


@pytest.mark.parametrize("cls", [ConstantScheduler, LinearScheduler, StepScheduler, CosineScheduler])
def test_protocol_and_range(cls):
    s = cls()
    assert isinstance(s, InterleaveScheduler)
    assert all(0.0 <= s.value(t) <= 1.0 for t in range(0, 4000, 7))
    with pytest.raises(ValueError):
        s.value(-1)


@pytest.mark.parametrize("cls", [ConstantScheduler, LinearScheduler, StepScheduler, CosineScheduler])
def test_state_save_restore_continues_identically(cls):
    a = cls()
    seq_a = [a.step() for _ in range(650)]
    state = a.state_dict()
    b = cls()
    b.load_state_dict(state)
    assert b.last_step == 650
    assert [b.step() for _ in range(400)] == [a.step() for _ in range(400)]
    assert seq_a[0] == a.value(0)


def test_restore_with_different_params_is_refused():
    state = StepScheduler(every=300).state_dict()
    with pytest.raises(ConfigError, match="cannot resume"):
        StepScheduler(every=100).load_state_dict(state)
    with pytest.raises(ConfigError, match="cannot resume"):
        LinearScheduler().load_state_dict(state)


@pytest.mark.parametrize("kwargs,msg", [
    ({"p_init": 1.5}, "p_init must be a number in"),
    ({"every": 0}, "every must be an integer >= 1"),
    ({"decrement": 0.0}, "decrement must be > 0"),
    ({"hold_steps": -1}, "hold_steps must be an integer >= 0"),
    ({"every": 2.5}, "every must be an integer"),
])
def test_invalid_parameters(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        StepScheduler(**kwargs)
