"""The four built-in schedulers of the interleaving text ratio p.

All but ``constant`` share one shape over the global optimiser step::

    warm-up (warmup_steps): p rises linearly from p_final to p_init
    hold    (hold_steps):   p stays at p_init
    decay:                  p falls from p_init to p_final (the scheduler's curve)
    after the decay:        p stays at p_final

Example::

    >>> s = StepScheduler()            # the paper: 0.9, -0.1 every 300 steps
    >>> [s.value(t) for t in (0, 299, 300, 2699, 2700)]
    [0.9, 0.9, 0.8, 0.1, 0.0]
"""
from __future__ import annotations

import math
from typing import Any, ClassVar

from s2s_plugin.errors import ConfigError


def _ratio(name: str, value: float, owner: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"scheduler '{owner}': {name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _count(name: str, value: int, owner: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"scheduler '{owner}': {name} must be an integer >= {minimum}, got {value!r}")
    return value


class _Scheduler:
    """Step counter and checkpoint state shared by the built-ins."""

    name: ClassVar[str] = ""

    def __init__(self) -> None:
        self._step = 0

    def params(self) -> dict[str, Any]:
        """The constructor arguments (stored in checkpoints, compared on resume)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def value(self, step: int) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def step(self) -> float:
        p = self.value(self._step)
        self._step += 1
        return p

    @property
    def last_step(self) -> int:
        """The number of :meth:`step` calls so far (the next step's index)."""
        return self._step

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "step": self._step, "params": self.params()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name or state.get("params") != self.params():
            raise ConfigError(
                f"cannot resume: the checkpoint's scheduler is {state.get('name')!r} with "
                f"{state.get('params')}, but the config asks for {self.name!r} with {self.params()}. "
                "Resume with the original scheduler block, or start a new experiment directory.")
        self._step = int(state["step"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class _Phased(_Scheduler):
    """Warm-up, hold, then a decay curve defined by :meth:`_decay`."""

    def __init__(self, p_init: float, p_final: float, warmup_steps: int, hold_steps: int) -> None:
        super().__init__()
        self.p_init = _ratio("p_init", p_init, self.name)
        self.p_final = _ratio("p_final", p_final, self.name)
        self.warmup_steps = _count("warmup_steps", warmup_steps, self.name)
        self.hold_steps = _count("hold_steps", hold_steps, self.name)

    def _decay(self, t: int) -> float:
        """p at ``t`` steps after the hold ends."""
        raise NotImplementedError  # pragma: no cover

    def value(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        if step < self.warmup_steps:
            frac = step / self.warmup_steps
            return round(self.p_final + (self.p_init - self.p_final) * frac, 12)
        step -= self.warmup_steps
        if step < self.hold_steps:
            return self.p_init
        return round(self._decay(step - self.hold_steps), 12)


class ConstantScheduler(_Scheduler):
    """p stays at one value for the whole run (the paper's p = 0.3 system).

    Args:
        p: the text ratio.
    """

    name = "constant"

    def __init__(self, p: float = 0.3) -> None:
        super().__init__()
        self.p = _ratio("p", p, self.name)

    def value(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        return self.p


class StepScheduler(_Phased):
    """p drops by ``decrement`` every ``every`` steps until it reaches ``p_final``.

    The defaults are the paper's schedule: 0.9 for steps 0-299, 0.8 for
    300-599, ..., 0.0 from step 2700 on.

    Args:
        p_init: p at the start (after warm-up and hold).
        p_final: the floor p stays at once reached.
        decrement: how much p drops at each step boundary.
        every: optimiser steps between drops.
        warmup_steps: steps over which p rises from p_final to p_init first.
        hold_steps: steps p stays at p_init before the first drop.
    """

    name = "step"

    def __init__(self, p_init: float = 0.9, p_final: float = 0.0, decrement: float = 0.1,
                 every: int = 300, warmup_steps: int = 0, hold_steps: int = 0) -> None:
        super().__init__(p_init, p_final, warmup_steps, hold_steps)
        self.decrement = _ratio("decrement", decrement, self.name)
        self.every = _count("every", every, self.name, minimum=1)
        if self.decrement == 0:
            raise ConfigError("scheduler 'step': decrement must be > 0 (use 'constant' for a fixed p)")

    def _decay(self, t: int) -> float:
        drops = t // self.every
        # round() keeps 0.9 - 3 * 0.1 at 0.6, not 0.6000000000000001
        if self.p_init >= self.p_final:
            return max(round(self.p_init - drops * self.decrement, 12), self.p_final)
        return min(round(self.p_init + drops * self.decrement, 12), self.p_final)

    def decay_steps(self) -> int:
        """Steps from the end of the hold until p reaches p_final."""
        return math.ceil(round(abs(self.p_init - self.p_final) / self.decrement, 9)) * self.every


class LinearScheduler(_Phased):
    """p falls linearly from ``p_init`` to ``p_final`` over ``decay_steps``.

    Args:
        p_init: p at the start (after warm-up and hold).
        p_final: p at the end of the decay and after it.
        decay_steps: length of the decay in optimiser steps.
        warmup_steps: steps over which p rises from p_final to p_init first.
        hold_steps: steps p stays at p_init before the decay.
    """

    name = "linear"

    def __init__(self, p_init: float = 0.9, p_final: float = 0.0, decay_steps: int = 2700,
                 warmup_steps: int = 0, hold_steps: int = 0) -> None:
        super().__init__(p_init, p_final, warmup_steps, hold_steps)
        self.decay_steps = _count("decay_steps", decay_steps, self.name, minimum=1)

    def _decay(self, t: int) -> float:
        frac = min(t / self.decay_steps, 1.0)
        return self.p_init + (self.p_final - self.p_init) * frac


class CosineScheduler(_Phased):
    """p follows half a cosine from ``p_init`` to ``p_final`` over ``decay_steps``.

    Slow at first, fastest mid-way, slow near the end.

    Args:
        p_init: p at the start (after warm-up and hold).
        p_final: p at the end of the decay and after it.
        decay_steps: length of the decay in optimiser steps.
        warmup_steps: steps over which p rises from p_final to p_init first.
        hold_steps: steps p stays at p_init before the decay.
    """

    name = "cosine"

    def __init__(self, p_init: float = 0.9, p_final: float = 0.0, decay_steps: int = 2700,
                 warmup_steps: int = 0, hold_steps: int = 0) -> None:
        super().__init__(p_init, p_final, warmup_steps, hold_steps)
        self.decay_steps = _count("decay_steps", decay_steps, self.name, minimum=1)

    def _decay(self, t: int) -> float:
        frac = min(t / self.decay_steps, 1.0)
        return self.p_final + (self.p_init - self.p_final) * 0.5 * (1.0 + math.cos(math.pi * frac))
