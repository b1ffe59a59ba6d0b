"""Built-in interleaving schedulers: constant, linear, step, cosine.

Each maps the global optimiser step to the text ratio p (PAPER.md): ``step``
with its defaults is the paper's schedule (0.9, minus 0.1 every 300 steps,
down to 0.0). Try ``s2s schedule conf/scheduler.yaml --steps 0 299 300 2700``.
"""
from s2s_plugin import hookimpl
from s2s_plugin.interleave.schedulers.builtin import (
    ConstantScheduler,
    CosineScheduler,
    LinearScheduler,
    StepScheduler,
)

__all__ = ["ConstantScheduler", "LinearScheduler", "StepScheduler", "CosineScheduler"]


@hookimpl
def register_interleave_schedulers() -> list[type]:
    return [ConstantScheduler, LinearScheduler, StepScheduler, CosineScheduler]
