"""The interface each kind of plugin implements, in one place.

Plugins implement these (structural typing); they never need to inherit from
a toolkit class. ``isinstance(obj, InterleaveScheduler)`` works at run time.
Kinds whose interface is not listed here yet only need a ``name``.
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable


@runtime_checkable
class InterleaveScheduler(Protocol):
    """Maps the global optimiser step to the text ratio ``p`` of interleaving.

    ``p`` is the share of words whose speech units are replaced by text
    (0 = pure units, as at inference). Example::

        sched = StepScheduler(p_init=0.9, decrement=0.1, every=300)
        sched.value(299), sched.value(300)   # 0.9, 0.8
        for batch in loader:
            p = sched.step()                 # p for the current step, then advance
        state = sched.state_dict()           # saved with the checkpoint
    """

    name: ClassVar[str]

    def value(self, step: int) -> float:
        """Text ratio at global optimiser step ``step`` (>= 0), in [0, 1]."""

    def step(self) -> float:
        """Return p at the current step, then advance the step counter by one."""

    def state_dict(self) -> dict[str, Any]:
        """State to store in a checkpoint (step counter and parameters)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; the parameters must match."""
