"""The plugin module named by this package's ``s2s_plugin`` entry point.

After ``pip install examples/s2s_plugin_example``, a config selects the
scheduler by name::

    scheduler:
      name: exponential
      half_life: 500
"""
from __future__ import annotations

from typing import Any

from s2s_plugin import hookimpl


class ExponentialScheduler:
    """p decays exponentially from ``p_init`` towards ``p_final``.

    p(t) = p_final + (p_init - p_final) * 0.5 ** (t / half_life), set to
    p_final once within ``floor`` of it, so training ends on pure units.

    Args:
        p_init: p at step 0.
        p_final: the value p decays to.
        half_life: steps for the distance to p_final to halve.
        floor: distance to p_final below which p is p_final.
    """

    name = "exponential"

    def __init__(self, p_init: float = 0.9, p_final: float = 0.0, half_life: int = 500,
                 floor: float = 0.01) -> None:
        if half_life <= 0:
            raise ValueError(f"half_life must be > 0, got {half_life}")
        self.p_init, self.p_final, self.half_life, self.floor = p_init, p_final, half_life, floor
        self._step = 0

    def value(self, step: int) -> float:
        dist = (self.p_init - self.p_final) * 0.5 ** (step / self.half_life)
        return self.p_final if abs(dist) < self.floor else self.p_final + dist

    def step(self) -> float:
        p = self.value(self._step)
        self._step += 1
        return p

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "step": self._step,
                "params": {"p_init": self.p_init, "p_final": self.p_final,
                           "half_life": self.half_life, "floor": self.floor}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._step = int(state["step"])


@hookimpl
def register_interleave_schedulers() -> list[type]:
    return [ExponentialScheduler]
